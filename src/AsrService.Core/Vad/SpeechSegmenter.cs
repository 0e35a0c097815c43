using System.Diagnostics;

namespace AsrService.Core.Vad;

/// <summary>
/// Turns one speech probability per fixed-size window into speech segments: pure logic, no audio, no model.
/// </summary>
/// <remarks>
/// <para>
/// Window <c>i</c> covers samples [i·W, (i+1)·W). A window with p ≥ Threshold opens a segment (state
/// <see cref="SpeechState.MaybeSpeech"/>); while it is open, windows with p ≥ NegativeThreshold count as speech
/// ("voiced") and the others as silence. The segment is confirmed, and <see cref="VadEventKind.SpeechStarted"/>
/// emitted, once its first to last voiced window spans MinSpeech; it closes once silence has lasted MinSilence, and
/// is dropped instead if it was never confirmed.
/// </para>
/// <para>
/// Bounds are padded by SpeechPad: the start is clipped at 0 and at the end of the previous segment, the end at the
/// end of the audio. Since a segment is emitted before the next one is known, the earlier segment keeps its full end
/// pad and the later one gives way. Validation keeps SpeechPad ≤ MinSilence, so the end pad never reaches audio that
/// has not been processed.
/// </para>
/// <para>
/// A confirmed segment that could not take one more window without exceeding MaxSegment is split at its quietest
/// window whose middle lies in the last half of MaxSegment (ties go to the latest, which leaves the shortest
/// remainder). The cut is that window's middle. Either side keeps at most SpeechPad of silence next to the cut, the
/// first part is emitted, and the remainder continues as a new confirmed segment, or, if it holds no voiced window,
/// the segmenter returns to silence.
/// </para>
/// <para>
/// The per-window probabilities of the open segment are kept in a ring sized once from MaxSegment; nothing is
/// allocated per window. Not thread-safe: one per audio stream.
/// </para>
/// </remarks>
public sealed class SpeechSegmenter
{
    /// <summary>The most events one call can write: a completed segment and the start of its continuation.</summary>
    public const int MaxEventsPerCall = 2;

    private readonly float _threshold;
    private readonly float _negativeThreshold;
    private readonly long _minSpeechSamples;
    private readonly long _minSilenceSamples;
    private readonly long _speechPadSamples;
    private readonly long _leadingPadSamples;
    private readonly long _maxSegmentSamples;

    // Probability of window j at _history[j % _history.Length], for windows from _historyStartWindow on.
    private readonly float[] _history;

    private SpeechState _state;
    private bool _flushed;
    private long _processedSamples;
    private long _windowCount;
    private long _previousEndSample;

    // The open segment (valid unless _state is Silence).
    private long _segmentStartSample;
    private long _speechStartSample;
    private long _lastVoicedEndSample;
    private long _silenceSamples;
    private long _historyStartWindow;

    public SpeechSegmenter(int windowSamples, int sampleRate, VadOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowSamples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        WindowSamples = windowSamples;
        SampleRate = sampleRate;
        _threshold = options.Threshold;
        _negativeThreshold = options.EffectiveNegativeThreshold;
        _minSpeechSamples = VadOptions.ToSamples(options.MinSpeech, sampleRate);
        _minSilenceSamples = VadOptions.ToSamples(options.MinSilence, sampleRate);
        _speechPadSamples = VadOptions.ToSamples(options.SpeechPad, sampleRate);
        _leadingPadSamples = VadOptions.ToSamples(options.EffectiveLeadingPad, sampleRate);
        _maxSegmentSamples = VadOptions.ToSamples(options.MaxSegment, sampleRate);

        // A split looks for a pause among the windows of the last half of MaxSegment; with fewer than a few windows
        // there it would have to cut through speech, and unconfirmed speech could reach MaxSegment.
        if (_maxSegmentSamples < 8L * windowSamples)
        {
            throw new ArgumentException(
                $"VadOptions.MaxSegment ({options.MaxSegment.TotalMilliseconds} ms) must hold at least 8 windows of {windowSamples} samples at {sampleRate} Hz.",
                nameof(options));
        }

        // An open segment never spans more than MaxSegment, so this many windows (plus partial ones at both ends)
        // always hold its history.
        _history = new float[checked((int)(_maxSegmentSamples / windowSamples) + 2)];
    }

    public int WindowSamples { get; }

    public int SampleRate { get; }

    public SpeechState State => _state;

    /// <summary>Samples consumed so far: whole windows, plus the final partial one after a flush.</summary>
    public long ProcessedSamples => _processedSamples;

    /// <summary>True while a confirmed segment is open, i.e. between SpeechStarted and SegmentCompleted.</summary>
    public bool IsSpeechOpen => _state is SpeechState.Speech or SpeechState.MaybeSilence;

    /// <summary>The padded start of the confirmed open segment, or -1 when none is open.</summary>
    public long OpenSegmentStartSample => IsSpeechOpen ? _segmentStartSample : -1;

