namespace AsrService.Core.Audio;

/// <summary>
/// A pull source of mono float samples in [-1, 1] at <see cref="SampleRate"/>. Decoders, resamplers and downmixers
/// are chained as sources, each wrapping the one before.
/// </summary>
public interface IAudioSource : IDisposable
{
    /// <summary>Samples per second of what <see cref="Read"/> returns.</summary>
    int SampleRate { get; }

    /// <summary>
    /// Fills <paramref name="buffer"/> with up to its length in samples and returns how many were written;
    /// 0 means the end of the audio. Throws <see cref="AudioFormatException"/> when the input is malformed.
    /// </summary>
    int Read(Span<float> buffer);
}
