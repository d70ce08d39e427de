using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// LeNet's trainable subsampling layer (the S-layer of seed 002 / Bouvrie's notes): each
/// channel's block sums are scaled by a trainable β and shifted by a trainable bias.
///
/// Shapes: x [N, C, H, W], β [C], b [C], y [N, C, Ho, Wo]; k x k blocks moved by k
/// (edge mode as for pooling; padded positions are zeros).
///
/// Forward:  d[n,c,u,v] = Σ_{i,j∈[0,k)} x[n, c, u·k + i, v·k + j]     (Bouvrie's down(x))
///           y[n,c,u,v] = β[c] · d[n,c,u,v] + b[c]
/// Backward: ∂L/∂b[c] = Σ_{n,u,v} δ[n,c,u,v]
///           ∂L/∂β[c] = Σ_{n,u,v} δ[n,c,u,v] · d[n,c,u,v]
///           ∂L/∂x[n,c,p,q] = β[c] · δ[n,c,⌊p/k⌋,⌊q/k⌋]           (Bouvrie's up(δ) = δ ⊗ 1_{k×k}, times β)
/// The activation LeNet applies after it is a separate layer.
/// </summary>
public sealed class Subsample2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] sums = [];

    /// <summary>Creates subsampling over <paramref name="window"/> x <paramref name="window"/> blocks.</summary>
    public Subsample2d(int window, PoolEdge edge = PoolEdge.Drop)
    {
        Window = new PoolWindow(window, window, window, edge);
    }

    /// <summary>The block geometry.</summary>
    public PoolWindow Window { get; }

    /// <summary>The multiplicative coefficient β [C].</summary>
    public Parameter<T> Beta => Parameters[0];

    /// <summary>The additive bias [C].</summary>
    public Parameter<T> Bias => Parameters[1];

    /// <inheritdoc />
    public override LayerSpec Spec => new SubsampleSpec(Window.Height, Window.Edge);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int c = InputShape.Channels, area = Window.Height * Window.Width;
        return
        [
            new Parameter<T>("beta", [c], ParameterRole.Weight) { FanIn = area, FanOut = 1 },
            new Parameter<T>("bias", [c], ParameterRole.Bias) { FanIn = area, FanOut = 1 },
        ];
    }

    /// <inheritdoc />
    protected override void ReserveScratch(int batch)
    {
        sums = new T[batch * OutputShape.Size];
        partials = new T[BatchTree.Blocks(batch) * 2 * InputShape.Channels];
        totals = new T[2 * InputShape.Channels];
    }

    private T[] totals = [];

    private T[] partials = [];

    /// <inheritdoc />
    internal override long ScratchBytes(int batch) => MemoryMath.Bytes<T>(batch, OutputShape.Size);

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * (Window.Height * Window.Width + 2);

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int plane = OutputShape.Height * OutputShape.Width, channels = InputShape.Channels;
        WindowSums.Forward<T>(x, sums, n * channels, InputShape, OutputShape, Window);
        ReadOnlySpan<T> beta = Beta.Value, bias = Bias.Value;
        for (int pl = 0; pl < n * channels; pl++)
        {
            T bt = beta[pl % channels], bs = bias[pl % channels];
            ReadOnlySpan<T> d = sums.AsSpan(pl * plane, plane);
            Span<T> yp = y.Slice(pl * plane, plane);
            for (int i = 0; i < plane; i++) yp[i] = bt * d[i] + bs;
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int plane = OutputShape.Height * OutputShape.Width, channels = InputShape.Channels;
        // Per block of samples (BatchTree's), the planes' sums in sample order from zero; then the fixed tree
        // over the blocks adds them to the gradients (bias first, then β, one buffer of 2C).
        int blocks = BatchTree.Blocks(n);
        Span<T> part = partials.AsSpan(0, blocks * 2 * channels);
        part.Clear();
        for (int pl = 0; pl < n * channels; pl++)
        {
            ReadOnlySpan<T> d = sums.AsSpan(pl * plane, plane), g = dy.Slice(pl * plane, plane);
            T sb = T.Zero, sd = T.Zero;
            for (int i = 0; i < plane; i++)
            {
                sb += g[i];
                sd += g[i] * d[i];
            }
            int block = pl / channels / BatchTree.BlockSize, c = pl % channels;
            part[block * 2 * channels + c] += sb;
            part[block * 2 * channels + channels + c] += sd;
        }
        Span<T> both = totals.AsSpan(0, 2 * channels);
        both.Clear();
        BatchTree.Combine<T>(Share, part, 2 * channels, blocks, both);
        Span<T> dbeta = Beta.Gradient, dbias = Bias.Gradient;
        for (int c = 0; c < channels; c++)
        {
            dbias[c] += both[c];
            dbeta[c] += both[channels + c];
        }
        if (!dx.IsEmpty) WindowSums.Backward(dy, dx, n * channels, InputShape, OutputShape, Window, Beta.Value, T.One);
    }
}

