using AsrService.Core.Recognition;
using AsrService.Core.Vad;

namespace AsrService.Core.Pipeline;

/// <summary>The final decode of a closed speech segment, shared by the offline and streaming pipelines.</summary>
internal static class SegmentDecoding
{
    // Moonshine sometimes answers a segment that opens with most of a second of background noise with an immediate
    // end-of-sequence (the meeting clip in ../shared/data/en-hard does, with the default 800 ms pad), while the same
    // speech with a short lead-in decodes correctly; a long lead-in is right for most speech (13.19 % against 13.67 %
    // WER on the dev set with 800 and 200 ms). So a segment the detector found speech in but that decodes to nothing
    // is decoded once more with all but this much of its leading pad removed.
    private static readonly TimeSpan s_retryLeadIn = TimeSpan.FromMilliseconds(200);

    public static RecognitionResult DecodeFinal(IRecognizerSession session, SpeechSegment segment, VadOptions options, CancellationToken cancellationToken) =>
        RetryIfEmpty(session, segment, options, session.Recognize(segment.Samples.Span, cancellationToken), cancellationToken);

    /// <summary>The second half of <see cref="DecodeFinal"/>, for a <paramref name="result"/> decoded elsewhere (in a group).</summary>
    public static RecognitionResult RetryIfEmpty(IRecognizerSession session, SpeechSegment segment, VadOptions options, RecognitionResult result, CancellationToken cancellationToken) =>
        NeedsRetry(segment, options, result, out var trim) ? session.Recognize(segment.Samples.Span[trim..], cancellationToken) : result;

    /// <summary>
    /// Whether <paramref name="result"/> is empty although the segment has a lead-in worth trimming (<see cref="RetryIfEmpty"/>
    /// then decodes it again from sample <paramref name="trim"/>); false means the result is final as it is.
    /// </summary>
    public static bool NeedsRetry(SpeechSegment segment, VadOptions options, RecognitionResult result, out int trim)
    {
        trim = (int)VadOptions.ToSamples(options.EffectiveLeadingPad - s_retryLeadIn, segment.SampleRate);
        return result.Text.Length == 0 && trim > 0 && trim < segment.Samples.Length / 2;
    }
}
