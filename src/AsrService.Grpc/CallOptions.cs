namespace AsrService.Grpc;

/// <summary>Per-call settings of a client call (shaped like Grpc.Core's <c>CallOptions</c>).</summary>
public readonly struct CallOptions
{
    /// <summary>Creates call options.</summary>
    /// <param name="headers">Custom request headers, or null.</param>
    /// <param name="deadline">When to give up (UTC), sent to the server as grpc-timeout; null for none.</param>
    /// <param name="cancellationToken">Cancels the call: the server's handler sees its token cancelled.</param>
    public CallOptions(Metadata? headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default)
    {
        Headers = headers;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>Custom request headers, or null.</summary>
    public Metadata? Headers { get; }

    /// <summary>When to give up (UTC); null for no deadline.</summary>
    public DateTime? Deadline { get; }

    /// <summary>Cancels the call.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>A copy with other headers.</summary>
    public CallOptions WithHeaders(Metadata? headers) => new(headers, Deadline, CancellationToken);

    /// <summary>A copy with another deadline.</summary>
    public CallOptions WithDeadline(DateTime? deadline) => new(Headers, deadline, CancellationToken);

    /// <summary>A copy with another cancellation token.</summary>
    public CallOptions WithCancellationToken(CancellationToken cancellationToken) => new(Headers, Deadline, cancellationToken);
}
