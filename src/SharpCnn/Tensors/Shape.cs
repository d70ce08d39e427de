namespace SharpCnn.Tensors;

/// <summary>
/// The shape of one sample's feature maps: channels x height x width.
/// Every activation in SharpCnn is a contiguous batch-first NCHW block; a dense
/// layer's output of <c>n</c> features is the shape <c>n x 1 x 1</c>.
/// </summary>
public readonly record struct Shape(int Channels, int Height, int Width)
{
    /// <summary>Number of values in one sample: C * H * W.</summary>
    public int Size => Channels * Height * Width;

    /// <summary>A flat vector of <paramref name="features"/> values (features x 1 x 1).</summary>
    public static Shape Vector(int features) => new(features, 1, 1);

    /// <summary>True when the shape is a flat vector (height and width 1).</summary>
    public bool IsVector => Height == 1 && Width == 1;

    /// <inheritdoc />
    public override string ToString() => IsVector ? $"{Channels}" : $"{Channels}x{Height}x{Width}";
}
