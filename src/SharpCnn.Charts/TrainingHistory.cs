namespace SharpCnn.Charts;

/// <summary>One epoch's figures as the charts draw them.</summary>
/// <param name="Epoch">The epoch (1-based).</param>
/// <param name="EndStep">The step the epoch ended at (its position on a per-step axis).</param>
/// <param name="TrainLoss">Mean training loss over the epoch.</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch (0 to 1).</param>
/// <param name="HeldOutLoss">Loss on the held-out set after the epoch, or NaN.</param>
/// <param name="HeldOutAccuracy">Accuracy on the held-out set after the epoch (0 to 1), or NaN.</param>
public readonly record struct EpochPoint(int Epoch, long EndStep, double TrainLoss, double TrainAccuracy, double HeldOutLoss, double HeldOutAccuracy);

/// <summary>
/// What a training run did, step by step and epoch by epoch, for <see cref="TrainingCharts"/>: each step's loss,
/// accuracy and learning rate, each epoch's figures, and every so many steps each trained parameter tensor's
/// gradient norm and update-to-weight ratio. Fill it by hand, or let a <see cref="TrainingRecorder{T}"/> fill it
/// from a trainer. Per-step series are bounded: past <see cref="MaxPoints"/> points every second one is dropped
/// and from then on only every second step is kept (again each time the bound is reached), so a long run costs
/// a bounded amount of memory and still spans the whole run.
/// </summary>
public sealed class TrainingHistory
{
    /// <summary>Points kept per series before it is thinned.</summary>
    public const int MaxPoints = 100_000;

    private readonly List<double> steps = [], losses = [], accuracies = [], rates = [];
    private readonly List<EpochPoint> epochs = [];
    private readonly List<double> statisticSteps = [];
    private readonly List<double>[] gradientNorms, updateRatios;
    private long stride = 1, offered;
    private long statisticStride = 1, statisticsOffered;

    /// <summary>A history whose statistics cover <paramref name="parameters"/> (e.g. "1 conv5x5x6 weight"), in order.</summary>
    public TrainingHistory(IReadOnlyList<string> parameters, string heldOutName = "test")
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentException.ThrowIfNullOrWhiteSpace(heldOutName);
        Parameters = [.. parameters];
        HeldOutName = heldOutName;
        gradientNorms = Parameters.Select(_ => new List<double>()).ToArray();
        updateRatios = Parameters.Select(_ => new List<double>()).ToArray();
    }

    /// <summary>The trained parameter tensors the statistics are of.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>What the held-out figures are of: "test" or "validation".</summary>
    public string HeldOutName { get; set; }

    /// <summary>The steps recorded (x of the per-step series).</summary>
    public IReadOnlyList<double> Steps => steps;

    /// <summary>Each recorded step's mean loss over its batch.</summary>
    public IReadOnlyList<double> Losses => losses;

    /// <summary>Each recorded step's accuracy over its batch (0 to 1).</summary>
    public IReadOnlyList<double> Accuracies => accuracies;

    /// <summary>Each recorded step's learning rate.</summary>
    public IReadOnlyList<double> LearningRates => rates;

    /// <summary>Each epoch's figures.</summary>
    public IReadOnlyList<EpochPoint> Epochs => epochs;

    /// <summary>The steps the statistics were measured at.</summary>
    public IReadOnlyList<double> StatisticSteps => statisticSteps;

    /// <summary>Per parameter tensor (as <see cref="Parameters"/>): ‖∂L/∂θ‖₂ at each of <see cref="StatisticSteps"/>.</summary>
    public IReadOnlyList<IReadOnlyList<double>> GradientNorms => gradientNorms;

    /// <summary>Per parameter tensor: ‖Δθ‖₂ / ‖θ‖₂ at each of <see cref="StatisticSteps"/>.</summary>
    public IReadOnlyList<IReadOnlyList<double>> UpdateRatios => updateRatios;

    /// <summary>Records one step.</summary>
    public void AddStep(long step, double loss, double accuracy, double learningRate)
    {
        if (offered++ % stride != 0) return;
        steps.Add(step);
        losses.Add(loss);
        accuracies.Add(accuracy);
        rates.Add(learningRate);
        if (steps.Count >= MaxPoints)
        {
            Thin(steps);
            Thin(losses);
            Thin(accuracies);
            Thin(rates);
            stride *= 2;
        }
    }

    /// <summary>Records one epoch.</summary>
    public void AddEpoch(EpochPoint epoch) => epochs.Add(epoch);

    /// <summary>Records the statistics of one step: one gradient norm and one update ratio per parameter tensor.</summary>
    /// <exception cref="ArgumentException">The spans do not have one value per parameter tensor.</exception>
    public void AddStatistics(long step, ReadOnlySpan<double> gradientNorm, ReadOnlySpan<double> updateRatio)
    {
        if (gradientNorm.Length != Parameters.Count || updateRatio.Length != Parameters.Count)
            throw new ArgumentException($"expected {Parameters.Count} gradient norms and update ratios (one per parameter tensor), got {gradientNorm.Length} and {updateRatio.Length}");
        if (statisticsOffered++ % statisticStride != 0) return;
        statisticSteps.Add(step);
        for (int i = 0; i < Parameters.Count; i++)
        {
            gradientNorms[i].Add(gradientNorm[i]);
            updateRatios[i].Add(updateRatio[i]);
        }
        if (statisticSteps.Count >= MaxPoints)
        {
            Thin(statisticSteps);
            foreach (var list in gradientNorms) Thin(list);
            foreach (var list in updateRatios) Thin(list);
            statisticStride *= 2;
        }
    }

    private static void Thin(List<double> list)
    {
        int kept = 0;
        for (int i = 0; i < list.Count; i += 2) list[kept++] = list[i];
        list.RemoveRange(kept, list.Count - kept);
    }
}
