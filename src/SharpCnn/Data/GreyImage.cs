
namespace SharpCnn.Data;

/// <summary>
/// An 8-bit grey-scale image (0 = black, 255 = white), the form a picture takes before a
/// model sees it: made from a PNG, resized to the model's input and optionally inverted.
///
/// Colour to grey: luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), after compositing any
/// transparency over white paper: c' = c·α + 255·(1 - α) with α = alpha / 255. A dark digit on a
/// transparent background therefore becomes a dark digit on white, which <see cref="Invert"/>
/// turns into the MNIST convention (light digit on black).
///
/// Resizing works axis by axis: an axis that shrinks averages the source pixels each target
/// pixel covers, weighted by the covered length (area averaging, no aliasing); an axis that
/// grows or keeps its size interpolates linearly between the two nearest source pixel centres
/// (bilinear, edges clamped). Results are rounded to the nearest byte.
/// </summary>
public sealed class GreyImage
{
    private readonly byte[] pixels;

    /// <summary>Wraps <paramref name="pixels"/> (<paramref name="width"/> x <paramref name="height"/> bytes, row-major; copied).</summary>
    public GreyImage(int width, int height, ReadOnlySpan<byte> pixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (pixels.Length != (long)width * height)
            throw new ArgumentException($"a {width}x{height} image has {(long)width * height} pixels, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        this.pixels = pixels.ToArray();
    }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>The pixels, row-major, one byte each.</summary>
    public ReadOnlySpan<byte> Pixels => pixels;

    /// <summary>The pixel at column <paramref name="x"/>, row <paramref name="y"/>.</summary>
    public byte this[int x, int y]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)x, (uint)Width, nameof(x));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)y, (uint)Height, nameof(y));
            return pixels[y * Width + x];
        }
    }

    /// <summary>Reads a PNG file (any colour type <see cref="PngReader"/> accepts) and converts it to grey.</summary>
    /// <exception cref="FileFormatException">The file is not a PNG the reader accepts.</exception>
    public static GreyImage Load(string pngPath) => FromPng(PngReader.Read(pngPath));

    /// <summary>Converts a decoded PNG to grey (luma over white; see the class remarks).</summary>
    public static GreyImage FromPng(PngImage png)
    {
        ArgumentNullException.ThrowIfNull(png);
        var grey = new byte[(long)png.Width * png.Height];
        ReadOnlySpan<byte> rgba = png.Rgba;
        for (int i = 0; i < grey.Length; i++)
        {
            int o = 4 * i;
            double alpha = rgba[o + 3] / 255.0;
            double luma = 0.299 * rgba[o] + 0.587 * rgba[o + 1] + 0.114 * rgba[o + 2];
            grey[i] = ToByte(luma * alpha + 255 * (1 - alpha));
        }
        return new GreyImage(png.Width, png.Height, grey);
    }

    /// <summary>Image <paramref name="index"/> of a data set.</summary>
    public static GreyImage FromDataSet(ImageDataSet data, int index)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new GreyImage(data.Cols, data.Rows, data.Image(index));
    }

    /// <summary>255 - pixel everywhere: dark-on-light becomes light-on-dark (MNIST's convention) and back.</summary>
    public GreyImage Invert()
    {
        var inverted = new byte[pixels.Length];
        for (int i = 0; i < inverted.Length; i++) inverted[i] = (byte)(255 - pixels[i]);
        return new GreyImage(Width, Height, inverted);
    }

    /// <summary>
    /// This image at <paramref name="width"/> x <paramref name="height"/>: area averaging along an axis
    /// that shrinks, bilinear interpolation along one that grows (see the class remarks).
    /// </summary>
    public GreyImage Resize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (width == Width && height == Height) return this;
        var across = Weights(Width, width);
        var down = Weights(Height, height);
        // Rows first (source height x target width), then columns.
        var wide = new double[(long)Height * width];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < width; x++)
            {
                double sum = 0;
                foreach (var (source, weight) in across[x]) sum += weight * pixels[y * Width + source];
                wide[y * width + x] = sum;
            }
        var result = new byte[(long)width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double sum = 0;
                foreach (var (source, weight) in down[y]) sum += weight * wide[source * width + x];
                result[y * width + x] = ToByte(sum);
            }
        return new GreyImage(width, height, result);
    }

    /// <summary>For each of <paramref name="target"/> positions, the source positions and weights (summing to 1) along one axis.</summary>
    internal static (int Source, double Weight)[][] Weights(int source, int target)
    {
        var weights = new (int, double)[target][];
        double scale = (double)source / target;
        for (int j = 0; j < target; j++)
        {
            if (target < source)
            {
                // Area: target pixel j covers source interval [j·scale, (j+1)·scale).
                double from = j * scale, to = (j + 1) * scale;
                var list = new List<(int, double)>();
                for (int i = (int)Math.Floor(from); i < Math.Min(source, (int)Math.Ceiling(to)); i++)
                {
                    double overlap = Math.Min(to, i + 1) - Math.Max(from, i);
                    if (overlap > 1e-12) list.Add((i, overlap / scale));
                }
                weights[j] = [.. list];
            }
            else
            {
                // Bilinear: the target pixel centre (j + 0.5) maps to source coordinate (j + 0.5)·scale - 0.5.
                double at = Math.Clamp((j + 0.5) * scale - 0.5, 0, source - 1);
                int i0 = (int)Math.Floor(at);
                double frac = at - i0;
                weights[j] = i0 + 1 < source && frac > 0 ? [(i0, 1 - frac), (i0 + 1, frac)] : [(i0, 1.0)];
            }
        }
        return weights;
    }

    private static byte ToByte(double v) => (byte)Math.Clamp(Math.Round(v, MidpointRounding.AwayFromZero), 0, 255);
}
