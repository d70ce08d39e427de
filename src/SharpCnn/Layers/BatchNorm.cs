using System.Globalization;
using SharpCnn.Kernels;
using SharpCnn.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

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
    /// <remarks><c>batchnorm</c>, with <c>:m{ρ}</c> and <c>:e{ε}</c> when they differ from the defaults (numbers in the shortest form that reads back exactly, e.g. <c>batchnorm:m0.01:e1e-06</c>).</remarks>
    public override string Token =>
        "batchnorm"
        + (Momentum == DefaultMomentum ? "" : ":m" + Number(Momentum))
        + (Epsilon == DefaultEpsilon ? "" : ":e" + Number(Epsilon));

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant();

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

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

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        T eps = T.CreateChecked(Epsilon);
        usedBatchStatistics = Training;
        Span<T> gamma = Gamma.Value, beta = Beta.Value, runningMean = RunningMean.Value, runningVar = RunningVariance.Value;
        for (int c = 0; c < channels; c++)
        {
            T mu, variance;
            if (Training)
            {
                int m = n * plane;
                T sum = T.Zero;
                // Canonical order (docs/DETERMINISM.md): each sample's plane reduced in the 16-lane order, the
                // planes' sums added in sample order.
                for (int s = 0; s < n; s++) sum += Reductions.Sum<T>(x.Slice(s * size + c * plane, plane));
                mu = sum / T.CreateChecked(m);
                T squares = T.Zero;
                for (int s = 0; s < n; s++) squares += Reductions.SumOfSquaredDeviations<T>(x.Slice(s * size + c * plane, plane), mu);
                variance = squares / T.CreateChecked(m);
                T rho = T.CreateChecked(Momentum), keep = T.One - rho;
                T unbiased = m > 1 ? squares / T.CreateChecked(m - 1) : variance;
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
            T a = gamma[c] * inv, b = beta[c];
            for (int s = 0; s < n; s++)
            {
                int offset = s * size + c * plane;
                Span<T> ys = y.Slice(offset, plane);
                TP.Subtract(x.Slice(offset, plane), mu, ys);
                TP.Multiply(ys, a, ys);
                TP.Add(ys, b, ys);
            }
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int channels = InputShape.Channels, plane = InputShape.Height * InputShape.Width, size = InputShape.Size;
        Span<T> gamma = Gamma.Value, dGamma = Gamma.Gradient, dBeta = Beta.Gradient;
        T m = T.CreateChecked(n * plane);
        for (int c = 0; c < channels; c++)
        {
            T mu = mean[c], inv = inverseStd[c];
            // Σ δ and Σ δ x̂ = (1/σ) Σ δ (x - μ) over the channel.
            T sumDy = T.Zero, sumDyCentered = T.Zero;
            for (int s = 0; s < n; s++)
            {
                int offset = s * size + c * plane;
                ReadOnlySpan<T> xs = x.Slice(offset, plane), g = dy.Slice(offset, plane);
                sumDy += Reductions.Sum<T>(g);
                sumDyCentered += Reductions.DotWithDeviations<T>(g, xs, mu);
            }
            T sumDyXhat = sumDyCentered * inv;
            dBeta[c] += sumDy;
            dGamma[c] += sumDyXhat;
            if (dx.IsEmpty) continue;
            T k = gamma[c] * inv;
            // training: dx = k (δ - Σδ/m - x̂ Σδx̂/m) = k δ + p (x - μ) + q with p = -k σ⁻¹ Σδx̂/m, q = -k Σδ/m
            // (x - μ, not p x - p μ, for the same reason as in Forward)
            // evaluation: dx = k δ
            T p = usedBatchStatistics ? -k * inv * sumDyXhat / m : T.Zero;
            T q = usedBatchStatistics ? -k * sumDy / m : T.Zero;
            for (int s = 0; s < n; s++)
            {
                int offset = s * size + c * plane;
                Span<T> d = dx.Slice(offset, plane);
                TP.Subtract(x.Slice(offset, plane), mu, d);
                TP.Multiply(d, p, d);
                TP.Add(d, q, d);
                ElementwiseKernels.MultiplyAdd(dy.Slice(offset, plane), k, d, d);
            }
        }
    }
}
