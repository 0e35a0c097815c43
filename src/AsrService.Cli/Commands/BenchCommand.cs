using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AsrService.Cli.Bench;
using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.Client;
using AsrService.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsrService.Cli.Commands;

/// <summary>
/// <c>asr bench</c>: the load tool. N concurrent StreamingRecognize calls over the real transport, against a server
/// given by --server or one started in this process on a loopback port; prints a table and writes JSON.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var server = new Option<string?>("--server", "-s") { Description = "Server HOST:PORT; without it a server is started in this process with the model options below." };
        var streams = new Option<int>("--streams", "-n") { Description = "Concurrent streams.", DefaultValueFactory = _ => 1 };
        var fast = new Option<bool>("--fast") { Description = "Send audio as fast as possible instead of at real time." };
        var chunkMs = new Option<int>("--chunk-ms") { Description = "Audio per message, in milliseconds.", DefaultValueFactory = _ => 100 };
        var interim = new Option<bool>("--interim") { Description = "Ask for interim results." };
        var duration = new Option<double>("--duration") { Description = "Seconds each stream keeps sending (at least one utterance).", DefaultValueFactory = _ => 60 };
        var gapMs = new Option<int>("--gap-ms") { Description = "Mean silence between utterances, in milliseconds (each gap is drawn from 0.5-1.5 times it).", DefaultValueFactory = _ => 2000 };
        var data = new Option<DirectoryInfo?>("--data") { Description = "Folder of WAV files (searched recursively); default ../shared/data/librispeech-test-other-dev." };
        var json = new Option<FileInfo?>("--json") { Description = "Write the results as JSON to this file." };
        var findCapacity = new Option<bool>("--find-capacity") { Description = "Raise the stream count until p95 final latency passes --latency-bound, interims (with --interim) come less often than --interim-bound, or errors appear." };
        var bound = new Option<double>("--latency-bound") { Description = "p95 final latency bound for --find-capacity, in seconds.", DefaultValueFactory = _ => 1.0 };
        var decodes = new Option<int>("--concurrent-decodes") { Description = "In-process server: decodes run at once (0: cores / threads per run).", DefaultValueFactory = _ => 0 };
        var finalsPerDecode = new Option<int>("--finals-per-decode") { Description = "In-process server: most finals one decode slot decodes together (see asr serve).", DefaultValueFactory = _ => 1 };
        var preempt = new Option<int>("--preempt-interims-ms") { Description = "In-process server: a final that finds every slot busy stops a running interim after this long (see asr serve).", DefaultValueFactory = _ => ServeCommand.PreemptMilliseconds(DecodeScheduler.DefaultPreemptInterimsAfter) };
        var noEarlyFinals = new Option<bool>("--no-early-finals") { Description = "In-process server: decode finals only once their segment has closed (see asr serve)." };
        var interimBound = new Option<double>("--interim-bound") { Description = "With --interim, --find-capacity also requires interims at most this many seconds apart on average.", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the streams' shuffled utterance orders; the same seed replays the same load.", DefaultValueFactory = _ => 1 };
        var maxTry = new Option<int>("--max-streams-to-try") { Description = "Upper end of the --find-capacity search.", DefaultValueFactory = _ => 128 };
        var liveMemory = new Option<bool>("--live-memory") { Description = "In-process server: halfway through each run, force one full garbage collection and report the managed memory still live (pauses the server once, for tens of milliseconds)." };

        var command = new Command("bench", "Load-test a server with concurrent streams and report latency percentiles.")
        {
            server, streams, fast, chunkMs, interim, duration, gapMs, data, json, findCapacity, bound, interimBound, maxTry, decodes, finalsPerDecode, preempt, noEarlyFinals, seed, liveMemory,
        };
        var engineOptions = EngineOptions.AddTo(command, streaming: true);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var engineSettings = engineOptions.Bind(parse);
            RequireAtLeast(parse.GetValue(streams), 1, "--streams");
            RequireAtLeast(parse.GetValue(chunkMs), 1, "--chunk-ms");
            RequireAtLeast(parse.GetValue(gapMs), 0, "--gap-ms");
            if (!(parse.GetValue(duration) > 0))
            {
                throw new ArgumentException($"--duration must be above 0 seconds, got {parse.GetValue(duration)}");
            }

            var utterances = LoadAudio(parse.GetValue(data));
            var settings = new LoadSettings(
                parse.GetValue(streams),
                !parse.GetValue(fast),
                parse.GetValue(chunkMs),
                parse.GetValue(interim),
                TimeSpan.FromSeconds(parse.GetValue(duration)),
                TimeSpan.FromMilliseconds(parse.GetValue(gapMs)),
                engineSettings.Vad.MinSilence,
                engineSettings.Vad.SpeechPad,
                parse.GetValue(seed));

            Engine? engine = null;
            GrpcServer? local = null;
            (double Rss, double Managed)? idle = null;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            try
            {
                var address = parse.GetValue(server);
                if (address is null)
                {
                    engine = Engine.Load(engineSettings, cancellationToken);
                    var serviceOptions = new AsrServiceOptions
                    {
                        MaxConcurrentStreams = 1024,
                        ConcurrentDecodes = parse.GetValue(decodes),
                        FinalsPerDecode = parse.GetValue(finalsPerDecode),
                        PreemptInterimsAfter = ServeCommand.PreemptAfter(parse.GetValue(preempt)),
                        EarlyFinals = !parse.GetValue(noEarlyFinals),
                    };
                    serviceOptions.Validate();

                    local = AsrServerHost.Build(engine.Recognizer, engine.VoiceActivity, serviceOptions,
                        [new GrpcEndpointOptions { Host = "127.0.0.1", Port = 0 }], args: ["--Logging:LogLevel:Default=Warning"]);
                    await local.StartAsync(cancellationToken);

                    // The in-process server's host takes SIGTERM/Ctrl+C for its own shutdown; the load must stop with it.
                    local.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(stop.Cancel);
                    address = $"127.0.0.1:{local.Port}";
                    GC.GetTotalMemory(forceFullCollection: true);
                    var baseline = MemorySampler.Now();
                    idle = baseline;
                    Console.Error.WriteLine($"asr: bench against an in-process server on {address}: model {engine.Recognizer.ModelName}, {engineSettings.Inference.IntraOpThreads} threads per run");
                    Console.Error.WriteLine($"asr: memory before the first run: RSS {baseline.Rss:F0} MB, managed heap {baseline.Managed:F0} MB");
                }

                var memory = local is null ? MemoryProbe.None : parse.GetValue(liveMemory) ? MemoryProbe.SampleAndLive : MemoryProbe.Sample;

                var scheduling = local is null
                    ? null
                    : new SchedulerCounter(local.Services.GetRequiredService<DecodeScheduler>(), settings.Interim);
                using var connection = GrpcClientConnection.ForAddress(address);
                var results = new List<LoadResult>();
                async Task<LoadResult> RunAndReportAsync(LoadSettings load)
                {
                    var run = await LoadRun.RunAsync(connection, utterances, load, memory, stop.Token);
                    results.Add(run);
                    PrintRow(run);
                    scheduling?.Report();
                    ReportMemory(run, idle);
                    return run;
                }

                PrintHeader();
                // A stream count passes with no errors, p95 final latency within the bound and, with interims, interims
                // that still come at least as often as --interim-bound (the scheduler thins them under load).
                bool Passes(LoadResult run) =>
                    run.ErrorCount == 0
                    && run.FinalLatency.Percentile(95) <= parse.GetValue(bound)
                    && (!run.Settings.Interim || run.InterimInterval.Mean() <= parse.GetValue(interimBound));

                if (parse.GetValue(findCapacity))
                {
                    var n = Math.Max(1, settings.Streams);
                    var limit = parse.GetValue(maxTry);
                    while (n <= limit)
                    {
                        var run = await RunAndReportAsync(settings with { Streams = n });
                        if (!Passes(run))
                        {
                            break;
                        }

                        n = n < 4 ? n * 2 : n + Math.Max(2, n / 4);
                    }

                    var passing = results.Where(Passes).ToList();
                    var criterion = $"p95 final latency <= {parse.GetValue(bound)} s" + (settings.Interim ? $" and an interim every <= {parse.GetValue(interimBound)} s" : string.Empty);
                    Console.WriteLine(passing.Count == 0
                        ? $"capacity: below {results[0].Settings.Streams} streams at {criterion}"
                        : $"capacity: {passing[^1].Settings.Streams} streams at {criterion}");
                }
                else
                {
                    PrintLatencyByMinute(await RunAndReportAsync(settings));
                }

                if (parse.GetValue(json) is { } file)
                {
                    await File.WriteAllTextAsync(file.FullName, ToJson(results, engine?.Recognizer.ModelName, idle), cancellationToken);
                }

                return results.All(r => r.ErrorCount == 0) ? ExitCodes.Success : ExitCodes.ServerError;
            }
            finally
            {
                if (local is not null)
                {
                    await local.StopAsync(CancellationToken.None);
                    await local.DisposeAsync();
                }

                engine?.Dispose();
            }
        });
        return command;
    }

    private static void RequireAtLeast(int value, int minimum, string option)
    {
        if (value < minimum)
        {
            throw new ArgumentException($"{option} must be at least {minimum}, got {value}");
        }
    }

    private static List<float[]> LoadAudio(DirectoryInfo? folder)
    {
        var path = folder?.FullName ?? DefaultData();
        var files = Directory.GetFiles(path, "*.wav", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new ArgumentException($"no WAV files under {path}");
        }

        return files.Select(AudioFile.ReadAll).ToList();
    }

    private static string DefaultData()
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "..", "shared", "data", "librispeech-test-other-dev");
            if (Directory.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new ArgumentException("no --data given and ../shared/data/librispeech-test-other-dev not found");
    }

    private static void PrintHeader()
    {
        Console.WriteLine("| streams | pace | interim | audio s | wall s | audio s / wall s | finals | final p50 | final p90 | final p95 | final p99 | first interim p50 | p95 | interim every (mean s) | cpu s / audio s | errors |");
        Console.WriteLine("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    }

    private static void PrintRow(LoadResult r)
    {
        var s = r.Settings;
        string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F3", CultureInfo.InvariantCulture);
        var errors = r.Errors.IsEmpty ? "0" : string.Join(' ', r.Errors.Select(e => $"{e.Key}:{e.Value}"));
        foreach (var (code, message) in r.FirstErrorMessages)
        {
            Console.Error.WriteLine($"asr: {s.Streams} streams: first {code} message: {message}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {s.Streams} | {(s.RealTime ? "real time" : "fast")} | {(s.Interim ? "on" : "off")} | {r.AudioSeconds:F0} | {r.WallSeconds:F1} | {r.AudioSeconds / r.WallSeconds:F2} | {r.Finals} | " +
            $"{F(r.FinalLatency.Percentile(50))} | {F(r.FinalLatency.Percentile(90))} | {F(r.FinalLatency.Percentile(95))} | {F(r.FinalLatency.Percentile(99))} | " +
            $"{F(r.FirstInterimLatency.Percentile(50))} | {F(r.FirstInterimLatency.Percentile(95))} | {F(r.InterimInterval.Mean())} | {r.ProcessCpuSeconds / r.AudioSeconds:F3} | {errors} |"));
    }

    /// <summary>
    /// The in-process server's memory in a run (with the bench client's, which holds the audio set): resident set,
    /// also as what the run added to the idle process, and managed heap. The memory a stream costs is the slope
    /// between runs with different stream counts: a first run also pays one-off costs (ONNX Runtime's arenas, code).
    /// </summary>
    private static void ReportMemory(LoadResult r, (double Rss, double Managed)? idleMemory)
    {
        if (r.Memory is not { } m || idleMemory is not { } idle)
        {
            return;
        }

        var live = m.Live is { } l ? $", {l.Total:F0} MB live after a full collection ({l.SmallObjects:F0} small objects, {l.LargeObjects:F0} large, {l.Pinned:F0} pinned)" : string.Empty;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"asr: memory: RSS {m.RssMean:F0} MB mean while all streams sent ({m.RssMean - idle.Rss:F0} above idle), peak {m.RssPeak:F0} MB; managed heap peak {m.ManagedPeak:F0} MB{live}"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"asr: allocated {m.Allocated / r.AudioSeconds:F2} MB per audio second ({m.Allocated:F0} MB); collections: {m.Collections[0]} gen0, {m.Collections[1]} gen1, {m.Collections[2]} gen2"));
    }

    /// <summary>For runs of three minutes or more: final latency per minute, to show drift over a soak.</summary>
    private static void PrintLatencyByMinute(LoadResult r)
    {
        var intervals = r.FinalLatencyByMinute.Intervals();
        if (intervals.Count < 3)
        {
            return;
        }

        Console.WriteLine();
        Console.WriteLine("| minute | finals | final p50 | final p95 | final p99 |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var (index, sample) in intervals)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {index + 1} | {sample.Count} | {sample.Percentile(50):F3} | {sample.Percentile(95):F3} | {sample.Percentile(99):F3} |"));
        }
    }

    private static string ToJson(List<LoadResult> results, string? model, (double Rss, double Managed)? idle) => JsonSerializer.Serialize(new
    {
        model,
        idle_memory_mb = idle is { } i ? new { rss = Math.Round(i.Rss, 1), managed_heap = Math.Round(i.Managed, 1) } : null,
        machine = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
        runs = results.Select(r => new
        {
            streams = r.Settings.Streams,
            pace = r.Settings.RealTime ? "realtime" : "fast",
            interim = r.Settings.Interim,
            chunk_ms = r.Settings.ChunkMs,
            seed = r.Settings.Seed,
            audio_seconds = Math.Round(r.AudioSeconds, 2),
            wall_seconds = Math.Round(r.WallSeconds, 2),
            real_time_factor = Math.Round(r.WallSeconds / r.AudioSeconds * r.Settings.Streams, 4),
            finals = r.Finals,
            interims = r.Interims,
            final_latency_s = r.FinalLatency.Summary(),
            first_interim_latency_s = r.FirstInterimLatency.Summary(),
            interim_interval_s = r.InterimInterval.Summary(),
            cpu_seconds_per_audio_second = Math.Round(r.ProcessCpuSeconds / r.AudioSeconds, 4),
            errors = r.Errors,
            first_error_messages = r.FirstErrorMessages,
            memory_mb = r.Memory is { } m
                ? new
                {
                    rss_mean = Math.Round(m.RssMean, 1),
                    rss_peak = Math.Round(m.RssPeak, 1),
                    managed_heap_peak = Math.Round(m.ManagedPeak, 1),
                    allocated_per_audio_second = Math.Round(m.Allocated / r.AudioSeconds, 3),
                    collections = new { gen0 = m.Collections[0], gen1 = m.Collections[1], gen2 = m.Collections[2] },
                    managed_live = m.Live is { } l ? Math.Round(l.Total, 1) : (double?)null,
                    managed_live_parts = m.Live is { } p
                        ? new { small_objects = Math.Round(p.SmallObjects, 1), large_objects = Math.Round(p.LargeObjects, 1), pinned = Math.Round(p.Pinned, 1) }
                        : null,
                }
                : null,
            final_latency_by_minute_s = r.FinalLatencyByMinute.Intervals().Select(i => new { minute = i.Index + 1, latency = i.Sample.Summary() }),
        }),
    }, new JsonSerializerOptions { WriteIndented = true });
}

