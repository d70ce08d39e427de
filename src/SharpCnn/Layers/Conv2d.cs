using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// 2-D convolution (cross-correlation, as in PyTorch, ONNX and Caffe), with stride,
/// padding and an optional connection table.
///
/// Shapes: x [N, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout], y [N, Cout, Ho, Wo],
///   Ho = (H + top + bottom - kh) / s + 1,  Wo = (W + left + right - kw) / s + 1  (floor).
///
/// Forward (xp = x zero-padded):
///   y[n,o,u,v] = b[o] + Σ_{c,i,j} w[o,c,i,j] · xp[n, c, u·s + i, v·s + j]
///
/// Backward, with δ = ∂L/∂y:
///   ∂L/∂b[o]       = Σ_{n,u,v} δ[n,o,u,v]
///   ∂L/∂w[o,c,i,j] = Σ_{n,u,v} δ[n,o,u,v] · xp[n, c, u·s + i, v·s + j]      (a 'valid' correlation of xp with δ)
///   ∂L/∂xp[n,c,p,q] = Σ_{o,i,j: p = u·s+i, q = v·s+j} δ[n,o,u,v] · w[o,c,i,j] (a 'full' convolution of δ with w,
///                                                                             i.e. correlation with rot180(w))
///   and ∂L/∂x is ∂L/∂xp without the padded border.
/// The seeds write the forward pass as a true convolution with a rotated kernel; with
/// the kernel stored as used here (correlation), their rot180(k) in the backward
/// formulas becomes the plain w above: see docs/MATH.md.
///
/// Connection table (LeNet C3, seed 002's input-map selection): table[o, c] = false means
/// input map c does not feed output map o; those weights are held at zero and never trained.
///
/// Implementation: per sample, im2col turns xp into cols[K = Cin·kh·kw, P = Ho·Wo], then
///   y = W·cols, ∂W += δ·colsᵀ, ∂cols = Wᵀ·δ and col2im(∂cols) = ∂x.
/// In float, when <see cref="WinogradConvolution{T}.Chooses"/> the shape and there is no connection table, y is computed
/// by Winograd instead (<see cref="ForwardUsesWinograd"/>), and ∂x too when the rule chooses its shape: ∂x is the stride-1
/// correlation of δ, padded by r − 1 − pad, with w'[c, o, i, j] = w[o, c, r−1−i, r−1−j] (<see cref="InputGradientUsesWinograd"/>),
/// and ∂W where y is, for every chunk of at least <see cref="WinogradGradientSamples"/> samples: ∂U = Σ (A δ Aᵀ) ⊙ V per
/// frequency, ∂W = Gᵀ ∂U G (<see cref="WeightGradientUsesWinograd"/>; docs/MATH.md, "Winograd convolution in training").
/// </summary>
public sealed class Conv2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int padTop, padBottom, padLeft, padRight, outH, outW;
    private WinogradConvolution<T>? winogradForward, winogradInput;

    /// <summary>
    /// True when <see cref="Forward"/> runs Winograd (F(2x2, 5x5) or F(4x4, 3x3)): the fixed rule
    /// <see cref="WinogradConvolution{T}.Chooses"/> (float, a 5x5 or 3x3 kernel, stride 1, at least 16 input channels, an
    /// output at least 4x4; docs/PERFORMANCE.md, "Winograd convolution in training") and no connection table.
    /// </summary>
    internal bool ForwardUsesWinograd => winogradForward is not null;

    /// <summary>
    /// True when <see cref="Backward"/> computes ∂x by Winograd: the same rule for the convolution of δ (Cout input channels,
    /// an H x W output) with the flipped, transposed filters, whose padding r − 1 − pad must not be negative.
    /// </summary>
    internal bool InputGradientUsesWinograd => winogradInput is not null;

    /// <summary>
    /// True when <see cref="Backward"/> computes ∂w by Winograd: wherever <see cref="Forward"/> runs it (the same transforms of x, and
    /// ∂U = Σ Δ̂ ⊙ V per chunk of samples, ∂w = Gᵀ ∂U G; docs/MATH.md, "Winograd convolution in training"), for every chunk of at least
    /// <see cref="WinogradGradientSamples"/> samples.
    /// </summary>
    internal bool WeightGradientUsesWinograd => winogradForward is not null;

    /// <summary>Creates a convolution with <paramref name="outChannels"/> kernels of <paramref name="kernelHeight"/> x <paramref name="kernelWidth"/>.</summary>
    /// <param name="outChannels">Number of output maps (kernels).</param>
    /// <param name="kernelHeight">Kernel rows.</param>
    /// <param name="kernelWidth">Kernel columns.</param>
    /// <param name="stride">Step between windows, both directions.</param>
    /// <param name="padding">Padding mode or explicit sizes.</param>
    /// <param name="connectionTable">Optional [outChannels, inChannels] table; null connects every input map to every output map.</param>
    /// <param name="tableName">Name of a named table (e.g. "lenet5"), used in the spec token instead of the bits.</param>
    public Conv2d(int outChannels, int kernelHeight, int kernelWidth, int stride = 1, Padding padding = default,
        bool[,]? connectionTable = null, string? tableName = null)
    {
        if (outChannels <= 0) throw new ArgumentOutOfRangeException(nameof(outChannels), outChannels, "a convolution needs at least one kernel");
        if (kernelHeight <= 0 || kernelWidth <= 0) throw new ArgumentOutOfRangeException(nameof(kernelHeight), $"kernel {kernelHeight}x{kernelWidth} is empty");
        if (stride <= 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be at least 1");
        if (padding.Top < 0 || padding.Bottom < 0 || padding.Left < 0 || padding.Right < 0) throw new ArgumentOutOfRangeException(nameof(padding), "padding cannot be negative");
        if (connectionTable is not null && connectionTable.GetLength(0) != outChannels)
            throw new ArgumentException($"connection table has {connectionTable.GetLength(0)} rows, expected one per output map ({outChannels})", nameof(connectionTable));
        OutChannels = outChannels;
        KernelHeight = kernelHeight;
        KernelWidth = kernelWidth;
        Stride = stride;
        Padding = padding;
        ConnectionTable = connectionTable;
        TableName = tableName;
    }

    /// <summary>Number of output maps.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel rows.</summary>
    public int KernelHeight { get; }

    /// <summary>Kernel columns.</summary>
    public int KernelWidth { get; }

    /// <summary>Window step.</summary>
    public int Stride { get; }

    /// <summary>Padding as configured.</summary>
    public Padding Padding { get; }

    /// <summary>[out, in] connection table, or null for full connection.</summary>
    public bool[,]? ConnectionTable { get; }

    /// <summary>Name of the connection table when it is a named one.</summary>
    public string? TableName { get; }

    /// <summary>Resolved zero padding (top, bottom, left, right) once built.</summary>
    public (int Top, int Bottom, int Left, int Right) ResolvedPadding => (padTop, padBottom, padLeft, padRight);

    /// <summary>The weight [Cout, Cin, kh, kw].</summary>
    public Parameter<T> Weight => Parameters[0];

    /// <summary>The bias [Cout].</summary>
    public Parameter<T> Bias => Parameters[1];

    /// <inheritdoc />
    public override LayerSpec Spec => new ConvSpec(KernelHeight, KernelWidth, OutChannels, Stride, Padding, ConnectionTable, TableName);

    /// <inheritdoc />
    public override LayerFilters<T>? FiltersOver(Shape image) => new(Weight.Value, OutChannels, InputShape.Channels, KernelHeight, KernelWidth);

    private int K => InputShape.Channels * KernelHeight * KernelWidth;

    private int P => outH * outW;

    /// <inheritdoc />
    protected override Shape Configure(Shape input)
    {
        if (ConnectionTable is not null && ConnectionTable.GetLength(1) != input.Channels)
            throw new LayerShapeException($"connection table has {ConnectionTable.GetLength(1)} columns but the input has {input.Channels} maps");
        (padTop, padBottom, padLeft, padRight) = Padding.Resolve(input.Height, input.Width, KernelHeight, KernelWidth, Stride);
        int ph = input.Height + padTop + padBottom, pw = input.Width + padLeft + padRight;
        if (KernelHeight > ph || KernelWidth > pw)
            throw new LayerShapeException($"kernel {KernelHeight}x{KernelWidth} is larger than its {(ph == input.Height && pw == input.Width ? "" : "padded ")}input {ph}x{pw}");
        outH = (ph - KernelHeight) / Stride + 1;
        outW = (pw - KernelWidth) / Stride + 1;
        winogradForward = winogradInput = null;
        if (ConnectionTable is null && WinogradConvolution<T>.Chooses(input.Channels, outH, outW, KernelHeight, KernelWidth, Stride))
            winogradForward = new WinogradConvolution<T>(input.Channels, input.Height, input.Width, OutChannels, KernelHeight,
                padTop, padBottom, padLeft, padRight, WinogradConvolution<T>.DefaultBlock);
        // ∂x: a stride-1 convolution of δ padded by r − 1 − pad on each side with the flipped, transposed filters (docs/MATH.md).
        int r = KernelHeight;
        if (ConnectionTable is null && Stride == 1 && padTop < r && padBottom < r && padLeft < r && padRight < r
            && WinogradConvolution<T>.Chooses(OutChannels, input.Height, input.Width, KernelHeight, KernelWidth, Stride))
            winogradInput = new WinogradConvolution<T>(OutChannels, outH, outW, input.Channels, r,
                r - 1 - padTop, r - 1 - padBottom, r - 1 - padLeft, r - 1 - padRight, WinogradConvolution<T>.DefaultBlock, flipped: true);
        return new Shape(OutChannels, outH, outW);
    }

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        long weights = (long)OutChannels * InputShape.Channels * KernelHeight * KernelWidth;
        string weightName = $"weight[{OutChannels}x{InputShape.Channels}x{KernelHeight}x{KernelWidth}]";
        if (weights > Array.MaxLength) throw new LayerShapeException($"{weightName} has {weights} elements, more than an array holds");
        int cin = InputShape.Channels, area = KernelHeight * KernelWidth;
        bool[]? mask = null;
        int connectedPerOutput = cin, connectedPerInput = OutChannels;
        if (ConnectionTable is not null)
        {
            ParameterBudget.Check(weights, weightName); // the mask is as large as the weight it masks
            mask = new bool[OutChannels * cin * area];
            for (int o = 0; o < OutChannels; o++)
                for (int c = 0; c < cin; c++)
                    if (ConnectionTable[o, c])
                        mask.AsSpan((o * cin + c) * area, area).Fill(true);
            int connections = mask.Count(m => m) / area;
            connectedPerOutput = Math.Max(1, connections / OutChannels);
            connectedPerInput = Math.Max(1, connections / cin);
        }
        var weight = new Parameter<T>("weight", [OutChannels, cin, KernelHeight, KernelWidth], ParameterRole.Weight, mask)
        {
            FanIn = connectedPerOutput * area,
            FanOut = connectedPerInput * area,
        };
        var bias = new Parameter<T>("bias", [OutChannels], ParameterRole.Bias) { FanIn = connectedPerOutput * area, FanOut = connectedPerInput * area };
        // The kernels' column matrix (im2col) and padded input must fit in arrays too (checked after the output and the weights, whose messages come first).
        int ph = InputShape.Height + padTop + padBottom, pw = InputShape.Width + padLeft + padRight;
        long columns = (long)cin * area * ((long)outH * outW) + Im2Col.Slack;
        if (columns > Array.MaxLength || (long)cin * ph * pw + Im2Col.Slack > Array.MaxLength)
            throw new LayerShapeException($"its column matrix ({cin}x{KernelHeight}x{KernelWidth} by {outH}x{outW} = {columns - Im2Col.Slack} values) has more values than an array holds");
        return [weight, bias];
    }

    /// <inheritdoc />
    protected override void ReserveScratch(int batch)
    {
        // Partial weight and bias gradients of each fixed chunk of samples (see Backward); the
        // column matrices are per-thread scratch (ThreadScratch) and do not grow with the batch.
        int chunks = (batch + GradientChunk - 1) / GradientChunk;
        if (chunks >= 1)
        {
            if ((long)chunks * Weight.Length > Array.MaxLength)
                throw new ArgumentOutOfRangeException(nameof(batch), batch, $"{Token}: the partial gradients of a batch of {batch} ({chunks} x {Weight.Length} values) have more values than an array holds");
            partialWeight = new T[chunks * Weight.Length];
            partialBias = new T[chunks * OutChannels];
        }
    }

    /// <summary>
    /// Samples per weight-gradient chunk: the batch is cut into fixed runs of this many samples (BatchTree's
    /// blocks) whose gradients are summed separately (in parallel) and then combined by BatchTree's fixed
    /// tree. It never depends on the thread count or the number of processes, so neither do the sums.
    /// </summary>
    internal const int GradientChunk = BatchTree.BlockSize;

    private T[] partialWeight = [];

    /// <inheritdoc />
    internal override long ScratchBytes(int batch)
    {
        long chunks = ((long)batch + GradientChunk - 1) / GradientChunk;
        return chunks > 1 ? MemoryMath.Bytes<T>(chunks, Weight.PlannedLength + OutChannels) : 0;
    }

    /// <inheritdoc />
    internal override long ThreadScratchBytes
    {
        get
        {
            if (IsPointwise) return 0;
            long columns = (long)K * P;
            long padded = (long)InputShape.Channels * (InputShape.Height + padTop + padBottom) * (InputShape.Width + padLeft + padRight);
            // Winograd's own slots (transformed input, products, output tile) come on top of the column matrices, and its padded
            // sample shares im2col's slot: counted on top too, so the figure is never short.
            long winograd = Math.Max(winogradForward?.ScratchValues ?? 0, winogradInput?.ScratchValues ?? 0)
                + (winogradForward is { } forward ? forward.PaddedSize + forward.GradientScratchValues : 0);
            return MemoryMath.Bytes<T>(1, 2 * columns + padded + 2 * Im2Col.Slack + winograd);
        }
    }
    private T[] partialBias = [];

    /// <inheritdoc />
    public override long ForwardFlops => 2L * Weight.TrainableCount * P;

    /// <inheritdoc />
    /// <remarks>
    /// Where Winograd computes the forward pass or the input gradient, that pass counts the element-wise products of the
    /// transformed tiles (<see cref="WinogradConvolution{T}.MultiplyFlops"/>; the transforms are not counted, so the total
    /// is a lower bound of the work done); so does the weight gradient where Winograd computes it (the same count: per tile and frequency,
    /// OutChannels x Channels products; still a lower bound when a batch's short last chunk takes im2col + GEMM), and by im2col and GEMM
    /// it counts <see cref="ForwardFlops"/>.
    /// </remarks>
    public override long TrainingFlops(bool withInputGradient) =>
        2 * (winogradForward?.MultiplyFlops ?? ForwardFlops)
        + (withInputGradient ? winogradInput?.MultiplyFlops ?? ForwardFlops : 0);

    /// <inheritdoc />
    /// <remarks>The direct kernel (or Winograd, where <see cref="Forward"/> runs it) with bias, ReLU and 2x2 max pooling in its epilogue: the same bits as <see cref="Forward"/>.</remarks>
    internal override Model.InferenceStage<T>? CreateInferenceStage() => new Model.ConvolutionStage<T>(this);

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        if (winogradForward is { } winograd)
        {
            winograd.Pack(Weight.Value);
            RunWinograd(winograd, x, Bias.Value, y, n);
            return;
        }
        // Partition (sample s, block of output positions): im2col of just those positions, then
        // y_s[:, block] = W · cols_block + b. Every output is computed the same way whatever the split.
        int blocks = SplitFor(n, P);
        var body = new ForwardWork { Layer = this, X = x, Y = y, Blocks = blocks };
        Parallelism.For(n * blocks, ref body);
    }

    /// <summary>How many pieces to cut each sample's work into so that n samples keep every thread busy.</summary>
    private static int SplitFor(int n, int size)
    {
        int threads = Parallelism.ThreadCount;
        if (threads == 1 || n >= 2 * threads) return 1;
        return Math.Clamp((2 * threads + n - 1) / n, 1, Math.Max(1, size / 48));
    }

    /// <summary>
    /// <paramref name="winograd"/> over n samples: partitions are (sample, range of tile rows), more than one range per sample
    /// only when the batch is smaller than twice the threads; each output is computed the same way whatever the split.
    /// </summary>
    private static void RunWinograd(WinogradConvolution<T> winograd, ReadOnlySpan<T> x, ReadOnlySpan<T> bias, Span<T> y, int n)
    {
        int groups = WinogradGroups(winograd, n);
        var work = new WinogradWork { Convolution = winograd, X = x, Bias = bias, Y = y, Groups = groups };
        Parallelism.For(n * groups, ref work);
    }

    /// <summary>Ranges of tile rows per sample for <see cref="RunWinograd"/> over <paramref name="n"/> samples: 1 unless the batch is smaller than twice the threads.</summary>
    private static int WinogradGroups(WinogradConvolution<T> winograd, int n)
    {
        int threads = Parallelism.ThreadCount;
        return threads == 1 || n >= 2 * threads ? 1 : Math.Clamp((2 * threads + n - 1) / n, 1, winograd.TileRows);
    }

    /// <summary>Partition <paramref name="partition"/> of <see cref="RunWinograd"/>: sample partition / groups, its range partition % groups of tile rows.</summary>
    private static void WinogradPartition(WinogradConvolution<T> w, ReadOnlySpan<T> x, ReadOnlySpan<T> bias, Span<T> y, int partition, int groups)
    {
        int s = partition / groups, inSize = w.Channels * w.Height * w.Width, outSize = w.OutChannels * w.OutHeight * w.OutWidth;
        var (first, count) = Parallelism.Range(w.TileRows, groups, partition % groups);
        if (count > 0) w.ComputeMaps(x.Slice(s * inSize, inSize), bias, y.Slice(s * outSize, outSize), first, count);
    }

    private ref struct WinogradWork : IPartitionedWork
    {
        public WinogradConvolution<T> Convolution;
        public ReadOnlySpan<T> X, Bias;
        public Span<T> Y;
        public int Groups;

        public readonly void Run(int partition) => WinogradPartition(Convolution, X, Bias, Y, partition, Groups);
    }

    private ref struct ForwardWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public ReadOnlySpan<T> X;
        public Span<T> Y;
        public int Blocks;

        public readonly void Run(int partition) => Layer.ForwardBlock(X, Y, partition / Blocks, partition % Blocks, Blocks);
    }

    private void ForwardBlock(ReadOnlySpan<T> x, Span<T> y, int s, int block, int blocks)
    {
        int inSize = InputShape.Size, outSize = OutputShape.Size, p = P, k = K;
        var (p0, count) = Parallelism.AlignedRange(p, blocks, block, 48);
        if (count == 0) return;
        ReadOnlySpan<T> xs = x.Slice(s * inSize, inSize);
        Span<T> ys = y.Slice(s * outSize, outSize);
        ReadOnlySpan<T> w = Weight.Value, b = Bias.Value;
        if (IsPointwise)
        {
            Gemm.Multiply(false, false, OutChannels, count, k, w, k, xs[p0..], p, ys[p0..], p, accumulate: false);
        }
        else
        {
            // Sized for any block (warm-up grows them once), with im2col's slack for its whole-vector runs.
            Span<T> cols = ThreadScratch<T>.Get(ScratchSlot.Columns, k * p + Im2Col.Slack)[..(k * count + Im2Col.Slack)];
            Im2Col.GatherBlock(xs, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, 0, k, p0, count,
                cols, PaddedScratch(), padBottom, padRight);
            Gemm.Multiply(false, false, OutChannels, count, k, w, k, cols, count, ys[p0..], p, accumulate: false);
        }
        for (int o = 0; o < OutChannels; o++) TensorPrimitives.Add(ys.Slice(o * p + p0, count), b[o], ys.Slice(o * p + p0, count));
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);

        // ∂W[Cout, K] += Σ_s δ_s[Cout, P] · cols_sᵀ[P, K] and ∂b[o] += Σ_{s,p} δ_s[o, p]: fixed chunks of
        // GradientChunk samples (BatchTree's blocks), each summed in sample order into its own partial (or
        // straight into ∂W when the whole batch is one chunk), the weight columns of a chunk split over threads;
        // then the partials are combined by BatchTree's fixed tree (with the other processes' when the batch is shared).
        int chunks = (n + GradientChunk - 1) / GradientChunk;
        bool direct = chunks == 1 && !SplitBatch;
        int threads = Parallelism.ThreadCount;
        // Where the forward pass runs Winograd, chunks of at least WinogradGradientSamples samples (every chunk but perhaps the
        // last) take Winograd's weight gradient, partitioned by chunk and, when there are fewer such chunks than twice the
        // threads, by group of output channels (each group transforms the chunk's inputs itself: the same bits whatever the
        // groups). The other chunks take im2col + GEMM with at least 8 partitions per thread where the columns allow: a
        // partition costs nothing extra (each gathers only its own im2col rows), and small ones keep a thread that was
        // descheduled mid-partition from holding up the step on a busy machine.
        int lastSamples = n - (chunks - 1) * GradientChunk;
        int winogradChunks = winogradForward is null ? 0 : lastSamples >= WinogradGradientSamples ? chunks : chunks - 1;
        int gemmChunks = chunks - winogradChunks, align = WinogradConvolution<T>.DefaultBlock;
        int outGroups = threads == 1 || winogradChunks == 0 ? 1
            : Math.Clamp((2 * threads + winogradChunks - 1) / winogradChunks, 1, (OutChannels + align - 1) / align);
        int columnParts = threads == 1 || gemmChunks == 0 ? 1 : Math.Clamp((8 * threads + gemmChunks - 1) / gemmChunks, 1, Math.Max(1, K / 48));
        // ∂x does not need ∂w: in one process its partitions (sample, group: many and short) join the weight gradient's job after
        // ∂w's (few and long), so the threads that finish ∂w early go on with ∂x instead of waiting for the last ∂w partition. With
        // a shared batch, ∂x follows the job instead, while the exchange of the ∂w partials started below runs on.
        WinogradConvolution<T>? winogradGradient = dx.IsEmpty ? null : winogradInput;
        winogradGradient?.Pack(Weight.Value);
        int inputGroups = dx.IsEmpty ? 0 : winogradGradient is null ? SplitFor(n, InputShape.Channels * 48) : WinogradGroups(winogradGradient, n);
        bool joined = !dx.IsEmpty && !SplitBatch;
        int weightPartitions = winogradChunks * outGroups + gemmChunks * columnParts;
        var weights = new WeightGradientWork
        {
            Layer = this, X = x, Dy = dy, N = n, WinogradPartitions = winogradChunks * outGroups, OutGroups = outGroups, ColumnParts = columnParts,
            FirstGemmChunk = winogradChunks, Direct = direct,
            WeightPartitions = weightPartitions, Dx = dx, InputGroups = inputGroups, InputWinograd = winogradGradient,
        };
        Parallelism.For(weightPartitions + (joined ? n * inputGroups : 0), ref weights);
        if (!direct && ConnectionTable is null)
        {
            // With a shared batch the exchanges run on while ∂x and the layers below are computed (BatchTree.CombineLater).
            BatchTree.CombineLater<T>(Share, partialWeight.AsSpan(0, chunks * Weight.Length), Weight.Length, chunks, Weight.Gradient);
            BatchTree.CombineLater<T>(Share, partialBias.AsSpan(0, chunks * OutChannels), OutChannels, chunks, Bias.Gradient);
        }
        else if (!direct)
        {
            BatchTree.Combine<T>(Share, partialWeight.AsSpan(0, chunks * Weight.Length), Weight.Length, chunks, Weight.Gradient);
            BatchTree.Combine<T>(Share, partialBias.AsSpan(0, chunks * OutChannels), OutChannels, chunks, Bias.Gradient);
        }
        if (ConnectionTable is not null) Weight.ApplyMask();
        if (dx.IsEmpty || joined) return;

        // A shared batch: ∂x after the job (the exchange of ∂w's partials, started above, overlaps it).
        var input = new InputGradientWork { Layer = this, Dy = dy, Dx = dx, Groups = inputGroups, Winograd = winogradGradient };
        Parallelism.For(n * inputGroups, ref input);
    }

    /// <summary>
    /// Partition <paramref name="partition"/> (sample, group of <paramref name="groups"/>) of ∂x: by Winograd, ∂x_s = δ_s convolved (stride 1,
    /// padding r − 1 − pad) with w'[c, o, i, j] = w[o, c, r−1−i, r−1−j], the group a range of tile rows; otherwise ∂cols_s[K, P] = Wᵀ[K, Cout] · δ_s[Cout, P]
    /// and col2im onto ∂x_s, the group a range of input maps (the rows of ∂cols for input map c only scatter onto ∂x_s[c]).
    /// </summary>
    private void InputGradientPartition(WinogradConvolution<T>? winograd, ReadOnlySpan<T> dy, Span<T> dx, int partition, int groups)
    {
        if (winograd is null) InputGradientBlock(dy, dx, partition / groups, partition % groups, groups);
        else WinogradPartition(winograd, dy, default, dx, partition, groups);
    }

    private ref struct InputGradientWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public ReadOnlySpan<T> Dy;
        public Span<T> Dx;
        public int Groups;
        public WinogradConvolution<T>? Winograd;

        public readonly void Run(int partition) => Layer.InputGradientPartition(Winograd, Dy, Dx, partition, Groups);
    }

    private void InputGradientBlock(ReadOnlySpan<T> dy, Span<T> dx, int s, int group, int groups)
    {
        int inSize = InputShape.Size, outSize = OutputShape.Size, p = P, k = K, taps = KernelHeight * KernelWidth;
        int plane = InputShape.Height * InputShape.Width;
        var (c0, channels) = Parallelism.Range(InputShape.Channels, groups, group);
        if (channels == 0) return;
        ReadOnlySpan<T> dys = dy.Slice(s * outSize, outSize);
        Span<T> dxs = dx.Slice(s * inSize + c0 * plane, channels * plane);
        ReadOnlySpan<T> w = Weight.Value.AsSpan(c0 * taps);
        if (IsPointwise)
        {
            Gemm.Multiply(true, false, channels, p, OutChannels, w, k, dys, p, dxs, p, accumulate: false);
            return;
        }
        Span<T> dcols = ThreadScratch<T>.Get(ScratchSlot.ColumnGradients, k * p)[..(channels * taps * p)];
        Gemm.Multiply(true, false, channels * taps, p, OutChannels, w, k, dys, p, dcols, p, accumulate: false);
        dxs.Clear();
        Im2Col.ScatterAdd<T>(dcols, channels, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, dxs);
    }

    /// <summary>
    /// The weight gradient's partitions: (Winograd chunk, group of output channels) first, then (im2col + GEMM chunk, column range); then,
    /// when the job has more than <see cref="WeightPartitions"/> (∂x joins it), ∂x's (sample, group) partitions.
    /// </summary>
    private ref struct WeightGradientWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Dx;
        public int N, WinogradPartitions, OutGroups, ColumnParts, FirstGemmChunk, WeightPartitions, InputGroups;
        public bool Direct;
        public WinogradConvolution<T>? InputWinograd;

        public readonly void Run(int partition)
        {
            if (partition >= WeightPartitions)
            {
                Layer.InputGradientPartition(InputWinograd, Dy, Dx, partition - WeightPartitions, InputGroups);
                return;
            }
            if (partition < WinogradPartitions)
            {
                Layer.WinogradWeightGradientChunk(X, Dy, N, partition / OutGroups, partition % OutGroups, OutGroups, Direct);
                return;
            }
            int q = partition - WinogradPartitions;
            Layer.WeightGradientBlock(X, Dy, N, FirstGemmChunk + q / ColumnParts, Direct, q % ColumnParts, ColumnParts);
        }
    }

    /// <summary>
    /// Fewest samples of a chunk whose weight gradient Winograd computes (where <see cref="WeightGradientUsesWinograd"/>); a shorter chunk
    /// (only a batch's last can be) keeps im2col + GEMM, since the filter transform Gᵀ ∂U G costs as much per chunk as the transforms of a few
    /// samples save (docs/PERFORMANCE.md). A chunk's samples are fixed by the batch, so the choice never depends on threads or processes.
    /// </summary>
    internal const int WinogradGradientSamples = 4;

    /// <summary>
    /// ∂w and ∂b of chunk <paramref name="chunk"/>'s samples by Winograd, output channels of group <paramref name="group"/> of <paramref name="groups"/>
    /// (the bias by group 0): into the chunk's partials, or added to the gradients when <paramref name="direct"/>.
    /// </summary>
    private void WinogradWeightGradientChunk(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, int chunk, int group, int groups, bool direct)
    {
        int inSize = InputShape.Size, outSize = OutputShape.Size, cout = OutChannels;
        int first = chunk * GradientChunk, end = Math.Min(n, first + GradientChunk), count = end - first;
        Span<T> dw = direct ? Weight.Gradient : partialWeight.AsSpan(chunk * Weight.Length, Weight.Length);
        Span<T> db = direct ? Bias.Gradient : partialBias.AsSpan(chunk * cout, cout);
        var (o0, outCount) = Parallelism.AlignedRange(cout, groups, group, WinogradConvolution<T>.DefaultBlock);
        winogradForward!.WeightGradient(x.Slice(first * inSize, count * inSize), dy.Slice(first * outSize, count * outSize), count, dw, accumulate: direct,
            o0, outCount);
        if (group != 0) return;
        for (int s = first; s < end; s++) BiasGradient(dy.Slice(s * outSize, outSize), db, accumulate: direct || s > first);
    }

    /// <summary>∂b[o] = Σ_p δ_s[o, p] of one sample's output gradient <paramref name="dys"/>, or added to ∂b when <paramref name="accumulate"/>.</summary>
    private void BiasGradient(ReadOnlySpan<T> dys, Span<T> db, bool accumulate)
    {
        int p = P;
        for (int o = 0; o < OutChannels; o++)
        {
            T sum = Reductions.Sum<T>(dys.Slice(o * p, p));
            db[o] = accumulate ? db[o] + sum : sum;
        }
    }

    private void WeightGradientBlock(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, int chunk, bool direct, int part, int parts)
    {
        int inSize = InputShape.Size, outSize = OutputShape.Size, p = P, k = K, cout = OutChannels;
        var (k0, count) = Parallelism.AlignedRange(k, parts, part, 48);
        if (count == 0) return;
        Span<T> dw = direct ? Weight.Gradient : partialWeight.AsSpan(chunk * Weight.Length, Weight.Length);
        Span<T> db = direct ? Bias.Gradient : partialBias.AsSpan(chunk * cout, cout);
        int first = chunk * GradientChunk, end = Math.Min(n, first + GradientChunk);
        for (int s = first; s < end; s++)
        {
            ReadOnlySpan<T> xs = x.Slice(s * inSize, inSize), dys = dy.Slice(s * outSize, outSize);
            bool accumulate = direct || s > first;
            if (IsPointwise)
            {
                Gemm.Multiply(false, true, cout, count, p, dys, p, xs[(k0 * p)..], p, dw[k0..], k, accumulate);
            }
            else if (Stride == 1 && Im2ColPanels<T>.Transposes)
            {
                // The columns go straight from the padded maps into the product's packed panels (Im2ColPanels): the same
                // values as im2col's, so the same bits, without writing cols and reading them back to transpose them.
                int taps = KernelHeight * KernelWidth, c0 = k0 / taps, c1 = (k0 + count - 1) / taps + 1;
                int ph = InputShape.Height + padTop + padBottom, pw = InputShape.Width + padLeft + padRight;
                Span<T> padded = PaddedScratch();
                Im2Col.PadMaps<T>(xs, InputShape.Height, InputShape.Width, c0, c1, padTop, padLeft, ph, pw, padded);
                var panels = new Im2ColPanels<T>(padded, ph, pw, KernelHeight, KernelWidth, outH, outW, k0 - c0 * taps);
                Gemm.MultiplyPacked(cout, count, p, dys, p, ref panels, dw[k0..], k, accumulate);
            }
            else
            {
                Span<T> cols = ThreadScratch<T>.Get(ScratchSlot.Columns, k * p + Im2Col.Slack)[..(count * p + Im2Col.Slack)];
                Im2Col.GatherBlock(xs, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, k0, count, 0, p,
                    cols, PaddedScratch(), padBottom, padRight);
                Gemm.Multiply(false, true, cout, count, p, dys, p, cols, p, dw[k0..], k, accumulate);
            }
            if (part == 0) BiasGradient(dys, db, accumulate);
        }
    }

    /// <summary>This thread's buffer for the input maps with their zero border (im2col's fast path), sized for all of them.</summary>
    private Span<T> PaddedScratch() =>
        ThreadScratch<T>.Get(ScratchSlot.PaddedInput, InputShape.Channels * (InputShape.Height + padTop + padBottom) * (InputShape.Width + padLeft + padRight) + Im2Col.Slack);

    /// <summary>A 1x1 kernel with stride 1 and no padding reads x itself as its column matrix.</summary>
    private bool IsPointwise => KernelHeight == 1 && KernelWidth == 1 && Stride == 1 && padTop + padBottom + padLeft + padRight == 0;
}

