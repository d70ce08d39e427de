using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

/// <summary>The checker itself: it must reject gradients that are only slightly wrong, and survive kinks.</summary>
public class GradientCheckerTests
{
    /// <summary>A dense layer whose input gradient is off by a factor (1 + error).</summary>
    private sealed class SlightlyWrongDense(double error, bool wrongWeight) : Layer<double>
    {
        private readonly Dense<double> inner = new(6);

        public override string Token => "dense6-wrong";

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override Parameter<double>[] CreateParameters() => [.. inner.Parameters];

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            inner.Backward(x, y, dy, dx, n);
            if (wrongWeight) inner.Weight.Gradient[3] *= 1 + error;
            else dx[n * InputShape.Size - 1] *= 1 + error;
        }
    }

    [Theory]
    [InlineData(1e-5, false)]
    [InlineData(1e-5, true)]
    [InlineData(-3e-5, false)]
    public void AGradientWrongByMoreThanTheToleranceInOneElementFails(double error, bool wrongWeight)
    {
        var layer = new SlightlyWrongDense(error, wrongWeight);
        layer.Build(Shape.Vector(5));
        var rng = new Rng(1);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var report = GradientChecker.CheckLayer(layer, RandomTensors.Normal(rng, 15), 3);
        Assert.False(report.Passed, GradientAssert.Describe(report));
        var bad = report.Tensors.Single(t => !t.Passed);
        Assert.Equal(wrongWeight ? "weight" : "input", bad.Tensor);
        Assert.InRange(bad.MaxRelativeError, Math.Abs(error) * 0.5, Math.Abs(error) * 2);
    }

    [Fact]
    public void TheSameLayerWithoutTheErrorPasses()
    {
        var layer = new SlightlyWrongDense(0, false);
        layer.Build(Shape.Vector(5));
        var rng = new Rng(1);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        GradientAssert.Passes(GradientChecker.CheckLayer(layer, RandomTensors.Normal(rng, 15), 3));
    }

    [Fact]
    public void MaxPoolTiesAreRedrawnAndThenPass()
    {
        // Every window holds four equal values: each element sits on a kink.
        var x = Enumerable.Range(0, 2 * 16).Select(i => (double)(i / 4 % 3)).ToArray();
        var pool = new MaxPool2d<double>(2);
        pool.Build(new Shape(2, 2, 8));
        var report = GradientChecker.CheckLayer(pool, x, 1);
        GradientAssert.Passes(report);
        Assert.True(report.Tensors[0].Redraws > 0);
    }

    [Fact]
    public void SampledChecksCoverEveryBatchItem()
    {
        var layer = new Conv2d<double>(2, 3, 3);
        layer.Build(new Shape(1, 6, 6));
        var rng = new Rng(2);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var report = GradientChecker.CheckLayer(layer, RandomTensors.Normal(rng, 4 * 36), 4, new GradientCheckOptions { MaxElementsPerTensor = 8 });
        GradientAssert.Passes(report);
        Assert.Equal(8, report.Tensors.Single(t => t.Tensor == "input").Checked); // 2 from each of the 4 items
    }

    [Fact]
    public void TheCheckLeavesTheValuesItMovedAsTheyWere()
    {
        var x = Enumerable.Range(0, 16).Select(i => (double)(i % 2)).ToArray(); // ties everywhere: re-draws happen
        var before = (double[])x.Clone();
        var pool = new MaxPool2d<double>(2);
        pool.Build(new Shape(1, 4, 4));
        GradientChecker.CheckLayer(pool, x, 1);
        Assert.Equal(before, x);
    }
}
