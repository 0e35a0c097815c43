using System.Diagnostics;
using System.Text.Json;
using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Vad;

namespace AsrService.Integration.Tests;

/// <summary>
/// The real Asr service with the real model, called by clients nobody here wrote: Node's @grpc/grpc-js and Python's
/// grpcio (gRPC's C core), through the scripts in tests/interop. Each streams a dev utterance and must receive the
/// same final transcript as offline decoding, and each gets INVALID_ARGUMENT for a model the server does not run.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class InteropTests(ServerFixture fixture)
{
    private const string Utterance = "librispeech-test-other-dev/wav/2609-156975-0002.wav";

    public static TheoryData<string> Clients => new() { "node", "python" };

    [InteropTheory]
    [MemberData(nameof(Clients))]
    public async Task StreamDevUtterance_ForeignClient_FinalTranscriptEqualsOffline(string client)
    {
        var path = Path.Combine(TestData.Root!, Utterance);
        var lines = await RunClientAsync(client, "asr-stream", path, "--chunk-ms", "100", "--interim");

        var finals = lines
            .Where(l => l.TryGetProperty("response", out _))
            .SelectMany(l => l.GetProperty("response").GetProperty("results").EnumerateArray())
            .Where(r => r.GetProperty("is_final").GetBoolean())
            .Select(r => r.GetProperty("alternatives")[0].GetProperty("transcript").GetString())
            .ToList();
        Assert.Contains(lines, l => l.TryGetProperty("done", out var done) && done.GetBoolean());
        Assert.Equal(OfflineText(path), string.Join(' ', finals));
    }

    [InteropTheory]
    [MemberData(nameof(Clients))]
    public async Task StreamWithUnknownModel_ForeignClient_GetsInvalidArgument(string client)
    {
        var path = Path.Combine(TestData.Root!, Utterance);
        var lines = await RunClientAsync(client, "asr-stream", path, "--model", "no-such-model");

        var error = Assert.Single(lines, l => l.TryGetProperty("error", out _)).GetProperty("error");
        Assert.Equal(3, error.GetProperty("code").GetInt32());
        Assert.Contains("no-such-model", error.GetProperty("details").GetString());
    }

    private string OfflineText(string path)
    {
        var transcriber = new OfflineTranscriber(fixture.Models.Tiny, fixture.Models.VoiceActivity, new VadOptions());
        using var source = AudioFile.Open(path);
        return string.Join(' ', transcriber.Transcribe(source).Select(s => s.Text));
    }

    private async Task<List<JsonElement>> RunClientAsync(string client, params string[] arguments)
    {
        var (executable, script) = InteropClients.Command(client);
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add($"127.0.0.1:{fixture.Server.Port}");
        start.ArgumentList.Add("--proto-path");
        start.ArgumentList.Add(Path.Combine(InteropClients.RepositoryRoot, "protos"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"{client} client exited {process.ExitCode}: {await stderr}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
    }
}

/// <summary>Where the foreign clients are, and why a test must skip when one is missing.</summary>
internal static class InteropClients
{
    public static string RepositoryRoot => TestData.RepositoryRoot;

    public static (string Executable, string Script) Command(string client) => client == "node"
        ? ("node", Path.Combine(RepositoryRoot, "tests", "interop", "node", "client.js"))
        : (Environment.GetEnvironmentVariable("ASR_INTEROP_PYTHON") ?? "/usr/bin/python3", Path.Combine(RepositoryRoot, "tests", "interop", "python", "client.py"));

    public static string? MissingReason()
    {
        if (TestData.Root is null)
        {
            return TestData.MissingReason;
        }

        if (!Directory.Exists(Path.Combine(RepositoryRoot, "tests", "interop", "node", "node_modules", "@grpc", "grpc-js")))
        {
            return "@grpc/grpc-js is not installed: npm ci --prefix tests/interop/node";
        }

        var python = Command("python").Executable;
        using var probe = Process.Start(new ProcessStartInfo(python, ["-c", "import grpc, grpc_tools"]) { RedirectStandardError = true, UseShellExecute = false });
        probe!.WaitForExit();
        return probe.ExitCode == 0 ? null : $"{python} lacks grpcio: apt-get install python3-grpcio python3-grpc-tools";
    }
}

/// <summary>A theory that needs ../shared/data, Node's grpc-js and Python's grpcio; skipped with the reason otherwise.</summary>
internal sealed class InteropTheoryAttribute : TheoryAttribute
{
    private static readonly string? s_missing = InteropClients.MissingReason();

    public InteropTheoryAttribute()
    {
        if (s_missing is not null)
        {
            Skip = s_missing;
        }
    }
}
