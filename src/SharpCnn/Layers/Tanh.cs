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
    public override string Token => "tanh";

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
