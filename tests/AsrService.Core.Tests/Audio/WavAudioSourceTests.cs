using System.Buffers.Binary;
using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

public sealed class WavAudioSourceTests
{
    private static readonly float[] s_ramp = [0f, 0.25f, -0.25f, 0.5f, -0.5f, 0.75f, -1f, 0.125f];

    [Fact]
    public void Read_UnsignedPcm8_DecodesCentredOn128()
    {
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 8000, 8), WavBytes.Data([128, 192, 64, 0, 255]));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.UnsignedPcm8, format.Encoding);
        Assert.Equal([0f, 0.5f, -0.5f, -1f, 127f / 128f], samples);
    }

    [Fact]
    public void Read_Linear16_DecodesSamples()
    {
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16), WavBytes.Data(WavBytes.Pcm16(s_ramp)));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.Linear16, format.Encoding);
        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Read_Linear24_DecodesSamples()
    {
        var data = new byte[s_ramp.Length * 3];
        for (int i = 0; i < s_ramp.Length; i++)
        {
            int value = (int)(s_ramp[i] * 8388608.0);
            data[3 * i] = (byte)value;
            data[(3 * i) + 1] = (byte)(value >> 8);
            data[(3 * i) + 2] = (byte)(value >> 16);
        }

        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 48000, 24), WavBytes.Data(data));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.Linear24, format.Encoding);
        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Read_Linear32_DecodesSamples()
    {
        byte[] data = Encode(s_ramp, 4, (span, value) =>
            BinaryPrimitives.WriteInt32LittleEndian(span, (int)Math.Max(int.MinValue, value * 2147483648.0)));
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 44100, 32), WavBytes.Data(data));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.Linear32, format.Encoding);
        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Read_Float32_DecodesSamples()
    {
        byte[] data = Encode(s_ramp, 4, (span, value) => BinaryPrimitives.WriteSingleLittleEndian(span, value));
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Float, 1, 16000, 32), WavBytes.Data(data));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.Float32, format.Encoding);
        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Read_Float64_DecodesSamples()
    {
        byte[] data = Encode(s_ramp, 8, (span, value) => BinaryPrimitives.WriteDoubleLittleEndian(span, value));
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Float, 1, 16000, 64), WavBytes.Data(data));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(AudioEncoding.Float64, format.Encoding);
        Assert.Equal(s_ramp, samples);
    }

    [Theory]
    [InlineData(WavBytes.MuLaw, AudioEncoding.MuLaw)]
    [InlineData(WavBytes.ALaw, AudioEncoding.ALaw)]
    public void Read_G711_DecodesEveryCode(int formatTag, AudioEncoding encoding)
    {
        byte[] codes = Enumerable.Range(0, 256).Select(code => (byte)code).ToArray();
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(formatTag, 1, 8000, 8), WavBytes.Data(codes));

        (WavFormat format, float[] samples) = ReadAll(wav);

        ReadOnlySpan<float> table = encoding == AudioEncoding.MuLaw ? G711.MuLawTable : G711.ALawTable;
        Assert.Equal(encoding, format.Encoding);
        Assert.Equal(table.ToArray(), samples);
    }

    [Theory]
    [InlineData(WavBytes.Pcm, 16, 16, AudioEncoding.Linear16)]
    [InlineData(WavBytes.Pcm, 32, 24, AudioEncoding.Linear32)]
    [InlineData(WavBytes.Float, 32, 32, AudioEncoding.Float32)]
    [InlineData(WavBytes.MuLaw, 8, 8, AudioEncoding.MuLaw)]
    public void Read_ExtensibleFormat_UsesSubFormat(int subFormat, int bits, int validBits, AudioEncoding expected)
    {
        byte[] data = new byte[4 * bits / 8];
        byte[] wav = WavBytes.Riff(
            WavBytes.FmtExtensible(subFormat, 2, 48000, bits, validBits), WavBytes.Data(data));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(expected, format.Encoding);
        Assert.Equal(2, format.Channels);
        Assert.Equal(2, samples.Length);
    }

    [Fact]
    public void Read_ExtensibleStereoPcm16_DownmixesValues()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.FmtExtensible(WavBytes.Pcm, 2, 16000, 16, 16),
            WavBytes.Data(WavBytes.Pcm16(0.5f, 0f, -0.25f, -0.75f)));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal([0.25f, -0.5f], samples);
    }

    [Fact]
    public void Read_Stereo_AveragesChannels()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Fmt(WavBytes.Pcm, 2, 44100, 16), WavBytes.Data(WavBytes.Pcm16(0.5f, -0.5f, 1f / 8, 3f / 8)));

        (WavFormat format, float[] samples) = ReadAll(wav);

        Assert.Equal(2, format.Channels);
        Assert.Equal([0f, 0.25f], samples);
    }

    [Fact]
    public void Read_SixChannels_AveragesChannels()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Fmt(WavBytes.Pcm, 6, 48000, 16),
            WavBytes.Data(WavBytes.Pcm16(0.5f, 0.25f, 0f, 0f, -0.125f, 0.125f)));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal([0.125f], samples);
    }

    [Fact]
    public void Read_UnknownChunksWithOddSizesAnywhere_SkipsThem()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Chunk("JUNK", new byte[3]),
            WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16),
            WavBytes.Chunk("LIST", "INFOISFT\u0005\0\0\0Lavf\0"u8.ToArray()),
            WavBytes.Chunk("fact", new byte[4]),
            WavBytes.Data(WavBytes.Pcm16(s_ramp)),
            WavBytes.Chunk("id3 ", new byte[7]));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Read_OddSizedDataChunkFollowedByChunk_StopsAtDeclaredSize()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Fmt(WavBytes.Pcm, 1, 8000, 8),
            WavBytes.Data([128, 255, 0]),
            WavBytes.Chunk("LIST", new byte[5]));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal([0f, 127f / 128f, -1f], samples);
    }

    [Fact]
    public void Read_FmtChunkLongerThanUsed_SkipsExtraBytes()
    {
        byte[] fmt = WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16);
        byte[] body = [.. fmt.AsSpan(8), 0, 0, 0xAB, 0xCD, 0xEF];
        byte[] wav = WavBytes.Riff(WavBytes.Chunk("fmt ", body), WavBytes.Data(WavBytes.Pcm16(s_ramp)));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal(s_ramp, samples);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(0xFFFFFFFFu)]
    public void Read_StreamedDataSizeOnPipe_ReadsToEndOfStream(uint declaredSize)
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16), WavBytes.Data(WavBytes.Pcm16(s_ramp), declaredSize));
        using var source = new WavAudioSource(new NonSeekableStream(wav, 5));

        float[] samples = AudioFile.ReadAll(source);

        Assert.Null(source.Format.DataLength);
        Assert.Null(source.Format.Duration);
        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Format_StreamedDataSizeOnSeekableStream_KnowsLengthFromStream()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16), WavBytes.Data(new byte[32000], 0xFFFFFFFF));
        using var source = new WavAudioSource(new MemoryStream(wav));

        Assert.Equal(32000, source.Format.DataLength);
        Assert.Equal(TimeSpan.FromSeconds(1), source.Format.Duration);
    }

    [Fact]
    public void Format_CompleteHeader_ReportsEveryField()
    {
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 2, 44100, 24), WavBytes.Data(new byte[44100 * 6 / 2]));
        using var source = new WavAudioSource(new MemoryStream(wav));

        Assert.Equal(new WavFormat(AudioEncoding.Linear24, 44100, 2, 24, 6, 44100 * 3), source.Format);
        Assert.Equal(22050, source.Format.FrameCount);
        Assert.Equal(TimeSpan.FromSeconds(0.5), source.Format.Duration);
        Assert.Equal(44100, source.SampleRate);
    }

    [Fact]
    public void Read_DataBeforeFmtOnSeekableStream_Decodes()
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Data(WavBytes.Pcm16(s_ramp)), WavBytes.Chunk("LIST", new byte[3]),
            WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16));

        (_, float[] samples) = ReadAll(wav);

        Assert.Equal(s_ramp, samples);
    }

    [Fact]
    public void Constructor_DataBeforeFmtOnPipe_ThrowsAudioFormatException()
    {
        byte[] wav = WavBytes.Riff(WavBytes.Data(WavBytes.Pcm16(s_ramp)), WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16));

        Assert.Throws<AudioFormatException>(() => new WavAudioSource(new NonSeekableStream(wav)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Read_DataChunkTruncated_ReturnsWholeFramesAvailable(bool seekable)
    {
        // 16-bit stereo declares 1000 bytes but has 501: 125 whole frames and one stray byte.
        byte[] full = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 2, 16000, 16), WavBytes.Data(new byte[1000]));
        byte[] truncated = full.AsSpan(0, full.Length - 499).ToArray();
        using var source = new WavAudioSource(seekable ? new MemoryStream(truncated) : new NonSeekableStream(truncated));

        float[] samples = AudioFile.ReadAll(source);

        Assert.Equal(125, samples.Length);
    }

    [Fact]
    public void Read_TinyReadsAndTinyBuffers_SameSamplesAsWholeReads()
    {
        float[] tone = Signals.Sine(440.0, 16000, 0.1);
        byte[] data = WavBytes.Pcm16([.. tone, .. tone]);
        byte[] wav = WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 2, 16000, 16), WavBytes.Data(data));
        (_, float[] expected) = ReadAll(wav);
        using var source = new WavAudioSource(new NonSeekableStream(wav, 3));

        var samples = new List<float>();
        var buffer = new float[7];
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            samples.AddRange(buffer.AsSpan(0, read));
        }

        Assert.Equal(expected, samples.ToArray());
    }

    [Fact]
    public void Dispose_LeaveOpenFalse_DisposesStream()
    {
        var stream = new MemoryStream(WavBytes.Pcm16Mono(s_ramp, 16000));
        new WavAudioSource(stream).Dispose();

        Assert.False(stream.CanRead);
    }

    public static TheoryData<string, byte[]> MalformedFiles()
    {
        byte[] fmt = WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16);
        byte[] data = WavBytes.Data(WavBytes.Pcm16(s_ramp));
        byte[] valid = WavBytes.Riff(fmt, data);
        return new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "text", "hello, this is not audio"u8.ToArray() },
            { "RIFF only", "RIFF"u8.ToArray() },
            { "RIFF cut in size", valid[..6] },
            { "not WAVE", WavBytes.RiffWithType("AVI ", fmt, data) },
            { "header only", valid[..12] },
            { "cut in chunk header", valid[..16] },
            { "cut in fmt chunk", valid[..30] },
            { "no fmt chunk", WavBytes.Riff(data) },
            { "no data chunk", WavBytes.Riff(fmt) },
            { "no data chunk after junk", WavBytes.Riff(fmt, WavBytes.Chunk("LIST", new byte[4])) },
            { "cut in unknown chunk", WavBytes.Riff(fmt, WavBytes.Chunk("LIST", new byte[4]))[..40] },
            { "unknown chunk past end", WavBytes.Riff(fmt, WavBytes.Chunk("LIST", new byte[4], 1000)) },
            { "fmt too short", WavBytes.Riff(WavBytes.Chunk("fmt ", fmt[8..22]), data) },
            { "zero channels", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 0, 16000, 16, 2), data) },
            { "zero sample rate", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 0, 16), data) },
            { "absurd sample rate", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 50_000_000, 16), data) },
            { "block align mismatch", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 2, 16000, 16, 2), data) },
            { "block align zero", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 16, 0), data) },
            { "ADPCM", WavBytes.Riff(WavBytes.Fmt(2, 1, 16000, 4, 1), data) },
            { "MP3 in WAV", WavBytes.Riff(WavBytes.Fmt(0x55, 1, 16000, 0, 1), data) },
            { "12-bit PCM", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 12, 2), data) },
            { "zero-bit PCM", WavBytes.Riff(WavBytes.Fmt(WavBytes.Pcm, 1, 16000, 0, 2), data) },
            { "16-bit float", WavBytes.Riff(WavBytes.Fmt(WavBytes.Float, 1, 16000, 16), data) },
            { "16-bit mu-law", WavBytes.Riff(WavBytes.Fmt(WavBytes.MuLaw, 1, 16000, 16), data) },
            { "extensible cut short", WavBytes.Riff(WavBytes.Fmt(WavBytes.Extensible, 1, 16000, 16), data) },
            {
                "extensible unknown GUID",
                WavBytes.Riff(WavBytes.FmtExtensible(0, 1, 16000, 16, 16, Guid.NewGuid()), data)
            },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Constructor_MalformedFile_ThrowsOneLineAudioFormatException(string name, byte[] wav)
    {
        foreach (bool seekable in new[] { true, false })
        {
            Stream stream = seekable ? new MemoryStream(wav) : new NonSeekableStream(wav, 7);

            var exception = Assert.Throws<AudioFormatException>(() => new WavAudioSource(stream));

            Assert.False(string.IsNullOrWhiteSpace(exception.Message), name);
            Assert.DoesNotContain('\n', exception.Message);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Constructor_FileCutAnywhere_ThrowsInHeaderAndReadsWholeFramesInData(bool seekable)
    {
        byte[] wav = WavBytes.Riff(
            WavBytes.Chunk("JUNK", new byte[5]), WavBytes.Fmt(WavBytes.Pcm, 2, 16000, 16),
            WavBytes.Data(WavBytes.Pcm16(s_ramp)));
        int headerLength = wav.Length - (s_ramp.Length * 2);

        for (int length = 0; length <= wav.Length; length++)
        {
            byte[] cut = wav[..length];
            Stream stream = seekable ? new MemoryStream(cut) : new NonSeekableStream(cut, 3);
            if (length < headerLength)
            {
                Assert.Throws<AudioFormatException>(() => new WavAudioSource(stream));
                continue;
            }

            using var source = new WavAudioSource(stream);
            Assert.Equal((length - headerLength) / 4, AudioFile.ReadAll(source).Length);
        }
    }

    [Fact]
    public void Read_RandomlyCorruptedHeaders_OnlyAudioFormatExceptionOrSamples()
    {
        byte[] valid = WavBytes.Riff(
            WavBytes.Chunk("LIST", new byte[3]),
            WavBytes.FmtExtensible(WavBytes.Float, 2, 16000, 32, 32),
            WavBytes.Data(new byte[64]));
        var random = new Random(12345);

        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] corrupt = (byte[])valid.Clone();
            int changes = 1 + random.Next(3);
            for (int i = 0; i < changes; i++)
            {
                corrupt[random.Next(Math.Min(corrupt.Length, 80))] = (byte)random.Next(256);
            }

            Stream stream = trial % 2 == 0 ? new MemoryStream(corrupt) : new NonSeekableStream(corrupt, 11);
            try
            {
                using var source = new WavAudioSource(stream);
                float[] samples = AudioFile.ReadAll(source);
                Assert.True(Signals.AllFinite(samples));
            }
            catch (AudioFormatException)
            {
                // Rejected with a message: what a corrupt header should do.
            }
        }
    }

    private static (WavFormat Format, float[] Samples) ReadAll(byte[] wav)
    {
        using var source = new WavAudioSource(new MemoryStream(wav));
        return (source.Format, AudioFile.ReadAll(source));
    }

    private static byte[] Encode(float[] samples, int size, SpanAction write)
    {
        var bytes = new byte[samples.Length * size];
        for (int i = 0; i < samples.Length; i++)
        {
            write(bytes.AsSpan(i * size, size), samples[i]);
        }

        return bytes;
    }

    private delegate void SpanAction(Span<byte> destination, float value);
}
