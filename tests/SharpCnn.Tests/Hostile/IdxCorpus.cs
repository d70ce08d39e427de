// The IDX part of the hostile-input corpus: valid seeds, then files truncated at every header
// boundary, wrong magic and types, impossible and lying sizes, count mismatches, labels
// outside the class range, gzip that is truncated, corrupt or followed by garbage.

using System.Buffers.Binary;
using System.Text;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Hostile;

internal sealed class IdxCorpus : ICorpusFormat
{
    public const string GoodImages = "good-images-idx3-ubyte";
    public const string GoodLabels = "good-labels-idx1-ubyte";

    public string Folder => "idx";

    /// <summary>3 images of 4x4 (64 bytes).</summary>
    public static byte[] Images => Idx(Pixels(3, 4, 4), 3, 4, 4);

    /// <summary>3 labels (11 bytes).</summary>
    public static byte[] Labels => Idx([1, 7, 3], 3);

    public IEnumerable<CorpusFile> Generate()
    {
        byte[] images = Images, labels = Labels;
        const string I = "idx-images", L = "idx-labels", Pair = "mnist-labels:" + GoodImages;

        // Valid files: the seeds of the mutation tests, and proof the readers accept what they should.
        yield return new(GoodImages, images, I, CorpusFile.Ok);
        yield return new(GoodLabels, labels, L, CorpusFile.Ok);
        yield return new(GoodImages + ".gz", GzipBytes.Stored(images), I, CorpusFile.Ok);
        yield return new(GoodLabels + ".gz", GzipBytes.Stored(labels), L, CorpusFile.Ok);
        yield return new("good-labels-for-pair-idx1-ubyte", labels, Pair, CorpusFile.Ok);

        // Empty and truncated at every header boundary: inside the magic, after it, after each size, before and inside the data.
        yield return new("empty-idx3-ubyte", [], I, "the file is empty: expected an IDX header");
        yield return new("cut-at-1-idx3-ubyte", images[..1], I, "ends after 1 bytes");
        yield return new("cut-at-2-idx3-ubyte", images[..2], I, "ends after 2 bytes");
        yield return new("cut-at-3-idx3-ubyte", images[..3], I, "ends after 3 bytes");
        yield return new("cut-at-4-idx3-ubyte", images[..4], I, "expected the 4-byte size of dimension 1 of 3, but the file ends after 4 bytes");
        yield return new("cut-at-6-idx3-ubyte", images[..6], I, "expected the 4-byte size of dimension 1 of 3, but the file ends after 6 bytes");
        yield return new("cut-at-8-idx3-ubyte", images[..8], I, "expected the 4-byte size of dimension 2 of 3, but the file ends after 8 bytes");
        yield return new("cut-at-12-idx3-ubyte", images[..12], I, "expected the 4-byte size of dimension 3 of 3, but the file ends after 12 bytes");
        yield return new("cut-at-16-idx3-ubyte", images[..16], I, "expected 3 x 4 x 4 = 48 data bytes, found 0: the file is truncated");
        yield return new("cut-at-40-idx3-ubyte", images[..40], I, "expected 3 x 4 x 4 = 48 data bytes, found 24: the file is truncated");
        yield return new("cut-at-63-idx3-ubyte", images[..63], I, "expected 3 x 4 x 4 = 48 data bytes, found 47: the file is truncated");
        yield return new("cut-at-4-idx1-ubyte", labels[..4], L, "expected the 4-byte size of dimension 1 of 1, but the file ends after 4 bytes");
        yield return new("cut-at-9-idx1-ubyte", labels[..9], L, "expected 3 = 3 data bytes, found 1: the file is truncated");

        // Not IDX at all, or the wrong kind of IDX.
        yield return new("magic-01-00-idx3-ubyte", With(images, 0, 0x01), I, "expected the IDX magic bytes 00 00 (or gzip 1f 8b), found 01 00");
        yield return new("magic-zip-idx3-ubyte", With(images, 0, 0x50, 0x4b), I, "expected the IDX magic bytes 00 00 (or gzip 1f 8b), found 50 4b");
        yield return new("text-file-idx3-ubyte", Encoding.ASCII.GetBytes("label,pixel0,pixel1\n5,0,0\n"), I, "expected the IDX magic bytes 00 00");
        yield return new("type-float32-idx3-ubyte", With(images, 2, 0x0D), I, "expected IDX type 08 (unsigned byte), found 0d (float32)");
        yield return new("type-int32-idx3-ubyte", With(images, 2, 0x0C), I, "expected IDX type 08 (unsigned byte), found 0c (int32)");
        yield return new("type-unknown-idx3-ubyte", With(images, 2, 0x42), I, "found 42 (not an IDX type)");
        yield return new("labels-read-as-images-idx3-ubyte", labels, I, "expected 3 dimensions (an images file), found 1");
        yield return new("images-read-as-labels-idx1-ubyte", images, L, "expected 1 dimension (a labels file), found 3");
        yield return new("zero-dimensions-idx3-ubyte", Idx([], []), I, "expected 3 dimensions (an images file), found 0");

        // Sizes that are impossible or lie about the file.
        yield return new("count-zero-idx3-ubyte", Idx([], 0, 4, 4), I, "expected a positive size for dimension 1 of 3, found 0");
        yield return new("rows-negative-idx3-ubyte", Idx(Pixels(3, 4, 4), 3, -4, 4), I, "expected a positive size for dimension 2 of 3, found -4");
        yield return new("cols-min-int-idx3-ubyte", Idx(Pixels(3, 4, 4), 3, 4, int.MinValue), I, "expected a positive size for dimension 3 of 3, found -2147483648");
        yield return new("sizes-overflow-idx3-ubyte", Idx(Pixels(3, 4, 4), int.MaxValue, 65536, 65536), I, "2147483647 x 65536 x 65536 (more than that)");
        yield return new("sizes-wrap-to-48-idx3-ubyte", Idx(Pixels(3, 4, 4), 65536, 65536, 48), I, "65536 x 65536 x 48 (more than that)");
        yield return new("claims-a-gigabyte-idx3-ubyte", Idx(Pixels(3, 4, 4), 1000, 1000, 1000), I, "expected 1000 x 1000 x 1000 = 1000000000 data bytes, found 48: the file is truncated");
        yield return new("claims-a-gigabyte-idx3-ubyte.gz", GzipBytes.Stored(Idx(Pixels(3, 4, 4), 1000, 1000, 1000)), I, "expected 1000 x 1000 x 1000 = 1000000000 data bytes, but the decompressed content ends after 48");
        yield return new("claims-fewer-idx3-ubyte", Idx(Pixels(3, 4, 4), 2, 4, 4), I, "expected 2 x 4 x 4 = 32 data bytes, found 48: the file has 16 trailing bytes");
        yield return new("labels-claim-more-idx1-ubyte", Idx([1, 7, 3], 300), L, "expected 300 = 300 data bytes, found 3: the file is truncated");
        yield return new("trailing-garbage-idx3-ubyte", [.. images, 0xde, 0xad, 0xbe, 0xef], I, "the file has 4 trailing bytes");
        yield return new("trailing-garbage-inside-gzip-idx3-ubyte.gz", GzipBytes.Stored([.. images, 0xde, 0xad]), I, "expected the end of the data, found trailing bytes");

        // Labels that do not fit the images they go with.
        yield return new("labels-one-too-many-idx1-ubyte", Idx([1, 7, 3, 2], 4), Pair, $"expected 3 labels, one per image of");
        yield return new("labels-one-too-few-idx1-ubyte", Idx([1, 7], 2), Pair, $"expected 3 labels, one per image of");
        yield return new("label-10-of-10-classes-idx1-ubyte", Idx([1, 10, 3], 3), Pair, "expected labels below 10 (the class count), found 10 for item 1");
        yield return new("label-255-idx1-ubyte", Idx([255, 7, 3], 3), Pair, "expected labels below 10 (the class count), found 255 for item 0");

        // Gzip that is truncated, corrupt, or has bytes after its end.
        byte[] gz = GzipBytes.Stored(images);
        yield return new("gzip-magic-only-idx3-ubyte.gz", gz[..2], I, "found 1f8b: the gzip file is truncated, corrupt or has bytes after its end");
        yield return new("gzip-cut-in-header-idx3-ubyte.gz", gz[..7], I, "the gzip file is truncated, corrupt or has bytes after its end");
        yield return new("gzip-cut-in-data-idx3-ubyte.gz", gz[..40], I, "expected a gzip trailer with CRC-32");
        yield return new("gzip-cut-in-trailer-idx3-ubyte.gz", gz[..^4], I, "expected a gzip trailer with CRC-32");
        yield return new("gzip-no-trailer-idx3-ubyte.gz", gz[..^8], I, "expected a gzip trailer with CRC-32");
        yield return new("gzip-wrong-crc-idx3-ubyte.gz", With(gz, gz.Length - 8, (byte)(gz[^8] ^ 0x01)), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-wrong-size-idx3-ubyte.gz", With(gz, gz.Length - 4, (byte)(gz[^4] + 1)), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-content-flipped-idx3-ubyte.gz", With(gz, GzipBytes.FirstContentByte + 30, 0x5a), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-method-7-idx3-ubyte.gz", With(gz, 2, 0x07), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-reserved-block-type-idx3-ubyte.gz", With(gz, 10, 0x07), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-stored-length-lies-idx3-ubyte.gz", With(gz, 11, 0x00, 0x01), I, "expected valid gzip data, found corrupt gzip data");
        yield return new("gzip-bytes-after-end-idx3-ubyte.gz", [.. gz, 0x00, 0x00, 0x00, 0x01], I, "the gzip file is truncated, corrupt or has bytes after its end");
        yield return new("gzip-two-members-idx3-ubyte.gz", [.. gz, .. gz], I, "expected the end of the data, found trailing bytes");
        yield return new("gzip-of-nothing-idx3-ubyte.gz", GzipBytes.Stored([]), I, "the decompressed content is empty: expected an IDX header");
        yield return new("gzip-inside-gzip-idx3-ubyte.gz", GzipBytes.Stored(gz), I, "a gzip file inside a gzip file");
    }

    private static byte[] With(byte[] bytes, int at, params byte[] values)
    {
        byte[] copy = (byte[])bytes.Clone();
        values.CopyTo(copy, at);
        return copy;
    }
}
