namespace AsrService.Server;

/// <summary>
/// Holds a stream that promised live audio (<c>real_time</c>) to that promise: a token bucket of audio seconds that
/// starts full at the burst size and refills at <c>rate</c> seconds of audio per second of wall time. A chunk that does
/// not fit means the client sends recorded audio as fast as it can.
/// </summary>
/// <remarks>
/// A bucket rather than a running total: with "audio so far ≤ rate × elapsed + burst" a client that behaved for an
/// hour would have earned the right to send an hour of audio at once.
/// </remarks>
internal sealed class RealTimePacer
{
    private readonly double _rate;
    private readonly double _burstSeconds;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private long _lastTimestamp;
    private double _availableSeconds;
    private double _receivedSeconds;

    public RealTimePacer(double rate, TimeSpan burst, TimeProvider time)
    {
        _rate = rate;
        _burstSeconds = burst.TotalSeconds;
        _time = time;
        _startTimestamp = _lastTimestamp = time.GetTimestamp();
        _availableSeconds = _burstSeconds;
    }

    /// <summary>Audio received so far, in seconds.</summary>
    public double ReceivedSeconds => _receivedSeconds;

    /// <summary>Wall time since the stream started.</summary>
    public TimeSpan Elapsed => _time.GetElapsedTime(_startTimestamp);

    /// <summary>Takes a chunk of <paramref name="audioSeconds"/>; false when it arrives too early.</summary>
    public bool TryTake(double audioSeconds)
    {
        var now = _time.GetTimestamp();
        var elapsed = _time.GetElapsedTime(_lastTimestamp, now).TotalSeconds;
        _lastTimestamp = now;
        _availableSeconds = Math.Min(_burstSeconds, _availableSeconds + (elapsed * _rate));
        _receivedSeconds += audioSeconds;

        // A microsecond of slack for the rounding of sample counts to seconds.
        if (audioSeconds > _availableSeconds + 1e-6)
        {
            return false;
        }

        _availableSeconds -= audioSeconds;
        return true;
    }
}
