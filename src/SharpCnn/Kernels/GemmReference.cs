// Naive reference matrix multiply, the yardstick the fast Gemm kernel is tested against.
//
//   C[m x n] = op(A)[m x k] * op(B)[k x n]        (accumulate: C += op(A) * op(B))
//
// Row-major storage with leading dimensions (distance between consecutive rows):
//   op(A)[i, p] = transA ? a[p * lda + i] : a[i * lda + p]
//   op(B)[p, j] = transB ? b[j * ldb + p] : b[p * ldb + j]
//   C[i, j]     = c[i * ldc + j]
// Plain triple loop, summing over p in increasing order; no validation beyond span indexing.
using System.Numerics;

namespace SharpCnn.Kernels;

/// <summary>
/// The readable triple-loop matrix multiply that the fast <c>Gemm.Multiply</c> is held to in tests.
/// Same contract and argument meaning; deliberately slow and simple.
/// </summary>
internal static class GemmReference
{
    /// <summary>C = op(A) * op(B), or C += op(A) * op(B) when <paramref name="accumulate"/> is true.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T aip = transA ? a[p * lda + i] : a[i * lda + p];
                    T bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += aip * bpj;
                }
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
            }
        }
    }
}
