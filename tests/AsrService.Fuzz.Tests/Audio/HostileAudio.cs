using System.Buffers.Binary;
using AsrService.Core.Audio;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>
/// Raw sample bytes in any <see cref="AudioEncoding"/> that a decoder must survive: random bytes, full-scale square
/// waves, clipped extremes, and for the float encodings NaN (quiet, signalling, negative), infinities, huge values,
/// denormals and values just past full scale.
/// </summary>
internal static class HostileAudio
{
    public static readonly AudioEncoding[] Encodings =
    [
        AudioEncoding.UnsignedPcm8, AudioEncoding.Linear16, AudioEncoding.Linear24, AudioEncoding.Linear32,
        AudioEncoding.Float32, AudioEncoding.Float64, AudioEncoding.MuLaw, AudioEncoding.ALaw,
    ];

    private static readonly string[] s_patterns = ["random", "square", "extremes", "special", "sine", "mixed", "silence"];

    private static readonly uint[] s_specialSingles =
    [
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF, 0xFFFFFFFF, // NaNs: quiet, negative, signalling, all ones
        0x7F800000, 0xFF800000,                                     // +Inf, -Inf
        0x7F7FFFFF, 0xFF7FFFFF,                                     // +-float.MaxValue
        0x00000001, 0x80000001, 0x007FFFFF, 0x00400000,             // denormals
        0x80000000,                                                 // -0
        0x3F800001, 0xBF800001, 0x40000000, 0x60AD78EC,             // just past 1, -1; 2; 1e20
    ];

    private static readonly ulong[] s_specialDoubles =
    [
        0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF,
        0x7FF0000000000000, 0xFFF0000000000000,
        0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
        0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x3800000000000000, // denormals, and 2^-127 (a float denormal)
        0x8000000000000000,
        0x3FF0000000000001, 0xBFF0000000000001, 0x4415AF1D78B58C40, // just past 1, -1; 1e20
        0x47EFFFFFE0000000, 0x47F0000000000000,                     // float.MaxValue, just past it (inf as a float)
    ];

    /// <summary>Interleaved samples for <paramref name="frames"/> frames; names the pattern it chose.</summary>
    public static byte[] Samples(Random random, AudioEncoding encoding, int channels, int frames, out string pattern)
    {
        int size = RawAudioDecoder.GetBytesPerSample(encoding);
        int count = frames * channels;
        var bytes = new byte[count * size];
        int kind = random.Next(s_patterns.Length);
        pattern = s_patterns[kind];
        int period = 1 + random.Next(64);
        double frequency = random.NextDouble() * 0.5;
        double amplitude = random.Next(3) == 0 ? 1.0 : random.NextDouble();
        for (int i = 0; i < count; i++)
        {
            Span<byte> sample = bytes.AsSpan(i * size, size);
            int sampleKind = kind == 5 ? random.Next(5) : kind;
            switch (sampleKind)
            {
                case 0:
                    random.NextBytes(sample);
                    break;
                case 1:
                    WriteExtreme(sample, encoding, (i / channels / period & 1) == 0);
                    break;
                case 2:
                    WriteExtreme(sample, encoding, random.Next(2) == 0);
                    break;
                case 3:
                    WriteSpecial(sample, encoding, random);
                    break;
                case 4:
                    WriteValue(sample, encoding, amplitude * Math.Sin(2 * Math.PI * frequency * (i / channels)));
                    break;
                default:
                    WriteValue(sample, encoding, 0.0);
                    break;
            }
        }

        return bytes;
    }

    /// <summary>Digital silence in the encoding (0x80 in unsigned 8-bit, the zero codes of G.711).</summary>
    public static byte[] Silence(AudioEncoding encoding, int channels, int frames)
    {
        int size = RawAudioDecoder.GetBytesPerSample(encoding);
        var bytes = new byte[frames * channels * size];
        for (int i = 0; i < bytes.Length; i += size)
        {
            WriteValue(bytes.AsSpan(i, size), encoding, 0.0);
        }

        return bytes;
    }

