using System.Diagnostics;
using AsrService.Grpc.Tests.V1;
using Google.Protobuf;

namespace AsrService.Grpc.Tests;

public sealed class StreamingTests
{
    [Fact]
    public async Task Duplex_ManyMessagesBothWays_AllArriveInOrder()
    {
        const int count = 2000;
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>(TestService.Accumulate);

        // Writer and reader run at once, as an audio client does: results flow back while audio is still going up.
        var writer = Task.Run(async () =>
        {
            for (var i = 1; i <= count; i++)
            {
                await call.RequestStream.WriteAsync(new AccumulateRequest { Value = i, Payload = ByteString.CopyFrom(new byte[i % 7 * 100]) });
            }

            await call.RequestStream.CompleteAsync();
        });

        var received = 0;
        long expectedSum = 0;
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            received++;
            expectedSum += received;
            Assert.Equal(received, response.Count);
            Assert.Equal(expectedSum, response.Sum);
        }

        await writer;
        Assert.Equal(count, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Duplex_ServerRejectsWhileClientWrites_WriteFailsWithTheServersStatus()
    {
        // The server ends each call (trailers only) while the client is still sending; HTTP/2 then cancels the
        // request body under the client's write. Whichever write notices first must report the server's status, not
        // the cancelled I/O it caused (found by asr bench at 4x capacity as UNKNOWN "A task was canceled").
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var payload = ByteString.CopyFrom(new byte[32 * 1024]);
        // Calls run in waves of 150 at once on one connection, as a load test past an admission limit does (more than
        // Kestrel's 100 streams per connection, so some wait for a second connection): the race between the
        // cancelled body and the response headers then shows up both in writes and in the call's start.
        var codes = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (var wave = 0; wave < 4; wave++)
        {
            await Task.WhenAll(Enumerable.Range(0, 150).Select(index => Task.Run(async () =>
            {
                var paced = index % 2 == 0;
                using var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>(TestService.Accumulate);
                var failure = await Assert.ThrowsAsync<RpcException>(async () =>
                {
                    await call.RequestStream.WriteAsync(new AccumulateRequest { Value = -1 });
                    for (var i = 0; i < 10_000; i++)
                    {
                        // Half the calls pause as a paced audio client does, so the body sits idle when it is cancelled.
                        if (paced)
                        {
                            await Task.Delay(20);
                        }

                        await call.RequestStream.WriteAsync(new AccumulateRequest { Value = 1, Payload = payload });
                    }
                });
                codes.Add($"{failure.StatusCode}: {failure.Status.Detail}");
            })));
        }

        Assert.All(codes, code => Assert.Equal("ResourceExhausted: rejected at the first message", code));
    }

    [Fact]
    public async Task Duplex_ResponsesArriveBeforeRequestStreamEnds()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>(TestService.Accumulate);

        for (var i = 1; i <= 3; i++)
        {
            await call.RequestStream.WriteAsync(new AccumulateRequest { Value = 10 });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(i, call.ResponseStream.Current.Count);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Duplex_MessagesSplitAcrossDataFrames_AreReassembled()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        var first = RawGrpc.Frame(new AccumulateRequest { Value = 5, Payload = ByteString.CopyFrom(new byte[300]) });
        var second = RawGrpc.Frame(new AccumulateRequest { Value = 7 });
        var third = RawGrpc.Frame(new AccumulateRequest { Value = 11 });

        // The first message is cut inside its 5-byte prefix and inside its payload; the second and third share a chunk
        // with the first's tail. Pauses and flushes keep the pieces in separate DATA frames.
        var whole = first.Concat(second).Concat(third).ToArray();
        var chunks = new List<byte[]>
        {
            whole[..2],
            whole[2..5],
            whole[5..100],
            whole[100..],
        };
        using var request = RawGrpc.Request(TestService.Accumulate, new ChunkedContent(chunks, TimeSpan.FromMilliseconds(30)));

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var frames = RawGrpc.ParseFrames(await response.Content.ReadAsByteArrayAsync());

        Assert.Equal("0", RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
        var sums = frames.Select(f => AccumulateResponse.Parser.ParseFrom(f.Payload).Sum).ToArray();
        Assert.Equal(new long[] { 5, 12, 23 }, sums);
    }

    [Fact]
    public async Task Duplex_StreamEndsInsideMessage_ReturnsInternal()
    {
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        var frame = RawGrpc.Frame(new AccumulateRequest { Value = 5, Payload = ByteString.CopyFrom(new byte[100]) });
        using var request = RawGrpc.Request(TestService.Accumulate, new ByteArrayContent(frame[..50]));

        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("13", RawGrpc.Header(response.Headers, "grpc-status") ?? RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
    }

    [Fact]
    public async Task ServerStreaming_ErrorAfterMessages_MessagesThenStatusFromTrailers()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.ServerStreaming<CountdownRequest, CountdownResponse>(
            TestService.Countdown,
            new CountdownRequest { Count = 3, FinalCode = (int)StatusCode.OutOfRange, FinalDetail = "audio too long" });

        var remaining = new List<int>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                remaining.Add(response.Remaining);
            }
        });

