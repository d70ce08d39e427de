using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

/// <summary>Activations, flatten, crop and the pre-softmax scalings.</summary>
public class ElementwiseTests
{
    [Theory]
    [InlineData("relu")]
    [InlineData("sigmoid")]
    [InlineData("tanh")]
    [InlineData("identity")]
    [InlineData("flatten")]
    [InlineData("minusmax")]
    [InlineData("divnorm")]
    [InlineData("crop")]
    public void GradientCheckPasses(string kind)
    {
        Layer<double> layer = kind switch
        {
            "relu" => new Relu<double>(),
            "sigmoid" => new Sigmoid<double>(),
            "tanh" => new Tanh<double>(),
            "identity" => new Identity<double>(),
            "flatten" => new Flatten<double>(),
            "minusmax" => new SubtractMax<double>(),
            "divnorm" => new DivideByNorm<double>(),
            _ => new CenterCrop<double>(3, 4),
        };
        var shape = new Shape(2, 5, 7);
        var rng = new Rng(9);
        // ReLU: keep inputs off the kink at 0; -max: distinct values so the max is unique.
        double[] x = kind switch
        {
            "relu" => RandomTensors.AwayFromZero(rng, 3 * shape.Size),
            "minusmax" => RandomTensors.Distinct(rng, 3 * shape.Size, 0.02),
            _ => RandomTensors.Normal(rng, 3 * shape.Size, 2.0),
        };
        GradientAssert.Layer(layer, shape, n: 3, x);
    }

    [Fact]
    public void ReluAtItsKinkIsRedrawnNotSkipped()
    {
        // Every other input sits exactly on the kink: the checker must move them and still check them.
        var x = Enumerable.Range(0, 24).Select(i => i % 2 == 0 ? 0.0 : i * 0.1 - 1.2).ToArray();
        var report = GradientAssert.Layer(new Relu<double>(), new Shape(3, 2, 2), n: 2, x);
        var input = report.Tensors.Single();
        Assert.Equal(24, input.Checked);
        Assert.True(input.Redraws >= 12, $"expected the 12 kink points to be re-drawn, got {input.Redraws}");
    }

    [Fact]
    public void MinusMaxLeavesSoftmaxUnchangedAndZeroesTheMax()
    {
        var layer = new SubtractMax<double>();
        layer.Build(Shape.Vector(4));
        layer.Reserve(1);
        var y = new double[4];
        layer.Forward(new double[] { 1, 5, -2, 3 }, y, 1);
        Assert.Equal(new double[] { -4, 0, -7, -2 }, y);
    }

    [Fact]
    public void DivideByNormGivesAUnitVector()
    {
        var layer = new DivideByNorm<double>();
        layer.Build(Shape.Vector(2));
        layer.Reserve(2);
        var y = new double[4];
        layer.Forward(new double[] { 3, 4, 0, 0 }, y, 2);
        Assert.Equal(new double[] { 0.6, 0.8, 0, 0 }, y, (a, b) => Math.Abs(a - b) < 1e-15);
    }
}
