using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>
/// A feed-forward network: a chain of layers and a loss, with every activation and
/// gradient buffer owned here and reused from step to step.
///
/// Buffers (n = batch size, capacity = the largest batch reserved):
///   a[0] = input x, a[k+1] = layer k's output;   g[k] = ∂L/∂a[k]
/// g[k] for k ≥ 1 is read only by layer k-1's backward pass, right after layer k's wrote it, so the
/// output gradients take turns in two buffers (each as large as the largest it holds): a network keeps
/// two of them instead of one per layer (<see cref="PassPlan"/>). g[0], the input gradient callers
/// read, has its own; so has g[k+1] while layer k defers plain SGD's update past the backward pass (it
/// reads g[k+1] again then). A layer that takes over the passes of the layer before it
/// (<see cref="Layer{T}.TakesOver"/>: a max pooling after a ReLU) computes a[k+1] from a[k-1] and g[k-1]
/// from g[k+1], each in one pass: g[k] is never written, and a[k] only when <see cref="Activation"/> asks for it.
/// Forward:  a[k+1] = layer_k(a[k])
/// Backward: g[last] = ∂L/∂output from the loss, then for k = last..f:
///           layer_k.Backward(a[k], a[k+1], g[k+1]) → g[k] (g[f] only when asked for)
///           where f is the first layer with trained parameters (0 when the input gradient is asked for):
///           the layers before it (normalisation, augmentation) have nothing to learn and nobody reads their gradients.
/// Nothing is allocated after <see cref="Reserve"/>: a training step is allocation-free (but for the one buffer a layer that
/// defers plain SGD's update gets for its output gradient, on its first such step).
/// </summary>
public sealed class Network<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Layer<T>[] layers;
    private T[][] activations;
    private T[] inputGradientBuffer = [];
    private readonly T[][] sharedGradients = [[], []];
    private readonly T[]?[] deferredGradients;
    private string[]? classNames;
    private int firstTrained = -1;

    /// <summary>
    /// Chains <paramref name="layers"/> from <paramref name="input"/>, building each layer that is
    /// not built yet. A layer that cannot take its input raises <see cref="ModelSpecException"/>
    /// naming the layer's position.
    /// </summary>
    public Network(Shape input, IEnumerable<Layer<T>> layers, Loss<T> loss)
    {
        this.layers = layers.ToArray();
        if (this.layers.Length == 0) throw new ModelSpecException(0, "", "a network needs at least one layer");
        InputShape = input;
        Loss = loss;
        Shape shape = input;
        for (int k = 0; k < this.layers.Length; k++)
        {
            var layer = this.layers[k];
            try
            {
                shape = layer.IsBuilt ? layer.OutputShape : layer.Build(shape);
            }
            catch (Exception e) when (e is LayerShapeException or ArgumentException)
            {
                // ArgumentException: a parameter with more elements than an array holds.
                throw new ModelSpecException(k + 1, layer.Token, $"{e.Message} (input to this layer: {shape})");
            }
        }
        OutputShape = shape;
        activations = new T[this.layers.Length + 1][];
        deferredGradients = new T[]?[this.layers.Length + 1];
        folded = new bool[this.layers.Length + 1];
        for (int k = 0; k <= this.layers.Length; k++) activations[k] = [];
    }

    /// <summary>
    /// A network of the same layers that shares this one's parameters (so it always sees the current weights) and has
    /// buffers and layer scratch of its own: another thread can run it forward while this one is used. Nothing is
    /// allocated for parameters; buffers are allocated when the clone is first run.
    /// </summary>
    /// <exception cref="NotSupportedException">A layer cannot be recreated from its description (a layer written in code).</exception>
    internal Network<T> CloneSharingParameters() => new(InputShape, layers.Select(l => l.CloneSharingParameters()), Loss);

    /// <summary>Per-sample input shape.</summary>
    public Shape InputShape { get; }

    /// <summary>Per-sample output shape (D scores for D classes).</summary>
    public Shape OutputShape { get; }

    /// <summary>Number of classes: the output size.</summary>
    public int Classes => OutputShape.Size;

    /// <summary>
    /// The classes' names by output index (an image folder's class folders, CIFAR's label names), or null when
    /// the classes are only numbers. Saved in model files and checkpoints and written into ONNX exports, so
    /// <c>predict</c> can print names.
    /// </summary>
    /// <exception cref="ArgumentException">Set to a list that does not have one non-empty name per class.</exception>
    public IReadOnlyList<string>? ClassNames
    {
        get => classNames;
        set
        {
            if (value is null)
            {
                classNames = null;
                return;
            }
            if (value.Count != Classes) throw new ArgumentException($"{value.Count} class names for a network with {Classes} outputs; give one per class", nameof(value));
            for (int i = 0; i < value.Count; i++)
                if (string.IsNullOrWhiteSpace(value[i])) throw new ArgumentException($"the name of class {i} is empty", nameof(value));
            classNames = [.. value];
        }
    }

    /// <summary>The layers, input first.</summary>
    public IReadOnlyList<Layer<T>> Layers => layers;

    /// <summary>The loss applied to the output.</summary>
    public Loss<T> Loss { get; }

    /// <summary>The layers as a spec string that rebuilds this network (see <see cref="ModelSpec"/>).</summary>
    public string Spec => string.Join(",", layers.Select(l => l.Token));

    /// <summary>Largest batch the buffers hold.</summary>
    public int Capacity { get; private set; }

    /// <summary>Every trainable parameter, layer by layer.</summary>
    public IEnumerable<Parameter<T>> Parameters => layers.SelectMany(l => l.Parameters);

    /// <summary>Number of trained values.</summary>
    public long ParameterCount => layers.Sum(l => l.ParameterCount);

    /// <summary>Floating-point operations of one sample's forward pass.</summary>
    public long ForwardFlops => layers.Sum(l => l.ForwardFlops);

    /// <summary>
    /// Floating-point operations the kernels execute for one training sample: every layer's <see cref="Layer{T}.TrainingFlops"/>,
    /// without the first layer's input gradient (nothing needs it).
    /// </summary>
    public long TrainingFlops => layers.Select((l, k) => l.TrainingFlops(withInputGradient: k > 0)).Sum();

    /// <summary>Training mode (true) or evaluation mode (false), for every layer.</summary>
    public bool Training
    {
        get => layers[0].Training;
        set
        {
            foreach (var l in layers) l.Training = value;
        }
    }

    /// <summary>
    /// Fixes the random choices (dropout masks) of the next training passes to those of step
    /// <paramref name="step"/> of a run seeded with <paramref name="seed"/>: every
    /// <see cref="IStepSeeded"/> layer gets the seed mixed with its position, so two dropout
    /// layers draw different masks. The training step (<see cref="Training.TrainingStep{T}"/>) calls this with the optimiser's step count.
    /// </summary>
    public void SetStep(ulong seed, long step)
    {
        for (int k = 0; k < layers.Length; k++)
            if (layers[k] is IStepSeeded seeded) seeded.SetStep(seed + (ulong)(k + 1) * 0xD1B54A32D192ED03UL, step);
    }

    /// <summary>
    /// The share of a global batch that the following training passes compute (every layer's <see cref="Layer{T}.Share"/>),
    /// or null (the default) when each batch handed in is the whole batch. Set by the training step of a run whose
    /// batches are shared by several processes.
    /// </summary>
    public Training.BatchShare? Share
    {
        get => layers[0].Share;
        set
        {
            foreach (var l in layers) l.Share = value;
        }
    }

    /// <summary>Makes room for batches of up to <paramref name="batch"/> samples (allocates only when growing).</summary>
    public void Reserve(int batch)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch size must be at least 1");
        if (batch <= Capacity) return;
        long largest = Math.Max(InputShape.Size, layers.Max(l => (long)l.OutputShape.Size));
        if (batch * largest > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"a batch of {batch} samples of {largest} values in a layer's output has more values than an array holds");
        activations[0] = new T[batch * InputShape.Size];
        inputGradientBuffer = new T[batch * InputShape.Size];
        for (int k = 0; k < layers.Length; k++)
        {
            layers[k].Reserve(batch);
            activations[k + 1] = new T[batch * layers[k].OutputShape.Size];
        }
        var (first, second) = Passes.BufferLengths(layers, batch);
        sharedGradients[0] = new T[first];
        sharedGradients[1] = new T[second];
        Array.Clear(deferredGradients);
        Array.Clear(folded); // new buffers: nothing to write later
        Capacity = batch;
    }

    private PassPlan? passPlan;

    /// <summary>How the passes run: which layers take over the passes of the layer before them, and the buffer of each gradient.</summary>
    private PassPlan Passes => passPlan ??= PassPlan.For(layers);

    /// <summary>
    /// How a network's passes run over its layers and where their output gradients live. Where layer k takes over the
    /// passes of layer k-1 (<see cref="Layer{T}.TakesOver"/>), the forward pass writes a[k+1] from a[k-1] and the backward
    /// pass g[k-1] from g[k+1], layer k-1 skipped; elsewhere each backward pass reads g[k+1] and writes g[k]. The
    /// gradient written goes into the other of the two shared buffers than the one read, so g[L] (the loss's) is in
    /// buffer 0 and they alternate from there.
    /// </summary>
    internal sealed class PassPlan
    {
        private PassPlan(bool[] takesPrevious, int[] buffer)
        {
            TakesPrevious = takesPrevious;
            Buffer = buffer;
        }

        /// <summary>Per layer: whether its passes take over those of the layer before it.</summary>
        public bool[] TakesPrevious { get; }

        /// <summary>Per gradient g[k], k = 1..L: the shared buffer (0 or 1) it is written into, -1 when it is never written.</summary>
        public int[] Buffer { get; }

        /// <summary>The plan for <paramref name="layers"/>: a layer takes over the previous one's passes when it says it can and neither has trained parameters.</summary>
        public static PassPlan For(IReadOnlyList<Layer<T>> layers)
        {
            int count = layers.Count;
            var takes = new bool[count];
            var buffer = new int[count + 1];
            Array.Fill(buffer, -1);
            buffer[count] = 0;
            for (int k = count - 1; k >= 1; k--)
            {
                bool fold = layers[k].TakesOver(layers[k - 1]) && !HasTrained(layers[k]) && !HasTrained(layers[k - 1]);
                takes[k] = fold;
                int written = fold ? k - 1 : k;
                if (written >= 1) buffer[written] = 1 - buffer[k + 1];
                if (fold) k--;
            }
            return new PassPlan(takes, buffer);
        }

        private static bool HasTrained(Layer<T> layer)
        {
            foreach (var p in layer.Parameters)
                if (p.IsTrained) return true;
            return false;
        }

        /// <summary>The lengths of the two shared buffers for batches of <paramref name="batch"/>: each as long as the longest gradient it holds.</summary>
        public (long First, long Second) BufferLengths(IReadOnlyList<Layer<T>> layers, long batch)
        {
            long first = 0, second = 0;
            for (int k = 1; k <= layers.Count; k++)
            {
                long length = Tensors.MemoryMath.Multiply(batch, layers[k - 1].OutputShape.Size);
                if (Buffer[k] == 0) first = Math.Max(first, length);
                else if (Buffer[k] == 1) second = Math.Max(second, length);
            }
            return (first, second);
        }
    }

    /// <summary>The lengths of the two buffers the output gradients take turns in, for batches of <paramref name="batch"/> (for the memory estimate).</summary>
    internal (long First, long Second) GradientBufferLengths(long batch) => Passes.BufferLengths(layers, batch);

    /// <summary>
    /// g[k] = ∂L/∂a[k], whole capacity: the input gradient's own buffer for k = 0; for k ≥ 1 its shared buffer
    /// (<see cref="PassPlan"/>), or its own while layer k-1 defers its update (<see cref="SgdFusion.Deferred"/>:
    /// it reads g[k] again after the whole backward pass, when the shared buffer holds another layer's gradient).
    /// </summary>
    private Span<T> Gradient(int k)
    {
        if (k == 0) return inputGradientBuffer;
        if (layers[k - 1].Fusion == SgdFusion.Deferred)
            return deferredGradients[k] ??= new T[Capacity * layers[k - 1].OutputShape.Size]; // once, on the first deferred step
        int buffer = Passes.Buffer[k];
        if (buffer < 0) throw new InvalidOperationException($"the gradient of layer {k}'s output is never written: layer {k + 1} takes over its backward pass");
        return sharedGradients[buffer];
    }

    /// <summary>The input buffer for a batch of <paramref name="n"/>: write samples here, then call <see cref="Forward(int)"/>.</summary>
    public Span<T> Input(int n) => activations[0].AsSpan(0, CheckBatch(n) * InputShape.Size);

    /// <summary>
    /// Activation k for the last batch (0 = input, k = output of layer k-1). The output of a layer whose forward pass the
    /// next layer took over (<see cref="Layer{T}.TakesOver"/>) is computed here, the first time it is asked for after the pass.
    /// </summary>
    public ReadOnlySpan<T> Activation(int k, int n)
    {
        CheckBatch(n);
        WriteFolded(k);
        return activations[k].AsSpan(0, n * (k == 0 ? InputShape.Size : layers[k - 1].OutputShape.Size));
    }

    private readonly bool[] folded; // per activation: left unwritten by the last forward pass (its layer's pass was taken over)
    private int foldedBatch;

    /// <summary>Writes a[k] if the last forward pass left it unwritten (layer k-1's pass was taken over by layer k's).</summary>
    private void WriteFolded(int k)
    {
        if (!folded[k]) return;
        WriteFolded(k - 1);
        layers[k - 1].Forward(activations[k - 1], activations[k], foldedBatch);
        folded[k] = false;
    }

    /// <summary>
    /// Forgets which outputs the last forward pass left unwritten (the inference plan has run since: the buffers hold what
    /// it wrote, the layers' own outputs only where it wrote them).
    /// </summary>
    internal void ForgetFoldedOutputs() => Array.Clear(folded);

    /// <summary>Activation buffer k (0 = input), whole capacity, for the inference plan to write into.</summary>
    internal Span<T> ActivationBuffer(int k) => activations[k];

    private InferencePlan<T>? inferencePlan;

    /// <summary>The network's inference plan (fused stages, packed weights), made on first use and kept with the network.</summary>
    internal InferencePlan<T> InferencePlan => inferencePlan ??= Model.InferencePlan<T>.Create(this);

    /// <summary>The output of the last forward pass.</summary>
    public ReadOnlySpan<T> Output(int n) => Activation(layers.Length, n);

    /// <summary>∂L/∂input of the last backward pass that asked for it.</summary>
    public ReadOnlySpan<T> InputGradient(int n) => inputGradientBuffer.AsSpan(0, CheckBatch(n) * InputShape.Size);

    /// <summary>Copies <paramref name="x"/> into the input buffer and runs the forward pass; returns the output.</summary>
    public ReadOnlySpan<T> Forward(ReadOnlySpan<T> x, int n)
    {
        Reserve(n);
        x[..(n * InputShape.Size)].CopyTo(activations[0]);
        return Forward(n);
    }

    /// <summary>Runs the forward pass on what is in <see cref="Input"/>; returns the output.</summary>
    public ReadOnlySpan<T> Forward(int n) => ForwardFrom(0, n);

    /// <summary>Re-runs the forward pass from layer <paramref name="first"/> on (it reuses earlier layers' outputs).</summary>
    public ReadOnlySpan<T> ForwardFrom(int first, int n)
    {
        CheckBatch(n);
        WriteFolded(first); // the input of layer first, if the last pass left it unwritten
        var takesPrevious = Passes.TakesPrevious;
        for (int k = first; k < layers.Length; k++)
        {
            if (k + 1 < layers.Length && takesPrevious[k + 1])
            {
                // Layers k and k+1 as one pass: a[k+1] is written only if someone asks for it (Activation).
                layers[k + 1].ForwardThroughPrevious(activations[k], activations[k + 2], n);
                folded[k + 1] = true;
                folded[k + 2] = false;
                foldedBatch = n;
                k++;
                continue;
            }
            layers[k].Forward(activations[k], activations[k + 1], n);
            folded[k + 1] = false;
        }
        return Output(n);
    }

    /// <summary>Mean loss of the last forward pass against <paramref name="labels"/>.</summary>
    public T ComputeLoss(ReadOnlySpan<int> labels, int n) => Loss.Forward(Output(n), labels, n, Classes);

    /// <summary>
    /// Backward pass from the loss: adds every parameter's gradient and returns the mean
    /// loss. Call after <see cref="Forward(int)"/> on the same batch; zero the gradients first
    /// (<see cref="ZeroGradients"/>) unless accumulating on purpose.
    /// </summary>
    public T Backward(ReadOnlySpan<int> labels, int n, bool inputGradient = false) => Backward(labels, n, inputGradient, null);

    /// <summary><see cref="Backward(ReadOnlySpan{int}, int, bool)"/>, telling <paramref name="progress"/> as the layers' parameter gradients become final.</summary>
    internal T Backward(ReadOnlySpan<int> labels, int n, bool inputGradient, IBackwardProgress? progress)
    {
        T loss = BatchLoss(labels, n);
        Loss.Backward(Output(n), labels, Gradient(layers.Length), n, Classes, Share is { Split: true } share ? share.GlobalCount : n);
        BackwardLayers(n, inputGradient, progress);
        return loss;
    }

    private T[] lossPartials = [];
    private readonly T[] lossTotal = new T[1];

    /// <summary>
    /// The mean loss of the batch in the canonical order of every batch sum (Kernels.BatchTree): per block of
    /// samples the loss's sum, the blocks by the fixed tree (with the other processes' when the batch is shared),
    /// divided by the whole batch's size.
    /// </summary>
    private T BatchLoss(ReadOnlySpan<int> labels, int n)
    {
        CheckBatch(n);
        int blocks = Kernels.BatchTree.Blocks(n), classes = Classes, size = Kernels.BatchTree.BlockSize;
        if (lossPartials.Length < blocks) lossPartials = new T[Kernels.BatchTree.Blocks(Capacity)];
        ReadOnlySpan<T> output = Output(n);
        for (int b = 0; b < blocks; b++)
        {
            int first = b * size, count = Math.Min(n, first + size) - first;
            lossPartials[b] = Loss.Sum(output.Slice(first * classes, count * classes), labels.Slice(first, count), count, classes);
        }
        lossTotal[0] = T.Zero;
        Kernels.BatchTree.Combine<T>(Share, lossPartials.AsSpan(0, blocks), 1, blocks, lossTotal);
        return lossTotal[0] / T.CreateChecked(Share is { Split: true } share ? share.GlobalCount : n);
    }

    /// <summary>Backward pass from a given gradient of the output (e.g. a random one, for checks).</summary>
    public void Backward(ReadOnlySpan<T> outputGradient, int n, bool inputGradient = false)
    {
        CheckBatch(n);
        outputGradient[..(n * OutputShape.Size)].CopyTo(Gradient(layers.Length));
        BackwardLayers(n, inputGradient, null);
    }

    /// <summary>
    /// Index of the first layer with trained parameters (the layers' count when none has any). The layers
    /// before it (input normalisation, augmentation) need no backward pass, and it needs no input gradient,
    /// unless the input gradient is asked for: nothing before them would use it.
    /// </summary>
    private int FirstTrainedLayer
    {
        get
        {
            if (firstTrained < 0)
            {
                int k = 0;
                while (k < layers.Length && !layers[k].Parameters.Any(p => p.IsTrained)) k++;
                firstTrained = k;
            }
            return firstTrained;
        }
    }

    private void BackwardLayers(int n, bool inputGradient, IBackwardProgress? progress)
    {
        int first = inputGradient ? 0 : FirstTrainedLayer;
        var takesPrevious = Passes.TakesPrevious;
        for (int k = layers.Length - 1; k >= first; k--)
        {
            if (takesPrevious[k] && k - 1 >= first)
            {
                // Layers k and k-1 as one pass (neither is trained, so k - 1 > first unless the input gradient is asked for).
                Span<T> previousDx = k - 1 > first || inputGradient ? Gradient(k - 1) : Span<T>.Empty;
                layers[k].BackwardThroughPrevious(activations[k], activations[k + 1], Gradient(k + 1), previousDx, n);
                k--;
                progress?.LayersDone(k);
                continue;
            }
            Span<T> dx = k > first || inputGradient ? Gradient(k) : Span<T>.Empty;
            layers[k].Backward(activations[k], activations[k + 1], Gradient(k + 1), dx, n);
            progress?.LayersDone(k);
        }
        // With a shared batch, each layer's parameter gradients travel while the earlier layers run backward: all in now.
        Share?.FinishPending();
    }

    /// <summary>Sets every parameter gradient to zero.</summary>
    public void ZeroGradients() => ClearGradients(skipFused: false);

    /// <summary>
    /// Sets every parameter gradient to zero, except (with <paramref name="skipFused"/>) those of layers that fold the
    /// step's update into their backward pass: nobody writes or reads those. With <paramref name="deferToBackward"/> (a
    /// training step, whose backward pass follows) a gradient its layer writes whole (<see cref="Parameter{T}.WrittenWholeByBackward"/>)
    /// is only marked <see cref="Parameter{T}.Uncleared"/>: the backward pass writes it instead of adding to zeros.
    /// </summary>
    internal void ClearGradients(bool skipFused, bool deferToBackward = false)
    {
        // Index loops: foreach over an IReadOnlyList would allocate an enumerator every step.
        foreach (var layer in layers)
        {
            if (skipFused && layer.Fusion != SgdFusion.None) continue;
            var parameters = layer.Parameters;
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                p.Uncleared = deferToBackward && p.WrittenWholeByBackward;
                if (!p.Uncleared) Kernels.ElementwiseKernels.Clear<T>(p.Gradient); // large ones on several threads
            }
        }
    }

    /// <summary>Clears the gradients still marked <see cref="Parameter{T}.Uncleared"/> (a step that stopped before its backward pass).</summary>
    internal void FinishClearing()
    {
        foreach (var layer in layers)
        {
            var parameters = layer.Parameters;
            for (int i = 0; i < parameters.Count; i++)
                if (parameters[i].TakeUncleared()) Kernels.ElementwiseKernels.Clear<T>(parameters[i].Gradient);
        }
    }

    /// <summary>
    /// Makes every layer that can (<see cref="Layer{T}.CanFuseSgd"/> for a batch of <paramref name="n"/>) fold plain
    /// SGD's update into the next backward pass as <paramref name="mode"/> says (<paramref name="step"/> is the update
    /// for <see cref="SgdFusion.InBackward"/>); the others, and every layer with <see cref="SgdFusion.None"/>, are set
    /// not to. Marks the fused layers' trained parameters <see cref="Parameter{T}.Fused"/>. Returns whether any layer fuses.
    /// </summary>
    internal bool PrepareFusedSgd(int n, SgdFusion mode, Kernels.SgdStep<T> step)
    {
        bool any = false;
        foreach (var layer in layers)
        {
            var fusion = mode != SgdFusion.None && layer.CanFuseSgd(n) ? mode : SgdFusion.None;
            layer.Fusion = fusion;
            layer.FusedStep = step;
            var parameters = layer.Parameters;
            for (int i = 0; i < parameters.Count; i++) parameters[i].Fused = fusion != SgdFusion.None && parameters[i].IsTrained;
            any |= fusion != SgdFusion.None;
        }
        return any;
    }

    /// <summary>Applies <paramref name="step"/> in every layer whose backward pass deferred it (after the guard passed the step of <paramref name="n"/> samples).</summary>
    internal void ApplyDeferredSgd(int n, Kernels.SgdStep<T> step)
    {
        for (int k = 0; k < layers.Length; k++)
            if (layers[k].Fusion == SgdFusion.Deferred) layers[k].ApplyDeferredSgd(activations[k], Gradient(k + 1), n, step);
    }

    private int CheckBatch(int n)
    {
        if (n <= 0 || n > Capacity) throw new ArgumentOutOfRangeException(nameof(n), n, $"batch must be in 1..{Capacity} (call Reserve first)");
        return n;
    }
}

/// <summary>Told during a backward pass as layers finish: where work that needs final parameter gradients can start (Training.OverlappedUpdate).</summary>
internal interface IBackwardProgress
{
    /// <summary>
    /// The parameter gradients of layers <paramref name="layer"/> .. last are final for this batch (in one process: with a shared
    /// batch they are only once the exchanges are in, at the end of the pass).
    /// </summary>
    void LayersDone(int layer);
}
