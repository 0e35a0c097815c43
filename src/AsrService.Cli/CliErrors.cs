namespace AsrService.Cli;

/// <summary>Process exit codes of <c>asr</c>.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>An input could not be read (missing, truncated, corrupt or unsupported audio).</summary>
    public const int BadInput = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>A model could not be downloaded or loaded.</summary>
    public const int ModelUnavailable = 3;

    /// <summary>The server answered with an error status other than INVALID_ARGUMENT.</summary>
    public const int ServerError = 4;

    /// <summary>Interrupted (Ctrl+C).</summary>
    public const int Cancelled = 130;
}

/// <summary>Errors reach the user as one line on standard error, never as a stack trace.</summary>
internal static class CliErrors
{
    public static void Report(string message) => Console.Error.WriteLine($"asr: error: {message}");

    public static int Usage(string message)
    {
        Report(message);
        return ExitCodes.Usage;
    }
}
