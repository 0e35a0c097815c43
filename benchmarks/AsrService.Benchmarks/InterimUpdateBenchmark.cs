using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// One interim update of an open segment (tiny) and its parts, at one intra-op thread (as the server runs a decode)
/// and at two (one decode owning the 2-core machine, as this benchmark ran before 2026-11-22). From scratch, against
/// the incremental way the streaming pipeline does it: the previous interim (the hypothesis of the segment without
/// its last 0.5 s) is checked as a draft in one decoder call, and only the tokens after the first disagreement are
/// decoded step by step. The encoder runs on the whole segment in both: the encoder stem kept between updates is off
/// here, because repeated calls on the same samples would keep nearly all of it (<see cref="KeptStemUpdateBenchmark"/>
/// measures it). Two more cases split the update: the encoder alone, and an update whose draft is already the
/// segment's own greedy hypothesis (nothing new was heard). That one is the encoder and the check alone only where the
/// check agrees with its whole draft: the int8 layers quantize all of a call's positions on one scale, so a check of
/// several tokens can leave the greedy path that one-token steps follow, and steps then decode the rest.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class InterimUpdateBenchmark
{
    // 17.6 s utterance; its first Seconds stand for the open segment.
    private const string Utterance = "1998-15444-0000";
    private const int SampleRate = 16_000;

    private MoonshineRecognizer _recognizer = null!;
    private MoonshineDecoderSession _session = null!;
    private float[] _segment = null!;
    private int[] _draft = null!;
    private int[] _ownHypothesis = null!;

    [Params(4, 10)]
    public int Seconds { get; set; } = 10;

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        _recognizer = OnnxSpeechModels.LoadRecognizer("tiny", new InferenceOptions { IntraOpThreads = Threads, IncrementalInterims = false }, new ModelCache());
        _session = (MoonshineDecoderSession)_recognizer.CreateSession();
        _segment = RepositoryLayout.ReadUtterance(Utterance)[..(Seconds * SampleRate)];
        _draft = [.. _session.Recognize(_segment.AsSpan(0, _segment.Length - SampleRate / 2)).TokenIds];
        _ownHypothesis = [.. _session.Recognize(_segment).TokenIds];
    }

    [Benchmark(Baseline = true)]
    public RecognitionResult FromScratch() => _session.Recognize(_segment);

    [Benchmark]
    public RecognitionResult WithDraft() => _session.Recognize(_segment, _draft);

    [Benchmark]
    public RecognitionResult EncoderAndCheck() => _session.Recognize(_segment, _ownHypothesis);

    [Benchmark]
    public int EncoderOnly()
    {
        using var encoded = _session.Encode(_segment);
        return encoded.Count;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _recognizer.Dispose();
    }
}
