// ImageDataSet: loading and cross-file validation, batches as pixel / 255 in NCHW order
// (checked against values computed here in double), zero allocation per batch, subsets.

using SharpCnn.Data;
using SharpCnn.Tensors;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class ImageDataSetTests : IDisposable
{
    private const int Count = 5, Rows = 3, Cols = 4;
    private static readonly byte[] SamplePixels = Pixels(Count, Rows, Cols);
    private static readonly byte[] SampleLabels = [7, 0, 9, 3, 3];
    private readonly IdxTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private static ImageDataSet Sample() => new(SamplePixels, SampleLabels, Rows, Cols);

    private (string Images, string Labels) WriteFiles(byte[] labels, int imageCount = Count)
    {
        string images = _files.Write("images-idx3-ubyte", Idx(Pixels(imageCount, Rows, Cols), imageCount, Rows, Cols));
        return (images, _files.Write("labels-idx1-ubyte.gz", Gzip(Idx(labels, labels.Length))));
    }

    [Fact]
    public void LoadsImagesAndLabels()
    {
        var (images, labels) = WriteFiles(SampleLabels);

        ImageDataSet set = ImageDataSet.Load(images, labels);

        Assert.Equal((Count, Rows, Cols, 10), (set.Count, set.Rows, set.Cols, set.Classes));
        Assert.Equal(new Shape(1, Rows, Cols), set.Shape);
        Assert.Equal(SampleLabels, set.Labels.ToArray());
        Assert.Equal(SamplePixels.AsSpan(2 * Rows * Cols, Rows * Cols).ToArray(), set.Image(2).ToArray());
        Assert.Equal(9, set.Label(2));
    }

    [Fact]
    public void CountMismatchNamesBothFiles()
    {
        var (images, labels) = WriteFiles([1, 2, 3, 4], imageCount: Count);

        var error = Assert.Throws<FileFormatException>(() => ImageDataSet.Load(images, labels));

        Assert.Equal(labels, error.FilePath);
        Assert.Equal(4, error.Offset);
        Assert.Contains(images, error.Message);
        Assert.Contains(labels, error.Message);
        Assert.Contains($"expected {Count} labels", error.Message);
        Assert.Contains("found 4", error.Message);
    }

    [Theory]
    [InlineData(10, 2, 10)]
    [InlineData(10, 4, 255)]
    [InlineData(3, 0, 3)]
    public void LabelOutOfRangeNamesFileOffsetAndValue(int classes, int badIndex, byte badValue)
    {
        byte[] labels = [0, 1, 2, 1, 0];
        labels[badIndex] = badValue;
        var (images, labelsPath) = WriteFiles(labels);

        var error = Assert.Throws<FileFormatException>(() => ImageDataSet.Load(images, labelsPath, classes));

        Assert.Equal(labelsPath, error.FilePath);
        Assert.Equal(8 + badIndex, error.Offset);
        Assert.Contains(labelsPath, error.Message);
        Assert.Contains($"expected labels below {classes}", error.Message);
        Assert.Contains($"found {badValue}", error.Message);
    }

    [Fact]
    public void ClassesIsAConstructorArgument()
    {
        var set = new ImageDataSet(SamplePixels, SampleLabels, Rows, Cols, classes: 26);
        Assert.Equal(26, set.Classes);
        Assert.Throws<ArgumentException>(() => new ImageDataSet(SamplePixels, SampleLabels, Rows, Cols, classes: 9));
        Assert.Throws<ArgumentException>(() => new ImageDataSet(SamplePixels, SampleLabels[..4], Rows, Cols));
    }

    [Fact]
    public void CopyBatchOfFloatIsPixelOver255InNchwOrder()
    {
        int[] indices = [4, 0, 4, 2];
        const float sentinel = -1f;
        var destination = new float[(indices.Length + 1) * Rows * Cols];
        Array.Fill(destination, sentinel);
        var labels = new int[indices.Length + 1];
        Array.Fill(labels, -1);

        Sample().CopyBatch<float>(indices, destination, labels);

        for (int k = 0; k < indices.Length; k++)
        {
            Assert.Equal(SampleLabels[indices[k]], labels[k]);
            for (int r = 0; r < Rows; r++)
                for (int c = 0; c < Cols; c++)
                {
                    byte pixel = SamplePixels[(indices[k] * Rows + r) * Cols + c];
                    Assert.Equal((float)(pixel / 255.0), destination[(k * Rows + r) * Cols + c]);
                }
        }
        Assert.All(destination[(indices.Length * Rows * Cols)..], v => Assert.Equal(sentinel, v));
        Assert.Equal(-1, labels[^1]);
    }

    [Fact]
    public void CopyBatchOfDoubleIsPixelOver255InNchwOrder()
    {
        int[] indices = [1, 3];
        var destination = new double[indices.Length * Rows * Cols];
        var labels = new int[indices.Length];

        Sample().CopyBatch<double>(indices, destination, labels);

        Assert.Equal([0, 3], labels);
        for (int k = 0; k < indices.Length; k++)
            for (int p = 0; p < Rows * Cols; p++)
                Assert.Equal(SamplePixels[indices[k] * Rows * Cols + p] / 255.0, destination[k * Rows * Cols + p]);
    }

    [Fact]
    public void CopyBatchCoversTheFullByteRange()
    {
        byte[] pixels = Enumerable.Range(0, 256).Select(p => (byte)p).ToArray();
        var set = new ImageDataSet(pixels, [0], 16, 16);
        var destination = new float[256];
        set.CopyBatch<float>([0], destination, new int[1]);
        Assert.Equal(0f, destination[0]);
        Assert.Equal(1f, destination[255]);
        for (int p = 0; p < 256; p++) Assert.Equal((float)(p / 255.0), destination[p]);
    }

    [Fact]
    public void CopyBatchAllocatesNothingAfterWarmUp()
    {
        ImageDataSet set = Sample();
        int[] indices = [3, 1, 4, 1];
        var floats = new float[indices.Length * Rows * Cols];
        var doubles = new double[indices.Length * Rows * Cols];
        var labels = new int[indices.Length];
        set.CopyBatch<float>(indices, floats, labels);
        set.CopyBatch<double>(indices, doubles, labels);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 1000; step++)
        {
            set.CopyBatch<float>(indices, floats, labels);
            set.CopyBatch<double>(indices, doubles, labels);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void CopyBatchRejectsBadIndicesAndShortBuffers()
    {
        ImageDataSet set = Sample();
        var destination = new float[2 * Rows * Cols];
        var labels = new int[2];
        Assert.Throws<ArgumentOutOfRangeException>(() => set.CopyBatch<float>([0, Count], destination, labels));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.CopyBatch<float>([-1], destination, labels));
        Assert.Throws<ArgumentException>(() => set.CopyBatch<float>([0, 1, 2], new float[3 * Rows * Cols - 1], new int[3]));
        Assert.Throws<ArgumentException>(() => set.CopyBatch<float>([0, 1], destination, new int[1]));
    }

    [Fact]
    public void SubsetAndTakeShareTheData()
    {
        ImageDataSet set = Sample();

        ImageDataSet middle = set.Subset(1, 3);
        Assert.Equal(3, middle.Count);
        Assert.Equal(SampleLabels[1..4], middle.Labels.ToArray());
        Assert.Equal(set.Image(3).ToArray(), middle.Image(2).ToArray());
        Assert.Equal(set.Shape, middle.Shape);

        var destination = new float[Rows * Cols];
        var labels = new int[1];
        middle.CopyBatch<float>([0], destination, labels);
        Assert.Equal(SampleLabels[1], labels[0]);
        Assert.Equal(SamplePixels[Rows * Cols] / 255.0, destination[0], 1e-7);

        Assert.Equal(2, set.Take(2).Count);
        Assert.Equal(Count, set.Take(100).Count);
        Assert.Equal(0, set.Subset(Count, 0).Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Subset(3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => middle.Image(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => middle.Label(3));
    }
}

public sealed class ImageDataSetColourTests
{
    private static ImageDataSet Colour(int count, int classes)
    {
        var shape = new SharpCnn.Tensors.Shape(3, 2, 3);
        var pixels = new byte[count * shape.Size];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 13 % 256);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % classes)).ToArray();
        return new ImageDataSet(pixels, labels, shape, classes, [.. Enumerable.Range(0, classes).Select(c => $"class{c}")]);
    }

    [Fact]
    public void ColourImagesAreServedChannelPlanarAsPixelOver255()
    {
        var data = Colour(4, 2);
        Assert.Equal((3, 2, 3), (data.Channels, data.Rows, data.Cols));
        var batch = new float[2 * 18];
        var labels = new int[2];
        data.CopyBatch<float>([3, 1], batch, labels);
        Assert.Equal([1, 1], labels);
        for (int p = 0; p < 18; p++)
        {
            Assert.Equal(data.Image(3)[p] / 255f, batch[p]);
            Assert.Equal(data.Image(1)[p] / 255f, batch[18 + p]);
        }
        Assert.Equal("class1", data.Subset(1, 2).ClassNames![1]);
        Assert.NotEqual(data.Fingerprint(), new ImageDataSet(data.Image(0).ToArray().Concat(data.Image(1).ToArray()).Concat(data.Image(2).ToArray()).Concat(data.Image(3).ToArray()).ToArray(), [0, 1, 0, 1], new SharpCnn.Tensors.Shape(1, 6, 3), 2).Fingerprint());
        Assert.Throws<ArgumentException>(() => data.WithClassNames(["only one"]));
    }

    [Fact]
    public void TheValidationSplitIsStratifiedSeededAndKeepsTheOrder()
    {
        var data = Colour(100, 4); // 25 of each class
        var (train, validation) = data.SplitValidation(0.2, seed: 7);
        Assert.Equal((80, 20), (train.Count, validation.Count));
        for (int c = 0; c < 4; c++) Assert.Equal(5, Enumerable.Range(0, 20).Count(i => validation.Label(i) == c));
        var again = data.SplitValidation(0.2, seed: 7);
        Assert.Equal(validation.Fingerprint(), again.Validation.Fingerprint());
        Assert.NotEqual(validation.Fingerprint(), data.SplitValidation(0.2, seed: 8).Validation.Fingerprint());
        // Every image lands in exactly one part, each part in the original order.
        var all = Enumerable.Range(0, 100).Select(i => Convert.ToHexString(data.Image(i))).ToList();
        var positions = Enumerable.Range(0, 80).Select(i => all.IndexOf(Convert.ToHexString(train.Image(i))))
            .Concat(Enumerable.Range(0, 20).Select(i => all.IndexOf(Convert.ToHexString(validation.Image(i))))).ToList();
        Assert.Equal(100, positions.Distinct().Count());
        Assert.True(positions.Take(80).SequenceEqual(positions.Take(80).Order()));
        Assert.Throws<ArgumentException>(() => data.Take(3).SplitValidation(0.1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.SplitValidation(1, 1));
    }

    [Fact]
    public void ChannelStatisticsAreExactPerChannel()
    {
        var shape = new SharpCnn.Tensors.Shape(2, 1, 2);
        var data = new ImageDataSet([0, 255, 10, 10, 255, 255, 30, 50], [0, 1], shape, 2);
        var stats = data.ChannelStatistics();
        Assert.Equal(0.75, stats.Mean[0], 15);
        Assert.Equal(Math.Sqrt(3) / 4, stats.Std[0], 15);
        Assert.Equal(25 / 255.0, stats.Mean[1], 15);
        Assert.Equal(Math.Sqrt(((15 * 15) + (15 * 15) + 25 + 625) / 4.0) / 255, stats.Std[1], 15);
    }
}
