# The commands behind this folder, in the order run. /tmp/ef/bin was a copy of src/AsrService.Cli/bin/Release/net10.0
# (asr at commit fdcf348), so that rebuilding during the runs could not change the binary; 'dotnet /tmp/ef/bin/asr.dll' is 'asr'.
dotnet /tmp/ef/bin/asr.dll bench --streams 1 --duration 60 [--no-early-finals] --json /tmp/ef/s1-on|off.json
# Interleaved: early finals on/off, tiny finals-only at 64 streams, base with interims at 6 streams.
cd /work/main
for round in 1 2; do
  for m in on off; do
    f=""; [ $m = off ] && f=--no-early-finals
    dotnet /tmp/ef/bin/asr.dll bench --streams 64 --duration 60 $f --json /tmp/ef/t64-$m-$round.json > /tmp/ef/t64-$m-$round.txt 2>&1
    dotnet /tmp/ef/bin/asr.dll bench --model base --interim --streams 6 --duration 60 $f --json /tmp/ef/b6i-$m-$round.json > /tmp/ef/b6i-$m-$round.txt 2>&1
  done
done
echo done > /tmp/ef/series1.done
cd /work/main
A="dotnet /tmp/ef/bin/asr.dll bench --find-capacity --duration 45"
$A --streams 64 --json /tmp/ef/cap-tiny-finals.json > /tmp/ef/cap-tiny-finals.txt 2>&1
$A --model base --interim --streams 4 --json /tmp/ef/cap-base-interim.json > /tmp/ef/cap-base-interim.txt 2>&1
$A --model base --streams 25 --json /tmp/ef/cap-base-finals.json > /tmp/ef/cap-base-finals.txt 2>&1
$A --interim --streams 20 --json /tmp/ef/cap-tiny-interim.json > /tmp/ef/cap-tiny-interim.txt 2>&1
echo done > /tmp/ef/series2.done
cd /work/main
A="dotnet /tmp/ef/bin/asr.dll bench --duration 45"
$A --model base --interim --streams 12 --json /tmp/ef/re-base-interim-12.json > /tmp/ef/re-base-interim-12.txt 2>&1
$A --streams 68 --json /tmp/ef/re-tiny-finals-68.json > /tmp/ef/re-tiny-finals-68.txt 2>&1
$A --streams 72 --json /tmp/ef/re-tiny-finals-72.json > /tmp/ef/re-tiny-finals-72.txt 2>&1
$A --model base --interim --streams 12 --no-early-finals --json /tmp/ef/re-base-interim-12-off.json > /tmp/ef/re-base-interim-12-off.txt 2>&1
echo done > /tmp/ef/series3.done
cd /work/main
A="dotnet /tmp/ef/bin/asr.dll bench --duration 45 --model base --interim --streams 10"
$A --no-early-finals --json /tmp/ef/re-base-interim-10-off.json > /tmp/ef/re-base-interim-10-off.txt 2>&1
$A --json /tmp/ef/re-base-interim-10.json > /tmp/ef/re-base-interim-10.txt 2>&1
echo done > /tmp/ef/series4.done
cd /work/main
dotnet /tmp/ef/bin/asr.dll bench --model base --interim --streams 10 --duration 60 --live-memory --json /tmp/ef/mem-base-interim-10.json > /tmp/ef/mem-base-interim-10.txt 2>&1
dotnet /tmp/ef/bin/asr.dll bench --streams 1 --interim --duration 90 --json /tmp/ef/one-stream-interim.json > /tmp/ef/one-stream-interim.txt 2>&1
echo done > /tmp/ef/series5.done
dotnet /tmp/ef/bin/asr.dll bench --streams 1 --interim --duration 90 --no-early-finals --json /tmp/ef/one-stream-interim-off.json
# Past capacity (added in the interim-update session, build 3e4fbf8; /tmp/C is its Release CLI): tiny, 80 streams, finals only, interleaved.
for r in 1 2; do for m in on off; do f=""; [ $m = off ] && f="--no-early-finals"; dotnet /tmp/C/asr.dll bench --streams 80 --duration 60 $f --json /tmp/sat/t80-$m-$r.json > /tmp/sat/t80-$m-$r.txt 2>&1; done; done
# Past capacity again, and the defer rule (next session). /tmp/Eold: Release CLI of 7a535c1; /tmp/Enew: 7a535c1 plus
# the rule (early finals put off while DecodeScheduler.WaitingFinals > 0; not committed). Files renamed rerun-*:
# old -> on, new -> defer.
run() { local n=$1 b=$2; shift 2; dotnet $b/asr.dll bench --duration 60 "$@" --json /tmp/ed/$n.json > /tmp/ed/$n.txt 2>&1; }
for r in 1 2; do run t80-new-$r /tmp/Enew --streams 80; run t80-old-$r /tmp/Eold --streams 80; run t80-off-$r /tmp/Enew --streams 80 --no-early-finals; done
for r in 1 2; do run t64-new-$r /tmp/Enew --streams 64; run t64-old-$r /tmp/Eold --streams 64; run t64-off-$r /tmp/Enew --streams 64 --no-early-finals; done
for r in 1 2; do run b10i-new-$r /tmp/Enew --model base --interim --streams 10; run b10i-old-$r /tmp/Eold --model base --interim --streams 10; done
for r in 3 4; do run t80-old-$r /tmp/Eold --streams 80; run t80-off-$r /tmp/Enew --streams 80 --no-early-finals; run t80-new-$r /tmp/Enew --streams 80; done
