// The inference plan: a network's layers cut into stages for evaluation-mode forward passes.
//
// A convolution absorbs the batch normalisation (evaluation form), the ReLUs, the one 2x2/2 max pooling and the
// flatten that follow it: its direct kernel
// (Kernels/DirectConvolution.cs) computes a few output rows of one block of channels into an L1 tile, and the
// epilogue adds the bias, applies ReLU, pools and writes the result straight into the next stage's input (with
// the next convolution's zero border already in place when the next stage is a convolution). A dense layer
// absorbs the ReLUs (and a flatten) after it. Every other layer runs its own Forward.
//
// Winograd. A float convolution that WinogradConvolution.Chooses (5x5 or 3x3, stride 1, at least 16 input channels; a
// fixed rule from measurements, docs/PERFORMANCE.md) runs F(2x2, 5x5) or F(4x4, 3x3) instead of the direct kernel: its input
// is then read channels last, with Winograd's padding, which the stage before writes so (or the stage transposes from the maps);
// partitions are (sample, group of tile rows), each tile computed the same way whatever the split; the products and output
// transform run per block of channels, then the same epilogue. The layer's own forward pass (Conv2d.Forward) runs the same
// Winograd for the same shapes unless the layer has a connection table, so for those the plan's bits are the layer-by-layer
// bits (each tile's sums in the same order, then y + b); a convolution with a connection table keeps the direct kernel when
// the run asks for the layer-by-layer bits (Inference.SameBitsAsForward), and otherwise runs Winograd within docs/MATH.md's
// tolerance of them. Either way the same for any thread count, batch and SIMD width.
//
// Everywhere else the same bits as the layer-by-layer forward pass (Network.Forward in evaluation mode): the direct kernel follows
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

    /// <summary>Convolution stages that run Winograd unless the run asks for the layer-by-layer bits.</summary>
    public int WinogradStages => steps.Count(s => s.Stage is ConvolutionStage<T> { HasWinograd: true });

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
    /// <remarks>
    /// With <paramref name="exact"/> every convolution runs the kernel whose bits are the layer's: Winograd where the layer's own
    /// forward pass runs it (Conv2d.ForwardUsesWinograd), else the direct kernel. Otherwise a float convolution that
    /// WinogradConvolution.Chooses runs Winograd (also with a connection table, within the tolerance of docs/MATH.md, "Winograd").
    /// </remarks>
    public void Run(int n, bool exact = false)
    {
        network.ForgetFoldedOutputs();
        foreach (var step in steps)
            if (step.Stage is ConvolutionStage<T> convolution) convolution.UseWinograd = convolution.HasWinograd && (!exact || convolution.LayerUsesWinograd);
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
    private readonly WinogradConvolution<T>? winograd;
    private bool reluBefore, pool, reluAfter, flat;
    private BatchNorm<T>? norm;
    private T[] normConstants = [];
    private T[] padded = [];
    private T[] paddedWinograd = [];

    public ConvolutionStage(Conv2d<T> layer)
    {
        this.layer = layer;
        var s = layer.InputShape;
        var (top, bottom, left, right) = layer.ResolvedPadding;
        conv = new DirectConvolution<T>(s.Channels, s.Height, s.Width, layer.OutChannels, layer.KernelHeight, layer.KernelWidth, layer.Stride,
            top, bottom, left, right);
        if (WinogradConvolution<T>.Chooses(s.Channels, conv.OutHeight, conv.OutWidth, layer.KernelHeight, layer.KernelWidth, layer.Stride))
            winograd = new WinogradConvolution<T>(s.Channels, s.Height, s.Width, layer.OutChannels, layer.KernelHeight, top, bottom, left, right, conv.Block);
    }

    /// <summary>True when the fixed rule (WinogradConvolution.Chooses) gives this convolution a Winograd kernel.</summary>
    public bool HasWinograd => winograd is not null;

    /// <summary>
    /// True when the layer's own forward pass runs Winograd (<see cref="Conv2d{T}.ForwardUsesWinograd"/>: the same rule, no
    /// connection table): the stage's Winograd then gives the layer-by-layer bits (each tile's sums in the same order, then
    /// y + b and the epilogue as the layers do it), so it runs even when the run asks for them.
    /// </summary>
    public bool LayerUsesWinograd => layer.ForwardUsesWinograd;

    /// <summary>This run uses the Winograd kernel (set by the plan before each run): the input is then read channels last, with Winograd's padding.</summary>
    public bool UseWinograd { get; set; }

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
        if (UseWinograd) winograd!.Pack(layer.Weight.Value);
        else conv.Pack(layer.Weight.Value);
        if (norm is not null)
        {
            // μ, a, β per channel, each padded to whole blocks (zero past the last channel).
            int padded = conv.Blocks * conv.Block;
            if (normConstants.Length == 0) normConstants = new T[3 * padded];
            norm.InferenceAffine(normConstants.AsSpan(0, padded), normConstants.AsSpan(padded, padded), normConstants.AsSpan(2 * padded, padded));
        }
        // The next stage's padded input (zero: the border is never written); channels last for a Winograd stage.
        Span<T> output = y;
        if (Feeds is not null && Feeds.UseWinograd)
        {
            int size = Feeds.winograd!.PaddedSize;
            if (paddedWinograd.Length < n * size) paddedWinograd = new T[n * size];
            output = paddedWinograd;
        }
        else if (Feeds is not null)
        {
            int size = Feeds.conv.PaddedSize;
            if (padded.Length < n * size) padded = new T[n * size];
            output = padded;
        }
        ReadOnlySpan<T> input = FedBy is null ? x : UseWinograd ? FedBy.paddedWinograd : FedBy.padded;
        int threads = Parallelism.ThreadCount;
        if (UseWinograd)
        {
            // Partitions are (sample, group of tile rows); each tile is computed the same way whatever the split.
            int tileRows = (NeededRows + winograd!.TileSize - 1) / winograd.TileSize;
            int tileGroups = threads == 1 || n >= 2 * threads ? 1 : Math.Clamp((4 * threads + n - 1) / n, 1, tileRows);
            var tiles = new WinogradWork { Stage = this, X = input, Y = output, Groups = tileGroups, Units = tileRows };
            Parallelism.For(n * tileGroups, ref tiles);
            return;
        }
        int unit = pool ? 2 : 1, units = OutHeight; // rows of the stage's output; each needs `unit` rows of sums
        int groups = threads == 1 || n >= 2 * threads ? 1 : Math.Clamp((4 * threads + n * conv.Blocks - 1) / (n * conv.Blocks), 1, units);
        var work = new Work { Stage = this, X = input, Y = output, Groups = groups, Unit = unit, Units = units };
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

    /// <summary>Rows of the convolution's output the stage uses: all of them, or an even number when pooling (2x2/2 drops an odd last row).</summary>
    private int NeededRows => pool ? 2 * (conv.OutHeight / 2) : conv.OutHeight;

    private ref struct WinogradWork : IPartitionedWork
    {
        public ConvolutionStage<T> Stage;
        public ReadOnlySpan<T> X;
        public Span<T> Y;
        public int Groups, Units;

        public readonly void Run(int partition)
        {
            var (first, count) = Parallelism.Range(Units, Groups, partition % Groups);
            if (count > 0) Stage.RunWinogradPart(X, Y, partition / Groups, first, count);
        }
    }

    /// <summary>Largest transformed input (or block of products) a Winograd partition holds at once, in values: it stays in L2.</summary>
    private const int WinogradChunkValues = 65536;

    /// <summary>Tile rows first .. + count of sample <paramref name="s"/> by Winograd: input transform, then per block of channels the products, the output transform and the epilogue.</summary>
    private void RunWinogradPart(ReadOnlySpan<T> x, Span<T> y, int s, int first, int count)
    {
        var w = winograd!;
        ReadOnlySpan<T> input;
        if (FedBy is not null)
        {
            input = x.Slice(s * w.PaddedSize, w.PaddedSize);
        }
        else
        {
            // The sample channels last, with its zero border, in this thread's scratch.
            Span<T> scratch = ThreadScratch<T>.Get(ScratchSlot.PaddedInput, w.PaddedSize);
            scratch.Clear();
            int h = w.Height, wd = w.Width, pw = w.PaddedWidth, cin = w.Channels;
            ReadOnlySpan<T> xs = x.Slice(s * cin * h * wd, cin * h * wd);
            for (int c = 0; c < cin; c++)
                for (int r = 0; r < h; r++)
                {
                    ReadOnlySpan<T> from = xs.Slice((c * h + r) * wd, wd);
                    Span<T> to = scratch[(((r + w.PadTop) * pw + w.PadLeft) * cin + c)..];
                    for (int v = 0; v < wd; v++) to[v * cin] = from[v];
                }
            input = scratch;
        }
        int m = w.TileSize, columns = w.TileColumns, bs = w.Block, needed = NeededRows;
        int chunk = Math.Max(1, WinogradChunkValues / (WinogradConvolution<T>.Frequencies * columns * Math.Max(w.Channels, bs)));
        for (int t = first; t < first + count; t += chunk)
        {
            int tileRows = Math.Min(chunk, first + count - t), tiles = tileRows * columns;
            int r0 = t * m, rows = Math.Min((t + tileRows) * m, needed) - r0;
            Span<T> v = ThreadScratch<T>.Get(ScratchSlot.WinogradInput, WinogradConvolution<T>.Frequencies * tiles * w.Channels);
            w.TransformInput(input, t, tileRows, v);
            Span<T> products = ThreadScratch<T>.Get(ScratchSlot.WinogradProducts, WinogradConvolution<T>.Frequencies * tiles * bs);
            Span<T> tile = ThreadScratch<T>.Get(ScratchSlot.ConvolutionTile, rows * w.OutWidth * bs);
            for (int block = 0; block < w.Blocks; block++)
            {
                w.Multiply(v, tiles, block, products);
                w.TransformOutput(products, t, tileRows, rows, tile);
                if (pool) Epilogue(tile, y, s, block, r0 / 2, rows / 2);
                else Epilogue(tile, y, s, block, r0, rows);
            }
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
        if (Feeds is not null && Feeds.UseWinograd)
        {
            // The next convolution's padded input, channels last: each position's channels of the block in one copy.
            var next = Feeds.winograd!;
            Span<T> sample = y.Slice(s * next.PaddedSize, next.PaddedSize);
            for (int r = 0; r < rows; r++)
                for (int v = 0; v < ow; v++)
                    result.Slice((r * ow + v) * bs, lanes).CopyTo(sample[((((first + r + next.PadTop) * next.PaddedWidth) + v + next.PadLeft) * cout + block * bs)..]);
            return;
        }
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