/// <summary>
/// The description of a <see cref="Conv2d{T}"/>: token <c>conv{kh}x{kw}x{out}</c> with options
/// <c>s{stride}</c>, a padding (<c>valid</c>, <c>same</c>, <c>full</c>, <c>p{n}</c>, <c>p{v}x{h}</c>,
/// <c>p{top}-{bottom}-{left}-{right}</c>) and <c>table=lenet5</c> or <c>table=</c>rows of 0/1 per output map
/// separated by dots; ONNX <c>Conv</c> (a connection table becomes zero weights; a grouped Conv imports
/// as a connection table).
/// </summary>
/// <param name="KernelHeight">Kernel rows.</param>
/// <param name="KernelWidth">Kernel columns.</param>
/// <param name="OutChannels">Number of output maps.</param>
/// <param name="Stride">Window step in both directions.</param>
/// <param name="Padding">Padding mode or explicit sizes.</param>
/// <param name="ConnectionTable">[out, in] table, or null for full connection.</param>
/// <param name="TableName">Name of a named table (e.g. "lenet5"), written instead of the bits.</param>
public sealed record ConvSpec(int KernelHeight, int KernelWidth, int OutChannels, int Stride = 1, Padding Padding = default,
    bool[,]? ConnectionTable = null, string? TableName = null) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => ConvKind.Instance;

    /// <inheritdoc />
    public override string Token
    {
        get
        {
            string s = $"conv{KernelHeight}x{KernelWidth}x{OutChannels}";
            if (Stride != 1) s += $":s{Stride}";
            s += Padding.Token;
            if (ConnectionTable is not null) s += ":table=" + (TableName ?? ConnectionTables.Format(ConnectionTable));
            return s;
        }
    }

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Conv2d<T>(OutChannels, KernelHeight, KernelWidth, Stride, Padding, ConnectionTable, TableName);

    /// <summary>Conv with explicit pads and strides; a connection table becomes zero weights.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        var conv = (Conv2d<T>)layer;
        string input = export.AsMaps();
        var (top, bottom, left, right) = conv.ResolvedPadding;
        float[] weights = OnnxLayerExport<T>.ToFloats(conv.Weight.Value);
        if (conv.Weight.Mask is { } mask)
            for (int i = 0; i < mask.Length; i++)
                if (!mask[i]) weights[i] = 0f;
        string wt = export.Floats("weight", [conv.OutChannels, layer.InputShape.Channels, conv.KernelHeight, conv.KernelWidth], weights);
        string bt = export.Floats("bias", [conv.OutChannels], OnnxLayerExport<T>.ToFloats(conv.Bias.Value));
        export.Emit(export.Node("Conv", "conv", [input, wt, bt],
            OnnxGraphWriter.Ints("kernel_shape", conv.KernelHeight, conv.KernelWidth),
            OnnxGraphWriter.Ints("strides", conv.Stride, conv.Stride),
            OnnxGraphWriter.Ints("pads", top, left, bottom, right),
            OnnxGraphWriter.Ints("dilations", 1, 1),
            OnnxGraphWriter.Int("group", 1)), flat: false);
    }
}

