using System.Runtime.InteropServices;
using SharpCnn.Data;
using SkiaSharp;

namespace SharpCnn.Images;

/// <summary>The image formats <see cref="ImageDecoder"/> reads.</summary>
public enum ImageFormat
{
    /// <summary>JPEG (baseline and progressive; grey or colour).</summary>
    Jpeg,

    /// <summary>PNG (every colour type and bit depth, interlaced or not).</summary>
    Png,

    /// <summary>WebP (lossy and lossless, with or without alpha).</summary>
    WebP,

    /// <summary>BMP (Windows bitmaps).</summary>
    Bmp,

    /// <summary>GIF (the first frame of an animation).</summary>
    Gif,
}

/// <summary>What an image file's header declares, read before any pixel is decoded.</summary>
/// <param name="Format">The format found in the bytes (not guessed from the file name).</param>
/// <param name="Width">Pixels per row.</param>
/// <param name="Height">Rows.</param>
/// <param name="IsGrey">True when the file stores one grey channel without transparency.</param>
public sealed record ImageHeader(ImageFormat Format, int Width, int Height, bool IsGrey);

/// <summary>
/// Decodes JPEG, PNG, WebP, BMP and GIF images (through SkiaSharp, Google's Skia decoders) into
/// SharpCnn's <see cref="PixelImage"/>: 1 (grey) or 3 (red, green, blue) channel-planar bytes.
///
/// What a decode does, in order: the format is recognised from the bytes; the header's declared size is
/// checked against <see cref="MaxPixels"/> and against what the file's bytes can hold
/// (<see cref="MaxPixelsPerFileByte"/>) before anything image-sized is allocated, so a 100,000 x 100,000
/// header is refused at once; then the pixels are decoded into a buffer of the declared size. Grey files
/// decode to their grey bytes exactly; anything else decodes to 8-bit RGBA without colour management (the
/// stored values, as PIL and torchvision read them), transparency is composited over white, and colour
/// becomes grey by luma 0.299 R + 0.587 G + 0.114 B when one channel is asked for (<see cref="PixelImage"/>).
/// An animated GIF gives its first frame; EXIF orientation is not applied (as in PIL and torchvision).
///
/// Every problem (unknown bytes, a format outside the five, a size over the limits, a file cut short,
/// corrupt data) is a <see cref="FileFormatException"/> naming the file and saying why; Skia's decoders
/// do not report byte offsets, so its offset is -1.
/// </summary>
public static class ImageDecoder
{
    /// <summary>The largest image accepted, in pixels (32 Mi, e.g. 8192 x 4096; the same limit as SharpCnn's PNG reader).</summary>
    public const long MaxPixels = PngReader.MaxPixels;

    /// <summary>The largest file accepted, in bytes (256 MiB).</summary>
    public const long MaxFileBytes = PngReader.MaxFileBytes;

    /// <summary>
    /// The most pixels an image may declare per byte of its file (beyond the first 65,536 pixels, always
    /// allowed): real pictures hold well under 100, a one-colour image compressed as hard as its format
    /// allows a few thousand, so a small file declaring a large image is refused before its pixels are allocated.
    /// </summary>
    public const long MaxPixelsPerFileByte = 4096;

    /// <summary>Pixels always allowed whatever the file's size (256 x 256).</summary>
    public const long SmallImagePixels = 1 << 16;

    /// <summary>The file name endings image folders take as images, in lower case.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];

