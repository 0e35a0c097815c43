using System.Buffers.Binary;
using AsrService.Core.Audio;
using AsrService.Fuzz.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>
/// The raw PCM decoders on hostile samples in every encoding: whole frames decode to finite values in [-1, 1]
/// that match a plain reference decoder (integers scaled by full range, floats clamped, NaN and infinities as 0,
/// channels averaged); anything but whole frames throws <see cref="AudioFormatException"/>. The streaming decoder
/// must give the same samples however a client cuts its stream, and the length the rate ratio promises.
/// </summary>
public sealed class PcmDecoderFuzzTests(ITestOutputHelper output)
{
    /// <summary>The rates a stream may declare; 16 kHz (no resampling) and 8 kHz, the common ones, come up most.</summary>
    private static readonly int[] s_streamRates = [16_000, 16_000, 16_000, 8_000, 8_000, 48_000, 32_000, 24_000];

    [Fact]
    public void Decode_HostileSamples_MatchReferenceFiniteWithinFullScale()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0401,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                AudioEncoding encoding = HostileAudio.Encodings[fuzzCase.Index % HostileAudio.Encodings.Length];
                int channels = random.Next(8) == 0 ? 1 + random.Next(64) : 1 + random.Next(8);
                int frames = random.Next(4) == 0 ? random.Next(2000) / channels : random.Next(64);
                byte[] input = HostileAudio.Samples(random, encoding, channels, frames, out string pattern);
                int frameBytes = channels * RawAudioDecoder.GetBytesPerSample(encoding);
                int extra = frameBytes > 1 && random.Next(5) == 0 ? random.Next(1, frameBytes) : 0;
                if (extra > 0)
                {
                    Array.Resize(ref input, input.Length + extra);
                }

                fuzzCase.Description = $"{encoding}, {channels} ch, {frames} frames of {pattern} samples{(extra > 0 ? $" and {extra} bytes more" : string.Empty)}";
                fuzzCase.Input = input;

                // Room to spare, filled with a marker, so that a write past the frames shows.
                var samples = new float[frames + 8];
                samples.AsSpan().Fill(float.NaN);
                fuzzCase.BeginSubject();
                int decoded;
                try
                {
                    decoded = RawAudioDecoder.Decode(input, encoding, channels, samples);
                }
                catch (AudioFormatException)
                {
                    if (extra == 0)
                    {
                        throw;
                    }

                    fuzzCase.Outcome = "partial frame";
                    return;
                }

                if (extra > 0)
                {
                    throw new FuzzPropertyException($"decoded {decoded} frames from a chunk that ends {extra} bytes into a frame");
                }

                Assert.Equal(frames, decoded);
                AudioChecks.RequireInRange(samples.AsSpan(0, decoded));
                for (int i = decoded; i < samples.Length; i++)
                {
                    if (!float.IsNaN(samples[i]))
                    {
                        throw new FuzzPropertyException($"the decoder wrote sample {i}, past the {decoded} frames it returned");
                    }
                }

