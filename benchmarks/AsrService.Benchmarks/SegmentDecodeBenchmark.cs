using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// Recognising one 7 s segment from scratch, as the offline transcriber and a stream's final result do: the encoder
/// once, then the greedy decoder loop to EOS (23 tokens for tiny on this utterance), then detokenisation. The ratio of
/// this to <see cref="DecoderStepBenchmark"/> shows how much of a segment the step loop is.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class SegmentDecodeBenchmark
{
    // 7.06 s: "I REALLY WAS VERY MUCH AFRAID OF SHOWING HIM HOW MUCH SHOCKED I WAS AT SOME PARTS OF WHAT HE SAID".
    private const string Utterance = "1688-142285-0007";

    private MoonshineRecognizer _recognizer = null!;
    private IRecognizerSession _session = null!;
    private float[] _samples = null!;

    [Params("tiny", "base")]
    public string Model { get; set; } = OnnxSpeechModels.DefaultModel;

    /// <summary>
    /// <c>all</c>: the load-time graph rewrites, with one-token steps on the solo-step model (the default);
    /// <c>merged</c>: the same rewrites, every step on the merged decoder; <c>none</c>: the models exactly as downloaded.
    /// </summary>
    [Params("all", "merged", "none")]
    public string Rewrites { get; set; } = "all";

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = OnnxSpeechModels.LoadRecognizer(Model, new InferenceOptions { RewriteGraphs = Rewrites != "none" }, new ModelCache());
        _recognizer.UseSoloStep = Rewrites == "all";
        _session = _recognizer.CreateSession();
        _samples = RepositoryLayout.ReadUtterance(Utterance);
    }

    [Benchmark]
    public RecognitionResult Decode() => _session.Recognize(_samples);

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _recognizer.Dispose();
    }
}
