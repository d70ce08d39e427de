using SharpCnn.Cli;
using SharpCnn.Formats;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Tensors;

/// <summary>Precision names are read and written in one place: files strictly, people in every usual spelling.</summary>
public sealed class PrecisionTests
{
    [Fact]
    public void EachPrecisionHasItsTypeFileNameAndSize()
    {
        Assert.Equal(Precision.Float32, Precisions.Of<float>());
        Assert.Equal(Precision.Float64, Precisions.Of<double>());
        Assert.Contains("float or double, not Half", Assert.Throws<NotSupportedException>(() => Precisions.Of<Half>()).Message);
        Assert.Equal(("float32", "float", 4), (Precision.Float32.FileName(), Precision.Float32.TypeName(), Precision.Float32.Size()));
        Assert.Equal(("float64", "double", 8), (Precision.Float64.FileName(), Precision.Float64.TypeName(), Precision.Float64.Size()));
    }

    [Theory]
    [InlineData("float32", Precision.Float32)]
    [InlineData("float64", Precision.Float64)]
    public void FilesNameThePrecisionExactly(string text, Precision expected)
    {
        Assert.True(Precisions.TryParseFileName(text, out var precision));
        Assert.Equal(expected, precision);
        Assert.Equal(text, precision.FileName());
    }

    [Theory]
    [InlineData("float")]
    [InlineData("double")]
    [InlineData("Float32")]
    [InlineData("float16")]
    [InlineData("")]
    [InlineData(null)]
    public void AFileNamingAnythingElseIsNotRead(string? text) => Assert.False(Precisions.TryParseFileName(text, out _));

    [Theory]
    [InlineData("float", Precision.Float32)]
    [InlineData("FLOAT32", Precision.Float32)]
    [InlineData("single", Precision.Float32)]
    [InlineData(" double ", Precision.Float64)]
    [InlineData("Float64", Precision.Float64)]
    public void PeopleMayTypeEveryUsualSpelling(string text, Precision expected)
    {
        Assert.Equal(expected, Precisions.Parse(text));
        Assert.Equal(expected, PrecisionOption.Parse(text));
    }

    [Theory]
    [InlineData("half")]
    [InlineData("")]
    [InlineData("float 32")]
    public void AnythingElseIsRefusedByName(string text)
    {
        Assert.False(Precisions.TryParse(text, out _));
        Assert.Contains($"unknown precision '{text}'; expected float or double", Assert.Throws<ArgumentException>(() => Precisions.Parse(text)).Message);
        Assert.Equal($"--precision must be float or double, not '{text}'", Assert.Throws<ArgumentException>(() => PrecisionOption.Parse(text)).Message);
    }

    [Fact]
    public void ModelFilesStillWriteTheSameNames()
    {
        string dir = Directory.CreateTempSubdirectory("sharpcnn-precision-").FullName;
        try
        {
            string single = Path.Combine(dir, "f.scnn"), twice = Path.Combine(dir, "d.scnn");
            ModelFile.Save(ModelFactory.FromSpec<float>("flatten,dense3", new Shape(1, 4, 4)), single);
            ModelFile.Save(ModelFactory.FromSpec<double>("flatten,dense3", new Shape(1, 4, 4)), twice);
            Assert.Equal(("float32", Precision.Float32), (ModelFile.ReadHeader(single).Precision, ModelFile.ReadHeader(single).StoredPrecision));
            Assert.Equal(("float64", Precision.Float64), (ModelFile.ReadHeader(twice).Precision, ModelFile.ReadHeader(twice).StoredPrecision));
            Assert.Contains("\"precision\":\"float64\"", File.ReadAllText(twice, System.Text.Encoding.Latin1));
            Assert.Equal("float32", ModelFile.PrecisionName<float>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
