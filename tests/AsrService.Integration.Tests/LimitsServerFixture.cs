using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Server;
using Microsoft.Extensions.Logging;

namespace AsrService.Integration.Tests;

/// <summary>
/// A real server with small limits, so that each can be reached in a second or two: 4 s of audio per stream, 1.5 s
/// idle timeout, real-time pacing at 2x with a 1 s burst, a response queue of one with a 1 s slow-reader timeout, 64 KiB
/// messages, and a metrics endpoint on a free port.
/// </summary>
public sealed class LimitsServerFixture : IAsyncLifetime
{
    public static readonly AsrServiceOptions Options = new()
    {
        MaxConcurrentStreams = 4,
        MaxMessageBytes = 64 * 1024,
        MaxStreamDuration = TimeSpan.FromSeconds(4),
        StreamIdleTimeout = TimeSpan.FromSeconds(1.5),
        RealTimeMaxRate = 2.0,
        RealTimeBurst = TimeSpan.FromSeconds(1),
        ResponseQueueCapacity = 1,
        SlowReaderTimeout = TimeSpan.FromSeconds(1),
        MetricsPort = 0,
        MetricsHost = "127.0.0.1",
    };

    private GrpcServer? _server;

    public ModelFixture Models { get; } = new();

    public GrpcServer Server => _server ?? throw new InvalidOperationException("not started");

    public GrpcClientConnection Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _server = AsrServerHost.Build(
            Models.Tiny,
            Models.VoiceActivity,
            Options,
            [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }],
            configure: builder =>
            {
                builder.Logging.SetMinimumLevel(LogLevel.Warning);

                // Kestrel's own minimum response rate would close a connection whose client stopped reading after
                // about 5 s; off here so that the slow-reader test sees the response queue's rule, not Kestrel's.
                builder.ConfigureKestrel(kestrel => kestrel.Limits.MinResponseDataRate = null);
            });
        await _server.StartAsync();
        Connection = GrpcClientConnection.ForAddress($"127.0.0.1:{_server.Port}");
    }

    public async Task DisposeAsync()
    {
        Connection?.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        Models.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class LimitsServerCollection : ICollectionFixture<LimitsServerFixture>
{
    public const string Name = "limits server";
}
