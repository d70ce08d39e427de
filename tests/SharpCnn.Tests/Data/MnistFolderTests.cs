// MnistFolder: finds the four MNIST-named files under either official spelling, gzip or
// raw, and says exactly what it looked for when one is missing.

using SharpCnn.Data;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class MnistFolderTests : IDisposable
{
    private readonly IdxTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>Writes an images file of count 4x4 images and a labels file (label i = i mod 10); a ".gz" name gets gzip.</summary>
    private void WriteSet(string imagesName, string labelsName, int count)
    {
        Write(imagesName, Idx(Pixels(count, 4, 4), count, 4, 4));
        Write(labelsName, Idx(Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray(), count));
    }

    private void Write(string name, byte[] content) => _files.Write(name, name.EndsWith(".gz") ? Gzip(content) : content);

    [Fact]
    public void LoadsTheRepositoryCopyLikeTheEmbeddedOne()
    {
        var (train, test) = MnistFolder.Load(BundledDigitsTests.RepositoryDataFolder());
        var (bundledTrain, bundledTest) = BundledDigits.Load();

        Assert.Equal(bundledTrain.Count, train.Count);
        Assert.Equal(bundledTest.Count, test.Count);
        Assert.True(bundledTrain.Labels.SequenceEqual(train.Labels));
        Assert.True(bundledTest.Image(1234).SequenceEqual(test.Image(1234)));
    }

    [Fact]
    public void TheTrainingSetAloneIsTheSameAsTheTrainingHalfOfTheFolder()
    {
        string folder = BundledDigitsTests.RepositoryDataFolder();
        var alone = MnistFolder.LoadTrainingSet(folder);
        var (train, _) = MnistFolder.Load(folder);
        Assert.Equal(train.Count, alone.Count);
        Assert.True(train.Labels.SequenceEqual(alone.Labels));
        Assert.True(train.Image(7999).SequenceEqual(alone.Image(7999)));
        Assert.Throws<DirectoryNotFoundException>(() => MnistFolder.LoadTrainingSet(Path.Combine(folder, "missing")));
    }

    [Fact]
    public void AcceptsBothSpellingsWithAndWithoutGzip()
    {
        WriteSet("train-images.idx3-ubyte", "train-labels.idx1-ubyte.gz", 12);
        WriteSet("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", 3);

        var (train, test) = MnistFolder.Load(_files.Folder);

        Assert.Equal((12, 4, 4), (train.Count, train.Rows, train.Cols));
        Assert.Equal(3, test.Count);
        Assert.Equal(9, train.Label(9));
    }

    [Fact]
    public void MissingFileListsEveryNameLookedFor()
    {
        WriteSet("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 5);
        Write("t10k-images-idx3-ubyte.gz", Idx(Pixels(5, 4, 4), 5, 4, 4));
        Write("t10k-labels", Idx([1, 2, 3, 4, 5], 5)); // not an accepted name

        var error = Assert.Throws<FileNotFoundException>(() => MnistFolder.Load(_files.Folder));

        Assert.Contains(_files.Folder, error.Message);
        foreach (string name in new[] { "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte.gz", "t10k-labels.idx1-ubyte" })
            Assert.Contains(name, error.Message);
    }

    [Fact]
    public void MissingFolderIsReportedAsSuch()
    {
        string nowhere = Path.Combine(_files.Folder, "no-such-folder");
        var error = Assert.Throws<DirectoryNotFoundException>(() => MnistFolder.Load(nowhere));
        Assert.Contains(nowhere, error.Message);
    }
}
