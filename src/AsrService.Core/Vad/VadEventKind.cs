namespace AsrService.Core.Vad;

/// <summary>What a voice-activity event reports.</summary>
public enum VadEventKind
{
    /// <summary>Speech has lasted at least MinSpeech; a segment is open from the given (padded) start sample.</summary>
    SpeechStarted,

    /// <summary>The open segment has closed: after MinSilence, at MaxSegment, or at the end of the stream.</summary>
    SegmentCompleted,
}
