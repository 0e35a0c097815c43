using AsrService.Core.Audio;
using Xunit.Abstractions;

namespace AsrService.Core.Tests.Audio;

/// <summary>
/// The resampler is tested by the properties a speech front end relies on: tones keep their frequency and level,
/// what lies above the output Nyquist is removed, the length follows the rate ratio, and chunking changes nothing.
/// </summary>
public sealed class ResamplerTests(ITestOutputHelper output)
{
    private const int OutputRate = 16_000;
    private const double Amplitude = 0.5;

    [Theory]
    [InlineData(8_000)]
    [InlineData(11_025)]
    [InlineData(22_050)]
    [InlineData(32_000)]
    [InlineData(44_100)]
    [InlineData(48_000)]
    [InlineData(96_000)]
    [InlineData(192_000)]
    [InlineData(44_101)]
    public void Process_OneKilohertzTone_KeepsFrequencyAndLevel(int inputRate)
    {
        float[] resampled = Resample(inputRate, Signals.Sine(1000.0, inputRate, 0.5, Amplitude));
        ReadOnlySpan<float> steady = Signals.SteadyState(resampled, OutputRate);

        double frequency = Signals.ZeroCrossingFrequency(steady, OutputRate);
        double levelDb = Signals.Decibels(Signals.Rms(steady) / (Amplitude / Math.Sqrt(2.0)));
        double atTone = Signals.GoertzelPower(steady, OutputRate, 1000.0);
        double neighbours = Math.Max(
            Signals.GoertzelPower(steady, OutputRate, 900.0), Signals.GoertzelPower(steady, OutputRate, 1100.0));

        Assert.InRange(frequency, 999.9, 1000.1);
        Assert.InRange(levelDb, -0.1, 0.1);
        Assert.True(atTone > 1e6 * neighbours, $"1 kHz power {atTone} vs neighbours {neighbours}");
    }

    [Fact]
    public void Process_48kTo16k7500HzTone_PassesWithinHalfDecibel()
    {
        float[] resampled = Resample(48_000, Signals.Sine(7500.0, 48_000, 0.5, Amplitude));

        double amplitude = Signals.ToneAmplitude(Signals.SteadyState(resampled, OutputRate), OutputRate, 7500.0);

        Assert.InRange(Signals.Decibels(amplitude / Amplitude), -0.5, 0.5);
    }

    [Fact]
    public void Process_48kTo16k9000HzTone_AttenuatedAtLeast60Decibels()
    {
        float[] resampled = Resample(48_000, Signals.Sine(9000.0, 48_000, 0.5, Amplitude));

        // All that comes out of a tone above the output Nyquist is its alias, so the whole RMS is the leak.
        double leakDb = Signals.Decibels(
            Signals.Rms(Signals.SteadyState(resampled, OutputRate)) / (Amplitude / Math.Sqrt(2.0)));

        output.WriteLine($"9 kHz from 48 kHz: {leakDb:F1} dB");
        Assert.True(leakDb <= -60.0, $"9 kHz leaked at {leakDb:F1} dB");
    }

    [Theory]
    [InlineData(44_100)]
    [InlineData(48_000)]
    public void Process_PassbandSweep_FlatWithinHundredthDecibel(int inputRate)
    {
        double worstDb = 0.0;
        for (double frequency = 100.0; frequency <= 0.475 * OutputRate; frequency += 250.0)
        {
            float[] resampled = Resample(inputRate, Signals.Sine(frequency, inputRate, 0.2, Amplitude));
            double amplitude = Signals.ToneAmplitude(
                Signals.SteadyState(resampled, OutputRate, 0.04), OutputRate, frequency);
            worstDb = Math.Max(worstDb, Math.Abs(Signals.Decibels(amplitude / Amplitude)));
        }

        output.WriteLine($"passband from {inputRate} Hz up to 7.6 kHz: within +/-{worstDb:F5} dB");
        Assert.True(worstDb <= 0.01, $"passband deviates by {worstDb:F4} dB");
    }

