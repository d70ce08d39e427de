using System.Diagnostics;
using System.Text.Json.Serialization;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>How to train.</summary>
public sealed record TrainingOptions
{
    /// <summary>The explosion limit used unless told otherwise (see <see cref="ExplosionLimit"/>).</summary>
    public const double DefaultExplosionLimit = 1e6;

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
    [JsonIgnore] public int ProgressEvery { get; init; }

    /// <summary>
    /// The divergence guard's limit: training stops when any layer output, any gradient or the
    /// loss has a magnitude above it (or any parameter, checked before each checkpoint and at
    /// each epoch's end). NaN and infinity always stop training; 0 turns the magnitude limit off.
    /// The default, 10^6, is far above what a trainable network on normalised inputs produces
    /// (outputs and gradients of order 1 to 10^2) and is where seed 000 saw its outputs explode.
    /// </summary>
    public double ExplosionLimit { get; init; } = DefaultExplosionLimit;

    /// <summary>Global gradient-norm clipping: before each update, scale all gradients down so their joint L2 norm is at most this (0 = off).</summary>
    public double ClipNorm { get; init; }

    /// <summary>Write a checkpoint to <see cref="CheckpointPath"/> every this many steps, and when training ends (0 = never).</summary>
    public long CheckpointEvery { get; init; }

    /// <summary>Where checkpoints go (each replaces the previous one atomically).</summary>
    [JsonIgnore] public string? CheckpointPath { get; init; }

    /// <summary>The optimiser these options name (<see cref="Optimizer"/>, <see cref="LearningRate"/>, <see cref="Momentum"/>, <see cref="WeightDecay"/>) over the trained ones of <paramref name="parameters"/>.</summary>
    public Optim.Optimizer<T> CreateOptimizer<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T> =>
        Optimizers.Create(Optimizer, parameters, LearningRate, Momentum, WeightDecay);

    /// <summary>Why these options cannot be used, naming the option, or null when they can.</summary>
    public string? Problem()
    {
        if (Epochs <= 0) return $"epochs must be at least 1, not {Epochs}";
        if (BatchSize <= 0) return $"the batch size must be at least 1, not {BatchSize}";
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) return $"the learning rate must be a positive number, not {LearningRate}";
        if (!Optim.Optimizers.Names.Contains(Optimizer?.ToLowerInvariant())) return $"unknown optimiser '{Optimizer}'; expected one of: {string.Join(", ", Optim.Optimizers.Names)}";
        if (!(Momentum >= 0 && Momentum < 1)) return $"momentum must be in [0, 1), not {Momentum}";
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) return $"weight decay must be 0 or positive, not {WeightDecay}";
        if (!(StopEpsilon >= 0) || !double.IsFinite(StopEpsilon)) return $"the stop threshold must be 0 or positive, not {StopEpsilon}";
        if (MaxSteps < 0) return $"the step cap must be 0 (none) or positive, not {MaxSteps}";
        if (EvaluationBatchSize <= 0) return $"the evaluation batch size must be at least 1, not {EvaluationBatchSize}";
        if (ProgressEvery < 0) return $"the progress interval must be 0 or positive, not {ProgressEvery}";
        if (!(ExplosionLimit >= 0)) return $"the explosion limit must be 0 (off) or positive, not {ExplosionLimit}";
        if (!(ClipNorm >= 0) || !double.IsFinite(ClipNorm)) return $"the clipping norm must be 0 (off) or positive, not {ClipNorm}";
        if (CheckpointEvery < 0) return $"the checkpoint interval must be 0 (none) or positive, not {CheckpointEvery}";
        if (CheckpointEvery > 0 && string.IsNullOrWhiteSpace(CheckpointPath)) return "checkpoints need a file to go to";
        return null;
    }
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
public sealed record EpochResult(int Epoch, long Steps, double TrainLoss, double TrainAccuracy, Evaluation? Test, double Seconds, double SamplesPerSecond, double MaxParameterChange)
{
    /// <summary>Evaluation on the validation set, when one was given (then <see cref="Test"/> is null: the test set is kept for the final figure).</summary>
    public Evaluation? Validation { get; init; }
}

