// GemmTree: a matrix product whose depth is a batch, summed by BatchTree's fixed tree over blocks of samples,
// with the tree run inside the micro-kernel.
//
//   C[m x n] = root  (accumulate: C = C + root),   root = tree(0, blocks) over blocks of BlockSize (16) along k:
//   block(q)     = op(A)[:, 16q .. 16q+16) * op(B)[16q .. 16q+16), :]     (the last block may be shorter)
//                  summed from zero with one fused multiply-add per p in increasing p (a block is one depth slice,
//                  exactly Gemm's product of depth <= 16)
//   tree(lo, hi) = block(lo) when hi - lo = 1, else tree(lo, lo + p) + tree(lo + p, hi), p the largest power of
//                  two below hi - lo (BatchTree.cs; the same for every width, tiling and thread count)
//
// This is a dense layer's weight gradient: ∂W += Σ over the batch of δ_sᵀ x_s in BatchTree's order. Computing it
// as one Gemm of depth 16 per block and adding the blocks' products tile by tile streams ∂W (or its tiles) once per
// block; here every MR x NR register tile of C runs all the blocks itself: each block's sum in registers from zero,
// completed subtrees combined by a binary counter (block q completes the subtrees of the trailing zero bits of
// q + 1; a completed subtree is added as left + right, the left one from a small stack of MR x NR scratch tiles in
// L1, the right one in registers), the last block folding the stack from the right, and only the root written to
// (or added to) C: one pass over C, like a single product of depth k. Folding the binary counter's stack from the
// right is the tree's definition: the counter's stack holds tree(lo, lo + 2^j) for the set bits of the blocks seen
// so far, largest first, and tree(lo, hi) = tree(lo, lo + p) + tree(lo + p, hi) with 2^j = p for the largest.
//
// The loops around the micro-kernel are Gemm's (Gemm.cs) with one depth slice of the whole k: op(B) is packed
// kc = k deep in column blocks of about 512 KB, op(A) once per call when small (a dense layer's δ is m x batch),
// and the A and B micro-panels hold the blocks one after another. Full tiles run IGemmMicroKernel.RunTree; partial
// tiles run it into a scratch tile whose rows are then written or added; the narrow last column panel runs Gemm's
// narrow micro-kernel per block into the scratch stack and the counter's additions element by element (the same
// additions, so the same bits). GemmTreeReference is the definition as a plain loop; the tests compare bits.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>C = (or +=) BatchTree's tree over the depth's blocks of op(A) * op(B), the tree run in the micro-kernel (see the top of this file).</summary>
internal static class GemmTree
{
    /// <summary>
    /// Columns <paramref name="columnStart"/> .. + <paramref name="columnCount"/> of C[m x n] = root, or C += root when
    /// <paramref name="accumulate"/>, root the tree over op(A) * op(B)'s depth blocks of <see cref="BatchTree.BlockSize"/>
    /// (arguments as <see cref="Gemm.Multiply{T}"/>). Bit-identical for any column range, width and machine.
    /// </summary>
    public static void MultiplyColumns<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate, int columnStart, int columnCount)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Gemm.Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (columnStart < 0 || columnCount < 0 || columnStart > n - columnCount)
            throw new ArgumentOutOfRangeException(nameof(columnCount), $"Column range {columnStart} + {columnCount} is outside the {n} columns of C.");
        int columnEnd = columnStart + columnCount;
        if (m == 0 || columnCount == 0) return;

        ref T cRef = ref MemoryMarshal.GetReference(c);
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++)
                    MemoryMarshal.CreateSpan(ref Unsafe.Add(ref cRef, (nint)i * ldc + columnStart), columnCount).Clear();
            return;
        }
        ref T aRef = ref MemoryMarshal.GetReference(a);
        ref T bRef = ref MemoryMarshal.GetReference(b);
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel8x3<T, Vector512<T>, Width512<T>>>(transA, transB, m, k, ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector256<T>, Width256<T>>>(transA, transB, m, k, ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                MultiplyBlocked<T, MicroKernel6x2<T, Vector128<T>, Width128<T>>>(transA, transB, m, k, ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
                return;
            }
        }
        MultiplyBlocked<T, MicroKernel6x2<T, T, WidthScalar<T>>>(transA, transB, m, k, ref aRef, lda, ref bRef, ldb, ref cRef, ldc, accumulate, columnStart, columnEnd);
    }

    /// <summary>Gemm's blocking loops with one depth slice of all k (k ≥ 1) and the tree micro-kernel.</summary>
    private static void MultiplyBlocked<T, TKernel>(bool transA, bool transB, int m, int k,
        ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.Rows, nr = TKernel.Columns, size = Unsafe.SizeOf<T>();
        int columns = columnEnd - columnStart, blockSize = BatchTree.BlockSize;
        int nc = Gemm.EqualBlock(columns, Math.Max(nr, Gemm.PackedBBytes / (k * size) / nr * nr), nr);
        int mc = Gemm.EqualBlock(m, Math.Max(mr, Gemm.PackedABytes / (k * size) / mr * mr), mr);
        int paddedRows = (m + mr - 1) / mr * mr;
        bool packAOnce = (long)paddedRows * k * size <= Gemm.WholeABytes;

        ref T packedA = ref GemmPackingBuffers<T>.ForA(checked(packAOnce ? paddedRows * k : mc * k));
        ref T packedB = ref GemmPackingBuffers<T>.ForB(checked(nc * k));
        // The counter's stack never holds more tiles than the block count has bits; one more for the narrow path's product.
        int tile = mr * nr, levels = 32 - BitOperations.LeadingZeroCount((uint)BatchTree.Blocks(k));
        ref T stack = ref GemmPackingBuffers<T>.ForTreeTiles((levels + 1) * tile);
        Span<T> scratchTile = stackalloc T[tile];
        ref T scratch = ref MemoryMarshal.GetReference(scratchTile);

        for (int jc = columnStart; jc < columnEnd; jc += nc)
        {
            int ncBlock = Math.Min(nc, columnEnd - jc);
            GemmPacking.PackB<T, TKernel>(transB, ref b, ldb, 0, k, jc, ncBlock, ref packedB);
            for (int ic = 0; ic < m; ic += mc)
            {
                int mcBlock = Math.Min(mc, m - ic);
                ref T aBlock = ref packAOnce ? ref Unsafe.Add(ref packedA, (nint)ic * k) : ref packedA;
                if (!packAOnce || jc == columnStart)
                    GemmPacking.PackA<T, TKernel>(transA, ref a, lda, ic, mcBlock, 0, k, ref aBlock);
                for (int ir = 0; ir < mcBlock; ir += mr)
                {
                    int rows = Math.Min(mr, mcBlock - ir);
                    ref T aPanel = ref Unsafe.Add(ref aBlock, (nint)ir * k);
                    ref T cRow = ref Unsafe.Add(ref c, (nint)(ic + ir) * ldc + jc);
                    for (int jr = 0; jr < ncBlock; jr += nr)
                    {
                        int cols = Math.Min(nr, ncBlock - jr);
                        ref T bPanel = ref Unsafe.Add(ref packedB, (nint)jr * k);
                        ref T cTile = ref Unsafe.Add(ref cRow, jr);
                        int width = GemmPacking.PanelWidth<T, TKernel>(cols);
                        if (width < nr)
                        {
                            NarrowTree<T, TKernel>(width / TKernel.Lanes, k, blockSize, ref aPanel, ref bPanel, ref stack);
                            Gemm.CopyTile(ref stack, width, ref cTile, ldc, rows, cols, overwrite: !accumulate);
                        }
                        else if (rows == mr && cols == nr)
                        {
                            TKernel.RunTree(k, blockSize, ref aPanel, ref bPanel, ref cTile, ldc, overwrite: !accumulate, ref stack);
                        }
                        else
                        {
                            TKernel.RunTree(k, blockSize, ref aPanel, ref bPanel, ref scratch, nr, overwrite: true, ref stack);
                            Gemm.CopyTile(ref scratch, nr, ref cTile, ldc, rows, cols, overwrite: !accumulate);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// The tree for a narrow last panel (<paramref name="vectors"/> registers wide): each block's product by Gemm's
    /// narrow micro-kernel into the slot above the stack, then the counter's additions (left + right) element by
    /// element; the root ends in slot 0 (row stride vectors x Lanes).
    /// </summary>
    private static void NarrowTree<T, TKernel>(int vectors, int k, int blockSize, ref T a, ref T b, ref T stack)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.Rows, width = vectors * TKernel.Lanes, tile = mr * width;
        int blocks = (k + blockSize - 1) / blockSize, top = 0;
        for (int q = 0; q < blocks; q++)
        {
            int kc = Math.Min(blockSize, k - q * blockSize);
            TKernel.RunNarrow(vectors, kc, ref Unsafe.Add(ref a, (nint)q * blockSize * mr), ref Unsafe.Add(ref b, (nint)q * blockSize * width),
                ref Unsafe.Add(ref stack, (nint)top * tile), width, overwrite: true);
            bool last = q == blocks - 1;
            for (int merges = last ? top : BitOperations.TrailingZeroCount(q + 1); merges > 0; merges--)
            {
                top--;
                Span<T> left = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref stack, (nint)top * tile), tile);
                ReadOnlySpan<T> right = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref stack, (nint)(top + 1) * tile), tile);
                for (int i = 0; i < tile; i++) left[i] = left[i] + right[i];
            }
            top++;
        }
    }
}