    /// <summary>True when <paramref name="path"/> ends in one of <see cref="Extensions"/> (any case).</summary>
    public static bool HasImageExtension(string path)
    {
        string extension = Path.GetExtension(path);
        foreach (string e in Extensions)
            if (extension.Equals(e, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>The most pixels a file of <paramref name="fileBytes"/> bytes may declare (see <see cref="MaxPixelsPerFileByte"/>).</summary>
    public static long PixelAllowance(long fileBytes) => Math.Min(MaxPixels, Math.Max(SmallImagePixels, fileBytes * MaxPixelsPerFileByte));

    /// <summary>Reads the file at <paramref name="path"/> (at most <see cref="MaxFileBytes"/>).</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="FileFormatException">The file is larger than the limit or cannot be read.</exception>
    public static byte[] ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path)) throw new FileFormatException(path, -1, "is a folder, expected an image file");
            if (!info.Exists) throw new FileNotFoundException($"{path}: no such image file", path);
            if (info.Length > MaxFileBytes) throw new FileFormatException(path, 0, $"expected an image file of at most {MaxFileBytes} bytes, this one has {info.Length}");
            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FileFormatException(path, -1, "cannot be read: " + e.Message, e);
        }
    }

    /// <summary>Reads and decodes the image file at <paramref name="path"/>; <paramref name="channels"/> as in <see cref="Decode"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="FileFormatException">The file is not an image this decoder accepts; the message says why.</exception>
    public static PixelImage Load(string path, int channels = 0) => Decode(ReadFile(path), path, channels);

    /// <summary>Reads only the header of an image held in <paramref name="data"/>: format, size and whether it is grey.</summary>
    /// <exception cref="FileFormatException">The bytes are not an image of the five formats, or declare a size over the limits.</exception>
    public static ImageHeader ReadHeader(ReadOnlySpan<byte> data, string name)
    {
        using var bytes = Copy(data, name);
        using var codec = Open(bytes, data, name);
        return Header(codec, data.Length, name);
    }

    /// <summary>
    /// The width and height the header of the image in <paramref name="data"/> declares, without checking them
    /// against any limit and without decoding a pixel; false when the bytes do not start an image of the five formats.
    /// For callers that must tell an image refused for its declared size from one that is not an image at all.
    /// </summary>
    public static bool TryReadDeclaredSize(ReadOnlySpan<byte> data, out int width, out int height)
    {
        width = height = 0;
        if (data.IsEmpty || data.Length > MaxFileBytes) return false;
        using var bytes = SKData.CreateCopy(data);
        var stream = new SKMemoryStream(bytes); // owned by the codec once it exists
        using var codec = SKCodec.Create(stream);
        if (codec is null)
        {
            stream.Dispose();
            return false;
        }
        if (Format(codec.EncodedFormat) is null) return false;
        (width, height) = (codec.Info.Width, codec.Info.Height);
        return true;
    }

    /// <summary>
    /// Decodes an image held in <paramref name="data"/> (<paramref name="name"/> names it in errors) into
    /// <paramref name="channels"/> channels: 1 (grey; colour by luma), 3 (colour; grey repeated), or 0 for the
    /// file's own (1 for a grey file without transparency, else 3). The declared size is checked before decoding.
    /// </summary>
    /// <exception cref="FileFormatException">The bytes are not an image this decoder accepts; the message says why.</exception>
    public static PixelImage Decode(ReadOnlySpan<byte> data, string name, int channels = 0)
    {
        if (channels is not (0 or 1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "images decode to 1 (grey) or 3 (colour) channels, or 0 for the file's own");
        using var bytes = Copy(data, name);
        using var codec = Open(bytes, data, name);
        var header = Header(codec, data.Length, name);
        int width = header.Width, height = header.Height;
        int plane = width * height;
        if (header.IsGrey)
        {
            var grey = new byte[plane];
            DecodeInto(codec, new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), grey, width, name);
            var image = PixelImage.Adopt(1, height, width, grey);
            return channels == 3 ? image.ToChannels(3) : image;
        }
        var rgba = new byte[4L * plane];
        DecodeInto(codec, new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), rgba, 4 * width, name);
        int c = channels == 0 ? 3 : channels;
        var planes = new byte[(long)c * plane];
        PixelImage.RgbaToPlanes(rgba, planes, plane, c);
        return PixelImage.Adopt(c, height, width, planes);
    }

    private static void DecodeInto(SKCodec codec, SKImageInfo info, byte[] target, int rowBytes, string name)
    {
        var handle = GCHandle.Alloc(target, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, handle.AddrOfPinnedObject(), rowBytes, new SKCodecOptions(0));
        }
        finally
        {
            handle.Free();
        }
        if (result != SKCodecResult.Success)
            throw new FileFormatException(name, -1, $"the {Describe(codec.EncodedFormat)} data of this {codec.Info.Width}x{codec.Info.Height} image do not decode: {Reason(result)}");
    }

    /// <summary>Skia's copy of the bytes (native memory), checked for size first. Disposed by the caller: every SkiaSharp object is, so
    /// SkiaSharp's table of live objects stays small and decoding allocates nothing that grows with the number of files read.</summary>
    private static SKData Copy(ReadOnlySpan<byte> data, string name)
    {
        if (data.IsEmpty) throw new FileFormatException(name, -1, "the file is empty: expected a JPEG, PNG, WebP, BMP or GIF image");
        if (data.Length > MaxFileBytes) throw new FileFormatException(name, -1, $"expected an image of at most {MaxFileBytes} bytes, this one has {data.Length}");
        return SKData.CreateCopy(data);
    }

    private static SKCodec Open(SKData bytes, ReadOnlySpan<byte> data, string name)
    {
        // The codec owns the stream (and disposes it); the stream holds a reference to the bytes.
        var stream = new SKMemoryStream(bytes);
        var codec = SKCodec.Create(stream, out var result);
        if (codec is null)
        {
            stream.Dispose();
            // A file that claims to be a PNG: SharpCnn's own PNG reader says where and why (with a byte offset).
            if (data.StartsWith(PngFormat.Signature) || name.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                PngReader.Decode(data, name);
            if (Sniff(data) is { } known)
                throw new FileFormatException(name, -1, $"starts like a {known} image, but its header does not read: {(result == SKCodecResult.IncompleteInput ? "the file ends before the header does" : Reason(result))}");
            throw new FileFormatException(name, -1, result == SKCodecResult.IncompleteInput
                ? $"expected a JPEG, PNG, WebP, BMP or GIF image, found {Start(data)}: not an image of these formats, or one cut short before its header ends"
                : $"expected a JPEG, PNG, WebP, BMP or GIF image, found {Start(data)}: not an image of these formats");
        }
        if (Format(codec.EncodedFormat) is null)
        {
            var format = codec.EncodedFormat;
            codec.Dispose();
            throw new FileFormatException(name, -1, $"is a {format} image; SharpCnn reads JPEG, PNG, WebP, BMP and GIF");
        }
        return codec;
    }

    private static ImageHeader Header(SKCodec codec, long fileBytes, string name)
    {
        var info = codec.Info;
        long pixels = (long)info.Width * info.Height;
        string format = Describe(codec.EncodedFormat);
        if (info.Width < 1 || info.Height < 1)
            throw new FileFormatException(name, -1, $"the {format} header declares a {info.Width}x{info.Height} image; expected at least 1x1");
        if (pixels > MaxPixels)
            throw new FileFormatException(name, -1, $"the {format} header declares a {info.Width}x{info.Height} image ({pixels} pixels); expected at most {MaxPixels} pixels");
        if (pixels > PixelAllowance(fileBytes))
            throw new FileFormatException(name, -1, $"the {format} header declares a {info.Width}x{info.Height} image ({pixels} pixels), more than a file of {fileBytes} bytes can hold (expected at most {PixelAllowance(fileBytes)}): the file is cut short or its size is a lie");
        bool grey = info.ColorType == SKColorType.Gray8 && info.AlphaType == SKAlphaType.Opaque;
        return new ImageHeader(Format(codec.EncodedFormat)!.Value, info.Width, info.Height, grey);
    }

    /// <summary>The format whose signature <paramref name="data"/> starts with, for messages about a header Skia refused.</summary>
    private static string? Sniff(ReadOnlySpan<byte> data) =>
        data.StartsWith(PngFormat.Signature) ? "PNG"
        : data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "JPEG"
        : data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8) ? "GIF"
        : data.StartsWith("BM"u8) && data.Length >= 14 ? "BMP"
        : data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8) ? "WebP"
        : null;

    private static ImageFormat? Format(SKEncodedImageFormat format) => format switch
    {
        SKEncodedImageFormat.Jpeg => ImageFormat.Jpeg,
        SKEncodedImageFormat.Png => ImageFormat.Png,
        SKEncodedImageFormat.Webp => ImageFormat.WebP,
        SKEncodedImageFormat.Bmp => ImageFormat.Bmp,
        SKEncodedImageFormat.Gif => ImageFormat.Gif,
        _ => null,
    };

    private static string Describe(SKEncodedImageFormat format) => Format(format) switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.WebP => "WebP",
        ImageFormat.Bmp => "BMP",
        ImageFormat.Gif => "GIF",
        _ => format.ToString(),
    };

    private static string Reason(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the image data end early (the file is truncated)",
        SKCodecResult.ErrorInInput => "the image data are corrupt",
        SKCodecResult.InvalidInput => "the image data are invalid",
        SKCodecResult.InvalidConversion => "the image's colour type cannot be converted to 8-bit channels",
        SKCodecResult.Unimplemented => "the file uses a feature of its format the decoder does not implement",
        SKCodecResult.CouldNotRewind => "the decoder could not re-read the data",
        _ => $"the decoder says {result}",
    };

    private static string Start(ReadOnlySpan<byte> data) =>
        string.Join(" ", data[..Math.Min(8, data.Length)].ToArray().Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture))) + (data.Length > 8 ? " ..." : "");
}
