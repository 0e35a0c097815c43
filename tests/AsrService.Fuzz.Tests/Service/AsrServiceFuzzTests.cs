using System.Buffers;
using System.Text;
using AsrService.Fuzz.Tests.Audio;
using AsrService.Fuzz.Tests.Infrastructure;
using AsrService.Fuzz.Tests.Pipeline;
using AsrService.Fuzz.Tests.Protobuf;
using AsrService.Grpc;
using AsrService.Grpc.Internal;
using AsrService.Grpc.V1;
using AsrService.Server;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using CoreEncoding = AsrService.Core.Audio.AudioEncoding;

namespace AsrService.Fuzz.Tests.Service;

/// <summary>
/// The asr.v1 service itself on requests that parse but carry hostile values (unknown enums, rates, channel counts,
/// durations protobuf calls invalid, audio that is not whole frames, configs in the wrong place), built plausible and
/// then mutated field by field or byte by byte. Whatever a client sends must end in a result or an
/// <see cref="RpcException"/> with the status the README documents (INVALID_ARGUMENT, or OUT_OF_RANGE for audio
/// past the Recognize limit): any other exception reaches the client as INTERNAL "Exception was thrown by handler".
/// The service runs with the checking VAD and recognizer, so hostile audio must also reach them finite.
/// </summary>
public sealed class AsrServiceFuzzTests(ITestOutputHelper output)
{
    private static readonly int[] s_rates = [16_000, 16_000, 8_000, 48_000, 32_000, 24_000];

    private static readonly AudioEncoding[] s_encodings = [AudioEncoding.Linear16, AudioEncoding.Float32, AudioEncoding.Mulaw, AudioEncoding.Alaw];

