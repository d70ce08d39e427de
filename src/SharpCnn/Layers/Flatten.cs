using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Flatten (seed 003's rasterisation): feature maps [N, C, H, W] become vectors
/// [N, C·H·W] in row-major order (channel, then row, then column). In NCHW memory the
/// values do not move, so both passes are copies:
///
/// Forward:  y[n, (c·H + h)·W + w] = x[n, c, h, w]
/// Backward: ∂L/∂x[n, c, h, w] = ∂L/∂y[n, (c·H + h)·W + w]
/// </summary>
public sealed class Flatten<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Token => "flatten";

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Shape.Vector(input.Size);

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        x[..(n * InputShape.Size)].CopyTo(y);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        dy[..(n * InputShape.Size)].CopyTo(dx);
    }
}
