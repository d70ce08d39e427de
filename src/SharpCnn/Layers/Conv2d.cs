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
    private T[] cols = [];
    private T[] dcols = [];
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
        // One sample's columns at a time: the buffers do not grow with the batch.
        if (cols.Length == 0)
        {
            cols = new T[K * P];
            dcols = new T[K * P];
        }
    }

    /// <inheritdoc />
    public override long ForwardFlops => 2L * Weight.TrainableCount * P;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int inSize = InputShape.Size, outSize = OutputShape.Size, cin = InputShape.Channels;
        ReadOnlySpan<T> w = Weight.Value, b = Bias.Value;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> xs = x.Slice(s * inSize, inSize);
            Span<T> ys = y.Slice(s * outSize, outSize);
            ReadOnlySpan<T> c = Columns(xs, cin);
            Gemm.Multiply(false, false, OutChannels, P, K, w, K, c, P, ys, P, accumulate: false);
            for (int o = 0; o < OutChannels; o++)
            {
                T bo = b[o];
                foreach (ref T v in ys.Slice(o * P, P)) v += bo;
            }
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int inSize = InputShape.Size, outSize = OutputShape.Size, cin = InputShape.Channels;
        Span<T> dw = Weight.Gradient, db = Bias.Gradient;
        ReadOnlySpan<T> w = Weight.Value;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> dys = dy.Slice(s * outSize, outSize);
            for (int o = 0; o < OutChannels; o++)
            {
                T sum = T.Zero;
                foreach (T v in dys.Slice(o * P, P)) sum += v;
                db[o] += sum;
            }
            // ∂W[Cout, K] += δ[Cout, P] · colsᵀ[P, K]
            ReadOnlySpan<T> c = Columns(x.Slice(s * inSize, inSize), cin);
            Gemm.Multiply(false, true, OutChannels, K, P, dys, P, c, P, dw, K, accumulate: true);
            if (dx.IsEmpty) continue;
            // ∂cols[K, P] = Wᵀ[K, Cout] · δ[Cout, P]; col2im adds them back onto ∂x.
            Span<T> dxs = dx.Slice(s * inSize, inSize);
            if (IsPointwise)
            {
                Gemm.Multiply(true, false, K, P, OutChannels, w, K, dys, P, dxs, P, accumulate: false);
                continue;
            }
            Gemm.Multiply(true, false, K, P, OutChannels, w, K, dys, P, dcols, P, accumulate: false);
            dxs.Clear();
            Im2Col.Scatter<T>(dcols, cin, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, dxs);
        }
        if (ConnectionTable is not null) Weight.ApplyMask();
    }

    /// <summary>A 1x1 kernel with stride 1 and no padding reads x itself as its column matrix.</summary>
    private bool IsPointwise => KernelHeight == 1 && KernelWidth == 1 && Stride == 1 && padTop + padBottom + padLeft + padRight == 0;

    private ReadOnlySpan<T> Columns(ReadOnlySpan<T> xs, int cin)
    {
        if (IsPointwise) return xs;
        Im2Col.Gather(xs, cin, InputShape.Height, InputShape.Width, KernelHeight, KernelWidth, Stride, padTop, padLeft, outH, outW, cols);
        return cols;
    }
}
