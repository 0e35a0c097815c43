using AsrService.Core.Audio;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// Converting one second of audio to 16 kHz with <see cref="Resampler.Process"/> on a running stream, buffers
/// allocated up front as a stream would. The cost is set by the taps per output sample (688 from 48 kHz, 632 from
/// 44.1 kHz, 230 from 8 kHz), so the three rates bracket what clients send.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class ResamplerBenchmark
{
    private const int OutputRate = 16_000;

    private Resampler _resampler = null!;
    private float[] _input = null!;
    private float[] _output = null!;

    [Params(48_000, 44_100, 8_000)]
    public int InputRate { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _resampler = new Resampler(InputRate, OutputRate);
        _input = Signals.Speechlike(InputRate, InputRate);
        _output = new float[_resampler.GetMaxOutputCount(_input.Length)];
    }

    [Benchmark]
    public int OneSecond() => _resampler.Process(_input, _output);
}
