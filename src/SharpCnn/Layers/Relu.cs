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
        int len = n * InputShape.Size;
        TP.Max(x[..len], T.Zero, y[..len]);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        for (int i = 0; i < len; i++) dx[i] = x[i] > T.Zero ? dy[i] : T.Zero;
    }
}
