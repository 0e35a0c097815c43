using System.Globalization;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server.Metrics;
using Google.Protobuf;

namespace AsrService.Server;

/// <summary>
/// The request stream of one StreamingRecognize call as the service reads it, with the server's per-stream limits
/// applied: maximum audio duration, idle timeout, real-time pacing and the shutdown grace period.
/// </summary>
/// <remarks>
/// A limit that should still let the client have what it said (duration, idle, shutdown) ends the input as if the
/// client had half-closed: the service flushes the open segment and writes its final results as usual, and
/// <see cref="EndStatus"/> then tells the caller what to end the call with. A pacing violation fails the read at once.
/// The idle timer runs only while a read waits for the client, so a server that falls behind under load never times
/// a stream out for audio that is already waiting in the transport.
/// </remarks>
internal sealed class StreamInput : IAsyncStreamReader<StreamingRecognizeRequest>, IDisposable
{
    private readonly IAsyncStreamReader<StreamingRecognizeRequest> _inner;
    private readonly AsrServiceOptions _options;
    private readonly TimeProvider _time;
    private readonly CancellationToken _callToken;
    private readonly CancellationToken _graceExpired;
    private CancellationTokenSource _idle;
    private CancellationTokenSource _readCancellation;
    private StreamingRecognizeRequest? _first;
    private bool _firstDelivered;
    private RealTimePacer? _pacer;
    private long _bytesPerSecond;
    private long _maxBytes = long.MaxValue;
    private long _audioBytes;
    private bool _inputEnded;
    private bool _lastHadAudio = true;
    private long _idleDeadline;
    private long _deliveredTimestamp;
    private long _lastInputTimestamp;
    private TimeSpan _handlerTime;

    public StreamInput(
        IAsyncStreamReader<StreamingRecognizeRequest> inner,
        AsrServiceOptions options,
        TimeProvider time,
        CancellationToken callToken,
        CancellationToken graceExpired)
    {
        _inner = inner;
        _options = options;
        _time = time;
        _callToken = callToken;
        _graceExpired = graceExpired;
        _idle = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        _readCancellation = CancellationTokenSource.CreateLinkedTokenSource(callToken, graceExpired, _idle.Token);
        _lastInputTimestamp = time.GetTimestamp();
    }

    public StreamingRecognizeRequest Current { get; private set; } = null!;

    /// <summary>The status to end the call with once the final results are written; null when the client ended it.</summary>
    public Status? EndStatus { get; private set; }

    /// <summary>The limit that ended the input or failed the call (<see cref="StreamLimitNames"/>), or null.</summary>
    public string? LimitHit { get; private set; }

    /// <summary>When the audio behind the next responses arrived: the last message read, or the end of the input.</summary>
    public long LastInputTimestamp => Volatile.Read(ref _lastInputTimestamp);

    /// <summary>Seconds of audio taken from the client (after any cut at the duration limit).</summary>
    public double AudioSeconds => _bytesPerSecond > 0 ? (double)_audioBytes / _bytesPerSecond : 0;

    /// <summary>Time the service spent on messages between reads: recognition, plus waits for the decoder.</summary>
    public TimeSpan HandlerTime => _handlerTime;

    /// <summary>Whether the input has ended (client half-close or a limit).</summary>
    public bool InputEnded => _inputEnded;

    /// <summary>
    /// Reads the first message (which MoveNext then returns again), so that the caller can check credentials against
    /// its config and name the call. Null when the client sent nothing.
    /// </summary>
    public async Task<StreamingRecognizeRequest?> ReadFirstAsync()
    {
        _idleDeadline = _time.GetTimestamp() + ToTimestamp(_options.StreamIdleTimeout);
        if (await ReadAsync(_callToken).ConfigureAwait(false))
        {
            _first = _inner.Current;
            return _first;
        }

        // The idle or grace limit ended the input before any config: there is nothing to finalise.
        if (EndStatus is { } status)
        {
            throw new RpcException(status);
        }

        return null;
    }

