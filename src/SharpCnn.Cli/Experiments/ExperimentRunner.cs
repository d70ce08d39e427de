using System.Diagnostics;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Cli.Experiments;

/// <summary>How to run the experiments.</summary>
public sealed record ExperimentSettings
{
    /// <summary>Seeded runs per experiment (run r uses seed <see cref="Seed"/> + r for initialisation, shuffling and dropout).</summary>
    public int Runs { get; init; } = 3;

    /// <summary>The first run's seed.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>CI mode: every row on a small subset, at most <see cref="QuickEpochs"/> passes, one run.</summary>
    public bool Quick { get; init; }

    /// <summary>Training images in quick mode.</summary>
    public int QuickTrain { get; init; } = 400;

    /// <summary>Test images in quick mode.</summary>
    public int QuickTest { get; init; } = 400;

    /// <summary>Largest number of passes in quick mode.</summary>
    public int QuickEpochs { get; init; } = 1;

    /// <summary>The seeds' training-set size: a "matched steps" run makes this many single-sample steps.</summary>
    public int SeedTrainingImages { get; init; } = 60_000;
}

/// <summary>One point of a learning curve: training progress in passes and an accuracy.</summary>
/// <param name="Epochs">Passes over the training set so far (fractional).</param>
/// <param name="Accuracy">Accuracy in [0, 1].</param>
public readonly record struct CurvePoint(double Epochs, double Accuracy);

/// <summary>What one seeded run of an experiment gave.</summary>
/// <param name="Seed">The run's seed.</param>
/// <param name="Accuracy">Test accuracy at the end (NaN when the run diverged).</param>
/// <param name="Seconds">Wall time of the run: building, training and evaluating.</param>
/// <param name="Steps">Optimiser steps taken.</param>
/// <param name="StopReason">Why training ended (the trainer's words; "diverged (loss NaN at step k, epoch e)" for a blow-up).</param>
/// <param name="Diverged">True when the loss became NaN or infinite.</param>
/// <param name="InitialMaxOutput">Largest |network output| on the first training batch before any step.</param>
/// <param name="TrainCurve">Training accuracy over windows of about 1/50 of a pass.</param>
/// <param name="TestCurve">Test accuracy after each pass.</param>
public sealed record ExperimentRun(ulong Seed, double Accuracy, double Seconds, long Steps, string StopReason, bool Diverged,
    double InitialMaxOutput, IReadOnlyList<CurvePoint> TrainCurve, IReadOnlyList<CurvePoint> TestCurve);

/// <summary>An experiment's runs (and matched-steps runs), or why it was skipped.</summary>
/// <param name="Experiment">The experiment.</param>
/// <param name="DataLabel">The data set, with its training/test sizes.</param>
/// <param name="Epochs">Passes over the training set per run.</param>
/// <param name="Runs">The seeded runs.</param>
/// <param name="MatchedRuns">Runs with the seeds' number of steps (empty when not asked for or not needed).</param>
/// <param name="MatchedEpochs">Passes of a matched-steps run.</param>
/// <param name="Skipped">Why the experiment did not run, or null.</param>
public sealed record ExperimentOutcome(Experiment Experiment, string DataLabel, double Epochs, IReadOnlyList<ExperimentRun> Runs,
    IReadOnlyList<ExperimentRun> MatchedRuns, double MatchedEpochs, string? Skipped)
{
    /// <summary>Mean and sample standard deviation of the test accuracy over the runs that did not diverge.</summary>
    public static (double Mean, double Std, int Count) Summary(IReadOnlyList<ExperimentRun> runs)
    {
        var ok = runs.Where(r => !r.Diverged && double.IsFinite(r.Accuracy)).Select(r => r.Accuracy).ToArray();
        if (ok.Length == 0) return (double.NaN, double.NaN, 0);
        double mean = ok.Average();
        double std = ok.Length > 1 ? Math.Sqrt(ok.Sum(a => (a - mean) * (a - mean)) / (ok.Length - 1)) : 0;
        return (mean, std, ok.Length);
    }

    /// <summary>True when a target was set and the mean accuracy reached it.</summary>
    public bool? MeetsTarget => Experiment.Target is { } t && Skipped is null ? Summary(Runs).Mean >= t : null;
}

