using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>What pooling does with rows/columns at the bottom/right edge that do not fill a window.</summary>
public enum PoolEdge
{
    /// <summary>Ignore them ("忽略边缘", seed 003): output = floor((size - window) / stride) + 1.</summary>
    Drop,

    /// <summary>Zero-pad the bottom/right so the last window is complete ("保留边缘", seeds 003/004): output = ceil((size - window) / stride) + 1.</summary>
    Pad,
}

/// <summary>
/// The window geometry shared by the pooling layers: a kh x kw window moved by a stride,
/// with an edge mode. Padded positions (edge = Pad) hold zeros.
/// </summary>
public readonly partial record struct PoolWindow(int Height, int Width, int Stride, PoolEdge Edge)
{
    /// <summary>Output size along one axis.</summary>
    public static int OutputSize(int size, int window, int stride, PoolEdge edge)
    {
        if (edge == PoolEdge.Drop) return size < window ? 0 : (size - window) / stride + 1;
        return size <= window ? 1 : (size - window + stride - 1) / stride + 1;
    }

    /// <summary>The pooled shape of <paramref name="input"/>; throws <see cref="LayerShapeException"/> when nothing would remain.</summary>
    public Shape Apply(Shape input)
    {
        if (Height <= 0 || Width <= 0 || Stride <= 0) throw new LayerShapeException($"pooling window {Height}x{Width} with stride {Stride} is invalid");
        if (Edge == PoolEdge.Drop && (input.Height < Height || input.Width < Width))
            throw new LayerShapeException($"pooling window {Height}x{Width} is larger than its input {input.Height}x{input.Width} (edge mode 'drop' leaves nothing; use 'pad')");
        return new Shape(input.Channels, OutputSize(input.Height, Height, Stride, Edge), OutputSize(input.Width, Width, Stride, Edge));
    }

    /// <summary>Spec-token suffix for the window, e.g. <c>2</c>, <c>3:s2</c>, <c>2x3:pad</c>.</summary>
    public string Suffix
    {
        get
        {
            string s = Height == Width ? $"{Height}" : $"{Height}x{Width}";
            if (Stride != Height || Height != Width) s += $":s{Stride}";
            if (Edge == PoolEdge.Pad) s += ":pad";
            return s;
        }
    }

    /// <summary>
    /// Reads the window of a pooling token whose head matched <paramref name="head"/> (groups: kh, then kw
    /// when given): a square window k moves by k, a kh x kw one by the smaller side, unless an <c>s{stride}</c>
    /// option says otherwise (when <paramref name="stridable"/>); <c>drop</c> (default) or <c>pad</c> sets the edge mode.
    /// </summary>
    internal static PoolWindow Parse(LayerToken token, Match head, bool stridable)
    {
        int kh = token.Size(head.Groups[1].Value);
        int kw = head.Groups[2].Success ? token.Size(head.Groups[2].Value) : kh;
        int stride = kh == kw ? kh : Math.Min(kh, kw);
        var edge = PoolEdge.Drop;
        bool edgeSet = false;
        foreach (string opt in token.Options)
        {
            Match m;
            if (opt is "pad" or "drop")
            {
                if (edgeSet) throw token.Error("edge mode is given twice");
                edge = opt == "pad" ? PoolEdge.Pad : PoolEdge.Drop;
                edgeSet = true;
            }
            else if (stridable && (m = StrideOption().Match(opt)).Success)
            {
                stride = token.Size(m.Groups[1].Value);
            }
            else
            {
                throw token.Error($"unknown pooling option '{opt}'; expected {(stridable ? "s{stride}, " : "")}drop or pad");
            }
        }
        return new PoolWindow(kh, kw, stride, edge);
    }

    [GeneratedRegex(@"^s(\d+)$")]
    private static partial Regex StrideOption();

    /// <summary>The zero rows (bottom) and columns (right) the 'pad' edge mode adds so the last window is complete.</summary>
    internal static (int Bottom, int Right) EndPadding(Shape input, Shape output, PoolWindow window) =>
        (Math.Max(0, (output.Height - 1) * window.Stride + window.Height - input.Height),
         Math.Max(0, (output.Width - 1) * window.Stride + window.Width - input.Width));

    /// <summary>
    /// Reads an ONNX MaxPool or AveragePool node as a window over the chain's maps: the checks every
    /// pooling import shares (attributes, padding only at the bottom/right, one edge mode for both axes),
    /// with a zero Pad before the node taken over as padding. <paramref name="floorProblem"/> is set when
    /// the windows reach into MaxPool's own (ignored) padding, which only a following Max makes SharpCnn's.
    /// Sets the chain's shape to the pooled one.
    /// </summary>
    internal static PoolWindow ImportOnnx(OnnxGraphImporter import, NodeProto node, bool max, out string? floorProblem, out (long ZeroBottom, long ZeroRight) zeroPad)
    {
        var a = max
            ? import.Attributes(node, "auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides")
            : import.Attributes(node, "auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides");
        import.RequireInputs(node, 1, 1);
        if (max) import.AllowUnusedExtraOutputs(node, 2);
        else import.RequireOutputs(node, 1);
        import.RequireMaps();
        var kernel = a.Ints("kernel_shape", 2) ?? throw import.NodeFail("has no kernel_shape");
        long kh = kernel[0], kw = kernel[1];
        if (kh < 1 || kw < 1 || kh > OnnxGraphImporter.MaxSize || kw > OnnxGraphImporter.MaxSize) throw import.NodeFail($"has kernel_shape [{kh}, {kw}]");
        import.CheckDilations(a);
        long stride = import.Stride(a);
        bool ceil = a.Int("ceil_mode", 0) switch { 0 => false, 1 => true, var v => throw import.NodeFail($"has ceil_mode {v}; expected 0 or 1") };
        bool includePad = !max && a.Int("count_include_pad", 0) switch { 0 => false, 1 => true, var v => throw import.NodeFail($"has count_include_pad {v}; expected 0 or 1") };
        var (top, left, bottom, right) = import.ResolvePads(a, kh, kw, stride);
        var (zeroTop, zeroBottom, zeroLeft, zeroRight) = import.PendingPad ?? (0, 0, 0, 0);
        if (top + zeroTop != 0 || left + zeroLeft != 0)
            throw import.NodeFail($"pads the top or left ({top + zeroTop} rows, {left + zeroLeft} columns); SharpCnn pooling pads only the bottom and right");

        var rows = Axis(import.Height, kh, stride, bottom, zeroBottom, ceil, max, includePad, "rows");
        var cols = Axis(import.Width, kw, stride, right, zeroRight, ceil, max, includePad, "columns");
        if ((rows.Problem ?? cols.Problem) is { } problem) throw import.NodeFail(problem);
        PoolEdge edge;
        if (rows.Drop && cols.Drop) edge = PoolEdge.Drop;
        else if (rows.Pad && cols.Pad) edge = PoolEdge.Pad;
        else throw import.NodeFail("needs SharpCnn's 'drop' edge mode along one axis and its 'pad' mode along the other; a pooling layer has one edge mode");
        import.TakePendingPad(pad => $"the zero Pad of {pad} became the '{(edge == PoolEdge.Pad ? "pad" : "drop")}' edge mode of {import.Label}");
        floorProblem = rows.NeedsFloor ?? cols.NeedsFloor;
        zeroPad = (zeroBottom, zeroRight);
        import.SetShape(import.Channels, rows.Output, cols.Output, flat: false);
        return new PoolWindow((int)kh, (int)kw, (int)stride, edge);
    }

    /// <summary>
    /// One axis of a pooling node: its output count as ONNX computes it, and whether SharpCnn's
    /// 'drop' or 'pad' edge mode gives the same windows with the same values. SharpCnn's
    /// windows see zeros past the input ('pad') and always divide by the whole window; so
    /// every ONNX window must end within the input plus padding that acts as zeros: the
    /// zero Pad before the node, and for AveragePool with count_include_pad its own pads.
    /// (MaxPool's own pads are ignored by the max; AveragePool without count_include_pad
    /// divides by the in-bounds count.)
    /// </summary>
    internal static (long Output, bool Drop, bool Pad, string? Problem, string? NeedsFloor) Axis(long size, long k, long s, long pad, long zeroPad, bool ceil, bool max, bool includePad, string axis)
    {
        long padded = size + zeroPad;     // what the pooling node receives
        long total = padded + pad;
        if (total < k) return (0, false, false, $"has a window of {k} {axis} over {padded} {axis}{(pad > 0 ? $" plus {pad} padding" : "")}", null);
        long output = ceil ? (total - k + s - 1) / s + 1 : (total - k) / s + 1;
        if (ceil && (output - 1) * s >= padded) output--; // the last window must start inside the input or its begin padding
        long end = (output - 1) * s + k;
        long zeros = padded + (includePad ? pad : 0);
        if (end > zeros)
        {
            string why = max
                ? "ONNX MaxPool ignores that padding, where SharpCnn pools padded zeros"
                : includePad ? "ceil_mode clips that window, so ONNX divides it by fewer than the window's size" : "ONNX AveragePool (count_include_pad = 0) divides it by its in-bounds count, where SharpCnn divides by the window's size";
            string problem = $"has a last window of {axis} {(output - 1) * s}..{end - 1} that reaches past the input's {zeros} {axis}: {why}; the results would differ";
            // MaxPool followed by a Max that raises those windows to 0 is SharpCnn's 'pad' mode (what the exporter writes).
            if (max && output == OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad))
                return (output, false, true, null, problem + " (unless a Max with 0 on those windows follows)");
            return (output, false, false, problem, null);
        }
        bool drop = size >= k && output == (size - k) / s + 1;
        bool padMode = output == OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad);
        if (!drop && !padMode)
            return (output, false, false, $"gives {output} windows along its {axis}; SharpCnn's edge modes give {(size >= k ? (size - k) / s + 1 : 0)} ('drop') or {OutputSize((int)size, (int)k, (int)s, PoolEdge.Pad)} ('pad')", null);
        return (output, drop, padMode, null, null);
    }
}
