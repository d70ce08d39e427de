using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Mean (average) pooling over kh x kw windows moved by a stride, per channel.
///
/// Shapes: x [N, C, H, W], y [N, C, Ho, Wo] (Ho, Wo from the edge mode, see <see cref="PoolEdge"/>).
///
/// Forward:  y[n,c,u,v] = 1/(kh·kw) · Σ_{i∈[0,kh), j∈[0,kw)} xp[n, c, u·s + i, v·s + j]
///           (in 'pad' mode the padded zeros count in the mean: the divisor is always kh·kw)
/// Backward: each output's gradient is spread evenly over its window:
///           ∂L/∂x[n,c,p,q] = 1/(kh·kw) · Σ_{u,v : (p,q) in window(u,v)} ∂L/∂y[n,c,u,v]
/// (seed 001's upsample example: δ = [[2,8],[4,6]] → [[.5,.5,2,2],[.5,.5,2,2],[1,1,1.5,1.5],[1,1,1.5,1.5]].)
/// </summary>
public sealed class MeanPool2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates mean pooling with a square window and stride = window unless given.</summary>
    public MeanPool2d(int window, int? stride = null, PoolEdge edge = PoolEdge.Drop)
        : this(window, window, stride ?? window, edge) { }

    /// <summary>Creates mean pooling with a kh x kw window.</summary>
    public MeanPool2d(int windowHeight, int windowWidth, int stride, PoolEdge edge)
    {
        Window = new PoolWindow(windowHeight, windowWidth, stride, edge);
    }

    /// <summary>The window geometry.</summary>
    public PoolWindow Window { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new MeanPoolSpec(Window);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * Window.Height * Window.Width;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        WindowSums.Forward(x, y, n * InputShape.Channels, InputShape, OutputShape, Window);
        T scale = T.One / T.CreateChecked(Window.Height * Window.Width);
        foreach (ref T v in y[..(n * OutputShape.Size)]) v *= scale;
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        T scale = T.One / T.CreateChecked(Window.Height * Window.Width);
        WindowSums.Backward(dy, dx, n * InputShape.Channels, InputShape, OutputShape, Window, planeScale: null, scale);
    }
}

/// <summary>
/// The description of a <see cref="MeanPool2d{T}"/>: token <c>meanpool{k}</c> (or <c>avgpool{k}</c>, or
/// <c>{kh}x{kw}</c>) with options <c>s{stride}</c> and <c>drop</c> or <c>pad</c>; ONNX <c>AveragePool</c>.
/// </summary>
/// <param name="Window">The window geometry.</param>
public sealed record MeanPoolSpec(PoolWindow Window) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => MeanPoolKind.Instance;

    /// <inheritdoc />
    public override string Token => "meanpool" + Window.Suffix;

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new MeanPool2d<T>(Window.Height, Window.Width, Window.Stride, Window.Edge);

    /// <summary>
    /// AveragePool with the bottom/right padding as end pads and count_include_pad = 1, so the divisor is
    /// always kh·kw like SharpCnn's zero-padded mean (count_include_pad = 0 would divide partial windows by
    /// their in-bounds count); ceil_mode stays 0 because the explicit pads already make the last window
    /// complete. When a window lies wholly in the padding (stride larger than the window), which ONNX
    /// pooling rejects, a depthwise Conv with a constant 1/(kh·kw) kernel instead.
    /// </summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string input = export.AsMaps();
        var (padBottom, padRight) = PoolWindow.EndPadding(layer.InputShape, layer.OutputShape, Window);
        if (padBottom >= Window.Height || padRight >= Window.Width)
        {
            int c = layer.InputShape.Channels, area = Window.Height * Window.Width;
            var kernel = new float[c * area];
            kernel.AsSpan().Fill(1f / area);
            string wt = export.Floats("mean_kernel", [c, 1, Window.Height, Window.Width], kernel);
            export.Emit(export.Node("Conv", "mean", [input, wt],
                OnnxGraphWriter.Ints("kernel_shape", Window.Height, Window.Width),
                OnnxGraphWriter.Ints("strides", Window.Stride, Window.Stride),
                OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
                OnnxGraphWriter.Ints("dilations", 1, 1),
                OnnxGraphWriter.Int("group", c)), flat: false);
            return;
        }
        export.Emit(export.Node("AveragePool", "avgpool", [input],
            OnnxGraphWriter.Ints("kernel_shape", Window.Height, Window.Width),
            OnnxGraphWriter.Ints("strides", Window.Stride, Window.Stride),
            OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
            OnnxGraphWriter.Int("count_include_pad", 1),
            OnnxGraphWriter.Int("ceil_mode", 0)), flat: false);
    }
}

/// <summary>The mean-pooling kind: grammar <c>meanpool{k}</c>; imports ONNX <c>AveragePool</c>.</summary>
public sealed partial class MeanPoolKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static MeanPoolKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "meanpool";

    /// <inheritdoc />
    public override string Grammar => "meanpool{k}";

    /// <inheritdoc />
    public override string Summary => "mean over k x k (or kh x kw) windows per channel (padded zeros count); options s{stride}, drop (default) or pad";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.ChangesShape;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        return m.Success ? new MeanPoolSpec(PoolWindow.Parse(token, m, stridable: true)) : null;
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["AveragePool"];

    /// <summary>AveragePool (where its edge handling and divisor match SharpCnn's zero-padded mean) → meanpool.</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node) =>
        import.AddLayer(new MeanPoolSpec(PoolWindow.ImportOnnx(import, node, max: false, out _, out _)), [], node);

    [GeneratedRegex(@"^(?:meanpool|avgpool)(\d+)(?:x(\d+))?$")]
    private static partial Regex Head();
}
