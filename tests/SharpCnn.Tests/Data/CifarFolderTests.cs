using SharpCnn.Data;

namespace SharpCnn.Tests.Data;

/// <summary>The CIFAR readers on files written byte by byte in the documented layout (the real sets are not here).</summary>
public sealed class CifarFolderTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-cifar-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Record i: its label bytes, then pixel p of plane c = (i·7 + c·50 + p) mod 251.</summary>
    internal static byte[] Records(int count, Func<int, byte[]> labels)
    {
        var bytes = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            bytes.AddRange(labels(i));
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 1024; p++) bytes.Add(Pixel(i, c, p));
        }
        return [.. bytes];
    }

    internal static byte Pixel(int record, int channel, int p) => (byte)((record * 7 + channel * 50 + p) % 251);

    /// <summary>A CIFAR-10 folder: five training batches of <paramref name="perBatch"/> records, a test batch and the names.</summary>
    internal static string WriteCifar10(string folder, int perBatch = 3)
    {
        Directory.CreateDirectory(folder);
        for (int b = 1; b <= 5; b++)
            File.WriteAllBytes(Path.Combine(folder, $"data_batch_{b}.bin"), Records(perBatch, i => [(byte)((b * perBatch + i) % 10)]));
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), Records(4, i => [(byte)(9 - i)]));
        File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
        return folder;
    }

    [Fact]
    public void Cifar10ReadsTheRedGreenBluePlanesAndTheLabelNames()
    {
        WriteCifar10(dir);
        var (train, test) = CifarFolder.LoadCifar10(dir);
        Assert.Equal((15, 3, 32, 32, 10), (train.Count, train.Channels, train.Rows, train.Cols, train.Classes));
        Assert.Equal(4, test.Count);
        Assert.Equal("airplane", train.ClassNames![0]);
        Assert.Equal("truck", test.ClassNames![9]);
        // Batch 2's first record is training image 3: label (2·3 + 0) mod 10, pixels of record 0 of its file.
        Assert.Equal(6, train.Label(3));
        var image = train.Image(3);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p += 97) Assert.Equal(Pixel(0, c, p), image[c * 1024 + p]);
        Assert.Equal([9, 8, 7, 6], Enumerable.Range(0, 4).Select(test.Label));
        Assert.Equal(Pixel(3, 2, 1023), test.Image(3)[3071]);
    }

    [Fact]
    public void Cifar10IsFoundInsideTheArchivesFolderAndWithoutItsNamesFile()
    {
        string inner = WriteCifar10(Path.Combine(dir, "cifar-10-batches-bin"));
        File.Delete(Path.Combine(inner, "batches.meta.txt"));
        Assert.Equal(inner, CifarFolder.FindCifar10(dir));
        var (train, _) = CifarFolder.LoadCifar10(dir);
        Assert.Null(train.ClassNames);
    }

    [Theory]
    [InlineData(CifarLabel.Fine, 100, 1)]
    [InlineData(CifarLabel.Coarse, 20, 0)]
    public void Cifar100TakesTheFineOrTheCoarseLabel(CifarLabel label, int classes, int which)
    {
        string folder = Path.Combine(dir, "cifar-100-binary");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "train.bin"), Records(5, i => [(byte)(i * 4 % 20), (byte)(i * 21 % 100)]));
        File.WriteAllBytes(Path.Combine(folder, "test.bin"), Records(2, i => [(byte)(19 - i), (byte)(99 - i)]));
        File.WriteAllLines(Path.Combine(folder, "fine_label_names.txt"), Enumerable.Range(0, 100).Select(i => $"fine{i}"));
        File.WriteAllLines(Path.Combine(folder, "coarse_label_names.txt"), Enumerable.Range(0, 20).Select(i => $"coarse{i}"));
        var (train, test) = CifarFolder.LoadCifar100(dir, label);
        Assert.Equal((5, classes), (train.Count, train.Classes));
        for (int i = 0; i < 5; i++) Assert.Equal(which == 1 ? i * 21 % 100 : i * 4 % 20, train.Label(i));
        Assert.Equal(which == 1 ? 98 : 18, test.Label(1));
        Assert.Equal(which == 1 ? "fine99" : "coarse19", test.ClassNames![test.Label(0)]);
        Assert.Equal(Pixel(4, 1, 5), train.Image(4)[1024 + 5]);
    }

    [Fact]
    public void ATruncatedFileIsRefusedNamingTheRecordWhereItEnds()
    {
        string path = Path.Combine(dir, "data_batch_1.bin");
        File.WriteAllBytes(path, Records(3, i => [1])[..(2 * 3073 + 100)]);
        var e = Assert.Throws<FileFormatException>(() => CifarFolder.ReadBatches([path], 1, 0, 10));
        Assert.Equal(2 * 3073, e.Offset);
        Assert.Contains("end 100 bytes into record 3: the file is truncated", e.Message);
        File.WriteAllBytes(path, []);
        Assert.Contains("the file is empty", Assert.Throws<FileFormatException>(() => CifarFolder.ReadBatches([path], 1, 0, 10)).Message);
    }

    [Theory]
    [InlineData(1, 0, 10, new byte[] { 10 }, "expected a label below 10 in record 2, found 10")]
    [InlineData(2, 1, 100, new byte[] { 3, 100 }, "expected a fine label below 100 in record 2, found 100")]
    [InlineData(2, 1, 100, new byte[] { 20, 5 }, "expected a coarse label below 20 in record 2, found 20")]
    [InlineData(2, 0, 20, new byte[] { 20, 5 }, "expected a coarse label below 20 in record 2, found 20")]
    public void ABadLabelIsRefusedWithItsRecordAndOffset(int labelBytes, int index, int classes, byte[] bad, string expected)
    {
        string path = Path.Combine(dir, "batch.bin");
        File.WriteAllBytes(path, Records(3, i => i == 1 ? bad : new byte[labelBytes]));
        var e = Assert.Throws<FileFormatException>(() => CifarFolder.ReadBatches([path], labelBytes, index, classes));
        Assert.Contains(expected, e.Message);
        Assert.Equal(3072 + labelBytes + Array.FindIndex(bad, b => b >= (b == bad[0] && labelBytes == 2 ? 20 : classes)), e.Offset);
    }

    [Fact]
    public void ANamesFileMustNameEveryClass()
    {
        WriteCifar10(dir);
        File.WriteAllText(Path.Combine(dir, "batches.meta.txt"), "airplane\nautomobile\n");
        Assert.Contains("expected 10 label names, one per line, found 2", Assert.Throws<FileFormatException>(() => CifarFolder.LoadCifar10(dir)).Message);
        File.WriteAllText(Path.Combine(dir, "batches.meta.txt"), "a\nb\n\nd\ne\nf\ng\nh\ni\nj\n");
        Assert.Contains("an empty line 3", Assert.Throws<FileFormatException>(() => CifarFolder.LoadCifar10(dir)).Message);
    }

    [Fact]
    public void AMissingBatchIsNamed()
    {
        WriteCifar10(dir);
        File.Delete(Path.Combine(dir, "data_batch_4.bin"));
        Assert.Contains("no data_batch_4.bin", Assert.Throws<FileNotFoundException>(() => CifarFolder.LoadCifar10(dir)).Message);
        Assert.Contains("no CIFAR-100 files", Assert.Throws<FileNotFoundException>(() => CifarFolder.LoadCifar100(dir)).Message);
    }
}
