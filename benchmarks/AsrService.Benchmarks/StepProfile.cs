using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;
using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using static AsrService.Benchmarks.CommandOptions;

namespace AsrService.Benchmarks;

/// <summary>
/// <c>profile</c>: where a decode's time goes inside ONNX Runtime. Decodes dev-set utterances from scratch with
/// ONNX Runtime's profiler on (<see cref="InferenceOptions.ProfileDirectory"/>), then reads the traces back and prints,
/// for each session (encoder, rewritten merged decoder, solo-step model), its runs and its node time by operator type,
/// and its costliest nodes. The same decodes without the profiler are timed first, because the profiler adds a cost
/// to every node: the shares it gives are right for large nodes and too high for the many small ones.
/// </summary>
internal static class StepProfile
{
    /// <summary>Runs the profile; a bad option or missing test data ends it with a one-line reason and exit code 2.</summary>
    public static int Run(string[] args)
    {
        try
        {
            return Profile(
                Option(args, "--model") ?? "tiny",
                (int)Number(args, "--utterances", 10),
                (int)Number(args, "--rounds", 3),
                (int)Number(args, "--top", 12),
                Option(args, "--keep"));
        }
        catch (Exception e) when (e is ArgumentException or IOException or ModelLoadException)
        {
            Console.Error.WriteLine($"profile: {e.Message}");
            return 2;
        }
    }

