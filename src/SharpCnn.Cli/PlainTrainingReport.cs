using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary>Quiet plain text for logs, pipes and CI: the setup, one line per epoch, the outcome.</summary>
internal sealed class PlainTrainingReport(TextWriter output) : TrainingReport
{
    public override void Start(TrainingStart s)
    {
        if (s.Resumed is not null) output.WriteLine($"resumed  {s.Resumed}");
        output.WriteLine($"model    {s.ModelLabel}: {s.Spec}");
        output.WriteLine($"         {s.Parameters:N0} parameters, {s.ForwardMegaflops:F1} MFLOP forward per sample; loss {s.Loss}, init {s.Init}, {s.Precision}");
        output.WriteLine($"data     {s.DataLine}");
        output.WriteLine($"training {s.Options.Epochs} epoch(s), batch {s.Options.BatchSize}, {s.Options.Optimizer} {s.Rate}, seed {s.Options.Seed}{s.Safety}");
        output.Flush();
    }

    public override TrainingResult Run(int epochs, int samplesPerEpoch, Func<Action<TrainingProgress>, Action<EpochResult>, TrainingResult> fit) =>
        fit(_ => { }, e =>
        {
            output.WriteLine(Describe(e, epochs));
            output.Flush();
        });

    public override void Checkpoint(CheckpointSaved checkpoint)
    {
        output.WriteLine(Describe(checkpoint));
        output.Flush();
    }

    public override void End(TrainingEnd end)
    {
        output.WriteLine($"stopped: {end.Result.StopReason}");
        if (end.Best is { } best) output.WriteLine(best);
        if (end.Final is { } f)
        {
            output.WriteLine($"test accuracy {f.Accuracy:P2} ({(int)Math.Round(f.Accuracy * f.Count)}/{f.Count}), test loss {f.Loss:F4}");
            if (end.ShowConfusion) output.WriteLine(f.FormatConfusion());
        }
        if (end.ModelFile is not null) output.WriteLine($"saved    {end.ModelFile}");
        if (end.Pictures.Count > 0) output.WriteLine($"pictures {string.Join(", ", end.Pictures)}");
        output.Flush();
    }
}
