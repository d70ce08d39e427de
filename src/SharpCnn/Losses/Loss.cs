namespace SharpCnn.Losses;

/// <summary>
/// A loss on the network's output: a scalar L averaged over the batch, and its gradient
/// with respect to the output. Outputs are [N, D] (D = number of classes); targets are
/// class labels (one-hot vectors t with t[label] = 1).
/// </summary>
public abstract class Loss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name used in specs, model files and the CLI (<c>ce</c>, <c>softmax-mse</c>, <c>mse</c>).</summary>
    public abstract string Name { get; }

    /// <summary>Mean loss over the n samples of <paramref name="output"/> ([n, classes]).</summary>
    public abstract T Forward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes);

    /// <summary>Writes ∂L/∂output for the mean loss of <see cref="Forward"/>.</summary>
    public abstract void Backward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, Span<T> dOutput, int n, int classes);

    /// <summary>
    /// The sum of the n samples' losses (the mean times n; exactly what <see cref="Forward"/> divides by n for the
    /// built-in losses). A training step adds these sums over blocks of samples in a fixed order.
    /// </summary>
    public virtual T Sum(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes) =>
        Forward(output, labels, n, classes) * T.CreateChecked(n);

    /// <summary>
    /// Writes ∂L/∂output of these n samples for the mean loss over a whole batch of <paramref name="batch"/> ≥ n samples
    /// (of which these are a share: the others are computed elsewhere).
    /// </summary>
    public virtual void Backward(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, Span<T> dOutput, int n, int classes, int batch)
    {
        if (batch < n) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"a batch of {batch} cannot hold {n} samples");
        Backward(output, labels, dOutput, n, classes);
        if (batch == n) return;
        T scale = T.CreateChecked(n) / T.CreateChecked(batch);
        for (int i = 0; i < n * classes; i++) dOutput[i] *= scale;
    }

    /// <summary>Checks shapes and label range; throws with a clear message.</summary>
    protected static void Check(ReadOnlySpan<T> output, ReadOnlySpan<int> labels, int n, int classes)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "a loss needs at least one sample");
        if (output.Length < n * classes) throw new ArgumentException($"output has {output.Length} values, {n} samples of {classes} classes need {n * classes}");
        if (labels.Length < n) throw new ArgumentException($"{labels.Length} labels for {n} samples");
        for (int s = 0; s < n; s++)
            if ((uint)labels[s] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[s], $"label of sample {s} is outside 0..{classes - 1}");
    }
}

/// <summary>Creates losses by name.</summary>
public static class Losses
{
    /// <summary>The canonical names, in the order the CLI lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ce", "softmax-mse", "mse"];

    /// <summary>The canonical name for <paramref name="name"/> or one of its aliases; null if unknown.</summary>
    public static string? Canonical(string name) => name.ToLowerInvariant() switch
    {
        "ce" or "softmax-ce" or "cross-entropy" or "softmax-cross-entropy" => "ce",
        "softmax-mse" or "softmax" or "softmax-squared-error" => "softmax-mse",
        "mse" or "squared-error" => "mse",
        _ => null,
    };

    /// <summary>Creates the loss called <paramref name="name"/> (or an alias).</summary>
    public static Loss<T> Create<T>(string name) where T : unmanaged, IFloatingPointIeee754<T> => Canonical(name) switch
    {
        "ce" => new SoftmaxCrossEntropy<T>(),
        "softmax-mse" => new SoftmaxSquaredError<T>(),
        "mse" => new SquaredError<T>(),
        _ => throw new ArgumentException($"unknown loss '{name}'; expected one of: {string.Join(", ", Names)}", nameof(name)),
    };
}
