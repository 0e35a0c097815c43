using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace AsrService.Core.Vad;

/// <summary>
/// Voice-activity detection for one 16 kHz audio stream: cuts what it is given into model windows, runs the model,
/// segments the probabilities and queues events carrying each completed segment's audio.
/// </summary>
/// <remarks>
/// <para>
/// Audio is kept in one linear buffer (so that the open segment can be handed out as a single span) holding only
/// what a future event can still include: the pre-roll for SpeechPad when no segment is open, the open segment and
/// the incomplete next window otherwise. The detector's own buffer holds about a second and is compacted only when
/// full, so a compaction copies at most twice as much as was appended since the previous one, and a long silent
/// stream never grows it. A longer segment moves into a buffer rented from the shared array pool, doubling up to 1.5
/// times MaxSegment, which goes back to the pool as soon as what is still needed fits the own buffer again (the
/// segment has ended): a stream holds memory for its longest segment only while it is in one.
/// </para>
/// <para>
/// Per window nothing is allocated; each completed segment allocates its own copy of its audio, which outlives the
/// buffer. Events wait in a queue until <see cref="TryRead"/> drains them. Not thread-safe.
/// </para>
/// </remarks>
public sealed class VoiceActivityDetector : IDisposable
{
    /// <summary>The rate of the audio this detector takes and of every sample offset it reports.</summary>
    public const int SampleRate = 16_000;

    private readonly IVoiceActivityStream _stream;
    private readonly SpeechSegmenter _segmenter;
    private readonly SegmenterEvent[] _segmenterEvents = new SegmenterEvent[SpeechSegmenter.MaxEventsPerCall];
    private readonly Queue<VadEvent> _events = new(8);
    private readonly int _windowSamples;
    private readonly int _initialAudioCapacity;
    private readonly int _maxAudioCapacity;

    private readonly float[] _ownAudio;

    // _ownAudio, or an array rented from ArrayPool<float>.Shared while a long segment needs more; of a rented array
    // only the first _capacity samples are used (the pool rounds sizes up).
    private float[] _audio;
    private int _capacity;
    private long _audioStartSample;
    private int _audioCount;
    private bool _flushed;
    private bool _disposed;

    // The copy handed out by TryGetClosingSegment, which the segment's completion reuses if its bounds still match.
    private SpeechSegment? _closing;

    public VoiceActivityDetector(IVoiceActivityModel model, VadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new VadOptions();
        _windowSamples = model.WindowSamples;
        if (_windowSamples <= 0)
        {
            throw new ArgumentException($"The model's WindowSamples must be positive; it is {_windowSamples}.", nameof(model));
        }

        // Validates the options before the model allocates anything.
        _segmenter = new SpeechSegmenter(_windowSamples, SampleRate, options);

        long maxSegmentSamples = VadOptions.ToSamples(options.MaxSegment, SampleRate);
        long padSamples = VadOptions.ToSamples(options.SpeechPad > options.EffectiveLeadingPad ? options.SpeechPad : options.EffectiveLeadingPad, SampleRate);

        // At most MaxSegment is ever needed at once (the open segment, which always has room for the window being
        // filled); the extra half guarantees each compaction frees a useful amount.
        _maxAudioCapacity = checked((int)(maxSegmentSamples + maxSegmentSamples / 2 + _windowSamples));
        _initialAudioCapacity = (int)Math.Min(_maxAudioCapacity, Math.Max(SampleRate, 4 * (padSamples + _windowSamples)));
        _ownAudio = new float[_initialAudioCapacity];
        _audio = _ownAudio;
        _capacity = _initialAudioCapacity;

        _stream = model.CreateStream();
    }

    /// <summary>Samples per model window.</summary>
    public int WindowSamples => _windowSamples;

    /// <summary>Samples given to <see cref="Accept"/> since the start of the stream.</summary>
    public long AcceptedSamples => _audioStartSample + _audioCount;

    /// <summary>True between a SpeechStarted event and its SegmentCompleted, as seen by the detector (not the reader).</summary>
    public bool IsSpeechOpen => _segmenter.IsSpeechOpen;

    /// <summary>The padded start sample of the open segment, or -1 when none is open.</summary>
    public long OpenSegmentStartSample => _segmenter.OpenSegmentStartSample;

    /// <summary>
    /// The audio from the padded start of the open segment to the last sample accepted, for interim decoding; empty
    /// when no segment is open. Valid until the next call that changes the detector.
    /// </summary>
    public ReadOnlySpan<float> OpenSegmentSamples
    {
        get
        {
            long start = _segmenter.OpenSegmentStartSample;
            return start < 0
                ? ReadOnlySpan<float>.Empty
                : _audio.AsSpan((int)(start - _audioStartSample), (int)(AcceptedSamples - start));
        }
    }

