using System.Diagnostics;
using System.Text.Json;

namespace AsrService.Grpc.Tests;

/// <summary>
/// Our server against gRPC clients nobody here wrote: @grpc/grpc-js (Node) and grpcio (Python, gRPC's C core). Each
/// test starts a server, runs a script from tests/interop as a subprocess and checks the JSON lines it prints. Skipped,
/// with the reason shown, where the runtime or its gRPC package is not installed (see tests/README.md).
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class InteropTests
{
    [NodeInteropFact]
    public async Task Node_Suite_HealthEchoDuplexAndErrorsWork()
    {
        await using var host = await TestServerHost.StartAsync();
        var lines = await RunAsync(Interop.NodeExecutable!, [Interop.NodeScript, $"127.0.0.1:{host.Port}", "suite"]);
        await AssertSuiteAsync(lines, "hello from grpc-js", host);
    }

    [PythonInteropFact]
    public async Task Python_Suite_HealthEchoDuplexAndErrorsWork()
    {
        await using var host = await TestServerHost.StartAsync();
        var lines = await RunAsync(Interop.PythonExecutable, [Interop.PythonScript, $"127.0.0.1:{host.Port}", "suite"]);
        await AssertSuiteAsync(lines, "hello from grpcio", host);
    }

    [NodeInteropFact]
    public async Task Node_AsrStream_StreamsWavAndReadsResults()
    {
        await using var host = await StartWithFakeAsrAsync();
        using var wav = TemporaryWav.Create(seconds: 1, sampleRate: 16000);
        var lines = await RunAsync(Interop.NodeExecutable!, [Interop.NodeScript, $"127.0.0.1:{host.Port}", "asr-stream", wav.Path, "--interim", "--chunk-ms", "100"]);
        AssertAsrStream(lines);
    }

    [PythonInteropFact]
    public async Task Python_AsrStream_StreamsWavAndReadsResults()
    {
        await using var host = await StartWithFakeAsrAsync();
        using var wav = TemporaryWav.Create(seconds: 1, sampleRate: 16000);
        var lines = await RunAsync(Interop.PythonExecutable, [Interop.PythonScript, $"127.0.0.1:{host.Port}", "asr-stream", wav.Path, "--interim", "--chunk-ms", "100"]);
        AssertAsrStream(lines);
    }

    private static async Task<TestServerHost> StartWithFakeAsrAsync()
    {
        var host = await TestServerHost.StartAsync();
        AsrService.Grpc.V1.Asr.BindService(host.Server.Registry, new FakeAsrService());
        return host;
    }

    private static async Task AssertSuiteAsync(List<JsonElement> lines, string echoText, TestServerHost host)
    {
        var health = lines.Where(l => l.GetProperty("command").GetString() == "health").ToList();
        Assert.Equal(2, health.Count);
        Assert.Equal("SERVING", health[0].GetProperty("status").GetString());
        Assert.Equal(5, health[1].GetProperty("error").GetProperty("code").GetInt32()); // NOT_FOUND

        var echo = Assert.Single(lines, l => l.GetProperty("command").GetString() == "echo");
        Assert.Equal(echoText, echo.GetProperty("text").GetString());
        Assert.Equal(1000, echo.GetProperty("payloadBytes").GetInt32());

        var accumulate = Assert.Single(lines, l => l.GetProperty("command").GetString() == "accumulate");
        Assert.False(accumulate.TryGetProperty("error", out _), accumulate.ToString());
        Assert.Equal(200, accumulate.GetProperty("responses").GetInt32());
        Assert.Equal("20100", accumulate.GetProperty("sum").GetString());
        Assert.True(accumulate.GetProperty("inOrder").GetBoolean());

        var fail = Assert.Single(lines, l => l.GetProperty("command").GetString() == "fail");
        Assert.Equal(3, fail.GetProperty("code").GetInt32());
        Assert.Equal("bad config: 100% wrong ✓", fail.GetProperty("details").GetString());

        // The client's deadline travelled as grpc-timeout: the handler's token was cancelled.
        var deadline = Assert.Single(lines, l => l.GetProperty("command").GetString() == "deadline");
        Assert.Equal(4, deadline.GetProperty("code").GetInt32());
        // Generous: on a loaded 2-core CI machine Node, Python and the server share the cores.
        await host.Service.SlowCall("interop-deadline").Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static void AssertAsrStream(List<JsonElement> lines)
    {
        var responses = lines.Where(l => l.TryGetProperty("response", out _)).Select(l => l.GetProperty("response")).ToList();
        var done = Assert.Single(lines, l => l.TryGetProperty("done", out _));
        Assert.Equal(1, done.GetProperty("finals").GetInt32());
        Assert.Equal("SPEECH_ACTIVITY_BEGIN", responses[0].GetProperty("speech_event_type").GetString());
        var final = responses[^1];
        Assert.Equal("SPEECH_ACTIVITY_END", final.GetProperty("speech_event_type").GetString());
        var result = final.GetProperty("results")[0];
        Assert.True(result.GetProperty("is_final").GetBoolean());
        Assert.Equal("bytes=32000", result.GetProperty("alternatives")[0].GetProperty("transcript").GetString());
        Assert.Matches("^(node|python)-[0-9]+$", final.GetProperty("request_id").GetString());
        var withResults = responses.Count(r => r.TryGetProperty("results", out var results) && results.GetArrayLength() > 0);
        Assert.True(withResults > 5, $"expected an interim result per chunk, got {withResults} responses with results");
    }

    private static async Task<List<JsonElement>> RunAsync(string executable, string[] arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Interop.RepositoryRoot,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{executable} {string.Join(' ', arguments)} did not finish in 60 s. stderr: {await stderr}");
        }

        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"{executable} exited with {process.ExitCode}.\nstdout: {output}\nstderr: {await stderr}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .ToList();
    }
}

