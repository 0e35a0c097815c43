using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Vad;

/// <summary>
/// Most tests run at 1000 Hz with 100-sample windows, so that one sample is one millisecond and the default options
/// (250 ms MinSpeech, 500 ms MinSilence, 200 ms SpeechPad) are whole samples: window i covers [100 i, 100 i + 100).
/// </summary>
public sealed class SpeechSegmenterTests
{
    private const int Window = 100;
    private const int Rate = 1000;

    [Fact]
    public void Process_SingleBurst_EmitsOneSegmentWithPaddedBounds()
    {
        // Speech in [1000, 2000); confirmed once 300 ms >= MinSpeech, closed after 500 ms of silence.
        float[] script = new ProbabilityScript().Silence(10).Speech(10).Silence(10).ToArray();

        var events = Run(Create(), script);

        Assert.Equal(
            new[] { (12, Started(800)), (24, Completed(800, 2200)) },
            events);
    }

    [Fact]
    public void Process_SingleBurstAt16kHz_UsesWholeWindowsForMinSpeechAndMinSilence()
    {
        // 512-sample windows: MinSpeech (4000 samples) needs 8 windows, MinSilence (8000) needs 16.
        float[] script = new ProbabilityScript().Silence(20).Speech(20).Silence(20).ToArray();

        var events = Run(new SpeechSegmenter(512, 16_000, TestVadOptions.Create()), script);

        Assert.Equal(
            new[] { (27, Started((20 * 512) - 3200)), (55, Completed((20 * 512) - 3200, (40 * 512) + 3200)) },
            events);
    }

    [Theory]
    [InlineData(250, 2, 0)]
    [InlineData(250, 3, 1)]
    [InlineData(300, 2, 0)]
    [InlineData(300, 3, 1)]
    public void Process_BurstAroundMinSpeech_KeptOnlyFromMinSpeech(int minSpeechMs, int burstWindows, int expectedSegments)
    {
        var options = TestVadOptions.Create(o => o.MinSpeech = TimeSpan.FromMilliseconds(minSpeechMs));
        float[] script = new ProbabilityScript().Silence(10).Speech(burstWindows).Silence(10).ToArray();

        var events = Run(Create(options), script);

        Assert.Equal(expectedSegments, events.Count(e => e.Event.Kind == VadEventKind.SegmentCompleted));
        Assert.Equal(expectedSegments, events.Count(e => e.Event.Kind == VadEventKind.SpeechStarted));
    }

    [Fact]
    public void Flush_BurstShorterThanMinSpeechAtEnd_IsDropped()
    {
        float[] script = new ProbabilityScript().Silence(10).Speech(2).ToArray();

        Assert.Empty(Run(Create(), script));
    }

    [Fact]
    public void Process_ShortBurstsWithinMinSilence_AddUpToMinSpeech()
    {
        // 200 ms, a 200 ms pause, 100 ms: speech spans [1000, 1500), which is long enough.
        float[] script = new ProbabilityScript().Silence(10).Speech(2).Silence(2).Speech(1).Silence(10).ToArray();

        var events = Run(Create(), script);

        Assert.Equal(new[] { (14, Started(800)), (19, Completed(800, 1700)) }, events);
    }

    [Fact]
    public void Process_GapShorterThanMinSilence_DoesNotSplit()
    {
        float[] script = new ProbabilityScript().Silence(10).Speech(10).Silence(4).Speech(10).Silence(10).ToArray();

        var segments = Segments(Run(Create(), script));

        Assert.Equal(new[] { (800L, 3600L) }, segments);
    }

    [Fact]
    public void Process_GapOfMinSilence_SplitsIntoTwoPaddedSegments()
    {
        // Speech [1000, 2000) and [2500, 3500).
        float[] script = new ProbabilityScript().Silence(10).Speech(10).Silence(5).Speech(10).Silence(10).ToArray();

        var segments = Segments(Run(Create(), script));

        Assert.Equal(new[] { (800L, 2200L), (2300L, 3700L) }, segments);
    }

    [Fact]
    public void Process_ProbabilityBetweenThresholds_DoesNotStartSpeech()
    {
        float[] script = new ProbabilityScript().Silence(10).Repeat(0.4f, 30).Silence(10).ToArray();

        Assert.Empty(Run(Create(), script));
    }

