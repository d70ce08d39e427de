// Packing for Gemm: copies a block of op(A) or op(B) into the contiguous, zero-padded panel layout
// the micro-kernels read.
//
//   packed A (panels of MR rows):    Ap[q*MR*depth + p*MR + r]  = op(A)[i0 + q*MR + r, p0 + p]
//   packed B (panels of NR columns): Bp[q*NR*depth + p*NR + j]  = op(B)[p0 + p, j0 + q*NR + j]
//     except the last panel when it has fewer than NR columns: its width is then the whole registers
//     those columns need (W = 16 floats on AVX-512: 4 columns take 16, not 48), Bp[q*NR*depth + p*W' + j]
//
// Entries past the last row of A / last column of B are zero, so the micro-kernel always runs on
// full tiles. Depending on the transpose flag, a panel is either filled from runs that are already
// contiguous in memory (A^T, B: a plain copy per p) or needs a transpose (A, B^T: rows of the source
// become the short groups of the panel). The transposing case is done 8 x 8 (float) or 4 x 4 (double)
// at a time in AVX registers when the machine has AVX, and element by element otherwise.
//
// op(B) is read from memory once per Gemm call and is the one big stream, so both B paths ask the
// cache for what they will copy next (SSE prefetch hints on x86, nothing elsewhere): the row copy
// a few rows ahead, the transposing copy the next group of source rows, whose runs of only
// kc values are too short for the hardware prefetcher to pick up in time.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpCnn.Kernels;

