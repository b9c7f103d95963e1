#!/usr/bin/env bash
# bench/run.sh: NSGI against nginx, Granian and gunicorn, side by side, in one run.
#
# Installs what it needs (wrk and nginx from the distribution, Granian and gunicorn from PyPI in
# bench/.venv), builds the gateway and the sample apps, then for each worker count and scenario
# starts every server on loopback with the same app, warms each up, measures each with wrk
# (round-robin, RUNS times), and prints one table per scenario and worker count. Raw results go
# to bench/results/latest.json, the tables to bench/results/latest.md. See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/run.sh [options]

  --quick              smoke test: 1 s runs, 1 run, 1 s warm-up, 1 worker, keepalive-c50 only
  --duration S         seconds per measured wrk run (default 5)
  --runs N             measured runs per server and scenario; the median is reported (default 3)
  --warmup S           seconds of wrk warm-up per server before measuring (default 2)
  --only LIST          scenarios, comma-separated (default all): keepalive-c50, keepalive-c200,
                       close-c50, 64k-c50, post1m-c50
  --workers LIST       worker counts, comma-separated (default 1,2)
  --servers LIST       servers, comma-separated (default all): nsgi, nsgi-rust, nginx,
                       granian, gunicorn; also nsgi-baseline (not in the default), which is
                       nsgi with the gateway binary NSGI_BASELINE names: a build of another
                       commit, to measure a change side by side in one run
  --no-install         do not install anything (fail if a tool is missing)
  --no-build           use the gateway and sample apps already in target/release
  -h, --help           this text

Environment: GUNICORN_WORKER_CLASS (default sync), GUNICORN_THREADS (default 1),
CARGO_TARGET_DIR, NSGI_BASELINE (the gateway binary of nsgi-baseline).
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$BENCH_DIR/.venv
LIB=$BENCH_DIR/lib/benchlib.py
ALL_SCENARIOS="keepalive-c50 keepalive-c200 close-c50 64k-c50 post1m-c50"
ALL_SERVERS="nsgi nsgi-rust nginx granian gunicorn"
GUNICORN_WORKER_CLASS=${GUNICORN_WORKER_CLASS:-sync}
GUNICORN_THREADS=${GUNICORN_THREADS:-1}

# ---- options -------------------------------------------------------------------------------
quick=0 duration="" runs="" warmup="" only="" workers_list="" servers_list="" install=1 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --runs) runs=${2:?--runs needs a count}; shift ;;
        --warmup) warmup=${2:?--warmup needs seconds}; shift ;;
        --only) only=${2:?--only needs a scenario}; shift ;;
        --workers) workers_list=${2:?--workers needs a list}; shift ;;
        --servers) servers_list=${2:?--servers needs a list}; shift ;;
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    : "${duration:=1}" "${runs:=1}" "${warmup:=1}" "${workers_list:=1}" "${only:=keepalive-c50}"
fi
DURATION=${duration:-5} RUNS=${runs:-3} WARMUP=${warmup:-2}
WORKERS=${workers_list:-1,2} SCENARIOS=${only:-$ALL_SCENARIOS} SERVERS=${servers_list:-$ALL_SERVERS}
WORKERS=${WORKERS//,/ } SCENARIOS=${SCENARIOS//,/ } SERVERS=${SERVERS//,/ }
for n in "$DURATION" "$RUNS" "$WARMUP" $WORKERS; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "run.sh: '$n' is not a positive whole number" >&2; exit 2; }
done
for s in $SCENARIOS; do
    [[ " $ALL_SCENARIOS " == *" $s "* ]] || { echo "run.sh: unknown scenario '$s' (one of: $ALL_SCENARIOS)" >&2; exit 2; }
done
for s in $SERVERS; do
    [[ " $ALL_SERVERS nsgi-baseline " == *" $s "* ]] || { echo "run.sh: unknown server '$s' (one of: $ALL_SERVERS nsgi-baseline)" >&2; exit 2; }
done
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }
PROG=run.sh
# log, die, the clean-up on exit, starting and stopping servers, installing: shared with
# behind_nginx.sh.
# shellcheck source=lib/servers.sh
. "$BENCH_DIR/lib/servers.sh"

# ---- installing what is missing ------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
if has_server nginx && [ -z "$(find_nginx)" ]; then missing+=(nginx); fi
command -v curl >/dev/null || missing+=(curl)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
install_missing "${missing[@]+"${missing[@]}"}"
NGINX=$(find_nginx)

if has_server granian || has_server gunicorn; then venv_with "$VENV" "$install" granian gunicorn; fi
if [ -x "$VENV/bin/python" ]; then PY=$VENV/bin/python; else PY=$(command -v python3); fi

