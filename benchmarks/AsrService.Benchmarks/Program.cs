using AsrService.Benchmarks;
using BenchmarkDotNet.Running;

// `interims [--model tiny] [--utterances 20] [--every 0.5] [--max-seconds 15] [--threads 1] [--no-incremental]`: the dev-set interim
// simulation (InterimSimulation). `solo-step [--model tiny] [--utterances 20] [--rounds 5]`: decodes with the plain steps
// on the solo-step model against the merged decoder, interleaved (SoloStepComparison). Anything else is
// BenchmarkDotNet's own command line: --filter '*', --list flat, ...
if (args is ["interims", ..])
{
    return InterimSimulation.Run(args[1..]);
}

if (args is ["solo-step", ..])
{
    return SoloStepComparison.Run(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig());
return 0;
