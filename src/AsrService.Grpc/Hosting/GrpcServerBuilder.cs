using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsrService.Grpc;

/// <summary>
/// Builds a Kestrel host that serves gRPC and nothing else: the short way for a service host, a tool or a test. Hosts
/// that need more of ASP.NET Core use the pieces directly (<c>ListenGrpc</c>, <c>AddGrpcTransport</c>,
/// <c>MapGrpcServices</c>).
/// </summary>
/// <example>
/// <code>
/// var builder = GrpcServerBuilder.Create(args).Listen(new GrpcEndpointOptions { Port = 50051 });
/// builder.Services.AddSingleton&lt;MyAsrService&gt;();
/// await using var server = builder.Build();
/// Asr.BindService(server.Registry, server.Services.GetRequiredService&lt;MyAsrService&gt;());
/// await server.StartAsync();
/// </code>
/// </example>
public sealed class GrpcServerBuilder
{
    private readonly WebApplicationBuilder _builder;
    private readonly List<GrpcEndpointOptions> _endpoints = [];

    private GrpcServerBuilder(string[] args)
    {
        // The slim builder leaves out what a gRPC-only host does not use (static files, IIS integration, HTTPS set-up
        // from configuration); explicit TLS endpoints still work.
        _builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        _builder.Services.AddGrpcTransport();
        _builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var endpoint in _endpoints)
            {
                kestrel.ListenGrpc(endpoint);
            }
        });
    }

    /// <summary>Services of the host: register service implementations and their dependencies here.</summary>
    public IServiceCollection Services => _builder.Services;

    /// <summary>Configuration of the host (appsettings, environment, command line).</summary>
    public ConfigurationManager Configuration => _builder.Configuration;

    /// <summary>Logging of the host.</summary>
    public ILoggingBuilder Logging => _builder.Logging;

    /// <summary>Starts building with command-line arguments for configuration.</summary>
    public static GrpcServerBuilder Create(string[]? args = null) => new(args ?? []);

    /// <summary>Adds an endpoint to listen on; call once per address.</summary>
    public GrpcServerBuilder Listen(GrpcEndpointOptions endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        _endpoints.Add(endpoint);
        return this;
    }

    /// <summary>Adds a cleartext endpoint.</summary>
    public GrpcServerBuilder Listen(string host, int port) => Listen(new GrpcEndpointOptions { Host = host, Port = port });

    /// <summary>Changes transport options (message sizes, compression, health, reflection).</summary>
    public GrpcServerBuilder ConfigureTransport(Action<GrpcServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _builder.Services.Configure(configure);
        return this;
    }

    /// <summary>
    /// Changes Kestrel settings beyond the endpoints, e.g. <c>Limits.Http2.MaxStreamsPerConnection</c> (100 by default)
    /// for load tests that multiplex many streams on few connections.
    /// </summary>
    public GrpcServerBuilder ConfigureKestrel(Action<KestrelServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _builder.WebHost.ConfigureKestrel(configure);
        return this;
    }

    /// <summary>Builds the server (not started); register services on its <see cref="GrpcServer.Registry"/>.</summary>
    public GrpcServer Build()
    {
        if (_endpoints.Count == 0)
        {
            throw new InvalidOperationException("No endpoint to listen on: call Listen first.");
        }

        var app = _builder.Build();
        var registry = app.MapGrpcServices();
        return new GrpcServer(app, registry);
    }
}
