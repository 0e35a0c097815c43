using System.Diagnostics;

namespace AsrService.Onnx;

/// <summary>
/// Process-wide time spent inside ONNX Runtime's Run calls, so that tools can report how much of the processing time
/// is ours: in all, and for the recognizer alone against the time its sessions spent recognizing (the decode loop's
/// own share). Two timestamp reads and one or two interlocked adds per run: negligible next to a run's cost.
/// </summary>
public static class OnnxRunClock
{
    private static long s_ticks;
    private static long s_recognizerTicks;
    private static long s_recognizeTicks;

    /// <summary>Total time inside ONNX Runtime runs since the process started (summed over threads).</summary>
    public static TimeSpan Total => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref s_ticks));

    /// <summary>The part of <see cref="Total"/> spent in the recognizer's encoder and decoder runs.</summary>
    public static TimeSpan Recognizer => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref s_recognizerTicks));

    /// <summary>
    /// Time inside recognizer sessions' <c>Recognize</c> calls (encoder, decode loop and detokenizing, summed over
    /// threads); <see cref="Recognizer"/> over this is ONNX Runtime's share of decoding.
    /// </summary>
    public static TimeSpan Recognizing => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref s_recognizeTicks));

    internal static long Start() => Stopwatch.GetTimestamp();

    /// <summary>Ends a run outside the recognizer (the voice-activity model).</summary>
    internal static void Stop(long started) => Interlocked.Add(ref s_ticks, Stopwatch.GetTimestamp() - started);

    /// <summary>Ends an encoder or decoder run.</summary>
    internal static void StopRecognizer(long started)
    {
        var elapsed = Stopwatch.GetTimestamp() - started;
        Interlocked.Add(ref s_ticks, elapsed);
        Interlocked.Add(ref s_recognizerTicks, elapsed);
    }

    /// <summary>Ends a whole <c>Recognize</c> call.</summary>
    internal static void StopRecognizing(long started) => Interlocked.Add(ref s_recognizeTicks, Stopwatch.GetTimestamp() - started);
}
