using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>What pooling does with rows/columns at the bottom/right edge that do not fill a window.</summary>
public enum PoolEdge
{
    /// <summary>Ignore them ("忽略边缘", seed 003): output = floor((size - window) / stride) + 1.</summary>
    Drop,

    /// <summary>Zero-pad the bottom/right so the last window is complete ("保留边缘", seeds 003/004): output = ceil((size - window) / stride) + 1.</summary>
    Pad,
}

/// <summary>
/// The window geometry shared by the pooling layers: a kh x kw window moved by a stride,
/// with an edge mode. Padded positions (edge = Pad) hold zeros.
/// </summary>
public readonly record struct PoolWindow(int Height, int Width, int Stride, PoolEdge Edge)
{
    /// <summary>Output size along one axis.</summary>
    public static int OutputSize(int size, int window, int stride, PoolEdge edge)
    {
        if (edge == PoolEdge.Drop) return size < window ? 0 : (size - window) / stride + 1;
        return size <= window ? 1 : (size - window + stride - 1) / stride + 1;
    }

    /// <summary>The pooled shape of <paramref name="input"/>; throws <see cref="LayerShapeException"/> when nothing would remain.</summary>
    public Shape Apply(Shape input)
    {
        if (Height <= 0 || Width <= 0 || Stride <= 0) throw new LayerShapeException($"pooling window {Height}x{Width} with stride {Stride} is invalid");
        if (Edge == PoolEdge.Drop && (input.Height < Height || input.Width < Width))
            throw new LayerShapeException($"pooling window {Height}x{Width} is larger than its input {input.Height}x{input.Width} (edge mode 'drop' leaves nothing; use 'pad')");
        return new Shape(input.Channels, OutputSize(input.Height, Height, Stride, Edge), OutputSize(input.Width, Width, Stride, Edge));
    }

    /// <summary>Spec-token suffix for the window, e.g. <c>2</c>, <c>3:s2</c>, <c>2x3:pad</c>.</summary>
    public string Suffix
    {
        get
        {
            string s = Height == Width ? $"{Height}" : $"{Height}x{Width}";
            if (Stride != Height || Height != Width) s += $":s{Stride}";
            if (Edge == PoolEdge.Pad) s += ":pad";
            return s;
        }
    }
}
