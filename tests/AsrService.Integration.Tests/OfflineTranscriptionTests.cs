using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

[Collection(ModelCollection.Name)]
public sealed class OfflineTranscriptionTests(ModelFixture models, ITestOutputHelper output)
{
    private const string Dev = "librispeech-test-other-dev";

    [DataFact]
    public void Transcribe_EnMisc_WerAtMostThreePercent()
    {
        var references = TestData.References("en-misc");
        var pairs = TestData.Wavs("en-misc")
            .Select(path => (references[Path.GetFileNameWithoutExtension(path)], TranscribeFile(models.Tiny, path)))
            .ToList();

        var wer = Report("en-misc tiny", pairs);
        Assert.True(wer <= 0.03, $"WER {wer:P2} > 3 %");
    }

    [DataFact]
    public void Transcribe_DevSetWithTiny_WerAtMost14Point5Percent()
    {
        var wer = Report("dev tiny", TranscribeDevSet(models.Tiny));
        Assert.True(wer <= 0.145, $"WER {wer:P2} > 14.5 %");
    }

    [DataFact]
    public void Transcribe_DevSetWithBase_WerAtMost10Point5Percent()
    {
        var wer = Report("dev base", TranscribeDevSet(models.Base));
        Assert.True(wer <= 0.105, $"WER {wer:P2} > 10.5 %");
    }

    [DataFact]
    public void Transcribe_MeetingClipWithLongSilences_FindsBothUtterances()
    {
        var path = Path.Combine(TestData.Folder("en-hard"), "wav", "ami_ES2011a.Headset-0-40s-46s.wav");
        var reference = TestData.References("en-hard")["ami_ES2011a.Headset-0-40s-46s"];

        // Decoded whole, Moonshine returns nothing for this clip; the VAD must hand it the speech.
        var wer = Report("meeting clip", [(reference, TranscribeFile(models.Tiny, path))]);
        Assert.True(wer <= 0.25, $"WER {wer:P2} on the meeting clip");
    }

    [DataFact]
    public void Transcribe_ReverberantCopy_StaysCloseToTheCleanTranscript()
    {
        var folder = Path.Combine(TestData.Folder("en-hard"), "wav");
        var clean = TranscribeFile(models.Tiny, Path.Combine(folder, "libri-1088-134315-0000_clean.wav"));
        var reverberant = TranscribeFile(models.Tiny, Path.Combine(folder, "libri-1088-134315-0000_reverb.wav"));

        var difference = Report("reverberant against clean", [(clean, reverberant)]);
        Assert.True(clean.Split(' ').Length > 40, "the clean utterance was not transcribed");
        Assert.True(difference <= 0.15, $"the reverberant copy differs in {difference:P2} of words");
    }

    [DataFact]
    public void Transcribe_8kHzClip_MatchesReferenceAfterResampling()
    {
        var path = Path.Combine(TestData.Folder("en-misc"), "wav", "1221-135766-0002_8k.wav");
        using (var source = AudioFile.Open(path))
        {
            Assert.Equal(16_000, source.SampleRate);
        }

        var reference = TestData.References("en-misc")["1221-135766-0002_8k"];
        var wer = Report("8 kHz clip", [(reference, TranscribeFile(models.Tiny, path))]);

        // 11 words: at most one error.
        Assert.True(wer <= 0.1, $"WER {wer:P2} on the 8 kHz clip");
    }

