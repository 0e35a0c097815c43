using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Vad;
using AsrService.Fuzz.Tests.Audio;
using AsrService.Fuzz.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AsrService.Fuzz.Tests.Pipeline;

/// <summary>
/// The streaming front end as the server runs it, on hostile audio: raw chunks through <see cref="PcmStreamDecoder"/>
/// (decode, downmix, resample) into a <see cref="RecognitionStream"/>. Stretches of NaN, infinities, huge and
/// denormal floats, clipped extremes and full-scale square waves alternate with silence, so that segments open,
/// split at the maximum length and close; the voice-activity model and the recognizer check that every sample they
/// are given is finite and in [-1, 1].
/// </summary>
public sealed class StreamingPipelineFuzzTests(ITestOutputHelper output)
{
    private static readonly AudioEncoding[] s_streamEncodings =
    [
        AudioEncoding.Linear16, AudioEncoding.Float32, AudioEncoding.MuLaw, AudioEncoding.ALaw,
        AudioEncoding.Float64, AudioEncoding.Linear24, AudioEncoding.Linear32, AudioEncoding.UnsignedPcm8,
    ];

    private static readonly int[] s_rates = [16_000, 16_000, 16_000, 8_000, 8_000, 48_000, 32_000, 24_000];

    [Fact]
    public void RecognitionStream_HostileAudio_ModelsSeeOnlyFiniteFullScaleSamples()
    {
        FuzzReport report = FuzzRunner.Run(
            0x5EED0501,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                AudioEncoding encoding = s_streamEncodings[fuzzCase.Index % s_streamEncodings.Length];
                int channels = random.Next(4) == 0 ? 1 + random.Next(8) : 1;
                int rate = random.Next(500) == 0 ? 44_100 : s_rates[random.Next(s_rates.Length)];
                byte[] audio = Stretches(random, encoding, channels, rate, out string stretches);
                int frameBytes = channels * RawAudioDecoder.GetBytesPerSample(encoding);
                fuzzCase.Description = $"{encoding}, {channels} ch, {rate} Hz: {stretches}";
                fuzzCase.Input = audio;

                fuzzCase.BeginSubject();
                var voiceActivity = new CheckingVoiceActivityModel();
                var recognizer = new CheckingRecognizer();
                var decoder = new PcmStreamDecoder(encoding, rate, channels);
                var events = new List<StreamingEvent>();
                using (var stream = new RecognitionStream(recognizer, voiceActivity, Options()))
                {
                    int position = 0;
                    while (position < audio.Length)
                    {
                        int frames = random.Next(3) == 0 ? random.Next(8) : random.Next(4000 / frameBytes + 1);
                        int length = Math.Min(frames * frameBytes, audio.Length - position);
                        ReadOnlySpan<float> samples = decoder.Decode(audio.AsSpan(position, length)).Span;
                        AudioChecks.RequireInRange(samples);
                        stream.AcceptAsync(samples.ToArray(), events).AsTask().GetAwaiter().GetResult();
                        position += length;
                    }

                    ReadOnlySpan<float> tail = decoder.Flush().Span;
                    AudioChecks.RequireInRange(tail);
                    stream.AcceptAsync(tail.ToArray(), events).AsTask().GetAwaiter().GetResult();
                    stream.CompleteAsync(events).AsTask().GetAwaiter().GetResult();
                    RequireWellFormed(events, stream.AcceptedSamples);
                }

                int finals = events.Count(e => e.Kind == StreamingEventKind.FinalResult);
                fuzzCase.Outcome = finals == 0 ? "no speech" : finals == 1 ? "one segment" : "several segments";
            },
            fuzzCase => 8 * 1024 * 1024);

        output.WriteLine(report.ToString());
        report.RequireReach(0.05, "split or closed several segments", "several segments");
    }

    /// <summary>Short pauses and segments, so that a fraction of a second of audio opens, splits and closes them.</summary>
    private static StreamingOptions Options() => new()
    {
        InterimResults = true,
        InterimInterval = TimeSpan.FromMilliseconds(100),
        VoiceActivityEvents = true,
        Vad = new VadOptions
        {
            MinSpeech = TimeSpan.FromMilliseconds(32),
            MinSilence = TimeSpan.FromMilliseconds(48),
            SpeechPad = TimeSpan.FromMilliseconds(16),
            MaxSegment = TimeSpan.FromMilliseconds(260),
        },
    };

    /// <summary>One to five stretches of hostile audio of up to 0.1 s each, some followed by up to 0.1 s of silence.</summary>
    private static byte[] Stretches(Random random, AudioEncoding encoding, int channels, int rate, out string description)
    {
        var audio = new List<byte>();
        var names = new List<string>();
        int count = 1 + random.Next(5);
        for (int i = 0; i < count; i++)
        {
            int frames = random.Next(rate / 10);
            audio.AddRange(HostileAudio.Samples(random, encoding, channels, frames, out string pattern));
            names.Add($"{frames} frames {pattern}");
            if (random.Next(2) == 0)
            {
                int pause = random.Next(rate / 10);
                audio.AddRange(HostileAudio.Silence(encoding, channels, pause));
                names.Add($"{pause} frames of silence");
            }
        }

        description = string.Join(", ", names);
        return [.. audio];
    }

    private static void RequireWellFormed(List<StreamingEvent> events, long acceptedSamples)
    {
        TimeSpan end = TimeSpan.FromSeconds(acceptedSamples / 16_000.0) + TimeSpan.FromMilliseconds(1);
        int open = 0;
        foreach (StreamingEvent item in events)
        {
            if (item.Start < TimeSpan.Zero || item.End < item.Start || item.End > end)
            {
                throw new FuzzPropertyException($"{item.Kind} from {item.Start} to {item.End} in {end} of audio");
            }

            open += item.Kind switch
            {
                StreamingEventKind.SpeechBegin => 1,
                StreamingEventKind.SpeechEnd => -1,
                _ => 0,
            };
            if (open is < 0 or > 1)
            {
                throw new FuzzPropertyException("speech begin and end events do not alternate");
            }
        }

        if (open != 0)
        {
            throw new FuzzPropertyException("the stream completed with speech still open");
        }
    }
}
