using System.Diagnostics;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Pipeline;

/// <summary>
/// The per-call state of a streaming recognition: a voice-activity detector cutting 16 kHz audio into segments and a
/// recognizer session decoding them. While a segment is open and interim results are wanted, the open audio is
/// re-decoded every <see cref="StreamingOptions.InterimInterval"/> of new audio; when the segment closes its final
/// transcript is decoded once. Decodes go through a <see cref="DecodeScheduler"/> when one is given: finals wait for
/// a slot, interims are skipped when none is free. Knows nothing of transports: the caller feeds samples and forwards
/// the events. Not thread-safe; one per call.
/// </summary>
/// <remarks>
/// With <see cref="StreamingOptions.EarlyFinals"/>, the final is decoded while the segment's closing silence runs:
/// once that silence has lasted the VAD's SpeechPad, the segment's audio is complete, and the detector only waits
/// for the rest of MinSilence (200 ms by default) to be sure that speech does not resume. The result is sent when the
/// segment completes with the same bounds, as the same decode of the same samples would give then; if speech resumes
/// instead, it is dropped (and serves as the draft of the next interim).
/// </remarks>
public sealed class RecognitionStream : IDisposable
{
    private readonly VoiceActivityDetector _detector;
    private readonly IRecognizerSession _session;
    private readonly StreamingOptions _options;
    private readonly long _interimIntervalSamples;
    private long _nextInterimAtSample = long.MaxValue;
    private string _previousInterim = string.Empty;
    private int[] _draft = [];
    // The final decoded early for a segment in its closing silence (the detector's instance), until it is sent or dropped.
    private (SpeechSegment Segment, RecognitionResult Result)? _early;
    private readonly DecodeScheduler? _scheduler;
    private bool _completed;

    public RecognitionStream(ISpeechRecognizer recognizer, IVoiceActivityModel voiceActivityModel, StreamingOptions options, DecodeScheduler? scheduler = null)
    {
        options.Validate();
        _options = options;
        _scheduler = scheduler;
        _interimIntervalSamples = (long)(options.InterimInterval.TotalSeconds * VoiceActivityDetector.SampleRate);
        _detector = new VoiceActivityDetector(voiceActivityModel, options.Vad);
        try
        {
            _session = recognizer.CreateSession();
        }
        catch
        {
            _detector.Dispose();
            throw;
        }
    }

    /// <summary>Audio received so far, in 16 kHz samples.</summary>
    public long AcceptedSamples => _detector.AcceptedSamples;

    /// <summary>
    /// Takes the next block of 16 kHz mono audio and appends what it caused to <paramref name="events"/>. The samples
    /// are copied before anything is awaited, so the caller may reuse their buffer as soon as the call yields.
    /// </summary>
    public async ValueTask AcceptAsync(ReadOnlyMemory<float> samples, ICollection<StreamingEvent> events, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        _detector.Accept(samples.Span);
        await DrainAsync(events, cancellationToken).ConfigureAwait(false);
        if (_options.EarlyFinals && await DecodeClosingSegmentAsync(cancellationToken).ConfigureAwait(false))
        {
            // The segment's final is decoded: no interim could say more.
            return;
        }

        if (_options.InterimResults && _detector.IsSpeechOpen && _detector.AcceptedSamples >= _nextInterimAtSample)
        {
            if (_scheduler is null)
            {
                DecodeInterim(events, CancellationToken.None, cancellationToken);
            }
            else if (_scheduler.TryEnterInterim(out var lease))
            {
                using (lease)
                {
                    DecodeInterim(events, lease.Preempted, cancellationToken);
                }
            }
            else
            {
                // Every slot is busy or a final is waiting: skip this update rather than queue it.
                _nextInterimAtSample = _detector.AcceptedSamples + _interimIntervalSamples;
            }
        }
    }

    /// <summary>End of audio: closes the open segment, decodes it, and appends the last events.</summary>
    public async ValueTask CompleteAsync(ICollection<StreamingEvent> events, CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            return;
        }

