using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Server;

namespace AsrService.Integration.Tests;

/// <summary>
/// A real server on a loopback port (Kestrel, HTTP/2 cleartext) over the shared models, with a small stream limit so
/// that RESOURCE_EXHAUSTED can be reached, and a client connection to it.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int MaxStreams = 6;

    private GrpcServer? _server;

    public ModelFixture Models { get; } = new();

    public GrpcServer Server => _server ?? throw new InvalidOperationException("not started");

    public GrpcClientConnection Connection { get; private set; } = null!;

    public AsrGrpcService Service => (AsrGrpcService)Server.Services.GetService(typeof(AsrGrpcService))!;

    public async Task InitializeAsync()
    {
        _server = AsrServerHost.Build(
            Models.Tiny,
            Models.VoiceActivity,
            new AsrServiceOptions { MaxConcurrentStreams = MaxStreams },
            [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }],
            transport => transport.MaxReceiveMessageSize = 1024 * 1024);
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
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
