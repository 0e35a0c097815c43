using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>
/// Log messages of the recognition service. Never audio, never API keys, and transcript text only through
/// <see cref="FinalTranscript"/>, which runs only when <see cref="AsrServiceOptions.LogTranscripts"/> is set.
/// </summary>
internal static partial class AsrServiceLog
{
    [LoggerMessage(1, LogLevel.Information, "Stream started from {Peer} (request {RequestId}, {SampleRate} Hz {Encoding})")]
    public static partial void StreamStarted(ILogger logger, string peer, string requestId, int sampleRate, string encoding);

    [LoggerMessage(2, LogLevel.Information, "Stream ended (request {RequestId}, {AudioSeconds:F1} s of audio)")]
    public static partial void StreamEnded(ILogger logger, string requestId, double audioSeconds);

    [LoggerMessage(3, LogLevel.Information, "Recognized {AudioSeconds:F1} s of audio in {ProcessingSeconds:F2} s (request {RequestId})")]
    public static partial void Recognized(ILogger logger, string requestId, double audioSeconds, double processingSeconds);

    [LoggerMessage(4, LogLevel.Information, "{Method} ended with {StatusCode} after {Seconds:F2} s ({AudioSeconds:F1} s of audio){Limit}")]
    public static partial void CallEnded(ILogger logger, string method, string statusCode, double seconds, double audioSeconds, string limit);

    [LoggerMessage(5, LogLevel.Warning, "Rejected {Method} from {Peer}: {Reason}")]
    public static partial void Rejected(ILogger logger, string method, string peer, string reason);

    [LoggerMessage(6, LogLevel.Warning, "Client is not reading responses: {Capacity} queued responses waited more than {Seconds:F1} s; ending the stream")]
    public static partial void SlowReader(ILogger logger, int capacity, double seconds);

    [LoggerMessage(7, LogLevel.Information, "Final result {Start:F2}-{End:F2} s: {Transcript}")]
    public static partial void FinalTranscript(ILogger logger, double start, double end, string transcript);

    [LoggerMessage(8, LogLevel.Information, "Shutting down: health is NOT_SERVING, new calls get UNAVAILABLE, {OpenCalls} open calls have {GraceSeconds:F0} s to finish")]
    public static partial void DrainStarted(ILogger logger, int openCalls, double graceSeconds);

    [LoggerMessage(9, LogLevel.Warning, "Grace period over with {OpenCalls} calls open: streams are finalised and ended with UNAVAILABLE")]
    public static partial void GracePeriodEnded(ILogger logger, int openCalls);

    [LoggerMessage(10, LogLevel.Information, "All calls ended; stopping the listeners")]
    public static partial void Drained(ILogger logger);

    [LoggerMessage(11, LogLevel.Warning, "Shutdown timeout reached with {OpenCalls} calls open; they are aborted")]
    public static partial void DrainTimedOut(ILogger logger, int openCalls);

    [LoggerMessage(12, LogLevel.Information, "Metrics on http://{Address}/metrics")]
    public static partial void MetricsListening(ILogger logger, string address);

    [LoggerMessage(13, LogLevel.Warning, "No API keys are configured: every client may call asr.v1 (set --api-key or --api-keys-file)")]
    public static partial void NoAuthentication(ILogger logger);

    /// <summary>
    /// A scope naming the call, so that every log line of the call (and of the transport under it) carries its id:
    /// the client's request_id, or one the server made up and sent back.
    /// </summary>
    public static IDisposable? BeginCallScope(ILogger logger, string callId, string method) =>
        logger.BeginScope(new CallScope(callId, method));

    private sealed class CallScope(string callId, string method) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 2;

        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("CallId", callId),
            1 => new("Method", method),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
            yield return this[1];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"call {callId} ({method})";
    }
}
