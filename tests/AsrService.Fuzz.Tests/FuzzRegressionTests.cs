using AsrService.Core.Audio;
using AsrService.Fuzz.Tests.Audio;

namespace AsrService.Fuzz.Tests;

/// <summary>
/// Bugs the fuzz tests found, each kept as a plain test of the input that triggered it (reduced by hand), so that a
/// later change of a generator or a seed cannot lose the case.
/// </summary>
public sealed class FuzzRegressionTests
{
    /// <summary>
    /// WavFuzzTests.Open_MutatedValidWav (seed 0x5EED0303, case 2): a band-limited filter rings past a full-scale
    /// step (Gibbs), so an 8-bit WAV alternating between its extremes came out of the 8 to 16 kHz resampler at up to
    /// 1.34, outside the [-1, 1] every audio source promises.
    /// </summary>
    [Theory]
    [InlineData(8_000, 1)]
    [InlineData(8_000, 7)]
    [InlineData(48_000, 3)]
    [InlineData(44_100, 40)]
    public void Open_FullScaleSquareWave_SamplesStayWithinFullScale(int sampleRate, int halfPeriod)
    {
        const int frames = 4000;
        byte[] file = SimpleWav.Pcm(frames, frames, sampleRate, bitsPerSample: 8);
        for (int i = 0; i < frames; i++)
        {
            file[44 + i] = (i / halfPeriod & 1) == 0 ? (byte)0xFF : (byte)0x00;
        }

        using IAudioSource source = AudioFile.Open(
            new MemoryStream(file), AudioFile.DefaultSampleRate, leaveOpen: false, SimpleWav.MissingFfmpeg);
        float[] samples = AudioFile.ReadAll(source);

        Assert.InRange(samples.Max(), 0.1f, 1f);
        Assert.InRange(samples.Min(), -1f, -0.1f);
    }
}
