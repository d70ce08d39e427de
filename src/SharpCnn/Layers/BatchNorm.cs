using System.Globalization;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Batch normalisation (Ioffe and Szegedy 2015, the paper seed 000 credits for its N(0, 0.1)
/// fix): each channel is normalised by statistics of the batch, then scaled and shifted by
/// a trainable γ and β.
///
/// Shapes: x [N, C, H, W], γ, β, running mean μ_r, running variance σ²_r [C], y like x.
/// Statistics are per channel over N·H·W values (m = N·H·W) for conv maps; a dense layer's
/// output (D x 1 x 1) is the same formula with C = D features and m = N.
///
/// Forward, training mode (Training = true):
///   μ_c = (1/m) Σ x,   σ²_c = (1/m) Σ (x - μ_c)²        (sums over n, h, w of channel c)
///   x̂ = (x - μ_c) / sqrt(σ²_c + ε),   y = γ_c x̂ + β_c
///   then the running statistics move towards the batch's (PyTorch's convention, momentum ρ = 0.1):
///   μ_r ← (1 - ρ) μ_r + ρ μ_c,   σ²_r ← (1 - ρ) σ²_r + ρ σ²_c · m / (m - 1)  (unbiased; σ²_c when m = 1)
/// Forward, evaluation mode: the same with μ_r, σ²_r in place of μ_c, σ²_c; nothing is updated.
///
/// Backward (δ = ∂L/∂y; sums over n, h, w of channel c):
///   ∂L/∂β_c = Σ δ,   ∂L/∂γ_c = Σ δ x̂
///   training:   ∂L/∂x = γ_c / sqrt(σ²_c + ε) · (δ - (1/m) Σ δ - x̂ (1/m) Σ δ x̂)
///   evaluation: ∂L/∂x = γ_c / sqrt(σ²_r + ε) · δ
/// (training: μ_c and σ²_c depend on every x of the channel; the two mean terms are what that
/// dependence adds to the plain γ/σ · δ; docs/MATH.md derives them.)
///
/// The running statistics are parameters of role <see cref="ParameterRole.State"/>: saved with
/// the model, never touched by optimisers. With m = 1 (a dense layer trained on single
/// samples) σ²_c = 0 and x̂ = 0: the output is β and no gradient reaches x, so batch-normalise
/// dense outputs only with mini-batches.
/// </summary>
public sealed class BatchNorm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] mean = [], inverseStd = [];
    private bool usedBatchStatistics;

    /// <summary>Creates a batch-norm layer.</summary>
    /// <param name="momentum">ρ, how far the running statistics move towards each batch's (0 &lt; ρ ≤ 1; 0.1 as in PyTorch).</param>
    /// <param name="epsilon">ε added to the variance (1e-5 as in PyTorch).</param>
    public BatchNorm(double momentum = DefaultMomentum, double epsilon = DefaultEpsilon)
    {
        if (!(momentum > 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "batch-norm momentum must be in (0, 1]");
        if (!(epsilon > 0) || double.IsInfinity(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "batch-norm epsilon must be a positive number");
        Momentum = momentum;
        Epsilon = epsilon;
    }

    /// <summary>The default momentum ρ = 0.1.</summary>
    public const double DefaultMomentum = 0.1;

    /// <summary>The default ε = 1e-5.</summary>
    public const double DefaultEpsilon = 1e-5;

    /// <summary>ρ: μ_r ← (1 - ρ) μ_r + ρ μ_batch each training step.</summary>
    public double Momentum { get; }

    /// <summary>ε added to the variance before the square root.</summary>
    public double Epsilon { get; }

    /// <summary>The scale γ [C] (starts at 1).</summary>
    public Parameter<T> Gamma => Parameters[0];

    /// <summary>The shift β [C] (starts at 0).</summary>
    public Parameter<T> Beta => Parameters[1];

    /// <summary>The running mean [C] (starts at 0; not trained).</summary>
    public Parameter<T> RunningMean => Parameters[2];

    /// <summary>The running variance [C] (starts at 1; not trained).</summary>
    public Parameter<T> RunningVariance => Parameters[3];

    /// <inheritdoc />
    public override LayerSpec Spec => new BatchNormSpec(Momentum, Epsilon);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    /// <remarks>Its evaluation form, per channel y = ((x - μ_r)·a) + β, a = γ·(1/√(σ²_r + ε)), in a convolution's epilogue.</remarks>
    internal override InferenceFusion InferenceRole => Training ? InferenceFusion.None : InferenceFusion.BatchNorm;

    /// <summary>
    /// The evaluation form's per-channel constants, computed as <see cref="Forward"/> computes them: μ_r, a = γ·(1/√(σ²_r + ε))
    /// and β, so that ((x - μ)·a) + β, each operation rounded, gives Forward's bits.
    /// </summary>
    internal void InferenceAffine(Span<T> mu, Span<T> scale, Span<T> shift)
    {
        T eps = T.CreateChecked(Epsilon);
        ReadOnlySpan<T> gamma = Gamma.Value, beta = Beta.Value, runningMean = RunningMean.Value, runningVar = RunningVariance.Value;
        for (int c = 0; c < InputShape.Channels; c++)
        {
            T inv = T.One / T.Sqrt(runningVar[c] + eps);
            mu[c] = runningMean[c];
            scale[c] = gamma[c] * inv;
            shift[c] = beta[c];
        }
    }

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int c = InputShape.Channels, m = InputShape.Height * InputShape.Width;
        mean = new T[c];
        inverseStd = new T[c];
        return
        [
            new Parameter<T>("gamma", [c], ParameterRole.Weight) { FanIn = m, FanOut = m, InitialValue = 1 },
            new Parameter<T>("beta", [c], ParameterRole.Bias) { FanIn = m, FanOut = m, InitialValue = 0 },
            new Parameter<T>("running_mean", [c], ParameterRole.State) { InitialValue = 0 },
            new Parameter<T>("running_var", [c], ParameterRole.State) { InitialValue = 1 },
        ];
    }

    /// <inheritdoc />
    public override long ForwardFlops => 4L * InputShape.Size;

    private T[] partials = [];

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => partials = new T[BatchTree.Blocks(batch) * 2 * InputShape.Channels];

    /// <summary>
    /// Per channel c (and value v &lt; <paramref name="values"/>), <paramref name="sums"/>[v·C + c] = the batch sum of
    /// what <paramref name="sum"/> reduces from each sample's plane, in BatchTree's order: per block the samples'
    /// plane reductions added in sample order from zero, then the fixed tree over the blocks (with the other
    /// processes' blocks when the batch is shared).
    /// </summary>
    private void BatchSums<TSum>(int n, Span<T> sums, ref TSum sum, int values)
        where TSum : struct, IPlaneSums, allows ref struct
    {
        int channels = InputShape.Channels, blocks = BatchTree.Blocks(n), width = values * channels;
        Span<T> part = partials.AsSpan(0, blocks * width);
        part.Clear();
        // Each (block, channel) sum is its own: channel ranges on several threads, the same bits on any number.
        int plane = InputShape.Height * InputShape.Width;
        var work = new SumsWork<TSum>
        {
            Sum = sum, Part = part, N = n, Channels = channels, Width = width,
            Parts = plane == 1 ? 1 : Math.Min(channels, Parallelism.ElementParts(n * InputShape.Size)),
        };
        Parallelism.For(work.Parts, ref work);
        sums[..width].Clear();
        BatchTree.Combine<T>(Share, part, width, blocks, sums[..width]);
    }

    private ref struct SumsWork<TSum> : IPartitionedWork
        where TSum : struct, IPlaneSums, allows ref struct
    {
        public TSum Sum;
        public Span<T> Part;
        public int N, Channels, Width, Parts;

        public readonly void Run(int partition)
        {
            var (c0, count) = Parallelism.Range(Channels, Parts, partition);
            int blocks = BatchTree.Blocks(N);
            for (int b = 0; b < blocks; b++)
            {
                int first = b * BatchTree.BlockSize, end = Math.Min(N, first + BatchTree.BlockSize);
                Span<T> pb = Part.Slice(b * Width, Width);
                for (int s = first; s < end; s++)
                {
                    if (Parts == 1 && Sum.AddRow(s, pb, Channels)) continue; // a vector input: the whole row at once
                    for (int c = c0, last = c0 + count; c < last;) c += Sum.Add(s, c, last, pb, Channels);
                }
            }
        }
    }

    /// <summary>What <see cref="BatchSums"/> adds per (sample, channel).</summary>
    private interface IPlaneSums
    {
        /// <summary>
        /// Adds sample <paramref name="s"/>'s plane reductions of channel <paramref name="c"/> (and maybe of the next
        /// ones, below <paramref name="end"/>, in one pass) to <paramref name="block"/>; returns how many channels it did.
        /// </summary>
        int Add(int s, int c, int end, Span<T> block, int channels);

        /// <summary>
        /// With planes of one value (a vector input), adds sample <paramref name="s"/>'s whole row at once, vectorised
        /// across channels (NormalizationKernels' row sums: the same bits as one plane reduction per channel); false
        /// when the planes are larger.
        /// </summary>
        bool AddRow(int s, Span<T> block, int channels);
    }

    private ref struct MeanSums : IPlaneSums
    {
        public ReadOnlySpan<T> X;
        public int Size, Plane;

        public readonly int Add(int s, int c, int end, Span<T> block, int channels)
        {
            ReadOnlySpan<T> a = X.Slice(s * Size + c * Plane, Plane);
            if (c + 1 == end)
            {
                block[c] += Reductions.Sum<T>(a);
                return 1;
            }
            // Two channels' planes side by side (each sum its own, the same bits as one call each).
            ReadOnlySpan<T> b = X.Slice(s * Size + (c + 1) * Plane, Plane);
            var (sa, sb) = Reductions.Pair<T, SumStep<T>, SumStep<T>>(a, a, T.Zero, b, b, T.Zero);
            block[c] += sa;
            block[c + 1] += sb;
            return 2;
        }

        public readonly bool AddRow(int s, Span<T> block, int channels)
        {
            if (Plane != 1) return false;
            NormalizationKernels.AddRowSums<T>(X.Slice(s * Size, channels), block[..channels]);
            return true;
        }
    }

    private ref struct DeviationSums : IPlaneSums
    {
        public ReadOnlySpan<T> X, Mean;
        public int Size, Plane;

        public readonly int Add(int s, int c, int end, Span<T> block, int channels)
        {
            ReadOnlySpan<T> a = X.Slice(s * Size + c * Plane, Plane);
            if (c + 1 == end)
            {
                block[c] += Reductions.SumOfSquaredDeviations<T>(a, Mean[c]);
                return 1;
            }
            ReadOnlySpan<T> b = X.Slice(s * Size + (c + 1) * Plane, Plane);
            var (sa, sb) = Reductions.Pair<T, DeviationSquareStep<T>, DeviationSquareStep<T>>(a, a, Mean[c], b, b, Mean[c + 1]);
            block[c] += sa;
            block[c + 1] += sb;
            return 2;
        }

        public readonly bool AddRow(int s, Span<T> block, int channels)
        {
            if (Plane != 1) return false;
            NormalizationKernels.AddRowDeviationSquares<T>(X.Slice(s * Size, channels), Mean[..channels], block[..channels]);
            return true;
        }
    }

    private ref struct BackwardSums : IPlaneSums
    {
        public ReadOnlySpan<T> X, Dy, Mean;
        public int Size, Plane;

        public readonly int Add(int s, int c, int end, Span<T> block, int channels)
        {
            int offset = s * Size + c * Plane;
            ReadOnlySpan<T> g = Dy.Slice(offset, Plane), x = X.Slice(offset, Plane);
            // Σδ and Σδ(x - μ) in one pass over the plane (each the bits of its own Reductions call).
            var (sum, dot) = Reductions.Pair<T, SumStep<T>, DeviationDotStep<T>>(g, g, T.Zero, x, g, Mean[c]);
            block[c] += sum;
            block[channels + c] += dot;
            return 1;
        }

        public readonly bool AddRow(int s, Span<T> block, int channels)
        {
            if (Plane != 1) return false;
            NormalizationKernels.AddRowBackwardSums<T>(Dy.Slice(s * Size, channels), X.Slice(s * Size, channels), Mean[..channels], block[..channels], block.Slice(channels, channels));
            return true;
        }
    }

    private T[] statistics = [];

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        usedBatchStatistics = Training;
        if (statistics.Length < 2 * channels) statistics = new T[2 * channels];
        if (coefficients.Length < 3 * channels) coefficients = new T[3 * channels];
        Span<T> sums = statistics, squares = statistics.AsSpan(channels);
        int m = GlobalCount(n) * plane;
        if (Training && !SplitBatch && plane > 1)
        {
            // One process, maps: channel by channel (ChannelMajor), each channel's planes read once from
            // memory and again from the cache. The same sums in the same order as below, so the same bits.
            var channelWork = new ChannelWork { Layer = this, X = x, Y = y, N = n, Parts = Math.Min(channels, Parallelism.ElementParts(n * size)) };
            Parallelism.For(channelWork.Parts, ref channelWork);
            return;
        }
        if (Training)
        {
            // Canonical order (docs/DETERMINISM.md): each sample's plane reduced in the 16-lane order, the
            // planes' sums added in sample order within a block, the blocks by BatchTree's tree.
            var meanSums = new MeanSums { X = x, Size = size, Plane = plane };
            BatchSums(n, sums, ref meanSums, 1);
            for (int c = 0; c < channels; c++) mean[c] = sums[c] / T.CreateChecked(m);
            var deviations = new DeviationSums { X = x, Mean = mean, Size = size, Plane = plane };
            BatchSums(n, squares, ref deviations, 1);
        }
        for (int c = 0; c < channels; c++) ForwardConstants(c, m);
        // One pass per plane (NormalizationKernels.Normalize), samples on several threads.
        var work = new ElementWork { Layer = this, X = x, Y = y, N = n, Parts = Parallelism.ElementParts(n * size) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>
    /// Channel <paramref name="c"/>'s constants of the element-wise pass (μ, 1/σ, a = γ/σ, β) from the statistics
    /// (training: Σx/m already in mean, Σ(x - μ)² in statistics[C + c]; the running statistics move) or the running ones.
    /// </summary>
    private void ForwardConstants(int c, int m)
    {
        int channels = InputShape.Channels;
        T eps = T.CreateChecked(Epsilon);
        Span<T> gamma = Gamma.Value, beta = Beta.Value, runningMean = RunningMean.Value, runningVar = RunningVariance.Value;
        Span<T> squares = statistics.AsSpan(channels);
        T mu, variance;
        if (Training)
        {
            mu = mean[c];
            variance = squares[c] / T.CreateChecked(m);
            T rho = T.CreateChecked(Momentum), keep = T.One - rho;
            T unbiased = m > 1 ? squares[c] / T.CreateChecked(m - 1) : variance;
            runningMean[c] = keep * runningMean[c] + rho * mu;
            runningVar[c] = keep * runningVar[c] + rho * unbiased;
        }
        else
        {
            mu = runningMean[c];
            variance = runningVar[c];
        }
        T inv = T.One / T.Sqrt(variance + eps);
        mean[c] = mu;
        inverseStd[c] = inv;
        // y = a (x - μ) + β with a = γ/σ. Not a x + (β - a μ): when |μ| ≫ σ that form cancels and
        // amplifies rounding by |μ|/σ, while x - μ is exact near μ.
        coefficients[c] = gamma[c] * inv;
        coefficients[channels + c] = beta[c];
    }

    /// <summary>
    /// Channel <paramref name="c"/>'s parameter gradients and backward constants k, p, q from Σδ (statistics[c]) and
    /// Σδ(x - μ) (statistics[C + c]).
    /// </summary>
    private void BackwardConstants(int c, T m)
    {
        int channels = InputShape.Channels;
        Span<T> gamma = Gamma.Value, dGamma = Gamma.Gradient, dBeta = Beta.Gradient;
        T inv = inverseStd[c];
        T sumDy = statistics[c], sumDyCentered = statistics[channels + c];
        T sumDyXhat = sumDyCentered * inv;
        dBeta[c] += sumDy;
        dGamma[c] += sumDyXhat;
        T k = gamma[c] * inv;
        // training: dx = k (δ - Σδ/m - x̂ Σδx̂/m) = k δ + p (x - μ) + q with p = -k σ⁻¹ Σδx̂/m, q = -k Σδ/m
        // (x - μ, not p x - p μ, for the same reason as in Forward)
        // evaluation: dx = k δ
        coefficients[c] = k;
        coefficients[channels + c] = usedBatchStatistics ? -k * inv * sumDyXhat / m : T.Zero;
        coefficients[2 * channels + c] = usedBatchStatistics ? -k * sumDy / m : T.Zero;
    }

    /// <summary>
    /// Both passes of one process on maps, channel by channel over channels [c0, c0 + count): a channel's statistics
    /// (forward: Σx, then Σ(x - μ)²; backward: Σδ with Σδ(x - μ)), its constants, then its element-wise pass over every
    /// sample, so the second and third reads of the channel's planes (a few hundred KB) come from the cache rather than
    /// memory. The sums are BatchSums' exactly: per block of 16 samples, 0 + each sample's plane reduction in sample
    /// order, then 0 + BatchTree's tree over the blocks (<see cref="BlockTree"/>); two channels' planes are reduced side
    /// by side (Reductions.Pair), as BatchSums does. So the same bits as the pass over all channels at once, which the
    /// shared-batch path (each exchange needs every channel's sums) still takes.
    /// </summary>
    private void ChannelMajor(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> to, int n, int c0, int count, bool backward)
    {
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        int blocks = BatchTree.Blocks(n), m = n * plane;
        for (int c = c0, last = c0 + count; c < last;)
        {
            int pair = backward || c + 1 == last ? 1 : 2;
            // Channel c's 2·blocks block sums (and channel c + 1's after them) in the layer's scratch: no other
            // partition touches them.
            Span<T> part = partials.AsSpan(c * 2 * blocks, pair * 2 * blocks);
            if (backward)
            {
                for (int b = 0; b < blocks; b++)
                {
                    T sum = T.Zero, dot = T.Zero;
                    for (int s = b * BatchTree.BlockSize, end = Math.Min(n, s + BatchTree.BlockSize); s < end; s++)
                    {
                        int offset = s * size + c * plane;
                        ReadOnlySpan<T> g = dy.Slice(offset, plane);
                        var (ps, pd) = Reductions.Pair<T, SumStep<T>, DeviationDotStep<T>>(g, g, T.Zero, x.Slice(offset, plane), g, mean[c]);
                        sum += ps;
                        dot += pd;
                    }
                    part[b] = sum;
                    part[blocks + b] = dot;
                }
                statistics[c] = T.Zero + BlockTree(part[..blocks]);
                statistics[channels + c] = T.Zero + BlockTree(part.Slice(blocks, blocks));
                BackwardConstants(c, T.CreateChecked(m));
                if (!to.IsEmpty)
                {
                    ReadOnlySpan<T> co = coefficients;
                    for (int s = 0; s < n; s++)
                    {
                        int offset = s * size + c * plane;
                        NormalizationKernels.InputGradient(x.Slice(offset, plane), dy.Slice(offset, plane), mean[c], co[channels + c], co[2 * channels + c], co[c], to.Slice(offset, plane));
                    }
                }
                c++;
                continue;
            }
            // Σx per block (A: channel c at part[0, blocks), B: channel c + 1 at part[2·blocks, 3·blocks)), then μ.
            BlockSums<SumStep<T>>(x, n, c, pair, part, 0, T.Zero, T.Zero);
            for (int k = 0; k < pair; k++)
            {
                statistics[c + k] = T.Zero + BlockTree(part.Slice(k * 2 * blocks, blocks));
                mean[c + k] = statistics[c + k] / T.CreateChecked(m);
            }
            BlockSums<DeviationSquareStep<T>>(x, n, c, pair, part, blocks, mean[c], pair == 2 ? mean[c + 1] : T.Zero);
            for (int k = 0; k < pair; k++)
            {
                statistics[channels + c + k] = T.Zero + BlockTree(part.Slice(k * 2 * blocks + blocks, blocks));
                ForwardConstants(c + k, m);
                ReadOnlySpan<T> co = coefficients;
                int ch = c + k;
                for (int s = 0; s < n; s++)
                {
                    int offset = s * size + ch * plane;
                    NormalizationKernels.Normalize(x.Slice(offset, plane), mean[ch], co[ch], co[channels + ch], to.Slice(offset, plane));
                }
            }
            c += pair;
        }
    }

    /// <summary>
    /// Per block b, 0 + the plane reductions of its samples in sample order, for channel c into part[at + b] and, when
    /// <paramref name="pair"/> is 2, channel c + 1 (side by side) into part[2·blocks + at + b].
    /// </summary>
    private void BlockSums<TStep>(ReadOnlySpan<T> x, int n, int c, int pair, Span<T> part, int at, T muA, T muB)
        where TStep : struct, IReductionStep<T>
    {
        int plane = InputShape.Height * InputShape.Width, size = InputShape.Size, blocks = BatchTree.Blocks(n);
        for (int b = 0; b < blocks; b++)
        {
            T sa = T.Zero, sb = T.Zero;
            for (int s = b * BatchTree.BlockSize, end = Math.Min(n, s + BatchTree.BlockSize); s < end; s++)
            {
                ReadOnlySpan<T> a = x.Slice(s * size + c * plane, plane);
                if (pair == 1)
                {
                    sa += Reductions.Reduce<T, TStep>(a, a, muA);
                    continue;
                }
                ReadOnlySpan<T> bx = x.Slice(s * size + (c + 1) * plane, plane);
                var (ra, rb) = Reductions.Pair<T, TStep, TStep>(a, a, muA, bx, bx, muB);
                sa += ra;
                sb += rb;
            }
            part[at + b] = sa;
            if (pair == 2) part[2 * blocks + at + b] = sb;
        }
    }

    /// <summary>BatchTree's tree over one value's block sums: tree(lo, hi) = tree(lo, lo + p) + tree(lo + p, hi), p the largest power of two below hi - lo.</summary>
    private static T BlockTree(ReadOnlySpan<T> blockSums)
    {
        if (blockSums.Length == 1) return blockSums[0];
        int p = BatchTree.SplitOf(blockSums.Length);
        return BlockTree(blockSums[..p]) + BlockTree(blockSums[p..]);
    }

    private ref struct ChannelWork : IPartitionedWork
    {
        public BatchNorm<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Y;
        public int N, Parts;
        public bool Backward;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Layer.InputShape.Channels, Parts, partition);
            Layer.ChannelMajor(X, Dy, Y, N, start, count, Backward);
        }
    }

    /// <summary>Per channel: forward a = γ/σ at [0, C) and β at [C, 2C); backward k, p, q at [0, C), [C, 2C), [2C, 3C).</summary>
    private T[] coefficients = [];

    /// <summary>The element-wise pass of either direction over samples [start, start + count) (forward: y; backward: dx).</summary>
    private void ElementPass(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> to, int start, int count, bool backward)
    {
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        ReadOnlySpan<T> mu = mean.AsSpan(0, channels), co = coefficients;
        for (int s = start; s < start + count; s++)
        {
            int row = s * size;
            if (plane == 1)
            {
                // A vector input: the sample's row at once, one μ and coefficient per feature.
                if (backward)
                    NormalizationKernels.InputGradientRow(x.Slice(row, channels), dy.Slice(row, channels), mu, co.Slice(channels, channels), co.Slice(2 * channels, channels), co[..channels], to.Slice(row, channels));
                else
                    NormalizationKernels.NormalizeRow(x.Slice(row, channels), mu, co[..channels], co.Slice(channels, channels), to.Slice(row, channels));
                continue;
            }
            for (int c = 0; c < channels; c++)
            {
                int offset = row + c * plane;
                if (backward)
                    NormalizationKernels.InputGradient(x.Slice(offset, plane), dy.Slice(offset, plane), mu[c], co[channels + c], co[2 * channels + c], co[c], to.Slice(offset, plane));
                else
                    NormalizationKernels.Normalize(x.Slice(offset, plane), mu[c], co[c], co[channels + c], to.Slice(offset, plane));
            }
        }
    }

    private ref struct ElementWork : IPartitionedWork
    {
        public BatchNorm<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Y;
        public int N, Parts;
        public bool Backward;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(N, Parts, partition);
            Layer.ElementPass(X, Dy, Y, start, count, Backward);
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        T m = T.CreateChecked(GlobalCount(n) * plane);
        if (statistics.Length < 2 * channels) statistics = new T[2 * channels];
        if (coefficients.Length < 3 * channels) coefficients = new T[3 * channels];
        if (!SplitBatch && plane > 1)
        {
            // One process, maps: channel by channel (ChannelMajor), the same sums in the same order as below.
            var channelWork = new ChannelWork { Layer = this, X = x, Dy = dy, Y = dx, N = n, Parts = Math.Min(channels, Parallelism.ElementParts(n * size)), Backward = true };
            Parallelism.For(channelWork.Parts, ref channelWork);
            return;
        }
        // Σ δ and Σ δ x̂ = (1/σ) Σ δ (x - μ) over the channel (of the whole batch).
        var backward = new BackwardSums { X = x, Dy = dy, Mean = mean, Size = size, Plane = plane };
        BatchSums(n, statistics, ref backward, 2);
        for (int c = 0; c < channels; c++) BackwardConstants(c, m);
        if (dx.IsEmpty) return;
        // One pass per plane: dx = k δ + ((x - μ) p + q) (NormalizationKernels.InputGradient), samples on several threads.
        var work = new ElementWork { Layer = this, X = x, Dy = dy, Y = dx, N = n, Parts = Parallelism.ElementParts(n * size), Backward = true };
        Parallelism.For(work.Parts, ref work);
    }
}

