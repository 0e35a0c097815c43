# The commands behind this folder, in the order run, from the repository root. B is the benchmarks program and
# /tmp/is/bin a copy of src/AsrService.Cli/bin/Release/net10.0 (this change), so that rebuilding during the load
# runs could not change the binary; 'dotnet /tmp/is/bin/asr.dll' is 'asr'.
B="dotnet benchmarks/AsrService.Benchmarks/bin/Release/net10.0/AsrService.Benchmarks.dll"
R=benchmarks/results/2026-12-07-incremental-stem

# Section 3: the dev-set pass, kept stem and whole encoder alternating (20 utterances; these runs predate the WER line).
for r in 1 2; do $B interims > $R/interims-tiny-stem-$r.txt; $B interims --no-incremental > $R/interims-tiny-whole-$r.txt; done
$B interims --model base > $R/interims-base-stem-1.txt; $B interims --model base --no-incremental > $R/interims-base-whole-1.txt
for m in tiny base; do
  $B interims --model $m --utterances 60 --max-seconds 35 > $R/wer-$m-stem.txt
  $B interims --model $m --utterances 60 --max-seconds 35 --no-incremental > $R/wer-$m-whole.txt
done

# Section 2 (the first run had no FromScratch case).
$B --filter '*KeptStem*'   # BenchmarkDotNet.Artifacts/results/*KeptStemUpdateBenchmark-report-github.md

# Section 4: interleaved load, then the live-memory pair and the next stream counts.
for round in 1 2; do
  for m in stem whole; do
    f=""; [ $m = whole ] && f=--no-incremental-interims
    dotnet /tmp/is/bin/asr.dll bench --interim --streams 25 --duration 60 $f --json $R/load-t25-$m-$round.json > $R/load-t25-$m-$round.txt 2>&1
    dotnet /tmp/is/bin/asr.dll bench --model base --interim --streams 12 --duration 60 $f --json $R/load-b12-$m-$round.json > $R/load-b12-$m-$round.txt 2>&1
  done
done
for m in stem whole; do
  f=""; [ $m = whole ] && f=--no-incremental-interims
  dotnet /tmp/is/bin/asr.dll bench --interim --streams 25 --duration 60 --live-memory $f --json $R/live-t25-$m.json > $R/live-t25-$m.txt 2>&1
done
for m in stem whole; do
  f=""; [ $m = whole ] && f=--no-incremental-interims
  dotnet /tmp/is/bin/asr.dll bench --interim --streams 29 --duration 60 $f --json $R/load-t29-$m.json > $R/load-t29-$m.txt 2>&1
  dotnet /tmp/is/bin/asr.dll bench --model base --interim --streams 14 --duration 60 $f --json $R/load-b14-$m.json > $R/load-b14-$m.txt 2>&1
done

# Section 5, tried and left out: a throwaway build (/tmp/sa/bin) whose OnnxSessionFactory registered one shared CPU
# arena with the environment and set session.use_env_allocators=1 when ASR_SHARED_ARENA=1.
for r in 1 2; do for v in 0 1; do ASR_SHARED_ARENA=$v /usr/bin/time -f "v=$v %e s %M KB" dotnet /tmp/sa/bin/asr.dll eval ../shared/data/librispeech-test-other-dev; done; done
for v in 1 0; do ASR_SHARED_ARENA=$v dotnet /tmp/sa/bin/asr.dll bench --interim --streams 25 --duration 60 > $R/shared-arena/load-t25-$([ $v = 1 ] && echo shared || echo own).txt 2>&1; done

# Section 5, loading the split at server start or at the first interim: the time to "Now listening" and the RSS a
# second later, with and without --no-incremental-interims (tiny, then --model base), before and after the change
# that defers the load.
s=$(date +%s.%N); asr serve --port 50999 [--no-incremental-interims] > /tmp/serve.log 2>&1 & P=$!
until grep -q "Now listening" /tmp/serve.log; do sleep 0.02; done; echo "$(echo "$(date +%s.%N) - $s" | bc) s"; sleep 1; grep VmRSS /proc/$P/status; kill $P
