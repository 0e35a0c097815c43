namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>
/// One generated input: its random source, what it was (for the failure message), and how it ended. A test sets
/// <see cref="Outcome"/> to name the expected ending it reached ("accepted", "rejected", a status code), so that the
/// summary shows whether the fuzzer reaches past the first check.
/// </summary>
internal sealed class FuzzCase
{
    private long _subjectStartBytes;

    public FuzzCase(int seed, int index)
    {
        Seed = seed;
        Index = index;
        Random = FuzzSettings.CaseRandom(seed, index);
    }

    public int Seed { get; }

    public int Index { get; }

    public Random Random { get; }

    /// <summary>The bytes under test, shown (abridged) when the case fails.</summary>
    public byte[]? Input { get; set; }

    /// <summary>What the generator chose (encoding, mutations...), shown when the case fails.</summary>
    public string? Description { get; set; }

    public string Outcome { get; set; } = "ok";

    /// <summary>Bytes the code under test allocated, from <see cref="BeginSubject"/> (or the case's start) to its end.</summary>
    public long AllocatedBytes { get; private set; }

    /// <summary>Marks where generating the input ends and the code under test begins, for the allocation budget.</summary>
    public void BeginSubject() => _subjectStartBytes = GC.GetAllocatedBytesForCurrentThread();

    internal void Start() => _subjectStartBytes = GC.GetAllocatedBytesForCurrentThread();

    internal void Finish() => AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - _subjectStartBytes;
}
