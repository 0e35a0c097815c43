namespace AsrService.Fuzz.Tests.Audio;

/// <summary>
/// A pipe: cannot seek, has no length, and hands out a random number of bytes per read (as a socket or ffmpeg's
/// stdout does), so a reader's short-read and partial-frame paths are exercised.
/// </summary>
internal sealed class DripStream : Stream
{
    private readonly byte[] _data;
    private readonly Random _random;
    private int _position;

    public DripStream(byte[] data, int seed)
    {
        _data = data;
        _random = new Random(seed);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int available = _data.Length - _position;
        if (available == 0 || buffer.IsEmpty)
        {
            return 0;
        }

        int limit = _random.Next(3) == 0 ? 1 + _random.Next(7) : 1 + _random.Next(4096);
        int count = Math.Min(Math.Min(buffer.Length, available), limit);
        _data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
