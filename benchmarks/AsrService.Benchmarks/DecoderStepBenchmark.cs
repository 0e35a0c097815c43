using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// One greedy step of the Moonshine tiny decoder, the loop the whole service spends most of its time in: rebind the
/// self-attention caches, run the merged decoder on one token, take the argmax and its log-probability. The state is
/// frozen after the first <see cref="PastLength"/> positions of a 7.5 s utterance, and every invocation repeats the
/// same next step on it, so the caches do not grow and the cost does not drift with the number of invocations.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class DecoderStepBenchmark
{
    /// <summary>Positions in the self-attention caches: BOS plus 19 generated tokens.</summary>
    public const int PastLength = 20;

    // 7.5 s: "THEN SAID THE EUNUCH ART THOU HE WHO REPEATED POETRY BUT NOW AND MY LADY HEARD HIM".
    private const string Utterance = "2033-164914-0002";

    private MoonshineRecognizer _recognizer = null!;

    /// <summary>With the load-time graph rewrites (the default) or the models exactly as downloaded.</summary>
    [Params(true, false)]
    public bool RewriteGraphs { get; set; } = true;

    private MoonshineDecoderSession _session = null!;
    private MoonshineDecoderSession.FixedStep _step = null!;

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { RewriteGraphs = RewriteGraphs }, new ModelCache());
        _session = new MoonshineDecoderSession(_recognizer);
        _step = _session.PrepareFixedStep(RepositoryLayout.ReadUtterance(Utterance), PastLength);

        // Guard against a hook that silently measures something else: a different past, or a state that changes.
        if (_step.PastLength != PastLength)
        {
            throw new InvalidOperationException($"the frozen caches hold {_step.PastLength} positions, expected {PastLength}");
        }

        var first = _step.Run();
        if (_step.Run() != first)
        {
            throw new InvalidOperationException("two steps on the same frozen state chose different tokens");
        }
    }

    [Benchmark]
    public int Step() => _step.Run();

    [GlobalCleanup]
    public void Cleanup()
    {
        _step.Dispose();
        _session.Dispose();
        _recognizer.Dispose();
    }
}