/// <summary>Runs experiments: N seeded trainings each, with learning curves, wall times and divergence reports.</summary>
public static class ExperimentRunner
{
    /// <summary>
    /// Runs <paramref name="experiment"/> on <paramref name="train"/> / <paramref name="test"/> (already cut to the quick
    /// subset by the caller when <see cref="ExperimentSettings.Quick"/>). <paramref name="isFashion"/> says whether the data
    /// are the official Fashion-MNIST (experiments that need it are skipped otherwise). <paramref name="log"/> gets one line
    /// per run, and for runs of several passes one line per pass (a long run shows it is alive).
    /// </summary>
    public static ExperimentOutcome Run(Experiment experiment, ImageDataSet train, ImageDataSet test, string dataLabel, bool isFashion,
        ExperimentSettings settings, Action<string>? log = null)
    {
        // The rows reproduce what the seeds saw, so the divergence guard stops a run only on NaN or
        // infinity: rand() init's exploding outputs are measured and reported, not cut off at 10^6.
        var options = experiment.Options with { ExplosionLimit = 0 };
        if (settings.Quick) options = options with { Epochs = Math.Min(options.Epochs, settings.QuickEpochs) };
        if (experiment.RequiresFashion && !isFashion)
            return new ExperimentOutcome(experiment, dataLabel, options.Epochs, [], [], 0,
                $"needs the full Fashion-MNIST: sharpcnn experiments --data {FashionMnist.DebianFolder} (after apt-get install dataset-fashion-mnist)");
        int runs = settings.Quick ? 1 : Math.Max(1, settings.Runs);
        var results = new List<ExperimentRun>();
        for (int r = 0; r < runs; r++)
        {
            string label = $"{experiment.Id} run {r + 1}/{runs}";
            var run = RunOnce(experiment, options, train, test, settings.Seed + (ulong)r, PassLog(log, label, options.Epochs));
            log?.Invoke($"{label}: {Describe(run)}");
            results.Add(run);
        }
        var matched = new List<ExperimentRun>();
        double matchedEpochs = 0;
        if (experiment.MatchedSteps && train.Count < settings.SeedTrainingImages)
        {
            // Quick mode keeps the idea (more passes for the same steps) at a CI-sized cost: two passes.
            long steps = settings.Quick ? 2L * train.Count : settings.SeedTrainingImages;
            long batch = Math.Max(1, options.BatchSize);
            var matchedOptions = options with { Epochs = (int)Math.Ceiling((double)steps / train.Count), MaxSteps = (steps + batch - 1) / batch };
            matchedEpochs = (double)steps / train.Count;
            for (int r = 0; r < runs; r++)
            {
                string label = $"{experiment.Id} matched steps ({steps:N0} samples) run {r + 1}/{runs}";
                var run = RunOnce(experiment, matchedOptions, train, test, settings.Seed + (ulong)r, PassLog(log, label, matchedOptions.Epochs));
                log?.Invoke($"{label}: {Describe(run)}");
                matched.Add(run);
            }
        }
        return new ExperimentOutcome(experiment, dataLabel, options.Epochs, results, matched, matchedEpochs, null);
    }

    private static string Describe(ExperimentRun run) => run.Diverged
        ? $"{run.StopReason}, {run.Seconds:F1} s"
        : $"test accuracy {run.Accuracy:F4}, {run.Steps:N0} steps, {run.Seconds:F1} s";

