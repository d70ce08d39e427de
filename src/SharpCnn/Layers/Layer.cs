using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// A layer: a function y = f(x; θ) on a batch of samples and its exact backward pass.
///
/// Shapes are per sample (<see cref="InputShape"/>, <see cref="OutputShape"/>); a batch
/// of n samples is one contiguous NCHW block, so x has n * InputShape.Size values and
/// y has n * OutputShape.Size values.
///
/// Lifecycle (as in Caffe): <see cref="Build"/> once with the input shape (checks it
/// and creates the parameters), initialise the parameters (Model.Initializer),
/// <see cref="Reserve"/> scratch memory for the largest batch, then any number of
/// <see cref="Forward"/> / <see cref="Backward"/> pairs that allocate nothing.
///
/// Backward contract: given x, the y that Forward produced from it, and dy = ∂L/∂y,
/// it ADDS ∂L/∂θ into each parameter's gradient and WRITES ∂L/∂x into dx (dx may be
/// empty when nobody needs the input gradient, e.g. for the first layer). The one exception: a layer that a
/// training step asks to fold plain SGD's update into its backward pass (<see cref="Fusion"/>) updates its
/// parameters instead of writing their gradients. Backward
/// must follow the Forward of the same batch: layers may keep what Forward found
/// (arg-max positions, norms) for it.
/// </summary>
public abstract class Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Parameter<T>[] parameters = [];

    /// <summary>The per-sample input shape, set by <see cref="Build"/>.</summary>
    public Shape InputShape { get; private set; }

    /// <summary>The per-sample output shape, set by <see cref="Build"/>.</summary>
    public Shape OutputShape { get; private set; }

    /// <summary>True once <see cref="Build"/> has run.</summary>
    public bool IsBuilt { get; private set; }

    /// <summary>The description of this layer (its kind and options), which recreates it: <c>Spec.Create&lt;T&gt;()</c>.</summary>
    public abstract LayerSpec Spec { get; }

    /// <summary>The model-spec token that recreates this layer, e.g. <c>conv5x5x32:same</c>.</summary>
    public string Token => Spec.Token;

    /// <summary>Trainable parameters (empty for layers without any).</summary>
    public IReadOnlyList<Parameter<T>> Parameters => parameters;

    /// <summary>True in training mode (dropout drops, batch norm uses batch statistics); false for evaluation.</summary>
    public bool Training { get; set; } = true;

    /// <summary>
    /// The share of a global batch the next training passes compute (set through <see cref="Model.Network{T}.Share"/>),
    /// or null when the batch handed to <see cref="Forward"/> is the whole batch. Sums over the batch follow
    /// <see cref="Kernels.BatchTree"/>'s blocks and tree in either case; with a split share they are completed
    /// with the other processes' subtrees.
    /// </summary>
    public Training.BatchShare? Share { get; internal set; }

    /// <summary>Samples in the whole batch of a training pass over <paramref name="n"/> local samples.</summary>
    protected int GlobalCount(int n) => Share is { Split: true } share ? share.GlobalCount : n;

    /// <summary>Global index of the first local sample of a training pass (0 unless the batch is split).</summary>
    protected int FirstSample => Share is { Split: true } share ? share.FirstSample : 0;

    /// <summary>True when the batch's sums must be completed with the other processes' subtrees.</summary>
    protected bool SplitBatch => Share is { Split: true };

    /// <summary>Largest batch the scratch memory is reserved for.</summary>
    public int Capacity { get; private set; }

    /// <summary>
    /// Fixes the input shape, checks it and creates the parameters. Throws
    /// <see cref="LayerShapeException"/> with the reason when the input does not fit
    /// (e.g. a kernel larger than the padded input).
    /// </summary>
    public Shape Build(Shape input)
    {
        if (IsBuilt) throw new InvalidOperationException($"{Token} is already built for input {InputShape}");
        if (input.Channels <= 0 || input.Height <= 0 || input.Width <= 0)
            throw new LayerShapeException($"input {input} is empty");
        if ((long)input.Channels * input.Height * input.Width > Array.MaxLength)
            throw new LayerShapeException($"input {input.Channels}x{input.Height}x{input.Width} has more values than an array holds");
        InputShape = input;
        OutputShape = Configure(input);
        if (OutputShape.Channels <= 0 || OutputShape.Height <= 0 || OutputShape.Width <= 0)
            throw new LayerShapeException($"output {OutputShape} would be empty for input {input}");
        if ((long)OutputShape.Channels * OutputShape.Height * OutputShape.Width > Array.MaxLength)
            throw new LayerShapeException($"output {OutputShape.Channels}x{OutputShape.Height}x{OutputShape.Width} has more values than an array holds");
        parameters = CreateParameters();
        IsBuilt = true;
        return OutputShape;
    }

    /// <summary>
    /// A second layer of this kind and shape whose parameters are this layer's own (the same <see cref="Parameter{T}"/>
    /// objects, so it always computes with the current weights) and whose scratch is its own, for running inference
    /// on another thread. Its own parameters are made hollow (<see cref="ParameterBudget.Plan"/>) and never allocated.
    /// </summary>
    /// <exception cref="NotSupportedException">The layer's description cannot make another (a layer written in code).</exception>
    internal Layer<T> CloneSharingParameters()
    {
        if (!IsBuilt) throw new InvalidOperationException($"{Token}: Build before cloning");
        var copy = Spec.Create<T>();
        using (ParameterBudget.Plan()) copy.Build(InputShape);
        if (copy.parameters.Length != parameters.Length) throw new NotSupportedException($"{Token}: its description makes a layer with other parameters");
        copy.parameters = parameters;
        copy.Training = Training;
        return copy;
    }

    /// <summary>Checks the input and returns the output shape.</summary>
    protected abstract Shape Configure(Shape input);

    /// <summary>Creates the parameters once the shapes are known.</summary>
    protected virtual Parameter<T>[] CreateParameters() => [];

    /// <summary>Reserves scratch memory for batches of up to <paramref name="batch"/> samples.</summary>
    public void Reserve(int batch)
    {
        if (!IsBuilt) throw new InvalidOperationException($"{Token}: Build before Reserve");
        if (batch <= Capacity) return;
        ReserveScratch(batch);
        Capacity = batch;
    }

    /// <summary>Allocates per-batch scratch (arg-max indices, column buffers, ...).</summary>
    protected virtual void ReserveScratch(int batch) { }

    /// <summary>
    /// Bytes of scratch memory this layer holds for batches of <paramref name="batch"/> samples (what
    /// <see cref="ReserveScratch"/> allocates), for the memory estimate made before anything is allocated
    /// (<see cref="Model.MemoryEstimate"/>). Saturates at <see cref="long.MaxValue"/> instead of overflowing.
    /// </summary>
    internal virtual long ScratchBytes(int batch) => 0;

    /// <summary>
    /// Bytes of per-thread scratch (column matrices and the like, <c>Kernels.ThreadScratch</c>) each kernel thread
    /// keeps for this layer; the threads' buffers are shared by all layers, so a network needs the largest.
    /// </summary>
    internal virtual long ThreadScratchBytes => 0;

    /// <summary>Forward pass: writes y (n * OutputShape.Size values) from x (n * InputShape.Size values).</summary>
    public abstract void Forward(ReadOnlySpan<T> x, Span<T> y, int n);

    /// <summary>Backward pass: adds parameter gradients, writes dx (unless it is empty).</summary>
    public abstract void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n);

    /// <summary>
    /// Whether this layer's passes can take over those of <paramref name="previous"/>, the layer right before it
    /// (<see cref="ForwardThroughPrevious"/>, <see cref="BackwardThroughPrevious"/>): the network then runs each pair of
    /// passes as one, writes the previous layer's output only when someone asks for it (<see cref="Model.Network{T}.Activation"/>)
    /// and never writes ∂L/∂(this layer's input). False unless overridden (a max pooling after a ReLU says yes).
    /// </summary>
    internal virtual bool TakesOver(Layer<T> previous) => false;

    /// <summary>
    /// The forward passes of the layer before this one (for which <see cref="TakesOver"/> said yes) and of this layer as
    /// one: from <paramref name="previousX"/>, the previous layer's input, writes this layer's output <paramref name="y"/>,
    /// bit for bit what the two passes one after the other write, and keeps what this layer's backward pass needs.
    /// The previous layer's output is not written.
    /// </summary>
    internal virtual void ForwardThroughPrevious(ReadOnlySpan<T> previousX, Span<T> y, int n) =>
        throw new InvalidOperationException($"{Token} does not take over the forward pass of the layer before it");

    /// <summary>
    /// The backward passes of this layer and of the layer before it (for which <see cref="TakesOver"/> said yes) as
    /// one, after <see cref="ForwardThroughPrevious"/> or the two forward passes: from this layer's input
    /// <paramref name="x"/> (the previous layer's output, not read: it may not have been written), output <paramref name="y"/> and
    /// output gradient <paramref name="dy"/>, writes ∂L/∂(the previous layer's input) into
    /// <paramref name="previousDx"/>, bit for bit what the two backward passes one after the other write. Neither layer
    /// may have trained parameters.
    /// </summary>
    internal virtual void BackwardThroughPrevious(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> previousDx, int n) =>
        throw new InvalidOperationException($"{Token} does not take over the backward pass of the layer before it");

    /// <summary>
    /// What this layer can be inside a fused inference stage (<see cref="Model.InferencePlan{T}"/>): an activation or
    /// pooling that a convolution or dense layer applies to its outputs before writing them, a layer that leaves the
    /// values where they are, or nothing (it runs its own <see cref="Forward"/>). Evaluation mode only.
    /// </summary>
    internal virtual InferenceFusion InferenceRole => InferenceFusion.None;

    /// <summary>
    /// A fused inference stage that starts with this layer (a convolution or dense layer and the layers after it that it
    /// can absorb), or null when the layer runs its own <see cref="Forward"/> in inference.
    /// </summary>
    internal virtual Model.InferenceStage<T>? CreateInferenceStage() => null;

    /// <summary>
    /// How the next backward pass treats plain SGD's update (set by the network for a training step, None
    /// otherwise): see <see cref="SgdFusion"/>. Only layers whose <see cref="CanFuseSgd"/> said yes are set.
    /// </summary>
    internal SgdFusion Fusion { get; set; }

    /// <summary>The update applied during backward when <see cref="Fusion"/> is <see cref="SgdFusion.InBackward"/>.</summary>
    internal Kernels.SgdStep<T> FusedStep { get; set; }

    /// <summary>
    /// Whether this layer can fold plain SGD's update into its backward pass for a batch of <paramref name="n"/>
    /// (bit-identical to writing the gradients and letting the optimiser update); false unless overridden.
    /// </summary>
    internal virtual bool CanFuseSgd(int n) => false;

    /// <summary>
    /// With <see cref="Fusion"/> = <see cref="SgdFusion.Deferred"/>, after the backward pass and the guard: applies
    /// <paramref name="step"/> to the parameters the backward pass left unwritten, from its input
    /// <paramref name="x"/> and output gradient <paramref name="dy"/> (still those of the pass).
    /// </summary>
    internal virtual void ApplyDeferredSgd(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, Kernels.SgdStep<T> step) =>
        throw new InvalidOperationException($"{Token} does not fold SGD's update into its backward pass");

    /// <summary>Floating-point operations of one sample's forward pass (a multiply-add counts 2).</summary>
    public virtual long ForwardFlops => 0;

    /// <summary>
    /// Floating-point operations the kernels execute for one sample of a training step through this layer: the forward
    /// pass, the parameter gradient and, when <paramref name="withInputGradient"/>, the input gradient, each counted as
    /// <see cref="ForwardFlops"/> (so 3x or 2x it). A layer whose kernels do less arithmetic than the definition's count
    /// (a convolution computed by Winograd) says so here: its <see cref="ForwardFlops"/> stays the definition's count, the
    /// one "GFLOP/s" figures compare across engines, while this is the work the cores did, the one a hardware peak bounds.
    /// </summary>
    public virtual long TrainingFlops(bool withInputGradient) => (withInputGradient ? 3 : 2) * ForwardFlops;

    /// <summary>
    /// The layer's weights seen as pictures, for the first-layer kernel plots, when this layer reads
    /// images of shape <paramref name="image"/> (the network's input): a convolution's kernels, a dense
    /// layer's rows seen as images; null when the weights are not pictures of that input.
    /// </summary>
    public virtual LayerFilters<T>? FiltersOver(Shape image) => null;

    /// <summary>
    /// Why the layer's saved state cannot be used (a normalisation's σ of 0, a negative running
    /// variance), or null when it can. Model files and the ONNX importer ask every layer after filling
    /// in its values, so a file with such state is refused when it is read rather than computing garbage.
    /// </summary>
    public virtual string? StateProblem() => null;

    /// <summary>Number of trained parameter values.</summary>
    public long ParameterCount
    {
        get
        {
            long count = 0;
            foreach (var p in parameters) count += p.TrainableCount;
            return count;
        }
    }

    /// <summary>Checks that the spans handed to Forward/Backward fit n samples.</summary>
    protected void CheckForward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        if (n <= 0 || n > Capacity)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"{Token}: batch must be in 1..{Capacity} (call Reserve first)");
        if (x.Length < n * InputShape.Size) throw new ArgumentException($"{Token}: x has {x.Length} values, a batch of {n} needs {n * InputShape.Size}");
        if (y.Length < n * OutputShape.Size) throw new ArgumentException($"{Token}: y has {y.Length} values, a batch of {n} needs {n * OutputShape.Size}");
    }

    /// <summary>Checks the spans handed to Backward.</summary>
    protected void CheckBackward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        if (n <= 0 || n > Capacity)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"{Token}: batch must be in 1..{Capacity} (call Reserve first)");
        int inSize = n * InputShape.Size, outSize = n * OutputShape.Size;
        if (x.Length < inSize || y.Length < outSize || dy.Length < outSize || (!dx.IsEmpty && dx.Length < inSize))
            throw new ArgumentException($"{Token}: backward spans too short for a batch of {n}");
    }

    /// <inheritdoc />
    public override string ToString() => IsBuilt ? $"{Token} {InputShape} -> {OutputShape}" : Token;
}

