using SharpCnn.Tensors;

namespace SharpCnn.Data;

/// <summary>
/// An 8-bit image of 1 (grey) or 3 (red, green, blue) channels, held channel-planar (C x H x W, the
/// layout a model's input and <see cref="ImageDataSet.Image"/> use): the form a picture takes before a
/// model sees it. The decoders make one (the PNG reader here, JPEG/PNG/WebP/BMP/GIF in the
/// SharpCnn.Images package); <see cref="ToChannels"/> and <see cref="Resize"/> fit it to a model.
///
/// Colour to grey is luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), rounded; grey to colour
/// repeats the grey plane three times. Transparency is composited over white paper when an image with
/// alpha is made (<see cref="FromRgba"/>): c' = c·α + 255·(1 - α), α = alpha / 255. Resizing works channel
/// by channel as <see cref="GreyImage"/> does: area averaging along an axis that shrinks, bilinear
/// interpolation along one that grows.
/// </summary>
public sealed class PixelImage
{
    private readonly byte[] pixels;

    /// <summary>Wraps a copy of <paramref name="pixels"/>: <paramref name="channels"/> planes of <paramref name="height"/> x <paramref name="width"/> bytes.</summary>
    /// <exception cref="ArgumentException">The channel count is not 1 or 3, or the pixels do not fit the size.</exception>
    public PixelImage(int channels, int height, int width, ReadOnlySpan<byte> pixels)
        : this(channels, height, width, pixels.ToArray())
    {
    }

