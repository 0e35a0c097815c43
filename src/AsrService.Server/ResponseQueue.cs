using System.Runtime.ExceptionServices;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// The single writer of a stream's responses: the service enqueues, a pump task writes to the transport. A client that
/// stops reading stalls the pump (HTTP/2 flow control), and this queue is where the server stops buffering for it.
/// </summary>
/// <remarks>
/// Policy when the client does not keep up:
/// <list type="number">
/// <item>An interim result replaces any interim result still queued: it supersedes it.</item>
/// <item>A final result or speech event that finds the queue full first drops a queued interim result to make room,
/// then waits up to <see cref="AsrServiceOptions.SlowReaderTimeout"/> for the pump to write something.</item>
/// <item>If none is written in that time the call fails with RESOURCE_EXHAUSTED "client is not reading responses";
/// the write in progress gets one more second (a client that resumes reading then gets that status), and is then
/// cancelled, which resets the HTTP/2 stream.</item>
/// </list>
/// So a stream never holds more than <see cref="AsrServiceOptions.ResponseQueueCapacity"/> responses plus the one the
/// transport is writing, and a stalled client costs one stream, never the server's memory or its other streams.
/// </remarks>
internal sealed class ResponseQueue : IServerStreamWriter<StreamingRecognizeResponse>
{
    private static readonly TimeSpan s_lastWriteGrace = TimeSpan.FromSeconds(1);

    private readonly IServerStreamWriter<StreamingRecognizeResponse> _transport;
    private readonly int _capacity;
    private readonly TimeSpan _slowReaderTimeout;
    private readonly TimeProvider _time;
    private readonly Func<long> _inputTimestamp;
    private readonly AsrMetrics _metrics;
    private readonly ILogger _logger;
    private readonly bool _logTranscripts;
    private readonly Lock _lock = new();
    private readonly LinkedList<Entry> _entries = new();
    private readonly CancellationTokenSource _pumpCancellation;
    private readonly Task _pump;
    private TaskCompletionSource? _entryAdded;
    private TaskCompletionSource? _progress;
    private ExceptionDispatchInfo? _failure;
    private bool _writing;
    private bool _closing;
    private bool _aborted;

    public ResponseQueue(
        IServerStreamWriter<StreamingRecognizeResponse> transport,
        AsrServiceOptions options,
        TimeProvider time,
        Func<long> inputTimestamp,
        AsrMetrics metrics,
        ILogger logger,
        CancellationToken callToken)
    {
        _transport = transport;
        _capacity = options.ResponseQueueCapacity;
        _slowReaderTimeout = options.SlowReaderTimeout;
        _logTranscripts = options.LogTranscripts;
        _time = time;
        _inputTimestamp = inputTimestamp;
        _metrics = metrics;
        _logger = logger;
        _pumpCancellation = CancellationTokenSource.CreateLinkedTokenSource(callToken);
        _pump = Task.Run(PumpAsync, CancellationToken.None);
    }

    /// <summary>Whether the queue gave up on a client that does not read.</summary>
    public bool SlowReaderDetected { get; private set; }

    /// <summary>Responses waiting (not counting the one being written).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Enqueues a response; waits only when a final result or event finds the queue full.</summary>
    public Task WriteAsync(StreamingRecognizeResponse message, CancellationToken cancellationToken)
    {
        var entry = new Entry(message, IsInterim(message), _inputTimestamp());
        lock (_lock)
        {
            _failure?.Throw();
            if (_closing)
            {
                throw new InvalidOperationException("the response stream is complete");
            }

            if (entry.IsInterim)
            {
                DropQueuedInterims();
                if (_entries.Count < _capacity)
                {
                    Add(entry);
                }
                else
                {
                    _metrics.InterimsDropped.Inc();
                }

                return Task.CompletedTask;
            }

            if (TryAdd(entry))
            {
                return Task.CompletedTask;
            }
        }

        return WaitForRoomAsync(entry, cancellationToken);
    }

    /// <summary>
    /// Writes everything still queued, then stops the pump. Throws RESOURCE_EXHAUSTED when the client does not read
    /// them within the slow-reader timeout.
    /// </summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task progress;
            lock (_lock)
            {
                _failure?.Throw();
                _closing = true;
                _entryAdded?.TrySetResult();
                if (_entries.Count == 0 && !_writing)
                {
                    break;
                }

                progress = ProgressSignal();
            }

