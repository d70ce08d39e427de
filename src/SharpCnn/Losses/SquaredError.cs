namespace SharpCnn.Losses;

/// <summary>
/// Half the squared error between the raw outputs and the one-hot target (seed 004's
/// loss on sigmoid outputs; seed 002's error for the fully connected BP network).
///
/// Shapes: outputs y [N, D], labels t [N].
///
/// Forward:  L = 1/N Σ_n ½ Σ_i (y[n,i] - [i = t_n])²
/// Backward: ∂L/∂y[n,i] = (y[n,i] - [i = t_n]) / N
/// </summary>
public sealed class SquaredError<T> : Loss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Name => "mse";

    /// <inheritdoc />
    public override T Forward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes) => Sum(output, labels, n, classes) / T.CreateChecked(n);

    /// <inheritdoc />
    public override T Sum(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes)
    {
        Check(output, labels, n, classes);
        T total = T.Zero, half = T.CreateChecked(0.5);
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> y = output.Slice(s * classes, classes);
            for (int i = 0; i < classes; i++)
            {
                T e = y[i] - (i == labels[s] ? T.One : T.Zero);
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
        T invN = T.One / T.CreateChecked(batch);
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> y = output.Slice(s * classes, classes);
            Span<T> g = dOutput.Slice(s * classes, classes);
            for (int i = 0; i < classes; i++) g[i] = (y[i] - (i == labels[s] ? T.One : T.Zero)) * invN;
        }
    }
}
