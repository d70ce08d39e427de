using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// What the augmentation layers (<see cref="RandomCrop{T}"/>, <see cref="RandomShift{T}"/>,
/// <see cref="RandomFlip{T}"/>) share: the per-sample draws, a pure function of (seed, step, sample),
/// and moving one sample's maps by an offset with the two border rules.
///
/// Draws: the trainer sets (seed, step) before each training step (<see cref="IStepSeeded"/>); sample k
/// of the batch gets h = mix(key(seed, step) + k·φ), with φ the golden-ratio constant and mix
/// SplitMix64's finaliser, the counter-based hash dropout uses. An offset in [-p, p] is
/// ⌊u · (2p + 1) / 2³²⌋ - p for a 32-bit half u of h (multiply-shift; its bias is below 2⁻³²·(2p+1)).
/// Nothing depends on a generator's state or on the thread count, and a resumed run draws exactly
/// what it drew the first time.
/// </summary>
internal static class RandomPlacement
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>The key of (seed, step), the same construction as dropout's.</summary>
    public static ulong StepKey(ulong seed, long step) => Mix(seed ^ Mix((ulong)step + Golden));

    /// <summary>The 64 random bits of sample <paramref name="sample"/> under <paramref name="key"/>.</summary>
    public static ulong SampleBits(ulong key, int sample) => Mix(key + (ulong)sample * Golden);

    /// <summary>An offset in [-<paramref name="p"/>, <paramref name="p"/>] from 32 random bits.</summary>
    public static int Offset(uint bits, int p) => (int)(((ulong)bits * (ulong)(2 * p + 1)) >> 32) - p;

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// y[i, j] = x[i + dy, j + dx] on one H x W plane; a source position outside the plane reads 0
    /// (<paramref name="edge"/> false: the zero padding of a crop) or the nearest border pixel (true).
    /// </summary>
    public static void Translate<T>(ReadOnlySpan<T> x, Span<T> y, int height, int width, int dy, int dx, bool edge)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < height; i++)
        {
            Span<T> row = y.Slice(i * width, width);
            int r = i + dy;
            if (!edge && (r < 0 || r >= height))
            {
                row.Clear();
                continue;
            }
            ReadOnlySpan<T> source = x.Slice(Math.Clamp(r, 0, height - 1) * width, width);
            // Columns j with 0 <= j + dx < width read the source directly.
            int first = Math.Max(0, -dx), last = Math.Min(width, width - dx); // [first, last)
            if (first < last) source.Slice(first + dx, last - first).CopyTo(row[first..last]);
            else (first, last) = dx > 0 ? (0, 0) : (width, width); // no overlap: every column reads past one border
            if (edge)
            {
                row[..first].Fill(source[0]);
                row[last..].Fill(source[width - 1]);
            }
            else
            {
                row[..first].Clear();
                row[last..].Clear();
            }
        }
    }

    /// <summary>
    /// The adjoint of <see cref="Translate{T}"/>: gx = Jᵀ·gy, so gx[p] is the sum of gy over the output
    /// positions that read source position p (zero where none does; several along a replicated border).
    /// Summed in a fixed order, so the result never depends on the thread count.
    /// </summary>
    public static void TranslateBack<T>(ReadOnlySpan<T> gy, Span<T> gx, int height, int width, int dy, int dx, bool edge)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        gx[..(height * width)].Clear();
        for (int i = 0; i < height; i++)
        {
            int r = i + dy;
            if (!edge && (r < 0 || r >= height)) continue;
            r = Math.Clamp(r, 0, height - 1);
            ReadOnlySpan<T> row = gy.Slice(i * width, width);
            Span<T> target = gx.Slice(r * width, width);
            for (int j = 0; j < width; j++)
            {
                int c = j + dx;
                if (c < 0 || c >= width)
                {
                    if (!edge) continue;
                    c = Math.Clamp(c, 0, width - 1);
                }
                target[c] += row[j];
            }
        }
    }
}
