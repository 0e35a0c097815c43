using System.Buffers.Binary;

namespace AsrService.Core.Audio;

/// <summary>
/// Streams mono float samples out of a RIFF/WAVE stream at the file's own sample rate, reading the data chunk a
/// block at a time so a long file or a pipe never has to fit in memory.
/// <para>
/// The header is parsed in the constructor: chunks may come in any order and unknown ones are skipped (with the pad
/// byte that follows an odd-sized chunk). A data chunk before the fmt chunk can only be read from a seekable stream.
/// A data size of 0 or 0xFFFFFFFF is what writers that stream to a pipe (ffmpeg, sox) leave behind, so it means "read
/// to the end of the stream". A data chunk cut short is read as far as it goes, dropping a partial last frame; a file
/// cut inside the header is an error, since there would be nothing trustworthy to decode.
/// </para>
/// </summary>
public sealed class WavAudioSource : IAudioSource
{
    private const int FormatTagPcm = 0x0001;
    private const int FormatTagFloat = 0x0003;
    private const int FormatTagALaw = 0x0006;
    private const int FormatTagMuLaw = 0x0007;
    private const int FormatTagExtensible = 0xFFFE;

    // The fmt fields we use end at byte 40 (WAVE_FORMAT_EXTENSIBLE); a longer chunk only carries extras.
    private const int MaxFormatBytesUsed = 40;
    private const int TargetBlockBytes = 16 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _block;
    private long? _remainingBytes;
    private int _carryBytes;
    private bool _ended;

    /// <summary>
    /// Parses the header of <paramref name="stream"/>, leaving it at the first audio byte. Unless
    /// <paramref name="leaveOpen"/>, the stream belongs to this source from now on, even if the header is rejected.
    /// </summary>
    /// <exception cref="AudioFormatException">The stream is not a WAV file we can decode.</exception>
    public WavAudioSource(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _leaveOpen = leaveOpen;
        try
        {
            Format = ReadHeader();
        }
        catch
        {
            // The caller never gets an object to dispose, so the stream it handed over is closed here.
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }

        _remainingBytes = Format.DataLength;

        int blockAlign = Format.BlockAlign;
        _block = new byte[Math.Max(blockAlign, TargetBlockBytes / blockAlign * blockAlign)];
    }

    /// <summary>The format the header declares.</summary>
    public WavFormat Format { get; }

    /// <inheritdoc />
    public int SampleRate => Format.SampleRate;

