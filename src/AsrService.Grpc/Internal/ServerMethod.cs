using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace AsrService.Grpc.Internal;

/// <summary>
/// A registered method: its path, kind, message types and handler. Subclasses know how many messages flow each way and
/// adapt the call to the handler's delegate shape; <see cref="HttpServerCall"/> does everything else.
/// </summary>
internal abstract class ServerMethod
{
    protected ServerMethod(string path, MethodType type, MessageDescriptor requestDescriptor, MessageDescriptor responseDescriptor)
    {
        // "/package.Service/Method": exactly two non-empty segments.
        var slash = string.IsNullOrEmpty(path) || path[0] != '/' ? -1 : path.IndexOf('/', 1);
        if (slash <= 1 || slash == path.Length - 1 || path.IndexOf('/', slash + 1) >= 0)
        {
            throw new ArgumentException($"Method path '{path}' is not of the form '/package.Service/Method'.", nameof(path));
        }

        Path = path;
        Type = type;
        ServiceName = path[1..slash];
        Name = path[(slash + 1)..];
        RequestDescriptor = requestDescriptor;
        ResponseDescriptor = responseDescriptor;
    }

    public string Path { get; }

    public MethodType Type { get; }

    public string ServiceName { get; }

    public string Name { get; }

    public MessageDescriptor RequestDescriptor { get; }

    public MessageDescriptor ResponseDescriptor { get; }

    /// <summary>Reads the request(s), runs the handler, writes the response(s); exceptions go to the caller.</summary>
    public abstract Task InvokeAsync(HttpServerCall call);

    protected static MessageDescriptor DescriptorOf<T>()
        where T : class, IMessage<T>, new() =>
        DescriptorOf(ParserCache<T>.Parser);

    // MessageParser has no public way to make an instance other than parsing: an empty input gives a default message.
    protected static MessageDescriptor DescriptorOf<T>(MessageParser<T> parser)
        where T : IMessage<T> =>
        parser.ParseFrom(ReadOnlySpan<byte>.Empty).Descriptor;

    protected static async Task WriteSingleResponseAsync<TResponse>(HttpServerCall call, TResponse? response)
        where TResponse : class, IMessage<TResponse>
    {
        // A non-OK status set on the context means the handler chose to fail without throwing: no response message.
        if (call.Status.StatusCode != StatusCode.OK)
        {
            return;
        }

        if (response is null)
        {
            throw new InvalidOperationException($"The handler of {call.Method} returned a null response.");
        }

        await call.WriteMessageAsync(response, CancellationToken.None).ConfigureAwait(false);
    }
}

internal sealed class UnaryMethod<TRequest, TResponse>(
    string path,
    MessageParser<TRequest> parser,
    UnaryServerMethod<TRequest, TResponse> handler)
    : ServerMethod(path, MethodType.Unary, DescriptorOf(parser), DescriptorOf<TResponse>())
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    public override async Task InvokeAsync(HttpServerCall call)
    {
        var request = await call.ReadSingleMessageAsync(parser).ConfigureAwait(false);
        var response = await handler(request, call).ConfigureAwait(false);
        await WriteSingleResponseAsync(call, response).ConfigureAwait(false);
    }
}

internal sealed class ClientStreamingMethod<TRequest, TResponse>(
    string path,
    MessageParser<TRequest> parser,
    ClientStreamingServerMethod<TRequest, TResponse> handler)
    : ServerMethod(path, MethodType.ClientStreaming, DescriptorOf(parser), DescriptorOf<TResponse>())
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    public override async Task InvokeAsync(HttpServerCall call)
    {
        var response = await handler(new HttpRequestStreamReader<TRequest>(call, parser), call).ConfigureAwait(false);
        await WriteSingleResponseAsync(call, response).ConfigureAwait(false);
    }
}

internal sealed class ServerStreamingMethod<TRequest, TResponse>(
    string path,
    MessageParser<TRequest> parser,
    ServerStreamingServerMethod<TRequest, TResponse> handler)
    : ServerMethod(path, MethodType.ServerStreaming, DescriptorOf(parser), DescriptorOf<TResponse>())
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    public override async Task InvokeAsync(HttpServerCall call)
    {
        var request = await call.ReadSingleMessageAsync(parser).ConfigureAwait(false);
        await handler(request, new HttpResponseStreamWriter<TResponse>(call), call).ConfigureAwait(false);
    }
}

internal sealed class DuplexStreamingMethod<TRequest, TResponse>(
    string path,
    MessageParser<TRequest> parser,
    DuplexStreamingServerMethod<TRequest, TResponse> handler)
    : ServerMethod(path, MethodType.DuplexStreaming, DescriptorOf(parser), DescriptorOf<TResponse>())
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>, new()
{
    public override Task InvokeAsync(HttpServerCall call) =>
        handler(new HttpRequestStreamReader<TRequest>(call, parser), new HttpResponseStreamWriter<TResponse>(call), call);
}

/// <summary>The request stream of a call, as its handler sees it.</summary>
internal sealed class HttpRequestStreamReader<T>(HttpServerCall call, MessageParser<T> parser) : IAsyncStreamReader<T>
    where T : class, IMessage<T>
{
    private T? _current;

    public T Current => _current ?? throw new InvalidOperationException("No current message: call MoveNext first, and only use Current while it returns true.");

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        _current = await call.ReadMessageAsync(parser, cancellationToken).ConfigureAwait(false);
        return _current is not null;
    }
}

/// <summary>The response stream of a call, as its handler sees it.</summary>
internal sealed class HttpResponseStreamWriter<T>(HttpServerCall call) : IServerStreamWriter<T>
    where T : class, IMessage<T>
{
    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return call.WriteMessageAsync(message, cancellationToken);
    }
}