                RequireMatchesReference(input, encoding, channels, samples.AsSpan(0, decoded));
                fuzzCase.Outcome = "decoded";
            },
            fuzzCase => 64 * 1024);

        output.WriteLine(report.ToString());
    }

    [Fact]
    public void PcmStreamDecoder_RandomChunksAndRates_SameSamplesAsOneChunk()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0402,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                AudioEncoding encoding = HostileAudio.Encodings[fuzzCase.Index % HostileAudio.Encodings.Length];
                int channels = 1 + random.Next(random.Next(4) == 0 ? 32 : 2);
                int rate = random.Next(500) == 0 ? WavFiles.CostlyRates[random.Next(WavFiles.CostlyRates.Length)] : s_streamRates[random.Next(s_streamRates.Length)];
                int frames = random.Next(8) == 0 ? random.Next(4000) / channels : random.Next(300);
                byte[] audio = HostileAudio.Samples(random, encoding, channels, frames, out string pattern);
                int frameBytes = channels * RawAudioDecoder.GetBytesPerSample(encoding);
                List<(int Start, int Length, bool Bad)> chunks = Chunks(random, audio.Length, frameBytes);
                fuzzCase.Description = $"{encoding}, {channels} ch, {rate} Hz, {frames} frames of {pattern} samples in {chunks.Count} chunks";
                fuzzCase.Input = audio;

                fuzzCase.BeginSubject();
                var decoder = new PcmStreamDecoder(encoding, rate, channels);
                var streamed = new List<float>();
                int rejected = 0;
                foreach (var (start, length, bad) in chunks)
                {
                    ReadOnlySpan<float> samples;
                    try
                    {
                        samples = decoder.Decode(audio.AsSpan(start, length)).Span;
                    }
                    catch (AudioFormatException)
                    {
                        if (!bad)
                        {
                            throw;
                        }

                        rejected++;
                        continue;
                    }

                    if (bad)
                    {
                        throw new FuzzPropertyException($"a chunk of {length} bytes, not whole {frameBytes}-byte frames, was decoded");
                    }

                    AudioChecks.RequireInRange(samples, streamed.Count);
                    streamed.AddRange(samples);
                }

                ReadOnlySpan<float> tail = decoder.Flush().Span;
                AudioChecks.RequireInRange(tail, streamed.Count);
                streamed.AddRange(tail);

                long expectedLength = ((long)frames * AudioFile.DefaultSampleRate + rate - 1) / rate;
                if (streamed.Count != expectedLength)
                {
                    throw new FuzzPropertyException($"{frames} frames at {rate} Hz gave {streamed.Count} samples at 16 kHz, not {expectedLength}");
                }

                // In every fourth case (a resampler costs a fraction of a millisecond to build in a Debug build), the
                // whole stream in one chunk through a fresh decoder must give the same samples.
                if (fuzzCase.Index % 4 == 0)
                {
                    var whole = new PcmStreamDecoder(encoding, rate, channels);
                    var expected = new List<float>(whole.Decode(audio).ToArray());
                    expected.AddRange(whole.Flush().Span);
                    for (int i = 0; i < expected.Count; i++)
                    {
                        if (Math.Abs(expected[i] - streamed[i]) > 1e-5f)
                        {
                            throw new FuzzPropertyException($"sample {i} is {streamed[i]} chunked but {expected[i]} in one chunk");
                        }
                    }
                }

                fuzzCase.Outcome = rejected > 0 ? "decoded, partial chunks rejected" : "decoded";
            },
            fuzzCase => 8 * 1024 * 1024);

        output.WriteLine(report.ToString());
    }

    /// <summary>
    /// Cuts <paramref name="length"/> bytes into chunks of whole frames (empty ones too) and, between them, now and
    /// then a chunk that is not whole frames, which the decoder must reject without losing its place.
    /// </summary>
    private static List<(int Start, int Length, bool Bad)> Chunks(Random random, int length, int frameBytes)
    {
        var chunks = new List<(int, int, bool)>();
        int position = 0;
        while (position < length || chunks.Count == 0)
        {
            int framesLeft = (length - position) / frameBytes;
            int take = random.Next(3) switch
            {
                0 => random.Next(Math.Min(framesLeft, 4) + 1),
                1 => random.Next(framesLeft + 1),
                _ => framesLeft,
            };
            chunks.Add((position, take * frameBytes, false));
            position += take * frameBytes;
            if (frameBytes > 1 && random.Next(8) == 0)
            {
                int partialLength = random.Next(1, frameBytes) + frameBytes * random.Next(3);
                if (position + partialLength <= length)
                {
                    chunks.Add((position, partialLength, true));
                }
            }
        }

        return chunks;
    }

    /// <summary>Each channel decoded the plain way, then averaged; compared with a tolerance for float rounding.</summary>
    private static void RequireMatchesReference(byte[] input, AudioEncoding encoding, int channels, ReadOnlySpan<float> decoded)
    {
        int size = RawAudioDecoder.GetBytesPerSample(encoding);
        for (int frame = 0; frame < decoded.Length; frame++)
        {
            double sum = 0;
            for (int channel = 0; channel < channels; channel++)
            {
                sum += Reference(input.AsSpan((frame * channels + channel) * size, size), encoding);
            }

            double expected = sum / channels;
            if (Math.Abs(decoded[frame] - expected) > 1e-5)
            {
                throw new FuzzPropertyException($"frame {frame} decoded as {decoded[frame]:R}; the reference gives {expected:R}");
            }
        }
    }

    private static double Reference(ReadOnlySpan<byte> sample, AudioEncoding encoding) => encoding switch
    {
        AudioEncoding.UnsignedPcm8 => (sample[0] - 128) / 128.0,
        AudioEncoding.Linear16 => BinaryPrimitives.ReadInt16LittleEndian(sample) / 32768.0,
        AudioEncoding.Linear24 => ((sample[0] << 8 | sample[1] << 16 | sample[2] << 24) >> 8) / 8388608.0,
        AudioEncoding.Linear32 => BinaryPrimitives.ReadInt32LittleEndian(sample) / 2147483648.0,
        AudioEncoding.Float32 => Sanitized(BinaryPrimitives.ReadSingleLittleEndian(sample)),
        AudioEncoding.Float64 => Sanitized(BinaryPrimitives.ReadDoubleLittleEndian(sample)),
        AudioEncoding.MuLaw => MuLaw(sample[0]) / 32768.0,
        _ => ALaw(sample[0]) / 32768.0,
    };

    private static double Sanitized(double value) => double.IsFinite(value) ? Math.Clamp(value, -1.0, 1.0) : 0.0;

    /// <summary>ITU-T G.711 mu-law expansion, written from the standard's description, not from the product code.</summary>
    private static int MuLaw(byte code)
    {
        int inverted = ~code & 0xFF;
        int segment = (inverted >> 4) & 7;
        int step = inverted & 0x0F;
        int magnitude = ((2 * step + 33) << segment) * 4 - 132;
        return (inverted & 0x80) != 0 ? -magnitude : magnitude;
    }

    /// <summary>ITU-T G.711 A-law expansion (even bits inverted; a set sign bit is positive).</summary>
    private static int ALaw(byte code)
    {
        int value = code ^ 0x55;
        int segment = (value >> 4) & 7;
        int step = value & 0x0F;
        int magnitude = segment == 0 ? (2 * step + 1) * 8 : (2 * step + 33) * 8 << (segment - 1);
        return (value & 0x80) != 0 ? magnitude : -magnitude;
    }
}
