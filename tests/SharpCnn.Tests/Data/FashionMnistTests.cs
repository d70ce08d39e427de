using SharpCnn.Data;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class FashionMnistTests : IDisposable
{
    private readonly IdxTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private static readonly byte[] TrainStart = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4];
    private static readonly byte[] TestStart = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0];

    private static ImageDataSet Set(int count, byte[] start)
    {
        var labels = new byte[count];
        start.CopyTo(labels, 0);
        return new ImageDataSet(new byte[count * 784], labels, 28, 28);
    }

    [Fact]
    public void RecognisesTheOfficialSetsByCountAndFirstLabels()
    {
        Assert.True(FashionMnist.Matches(Set(60_000, TrainStart), Set(10_000, TestStart)));
        Assert.False(FashionMnist.Matches(Set(60_000, TrainStart), Set(10_000, TrainStart)));
        Assert.False(FashionMnist.Matches(Set(59_999, TrainStart), Set(10_000, TestStart)));
        var (train, test) = BundledDigits.Load();
        Assert.False(FashionMnist.Matches(train, test));
    }

    [Fact]
    public void DebiansFileNamesAreTheMnistNames()
    {
        // dataset-fashion-mnist installs train-images-idx3-ubyte.gz etc.: the first names MnistFolder tries.
        foreach (var (stem, dims) in new[] { ("train-images", 3), ("train-labels", 1), ("t10k-images", 3), ("t10k-labels", 1) })
        {
            string debianName = $"{stem}-idx{dims}-ubyte.gz";
            Assert.Equal(debianName, MnistFolder.CandidateNames(stem, dims)[0]);
            var content = dims == 3 ? Idx(Pixels(2, 28, 28), 2, 28, 28) : Idx([1, 2], 2);
            _files.Write(debianName, Gzip(content));
        }
        var (loadedTrain, loadedTest) = FashionMnist.Load(_files.Folder);
        Assert.Equal(2, loadedTrain.Count);
        Assert.Equal(2, loadedTest.Count);
        Assert.Equal(10, FashionMnist.ClassNames.Count);
    }

    [Fact]
    public void AMissingFolderSaysHowToInstallIt()
    {
        string missing = Path.Combine(_files.Folder, "nope");
        var e = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Load(missing));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains(missing, e.Message);
    }
}
