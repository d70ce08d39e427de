// The PNG part of the hostile-input corpus: small valid images in every colour type (the
// seeds of the mutation tests), then files truncated at every chunk boundary and inside the
// signature and IHDR, with a bad signature or CRC, impossible or lying dimensions, bad filter
// bytes, corrupt zlib, too few or too many scanlines, unsupported colour types, bit depths,
// compression, filter and interlace methods, missing or short palettes, misplaced chunks.
// Every file is written byte by byte (stored deflate blocks, see PngBytes), so it is the same
// on every machine.

using System.Buffers.Binary;
using System.IO.Hashing;
using static SharpCnn.Tests.Data.PngTestFiles;

namespace SharpCnn.Tests.Hostile;

internal sealed class PngCorpus : ICorpusFormat
{
    private const string R = "png";

    public string Folder => "png";

    /// <summary>6x5 8-bit grey, one scanline per filter type (None, Sub, Up, Average, Paeth).</summary>
    public static byte[] Grey8() => PngBytes.Image(6, 5, 8, 0, Scanlines(GreyRows(6, 5), 1, y => y % 5));

    /// <summary>5x3 4-bit palette image with 4 palette entries, the first two partly transparent.</summary>
    public static byte[] Palette4() => PngBytes.Image(5, 3, 4, 3, Scanlines(PaletteRows(5, 3, 4, 4), 1, y => y % 3),
        palette: [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255], transparency: [0, 128]);

    private static byte[][] PaletteRows(int width, int height, int depth, int entries) =>
        [.. Enumerable.Range(0, height).Select(y => Pack([.. Enumerable.Range(0, width).Select(x => (x + 2 * y) % entries)], depth))];

    private static byte[][] Rows(int width, int height, int channels, int depth) =>
        [.. Enumerable.Range(0, height).Select(y => Pack([.. Enumerable.Range(0, width * channels).Select(i => (i * 37 + y * 101 + 7) % (1 << depth))], depth))];

