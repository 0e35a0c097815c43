using AsrService.Core.Audio;

namespace AsrService.Core.Tests.Audio;

public sealed class PcmStreamDecoderTests
{
    [Fact]
    public void DecodeAll_ResampledRecording_IsTheChunkFollowedByTheEndOfStream()
    {
        // 8 kHz audio resampled to 16 kHz: the end of the stream returns the resampler's held-back samples in the
        // same buffer that held the chunk's, which must not overwrite the start of the recording.
        float[] tone = Signals.Sine(440, 8_000, 0.5);
        var bytes = new byte[tone.Length * 2];
        RawAudioEncoder.EncodeLinear16(tone, bytes);

        var streaming = new PcmStreamDecoder(AudioEncoding.Linear16, 8_000, 1);
        float[] chunk = streaming.Decode(bytes).ToArray();
        float[] end = streaming.Flush().ToArray();
        float[] whole = new PcmStreamDecoder(AudioEncoding.Linear16, 8_000, 1).DecodeAll(bytes);

        Assert.NotEmpty(end);
        Assert.Equal([.. chunk, .. end], whole);
    }

    [Fact]
    public void Decode_ReusesItsBuffer_SamplesAreValidUntilTheNextCall()
    {
        var decoder = new PcmStreamDecoder(AudioEncoding.Linear16, 16_000, 1);
        var first = decoder.Decode(new byte[] { 0x00, 0x40, 0x00, 0x40 });
        Assert.Equal([0.5f, 0.5f], first.ToArray());

        var second = decoder.Decode(new byte[] { 0x00, 0xC0, 0x00, 0xC0 });

        Assert.Equal([-0.5f, -0.5f], second.ToArray());
        Assert.True(first.Span.Overlaps(second.Span), "a decoder allocates a new buffer for every chunk");
    }
}
