# The commands behind this folder, in the order run, from the repository root. Binaries were copied out of the
# build folders before each batch (/tmp/bx*: benchmarks/AsrService.Benchmarks/bin/Release/net10.0, /tmp/cli*:
# src/AsrService.Cli/bin/Release/net10.0), so that editing during the runs could not change them;
# 'dotnet /tmp/cli/asr.dll' is 'asr'. Window 0 is the kept stem alone (the previous default); 3 is the new default.
R=benchmarks/results/2026-12-07-encoder-window

# Batch 1, build A: the window, kept keys and values in float16, but never encoding the whole segment again.
# Window 0 runs the same code in both builds (every update encodes every frame), so its files stay at the top.
B="dotnet /tmp/bx/AsrService.Benchmarks.dll"
A="dotnet /tmp/cli/asr.dll"
for w in 3 0; do $B interims --utterances 60 --max-seconds 35 --encoder-window $w > $R/interims-tiny-w$w.txt; done
for w in 3 0; do $B interims --model base --utterances 60 --max-seconds 35 --encoder-window $w > $R/interims-base-w$w.txt; done
mv $R/interims-tiny-w3.txt $R/interims-base-w3.txt $R/never-whole-again/
for round in 1 2; do
  for w in 3 0; do
    $A bench --interim --streams 25 --duration 60 --interim-encoder-window $w --json $R/never-whole-again/load-t25-w$w-$round.json > $R/never-whole-again/load-t25-w$w-$round.txt 2>&1
  done
done
for w in 3 0; do
  $A bench --interim --streams 33 --duration 60 --interim-encoder-window $w --json $R/never-whole-again/load-t33-w$w.json > $R/never-whole-again/load-t33-w$w.txt 2>&1
  $A bench --model base --interim --streams 12 --duration 60 --interim-encoder-window $w --json $R/never-whole-again/load-b12-w$w.json > $R/never-whole-again/load-b12-w$w.txt 2>&1
  $A bench --model base --interim --streams 14 --duration 60 --interim-encoder-window $w --json $R/never-whole-again/load-b14-w$w.json > $R/never-whole-again/load-b14-w$w.txt 2>&1
  $A bench --interim --streams 25 --duration 60 --live-memory --interim-encoder-window $w --json $R/never-whole-again/live-t25-w$w.json > $R/never-whole-again/live-t25-w$w.txt 2>&1
done
# Alongside the base passes above (two processes at a time; the share column is measured within each process, and
# the WER and word differences do not depend on timing).
for w in 5 2; do $B interims --utterances 60 --max-seconds 35 --encoder-window $w > $R/never-whole-again/interims-tiny-w$w.txt; done

# Batch 2, a throwaway build of A whose IncrementalEncoder encoded the whole segment again once it had grown by the
# factor in ASR_REFRESH_GROWTH since its last whole encoding (two at a time).
for g in 1.5 1.25; do ASR_REFRESH_GROWTH=$g dotnet /tmp/bx2/AsrService.Benchmarks.dll interims --utterances 60 --max-seconds 35 --encoder-window 3 > $R/never-whole-again/interims-tiny-w3-whole-again-at-$g.txt; done

# Batch 3, the final build (whole again at 1.5x, IncrementalEncoder.WholeAgainAfterGrowth).
B="dotnet /tmp/bx3/AsrService.Benchmarks.dll"
A="dotnet /tmp/cli3/asr.dll"
$B interims --utterances 60 --max-seconds 35 --encoder-window 3 > $R/interims-tiny-w3.txt
$B interims --model base --utterances 60 --max-seconds 35 --encoder-window 3 > $R/interims-base-w3.txt
dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- --filter '*KeptStem*'   # -> KeptStemUpdateBenchmark.md
for round in 1 2; do
  for w in 3 0; do
    $A bench --interim --streams 25 --duration 60 --interim-encoder-window $w --json $R/load-t25-w$w-$round.json > $R/load-t25-w$w-$round.txt 2>&1
  done
done
for w in 3 0; do
  $A bench --interim --streams 33 --duration 60 --interim-encoder-window $w --json $R/load-t33-w$w.json > $R/load-t33-w$w.txt 2>&1
  $A bench --model base --interim --streams 12 --duration 60 --interim-encoder-window $w --json $R/load-b12-w$w.json > $R/load-b12-w$w.txt 2>&1
  $A bench --model base --interim --streams 14 --duration 60 --interim-encoder-window $w --json $R/load-b14-w$w.json > $R/load-b14-w$w.txt 2>&1
  $A bench --interim --streams 25 --duration 60 --live-memory --interim-encoder-window $w --json $R/live-t25-w$w.json > $R/live-t25-w$w.txt 2>&1
done

# Last, capacity with interims, with the build of dbe36d3 (/tmp/cli4).
dotnet /tmp/cli4/asr.dll bench --interim --find-capacity --duration 60 --json $R/capacity-tiny-interims.json > $R/capacity-tiny-interims.txt 2>&1
dotnet /tmp/cli4/asr.dll bench --model base --interim --find-capacity --duration 60 --json $R/capacity-base-interims.json > $R/capacity-base-interims.txt 2>&1
