// OnnxImport on valid graphs built node by node: how each operator and attribute maps to
// SharpCnn layers, with outputs checked against values computed here from the ONNX
// definitions (plain loops), and the cases it must refuse because SharpCnn would compute
// something else.

using SharpCnn.Formats.Onnx;
using SharpCnn.Kernels;
using static SharpCnn.Tests.Formats.Onnx.OnnxTestModel;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Tests.Formats.Onnx;

public sealed class OnnxImportTests
{
    private static ImportedOnnxModel<double> Import(OnnxTestModel m, string loss = "ce") => OnnxImport.Read<double>(m.Bytes(), "test.onnx", loss);

    private static FileFormatException Refuse(OnnxTestModel m, params string[] expectedInMessage)
    {
        var error = Assert.Throws<FileFormatException>(() => Import(m));
        Assert.Equal("test.onnx", error.FilePath);
        foreach (string text in expectedInMessage)
            Assert.True(error.Message.Contains(text, StringComparison.Ordinal), $"\"{text}\" is not in the message: {error.Message}");
        return error;
    }

    private static double[] Forward(ImportedOnnxModel<double> imported, double[] x, int n) => imported.Network.Forward(x, n).ToArray();

    private static void AssertClose(double[] expected, double[] actual, double tolerance = 1e-12)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"value {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Fact]
    public void GemmWithoutTransposeScalesByAlphaAndBeta()
    {
        // y = 0.5 · x B + 2 · C with B [3, 2] (not transposed), C [1, 2].
        var m = new OnnxTestModel(13, 3);
        float[] b = [1, 2, 3, 4, 5, 6];
        m.Floats("B", [3, 2], b);
        m.Floats("C", [1, 2], 0.25f, -1);
        m.Node("Gemm", ["x", "B", "C"], "y", Float("alpha", 0.5f), Float("beta", 2f));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("dense2", imported.Network.Spec);
        Assert.False(imported.OutputIsProbabilities);
        double[] x = [1, -2, 0.5, 3, 1, -1];
        var expected = new double[4];
        for (int s = 0; s < 2; s++)
            for (int j = 0; j < 2; j++)
            {
                double sum = 0;
                for (int i = 0; i < 3; i++) sum += x[s * 3 + i] * b[i * 2 + j];
                expected[s * 2 + j] = 0.5 * sum + 2 * (j == 0 ? 0.25 : -1);
            }
        AssertClose(expected, Forward(imported, x, 2));
    }

    [Fact]
    public void MatMulThenAddIsADenseLayerWithBias()
    {
        var m = new OnnxTestModel(13, 2);
        m.Doubles("W", [2, 3], 1, 2, 3, 4, 5, 6);
        m.FloatData("b", [3], 0.5f, 0, -0.5f);
        m.Node("MatMul", ["x", "W"], "h");
        m.Node("Add", ["b", "h"], "y"); // the constant first is fine too
        m.Node("Relu", ["y"], "r");
        m.Output("r");
        var imported = Import(m);
        Assert.Equal("dense3,relu", imported.Network.Spec);
        AssertClose([1 * 1 + 2 * 4 + 0.5, 1 * 2 + 2 * 5, 1 * 3 + 2 * 6 - 0.5], Forward(imported, [1, 2], 1));
    }

    [Fact]
    public void AddIsOnlyImportedAsABias()
    {
        var m = new OnnxTestModel(13, 2);
        m.Floats("b", [2], 1, 2);
        m.Node("Relu", ["x"], "r");
        m.Node("Add", ["r", "b"], "y");
        m.Output("y");
        Refuse(m, "node 2 'y_node' (Add)", "not the bias of a Gemm, MatMul or Conv right before it");
    }

