using System.Diagnostics;
using AsrService.Core.Audio;
using AsrService.Core.Models;
using AsrService.Core.Pipeline;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// asr.v1.Asr: each StreamingRecognize call owns one <see cref="RecognitionStream"/> fed from the request stream;
/// the shared recognizer and voice-activity model are used by all calls. Core errors become gRPC status codes here
/// and nowhere else: bad configuration or audio is INVALID_ARGUMENT, too many calls RESOURCE_EXHAUSTED.
/// </summary>
public sealed class AsrGrpcService : Asr.AsrBase
{
    private readonly ISpeechRecognizer _recognizer;
    private readonly IVoiceActivityModel _voiceActivity;
    private readonly AsrServiceOptions _options;
    private readonly ILogger _logger;
    private readonly ModelManifest _manifest;
    private readonly DecodeScheduler _scheduler;
    private int _activeStreams;

    public AsrGrpcService(ISpeechRecognizer recognizer, IVoiceActivityModel voiceActivity, AsrServiceOptions options, DecodeScheduler scheduler, ILogger<AsrGrpcService> logger)
    {
        options.Validate();
        _scheduler = scheduler;
        _recognizer = recognizer;
        _voiceActivity = voiceActivity;
        _options = options;
        _logger = logger;
        _manifest = ModelManifest.Embedded;
    }

    /// <summary>Calls being decoded right now.</summary>
    public int ActiveStreams => Volatile.Read(ref _activeStreams);

    public override async Task StreamingRecognize(
        IAsyncStreamReader<StreamingRecognizeRequest> requestStream,
        IServerStreamWriter<StreamingRecognizeResponse> responseStream,
        ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw RequestValidation.Invalid("the stream ended before its first message; send streaming_config first");
        }

        if (requestStream.Current.StreamingRequestCase != StreamingRecognizeRequest.StreamingRequestOneofCase.StreamingConfig)
        {
            throw RequestValidation.Invalid("the first message must carry streaming_config; audio_content may follow only after it");
        }

        var streamingConfig = requestStream.Current.StreamingConfig;
        var config = streamingConfig.Config ?? throw RequestValidation.Invalid("streaming_config.config is required");
        RequestValidation.CheckModel(config, _recognizer.ModelName);
        var decoder = Convert(() => RequestValidation.PcmDecoder(config));
        var options = RequestValidation.Streaming(streamingConfig);
        options.EarlyFinals = _options.EarlyFinals;

        using var slot = AcquireStreamSlot();
        using var stream = new RecognitionStream(_recognizer, _voiceActivity, options, _scheduler);
        var events = new List<StreamingEvent>();
        var requestId = config.RequestId;
        AsrServiceLog.StreamStarted(_logger, context.Peer, requestId, config.SampleRateHertz, config.Encoding.ToString());

        while (await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var request = requestStream.Current;
            if (request.StreamingRequestCase != StreamingRecognizeRequest.StreamingRequestOneofCase.AudioContent)
            {
                throw RequestValidation.Invalid("streaming_config may be sent only once, in the first message");
            }

            // The decoder's buffer is reused by the next chunk; AcceptAsync copies the samples before it awaits anything.
            var samples = Convert(() => decoder.Decode(request.AudioContent.Span));
            await stream.AcceptAsync(samples, events, cancellationToken).ConfigureAwait(false);
            await WriteAsync(responseStream, events, requestId, cancellationToken).ConfigureAwait(false);
        }

