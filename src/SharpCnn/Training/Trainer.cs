using System.Diagnostics;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>How to train.</summary>
public sealed record TrainingOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Samples per step; 1 is the seeds' single-sample training.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Step size η.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>How η changes over the run (default: constant).</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;

    /// <summary>sgd, momentum or adam.</summary>
    public string Optimizer { get; init; } = "sgd";

    /// <summary>μ for the momentum optimiser.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay λ (0 = none).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Seed of the shuffling.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Visit the training samples in a new random order each epoch (otherwise in file order).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Seed 001's stop threshold ε: stop after an epoch in which no parameter moved by ε or more (0 = off).</summary>
    public double StopEpsilon { get; init; }

    /// <summary>Stop after this many steps in all (0 = no cap).</summary>
    public long MaxSteps { get; init; }

    /// <summary>Batch size for the per-epoch evaluation.</summary>
    public int EvaluationBatchSize { get; init; } = 256;

    /// <summary>Raise <see cref="Trainer{T}.Progress"/> every this many steps (0 = about 100 times an epoch).</summary>
    public int ProgressEvery { get; init; }
}

/// <summary>Progress within an epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Samples">Samples seen so far in this epoch.</param>
/// <param name="EpochSamples">Samples in the epoch.</param>
/// <param name="Loss">Mean training loss so far in this epoch.</param>
/// <param name="Accuracy">Training accuracy so far in this epoch.</param>
/// <param name="SamplesPerSecond">Throughput so far in this epoch.</param>
public sealed record TrainingProgress(int Epoch, int Samples, int EpochSamples, double Loss, double Accuracy, double SamplesPerSecond);

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Steps">Steps taken so far in all.</param>
/// <param name="TrainLoss">Mean training loss over the epoch.</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch (on the outputs seen while training).</param>
/// <param name="Test">Evaluation on the test set, when one was given.</param>
/// <param name="Seconds">Wall time of the epoch's training steps.</param>
/// <param name="SamplesPerSecond">Training throughput.</param>
/// <param name="MaxParameterChange">Largest |Δθ| of any parameter over the epoch.</param>
public sealed record EpochResult(int Epoch, long Steps, double TrainLoss, double TrainAccuracy, Evaluation? Test, double Seconds, double SamplesPerSecond, double MaxParameterChange);

/// <summary>The whole run.</summary>
/// <param name="Epochs">Every epoch's result.</param>
/// <param name="StopReason">Why training ended: "epochs", "step cap", "converged (...)" or "diverged (...)".</param>
/// <param name="Diverged">True when the loss became NaN or infinite.</param>
public sealed record TrainingResult(IReadOnlyList<EpochResult> Epochs, string StopReason, bool Diverged);