    [Theory]
    [InlineData(new long[] { -1, 48 })]
    [InlineData(new long[] { 0, -1 })]
    [InlineData(new long[] { 0, 48 })]
    public void ReshapeToBatchByFeaturesIsAFlatten(long[] shape)
    {
        var m = new OnnxTestModel(13, 3, 4, 4);
        m.Int64s("shape", shape);
        m.Node("Reshape", ["x", "shape"], "f");
        m.Node("Sigmoid", ["f"], "y");
        m.Output("y");
        Assert.Equal("flatten,sigmoid", Import(m).Network.Spec);
    }

    [Fact]
    public void ReshapeShapeFromAConstantNode()
    {
        var m = new OnnxTestModel(13, 2, 3, 3);
        var shape = new SharpCnn.Formats.Onnx.Proto.TensorProto { DataType = (int)DataType.Int64 };
        shape.Dims.Add(2);
        shape.Int64Data.AddRange([-1, 18]);
        m.Node("Constant", [], "s", new SharpCnn.Formats.Onnx.Proto.AttributeProto { Name = "value", Type = SharpCnn.Formats.Onnx.Proto.AttributeProto.Types.AttributeType.Tensor, T = shape });
        m.Node("Reshape", ["x", "s"], "y");
        m.Output("y");
        Assert.Equal("flatten", Import(m).Network.Spec);
    }

    [Fact]
    public void ReshapeThatFixesTheBatchIsRefused()
    {
        var m = new OnnxTestModel(13, 3, 4, 4);
        m.Int64s("shape", 2, -1);
        m.Node("Reshape", ["x", "shape"], "y");
        m.Output("y");
        Refuse(m, "(Reshape)", "does not keep the batch dimension first");
    }

    [Fact]
    public void ReshapeThatReordersMapsIsRefused()
    {
        var m = new OnnxTestModel(13, 3, 4, 4);
        m.Int64s("shape", -1, 4, 4, 3);
        m.Node("Reshape", ["x", "shape"], "y");
        m.Output("y");
        Refuse(m, "(Reshape)", "can only flatten");
    }

    [Theory]
    [InlineData(new long[] { 0, 1 }, new long[] { 6, 6 }, new long[] { 2, 3 }, "crop6x5")]
    [InlineData(new long[] { 1, 1 }, new long[] { -1, 6 }, new long[] { -2, -1 }, "crop5x5")]
    public void SliceOfTheCentreIsACentreCrop(long[] starts, long[] ends, long[] axes, string token)
    {
        var m = new OnnxTestModel(13, 2, 7, 7);
        m.Int64s("starts", starts);
        m.Int64s("ends", ends);
        m.Int64s("axes", axes);
        m.Node("Slice", ["x", "starts", "ends", "axes"], "y");
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal(token, imported.Network.Spec);
        var x = Enumerable.Range(0, 2 * 49).Select(i => (double)i).ToArray();
        var y = Forward(imported, x, 1);
        int h = imported.Network.OutputShape.Height, w = imported.Network.OutputShape.Width, top = (7 - h) / 2, left = (7 - w) / 2;
        Assert.Equal(x[top * 7 + left], y[0]);
        Assert.Equal(x[49 + (top + h - 1) * 7 + left + w - 1], y[^1]);
    }

    [Theory]
    [InlineData(new long[] { 0, 0 }, new long[] { 5, 5 }, new long[] { 2, 3 }, null, "keeps rows 0..4 and columns 0..4 of 7x7 maps; SharpCnn's crop keeps the centre")]
    [InlineData(new long[] { 0 }, new long[] { 1 }, new long[] { 1 }, null, "slices axis 1; SharpCnn crops only the height and width")]
    [InlineData(new long[] { 1, 1 }, new long[] { 6, 6 }, new long[] { 2, 3 }, new long[] { 2, 1 }, "has step 2; SharpCnn crops with step 1")]
    [InlineData(new long[] { 4, 1 }, new long[] { 2, 6 }, new long[] { 2, 3 }, null, "keeps nothing of axis 2")]
    public void SliceThatIsNotACentreCropIsRefused(long[] starts, long[] ends, long[] axes, long[]? steps, string message)
    {
        var m = new OnnxTestModel(13, 2, 7, 7);
        m.Int64s("starts", starts);
        m.Int64s("ends", ends);
        m.Int64s("axes", axes);
        if (steps is not null) m.Int64s("steps", steps);
        m.Node("Slice", steps is null ? ["x", "starts", "ends", "axes"] : ["x", "starts", "ends", "axes", "steps"], "y");
        m.Output("y");
        Refuse(m, "(Slice)", message);
    }

