// IdxReader on hostile or broken input: every case must be a FileFormatException whose
// message names the file and says what was expected, and none may allocate what the
// header merely claims.

using SharpCnn.Data;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class IdxHostileInputTests : IDisposable
{
    private const string Name = "hostile-idx3-ubyte";
    private readonly IdxTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>Writes <paramref name="bytes"/> to a file, reads it, and returns the FileFormatException it must raise.</summary>
    private FileFormatException Reject(byte[] bytes, int dimensions, params string[] expectedInMessage)
    {
        string path = _files.Write(Name, bytes);
        var error = Assert.Throws<FileFormatException>(() => IdxReader.Read(path, dimensions));
        Assert.Equal(path, error.FilePath);
        foreach (string text in (string[])[Name, "expected", .. expectedInMessage])
            Assert.True(error.Message.Contains(text, StringComparison.Ordinal), $"\"{text}\" is not in the message: {error.Message}");
        return error;
    }

    private static byte[] ValidImages => Idx(Pixels(2, 3, 4), 2, 3, 4);

    [Fact]
    public void EmptyFile() => Assert.Equal(0, Reject([], 3, "empty").Offset);

    [Fact]
    public void GzipOfNothing()
    {
        // A complete gzip member holding zero bytes: header, empty final deflate block, CRC 0, size 0.
        byte[] emptyGzip = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Empty(Gunzip(emptyGzip));
        Reject(emptyGzip, 3, "decompressed content is empty");
    }

    [Theory]
    [InlineData(0x01, 0x00)]
    [InlineData(0x00, 0x01)]
    [InlineData(0x50, 0x4b)] // a zip archive, not gzip
    [InlineData(0x1f, 0x00)] // half the gzip magic
    public void WrongMagic(byte first, byte second)
    {
        byte[] bytes = ValidImages;
        (bytes[0], bytes[1]) = (first, second);
        Assert.Equal(0, Reject(bytes, 3, "magic bytes 00 00", $"found {first:x2} {second:x2}").Offset);
    }

    [Theory]
    [InlineData(0x09, "signed byte")]
    [InlineData(0x0D, "float32")]
    [InlineData(0x0E, "float64")]
    [InlineData(0x00, "not an IDX type")]
    public void WrongTypeByte(byte type, string typeName)
    {
        var error = Reject(Idx(type, Pixels(2, 3, 4), 2, 3, 4), 3, "type 08 (unsigned byte)", typeName);
        Assert.Equal(2, error.Offset);
    }

    [Fact]
    public void LabelsFileReadAsImages() =>
        Assert.Equal(3, Reject(Idx([1, 2, 3], 3), 3, "expected 3 dimensions", "found 1").Offset);

    [Fact]
    public void ImagesFileReadAsLabels() =>
        Assert.Equal(3, Reject(ValidImages, 1, "expected 1 dimension", "found 3").Offset);

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(0, -1)]
    [InlineData(2, -5)]
    [InlineData(1, int.MinValue)]
    public void NonPositiveDimension(int dimension, int size)
    {
        int[] sizes = [2, 3, 4];
        sizes[dimension] = size;
        var error = Reject(Idx([], sizes), 3, $"positive size for dimension {dimension + 1} of 3", $"found {size}");
        Assert.Equal(4 + 4 * dimension, error.Offset);
    }

    [Theory]
    [InlineData(false, int.MaxValue, 65536, 65536)]
    [InlineData(true, int.MaxValue, 65536, 65536)]
    [InlineData(false, 65536, 65536, 1)]
    [InlineData(true, int.MaxValue, int.MaxValue, int.MaxValue)]
    public void SizesBeyondAnyArrayFailWithoutAllocating(bool gzip, int count, int rows, int cols)
    {
        byte[] bytes = Idx(new byte[100], count, rows, cols);
        if (gzip) bytes = Gzip(bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Reject(bytes, 3, "at most", $"{count} x {rows} x {cols}");
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
    }

    [Fact]
    public void RawFileClaimingAGigabyteFailsBeforeAllocatingIt()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Reject(Idx(new byte[100], 1000, 1000, 1000), 3, "1000 x 1000 x 1000 = 1000000000 data bytes", "found 100");
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
    }

    [Fact]
    public void GzipClaimingAGigabyteAllocatesOnlyWhatArrives()
    {
        byte[] bytes = Gzip(Idx(new byte[100], 1000, 1000, 1000));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Reject(bytes, 3, "1000 x 1000 x 1000 = 1000000000 data bytes", "ends after 100");
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 4 << 20);
        Assert.Equal(116, error.Offset);
    }

    [Fact]
    public void TruncatedAtEveryByteRaw()
    {
        byte[] full = ValidImages;
        for (int length = 0; length < full.Length; length++)
        {
            var error = Reject(full[..length], 3);
            Assert.InRange(error.Offset, 0, length);
        }
    }

    [Fact]
    public void TruncatedAtEveryByteInsideGzip()
    {
        byte[] full = ValidImages;
        for (int length = 0; length < full.Length; length++)
        {
            var error = Reject(Gzip(full[..length]), 3);
            Assert.Equal(length, error.Offset); // offsets count decompressed bytes
        }
    }

    [Fact]
    public void TruncatedMidDataOnAForwardOnlyStreamReportsWhereItEnded()
    {
        byte[] truncated = ValidImages[..30];
        var error = Assert.Throws<FileFormatException>(() => IdxReader.Read(new ForwardOnlyStream(truncated), "piped", 3));
        Assert.Equal(30, error.Offset);
        Assert.Contains("piped", error.Message);
        Assert.Contains("expected 2 x 3 x 4 = 24 data bytes", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrailingGarbage(bool gzip)
    {
        byte[] bytes = [.. ValidImages, 0xde, 0xad];
        var error = Reject(gzip ? Gzip(bytes) : bytes, 3, "trailing");
        Assert.Equal(ValidImages.Length, error.Offset);
    }

    [Fact]
    public void BytesAfterTheGzipStream() =>
        Reject([.. Gzip(ValidImages), 0x00, 0x00, 0x00, 0x01], 3, "gzip");

    [Fact]
    public void TwoConcatenatedGzipMembers() => Reject([.. Gzip(ValidImages), .. Gzip(ValidImages)], 3);

    [Fact]
    public void GzipCutAtEveryByte()
    {
        // Including cuts inside the 8-byte trailer, which .NET's GZipStream alone accepts silently.
        byte[] gzip = Gzip(ValidImages);
        for (int length = 0; length < gzip.Length; length++) Reject(gzip[..length], 3);
    }

    [Fact]
    public void GzipWithAnyDeflateOrTrailerByteFlipped()
    {
        // Bytes 0-9 are the gzip header (mtime, flags, OS: some legitimately ignored); from 10 on
        // every byte is deflate data or the CRC-32/size trailer. A flip must be rejected unless it
        // hit the unused padding bits after the final deflate block, where the content is unchanged.
        byte[] content = ValidImages;
        byte[] gzip = Gzip(content);
        string path = _files.Write(Name, gzip);
        int harmless = 0;
        for (int position = 10; position < gzip.Length; position++)
        {
            foreach (byte mask in new byte[] { 0x01, 0x80, 0xff })
            {
                byte[] corrupt = (byte[])gzip.Clone();
                corrupt[position] ^= mask;
                File.WriteAllBytes(path, corrupt);
                try
                {
                    IdxArray accepted = IdxReader.Read(path, 3);
                    Assert.Equal(content[16..], accepted.Data);
                    harmless++;
                }
                catch (FileFormatException error)
                {
                    Assert.Contains(Name, error.Message);
                }
            }
        }
        Assert.InRange(harmless, 0, 1); // here: bit 7 of the last deflate byte, which is padding
    }

    [Fact]
    public void CorruptGzipIsReportedAsCorrupt()
    {
        byte[] gzip = Gzip(ValidImages);
        gzip[2] = 0x07; // compression method other than deflate
        var error = Reject(gzip, 3, "corrupt gzip");
        Assert.IsType<InvalidDataException>(error.InnerException);
    }
}
