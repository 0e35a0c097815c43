using System.Collections.Concurrent;
using System.Text;

namespace AsrService.Server.Metrics;

/// <summary>
/// A metric and its series (one per combination of label values), written in the Prometheus text exposition format
/// 0.0.4. Written here rather than taken from a package: the format is small, and the metric set is fixed.
/// </summary>
public abstract class MetricFamily
{
    private protected MetricFamily(string name, string help, string type, string[] labelNames)
    {
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid metric name", nameof(name));
        }

        foreach (var label in labelNames)
        {
            if (!IsValidName(label) || label.Contains(':', StringComparison.Ordinal) || label.StartsWith("__", StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{label}' is not a valid label name", nameof(labelNames));
            }
        }

        Name = name;
        Help = help;
        Type = type;
        LabelNames = labelNames;
    }

    public string Name { get; }

    public string Help { get; }

    /// <summary>counter, gauge or histogram.</summary>
    public string Type { get; }

    public IReadOnlyList<string> LabelNames { get; }

    /// <summary>Appends <c># HELP</c>, <c># TYPE</c> and every series.</summary>
    internal void WriteTo(StringBuilder output)
    {
        output.Append("# HELP ").Append(Name).Append(' ');
        foreach (var c in Help)
        {
            _ = c switch
            {
                '\\' => output.Append(@"\\"),
                '\n' => output.Append(@"\n"),
                _ => output.Append(c),
            };
        }

        output.Append('\n').Append("# TYPE ").Append(Name).Append(' ').Append(Type).Append('\n');
        WriteSeries(output);
    }

    private protected abstract void WriteSeries(StringBuilder output);

    /// <summary>Writes <c>name{labels} value</c>; <paramref name="extraLabel"/> is histogram's <c>le</c>.</summary>
    private protected void WriteSample(StringBuilder output, string suffix, string[] labelValues, double value, (string Name, string Value)? extraLabel = null)
    {
        output.Append(Name).Append(suffix);
        if (labelValues.Length > 0 || extraLabel is not null)
        {
            output.Append('{');
            for (var i = 0; i < labelValues.Length; i++)
            {
                if (i > 0)
                {
                    output.Append(',');
                }

                AppendLabel(output, LabelNames[i], labelValues[i]);
            }

            if (extraLabel is { } extra)
            {
                if (labelValues.Length > 0)
                {
                    output.Append(',');
                }

                AppendLabel(output, extra.Name, extra.Value);
            }

            output.Append('}');
        }

        output.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    internal static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    };

    private protected string[] CheckLabels(string[] values)
    {
        if (values.Length != LabelNames.Count)
        {
            throw new ArgumentException($"{Name} takes {LabelNames.Count} label values, got {values.Length}");
        }

        return values;
    }

    private static void AppendLabel(StringBuilder output, string name, string value)
    {
        output.Append(name).Append("=\"");
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => output.Append(@"\\"),
                '"' => output.Append("\\\""),
                '\n' => output.Append(@"\n"),
                _ => output.Append(c),
            };
        }

        output.Append('"');
    }

    private static bool IsValidName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not ':')
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Series keyed by label values; created on first use and never removed (label sets here are small and fixed).</summary>
public abstract class MetricFamily<TSeries> : MetricFamily
    where TSeries : class
{
    private readonly ConcurrentDictionary<string, (string[] Labels, TSeries Series)> _series = new(StringComparer.Ordinal);

    private protected MetricFamily(string name, string help, string type, string[] labelNames)
        : base(name, help, type, labelNames)
    {
    }

    /// <summary>The series of these label values (in the order of the label names).</summary>
    public TSeries WithLabels(params string[] labelValues)
    {
        CheckLabels(labelValues);
        var key = string.Join('\u001f', labelValues);
        return _series.GetOrAdd(key, static (_, state) => (state.labelValues.ToArray(), state.family.CreateSeries()), (family: this, labelValues)).Series;
    }

    // Created on first use rather than in the constructor: CreateSeries may need fields of the derived class.
    private protected TSeries Unlabelled => WithLabels();

    private protected abstract TSeries CreateSeries();

    private protected abstract void WriteSeries(StringBuilder output, string[] labelValues, TSeries series);

    private protected override void WriteSeries(StringBuilder output)
    {
        if (LabelNames.Count == 0)
        {
            // An unlabelled metric is exported from the start, at zero, so that rate() sees its first increase.
            _ = Unlabelled;
        }

        // Sorted so that scrapes are stable and diffs readable.
        foreach (var (_, (labels, series)) in _series.OrderBy(entry => entry.Key, StringComparer.Ordinal))
        {
            WriteSeries(output, labels, series);
        }
    }
}
