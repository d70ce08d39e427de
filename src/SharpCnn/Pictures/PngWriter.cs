using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SharpCnn.Data;

namespace SharpCnn.Pictures;

/// <summary>
/// A small PNG encoder for 8-bit grey, grey+alpha, RGB and RGBA images (the pictures SharpCnn
/// draws: kernels, feature maps, confusion matrices), written by hand because no image library
/// is reachable from this project's machines.
///
/// File: the 8-byte signature, then chunks of [length (4, big-endian), type (4), data, CRC-32 of
/// type and data (4, big-endian)]: IHDR (width, height, bit depth 8, colour type, compression 0,
/// filter 0, interlace 0), one IDAT with the zlib stream of the filtered scanlines, IEND.
/// Each scanline is one filter byte and the row's bytes; the filter is chosen per row as the one of
/// the five (None, Sub, Up, Average, Paeth) whose output has the smallest sum of absolute values
/// taken as signed bytes, the heuristic the PNG specification suggests.
/// </summary>
public static class PngWriter
{
    /// <summary>Samples per pixel of an 8-bit colour type this writer supports.</summary>
    public static int Channels(PngColorType type) => type switch
    {
        PngColorType.Grey => 1,
        PngColorType.GreyAlpha => 2,
        PngColorType.Rgb => 3,
        PngColorType.Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "the writer encodes grey, grey+alpha, RGB and RGBA images (no palette)"),
    };

    /// <summary>Encodes a <paramref name="width"/> x <paramref name="height"/> image as a PNG file's bytes.</summary>
    /// <param name="pixels">Row-major samples, <see cref="Channels"/> bytes per pixel, no padding between rows.</param>
    /// <param name="width">Pixels per row (at least 1).</param>
    /// <param name="height">Rows (at least 1).</param>
    /// <param name="type">Colour type of <paramref name="pixels"/>.</param>
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, PngColorType type)
    {
        int channels = Channels(type);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        long rowBytes = (long)width * channels;
        if (rowBytes * height > int.MaxValue / 2) throw new ArgumentOutOfRangeException(nameof(width), $"an image of {width}x{height} is too large to encode");
        if (pixels.Length != rowBytes * height)
            throw new ArgumentException($"a {width}x{height} {type} image has {rowBytes * height} bytes, got {pixels.Length}", nameof(pixels));

        var output = new MemoryStream();
        output.Write(PngFormat.Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;
        header[9] = (byte)type;
        header[10] = header[11] = header[12] = 0;
        WriteChunk(output, "IHDR"u8, header);
        WriteChunk(output, "IDAT"u8, Compress(pixels, (int)rowBytes, height, channels));
        WriteChunk(output, "IEND"u8, []);
        return output.ToArray();
    }

    /// <summary>
    /// Encodes the image and writes it to <paramref name="path"/> through a temporary file renamed
    /// over the target, so a crash never leaves a half-written picture.
    /// </summary>
    public static void Save(string path, ReadOnlySpan<byte> pixels, int width, int height, PngColorType type)
    {
        byte[] bytes = Encode(pixels, width, height, type);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    private static byte[] Compress(ReadOnlySpan<byte> pixels, int rowBytes, int height, int bpp)
    {
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var candidates = new byte[5][];
            for (int f = 0; f < 5; f++) candidates[f] = new byte[rowBytes + 1];
            ReadOnlySpan<byte> previous = new byte[rowBytes]; // the row above the first is all zeros
            for (int y = 0; y < height; y++)
            {
                ReadOnlySpan<byte> row = pixels.Slice(y * rowBytes, rowBytes);
                int best = 0;
                long bestCost = long.MaxValue;
                for (int f = 0; f < 5; f++)
                {
                    long cost = Filter(f, row, previous, bpp, candidates[f]);
                    if (cost < bestCost) (best, bestCost) = (f, cost);
                }
                zlib.Write(candidates[best]);
                previous = row;
            }
        }
        return compressed.ToArray();
    }

    /// <summary>Writes filter type <paramref name="type"/> and the filtered row into <paramref name="output"/>; returns Σ |filtered byte as sbyte|.</summary>
    private static long Filter(int type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> above, int bpp, Span<byte> output)
    {
        output[0] = (byte)type;
        long cost = 0;
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = above[i], c = i >= bpp ? above[i - bpp] : 0;
            int predictor = type switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => PngFormat.Paeth(a, b, c),
            };
            byte value = (byte)(row[i] - predictor);
            output[i + 1] = value;
            cost += Math.Abs((int)(sbyte)value);
        }
        return cost;
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        output.Write(word);
    }
}