            if (!await WaitAsync(progress, _slowReaderTimeout, cancellationToken).ConfigureAwait(false))
            {
                throw SlowReader();
            }
        }

        await _pump.ConfigureAwait(false);
        lock (_lock)
        {
            _failure?.Throw();
        }
    }

    /// <summary>
    /// Ends the queue after the call failed: what is queued may still go out for a moment (a client that reads gets
    /// its results before the error), then the pump is cancelled. Never throws.
    /// </summary>
    public async Task AbortAsync()
    {
        lock (_lock)
        {
            if (_aborted)
            {
                return;
            }

            _aborted = true;
            _closing = true;
            _entryAdded?.TrySetResult();
        }

        try
        {
            await _pump.WaitAsync(s_lastWriteGrace, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Cancelling a transport write that is stuck on flow control resets the HTTP/2 stream.
            await _pumpCancellation.CancelAsync().ConfigureAwait(false);
            await _pump.ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _metrics.ResponseQueueDepth.Dec(_entries.Count);
                _entries.Clear();
            }

            _pumpCancellation.Dispose();
        }
    }

    private static bool IsInterim(StreamingRecognizeResponse message) =>
        message.SpeechEventType == StreamingRecognizeResponse.Types.SpeechEventType.SpeechEventUnspecified
        && message.Results.Count > 0
        && !message.Results.Any(r => r.IsFinal);

    private async Task WaitForRoomAsync(Entry entry, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(_slowReaderTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            Task progress;
            lock (_lock)
            {
                _failure?.Throw();
                if (TryAdd(entry))
                {
                    return;
                }

                progress = ProgressSignal();
            }

            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero || !await WaitAsync(progress, remaining, cancellationToken).ConfigureAwait(false))
            {
                throw SlowReader();
            }
        }
    }

    private RpcException SlowReader()
    {
        var error = new RpcException(new Status(StatusCode.ResourceExhausted,
            $"client is not reading responses: {_capacity} responses waited more than {DurationText.Format(_slowReaderTimeout)}; " +
            "read the response stream while sending audio"));
        lock (_lock)
        {
            if (_failure is null)
            {
                SlowReaderDetected = true;
                _failure = ExceptionDispatchInfo.Capture(error);
            }
        }

        AsrServiceLog.SlowReader(_logger, _capacity, _slowReaderTimeout.TotalSeconds);
        return error;
    }

    private async Task<bool> WaitAsync(Task signal, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await signal.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private bool TryAdd(Entry entry)
    {
        if (_entries.Count >= _capacity && !DropOneQueuedInterim())
        {
            return false;
        }

        Add(entry);
        return true;
    }

    private void Add(Entry entry)
    {
        _entries.AddLast(entry);
        _metrics.ResponseQueueDepth.Inc();
        _entryAdded?.TrySetResult();
    }

    private void DropQueuedInterims()
    {
        while (DropOneQueuedInterim())
        {
        }
    }

    private bool DropOneQueuedInterim()
    {
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            if (node.Value.IsInterim)
            {
                _entries.Remove(node);
                _metrics.ResponseQueueDepth.Dec();
                _metrics.InterimsDropped.Inc();
                return true;
            }
        }

        return false;
    }

    private Task ProgressSignal() => (_progress ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    private void SignalProgress()
    {
        _progress?.TrySetResult();
        _progress = null;
    }

    private async Task PumpAsync()
    {
        var token = _pumpCancellation.Token;
        try
        {
            while (true)
            {
                Entry? entry = null;
                Task? added = null;
                lock (_lock)
                {
                    if (_entries.First is { } first)
                    {
                        _entries.RemoveFirst();
                        _metrics.ResponseQueueDepth.Dec();
                        entry = first.Value;
                        _writing = true;
                    }
                    else if (_closing)
                    {
                        return;
                    }
                    else
                    {
                        _entryAdded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        added = _entryAdded.Task;
                    }
                }

                if (entry is null)
                {
                    await added!.WaitAsync(token).ConfigureAwait(false);
                    continue;
                }

                await _transport.WriteAsync(entry.Message, token).ConfigureAwait(false);
                Written(entry);
                lock (_lock)
                {
                    _writing = false;
                    SignalProgress();
                }
            }
        }
        catch (Exception e)
        {
            lock (_lock)
            {
                // The call ended under the pump (cancelled, reset, deadline): the service's next write learns it.
                _failure ??= ExceptionDispatchInfo.Capture(e);
                _writing = false;
                SignalProgress();
            }
        }
    }

    private void Written(Entry entry)
    {
        var latency = _time.GetElapsedTime(entry.InputTimestamp).TotalSeconds;
        if (entry.IsInterim)
        {
            _metrics.InterimLatency.Observe(latency);
            return;
        }

        foreach (var result in entry.Message.Results)
        {
            if (result.IsFinal)
            {
                _metrics.FinalLatency.Observe(latency);
                if (_logTranscripts)
                {
                    AsrServiceLog.FinalTranscript(_logger, result.ResultStartOffset?.ToTimeSpan().TotalSeconds ?? 0,
                        result.ResultEndOffset?.ToTimeSpan().TotalSeconds ?? 0, result.Alternatives.Count > 0 ? result.Alternatives[0].Transcript : string.Empty);
                }
            }
        }
    }

    private sealed record Entry(StreamingRecognizeResponse Message, bool IsInterim, long InputTimestamp);
}
