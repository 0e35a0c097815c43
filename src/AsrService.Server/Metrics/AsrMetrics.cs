using AsrService.Grpc;

namespace AsrService.Server.Metrics;

/// <summary>
/// The service's Prometheus metrics. Real-time factor is exported as two counters (processing seconds and audio
/// seconds) so that any window can be computed: <c>rate(asr_processing_seconds_total[5m]) /
/// rate(asr_audio_seconds_total[5m])</c>.
/// </summary>
public sealed class AsrMetrics
{
    /// <summary>Latency buckets, in seconds: interim results take an encoder run, finals a full decode.</summary>
    private static readonly double[] s_latencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public AsrMetrics(string modelName, string executionProvider)
    {
        Registry = new MetricRegistry();
        ModelInfo = Registry.Add(new Gauge("asr_model_info", "The loaded model and where it runs (always 1).", "model", "execution_provider"));
        ModelInfo.WithLabels(modelName, executionProvider).Set(1);
        StreamsActive = Registry.Add(new Gauge("asr_streams_active", "StreamingRecognize calls open now."));
        Streams = Registry.Add(new Counter("asr_streams_total", "StreamingRecognize calls ended, by gRPC status code.", "code"));
        Requests = Registry.Add(new Counter("asr_requests_total", "asr.v1 calls ended, by method and gRPC status code.", "method", "code"));
        Errors = Registry.Add(new Counter("asr_errors_total", "asr.v1 calls that ended with a status other than OK, by status code.", "code"));
        LimitsHit = Registry.Add(new Counter("asr_stream_limits_total",
            "Streams ended by a server limit: max_duration, idle_timeout, real_time, slow_reader, shutdown_grace.", "limit"));
        AudioSeconds = Registry.Add(new Counter("asr_audio_seconds_total", "Seconds of audio received, by method.", "method"));
        ProcessingSeconds = Registry.Add(new Counter("asr_processing_seconds_total",
            "Seconds spent recognizing (handler time, waits for the decoder included), by method; divide by asr_audio_seconds_total for the real-time factor.",
            "method"));
        InterimLatency = Registry.Add(new Histogram("asr_interim_latency_seconds",
            "From receiving the audio chunk behind an interim result to writing the result.", s_latencyBuckets));
        FinalLatency = Registry.Add(new Histogram("asr_final_latency_seconds",
            "From receiving the audio that closed a segment (or the end of the stream) to writing its final result.", s_latencyBuckets));
        InterimsDropped = Registry.Add(new Counter("asr_interim_results_dropped_total",
            "Interim results not sent because a newer one replaced them in a slow client's response queue."));
        ResponseQueueDepth = Registry.Add(new Gauge("asr_response_queue_depth", "Responses waiting in all streams' response queues."));
        Draining = Registry.Add(new Gauge("asr_draining", "1 while the server drains for shutdown, else 0."));
    }

    /// <summary>Every metric; extra ones (e.g. a decoder scheduler's queue depth) may be added with <see cref="MetricRegistry.Add"/>.</summary>
    public MetricRegistry Registry { get; }

    public Gauge ModelInfo { get; }

    public Gauge StreamsActive { get; }

    public Counter Streams { get; }

    public Counter Requests { get; }

    public Counter Errors { get; }

    public Counter LimitsHit { get; }

    public Counter AudioSeconds { get; }

    public Counter ProcessingSeconds { get; }

    public Histogram InterimLatency { get; }

    public Histogram FinalLatency { get; }

    public Counter InterimsDropped { get; }

    public Gauge ResponseQueueDepth { get; }

    public Gauge Draining { get; }

    /// <summary>Records the end of a call.</summary>
    public void CallEnded(string method, StatusCode code, double audioSeconds, double processingSeconds)
    {
        var name = CodeName(code);
        Requests.WithLabels(method, name).Inc();
        if (method == AsrMethods.StreamingRecognize)
        {
            Streams.WithLabels(name).Inc();
        }

        if (code != StatusCode.OK)
        {
            Errors.WithLabels(name).Inc();
        }

        if (audioSeconds > 0)
        {
            AudioSeconds.WithLabels(method).Inc(audioSeconds);
        }

        if (processingSeconds > 0)
        {
            ProcessingSeconds.WithLabels(method).Inc(processingSeconds);
        }
    }

    /// <summary>The canonical name of a status code, as gRPC documents and other servers' metrics print it.</summary>
    public static string CodeName(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        _ => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>The asr.v1 method names used as metric labels.</summary>
public static class AsrMethods
{
    public const string StreamingRecognize = "StreamingRecognize";
    public const string Recognize = "Recognize";
    public const string ListModels = "ListModels";
}

/// <summary>Limit names of <see cref="AsrMetrics.LimitsHit"/>.</summary>
public static class StreamLimitNames
{
    public const string MaxDuration = "max_duration";
    public const string IdleTimeout = "idle_timeout";
    public const string RealTime = "real_time";
    public const string SlowReader = "slow_reader";
    public const string ShutdownGrace = "shutdown_grace";
}