    [FfmpegDataFact]
    public void Transcribe_OtherRatesAndCodecs_WithinTwoWerPointsOfOriginal()
    {
        var references = TestData.References(Dev);
        // Half of the dev set (about 650 words), so that one word is 0.15 WER points and the 2-point bound measures
        // the codec rather than the luck of a few words.
        var files = TestData.Wavs(Dev).Where((_, i) => i % 2 == 0).ToList();
        var directory = Directory.CreateTempSubdirectory("asr-codecs-");
        try
        {
            var variants = new Dictionary<string, string[]>
            {
                ["wav 44.1 kHz stereo"] = ["-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le"],
                ["flac"] = ["-c:a", "flac"],
                ["mp3 128 kb/s 44.1 kHz"] = ["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k"],
            };
            var extensions = new Dictionary<string, string> { ["wav 44.1 kHz stereo"] = ".wav", ["flac"] = ".flac", ["mp3 128 kb/s 44.1 kHz"] = ".mp3" };

            var original = Report("16 kHz originals", files.Select(f => (references[Id(f)], TranscribeFile(models.Tiny, f))).ToList());
            foreach (var (name, arguments) in variants)
            {
                var pairs = new List<(string, string)>();
                foreach (var file in files)
                {
                    var converted = Path.Combine(directory.FullName, Id(file) + extensions[name]);
                    Tools.Ffmpeg(["-i", file, .. arguments, converted]);
                    pairs.Add((references[Id(file)], TranscribeFile(models.Tiny, converted)));
                }

                var wer = Report(name, pairs);
                Assert.True(Math.Abs(wer - original) <= 0.02, $"{name}: WER {wer:P2} against {original:P2} for the originals");
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [DataFact]
    public void Transcribe_LongFileOfJoinedUtterances_WerAtMost14PercentAndParallelDecodesGiveTheSameSegments()
    {
        var references = TestData.References(Dev);
        var random = new Random(20261121);
        var audio = new List<float>();
        var reference = new List<string>();
        foreach (var file in TestData.Wavs(Dev).Take(24))
        {
            // 1-3 s of low noise (about -60 dBFS) between utterances, as between sentences in a recording.
            var gap = (int)(16_000 * (1 + 2 * random.NextDouble()));
            for (var i = 0; i < gap; i++)
            {
                audio.Add((float)((random.NextDouble() * 2 - 1) * 0.002));
            }

            audio.AddRange(TestData.Read(file));
            reference.Add(references[Id(file)]);
        }

        var transcriber = new OfflineTranscriber(models.Tiny, models.VoiceActivity);
        using var source = new MemoryAudioSource(audio.ToArray(), 16_000);
        var segments = transcriber.Transcribe(source).ToList();
        var hypothesis = string.Join(' ', segments.Select(s => s.Text));

        output.WriteLine($"{audio.Count / 16_000.0:F0} s of audio, {segments.Count} segments");
        var wer = Report("long file", [(string.Join(' ', reference), hypothesis)]);
        Assert.True(wer <= 0.14, $"WER {wer:P2} > 14 %");
        Assert.All(segments.Zip(segments.Skip(1)), pair => Assert.True(pair.First.End <= pair.Second.Start, "segments overlap"));

        // Segments decoded three at a time, each on its own session, come out the same and in the same order.
        var parallel = new OfflineTranscriber(models.Tiny, models.VoiceActivity, parallelDecodes: 3);
        using var again = new MemoryAudioSource(audio.ToArray(), 16_000);
        Assert.Equal(segments, parallel.Transcribe(again).ToList());
    }

    private List<(string, string)> TranscribeDevSet(ISpeechRecognizer recognizer)
    {
        var references = TestData.References(Dev);
        return TestData.Wavs(Dev).Select(path => (references[Id(path)], TranscribeFile(recognizer, path))).ToList();
    }

    private string TranscribeFile(ISpeechRecognizer recognizer, string path)
    {
        var transcriber = new OfflineTranscriber(recognizer, models.VoiceActivity);
        using var source = AudioFile.Open(path);
        return string.Join(' ', transcriber.Transcribe(source).Select(s => s.Text));
    }

    private double Report(string name, IReadOnlyList<(string Reference, string Hypothesis)> pairs)
    {
        var wer = WordErrorRate.Compute(pairs);
        output.WriteLine($"{name}: {pairs.Count} files, WER {wer:P2} (LibriSpeech normalisation)");
        return wer;
    }

    private static string Id(string path) => Path.GetFileNameWithoutExtension(path);
}
