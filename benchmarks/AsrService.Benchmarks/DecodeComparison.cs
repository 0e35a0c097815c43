using System.Diagnostics;
using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using AsrService.Onnx.Graph;
using static AsrService.Benchmarks.CommandOptions;

namespace AsrService.Benchmarks;

/// <summary>
/// Decodes from scratch of dev-set utterances two ways, interleaved in one process: every utterance is decoded both
/// ways back to back, the order swapped from round to round, so that a VM whose speed drifts during the run slows
/// both sides alike (BenchmarkDotNet runs its cases one after the other, and on our 2-core VM their means moved by
/// 10-20 % from run to run). Prints each round's totals and their ratio, and checks that both ways give the same
/// tokens and confidence. <c>solo-step</c>: the plain decoder steps on the solo-step model (<c>SoloStepRewrite</c>)
/// against the merged decoder. <c>int8-weights</c>: the models with their weights stored as int8
/// (<c>Int8WeightRewrite</c>) against the weights as exported.
/// </summary>
internal static class DecodeComparison
{
    /// <summary>Runs the comparison; a bad option or missing test data ends it with a one-line reason and exit code 2.</summary>
    public static int Run(string variant, string[] args)
    {
        try
        {
            return Compare(
                variant,
                Option(args, "--model") ?? "tiny",
                (int)Number(args, "--utterances", 20),
                (int)Number(args, "--rounds", 5));
        }
        catch (Exception e) when (e is ArgumentException or IOException or ModelLoadException)
        {
            Console.Error.WriteLine($"{variant}: {e.Message}");
            return 2;
        }
    }

    private static int Compare(string variant, string model, int utterances, int rounds)
    {
        if (utterances < 1 || rounds < 1)
        {
            throw new ArgumentException("--utterances and --rounds must be 1 or more");
        }

        var (recognizers, labels) = variant switch
        {
            "solo-step" => SoloStep(model),
            _ => Int8Weights(model),
        };

        try
        {
            return Compare(recognizers, labels, model, utterances, rounds);
        }
        finally
        {
            foreach (var recognizer in recognizers.Distinct())
            {
                recognizer.Dispose();
            }
        }
    }

    private static int Compare(MoonshineRecognizer[] recognizers, string[] labels, string model, int utterances, int rounds)
    {
        using var a = recognizers[0].CreateSession();
        if (recognizers[1] == recognizers[0])
        {
            // The solo-step comparison: the same recognizer, the second session's steps on the merged decoder.
            recognizers[1].UseSoloStep = false;
        }

        using var b = recognizers[1].CreateSession();
        var audio = RepositoryLayout.Utterances().Take(utterances).Select(RepositoryLayout.ReadUtterance).ToArray();
        var seconds = audio.Sum(s => s.Length) / 16_000.0;
        Console.WriteLine($"model {model}, one intra-op thread, {audio.Length} utterances of librispeech-test-other-dev ({seconds:F1} s), {rounds} rounds, each utterance decoded from scratch both ways back to back");
        Console.WriteLine();
        Console.WriteLine($"| round | {labels[0]}, s | {labels[1]}, s | ratio |");
        Console.WriteLine("|---:|---:|---:|---:|");

        // One untimed pass each, so that both sessions have their buffers and ONNX Runtime its arenas.
        foreach (var samples in audio)
        {
            a.Recognize(samples);
            b.Recognize(samples);
        }

        var ratios = new List<double>();
        var different = 0;
        for (var round = 0; round < rounds; round++)
        {
            var aTotal = TimeSpan.Zero;
            var bTotal = TimeSpan.Zero;
            foreach (var samples in audio)
            {
                var aFirst = round % 2 == 0;
                var (x, xTime) = Timed(aFirst ? a : b, samples);
                var (y, yTime) = Timed(aFirst ? b : a, samples);
                aTotal += aFirst ? xTime : yTime;
                bTotal += aFirst ? yTime : xTime;
                different += x.TokenIds.SequenceEqual(y.TokenIds) && x.Confidence == y.Confidence ? 0 : 1;
            }

            ratios.Add(aTotal / bTotal);
            Console.WriteLine($"| {round + 1} | {aTotal.TotalSeconds:F3} | {bTotal.TotalSeconds:F3} | {aTotal / bTotal:F3} |");
        }

        ratios.Sort();
        Console.WriteLine();
        Console.WriteLine($"median ratio {ratios[ratios.Count / 2]:F3}");
        Console.WriteLine($"decodes whose tokens or confidence differ between the two: {different} of {rounds * audio.Length}");
        return different == 0 ? 0 : 1;
    }

    private static (MoonshineRecognizer[] Recognizers, string[] Labels) SoloStep(string model)
    {
        var recognizer = OnnxSpeechModels.LoadRecognizer(model, new InferenceOptions(), new ModelCache());
        if (recognizer.SoloStep is null)
        {
            recognizer.Dispose();
            throw new ArgumentException($"the {model} model has no solo-step model to compare");
        }

        return ([recognizer, recognizer], ["steps on the solo-step model", "steps on the merged decoder"]);
    }

    private static (MoonshineRecognizer[] Recognizers, string[] Labels) Int8Weights(string model)
    {
        if (!Int8WeightRewrite.ExactOnThisCpu)
        {
            throw new ArgumentException("this CPU has no VNNI, so the models keep their weights as exported");
        }

        // The switch is read when the sessions are created; both recognizers create theirs when they load.
        var int8 = RewrittenModelFile.WithInt8Weights(true, () => OnnxSpeechModels.LoadRecognizer(model, new InferenceOptions(), new ModelCache()));
        var exported = RewrittenModelFile.WithInt8Weights(false, () => OnnxSpeechModels.LoadRecognizer(model, new InferenceOptions(), new ModelCache()));
        MoonshineRecognizer[] recognizers = [int8, exported];
        return (recognizers, ["int8 weights", "weights as exported"]);
    }

    private static (RecognitionResult Result, TimeSpan Time) Timed(IRecognizerSession session, float[] samples)
    {
        var started = Stopwatch.GetTimestamp();
        var result = session.Recognize(samples);
        return (result, Stopwatch.GetElapsedTime(started));
    }
}
