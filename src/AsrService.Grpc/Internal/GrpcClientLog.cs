using Microsoft.Extensions.Logging;

namespace AsrService.Grpc.Internal;

internal static partial class GrpcClientLog
{
    [LoggerMessage(101, LogLevel.Debug, "Starting call {Method} to {Address}.")]
    public static partial void CallStarting(ILogger logger, string method, Uri address);

    [LoggerMessage(102, LogLevel.Debug, "Call {Method} finished with {StatusCode}: {Detail}")]
    public static partial void CallFinished(ILogger logger, string method, StatusCode statusCode, string detail);
}
