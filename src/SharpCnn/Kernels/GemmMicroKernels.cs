// Register-blocked micro-kernels: the innermost step of Gemm.
//
// One call computes a full MR x NR tile of C from two packed micro-panels:
//
//   a: kc groups of MR values, group p = op(A)[i0 .. i0+MR, p]   (one column of the A panel)
//   b: kc groups of NR values, group p = op(B)[p, j0 .. j0+NR]   (one row of the B panel)
//
//   acc[MR x NR] = sum over p = 0 .. kc-1 of  a[p] (outer product) b[p]      (p in increasing order)
//   C tile       = acc          (overwrite)
//   C tile      += acc          (otherwise)
//
// NR is a whole number of registers (NR = vectors x lanes), so the acc tile lives in MR x vectors
// registers for the whole k loop. Per step p the kernel loads the NR values of b[p] as whole
// registers, broadcasts each of the MR values of a[p] into a register, and issues MR x vectors
// multiply-adds. The tile shapes:
//
//   8 x 3 registers  (24 accumulators + 3 B + 1 broadcast = 28 of 32 registers): AVX-512 has 32
//                    vector registers; 24 independent FMA chains cover 2 FMA pipes x 4-cycle latency
//                    three times over, and 3 loads + 8 broadcasts per 24 FMAs stays well inside
//                    the load ports. MR = 8 divides the common channel counts (8, 16, 32, 64, ...).
//   6 x 2 registers  (12 + 2 + 1 = 15 of 16): AVX2 / SSE / AdvSimd and the scalar fallback.
//
// The caller guarantees both micro-panels are full (zero-padded) and C has room for the whole tile;
// partial edge tiles are computed into a scratch tile by the caller and copied out from there.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace SharpCnn.Kernels;

/// <summary>A micro-kernel computing one <see cref="Rows"/> x <see cref="Columns"/> tile of C from packed panels.</summary>
internal interface IGemmMicroKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>MR: rows of C per tile, values of op(A) per packed group.</summary>
    static abstract int Rows { get; }

    /// <summary>NR: columns of C per tile, values of op(B) per packed group.</summary>
    static abstract int Columns { get; }

    /// <summary>
    /// C[0..Rows, 0..Columns] (row stride <paramref name="ldc"/>) is set to (<paramref name="overwrite"/>)
    /// or incremented by the product of the packed panels <paramref name="a"/> (kc x Rows) and
    /// <paramref name="b"/> (kc x Columns).
    /// </summary>
    static abstract void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite);

    /// <summary>Lanes of one register: the width of a narrow panel is a multiple of it.</summary>
    static abstract int Lanes { get; }

    /// <summary>
    /// As <see cref="Run"/> for a narrow last panel of <paramref name="vectors"/> registers (fewer than a full
    /// tile's), packed with row stride vectors x <see cref="Lanes"/>: the same multiply-adds per element in
    /// the same order, just fewer columns, so the last columns of C do not pay for a whole tile of padding.
    /// </summary>
    static abstract void RunNarrow(int vectors, int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite);

    /// <summary>
    /// BatchTree's tree over blocks of <paramref name="blockSize"/> along the depth <paramref name="k"/>, for one full
    /// tile (GemmTree.cs): per block its product summed in registers from zero (one fused multiply-add per p in
    /// increasing p, as <see cref="Run"/> does), the blocks combined by a binary counter (a completed subtree is
    /// added onto the registers as left + right from <paramref name="stack"/>, tiles of Rows x Columns values, and
    /// the last block folds the whole stack from the right), then C set to (<paramref name="overwrite"/>) or
    /// incremented by the root. The packed panels hold all k groups one after another.
    /// </summary>
    static abstract void RunTree(int k, int blockSize, ref T a, ref T b, ref T c, nint ldc, bool overwrite, ref T stack);
}

