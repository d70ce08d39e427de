// The image part of the hostile-input corpus, read through SharpCnn.Images' SkiaSharp decoder: valid
// JPEG, WebP, BMP, GIF and PNG seeds (of the mutation tests too), then files that are empty, foreign,
// cut in the header or in the data, of a format outside the five, and headers declaring sizes the
// decoder must refuse before allocating (100,000-pixel sides, or far more pixels than the file holds).
//
// BMP, GIF and PNG files are written byte by byte here (BmpBytes, GifBytes, PngBytes). Skia's JPEG and
// WebP encoders may not write the same bytes on every machine, so those seeds are fixed bytes, written
// once by SharpCnn.Images' ImageEncoder (SkiaSharp 4.156.1) and kept here as base64:
//   jpeg-grey:   10x12 grey ramp, ImageEncoder.Encode(..., ImageFormat.Jpeg, 90)  (baseline, one component)
//   jpeg-colour: 16x16 colour ramp, quality 75                                     (baseline, YCbCr 4:2:0)
//   webp-lossy:  the same colour ramp, ImageFormat.WebP, quality 80                (VP8)
//   webp-grey:   the grey ramp, ImageFormat.WebP, quality 100                      (VP8L, lossless)

using System.Buffers.Binary;
using SharpCnn.Data;

namespace SharpCnn.Tests.Hostile;

internal sealed class ImageCorpus : ICorpusFormat
{
    private const string R = "image";

    public string Folder => "images";

    /// <summary>Skia reports no byte offsets: its errors name the file and the problem.</summary>
    public bool ByteOffsets => false;

    public static byte[] JpegGrey => Convert.FromBase64String(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU" +
        "FRUVDA8XGBYUGBIUFRT/wAALCAAMAAoBAREA/8QAFgABAQEAAAAAAAAAAAAAAAAACQcI/8QAIBAAAAQHAQEAAAAAAAAAAAAAAAME" +
        "IgIFCCRDUbEUNP/aAAgBAQAAPwCfUtyT5G6CBIpJZkNxw8GM6W0hdo3QQJEkL8ZDccPB/9k=");

    public static byte[] JpegColour => Convert.FromBase64String(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAx" +
        "NDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy" +
        "MjIyMjIyMjL/wAARCAAQABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAABQb/xAAhEAAABQMFAQAAAAAAAAAAAAAAAQID" +
        "IQURMQQTQVHwcf/EABUBAQEAAAAAAAAAAAAAAAAAAAUG/8QAHxEAAQMDBQAAAAAAAAAAAAAAAQACAwQFIRIUQXGh/9oADAMBAAIR" +
        "AxEAPwAims4gVuiRtMmvoo+gKms4gUaU2Q22XJ3OfeINXSr2lHJNyBjs4HqnWN1OAX//2Q==");

    public static byte[] WebPLossy => Convert.FromBase64String(
        "UklGRmgAAABXRUJQVlA4IFwAAAAwAgCdASoQABAAAUAmJbACdLoB+AACSLz2AAD+8aIHRIw0VObVg0YFCyaf0Pyy9XL07usn3/84" +
        "jet5HH9/9//x/0Qfl+f/8dlweP5/6+ruD+f/5gkogXQW5z8AAA==");

    public static byte[] WebPLossless => Convert.FromBase64String(
        "UklGRnwAAABXRUJQVlA4THAAAAAvCcACAA9CIEBR/PD/qwME2bahbfc4QbZtaNs9Pv+5fzd/OIwk27Sebds2v5l/XieGiP53AaEE" +
        "zYmKbrmgtKi7cdmvV4yRDC+phu2Gs7Lpp/W43wlOsYKsmY4Hyat2mLfz+QTyBeQbyA+QXyB/QP4B");

    public static byte[] Bmp => BmpBytes.Rgb24(7, 5, (x, y) => ((byte)(x * 36), (byte)(y * 60), (byte)(255 - x * y * 7)));

    public static byte[] Gif => GifBytes.Indexed(11, 9, (x, y) => (byte)((x * 23 + y * 11) % 256), GifBytes.GreyPalette());

    public static byte[] PngRgba => PngBytes.Image(4, 3, 8, 6, Data.PngTestFiles.Scanlines(
        [.. Enumerable.Range(0, 3).Select(y => Enumerable.Range(0, 16).Select(i => (byte)((i * 29 + y * 53) % 256)).ToArray())], 4, y => y % 5));

