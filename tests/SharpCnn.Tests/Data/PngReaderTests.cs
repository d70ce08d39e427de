using SharpCnn.Data;
using static SharpCnn.Tests.Data.PngTestFiles;

namespace SharpCnn.Tests.Data;

/// <summary>What the PNG reader accepts: every colour type and bit depth, all five filters, palettes and tRNS, files made by Pillow.</summary>
public class PngReaderTests
{
    private static PngImage Decode(byte[] png) => PngReader.Decode(png, "test.png");

    private static byte[] Pixel(PngImage image, int x, int y) => image.Rgba.AsSpan(4 * (y * image.Width + x), 4).ToArray();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void EachFilterTypeAloneDecodesToThePixels(int filter)
    {
        var image = Decode(Grey(7, 6, _ => filter));
        var rows = GreyRows(7, 6);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 7; x++)
                Assert.Equal(new byte[] { rows[y][x], rows[y][x], rows[y][x], 255 }, Pixel(image, x, y));
    }

    [Theory]
    [InlineData(2, 8, 3)]
    [InlineData(6, 8, 4)]
    [InlineData(4, 8, 2)]
    [InlineData(2, 16, 6)]
    [InlineData(6, 16, 8)]
    public void FiltersUseTheWholePixelToTheLeft(int colorType, int depth, int bpp)
    {
        // Multi-byte pixels: Sub, Average and Paeth must look bpp bytes back, not one.
        int channels = colorType switch { 2 => 3, 6 => 4, _ => 2 };
        const int width = 6, height = 5;
        var rng = new Random(7);
        int max = (1 << depth) - 1;
        var samples = Enumerable.Range(0, height).Select(_ => Enumerable.Range(0, width * channels).Select(_ => rng.Next(max + 1)).ToArray()).ToArray();
        var image = Decode(Image(width, height, depth, colorType, samples.Select(s => Pack(s, depth)).ToArray(), bpp, y => y % 5));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var expected = new byte[4];
                for (int c = 0; c < channels; c++)
                {
                    int v = samples[y][x * channels + c];
                    byte b = depth == 16 ? (byte)Math.Round(v * 255.0 / 65535) : (byte)v;
                    if (colorType == 4) { if (c == 0) expected[0] = expected[1] = expected[2] = b; else expected[3] = b; }
                    else expected[c] = b;
                }
                if (channels == 3) expected[3] = 255;
                Assert.Equal(expected, Pixel(image, x, y));
            }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(16)]
    public void GreyAtEveryBitDepthIsScaledToTheFullByteRange(int depth)
    {
        const int width = 11; // odd, so sub-byte rows end in a partly used byte
        int max = (1 << depth) - 1;
        var samples = Enumerable.Range(0, 3).Select(y => Enumerable.Range(0, width).Select(x => (x * 7 + y * 3) % (max + 1)).ToArray()).ToArray();
        var image = Decode(Image(width, 3, depth, 0, samples.Select(s => Pack(s, depth)).ToArray(), depth == 16 ? 2 : 1));
        Assert.Equal(depth, image.BitDepth);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < width; x++)
                Assert.Equal((byte)Math.Round(samples[y][x] * 255.0 / max), Pixel(image, x, y)[0]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void PaletteAtEveryBitDepthLooksUpTheColours(int depth)
    {
        int entries = Math.Min(1 << depth, 5);
        byte[] palette = Enumerable.Range(0, entries).SelectMany(i => new[] { (byte)(10 * i), (byte)(100 + i), (byte)(250 - i) }).ToArray();
        const int width = 9;
        var indices = Enumerable.Range(0, 2).Select(y => Enumerable.Range(0, width).Select(x => (x + y) % entries).ToArray()).ToArray();
        var image = Decode(Image(width, 2, depth, 3, indices.Select(s => Pack(s, depth)).ToArray(), 1, palette: palette));
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < width; x++)
            {
                int i = indices[y][x];
                Assert.Equal(new byte[] { palette[3 * i], palette[3 * i + 1], palette[3 * i + 2], 255 }, Pixel(image, x, y));
            }
    }

    [Fact]
    public void TransparencyOfPaletteEntriesGreyAndRgbKeys()
    {
        byte[] palette = [0, 0, 0, 255, 255, 255, 255, 0, 0];
        var p = Decode(Image(3, 1, 8, 3, [[0, 1, 2]], 1, palette: palette, transparency: [0, 128]));
        Assert.Equal([0, 128, 255], Enumerable.Range(0, 3).Select(x => Pixel(p, x, 0)[3]));

        var g = Decode(Image(3, 1, 8, 0, [[5, 6, 7]], 1, transparency: [0, 6]));
        Assert.Equal([255, 0, 255], Enumerable.Range(0, 3).Select(x => Pixel(g, x, 0)[3]));

        var rgb = Decode(Image(2, 1, 8, 2, [[1, 2, 3, 1, 2, 4]], 3, transparency: [0, 1, 0, 2, 0, 3]));
        Assert.Equal([0, 255], Enumerable.Range(0, 2).Select(x => Pixel(rgb, x, 0)[3]));
    }

    [Fact]
    public void AncillaryChunksAreSkippedAndSplitImageDataIsJoined()
    {
        byte[] scanlines = Zlib(Scanlines(GreyRows(4, 3), 1, y => y % 5));
        byte[] png = File(
            Ihdr(4, 3, 8, 0),
            Chunk("tEXt", "Comment\0made by a test"u8.ToArray()),
            Chunk("gAMA", [0, 0, 0xB1, 0x8F]),
            Chunk("IDAT", scanlines[..5]),
            Chunk("IDAT", []),
            Chunk("IDAT", scanlines[5..]),
            Chunk("zzZz", [1, 2, 3]),
            Iend);
        var image = Decode(png);
        Assert.Equal((4, 3), (image.Width, image.Height));
        Assert.Equal(GreyRows(4, 3)[2][3], Pixel(image, 3, 2)[0]);
    }

    [Fact]
    public void BytesAfterIendAreIgnored()
    {
        byte[] png = [.. Grey(), .. "trailing garbage"u8.ToArray()];
        Assert.Equal(5, Decode(png).Width);
    }

    // The sample digits in samples/digits were written by Pillow from the bundled test digits
    // (samples/digits/make-digits.py); the exactly reproducible ones must decode to those bytes.

    private static string Sample(string name) => Path.Combine(AppContext.BaseDirectory, "Digits", name);

    private static ReadOnlySpan<byte> TestDigit(int index) => BundledDigits.Load().Test.Image(index);

    [Fact]
    public void PillowGreyAndPaletteFilesDecodeToTheBundledDigits()
    {
        foreach (var (file, index) in new[] { ("7-grey.png", 2), ("4-palette.png", 8) })
        {
            var image = PngReader.Read(Sample(file));
            Assert.Equal((28, 28), (image.Width, image.Height));
            var digit = TestDigit(index).ToArray();
            for (int i = 0; i < 784; i++)
                Assert.Equal(new byte[] { digit[i], digit[i], digit[i], 255 }, image.Rgba.AsSpan(4 * i, 4).ToArray());
        }
        var four = PngReader.Read(Sample("6-palette4.png"));
        Assert.Equal((PngColorType.Palette, 4), (four.ColorType, four.BitDepth));
        var six = TestDigit(5).ToArray();
        for (int i = 0; i < 784; i++) Assert.Equal(six[i] / 17 * 17, four.Rgba[4 * i]);
    }

    [Fact]
    public void PillowRgbAndRgbaFilesDecodeToTheBundledDigits()
    {
        var rgb = PngReader.Read(Sample("2-rgb.png"));
        var two = TestDigit(4).ToArray();
        (int Lo, int Hi)[] ramps = [(10, 255), (20, 220), (70, 40)];
        for (int i = 0; i < 784; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(ramps[c].Lo + (int)Math.Floor((ramps[c].Hi - ramps[c].Lo) * two[i] / 255.0), rgb.Rgba[4 * i + c]); // Python's floor division

        var rgba = PngReader.Read(Sample("0-rgba-dark-on-transparent.png"));
        var zero = TestDigit(19).ToArray();
        for (int i = 0; i < 784; i++)
            Assert.Equal(new byte[] { 0, 0, 0, zero[i] }, rgba.Rgba.AsSpan(4 * i, 4).ToArray());
    }

    [Fact]
    public void PillowSixteenBitAndGreyAlphaFilesDecode()
    {
        var wide = PngReader.Read(Sample("1-grey16-dark-on-white-84px.png"));
        Assert.Equal((84, 84, PngColorType.Grey, 16), (wide.Width, wide.Height, wide.ColorType, wide.BitDepth));
        Assert.Equal(new byte[] { 255, 255, 255, 255 }, Pixel(wide, 0, 0)); // white paper in the corner
        Assert.True(Enumerable.Range(0, 84 * 84).Min(i => wide.Rgba[4 * i]) < 40, "the dark digit is there");

        var ga = PngReader.Read(Sample("5-grey-alpha-56px.png"));
        Assert.Equal((56, 56, PngColorType.GreyAlpha, 8), (ga.Width, ga.Height, ga.ColorType, ga.BitDepth));
        Assert.All(Enumerable.Range(0, 56 * 56), i => Assert.Equal(255, ga.Rgba[4 * i + 3]));
        Assert.Equal(0, Pixel(ga, 0, 0)[0]); // black background
    }
}
