using AsrService.Core.Recognition;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// What the greedy loop does with each step's logits outside ONNX Runtime: the argmax over Moonshine's 32,768-token
/// vocabulary and the chosen token's log-probability (for the result's confidence), read in place.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class LogitsBenchmark
{
    private const int Vocabulary = 32_768;

    private readonly float[] _logits = new float[Vocabulary];

    [GlobalSetup]
    public void Setup()
    {
        // Logits of a confident step: a spread of values and one clear winner.
        var random = new Random(7);
        for (var i = 0; i < _logits.Length; i++)
        {
            _logits[i] = (float)(random.NextDouble() * 20.0 - 10.0);
        }

        _logits[1234] = 25f;
    }

    [Benchmark]
    public double ArgmaxAndLogProbability()
    {
        Logits.Greedy(_logits, out var logProbability);
        return logProbability;
    }
}
