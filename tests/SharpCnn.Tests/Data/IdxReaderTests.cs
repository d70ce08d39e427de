// IdxReader on well-formed input: sizes, data, data offset; raw and gzip read the same,
// from a path, a seekable stream or a forward-only stream.

using SharpCnn.Data;
using static SharpCnn.Tests.Data.IdxTestFiles;

namespace SharpCnn.Tests.Data;

public sealed class IdxReaderTests
{
    [Fact]
    public void ReadsSizesAndDataOfAnImagesFile()
    {
        using var files = new IdxTestFiles();
        byte[] pixels = Pixels(3, 4, 5);
        string path = files.Write("images-idx3-ubyte", Idx(pixels, 3, 4, 5));

        IdxArray array = IdxReader.Read(path, 3);

        Assert.Equal([3, 4, 5], array.Dimensions);
        Assert.Equal(pixels, array.Data);
        Assert.Equal(16, array.DataOffset);
        Assert.Equal(path, array.Name);
    }

    [Fact]
    public void RawAndGzipFilesReadIdentically()
    {
        using var files = new IdxTestFiles();
        byte[] content = Idx(Pixels(7, 6, 5), 7, 6, 5);
        // Names deliberately lie: detection goes by magic bytes, not by ".gz".
        string raw = files.Write("raw.gz", content);
        string gzip = files.Write("gzip-without-extension", Gzip(content));

        IdxArray fromRaw = IdxReader.Read(raw, 3);
        IdxArray fromGzip = IdxReader.Read(gzip, 3);

        Assert.Equal(fromRaw.Dimensions, fromGzip.Dimensions);
        Assert.Equal(fromRaw.Data, fromGzip.Data);
        Assert.Equal(fromRaw.DataOffset, fromGzip.DataOffset);
    }

    [Fact]
    public void ReadsALabelsFile()
    {
        byte[] labels = [3, 1, 4, 1, 5, 9, 2, 6];
        IdxArray array = IdxReader.Read(new MemoryStream(Idx(labels, labels.Length)), "labels", 1);

        Assert.Equal([8], array.Dimensions);
        Assert.Equal(labels, array.Data);
        Assert.Equal(8, array.DataOffset);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsFromAForwardOnlyStream(bool gzip)
    {
        byte[] pixels = Pixels(5, 3, 3);
        byte[] content = Idx(pixels, 5, 3, 3);
        using var stream = new ForwardOnlyStream(gzip ? Gzip(content) : content);

        IdxArray array = IdxReader.Read(stream, "stream", 3);

        Assert.Equal(pixels, array.Data);
    }

    [Fact]
    public void ReadsDataLargerThanOneGrowthChunkFromGzip()
    {
        // 3 MB of pixels: the gzip path grows its buffer 1 MB -> 2 MB -> 3 MB.
        byte[] pixels = Pixels(1000, 56, 56);
        IdxArray array = IdxReader.Read(new ForwardOnlyStream(Gzip(Idx(pixels, 1000, 56, 56))), "big", 3);
        Assert.Equal(pixels, array.Data);
    }
}

/// <summary>A stream that can only be read forward and does not know its length.</summary>
internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
{
    private readonly MemoryStream _inner = new(bytes);
    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
