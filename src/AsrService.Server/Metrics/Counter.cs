using System.Text;

namespace AsrService.Server.Metrics;

/// <summary>A value that only goes up (counts, seconds).</summary>
public sealed class Counter : MetricFamily<Counter.Series>
{
    public Counter(string name, string help, params string[] labelNames)
        : base(name, help, "counter", labelNames)
    {
        if (!name.EndsWith("_total", StringComparison.Ordinal))
        {
            throw new ArgumentException($"counter '{name}' must end in _total", nameof(name));
        }
    }

    /// <summary>Adds to the unlabelled series.</summary>
    public void Inc(double amount = 1) => Unlabelled.Inc(amount);

    /// <summary>The unlabelled series' value.</summary>
    public double Value => Unlabelled.Value;

    private protected override Series CreateSeries() => new();

    private protected override void WriteSeries(StringBuilder output, string[] labelValues, Series series) =>
        WriteSample(output, string.Empty, labelValues, series.Value);

    /// <summary>One labelled series.</summary>
    public sealed class Series
    {
        private double _value;

        public double Value => Volatile.Read(ref _value);

        public void Inc(double amount = 1)
        {
            if (!(amount >= 0))
            {
                throw new ArgumentOutOfRangeException(nameof(amount), "a counter only goes up");
            }

            AtomicDouble.Add(ref _value, amount);
        }
    }
}

/// <summary>A value that goes up and down, or is read from a callback at scrape time.</summary>
public sealed class Gauge : MetricFamily<Gauge.Series>
{
    private readonly Func<double>? _read;

    public Gauge(string name, string help, params string[] labelNames)
        : base(name, help, "gauge", labelNames)
    {
    }

    /// <summary>An unlabelled gauge whose value is read when scraped (e.g. a queue's length).</summary>
    public Gauge(string name, string help, Func<double> read)
        : base(name, help, "gauge", [])
    {
        _read = read;
    }

    public double Value => _read?.Invoke() ?? Unlabelled.Value;

    public void Set(double value) => Unlabelled.Set(value);

    public void Inc(double amount = 1) => Unlabelled.Add(amount);

    public void Dec(double amount = 1) => Unlabelled.Add(-amount);

    private protected override Series CreateSeries() => new();

    private protected override void WriteSeries(StringBuilder output, string[] labelValues, Series series) =>
        WriteSample(output, string.Empty, labelValues, _read is not null && labelValues.Length == 0 ? _read() : series.Value);

    /// <summary>One labelled series.</summary>
    public sealed class Series
    {
        private double _value;

        public double Value => Volatile.Read(ref _value);

        public void Set(double value) => Volatile.Write(ref _value, value);

        public void Add(double amount) => AtomicDouble.Add(ref _value, amount);
    }
}

/// <summary>Distribution of observations (latencies) over fixed buckets, with their sum and count.</summary>
public sealed class Histogram : MetricFamily<Histogram.Series>
{
    private readonly double[] _upperBounds;

    public Histogram(string name, string help, double[] upperBounds, params string[] labelNames)
        : base(name, help, "histogram", labelNames)
    {
        for (var i = 1; i < upperBounds.Length; i++)
        {
            if (!(upperBounds[i] > upperBounds[i - 1]))
            {
                throw new ArgumentException("bucket bounds must increase", nameof(upperBounds));
            }
        }

        _upperBounds = upperBounds;
    }

    public void Observe(double value) => Unlabelled.Observe(value);

    /// <summary>The unlabelled series' number of observations.</summary>
    public long Count => Unlabelled.Count;

    private protected override Series CreateSeries() => new(_upperBounds);

    private protected override void WriteSeries(StringBuilder output, string[] labelValues, Series series)
    {
        // Buckets are stored per interval and summed here, so _count always equals the +Inf bucket even while
        // observations arrive during a scrape.
        long cumulative = 0;
        for (var i = 0; i <= _upperBounds.Length; i++)
        {
            cumulative += series.BucketCount(i);
            var bound = i < _upperBounds.Length ? FormatValue(_upperBounds[i]) : "+Inf";
            WriteSample(output, "_bucket", labelValues, cumulative, ("le", bound));
        }

        WriteSample(output, "_sum", labelValues, series.Sum);
        WriteSample(output, "_count", labelValues, cumulative);
    }

    /// <summary>One labelled series.</summary>
    public sealed class Series
    {
        private readonly double[] _upperBounds;
        private readonly long[] _buckets;
        private double _sum;

        internal Series(double[] upperBounds)
        {
            _upperBounds = upperBounds;
            _buckets = new long[upperBounds.Length + 1];
        }

        public double Sum => Volatile.Read(ref _sum);

        public long Count
        {
            get
            {
                long count = 0;
                for (var i = 0; i < _buckets.Length; i++)
                {
                    count += Interlocked.Read(ref _buckets[i]);
                }

                return count;
            }
        }

        public void Observe(double value)
        {
            var index = 0;
            while (index < _upperBounds.Length && value > _upperBounds[index])
            {
                index++;
            }

            Interlocked.Increment(ref _buckets[index]);
            AtomicDouble.Add(ref _sum, value);
        }

        internal long BucketCount(int index) => Interlocked.Read(ref _buckets[index]);
    }
}

internal static class AtomicDouble
{
    public static void Add(ref double location, double amount)
    {
        var current = Volatile.Read(ref location);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref location, current + amount, current);
            if (seen.Equals(current))
            {
                return;
            }

            current = seen;
        }
    }
}
