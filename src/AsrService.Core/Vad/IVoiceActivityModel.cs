namespace AsrService.Core.Vad;

/// <summary>
/// A voice-activity model shared by all streams (thread-safe); each stream gets its own
/// <see cref="IVoiceActivityStream"/> that holds the model's recurrent state.
/// </summary>
public interface IVoiceActivityModel
{
    /// <summary>Samples per window at 16 kHz (512 for Silero v5).</summary>
    int WindowSamples { get; }

    IVoiceActivityStream CreateStream();
}

/// <summary>Per-stream state of a voice-activity model. Not thread-safe; one per audio stream.</summary>
public interface IVoiceActivityStream : IDisposable
{
    /// <summary>Speech probability in [0, 1] of the next window of exactly <see cref="IVoiceActivityModel.WindowSamples"/> samples.</summary>
    float Process(ReadOnlySpan<float> window);

    /// <summary>Forgets all history, as for a new stream.</summary>
    void Reset();
}
