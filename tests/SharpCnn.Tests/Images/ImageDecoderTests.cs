using System.Buffers.Binary;
using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Tests.Hostile;

namespace SharpCnn.Tests.Images;

public sealed class ImageDecoderTests
{
    private static PixelImage Grey(int w, int h) => new(1, h, w, [.. Enumerable.Range(0, w * h).Select(i => (byte)(i * 37 % 256))]);

    private static PixelImage Colour(int w, int h) => new(3, h, w, [.. Enumerable.Range(0, 3 * w * h).Select(i => (byte)(i * 53 % 256))]);

    [Fact]
    public void PngDecodesToItsBytesExactlyInGreyAndColour()
    {
        var grey = Grey(9, 7);
        var back = ImageDecoder.Decode(ImageEncoder.Encode(grey, ImageFormat.Png), "g.png");
        Assert.Equal((1, 7, 9), (back.Channels, back.Height, back.Width));
        Assert.Equal(grey.Pixels.ToArray(), back.Pixels.ToArray());
        var colour = Colour(5, 4);
        var header = ImageDecoder.ReadHeader(ImageEncoder.Encode(colour, ImageFormat.Png), "c.png");
        Assert.Equal(new ImageHeader(ImageFormat.Png, 5, 4, false), header);
        Assert.Equal(colour.Pixels.ToArray(), ImageDecoder.Decode(ImageEncoder.Encode(colour, ImageFormat.Png), "c.png").Pixels.ToArray());
        // Channels on request: grey repeated, colour by luma.
        Assert.Equal(grey.ToChannels(3).Pixels.ToArray(), ImageDecoder.Decode(ImageEncoder.Encode(grey, ImageFormat.Png), "g.png", 3).Pixels.ToArray());
        Assert.Equal(colour.ToChannels(1).Pixels.ToArray(), ImageDecoder.Decode(ImageEncoder.Encode(colour, ImageFormat.Png), "c.png", 1).Pixels.ToArray());
    }

    [Theory]
    [InlineData(ImageFormat.Jpeg)]
    [InlineData(ImageFormat.WebP)]
    public void LossyFormatsDecodeCloseToWhatWasWritten(ImageFormat format)
    {
        // A smooth image: lossy codecs keep it within a few levels.
        var smooth = new PixelImage(3, 16, 16, [.. Enumerable.Range(0, 3 * 256).Select(i => (byte)(40 + i / 256 * 50 + i % 256 / 16 * 4 + i % 16 * 2))]);
        var back = ImageDecoder.Decode(ImageEncoder.Encode(smooth, format, 95), "x");
        Assert.Equal(smooth.Shape, back.Shape);
        double mean = smooth.Pixels.ToArray().Zip(back.Pixels.ToArray(), (a, b) => Math.Abs(a - b)).Average();
        Assert.True(mean < 4, $"mean difference {mean}");
        Assert.Equal(format, ImageDecoder.ReadHeader(ImageEncoder.Encode(smooth, format), "x").Format);
    }

