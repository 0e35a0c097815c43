using AsrService.Core.Vad;

namespace AsrService.Core.Tests.Vad;

/// <summary>
/// The option values the segmentation tests are written against: shorter silence, padding and maximum than the
/// production defaults, so that the scripted probability sequences stay small and the sample arithmetic readable.
/// </summary>
internal static class TestVadOptions
{
    public static VadOptions Create(Action<VadOptions>? configure = null)
    {
        var options = new VadOptions
        {
            MinSilence = TimeSpan.FromMilliseconds(500),
            SpeechPad = TimeSpan.FromMilliseconds(200),
            MaxSegment = TimeSpan.FromSeconds(20),
        };
        configure?.Invoke(options);
        return options;
    }
}
