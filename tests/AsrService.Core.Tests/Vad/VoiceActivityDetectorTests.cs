using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Vad;

/// <summary>
/// The detector at 16 kHz with 512-sample windows and default options: SpeechPad is 3200 samples, MinSpeech needs 8
/// windows, MinSilence 16, MaxSegment is 320 000 samples.
/// </summary>
public sealed class VoiceActivityDetectorTests
{
    private const int Window = 512;
    private const int Pad = 3200;

    [Fact]
    public void SegmentAll_ScriptedBurst_PaddedBoundsAndSamplesAreTheInputSlice()
    {
        float[] script = new ProbabilityScript().Silence(20).Speech(20).Silence(20).ToArray();
        float[] audio = Noise((60 * Window) + 100, seed: 1);

        var segments = VoiceActivityDetector.SegmentAll(new ScriptedModel(script), audio, TestVadOptions.Create());

        SpeechSegment segment = Assert.Single(segments);
        Assert.Equal((20 * Window) - Pad, segment.StartSample);
        Assert.Equal((40 * Window) + Pad, segment.EndSample);
        Assert.Equal(audio[(int)segment.StartSample..(int)segment.EndSample], segment.Samples.ToArray());
        Assert.Equal(TimeSpan.FromTicks(segment.StartSample * 625), segment.StartTime);
        Assert.Equal(TimeSpan.FromMilliseconds(1480), segment.EndTime);
    }

    [Fact]
    public void TryGetClosingSegment_DuringTheClosingSilence_TheSegmentThatCompletes()
    {
        // Speech in windows [20, 40); the end pad (3200 samples) is covered after 7 silent windows, MinSilence after 16.
        float[] script = new ProbabilityScript().Silence(20).Speech(20).Silence(20).ToArray();
        float[] audio = Noise(60 * Window, seed: 2);
        using var detector = new VoiceActivityDetector(new ScriptedModel(script), TestVadOptions.Create());
        var closingFromWindow = -1;
        SpeechSegment? closing = null;
        SpeechSegment? completed = null;
        for (int window = 0; window < 60 && completed is null; window++)
        {
            detector.Accept(audio.AsSpan(window * Window, Window));
            if (detector.TryGetClosingSegment(out var segment))
            {
                Assert.True(closing is null || ReferenceEquals(closing, segment), "a second copy of an unchanged segment");
                closingFromWindow = closing is null ? window : closingFromWindow;
                closing = segment;
            }

            while (detector.TryRead(out var vadEvent))
            {
                completed = vadEvent.IsSegmentCompleted ? vadEvent.Segment : completed;
            }
        }

        Assert.Equal(46, closingFromWindow);
        Assert.NotNull(closing);
        Assert.Same(closing, completed);
        Assert.Equal((20 * Window) - Pad, closing!.StartSample);
        Assert.Equal((40 * Window) + Pad, closing.EndSample);
        Assert.Equal(audio[(int)closing.StartSample..(int)closing.EndSample], closing.Samples.ToArray());
        Assert.False(detector.TryGetClosingSegment(out _));
    }

    [Fact]
    public void TryGetClosingSegment_SpeechResumes_TheSegmentCompletesLaterAsAnotherCopy()
    {
        // A pause of 10 windows (past the end pad, short of MinSilence) inside the speech.
        float[] script = new ProbabilityScript().Silence(20).Speech(20).Silence(10).Speech(10).Silence(20).ToArray();
        float[] audio = Noise(80 * Window, seed: 3);
        using var detector = new VoiceActivityDetector(new ScriptedModel(script), TestVadOptions.Create());
        var closings = new List<SpeechSegment>();
        var completed = new List<SpeechSegment>();
        for (int window = 0; window < 80; window++)
        {
            detector.Accept(audio.AsSpan(window * Window, Window));
            if (detector.TryGetClosingSegment(out var closing) && (closings.Count == 0 || !ReferenceEquals(closings[^1], closing)))
            {
                closings.Add(closing);
            }

            while (detector.TryRead(out var vadEvent))
            {
                if (vadEvent.IsSegmentCompleted)
                {
                    completed.Add(vadEvent.Segment!);
                }
            }
        }

        Assert.Equal(2, closings.Count);
        Assert.Equal((40 * Window) + Pad, closings[0].EndSample);
        Assert.Equal(audio[(int)closings[0].StartSample..(int)closings[0].EndSample], closings[0].Samples.ToArray());
        var segment = Assert.Single(completed);
        Assert.Same(closings[1], segment);
        Assert.Equal((60 * Window) + Pad, segment.EndSample);
        Assert.Equal(audio[(int)segment.StartSample..(int)segment.EndSample], segment.Samples.ToArray());
    }

