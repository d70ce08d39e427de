using SharpCnn.Data;

namespace SharpCnn.Model;

/// <summary>
/// Runs a network for inference, the one way every evaluation, prediction, picture and benchmark does it:
/// evaluation mode (dropout off, batch norm on its running statistics) from construction until
/// <see cref="Dispose"/>, which puts the mode the network had back; each batch copied into the network's
/// input buffer, then the forward pass, fused where it can be (a convolution with its bias, ReLU and 2x2 max
/// pooling in one pass, a dense layer with its ReLU: the network's inference plan, which gives the same bits as the
/// layer-by-layer pass except where a float convolution with a connection table runs Winograd; see <see cref="SameBitsAsForward"/>). A convolution's packed weights are checked against its weights on every run; a dense layer's
/// (packed for one-sample runs, 12.8 MB for the seed CNN: too large to compare each time) are packed on the first
/// one-sample run of each <see cref="Inference{T}"/>, so weights changed while one is open reach one-sample runs of
/// the next one. Outputs are valid until the next run; <see cref="Network{T}.Activation"/> holds the input and
/// the output, not the activations inside a fused stage. After the buffers have grown to the largest batch, a run
/// allocates nothing.
/// <code>
/// using var inference = new Inference&lt;float&gt;(network, batchSize: 256);
/// foreach (var batch in inference.Batches(test))
///     for (int i = 0; i &lt; batch.Count; i++) Use(batch.First + i, batch.Output(i), batch.Labels[i]);
/// </code>
/// </summary>
public sealed class Inference<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly bool wasTraining;
    private int[] indices = [];
    private int[] labels = [];
    private bool disposed;
    private bool labelled;

    /// <summary>Puts <paramref name="network"/> in evaluation mode, for batches of up to <paramref name="batchSize"/> samples.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    public Inference(Network<T> network, int batchSize = 256)
        : this(network, batchSize, everyActivation: false)
    {
    }

    /// <summary>As the public constructor; with <paramref name="everyActivation"/> each layer runs its own forward pass, so <see cref="Network{T}.Activation"/> holds every layer's output (same results).</summary>
    internal Inference(Network<T> network, int batchSize, bool everyActivation)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        Network = network;
        BatchSize = batchSize;
        wasTraining = network.Training;
        network.Training = false;
        this.everyActivation = everyActivation;
        if (!everyActivation) network.InferencePlan.Refresh();
    }

    private readonly bool everyActivation;

    /// <summary>
    /// When true, the outputs are the layer-by-layer forward pass's bits (<see cref="Network{T}.Forward(ReadOnlySpan{T}, int)"/> in
    /// evaluation mode): every convolution runs the kernel whose bits are its layer's, Winograd where the layer's own forward pass runs
    /// it (float, the fixed rule: 5x5 or 3x3, stride 1, at least 16 input channels, no connection table; docs/MATH.md, "Winograd
    /// convolution in training") and the direct kernel elsewhere. By default (false) a float convolution the fixed rule picks runs
    /// Winograd F(2x2, 5x5) or F(4x4, 3x3) even with a connection table (within the tolerance stated in docs/MATH.md, "Winograd",
    /// of its layer's bits), so the two differ only for such convolutions; either way the same bits on every SIMD width, thread count
    /// and batch. Double always runs the direct kernels.
    /// </summary>
    public bool SameBitsAsForward { get; init; }

    /// <summary>The forward pass of the batch of <paramref name="n"/> in the network's input buffer.</summary>
    private ReadOnlySpan<T> Forward(int n)
    {
        if (everyActivation) return Network.Forward(n);
        Network.InferencePlan.Run(n, SameBitsAsForward);
        return Network.Output(n);
    }

    /// <summary>The network run.</summary>
    public Network<T> Network { get; }

    /// <summary>The largest batch <see cref="Batches(ImageDataSet)"/> runs at once.</summary>
    public int BatchSize { get; }

    /// <summary>Runs the samples of <paramref name="data"/> at <paramref name="indices"/> as one batch; returns the outputs, sample after sample. Their labels are in <see cref="Labels"/>.</summary>
    /// <exception cref="ArgumentException">The batch is empty, or the data's samples do not fit the network.</exception>
    public ReadOnlySpan<T> Run(ImageDataSet data, ReadOnlySpan<int> indices)
    {
        CheckData(data);
        int n = indices.Length;
        if (n == 0) throw new ArgumentException("a batch needs at least one sample", nameof(indices));
        Reserve(n);
        data.CopyBatch<T>(indices, Network.Input(n), labels.AsSpan(0, n));
        Count = n;
        labelled = true;
        return Forward(n);
    }

    /// <summary>
    /// Runs <paramref name="samples"/>, one or more inputs in the network's layout (C x H x W each, one after the
    /// other), as one batch; returns the outputs, sample after sample.
    /// </summary>
    /// <exception cref="ArgumentException">The values are not a whole, positive number of samples.</exception>
    public ReadOnlySpan<T> Run(ReadOnlySpan<T> samples)
    {
        CheckOpen();
        int size = Network.InputShape.Size;
        if (samples.IsEmpty || samples.Length % size != 0)
            throw new ArgumentException($"the network takes {Network.InputShape} = {size} values per sample, got {samples.Length} values", nameof(samples));
        int n = samples.Length / size;
        Reserve(n);
        samples.CopyTo(Network.Input(n));
        Count = n;
        labelled = false;
        return Forward(n);
    }

    /// <summary>Samples in the last batch run.</summary>
    public int Count { get; private set; }

    /// <summary>The labels of the last batch run (empty when it was run from values, which have none).</summary>
    public ReadOnlySpan<int> Labels => labelled ? labels.AsSpan(0, Count) : default;

    /// <summary>Every sample of <paramref name="data"/>, in order, in batches of up to <see cref="BatchSize"/>.</summary>
    /// <exception cref="ArgumentException">The data's samples do not fit the network.</exception>
    public InferenceBatches<T> Batches(ImageDataSet data)
    {
        CheckData(data);
        return new InferenceBatches<T>(this, data, default, data.Count);
    }

    /// <summary>Every sample of <paramref name="samples"/> (inputs in the network's layout, one after the other), in order, in batches of up to <see cref="BatchSize"/>.</summary>
    /// <exception cref="ArgumentException">The values are not a whole number of samples.</exception>
    public InferenceBatches<T> Batches(ReadOnlySpan<T> samples)
    {
        CheckOpen();
        int size = Network.InputShape.Size;
        if (samples.Length % size != 0)
            throw new ArgumentException($"the network takes {Network.InputShape} = {size} values per sample, got {samples.Length} values", nameof(samples));
        return new InferenceBatches<T>(this, null, samples, samples.Length / size);
    }

    /// <summary>Runs samples first .. first + n - 1 of <paramref name="data"/>, or of <paramref name="samples"/> when it is null.</summary>
    internal ReadOnlySpan<T> RunRange(ImageDataSet? data, ReadOnlySpan<T> samples, int first, int n)
    {
        if (data is null)
        {
            int size = Network.InputShape.Size;
            return Run(samples.Slice(first * size, n * size));
        }
        Reserve(n);
        for (int i = 0; i < n; i++) indices[i] = first + i;
        return Run(data, indices.AsSpan(0, n));
    }

    /// <summary>Puts back the mode (training or evaluation) the network had before.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Network.Training = wasTraining;
    }

    private void Reserve(int n)
    {
        Network.Reserve(n);
        if (indices.Length >= n) return;
        indices = new int[n];
        labels = new int[n];
    }

    private void CheckData(ImageDataSet data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckOpen();
        if (data.Shape.Size != Network.InputShape.Size)
            throw new ArgumentException($"the data's samples are {data.Shape}, the network takes {Network.InputShape}", nameof(data));
    }

    private void CheckOpen() => ObjectDisposedException.ThrowIf(disposed, this);
}

