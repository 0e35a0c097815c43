using System.Diagnostics;

namespace AsrService.Core.Tests.Audio;

/// <summary>Finds ffmpeg on PATH and runs it to make test files.</summary>
internal static class Ffmpeg
{
    private static readonly Lazy<bool> s_isAvailable = new(() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, "ffmpeg"))));

    public static bool IsAvailable => s_isAvailable.Value;

    /// <summary>Runs ffmpeg quietly and fails the test if it fails.</summary>
    public static void Run(params string[] arguments)
    {
        var startInfo = new ProcessStartInfo("ffmpeg")
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (string argument in (string[])["-nostdin", "-hide_banner", "-loglevel", "error", "-y", .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(startInfo)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ffmpeg {string.Join(' ', arguments)} failed: {errors.Result}");
    }
}

/// <summary>A fact that needs ffmpeg on PATH; skipped, with the reason shown, where it is not installed.</summary>
internal sealed class FfmpegFactAttribute : FactAttribute
{
    public FfmpegFactAttribute()
    {
        if (!Ffmpeg.IsAvailable)
        {
            Skip = "ffmpeg is not on PATH (apt-get install ffmpeg); decoding through ffmpeg is not tested";
        }
    }
}
