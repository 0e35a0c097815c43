namespace AsrService.Core.Vad;

/// <summary>One closed segment of speech with its padded audio, located by sample offsets from the start of the stream.</summary>
public sealed class SpeechSegment
{
    public SpeechSegment(long startSample, long endSample, ReadOnlyMemory<float> samples, int sampleRate = VoiceActivityDetector.SampleRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startSample);
        ArgumentOutOfRangeException.ThrowIfLessThan(endSample, startSample);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        if (samples.Length != endSample - startSample)
        {
            throw new ArgumentException(
                $"A segment [{startSample}, {endSample}) needs {endSample - startSample} samples; got {samples.Length}.",
                nameof(samples));
        }

        StartSample = startSample;
        EndSample = endSample;
        Samples = samples;
        SampleRate = sampleRate;
    }

    /// <summary>First sample of the segment, padding included.</summary>
    public long StartSample { get; }

    /// <summary>End of the segment (exclusive), padding included.</summary>
    public long EndSample { get; }

    /// <summary>The audio of [<see cref="StartSample"/>, <see cref="EndSample"/>).</summary>
    public ReadOnlyMemory<float> Samples { get; }

    public int SampleRate { get; }

    public TimeSpan StartTime => SamplesToTime(StartSample);

    public TimeSpan EndTime => SamplesToTime(EndSample);

    public TimeSpan Duration => SamplesToTime(EndSample - StartSample);

    public override string ToString() => $"[{StartSample}, {EndSample}) {StartTime}-{EndTime}";

    // In ticks so that 16 kHz offsets are exact (625 ticks a sample) rather than rounded through a double.
    private TimeSpan SamplesToTime(long samples) => TimeSpan.FromTicks(samples * TimeSpan.TicksPerSecond / SampleRate);
}
