using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

/// <summary>The factory's routing and errors; WAV only, so none of these needs ffmpeg.</summary>
public sealed class AudioFileTests : IDisposable
{
    private const string MissingFfmpeg = "/nonexistent/bin/ffmpeg-for-tests";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("asr-audio-tests-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Open_Wav16kFile_SamplesUnchanged()
    {
        float[] tone = Signals.Sine(440.0, 16000, 0.5);
        string path = Write("tone.wav", WavBytes.Pcm16Mono(tone, 16000));

        using IAudioSource source = AudioFile.Open(path);
        float[] samples = AudioFile.ReadAll(source);

        Assert.Equal(16000, source.SampleRate);
        Assert.Equal(tone.Length, samples.Length);
        for (int i = 0; i < tone.Length; i++)
        {
            Assert.Equal(tone[i], samples[i], 1f / 32768f);
        }
    }

    [Fact]
    public void Open_Wav44kStereoFile_MonoAt16kWithToneKept()
    {
        float[] tone = Signals.Sine(1000.0, 44100, 2.0);
        var interleaved = new float[tone.Length * 2];
        for (int i = 0; i < tone.Length; i++)
        {
            interleaved[2 * i] = tone[i];
            interleaved[(2 * i) + 1] = tone[i];
        }

        string path = Write(
            "stereo.wav",
            WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 2, 44100, 16), WavBytes.Data(WavBytes.Pcm16(interleaved))));

        using IAudioSource source = AudioFile.Open(path);
        float[] samples = AudioFile.ReadAll(source);

