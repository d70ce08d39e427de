using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>What <c>sharpcnn train</c> is about to do.</summary>
internal sealed record TrainingStart(
    string ModelLabel, string Spec, long Parameters, double ForwardMegaflops, string Loss, string Init, string Precision,
    string DataLabel, int TrainCount, int TestCount, Tensors.Shape SampleShape, TrainingOptions Options, string? Resumed = null)
{
    /// <summary>Images split off the training set for validation (0 = none).</summary>
    public int ValidationCount { get; init; }

    /// <summary>The classes' names, when the data name them.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>The data line of the plain and live forms: where from, how many of each set, their shape, the classes.</summary>
    public string DataLine =>
        $"{DataLabel}: {TrainCount:N0} training, " + (ValidationCount > 0 ? $"{ValidationCount:N0} validation, " : "") +
        (TestCount > 0 ? $"{TestCount:N0} test" : "no test") + $" images of {SampleShape}" +
        (ClassNames is { } names ? $"; classes {string.Join(", ", names.Take(10))}{(names.Count > 10 ? $", ... ({names.Count})" : "")}" : "");

    /// <summary>The learning rate with its schedule and weight decay, e.g. "lr 0.05 (cosine), weight decay 0.0005".</summary>
    public string Rate =>
        $"lr {Options.LearningRate:G4}" + (Options.Schedule.Kind == ScheduleKind.Constant ? "" : $" ({Options.Schedule})") +
        (Options.WeightDecay > 0 ? $", weight decay {Options.WeightDecay:G3}" : "");

    /// <summary>The checkpoint and clipping settings, e.g. ", checkpoint every 100 steps to c.scnn", or empty.</summary>
    public string Safety =>
        (Options.CheckpointEvery > 0 ? $", checkpoint every {Options.CheckpointEvery} steps to {Options.CheckpointPath}" : "") +
        (Options.ClipNorm > 0 ? $", gradient norm clipped at {Options.ClipNorm:G3}" : "");
}

/// <summary>How <c>sharpcnn train</c> ended.</summary>
internal sealed record TrainingEnd(TrainingResult Result, Evaluation? Final, string? ModelFile, IReadOnlyList<string> Pictures, bool ShowConfusion)
{
    /// <summary>With <c>--keep-best</c>: which epoch was kept and its validation figures, as one line.</summary>
    public string? Best { get; init; }

    /// <summary>With <c>--keep-best</c>: the epoch kept.</summary>
    public int? BestEpoch { get; init; }
}

/// <summary>
/// The train command's output, in one of three forms: live progress bars in a terminal
/// (<see cref="LiveTrainingReport"/>), one plain line per epoch when the output is redirected or in CI
/// (<see cref="PlainTrainingReport"/>), or JSON Lines (<see cref="JsonTrainingReport"/>).
/// </summary>
internal abstract class TrainingReport
{
    /// <summary>Picks the form: JSON when asked, live bars when the output is an interactive terminal and plain was not asked for, else plain lines.</summary>
    public static TrainingReport Create(TextWriter output, bool json, bool plain)
    {
        if (json) return new JsonTrainingReport(output);
        var console = Terminal.Create(output, out bool live);
        return live && !plain ? new LiveTrainingReport(console) : new PlainTrainingReport(output);
    }

    /// <summary>Describes the run before training starts.</summary>
    public abstract void Start(TrainingStart start);

    /// <summary>
    /// Runs <paramref name="fit"/>, giving it the callbacks to raise on progress within an epoch and after each
    /// epoch, and shows them; <paramref name="epochs"/> and <paramref name="samplesPerEpoch"/> size the display.
    /// </summary>
    public abstract TrainingResult Run(int epochs, int samplesPerEpoch, Func<Action<TrainingProgress>, Action<EpochResult>, TrainingResult> fit);

    /// <summary>Shows that a checkpoint was written (the plain form prints a line; the live form leaves its bars alone).</summary>
    public virtual void Checkpoint(CheckpointSaved checkpoint)
    {
    }

    /// <summary>The line the plain form prints for a checkpoint.</summary>
    public static string Describe(CheckpointSaved c) => $"  checkpoint step {c.Step} (epoch {c.Epoch}, sample {c.Samples}) -> {c.Path}";

    /// <summary>Shows the outcome: stop reason, final test accuracy, saved files.</summary>
    public abstract void End(TrainingEnd end);

    /// <summary>The epoch's one-line summary used by the plain and live forms.</summary>
    public static string Describe(EpochResult e, int epochs)
    {
        string test = e.Test is null ? "" : $"  test acc {e.Test.Accuracy:P2}  test loss {e.Test.Loss:F4}";
        if (e.Validation is { } v) test += $"  val acc {v.Accuracy:P2}  val loss {v.Loss:F4}";
        string change = double.IsNaN(e.MaxParameterChange) ? "" : $"  max |Δθ| {e.MaxParameterChange:G3}";
        return $"epoch {e.Epoch}/{epochs}  loss {e.TrainLoss:F4}  train acc {e.TrainAccuracy:P2}{test}  {e.Seconds:F1}s ({e.SamplesPerSecond:F0} samples/s){change}";
    }
}
