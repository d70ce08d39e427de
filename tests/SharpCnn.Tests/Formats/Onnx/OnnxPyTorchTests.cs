// Models exported by PyTorch (torch.onnx.export, Debian's python3-torch) import and give
// PyTorch's outputs. The fixtures and the script that made them are in Fixtures/; the
// expected outputs were computed by PyTorch in float32 (the model as exported) and in
// float64 (the same float32 weights, computed in double).

using System.Text.Json;
using SharpCnn.Formats.Onnx;
using SharpCnn.Losses;

namespace SharpCnn.Tests.Formats.Onnx;

public sealed class OnnxPyTorchTests
{
    private static string Fixture(string file) => Path.Combine(AppContext.BaseDirectory, "Formats", "Onnx", "Fixtures", file);

    private sealed record Expected(double[][] Inputs, double[][] Float32, double[][] Float64);

    private static Expected Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture(name + ".json")));
        double[][] Rows(string key) => doc.RootElement.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        return new Expected(Rows("inputs"), Rows("float32"), Rows("float64"));
    }

    /// <summary>The imported network's outputs for the fixture's inputs, through softmax when the ONNX graph ended with it.</summary>
    private static T[][] Run<T>(ImportedOnnxModel<T> imported, double[][] inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var net = imported.Network;
        net.Training = false; // batch norm from its running statistics, dropout off
        int n = inputs.Length, size = net.InputShape.Size, classes = net.Classes;
        var x = inputs.SelectMany(r => r).Select(v => T.CreateChecked(v)).ToArray();
        Assert.Equal(n * size, x.Length);
        var y = net.Forward(x, n).ToArray();
        var result = new T[n][];
        for (int s = 0; s < n; s++)
        {
            result[s] = new T[classes];
            if (imported.OutputIsProbabilities) Softmax.Compute<T>(y.AsSpan(s * classes, classes), result[s]);
            else y.AsSpan(s * classes, classes).CopyTo(result[s]);
        }
        return result;
    }

    private static void AssertClose<T>(double[][] expected, T[][] actual, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int s = 0; s < expected.Length; s++)
        {
            Assert.Equal(expected[s].Length, actual[s].Length);
            for (int j = 0; j < expected[s].Length; j++)
            {
                double a = double.CreateChecked(actual[s][j]);
                Assert.True(Math.Abs(a - expected[s][j]) <= tolerance, $"sample {s} output {j}: PyTorch {expected[s][j]:R}, SharpCnn {a:R} (tolerance {tolerance})");
            }
            Assert.Equal(Array.IndexOf(expected[s], expected[s].Max()), Array.IndexOf(actual[s], actual[s].Max()));
        }
    }

    [Fact]
    public void LeNetFromPyTorchImports()
    {
        var imported = OnnxImport.Load<float>(Fixture("pytorch-lenet.onnx"));
        Assert.StartsWith("pytorch", imported.Producer);
        Assert.True(imported.OutputIsProbabilities);
        Assert.Equal("image", imported.InputName);
        Assert.Equal("conv5x5x6:p2,relu,maxpool2,conv5x5x16:p0,tanh,meanpool2,flatten,dense120,relu,dense84,sigmoid,dense10", imported.Network.Spec);
    }

    [Fact]
    public void LeNetFromPyTorchGivesPyTorchsOutputsInFloat()
    {
        var expected = Load("pytorch-lenet");
        AssertClose(expected.Float32, Run(OnnxImport.Load<float>(Fixture("pytorch-lenet.onnx")), expected.Inputs), 1e-6);
    }

    [Fact]
    public void LeNetFromPyTorchGivesPyTorchsOutputsInDouble()
    {
        var expected = Load("pytorch-lenet");
        AssertClose(expected.Float64, Run(OnnxImport.Load<double>(Fixture("pytorch-lenet.onnx")), expected.Inputs), 1e-12);
    }

    [Fact]
    public void VariantsFromPyTorchImport()
    {
        // Opset 11; strided padded conv, grouped conv, view(-1, n) as a Reshape, matmul + bias as MatMul + Add; logits out.
        var imported = OnnxImport.Load<float>(Fixture("pytorch-variants.onnx"));
        Assert.False(imported.OutputIsProbabilities);
        Assert.Equal(11, imported.Opset);
        Assert.Equal("conv3x3x4:s2:p1,relu,conv3x3x8:p0:table=1100.1100.1100.1100.0011.0011.0011.0011,tanh,maxpool2,flatten,dense32,sigmoid,dense10", imported.Network.Spec);
        Assert.Contains(imported.Notes, n => n.Contains("(Add) became the bias"));
    }

    [Fact]
    public void VariantsFromPyTorchGivePyTorchsOutputsInFloat()
    {
        var expected = Load("pytorch-variants");
        AssertClose(expected.Float32, Run(OnnxImport.Load<float>(Fixture("pytorch-variants.onnx")), expected.Inputs), 1e-5);
    }

    [Fact]
    public void VariantsFromPyTorchGivePyTorchsOutputsInDouble()
    {
        var expected = Load("pytorch-variants");
        AssertClose(expected.Float64, Run(OnnxImport.Load<double>(Fixture("pytorch-variants.onnx")), expected.Inputs), 1e-12);
    }

    [Fact]
    public void UnfoldedBatchNormsFromPyTorchImport()
    {
        // Opset 15, exported with TrainingMode.PRESERVE and no constant folding so that BatchNorm2d is not folded into
        // the Conv: BatchNormalization after a Conv (ε 1e-3, momentum 0.99 = ρ 0.01) and after a Gemm (ε 1e-5).
        var imported = OnnxImport.Load<float>(Fixture("pytorch-batchnorm.onnx"));
        Assert.Equal(15, imported.Opset);
        Assert.True(imported.OutputIsProbabilities);
        Assert.Equal("conv5x5x6:p0,batchnorm:m0.01:e0.001,relu,maxpool2,flatten,dense32,batchnorm,relu,dense10", imported.Network.Spec);
        var bn = Assert.IsType<SharpCnn.Layers.BatchNorm<float>>(imported.Network.Layers[1]);
        Assert.Equal(0.001, bn.Epsilon);
        Assert.Equal(0.01, bn.Momentum);
        Assert.DoesNotContain(bn.RunningMean.Value.ToArray(), v => v == 0); // trained statistics, not the initial ones
    }

    [Fact]
    public void UnfoldedBatchNormsFromPyTorchGivePyTorchsOutputsInFloat()
    {
        var expected = Load("pytorch-batchnorm");
        AssertClose(expected.Float32, Run(OnnxImport.Load<float>(Fixture("pytorch-batchnorm.onnx")), expected.Inputs), 1e-6);
    }

    [Fact]
    public void UnfoldedBatchNormsFromPyTorchGivePyTorchsOutputsInDouble()
    {
        var expected = Load("pytorch-batchnorm");
        AssertClose(expected.Float64, Run(OnnxImport.Load<double>(Fixture("pytorch-batchnorm.onnx")), expected.Inputs), 1e-12);
    }
}
