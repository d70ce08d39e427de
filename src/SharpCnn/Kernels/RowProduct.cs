// One row times a transposed matrix, for a dense layer at batch 1: y[j] = Σ_p x[p]·W[j, p], W stored m x k.
//
// The order is Gemm's for C[1 x m] = x[1 x k] · Wᵀ (docs/DETERMINISM.md): a lane is one y[j]; k is cut into
// slices of Gemm.DepthSlice(k); each slice is summed from zero with one fused multiply-add per p in increasing p;
// the first slice is stored, each later one added. So y is bit for bit what Gemm.Multiply(false, true, 1, m, k, ...)
// writes (the tests compare them), and a sample's output does not depend on whether it runs alone or in a batch.
//
// What it saves over the general Gemm at one row: the GEMM's tiles are 8 (or 6) rows of C, of which one would
// be real, and it packs all of Wᵀ per call before using it. Here each group of G = 4 registers of rows of W is
// transposed slice by slice into a small L1 buffer (Gemm's own 8 x 8 transposes) and consumed at once by four
// independent accumulator registers.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>y = x·Wᵀ for a single row x, in Gemm's canonical order (bit-identical to <see cref="Gemm.Multiply{T}"/> with m = 1, transB).</summary>
internal static class RowProduct
{
    /// <summary>
    /// y[j] = Σ_p x[p]·w[j·k + p] for j in <paramref name="first"/> .. + <paramref name="count"/> (y indexed by j).
    /// Any column range gives the same bits for its columns, so ranges can run on different threads.
    /// </summary>
    public static void MultiplyTransposed<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, int k, Span<T> y, int first, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k <= 0 || x.Length < k || first < 0 || count < 0 || (long)(first + count) * k > w.Length || y.Length < first + count)
            throw new ArgumentException("RowProduct: sizes do not fit the spans");
        if (count == 0) return;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Run<T, Vector512<T>, Width512<T>>(x, w, k, y, first, count); return; }
            if (Vector256.IsHardwareAccelerated) { Run<T, Vector256<T>, Width256<T>>(x, w, k, y, first, count); return; }
            if (Vector128.IsHardwareAccelerated) { Run<T, Vector128<T>, Width128<T>>(x, w, k, y, first, count); return; }
        }
        Run<T, T, WidthScalar<T>>(x, w, k, y, first, count);
    }

    /// <summary>Rows of W per packed group: four registers of the width <see cref="MultiplyPacked{T}"/> runs on.</summary>
    public static int GroupRows<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) return 4 * Vector512<T>.Count;
            if (Vector256.IsHardwareAccelerated) return 4 * Vector256<T>.Count;
            if (Vector128.IsHardwareAccelerated) return 4 * Vector128<T>.Count;
        }
        return 4;
    }

    /// <summary>Values of W [m, k] packed for <see cref="MultiplyPacked{T}"/>.</summary>
    public static long PackedLength<T>(int m, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int g = GroupRows<T>();
        return (long)(m + g - 1) / g * g * k;
    }

    /// <summary>
    /// Packs groups <paramref name="firstGroup"/> .. + <paramref name="groups"/> of W [m, k] (G = <see cref="GroupRows{T}"/> rows each):
    /// packed[(q·k + p)·G + r] = W[q·G + r, p], zero past the last row.
    /// </summary>
    public static void Pack<T>(ReadOnlySpan<T> w, int m, int k, Span<T> packed, int firstGroup, int groups) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int g = GroupRows<T>();
        if ((long)m * k > w.Length || packed.Length < PackedLength<T>(m, k)) throw new ArgumentException("RowProduct.Pack: spans too short");
        for (int q = firstGroup; q < firstGroup + groups; q++)
        {
            int rows = Math.Min(g, m - q * g);
            if (rows <= 0) break;
            GemmPacking.PackTransposed(ref Unsafe.Add(ref MemoryMarshal.GetReference(w), (nint)q * g * k), k, rows, k, g,
                ref Unsafe.Add(ref MemoryMarshal.GetReference(packed), (nint)q * k * g));
        }
    }

    /// <summary>
    /// y[j] = Σ_p x[p]·W[j, p] for the rows of groups <paramref name="firstGroup"/> .. + <paramref name="groups"/>, from W packed by
    /// <see cref="Pack{T}"/>: the same bits as <see cref="MultiplyTransposed{T}"/> (and the GEMM), W streamed once.
    /// </summary>
    public static void MultiplyPacked<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> packed, int m, int k, Span<T> y, int firstGroup, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int g = GroupRows<T>();
        if (x.Length < k || packed.Length < PackedLength<T>(m, k) || y.Length < m) throw new ArgumentException("RowProduct.MultiplyPacked: spans too short");
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Packed<T, Vector512<T>, Width512<T>>(x, packed, m, k, y, firstGroup, groups); return; }
            if (Vector256.IsHardwareAccelerated) { Packed<T, Vector256<T>, Width256<T>>(x, packed, m, k, y, firstGroup, groups); return; }
            if (Vector128.IsHardwareAccelerated) { Packed<T, Vector128<T>, Width128<T>>(x, packed, m, k, y, firstGroup, groups); return; }
        }
        Packed<T, T, WidthScalar<T>>(x, packed, m, k, y, firstGroup, groups);
    }

    private static void Packed<T, TVector, TWidth>(ReadOnlySpan<T> x, ReadOnlySpan<T> packed, int m, int k, Span<T> y, int firstGroup, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int lanes = TWidth.Count, group = 4 * lanes, kc = Gemm.DepthSlice(k);
        Span<T> sums = stackalloc T[64];
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T sr = ref MemoryMarshal.GetReference(sums);
        for (int q = firstGroup; q < firstGroup + groups; q++)
        {
            int rows = Math.Min(group, m - q * group);
            if (rows <= 0) break;
            ref T panel = ref Unsafe.Add(ref MemoryMarshal.GetReference(packed), (nint)q * k * group);
            TVector t0 = TWidth.Zero, t1 = TWidth.Zero, t2 = TWidth.Zero, t3 = TWidth.Zero;
            for (int p0 = 0; p0 < k; p0 += kc)
            {
                int depth = Math.Min(kc, k - p0);
                TVector a0 = TWidth.Zero, a1 = TWidth.Zero, a2 = TWidth.Zero, a3 = TWidth.Zero;
                ref T pp = ref Unsafe.Add(ref panel, (nint)p0 * group);
                ref T xp = ref Unsafe.Add(ref xr, p0);
                for (int p = 0; p < depth; p++)
                {
                    TVector b = TWidth.Broadcast(Unsafe.Add(ref xp, p));
                    a0 = TWidth.MultiplyAdd(b, TWidth.Load(ref pp), a0);
                    a1 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, lanes)), a1);
                    a2 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, 2 * lanes)), a2);
                    a3 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, 3 * lanes)), a3);
                    pp = ref Unsafe.Add(ref pp, group);
                }
                if (p0 == 0)
                {
                    t0 = a0; t1 = a1; t2 = a2; t3 = a3;
                }
                else
                {
                    t0 = TWidth.Add(t0, a0); t1 = TWidth.Add(t1, a1); t2 = TWidth.Add(t2, a2); t3 = TWidth.Add(t3, a3);
                }
            }
            TWidth.Store(t0, ref sr);
            TWidth.Store(t1, ref Unsafe.Add(ref sr, lanes));
            TWidth.Store(t2, ref Unsafe.Add(ref sr, 2 * lanes));
            TWidth.Store(t3, ref Unsafe.Add(ref sr, 3 * lanes));
            sums[..rows].CopyTo(y.Slice(q * group, rows));
        }
    }

    private static void Run<T, TVector, TWidth>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, int k, Span<T> y, int first, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int lanes = TWidth.Count, group = 4 * lanes, kc = Gemm.DepthSlice(k);
        Span<T> panel = ThreadScratch<T>.Get(ScratchSlot.Columns, kc * group + group);
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T wr = ref MemoryMarshal.GetReference(w);
        ref T pr = ref MemoryMarshal.GetReference(panel);
        for (int j0 = first; j0 < first + count; j0 += group)
        {
            int rows = Math.Min(group, first + count - j0);
            TVector t0 = TWidth.Zero, t1 = TWidth.Zero, t2 = TWidth.Zero, t3 = TWidth.Zero;
            for (int p0 = 0; p0 < k; p0 += kc)
            {
                int depth = Math.Min(kc, k - p0);
                // panel[p·G + r] = W[j0 + r, p0 + p] (zero for r ≥ rows)
                GemmPacking.PackTransposed(ref Unsafe.Add(ref wr, (nint)j0 * k + p0), k, rows, depth, group, ref pr);
                TVector a0 = TWidth.Zero, a1 = TWidth.Zero, a2 = TWidth.Zero, a3 = TWidth.Zero;
                ref T pp = ref pr;
                ref T xp = ref Unsafe.Add(ref xr, p0);
                for (int p = 0; p < depth; p++)
                {
                    TVector b = TWidth.Broadcast(Unsafe.Add(ref xp, p));
                    a0 = TWidth.MultiplyAdd(b, TWidth.Load(ref pp), a0);
                    a1 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, lanes)), a1);
                    a2 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, 2 * lanes)), a2);
                    a3 = TWidth.MultiplyAdd(b, TWidth.Load(ref Unsafe.Add(ref pp, 3 * lanes)), a3);
                    pp = ref Unsafe.Add(ref pp, group);
                }
                if (p0 == 0)
                {
                    t0 = a0; t1 = a1; t2 = a2; t3 = a3;
                }
                else
                {
                    t0 = TWidth.Add(t0, a0); t1 = TWidth.Add(t1, a1); t2 = TWidth.Add(t2, a2); t3 = TWidth.Add(t3, a3);
                }
            }
            // The group's sums through the panel's first row (free again) into y.
            TWidth.Store(t0, ref pr);
            TWidth.Store(t1, ref Unsafe.Add(ref pr, lanes));
            TWidth.Store(t2, ref Unsafe.Add(ref pr, 2 * lanes));
            TWidth.Store(t3, ref Unsafe.Add(ref pr, 3 * lanes));
            panel[..rows].CopyTo(y.Slice(j0, rows));
        }
    }
}
