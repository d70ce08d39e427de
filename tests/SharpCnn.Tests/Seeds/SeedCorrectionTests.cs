using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Model;
using SharpCnn.Tensors;
using static SharpCnn.Tests.Seeds.SeedNotation;

namespace SharpCnn.Tests.Seeds;

/// <summary>
/// The seed formulas docs/MATH.md corrects, each transcribed as literally as the seed allows
/// and put through the same gradient check the engine passes. A wrong formula must be
/// rejected by a wide margin (relative error above 1e-2, against the 1e-6 tolerance), while
/// the engine's layer, built the same way, passes. Where the seed is right but easy to misread,
/// the test pins the reading the engine uses.
/// </summary>
public class SeedCorrectionTests
{
    /// <summary>Replaces part of a convolution's backward pass (after the engine's own) with a formula under test.</summary>
    private delegate void ConvFormula(Conv2d<double> conv, ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, int n);

    /// <summary>Replaces part of a dense layer's backward pass with a formula under test.</summary>
    private delegate void DenseFormula(Dense<double> dense, ReadOnlySpan<double> x, ReadOnlySpan<double> dy, Span<double> dx, int n);

    private sealed class ConvWithFormula(Conv2d<double> inner, ConvFormula formula) : Layer<double>
    {
        public override LayerSpec Spec => new CodeLayerSpec(inner.Token + ":seed-formula");

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override Parameter<double>[] CreateParameters() => [.. inner.Parameters];

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            inner.Backward(x, y, dy, dx, n);
            formula(inner, x, dy, dx, n);
        }
    }

    private sealed class DenseWithFormula(Dense<double> inner, DenseFormula formula) : Layer<double>
    {
        public override LayerSpec Spec => new CodeLayerSpec(inner.Token + ":seed-formula");

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override Parameter<double>[] CreateParameters() => [.. inner.Parameters];

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            inner.Backward(x, y, dy, dx, n);
            formula(inner, x, dy, dx, n);
        }
    }

    /// <summary>Builds the layer, fills parameters and input at random (seeded) and runs the gradient check.</summary>
    private static GradientCheckReport Check(Layer<double> layer, Shape input, int n, ulong seed = 5)
    {
        var rng = new Rng(seed);
        layer.Build(input);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, n * input.Size);
        return GradientChecker.CheckLayer(layer, x, n, new GradientCheckOptions { Seed = seed });
    }

    /// <summary>The check fails on <paramref name="tensor"/> by a wide margin, and only there.</summary>
    private static void Rejected(GradientCheckReport report, string tensor)
    {
        string text = GradientAssert.Describe(report);
        Assert.False(report.Passed, text);
        var bad = report.Tensors.Single(t => t.Tensor == tensor);
        Assert.True(bad.MaxRelativeError > 1e-2, text);
        Assert.All(report.Tensors.Where(t => t.Tensor != tensor), t => Assert.True(t.Passed, text));
    }

    private static double[] Plane(ReadOnlySpan<double> a, int index, int size) => a.Slice(index * size, size).ToArray();

    private static void AssertClose(double[] expected, ReadOnlySpan<double> actual, double tolerance = 1e-12)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale, $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    // ---------------------------------------------------------------- convolution

    /// <summary>
    /// Seed 000 §3: ∂L/∂x_i = Σ_j conv2(δ_j, rot180(k_ij), 'same'), with k = rot180(w) the seed's
    /// true-convolution kernel, i.e. conv2(δ, w, 'same'). MATLAB's 'same' window starts at floor(k/2);
    /// the backward of a 'same' forward must start at the forward's top/left padding floor((k-1)/2).
    /// The two agree for odd kernels only: for an even kernel the seed's formula is one pixel off.
    /// </summary>
    [Theory]
    [InlineData(4, 4)]
    [InlineData(2, 2)]
    [InlineData(2, 3)]
    public void Seed000SameDeltaFormulaIsOffByOnePixelForEvenKernels(int kh, int kw)
    {
        int h = 6, w = 7;
        var seed = new ConvWithFormula(new Conv2d<double>(1, kh, kw, 1, Padding.Same), (conv, x, dy, dx, n) =>
        {
            for (int s = 0; s < n; s++)
                Conv2(Plane(dy, s, h * w), h, w, conv.Weight.Value, kh, kw, "same").CopyTo(dx.Slice(s * h * w, h * w));
        });
        Rejected(Check(seed, new Shape(1, h, w), 2), "input");
        GradientAssert.Layer(new Conv2d<double>(1, kh, kw, 1, Padding.Same), new Shape(1, h, w), n: 2);
    }

    /// <summary>
    /// The corrected seed 000 formulas on the engine's 'same' convolution: the forward is
    /// conv2(x, k, 'same') + b for every kernel size (k = rot180(w)); the input gradient is the
    /// window of conv2(δ, w, 'full') that starts at the forward padding (top, left), which is
    /// MATLAB's 'same' window only when the kernel is odd.
    /// </summary>
    [Theory]
    [InlineData(4, 4)]
    [InlineData(2, 3)]
    [InlineData(3, 3)]
    [InlineData(5, 5)]
    public void Seed000SameFormulasWithTheCorrectedDeltaWindowMatchTheEngine(int kh, int kw)
    {
        int h = 6, w = 7;
        var rng = new Rng(12);
        var conv = new Conv2d<double>(1, kh, kw, 1, Padding.Same);
        conv.Build(new Shape(1, h, w));
        conv.Reserve(1);
        foreach (var p in conv.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, h * w);
        var dy = RandomTensors.Normal(rng, h * w);
        var y = new double[h * w];
        var dx = new double[h * w];
        conv.Forward(x, y, 1);
        conv.Backward(x, y, dy, dx, 1);
        double[] wk = conv.Weight.Value, k = Rot180(wk);

        double[] seedY = Conv2(x, h, w, k, kh, kw, "same").Select(v => v + conv.Bias.Value[0]).ToArray();
        AssertClose(seedY, y);

        var (top, _, left, _) = conv.ResolvedPadding;
        Assert.Equal(((kh - 1) / 2, (kw - 1) / 2), (top, left));
        double[] corrected = Window(Conv2(dy, h, w, wk, kh, kw, "full"), h + kh - 1, w + kw - 1, top, left, h, w);
        AssertClose(corrected, dx);
        if (kh % 2 == 1 && kw % 2 == 1) AssertClose(Conv2(dy, h, w, wk, kh, kw, "same"), dx);
    }

    /// <summary>The engine's input gradient in seed notation: crop_P( correlate_valid( pad_{k-1}( dilate_s(δ) ), rot180(w) ) ).</summary>
    private static double[] DilatedFullDelta(double[] delta, int ho, int wo, double[] w, int kh, int kw, int s,
        (int Top, int Bottom, int Left, int Right) pad, int h, int wi, bool dilate)
    {
        int hp = h + pad.Top + pad.Bottom, wp = wi + pad.Left + pad.Right;
        double[] d = dilate ? Dilate(delta, ho, wo, s) : delta;
        int dh = dilate ? (ho - 1) * s + 1 : ho, dw = dilate ? (wo - 1) * s + 1 : wo;
        // k - 1 zeros on every side ('full'); with a stride, the rows the last window did not reach get more zeros below.
        int extraH = Math.Max(0, hp - (dh + kh - 1)), extraW = Math.Max(0, wp - (dw + kw - 1));
        int ph = dh + 2 * (kh - 1) + extraH, pw = dw + 2 * (kw - 1) + extraW;
        double[] full = CorrelateValid(Pad(d, dh, dw, kh - 1, kh - 1 + extraH, kw - 1, kw - 1 + extraW), ph, pw, Rot180(w), kh, kw);
        return Window(full, ph - kh + 1, pw - kw + 1, pad.Top, pad.Left, h, wi);
    }

    /// <summary>
    /// Seed 001 §3 and §5 give δ^{l-1} = δ^l * rot180(W^l) ⊙ σ'(z^{l-1}) ("pad the error with a ring of
    /// zeros") and list a stride S among the hyper-parameters, but the formula has no stride in it.
    /// With stride s the error must first be dilated (s - 1 zeros between entries); without that the
    /// gradient check rejects the formula. With the dilation (and the forward padding cropped off) it
    /// is exactly the engine's input gradient.
    /// </summary>
    [Theory]
    [InlineData(3, 3, 2, 0)]
    [InlineData(2, 3, 3, 1)]
    [InlineData(3, 2, 2, 1)]
    public void Seed001DeltaFormulaNeedsTheStrideDilation(int kh, int kw, int stride, int padding)
    {
        int h = 8, w = 9;
        var pad = Padding.All(padding);
        var seed = new ConvWithFormula(new Conv2d<double>(1, kh, kw, stride, pad), (conv, x, dy, dx, n) =>
        {
            int ho = conv.OutputShape.Height, wo = conv.OutputShape.Width;
            for (int s = 0; s < n; s++)
                DilatedFullDelta(Plane(dy, s, ho * wo), ho, wo, conv.Weight.Value, kh, kw, stride, conv.ResolvedPadding, h, w, dilate: false)
                    .CopyTo(dx.Slice(s * h * w, h * w));
        });
        Rejected(Check(seed, new Shape(1, h, w), 2), "input");

        var engine = new ConvWithFormula(new Conv2d<double>(1, kh, kw, stride, pad), (conv, x, dy, dx, n) =>
        {
            int ho = conv.OutputShape.Height, wo = conv.OutputShape.Width;
            for (int s = 0; s < n; s++)
            {
                double[] corrected = DilatedFullDelta(Plane(dy, s, ho * wo), ho, wo, conv.Weight.Value, kh, kw, stride, conv.ResolvedPadding, h, w, dilate: true);
                AssertClose(corrected, dx.Slice(s * h * w, h * w));
            }
        });
        GradientAssert.Passes(Check(engine, new Shape(1, h, w), 2));
    }

    /// <summary>
    /// Where rot180 belongs in the correlation convention. Seed 001 §4 shows the kernel gradient is the
    /// 'valid' correlation of the input with δ, "without rotation"; its summary (§5) then updates the
    /// kernel with δ * rot180(a), i.e. the rotated gradient. And the input gradient needs the rotated
    /// kernel (§3): correlating the padded δ with w itself is wrong. Both misplacements fail.
    /// </summary>
    [Theory]
    [InlineData("rotated-kernel-gradient", "weight")]
    [InlineData("unrotated-kernel-in-delta", "input")]
    public void Rot180InTheWrongPlaceFailsTheCheck(string mistake, string tensor)
    {
        int h = 6, w = 7, k = 3;
        var seed = new ConvWithFormula(new Conv2d<double>(1, k, k), (conv, x, dy, dx, n) =>
        {
            if (mistake == "rotated-kernel-gradient")
            {
                Rot180(conv.Weight.Gradient).CopyTo(conv.Weight.Gradient, 0);
                return;
            }
            int ho = h - k + 1, wo = w - k + 1;
            for (int s = 0; s < n; s++)
                CorrelateValid(Pad(Plane(dy, s, ho * wo), ho, wo, k - 1, k - 1, k - 1, k - 1), h + k - 1, w + k - 1, conv.Weight.Value, k, k)
                    .CopyTo(dx.Slice(s * h * w, h * w));
        });
        Rejected(Check(seed, new Shape(1, h, w), 2), tensor);
        GradientAssert.Layer(new Conv2d<double>(1, k, k), new Shape(1, h, w), n: 2);
    }

    /// <summary>
    /// Seed 004 eq. (24), second conv layer of its 5-layer model (6x6 maps T, 2x2 kernels, 5x5 output M):
    /// it pads the 5x5 error with one row and column of zeros at the top and left only ("the zero
    /// border comes from padding the 11x11 map at the bottom/right for pooling") and convolves with
    /// rot180(Ŵ). That gives 5x5, not 6x6: the last row and column of ∂E/∂T are lost. A 'full'
    /// correlation pads k - 1 = 1 on every side; then it is the engine's gradient.
    /// </summary>
    [Fact]
    public void Seed004DeltaPaddedOnlyAtTheTopLeftLosesTheLastRowAndColumn()
    {
        int h = 6, k = 2, ho = h - k + 1;
        var seed = new ConvWithFormula(new Conv2d<double>(1, k, k), (conv, x, dy, dx, n) =>
        {
            for (int s = 0; s < n; s++)
            {
                double[] g = CorrelateValid(Pad(Plane(dy, s, ho * ho), ho, ho, 1, 0, 1, 0), h, h, Rot180(conv.Weight.Value), k, k);
                Window(g, ho, ho, 0, 0, h, h).CopyTo(dx.Slice(s * h * h, h * h));
            }
        });
        Rejected(Check(seed, new Shape(1, h, h), 2), "input");

        var corrected = new ConvWithFormula(new Conv2d<double>(1, k, k), (conv, x, dy, dx, n) =>
        {
            for (int s = 0; s < n; s++)
                AssertClose(CorrelateValid(Pad(Plane(dy, s, ho * ho), ho, ho, 1, 1, 1, 1), h + 1, h + 1, Rot180(conv.Weight.Value), k, k), dx.Slice(s * h * h, h * h));
        });
        GradientAssert.Passes(Check(corrected, new Shape(1, h, h), 2));
    }

    /// <summary>
    /// Seed 004 eq. (21) sets the convolution's bias gradient to the whole sensitivity map δ₁ (22x22 per
    /// kernel). A per-kernel bias gets the sum over the map, Σ_{u,v} (δ_k)_{uv} (seeds 000, 001, 002 and
    /// 003 say so); any other reduction, e.g. the mean over the map, fails the check.
    /// </summary>
    [Fact]
    public void Seed004ConvolutionBiasGradientIsTheSumOverTheMapNotTheMean()
    {
        var seed = new ConvWithFormula(new Conv2d<double>(2, 3, 3), (conv, x, dy, dx, n) =>
        {
            int plane = conv.OutputShape.Height * conv.OutputShape.Width;
            for (int o = 0; o < conv.OutChannels; o++) conv.Bias.Gradient[o] /= plane;
        });
        Rejected(Check(seed, new Shape(2, 6, 6), 2), "bias");
    }

    /// <summary>
    /// Seed 003 shares one 2-D kernel Θ_p across all input maps (O_p = φ(Σ_q X_q *_v Θ_p + b_p)), so its
    /// gradient correlates the SUM of the input maps with δ. The engine (like seed 000 and PyTorch) has
    /// one kernel per (output, input) pair, whose gradient uses that input map alone; the summed form
    /// applied to per-pair kernels fails.
    /// </summary>
    [Fact]
    public void Seed003SharedKernelGradientDoesNotFitPerPairKernels()
    {
        int cin = 2, cout = 2, h = 6, w = 5, k = 3, ho = h - k + 1, wo = w - k + 1;
        var seed = new ConvWithFormula(new Conv2d<double>(cout, k, k), (conv, x, dy, dx, n) =>
        {
            Array.Clear(conv.Weight.Gradient);
            for (int s = 0; s < n; s++)
            {
                var sum = new double[h * w];
                for (int c = 0; c < cin; c++)
                {
                    double[] xc = Plane(x, s * cin + c, h * w);
                    for (int i = 0; i < sum.Length; i++) sum[i] += xc[i];
                }
                for (int o = 0; o < cout; o++)
                {
                    double[] g = CorrelateValid(sum, h, w, Plane(dy, s * cout + o, ho * wo), ho, wo);
                    for (int c = 0; c < cin; c++)
                        for (int i = 0; i < k * k; i++)
                            conv.Weight.Gradient[(o * cin + c) * k * k + i] += g[i];
                }
            }
        });
        Rejected(Check(seed, new Shape(cin, h, w), 2), "weight");
    }

    /// <summary>
    /// Seed 003 writes the neuron as act(Σ_{i,j} θ_{(n-i)(n-j)} x_{ij} + b) with i, j = 1..n, which reads
    /// θ₀ and never θ_n; the flip it means is θ_{(n+1-i)(n+1-j)} (θ = rot180(w)), as its own 2x2 listing
    /// ∂E/∂θ₁₁ = δ₁₁ o₂₂, ..., ∂E/∂θ₂₂ = δ₁₁ o₁₁ confirms.
    /// </summary>
    [Fact]
    public void Seed003FlippedKernelIndexIsNPlusOneMinusI()
    {
        var rng = new Rng(4);
        int size = 5, n = 3, outSize = size - n + 1;
        var conv = new Conv2d<double>(1, n, n);
        conv.Build(new Shape(1, size, size));
        conv.Reserve(1);
        foreach (var p in conv.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, size * size);
        var y = new double[outSize * outSize];
        conv.Forward(x, y, 1);
        double[] theta = Rot180(conv.Weight.Value);
        double Theta(int a, int b) => theta[(a - 1) * n + (b - 1)]; // 1-based, as the seed
        for (int u = 0; u < outSize; u++)
            for (int v = 0; v < outSize; v++)
            {
                double sum = conv.Bias.Value[0];
                for (int i = 1; i <= n; i++)
                    for (int j = 1; j <= n; j++)
                        sum += Theta(n + 1 - i, n + 1 - j) * x[(u + i - 1) * size + v + j - 1];
                Assert.Equal(sum, y[u * outSize + v], 12);
            }

        // The 2x2 listing: one output neuron over a 2x2 patch o, error δ₁₁.
        var small = new Conv2d<double>(1, 2, 2);
        small.Build(new Shape(1, 2, 2));
        small.Reserve(1);
        double[] o = [3, 5, 7, 11]; // o11, o12, o21, o22
        double d11 = 2;
        small.Forward(o, new double[1], 1);
        small.Backward(o, new double[1], [d11], new double[4], 1);
        double[] dTheta = Rot180(small.Weight.Gradient);
        Assert.Equal(new[] { d11 * o[3], d11 * o[2], d11 * o[1], d11 * o[0] }, dTheta); // θ11: o22, θ12: o21, θ21: o12, θ22: o11
    }

    // ---------------------------------------------------------------- the factor after the upsample

    /// <summary>
    /// Seed 003 (convolution section) ends the residual of the map q' below a convolution with "∘ O_q'"
    /// (times the map's own values), and seed 004 eq. (17) and (25) with "down(Z)" (f₂'(down Z) = down Z
    /// for the identity f₂). The factor after the chain rule is the derivative of the activation at that
    /// map (1 for a pooling output), not its value; multiplying by the values fails.
    /// </summary>
    [Theory]
    [InlineData("conv")]
    [InlineData("dense")]
    public void MultiplyingTheDeltaByThePooledValuesFailsTheCheck(string kind)
    {
        GradientCheckReport report = kind == "conv"
            ? Check(new ConvWithFormula(new Conv2d<double>(2, 2, 2), (conv, x, dy, dx, n) => { for (int i = 0; i < dx.Length; i++) dx[i] *= x[i]; }), new Shape(3, 6, 6), 2)
            : Check(new DenseWithFormula(new Dense<double>(4), (dense, x, dy, dx, n) => { for (int i = 0; i < dx.Length; i++) dx[i] *= x[i]; }), new Shape(2, 3, 3), 2);
        Rejected(report, "input");
    }

    /// <summary>Sigmoid, then 2x2 mean pooling, as one layer; its backward may leave out the sigmoid's derivative.</summary>
    private sealed class SigmoidThenMeanPool(bool withDerivative) : Layer<double>
    {
        private readonly Sigmoid<double> act = new();
        private readonly MeanPool2d<double> pool = new(2);
        private double[] a = [], da = [];

        public override LayerSpec Spec => new CodeLayerSpec(withDerivative ? "sigmoid+meanpool2" : "sigmoid+meanpool2:no-derivative");

        protected override Shape Configure(Shape input)
        {
            act.Build(input);
            return pool.Build(input);
        }

        protected override void ReserveScratch(int batch)
        {
            act.Reserve(batch);
            pool.Reserve(batch);
            a = new double[batch * InputShape.Size];
            da = new double[batch * InputShape.Size];
        }

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n)
        {
            act.Forward(x, a, n);
            pool.Forward(a, y, n);
        }

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            int len = n * InputShape.Size;
            pool.Backward(a.AsSpan(0, len), y, dy, da.AsSpan(0, len), n); // upsample(Δ)
            if (withDerivative) act.Backward(x, a.AsSpan(0, len), da.AsSpan(0, len), dx, n); // ⊙ σ'(z)
            else da.AsSpan(0, len).CopyTo(dx);
        }
    }

    /// <summary>
    /// Seed 003 (pooling section) passes the residual to the convolution below as Δ_p = upsample(Δ_q),
    /// with no activation derivative, although its convolution output is O = φ(...). Seed 001 §3 has the
    /// factor: δ^{l-1} = upsample(δ^l) ⊙ σ'(z^{l-1}). Without it the check fails; with it it passes.
    /// </summary>
    [Fact]
    public void UpsampleWithoutTheActivationDerivativeFailsTheCheck()
    {
        Rejected(Check(new SigmoidThenMeanPool(withDerivative: false), new Shape(2, 6, 6), 2), "input");
        GradientAssert.Passes(Check(new SigmoidThenMeanPool(withDerivative: true), new Shape(2, 6, 6), 2));
    }

    // ---------------------------------------------------------------- pooling and subsampling

    /// <summary>Mean pooling whose backward copies each output gradient to its whole window (an upsample without 1/(kh·kw)).</summary>
    private sealed class MeanPoolCopyUpsample : Layer<double>
    {
        private readonly MeanPool2d<double> inner = new(2);

        public override LayerSpec Spec => new CodeLayerSpec("meanpool2:copy-upsample");

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            inner.Backward(x, y, dy, dx, n);
            for (int i = 0; i < n * InputShape.Size; i++) dx[i] *= 4;
        }
    }

    /// <summary>
    /// Seed 002's up(x) = x ⊗ 1_{n×n} copies each error n² times: right for its sum-subsampling
    /// layer (times β), but mean pooling divides by n² in the forward pass, so its upsample needs the
    /// same 1/n² (seed 000: δ/4; seed 001's example: 2 → 0.5). The bare copy fails the check.
    /// </summary>
    [Fact]
    public void MeanPoolingUpsampleWithoutOneOverKSquaredFailsTheCheck()
    {
        var x = RandomTensors.Normal(new Rng(6), 2 * 2 * 36);
        var report = GradientChecker.CheckLayer(Built(new MeanPoolCopyUpsample(), new Shape(2, 6, 6)), x, 2);
        Rejected(report, "input");
    }

    private static Layer<double> Built(Layer<double> layer, Shape shape)
    {
        layer.Build(shape);
        return layer;
    }

    /// <summary>
    /// Seed 002's subsampling backward in its own notation: the input gradient is β · (δ ⊗ 1_{k×k})
    /// (the Kronecker upsample), the β gradient Σ δ ∘ down(x) and the bias gradient Σ δ.
    /// </summary>
    [Fact]
    public void Seed002SubsamplingBackwardIsTheKroneckerUpsampleTimesBeta()
    {
        var rng = new Rng(9);
        int c = 2, h = 6, k = 2, ho = h / k;
        var layer = new Subsample2d<double>(k);
        layer.Build(new Shape(c, h, h));
        layer.Reserve(1);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, c * h * h);
        var dy = RandomTensors.Normal(rng, c * ho * ho);
        var y = new double[dy.Length];
        var dx = new double[x.Length];
        layer.Forward(x, y, 1);
        layer.Backward(x, y, dy, dx, 1);
        for (int ch = 0; ch < c; ch++)
        {
            double beta = layer.Beta.Value[ch];
            double[] delta = Plane(dy, ch, ho * ho);
            double[] kron = new double[h * h];
            for (int r = 0; r < h; r++)
                for (int col = 0; col < h; col++)
                    kron[r * h + col] = beta * delta[r / k * ho + col / k];
            AssertClose(kron, dx.AsSpan(ch * h * h, h * h));

            double[] down = CorrelateValid(Plane(x, ch, h * h), h, h, [1, 1, 1, 1], k, k); // block sums at every offset ...
            double dBeta = 0;
            for (int u = 0; u < ho; u++)
                for (int v = 0; v < ho; v++)
                    dBeta += delta[u * ho + v] * down[u * k * (h - k + 1) + v * k]; // ... taken every k
            Assert.Equal(dBeta, layer.Beta.Gradient[ch], 12);
            Assert.Equal(delta.Sum(), layer.Bias.Gradient[ch], 12);
        }
    }

    // ---------------------------------------------------------------- fully connected

    /// <summary>
    /// Seed 000 §2 lists ∂Y/∂X = W for Y = WX + b. As a Jacobian that is right, but the error sent back
    /// is Wᵀδ (seed 001: (W^{l+1})ᵀ δ^{l+1}); a square layer lets the untransposed W δ through the shapes,
    /// and the check rejects it.
    /// </summary>
    [Fact]
    public void DenseInputGradientNeedsTheTranspose()
    {
        int d = 5;
        var seed = new DenseWithFormula(new Dense<double>(d), (dense, x, dy, dx, n) =>
        {
            double[] w = dense.Weight.Value; // [out m, in j]
            for (int s = 0; s < n; s++)
                for (int j = 0; j < d; j++)
                {
                    double sum = 0;
                    for (int m = 0; m < d; m++) sum += w[j * d + m] * dy[s * d + m]; // W δ instead of Wᵀ δ
                    dx[s * d + j] = sum;
                }
        });
        Rejected(Check(seed, Shape.Vector(d), 2), "input");
    }

    /// <summary>
    /// Seed 001 §5 updates a fully connected layer's bias with Σ_i Σ_{u,v} (δ^{i,l})_{uv}, the sum over all
    /// entries, copied from the convolution line. A dense bias has one gradient per unit: Σ_i δ^{i,l}.
    /// </summary>
    [Fact]
    public void Seed001DenseBiasGradientIsPerUnitNotSummedOverUnits()
    {
        var seed = new DenseWithFormula(new Dense<double>(4), (dense, x, dy, dx, n) =>
        {
            double all = 0;
            for (int i = 0; i < n * 4; i++) all += dy[i];
            Array.Fill(dense.Bias.Gradient, all);
        });
        Rejected(Check(seed, Shape.Vector(6), 2), "bias");
    }

    // ---------------------------------------------------------------- losses and '-max'

    /// <summary>
    /// Seed 000 §2.1 divides the cross-entropy by n, the number of CLASSES (the same n as in its softmax
    /// sum): L = -1/n Σ_i label_i log σ(x)_i, ∂L/∂x_i = (σ(x)_i - label_i)/n (the seed writes δ(x_i) for
    /// σ(x)_i). That is consistent, so it passes the check, but it is the usual cross-entropy divided by
    /// the class count: its gradient, and so the effective learning rate, is 1/D of the standard one. The
    /// engine divides by the number of SAMPLES in the batch, as PyTorch's cross_entropy does.
    /// </summary>
    [Fact]
    public void Seed000PerClassOneOverNIsTheCrossEntropyDividedByTheClassCount()
    {
        const int d = 10;
        var rng = new Rng(3);
        var x = RandomTensors.Normal(rng, d, 3.0);
        int[] label = [4];
        var seedLoss = new PerClassCrossEntropy();
        GradientAssert.Passes(GradientChecker.CheckLoss(seedLoss, x, label, 1, d));

        var ce = new SoftmaxCrossEntropy<double>();
        Assert.Equal(ce.Forward(x, label, 1, d), d * seedLoss.Forward(x, label, 1, d), 12);
        var g = new double[d];
        var gSeed = new double[d];
        ce.Backward(x, label, g, 1, d);
        seedLoss.Backward(x, label, gSeed, 1, d);
        for (int i = 0; i < d; i++) Assert.Equal(g[i], d * gSeed[i], 14);

        // Over a batch the engine's 1/N is the mean of the per-sample losses.
        var two = new double[2 * d];
        x.CopyTo(two, 0);
        x.CopyTo(two, d);
        Assert.Equal(ce.Forward(x, label, 1, d), ce.Forward(two, [4, 4], 2, d), 12);
    }

    private sealed class PerClassCrossEntropy : Loss<double>
    {
        public override string Name => "ce-per-class";

        public override double Forward(ReadOnlySpan<double> output, ReadOnlySpan<int> labels, int n, int classes)
        {
            var p = new double[classes];
            double total = 0;
            for (int s = 0; s < n; s++)
            {
                Softmax.Compute(output.Slice(s * classes, classes), p);
                total += -Math.Log(p[labels[s]]) / classes;
            }
            return total;
        }

        public override void Backward(ReadOnlySpan<double> output, ReadOnlySpan<int> labels, Span<double> dOutput, int n, int classes)
        {
            var p = new double[classes];
            for (int s = 0; s < n; s++)
            {
                Softmax.Compute(output.Slice(s * classes, classes), p);
                for (int i = 0; i < classes; i++) dOutput[s * classes + i] = (p[i] - (i == labels[s] ? 1 : 0)) / classes;
            }
        }
    }

    /// <summary>
    /// Seed 000's worked comparison, softmax output (0.87, 0.01, 0.12) with label (1, 0, 0), writes
    /// 3·CE = -1·log(0.87) - 0·log(0.01) - 0·log(0.12) - 0·log(0.13) - 1·log(0.99) - 1·log(0.88): that is
    /// the binary cross-entropy of every class, not the softmax cross-entropy it defined, which only
    /// reads the labelled class: CE = -log 0.87. (The gradient σ - t still moves every class.)
    /// </summary>
    [Fact]
    public void Seed000CrossEntropyExampleIsBinaryNotSoftmaxCrossEntropy()
    {
        double[] p = [0.87, 0.01, 0.12];
        double[] logits = p.Select(v => Math.Log(v)).ToArray();
        double ce = new SoftmaxCrossEntropy<double>().Forward(logits, [0], 1, 3);
        Assert.Equal(-Math.Log(0.87), ce, 14);
        double seedExpression = (-Math.Log(0.87) - Math.Log(0.99) - Math.Log(0.88)) / 3;
        double binary = 0;
        for (int i = 0; i < 3; i++)
        {
            double t = i == 0 ? 1 : 0;
            binary -= t * Math.Log(p[i]) + (1 - t) * Math.Log(1 - p[i]);
        }
        Assert.Equal(binary / 3, seedExpression, 14);
        Assert.True(Math.Abs(seedExpression - ce) > 0.3 * ce, $"{seedExpression} vs {ce}");
    }

    /// <summary>'-max' whose backward forgets the -[i = m] Σ_j δ_j term.</summary>
    private sealed class SubtractMaxIdentityBackward : Layer<double>
    {
        private readonly SubtractMax<double> inner = new();

        public override LayerSpec Spec => new CodeLayerSpec("minusmax:identity-backward");

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n) =>
            dy[..(n * InputShape.Size)].CopyTo(dx);
    }

    /// <summary>
    /// Seed 000's '-max' leaves softmax unchanged, and behind a softmax loss its backward's correction
    /// term -[i = m] Σ_j δ_j vanishes (a softmax loss's gradient sums to zero over the classes), so a
    /// '-max' that just passes δ through trains the same. On its own it is wrong, and the checker's
    /// random upstream gradient (which does not sum to zero) catches it.
    /// </summary>
    [Fact]
    public void MinusMaxWithoutItsCorrectionTermFailsTheLayerCheckThoughASoftmaxLossHidesIt()
    {
        var x = RandomTensors.Distinct(new Rng(8), 3 * 10, 0.1);
        Rejected(GradientChecker.CheckLayer(Built(new SubtractMaxIdentityBackward(), Shape.Vector(10)), x, 3), "input");

        var layer = new SubtractMax<double>();
        layer.Build(Shape.Vector(10));
        layer.Reserve(3);
        var y = new double[30];
        layer.Forward(x, y, 3);
        foreach (Loss<double> loss in new Loss<double>[] { new SoftmaxCrossEntropy<double>(), new SoftmaxSquaredError<double>() })
        {
            var g = new double[30];
            loss.Backward(y, [1, 5, 9], g, 3, 10);
            for (int s = 0; s < 3; s++) Assert.True(Math.Abs(g.Skip(s * 10).Take(10).Sum()) < 1e-15);
            var dx = new double[30];
            layer.Backward(x, y, g, dx, 3);
            for (int i = 0; i < 30; i++) Assert.Equal(g[i], dx[i], 15);
        }
    }
}
