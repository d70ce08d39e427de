using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

public sealed class DivergenceGuardTests
{
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
        var rng = new Tensors.Rng(3);
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
}
