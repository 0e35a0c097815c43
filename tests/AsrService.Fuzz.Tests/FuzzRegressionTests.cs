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
    [InlineData(48_000, 5)]
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

    /// <summary>
    /// The same ringing on the streaming path (PcmDecoderFuzzTests seed 0x5EED0402 case 3, StreamingPipelineFuzzTests
    /// seed 0x5EED0501 case 2): a client streaming clipped LINEAR16 at 48 kHz made the stream decoder hand the
    /// voice-activity model samples of -1.013.
    /// </summary>
    [Theory]
    [InlineData(48_000, 5)]
    [InlineData(8_000, 3)]
    [InlineData(24_000, 2)]
    public void PcmStreamDecoder_ClippedSquareWave_SamplesStayWithinFullScale(int sampleRate, int halfPeriod)
    {
        var chunk = new byte[2 * sampleRate / 10];
        for (int i = 0; i < chunk.Length / 2; i++)
        {
            short value = (i / halfPeriod & 1) == 0 ? short.MaxValue : short.MinValue;
            chunk[2 * i] = (byte)value;
            chunk[2 * i + 1] = (byte)(value >> 8);
        }

        var decoder = new PcmStreamDecoder(AudioEncoding.Linear16, sampleRate, channels: 1);
        float[] samples = [.. decoder.Decode(chunk), .. decoder.Decode(chunk), .. decoder.Flush()];

        Assert.InRange(samples.Max(), 0.1f, 1f);
        Assert.InRange(samples.Min(), -1f, -0.1f);
    }
}
