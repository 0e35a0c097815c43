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
    private string? _fusedOnly;

    /// <summary>
    /// The load-time graph rewrites: <c>all</c> (the default: the step runs on the solo-step model,
    /// <c>SoloStepRewrite</c>), <c>merged</c> (the same rewrites, the step on the merged decoder), <c>matmul</c> (only
    /// <c>QuantizedMatMulRewrite</c>, the cross-attention keys as exported) or <c>none</c> (the model exactly as downloaded).
    /// </summary>
    [Params("all", "merged", "matmul", "none")]
    public string Rewrites { get; set; } = "all";

    private MoonshineDecoderSession _session = null!;
    private MoonshineDecoderSession.FixedStep _step = null!;

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = Rewrites == "matmul"
            ? LoadWithFusedMatMulsOnly()
            : OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { RewriteGraphs = Rewrites is "all" or "merged" }, new ModelCache());
        _recognizer.UseSoloStep = Rewrites == "all";
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
        if (_fusedOnly is not null)
        {
            File.Delete(_fusedOnly);
        }
    }

    // The decoder with the output projection fused but every other node as exported, loaded without further rewrites.
    private MoonshineRecognizer LoadWithFusedMatMulsOnly()
    {
        var cache = new ModelCache();
        var files = cache.Ensure(cache.Manifest.Get("tiny"));
        var model = AsrService.Onnx.Graph.Proto.Model.Parser.ParseFrom(File.ReadAllBytes(files["decoder"]));
        AsrService.Onnx.Graph.QuantizedMatMulRewrite.Apply(model);
        _fusedOnly = Path.Combine(Path.GetTempPath(), $"asr-bench-fused-only-{Environment.ProcessId}.onnx");
        File.WriteAllBytes(_fusedOnly, Google.Protobuf.MessageExtensions.ToByteArray(model));
        var tokens = TokenDecoder.FromLlamaTokenizerJs(cache.Ensure(cache.Manifest.Get("tokenizer").Files["vocabulary"]));
        return new MoonshineRecognizer("tiny", files["encoder"], _fusedOnly, tokens, new InferenceOptions { RewriteGraphs = false });
    }
}
