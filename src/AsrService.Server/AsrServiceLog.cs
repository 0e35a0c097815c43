using Microsoft.Extensions.Logging;

namespace AsrService.Server;

/// <summary>Log messages of the recognition service. Never audio or transcript text.</summary>
internal static partial class AsrServiceLog
{
    [LoggerMessage(1, LogLevel.Information, "Stream started from {Peer} (request {RequestId}, {SampleRate} Hz {Encoding})")]
    public static partial void StreamStarted(ILogger logger, string peer, string requestId, int sampleRate, string encoding);

    [LoggerMessage(2, LogLevel.Information, "Stream ended (request {RequestId}, {AudioSeconds:F1} s of audio)")]
    public static partial void StreamEnded(ILogger logger, string requestId, double audioSeconds);

    [LoggerMessage(3, LogLevel.Information, "Recognized {AudioSeconds:F1} s of audio in {ProcessingSeconds:F2} s (request {RequestId})")]
    public static partial void Recognized(ILogger logger, string requestId, double audioSeconds, double processingSeconds);
}