/// <summary>One batch of an inference run: which samples, their outputs and labels (valid until the next batch runs).</summary>
public readonly ref struct InferenceBatch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal InferenceBatch(int first, int count, int classes, ReadOnlySpan<T> outputs, ReadOnlySpan<int> labels)
    {
        First = first;
        Count = count;
        Classes = classes;
        Outputs = outputs;
        Labels = labels;
    }

    /// <summary>Index of the batch's first sample.</summary>
    public int First { get; }

    /// <summary>Samples in the batch.</summary>
    public int Count { get; }

    /// <summary>Outputs per sample.</summary>
    public int Classes { get; }

    /// <summary>Every output of the batch, sample after sample.</summary>
    public ReadOnlySpan<T> Outputs { get; }

    /// <summary>The samples' labels (empty when the inputs came without labels).</summary>
    public ReadOnlySpan<int> Labels { get; }

    /// <summary>The outputs of the batch's sample <paramref name="i"/> (0-based within the batch).</summary>
    public ReadOnlySpan<T> Output(int i) => Outputs.Slice(i * Classes, Classes);
}

/// <summary>The batches of an inference run, for <c>foreach</c>; each is run when the loop reaches it.</summary>
public ref struct InferenceBatches<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Inference<T> inference;
    private readonly ImageDataSet? data;
    private readonly ReadOnlySpan<T> samples;
    private readonly int total;
    private int next;
    private InferenceBatch<T> current;

    internal InferenceBatches(Inference<T> inference, ImageDataSet? data, ReadOnlySpan<T> samples, int total)
    {
        this.inference = inference;
        this.data = data;
        this.samples = samples;
        this.total = total;
    }

    /// <summary>The enumerator (this).</summary>
    public readonly InferenceBatches<T> GetEnumerator() => this;

    /// <summary>The batch just run.</summary>
    public readonly InferenceBatch<T> Current => current;

    /// <summary>Runs the next batch; false when every sample has been run.</summary>
    public bool MoveNext()
    {
        if (next >= total) return false;
        int n = Math.Min(inference.BatchSize, total - next);
        var outputs = inference.RunRange(data, samples, next, n);
        current = new InferenceBatch<T>(next, n, inference.Network.Classes, outputs, inference.Labels);
        next += n;
        return true;
    }
}
