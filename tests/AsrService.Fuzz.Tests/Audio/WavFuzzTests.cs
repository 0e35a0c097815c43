using System.Buffers.Binary;
using System.Text;
using AsrService.Core.Audio;
using AsrService.Fuzz.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>
/// The WAV reader on hostile files, from a seekable stream and from a pipe that hands out bytes a few at a time:
/// it decodes or throws <see cref="AudioFormatException"/>, never anything else; every sample is finite and in
/// [-1, 1]; it never returns more frames than the bytes hold; and its memory does not follow what a header claims.
/// Unchanged generated files are checked against the frame count they were built with.
/// </summary>
public sealed class WavFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Read_RandomBytes_DecodesOrThrowsAudioFormatException()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0301,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                bool riff = random.Next(4) != 0;
                byte[] input = riff ? RandomRiff(random) : Mutator.RandomBytes(random, 2048);
                fuzzCase.Description = riff ? "RIFF/WAVE header and random chunks" : "random bytes";
                fuzzCase.Input = input;
                fuzzCase.BeginSubject();
                fuzzCase.Outcome = ReadSeekableAndPiped(random, input, out _, out _);
            },
            ReadBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.001, "decoded", "seekable:decoded pipe:decoded", "seekable:decoded pipe:rejected");
    }

    [Fact]
    public void Read_MutatedValidWav_DecodesOrThrowsAudioFormatException()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0302,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                byte[] valid = WavFiles.Build(random, out WavInfo info);
                var log = new StringBuilder();
                bool mutate = random.Next(5) != 0;
                byte[] input = mutate ? Mutator.Mutate(random, valid, log, WavFiles.Tokens) : valid;
                fuzzCase.Description = $"{info.Description}; {(mutate ? "mutated: " + log : "unchanged")}";
                fuzzCase.Input = input;
                fuzzCase.BeginSubject();
                fuzzCase.Outcome = ReadSeekableAndPiped(random, input, out float[]? seekable, out float[]? piped);
                if (!mutate)
                {
                    RequireDecodedAsBuilt(info, seekable, piped);
                }
            },
            ReadBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.2, "decoded", "seekable:decoded pipe:decoded");
    }

    [Fact]
    public void Open_MutatedValidWav_DecodesTo16kOrThrowsAudioFormatException()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0303,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;

                int[] rates = random.Next(200) == 0 ? WavFiles.CostlyRates : WavFiles.CheapRates;
                byte[] valid = WavFiles.Build(random, out WavInfo info, rates);
                var log = new StringBuilder();
                bool mutate = random.Next(5) != 0;
                byte[] input = mutate ? Mutator.Mutate(random, valid, log, WavFiles.Tokens) : valid;
                bool seekable = random.Next(2) == 0;
                fuzzCase.Description = $"{info.Description}; {(mutate ? "mutated: " + log : "unchanged")}; {(seekable ? "seekable" : "pipe")}";
                fuzzCase.Input = input;
                int dripSeed = random.Next();
                fuzzCase.BeginSubject();
                float[]? samples = null;
                try
                {
                    Stream stream = seekable ? new MemoryStream(input, writable: false) : new DripStream(input, dripSeed);
                    using IAudioSource source = AudioFile.Open(stream, AudioFile.DefaultSampleRate, leaveOpen: false, SimpleWav.MissingFfmpeg);
                    Assert.Equal(AudioFile.DefaultSampleRate, source.SampleRate);

                    // At least 1 kHz in, so at most 16 samples out per input byte, plus the resampler's tail.
                    samples = AudioChecks.ReadAll(source, random, 16L * input.Length + 16);
                    fuzzCase.Outcome = "decoded";
                }
                catch (AudioFormatException exception)
                {
                    // Not a WAV any more (the magic was hit): routed to ffmpeg, which is missing here.
                    fuzzCase.Outcome = exception.Message.Contains("needs ffmpeg", StringComparison.Ordinal) ? "not-wav" : "rejected";
                }

                if (!mutate && (seekable || !info.DataBeforeFormat) && info.ExpectedFrames is int frames)
                {
                    Assert.NotNull(samples);
                    long expected = info.SampleRate == AudioFile.DefaultSampleRate
                        ? frames
                        : ((long)frames * AudioFile.DefaultSampleRate + info.SampleRate - 1) / info.SampleRate;
                    Assert.Equal(expected, samples.Length);
                }
            },
            OpenBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.2, "decoded", "decoded");
    }

    /// <summary>
    /// A header that claims a 4 GiB data chunk over a few bytes of audio: the reader works in blocks of 16 KiB and
    /// must not size anything by the claim, from a file (which caps it at the length) or from a pipe (which cannot).
    /// </summary>
    [Theory]
    [InlineData(true, 0xFFFFFFFEu)]
    [InlineData(false, 0xFFFFFFFEu)]
    [InlineData(true, 0x7FFFFFFFu)]
    [InlineData(false, 0x7FFFFFFFu)]
    public void Read_DataChunkClaims4GiB_AllocatesOnlyItsBlock(bool seekable, uint declaredDataBytes)
    {
        byte[] file = SimpleWav.Pcm(declaredDataBytes, frames: 1000);
        Stream stream = seekable ? new MemoryStream(file, writable: false) : new DripStream(file, 1);
        var buffer = new float[4096];

        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        using (var source = new WavAudioSource(stream))
        {
            int read;
            while ((read = source.Read(buffer)) > 0)
            {
                total += read;
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(1000, total);
        Assert.True(allocated < 256 * 1024, $"allocated {allocated} bytes for 2000 bytes of audio");
    }

    private static long ReadBudget(FuzzCase fuzzCase) => 512 * 1024 + 64L * (fuzzCase.Input?.Length ?? 0);

    /// <summary>
    /// Reading plus the resampler's coefficient table, which depends on the rate alone: at most about 11 MiB, for a
    /// rate such as 767,999 Hz that shares no factor with 16 kHz (a mutated rate field finds such rates).
    /// </summary>
    private static long OpenBudget(FuzzCase fuzzCase) => 16 * 1024 * 1024 + 256L * (fuzzCase.Input?.Length ?? 0);

    /// <summary>
    /// Reads the input from a seekable stream and from a pipe. Both must decode to the same samples, except that a data
    /// chunk before fmt can only be read from the seekable stream.
    /// </summary>
    private static string ReadSeekableAndPiped(Random random, byte[] input, out float[]? seekable, out float[]? piped)
    {
        seekable = TryRead(new MemoryStream(input, writable: false), random, input.Length);
        piped = TryRead(new DripStream(input, random.Next()), random, input.Length);
        if (seekable is not null && piped is not null)
        {
            if (!seekable.AsSpan().SequenceEqual(piped))
            {
                throw new FuzzPropertyException(
                    $"a seekable stream decoded {seekable.Length} samples and a pipe {piped.Length}, or different values");
            }
        }
        else if (seekable is null && piped is not null)
        {
            throw new FuzzPropertyException("a pipe decoded what a seekable stream rejected");
        }

        return $"seekable:{(seekable is null ? "rejected" : "decoded")} pipe:{(piped is null ? "rejected" : "decoded")}";
    }

    private static float[]? TryRead(Stream stream, Random random, int inputBytes)
    {
        try
        {
            using var source = new WavAudioSource(stream);
            if (source.Format.Channels < 1 || source.Format.BlockAlign < 1 || !AudioLimits.IsValidSampleRate(source.SampleRate))
            {
                throw new FuzzPropertyException($"accepted a header it cannot decode: {source.Format}");
            }

            // One sample per frame, and a frame is at least one byte.
            return AudioChecks.ReadAll(source, random, inputBytes);
        }
        catch (AudioFormatException)
        {
            return null;
        }
    }

    private static void RequireDecodedAsBuilt(WavInfo info, float[]? seekable, float[]? piped)
    {
        if (seekable is null)
        {
            throw new FuzzPropertyException("a valid file was rejected from a seekable stream");
        }

        if (info.DataBeforeFormat != (piped is null))
        {
            throw new FuzzPropertyException(piped is null
                ? "a valid file with fmt before data was rejected from a pipe"
                : "a pipe read a data chunk that comes before fmt");
        }

        if (info.ExpectedFrames is int frames && seekable.Length != frames)
        {
            throw new FuzzPropertyException($"decoded {seekable.Length} frames; the file holds {frames}");
        }
    }

    /// <summary>RIFF, WAVE, then chunks with ids the reader knows or not, sizes from tiny to 4 GiB, random bodies.</summary>
    private static byte[] RandomRiff(Random random)
    {
        using var stream = new MemoryStream();
        stream.Write("RIFF"u8);
        stream.Write(BitConverter.GetBytes(random.Next()));
        stream.Write("WAVE"u8);
        int chunks = random.Next(5);
        Span<byte> size = stackalloc byte[4];
        for (int i = 0; i < chunks; i++)
        {
            ReadOnlySpan<byte> id = random.Next(4) switch
            {
                0 => "fmt "u8,
                1 => "data"u8,
                2 => "LIST"u8,
                _ => BitConverter.GetBytes(random.Next()),
            };
            byte[] body = Mutator.RandomBytes(random, 512);
            if (id.SequenceEqual("fmt "u8) && body.Length >= 16 && random.Next(2) == 0)
            {
                // Plausible enough to get past the first checks: a known tag, a rate in range, matching block align.
                BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(random.Next(2) == 0 ? 1 : 3));
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), 1);
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), 16_000);
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(12), 4);
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(14), 32);
            }

            uint declared = random.Next(4) == 0 ? (uint)Mutator.InterestingInteger(random) : (uint)body.Length;
            stream.Write(id);
            BinaryPrimitives.WriteUInt32LittleEndian(size, declared);
            stream.Write(size);
            stream.Write(body);
        }

        return stream.ToArray();
    }
}
