using AsrService.Core.Recognition;

namespace AsrService.Core.Tests.Recognition;

public sealed class BeamSearchTests
{
    // A five-token vocabulary: 0 unused, 1 begin, 2 end, 3 "a", 4 "b", 5 "c".
    private const int Vocabulary = 6;
    private const int End = TokenDecoder.EndOfSequence;
    private const int A = 3;
    private const int B = 4;
    private const int C = 5;

    /// <summary>
    /// Greedy decoding takes "a" (0.5 against 0.4) and ends with "a c" (0.5 x 0.3 x 0.9, -0.667 per token); "b" then
    /// end (0.4 x 0.95, -0.484 per token) is better, and a beam of two finds it.
    /// </summary>
    private static readonly Dictionary<string, double[]> s_trap = new()
    {
        [""] = Distribution((A, 0.5), (B, 0.4), (C, 0.05), (End, 0.05)),
        ["a"] = Distribution((C, 0.3), (A, 0.25), (B, 0.25), (End, 0.2)),
        ["a c"] = Distribution((End, 0.9), (A, 0.1)),
        ["b"] = Distribution((End, 0.95), (C, 0.05)),
    };

    [Fact]
    public void Decode_OneBeam_IsGreedyDecoding()
    {
        var model = new ScriptedModel(s_trap);

        var best = new BeamSearch(1, Vocabulary).Decode(model, maxTokens: 10);

        Assert.Equal(Greedy(s_trap, 10), best.Tokens);
        Assert.Equal([A, C], best.Tokens);
        Assert.True(best.Finished);
    }

    [Fact]
    public void Decode_TwoBeams_FindsTheBetterHypothesisGreedyMisses()
    {
        var best = new BeamSearch(2, Vocabulary).Decode(new ScriptedModel(s_trap), maxTokens: 10);

        Assert.Equal([B], best.Tokens);
        Assert.Equal(Math.Log(0.4) + Math.Log(0.95), best.LogProbability, 6);
        Assert.Equal(2, best.ScoredLength);
    }

    [Fact]
    public void Decode_ReportsTheModelsLogProbabilityOfTheChosenTokens()
    {
        // Logits depend on the row's whole prefix, which the model rebuilds from the parents it is given: a search
        // that passed the wrong parents would be scored on the wrong prefixes. The best hypothesis, "b a", grows from
        // the second row of the first step.
        var script = new Dictionary<string, double[]>
        {
            [""] = Distribution((A, 0.4), (B, 0.35), (C, 0.25)),
            ["a"] = Distribution((C, 0.4), (B, 0.3), (End, 0.3)),
            ["b"] = Distribution((A, 0.5), (C, 0.5)),
            ["c"] = Distribution((C, 0.9), (End, 0.1)),
            ["a b"] = Distribution((C, 0.8), (End, 0.2)),
            ["a c"] = Distribution((C, 0.8), (End, 0.2)),
            ["b a"] = Distribution((End, 0.99), (A, 0.01)),
            ["b c"] = Distribution((End, 0.5), (B, 0.5)),
            ["c c"] = Distribution((End, 0.2), (C, 0.8)),
        };

        foreach (var beams in new[] { 2, 3, 4 })
        {
            var model = new ScriptedModel(script);
            var best = new BeamSearch(beams, Vocabulary).Decode(model, maxTokens: 6);

            Assert.Equal([B, A], best.Tokens);
            Assert.Equal(Score(script, best.Tokens, best.Finished), best.LogProbability, 6);
            Assert.True(model.Steps > 0);
        }
    }

    [Fact]
    public void Decode_NoEnd_StopsAtTheTokenBudgetUnfinished()
    {
        var script = new Dictionary<string, double[]> { [""] = Distribution((A, 0.6), (B, 0.4)) };
        var model = new ScriptedModel(script, fallback: Distribution((A, 0.7), (B, 0.2), (End, 0.1)));

        var best = new BeamSearch(3, Vocabulary).Decode(model, maxTokens: 5);

        Assert.Equal(5, best.Tokens.Length);
        Assert.False(best.Finished);
        Assert.Equal(4, model.Steps);
    }

