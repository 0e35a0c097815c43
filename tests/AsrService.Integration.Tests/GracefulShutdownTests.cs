using System.Diagnostics;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Grpc.V1;
using AsrService.Server;
using Google.Protobuf;
using Grpc.Health.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>
/// Stopping a real server with streams open mid-audio: health turns NOT_SERVING and new calls get UNAVAILABLE while
/// the listener stays up; a stream that half-closes within the grace period gets its finals and OK; one still sending
/// when it ends gets its finals and UNAVAILABLE.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class GracefulShutdownTests(ModelFixture models, ITestOutputHelper output)
{
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(5);

    [DataFact]
    public async Task StopAsync_StreamsOpenMidAudio_DrainsThenEndsTheLateOnes()
    {
        var samples = StreamCalls.ReadUtterance();
        var speech = StreamCalls.Pcm16(samples.AsSpan(0, 16_000 * 3));
        var rest = StreamCalls.Pcm16(samples.AsSpan(16_000 * 3, 16_000 * 2));
        await using var server = await StartServerAsync();
        using var connection = GrpcClientConnection.ForAddress($"127.0.0.1:{server.Port}");
        var client = new Asr.AsrClient(connection);

        using var finishing = client.StreamingRecognize();
        using var lingering = client.StreamingRecognize();
        var finishingResponses = ReceiveAsync(finishing);
        var lingeringResponses = ReceiveAsync(lingering);
        foreach (var call in new[] { finishing, lingering })
        {
            await call.RequestStream.WriteAsync(StreamCalls.Config());
            foreach (var chunk in StreamCalls.Chunks(speech))
            {
                await call.RequestStream.WriteAsync(chunk);
            }
        }

        var drain = server.Services.GetRequiredService<ShutdownDrain>();
        await WaitUntilAsync(() => drain.ActiveCalls == 2);
        var clock = Stopwatch.StartNew();
        var stopping = server.StopAsync();
        await WaitUntilAsync(() => drain.IsDraining);

        // While draining: still listening, but NOT_SERVING, and no new calls.
        var health = await new Health.HealthClient(connection).CheckAsync(new HealthCheckRequest());
        var refused = await StreamCalls.RunAsync(connection, [StreamCalls.Config()]);
        var refusedUnary = await Assert.ThrowsAsync<RpcException>(async () => await client.ListModelsAsync(new ListModelsRequest()));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);
        Assert.Equal(StatusCode.Unavailable, refused.Status.StatusCode);
        Assert.Contains("shutting down", refused.Status.Detail);
        Assert.Equal(StatusCode.Unavailable, refusedUnary.StatusCode);

        // The first stream finishes its audio within the grace period.
        foreach (var chunk in StreamCalls.Chunks(rest))
        {
            await finishing.RequestStream.WriteAsync(chunk);
        }

        await finishing.RequestStream.CompleteAsync();
        var (finished, finishedStatus) = await finishingResponses;
        Assert.Equal(StatusCode.OK, finishedStatus.StatusCode);
        Assert.Contains(finished, r => r.Results.Any(x => x.IsFinal && x.Alternatives[0].Transcript.Length > 0));
        Assert.True(clock.Elapsed < s_grace, $"the finishing stream took {clock.Elapsed}, past the grace period");

        // The second keeps sending silence past the grace period.
        var silence = new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(new byte[3_200]) };
        while (!lingeringResponses.IsCompleted && clock.Elapsed < s_grace + TimeSpan.FromSeconds(30))
        {
            try
            {
                await lingering.RequestStream.WriteAsync(silence);
            }
            catch (Exception e) when (e is RpcException or IOException or InvalidOperationException)
            {
                break;
            }

            await Task.Delay(100);
        }

        var (late, lateStatus) = await lingeringResponses;
        output.WriteLine($"{lateStatus.StatusCode}: {lateStatus.Detail} after {clock.Elapsed}");
        Assert.Equal(StatusCode.Unavailable, lateStatus.StatusCode);
        Assert.Contains("grace period", lateStatus.Detail);
        Assert.Contains(late, r => r.Results.Any(x => x.IsFinal && x.Alternatives[0].Transcript.Length > 0));
        Assert.True(clock.Elapsed >= s_grace, "the lingering stream ended before the grace period");

        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task StopAsync_NoOpenCalls_StopsWithoutWaitingForTheGracePeriod()
    {
        await using var server = await StartServerAsync();
        var clock = Stopwatch.StartNew();

        await server.StopAsync();

        Assert.True(clock.Elapsed < s_grace, $"stop took {clock.Elapsed}");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, server.Health.GetStatus(string.Empty));
    }

    private async Task<GrpcServer> StartServerAsync()
    {
        var server = AsrServerHost.Build(
            models.Tiny,
            models.VoiceActivity,
            new AsrServiceOptions { ShutdownGracePeriod = s_grace },
            [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }],
            configure: builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        await server.StartAsync();
        return server;
    }

    private static async Task<(List<StreamingRecognizeResponse> Responses, Status Status)> ReceiveAsync(
        AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse> call)
    {
        await Task.Yield();
        var responses = new List<StreamingRecognizeResponse>();
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                responses.Add(call.ResponseStream.Current);
            }

            return (responses, call.GetStatus());
        }
        catch (RpcException e)
        {
            return (responses, e.Status);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 400 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition(), "condition not reached within 10 s");
    }
}