        Assert.Equal(new[] { 2, 1, 0 }, remaining);
        Assert.Equal(StatusCode.OutOfRange, ex.StatusCode);
        Assert.Equal("audio too long", ex.Status.Detail);
        Assert.Equal(StatusCode.OutOfRange, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task ServerStreaming_NoMessagesAndOk_EndsCleanly()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.ServerStreaming<CountdownRequest, CountdownResponse>(TestService.Countdown, new CountdownRequest { Count = 0 });

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Deadline_Exceeded_ClientGetsDeadlineExceededAndHandlerTokenIsCancelled()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var record = host.Service.SlowCall("deadline");

        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await connection.UnaryAsync<SlowRequest, SlowResponse>(
            TestService.Slow,
            new SlowRequest { Key = "deadline" },
            new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300))));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"took {stopwatch.Elapsed}");
        await record.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await record.Finished.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Deadline_ServerEnforcesGrpcTimeout_EvenWhenHandlerIgnoresItsToken()
    {
        // A raw client that sends grpc-timeout but keeps no timer of its own: the status must come from the server.
        await using var host = await TestServerHost.StartAsync();
        using var http = host.CreateRawClient();
        // Warm up first (connection, HTTP/2 set-up, JIT): the stopwatch below should time the deadline only.
        using (var warmUp = RawGrpc.Request(TestService.Echo, new ByteArrayContent(RawGrpc.Frame(new EchoRequest()))))
        using (var warmUpResponse = await http.SendAsync(warmUp))
        {
            await warmUpResponse.Content.ReadAsByteArrayAsync();
        }

        var record = host.Service.SlowCall("raw-deadline");
        var frame = RawGrpc.Frame(new SlowRequest { Key = "raw-deadline", DelayMs = 2500, IgnoreCancellation = true });
        using var request = RawGrpc.Request(TestService.Slow, new ByteArrayContent(frame));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "200m");

        var stopwatch = Stopwatch.StartNew();
        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        var elapsed = stopwatch.Elapsed;

        Assert.Equal("4", RawGrpc.Header(response.Headers, "grpc-status") ?? RawGrpc.Header(response.TrailingHeaders, "grpc-status"));
        Assert.True(elapsed < TimeSpan.FromMilliseconds(1800), $"status came after {elapsed}");
        await record.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Cancel_ClientCancelsUnary_HandlerTokenIsCancelledPromptly()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        var record = host.Service.SlowCall("cancel");
        using var cts = new CancellationTokenSource();

        using var call = connection.UnaryAsync<SlowRequest, SlowResponse>(
            TestService.Slow,
            new SlowRequest { Key = "cancel" },
            new CallOptions(cancellationToken: cts.Token));
        await record.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var stopwatch = Stopwatch.StartNew();
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await call);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await record.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"handler saw the cancellation after {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task Cancel_DisposingDuplexCall_HandlerTokenIsCancelled()
    {
        await using var host = await TestServerHost.StartAsync();
        var serverSawCancel = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var serverStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Server.Registry.AddDuplexStreaming<AccumulateRequest, AccumulateResponse>(
            "/asrtest.v1.Waiting/Wait",
            async (requests, responses, context) =>
            {
                using var registration = context.CancellationToken.Register(() => serverSawCancel.TrySetResult());
                serverStarted.TrySetResult();
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            });
        using var connection = host.Connect();

        var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>("/asrtest.v1.Waiting/Wait");
        await call.RequestStream.WriteAsync(new AccumulateRequest { Value = 1 });
        await serverStarted.Task.WaitAsync(TimeSpan.FromSeconds(30));
        call.Dispose();

        await serverSawCancel.Task.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(new AccumulateRequest()));
    }

    [Fact]
    public async Task Cancel_ReadWithCancelledToken_CancelsCall()
    {
        await using var host = await TestServerHost.StartAsync();
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>(TestService.Accumulate);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(cts.Token));

        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }

    [Fact]
    public async Task Duplex_ServerFailsMidStream_ClientReadsStatus()
    {
        await using var host = await TestServerHost.StartAsync();
        host.Server.Registry.AddDuplexStreaming<AccumulateRequest, AccumulateResponse>(
            "/asrtest.v1.Picky/Accumulate",
            async (requests, responses, context) =>
            {
                while (await requests.MoveNext(context.CancellationToken))
                {
                    if (requests.Current.Value < 0)
                    {
                        throw new RpcException(new Status(StatusCode.InvalidArgument, "negative value"));
                    }

                    await responses.WriteAsync(new AccumulateResponse { Sum = requests.Current.Value });
                }
            });
        using var connection = host.Connect();
        using var call = connection.DuplexStreaming<AccumulateRequest, AccumulateResponse>("/asrtest.v1.Picky/Accumulate");

        await call.RequestStream.WriteAsync(new AccumulateRequest { Value = 1 });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        await call.RequestStream.WriteAsync(new AccumulateRequest { Value = -1 });
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("negative value", ex.Status.Detail);
        await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(new AccumulateRequest { Value = 2 }));
    }
}
