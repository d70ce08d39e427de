// OnnxExport: the graph it writes (operators, attributes, names, shapes) and the round trip
// export → import for networks made of importable layers. ONNX Runtime itself runs the
// exported models in tests/onnx-check (CI); these tests need no runtime.

using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Formats.Onnx;

public sealed class OnnxExportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-onnx-export-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    internal static Network<T> Make<T>(string spec, Shape input, string loss = "ce", ulong seed = 5) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var net = ModelSpec.Parse(spec).Build<T>(input, loss);
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(seed));
        // Non-zero biases and subsampling coefficients, so every parameter shows in the outputs.
        var rng = new Rng(seed + 1);
        foreach (var p in net.Parameters)
            if (p.Role == ParameterRole.Bias || p.Name == "beta")
                for (int i = 0; i < p.Length; i++) p.Value[i] = T.CreateChecked(0.5 * rng.NextNormal());
        return net;
    }

    internal static T[] Inputs<T>(Shape shape, int n, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var x = new T[n * shape.Size];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(rng.NextDouble());
        return x;
    }

    private static ModelProto Parse(byte[] bytes) => ModelProto.Parser.ParseFrom(bytes);

    [Fact]
    public void LeNet5GraphHasTheStandardShape()
    {
        var net = Make<float>(Presets.Find("lenet5")!.Spec, new Shape(1, 28, 28));
        var model = Parse(OnnxExport.ToBytes(net));
        Assert.Equal(7, model.IrVersion);
        Assert.Equal("SharpCnn", model.ProducerName);
        var opset = Assert.Single(model.OpsetImport);
        Assert.Equal("", opset.Domain);
        Assert.Equal(13, opset.Version);
        Assert.Contains(model.MetadataProps, e => e.Key == "sharpcnn.spec" && e.Value == net.Spec);

        var graph = model.Graph;
        var input = Assert.Single(graph.Input);
        Assert.Equal("input", input.Name);
        Assert.Equal((int)TensorProto.Types.DataType.Float, input.Type.TensorType.ElemType);
        var dims = input.Type.TensorType.Shape.Dim;
        Assert.Equal("N", dims[0].DimParam);
        Assert.Equal([1L, 28, 28], dims.Skip(1).Select(d => d.DimValue));
        var output = Assert.Single(graph.Output);
        Assert.Equal("probabilities", output.Name);
        Assert.Equal(10, output.Type.TensorType.Shape.Dim[1].DimValue);

        Assert.Equal(
            ["Conv", "Tanh", "Conv", "Tanh", "Conv", "Tanh", "Conv", "Tanh", "Conv", "Tanh", "Flatten", "Gemm", "Tanh", "Gemm", "Softmax"],
            graph.Node.Select(n => n.OpType));
        // Subsampling: a depthwise Conv (group = channels) with stride = window.
        var sub = graph.Node[2];
        Assert.Equal(6, sub.Attribute.Single(a => a.Name == "group").I);
        Assert.Equal([2L, 2], sub.Attribute.Single(a => a.Name == "strides").Ints);
        // C1 'same': 2 zeros on every side, as [top, left, bottom, right].
        Assert.Equal([2L, 2, 2, 2], graph.Node[0].Attribute.Single(a => a.Name == "pads").Ints);
        // Every node output is consumed by the next node or is the graph output: a chain.
        for (int i = 1; i < graph.Node.Count; i++) Assert.Equal(graph.Node[i - 1].Output[0], graph.Node[i].Input[0]);
    }

    [Fact]
    public void ConnectionTableBecomesZeroWeights()
    {
        var net = Make<float>("conv3x3x2:table=10.01,relu", new Shape(2, 5, 5));
        var model = Parse(OnnxExport.ToBytes(net));
        var weight = model.Graph.Initializer.Single(t => t.Name == "L1.weight");
        Assert.Equal([2L, 2, 3, 3], weight.Dims);
        var w = OnnxTensorData.Reals(weight, out string? error);
        Assert.Null(error);
        for (int o = 0; o < 2; o++)
            for (int c = 0; c < 2; c++)
                for (int k = 0; k < 9; k++)
                {
                    double v = w[(o * 2 + c) * 9 + k];
                    if (o == c) Assert.NotEqual(0, v);
                    else Assert.Equal(0, v);
                }
    }

    [Fact]
    public void PadModeMaxPoolRaisesPaddedWindowsToZero()
    {
        // 5 columns, window 2, stride 2, 'pad': windows 0-1, 2-3, 4-(5 = padding).
        var net = Make<float>("maxpool2:pad", new Shape(1, 5, 5), "mse");
        var graph = Parse(OnnxExport.ToBytes(net)).Graph;
        Assert.Equal(["MaxPool", "Max", "Flatten", "Identity"], graph.Node.Select(n => n.OpType));
        Assert.Equal([0L, 0, 1, 1], graph.Node[0].Attribute.Single(a => a.Name == "pads").Ints);
        var floor = OnnxTensorData.Reals(graph.Initializer.Single(t => t.Name == "L1.padding_floor"), out _, allowNegativeInfinity: true);
        double ninf = double.NegativeInfinity;
        Assert.Equal([ninf, ninf, 0, ninf, ninf, 0, 0, 0, 0], floor);
        Assert.Equal("scores", graph.Output[0].Name);
    }

    [Fact]
    public void PadModeMeanPoolCountsThePaddingInTheDivisor()
    {
        var net = Make<float>("meanpool3:s2:pad", new Shape(1, 6, 6));
        var node = Parse(OnnxExport.ToBytes(net)).Graph.Node[0];
        Assert.Equal("AveragePool", node.OpType);
        Assert.Equal([0L, 0, 1, 1], node.Attribute.Single(a => a.Name == "pads").Ints);
        Assert.Equal(1, node.Attribute.Single(a => a.Name == "count_include_pad").I);
        Assert.Equal(0, node.Attribute.Single(a => a.Name == "ceil_mode").I);
    }

    [Fact]
    public void SpecialLayersUseStandardOperators()
    {
        var net = Make<float>("crop20x21,conv3x3x2,minusmax,divnorm,flatten,dense4,minusmax", new Shape(1, 28, 28));
        var graph = Parse(OnnxExport.ToBytes(net)).Graph;
        Assert.Equal(
            ["Slice", "Conv", "ReduceMax", "Sub", "ReduceL2", "Div", "Equal", "Where", "Flatten", "Gemm", "ReduceMax", "Sub", "Softmax"],
            graph.Node.Select(n => n.OpType));
        // On maps the per-sample reductions run over C, H and W; on vectors over the features.
        Assert.Equal([1L, 2, 3], graph.Node[2].Attribute.Single(a => a.Name == "axes").Ints);
        Assert.Equal([1L], graph.Node[10].Attribute.Single(a => a.Name == "axes").Ints);
        // Centre crop of 28 to 20 rows starts at 4, of 28 to 21 columns at 3.
        var starts = OnnxTensorData.Integers(graph.Initializer.Single(t => t.Name == graph.Node[0].Input[1]), out _);
        var ends = OnnxTensorData.Integers(graph.Initializer.Single(t => t.Name == graph.Node[0].Input[2]), out _);
        Assert.Equal([4L, 3], starts);
        Assert.Equal([24L, 24], ends);
    }

    [Fact]
    public void ConvAfterDenseReshapesTheVectorToMaps()
    {
        var net = Make<float>("flatten,dense8,conv1x1x3", new Shape(1, 4, 4));
        var graph = Parse(OnnxExport.ToBytes(net)).Graph;
        Assert.Equal(["Flatten", "Gemm", "Reshape", "Conv", "Flatten", "Softmax"], graph.Node.Select(n => n.OpType));
        var shape = OnnxTensorData.Integers(graph.Initializer.Single(t => t.Name == graph.Node[2].Input[1]), out _);
        Assert.Equal([-1L, 8, 1, 1], shape);
    }

    [Fact]
    public void MaxPoolWithAWindowWhollyInThePaddingIsRefused()
    {
        var net = Make<float>("maxpool1:s3:pad", new Shape(1, 5, 5));
        string path = Path.Combine(dir, "refused.onnx");
        File.WriteAllText(path, "previous");
        var error = Assert.Throws<NotSupportedException>(() => OnnxExport.Save(net, path));
        Assert.Contains("maxpool1:s3:pad", error.Message);
        Assert.Equal("previous", File.ReadAllText(path)); // nothing half-written
    }

    [Fact]
    public void MeanPoolWithAWindowWhollyInThePaddingBecomesADepthwiseConv()
    {
        var net = Make<float>("meanpool1:s3:pad", new Shape(2, 5, 5), "mse");
        var graph = Parse(OnnxExport.ToBytes(net)).Graph;
        Assert.Equal("Conv", graph.Node[0].OpType);
        Assert.Equal(2, graph.Node[0].Attribute.Single(a => a.Name == "group").I);
        AssertRoundTrip(net, "mse");
    }

    [Theory]
    [InlineData("input1x28x28,conv5x5x6:full,tanh,subsample3:pad,relu,maxpool2,meanpool2,flatten,dense20,identity,sigmoid,dense10", "ce")]
    [InlineData("input1x25x23,conv3x4x5:s2:p1-0-2-1,maxpool3:s2:pad,relu,conv2x2x4:table=11000.00111.10101.01010,sigmoid,meanpool2x3:s2:pad,flatten,dense12,tanh,dense10", "ce")]
    [InlineData("input1x28x28,flatten,dense36,relu,conv3x3x4:same,tanh,subsample2:pad,maxpool2:pad,meanpool1,conv1x1x10", "softmax-mse")]
    [InlineData("input3x9x11,conv3x3x4:p1-2-0-1:s2,maxpool2x3:s1:pad,tanh,subsample2,conv1x1x3", "mse")]
    [InlineData("input2x13x12,crop9x8,conv3x3x2,relu,flatten,dense4", "ce")]
    public void ExportThenImportGivesTheSameOutputs(string spec, string loss)
    {
        var net = Make<float>(spec, ModelSpec.Parse(spec).Input!.Value, loss);
        AssertRoundTrip(net, loss);
    }

    [Fact]
    public void LeNet5RoundTripKeepsItsLayers()
    {
        var net = Make<float>(Presets.Find("lenet5")!.Spec, new Shape(1, 28, 28));
        var back = AssertRoundTrip(net, "ce");
        // Subsampling comes back as subsampling; C3's table as a full convolution whose unconnected weights are zero.
        Assert.Equal("conv5x5x6:p2,tanh,subsample2,tanh,conv5x5x16:p0,tanh,subsample2,tanh,conv5x5x120:p0,tanh,flatten,dense84,tanh,dense10", back.Spec);
    }

    [Fact]
    public void DoubleNetworkExportsFloat32Weights()
    {
        var net = Make<double>("conv3x3x2,relu,flatten,dense3", new Shape(1, 6, 6));
        var model = Parse(OnnxExport.ToBytes(net));
        Assert.All(model.Graph.Initializer, t => Assert.Equal((int)TensorProto.Types.DataType.Float, t.DataType));
        var back = OnnxImport.Read<double>(OnnxExport.ToBytes(net), "double.onnx").Network;
        var original = net.Parameters.ToArray();
        var imported = back.Parameters.ToArray();
        for (int i = 0; i < original.Length; i++)
            for (int j = 0; j < original[i].Length; j++)
                Assert.Equal((double)(float)original[i].Value[j], imported[i].Value[j]);
    }

    [Fact]
    public void SaveWritesAFileTheImporterReads()
    {
        var net = Make<float>("conv3x3x2,relu,flatten,dense3", new Shape(1, 6, 6));
        string path = Path.Combine(dir, "m.onnx");
        OnnxExport.Save(net, path, new Dictionary<string, string> { ["note"] = "hello" });
        var model = Parse(File.ReadAllBytes(path));
        Assert.Contains(model.MetadataProps, e => e.Key == "note" && e.Value == "hello");
        Assert.Equal(net.Spec.Replace("conv3x3x2", "conv3x3x2:p0"), OnnxImport.Load<float>(path).Network.Spec);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    private const string BatchNormSpec = "input1x12x12,conv3x3x4,batchnorm,relu,maxpool2,dropout0.5,flatten,dense6,batchnorm:m0.01:e0.001,relu,dense3";

    /// <summary>
    /// <see cref="BatchNormSpec"/> with non-trivial batch-norm parameters: random γ, and running statistics
    /// moved by a few training-mode forward passes over inputs whose mean and spread are far from 0 and 1;
    /// <paramref name="floatExact"/> rounds every parameter to float32 (what the ONNX file holds), so a
    /// double network survives the round trip exactly. Returned in evaluation mode.
    /// </summary>
    internal static Network<T> TrainedBatchNormNetwork<T>(bool floatExact) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var net = Make<T>(BatchNormSpec, new Shape(1, 12, 12));
        var rng = new Rng(17);
        foreach (var p in net.Parameters.Where(p => p.Name == "gamma"))
            for (int i = 0; i < p.Length; i++) p.Value[i] = T.CreateChecked(0.5 + rng.NextDouble());
        net.Training = true;
        const int n = 16;
        for (int step = 0; step < 5; step++)
        {
            var x = Inputs<T>(net.InputShape, n, 100 + (ulong)step);
            for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(3) * x[i] + T.CreateChecked(2);
            net.Forward(x, n);
        }
        net.Training = false;
        if (floatExact)
            foreach (var p in net.Parameters)
                for (int i = 0; i < p.Length; i++) p.Value[i] = T.CreateChecked((float)double.CreateChecked(p.Value[i]));
        return net;
    }

    [Fact]
    public void BatchNormAndDropoutBecomeBatchNormalizationAndDropout()
    {
        var net = TrainedBatchNormNetwork<float>(floatExact: false);
        var graph = Parse(OnnxExport.ToBytes(net)).Graph;
        Assert.Equal(
            ["Conv", "BatchNormalization", "Relu", "MaxPool", "Dropout", "Flatten", "Gemm", "BatchNormalization", "Relu", "Gemm", "Softmax"],
            graph.Node.Select(n => n.OpType));
        var conv = graph.Node[1];
        var bn = (BatchNorm<float>)net.Layers[1];
        // X, scale = γ, B = β, input_mean, input_var = the running statistics, per channel.
        Assert.Equal(graph.Node[0].Output[0], conv.Input[0]);
        string[] expected = ["gamma", "beta", "running_mean", "running_var"];
        for (int i = 0; i < 4; i++)
        {
            var t = graph.Initializer.Single(t => t.Name == conv.Input[i + 1]);
            Assert.Equal($"L2.{expected[i]}", t.Name);
            Assert.Equal([4L], t.Dims);
            Assert.Equal(bn.Parameters[i].Value.ToArray().Select(v => (double)v), OnnxTensorData.Reals(t, out _));
        }
        Assert.NotEqual([0.0, 0, 0, 0], OnnxTensorData.Reals(graph.Initializer.Single(t => t.Name == "L2.running_mean"), out _));
        Assert.Equal(1e-5f, conv.Attribute.Single(a => a.Name == "epsilon").F);
        Assert.Equal(0.9f, conv.Attribute.Single(a => a.Name == "momentum").F); // ONNX's momentum is 1 - ρ
        Assert.DoesNotContain(conv.Attribute, a => a.Name == "training_mode");
        Assert.Single(conv.Output);
        // After the Gemm: on its [N, 6] output directly (C = 6 features), with ε and 1 - ρ of batchnorm:m0.01:e0.001.
        var dense = graph.Node[7];
        Assert.Equal(graph.Node[6].Output[0], dense.Input[0]);
        Assert.Equal([6L], graph.Initializer.Single(t => t.Name == dense.Input[1]).Dims);
        Assert.Equal(0.001f, dense.Attribute.Single(a => a.Name == "epsilon").F);
        Assert.Equal(0.99f, dense.Attribute.Single(a => a.Name == "momentum").F);
        // Dropout: the rate as its ratio input, no training_mode input (= inference), one output.
        var dropout = graph.Node[4];
        Assert.Equal(2, dropout.Input.Count);
        Assert.Equal([0.5], OnnxTensorData.Reals(graph.Initializer.Single(t => t.Name == dropout.Input[1]), out _));
        Assert.Single(dropout.Output);
        Assert.Empty(dropout.Attribute);
    }

    [Fact]
    public void BatchNormAndDropoutRoundTripInFloat()
    {
        var net = TrainedBatchNormNetwork<float>(floatExact: false);
        var back = OnnxImport.Read<float>(OnnxExport.ToBytes(net), "bn.onnx").Network;
        Assert.Equal("conv3x3x4:p0,batchnorm,relu,maxpool2,dropout0.5,flatten,dense6,batchnorm:m0.01:e0.001,relu,dense3", back.Spec);
        AssertSameOutputs(net, back, 1e-6);
    }

    [Fact]
    public void BatchNormAndDropoutRoundTripInDouble()
    {
        var net = TrainedBatchNormNetwork<double>(floatExact: true);
        var back = OnnxImport.Read<double>(OnnxExport.ToBytes(net), "bn.onnx").Network;
        var bn = (BatchNorm<double>)back.Layers[7];
        Assert.Equal(0.001, bn.Epsilon); // the float32 attribute read as the 0.001 it stands for, so double arithmetic agrees too
        Assert.Equal(0.01, bn.Momentum);
        AssertSameOutputs(net, back, 1e-12);
    }

    /// <summary>Both networks in evaluation mode give the same outputs on inputs around the training ones, within <paramref name="tolerance"/> (absolute, on outputs of order 1 to 10).</summary>
    private static void AssertSameOutputs<T>(Network<T> net, Network<T> back, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        net.Training = false;
        back.Training = false;
        const int n = 9;
        var x = Inputs<T>(net.InputShape, n, 11);
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(3) * x[i] + T.CreateChecked(2);
        T[] expected = net.Forward(x, n).ToArray();
        T[] actual = back.Forward(x, n).ToArray();
        double largest = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateChecked(expected[i]), a = double.CreateChecked(actual[i]);
            largest = Math.Max(largest, Math.Abs(e));
            Assert.True(Math.Abs(e - a) <= tolerance, $"output {i}: {e:R} exported, {a:R} imported ({back.Spec})");
        }
        Assert.InRange(largest, 0.1, 1e3); // outputs that carry the batch norms' effect, not zeros
    }

    /// <summary>Exports <paramref name="net"/>, imports it in float, and checks the outputs (after softmax when the export ends with it) agree.</summary>
    private static Network<float> AssertRoundTrip(Network<float> net, string loss)
    {
        var imported = OnnxImport.Read<float>(OnnxExport.ToBytes(net), "roundtrip.onnx", loss);
        Assert.Equal(OnnxExport.AppliesSoftmax(loss), imported.OutputIsProbabilities);
        var back = imported.Network;
        Assert.Equal(net.InputShape, back.InputShape);
        Assert.Equal(net.Classes, back.Classes);
        const int n = 7;
        var x = Inputs<float>(net.InputShape, n, 11);
        float[] expected = net.Forward(x, n).ToArray();
        float[] actual = back.Forward(x, n).ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"output {i}: {expected[i]} exported, {actual[i]} imported ({back.Spec})");
        return back;
    }
}
