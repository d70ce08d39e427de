using SharpCnn.Layers;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

public class BatchNormTests
{
    /// <summary>Training mode: the batch statistics depend on every input, the full backward is checked.</summary>
    [Theory]
    [InlineData(3, 4, 5, 2)]  // conv maps: per channel over N, H, W
    [InlineData(2, 3, 3, 3)]
    [InlineData(1, 1, 7, 2)]
    [InlineData(6, 1, 1, 4)]  // dense outputs: per feature over N
    [InlineData(5, 1, 1, 3)]  // (with N = 2 a feature's x̂ is ±1 whatever x is: the input gradient is O(ε), all roundoff)
    public void GradientCheckPassesInTrainingMode(int c, int h, int w, int n) =>
        GradientAssert.Layer(new BatchNorm<double>(), new Shape(c, h, w), n);

    [Theory]
    [InlineData(3, 4, 5, 2)]
    [InlineData(6, 1, 1, 3)]
    public void GradientCheckPassesInEvaluationMode(int c, int h, int w, int n)
    {
        var layer = new BatchNorm<double>();
        var shape = new Shape(c, h, w);
        layer.Build(shape);
        var rng = new Rng(4);
        var x = RandomTensors.Normal(rng, n * shape.Size);
        layer.Training = false;
        for (int i = 0; i < c; i++)
        {
            layer.RunningMean.Value[i] = 0.3 * rng.NextNormal();
            layer.RunningVariance.Value[i] = 0.5 + rng.NextDouble();
        }
        // GradientAssert randomises γ and β only; the running statistics above stay.
        var report = GradientAssert.Layer(layer, shape, n, x);
        Assert.Equal(["input", "gamma", "beta"], report.Tensors.Select(t => t.Tensor));
    }

    /// <summary>Forward and backward against the formulas written out as plain loops over n, c, h, w.</summary>
    [Theory]
    [InlineData(3, 5, 7, 17, 1)]  // odd maps, a second block of one sample
    [InlineData(3, 5, 7, 17, 2)]
    [InlineData(5, 3, 3, 3, 3)]   // planes shorter than the 16 canonical lanes, an odd channel left over by the pairs
    [InlineData(1, 9, 1, 1, 2)]   // one channel, one sample
    [InlineData(17, 2, 3, 33, 2)] // three blocks: the tree (b0 + b1) + b2; 17 channels
    [InlineData(4, 4, 4, 40, 3)]  // planes of exactly 16; two blocks and a short third
    public void TrainingPassesGiveTheCanonicalBitsOnOddShapes(int c, int h, int w, int n, int threads)
    {
        var shape = new Shape(c, h, w);
        var layer = new BatchNorm<float>(momentum: 0.25);
        layer.Build(shape);
        layer.Reserve(n);
        layer.Training = true;
        var rng = new Rng(7);
        for (int i = 0; i < c; i++)
        {
            layer.Gamma.Value[i] = (float)(1 + 0.3 * rng.NextNormal());
            layer.Beta.Value[i] = (float)(0.3 * rng.NextNormal());
        }
        float[] x = RandomTensors.Normal(rng, n * shape.Size, 2.0).Select(v => (float)(v * Math.Pow(10, (int)(v * 10) % 3) + 1.5)).ToArray();
        float[] dy = RandomTensors.Normal(rng, n * shape.Size).Select(v => (float)v).ToArray();
        float[] y = new float[x.Length], dx = new float[x.Length];
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;
            layer.Forward(x, y, n);
            layer.Backward(x, y, dy, dx, n);
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }

