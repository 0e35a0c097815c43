using AsrService.Core.Vad;

namespace AsrService.Core.Pipeline;

/// <summary>What a streaming recognition call asked for.</summary>
public sealed class StreamingOptions
{
    /// <summary>Send interim hypotheses while a segment is still open.</summary>
    public bool InterimResults { get; set; }

    /// <summary>New audio between two interim updates of an open segment.</summary>
    public TimeSpan InterimInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Decode a segment's final while its closing silence runs, once the segment's padded audio is complete, instead
    /// of after the VAD has heard all of MinSilence; the final is sent when the segment closes as expected, and
    /// dropped if speech resumes. The result is the same either way; it comes up to MinSilence minus SpeechPad sooner.
    /// </summary>
    public bool EarlyFinals { get; set; } = true;

    /// <summary>Send speech-begin and speech-end events.</summary>
    public bool VoiceActivityEvents { get; set; }

    public VadOptions Vad { get; set; } = new();

    public void Validate()
    {
        if (InterimInterval < TimeSpan.FromMilliseconds(100) || InterimInterval > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"the interim interval must be between 100 ms and 10 s, got {InterimInterval.TotalMilliseconds} ms");
        }

        Vad.Validate();
    }
}