    /// <summary>
    /// The padded end the open segment will have if the silence under way lasts until MinSilence, once that silence
    /// has lasted SpeechPad, so that every sample of the segment has been processed; -1 otherwise (no confirmed
    /// segment open, speech going on, or a silence still shorter than the pad). A voiced window before MinSilence
    /// moves the end, and a MaxSegment split or the end of the stream can cut the segment elsewhere, so this is what
    /// the segment becomes only if its completion reports the same bounds.
    /// </summary>
    public long ClosingEndSample =>
        _state == SpeechState.MaybeSilence && _silenceSamples >= _speechPadSamples ? _lastVoicedEndSample + _speechPadSamples : -1;

    /// <summary>
    /// The first sample that any future event can include: the start of the open (even unconfirmed) segment, or the
    /// earliest padded start of a segment opened by the next window. Audio before it can be discarded.
    /// </summary>
    public long EarliestNeededSample
    {
        get
        {
            if (_flushed)
            {
                return _processedSamples;
            }

            return _state == SpeechState.Silence
                ? Math.Max(Math.Max(_processedSamples - _leadingPadSamples, _previousEndSample), 0)
                : _segmentStartSample;
        }
    }

    /// <summary>
    /// Consumes the speech probability of the next full window and writes what it caused into
    /// <paramref name="events"/> (room for <see cref="MaxEventsPerCall"/>); returns how many were written.
    /// </summary>
    public int Process(float speechProbability, Span<SegmenterEvent> events)
    {
        ThrowIfFlushed();
        return ProcessWindow(speechProbability, WindowSamples, allowSplit: true, events);
    }

    /// <summary>
    /// Ends the stream at <see cref="ProcessedSamples"/>: an open segment that reached MinSpeech completes at the
    /// end of its padding, clipped to the end of the audio. Returns the number of events written.
    /// </summary>
    public int Flush(Span<SegmenterEvent> events)
    {
        if (_flushed)
        {
            return 0;
        }

        RequireRoom(events);
        return FlushCore(events);
    }

    /// <summary>
    /// Consumes a final, partial window of <paramref name="windowSamples"/> real samples (the model saw it padded
    /// with zeros), then ends the stream as <see cref="Flush(Span{SegmenterEvent})"/> does.
    /// </summary>
    public int Flush(float speechProbability, int windowSamples, Span<SegmenterEvent> events)
    {
        ThrowIfFlushed();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowSamples);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(windowSamples, WindowSamples);

