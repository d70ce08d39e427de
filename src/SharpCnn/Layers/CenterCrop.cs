using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Crops the centre of each map (seed 004 feeds 24x24 crops of the 28x28 digits).
///
/// Shapes: x [N, C, H, W], y [N, C, h, w] with h ≤ H, w ≤ W; offsets top = (H - h) / 2, left = (W - w) / 2.
///
/// Forward:  y[n,c,i,j] = x[n, c, top + i, left + j]
/// Backward: ∂L/∂x[n,c,top + i,left + j] = ∂L/∂y[n,c,i,j], and 0 on the cropped-away border.
/// </summary>
public sealed class CenterCrop<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int top, left;

    /// <summary>Creates a centre crop to <paramref name="height"/> x <paramref name="width"/>.</summary>
    public CenterCrop(int height, int width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"crop {height}x{width} is empty");
        Height = height;
        Width = width;
    }

    /// <summary>Rows kept.</summary>
    public int Height { get; }

    /// <summary>Columns kept.</summary>
    public int Width { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new CenterCropSpec(Height, Width);

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (Height > input.Height || Width > input.Width)
            throw new LayerShapeException($"crop {Height}x{Width} is larger than its input {input.Height}x{input.Width}");
        top = (input.Height - Height) / 2;
        left = (input.Width - Width) / 2;
        return new Shape(input.Channels, Height, Width);
    }

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int planes = n * InputShape.Channels, ih = InputShape.Height, iw = InputShape.Width;
        for (int p = 0; p < planes; p++)
            for (int r = 0; r < Height; r++)
                x.Slice(p * ih * iw + (top + r) * iw + left, Width).CopyTo(y.Slice((p * Height + r) * Width, Width));
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int planes = n * InputShape.Channels, ih = InputShape.Height, iw = InputShape.Width;
        dx[..(planes * ih * iw)].Clear();
        for (int p = 0; p < planes; p++)
            for (int r = 0; r < Height; r++)
                dy.Slice((p * Height + r) * Width, Width).CopyTo(dx.Slice(p * ih * iw + (top + r) * iw + left, Width));
    }
}

/// <summary>The description of a <see cref="CenterCrop{T}"/>: token <c>crop{h}x{w}</c>; ONNX <c>Slice</c> on the height and width axes.</summary>
/// <param name="Height">Rows kept.</param>
/// <param name="Width">Columns kept.</param>
public sealed record CenterCropSpec(int Height, int Width) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => CenterCropKind.Instance;

    /// <inheritdoc />
    public override string Token => $"crop{Height}x{Width}";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new CenterCrop<T>(Height, Width);

    /// <summary>Slice on the height and width axes.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string input = export.AsMaps();
        int top = (layer.InputShape.Height - Height) / 2, left = (layer.InputShape.Width - Width) / 2;
        string starts = export.Int64s("starts", top, left);
        string ends = export.Int64s("ends", top + Height, left + Width);
        string axes = export.Int64s("axes", 2, 3);
        export.Emit(export.Node("Slice", "crop", [input, starts, ends, axes]), flat: false);
    }
}

/// <summary>The centre-crop kind: grammar <c>crop{h}x{w}</c>; imports an ONNX <c>Slice</c> that cuts the centre of the maps.</summary>
public sealed partial class CenterCropKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static CenterCropKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "crop";

    /// <inheritdoc />
    public override string Grammar => "crop{h}x{w}";

    /// <inheritdoc />
    public override string Summary => "keeps the central h x w of each map";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.ChangesShape | LayerTraits.Bounded;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        int h = token.Size(m.Groups[1].Value), w = token.Size(m.Groups[2].Value);
        token.RequireNoOptions();
        return new CenterCropSpec(h, w);
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Slice"];

    /// <summary>
    /// Slice (operator set 10 on: starts, ends, optional axes and steps as constant inputs) of the height and
    /// width axes, step 1, keeping the centre as SharpCnn crops it (top = (H - h) / 2, left = (W - w) / 2) → crop.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        import.Attributes(node);
        if (import.Opset < 10) throw import.NodeFail($"takes its starts and ends as attributes (operator set {import.Opset}); SharpCnn reads Slice from operator set 10 on");
        import.RequireInputs(node, 3, 5);
        import.RequireOutputs(node, 1);
        import.RequireMaps();
        long[] starts = import.Integers(import.ConstantInput(node, 1, "starts", required: true)!, "starts");
        long[] ends = import.Integers(import.ConstantInput(node, 2, "ends", required: true)!, "ends");
        long[] axes = import.ConstantInput(node, 3, "axes", required: false) is { } ax ? import.Integers(ax, "axes") : [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
        long[] steps = import.ConstantInput(node, 4, "steps", required: false) is { } st ? import.Integers(st, "steps") : [.. starts.Select(_ => 1L)];
        if (starts.Length != ends.Length || starts.Length != axes.Length || starts.Length != steps.Length)
            throw import.NodeFail($"has {starts.Length} starts, {ends.Length} ends, {axes.Length} axes and {steps.Length} steps; they must pair up");
        long height = import.Height, width = import.Width;
        long[] dims = [-1, import.Channels, height, width];
        long top = 0, left = 0, bottom = height, right = width;
        for (int i = 0; i < axes.Length; i++)
        {
            long axis = axes[i] < 0 ? axes[i] + 4 : axes[i];
            if (axis is not (2 or 3)) throw import.NodeFail($"slices axis {axes[i]}; SharpCnn crops only the height and width of [N, C, H, W] maps");
            if (steps[i] != 1) throw import.NodeFail($"has step {steps[i]}; SharpCnn crops with step 1");
            long size = dims[axis];
            long begin = Math.Clamp(starts[i] < 0 ? starts[i] + size : starts[i], 0, size);
            long end = Math.Clamp(ends[i] < 0 ? ends[i] + size : ends[i], 0, size);
            if (end <= begin) throw import.NodeFail($"keeps nothing of axis {axis} ({begin}..{end})");
            if (axis == 2) (top, bottom) = (begin, end);
            else (left, right) = (begin, end);
        }
        long h = bottom - top, w = right - left;
        if (top != (height - h) / 2 || left != (width - w) / 2)
            throw import.NodeFail($"keeps rows {top}..{bottom - 1} and columns {left}..{right - 1} of {height}x{width} maps; SharpCnn's crop keeps the centre (rows from {(height - h) / 2}, columns from {(width - w) / 2})");
        import.AddLayer(new CenterCropSpec((int)h, (int)w), [], node);
        import.SetShape(import.Channels, h, w, flat: false);
    }

    [GeneratedRegex(@"^crop(\d+)x(\d+)$")]
    private static partial Regex Head();
}
