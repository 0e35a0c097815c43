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

    /// <summary>Speech wherever a window is loud.</summary>
    private sealed class LoudnessVad : IVoiceActivityModel, IVoiceActivityStream
    {
        public int WindowSamples => 512;

        public IVoiceActivityStream CreateStream() => this;

        public float Process(ReadOnlySpan<float> window) => System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(window) > 0.1f ? 0.95f : 0.02f;

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
