// PngReader on hostile or broken files: every case must be a FileFormatException whose
// message names the file and says what was expected, at a sensible offset, and nothing the
// header merely claims may be allocated before the file is shown to hold it.

using System.Buffers.Binary;
using SharpCnn.Data;
using static SharpCnn.Tests.Data.PngTestFiles;

namespace SharpCnn.Tests.Data;

public class PngHostileInputTests
{
    private const string Name = "hostile.png";

    private static FileFormatException Reject(byte[] png, params string[] expectedInMessage)
    {
        var error = Assert.Throws<FileFormatException>(() => PngReader.Decode(png, Name));
        Assert.Equal(Name, error.FilePath);
        foreach (string text in (string[])[Name, .. expectedInMessage])
            Assert.True(error.Message.Contains(text, StringComparison.Ordinal), $"\"{text}\" is not in the message: {error.Message}");
        return error;
    }

    [Fact]
    public void EveryTruncationIsRejected()
    {
        // Cut a valid palette file (signature, IHDR, PLTE, tRNS, IDAT, IEND) at every length, chunk boundaries included.
        byte[] png = Image(6, 4, 8, 3, Enumerable.Range(0, 4).Select(y => Enumerable.Range(0, 6).Select(x => (byte)((x + y) % 3)).ToArray()).ToArray(), 1,
            palette: [0, 0, 0, 128, 128, 128, 255, 255, 255], transparency: [255, 0]);
        Assert.Equal(6, PngReader.Decode(png, Name).Width);
        var boundaries = ChunkStarts(png);
        Assert.Equal(5, boundaries.Count);
        for (int length = 0; length < png.Length; length++)
        {
            var error = Reject(png[..length], "expected");
            Assert.InRange(error.Offset, 0, png.Length);
            if (boundaries.Contains(length)) Assert.Contains("the file ends", error.Message);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void BadSignature(int index)
    {
        byte[] png = Grey();
        png[index] ^= 0x20;
        Assert.Equal(0, Reject(png, "PNG signature").Offset);
    }

    [Fact]
    public void EmptyFileAndOtherFormats()
    {
        Reject([], "PNG signature", "empty");
        Reject("GIF89a\u0001\0\u0001\0\0\0\0"u8.ToArray(), "PNG signature", "47 49 46 38");
        Reject([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46], "PNG signature");
    }

    [Fact]
    public void BadCrcInEachChunk()
    {
        byte[] png = Grey();
        foreach (int start in ChunkStarts(png))
        {
            byte[] broken = (byte[])png.Clone();
            int length = BinaryPrimitives.ReadInt32BigEndian(broken.AsSpan(start));
            broken[start + 8 + length] ^= 0x01;
            string type = System.Text.Encoding.ASCII.GetString(png, start + 4, 4);
            Assert.Equal(start + 8 + length, Reject(broken, $"chunk '{type}' has CRC", "damaged").Offset);
        }
        byte[] flipped = Grey();
        flipped[ChunkStarts(flipped)[1] + 10] ^= 0x40; // a byte of the compressed data: the CRC catches it before zlib does
        Reject(flipped, "'IDAT' has CRC");
    }

    [Theory]
    [InlineData(0x7FFFFFFFu)]
    [InlineData(0xFFFFFFFFu)]
    [InlineData(1000u)]
    public void ChunkLengthBeyondTheFile(uint length)
    {
        byte[] png = Grey();
        int idat = ChunkStarts(png)[1];
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(idat), length);
        Assert.Equal(idat, Reject(png, $"declares {length} data bytes", "remain").Offset);
    }

    [Fact]
    public void ChunkTypeThatIsNotLetters()
    {
        byte[] png = Grey();
        png[ChunkStarts(png)[1] + 5] = (byte)'1';
        Reject(png, "four ASCII letters");
    }

    [Theory]
    [InlineData(0L, 1L)]
    [InlineData(1L, 0L)]
    [InlineData(0x80000000L, 1L)]
    [InlineData(1L, 0xFFFFFFFFL)]
    public void ZeroOrOutOfRangeDimensions(long width, long height) =>
        Assert.Equal(16, Reject(File(Ihdr(width, height, 8, 0), Chunk("IDAT", Zlib([0, 0])), Iend), "width and height").Offset);

    [Theory]
    [InlineData(65535L, 65535L, 8)]
    [InlineData(0x7FFFFFFFL, 0x7FFFFFFFL, 8)]
    [InlineData(1L << 20, 64L, 6)]
    public void HugeDimensionsAreRejectedWithoutAllocating(long width, long height, int colorType)
    {
        byte[] png = File(Ihdr(width, height, 8, colorType), Chunk("IDAT", Zlib(new byte[100])), Iend);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Reject(png, "at most", "pixels");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "nothing image-sized was allocated");
    }

