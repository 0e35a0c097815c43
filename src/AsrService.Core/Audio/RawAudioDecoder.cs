using System.Buffers.Binary;

namespace AsrService.Core.Audio;

/// <summary>
/// Converts interleaved raw audio bytes (a WAV data chunk, or a chunk of a gRPC stream) to mono float samples in
/// [-1, 1], averaging the channels. Integer PCM is scaled by its full range (-32768 maps to -1); float samples that are
/// NaN or infinite become 0 and the rest are clamped, so nothing downstream has to guard against them.
/// </summary>
public static class RawAudioDecoder
{
    /// <summary>Bytes one sample of one channel takes.</summary>
    public static int GetBytesPerSample(AudioEncoding encoding) => encoding switch
    {
        AudioEncoding.UnsignedPcm8 or AudioEncoding.MuLaw or AudioEncoding.ALaw => 1,
        AudioEncoding.Linear16 => 2,
        AudioEncoding.Linear24 => 3,
        AudioEncoding.Linear32 or AudioEncoding.Float32 => 4,
        AudioEncoding.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "unknown audio encoding"),
    };

    /// <summary>
    /// Number of frames (mono samples after the downmix) in <paramref name="byteCount"/> bytes. Throws
    /// <see cref="AudioFormatException"/> when the bytes are not a whole number of frames.
    /// </summary>
    public static int GetFrameCount(int byteCount, AudioEncoding encoding, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        int frameBytes = GetBytesPerSample(encoding) * channels;
        if (byteCount % frameBytes != 0)
        {
            throw new AudioFormatException(
                $"audio chunk of {byteCount} bytes is not a whole number of {encoding} frames " +
                $"({channels} channel(s), {frameBytes} bytes per frame)");
        }

        return byteCount / frameBytes;
    }

    /// <summary>
    /// Decodes <paramref name="input"/> (interleaved, <paramref name="channels"/> per frame) into mono samples and
    /// returns how many were written to <paramref name="output"/>, which must hold at least that many.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> input, AudioEncoding encoding, int channels, Span<float> output)
    {
        int frames = GetFrameCount(input.Length, encoding, channels);
        if (output.Length < frames)
        {
            throw new ArgumentException(
                $"output holds {output.Length} samples but the input has {frames} frames", nameof(output));
        }

        Span<float> destination = output[..frames];
        switch (encoding)
        {
            case AudioEncoding.UnsignedPcm8:
                DecodeFrames<UnsignedPcm8Sample>(input, channels, destination);
                break;
            case AudioEncoding.Linear16:
                DecodeFrames<Linear16Sample>(input, channels, destination);
                break;
            case AudioEncoding.Linear24:
                DecodeFrames<Linear24Sample>(input, channels, destination);
                break;
            case AudioEncoding.Linear32:
                DecodeFrames<Linear32Sample>(input, channels, destination);
                break;
            case AudioEncoding.Float32:
                DecodeFrames<Float32Sample>(input, channels, destination);
                break;
            case AudioEncoding.Float64:
                DecodeFrames<Float64Sample>(input, channels, destination);
                break;
            case AudioEncoding.MuLaw:
                DecodeCompanded(input, channels, G711.MuLawTable, destination);
                break;
            case AudioEncoding.ALaw:
                DecodeCompanded(input, channels, G711.ALawTable, destination);
                break;
        }

        return frames;
    }

    // One generic loop per sample type: the struct type argument makes the JIT compile a specialised copy with the
    // per-sample conversion inlined, instead of a delegate call per sample.
    private static void DecodeFrames<TSample>(ReadOnlySpan<byte> input, int channels, Span<float> output)
        where TSample : struct, ISampleReader
    {
        int size = TSample.Size;
        if (channels == 1)
        {
            for (int i = 0; i < output.Length; i++)
            {
                output[i] = TSample.Read(input.Slice(i * size, size));
            }

            return;
        }

        float inverseChannels = 1f / channels;
        int position = 0;
        for (int frame = 0; frame < output.Length; frame++)
        {
            float sum = 0f;
            for (int channel = 0; channel < channels; channel++)
            {
                sum += TSample.Read(input.Slice(position, size));
                position += size;
            }

            output[frame] = sum * inverseChannels;
        }
    }

    private static void DecodeCompanded(
        ReadOnlySpan<byte> input, int channels, ReadOnlySpan<float> table, Span<float> output)
    {
        if (channels == 1)
        {
            for (int i = 0; i < output.Length; i++)
            {
                output[i] = table[input[i]];
            }

            return;
        }

        float inverseChannels = 1f / channels;
        int position = 0;
        for (int frame = 0; frame < output.Length; frame++)
        {
            float sum = 0f;
            for (int channel = 0; channel < channels; channel++)
            {
                sum += table[input[position++]];
            }

            output[frame] = sum * inverseChannels;
        }
    }

    private static float Sanitize(float value) => float.IsFinite(value) ? Math.Clamp(value, -1f, 1f) : 0f;

    private interface ISampleReader
    {
        static abstract int Size { get; }

        static abstract float Read(ReadOnlySpan<byte> bytes);
    }

    private readonly struct UnsignedPcm8Sample : ISampleReader
    {
        public static int Size => 1;

        public static float Read(ReadOnlySpan<byte> bytes) => (bytes[0] - 128) * (1f / 128f);
    }

    private readonly struct Linear16Sample : ISampleReader
    {
        public static int Size => 2;

        public static float Read(ReadOnlySpan<byte> bytes) =>
            BinaryPrimitives.ReadInt16LittleEndian(bytes) * (1f / 32768f);
    }

    private readonly struct Linear24Sample : ISampleReader
    {
        public static int Size => 3;

        // The top byte is read as signed so the shift sign-extends the 24-bit value.
        public static float Read(ReadOnlySpan<byte> bytes) =>
            (bytes[0] | (bytes[1] << 8) | ((sbyte)bytes[2] << 16)) * (1f / 8388608f);
    }

    private readonly struct Linear32Sample : ISampleReader
    {
        public static int Size => 4;

        public static float Read(ReadOnlySpan<byte> bytes) =>
            (float)(BinaryPrimitives.ReadInt32LittleEndian(bytes) * (1.0 / 2147483648.0));
    }

    private readonly struct Float32Sample : ISampleReader
    {
        public static int Size => 4;

        public static float Read(ReadOnlySpan<byte> bytes) => Sanitize(BinaryPrimitives.ReadSingleLittleEndian(bytes));
    }

    private readonly struct Float64Sample : ISampleReader
    {
        public static int Size => 8;

        // Clamp in double: a huge double would overflow to infinity if narrowed first.
        public static float Read(ReadOnlySpan<byte> bytes)
        {
            double value = BinaryPrimitives.ReadDoubleLittleEndian(bytes);
            return double.IsFinite(value) ? (float)Math.Clamp(value, -1.0, 1.0) : 0f;
        }
    }
}
