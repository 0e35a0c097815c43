using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AsrService.Grpc.Internal;

/// <summary>
/// The endpoint behind every <c>/{service}/{method}</c> path: checks that the request is a gRPC call we can serve,
/// finds its handler in the registry, and runs it as an <see cref="HttpServerCall"/>.
/// </summary>
internal sealed class GrpcCallDispatcher
{
    private readonly GrpcServiceRegistry _registry;
    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;

    public GrpcCallDispatcher(GrpcServiceRegistry registry, IOptions<GrpcServerOptions> options, ILoggerFactory loggerFactory)
    {
        _registry = registry;
        _options = options.Value;
        _logger = loggerFactory.CreateLogger("AsrService.Grpc.Server");
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? string.Empty;
        var contentType = request.ContentType;

        if (!_registry.TryGetMethod(path, out var method))
        {
            if (!GrpcProtocol.IsAnyGrpcContentType(contentType))
            {
                // Not a gRPC request at all (a browser, a probe): plain HTTP.
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            GrpcServerLog.Unimplemented(_logger, path);
            var serviceName = ServiceNameOf(path);
            var detail = serviceName is not null && _registry.HasService(serviceName)
                ? "Method is unimplemented."
                : "Service is unimplemented.";
            await RespondTrailersOnlyAsync(context, StatusCodes.Status200OK, StatusCode.Unimplemented, detail).ConfigureAwait(false);
            return;
        }

        // The checks Grpc.AspNetCore makes, with its HTTP status codes, so that non-gRPC clients get a meaningful error
        // and gRPC clients a grpc-status.
        if (!HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await RejectAsync(context, path, StatusCodes.Status405MethodNotAllowed, $"Request HTTP method '{request.Method}' is not supported.").ConfigureAwait(false);
            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(contentType))
        {
            await RejectAsync(context, path, StatusCodes.Status415UnsupportedMediaType, $"Content-Type '{contentType}' is not supported.").ConfigureAwait(false);
            return;
        }

        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            await RejectAsync(context, path, StatusCodes.Status426UpgradeRequired, $"Request protocol '{request.Protocol}' is not supported.").ConfigureAwait(false);
            return;
        }

        using var call = new HttpServerCall(context, method, _options, _logger);
        await call.ProcessAsync().ConfigureAwait(false);
    }

    private async Task RejectAsync(HttpContext context, string path, int httpStatus, string reason)
    {
        GrpcServerLog.Rejected(_logger, path, reason);
        await RespondTrailersOnlyAsync(context, httpStatus, StatusCode.Internal, reason).ConfigureAwait(false);
    }

    private static async Task RespondTrailersOnlyAsync(HttpContext context, int httpStatus, StatusCode statusCode, string detail)
    {
        var response = context.Response;
        response.StatusCode = httpStatus;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.StatusHeader] = ((int)statusCode).ToString(CultureInfo.InvariantCulture);
        response.Headers[GrpcProtocol.MessageHeader] = PercentEncoding.Encode(detail);
        await response.CompleteAsync().ConfigureAwait(false);
    }

    private static string? ServiceNameOf(string path)
    {
        var slash = path.Length > 1 ? path.IndexOf('/', 1) : -1;
        return slash > 1 ? path[1..slash] : null;
    }
}
