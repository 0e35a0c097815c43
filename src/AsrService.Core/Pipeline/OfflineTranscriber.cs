using System.Runtime.CompilerServices;
using AsrService.Core.Audio;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Pipeline;

/// <summary>One transcribed speech segment, with offsets from the start of the audio.</summary>
public sealed record TranscriptSegment(TimeSpan Start, TimeSpan End, string Text, float Confidence);

/// <summary>
/// The offline pipeline: 16 kHz audio is read in blocks, cut into speech segments by the voice-activity detector, and
/// each segment is decoded as soon as it closes, so a file of any length is transcribed in bounded memory and results
/// come out while the rest is still being read. Moonshine must see speech segments rather than whole files: long
/// silences make it emit nothing. With more than one parallel decode, closed segments are decoded concurrently (each
/// on its own recognizer session) while the detector reads on; results still come out in order. With a scheduler
/// that groups finals (<see cref="DecodeScheduler.FinalsPerDecode"/> above 1), the segments are decoded in its groups
/// instead, their decoder steps batched with each other's and with those of whatever else uses that scheduler.
/// </summary>
public sealed class OfflineTranscriber
{
    /// <summary>Most decodes one transcription may run at once.</summary>
    public const int MaxParallelDecodes = 64;

    private const int BlockSamples = VoiceActivityDetector.SampleRate;

    private readonly ISpeechRecognizer _recognizer;
    private readonly IVoiceActivityModel _voiceActivityModel;
    private readonly VadOptions _vadOptions;
    private readonly DecodeScheduler? _scheduler;
    private readonly int _parallelDecodes;

    /// <param name="scheduler">Decode slots shared with other work (the server's streams), or the groups that decode
    /// segments together; null decodes at once.</param>
    /// <param name="parallelDecodes">Decodes one transcription keeps in flight while it reads on.</param>
    public OfflineTranscriber(
        ISpeechRecognizer recognizer, IVoiceActivityModel voiceActivityModel, VadOptions? vadOptions = null, DecodeScheduler? scheduler = null, int parallelDecodes = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelDecodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(parallelDecodes, MaxParallelDecodes);
        _scheduler = scheduler;
        _recognizer = recognizer;
        _voiceActivityModel = voiceActivityModel;
        _vadOptions = vadOptions ?? VadOptions.CreateOffline();
        _vadOptions.Validate();
        _parallelDecodes = parallelDecodes;
    }

    /// <summary>
    /// Transcribes <paramref name="audio"/> (mono, 16 kHz). <paramref name="progress"/> receives the amount of audio
    /// read so far.
    /// </summary>
    public IEnumerable<TranscriptSegment> Transcribe(IAudioSource audio, IProgress<TimeSpan>? progress = null, CancellationToken cancellationToken = default)
    {
        if (audio.SampleRate != VoiceActivityDetector.SampleRate)
        {
            throw new ArgumentException($"the transcriber needs {VoiceActivityDetector.SampleRate} Hz audio, got {audio.SampleRate} Hz", nameof(audio));
        }

        using var detector = new VoiceActivityDetector(_voiceActivityModel, _vadOptions);
        using var decodes = new OrderedDecodes(this, cancellationToken);
        var block = new float[BlockSamples];
        long samplesRead = 0;
        int read;
        while ((read = audio.Read(block)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            samplesRead += read;
            detector.Accept(block.AsSpan(0, read));
            foreach (var segment in DecodeCompleted(detector, decodes))
            {
                yield return segment;
            }

            progress?.Report(TimeSpan.FromSeconds(samplesRead / (double)VoiceActivityDetector.SampleRate));
        }

        detector.Flush();
        foreach (var segment in DecodeCompleted(detector, decodes))
        {
            yield return segment;
        }

        while (decodes.TryCompleteOldest(out var done))
        {
            if (done is not null)
            {
                yield return done;
            }
        }
    }

    /// <summary>Starts a decode for each segment the detector closed; returns the results that are due, in order.</summary>
    private static IEnumerable<TranscriptSegment> DecodeCompleted(VoiceActivityDetector detector, OrderedDecodes decodes)
    {
        while (detector.TryRead(out var vadEvent))
        {
            if (vadEvent.Segment is not { } segment)
            {
                continue;
            }

            // At the limit, the oldest decode must finish before another starts: memory stays bounded and output in order.
            if (decodes.IsFull && decodes.TryCompleteOldest(out var done) && done is not null)
            {
                yield return done;
            }

            decodes.Start(segment);
        }
    }

    private RecognitionResult Decode(IRecognizerSession session, SpeechSegment segment, CancellationToken cancellationToken)
    {
        using (_scheduler?.EnterFinal(cancellationToken))
        {
            return SegmentDecoding.DecodeFinal(session, segment, _vadOptions, cancellationToken);
        }
    }

    /// <summary>
    /// Decodes in flight, oldest first, each on a session of its own or in the scheduler's groups. With one parallel
    /// decode and no groups, a segment is decoded at once on the calling thread, exactly as a sequential loop would.
    /// </summary>
    private sealed class OrderedDecodes(OfflineTranscriber owner, CancellationToken cancellationToken) : IDisposable
    {
        private readonly Queue<(SpeechSegment Segment, Task<RecognitionResult> Result, IRecognizerSession? Session)> _inFlight = new();
        private readonly Stack<IRecognizerSession> _idle = new();
        private readonly List<IRecognizerSession> _all = [];

        public bool IsFull => _inFlight.Count >= owner._parallelDecodes;

        public void Start(SpeechSegment segment)
        {
            if (owner._scheduler is { FinalsPerDecode: > 1 } groups)
            {
                // Decoded in one of the scheduler's groups, on its sessions.
                _inFlight.Enqueue((segment, groups.DecodeFinalAsync(null, segment, owner._vadOptions, cancellationToken).AsTask(), null));
                return;
            }

            if (!_idle.TryPop(out var session))
            {
                session = owner._recognizer.CreateSession();
                _all.Add(session);
            }

            var result = owner._parallelDecodes == 1
                ? Task.FromResult(owner.Decode(session, segment, cancellationToken))
                : Task.Run(() => owner.Decode(session, segment, cancellationToken), cancellationToken);
            _inFlight.Enqueue((segment, result, session));
        }

        /// <summary>Waits for the oldest decode; <paramref name="done"/> is its segment, or null when it was silent.</summary>
        public bool TryCompleteOldest(out TranscriptSegment? done)
        {
            done = null;
            if (!_inFlight.TryDequeue(out var oldest))
            {
                return false;
            }

            var result = oldest.Result.GetAwaiter().GetResult();
            if (oldest.Session is not null)
            {
                _idle.Push(oldest.Session);
            }

            if (result.Text.Length > 0)
            {
                done = new TranscriptSegment(oldest.Segment.StartTime, oldest.Segment.EndTime, result.Text, result.Confidence);
            }

            return true;
        }

        public void Dispose()
        {
            // A session may only go once its decode has stopped: after a failure or an abandoned enumeration, wait.
            foreach (var (_, result, _) in _inFlight)
            {
                try
                {
                    result.Wait(CancellationToken.None);
                }
                catch (AggregateException)
                {
                    // Reported by whoever waited for it first, or no longer wanted.
                }
            }

            foreach (var session in _all)
            {
                session.Dispose();
            }
        }
    }
}
