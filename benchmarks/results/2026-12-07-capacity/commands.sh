#!/usr/bin/env bash
# Capacity on the 2-core VM after the solo-step model, the int8 weights and the logits JIT fix (build 88bafc2, its CLI
# copied to /tmp/cliG). Run from the repository root, one after the other, nothing else running.
set -euo pipefail
R=benchmarks/results/2026-12-07-capacity
dotnet /tmp/cliG/asr.dll bench --find-capacity --duration 60 --json $R/capacity-tiny-finals.json > $R/capacity-tiny-finals.txt 2>&1
dotnet /tmp/cliG/asr.dll bench --interim --find-capacity --duration 60 --json $R/capacity-tiny-interims.json > $R/capacity-tiny-interims.txt 2>&1
dotnet /tmp/cliG/asr.dll bench --model base --find-capacity --duration 60 --json $R/capacity-base-finals.json > $R/capacity-base-finals.txt 2>&1
dotnet /tmp/cliG/asr.dll bench --model base --interim --find-capacity --duration 60 --json $R/capacity-base-interims.json > $R/capacity-base-interims.txt 2>&1