/// <summary>
/// Trains a network with minibatch gradient descent:
/// for each epoch, for each batch B (in a shuffled order):  θ ← update(θ, ∂/∂θ mean_{i∈B} L(f(x_i; θ), t_i)).
/// The data stay bytes and are converted per batch into the network's input buffer, so a
/// step allocates nothing.
/// </summary>
public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;

    /// <summary>Creates a trainer for <paramref name="network"/> (whose parameters are already initialised).</summary>
    public Trainer(Network<T> network, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "epochs must be at least 1");
        if (options.BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "batch size must be at least 1");
        if (options.StopEpsilon < 0) throw new ArgumentOutOfRangeException(nameof(options), options.StopEpsilon, "the stop threshold cannot be negative");
        this.network = network;
        Options = options;
        Optimizer = Optimizers.Create(options.Optimizer, network.Parameters, options.LearningRate, options.Momentum, options.WeightDecay);
    }

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The optimiser (its learning rate may be changed between epochs).</summary>
    public Optimizer<T> Optimizer { get; }

    /// <summary>Raised after every epoch (after the test-set evaluation).</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>Raised every <see cref="TrainingOptions.ProgressEvery"/> steps.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Trains on <paramref name="train"/>, evaluating on <paramref name="test"/> after each epoch.</summary>
    public TrainingResult Fit(ImageDataSet train, ImageDataSet? test = null, CancellationToken cancellation = default)
    {
        if (train.Count == 0) throw new ArgumentException("the training set is empty", nameof(train));
        if (train.Shape.Size != network.InputShape.Size) throw new ArgumentException($"the training samples are {train.Shape}, the network takes {network.InputShape}");
        int batch = Math.Min(Options.BatchSize, train.Count);
        network.Reserve(batch);
        var rng = new Rng(Options.Seed);
        var order = Enumerable.Range(0, train.Count).ToArray();
        var labels = new int[batch];
        var parameters = network.Parameters.Where(p => p.IsTrained).ToArray();
        long stepsPerEpoch = (train.Count + batch - 1) / batch;
        long totalSteps = Options.MaxSteps > 0 ? Math.Min(Options.MaxSteps, Options.Epochs * stepsPerEpoch) : Options.Epochs * stepsPerEpoch;
        var snapshot = Options.StopEpsilon > 0 ? parameters.Select(p => (T[])p.Value.Clone()).ToArray() : null;
        int progressEvery = Options.ProgressEvery > 0 ? Options.ProgressEvery : Math.Max(1, train.Count / batch / 100);
        int classes = network.Classes;
        var epochs = new List<EpochResult>();

        for (int epoch = 1; epoch <= Options.Epochs; epoch++)
        {
            if (Options.Shuffle) rng.Shuffle(order);
            network.Training = true;
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            int correct = 0, seen = 0, stepInEpoch = 0;
            for (int start = 0; start < train.Count; start += batch)
            {
                cancellation.ThrowIfCancellationRequested();
                int n = Math.Min(batch, train.Count - start);
                train.CopyBatch<T>(order.AsSpan(start, n), network.Input(n), labels.AsSpan(0, n));
                network.ZeroGradients();
                network.SetStep(Options.Seed, Optimizer.StepCount);
                var output = network.Forward(n);
                for (int s = 0; s < n; s++)
                    if (Evaluator.ArgMax(output.Slice(s * classes, classes)) == labels[s]) correct++;
                double loss = double.CreateChecked(network.Backward(labels.AsSpan(0, n), n));
                if (!double.IsFinite(loss))
                {
                    string why = $"diverged (loss {loss} at step {Optimizer.StepCount + 1}, epoch {epoch})";
                    epochs.Add(Finish(epoch, lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), null, clock, seen, double.NaN));
                    return new TrainingResult(epochs, why, Diverged: true);
                }
                if (Options.Schedule.Kind != ScheduleKind.Constant) // a constant schedule leaves a rate set by hand alone
                    Optimizer.LearningRate = Options.Schedule.Rate(Options.LearningRate, Optimizer.StepCount, stepsPerEpoch, totalSteps);
                Optimizer.Step();
                lossSum += loss * n;
                seen += n;
                if (++stepInEpoch % progressEvery == 0)
                    Progress?.Invoke(new TrainingProgress(epoch, seen, train.Count, lossSum / seen, (double)correct / seen, seen / clock.Elapsed.TotalSeconds));
                if (Options.MaxSteps > 0 && Optimizer.StepCount >= Options.MaxSteps) break;
            }
            clock.Stop();
            double change = snapshot is null ? double.NaN : MaxChange(parameters, snapshot);
            var evaluation = test is null ? null : Evaluator.Evaluate(network, test, Options.EvaluationBatchSize);
            var result = Finish(epoch, lossSum / seen, (double)correct / seen, evaluation, clock, seen, change);
            epochs.Add(result);
            EpochCompleted?.Invoke(result);
            if (Options.MaxSteps > 0 && Optimizer.StepCount >= Options.MaxSteps) return new TrainingResult(epochs, $"step cap ({Options.MaxSteps} steps)", false);
            if (snapshot is not null && change < Options.StopEpsilon)
                return new TrainingResult(epochs, $"converged (no parameter moved by {Options.StopEpsilon:G3} or more in epoch {epoch}; largest change {change:G3})", false);
        }
        return new TrainingResult(epochs, $"epochs ({Options.Epochs})", false);
    }

    private EpochResult Finish(int epoch, double loss, double accuracy, Evaluation? test, Stopwatch clock, int seen, double change) =>
        new(epoch, Optimizer.StepCount, loss, accuracy, test, clock.Elapsed.TotalSeconds, seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9), change);

    /// <summary>Largest |θ - θ_snapshot| over every parameter, then takes the new snapshot.</summary>
    private static double MaxChange(Parameter<T>[] parameters, T[][] snapshot)
    {
        double max = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            var v = parameters[i].Value;
            var s = snapshot[i];
            for (int j = 0; j < v.Length; j++) max = Math.Max(max, Math.Abs(double.CreateChecked(v[j] - s[j])));
            v.CopyTo(s, 0);
        }
        return max;
    }
}
