// Naive reference matrix multiply, the yardstick the fast Gemm kernel is tested against.
//
//   C[m x n] = op(A)[m x k] * op(B)[k x n]        (accumulate: C += op(A) * op(B))
//
// Row-major storage with leading dimensions (distance between consecutive rows):
//   op(A)[i, p] = transA ? a[p * lda + i] : a[i * lda + p]
//   op(B)[p, j] = transB ? b[j * ldb + p] : b[p * ldb + j]
//   C[i, j]     = c[i * ldc + j]
// Plain triple loop in the canonical order every width of Gemm.Multiply follows (docs/DETERMINISM.md):
// the depth k is cut into slices of kc = Gemm.DepthSlice(k) (at most 256, equal sizes, the same on
// every width); each slice's sum starts at zero and takes one fused multiply-add per p in increasing
// p; the first slice's sum is C (or C + sum when accumulating), each later slice's is added to C.
// No validation beyond span indexing.
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
        int kc = k == 0 ? 1 : Gemm.DepthSlice(k);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (k == 0)
                {
                    if (!accumulate) c[i * ldc + j] = T.Zero;
                    continue;
                }
                for (int pc = 0; pc < k; pc += kc)
                {
                    T sum = T.Zero;
                    for (int p = pc; p < Math.Min(k, pc + kc); p++)
                    {
                        T aip = transA ? a[p * lda + i] : a[i * lda + p];
                        T bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                        sum = T.FusedMultiplyAdd(aip, bpj, sum);
                    }
                    c[i * ldc + j] = accumulate || pc > 0 ? c[i * ldc + j] + sum : sum;
                }
            }
        }
    }
}
