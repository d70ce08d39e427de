using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Fully connected layer. Any input shape is read as a vector of D = C·H·W values
/// (so a Flatten before it is optional).
///
/// Shapes: x [N, D], weight [M, D], bias [M], y [N, M]  (weights [out, in], as PyTorch's Linear).
///
/// Forward:  y = x Wᵀ + b                 y[n,m] = b[m] + Σ_d x[n,d] w[m,d]
/// Backward: ∂L/∂W = δᵀ x                 ∂w[m,d] = Σ_n δ[n,m] x[n,d]
///           ∂L/∂b = Σ_n δ[n,·]
///           ∂L/∂x = δ W                  ∂x[n,d] = Σ_m δ[n,m] w[m,d]
/// (seed 000 writes the same per sample as Y = WX + b: ∂Y/∂W = Xᵀ, ∂Y/∂X = W.)
/// </summary>
public sealed class Dense<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a dense layer with <paramref name="outputs"/> units.</summary>
    public Dense(int outputs)
    {
        if (outputs <= 0) throw new ArgumentOutOfRangeException(nameof(outputs), outputs, "a dense layer needs at least one unit");
        Outputs = outputs;
    }

    /// <summary>Number of units.</summary>
    public int Outputs { get; }

    /// <summary>The weight [out, in].</summary>
    public Parameter<T> Weight => Parameters[0];

    /// <summary>The bias [out].</summary>
    public Parameter<T> Bias => Parameters[1];

    /// <inheritdoc />
    public override LayerSpec Spec => new DenseSpec(Outputs);

    /// <inheritdoc />
    /// <remarks>Each unit's weights seen as an image of the input, when this layer reads the whole input image.</remarks>
    public override LayerFilters<T>? FiltersOver(Shape image) =>
        InputShape.Size == image.Size && !image.IsVector ? new(Weight.Value, Outputs, image.Channels, image.Height, image.Width) : null;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Shape.Vector(Outputs);

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int d = InputShape.Size;
        return
        [
            new Parameter<T>("weight", [Outputs, d], ParameterRole.Weight) { FanIn = d, FanOut = Outputs, WrittenWholeByBackward = true },
            new Parameter<T>("bias", [Outputs], ParameterRole.Bias) { FanIn = d, FanOut = Outputs },
        ];
    }

    /// <inheritdoc />
    public override long ForwardFlops => 2L * Outputs * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int d = InputShape.Size, m = Outputs;
        // One sample: Gemm's bits without packing all of W, each thread on the rows it updates in the backward pass.
        if (n == 1) SampleProduct.MultiplyOwned(x[..d], Weight.Value, m, d, y[..m]);
        else ParallelGemm.Multiply(false, true, n, m, d, x, d, Weight.Value, d, y, m, accumulate: false);
        ReadOnlySpan<T> b = Bias.Value;
        for (int s = 0; s < n; s++) TensorPrimitives.Add(y.Slice(s * m, m), b, y.Slice(s * m, m));
    }

    /// <inheritdoc />
    internal override Model.InferenceStage<T>? CreateInferenceStage() => new Model.DenseStage<T>(this);

    private T[] partialBias = [];

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => partialBias = new T[BatchTree.Blocks(batch) * Outputs];

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        // A training step may leave ∂W uncleared (Parameter.Uncleared: it counts as zero): then the one-process paths
        // write ∂W = the product instead of ∂W = 0 + the product (the same values; a product's sums start from +0, so
        // it is never -0 unless an underflow rounds to -0 in every term) and skip reading and clearing all of ∂W.
        bool uncleared = Weight.TakeUncleared();
        if (uncleared && (Fusion != SgdFusion.None || SplitBatch)) ElementwiseKernels.Clear<T>(Weight.Gradient);
        if (Fusion != SgdFusion.None)
        {
            FusedBackward(x, dy, dx);
            return;
        }
        int d = InputShape.Size, m = Outputs;
        int blocks = BatchTree.Blocks(n);
        if (n == 1 && !SplitBatch && FusedSgdKernels.RowSlices(m) > 1)
        {
            // One sample, several depth slices of rows, several threads: ∂W and dx in one pass over W by its slices, each
            // thread on the rows it owns in the forward product and the optimiser's update (FusedSgdKernels.Gradient).
            FusedSgdKernels.Gradient<T>(Weight.Value, m, d, dy[..m], x[..d], dx.IsEmpty ? dx : dx[..d], Weight.Gradient, accumulate: !uncleared);
            TensorPrimitives.Add(Bias.Gradient, dy[..m], Bias.Gradient);
            return;
        }
        if (blocks == 1 && !SplitBatch)
        {
            // One block: its product (depth n ≤ BlockSize) straight into ∂W, its columns split over threads.
            ParallelGemm.Multiply(true, false, m, d, n, dy, m, x, d, Weight.Gradient, d, accumulate: !uncleared);
            Span<T> db = Bias.Gradient;
            for (int s = 0; s < n; s++) TensorPrimitives.Add(db, dy.Slice(s * m, m), db);
        }
        else
        {
            // ∂W = Σ_s δ_sᵀ x_s and ∂b = Σ_s δ_s by BatchTree's order: per block of samples a product of depth
            // BlockSize and a sample-ordered sum, then the fixed tree over the blocks. In one process GemmTree runs
            // the tree inside its micro-kernel, register tile by register tile, and adds only the root to ∂W (one
            // pass over ∂W, ∂W's columns split over threads); when the batch is shared, GemmTree computes each of
            // this rank's subtrees (BatchShare.OwnNodes: a subtree of the tree is the tree over its own blocks) straight
            // into the exchange's buffer, and the exchange completes the tree (BatchTree.BeginNodes).
            int threads = Parallelism.ThreadCount;
            BatchTree.Pending<T>? pending = SplitBatch ? BatchTree.BeginNodes<T>(Share!, Weight.Length) : null;
            int nodes = pending is null ? 1 : Share!.OwnNodes.Length;
            // Two column ranges per thread (whole 48-column tiles, equal but for one tile): each range packs all of δ
            // again, so few ranges pack it least, and two per thread leave room to balance a thread that starts late.
            int columnParts = threads == 1 ? 1 : Math.Clamp((2 * threads + nodes - 1) / nodes, 1, Math.Max(1, d / 48));
            int dxParts = pending is null && !dx.IsEmpty ? ParallelGemm.Partitions(n, d, m) : 1;
            var work = new WeightGradientWork
            {
                Layer = this, X = x, Dy = dy, N = n, ColumnParts = columnParts, Nodes = pending is null ? default : pending.Nodes(nodes), Overwrite = uncleared,
                Dx = dxParts > 1 ? dx : default, DxParts = dxParts > 1 ? dxParts : 0,
            };
            // In one process ∂x's column ranges join the same job, interleaved with ∂W's: one wake-up instead of two, no
            // wait between them, and a thread streaming ∂W (memory-bound: depth = batch) beside one computing ∂x.
            Parallelism.For(nodes * columnParts + work.DxParts, ref work);
            if (work.DxParts > 0) dx = default;
            // With a shared batch the exchanges run on while the layers below go backward (BatchTree.CombineLater).
            if (pending is not null) BatchTree.SendNodesLater<T>(Share!, pending, Weight.Gradient);
            BatchTree.CombineLater<T>(Share, partialBias.AsSpan(0, blocks * m), m, blocks, Bias.Gradient);
        }
        if (!dx.IsEmpty) ParallelGemm.Multiply(false, false, n, d, m, dy, m, Weight.Value, d, dx, d, accumulate: false);
    }

    /// <summary>
    /// One sample, one process: plain SGD's update can be folded into the backward pass (FusedSgdKernels), bit-identical
    /// to the gradient this backward pass writes for one sample followed by the optimiser's step.
    /// </summary>
    internal override bool CanFuseSgd(int n) => n == 1 && !SplitBatch;

    /// <summary>
    /// The one-sample backward pass with plain SGD folded in: records max |g| of both gradients (the weight's is
    /// max |δ| · max |x| computed in T, exactly the largest |δ[p]·x[c]| since rounding is monotonic; the bias's
    /// max |δ|), then writes dx = δ W and, with <see cref="SgdFusion.InBackward"/>, updates each row of W after
    /// reading it, and the bias. ∂W and ∂b are never written.
    /// </summary>
    private void FusedBackward(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx)
    {
        int d = InputShape.Size, m = Outputs;
        ReadOnlySpan<T> delta = dy[..m], input = x[..d];
        T dyMax = T.Abs(TensorPrimitives.MaxMagnitude(delta)), xMax = T.Abs(TensorPrimitives.MaxMagnitude(input));
        Weight.FusedGradientMagnitude = double.CreateChecked(dyMax * xMax);
        Bias.FusedGradientMagnitude = double.CreateChecked(dyMax);
        bool update = Fusion == SgdFusion.InBackward;
        Span<T> inputGradient = dx.IsEmpty ? dx : dx[..d];
        if (update || !inputGradient.IsEmpty) FusedSgdKernels.Dense(Weight.Value, m, d, delta, input, inputGradient, update, FusedStep);
        if (update) FusedSgdKernels.Bias(Bias.Value, delta, FusedStep.Rate);
    }

    /// <inheritdoc />
    internal override void ApplyDeferredSgd(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, SgdStep<T> step)
    {
        if (Fusion != SgdFusion.Deferred || n != 1) throw new InvalidOperationException($"{Token}: no update of a one-sample pass was deferred");
        int d = InputShape.Size, m = Outputs;
        FusedSgdKernels.Dense(Weight.Value, m, d, dy[..m], x[..d], Span<T>.Empty, update: true, step);
        FusedSgdKernels.Bias(Bias.Value, dy[..m], step.Rate);
    }

    /// <summary>
    /// ∂W's column ranges (per node with a shared batch) and, when <see cref="DxParts"/> &gt; 0, ∂x's column ranges as
    /// Gemm.MultiplyColumns computes them for ParallelGemm (the same ranges, so the same bits), taken alternately while
    /// both have some left.
    /// </summary>
    private ref struct WeightGradientWork : IPartitionedWork
    {
        public Dense<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Nodes, Dx;
        public int N, ColumnParts, DxParts;
        public bool Overwrite;

        public readonly void Run(int partition)
        {
            int weightParts = Nodes.IsEmpty ? ColumnParts : Nodes.Length / Layer.Weight.Length * ColumnParts;
            int paired = 2 * Math.Min(weightParts, DxParts);
            int weightPart, dxPart;
            // Pairs (∂W range, ∂x range), the kind that comes first alternating from pair to pair: threads that take partitions in
            // turn each get both kinds alike (with ∂W always first, the caller took every ∂W range and a helper every, slower, ∂x one).
            if (partition < paired) (weightPart, dxPart) = (partition % 2 == 0) == (partition / 2 % 2 == 0) ? (partition / 2, -1) : (-1, partition / 2);
            else if (weightParts > DxParts) (weightPart, dxPart) = (partition - paired / 2, -1);
            else (weightPart, dxPart) = (-1, partition - paired / 2);
            if (dxPart >= 0) Layer.InputGradientColumns(Dy, N, dxPart, DxParts, Dx);
            else if (Nodes.IsEmpty) Layer.WeightGradientTree(X, Dy, N, weightPart, ColumnParts, Overwrite);
            else Layer.WeightGradientNode(X, Dy, N, weightPart / ColumnParts, weightPart % ColumnParts, ColumnParts, Nodes);
        }
    }

    /// <summary>Columns of range <paramref name="part"/> of <paramref name="parts"/> of ∂x = δ W, as ParallelGemm splits them.</summary>
    private void InputGradientColumns(ReadOnlySpan<T> dy, int n, int part, int parts, Span<T> dx)
    {
        int d = InputShape.Size, m = Outputs;
        var (start, count) = Parallelism.AlignedRange(d, parts, part, ParallelGemm.ColumnMultiple);
        if (count > 0) Gemm.MultiplyColumns(false, false, n, d, m, dy, m, Weight.Value, d, dx, d, false, start, count);
    }

    /// <summary>
    /// With a shared batch: columns of part <paramref name="part"/> of this rank's subtree <paramref name="node"/>
    /// (BatchShare.OwnNodes[node], blocks [lo, hi) of the global batch) = the tree over its blocks' products (GemmTree),
    /// written into its slot of <paramref name="nodes"/>; in the first node's part 0 also the blocks' ∂b partials.
    /// </summary>
    private void WeightGradientNode(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, int node, int part, int parts, Span<T> nodes)
    {
        int d = InputShape.Size, m = Outputs, length = Weight.Length;
        if (node == 0 && part == 0)
            for (int b = 0; b < BatchTree.Blocks(n); b++) BiasBlock(dy, n, b);
        var (d0, count) = Parallelism.AlignedRange(d, parts, part, 48);
        if (count == 0) return;
        var (lo, hi) = Share!.OwnNodes[node];
        int first = (lo - Share.FirstBlock) * BatchTree.BlockSize, samples = Math.Min(n, (hi - Share.FirstBlock) * BatchTree.BlockSize) - first;
        GemmTree.MultiplyColumns(true, false, m, d, samples, dy.Slice(first * m, samples * m), m, x.Slice(first * d, samples * d), d,
            nodes.Slice(node * length, length), d, accumulate: false, d0, count);
    }

    /// <summary>Block <paramref name="block"/>'s ∂b: its samples' δ added in sample order.</summary>
    private void BiasBlock(ReadOnlySpan<T> dy, int n, int block)
    {
        int m = Outputs, first = block * BatchTree.BlockSize, end = Math.Min(n, first + BatchTree.BlockSize);
        Span<T> db = partialBias.AsSpan(block * m, m);
        dy.Slice(first * m, m).CopyTo(db);
        for (int s = first + 1; s < end; s++) TensorPrimitives.Add(db, dy.Slice(s * m, m), db);
    }

    /// <summary>
    /// ∂W's columns of part <paramref name="part"/> += BatchTree's tree over every block's product (GemmTree: the tree
    /// computed per register tile, only the root added to ∂W, or written when <paramref name="overwrite"/>). Part 0 also
    /// writes the blocks' ∂b partials.
    /// </summary>
    private void WeightGradientTree(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int n, int part, int parts, bool overwrite)
    {
        int d = InputShape.Size, m = Outputs, blocks = BatchTree.Blocks(n);
        if (part == 0)
            for (int b = 0; b < blocks; b++) BiasBlock(dy, n, b);
        var (d0, count) = Parallelism.AlignedRange(d, parts, part, 48);
        if (count == 0) return;
        GemmTree.MultiplyColumns(true, false, m, d, n, dy[..(n * m)], m, x[..(n * d)], d, Weight.Gradient, d, accumulate: !overwrite, d0, count);
    }
}

