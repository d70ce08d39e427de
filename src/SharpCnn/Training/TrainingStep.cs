using SharpCnn.Data;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Optim;

namespace SharpCnn.Training;

/// <summary>What one training step did.</summary>
/// <param name="Count">Samples in the batch.</param>
/// <param name="Loss">Mean loss of the batch (before the update); NaN when the guard stopped the step before the backward pass.</param>
/// <param name="Correct">Samples of the batch whose arg-max output was the label (before the update).</param>
/// <param name="Divergence">What the divergence guard found, or null: when set, the parameters were not updated.</param>
public readonly record struct StepResult(int Count, double Loss, int Correct, Divergence? Divergence)
{
    /// <summary>True when the guard stopped the step (see <see cref="Divergence"/>).</summary>
    public bool Diverged => Divergence is not null;
}

/// <summary>
/// Code run at fixed points of every <see cref="TrainingStep{T}"/>: where augmenting the batch, gathering
/// per-layer statistics or reducing gradients across processes go, without changing the step. Every method does
/// nothing unless overridden. They run on the training thread and, like the step, should allocate nothing.
/// </summary>
public interface ITrainingStepHook<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The batch of <paramref name="n"/> samples is in <see cref="Network{T}.Input"/> and its labels in
    /// <see cref="TrainingStep{T}.Labels"/>, before the forward pass: the inputs may be changed here.
    /// </summary>
    void BatchLoaded(TrainingStep<T> step, int n)
    {
    }

    /// <summary>The forward pass ran and the guard passed every layer's output (<see cref="Network{T}.Activation"/>).</summary>
    void Forwarded(TrainingStep<T> step, int n)
    {
    }

    /// <summary>
    /// The backward pass ran: every parameter's gradient holds ∂L/∂θ of this batch (and the activations are
    /// still those of its forward pass). Runs before the guard checks the loss and gradients, before clipping
    /// and before the update, so the gradients may be changed here.
    /// </summary>
    void BackwardDone(TrainingStep<T> step, int n, double loss)
    {
    }

    /// <summary>The optimiser updated the parameters (<see cref="Optimizer{T}.StepCount"/> counts this step).</summary>
    void Updated(TrainingStep<T> step, in StepResult result)
    {
    }
}

