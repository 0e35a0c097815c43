namespace AsrService.Core.Vad;

/// <summary>
/// A boundary found by <see cref="SpeechSegmenter"/>, in samples from the start of the stream. A value type so that
/// the per-window call can write events into a caller's span without allocating.
/// </summary>
public readonly record struct SegmenterEvent
{
    private SegmenterEvent(VadEventKind kind, long startSample, long endSample)
    {
        Kind = kind;
        StartSample = startSample;
        EndSample = endSample;
    }

    public VadEventKind Kind { get; }

    /// <summary>The padded first sample of the segment.</summary>
    public long StartSample { get; }

    /// <summary>The padded end (exclusive) of a completed segment; -1 for <see cref="VadEventKind.SpeechStarted"/>.</summary>
    public long EndSample { get; }

    public static SegmenterEvent SpeechStarted(long startSample) => new(VadEventKind.SpeechStarted, startSample, -1);

    public static SegmenterEvent SegmentCompleted(long startSample, long endSample) =>
        new(VadEventKind.SegmentCompleted, startSample, endSample);
}
