using AsrService.Core.Audio;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// Turning one second of stored audio into mono float samples: a whole WAV file read from memory through
/// <see cref="WavAudioSource"/> (header parsing, block reads, conversion and, for stereo, the downmix), and a bare
/// LINEAR16 chunk as a gRPC stream delivers it through <see cref="RawAudioDecoder"/>. Opening a WAV source is part of
/// the measured work, since a file or request is opened once per second of audio at worst.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class AudioDecodeBenchmark
{
    private MemoryStream _pcm16Mono16k = null!;
    private MemoryStream _pcm24Stereo48k = null!;
    private byte[] _linear16 = null!;
    private float[] _output = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pcm16Mono16k = new MemoryStream(WavBytes.Create(Signals.Speechlike(16_000, 16_000), 16_000, channels: 1, bitsPerSample: 16), writable: false);
        _pcm24Stereo48k = new MemoryStream(WavBytes.Create(Signals.Speechlike(48_000 * 2, 48_000), 48_000, channels: 2, bitsPerSample: 24), writable: false);
        _linear16 = WavBytes.Pcm(Signals.Speechlike(16_000, 16_000), bitsPerSample: 16);
        _output = new float[48_000];
    }

    [Benchmark]
    public int WavPcm16Mono16k() => ReadWav(_pcm16Mono16k);

    [Benchmark]
    public int WavPcm24Stereo48k() => ReadWav(_pcm24Stereo48k);

    [Benchmark]
    public int RawLinear16() => RawAudioDecoder.Decode(_linear16, AudioEncoding.Linear16, 1, _output);

    private int ReadWav(MemoryStream file)
    {
        file.Position = 0;
        using var source = new WavAudioSource(file, leaveOpen: true);
        var total = 0;
        int read;
        while ((read = source.Read(_output.AsSpan(total))) > 0)
        {
            total += read;
        }

        return total;
    }
}
