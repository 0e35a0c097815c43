using System.Collections.Concurrent;
using System.Diagnostics;
using AsrService.Grpc.Tests.V1;
using Google.Protobuf;

namespace AsrService.Grpc.Tests;

/// <summary>What happened to one Slow call, as the server saw it.</summary>
internal sealed class SlowCallRecord
{
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>asrtest.v1.TestService: small handlers that exercise each part of the transport.</summary>
internal sealed class TestService
{
    public const string Echo = "/asrtest.v1.TestService/Echo";
    public const string Accumulate = "/asrtest.v1.TestService/Accumulate";
    public const string Slow = "/asrtest.v1.TestService/Slow";
    public const string Fail = "/asrtest.v1.TestService/Fail";
    public const string Countdown = "/asrtest.v1.TestService/Countdown";

    private readonly ConcurrentDictionary<string, SlowCallRecord> _slowCalls = new();

    public static void Bind(GrpcServiceRegistry registry, TestService service)
    {
        registry.AddUnary<EchoRequest, EchoResponse>(Echo, service.EchoAsync);
        registry.AddDuplexStreaming<AccumulateRequest, AccumulateResponse>(Accumulate, AccumulateAsync);
        registry.AddUnary<SlowRequest, SlowResponse>(Slow, service.SlowAsync);
        registry.AddUnary<FailRequest, EchoResponse>(Fail, FailAsync);
        registry.AddServerStreaming<CountdownRequest, CountdownResponse>(Countdown, CountdownAsync);
    }

    /// <summary>The record of the Slow call with a key, created on first use by either side.</summary>
    public SlowCallRecord SlowCall(string key) => _slowCalls.GetOrAdd(key, static _ => new SlowCallRecord());

    private Task<EchoResponse> EchoAsync(EchoRequest request, ServerCallContext context)
    {
        if (context.RequestHeaders.GetValueBytes("x-binary-bin") is { } binary)
        {
            context.ResponseTrailers.Add("x-binary-bin", binary);
        }

        context.ResponseTrailers.Add("x-trailer", "echoed");
        return Task.FromResult(new EchoResponse
        {
            Text = request.Text,
            Payload = ByteString.CopyFrom(new byte[request.ResponsePayloadSize]),
            RequestPayloadSize = request.Payload.Length,
            RequestEncoding = context.GetHttpContext().Request.Headers["grpc-encoding"].ToString(),
            EchoHeader = context.RequestHeaders.GetValue("x-echo") ?? string.Empty,
        });
    }

    private static async Task AccumulateAsync(
        IAsyncStreamReader<AccumulateRequest> requestStream,
        IServerStreamWriter<AccumulateResponse> responseStream,
        ServerCallContext context)
    {
        long count = 0;
        long sum = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (request.Value < 0)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, "rejected at the first message"));
            }

            count++;
            sum += request.Value;
            await responseStream.WriteAsync(new AccumulateResponse { Count = count, Sum = sum }, context.CancellationToken);
        }
    }

    private async Task<SlowResponse> SlowAsync(SlowRequest request, ServerCallContext context)
    {
        var record = SlowCall(request.Key);
        using var registration = context.CancellationToken.Register(() => record.Cancelled.TrySetResult());
        record.Started.TrySetResult();
        var stopwatch = Stopwatch.StartNew();
        try
        {
            var delay = request.DelayMs > 0 ? TimeSpan.FromMilliseconds(request.DelayMs) : Timeout.InfiniteTimeSpan;
            await Task.Delay(delay, request.IgnoreCancellation ? CancellationToken.None : context.CancellationToken);
            return new SlowResponse { WaitedMs = (int)stopwatch.ElapsedMilliseconds };
        }
        finally
        {
            record.Finished.TrySetResult();
        }
    }

    private static Task<EchoResponse> FailAsync(FailRequest request, ServerCallContext context) =>
        throw new RpcException(new Status((StatusCode)request.Code, request.Detail));

    private static async Task CountdownAsync(
        CountdownRequest request,
        IServerStreamWriter<CountdownResponse> responseStream,
        ServerCallContext context)
    {
        for (var remaining = request.Count - 1; remaining >= 0; remaining--)
        {
            await responseStream.WriteAsync(new CountdownResponse { Remaining = remaining });
        }

        if (request.FinalCode != 0)
        {
            throw new RpcException(new Status((StatusCode)request.FinalCode, request.FinalDetail));
        }
    }
}
