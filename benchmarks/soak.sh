#!/usr/bin/env bash
# Soak test: `asr bench` holds about 80 % of a server's measured capacity for 30 minutes while the server's resident
# memory is sampled every 10 s. A leak shows as RSS that keeps climbing after warm-up; errors or growing final latency
# show in the bench results. See benchmarks/README.md.
#
#   benchmarks/soak.sh --capacity 10                          # starts its own `asr serve` on a free port
#   benchmarks/soak.sh --capacity 10 --server 10.0.0.5:50051 --pid 4242   # a running server (pid: for RSS sampling)
#
# Writes into --out (default $TMPDIR/asr-soak-<UTC time>/): rss.csv, bench.json, bench.txt (the bench table),
# server.log (when it started the server) and summary.txt.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: benchmarks/soak.sh --capacity N [options]
  --capacity N       streams one server holds (asr bench --find-capacity); required
  --load F           fraction of the capacity to run (default 0.8)
  --duration S       seconds of load (default 1800)
  --interval S       seconds between RSS samples (default 10)
  --server HOST:PORT a running server; without it one is started on a free loopback port
  --pid PID          that server's process id, for RSS sampling (found from the port when the server is local)
  --server-args "A"  extra options for the server this script starts (e.g. "--threads 2 --max-streams 16")
  --interim          ask for interim results (more decoder work per stream)
  --out DIR          where the results go
Environment: ASR_CLI = the asr executable or asr.dll (default: build src/AsrService.Cli in Release and use its asr.dll).
EOF
}

capacity=""
load=0.8
duration=1800
interval=10
server=""
pid=""
server_args=""
interim=()
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --capacity) capacity="$2"; shift 2 ;;
        --load) load="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --interval) interval="$2"; shift 2 ;;
        --server) server="$2"; shift 2 ;;
        --pid) pid="$2"; shift 2 ;;
        --server-args) server_args="$2"; shift 2 ;;
        --interim) interim=(--interim); shift ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "soak.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ "$capacity" =~ ^[0-9]+$ ]] || [ "$capacity" -lt 1 ]; then
    echo "soak.sh: --capacity N is required (measure it with: asr bench --find-capacity --latency-bound 1.0)" >&2
    exit 2
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
streams=$(awk -v c="$capacity" -v f="$load" 'BEGIN { n = int(c * f + 0.5); print (n < 1 ? 1 : n) }')
out="${out:-${TMPDIR:-/tmp}/asr-soak-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# asr bench finds its default audio (../shared/data) by walking up from the current folder.
cd "$repo"

# The CLI: an explicit ASR_CLI, else this checkout's Release build (built now if needed).
if [ -n "${ASR_CLI:-}" ]; then
    cli="$ASR_CLI"
else
    cli="$repo/src/AsrService.Cli/bin/Release/net10.0/asr.dll"
    echo "soak: building src/AsrService.Cli (Release)"
    dotnet build -c Release "$repo/src/AsrService.Cli" -v quiet -nologo >/dev/null
fi
case "$cli" in
    *.dll) asr=(dotnet "$cli") ;;
    *) asr=("$cli") ;;
esac

server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        # SIGTERM first (the server drains); SIGKILL if it has not exited after 15 s.
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 15); do kill -0 "$server_pid" 2>/dev/null || break; sleep 1; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if [ -z "$server" ]; then
    # A simple command in the background: $! is the server process itself, whose RSS is sampled.
    # shellcheck disable=SC2086 # server_args are options, split on purpose
    "${asr[@]}" serve --host 127.0.0.1 --port 0 $server_args >"$out/server.log" 2>&1 &
    server_pid=$!
    pid=$server_pid
    for _ in $(seq 120); do
        if port=$(sed -n 's#^asr: listening on http://127\.0\.0\.1:\([0-9]*\)/\{0,1\}$#\1#p' "$out/server.log" | head -n 1) && [ -n "$port" ]; then
            break
        fi
        kill -0 "$server_pid" 2>/dev/null || { echo "soak: the server exited at start:" >&2; cat "$out/server.log" >&2; exit 1; }
        sleep 1
    done
    [ -n "${port:-}" ] || { echo "soak: the server did not start within 120 s" >&2; exit 1; }
    server="127.0.0.1:$port"
    echo "soak: started asr serve (pid $server_pid) on $server"
elif [ -z "$pid" ]; then
    port="${server##*:}"
    pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$pid" ] || { echo "soak: cannot find the process listening on port $port here; give --pid" >&2; exit 2; }
fi
kill -0 "$pid" 2>/dev/null || { echo "soak: no process $pid" >&2; exit 2; }

echo "soak: $streams streams (${load} x capacity $capacity) for ${duration} s against $server; RSS of pid $pid every ${interval} s -> $out"
{
    echo "# server $server pid $pid; $streams streams; load $load of capacity $capacity; duration ${duration}s; started $(date -u +%FT%TZ)"
    echo "utc,elapsed_s,rss_kib,threads,cpu_seconds"
} >"$out/rss.csv"

sample() {
    local elapsed=$1 line rss threads cpu
    line=$(ps -o rss=,nlwp=,times= -p "$pid" 2>/dev/null) || return 1
    read -r rss threads cpu <<<"$line"
    echo "$(date -u +%FT%TZ),$elapsed,$rss,$threads,$cpu" >>"$out/rss.csv"
}

start=$(date +%s)
sample 0
"${asr[@]}" bench --server "$server" --streams "$streams" --duration "$duration" "${interim[@]}" --json "$out/bench.json" >"$out/bench.txt" 2>&1 &
bench_pid=$!
next=$((start + interval))
while kill -0 "$bench_pid" 2>/dev/null; do
    now=$(date +%s)
    if [ "$now" -ge "$next" ]; then
        sample $((now - start)) || { echo "soak: the server (pid $pid) is gone" >&2; break; }
        next=$((next + interval))
    fi
    sleep 1
done
bench_status=0
wait "$bench_pid" || bench_status=$?
sample $(($(date +%s) - start)) || true

# RSS after warm-up (first sample at or past 10 % of the run), at the end, its peak, and the least-squares slope over
# the second half of the run: a server that does not leak flattens out, so the slope is what to watch.
awk -F, -v d="$duration" '
    BEGIN { n = 0; peak = 0 }
    /^#/ || $1 == "utc" { next }
    { t[n] = $2; r[n] = $3; n++; if ($3 > peak) peak = $3 }
    END {
        if (n == 0) { print "no samples"; exit }
        for (i = 0; i < n; i++) if (t[i] >= d * 0.1) { warm = r[i]; warm_t = t[i]; break }
        if (warm == "") { warm = r[0]; warm_t = t[0] }
        for (i = 0; i < n; i++) if (t[i] >= t[n-1] / 2) { k++; sx += t[i]; sy += r[i]; sxx += t[i] * t[i]; sxy += t[i] * r[i] }
        slope = (k > 1 && k * sxx - sx * sx != 0) ? (k * sxy - sx * sy) / (k * sxx - sx * sx) * 60 : 0
        printf "samples: %d over %d s\n", n, t[n-1]
        printf "rss start: %.1f MiB, after warm-up (%d s): %.1f MiB, end: %.1f MiB, peak: %.1f MiB\n", r[0] / 1024, warm_t, warm / 1024, r[n-1] / 1024, peak / 1024
        printf "rss slope over the second half: %+.1f KiB/min\n", slope
    }' "$out/rss.csv" | tee "$out/summary.txt"
tail -n 3 "$out/bench.txt" | tee -a "$out/summary.txt"
echo "soak: bench exit code $bench_status; results in $out"
exit "$bench_status"
