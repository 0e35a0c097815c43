using System.CommandLine;
using AsrService.Core.Pipeline;
using AsrService.Grpc;
using AsrService.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsrService.Cli.Commands;

/// <summary><c>asr serve</c>: the gRPC recognition server.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new AsrServiceOptions();
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 for every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on (0 picks a free one).", DefaultValueFactory = _ => 50051 };
        var certificate = new Option<string?>("--tls-cert") { Description = "TLS certificate (PEM or PFX); enables TLS 1.2/1.3 with ALPN h2." };
        var key = new Option<string?>("--tls-key") { Description = "Private key (PEM) of --tls-cert." };
        var config = new Option<string?>("--config") { Description = "JSON file with an \"Asr\" section of server options (flags given here win over it)." };
        var maxStreams = new Option<int>("--max-streams") { Description = "Calls decoded at once; more get RESOURCE_EXHAUSTED.", DefaultValueFactory = _ => defaults.MaxConcurrentStreams };
        var decodes = new Option<int>("--concurrent-decodes") { Description = "Decodes run at once (0: cores / threads per run); more finals wait, more interims are skipped.", DefaultValueFactory = _ => 0 };
        var finalsPerDecode = new Option<int>("--finals-per-decode") { Description = $"Most finals one decode slot decodes together, decoder steps batched across streams; later finals join a running group while no slot is free (1-{DecodeScheduler.MaxFinalsPerDecode}; 1: each alone). Same results.", DefaultValueFactory = _ => defaults.FinalsPerDecode };
        var preempt = new Option<int>("--preempt-interims-ms") { Description = "A final that finds every decode slot busy stops a running interim after waiting this long (0: at once; -1: never).", DefaultValueFactory = _ => PreemptMilliseconds(defaults.PreemptInterimsAfter) };
        var noEarlyFinals = new Option<bool>("--no-early-finals") { Description = "Decode a final only once its segment has closed, not during the end of its closing silence (same results, later)." };
        var maxMessage = new Option<int>("--max-message-bytes") { Description = "Largest request message accepted; larger get RESOURCE_EXHAUSTED.", DefaultValueFactory = _ => defaults.MaxMessageBytes };
        var maxStream = new Option<double>("--max-stream-s") { Description = "Most audio per stream, in seconds; then finals and OUT_OF_RANGE.", DefaultValueFactory = _ => defaults.MaxStreamDuration.TotalSeconds };
        var idle = new Option<double>("--idle-timeout-s") { Description = "Seconds without audio before a stream ends (finals, then OUT_OF_RANGE).", DefaultValueFactory = _ => defaults.StreamIdleTimeout.TotalSeconds };
        var realTimeRate = new Option<double>("--realtime-rate") { Description = "Fastest audio (x real time) a stream that set real_time may send; faster gets FAILED_PRECONDITION.", DefaultValueFactory = _ => defaults.RealTimeMaxRate };
        var realTimeBurst = new Option<double>("--realtime-burst-s") { Description = "Seconds of audio a real_time stream may send ahead at once.", DefaultValueFactory = _ => defaults.RealTimeBurst.TotalSeconds };
        var responseQueue = new Option<int>("--response-queue") { Description = "Responses a stream may queue for a slow client.", DefaultValueFactory = _ => defaults.ResponseQueueCapacity };
        var slowReader = new Option<double>("--slow-reader-timeout-s") { Description = "Seconds a final result waits for a client that does not read; then RESOURCE_EXHAUSTED.", DefaultValueFactory = _ => defaults.SlowReaderTimeout.TotalSeconds };
        var grace = new Option<double>("--shutdown-grace-s") { Description = "Seconds open calls get on SIGTERM before streams are finalised and ended with UNAVAILABLE.", DefaultValueFactory = _ => defaults.ShutdownGracePeriod.TotalSeconds };
        var apiKeys = new Option<string[]>("--api-key")
        {
            Description = "API key clients must send (authorization: Bearer KEY, or x-api-key: KEY); KEY:model1,model2 restricts it to those models. Repeatable.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var apiKeysFile = new Option<string?>("--api-keys-file") { Description = "File of API keys, one KEY[:model1,model2] per line ('#' comments)." };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "Serve Prometheus metrics at http://HOST:PORT/metrics (HTTP/1.1)." };
        var metricsHost = new Option<string?>("--metrics-host") { Description = "Address of the metrics endpoint (default: --host)." };
        var logTranscripts = new Option<bool>("--log-transcripts") { Description = "Log final transcripts (off by default: they are users' data)." };
        var logFormat = new Option<string>("--log-format") { Description = "Log lines as 'simple' text or 'json' (one object per line, with the call id).", DefaultValueFactory = _ => "simple" };
        logFormat.AcceptOnlyFromAmong("simple", "json");

        var command = new Command("serve", "Run the gRPC recognition server (asr.v1.Asr, grpc.health.v1, server reflection).")
        {
            host, port, certificate, key, config, maxStreams, decodes, finalsPerDecode, preempt, noEarlyFinals, maxMessage, maxStream, idle, realTimeRate, realTimeBurst, responseQueue, slowReader,
            grace, apiKeys, apiKeysFile, metricsPort, metricsHost, logTranscripts, logFormat,
        };
        var engineOptions = EngineOptions.AddTo(command, streaming: true);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = engineOptions.Bind(parse);
            var endpoint = new GrpcEndpointOptions
            {
                Host = parse.GetRequiredValue(host),
                Port = parse.GetValue(port),
                CertificatePath = parse.GetValue(certificate),
                CertificateKeyPath = parse.GetValue(key),
            };

            // Defaults, then the configuration file and Asr__* environment variables, then flags given explicitly.
            var configuration = new ConfigurationBuilder();
            if (parse.GetValue(config) is { } configPath)
            {
                configuration.AddJsonFile(Path.GetFullPath(configPath), optional: false);
            }

            var serviceOptions = AsrServiceConfiguration.Bind(configuration.AddEnvironmentVariables().Build(), new AsrServiceOptions());
            Override(parse, maxStreams, v => serviceOptions.MaxConcurrentStreams = v);
            Override(parse, maxMessage, v => serviceOptions.MaxMessageBytes = v);
            Override(parse, decodes, v => serviceOptions.ConcurrentDecodes = v);
            Override(parse, finalsPerDecode, v => serviceOptions.FinalsPerDecode = v);
            Override(parse, preempt, v => serviceOptions.PreemptInterimsAfter = PreemptAfter(v));
            Override(parse, maxStream, v => serviceOptions.MaxStreamDuration = Seconds(v));
            Override(parse, idle, v => serviceOptions.StreamIdleTimeout = Seconds(v));
            Override(parse, realTimeRate, v => serviceOptions.RealTimeMaxRate = v);
            Override(parse, realTimeBurst, v => serviceOptions.RealTimeBurst = Seconds(v));
            Override(parse, responseQueue, v => serviceOptions.ResponseQueueCapacity = v);
            Override(parse, slowReader, v => serviceOptions.SlowReaderTimeout = Seconds(v));
            Override(parse, grace, v => serviceOptions.ShutdownGracePeriod = Seconds(v));
            Override(parse, apiKeysFile, v => serviceOptions.ApiKeysFile = v);
            Override(parse, metricsPort, v => serviceOptions.MetricsPort = v);
            Override(parse, metricsHost, v => serviceOptions.MetricsHost = v);
            if (parse.GetValue(noEarlyFinals))
            {
                serviceOptions.EarlyFinals = false;
            }

            if (parse.GetValue(logTranscripts))
            {
                serviceOptions.LogTranscripts = true;
            }

            foreach (var spec in parse.GetValue(apiKeys) ?? [])
            {
                try
                {
                    serviceOptions.ApiKeys.Add(ApiKeyOptions.Parse(spec));
                }
                catch (FormatException e)
                {
                    throw new ArgumentException($"--api-key: {e.Message}", e);
                }
            }

            // Before the models load, so that a bad option fails in a second rather than after a download.
            serviceOptions.Validate();

            var json = parse.GetRequiredValue(logFormat) == "json";
            using var engine = Engine.Load(settings, cancellationToken);

            await using var server = AsrServerHost.Build(
                engine.Recognizer, engine.VoiceActivity, serviceOptions, [endpoint],
                configure: builder => ConfigureLogging(builder.Logging, json));
            await server.StartAsync(cancellationToken);
            var scrapePort = serviceOptions.MetricsPort is null ? -1 : server.GetMetricsPort();
            foreach (var address in server.Addresses)
            {
                Console.Error.WriteLine(address.Port == scrapePort ? $"asr: metrics on {address}metrics" : $"asr: listening on {address}");
            }

            Console.Error.WriteLine(
                $"asr: model {engine.Recognizer.ModelName} on {engine.Recognizer.ExecutionProvider}, {settings.Inference.IntraOpThreads} threads per run, at most {serviceOptions.MaxConcurrentStreams} streams");

            // SIGTERM and Ctrl+C reach the host (Program leaves them to it for this command), which signals
            // ApplicationStopping; StopAsync then drains: see ShutdownDrain.
            var lifetime = server.Services.GetRequiredService<IHostApplicationLifetime>();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"asr: stopping; open calls have {serviceOptions.ShutdownGracePeriod.TotalSeconds:0.#} s to finish");
            }

            await server.StopAsync(CancellationToken.None);
            return ExitCodes.Success;
        });
        return command;
    }

    private static TimeSpan Seconds(double value) => TimeSpan.FromSeconds(value);

    /// <summary>--preempt-interims-ms: milliseconds, or -1 for never.</summary>
    internal static TimeSpan? PreemptAfter(int milliseconds) => milliseconds switch
    {
        -1 => null,
        < 0 => throw new ArgumentException($"--preempt-interims-ms must be 0 or more, or -1 (never), got {milliseconds}"),
        _ => TimeSpan.FromMilliseconds(milliseconds),
    };

    internal static int PreemptMilliseconds(TimeSpan? after) => after is { } delay ? (int)delay.TotalMilliseconds : -1;

    /// <summary>Applies a flag only when it was given: an unset flag must not undo the configuration file.</summary>
    private static void Override<T>(ParseResult parse, Option<T> option, Action<T> apply)
    {
        if (parse.GetResult(option) is { Implicit: false } && parse.GetValue(option) is { } value)
        {
            apply(value);
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, bool json)
    {
        logging.ClearProviders();

        // Kestrel's per-request lines would double every call's log; our own lines carry the call id instead.
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (json)
        {
            logging.AddJsonConsole(console =>
            {
                console.IncludeScopes = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                console.UseUtcTimestamp = true;
            });
        }
        else
        {
            logging.AddSimpleConsole(console =>
            {
                console.IncludeScopes = true;
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
    }
}