# ---- building ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-bench.XXXXXX")
chmod 755 "$WORK" # nginx's workers run as another user when started as root
mkdir -p "$WORK/logs" "$WORK/static"
RECORD=$WORK/records.jsonl
: >"$RECORD"

if has_server nsgi-baseline; then
    [ -x "${NSGI_BASELINE:-}" ] || die "nsgi-baseline needs NSGI_BASELINE=/path/to/an/nsgi-gateway binary"
fi
if has_server nsgi || has_server nsgi-rust || has_server nsgi-baseline; then
    if [ "$build" = 1 ]; then
        log "building the gateway and the sample apps (cargo build --release)"
        (cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway -p hello -p echo) >&2
    fi
    for f in nsgi-gateway libhello.so libecho.so; do
        [ -e "$RELEASE/$f" ] || die "$RELEASE/$f is missing (run without --no-build)"
    done
    cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -fvisibility=hidden \
        -I "$ROOT/abi/include" "$BENCH_DIR/apps/bench_app.c" -o "$WORK/bench_app.so"
fi

# The bodies every server must answer with, byte for byte.
printf 'Hello, World!' >"$WORK/hello.expected"
head -c 65536 /dev/zero | tr '\0' x >"$WORK/static/64k"
chmod 644 "$WORK/static/64k"
head -c 1048576 /dev/zero | tr '\0' x >"$WORK/post.body"

# ---- servers -------------------------------------------------------------------------------
# The gateway refuses to serve as root without --allow-root.
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
server_command() { # SERVER WORKERS PORT SCENARIO: sets CMD, the server's command line
    local server=$1 workers=$2 port=$3 scenario=$4
    case $server in
        nsgi)
            CMD=("$RELEASE/nsgi-gateway" --bind "127.0.0.1:$port" --workers "$workers" --threads 0
                --log-level warn $ALLOW_ROOT "$WORK/bench_app.so") ;;
        nsgi-baseline) # the same as nsgi, served by another build of the gateway
            CMD=("$NSGI_BASELINE" --bind "127.0.0.1:$port" --workers "$workers" --threads 0
                --log-level warn $ALLOW_ROOT "$WORK/bench_app.so") ;;
        nsgi-rust) # the workspace's Rust SDK samples: hello (GET /) and echo (POST /)
            local app=$RELEASE/libhello.so
            [ "$scenario" = post1m-c50 ] && app=$RELEASE/libecho.so
            CMD=("$RELEASE/nsgi-gateway" --bind "127.0.0.1:$port" --workers "$workers" --threads 0
                --log-level warn $ALLOW_ROOT "$app") ;;
        nginx)
            local dir=$WORK/nginx-$port
            mkdir -p "$dir/tmp"
            cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        location = /64k { root $WORK/static; }
        location / { return 200 "Hello, World!"; }
    }
}
EOF
            CMD=("$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf") ;;
        granian | gunicorn) wsgi_peer_command "$server" "$workers" "$port" ;;
    esac
}

start_server() { # SERVER WORKERS PORT SCENARIO LOG: starts it in a session of its own; sets SERVER_PID
    server_command "$1" "$2" "$3" "$4"
    start_in_session "$5" "${CMD[@]}"
}

# ---- scenarios -----------------------------------------------------------------------------
scenario_setup() { # SCENARIO: sets CONNS, URL_PATH, WRK_EXTRA and the expected body
    WRK_EXTRA=() URL_PATH=/ CONNS=50 EXPECTED=$WORK/hello.expected
    case $1 in
        keepalive-c50) ;;
        keepalive-c200) CONNS=200 ;;
        close-c50) WRK_EXTRA=(-H "Connection: close") ;;
        64k-c50) URL_PATH=/64k EXPECTED=$WORK/static/64k ;;
        post1m-c50) WRK_EXTRA=(-s "$BENCH_DIR/post.lua") EXPECTED=$WORK/post.body ;;
    esac
}

check_answer() { # SCENARIO PORT: 0 when the server answers the scenario's request correctly
    local scenario=$1 port=$2 got=$WORK/answer
    local args=(-sS --max-time 20 -o "$got" -H "Expect:")
    [ "$scenario" = close-c50 ] && args+=(-H "Connection: close")
    [ "$scenario" = post1m-c50 ] && args+=(--data-binary "@$WORK/post.body" -H "Content-Type: application/octet-stream")
    curl "${args[@]}" "http://127.0.0.1:$port$URL_PATH" 2>>"$WORK/logs/curl.log" && cmp -s "$got" "$EXPECTED"
}

runs_in() { # SCENARIO SERVER: 0 when this server takes part in this scenario
    case "$1/$2" in
        post1m-c50/nginx | 64k-c50/nsgi-rust) return 1 ;;
        *) return 0 ;;
    esac
}

