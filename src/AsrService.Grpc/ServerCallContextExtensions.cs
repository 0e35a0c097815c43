using AsrService.Grpc.Internal;
using Microsoft.AspNetCore.Http;

namespace AsrService.Grpc;

/// <summary>Access to the HTTP layer under a call, as Grpc.AspNetCore offers it.</summary>
public static class ServerCallContextExtensions
{
    /// <summary>The <see cref="HttpContext"/> of the call (connection details, client certificate, features).</summary>
    public static HttpContext GetHttpContext(this ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context is HttpServerCall call
            ? call.HttpContext
            : throw new InvalidOperationException("This call context does not come from the HTTP transport.");
    }
}