    [Theory]
    [InlineData(4096, 4096, 16, 6)] // 128 MiB of scanlines claimed by a few bytes of data
    [InlineData(5000, 5000, 8, 0)]
    public void AllowedDimensionsThatTheCompressedDataCannotHoldAreRejectedWithoutAllocating(int width, int height, int depth, int colorType)
    {
        byte[] png = File(Ihdr(width, height, depth, colorType), Chunk("IDAT", Zlib(new byte[1000])), Iend);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Reject(png, "compressed image data can hold");
        Assert.Equal(8 + 25, error.Offset); // the IDAT chunk
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "nothing image-sized was allocated");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(77)]
    [InlineData(255)]
    public void BadFilterByte(int filter)
    {
        var rows = GreyRows(4, 3);
        byte[] png = Image(4, 3, 8, 0, rows, 1, y => y == 2 ? filter : 1);
        Reject(png, "scanline 2", $"filter type {filter}", "expected 0-4");
    }

    [Fact]
    public void CorruptZlibStreams()
    {
        byte[] good = Zlib(Scanlines(GreyRows(5, 4), 1, _ => 0));
        byte[] badHeader = (byte[])good.Clone();
        badHeader[0] = 0x12; // not a zlib header
        byte[] badAdler = (byte[])good.Clone();
        badAdler[^1] ^= 0xFF;
        byte[] garbage = [.. Enumerable.Range(0, 40).Select(i => (byte)(i * 97 + 13))];
        foreach (byte[] data in new[] { badHeader, badAdler, garbage, good[..(good.Length / 2)] })
        {
            byte[] png = File(Ihdr(5, 4, 8, 0), Chunk("IDAT", data), Iend);
            Assert.Equal(33, Reject(png, "expected").Offset);
        }
    }

    [Fact]
    public void ZlibStreamAskingForAPresetDictionaryIsAFileFormatException()
    {
        // Regression (found by the hostile-file corpus): a zlib header with FDICT set made .NET throw
        // ZLibException, an IOException that is not an InvalidDataException, and it escaped the reader.
        byte[] data = Zlib(Scanlines(GreyRows(5, 4), 1, _ => 0));
        (data[0], data[1]) = (0x78, 0x20); // deflate, 32 KiB window, FDICT; 0x7820 is a multiple of 31
        var error = Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", data), Iend), "expected a valid zlib stream in the image data (IDAT)");
        Assert.Equal(33, error.Offset);
    }

    [Fact]
    public void ZlibStreamWithoutItsAdlerOrWithBytesAfterItIsRejected()
    {
        // Regression (found by the hostile-file corpus): .NET's ZLibStream checks the Adler-32 when it is
        // present, but a stream cut just before it, or followed by other bytes, used to decode without a word.
        byte[] raw = Scanlines(GreyRows(5, 4), 1, _ => 0);
        byte[] data = Zlib(raw);
        Assert.Equal(5, PngReader.Decode(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", data), Iend), Name).Width);
        Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", data[..^4]), Iend), "to end with the Adler-32 of its 24 bytes", "cut short or followed by other bytes");
        Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", data[..^1]), Iend), "Adler-32");
        Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", [.. data, 0, 0, 0, 0]), Iend), "to end with the Adler-32 of its 24 bytes", "found 00000000");
    }

    [Fact]
    public void TooFewOrTooManyScanlines()
    {
        byte[] shortData = Zlib(Scanlines(GreyRows(5, 3), 1, _ => 0));
        Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", shortData), Iend), "expected 24 bytes of scanlines", "ends after 18");
        byte[] longData = Zlib(Scanlines(GreyRows(5, 5), 1, _ => 0));
        Reject(File(Ihdr(5, 4, 8, 0), Chunk("IDAT", longData), Iend), "expected 24 bytes of scanlines", "holds more");
    }

    [Theory]
    [InlineData(1, 8, "colour type 0 (grey)")]
    [InlineData(5, 8, "colour type 0 (grey)")]
    [InlineData(7, 8, "found 7")]
    [InlineData(0, 3, "bit depth 1, 2, 4, 8, 16")]
    [InlineData(3, 16, "bit depth 1, 2, 4, 8 for colour type 3")]
    [InlineData(2, 4, "bit depth 8, 16 for colour type 2")]
    [InlineData(6, 1, "bit depth 8, 16 for colour type 6")]
    [InlineData(4, 0, "found 0")]
    public void UnsupportedColourTypeOrBitDepth(int colorType, int depth, string message)
    {
        var error = Reject(File(Ihdr(2, 2, depth, colorType), Chunk("IDAT", Zlib(new byte[6])), Iend), message);
        Assert.InRange(error.Offset, 16, 28); // inside IHDR's data
    }

    [Fact]
    public void InterlacedCompressionAndFilterMethods()
    {
        byte[] data = Zlib(new byte[6]);
        var adam7 = Reject(File(Ihdr(2, 2, 8, 0, interlace: 1), Chunk("IDAT", data), Iend), "Adam7", "non-interlaced");
        Assert.Equal(28, adam7.Offset);
        Reject(File(Ihdr(2, 2, 8, 0, interlace: 2), Chunk("IDAT", data), Iend), "interlace method 0", "found 2");
        Assert.Equal(26, Reject(File(Ihdr(2, 2, 8, 0, compression: 1), Chunk("IDAT", data), Iend), "compression method 0").Offset);
        Assert.Equal(27, Reject(File(Ihdr(2, 2, 8, 0, filter: 1), Chunk("IDAT", data), Iend), "filter method 0").Offset);
    }

    [Fact]
    public void HeaderMistakes()
    {
        byte[] idat = Chunk("IDAT", Zlib(Scanlines(GreyRows(2, 2), 1, _ => 0)));
        Reject(File(idat, Ihdr(2, 2, 8, 0), Iend), "IHDR chunk first", "'IDAT'");
        Reject(File(Ihdr(2, 2, 8, 0), Ihdr(2, 2, 8, 0), idat, Iend), "second");
        Reject(File(Chunk("IHDR", new byte[12]), idat, Iend), "13 bytes", "found 12");
        Reject(File(Ihdr(2, 2, 8, 0), Iend), "image data (IDAT)");
        Reject(File(Ihdr(2, 2, 8, 0), idat), "the file ends");
        Reject(File(Ihdr(2, 2, 8, 0), idat, Chunk("IEND", [1])), "empty IEND");
        Reject(File(Ihdr(2, 2, 8, 0), idat, Chunk("tEXt", [65]), idat, Iend), "consecutive");
        Reject(File(Ihdr(2, 2, 8, 0), Chunk("QQQQ", []), idat, Iend), "'QQQQ'", "critical");
    }

    [Fact]
    public void PaletteMistakes()
    {
        byte[][] rows = [[0, 1], [1, 0]];
        byte[] idat = Chunk("IDAT", Zlib(Scanlines(rows, 1, _ => 0)));
        Reject(File(Ihdr(2, 2, 8, 3), idat, Iend), "expected a palette (PLTE)");
        Reject(File(Ihdr(2, 2, 8, 3), Chunk("PLTE", [1, 2, 3, 4]), idat, Iend), "multiple of 3", "found 4 bytes");
        Reject(File(Ihdr(2, 2, 8, 3), Chunk("PLTE", []), idat, Iend), "found 0 bytes");
        Reject(File(Ihdr(2, 2, 1, 3), Chunk("PLTE", new byte[9]), idat, Iend), "3 to 6 bytes");
        Reject(File(Ihdr(2, 2, 8, 0), Chunk("PLTE", new byte[6]), idat, Iend), "expected no palette (PLTE)");
        Reject(File(Ihdr(2, 2, 8, 3), idat, Chunk("PLTE", new byte[6]), Iend), "PLTE before the image data");
        Reject(File(Ihdr(2, 2, 8, 3), Chunk("PLTE", new byte[3]), idat, Iend), "palette index 1", "1 entries");
    }

    [Fact]
    public void TransparencyMistakes()
    {
        byte[] grey = Chunk("IDAT", Zlib(Scanlines(GreyRows(2, 2), 1, _ => 0)));
        Reject(File(Ihdr(2, 2, 8, 0), Chunk("tRNS", [1]), grey, Iend), "tRNS chunk of 2 bytes");
        Reject(File(Ihdr(2, 2, 8, 2), Chunk("tRNS", [1, 2]), Chunk("IDAT", Zlib(new byte[14])), Iend), "6 bytes");
        Reject(File(Ihdr(2, 2, 8, 6), Chunk("tRNS", [1, 2]), Chunk("IDAT", Zlib(new byte[18])), Iend), "expected no tRNS chunk");
        Reject(File(Ihdr(2, 2, 8, 3), Chunk("PLTE", new byte[6]), Chunk("tRNS", [1, 2, 3]), Chunk("IDAT", Zlib(new byte[6])), Iend), "at most one alpha per palette entry");
        Reject(File(Ihdr(2, 2, 8, 3), Chunk("tRNS", [1]), Chunk("PLTE", new byte[6]), Chunk("IDAT", Zlib(new byte[6])), Iend), "tRNS chunk of a palette image after PLTE");
    }

    [Fact]
    public void AMissingFileIsFileNotFoundNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "sharpcnn-no-such-" + Guid.NewGuid().ToString("N") + ".png");
        var error = Assert.Throws<FileNotFoundException>(() => PngReader.Read(missing));
        Assert.Contains(missing, error.Message);
    }
}
