using SharpCnn.Tensors;

namespace SharpCnn.Training;

/// <summary>
/// Where a training run is, besides the weights and the optimiser: the epoch, the next
/// sample of the epoch's order, the order itself, the shuffling generator and the
/// epoch's running statistics. A checkpoint stores exactly this (with the weights and
/// the optimiser state), so a run resumed from it continues bit for bit as if it had
/// never stopped.
/// </summary>
internal sealed class TrainingRun<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>1-based epoch in progress (or about to start).</summary>
    public int Epoch { get; set; } = 1;

    /// <summary>Index into <see cref="Order"/> of the next sample to train on.</summary>
    public int Position { get; set; }

    /// <summary>True once this epoch's order has been drawn (false at an epoch's start).</summary>
    public bool Shuffled { get; set; }

    /// <summary>Steps taken in this epoch.</summary>
    public int EpochSteps { get; set; }

    /// <summary>Sum over this epoch's samples of their loss.</summary>
    public double LossSum { get; set; }

    /// <summary>Samples of this epoch the network classified right (before its update).</summary>
    public int Correct { get; set; }

    /// <summary>Samples of this epoch trained on.</summary>
    public int Seen { get; set; }

    /// <summary>Wall time of this epoch's steps before the current session (after a resume).</summary>
    public double Seconds { get; set; }

    /// <summary>The order of the training samples; shuffled in place at each epoch's start.</summary>
    public required int[] Order { get; init; }

    /// <summary>The shuffling generator.</summary>
    public required Rng Rng { get; init; }

    /// <summary>The parameters at this epoch's start, for the stop threshold (null when it is off).</summary>
    public T[][]? Snapshot { get; set; }

    /// <summary>A run at its very start.</summary>
    public static TrainingRun<T> Start(ulong seed, int count, IReadOnlyList<Parameter<T>> parameters, bool snapshot)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        return new TrainingRun<T>
        {
            Order = order,
            Rng = new Rng(seed),
            Snapshot = snapshot ? parameters.Select(p => (T[])p.Value.Clone()).ToArray() : null,
        };
    }

    /// <summary>Moves to the next epoch's start.</summary>
    public void NextEpoch()
    {
        Epoch++;
        Position = 0;
        Shuffled = false;
        EpochSteps = 0;
        LossSum = 0;
        Correct = 0;
        Seen = 0;
        Seconds = 0;
    }
}