/// <summary>The description of a <see cref="Dense{T}"/>: token <c>dense{n}</c> (or <c>fc{n}</c>); ONNX <c>Gemm</c> (transB = 1).</summary>
/// <param name="Outputs">Number of units.</param>
public sealed record DenseSpec(int Outputs) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => DenseKind.Instance;

    /// <inheritdoc />
    public override string Token => $"dense{Outputs}";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Dense<T>(Outputs);

    /// <summary>Gemm (transB = 1), after a Flatten when its input is a map.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        var dense = (Dense<T>)layer;
        string input = export.AsVector();
        int d = layer.InputShape.Size;
        string wt = export.Floats("weight", [dense.Outputs, d], OnnxLayerExport<T>.ToFloats(dense.Weight.Value));
        string bt = export.Floats("bias", [dense.Outputs], OnnxLayerExport<T>.ToFloats(dense.Bias.Value));
        export.Emit(export.Node("Gemm", "gemm", [input, wt, bt], OnnxGraphWriter.Int("transB", 1)), flat: true);
    }
}

/// <summary>The fully connected kind: grammar <c>dense{n}</c>; imports ONNX <c>Gemm</c> and <c>MatMul</c> (a following Add becomes its bias).</summary>
public sealed partial class DenseKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static DenseKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "dense";

    /// <inheritdoc />
    public override string Grammar => "dense{n}";

    /// <inheritdoc />
    public override string Summary => "fully connected layer of n units over the whole input (a flatten before it is optional)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Parameters | LayerTraits.ChangesShape;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        int outputs = token.Size(m.Groups[1].Value);
        token.RequireNoOptions();
        return new DenseSpec(outputs);
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Gemm", "MatMul"];

    /// <summary>Gemm on [N, D] (alpha and beta folded into the weights and bias; transB either way) or MatMul by a constant [D, M] → dense.</summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        if (node.OpType == "MatMul") ImportMatMul(import, node);
        else ImportGemm(import, node);
    }

    private static void ImportGemm(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Attributes(node, "alpha", "beta", "transA", "transB");
        import.RequireInputs(node, 2, 3);
        import.RequireOutputs(node, 1);
        if (!import.Flat) throw import.NodeFail($"multiplies a {import.Channels}x{import.Height}x{import.Width} map tensor; Gemm takes [N, D] (add a Flatten before it)");
        if (a.Int("transA", 0) != 0) throw import.NodeFail("has transA = 1: it would multiply across the batch");
        long transB = a.Int("transB", 0);
        if (transB is not (0 or 1)) throw import.NodeFail($"has transB {transB}; expected 0 or 1");
        double alpha = a.Float("alpha", 1f), beta = a.Float("beta", 1f);
        if (!double.IsFinite(alpha) || !double.IsFinite(beta)) throw import.NodeFail($"has alpha {alpha}, beta {beta}; both must be finite");
        var b = import.ConstantInput(node, 1, "weight", required: true)!;
        if (b.Dims.Count != 2) throw import.NodeFail($"weight '{b.Name}' has dimensions {OnnxGraphImporter.Dims(b)}; Gemm's B is a matrix");
        long d = transB == 1 ? b.Dims[1] : b.Dims[0], m = transB == 1 ? b.Dims[0] : b.Dims[1];
        if (d != import.Channels) throw import.NodeFail($"weight '{b.Name}' {OnnxGraphImporter.Dims(b)}{(transB == 1 ? " (transposed)" : "")} takes {d} features, its input has {import.Channels}");
        if (m < 1 || m > OnnxGraphImporter.MaxSize) throw import.NodeFail($"has {m} outputs; expected 1..{OnnxGraphImporter.MaxSize}");
        var bv = import.Reals(b, "weight");
        import.Claim(m * d, $"weight[{m}x{d}]");
        var weights = new double[m * d];
        for (long o = 0; o < m; o++)
            for (long i = 0; i < d; i++)
                weights[o * d + i] = alpha * (transB == 1 ? bv[o * d + i] : bv[i * m + o]);
        var bias = import.Bias(node, 2, m);
        for (int i = 0; i < bias.Length; i++) bias[i] *= beta;
        import.AddLayer(new DenseSpec((int)m), [weights, bias], node, OnnxBias.PerFeature);
        import.SetShape(m, 1, 1, flat: true);
    }

    private static void ImportMatMul(OnnxGraphImporter import, NodeProto node)
    {
        import.Attributes(node);
        import.RequireInputs(node, 2, 2);
        import.RequireOutputs(node, 1);
        if (!import.Flat) throw import.NodeFail($"multiplies a {import.Channels}x{import.Height}x{import.Width} map tensor; SharpCnn imports MatMul on [N, D] (add a Flatten before it)");
        var b = import.ConstantInput(node, 1, "weight", required: true)!;
        if (b.Dims.Count != 2 || b.Dims[0] != import.Channels)
            throw import.NodeFail($"weight '{b.Name}' has dimensions {OnnxGraphImporter.Dims(b)}; expected [{import.Channels}, M] for its [N, {import.Channels}] input");
        long d = b.Dims[0], m = b.Dims[1];
        if (m < 1 || m > OnnxGraphImporter.MaxSize) throw import.NodeFail($"has {m} outputs; expected 1..{OnnxGraphImporter.MaxSize}");
        var bv = import.Reals(b, "weight");
        import.Claim(m * d, $"weight[{m}x{d}]");
        var weights = new double[m * d];
        for (long o = 0; o < m; o++)
            for (long i = 0; i < d; i++)
                weights[o * d + i] = bv[i * m + o];
        import.Claim(m, $"bias[{m}]");
        import.AddLayer(new DenseSpec((int)m), [weights, new double[m]], node, OnnxBias.PerFeature);
        import.SetShape(m, 1, 1, flat: true);
    }

    [GeneratedRegex(@"^(?:dense|fc)(\d+)$")]
    private static partial Regex Head();
}
