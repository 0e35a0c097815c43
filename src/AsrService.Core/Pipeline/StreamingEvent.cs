namespace AsrService.Core.Pipeline;

public enum StreamingEventKind
{
    /// <summary>Speech began at <see cref="StreamingEvent.Start"/>.</summary>
    SpeechBegin,

    /// <summary>Speech ended at <see cref="StreamingEvent.End"/>; the final result of the segment follows.</summary>
    SpeechEnd,

    /// <summary>A hypothesis of the open segment; it may still change.</summary>
    InterimResult,

    /// <summary>The transcript of a closed segment; it will not change.</summary>
    FinalResult,
}

/// <summary>
/// One thing a streaming recognition has to tell its client. Offsets count from the start of the stream's audio.
/// </summary>
public sealed record StreamingEvent(
    StreamingEventKind Kind,
    TimeSpan Start,
    TimeSpan End,
    string Text = "",
    float Confidence = 0,
    float Stability = 0)
{
    public bool IsResult => Kind is StreamingEventKind.InterimResult or StreamingEventKind.FinalResult;
}
