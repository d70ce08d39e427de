// The byte content of an IDX file, raw or gzip (RFC 1952), as IdxReader sees it.
// Gzip is recognised by its magic bytes 1f 8b, never by the file name. Offsets are
// counted in the decompressed content. .NET's GZipStream silently accepts a stream
// cut inside or before its 8-byte trailer and ignores bytes after it, so for gzip this
// class also checks the trailer itself: CRC-32 and size (mod 2^32) of the content.

using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace SharpCnn.Data;

internal sealed class IdxContent : IDisposable
{
    private readonly PeekedInputStream _input;
    private readonly Stream _content;
    private readonly Crc32? _crc;

    private IdxContent(string name, PeekedInputStream input, bool isGzip)
    {
        Name = name;
        _input = input;
        IsGzip = isGzip;
        _content = isGzip ? new GZipStream(input, CompressionMode.Decompress, leaveOpen: true) : input;
        _crc = isGzip ? new Crc32() : null;
    }

    /// <summary>The file name used in error messages.</summary>
    public string Name { get; }

    /// <summary>True when the file is gzip-compressed.</summary>
    public bool IsGzip { get; }

    /// <summary>Bytes of content read so far: the offset of the next byte.</summary>
    public long Offset { get; private set; }

    /// <summary>Content bytes still to come, or -1 when unknown (gzip, non-seekable stream).</summary>
    public long Remaining => IsGzip || _input.Remaining < 0 ? -1 : _input.Remaining;

    /// <summary>Sniffs the first two bytes of <paramref name="stream"/> and opens its content.</summary>
    public static IdxContent Open(Stream stream, string name)
    {
        var peeked = new byte[2];
        int n = stream.ReadAtLeast(peeked, peeked.Length, throwOnEndOfStream: false);
        bool isGzip = n == 2 && peeked[0] == 0x1f && peeked[1] == 0x8b;
        return new IdxContent(name, new PeekedInputStream(stream, peeked[..n]), isGzip);
    }

    /// <summary>Fills as much of <paramref name="buffer"/> as the content allows; returns the count (less only at the end).</summary>
    public int ReadAtMost(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = ReadOnce(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws, saying <paramref name="expected"/>.</summary>
    public void ReadExactly(Span<byte> buffer, string expected)
    {
        long start = Offset;
        int n = ReadAtMost(buffer);
        if (n < buffer.Length)
        {
            if (IsGzip) CheckGzipTrailer(); // a cut gzip file is reported as that, not as short content
            string what = IsGzip ? "decompressed content" : "file";
            throw Error(start + n, start + n == 0
                ? $"the {what} is empty: expected {expected}"
                : $"expected {expected}, but the {what} ends after {start + n} bytes");
        }
    }

    /// <summary>Checks that the content ends here and, for gzip, that the trailer matches.</summary>
    public void ExpectEnd()
    {
        long end = Offset;
        Span<byte> probe = stackalloc byte[4096];
        int extra = ReadOnce(probe); // one read is enough: no need to inflate a whole bomb to count it
        if (extra > 0)
            throw Error(end, $"expected the end of the data, found trailing bytes (at least {extra})");
        CheckGzipTrailer();
    }

    /// <summary>For gzip: throws when the compressed file does not end in a trailer that matches the content read (call at the content's end).</summary>
    public void CheckGzipTrailer()
    {
        if (!IsGzip) return;
        // GZipStream reads ahead; drain the compressed input so its last 8 bytes are the file's.
        Span<byte> sink = stackalloc byte[4096];
        while (_input.Read(sink) > 0) { }
        uint crc = _crc!.GetCurrentHashAsUInt32();
        uint size = unchecked((uint)Offset);
        ReadOnlySpan<byte> tail = _input.Tail;
        if (tail.Length == PeekedInputStream.TailSize
            && BinaryPrimitives.ReadUInt32LittleEndian(tail) == crc
            && BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]) == size)
        {
            return;
        }
        throw Error(Offset, $"expected a gzip trailer with CRC-32 {crc:x8} and size {size} at the end of the file, " +
            $"found {Convert.ToHexStringLower(tail)}: the gzip file is truncated, corrupt or has bytes after its end");
    }

    private int ReadOnce(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _content.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw Error(Offset, $"expected valid gzip data, found corrupt gzip data after {Offset} decompressed bytes: {e.Message}", e);
        }
        _crc?.Append(buffer[..n]);
        Offset += n;
        return n;
    }

    /// <summary>A <see cref="FileFormatException"/> for this file at <paramref name="offset"/>.</summary>
    public FileFormatException Error(long offset, string problem, Exception? inner = null) =>
        new(Name, offset, problem, inner);

    public void Dispose()
    {
        if (IsGzip) _content.Dispose();
    }
}
