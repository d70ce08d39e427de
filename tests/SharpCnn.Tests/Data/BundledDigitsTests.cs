// BundledDigits: the 10,000 embedded MNIST digits. Expected values are hard-coded from a hex
// dump of data/mnist-10k, and the whole content is compared with the repository's files
// decoded here by plain byte offsets (16-byte images header, 8-byte labels header).

using System.Buffers.Binary;
using SharpCnn.Data;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class BundledDigitsTests
{
    private const int Side = 28;

    internal static string RepositoryDataFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SharpCnn.slnx")))
                return Path.Combine(dir.FullName, "data", "mnist-10k");
        }
        throw new DirectoryNotFoundException($"no SharpCnn.slnx above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void LoadsEightThousandTrainingAndTwoThousandTestDigits()
    {
        var (train, test) = BundledDigits.Load();

        Assert.Equal((8000, Side, Side, 10), (train.Count, train.Rows, train.Cols, train.Classes));
        Assert.Equal((2000, Side, Side, 10), (test.Count, test.Rows, test.Cols, test.Classes));
        Assert.Equal((BundledDigits.TrainCount, BundledDigits.TestCount), (train.Count, test.Count));
    }

    [Fact]
    public void EveryClassIsPresentInTheCountsOfTheFiles()
    {
        var (train, test) = BundledDigits.Load();
        Assert.Equal([810, 913, 786, 805, 799, 685, 807, 862, 745, 788], ClassCounts(train));
        Assert.Equal([191, 214, 205, 227, 181, 178, 207, 208, 199, 190], ClassCounts(test));
    }

    private static int[] ClassCounts(ImageDataSet set)
    {
        var counts = new int[10];
        foreach (byte label in set.Labels) counts[label]++; // a label >= 10 would throw here
        return counts;
    }

    [Fact]
    public void SpotChecksFromAHexDump()
    {
        var (train, test) = BundledDigits.Load();

        Assert.Equal([8, 0, 2, 0, 0, 0, 9, 6], train.Labels[..8].ToArray());
        Assert.Equal(6, train.Label(7999));
        Assert.Equal([9, 8, 7, 4, 2, 6, 9, 9], test.Labels[..8].ToArray());
        Assert.Equal(9, test.Label(1999));

        // First non-blank row of train image 0 is row 5: columns 18-20 are 30, 77, 25.
        Assert.All(train.Image(0)[..(5 * Side)].ToArray(), p => Assert.Equal(0, p));
        Assert.Equal([0, 30, 77, 25, 0], train.Image(0).Slice(5 * Side + 17, 5).ToArray());
        Assert.Equal([58, 242, 239, 23], train.Image(7999).Slice(2 * Side + 14, 4).ToArray());
        Assert.Equal([25, 130, 207, 254], test.Image(1999).Slice(6 * Side + 12, 4).ToArray());
    }

    [Fact]
    public void BatchesOfBundledDigitsAreScaledPixels()
    {
        var (train, _) = BundledDigits.Load();
        var batch = new float[2 * Side * Side];
        var labels = new int[2];

        train.CopyBatch<float>([7999, 0], batch, labels);

        Assert.Equal([6, 8], labels);
        Assert.Equal(242 / 255f, batch[2 * Side + 15]);
        Assert.Equal(77 / 255f, batch[Side * Side + 5 * Side + 19]);
    }

    [Theory]
    [InlineData("train", 8000)]
    [InlineData("t10k", 2000)]
    public void EmbeddedDataEqualsTheRepositoryFiles(string prefix, int count)
    {
        var (train, test) = BundledDigits.Load();
        ImageDataSet set = prefix == "train" ? train : test;
        byte[] images = Gunzip(File.ReadAllBytes(Path.Combine(RepositoryDataFolder(), $"{prefix}-images-idx3-ubyte.gz")));
        byte[] labels = Gunzip(File.ReadAllBytes(Path.Combine(RepositoryDataFolder(), $"{prefix}-labels-idx1-ubyte.gz")));

        Assert.Equal(0x00000803, BinaryPrimitives.ReadInt32BigEndian(images));
        Assert.Equal(count, BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4)));
        Assert.Equal(16 + count * Side * Side, images.Length);
        Assert.Equal(0x00000801, BinaryPrimitives.ReadInt32BigEndian(labels));
        Assert.Equal(8 + count, labels.Length);

        Assert.True(labels.AsSpan(8).SequenceEqual(set.Labels));
        for (int k = 0; k < count; k++)
        {
            if (!images.AsSpan(16 + k * Side * Side, Side * Side).SequenceEqual(set.Image(k)))
                Assert.Fail($"{prefix} image {k} differs from the file");
        }
    }

    [Fact]
    public void AttributionNamesTheSourceAndLicence()
    {
        Assert.Contains("MNIST", BundledDigits.Attribution);
        Assert.Contains("CC BY-SA 3.0", BundledDigits.Attribution);
    }
}
