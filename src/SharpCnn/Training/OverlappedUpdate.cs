using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Optim;

namespace SharpCnn.Training;

/// <summary>
/// An optimiser's update run beside the backward pass (an unguarded step with no clipping, no hooks and a batch this process
/// computes alone): once a layer's backward pass has written its parameters' gradients, nothing reads or changes them again
/// before the update, so the update of those parameters is handed to the kernels' helper threads as background work
/// (<see cref="Parallelism.BeginBackground"/>) while the layers below go backward. The update is memory-bound (Adam reads and
/// writes four values per weight) and the convolutions' backward passes are compute-bound, so a helper streaming the dense
/// layers' update beside them costs less than a separate phase in which every thread waits on memory. Every update is
/// element-wise, so the cut into pieces and the threads that run them change no bit: the weights are those of
/// <see cref="Optimizer{T}.Step"/> after the backward pass.
/// </summary>
internal sealed class OverlappedUpdate<T> : BackgroundWork, IBackwardProgress where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Largest piece, in values: tens of microseconds of Adam, so a helper that took one keeps the job's caller waiting little.</summary>
    internal const int PieceValues = 32768;

    private readonly Optimizer<T> optimizer;
    private readonly (int Parameter, int Offset, int Count)[] pieces;
    private readonly int[] readyFrom;
    private int next, ready;

    /// <summary>The update of <paramref name="optimizer"/>'s parameters, cut into pieces ordered by the layer of <paramref name="network"/> that owns them, last layer first.</summary>
    public OverlappedUpdate(Network<T> network, Optimizer<T> optimizer)
    {
        this.optimizer = optimizer;
        var layers = network.Layers;
        var parameters = optimizer.Parameters;
        // The layer that owns each updated parameter (-1 for one no layer owns: updated at Finish).
        var owner = new int[parameters.Count];
        for (int i = 0; i < parameters.Count; i++)
        {
            owner[i] = -1;
            for (int k = 0; k < layers.Count && owner[i] < 0; k++)
                foreach (var p in layers[k].Parameters)
                    if (ReferenceEquals(p, parameters[i])) owner[i] = k;
        }
        var order = Enumerable.Range(0, parameters.Count).OrderByDescending(i => owner[i]).ThenBy(i => i).ToArray();
        var list = new List<(int, int, int)>();
        readyFrom = new int[layers.Count + 1];
        foreach (int i in order)
            for (int offset = 0; offset < parameters[i].Length; offset += PieceValues)
                list.Add((i, offset, Math.Min(PieceValues, parameters[i].Length - offset)));
        pieces = list.ToArray();
        for (int k = 0; k <= layers.Count; k++)
            readyFrom[k] = list.Count(piece => owner[piece.Item1] >= k);
    }

    /// <summary>Counts the step (the optimiser's constants for it) and hands the update to this thread's jobs; no piece is ready yet.</summary>
    public void Begin()
    {
        optimizer.BeginTakeStep();
        next = 0;
        Volatile.Write(ref ready, 0);
        Parallelism.BeginBackground(this);
    }

    /// <inheritdoc />
    public void LayersDone(int layer) => Volatile.Write(ref ready, readyFrom[layer]);

    /// <summary>Updates whatever is left, on every thread, and returns when the whole update is done.</summary>
    public void Finish()
    {
        Volatile.Write(ref ready, pieces.Length);
        Parallelism.FinishBackground(this);
    }

    /// <summary>Stops handing out pieces after a failed backward pass (the update is left part done).</summary>
    public static void Abandon() => Parallelism.AbandonBackground();

    /// <inheritdoc />
    public override bool TryRunPiece()
    {
        int i;
        do
        {
            i = Volatile.Read(ref next);
            if (i >= Volatile.Read(ref ready)) return false;
        }
        while (Interlocked.CompareExchange(ref next, i + 1, i) != i);
        var (parameter, offset, count) = pieces[i];
        optimizer.UpdatePiece(parameter, offset, count);
        return true;
    }
}