        // Half-close: the client has sent everything; finish what is open and end with OK.
        await stream.AcceptAsync(decoder.Flush(), events, cancellationToken).ConfigureAwait(false);
        await stream.CompleteAsync(events, cancellationToken).ConfigureAwait(false);
        await WriteAsync(responseStream, events, requestId, cancellationToken).ConfigureAwait(false);
        AsrServiceLog.StreamEnded(_logger, requestId, stream.AcceptedSamples / 16_000.0);
    }

    public override Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context)
    {
        var config = request.Config ?? throw RequestValidation.Invalid("config is required");
        RequestValidation.CheckModel(config, _recognizer.ModelName);
        var vad = RequestValidation.Vad(config);
        using var slot = AcquireStreamSlot();
        var samples = Convert(() => ReadAudio(config, request.AudioContent));
        var maxSamples = (long)(_options.MaxRecognizeAudio.TotalSeconds * 16_000);
        if (samples.Length > maxSamples)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange,
                $"Recognize takes at most {_options.MaxRecognizeAudio.TotalSeconds:F0} s of audio; use StreamingRecognize for longer audio"));
        }

        var clock = Stopwatch.StartNew();
        var transcriber = new OfflineTranscriber(_recognizer, _voiceActivity, vad, _scheduler);
        using var source = new MemoryAudioSource(samples, 16_000);
        var response = new RecognizeResponse
        {
            RequestId = config.RequestId,
            AudioDuration = Duration.FromTimeSpan(TimeSpan.FromSeconds(samples.Length / 16_000.0)),
        };
        foreach (var segment in transcriber.Transcribe(source, cancellationToken: context.CancellationToken))
        {
            response.Results.Add(new SpeechRecognitionResult
            {
                Alternatives = { new SpeechRecognitionAlternative { Transcript = segment.Text, Confidence = segment.Confidence } },
                ResultStartOffset = Duration.FromTimeSpan(segment.Start),
                ResultEndOffset = Duration.FromTimeSpan(segment.End),
            });
        }

        response.TotalBilledTime = response.AudioDuration;
        AsrServiceLog.Recognized(_logger, config.RequestId, samples.Length / 16_000.0, clock.Elapsed.TotalSeconds);
        return Task.FromResult(response);
    }

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var response = new ListModelsResponse();
        foreach (var model in _manifest.Models.Where(m => m.Kind == "moonshine"))
        {
            var loaded = string.Equals(model.Name, _recognizer.ModelName, StringComparison.OrdinalIgnoreCase);
            response.Models.Add(new ModelInfo
            {
                Name = model.Name,
                Description = model.Description,
                SampleRateHertz = 16_000,
                Loaded = loaded,
                IsDefault = loaded,
                ExecutionProvider = loaded ? _recognizer.ExecutionProvider : string.Empty,
            });
        }

        if (!response.Models.Any(m => m.Loaded))
        {
            response.Models.Add(new ModelInfo
            {
                Name = _recognizer.ModelName,
                Description = "loaded from a folder",
                SampleRateHertz = 16_000,
                Loaded = true,
                IsDefault = true,
                ExecutionProvider = _recognizer.ExecutionProvider,
            });
        }

        return Task.FromResult(response);
    }

    private static float[] ReadAudio(RecognitionConfig config, ByteString audio)
    {
        if (audio.IsEmpty)
        {
            throw RequestValidation.Invalid("audio_content is empty");
        }

        if (config.Encoding == Grpc.V1.AudioEncoding.EncodedFile)
        {
            using var source = AudioFile.Open(new MemoryStream(audio.ToByteArray(), writable: false));
            return AudioFile.ReadAll(source);
        }

        return RequestValidation.PcmDecoder(config).DecodeAll(audio.Span);
    }

    private static T Convert<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (AudioFormatException e)
        {
            throw RequestValidation.Invalid(e.Message);
        }
    }

    private StreamSlot AcquireStreamSlot()
    {
        if (Interlocked.Increment(ref _activeStreams) > _options.MaxConcurrentStreams)
        {
            Interlocked.Decrement(ref _activeStreams);
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the server is decoding its maximum of {_options.MaxConcurrentStreams} streams; retry later or use another replica"));
        }

        return new StreamSlot(this);
    }

    private static async Task WriteAsync(
        IServerStreamWriter<StreamingRecognizeResponse> responseStream, List<StreamingEvent> events, string requestId, CancellationToken cancellationToken)
    {
        foreach (var item in events)
        {
            await responseStream.WriteAsync(ToResponse(item, requestId), cancellationToken).ConfigureAwait(false);
        }

        events.Clear();
    }

    internal static StreamingRecognizeResponse ToResponse(StreamingEvent item, string requestId)
    {
        var response = new StreamingRecognizeResponse { RequestId = requestId };
        switch (item.Kind)
        {
            case StreamingEventKind.SpeechBegin:
                response.SpeechEventType = StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityBegin;
                response.SpeechEventOffset = Duration.FromTimeSpan(item.Start);
                break;
            case StreamingEventKind.SpeechEnd:
                response.SpeechEventType = StreamingRecognizeResponse.Types.SpeechEventType.SpeechActivityEnd;
                response.SpeechEventOffset = Duration.FromTimeSpan(item.End);
                break;
            default:
                response.Results.Add(new StreamingRecognitionResult
                {
                    IsFinal = item.Kind == StreamingEventKind.FinalResult,
                    Stability = item.Stability,
                    ResultStartOffset = Duration.FromTimeSpan(item.Start),
                    ResultEndOffset = Duration.FromTimeSpan(item.End),
                    Alternatives = { new SpeechRecognitionAlternative { Transcript = item.Text, Confidence = item.Confidence } },
                });
                break;
        }

        return response;
    }

    private sealed class StreamSlot(AsrGrpcService owner) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref owner._activeStreams);
    }
}
