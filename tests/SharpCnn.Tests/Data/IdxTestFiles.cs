// Builds IDX file bytes for the data tests (header written by hand, big-endian sizes),
// gzips them, and writes them to a per-test temporary folder that is deleted afterwards.

using System.Buffers.Binary;
using System.IO.Compression;

namespace SharpCnn.Tests.Data;

internal sealed class IdxTestFiles : IDisposable
{
    public IdxTestFiles() => Directory.CreateDirectory(Folder);

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "sharpcnn-idx-" + Guid.NewGuid().ToString("N"));

    /// <summary>Writes <paramref name="bytes"/> as <paramref name="name"/> in the folder; returns the path.</summary>
    public string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(Folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);

    /// <summary>An IDX file: 00 00 type n, then each size as big-endian int32, then the data.</summary>
    public static byte[] Idx(byte[] data, params int[] sizes) => Idx(0x08, data, sizes);

    public static byte[] Idx(byte type, byte[] data, params int[] sizes)
    {
        var bytes = new byte[4 + 4 * sizes.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)sizes.Length;
        for (int i = 0; i < sizes.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), sizes[i]);
        data.CopyTo(bytes, 4 + 4 * sizes.Length);
        return bytes;
    }

    /// <summary>Images of count x rows x cols where pixel (k, r, c) = (k * 31 + r * 7 + c * 3) mod 256.</summary>
    public static byte[] Pixels(int count, int rows, int cols)
    {
        var pixels = new byte[count * rows * cols];
        for (int k = 0; k < count; k++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    pixels[(k * rows + r) * cols + c] = (byte)(k * 31 + r * 7 + c * 3);
        return pixels;
    }

    public static byte[] Gzip(byte[] content)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(content);
        return output.ToArray();
    }

    public static byte[] Gunzip(byte[] compressed)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }
}
