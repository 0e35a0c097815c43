using System.Buffers.Binary;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>The plainest WAV file: a 44-byte header of mono PCM followed by the samples.</summary>
internal static class SimpleWav
{
    /// <summary>An ffmpeg that is not there: a non-WAV input is then rejected at once instead of starting a process.</summary>
    public const string MissingFfmpeg = "/nonexistent/asr-fuzz/ffmpeg";

    /// <summary>
    /// The header with <paramref name="declaredDataBytes"/> in the data chunk's size field and room for
    /// <paramref name="frames"/> samples, all zero (silence at 16 bits, full negative scale at 8).
    /// </summary>
    public static byte[] Pcm(uint declaredDataBytes, int frames, int sampleRate = 16_000, int bitsPerSample = 16)
    {
        int bytesPerSample = bitsPerSample / 8;
        var file = new byte[44 + bytesPerSample * frames];
        "RIFF"u8.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), uint.MaxValue);
        "WAVEfmt "u8.CopyTo(file.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), 16);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(20), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(22), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(24), (uint)sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(28), (uint)(sampleRate * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(32), (ushort)bytesPerSample);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(34), (ushort)bitsPerSample);
        "data"u8.CopyTo(file.AsSpan(36));
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(40), declaredDataBytes);
        return file;
    }
}