    /// <summary>
    /// The open segment as it will complete if the silence now under way lasts until MinSilence: available once that
    /// silence has lasted SpeechPad, when all of the segment's padded audio has arrived, which is MinSilence minus
    /// SpeechPad before the detector can know that it ends (a final decoded from it early is ready sooner). Returns
    /// the same instance until the segment changes, and the SegmentCompleted event then carries that instance if the
    /// segment completes with these bounds; if speech resumes, the segment completes later as a new instance.
    /// </summary>
    public bool TryGetClosingSegment([NotNullWhen(true)] out SpeechSegment? segment)
    {
        long end = _segmenter.ClosingEndSample;
        long start = _segmenter.OpenSegmentStartSample;
        if (end < 0 || start < 0)
        {
            segment = null;
            return false;
        }

        _closing = Segment(start, end);
        segment = _closing;
        return true;
    }

    /// <summary>Events queued and not yet read.</summary>
    public int PendingEventCount => _events.Count;

    internal int BufferedSampleCount => _audioCount;

    /// <summary>Buffered samples that a future event can still include; the rest goes at the next compaction.</summary>
    internal long NeededSampleCount => AcceptedSamples - Math.Min(_segmenter.EarliestNeededSample, AcceptedSamples);

    internal int BufferCapacity => _capacity;

    /// <summary>
    /// Runs the voice-activity model over the whole of <paramref name="samples"/> and returns its segments: the
    /// offline path, for files.
    /// </summary>
    public static IReadOnlyList<SpeechSegment> SegmentAll(
        IVoiceActivityModel model, ReadOnlySpan<float> samples, VadOptions? options = null)
    {
        using var detector = new VoiceActivityDetector(model, options);
        var segments = new List<SpeechSegment>();

        // In slices, so that completed segments move to the list instead of piling up in the queue.
        int sliceSamples = SampleRate * 10;
        while (!samples.IsEmpty)
        {
            int take = Math.Min(sliceSamples, samples.Length);
            detector.Accept(samples[..take]);
            samples = samples[take..];
            detector.DrainSegmentsInto(segments);
        }

        detector.Flush();
        detector.DrainSegmentsInto(segments);
        return segments;
    }

    /// <summary>Appends 16 kHz mono samples, in chunks of any size, and runs the model on every window completed.</summary>
    public void Accept(ReadOnlySpan<float> samples)
    {
        ThrowIfUnusable();
        while (!samples.IsEmpty)
        {
            int pending = PendingSamples;
            int take = Math.Min(_windowSamples - pending, samples.Length);
            EnsureRoom(take);
            samples[..take].CopyTo(_audio.AsSpan(_audioCount));
            _audioCount += take;
            samples = samples[take..];

            if (pending + take == _windowSamples)
            {
                int written = _segmenter.Process(_stream.Process(PendingWindow(_windowSamples)), _segmenterEvents);
                Publish(written);
            }
        }

        ReturnRentedBufferIfUnneeded();
    }

    /// <summary>
    /// Ends the stream: runs the model on the last partial window padded with zeros, then completes any open segment
    /// at the end of the audio. Further calls do nothing; <see cref="Accept"/> throws until <see cref="Reset"/>.
    /// </summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_flushed)
        {
            return;
        }

        _flushed = true;
        int pending = PendingSamples;
        int written;
        if (pending == 0)
        {
            written = _segmenter.Flush(_segmenterEvents);
        }
        else
        {
            // The zeros go past the counted samples, so they never become part of a segment.
            EnsureRoom(_windowSamples - pending);
            _audio.AsSpan(_audioCount, _windowSamples - pending).Clear();
            float probability = _stream.Process(PendingWindow(_windowSamples));
            written = _segmenter.Flush(probability, pending, _segmenterEvents);
        }

