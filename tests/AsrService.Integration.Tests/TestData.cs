using AsrService.Core.Audio;

namespace AsrService.Integration.Tests;

/// <summary>
/// Finds the shared test audio: $ASR_TEST_DATA, else ../shared/data beside the repository (where CI puts it).
/// </summary>
internal static class TestData
{
    private static readonly Lazy<string> s_repositoryRoot = new(FindRepositoryRoot);

    public static readonly string? Root = Locate();

    /// <summary>The folder holding AsrService.sln, above the test binaries.</summary>
    public static string RepositoryRoot => s_repositoryRoot.Value;

    public static string MissingReason => "../shared/data is absent (set ASR_TEST_DATA to the folder holding librispeech-test-other-dev)";

    public static string Folder(string name) => Path.Combine(Root ?? throw new InvalidOperationException(MissingReason), name);

    /// <summary>The references of a folder's trans.txt, by utterance id.</summary>
    public static IReadOnlyDictionary<string, string> References(string folder) =>
        AsrService.Core.Recognition.WordErrorRate.ReadReferences(Path.Combine(Folder(folder), "trans.txt"));

    public static IReadOnlyList<string> Wavs(string folder) =>
        Directory.GetFiles(Path.Combine(Folder(folder), "wav"), "*.wav").Order(StringComparer.Ordinal).ToList();

    public static float[] Read(string path) => AudioFile.ReadAll(path);

    private static string? Locate()
    {
        if (Environment.GetEnvironmentVariable("ASR_TEST_DATA") is { Length: > 0 } explicitRoot)
        {
            return Directory.Exists(explicitRoot) ? explicitRoot : null;
        }

        var candidate = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data"));
        return Directory.Exists(candidate) ? candidate : null;
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AsrService.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("AsrService.sln not found above the test binaries");
    }
}

/// <summary>A fact that needs ../shared/data; skipped, with the reason shown, when the folder is absent.</summary>
internal sealed class DataFactAttribute : FactAttribute
{
    public DataFactAttribute()
    {
        if (TestData.Root is null)
        {
            Skip = TestData.MissingReason;
        }
    }
}

/// <summary>A theory that needs ../shared/data.</summary>
internal sealed class DataTheoryAttribute : TheoryAttribute
{
    public DataTheoryAttribute()
    {
        if (TestData.Root is null)
        {
            Skip = TestData.MissingReason;
        }
    }
}

/// <summary>A data fact that also needs ffmpeg on PATH.</summary>
internal sealed class FfmpegDataFactAttribute : FactAttribute
{
    public FfmpegDataFactAttribute()
    {
        if (TestData.Root is null)
        {
            Skip = TestData.MissingReason;
        }
        else if (!Tools.HasFfmpeg)
        {
            Skip = "ffmpeg is not installed (apt-get install ffmpeg)";
        }
    }
}

internal static class Tools
{
    public static readonly bool HasFfmpeg = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Any(directory => File.Exists(Path.Combine(directory, "ffmpeg")));

    /// <summary>Runs ffmpeg quietly and fails the test with its error output if it fails.</summary>
    public static void Ffmpeg(params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-nostdin", "-hide_banner", "-loglevel", "error", "-y" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ffmpeg {string.Join(' ', arguments)} failed: {error}");
    }
}
