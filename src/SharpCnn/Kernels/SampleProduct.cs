// A dense layer's forward product for ONE sample, y = x Wᵀ (W [m x d] row-major, y[j] = Σ_p x[p]·W[j, p]),
// without Gemm's packing. Gemm handles one row of C as it handles eight: it packs all of W (transposed into
// panels, 12.8 MB for fc1) and runs its 8-row micro-kernel with one useful row. Here W is read once, row by
// row, in blocks of 8 rows x 8 columns transposed in registers (AVX), so each register holds one column p of
// 8 consecutive rows j and is multiplied into 8 accumulator lanes (one per output j).
//
// The arithmetic is Gemm's canonical order for a 1 x m x d product (docs/DETERMINISM.md): a lane is one y[j];
// the sum over p is cut into slices of Gemm.DepthSlice(d); each slice summed from zero with one FUSED
// multiply-add per p in increasing p; the first slice stored to y, each later slice added. So the bits are
// Gemm's (and GemmReference's), whatever the machine, the rows' split over threads or the path taken: rows
// left over after whole blocks of 8 go through Gemm itself, and machines without AVX and FMA (or T = double)
// take Gemm for all rows. The tests hold it to GemmReference bit for bit.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpCnn.Kernels;

/// <summary>y = x Wᵀ for one sample x, bit-identical to <see cref="Gemm"/> (see the top of the file).</summary>
internal static class SampleProduct
{
    /// <summary>Rows per block of the register transpose.</summary>
    private const int Block = 8;

    /// <summary>True when the transposing kernel runs for <typeparamref name="T"/> on this machine (float with AVX and FMA).</summary>
    public static bool Accelerated<T>() => typeof(T) == typeof(float) && Avx.IsSupported && Fma.IsSupported;

