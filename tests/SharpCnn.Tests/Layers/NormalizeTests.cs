using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using static SharpCnn.Tests.Formats.Onnx.OnnxTestModel;

namespace SharpCnn.Tests.Layers;

public sealed class NormalizeTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-normalize-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static Normalize<double> Built(Shape shape, double[] mean, double[] std, int batch = 3)
    {
        var layer = new Normalize<double>();
        layer.Build(shape);
        layer.Reserve(batch);
        layer.SetStatistics(mean, std);
        return layer;
    }

    [Theory]
    [InlineData(3, 4, 5, 2)]   // colour maps
    [InlineData(1, 6, 6, 3)]   // grey maps
    [InlineData(7, 1, 1, 2)]   // a vector: one (mean, std) per feature
    public void GradientCheckPasses(int c, int h, int w, int n)
    {
        var rng = new Rng(5);
        var layer = Built(new Shape(c, h, w), RandomTensors.Normal(rng, c), [.. RandomTensors.Normal(rng, c).Select(v => 0.2 + Math.Abs(v))], n);
        var report = GradientAssert.Layer(layer, new Shape(c, h, w), n);
        Assert.Equal(n * c * h * w, report.Tensors.Single().Checked); // only the input: mean and std are not trained
    }

    [Fact]
    public void SubtractsEachChannelsMeanAndDividesByItsStd()
    {
        var shape = new Shape(3, 2, 2);
        var layer = Built(shape, [0.5, 0.25, 0], [0.5, 2, 0.1], batch: 2);
        var x = RandomTensors.Normal(new Rng(2), 2 * shape.Size);
        var y = new double[x.Length];
        var dy = RandomTensors.Normal(new Rng(3), x.Length);
        var dx = new double[x.Length];
        layer.Forward(x, y, 2);
        layer.Backward(x, y, dy, dx, 2);
        double[] m = [0.5, 0.25, 0], s = [0.5, 2, 0.1];
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / 4 % 3;
            Assert.Equal((x[i] - m[c]) / s[c], y[i]);
            Assert.Equal(dy[i] / s[c], dx[i]);
        }
    }

    [Fact]
    public void UntilSetItIsTheIdentityAndAConstantChannelIsOnlyShifted()
    {
        var layer = new Normalize<float>();
        layer.Build(new Shape(2, 1, 3));
        Initializer.Apply([layer], InitScheme.He, new Rng(1));
        Assert.Equal([0f, 0f], layer.Mean.Value);
        Assert.Equal([1f, 1f], layer.Std.Value);
        Assert.Equal(0, layer.ParameterCount); // state, not trained
        layer.SetStatistics([0.5], [0.0]);
        Assert.Equal([0.5f, 0.5f], layer.Mean.Value);
        Assert.Equal([1f, 1f], layer.Std.Value);
        Assert.Throws<ArgumentException>(() => layer.SetStatistics([0.1, 0.2, 0.3], [1]));
        Assert.Throws<ArgumentException>(() => layer.SetStatistics([0.1], [-1]));
        Assert.Throws<ArgumentException>(() => layer.SetStatistics([double.NaN], [1]));
    }

    [Fact]
    public void ADataSetsChannelStatisticsNormaliseItToMeanZeroAndStdOne()
    {
        // Three channels with different levels: after the layer each has mean 0 and (population) std 1.
        var rng = new Rng(9);
        var shape = new Shape(3, 4, 4);
        var pixels = new byte[20 * shape.Size];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i / 16 % 3 * 60 + rng.NextInt(90));
        var data = new ImageDataSet(pixels, new byte[20], shape, 2);
        var stats = data.ChannelStatistics();
        var net = ModelSpec.Parse("normalize,flatten,dense2").Build<double>(shape);
        ((Normalize<double>)net.Layers[0]).SetStatistics([.. stats.Mean], [.. stats.Std]);
        net.Reserve(20);
        data.CopyBatch<double>([.. Enumerable.Range(0, 20)], net.Input(20), new int[20]);
        net.Forward(20);
        var y = net.Activation(1, 20).ToArray();
        for (int c = 0; c < 3; c++)
        {
            var values = Enumerable.Range(0, 20).SelectMany(s => y.AsSpan(s * shape.Size + c * 16, 16).ToArray()).ToArray();
            double mean = values.Average(), std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
            Assert.Equal(0, mean, 12);
            Assert.Equal(1, std, 12);
        }
    }

    [Fact]
    public void TheStatisticsAreSavedWithTheModelAndAZeroStdIsRefusedOnLoad()
    {
        var net = ModelSpec.Parse("normalize,conv3x3x2,relu,flatten,dense3").Build<float>(new Shape(3, 5, 5));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(4));
        ((Normalize<float>)net.Layers[0]).SetStatistics([0.49, 0.48, 0.45], [0.25, 0.24, 0.26]);
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(net, path);
        var back = ModelFile.Load<float>(path);
        Assert.Equal(((Normalize<float>)net.Layers[0]).Mean.Value, ((Normalize<float>)back.Layers[0]).Mean.Value);
        Assert.Equal(((Normalize<float>)net.Layers[0]).Std.Value, ((Normalize<float>)back.Layers[0]).Std.Value);

        ((Normalize<float>)net.Layers[0]).Std.Value[1] = 0; // only possible by hand: SetStatistics turns 0 into 1
        ModelFile.Save(net, path);
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load<float>(path));
        Assert.Contains("layer 1 'normalize'", e.Message);
        Assert.Contains("std[1] is 0", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OnnxExportIsSubThenDivAndImportsBackAsTheSameLayer(bool flat)
    {
        string spec = flat ? "flatten,normalize,dense3" : "normalize,conv3x3x2:p0,relu,flatten,dense3"; // conv imports back with explicit padding
        var net = ModelSpec.Parse(spec).Build<float>(new Shape(3, 4, 4));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(8));
        var normalize = (Normalize<float>)net.Layers.First(l => l is Normalize<float>);
        normalize.SetStatistics(flat ? [.. Enumerable.Range(0, 48).Select(i => i / 100.0)] : [0.49, 0.48, 0.45], flat ? [.. Enumerable.Range(0, 48).Select(i => 0.2 + i / 200.0)] : [0.25, 0.24, 0.26]);
        var model = OnnxExport.Build(net, null);
        Assert.Equal(["Sub", "Div"], model.Graph.Node.Select(n => n.OpType).Where(o => o is "Sub" or "Div"));
        var imported = OnnxImport.Read<float>(OnnxExport.ToBytes(net), "n.onnx");
        Assert.Equal(net.Spec, imported.Network.Spec);
        var back = (Normalize<float>)imported.Network.Layers.First(l => l is Normalize<float>);
        Assert.Equal(normalize.Mean.Value, back.Mean.Value);
        Assert.Equal(normalize.Std.Value, back.Std.Value);
        var x = RandomTensors.ToFloat(RandomTensors.Normal(new Rng(1), 2 * 48));
        Assert.Equal(net.Forward(x, 2).ToArray(), imported.Network.Forward(x, 2).ToArray());
    }

    [Fact]
    public void ASubOrADivAloneImportsAsHalfANormalisation()
    {
        var m = new Formats.Onnx.OnnxTestModel(13, 2, 1, 1);
        m.Floats("m", [1, 2, 1, 1], 0.5f, 0.25f);
        m.Floats("s", [], 4f);
        m.Node("Div", ["x", "s"], "d");
        m.Node("Sub", ["d", "m"], "y");
        m.Node("Flatten", ["y"], "f", Int("axis", 1));
        m.Output("f");
        var imported = OnnxImport.Read<double>(m.Bytes(), "t.onnx", "mse");
        Assert.Equal("normalize,normalize,flatten", imported.Network.Spec);
        var x = new double[] { 1, 2 };
        Assert.Equal([1 / 4.0 - 0.5, 2 / 4.0 - 0.25], imported.Network.Forward(x, 1).ToArray());
    }

    [Theory]
    [InlineData("Div", "0", "divides by 0 in channel 0")]
    [InlineData("Sub", "swap", "reads the activation 'x' as input 2, not as its data input 1")]
    [InlineData("Sub", "spatial", "which is not one value per channel")]
    [InlineData("Div", "last-axis", "which is not one value per channel")] // [C] broadcasts over the last axis (W) in ONNX, not over channels
    public void ImportRefusesWhatIsNotAPerChannelNormalisation(string op, string variant, string expected)
    {
        var m = new Formats.Onnx.OnnxTestModel(13, 2, 2, 2);
        if (variant == "spatial") m.Floats("c", [1, 1, 2, 2], 1, 2, 3, 4);
        else if (variant == "last-axis") m.Floats("c", [2], 1, 2);
        else m.Floats("c", [1, 2, 1, 1], variant == "0" ? 0f : 1f, 2f);
        m.Node(op, variant == "swap" ? ["c", "x"] : ["x", "c"], "y");
        m.Node("Flatten", ["y"], "f", Int("axis", 1));
        m.Output("f");
        var e = Assert.Throws<FileFormatException>(() => OnnxImport.Read<double>(m.Bytes(), "t.onnx"));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), e.Message);
    }
}
