using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Formats;
using SkiaSharp;

namespace SharpCnn.Images;

/// <summary>
/// Writes <see cref="PixelImage"/>s as PNG, JPEG or WebP files (SkiaSharp's encoders; Skia writes no BMP or
/// GIF): grey images as 8-bit grey, colour ones as 8-bit RGB. For making image folders, e.g. from an IDX
/// or CIFAR data set.
/// </summary>
public static class ImageEncoder
{
    /// <summary>The image as a file of <paramref name="format"/>; <paramref name="quality"/> (0-100) applies to JPEG and lossy WebP.</summary>
    /// <exception cref="NotSupportedException">The format is BMP or GIF, which Skia does not write.</exception>
    public static byte[] Encode(PixelImage image, ImageFormat format, int quality = 90)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegative(quality);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        var skFormat = format switch
        {
            ImageFormat.Png => SKEncodedImageFormat.Png,
            ImageFormat.Jpeg => SKEncodedImageFormat.Jpeg,
            ImageFormat.WebP => SKEncodedImageFormat.Webp,
            _ => throw new NotSupportedException($"SkiaSharp writes PNG, JPEG and WebP, not {format}"),
        };
        int plane = image.Width * image.Height;
        ReadOnlySpan<byte> pixels = image.Pixels;
        using var bitmap = image.Channels == 1
            ? new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Gray8, SKAlphaType.Opaque))
            : new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var bytes = new byte[bitmap.ByteCount];
        int stride = bitmap.RowBytes;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                int i = y * image.Width + x;
                if (image.Channels == 1)
                {
                    bytes[y * stride + x] = pixels[i];
                    continue;
                }
                int o = y * stride + 4 * x;
                bytes[o] = pixels[i];
                bytes[o + 1] = pixels[plane + i];
                bytes[o + 2] = pixels[2 * plane + i];
                bytes[o + 3] = 255;
            }
        Marshal.Copy(bytes, 0, bitmap.GetPixels(), bytes.Length);
        using var data = bitmap.Encode(skFormat, quality) ?? throw new InvalidOperationException($"Skia could not encode a {image.Shape} image as {format}");
        return data.ToArray();
    }

    /// <summary>Writes the image to <paramref name="path"/> atomically (see <see cref="AtomicFile"/>).</summary>
    public static void Save(PixelImage image, string path, ImageFormat format, int quality = 90)
    {
        byte[] bytes = Encode(image, format, quality);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }
}
