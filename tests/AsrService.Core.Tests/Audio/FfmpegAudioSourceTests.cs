using System.Diagnostics;
using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

/// <summary>
/// Decoding through ffmpeg, with files ffmpeg itself makes from a synthetic tone. Skipped where ffmpeg is not
/// installed.
/// </summary>
public sealed class FfmpegAudioSourceTests : IDisposable
{
    private const double ToneHz = 1000.0;
    private const double ToneSeconds = 1.0;

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("asr-ffmpeg-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    [FfmpegFact]
    public void Open_FlacFile_ToneFrequencyAndDurationKept()
    {
        string flac = Encode("tone.flac");

        float[] samples = ReadAll(flac);

        AssertTone(samples);
    }

    [FfmpegFact]
    public void Open_Mp3File_ToneFrequencyAndDurationKept()
    {
        string mp3 = Encode("tone.mp3", "-c:a", "libmp3lame", "-b:a", "128k");

        float[] samples = ReadAll(mp3);

        AssertTone(samples);
    }

    [FfmpegFact]
    public void Open_FlacOnNonSeekableStream_DecodedThroughStdin()
    {
        byte[] flac = File.ReadAllBytes(Encode("tone.flac"));

        using IAudioSource source = AudioFile.Open(new NonSeekableStream(flac, 1000));
        float[] samples = AudioFile.ReadAll(source);

        Assert.Equal(16000, source.SampleRate);
        AssertTone(samples);
    }

    [FfmpegFact]
    public void Open_FlacFileUnderWavName_SniffedAsFlac()
    {
        string flac = Encode("tone.flac");
        string disguised = Path.Combine(_directory.FullName, "really-flac.wav");
        File.Copy(flac, disguised);

        AssertTone(ReadAll(disguised));
    }

    [FfmpegFact]
    public void Open_GarbageFile_ThrowsAudioFormatExceptionWithFfmpegError()
    {
        string path = Path.Combine(_directory.FullName, "garbage.bin");
        File.WriteAllText(path, string.Concat(Enumerable.Repeat("this is not audio at all. ", 200)));

        var exception = Assert.Throws<AudioFormatException>(() => ReadAll(path));

        Assert.StartsWith($"ffmpeg could not decode {path}: ", exception.Message);
        Assert.DoesNotContain('\n', exception.Message);
    }

    [FfmpegFact]
    public void Open_GarbageStream_ThrowsAudioFormatException()
    {
        byte[] garbage = new byte[20_000];
        new Random(4).NextBytes(garbage);
        "junk"u8.CopyTo(garbage);

        Assert.Throws<AudioFormatException>(() =>
        {
            using IAudioSource source = AudioFile.Open(new NonSeekableStream(garbage));
            AudioFile.ReadAll(source);
        });
    }

    [FfmpegFact]
    public void Dispose_WhileFfmpegWaitsForInput_KillsProcess()
    {
        byte[] flac = File.ReadAllBytes(Encode("tone.flac"));
        using var release = new ManualResetEventSlim();
        var input = new StallingStream(flac[..4096], release);

        var source = (FfmpegAudioSource)AudioFile.Open(input);
        int processId = source.ProcessId;
        source.Dispose();
        release.Set();

        Assert.True(HasEnded(processId), $"ffmpeg {processId} still running after Dispose");
    }

    private static float[] ReadAll(string path)
    {
        using IAudioSource source = AudioFile.Open(path);
        Assert.Equal(16000, source.SampleRate);
        return AudioFile.ReadAll(source);
    }

    private static void AssertTone(float[] samples)
    {
        double seconds = samples.Length / 16000.0;
        Assert.InRange(seconds, ToneSeconds - 0.05, ToneSeconds + 0.05);
        ReadOnlySpan<float> steady = Signals.SteadyState(samples, 16000, 0.1);
        Assert.InRange(Signals.ZeroCrossingFrequency(steady, 16000), ToneHz - 1.0, ToneHz + 1.0);
        Assert.InRange(Signals.Decibels(Signals.Rms(steady) / (0.5 / Math.Sqrt(2.0))), -0.5, 0.5);
    }

    private static bool HasEnded(int processId)
    {
        try
        {
            using Process process = Process.GetProcessById(processId);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    /// <summary>Writes a 44.1 kHz WAV of the tone and has ffmpeg convert it to <paramref name="name"/>.</summary>
    private string Encode(string name, params string[] codecArguments)
    {
        string wav = Path.Combine(_directory.FullName, "source.wav");
        if (!File.Exists(wav))
        {
            File.WriteAllBytes(wav, WavBytes.Pcm16Mono(Signals.Sine(ToneHz, 44100, ToneSeconds), 44100));
        }

        string output = Path.Combine(_directory.FullName, name);
        Ffmpeg.Run(["-i", wav, .. codecArguments, output]);
        return output;
    }

    /// <summary>Gives some bytes, then blocks as a silent producer on stdin would, until released.</summary>
    private sealed class StallingStream(byte[] bytes, ManualResetEventSlim release) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position == bytes.Length)
            {
                release.Wait(TimeSpan.FromSeconds(10));
                return 0;
            }

            int length = Math.Min(count, bytes.Length - _position);
            Array.Copy(bytes, _position, buffer, offset, length);
            _position += length;
            return length;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
