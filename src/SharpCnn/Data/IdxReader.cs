// Reader for the IDX format of MNIST-style data sets, raw or gzip-compressed.
// Layout (all sizes big-endian int32):
//   byte 0-1  0x00 0x00                magic
//   byte 2    type code                0x08 = unsigned byte (the only one accepted here)
//   byte 3    number of dimensions     n (1 for a labels file, 3 for an images file)
//   byte 4..  n sizes, 4 bytes each    e.g. count, rows, cols
//   then      the data, row-major      exactly the product of the sizes, nothing after
// Nothing is trusted: every size is checked, and the data array is only allocated up to
// what the file really holds, so a hostile header cannot make the reader allocate gigabytes.

using System.Buffers.Binary;

namespace SharpCnn.Data;

/// <summary>Reads IDX files of unsigned bytes (the MNIST file format), gzip or raw.</summary>
public static class IdxReader
{
    /// <summary>IDX type code of unsigned bytes, the only element type SharpCnn reads.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>
    /// First buffer size when the content length is unknown (gzip, pipes): a lying header costs at
    /// most this much, and the buffer then doubles only with data that really arrives.
    /// </summary>
    private const int InitialChunk = 1 << 16;

    /// <summary>
    /// Reads the IDX file at <paramref name="path"/>, which must have <paramref name="dimensions"/>
    /// dimensions (3 for images, 1 for labels). Gzip is detected from the content, not the name.
    /// </summary>
    /// <exception cref="FileFormatException">The file is not such an IDX file.</exception>
    public static IdxArray Read(string path, int dimensions)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, path, dimensions);
    }

    /// <summary>
    /// Reads an IDX file from <paramref name="stream"/> (seekable or not), which must have
    /// <paramref name="dimensions"/> dimensions; <paramref name="name"/> names it in error messages.
    /// The stream is read to its end and left open.
    /// </summary>
    /// <exception cref="FileFormatException">The content is not such an IDX file.</exception>
    public static IdxArray Read(Stream stream, string name, int dimensions)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimensions, 255);

        using var content = IdxContent.Open(stream, name);
        int[] sizes = ReadHeader(content, dimensions);
        long dataOffset = content.Offset;
        int length = DataLength(content, sizes);
        byte[] data = ReadData(content, length, sizes);
        content.ExpectEnd();
        return new IdxArray(name, sizes, data, dataOffset);
    }

    private static int[] ReadHeader(IdxContent content, int dimensions)
    {
        Span<byte> magic = stackalloc byte[4];
        content.ReadExactly(magic, "an IDX header (00 00 08 followed by the number of dimensions)");
        if (content.IsGzip && magic[0] == 0x1f && magic[1] == 0x8b)
            throw content.Error(0, "expected the IDX magic bytes 00 00 after decompressing, found gzip's 1f 8b again: a gzip file inside a gzip file (decompress it once)");
        if (magic[0] != 0 || magic[1] != 0)
            throw content.Error(0, $"expected the IDX magic bytes 00 00 (or gzip 1f 8b), found {magic[0]:x2} {magic[1]:x2}: not an IDX file");
        if (magic[2] != UnsignedByteType)
            throw content.Error(2, $"expected IDX type 08 (unsigned byte), found {magic[2]:x2} ({TypeName(magic[2])})");
        if (magic[3] != dimensions)
            throw content.Error(3, $"expected {dimensions} dimension{(dimensions == 1 ? "" : "s")} " +
                $"({(dimensions == 3 ? "an images file" : dimensions == 1 ? "a labels file" : "IDX")}), found {magic[3]}");

        var sizes = new int[dimensions];
        Span<byte> size = stackalloc byte[4];
        for (int i = 0; i < dimensions; i++)
        {
            long at = content.Offset;
            content.ReadExactly(size, $"the 4-byte size of dimension {i + 1} of {dimensions}");
            sizes[i] = BinaryPrimitives.ReadInt32BigEndian(size);
            if (sizes[i] <= 0)
                throw content.Error(at, $"expected a positive size for dimension {i + 1} of {dimensions}, found {sizes[i]}");
        }
        return sizes;
    }

    /// <summary>The product of the sizes, checked against overflow, array limits and the known file length.</summary>
    private static int DataLength(IdxContent content, int[] sizes)
    {
        long product = 1;
        foreach (int s in sizes)
        {
            if (product > Array.MaxLength / s)
                throw content.Error(4, $"expected at most {Array.MaxLength} data bytes, found sizes {Describe(sizes)} (more than that)");
            product *= s;
        }
        long remaining = content.Remaining;
        if (remaining >= 0 && remaining != product)
        {
            // Report where the file ends early, or where the trailing bytes start.
            throw content.Error(content.Offset + Math.Min(remaining, product),
                $"expected {Describe(sizes)} = {product} data bytes, found {remaining}" +
                (remaining < product ? ": the file is truncated" : $": the file has {remaining - product} trailing bytes"));
        }
        return (int)product;
    }

    /// <summary>Reads the data, growing the buffer with what arrives so a lying header cannot force a huge allocation.</summary>
    private static byte[] ReadData(IdxContent content, int length, int[] sizes)
    {
        long start = content.Offset;
        var data = new byte[content.Remaining >= 0 ? length : Math.Min(length, InitialChunk)];
        int filled = 0;
        while (true)
        {
            int n = content.ReadAtMost(data.AsSpan(filled));
            filled += n;
            if (filled < data.Length)
            {
                content.CheckGzipTrailer(); // a cut gzip file is reported as that, not as short content
                throw content.Error(start + filled, $"expected {Describe(sizes)} = {length} data bytes, " +
                    $"but the {(content.IsGzip ? "decompressed content" : "file")} ends after {filled}");
            }
            if (filled == length) return data;
            Array.Resize(ref data, (int)Math.Min(length, 2L * data.Length));
        }
    }

    private static string Describe(int[] sizes) => string.Join(" x ", sizes);

    private static string TypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an IDX type",
    };
}
