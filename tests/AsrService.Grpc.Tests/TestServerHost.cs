using System.Net;
using AsrService.Grpc.Client;
using Microsoft.Extensions.Logging;

namespace AsrService.Grpc.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 with a free port, serving <see cref="TestService"/>.</summary>
internal sealed class TestServerHost : IAsyncDisposable
{
    private TestServerHost(GrpcServer server, TestService service)
    {
        Server = server;
        Service = service;
    }

    public GrpcServer Server { get; }

    public TestService Service { get; }

    public int Port => Server.Port;

    public Uri Address => Server.Addresses[0];

    public static async Task<TestServerHost> StartAsync(
        Action<GrpcServerOptions>? configure = null,
        GrpcEndpointOptions? endpoint = null)
    {
        var builder = GrpcServerBuilder.Create()
            .Listen(endpoint ?? new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (configure is not null)
        {
            builder.ConfigureTransport(configure);
        }

        var server = builder.Build();
        var service = new TestService();
        TestService.Bind(server.Registry, service);
        await server.StartAsync();
        return new TestServerHost(server, service);
    }

    public GrpcClientConnection Connect(GrpcClientOptions? options = null) => new(Address, options);

    /// <summary>A bare HTTP/2 client for checks below our own client (raw frames, headers, trailers).</summary>
    public HttpClient CreateRawClient() => new(new SocketsHttpHandler())
    {
        BaseAddress = Address,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(20),
    };

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await Server.StopAsync(timeout.Token);
        await Server.DisposeAsync();
    }
}
