using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// The identity activation (a layer with no activation, written explicitly).
///
/// Forward:  y = x
/// Backward: ∂L/∂x = ∂L/∂y
/// </summary>
public sealed class Identity<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Token => "identity";

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        x[..len].CopyTo(y);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        dy[..len].CopyTo(dx);
    }
}