        Publish(written);
        ReturnRentedBufferIfUnneeded();
    }

    /// <summary>Takes the oldest queued event, if any.</summary>
    public bool TryRead(out VadEvent vadEvent) => _events.TryDequeue(out vadEvent);

    /// <summary>Forgets the stream so far (audio, events, model state), as for a new stream.</summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _stream.Reset();
        _segmenter.Reset();
        _events.Clear();
        _closing = null;
        UseBuffer(_ownAudio, _initialAudioCapacity);
        _audioStartSample = 0;
        _audioCount = 0;
        _flushed = false;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        UseBuffer(_ownAudio, _initialAudioCapacity);
        _stream.Dispose();
    }

    /// <summary>Accepted samples not yet given to the model (always less than a window between calls).</summary>
    private int PendingSamples => (int)(AcceptedSamples - _segmenter.ProcessedSamples);

    /// <summary>The window starting at the first sample not yet given to the model.</summary>
    private ReadOnlySpan<float> PendingWindow(int length) =>
        _audio.AsSpan((int)(_segmenter.ProcessedSamples - _audioStartSample), length);

    private void Publish(int count)
    {
        for (int i = 0; i < count; i++)
        {
            SegmenterEvent found = _segmenterEvents[i];
            if (found.Kind == VadEventKind.SpeechStarted)
            {
                _events.Enqueue(VadEvent.SpeechStarted(found.StartSample));
                continue;
            }

            SpeechSegment segment = Segment(found.StartSample, found.EndSample);
            _closing = null;
            _events.Enqueue(VadEvent.SegmentCompleted(segment));
        }
    }

    /// <summary>
    /// The segment [<paramref name="start"/>, <paramref name="end"/>) with its own copy of the audio, or the one
    /// <see cref="TryGetClosingSegment"/> handed out if it has these bounds (the audio is the same).
    /// </summary>
    private SpeechSegment Segment(long start, long end)
    {
        if (_closing is not null && _closing.StartSample == start && _closing.EndSample == end)
        {
            return _closing;
        }

        // Retention follows the segmenter's EarliestNeededSample, so the whole segment is still buffered.
        Debug.Assert(start >= _audioStartSample && end <= AcceptedSamples, "Segment audio was discarded.");
        return new SpeechSegment(start, end, _audio.AsSpan((int)(start - _audioStartSample), (int)(end - start)).ToArray());
    }

    /// <summary>Makes room for <paramref name="extra"/> more samples after the counted ones.</summary>
    private void EnsureRoom(int extra)
    {
        if (_audioCount + extra <= _capacity)
        {
            return;
        }

        long keepFromSample = _segmenter.EarliestNeededSample;
        int discard = (int)(keepFromSample - _audioStartSample);
        int keep = _audioCount - discard;
        int needed = keep + extra;

        // Grow rather than compact when compaction would leave the buffer more than half full: otherwise a long
        // segment would be shifted down again after every few windows.
        bool grow = needed > _capacity / 2 && _capacity < _maxAudioCapacity;
        int capacity = grow ? Math.Min(_maxAudioCapacity, Math.Max(2 * _capacity, needed)) : _capacity;
        if (needed > capacity)
        {
            // The segmenter bounds an open segment by MaxSegment, and the capacity exceeds it.
            throw new InvalidOperationException(
                $"The VAD audio buffer ({capacity} samples) cannot hold {needed}; this is a bug.");
        }

        if (grow)
        {
            float[] rented = ArrayPool<float>.Shared.Rent(capacity);
            _audio.AsSpan(discard, keep).CopyTo(rented);
            UseBuffer(rented, capacity);
        }
        else
        {
            _audio.AsSpan(discard, keep).CopyTo(_audio);
        }

        _audioStartSample = keepFromSample;
        _audioCount = keep;
    }

    /// <summary>
    /// Once what a future event can still include fits in half the detector's own buffer (the long segment has
    /// ended), moves it there and gives the rented buffer back to the pool.
    /// </summary>
    private void ReturnRentedBufferIfUnneeded()
    {
        if (ReferenceEquals(_audio, _ownAudio))
        {
            return;
        }

        int keep = (int)NeededSampleCount;
        int discard = _audioCount - keep;
        if (keep > _initialAudioCapacity / 2)
        {
            return;
        }

        _audio.AsSpan(discard, keep).CopyTo(_ownAudio);
        _audioStartSample += discard;
        _audioCount = keep;
        UseBuffer(_ownAudio, _initialAudioCapacity);
    }

    /// <summary>Switches to <paramref name="buffer"/>, giving a rented buffer it replaces back to the pool.</summary>
    private void UseBuffer(float[] buffer, int capacity)
    {
        if (!ReferenceEquals(_audio, _ownAudio) && !ReferenceEquals(_audio, buffer))
        {
            ArrayPool<float>.Shared.Return(_audio);
        }

        _audio = buffer;
        _capacity = capacity;
    }

    private void DrainSegmentsInto(List<SpeechSegment> segments)
    {
        while (_events.TryDequeue(out VadEvent vadEvent))
        {
            if (vadEvent.IsSegmentCompleted)
            {
                segments.Add(vadEvent.Segment);
            }
        }
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_flushed)
        {
            throw new InvalidOperationException("The detector has been flushed; call Reset() to start a new stream.");
        }
    }
}
