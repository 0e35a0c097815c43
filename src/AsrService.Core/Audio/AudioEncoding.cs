namespace AsrService.Core.Audio;

/// <summary>How one sample of one channel is stored in raw audio bytes. Multi-byte encodings are little-endian.</summary>
public enum AudioEncoding
{
    /// <summary>8-bit unsigned PCM as WAV stores it: 128 is silence.</summary>
    UnsignedPcm8 = 1,

    /// <summary>16-bit signed PCM (LINEAR16).</summary>
    Linear16,

    /// <summary>24-bit signed PCM packed in 3 bytes.</summary>
    Linear24,

    /// <summary>32-bit signed PCM.</summary>
    Linear32,

    /// <summary>IEEE 754 single precision, nominally in [-1, 1].</summary>
    Float32,

    /// <summary>IEEE 754 double precision, nominally in [-1, 1].</summary>
    Float64,

    /// <summary>G.711 mu-law, one byte per sample.</summary>
    MuLaw,

    /// <summary>G.711 A-law, one byte per sample.</summary>
    ALaw,
}
