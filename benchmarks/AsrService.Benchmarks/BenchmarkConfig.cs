using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Metrology;

namespace AsrService.Benchmarks;

/// <summary>
/// The one configuration every benchmark runs under. The job is short enough for the whole suite to finish in a few
/// minutes on a 2-core machine and long enough (10 measured iterations of about half a second each, after 3 warm-up
/// ones) for the error column to mean something. A single launch keeps it short, because every launch loads the ONNX
/// sessions again; the price is that the error column does not cover the spread between launches, which for the
/// decoder step ran from 5.6 to 8.7 ms on the 2-core development machine (see benchmarks/results/).
/// Allocations are the point of several benchmarks, so the memory diagnoser is on and sizes are shown in bytes.
/// </summary>
internal sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        var defaults = DefaultConfig.Instance;
        AddLogger(defaults.GetLoggers().ToArray());
        AddColumnProvider(defaults.GetColumnProviders().ToArray());

        // Other work on a shared machine lands as bursts that drag the mean; the median is what to quote.
        AddColumn(StatisticColumn.Median);
        AddAnalyser(defaults.GetAnalysers().ToArray());
        AddValidator(defaults.GetValidators().ToArray());

        AddJob(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .WithId("Short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddExporter(MarkdownExporter.GitHub, JsonExporter.Full);

        // The artifacts (logs, markdown, JSON) go to the repository's gitignored BenchmarkDotNet.Artifacts whatever the
        // current directory; results worth keeping are copied by hand into benchmarks/results/.
        ArtifactsPath = Path.Combine(RepositoryLayout.Root?.FullName ?? Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts");
        SummaryStyle = SummaryStyle.Default.WithSizeUnit(SizeUnit.B);
    }
}
