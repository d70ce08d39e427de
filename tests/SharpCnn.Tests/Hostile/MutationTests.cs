// At least 10,000 mutated files per reader, each read fine or rejected with a
// FileFormatException naming it, never another exception, never a large allocation.
// SHARPCNN_MUTATION_SEED=n explores another part of the space (the default is fixed so a
// failure reproduces); FsCheck prints the shrunk failing case.

using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Training;
using SharpCnn.Formats.Onnx;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Hostile;

public sealed class MutationTests(ITestOutputHelper output)
{
    private const int Cases = 10_000;

    private static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("SHARPCNN_MUTATION_SEED"), out ulong s) ? s : 20_240_607;

    private static readonly IdxArray GoodImages = IdxReader.Read(new MemoryStream(IdxCorpus.Images), "images", 3);

    private static IReadOnlyList<byte[]> WithDeflate(IReadOnlyList<byte[]> seeds) =>
        [.. seeds, .. seeds.Where(s => s[0] == 0).Select(Gzip)]; // real deflate blocks too, not only the corpus's stored ones

    internal static IEnumerable<MutationTarget> Targets()
    {
        yield return new("IDX images", (b, n) => IdxReader.Read(new MemoryStream(b, writable: false), n, 3),
            WithDeflate(MutationTarget.CorpusSeeds("idx-images")), ContentLength: MutationTarget.GzipContentLength);
        yield return new("IDX labels", (b, n) => IdxReader.Read(new MemoryStream(b, writable: false), n, 1),
            WithDeflate(MutationTarget.CorpusSeeds("idx-labels")), ContentLength: MutationTarget.GzipContentLength);
        yield return new("MNIST labels for images", (b, n) => ImageDataSet.FromIdx(GoodImages, IdxReader.Read(new MemoryStream(b, writable: false), n, 1)),
            MutationTarget.CorpusSeeds("mnist-labels:" + IdxCorpus.GoodImages));
        yield return new("model files", (b, n) => ModelFile.Load<float>(b, n),
            [.. MutationTarget.CorpusSeeds("model"), .. MutationTarget.CorpusSeeds("model-double")], ModelBytes.Reseal);
        yield return new("checkpoints", (b, n) => CheckpointFile.Load<float>(b, n), MutationTarget.CorpusSeeds("checkpoint"), ModelBytes.Reseal);
        yield return new("ONNX models", (b, n) => OnnxImport.Read<float>(b, n),
            [.. MutationTarget.CorpusSeeds("onnx"), File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Formats", "Onnx", "Fixtures", "pytorch-variants.onnx"))]);
        var png = MutationTarget.CorpusSeeds("png");
        yield return new("PNG images", (b, n) => PngReader.Decode(b, n), [.. png, .. png.Select(PngBytes.Recompressed)], PngBytes.Reseal, PngBytes.DecodedLength);
        yield return new("CIFAR-10 batches", (b, n) => CifarFolder.ReadBatch(b, n, labelBytes: 1, labelIndex: 0, classes: 10), MutationTarget.CorpusSeeds("cifar10"));
        yield return new("CIFAR-100 batches", (b, n) => CifarFolder.ReadBatch(b, n, labelBytes: 2, labelIndex: 1, classes: 100), MutationTarget.CorpusSeeds("cifar100-fine"));
        // Through SharpCnn.Images' SkiaSharp decoder, one target per format (the allocation bound counts managed
        // memory: the pixel buffers are managed, Skia's own working memory is not visible to it).
        foreach (var (format, seeds) in new[]
        {
            ("JPEG", new[] { ImageCorpus.JpegGrey, ImageCorpus.JpegColour }),
            ("WebP", new[] { ImageCorpus.WebPLossy, ImageCorpus.WebPLossless }),
            ("BMP", new[] { ImageCorpus.Bmp }),
            ("GIF", new[] { ImageCorpus.Gif }),
            ("PNG", new[] { ImageCorpus.PngRgba, PngCorpus.Grey8(), PngCorpus.Palette4() }),
        })
            yield return new($"{format} images (SkiaSharp)", (b, n) => SharpCnn.Images.ImageDecoder.Decode(b, n), seeds, ContentLength: ImageCorpus.DecodedLength);
    }

    public static TheoryData<string> TargetNames() => [.. Targets().Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(TargetNames))]
    public void MutatedFilesAreReadOrRejectedWithFileFormatException(string name)
    {
        var target = Targets().Single(t => t.Name == name);
        var report = MutationHarness.Run(target, Cases, Seed);
        output.WriteLine($"{name}: {report}");
        Assert.Equal(Cases, report.Cases);
        // Not vacuous: mutations both break files and leave some readable (e.g. changed pixels or weights).
        Assert.InRange(report.Rejected, Cases / 4, Cases - 1);
        Assert.InRange(report.Accepted, 1, Cases);
        Assert.InRange(report.Problems.Count, 5, int.MaxValue);
    }
}
