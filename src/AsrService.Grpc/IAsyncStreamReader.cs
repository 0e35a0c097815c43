namespace AsrService.Grpc;

/// <summary>
/// Reads the messages of a stream one at a time (shaped like Grpc.Core's interface of the same name): call
/// <see cref="MoveNext"/>, and while it returns true read <see cref="Current"/>.
/// </summary>
public interface IAsyncStreamReader<out T>
{
    /// <summary>The message the last successful <see cref="MoveNext"/> read.</summary>
    T Current { get; }

    /// <summary>
    /// Reads the next message. Returns false at the end of the stream; throws <see cref="RpcException"/> when the call
    /// failed and <see cref="OperationCanceledException"/> when it was cancelled. Only one read may be pending at a time.
    /// </summary>
    Task<bool> MoveNext(CancellationToken cancellationToken);
}