/// <summary>
/// The description of a <see cref="Subsample2d{T}"/>: token <c>subsample{k}</c> with <c>drop</c> or <c>pad</c>;
/// ONNX: a depthwise <c>Conv</c> whose k x k kernel of channel c is β[c] everywhere and whose bias is b[c].
/// </summary>
/// <param name="Size">The block size k (blocks are square and move by k).</param>
/// <param name="Edge">What happens at the bottom/right edge.</param>
public sealed record SubsampleSpec(int Size, PoolEdge Edge = PoolEdge.Drop) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => SubsampleKind.Instance;

    /// <inheritdoc />
    public override string Token => "subsample" + new PoolWindow(Size, Size, Size, Edge).Suffix;

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Subsample2d<T>(Size, Edge);

    /// <summary>A depthwise Conv (group = C) whose k x k kernel of channel c is β[c] everywhere and whose bias is b[c]: β·(window sum) + b.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        var sub = (Subsample2d<T>)layer;
        string input = export.AsMaps();
        var (padBottom, padRight) = PoolWindow.EndPadding(layer.InputShape, layer.OutputShape, sub.Window);
        int c = layer.InputShape.Channels, kh = sub.Window.Height, kw = sub.Window.Width, area = kh * kw;
        var kernel = new float[c * area];
        for (int ch = 0; ch < c; ch++) kernel.AsSpan(ch * area, area).Fill(float.CreateSaturating(sub.Beta.Value[ch]));
        string wt = export.Floats("beta_kernel", [c, 1, kh, kw], kernel);
        string bt = export.Floats("bias", [c], OnnxLayerExport<T>.ToFloats(sub.Bias.Value));
        export.Emit(export.Node("Conv", "subsample", [input, wt, bt],
            OnnxGraphWriter.Ints("kernel_shape", kh, kw),
            OnnxGraphWriter.Ints("strides", sub.Window.Stride, sub.Window.Stride),
            OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
            OnnxGraphWriter.Ints("dilations", 1, 1),
            OnnxGraphWriter.Int("group", c)), flat: false);
    }
}

/// <summary>LeNet's trainable subsampling: grammar <c>subsample{k}</c>; read back from the depthwise ONNX <c>Conv</c> the exporter writes for it.</summary>
public sealed partial class SubsampleKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static SubsampleKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "subsample";

    /// <inheritdoc />
    public override string Grammar => "subsample{k}";

    /// <inheritdoc />
    public override string Summary => "LeNet's trainable subsampling β·(k x k block sum) + b per channel; options drop (default) or pad";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Parameters | LayerTraits.ChangesShape;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        if (m.Groups[2].Success && token.Size(m.Groups[1].Value) != token.Size(m.Groups[2].Value)) throw token.Error("subsampling blocks are square: write subsample{k}");
        var window = PoolWindow.Parse(token, m, stridable: false);
        return new SubsampleSpec(window.Height, window.Edge);
    }

    /// <summary>
    /// A depthwise Conv (one input channel per output channel) with a k x k kernel moved by k
    /// whose kernel is one value per channel is SharpCnn's LeNet subsampling β·(block sum) + b:
    /// read it back as that layer (what the exporter writes for it). False when the node is not one.
    /// </summary>
    internal static bool TryImportOnnx(OnnxGraphImporter import, NodeProto node, double[] kernel, long m, long cg, long kh, long kw, long stride,
        (long Top, long Left, long Bottom, long Right) pads)
    {
        if (cg != 1 || m != import.Channels || kh != kw || stride != kh || pads.Top != 0 || pads.Left != 0) return false;
        long area = kh * kw;
        for (long c = 0; c < m; c++)
            for (long i = 1; i < area; i++)
                if (kernel[c * area + i] != kernel[c * area]) return false;
        var rows = PoolWindow.Axis(import.Height, kh, stride, 0, pads.Bottom, ceil: false, max: false, includePad: false, "rows");
        var cols = PoolWindow.Axis(import.Width, kw, stride, 0, pads.Right, ceil: false, max: false, includePad: false, "columns");
        if (rows.Problem is not null || cols.Problem is not null) return false;
        PoolEdge edge;
        if (rows.Drop && cols.Drop) edge = PoolEdge.Drop;
        else if (rows.Pad && cols.Pad) edge = PoolEdge.Pad;
        else return false;
        import.Claim(m, $"beta[{m}]");
        var beta = new double[m];
        for (long c = 0; c < m; c++) beta[c] = kernel[c * area];
        import.AddLayer(new SubsampleSpec((int)kh, edge), [beta, import.Bias(node, 2, m)], node);
        import.SetShape(import.Channels, rows.Output, cols.Output, flat: false);
        return true;
    }

    [GeneratedRegex(@"^subsample(\d+)(?:x(\d+))?$")]
    private static partial Regex Head();
}