    [Fact]
    public void Process_ProbabilityBetweenThresholds_ContinuesSpeech()
    {
        // 0.4 is below Threshold (0.5) but above the default NegativeThreshold (0.35): speech runs to 3500.
        float[] script = new ProbabilityScript().Silence(10).Speech(5).Repeat(0.4f, 20).Silence(10).ToArray();

        var segments = Segments(Run(Create(), script));

        Assert.Equal(new[] { (800L, 3700L) }, segments);
    }

    [Fact]
    public void Process_ProbabilityBelowNegativeThreshold_EndsSpeech()
    {
        float[] script = new ProbabilityScript().Silence(10).Speech(5).Repeat(0.34f, 20).ToArray();

        var events = Run(Create(), script);

        Assert.Equal(new[] { (12, Started(800)), (19, Completed(800, 1700)) }, events);
    }

    [Fact]
    public void Process_ExplicitNegativeThreshold_ReplacesDefault()
    {
        var options = TestVadOptions.Create(o => o.NegativeThreshold = 0.45f);
        float[] script = new ProbabilityScript().Silence(10).Speech(5).Repeat(0.4f, 20).ToArray();

        var segments = Segments(Run(Create(options), script));

        Assert.Equal(new[] { (800L, 1700L) }, segments);
    }

    [Fact]
    public void Process_SpeechAtStreamStart_StartPadClippedAtZero()
    {
        float[] script = new ProbabilityScript().Speech(5).Silence(10).ToArray();

        var events = Run(Create(), script);

        Assert.Equal(new[] { (2, Started(0)), (9, Completed(0, 700)) }, events);
    }

    [Fact]
    public void Flush_PartialFinalWindowOfSpeech_EndPadClippedAtEndOfAudio()
    {
        // 20 whole windows and 50 more samples: the audio ends at 2050.
        var segmenter = Create();
        var events = Run(segmenter, new ProbabilityScript().Silence(10).Speech(10).ToArray(), flush: false);

        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        int written = segmenter.Flush(0.9f, 50, buffer);

        Assert.Equal(new[] { (12, Started(800)) }, events);
        Assert.Equal(new[] { Completed(800, 2050) }, buffer[..written]);
        Assert.Equal(2050, segmenter.ProcessedSamples);
    }

    [Fact]
    public void Flush_PartialFinalWindowConfirmsSpeech_EmitsStartAndCompletion()
    {
        var segmenter = Create();
        Run(segmenter, new ProbabilityScript().Silence(10).Speech(2).ToArray(), flush: false);

        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        int written = segmenter.Flush(0.9f, 60, buffer);

        Assert.Equal(new[] { Started(800), Completed(800, 1260) }, buffer[..written]);
    }

    [Fact]
    public void Process_PadsWiderThanGap_NextSegmentStartsAtPreviousEnd()
    {
        // Pads of 300 around a 400 ms gap would overlap by 200; the earlier segment keeps its pad.
        var options = new VadOptions
        {
            MinSilence = TimeSpan.FromMilliseconds(300),
            SpeechPad = TimeSpan.FromMilliseconds(300),
        };
        float[] script = new ProbabilityScript().Silence(10).Speech(10).Silence(3).Speech(10).Silence(4).Speech(10).Silence(10).ToArray();

        var segments = Segments(Run(Create(options), script));

        // Speech [1000, 2000), [2300, 3300), [3700, 4700).
        Assert.Equal(new[] { (700L, 2300L), (2300L, 3600L), (3600L, 5000L) }, segments);
    }

    [Fact]
    public void Process_SpeechLongerThanMaxSegment_SplitsAtQuietestWindowInLastHalf()
    {
        // Segment starts at 300 (speech from 500). It can take no more windows once 2300 is reached (window 22), and
        // the last half is windows whose middle is >= 300 + 1000, i.e. 13..22. Window 8 is quieter but in the first
        // half; window 16 wins and the cut is its middle, 1650. The continuation [1650, ...) fills up at window 35
        // with no dip, so the latest window of its last half, 35, is cut at 3550.
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromSeconds(2));
        float[] script = new ProbabilityScript().Silence(5).Speech(40).Silence(10).Set(8, 0.52f).Set(16, 0.6f).ToArray();

