namespace AsrService.Cli.Output;

/// <summary>
/// A one-line progress bar on standard error, drawn only when standard error is a terminal, so that redirected or
/// piped runs print nothing but the transcript.
/// </summary>
internal sealed class ProgressBar : IProgress<TimeSpan>, IDisposable
{
    private const int Width = 30;

    private readonly string _label;
    private readonly TimeSpan? _total;
    private readonly long _startTicks = Environment.TickCount64;
    private long _lastDrawTicks;
    private bool _drawn;

    private ProgressBar(string label, TimeSpan? total)
    {
        _label = label;
        _total = total;
    }

    public static ProgressBar? Create(string label, TimeSpan? total, bool enabled) =>
        enabled && !Console.IsErrorRedirected ? new ProgressBar(label, total) : null;

    public void Report(TimeSpan done)
    {
        var now = Environment.TickCount64;
        // Files shorter than a second or two never show a bar; after that, redraw at most 10 times a second.
        if (now - _startTicks < 1_000 || now - _lastDrawTicks < 100)
        {
            return;
        }

        _lastDrawTicks = now;
        _drawn = true;
        string line;
        if (_total is { } total && total > TimeSpan.Zero)
        {
            var fraction = Math.Clamp(done / total, 0, 1);
            var filled = (int)(fraction * Width);
            line = $"{_label} [{new string('#', filled)}{new string('-', Width - filled)}] {fraction,4:P0} {done:hh\\:mm\\:ss}/{total:hh\\:mm\\:ss}";
        }
        else
        {
            line = $"{_label} {done:hh\\:mm\\:ss} of audio";
        }

        Console.Error.Write("\r" + line.PadRight(Math.Max(line.Length, 20)));
    }

    public void Dispose()
    {
        if (_drawn)
        {
            Console.Error.Write("\r\u001b[2K");
        }
    }
}
