#!/usr/bin/env bash
# bench/callgrind.sh: instructions per request of nsgi-gateway, counted by valgrind's callgrind.
#
# What it measures: the instructions (callgrind's Ir) the gateway executes for one keep-alive
# `GET /` answered by bench/apps/bench_app.c ("Hello, World!", 13 bytes). Instruction counts do
# not depend on how busy the machine is, so this is the figure to compare between commits when
# wall-clock benchmarks (bench/run.sh) are too noisy.
#
# How: the gateway runs under `valgrind --tool=callgrind` as one process (--workers 0) on
# loopback. A small Python client opens ONE connection and sends N requests on it, one after
# the other, reading and checking each full response (status 200, the 13-byte body); then the
# gateway gets SIGTERM (graceful stop) and callgrind writes its totals. This is done twice, with
# N1 and N2 requests, and the figure is (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, app loading and
# shutdown are the same in both runs and cancel out. Done for --threads 0 (the app called on the
# event-loop thread) and --threads 2 (the app called on a pool of threads). The client runs
# outside valgrind, so its own instructions are not counted.
#
# The count is not exactly repeatable: whether the gateway's read after a response already finds
# the client's next request, or returns EAGAIN and goes back to epoll_wait, depends on timing, so
# the figure moves by up to about 4% between runs. Each configuration is therefore measured
# --repeat times (a pair of runs each) and the median pair is reported with the spread.
# See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/callgrind.sh [options]

Counts the instructions nsgi-gateway executes per keep-alive GET / (valgrind --tool=callgrind),
as (Ir(N2) - Ir(N1)) / (N2 - N1) over two runs of N1 and N2 requests on one connection.

  --n1 N            requests in the short run (default 2000)
  --n2 N            requests in the long run (default 12000)
  --repeat R        pairs of runs per configuration; the median pair is reported (default 5)
  --threads LIST    gateway --threads values to measure, comma-separated (default 0,2)
  --annotate        also print the 25 functions with the most exclusive Ir in the N2 run of
                    the median pair (callgrind_annotate --inclusive=no), and keep that pair's
                    callgrind.out files and the annotations in bench/results/
  --no-build        use the gateway already in target/release (the C app is always compiled)
  -h, --help        this text

Prints a Markdown table and writes bench/results/callgrind.json. Needs valgrind, cc, python3.
Environment: CARGO_TARGET_DIR.
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
RESULTS=$BENCH_DIR/results

n1=2000 n2=12000 repeat=5 threads_list=0,2 annotate=0 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --n1) n1=${2:?--n1 needs a count}; shift ;;
        --n2) n2=${2:?--n2 needs a count}; shift ;;
        --repeat) repeat=${2:?--repeat needs a count}; shift ;;
        --threads) threads_list=${2:?--threads needs a list}; shift ;;
        --annotate) annotate=1 ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "callgrind.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
THREADS=${threads_list//,/ }
for n in "$n1" "$n2" "$repeat" $THREADS; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "callgrind.sh: '$n' is not a whole number" >&2; exit 2; }
done
[ "$n1" -gt 0 ] && [ "$n2" -gt "$n1" ] || { echo "callgrind.sh: needs 0 < N1 < N2" >&2; exit 2; }
[ "$repeat" -gt 0 ] || { echo "callgrind.sh: --repeat needs at least 1" >&2; exit 2; }

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'callgrind.sh: %s\n' "$*" >&2; exit 1; }

command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
command -v python3 >/dev/null || die "python3 is not installed"
command -v cc >/dev/null || die "cc is not installed (apt-get install gcc libc6-dev)"
if [ "$annotate" = 1 ]; then
    command -v callgrind_annotate >/dev/null || die "callgrind_annotate is not installed (it comes with valgrind)"
fi

# ---- clean-up: the gateway under valgrind is stopped whatever happens -------------------------
WORK="" GW_PID=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$GW_PID" ]; then
        kill -KILL -- "-$GW_PID" 2>/dev/null || kill -KILL "$GW_PID" 2>/dev/null || true
        wait "$GW_PID" 2>/dev/null || true
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$status" = 0 ]; then rm -rf "$WORK"; else echo "callgrind.sh: files kept in $WORK" >&2; fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- building ---------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-callgrind.XXXXXX")
if [ "$build" = 1 ]; then
    log "building the gateway (cargo build --release -p nsgi-gateway)"
    (cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway) >&2
