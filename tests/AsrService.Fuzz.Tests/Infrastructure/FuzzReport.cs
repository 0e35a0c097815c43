using System.Text;

namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>What a fuzz run did: counts per outcome, the slowest case and the most allocating one.</summary>
internal sealed class FuzzReport
{
    private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);

    public FuzzReport(string target, int seed)
    {
        Target = target;
        Seed = seed;
    }

    public string Target { get; }

    public int Seed { get; }

    public int Cases { get; private set; }

    public TimeSpan Elapsed { get; set; }

    /// <summary>Processor time of the whole test process meanwhile: on a loaded machine a truer measure than <see cref="Elapsed"/>.</summary>
    public TimeSpan ProcessorTime { get; set; }

    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;

    public int SlowestCase { get; private set; } = -1;

    public TimeSpan SlowestTime { get; private set; }

    public int MostAllocatingCase { get; private set; } = -1;

    public long MostAllocatedBytes { get; private set; }

    public int Count(string outcome) => _outcomes.TryGetValue(outcome, out int count) ? count : 0;

    /// <summary>
    /// Fails unless more than <paramref name="fraction"/> of the cases reached <paramref name="outcomes"/>: a
    /// generator whose inputs all fail the first check tests nothing behind it. Not checked for runs of fewer than
    /// 1,000 cases (a replayed case, say), where the share says nothing.
    /// </summary>
    public void RequireReach(double fraction, string what, params string[] outcomes)
    {
        if (Cases < 1000)
        {
            return;
        }

        int reached = outcomes.Sum(Count);
        Assert.True(reached > fraction * Cases, $"{Target}: only {reached} of {Cases} cases {what}; the generator does not get far enough");
    }

    public void Add(FuzzCase fuzzCase, TimeSpan elapsed)
    {
        Cases++;
        _outcomes[fuzzCase.Outcome] = Count(fuzzCase.Outcome) + 1;
        if (elapsed > SlowestTime)
        {
            SlowestTime = elapsed;
            SlowestCase = fuzzCase.Index;
        }

        if (fuzzCase.AllocatedBytes > MostAllocatedBytes)
        {
            MostAllocatedBytes = fuzzCase.AllocatedBytes;
            MostAllocatingCase = fuzzCase.Index;
        }
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append($"{Target}: {Cases} cases, seed {Seed}, {Elapsed.TotalSeconds:F2} s ({ProcessorTime.TotalSeconds:F2} s processor time);");
        foreach (var (outcome, count) in _outcomes)
        {
            text.Append($" {outcome}={count}");
        }

        text.Append($"; slowest case {SlowestCase} ({SlowestTime.TotalMilliseconds:F1} ms)");
        if (MostAllocatingCase >= 0)
        {
            text.Append($"; most allocating case {MostAllocatingCase} ({MostAllocatedBytes / 1024.0:F0} KiB)");
        }

        return text.ToString();
    }
}
