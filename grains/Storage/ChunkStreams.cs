namespace MemRL.Grains.Storage;

/// <summary>A write-only stream that cuts what is written into chunks of a fixed size (snapshot rows).</summary>
internal sealed class ChunkWriteStream(int chunkSize) : Stream
{
    private byte[] _current = new byte[chunkSize];
    private int _used;
    private long _length;
    private readonly List<ReadOnlyMemory<byte>> _done = [];

    /// <summary>The chunks written so far, the last one possibly short.</summary>
    public List<ReadOnlyMemory<byte>> Chunks
    {
        get
        {
            var all = new List<ReadOnlyMemory<byte>>(_done);
            if (_used > 0)
            {
                all.Add(_current.AsMemory(0, _used));
            }

            return all;
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, _current.Length - _used);
            buffer[..n].CopyTo(_current.AsSpan(_used));
            _used += n;
            _length += n;
            buffer = buffer[n..];
            if (_used == _current.Length)
            {
                _done.Add(_current);
                _current = new byte[chunkSize];
                _used = 0;
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>A read-only stream over a snapshot's chunks in order.</summary>
internal sealed class ChunkReadStream(IReadOnlyList<byte[]> chunks) : Stream
{
    private int _chunk;
    private int _offset;
    private long _position;

    public override int Read(Span<byte> buffer)
    {
        int total = 0;
        while (!buffer.IsEmpty && _chunk < chunks.Count)
        {
            var current = chunks[_chunk];
            int n = Math.Min(buffer.Length, current.Length - _offset);
            current.AsSpan(_offset, n).CopyTo(buffer);
            buffer = buffer[n..];
            _offset += n;
            total += n;
            if (_offset == current.Length)
            {
                _chunk++;
                _offset = 0;
            }
        }

        _position += total;
        return total;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => chunks.Sum(c => (long)c.Length);
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