/// <summary>
/// Says on stderr what the in-process server's scheduler did in each run: how long finals waited for a decode slot;
/// with interims, how many it skipped (no slot free) and how many running ones a final preempted; how many finals
/// were decoded early and how many of those were dropped; with --finals-per-decode, how many finals it grouped.
/// </summary>
internal sealed class SchedulerCounter
{
    private readonly DecodeScheduler _scheduler;
    private readonly bool _interims;
    private LatencySample _waits = new();
    private long _groups;
    private long _finals;
    private long _decoded;
    private long _skipped;
    private long _preempted;
    private long _early;
    private long _dropped;

    public SchedulerCounter(DecodeScheduler scheduler, bool interims)
    {
        _scheduler = scheduler;
        _interims = interims;
        scheduler.FinalWaited += wait => Volatile.Read(ref _waits).Add(wait.TotalSeconds);
    }

    public void Report()
    {
        var waits = Interlocked.Exchange(ref _waits, new LatencySample());
        if (waits.Count > 0)
        {
            Console.Error.WriteLine(
                $"asr: {waits.Count} finals waited for a decode slot: p50 {waits.Percentile(50) * 1000:F1} ms, "
                + $"p95 {waits.Percentile(95) * 1000:F1} ms, max {waits.Percentile(100) * 1000:F1} ms");
        }

        var runGroups = Since(ref _groups, _scheduler.Groups);
        var runFinals = Since(ref _finals, _scheduler.GroupedFinals);
        var runDecoded = Since(ref _decoded, _scheduler.DecodedFinals);
        var runSkipped = Since(ref _skipped, _scheduler.SkippedInterims);
        var runPreempted = Since(ref _preempted, _scheduler.PreemptedInterims);
        var runEarly = Since(ref _early, _scheduler.EarlyFinals);
        var runDropped = Since(ref _dropped, _scheduler.DroppedEarlyFinals);
        if (runEarly > 0)
        {
            Console.Error.WriteLine(
                $"asr: {runEarly} of {runDecoded} finals decoded early, during their segment's closing silence; {runDropped} of those dropped (speech resumed)");
        }

        if (_interims)
        {
            Console.Error.WriteLine($"asr: interims: {runSkipped} skipped (no slot free), {runPreempted} preempted by finals");
        }

        if (_scheduler.FinalsPerDecode > 1)
        {
            Console.Error.WriteLine(runGroups == 0
                ? $"asr: no finals were decoded in groups in this run ({runDecoded} decoded)"
                : $"asr: {runFinals} finals decoded in {runGroups} groups ({(double)runFinals / runGroups:F1} per group), of {runDecoded} decoded");
        }
    }

    /// <summary>How much a scheduler counter grew since the last report, which <paramref name="last"/> then becomes.</summary>
    private static long Since(ref long last, long now)
    {
        var grown = now - last;
        last = now;
        return grown;
    }
}
