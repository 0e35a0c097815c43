namespace AsrService.Core.Vad;

/// <summary>Where a <see cref="SpeechSegmenter"/> is between windows.</summary>
public enum SpeechState
{
    /// <summary>No segment is open.</summary>
    Silence,

    /// <summary>Speech has begun but is still shorter than MinSpeech; it is dropped if silence closes it now.</summary>
    MaybeSpeech,

    /// <summary>A confirmed segment is open and its latest window was speech.</summary>
    Speech,

    /// <summary>A confirmed segment is open, followed by a run of silence still shorter than MinSilence.</summary>
    MaybeSilence,
}
