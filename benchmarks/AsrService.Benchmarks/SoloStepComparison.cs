using System.Diagnostics;
using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;
using static AsrService.Benchmarks.CommandOptions;

namespace AsrService.Benchmarks;

/// <summary>
/// <c>solo-step</c>: decodes from scratch of dev-set utterances with the plain decoder steps on the solo-step model
/// (<c>SoloStepRewrite</c>) and on the merged decoder, interleaved in one process: every utterance is decoded both
/// ways back to back, the order swapped from round to round, so that a VM whose speed drifts during the run slows
/// both sides alike (BenchmarkDotNet runs its cases one after the other, and on our 2-core VM their means moved by
/// 10-20 % from run to run). Prints each round's totals and their ratio, and checks that both ways give the same
/// tokens and confidence.
/// </summary>
internal static class SoloStepComparison
{
    /// <summary>Runs the comparison; a bad option or missing test data ends it with a one-line reason and exit code 2.</summary>
    public static int Run(string[] args)
    {
        try
        {
            return Compare(
                Option(args, "--model") ?? "tiny",
                (int)Number(args, "--utterances", 20),
                (int)Number(args, "--rounds", 5));
        }
        catch (Exception e) when (e is ArgumentException or IOException or ModelLoadException)
        {
            Console.Error.WriteLine($"solo-step: {e.Message}");
            return 2;
        }
    }

    private static int Compare(string model, int utterances, int rounds)
    {
        if (utterances < 1 || rounds < 1)
        {
            throw new ArgumentException("--utterances and --rounds must be 1 or more");
        }

        using var recognizer = OnnxSpeechModels.LoadRecognizer(model, new InferenceOptions(), new ModelCache());
        if (recognizer.SoloStep is null)
        {
            throw new ArgumentException($"the {model} model has no solo-step model to compare");
        }

        using var solo = (MoonshineDecoderSession)recognizer.CreateSession();
        recognizer.UseSoloStep = false;
        using var merged = (MoonshineDecoderSession)recognizer.CreateSession();
        var audio = RepositoryLayout.Utterances().Take(utterances).Select(RepositoryLayout.ReadUtterance).ToArray();
        var seconds = audio.Sum(a => a.Length) / 16_000.0;
        Console.WriteLine($"model {model}, one intra-op thread, {audio.Length} utterances of librispeech-test-other-dev ({seconds:F1} s), {rounds} rounds, each utterance decoded from scratch both ways back to back");
        Console.WriteLine();
        Console.WriteLine("| round | steps on the solo-step model, s | steps on the merged decoder, s | ratio |");
        Console.WriteLine("|---:|---:|---:|---:|");

        // One untimed pass each, so that both sessions have their buffers and ONNX Runtime its arenas.
        foreach (var samples in audio)
        {
            solo.Recognize(samples);
            merged.Recognize(samples);
        }

        var ratios = new List<double>();
        var different = 0;
        var soloSteps = solo.SoloSteps;
        for (var round = 0; round < rounds; round++)
        {
            var soloTime = TimeSpan.Zero;
            var mergedTime = TimeSpan.Zero;
            foreach (var samples in audio)
            {
                var soloFirst = round % 2 == 0;
                var (a, aTime) = Timed(soloFirst ? solo : merged, samples);
                var (b, bTime) = Timed(soloFirst ? merged : solo, samples);
                soloTime += soloFirst ? aTime : bTime;
                mergedTime += soloFirst ? bTime : aTime;
                different += a.TokenIds.SequenceEqual(b.TokenIds) && a.Confidence == b.Confidence ? 0 : 1;
            }

            ratios.Add(soloTime / mergedTime);
            Console.WriteLine($"| {round + 1} | {soloTime.TotalSeconds:F3} | {mergedTime.TotalSeconds:F3} | {soloTime / mergedTime:F3} |");
        }

        ratios.Sort();
        Console.WriteLine();
        Console.WriteLine($"median ratio {ratios[ratios.Count / 2]:F3}; steps run on the solo-step model: {solo.SoloSteps - soloSteps}, on the merged decoder's session: {merged.SoloSteps}");
        Console.WriteLine($"decodes whose tokens or confidence differ between the two: {different} of {rounds * audio.Length}");
        return different == 0 ? 0 : 1;
    }

    private static (RecognitionResult Result, TimeSpan Time) Timed(IRecognizerSession session, float[] samples)
    {
        var started = Stopwatch.GetTimestamp();
        var result = session.Recognize(samples);
        return (result, Stopwatch.GetElapsedTime(started));
    }
}
