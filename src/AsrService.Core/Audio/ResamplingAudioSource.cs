namespace AsrService.Core.Audio;

/// <summary>
/// Wraps a source and converts it to <see cref="SampleRate"/> with a <see cref="Resampler"/>. Disposing it disposes
/// the wrapped source.
/// </summary>
public sealed class ResamplingAudioSource : IAudioSource
{
    private const int InputBlockLength = 4096;

    private readonly IAudioSource _source;
    private readonly Resampler _resampler;
    private readonly float[] _input;
    private readonly float[] _pending;
    private int _pendingStart;
    private int _pendingCount;
    private bool _sourceEnded;
    private bool _flushed;

    public ResamplingAudioSource(IAudioSource source, int outputRate)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _resampler = new Resampler(source.SampleRate, outputRate);
        _input = new float[InputBlockLength];
        _pending = new float[Math.Max(_resampler.GetMaxOutputCount(InputBlockLength), _resampler.GetMaxOutputCount(0))];
    }

    /// <inheritdoc />
    public int SampleRate => _resampler.OutputRate;

    /// <inheritdoc />
    public int Read(Span<float> buffer)
    {
        int written = 0;
        bool sourceWasShort = false;
        while (written < buffer.Length)
        {
            if (_pendingCount > 0)
            {
                int count = Math.Min(_pendingCount, buffer.Length - written);
                _pending.AsSpan(_pendingStart, count).CopyTo(buffer[written..]);
                _pendingStart += count;
                _pendingCount -= count;
                written += count;
                continue;
            }

            // After a short read the source has nothing more right now (a pipe): return rather than block.
            if (_flushed || (sourceWasShort && written > 0))
            {
                break;
            }

            _pendingStart = 0;
            if (_sourceEnded)
            {
                _pendingCount = _resampler.Flush(_pending);
                _flushed = true;
                continue;
            }

            int read = _source.Read(_input);
            if (read == 0)
            {
                _sourceEnded = true;
                continue;
            }

            sourceWasShort = read < _input.Length;
            _pendingCount = _resampler.Process(_input.AsSpan(0, read), _pending);
        }

        return written;
    }

    /// <inheritdoc />
    public void Dispose() => _source.Dispose();
}
