namespace SharpCnn.Losses;

/// <summary>
/// Numerically stable softmax of one vector:
///   softmax(x)_j = exp(x_j - max x) / Σ_i exp(x_i - max x)
/// (subtracting the max changes nothing mathematically and keeps exp() finite).
/// </summary>
public static class Softmax
{
    /// <summary>Writes softmax(<paramref name="x"/>) into <paramref name="p"/>; returns log Σ exp(x) (the log-sum-exp).</summary>
    public static T Compute<T>(ReadOnlySpan<T> x, Span<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = x[0];
        for (int i = 1; i < x.Length; i++) if (x[i] > max || T.IsNaN(x[i])) max = x[i];
        T sum = T.Zero;
        for (int i = 0; i < x.Length; i++)
        {
            T e = T.Exp(x[i] - max);
            p[i] = e;
            sum += e;
        }
        T inv = T.One / sum;
        for (int i = 0; i < x.Length; i++) p[i] *= inv;
        return max + T.Log(sum);
    }
}
