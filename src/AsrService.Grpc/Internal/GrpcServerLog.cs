using Microsoft.Extensions.Logging;

namespace AsrService.Grpc.Internal;

internal static partial class GrpcServerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Call {Method} from {Peer} started; deadline {Deadline:O}.")]
    public static partial void CallStarted(ILogger logger, string method, string peer, DateTime deadline);

    [LoggerMessage(2, LogLevel.Debug, "Call {Method} ended with {StatusCode} after {ElapsedMs:F1} ms: {Detail}")]
    public static partial void CallEnded(ILogger logger, string method, StatusCode statusCode, double elapsedMs, string detail);

    [LoggerMessage(3, LogLevel.Error, "Handler of {Method} threw an exception; the client gets INTERNAL.")]
    public static partial void HandlerFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(4, LogLevel.Debug, "Call {Method} passed its deadline.")]
    public static partial void DeadlineExceeded(ILogger logger, string method);

    [LoggerMessage(5, LogLevel.Debug, "Call {Method} was cancelled by the client.")]
    public static partial void CancelledByClient(ILogger logger, string method);

    [LoggerMessage(6, LogLevel.Warning, "Ignoring invalid grpc-timeout header '{Value}' on {Method}.")]
    public static partial void InvalidTimeout(ILogger logger, string value, string method);

    [LoggerMessage(7, LogLevel.Debug, "Unsupported grpc-encoding '{Encoding}' on {Method}.")]
    public static partial void UnsupportedEncoding(ILogger logger, string encoding, string method);

    [LoggerMessage(8, LogLevel.Debug, "No handler for {Path}; answering UNIMPLEMENTED.")]
    public static partial void Unimplemented(ILogger logger, string path);

    [LoggerMessage(9, LogLevel.Debug, "Rejected request to {Path}: {Reason}")]
    public static partial void Rejected(ILogger logger, string path, string reason);

    [LoggerMessage(10, LogLevel.Debug, "Could not send the status of {Method}; the client is gone.")]
    public static partial void StatusNotSent(ILogger logger, string method, Exception exception);
}