/// <summary>The whole run.</summary>
/// <param name="Epochs">Every epoch's result (after a resume: from the resumed epoch on).</param>
/// <param name="StopReason">Why training ended: "epochs", "step cap", "converged (...)", "diverged (...)" or "stopped (...)".</param>
/// <param name="Diverged">True when the divergence guard stopped training.</param>
public sealed record TrainingResult(IReadOnlyList<EpochResult> Epochs, string StopReason, bool Diverged)
{
    /// <summary>What the guard found, when <see cref="Diverged"/>.</summary>
    public Divergence? Divergence { get; init; }

    /// <summary>Steps taken in all, including those before a resume.</summary>
    public long Steps { get; init; }

    /// <summary>The last checkpoint written (or resumed from), if any: after a divergence, the last good state.</summary>
    public string? LastCheckpoint { get; init; }

    /// <summary>True when training ended early because <see cref="Trainer{T}.Stopping"/> was requested; the run resumes from <see cref="LastCheckpoint"/>.</summary>
    public bool Stopped { get; init; }
}

/// <summary>A checkpoint was written.</summary>
/// <param name="Path">The file.</param>
/// <param name="Step">Steps taken in all when it was written.</param>
/// <param name="Epoch">The epoch in progress.</param>
/// <param name="Samples">Samples of that epoch trained on.</param>
public sealed record CheckpointSaved(string Path, long Step, int Epoch, int Samples);