    /// <summary>Sets up the byte-based limits from the stream's config (done once, before the service reads).</summary>
    public void Configure(StreamingRecognitionConfig streaming)
    {
        var config = streaming.Config;
        if (config is null)
        {
            return;
        }

        var bytesPerSample = config.Encoding switch
        {
            Grpc.V1.AudioEncoding.Linear16 => 2,
            Grpc.V1.AudioEncoding.Float32 => 4,
            Grpc.V1.AudioEncoding.Mulaw or Grpc.V1.AudioEncoding.Alaw => 1,
            _ => 0,
        };
        var channels = config.AudioChannelCount == 0 ? 1 : config.AudioChannelCount;
        if (bytesPerSample == 0 || config.SampleRateHertz <= 0 || channels is < 1 or > 8)
        {
            // The service rejects this config with INVALID_ARGUMENT before reading any audio.
            return;
        }

        long frameBytes = bytesPerSample * channels;
        _bytesPerSecond = frameBytes * config.SampleRateHertz;
        var maxFrames = (long)Math.Floor(_options.MaxStreamDuration.TotalSeconds * config.SampleRateHertz);
        _maxBytes = maxFrames > long.MaxValue / frameBytes ? long.MaxValue : maxFrames * frameBytes;
        if (streaming.RealTime)
        {
            _pacer = new RealTimePacer(_options.RealTimeMaxRate, _options.RealTimeBurst, _time);
        }
    }

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_deliveredTimestamp != 0)
        {
            _handlerTime += _time.GetElapsedTime(_deliveredTimestamp, now);
            _deliveredTimestamp = 0;
        }

        if (!_firstDelivered)
        {
            _firstDelivered = true;
            if (_first is null)
            {
                return false;
            }

            Deliver(_first);
            return true;
        }

        if (_inputEnded)
        {
            return false;
        }

        if (_audioBytes >= _maxBytes)
        {
            EndInput(StatusCode.OutOfRange, StreamLimitNames.MaxDuration,
                $"the stream reached the server's maximum of {DurationText.Format(_options.MaxStreamDuration)} of audio; " +
                "the final results up to that point were sent; open a new stream to continue");
            return false;
        }

        if (_lastHadAudio)
        {
            // Empty messages do not count as audio: only a chunk with samples restarts the idle timer.
            _idleDeadline = now + ToTimestamp(_options.StreamIdleTimeout);
        }

        if (!await ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var request = _inner.Current;
        _lastHadAudio = false;
        if (request.StreamingRequestCase == StreamingRecognizeRequest.StreamingRequestOneofCase.AudioContent && request.AudioContent.Length > 0)
        {
            _lastHadAudio = true;
            request = TakeAudio(request);
        }

        Deliver(request);
        return true;
    }

    public void Dispose()
    {
        _readCancellation.Dispose();
        _idle.Dispose();
    }

    /// <summary>Reads the next message under the idle and grace limits; false when the input ended.</summary>
    private async Task<bool> ReadAsync(CancellationToken cancellationToken)
    {
        if (_graceExpired.IsCancellationRequested)
        {
            EndForShutdown();
            return false;
        }

        if (_idle.IsCancellationRequested)
        {
            // The timer fired just as the previous message arrived; that message counted, so start afresh.
            _readCancellation.Dispose();
            _idle.Dispose();
            _idle = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
            _readCancellation = CancellationTokenSource.CreateLinkedTokenSource(_callToken, _graceExpired, _idle.Token);
        }

        var remaining = _time.GetElapsedTime(_time.GetTimestamp(), _idleDeadline);
        _idle.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1));
        CancellationTokenSource? linked = null;
        var token = _readCancellation.Token;
        if (cancellationToken.CanBeCanceled && cancellationToken != _callToken)
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
            token = linked.Token;
        }

        try
        {
            if (await _inner.MoveNext(token).ConfigureAwait(false))
            {
                return true;
            }

            EndInput(null, null, null);
            return false;
        }
        catch (OperationCanceledException) when (!_callToken.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            if (_graceExpired.IsCancellationRequested)
            {
                EndForShutdown();
            }
            else
            {
                EndInput(StatusCode.OutOfRange, StreamLimitNames.IdleTimeout,
                    $"audio timeout: no audio for {DurationText.Format(_options.StreamIdleTimeout)}; the final results so far were sent; " +
                    "send audio continuously (silence included) and half-close the stream when done");
            }

            return false;
        }
        finally
        {
            linked?.Dispose();

            // Stop the idle timer while the service works on what was read. (Not TryReset: it would also drop the
            // linked source's registration, and the timer would never again end a read.)
            _idle.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    private StreamingRecognizeRequest TakeAudio(StreamingRecognizeRequest request)
    {
        var length = request.AudioContent.Length;
        if (_bytesPerSecond == 0)
        {
            return request;
        }

        if (_pacer is not null && !_pacer.TryTake((double)length / _bytesPerSecond))
        {
            LimitHit = StreamLimitNames.RealTime;
            var measured = string.Create(CultureInfo.InvariantCulture,
                $"{_pacer.ReceivedSeconds:0.0} s of audio in {_pacer.Elapsed.TotalSeconds:0.0} s exceeds {_options.RealTimeMaxRate:0.##}x real time");
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"audio is arriving faster than real time: {measured} plus a {DurationText.Format(_options.RealTimeBurst)} burst, " +
                "the most a stream that set real_time may send; send audio as it is captured, or leave real_time unset for recorded audio"));
        }

        if (length > _maxBytes - _audioBytes)
        {
            // The cut lands on a whole frame because the limit is a whole number of frames from the stream's start.
            var take = (int)(_maxBytes - _audioBytes);
            request = new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(request.AudioContent.Span[..take]) };
            length = take;
        }

        _audioBytes += length;
        return request;
    }

    private void Deliver(StreamingRecognizeRequest request)
    {
        Current = request;
        var now = _time.GetTimestamp();
        _deliveredTimestamp = now;
        Volatile.Write(ref _lastInputTimestamp, now);
    }

    private void EndForShutdown() =>
        EndInput(StatusCode.Unavailable, StreamLimitNames.ShutdownGrace,
            $"the server is shutting down and the stream was still open after the {DurationText.Format(_options.ShutdownGracePeriod)} grace period; " +
            "the final results so far were sent; reconnect to continue on another server");

    private void EndInput(StatusCode? code, string? limit, string? message)
    {
        _inputEnded = true;
        if (code is { } statusCode)
        {
            EndStatus = new Status(statusCode, message!);
            LimitHit = limit;
        }

        Volatile.Write(ref _lastInputTimestamp, _time.GetTimestamp());
    }

    private long ToTimestamp(TimeSpan duration) => (long)(duration.TotalSeconds * _time.TimestampFrequency);
}
