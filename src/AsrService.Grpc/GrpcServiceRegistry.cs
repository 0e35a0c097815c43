using System.Collections.Concurrent;
using AsrService.Grpc.Internal;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace AsrService.Grpc;

/// <summary>
/// The methods this server answers, by full path (<c>/package.Service/Method</c>), each with its handler and its
/// request parser. Fills the role of Grpc.Core's <c>ServerServiceDefinition</c> + binder: hand-written
/// <c>BindService</c> methods (see <c>Asr.BindService</c>) call it the way generated code would.
/// </summary>
/// <remarks>
/// Registration is thread-safe and may happen before or after the endpoint is mapped; calls look methods up when they
/// arrive. The protobuf files that define the registered messages are collected for server reflection.
/// </remarks>
public sealed class GrpcServiceRegistry
{
    private readonly ConcurrentDictionary<string, ServerMethod> _methods = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FileDescriptor> _files = new(StringComparer.Ordinal);

    /// <summary>The full paths of all registered methods.</summary>
    public IReadOnlyCollection<string> Methods => [.. _methods.Keys];

    /// <summary>The full names of all services with at least one registered method, e.g. <c>asr.v1.Asr</c>.</summary>
    public IReadOnlyCollection<string> ServiceNames
    {
        get
        {
            var names = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var method in _methods.Values)
            {
                names.Add(method.ServiceName);
            }

            return names;
        }
    }

    /// <summary>Registers a unary method.</summary>
    public GrpcServiceRegistry AddUnary<TRequest, TResponse>(string method, UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        AddUnary(method, ParserCache<TRequest>.Parser, handler);

    /// <summary>Registers a unary method with an explicit request parser.</summary>
    public GrpcServiceRegistry AddUnary<TRequest, TResponse>(
        string method,
        MessageParser<TRequest> requestParser,
        UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        Add(new UnaryMethod<TRequest, TResponse>(method, requestParser, handler));

    /// <summary>Registers a client-streaming method.</summary>
    public GrpcServiceRegistry AddClientStreaming<TRequest, TResponse>(
        string method,
        ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        AddClientStreaming(method, ParserCache<TRequest>.Parser, handler);

    /// <summary>Registers a client-streaming method with an explicit request parser.</summary>
    public GrpcServiceRegistry AddClientStreaming<TRequest, TResponse>(
        string method,
        MessageParser<TRequest> requestParser,
        ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        Add(new ClientStreamingMethod<TRequest, TResponse>(method, requestParser, handler));

    /// <summary>Registers a server-streaming method.</summary>
    public GrpcServiceRegistry AddServerStreaming<TRequest, TResponse>(
        string method,
        ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        AddServerStreaming(method, ParserCache<TRequest>.Parser, handler);

    /// <summary>Registers a server-streaming method with an explicit request parser.</summary>
    public GrpcServiceRegistry AddServerStreaming<TRequest, TResponse>(
        string method,
        MessageParser<TRequest> requestParser,
        ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        Add(new ServerStreamingMethod<TRequest, TResponse>(method, requestParser, handler));

    /// <summary>Registers a bidirectional streaming method.</summary>
    public GrpcServiceRegistry AddDuplexStreaming<TRequest, TResponse>(
        string method,
        DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        AddDuplexStreaming(method, ParserCache<TRequest>.Parser, handler);

    /// <summary>Registers a bidirectional streaming method with an explicit request parser.</summary>
    public GrpcServiceRegistry AddDuplexStreaming<TRequest, TResponse>(
        string method,
        MessageParser<TRequest> requestParser,
        DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new() =>
        Add(new DuplexStreamingMethod<TRequest, TResponse>(method, requestParser, handler));

    /// <summary>
    /// Makes a protobuf file (and its dependencies) known to server reflection. Files that define registered request
    /// or response messages are added automatically; call this for a service defined in another file than its
    /// messages.
    /// </summary>
    public GrpcServiceRegistry AddFileDescriptor(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        _files.TryAdd(file.Name, file);
        return this;
    }

    /// <summary>Whether a method is registered under the full path.</summary>
    public bool Contains(string method) => _methods.ContainsKey(method);

    internal IReadOnlyCollection<FileDescriptor> FileDescriptors => [.. _files.Values];

    internal bool TryGetMethod(string path, out ServerMethod method) => _methods.TryGetValue(path, out method!);

    internal bool HasService(string serviceName)
    {
        foreach (var method in _methods.Values)
        {
            if (method.ServiceName == serviceName)
            {
                return true;
            }
        }

        return false;
    }

    private GrpcServiceRegistry Add(ServerMethod method)
    {
        if (!_methods.TryAdd(method.Path, method))
        {
            throw new InvalidOperationException($"A handler for '{method.Path}' is already registered.");
        }

        AddFileDescriptor(method.RequestDescriptor.File);
        AddFileDescriptor(method.ResponseDescriptor.File);
        return this;
    }
}
