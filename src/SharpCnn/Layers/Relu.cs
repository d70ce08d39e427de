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
    public override string Token => "relu";

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => InputShape.Size;

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
