using System.Globalization;
using AsrService.Core.Vad;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

[Collection(ModelCollection.Name)]
public sealed class VoiceActivityTests(ModelFixture models, ITestOutputHelper output)
{
    [DataFact]
    public void SegmentAll_MeetingClip_FindsAnnotatedSpeechWithin300Milliseconds()
    {
        var folder = TestData.Folder("en-hard");
        var annotated = File.ReadLines(Path.Combine(folder, "segments.tsv")).Skip(1)
            .Select(line => line.Split('\t'))
            .Select(f => (Start: double.Parse(f[1], CultureInfo.InvariantCulture), End: double.Parse(f[2], CultureInfo.InvariantCulture)))
            .ToList();
        var audio = TestData.Read(Path.Combine(folder, "wav", "ami_ES2011a.Headset-0-40s-46s.wav"));

        // Compare the detector's speech regions: no padding, and a minimum silence short enough to keep the
        // 0.54 s pause between the two annotated regions (the recognition defaults merge such pauses on purpose).
        var options = new VadOptions { SpeechPad = TimeSpan.Zero, MinSilence = TimeSpan.FromMilliseconds(250) };
        var found = VoiceActivityDetector.SegmentAll(models.VoiceActivity, audio, options);
        foreach (var segment in found)
        {
            output.WriteLine($"found {segment.StartTime.TotalSeconds:F2}-{segment.EndTime.TotalSeconds:F2}");
        }

        Assert.Equal(annotated.Count, found.Count);
        foreach (var (expected, actual) in annotated.Zip(found))
        {
            Assert.InRange(actual.StartTime.TotalSeconds, expected.Start - 0.3, expected.Start + 0.3);
            Assert.InRange(actual.EndTime.TotalSeconds, expected.End - 0.3, expected.End + 0.3);
        }
    }

    [DataFact]
    public void Process_SilenceAndSpeech_ProbabilitiesSeparate()
    {
        var audio = TestData.Read(Path.Combine(TestData.Folder("en-misc"), "wav", "jfk.wav"));
        using var stream = models.VoiceActivity.CreateStream();
        var window = models.VoiceActivity.WindowSamples;
        var silence = new float[window];
        var silent = Enumerable.Range(0, 30).Select(_ => stream.Process(silence)).Max();
        stream.Reset();
        var speech = Enumerable.Range(0, audio.Length / window).Select(i => stream.Process(audio.AsSpan(i * window, window))).ToList();

        Assert.True(silent < 0.1, $"silence scored {silent}");
        Assert.True(speech.Count(p => p > 0.5) > speech.Count / 2, "less than half of the JFK clip scored as speech");
    }
}
