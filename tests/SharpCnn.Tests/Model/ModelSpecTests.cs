using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

public class ModelSpecTests
{
    private static readonly Shape Mnist = new(1, 28, 28);

    [Fact]
    public void TheIssueExampleBuildsTheSeedCnn()
    {
        var net = ModelSpec.Parse("conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,dense1024,relu,dense10").Build<float>(Mnist);
        Assert.Equal(Shape.Vector(10), net.OutputShape);
        Assert.Equal(new Shape(64, 7, 7), net.Layers[5].OutputShape);
        Assert.Equal(832 + 51_264 + 3_212_288 + 10_250, net.ParameterCount);
    }

    [Fact]
    public void SeedCnnForwardCostIs27Point8Mflop()
    {
        var net = Build("seed-cnn");
        // The performance issue quotes 27.8 MFLOP forward per sample (convolutions and dense layers).
        Assert.InRange(net.ForwardFlops / 1e6, 27.7, 27.9);
    }

    [Fact]
    public void LeNet5HasC3sSixtyConnectionsAndTheClassicShapes()
    {
        var net = Build("lenet5");
        var rows = ModelSummary.Rows(net);
        Assert.Equal(new Shape(6, 28, 28), rows[1].Output);
        Assert.Equal(new Shape(6, 14, 14), rows[3].Output);
        Assert.Equal(new Shape(16, 10, 10), rows[5].Output);
        Assert.Equal(1516, rows[5].Parameters); // 60 x 25 + 16, LeCun et al. 1998
        Assert.Equal(12, rows[3].Parameters);  // S2: one beta and one bias per map
        Assert.Equal(new Shape(120, 1, 1), rows[9].Output);
        Assert.Equal(Shape.Vector(10), net.OutputShape);
    }

    [Theory]
    [InlineData("conv5x5x32:same,relu,maxpool2,dense10")]
    [InlineData("conv3x2x4:s2:p1-0-2-1,tanh,meanpool3:s2:pad,flatten,dense7,sigmoid,dense10,minusmax")]
    [InlineData("input1x28x28,crop24x24,conv3x3x8:full,relu,maxpool2x3:s1,subsample2:pad,divnorm,dense10")]
    [InlineData("conv5x5x4:table=1000.0100.0010.0001:p2")]
    [InlineData("conv3x3x4,batchnorm,relu,dropout0.25,flatten,dense8,bn:m0.01,dropout0.5,dense10")]
    [InlineData("conv3x3x4,batchnorm:e0.001,relu,dropout1e-5,flatten,dense8,bn:e1e-3:m0.00001,dense10")]
    public void CanonicalTextParsesBackToTheSameNetwork(string spec)
    {
        var first = ModelSpec.Parse(spec);
        var second = ModelSpec.Parse(first.Text);
        Assert.Equal(first.Text, second.Text);
        var a = first.Build<double>(first.Input is null ? new Shape(4, 28, 28) : null);
        var b = second.Build<double>(second.Input is null ? new Shape(4, 28, 28) : null);
        Assert.Equal(a.Spec, b.Spec);
        Assert.Equal(a.OutputShape, b.OutputShape);
        Assert.Equal(a.ParameterCount, b.ParameterCount);
    }

