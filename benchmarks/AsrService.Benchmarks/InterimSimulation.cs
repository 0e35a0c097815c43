using System.Diagnostics;
using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using static AsrService.Benchmarks.CommandOptions;

namespace AsrService.Benchmarks;

/// <summary>
/// <c>interims</c>: the interim updates of whole utterances, as a stream with interims decodes them, measured over the
/// dev set rather than on one segment (<see cref="InterimUpdateBenchmark"/>). Each utterance is cut at every
/// <c>--every</c> seconds from 1 s to <c>--max-seconds</c>; each prefix is decoded with the previous prefix's
/// hypothesis as its draft (the incremental update), and from scratch (the greedy reference), and its encoder is run
/// once more alone. Prints the time of each, how many drafted updates equal the greedy decode of the same audio, and
/// how many of each draft's tokens the next hypothesis kept, which is what a draft can save, and how many decoder
/// calls each way took. Last, each whole utterance is decoded once more both ways, untimed, for the WER of an
/// update against the final's. One decode at a time, every figure from the same process; not a BenchmarkDotNet
/// benchmark (one pass over 20 utterances takes a minute).
/// </summary>
internal static class InterimSimulation
{
    private const int SampleRate = 16_000;

    /// <summary>Runs the pass; a bad option or missing test data ends it with a one-line reason and exit code 2.</summary>
    public static int Run(string[] args)
    {
        try
        {
            return RunPass(args);
        }
        catch (Exception e) when (e is ArgumentException or IOException or Core.Models.ModelLoadException)
        {
            Console.Error.WriteLine($"interims: {e.Message}");
            return 2;
        }
    }

    private static int RunPass(string[] args)
    {
        var model = Option(args, "--model") ?? "tiny";
        var utterances = (int)Number(args, "--utterances", 20);
        var every = Number(args, "--every", 0.5);
        var maxSeconds = Number(args, "--max-seconds", 15);
        var threads = (int)Number(args, "--threads", 1);
        var incremental = !args.Contains("--no-incremental");
        var window = Number(args, "--encoder-window", new InferenceOptions().InterimEncoderWindowSeconds);
        if (utterances < 1 || every <= 0 || maxSeconds < 1 || threads < 1)
        {
            throw new ArgumentException("--utterances and --threads must be 1 or more, --every above 0, --max-seconds 1 or more");
        }

        var options = new InferenceOptions { IntraOpThreads = threads, IncrementalInterims = incremental, InterimEncoderWindowSeconds = window };
        options.Validate();
        using var recognizer = OnnxSpeechModels.LoadRecognizer(model, options, new ModelCache());

        // The updates run on a session of their own, as a stream's interims do: a decode from scratch lets go of the
        // encoder stem that an update keeps for the next one.
        using var session = (MoonshineDecoderSession)recognizer.CreateSession();
        using var reference = (MoonshineDecoderSession)recognizer.CreateSession();
        var ids = RepositoryLayout.Utterances().Take(utterances).ToArray();
        var step = (int)(every * SampleRate);
        TimeSpan drafted = default, scratch = default, encoder = default;
        int updates = 0, greedy = 0;
        long draftTokens = 0, kept = 0, draftedCalls = 0, scratchCalls = 0;
        var lost = new int[11];
        var texts = new List<(string Scratch, string Drafted)>();
        var references = RepositoryLayout.References();
        var lastUpdates = new List<(string Reference, string Hypothesis)>();
        var finals = new List<(string Reference, string Hypothesis)>();
        foreach (var id in ids)
        {
            var samples = RepositoryLayout.ReadUtterance(id);
            int[] draft = [];
            for (var length = SampleRate; length <= Math.Min(samples.Length, (int)(maxSeconds * SampleRate)); length += step)
            {
                var prefix = samples.AsSpan(0, length);
                var started = Stopwatch.GetTimestamp();
                var update = session.Recognize(prefix, draft);
                drafted += Stopwatch.GetElapsedTime(started);
                draftedCalls += session.DecoderCalls;
                started = Stopwatch.GetTimestamp();
                var fromScratch = reference.Recognize(prefix);
                scratch += Stopwatch.GetElapsedTime(started);
                scratchCalls += reference.DecoderCalls;
                started = Stopwatch.GetTimestamp();
                reference.Encode(prefix).Dispose();
                encoder += Stopwatch.GetElapsedTime(started);

                updates++;
                greedy += update.TokenIds.SequenceEqual(fromScratch.TokenIds) ? 1 : 0;
                texts.Add((fromScratch.Text, update.Text));
                var common = 0;
                while (common < draft.Length && common < update.TokenIds.Count && draft[common] == update.TokenIds[common])
                {
                    common++;
                }

                draftTokens += draft.Length;
                kept += common;
                lost[Math.Min(draft.Length - common, lost.Length - 1)]++;
                draft = [.. update.TokenIds];
            }

            // Untimed: one more update on the whole utterance (the last interim before its final) and its decode from
            // scratch (what the final gives), both against the reference transcript.
            var last = session.Recognize(samples, draft);
            lastUpdates.Add((references[id], last.Text));
            finals.Add((references[id], reference.Recognize(samples).Text));
        }

        Console.WriteLine($"model {model}, {threads} intra-op thread(s), encoder stem carried over between updates: {(incremental && recognizer.SplitEncoder is not null ? "yes" : "no")}, encoder window: {(incremental && window > 0 ? $"{window} s" : "whole segment")}, {ids.Length} utterances of librispeech-test-other-dev, prefixes every {every} s from 1 s to {maxSeconds} s: {updates} updates");
        Console.WriteLine();
        Console.WriteLine("| decode | total s | per update ms | share of from scratch |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| from scratch | {scratch.TotalSeconds:F2} | {scratch.TotalMilliseconds / updates:F1} | 1.000 |");
        Console.WriteLine($"| with the previous hypothesis as draft | {drafted.TotalSeconds:F2} | {drafted.TotalMilliseconds / updates:F1} | {drafted / scratch:F3} |");
        Console.WriteLine($"| the encoder alone, from scratch | {encoder.TotalSeconds:F2} | {encoder.TotalMilliseconds / updates:F1} | {encoder / scratch:F3} |");
        Console.WriteLine();
        Console.WriteLine($"decoder calls per update: {(double)scratchCalls / updates:F1} from scratch, {(double)draftedCalls / updates:F1} with the draft");
        Console.WriteLine($"drafted updates equal to the greedy decode of the same audio: {greedy} of {updates}; words different from it: {WordErrorRate.Compute(texts):P2}");
        Console.WriteLine($"draft tokens kept by the next hypothesis (common prefix): {kept} of {draftTokens} ({(double)kept / Math.Max(1, draftTokens):P1})");
        Console.WriteLine("updates by draft tokens lost: " + string.Join(", ", lost.Select((n, i) => $"{(i == lost.Length - 1 ? $"{i}+" : i)}: {n}")));
        Console.WriteLine($"WER against the reference, whole utterances: {WordErrorRate.Compute(lastUpdates):P2} for an update (the last interim before the final), {WordErrorRate.Compute(finals):P2} from scratch (the final)");
        return 0;
    }
}
