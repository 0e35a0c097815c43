namespace AsrService.Benchmarks;

/// <summary>Deterministic test signals, so that every run and machine measures the same samples.</summary>
internal static class Signals
{
    /// <summary>
    /// A few harmonics of a 140 Hz voice-like tone, some of them above 8 kHz where the input rate allows, plus quiet
    /// noise: exercises every path of the converters without special values (no silence, no clipping).
    /// </summary>
    public static float[] Speechlike(int count, int sampleRate)
    {
        var random = new Random(20_240_611);
        var samples = new float[count];
        for (var i = 0; i < count; i++)
        {
            var t = (double)i / sampleRate;
            var value = 0.0;
            foreach (var (frequency, level) in s_partials)
            {
                if (frequency < sampleRate / 2)
                {
                    value += level * Math.Sin(2 * Math.PI * frequency * t);
                }
            }

            samples[i] = (float)(value + 0.01 * (random.NextDouble() * 2 - 1));
        }

        return samples;
    }

    private static readonly (double Frequency, double Level)[] s_partials =
        [(140, 0.3), (280, 0.2), (700, 0.1), (2_450, 0.05), (9_800, 0.02)];
}
