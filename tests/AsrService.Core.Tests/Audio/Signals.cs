namespace AsrService.Core.Tests.Audio;

/// <summary>Test tones and the measurements the resampler and decoder tests make on them.</summary>
internal static class Signals
{
    public static float[] Sine(double frequencyHz, int sampleRate, double seconds, double amplitude = 0.5)
    {
        var samples = new float[(int)Math.Round(seconds * sampleRate)];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = (float)(amplitude * Math.Sin(2.0 * Math.PI * frequencyHz * i / sampleRate));
        }

        return samples;
    }

    public static double Rms(ReadOnlySpan<float> samples)
    {
        double sum = 0.0;
        foreach (float sample in samples)
        {
            sum += (double)sample * sample;
        }

        return Math.Sqrt(sum / samples.Length);
    }

    public static double Decibels(double ratio) => 20.0 * Math.Log10(ratio);

    /// <summary>The middle of a signal, leaving out the filter's start and end transients.</summary>
    public static ReadOnlySpan<float> SteadyState(float[] samples, int sampleRate, double marginSeconds = 0.05)
    {
        int margin = (int)(marginSeconds * sampleRate);
        return samples.AsSpan(margin, samples.Length - 2 * margin);
    }

    /// <summary>
    /// Frequency from the first and last upward zero crossings, each located by linear interpolation; precise to a
    /// small fraction of a hertz over a fraction of a second of a clean tone.
    /// </summary>
    public static double ZeroCrossingFrequency(ReadOnlySpan<float> samples, int sampleRate)
    {
        double first = -1.0;
        double last = -1.0;
        int crossings = 0;
        for (int i = 1; i < samples.Length; i++)
        {
            if (samples[i - 1] < 0f && samples[i] >= 0f)
            {
                double at = i - 1 + samples[i - 1] / (double)(samples[i - 1] - samples[i]);
                if (crossings == 0)
                {
                    first = at;
                }

                last = at;
                crossings++;
            }
        }

        return crossings < 2 ? 0.0 : (crossings - 1) * sampleRate / (last - first);
    }

    /// <summary>Power at one frequency (Goertzel over a Hann window), for comparing a tone with its neighbours.</summary>
    public static double GoertzelPower(ReadOnlySpan<float> samples, int sampleRate, double frequencyHz)
    {
        double coefficient = 2.0 * Math.Cos(2.0 * Math.PI * frequencyHz / sampleRate);
        double previous = 0.0;
        double beforePrevious = 0.0;
        for (int i = 0; i < samples.Length; i++)
        {
            double window = 0.5 - 0.5 * Math.Cos(2.0 * Math.PI * i / (samples.Length - 1));
            double current = samples[i] * window + coefficient * previous - beforePrevious;
            beforePrevious = previous;
            previous = current;
        }

        return previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
    }

    /// <summary>
    /// Amplitude of the tone at <paramref name="frequencyHz"/> by a least-squares fit of a sine and a cosine, which is
    /// exact for a clean tone whatever the number of periods (a plain RMS is not).
    /// </summary>
    public static double ToneAmplitude(ReadOnlySpan<float> samples, int sampleRate, double frequencyHz) =>
        FitTone(samples, sampleRate, frequencyHz, out _);

    /// <summary>
    /// Fits the tone as <see cref="ToneAmplitude"/> does and returns the RMS of what is left: images, aliases and
    /// any other distortion, relative to nothing (divide by the amplitude for a ratio).
    /// </summary>
    public static double ResidualRms(ReadOnlySpan<float> samples, int sampleRate, double frequencyHz)
    {
        FitTone(samples, sampleRate, frequencyHz, out double residualRms);
        return residualRms;
    }

    private static double FitTone(
        ReadOnlySpan<float> samples, int sampleRate, double frequencyHz, out double residualRms)
    {
        double ss = 0.0, sc = 0.0, cc = 0.0, xs = 0.0, xc = 0.0;
        for (int i = 0; i < samples.Length; i++)
        {
            double phase = 2.0 * Math.PI * frequencyHz * i / sampleRate;
            double sin = Math.Sin(phase);
            double cos = Math.Cos(phase);
            ss += sin * sin;
            sc += sin * cos;
            cc += cos * cos;
            xs += samples[i] * sin;
            xc += samples[i] * cos;
        }

        double determinant = ss * cc - sc * sc;
        double a = (xs * cc - xc * sc) / determinant;
        double b = (xc * ss - xs * sc) / determinant;
        double residual = 0.0;
        for (int i = 0; i < samples.Length; i++)
        {
            double phase = 2.0 * Math.PI * frequencyHz * i / sampleRate;
            double error = samples[i] - a * Math.Sin(phase) - b * Math.Cos(phase);
            residual += error * error;
        }

        residualRms = Math.Sqrt(residual / samples.Length);
        return Math.Sqrt(a * a + b * b);
    }

    public static bool AllFinite(ReadOnlySpan<float> samples)
    {
        foreach (float sample in samples)
        {
            if (!float.IsFinite(sample))
            {
                return false;
            }
        }

        return true;
    }
}
