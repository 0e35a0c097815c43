using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Pipeline;

public sealed class RecognitionStreamTests
{
    [Theory]
    [InlineData("", "let us have", 0f)]
    [InlineData("Let's have faith.", "Let's have faith that", 0.75f)]
    [InlineData("let us have faith", "let us have faith", 1f)]
    [InlineData("let them", "let us have faith", 0.25f)]
    [InlineData("anything", "", 0f)]
    public void Stability_PreviousAndCurrentHypotheses_ShareOfUnchangedLeadingWords(string previous, string current, float expected)
    {
        Assert.Equal(expected, RecognitionStream.Stability(previous, current), 3);
    }

    [Fact]
    public async Task AcceptAsync_FinalOfAnotherStreamNeedsTheOnlySlot_InterimStopsSendsNothingAndTheNextOneComes()
    {
        var scheduler = new DecodeScheduler(1) { PreemptInterimsAfter = TimeSpan.Zero };
        Task<DecodeScheduler.Lease>? otherFinal = null;
        var interims = 0;
        var recognizer = new InterimRecognizer(cancellationToken =>
        {
            if (Interlocked.Increment(ref interims) > 1)
            {
                return new RecognitionResult("later", [2], 1f);
            }

            // Another stream's segment closes while this interim decodes: its final must not wait for it.
            otherFinal = scheduler.EnterFinalAsync(CancellationToken.None).AsTask();
            Assert.True(cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the interim was not preempted");
            cancellationToken.ThrowIfCancellationRequested();
            return new RecognitionResult("unreachable", [1], 1f);
        });
        var options = new StreamingOptions
        {
            InterimResults = true,
            InterimInterval = TimeSpan.FromMilliseconds(200),
            Vad = new VadOptions { MinSpeech = TimeSpan.FromMilliseconds(100), MinSilence = TimeSpan.FromMilliseconds(300), SpeechPad = TimeSpan.FromMilliseconds(50) },
        };
        using var stream = new RecognitionStream(recognizer, new LoudnessVad(), options, scheduler);
        var events = new List<StreamingEvent>();
        var chunk = new float[1_600];
        for (var i = 0; i < chunk.Length; i++)
        {
            chunk[i] = 0.5f * MathF.Sin(i * 0.1f);
        }

        for (var i = 0; i < 4 && otherFinal is null; i++)
        {
            await stream.AcceptAsync(chunk, events);
        }

        Assert.NotNull(otherFinal);
        Assert.Equal(1, scheduler.PreemptedInterims);
        Assert.Empty(events);
        using (await otherFinal!.WaitAsync(TimeSpan.FromSeconds(10)))
        {
            // While the final holds the slot the stream goes on; its interims are skipped, not queued.
            await stream.AcceptAsync(chunk, events);
            await stream.AcceptAsync(chunk, events);
        }

        for (var i = 0; i < 4 && events.Count == 0; i++)
        {
            await stream.AcceptAsync(chunk, events);
        }

        var interim = Assert.Single(events);
        Assert.Equal(StreamingEventKind.InterimResult, interim.Kind);
        Assert.Equal("later", interim.Text);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AcceptAsync_SegmentCloses_OneDecodeOfItsAudioEarlyOrNot(bool early)
    {
        // One second of speech, then silence: the end pad (200 ms) is heard three chunks into it, MinSilence (500 ms)
        // six chunks into it.
        var (events, recognizer, scheduler) = await RunAsync([Loud(10), Quiet(10)], early);

        var final = Assert.Single(events, e => e.Kind == StreamingEventKind.FinalResult);
        var decode = Assert.Single(recognizer.Finals);
        Assert.Equal(ToSamples(final.End - final.Start), decode.Samples);
        Assert.Equal($"{decode.Samples} samples", final.Text);

        // Decoded at the chunk that completed the pad (13 chunks in), or at the one that closed the segment.
        Assert.Equal(early ? 13 : 16, decode.AtChunk);
        Assert.Equal(early ? 1 : 0, scheduler.EarlyFinals);
        Assert.Equal(0, scheduler.DroppedEarlyFinals);
        Assert.Equal(1, scheduler.DecodedFinals);
    }

    [Fact]
    public async Task CompleteAsync_StreamEndsDuringTheClosingSilence_TheEarlyFinalIsSent()
    {
        var (events, recognizer, scheduler) = await RunAsync([Loud(10), Quiet(4)], early: true);

        var final = Assert.Single(events, e => e.Kind == StreamingEventKind.FinalResult);
        var decode = Assert.Single(recognizer.Finals);
        Assert.Equal(13, decode.AtChunk);
        Assert.Equal($"{ToSamples(final.End - final.Start)} samples", final.Text);
        Assert.Equal(0, scheduler.DroppedEarlyFinals);
    }

    [Fact]
    public async Task AcceptAsync_SpeechResumesAfterTheEarlyFinal_ItIsDroppedAndDraftsTheNextInterim()
    {
        // A 300 ms pause: longer than the end pad, shorter than MinSilence.
        var (events, recognizer, scheduler) = await RunAsync([Loud(10), Quiet(3), Loud(10), Quiet(10)], early: true, interims: true);

        var final = Assert.Single(events, e => e.Kind == StreamingEventKind.FinalResult);
        Assert.Equal(2, recognizer.Finals.Count);
        var (dropped, sent) = (recognizer.Finals[0], recognizer.Finals[1]);
        Assert.True(dropped.Samples < sent.Samples);
        Assert.Equal($"{sent.Samples} samples", final.Text);
        Assert.Equal(ToSamples(final.End - final.Start), sent.Samples);
        Assert.Equal(2, scheduler.EarlyFinals);
        Assert.Equal(1, scheduler.DroppedEarlyFinals);

        // The interims after the pause start from the dropped final's tokens.
        var next = Assert.Single(recognizer.Interims, i => i.AtChunk > dropped.AtChunk && i.AtChunk < sent.AtChunk && i.Draft.SequenceEqual([dropped.Samples]));
        Assert.DoesNotContain(recognizer.Interims, i => i.AtChunk > dropped.AtChunk && i.AtChunk < next.AtChunk);
        Assert.DoesNotContain(events, e => e.Kind == StreamingEventKind.InterimResult && e.Text.Contains("samples", StringComparison.Ordinal));
    }

    private static float[] Loud(int chunks)
    {
        var audio = new float[chunks * 1_600];
        for (var i = 0; i < audio.Length; i++)
        {
            audio[i] = 0.5f * MathF.Sin(i * 0.1f);
        }

        return audio;
    }

    private static float[] Quiet(int chunks) => new float[chunks * 1_600];

    private static int ToSamples(TimeSpan duration) => (int)(duration.Ticks * 16_000 / TimeSpan.TicksPerSecond);

    /// <summary>Feeds the parts in 100 ms chunks through a one-slot scheduler, then completes the stream.</summary>
    private static async Task<(List<StreamingEvent> Events, CountingRecognizer Recognizer, DecodeScheduler Scheduler)> RunAsync(
        float[][] parts, bool early, bool interims = false)
    {
        var scheduler = new DecodeScheduler(1);
        var recognizer = new CountingRecognizer();
        var options = new StreamingOptions
        {
            EarlyFinals = early,
            InterimResults = interims,
            InterimInterval = TimeSpan.FromMilliseconds(200),
            Vad = new VadOptions { MinSpeech = TimeSpan.FromMilliseconds(100), MinSilence = TimeSpan.FromMilliseconds(500), SpeechPad = TimeSpan.FromMilliseconds(200) },
        };
        using var stream = new RecognitionStream(recognizer, new LoudnessVad(), options, scheduler);
        var events = new List<StreamingEvent>();
        var audio = parts.SelectMany(part => part).ToArray();
        for (var offset = 0; offset < audio.Length; offset += 1_600)
        {
            recognizer.Chunk++;
            await stream.AcceptAsync(audio.AsMemory(offset, 1_600), events);
        }

        await stream.CompleteAsync(events);
        return (events, recognizer, scheduler);
    }

    /// <summary>
    /// Records every decode with the chunk it came in; a final answers with its sample count as text and as its one
    /// token, an interim with a fixed text.
    /// </summary>
    private sealed class CountingRecognizer : ISpeechRecognizer, IRecognizerSession
    {
        public int Chunk { get; set; }

        public List<(int AtChunk, int Samples)> Finals { get; } = [];

        public List<(int AtChunk, int[] Draft)> Interims { get; } = [];

        public string ModelName => "counting";

        public string ExecutionProvider => "cpu";

        public int IntraOpThreads => 1;

        public IRecognizerSession CreateSession() => this;

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default)
        {
            Finals.Add((Chunk, samples.Length));
            return new RecognitionResult($"{samples.Length} samples", [samples.Length], 1f);
        }

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default)
        {
            Interims.Add((Chunk, draft.ToArray()));
            return new RecognitionResult("an interim", [7], 1f);
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Speech wherever a window is loud.</summary>
    private sealed class LoudnessVad : IVoiceActivityModel, IVoiceActivityStream
    {
        public int WindowSamples => 512;

        public IVoiceActivityStream CreateStream() => this;

        // MaxMagnitude returns the signed sample of largest magnitude.
        public float Process(ReadOnlySpan<float> window) => MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(window)) > 0.1f ? 0.95f : 0.02f;

        public void Reset()
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Answers every interim (draft) decode with <c>interim(token)</c>.</summary>
    private sealed class InterimRecognizer(Func<CancellationToken, RecognitionResult> interim) : ISpeechRecognizer, IRecognizerSession
    {
        public string ModelName => "interim";

        public string ExecutionProvider => "cpu";

        public int IntraOpThreads => 1;

        public IRecognizerSession CreateSession() => this;

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("no segment closes in this test");

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default) =>
            interim(cancellationToken);

        public void Dispose()
        {
        }
    }
}
