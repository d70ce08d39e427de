namespace SharpCnn.Layers;

/// <summary>How a convolution pads its input.</summary>
public enum PaddingMode
{
    /// <summary>No padding: the kernel only visits positions inside the input (MATLAB 'valid').</summary>
    Valid,

    /// <summary>Output size ceil(input / stride); the padding is split with any odd pixel at the bottom/right (MATLAB, TensorFlow and PyTorch 'same').</summary>
    Same,

    /// <summary>Kernel size - 1 zeros on every side: every partial overlap is an output (MATLAB 'full').</summary>
    Full,

    /// <summary>Explicit zeros on each side (top, bottom, left, right).</summary>
    Explicit,
}

/// <summary>
/// A convolution's padding: a mode, and for <see cref="PaddingMode.Explicit"/> the
/// number of zero rows/columns on each side.
/// </summary>
public readonly record struct Padding(PaddingMode Mode, int Top = 0, int Bottom = 0, int Left = 0, int Right = 0)
{
    /// <summary>No padding.</summary>
    public static Padding Valid => new(PaddingMode.Valid);

    /// <summary>'same' padding.</summary>
    public static Padding Same => new(PaddingMode.Same);

    /// <summary>'full' padding.</summary>
    public static Padding Full => new(PaddingMode.Full);

    /// <summary>The same explicit padding on all four sides.</summary>
    public static Padding All(int p) => new(PaddingMode.Explicit, p, p, p, p);

    /// <summary>Explicit padding per side.</summary>
    public static Padding Sides(int top, int bottom, int left, int right) => new(PaddingMode.Explicit, top, bottom, left, right);

    /// <summary>
    /// The zeros added on each side for an input of <paramref name="height"/> x <paramref name="width"/>
    /// and a <paramref name="kh"/> x <paramref name="kw"/> kernel moved by <paramref name="stride"/>.
    /// </summary>
    public (int Top, int Bottom, int Left, int Right) Resolve(int height, int width, int kh, int kw, int stride)
    {
        switch (Mode)
        {
            case PaddingMode.Valid:
                return (0, 0, 0, 0);
            case PaddingMode.Full:
                return (kh - 1, kh - 1, kw - 1, kw - 1);
            case PaddingMode.Same:
                var (t, b) = SameSplit(height, kh, stride);
                var (l, r) = SameSplit(width, kw, stride);
                return (t, b, l, r);
            default:
                return (Top, Bottom, Left, Right);
        }
    }

    private static (int Before, int After) SameSplit(int size, int kernel, int stride)
    {
        int outSize = (size + stride - 1) / stride;
        int total = Math.Max((outSize - 1) * stride + kernel - size, 0);
        return (total / 2, total - total / 2);
    }

    /// <summary>The spec-token suffix (empty for 'valid').</summary>
    public string Token => Mode switch
    {
        PaddingMode.Valid => "",
        PaddingMode.Same => ":same",
        PaddingMode.Full => ":full",
        _ when Top == Bottom && Top == Left && Top == Right => $":p{Top}",
        _ => $":p{Top}-{Bottom}-{Left}-{Right}",
    };
}