    [Theory]
    [InlineData(44_100)]
    [InlineData(48_000)]
    [InlineData(96_000)]
    public void Process_StopbandSweep_AttenuatedAtLeast85Decibels(int inputRate)
    {
        double worstDb = double.NegativeInfinity;
        double worstFrequency = 0.0;
        double nyquist = inputRate / 2.0;
        for (double frequency = 8000.0; frequency < nyquist; frequency += (nyquist - 8000.0) / 40.0)
        {
            float[] resampled = Resample(inputRate, Signals.Sine(frequency, inputRate, 0.15, Amplitude));
            double leakDb = Signals.Decibels(
                Signals.Rms(Signals.SteadyState(resampled, OutputRate, 0.04)) / (Amplitude / Math.Sqrt(2.0)));
            if (leakDb > worstDb)
            {
                worstDb = leakDb;
                worstFrequency = frequency;
            }
        }

        output.WriteLine($"stopband from {inputRate} Hz: worst {worstDb:F1} dB at {worstFrequency:F0} Hz");
        Assert.True(worstDb <= -85.0, $"{worstFrequency:F0} Hz leaked at {worstDb:F1} dB");
    }

    [Theory]
    [InlineData(8_000)]
    [InlineData(11_025)]
    public void Process_Upsampling_ImagesAtLeast85DecibelsDown(int inputRate)
    {
        double worstDb = double.NegativeInfinity;
        for (double frequency = 200.0; frequency <= 0.475 * inputRate; frequency += 400.0)
        {
            float[] resampled = Resample(inputRate, Signals.Sine(frequency, inputRate, 0.2, Amplitude));
            ReadOnlySpan<float> steady = Signals.SteadyState(resampled, OutputRate, 0.04);

            // Whatever is not the tone itself is an image or other distortion.
            double residualDb = Signals.Decibels(
                Signals.ResidualRms(steady, OutputRate, frequency) / (Amplitude / Math.Sqrt(2.0)));
            worstDb = Math.Max(worstDb, residualDb);
        }

        output.WriteLine($"images from {inputRate} Hz: worst {worstDb:F1} dB");
        Assert.True(worstDb <= -85.0, $"images at {worstDb:F1} dB");
    }

    [Theory]
    [InlineData(8_000, 1234)]
    [InlineData(44_100, 44_100)]
    [InlineData(48_000, 48_001)]
    [InlineData(22_050, 7)]
    [InlineData(44_101, 10_000)]
    [InlineData(16_000, 999)]
    [InlineData(192_000, 5)]
    public void Process_AnyLength_OutputLengthFollowsRateRatio(int inputRate, int inputLength)
    {
        float[] resampled = Resample(inputRate, new float[inputLength]);

        long expected = ((long)inputLength * OutputRate + inputRate - 1) / inputRate;
        Assert.Equal(expected, resampled.Length);
    }

    [Theory]
    [InlineData(8_000, 1)]
    [InlineData(44_100, 2)]
    [InlineData(48_000, 3)]
    [InlineData(44_101, 4)]
    [InlineData(16_000, 5)]
    [InlineData(96_000, 6)]
    public void Process_RandomChunkSizes_SameOutputAsOneShot(int inputRate, int seed)
    {
        float[] input = Noise(inputRate / 2, seed);
        float[] oneShot = Resample(inputRate, input);

        var random = new Random(seed);
        var resampler = new Resampler(inputRate, OutputRate);
        var chunked = new List<float>();
        var buffer = new float[resampler.GetMaxOutputCount(5000)];
        for (int position = 0; position < input.Length;)
        {
            // Mostly small chunks, some empty and some longer than the resampler's internal block.
            int size = Math.Min(input.Length - position, random.Next(10) == 0 ? random.Next(9000) : random.Next(300));
            var outputBuffer = size > 5000 ? new float[resampler.GetMaxOutputCount(size)] : buffer;
            int written = resampler.Process(input.AsSpan(position, size), outputBuffer);
            chunked.AddRange(outputBuffer.AsSpan(0, written));
            position += size;
        }

        int flushed = resampler.Flush(buffer);
        chunked.AddRange(buffer.AsSpan(0, flushed));

        Assert.Equal(oneShot, chunked.ToArray());
    }

    [Theory]
    [InlineData(8_000)]
    [InlineData(44_100)]
    [InlineData(44_101)]
    public void Process_NoiseAndFullScaleSteps_NoNaNAndBounded(int inputRate)
    {
        // Quiet noise: band-limiting full-scale white noise legitimately makes inter-sample peaks well above 1.
        float[] input = Noise(inputRate, 7);
        for (int i = 0; i < input.Length; i++)
        {
            input[i] *= 0.25f;
        }

        input.AsSpan(1000, 500).Fill(1f);
        input.AsSpan(1500, 500).Fill(-1f);

        float[] resampled = Resample(inputRate, input);

        Assert.True(Signals.AllFinite(resampled));

        // Gibbs overshoot of a band-limited step is about 9%; a much larger peak would mean a broken kernel.
        Assert.All(resampled, sample => Assert.InRange(sample, -1.5f, 1.5f));
    }

