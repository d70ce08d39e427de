using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Hyperbolic tangent, element by element; any shape in, the same shape out.
///
/// Forward:  y = tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))
/// Backward: ∂L/∂x = ∂L/∂y · (1 - y²)
/// </summary>
public sealed class Tanh<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override LayerSpec Spec => TanhSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => 4L * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        MathKernels.Tanh(x[..len], y[..len]); // one algorithm on every width (docs/DETERMINISM.md)
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        for (int i = 0; i < len; i++) dx[i] = dy[i] * (T.One - y[i] * y[i]);
    }
}

/// <summary>The description of a <see cref="Tanh{T}"/>: token <c>tanh</c>.</summary>
public sealed record TanhSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static TanhSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => TanhKind.Instance;

    /// <inheritdoc />
    public override string Token => "tanh";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Tanh<T>();

    /// <summary>ONNX Tanh, element by element.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Elementwise("Tanh", "tanh");
}

/// <summary>The tanh kind: token <c>tanh</c>.</summary>
public sealed class TanhKind() : WordLayerKind<TanhSpec>("tanh")
{
    /// <summary>The registered instance.</summary>
    public static TanhKind Instance { get; } = new();

    /// <inheritdoc />
    protected override TanhSpec Description => TanhSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "hyperbolic tangent, element by element";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Bounded | LayerTraits.Elementwise;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Tanh"];

    /// <summary>Tanh → tanh.</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node) => import.AddElementwise(node, TanhSpec.Instance);
}