    private static int Profile(string model, int utterances, int rounds, int top, string? keep)
    {
        if (utterances < 1 || rounds < 2 || top < 1)
        {
            throw new ArgumentException("--utterances and --top must be 1 or more, --rounds 2 or more (the first is left out)");
        }

        var audio = RepositoryLayout.Utterances().Take(utterances).Select(RepositoryLayout.ReadUtterance).ToArray();
        var seconds = audio.Sum(a => a.Length) / 16_000.0;
        var folder = keep ?? Path.Combine(Path.GetTempPath(), $"asr-profile-{Environment.ProcessId}");
        Console.WriteLine($"model {model}, one intra-op thread, {audio.Length} utterances of librispeech-test-other-dev ({seconds:F1} s), each decoded from scratch in {rounds} rounds; the first round is left out");

        var plain = Decode(model, new InferenceOptions { IntraOpThreads = 1 }, audio, rounds);
        var profiled = Decode(model, new InferenceOptions { IntraOpThreads = 1, ProfileDirectory = folder }, audio, rounds);
        Console.WriteLine($"a round without the profiler: {plain.TotalMilliseconds:F0} ms; with it: {profiled.TotalMilliseconds:F0} ms ({profiled / plain:F2}x)");
        Console.WriteLine();

        List<SessionTrace> sessions;
        try
        {
            sessions = Directory.GetFiles(folder, "*.json").Order().Select(trace => SessionTrace.Read(trace, rounds)).OfType<SessionTrace>().ToList();
        }
        finally
        {
            if (keep is null)
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        // The profiler's cost is about the same for every node it times, so a session's time without it is estimated
        // as its profiled time less that cost for each of its nodes.
        var perRound = rounds - 1;
        var nodesPerRound = sessions.Sum(t => t.Nodes.Length) / (double)perRound;
        var costPerNode = (profiled - plain).TotalMicroseconds / nodesPerRound;
        Console.WriteLine($"The profiler's cost: {costPerNode:F1} µs for each of the {nodesPerRound:F0} nodes run in a round.");
        Console.WriteLine();
        Console.WriteLine("| session | runs a round | profiled µs a run | nodes a run | estimated µs a run without the profiler | estimated share of a round |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var trace in sessions.OrderByDescending(t => t.RunTime - (t.Nodes.Length * costPerNode)))
        {
            var estimate = (trace.RunTime - (trace.Nodes.Length * costPerNode)) / trace.Runs;
            Console.WriteLine($"| {trace.Name} | {trace.Runs / (double)perRound:F1} | {trace.RunTime / trace.Runs:F0} | {trace.Nodes.Length / (double)trace.Runs:F0} | {estimate:F0} | {estimate * trace.Runs / perRound / plain.TotalMicroseconds:P1} |");
        }

        Console.WriteLine();
        foreach (var trace in sessions.OrderByDescending(t => t.RunTime - (t.Nodes.Length * costPerNode)))
        {
            trace.Print(top);
        }

        return 0;
    }

    /// <summary>Decodes <paramref name="audio"/> <paramref name="rounds"/> times; the mean time of a round after the first.</summary>
    private static TimeSpan Decode(string model, InferenceOptions options, float[][] audio, int rounds)
    {
        // Disposing the recognizer ends its sessions, which is when ONNX Runtime writes their traces.
        using var recognizer = OnnxSpeechModels.LoadRecognizer(model, options, new ModelCache());
        using var session = recognizer.CreateSession();
        var timed = TimeSpan.Zero;
        for (var round = 0; round < rounds; round++)
        {
            var started = Stopwatch.GetTimestamp();
            foreach (var samples in audio)
            {
                session.Recognize(samples);
            }

            timed += round == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(started);
        }

        return timed / (rounds - 1);
    }

    /// <summary>One session's trace, its first round left out: its runs, their total time, and the kernel times of their nodes (µs).</summary>
    private sealed record SessionTrace(string Name, int Runs, double RunTime, TraceEvent[] Nodes)
    {
        public static SessionTrace? Read(string trace, int rounds)
        {
            var events = ReadEvents(trace);
            var runs = events.Where(e => e is { Category: "Session", Name: "model_run" }).OrderBy(e => e.Start).ToArray();
            if (runs.Length < rounds)
            {
                return null;
            }

            // Every round makes the same calls, so the first round is the first runs/rounds of them.
            var firstKept = runs[runs.Length / rounds].Start;
            var kept = runs.Where(r => r.Start >= firstKept).ToArray();

            // An If node's time is that of the nodes of the branch it ran, which are listed too.
            var nodes = events.Where(e => e is { Category: "Node", Args.Operator: not "If" } && e.Name.EndsWith("_kernel_time", StringComparison.Ordinal) && e.Start >= firstKept).ToArray();

            // ONNX Runtime names the trace PREFIX_DATE_TIME_MILLISECONDS.json; the prefix is the model file's name.
            var name = Regex.Replace(Path.GetFileNameWithoutExtension(trace), @"_[0-9-]+_[0-9-]+_[0-9]+$", "");
            return new SessionTrace(name, kept.Length, kept.Sum(r => (double)r.Duration), nodes);
        }

        /// <summary>Prints the node time by operator type and the costliest nodes.</summary>
        public void Print(int top)
        {
            var nodeTime = Nodes.Sum(n => (double)n.Duration);
            Console.WriteLine($"## {Name}");
            Console.WriteLine();
            Console.WriteLine($"{Runs} runs, {RunTime / Runs:F0} µs each on average with the profiler, of which {nodeTime / Runs:F0} µs inside nodes ({Nodes.Length / (double)Runs:F0} nodes a run)");
            Console.WriteLine();
            Console.WriteLine("| operator | nodes a run | µs a run | share of node time | µs a node |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (var group in Nodes.GroupBy(n => n.Args?.Operator ?? "?").OrderByDescending(g => g.Sum(n => n.Duration)).Take(top))
            {
                double total = group.Sum(n => n.Duration);
                Console.WriteLine($"| {group.Key} | {group.Count() / (double)Runs:F1} | {total / Runs:F1} | {total / nodeTime:P1} | {total / group.Count():F2} |");
            }

            Console.WriteLine();
            Console.WriteLine("| costliest nodes | operator | µs a run | share of node time |");
            Console.WriteLine("|---|---|---:|---:|");
            foreach (var group in Nodes.GroupBy(n => n.Name).OrderByDescending(g => g.Sum(n => n.Duration)).Take(top))
            {
                double total = group.Sum(n => n.Duration);
                Console.WriteLine($"| {group.Key[..^"_kernel_time".Length]} | {group.First().Args?.Operator} | {total / Runs:F1} | {total / nodeTime:P1} |");
            }

            Console.WriteLine();
        }
    }

    private static List<TraceEvent> ReadEvents(string trace)
    {
        using var stream = File.OpenRead(trace);
        return JsonSerializer.DeserializeAsyncEnumerable<TraceEvent>(stream).ToBlockingEnumerable().OfType<TraceEvent>().ToList();
    }

    /// <summary>One event of ONNX Runtime's Chrome trace: a session's run or a node's kernel time, in microseconds.</summary>
    private sealed record TraceEvent(
        [property: JsonPropertyName("cat")] string Category,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("ts")] long Start,
        [property: JsonPropertyName("dur")] long Duration,
        [property: JsonPropertyName("args")] TraceArguments? Args);

    private sealed record TraceArguments([property: JsonPropertyName("op_name")] string? Operator);
}
