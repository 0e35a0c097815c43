using System.Diagnostics;

namespace AsrService.Onnx;

/// <summary>
/// Process-wide time spent inside ONNX Runtime's Run calls, so that tools can report how much of the processing time
/// is ours. Two timestamp reads and one interlocked add per run: negligible next to a run's cost.
/// </summary>
public static class OnnxRunClock
{
    private static long s_ticks;

    /// <summary>Total time inside ONNX Runtime runs since the process started (summed over threads).</summary>
    public static TimeSpan Total => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref s_ticks));

    internal static long Start() => Stopwatch.GetTimestamp();

    internal static void Stop(long started) => Interlocked.Add(ref s_ticks, Stopwatch.GetTimestamp() - started);
}
