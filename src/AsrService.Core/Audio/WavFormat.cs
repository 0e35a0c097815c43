namespace AsrService.Core.Audio;

/// <summary>What a WAV header says about its audio.</summary>
/// <param name="Encoding">How each sample is stored.</param>
/// <param name="SampleRate">Frames per second.</param>
/// <param name="Channels">Interleaved channels per frame; the reader averages them to mono.</param>
/// <param name="BitsPerSample">Container bits of one sample of one channel.</param>
/// <param name="BlockAlign">Bytes per frame.</param>
/// <param name="DataLength">
/// Bytes of audio, or null when the writer did not know (a data size of 0 or 0xFFFFFFFF streamed to a pipe). On a
/// seekable stream it is capped at what the stream actually holds.
/// </param>
public sealed record WavFormat(
    AudioEncoding Encoding,
    int SampleRate,
    int Channels,
    int BitsPerSample,
    int BlockAlign,
    long? DataLength)
{
    /// <summary>Frames of audio, or null when unknown; a trailing partial frame is not counted.</summary>
    public long? FrameCount => DataLength / BlockAlign;

    /// <summary>Length of the audio, or null when unknown.</summary>
    public TimeSpan? Duration => FrameCount is long frames
        ? TimeSpan.FromSeconds((double)frames / SampleRate)
        : null;
}