    /// <summary>The valid files: the mutation tests' seeds.</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes)> Seeds =>
    [
        ("good-grey.jpg", JpegGrey), ("good-colour.jpg", JpegColour), ("good-lossy.webp", WebPLossy), ("good-lossless.webp", WebPLossless),
        ("good-rgb24.bmp", Bmp), ("good-grey.gif", Gif), ("good-rgba.png", PngRgba),
    ];

    public IEnumerable<CorpusFile> Generate()
    {
        foreach (var (name, bytes) in Seeds) yield return new(name, bytes, R, CorpusFile.Ok);

        yield return new("empty.jpg", [], R, "the file is empty: expected a JPEG, PNG, WebP, BMP or GIF image");
        yield return new("text.jpg", "just some text, not a picture\n"u8.ToArray(), R, "expected a JPEG, PNG, WebP, BMP or GIF image, found 6A 75 73 74 20 73 6F 6D ...");

        // Cut inside the header: the signature says which format, the header does not read.
        yield return new("cut-in-header.jpg", JpegColour[..40], R, "starts like a JPEG image, but its header does not read");
        yield return new("cut-in-header.webp", WebPLossy[..20], R, "starts like a WebP image, but its header does not read");
        yield return new("cut-in-header.gif", Gif[..10], R, "starts like a GIF image, but its header does not read");
        yield return new("cut-in-header.bmp", Bmp[..30], R, "starts like a BMP image, but its header does not read");

        // Cut inside the image data: the header reads, the pixels do not.
        int scan = JpegColour.AsSpan().IndexOf((ReadOnlySpan<byte>)[0xFF, 0xDA]); // start of scan: the entropy-coded data follow its header
        yield return new("cut-in-data.jpg", JpegColour[..((scan + JpegColour.Length) / 2)], R, "the JPEG data of this 16x16 image do not decode: the image data end early (the file is truncated)");
        yield return new("cut-in-data.gif", Gif[..(Gif.Length - 40)], R, "the GIF data of this 11x9 image do not decode: the image data end early (the file is truncated)");
        yield return new("cut-in-data.bmp", Bmp[..(Bmp.Length - 20)], R, "the BMP data of this 7x5 image do not decode: the image data end early (the file is truncated)");

        // Sizes: refused from the header, before the pixels are allocated.
        yield return new("huge-100000x100000.png", Images.ImageDecoderTests.WithPngSize(PngRgba, 100_000, 100_000), R, "the PNG header declares a 100000x100000 image (10000000000 pixels); expected at most 33554432 pixels");
        yield return new("huge-65000x65000.jpg", Images.ImageDecoderTests.WithJpegSize(JpegGrey, 65_000, 65_000), R, "the JPEG header declares a 65000x65000 image (4225000000 pixels); expected at most 33554432 pixels");
        yield return new("huge-65000x65000.gif", GifBytes.Indexed(11, 9, (x, y) => 1, GifBytes.GreyPalette(), 65_000, 65_000), R, "the GIF header declares a 65000x65000 image (4225000000 pixels); expected at most 33554432 pixels");
        yield return new("lying-4000x4000.jpg", Images.ImageDecoderTests.WithJpegSize(JpegGrey, 4000, 4000), R, $"the JPEG header declares a 4000x4000 image (16000000 pixels), more than a file of {JpegGrey.Length} bytes can hold");
        yield return new("lying-4000x4000.png", Images.ImageDecoderTests.WithPngSize(PngRgba, 4000, 4000), R, "the PNG header declares a 4000x4000 image (16000000 pixels), more than a file of");

        // A format Skia reads that SharpCnn does not take: an ICO holding the PNG.
        yield return new("icon.ico", Ico(PngRgba), R, "is a Ico image; SharpCnn reads JPEG, PNG, WebP, BMP and GIF");
    }

    /// <summary>An .ico file with one image, the PNG <paramref name="png"/>.</summary>
    private static byte[] Ico(byte[] png)
    {
        var file = new byte[6 + 16 + png.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(2), 1); // type: icon
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(4), 1); // one image
        file[6] = 4; // width
        file[7] = 3; // height
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(10), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(12), 32);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(14), (uint)png.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(18), 22);
        png.CopyTo(file, 22);
        return file;
    }

    /// <summary>What decoding a file may legitimately allocate: its declared pixels as RGBA and as planes, when the decoder would accept that size.</summary>
    public static long DecodedLength(byte[] file)
    {
        try
        {
            var header = SharpCnn.Images.ImageDecoder.ReadHeader(file, "probe");
            return file.Length + 7L * header.Width * header.Height;
        }
        catch (FileFormatException)
        {
            return file.Length;
        }
    }
}
