using System.Diagnostics.CodeAnalysis;

namespace AsrService.Core.Vad;

/// <summary>What <see cref="VoiceActivityDetector.TryRead"/> hands out: speech began, or a segment is complete.</summary>
public readonly struct VadEvent
{
    private VadEvent(VadEventKind kind, long startSample, SpeechSegment? segment)
    {
        Kind = kind;
        StartSample = startSample;
        Segment = segment;
    }

    public VadEventKind Kind { get; }

    /// <summary>The padded start sample of the segment that started or completed.</summary>
    public long StartSample { get; }

    /// <summary>The completed segment; null for <see cref="VadEventKind.SpeechStarted"/>.</summary>
    public SpeechSegment? Segment { get; }

    [MemberNotNullWhen(true, nameof(Segment))]
    public bool IsSegmentCompleted => Segment is not null;

    public static VadEvent SpeechStarted(long startSample) => new(VadEventKind.SpeechStarted, startSample, null);

    public static VadEvent SegmentCompleted(SpeechSegment segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        return new VadEvent(VadEventKind.SegmentCompleted, segment.StartSample, segment);
    }

    public override string ToString() => IsSegmentCompleted ? $"SegmentCompleted {Segment}" : $"SpeechStarted {StartSample}";
}
