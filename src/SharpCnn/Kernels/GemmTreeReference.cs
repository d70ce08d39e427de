// The definition GemmTree is held to, as a plain loop (arguments and storage as GemmReference):
//   C[i, j] = root(i, j), or C[i, j] + root(i, j) when accumulating, root = tree(0, blocks) over the depth k cut into
//   blocks of BatchTree.BlockSize (the last may be shorter); a block's value is its sum from zero with one fused
//   multiply-add per p in increasing p; tree(lo, hi) = block(lo) when hi - lo = 1, else
//   tree(lo, lo + p) + tree(lo + p, hi), p = BatchTree.SplitOf(hi - lo). No validation beyond span indexing.
using System.Numerics;

namespace SharpCnn.Kernels;

/// <summary>The readable recursive definition that the fast <see cref="GemmTree"/> is held to in tests.</summary>
internal static class GemmTreeReference
{
    /// <summary>C = root, or C += root when <paramref name="accumulate"/> (see the top of this file).</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (k == 0)
                {
                    if (!accumulate) c[i * ldc + j] = T.Zero;
                    continue;
                }
                T root = Tree(transA, transB, i, j, k, a, lda, b, ldb, 0, BatchTree.Blocks(k));
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + root : root;
            }
        }
    }

    private static T Tree<T>(bool transA, bool transB, int i, int j, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, int lo, int hi)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (hi - lo == 1)
        {
            T sum = T.Zero;
            for (int p = lo * BatchTree.BlockSize; p < Math.Min(k, hi * BatchTree.BlockSize); p++)
            {
                T aip = transA ? a[p * lda + i] : a[i * lda + p];
                T bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                sum = T.FusedMultiplyAdd(aip, bpj, sum);
            }
            return sum;
        }
        int split = BatchTree.SplitOf(hi - lo);
        return Tree(transA, transB, i, j, k, a, lda, b, ldb, lo, lo + split) + Tree(transA, transB, i, j, k, a, lda, b, ldb, lo + split, hi);
    }
}
