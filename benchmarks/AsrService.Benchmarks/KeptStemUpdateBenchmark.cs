using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// One interim update of an open segment (tiny, one intra-op thread), as <see cref="InterimUpdateBenchmark"/>'s
/// <c>WithDraft</c>, with and without the encoder stem kept from the previous update (<see cref="IncrementalEncoder"/>,
/// <see cref="InferenceOptions.IncrementalInterims"/>). Before every measured update, an update of the same segment
/// without its last 0.5 s runs untimed, so the kept stem is what a stream holds after its previous interim and the
/// update has 0.5 s of new audio to add, not a repeat of the same samples. That needs one invocation per iteration
/// (an iteration setup runs once per iteration), so this class takes 30 iterations of one update each. The baseline is
/// the decode of the same segment from scratch, so the Ratio column is an update's share of it. <c>Windowed</c> also
/// keeps the encoding of the frames before the last <see cref="Window"/> seconds of the previous update
/// (<see cref="InferenceOptions.InterimEncoderWindowSeconds"/>), as a stream does by default; the other two cases
/// encode every frame.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
[InvocationCount(1)]
[IterationCount(30)]
public class KeptStemUpdateBenchmark
{
    // 17.6 s utterance; its first Seconds stand for the open segment.
    private const string Utterance = "1998-15444-0000";
    private const int SampleRate = 16_000;

    private MoonshineRecognizer _kept = null!;
    private MoonshineRecognizer _whole = null!;
    private MoonshineRecognizer _windowed = null!;
    private MoonshineDecoderSession _keptSession = null!;
    private MoonshineDecoderSession _wholeSession = null!;
    private MoonshineDecoderSession _windowedSession = null!;
    private MoonshineDecoderSession _scratchSession = null!;
    private float[] _segment = null!;
    private float[] _previous = null!;
    private int[] _draft = null!;

    [Params(4, 10)]
    public int Seconds { get; set; } = 10;

    /// <summary>Seconds re-encoded by <see cref="Windowed"/> besides the new audio (the default is 3).</summary>
    [Params(2, 3)]
    public double Window { get; set; } = InferenceOptions.DefaultInterimEncoderWindowSeconds;

    [GlobalSetup]
    public void Setup()
    {
        var cache = new ModelCache();
        _kept = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { IntraOpThreads = 1, InterimEncoderWindowSeconds = 0 }, cache);
        _whole = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { IntraOpThreads = 1, IncrementalInterims = false }, cache);
        _windowed = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { IntraOpThreads = 1, InterimEncoderWindowSeconds = Window }, cache);
        _keptSession = (MoonshineDecoderSession)_kept.CreateSession();
        _windowedSession = (MoonshineDecoderSession)_windowed.CreateSession();
        _wholeSession = (MoonshineDecoderSession)_whole.CreateSession();
        _scratchSession = (MoonshineDecoderSession)_whole.CreateSession();
        _segment = RepositoryLayout.ReadUtterance(Utterance)[..(Seconds * SampleRate)];
        _previous = _segment[..^(SampleRate / 2)];
        _draft = [.. _wholeSession.Recognize(_previous).TokenIds];
        if (_kept.SplitEncoder is null)
        {
            throw new InvalidOperationException("tiny's encoder was not split: nothing to compare");
        }
    }

    /// <summary>The previous update of the segment, on both sessions: the stem of its audio is kept in one of them.</summary>
    [IterationSetup]
    public void PreviousUpdate()
    {
        _keptSession.Recognize(_previous, _draft);
        _windowedSession.Recognize(_previous, _draft);
        _wholeSession.Recognize(_previous, _draft);
    }

    /// <summary>The segment decoded from scratch, as its final is: the yardstick of the goal for an update.</summary>
    [Benchmark(Baseline = true)]
    public RecognitionResult FromScratch() => _scratchSession.Recognize(_segment);

    [Benchmark]
    public RecognitionResult WholeEncoder() => _wholeSession.Recognize(_segment, _draft);

    [Benchmark]
    public RecognitionResult StemKept() => _keptSession.Recognize(_segment, _draft);

    [Benchmark]
    public RecognitionResult Windowed() => _windowedSession.Recognize(_segment, _draft);

    [GlobalCleanup]
    public void Cleanup()
    {
        _keptSession.Dispose();
        _windowedSession.Dispose();
        _windowed.Dispose();
        _wholeSession.Dispose();
        _scratchSession.Dispose();
        _kept.Dispose();
        _whole.Dispose();
    }
}
