using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;
using SharpCnn.Tests.Kernels;

namespace SharpCnn.Tests.Layers;

/// <summary>
/// Conv2d&lt;float&gt;'s Winograd forward pass and input gradient (docs/MATH.md, "Winograd convolution in training"): bit for bit
/// against WinogradReference (the forward's filters, and for ∂x the flipped, transposed filters over δ padded by r − 1 − pad),
/// within the stated tolerance of ConvolutionReference, on odd shapes (odd heights and widths, channel counts that are not a
/// multiple of any vector width, batches of 1, 3 and 17, same, valid and uneven padding); the same bits on 1, 2 and 3 threads;
/// nothing allocated per step; a float finite-difference check of ∂x. CI reruns this class on each narrower SIMD width.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class Conv2dWinogradTests
{
    public static TheoryData<int, int, int, int, int, string, int> Shapes => new()
    {
        { 32, 14, 14, 64, 5, "same", 3 },
        { 17, 7, 9, 19, 5, "same", 17 },
        { 16, 11, 13, 17, 3, "same", 1 },
        { 19, 9, 8, 33, 5, "valid", 3 },
        { 21, 8, 7, 16, 3, "valid", 1 },
        { 18, 10, 7, 23, 5, "p1-2-0-3", 3 },
        { 16, 5, 6, 20, 3, "p1", 17 },
    };

    private static Conv2d<float> Layer(int cin, int h, int w, int cout, int r, string padding, int n, int seed, out float[] x, out float[] dy)
    {
        var spec = (ConvSpec)ConvKind.Instance.Parse(new LayerToken($"conv{r}x{r}x{cout}:{padding}", 1))!;
        var layer = (Conv2d<float>)spec.Create<float>();
        layer.Build(new Shape(cin, h, w));
        layer.Reserve(n);
        var rng = new Random(seed);
        for (int i = 0; i < layer.Weight.Length; i++) layer.Weight.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < cout; i++) layer.Bias.Value[i] = (float)(rng.NextDouble() * 2 - 1);
        x = new float[n * cin * h * w];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        dy = new float[n * layer.OutputShape.Size];
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(rng.NextDouble() * 2 - 1);
        return layer;
    }

    /// <summary>w'[c, o, i, j] = w[o, c, r−1−i, r−1−j]: the filters of the input gradient's convolution.</summary>
    private static float[] Flipped(float[] w, int cout, int cin, int r)
    {
        var f = new float[w.Length];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int i = 0; i < r; i++)
                    for (int j = 0; j < r; j++)
                        f[((c * cout + o) * r + i) * r + j] = w[((o * cin + c) * r + r - 1 - i) * r + r - 1 - j];
        return f;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndInputGradientGiveWinogradReferencesBitsAndStayWithinTheTolerance(int cin, int h, int w, int cout, int r, string padding, int n)
    {
        var layer = Layer(cin, h, w, cout, r, padding, n, cin * 100 + cout, out var x, out var dy);
        Assert.True(layer.ForwardUsesWinograd);
        Assert.True(layer.InputGradientUsesWinograd);
        var (top, bottom, left, right) = layer.ResolvedPadding;
        int ho = layer.OutputShape.Height, wo = layer.OutputShape.Width;
        var y = new float[dy.Length];
        var dx = new float[x.Length];
        layer.Forward(x, y, n);
        layer.Backward(x, y, dy, dx, n);

        // Forward: WinogradReference's sums, plus the bias once.
        var expected = new float[y.Length];
        WinogradReference.Forward<float>(x, layer.Weight.Value, expected, n, cin, h, w, cout, r, top, left, ho, wo);
        for (int i = 0; i < expected.Length; i++) expected[i] += layer.Bias.Value[i / (ho * wo) % cout];
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(y.AsSpan())), "the forward pass differs from WinogradReference");

        // ∂x: δ convolved with the flipped, transposed filters, padded by r − 1 − pad.
        var expectedDx = new float[dx.Length];
        WinogradReference.Forward<float>(dy, Flipped(layer.Weight.Value, cout, cin, r), expectedDx, n, cout, ho, wo, cin, r, r - 1 - top, r - 1 - left, h, w);
        Assert.True(MemoryMarshal.AsBytes(expectedDx.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(dx.AsSpan())), "the input gradient differs from WinogradReference");

        // Within docs/MATH.md's bound of the plain loops in double: |error| ≤ 1e-5 · the largest Σ|w·x| (or Σ|δ·w|) in the same tile.
        var xd = x.Select(v => (double)v).ToArray();
        var wd = layer.Weight.Value.Select(v => (double)v).ToArray();
        var dyd = dy.Select(v => (double)v).ToArray();
        var yRef = new double[y.Length];
        var magnitude = new double[y.Length];
        ConvolutionReference.Forward(xd, wd, layer.Bias.Value.Select(v => (double)v).ToArray(), yRef, n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        ConvolutionReference.Forward(xd.Select(Math.Abs).ToArray(), wd.Select(Math.Abs).ToArray(), layer.Bias.Value.Select(v => (double)Math.Abs(v)).ToArray(),
            magnitude, n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        AssertWithinTileBound(y, yRef, magnitude, ho, wo, 7 - r, "y");

        var dxRef = new double[x.Length];
        var dxMagnitude = new double[x.Length];
        ConvolutionReference.Backward(xd, wd, dyd, dxRef, new double[wd.Length], new double[cout], n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        ConvolutionReference.Backward(xd, wd.Select(Math.Abs).ToArray(), dyd.Select(Math.Abs).ToArray(), dxMagnitude, new double[wd.Length], new double[cout],
            n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        AssertWithinTileBound(dx, dxRef, dxMagnitude, h, w, 7 - r, "∂x");
    }

    /// <summary>Float ∂w: |∂w − ∂w_ref| ≤ this · Σ_{s,u,v} |δ[o, u, v]·x[c, u + i, v + j]| of the weight (docs/MATH.md, "Winograd convolution in training").</summary>
    public const double WeightGradientTolerance = 2e-5;

    [Theory]
    [MemberData(nameof(Shapes))]
    [InlineData(32, 28, 28, 32, 5, "same", 2)]
    [InlineData(16, 29, 30, 20, 3, "same", 1)]
    [InlineData(28, 9, 10, 24, 5, "same", 2)]
    public void WeightGradientGivesWinogradReferencesBitsAndStaysWithinTheTolerance(int cin, int h, int w, int cout, int r, string padding, int batch)
    {
        // Batches of 1 to 3 become 5 to 7: a chunk of fewer than Conv2d.WinogradGradientSamples keeps im2col + GEMM (17 = 16 + 1 has one of each).
        int n = batch < Conv2d<float>.WinogradGradientSamples ? batch + 4 : batch, seed = cin * 7 + cout;
        var layer = Layer(cin, h, w, cout, r, padding, n, seed, out var x, out var dy);
        Assert.True(layer.WeightGradientUsesWinograd);
        var (top, _, left, _) = layer.ResolvedPadding;
        int ho = layer.OutputShape.Height, wo = layer.OutputShape.Width, taps = r * r;
        var y = new float[dy.Length];
        layer.Forward(x, y, n);
        layer.Backward(x, y, dy, new float[x.Length], n);

        // WinogradReference per chunk of Conv2d.GradientChunk samples (a short chunk: im2col + GEMM's bits, from the layer on that chunk
        // alone), the chunks combined by BatchTree's tree, as the layer does.
        var conv = new WinogradConvolution<float>(cin, h, w, cout, r, top, layer.ResolvedPadding.Bottom, left, layer.ResolvedPadding.Right, WinogradConvolution<float>.DefaultBlock);
        int chunks = (n + Conv2d<float>.GradientChunk - 1) / Conv2d<float>.GradientChunk, length = layer.Weight.Length;
        var partials = new float[chunks * length];
        for (int k = 0; k < chunks; k++)
        {
            int first = k * Conv2d<float>.GradientChunk, count = Math.Min(n, first + Conv2d<float>.GradientChunk) - first;
            var xs = x.AsSpan(first * cin * h * w, count * cin * h * w);
            var dys = dy.AsSpan(first * cout * ho * wo, count * cout * ho * wo);
            if (count >= Conv2d<float>.WinogradGradientSamples)
            {
                WinogradReference.WeightGradient<float>(xs, dys, partials.AsSpan(k * length, length), count, cin, h, w, cout, r, top, left, ho, wo,
                    conv.GradientChunkTileRows, accumulate: true);
                continue;
            }
            var alone = Layer(cin, h, w, cout, r, padding, count, seed, out _, out _);
            alone.Forward(xs, new float[dys.Length], count);
            alone.Backward(xs, new float[dys.Length], dys, new float[xs.Length], count);
            alone.Weight.Gradient.CopyTo(partials.AsSpan(k * length, length));
        }
        var expected = new float[length];
        if (chunks == 1) partials.AsSpan(0, length).CopyTo(expected);
        else BatchTree.Combine<float>(null, partials, length, chunks, expected);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(layer.Weight.Gradient.AsSpan())), "∂w differs from WinogradReference");

        // Within the bound of the plain loops in double: the error of each weight's gradient against Σ|δ·x| of its sum.
        var xd = x.Select(v => (double)v).ToArray();
        var dyd = dy.Select(v => (double)v).ToArray();
        var wd = layer.Weight.Value.Select(v => (double)v).ToArray();
        var dwRef = new double[length];
        var dwMagnitude = new double[length];
        ConvolutionReference.Backward(xd, wd, dyd, new double[x.Length], dwRef, new double[cout], n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        ConvolutionReference.Backward(xd.Select(Math.Abs).ToArray(), wd, dyd.Select(Math.Abs).ToArray(), new double[x.Length], dwMagnitude, new double[cout],
            n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        double worst = 0;
        for (int i = 0; i < length; i++)
        {
            double error = Math.Abs(dwRef[i] - layer.Weight.Gradient[i]);
            worst = Math.Max(worst, error / dwMagnitude[i]);
            Assert.True(error <= WeightGradientTolerance * dwMagnitude[i],
                $"∂w[{i / taps / cin}, {i / taps % cin}, {i % taps / r}, {i % r}]: {layer.Weight.Gradient[i]} vs reference {dwRef[i]} (Σ|δ·x| = {dwMagnitude[i]})");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"∂w: largest |error| / Σ|δ·x| = {worst:e2}");

        // ∂b is the plain sum of δ per output map.
        var dbRef = new double[cout];
        ConvolutionReference.Backward(xd, wd, dyd, new double[x.Length], new double[length], dbRef, n, cin, h, w, cout, r, r, 1, top, left, ho, wo);
        for (int o = 0; o < cout; o++) Assert.True(Math.Abs(dbRef[o] - layer.Bias.Gradient[o]) <= 1e-5 * n * ho * wo, $"∂b[{o}]");
    }

    private static void AssertWithinTileBound(float[] actual, double[] reference, double[] magnitude, int ho, int wo, int m, string what)
    {
        double worst = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            int j = i % wo, u = i / wo % ho, plane = i / (ho * wo);
            double bound = 0;
            for (int p = u / m * m; p < Math.Min(ho, u / m * m + m); p++)
                for (int q = j / m * m; q < Math.Min(wo, j / m * m + m); q++) bound = Math.Max(bound, magnitude[(plane * ho + p) * wo + q]);
            double error = Math.Abs(reference[i] - actual[i]);
            worst = Math.Max(worst, error / Math.Max(bound, double.Epsilon));
            Assert.True(error <= WinogradConvolutionTests.FloatTolerance * bound, $"{what}[{i}]: {actual[i]} vs reference {reference[i]} (largest Σ|w·x| in its tile = {bound})");
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{what}: largest |error| / Σ|w·x| = {worst:e2}");
    }

    [Theory]
    [InlineData(32, 14, 14, 64, 5, "same", 1)]
    [InlineData(32, 14, 14, 64, 5, "same", 3)]
    [InlineData(17, 9, 11, 19, 3, "valid", 5)]
    [InlineData(20, 7, 7, 24, 5, "same", 2)]
    [InlineData(32, 14, 14, 64, 5, "same", 20)]
    [InlineData(24, 9, 10, 40, 3, "same", 6)]
    public void OneTwoAndThreeThreadsGiveTheSameBits(int cin, int h, int w, int cout, int r, string padding, int n)
    {
        float[]? y1 = null, dx1 = null, dw1 = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            var layer = Layer(cin, h, w, cout, r, padding, n, 5, out var x, out var dy);
            var y = new float[dy.Length];
            var dx = new float[x.Length];
            layer.Forward(x, y, n);
            layer.Backward(x, y, dy, dx, n);
            if (y1 is null)
            {
                (y1, dx1, dw1) = (y, dx, layer.Weight.Gradient.ToArray());
                continue;
            }
            Assert.True(MemoryMarshal.AsBytes(y1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(y.AsSpan())), $"y differs on {threads} threads");
            Assert.True(MemoryMarshal.AsBytes(dx1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(dx.AsSpan())), $"∂x differs on {threads} threads");
            Assert.True(MemoryMarshal.AsBytes(dw1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(layer.Weight.Gradient.AsSpan())), $"∂w differs on {threads} threads");
        }
    }

    [Fact]
    public void TheRuleTakesFloatFiveByFiveAndThreeByThreeStrideOneWithSixteenChannelsAndNoTable()
    {
        static Conv2d<T> Built<T>(string token, int cin, int h = 12, int w = 12) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var layer = (Conv2d<T>)ConvKind.Instance.Parse(new LayerToken(token, 1))!.Create<T>();
            layer.Build(new Shape(cin, h, w));
            return layer;
        }
        Assert.True(Built<float>("conv5x5x64:same", 32).ForwardUsesWinograd);
        Assert.True(Built<float>("conv3x3x8:same", 16).ForwardUsesWinograd);
        Assert.False(Built<float>("conv3x3x8:same", 16).InputGradientUsesWinograd); // δ has 8 channels
        Assert.False(Built<float>("conv3x3x32:same", 15).ForwardUsesWinograd);
        Assert.True(Built<float>("conv3x3x32:same", 15).InputGradientUsesWinograd);
        Assert.False(Built<double>("conv5x5x64:same", 32).ForwardUsesWinograd);
        Assert.False(Built<double>("conv5x5x64:same", 32).InputGradientUsesWinograd);
        Assert.False(Built<float>("conv5x5x64:same:s2", 32).ForwardUsesWinograd);
        Assert.False(Built<float>("conv5x5x64:same:s2", 32).InputGradientUsesWinograd);
        Assert.False(Built<float>("conv5x3x64:same", 32).ForwardUsesWinograd);
        Assert.False(Built<float>("conv5x5x64:valid", 32, 7, 7).ForwardUsesWinograd); // a 3x3 output
        Assert.True(Built<float>("conv5x5x64:valid", 32, 8, 8).ForwardUsesWinograd);
        // 'full' pads r − 1 on each side: ∂x's convolution then has no padding; more than r − 1 would need a negative one.
        Assert.True(Built<float>("conv3x3x32:full", 32).InputGradientUsesWinograd);
        Assert.False(Built<float>("conv3x3x32:p3", 32).InputGradientUsesWinograd);
        Assert.True(Built<float>("conv3x3x32:p3", 32).ForwardUsesWinograd);
        var table = new bool[16, 16];
        for (int o = 0; o < 16; o++) table[o, o] = true;
        var tabled = new Conv2d<float>(16, 3, 3, 1, Padding.Same, table);
        tabled.Build(new Shape(16, 8, 8));
        Assert.False(tabled.ForwardUsesWinograd);
        Assert.False(tabled.InputGradientUsesWinograd);
    }

    [Fact]
    public void TrainingFlopsCountWinogradsProductsWhereItRunsAndTheDefinitionElsewhere()
    {
        // conv 5x5, 32 -> 64 maps on 14x14, 'same': the definition counts 2 · (64 · 32 · 25) · 196 per pass; F(2x2, 5x5)
        // covers the 14x14 output with 7 x 7 tiles of 6 x 6 frequencies: 2 · 36 · 32 · 64 · 49 for the forward pass and the
        // same for ∂x (64 maps of δ to 32) and for ∂W (per tile and frequency, 64 x 32 products of Δ̂ and V).
        static Conv2d<T> Built<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var layer = (Conv2d<T>)ConvKind.Instance.Parse(new LayerToken("conv5x5x64:same", 1))!.Create<T>();
            layer.Build(new Shape(32, 14, 14));
            return layer;
        }
        const long direct = 20_070_400, winograd = 7_225_344;
        var single = Built<float>();
        Assert.Equal(direct, single.ForwardFlops);
        Assert.Equal(3 * winograd, single.TrainingFlops(withInputGradient: true));
        Assert.Equal(2 * winograd, single.TrainingFlops(withInputGradient: false));
        var twice = Built<double>();
        Assert.Equal(direct, twice.ForwardFlops);
        Assert.Equal(3 * direct, twice.TrainingFlops(withInputGradient: true));
        Assert.Equal(2 * direct, twice.TrainingFlops(withInputGradient: false));

        // A network sums its layers' counts without the first layer's input gradient: in double (no Winograd) that is the
        // old 3 x forward less the first layer's forward; in float the seed CNN's second convolution runs Winograd.
        const string seed = "conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10";
        var inDouble = SharpCnn.Model.ModelFactory.FromSpec<double>(seed, new Shape(1, 28, 28));
        Assert.Equal(3 * inDouble.ForwardFlops - inDouble.Layers[0].ForwardFlops, inDouble.TrainingFlops);
        var inFloat = SharpCnn.Model.ModelFactory.FromSpec<float>(seed, new Shape(1, 28, 28));
        Assert.Equal(3 * inFloat.ForwardFlops - inFloat.Layers[0].ForwardFlops - 3 * (direct - winograd), inFloat.TrainingFlops);
    }

    [Fact]
    public void AForwardAndBackwardStepAllocatesNothingAfterWarmUp()
    {
        // One thread: every partition runs here, so this thread's count sees all of them (the pool's threads only ever
        // grow the same thread scratch, once).
        using var scope = new ThreadCountScope(1);
        const int n = 3;
        var layer = Layer(32, 14, 14, 64, 5, "same", n, 9, out var x, out var dy);
        var y = new float[dy.Length];
        var dx = new float[x.Length];
        void Step()
        {
            layer.Weight.Value[0] += 1e-3f; // new weights every step, as in training: both packs run
            Array.Clear(layer.Weight.Gradient);
            Array.Clear(layer.Bias.Gradient);
            layer.Forward(x, y, n);
            layer.Backward(x, y, dy, dx, n);
        }
        Step();
        Step();
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) Step();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    /// <summary>
    /// A float gradient check of a qualifying layer: with L = Σ g·y, the central difference of L over an input (the forward is
    /// linear, so only rounding separates it from the derivative) agrees with the Winograd ∂x.
    /// </summary>
    [Fact]
    public void TheInputGradientPassesAFloatFiniteDifferenceCheck()
    {
        const int n = 2;
        var layer = Layer(16, 9, 10, 18, 5, "same", n, 21, out var x, out var g);
        Assert.True(layer.InputGradientUsesWinograd);
        var y = new float[g.Length];
        var dx = new float[x.Length];
        layer.Forward(x, y, n);
        layer.Backward(x, y, g, dx, n);
        double Loss()
        {
            layer.Forward(x, y, n);
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)g[i] * y[i];
            return sum;
        }
        double largest = dx.Max(v => Math.Abs((double)v));
        var rng = new Random(4);
        for (int k = 0; k < 40; k++)
        {
            int i = rng.Next(x.Length);
            float saved = x[i];
            const float h = 0.25f;
            x[i] = saved + h;
            double plus = Loss();
            x[i] = saved - h;
            double minus = Loss();
            x[i] = saved;
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(numeric - dx[i]) <= 1e-3 * largest, $"∂x[{i}]: analytic {dx[i]}, numeric {numeric}");
        }
    }
}
