using System.Buffers.Binary;
using System.Text;
using AsrService.Core.Audio;

namespace AsrService.Fuzz.Tests.Audio;

/// <summary>What <see cref="WavFiles.Build"/> made, and how many frames a correct reader must return from it.</summary>
/// <param name="ExpectedFrames">
/// Frames a reader returns when the file is read unchanged; null where the layout leaves it to the reader's policy
/// (a streamed length followed by other chunks, which are then read as audio).
/// </param>
/// <param name="DataBeforeFormat">The data chunk precedes fmt, which only a seekable stream can read.</param>
internal sealed record WavInfo(
    AudioEncoding Encoding,
    int Channels,
    int SampleRate,
    int Frames,
    int? ExpectedFrames,
    bool DataBeforeFormat,
    string Description);

/// <summary>
/// Valid WAV files in every layout the reader accepts: all eight encodings, plain and WAVE_FORMAT_EXTENSIBLE fmt
/// chunks with and without extra bytes, unknown chunks of odd sizes around fmt and data, data before fmt, streamed
/// (0 and 0xFFFFFFFF), overstated and understated data sizes, a partial last frame, and hostile sample values.
/// </summary>
internal static class WavFiles
{
    /// <summary>Rates whose resampler to 16 kHz costs well under a millisecond to build and run (16 kHz: none at all).</summary>
    public static readonly int[] CheapRates = [16_000, 16_000, 8_000, 48_000, 32_000, 24_000, 96_000];

    /// <summary>
    /// Rates whose resampler costs milliseconds (the longest filters, and 1 kHz, which makes 16 outputs per input) or
    /// tens of milliseconds (the 44.1 kHz family and rates sharing few factors with 16 kHz, whose coefficient tables
    /// are large) in a Debug build: used now and then.
    /// </summary>
    public static readonly int[] CostlyRates = [1_000, 192_000, 768_000, 44_100, 22_050, 11_025, 7_919, 47_999];

    /// <summary>Chunk ids and sizes a WAV parser treats specially, for <see cref="Infrastructure.Mutator"/>.</summary>
    public static IReadOnlyList<byte[]> Tokens { get; } =
    [
        "RIFF"u8.ToArray(), "WAVE"u8.ToArray(), "fmt "u8.ToArray(), "data"u8.ToArray(), "LIST"u8.ToArray(),
        [.. "data"u8, 0xFF, 0xFF, 0xFF, 0xFF],
        [.. "data"u8, 0x00, 0x00, 0x00, 0x00],
        [.. "data"u8, 0xFE, 0xFF, 0xFF, 0xFF],
        [.. "fmt "u8, 0xFF, 0xFF, 0xFF, 0xFF],
        [.. "fmt "u8, 0x10, 0x00, 0x00, 0x00],
        [.. "JUNK"u8, 0xFF, 0xFF, 0xFF, 0x7F],
        [0xFE, 0xFF], [0x01, 0x00], [0x03, 0x00], [0x06, 0x00], [0x07, 0x00], // format tags
        [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71], // sub-format GUID tail
    ];

    private static readonly string[] s_extraChunkIds = ["LIST", "fact", "JUNK", "bext", "id3 ", "PEAK", "cue ", "\0\0\0\0"];