    public IEnumerable<CorpusFile> Generate()
    {
        byte[] grey = Grey8(), pal = Palette4();
        byte[] greyScanlines = Scanlines(GreyRows(6, 5), 1, _ => 0);
        byte[] greyIdat = Chunk("IDAT", PngBytes.ZlibStored(greyScanlines));
        byte[] rgbScanlines = Scanlines(Rows(2, 2, 3, 8), 3, _ => 0);

        // Valid files: every colour type, sub-byte and 16-bit samples, tRNS, ancillary chunks, split IDAT.
        yield return new("good-grey8.png", grey, R, CorpusFile.Ok);
        yield return new("good-grey1.png", PngBytes.Image(9, 3, 1, 0, Scanlines(Rows(9, 3, 1, 1), 1, y => 2 * y % 5)), R, CorpusFile.Ok);
        yield return new("good-rgb8.png", PngBytes.Image(4, 3, 8, 2, Scanlines(Rows(4, 3, 3, 8), 3, y => (y + 1) % 5)), R, CorpusFile.Ok);
        yield return new("good-palette4-trns.png", pal, R, CorpusFile.Ok);
        yield return new("good-grey-alpha8.png", PngBytes.Image(3, 3, 8, 4, Scanlines(Rows(3, 3, 2, 8), 2, y => (y + 2) % 5)), R, CorpusFile.Ok);
        yield return new("good-rgba16.png", PngBytes.Image(3, 2, 16, 6, Scanlines(Rows(3, 2, 4, 16), 8, y => 3 + y)), R, CorpusFile.Ok);
        yield return new("good-rgb8-key-text-split-idat.png", PngBytes.Image(4, 4, 8, 2, Scanlines(Rows(4, 4, 3, 8), 3, y => 4 - y),
            transparency: [0, 7, 0, 44, 0, 81], extra: [Chunk("tEXt", "Comment\0hostile-input corpus seed"u8.ToArray()), Chunk("gAMA", [0, 0, 0xB1, 0x8F])],
            idatChunks: 3, blockSize: 20), R, CorpusFile.Ok);

        // Empty, truncated inside the signature, at every chunk boundary and inside IHDR's fields.
        var chunks = PngBytes.Chunks(pal);
        int ihdr = chunks[0].Start, plte = chunks[1].Start, trns = chunks[2].Start, idat = chunks[3].Start, iend = chunks[4].Start;
        int idatLength = chunks[3].Length;
        yield return new("empty.png", [], R, "expected the PNG signature 89 50 4E 47 0D 0A 1A 0A, found nothing (the file is empty)");
        yield return new("cut-in-signature.png", pal[..5], R, "at byte 0: expected the PNG signature 89 50 4E 47 0D 0A 1A 0A, found 89 50 4E 47 0D");
        yield return new("cut-after-signature.png", pal[..8], R, "at byte 8: expected a chunk (12 bytes at least: length, type, CRC), the file ends after 0 more bytes");
        yield return new("cut-in-ihdr-length.png", pal[..10], R, "at byte 8: expected a chunk (12 bytes at least: length, type, CRC), the file ends after 2 more bytes");
        yield return new("cut-in-ihdr-type.png", pal[..14], R, "at byte 8: expected a chunk (12 bytes at least: length, type, CRC), the file ends after 6 more bytes");
        yield return new("cut-in-ihdr-width.png", pal[..(ihdr + 10)], R, "at byte 8: expected a chunk (12 bytes at least: length, type, CRC), the file ends after 10 more bytes");
        yield return new("cut-in-ihdr-height.png", pal[..(ihdr + 14)], R, "at byte 8: chunk 'IHDR' declares 13 data bytes; expected them and a 4-byte CRC, but only 6 bytes remain in the file");
        yield return new("cut-in-ihdr-colour-type.png", pal[..(ihdr + 18)], R, "at byte 8: chunk 'IHDR' declares 13 data bytes; expected them and a 4-byte CRC, but only 10 bytes remain in the file");
        yield return new("cut-in-ihdr-crc.png", pal[..(ihdr + 23)], R, "at byte 8: chunk 'IHDR' declares 13 data bytes; expected them and a 4-byte CRC, but only 15 bytes remain in the file");
        yield return new("cut-after-ihdr.png", pal[..plte], R, $"at byte {plte}: expected a chunk (12 bytes at least: length, type, CRC) or the IEND chunk, the file ends after 0 more bytes");
        yield return new("cut-in-plte.png", pal[..(plte + 15)], R, $"at byte {plte}: chunk 'PLTE' declares 12 data bytes; expected them and a 4-byte CRC, but only 7 bytes remain in the file");
        yield return new("cut-after-plte.png", pal[..trns], R, $"at byte {trns}: expected a chunk (12 bytes at least: length, type, CRC) or the IEND chunk, the file ends after 0 more bytes");
        yield return new("cut-after-trns.png", pal[..idat], R, $"at byte {idat}: expected a chunk (12 bytes at least: length, type, CRC) or the IEND chunk, the file ends after 0 more bytes");
        yield return new("cut-in-idat.png", pal[..(idat + 20)], R, $"at byte {idat}: chunk 'IDAT' declares {idatLength} data bytes; expected them and a 4-byte CRC, but only 12 bytes remain in the file");
        yield return new("cut-after-idat.png", pal[..iend], R, $"at byte {iend}: expected a chunk (12 bytes at least: length, type, CRC) or the IEND chunk, the file ends after 0 more bytes");
        yield return new("cut-in-iend.png", pal[..^3], R, $"at byte {iend}: expected a chunk (12 bytes at least: length, type, CRC) or the IEND chunk, the file ends after 9 more bytes");

        // Not a PNG, or a PNG damaged on the way.
        yield return new("signature-lowercase.png", With(pal, 1, (byte)'p'), R, "expected the PNG signature 89 50 4E 47 0D 0A 1A 0A, found 89 70 4E 47 0D 0A 1A 0A");
        yield return new("signature-text-mode-transfer.png", [.. pal[..4], .. pal[5..]], R, "expected the PNG signature 89 50 4E 47 0D 0A 1A 0A, found 89 50 4E 47 0A 1A 0A 00");
        yield return new("gif-named-png.png", [.. "GIF89a"u8, 1, 0, 1, 0, 0, 0, 0, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B], R, "found 47 49 46 38 39 61 01 00");
        yield return new("jpeg-named-png.png", [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9], R, "found FF D8 FF E0 00 10 4A 46");
        foreach (var (start, type, length) in chunks)
            yield return new($"crc-wrong-{type.ToLowerInvariant()}.png", CrcFlipped(pal, start, length), R, CrcMessage(pal, start, length, type));
        yield return new("chunk-length-2gib.png", Int32At(pal, idat, int.MaxValue), R, $"at byte {idat}: chunk 'IDAT' declares 2147483647 data bytes; expected them and a 4-byte CRC, but only {pal.Length - idat - 8} bytes remain in the file");
        yield return new("chunk-length-4gib.png", Int32At(pal, idat, -1), R, $"at byte {idat}: chunk 'IDAT' declares 4294967295 data bytes; expected them and a 4-byte CRC");
        yield return new("chunk-type-digits.png", PngBytes.Reseal(With(pal, plte + 6, (byte)'4')), R, $"at byte {plte + 4}: expected a chunk type of four ASCII letters, found bytes 50 4C 34 45");

        // Dimensions that are empty, out of range, too large, or beyond what the data can hold.
        yield return new("width-zero.png", WithIhdr(grey, 0, 5), R, "at byte 16: expected a width and height of 1 to 2^31-1 pixels, found 0x5");
        yield return new("height-zero.png", WithIhdr(grey, 6, 0), R, "at byte 16: expected a width and height of 1 to 2^31-1 pixels, found 6x0");
        yield return new("width-2-pow-31.png", WithIhdr(grey, 1u << 31, 5), R, "at byte 16: expected a width and height of 1 to 2^31-1 pixels, found 2147483648x5");
        yield return new("size-65535x65535.png", WithIhdr(grey, 65535, 65535), R, "at byte 16: expected an image of at most 33554432 pixels, found 65535x65535 (4294836225 pixels)");
        yield return new("size-2gx2g.png", WithIhdr(grey, int.MaxValue, int.MaxValue), R, "expected an image of at most 33554432 pixels, found 2147483647x2147483647");
        yield return new("size-8192x4097.png", WithIhdr(grey, 8192, 4097), R, "expected an image of at most 33554432 pixels, found 8192x4097 (33562624 pixels)");
        yield return new("size-5000x5000-in-a-few-bytes.png", WithIhdr(grey, 5000, 5000), R, $"at byte 33: a 5000x5000 image needs 25005000 bytes of scanlines, more than {PngBytes.Chunks(grey)[1].Length} bytes of compressed image data can hold");
        yield return new("size-wider-than-the-data.png", WithIhdr(grey, 7, 5), R, "at byte 33: expected 40 bytes of scanlines from the image data, the zlib stream ends after 35");
        yield return new("size-shorter-than-the-data.png", WithIhdr(grey, 6, 4), R, "at byte 33: expected 28 bytes of scanlines from the image data, the zlib stream holds more");

        // Scanlines: a bad filter byte, too few or too many rows, corrupt zlib.
        byte[] badFilter = (byte[])greyScanlines.Clone();
        badFilter[2 * 7] = 5;
        yield return new("filter-type-5.png", File(Ihdr(6, 5, 8, 0), Chunk("IDAT", PngBytes.ZlibStored(badFilter)), Iend), R, "at byte 33: scanline 2 (byte 14 of the decompressed image data) has filter type 5, expected 0-4");
        badFilter[4 * 7] = 255;
        badFilter[2 * 7] = 0;
        yield return new("filter-type-255.png", File(Ihdr(6, 5, 8, 0), Chunk("IDAT", PngBytes.ZlibStored(badFilter)), Iend), R, "at byte 33: scanline 4 (byte 28 of the decompressed image data) has filter type 255, expected 0-4");
        yield return new("rows-too-few.png", File(Ihdr(6, 5, 8, 0), Chunk("IDAT", PngBytes.ZlibStored(greyScanlines[..28])), Iend), R, "at byte 33: expected 35 bytes of scanlines from the image data, the zlib stream ends after 28");
        yield return new("rows-too-many.png", File(Ihdr(6, 5, 8, 0), Chunk("IDAT", PngBytes.ZlibStored([.. greyScanlines, .. greyScanlines[..7]])), Iend), R, "at byte 33: expected 35 bytes of scanlines from the image data, the zlib stream holds more");
        yield return new("rows-missing-last-byte.png", File(Ihdr(6, 5, 8, 0), Chunk("IDAT", PngBytes.ZlibStored(greyScanlines[..^1])), Iend), R, "at byte 33: expected 35 bytes of scanlines from the image data, the zlib stream ends after 34");
        byte[] zlib = PngBytes.ZlibStored(greyScanlines);
        yield return new("zlib-header-not-zlib.png", GreyWithZlib(With(zlib, 0, 0x12, 0x34)), R, "at byte 33: expected a valid zlib stream in the image data (IDAT)");
        yield return new("zlib-preset-dictionary.png", GreyWithZlib(With(zlib, 0, 0x78, 0x20)), R, "at byte 33: expected a valid zlib stream in the image data (IDAT)");
        yield return new("zlib-adler-wrong.png", GreyWithZlib(With(zlib, zlib.Length - 1, (byte)(zlib[^1] ^ 0x01))), R, "at byte 33: expected a valid zlib stream in the image data (IDAT)");
        yield return new("zlib-reserved-block-type.png", GreyWithZlib(With(zlib, 2, 0x07)), R, "at byte 33: expected a valid zlib stream in the image data (IDAT)");
        yield return new("zlib-stored-length-lies.png", GreyWithZlib(With(zlib, 3, 0x22)), R, "at byte 33: expected a valid zlib stream in the image data (IDAT)");
        yield return new("zlib-cut-in-data.png", GreyWithZlib(zlib[..20]), R, "at byte 33: expected 35 bytes of scanlines from the image data, the zlib stream ends after 13");
        yield return new("zlib-no-adler.png", GreyWithZlib(zlib[..^4]), R, $"at byte 33: expected the zlib stream of the image data (IDAT) to end with the Adler-32 of its 35 bytes, {PngBytes.Adler32(greyScanlines):x8}, found {BinaryPrimitives.ReadUInt32BigEndian(zlib.AsSpan(zlib.Length - 8)):x8}");
        yield return new("zlib-bytes-after-end.png", GreyWithZlib([.. zlib, 0, 0]), R, $"at byte 33: expected the zlib stream of the image data (IDAT) to end with the Adler-32 of its 35 bytes, {PngBytes.Adler32(greyScanlines):x8}, found {(uint)BinaryPrimitives.ReadUInt16BigEndian(zlib.AsSpan(zlib.Length - 2)) << 16:x8}");
        yield return new("zlib-empty.png", GreyWithZlib([]), R, "at byte 33: expected 35 bytes of scanlines from the image data, the zlib stream ends after 0");

        // Header fields this reader does not take.
        yield return new("colour-type-1.png", WithIhdrFields(grey, depth: 8, colorType: 1), R, "at byte 25: expected colour type 0 (grey), 2 (RGB), 3 (palette), 4 (grey+alpha) or 6 (RGBA), found 1");
        yield return new("colour-type-7.png", WithIhdrFields(grey, depth: 8, colorType: 7), R, "at byte 25: expected colour type 0 (grey), 2 (RGB), 3 (palette), 4 (grey+alpha) or 6 (RGBA), found 7");
        yield return new("grey-depth-3.png", WithIhdrFields(grey, depth: 3, colorType: 0), R, "at byte 24: expected bit depth 1, 2, 4, 8, 16 for colour type 0 (Grey), found 3");
        yield return new("palette-depth-16.png", WithIhdrFields(pal, depth: 16, colorType: 3), R, "at byte 24: expected bit depth 1, 2, 4, 8 for colour type 3 (Palette), found 16");
        yield return new("rgb-depth-4.png", WithIhdrFields(grey, depth: 4, colorType: 2), R, "at byte 24: expected bit depth 8, 16 for colour type 2 (Rgb), found 4");
        yield return new("rgba-depth-0.png", WithIhdrFields(grey, depth: 0, colorType: 6), R, "at byte 24: expected bit depth 8, 16 for colour type 6 (Rgba), found 0");
        yield return new("compression-method-1.png", WithIhdrFields(grey, compression: 1), R, "at byte 26: expected compression method 0 (zlib deflate), found 1");
        yield return new("filter-method-1.png", WithIhdrFields(grey, filter: 1), R, "at byte 27: expected filter method 0 (adaptive, five filter types), found 1");
        yield return new("interlace-adam7.png", WithIhdrFields(grey, interlace: 1), R, "at byte 28: expected a non-interlaced image (interlace method 0), found Adam7 interlacing (method 1)");
        yield return new("interlace-method-2.png", WithIhdrFields(grey, interlace: 2), R, "at byte 28: expected interlace method 0 (none), found 2");

        // Chunks missing, repeated, misplaced or unknown.
        yield return new("ihdr-after-idat.png", File(greyIdat, Ihdr(6, 5, 8, 0), Iend), R, "at byte 8: expected the IHDR chunk first, found 'IDAT'");
        yield return new("ihdr-twice.png", File(Ihdr(6, 5, 8, 0), Ihdr(6, 5, 8, 0), greyIdat, Iend), R, "at byte 33: expected one IHDR chunk, found a second");
        yield return new("ihdr-12-bytes.png", File(Chunk("IHDR", IhdrData(6, 5, 8, 0)[..12]), greyIdat, Iend), R, "at byte 8: expected an IHDR chunk of 13 bytes, found 12");
        yield return new("ihdr-14-bytes.png", File(Chunk("IHDR", [.. IhdrData(6, 5, 8, 0), 0]), greyIdat, Iend), R, "at byte 8: expected an IHDR chunk of 13 bytes, found 14");
        yield return new("idat-missing.png", File(Ihdr(6, 5, 8, 0), Chunk("tEXt", "Title\0no pixels"u8.ToArray()), Iend), R, "expected image data (IDAT) before IEND, found none");
        yield return new("idat-split-by-text.png", File([Ihdr(6, 5, 8, 0), .. PngBytes.Idat(zlib, 2).Take(1), Chunk("tEXt", "a\0b"u8.ToArray()), .. PngBytes.Idat(zlib, 2).Skip(1), Iend]), R,
            "expected the IDAT chunks to be consecutive, found another chunk between them");
        yield return new("iend-not-empty.png", File(Ihdr(6, 5, 8, 0), greyIdat, Chunk("IEND", [0])), R, "expected an empty IEND chunk, found 1 data bytes");
        yield return new("critical-chunk-cgbi.png", File(Ihdr(6, 5, 8, 0), Chunk("CgBI", [0x50, 0x00, 0x20, 0x06]), greyIdat, Iend), R,
            "at byte 33: chunk 'CgBI' is marked critical (capital first letter) and this reader does not know it; expected IHDR, PLTE, IDAT, IEND or an ancillary chunk");

        // Palettes and transparency that do not fit the image.
        byte[] palScanlines = Scanlines(PaletteRows(5, 3, 4, 4), 1, _ => 0);
        byte[] palIdat = Chunk("IDAT", PngBytes.ZlibStored(palScanlines));
        byte[] palIhdr = Ihdr(5, 3, 4, 3);
        yield return new("palette-missing.png", File(palIhdr, palIdat, Iend), R, "at byte 33: expected a palette (PLTE) before the image data of a palette image, found none");
        yield return new("palette-too-short.png", File(palIhdr, Chunk("PLTE", [0, 0, 0, 255, 255, 255]), palIdat, Iend), R, "at byte 51: pixel (2, 0) uses palette index 2, expected one below the palette's 2 entries");
        yield return new("palette-not-triples.png", File(palIhdr, Chunk("PLTE", [0, 0, 0, 255]), palIdat, Iend), R, "at byte 33: expected a PLTE chunk of 3 to 48 bytes, a multiple of 3; found 4 bytes");
        yield return new("palette-empty.png", File(palIhdr, Chunk("PLTE", []), palIdat, Iend), R, "at byte 33: expected a PLTE chunk of 3 to 48 bytes, a multiple of 3; found 0 bytes");
        yield return new("palette-too-long-for-1-bit.png", File(Ihdr(5, 3, 1, 3), Chunk("PLTE", new byte[9]), palIdat, Iend), R, "at byte 33: expected a PLTE chunk of 3 to 6 bytes, a multiple of 3; found 9 bytes");
        yield return new("palette-in-grey-alpha.png", File(Ihdr(2, 2, 8, 4), Chunk("PLTE", new byte[6]), Chunk("IDAT", PngBytes.ZlibStored(new byte[10])), Iend), R,
            "at byte 33: expected no palette (PLTE) in a colour type 4 (GreyAlpha) image, found one");
        yield return new("palette-after-idat.png", File(palIhdr, palIdat, Chunk("PLTE", new byte[12]), Iend), R, "expected PLTE before the image data (IDAT), found it after");
        yield return new("palette-twice.png", File(palIhdr, Chunk("PLTE", new byte[12]), Chunk("PLTE", new byte[12]), palIdat, Iend), R, "at byte 57: expected at most one PLTE chunk, found a second");
        yield return new("trns-before-plte.png", File(palIhdr, Chunk("tRNS", [0]), Chunk("PLTE", new byte[12]), palIdat, Iend), R, "at byte 33: expected the tRNS chunk of a palette image after PLTE, found it before");
        yield return new("trns-more-than-palette.png", File(palIhdr, Chunk("PLTE", new byte[12]), Chunk("tRNS", [1, 2, 3, 4, 5]), palIdat, Iend), R,
            "at byte 57: expected the tRNS chunk after PLTE, with at most one alpha per palette entry (4), found 5 bytes");
        yield return new("trns-grey-3-bytes.png", File(Ihdr(6, 5, 8, 0), Chunk("tRNS", [0, 1, 2]), greyIdat, Iend), R, "at byte 33: expected a tRNS chunk of 2 bytes (one grey value) for a grey image, found 3");
        yield return new("trns-rgb-2-bytes.png", File(Ihdr(2, 2, 8, 2), Chunk("tRNS", [0, 1]), Chunk("IDAT", PngBytes.ZlibStored(rgbScanlines)), Iend), R, "at byte 33: expected a tRNS chunk of 6 bytes (one RGB value) for an RGB image, found 2");
        yield return new("trns-in-rgba.png", File(Ihdr(1, 1, 8, 6), Chunk("tRNS", [0, 1]), Chunk("IDAT", PngBytes.ZlibStored(new byte[5])), Iend), R,
            "at byte 33: expected no tRNS chunk in a colour type 6 (Rgba) image, which has an alpha channel; found one");
    }

