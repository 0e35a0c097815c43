namespace AsrService.Core.Audio;

/// <summary>
/// Turns chunks of raw interleaved PCM (as a streaming client sends them) into mono 16 kHz samples: decode, downmix,
/// resample. The resampler keeps its state across chunks, so how a client cuts its audio does not change what the
/// recognizer hears. Buffers grow to the largest chunk seen and are then reused.
/// </summary>
public sealed class PcmStreamDecoder
{
    private readonly AudioEncoding _encoding;
    private readonly int _channels;
    private readonly Resampler _resampler;
    private float[] _decoded = new float[4096];
    private float[] _resampled = new float[4096];

    public PcmStreamDecoder(AudioEncoding encoding, int sampleRate, int channels, int outputRate = AudioFile.DefaultSampleRate)
    {
        if (channels is < 1 or > 32)
        {
            throw new AudioFormatException($"audio_channel_count must be between 1 and 32, got {channels}");
        }

        if (!AudioLimits.IsValidSampleRate(sampleRate))
        {
            throw new AudioFormatException($"sample rate {sampleRate} Hz is outside {AudioLimits.MinSampleRate}-{AudioLimits.MaxSampleRate} Hz");
        }

        _encoding = encoding;
        _channels = channels;
        _resampler = new Resampler(sampleRate, outputRate);
    }

    /// <summary>
    /// Decodes one chunk into the decoder's own buffer: the samples are valid until the next call, so a caller that
    /// needs them longer copies them. Throws <see cref="AudioFormatException"/> if the chunk is not a whole number of
    /// sample frames.
    /// </summary>
    public ReadOnlyMemory<float> Decode(ReadOnlySpan<byte> chunk)
    {
        var frames = RawAudioDecoder.GetFrameCount(chunk.Length, _encoding, _channels);
        EnsureCapacity(ref _decoded, frames);
        RawAudioDecoder.Decode(chunk, _encoding, _channels, _decoded);
        if (_resampler.IsIdentity)
        {
            return _decoded.AsMemory(0, frames);
        }

        EnsureCapacity(ref _resampled, _resampler.GetMaxOutputCount(frames));
        var count = _resampler.Process(_decoded.AsSpan(0, frames), _resampled);
        return _resampled.AsMemory(0, count);
    }

    /// <summary>
    /// Decodes a whole recording: one chunk, then the end of the stream, into a new array. (The end reuses the buffer
    /// that holds the chunk's samples, so they are copied out first.)
    /// </summary>
    public float[] DecodeAll(ReadOnlySpan<byte> audio)
    {
        var head = Decode(audio).ToArray();
        var tail = Flush();
        if (tail.IsEmpty)
        {
            return head;
        }

        var samples = new float[head.Length + tail.Length];
        head.CopyTo(samples, 0);
        tail.Span.CopyTo(samples.AsSpan(head.Length));
        return samples;
    }

    /// <summary>End of stream: the samples the resampler still holds back for its look-ahead (valid until the next call).</summary>
    public ReadOnlyMemory<float> Flush()
    {
        if (_resampler.IsIdentity)
        {
            return ReadOnlyMemory<float>.Empty;
        }

        EnsureCapacity(ref _resampled, _resampler.GetMaxOutputCount(0));
        var count = _resampler.Flush(_resampled);
        return _resampled.AsMemory(0, count);
    }

    private static void EnsureCapacity(ref float[] buffer, int count)
    {
        if (buffer.Length < count)
        {
            buffer = new float[Math.Max(count, buffer.Length * 2)];
        }
    }
}
