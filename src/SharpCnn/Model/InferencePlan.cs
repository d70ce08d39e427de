// The inference plan: a network's layers cut into stages for evaluation-mode forward passes.
//
// A convolution absorbs the batch normalisation (evaluation form), the ReLUs, the one 2x2/2 max pooling and the
// flatten that follow it: its direct kernel
// (Kernels/DirectConvolution.cs) computes a few output rows of one block of channels into an L1 tile, and the
// epilogue adds the bias, applies ReLU, pools and writes the result straight into the next stage's input (with
// the next convolution's zero border already in place when the next stage is a convolution). A dense layer
// absorbs the ReLUs (and a flatten) after it. Every other layer runs its own Forward.
//
// Same bits as the layer-by-layer forward pass (Network.Forward in evaluation mode): the direct kernel follows
// the GEMM's order per output (DirectConvolution.cs), the epilogue does what the layers do element by element in
// the same order (y + b; ((y - μ)·a) + β with BatchNorm's own a; max(y, 0) as IEEE maximum; the pooling window's first maximum in row-major order, a NaN
// over numbers; NaN payloads aside), and a dense stage runs the layer's own product (or, for one sample, RowProduct,
// bit-identical to it). So the plan changes no result and training, which keeps the layers' own passes, is untouched.
// Partitions are (sample, block of channels, group of rows), each computed the same way whatever the split: the
// thread count changes nothing (InferencePlanTests).
using SharpCnn.Kernels;
using SharpCnn.Layers;

namespace SharpCnn.Model;

/// <summary>The stages of a network's inference forward pass (see the top of this file).</summary>
internal sealed class InferencePlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Network<T> network;
    private readonly Step[] steps;

    private InferencePlan(Network<T> network, Step[] steps)
    {
        this.network = network;
        this.steps = steps;
    }

    /// <summary>True when some stage fuses layers (otherwise the plan is the layer-by-layer pass).</summary>
    public bool Fuses => steps.Any(s => s.Stage is not null);

    /// <summary>Plans <paramref name="network"/>'s inference.</summary>
    public static InferencePlan<T> Create(Network<T> network)
    {
        var layers = network.Layers;
        var steps = new List<Step>();
        for (int k = 0; k < layers.Count;)
        {
            var stage = layers[k].CreateInferenceStage();
            if (stage is null)
            {
                steps.Add(new Step(k, k, null));
                k++;
                continue;
            }
            int last = k;
            while (last + 1 < layers.Count && stage.TryAbsorb(layers[last + 1])) last++;
            steps.Add(new Step(k, last, stage));
            k = last + 1;
        }
        // A convolution stage feeding another writes its output with the next one's zero border.
        for (int i = 0; i + 1 < steps.Count; i++)
            if (steps[i].Stage is ConvolutionStage<T> from && steps[i + 1].Stage is ConvolutionStage<T> to && from.CanFeed(to))
            {
                from.Feeds = to;
                to.FedBy = from;
            }
        return new InferencePlan<T>(network, steps.ToArray());
    }

    /// <summary>Marks every packed copy of the weights stale (see <see cref="InferenceStage{T}.Refresh"/>).</summary>
    public void Refresh()
    {
        foreach (var step in steps) step.Stage?.Refresh();
    }

    /// <summary>Runs the batch of <paramref name="n"/> samples in the network's input buffer; the output lands in the network's output buffer.</summary>
    public void Run(int n)
    {
        foreach (var step in steps)
        {
            if (step.Stage is null)
            {
                network.Layers[step.First].Forward(network.ActivationBuffer(step.First), network.ActivationBuffer(step.First + 1), n);
                continue;
            }
            step.Stage.Run(network.ActivationBuffer(step.First), network.ActivationBuffer(step.Last + 1), n);
        }
    }

    private sealed record Step(int First, int Last, InferenceStage<T>? Stage);
}

