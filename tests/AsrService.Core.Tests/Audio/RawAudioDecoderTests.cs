using System.Buffers.Binary;
using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

public sealed class RawAudioDecoderTests
{
    [Fact]
    public void Decode_Linear16Mono_ScalesByFullRange()
    {
        byte[] bytes = Int16Bytes(0, 16384, -32768, 32767);
        var output = new float[4];

        int count = RawAudioDecoder.Decode(bytes, AudioEncoding.Linear16, 1, output);

        Assert.Equal(4, count);
        Assert.Equal([0f, 0.5f, -1f, 32767f / 32768f], output);
    }

    [Fact]
    public void Decode_Linear16Stereo_AveragesChannels()
    {
        byte[] bytes = Int16Bytes(16384, 0, -8192, -8192, 32767, -32768);
        var output = new float[3];

        int count = RawAudioDecoder.Decode(bytes, AudioEncoding.Linear16, 2, output);

        Assert.Equal(3, count);
        Assert.Equal([0.25f, -0.25f, -0.5f / 32768f], output);
    }

    [Fact]
    public void Decode_Float32WithNaNInfinityAndOverRange_ZeroedAndClamped()
    {
        var bytes = new byte[6 * 4];
        float[] values = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 3.5f, -2f, 0.25f];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        var output = new float[6];
        RawAudioDecoder.Decode(bytes, AudioEncoding.Float32, 1, output);

        Assert.Equal([0f, 0f, 0f, 1f, -1f, 0.25f], output);
    }

    [Fact]
    public void Decode_Float64WithNaNAndHugeValue_ZeroedAndClamped()
    {
        var bytes = new byte[3 * 8];
        BinaryPrimitives.WriteDoubleLittleEndian(bytes, double.NaN);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8), -1e300);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(16), 0.125);
        var output = new float[3];

        RawAudioDecoder.Decode(bytes, AudioEncoding.Float64, 1, output);

        Assert.Equal([0f, -1f, 0.125f], output);
    }

    [Fact]
    public void Decode_Float32StereoWithNaNInOneChannel_AveragesWithZero()
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, float.NaN);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), 0.5f);
        var output = new float[1];

        RawAudioDecoder.Decode(bytes, AudioEncoding.Float32, 2, output);

        Assert.Equal(0.25f, output[0]);
    }

    [Fact]
    public void Decode_MuLawAndALaw_UseG711Tables()
    {
        var output = new float[2];

        RawAudioDecoder.Decode([0x00, 0xFF], AudioEncoding.MuLaw, 1, output);
        Assert.Equal([-32124f / 32768f, 0f], output);

        RawAudioDecoder.Decode([0xD5, 0x55], AudioEncoding.ALaw, 1, output);
        Assert.Equal([8f / 32768f, -8f / 32768f], output);
    }

    [Fact]
    public void Decode_MuLawThreeChannels_AveragesChannels()
    {
        var output = new float[1];

        RawAudioDecoder.Decode([0x80, 0x00, 0xFF], AudioEncoding.MuLaw, 3, output);

        Assert.Equal(0f, output[0]);
    }

    [Fact]
    public void Decode_Linear24AndLinear32_SignExtendedAndScaled()
    {
        var output = new float[2];

        RawAudioDecoder.Decode([0x00, 0x00, 0x80, 0xFF, 0xFF, 0x3F], AudioEncoding.Linear24, 1, output);
        Assert.Equal([-1f, 4194303f / 8388608f], output);

        RawAudioDecoder.Decode([0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x40], AudioEncoding.Linear32, 1, output);
        Assert.Equal([-1f, 0.5f], output);
    }

    [Fact]
    public void Decode_UnsignedPcm8_CentredOn128()
    {
        var output = new float[3];

        RawAudioDecoder.Decode([0, 128, 255], AudioEncoding.UnsignedPcm8, 1, output);

        Assert.Equal([-1f, 0f, 127f / 128f], output);
    }

    [Theory]
    [InlineData(AudioEncoding.Linear16, 1, 3)]
    [InlineData(AudioEncoding.Linear16, 2, 6)]
    [InlineData(AudioEncoding.Float32, 1, 10)]
    [InlineData(AudioEncoding.MuLaw, 2, 5)]
    [InlineData(AudioEncoding.ALaw, 3, 4)]
    public void Decode_PartialFrame_ThrowsAudioFormatException(AudioEncoding encoding, int channels, int byteCount)
    {
        var output = new float[byteCount];

        Assert.Throws<AudioFormatException>(
            () => RawAudioDecoder.Decode(new byte[byteCount], encoding, channels, output));
    }

    [Fact]
    public void Decode_EmptyInput_ReturnsZero()
    {
        Assert.Equal(0, RawAudioDecoder.Decode([], AudioEncoding.Linear16, 2, []));
    }

    [Fact]
    public void Decode_OutputTooSmall_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(
            () => RawAudioDecoder.Decode(new byte[8], AudioEncoding.Linear16, 1, new float[3]));
    }

    [Fact]
    public void Decode_ZeroChannels_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            () => RawAudioDecoder.Decode(new byte[8], AudioEncoding.Linear16, 0, new float[8]));
    }

    [Fact]
    public void Decode_SteadyState_AllocatesNothing()
    {
        var bytes = new byte[3200];
        var output = new float[1600];
        RawAudioDecoder.Decode(bytes, AudioEncoding.Linear16, 1, output);

        Assert.Equal(0, AllocationMeasure.LeastOf3(() =>
        {
            RawAudioDecoder.Decode(bytes, AudioEncoding.Linear16, 1, output);
            RawAudioDecoder.Decode(bytes, AudioEncoding.Float32, 2, output);
            RawAudioDecoder.Decode(bytes, AudioEncoding.MuLaw, 2, output);
        }));
    }

    private static byte[] Int16Bytes(params short[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        }

        return bytes;
    }
}
