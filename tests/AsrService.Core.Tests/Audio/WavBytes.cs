using System.Buffers.Binary;
using System.Text;

namespace AsrService.Core.Tests.Audio;

/// <summary>Builds WAV files byte by byte, so each test states exactly which header it feeds the reader.</summary>
internal static class WavBytes
{
    public const int Pcm = 1;
    public const int Float = 3;
    public const int ALaw = 6;
    public const int MuLaw = 7;
    public const int Extensible = 0xFFFE;

    public static byte[] Riff(params byte[][] chunks) => RiffWithType("WAVE", chunks);

    public static byte[] RiffWithType(string type, params byte[][] chunks)
    {
        using var stream = new MemoryStream();
        int bodyLength = 4 + chunks.Sum(chunk => chunk.Length);
        stream.Write("RIFF"u8);
        stream.Write(UInt32(bodyLength));
        stream.Write(Encoding.ASCII.GetBytes(type));
        foreach (byte[] chunk in chunks)
        {
            stream.Write(chunk);
        }

        return stream.ToArray();
    }

    /// <summary>A chunk with its header and, after an odd-sized body, the pad byte.</summary>
    public static byte[] Chunk(string id, byte[] body, uint? declaredSize = null)
    {
        using var stream = new MemoryStream();
        stream.Write(Encoding.ASCII.GetBytes(id));
        stream.Write(UInt32(declaredSize ?? (uint)body.Length));
        stream.Write(body);
        if (body.Length % 2 == 1)
        {
            stream.WriteByte(0);
        }

        return stream.ToArray();
    }

    public static byte[] Fmt(int formatTag, int channels, int sampleRate, int bitsPerSample, int? blockAlign = null)
    {
        int align = blockAlign ?? channels * bitsPerSample / 8;
        var body = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)formatTag);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), (ushort)channels);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), (uint)sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), (uint)(sampleRate * align));
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(12), (ushort)align);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(14), (ushort)bitsPerSample);
        return Chunk("fmt ", body);
    }

    /// <summary>WAVE_FORMAT_EXTENSIBLE with a KSDATAFORMAT_SUBTYPE GUID built from <paramref name="subFormatTag"/>.</summary>
    public static byte[] FmtExtensible(
        int subFormatTag, int channels, int sampleRate, int bitsPerSample, int validBits, Guid? subFormat = null)
    {
        byte[] basic = Fmt(Extensible, channels, sampleRate, bitsPerSample).AsSpan(8).ToArray();
        var body = new byte[40];
        basic.CopyTo(body, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(16), 22);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(18), (ushort)validBits);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(20), channels == 2 ? 3u : 4u);
        Guid guid = subFormat ?? new Guid($"{subFormatTag:X8}-0000-0010-8000-00aa00389b71");
        guid.TryWriteBytes(body.AsSpan(24));
        return Chunk("fmt ", body);
    }

    public static byte[] Data(byte[] samples, uint? declaredSize = null) => Chunk("data", samples, declaredSize);

    public static byte[] Pcm16(params float[] samples)
    {
        var bytes = new byte[samples.Length * 2];
        for (int i = 0; i < samples.Length; i++)
        {
            short value = (short)Math.Clamp(Math.Round(samples[i] * 32768.0), short.MinValue, short.MaxValue);
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(i * 2), value);
        }

        return bytes;
    }

    /// <summary>A complete 16-bit mono PCM file.</summary>
    public static byte[] Pcm16Mono(float[] samples, int sampleRate) =>
        Riff(Fmt(Pcm, 1, sampleRate, 16), Data(Pcm16(samples)));

    public static byte[] UInt32(long value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)value);
        return bytes;
    }
}

/// <summary>A pipe-like stream: cannot seek, and each read returns at most a few bytes.</summary>
internal sealed class NonSeekableStream(byte[] bytes, int maxBytesPerRead = int.MaxValue) : Stream
{
    private int _position;

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
        int count = Math.Min(Math.Min(buffer.Length, maxBytesPerRead), bytes.Length - _position);
        bytes.AsSpan(_position, count).CopyTo(buffer);
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
