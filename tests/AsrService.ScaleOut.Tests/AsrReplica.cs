using System.Globalization;
using System.Text.RegularExpressions;

namespace AsrService.ScaleOut.Tests;

/// <summary>
/// One <c>asr serve</c> process on a loopback port it picks itself (<c>--port 0</c>, read back from its
/// "asr: listening on" line, so two replicas never race for a port). Which calls reached it is read from its own log:
/// AsrService.Server logs "Stream started from PEER (request ID, ...)" at Information level for every stream.
/// </summary>
internal sealed partial class AsrReplica : IDisposable
{
    private readonly ChildProcess _process;

    private AsrReplica(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public string Name => _process.Name;

    public int Port { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a replica with one ONNX Runtime thread per run (two replicas share a two-core machine) and waits until it listens.</summary>
    public static async Task<AsrReplica> StartAsync(string name, string workingDirectory, TimeSpan timeout)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var process = ChildProcess.Start(
            name,
            dotnet,
            [TestEnvironment.AsrCli, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
            workingDirectory,
            // Kestrel's per-request lines would bury the service's own; the service's stream lines stay at Information.
            new Dictionary<string, string> { ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning" });
        try
        {
            var line = await process.WaitForLineAsync(l => ListeningLine().IsMatch(l), timeout, "'asr: listening on' line");
            var port = int.Parse(ListeningLine().Match(line).Groups["port"].Value, CultureInfo.InvariantCulture);
            return new AsrReplica(process, port);
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    /// <summary>The request ids of every stream this replica has logged as started.</summary>
    public IReadOnlySet<string> StartedRequestIds() =>
        _process.Lines.Select(l => StreamStartedLine().Match(l)).Where(m => m.Success).Select(m => m.Groups["id"].Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>Waits until this replica logs the start of the stream with <paramref name="requestId"/>.</summary>
    public Task WaitForStreamAsync(string requestId, TimeSpan timeout) =>
        _process.WaitForLineAsync(l => StreamStartedLine().Match(l) is { Success: true } m && m.Groups["id"].Value == requestId, timeout, $"stream start of {requestId}");

    /// <summary>SIGKILL: the replica dies without draining, as on a crash or a lost node.</summary>
    public void Kill() => _process.Kill();

    public string Log(int lastLines = 60) => _process.Log(lastLines);

    public void Dispose() => _process.Dispose();

    [GeneratedRegex(@"^asr: listening on https?://[^/]+:(?<port>\d+)/?$")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"Stream started from \S+ \(request (?<id>[^,)]+)[,)]")]
    private static partial Regex StreamStartedLine();
}
