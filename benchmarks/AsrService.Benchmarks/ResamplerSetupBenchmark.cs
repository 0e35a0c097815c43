using AsrService.Core.Audio;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// Preparing a <see cref="Resampler"/> into 16 kHz, as every stream or file at another rate does once. 44.1 kHz is
/// the common case (160 exact phases of 632 taps); 183.24 kHz is the largest exact table the design allows (400
/// phases of 2620 taps, about a million coefficients), the worst a client can ask for.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class ResamplerSetupBenchmark
{
    [Params(44_100, 183_240)]
    public int InputRate { get; set; }

    [Benchmark]
    public int Create() => new Resampler(InputRate, 16_000).TapsPerPhase;
}