        Assert.Equal(16000, source.SampleRate);
        Assert.Equal(32000, samples.Length);
        Assert.InRange(Signals.ZeroCrossingFrequency(Signals.SteadyState(samples, 16000), 16000), 999.9, 1000.1);
    }

    [Fact]
    public void Open_TargetRate8000_ResamplesToIt()
    {
        string path = Write("tone.wav", WavBytes.Pcm16Mono(Signals.Sine(500.0, 16000, 1.0), 16000));

        using IAudioSource source = AudioFile.Open(path, 8000);

        Assert.Equal(8000, source.SampleRate);
        Assert.Equal(8000, AudioFile.ReadAll(source).Length);
    }

    [Fact]
    public void Open_WavOnNonSeekableStream_DecodedInProcess()
    {
        float[] tone = Signals.Sine(1000.0, 8000, 0.5);
        byte[] wav = WavBytes.Pcm16Mono(tone, 8000);

        // A missing ffmpeg proves the WAV never went near it.
        using IAudioSource source = AudioFile.Open(new NonSeekableStream(wav, 5), 16000, false, MissingFfmpeg);
        float[] samples = AudioFile.ReadAll(source);

        Assert.Equal(8000, samples.Length);
        Assert.InRange(Signals.ZeroCrossingFrequency(Signals.SteadyState(samples, 16000), 16000), 999.9, 1000.1);
    }

    [Fact]
    public void Open_WavOnSeekableStreamNotAtStart_ReadsFromCurrentPosition()
    {
        byte[] wav = WavBytes.Pcm16Mono([0.5f, -0.5f], 16000);
        var stream = new MemoryStream([1, 2, 3, .. wav]) { Position = 3 };

        using IAudioSource source = AudioFile.Open(stream);

        Assert.Equal([0.5f, -0.5f], AudioFile.ReadAll(source));
    }

    [Fact]
    public void Open_LeaveOpenStream_StillOpenAfterDispose()
    {
        var stream = new MemoryStream(WavBytes.Pcm16Mono([0.5f], 16000));

        AudioFile.Open(stream, leaveOpen: true).Dispose();

        Assert.True(stream.CanRead);
    }

    [Fact]
    public void Open_MissingFile_ThrowsFileNotFound()
    {
        string path = Path.Combine(_directory.FullName, "missing.wav");

        var exception = Assert.Throws<AudioFormatException>(() => AudioFile.Open(path));

        Assert.Equal($"file not found: {path}", exception.Message);
    }

    [Fact]
    public void Open_MissingDirectory_ThrowsFileNotFound()
    {
        string path = Path.Combine(_directory.FullName, "no-such-dir", "a.flac");

        var exception = Assert.Throws<AudioFormatException>(() => AudioFile.Open(path));

        Assert.StartsWith("file not found: ", exception.Message);
    }

    [Fact]
    public void Open_Directory_ThrowsAudioFormatException()
    {
        Assert.Throws<AudioFormatException>(() => AudioFile.Open(_directory.FullName));
    }

    [Fact]
    public void Open_EmptyFile_ThrowsAudioFormatException()
    {
        string path = Write("empty.mp3", []);

        var exception = Assert.Throws<AudioFormatException>(() => AudioFile.Open(path, 16000, MissingFfmpeg));

        Assert.Contains("is empty", exception.Message);
    }

    [Fact]
    public void Open_MalformedWavFile_ThrowsAudioFormatException()
    {
        string path = Write("bad.wav", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 0, 16000, 16, 2)));

        Assert.Throws<AudioFormatException>(() => AudioFile.Open(path));
    }

    [Theory]
    [InlineData("song.flac", new byte[] { 0x66, 0x4C, 0x61, 0x43, 0, 0, 0, 0x22 }, "FLAC")]
    [InlineData("song.mp3", new byte[] { 0x49, 0x44, 0x33, 4, 0, 0 }, "MP3")]
    [InlineData("clip.bin", new byte[] { 0x4F, 0x67, 0x67, 0x53, 0, 2 }, "Ogg")]
    [InlineData("voice.opus", new byte[] { 1, 2, 3, 4, 5 }, "OPUS")]
    public void Open_NonWavWithoutFfmpeg_ThrowsNeedsFfmpeg(string name, byte[] content, string format)
    {
        string path = Write(name, content);

        var exception = Assert.Throws<AudioFormatException>(() => AudioFile.Open(path, 16000, MissingFfmpeg));

        Assert.Equal($"{path} needs ffmpeg to decode {format}; install it (apt-get install ffmpeg)", exception.Message);
    }

    [Fact]
    public void Open_NonWavStreamWithoutFfmpeg_ThrowsNeedsFfmpegAndDisposesStream()
    {
        var stream = new MemoryStream("fLaC and more bytes"u8.ToArray());

        var exception = Assert.Throws<AudioFormatException>(
            () => AudioFile.Open(stream, 16000, false, MissingFfmpeg));

        Assert.Contains("needs ffmpeg to decode FLAC", exception.Message);
        Assert.False(stream.CanRead);
    }

    [Fact]
    public void Open_TargetRateOutOfRange_ThrowsArgumentOutOfRange()
    {
        string path = Write("tone.wav", WavBytes.Pcm16Mono([0f], 16000));

        Assert.Throws<ArgumentOutOfRangeException>(() => AudioFile.Open(path, 0));
    }

    [Theory]
    [InlineData(new byte[] { 0x66, 0x4C, 0x61, 0x43 }, "FLAC")]
    [InlineData(new byte[] { 0xFF, 0xFB, 0x90, 0x00 }, "MP3")]
    [InlineData(new byte[] { 0xFF, 0xF1, 0x50, 0x80 }, "AAC")]
    [InlineData(new byte[] { 0, 0, 0, 0x20, 0x66, 0x74, 0x79, 0x70, 0x4D, 0x34, 0x41, 0x20 }, "MP4")]
    [InlineData(new byte[] { 0x1A, 0x45, 0xDF, 0xA3 }, "WebM/Matroska")]
    [InlineData(new byte[] { 0x52, 0x46, 0x36, 0x34 }, "RF64")]
    [InlineData(new byte[] { 9, 9, 9 }, "this format")]
    public void Describe_MagicBytes_NamesFormat(byte[] header, string expected)
    {
        Assert.Equal(expected, AudioFormatSniffer.Describe(header, null));
    }

    [Fact]
    public void ReadAll_LongSource_ReturnsEverySample()
    {
        float[] samples = Signals.Sine(100.0, 16000, 5.0);

        Assert.Equal(samples, AudioFile.ReadAll(new MemoryAudioSource(samples, 16000)));
    }

    private string Write(string name, byte[] content)
    {
        string path = Path.Combine(_directory.FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }
}
