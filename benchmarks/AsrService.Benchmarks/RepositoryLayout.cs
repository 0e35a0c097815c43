using AsrService.Core.Audio;

namespace AsrService.Benchmarks;

/// <summary>
/// Finds the repository (the folder holding AsrService.sln) and the shared test audio beside it: $ASR_TEST_DATA, else
/// ../shared/data relative to the repository, as the integration tests do. BenchmarkDotNet runs each benchmark in a
/// child process whose current directory is its build folder, which is still inside the repository, so walking up
/// from either the current directory or the executable's folder finds it.
/// </summary>
internal static class RepositoryLayout
{
    public const string TestDataVariable = "ASR_TEST_DATA";

    private const string DevSet = "librispeech-test-other-dev";

    public static DirectoryInfo? Root { get; } = FindRoot(Directory.GetCurrentDirectory()) ?? FindRoot(AppContext.BaseDirectory);

    /// <summary>The ids of the LibriSpeech dev set's utterances, in order.</summary>
    public static string[] Utterances() =>
        Directory.GetFiles(Path.Combine(TestData(), DevSet, "wav"), "*.wav").Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToArray();

    /// <summary>The reference transcripts of the LibriSpeech dev set (trans.txt), by utterance id.</summary>
    public static IReadOnlyDictionary<string, string> References() =>
        Core.Recognition.WordErrorRate.ReadReferences(Path.Combine(TestData(), DevSet, "trans.txt"));

    /// <summary>Reads one utterance of the LibriSpeech dev set as 16 kHz mono samples.</summary>
    public static float[] ReadUtterance(string id)
    {
        var path = Path.Combine(TestData(), DevSet, "wav", id + ".wav");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"benchmark audio {path} is missing", path);
        }

        using var source = AudioFile.Open(path);
        return AudioFile.ReadAll(source);
    }

    private static string TestData()
    {
        if (Environment.GetEnvironmentVariable(TestDataVariable) is { Length: > 0 } explicitRoot)
        {
            return explicitRoot;
        }

        var root = Root ?? throw new DirectoryNotFoundException(
            $"no AsrService.sln above {Directory.GetCurrentDirectory()}; set {TestDataVariable} to the folder holding {DevSet}");
        var data = Path.GetFullPath(Path.Combine(root.FullName, "..", "shared", "data"));
        return Directory.Exists(data)
            ? data
            : throw new DirectoryNotFoundException($"{data} is absent; set {TestDataVariable} to the folder holding {DevSet}");
    }

    private static DirectoryInfo? FindRoot(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AsrService.sln")))
            {
                return directory;
            }
        }

        return null;
    }
}