/// <summary>
/// Runs the interop tests on their own: starting Node and Python costs seconds of CPU, which would otherwise skew the
/// timing checks of tests running beside them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InteropCollection
{
    public const string Name = "Interop (not parallel)";
}

/// <summary>Where the interop scripts and their runtimes are, and why a test must be skipped.</summary>
internal static class Interop
{
    public static readonly string RepositoryRoot = FindRepositoryRoot();
    public static readonly string NodeScript = Path.Combine(RepositoryRoot, "tests", "interop", "node", "client.js");
    public static readonly string PythonScript = Path.Combine(RepositoryRoot, "tests", "interop", "python", "client.py");
    public static readonly string? NodeExecutable = FindOnPath("node");

    /// <summary>Debian's python3-grpcio lives in the system interpreter, which a pyenv python3 on PATH would hide.</summary>
    public static readonly string PythonExecutable =
        Environment.GetEnvironmentVariable("ASR_INTEROP_PYTHON") ?? (File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

    private static readonly Lazy<string?> s_nodeSkipReason = new(() =>
        NodeExecutable is null ? "node is not on PATH."
        : !Directory.Exists(Path.Combine(RepositoryRoot, "tests", "interop", "node", "node_modules", "@grpc", "grpc-js"))
            ? "tests/interop/node/node_modules is missing: run `npm ci --prefix tests/interop/node`."
            : null);

    private static readonly Lazy<string?> s_pythonSkipReason = new(() =>
        Probe(PythonExecutable, "-c", "import grpc, grpc_tools.protoc, google.protobuf")
            ? null
            : $"{PythonExecutable} cannot import grpc and grpc_tools: apt-get install python3-grpcio python3-grpc-tools.");

    public static string? NodeSkipReason => s_nodeSkipReason.Value;

    public static string? PythonSkipReason => s_pythonSkipReason.Value;

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AsrService.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("AsrService.sln not found above the test assembly.");
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool Probe(string executable, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start);
            if (process is null || !process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>A fact that is skipped, with the reason shown, when Node or @grpc/grpc-js is not installed.</summary>
internal sealed class NodeInteropFactAttribute : FactAttribute
{
    public NodeInteropFactAttribute()
    {
        if (Interop.NodeSkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A fact that is skipped, with the reason shown, when Python's grpcio is not installed.</summary>
internal sealed class PythonInteropFactAttribute : FactAttribute
{
    public PythonInteropFactAttribute()
    {
        if (Interop.PythonSkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A 16-bit mono WAV file of a tone, deleted on dispose.</summary>
internal sealed class TemporaryWav : IDisposable
{
    private TemporaryWav(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public static TemporaryWav Create(double seconds, int sampleRate)
    {
        var samples = (int)(seconds * sampleRate);
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"asr-interop-{Guid.NewGuid():N}.wav");
        using (var writer = new BinaryWriter(File.Create(path)))
        {
            writer.Write("RIFF"u8);
            writer.Write(36 + (samples * 2));
            writer.Write("WAVEfmt "u8);
            writer.Write(16);
            writer.Write((short)1);
            writer.Write((short)1);
            writer.Write(sampleRate);
            writer.Write(sampleRate * 2);
            writer.Write((short)2);
            writer.Write((short)16);
            writer.Write("data"u8);
            writer.Write(samples * 2);
            for (var i = 0; i < samples; i++)
            {
                writer.Write((short)(8000 * Math.Sin(2 * Math.PI * 440 * i / sampleRate)));
            }
        }

        return new TemporaryWav(path);
    }

    public void Dispose() => File.Delete(Path);
}