    private static byte[] GreyWithZlib(byte[] zlib) => File(Ihdr(6, 5, 8, 0), Chunk("IDAT", zlib), Iend);

    /// <summary><paramref name="png"/> with IHDR's width and height replaced (CRC resealed).</summary>
    private static byte[] WithIhdr(byte[] png, uint width, uint height)
    {
        byte[] copy = (byte[])png.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(16), width);
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(20), height);
        return PngBytes.Reseal(copy);
    }

    /// <summary><paramref name="png"/> with IHDR's bit depth, colour type, methods replaced where given (CRC resealed).</summary>
    private static byte[] WithIhdrFields(byte[] png, int? depth = null, int? colorType = null, int? compression = null, int? filter = null, int? interlace = null)
    {
        byte[] copy = (byte[])png.Clone();
        copy[24] = (byte)(depth ?? copy[24]);
        copy[25] = (byte)(colorType ?? copy[25]);
        copy[26] = (byte)(compression ?? copy[26]);
        copy[27] = (byte)(filter ?? copy[27]);
        copy[28] = (byte)(interlace ?? copy[28]);
        return PngBytes.Reseal(copy);
    }

    private static byte[] CrcFlipped(byte[] png, int start, int length) => With(png, start + 8 + length + 3, (byte)(png[start + 8 + length + 3] ^ 0x01));

    private static string CrcMessage(byte[] png, int start, int length, string type)
    {
        uint good = Crc32.HashToUInt32(png.AsSpan(start + 4, 4 + length));
        return $"at byte {start + 8 + length}: chunk '{type}' has CRC {good ^ 1:x8}, expected {good:x8} (the CRC-32 of its type and data): the file is damaged";
    }

    private static byte[] With(byte[] bytes, int at, params byte[] values)
    {
        byte[] copy = (byte[])bytes.Clone();
        values.CopyTo(copy, at);
        return copy;
    }

    private static byte[] Int32At(byte[] bytes, int at, int value)
    {
        byte[] copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(at), value);
        return copy;
    }
}