    public static byte[] Build(Random random, out WavInfo info, int[]? rates = null)
    {
        AudioEncoding encoding = HostileAudio.Encodings[random.Next(HostileAudio.Encodings.Length)];
        int channels = random.Next(6) == 0 ? 1 + random.Next(64) : 1 + random.Next(2);
        rates ??= CheapRates;
        int sampleRate = rates[random.Next(rates.Length)];
        // Many channels get fewer frames, so that no file is larger than a few tens of kilobytes.
        int frames = (random.Next(4) == 0 ? random.Next(4000) : random.Next(300)) / channels;
        int bytesPerSample = RawAudioDecoder.GetBytesPerSample(encoding);
        int blockAlign = channels * bytesPerSample;
        var description = new StringBuilder($"{encoding} {channels} ch {sampleRate} Hz {frames} frames");

        byte[] samples = HostileAudio.Samples(random, encoding, channels, frames, out string pattern);
        description.Append($", {pattern} samples");
        int partial = blockAlign > 1 && random.Next(8) == 0 ? random.Next(1, blockAlign) : 0;
        if (partial > 0)
        {
            Array.Resize(ref samples, samples.Length + partial);
            random.NextBytes(samples.AsSpan(samples.Length - partial));
            description.Append($", {partial} bytes of a partial frame");
        }

        byte[] fmt = FormatChunk(random, encoding, channels, sampleRate, description);
        // An empty data chunk before fmt reads as a streamed size there, which the reader cannot skip: not generated.
        bool dataFirst = samples.Length > 0 && random.Next(10) == 0;
        bool chunksAfterData = !dataFirst && random.Next(4) == 0;

        // How the data chunk states its size, and how many frames that leaves readable. A reader that reads to the end
        // of the stream also reads the pad byte after an odd-sized chunk, which may complete a partial frame.
        int? expected = frames;
        int framesToEnd = (samples.Length + (samples.Length & 1)) / blockAlign;
        uint declared = (uint)samples.Length;
        bool truncate = false;
        switch (dataFirst ? 0 : random.Next(8))
        {
            case 1:
                declared = random.Next(2) == 0 ? 0u : uint.MaxValue;
                description.Append($", streamed data size 0x{declared:X}");
                expected = chunksAfterData ? null : framesToEnd;
                break;
            case 2:
                declared = (uint)samples.Length + (uint)random.Next(1, 1 << 20);
                description.Append($", data size overstated as {declared}");
                expected = chunksAfterData ? null : framesToEnd;
                break;
            case 3:
                // 0 would mean a streamed size; read to the end.
                declared = (uint)random.Next(samples.Length + 1);
                description.Append($", data size understated as {declared}");
                expected = declared > 0 ? (int)(declared / blockAlign) : chunksAfterData ? null : framesToEnd;
                break;
            case 4:
                // The file ends inside the data chunk it declares in full.
                truncate = true;
                chunksAfterData = false;
                description.Append(", cut inside the data chunk");
                break;
        }

        if (declared == 0 && !dataFirst)
        {
            // An empty data chunk declares size 0, which readers take as a streamed length: they read to the end.
            expected = chunksAfterData ? null : framesToEnd;
        }

        using var body = new MemoryStream();
        body.Write("WAVE"u8);
        WriteExtraChunks(random, body, description, "before fmt");
        if (dataFirst)
        {
            WriteChunk(body, "data", samples, declared);
            WriteExtraChunks(random, body, description, "between data and fmt");
            body.Write(fmt);
            description.Append(", data before fmt");
        }
        else
        {
            body.Write(fmt);
            WriteExtraChunks(random, body, description, "between fmt and data");
            WriteChunk(body, "data", samples, declared);
            if (chunksAfterData)
            {
                WriteExtraChunks(random, body, description, "after data", atLeastOne: true);
            }
        }

        byte[] file = new byte[8 + body.Length];
        "RIFF"u8.CopyTo(file);
        uint riffSize = random.Next(8) == 0 ? (uint)random.NextInt64(uint.MaxValue + 1L) : (uint)body.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), riffSize);
        body.GetBuffer().AsSpan(0, (int)body.Length).CopyTo(file.AsSpan(8));

        if (truncate)
        {
            int dataEnd = file.Length - (samples.Length & 1);
            int keep = random.Next(samples.Length + 1);
            file = file[..(dataEnd - samples.Length + keep)];
            expected = keep / blockAlign;
        }

        info = new WavInfo(encoding, channels, sampleRate, frames, expected, dataFirst, description.ToString());
        return file;
    }

    private static byte[] FormatChunk(Random random, AudioEncoding encoding, int channels, int sampleRate, StringBuilder description)
    {
        int bytesPerSample = RawAudioDecoder.GetBytesPerSample(encoding);
        int tag = encoding switch
        {
            AudioEncoding.Float32 or AudioEncoding.Float64 => 3,
            AudioEncoding.ALaw => 6,
            AudioEncoding.MuLaw => 7,
            _ => 1,
        };
        bool extensible = random.Next(4) == 0;
        int size = extensible ? 40 : random.Next(3) switch { 0 => 16, 1 => 18, _ => 18 + random.Next(1, 24) };
        if (extensible && random.Next(4) == 0)
        {
            size += random.Next(1, 24);
        }

        var body = new byte[size];
        random.NextBytes(body.AsSpan(16));
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(extensible ? 0xFFFE : tag));
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), (ushort)channels);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), (uint)sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), (uint)(sampleRate * channels * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(12), (ushort)(channels * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(14), (ushort)(bytesPerSample * 8));
        if (size >= 18)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(16), (ushort)(size - 18));
        }

        if (extensible)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(16), 22);
            BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(18), (ushort)(bytesPerSample * 8));
            BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(24), (ushort)tag);
            ReadOnlySpan<byte> guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
            guidTail.CopyTo(body.AsSpan(26));
        }

        description.Append($", fmt of {size} bytes{(extensible ? " (extensible)" : string.Empty)}");
        using var chunk = new MemoryStream();
        WriteChunk(chunk, "fmt ", body, (uint)size);
        return chunk.ToArray();
    }

    private static void WriteExtraChunks(Random random, MemoryStream stream, StringBuilder description, string where, bool atLeastOne = false)
    {
        int count = random.Next(4) == 0 || atLeastOne ? 1 + random.Next(3) : 0;
        for (int i = 0; i < count; i++)
        {
            string id = s_extraChunkIds[random.Next(s_extraChunkIds.Length)];
            var body = new byte[random.Next(2) == 0 ? random.Next(8) : random.Next(300)];
            random.NextBytes(body);
            WriteChunk(stream, id, body, (uint)body.Length);
            description.Append($", {body.Length}-byte '{id.Replace("\0", "\\0", StringComparison.Ordinal)}' chunk {where}");
        }
    }

    /// <summary>A chunk header, the body and, after an odd-sized body, the pad byte.</summary>
    private static void WriteChunk(MemoryStream stream, string id, byte[] body, uint declaredSize)
    {
        stream.Write(Encoding.ASCII.GetBytes(id));
        Span<byte> size = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, declaredSize);
        stream.Write(size);
        stream.Write(body);
        if (body.Length % 2 == 1)
        {
            stream.WriteByte(0);
        }
    }
}