    [Fact]
    public void GroupedConvolutionIsAConnectionTable()
    {
        // 4 input maps, 2 groups, 6 output maps: outputs 0-2 read maps 0-1, outputs 3-5 read maps 2-3.
        var m = new OnnxTestModel(13, 4, 5, 6);
        float[] w = Random(6 * 2 * 3 * 3, 3), b = Random(6, 4);
        m.Floats("W", [6, 2, 3, 3], w);
        m.Floats("B", [6], b);
        m.Node("Conv", ["x", "W", "B"], "y", Int("group", 2), Ints("pads", 1, 0, 0, 1), Ints("kernel_shape", 3, 3));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("conv3x3x6:p1-0-0-1:table=1100.1100.1100.0011.0011.0011", imported.Network.Spec);

        double[] x = Random(2 * 4 * 5 * 6, 5).Select(v => (double)v).ToArray();
        int ho = 4, wo = 5; // (5 + 1 - 3) + 1, (6 + 1 - 3) + 1
        var expected = new double[2 * 6 * ho * wo];
        for (int g = 0; g < 2; g++)
        {
            // Each group separately: its 2 input maps, its 3 kernels.
            var xg = new double[2 * 2 * 5 * 6];
            for (int s = 0; s < 2; s++) Array.Copy(x, (s * 4 + 2 * g) * 30, xg, s * 2 * 30, 2 * 30);
            var wg = w.Skip(g * 3 * 18).Take(3 * 18).Select(v => (double)v).ToArray();
            var bg = b.Skip(g * 3).Take(3).Select(v => (double)v).ToArray();
            var yg = new double[2 * 3 * ho * wo];
            ConvolutionReference.Forward(xg, wg, bg, yg, 2, 2, 5, 6, 3, 3, 3, 1, 1, 0, ho, wo);
            for (int s = 0; s < 2; s++) Array.Copy(yg, s * 3 * ho * wo, expected, (s * 6 + 3 * g) * ho * wo, 3 * ho * wo);
        }
        AssertClose(expected, Forward(imported, x, 2));
    }

    [Theory]
    [InlineData("SAME_UPPER", "p0-1-0-1")]
    [InlineData("SAME_LOWER", "p1-0-1-0")]
    [InlineData("VALID", "p0")]
    public void AutoPadBecomesExplicitPadding(string autoPad, string padding)
    {
        var m = new OnnxTestModel(13, 1, 4, 4);
        m.Floats("W", [1, 1, 2, 2], 1, 2, 3, 4);
        m.Node("Conv", ["x", "W"], "y", Str("auto_pad", autoPad));
        m.Output("y");
        Assert.Equal($"conv2x2x1:{padding}", Import(m, "mse").Network.Spec);
    }

    [Fact]
    public void ZeroPadMergesIntoTheFollowingConv()
    {
        var m = new OnnxTestModel(13, 1, 4, 4);
        m.Int64s("pads", 0, 0, 1, 0, 0, 0, 0, 2);
        m.Floats("W", [1, 1, 3, 3], Random(9, 1));
        m.Node("Pad", ["x", "pads"], "p");
        m.Node("Conv", ["p", "W"], "y", Ints("pads", 1, 1, 1, 1));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("conv3x3x1:p2-1-1-3", imported.Network.Spec);
        Assert.Contains(imported.Notes, n => n.Contains("became part of the padding"));
    }

