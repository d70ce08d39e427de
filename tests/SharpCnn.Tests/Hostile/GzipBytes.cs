// Gzip files written byte by byte (RFC 1952 around RFC 1951 'stored' blocks), so the corpus
// does not depend on the zlib version that happens to compress it: the same input always
// gives the same bytes, on every machine and .NET version.

using System.Buffers.Binary;
using System.IO.Hashing;

namespace SharpCnn.Tests.Hostile;

internal static class GzipBytes
{
    /// <summary>A gzip member holding <paramref name="content"/> in stored (uncompressed) deflate blocks.</summary>
    public static byte[] Stored(byte[] content)
    {
        var output = new List<byte> { 0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff };
        int offset = 0;
        do
        {
            int length = Math.Min(65535, content.Length - offset);
            bool last = offset + length == content.Length;
            output.Add(last ? (byte)0x01 : (byte)0x00); // BFINAL, BTYPE = 00 (stored), padded to the byte
            output.AddRange([(byte)length, (byte)(length >> 8), (byte)~length, (byte)(~length >> 8)]);
            output.AddRange(content.AsSpan(offset, length));
            offset += length;
        }
        while (offset < content.Length);
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32.HashToUInt32(content));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)content.Length);
        output.AddRange(trailer);
        return [.. output];
    }

    /// <summary>Offset of the first content byte in <see cref="Stored"/>'s output (header 10 bytes, block header 5).</summary>
    public const int FirstContentByte = 15;
}