/// <summary>What a layer can be inside a fused inference stage (<see cref="Layer{T}.InferenceRole"/>).</summary>
internal enum InferenceFusion
{
    /// <summary>Runs its own forward pass.</summary>
    None,

    /// <summary>y = max(x, 0), element by element.</summary>
    Relu,

    /// <summary>Batch normalisation in evaluation mode: per channel ((x - μ)·a) + β.</summary>
    BatchNorm,

    /// <summary>2x2 max pooling with stride 2 whose windows all lie inside the input.</summary>
    MaxPool2x2,

    /// <summary>The output is the input's values in the same order (a flatten).</summary>
    SameValues,
}

/// <summary>How a training step folds plain SGD's update into a layer's backward pass.</summary>
internal enum SgdFusion
{
    /// <summary>Not at all: the backward pass adds the gradients, the optimiser updates.</summary>
    None,

    /// <summary>
    /// The backward pass writes the input gradient and records max |g| of its parameters' gradients
    /// (<see cref="Tensors.Parameter{T}.FusedGradientMagnitude"/>) without writing them; after the guard has
    /// passed the step, <see cref="Layer{T}.ApplyDeferredSgd"/> updates the parameters (a guarded step: nothing is
    /// updated before every gradient has been checked).
    /// </summary>
    Deferred,

    /// <summary>The backward pass updates each row of the parameters right after reading it for the input gradient (no guard).</summary>
    InBackward,
}

/// <summary>A layer cannot take the input shape it was given; the message says why.</summary>
public sealed class LayerShapeException(string message) : Exception(message);

/// <summary>
/// Weights that can be drawn as pictures: <see cref="Count"/> filters of <see cref="Channels"/> x
/// <see cref="Height"/> x <see cref="Width"/> values each, one after another in <see cref="Values"/>
/// (a convolution's kernels, or a dense layer's rows seen as images of its input).
/// </summary>
/// <param name="Values">Count x Channels x Height x Width values, filter by filter.</param>
/// <param name="Count">Number of filters (output units).</param>
/// <param name="Channels">Channels of each filter.</param>
/// <param name="Height">Rows of each filter.</param>
/// <param name="Width">Columns of each filter.</param>
public sealed record LayerFilters<T>(T[] Values, int Count, int Channels, int Height, int Width) where T : unmanaged, IFloatingPointIeee754<T>;
