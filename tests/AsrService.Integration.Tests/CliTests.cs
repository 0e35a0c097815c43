using System.Diagnostics;
using System.Text.Json;

namespace AsrService.Integration.Tests;

/// <summary>The `asr` command as a user runs it: exit codes, one-line errors, output formats.</summary>
public sealed class CliTests
{
    [Fact]
    public void Transcribe_CorruptFile_ExitsOneWithOneLineReason()
    {
        var path = Path.Combine(Path.GetTempPath(), $"asr-corrupt-{Guid.NewGuid():N}.wav");
        File.WriteAllBytes(path, [.. "RIFF\x24\x00\x00\x00WAVEfmt "u8]);
        try
        {
            var (code, stdout, stderr) = Run("transcribe", path);

            Assert.Equal(1, code);
            Assert.Empty(stdout);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("asr: error: ", line);
            Assert.Contains("truncated", line);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Transcribe_UnknownModel_ExitsThreeNamingTheModels()
    {
        var (code, _, stderr) = Run("transcribe", "--model", "no-such-model", "x.wav");

        Assert.Equal(3, code);
        Assert.Contains("unknown model 'no-such-model'", stderr);
        Assert.Contains("tiny", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Transcribe_BadOption_ExitsTwo()
    {
        var (code, _, stderr) = Run("transcribe", "--threads", "0", "x.wav");

        Assert.Equal(2, code);
        Assert.Contains("threads", stderr);
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("bench")]
    public void Streaming_NegativeInterimEncoderWindow_ExitsTwoWithOneLine(string command)
    {
        var (code, _, stderr) = Run(command, "--interim-encoder-window", "-1");

        Assert.Equal(2, code);
        Assert.Contains("interim encoder window", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("--gap-ms", "-5")]
    [InlineData("--streams", "0")]
    [InlineData("--chunk-ms", "0")]
    [InlineData("--duration", "0")]
    public void Bench_BadLoadOption_ExitsTwoWithOneLineBeforeStartingAnything(string option, string value)
    {
        var (code, stdout, stderr) = Run("bench", option, value);

        Assert.Equal(2, code);
        Assert.Contains(option, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Equal(string.Empty, stdout);
    }

    [DataFact]
    public void Transcribe_JsonFormat_SegmentsAndSummaryOfTheAudio()
    {
        var path = Path.Combine(TestData.Folder("en-hard"), "wav", "ami_ES2011a.Headset-0-40s-46s.wav");
        var (code, stdout, _) = Run("transcribe", "--format", "json", path);

        Assert.Equal(0, code);
        var root = JsonDocument.Parse(stdout).RootElement;
        var segments = root.GetProperty("segments").EnumerateArray().ToList();
        Assert.NotEmpty(segments);
        Assert.All(segments, s => Assert.True(s.GetProperty("end").GetDouble() > s.GetProperty("start").GetDouble()));
        Assert.InRange(root.GetProperty("summary").GetProperty("audio_seconds").GetDouble(), 5.9, 6.1);
        Assert.Contains("CALL ME", Core.Recognition.WordErrorRate.Normalize(root.GetProperty("text").GetString()!));
    }

    [DataFact]
    public void Transcribe_SrtFormat_NumberedCuesWithTimestamps()
    {
        var path = Path.Combine(TestData.Folder("en-misc"), "wav", "jfk.wav");
        var (code, stdout, _) = Run("transcribe", "--format", "srt", path);

        Assert.Equal(0, code);
        var lines = stdout.Split('\n');
        Assert.Equal("1", lines[0].Trim());
        Assert.Matches(@"^\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d$", lines[1].Trim());
    }

    [DataFact]
    public void Transcribe_OnnxProfile_WritesATraceOfEachSessionAndTheSameText()
    {
        var path = Path.Combine(TestData.Folder("en-misc"), "wav", "jfk.wav");
        var folder = Path.Combine(Path.GetTempPath(), $"asr-profile-{Guid.NewGuid():N}", "traces");
        try
        {
            var plain = Run("transcribe", path);
            var (code, stdout, stderr) = Run("transcribe", "--onnx-profile", folder, path);

            Assert.True(code == 0, stderr);
            Assert.Equal(0, plain.Code);
            Assert.Equal(plain.Stdout, stdout);

            // One trace per session, named after the file it loaded: the encoder (rewritten only for its int8
            // weights), the rewritten merged decoder (its first calls), the solo-step model (the steps after them) and
            // the voice-activity model; each holds runs and the kernel times of their nodes.
            var traces = Directory.GetFiles(folder, "*.json").Select(Path.GetFileName).ToArray();
            var decoder = Path.GetFileNameWithoutExtension(AsrService.Onnx.Graph.RewrittenModelFile.CachedPathFor("decoder_model_merged.onnx"));
            var soloStep = Path.GetFileNameWithoutExtension(AsrService.Onnx.Graph.RewrittenModelFile.CachedSoloStepPathFor("decoder_model_merged.onnx"));
            var encoder = AsrService.Onnx.Graph.RewrittenModelFile.Int8Weights
                ? Path.GetFileNameWithoutExtension(AsrService.Onnx.Graph.RewrittenModelFile.CachedPathFor("encoder_model.onnx"))
                : "encoder_model";
            foreach (var prefix in new[] { encoder + "_", decoder + "_", soloStep + "_", "silero_vad" })
            {
                var trace = Assert.Single(traces, t => t!.StartsWith(prefix, StringComparison.Ordinal));
                var events = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, trace!))).RootElement.EnumerateArray().ToList();
                Assert.Contains(events, e => e.GetProperty("name").GetString() == "model_run");
                Assert.Contains(events, e => e.GetProperty("cat").GetString() == "Node");
            }
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    [Fact]
    public void Transcribe_OnnxProfileFolderThatCannotBeCreated_ExitsTwoWithOneLine()
    {
        var file = Path.GetTempFileName();
        try
        {
            var (code, stdout, stderr) = Run("transcribe", "--onnx-profile", Path.Combine(file, "traces"), "x.wav");

            Assert.Equal(2, code);
            Assert.Empty(stdout);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--onnx-profile: cannot create the folder", line);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ModelsDownload_Tiny_PrintsTheFilesAndPreparesTheRewrittenDecoderTheSoloStepAndTheSplitEncoder()
    {
        var (code, stdout, stderr) = Run("models", "download", "tiny");

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var decoder = Assert.Single(lines, l => l.EndsWith("decoder_model_merged.onnx", StringComparison.Ordinal));
        var encoder = Assert.Single(lines, l => l.EndsWith("encoder_model.onnx", StringComparison.Ordinal));
        var rewritten = Assert.Single(lines, l => l.Contains("decoder_model_merged.asr-r", StringComparison.Ordinal));
        Assert.Equal(AsrService.Onnx.Graph.RewrittenModelFile.CachedPathFor(decoder), rewritten);

        // The encoder has a rewritten copy only for its int8 weights, where this CPU makes them exact.
        var encoderCopies = lines.Where(l => l.Contains("encoder_model.asr-r", StringComparison.Ordinal)).ToArray();
        Assert.Equal(AsrService.Onnx.Graph.Int8WeightRewrite.ExactOnThisCpu ? [AsrService.Onnx.Graph.RewrittenModelFile.CachedPathFor(encoder)] : [], encoderCopies);
        var split = lines.Where(l => l.Contains(".asr-s", StringComparison.Ordinal)).ToArray();
        Assert.Equal([AsrService.Onnx.Graph.RewrittenModelFile.CachedEncoderPartPathFor(encoder, "stem"), AsrService.Onnx.Graph.RewrittenModelFile.CachedEncoderPartPathFor(encoder, "rest")], split);
        var soloStep = Assert.Single(lines, l => l.Contains(".asr-o", StringComparison.Ordinal));
        Assert.Equal(AsrService.Onnx.Graph.RewrittenModelFile.CachedSoloStepPathFor(decoder), soloStep);
        Assert.All([rewritten, soloStep, .. split, .. encoderCopies], file => Assert.True(File.Exists(file), file));
        Assert.DoesNotContain(lines, l => l.Contains("decoder_model_merged.asr-s", StringComparison.Ordinal));
    }

    [DataFact]
    public void Eval_ParallelFiles_SameHypothesesInTheSameOrderAsOneAtATime()
    {
        var folder = TestData.Folder("librispeech-test-other-dev");
        var (sequentialCode, sequential, _) = Run("eval", folder, "--verbose", "--parallel", "1");
        var (parallelCode, parallel, _) = Run("eval", folder, "--verbose", "--parallel", "2");
        var (batchedCode, batched, batchedErrors) = Run("eval", folder, "--verbose", "--parallel", "2", "--batch-size", "4");

        Assert.Equal(0, sequentialCode);
        Assert.Equal(0, parallelCode);
        Assert.True(batchedCode == 0, batchedErrors);
        string[] Utterances(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(line => !line.StartsWith("model=", StringComparison.Ordinal)).ToArray();
        Assert.Equal(60, Utterances(sequential).Length);
        Assert.Equal(Utterances(sequential), Utterances(parallel));

        // Batched decoder steps give each utterance the tokens it gets alone.
        Assert.Equal(Utterances(sequential), Utterances(batched));
        Assert.Contains("parallel=2 batch=4 files=60", batched);
        var summary = parallel.Split('\n').Single(line => line.StartsWith("model=", StringComparison.Ordinal));
        Assert.Contains("threads=1 parallel=2 batch=1 files=60 audio=447.5s", summary);
        var wer = double.Parse(System.Text.RegularExpressions.Regex.Match(summary, @"wer=([0-9.]+) %").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(wer, 5, 25);
    }

    [DataFact]
    public void Bench_FinalsPerDecode_DecodesWaitingFinalsTogetherAndSaysHowMany()
    {
        // Eight streams sent as fast as possible into one decode slot: finals queue, so groups form, and the finals
        // that come while a group decodes join it (at most four decoding at once, any number over its life).
        var (code, stdout, stderr) = Run(
            "bench", "--streams", "8", "--fast", "--duration", "4", "--gap-ms", "200", "--concurrent-decodes", "1", "--finals-per-decode", "4",
            "--data", TestData.Folder("librispeech-test-other-dev"));

        Assert.True(code == 0, stderr);
        var row = stdout.Split('\n').Single(l => l.StartsWith("| 8 | fast |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        Assert.Equal("0", row[^2]);
        var grouped = System.Text.RegularExpressions.Regex.Match(stderr, @"asr: (\d+) finals decoded in (\d+) groups \([0-9.]+ per group\), of (\d+) decoded");
        Assert.True(grouped.Success, stderr);
        var (finals, groups, decoded) = (int.Parse(grouped.Groups[1].Value), int.Parse(grouped.Groups[2].Value), int.Parse(grouped.Groups[3].Value));
        Assert.True(groups > 0, stderr);
        Assert.True(finals >= 2 * groups, $"{finals} finals in {groups} groups");

        // The server decodes every final the client received, and also those whose text was empty (never sent).
        Assert.True(finals <= decoded, $"{finals} grouped finals of {decoded} decoded");
        Assert.True(decoded >= int.Parse(row[7]), $"{decoded} finals decoded, {row[7]} received");

        // Each decoded final reported once how long it waited for a slot or a group to join.
        var waited = System.Text.RegularExpressions.Regex.Match(stderr, @"asr: (\d+) finals waited for a decode slot: p50 [0-9.]+ ms, p95 [0-9.]+ ms, max [0-9.]+ ms");
        Assert.True(waited.Success, stderr);
        Assert.InRange(int.Parse(waited.Groups[1].Value), int.Parse(row[7]), decoded);
    }

    [DataFact]
    public void BenchFindCapacity_WithInterims_JudgesInterimCadenceAgainstTheBound()
    {
        // One real-time stream with interims (every ~0.5 s): it passes a 5 s interim bound and fails a 10 ms one,
        // whatever its final latency (the latency bound is set loose, so that a busy test machine cannot decide it).
        string[] Arguments(string interimBound, string json, params string[] more) =>
        [
            "bench", "--find-capacity", "--interim", "--interim-bound", interimBound, "--latency-bound", "30", "--streams", "1", "--max-streams-to-try", "1",
            "--duration", "4", "--data", TestData.Folder("librispeech-test-other-dev"), "--json", json, .. more,
        ];
        var looseJson = Path.Combine(Path.GetTempPath(), $"asr-capacity-{Guid.NewGuid():N}.json");
        var strictJson = Path.Combine(Path.GetTempPath(), $"asr-capacity-{Guid.NewGuid():N}.json");
        try
        {
            var (looseCode, loose, _) = Run(Arguments("5", looseJson));
            var (strictCode, strict, strictErrors) = Run(Arguments("0.01", strictJson, "--live-memory"));
            var intervals = JsonDocument.Parse(File.ReadAllText(strictJson)).RootElement.GetProperty("runs")[0].GetProperty("interim_interval_s");

            Assert.Equal(0, looseCode);
            Assert.Contains("capacity: 1 streams at p95 final latency <= 30 s and an interim every <= 5 s", loose);
            Assert.Equal(0, strictCode);
            Assert.Contains("capacity: below 1 streams at p95 final latency <= 30 s and an interim every <= 0.01 s", strict);
            Assert.True(intervals.GetProperty("count").GetDouble() >= 2, "the stream produced too few interims to judge their cadence");

            // The in-process server's memory: sampled in every run; the live heap only when asked for.
            var looseRoot = JsonDocument.Parse(File.ReadAllText(looseJson)).RootElement;
            var strictRoot = JsonDocument.Parse(File.ReadAllText(strictJson)).RootElement;
            Assert.Equal(JsonValueKind.Null, looseRoot.GetProperty("runs")[0].GetProperty("memory_mb").GetProperty("managed_live").ValueKind);
            var idle = strictRoot.GetProperty("idle_memory_mb");
            var memory = strictRoot.GetProperty("runs")[0].GetProperty("memory_mb");
            Assert.True(idle.GetProperty("rss").GetDouble() > idle.GetProperty("managed_heap").GetDouble(), idle.ToString());
            Assert.True(memory.GetProperty("rss_peak").GetDouble() >= memory.GetProperty("rss_mean").GetDouble(), memory.ToString());
            Assert.True(memory.GetProperty("rss_mean").GetDouble() > memory.GetProperty("managed_live").GetDouble(), memory.ToString());
            Assert.True(memory.GetProperty("managed_live").GetDouble() > 0, memory.ToString());
            Assert.True(memory.GetProperty("allocated_per_audio_second").GetDouble() > 0, memory.ToString());
            Assert.Matches(@"asr: allocated [0-9.]+ MB per audio second \(\d+ MB\); collections: \d+ gen0, \d+ gen1, [1-9]\d* gen2", strictErrors);
            Assert.Matches(@"asr: memory: RSS \d+ MB mean while all streams sent \(-?\d+ above idle\), peak \d+ MB; managed heap peak \d+ MB, \d+ MB live after a full collection \(\d+ small objects, \d+ large, \d+ pinned\)", strictErrors);
        }
        finally
        {
            File.Delete(looseJson);
            File.Delete(strictJson);
        }
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "asr.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}
