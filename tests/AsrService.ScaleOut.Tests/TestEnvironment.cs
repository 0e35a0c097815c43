using System.Reflection;

namespace AsrService.ScaleOut.Tests;

/// <summary>
/// What the scale-out tests need from the machine: the repository (for deploy/ and the CLI's build output), nginx, and
/// the shared audio. Each is looked up once; tests that lack one are skipped with the reason shown.
/// </summary>
internal static class TestEnvironment
{
    /// <summary>The folder holding AsrService.sln, found by walking up from the test binaries.</summary>
    public static readonly string RepositoryRoot = FindRepositoryRoot();

    /// <summary>$ASR_NGINX, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH); null when absent.</summary>
    public static readonly string? Nginx = FindNginx();

    /// <summary>$ASR_TEST_DATA, else ../shared/data beside the repository; null when absent.</summary>
    public static readonly string? DataRoot = FindData();

    public const string NginxMissingReason = "nginx is not installed (apt-get install nginx, or set ASR_NGINX to its path)";

    public const string DataMissingReason = "../shared/data is absent (set ASR_TEST_DATA to the folder holding en-misc)";

    /// <summary>
    /// The <c>asr</c> CLI to run as a server: $ASR_CLI, else the build output of src/AsrService.Cli for this test
    /// assembly's configuration (the project reference builds it).
    /// </summary>
    public static string AsrCli
    {
        get
        {
            if (Environment.GetEnvironmentVariable("ASR_CLI") is { Length: > 0 } explicitPath)
            {
                return File.Exists(explicitPath) ? explicitPath : throw new FileNotFoundException($"ASR_CLI points at {explicitPath}, which does not exist");
            }

            var relative = typeof(TestEnvironment).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "AsrCliOutput").Value!;
            var path = Path.GetFullPath(Path.Combine(RepositoryRoot, relative));
            return File.Exists(path)
                ? path
                : throw new FileNotFoundException($"{path} is missing: build src/AsrService.Cli in the same configuration as the tests (dotnet build AsrService.sln)");
        }
    }

    public static string Data(params string[] parts) =>
        Path.Combine([DataRoot ?? throw new InvalidOperationException(DataMissingReason), .. parts]);

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AsrService.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no AsrService.sln above {AppContext.BaseDirectory}");
    }

    private static string? FindNginx()
    {
        if (Environment.GetEnvironmentVariable("ASR_NGINX") is { Length: > 0 } explicitPath)
        {
            return File.Exists(explicitPath) ? explicitPath : null;
        }

        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries);
        return path.Concat(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"])
            .Select(directory => Path.Combine(directory, "nginx"))
            .FirstOrDefault(File.Exists);
    }

    private static string? FindData()
    {
        if (Environment.GetEnvironmentVariable("ASR_TEST_DATA") is { Length: > 0 } explicitRoot)
        {
            return Directory.Exists(Path.Combine(explicitRoot, "en-misc")) ? explicitRoot : null;
        }

        var candidate = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data"));
        return Directory.Exists(Path.Combine(candidate, "en-misc")) ? candidate : null;
    }
}

/// <summary>A fact that needs nginx, and optionally ../shared/data; skipped with the reason shown when either is absent.</summary>
internal sealed class NginxFactAttribute : FactAttribute
{
    public NginxFactAttribute(bool needsData = false)
    {
        if (TestEnvironment.Nginx is null)
        {
            Skip = TestEnvironment.NginxMissingReason;
        }
        else if (needsData && TestEnvironment.DataRoot is null)
        {
            Skip = TestEnvironment.DataMissingReason;
        }
    }
}