/// <summary>A fused stage of an inference plan: one layer with weights and the layers after it that it absorbed.</summary>
internal abstract class InferenceStage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Takes <paramref name="next"/> into this stage when it can; false stops the stage before it.</summary>
    public abstract bool TryAbsorb(Layer<T> next);

    /// <summary>The weights may have changed since the last run (a new <see cref="Inference{T}"/> is made): packed copies that are not checked on every run are made again.</summary>
    public virtual void Refresh()
    {
    }

    /// <summary>Runs the stage on <paramref name="n"/> samples: <paramref name="x"/> is the first layer's input, <paramref name="y"/> the last absorbed layer's output.</summary>
    public abstract void Run(ReadOnlySpan<T> x, Span<T> y, int n);
}

/// <summary>A convolution with ReLU and 2x2 max pooling in its epilogue.</summary>
internal sealed class ConvolutionStage<T> : InferenceStage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Largest tile of sums (values) a partition computes before its epilogue: it stays in L1.</summary>
    private const int TileValues = 4096;

    private readonly Conv2d<T> layer;
    private readonly DirectConvolution<T> conv;
    private bool reluBefore, pool, reluAfter, flat;
    private BatchNorm<T>? norm;
    private T[] normConstants = [];
    private T[] padded = [];

    public ConvolutionStage(Conv2d<T> layer)
    {
        this.layer = layer;
        var s = layer.InputShape;
        var (top, bottom, left, right) = layer.ResolvedPadding;
        conv = new DirectConvolution<T>(s.Channels, s.Height, s.Width, layer.OutChannels, layer.KernelHeight, layer.KernelWidth, layer.Stride,
            top, bottom, left, right);
    }

    /// <summary>The next convolution stage, which reads this one's output with its zero border (written here), or null.</summary>
    public ConvolutionStage<T>? Feeds { get; set; }

    /// <summary>The convolution stage that writes this one's padded input, or null when it pads its input itself.</summary>
    public ConvolutionStage<T>? FedBy { get; set; }

    private int OutHeight => pool ? conv.OutHeight / 2 : conv.OutHeight;

    private int OutWidth => pool ? conv.OutWidth / 2 : conv.OutWidth;

    /// <summary>True when this stage's output (maps, not flattened) is <paramref name="next"/>'s input.</summary>
    public bool CanFeed(ConvolutionStage<T> next) =>
        !flat && next.conv.Channels == conv.OutChannels && next.conv.Height == OutHeight && next.conv.Width == OutWidth;

    public override bool TryAbsorb(Layer<T> next)
    {
        switch (next.InferenceRole)
        {
            case InferenceFusion.Relu:
                if (pool) reluAfter = true;
                else reluBefore = true;
                return true;
            case InferenceFusion.BatchNorm when norm is null && !reluBefore && !pool && !flat:
                norm = (BatchNorm<T>)next;
                return true;
            case InferenceFusion.MaxPool2x2 when !pool && !flat && !reluAfter:
                pool = true;
                return true;
            case InferenceFusion.SameValues:
                flat = true;
                return true;
            default:
                return false;
        }
    }

    public override void Run(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        conv.Pack(layer.Weight.Value);
        if (norm is not null)
        {
            // μ, a, β per channel, each padded to whole blocks (zero past the last channel).
            int padded = conv.Blocks * conv.Block;
            if (normConstants.Length == 0) normConstants = new T[3 * padded];
            norm.InferenceAffine(normConstants.AsSpan(0, padded), normConstants.AsSpan(padded, padded), normConstants.AsSpan(2 * padded, padded));
        }
        if (Feeds is not null)
        {
            int size = Feeds.conv.PaddedSize;
            if (padded.Length < n * size) padded = new T[n * size]; // zero: the border is never written
        }
        int threads = Parallelism.ThreadCount;
        int unit = pool ? 2 : 1, units = OutHeight; // rows of the stage's output; each needs `unit` rows of sums
        int groups = threads == 1 || n >= 2 * threads ? 1 : Math.Clamp((4 * threads + n * conv.Blocks - 1) / (n * conv.Blocks), 1, units);
        var work = new Work { Stage = this, X = FedBy is null ? x : FedBy.padded, Y = Feeds is null ? y : padded, Groups = groups, Unit = unit, Units = units };
        Parallelism.For(n * conv.Blocks * groups, ref work);
    }

    private ref struct Work : IPartitionedWork
    {
        public ConvolutionStage<T> Stage;
        public ReadOnlySpan<T> X;
        public Span<T> Y;
        public int Groups, Unit, Units;

        public readonly void Run(int partition)
        {
            int blocks = Stage.conv.Blocks;
            int sample = partition / (blocks * Groups), rest = partition % (blocks * Groups);
            var (first, count) = Parallelism.Range(Units, Groups, rest % Groups);
            if (count > 0) Stage.RunPart(X, Y, sample, rest / Groups, first, count, Unit);
        }
    }

    /// <summary>Output rows first .. + count of block <paramref name="block"/> of sample <paramref name="s"/>.</summary>
    private void RunPart(ReadOnlySpan<T> x, Span<T> y, int s, int block, int first, int count, int unit)
    {
        ReadOnlySpan<T> input;
        if (FedBy is not null)
        {
            input = x.Slice(s * conv.PaddedSize, conv.PaddedSize);
        }
        else
        {
            // Pad the sample into this thread's scratch (its border zero).
            Span<T> scratch = ThreadScratch<T>.Get(ScratchSlot.PaddedInput, conv.PaddedSize);
            scratch.Clear();
            int h = conv.Height, w = conv.Width, ph = conv.PaddedHeight, pw = conv.PaddedWidth;
            ReadOnlySpan<T> xs = x.Slice(s * conv.Channels * h * w, conv.Channels * h * w);
            for (int c = 0; c < conv.Channels; c++)
                for (int r = 0; r < h; r++)
                    xs.Slice((c * h + r) * w, w).CopyTo(scratch.Slice((c * ph + r + conv.PadTop) * pw + conv.PadLeft, w));
            input = scratch;
        }
        int wo = conv.OutWidth, blockSize = conv.Block;
        int perTile = Math.Max(1, TileValues / (unit * wo * blockSize));
        Span<T> tile = ThreadScratch<T>.Get(ScratchSlot.ConvolutionTile, perTile * unit * wo * blockSize);
        for (int r = first; r < first + count; r += perTile)
        {
            int rows = Math.Min(perTile, first + count - r);
            conv.Compute(input, block, r * unit, rows * unit, tile);
            Epilogue(tile, y, s, block, r, rows);
        }
    }

    /// <summary>Bias, ReLU and pooling of the tile's sums (output rows first .. + rows of the stage), written to the stage's output.</summary>
    private void Epilogue(ReadOnlySpan<T> tile, Span<T> y, int s, int block, int first, int rows)
    {
        int bs = conv.Block, cout = conv.OutChannels;
        int oh = OutHeight, ow = OutWidth;
        // The block's biases (zero past the last channel), then the epilogue into a second tile, lanes across channels.
        Span<T> b = stackalloc T[bs];
        int lanes = Math.Min(bs, cout - block * bs);
        b.Clear();
        layer.Bias.Value.AsSpan(block * bs, lanes).CopyTo(b);
        Span<T> result = ThreadScratch<T>.Get(ScratchSlot.ConvolutionResult, rows * ow * bs);
        Span<T> constants = stackalloc T[norm is null ? 0 : 3 * bs];
        if (norm is not null)
        {
            int padded = conv.Blocks * bs;
            for (int i = 0; i < 3; i++) normConstants.AsSpan(i * padded + block * bs, bs).CopyTo(constants.Slice(i * bs, bs));
        }
        conv.Finish(tile, pool ? 2 * rows : rows, b, constants, reluBefore, pool, reluAfter, result);
        // The output's layout: this stage's own maps, or the next convolution's padded input.
        int ph = oh, pw = ow, top = 0, left = 0;
        if (Feeds is not null)
        {
            ph = Feeds.conv.PaddedHeight;
            pw = Feeds.conv.PaddedWidth;
            top = Feeds.conv.PadTop;
            left = Feeds.conv.PadLeft;
        }
        for (int l = 0; l < lanes; l++)
        {
            Span<T> plane = y.Slice(((s * cout) + block * bs + l) * ph * pw, ph * pw);
            for (int r = 0; r < rows; r++)
            {
                Span<T> row = plane.Slice((first + r + top) * pw + left, ow);
                ReadOnlySpan<T> from = result[((r * ow) * bs + l)..];
                for (int v = 0; v < row.Length; v++) row[v] = from[v * bs];
            }
        }
    }
}

