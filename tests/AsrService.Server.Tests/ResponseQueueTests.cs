using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server;
using AsrService.Server.Metrics;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsrService.Server.Tests;

/// <summary>The response queue's policy for clients that read slowly or not at all, against a transport whose writes
/// the test holds back.</summary>
public sealed class ResponseQueueTests
{
    private readonly AsrMetrics _metrics = new("tiny", "cpu");
    private readonly HeldBackWriter _transport = new();

    [Fact]
    public async Task CompleteAsync_ClientReads_EverythingWrittenInOrder()
    {
        var queue = CreateQueue(capacity: 4);
        var sent = new[] { Event(), Interim("a"), Final("a b"), Event() };

        _transport.Release();
        foreach (var response in sent)
        {
            await queue.WriteAsync(response, CancellationToken.None);
        }

        await queue.CompleteAsync(CancellationToken.None);
        await queue.AbortAsync();

        Assert.Equal(sent, _transport.Written);
    }

    [Fact]
    public async Task WriteAsync_InterimWhileAnotherIsQueued_NewestReplacesIt()
    {
        var queue = CreateQueue(capacity: 4);
        var first = Final("first");

        await queue.WriteAsync(first, CancellationToken.None);
        await _transport.WaitForPendingWriteAsync();
        await queue.WriteAsync(Interim("old"), CancellationToken.None);
        var newest = Interim("new");
        await queue.WriteAsync(newest, CancellationToken.None);
        _transport.Release();
        await queue.CompleteAsync(CancellationToken.None);
        await queue.AbortAsync();

        Assert.Equal([first, newest], _transport.Written);
        Assert.Equal(1, _metrics.InterimsDropped.Value);
    }

    [Fact]
    public async Task WriteAsync_FinalIntoQueueFullWithAnInterim_DropsTheInterimAndKeepsOrder()
    {
        var queue = CreateQueue(capacity: 1);
        var begin = Event();
        var final = Final("done");

        await queue.WriteAsync(begin, CancellationToken.None);
        await _transport.WaitForPendingWriteAsync();
        await queue.WriteAsync(Interim("partial"), CancellationToken.None);
        var write = queue.WriteAsync(final, CancellationToken.None);
        Assert.True(write.IsCompletedSuccessfully, "a final that can take an interim's place must not wait");
        _transport.Release();
        await queue.CompleteAsync(CancellationToken.None);
        await queue.AbortAsync();

        Assert.Equal([begin, final], _transport.Written);
        Assert.Equal(1, _metrics.InterimsDropped.Value);
    }

    [Fact]
    public async Task WriteAsync_FinalIntoQueueFullOfFinals_WaitsForTheClient()
    {
        var queue = CreateQueue(capacity: 1, slowReaderTimeout: TimeSpan.FromSeconds(30));
        await queue.WriteAsync(Final("1"), CancellationToken.None);
        await _transport.WaitForPendingWriteAsync();
        await queue.WriteAsync(Final("2"), CancellationToken.None);

        var third = queue.WriteAsync(Final("3"), CancellationToken.None);
        await Task.Delay(100);
        Assert.False(third.IsCompleted);
        _transport.Release();
        await third.WaitAsync(TimeSpan.FromSeconds(10));
        await queue.CompleteAsync(CancellationToken.None);
        await queue.AbortAsync();

        Assert.Equal(["1", "2", "3"], _transport.Written.Select(r => r.Results[0].Alternatives[0].Transcript));
    }

    [Fact]
    public async Task WriteAsync_ClientNeverReads_ResourceExhaustedAfterTheTimeoutAndTheStuckWriteIsCancelled()
    {
        var queue = CreateQueue(capacity: 1, slowReaderTimeout: TimeSpan.FromMilliseconds(200));
        await queue.WriteAsync(Final("1"), CancellationToken.None);
        await _transport.WaitForPendingWriteAsync();
        await queue.WriteAsync(Final("2"), CancellationToken.None);

        var error = await Assert.ThrowsAsync<RpcException>(() => queue.WriteAsync(Final("3"), CancellationToken.None));
        await queue.AbortAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.StartsWith("client is not reading responses", error.Status.Detail);
        Assert.True(queue.SlowReaderDetected);
        Assert.True(_transport.PendingWriteCancelled);
        Assert.Equal(0, _metrics.ResponseQueueDepth.Value);
        await Assert.ThrowsAsync<RpcException>(() => queue.WriteAsync(Final("4"), CancellationToken.None));
    }

