# The commands behind this folder, in the order run (2026-11-22, the 2-core dev VM). "before" is e0fd3c9, "after" the
# commit that turns spinning off; each CLI was built in Release and copied to /tmp/asr-before and /tmp/asr-after.
# Offline dev set, interleaved, 2 threads per run and one decode at a time:
for r in 1 2 3; do for b in before after; do
  dotnet /tmp/asr-$b/asr.dll eval ../shared/data/librispeech-test-other-dev --model tiny --threads 2 --parallel 1 | tail -1
done; done > eval-t2p1.txt
for b in before after; do
  dotnet /tmp/asr-$b/asr.dll eval ../shared/data/librispeech-test-other-dev --model tiny --threads 2 --parallel 2 | tail -1
  dotnet /tmp/asr-$b/asr.dll eval ../shared/data/librispeech-test-other-dev --model tiny --threads 1 --parallel 2 | tail -1
done > eval-other.txt
# BenchmarkDotNet, one run per build (git worktree of e0fd3c9 for before, the working tree for after):
dotnet run -c Release --project benchmarks/AsrService.Benchmarks -- --filter '*InterimUpdate*'   # -> bdn-before.md, bdn-after.md
# Load, tiny with interims at 4 streams, then base finals-only at 20 streams:
for c in "before 2" "after 2" "after 1"; do set -- $c
  dotnet /tmp/asr-$1/asr.dll bench --streams 4 --duration 60 --interim --threads $2 --json load-t4-$1-threads$2.json > load-t4-$1-threads$2.txt
done
for c in "after 2" "before 2" "after 1"; do set -- $c
  dotnet /tmp/asr-$1/asr.dll bench --model base --streams 20 --duration 60 --threads $2 --json load-b20-$1-threads$2.json > load-b20-$1-threads$2.txt
done