    [Fact]
    public void Decode_EndFirst_ReturnsTheEmptyHypothesis()
    {
        var script = new Dictionary<string, double[]> { [""] = Distribution((End, 0.97), (A, 0.01), (B, 0.01), (C, 0.01)) };

        var best = new BeamSearch(2, Vocabulary).Decode(new ScriptedModel(script), maxTokens: 5);

        Assert.Empty(best.Tokens);
        Assert.True(best.Finished);
    }

    [Fact]
    public void Decode_LogitsOfTheWrongSize_Throws()
    {
        var model = new ScriptedModel(s_trap) { ExtraLogits = 1 };

        Assert.Throws<InvalidOperationException>(() => new BeamSearch(2, Vocabulary).Decode(model, 5));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(BeamSearch.MaxBeamSize + 1)]
    public void Constructor_BeamSizeOutOfRange_Throws(int beams) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamSearch(beams, Vocabulary));

    [Fact]
    public void InferenceOptions_BeamSizeOutOfRange_FailsValidation()
    {
        Assert.Throws<ArgumentException>(() => new InferenceOptions { BeamSize = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new InferenceOptions { BeamSize = 17 }.Validate());
        new InferenceOptions { BeamSize = 16 }.Validate();
    }

    private static double[] Distribution(params (int Token, double P)[] entries)
    {
        var p = new double[Vocabulary];
        foreach (var (token, probability) in entries)
        {
            p[token] = probability;
        }

        return p;
    }

    /// <summary>What the scripted model answers for a prefix its script does not mention.</summary>
    private static readonly double[] s_unscripted = Distribution((End, 0.5), (A, 0.5));

    private static double[] Lookup(Dictionary<string, double[]> script, IEnumerable<int> prefix, double[] fallback) =>
        script.TryGetValue(Key(prefix), out var p) ? p : fallback;

    private static string Key(IEnumerable<int> prefix) =>
        string.Join(' ', prefix.Select(token => token switch { A => "a", B => "b", C => "c", _ => "?" }));

    private static int[] Greedy(Dictionary<string, double[]> script, int maxTokens)
    {
        var tokens = new List<int>();
        while (tokens.Count < maxTokens)
        {
            var p = script[Key(tokens)];
            var next = Array.IndexOf(p, p.Max());
            if (next == End)
            {
                break;
            }

            tokens.Add(next);
        }

        return [.. tokens];
    }

    private static double Score(Dictionary<string, double[]> script, int[] tokens, bool finished)
    {
        var sum = 0.0;
        for (var i = 0; i <= tokens.Length; i++)
        {
            var next = i < tokens.Length ? tokens[i] : finished ? End : -1;
            if (next >= 0)
            {
                sum += Math.Log(Lookup(script, tokens.Take(i), s_unscripted)[next]);
            }
        }

        return sum;
    }

    /// <summary>
    /// A model scripted by prefix: the logits of a row are the log-probabilities the script gives that row's prefix,
    /// shifted by an arbitrary constant (the search must normalise them itself). Rows' prefixes are tracked from the
    /// parents and tokens each step passes.
    /// </summary>
    private sealed class ScriptedModel(Dictionary<string, double[]> script, double[]? fallback = null) : IBeamSearchModel
    {
        private List<int[]> _rows = [];
        private float[] _logits = [];

        public int Steps { get; private set; }

        public int ExtraLogits { get; init; }

        public ReadOnlySpan<float> Start()
        {
            _rows = [[]];
            return Fill();
        }

        public ReadOnlySpan<float> Step(ReadOnlySpan<int> parents, ReadOnlySpan<int> tokens)
        {
            Steps++;
            var next = new List<int[]>();
            for (var i = 0; i < parents.Length; i++)
            {
                next.Add([.. _rows[parents[i]], tokens[i]]);
            }

            _rows = next;
            return Fill();
        }

        private float[] Fill()
        {
            _logits = new float[_rows.Count * Vocabulary + ExtraLogits];
            for (var row = 0; row < _rows.Count; row++)
            {
                var p = Lookup(script, _rows[row], fallback ?? s_unscripted);
                for (var token = 0; token < Vocabulary; token++)
                {
                    _logits[row * Vocabulary + token] = (float)(p[token] > 0 ? Math.Log(p[token]) + 3.25 : -1e30);
                }
            }

            return _logits;
        }
    }
}
