using System.Buffers.Binary;

namespace AsrService.Core.Audio;

/// <summary>The inverse of <see cref="RawAudioDecoder"/> for LINEAR16, for clients that send what they read.</summary>
public static class RawAudioEncoder
{
    /// <summary>
    /// Writes mono samples as 16-bit little-endian PCM, scaled by 32768 (the decoder's scale, so 16-bit sources round
    /// trip exactly) and clamped; returns the bytes written.
    /// </summary>
    public static int EncodeLinear16(ReadOnlySpan<float> samples, Span<byte> output)
    {
        if (output.Length < samples.Length * 2)
        {
            throw new ArgumentException($"output holds {output.Length} bytes; {samples.Length} samples need {samples.Length * 2}", nameof(output));
        }

        for (var i = 0; i < samples.Length; i++)
        {
            var value = (short)Math.Clamp(MathF.Round(samples[i] * 32768f), short.MinValue, short.MaxValue);
            BinaryPrimitives.WriteInt16LittleEndian(output[(2 * i)..], value);
        }

        return samples.Length * 2;
    }
}