    [Fact]
    public void Accept_SilentStream_NoEventsAndBufferStaysBounded()
    {
        using var detector = new VoiceActivityDetector(new EnergyModel(), TestVadOptions.Create());
        int initialCapacity = detector.BufferCapacity;
        float[] chunk = new float[1600];
        long mostNeeded = 0;

        // Ten minutes.
        for (int i = 0; i < 6000; i++)
        {
            detector.Accept(chunk);
            mostNeeded = Math.Max(mostNeeded, detector.NeededSampleCount);
        }

        detector.Flush();

        Assert.False(detector.TryRead(out _));
        Assert.Equal(9_600_000, detector.AcceptedSamples);

        // The buffer never grew; what a compaction keeps is only the pre-roll and the partial window.
        Assert.Equal(initialCapacity, detector.BufferCapacity);
        Assert.True(initialCapacity <= VoiceActivityDetector.SampleRate, $"Initial capacity {initialCapacity}.");
        Assert.True(mostNeeded < Pad + Window, $"{mostNeeded} samples needed.");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Accept_RandomChunkSizes_SameEventsAsWholeInput(int seed)
    {
        float[] audio = SpeechLikeAudio(seed);
        var whole = Collect(new EnergyModel(), audio, new[] { audio.Length });

        var random = new Random(seed);
        var chunks = new List<int>();
        for (int used = 0; used < audio.Length;)
        {
            // Mostly small chunks (a few milliseconds, odd sizes), sometimes empty, sometimes seconds.
            int size = random.Next(10) switch
            {
                0 => 0,
                1 => random.Next(1, 3 * VoiceActivityDetector.SampleRate),
                _ => random.Next(1, 1500),
            };
            size = Math.Min(size, audio.Length - used);
            chunks.Add(size);
            used += size;
        }

        var chunked = Collect(new EnergyModel(), audio, chunks);

        Assert.True(whole.Count(e => e.Kind == VadEventKind.SegmentCompleted) >= 4, "Too few segments to compare.");

        // The 30 s passage must have been split at MaxSegment for the comparison to cover splits.
        Assert.Contains(whole, e => e.IsSegmentCompleted && e.Segment.Duration > TimeSpan.FromSeconds(15));
        Assert.Equal(whole.Count, chunked.Count);
        for (int i = 0; i < whole.Count; i++)
        {
            Assert.Equal(whole[i].Kind, chunked[i].Kind);
            Assert.Equal(whole[i].StartSample, chunked[i].StartSample);
            Assert.Equal(whole[i].Segment?.EndSample, chunked[i].Segment?.EndSample);
            Assert.Equal(whole[i].Segment?.Samples.ToArray(), chunked[i].Segment?.Samples.ToArray());
        }

        foreach (VadEvent e in whole)
        {
            if (e.IsSegmentCompleted)
            {
                Assert.Equal(audio[(int)e.Segment.StartSample..(int)e.Segment.EndSample], e.Segment.Samples.ToArray());
                Assert.True(e.Segment.EndSample - e.Segment.StartSample <= 20 * VoiceActivityDetector.SampleRate);
            }
        }
    }

    [Fact]
    public void Accept_SpeechLongerThanMaxSegment_SplitsIntoContiguousSegmentsWithinMaxSegment()
    {
        // 50 s of uninterrupted speech: every window ties, so each cut is in the middle of the window at which the
        // segment is full (the window ending at 320 000, then at 639 488).
        float[] audio = Noise(50 * VoiceActivityDetector.SampleRate, seed: 2);
        var model = new ScriptedModel(new ProbabilityScript().Speech(2000).ToArray());
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());

        long mostNeeded = 0;
        for (int used = 0; used < audio.Length; used += 1000)
        {
            detector.Accept(audio.AsSpan(used, 1000));
            mostNeeded = Math.Max(mostNeeded, detector.NeededSampleCount);
        }

        detector.Flush();
        var segments = Drain(detector).Where(e => e.IsSegmentCompleted).Select(e => e.Segment!).ToList();

        Assert.Equal(
            new[] { (0L, 319_744L), (319_744L, 639_232L), (639_232L, 800_000L) },
            segments.Select(s => (s.StartSample, s.EndSample)));
        foreach (SpeechSegment segment in segments)
        {
            Assert.Equal(audio[(int)segment.StartSample..(int)segment.EndSample], segment.Samples.ToArray());
        }

        Assert.True(detector.BufferCapacity <= 480_512, $"Buffer grew to {detector.BufferCapacity}.");
        Assert.True(mostNeeded <= 320_000, $"{mostNeeded} samples needed.");
    }

