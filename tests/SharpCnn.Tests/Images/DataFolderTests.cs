using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Tensors;
using SharpCnn.Tests.Data;

namespace SharpCnn.Tests.Images;

public sealed class DataFolderTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("sharpcnn-data-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void TheKindOfDataIsToldFromTheFiles()
    {
        string idx = Directory.CreateDirectory(Path.Combine(root, "idx")).FullName;
        File.WriteAllBytes(Path.Combine(idx, "t10k-images-idx3-ubyte"), IdxTestFiles.Idx(IdxTestFiles.Pixels(2, 3, 3), 2, 3, 3));
        Assert.Equal(DataSourceKind.Idx, DataFolder.Detect(idx));
        Assert.Equal(DataSourceKind.Cifar10, DataFolder.Detect(CifarFolderTests.WriteCifar10(Path.Combine(root, "c10", "cifar-10-batches-bin"))[..^"/cifar-10-batches-bin".Length]));
        string c100 = Directory.CreateDirectory(Path.Combine(root, "c100")).FullName;
        File.WriteAllBytes(Path.Combine(c100, "test.bin"), CifarFolderTests.Records(1, _ => [1, 2]));
        Assert.Equal(DataSourceKind.Cifar100, DataFolder.Detect(c100));
        ImageFolderTests.WriteDigits(Path.Combine(root, "pictures"), 0, 12);
        Assert.Equal(DataSourceKind.ImageFolder, DataFolder.Detect(Path.Combine(root, "pictures")));
        string empty = Directory.CreateDirectory(Path.Combine(root, "empty")).FullName;
        Assert.Contains("found no data: expected MNIST-format IDX files", Assert.Throws<FileNotFoundException>(() => DataFolder.Detect(empty)).Message);
        Assert.Contains("no such folder", Assert.Throws<DirectoryNotFoundException>(() => DataFolder.Detect(Path.Combine(root, "nope"))).Message);
    }

    [Fact]
    public void ASelectionIsLoadedShapedLimitedAndSplit()
    {
        CifarFolderTests.WriteCifar10(root, perBatch: 20);
        var all = DataFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal((DataSourceKind.Cifar10, 100, 4), (all.Kind, all.Train!.Count, all.Test!.Count));
        Assert.Null(all.Validation);
        var shaped = DataFolder.Load(new DataSelection { Source = root, Channels = 1, Width = 16, Height = 16, TrainLimit = 60, TestLimit = 2, ValidationFraction = 0.25, ValidationSeed = 3 }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(new Shape(1, 16, 16), shaped.Train!.Shape);
        Assert.Equal((40, 20, 2), (shaped.Train.Count, shaped.Validation!.Count, shaped.Test!.Count)); // 6 per class: round(0.25 · 6) = 2 held out
        Assert.Equal(all.Train.ClassNames, shaped.Validation.ClassNames);
        Assert.Equal(60 + 2, shaped.Converted); // what the limits keep
        var testOnly = DataFolder.Load(new DataSelection { Source = root }, DataParts.Test, cancellation: TestContext.Current.CancellationToken);
        Assert.Null(testOnly.Train);
        Assert.Equal(all.Test.Fingerprint(), testOnly.Test!.Fingerprint());
    }

    [Fact]
    public void TheBundledDigitsAreTheDefaultAndAnImageFolderWithoutTestIsAllTestForEval()
    {
        var bundled = DataFolder.Load(new DataSelection { TrainLimit = 100 }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal((DataSourceKind.Bundled, 100, 2000), (bundled.Kind, bundled.Train!.Count, bundled.Test!.Count));
        ImageFolderTests.WriteDigits(root, 0, 25);
        var forEval = DataFolder.Load(new DataSelection { Source = root }, DataParts.Test, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(25, forEval.Test!.Count);
        var forTraining = DataFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken);
        Assert.Null(forTraining.Test);
        Assert.Contains("must be at least 0 and below 1", Assert.Throws<ArgumentException>(() => DataFolder.Load(new DataSelection { ValidationFraction = 1 }, cancellation: TestContext.Current.CancellationToken)).Message);
    }
}