/// <summary>Fills Gemm's packed A and B panels from row-major source matrices.</summary>
internal static class GemmPacking
{
    /// <summary>
    /// Packs op(A)[i0 .. i0+rows, p0 .. p0+depth] into panels of <typeparamref name="TKernel"/>.Rows rows
    /// (layout at the top of this file).
    /// </summary>
    public static void PackA<T, TKernel>(bool transA, ref T a, nint lda, int i0, int rows, int p0, int depth, ref T packed)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.Rows;
        for (int ir = 0; ir < rows; ir += mr)
        {
            int panelRows = Math.Min(mr, rows - ir);
            ref T panel = ref Unsafe.Add(ref packed, (nint)ir * depth);
            if (transA)
            {
                // A stored k x m: op(A)[i, p] = a[p * lda + i], so each p reads panelRows consecutive values.
                ref T source = ref Unsafe.Add(ref a, p0 * lda + i0 + ir);
                for (int p = 0; p < depth; p++)
                {
                    ref T destination = ref Unsafe.Add(ref panel, (nint)p * mr);
                    if (panelRows == mr)
                    {
                        MemoryMarshal.CreateReadOnlySpan(ref source, mr).CopyTo(MemoryMarshal.CreateSpan(ref destination, mr));
                    }
                    else
                    {
                        MemoryMarshal.CreateReadOnlySpan(ref source, panelRows).CopyTo(MemoryMarshal.CreateSpan(ref destination, panelRows));
                        MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, panelRows), mr - panelRows).Clear();
                    }
                    source = ref Unsafe.Add(ref source, lda);
                }
            }
            else
            {
                // A stored m x k: rows of A become the groups of mr values.
                PackTransposed(ref Unsafe.Add(ref a, (i0 + ir) * lda + p0), lda, panelRows, depth, mr, ref panel);
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0 .. p0+depth, j0 .. j0+columns] into panels of <typeparamref name="TKernel"/>.Columns columns
    /// (layout at the top of this file).
    /// </summary>
    public static void PackB<T, TKernel>(bool transB, ref T b, nint ldb, int p0, int depth, int j0, int columns, ref T packed)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        int nr = TKernel.Columns;
        if (transB)
        {
            // B stored n x k: rows of B become the groups of nr values.
            for (int jr = 0; jr < columns; jr += nr)
            {
                int count = Math.Min(nr, columns - jr);
                PackTransposed(ref Unsafe.Add(ref b, (j0 + jr) * ldb + p0), ldb, count, depth, PanelWidth<T, TKernel>(count),
                    ref Unsafe.Add(ref packed, (nint)jr * depth));
            }
            return;
        }

        // B stored k x n: walk each source row once from left to right (one sequential stream),
        // dealing its runs of nr values out to the panels.
        int fullPanels = columns / nr;
        int tail = columns - fullPanels * nr;
        nint panelSize = (nint)depth * nr;
        nint prefetchAhead = PrefetchRows * ldb * Unsafe.SizeOf<T>();
        for (int p = 0; p < depth; p++)
        {
            ref T source = ref Unsafe.Add(ref b, (p0 + p) * ldb + j0);
            ref T destination = ref Unsafe.Add(ref packed, (nint)p * nr);
            for (int q = 0; q < fullPanels; q++)
            {
                PrefetchRun<T>(ref source, prefetchAhead, nr);
                MemoryMarshal.CreateReadOnlySpan(ref source, nr).CopyTo(MemoryMarshal.CreateSpan(ref destination, nr));
                source = ref Unsafe.Add(ref source, nr);
                destination = ref Unsafe.Add(ref destination, panelSize);
            }
            if (tail > 0)
            {
                // The last panel is only as wide as the whole registers its columns need (PanelWidth).
                int width = PanelWidth<T, TKernel>(tail);
                destination = ref Unsafe.Add(ref packed, fullPanels * panelSize + (nint)p * width);
                MemoryMarshal.CreateReadOnlySpan(ref source, tail).CopyTo(MemoryMarshal.CreateSpan(ref destination, tail));
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, tail), width - tail).Clear();
            }
        }
    }

    /// <summary>
    /// Width of a packed B panel holding <paramref name="columns"/> columns: a full tile's NR, or for the last,
    /// narrower panel the whole registers its columns need (it is then run by the kernel's RunNarrow).
    /// </summary>
    public static int PanelWidth<T, TKernel>(int columns)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        int lanes = TKernel.Lanes;
        return columns >= TKernel.Columns ? TKernel.Columns : (columns + lanes - 1) / lanes * lanes;
    }

    /// <summary>How many source rows ahead PackB asks the cache for the data it will copy next.</summary>
    private const int PrefetchRows = 4;

    /// <summary>
    /// Hints the cache to fetch the <paramref name="count"/> values <paramref name="offsetBytes"/> past
    /// <paramref name="source"/>. Only an address is computed (never a reference, never a read), so it
    /// may point past the end of the matrix; prefetches never fault.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchRun<T>(ref T source, nint offsetBytes, int count)
        where T : unmanaged
    {
        if (!Sse.IsSupported)
            return;
        byte* address = (byte*)Unsafe.AsPointer(ref source) + offsetBytes;
        for (int line = 0; line < count * sizeof(T); line += 64)
            Sse.Prefetch0(address + line);
    }

    /// <summary>
    /// Hints the cache to fetch the line at <paramref name="source"/> in each of the <paramref name="rows"/>
    /// source rows after the current group of <paramref name="rows"/> (row stride <paramref name="ld"/>),
    /// so the next group's short row streams are on their way before the transposes reach them.
    /// Address arithmetic only, as in <see cref="PrefetchRun{T}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchColumn<T>(ref T source, nint ld, int rows)
        where T : unmanaged
    {
        if (!Sse.IsSupported)
            return;
        byte* address = (byte*)Unsafe.AsPointer(ref source) + rows * ld * sizeof(T);
        for (int r = 0; r < rows; r++)
            Sse.Prefetch0(address + r * ld * sizeof(T));
    }

    /// <summary>
    /// destination[p * width + r] = source[r * ld + p] for r &lt; count, p &lt; depth, and zero for
    /// count &lt;= r &lt; width: <paramref name="count"/> source rows become the groups of one panel.
    /// </summary>
    internal static void PackTransposed<T>(ref T source, nint ld, int count, int depth, int width, ref T destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = 0;
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            for (; r + 8 <= count; r += 8)
            {
                ref float rows = ref Unsafe.As<T, float>(ref Unsafe.Add(ref source, r * ld));
                ref float groups = ref Unsafe.As<T, float>(ref Unsafe.Add(ref destination, r));
                int p = 0;
                for (; p + 8 <= depth; p += 8)
                {
                    if ((p & 15) == 0)
                        PrefetchColumn(ref Unsafe.Add(ref rows, p), ld, 8);
                    Transpose8x8(ref Unsafe.Add(ref rows, p), ld, ref Unsafe.Add(ref groups, (nint)p * width), width);
                }
                for (; p < depth; p++)
                {
                    for (int i = 0; i < 8; i++)
                        Unsafe.Add(ref groups, (nint)p * width + i) = Unsafe.Add(ref rows, i * ld + p);
                }
            }
            // Fewer than 8 rows left (A's panels of 6 rows on AVX2, the last rows of a panel): 4 and then 2 at a time.
            for (; r + 4 <= count; r += 4)
                TransposeFourRows(ref Unsafe.As<T, float>(ref Unsafe.Add(ref source, r * ld)), ld, depth, ref Unsafe.As<T, float>(ref Unsafe.Add(ref destination, r)), width);
            for (; r + 2 <= count; r += 2)
                InterleaveTwoRows(ref Unsafe.As<T, float>(ref Unsafe.Add(ref source, r * ld)), ld, depth, ref Unsafe.As<T, float>(ref Unsafe.Add(ref destination, r)), width);
        }
        else if (typeof(T) == typeof(double) && Avx.IsSupported)
        {
            for (; r + 4 <= count; r += 4)
            {
                ref double rows = ref Unsafe.As<T, double>(ref Unsafe.Add(ref source, r * ld));
                ref double groups = ref Unsafe.As<T, double>(ref Unsafe.Add(ref destination, r));
                int p = 0;
                for (; p + 4 <= depth; p += 4)
                {
                    if ((p & 7) == 0)
                        PrefetchColumn(ref Unsafe.Add(ref rows, p), ld, 4);
                    Transpose4x4(ref Unsafe.Add(ref rows, p), ld, ref Unsafe.Add(ref groups, (nint)p * width), width);
                }
                for (; p < depth; p++)
                {
                    for (int i = 0; i < 4; i++)
                        Unsafe.Add(ref groups, (nint)p * width + i) = Unsafe.Add(ref rows, i * ld + p);
                }
            }
        }

        for (; r < count; r++)
        {
            ref T row = ref Unsafe.Add(ref source, r * ld);
            for (int p = 0; p < depth; p++)
                Unsafe.Add(ref destination, (nint)p * width + r) = Unsafe.Add(ref row, p);
        }
        if (count < width)
        {
            for (int p = 0; p < depth; p++)
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, (nint)p * width + count), width - count).Clear();
        }
    }

    /// <summary>Writes the transpose of the 8 x 8 floats at <paramref name="source"/> (row stride ld) to <paramref name="destination"/> (row stride width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(ref float source, nint ld, ref float destination, nint width) =>
        Transpose8x8(Vector256.LoadUnsafe(ref source), Vector256.LoadUnsafe(ref Unsafe.Add(ref source, ld)),
            Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 2 * ld)), Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 3 * ld)),
            Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 4 * ld)), Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 5 * ld)),
            Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 6 * ld)), Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 7 * ld)),
            ref destination, width);

    /// <summary>Writes the transpose of the 8 x 8 floats r0 .. r7 (one row each) to <paramref name="destination"/> (row stride width): AVX shuffles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, ref float destination, nint width)
    {

        // Interleave pairs of rows: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        // Gather quadruples: u0 = column 0 of rows 0-3 | column 4 of rows 0-3, ...
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

        // Join 128-bit halves: column c of rows 0-3 with column c of rows 4-7.
        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref destination);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref Unsafe.Add(ref destination, width));
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref Unsafe.Add(ref destination, 2 * width));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref Unsafe.Add(ref destination, 3 * width));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 4 * width));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 5 * width));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 6 * width));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 7 * width));
    }

    /// <summary>destination[p * width + i] = rows[i * ld + p] for i &lt; 4, p &lt; depth: 4 x 4 transposes in SSE registers.</summary>
    private static void TransposeFourRows(ref float rows, nint ld, int depth, ref float destination, nint width)
    {
        int p = 0;
        for (; p + 4 <= depth; p += 4)
        {
            Vector128<float> r0 = Vector128.LoadUnsafe(ref rows, (nuint)p), r1 = Vector128.LoadUnsafe(ref Unsafe.Add(ref rows, ld), (nuint)p);
            Vector128<float> r2 = Vector128.LoadUnsafe(ref Unsafe.Add(ref rows, 2 * ld), (nuint)p), r3 = Vector128.LoadUnsafe(ref Unsafe.Add(ref rows, 3 * ld), (nuint)p);
            // t0 = r0[0] r1[0] r0[1] r1[1], t1 = r0[2] r1[2] r0[3] r1[3]; likewise t2, t3 for rows 2-3.
            Vector128<float> t0 = Sse.UnpackLow(r0, r1), t1 = Sse.UnpackHigh(r0, r1), t2 = Sse.UnpackLow(r2, r3), t3 = Sse.UnpackHigh(r2, r3);
            ref float group = ref Unsafe.Add(ref destination, (nint)p * width);
            Sse.MoveLowToHigh(t0, t2).StoreUnsafe(ref group);
            Sse.MoveHighToLow(t2, t0).StoreUnsafe(ref Unsafe.Add(ref group, width));
            Sse.MoveLowToHigh(t1, t3).StoreUnsafe(ref Unsafe.Add(ref group, 2 * width));
            Sse.MoveHighToLow(t3, t1).StoreUnsafe(ref Unsafe.Add(ref group, 3 * width));
        }
        for (; p < depth; p++)
        {
            for (int i = 0; i < 4; i++)
                Unsafe.Add(ref destination, (nint)p * width + i) = Unsafe.Add(ref rows, i * ld + p);
        }
    }

    /// <summary>destination[p * width + i] = rows[i * ld + p] for i &lt; 2, p &lt; depth: pairs interleaved in SSE registers.</summary>
    private static void InterleaveTwoRows(ref float rows, nint ld, int depth, ref float destination, nint width)
    {
        int p = 0;
        for (; p + 4 <= depth; p += 4)
        {
            Vector128<float> r0 = Vector128.LoadUnsafe(ref rows, (nuint)p), r1 = Vector128.LoadUnsafe(ref Unsafe.Add(ref rows, ld), (nuint)p);
            Vector128<ulong> low = Sse.UnpackLow(r0, r1).AsUInt64(), high = Sse.UnpackHigh(r0, r1).AsUInt64();
            ref byte group = ref Unsafe.As<float, byte>(ref Unsafe.Add(ref destination, (nint)p * width));
            nint step = width * sizeof(float);
            Unsafe.WriteUnaligned(ref group, low.GetElement(0));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref group, step), low.GetElement(1));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref group, 2 * step), high.GetElement(0));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref group, 3 * step), high.GetElement(1));
        }
        for (; p < depth; p++)
        {
            Unsafe.Add(ref destination, (nint)p * width) = Unsafe.Add(ref rows, p);
            Unsafe.Add(ref destination, (nint)p * width + 1) = Unsafe.Add(ref rows, ld + p);
        }
    }

    /// <summary>Writes the transpose of the 4 x 4 doubles at <paramref name="source"/> (row stride ld) to <paramref name="destination"/> (row stride width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x4(ref double source, nint ld, ref double destination, nint width)
    {
        Vector256<double> r0 = Vector256.LoadUnsafe(ref source);
        Vector256<double> r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, ld));
        Vector256<double> r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 2 * ld));
        Vector256<double> r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 3 * ld));

        // t0 = r0[0] r1[0] | r0[2] r1[2], t1 = r0[1] r1[1] | r0[3] r1[3], likewise t2, t3 for rows 2-3.
        Vector256<double> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<double> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);

        Avx.Permute2x128(t0, t2, 0x20).StoreUnsafe(ref destination);
        Avx.Permute2x128(t1, t3, 0x20).StoreUnsafe(ref Unsafe.Add(ref destination, width));
        Avx.Permute2x128(t0, t2, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 2 * width));
        Avx.Permute2x128(t1, t3, 0x31).StoreUnsafe(ref Unsafe.Add(ref destination, 3 * width));
    }
}
