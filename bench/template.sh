#!/usr/bin/env bash
# bench/template.sh: the `template` sample (MiniJinja, NSGI) against the same page rendered by
# Jinja2 under Granian (bench/peers/template_wsgi.py): same templates, same data, same bytes.
#
# Installs what it needs like bench/run.sh (wrk from the distribution; Granian and Jinja2 from
# PyPI into bench/.venv), builds the gateway and the sample in release mode, serves each with ONE
# worker on loopback, checks that both answer the same page, then measures each with wrk (RUNS
# runs of DURATION seconds, round-robin) and prints req/s and req/s per server core (requests
# divided by the CPU time the server's processes used). Usage: bench/template.sh [DURATION] [RUNS]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$BENCH_DIR/.venv
LIB=$BENCH_DIR/lib/benchlib.py
DURATION=${1:-5} RUNS=${2:-3} CONNS=50
TARGET='/?username=Codi&item=uno&item=dos'
for n in "$DURATION" "$RUNS"; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "template.sh: '$n' is not a positive whole number" >&2; exit 2; }
done
log() { printf '==> %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >&2 || { apt-get update -qq >&2 && apt-get install -y -qq wrk >&2; }; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV" >&2; }
"$VENV/bin/python" -c 'import granian, jinja2' 2>/dev/null || {
    log "installing granian and jinja2 into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check granian jinja2 >&2
}
log "building the gateway and the template sample (release)"
(cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway -p template) >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-template-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
NSGI_PORT=$("$VENV/bin/python" "$LIB" port)
GRANIAN_PORT=$("$VENV/bin/python" "$LIB" port)
setsid "$RELEASE/nsgi-gateway" --bind "127.0.0.1:$NSGI_PORT" --workers 1 --threads 0 --log-level warn \
    $ALLOW_ROOT "$RELEASE/libtemplate.so" >"$WORK/nsgi.log" 2>&1 </dev/null &
PIDS+=($!)
setsid "$VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$GRANIAN_PORT" --workers 1 --http 1 \
    --working-dir "$BENCH_DIR/peers" --log-level warning template_wsgi:app >"$WORK/granian.log" 2>&1 </dev/null &
PIDS+=($!)
for port in "$NSGI_PORT" "$GRANIAN_PORT"; do
    for ((i = 0; i < 300; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
curl -sS --max-time 10 -o "$WORK/nsgi.html" "http://127.0.0.1:$NSGI_PORT$TARGET"
curl -sS --max-time 10 -o "$WORK/granian.html" "http://127.0.0.1:$GRANIAN_PORT$TARGET"
grep -q 'Hola Codi' "$WORK/nsgi.html" || { echo "template.sh: the NSGI app did not greet Codi" >&2; exit 1; }
cmp -s "$WORK/nsgi.html" "$WORK/granian.html" || {
    echo "template.sh: the two servers render different pages:" >&2
    diff "$WORK/nsgi.html" "$WORK/granian.html" >&2 || true
    exit 1
}

names=(nsgi granian) ports=("$NSGI_PORT" "$GRANIAN_PORT")
for i in 0 1; do wrk -t1 "-c$CONNS" -d2s "http://127.0.0.1:${ports[$i]}$TARGET" >/dev/null 2>&1 || true; done
for ((r = 1; r <= RUNS; r++)); do
    for i in 0 1; do
        printf '==> %-8s run %d/%d: ' "${names[$i]}" "$r" "$RUNS" >&2
        "$VENV/bin/python" "$LIB" measure --record "$WORK/records.jsonl" --pid "${PIDS[$i]}" \
            --tag "server=${names[$i]}" --tag "run=$r" -- \
            wrk -t1 "-c$CONNS" --latency "-d${DURATION}s" "http://127.0.0.1:${ports[$i]}$TARGET" >&2
    done
done
"$VENV/bin/python" - "$WORK/records.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
median = {}
for server in ("nsgi", "granian"):
    mine = [r for r in runs if r.get("server") == server and r.get("rps_per_core")]
    median[server] = (statistics.median(r["rps"] for r in mine), statistics.median(r["rps_per_core"] for r in mine))
    print(f"{server:8s} {median[server][0]:>10.0f} req/s  {median[server][1]:>10.0f} req/s per server core (median)")
print(f"ratio per server core: {median['nsgi'][1] / median['granian'][1]:.1f}x")
PY
