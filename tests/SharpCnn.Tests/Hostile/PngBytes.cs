// PNG files for the hostile-input corpus and the mutation tests, written byte by byte: zlib
// streams of 'stored' (uncompressed) deflate blocks with an Adler-32 computed here, so the
// bytes do not depend on the zlib that happens to be installed; chunks resealed with their
// CRC-32 after a mutation; and the decoded size a file's header declares (the allocation a
// reader may legitimately make for it).

using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SharpCnn.Data;
using SharpCnn.Tests.Data;

namespace SharpCnn.Tests.Hostile;

internal static class PngBytes
{
    /// <summary>A zlib stream (RFC 1950) holding <paramref name="raw"/> in stored deflate blocks of at most <paramref name="blockSize"/> bytes.</summary>
    public static byte[] ZlibStored(byte[] raw, int blockSize = 65535)
    {
        var output = new List<byte> { 0x78, 0x01 }; // deflate, 32 KiB window, no dictionary, (0x7801 % 31 == 0)
        int offset = 0;
        do
        {
            int length = Math.Min(blockSize, raw.Length - offset);
            bool last = offset + length == raw.Length;
            output.Add(last ? (byte)0x01 : (byte)0x00); // BFINAL, BTYPE = 00 (stored), padded to the byte
            output.AddRange([(byte)length, (byte)(length >> 8), (byte)~length, (byte)(~length >> 8)]);
            output.AddRange(raw.AsSpan(offset, length));
            offset += length;
        }
        while (offset < raw.Length);
        Span<byte> adler = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(adler, Adler32(raw));
        output.AddRange(adler);
        return [.. output];
    }

    /// <summary>Offset of the first raw byte in <see cref="ZlibStored"/>'s output (zlib header 2 bytes, block header 5).</summary>
    public const int FirstStoredByte = 7;

    /// <summary>The content of a zlib stream of stored deflate blocks and the offset just after its last block, or null when it is not one.</summary>
    private static (byte[] Content, int End)? StoredContent(byte[] zlib)
    {
        if (zlib.Length < 2 || (zlib[0] & 0x0f) != 8 || (zlib[0] << 8 | zlib[1]) % 31 != 0 || (zlib[1] & 0x20) != 0) return null;
        var content = new List<byte>();
        int at = 2;
        while (true)
        {
            if (at + 5 > zlib.Length || (zlib[at] & 0xfe) != 0) return null;
            bool last = (zlib[at] & 1) == 1;
            int length = zlib[at + 1] | zlib[at + 2] << 8, complement = zlib[at + 3] | zlib[at + 4] << 8;
            if ((length ^ 0xffff) != complement || at + 5 + length > zlib.Length) return null;
            content.AddRange(zlib.AsSpan(at + 5, length));
            at += 5 + length;
            if (last) return ([.. content], at);
        }
    }

    /// <summary>Adler-32 (RFC 1950) of <paramref name="data"/>.</summary>
    public static uint Adler32(ReadOnlySpan<byte> data)
    {
        uint a = 1, b = 0;
        foreach (byte x in data)
        {
            a = (a + x) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }

    /// <summary>A PNG file: signature, IHDR, the optional PLTE, tRNS and <paramref name="extra"/> chunks, the scanlines in stored zlib split over <paramref name="idatChunks"/> IDAT chunks, IEND.</summary>
    public static byte[] Image(int width, int height, int depth, int colorType, byte[] scanlines,
        byte[]? palette = null, byte[]? transparency = null, byte[][]? extra = null, int idatChunks = 1, int blockSize = 65535)
    {
        var chunks = new List<byte[]> { PngTestFiles.Ihdr(width, height, depth, colorType) };
        if (palette is not null) chunks.Add(PngTestFiles.Chunk("PLTE", palette));
        if (transparency is not null) chunks.Add(PngTestFiles.Chunk("tRNS", transparency));
        if (extra is not null) chunks.AddRange(extra);
        chunks.AddRange(Idat(ZlibStored(scanlines, blockSize), idatChunks));
        chunks.Add(PngTestFiles.Iend);
        return PngTestFiles.File([.. chunks]);
    }

    /// <summary><paramref name="zlib"/> cut into <paramref name="count"/> IDAT chunks of about equal size.</summary>
    public static IEnumerable<byte[]> Idat(byte[] zlib, int count = 1)
    {
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            int end = i == count - 1 ? zlib.Length : zlib.Length * (i + 1) / count;
            yield return PngTestFiles.Chunk("IDAT", zlib[at..end]);
            at = end;
        }
    }