/// <summary>
/// The description of a <see cref="BatchNorm{T}"/>: token <c>batchnorm</c> (or <c>bn</c>) with options <c>m{momentum}</c>
/// (default 0.1) and <c>e{epsilon}</c> (default 1e-5), e.g. <c>batchnorm:m0.01:e0.001</c>; per channel for maps, per
/// feature for vectors; ONNX <c>BatchNormalization</c> in inference form.
/// </summary>
/// <param name="Momentum">ρ, how far the running statistics move towards each batch's (0 &lt; ρ ≤ 1).</param>
/// <param name="Epsilon">ε added to the variance (positive and finite).</param>
public sealed record BatchNormSpec(double Momentum = BatchNorm<double>.DefaultMomentum, double Epsilon = BatchNorm<double>.DefaultEpsilon) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => BatchNormKind.Instance;

    /// <inheritdoc />
    /// <remarks><c>batchnorm</c>, with <c>:m{ρ}</c> and <c>:e{ε}</c> when they differ from the defaults (numbers in the shortest form that reads back exactly, e.g. <c>batchnorm:m0.01:e1e-06</c>).</remarks>
    public override string Token =>
        "batchnorm"
        + (Momentum == BatchNorm<double>.DefaultMomentum ? "" : ":m" + LayerToken.Format(Momentum))
        + (Epsilon == BatchNorm<double>.DefaultEpsilon ? "" : ":e" + LayerToken.Format(Epsilon));

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new BatchNorm<T>(Momentum, Epsilon);

    /// <summary>
    /// BatchNormalization in inference form: scale γ, B β, input_mean and input_var the running statistics,
    /// epsilon ε and momentum 1 - ρ (ONNX's momentum weighs the old running value, SharpCnn's ρ the batch's;
    /// ONNX reads it only in training). On conv maps [N, C, H, W] it is per channel; on a dense layer's
    /// [N, D] output it is per feature (ONNX's C = D), as in SharpCnn.
    /// </summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        var bn = (BatchNorm<T>)layer;
        // BatchNormalization takes [N, C, ...]: [N, D] is C = D features as it stands; maps stay maps.
        string input = export.Flat && layer.InputShape.Height * layer.InputShape.Width != 1 ? export.AsMaps() : export.Input;
        long[] dims = [layer.InputShape.Channels];
        string scale = export.Floats("gamma", dims, OnnxLayerExport<T>.ToFloats(bn.Gamma.Value));
        string shift = export.Floats("beta", dims, OnnxLayerExport<T>.ToFloats(bn.Beta.Value));
        string mean = export.Floats("running_mean", dims, OnnxLayerExport<T>.ToFloats(bn.RunningMean.Value));
        string variance = export.Floats("running_var", dims, OnnxLayerExport<T>.ToFloats(bn.RunningVariance.Value));
        export.Emit(export.Node("BatchNormalization", "batchnorm", [input, scale, shift, mean, variance],
            OnnxGraphWriter.Float("epsilon", (float)Epsilon),
            OnnxGraphWriter.Float("momentum", (float)(1 - Momentum))), export.Flat);
    }
}

