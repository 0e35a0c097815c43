using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Vad;

/// <summary>Returns the i-th scripted probability for the i-th window, whatever the audio; silence after the script.</summary>
internal sealed class ScriptedModel : IVoiceActivityModel
{
    private readonly float[] _probabilities;

    public ScriptedModel(float[] probabilities, int windowSamples = 512)
    {
        _probabilities = probabilities;
        WindowSamples = windowSamples;
    }

    public int WindowSamples { get; }

    public ScriptedStream? LastStream { get; private set; }

    public IVoiceActivityStream CreateStream()
    {
        LastStream = new ScriptedStream(_probabilities, WindowSamples);
        return LastStream;
    }
}

internal sealed class ScriptedStream : IVoiceActivityStream
{
    private readonly float[] _probabilities;
    private readonly int _windowSamples;

    public ScriptedStream(float[] probabilities, int windowSamples)
    {
        _probabilities = probabilities;
        _windowSamples = windowSamples;
    }

    public int WindowsProcessed { get; private set; }

    public float[]? LastWindow { get; private set; }

    public bool IsDisposed { get; private set; }

    public float Process(ReadOnlySpan<float> window)
    {
        Assert.Equal(_windowSamples, window.Length);
        LastWindow = window.ToArray();
        int index = WindowsProcessed++;
        return index < _probabilities.Length ? _probabilities[index] : ProbabilityScript.SilenceProbability;
    }

    public void Reset() => WindowsProcessed = 0;

    public void Dispose() => IsDisposed = true;
}

/// <summary>
/// Speech probability from the window's RMS level, so it depends only on the audio and not on how the stream was
/// chunked; loud windows are speech, quiet ones silence, and the level in between shades the probability.
/// </summary>
internal sealed class EnergyModel : IVoiceActivityModel
{
    public int WindowSamples => 512;

    public IVoiceActivityStream CreateStream() => new EnergyStream();

    private sealed class EnergyStream : IVoiceActivityStream
    {
        public float Process(ReadOnlySpan<float> window)
        {
            // Not Assert.Equal: it allocates, and a test measures that a window allocates nothing.
            if (window.Length != 512)
            {
                throw new ArgumentException($"Expected a 512-sample window, got {window.Length}.", nameof(window));
            }

            double sum = 0;
            foreach (float sample in window)
            {
                sum += sample * sample;
            }

            double rms = Math.Sqrt(sum / window.Length);
            return (float)Math.Clamp(rms * 4, 0, 1);
        }

        public void Reset()
        {
        }

        public void Dispose()
        {
        }
    }
}