/// <summary>The convolution kind: grammar <c>conv{kh}x{kw}x{out}</c> and its options; imports ONNX <c>Conv</c>.</summary>
public sealed partial class ConvKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static ConvKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "conv";

    /// <inheritdoc />
    public override string Grammar => "conv{kh}x{kw}x{out}";

    /// <inheritdoc />
    public override string Summary => "2-D convolution of kh x kw kernels into out maps; options valid (default), same, full, p{n}, p{v}x{h}, p{t}-{b}-{l}-{r}, s{stride}, table=lenet5 or table=rows";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Parameters | LayerTraits.ChangesShape;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        int kh = token.Size(m.Groups[1].Value), kw = token.Size(m.Groups[2].Value), outputs = token.Size(m.Groups[3].Value);
        int stride = 1;
        Padding padding = default;
        bool[,]? table = null;
        string? tableName = null;
        bool paddingSet = false;
        foreach (string opt in token.Options)
        {
            Match o;
            if (opt is "valid" or "same" or "full")
            {
                SetPadding(opt switch { "valid" => Padding.Valid, "same" => Padding.Same, _ => Padding.Full });
            }
            else if ((o = StrideOption().Match(opt)).Success)
            {
                stride = token.Size(o.Groups[1].Value);
            }
            else if ((o = PadOption().Match(opt)).Success)
            {
                int[] v = o.Groups[1].Value.Split('-').Select(int.Parse).ToArray();
                SetPadding(v.Length switch
                {
                    1 => Padding.All(v[0]),
                    4 => Padding.Sides(v[0], v[1], v[2], v[3]),
                    _ => throw token.Error($"padding '{opt}': write p{{n}}, p{{vertical}}x{{horizontal}} or p{{top}}-{{bottom}}-{{left}}-{{right}}"),
                });
            }
            else if ((o = PadPairOption().Match(opt)).Success)
            {
                int v = int.Parse(o.Groups[1].Value), h = int.Parse(o.Groups[2].Value);
                SetPadding(Padding.Sides(v, v, h, h));
            }
            else if (opt.StartsWith("table=", StringComparison.Ordinal))
            {
                string t = opt["table=".Length..];
                if (ConnectionTables.Named(t) is { } named)
                {
                    table = named;
                    tableName = t;
                }
                else
                {
                    try
                    {
                        table = ConnectionTables.Parse(t);
                    }
                    catch (FormatException e)
                    {
                        throw token.Error($"{e.Message} (or use a named table: lenet5)");
                    }
                }
                if (table.GetLength(0) != outputs) throw token.Error($"connection table has {table.GetLength(0)} rows but the layer has {outputs} output maps");
            }
            else
            {
                throw token.Error($"unknown convolution option '{opt}'; expected valid, same, full, p{{n}}, p{{t}}-{{b}}-{{l}}-{{r}}, s{{stride}} or table=...");
            }
        }
        return new ConvSpec(kh, kw, outputs, stride, padding, table, tableName);

        void SetPadding(Padding p)
        {
            if (paddingSet) throw token.Error("padding is given twice");
            padding = p;
            paddingSet = true;
        }
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Conv"];

    /// <summary>
    /// Conv (any padding, equal strides, no dilation) → conv with explicit padding; a group becomes a
    /// connection table over a full weight with zeros between the groups; a depthwise Conv whose kernels
    /// are one value per channel moved by their size is LeNet's subsampling (what the exporter writes for it).
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Attributes(node, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides");
        import.RequireInputs(node, 2, 3);
        import.RequireOutputs(node, 1);
        import.RequireMaps();
        long channels = import.Channels, height = import.Height, width = import.Width;
        const long maxSize = OnnxGraphImporter.MaxSize;
        var w = import.ConstantInput(node, 1, "weight", required: true)!;
        string dims = OnnxGraphImporter.Dims(w);
        if (w.Dims.Count != 4) throw import.NodeFail($"weight '{w.Name}' has dimensions {dims}; a 2-D convolution's weight is [M, C/group, kh, kw]");
        long m = w.Dims[0], cg = w.Dims[1], kh = w.Dims[2], kw = w.Dims[3];
        if (m < 1 || cg < 1 || kh < 1 || kw < 1 || m > maxSize || kh > maxSize || kw > maxSize)
            throw import.NodeFail($"weight '{w.Name}' has dimensions {dims}; each must be in 1..{maxSize}");
        OnnxTensorData.Count(w, out string? countError); // bounds m·(C/group)·kh·kw before any product below
        if (countError is not null) throw import.NodeFail($"weight '{w.Name}' {countError}");
        long group = a.Int("group", 1);
        if (group < 1 || channels % group != 0 || m % group != 0 || channels / group != cg)
            throw import.NodeFail($"has group {group} with {channels} input channels and a weight {dims}; group must divide both channel counts and C/group must be {cg}");
        if (a.Ints("kernel_shape", 2) is { } ks && (ks[0] != kh || ks[1] != kw))
            throw import.NodeFail($"has kernel_shape [{ks[0]}, {ks[1]}] but a {kh}x{kw} weight");
        import.CheckDilations(a);
        long stride = import.Stride(a);
        var (top, left, bottom, right) = import.ResolvePads(a, kh, kw, stride);
        if (import.PendingPad is { } pp)
        {
            (top, bottom, left, right) = (top + pp.Top, bottom + pp.Bottom, left + pp.Left, right + pp.Right);
            import.TakePendingPad(node => $"the zero Pad of {node} became part of the padding of {import.Label}");
        }
        const long maxPad = OnnxGraphImporter.MaxPad;
        if (top > maxPad || bottom > maxPad || left > maxPad || right > maxPad)
            throw import.NodeFail($"pads [{top}, {left}, {bottom}, {right}]; SharpCnn takes at most {maxPad} per side");
        long ph = height + top + bottom, pw = width + left + right;
        if (kh > ph || kw > pw) throw import.NodeFail($"has a {kh}x{kw} kernel larger than its padded {ph}x{pw} input");
        long outH = (ph - kh) / stride + 1, outW = (pw - kw) / stride + 1;
        var wv = import.Reals(w, "weight");
        if (SubsampleKind.TryImportOnnx(import, node, wv, m, cg, kh, kw, stride, (top, left, bottom, right))) return;
        if (m * channels * kh * kw > OnnxGraphImporter.MaxLayerWeights)
            throw import.NodeFail($"would need {m * channels * kh * kw} weights ({m}x{channels}x{kh}x{kw}); this reader takes at most {OnnxGraphImporter.MaxLayerWeights} per layer");
        if (group > 1 && m * (channels + 1) > 1 << 18)
            throw import.NodeFail($"has group {group} over {channels} -> {m} channels; SharpCnn writes groups as a connection table, and one this large ({m}x{channels}) is beyond what a model file holds");
        import.Claim(m * channels * kh * kw, $"weight[{m}x{channels}x{kh}x{kw}]{(group > 1 ? $" (group {group} spread over all {channels} input maps)" : "")}");
        double[] weights;
        bool[,]? table = null;
        if (group == 1)
        {
            weights = wv;
        }
        else
        {
            // Grouped convolution → full weight with zeros between groups, and the matching connection table.
            weights = new double[m * channels * kh * kw];
            long area = kh * kw, mg = m / group;
            for (long o = 0; o < m; o++)
            {
                long g = o / mg;
                for (long c = 0; c < cg; c++)
                    Array.Copy(wv, (o * cg + c) * area, weights, (o * channels + g * cg + c) * area, area);
            }
            table = new bool[m, channels];
            for (long o = 0; o < m; o++)
                for (long c = 0; c < channels; c++)
                    table[o, c] = c / cg == o / mg;
        }
        double[] bias = import.Bias(node, 2, m);
        var spec = new ConvSpec((int)kh, (int)kw, (int)m, (int)stride, Padding.Sides((int)top, (int)bottom, (int)left, (int)right), table);
        import.AddLayer(spec, [weights, bias], node, OnnxBias.PerChannel);
        import.SetShape(m, outH, outW, flat: false);
    }

    [GeneratedRegex(@"^conv(\d+)x(\d+)x(\d+)$")]
    private static partial Regex Head();

    [GeneratedRegex(@"^s(\d+)$")]
    private static partial Regex StrideOption();

    [GeneratedRegex(@"^p(\d{1,4}(?:-\d{1,4})*)$")]
    private static partial Regex PadOption();

    [GeneratedRegex(@"^p(\d{1,4})x(\d{1,4})$")]
    private static partial Regex PadPairOption();
}
