using System.Buffers.Binary;

namespace AsrService.Benchmarks;

/// <summary>Writes canonical PCM WAV files (44-byte header) in memory, for the decoding benchmarks.</summary>
internal static class WavBytes
{
    /// <summary>
    /// A WAV file of <paramref name="interleaved"/> samples (already interleaved across
    /// <paramref name="channels"/>), stored as signed PCM of <paramref name="bitsPerSample"/> bits.
    /// </summary>
    public static byte[] Create(float[] interleaved, int sampleRate, int channels, int bitsPerSample)
    {
        var data = Pcm(interleaved, bitsPerSample);
        var bytesPerSample = bitsPerSample / 8;
        var file = new byte[44 + data.Length];
        var header = file.AsSpan();
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)(36 + data.Length));
        "WAVE"u8.CopyTo(header[8..]);
        "fmt "u8.CopyTo(header[12..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(header[20..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(header[22..], (ushort)channels);
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], (uint)sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], (uint)(sampleRate * channels * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(header[32..], (ushort)(channels * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(header[34..], (ushort)bitsPerSample);
        "data"u8.CopyTo(header[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[40..], (uint)data.Length);
        data.CopyTo(file, 44);
        return file;
    }

    /// <summary>Little-endian signed PCM of 16 or 24 bits, full scale at 1.0.</summary>
    public static byte[] Pcm(float[] samples, int bitsPerSample)
    {
        if (bitsPerSample is not (16 or 24))
        {
            throw new ArgumentOutOfRangeException(nameof(bitsPerSample), bitsPerSample, "16 or 24 bits");
        }

        var bytesPerSample = bitsPerSample / 8;
        var fullScale = (1 << (bitsPerSample - 1)) - 1;
        var bytes = new byte[samples.Length * bytesPerSample];
        for (var i = 0; i < samples.Length; i++)
        {
            var value = (int)Math.Round(Math.Clamp(samples[i], -1f, 1f) * fullScale);
            var target = bytes.AsSpan(i * bytesPerSample);
            target[0] = (byte)value;
            target[1] = (byte)(value >> 8);
            if (bytesPerSample == 3)
            {
                target[2] = (byte)(value >> 16);
            }
        }

        return bytes;
    }
}
