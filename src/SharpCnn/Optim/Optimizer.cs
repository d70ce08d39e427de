using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Optim;

/// <summary>
/// Updates parameters from their gradients. One <see cref="Step"/> per batch, after the
/// backward pass has filled every gradient. State (velocities, moments) is kept per
/// parameter, in the order the parameters were given, and can be saved and restored.
/// </summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Creates an optimiser over the trained ones of <paramref name="parameters"/>: non-trained
    /// <see cref="ParameterRole.State"/> tensors (batch-norm running statistics) are left out.
    /// </summary>
    protected Optimizer(IEnumerable<Parameter<T>> parameters, double learningRate)
    {
        Parameters = parameters.Where(p => p.IsTrained).ToArray();
        if (!(learningRate > 0) || double.IsInfinity(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be a positive number");
        LearningRate = learningRate;
    }

    /// <summary>The parameters updated, in order (the trained ones of those given).</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>Step size; may be changed between steps (schedules).</summary>
    public double LearningRate { get; set; }

    /// <summary>L2 weight decay λ: the gradient used is g + λ·w (for weights, not biases). 0 by default.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Number of steps taken.</summary>
    public long StepCount { get; protected set; }

    /// <summary>The optimiser's name as the CLI writes it.</summary>
    public abstract string Name { get; }

    /// <summary>Applies one update to every parameter from its current gradient.</summary>
    public void Step() => TakeStep(skipFused: false);

    /// <summary>
    /// One update; with <paramref name="skipFused"/> the parameters marked <see cref="Parameter{T}.Fused"/> are left
    /// alone (their layer applies the step's plain-SGD update itself, <see cref="Sgd{T}.FusedStep"/>).
    /// </summary>
    /// <remarks>
    /// The updated parameters are seen as one run of values (in order) cut into equal element ranges, and the ranges
    /// run on the kernels' threads as one job (<see cref="Parallelism"/>): each range applies the weight decay (unless
    /// the optimiser folds it) and then the update to the pieces of the parameters it covers. Every update is
    /// element-wise, so the values do not depend on the cut or the thread count; one job per step instead of one (or
    /// none: plain SGD and small tensors ran on one thread) per parameter, and the threads get equal shares. The ranges
    /// have fixed owners (<see cref="Parallelism.ForOwned{TWork}"/>): every step, each thread updates the same values and
    /// optimiser state, which then stay in its own cache (on cores without a shared L3 they no longer cross between the
    /// chips every step).
    /// </remarks>
    internal void TakeStep(bool skipFused)
    {
        BeginTakeStep();
        long total = 0;
        for (int i = 0; i < Parameters.Count; i++)
            if (!(skipFused && Parameters[i].Fused)) total += Parameters[i].Length;
        if (total == 0) return;
        var work = new StepWork { Optimizer = this, SkipFused = skipFused, Total = total, Parts = StepParts(total) };
        Parallelism.ForOwned(work.Parts, ref work);
    }

    /// <summary>Counts a step and computes its constants (<see cref="BeginStep"/>): before any piece of its update (<see cref="UpdatePiece"/>).</summary>
    internal void BeginTakeStep()
    {
        StepCount++;
        BeginStep();
    }

    /// <summary>
    /// The step's update of elements <paramref name="offset"/> .. + <paramref name="count"/> of parameter <paramref name="index"/>: the weight decay
    /// (unless the optimiser folds it), then <see cref="Update"/>. Element-wise, so any cut of a step into pieces gives the same values.
    /// </summary>
    internal void UpdatePiece(int index, int offset, int count)
    {
        var p = Parameters[index];
        Span<T> w = p.Value.AsSpan(offset, count), g = p.Gradient.AsSpan(offset, count);
        if (!FoldsWeightDecay && DecaysWeight(index)) Kernels.ElementwiseKernels.MultiplyAdd(w, T.CreateChecked(WeightDecay), g, g);
        Update(index, offset, w, g);
    }

    /// <summary>How many element ranges a step over <paramref name="total"/> values is cut into: one per 16 K values, at most two per thread.</summary>
    private static int StepParts(long total)
    {
        int threads = Parallelism.ThreadCount;
        return threads == 1 ? 1 : (int)Math.Clamp(total / 16384, 1, 2 * threads);
    }

    /// <summary>Range <paramref name="part"/> of <paramref name="parts"/> equal ranges of the updated parameters' values taken as one run.</summary>
    private void UpdateRange(int part, int parts, long total, bool skipFused)
    {
        long start = total * part / parts, end = total * (part + 1) / parts, offset = 0;
        for (int i = 0; i < Parameters.Count && offset < end; i++)
        {
            var p = Parameters[i];
            if (skipFused && p.Fused) continue;
            long lo = Math.Max(start, offset) - offset, hi = Math.Min(end, offset + p.Length) - offset;
            offset += p.Length;
            if (hi > lo) UpdatePiece(i, (int)lo, (int)(hi - lo));
        }
    }

    private ref struct StepWork : IPartitionedWork
    {
        public Optimizer<T> Optimizer;
        public bool SkipFused;
        public long Total;
        public int Parts;

        public readonly void Run(int partition) => Optimizer.UpdateRange(partition, Parts, Total, SkipFused);
    }

    /// <summary>Called once per step, after <see cref="StepCount"/> counted it and before any <see cref="Update"/>: where per-step constants are computed.</summary>
    protected virtual void BeginStep()
    {
    }

    /// <summary>
    /// True when <see cref="Update"/> applies the weight decay itself (the same operations, g + λ·w first, in the
    /// same pass as the update, leaving the gradient as it was); false: the decay is added to the gradient before.
    /// </summary>
    protected virtual bool FoldsWeightDecay => false;

    /// <summary>Whether parameter <paramref name="index"/> is decayed (a weight, and the decay is not zero).</summary>
    protected bool DecaysWeight(int index) => WeightDecay != 0 && Parameters[index].Role == ParameterRole.Weight;

    /// <summary>
    /// Updates the values <paramref name="w"/> of parameter <paramref name="index"/> from its gradient <paramref name="g"/>:
    /// the piece of them that starts at element <paramref name="offset"/> (the parameter's state at the same offset).
    /// Pieces of one step may run at the same time on different threads; each must touch only its own elements.
    /// </summary>
    protected abstract void Update(int index, int offset, Span<T> w, ReadOnlySpan<T> g);

    /// <summary>The optimiser's state arrays (for checkpoints); empty for plain SGD.</summary>
    public abstract IReadOnlyList<T[]> State { get; }

    /// <summary>Restores a step count saved with the state (the arrays in <see cref="State"/> are filled in place).</summary>
    public void RestoreStepCount(long steps) => StepCount = steps;
}

/// <summary>Creates optimisers by name.</summary>
public static class Optimizers
{
    /// <summary>The CLI names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["sgd", "momentum", "adam"];

    /// <summary>How many arrays of state, each as long as the parameter, the optimiser called <paramref name="name"/> keeps per trained parameter (sgd 0, momentum 1, adam 2).</summary>
    /// <exception cref="ArgumentException">There is no optimiser of that name.</exception>
    public static int StateArrays(string name) => name?.ToLowerInvariant() switch
    {
        "sgd" => 0,
        "momentum" => 1,
        "adam" => 2,
        _ => throw new ArgumentException($"unknown optimiser '{name}'; expected one of: {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>Creates the optimiser called <paramref name="name"/>.</summary>
    public static Optimizer<T> Create<T>(string name, IEnumerable<Parameter<T>> parameters, double learningRate, double momentum = 0.9, double weightDecay = 0)
        where T : unmanaged, IFloatingPointIeee754<T> => name.ToLowerInvariant() switch
    {
        "sgd" => new Sgd<T>(parameters, learningRate) { WeightDecay = weightDecay },
        "momentum" => new Momentum<T>(parameters, learningRate, momentum) { WeightDecay = weightDecay },
        "adam" => new Adam<T>(parameters, learningRate) { WeightDecay = weightDecay },
        _ => throw new ArgumentException($"unknown optimiser '{name}'; expected one of: {string.Join(", ", Names)}", nameof(name)),
    };
}
