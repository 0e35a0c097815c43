namespace AsrService.Core.Audio;

/// <summary>
/// Opens audio from a file, standard input or a stream as mono samples at one sample rate. WAV is decoded in process
/// and resampled here; every other format goes through ffmpeg, which also resamples. The format is chosen by the
/// first bytes, not the file name.
/// </summary>
public static class AudioFile
{
    /// <summary>The rate the recognizer models take.</summary>
    public const int DefaultSampleRate = 16_000;

    /// <summary>The name that means standard input.</summary>
    public const string StandardInputName = "-";

    private const int FileBufferBytes = 64 * 1024;

    /// <summary>
    /// Opens <paramref name="pathOrDash"/> ("-" for standard input) as mono audio at
    /// <paramref name="targetSampleRate"/>.
    /// </summary>
    /// <exception cref="AudioFormatException">
    /// The file is missing or unreadable, malformed, or needs ffmpeg and ffmpeg is not installed.
    /// </exception>
    public static IAudioSource Open(string pathOrDash, int targetSampleRate = DefaultSampleRate) =>
        Open(pathOrDash, targetSampleRate, FfmpegAudioSource.DefaultExecutable);

    /// <summary>
    /// Opens audio arriving on <paramref name="stream"/> (which need not seek) as mono audio at
    /// <paramref name="targetSampleRate"/>.
    /// </summary>
    /// <exception cref="AudioFormatException">The audio is malformed, or needs ffmpeg and it is not installed.</exception>
    public static IAudioSource Open(Stream stream, int targetSampleRate = DefaultSampleRate, bool leaveOpen = false) =>
        Open(stream, targetSampleRate, leaveOpen, FfmpegAudioSource.DefaultExecutable);

    /// <summary>
    /// The duration of a WAV file from its header, for progress display; null for other formats, standard input,
    /// streamed WAVs without a length, or anything unreadable (the real error surfaces when the file is opened).
    /// </summary>
    public static TimeSpan? TryGetDuration(string pathOrDash)
    {
        if (pathOrDash == StandardInputName)
        {
            return null;
        }

        try
        {
            using var wav = new WavAudioSource(File.OpenRead(pathOrDash));
            return wav.Format.Duration;
        }
        catch (Exception e) when (e is AudioFormatException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Opens <paramref name="pathOrDash"/> as 16 kHz mono audio and reads it to its end.</summary>
    public static float[] ReadAll(string pathOrDash)
    {
        using var source = Open(pathOrDash);
        return ReadAll(source);
    }

    /// <summary>Reads a source to its end.</summary>
    public static float[] ReadAll(IAudioSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var samples = new float[16 * 1024];
        int count = 0;
        while (true)
        {
            if (count == samples.Length)
            {
                Array.Resize(ref samples, samples.Length * 2);
            }

            int read = source.Read(samples.AsSpan(count));
            if (read == 0)
            {
                return samples.AsSpan(0, count).ToArray();
            }

            count += read;
        }
    }

    /// <summary>As the public overload, with the ffmpeg executable chosen (tests use a missing one).</summary>
    internal static IAudioSource Open(string pathOrDash, int targetSampleRate, string ffmpegExecutable)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathOrDash);
        ValidateSampleRate(targetSampleRate);
        if (pathOrDash == StandardInputName)
        {
            return OpenStream(
                Console.OpenStandardInput(), false, "standard input", null, targetSampleRate, ffmpegExecutable);
        }

        FileStream file = OpenFile(pathOrDash);

        // A named pipe or process substitution cannot be reopened by ffmpeg without losing the sniffed bytes, so
        // only a seekable file is handed to ffmpeg by name.
        if (!file.CanSeek)
        {
            return OpenStream(file, false, pathOrDash, pathOrDash, targetSampleRate, ffmpegExecutable);
        }

        byte[] header;
        try
        {
            header = ReadHeader(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }

        if (AudioFormatSniffer.IsWav(header))
        {
            file.Position = 0;
            return OpenWav(file, false, targetSampleRate);
        }

        file.Dispose();
        ThrowIfEmpty(header, pathOrDash);
        return FfmpegAudioSource.FromFile(
            pathOrDash, AudioFormatSniffer.Describe(header, pathOrDash), targetSampleRate, ffmpegExecutable);
    }

    /// <summary>As the public overload, with the ffmpeg executable chosen (tests use a missing one).</summary>
    internal static IAudioSource Open(Stream stream, int targetSampleRate, bool leaveOpen, string ffmpegExecutable)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ValidateSampleRate(targetSampleRate);
        return OpenStream(stream, leaveOpen, "the input stream", null, targetSampleRate, ffmpegExecutable);
    }

    private static IAudioSource OpenStream(
        Stream stream, bool leaveOpen, string displayName, string? path, int targetSampleRate, string ffmpegExecutable)
    {
        Stream replay;
        byte[] header;
        try
        {
            long start = stream.CanSeek ? stream.Position : 0;
            header = ReadHeader(stream);
            if (stream.CanSeek)
            {
                stream.Position = start;
                replay = stream;
            }
            else
            {
                replay = new PrefixedStream(header, stream, leaveOpen);
            }
        }
        catch
        {
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }

        // The replay stream owns the original unless the caller keeps it.
        bool leaveReplayOpen = leaveOpen && replay == stream;
        if (AudioFormatSniffer.IsWav(header))
        {
            return OpenWav(replay, leaveReplayOpen, targetSampleRate);
        }

        if (header.Length == 0 && !leaveReplayOpen)
        {
            replay.Dispose();
        }

        ThrowIfEmpty(header, displayName);
        return FfmpegAudioSource.FromStream(
            replay, leaveReplayOpen, displayName, AudioFormatSniffer.Describe(header, path), targetSampleRate,
            ffmpegExecutable);
    }

    private static IAudioSource OpenWav(Stream stream, bool leaveOpen, int targetSampleRate)
    {
        var wav = new WavAudioSource(stream, leaveOpen);
        return wav.SampleRate == targetSampleRate ? wav : new ResamplingAudioSource(wav, targetSampleRate);
    }

    private static FileStream OpenFile(string path)
    {
        if (Directory.Exists(path))
        {
            throw new AudioFormatException($"not an audio file: {path} is a directory");
        }

        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferBytes);
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new AudioFormatException($"file not found: {path}", exception);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new AudioFormatException($"cannot read {path}: permission denied", exception);
        }
        catch (IOException exception)
        {
            throw new AudioFormatException($"cannot read {path}: {exception.Message}", exception);
        }
    }

    private static byte[] ReadHeader(Stream stream)
    {
        var header = new byte[AudioFormatSniffer.HeaderLength];
        int read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        return read == header.Length ? header : header[..read];
    }

    private static void ThrowIfEmpty(byte[] header, string displayName)
    {
        if (header.Length == 0)
        {
            throw new AudioFormatException($"no audio: {displayName} is empty");
        }
    }

    private static void ValidateSampleRate(int sampleRate)
    {
        if (!AudioLimits.IsValidSampleRate(sampleRate))
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "sample rate out of range");
        }
    }
}
