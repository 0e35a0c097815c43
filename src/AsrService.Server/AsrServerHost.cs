using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server.Metrics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// Composes the gRPC host: transport, health, reflection and the asr.v1 service over loaded models, with
/// authentication, limits, graceful shutdown and (when <see cref="AsrServiceOptions.MetricsPort"/> is set) a Prometheus
/// endpoint.
/// </summary>
public static class AsrServerHost
{
    /// <summary>Time the host gets beyond the grace period to finalise late streams and stop Kestrel.</summary>
    private static readonly TimeSpan s_shutdownMargin = TimeSpan.FromSeconds(15);

    /// <param name="recognizer">The loaded model (shared by all calls; the host does not own it).</param>
    /// <param name="voiceActivity">The loaded voice-activity model.</param>
    /// <param name="options">Limits and operations settings; validated here.</param>
    /// <param name="endpoints">Where to serve gRPC.</param>
    /// <param name="configureTransport">Transport changes applied after <see cref="AsrServiceOptions.MaxMessageBytes"/>.</param>
    /// <param name="args">Command-line arguments for the host's configuration.</param>
    /// <param name="configure">Last changes to the builder (logging, Kestrel limits) before it is built.</param>
    public static GrpcServer Build(
        ISpeechRecognizer recognizer,
        IVoiceActivityModel voiceActivity,
        AsrServiceOptions options,
        IEnumerable<GrpcEndpointOptions> endpoints,
        Action<GrpcServerOptions>? configureTransport = null,
        string[]? args = null,
        Action<GrpcServerBuilder>? configure = null)
    {
        options.Validate();
        var endpointList = endpoints.ToList();
        var builder = GrpcServerBuilder.Create(args);
        foreach (var endpoint in endpointList)
        {
            builder.Listen(endpoint);
        }

        builder.ConfigureTransport(transport => transport.MaxReceiveMessageSize = options.MaxMessageBytes);
        if (configureTransport is not null)
        {
            builder.ConfigureTransport(configureTransport);
        }

        var metrics = new AsrMetrics(recognizer.ModelName, recognizer.ExecutionProvider);
        builder.Services.AddSingleton(recognizer);
        builder.Services.AddSingleton(voiceActivity);
        builder.Services.AddSingleton(options);
        if (options.FinalsPerDecode > 1)
        {
            // Built (or read from the cache) now, not during the first busy moment.
            recognizer.PrepareGroupDecoding();
        }

        builder.Services.AddSingleton(new DecodeScheduler(options.ConcurrentDecodes > 0
            ? options.ConcurrentDecodes
            : Math.Max(1, Environment.ProcessorCount / Math.Max(1, recognizer.IntraOpThreads)), options.FinalsPerDecode, recognizer.CreateSession)
        {
            PreemptInterimsAfter = options.PreemptInterimsAfter,
        });
        builder.Services.AddSingleton(metrics);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AsrGrpcService>();
        builder.Services.AddSingleton(new ApiKeyAuthenticator(options));
        builder.Services.AddSingleton<ShutdownDrain>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ShutdownDrain>());
        builder.Services.AddSingleton<GuardedAsrService>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownGracePeriod + s_shutdownMargin);

        if (options.MetricsPort is { } metricsPort)
        {
            var metricsEndpoint = new MetricsEndpoint(metrics.Registry);
            var metricsHost = options.MetricsHost ?? endpointList.FirstOrDefault()?.Host ?? "127.0.0.1";
            builder.Services.AddSingleton(metricsEndpoint);
            builder.Services.AddSingleton<IStartupFilter>(metricsEndpoint);
            builder.ConfigureKestrel(kestrel => metricsEndpoint.Listen(kestrel, metricsHost, metricsPort));
        }

        configure?.Invoke(builder);
        var server = builder.Build();
        Asr.BindService(server.Registry, server.Services.GetRequiredService<GuardedAsrService>());

        var scheduler = server.Services.GetRequiredService<DecodeScheduler>();
        var registry = server.Services.GetRequiredService<AsrMetrics>().Registry;
        registry.Add(new Gauge("asr_decode_queue_depth", "Final decodes waiting for a decode slot.", () => scheduler.WaitingFinals));
        registry.Add(new Gauge("asr_decodes_running", "Decodes running now.", () => scheduler.RunningDecodes));
        registry.Add(new Gauge("asr_decode_slots", "Decodes that may run at once.", () => scheduler.ConcurrentDecodes));
        registry.Add(new Gauge("asr_interims_skipped", "Interim updates skipped because every decode slot was busy (since start).", () => scheduler.SkippedInterims));
        registry.Add(new Gauge("asr_interims_preempted", "Running interim decodes stopped because a final found every decode slot busy (since start).", () => scheduler.PreemptedInterims));
        var finalWaits = registry.Add(new Histogram("asr_final_wait_seconds",
            "Time a final waited for a decode slot (or to join a running group) after its segment closed, or after its audio was complete for an early final: the queueing part of final latency.",
            [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]));
        scheduler.FinalWaited += wait => finalWaits.Observe(wait.TotalSeconds);
        registry.Add(new Gauge("asr_early_finals", "Streaming finals decoded during their segment's closing silence (since start).", () => scheduler.EarlyFinals));
        registry.Add(new Gauge("asr_early_finals_dropped", "Of those, finals dropped because speech resumed: decodes spent for nothing (since start).", () => scheduler.DroppedEarlyFinals));
        registry.Add(new Gauge("asr_final_groups", "Decodes of two finals or more together (--finals-per-decode; since start).", () => scheduler.Groups));
        registry.Add(new Gauge("asr_grouped_finals", "Finals decoded in those groups (since start).", () => scheduler.GroupedFinals));

        // The process as the runtime sees it: memory that stays up after warm-up, or collections that pause decodes,
        // show here before they show in latency.
        registry.Add(new Gauge("process_resident_memory_bytes", "Resident memory of the server process.", () => Environment.WorkingSet));
        registry.Add(new Gauge("dotnet_gc_heap_bytes", "Bytes in the managed heap (not counting ONNX Runtime's native memory).", () => GC.GetTotalMemory(false)));
        // Memory the GC holds from the OS, live or not: resident memory minus this is mostly native (ONNX Runtime's
        // arenas and buffers), which tells a native leak from a heap the GC simply has not shrunk.
        registry.Add(new Gauge("dotnet_gc_committed_bytes", "Memory the garbage collector has committed from the OS (live objects and free space).", () => GC.GetGCMemoryInfo().TotalCommittedBytes));
        registry.Add(new Gauge("dotnet_gc_gen2_collections", "Full (generation 2) garbage collections since start.", () => GC.CollectionCount(2)));
        registry.Add(new Gauge("dotnet_gc_pause_seconds", "Time the runtime paused threads for garbage collection since start.", () => GC.GetTotalPauseDuration().TotalSeconds));

        var logger = server.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AsrServerHost).FullName!);
        if (!server.Services.GetRequiredService<ApiKeyAuthenticator>().Enabled)
        {
            AsrServiceLog.NoAuthentication(logger);
        }

        if (server.Services.GetService<MetricsEndpoint>() is { } endpointForLog)
        {
            server.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(
                () => AsrServiceLog.MetricsListening(logger, endpointForLog.Address));
        }

        return server;
    }

    /// <summary>The port of the metrics endpoint of a started server built here.</summary>
    public static int GetMetricsPort(this GrpcServer server) =>
        (server.Services.GetService<MetricsEndpoint>() ?? throw new InvalidOperationException("the server has no metrics endpoint (MetricsPort is null)")).Port;

    /// <summary>The metrics of a server built here.</summary>
    public static AsrMetrics GetMetrics(this GrpcServer server) => server.Services.GetRequiredService<AsrMetrics>();
}
