using System.Net;
using AsrService.Grpc.Internal;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsrService.Grpc.Client;

/// <summary>
/// A connection to a gRPC server over <see cref="HttpClient"/> and HTTP/2 (cleartext with prior knowledge for http://,
/// TLS with ALPN for https://), playing the role of Grpc.Net.Client's <c>GrpcChannel</c>. Thread-safe; one instance
/// multiplexes any number of concurrent calls. Typed clients such as <c>Asr.AsrClient</c> wrap it.
/// </summary>
public sealed class GrpcClientConnection : IDisposable
{
    private readonly HttpClient _httpClient;

    /// <summary>Creates a connection to a server address such as <c>http://127.0.0.1:50051</c>.</summary>
    public GrpcClientConnection(Uri address, GrpcClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"Address '{address}' must be an absolute http:// or https:// URI.", nameof(address));
        }

        Address = address;
        Options = options ?? new GrpcClientOptions();
        if (Options.RequestCompression is { } compression && !GrpcCompression.IsSupported(compression))
        {
            throw new ArgumentException($"Request compression '{compression}' is not one of gzip, deflate, identity.", nameof(options));
        }

        var handler = Options.HttpHandler ?? CreateDefaultHandler();
        var disposeHandler = Options.HttpHandler is null || Options.DisposeHttpHandler;
        _httpClient = new HttpClient(handler, disposeHandler)
        {
            // Streaming calls last as long as the audio does; deadlines are per call.
            Timeout = Timeout.InfiniteTimeSpan,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        Logger = (Options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("AsrService.Grpc.Client");
    }

    /// <summary>The server address.</summary>
    public Uri Address { get; }

    /// <summary>The settings this connection was made with.</summary>
    public GrpcClientOptions Options { get; }

    internal HttpClient HttpClient => _httpClient;

    internal ILogger Logger { get; }

    /// <summary>Creates a connection from <c>http://host:port</c>, <c>https://host:port</c> or plain <c>host:port</c> (cleartext).</summary>
    public static GrpcClientConnection ForAddress(string address, GrpcClientOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        var uri = address.Contains("://", StringComparison.Ordinal) ? new Uri(address) : new Uri("http://" + address);
        return new GrpcClientConnection(uri, options);
    }

    /// <summary>Starts a unary call; await the result for the response.</summary>
    /// <param name="method">Full method path, e.g. <c>/asr.v1.Asr/Recognize</c>.</param>
    /// <param name="request">The request message.</param>
    /// <param name="options">Headers, deadline, cancellation.</param>
    public AsyncUnaryCall<TResponse> UnaryAsync<TRequest, TResponse>(string method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartWithSingleRequest(request);
        return new AsyncUnaryCall<TResponse>(call.ReadSingleResponseAsync(), call);
    }

    /// <summary>Starts a server-streaming call.</summary>
    public AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(string method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new()
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartWithSingleRequest(request);
        return new AsyncServerStreamingCall<TResponse>(new ClientResponseStream<TRequest, TResponse>(call), call);
    }

    /// <summary>Starts a bidirectional streaming call.</summary>
    public AsyncDuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(string method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>, new()
    {
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartStreaming();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(
            new ClientRequestStream<TRequest, TResponse>(call),
            new ClientResponseStream<TRequest, TResponse>(call),
            call);
    }

    /// <summary>Closes the connection; calls still running fail.</summary>
    public void Dispose() => _httpClient.Dispose();

    private static SocketsHttpHandler CreateDefaultHandler() => new()
    {
        // More than 100 concurrent streams (Kestrel's default limit per connection) open another connection instead
        // of queueing calls.
        EnableMultipleHttp2Connections = true,
        // Pings keep idle streaming calls alive through NATs and detect dead servers.
        KeepAlivePingDelay = TimeSpan.FromSeconds(60),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(20),
    };
}
