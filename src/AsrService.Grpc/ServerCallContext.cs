namespace AsrService.Grpc;

/// <summary>
/// What a service handler knows about its call (shaped like Grpc.Core's class of the same name): the method, the peer,
/// the deadline, the cancellation token, request headers, and the status and trailers to send back.
/// </summary>
public abstract class ServerCallContext
{
    /// <summary>The full method name, e.g. <c>/asr.v1.Asr/Recognize</c>.</summary>
    public abstract string Method { get; }

    /// <summary>The host (authority) the client addressed.</summary>
    public abstract string Host { get; }

    /// <summary>The client's address, e.g. <c>ipv4:127.0.0.1:52344</c>.</summary>
    public abstract string Peer { get; }

    /// <summary>When the client stops waiting (UTC); <see cref="DateTime.MaxValue"/> without a deadline.</summary>
    public abstract DateTime Deadline { get; }

    /// <summary>The client's custom request headers (transport headers left out).</summary>
    public abstract Metadata RequestHeaders { get; }

    /// <summary>Cancelled when the client cancels, the connection drops, or the deadline passes.</summary>
    public abstract CancellationToken CancellationToken { get; }

    /// <summary>Custom trailers to send with the status.</summary>
    public abstract Metadata ResponseTrailers { get; }

    /// <summary>
    /// The status to end the call with when the handler returns normally; throwing an <see cref="RpcException"/> is
    /// the usual way to fail a call instead.
    /// </summary>
    public abstract Status Status { get; set; }

    /// <summary>State handlers and interceptors may share for the duration of the call.</summary>
    public abstract IDictionary<object, object> UserState { get; }

    /// <summary>Sends the response headers now, with custom entries; at most once, and before the first message.</summary>
    public abstract Task WriteResponseHeadersAsync(Metadata responseHeaders);
}