    [Fact]
    public void AutoPadCountsTheZeroPadBeforeIt()
    {
        // Pad makes 4x4 into 5x5; SAME_UPPER with a 2x2 kernel and stride 2 on 5 needs 1 more row and column.
        var m = new OnnxTestModel(13, 1, 4, 4);
        m.Int64s("pads", 0, 0, 1, 1, 0, 0, 0, 0);
        m.Floats("W", [1, 1, 2, 2], 1, 2, 3, 4);
        m.Node("Pad", ["x", "pads"], "p");
        m.Node("Conv", ["p", "W"], "y", Str("auto_pad", "SAME_UPPER"), Ints("strides", 2, 2));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("conv2x2x1:s2:p1", imported.Network.Spec); // 1 from the Pad on top/left, 1 from SAME_UPPER at the bottom/right
        Assert.Equal(new SharpCnn.Tensors.Shape(1, 3, 3), imported.Network.OutputShape);
    }

    [Fact]
    public void PadWithANonZeroValueIsRefused()
    {
        var m = new OnnxTestModel(13, 1, 4, 4);
        m.Int64s("pads", 0, 0, 1, 1, 0, 0, 1, 1);
        m.Floats("v", [], 1f);
        m.Floats("W", [1, 1, 3, 3], Random(9, 1));
        m.Node("Pad", ["x", "pads", "v"], "p");
        m.Node("Conv", ["p", "W"], "y");
        m.Output("y");
        Refuse(m, "(Pad)", "pads with 1");
    }