/// <summary>The batch-norm kind: token <c>batchnorm</c> with <c>m{momentum}</c> and <c>e{epsilon}</c>; imports ONNX <c>BatchNormalization</c> (inference).</summary>
public sealed class BatchNormKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static BatchNormKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "batchnorm";

    /// <inheritdoc />
    public override string Grammar => "batchnorm";

    /// <inheritdoc />
    public override string Summary => "batch normalisation per channel (maps) or feature (vectors) with trained γ, β and running statistics; options m{momentum} (default 0.1), e{epsilon} (default 1e-5)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Parameters | LayerTraits.BatchStatistics;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Head is not ("batchnorm" or "bn")) return null;
        double momentum = BatchNorm<double>.DefaultMomentum, epsilon = BatchNorm<double>.DefaultEpsilon;
        bool momentumSet = false, epsilonSet = false;
        foreach (string opt in token.Options)
        {
            if (opt.Length > 1 && opt[0] == 'm')
            {
                if (momentumSet) throw token.Error("momentum is given twice");
                momentum = token.Number(opt[1..], "batch-norm momentum");
                if (!(momentum > 0 && momentum <= 1)) throw token.Error($"batch-norm momentum {opt[1..]} is outside (0, 1]");
                momentumSet = true;
            }
            else if (opt.Length > 1 && opt[0] == 'e')
            {
                if (epsilonSet) throw token.Error("epsilon is given twice");
                epsilon = token.Number(opt[1..], "batch-norm epsilon");
                if (!(epsilon > 0) || double.IsInfinity(epsilon)) throw token.Error($"batch-norm epsilon {opt[1..]} is not a positive finite number");
                epsilonSet = true;
            }
            else
            {
                throw token.Error($"unknown batch-norm option '{opt}'; expected m{{momentum}} or e{{epsilon}}, e.g. batchnorm:m0.01:e0.001");
            }
        }
        return new BatchNormSpec(momentum, epsilon);
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["BatchNormalization"];

    /// <summary>
    /// BatchNormalization in inference mode → batchnorm: per channel on maps [N, C, H, W], per feature on
    /// vectors [N, D] (C = D), with γ = scale, β = B and the running statistics = input_mean and input_var;
    /// y = γ (x - μ) / sqrt(σ² + ε) + β in both. ε comes from the epsilon attribute, ρ from momentum as
    /// 1 - momentum (ONNX's momentum weighs the old running value; ρ matters only in further training).
    /// Training mode (training_mode = 1, or the running or saved statistics as extra outputs) and per-value
    /// statistics (spatial = 0, operator sets 7 and 8) are refused.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        long opset = import.Opset;
        var a = opset < 9 ? import.Attributes(node, "epsilon", "momentum", "spatial")
            : opset < 14 ? import.Attributes(node, "epsilon", "momentum")
            : import.Attributes(node, "epsilon", "momentum", "training_mode");
        import.RequireInputs(node, 5, 5);
        if (node.Output.Count > 1)
            throw import.NodeFail($"has {node.Output.Count} outputs; only training mode writes the running{(opset < 14 ? " and saved" : "")} statistics as outputs, and SharpCnn imports inference graphs (one output Y)");
        import.RequireOutputs(node, 1);
        if (a.Int("training_mode", 0) != 0)
            throw import.NodeFail($"has training_mode {a.Int("training_mode", 0)}: it would normalise by each batch's statistics; SharpCnn imports inference graphs (training_mode 0), which use input_mean and input_var");
        if (a.Int("spatial", 1) != 1)
            throw import.NodeFail($"has spatial {a.Int("spatial", 1)}: statistics per value rather than per channel; SharpCnn's batch norm is per channel (spatial 1)");
        float eps = a.Float("epsilon", 1e-5f);
        if (!(eps > 0) || float.IsInfinity(eps)) throw import.NodeFail($"has epsilon {eps}; SharpCnn's batch norm needs a positive finite epsilon");
        double epsilon = OnnxGraphImporter.ShortestDecimal(eps, e => (float)e == eps);
        double momentum = BatchNorm<double>.DefaultMomentum;
        if (a.Has("momentum"))
        {
            float m = a.Float("momentum", 0.9f);
            if (!(m >= 0 && m <= 1)) throw import.NodeFail($"has momentum {m}; expected a number in [0, 1]");
            if (m == 1)
                import.Note($"{import.Label} has momentum 1 (running statistics that never move), which SharpCnn's batch norm has no form for: the layer gets the default momentum {BatchNorm<double>.DefaultMomentum} for any further training; inference is unaffected");
            else
                momentum = OnnxGraphImporter.ShortestDecimal(1 - (double)m, r => r > 0 && r <= 1 && (float)(1 - r) == m);
        }
        long channels = import.Channels;
        bool flat = import.Flat;
        string what = flat ? "feature" : "channel";
        import.Claim(4 * channels, $"batch-norm parameters[4x{channels}]");
        var values = new double[4][];
        string[] roles = ["scale", "B", "input_mean", "input_var"];
        for (int i = 0; i < 4; i++)
        {
            var t = import.ConstantInput(node, i + 1, roles[i], required: true)!;
            if (t.Dims.Count != 1 || t.Dims[0] != channels)
                throw import.NodeFail($"{roles[i]} '{t.Name}' has dimensions {OnnxGraphImporter.Dims(t)}; expected [{channels}], one value per {what} of its {(flat ? $"[N, {channels}]" : $"[N, {channels}, {import.Height}, {import.Width}]")} input");
            values[i] = import.Reals(t, roles[i]);
        }
        var variance = values[3];
        for (int c = 0; c < variance.Length; c++)
            if (!(variance[c] >= 0))
                throw import.NodeFail($"input_var '{node.Input[4]}' has {variance[c]} for {what} {c}; a variance is not negative");
        import.AddLayer(new BatchNormSpec(momentum, epsilon), values, node);
    }
}
