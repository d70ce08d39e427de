using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

public class DenseTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 5, 3)]
    [InlineData(13, 1, 2)]
    [InlineData(1, 9, 4)]
    public void GradientCheckPasses(int inputs, int outputs, int n) =>
        GradientAssert.Layer(new Dense<double>(outputs), Shape.Vector(inputs), n);

    [Fact]
    public void ReadsMapsAsAVectorWithoutFlatten() =>
        GradientAssert.Layer(new Dense<double>(4), new Shape(2, 3, 3), n: 2);

    [Fact]
    public void ComputesXTimesWTransposePlusB()
    {
        var d = new Dense<double>(2);
        d.Build(Shape.Vector(3));
        d.Reserve(1);
        new double[] { 1, 2, 3, 4, 5, 6 }.CopyTo(d.Weight.Value, 0);
        new double[] { 10, 20 }.CopyTo(d.Bias.Value, 0);
        var y = new double[2];
        d.Forward(new double[] { 1, 0, -1 }, y, 1);
        Assert.Equal(new double[] { 10 + 1 - 3, 20 + 4 - 6 }, y);
    }
}