    /// <inheritdoc />
    public int Read(Span<float> buffer)
    {
        int blockAlign = Format.BlockAlign;
        int produced = 0;
        while (produced < buffer.Length && !_ended)
        {
            long wanted = Math.Min((long)(buffer.Length - produced) * blockAlign, _block.Length) - _carryBytes;
            if (_remainingBytes is long remaining)
            {
                wanted = Math.Min(wanted, remaining);
            }

            int read = _stream.Read(_block, _carryBytes, (int)wanted);
            if (read == 0)
            {
                // End of stream: a data chunk cut short keeps what it has; a partial frame cannot be decoded.
                _ended = true;
                break;
            }

            if (_remainingBytes is not null)
            {
                _remainingBytes -= read;
                _ended = _remainingBytes == 0;
            }

            int available = _carryBytes + read;
            int frameBytes = available / blockAlign * blockAlign;
            produced += RawAudioDecoder.Decode(
                _block.AsSpan(0, frameBytes), Format.Encoding, Format.Channels, buffer[produced..]);
            _carryBytes = available - frameBytes;
            _block.AsSpan(frameBytes, _carryBytes).CopyTo(_block);

            // A short read means a pipe has nothing more right now: hand over what we have rather than block.
            if (read < wanted && produced > 0)
            {
                break;
            }
        }

        return produced;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    private WavFormat ReadHeader()
    {
        Span<byte> riff = stackalloc byte[12];
        int got = ReadUpTo(riff);
        if (got < 4 || !riff[..4].SequenceEqual("RIFF"u8))
        {
            throw new AudioFormatException("not a WAV file: it does not start with a RIFF header");
        }

        if (got < riff.Length)
        {
            throw new AudioFormatException($"truncated WAV header: the file ends after {got} bytes");
        }

        if (!riff[8..12].SequenceEqual("WAVE"u8))
        {
            throw new AudioFormatException(
                $"not a WAV file: RIFF type is '{Printable(riff[8..12])}' instead of 'WAVE'");
        }

        WavFormat? format = null;
        long? earlyDataOffset = null;
        uint earlyDataSize = 0;
        Span<byte> chunkHeader = stackalloc byte[8];
        while (true)
        {
            got = ReadUpTo(chunkHeader);
            if (got == 0)
            {
                throw new AudioFormatException(format is null
                    ? "invalid WAV file: no fmt chunk"
                    : "invalid WAV file: no data chunk");
            }

            if (got < chunkHeader.Length)
            {
                throw new AudioFormatException("truncated WAV header: the file ends inside a chunk header");
            }

            ReadOnlySpan<byte> id = chunkHeader[..4];
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(chunkHeader[4..]);
            if (id.SequenceEqual("fmt "u8) && format is null)
            {
                format = ReadFormatChunk(size);
                if (earlyDataOffset is long offset)
                {
                    _stream.Position = offset;
                    return format with { DataLength = KnownDataLength(earlyDataSize) };
                }
            }
            else if (id.SequenceEqual("data"u8))
            {
                if (format is not null)
                {
                    return format with { DataLength = KnownDataLength(size) };
                }

                // Some writers put fmt last. Without seeking we would have to hold the whole data chunk in memory.
                if (!_stream.CanSeek || IsStreamedSize(size))
                {
                    throw new AudioFormatException(
                        "unsupported WAV layout: the data chunk comes before the fmt chunk in a stream that " +
                        "cannot seek; rewrite the file (e.g. ffmpeg -i in.wav out.wav)");
                }

                earlyDataOffset = _stream.Position;
                earlyDataSize = size;
                Skip(size + (size & 1), "data");
            }
            else
            {
                Skip(size + (size & 1), Printable(id));
            }
        }
    }

    private WavFormat ReadFormatChunk(uint size)
    {
        if (size < 16)
        {
            throw new AudioFormatException($"invalid WAV file: the fmt chunk is {size} bytes, shorter than 16");
        }

        Span<byte> fmt = stackalloc byte[MaxFormatBytesUsed];
        int used = (int)Math.Min(size, (uint)MaxFormatBytesUsed);
        if (ReadUpTo(fmt[..used]) < used)
        {
            throw new AudioFormatException("truncated WAV header: the file ends inside the fmt chunk");
        }

        Skip(size - (uint)used + (size & 1), "fmt ", padOptional: true);

        int formatTag = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
        uint sampleRate = BinaryPrimitives.ReadUInt32LittleEndian(fmt[4..]);
        int blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(fmt[12..]);
        int bitsPerSample = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);

        if (formatTag == FormatTagExtensible)
        {
            formatTag = ReadExtensibleSubFormat(fmt[..used]);
        }

        if (channels == 0)
        {
            throw new AudioFormatException("invalid WAV file: the header says it has 0 channels");
        }

        if (!AudioLimits.IsValidSampleRate(sampleRate))
        {
            throw new AudioFormatException(
                $"invalid WAV file: sample rate {sampleRate} Hz is outside " +
                $"{AudioLimits.MinSampleRate}..{AudioLimits.MaxSampleRate} Hz");
        }

        AudioEncoding encoding = ToEncoding(formatTag, bitsPerSample);
        int expectedBlockAlign = channels * RawAudioDecoder.GetBytesPerSample(encoding);
        if (blockAlign != expectedBlockAlign)
        {
            throw new AudioFormatException(
                $"invalid WAV file: block align is {blockAlign} bytes but {channels} channel(s) of " +
                $"{bitsPerSample}-bit samples need {expectedBlockAlign}");
        }

        return new WavFormat(encoding, (int)sampleRate, channels, bitsPerSample, blockAlign, null);
    }