        var events = Run(Create(options), script);

        Assert.Equal(
            new[]
            {
                (7, Started(300)),
                (22, Completed(300, 1650)),
                (22, Started(1650)),
                (35, Completed(1650, 3550)),
                (35, Started(3550)),
                (49, Completed(3550, 4700)),
            },
            events);
    }

    [Fact]
    public void Process_SplitWithTiedQuietestWindows_CutsAtLatest()
    {
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromSeconds(2));
        float[] script = new ProbabilityScript().Silence(5).Speech(40).Set(14, 0.6f).Set(18, 0.6f).ToArray();

        var segments = Segments(Run(Create(options), script));

        Assert.Equal((300L, 1850L), segments[0]);
        Assert.Equal(1850L, segments[1].Start);
    }

    [Fact]
    public void Process_SplitInsidePause_EachSideKeepsOnlySpeechPadOfIt()
    {
        // A 400 ms pause (windows 15..18) is shorter than MinSilence; the split cuts at the middle of its latest
        // window (1850). The first part ends 200 after its last speech (1500), the second starts at the cut because
        // its speech (1900) is only 50 later.
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromSeconds(2));
        float[] script = new ProbabilityScript().Silence(5).Speech(40).Silence(10).ToArray();
        for (int window = 15; window <= 18; window++)
        {
            script[window] = 0.1f;
        }

        var events = Run(Create(options), script);

        Assert.Equal((22, Completed(300, 1700)), events[1]);
        Assert.Equal((22, Started(1850)), events[2]);
    }

    [Fact]
    public void Process_SplitInTrailingSilence_ClosesSegmentWithoutContinuation()
    {
        // Speech [500, 2000), then silence; at window 22 the segment is full while 300 ms into its closing silence.
        // The cut lands in that silence, so nothing continues, and the next speech (2400) starts a new segment whose
        // pad stops at the previous end.
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromSeconds(2));
        float[] script = new ProbabilityScript().Silence(5).Speech(15).Silence(4).Speech(10).Silence(10).ToArray();

        var events = Run(Create(options), script);

        Assert.Equal(
            new[]
            {
                (7, Started(300)),
                (22, Completed(300, 2200)),
                (26, Started(2200)),
                (38, Completed(2200, 3600)),
            },
            events);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 5)]
    [InlineData(5, 20)]
    public void Process_RandomProbabilities_SegmentsOrderedDisjointAndWithinMaxSegment(int seed, int maxSegmentSeconds)
    {
        var random = new Random(seed);
        var options = TestVadOptions.Create(o => o.MaxSegment = TimeSpan.FromSeconds(maxSegmentSeconds));
        long maxSegmentSamples = maxSegmentSeconds * Rate;

        // Runs of speech-like and silence-like values of random length, so that every rule gets exercised.
        var script = new ProbabilityScript();
        while (script.Count < 5000)
        {
            bool speech = random.Next(2) == 0;
            int windows = random.Next(1, speech ? 60 : 12);
            for (int i = 0; i < windows; i++)
            {
                script.Repeat(speech ? 0.3f + (0.7f * random.NextSingle()) : 0.45f * random.NextSingle(), 1);
            }
        }

        var events = Run(Create(options), script.ToArray());

        long previousEnd = 0;
        long? openStart = null;
        int completed = 0;
        foreach ((_, SegmenterEvent e) in events)
        {
            if (e.Kind == VadEventKind.SpeechStarted)
            {
                Assert.Null(openStart);
                Assert.True(e.StartSample >= previousEnd, $"Start {e.StartSample} overlaps previous end {previousEnd}.");
                openStart = e.StartSample;
                continue;
            }

            Assert.Equal(openStart, e.StartSample);
            Assert.True(e.EndSample > e.StartSample);
            Assert.True(e.EndSample - e.StartSample <= maxSegmentSamples, $"Segment {e} exceeds MaxSegment.");
            previousEnd = e.EndSample;
            openStart = null;
            completed++;
        }

        Assert.Null(openStart);
        Assert.True(completed > 5, $"Only {completed} segments: the script does not exercise the segmenter.");
    }

    [Fact]
    public void Process_SilentStream_EmitsNothingAndNeedsOnlyPreRoll()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];

        for (int i = 0; i < 100_000; i++)
        {
            Assert.Equal(0, segmenter.Process(i % 2 == 0 ? 0f : 0.34f, buffer));
        }

        // Only the start pad of a segment that the next window might open.
        Assert.Equal((100_000L * Window) - 200, segmenter.EarliestNeededSample);
        Assert.Equal(0, segmenter.Flush(buffer));
        Assert.Equal(SpeechState.Silence, segmenter.State);
    }

    [Fact]
    public void Flush_OpenSegment_CompletesAtEndOfAudio()
    {
        float[] script = new ProbabilityScript().Silence(10).Speech(10).ToArray();

        var events = Run(Create(), script);

        Assert.Equal(new[] { (12, Started(800)), (20, Completed(800, 2000)) }, events);
    }

    [Fact]
    public void Flush_DuringClosingSilence_EndPadClippedAtEndOfAudio()
    {
        float[] script = new ProbabilityScript().Silence(10).Speech(10).Silence(1).ToArray();

        var segments = Segments(Run(Create(), script));

        Assert.Equal(new[] { (800L, 2100L) }, segments);
    }

    [Fact]
    public void Process_Transitions_FollowSilenceMaybeSpeechSpeechMaybeSilence()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        var states = new List<SpeechState>();
        foreach (float p in new ProbabilityScript().Silence(1).Speech(3).Silence(1).Speech(1).Silence(5).ToArray())
        {
            segmenter.Process(p, buffer);
            states.Add(segmenter.State);
        }

        Assert.Equal(
            new[]
            {
                SpeechState.Silence, SpeechState.MaybeSpeech, SpeechState.MaybeSpeech, SpeechState.Speech,
                SpeechState.MaybeSilence, SpeechState.Speech, SpeechState.MaybeSilence, SpeechState.MaybeSilence,
                SpeechState.MaybeSilence, SpeechState.MaybeSilence, SpeechState.Silence,
            },
            states);
    }

    [Fact]
    public void ClosingEndSample_OnceTheSilenceCoversTheEndPad_IsTheEndTheSegmentCompletesWith()
    {
        // Speech in [1000, 2000): the end pad reaches 2200, so from the window ending there until MinSilence (the
        // window ending at 2500) the segment's bounds are known.
        var segmenter = Create();
        var closing = Closing(segmenter, new ProbabilityScript().Silence(10).Speech(10).Silence(6).ToArray(), out var events);

        Assert.Equal(
            new long[] { -1, -1, 2200, 2200, 2200, -1, -1 },
            closing[19..]);
        Assert.Equal((24, Completed(800, 2200)), events[^1]);
    }

    [Fact]
    public void ClosingEndSample_SpeechResumesWithinMinSilence_GoneUntilTheNewSilenceCoversItsPad()
    {
        // Speech in [1000, 2000), 300 ms of silence (closing from 2200), speech again in [2300, 2800).
        var segmenter = Create();
        var closing = Closing(segmenter, new ProbabilityScript().Silence(10).Speech(10).Silence(3).Speech(5).Silence(6).ToArray(), out var events);

        Assert.Equal(new long[] { -1, 2200, 2200 }, closing[20..23]);
        Assert.All(closing[23..29], end => Assert.Equal(-1, end));
        Assert.Equal(new long[] { 3000, 3000, 3000, -1 }, closing[29..33]);
        Assert.Equal(new[] { (800L, 3000L) }, Segments(events));
    }

    [Fact]
    public void ClosingEndSample_UnconfirmedSpeech_NeverClosing()
    {
        // 200 ms of speech, under MinSpeech: dropped when the silence ends it, never a segment.
        var segmenter = Create();
        var closing = Closing(segmenter, new ProbabilityScript().Silence(10).Speech(2).Silence(6).ToArray(), out var events);

        Assert.All(closing, end => Assert.Equal(-1, end));
        Assert.Empty(events);
    }

    [Fact]
    public void OpenSegmentStartSample_OnlyOnceConfirmed()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        Run(segmenter, new ProbabilityScript().Silence(10).Speech(2).ToArray(), flush: false);

        Assert.False(segmenter.IsSpeechOpen);
        Assert.Equal(-1, segmenter.OpenSegmentStartSample);
        Assert.Equal(800, segmenter.EarliestNeededSample);

        segmenter.Process(0.9f, buffer);

        Assert.True(segmenter.IsSpeechOpen);
        Assert.Equal(800, segmenter.OpenSegmentStartSample);
    }

    [Fact]
    public void Process_AfterFlush_Throws()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        segmenter.Flush(buffer);

        Assert.Throws<InvalidOperationException>(() => segmenter.Process(0.9f, buffer));
    }

    [Fact]
    public void Reset_AfterSegments_ReplaysIdentically()
    {
        var segmenter = Create();
        float[] script = new ProbabilityScript().Silence(3).Speech(10).Silence(10).Speech(7).ToArray();
        var first = Run(segmenter, script);

        segmenter.Reset();
        var second = Run(segmenter, script);

        Assert.Equal(first, second);
        Assert.Equal(4, first.Count);
    }

    [Fact]
    public void Process_EventSpanTooSmall_Throws()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[1];

        Assert.Throws<ArgumentException>(() => segmenter.Process(0.1f, buffer));
    }

    [Fact]
    public void Process_NaNProbability_Throws()
    {
        var segmenter = Create();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];

        Assert.Throws<ArgumentOutOfRangeException>(() => segmenter.Process(float.NaN, buffer));
    }

    [Fact]
    public void Constructor_MaxSegmentOfFewWindows_Throws()
    {
        var options = new VadOptions
        {
            MinSpeech = TimeSpan.Zero,
            MinSilence = TimeSpan.FromMilliseconds(100),
            SpeechPad = TimeSpan.Zero,
            MaxSegment = TimeSpan.FromMilliseconds(500),
        };

        var exception = Assert.Throws<ArgumentException>(() => new SpeechSegmenter(Window, Rate, options));
        Assert.Contains("MaxSegment", exception.Message);
    }

    private static SpeechSegmenter Create(VadOptions? options = null) => new(Window, Rate, options ?? TestVadOptions.Create());

    private static SegmenterEvent Started(long start) => SegmenterEvent.SpeechStarted(start);

    private static SegmenterEvent Completed(long start, long end) => SegmenterEvent.SegmentCompleted(start, end);

    /// <summary>Feeds the script and returns each event with the index of the window that caused it (the script's
    /// length for events of the flush).</summary>
    private static List<(int Window, SegmenterEvent Event)> Run(SpeechSegmenter segmenter, float[] script, bool flush = true)
    {
        var events = new List<(int, SegmenterEvent)>();
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        for (int window = 0; window < script.Length; window++)
        {
            int written = segmenter.Process(script[window], buffer);
            for (int i = 0; i < written; i++)
            {
                events.Add((window, buffer[i]));
            }
        }

        if (flush)
        {
            int written = segmenter.Flush(buffer);
            for (int i = 0; i < written; i++)
            {
                events.Add((script.Length, buffer[i]));
            }
        }

        return events;
    }

    /// <summary>Feeds the script without a flush and returns <see cref="SpeechSegmenter.ClosingEndSample"/> after each window.</summary>
    private static long[] Closing(SpeechSegmenter segmenter, float[] script, out List<(int Window, SegmenterEvent Event)> events)
    {
        events = [];
        var buffer = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
        var closing = new long[script.Length];
        for (int window = 0; window < script.Length; window++)
        {
            int written = segmenter.Process(script[window], buffer);
            for (int i = 0; i < written; i++)
            {
                events.Add((window, buffer[i]));
            }

            closing[window] = segmenter.ClosingEndSample;
        }

        return closing;
    }

    private static List<(long Start, long End)> Segments(List<(int Window, SegmenterEvent Event)> events)
    {
        var segments = new List<(long, long)>();
        foreach ((_, SegmenterEvent e) in events)
        {
            if (e.Kind == VadEventKind.SegmentCompleted)
            {
                segments.Add((e.StartSample, e.EndSample));
            }
        }

        return segments;
    }
}
