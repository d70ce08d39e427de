// Gemm on several threads: C's columns are split into ranges (whole 48-column tiles where
// possible) and each range is computed by Gemm.MultiplyColumns, which gives bit-identical
// results for any range. So the split may follow the thread count freely: the product is the
// same bits with 1 thread or N.
namespace SharpCnn.Kernels;

/// <summary>Gemm with C's columns split over <see cref="Parallelism.ThreadCount"/> threads (bit-identical to one thread).</summary>
internal static class ParallelGemm
{
    /// <summary>Products smaller than this many flops run on the calling thread alone.</summary>
    private const long MinParallelFlops = 400_000;

    /// <summary>Columns per range are a multiple of this (the AVX-512 tile width) so ranges add no partial tiles.</summary>
    internal const int ColumnMultiple = 48;

    /// <summary>As <see cref="Gemm.Multiply{T}"/>, computed on up to <see cref="Parallelism.ThreadCount"/> threads.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int parts = Partitions(m, n, k);
        if (parts <= 1)
        {
            Gemm.Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            return;
        }
        var body = new Columns<T>
        {
            TransA = transA, TransB = transB, M = m, N = n, K = k, A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc,
            Accumulate = accumulate, Parts = parts,
        };
        Parallelism.For(parts, ref body);
    }

    /// <summary>How many column ranges to split an m x n x k product into on the current thread count.</summary>
    public static int Partitions(int m, int n, int k)
    {
        int threads = Parallelism.ThreadCount;
        if (threads == 1 || 2L * m * n * k < MinParallelFlops) return 1;
        int tiles = (n + ColumnMultiple - 1) / ColumnMultiple;
        return Math.Max(1, Math.Min(tiles, 2 * threads));
    }

    private ref struct Columns<T> : IPartitionedWork
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public bool TransA, TransB, Accumulate;
        public int M, N, K, Lda, Ldb, Ldc, Parts;
        public ReadOnlySpan<T> A, B;
        public Span<T> C;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.AlignedRange(N, Parts, partition, ColumnMultiple);
            if (count > 0)
                Gemm.MultiplyColumns(TransA, TransB, M, N, K, A, Lda, B, Ldb, C, Ldc, Accumulate, start, count);
        }
    }
}