/// <summary>8 rows x 3 registers: the tile for 32-register machines (AVX-512).</summary>
internal readonly struct MicroKernel8x3<T, TVector, TWidth> : IGemmMicroKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TVector : struct
    where TWidth : struct, IVectorWidth<TVector, T>
{
    public static int Rows => 8;

    public static int Columns => 3 * TWidth.Count;

    public static int Lanes => TWidth.Count;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunNarrow(int vectors, int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        if (vectors == 1) Run1(kc, ref a, ref b, ref c, ldc, overwrite);
        else Run2(kc, ref a, ref b, ref c, ldc, overwrite);
    }

    /// <summary>8 rows x 1 register.</summary>
    private static void Run1(int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        nint w = TWidth.Count;
        TVector c0 = TWidth.Zero, c1 = TWidth.Zero, c2 = TWidth.Zero, c3 = TWidth.Zero;
        TVector c4 = TWidth.Zero, c5 = TWidth.Zero, c6 = TWidth.Zero, c7 = TWidth.Zero;
        for (int p = 0; p < kc; p++)
        {
            TVector b0 = TWidth.Load(ref b);
            c0 = TWidth.MultiplyAdd(TWidth.Broadcast(a), b0, c0);
            c1 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 1)), b0, c1);
            c2 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 2)), b0, c2);
            c3 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 3)), b0, c3);
            c4 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 4)), b0, c4);
            c5 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 5)), b0, c5);
            c6 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 6)), b0, c6);
            c7 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 7)), b0, c7);
            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, w);
        }
        StoreOne(ref c, c0, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c1, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c2, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c3, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c4, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c5, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c6, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c7, overwrite);
    }

    /// <summary>8 rows x 2 registers.</summary>
    private static void Run2(int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        nint w = TWidth.Count;
        TVector c00 = TWidth.Zero, c01 = TWidth.Zero, c10 = TWidth.Zero, c11 = TWidth.Zero;
        TVector c20 = TWidth.Zero, c21 = TWidth.Zero, c30 = TWidth.Zero, c31 = TWidth.Zero;
        TVector c40 = TWidth.Zero, c41 = TWidth.Zero, c50 = TWidth.Zero, c51 = TWidth.Zero;
        TVector c60 = TWidth.Zero, c61 = TWidth.Zero, c70 = TWidth.Zero, c71 = TWidth.Zero;
        for (int p = 0; p < kc; p++)
        {
            TVector b0 = TWidth.Load(ref b);
            TVector b1 = TWidth.Load(ref Unsafe.Add(ref b, w));
            TVector ai = TWidth.Broadcast(a);
            c00 = TWidth.MultiplyAdd(ai, b0, c00); c01 = TWidth.MultiplyAdd(ai, b1, c01);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 1));
            c10 = TWidth.MultiplyAdd(ai, b0, c10); c11 = TWidth.MultiplyAdd(ai, b1, c11);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 2));
            c20 = TWidth.MultiplyAdd(ai, b0, c20); c21 = TWidth.MultiplyAdd(ai, b1, c21);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 3));
            c30 = TWidth.MultiplyAdd(ai, b0, c30); c31 = TWidth.MultiplyAdd(ai, b1, c31);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 4));
            c40 = TWidth.MultiplyAdd(ai, b0, c40); c41 = TWidth.MultiplyAdd(ai, b1, c41);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 5));
            c50 = TWidth.MultiplyAdd(ai, b0, c50); c51 = TWidth.MultiplyAdd(ai, b1, c51);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 6));
            c60 = TWidth.MultiplyAdd(ai, b0, c60); c61 = TWidth.MultiplyAdd(ai, b1, c61);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 7));
            c70 = TWidth.MultiplyAdd(ai, b0, c70); c71 = TWidth.MultiplyAdd(ai, b1, c71);
            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, 2 * w);
        }
        StoreTwo(ref c, w, c00, c01, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c10, c11, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c20, c21, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c30, c31, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c40, c41, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c50, c51, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c60, c61, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreTwo(ref c, w, c70, c71, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreOne(ref T c, TVector v, bool overwrite)
    {
        if (!overwrite) v = TWidth.Add(TWidth.Load(ref c), v);
        TWidth.Store(v, ref c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTwo(ref T c, nint w, TVector v0, TVector v1, bool overwrite)
    {
        ref T c1 = ref Unsafe.Add(ref c, w);
        if (!overwrite)
        {
            v0 = TWidth.Add(TWidth.Load(ref c), v0);
            v1 = TWidth.Add(TWidth.Load(ref c1), v1);
        }
        TWidth.Store(v0, ref c);
        TWidth.Store(v1, ref c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        nint w = TWidth.Count;
        TVector c00 = TWidth.Zero, c01 = TWidth.Zero, c02 = TWidth.Zero;
        TVector c10 = TWidth.Zero, c11 = TWidth.Zero, c12 = TWidth.Zero;
        TVector c20 = TWidth.Zero, c21 = TWidth.Zero, c22 = TWidth.Zero;
        TVector c30 = TWidth.Zero, c31 = TWidth.Zero, c32 = TWidth.Zero;
        TVector c40 = TWidth.Zero, c41 = TWidth.Zero, c42 = TWidth.Zero;
        TVector c50 = TWidth.Zero, c51 = TWidth.Zero, c52 = TWidth.Zero;
        TVector c60 = TWidth.Zero, c61 = TWidth.Zero, c62 = TWidth.Zero;
        TVector c70 = TWidth.Zero, c71 = TWidth.Zero, c72 = TWidth.Zero;

        for (int p = 0; p < kc; p++)
        {
            TVector b0 = TWidth.Load(ref b);
            TVector b1 = TWidth.Load(ref Unsafe.Add(ref b, w));
            TVector b2 = TWidth.Load(ref Unsafe.Add(ref b, 2 * w));

            TVector ai = TWidth.Broadcast(a);
            c00 = TWidth.MultiplyAdd(ai, b0, c00); c01 = TWidth.MultiplyAdd(ai, b1, c01); c02 = TWidth.MultiplyAdd(ai, b2, c02);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 1));
            c10 = TWidth.MultiplyAdd(ai, b0, c10); c11 = TWidth.MultiplyAdd(ai, b1, c11); c12 = TWidth.MultiplyAdd(ai, b2, c12);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 2));
            c20 = TWidth.MultiplyAdd(ai, b0, c20); c21 = TWidth.MultiplyAdd(ai, b1, c21); c22 = TWidth.MultiplyAdd(ai, b2, c22);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 3));
            c30 = TWidth.MultiplyAdd(ai, b0, c30); c31 = TWidth.MultiplyAdd(ai, b1, c31); c32 = TWidth.MultiplyAdd(ai, b2, c32);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 4));
            c40 = TWidth.MultiplyAdd(ai, b0, c40); c41 = TWidth.MultiplyAdd(ai, b1, c41); c42 = TWidth.MultiplyAdd(ai, b2, c42);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 5));
            c50 = TWidth.MultiplyAdd(ai, b0, c50); c51 = TWidth.MultiplyAdd(ai, b1, c51); c52 = TWidth.MultiplyAdd(ai, b2, c52);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 6));
            c60 = TWidth.MultiplyAdd(ai, b0, c60); c61 = TWidth.MultiplyAdd(ai, b1, c61); c62 = TWidth.MultiplyAdd(ai, b2, c62);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 7));
            c70 = TWidth.MultiplyAdd(ai, b0, c70); c71 = TWidth.MultiplyAdd(ai, b1, c71); c72 = TWidth.MultiplyAdd(ai, b2, c72);

            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, 3 * w);
        }

        StoreRow(ref c, w, c00, c01, c02, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c10, c11, c12, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c20, c21, c22, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c30, c31, c32, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c40, c41, c42, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c50, c51, c52, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c60, c61, c62, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c70, c71, c72, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunTree(int k, int blockSize, ref T a, ref T b, ref T c, nint ldc, bool overwrite, ref T stack)
    {
        nint w = TWidth.Count, nr = 3 * w, tile = 8 * nr;
        int blocks = (k + blockSize - 1) / blockSize, top = 0;
        TVector c00, c01, c02;
        TVector c10, c11, c12;
        TVector c20, c21, c22;
        TVector c30, c31, c32;
        TVector c40, c41, c42;
        TVector c50, c51, c52;
        TVector c60, c61, c62;
        TVector c70, c71, c72;
        for (int q = 0; ; q++)
        {
            int kc = Math.Min(blockSize, k - q * blockSize);
            c00 = TWidth.Zero; c01 = TWidth.Zero; c02 = TWidth.Zero;
            c10 = TWidth.Zero; c11 = TWidth.Zero; c12 = TWidth.Zero;
            c20 = TWidth.Zero; c21 = TWidth.Zero; c22 = TWidth.Zero;
            c30 = TWidth.Zero; c31 = TWidth.Zero; c32 = TWidth.Zero;
            c40 = TWidth.Zero; c41 = TWidth.Zero; c42 = TWidth.Zero;
            c50 = TWidth.Zero; c51 = TWidth.Zero; c52 = TWidth.Zero;
            c60 = TWidth.Zero; c61 = TWidth.Zero; c62 = TWidth.Zero;
            c70 = TWidth.Zero; c71 = TWidth.Zero; c72 = TWidth.Zero;
            for (int p = 0; p < kc; p++)
            {
                TVector b0 = TWidth.Load(ref b);
                TVector b1 = TWidth.Load(ref Unsafe.Add(ref b, w));
                TVector b2 = TWidth.Load(ref Unsafe.Add(ref b, 2 * w));
                TVector ai = TWidth.Broadcast(a);
                c00 = TWidth.MultiplyAdd(ai, b0, c00); c01 = TWidth.MultiplyAdd(ai, b1, c01); c02 = TWidth.MultiplyAdd(ai, b2, c02);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 1));
                c10 = TWidth.MultiplyAdd(ai, b0, c10); c11 = TWidth.MultiplyAdd(ai, b1, c11); c12 = TWidth.MultiplyAdd(ai, b2, c12);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 2));
                c20 = TWidth.MultiplyAdd(ai, b0, c20); c21 = TWidth.MultiplyAdd(ai, b1, c21); c22 = TWidth.MultiplyAdd(ai, b2, c22);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 3));
                c30 = TWidth.MultiplyAdd(ai, b0, c30); c31 = TWidth.MultiplyAdd(ai, b1, c31); c32 = TWidth.MultiplyAdd(ai, b2, c32);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 4));
                c40 = TWidth.MultiplyAdd(ai, b0, c40); c41 = TWidth.MultiplyAdd(ai, b1, c41); c42 = TWidth.MultiplyAdd(ai, b2, c42);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 5));
                c50 = TWidth.MultiplyAdd(ai, b0, c50); c51 = TWidth.MultiplyAdd(ai, b1, c51); c52 = TWidth.MultiplyAdd(ai, b2, c52);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 6));
                c60 = TWidth.MultiplyAdd(ai, b0, c60); c61 = TWidth.MultiplyAdd(ai, b1, c61); c62 = TWidth.MultiplyAdd(ai, b2, c62);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 7));
                c70 = TWidth.MultiplyAdd(ai, b0, c70); c71 = TWidth.MultiplyAdd(ai, b1, c71); c72 = TWidth.MultiplyAdd(ai, b2, c72);
                a = ref Unsafe.Add(ref a, 8);
                b = ref Unsafe.Add(ref b, 3 * w);
            }
            // The binary counter: block q completes the subtrees of the trailing zero bits of q + 1, each added as
            // (the stack's tile) + (the registers); the last block folds what is left, top first.
            bool last = q == blocks - 1;
            for (int merges = last ? top : BitOperations.TrailingZeroCount(q + 1); merges > 0; merges--)
            {
                top--;
                ref T s = ref Unsafe.Add(ref stack, top * tile);
                c00 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 0 * nr)), c00); c01 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 0 * nr + 1 * w)), c01); c02 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 0 * nr + 2 * w)), c02);
                c10 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 1 * nr)), c10); c11 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 1 * nr + 1 * w)), c11); c12 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 1 * nr + 2 * w)), c12);
                c20 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 2 * nr)), c20); c21 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 2 * nr + 1 * w)), c21); c22 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 2 * nr + 2 * w)), c22);
                c30 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 3 * nr)), c30); c31 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 3 * nr + 1 * w)), c31); c32 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 3 * nr + 2 * w)), c32);
                c40 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 4 * nr)), c40); c41 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 4 * nr + 1 * w)), c41); c42 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 4 * nr + 2 * w)), c42);
                c50 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 5 * nr)), c50); c51 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 5 * nr + 1 * w)), c51); c52 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 5 * nr + 2 * w)), c52);
                c60 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 6 * nr)), c60); c61 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 6 * nr + 1 * w)), c61); c62 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 6 * nr + 2 * w)), c62);
                c70 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 7 * nr)), c70); c71 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 7 * nr + 1 * w)), c71); c72 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 7 * nr + 2 * w)), c72);
            }
            if (last) break;
            {
                ref T s = ref Unsafe.Add(ref stack, top * tile);
                StoreRow(ref Unsafe.Add(ref s, 0 * nr), w, c00, c01, c02, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 1 * nr), w, c10, c11, c12, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 2 * nr), w, c20, c21, c22, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 3 * nr), w, c30, c31, c32, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 4 * nr), w, c40, c41, c42, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 5 * nr), w, c50, c51, c52, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 6 * nr), w, c60, c61, c62, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 7 * nr), w, c70, c71, c72, overwrite: true);
                top++;
            }
        }
        StoreRow(ref c, w, c00, c01, c02, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c10, c11, c12, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c20, c21, c22, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c30, c31, c32, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c40, c41, c42, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c50, c51, c52, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c60, c61, c62, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c70, c71, c72, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, nint w, TVector v0, TVector v1, TVector v2, bool overwrite)
    {
        ref T c1 = ref Unsafe.Add(ref c, w);
        ref T c2 = ref Unsafe.Add(ref c, 2 * w);
        if (!overwrite)
        {
            v0 = TWidth.Add(TWidth.Load(ref c), v0);
            v1 = TWidth.Add(TWidth.Load(ref c1), v1);
            v2 = TWidth.Add(TWidth.Load(ref c2), v2);
        }
        TWidth.Store(v0, ref c);
        TWidth.Store(v1, ref c1);
        TWidth.Store(v2, ref c2);
    }
}