    [Fact]
    public void Recognize_HostileRequests_ResultOrDocumentedStatus()
    {
        AsrGrpcService service = CreateService();
        FuzzReport report = FuzzRunner.Run(
            0x5EED0601,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                var request = new RecognizeRequest { Config = PlausibleConfig(random, out CoreEncoding pcm, out int channels, out int rate) };
                var description = new StringBuilder();
                if (random.Next(6) == 0)
                {
                    request.Config.Encoding = AudioEncoding.EncodedFile;
                    request.AudioContent = ByteString.CopyFrom(WavFiles.Build(random, out WavInfo info));
                    description.Append($"ENCODED_FILE: {info.Description}");
                }
                else
                {
                    request.AudioContent = ByteString.CopyFrom(Pcm(random, pcm, channels, rate, description));
                }

                if (!TryMutate(random, request, RecognizeRequest.Parser, fuzzCase, description, out RecognizeRequest parsed))
                {
                    return;
                }

                if (parsed.Config?.Encoding == AudioEncoding.EncodedFile && !parsed.AudioContent.Span.StartsWith("RIFF"u8))
                {
                    // Not a WAV: the service would start ffmpeg, which a unit test must not.
                    fuzzCase.Outcome = "skipped: not a WAV";
                    return;
                }

                fuzzCase.BeginSubject();
                try
                {
                    RecognizeResponse response = service.Recognize(parsed, new FuzzCallContext()).GetAwaiter().GetResult();
                    fuzzCase.Outcome = response.Results.Count > 0 ? "transcribed" : "no speech";
                }
                catch (RpcException exception) when (exception.StatusCode is StatusCode.InvalidArgument or StatusCode.OutOfRange)
                {
                    fuzzCase.Outcome = exception.StatusCode.ToString();
                }
            },
            ServiceBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.15, "got through validation", "transcribed", "no speech");
        report.RequireReach(0.02, "were too long for Recognize", nameof(StatusCode.OutOfRange));
    }

    [Fact]
    public void StreamingRecognize_HostileRequests_ResultsOrInvalidArgument()
    {
        AsrGrpcService service = CreateService();
        FuzzReport report = FuzzRunner.Run(
            0x5EED0602,
            fuzzCase =>
            {
                Random random = fuzzCase.Random;
                var streaming = new StreamingRecognitionConfig
                {
                    Config = PlausibleConfig(random, out CoreEncoding pcm, out int channels, out int rate),
                    InterimResults = random.Next(2) == 0,
                    EnableVoiceActivityEvents = random.Next(2) == 0,
                };
                if (random.Next(3) == 0)
                {
                    streaming.InterimInterval = AsrMessages.Duration(random, maxSeconds: 12);
                }

                var description = new StringBuilder();
                if (!TryMutate(random, new StreamingRecognizeRequest { StreamingConfig = streaming }, StreamingRecognizeRequest.Parser, fuzzCase, description, out StreamingRecognizeRequest first))
                {
                    return;
                }

                List<StreamingRecognizeRequest> requests = [first];
                byte[] audio = Pcm(random, pcm, channels, rate, description);
                int frameBytes = channels * Core.Audio.RawAudioDecoder.GetBytesPerSample(pcm);
                for (int position = 0; position < audio.Length;)
                {
                    int length = Math.Min(audio.Length - position, frameBytes * random.Next(1, 2000));
                    switch (random.Next(40))
                    {
                        case 0:
                            length = Math.Min(length, random.Next(1, frameBytes + 1));
                            description.Append($"; a chunk of {length} bytes");
                            break;
                        case 1:
                            requests.Add(new StreamingRecognizeRequest { StreamingConfig = streaming });
                            description.Append("; a second config");
                            break;
                        case 2:
                            requests.Add(new StreamingRecognizeRequest());
                            description.Append("; an empty request");
                            break;
                    }

                    requests.Add(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(audio, position, length) });
                    position += length;
                }

                if (random.Next(20) == 0)
                {
                    requests.RemoveAt(0);
                    description.Append("; no config");
                }

                fuzzCase.Description = description.ToString();
                var responses = new ListStreamWriter<StreamingRecognizeResponse>();
                fuzzCase.BeginSubject();
                try
                {
                    service.StreamingRecognize(new ListStreamReader<StreamingRecognizeRequest>(requests), responses, new FuzzCallContext()).GetAwaiter().GetResult();
                    fuzzCase.Outcome = responses.Written.Any(response => response.Results.Any(result => result.IsFinal)) ? "transcribed" : "no speech";
                }
                catch (RpcException exception) when (exception.StatusCode is StatusCode.InvalidArgument)
                {
                    fuzzCase.Outcome = exception.StatusCode.ToString();
                }
            },
            ServiceBudget);

        output.WriteLine(report.ToString());
        report.RequireReach(0.1, "got through validation", "transcribed", "no speech");
    }

    /// <summary>
    /// Decoding buffers, plus the voice-activity detector's, which a valid voice_activity config sizes: up to 4 x
    /// (speech_pad + a window) of audio, about 38 MB at the largest pad validation allows.
    /// </summary>
    private static long ServiceBudget(FuzzCase fuzzCase) => 64L * 1024 * 1024;

    private static AsrGrpcService CreateService() => new(
        new CheckingRecognizer(),
        new CheckingVoiceActivityModel(),
        // Recognize audio is up to 0.3 s here; a limit of 0.2 s sends a third of it down the OUT_OF_RANGE path.
        new AsrServiceOptions { MaxConcurrentStreams = 4, MaxRecognizeAudio = TimeSpan.FromMilliseconds(200) },
        new AsrService.Core.Pipeline.DecodeScheduler(1),
        NullLogger<AsrGrpcService>.Instance);

    /// <summary>What a real client sends most of the time; a third of the time anything <see cref="AsrMessages"/> makes.</summary>
    private static RecognitionConfig PlausibleConfig(Random random, out CoreEncoding pcm, out int channels, out int rate)
    {
        RecognitionConfig config = random.Next(3) == 0
            ? AsrMessages.Config(random)
            : new RecognitionConfig
            {
                Encoding = s_encodings[random.Next(s_encodings.Length)],
                SampleRateHertz = s_rates[random.Next(s_rates.Length)],
                AudioChannelCount = random.Next(3),
                Model = random.Next(4) == 0 ? "FUZZ" : string.Empty,
                LanguageCode = random.Next(2) == 0 ? "en-US" : string.Empty,
                MaxAlternatives = random.Next(2),
                VoiceActivity = random.Next(2) == 0 ? AsrMessages.VoiceActivity(random) : null,
            };
        pcm = config.Encoding switch
        {
            AudioEncoding.Float32 => CoreEncoding.Float32,
            AudioEncoding.Mulaw => CoreEncoding.MuLaw,
            AudioEncoding.Alaw => CoreEncoding.ALaw,
            _ => CoreEncoding.Linear16,
        };
        channels = config.AudioChannelCount is >= 1 and <= 8 ? config.AudioChannelCount : 1;
        rate = config.SampleRateHertz is >= 8_000 and <= 48_000 ? config.SampleRateHertz : 16_000;
        return config;
    }

    /// <summary>Up to 0.3 s of hostile samples, sometimes with a partial frame at the end.</summary>
    private static byte[] Pcm(Random random, CoreEncoding encoding, int channels, int rate, StringBuilder description)
    {
        int frames = random.Next(rate * 3 / 10);
        byte[] audio = HostileAudio.Samples(random, encoding, channels, frames, out string pattern);
        description.Append($"{frames} frames of {pattern} {encoding}, {channels} ch at {rate} Hz");
        if (random.Next(10) == 0)
        {
            Array.Resize(ref audio, audio.Length + 1);
            description.Append(" and 1 byte more");
        }

        return audio;
    }

    /// <summary>
    /// Changes the message: half the time not at all, else a byte-level mutation of its serialized form (which must
    /// still parse to be sent). Returns false, with the outcome set, when the result does not parse.
    /// </summary>
    private static bool TryMutate<T>(Random random, T message, MessageParser<T> parser, FuzzCase fuzzCase, StringBuilder description, out T parsed)
        where T : class, IMessage<T>
    {
        byte[] bytes = message.ToByteArray();
        if (random.Next(2) == 0)
        {
            var log = new StringBuilder();
            bytes = Mutator.Mutate(random, bytes, log, AsrMessages.Tokens, maxMutations: 3);
            description.Append($"mutated: {log}; ");
        }

        fuzzCase.Input = bytes;
        fuzzCase.Description = description.ToString();
        parsed = null!;

        // As the server's frame reader does: the guard first (Google.Protobuf mishandles some lengths), then the parser.
        if (!WireFormatGuard.LengthsFit(new ReadOnlySequence<byte>(bytes), message.Descriptor))
        {
            fuzzCase.Outcome = "unparsable";
            return false;
        }

        try
        {
            parsed = parser.ParseFrom(bytes);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            fuzzCase.Outcome = "unparsable";
            return false;
        }
    }
}
