using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;

namespace AsrService.Cli.Commands;

/// <summary>
/// <c>asr eval FOLDER</c>: transcribes a LibriSpeech-style folder (wav/*.wav and trans.txt with "ID TEXT" lines) and
/// prints word error rate, real-time factor, the share of time spent inside ONNX Runtime and peak memory.
/// This is the command behind the accuracy and speed figures in the README.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "Folder holding trans.txt and wav/ (e.g. ../shared/data/librispeech-test-other-dev)." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print each utterance's hypothesis and errors." };
        var command = new Command("eval", "Measure WER and speed on a folder of transcribed audio.") { folder, verbose };
        var engineOptions = EngineOptions.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
            Task.FromResult(Run(parse.GetRequiredValue(folder), parse.GetValue(verbose), engineOptions.Bind(parse), cancellationToken)));
        return command;
    }

    private static int Run(DirectoryInfo folder, bool verbose, EngineSettings settings, CancellationToken cancellationToken)
    {
        var transcripts = Path.Combine(folder.FullName, "trans.txt");
        if (!File.Exists(transcripts))
        {
            return CliErrors.Usage($"{folder.FullName} has no trans.txt");
        }

        var references = WordErrorRate.ReadReferences(transcripts);
        var files = Directory.GetFiles(Path.Combine(folder.FullName, "wav"), "*.wav")
            .Where(f => references.ContainsKey(Path.GetFileNameWithoutExtension(f)))
            .Order(StringComparer.Ordinal)
            .ToList();

        using var engine = Engine.Load(settings, cancellationToken);
        var transcriber = new OfflineTranscriber(engine.Recognizer, engine.VoiceActivity, settings.Vad, settings.CreateBatchScheduler(engine.Recognizer));

        // Warm up once so that the first file does not carry ONNX Runtime's one-off allocations.
        using (var warmup = new MemoryAudioSource(new float[16_000], 16_000))
        {
            _ = transcriber.Transcribe(warmup, cancellationToken: cancellationToken).ToList();
        }

        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var onnxBefore = AsrService.Onnx.OnnxRunClock.Total;
        var recognizerBefore = AsrService.Onnx.OnnxRunClock.Recognizer;
        var recognizingBefore = AsrService.Onnx.OnnxRunClock.Recognizing;
        var hypotheses = new string[files.Count];
        var audioSeconds = new double[files.Count];
        var busySeconds = new double[files.Count];
        var clock = Stopwatch.StartNew();

        // --parallel N transcribes N files at once (a dev-set utterance is usually one segment, so parallel decodes
        // within a file would not overlap). With --batch-size B, N x B files are read at once and their segments wait
        // for the N decode slots, each of which decodes up to B of them together; the workers mostly wait.
        var filesAtOnce = settings.InFlight;
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, filesAtOnce + settings.ParallelDecodes + 2), completionPorts);
        Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = filesAtOnce, CancellationToken = cancellationToken }, i =>
        {
            var started = Stopwatch.GetTimestamp();
            var samples = AudioFile.ReadAll(files[i]);
            audioSeconds[i] = samples.Length / 16_000.0;
            using var source = new MemoryAudioSource(samples, 16_000);
            hypotheses[i] = string.Join(' ', transcriber.Transcribe(source, cancellationToken: cancellationToken).Select(s => s.Text));
            busySeconds[i] = Stopwatch.GetElapsedTime(started).TotalSeconds;
        });
        clock.Stop();

        var pairs = new List<(string, string)>();
        for (var i = 0; i < files.Count; i++)
        {
            var reference = references[Path.GetFileNameWithoutExtension(files[i])];
            pairs.Add((reference, hypotheses[i]));
            if (verbose)
            {
                var (errors, words) = WordErrorRate.Count(reference, hypotheses[i]);
                Console.WriteLine($"{Path.GetFileNameWithoutExtension(files[i])} {errors}/{words} {hypotheses[i]}");
            }
        }

        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var wer = WordErrorRate.Compute(pairs);
        var rtf = clock.Elapsed.TotalSeconds / audioSeconds.Sum();
        // Our share of the time the files were being worked on (summed over parallel workers), the rest being ONNX Runtime's.
        var outside = 1 - (AsrService.Onnx.OnnxRunClock.Total - onnxBefore).TotalSeconds / busySeconds.Sum();
        // The same for decoding alone: time in the recognizer's Recognize calls that ONNX Runtime did not account for.
        var decodeOutside = 1 - (AsrService.Onnx.OnnxRunClock.Recognizer - recognizerBefore).TotalSeconds
            / (AsrService.Onnx.OnnxRunClock.Recognizing - recognizingBefore).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model={engine.Recognizer.ModelName} threads={settings.Inference.IntraOpThreads} parallel={settings.ParallelDecodes} batch={settings.BatchSize} files={files.Count} audio={audioSeconds.Sum():F1}s wer={wer:P2} " +
            $"processing={clock.Elapsed.TotalSeconds:F2}s rtf={rtf:F4} outside_onnxruntime={outside:P1} decode_outside_onnxruntime={decodeOutside:P1} cpu={cpu.TotalSeconds:F1}s peak_rss={process.PeakWorkingSet64 / 1e6:F0}MB"));
        return ExitCodes.Success;
    }
}
