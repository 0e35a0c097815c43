using AsrService.Grpc;
using AsrService.Server.Metrics;

namespace AsrService.Server.Tests;

public sealed class MetricsFormatTests
{
    [Fact]
    public void Scrape_CounterWithLabels_HelpTypeAndEscapedValues()
    {
        var registry = new MetricRegistry();
        var counter = registry.Add(new Counter("test_things_total", "Things.\nWith \\ a newline.", "kind"));
        counter.WithLabels("a \"quoted\" \\ value\nx").Inc(2.5);

        var text = registry.Scrape();

        Assert.Equal(
            "# HELP test_things_total Things.\\nWith \\\\ a newline.\n" +
            "# TYPE test_things_total counter\n" +
            "test_things_total{kind=\"a \\\"quoted\\\" \\\\ value\\nx\"} 2.5\n",
            text);
    }

    [Fact]
    public void Scrape_Histogram_CumulativeBucketsSumAndCount()
    {
        var registry = new MetricRegistry();
        var histogram = registry.Add(new Histogram("test_latency_seconds", "Latency.", [0.1, 1]));
        histogram.Observe(0.05);
        histogram.Observe(0.5);
        histogram.Observe(5);

        var text = registry.Scrape();

        Assert.Contains("test_latency_seconds_bucket{le=\"0.1\"} 1\n", text);
        Assert.Contains("test_latency_seconds_bucket{le=\"1\"} 2\n", text);
        Assert.Contains("test_latency_seconds_bucket{le=\"+Inf\"} 3\n", text);
        Assert.Contains("test_latency_seconds_sum 5.55\n", text);
        Assert.Contains("test_latency_seconds_count 3\n", text);
    }

    [Fact]
    public void Scrape_UnlabelledMetricNeverTouched_ExportedAtZero()
    {
        var registry = new MetricRegistry();
        registry.Add(new Counter("test_idle_total", "Idle."));

        Assert.EndsWith("test_idle_total 0\n", registry.Scrape());
    }

    [Fact]
    public void CallEnded_ErrorStatus_CountedAsRequestStreamAndError()
    {
        var metrics = new AsrMetrics("tiny", "cpu");

        metrics.CallEnded(AsrMethods.StreamingRecognize, StatusCode.OutOfRange, 3.5, 0.7);

        var text = metrics.Registry.Scrape();
        Assert.Contains("asr_streams_total{code=\"OUT_OF_RANGE\"} 1\n", text);
        Assert.Contains("asr_requests_total{method=\"StreamingRecognize\",code=\"OUT_OF_RANGE\"} 1\n", text);
        Assert.Contains("asr_errors_total{code=\"OUT_OF_RANGE\"} 1\n", text);
        Assert.Contains("asr_audio_seconds_total{method=\"StreamingRecognize\"} 3.5\n", text);
        Assert.Contains("asr_model_info{model=\"tiny\",execution_provider=\"cpu\"} 1\n", text);
    }

    [Theory]
    [InlineData("bad-name")]
    [InlineData("9starts_with_digit_total")]
    [InlineData("no_suffix")]
    public void Counter_InvalidName_Rejected(string name) =>
        Assert.Throws<ArgumentException>(() => new Counter(name, "help"));
}
