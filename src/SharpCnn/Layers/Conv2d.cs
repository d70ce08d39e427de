using System.Numerics.Tensors;
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
/// </summary>
public sealed class Conv2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int padTop, padBottom, padLeft, padRight, outH, outW;

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
        return [weight, bias];
    }

    /// <inheritdoc />
    protected override void ReserveScratch(int batch)
    {
        // Partial weight and bias gradients of each fixed chunk of samples (see Backward); the
        // column matrices are per-thread scratch (ThreadScratch) and do not grow with the batch.
        int chunks = (batch + GradientChunk - 1) / GradientChunk;
        if (chunks > 1)
        {
            partialWeight = new T[chunks * Weight.Length];
            partialBias = new T[chunks * OutChannels];
        }
    }

    /// <summary>
    /// Samples per weight-gradient chunk: the batch is cut into fixed runs of this many samples whose
    /// gradients are summed separately (in parallel) and then added in chunk order. It never depends on
    /// the thread count, so neither do the sums.
    /// </summary>
    internal const int GradientChunk = 8;

    private T[] partialWeight = [];
    private T[] partialBias = [];

    /// <inheritdoc />
    public override long ForwardFlops => 2L * Weight.TrainableCount * P;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
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
        if (!dx.IsEmpty)
        {
            // ∂cols_s[K, P] = Wᵀ[K, Cout] · δ_s[Cout, P], col2im onto ∂x_s; partition (sample, group of input maps),
            // since the rows of ∂cols for input map c only scatter onto ∂x_s[c].
            int groups = SplitFor(n, InputShape.Channels * 48);
            var input = new InputGradientWork { Layer = this, Dy = dy, Dx = dx, Groups = groups };
            Parallelism.For(n * groups, ref input);
        }

        // ∂W[Cout, K] += Σ_s δ_s[Cout, P] · cols_sᵀ[P, K] and ∂b[o] += Σ_{s,p} δ_s[o, p]: fixed chunks of
        // GradientChunk samples, each summed in sample order into its own partial (or straight into ∂W
        // when there is only one chunk), the weight columns of a chunk split over threads; then the
        // partials are added to ∂W in chunk order.
        int chunks = (n + GradientChunk - 1) / GradientChunk;
        int threads = Parallelism.ThreadCount;
        // At least 8 partitions per thread where the columns allow: a partition costs nothing extra (each
        // gathers only its own im2col rows), and small ones keep a thread that was descheduled mid-partition
        // from holding up the step on a busy machine.
        int columnParts = threads == 1 ? 1 : Math.Clamp((8 * threads + chunks - 1) / chunks, 1, Math.Max(1, K / 48));
        var weights = new WeightGradientWork { Layer = this, X = x, Dy = dy, N = n, Chunks = chunks, ColumnParts = columnParts };
        Parallelism.For(chunks * columnParts, ref weights);
        if (chunks > 1)
        {
            var reduce = new ReduceWork { Layer = this, Chunks = chunks, Parts = Math.Min(2 * threads, Math.Max(1, Weight.Length / 4096)) };
            Parallelism.For(reduce.Parts, ref reduce);
        }
        if (ConnectionTable is not null) Weight.ApplyMask();
    }

    private ref struct InputGradientWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public ReadOnlySpan<T> Dy;
        public Span<T> Dx;
        public int Groups;

        public readonly void Run(int partition) => Layer.InputGradientBlock(Dy, Dx, partition / Groups, partition % Groups, Groups);
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

    private ref struct WeightGradientWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public int N, Chunks, ColumnParts;

        public readonly void Run(int partition) => Layer.WeightGradientBlock(X, Dy, N, partition / ColumnParts, Chunks, partition % ColumnParts, ColumnParts);
    }

    private void WeightGradientBlock(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, int chunk, int chunks, int part, int parts)
    {
        int inSize = InputShape.Size, outSize = OutputShape.Size, p = P, k = K, cout = OutChannels;
        var (k0, count) = Parallelism.AlignedRange(k, parts, part, 48);
        if (count == 0) return;
        bool direct = chunks == 1;
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
            else
            {
                Span<T> cols = ThreadScratch<T>.Get(ScratchSlot.Columns, k * p + Im2Col.Slack)[..(count * p + Im2Col.Slack)];
                Im2Col.GatherBlock(xs, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, k0, count, 0, p,
                    cols, PaddedScratch(), padBottom, padRight);
                Gemm.Multiply(false, true, cout, count, p, dys, p, cols, p, dw[k0..], k, accumulate);
            }
            if (part != 0) continue;
            for (int o = 0; o < cout; o++)
            {
                T sum = Reductions.Sum<T>(dys.Slice(o * p, p));
                db[o] = accumulate ? db[o] + sum : sum;
            }
        }
    }

    private ref struct ReduceWork : IPartitionedWork
    {
        public Conv2d<T> Layer;
        public int Chunks, Parts;

        public readonly void Run(int partition)
        {
            int length = Layer.Weight.Length;
            var (start, count) = Parallelism.Range(length, Parts, partition);
            GradientChunks.AddInOrder<T>(Layer.partialWeight, length, Chunks, Layer.Weight.Gradient.AsSpan(start, count), start);
            if (partition == 0) GradientChunks.AddInOrder<T>(Layer.partialBias, Layer.OutChannels, Chunks, Layer.Bias.Gradient, 0);
        }
    }

    /// <summary>This thread's buffer for the input maps with their zero border (im2col's fast path), sized for all of them.</summary>
    private Span<T> PaddedScratch() =>
        ThreadScratch<T>.Get(ScratchSlot.PaddedInput, InputShape.Channels * (InputShape.Height + padTop + padBottom) * (InputShape.Width + padLeft + padRight) + Im2Col.Slack);

    /// <summary>A 1x1 kernel with stride 1 and no padding reads x itself as its column matrix.</summary>
    private bool IsPointwise => KernelHeight == 1 && KernelWidth == 1 && Stride == 1 && padTop + padBottom + padLeft + padRight == 0;
}
