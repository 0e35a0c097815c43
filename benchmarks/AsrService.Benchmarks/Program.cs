using AsrService.Benchmarks;
using BenchmarkDotNet.Running;

// `interims [--model tiny] [--utterances 20] [--every 0.5] [--max-seconds 15] [--threads 1] [--no-incremental]`: the dev-set interim
// simulation (InterimSimulation). `solo-step|int8-weights [--model tiny] [--utterances 20] [--rounds 5]`: decodes with the
// plain steps on the solo-step model against the merged decoder, or with the weights stored as int8 against the weights
// as exported, interleaved (DecodeComparison). `profile [--model tiny]
// [--utterances 10] [--rounds 3] [--top 12] [--keep folder]`: where a decode's time goes by session, operator and node,
// from ONNX Runtime's profiler (StepProfile). `projection [--model tiny] [--rows 1024] [--rounds 16] [--weights int8|exported]`: the output
// projection's part of a decoder step, without the profiler (ProjectionCost). Anything else is
// BenchmarkDotNet's own command line: --filter '*', --list flat, ...
if (args is ["interims", ..])
{
    return InterimSimulation.Run(args[1..]);
}

if (args is [var variant and ("solo-step" or "int8-weights"), ..])
{
    return DecodeComparison.Run(variant, args[1..]);
}

if (args is ["profile", ..])
{
    return StepProfile.Run(args[1..]);
}

if (args is ["projection", ..])
{
    return ProjectionCost.Run(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig());
return 0;
