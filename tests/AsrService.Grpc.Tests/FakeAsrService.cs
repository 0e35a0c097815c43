using AsrService.Grpc.V1;
using Google.Protobuf.WellKnownTypes;

namespace AsrService.Grpc.Tests;

/// <summary>
/// An asr.v1.Asr stand-in that "recognizes" byte counts: enough to check that the API's messages and call shapes
/// travel through foreign clients (the interop scripts' asr-* commands), and a short example of a service written
/// against <see cref="Asr.AsrBase"/>.
/// </summary>
internal sealed class FakeAsrService : Asr.AsrBase
{
    public override async Task StreamingRecognize(
        IAsyncStreamReader<StreamingRecognizeRequest> requestStream,
        IServerStreamWriter<StreamingRecognizeResponse> responseStream,
        ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token)
            || requestStream.Current.StreamingRequestCase != StreamingRecognizeRequest.StreamingRequestOneofCase.StreamingConfig)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The first message must carry streaming_config."));
        }

        var streaming = requestStream.Current.StreamingConfig;
        var config = streaming.Config ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "streaming_config.config is required."));
        if (config.Encoding is not AudioEncoding.Linear16 || config.SampleRateHertz is < 8000 or > 48000)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "This fake takes LINEAR16 at 8000-48000 Hz."));
        }

        var bytesPerSecond = 2.0 * config.SampleRateHertz * Math.Max(1, config.AudioChannelCount);
        var requestId = config.RequestId;
        long received = 0;
        var begun = false;
        while (await requestStream.MoveNext(token))
        {
            if (requestStream.Current.StreamingRequestCase != StreamingRecognizeRequest.StreamingRequestOneofCase.AudioContent)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "Only the first message may carry streaming_config."));
            }

            received += requestStream.Current.AudioContent.Length;
            if (!begun && streaming.EnableVoiceActivityEvents)
            {
                begun = true;
                await responseStream.WriteAsync(
                    new StreamingRecognizeResponse
                    {
                        SpeechEventType = StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityBegin,
                        SpeechEventOffset = Duration.FromTimeSpan(TimeSpan.Zero),
                        RequestId = requestId,
                    },
                    token);
            }

            if (streaming.InterimResults)
            {
                await responseStream.WriteAsync(Result($"bytes={received}", isFinal: false, received / bytesPerSecond, requestId), token);
            }
        }

        var final = Result($"bytes={received}", isFinal: true, received / bytesPerSecond, requestId);
        if (streaming.EnableVoiceActivityEvents)
        {
            final.SpeechEventType = StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityEnd;
            final.SpeechEventOffset = Duration.FromTimeSpan(TimeSpan.FromSeconds(received / bytesPerSecond));
        }

        await responseStream.WriteAsync(final, token);
    }

    public override Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context) =>
        Task.FromResult(new RecognizeResponse
        {
            RequestId = request.Config?.RequestId ?? string.Empty,
            Results =
            {
                new SpeechRecognitionResult { Alternatives = { new SpeechRecognitionAlternative { Transcript = $"file of {request.AudioContent.Length} bytes" } } },
            },
        });

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context) =>
        Task.FromResult(new ListModelsResponse
        {
            Models = { new ModelInfo { Name = "fake", Description = "counts bytes", SampleRateHertz = 16000, Loaded = true, ExecutionProvider = "CPU", IsDefault = true } },
        });

    private static StreamingRecognizeResponse Result(string transcript, bool isFinal, double endSeconds, string requestId) => new()
    {
        RequestId = requestId,
        Results =
        {
            new StreamingRecognitionResult
            {
                IsFinal = isFinal,
                Stability = isFinal ? 0f : 0.5f,
                ResultStartOffset = Duration.FromTimeSpan(TimeSpan.Zero),
                ResultEndOffset = Duration.FromTimeSpan(TimeSpan.FromSeconds(endSeconds)),
                Alternatives = { new SpeechRecognitionAlternative { Transcript = transcript, Confidence = 0.9f } },
            },
        },
    };
}
