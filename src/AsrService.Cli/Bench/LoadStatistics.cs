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
