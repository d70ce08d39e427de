namespace SharpCnn.Losses;

/// <summary>
/// Seed 000's "softmax" loss: softmax, then half the squared error to the one-hot target.
///
/// Shapes: scores x [N, D], labels t [N]; p = softmax(x[n]), e = p - onehot(t_n).
///
/// Forward:  L = 1/N Σ_n ½ Σ_i (p_i - [i = t_n])²
/// Backward: the softmax Jacobian is full: ∂p_j/∂x_i = p_j([i = j] - p_i), so
///           ∂L/∂x_i = 1/N Σ_j e_j p_j ([i = j] - p_i) = 1/N · p_i (e_i - Σ_j p_j e_j)
/// The i ≠ j terms (the - p_i Σ_j p_j e_j part) are the ones seed 000 warns are easy to
/// forget; dropping them fails the gradient check (tests/SharpCnn.Tests/Losses/LossTests.cs).
/// </summary>
public sealed class SoftmaxSquaredError<T> : Loss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Name => "softmax-mse";

    /// <inheritdoc />
    public override T Forward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes) => Sum(output, labels, n, classes) / T.CreateChecked(n);

    /// <inheritdoc />
    public override T Sum(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes)
    {
        Check(output, labels, n, classes);
        Span<T> p = classes <= 256 ? stackalloc T[classes] : new T[classes];
        T total = T.Zero, half = T.CreateChecked(0.5);
        for (int s = 0; s < n; s++)
        {
            Softmax.Compute(output.Slice(s * classes, classes), p);
            for (int i = 0; i < classes; i++)
            {
                T e = p[i] - (i == labels[s] ? T.One : T.Zero);
                total += half * e * e;
            }
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
        Span<T> p = classes <= 256 ? stackalloc T[classes] : new T[classes];
        T invN = T.One / T.CreateChecked(batch);
        for (int s = 0; s < n; s++)
        {
            Softmax.Compute(output.Slice(s * classes, classes), p);
            T pe = T.Zero;
            for (int j = 0; j < classes; j++) pe += p[j] * (p[j] - (j == labels[s] ? T.One : T.Zero));
            Span<T> g = dOutput.Slice(s * classes, classes);
            for (int i = 0; i < classes; i++)
            {
                T e = p[i] - (i == labels[s] ? T.One : T.Zero);
                g[i] = invN * p[i] * (e - pe);
            }
        }
    }
}
