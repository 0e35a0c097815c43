using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AsrService.Server.Metrics;

/// <summary>
/// Serves <c>GET /metrics</c> (Prometheus text format 0.0.4) on a port of its own, over HTTP/1.1 as Prometheus
/// scrapes. It is a second Kestrel endpoint of the same host: its connections are marked when accepted, and only marked
/// connections reach the metrics page; they never reach gRPC, and gRPC connections never reach the metrics page.
/// </summary>
internal sealed class MetricsEndpoint(MetricRegistry registry) : IStartupFilter
{
    public const string Path = "/metrics";

    private static readonly object s_connectionMarker = new();
    private ListenOptions? _listen;

    /// <summary>The bound port (the one picked, when 0 was asked for); valid once the server has started.</summary>
    public int Port => (_listen?.IPEndPoint ?? throw new InvalidOperationException("the metrics endpoint is not configured")).Port;

    /// <summary>Where to scrape, e.g. <c>127.0.0.1:9090</c>; valid once the server has started.</summary>
    public string Address => _listen?.IPEndPoint is { } endPoint ? endPoint.ToString() : "unbound";

    /// <summary>Adds the listener to Kestrel.</summary>
    public void Listen(KestrelServerOptions kestrel, string host, int port)
    {
        void Configure(ListenOptions listen)
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.Use(next => connection =>
            {
                connection.Items[s_connectionMarker] = s_connectionMarker;
                return next(connection);
            });
            _listen = listen;
        }

        switch (host)
        {
            case "localhost":
                kestrel.ListenLocalhost(port, Configure);
                break;
            case "*":
            case "+":
                kestrel.ListenAnyIP(port, Configure);
                break;
            default:
                kestrel.Listen(IPAddress.Parse(host), port, Configure);
                break;
        }
    }

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            if (context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(s_connectionMarker) == true)
            {
                await ServeAsync(context).ConfigureAwait(false);
                return;
            }

            await nextMiddleware(context).ConfigureAwait(false);
        });
        next(app);
    };

    private async Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        if (context.Request.Path != Path)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }

        response.ContentType = MetricRegistry.ContentType;
        response.Headers.CacheControl = "no-store";
        if (HttpMethods.IsGet(context.Request.Method))
        {
            await response.WriteAsync(registry.Scrape(), context.RequestAborted).ConfigureAwait(false);
        }
    }
}
