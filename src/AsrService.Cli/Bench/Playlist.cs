namespace AsrService.Cli.Bench;

/// <summary>
/// What one bench stream plays: every pass plays each utterance once, in an order shuffled afresh for each pass; the
/// first pass starts part-way through, and the silence after each utterance varies around the requested gap. All of
/// it comes from a generator seeded by the run's seed and the stream's index, so a run replays.
/// </summary>
/// <remarks>
/// Streams must not stay in step. If every stream played full passes with fixed gaps, each pass would last the same
/// (567.5 s for the 60 dev-set utterances with 2 s gaps), and the streams, started within a second of each other,
/// would all end a pass, and so an utterance, at the same moment once every 9.5 minutes: a burst of finals that a
/// soak shows as a p95 spike in minutes 10, 19 and 29, whatever the order inside the passes. Random first-pass
/// starts spread the pass ends over the whole cycle, and gaps drawn from 0.5-1.5 times the mean keep them apart.
/// </remarks>
internal sealed class Playlist
{
    private readonly Random _random;
    private readonly int[] _order;
    private int _position;

    public Playlist(int count, int seed, int stream)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);

        // Not HashCode.Combine: it is randomised per process, and a seed must replay the same orders in every run.
        _random = new Random(unchecked((seed * 1_000_003) + stream));
        _order = Enumerable.Range(0, count).ToArray();
        _random.Shuffle(_order);
        FirstPassStart = _random.Next(count);
        _position = FirstPassStart;
    }

    /// <summary>How many utterances of the first (shuffled) pass are skipped.</summary>
    public int FirstPassStart { get; }

    /// <summary>The index of the next utterance to play.</summary>
    public int Next()
    {
        if (_position == _order.Length)
        {
            _random.Shuffle(_order);
            _position = 0;
        }

        return _order[_position++];
    }

    /// <summary>The silence to send after an utterance: uniform over half to one and a half times <paramref name="mean"/>.</summary>
    public int NextGap(int mean) => mean / 2 + _random.Next(mean + 1);
}
