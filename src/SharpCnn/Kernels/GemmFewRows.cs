// Gemm for products with very few rows (m <= 4): a dense layer at batch sizes 1 to 4, where the
// packed path would spend its time packing B (the whole weight matrix) for a handful of flops per
// value and run 8-row tiles that are mostly padding. Here B is streamed once, straight from memory:
//
//   op(B) = B^T (B stored n x k, as a dense layer's weight in its forward pass):
//       C[i, j] (+)= dot(op(A) row i, B row j)        vector partial sums over p, then lane sum, then the tail
//   op(B) = B   (B stored k x n, as the input gradient W^T δ):
//       C[i, j0 .. j0+L] (+)= Σ_p op(A)[i, p] · B[p, j0 .. j0+L]    for column runs of L = 4 vectors kept in registers
//
// Every C element is computed by the same sequence of operations whichever column range it is in and
// whether its column falls in a vector lane or in the scalar tail (multiply and add, never fused, in
// increasing p), so MultiplyColumns stays bit-identical for any split.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpCnn.Kernels;

/// <summary>The few-row path of <see cref="Gemm"/> (m &lt;= <see cref="MaxRows"/>).</summary>
internal static class GemmFewRows
{
    /// <summary>Largest m this path takes.</summary>
    public const int MaxRows = 4;

    /// <summary>C[0..m, columnStart..columnEnd] (+)= op(A) op(B); op(A) is first copied to m contiguous rows.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int k, ref T a, nint lda, ref T b, nint ldb,
        ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // op(A) as m rows of k contiguous values (it is small: at most 4 x k).
        ref T rows = ref GemmPackingBuffers<T>.ForA(m * k);
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
                Unsafe.Add(ref rows, (nint)i * k + p) = transA ? Unsafe.Add(ref a, p * lda + i) : Unsafe.Add(ref a, i * lda + p);

        if (transB) Dots(m, k, ref rows, ref b, ldb, ref c, ldc, accumulate, columnStart, columnEnd);
        else Rows(m, k, ref rows, ref b, ldb, ref c, ldc, accumulate, columnStart, columnEnd);
    }

    /// <summary>C[i, j] (+)= Σ_p A[i, p] · B[j, p] with B stored n x k.</summary>
    private static void Dots<T>(int m, int k, ref T a, ref T b, nint ldb, ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool vector = Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));
        int w = vector ? Vector<T>.Count : 1;
        int vectorEnd = vector ? k - k % (4 * w) : 0;
        for (int j = columnStart; j < columnEnd; j++)
        {
            ref T bRow = ref Unsafe.Add(ref b, j * ldb);
            for (int i = 0; i < m; i++)
            {
                ref T aRow = ref Unsafe.Add(ref a, (nint)i * k);
                T sum = T.Zero;
                if (vectorEnd > 0)
                {
                    Vector<T> s0 = Vector<T>.Zero, s1 = s0, s2 = s0, s3 = s0;
                    for (nint p = 0; p < vectorEnd; p += 4 * w)
                    {
                        s0 += Vector.LoadUnsafe(ref aRow, (nuint)p) * Vector.LoadUnsafe(ref bRow, (nuint)p);
                        s1 += Vector.LoadUnsafe(ref aRow, (nuint)(p + w)) * Vector.LoadUnsafe(ref bRow, (nuint)(p + w));
                        s2 += Vector.LoadUnsafe(ref aRow, (nuint)(p + 2 * w)) * Vector.LoadUnsafe(ref bRow, (nuint)(p + 2 * w));
                        s3 += Vector.LoadUnsafe(ref aRow, (nuint)(p + 3 * w)) * Vector.LoadUnsafe(ref bRow, (nuint)(p + 3 * w));
                    }
                    sum = Vector.Sum((s0 + s1) + (s2 + s3));
                }
                for (int p = vectorEnd; p < k; p++) sum += Unsafe.Add(ref aRow, p) * Unsafe.Add(ref bRow, p);
                ref T target = ref Unsafe.Add(ref c, i * ldc + j);
                target = accumulate ? target + sum : sum;
            }
        }
    }

    /// <summary>C[i, :] (+)= Σ_p A[i, p] · B[p, :] with B stored k x n, in runs of 4 vectors of columns.</summary>
    private static void Rows<T>(int m, int k, ref T a, ref T b, nint ldb, ref T c, nint ldc, bool accumulate, int columnStart, int columnEnd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool vector = Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));
        int w = vector ? Vector<T>.Count : 1, run = 4 * w;
        for (int i = 0; i < m; i++)
        {
            ref T aRow = ref Unsafe.Add(ref a, (nint)i * k);
            ref T cRow = ref Unsafe.Add(ref c, i * ldc);
            int j = columnStart;
            if (vector)
            {
                for (; j + run <= columnEnd; j += run)
                {
                    Vector<T> s0, s1, s2, s3;
                    if (accumulate)
                    {
                        s0 = Vector.LoadUnsafe(ref cRow, (nuint)j);
                        s1 = Vector.LoadUnsafe(ref cRow, (nuint)(j + w));
                        s2 = Vector.LoadUnsafe(ref cRow, (nuint)(j + 2 * w));
                        s3 = Vector.LoadUnsafe(ref cRow, (nuint)(j + 3 * w));
                    }
                    else
                    {
                        s0 = s1 = s2 = s3 = Vector<T>.Zero;
                    }
                    ref T bColumn = ref Unsafe.Add(ref b, j);
                    for (int p = 0; p < k; p++)
                    {
                        Vector<T> ap = new(Unsafe.Add(ref aRow, p));
                        ref T bp = ref Unsafe.Add(ref bColumn, p * ldb);
                        s0 += ap * Vector.LoadUnsafe(ref bp);
                        s1 += ap * Vector.LoadUnsafe(ref bp, (nuint)w);
                        s2 += ap * Vector.LoadUnsafe(ref bp, (nuint)(2 * w));
                        s3 += ap * Vector.LoadUnsafe(ref bp, (nuint)(3 * w));
                    }
                    s0.StoreUnsafe(ref cRow, (nuint)j);
                    s1.StoreUnsafe(ref cRow, (nuint)(j + w));
                    s2.StoreUnsafe(ref cRow, (nuint)(j + 2 * w));
                    s3.StoreUnsafe(ref cRow, (nuint)(j + 3 * w));
                }
            }
            for (; j < columnEnd; j++)
            {
                T sum = accumulate ? Unsafe.Add(ref cRow, j) : T.Zero;
                for (int p = 0; p < k; p++) sum += Unsafe.Add(ref aRow, p) * Unsafe.Add(ref b, p * ldb + j);
                Unsafe.Add(ref cRow, j) = sum;
            }
        }
    }
}
