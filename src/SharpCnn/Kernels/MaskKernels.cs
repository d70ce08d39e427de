// Dropout's mask and its application, vectorised: element i (global index g = first + i) is kept when the top
// 53 bits of SplitMix64's finaliser of key + g·φ (φ the golden-ratio constant) are at least the threshold, and
// then becomes from_i · scale, else +0. Integer arithmetic (64-bit multiplies, shifts, xors, an unsigned
// compare) is exact on every width, and the kept value is one rounded product as in the scalar loop, so the
// masks and outputs are the bits of ApplyReference (the layer's loop before) on every machine and split.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpCnn.Kernels;

/// <summary>Dropout's counter-based mask applied to a span (see the top of the file), with its plain reference.</summary>
internal static class MaskKernels
{
    /// <summary>φ: the index multiplier of the counter-based hash.</summary>
    public const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>to_i = keep(first + i) ? from_i · scale : 0.</summary>
    public static void Apply<T>(ReadOnlySpan<T> from, Span<T> to, ulong key, ulong first, ulong threshold, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (to.Length < from.Length) throw new ArgumentException("mask: the destination is shorter than the source");
        int i = 0;
        if (Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
            i = ApplyVector(from, to, key, first, threshold, scale);
        ApplyReference(from[i..], to[i..], key, first + (ulong)i, threshold, scale);
    }

    /// <summary>The plain loop <see cref="Apply{T}"/> is held to.</summary>
    public static void ApplyReference<T>(ReadOnlySpan<T> from, Span<T> to, ulong key, ulong first, ulong threshold, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < from.Length; i++)
            to[i] = (Mix(key + (first + (ulong)i) * Golden) >> 11) >= threshold ? from[i] * scale : T.Zero;
    }

    /// <summary>Whole vectors of T: the keep masks from Vector&lt;ulong&gt; lanes (two per vector of floats, narrowed).</summary>
    private static int ApplyVector<T>(ReadOnlySpan<T> from, Span<T> to, ulong key, ulong first, ulong threshold, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count, wide = Vector<ulong>.Count, end = from.Length - from.Length % lanes;
        Span<ulong> offsets = stackalloc ulong[wide];
        for (int l = 0; l < wide; l++) offsets[l] = (ulong)l;
        Vector<ulong> lane = Vector.LoadUnsafe(ref MemoryMarshal.GetReference(offsets));
        Vector<ulong> golden = new(Golden), k = new(key), limit = new(threshold), step = new((ulong)wide);
        Vector<ulong> index = lane + new Vector<ulong>(first);
        Vector<T> s = new(scale);
        ref T fr = ref MemoryMarshal.GetReference(from), tr = ref MemoryMarshal.GetReference(to);
        for (nuint i = 0; i < (nuint)end; i += (nuint)lanes)
        {
            Vector<T> keep;
            if (typeof(T) == typeof(float))
            {
                Vector<ulong> low = Keep(index, k, golden, limit);
                index += step;
                Vector<ulong> high = Keep(index, k, golden, limit);
                index += step;
                keep = Vector.AsVectorSingle(Vector.AsVectorInt32(Vector.Narrow(low, high))).As<float, T>();
            }
            else
            {
                keep = Vector.AsVectorDouble(Keep(index, k, golden, limit)).As<double, T>();
                index += step;
            }
            Vector.ConditionalSelect(keep, Vector.LoadUnsafe(ref fr, i) * s, Vector<T>.Zero).StoreUnsafe(ref tr, i);
        }
        return end;
    }

    /// <summary>All ones in the lanes whose index is kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<ulong> Keep(Vector<ulong> index, Vector<ulong> key, Vector<ulong> golden, Vector<ulong> threshold)
    {
        Vector<ulong> z = key + index * golden;
        z = (z ^ Vector.ShiftRightLogical(z, 30)) * new Vector<ulong>(0xBF58476D1CE4E5B9UL);
        z = (z ^ Vector.ShiftRightLogical(z, 27)) * new Vector<ulong>(0x94D049BB133111EBUL);
        z ^= Vector.ShiftRightLogical(z, 31);
        return Vector.GreaterThanOrEqual(Vector.ShiftRightLogical(z, 11), threshold);
    }
}
