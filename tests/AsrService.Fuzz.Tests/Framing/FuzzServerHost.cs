using System.Collections.Concurrent;
using System.Net;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Microsoft.Extensions.Logging;

namespace AsrService.Fuzz.Tests.Framing;

/// <summary>
/// A real Kestrel server from <see cref="GrpcServerBuilder"/> on 127.0.0.1 with a free port and a 64 KiB message
/// limit, serving an asr.v1 Asr service that only reads and echoes. Error-level log entries are kept: the transport
/// logs one when a handler fails with anything but <see cref="RpcException"/>, which the client would only see as
/// INTERNAL.
/// </summary>
internal sealed class FuzzServerHost : IAsyncDisposable
{
    public const int MaxMessageSize = 64 * 1024;

    private FuzzServerHost(GrpcServer server, ErrorLog errors)
    {
        Server = server;
        Errors = errors;
    }

    public GrpcServer Server { get; }

    public ErrorLog Errors { get; }

    public static async Task<FuzzServerHost> StartAsync()
    {
        var errors = new ErrorLog();
        GrpcServerBuilder builder = GrpcServerBuilder.Create().Listen("127.0.0.1", 0);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddProvider(errors);
        builder.ConfigureTransport(options => options.MaxReceiveMessageSize = MaxMessageSize);

        // Kestrel keeps a stream it reset tracked for 5 s when the server answered before the body was all in (an
        // unknown method, an unsupported encoding, an early error); past twice this limit it refuses new streams with
        // ENHANCE_YOUR_CALM and then closes the connection. Thousands of hostile calls a second on one connection get
        // there with the default of 100 (a finding of this fuzzer, in tests/README.md); the limit here tests framing.
        builder.ConfigureKestrel(kestrel => kestrel.Limits.Http2.MaxStreamsPerConnection = 1000);
        GrpcServer server = builder.Build();
        Asr.BindService(server.Registry, new EchoAsrService());
        await server.StartAsync();
        return new FuzzServerHost(server, errors);
    }

    /// <summary>One HTTP/2 connection (prior knowledge, cleartext) that all requests share.</summary>
    public HttpClient CreateClient() => new(new SocketsHttpHandler { EnableMultipleHttp2Connections = false })
    {
        BaseAddress = Server.Addresses[0],
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await Server.StopAsync(timeout.Token);
        await Server.DisposeAsync();
    }

    /// <summary>Reads every request; answers each with its config's request id (unary) or its index (streaming).</summary>
    private sealed class EchoAsrService : Asr.AsrBase
    {
        public override Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context) =>
            Task.FromResult(new RecognizeResponse { RequestId = request.Config?.RequestId ?? string.Empty });

        public override async Task StreamingRecognize(
            IAsyncStreamReader<StreamingRecognizeRequest> requestStream,
            IServerStreamWriter<StreamingRecognizeResponse> responseStream,
            ServerCallContext context)
        {
            int index = 0;
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                await responseStream.WriteAsync(new StreamingRecognizeResponse { RequestId = (index++).ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }
        }
    }

    internal sealed class ErrorLog : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _entries = new();

        public IReadOnlyCollection<string> Entries => _entries;

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    entries.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}
