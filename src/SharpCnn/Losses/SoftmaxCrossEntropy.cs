namespace SharpCnn.Losses;

/// <summary>
/// Softmax followed by cross-entropy, fused: the usual classification loss.
///
/// Shapes: scores x [N, D], labels t [N].
///
/// Forward:  L = 1/N Σ_n ( logΣ_j exp(x[n,j]) - x[n, t_n] )       (log-sum-exp taken stably)
/// Backward: ∂L/∂x[n,i] = ( softmax(x[n])_i - [i = t_n] ) / N
/// Seed 000 writes the loss with a factor 1/n over the n classes; that only rescales the
/// learning rate. The loss here is averaged over the batch, as PyTorch's cross_entropy.
/// </summary>
public sealed class SoftmaxCrossEntropy<T> : Loss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Name => "ce";

    /// <inheritdoc />
    public override T Forward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes) => Sum(output, labels, n, classes) / T.CreateChecked(n);

    /// <inheritdoc />
    public override T Sum(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes)
    {
        Check(output, labels, n, classes);
        Span<T> p = classes <= 256 ? stackalloc T[classes] : new T[classes];
        T total = T.Zero;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> x = output.Slice(s * classes, classes);
            T lse = Softmax.Compute(x, p);
            total += lse - x[labels[s]];
        }
        return total;
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, Span<T> dOutput, int n, int classes) =>
        Backward(output, labels, dOutput, n, classes, n);

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, Span<T> dOutput, int n, int classes, int batch)
    {
        Check(output, labels, n, classes);
        if (batch < n) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"a batch of {batch} cannot hold {n} samples");
        T invN = T.One / T.CreateChecked(batch);
        for (int s = 0; s < n; s++)
        {
            Span<T> g = dOutput.Slice(s * classes, classes);
            Softmax.Compute(output.Slice(s * classes, classes), g);
            g[labels[s]] -= T.One;
            for (int i = 0; i < classes; i++) g[i] *= invN;
        }
    }
}
