namespace AsrService.Grpc;

/// <summary>
/// A call ended with a non-OK status. Thrown by service handlers to choose the status sent to the client, and thrown to
/// client code when the server (or the transport) ended a call with an error. Shaped like Grpc.Core's <c>RpcException</c>.
/// </summary>
public sealed class RpcException : Exception
{
    /// <summary>Creates an exception for a status, with no trailers.</summary>
    public RpcException(Status status)
        : this(status, Metadata.Empty, status.ToString())
    {
    }

    /// <summary>Creates an exception for a status, with a local message that is not sent.</summary>
    public RpcException(Status status, string message)
        : this(status, Metadata.Empty, message)
    {
    }

    /// <summary>Creates an exception for a status with trailers (sent by a server, received by a client).</summary>
    public RpcException(Status status, Metadata trailers)
        : this(status, trailers, status.ToString())
    {
    }

    /// <summary>Creates an exception for a status with trailers and a local message that is not sent.</summary>
    public RpcException(Status status, Metadata trailers, string message)
        : base(message, status.DebugException)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        Status = status;
        Trailers = trailers;
    }

    /// <summary>The status of the call.</summary>
    public Status Status { get; }

    /// <summary>The status code of the call.</summary>
    public StatusCode StatusCode => Status.StatusCode;

    /// <summary>Trailing metadata: sent with the status by a server, or received with it by a client.</summary>
    public Metadata Trailers { get; }
}
