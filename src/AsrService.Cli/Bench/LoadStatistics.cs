namespace AsrService.Cli.Bench;

/// <summary>Percentiles of a sample of latencies, by the nearest-rank method.</summary>
internal sealed class LatencySample
{
    private readonly List<double> _values = [];

    public int Count => _values.Count;

    public void Add(double seconds)
    {
        lock (_values)
        {
            _values.Add(seconds);
        }
    }

    public double Percentile(double p)
    {
        lock (_values)
        {
            if (_values.Count == 0)
            {
                return double.NaN;
            }

            var sorted = _values.Order().ToArray();
            var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
            return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
        }
    }

    public double Mean()
    {
        lock (_values)
        {
            return _values.Count == 0 ? double.NaN : _values.Average();
        }
    }

    public Dictionary<string, double> Summary() => new()
    {
        ["count"] = Count,
        ["mean"] = Round(Mean()),
        ["p50"] = Round(Percentile(50)),
        ["p90"] = Round(Percentile(90)),
        ["p95"] = Round(Percentile(95)),
        ["p99"] = Round(Percentile(99)),
    };

    private static double Round(double value) => double.IsNaN(value) ? -1 : Math.Round(value, 4);
}

/// <summary>Latencies grouped by the interval of the run in which they were observed.</summary>
internal sealed class LatencySeries(TimeSpan interval)
{
    private readonly SortedDictionary<int, LatencySample> _intervals = [];

    public TimeSpan Interval => interval;

    public void Add(TimeSpan at, double seconds)
    {
        var index = (int)(at / interval);
        LatencySample sample;
        lock (_intervals)
        {
            if (!_intervals.TryGetValue(index, out sample!))
            {
                _intervals[index] = sample = new LatencySample();
            }
        }

        sample.Add(seconds);
    }

    /// <summary>Per interval, in order: its index (0 = the first <see cref="Interval"/> of the run) and its latencies.</summary>
    public IReadOnlyList<(int Index, LatencySample Sample)> Intervals()
    {
        lock (_intervals)
        {
            return _intervals.Select(pair => (pair.Key, pair.Value)).ToList();
        }
    }
}
