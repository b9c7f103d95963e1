#!/usr/bin/env bash
# bench/static.sh: the static-files sample (sample-apps/static) against nginx serving the same
# directory: requests/s per server core for a 4 KiB file, and download throughput for a 100 MiB
# file.
#
# The gateway runs libstatic_files.so with `--workers 1 --threads 0` and a root given through
# `--app-config`; nginx runs `worker_processes 1` with `sendfile on` on the same root. Both on
# loopback, both answering with ETag and Last-Modified. Small file: keep-alive GETs of a 4 KiB
# file on CONNS connections for DURATION seconds, with wrk when it is installed and otherwise
# with a small Python load generator (standard library, one process per connection); the
# server's CPU time is read from /proc (its whole process tree, as bench/lib/benchlib.py does)
# and the figure is requests per second per core of server CPU, so the load generator's own
# speed matters less. Large file: curl downloads, as bench/file_body.sh does; the median round in
# MiB/s. The servers take turns in every round. See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/static.sh [options]

  --duration S     seconds per small-file run (default 5)
  --rounds N       measured rounds of each measure; the median is reported (default 5)
  --conns N        keep-alive connections for the small file (default 4)
  --size MIB       size of the large file, in MiB (default 100)
  --parallel LIST  large-file downloads at once, comma-separated (default 1,4)
  --no-build       use the gateway and the sample already in target/release
  -h, --help       this text

Needs nginx, curl and python3 (wrk is used when present); installs nothing.
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
LIB=$BENCH_DIR/lib/benchlib.py
duration=5 rounds=5 conns=4 size_mib=100 parallel_list=1,4 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --rounds) rounds=${2:?--rounds needs a count}; shift ;;
        --conns) conns=${2:?--conns needs a count}; shift ;;
        --size) size_mib=${2:?--size needs MiB}; shift ;;
        --parallel) parallel_list=${2:?--parallel needs a list}; shift ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "static.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in "$duration" "$rounds" "$conns" "$size_mib"; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "static.sh: '$n' is not a positive whole number" >&2; exit 2; }
done

PROG=static.sh
PY=$(command -v python3) || { echo "static.sh: python3 is missing" >&2; exit 1; }
# log, die, find_nginx, the clean-up on exit and starting servers in sessions of their own:
# shared with run.sh and behind_nginx.sh.
# shellcheck source=lib/servers.sh
. "$BENCH_DIR/lib/servers.sh"

NGINX=$(find_nginx)
[ -n "$NGINX" ] || die "nginx is missing (bench/run.sh can install it)"
command -v curl >/dev/null || die "curl is missing"
command -v python3 >/dev/null || die "python3 is missing"
WRK=$(command -v wrk 2>/dev/null || true)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-static-bench.XXXXXX")
chmod 755 "$WORK" # nginx's workers run as another user when started as root

if [ "$build" = 1 ]; then
    log "building the gateway and static-files (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway -p static-files) >&2
fi
for f in nsgi-gateway libstatic_files.so; do
    [ -e "$RELEASE/$f" ] || die "$RELEASE/$f is missing (run without --no-build)"
done