    [Fact]
    public void Accept_LongSegmentThenSilence_GrowsOnlyWhileTheSegmentIsOpenAndKeepsItsAudio()
    {
        // Two 12 s utterances with 3 s of silence after each: the buffer must grow for each, and go back to its
        // initial size once the segment has ended, without losing or mixing up audio across the switches.
        const int speechWindows = 375;
        const int silenceWindows = 94;
        float[] audio = Noise(2 * (speechWindows + silenceWindows) * Window, seed: 5);
        var model = new ScriptedModel(new ProbabilityScript()
            .Speech(speechWindows).Silence(silenceWindows).Speech(speechWindows).Silence(silenceWindows).ToArray());
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());
        int initialCapacity = detector.BufferCapacity;

        var capacities = new List<int>();
        var completed = new List<SpeechSegment>();
        for (int used = 0; used < audio.Length; used += 1600)
        {
            detector.Accept(audio.AsSpan(used, Math.Min(1600, audio.Length - used)));
            capacities.Add(detector.BufferCapacity);
            completed.AddRange(Drain(detector).Where(e => e.IsSegmentCompleted).Select(e => e.Segment!));
            if (completed.Count > 0 && !detector.IsSpeechOpen)
            {
                // Once a segment has been handed out and none is open, only the pre-roll is kept.
                Assert.Equal(initialCapacity, detector.BufferCapacity);
            }
        }

        detector.Flush();
        completed.AddRange(Drain(detector).Where(e => e.IsSegmentCompleted).Select(e => e.Segment!));

        Assert.Equal(2, completed.Count);
        foreach (SpeechSegment segment in completed)
        {
            Assert.True(segment.Duration > TimeSpan.FromSeconds(12), $"segment of {segment.Duration}");
            Assert.Equal(audio[(int)segment.StartSample..(int)segment.EndSample], segment.Samples.ToArray());
        }

