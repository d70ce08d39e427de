using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace SharpCnn.Layers;

/// <summary>
/// Rectified linear unit, element by element; any shape in, the same shape out.
///
/// Forward:  y = max(x, 0)
/// Backward: ∂L/∂x = ∂L/∂y · [x > 0]
/// At x = 0 the function has a kink; the derivative used there is 0 (as in the seeds and
/// PyTorch). The gradient checker moves points off the kink instead of testing at it.
/// </summary>
public sealed class Relu<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override LayerSpec Spec => ReluSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => InputShape.Size;

    /// <inheritdoc />
    internal override InferenceFusion InferenceRole => InferenceFusion.Relu;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        var work = new Work { X = x[..(n * InputShape.Size)], Y = y, Parts = Parallelism.ElementParts(n * InputShape.Size) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        var work = new Work { X = x[..(n * InputShape.Size)], Dy = dy, Y = dx, Backward = true, Parts = Parallelism.ElementParts(n * InputShape.Size) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>Element ranges of either pass on several threads (forward: TensorPrimitives.Max; backward: ElementwiseKernels.ReluBackward).</summary>
    private ref struct Work : IPartitionedWork
    {
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Y;
        public bool Backward;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(X.Length, Parts, partition);
            if (Backward) ElementwiseKernels.ReluBackward(X.Slice(start, count), Dy.Slice(start, count), Y.Slice(start, count));
            else TP.Max(X.Slice(start, count), T.Zero, Y.Slice(start, count));
        }
    }
}

/// <summary>The description of a <see cref="Relu{T}"/>: token <c>relu</c>.</summary>
public sealed record ReluSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static ReluSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => ReluKind.Instance;

    /// <inheritdoc />
    public override string Token => "relu";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Relu<T>();

    /// <summary>ONNX Relu, element by element.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) => export.Elementwise("Relu", "relu");
}

/// <summary>The ReLU kind: token <c>relu</c>.</summary>
public sealed class ReluKind() : WordLayerKind<ReluSpec>("relu")
{
    /// <summary>The registered instance.</summary>
    public static ReluKind Instance { get; } = new();

    /// <inheritdoc />
    protected override ReluSpec Description => ReluSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "rectified linear unit max(x, 0), element by element";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Bounded | LayerTraits.Elementwise;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Relu"];

    /// <summary>Relu → relu.</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node) => import.AddElementwise(node, ReluSpec.Instance);
}
