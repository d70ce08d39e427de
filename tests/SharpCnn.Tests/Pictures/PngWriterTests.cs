using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SharpCnn.Pictures;
using SharpCnn.Data;
using SharpCnn.Tests.Data;

namespace SharpCnn.Tests.Pictures;

public sealed class PngWriterTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-png-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static byte[] RandomPixels(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The chunks of a PNG file, read by hand: (type, data), each CRC checked with System.IO.Hashing.</summary>
    private static List<(string Type, byte[] Data)> Chunks(byte[] png)
    {
        Assert.Equal(PngTestFiles.Signature, png[..8]);
        var chunks = new List<(string, byte[])>();
        int pos = 8;
        while (pos < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
            byte[] data = png[(pos + 8)..(pos + 8 + length)];
            Assert.Equal(Crc32.HashToUInt32(png.AsSpan(pos + 4, 4 + length)), BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + length)));
            chunks.Add((type, data));
            pos += 12 + length;
        }
        Assert.Equal(png.Length, pos);
        return chunks;
    }

    [Theory]
    [InlineData(PngColorType.Grey, 1)]
    [InlineData(PngColorType.GreyAlpha, 2)]
    [InlineData(PngColorType.Rgb, 3)]
    [InlineData(PngColorType.Rgba, 4)]
    public void RoundTripThroughTheReaderIsExact(PngColorType type, int channels)
    {
        const int width = 13, height = 9;
        byte[] pixels = RandomPixels(width * height * channels, (int)type);
        var image = PngReader.Decode(PngWriter.Encode(pixels, width, height, type), "round-trip.png");
        Assert.Equal((width, height, type, 8), (image.Width, image.Height, image.ColorType, image.BitDepth));
        for (int i = 0; i < width * height; i++)
        {
            byte[] expected = channels switch
            {
                1 => [pixels[i], pixels[i], pixels[i], 255],
                2 => [pixels[2 * i], pixels[2 * i], pixels[2 * i], pixels[2 * i + 1]],
                3 => [pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2], 255],
                _ => pixels[(4 * i)..(4 * i + 4)],
            };
            Assert.Equal(expected, image.Rgba[(4 * i)..(4 * i + 4)]);
        }
    }

    [Fact]
    public void TheFileIsSignatureIhdrIdatIendWithValidCrcsAndZlibScanlines()
    {
        byte[] pixels = RandomPixels(6 * 4 * 3, 1);
        var chunks = Chunks(PngWriter.Encode(pixels, 6, 4, PngColorType.Rgb));
        Assert.Equal(["IHDR", "IDAT", "IEND"], chunks.Select(c => c.Type));
        Assert.Equal(PngTestFiles.IhdrData(6, 4, 8, 2), chunks[0].Data);
        Assert.Empty(chunks[2].Data);
        // Inflate with the framework's zlib (not the reader): 4 scanlines of 1 filter byte + 18 bytes.
        using var z = new ZLibStream(new MemoryStream(chunks[1].Data), CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        Assert.Equal(4 * 19, raw.Length);
        Assert.All(Enumerable.Range(0, 4), y => Assert.InRange(raw.ToArray()[y * 19], 0, 4));
    }

    [Fact]
    public void SmoothImagesUseThePredictingFiltersAndCompressWell()
    {
        // A gradient: every row predicts well from the left (Sub) or from above (Up), never as None.
        const int width = 64, height = 64;
        byte[] pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) pixels[y * width + x] = (byte)(2 * x + y);
        var chunks = Chunks(PngWriter.Encode(pixels, width, height, PngColorType.Grey));
        using var z = new ZLibStream(new MemoryStream(chunks[1].Data), CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var filters = Enumerable.Range(0, height).Select(y => raw.ToArray()[y * (width + 1)]).ToArray();
        Assert.DoesNotContain((byte)0, filters.Skip(1));
        Assert.True(chunks[1].Data.Length < width * height / 8, $"{chunks[1].Data.Length} bytes of compressed data for a 4096-pixel gradient");
    }

    [Fact]
    public void PaethPredictorFollowsTheSpecificationIncludingTies()
    {
        Assert.Equal(10, PngFormat.Paeth(10, 10, 10));
        Assert.Equal(20, PngFormat.Paeth(10, 20, 10)); // p = 20: b is exact
        Assert.Equal(10, PngFormat.Paeth(10, 20, 20)); // p = 10: a is exact
        Assert.Equal(20, PngFormat.Paeth(10, 20, 5));  // p = 25: a 15 away, b 5, c 20
        Assert.Equal(16, PngFormat.Paeth(10, 20, 16)); // p = 14: a 4 away, b 6, c 2
        Assert.Equal(0, PngFormat.Paeth(0, 3, 2));     // p = 1: a and c tie 1 away, b 2: a wins the tie
        Assert.Equal(0, PngFormat.Paeth(3, 0, 2));     // p = 1: b and c tie 1 away, a 2: b wins the tie
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => PngWriter.Encode(new byte[5], 2, 2, PngColorType.Grey));
        Assert.Throws<ArgumentOutOfRangeException>(() => PngWriter.Encode([], 0, 1, PngColorType.Grey));
        Assert.Throws<ArgumentOutOfRangeException>(() => PngWriter.Encode(new byte[4], 2, 2, PngColorType.Palette));
    }

    [Fact]
    public void SaveWritesTheFileAtomicallyAndLeavesNoTemporaryFile()
    {
        string path = Path.Combine(dir, "sub", "picture.png");
        PngWriter.Save(path, [1, 2, 3, 4], 2, 2, PngColorType.Grey);
        Assert.Equal(PngWriter.Encode([1, 2, 3, 4], 2, 2, PngColorType.Grey), File.ReadAllBytes(path));
        Assert.Equal(["picture.png"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }
}
