using AsrService.Grpc;

namespace AsrService.Server;

/// <summary>A call's context with a cancellation token of our choosing (the call's own, plus e.g. the end of the
/// shutdown grace period); everything else is the call's.</summary>
internal sealed class CancellableCallContext(ServerCallContext call, CancellationToken cancellationToken) : ServerCallContext
{
    public override string Method => call.Method;

    public override string Host => call.Host;

    public override string Peer => call.Peer;

    public override DateTime Deadline => call.Deadline;

    public override Metadata RequestHeaders => call.RequestHeaders;

    public override CancellationToken CancellationToken => cancellationToken;

    public override Metadata ResponseTrailers => call.ResponseTrailers;

    public override Status Status
    {
        get => call.Status;
        set => call.Status = value;
    }

    public override IDictionary<object, object> UserState => call.UserState;

    public override Task WriteResponseHeadersAsync(Metadata responseHeaders) => call.WriteResponseHeadersAsync(responseHeaders);
}
