using System.Security.Cryptography;
using AsrService.Core.Recognition;
using AsrService.Grpc;
using AsrService.Grpc.V1;
using AsrService.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// asr.v1.Asr as clients reach it: <see cref="AsrGrpcService"/> (which recognizes) inside what every call goes through
/// first: authentication, the shutdown drain, the per-stream limits (<see cref="StreamInput"/>) and bounded response
/// queue (<see cref="ResponseQueue"/>), a log scope with the call's id, and metrics. Under Grpc.AspNetCore this would be
/// an interceptor; kept apart from recognition either way so that each reads on its own.
/// </summary>
/// <remarks>
/// Order per call: UNAUTHENTICATED before anything is read; UNAVAILABLE while draining; then the first message (for
/// streams) so that PERMISSION_DENIED can name the model and the call can be named by its request_id. A call without
/// request_id gets a generated one, echoed in every response (as asr.proto promises) and in the <c>asr-call-id</c>
/// trailer.
/// </remarks>
internal sealed class GuardedAsrService : Asr.AsrBase
{
    /// <summary>Trailer carrying the call's id, so that a client can quote it to whoever reads the server's logs.</summary>
    public const string CallIdTrailer = "asr-call-id";

    private const int MaxLoggedIdLength = 128;

    private readonly AsrGrpcService _inner;
    private readonly ISpeechRecognizer _recognizer;
    private readonly AsrServiceOptions _options;
    private readonly ApiKeyAuthenticator _authenticator;
    private readonly ShutdownDrain _drain;
    private readonly AsrMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public GuardedAsrService(
        AsrGrpcService inner,
        ISpeechRecognizer recognizer,
        AsrServiceOptions options,
        ApiKeyAuthenticator authenticator,
        ShutdownDrain drain,
        AsrMetrics metrics,
        TimeProvider time,
        ILogger<GuardedAsrService> logger)
    {
        _inner = inner;
        _recognizer = recognizer;
        _options = options;
        _authenticator = authenticator;
        _drain = drain;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    public override async Task StreamingRecognize(
        IAsyncStreamReader<StreamingRecognizeRequest> requestStream,
        IServerStreamWriter<StreamingRecognizeResponse> responseStream,
        ServerCallContext context)
    {
        const string Method = AsrMethods.StreamingRecognize;
        var started = _time.GetTimestamp();
        StreamInput? input = null;
        ResponseQueue? queue = null;
        IDisposable? scope = null;
        var processing = TimeSpan.Zero;
        var code = StatusCode.OK;
        try
        {
            var key = Authenticate(context, Method);
            using var lease = _drain.EnterCall();
            input = new StreamInput(requestStream, _options, _time, context.CancellationToken, _drain.GraceExpired);
            var first = await input.ReadFirstAsync().ConfigureAwait(false);
            var callId = NewCallId();
            if (first?.StreamingConfig?.Config is { } config)
            {
                Authorize(key, config.Model, context, Method);
                callId = EnsureRequestId(config);
                input.Configure(first.StreamingConfig);
            }

            scope = AsrServiceLog.BeginCallScope(_logger, LoggableId(callId), Method);
            context.ResponseTrailers.Add(CallIdTrailer, callId);
            _metrics.StreamsActive.Inc();
            try
            {
                var reader = input;
                queue = new ResponseQueue(responseStream, _options, _time, () => reader.LastInputTimestamp, _metrics, _logger, context.CancellationToken);
                try
                {
                    await _inner.StreamingRecognize(input, queue, context).ConfigureAwait(false);
                    processing = input.HandlerTime + (input.InputEnded ? _time.GetElapsedTime(input.LastInputTimestamp) : TimeSpan.Zero);
                    await queue.CompleteAsync(context.CancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    await queue.AbortAsync().ConfigureAwait(false);
                }

                if (input.EndStatus is { } status)
                {
                    // A limit ended the input after the final results went out; now the call ends with its status.
                    throw new RpcException(status);
                }
            }
            finally
            {
                _metrics.StreamsActive.Dec();
            }
        }
        catch (Exception e)
        {
            code = Classify(e, context);
            throw;
        }
        finally
        {
            if (processing == TimeSpan.Zero && input is not null)
            {
                processing = input.HandlerTime;
            }

            // A slow reader fails the call even after another limit ended the input: its status is the one sent.
            var limit = queue?.SlowReaderDetected == true ? StreamLimitNames.SlowReader : input?.LimitHit;
            if (limit is not null && code != StatusCode.OK)
            {
                _metrics.LimitsHit.WithLabels(limit).Inc();
            }

            Finish(Method, code, started, input?.AudioSeconds ?? 0, processing, limit);
            input?.Dispose();
            scope?.Dispose();
        }
    }

    public override async Task<RecognizeResponse> Recognize(RecognizeRequest request, ServerCallContext context)
    {
        const string Method = AsrMethods.Recognize;
        var started = _time.GetTimestamp();
        IDisposable? scope = null;
        var audioSeconds = 0.0;
        var code = StatusCode.OK;
        try
        {
            var key = Authenticate(context, Method);
            using var lease = _drain.EnterCall();
            var callId = NewCallId();
            if (request.Config is { } config)
            {
                Authorize(key, config.Model, context, Method);
                callId = EnsureRequestId(config);
            }

            scope = AsrServiceLog.BeginCallScope(_logger, LoggableId(callId), Method);
            context.ResponseTrailers.Add(CallIdTrailer, callId);

            // A whole recording cannot be finalised part-way: when the grace period ends it is cancelled.
            using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _drain.GraceExpired);
            try
            {
                var response = await _inner.Recognize(request, new CancellableCallContext(context, cancellation.Token)).ConfigureAwait(false);
                audioSeconds = response.AudioDuration?.ToTimeSpan().TotalSeconds ?? 0;
                return response;
            }
            catch (OperationCanceledException) when (_drain.GraceExpired.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Unavailable,
                    $"the server is shutting down and the {DurationText.Format(_options.ShutdownGracePeriod)} grace period ended before recognition finished; retry on another server"));
            }
        }
        catch (Exception e)
        {
            code = Classify(e, context);
            throw;
        }
        finally
        {
            Finish(Method, code, started, audioSeconds, _time.GetElapsedTime(started), null);
            scope?.Dispose();
        }
    }

    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        const string Method = AsrMethods.ListModels;
        var started = _time.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            Authenticate(context, Method);
            using var lease = _drain.EnterCall();
            return await _inner.ListModels(request, context).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            code = Classify(e, context);
            throw;
        }
        finally
        {
            Finish(Method, code, started, 0, TimeSpan.Zero, null);
        }
    }

    private static StatusCode Classify(Exception exception, ServerCallContext context) => exception switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.Deadline <= DateTime.UtcNow => StatusCode.DeadlineExceeded,
        OperationCanceledException => StatusCode.Cancelled,
        _ => StatusCode.Internal,
    };

    private static string NewCallId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>Longest request_id accepted: it is echoed in every response and in a trailer.</summary>
    public const int MaxRequestIdLength = 2048;

    private static string EnsureRequestId(RecognitionConfig config)
    {
        var id = config.RequestId;
        if (id.Length > MaxRequestIdLength || id.Any(c => c is < ' ' or > '~'))
        {
            // It goes into the asr-call-id trailer, so it must be a short, printable ASCII header value.
            throw RequestValidation.Invalid(
                $"config.request_id must be at most {MaxRequestIdLength} printable ASCII characters (got {id.Length} characters)");
        }

        if (id.Length == 0)
        {
            config.RequestId = NewCallId();
        }

        return config.RequestId;
    }

    /// <summary>A client's request_id as logs may carry it: bounded, on one line.</summary>
    private static string LoggableId(string id)
    {
        var text = id.Length > MaxLoggedIdLength ? id[..MaxLoggedIdLength] : id;
        return string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }

    private ApiKeyAuthenticator.ApiKey? Authenticate(ServerCallContext context, string method)
    {
        try
        {
            return _authenticator.Authenticate(context.RequestHeaders);
        }
        catch (RpcException e)
        {
            AsrServiceLog.Rejected(_logger, method, context.Peer, e.Status.Detail);
            throw;
        }
    }

    private void Authorize(ApiKeyAuthenticator.ApiKey? key, string requestedModel, ServerCallContext context, string method)
    {
        var model = requestedModel.Length > 0 ? requestedModel : _recognizer.ModelName;
        try
        {
            ApiKeyAuthenticator.Authorize(key, model);
        }
        catch (RpcException)
        {
            AsrServiceLog.Rejected(_logger, method, context.Peer, $"{key!.Name} may not use model '{LoggableId(model)}'");
            throw;
        }
    }

    private void Finish(string method, StatusCode code, long started, double audioSeconds, TimeSpan processing, string? limit)
    {
        _metrics.CallEnded(method, code, audioSeconds, processing.TotalSeconds);
        AsrServiceLog.CallEnded(_logger, method, AsrMetrics.CodeName(code), _time.GetElapsedTime(started).TotalSeconds, audioSeconds,
            limit is null ? string.Empty : $" (limit: {limit})");
    }
}
