using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Model;
using SharpCnn.Tensors;
using Google.Protobuf;

namespace SharpCnn.Tests.Formats;

/// <summary>Class names travel with a model: model files, checkpoints' model part, ONNX metadata.</summary>
public sealed class ClassNamesTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-names-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static Network<float> Net(params string[]? names)
    {
        var net = ModelSpec.Parse("flatten,dense3").Build<float>(new Shape(1, 2, 2));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(1));
        net.ClassNames = names;
        return net;
    }

    [Fact]
    public void ANetworkTakesOneNonEmptyNamePerClass()
    {
        Assert.Equal(["cat", "dog", "T-shirt/top"], Net("cat", "dog", "T-shirt/top").ClassNames);
        Assert.Throws<ArgumentException>(() => Net("cat", "dog"));
        Assert.Throws<ArgumentException>(() => Net("cat", " ", "dog"));
        Assert.Null(Net(null).ClassNames);
    }

    [Fact]
    public void ModelFilesKeepThemAndStayReadableWithout()
    {
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(Net("cat", "dog", "émeu"), path);
        Assert.Equal(["cat", "dog", "émeu"], ModelFile.Load<double>(path).ClassNames);
        Assert.Equal(["cat", "dog", "émeu"], ModelFile.ReadHeader(path).ClassNames!);
        ModelFile.Save(Net(null), path);
        Assert.Null(ModelFile.Load<float>(path).ClassNames);
        Assert.DoesNotContain("class_names", System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(path))); // no member when there are none
    }

    [Fact]
    public void AModelFileWhoseNamesDoNotFitItsOutputsIsRefused()
    {
        string path = Path.Combine(dir, "m.scnn");
        ModelFile.Save(Net("a", "b", "c"), path);
        byte[] bytes = File.ReadAllBytes(path);
        string text = System.Text.Encoding.Latin1.GetString(bytes);
        byte[] changed = System.Text.Encoding.Latin1.GetBytes(text.Replace("\"class_names\":[\"a\",\"b\",\"c\"]", "\"class_names\":[\"a\",\"b\",\"\" ]")); // same length
        Assert.Equal(bytes.Length, changed.Length);
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load<float>(Hostile.ModelBytes.Reseal(changed), "m.scnn"));
        Assert.Contains("expected every class name to be a non-empty string", e.Message);
    }

    [Fact]
    public void OnnxExportsWriteThemAsMetadataAndImportsReadThemBack()
    {
        var net = Net("cat", "dog", "bird");
        var model = OnnxExport.Build(net, null);
        Assert.Equal("[\"cat\",\"dog\",\"bird\"]", model.MetadataProps.Single(p => p.Key == OnnxExport.ClassNamesKey).Value);
        Assert.Equal(["cat", "dog", "bird"], OnnxImport.Read<float>(model.ToByteArray(), "m.onnx").Network.ClassNames);
        model.MetadataProps.Single(p => p.Key == OnnxExport.ClassNamesKey).Value = "[\"cat\"]";
        Assert.Contains("does not name each of the model's 3 classes", Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(model.ToByteArray(), "m.onnx")).Message);
        model.MetadataProps.Single(p => p.Key == OnnxExport.ClassNamesKey).Value = "{not json";
        Assert.Contains("is not a JSON array of strings", Assert.Throws<FileFormatException>(() => OnnxImport.Read<float>(model.ToByteArray(), "m.onnx")).Message);
    }
}