fi
GATEWAY=$RELEASE/nsgi-gateway
# The gateway refuses to serve as root without --allow-root.
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
[ -x "$GATEWAY" ] || die "$GATEWAY is missing (run without --no-build)"
cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -fvisibility=hidden \
    -I "$ROOT/abi/include" "$BENCH_DIR/apps/bench_app.c" -o "$WORK/bench_app.so"

# ---- the client: N sequential keep-alive requests on one connection, each answer checked -------
cat >"$WORK/client.py" <<'EOF'
import os, socket, sys, time

port, count, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b"Hello, World!"

def fail(message):
    sys.stderr.write("client: " + message + "\n")
    sys.exit(1)

# Wait for the gateway to listen (valgrind starts slowly); give up if it died or after 120 s.
deadline = time.time() + 120
while True:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            fail("the gateway exited before it listened on port %d" % port)
        if time.time() > deadline:
            fail("the gateway did not listen on port %d within 120 s" % port)
        time.sleep(0.2)
sock.settimeout(60)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

buf = b""
for i in range(count):
    sock.sendall(REQUEST)
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            fail("connection closed before response %d" % (i + 1))
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 200 "):
        fail("response %d: status line %r" % (i + 1, lines[0]))
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        fail("response %d has no Content-Length" % (i + 1))
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            fail("connection closed inside response %d" % (i + 1))
        buf += data
    body, buf = buf[:length], buf[length:]
    if body != BODY:
        fail("response %d: body %r" % (i + 1, body))
if buf:
    fail("%d unexpected bytes after the last response" % len(buf))
sock.close()
EOF

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

totals_of() { # CALLGRIND.OUT: the total Ir (the `totals:` line, else `summary:`)
    awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 } END { if (t != "") print t; else print s }' "$1"
}