/// <summary>6 rows x 2 registers: the tile for 16-register machines (AVX2, SSE) and the scalar fallback.</summary>
internal readonly struct MicroKernel6x2<T, TVector, TWidth> : IGemmMicroKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TVector : struct
    where TWidth : struct, IVectorWidth<TVector, T>
{
    public static int Rows => 6;

    public static int Columns => 2 * TWidth.Count;

    public static int Lanes => TWidth.Count;

    /// <summary>6 rows x 1 register (the only narrower panel of a 2-register tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunNarrow(int vectors, int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        nint w = TWidth.Count;
        TVector c0 = TWidth.Zero, c1 = TWidth.Zero, c2 = TWidth.Zero, c3 = TWidth.Zero, c4 = TWidth.Zero, c5 = TWidth.Zero;
        for (int p = 0; p < kc; p++)
        {
            TVector b0 = TWidth.Load(ref b);
            c0 = TWidth.MultiplyAdd(TWidth.Broadcast(a), b0, c0);
            c1 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 1)), b0, c1);
            c2 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 2)), b0, c2);
            c3 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 3)), b0, c3);
            c4 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 4)), b0, c4);
            c5 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref a, 5)), b0, c5);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, w);
        }
        StoreOne(ref c, c0, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c1, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c2, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c3, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c4, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreOne(ref c, c5, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreOne(ref T c, TVector v, bool overwrite)
    {
        if (!overwrite) v = TWidth.Add(TWidth.Load(ref c), v);
        TWidth.Store(v, ref c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, ref T a, ref T b, ref T c, nint ldc, bool overwrite)
    {
        nint w = TWidth.Count;
        TVector c00 = TWidth.Zero, c01 = TWidth.Zero;
        TVector c10 = TWidth.Zero, c11 = TWidth.Zero;
        TVector c20 = TWidth.Zero, c21 = TWidth.Zero;
        TVector c30 = TWidth.Zero, c31 = TWidth.Zero;
        TVector c40 = TWidth.Zero, c41 = TWidth.Zero;
        TVector c50 = TWidth.Zero, c51 = TWidth.Zero;

        for (int p = 0; p < kc; p++)
        {
            TVector b0 = TWidth.Load(ref b);
            TVector b1 = TWidth.Load(ref Unsafe.Add(ref b, w));

            TVector ai = TWidth.Broadcast(a);
            c00 = TWidth.MultiplyAdd(ai, b0, c00); c01 = TWidth.MultiplyAdd(ai, b1, c01);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 1));
            c10 = TWidth.MultiplyAdd(ai, b0, c10); c11 = TWidth.MultiplyAdd(ai, b1, c11);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 2));
            c20 = TWidth.MultiplyAdd(ai, b0, c20); c21 = TWidth.MultiplyAdd(ai, b1, c21);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 3));
            c30 = TWidth.MultiplyAdd(ai, b0, c30); c31 = TWidth.MultiplyAdd(ai, b1, c31);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 4));
            c40 = TWidth.MultiplyAdd(ai, b0, c40); c41 = TWidth.MultiplyAdd(ai, b1, c41);
            ai = TWidth.Broadcast(Unsafe.Add(ref a, 5));
            c50 = TWidth.MultiplyAdd(ai, b0, c50); c51 = TWidth.MultiplyAdd(ai, b1, c51);

            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, 2 * w);
        }

        StoreRow(ref c, w, c00, c01, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c10, c11, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c20, c21, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c30, c31, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c40, c41, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c50, c51, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunTree(int k, int blockSize, ref T a, ref T b, ref T c, nint ldc, bool overwrite, ref T stack)
    {
        nint w = TWidth.Count, nr = 2 * w, tile = 6 * nr;
        int blocks = (k + blockSize - 1) / blockSize, top = 0;
        TVector c00, c01;
        TVector c10, c11;
        TVector c20, c21;
        TVector c30, c31;
        TVector c40, c41;
        TVector c50, c51;
        for (int q = 0; ; q++)
        {
            int kc = Math.Min(blockSize, k - q * blockSize);
            c00 = TWidth.Zero; c01 = TWidth.Zero;
            c10 = TWidth.Zero; c11 = TWidth.Zero;
            c20 = TWidth.Zero; c21 = TWidth.Zero;
            c30 = TWidth.Zero; c31 = TWidth.Zero;
            c40 = TWidth.Zero; c41 = TWidth.Zero;
            c50 = TWidth.Zero; c51 = TWidth.Zero;
            for (int p = 0; p < kc; p++)
            {
                TVector b0 = TWidth.Load(ref b);
                TVector b1 = TWidth.Load(ref Unsafe.Add(ref b, w));
                TVector ai = TWidth.Broadcast(a);
                c00 = TWidth.MultiplyAdd(ai, b0, c00); c01 = TWidth.MultiplyAdd(ai, b1, c01);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 1));
                c10 = TWidth.MultiplyAdd(ai, b0, c10); c11 = TWidth.MultiplyAdd(ai, b1, c11);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 2));
                c20 = TWidth.MultiplyAdd(ai, b0, c20); c21 = TWidth.MultiplyAdd(ai, b1, c21);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 3));
                c30 = TWidth.MultiplyAdd(ai, b0, c30); c31 = TWidth.MultiplyAdd(ai, b1, c31);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 4));
                c40 = TWidth.MultiplyAdd(ai, b0, c40); c41 = TWidth.MultiplyAdd(ai, b1, c41);
                ai = TWidth.Broadcast(Unsafe.Add(ref a, 5));
                c50 = TWidth.MultiplyAdd(ai, b0, c50); c51 = TWidth.MultiplyAdd(ai, b1, c51);
                a = ref Unsafe.Add(ref a, 6);
                b = ref Unsafe.Add(ref b, 2 * w);
            }
            // The binary counter: block q completes the subtrees of the trailing zero bits of q + 1, each added as
            // (the stack's tile) + (the registers); the last block folds what is left, top first.
            bool last = q == blocks - 1;
            for (int merges = last ? top : BitOperations.TrailingZeroCount(q + 1); merges > 0; merges--)
            {
                top--;
                ref T s = ref Unsafe.Add(ref stack, top * tile);
                c00 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 0 * nr)), c00); c01 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 0 * nr + 1 * w)), c01);
                c10 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 1 * nr)), c10); c11 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 1 * nr + 1 * w)), c11);
                c20 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 2 * nr)), c20); c21 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 2 * nr + 1 * w)), c21);
                c30 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 3 * nr)), c30); c31 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 3 * nr + 1 * w)), c31);
                c40 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 4 * nr)), c40); c41 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 4 * nr + 1 * w)), c41);
                c50 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 5 * nr)), c50); c51 = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref s, 5 * nr + 1 * w)), c51);
            }
            if (last) break;
            {
                ref T s = ref Unsafe.Add(ref stack, top * tile);
                StoreRow(ref Unsafe.Add(ref s, 0 * nr), w, c00, c01, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 1 * nr), w, c10, c11, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 2 * nr), w, c20, c21, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 3 * nr), w, c30, c31, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 4 * nr), w, c40, c41, overwrite: true);
                StoreRow(ref Unsafe.Add(ref s, 5 * nr), w, c50, c51, overwrite: true);
                top++;
            }
        }
        StoreRow(ref c, w, c00, c01, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c10, c11, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c20, c21, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c30, c31, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c40, c41, overwrite); c = ref Unsafe.Add(ref c, ldc);
        StoreRow(ref c, w, c50, c51, overwrite);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref T c, nint w, TVector v0, TVector v1, bool overwrite)
    {
        ref T c1 = ref Unsafe.Add(ref c, w);
        if (!overwrite)
        {
            v0 = TWidth.Add(TWidth.Load(ref c), v0);
            v1 = TWidth.Add(TWidth.Load(ref c1), v1);
        }
        TWidth.Store(v0, ref c);
        TWidth.Store(v1, ref c1);
    }
}