/// <summary>A dense layer with the ReLUs after it applied to its outputs in place.</summary>
internal sealed class DenseStage<T> : InferenceStage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dense<T> layer;
    private bool relu;

    public DenseStage(Dense<T> layer) => this.layer = layer;

    public override bool TryAbsorb(Layer<T> next)
    {
        switch (next.InferenceRole)
        {
            case InferenceFusion.Relu:
                relu = true;
                return true;
            case InferenceFusion.SameValues:
                return true;
            default:
                return false;
        }
    }

    /// <summary>W packed for one-sample products (RowProduct.Pack), made on the first one-sample run after <see cref="Refresh"/>.</summary>
    private T[] packed = [];
    private bool packedFresh;

    /// <summary>The weights may have changed: the next one-sample run packs them again.</summary>
    public override void Refresh() => packedFresh = false;

    public override void Run(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        int d = layer.InputShape.Size, m = layer.Outputs;
        if (n == 1)
        {
            int g = RowProduct.GroupRows<T>(), groups = (m + g - 1) / g;
            int parts = RowParts(m, d, groups);
            if (!packedFresh)
            {
                if (packed.Length == 0) packed = new T[RowProduct.PackedLength<T>(m, d)];
                var pack = new RowWork { W = layer.Weight.Value, Packed = packed, M = m, K = d, Groups = groups, Parts = parts, Pack = true };
                Parallelism.For(parts, ref pack);
                packedFresh = true;
            }
            var work = new RowWork { X = x[..d], W = layer.Weight.Value, Packed = packed, Y = y[..m], M = m, K = d, Groups = groups, Parts = parts };
            Parallelism.For(parts, ref work);
        }
        else
        {
            ParallelGemm.Multiply(false, true, n, m, d, x, d, layer.Weight.Value, d, y, m, accumulate: false);
        }
        ReadOnlySpan<T> b = layer.Bias.Value;
        for (int s = 0; s < n; s++)
        {
            Span<T> ys = y.Slice(s * m, m);
            System.Numerics.Tensors.TensorPrimitives.Add(ys, b, ys);
            if (relu) System.Numerics.Tensors.TensorPrimitives.Max(ys, T.Zero, ys);
        }
    }

    /// <summary>Ranges of row groups for one sample: small products on the calling thread alone, else about two per thread.</summary>
    private static int RowParts(int m, int d, int groups)
    {
        int threads = Parallelism.ThreadCount;
        if (threads == 1 || (long)m * d < 65536) return 1;
        return Math.Max(1, Math.Min(groups, 2 * threads));
    }

    private ref struct RowWork : IPartitionedWork
    {
        public ReadOnlySpan<T> X, W;
        public Span<T> Y, Packed;
        public int M, K, Groups, Parts;
        public bool Pack;

        public readonly void Run(int partition)
        {
            var (first, count) = Parallelism.Range(Groups, Parts, partition);
            if (count == 0) return;
            if (Pack) RowProduct.Pack(W, M, K, Packed, first, count);
            else RowProduct.MultiplyPacked(X, Packed, M, K, Y, first, count);
        }
    }
}
