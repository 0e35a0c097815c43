namespace AsrService.Core.Recognition;

/// <summary>
/// A decoder that scores several hypotheses in one call: the hypotheses are the rows (the batch dimension) of each
/// call, and the model keeps their caches. Implemented next to the model runtime; the search itself is
/// <see cref="BeamSearch"/>.
/// </summary>
public interface IBeamSearchModel
{
    /// <summary>Runs the decoder on begin-of-sequence alone and returns one row of logits.</summary>
    ReadOnlySpan<float> Start();

    /// <summary>
    /// Runs one step for <c>parents.Length</c> hypotheses: row <c>i</c> continues the hypothesis that was row
    /// <c>parents[i]</c> of the previous call with the token <c>tokens[i]</c>. Returns the rows' logits, one row of
    /// vocabulary size after another, valid until the next call.
    /// </summary>
    ReadOnlySpan<float> Step(ReadOnlySpan<int> parents, ReadOnlySpan<int> tokens);
}

/// <summary>The best hypothesis of a beam search: its tokens (without end-of-sequence) and log-probability.</summary>
public sealed record BeamHypothesis(int[] Tokens, double LogProbability, bool Finished)
{
    /// <summary>Tokens scored, counting the end-of-sequence token of a finished hypothesis.</summary>
    public int ScoredLength => Tokens.Length + (Finished ? 1 : 0);

    /// <summary>Log-probability per scored token: the score hypotheses of different lengths are ranked by.</summary>
    public double NormalizedScore => ScoredLength == 0 ? double.NegativeInfinity : LogProbability / ScoredLength;
}

/// <summary>
/// Beam search over an <see cref="IBeamSearchModel"/>. Each step keeps the <c>beamSize</c> best continuations of all
/// live hypotheses by total log-probability; a continuation with end-of-sequence among the best <c>beamSize</c>
/// finishes a hypothesis instead of taking a row. The search stops once <c>beamSize</c> hypotheses have finished (or
/// the live ones reach the token budget), and returns the one with the best log-probability per token, so that
/// short hypotheses are not favoured just for having fewer factors. With a beam of one this is greedy decoding.
/// Buffers are sized once per search; one instance serves one stream at a time.
/// </summary>
public sealed class BeamSearch
{
    public const int MaxBeamSize = 16;

    private readonly int _beamSize;
    private readonly int _vocabularySize;
    private readonly int _endOfSequence;
    private readonly int _perRow;
    private readonly float[] _rowTopLogits;
    private readonly int[] _rowTopTokens;
    private readonly double[] _candidateScores;
    private readonly int[] _candidateOrder;
    private readonly int[] _candidateParents;
    private readonly int[] _candidateTokens;
    private readonly double[] _scores;
    private readonly double[] _nextScores;
    private readonly int[] _parents;
    private readonly int[] _tokens;
    private int[] _history = [];
    private int[] _nextHistory = [];

