using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

public sealed class RawAudioEncoderTests
{
    [Fact]
    public void EncodeLinear16_EveryInt16Value_RoundTripsThroughTheDecoderExactly()
    {
        var original = new short[65536];
        for (var i = 0; i < original.Length; i++)
        {
            original[i] = (short)(i - 32768);
        }

        var bytes = new byte[original.Length * 2];
        Buffer.BlockCopy(original, 0, bytes, 0, bytes.Length);
        var samples = new float[original.Length];
        RawAudioDecoder.Decode(bytes, AudioEncoding.Linear16, 1, samples);

        var encoded = new byte[bytes.Length];
        Assert.Equal(bytes.Length, RawAudioEncoder.EncodeLinear16(samples, encoded));
        Assert.Equal(bytes, encoded);
    }

    [Fact]
    public void EncodeLinear16_OutOfRangeSamples_Clamp()
    {
        var encoded = new byte[4];
        RawAudioEncoder.EncodeLinear16([2f, -2f], encoded);

        Assert.Equal(short.MaxValue, BitConverter.ToInt16(encoded, 0));
        Assert.Equal(short.MinValue, BitConverter.ToInt16(encoded, 2));
    }
}