/// <summary>
/// One step of minibatch gradient descent, the one every trainer, benchmark and profiler runs:
/// <list type="number">
/// <item>load: copy the batch's samples into the network's input buffer and their labels into <see cref="Labels"/>;</item>
/// <item>zero every gradient and fix the step's random choices (<see cref="Network{T}.SetStep"/> with
///   <see cref="TrainingOptions.Seed"/> and the optimiser's step count);</item>
/// <item>forward, then the divergence guard on every layer's output; count the samples classified right;</item>
/// <item>backward, then the guard on the loss and on every gradient (which also gives the global gradient norm);</item>
/// <item>clip the gradients to <see cref="TrainingOptions.ClipNorm"/>, set the learning rate of the step from
///   <see cref="TrainingOptions.Schedule"/> (a constant schedule leaves a rate set by hand alone), and update.</item>
/// </list>
/// When the guard finds NaN, infinity or a magnitude above <see cref="TrainingOptions.ExplosionLimit"/> the step
/// stops there, before the update, and says what it found (a benchmark of the arithmetic alone may turn the
/// guard off, see <see cref="Guarded"/>). Hooks (<see cref="Hooks"/>) run between the phases.
/// A step allocates nothing: the buffers are reserved for <see cref="BatchSize"/> samples when it is made.
/// With plain SGD, no clipping, no hooks and a batch this process computes alone, layers that can
/// (<see cref="Layers.Layer{T}.CanFuseSgd"/>: a dense layer at batch 1) fold the update into their backward pass
/// instead of writing their gradients: during it when the step is not guarded, right after the guard when it is
/// (so a stopped step still updates nothing); the weights are bit for bit those of the unfused step.
/// An unguarded step with no clipping and no hooks, in one process on several threads, runs the optimiser's update
/// beside the backward pass instead (<see cref="OverlappedUpdate{T}"/>): each layer's parameters as soon as its backward
/// pass is done, on the helper threads, while the layers below go backward; again the same bits.
/// </summary>
public sealed class TrainingStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly DivergenceGuard<T> guard;
    private readonly int[] labels;
    private readonly List<ITrainingStepHook<T>> hooks = [];

    /// <summary>
    /// Makes the step for <paramref name="network"/> (parameters initialised) and <paramref name="optimizer"/> (over its
    /// parameters), for a training set of <paramref name="samples"/> samples: batches hold up to
    /// min(<see cref="TrainingOptions.BatchSize"/>, <paramref name="samples"/>) of them, and the learning-rate schedule
    /// spans <see cref="TrainingOptions.Epochs"/> passes over them (or <see cref="TrainingOptions.MaxSteps"/> steps).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The options cannot be used (<see cref="TrainingOptions.Problem"/> says why), or <paramref name="samples"/> is not positive.</exception>
    public TrainingStep(Network<T> network, Optimizer<T> optimizer, TrainingOptions options, int samples)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problem() is { } problem) throw new ArgumentOutOfRangeException(nameof(options), problem);
        if (samples <= 0) throw new ArgumentOutOfRangeException(nameof(samples), samples, "a training set needs at least one sample");
        Network = network;
        Optimizer = optimizer;
        Options = options;
        BatchSize = Math.Min(options.BatchSize, samples);
        StepsPerEpoch = (samples + BatchSize - 1) / BatchSize;
        TotalSteps = options.MaxSteps > 0 ? Math.Min(options.MaxSteps, options.Epochs * StepsPerEpoch) : options.Epochs * StepsPerEpoch;
        network.Reserve(BatchSize);
        labels = new int[BatchSize];
        guard = new DivergenceGuard<T>(network, options.ExplosionLimit);
    }

    /// <summary>The network trained.</summary>
    public Network<T> Network { get; }

    /// <summary>The optimiser that updates it; its step count numbers the steps.</summary>
    public Optimizer<T> Optimizer { get; }

    /// <summary>The settings the step uses: seed, explosion limit, clipping, learning rate and schedule.</summary>
    public TrainingOptions Options { get; }

    /// <summary>
    /// Whether the divergence guard checks the step (true unless set otherwise). Only a measurement of the
    /// arithmetic alone (<c>sharpcnn bench</c>, to compare with earlier figures and with frameworks that have no
    /// guard) turns it off: then no output, loss or gradient is checked and a diverging step updates the
    /// parameters with what it computed, except that clipping (<see cref="TrainingOptions.ClipNorm"/>) still
    /// computes the gradients' norm and with it reports a gradient that is not finite or over the limit.
    /// </summary>
    public bool Guarded { get; init; } = true;

    /// <summary>The largest batch a step takes.</summary>
    public int BatchSize { get; }

    /// <summary>Steps per pass over the training set (the schedule's epoch).</summary>
    public long StepsPerEpoch { get; }

    /// <summary>Steps of the whole run (the schedule's horizon).</summary>
    public long TotalSteps { get; }

    /// <summary>Code run between the phases of every step, in order (empty by default).</summary>
    public IList<ITrainingStepHook<T>> Hooks => hooks;

    /// <summary>The labels of the last batch loaded (its first <paramref name="n"/>).</summary>
    public ReadOnlySpan<int> Labels(int n) => labels.AsSpan(0, n);

    /// <summary>
    /// Trains one step on the samples of <paramref name="data"/> at <paramref name="indices"/> (a batch of
    /// 1 to <see cref="BatchSize"/>); <paramref name="epoch"/> only dates what the guard reports.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch is empty or larger than <see cref="BatchSize"/>.</exception>
    public StepResult Run(ImageDataSet data, ReadOnlySpan<int> indices, int epoch = 1)
    {
        ArgumentNullException.ThrowIfNull(data);
        int n = indices.Length;
        if (n < 1 || n > BatchSize) throw new ArgumentOutOfRangeException(nameof(indices), n, $"a step takes 1 to {BatchSize} samples");
        BatchShare? share = null;
        if (Reducer is { Ranks: > 1 } reducer)
        {
            reducer.BeginStep(Optimizer.StepCount + 1);
            share = ShareOf(n, reducer);
        }
        Network.Share = share;
        int first = share?.FirstSample ?? 0, local = share?.Count ?? n;
        data.CopyBatch<T>(indices.Slice(first, local), Network.Input(local), labels.AsSpan(0, local));
        for (int i = 0; i < hooks.Count; i++) hooks[i].BatchLoaded(this, local);
        var result = Train(local, epoch);
        return share is { Split: true } ? result with { Count = n } : result;
    }

    private readonly Dictionary<int, BatchShare> shares = [];

    private BatchShare ShareOf(int n, IBatchReducer reducer)
    {
        if (!shares.TryGetValue(n, out var share)) shares[n] = share = new BatchShare(n, reducer);
        return share;
    }

    private readonly double[] localCorrect = new double[1];
    private double[] allCorrect = [];

    /// <summary>Samples classified right over the whole batch (every process's count).</summary>
    private int GlobalCorrect(int correct)
    {
        if (Network.Share is not { Split: true } share) return correct;
        if (allCorrect.Length != share.Reducer.Ranks) allCorrect = new double[share.Reducer.Ranks];
        localCorrect[0] = correct;
        share.GatherDoubles(localCorrect, allCorrect);
        double total = 0;
        foreach (double c in allCorrect) total += c;
        return (int)total;
    }

    /// <summary>
    /// The processes that share every batch (null or one rank: this process computes whole batches). With N &gt; 1
    /// ranks each computes its share of each batch handed to <see cref="Run"/> (every rank hands in the same
    /// batch) and the ranks exchange their sums, so every rank updates to the bits one process would.
    /// </summary>
    public IBatchReducer? Reducer { get; init; }

    /// <summary>Everything after the load: forward, backward, the guard's checks, clipping, schedule, update.</summary>
    private StepResult Train(int n, int epoch)
    {
        var fusion = FusionOf();
        try
        {
            return Train(n, epoch, fusion);
        }
        finally
        {
            if (fusion != SgdFusion.None) Network.PrepareFusedSgd(n, SgdFusion.None, default);
        }
    }

    /// <summary>
    /// Whether the step folds plain SGD's update into the layers' backward passes (the layers that can, for the
    /// batch: <see cref="Layers.Layer{T}.CanFuseSgd"/>): only with plain SGD (with or without weight decay), no
    /// clipping (it needs the whole gradient's norm), no hooks (they may read or change the gradients) and a batch
    /// this process computes alone. Guarded steps defer the update until the guard has passed the step.
    /// </summary>
    private SgdFusion FusionOf()
    {
        if (Optimizer is not Sgd<T> || Options.ClipNorm > 0 || hooks.Count > 0 || Network.Share is { Split: true }) return SgdFusion.None;
        return Guarded ? SgdFusion.Deferred : SgdFusion.InBackward;
    }

    private StepResult Train(int n, int epoch, SgdFusion fusion)
    {
        var network = Network;
        var optimizer = Optimizer;
        long step = optimizer.StepCount + 1;
        if (fusion == SgdFusion.InBackward) SetRate(); // nothing can stop an unguarded step without clipping after the backward pass
        bool fused = fusion != SgdFusion.None && network.PrepareFusedSgd(n, fusion, ((Sgd<T>)optimizer).FusedStep);
        network.ClearGradients(skipFused: fused, deferToBackward: true); // a gradient its layer writes whole is cleared by that write
        network.SetStep(Options.Seed, optimizer.StepCount);
        var output = network.Forward(n);
        if (Guarded && guard.CheckOutputs(n, step, epoch) is { } exploded)
        {
            network.FinishClearing(); // no backward pass: the gradients end zero, as every stopped step leaves them
            return new StepResult(n, double.NaN, 0, exploded);
        }
        int classes = network.Classes;
        int correct = 0;
        for (int s = 0; s < n; s++)
            if (Evaluator.ArgMax(output.Slice(s * classes, classes)) == labels[s]) correct++;
        correct = GlobalCorrect(correct);
        for (int i = 0; i < hooks.Count; i++) hooks[i].Forwarded(this, n);

        if (OverlapsUpdate(fused))
        {
            // Nothing can stop the step after the backward pass: the update runs beside it (OverlappedUpdate), the rate set first
            // (already above when plain SGD's fusion was asked for in the backward pass).
            if (fusion != SgdFusion.InBackward) SetRate();
            double overlappedLoss = OverlappedBackward(n);
            return new StepResult(n, overlappedLoss, correct, null);
        }
        double loss = double.CreateChecked(network.Backward(labels.AsSpan(0, n), n));
        for (int i = 0; i < hooks.Count; i++) hooks[i].BackwardDone(this, n, loss);
        if (Guarded && guard.CheckLoss(loss, step, epoch) is { } badLoss) return new StepResult(n, loss, correct, badLoss);
        if (Options.ClipNorm > 0)
        {
            if (guard.CheckGradients(step, epoch, out double norm) is { } badGradient) return new StepResult(n, loss, correct, badGradient);
            guard.Clip(norm, Options.ClipNorm);
        }
        else if (Guarded && guard.CheckGradients(step, epoch) is { } badGradient)
        {
            return new StepResult(n, loss, correct, badGradient);
        }
        SetRate();
        optimizer.TakeStep(skipFused: fused);
        if (fused && fusion == SgdFusion.Deferred) network.ApplyDeferredSgd(n, ((Sgd<T>)optimizer).FusedStep);
        var result = new StepResult(n, loss, correct, null);
        for (int i = 0; i < hooks.Count; i++) hooks[i].Updated(this, result);
        return result;
    }

    private OverlappedUpdate<T>? overlapped;

    /// <summary>
    /// Whether the update runs beside the backward pass (<see cref="OverlappedUpdate{T}"/>): only when nothing may read or stop it
    /// in between (an unguarded step, no clipping, no hooks), no layer folds plain SGD's update into its backward pass instead, the
    /// batch is this process's alone (a shared batch's gradients are final only at the end of the pass) and there are helper
    /// threads to run it.
    /// </summary>
    private bool OverlapsUpdate(bool fused) =>
        !Guarded && !fused && !(Options.ClipNorm > 0) && hooks.Count == 0 && Network.Share is not { Split: true }
        && Kernels.Parallelism.ThreadCount > 1;

    /// <summary>The backward pass with the update beside it; returns the loss.</summary>
    private double OverlappedBackward(int n)
    {
        var update = overlapped ??= new OverlappedUpdate<T>(Network, Optimizer);
        update.Begin();
        double loss;
        try
        {
            loss = double.CreateChecked(Network.Backward(labels.AsSpan(0, n), n, inputGradient: false, update));
        }
        catch
        {
            OverlappedUpdate<T>.Abandon();
            throw;
        }
        update.Finish();
        OverlappedSteps++;
        return loss;
    }

    /// <summary>Steps whose update ran beside the backward pass (for tests: that the path they check was taken).</summary>
    internal long OverlappedSteps { get; private set; }

    /// <summary>Sets the learning rate of the coming step from the schedule (a constant schedule leaves a rate set by hand alone).</summary>
    private void SetRate()
    {
        if (Options.Schedule.Kind != ScheduleKind.Constant)
            Optimizer.LearningRate = Options.Schedule.Rate(Options.LearningRate, Optimizer.StepCount, StepsPerEpoch, TotalSteps);
    }

    /// <summary>
    /// Checks every parameter's values (before a checkpoint is written, at an epoch's end); <paramref name="epoch"/>
    /// dates the report. Null when all are finite and within the limit.
    /// </summary>
    public Divergence? CheckParameters(int epoch) => guard.CheckParameters(Optimizer.StepCount, epoch);
}
