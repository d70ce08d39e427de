using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

public class InitializerTests
{
    private static Conv2d<double> Conv(int cin = 16, bool[,]? table = null)
    {
        var conv = new Conv2d<double>(table?.GetLength(0) ?? 64, 5, 5, connectionTable: table);
        conv.Build(new Shape(cin, 12, 12));
        return conv;
    }

    private static (double Mean, double Std) Stats(ReadOnlySpan<double> v)
    {
        double mean = 0;
        foreach (double x in v) mean += x;
        mean /= v.Length;
        double var = 0;
        foreach (double x in v) var += (x - mean) * (x - mean);
        return (mean, Math.Sqrt(var / v.Length));
    }

    [Theory]
    [InlineData(InitScheme.Uniform)]
    [InlineData(InitScheme.Normal)]
    [InlineData(InitScheme.Xavier)]
    [InlineData(InitScheme.He)]
    [InlineData(InitScheme.LeCun)]
    public void TheSameSeedGivesTheSameWeightsAndAnotherSeedOthers(InitScheme scheme)
    {
        var a = Conv();
        var b = Conv();
        var c = Conv();
        Initializer.Apply([a], scheme, new Rng(3));
        Initializer.Apply([b], scheme, new Rng(3));
        Initializer.Apply([c], scheme, new Rng(4));
        Assert.Equal(a.Weight.Value, b.Weight.Value);
        Assert.NotEqual(a.Weight.Value, c.Weight.Value);
    }

    [Fact]
    public void UniformIsTheSeedsRandInZeroToOneForWeightsAndBiases()
    {
        var conv = Conv();
        Initializer.Apply([conv], InitScheme.Uniform, new Rng(1));
        Assert.All(conv.Weight.Value, v => Assert.InRange(v, 0.0, 1.0 - 1e-12));
        Assert.All(conv.Bias.Value, v => Assert.InRange(v, 0.0, 1.0 - 1e-12));
        var (mean, std) = Stats(conv.Weight.Value);
        Assert.Equal(0.5, mean, 1);
        Assert.Equal(Math.Sqrt(1.0 / 12), std, 1);
    }

    [Fact]
    public void NormalIsTheSeedsFixNormalZeroPointOneWithBiasZeroPointOne()
    {
        var conv = Conv();
        Initializer.Apply([conv], InitScheme.Normal, new Rng(1));
        var (mean, std) = Stats(conv.Weight.Value); // 25,600 draws
        Assert.InRange(mean, -0.003, 0.003);
        Assert.InRange(std, 0.098, 0.102);
        Assert.All(conv.Bias.Value, v => Assert.Equal(0.1, v));
    }

    [Theory]
    [InlineData(InitScheme.He, 2.0)]
    [InlineData(InitScheme.LeCun, 1.0)]
    public void HeAndLeCunScaleByTheFanIn(InitScheme scheme, double gain)
    {
        var conv = Conv(cin: 16); // fan-in 16 * 25 = 400
        Initializer.Apply([conv], scheme, new Rng(1));
        var (_, std) = Stats(conv.Weight.Value);
        Assert.Equal(Math.Sqrt(gain / 400), std, 3);
        Assert.All(conv.Bias.Value, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void XavierIsUniformWithinTheGlorotBound()
    {
        var conv = Conv(cin: 16); // fan-in 400, fan-out 64 * 25 = 1600
        Initializer.Apply([conv], InitScheme.Xavier, new Rng(1));
        double bound = Math.Sqrt(6.0 / (400 + 1600));
        Assert.All(conv.Weight.Value, v => Assert.InRange(v, -bound, bound));
        Assert.True(conv.Weight.Value.Max() > 0.95 * bound && conv.Weight.Value.Min() < -0.95 * bound);
    }

    [Fact]
    public void UnconnectedWeightsOfAConnectionTableStayZeroAndFanInCountsOnlyConnections()
    {
        var conv = Conv(cin: 6, table: ConnectionTables.LeNet5C3());
        Initializer.Apply([conv], InitScheme.LeCun, new Rng(1));
        for (int i = 0; i < conv.Weight.Length; i++)
        {
            if (conv.Weight.Mask![i]) Assert.NotEqual(0.0, conv.Weight.Value[i]);
            else Assert.Equal(0.0, conv.Weight.Value[i]);
        }
        Assert.Equal(60 / 16 * 25, conv.Weight.FanIn); // LeNet C3: 60 connections over 16 maps
    }

    [Fact]
    public void NamesParseAndUnknownOnesSayWhatIsKnown()
    {
        Assert.Equal(InitScheme.Uniform, Initializer.Parse("rand"));
        Assert.Equal(InitScheme.Xavier, Initializer.Parse("Glorot"));
        var e = Assert.Throws<ArgumentException>(() => Initializer.Parse("orthogonal"));
        Assert.Contains("uniform, normal, xavier, he, lecun", e.Message);
    }
}