    /// <summary>One line per pass for a run of several passes (none for one pass: the run's own line says it all).</summary>
    private static Action<EpochResult>? PassLog(Action<string>? log, string label, int passes) =>
        log is null || passes <= 1 ? null : r => log(
            $"{label} pass {r.Epoch}/{passes}: train loss {r.TrainLoss:F4}, train accuracy {r.TrainAccuracy:F4}" +
            (r.Test is { } t ? $", test accuracy {t.Accuracy:F4}" : "") + $", {r.Seconds:F1} s ({r.SamplesPerSecond:F0} samples/s)");

    private static ExperimentRun RunOnce(Experiment e, TrainingOptions options, ImageDataSet train, ImageDataSet test, ulong seed, Action<EpochResult>? pass) =>
        e.Double ? RunTyped<double>(e, options, train, test, seed, pass) : RunTyped<float>(e, options, train, test, seed, pass);

    private static ExperimentRun RunTyped<T>(Experiment e, TrainingOptions options, ImageDataSet train, ImageDataSet test, ulong seed, Action<EpochResult>? pass)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var clock = Stopwatch.StartNew();
        var network = ModelFactory.FromSpec<T>(e.Spec, train.Shape, e.Loss, e.Init, seed);
        double initialMax = e.ReportOutputScale ? MaxAbsOutput(network, train) : double.NaN;

        int batch = Math.Min(options.BatchSize, train.Count);
        long stepsPerEpoch = (train.Count + batch - 1) / batch;
        int windowsPerEpoch = Math.Clamp(300 / options.Epochs, 5, 50);
        options = options with { Seed = seed, ProgressEvery = (int)Math.Max(1, stepsPerEpoch / windowsPerEpoch) };
        var trainer = new Trainer<T>(network, options);
        var trainCurve = new List<CurvePoint>();
        var testCurve = new List<CurvePoint>();
        double lastCorrect = 0;
        int lastSamples = 0;
        trainer.Progress += p =>
        {
            if (p.Samples < lastSamples) (lastSamples, lastCorrect) = (0, 0); // a new epoch
            double correct = p.Accuracy * p.Samples;
            if (p.Samples > lastSamples)
                trainCurve.Add(new CurvePoint(p.Epoch - 1 + (double)p.Samples / p.EpochSamples, (correct - lastCorrect) / (p.Samples - lastSamples)));
            (lastSamples, lastCorrect) = (p.Samples, correct);
        };
        trainer.EpochCompleted += r =>
        {
            (lastSamples, lastCorrect) = (0, 0);
            if (r.Test is { } t) testCurve.Add(new CurvePoint(Math.Min(r.Epoch, (double)r.Steps * batch / train.Count), t.Accuracy));
            pass?.Invoke(r);
        };
        var result = trainer.Fit(train, test);
        double accuracy = result.Diverged ? double.NaN : result.Epochs[^1].Test?.Accuracy ?? Evaluator.Evaluate(network, test).Accuracy;
        clock.Stop();
        return new ExperimentRun(seed, accuracy, clock.Elapsed.TotalSeconds, trainer.Optimizer.StepCount, result.StopReason, result.Diverged,
            initialMax, trainCurve, testCurve);
    }

    /// <summary>
    /// Largest |output| of the freshly initialised network on the first training batch (up to 32 images), in training
    /// mode as the first step sees it; batch-norm running statistics are put back afterwards.
    /// </summary>
    public static double MaxAbsOutput<T>(Network<T> network, ImageDataSet data) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = Math.Min(32, data.Count);
        var state = network.Parameters.Where(p => !p.IsTrained).Select(p => (p, (T[])p.Value.Clone())).ToArray();
        network.Reserve(n);
        data.CopyBatch<T>(Enumerable.Range(0, n).ToArray(), network.Input(n), new int[n]);
        double max = 0;
        foreach (var v in network.Forward(n)) max = Math.Max(max, Math.Abs(double.CreateChecked(v)));
        foreach (var (p, saved) in state) saved.CopyTo(p.Value, 0);
        return max;
    }
}