    /// <summary>The largest positive or negative code of the encoding: what a clipping converter writes.</summary>
    public static void WriteExtreme(Span<byte> sample, AudioEncoding encoding, bool positive)
    {
        switch (encoding)
        {
            case AudioEncoding.UnsignedPcm8:
                sample[0] = positive ? (byte)0xFF : (byte)0x00;
                break;
            case AudioEncoding.Linear16:
                BinaryPrimitives.WriteInt16LittleEndian(sample, positive ? short.MaxValue : short.MinValue);
                break;
            case AudioEncoding.Linear24:
                sample[0] = positive ? (byte)0xFF : (byte)0x00;
                sample[1] = positive ? (byte)0xFF : (byte)0x00;
                sample[2] = positive ? (byte)0x7F : (byte)0x80;
                break;
            case AudioEncoding.Linear32:
                BinaryPrimitives.WriteInt32LittleEndian(sample, positive ? int.MaxValue : int.MinValue);
                break;
            case AudioEncoding.Float32:
                BinaryPrimitives.WriteSingleLittleEndian(sample, positive ? 1f : -1f);
                break;
            case AudioEncoding.Float64:
                BinaryPrimitives.WriteDoubleLittleEndian(sample, positive ? 1.0 : -1.0);
                break;
            case AudioEncoding.MuLaw:
                // Codes are stored inverted: 0x80 is +32124, 0x00 is -32124.
                sample[0] = positive ? (byte)0x80 : (byte)0x00;
                break;
            case AudioEncoding.ALaw:
                // Even bits inverted: 0xAA is +32256, 0x2A is -32256.
                sample[0] = positive ? (byte)0xAA : (byte)0x2A;
                break;
        }
    }

    /// <summary>A value outside ordinary audio: non-finite, huge or denormal floats; the extremes for integer codes.</summary>
    public static void WriteSpecial(Span<byte> sample, AudioEncoding encoding, Random random)
    {
        switch (encoding)
        {
            case AudioEncoding.Float32:
                BinaryPrimitives.WriteUInt32LittleEndian(sample, s_specialSingles[random.Next(s_specialSingles.Length)]);
                break;
            case AudioEncoding.Float64:
                BinaryPrimitives.WriteUInt64LittleEndian(sample, s_specialDoubles[random.Next(s_specialDoubles.Length)]);
                break;
            default:
                WriteExtreme(sample, encoding, random.Next(2) == 0);
                break;
        }
    }

    /// <summary>A value in [-1, 1], quantised as the encoding stores it.</summary>
    public static void WriteValue(Span<byte> sample, AudioEncoding encoding, double value)
    {
        value = Math.Clamp(value, -1.0, 1.0);
        switch (encoding)
        {
            case AudioEncoding.UnsignedPcm8:
                sample[0] = (byte)Math.Clamp(Math.Round(value * 128 + 128), 0, 255);
                break;
            case AudioEncoding.Linear16:
                BinaryPrimitives.WriteInt16LittleEndian(sample, (short)Math.Clamp(Math.Round(value * 32768), short.MinValue, short.MaxValue));
                break;
            case AudioEncoding.Linear24:
                int value24 = (int)Math.Clamp(Math.Round(value * 8388608), -8388608, 8388607);
                sample[0] = (byte)value24;
                sample[1] = (byte)(value24 >> 8);
                sample[2] = (byte)(value24 >> 16);
                break;
            case AudioEncoding.Linear32:
                BinaryPrimitives.WriteInt32LittleEndian(sample, (int)Math.Clamp(Math.Round(value * 2147483648.0), int.MinValue, int.MaxValue));
                break;
            case AudioEncoding.Float32:
                BinaryPrimitives.WriteSingleLittleEndian(sample, (float)value);
                break;
            case AudioEncoding.Float64:
                BinaryPrimitives.WriteDoubleLittleEndian(sample, value);
                break;
            case AudioEncoding.MuLaw:
                // Any code decodes to something; a coarse mapping of the level to a code is enough here.
                sample[0] = value == 0.0 ? (byte)0xFF : (byte)((value > 0 ? 0x80 : 0x00) | (0x7F - (int)(Math.Abs(value) * 0x7F)));
                break;
            case AudioEncoding.ALaw:
                sample[0] = (byte)(((value >= 0 ? 0x80 : 0x00) | (int)(Math.Abs(value) * 0x7F)) ^ 0x55);
                break;
        }
    }
}