    /// <summary>
    /// <paramref name="png"/> with its image data inflated and compressed again by the zlib this
    /// machine has (real Huffman blocks, for the mutation tests, which need not be the same
    /// bytes everywhere), in one IDAT chunk where the first one was.
    /// </summary>
    public static byte[] Recompressed(byte[] png)
    {
        var chunks = Chunks(png);
        var compressed = new MemoryStream();
        foreach (var (start, type, length) in chunks)
            if (type == "IDAT") compressed.Write(png, start + 8, length);
        compressed.Position = 0;
        var raw = new MemoryStream();
        using (var inflate = new ZLibStream(compressed, CompressionMode.Decompress)) inflate.CopyTo(raw);
        byte[] deflated = PngTestFiles.Zlib(raw.ToArray());
        var output = new List<byte>(png[..8]);
        bool written = false;
        foreach (var (start, type, length) in chunks)
        {
            if (type != "IDAT") output.AddRange(png.AsSpan(start, 12 + length));
            else if (!written) output.AddRange(PngTestFiles.Chunk("IDAT", deflated));
            written |= type == "IDAT";
        }
        return [.. output];
    }

    /// <summary>The chunks of a well-formed file: (offset of the chunk, its type, its data length).</summary>
    public static List<(int Start, string Type, int Length)> Chunks(byte[] png)
    {
        var chunks = new List<(int, string, int)>();
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            if (length < 0 || length > png.Length - pos - 12) break;
            chunks.Add((pos, System.Text.Encoding.ASCII.GetString(png, pos + 4, 4), length));
            pos += 12 + length;
        }
        return chunks;
    }

    /// <summary>
    /// Makes a mutated file's checksums valid again, so the mutation reaches the checks behind
    /// them: when the image data is a zlib stream of stored blocks (the corpus's) that still
    /// parses, the Adler-32 after its last block becomes that of its content; then the CRC of
    /// every chunk whose length still fits in the file, in order, until one does not.
    /// </summary>
    public static byte[] Reseal(byte[] png)
    {
        var chunks = Chunks(png);
        var idat = new List<int>(); // file offset of each byte of image data
        foreach (var (start, type, length) in chunks)
            if (type == "IDAT") idat.AddRange(Enumerable.Range(start + 8, length));
        byte[] data = [.. idat.Select(i => png[i])];
        if (StoredContent(data) is var (content, end) && end + 4 <= data.Length)
        {
            uint adler = Adler32(content);
            for (int i = 0; i < 4; i++) png[idat[end + i]] = (byte)(adler >> (24 - 8 * i));
        }
        foreach (var (start, _, length) in chunks)
            BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(start + 8 + length), Crc32.HashToUInt32(png.AsSpan(start + 4, 4 + length)));
        return png;
    }

    /// <summary>
    /// What decoding a file may legitimately allocate beyond the file itself: the scanlines
    /// and the RGBA pixels of the image its IHDR declares, when that image is within
    /// <see cref="PngReader.MaxPixels"/> and its scanlines within what the file's bytes could
    /// inflate to (deflate expands at most 1032:1); otherwise (or without a readable IHDR)
    /// the file's length, so a claim beyond those caps must be rejected before it allocates.
    /// </summary>
    public static long DecodedLength(byte[] png)
    {
        if (png.Length < 33 || png[12] != 'I' || png[13] != 'H' || png[14] != 'D' || png[15] != 'R') return png.Length;
        long width = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(16)), height = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(20));
        if (width == 0 || height == 0 || width > PngReader.MaxPixels || height > PngReader.MaxPixels) return png.Length; // (their product could wrap)
        long pixels = width * height;
        if (pixels > PngReader.MaxPixels) return png.Length;
        int depth = png[24] is 1 or 2 or 4 or 8 or 16 ? png[24] : 16;
        int channels = png[25] switch { 0 or 3 => 1, 4 => 2, 2 => 3, _ => 4 };
        long scanlines = height * ((width * channels * depth + 7) / 8 + 1);
        if (scanlines > (png.Length + 64L) * 1032) return png.Length;
        return Math.Max(png.Length, scanlines + 4 * pixels);
    }
}
