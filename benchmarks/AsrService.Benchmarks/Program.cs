using AsrService.Benchmarks;
using BenchmarkDotNet.Running;

// BenchmarkDotNet's own command line: --filter '*', --filter '*DecoderStep*', --list flat, and so on.
BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig());
