namespace AsrService.Cli.Bench;

/// <summary>
/// The order in which one bench stream plays the audio set: every pass plays each utterance once, in an order
/// shuffled afresh for each pass from a generator seeded by the run's seed and the stream's index. A run is
/// reproducible, and streams do not share one cyclic order: with a common order the total load repeats with the
/// playlist's period (60 dev-set utterances with 2 s gaps: 567.5 s), and long utterances line up on every stream in
/// the same minutes of every cycle, which a soak then shows as periodic latency spikes.
/// </summary>
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
        _position = count;
    }

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
}
