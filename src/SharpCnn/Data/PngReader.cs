using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace SharpCnn.Data;

/// <summary>A decoded PNG image, converted to 8-bit RGBA whatever the file stored.</summary>
/// <param name="Width">Pixels per row.</param>
/// <param name="Height">Rows.</param>
/// <param name="ColorType">The file's colour type.</param>
/// <param name="BitDepth">The file's bits per sample (per palette index for <see cref="PngColorType.Palette"/>).</param>
/// <param name="Rgba">Row-major pixels, 4 bytes each (red, green, blue, alpha); 16-bit samples are rounded to 8 bits,
/// grey is copied to red, green and blue, and alpha is 255 unless the file has alpha or a tRNS chunk.</param>
public sealed record PngImage(int Width, int Height, PngColorType ColorType, int BitDepth, byte[] Rgba);

/// <summary>
/// A PNG decoder for the images <c>sharpcnn predict</c> reads: every colour type (grey, RGB,
/// palette, grey+alpha, RGBA) at every bit depth the PNG specification allows for it
/// (grey 1/2/4/8/16, palette 1/2/4/8, the others 8/16), non-interlaced, all five scanline
/// filters, PLTE and tRNS transparency. Ancillary chunks it does not need are skipped (their
/// CRC is still checked); Adam7 interlacing is refused with a clear message.
///
/// Hostile files: every chunk's length is checked against the bytes left in the file and
/// every CRC is checked before the chunk is used; the image must be at most
/// <see cref="MaxPixels"/> pixels and its decompressed size must be reachable from the
/// compressed bytes present (deflate expands at most 1032:1) before anything image-sized
/// is allocated; the zlib stream must inflate to exactly the expected number of bytes and
/// end with their Adler-32, with nothing after it.
/// Every problem is a <see cref="FileFormatException"/> naming the file, the byte offset of
/// the chunk (or field) concerned and what was expected.
/// </summary>
public static class PngReader
{
    /// <summary>The largest image accepted, in pixels (32 Mi, e.g. 8192 x 4096).</summary>
    public const long MaxPixels = 1L << 25;

    /// <summary>The largest file accepted, in bytes (256 MiB).</summary>
    public const long MaxFileBytes = 1L << 28;

    private const int MaxDeflateRatio = 1032;