run_once() { # THREADS N PAIR: runs the gateway under callgrind for N requests; sets IR and SECS
    local threads=$1 count=$2 pair=$3 port out logf start i
    port=$(free_port)
    out=$WORK/callgrind.t$threads.n$count.r$pair.out
    logf=$WORK/gateway.t$threads.n$count.r$pair.log
    start=$(date +%s.%N)
    setsid valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$GATEWAY" --workers 0 --threads "$threads" --log-level warn --keep-alive 600 $ALLOW_ROOT \
        --bind "127.0.0.1:$port" "$WORK/bench_app.so" >"$logf" 2>&1 </dev/null &
    GW_PID=$!
    if ! python3 "$WORK/client.py" "$port" "$count" "$GW_PID"; then
        tail -n 20 "$logf" >&2 || true
        die "the client failed against the gateway (--threads $threads, $count requests); log above"
    fi
    kill -TERM "$GW_PID" 2>/dev/null || true
    for ((i = 0; i < 600; i++)); do
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$GW_PID" 2>/dev/null; then
        tail -n 20 "$logf" >&2 || true
        die "the gateway did not stop within 60 s of SIGTERM"
    fi
    if ! wait "$GW_PID"; then
        GW_PID=""
        tail -n 20 "$logf" >&2 || true
        die "the gateway exited with a failure status after SIGTERM; log above"
    fi
    GW_PID=""
    [ -s "$out" ] || die "callgrind wrote no $out"
    IR=$(totals_of "$out")
    [[ $IR =~ ^[0-9]+$ ]] || die "no totals in $out"
    SECS=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# ---- the runs ---------------------------------------------------------------------------------
VERSION=$("$GATEWAY" --version | awk '{print $NF}')
rows=()
mkdir -p "$RESULTS"
for t in $THREADS; do
    for ((r = 1; r <= repeat; r++)); do
        run_once "$t" "$n1" "$r"; ir1=$IR s1=$SECS
        run_once "$t" "$n2" "$r"; ir2=$IR s2=$SECS
        rows+=("$t $r $ir1 $ir2 $s1 $s2")
        log "--threads $t, pair $r/$repeat: $(((ir2 - ir1) / (n2 - n1))) Ir per request"
    done
done

# ---- the report -------------------------------------------------------------------------------
python3 - "$RESULTS/callgrind.json" "$WORK/median-pairs" "$n1" "$n2" "$VERSION" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" "${rows[@]}" <<'EOF'
import json, sys, time

out, pairs_file = sys.argv[1], sys.argv[2]
n1, n2, version, commit = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
by_threads = {}
for row in sys.argv[7:]:
    threads, pair, ir1, ir2, s1, s2 = row.split()
    by_threads.setdefault(int(threads), []).append({
        "pair": int(pair),
        "ir_n1": int(ir1), "seconds_n1": float(s1),
        "ir_n2": int(ir2), "seconds_n2": float(s2),
        "ir_per_request": round((int(ir2) - int(ir1)) / (n2 - n1), 1),
    })
results = []
for threads in sorted(by_threads):
    pairs = by_threads[threads]
    ordered = sorted(pairs, key=lambda p: p["ir_per_request"])
    median = ordered[(len(ordered) - 1) // 2]
    low, high = ordered[0]["ir_per_request"], ordered[-1]["ir_per_request"]
    results.append({
        "threads": threads,
        "command": "nsgi-gateway --workers 0 --threads %d --log-level warn --keep-alive 600" % threads,
        "ir_per_request": median["ir_per_request"],
        "median_pair": median["pair"],
        "ir_per_request_min": low,
        "ir_per_request_max": high,
        "spread_percent": round(100.0 * (high - low) / median["ir_per_request"], 2),
        "pairs": pairs,
    })
print()
print("| gateway | Ir, %d requests | Ir, %d requests | **Ir per request** | min – max over %d pairs |" % (
    n1, n2, len(results[0]["pairs"])))
print("|---|---:|---:|---:|---:|")
for r in results:
    m = [p for p in r["pairs"] if p["pair"] == r["median_pair"]][0]
    print("| `--workers 0 --threads %d` | %s | %s | **%s** | %s – %s |" % (
        r["threads"], format(m["ir_n1"], ","), format(m["ir_n2"], ","),
        format(r["ir_per_request"], ",.0f"), format(r["ir_per_request_min"], ",.0f"),
        format(r["ir_per_request_max"], ",.0f")))
print()
print("Ir per request = (Ir(%d) - Ir(%d)) / %d, the median pair; keep-alive `GET /` of bench_app.c,"
      " one connection, one request at a time; Ir counts the whole gateway process (all threads)." % (n2, n1, n2 - n1))
meta = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "git": commit,
    "gateway_version": version,
    "n1": n1,
    "n2": n2,
    "request": "GET / HTTP/1.1, Host: x; keep-alive; one connection; one request at a time",
    "app": "bench/apps/bench_app.c (cc -O2)",
    "method": "(Ir(n2) - Ir(n1)) / (n2 - n1) per pair of runs, median over the pairs; Ir = callgrind totals of the whole gateway process",
}
with open(out, "w") as f:
    json.dump({"meta": meta, "results": results}, f, indent=2)
    f.write("\n")
with open(pairs_file, "w") as f:
    for r in results:
        f.write("%d %d\n" % (r["threads"], r["median_pair"]))
EOF

if [ "$annotate" = 1 ]; then
    while read -r t r; do
        for n in "$n1" "$n2"; do
            cp "$WORK/callgrind.t$t.n$n.r$r.out" "$RESULTS/callgrind.t$t.n$n.out"
        done
        ann=$RESULTS/callgrind.t$t.n$n2.annotate.txt
        callgrind_annotate --inclusive=no "$RESULTS/callgrind.t$t.n$n2.out" >"$ann"
        echo
        echo "Top 25 functions by exclusive Ir, \`--threads $t\`, the $n2-request run of the median pair"
        echo "(whole run, start-up and shutdown included):"
        echo
        echo '```text'
        # The function list follows the line that ends with "file:function"; keep its first 25.
        awk '/file:function/ { on = 1; getline; next } on && NF == 0 { exit } on && n < 25 { print; n++ }' "$ann"
        echo '```'
    done <"$WORK/median-pairs"
    log "callgrind.out files and annotations: bench/results/callgrind.t*"
fi
log "written: bench/results/callgrind.json"
