using AsrService.Core.Audio;
using AsrService.Core.Pipeline;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xunit.Abstractions;

namespace AsrService.Integration.Tests;

/// <summary>StreamingRecognize, Recognize and ListModels through the real transport on a loopback port.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamingRecognizeTests(ServerFixture fixture, ITestOutputHelper output)
{
    private const string Utterance = "librispeech-test-other-dev/wav/2609-156975-0002.wav";

    private Asr.AsrClient Client => new(fixture.Connection);

    [DataTheory]
    [InlineData(20)]
    [InlineData(100)]
    [InlineData(1000)]
    public async Task StreamingRecognize_AnyChunkSize_FinalTranscriptEqualsOffline(int chunkMs)
    {
        var samples = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var offline = OfflineText(samples, new VadOptions());

        var responses = await StreamAsync(Pcm16(samples), 16_000 * 2 * chunkMs / 1000, interim: false);
        var finals = responses.SelectMany(r => r.Results).Where(r => r.IsFinal).Select(r => r.Alternatives[0].Transcript);

        Assert.NotEmpty(offline);
        Assert.Equal(offline, string.Join(' ', finals));
    }

    [DataFact]
    public async Task StreamingRecognize_WithInterims_FinalTranscriptStillEqualsOffline()
    {
        var samples = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var responses = await StreamAsync(Pcm16(samples), 3_200, interim: true);

        Assert.Contains(responses, r => r.Results.Any(x => !x.IsFinal));
        Assert.Equal(OfflineText(samples, new VadOptions()), string.Join(' ', responses.SelectMany(r => r.Results).Where(r => r.IsFinal).Select(r => r.Alternatives[0].Transcript)));
    }

    [DataFact]
    public async Task StreamingRecognize_ClosingSilences_FinalsDecodedEarlyEqualOffline()
    {
        // Two utterances each followed by two seconds of silence: both segments close on MinSilence, so both finals
        // are decoded during their closing silence and sent when it ends.
        var utterance = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var pause = new float[2 * 16_000];
        float[] samples = [.. utterance, .. pause, .. utterance, .. pause];
        var scheduler = (DecodeScheduler)fixture.Server.Services.GetService(typeof(DecodeScheduler))!;
        var early = scheduler.EarlyFinals;
        var dropped = scheduler.DroppedEarlyFinals;

        var responses = await StreamAsync(Pcm16(samples), 3_200, interim: true);

        var finals = responses.SelectMany(r => r.Results).Where(r => r.IsFinal).ToList();
        Assert.True(finals.Count >= 2, $"{finals.Count} finals");
        Assert.Equal(OfflineText(samples, new VadOptions()), string.Join(' ', finals.Select(r => r.Alternatives[0].Transcript)));
        Assert.True(scheduler.EarlyFinals - early - (scheduler.DroppedEarlyFinals - dropped) >= 2, "the finals closed by silence were not decoded early");
    }

    [DataFact]
    public async Task StreamingRecognize_InterimResults_ArriveBeforeTheFinalAndEventsMatchOffsets()
    {
        var samples = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var responses = await StreamAsync(Pcm16(samples), 3_200, interim: true, events: true);
        foreach (var response in responses)
        {
            output.WriteLine(response.ToString());
        }

        var firstFinal = responses.FindIndex(r => r.Results.Any(x => x.IsFinal));
        var firstInterim = responses.FindIndex(r => r.Results.Any(x => !x.IsFinal));
        var begin = responses.FindIndex(r => r.SpeechEventType == StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityBegin);
        var end = responses.FindIndex(r => r.SpeechEventType == StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityEnd);
        Assert.True(firstInterim >= 0 && firstFinal > firstInterim, "no interim before the first final");
        Assert.True(begin >= 0 && begin < firstInterim, "speech begin did not precede the interims");
        Assert.True(end > begin && end < firstFinal, "speech end did not come between begin and the final");

        var audio = TimeSpan.FromTicks(samples.Length * (TimeSpan.TicksPerSecond / 16_000));
        var final = responses[firstFinal].Results.Single(r => r.IsFinal);
        var beginOffset = responses[begin].SpeechEventOffset.ToTimeSpan();
        var endOffset = responses[end].SpeechEventOffset.ToTimeSpan();
        Assert.Equal(beginOffset, final.ResultStartOffset.ToTimeSpan());
        Assert.Equal(endOffset, final.ResultEndOffset.ToTimeSpan());
        Assert.InRange(endOffset, beginOffset + TimeSpan.FromSeconds(1), audio);
        Assert.All(responses.SelectMany(r => r.Results).Where(r => !r.IsFinal), interim =>
        {
            Assert.Equal(beginOffset, interim.ResultStartOffset.ToTimeSpan());
            Assert.InRange(interim.Stability, 0f, 1f);
            Assert.NotEmpty(interim.Alternatives[0].Transcript);
        });
        Assert.All(responses, r => Assert.Equal("request-42", r.RequestId));
    }

    [Fact]
    public async Task StreamingRecognize_SilentStream_NoTranscriptsAndOk()
    {
        var silence = new float[16_000 * 3];
        var responses = await StreamAsync(Pcm16(silence), 3_200, interim: true, events: true);
        Assert.Empty(responses);
    }

    [Fact]
    public async Task StreamingRecognize_AudioBeforeConfig_InvalidArgument()
    {
        var status = await FailingStreamAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(new byte[320]) });
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("streaming_config", status.Detail);
    }

    [Fact]
    public async Task StreamingRecognize_SecondConfig_InvalidArgument()
    {
        var status = await FailingStreamAsync(ConfigRequest(), ConfigRequest());
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("only once", status.Detail);
    }

    [Fact]
    public async Task StreamingRecognize_NoMessages_InvalidArgument()
    {
        var status = await FailingStreamAsync();
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
    }

    [Theory]
    [InlineData(Grpc.V1.AudioEncoding.EncodingUnspecified, 16_000, 1, "encoding")]
    [InlineData(Grpc.V1.AudioEncoding.EncodedFile, 16_000, 1, "ENCODED_FILE")]
    [InlineData(Grpc.V1.AudioEncoding.Linear16, 4_000, 1, "sample_rate_hertz")]
    [InlineData(Grpc.V1.AudioEncoding.Linear16, 96_000, 1, "sample_rate_hertz")]
    [InlineData(Grpc.V1.AudioEncoding.Linear16, 16_000, 9, "audio_channel_count")]
    public async Task StreamingRecognize_UnsupportedConfig_InvalidArgumentNamingTheField(Grpc.V1.AudioEncoding encoding, int rate, int channels, string field)
    {
        var config = ConfigRequest();
        config.StreamingConfig.Config.Encoding = encoding;
        config.StreamingConfig.Config.SampleRateHertz = rate;
        config.StreamingConfig.Config.AudioChannelCount = channels;
        var status = await FailingStreamAsync(config);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains(field, status.Detail);
    }

    [Fact]
    public async Task StreamingRecognize_UnknownModel_InvalidArgument()
    {
        var config = ConfigRequest();
        config.StreamingConfig.Config.Model = "whisper-large";
        var status = await FailingStreamAsync(config);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("whisper-large", status.Detail);
    }

    [Theory]
    [InlineData(AsrService.Server.GuardedAsrService.MaxRequestIdLength + 1, 'a')]
    [InlineData(10, '\u00e9')]
    [InlineData(10, '\n')]
    public async Task StreamingRecognize_RequestIdTooLongOrNotPrintableAscii_InvalidArgument(int length, char fill)
    {
        var config = ConfigRequest();
        config.StreamingConfig.Config.RequestId = new string(fill, length);
        var status = await FailingStreamAsync(config);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("request_id", status.Detail);
    }

    [Fact]
    public async Task StreamingRecognize_ChunkNotWholeSamples_InvalidArgument()
    {
        var status = await FailingStreamAsync(ConfigRequest(), new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(new byte[321]) });
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("frame", status.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [DataFact]
    public async Task StreamingRecognize_OneStreamFails_OthersFinishWithTheirTranscripts()
    {
        var samples = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var expected = OfflineText(samples, new VadOptions());
        var good = Enumerable.Range(0, 2).Select(_ => StreamAsync(Pcm16(samples), 3_200, interim: true)).ToList();
        var bad = FailingStreamAsync(ConfigRequest(), new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(new byte[3]) });

        Assert.Equal(StatusCode.InvalidArgument, (await bad).StatusCode);
        foreach (var responses in await Task.WhenAll(good))
        {
            Assert.Equal(expected, string.Join(' ', responses.SelectMany(r => r.Results).Where(r => r.IsFinal).Select(r => r.Alternatives[0].Transcript)));
        }
    }

    [DataFact]
    public async Task StreamingRecognize_ClientCancels_ServerReleasesTheStream()
    {
        var samples = TestData.Read(Path.Combine(TestData.Root!, Utterance));
        var audio = Pcm16(samples);
        using var cancellation = new CancellationTokenSource();
        using var call = Client.StreamingRecognize(new CallOptions(cancellationToken: cancellation.Token));
        await call.RequestStream.WriteAsync(ConfigRequest(interim: true), CancellationToken.None);
        await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(audio, 0, 64_000) }, CancellationToken.None);
        await WaitUntil(() => fixture.Service.ActiveStreams == 1);

        cancellation.Cancel();

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await WaitUntil(() => fixture.Service.ActiveStreams == 0);
    }

    [DataFact]
    public async Task StreamingRecognize_DeadlinePasses_DeadlineExceededAndStreamReleased()
    {
        using var call = Client.StreamingRecognize(new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(800)));
        await call.RequestStream.WriteAsync(ConfigRequest(), CancellationToken.None);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await WaitUntil(() => fixture.Service.ActiveStreams == 0);
    }

    [Fact]
    public async Task StreamingRecognize_MoreStreamsThanTheLimit_ResourceExhausted()
    {
        var open = new List<AsyncDuplexStreamingCall<StreamingRecognizeRequest, StreamingRecognizeResponse>>();
        try
        {
            for (var i = 0; i < ServerFixture.MaxStreams; i++)
            {
                var call = Client.StreamingRecognize(new CallOptions());
                await call.RequestStream.WriteAsync(ConfigRequest(), CancellationToken.None);
                open.Add(call);
            }

            await WaitUntil(() => fixture.Service.ActiveStreams == ServerFixture.MaxStreams);
            var status = await FailingStreamAsync(ConfigRequest());
            Assert.Equal(StatusCode.ResourceExhausted, status.StatusCode);
        }
        finally
        {
            foreach (var call in open)
            {
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }

                call.Dispose();
            }
        }

        await WaitUntil(() => fixture.Service.ActiveStreams == 0);
    }

    [DataFact]
    public async Task Recognize_EncodedWavFile_MatchesOfflineTranscription()
    {
        var path = Path.Combine(TestData.Root!, Utterance);
        var response = await Client.RecognizeAsync(new RecognizeRequest
        {
            Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.EncodedFile, RequestId = "r1" },
            AudioContent = ByteString.CopyFrom(File.ReadAllBytes(path)),
        });

        Assert.Equal("r1", response.RequestId);
        Assert.Equal(OfflineText(TestData.Read(path), VadOptions.CreateOffline()), string.Join(' ', response.Results.Select(r => r.Alternatives[0].Transcript)));
        Assert.InRange(response.AudioDuration.ToTimeSpan().TotalSeconds, 1, 60);
    }

    [Fact]
    public async Task Recognize_GarbageFile_InvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.RecognizeAsync(new RecognizeRequest
        {
            Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.EncodedFile },
            AudioContent = ByteString.CopyFrom(Enumerable.Range(0, 4000).Select(i => (byte)(i * 37)).ToArray()),
        }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task ListModels_Always_MarksTheLoadedModel()
    {
        var response = await Client.ListModelsAsync(new ListModelsRequest());
        var loaded = Assert.Single(response.Models, m => m.Loaded);
        Assert.Equal("tiny", loaded.Name);
        Assert.Equal("cpu", loaded.ExecutionProvider);
        Assert.Contains(response.Models, m => m.Name == "base" && !m.Loaded);
    }

    private string OfflineText(float[] samples, VadOptions vad)
    {
        var transcriber = new OfflineTranscriber(fixture.Models.Tiny, fixture.Models.VoiceActivity, vad);
        using var source = new MemoryAudioSource(samples, 16_000);
        return string.Join(' ', transcriber.Transcribe(source).Select(s => s.Text));
    }

    private static StreamingRecognizeRequest ConfigRequest(bool interim = false, bool events = false) => new()
    {
        StreamingConfig = new StreamingRecognitionConfig
        {
            Config = new RecognitionConfig { Encoding = Grpc.V1.AudioEncoding.Linear16, SampleRateHertz = 16_000, RequestId = "request-42" },
            InterimResults = interim,
            EnableVoiceActivityEvents = events,
        },
    };

    private async Task<List<StreamingRecognizeResponse>> StreamAsync(byte[] audio, int chunkBytes, bool interim, bool events = false)
    {
        using var call = Client.StreamingRecognize(new CallOptions());
        var receiving = Task.Run(async () =>
        {
            var responses = new List<StreamingRecognizeResponse>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                responses.Add(call.ResponseStream.Current);
            }

            return responses;
        });
        await call.RequestStream.WriteAsync(ConfigRequest(interim, events), CancellationToken.None);
        for (var offset = 0; offset < audio.Length; offset += chunkBytes)
        {
            var count = Math.Min(chunkBytes, audio.Length - offset);
            await call.RequestStream.WriteAsync(new StreamingRecognizeRequest { AudioContent = ByteString.CopyFrom(audio, offset, count) }, CancellationToken.None);
        }

        await call.RequestStream.CompleteAsync();
        var result = await receiving;
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        return result;
    }

    private async Task<Status> FailingStreamAsync(params StreamingRecognizeRequest[] requests)
    {
        using var call = Client.StreamingRecognize(new CallOptions());
        try
        {
            foreach (var request in requests)
            {
                await call.RequestStream.WriteAsync(request, CancellationToken.None);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server may end the call before every request is written; its status is read below.
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        output.WriteLine($"{error.StatusCode}: {error.Status.Detail}");
        return error.Status;
    }

    private static byte[] Pcm16(float[] samples)
    {
        var bytes = new byte[samples.Length * 2];
        for (var i = 0; i < samples.Length; i++)
        {
            var value = (short)Math.Clamp(MathF.Round(samples[i] * 32768f), short.MinValue, short.MaxValue);
            bytes[2 * i] = (byte)value;
            bytes[2 * i + 1] = (byte)(value >> 8);
        }

        return bytes;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition(), "condition not reached within 5 s");
    }
}
