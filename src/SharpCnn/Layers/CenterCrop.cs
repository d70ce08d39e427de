using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Crops the centre of each map (seed 004 feeds 24x24 crops of the 28x28 digits).
///
/// Shapes: x [N, C, H, W], y [N, C, h, w] with h ≤ H, w ≤ W; offsets top = (H - h) / 2, left = (W - w) / 2.
///
/// Forward:  y[n,c,i,j] = x[n, c, top + i, left + j]
/// Backward: ∂L/∂x[n,c,top + i,left + j] = ∂L/∂y[n,c,i,j], and 0 on the cropped-away border.
/// </summary>
public sealed class CenterCrop<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int top, left;

    /// <summary>Creates a centre crop to <paramref name="height"/> x <paramref name="width"/>.</summary>
    public CenterCrop(int height, int width)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"crop {height}x{width} is empty");
        Height = height;
        Width = width;
    }

    /// <summary>Rows kept.</summary>
    public int Height { get; }

    /// <summary>Columns kept.</summary>
    public int Width { get; }

    /// <inheritdoc />
    public override string Token => $"crop{Height}x{Width}";

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (Height > input.Height || Width > input.Width)
            throw new LayerShapeException($"crop {Height}x{Width} is larger than its input {input.Height}x{input.Width}");
        top = (input.Height - Height) / 2;
        left = (input.Width - Width) / 2;
        return new Shape(input.Channels, Height, Width);
    }

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int planes = n * InputShape.Channels, ih = InputShape.Height, iw = InputShape.Width;
        for (int p = 0; p < planes; p++)
            for (int r = 0; r < Height; r++)
                x.Slice(p * ih * iw + (top + r) * iw + left, Width).CopyTo(y.Slice((p * Height + r) * Width, Width));
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int planes = n * InputShape.Channels, ih = InputShape.Height, iw = InputShape.Width;
        dx[..(planes * ih * iw)].Clear();
        for (int p = 0; p < planes; p++)
            for (int r = 0; r < Height; r++)
                dy.Slice((p * Height + r) * Width, Width).CopyTo(dx.Slice(p * ih * iw + (top + r) * iw + left, Width));
    }
}
