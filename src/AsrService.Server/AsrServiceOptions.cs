namespace AsrService.Server;

/// <summary>Limits and defaults of the recognition service, bound from configuration ("Asr" section) and flags.</summary>
public sealed class AsrServiceOptions
{
    /// <summary>Streams decoded at once; a call beyond it gets RESOURCE_EXHAUSTED rather than slowing every stream.</summary>
    public int MaxConcurrentStreams { get; set; } = 64;

    /// <summary>
    /// Decodes run at once across all calls; further finals wait in order and further interims are skipped. Zero
    /// means one per core divided by the recognizer's threads per run.
    /// </summary>
    public int ConcurrentDecodes { get; set; }

    /// <summary>Longest audio one Recognize call may carry.</summary>
    public TimeSpan MaxRecognizeAudio { get; set; } = TimeSpan.FromMinutes(10);

    public void Validate()
    {
        if (MaxConcurrentStreams < 1)
        {
            throw new ArgumentException($"MaxConcurrentStreams must be at least 1, got {MaxConcurrentStreams}");
        }

        if (ConcurrentDecodes < 0)
        {
            throw new ArgumentException($"ConcurrentDecodes must be 0 (automatic) or more, got {ConcurrentDecodes}");
        }

        if (MaxRecognizeAudio <= TimeSpan.Zero)
        {
            throw new ArgumentException("MaxRecognizeAudio must be positive");
        }
    }
}