/// <summary>
/// Trains a network with minibatch gradient descent:
/// for each epoch, for each batch B (in a shuffled order):  θ ← update(θ, ∂/∂θ mean_{i∈B} L(f(x_i; θ), t_i)).
///
/// Each step is a <see cref="TrainingStep{T}"/>: copy the batch into the network's input buffer, forward,
/// check every layer's output, backward, check the loss and every gradient, optionally clip the global
/// gradient norm, set the scheduled learning rate, update. A step allocates nothing.
/// When the guard finds NaN, infinity or a magnitude above <see cref="TrainingOptions.ExplosionLimit"/>,
/// training stops before the update and before any checkpoint of that step, so the last
/// checkpoint is the last good state; the result names the step, the layer and the statistic.
///
/// Checkpoints (<see cref="TrainingOptions.CheckpointEvery"/>) hold the weights, the optimiser
/// state and step count, the shuffling generator, the epoch's sample order and position, and
/// the epoch's running statistics, so <see cref="Resume"/> continues bit for bit. A checkpoint that cannot be
/// written (a full disk, a read-only folder) stops training with <see cref="SaveFailedException"/>: the previous
/// checkpoint is intact, and the message says which step it holds.
/// </summary>
public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;
    private TrainingRun<T>? pending;
    private string? resumedFrom;
    private ulong? resumedData;
    private int resumedCount;

    /// <summary>Creates a trainer for <paramref name="network"/> (whose parameters are already initialised).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The options cannot be used (<see cref="TrainingOptions.Problem"/> says why).</exception>
    public Trainer(Network<T> network, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problem() is { } problem) throw new ArgumentOutOfRangeException(nameof(options), problem);
        this.network = network;
        Options = options;
        Optimizer = options.CreateOptimizer(network.Parameters);
    }

    /// <summary>
    /// Continues the run saved in the checkpoint at <paramref name="path"/>: its network (in precision
    /// <typeparamref name="T"/>, which must be the one it was trained in), optimiser state, position
    /// and statistics. <paramref name="adjust"/> may change the saved options (more epochs, a lower
    /// learning rate, ...); with none changed, <see cref="Fit(ImageDataSet, ImageDataSet?, CancellationToken)"/> ends bit for bit where the
    /// uninterrupted run would have. The optimiser cannot change.
    /// </summary>
    /// <exception cref="FileFormatException">The file is not a valid checkpoint.</exception>
    /// <exception cref="ArgumentException">The adjusted options cannot be used, or change the optimiser.</exception>
    public static Trainer<T> Resume(string path, Func<TrainingOptions, TrainingOptions>? adjust = null)
    {
        var checkpoint = CheckpointFile.Load<T>(path);
        var saved = checkpoint.Options;
        var options = adjust is null ? saved : adjust(saved);
        if (!string.Equals(options.Optimizer, saved.Optimizer, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{path} was trained with the {saved.Optimizer} optimiser, whose state it holds; it cannot resume with {options.Optimizer}");
        var trainer = new Trainer<T>(checkpoint.Network, options);
        for (int i = 0; i < checkpoint.OptimizerState.Length; i++) checkpoint.OptimizerState[i].CopyTo(trainer.Optimizer.State[i], 0);
        trainer.Optimizer.RestoreStepCount(checkpoint.Steps);
        trainer.Optimizer.LearningRate = options.LearningRate == saved.LearningRate ? checkpoint.LearningRate : options.LearningRate;
        if (options.StopEpsilon > 0 && checkpoint.Run.Snapshot is null)
            checkpoint.Run.Snapshot = trainer.Optimizer.Parameters.Select(p => (T[])p.Value.Clone()).ToArray(); // measure from here
        trainer.pending = checkpoint.Run;
        trainer.resumedFrom = path;
        trainer.resumedData = checkpoint.DataFingerprint;
        trainer.resumedCount = checkpoint.DataCount;
        trainer.Data = checkpoint.Data;
        return trainer;
    }

    /// <summary>The network trained.</summary>
    public Network<T> Network => network;

    /// <summary>
    /// The processes that share every batch (<see cref="TrainingStep{T}.Reducer"/>), or null for one process. Every
    /// rank runs the same <see cref="Fit(ImageDataSet, ImageDataSet?, CancellationToken)"/> on the same data and
    /// options; each computes its share of each batch and all end with the weights one process would have.
    /// Only rank 0 writes checkpoints.
    /// </summary>
    public IBatchReducer? Reducer { get; set; }

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The optimiser (its learning rate may be changed between epochs).</summary>
    public Optimizer<T> Optimizer { get; }

    /// <summary>Raised after every epoch (after the validation or test-set evaluation).</summary>
    public event Action<EpochResult>? EpochCompleted;

    /// <summary>Code run between the phases of every training step (<see cref="TrainingStep{T}.Hooks"/>), in order.</summary>
    public IList<ITrainingStepHook<T>> StepHooks { get; } = new List<ITrainingStepHook<T>>();

    /// <summary>Raised every <see cref="TrainingOptions.ProgressEvery"/> steps.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>
    /// Which data this run trains on, written into every checkpoint so that a resumed run can load the same data
    /// without being told (null: not recorded; the data are still checked by their fingerprint). <see cref="Resume"/>
    /// sets it from the checkpoint. It only describes the data; <see cref="Fit(ImageDataSet, ImageDataSet?, ImageDataSet?, CancellationToken)"/>
    /// trains on the sets it is given.
    /// </summary>
    public DataSelection? Data { get; set; }

    /// <summary>Raised after each checkpoint is written.</summary>
    public event Action<CheckpointSaved>? CheckpointSaved;

    /// <summary>
    /// Request a clean stop here, from any thread: training ends after the step in progress, writing a
    /// checkpoint to <see cref="TrainingOptions.CheckpointPath"/> when one is set (see <see cref="TrainingStop"/>).
    /// May be replaced before <see cref="Fit(ImageDataSet, ImageDataSet?, ImageDataSet?, CancellationToken)"/> by a stop shared with other code.
    /// </summary>
    public TrainingStop Stopping { get; set; } = new();

    /// <summary>Trains on <paramref name="train"/>, evaluating on <paramref name="test"/> after each epoch.</summary>
    /// <exception cref="ArgumentException">The data do not fit the network, or are not the data a resumed run was trained on.</exception>
    public TrainingResult Fit(ImageDataSet train, ImageDataSet? test = null, CancellationToken cancellation = default) =>
        Fit(train, validation: null, test, cancellation);

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="validation"/> after each epoch
    /// (<see cref="EpochResult.Validation"/>) when it is given, and otherwise on <paramref name="test"/>
    /// (<see cref="EpochResult.Test"/>): with a validation set the test set is not looked at during training, so
    /// that choices made on the epochs' figures (an epoch to keep, a setting) leave the final test figure honest.
    /// </summary>
    /// <exception cref="ArgumentException">The data do not fit the network, or are not the data a resumed run was trained on.</exception>
    /// <exception cref="SaveFailedException">A checkpoint could not be written; training stopped, the previous checkpoint is intact.</exception>
    /// <exception cref="MemoryBudgetException">The buffers for the batch would not fit in the memory the process may use (<see cref="MemoryEstimate"/>); nothing was allocated.</exception>
    public TrainingResult Fit(ImageDataSet train, ImageDataSet? validation, ImageDataSet? test, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckData(train, "training");
        if (validation is not null) CheckData(validation, "validation");
        if (test is not null) CheckData(test, "test");
        var perEpoch = validation ?? test;
        bool checkpoints = Options.CheckpointEvery > 0;
        bool canCheckpoint = !string.IsNullOrWhiteSpace(Options.CheckpointPath);
        var stopping = Stopping ?? throw new InvalidOperationException("Stopping must not be null");
        ulong fingerprint = canCheckpoint || resumedData is not null ? train.Fingerprint() : 0;
        if (resumedData is { } expected && (fingerprint != expected || train.Count != resumedCount))
            throw new ArgumentException($"{resumedFrom} was trained on {resumedCount} samples with fingerprint {expected:x16}; these {train.Count} samples (fingerprint {fingerprint:x16}) differ: resume on the same training data");

        // What the optimiser trains (not batch-norm running statistics) is what the stop threshold watches.
        var parameters = Optimizer.Parameters.ToArray();
        var run = pending ?? TrainingRun<T>.Start(Options.Seed, train.Count, parameters, Options.StopEpsilon > 0);
        pending = null;
        if (run.Order.Length != train.Count) throw new ArgumentException($"the run's sample order has {run.Order.Length} entries, the data {train.Count}");
        // The batch's buffers are sized before they are allocated (the parameters and the optimiser's state already exist).
        int evaluated = Math.Max(validation?.Count ?? 0, test?.Count ?? 0);
        int buffers = MemoryEstimate.RunBatch(Options.BatchSize, train.Count, Options.EvaluationBatchSize, evaluated);
        if (buffers > network.Capacity)
        {
            var estimate = MemoryEstimate.ForNetwork(network, buffers, Options.Optimizer);
            estimate.EnsureFits(allocated: MemoryMath.Add(estimate.ParameterBytes, estimate.OptimizerBytes));
        }
        var step = new TrainingStep<T>(network, Optimizer, Options, train.Count) { Reducer = Reducer };
        foreach (var hook in StepHooks) step.Hooks.Add(hook);
        int batch = step.BatchSize;
        int progressEvery = Options.ProgressEvery > 0 ? Options.ProgressEvery : Math.Max(1, train.Count / batch / 100);
        var epochs = new List<EpochResult>();
        string? lastCheckpoint = resumedFrom;

        TrainingResult Stop(string reason, bool diverged = false, Divergence? divergence = null) =>
            new(epochs, reason, diverged) { Divergence = divergence, Steps = Optimizer.StepCount, LastCheckpoint = lastCheckpoint };

        // A requested stop: the state after the last finished step goes to the checkpoint (unless this
        // very step's was just written), so a resumed run continues from exactly here.
        TrainingResult StopOnRequest(Stopwatch? clock, bool written)
        {
            if (clock is not null)
            {
                run.Seconds += clock.Elapsed.TotalSeconds;
                clock.Restart();
            }
            if (canCheckpoint && !written && Checkpoint() is { } bad) return Stop($"diverged ({bad.Describe()})", true, bad);
            return Stop($"stopped ({stopping.Reason})") with { Stopped = true };
        }

        TrainingResult Diverge(Divergence found, Stopwatch clock)
        {
            epochs.Add(Finish(run, null, clock, double.NaN));
            return Stop($"diverged ({found.Describe()})", true, found);
        }

        bool Capped() => Options.MaxSteps > 0 && Optimizer.StepCount >= Options.MaxSteps;

        // Writes a checkpoint unless a parameter went bad; returns what the guard found, if anything.
        Divergence? Checkpoint()
        {
            if (step.CheckParameters(run.Epoch) is { } bad) return bad;
            string path = Options.CheckpointPath!;
            if (Reducer is not { Rank: > 0 }) // rank 0 alone writes
            {
                try
                {
                    CheckpointFile.Save(path, network, Optimizer, Options, run, fingerprint, Data);
                }
                catch (SaveFailedException e)
                {
                    // A checkpoint that cannot be written stops the run: going on would train past the last state that can be resumed.
                    throw new SaveFailedException(path, $"{e.Message} (the checkpoint of step {Optimizer.StepCount}: training stopped there; " +
                        (lastCheckpoint is null ? "no checkpoint of this run was written before)" : $"{lastCheckpoint} holds the last one written)"), e);
                }
            }
            lastCheckpoint = path;
            CheckpointSaved?.Invoke(new CheckpointSaved(path, Optimizer.StepCount, run.Epoch, run.Seen));
            return null;
        }

        // A run that checkpoints has a checkpoint from its start, so even one that diverges at its
        // first step leaves the last state the guard passed (its initial weights).
        if (checkpoints && resumedFrom is null && Optimizer.StepCount == 0 && Checkpoint() is { } badStart)
            return Stop($"diverged ({badStart.Describe()})", true, badStart);

        for (; run.Epoch <= Options.Epochs; run.NextEpoch())
        {
            if (Capped() && !run.Shuffled) return Stop($"step cap ({Options.MaxSteps} steps)");
            if (stopping.IsRequested) return StopOnRequest(null, written: false);
            if (!run.Shuffled)
            {
                if (Options.Shuffle) run.Rng.Shuffle(run.Order);
                run.Shuffled = true;
            }
            network.Training = true;
            var clock = Stopwatch.StartNew();
            while (run.Position < train.Count && !Capped())
            {
                cancellation.ThrowIfCancellationRequested();
                int n = Math.Min(batch, train.Count - run.Position);
                var done = step.Run(train, run.Order.AsSpan(run.Position, n), run.Epoch);
                if (done.Divergence is { } found) return Diverge(found, clock);
                run.Position += n;
                run.LossSum += done.Loss * n;
                run.Correct += done.Correct;
                run.Seen += n;
                run.EpochSteps++;
                bool written = false;
                if (checkpoints && Optimizer.StepCount % Options.CheckpointEvery == 0)
                {
                    run.Seconds += clock.Elapsed.TotalSeconds;
                    clock.Restart();
                    if (Checkpoint() is { } badParameter) return Diverge(badParameter, clock);
                    written = true;
                }
                if (run.EpochSteps % progressEvery == 0)
                    Progress?.Invoke(new TrainingProgress(run.Epoch, run.Seen, train.Count, run.LossSum / run.Seen, (double)run.Correct / run.Seen, run.Seen / Seconds(run, clock)));
                // Not at an epoch's last step: that one ends with the epoch's evaluation and is checked below.
                if (stopping.IsRequested && run.Position < train.Count) return StopOnRequest(clock, written);
            }
            clock.Stop();
            if (step.CheckParameters(run.Epoch) is { } badEnd) return Diverge(badEnd, clock);
            bool complete = run.Position >= train.Count;
            // An epoch cut short by the step cap keeps its start snapshot, for a resumed run that finishes it.
            double change = run.Snapshot is null ? double.NaN : MaxChange(parameters, run.Snapshot, takeSnapshot: complete);
            var evaluation = perEpoch is null ? null : Evaluator.Evaluate(network, perEpoch, Options.EvaluationBatchSize);
            var result = validation is null ? Finish(run, evaluation, clock, change) : Finish(run, null, clock, change) with { Validation = evaluation };
            epochs.Add(result);
            EpochCompleted?.Invoke(result);
            string? reason = Capped() ? $"step cap ({Options.MaxSteps} steps)"
                : run.Snapshot is not null && change < Options.StopEpsilon ? $"converged (no parameter moved by {Options.StopEpsilon:G3} or more in epoch {run.Epoch}; largest change {change:G3})"
                : run.Epoch == Options.Epochs ? $"epochs ({Options.Epochs})"
                : stopping.IsRequested ? $"stopped ({stopping.Reason})"
                : null;
            if (reason is null) continue;
            if (checkpoints)
            {
                // The final checkpoint: at the next epoch's start, or mid-epoch when the step cap cut it short.
                run.Seconds += clock.Elapsed.TotalSeconds;
                if (complete) run.NextEpoch();
                if (Checkpoint() is { } bad) return Stop($"diverged ({bad.Describe()})", true, bad);
            }
            else if (stopping.IsRequested && canCheckpoint)
            {
                run.Seconds += clock.Elapsed.TotalSeconds;
                if (complete) run.NextEpoch();
                if (Checkpoint() is { } bad) return Stop($"diverged ({bad.Describe()})", true, bad);
            }
            return Stop(reason) with { Stopped = reason.StartsWith("stopped", StringComparison.Ordinal) };
        }
        return Stop($"epochs ({Options.Epochs})");
    }

    private void CheckData(ImageDataSet data, string which)
    {
        if (data.Count == 0) throw new ArgumentException($"the {which} set is empty", nameof(data));
        if (data.Shape.Size != network.InputShape.Size) throw new ArgumentException($"the {which} samples are {data.Shape}, the network takes {network.InputShape}");
        int top = data.Labels.Length == 0 ? 0 : MaxLabel(data.Labels);
        if (top >= network.Classes)
            throw new ArgumentException($"the {which} set has labels up to {top}, but the model has only {network.Classes} outputs (one per class)");
    }

    private static int MaxLabel(ReadOnlySpan<byte> labels)
    {
        int max = 0;
        foreach (byte b in labels) max = Math.Max(max, b);
        return max;
    }

    private static double Seconds(TrainingRun<T> run, Stopwatch clock) => Math.Max(run.Seconds + clock.Elapsed.TotalSeconds, 1e-9);

    private EpochResult Finish(TrainingRun<T> run, Evaluation? test, Stopwatch clock, double change)
    {
        double seconds = run.Seconds + clock.Elapsed.TotalSeconds;
        int seen = Math.Max(run.Seen, 1);
        return new(run.Epoch, Optimizer.StepCount, run.LossSum / seen, (double)run.Correct / seen, test, seconds, run.Seen / Math.Max(seconds, 1e-9), change);
    }

    /// <summary>Largest |θ - θ_snapshot| over every parameter, then (if asked) takes the new snapshot.</summary>
    private static double MaxChange(Parameter<T>[] parameters, T[][] snapshot, bool takeSnapshot)
    {
        double max = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            var v = parameters[i].Value;
            var s = snapshot[i];
            for (int j = 0; j < v.Length; j++) max = Math.Max(max, Math.Abs(double.CreateChecked(v[j] - s[j])));
            if (takeSnapshot) v.CopyTo(s, 0);
        }
        return max;
    }
}
