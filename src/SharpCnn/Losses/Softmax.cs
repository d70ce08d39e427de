using SharpCnn.Kernels;

namespace SharpCnn.Losses;

/// <summary>
/// Numerically stable softmax of one vector:
///   softmax(x)_j = exp(x_j - max x) / Σ_i exp(x_i - max x)
/// (subtracting the max changes nothing mathematically and keeps exp() finite).
/// The canonical order (docs/DETERMINISM.md), the same bits on every SIMD width and machine: the
/// differences x_j - max, exp by <c>MathKernels.Exp</c>, their sum in the 16-lane order of
/// <c>Reductions.Sum</c>, p_j = e_j · (1 / sum), and log-sum-exp = max + <c>MathKernels.Log</c>(sum).
/// </summary>
public static class Softmax
{
    /// <summary>Writes softmax(<paramref name="x"/>) into <paramref name="p"/>; returns log Σ exp(x) (the log-sum-exp).</summary>
    public static T Compute<T>(ReadOnlySpan<T> x, Span<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = x[0];
        for (int i = 1; i < x.Length; i++) if (x[i] > max || T.IsNaN(x[i])) max = x[i];
        for (int i = 0; i < x.Length; i++) p[i] = x[i] - max;
        p = p[..x.Length];
        MathKernels.Exp<T>(p, p);
        T sum = Reductions.Sum<T>(p);
        T inv = T.One / sum;
        for (int i = 0; i < p.Length; i++) p[i] *= inv;
        return max + MathKernels.Log(sum);
    }
}
