namespace SharpCnn;

/// <summary>One class and the probability a model gives it.</summary>
/// <param name="Class">Class index (the label: 0-9 for digits).</param>
/// <param name="Probability">Probability in [0, 1].</param>
public readonly record struct ClassProbability(int Class, double Probability);

/// <summary>
/// What a classifier says about one sample: the top class, every class's probability and
/// the raw output scores.
///
/// Probabilities: for models trained with a softmax loss (<c>ce</c>, <c>softmax-mse</c>) they are
/// softmax(scores), exactly what the loss was computed on. A model trained with plain squared
/// error (<c>mse</c>, e.g. sigmoid outputs against one-hot targets) has no softmax; its scores
/// are clamped at 0 and divided by their sum (uniform if all are 0), which keeps their order.
/// </summary>
public sealed class Prediction
{
    private readonly double[] probabilities;
    private readonly double[] scores;

    /// <summary>Creates a prediction from the raw <paramref name="scores"/> and their <paramref name="probabilities"/> (copied).</summary>
    public Prediction(ReadOnlySpan<double> scores, ReadOnlySpan<double> probabilities)
    {
        if (scores.Length == 0 || scores.Length != probabilities.Length)
            throw new ArgumentException($"expected as many probabilities as scores (at least one), got {probabilities.Length} and {scores.Length}");
        this.scores = scores.ToArray();
        this.probabilities = probabilities.ToArray();
        int best = 0;
        for (int i = 1; i < this.probabilities.Length; i++)
            if (this.probabilities[i] > this.probabilities[best] || double.IsNaN(this.probabilities[best])) best = i;
        Class = best;
    }

    /// <summary>The most probable class (the first one on ties).</summary>
    public int Class { get; }

    /// <summary>The probability of <see cref="Class"/>.</summary>
    public double Probability => probabilities[Class];

    /// <summary>Every class's probability, by class index; they sum to 1.</summary>
    public IReadOnlyList<double> Probabilities => probabilities;

    /// <summary>The network's raw outputs, by class index.</summary>
    public IReadOnlyList<double> Scores => scores;

    /// <summary>The <paramref name="count"/> most probable classes, most probable first (ties: lower class first).</summary>
    public IReadOnlyList<ClassProbability> Top(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return probabilities
            .Select((p, c) => new ClassProbability(c, p))
            .OrderByDescending(cp => double.IsNaN(cp.Probability) ? double.NegativeInfinity : cp.Probability)
            .ThenBy(cp => cp.Class)
            .Take(count)
            .ToArray();
    }

    /// <inheritdoc />
    public override string ToString() => $"class {Class} ({Probability:P1})";
}
