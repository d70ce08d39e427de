using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Optim;

/// <summary>Each optimiser's update, step by step, against the textbook formula written out in plain double loops.</summary>
public class OptimizerTests
{
    private static Parameter<double> Param(double[] values, ParameterRole role = ParameterRole.Weight, bool[]? mask = null)
    {
        var p = new Parameter<double>("weight", [values.Length], role, mask);
        values.CopyTo(p.Value, 0);
        return p;
    }

    private static readonly double[] W0 = [0.5, -1.25, 2.0, 0.0, 3.5];
    private static readonly double[][] Grads = [[0.1, -0.2, 0.3, 1.0, -4.0], [-0.5, 0.25, 0.0, 2.0, 1.5], [0.3, 0.3, -0.3, -1.0, 0.01]];

    [Fact]
    public void SgdSubtractsTheLearningRateTimesTheGradient()
    {
        var p = Param(W0);
        var sgd = new Sgd<double>([p], 0.05);
        double[] w = (double[])W0.Clone();
        foreach (var g in Grads)
        {
            g.CopyTo(p.Gradient, 0);
            sgd.Step();
            for (int i = 0; i < w.Length; i++) w[i] -= 0.05 * g[i];
        }
        Assert.Equal(w, p.Value);
        Assert.Equal(3, sgd.StepCount);
    }

    [Fact]
    public void MomentumKeepsAVelocity()
    {
        var p = Param(W0);
        var opt = new Momentum<double>([p], 0.1, 0.9);
        double[] w = (double[])W0.Clone(), v = new double[w.Length];
        foreach (var g in Grads)
        {
            g.CopyTo(p.Gradient, 0);
            opt.Step();
            for (int i = 0; i < w.Length; i++)
            {
                v[i] = 0.9 * v[i] + g[i];
                w[i] -= 0.1 * v[i];
            }
        }
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i], p.Value[i], 14);
        Assert.Equal(v, opt.State[0]);
    }

    [Fact]
    public void AdamMatchesTheBiasCorrectedTextbookUpdate()
    {
        var p = Param(W0);
        var opt = new Adam<double>([p], 0.01);
        double[] w = (double[])W0.Clone(), m = new double[w.Length], v = new double[w.Length];
        int t = 0;
        foreach (var g in Grads)
        {
            g.CopyTo(p.Gradient, 0);
            opt.Step();
            t++;
            for (int i = 0; i < w.Length; i++)
            {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                double mHat = m[i] / (1 - Math.Pow(0.9, t)), vHat = v[i] / (1 - Math.Pow(0.999, t));
                w[i] -= 0.01 * mHat / (Math.Sqrt(vHat) + 1e-8);
            }
        }
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i], p.Value[i], 12);
        // The first step moves every weight with a non-zero gradient by about the learning rate.
        var fresh = Param(W0);
        var first = new Adam<double>([fresh], 0.01);
        Grads[0].CopyTo(fresh.Gradient, 0);
        first.Step();
        for (int i = 0; i < w.Length; i++) Assert.Equal(0.01, Math.Abs(fresh.Value[i] - W0[i]), 6);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("momentum")]
    [InlineData("adam")]
    public void WeightDecayPullsWeightsButNotBiases(string name)
    {
        var weight = Param([1.0, -2.0]);
        var bias = Param([1.0, -2.0], ParameterRole.Bias);
        var opt = Optimizers.Create<double>(name, [weight, bias], 0.1, weightDecay: 0.5);
        opt.Step(); // zero gradients: only the decay acts
        Assert.True(Math.Abs(weight.Value[0]) < 1 && Math.Abs(weight.Value[1]) < 2, $"{weight.Value[0]}, {weight.Value[1]}");
        Assert.Equal([1.0, -2.0], bias.Value);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("momentum")]
    [InlineData("adam")]
    public void FloatFollowsDoubleClosely(string name)
    {
        var pd = Param(W0);
        var pf = new Parameter<float>("weight", [W0.Length], ParameterRole.Weight);
        for (int i = 0; i < W0.Length; i++) pf.Value[i] = (float)W0[i];
        var od = Optimizers.Create<double>(name, [pd], 0.01);
        var of = Optimizers.Create<float>(name, [pf], 0.01);
        foreach (var g in Grads)
        {
            g.CopyTo(pd.Gradient, 0);
            for (int i = 0; i < g.Length; i++) pf.Gradient[i] = (float)g[i];
            od.Step();
            of.Step();
        }
        for (int i = 0; i < W0.Length; i++) Assert.Equal(pd.Value[i], pf.Value[i], 5);
    }

    [Fact]
    public void BadSettingsAreRejectedWithTheReason()
    {
        var p = Param(W0);
        Assert.Contains("learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd<double>([p], 0)).Message);
        Assert.Contains("learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd<double>([p], double.NaN)).Message);
        Assert.Contains("momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new Momentum<double>([p], 0.1, 1.0)).Message);
        var e = Assert.Throws<ArgumentException>(() => Optimizers.Create<double>("rmsprop", [p], 0.1));
        Assert.Contains("sgd, momentum, adam", e.Message);
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(0.999)]
    public void AdamsBiasCorrectionPowersAreWithinTwoUlpOfMathPow(double beta)
    {
        // β^t by double-double repeated squaring (the same bits everywhere) stays within 2 ulp of the C library's pow.
        foreach (long t in new long[] { 0, 1, 2, 3, 7, 100, 1234, 14070, 1_000_000 })
        {
            double exact = Math.Pow(beta, t), power = Adam<double>.Power(beta, t);
            double ulp = Math.BitIncrement(exact) - exact;
            Assert.True(Math.Abs(power - exact) <= 2 * ulp, $"{beta}^{t}: {power} vs {exact}");
        }
        Assert.Equal(1.0, Adam<double>.Power(beta, 0));
        Assert.Equal(beta, Adam<double>.Power(beta, 1));
    }
}
