using SharpCnn.Data;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Layers;

public class DropoutTests
{
    /// <summary>With (seed, step) fixed the mask is fixed, so dropout is an ordinary function the checker can test.</summary>
    [Theory]
    [InlineData(0.5, 3, 4, 5, 2)]   // conv maps
    [InlineData(0.2, 2, 3, 3, 3)]
    [InlineData(0.5, 8, 1, 1, 4)]   // dense outputs
    [InlineData(0.9, 7, 1, 1, 2)]
    public void GradientCheckPassesWithAFixedMask(double p, int c, int h, int w, int n)
    {
        var layer = new Dropout<double>(p);
        layer.SetStep(seed: 12, step: 34);
        var report = GradientAssert.Layer(layer, new Shape(c, h, w), n);
        Assert.Equal(n * c * h * w, report.Tensors.Single().Checked);
    }

    [Fact]
    public void MatchesThePlainFormulaWithItsOwnMask()
    {
        var layer = new Dropout<double>(0.3);
        var shape = new Shape(2, 3, 4);
        layer.Build(shape);
        layer.Reserve(3);
        layer.SetStep(5, 6);
        var rng = new Rng(3);
        var x = RandomTensors.Normal(rng, 3 * shape.Size);
        var dy = RandomTensors.Normal(rng, 3 * shape.Size);
        var y = new double[x.Length];
        var dx = new double[x.Length];
        layer.Forward(x, y, 3);
        layer.Backward(x, y, dy, dx, 3);
        int kept = 0;
        for (int i = 0; i < x.Length; i++)
        {
            bool keep = layer.Keeps(i);
            if (keep) kept++;
            Assert.Equal(keep ? x[i] / 0.7 : 0, y[i], 14);
            Assert.Equal(keep ? dy[i] / 0.7 : 0, dx[i], 14);
        }
        Assert.InRange(kept, 1, x.Length - 1);
    }

    [Fact]
    public void TheMaskIsAPureFunctionOfSeedAndStep()
    {
        var layer = new Dropout<float>(0.5);
        layer.Build(Shape.Vector(1000));
        layer.Reserve(2);
        var x = Enumerable.Repeat(1f, 2000).ToArray();
        float[] Draw(ulong seed, long step)
        {
            layer.SetStep(seed, step);
            var y = new float[2000];
            layer.Forward(x, y, 2);
            return y;
        }
        var a = Draw(1, 10);
        Assert.Equal(a, Draw(1, 10));           // same (seed, step): same mask, whatever came between
        Assert.NotEqual(a, Draw(1, 11));        // next step: a new mask
        Assert.NotEqual(a, Draw(2, 10));        // other seed: a new mask
        Draw(9, 99);
        Assert.Equal(a, Draw(1, 10));
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.75)]
    public void KeepsAboutOneMinusPAndPreservesTheMean(double p)
    {
        const int count = 200_000;
        var layer = new Dropout<double>(p);
        layer.Build(Shape.Vector(count));
        layer.Reserve(1);
        layer.SetStep(3, 1);
        var x = Enumerable.Repeat(1.0, count).ToArray();
        var y = new double[count];
        layer.Forward(x, y, 1);
        int kept = y.Count(v => v != 0);
        double sd = Math.Sqrt(count * p * (1 - p));
        Assert.InRange(kept, count * (1 - p) - 5 * sd, count * (1 - p) + 5 * sd);
        Assert.InRange(y.Average(), 1 - 5 * sd / (count * (1 - p)), 1 + 5 * sd / (count * (1 - p)));
    }

    [Fact]
    public void EvaluationModeAndRateZeroAreTheIdentity()
    {
        foreach (var (p, training) in new[] { (0.5, false), (0.0, true) })
        {
            var layer = new Dropout<double>(p) { Training = training };
            layer.Build(new Shape(2, 2, 2));
            layer.Reserve(2);
            var x = RandomTensors.Normal(new Rng(1), 16);
            var y = new double[16];
            var dx = new double[16];
            layer.Forward(x, y, 2);
            Assert.Equal(x, y);
            var dy = RandomTensors.Normal(new Rng(2), 16);
            layer.Backward(x, y, dy, dx, 2);
            Assert.Equal(dy, dx);
        }
    }

    [Fact]
    public void TwoDropoutLayersOfANetworkDrawDifferentMasks()
    {
        var net = ModelSpec.Parse("dropout0.5,dropout0.5").Build<double>(Shape.Vector(64));
        net.Reserve(1);
        net.SetStep(7, 3);
        var first = (Dropout<double>)net.Layers[0];
        var second = (Dropout<double>)net.Layers[1];
        Assert.Equal(3, first.Step);
        Assert.NotEqual(first.Seed, second.Seed);
        Assert.NotEqual(Enumerable.Range(0, 64).Select(i => first.Keeps(i)), Enumerable.Range(0, 64).Select(i => second.Keeps(i)));
    }

    [Fact]
    public void TheTrainerDrawsTheSameMasksOnEveryRun()
    {
        // Two runs from the same weights and seed end with the same weights (bit for bit): the masks
        // came from (seed, step) alone. A run with another seed draws other masks and ends elsewhere.
        var (train, _) = BundledDigits.Load();
        train = train.Take(64);
        float[] Run(ulong seed)
        {
            var net = ModelSpec.Parse("flatten,dense16,relu,dropout0.5,dense10").Build<float>(train.Shape);
            Initializer.Apply(net.Layers, InitScheme.He, new Rng(1));
            new Trainer<float>(net, new TrainingOptions { BatchSize = 8, Epochs = 2, Seed = seed, Shuffle = false, LearningRate = 0.1 }).Fit(train, cancellation: TestContext.Current.CancellationToken);
            return net.Parameters.SelectMany(p => p.Value).ToArray();
        }
        var a = Run(1);
        Assert.Equal(a, Run(1));
        Assert.NotEqual(a, Run(2));
    }

    [Fact]
    public void BadRatesAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(-0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(double.NaN));
    }
}
