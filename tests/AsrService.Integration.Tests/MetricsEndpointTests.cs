using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using AsrService.Grpc;
using AsrService.Server;

namespace AsrService.Integration.Tests;

/// <summary>The Prometheus endpoint of a real server: the text parses as exposition format 0.0.4, and a stream moves
/// the counters it should.</summary>
[Collection(LimitsServerCollection.Name)]
public sealed partial class MetricsEndpointTests(LimitsServerFixture fixture)
{
    [DataFact]
    public async Task Metrics_AfterAStream_ParsesAndCountersMove()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Server.GetMetricsPort()}") };
        var before = await ScrapeAsync(http);
        var samples = StreamCalls.ReadUtterance().AsSpan(0, 16_000 * 7 / 2).ToArray();

        var outcome = await StreamCalls.RunAsync(fixture.Connection, [StreamCalls.Config(c => c.InterimResults = true), .. StreamCalls.Chunks(StreamCalls.Pcm16(samples))]);
        var after = await ScrapeAsync(http);

        Assert.Equal(StatusCode.OK, outcome.Status.StatusCode);
        Assert.NotEmpty(outcome.Finals);
        Assert.Equal(1, Delta(before, after, "asr_streams_total{code=\"OK\"}"));
        Assert.Equal(1, Delta(before, after, "asr_requests_total{method=\"StreamingRecognize\",code=\"OK\"}"));
        Assert.Equal(3.5, Delta(before, after, "asr_audio_seconds_total{method=\"StreamingRecognize\"}"), 3);
        Assert.InRange(Delta(before, after, "asr_processing_seconds_total{method=\"StreamingRecognize\"}"), 1e-6, 60);
        Assert.Equal(outcome.Finals.Count, Delta(before, after, "asr_final_latency_seconds_count"));
        // Every final passed the decode scheduler (also any whose text was empty and so was not sent).
        Assert.True(Delta(before, after, "asr_final_wait_seconds_count") >= outcome.Finals.Count, "finals did not report their wait for a decode slot");
        Assert.Equal(outcome.Responses.Count(r => r.Results.Any(x => !x.IsFinal)), Delta(before, after, "asr_interim_latency_seconds_count"));
        Assert.Equal(1, after["asr_model_info{model=\"tiny\",execution_provider=\"cpu\"}"]);
        Assert.Equal(0, after["asr_streams_active"]);
        Assert.Equal(0, after["asr_response_queue_depth"]);
    }

    [Fact]
    public async Task Metrics_ProcessAndRuntime_ReadLiveAtScrapeTime()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Server.GetMetricsPort()}") };
        var before = await ScrapeAsync(http);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        var heapAfterCollection = GC.GetTotalMemory(false);
        var after = await ScrapeAsync(http);

        // The server runs in this process, so these are this process's figures. The managed heap after a full
        // collection can be under 100 KB, so its floor is what this process reads itself (the scrape only adds to it;
        // half of it leaves room for a young-generation collection in between).
        Assert.InRange(after["process_resident_memory_bytes"], 50e6, Environment.WorkingSet * 2.0);
        Assert.InRange(after["dotnet_gc_heap_bytes"], heapAfterCollection / 2.0, after["process_resident_memory_bytes"]);
        Assert.InRange(after["dotnet_gc_committed_bytes"], after["dotnet_gc_heap_bytes"], after["process_resident_memory_bytes"] * 1.5);
        Assert.True(Delta(before, after, "dotnet_gc_gen2_collections") >= 1, "a forced full collection did not show");
        Assert.True(Delta(before, after, "dotnet_gc_pause_seconds") > 0, "a blocking collection paused no time");
    }

    [Fact]
    public async Task Metrics_OtherPath_NotFound()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Server.GetMetricsPort()}") };

        using var response = await http.GetAsync("/asr.v1.Asr/ListModels");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string series) =>
        after[series] - before.GetValueOrDefault(series);

    /// <summary>Scrapes and parses strictly: every line is a comment of the known kinds or a valid sample; every
    /// sample's family was typed before it; histograms are cumulative and their count is the +Inf bucket.</summary>
    private static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("\n", text);

        var types = new Dictionary<string, string>();
        var values = new Dictionary<string, double>();
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                continue;
            }

            var type = TypeLine().Match(line);
            if (type.Success)
            {
                Assert.True(types.TryAdd(type.Groups[1].Value, type.Groups[2].Value), $"TYPE repeated: {line}");
                continue;
            }

            var sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"not a valid exposition line: '{line}'");
            var name = sample.Groups["name"].Value;
            var family = types.Keys.FirstOrDefault(f => name == f || (types[f] == "histogram" && name is var n && (n == f + "_bucket" || n == f + "_sum" || n == f + "_count")));
            Assert.True(family is not null, $"sample before its TYPE line: '{line}'");
            values.Add(name + sample.Groups["labels"].Value, ParseValue(sample.Groups["value"].Value));
        }

        foreach (var (family, _) in types.Where(t => t.Value == "histogram"))
        {
            var buckets = values.Where(v => v.Key.StartsWith(family + "_bucket{", StringComparison.Ordinal)).Select(v => v.Value).ToList();
            Assert.Equal(buckets.Order(), buckets);
            Assert.Equal(values[family + "_bucket{le=\"+Inf\"}"], values[family + "_count"]);
        }

        return values;
    }

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (?<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf)|NaN)$""")]
    private static partial Regex SampleLine();
}