    [Fact]
    public void Process_IdentityRate_PassesSamplesThroughUnchanged()
    {
        float[] input = Noise(1000, 3);
        var resampler = new Resampler(OutputRate, OutputRate);
        var outputBuffer = new float[resampler.GetMaxOutputCount(input.Length)];

        int written = resampler.Process(input, outputBuffer);

        Assert.True(resampler.IsIdentity);
        Assert.Equal(input, outputBuffer.AsSpan(0, written).ToArray());
        Assert.Equal(0, resampler.Flush(outputBuffer));
    }

    [Fact]
    public void Flush_ThenNewStream_SameOutputAsFreshResampler()
    {
        float[] first = Noise(3000, 11);
        float[] second = Noise(2000, 12);
        var reused = new Resampler(44_100, OutputRate);
        Run(reused, first);

        float[] again = Run(reused, second);

        Assert.Equal(Run(new Resampler(44_100, OutputRate), second), again);
    }

    [Fact]
    public void Process_SteadyState_AllocatesNothing()
    {
        var resampler = new Resampler(44_101, OutputRate);
        float[] chunk = Noise(1600, 5);
        var outputBuffer = new float[resampler.GetMaxOutputCount(chunk.Length)];
        resampler.Process(chunk, outputBuffer);

        long allocated = AllocationMeasure.LeastOf3(() =>
        {
            for (int i = 0; i < 50; i++)
            {
                resampler.Process(chunk, outputBuffer);
            }

            resampler.Flush(outputBuffer);
        });

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Process_OutputTooSmall_ThrowsArgumentException()
    {
        var resampler = new Resampler(8_000, OutputRate);

        Assert.Throws<ArgumentException>(() => resampler.Process(new float[100], new float[150]));
    }

    [Theory]
    [InlineData(0, 16_000)]
    [InlineData(16_000, -1)]
    [InlineData(999, 16_000)]
    [InlineData(16_000, 1_000_000)]
    public void Constructor_RateOutOfRange_ThrowsArgumentOutOfRange(int inputRate, int outputRate)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Resampler(inputRate, outputRate));
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(100)]
    [InlineData(1)]
    public void ResamplingAudioSource_Read_SameOutputAsPushApi(int readLength)
    {
        float[] input = Noise(30_000, 9);
        float[] expected = Resample(44_100, input);
        using var source = new ResamplingAudioSource(new MemoryAudioSource(input, 44_100), OutputRate);

        var collected = new List<float>();
        var buffer = new float[readLength];
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            collected.AddRange(buffer.AsSpan(0, read));
        }

        Assert.Equal(OutputRate, source.SampleRate);
        Assert.Equal(expected, collected.ToArray());
    }

    [Fact]
    public void Instances_ForTheSameRates_ShareOneKernelTable_AndStayIndependentStreams()
    {
        var first = new Resampler(22_050, OutputRate);
        var second = new Resampler(22_050, OutputRate);

        Assert.Same(first.Coefficients, second.Coefficients);
        Assert.NotSame(first.Coefficients, new Resampler(11_025, OutputRate).Coefficients);

        // Shared coefficients, separate histories: a stream left mid-way does not disturb another one.
        float[] tone = Signals.Sine(440.0, 22_050, 0.3, Amplitude);
        float[] other = Signals.Sine(3000.0, 22_050, 0.2, Amplitude);
        first.Process(other, new float[first.GetMaxOutputCount(other.Length)]);
        Assert.Equal(Resample(22_050, tone), Run(second, tone));
    }

    private static float[] Resample(int inputRate, float[] input) => Run(new Resampler(inputRate, OutputRate), input);

    private static float[] Run(Resampler resampler, float[] input)
    {
        var buffer = new float[resampler.GetMaxOutputCount(input.Length) + resampler.GetMaxOutputCount(0)];
        int written = resampler.Process(input, buffer);
        written += resampler.Flush(buffer.AsSpan(written));
        return buffer[..written];
    }

    private static float[] Noise(int length, int seed)
    {
        var random = new Random(seed);
        var samples = new float[length];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = (float)(random.NextDouble() * 2.0 - 1.0);
        }

        return samples;
    }
}