    [Fact]
    public void AveragePoolCountingItsEndPadsIsPadModeMeanPooling()
    {
        var m = new OnnxTestModel(13, 1, 5, 5);
        m.Node("AveragePool", ["x"], "y", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1), Int("count_include_pad", 1));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("meanpool2:pad", imported.Network.Spec);
        double[] x = Enumerable.Range(1, 25).Select(v => (double)v).ToArray();
        // Bottom-right window holds only x[4,4] = 25 and three padded zeros: 25 / 4.
        Assert.Equal(25 / 4.0, Forward(imported, x, 1)[8]);
    }

    [Fact]
    public void AveragePoolNotCountingItsPadsIsRefused()
    {
        var m = new OnnxTestModel(13, 1, 5, 5);
        m.Node("AveragePool", ["x"], "y", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
        m.Output("y");
        Refuse(m, "(AveragePool)", "count_include_pad = 0");
    }

    [Fact]
    public void PoolingPaddedAtTheTopIsRefused()
    {
        var m = new OnnxTestModel(13, 1, 5, 5);
        m.Node("MaxPool", ["x"], "y", Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        m.Output("y");
        Refuse(m, "(MaxPool)", "pads the top or left");
    }

    [Fact]
    public void CeilModeWithoutPartialWindowsIsDropMode()
    {
        var m = new OnnxTestModel(10, 2, 6, 6);
        m.Node("MaxPool", ["x"], "y", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Int("ceil_mode", 1));
        m.Output("y");
        Assert.Equal("maxpool2", Import(m, "mse").Network.Spec);
    }

    [Fact]
    public void CeilModeMaxPoolWithAPartialWindowIsRefused()
    {
        // 5 rows, window 2, stride 2, ceil: the third window holds one row and what ONNX treats as -inf.
        var m = new OnnxTestModel(10, 2, 5, 5);
        m.Node("MaxPool", ["x"], "y", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Int("ceil_mode", 1));
        m.Output("y");
        Refuse(m, "(MaxPool)", "ignores that padding", "unless a Max with 0 on those windows follows");
    }

    [Fact]
    public void MaxPoolWithEndPadsAndAZeroFloorIsPadModeMaxPooling()
    {
        var m = new OnnxTestModel(13, 1, 3, 3);
        float ninf = float.NegativeInfinity;
        m.Floats("floor", [1, 1, 2, 2], ninf, 0, 0, 0);
        m.Node("MaxPool", ["x"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
        m.Node("Max", ["p", "floor"], "y");
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("maxpool2:pad", imported.Network.Spec);
        double[] x = [-1, -2, -3, -4, -5, -6, -7, -8, -9];
        Assert.Equal([-1, 0, 0, 0], Forward(imported, x, 1)); // padded zeros win where every input is negative
    }

    [Fact]
    public void MaxFloorWithTheWrongValuesIsRefused()
    {
        var m = new OnnxTestModel(13, 1, 3, 3);
        m.Floats("floor", [1, 1, 2, 2], 0, 0, 0, 0);
        m.Node("MaxPool", ["x"], "p", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1));
        m.Node("Max", ["p", "floor"], "y");
        m.Output("y");
        Refuse(m, "(Max)", "window 0,0", "-inf");
    }

    [Fact]
    public void IdentityVanishesAndDropoutKeepsItsRate()
    {
        var m = new OnnxTestModel(13, 4);
        m.Floats("ratio", [], 0.3f);
        m.Floats("W", [3, 4], Random(12, 2));
        m.Node("Identity", ["x"], "i");
        m.Node("Gemm", ["i", "W"], "g", Int("transB", 1));
        m.Node("Dropout", ["g", "ratio"], "d");
        m.Node("Softmax", ["d"], "y");
        m.Output("y");
        var imported = Import(m);
        Assert.Equal("dense3,dropout0.3", imported.Network.Spec); // the float 0.3f read as the 0.3 it stands for
        Assert.True(imported.OutputIsProbabilities);
        // In evaluation dropout is the identity: the outputs are the Gemm's.
        var net = imported.Network;
        net.Training = false;
        double[] x = [0.5, -1, 2, 0.25];
        var w = Random(12, 2);
        AssertClose([.. Enumerable.Range(0, 3).Select(o => Enumerable.Range(0, 4).Sum(i => x[i] * w[o * 4 + i]))], Forward(imported, x, 1));
    }

    [Theory]
    [InlineData(7, null, "dropout0.5")]      // ratio attribute absent: 0.5
    [InlineData(10, 0.25f, "dropout0.25")]
    [InlineData(12, null, "dropout0.5")]     // ratio input absent: 0.5
    [InlineData(13, 0f, "dropout0")]
    public void DropoutRateComesFromTheAttributeOrTheInput(int opset, float? ratio, string token)
    {
        var m = new OnnxTestModel(opset, 4);
        if (opset < 12)
        {
            if (ratio is { } r) m.Node("Dropout", ["x"], "y", Float("ratio", r));
            else m.Node("Dropout", ["x"], "y");
        }
        else
        {
            if (ratio is { } r) m.Floats("ratio", [], r);
            m.Node("Dropout", ratio is null ? ["x"] : ["x", "ratio"], "y");
        }
        m.Output("y");
        Assert.Equal(token, Import(m).Network.Spec);
    }

    [Theory]
    [InlineData(1f, "has ratio 1; a dropout rate is in [0, 1)")]
    [InlineData(-0.5f, "has ratio -0.5")]
    public void DropoutRateOutsideItsRangeIsRefused(float ratio, string message)
    {
        var m = new OnnxTestModel(13, 4);
        m.Floats("ratio", [], ratio);
        m.Node("Dropout", ["x", "ratio"], "y");
        m.Output("y");
        Refuse(m, "node 1 'y_node' (Dropout)", message);
    }

    /// <summary>y = γ (x - μ) / sqrt(σ² + ε) + β per channel of [n, c, plane] values, straight from the ONNX definition.</summary>
    private static double[] BatchNormReference(double[] x, int n, int c, int plane, float[] gamma, float[] beta, float[] mean, float[] variance, double epsilon)
    {
        var y = new double[x.Length];
        for (int s = 0; s < n; s++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < plane; i++)
                {
                    int k = (s * c + ch) * plane + i;
                    y[k] = gamma[ch] * (x[k] - mean[ch]) / Math.Sqrt(variance[ch] + epsilon) + beta[ch];
                }
        return y;
    }

    /// <summary>A BatchNormalization node "y" on "x" with C channels: scale, B, mean, var initializers from seeds (variances positive).</summary>
    private static (float[] Gamma, float[] Beta, float[] Mean, float[] Variance) BatchNormNode(OnnxTestModel m, string input, string output, int c, params SharpCnn.Formats.Onnx.Proto.AttributeProto[] attributes)
    {
        float[] gamma = Random(c, 21), beta = Random(c, 22), mean = Random(c, 23);
        float[] variance = [.. Random(c, 24).Select(v => 0.1f + v * v)];
        m.Floats("scale", [c], gamma);
        m.Floats("B", [c], beta);
        m.Floats("mean", [c], mean);
        m.Floats("var", [c], variance);
        m.Node("BatchNormalization", [input, "scale", "B", "mean", "var"], output, attributes);
        return (gamma, beta, mean, variance);
    }

    [Fact]
    public void BatchNormalizationOnMapsIsPerChannelBatchNorm()
    {
        var m = new OnnxTestModel(15, 3, 4, 5);
        var (gamma, beta, mean, variance) = BatchNormNode(m, "x", "y", 3, Float("epsilon", 1e-3f), Float("momentum", 0.99f), Int("training_mode", 0));
        m.Output("y");
        var imported = Import(m, "mse");
        // ε 1e-3f and ρ = 1 - 0.99f read as the 0.001 and 0.01 they stand for.
        Assert.Equal("batchnorm:m0.01:e0.001", imported.Network.Spec);
        var bn = Assert.IsType<SharpCnn.Layers.BatchNorm<double>>(imported.Network.Layers[0]);
        Assert.Equal(0.001, bn.Epsilon);
        Assert.Equal(0.01, bn.Momentum);
        imported.Network.Training = false;
        double[] x = [.. Random(2 * 60, 25).Select(v => 3.0 * v + 1)];
        AssertClose(BatchNormReference(x, 2, 3, 20, gamma, beta, mean, variance, 0.001), Forward(imported, x, 2));
    }

    [Fact]
    public void BatchNormalizationAfterAConvFromOpset9StaysItsOwnLayer()
    {
        var m = new OnnxTestModel(9, 1, 4, 4);
        m.Floats("W", [2, 1, 3, 3], Random(18, 1));
        m.Node("Conv", ["x", "W"], "c");
        BatchNormNode(m, "c", "y", 2);
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("conv3x3x2:p0,batchnorm", imported.Network.Spec); // ONNX's defaults are SharpCnn's: ε 1e-5, momentum 0.9 = ρ 0.1
        var bn = (SharpCnn.Layers.BatchNorm<double>)imported.Network.Layers[1];
        Assert.Equal(0.1, bn.Momentum);  // exactly the defaults, not floats near them
        Assert.Equal(1e-5, bn.Epsilon);
    }

    [Fact]
    public void BatchNormalizationOnVectorsIsPerFeatureBatchNorm()
    {
        var m = new OnnxTestModel(13, 4);
        m.Floats("W", [5, 4], Random(20, 3));
        m.Node("Gemm", ["x", "W"], "g", Int("transB", 1));
        var (gamma, beta, mean, variance) = BatchNormNode(m, "g", "y", 5);
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("dense5,batchnorm", imported.Network.Spec);
        imported.Network.Training = false;
        double[] x = [0.5, -1, 2, 0.25, 1, 1, -3, 0];
        var w = Random(20, 3);
        var g = new double[10];
        for (int s = 0; s < 2; s++)
            for (int o = 0; o < 5; o++)
                for (int i = 0; i < 4; i++) g[s * 5 + o] += x[s * 4 + i] * w[o * 4 + i];
        AssertClose(BatchNormReference(g, 2, 5, 1, gamma, beta, mean, variance, 1e-5), Forward(imported, x, 2));
    }

    [Fact]
    public void BatchNormalizationOfOpset7PerChannelIsRead()
    {
        var m = new OnnxTestModel(7, 2, 3, 3);
        BatchNormNode(m, "x", "y", 2, Int("spatial", 1));
        m.Output("y");
        Assert.Equal("batchnorm", Import(m, "mse").Network.Spec);
    }

    [Fact]
    public void BatchNormalizationWithMomentumOneKeepsTheDefaultAndSaysSo()
    {
        var m = new OnnxTestModel(13, 2, 3, 3);
        BatchNormNode(m, "x", "y", 2, Float("momentum", 1f));
        m.Output("y");
        var imported = Import(m, "mse");
        Assert.Equal("batchnorm", imported.Network.Spec);
        Assert.Contains(imported.Notes, n => n.Contains("node 1 'y_node' (BatchNormalization) has momentum 1"));
    }

    public static TheoryData<string, string> BadBatchNormalizations() => new()
    {
        { "training-mode", "node 2 'y_node' (BatchNormalization) has training_mode 1" },
        { "running-statistics-outputs", "node 2 'y_node' (BatchNormalization) has 3 outputs; only training mode writes the running statistics" },
        { "scale-too-short", "node 2 'y_node' (BatchNormalization) scale 'scale' has dimensions [2]; expected [3], one value per channel" },
        { "mean-as-matrix", "node 2 'y_node' (BatchNormalization) input_mean 'mean' has dimensions [1, 3]; expected [3]" },
        { "variance-missing", "node 2 'y_node' (BatchNormalization) reads 'var', which is not the graph input, an initializer or the output of an earlier node" },
        { "variance-negative", "node 2 'y_node' (BatchNormalization) input_var 'var' has -0.5 for channel 1; a variance is not negative" },
        { "bias-left-out", "node 2 'y_node' (BatchNormalization) lacks its B (input 3)" },
        { "four-inputs", "node 2 'y_node' (BatchNormalization) has 4 inputs, expected 5" },
        { "scale-from-activation", "node 2 'y_node' (BatchNormalization) reads the activation 'r' as input 2, where a constant belongs" },
        { "epsilon-zero", "node 2 'y_node' (BatchNormalization) has epsilon 0; SharpCnn's batch norm needs a positive finite epsilon" },
        { "momentum-negative", "node 2 'y_node' (BatchNormalization) has momentum -0.5; expected a number in [0, 1]" },
        { "spatial-attribute-in-opset-15", "node 2 'y_node' (BatchNormalization) has the attribute 'spatial', which SharpCnn does not know for this operator" },
    };

    [Theory]
    [MemberData(nameof(BadBatchNormalizations))]
    public void BadBatchNormalizationsAreRefusedNamingTheNode(string problem, string message)
    {
        // Relu, then BatchNormalization over its 3 channels, with one thing wrong.
        var m = new OnnxTestModel(15, 3, 2, 2);
        m.Node("Relu", ["x"], "r");
        m.Floats("scale", problem == "scale-too-short" ? [2] : [3], problem == "scale-too-short" ? [1, 1] : [1, 2, 3]);
        m.Floats("B", [3], 0, 0, 0);
        m.Floats("mean", problem == "mean-as-matrix" ? [1, 3] : [3], 0, 0, 0);
        if (problem != "variance-missing") m.Floats("var", [3], 1, problem == "variance-negative" ? -0.5f : 1, 1);
        string[] inputs = problem switch
        {
            "bias-left-out" => ["r", "scale", "", "mean", "var"],
            "four-inputs" => ["r", "scale", "B", "mean"],
            "scale-from-activation" => ["r", "r", "B", "mean", "var"],
            _ => ["r", "scale", "B", "mean", "var"],
        };
        var node = m.Node("BatchNormalization", inputs, "y");
        switch (problem)
        {
            case "training-mode": node.Attribute.Add(Int("training_mode", 1)); break;
            case "running-statistics-outputs": node.Output.AddRange(["running_mean", "running_var"]); break;
            case "epsilon-zero": node.Attribute.Add(Float("epsilon", 0)); break;
            case "momentum-negative": node.Attribute.Add(Float("momentum", -0.5f)); break;
            case "spatial-attribute-in-opset-15": node.Attribute.Add(Int("spatial", 1)); break;
        }
        m.Output("y");
        Refuse(m, message);
    }

    [Fact]
    public void BatchNormalizationWithPerValueStatisticsIsRefused()
    {
        var m = new OnnxTestModel(7, 2, 3, 3);
        BatchNormNode(m, "x", "y", 2, Int("spatial", 0));
        m.Output("y");
        Refuse(m, "node 1 'y_node' (BatchNormalization) has spatial 0", "per channel");
    }

    [Fact]
    public void DropoutInTrainingModeIsRefused()
    {
        var m = new OnnxTestModel(13, 4);
        var mode = new SharpCnn.Formats.Onnx.Proto.TensorProto { Name = "training", DataType = (int)DataType.Bool, RawData = Google.Protobuf.ByteString.CopyFrom([1]) };
        m.Graph.Initializer.Add(mode);
        m.Node("Dropout", ["x", "", "training"], "y");
        m.Output("y");
        Refuse(m, "(Dropout)", "training mode");
    }

    [Fact]
    public void SoftmaxBeforeOpset13DefaultsToAxisOne()
    {
        var m = new OnnxTestModel(11, 5);
        m.Node("Softmax", ["x"], "y");
        m.Output("y");
        Assert.True(Import(m).OutputIsProbabilities);
    }

    [Fact]
    public void SoftmaxOverMapsIsRefused()
    {
        var m = new OnnxTestModel(13, 2, 3, 3);
        m.Node("Softmax", ["x"], "y");
        m.Output("y");
        Refuse(m, "(Softmax)", "map tensor");
    }

    [Theory]
    [InlineData("strides", new long[] { 2, 1 }, "strides [2, 1]")]
    [InlineData("dilations", new long[] { 2, 2 }, "dilations [2, 2]")]
    public void ConvAttributesSharpCnnLacksAreRefused(string attribute, long[] values, string message)
    {
        var m = new OnnxTestModel(13, 1, 6, 6);
        m.Floats("W", [1, 1, 2, 2], 1, 2, 3, 4);
        m.Node("Conv", ["x", "W"], "y", Ints(attribute, values));
        m.Output("y");
        Refuse(m, "(Conv)", message);
    }

    [Fact]
    public void FlattenAtAnotherAxisIsRefused()
    {
        var m = new OnnxTestModel(13, 2, 3, 3);
        m.Node("Flatten", ["x"], "y", Int("axis", 2));
        m.Output("y");
        Refuse(m, "(Flatten)", "axis 2");
    }

    [Fact]
    public void InputOfVectorsIsAccepted()
    {
        var m = new OnnxTestModel(13, 7);
        m.Node("Tanh", ["x"], "y");
        m.Output("y");
        var imported = Import(m);
        Assert.Equal(new SharpCnn.Tensors.Shape(7, 1, 1), imported.Network.InputShape);
        Assert.Equal("tanh", imported.Network.Spec);
    }

    [Fact]
    public void GraphOfNoLayersIsAnIdentityNetwork()
    {
        var m = new OnnxTestModel(13, 3);
        m.Node("Softmax", ["x"], "y");
        m.Output("y");
        Assert.Equal("identity", Import(m).Network.Spec);
    }

    [Fact]
    public void UnknownLossIsAnArgumentError()
    {
        var m = new OnnxTestModel(13, 3);
        m.Node("Relu", ["x"], "y");
        m.Output("y");
        Assert.Throws<ArgumentException>(() => OnnxImport.Read<float>(m.Bytes(), "t.onnx", "hinge"));
    }
}
