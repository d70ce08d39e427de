using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>What one layer of a network needs to train: its parameters (values, gradients, optimiser state), its output for the batch, and its scratch (the output gradients share two buffers, counted in <see cref="MemoryEstimate.ActivationBytes"/> only).</summary>
/// <param name="Position">1-based position in the network.</param>
/// <param name="Token">The layer's spec token.</param>
/// <param name="Input">Per-sample input shape.</param>
/// <param name="Output">Per-sample output shape.</param>
/// <param name="Bytes">Bytes in all (saturating at <see cref="long.MaxValue"/>).</param>
public sealed record LayerMemory(int Position, string Token, Shape Input, Shape Output, long Bytes);

/// <summary>
/// The memory a network needs to train with batches of a given size, estimated before anything is allocated:
/// parameters and their gradients, the optimiser's state, every layer's output for the batch and the two buffers its gradients take turns in,
/// and the kernels' workspace (column matrices per kernel thread, per-chunk partial gradients, pooling indices).
/// <see cref="ForSpec{T}"/> sizes a spec's layers without allocating their parameters; all arithmetic is in
/// <c>long</c> and saturates instead of overflowing, so a spec of any size gives a number. <see cref="EnsureFits(long)"/>
/// compares the total with the memory the process may use (<see cref="AvailableMemory.Measure()"/>) and refuses,
/// naming the largest layer and the bytes needed versus available. The data sets themselves are not counted
/// (they are loaded, and measured, before).
/// </summary>
public sealed class MemoryEstimate
{
    private MemoryEstimate(int batch, long parameters, long optimizer, long activations, long workspace, IReadOnlyList<LayerMemory> layers)
    {
        Batch = batch;
        ParameterBytes = parameters;
        OptimizerBytes = optimizer;
        ActivationBytes = activations;
        WorkspaceBytes = workspace;
        Layers = layers;
        TotalBytes = MemoryMath.Add(MemoryMath.Add(parameters, optimizer), MemoryMath.Add(activations, workspace));
        Largest = layers.Count == 0 ? null : layers.MaxBy(l => l.Bytes);
    }

    /// <summary>The batch size the buffers are sized for.</summary>
    public int Batch { get; }

    /// <summary>Parameter values and their gradients (every parameter keeps both).</summary>
    public long ParameterBytes { get; }

    /// <summary>The optimiser's state: none for SGD, one array per trained parameter for momentum, two for Adam.</summary>
    public long OptimizerBytes { get; }

    /// <summary>The input and its gradient, every layer's output, and the two buffers the outputs' gradients take turns in (<see cref="Network{T}"/>), for <see cref="Batch"/> samples.</summary>
    public long ActivationBytes { get; }

    /// <summary>The layers' scratch for the batch and the kernel threads' shared scratch.</summary>
    public long WorkspaceBytes { get; }

    /// <summary>Everything: <see cref="ParameterBytes"/> + <see cref="OptimizerBytes"/> + <see cref="ActivationBytes"/> + <see cref="WorkspaceBytes"/> (saturating).</summary>
    public long TotalBytes { get; }

    /// <summary>Each layer's share (the kernel threads' shared scratch is in no layer's).</summary>
    public IReadOnlyList<LayerMemory> Layers { get; }

    /// <summary>The layer that needs the most.</summary>
    public LayerMemory? Largest { get; }

    /// <summary>
    /// Sizes the network <paramref name="spec"/> describes for inputs of <paramref name="input"/> (or the spec's own),
    /// trained with batches of <paramref name="batch"/> by <paramref name="optimizer"/>, without allocating its parameters.
    /// </summary>
    /// <param name="spec">The architecture.</param>
    /// <param name="input">Per-sample input shape, or null for the spec's input token.</param>
    /// <param name="batch">Samples per step (the largest batch the buffers must hold).</param>
    /// <param name="optimizer">sgd, momentum or adam.</param>
    /// <param name="threads">Kernel threads (default: <see cref="Kernels.Parallelism.ThreadCount"/>).</param>
    /// <exception cref="ModelSpecException">The spec does not fit the input.</exception>
    public static MemoryEstimate ForSpec<T>(ModelSpec spec, Shape? input, int batch, string optimizer = "sgd", int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(spec);
        Network<T> plan;
        using (ParameterBudget.Plan()) plan = spec.Build<T>(input);
        return ForNetwork(plan, batch, optimizer, threads);
    }

    /// <summary>
    /// The batch a run's buffers grow to: the training batch (at most the training samples) or the evaluation batch
    /// (at most the largest evaluated set), whichever is larger.
    /// </summary>
    /// <param name="batchSize">Samples per training step.</param>
    /// <param name="trainCount">Training samples.</param>
    /// <param name="evaluationBatchSize">Samples per evaluation batch.</param>
    /// <param name="evaluationCount">Samples of the largest set evaluated (0 for none).</param>
    public static int RunBatch(int batchSize, int trainCount, int evaluationBatchSize, int evaluationCount) =>
        Math.Max(1, Math.Max(Math.Min(batchSize, trainCount), Math.Min(evaluationBatchSize, evaluationCount)));