    /// <summary>Reads and decodes the PNG file at <paramref name="path"/>.</summary>
    /// <exception cref="FileFormatException">The file is not a PNG this reader accepts; the message says why and where.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static PngImage Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: no such image file", path);
        if (info.Length > MaxFileBytes) throw new FileFormatException(path, 0, $"expected a PNG file of at most {MaxFileBytes} bytes, this one has {info.Length}");
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FileFormatException(path, -1, "cannot be read: " + e.Message, e);
        }
        return Decode(data, path);
    }

    /// <summary>Decodes the PNG file held in <paramref name="data"/>; <paramref name="name"/> is used in error messages.</summary>
    /// <exception cref="FileFormatException">The bytes are not a PNG this reader accepts.</exception>
    public static PngImage Decode(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < 8 || !data[..8].SequenceEqual(PngFormat.Signature))
            throw new FileFormatException(name, 0, $"expected the PNG signature 89 50 4E 47 0D 0A 1A 0A, found {Hex(data[..Math.Min(8, data.Length)])}");

        Header? header = null;
        byte[]? palette = null;
        byte[]? transparency = null;
        long transparencyOffset = 0;
        var idat = new List<(int Start, int Length)>();
        long idatTotal = 0;
        int firstIdat = -1;
        bool idatClosed = false, ended = false;
        int pos = 8;
        while (!ended)
        {
            if (data.Length - pos < 12)
                throw new FileFormatException(name, pos, $"expected a chunk (12 bytes at least: length, type, CRC){(header is null ? "" : " or the IEND chunk")}, the file ends after {data.Length - pos} more bytes");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[pos..]);
            ReadOnlySpan<byte> typeBytes = data.Slice(pos + 4, 4);
            string type = ChunkName(typeBytes);
            foreach (byte b in typeBytes)
                if (!char.IsAsciiLetter((char)b)) throw new FileFormatException(name, pos + 4, $"expected a chunk type of four ASCII letters, found bytes {Hex(typeBytes)}");
            if (length > int.MaxValue || length > data.Length - pos - 12)
                throw new FileFormatException(name, pos, $"chunk '{type}' declares {length} data bytes; expected them and a 4-byte CRC, but only {data.Length - pos - 8} bytes remain in the file");
            ReadOnlySpan<byte> chunk = data.Slice(pos + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 8 + (int)length)..]);
            var crc = new Crc32();
            crc.Append(typeBytes);
            crc.Append(chunk);
            uint actual = crc.GetCurrentHashAsUInt32();
            if (stored != actual)
                throw new FileFormatException(name, pos + 8 + length, $"chunk '{type}' has CRC {stored:x8}, expected {actual:x8} (the CRC-32 of its type and data): the file is damaged");

            if (header is null && type != "IHDR") throw new FileFormatException(name, pos, $"expected the IHDR chunk first, found '{type}'");
            if (type != "IDAT" && idat.Count > 0) idatClosed = true;
            switch (type)
            {
                case "IHDR":
                    if (header is not null) throw new FileFormatException(name, pos, "expected one IHDR chunk, found a second");
                    header = ReadHeader(chunk, name, pos);
                    break;
                case "PLTE":
                    if (palette is not null) throw new FileFormatException(name, pos, "expected at most one PLTE chunk, found a second");
                    if (idat.Count > 0) throw new FileFormatException(name, pos, "expected PLTE before the image data (IDAT), found it after");
                    if (header!.ColorType is PngColorType.Grey or PngColorType.GreyAlpha)
                        throw new FileFormatException(name, pos, $"expected no palette (PLTE) in a colour type {(int)header.ColorType} ({header.ColorType}) image, found one");
                    int maxEntries = header.ColorType == PngColorType.Palette ? 1 << header.BitDepth : 256;
                    if (length == 0 || length % 3 != 0 || length / 3 > maxEntries)
                        throw new FileFormatException(name, pos, $"expected a PLTE chunk of 3 to {3 * maxEntries} bytes, a multiple of 3; found {length} bytes");
                    palette = chunk.ToArray();
                    break;
                case "tRNS":
                    if (transparency is not null) throw new FileFormatException(name, pos, "expected at most one tRNS chunk, found a second");
                    if (idat.Count > 0) throw new FileFormatException(name, pos, "expected tRNS before the image data (IDAT), found it after");
                    if (header!.ColorType == PngColorType.Palette && palette is null)
                        throw new FileFormatException(name, pos, "expected the tRNS chunk of a palette image after PLTE, found it before");
                    transparency = chunk.ToArray();
                    transparencyOffset = pos;
                    break;
                case "IDAT":
                    if (idatClosed) throw new FileFormatException(name, pos, "expected the IDAT chunks to be consecutive, found another chunk between them");
                    if (firstIdat < 0) firstIdat = pos;
                    idat.Add((pos + 8, (int)length));
                    idatTotal += length;
                    break;
                case "IEND":
                    if (length != 0) throw new FileFormatException(name, pos, $"expected an empty IEND chunk, found {length} data bytes");
                    ended = true;
                    break;
                default:
                    if ((typeBytes[0] & 0x20) == 0)
                        throw new FileFormatException(name, pos, $"chunk '{type}' is marked critical (capital first letter) and this reader does not know it; expected IHDR, PLTE, IDAT, IEND or an ancillary chunk");
                    break; // an ancillary chunk (text, gamma, physical size...) that does not change the pixels we need
            }
            pos += 12 + (int)length;
        }

        var h = header!;
        if (idat.Count == 0) throw new FileFormatException(name, pos - 12, "expected image data (IDAT) before IEND, found none");
        if (h.ColorType == PngColorType.Palette && palette is null)
            throw new FileFormatException(name, firstIdat, "expected a palette (PLTE) before the image data of a palette image, found none");
        CheckTransparency(h, palette, transparency, name, transparencyOffset);

        int channels = h.ColorType switch { PngColorType.Grey => 1, PngColorType.GreyAlpha => 2, PngColorType.Rgb => 3, PngColorType.Rgba => 4, _ => 1 };
        long rowBytes = ((long)h.Width * channels * h.BitDepth + 7) / 8;
        long rawLength = h.Height * (rowBytes + 1);
        if (rawLength > (idatTotal + 64) * MaxDeflateRatio)
            throw new FileFormatException(name, firstIdat, $"a {h.Width}x{h.Height} image needs {rawLength} bytes of scanlines, more than {idatTotal} bytes of compressed image data can hold (expected at most {(idatTotal + 64) * MaxDeflateRatio}, deflate's limit): the file is truncated or its size is a lie");

        byte[] compressed = new byte[idatTotal];
        int at = 0;
        foreach (var (start, len) in idat)
        {
            data.Slice(start, len).CopyTo(compressed.AsSpan(at));
            at += len;
        }
        byte[] raw = Inflate(compressed, rawLength, name, firstIdat);
        int bpp = Math.Max(1, channels * h.BitDepth / 8);
        Unfilter(raw, (int)rowBytes, h.Height, bpp, name, firstIdat);
        byte[] rgba = ToRgba(raw, (int)rowBytes, h, channels, palette, transparency, name, firstIdat);
        return new PngImage(h.Width, h.Height, h.ColorType, h.BitDepth, rgba);
    }

    private sealed record Header(int Width, int Height, int BitDepth, PngColorType ColorType);

    private static Header ReadHeader(ReadOnlySpan<byte> chunk, string name, int pos)
    {
        if (chunk.Length != 13) throw new FileFormatException(name, pos, $"expected an IHDR chunk of 13 bytes, found {chunk.Length}");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(chunk);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(chunk[4..]);
        int depth = chunk[8], type = chunk[9], compression = chunk[10], filter = chunk[11], interlace = chunk[12];
        int field = pos + 8;
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw new FileFormatException(name, field, $"expected a width and height of 1 to 2^31-1 pixels, found {width}x{height}");
        if ((long)width * height > MaxPixels)
            throw new FileFormatException(name, field, $"expected an image of at most {MaxPixels} pixels, found {width}x{height} ({(long)width * height} pixels)");
        int[] depths = type switch
        {
            0 => [1, 2, 4, 8, 16],
            3 => [1, 2, 4, 8],
            2 or 4 or 6 => [8, 16],
            _ => throw new FileFormatException(name, field + 9, $"expected colour type 0 (grey), 2 (RGB), 3 (palette), 4 (grey+alpha) or 6 (RGBA), found {type}"),
        };
        if (!depths.Contains(depth))
            throw new FileFormatException(name, field + 8, $"expected bit depth {string.Join(", ", depths)} for colour type {type} ({(PngColorType)type}), found {depth}");
        if (compression != 0) throw new FileFormatException(name, field + 10, $"expected compression method 0 (zlib deflate), found {compression}");
        if (filter != 0) throw new FileFormatException(name, field + 11, $"expected filter method 0 (adaptive, five filter types), found {filter}");
        if (interlace == 1) throw new FileFormatException(name, field + 12, "expected a non-interlaced image (interlace method 0), found Adam7 interlacing (method 1): save the image again without interlacing");
        if (interlace != 0) throw new FileFormatException(name, field + 12, $"expected interlace method 0 (none), found {interlace}");
        return new Header((int)width, (int)height, depth, (PngColorType)type);
    }

    private static void CheckTransparency(Header h, byte[]? palette, byte[]? transparency, string name, long offset)
    {
        if (transparency is null) return;
        switch (h.ColorType)
        {
            case PngColorType.Grey when transparency.Length != 2:
                throw new FileFormatException(name, offset, $"expected a tRNS chunk of 2 bytes (one grey value) for a grey image, found {transparency.Length}");
            case PngColorType.Rgb when transparency.Length != 6:
                throw new FileFormatException(name, offset, $"expected a tRNS chunk of 6 bytes (one RGB value) for an RGB image, found {transparency.Length}");
            case PngColorType.Palette when palette is null || transparency.Length > palette.Length / 3:
                throw new FileFormatException(name, offset, $"expected the tRNS chunk after PLTE, with at most one alpha per palette entry ({(palette?.Length ?? 0) / 3}), found {transparency.Length} bytes");
            case PngColorType.GreyAlpha or PngColorType.Rgba:
                throw new FileFormatException(name, offset, $"expected no tRNS chunk in a colour type {(int)h.ColorType} ({h.ColorType}) image, which has an alpha channel; found one");
        }
    }

    private static byte[] Inflate(byte[] compressed, long rawLength, string name, int offset)
    {
        var raw = new byte[rawLength];
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            int got = zlib.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
            if (got < raw.Length)
                throw new FileFormatException(name, offset, $"expected {raw.Length} bytes of scanlines from the image data, the zlib stream ends after {got}");
            Span<byte> extra = stackalloc byte[1];
            if (zlib.Read(extra) != 0)
                throw new FileFormatException(name, offset, $"expected {raw.Length} bytes of scanlines from the image data, the zlib stream holds more");
        }
        catch (Exception e) when (e is InvalidDataException || (e is IOException && e is not FileFormatException))
        {
            // InvalidDataException for corrupt deflate data or a wrong Adler-32; ZLibException (an IOException)
            // for a stream zlib cannot start, such as one that asks for a preset dictionary.
            throw new FileFormatException(name, offset, "expected a valid zlib stream in the image data (IDAT): " + e.Message, e);
        }
        // .NET checks the Adler-32 that ends a zlib stream when it is there, but accepts a stream cut before
        // it and ignores bytes after it: so the stream must end with the checksum of what it inflated to.
        uint expected = Adler32(raw);
        uint found = compressed.Length >= 6 ? BinaryPrimitives.ReadUInt32BigEndian(compressed.AsSpan(compressed.Length - 4)) : 0;
        if (compressed.Length < 6 || found != expected)
            throw new FileFormatException(name, offset, $"expected the zlib stream of the image data (IDAT) to end with the Adler-32 of its {raw.Length} bytes, {expected:x8}, found {(compressed.Length < 6 ? "a stream too short for one" : found.ToString("x8", System.Globalization.CultureInfo.InvariantCulture))}: the stream is cut short or followed by other bytes");
        return raw;
    }

    /// <summary>The Adler-32 checksum (RFC 1950) of <paramref name="data"/>.</summary>
    private static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Modulus = 65521;
        const int Run = 5552; // the most bytes summed before b could overflow 32 bits
        uint a = 1, b = 0;
        while (!data.IsEmpty)
        {
            int n = Math.Min(Run, data.Length);
            foreach (byte x in data[..n])
            {
                a += x;
                b += a;
            }
            a %= Modulus;
            b %= Modulus;
            data = data[n..];
        }
        return (b << 16) | a;
    }

    /// <summary>Undoes the per-scanline filters in place (the filter byte stays at the start of each row).</summary>
    private static void Unfilter(byte[] raw, int rowBytes, int height, int bpp, string name, int offset)
    {
        int stride = rowBytes + 1;
        for (int y = 0; y < height; y++)
        {
            int start = y * stride;
            int filter = raw[start];
            Span<byte> row = raw.AsSpan(start + 1, rowBytes);
            ReadOnlySpan<byte> above = y == 0 ? new byte[rowBytes] : raw.AsSpan(start - rowBytes, rowBytes);
            switch (filter)
            {
                case 0:
                    break;
                case 1:
                    for (int i = bpp; i < row.Length; i++) row[i] += row[i - bpp];
                    break;
                case 2:
                    for (int i = 0; i < row.Length; i++) row[i] += above[i];
                    break;
                case 3:
                    for (int i = 0; i < row.Length; i++) row[i] += (byte)(((i >= bpp ? row[i - bpp] : 0) + above[i]) >> 1);
                    break;
                case 4:
                    for (int i = 0; i < row.Length; i++)
                        row[i] += (byte)PngFormat.Paeth(i >= bpp ? row[i - bpp] : 0, above[i], i >= bpp ? above[i - bpp] : 0);
                    break;
                default:
                    throw new FileFormatException(name, offset, $"scanline {y} (byte {start} of the decompressed image data) has filter type {filter}, expected 0-4");
            }
        }
    }

    private static byte[] ToRgba(byte[] raw, int rowBytes, Header h, int channels, byte[]? palette, byte[]? transparency, string name, int offset)
    {
        var rgba = new byte[(long)h.Width * h.Height * 4];
        int depth = h.BitDepth, stride = rowBytes + 1;
        int maxSample = (1 << Math.Min(depth, 8)) - 1;
        int entries = palette is null ? 0 : palette.Length / 3;
        Span<int> s = stackalloc int[4];
        byte To8(int v) => depth == 16 ? (byte)((v * 255 + 32767) / 65535) : depth == 8 ? (byte)v : (byte)(v * 255 / maxSample);
        for (int y = 0; y < h.Height; y++)
        {
            ReadOnlySpan<byte> row = raw.AsSpan(y * stride + 1, rowBytes);
            for (int x = 0; x < h.Width; x++)
            {
                int o = (y * h.Width + x) * 4;
                if (h.ColorType == PngColorType.Palette)
                {
                    int index = Sample(row, x, depth);
                    if (index >= entries)
                        throw new FileFormatException(name, offset, $"pixel ({x}, {y}) uses palette index {index}, expected one below the palette's {entries} entries");
                    rgba[o] = palette![3 * index];
                    rgba[o + 1] = palette[3 * index + 1];
                    rgba[o + 2] = palette[3 * index + 2];
                    rgba[o + 3] = transparency is not null && index < transparency.Length ? transparency[index] : (byte)255;
                    continue;
                }
                int first = x * channels;
                for (int c = 0; c < channels; c++) s[c] = Sample(row, first + c, depth);
                switch (h.ColorType)
                {
                    case PngColorType.Grey:
                        rgba[o] = rgba[o + 1] = rgba[o + 2] = To8(s[0]);
                        rgba[o + 3] = transparency is not null && s[0] == BinaryPrimitives.ReadUInt16BigEndian(transparency) ? (byte)0 : (byte)255;
                        break;
                    case PngColorType.GreyAlpha:
                        rgba[o] = rgba[o + 1] = rgba[o + 2] = To8(s[0]);
                        rgba[o + 3] = To8(s[1]);
                        break;
                    case PngColorType.Rgb:
                        rgba[o] = To8(s[0]);
                        rgba[o + 1] = To8(s[1]);
                        rgba[o + 2] = To8(s[2]);
                        bool key = transparency is not null
                            && s[0] == BinaryPrimitives.ReadUInt16BigEndian(transparency)
                            && s[1] == BinaryPrimitives.ReadUInt16BigEndian(transparency.AsSpan(2))
                            && s[2] == BinaryPrimitives.ReadUInt16BigEndian(transparency.AsSpan(4));
                        rgba[o + 3] = key ? (byte)0 : (byte)255;
                        break;
                    default:
                        rgba[o] = To8(s[0]);
                        rgba[o + 1] = To8(s[1]);
                        rgba[o + 2] = To8(s[2]);
                        rgba[o + 3] = To8(s[3]);
                        break;
                }
            }
        }
        return rgba;
    }

    /// <summary>Sample number <paramref name="index"/> of a row packed at <paramref name="depth"/> bits per sample (most significant bits first).</summary>
    private static int Sample(ReadOnlySpan<byte> row, int index, int depth) => depth switch
    {
        8 => row[index],
        16 => BinaryPrimitives.ReadUInt16BigEndian(row[(2 * index)..]),
        _ => (row[index * depth / 8] >> (8 - depth - index * depth % 8)) & ((1 << depth) - 1),
    };

    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> chars = stackalloc char[4];
        for (int i = 0; i < 4; i++) chars[i] = type[i] is >= 0x20 and < 0x7f ? (char)type[i] : '?';
        return new string(chars);
    }

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.IsEmpty ? "nothing (the file is empty)" : string.Join(" ", bytes.ToArray().Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
}
