using System.Globalization;

namespace AsrService.Fuzz.Tests.Infrastructure;

/// <summary>
/// How many cases each fuzz test runs and which, from the environment, so that CI runs the fast default and a person
/// can run a million cases or replay the one that failed:
/// <list type="bullet">
/// <item><c>ASR_FUZZ_CASES</c>: cases per test (default 10,000).</item>
/// <item><c>ASR_FUZZ_SEED</c>: replaces every test's own fixed seed.</item>
/// <item><c>ASR_FUZZ_CASE</c>: runs only the case with this index (use with the seed a failure message names).</item>
/// </list>
/// </summary>
internal static class FuzzSettings
{
    public const string CasesVariable = "ASR_FUZZ_CASES";
    public const string SeedVariable = "ASR_FUZZ_SEED";
    public const string CaseVariable = "ASR_FUZZ_CASE";
    public const int DefaultCases = 10_000;

    public static int Cases { get; } = ReadInt(CasesVariable) ?? DefaultCases;

    public static int? SeedOverride { get; } = ReadInt(SeedVariable);

    public static int? OnlyCase { get; } = ReadInt(CaseVariable);

    /// <summary>The seed a test runs with: its own fixed one unless <c>ASR_FUZZ_SEED</c> says otherwise.</summary>
    public static int Seed(int fixedSeed) => SeedOverride ?? fixedSeed;

    /// <summary>
    /// The random source of one case, derived from the seed and the index alone, so that any case can be replayed
    /// without running the ones before it.
    /// </summary>
    public static Random CaseRandom(int seed, int index)
    {
        // SplitMix64's finaliser: neighbouring (seed, index) pairs give unrelated System.Random seeds.
        ulong x = ((ulong)(uint)seed << 32) | (uint)index;
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return new Random((int)(x & 0x7FFFFFFF));
    }

    private static int? ReadInt(string variable)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < 0)
        {
            throw new InvalidOperationException($"{variable}='{text}' is not a non-negative integer.");
        }

        return value;
    }
}