    [Fact]
    public void BmpAndGifDecodeExactly()
    {
        var bmp = BmpBytes.Rgb24(5, 3, (x, y) => ((byte)(x * 50), (byte)(y * 100), (byte)(x * y * 10)));
        var image = ImageDecoder.Decode(bmp, "a.bmp");
        Assert.Equal((3, 3, 5), (image.Channels, image.Height, image.Width));
        Assert.Equal(200, image[0, 4, 2]);
        Assert.Equal(200, image[1, 4, 2]);
        Assert.Equal(80, image[2, 4, 2]);
        var gif = GifBytes.Indexed(30, 20, (x, y) => (byte)(x * 7 + y), GifBytes.GreyPalette());
        var grey = ImageDecoder.Decode(gif, "a.gif", channels: 1);
        Assert.Equal(ImageFormat.Gif, ImageDecoder.ReadHeader(gif, "a.gif").Format);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 30; x++) Assert.Equal((byte)(x * 7 + y), grey[0, x, y]);
    }

    /// <summary>A PNG, BMP, GIF and JPEG header each declaring 100,000 x 100,000 pixels: refused before anything that size exists.</summary>
    [Theory]
    [InlineData("png")]
    [InlineData("bmp")]
    [InlineData("gif")]
    [InlineData("jpeg")]
    public void AHugeDeclaredSizeIsRefusedBeforeDecoding(string kind)
    {
        byte[] file = kind switch
        {
            "png" => WithPngSize(ImageEncoder.Encode(Grey(4, 4), ImageFormat.Png), 100_000, 100_000),
            "bmp" => BmpBytes.Rgb24(2, 2, (_, _) => (1, 2, 3), 100_000, 100_000),
            "gif" => GifBytes.Indexed(2, 2, (_, _) => 1, GifBytes.GreyPalette(), 65_000, 65_000),
            _ => WithJpegSize(ImageEncoder.Encode(Grey(16, 16), ImageFormat.Jpeg), 65_000, 65_000),
        };
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<FileFormatException>(() => ImageDecoder.Decode(file, "huge." + kind));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal allocated more than 1 MiB");
        Assert.Equal("huge." + kind, e.FilePath);
        // Refused by the size check, or (Skia's BMP reader) already by the codec, which checks sizes against the file.
        Assert.Matches(kind == "bmp" ? @"starts like a BMP image, but its header does not read" : @"declares a (100000x100000|65000x65000) image", e.Message);
    }

    [Fact]
    public void ASmallFileDeclaringAFairlyLargeImageIsRefusedToo()
    {
        var png = WithPngSize(ImageEncoder.Encode(Grey(4, 4), ImageFormat.Png), 4000, 4000);
        var e = Assert.Throws<FileFormatException>(() => ImageDecoder.Decode(png, "small.png"));
        Assert.Contains($"more than a file of {png.Length} bytes can hold", e.Message);
    }

    [Fact]
    public void CutAndForeignBytesAreFormatErrorsNamingTheFile()
    {
        byte[] jpeg = ImageEncoder.Encode(Colour(32, 32), ImageFormat.Jpeg);
        var cut = Assert.Throws<FileFormatException>(() => ImageDecoder.Decode(jpeg[..(jpeg.Length * 2 / 3)], "cut.jpg"));
        Assert.Contains("do not decode: the image data end early (the file is truncated)", cut.Message);
        var junk = Assert.Throws<FileFormatException>(() => ImageDecoder.Decode("hello, world"u8, "notes.jpg"));
        Assert.Contains("expected a JPEG, PNG, WebP, BMP or GIF image, found 68 65 6C 6C 6F 2C 20 77 ...", junk.Message);
        Assert.Contains("the file is empty", Assert.Throws<FileFormatException>(() => ImageDecoder.Decode([], "empty.png")).Message);
    }

    [Fact]
    public void ImageFilesAreKnownByTheirEnding()
    {
        Assert.True(ImageDecoder.HasImageExtension("a/b/IMG_0001.JPG"));
        Assert.True(ImageDecoder.HasImageExtension("x.webp"));
        Assert.False(ImageDecoder.HasImageExtension("notes.txt"));
        Assert.False(ImageDecoder.HasImageExtension(".DS_Store"));
    }

    internal static byte[] WithPngSize(byte[] png, uint width, uint height)
    {
        var copy = (byte[])png.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(16), width);
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(20), height);
        var crc = new System.IO.Hashing.Crc32();
        crc.Append(copy.AsSpan(12, 17));
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(29), crc.GetCurrentHashAsUInt32());
        return copy;
    }

    internal static byte[] WithJpegSize(byte[] jpeg, ushort width, ushort height)
    {
        var copy = (byte[])jpeg.Clone();
        for (int i = 2; i + 9 < copy.Length; i++)
        {
            if (copy[i] == 0xFF && copy[i + 1] is 0xC0 or 0xC1 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 5), height);
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 7), width);
                return copy;
            }
        }
        throw new InvalidOperationException("no SOF marker");
    }
}
