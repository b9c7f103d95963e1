#!/usr/bin/env bash
# bench/file_body.sh: a large file served through `file_body` against nginx serving the same file
# with `sendfile on`: download throughput, and the system calls each worker makes per download.
#
# The gateway serves gateway/tests/apps/files.c (`GET /length?PATH`: opens PATH, declares its
# size, answers it with file_body and NSGI_FILE_TAKE_FD), `--workers 1 --threads 0`; nginx
# serves the same file from a `location` with `sendfile on`, `worker_processes 1`. Both on
# loopback. For each round and each parallelism, every server downloads the file with curl
# (PARALLEL downloads at once, the servers taking turns), and the median round is reported in
# MiB/s with the ratio gateway / nginx. Then `strace -f -c` is attached to each server's worker
# during three downloads and its system call table printed (sendfile, not read/write pairs).
# See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/file_body.sh [options]

  --size MIB       size of the file, in MiB (default 100)
  --rounds N       measured rounds; the median is reported (default 7)
  --parallel LIST  downloads at once, comma-separated (default 1,4)
  --no-install     do not install nginx or strace (fail if missing)
  --no-build       use the gateway already in target/release
  -h, --help       this text
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
size_mib=100 rounds=7 parallel_list=1,4 install=1 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --size) size_mib=${2:?--size needs MiB}; shift ;;
        --rounds) rounds=${2:?--rounds needs a count}; shift ;;
        --parallel) parallel_list=${2:?--parallel needs a list}; shift ;;
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "file_body.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

LIB=$BENCH_DIR/lib/benchlib.py
PROG=file_body.sh
PY=$(command -v python3) || { echo "file_body.sh: python3 is missing" >&2; exit 1; }
# log, die, find_nginx, the clean-up on exit and starting servers in sessions of their own:
# shared with run.sh and behind_nginx.sh.
# shellcheck source=lib/servers.sh
. "$BENCH_DIR/lib/servers.sh"

missing=()
[ -n "$(find_nginx)" ] || missing+=(nginx)
command -v strace >/dev/null || missing+=(strace)
command -v curl >/dev/null || missing+=(curl)
install_missing "${missing[@]+"${missing[@]}"}"
NGINX=$(find_nginx)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-file-bench.XXXXXX")
chmod 755 "$WORK" # nginx's workers run as another user when started as root

if [ "$build" = 1 ]; then
    log "building the gateway (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway) >&2
fi
[ -x "$RELEASE/nsgi-gateway" ] || die "$RELEASE/nsgi-gateway is missing (run without --no-build)"
cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -I "$ROOT/abi/include" \
    "$ROOT/gateway/tests/apps/files.c" -o "$WORK/files.so"

mkdir -p "$WORK/static"
FILE=$WORK/static/file.bin
log "writing a ${size_mib} MiB file"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$FILE"
chmod 644 "$FILE"
BYTES=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # into the page cache for both servers

wait_ready() { # URL
    for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    die "no answer from $1"
}

GW_PORT=$("$PY" "$LIB" port)
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
start_in_session "$WORK/gateway.log" "$RELEASE/nsgi-gateway" --bind "127.0.0.1:$GW_PORT" --workers 1 --threads 0 \
    --log-level warn $ALLOW_ROOT "$WORK/files.so"
GW_PID=$SERVER_PID

NGINX_PORT=$("$PY" "$LIB" port)
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
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /file.bin { root $WORK/static; }
    }
}
EOF
start_in_session "$WORK/nginx.log" "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf"
NGINX_PID=$SERVER_PID

URL_nsgi="http://127.0.0.1:$GW_PORT/length?$FILE"
URL_nginx="http://127.0.0.1:$NGINX_PORT/file.bin"
wait_ready "$URL_nsgi"
wait_ready "$URL_nginx"
for server in nsgi nginx; do
    url_var=URL_$server
    curl -fsS -o "$WORK/check" "${!url_var}"
    cmp -s "$WORK/check" "$FILE" || die "$server answered different bytes"
done
rm -f "$WORK/check"

# One round: PARALLEL downloads of the file at once; prints MiB/s over the round's wall time.
round() { # URL PARALLEL
    local start end
    start=$(date +%s.%N)
    for _ in $(seq "$2"); do curl -fsS -o /dev/null "$1" & done
    wait
    end=$(date +%s.%N)
    python3 -c "print(f'{$2 * $BYTES / 1048576 / ($end - $start):.0f}')"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo
echo "## ${size_mib} MiB file: file_body (nsgi-gateway) vs nginx sendfile, MiB/s (median of $rounds rounds)"
echo
echo "| parallel | nsgi-gateway | nginx | ratio |"
echo "|---|---|---|---|"
IFS=, read -r -a parallels <<<"$parallel_list"
for p in "${parallels[@]}"; do
    nsgi_runs=() nginx_runs=()
    for _ in $(seq "$rounds"); do
        nsgi_runs+=("$(round "$URL_nsgi" "$p")")
        nginx_runs+=("$(round "$URL_nginx" "$p")")
    done
    a=$(printf '%s\n' "${nsgi_runs[@]}" | median)
    b=$(printf '%s\n' "${nginx_runs[@]}" | median)
    echo "| $p | $a | $b | $(python3 -c "print(f'{$a / $b:.2f}')") |"
done

# System calls of each worker during three downloads.
worker_of() { pgrep -P "$1" | head -n 1; }
echo
echo "## System calls of the worker for 3 downloads (strace -f -c)"
for server in nsgi nginx; do
    if [ $server = nsgi ]; then parent=$GW_PID; else parent=$NGINX_PID; fi
    # The gateway's supervisor is the session leader's process; nginx's master likewise.
    worker=$(worker_of "$parent")
    [ -n "$worker" ] || die "no worker process under $server's pid $parent"
    url_var=URL_$server
    strace -f -c -o "$WORK/strace.$server" -p "$worker" 2>/dev/null &
    tracer=$!
    sleep 0.5
    for _ in 1 2 3; do curl -fsS -o /dev/null "${!url_var}"; done
    sleep 0.2
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    echo
    echo "$server (pid $worker):"
    echo '```'
    cat "$WORK/strace.$server"
    echo '```'
done