        _detector.Flush();
        await DrainAsync(events, cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    private async ValueTask DrainAsync(ICollection<StreamingEvent> events, CancellationToken cancellationToken)
    {
        while (_detector.TryRead(out var vadEvent))
        {
            if (vadEvent.Segment is not { } segment)
            {
                var start = SamplesToTime(vadEvent.StartSample);
                if (_options.VoiceActivityEvents)
                {
                    events.Add(new StreamingEvent(StreamingEventKind.SpeechBegin, start, start));
                }

                _previousInterim = string.Empty;
                _draft = [];
                _nextInterimAtSample = vadEvent.StartSample + _interimIntervalSamples;
                DropEarlyFinal();
                continue;
            }

            if (_options.VoiceActivityEvents)
            {
                events.Add(new StreamingEvent(StreamingEventKind.SpeechEnd, segment.EndTime, segment.EndTime));
            }

            _nextInterimAtSample = long.MaxValue;
            _previousInterim = string.Empty;
            _draft = [];

            // The final is decoded from scratch, not from the last interim's draft: the int8 models quantise
            // activations per call, so checking a draft in one parallel call can flip a near-tie that token-by-token
            // greedy decoding would not (57 of 251 drafted updates on the tiny dev set, see
            // benchmarks/results/2026-11-22-interim-update.md), and a final must be the plain greedy result. An early
            // final decoded the very same samples (the detector hands out the same segment only if its bounds did not
            // move).
            RecognitionResult result;
            if (_early is { } early && ReferenceEquals(segment, early.Segment))
            {
                result = early.Result;
                _early = null;
            }
            else
            {
                DropEarlyFinal();
                result = await DecodeFinalAsync(segment, cancellationToken).ConfigureAwait(false);
            }

            if (result.Text.Length > 0)
            {
                events.Add(new StreamingEvent(StreamingEventKind.FinalResult, segment.StartTime, segment.EndTime, result.Text, result.Confidence, 1f));
            }
        }
    }

    private ValueTask<RecognitionResult> DecodeFinalAsync(SpeechSegment segment, CancellationToken cancellationToken) =>
        _scheduler is null
            ? ValueTask.FromResult(SegmentDecoding.DecodeFinal(_session, segment, _options.Vad, cancellationToken))
            : _scheduler.DecodeFinalAsync(_session, segment, _options.Vad, cancellationToken);

    /// <summary>
    /// While the open segment's closing silence runs and its audio is complete, decodes its final once (as a final:
    /// through the scheduler's queue for finals) and returns true; returns false when no segment is closing, dropping
    /// an early final whose segment went on.
    /// </summary>
    private async ValueTask<bool> DecodeClosingSegmentAsync(CancellationToken cancellationToken)
    {
        if (!_detector.TryGetClosingSegment(out var closing))
        {
            DropEarlyFinal();
            return false;
        }

        if (!ReferenceEquals(closing, _early?.Segment))
        {
            DropEarlyFinal();
            _early = (closing, await DecodeFinalAsync(closing, cancellationToken).ConfigureAwait(false));
            _scheduler?.CountEarlyFinal();
        }

        return true;
    }

    /// <summary>
    /// Forgets an early final whose segment did not complete as it was: speech resumed, or the segment was cut
    /// elsewhere. While the segment is open its tokens are a draft for the next interim (the greedy decode of its
    /// first part).
    /// </summary>
    private void DropEarlyFinal()
    {
        if (_early is not { } early)
        {
            return;
        }

        if (_detector.IsSpeechOpen && _detector.OpenSegmentStartSample == early.Segment.StartSample)
        {
            _draft = [.. early.Result.TokenIds];
        }

        _early = null;
        _scheduler?.CountDroppedEarlyFinal();
    }

    /// <summary>
    /// Decodes the open segment for an interim result; when <paramref name="preempted"/> is cancelled first (a final
    /// needs the slot), the update is dropped and the next one is due an interval later.
    /// </summary>
    private void DecodeInterim(ICollection<StreamingEvent> events, CancellationToken preempted, CancellationToken cancellationToken)
    {
        var start = _detector.OpenSegmentStartSample;
        var started = Stopwatch.GetTimestamp();
        RecognitionResult result;
        using (var stop = preempted.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(preempted, cancellationToken) : null)
        {
            try
            {
                result = _session.Recognize(_detector.OpenSegmentSamples, _draft, stop?.Token ?? cancellationToken);
            }
            catch (OperationCanceledException) when (preempted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                _nextInterimAtSample = _detector.AcceptedSamples + _interimIntervalSamples;
                return;
            }
        }

        _draft = [.. result.TokenIds];

        // Re-decoding an open segment costs more as it grows. Spacing interims by at least twice what the last one
        // cost keeps them under half of real time, so a long utterance makes interims rarer instead of making the
        // stream fall behind its audio and delay the final result.
        var costSamples = (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * VoiceActivityDetector.SampleRate);
        _nextInterimAtSample = _detector.AcceptedSamples + Math.Max(_interimIntervalSamples, 2 * costSamples);
        if (result.Text.Length == 0)
        {
            return;
        }

        var stability = Stability(_previousInterim, result.Text);
        _previousInterim = result.Text;
        events.Add(new StreamingEvent(
            StreamingEventKind.InterimResult, SamplesToTime(start), SamplesToTime(_detector.AcceptedSamples), result.Text, result.Confidence, stability));
    }

    /// <summary>
    /// The share of the hypothesis, in words, that the previous interim already had in the same place; words are
    /// compared without case or punctuation, which the model revises freely as a sentence grows.
    /// </summary>
    internal static float Stability(string previous, string current)
    {
        var before = WordErrorRate.Normalize(previous).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var now = WordErrorRate.Normalize(current).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var common = 0;
        while (common < before.Length && common < now.Length && before[common] == now[common])
        {
            common++;
        }

        return now.Length == 0 ? 0f : (float)common / now.Length;
    }

    private static TimeSpan SamplesToTime(long samples) =>
        TimeSpan.FromTicks(samples * TimeSpan.TicksPerSecond / VoiceActivityDetector.SampleRate);

    public void Dispose()
    {
        _completed = true;
        _session.Dispose();
        _detector.Dispose();
    }
}