# ---- the run -------------------------------------------------------------------------------
meta=(date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" duration="$DURATION" runs="$RUNS" warmup="$WARMUP"
    quick="$quick" cpus="$(nproc)" "servers=$SERVERS" "workers=$WORKERS" "scenarios=$SCENARIOS"
    "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)" "gunicorn_worker_class=$GUNICORN_WORKER_CLASS" "gunicorn_threads=$GUNICORN_THREADS"
    "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    "versions.wrk=$(version_of wrk -v | awk '{print $2}')")
if has_server nginx; then meta+=("versions.nginx=$(version_of "$NGINX" -v | sed 's|.*nginx/||')"); fi
if has_server granian; then meta+=("versions.granian=$(version_of "$VENV/bin/granian" --version | awk '{print $NF}')"); fi
if has_server gunicorn; then meta+=("versions.gunicorn=$(version_of "$VENV/bin/gunicorn" --version | awk '{print $NF}' | tr -d ')')"); fi
if has_server granian || has_server gunicorn; then meta+=("versions.python=$(version_of "$PY" --version | awk '{print $2}')"); fi
if has_server nsgi || has_server nsgi-rust; then
    meta+=("versions.nsgi-gateway=$(version_of "$RELEASE/nsgi-gateway" --version | awk '{print $NF}')")
fi

cases=0
for w in $WORKERS; do
    for sc in $SCENARIOS; do
        for s in $SERVERS; do runs_in "$sc" "$s" && cases=$((cases + 1)); done
    done
done
log "$cases server runs of ${WARMUP} s warm-up + $RUNS × ${DURATION} s: about $(((cases * (WARMUP + RUNS * DURATION + 2) + 59) / 60)) min"

for w in $WORKERS; do
    for sc in $SCENARIOS; do
        scenario_setup "$sc"
        names=() pids=() ports=()
        for s in $SERVERS; do
            runs_in "$sc" "$s" || continue
            port=$("$PY" "$LIB" port)
            logfile=$WORK/logs/$s-w$w-$sc.log
            start_server "$s" "$w" "$port" "$sc" "$logfile"
            tags=(--tag "server=$s" --tag "workers=$w" --tag "scenario=$sc")
            if ! wait_port "$SERVER_PID" "$port"; then
                log "$s did not start; its log:"; tail -n 20 "$logfile" >&2 || true
                "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" --reason "did not start"
                forget_server "$SERVER_PID"; continue
            fi
            if ! check_answer "$sc" "$port"; then
                log "$s answered $URL_PATH wrongly for $sc; not measured"
                "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" --reason "wrong answer"
                forget_server "$SERVER_PID"; continue
            fi
            names+=("$s") pids+=("$SERVER_PID") ports+=("$port")
        done
        [ ${#names[@]} -gt 0 ] || continue
        wrk_args=(-t1 "-c$CONNS" --latency "${WRK_EXTRA[@]+"${WRK_EXTRA[@]}"}")
        for i in "${!names[@]}"; do
            log "[$w worker(s), $sc] ${names[$i]}: ${WARMUP} s warm-up"
            wrk "${wrk_args[@]}" "-d${WARMUP}s" "http://127.0.0.1:${ports[$i]}$URL_PATH" >/dev/null 2>&1 || true
        done
        for ((r = 1; r <= RUNS; r++)); do
            for i in "${!names[@]}"; do
                printf '==> [%s worker(s), %s] %-9s run %d/%d: ' "$w" "$sc" "${names[$i]}" "$r" "$RUNS" >&2
                "$PY" "$LIB" measure --record "$RECORD" --pid "${pids[$i]}" --tag "server=${names[$i]}" \
                    --tag "workers=$w" --tag "scenario=$sc" --tag "run=$r" -- \
                    wrk "${wrk_args[@]}" "-d${DURATION}s" "http://127.0.0.1:${ports[$i]}$URL_PATH" >&2 || true
            done
        done
        for i in "${!names[@]}"; do
            "$PY" "$LIB" rss --record "$RECORD" --pid "${pids[$i]}" \
                --tag "server=${names[$i]}" --tag "workers=$w" --tag "scenario=$sc"
            forget_server "${pids[$i]}"
        done
    done
done

# ---- the report ----------------------------------------------------------------------------
for s in $SERVERS; do
    server_command "$s" N PORT "$(echo "$SCENARIOS" | awk '{print $1}')"
    meta+=("command.$s=${CMD[*]}")
done
"$PY" "$LIB" meta --out "$WORK/meta.json" "${meta[@]}"
mkdir -p "$BENCH_DIR/results"
echo
"$PY" "$LIB" report --record "$RECORD" --meta "$WORK/meta.json" \
    --json "$BENCH_DIR/results/latest.json" --md "$BENCH_DIR/results/latest.md"
log "raw results: bench/results/latest.json; these tables: bench/results/latest.md"
