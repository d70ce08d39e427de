using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

[Collection(ThreadCountCollection.Name)]
public sealed class DivergenceGuardTests
{
    /// <summary>Small tensors and an 86,400-weight one, which the max |x| scans cut into ranges for the threads.</summary>
    private const string LargeSpec = "conv3x3x4,relu,flatten,dense600,relu,dense3";

    [Fact]
    public void GradientsAreCheckedAndTheirGlobalNormComputed()
    {
        var net = TrainerResumeAndGuardTests.Network<double>();
        var guard = new DivergenceGuard<double>(net, 1e6);
        var parameters = net.Parameters.ToArray();
        for (int i = 0; i < parameters.Length; i++) parameters[i].Gradient.AsSpan().Fill(i + 1);
        double expected = Math.Sqrt(parameters.Select((p, i) => p.Length * (i + 1.0) * (i + 1.0)).Sum());
        Assert.Null(guard.CheckGradients(7, 1, out double norm));
        Assert.Equal(expected, norm, 1e-12);

        parameters[2].Gradient[5] = 3e6;
        var found = guard.CheckGradients(7, 2, out _)!;
        Assert.Equal("layer 5 'dense3' weight gradient max |x| = 3e+06 (limit 1e+06) at step 7, epoch 2", found.Describe());
        parameters[2].Gradient[5] = double.NegativeInfinity;
        Assert.Equal("layer 5 'dense3' weight gradient max |x| = inf at step 7, epoch 2", guard.CheckGradients(7, 2, out _)!.Describe());
    }

    [Fact]
    public void AFloatSumOfSquaresThatOverflowsIsNotADivergence()
    {
        // 10^20 elements are fine with the limit off, though their squares overflow float.
        var net = TrainerResumeAndGuardTests.Network<float>();
        var guard = new DivergenceGuard<float>(net, 0);
        foreach (var p in net.Parameters) p.Gradient.AsSpan().Fill(1e20f);
        Assert.Null(guard.CheckGradients(1, 1, out double norm));
        Assert.Equal(1.0, norm / ((double)1e20f * Math.Sqrt(net.Parameters.Sum(p => (double)p.Length))), 1e-12);
    }

    [Fact]
    public void ClippingScalesTheGlobalNormDownToTheLimitAndNeverUp()
    {
        var net = TrainerResumeAndGuardTests.Network<double>();
        var guard = new DivergenceGuard<double>(net, 1e6);
        var rng = new Rng(3);
        foreach (var p in net.Parameters)
            for (int i = 0; i < p.Length; i++) p.Gradient[i] = rng.NextNormal();
        guard.CheckGradients(1, 1, out double norm);
        Assert.False(guard.Clip(norm, norm * 2));
        Assert.True(guard.Clip(norm, 0.5));
        guard.CheckGradients(1, 1, out double clipped);
        Assert.Equal(0.5, clipped, 1e-12);
    }

    [Fact]
    public void LossAndParametersAreChecked()
    {
        var net = TrainerResumeAndGuardTests.Network<float>();
        var guard = new DivergenceGuard<float>(net, 1e6);
        Assert.Null(guard.CheckLoss(2.3, 1, 1));
        Assert.Equal("loss is NaN at step 3, epoch 1", guard.CheckLoss(double.NaN, 3, 1)!.Describe());
        Assert.Equal("loss = 2.5e+07 (limit 1e+06) at step 3, epoch 1", guard.CheckLoss(2.5e7, 3, 1)!.Describe());
        Assert.Null(guard.CheckParameters(3, 1));
        net.Layers[0].Parameters[1].Value[1] = -2e9f;
        Assert.Equal("layer 1 'conv3x3x4' bias max |x| = 2e+09 (limit 1e+06) at step 3, epoch 1", guard.CheckParameters(3, 1)!.Describe());
    }

    [Theory]
    [InlineData(1e6)]
    [InlineData(0)]
    [InlineData(1e3)]
    [InlineData(0.5)]
    [InlineData(1e-30)]
    public void WithoutTheNormTheVerdictIsTheOneTheNormGives(double limit)
    {
        // Gradients from 1e-3 to 1e8 in size, some with a NaN, an infinity or a value a hair either side of the
        // limit, some with many values just under it (whose norm is over it): both checks must say the same,
        // also where a sum of squares rounded down lets a value one step over the limit pass.
        var net = TrainerResumeAndGuardTests.Network<float>(spec: LargeSpec);
        var guard = new DivergenceGuard<float>(net, limit);
        var parameters = net.Parameters.ToArray();
        var rng = new Rng(11);
        int diverged = 0;
        for (int trial = 0; trial < 120; trial++)
        {
            double scale = Math.Pow(10, -3 + 11 * rng.NextDouble());
            foreach (var p in parameters)
                for (int i = 0; i < p.Length; i++) p.Gradient[i] = (float)(scale * rng.NextNormal());
            var target = parameters[rng.NextInt(parameters.Length)].Gradient;
            int at = rng.NextInt(target.Length);
            double edge = guard.Limit == double.PositiveInfinity ? 3e38 : guard.Limit;
            switch (trial % 6)
            {
                case 0: target[at] = float.NaN; break;
                case 1: target[at] = float.NegativeInfinity; break;
                case 2: target[at] = MathF.BitIncrement((float)edge); break;
                case 3: target[at] = MathF.BitDecrement((float)edge); break;
                case 4: target.AsSpan().Fill(MathF.BitDecrement((float)edge)); break;
            }
            string? withNorm = guard.CheckGradients(1, 1, out _)?.Describe();
            string? without = guard.CheckGradients(1, 1)?.Describe();
            Assert.Equal(withNorm, without);
            if (withNorm is not null) diverged++;
        }
        // Both verdicts were tested (a limit below every gradient passes none).
        Assert.InRange(diverged, 40, limit is 0 or >= 1 ? 110 : 120);
    }

    [Fact]
    public void LargeTensorsAreScannedTheSameOnAnyThreadCount()
    {
        var net = TrainerResumeAndGuardTests.Network<float>(spec: LargeSpec);
        var guard = new DivergenceGuard<float>(net, 1e6);
        var weights = net.Layers[3].Parameters[0];
        string?[] Scan(int at, float value)
        {
            weights.Value[at] = value;
            weights.Gradient.AsSpan().Clear();
            weights.Gradient[at] = value;
            var found = new string?[3];
            for (int threads = 1; threads <= 3; threads++)
            {
                using var scope = new ThreadCountScope(threads);
                found[threads - 1] = guard.CheckParameters(4, 2)?.Describe() + " / " + guard.CheckGradients(4, 2)?.Describe();
            }
            weights.Value[at] = 0;
            return found;
        }
        foreach (int at in new[] { 0, 43_199, 43_200, weights.Length - 1 })
        {
            Assert.All(Scan(at, -3e6f), d => Assert.Equal("layer 4 'dense600' weight max |x| = 3e+06 (limit 1e+06) at step 4, epoch 2 / layer 4 'dense600' weight gradient max |x| = 3e+06 (limit 1e+06) at step 4, epoch 2", d));
            Assert.All(Scan(at, float.NaN), d => Assert.Equal("layer 4 'dense600' weight contains NaN at step 4, epoch 2 / layer 4 'dense600' weight gradient contains NaN at step 4, epoch 2", d));
        }
    }
}