    [Theory]
    [InlineData("conv5x5x32,relu,frobnicate,dense10", 3, "unknown layer 'frobnicate'")]
    [InlineData("conv5x5x32,,dense10", 2, "empty token")]
    [InlineData("conv5x5x32:bogus", 1, "unknown convolution option 'bogus'")]
    [InlineData("conv5x5x32:same:valid", 1, "padding is given twice")]
    [InlineData("conv0x5x32", 1, "a size of 0")]
    [InlineData("relu:same", 1, "takes no options")]
    [InlineData("conv3x3x4:table=111.01", 1, "row 2 has 2 entries")]
    [InlineData("conv3x3x4:table=1.1", 1, "2 rows but the layer has 4 output maps")]
    [InlineData("maxpool2:s2:pad:drop", 1, "edge mode is given twice")]
    [InlineData("dense10,input1x28x28", 2, "only be the first token")]
    [InlineData("dense10,dropout", 2, "dropout needs a rate")]
    [InlineData("dropout1", 1, "not below 1")]
    [InlineData("dropout1.5", 1, "not below 1")]
    [InlineData("dropout-0.5", 1, "not a decimal number")]
    [InlineData("dropouthalf", 1, "not a decimal number")]
    [InlineData("dropout0.5:x", 1, "takes no options")]
    [InlineData("relu,batchnorm:fast", 2, "unknown batch-norm option 'fast'")]
    [InlineData("batchnorm:m2", 1, "outside (0, 1]")]
    [InlineData("batchnorm:m0", 1, "outside (0, 1]")]
    [InlineData("batchnorm:m0.1:m0.2", 1, "momentum is given twice")]
    [InlineData("batchnorm:e0.001:e0.01", 1, "epsilon is given twice")]
    [InlineData("batchnorm:e0", 1, "epsilon 0 is not a positive finite number")]
    [InlineData("batchnorm:e1e999", 1, "epsilon 1e999 is not a positive finite number")]
    [InlineData("batchnorm:e-0.1", 1, "'-0.1' is not a decimal number like 0.5 or 1e-5")]
    [InlineData("batchnorm:etiny", 1, "'tiny' is not a decimal number")]
    [InlineData("batchnorm:x0.1", 1, "expected m{momentum} or e{epsilon}")]
    public void ParseErrorsNameThePositionAndTheReason(string spec, int position, string reason)
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpec.Parse(spec));
        Assert.Equal(position, e.Position);
        Assert.Contains(reason, e.Message);
        Assert.StartsWith($"layer {position} '", e.Message);
    }

    [Theory]
    [InlineData("conv5x5x8,maxpool2,conv13x13x8", 3, "kernel 13x13 is larger than its input 12x12")]
    [InlineData("maxpool2,maxpool2,maxpool2,maxpool2,maxpool2", 5, "larger than its input 1x1")]
    [InlineData("crop30x30", 1, "crop 30x30 is larger than its input 28x28")]
    [InlineData("conv5x5x8:table=lenet5", 1, "connection table has 16 rows")]
    [InlineData("conv5x5x16:table=lenet5", 1, "6 columns but the input has 1 maps")]
    public void ShapeErrorsNameThePositionAndTheReason(string spec, int position, string reason)
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpec.Parse(spec).Build<float>(Mnist));
        Assert.Equal(position, e.Position);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void BatchNormAndDropoutTokensBuildTheirLayers()
    {
        var net = ModelSpec.Parse("conv3x3x4,bn,relu,dropout0.3,flatten,dense5,batchnorm:m0.05").Build<float>(Mnist);
        var conv = Assert.IsType<SharpCnn.Layers.BatchNorm<float>>(net.Layers[1]);
        Assert.Equal(0.1, conv.Momentum);
        Assert.Equal(4, conv.Gamma.Length);                      // per channel of the 4 maps
        Assert.Equal(0.3, Assert.IsType<SharpCnn.Layers.Dropout<float>>(net.Layers[3]).Rate);
        var dense = Assert.IsType<SharpCnn.Layers.BatchNorm<float>>(net.Layers[6]);
        Assert.Equal(0.05, dense.Momentum);
        Assert.Equal(5, dense.RunningMean.Length);               // per feature of the 5 outputs
        Assert.Equal("conv3x3x4,batchnorm,relu,dropout0.3,flatten,dense5,batchnorm:m0.05", net.Spec);
    }

    [Fact]
    public void BatchNormEpsilonAndSmallNumbersReadBackFromTheirTokens()
    {
        var net = ModelSpec.Parse("bn:e0.001:m1e-5,dropout0.00001,flatten,dense3,batchnorm:e1e-05").Build<double>(Mnist);
        var first = Assert.IsType<SharpCnn.Layers.BatchNorm<double>>(net.Layers[0]);
        Assert.Equal(0.001, first.Epsilon);
        Assert.Equal(1e-5, first.Momentum);
        Assert.Equal(1e-5, Assert.IsType<SharpCnn.Layers.Dropout<double>>(net.Layers[1]).Rate);
        Assert.Equal(SharpCnn.Layers.BatchNorm<double>.DefaultEpsilon, Assert.IsType<SharpCnn.Layers.BatchNorm<double>>(net.Layers[4]).Epsilon);
        // Exponent form in lower case, so the tokens parse back (a model file stores them).
        Assert.Equal("batchnorm:m1e-05:e0.001,dropout1e-05,flatten,dense3,batchnorm", net.Spec);
        Assert.Equal(net.Spec, ModelSpec.Parse(net.Spec).Build<double>(Mnist).Spec);
    }

    [Fact]
    public void EmptySpecIsRejected() =>
        Assert.Contains("empty", Assert.Throws<ModelSpecException>(() => ModelSpec.Parse("  ")).Message);

    [Fact]
    public void AMismatchedInputTokenIsRejected() =>
        Assert.Contains("does not match", Assert.Throws<ModelSpecException>(() => ModelSpec.Parse("input1x24x24,dense10").Build<float>(Mnist)).Message);

    [Fact]
    public void EveryPresetBuildsAndSummarises()
    {
        foreach (var preset in Presets.All)
        {
            var net = Build(preset.Name);
            string summary = ModelSummary.Format(net);
            Assert.Contains("total", summary);
            Assert.Equal(10, net.Classes);
        }
    }

    private static Network<float> Build(string preset)
    {
        var p = Presets.Find(preset)!;
        return ModelSpec.Parse(p.Spec).Build<float>(Mnist, p.Loss);
    }
}