    /// <summary>
    /// <paramref name="y"/>[j] = Σ_p <paramref name="x"/>[p]·<paramref name="w"/>[j·d + p] for j &lt; <paramref name="m"/>:
    /// what <c>Gemm.Multiply(false, true, 1, m, d, x, d, w, d, y, m, accumulate: false)</c> computes, on up to
    /// <see cref="Parallelism.ThreadCount"/> threads (ranges of rows).
    /// </summary>
    public static void Multiply<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, int m, int d, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || d <= 0) throw new ArgumentOutOfRangeException(nameof(m), $"a {m} x {d} product is empty");
        if (x.Length < d || w.Length < (long)m * d || y.Length < m)
            throw new ArgumentException($"x has {x.Length} values, W {w.Length} and y {y.Length}; a {m} x {d} product needs {d}, {(long)m * d} and {m}");
        if (!Accelerated<T>())
        {
            ParallelGemm.Multiply(false, true, 1, m, d, x, d, w, d, y, m, accumulate: false);
            return;
        }
        var work = new RowsWork
        {
            X = MemoryMarshal.Cast<T, float>(x), W = MemoryMarshal.Cast<T, float>(w), Y = MemoryMarshal.Cast<T, float>(y),
            M = m, D = d, Parts = Parallelism.ElementParts(m * d),
        };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>
    /// <see cref="Multiply{T}"/> with W's rows cut as a dense layer's one-sample backward pass cuts them (its depth slices,
    /// <see cref="FusedSgdKernels.RowSlices"/>) and run by their owners (<see cref="Parallelism.ForOwned{TWork}"/>), so that
    /// each thread reads the rows it updates in the backward pass. The same bits as <see cref="Multiply{T}"/>.
    /// </summary>
    public static void MultiplyOwned<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, int m, int d, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int slices = FusedSgdKernels.RowSlices(m);
        if (slices <= 1 || !Accelerated<T>() || x.Length < d || w.Length < (long)m * d || y.Length < m || d <= 0)
        {
            Multiply(x, w, m, d, y);
            return;
        }
        var work = new SliceRowsWork
        {
            X = MemoryMarshal.Cast<T, float>(x), W = MemoryMarshal.Cast<T, float>(w), Y = MemoryMarshal.Cast<T, float>(y),
            M = m, D = d, SliceRows = Gemm.DepthSlice(m),
        };
        Parallelism.ForOwned(slices, ref work);
    }

    private ref struct SliceRowsWork : IPartitionedWork
    {
        public ReadOnlySpan<float> X, W;
        public Span<float> Y;
        public int M, D, SliceRows;

        public readonly void Run(int partition)
        {
            int first = partition * SliceRows;
            Rows(X, W, D, Y, first, Math.Min(SliceRows, M - first));
        }
    }

    private ref struct RowsWork : IPartitionedWork
    {
        public ReadOnlySpan<float> X, W;
        public Span<float> Y;
        public int M, D, Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.AlignedRange(M, Parts, partition, 4 * Block);
            if (count > 0) Rows(X, W, D, Y, start, count);
        }
    }

    /// <summary>Rows [first, first + count): blocks of 32 and 8 rows by the transposing kernel, the rest by Gemm.</summary>
    private static void Rows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, int d, Span<float> y, int first, int count)
    {
        int end = first + count, j = first;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (; j + 4 * Block <= end; j += 4 * Block) FourBlocks(ref xr, ref Unsafe.Add(ref wr, (nint)j * d), d, ref Unsafe.Add(ref yr, j));
        for (; j + Block <= end; j += Block) OneBlock(ref xr, ref Unsafe.Add(ref wr, (nint)j * d), d, ref Unsafe.Add(ref yr, j));
        if (j < end) Gemm.Multiply(false, true, 1, end - j, d, x, d, w[(j * d)..], d, y[j..], end - j, accumulate: false);
    }

    /// <summary>32 rows: four independent chains of multiply-adds (one per block of 8 rows), so the FMA latency is hidden.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourBlocks(ref float x, ref float w, int d, ref float y)
    {
        int kc = Gemm.DepthSlice(d);
        nint ld = d, rows8 = 8 * ld;
        for (int pc = 0; pc < d; pc += kc)
        {
            int pe = Math.Min(d, pc + kc), p = pc;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; p + 8 <= pe; p += 8)
            {
                ref float xp = ref Unsafe.Add(ref x, p);
                ref float wp = ref Unsafe.Add(ref w, p);
                a0 = Eight(a0, ref wp, ld, ref xp);
                a1 = Eight(a1, ref Unsafe.Add(ref wp, rows8), ld, ref xp);
                a2 = Eight(a2, ref Unsafe.Add(ref wp, 2 * rows8), ld, ref xp);
                a3 = Eight(a3, ref Unsafe.Add(ref wp, 3 * rows8), ld, ref xp);
            }
            for (; p < pe; p++)
            {
                var xv = Vector256.Create(Unsafe.Add(ref x, p));
                ref float wp = ref Unsafe.Add(ref w, p);
                a0 = Fma.MultiplyAdd(xv, Column(ref wp, ld), a0);
                a1 = Fma.MultiplyAdd(xv, Column(ref Unsafe.Add(ref wp, rows8), ld), a1);
                a2 = Fma.MultiplyAdd(xv, Column(ref Unsafe.Add(ref wp, 2 * rows8), ld), a2);
                a3 = Fma.MultiplyAdd(xv, Column(ref Unsafe.Add(ref wp, 3 * rows8), ld), a3);
            }
            Finish(a0, pc, ref y);
            Finish(a1, pc, ref Unsafe.Add(ref y, 8));
            Finish(a2, pc, ref Unsafe.Add(ref y, 16));
            Finish(a3, pc, ref Unsafe.Add(ref y, 24));
        }
    }

    /// <summary>8 rows: one chain.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OneBlock(ref float x, ref float w, int d, ref float y)
    {
        int kc = Gemm.DepthSlice(d);
        nint ld = d;
        for (int pc = 0; pc < d; pc += kc)
        {
            int pe = Math.Min(d, pc + kc), p = pc;
            Vector256<float> a = Vector256<float>.Zero;
            for (; p + 8 <= pe; p += 8) a = Eight(a, ref Unsafe.Add(ref w, p), ld, ref Unsafe.Add(ref x, p));
            for (; p < pe; p++) a = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, p)), Column(ref Unsafe.Add(ref w, p), ld), a);
            Finish(a, pc, ref y);
        }
    }

    /// <summary>The slice's sum stored to y (first slice) or added to it (later slices).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(Vector256<float> sum, int pc, ref float y) =>
        (pc == 0 ? sum : Vector256.LoadUnsafe(ref y) + sum).StoreUnsafe(ref y);

    /// <summary>Column p of 8 rows (stride ld) as one register, lane i = row i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Column(ref float w, nint ld) => Vector256.Create(
        w, Unsafe.Add(ref w, ld), Unsafe.Add(ref w, 2 * ld), Unsafe.Add(ref w, 3 * ld),
        Unsafe.Add(ref w, 4 * ld), Unsafe.Add(ref w, 5 * ld), Unsafe.Add(ref w, 6 * ld), Unsafe.Add(ref w, 7 * ld));

    /// <summary>
    /// acc += x[p + c]·W[·, p + c] for c = 0..7 in increasing c (one fused multiply-add each): the 8 x 8 block of
    /// 8 rows (stride ld) and 8 columns at <paramref name="w"/> transposed in registers (as GemmPacking's Transpose8x8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Eight(Vector256<float> acc, ref float w, nint ld, ref float x)
    {
        Vector256<float> r0 = Vector256.LoadUnsafe(ref w);
        Vector256<float> r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, ld));
        Vector256<float> r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 2 * ld));
        Vector256<float> r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 3 * ld));
        Vector256<float> r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 4 * ld));
        Vector256<float> r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 5 * ld));
        Vector256<float> r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 6 * ld));
        Vector256<float> r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 7 * ld));
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        acc = Fma.MultiplyAdd(Vector256.Create(x), Avx.Permute2x128(u0, u4, 0x20), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 1)), Avx.Permute2x128(u1, u5, 0x20), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 2)), Avx.Permute2x128(u2, u6, 0x20), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 3)), Avx.Permute2x128(u3, u7, 0x20), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 4)), Avx.Permute2x128(u0, u4, 0x31), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 5)), Avx.Permute2x128(u1, u5, 0x31), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 6)), Avx.Permute2x128(u2, u6, 0x31), acc);
        acc = Fma.MultiplyAdd(Vector256.Create(Unsafe.Add(ref x, 7)), Avx.Permute2x128(u3, u7, 0x31), acc);
        return acc;
    }
}