        // The definition (docs/DETERMINISM.md): per block of 16 samples 0 + each plane's canonical reduction in sample
        // order, 0 + BatchTree's tree over the blocks; the element-wise formulas as BatchNorm writes them.
        int hw = h * w, m = n * hw, blocks = BatchTree.Blocks(n);
        float Tree(float[] b, int lo, int hi) => hi - lo == 1 ? b[lo] : Tree(b, lo, lo + BatchTree.SplitOf(hi - lo)) + Tree(b, lo + BatchTree.SplitOf(hi - lo), hi);
        float BatchSum(Func<int, float> plane)
        {
            var b = new float[blocks];
            for (int s = 0; s < n; s++) b[s / BatchTree.BlockSize] += plane(s);
            return 0f + Tree(b, 0, blocks);
        }
        for (int ch = 0; ch < c; ch++)
        {
            ReadOnlySpan<float> Plane(float[] a, int s) => a.AsSpan((s * c + ch) * hw, hw);
            float mu = BatchSum(s => Reductions.SumReference<float>(Plane(x, s))) / m;
            float squares = BatchSum(s => Reductions.SumOfSquaredDeviationsReference<float>(Plane(x, s), mu));
            float inv = 1f / MathF.Sqrt(squares / m + (float)BatchNorm<float>.DefaultEpsilon);
            float gamma = layer.Gamma.Value[ch], a = gamma * inv, beta = layer.Beta.Value[ch];
            float sumDy = BatchSum(s => Reductions.SumReference<float>(Plane(dy, s)));
            float dot = BatchSum(s => Reductions.DotWithDeviationsReference<float>(Plane(dy, s), Plane(x, s), mu));
            float sumDyXhat = dot * inv, k = gamma * inv;
            float p = -k * inv * sumDyXhat / m, q = -k * sumDy / m;
            Assert.Equal(BitConverter.SingleToInt32Bits(0f + sumDy), BitConverter.SingleToInt32Bits(layer.Beta.Gradient[ch]));
            Assert.Equal(BitConverter.SingleToInt32Bits(0f + sumDyXhat), BitConverter.SingleToInt32Bits(layer.Gamma.Gradient[ch]));
            for (int s = 0; s < n; s++)
                for (int i = 0; i < hw; i++)
                {
                    int at = (s * c + ch) * hw + i;
                    float expectedY = ((x[at] - mu) * a) + beta;
                    float expectedDx = (dy[at] * k) + (((x[at] - mu) * p) + q);
                    Assert.True(BitConverter.SingleToInt32Bits(expectedY) == BitConverter.SingleToInt32Bits(y[at]), $"y at channel {ch}, sample {s}, {i}: {expectedY} expected, {y[at]}");
                    Assert.True(BitConverter.SingleToInt32Bits(expectedDx) == BitConverter.SingleToInt32Bits(dx[at]), $"dx at channel {ch}, sample {s}, {i}: {expectedDx} expected, {dx[at]}");
                }
        }
    }

    [Theory]
    [InlineData(3, 2, 3, 4, true)]
    [InlineData(4, 1, 1, 5, true)]
    [InlineData(3, 2, 3, 4, false)]
    public void MatchesAPlainLoopReference(int c, int h, int w, int n, bool training)
    {
        var shape = new Shape(c, h, w);
        var layer = new BatchNorm<double>(momentum: 0.25);
        layer.Build(shape);
        layer.Reserve(n);
        layer.Training = training;
        var rng = new Rng(11);
        for (int i = 0; i < c; i++)
        {
            layer.Gamma.Value[i] = 1 + 0.3 * rng.NextNormal();
            layer.Beta.Value[i] = 0.3 * rng.NextNormal();
            layer.RunningMean.Value[i] = 0.2 * rng.NextNormal();
            layer.RunningVariance.Value[i] = 0.5 + rng.NextDouble();
        }
        var runningMean0 = (double[])layer.RunningMean.Value.Clone();
        var runningVar0 = (double[])layer.RunningVariance.Value.Clone();
        var x = RandomTensors.Normal(rng, n * shape.Size, 2.0);
        for (int i = 0; i < x.Length; i++) x[i] += 1.5; // a mean far from 0
        var dy = RandomTensors.Normal(rng, n * shape.Size);
        var y = new double[x.Length];
        var dx = new double[x.Length];
        layer.Forward(x, y, n);
        layer.Backward(x, y, dy, dx, n);

        int hw = h * w, m = n * hw;
        int At(int s, int ch, int p) => (s * c + ch) * hw + p;
        for (int ch = 0; ch < c; ch++)
        {
            double mu, variance;
            if (training)
            {
                mu = 0;
                for (int s = 0; s < n; s++) for (int p = 0; p < hw; p++) mu += x[At(s, ch, p)];
                mu /= m;
                variance = 0;
                for (int s = 0; s < n; s++) for (int p = 0; p < hw; p++) variance += (x[At(s, ch, p)] - mu) * (x[At(s, ch, p)] - mu);
                variance /= m;
                Assert.Equal(0.75 * runningMean0[ch] + 0.25 * mu, layer.RunningMean.Value[ch], 12);
                Assert.Equal(0.75 * runningVar0[ch] + 0.25 * variance * m / (m - 1), layer.RunningVariance.Value[ch], 12);
            }
            else
            {
                mu = runningMean0[ch];
                variance = runningVar0[ch];
                Assert.Equal(runningMean0[ch], layer.RunningMean.Value[ch]);
                Assert.Equal(runningVar0[ch], layer.RunningVariance.Value[ch]);
            }
            double sigma = Math.Sqrt(variance + BatchNorm<double>.DefaultEpsilon), gamma = layer.Gamma.Value[ch];
            double sumDy = 0, sumDyXhat = 0;
            for (int s = 0; s < n; s++)
                for (int p = 0; p < hw; p++)
                {
                    double xhat = (x[At(s, ch, p)] - mu) / sigma;
                    Assert.Equal(gamma * xhat + layer.Beta.Value[ch], y[At(s, ch, p)], 12);
                    sumDy += dy[At(s, ch, p)];
                    sumDyXhat += dy[At(s, ch, p)] * xhat;
                }
            Assert.Equal(sumDy, layer.Beta.Gradient[ch], 12);
            Assert.Equal(sumDyXhat, layer.Gamma.Gradient[ch], 12);
            for (int s = 0; s < n; s++)
                for (int p = 0; p < hw; p++)
                {
                    double xhat = (x[At(s, ch, p)] - mu) / sigma;
                    double expected = training
                        ? gamma / sigma * (dy[At(s, ch, p)] - sumDy / m - xhat * sumDyXhat / m)
                        : gamma / sigma * dy[At(s, ch, p)];
                    Assert.Equal(expected, dx[At(s, ch, p)], 12);
                }
        }
    }

    [Fact]
    public void HandValuesForTwoSamplesOfOneFeature()
    {
        // x = (1, 3): μ = 2, σ² = 1, x̂ = (-1, 1)/sqrt(1 + ε); γ = 2, β = 0.5.
        var layer = new BatchNorm<double>();
        layer.Build(Shape.Vector(1));
        layer.Reserve(2);
        Initializer.Apply([layer], InitScheme.Normal, new Rng(1));
        layer.Gamma.Value[0] = 2;
        layer.Beta.Value[0] = 0.5;
        var y = new double[2];
        layer.Forward(new double[] { 1, 3 }, y, 2);
        double s = Math.Sqrt(1 + 1e-5);
        Assert.Equal(0.5 - 2 / s, y[0], 14);
        Assert.Equal(0.5 + 2 / s, y[1], 14);
        // Running statistics start at 0 and 1 and move 10 % of the way: mean 0.2, variance 0.9 + 0.1 · 2 (unbiased).
        Assert.Equal(0.2, layer.RunningMean.Value[0], 14);
        Assert.Equal(1.1, layer.RunningVariance.Value[0], 14);
        // A gradient equal on both samples is a shift, which normalisation removes: dx = 0.
        var dx = new double[2];
        layer.Backward(new double[] { 1, 3 }, y, new double[] { 1, 1 }, dx, 2);
        Assert.Equal(0, dx[0], 14);
        Assert.Equal(0, dx[1], 14);
        Assert.Equal(2, layer.Beta.Gradient[0], 14);
        Assert.Equal(0, layer.Gamma.Gradient[0], 14);
    }

    [Fact]
    public void RunningStatisticsAreStateThatNothingTrains()
    {
        var net = ModelSpec.Parse("conv3x3x4,batchnorm,relu,flatten,dense5,bn,dense3").Build<double>(new Shape(1, 6, 6));
        // Trained values: conv 36 + 4, BN γ β 4 + 4, dense 320 + 5, BN γ β 5 + 5, dense 15 + 3; running statistics do not count.
        Assert.Equal(36 + 4 + 8 + 320 + 5 + 10 + 15 + 3, net.ParameterCount);
        foreach (var scheme in Enum.GetValues<InitScheme>())
        {
            Initializer.Apply(net.Layers, scheme, new Rng(2));
            foreach (var bn in net.Layers.OfType<BatchNorm<double>>())
            {
                Assert.All(bn.Gamma.Value, v => Assert.Equal(1, v));
                Assert.All(bn.Beta.Value, v => Assert.Equal(0, v));
                Assert.All(bn.RunningMean.Value, v => Assert.Equal(0, v));
                Assert.All(bn.RunningVariance.Value, v => Assert.Equal(1, v));
            }
        }
        foreach (string name in Optimizers.Names)
        {
            var optimizer = Optimizers.Create<double>(name, net.Parameters, 0.1, weightDecay: 0.5);
            Assert.DoesNotContain(optimizer.Parameters, p => p.Role == ParameterRole.State);
            Assert.Equal(10, optimizer.Parameters.Count); // conv, dense, dense: weight and bias; two BN: γ and β
            // Even a gradient written into a running statistic (nothing does that) is ignored, and so is weight decay.
            var state = net.Layers.OfType<BatchNorm<double>>().First().RunningVariance;
            state.Gradient.AsSpan().Fill(1);
            optimizer.Step();
            Assert.All(state.Value, v => Assert.Equal(1, v));
            Array.Clear(state.Gradient);
        }
    }

    [Fact]
    public void GradientChecksSkipAndRestoreTheRunningStatistics()
    {
        var net = ModelSpec.Parse("conv3x3x2,batchnorm,tanh,flatten,dense4,batchnorm,dense3").Build<double>(new Shape(1, 5, 5));
        var rng = new Rng(8);
        Initializer.Apply(net.Layers, InitScheme.He, rng);
        var state = net.Parameters.Where(p => p.Role == ParameterRole.State).Select(p => (double[])p.Value.Clone()).ToArray();
        var x = RandomTensors.Normal(rng, 3 * 25);
        var report = GradientChecker.CheckModel(net, x, [0, 1, 2], 3);
        GradientAssert.Passes(report);
        Assert.DoesNotContain(report.Tensors, t => t.Tensor.StartsWith("running", StringComparison.Ordinal));
        Assert.Contains(report.Tensors, t => t.Tensor == "gamma");
        Assert.Equal(state, net.Parameters.Where(p => p.Role == ParameterRole.State).Select(p => p.Value));
    }

    [Fact]
    public void EvaluationModeUsesTheRunningStatisticsAndLeavesThemAlone()
    {
        var layer = new BatchNorm<float>();
        layer.Build(new Shape(2, 1, 2));
        layer.Reserve(1);
        Initializer.Apply([layer], InitScheme.Normal, new Rng(1));
        layer.RunningMean.Value[0] = 1;
        layer.RunningMean.Value[1] = -1;
        layer.RunningVariance.Value[0] = 4;
        layer.RunningVariance.Value[1] = 0.25f;
        layer.Training = false;
        var y = new float[4];
        layer.Forward(new float[] { 3, 5, 0, -1 }, y, 1);
        Assert.Equal(new[] { 1f, 2f, 2f, 0f }, y, (a, b) => Math.Abs(a - b) < 1e-4);
        Assert.Equal(new[] { 1f, -1f }, layer.RunningMean.Value);
        Assert.Equal(new[] { 4f, 0.25f }, layer.RunningVariance.Value);
    }

    [Fact]
    public void BadSettingsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<float>(momentum: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<float>(momentum: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<float>(epsilon: 0));
    }
}
