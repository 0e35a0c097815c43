using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Fuzz.Tests.Audio;

namespace AsrService.Fuzz.Tests.Pipeline;

/// <summary>
/// A voice-activity model that checks every window it is given (finite samples in [-1, 1], exactly one window long)
/// and calls loud windows speech, so that hostile audio opens, splits and closes segments as speech would.
/// </summary>
internal sealed class CheckingVoiceActivityModel : IVoiceActivityModel
{
    public int WindowSamples => 512;

    public long SamplesSeen { get; private set; }

    public IVoiceActivityStream CreateStream() => new Stream(this);

    private sealed class Stream(CheckingVoiceActivityModel owner) : IVoiceActivityStream
    {
        public float Process(ReadOnlySpan<float> window)
        {
            if (window.Length != owner.WindowSamples)
            {
                throw new InvalidOperationException($"a window of {window.Length} samples, not {owner.WindowSamples}");
            }

            AudioChecks.RequireInRange(window, owner.SamplesSeen);
            owner.SamplesSeen += window.Length;
            double energy = 0;
            foreach (float sample in window)
            {
                energy += sample * sample;
            }

            return energy / window.Length > 1e-3 ? 0.9f : 0.05f;
        }

        public void Reset()
        {
        }

        public void Dispose()
        {
        }
    }
}

/// <summary>A recognizer that checks the audio of every segment and interim it decodes, and answers with a fixed word.</summary>
internal sealed class CheckingRecognizer : ISpeechRecognizer
{
    private static readonly RecognitionResult s_result = new("speech", [1], 0.5f);

    public string ModelName => "fuzz";

    public string ExecutionProvider => "cpu";

    public int IntraOpThreads => 1;

    public int Calls { get; private set; }

    public IRecognizerSession CreateSession() => new Session(this);

    public void Dispose()
    {
    }

    private sealed class Session(CheckingRecognizer owner) : IRecognizerSession
    {
        public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default) =>
            Recognize(samples, [], cancellationToken);

        public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default)
        {
            owner.Calls++;
            AudioChecks.RequireInRange(samples);
            return samples.IsEmpty ? RecognitionResult.Empty : s_result;
        }

        public void Dispose()
        {
        }
    }
}
