using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// One interim update of a 10 s open segment (tiny): from scratch, against the incremental way the streaming pipeline
/// does it, where the previous interim (the hypothesis of the first 9.5 s) is checked as a draft in one decoder call
/// and only the tokens after the first disagreement are decoded step by step. The encoder runs on the whole segment
/// in both.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class InterimUpdateBenchmark
{
    // 17.6 s utterance; the first 10 s stand for the open segment.
    private const string Utterance = "1998-15444-0000";
    private const int SegmentSamples = 16_000 * 10;
    private const int PreviousSamples = 16_000 * 19 / 2;

    private MoonshineRecognizer _recognizer = null!;
    private IRecognizerSession _session = null!;
    private float[] _segment = null!;
    private int[] _draft = null!;

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions(), new ModelCache());
        _session = _recognizer.CreateSession();
        _segment = RepositoryLayout.ReadUtterance(Utterance)[..SegmentSamples];
        _draft = [.. _session.Recognize(_segment.AsSpan(0, PreviousSamples)).TokenIds];
    }

    [Benchmark(Baseline = true)]
    public RecognitionResult FromScratch() => _session.Recognize(_segment);

    [Benchmark]
    public RecognitionResult WithDraft() => _session.Recognize(_segment, _draft);

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _recognizer.Dispose();
    }
}
