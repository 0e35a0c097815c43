using System.Collections.Concurrent;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Server;
using Microsoft.Extensions.Logging;

namespace AsrService.Integration.Tests;

/// <summary>
/// A real server that requires API keys: one for every model, one for tiny only, one for base only (so it may not use
/// the loaded tiny), and one from a key file. Every log line the server writes is kept, to check that no key leaks.
/// </summary>
public sealed class SecureServerFixture : IAsyncLifetime
{
    public const string AnyModelKey = "any-model-key-5f0c2a9e";
    public const string TinyOnlyKey = "tiny-only-key-81d7be34";
    public const string BaseOnlyKey = "base-only-key-c39a11f0";
    public const string FileKey = "file-key-0d5e7c2b94a1";

    private readonly string _keyFile = Path.Combine(Path.GetTempPath(), $"asr-keys-{Guid.NewGuid():N}.txt");
    private GrpcServer? _server;

    public static IReadOnlyList<string> AllKeys => [AnyModelKey, TinyOnlyKey, BaseOnlyKey, FileKey];

    public ModelFixture Models { get; } = new();

    public GrpcServer Server => _server ?? throw new InvalidOperationException("not started");

    public GrpcClientConnection Connection { get; private set; } = null!;

    public CapturedLogs Logs { get; } = new();

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_keyFile, $"# issued to the interop lab\n\n{FileKey}:tiny,base\n");
        var options = new AsrServiceOptions
        {
            ApiKeys =
            [
                new ApiKeyOptions { Key = AnyModelKey, Name = "ops" },
                new ApiKeyOptions { Key = TinyOnlyKey, Models = ["tiny"] },
                new ApiKeyOptions { Key = BaseOnlyKey, Models = ["base"], Name = "base-team" },
            ],
            ApiKeysFile = _keyFile,
        };
        _server = AsrServerHost.Build(
            Models.Tiny,
            Models.VoiceActivity,
            options,
            [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }],
            configure: builder =>
            {
                builder.Logging.ClearProviders();
                builder.Logging.SetMinimumLevel(LogLevel.Trace);
                builder.Logging.AddProvider(Logs);
            });
        await _server.StartAsync();
        Connection = GrpcClientConnection.ForAddress($"127.0.0.1:{_server.Port}");
    }

    public async Task DisposeAsync()
    {
        Connection?.Dispose();
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        Models.Dispose();
        File.Delete(_keyFile);
    }

    /// <summary>Keeps every formatted log line, with its scopes.</summary>
    public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
    {
        private readonly ConcurrentQueue<string> _lines = new();
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public IReadOnlyCollection<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(CapturedLogs owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => owner._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scopes = new List<string>();
                owner._scopes.ForEachScope((scope, list) => list.Add(scope?.ToString() ?? string.Empty), scopes);
                owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception} [{string.Join(" => ", scopes)}]");
            }
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SecureServerCollection : ICollectionFixture<SecureServerFixture>
{
    public const string Name = "secure server";
}
