namespace AsrService.Core.Audio;

/// <summary>Recognises containers by their first bytes, to route input and to name the format in messages.</summary>
internal static class AudioFormatSniffer
{
    /// <summary>Bytes <see cref="IsWav"/> and <see cref="Describe"/> look at.</summary>
    public const int HeaderLength = 12;

    /// <summary>
    /// True for RIFF/WAVE, and for a RIFF header too short to say, so that the WAV reader reports the truncation
    /// instead of ffmpeg reporting garbage.
    /// </summary>
    public static bool IsWav(ReadOnlySpan<byte> header) =>
        header.StartsWith("RIFF"u8) && (header.Length < HeaderLength || header[8..12].SequenceEqual("WAVE"u8));

    /// <summary>A short name of the format for messages, from the magic bytes or else the file extension.</summary>
    public static string Describe(ReadOnlySpan<byte> header, string? path)
    {
        if (header.StartsWith("fLaC"u8))
        {
            return "FLAC";
        }

        if (header.StartsWith("OggS"u8))
        {
            return "Ogg";
        }

        if (header.StartsWith("ID3"u8))
        {
            return "MP3";
        }

        if (header.Length >= 2 && header[0] == 0xFF && (header[1] & 0xE0) == 0xE0)
        {
            // An MPEG sync word: layer bits 00 mean ADTS AAC, anything else an MPEG audio layer.
            return (header[1] & 0x06) == 0 ? "AAC" : "MP3";
        }

        if (header.Length >= 8 && header[4..8].SequenceEqual("ftyp"u8))
        {
            return "MP4";
        }

        if (header.StartsWith((ReadOnlySpan<byte>)[0x1A, 0x45, 0xDF, 0xA3]))
        {
            return "WebM/Matroska";
        }

        if (header.StartsWith("FORM"u8))
        {
            return "AIFF";
        }

        if (header.StartsWith("RF64"u8))
        {
            return "RF64";
        }

        if (header.StartsWith("#!AMR"u8))
        {
            return "AMR";
        }

        if (header.StartsWith("caff"u8))
        {
            return "CAF";
        }

        string extension = path is null ? string.Empty : Path.GetExtension(path).TrimStart('.');
        return extension.Length > 0 ? extension.ToUpperInvariant() : "this format";
    }
}
