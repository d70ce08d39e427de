using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Logistic sigmoid, element by element; any shape in, the same shape out.
///
/// Forward:  y = 1 / (1 + exp(-x))
/// Backward: ∂L/∂x = ∂L/∂y · y (1 - y)        (seed 000: exp(-x)/(1+exp(-x))² = y(1-y))
/// </summary>
public sealed class Sigmoid<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override LayerSpec Spec => SigmoidSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => 4L * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        MathKernels.Sigmoid(x[..len], y[..len]); // one algorithm on every width (docs/DETERMINISM.md)
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        for (int i = 0; i < len; i++) dx[i] = dy[i] * y[i] * (T.One - y[i]);
    }
}

/// <summary>The description of a <see cref="Sigmoid{T}"/>: token <c>sigmoid</c>.</summary>
public sealed record SigmoidSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static SigmoidSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => SigmoidKind.Instance;

    /// <inheritdoc />
    public override string Token => "sigmoid";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Sigmoid<T>();

    /// <summary>ONNX Sigmoid, element by element.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Elementwise("Sigmoid", "sigmoid");
}

/// <summary>The sigmoid kind: token <c>sigmoid</c>.</summary>
public sealed class SigmoidKind() : WordLayerKind<SigmoidSpec>("sigmoid")
{
    /// <summary>The registered instance.</summary>
    public static SigmoidKind Instance { get; } = new();

    /// <inheritdoc />
    protected override SigmoidSpec Description => SigmoidSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "logistic sigmoid 1 / (1 + e^-x), element by element";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Bounded | LayerTraits.Elementwise;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Sigmoid"];

    /// <summary>Sigmoid → sigmoid.</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node) => import.AddElementwise(node, SigmoidSpec.Instance);
}