SITE=$WORK/site
mkdir -p "$SITE"
head -c 4096 /dev/urandom >"$SITE/small.bin"
log "writing a ${size_mib} MiB file"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$SITE/large.bin"
chmod 755 "$SITE" && chmod 644 "$SITE"/*.bin
cat "$SITE"/*.bin >/dev/null # into the page cache for both servers
BYTES=$(stat -c %s "$SITE/large.bin")

wait_ready() { # URL
    for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    die "no answer from $1"
}

GW_PORT=$(python3 "$LIB" port)
printf '{"root": "%s"}\n' "$SITE" >"$WORK/site.json"
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
start_in_session "$WORK/gateway.log" "$RELEASE/nsgi-gateway" --bind "127.0.0.1:$GW_PORT" --workers 1 --threads 0 \
    --log-level warn $ALLOW_ROOT "$RELEASE/libstatic_files.so" --app-config "$WORK/site.json"
PID_nsgi=$SERVER_PID

NGINX_PORT=$(python3 "$LIB" port)
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $SITE;
    }
}
EOF
start_in_session "$WORK/nginx.log" "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf"
PID_nginx=$SERVER_PID

BASE_nsgi="http://127.0.0.1:$GW_PORT"
BASE_nginx="http://127.0.0.1:$NGINX_PORT"
for server in nsgi nginx; do
    base_var=BASE_$server
    wait_ready "${!base_var}/small.bin"
    for f in small.bin large.bin; do
        curl -fsS -o "$WORK/check" "${!base_var}/$f"
        cmp -s "$WORK/check" "$SITE/$f" || die "$server answered different bytes for $f"
    done
done
rm -f "$WORK/check"

# One small-file run: prints "requests/s server-cores requests/s-per-core".
small_run() { # SERVER
    local base_var=BASE_$1 pid_var=PID_$1
    python3 - "${!base_var}" "${!pid_var}" "$duration" "$conns" "$WRK" "$LIB" <<'PY'
import importlib.util, multiprocessing, re, socket, subprocess, sys, time
base, pid, duration, conns, wrk, lib = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
spec = importlib.util.spec_from_file_location("benchlib", lib)
benchlib = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchlib)
host, port = base.removeprefix("http://").split(":")
REQUEST = f"GET /small.bin HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

def client(deadline, out):
    """Keep-alive GETs on one connection until the deadline; puts its request count."""
    s = socket.create_connection((host, int(port)))
    buf, done = b"", 0
    while time.monotonic() < deadline:
        s.sendall(REQUEST)
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"unexpected answer: {head[:80]!r}")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(buf) < length:
            buf += s.recv(65536)
        buf = buf[length:]
        done += 1
    out.put(done)

cpu0, t0 = benchlib.tree_cpu_ticks(pid), time.monotonic()
if wrk:
    text = subprocess.run([wrk, "-t", "1", "-c", str(conns), "-d", f"{duration:.0f}s", f"{base}/small.bin"],
                          capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    requests = benchlib.parse_wrk(text)["rps"] * wall
else:
    out = multiprocessing.Queue()
    deadline = time.monotonic() + duration
    procs = [multiprocessing.Process(target=client, args=(deadline, out)) for _ in range(conns)]
    for p in procs:
        p.start()
    requests = sum(out.get(timeout=duration + 30) for _ in procs)
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
cores = (benchlib.tree_cpu_ticks(pid) - cpu0) / benchlib.CLK_TCK / wall
print(f"{requests / wall:.0f} {cores:.2f} {requests / wall / cores if cores > 0 else 0:.0f}")
PY
}

# One large-file round: PARALLEL downloads at once; prints MiB/s over the round's wall time.
large_round() { # URL PARALLEL
    local start end
    start=$(date +%s.%N)
    for _ in $(seq "$2"); do curl -fsS -o /dev/null "$1" & done
    wait
    end=$(date +%s.%N)
    python3 -c "print(f'{$2 * $BYTES / 1048576 / ($end - $start):.0f}')"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}' if $2 else '-')"; }

driver=${WRK:+wrk}
echo
echo "## 4 KiB file, keep-alive, $conns connections, ${duration} s runs (${driver:-python load generator}; median of $rounds)"
echo
echo "| server | req/s | server cores | req/s per server core |"
echo "|---|---|---|---|"
declare -A rps cores per_core
for server in nsgi nginx; do rps[$server]="" cores[$server]="" per_core[$server]=""; done
for _ in $(seq "$rounds"); do
    for server in nsgi nginx; do
        read -r r c p < <(small_run "$server")
        rps[$server]+="$r " cores[$server]+="$c " per_core[$server]+="$p "
    done
done
for server in nsgi nginx; do
    m_rps=$(tr ' ' '\n' <<<"${rps[$server]}" | grep . | median)
    m_cores=$(tr ' ' '\n' <<<"${cores[$server]}" | grep . | median)
    m_per=$(tr ' ' '\n' <<<"${per_core[$server]}" | grep . | median)
    echo "| $server | $m_rps | $m_cores | $m_per |"
    declare "PER_$server=$m_per"
done
echo
echo "nsgi / nginx, req/s per server core: $(ratio "$PER_nsgi" "$PER_nginx")"

echo
echo "## ${size_mib} MiB file, MiB/s (median of $rounds rounds)"
echo
echo "| parallel | nsgi-gateway | nginx | ratio |"
echo "|---|---|---|---|"
IFS=, read -r -a parallels <<<"$parallel_list"
for p in "${parallels[@]}"; do
    nsgi_runs=() nginx_runs=()
    for _ in $(seq "$rounds"); do
        nsgi_runs+=("$(large_round "$BASE_nsgi/large.bin" "$p")")
        nginx_runs+=("$(large_round "$BASE_nginx/large.bin" "$p")")
    done
    a=$(printf '%s\n' "${nsgi_runs[@]}" | median)
    b=$(printf '%s\n' "${nginx_runs[@]}" | median)
    echo "| $p | $a | $b | $(ratio "$a" "$b") |"
done