    public BeamSearch(int beamSize, int vocabularySize, int endOfSequence = TokenDecoder.EndOfSequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(beamSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(beamSize, MaxBeamSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 2);
        _beamSize = beamSize;
        _vocabularySize = vocabularySize;
        _endOfSequence = endOfSequence;

        // Each row offers its beamSize + 1 best tokens: even if one of them is end-of-sequence, the row alone can
        // still fill the beam, which is what the first step (one row) needs.
        _perRow = Math.Min(beamSize + 1, vocabularySize);
        _rowTopLogits = new float[_perRow];
        _rowTopTokens = new int[_perRow];
        var candidates = beamSize * _perRow;
        _candidateScores = new double[candidates];
        _candidateOrder = new int[candidates];
        _candidateParents = new int[candidates];
        _candidateTokens = new int[candidates];
        _scores = new double[beamSize];
        _nextScores = new double[beamSize];
        _parents = new int[beamSize];
        _tokens = new int[beamSize];
    }

    public int BeamSize => _beamSize;

    /// <summary>Searches until <see cref="BeamSize"/> hypotheses end or the live ones hold <paramref name="maxTokens"/> tokens.</summary>
    public BeamHypothesis Decode(IBeamSearchModel model, int maxTokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        if (_history.Length < _beamSize * maxTokens)
        {
            _history = new int[_beamSize * maxTokens];
            _nextHistory = new int[_beamSize * maxTokens];
        }

        BeamHypothesis? best = null;
        var finished = 0;
        var rows = 1;
        var length = 0;
        _scores[0] = 0;
        var logits = model.Start();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = CollectCandidates(logits, rows);
            var live = 0;
            for (var rank = 0; rank < count && live < _beamSize; rank++)
            {
                var candidate = _candidateOrder[rank];
                var parent = _candidateParents[candidate];
                var token = _candidateTokens[candidate];
                if (token == _endOfSequence)
                {
                    if (rank < _beamSize)
                    {
                        finished++;
                        best = Better(best, new BeamHypothesis(_history.AsSpan(parent * maxTokens, length).ToArray(), _candidateScores[candidate], true));
                    }

                    continue;
                }

                _history.AsSpan(parent * maxTokens, length).CopyTo(_nextHistory.AsSpan(live * maxTokens));
                _nextHistory[live * maxTokens + length] = token;
                _nextScores[live] = _candidateScores[candidate];
                _parents[live] = parent;
                _tokens[live] = token;
                live++;
            }

            (_history, _nextHistory) = (_nextHistory, _history);
            _nextScores.AsSpan(0, live).CopyTo(_scores);
            length++;
            if (finished >= _beamSize || live == 0)
            {
                break;
            }

            if (length == maxTokens)
            {
                // Out of budget: the live hypotheses compete unfinished, as greedy decoding's would be cut off.
                for (var row = 0; row < live; row++)
                {
                    best = Better(best, new BeamHypothesis(_history.AsSpan(row * maxTokens, length).ToArray(), _scores[row], false));
                }

                break;
            }

            logits = model.Step(_parents.AsSpan(0, live), _tokens.AsSpan(0, live));
            rows = live;
        }

        return best ?? new BeamHypothesis([], 0, false);
    }

    /// <summary>
    /// Scores the best continuations of every row (total log-probability of the hypothesis plus the token) and sorts
    /// them, best first, into <see cref="_candidateOrder"/>. Returns how many there are.
    /// </summary>
    private int CollectCandidates(ReadOnlySpan<float> logits, int rows)
    {
        if (logits.Length != rows * _vocabularySize)
        {
            throw new InvalidOperationException($"the model returned {logits.Length} logits for {rows} rows of {_vocabularySize}");
        }

        var count = 0;
        for (var row = 0; row < rows; row++)
        {
            var rowLogits = logits.Slice(row * _vocabularySize, _vocabularySize);
            var logNormalizer = Logits.LogSumExp(rowLogits);
            var found = TopTokens(rowLogits);
            for (var i = 0; i < found; i++)
            {
                _candidateScores[count] = _scores[row] + (_rowTopLogits[i] - logNormalizer);
                _candidateParents[count] = row;
                _candidateTokens[count] = _rowTopTokens[i];
                _candidateOrder[count] = count;
                count++;
            }
        }

        // Best first; ties go to the earlier row and the lower token, so the search is deterministic.
        _candidateOrder.AsSpan(0, count).Sort(new CandidateOrder(_candidateScores, _candidateParents, _candidateTokens));
        return count;
    }

    /// <summary>The row's <see cref="_perRow"/> largest logits, largest first (lower token first on ties).</summary>
    private int TopTokens(ReadOnlySpan<float> row)
    {
        var found = 0;
        for (var token = 0; token < row.Length; token++)
        {
            var value = row[token];
            if (found == _perRow && !(value > _rowTopLogits[found - 1]))
            {
                continue;
            }

            if (float.IsNaN(value))
            {
                continue;
            }

            var at = found == _perRow ? found - 1 : found++;
            while (at > 0 && value > _rowTopLogits[at - 1])
            {
                _rowTopLogits[at] = _rowTopLogits[at - 1];
                _rowTopTokens[at] = _rowTopTokens[at - 1];
                at--;
            }

            _rowTopLogits[at] = value;
            _rowTopTokens[at] = token;
        }

        return found;
    }

    private readonly struct CandidateOrder(double[] scores, int[] parents, int[] tokens) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            var byScore = scores[b].CompareTo(scores[a]);
            if (byScore != 0)
            {
                return byScore;
            }

            var byParent = parents[a].CompareTo(parents[b]);
            return byParent != 0 ? byParent : tokens[a].CompareTo(tokens[b]);
        }
    }

    private static BeamHypothesis Better(BeamHypothesis? best, BeamHypothesis candidate) =>
        best is null || candidate.NormalizedScore > best.NormalizedScore ? candidate : best;
}
