using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AsrService.Core.Audio;

/// <summary>
/// Decodes anything ffmpeg can read (FLAC, MP3, Ogg, MP4, ...) by running it as a child process that writes mono
/// 32-bit float samples at the requested rate to its stdout, which we read as a stream. Input is a path ffmpeg opens
/// itself, or a stream (standard input) we copy into ffmpeg's stdin on a background task; nothing goes through
/// temporary files. ffmpeg's stderr is drained continuously (a full pipe would stall it) and only its first line is
/// kept, for the error message if it exits non-zero. Dispose kills the process.
/// </summary>
internal sealed class FfmpegAudioSource : IAudioSource
{
    public const string DefaultExecutable = "ffmpeg";

    private const int MaxErrorLength = 300;
    private const int BlockBytes = 16 * 1024;

    private readonly Process _process;
    private readonly Stream _stdout;
    private readonly string _displayName;
    private readonly Task _stderrReader;
    private readonly CancellationTokenSource _copyCancellation = new();
    private readonly byte[] _block = new byte[BlockBytes];
    private string? _firstErrorLine;
    private int _carryBytes;
    private bool _completed;
    private bool _disposed;

    private FfmpegAudioSource(
        string executable, string inputArgument, Stream? input, bool leaveInputOpen, string displayName,
        string formatName, int sampleRate)
    {
        if (!AudioLimits.IsValidSampleRate(sampleRate))
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "sample rate out of range");
        }

        SampleRate = sampleRate;
        _displayName = displayName;

        var startInfo = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardErrorEncoding = Encoding.UTF8,
        };
        string[] arguments =
        [
            "-nostdin", "-hide_banner", "-loglevel", "error", "-i", inputArgument,
            "-f", "f32le", "-ac", "1", "-ar", sampleRate.ToString(CultureInfo.InvariantCulture), "pipe:1",
        ];
        foreach (string argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process? process;
        try
        {
            process = Process.Start(startInfo);
        }
        catch (Win32Exception)
        {
            // The executable could not be found or run.
            process = null;
        }

        if (process is null)
        {
            if (input is not null && !leaveInputOpen)
            {
                input.Dispose();
            }

            throw new AudioFormatException(
                $"{displayName} needs ffmpeg to decode {formatName}; install it (apt-get install ffmpeg)");
        }

        _process = process;
        ProcessId = _process.Id;
        _stdout = _process.StandardOutput.BaseStream;
        StreamReader stderr = _process.StandardError;
        _stderrReader = Task.Run(() => ReadStandardErrorAsync(stderr));
        if (input is null)
        {
            _process.StandardInput.Close();
        }
        else
        {
            Stream stdin = _process.StandardInput.BaseStream;
            CancellationToken cancellationToken = _copyCancellation.Token;
            _ = Task.Run(() => CopyInputAsync(input, leaveInputOpen, stdin, cancellationToken));
        }
    }

    /// <inheritdoc />
    public int SampleRate { get; }

    /// <summary>The ffmpeg process, so tests can check that Dispose does not leave it running.</summary>
    internal int ProcessId { get; }

    /// <summary>Starts ffmpeg on a file it opens itself.</summary>
    /// <exception cref="AudioFormatException">ffmpeg is not installed.</exception>
    public static FfmpegAudioSource FromFile(
        string path, string formatName, int sampleRate, string executable = DefaultExecutable) =>
        // "file:" stops ffmpeg from reading a name such as "a:b.mp3" as a protocol.
        new(executable, "file:" + Path.GetFullPath(path), null, false, path, formatName, sampleRate);

    /// <summary>Starts ffmpeg on a stream that is copied into its stdin.</summary>
    /// <exception cref="AudioFormatException">ffmpeg is not installed.</exception>
    public static FfmpegAudioSource FromStream(
        Stream input, bool leaveOpen, string displayName, string formatName, int sampleRate,
        string executable = DefaultExecutable) =>
        new(executable, "pipe:0", input, leaveOpen, displayName, formatName, sampleRate);

    /// <inheritdoc />
    public int Read(Span<float> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int produced = 0;
        while (produced < buffer.Length && !_completed)
        {
            int wanted = Math.Min((buffer.Length - produced) * sizeof(float), _block.Length) - _carryBytes;
            int read = _stdout.Read(_block, _carryBytes, wanted);
            if (read == 0)
            {
                Complete();
                break;
            }

            int available = _carryBytes + read;
            int whole = available / sizeof(float) * sizeof(float);
            produced += RawAudioDecoder.Decode(_block.AsSpan(0, whole), AudioEncoding.Float32, 1, buffer[produced..]);
            _carryBytes = available - whole;
            _block.AsSpan(whole, _carryBytes).CopyTo(_block);

            // A short read means ffmpeg has nothing more yet: hand over what we have rather than wait.
            if (read < wanted && produced > 0)
            {
                break;
            }
        }

        return produced;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _copyCancellation.Cancel();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(2000);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        catch (Win32Exception)
        {
            // Could not be signalled; it is no longer ours to manage.
        }

        _process.Dispose();
        _copyCancellation.Dispose();
    }

    /// <summary>At the end of ffmpeg's output: a non-zero exit means it failed, and its first error line says why.</summary>
    private void Complete()
    {
        _completed = true;
        _process.WaitForExit();
        _stderrReader.Wait(TimeSpan.FromSeconds(5));
        if (_process.ExitCode != 0)
        {
            string reason = _firstErrorLine ?? $"it exited with code {_process.ExitCode}";
            throw new AudioFormatException($"ffmpeg could not decode {_displayName}: {reason}");
        }
    }

    private async Task ReadStandardErrorAsync(StreamReader reader)
    {
        var line = new StringBuilder();
        var chars = new char[1024];
        int read;
        while ((read = await ReadOrEndAsync(reader, chars).ConfigureAwait(false)) > 0)
        {
            // Keep draining after the first line so ffmpeg never blocks on a full stderr pipe.
            for (int i = 0; i < read && _firstErrorLine is null; i++)
            {
                char c = chars[i];
                if (c is '\n' or '\r')
                {
                    if (line.ToString().Trim().Length > 0)
                    {
                        _firstErrorLine = line.ToString().Trim();
                    }

                    line.Clear();
                }
                else if (line.Length < MaxErrorLength)
                {
                    line.Append(c);
                }
            }
        }

        if (_firstErrorLine is null && line.ToString().Trim().Length > 0)
        {
            _firstErrorLine = line.ToString().Trim();
        }
    }

    private static async Task<int> ReadOrEndAsync(StreamReader reader, char[] chars)
    {
        try
        {
            return await reader.ReadAsync(chars).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            // Disposed while ffmpeg was still running: there is nobody left to tell.
            return 0;
        }
    }

    private static async Task CopyInputAsync(
        Stream input, bool leaveOpen, Stream stdin, CancellationToken cancellationToken)
    {
        try
        {
            await input.CopyToAsync(stdin, 64 * 1024, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException
            or ObjectDisposedException or InvalidOperationException)
        {
            // ffmpeg stopped reading (it failed, or we killed it): its exit status reports what matters.
        }
        finally
        {
            try
            {
                // Closing ffmpeg's stdin is how it learns the input has ended.
                await stdin.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The pipe is already broken; closing it is all we wanted.
            }

            if (!leaveOpen)
            {
                await input.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