    [Fact]
    public async Task CompleteAsync_QueuedResultsNeverRead_ResourceExhausted()
    {
        var queue = CreateQueue(capacity: 4, slowReaderTimeout: TimeSpan.FromMilliseconds(200));
        await queue.WriteAsync(Final("1"), CancellationToken.None);
        await queue.WriteAsync(Final("2"), CancellationToken.None);

        var error = await Assert.ThrowsAsync<RpcException>(() => queue.CompleteAsync(CancellationToken.None));
        await queue.AbortAsync();

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task WriteAsync_Latency_MeasuredFromTheInputTimestamp()
    {
        var input = TimeProvider.System.GetTimestamp() - TimeProvider.System.TimestampFrequency;
        var queue = CreateQueue(capacity: 4, inputTimestamp: () => input);
        _transport.Release();

        await queue.WriteAsync(Interim("a"), CancellationToken.None);
        await queue.WriteAsync(Final("a"), CancellationToken.None);
        await queue.CompleteAsync(CancellationToken.None);
        await queue.AbortAsync();

        Assert.Equal(1, _metrics.InterimLatency.Count);
        Assert.Equal(1, _metrics.FinalLatency.Count);
        Assert.Contains("asr_final_latency_seconds_bucket{le=\"0.5\"} 0", _metrics.Registry.Scrape());
        Assert.Contains("asr_final_latency_seconds_bucket{le=\"2.5\"} 1", _metrics.Registry.Scrape());
    }

    private static StreamingRecognizeResponse Interim(string text) => new()
    {
        Results = { new StreamingRecognitionResult { Alternatives = { new SpeechRecognitionAlternative { Transcript = text } } } },
    };

    private static StreamingRecognizeResponse Final(string text) => new()
    {
        Results = { new StreamingRecognitionResult { IsFinal = true, Alternatives = { new SpeechRecognitionAlternative { Transcript = text } } } },
    };

    private static StreamingRecognizeResponse Event() => new()
    {
        SpeechEventType = StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityBegin,
    };

    private ResponseQueue CreateQueue(int capacity, TimeSpan? slowReaderTimeout = null, Func<long>? inputTimestamp = null) => new(
        _transport,
        new AsrServiceOptions { ResponseQueueCapacity = capacity, SlowReaderTimeout = slowReaderTimeout ?? TimeSpan.FromSeconds(10) },
        TimeProvider.System,
        inputTimestamp ?? TimeProvider.System.GetTimestamp,
        _metrics,
        NullLogger.Instance,
        CancellationToken.None);

    /// <summary>A transport whose writes wait until the test releases them, like HTTP/2 flow control with a client
    /// that does not read.</summary>
    private sealed class HeldBackWriter : IServerStreamWriter<StreamingRecognizeResponse>
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _pending = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<StreamingRecognizeResponse> _written = [];

        public List<StreamingRecognizeResponse> Written
        {
            get
            {
                lock (_written)
                {
                    return [.. _written];
                }
            }
        }

        public bool PendingWriteCancelled { get; private set; }

        public void Release() => _released.TrySetResult();

        public Task WaitForPendingWriteAsync() => _pending.Task.WaitAsync(TimeSpan.FromSeconds(10));

        public async Task WriteAsync(StreamingRecognizeResponse message, CancellationToken cancellationToken)
        {
            _pending.TrySetResult();
            try
            {
                await _released.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                PendingWriteCancelled = true;
                throw;
            }

            lock (_written)
            {
                _written.Add(message);
            }
        }
    }
}