        // Grown during each utterance (12 s does not fit the initial buffer), back to the initial size in between.
        var grown = capacities.Select(c => c > initialCapacity).ToList();
        int growths = grown.Zip(grown.Skip(1)).Count(pair => !pair.First && pair.Second);
        Assert.Equal(2, growths);
        Assert.Equal(initialCapacity, capacities[^1]);
    }

    [Fact]
    public void Flush_PartialFinalWindow_ModelSeesZeroPaddingAndSegmentEndsAtAudioEnd()
    {
        float[] audio = Noise((10 * Window) + 100, seed: 3);
        var model = new ScriptedModel(new ProbabilityScript().Speech(11).ToArray());
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());

        detector.Accept(audio);
        Assert.Equal(10, model.LastStream!.WindowsProcessed);
        detector.Flush();

        Assert.Equal(11, model.LastStream.WindowsProcessed);
        float[] expectedWindow = new float[Window];
        audio.AsSpan(10 * Window).CopyTo(expectedWindow);
        Assert.Equal(expectedWindow, model.LastStream.LastWindow);

        var events = Drain(detector);
        Assert.Equal(2, events.Count);
        Assert.Equal(VadEventKind.SpeechStarted, events[0].Kind);
        Assert.Equal(0, events[0].StartSample);
        SpeechSegment segment = events[1].Segment!;
        Assert.Equal((0L, (long)audio.Length), (segment.StartSample, segment.EndSample));
        Assert.Equal(audio, segment.Samples.ToArray());
    }

    [Fact]
    public void Flush_OpenSegmentOnWindowBoundary_CompletesAtEndOfAudio()
    {
        float[] audio = Noise(40 * Window, seed: 4);
        var model = new ScriptedModel(new ProbabilityScript().Silence(20).Speech(20).ToArray());
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());

        detector.Accept(audio);
        Assert.True(detector.IsSpeechOpen);
        detector.Flush();

        Assert.False(detector.IsSpeechOpen);
        Assert.Equal(40, model.LastStream!.WindowsProcessed);
        SpeechSegment segment = Drain(detector).Single(e => e.IsSegmentCompleted).Segment!;
        Assert.Equal(((20L * Window) - Pad, 40L * Window), (segment.StartSample, segment.EndSample));
    }

    [Fact]
    public void OpenSegmentSamples_WhileSpeechOpen_IsAudioFromPaddedStartToLastAccepted()
    {
        float[] audio = Noise(70 * Window, seed: 5);
        var model = new ScriptedModel(new ProbabilityScript().Silence(20).Speech(30).Silence(20).ToArray());
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());
        int beforeConfirmation = (27 * Window) + 77;
        int afterConfirmation = (28 * Window) + 77;

        // Seven speech windows are not yet MinSpeech.
        detector.Accept(audio.AsSpan(0, beforeConfirmation));
        Assert.False(detector.IsSpeechOpen);
        Assert.Equal(-1, detector.OpenSegmentStartSample);
        Assert.True(detector.OpenSegmentSamples.IsEmpty);
        Assert.False(detector.TryRead(out _));

        detector.Accept(audio.AsSpan(beforeConfirmation, afterConfirmation - beforeConfirmation));
        Assert.True(detector.IsSpeechOpen);
        Assert.Equal((20 * Window) - Pad, detector.OpenSegmentStartSample);
        Assert.Equal(audio[((20 * Window) - Pad)..afterConfirmation], detector.OpenSegmentSamples.ToArray());
        Assert.True(detector.TryRead(out VadEvent started));
        Assert.Equal(VadEventKind.SpeechStarted, started.Kind);
        Assert.Equal((20 * Window) - Pad, started.StartSample);
        Assert.Null(started.Segment);

        detector.Accept(audio.AsSpan(afterConfirmation));
        detector.Flush();
        Assert.False(detector.IsSpeechOpen);
        Assert.True(detector.OpenSegmentSamples.IsEmpty);
        Assert.True(detector.TryRead(out VadEvent completed));
        Assert.True(completed.IsSegmentCompleted);
        Assert.Equal(((20L * Window) - Pad, (50L * Window) + Pad), (completed.Segment.StartSample, completed.Segment.EndSample));
        Assert.False(detector.TryRead(out _));
    }

    [Fact]
    public void SegmentAll_TwoBurstsApart_TwoSegmentsInOrder()
    {
        float[] script = new ProbabilityScript().Speech(10).Silence(30).Speech(10).ToArray();
        float[] audio = Noise(50 * Window, seed: 6);

        var segments = VoiceActivityDetector.SegmentAll(new ScriptedModel(script), audio, TestVadOptions.Create());

        Assert.Equal(
            new[] { (0L, (10L * Window) + Pad), ((40L * Window) - Pad, 50L * Window) },
            segments.Select(s => (s.StartSample, s.EndSample)));
    }

    [Fact]
    public void Accept_WindowsWithoutCompletedSegment_AllocateNothing()
    {
        float[] quiet = new float[1600];
        float[] loud = Noise(1600, seed: 7);
        using var detector = new VoiceActivityDetector(new EnergyModel(), TestVadOptions.Create());

        // Warm up every path, including a buffer compaction, the buffer's growth to hold a segment, and a segment.
        foreach (float[] chunk in Enumerable.Repeat(quiet, 20).Concat(Enumerable.Repeat(loud, 5)).Concat(Enumerable.Repeat(quiet, 20)))
        {
            detector.Accept(chunk);
        }

        Assert.Equal(2, Drain(detector).Count);

        // Measured three times, keeping the least. In a full test run the runtime itself now and then allocates on
        // this thread once (7,304 bytes seen once in a CI run of the whole suite; the test alone never does), while a
        // path of the detector that allocated would allocate every time.
        var allocations = new List<long>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++)
            {
                detector.Accept(quiet);
            }

            // Speech opens a segment (and queues SpeechStarted) but does not complete one.
            for (int i = 0; i < 5; i++)
            {
                detector.Accept(loud);
            }

            allocations.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.True(detector.IsSpeechOpen);

            // The segment closes; its two events are read outside the measured part.
            for (int i = 0; i < 20; i++)
            {
                detector.Accept(quiet);
            }

            Assert.Equal(2, Drain(detector).Count);
        }

        Assert.True(allocations.Min() == 0, $"allocated {string.Join(", ", allocations)} bytes in the three measurements");
    }

    [Fact]
    public void Accept_AfterFlush_Throws()
    {
        using var detector = new VoiceActivityDetector(new EnergyModel(), TestVadOptions.Create());
        detector.Flush();

        Assert.Throws<InvalidOperationException>(() => detector.Accept(new float[10]));
    }

    [Fact]
    public void Reset_AfterFlush_ReplaysTheSameEvents()
    {
        float[] script = new ProbabilityScript().Silence(5).Speech(20).Silence(20).Speech(12).ToArray();
        float[] audio = Noise((57 * Window) + 30, seed: 8);
        using var detector = new VoiceActivityDetector(new ScriptedModel(script), TestVadOptions.Create());

        detector.Accept(audio);
        detector.Flush();
        var first = Drain(detector);
        detector.Reset();
        detector.Accept(audio);
        detector.Flush();
        var second = Drain(detector);

        Assert.Equal(4, first.Count);
        Assert.Equal(
            first.Select(e => (e.Kind, e.StartSample, e.Segment?.EndSample)),
            second.Select(e => (e.Kind, e.StartSample, e.Segment?.EndSample)));
    }

    [Fact]
    public void Dispose_DisposesTheModelStream()
    {
        var model = new ScriptedModel(Array.Empty<float>());
        var detector = new VoiceActivityDetector(model, TestVadOptions.Create());

        detector.Dispose();

        Assert.True(model.LastStream!.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => detector.Accept(new float[1]));
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsBeforeCreatingAStream()
    {
        var model = new ScriptedModel(Array.Empty<float>());

        var exception = Assert.Throws<ArgumentException>(
            () => new VoiceActivityDetector(model, TestVadOptions.Create(o => o.Threshold = 2f)));

        Assert.Equal(nameof(VadOptions.Threshold), exception.ParamName);
        Assert.Null(model.LastStream);
    }

    [Fact]
    public void SpeechSegment_SamplesOfWrongLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => new SpeechSegment(10, 20, new float[9]));
    }

    private static List<VadEvent> Collect(IVoiceActivityModel model, float[] audio, IEnumerable<int> chunkSizes)
    {
        using var detector = new VoiceActivityDetector(model, TestVadOptions.Create());
        var events = new List<VadEvent>();
        int used = 0;
        foreach (int size in chunkSizes)
        {
            detector.Accept(audio.AsSpan(used, size));
            used += size;
            events.AddRange(Drain(detector));
        }

        Assert.Equal(audio.Length, used);
        detector.Flush();
        events.AddRange(Drain(detector));
        return events;
    }

    private static List<VadEvent> Drain(VoiceActivityDetector detector)
    {
        var events = new List<VadEvent>();
        while (detector.TryRead(out VadEvent e))
        {
            events.Add(e);
        }

        return events;
    }

    private static float[] Noise(int length, int seed)
    {
        var random = new Random(seed);
        float[] samples = new float[length];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = (random.NextSingle() * 2f) - 1f;
        }

        return samples;
    }

    /// <summary>
    /// About 90 s of faint noise and louder bursts of random length and level, one of them 30 s long with short dips
    /// so that MaxSegment splits it. <see cref="EnergyModel"/> maps the levels onto the whole probability range.
    /// </summary>
    private static float[] SpeechLikeAudio(int seed)
    {
        var random = new Random(seed);
        var audio = new List<float>();

        void Add(int samples, float amplitude)
        {
            for (int i = 0; i < samples; i++)
            {
                audio.Add(amplitude * ((random.NextSingle() * 2f) - 1f));
            }
        }

        const int ms = VoiceActivityDetector.SampleRate / 1000;
        Add(random.Next(0, 2000) * ms, 0.005f);
        for (int burst = 0; burst < 12; burst++)
        {
            Add(random.Next(100, 4000) * ms, 0.1f + (0.4f * random.NextSingle()));
            Add(random.Next(50, 1500) * ms, 0.05f * random.NextSingle());
        }

        for (int part = 0; part < 30; part++)
        {
            Add(random.Next(700, 1000) * ms, 0.2f + (0.3f * random.NextSingle()));
            Add(random.Next(30, 300) * ms, 0.02f + (0.1f * random.NextSingle()));
        }

        Add(random.Next(0, 1000) * ms, 0.005f);
        return audio.ToArray();
    }
}
