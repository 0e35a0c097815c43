using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsrService.Grpc;

/// <summary>A built gRPC host (see <see cref="GrpcServerBuilder"/>): register services, start, stop.</summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    internal GrpcServer(WebApplication app, GrpcServiceRegistry registry)
    {
        _app = app;
        Registry = registry;
    }

    /// <summary>The host's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Where services register their methods.</summary>
    public GrpcServiceRegistry Registry { get; }

    /// <summary>The health service, to switch statuses (e.g. NOT_SERVING until models are loaded).</summary>
    public GrpcHealthService Health => _app.Services.GetRequiredService<GrpcHealthService>();

    /// <summary>The addresses the started server listens on, with actual ports.</summary>
    public IReadOnlyList<Uri> Addresses => _app.Services.GetListeningAddresses();

    /// <summary>The port of the first endpoint (the one picked, when it was 0).</summary>
    public int Port => _app.Services.GetGrpcPort();

    /// <summary>Starts listening.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>
    /// Stops: health turns NOT_SERVING, new connections are refused, and in-flight calls get the host's shutdown
    /// timeout to finish (their tokens are cancelled when it runs out or the token given here is cancelled).
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>Runs until the process is asked to stop (Ctrl+C, SIGTERM).</summary>
    public Task RunAsync(CancellationToken cancellationToken = default) =>
        HostingAbstractionsHostExtensions.RunAsync(_app, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
