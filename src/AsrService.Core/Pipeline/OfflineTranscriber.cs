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
/// silences make it emit nothing.
/// </summary>
public sealed class OfflineTranscriber
{
    private const int BlockSamples = VoiceActivityDetector.SampleRate;

    private readonly ISpeechRecognizer _recognizer;
    private readonly IVoiceActivityModel _voiceActivityModel;
    private readonly VadOptions _vadOptions;
    private readonly DecodeScheduler? _scheduler;

    public OfflineTranscriber(ISpeechRecognizer recognizer, IVoiceActivityModel voiceActivityModel, VadOptions? vadOptions = null, DecodeScheduler? scheduler = null)
    {
        _scheduler = scheduler;
        _recognizer = recognizer;
        _voiceActivityModel = voiceActivityModel;
        _vadOptions = vadOptions ?? VadOptions.CreateOffline();
        _vadOptions.Validate();
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
        using var session = _recognizer.CreateSession();
        var block = new float[BlockSamples];
        long samplesRead = 0;
        int read;
        while ((read = audio.Read(block)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            samplesRead += read;
            detector.Accept(block.AsSpan(0, read));
            foreach (var segment in DecodeCompleted(detector, session, cancellationToken))
            {
                yield return segment;
            }

            progress?.Report(TimeSpan.FromSeconds(samplesRead / (double)VoiceActivityDetector.SampleRate));
        }

        detector.Flush();
        foreach (var segment in DecodeCompleted(detector, session, cancellationToken))
        {
            yield return segment;
        }
    }

    private IEnumerable<TranscriptSegment> DecodeCompleted(VoiceActivityDetector detector, IRecognizerSession session, CancellationToken cancellationToken)
    {
        while (detector.TryRead(out var vadEvent))
        {
            if (vadEvent.Segment is not { } segment)
            {
                continue;
            }

            RecognitionResult result;
            using (_scheduler?.EnterFinal(cancellationToken))
            {
                result = SegmentDecoding.DecodeFinal(session, segment, _vadOptions, cancellationToken);
            }

            if (result.Text.Length > 0)
            {
                yield return new TranscriptSegment(segment.StartTime, segment.EndTime, result.Text, result.Confidence);
            }
        }
    }
}
