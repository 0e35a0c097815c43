using System.Text;

namespace AsrService.Server.Metrics;

/// <summary>The metrics one endpoint exposes, in registration order.</summary>
public sealed class MetricRegistry
{
    /// <summary>Content type of the Prometheus text exposition format 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly Lock _lock = new();
    private readonly List<MetricFamily> _families = [];

    public T Add<T>(T family)
        where T : MetricFamily
    {
        ArgumentNullException.ThrowIfNull(family);
        lock (_lock)
        {
            if (_families.Exists(f => f.Name == family.Name))
            {
                throw new InvalidOperationException($"metric '{family.Name}' is registered twice");
            }

            _families.Add(family);
        }

        return family;
    }

    /// <summary>The exposition text of every metric.</summary>
    public string Scrape()
    {
        MetricFamily[] families;
        lock (_lock)
        {
            families = [.. _families];
        }

        var output = new StringBuilder(4096);
        foreach (var family in families)
        {
            family.WriteTo(output);
        }

        return output.ToString();
    }
}
