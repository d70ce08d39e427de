// Builds PNG file bytes for the PNG tests chunk by chunk, independently of PngWriter:
// chunks with their CRC (or a wrong one on purpose), IHDR fields, scanlines filtered with a
// chosen filter type per row, samples packed at any bit depth, and zlib streams.

using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace SharpCnn.Tests.Data;

internal static class PngTestFiles
{
    public static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>One chunk: length, type, data, CRC-32 of type and data (plus <paramref name="crcDelta"/> to break it).</summary>
    public static byte[] Chunk(string type, byte[] data, uint crcDelta = 0)
    {
        var bytes = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, data.Length);
        for (int i = 0; i < 4; i++) bytes[4 + i] = (byte)type[i];
        data.CopyTo(bytes, 8);
        uint crc = Crc32.HashToUInt32(bytes.AsSpan(4, 4 + data.Length));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8 + data.Length), crc + crcDelta);
        return bytes;
    }

    public static byte[] IhdrData(long width, long height, int depth, int colorType, int compression = 0, int filter = 0, int interlace = 0)
    {
        var data = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), (uint)height);
        (data[8], data[9], data[10], data[11], data[12]) = ((byte)depth, (byte)colorType, (byte)compression, (byte)filter, (byte)interlace);
        return data;
    }

    public static byte[] Ihdr(long width, long height, int depth, int colorType, int compression = 0, int filter = 0, int interlace = 0) =>
        Chunk("IHDR", IhdrData(width, height, depth, colorType, compression, filter, interlace));

    public static byte[] Iend => Chunk("IEND", []);

    public static byte[] Zlib(byte[] raw)
    {
        var output = new MemoryStream();
        using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        return output.ToArray();
    }

    public static byte[] File(params byte[][] chunks) => [.. Signature, .. chunks.SelectMany(c => c)];

    /// <summary>Packs samples (each below 2^depth) into a row, most significant bits first; 16-bit samples big-endian.</summary>
    public static byte[] Pack(int[] samples, int depth)
    {
        if (depth == 16)
        {
            var wide = new byte[2 * samples.Length];
            for (int i = 0; i < samples.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(wide.AsSpan(2 * i), (ushort)samples[i]);
            return wide;
        }
        var row = new byte[(samples.Length * depth + 7) / 8];
        for (int i = 0; i < samples.Length; i++)
        {
            int bit = i * depth;
            row[bit / 8] |= (byte)(samples[i] << (8 - depth - bit % 8));
        }
        return row;
    }

    /// <summary>Filters each row with filter type <paramref name="filterOf"/>(row) and prefixes the filter byte: the raw scanline stream.</summary>
    public static byte[] Scanlines(byte[][] rows, int bpp, Func<int, int> filterOf)
    {
        var output = new List<byte>();
        var above = new byte[rows[0].Length];
        for (int y = 0; y < rows.Length; y++)
        {
            var row = rows[y];
            int type = filterOf(y);
            output.Add((byte)type);
            for (int i = 0; i < row.Length; i++)
            {
                int a = i >= bpp ? row[i - bpp] : 0, b = above[i], c = i >= bpp ? above[i - bpp] : 0;
                int predictor = type switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => PaethOf(a, b, c),
                    _ => 0, // an invalid filter type: the bytes go out unfiltered
                };
                output.Add((byte)(row[i] - predictor));
            }
            above = row;
        }
        return [.. output];
    }

    private static int PaethOf(int a, int b, int c)
    {
        // Written out as in the PNG specification's pseudo-code.
        int p = a + b - c;
        int pa = Math.Abs(p - a);
        int pb = Math.Abs(p - b);
        int pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        if (pb <= pc) return b;
        return c;
    }

    /// <summary>A complete file: IHDR, optional PLTE and tRNS, one IDAT, IEND.</summary>
    public static byte[] Image(int width, int height, int depth, int colorType, byte[][] rows, int bpp,
        Func<int, int>? filterOf = null, byte[]? palette = null, byte[]? transparency = null)
    {
        var chunks = new List<byte[]> { Ihdr(width, height, depth, colorType) };
        if (palette is not null) chunks.Add(Chunk("PLTE", palette));
        if (transparency is not null) chunks.Add(Chunk("tRNS", transparency));
        chunks.Add(Chunk("IDAT", Zlib(Scanlines(rows, bpp, filterOf ?? (y => y % 5)))));
        chunks.Add(Iend);
        return File([.. chunks]);
    }

    /// <summary>A small valid 8-bit grey image of <paramref name="width"/> x <paramref name="height"/> with pixel (x, y) = 37x + 11y mod 256.</summary>
    public static byte[] Grey(int width = 5, int height = 4, Func<int, int>? filterOf = null) =>
        Image(width, height, 8, 0, GreyRows(width, height), 1, filterOf);

    public static byte[][] GreyRows(int width, int height) =>
        Enumerable.Range(0, height).Select(y => Enumerable.Range(0, width).Select(x => (byte)((37 * x + 11 * y) % 256)).ToArray()).ToArray();

    /// <summary>The offsets at which each chunk of a PNG file starts, and the file length.</summary>
    public static List<int> ChunkStarts(byte[] png)
    {
        var starts = new List<int>();
        int pos = 8;
        while (pos < png.Length)
        {
            starts.Add(pos);
            pos += 12 + BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
        }
        return starts;
    }
}