    private static int ReadExtensibleSubFormat(ReadOnlySpan<byte> fmt)
    {
        if (fmt.Length < MaxFormatBytesUsed || BinaryPrimitives.ReadUInt16LittleEndian(fmt[16..]) < 22)
        {
            throw new AudioFormatException(
                "invalid WAV file: WAVE_FORMAT_EXTENSIBLE header is too short for its sub-format");
        }

        // KSDATAFORMAT_SUBTYPE_* GUIDs are {0000xxxx-0000-0010-8000-00AA00389B71} with the old format tag as xxxx.
        ReadOnlySpan<byte> subFormat = fmt[24..40];
        ReadOnlySpan<byte> baseGuidTail =
            [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
        if (!subFormat[2..].SequenceEqual(baseGuidTail))
        {
            throw new AudioFormatException(
                $"unsupported WAV encoding: WAVE_FORMAT_EXTENSIBLE sub-format {new Guid(subFormat)}; " +
                "convert it to 16-bit PCM (e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav)");
        }

        return BinaryPrimitives.ReadUInt16LittleEndian(subFormat);
    }

    private static AudioEncoding ToEncoding(int formatTag, int bitsPerSample)
    {
        AudioEncoding? encoding = (formatTag, bitsPerSample) switch
        {
            (FormatTagPcm, 8) => AudioEncoding.UnsignedPcm8,
            (FormatTagPcm, 16) => AudioEncoding.Linear16,
            (FormatTagPcm, 24) => AudioEncoding.Linear24,
            (FormatTagPcm, 32) => AudioEncoding.Linear32,
            (FormatTagFloat, 32) => AudioEncoding.Float32,
            (FormatTagFloat, 64) => AudioEncoding.Float64,
            (FormatTagALaw, 8) => AudioEncoding.ALaw,
            (FormatTagMuLaw, 8) => AudioEncoding.MuLaw,
            _ => null,
        };

        if (encoding is AudioEncoding known)
        {
            return known;
        }

        string what = formatTag switch
        {
            FormatTagPcm => $"{bitsPerSample}-bit PCM",
            FormatTagFloat => $"{bitsPerSample}-bit float",
            FormatTagALaw => $"{bitsPerSample}-bit A-law",
            FormatTagMuLaw => $"{bitsPerSample}-bit mu-law",
            0x0002 => "Microsoft ADPCM (format tag 0x0002)",
            0x0011 => "IMA ADPCM (format tag 0x0011)",
            0x0031 => "GSM 6.10 (format tag 0x0031)",
            0x0055 => "MP3 (format tag 0x0055)",
            _ => $"format tag 0x{formatTag:X4}",
        };
        throw new AudioFormatException(
            $"unsupported WAV encoding: {what}; convert it to 16-bit PCM (e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav)");
    }

    private static bool IsStreamedSize(uint size) => size is 0 or uint.MaxValue;

    private long? KnownDataLength(uint declared)
    {
        long? length = IsStreamedSize(declared) ? null : declared;
        if (_stream.CanSeek)
        {
            long available = Math.Max(0, _stream.Length - _stream.Position);
            length = length is long known ? Math.Min(known, available) : available;
        }

        return length;
    }

    /// <summary>Skips a chunk body; running out of stream here means the header is truncated.</summary>
    private void Skip(long count, string chunkId, bool padOptional = false)
    {
        if (count == 0)
        {
            return;
        }

        if (_stream.CanSeek)
        {
            long remaining = _stream.Length - _stream.Position;
            if (remaining < count && !(padOptional && remaining == count - 1))
            {
                throw TruncatedChunk(chunkId);
            }

            _stream.Seek(Math.Min(count, remaining), SeekOrigin.Current);
            return;
        }

        Span<byte> scratch = stackalloc byte[4096];
        long left = count;
        while (left > 0)
        {
            int read = _stream.Read(scratch[..(int)Math.Min(left, scratch.Length)]);
            if (read == 0)
            {
                if (padOptional && left == 1)
                {
                    return;
                }

                throw TruncatedChunk(chunkId);
            }

            left -= read;
        }
    }

    private static AudioFormatException TruncatedChunk(string chunkId) =>
        new($"truncated WAV header: the '{chunkId}' chunk runs past the end of the file");

    private int ReadUpTo(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = _stream.Read(buffer[total..]);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private static string Printable(ReadOnlySpan<byte> id)
    {
        Span<char> chars = stackalloc char[id.Length];
        for (int i = 0; i < id.Length; i++)
        {
            chars[i] = id[i] is >= 0x20 and < 0x7F ? (char)id[i] : '?';
        }

        return new string(chars);
    }
}
