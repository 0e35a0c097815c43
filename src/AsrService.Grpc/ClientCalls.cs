using System.Runtime.CompilerServices;
using AsrService.Grpc.Internal;

namespace AsrService.Grpc;

/// <summary>
/// A unary call in progress (shaped like Grpc.Core's class of the same name). Await it for the response; a non-OK
/// status surfaces as <see cref="RpcException"/>.
/// </summary>
public sealed class AsyncUnaryCall<TResponse> : IDisposable
{
    private readonly IClientCall _call;

    internal AsyncUnaryCall(Task<TResponse> responseAsync, IClientCall call)
    {
        ResponseAsync = responseAsync;
        _call = call;
    }

    /// <summary>The response; faults with <see cref="RpcException"/> when the call fails.</summary>
    public Task<TResponse> ResponseAsync { get; }

    /// <summary>The server's response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    /// <summary>Lets <c>await call</c> mean <c>await call.ResponseAsync</c>.</summary>
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>The call's status; only once it has finished.</summary>
    public Status GetStatus() => _call.GetStatus();

    /// <summary>The server's trailers; only once the call has finished.</summary>
    public Metadata GetTrailers() => _call.GetTrailers();

    /// <summary>Cancels the call if it is still running and frees its resources.</summary>
    public void Dispose() => _call.Dispose();
}

/// <summary>A server-streaming call in progress: read responses from <see cref="ResponseStream"/>.</summary>
public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
{
    private readonly IClientCall _call;

    internal AsyncServerStreamingCall(IAsyncStreamReader<TResponse> responseStream, IClientCall call)
    {
        ResponseStream = responseStream;
        _call = call;
    }

    /// <summary>The responses; <c>MoveNext</c> throws <see cref="RpcException"/> when the call ends with an error.</summary>
    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    /// <summary>The server's response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    /// <summary>The call's status; only once it has finished.</summary>
    public Status GetStatus() => _call.GetStatus();

    /// <summary>The server's trailers; only once the call has finished.</summary>
    public Metadata GetTrailers() => _call.GetTrailers();

    /// <summary>Cancels the call if it is still running and frees its resources.</summary>
    public void Dispose() => _call.Dispose();
}

/// <summary>
/// A bidirectional streaming call in progress: write to <see cref="RequestStream"/> (then complete it), read from
/// <see cref="ResponseStream"/>. Both may run at once, typically a writer task and a reader loop.
/// </summary>
public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly IClientCall _call;

    internal AsyncDuplexStreamingCall(
        IClientStreamWriter<TRequest> requestStream,
        IAsyncStreamReader<TResponse> responseStream,
        IClientCall call)
    {
        RequestStream = requestStream;
        ResponseStream = responseStream;
        _call = call;
    }

    /// <summary>The requests; <c>CompleteAsync</c> tells the server no more will come.</summary>
    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>The responses; <c>MoveNext</c> throws <see cref="RpcException"/> when the call ends with an error.</summary>
    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    /// <summary>The server's response headers.</summary>
    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    /// <summary>The call's status; only once it has finished.</summary>
    public Status GetStatus() => _call.GetStatus();

    /// <summary>The server's trailers; only once the call has finished.</summary>
    public Metadata GetTrailers() => _call.GetTrailers();

    /// <summary>Cancels the call if it is still running and frees its resources.</summary>
    public void Dispose() => _call.Dispose();
}
