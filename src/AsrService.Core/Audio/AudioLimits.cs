namespace AsrService.Core.Audio;

/// <summary>Bounds that separate real audio from a corrupt header or a caller's mistake.</summary>
public static class AudioLimits
{
    /// <summary>The lowest sample rate accepted anywhere; below it a header is taken as corrupt.</summary>
    public const int MinSampleRate = 1_000;

    /// <summary>The highest sample rate accepted anywhere (the top rate professional converters offer).</summary>
    public const int MaxSampleRate = 768_000;

    /// <summary>True when <paramref name="sampleRate"/> is within [<see cref="MinSampleRate"/>, <see cref="MaxSampleRate"/>].</summary>
    public static bool IsValidSampleRate(long sampleRate) => sampleRate is >= MinSampleRate and <= MaxSampleRate;
}
