using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>
/// JSON Lines on standard output (<c>--json</c>): one object per line, each with an <c>event</c> field:
/// <c>start</c> (model, data, settings), <c>epoch</c> (one per epoch: losses, accuracies, time, speed),
/// <c>checkpoint</c> (one per checkpoint written: step, epoch, samples, file) and
/// <c>end</c> (stop reason, divergence, final test scores with the confusion matrix, files written). Names are
/// snake_case; a number that is not finite (a diverged loss) is null.
/// </summary>
internal sealed class JsonTrainingReport(TextWriter output) : TrainingReport
{
    public override void Start(TrainingStart s) => Terminal.WriteJsonLine(output, new
    {
        Event = "start",
        Model = s.ModelLabel,
        s.Spec,
        s.Parameters,
        ForwardMflops = s.ForwardMegaflops,
        s.Loss,
        s.Init,
        s.Precision,
        Data = s.DataLabel,
        TrainSamples = s.TrainCount,
        ValidationSamples = s.ValidationCount,
        TestSamples = s.TestCount,
        s.ClassNames,
        Input = new[] { s.SampleShape.Channels, s.SampleShape.Height, s.SampleShape.Width },
        s.Options.Epochs,
        s.Options.BatchSize,
        s.Options.Optimizer,
        s.Options.LearningRate,
        Schedule = s.Options.Schedule.ToString(),
        s.Options.WeightDecay,
        s.Options.Seed,
        s.Options.CheckpointEvery,
        Checkpoint = s.Options.CheckpointEvery > 0 ? s.Options.CheckpointPath : null,
        ClipNorm = s.Options.ClipNorm > 0 ? s.Options.ClipNorm : (double?)null,
        s.Options.ExplosionLimit,
        s.Resumed,
    });

    public override void Checkpoint(CheckpointSaved c) => Terminal.WriteJsonLine(output, new
    {
        Event = "checkpoint",
        c.Step,
        c.Epoch,
        c.Samples,
        File = c.Path,
    });

    public override TrainingResult Run(int epochs, int samplesPerEpoch, Func<Action<TrainingProgress>, Action<EpochResult>, TrainingResult> fit) =>
        fit(_ => { }, e => Terminal.WriteJsonLine(output, new
        {
            Event = "epoch",
            e.Epoch,
            Epochs = epochs,
            e.Steps,
            TrainLoss = Terminal.Finite(e.TrainLoss),
            TrainAccuracy = Terminal.Finite(e.TrainAccuracy),
            TestLoss = e.Test is null ? null : Terminal.Finite(e.Test.Loss),
            TestAccuracy = e.Test?.Accuracy,
            ValidationLoss = e.Validation is null ? null : Terminal.Finite(e.Validation.Loss),
            ValidationAccuracy = e.Validation?.Accuracy,
            Seconds = Terminal.Finite(e.Seconds),
            SamplesPerSecond = Terminal.Finite(e.SamplesPerSecond),
            MaxParameterChange = Terminal.Finite(e.MaxParameterChange),
        }));

    public override void End(TrainingEnd end)
    {
        var f = end.Final;
        int[][]? confusion = f is null ? null
            : Enumerable.Range(0, f.Confusion.GetLength(0)).Select(i => Enumerable.Range(0, f.Confusion.GetLength(1)).Select(j => f.Confusion[i, j]).ToArray()).ToArray();
        Terminal.WriteJsonLine(output, new
        {
            Event = "end",
            end.Result.StopReason,
            end.Result.Diverged,
            Divergence = end.Result.Divergence?.Describe(),
            end.Result.LastCheckpoint,
            Epochs = end.Result.Epochs.Count,
            TestAccuracy = f?.Accuracy,
            TestLoss = f is null ? null : Terminal.Finite(f.Loss),
            TestSamples = f?.Count,
            Confusion = confusion,
            end.ModelFile,
            end.BestEpoch,
            end.Pictures,
        });
    }
}
