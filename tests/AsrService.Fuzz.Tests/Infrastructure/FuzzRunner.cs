using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>
/// Runs a fuzz body over numbered cases on a watched thread. A case fails the run when its body throws (the body
/// catches the exceptions it allows), when the code under test allocates more than the budget, or when it runs
/// past <see cref="HangLimit"/>; the failure names the seed, the case and how to replay it.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>
    /// Longer than any case takes even on a loaded two-core machine (the slowest take milliseconds), so reaching it
    /// means a loop that does not end. The stuck thread is a background thread and dies with the test process.
    /// </summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(20);

    public static FuzzReport Run(
        int fixedSeed,
        Action<FuzzCase> body,
        Func<FuzzCase, long> allocationBudget,
        int? cases = null,
        [CallerFilePath] string callerFile = "",
        [CallerMemberName] string test = "")
    {
        string target = Target(callerFile, test);
        int seed = FuzzSettings.Seed(fixedSeed);
        var report = new FuzzReport(target, seed);
        var (first, end) = Range(cases ?? FuzzSettings.Cases);
        var progress = new Progress();
        Exception? failure = null;

        var stopwatch = Stopwatch.StartNew();
        TimeSpan processorTime = Environment.CpuUsage.TotalTime;
        var thread = new Thread(() =>
        {
            for (int index = first; index < end; index++)
            {
                var fuzzCase = new FuzzCase(seed, index);
                progress.Begin(fuzzCase);
                long started = Stopwatch.GetTimestamp();
                fuzzCase.Start();
                try
                {
                    body(fuzzCase);
                }
                catch (Exception exception)
                {
                    failure = Failure(target, fuzzCase, Reason(exception), exception);
                    return;
                }

                fuzzCase.Finish();
                TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
                long budget = allocationBudget(fuzzCase);
                if (fuzzCase.AllocatedBytes > budget)
                {
                    failure = Failure(
                        target,
                        fuzzCase,
                        $"the code under test allocated {fuzzCase.AllocatedBytes:N0} bytes; the budget for this input is {budget:N0}");
                    return;
                }

                report.Add(fuzzCase, elapsed);
            }
        })
        {
            IsBackground = true,
            Name = $"fuzz {target}",
        };
        thread.Start();

        while (!thread.Join(TimeSpan.FromMilliseconds(100)))
        {
            if (progress.Current is { } running && Stopwatch.GetElapsedTime(progress.StartTimestamp) > HangLimit)
            {
                throw Failure(target, running, $"still running after {HangLimit.TotalSeconds:F0} s: a hang");
            }
        }

        report.Elapsed = stopwatch.Elapsed;
        report.ProcessorTime = Environment.CpuUsage.TotalTime - processorTime;
        if (failure is not null)
        {
            throw failure;
        }

        return report;
    }

    /// <summary>Indices to run: all of them, or only the one <c>ASR_FUZZ_CASE</c> names.</summary>
    public static (int First, int End) Range(int cases) =>
        FuzzSettings.OnlyCase is int only ? (only, only + 1) : (0, cases);

    public static string Target(string callerFile, string test) =>
        $"{Path.GetFileNameWithoutExtension(callerFile)}.{test}";

    public static FuzzCaseFailedException Failure(string target, FuzzCase fuzzCase, string reason, Exception? inner = null)
    {
        var message = new StringBuilder();
        message.AppendLine($"{target}: case {fuzzCase.Index} of seed {fuzzCase.Seed} failed: {reason}");
        if (fuzzCase.Description is not null)
        {
            message.AppendLine($"input: {fuzzCase.Description}");
        }

        if (fuzzCase.Input is { } input)
        {
            message.AppendLine($"bytes ({input.Length}): {Hex(input, 96)}");
        }

        message.Append(
            $"reproduce: {FuzzSettings.SeedVariable}={fuzzCase.Seed} {FuzzSettings.CaseVariable}={fuzzCase.Index} " +
            $"dotnet test tests/AsrService.Fuzz.Tests --filter \"FullyQualifiedName~{target}\"");
        return new FuzzCaseFailedException(message.ToString(), inner);
    }

    public static string Reason(Exception exception) => $"{exception.GetType().FullName}: {exception.Message}";

    public static string Hex(ReadOnlySpan<byte> bytes, int maxBytes)
    {
        string hex = Convert.ToHexString(bytes[..Math.Min(bytes.Length, maxBytes)]);
        return bytes.Length > maxBytes ? hex + "..." : hex;
    }

    private sealed class Progress
    {
        private FuzzCase? _current;
        private long _startTimestamp;

        public FuzzCase? Current => Volatile.Read(ref _current);

        public long StartTimestamp => Volatile.Read(ref _startTimestamp);

        public void Begin(FuzzCase fuzzCase)
        {
            Volatile.Write(ref _startTimestamp, Stopwatch.GetTimestamp());
            Volatile.Write(ref _current, fuzzCase);
        }
    }
}
