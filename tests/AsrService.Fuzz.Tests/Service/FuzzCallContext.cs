using AsrService.Grpc;

namespace AsrService.Fuzz.Tests.Service;

/// <summary>The least a handler needs of a call: no deadline, never cancelled, headers and trailers that go nowhere.</summary>
internal sealed class FuzzCallContext : ServerCallContext
{
    private readonly Dictionary<object, object> _userState = [];

    public override string Method => "/asr.v1.Asr/Fuzz";

    public override string Host => "localhost";

    public override string Peer => "ipv4:127.0.0.1:1";

    public override DateTime Deadline => DateTime.MaxValue;

    public override Metadata RequestHeaders { get; } = [];

    public override CancellationToken CancellationToken => CancellationToken.None;

    public override Metadata ResponseTrailers { get; } = [];

    public override Status Status { get; set; }

    public override IDictionary<object, object> UserState => _userState;

    public override Task WriteResponseHeadersAsync(Metadata responseHeaders) => Task.CompletedTask;
}

/// <summary>A request stream over messages already in memory.</summary>
internal sealed class ListStreamReader<T>(IReadOnlyList<T> messages) : IAsyncStreamReader<T>
    where T : class
{
    private int _next;

    public T Current { get; private set; } = null!;

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (_next == messages.Count)
        {
            return Task.FromResult(false);
        }

        Current = messages[_next++];
        return Task.FromResult(true);
    }
}

/// <summary>A response stream that keeps what is written.</summary>
internal sealed class ListStreamWriter<T> : IServerStreamWriter<T>
{
    public List<T> Written { get; } = [];

    public Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        Written.Add(message);
        return Task.CompletedTask;
    }
}
