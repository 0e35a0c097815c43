namespace AsrService.Core.Tests.Vad;

/// <summary>Builds per-window probability sequences from runs, e.g. Silence(10).Speech(5).Silence(3).</summary>
internal sealed class ProbabilityScript
{
    public const float SilenceProbability = 0.05f;
    public const float SpeechProbability = 0.9f;

    private readonly List<float> _probabilities = new();

    public int Count => _probabilities.Count;

    public ProbabilityScript Silence(int windows) => Repeat(SilenceProbability, windows);

    public ProbabilityScript Speech(int windows) => Repeat(SpeechProbability, windows);

    public ProbabilityScript Repeat(float probability, int windows)
    {
        for (int i = 0; i < windows; i++)
        {
            _probabilities.Add(probability);
        }

        return this;
    }

    /// <summary>Overrides the probability of one window already in the script.</summary>
    public ProbabilityScript Set(int window, float probability)
    {
        _probabilities[window] = probability;
        return this;
    }

    public float[] ToArray() => _probabilities.ToArray();
}
