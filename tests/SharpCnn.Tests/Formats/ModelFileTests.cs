using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Formats;

public sealed class ModelFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-modelfile-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static Network<T> Make<T>(string preset, ulong seed = 3) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = Presets.Find(preset)!;
        var net = ModelSpec.Parse(p.Spec).Build<T>(new Shape(1, 28, 28), p.Loss);
        Initializer.Apply(net.Layers, p.Init, new Rng(seed));
        return net;
    }

    [Theory]
    [InlineData("lenet5")]
    [InlineData("seed-fc2")]
    public void SaveThenLoadIsBitExact(string preset)
    {
        var net = Make<float>(preset);
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(net, path, new Dictionary<string, string> { ["note"] = "test" });
        var back = ModelFile.Load<float>(path);
        Assert.Equal(net.Spec, back.Spec);
        Assert.Equal(net.Loss.Name, back.Loss.Name);
        Assert.Equal(net.InputShape, back.InputShape);
        var a = net.Parameters.ToArray();
        var b = back.Parameters.ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i].Value, b[i].Value);
        Assert.Equal("test", ModelFile.ReadHeader(path).Metadata["note"]);

        // Same predictions on the same inputs.
        var x = Enumerable.Range(0, 3 * 784).Select(i => (i * 37 % 255) / 255f).ToArray();
        Assert.Equal(net.Forward(x, 3).ToArray(), back.Forward(x, 3).ToArray());
    }

    [Fact]
    public void BatchNormRunningStatisticsAreSavedWithTheModel()
    {
        var net = ModelSpec.Parse("conv3x3x4,batchnorm,relu,dropout0.5,flatten,dense10,batchnorm").Build<float>(new Shape(1, 28, 28));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(4));
        var x = Enumerable.Range(0, 3 * 784).Select(i => (i * 37 % 255) / 255f).ToArray();
        net.Forward(x, 3); // a training-mode pass moves the running statistics away from 0 and 1
        var state = net.Parameters.Where(p => p.Role == ParameterRole.State).ToArray();
        Assert.Equal(4, state.Length);
        Assert.Contains(state[0].Value, v => v != 0);
        string path = Path.Combine(dir, "bn.scnn");
        ModelFile.Save(net, path);
        var back = ModelFile.Load<float>(path);
        Assert.Equal(state.Select(p => p.Value), back.Parameters.Where(p => p.Role == ParameterRole.State).Select(p => p.Value));
        net.Training = false;
        back.Training = false;
        Assert.Equal(net.Forward(x, 3).ToArray(), back.Forward(x, 3).ToArray());
    }

    [Fact]
    public void DoubleModelsRoundTripAndLoadAsFloat()
    {
        var net = Make<double>("lenet5");
        string path = Path.Combine(dir, "d.scnn");
        ModelFile.Save(net, path);
        var same = ModelFile.Load<double>(path);
        var asFloat = ModelFile.Load<float>(path);
        var a = net.Parameters.First().Value;
        Assert.Equal(a, same.Parameters.First().Value);
        Assert.Equal(a.Select(v => (float)v), asFloat.Parameters.First().Value);
        Assert.Equal("float64", ModelFile.ReadHeader(path).Precision);
    }

    [Fact]
    public void SavingOverAnExistingFileReplacesItWhole()
    {
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(Make<float>("lenet5", 1), path);
        ModelFile.Save(Make<float>("seed-fc2", 2), path);
        Assert.Equal(Presets.Find("seed-fc2")!.Spec, ModelFile.ReadHeader(path).Spec);
        Assert.Single(Directory.GetFiles(dir)); // no temporary file left behind
    }

    [Fact]
    public void EveryFlippedByteIsCaught()
    {
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(Make<float>("seed-fc1"), path);
        byte[] good = File.ReadAllBytes(path);
        var rng = new Rng(5);
        for (int trial = 0; trial < 200; trial++)
        {
            var bad = (byte[])good.Clone();
            int at = rng.NextInt(bad.Length);
            bad[at] ^= (byte)(1 + rng.NextInt(255));
            string badPath = Path.Combine(dir, "bad.scnn");
            File.WriteAllBytes(badPath, bad);
            var e = Assert.Throws<FileFormatException>(() => ModelFile.Load<float>(badPath));
            Assert.Contains("bad.scnn", e.Message);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(12)]
    [InlineData(30)]
    [InlineData(-1)]
    public void TruncatedFilesAreRejectedWithTheFileNamed(int keep)
    {
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(Make<float>("seed-fc1"), path);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(keep < 0 ? bytes.Length - 1 : keep)]);
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load<float>(path));
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void NotAModelFileSaysSo()
    {
        string path = Path.Combine(dir, "x.scnn");
        File.WriteAllText(path, "this is some text that is not a model file at all");
        Assert.Contains("not a SharpCnn model file", Assert.Throws<FileFormatException>(() => ModelFile.Load<float>(path)).Message);
    }
}
