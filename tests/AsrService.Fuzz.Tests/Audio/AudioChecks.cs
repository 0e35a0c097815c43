using AsrService.Core.Audio;
using AsrService.Fuzz.Tests.Infrastructure;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>The properties every decoded sample must have, whatever the input: finite and within [-1, 1].</summary>
internal static class AudioChecks
{
    /// <summary>
    /// Reads <paramref name="source"/> to its end with buffers of random sizes and checks each sample. More than
    /// <paramref name="maxSamples"/> samples means the reader is inventing audio (or never ends).
    /// </summary>
    public static float[] ReadAll(IAudioSource source, Random random, long maxSamples)
    {
        var samples = new List<float>();
        var buffer = new float[8192];
        while (true)
        {
            int size = random.Next(3) switch
            {
                0 => 1 + random.Next(16),
                1 => 1 + random.Next(2048),
                _ => buffer.Length,
            };
            int read = source.Read(buffer.AsSpan(0, size));
            if (read < 0 || read > size)
            {
                throw new FuzzPropertyException($"Read into {size} samples returned {read}");
            }

            if (read == 0)
            {
                return [.. samples];
            }

            RequireInRange(buffer.AsSpan(0, read), samples.Count);
            samples.AddRange(buffer.AsSpan(0, read));
            if (samples.Count > maxSamples)
            {
                throw new FuzzPropertyException($"the source produced more than {maxSamples} samples from its input");
            }
        }
    }

    /// <summary>Throws naming the first sample that is NaN, infinite or outside [-1, 1].</summary>
    public static void RequireInRange(ReadOnlySpan<float> samples, long firstIndex = 0)
    {
        for (int i = 0; i < samples.Length; i++)
        {
            float sample = samples[i];
            if (!(sample >= -1f && sample <= 1f))
            {
                throw new FuzzPropertyException(
                    $"sample {firstIndex + i} is {sample:R} (0x{BitConverter.SingleToInt32Bits(sample):X8}), not a finite value in [-1, 1]");
            }
        }
    }

    /// <summary>Throws naming the first sample that is NaN or infinite.</summary>
    public static void RequireFinite(ReadOnlySpan<float> samples, long firstIndex = 0)
    {
        for (int i = 0; i < samples.Length; i++)
        {
            if (!float.IsFinite(samples[i]))
            {
                throw new FuzzPropertyException($"sample {firstIndex + i} is {samples[i]:R}, not finite");
            }
        }
    }
}