    /// <summary>Sizes an existing <paramref name="network"/> (already allocated or only planned) for training with batches of <paramref name="batch"/>.</summary>
    /// <inheritdoc cref="ForSpec{T}"/>
    public static MemoryEstimate ForNetwork<T>(Network<T> network, int batch, string optimizer = "sgd", int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        int stateArrays = Optimizers.StateArrays(optimizer);
        int threadCount = threads ?? Kernels.Parallelism.ThreadCount;
        long parameters = 0, state = 0, layerScratch = 0, threadScratch = 0;
        // The input and its gradient, every layer's output, and the two buffers the output gradients take turns in.
        long activations = MemoryMath.Bytes<T>(2L * batch, network.InputShape.Size);
        var (firstGradients, secondGradients) = network.GradientBufferLengths(batch);
        activations = MemoryMath.Add(activations, MemoryMath.Add(MemoryMath.Bytes<T>(firstGradients, 1), MemoryMath.Bytes<T>(secondGradients, 1)));
        var layers = new List<LayerMemory>(network.Layers.Count);
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            long own = 0, ownState = 0;
            foreach (var p in layer.Parameters)
            {
                own = MemoryMath.Add(own, MemoryMath.Bytes<T>(2, p.PlannedLength));
                if (p.IsTrained) ownState = MemoryMath.Add(ownState, MemoryMath.Bytes<T>(stateArrays, p.PlannedLength));
            }
            long output = MemoryMath.Bytes<T>(batch, layer.OutputShape.Size); // its gradient is in the shared buffers
            long scratch = layer.ScratchBytes(batch);
            threadScratch = Math.Max(threadScratch, layer.ThreadScratchBytes);
            parameters = MemoryMath.Add(parameters, own);
            state = MemoryMath.Add(state, ownState);
            activations = MemoryMath.Add(activations, output);
            layerScratch = MemoryMath.Add(layerScratch, scratch);
            layers.Add(new LayerMemory(k + 1, layer.Token, layer.InputShape, layer.OutputShape,
                MemoryMath.Add(MemoryMath.Add(own, ownState), MemoryMath.Add(output, scratch))));
        }
        long workspace = MemoryMath.Add(layerScratch, MemoryMath.Multiply(threadScratch, threadCount));
        return new MemoryEstimate(batch, parameters, state, activations, workspace, layers);
    }

    /// <summary>One line: the total, its parts, and the largest layer.</summary>
    public string Describe() =>
        $"needs {MemoryMath.Format(TotalBytes)} (parameters and gradients {MemoryMath.Format(ParameterBytes)}, optimiser state {MemoryMath.Format(OptimizerBytes)}, " +
        $"activations and their gradients for batches of {Batch} {MemoryMath.Format(ActivationBytes)}, workspace {MemoryMath.Format(WorkspaceBytes)})" +
        (Largest is { } l ? $"; the largest is layer {l.Position} '{l.Token}' ({l.Input} -> {l.Output}), {MemoryMath.Format(l.Bytes)}" : "");

    /// <summary>
    /// Refuses, before anything more is allocated, when <see cref="TotalBytes"/> less <paramref name="allocated"/> (what
    /// already exists, such as the parameters of a network that is built) is more than <paramref name="available"/>.
    /// </summary>
    /// <param name="available">Bytes the process may still use (see <see cref="AvailableMemory.Measure()"/>).</param>
    /// <param name="source">Where that figure comes from, for the message (e.g. "the control group limit").</param>
    /// <param name="allocated">Bytes of the estimate that are already allocated.</param>
    /// <exception cref="MemoryBudgetException">The estimate is more than is available.</exception>
    public void EnsureFits(long available, string source, long allocated = 0)
    {
        if (TotalBytes - Math.Clamp(allocated, 0, TotalBytes) > available) throw new MemoryBudgetException(this, available, source, allocated);
    }

    /// <summary>Refuses when the estimate (less <paramref name="allocated"/>) is more than the memory the process may use now (<see cref="AvailableMemory.Measure()"/>).</summary>
    /// <exception cref="MemoryBudgetException">The estimate is more than is available.</exception>
    public void EnsureFits(long allocated = 0)
    {
        var (available, source) = AvailableMemory.Measure();
        EnsureFits(available, source, allocated);
    }
}

/// <summary>A network or batch that would not fit in the memory the process may use, refused before it was allocated.</summary>
public sealed class MemoryBudgetException : OutOfMemoryException
{
    /// <summary>Makes the exception for <paramref name="estimate"/> against <paramref name="available"/> bytes from <paramref name="source"/>.</summary>
    public MemoryBudgetException(MemoryEstimate estimate, long available, string source, long allocated = 0)
        : base($"training this network {estimate.Describe()}, but {(allocated > 0 ? $"beyond the {MemoryMath.Format(allocated)} of it already allocated only " : "")}{MemoryMath.Format(available)} is available ({source})")
    {
        Estimate = estimate;
        AvailableBytes = available;
        AvailableSource = source;
    }

    /// <summary>What was needed.</summary>
    public MemoryEstimate Estimate { get; }

    /// <summary>Bytes the process could use.</summary>
    public long AvailableBytes { get; }

    /// <summary>Where <see cref="AvailableBytes"/> comes from.</summary>
    public string AvailableSource { get; }
}
