// A read-only pass-through stream used by IdxReader. It first replays the few bytes
// that were read to sniff the gzip magic (so non-seekable streams work), then reads
// the wrapped stream, counting the bytes and keeping the last 8 it delivered: at the
// end of a gzip file those are the trailer (CRC-32 and size of the decompressed content).

namespace SharpCnn.Data;

internal sealed class PeekedInputStream(Stream inner, byte[] peeked) : Stream
{
    /// <summary>Size of the gzip trailer: CRC-32 then ISIZE, both little-endian uint32.</summary>
    public const int TailSize = 8;

    private readonly byte[] _tail = new byte[TailSize];
    private int _peekedPosition;

    /// <summary>Bytes delivered so far (peeked bytes included).</summary>
    public long BytesRead { get; private set; }

    /// <summary>The last up-to-8 bytes delivered, oldest first.</summary>
    public ReadOnlySpan<byte> Tail => BytesRead >= TailSize
        ? _tail
        : _tail.AsSpan(TailSize - (int)BytesRead);

    /// <summary>Bytes still to come, or -1 when the wrapped stream cannot tell.</summary>
    public long Remaining => inner.CanSeek
        ? peeked.Length - _peekedPosition + Math.Max(0, inner.Length - inner.Position)
        : -1;

    public override int Read(Span<byte> buffer)
    {
        int n;
        if (_peekedPosition < peeked.Length)
        {
            n = Math.Min(buffer.Length, peeked.Length - _peekedPosition);
            peeked.AsSpan(_peekedPosition, n).CopyTo(buffer);
            _peekedPosition += n;
        }
        else
        {
            n = inner.Read(buffer);
        }
        Remember(buffer[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    private void Remember(ReadOnlySpan<byte> delivered)
    {
        BytesRead += delivered.Length;
        if (delivered.Length >= TailSize)
        {
            delivered[^TailSize..].CopyTo(_tail);
            return;
        }
        _tail.AsSpan(delivered.Length).CopyTo(_tail);
        delivered.CopyTo(_tail.AsSpan(TailSize - delivered.Length));
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
