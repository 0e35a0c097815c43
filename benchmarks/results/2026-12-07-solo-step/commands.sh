#!/usr/bin/env bash
# How the figures in ../2026-12-07-solo-step.md were produced, on the 2-core VM, from the repository root.
# NEW is this change's build, OLD the one before it (be2fc2b: every decoder step on the merged decoder), each built
# with `dotnet build AsrService.sln -c Release` and its CLI copied aside, so that no build ran during a measurement.
set -euo pipefail
OUT=benchmarks/results/2026-12-07-solo-step
NEW=${NEW:-/tmp/cliF/asr}
OLD=${OLD:-/tmp/headwt/src/AsrService.Cli/bin/Release/net10.0/asr}

# The two ways interleaved in one process (the figures quoted).
dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- solo-step --model tiny --utterances 20 --rounds 5 | tee $OUT/solo-step-tiny.txt
dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- solo-step --model base --utterances 20 --rounds 5 | tee $OUT/solo-step-base.txt

# BenchmarkDotNet, twice (run1, run2): its cases run one after the other, so drift shows between them.
dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- --filter '*DecoderStep*' '*SegmentDecode*'

# Offline, interleaved, one decode at a time.
for i in 1 2 3; do for A in $NEW $OLD; do $A eval ../shared/data/librispeech-test-other-dev --model tiny -j 1 | tail -1; done; done
for i in 1 2; do for A in $NEW $OLD; do $A eval ../shared/data/librispeech-test-other-dev --model base -j 1 | tail -1; done; done

# Batched offline decoding still gives every utterance its sequential transcript.
$NEW eval ../shared/data/librispeech-test-other-dev --verbose --parallel 1 > /tmp/seq.txt
for i in 1 2 3 4 5 6; do
  $NEW eval ../shared/data/librispeech-test-other-dev --verbose --parallel 2 --batch-size 4 > /tmp/bat.txt
  diff <(head -60 /tmp/seq.txt) <(head -60 /tmp/bat.txt) | grep -c '^<' || true
done

# The server, finals only, interleaved (F = NEW, H = OLD).
for n in 68 48; do for i in 1 2; do
  $NEW bench --streams $n --duration 60 --json $OUT/bench-tiny-$n-F-$i.json > $OUT/bench-tiny-$n-F-$i.txt 2>&1
  $OLD bench --streams $n --duration 60 --json $OUT/bench-tiny-$n-H-$i.json > $OUT/bench-tiny-$n-H-$i.txt 2>&1
done; done

# Idle memory of the in-process server.
for m in tiny base; do for A in $NEW $OLD; do $A bench --streams 1 --duration 5 --model $m 2>&1 | grep 'memory before'; done; done
