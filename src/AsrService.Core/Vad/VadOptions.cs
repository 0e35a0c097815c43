namespace AsrService.Core.Vad;

/// <summary>
/// How speech probabilities become segments. Bound from configuration and command-line flags alike, so every
/// property has a setter and a default; call <see cref="Validate"/> at start-up.
/// </summary>
/// <remarks>
/// The defaults come from <c>asr eval</c> on ../shared/data/librispeech-test-other-dev (tiny int8, WER with
/// LibriSpeech normalisation). Moonshine loses accuracy when a sentence is cut at a short pause, because each piece
/// is decoded without the other's context: minimum silence 500 ms / pad 200 ms gave 16.55 %, 1000 / 400 14.44 %,
/// 1000 / 800 13.67 %, 1500 / 800 13.19 % (the same as decoding each whole utterance). Streaming uses 1000 ms, since
/// the final result of an utterance cannot come before its closing silence has been heard; offline transcription
/// uses <see cref="CreateOffline"/> (1500 ms), where no one waits for the pause. A shorter leading pad (200 ms,
/// <see cref="LeadingPad"/>) suits segments that open with noise, but costs accuracy elsewhere (13.67 % on the dev set,
/// and 12.03 % against 10.20 % with base), so the default pads both ends by 800 ms and the pipelines retry an empty
/// decode with a 200 ms lead-in instead.
/// </remarks>
public sealed class VadOptions
{
    /// <summary>
    /// Upper bound on <see cref="MaxSegment"/>. The per-stream audio buffer and probability history are sized from
    /// MaxSegment, and no ASR model we run decodes more than a few tens of seconds at once.
    /// </summary>
    public static readonly TimeSpan MaxSegmentLimit = TimeSpan.FromMinutes(10);

    /// <summary>A window with speech probability at or above this starts speech.</summary>
    public float Threshold { get; set; } = 0.5f;

    /// <summary>
    /// Once speech has started, windows at or above this still count as speech; only a run of windows below it
    /// lasting <see cref="MinSilence"/> ends the segment. Null means <see cref="EffectiveNegativeThreshold"/>'s
    /// default, which follows <see cref="Threshold"/>.
    /// </summary>
    public float? NegativeThreshold { get; set; }

    /// <summary>Speech shorter than this (from its first to its last speech window) is dropped as a click or cough.</summary>
    public TimeSpan MinSpeech { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The silence that closes a segment; shorter pauses stay inside it.</summary>
    public TimeSpan MinSilence { get; set; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>
    /// Audio kept before the first and after the last speech window, because the model's onset and offset lag the
    /// audio and ASR models clip words without it. Clipped to the audio and to the neighbouring segment.
    /// </summary>
    public TimeSpan SpeechPad { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>
    /// Audio kept before the first speech window, if different from <see cref="SpeechPad"/> (which then pads only the
    /// end). Null means <see cref="SpeechPad"/> on both sides.
    /// </summary>
    public TimeSpan? LeadingPad { get; set; }

    /// <summary><see cref="LeadingPad"/> if set, else <see cref="SpeechPad"/>.</summary>
    public TimeSpan EffectiveLeadingPad => LeadingPad ?? SpeechPad;

    /// <summary>
    /// The longest segment emitted, padding included. Longer speech is split at its quietest window within the last
    /// half of this length and the rest continues as a new segment.
    /// </summary>
    public TimeSpan MaxSegment { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <see cref="NegativeThreshold"/> if set; otherwise 0.15 below <see cref="Threshold"/>, but never below half of
    /// it, so that a low threshold does not give a negative one that no window could ever fall under.
    /// </summary>
    public float EffectiveNegativeThreshold => NegativeThreshold ?? Math.Max(Threshold - 0.15f, Threshold / 2);

    /// <summary>The defaults for offline transcription: a longer closing silence, so sentences stay whole.</summary>
    public static VadOptions CreateOffline() => new() { MinSilence = TimeSpan.FromMilliseconds(1500) };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option that is out of range.</summary>
    public void Validate()
    {
        // Written as !(x > 0) so that NaN fails too.
        if (!(Threshold > 0f && Threshold <= 1f))
        {
            throw new ArgumentException($"VadOptions.Threshold must be in (0, 1]; it is {Threshold}.", nameof(Threshold));
        }

        if (NegativeThreshold is float negative && !(negative >= 0f && negative <= Threshold))
        {
            throw new ArgumentException(
                $"VadOptions.NegativeThreshold must be in [0, Threshold = {Threshold}]; it is {negative}.",
                nameof(NegativeThreshold));
        }

        RequireInRange(MinSpeech, nameof(MinSpeech));
        RequireInRange(MinSilence, nameof(MinSilence));
        RequireInRange(SpeechPad, nameof(SpeechPad));
        if (LeadingPad is { } leadingPad)
        {
            RequireInRange(leadingPad, nameof(LeadingPad));
        }

        // A segment is closed MinSilence after its last speech window; a longer end pad would reach audio that has
        // not arrived yet, so the segment could not be emitted when it closes.
        if (SpeechPad > MinSilence)
        {
            throw new ArgumentException(
                $"VadOptions.SpeechPad ({SpeechPad.TotalMilliseconds} ms) must not exceed MinSilence ({MinSilence.TotalMilliseconds} ms).",
                nameof(SpeechPad));
        }

        if (MaxSegment <= TimeSpan.Zero || MaxSegment > MaxSegmentLimit)
        {
            throw new ArgumentException(
                $"VadOptions.MaxSegment must be in (0, {MaxSegmentLimit.TotalMinutes} min]; it is {MaxSegment}.",
                nameof(MaxSegment));
        }

        // Unconfirmed speech (shorter than MinSpeech, padded, followed by less than MinSilence) must fit with room
        // to spare, so that only confirmed speech is ever split and a split has half a segment to look for a pause in.
        TimeSpan shortestUseful = (SpeechPad > EffectiveLeadingPad ? SpeechPad : EffectiveLeadingPad) + MinSpeech + MinSilence;
        if (MaxSegment < shortestUseful * 2)
        {
            throw new ArgumentException(
                $"VadOptions.MaxSegment ({MaxSegment.TotalMilliseconds} ms) must be at least twice SpeechPad + MinSpeech + MinSilence ({shortestUseful.TotalMilliseconds} ms).",
                nameof(MaxSegment));
        }
    }

    /// <summary>Rounds a duration to whole samples at <paramref name="sampleRate"/>.</summary>
    internal static long ToSamples(TimeSpan duration, int sampleRate)
    {
        // Integer arithmetic keeps 16 kHz exact (625 ticks a sample); validated durations cannot overflow here.
        return (duration.Ticks * sampleRate + TimeSpan.TicksPerSecond / 2) / TimeSpan.TicksPerSecond;
    }

    private static void RequireInRange(TimeSpan value, string name)
    {
        // The upper bound also keeps the sums below from overflowing.
        if (value < TimeSpan.Zero || value > MaxSegmentLimit)
        {
            throw new ArgumentException(
                $"VadOptions.{name} must be in [0, {MaxSegmentLimit.TotalMinutes} min]; it is {value}.", name);
        }
    }
}
