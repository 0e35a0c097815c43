using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// Several 6-7.6 s segments decoded from scratch, one after another (<see cref="Solo"/>, what a decode slot does today)
/// or as one group whose decoder steps share each call (<see cref="Group"/>, <c>RecognizeGroup</c>). Both give the same
/// tokens; the ratio of the two is what cross-stream batching saves per final. One intra-op thread, as the server runs.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class GroupDecodeBenchmark
{
    private static readonly string[] s_utterances =
    [
        "1688-142285-0007", "1998-15444-0001", "1998-15444-0003", "1998-15444-0006",
        "1998-15444-0009", "2033-164914-0001", "2033-164914-0002", "2033-164914-0003",
    ];

    private MoonshineRecognizer _recognizer = null!;
    private IRecognizerSession _session = null!;
    private ReadOnlyMemory<float>[] _segments = null!;

    [Params("tiny", "base")]
    public string Model { get; set; } = OnnxSpeechModels.DefaultModel;

    [Params(2, 4, 8)]
    public int Segments { get; set; } = 4;

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = OnnxSpeechModels.LoadRecognizer(Model, new InferenceOptions { IntraOpThreads = 1 }, new ModelCache());
        _recognizer.PrepareGroupDecoding();
        _session = _recognizer.CreateSession();
        _segments = s_utterances.Take(Segments).Select(u => (ReadOnlyMemory<float>)RepositoryLayout.ReadUtterance(u)).ToArray();
    }

    [Benchmark(Baseline = true)]
    public int Solo()
    {
        var tokens = 0;
        foreach (var segment in _segments)
        {
            tokens += _session.Recognize(segment.Span).TokenIds.Count;
        }

        return tokens;
    }

    [Benchmark]
    public int Group() => _session.RecognizeGroup(_segments).Sum(r => r.TokenIds.Count);

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _recognizer.Dispose();
    }
}