        // No split: nothing follows, and the segment already had room for one more whole window.
        int count = ProcessWindow(speechProbability, windowSamples, allowSplit: false, events);
        return count + FlushCore(events[count..]);
    }

    /// <summary>Forgets everything, as for a new stream.</summary>
    public void Reset()
    {
        _state = SpeechState.Silence;
        _flushed = false;
        _processedSamples = 0;
        _windowCount = 0;
        _previousEndSample = 0;
        _segmentStartSample = 0;
        _speechStartSample = 0;
        _lastVoicedEndSample = 0;
        _silenceSamples = 0;
        _historyStartWindow = 0;
    }

    private int ProcessWindow(float speechProbability, int windowSamples, bool allowSplit, Span<SegmenterEvent> events)
    {
        RequireRoom(events);
        // NaN compares false with both thresholds and would silently read as silence; a model emitting it is broken.
        if (float.IsNaN(speechProbability))
        {
            throw new ArgumentOutOfRangeException(nameof(speechProbability), "The speech probability is NaN.");
        }

        long window = _windowCount++;
        long windowStart = _processedSamples;
        long windowEnd = windowStart + windowSamples;
        _processedSamples = windowEnd;

        if (_state == SpeechState.Silence)
        {
            if (speechProbability < _threshold)
            {
                return 0;
            }

            _state = SpeechState.MaybeSpeech;
            _speechStartSample = windowStart;
            _segmentStartSample = Math.Max(Math.Max(windowStart - _leadingPadSamples, _previousEndSample), 0);
            _lastVoicedEndSample = windowEnd;
            _silenceSamples = 0;
            _historyStartWindow = window;
            _history[window % _history.Length] = speechProbability;
            return TryConfirm(events);
        }

        _history[window % _history.Length] = speechProbability;
        int count = 0;
        if (speechProbability >= _negativeThreshold)
        {
            _lastVoicedEndSample = windowEnd;
            _silenceSamples = 0;
            if (_state == SpeechState.MaybeSpeech)
            {
                count = TryConfirm(events);
            }
            else
            {
                _state = SpeechState.Speech;
            }
        }
        else
        {
            _silenceSamples += windowSamples;
            if (_silenceSamples >= _minSilenceSamples)
            {
                if (_state != SpeechState.MaybeSpeech)
                {
                    events[0] = Complete(_lastVoicedEndSample + _speechPadSamples);
                    count = 1;
                }

                _state = SpeechState.Silence;
                return count;
            }

            if (_state == SpeechState.Speech)
            {
                _state = SpeechState.MaybeSilence;
            }
        }

        // Validation keeps unconfirmed speech well below MaxSegment, so only confirmed segments need a split.
        Debug.Assert(
            IsSpeechOpen || _processedSamples + WindowSamples - _segmentStartSample <= _maxSegmentSamples,
            "Unconfirmed speech reached MaxSegment.");
        if (allowSplit && IsSpeechOpen && _processedSamples + WindowSamples - _segmentStartSample > _maxSegmentSamples)
        {
            count += Split(events[count..]);
        }

        return count;
    }

    private int TryConfirm(Span<SegmenterEvent> events)
    {
        if (_lastVoicedEndSample - _speechStartSample < _minSpeechSamples)
        {
            return 0;
        }

        _state = SpeechState.Speech;
        events[0] = SegmenterEvent.SpeechStarted(_segmentStartSample);
        return 1;
    }

    private int FlushCore(Span<SegmenterEvent> events)
    {
        int count = 0;
        if (IsSpeechOpen)
        {
            events[0] = Complete(_lastVoicedEndSample + _speechPadSamples);
            count = 1;
        }

        // An unconfirmed segment is shorter than MinSpeech: dropped, as silence would have dropped it.
        _state = SpeechState.Silence;
        _flushed = true;
        return count;
    }

    /// <summary>Closes the open segment at <paramref name="paddedEndSample"/>, clipped to the audio processed so far.</summary>
    private SegmenterEvent Complete(long paddedEndSample)
    {
        long end = Math.Min(paddedEndSample, _processedSamples);
        _previousEndSample = end;
        return SegmenterEvent.SegmentCompleted(_segmentStartSample, end);
    }

    private int Split(Span<SegmenterEvent> events)
    {
        long lastWindow = _windowCount - 1;
        long searchFromSample = _segmentStartSample + _maxSegmentSamples / 2;
        long halfWindow = WindowSamples / 2;

        // The first window whose middle is in the last half; the segment is at least that long by now.
        long firstCandidate = Math.Max(
            _historyStartWindow,
            (searchFromSample - halfWindow + WindowSamples - 1) / WindowSamples);
        Debug.Assert(firstCandidate <= lastWindow, "A split found no window in the last half of MaxSegment.");

        long quietest = firstCandidate;
        float quietestProbability = float.MaxValue;
        for (long window = firstCandidate; window <= lastWindow; window++)
        {
            float probability = _history[window % _history.Length];
            if (probability <= quietestProbability)
            {
                quietest = window;
                quietestProbability = probability;
            }
        }

        long cutSample = quietest * WindowSamples + halfWindow;

        // When the cut falls in a pause, each side keeps no more than SpeechPad of it, as at a natural boundary.
        long lastVoicedBefore = LastVoicedWindow(_historyStartWindow, quietest);
        long firstEnd = lastVoicedBefore == quietest
            ? cutSample
            : Math.Min(cutSample, (lastVoicedBefore + 1) * WindowSamples + _speechPadSamples);
        events[0] = Complete(firstEnd);

        // The second half of the cut window belongs to the continuation, so it is searched too: with no pause in
        // sight the cut is in the window just processed, and the continuation is that window's second half.
        long firstVoicedAfter = FirstVoicedWindow(quietest, lastWindow);
        if (firstVoicedAfter < 0)
        {
            // The rest is silence shorter than MinSilence: nothing left to continue.
            _state = SpeechState.Silence;
            return 1;
        }

        // The continuation needs no MinSpeech: it is the same speech, already confirmed. Its history starts at its
        // first voiced window, as a segment's always does; the silent windows before it lie more than half of
        // MaxSegment before any later cut and are never candidates.
        _speechStartSample = Math.Max(cutSample, firstVoicedAfter * WindowSamples);
        _segmentStartSample = Math.Max(cutSample, (firstVoicedAfter * WindowSamples) - _leadingPadSamples);
        _historyStartWindow = firstVoicedAfter;
        Debug.Assert(_processedSamples + WindowSamples - _segmentStartSample <= _maxSegmentSamples, "A split left too long a remainder.");
        events[1] = SegmenterEvent.SpeechStarted(_segmentStartSample);
        return 2;
    }

    /// <summary>
    /// The last window in [from, to] that counts as speech. <paramref name="from"/> is the first window of the
    /// segment's history, which is always voiced, so it is the answer when nothing later is.
    /// </summary>
    private long LastVoicedWindow(long from, long to)
    {
        for (long window = to; window > from; window--)
        {
            if (_history[window % _history.Length] >= _negativeThreshold)
            {
                return window;
            }
        }

        return from;
    }

    /// <summary>The first window in [from, to] that counts as speech, or -1.</summary>
    private long FirstVoicedWindow(long from, long to)
    {
        for (long window = from; window <= to; window++)
        {
            if (_history[window % _history.Length] >= _negativeThreshold)
            {
                return window;
            }
        }

        return -1;
    }

    private static void RequireRoom(Span<SegmenterEvent> events)
    {
        if (events.Length < MaxEventsPerCall)
        {
            throw new ArgumentException(
                $"The event span needs room for {MaxEventsPerCall} events; it has {events.Length}.", nameof(events));
        }
    }

    private void ThrowIfFlushed()
    {
        if (_flushed)
        {
            throw new InvalidOperationException("The segmenter has been flushed; call Reset() to start a new stream.");
        }
    }
}