    private PixelImage(int channels, int height, int width, byte[] pixels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"an image has 1 (grey) or 3 (RGB) channels, not {channels}", nameof(channels));
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (pixels.LongLength != (long)channels * width * height)
            throw new ArgumentException($"a {channels}x{height}x{width} image has {(long)channels * width * height} bytes, got {pixels.LongLength}", nameof(pixels));
        Channels = channels;
        Height = height;
        Width = width;
        this.pixels = pixels;
    }

    /// <summary>1 (grey) or 3 (red, green, blue).</summary>
    public int Channels { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }

    /// <summary>C x H x W, the shape a model takes this image as.</summary>
    public Shape Shape => new(Channels, Height, Width);

    /// <summary>The pixels, channel-planar and row-major.</summary>
    public ReadOnlySpan<byte> Pixels => pixels;

    /// <summary>The pixel of channel <paramref name="channel"/> at column <paramref name="x"/>, row <paramref name="y"/>.</summary>
    public byte this[int channel, int x, int y]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)channel, (uint)Channels, nameof(channel));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)x, (uint)Width, nameof(x));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)y, (uint)Height, nameof(y));
            return pixels[(channel * Height + y) * Width + x];
        }
    }

    /// <summary>Takes <paramref name="pixels"/> as they are (no copy): for decoders that filled a fresh array.</summary>
    internal static PixelImage Adopt(int channels, int height, int width, byte[] pixels) => new(channels, height, width, pixels);

    /// <summary>
    /// Makes an image from interleaved RGBA bytes (4 per pixel, row-major, alpha not premultiplied), with
    /// transparency composited over white, as <paramref name="channels"/> = 3 planes or 1 plane of luma.
    /// </summary>
    public static PixelImage FromRgba(int width, int height, ReadOnlySpan<byte> rgba, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"an image has 1 (grey) or 3 (RGB) channels, not {channels}", nameof(channels));
        long count = (long)width * height;
        if (width < 1 || height < 1 || rgba.Length != 4 * count)
            throw new ArgumentException($"a {width}x{height} RGBA image has {4 * count} bytes, got {rgba.Length}", nameof(rgba));
        var result = new byte[channels * count];
        RgbaToPlanes(rgba, result, (int)count, channels);
        return new PixelImage(channels, height, width, result);
    }

    /// <summary>
    /// Writes <paramref name="pixelCount"/> RGBA pixels into <paramref name="planes"/> as 3 planes or one plane of
    /// luma, compositing transparency over white (see the class remarks). Allocates nothing.
    /// </summary>
    internal static void RgbaToPlanes(ReadOnlySpan<byte> rgba, Span<byte> planes, int pixelCount, int channels)
    {
        for (int i = 0; i < pixelCount; i++)
        {
            int o = 4 * i;
            byte r = rgba[o], g = rgba[o + 1], b = rgba[o + 2], a = rgba[o + 3];
            double alpha = a / 255.0, paper = 255 * (1 - alpha);
            if (channels == 1)
            {
                // Luma of the colour, then over white: the same arithmetic as GreyImage.FromPng.
                planes[i] = ToByte((0.299 * r + 0.587 * g + 0.114 * b) * alpha + paper);
            }
            else if (a == 255)
            {
                planes[i] = r;
                planes[pixelCount + i] = g;
                planes[2 * pixelCount + i] = b;
            }
            else
            {
                planes[i] = ToByte(r * alpha + paper);
                planes[pixelCount + i] = ToByte(g * alpha + paper);
                planes[2 * pixelCount + i] = ToByte(b * alpha + paper);
            }
        }
    }

    /// <summary>Reads a PNG file with SharpCnn's own reader (<see cref="PngReader"/>) as <paramref name="channels"/> channels.</summary>
    /// <exception cref="FileFormatException">The file is not a PNG the reader accepts.</exception>
    public static PixelImage LoadPng(string path, int channels = 3)
    {
        var png = PngReader.Read(path);
        return FromRgba(png.Width, png.Height, png.Rgba, channels);
    }

    /// <summary>Image <paramref name="index"/> of a data set.</summary>
    public static PixelImage FromDataSet(ImageDataSet data, int index)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Channels is not (1 or 3)) throw new ArgumentException($"the data set's images have {data.Channels} channels; an image has 1 or 3", nameof(data));
        return new PixelImage(data.Channels, data.Rows, data.Cols, data.Image(index));
    }

    /// <summary>
    /// This image with <paramref name="channels"/> channels: colour to grey by luma, grey to colour by
    /// repeating the plane; the image itself when it has them already.
    /// </summary>
    public PixelImage ToChannels(int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"an image has 1 (grey) or 3 (RGB) channels, not {channels}", nameof(channels));
        if (channels == Channels) return this;
        int plane = Width * Height;
        var result = new byte[(long)channels * plane];
        if (channels == 1)
        {
            for (int i = 0; i < plane; i++) result[i] = Luma(pixels[i], pixels[plane + i], pixels[2 * plane + i]);
        }
        else
        {
            for (int c = 0; c < 3; c++) pixels.AsSpan(0, plane).CopyTo(result.AsSpan(c * plane));
        }
        return new PixelImage(channels, Height, Width, result);
    }

    /// <summary>255 - pixel everywhere: dark-on-light becomes light-on-dark and back.</summary>
    public PixelImage Invert()
    {
        var inverted = new byte[pixels.Length];
        for (int i = 0; i < inverted.Length; i++) inverted[i] = (byte)(255 - pixels[i]);
        return new PixelImage(Channels, Height, Width, inverted);
    }

    /// <summary>
    /// This image at <paramref name="width"/> x <paramref name="height"/>, channel by channel: area averaging
    /// along an axis that shrinks, bilinear interpolation along one that grows; the image itself when it has that size.
    /// </summary>
    public PixelImage Resize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (width == Width && height == Height) return this;
        var result = new byte[(long)Channels * width * height];
        var across = GreyImage.Weights(Width, width);
        var down = GreyImage.Weights(Height, height);
        var wide = new double[(long)Height * width];
        for (int c = 0; c < Channels; c++)
            ResizePlane(pixels.AsSpan(c * Width * Height, Width * Height), Width, Height, result.AsSpan(c * width * height, width * height), width, height, across, down, wide);
        return new PixelImage(Channels, height, width, result);
    }

    /// <summary>One plane resized with precomputed axis weights (<see cref="GreyImage.Weights"/>); <paramref name="wide"/> is scratch of source height x target width.</summary>
    internal static void ResizePlane(ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight, Span<byte> target, int width, int height,
        (int Source, double Weight)[][] across, (int Source, double Weight)[][] down, Span<double> wide)
    {
        for (int y = 0; y < sourceHeight; y++)
            for (int x = 0; x < width; x++)
            {
                double sum = 0;
                foreach (var (s, weight) in across[x]) sum += weight * source[y * sourceWidth + s];
                wide[y * width + x] = sum;
            }
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double sum = 0;
                foreach (var (s, weight) in down[y]) sum += weight * wide[s * width + x];
                target[y * width + x] = ToByte(sum);
            }
    }

    /// <summary>Luma Y = 0.299 R + 0.587 G + 0.114 B, rounded to the nearest byte (halves away from zero).</summary>
    public static byte Luma(byte r, byte g, byte b) => ToByte(0.299 * r + 0.587 * g + 0.114 * b);

    private static byte ToByte(double v) => (byte)Math.Clamp(Math.Round(v, MidpointRounding.AwayFromZero), 0, 255);
}
