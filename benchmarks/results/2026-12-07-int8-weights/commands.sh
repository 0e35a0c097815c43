#!/usr/bin/env bash
# The commands behind 2026-12-07-int8-weights.md, run from the repository root on the 2-core VM. F is this build, H the
# build before the int8 weights (e824670), each built with `dotnet build -c Release` and its CLI copied out of the tree
# (to /tmp/cliF and /tmp/cliH) so that a rebuild cannot change it mid-run.
set -euo pipefail
bench() { dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- "$@"; }
data=../shared/data/librispeech-test-other-dev

# Where a decode's time goes, from ONNX Runtime's profiler: with H's benchmark program (the weights as exported), then F's.
#   (H) bench profile --model tiny --utterances 20 --rounds 3 > profile-tiny-uint8.txt
#   (H) bench profile --model base --utterances 20 --rounds 3 > profile-base-uint8.txt
bench profile --model tiny --utterances 20 --rounds 3 > profile-tiny-int8.txt

# Decodes from scratch both ways, interleaved in one process.
bench int8-weights --model tiny --rounds 5 > int8-tiny.txt
bench int8-weights --model base --rounds 5 > int8-base.txt

# The output projection's part of a step, in alternating processes.
for run in 1 2; do
  for weights in exported int8; do
    bench projection --model tiny --weights "$weights" > "projection-tiny-$weights-$run.txt"
  done
done

# Offline, F and H alternated; then the defaults (two decodes at once).
for run in 1 2 3; do
  for v in F H; do dotnet "/tmp/cli$v/asr.dll" eval "$data" --model tiny -j 1 > "eval/eval-tiny-$v-$run.txt"; done
done
for run in 1 2; do
  for v in F H; do dotnet "/tmp/cli$v/asr.dll" eval "$data" --model base -j 1 > "eval/eval-base-$v-$run.txt"; done
done
for m in tiny base; do dotnet /tmp/cliF/asr.dll eval "$data" --model "$m" > "eval/eval-$m-default-F.txt"; done

# The server at 48 real-time tiny streams, finals only, F and H alternated.
for run in 1 2; do
  for v in F H; do
    dotnet "/tmp/cli$v/asr.dll" bench --streams 48 --duration 60 --json "bench48-$v-$run.json" > "bench48-$v-$run.txt"
  done
done
