namespace AsrService.Core.Audio;

/// <summary>A source over samples already in memory (tests, or audio that arrived whole).</summary>
public sealed class MemoryAudioSource : IAudioSource
{
    private readonly ReadOnlyMemory<float> _samples;
    private int _position;

    public MemoryAudioSource(ReadOnlyMemory<float> samples, int sampleRate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleRate, 1);
        _samples = samples;
        SampleRate = sampleRate;
    }

    /// <inheritdoc />
    public int SampleRate { get; }

    /// <inheritdoc />
    public int Read(Span<float> buffer)
    {
        int count = Math.Min(buffer.Length, _samples.Length - _position);
        _samples.Span.Slice(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
