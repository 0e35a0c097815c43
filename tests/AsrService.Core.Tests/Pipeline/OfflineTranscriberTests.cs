using System.Numerics.Tensors;
using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Pipeline;

/// <summary>The offline pipeline's ordering and failure handling with parallel decodes, on scripted models.</summary>
public sealed class OfflineTranscriberTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Transcribe_ParallelDecodesOfUnequalCost_ResultsInAudioOrder(int parallel)
    {
        // Earlier segments take longer to decode, so with parallel decodes they finish last.
        var recognizer = new ScriptedRecognizer(index => Thread.Sleep(40 - 5 * index));

        var segments = new OfflineTranscriber(recognizer, new LoudnessVad(), Vad(), parallelDecodes: parallel)
            .Transcribe(Bursts(6)).ToList();

        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"segment {i}"), segments.Select(s => s.Text));
        Assert.True(segments.Zip(segments.Skip(1)).All(pair => pair.First.End <= pair.Second.Start));
        Assert.True(recognizer.MaxConcurrent <= parallel);
        Assert.Equal(recognizer.Created, recognizer.Disposed);
    }

    [Fact]
    public void Transcribe_TwoParallelDecodes_TheSecondSegmentStartsWhileTheFirstIsDecoding()
    {
        using var secondStarted = new ManualResetEventSlim();
        var overlapped = false;
        var recognizer = new ScriptedRecognizer(index =>
        {
            if (index == 1)
            {
                secondStarted.Set();
            }
            else if (index == 0)
            {
                overlapped = secondStarted.Wait(TimeSpan.FromSeconds(10));
            }
        });

        var segments = new OfflineTranscriber(recognizer, new LoudnessVad(), Vad(), parallelDecodes: 2).Transcribe(Bursts(3)).ToList();

        Assert.True(overlapped, "segment 1 was not decoded while segment 0 was");
        Assert.Equal(["segment 0", "segment 1", "segment 2"], segments.Select(s => s.Text));
        Assert.Equal(2, recognizer.MaxConcurrent);
        Assert.Equal(2, recognizer.Created);
    }

    [Fact]
    public void Transcribe_WithASchedulerThatGroupsFinals_DecodesTheSegmentsInItsGroupsInAudioOrder()
    {
        // One slot, four segments in flight: while the slot decodes, the next segments wait and join its group.
        var recognizer = new ScriptedRecognizer(_ => Thread.Sleep(20));
        var scheduler = new DecodeScheduler(1, finalsPerDecode: 4, recognizer.CreateSession);

        var segments = new OfflineTranscriber(recognizer, new LoudnessVad(), Vad(), scheduler, parallelDecodes: 4).Transcribe(Bursts(8)).ToList();

        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"segment {i}"), segments.Select(s => s.Text));
        Assert.True(scheduler.GroupedFinals >= 2, $"{scheduler.GroupedFinals} segments were decoded in groups");
        Assert.Equal(1, recognizer.MaxConcurrent);
    }

    [Fact]
    public void Transcribe_OneDecodeFails_TheErrorSurfacesAndEverySessionIsDisposedAfterItsDecode()
    {
        var recognizer = new ScriptedRecognizer(index =>
        {
            Thread.Sleep(30);
            if (index == 2)
            {
                throw new InvalidOperationException("decoder failed on segment 2");
            }
        });
        var transcriber = new OfflineTranscriber(recognizer, new LoudnessVad(), Vad(), parallelDecodes: 3);
        var received = new List<string>();

        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var segment in transcriber.Transcribe(Bursts(6)))
            {
                received.Add(segment.Text);
            }
        });

        Assert.Equal("decoder failed on segment 2", error.Message);
        Assert.Equal(["segment 0", "segment 1"], received);
        Assert.Equal(recognizer.Created, recognizer.Disposed);
        Assert.False(recognizer.DisposedWhileDecoding);
    }

    private static VadOptions Vad() => new()
    {
        MinSilence = TimeSpan.FromMilliseconds(300),
        MinSpeech = TimeSpan.FromMilliseconds(100),
        SpeechPad = TimeSpan.FromMilliseconds(50),
    };

    /// <summary>Bursts of 0.5 s of signal, 1 s apart, then 1 s of silence; burst N peaks at 0.2 + 0.1 N.</summary>
    private static MemoryAudioSource Bursts(int count)
    {
        var audio = new float[16_000 * (count + 1)];
        for (var burst = 0; burst < count; burst++)
        {
            for (var i = 0; i < 8_000; i++)
            {
                audio[burst * 16_000 + 4_000 + i] = (0.2f + 0.1f * burst) * MathF.Sin(i * 0.1f);
            }
        }

        return new MemoryAudioSource(audio, 16_000);
    }

    /// <summary>Speech wherever a window is loud.</summary>
    private sealed class LoudnessVad : IVoiceActivityModel, IVoiceActivityStream
    {
        public int WindowSamples => 512;

        public IVoiceActivityStream CreateStream() => this;

        public float Process(ReadOnlySpan<float> window)
        {
            var peak = 0f;
            foreach (var sample in window)
            {
                peak = Math.Max(peak, Math.Abs(sample));
            }

            return peak > 0.1f ? 0.95f : 0.02f;
        }

        public void Reset()
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Answers "segment N" for burst N, after <c>work(N)</c>; counts sessions and concurrent decodes.</summary>
    private sealed class ScriptedRecognizer(Action<int> work) : ISpeechRecognizer
    {
        private int _concurrent;
        private int _maxConcurrent;
        private int _created;
        private int _disposed;

        public int Created => _created;

        public int Disposed => _disposed;

        public int MaxConcurrent => _maxConcurrent;

        public bool DisposedWhileDecoding { get; private set; }

        public string ModelName => "scripted";

        public string ExecutionProvider => "cpu";

        public int IntraOpThreads => 1;

        public IRecognizerSession CreateSession()
        {
            Interlocked.Increment(ref _created);
            return new Session(this);
        }

        public void Dispose()
        {
        }

        private sealed class Session(ScriptedRecognizer owner) : IRecognizerSession
        {
            private int _busy;

            public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default)
            {
                // Segments are told apart by their loudness (see Bursts).
                var index = (int)MathF.Round((TensorPrimitives.MaxMagnitude(samples) - 0.2f) / 0.1f);
                Volatile.Write(ref _busy, 1);
                var now = Interlocked.Increment(ref owner._concurrent);
                InterlockedMax(ref owner._maxConcurrent, now);
                try
                {
                    owner.WorkFor(index);
                    return new RecognitionResult($"segment {index}", [index], 1f);
                }
                finally
                {
                    Interlocked.Decrement(ref owner._concurrent);
                    Volatile.Write(ref _busy, 0);
                }
            }

            public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default) =>
                Recognize(samples, cancellationToken);

            public void Dispose()
            {
                owner.DisposedWhileDecoding |= Volatile.Read(ref _busy) == 1;
                Interlocked.Increment(ref owner._disposed);
            }
        }

        private void WorkFor(int index) => work(index);

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
            {
            }
        }
    }
}
