using System.Globalization;
using System.Text.RegularExpressions;
using AsrService.Cli.Commands;

namespace AsrService.Integration.Tests;

/// <summary>
/// The Kubernetes manifests under deploy/ against the server they run: every option they pass must be one that
/// `asr serve` accepts (an unknown option stops the pod from starting), and the pod's termination grace period must
/// cover the preStop sleep plus the server's own shutdown grace period.
/// </summary>
public sealed partial class DeployManifestTests
{
    // The image's entrypoint: `asr serve --host 0.0.0.0`, followed by the manifest's args.
    private static readonly string[] s_entrypointOptions = ["--host", "0.0.0.0"];

    public static TheoryData<string> Deployments => new() { "deploy/k8s/base/deployment.yaml", "deploy/k8s/gpu/deployment-gpu.yaml" };

    [Theory]
    [MemberData(nameof(Deployments))]
    public void EveryServeOption_InTheDeployment_IsOneAsrServeAccepts(string manifest)
    {
        var args = Args(Read(manifest));
        Assert.Contains(args, a => a.StartsWith("--max-streams=", StringComparison.Ordinal));

        var parse = ServeCommand.Create().Parse([.. s_entrypointOptions, .. args]);

        Assert.True(parse.Errors.Count == 0, string.Join("; ", parse.Errors.Select(e => e.Message)));
    }

    [Fact]
    public void ServeParser_RejectsAnOptionItDoesNotKnow()
    {
        // The check above is only worth something if the parser does reject strangers.
        var parse = ServeCommand.Create().Parse([.. s_entrypointOptions, "--port=50051", "--shutdown-grace=45"]);
        Assert.NotEmpty(parse.Errors);
    }

    [Theory]
    [MemberData(nameof(Deployments))]
    public void TerminationGracePeriod_CoversPreStopAndTheServersGracePeriod(string manifest)
    {
        var baseDeployment = Read("deploy/k8s/base/deployment.yaml");
        var terminationGrace = int.Parse(TerminationGrace().Match(baseDeployment).Groups[1].Value, CultureInfo.InvariantCulture);
        var preStop = int.Parse(PreStopSleep().Match(baseDeployment).Groups[1].Value, CultureInfo.InvariantCulture);
        var serverGrace = Args(Read(manifest))
            .Select(a => ShutdownGrace().Match(a))
            .Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .Single();

        Assert.True(
            preStop + serverGrace + 5 <= terminationGrace,
            $"terminationGracePeriodSeconds {terminationGrace} < preStop {preStop} + --shutdown-grace-s {serverGrace} + a 5 s margin");
    }

    private static string Read(string relativePath) => File.ReadAllText(Path.Combine(TestData.RepositoryRoot, relativePath));

    /// <summary>The first container's args: the list items under `args:`, comments skipped.</summary>
    private static List<string> Args(string yaml)
    {
        var lines = yaml.Split('\n');
        var start = Array.FindIndex(lines, l => l.TrimStart().StartsWith("args:", StringComparison.Ordinal));
        Assert.True(start >= 0, "no args: in the manifest");
        var indent = lines[start].Length - lines[start].TrimStart().Length;
        var args = new List<string>();
        foreach (var line in lines.Skip(start + 1))
        {
            var text = line.Trim();
            if (text.Length == 0 || text.StartsWith('#'))
            {
                continue;
            }

            if (line.Length - line.TrimStart().Length <= indent || !text.StartsWith("- ", StringComparison.Ordinal))
            {
                break;
            }

            args.Add(text[2..].Trim().Trim('"'));
        }

        return args;
    }

    [GeneratedRegex(@"terminationGracePeriodSeconds:\s*(\d+)")]
    private static partial Regex TerminationGrace();

    [GeneratedRegex(@"command:\s*\[""sleep"",\s*""(\d+)""\]")]
    private static partial Regex PreStopSleep();

    [GeneratedRegex(@"^--shutdown-grace-s=(\d+)$")]
    private static partial Regex ShutdownGrace();
}
