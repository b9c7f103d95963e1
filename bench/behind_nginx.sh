#!/usr/bin/env bash
# bench/behind_nginx.sh: the hello app behind nginx, side by side in one run: nginx in front of
# NSGI over the uwsgi protocol, NSGI over HTTP with upstream keep-alive, uWSGI over uwsgi, and
# Granian and gunicorn over HTTP.
#
# Installs what it needs (wrk and nginx from the distribution, uWSGI, Granian and gunicorn from
# PyPI in bench/.venv), builds the gateway, then starts every backend with its own nginx on
# loopback, checks each answers through its nginx, warms each up, measures each with wrk
# (round-robin, RUNS times) and prints one table: req/s, nginx's CPU and the backend's apart,
# req/s per backend core and per total core, p50/p99, and the ratios issue 11 sets as goals.
# Raw results go to bench/results/behind_nginx.json, the table to bench/results/behind_nginx.md.
# See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/behind_nginx.sh [options]

  --quick              smoke test: 1 s runs, 1 run, 1 s warm-up
  --duration S         seconds per measured wrk run (default 5)
  --runs N             measured runs per row; the median is reported (default 3)
  --warmup S           seconds of wrk warm-up per row before measuring (default 2)
  --connections N      wrk's connections to nginx, keep-alive (default 50); the HTTP upstreams
                       keep up to N idle connections to their backend
  --workers N          worker processes of every backend (default 1)
  --nginx-workers N    nginx's worker_processes (default 1)
  --rows LIST          rows, comma-separated (default all): nsgi-uwsgi, nsgi-http, uwsgi,
                       granian, gunicorn
  --wrk-cpus LIST      CPUs wrk runs on (taskset -c; default 0)
  --server-cpus LIST   CPUs nginx and the backends run on (default 1; on a 1-CPU machine: no pinning)
  --no-pin             do not pin anything
  --no-install         do not install anything (fail if a tool is missing)
  --no-build           use the gateway already in target/release
  -h, --help           this text

Environment: GUNICORN_WORKER_CLASS (default sync), GUNICORN_THREADS (default 1),
CARGO_TARGET_DIR.
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RELEASE=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$BENCH_DIR/.venv
LIB=$BENCH_DIR/lib/benchlib.py
REPORT=$BENCH_DIR/lib/behind_nginx.py
ALL_ROWS="nsgi-uwsgi nsgi-http uwsgi granian gunicorn"
GUNICORN_WORKER_CLASS=${GUNICORN_WORKER_CLASS:-sync}
GUNICORN_THREADS=${GUNICORN_THREADS:-1}

# ---- options -------------------------------------------------------------------------------
quick=0 duration="" runs="" warmup="" conns=50 workers=1 nginx_workers=1 rows_list=""
wrk_cpus=0 server_cpus=1 pin=1 install=1 build=1
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --runs) runs=${2:?--runs needs a count}; shift ;;
        --warmup) warmup=${2:?--warmup needs seconds}; shift ;;
        --connections) conns=${2:?--connections needs a count}; shift ;;
        --workers) workers=${2:?--workers needs a count}; shift ;;
        --nginx-workers) nginx_workers=${2:?--nginx-workers needs a count}; shift ;;
        --rows) rows_list=${2:?--rows needs a list}; shift ;;
        --wrk-cpus) wrk_cpus=${2:?--wrk-cpus needs a CPU list}; shift ;;
        --server-cpus) server_cpus=${2:?--server-cpus needs a CPU list}; shift ;;
        --no-pin) pin=0 ;;
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "behind_nginx.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    : "${duration:=1}" "${runs:=1}" "${warmup:=1}"
fi
DURATION=${duration:-5} RUNS=${runs:-3} WARMUP=${warmup:-2}
ROWS=${rows_list:-$ALL_ROWS}
ROWS=${ROWS//,/ }
for n in "$DURATION" "$RUNS" "$WARMUP" "$conns" "$workers" "$nginx_workers"; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "behind_nginx.sh: '$n' is not a positive whole number" >&2; exit 2; }
done
for r in $ROWS; do
    [[ " $ALL_ROWS " == *" $r "* ]] || { echo "behind_nginx.sh: unknown row '$r' (one of: $ALL_ROWS)" >&2; exit 2; }
done
for c in "$wrk_cpus" "$server_cpus"; do
    [[ $c =~ ^[0-9]+([-,][0-9]+)*$ ]] || { echo "behind_nginx.sh: '$c' is not a CPU list (e.g. 0 or 0-1 or 0,2)" >&2; exit 2; }
done
has_row() { [[ " $ROWS " == *" $1 "* ]]; }
PROG=behind_nginx.sh
# log, die, the clean-up on exit, starting and stopping servers, installing: shared with run.sh.
# shellcheck source=lib/servers.sh
. "$BENCH_DIR/lib/servers.sh"

# ---- installing what is missing ------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -n "$(find_nginx)" ] || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
command -v taskset >/dev/null || missing+=(util-linux)
if has_row nsgi-uwsgi || has_row nsgi-http; then command -v cc >/dev/null || missing+=(gcc libc6-dev); fi
install_missing "${missing[@]+"${missing[@]}"}"
NGINX=$(find_nginx)

peers=()
if has_row uwsgi; then
    peers+=(uwsgi)
    # pip compiles uWSGI against the Python it runs on: that needs a C compiler and Python.h.
    has_headers='import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'
    if [ ! -x "$VENV/bin/uwsgi" ] && ! python3 -c "$has_headers"; then
        [ "$install" = 1 ] || die "uWSGI needs Python's headers (python3-dev) and a C compiler to install"
        apt_install python3-dev gcc libc6-dev
    fi
fi
has_row granian && peers+=(granian)
has_row gunicorn && peers+=(gunicorn)
if [ ${#peers[@]} -gt 0 ]; then
    venv_with "$VENV" "$install" "${peers[@]}"
fi
if [ -x "$VENV/bin/python" ]; then PY=$VENV/bin/python; else PY=$(command -v python3); fi

# ---- pinning -------------------------------------------------------------------------------
# wrk on its own CPU, nginx and the backend on another: the load generator then never takes
# CPU from the servers it measures, and the servers' CPU time is what they need for the load.
if [ "$pin" = 1 ] && [ "$(nproc)" -lt 2 ]; then
    log "one CPU: nothing is pinned"
    pin=0
fi
if [ "$pin" = 1 ]; then
    WRK_PIN=(taskset -c "$wrk_cpus") SERVER_PIN=(taskset -c "$server_cpus")
    "${WRK_PIN[@]}" true 2>/dev/null || die "cannot pin to CPUs $wrk_cpus (--wrk-cpus)"
    "${SERVER_PIN[@]}" true 2>/dev/null || die "cannot pin to CPUs $server_cpus (--server-cpus)"
    PINNING="wrk on CPU $wrk_cpus; nginx and the backend on CPU $server_cpus"
else
    WRK_PIN=() SERVER_PIN=() PINNING="none"
fi

# ---- building ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsgi-behind-nginx.XXXXXX")
chmod 755 "$WORK" # nginx's workers run as another user when started as root
mkdir -p "$WORK/logs"
RECORD=$WORK/records.jsonl
: >"$RECORD"

if has_row nsgi-uwsgi || has_row nsgi-http; then
    if [ "$build" = 1 ]; then
        log "building the gateway (cargo build --release)"
        (cd "$ROOT" && cargo build --release --quiet -p nsgi-gateway) >&2
    fi
    [ -x "$RELEASE/nsgi-gateway" ] || die "$RELEASE/nsgi-gateway is missing (run without --no-build)"
    cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -fvisibility=hidden \
        -I "$ROOT/abi/include" "$BENCH_DIR/apps/bench_app.c" -o "$WORK/bench_app.so"
fi
printf 'Hello, World!' >"$WORK/hello.expected"

# ---- backends and their nginx --------------------------------------------------------------
# The gateway refuses to serve as root without --allow-root.
ALLOW_ROOT=$([ "$(id -u)" = 0 ] && echo --allow-root || true)

protocol_of() { # ROW: how nginx talks to that row's backend
    case $1 in nsgi-uwsgi | uwsgi) echo uwsgi ;; *) echo http ;; esac
}

backend_command() { # ROW PORT: sets CMD, the backend's command line
    local row=$1 port=$2
    case $row in
        nsgi-uwsgi | nsgi-http)
            local bind=127.0.0.1:$port
            [ "$row" = nsgi-uwsgi ] && bind=uwsgi://$bind
            CMD=("$RELEASE/nsgi-gateway" --bind "$bind" --workers "$workers" --threads 0
                --log-level warn $ALLOW_ROOT "$WORK/bench_app.so") ;;
        uwsgi) # no request log (the gateway writes none either); SIGTERM stops it
            CMD=("$VENV/bin/uwsgi" --master --processes "$workers" --socket "127.0.0.1:$port"
                --chdir "$BENCH_DIR/peers" --wsgi-file hello_wsgi.py --callable app --need-app
                --disable-logging --die-on-term) ;;
        granian | gunicorn) wsgi_peer_command "$row" "$workers" "$port" ;;
    esac
}

write_nginx_conf() { # ROW NGINX_PORT BACKEND_PORT DIR: nginx's config for that row, in DIR
    local row=$1 port=$2 backend=$3 dir=$4 location pool=""
    mkdir -p "$dir/tmp"
    if [ "$(protocol_of "$row")" = uwsgi ]; then
        # nginx's uwsgi module has no upstream keep-alive: a new backend connection per request.
        location="uwsgi_pass backend;
            uwsgi_param QUERY_STRING \$query_string;
            uwsgi_param REQUEST_METHOD \$request_method;
            uwsgi_param CONTENT_TYPE \$content_type;
            uwsgi_param CONTENT_LENGTH \$content_length;
            uwsgi_param REQUEST_URI \$request_uri;
            uwsgi_param PATH_INFO \$document_uri;
            uwsgi_param DOCUMENT_ROOT \$document_root;
            uwsgi_param SERVER_PROTOCOL \$server_protocol;
            uwsgi_param REQUEST_SCHEME \$scheme;
            uwsgi_param HTTPS \$https if_not_empty;
            uwsgi_param REMOTE_ADDR \$remote_addr;
            uwsgi_param REMOTE_PORT \$remote_port;
            uwsgi_param SERVER_PORT \$server_port;
            uwsgi_param SERVER_NAME \$server_name;"
    else
        # Idle connections kept per nginx worker: as many as the client connections, so every
        # request finds one; HTTP/1.1 without "Connection: close" so the backend keeps them.
        pool="keepalive $conns;
        keepalive_requests 1000000;
        keepalive_timeout 10s;"
        location="proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;"
    fi
    cat >"$dir/nginx.conf" <<EOF
worker_processes $nginx_workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream backend {
        server 127.0.0.1:$backend;
        $pool
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            $location
        }
    }
}
EOF
}

check_answer() { # PORT: 0 when nginx on PORT answers GET / with the hello body
    local got=$WORK/answer
    curl -sS --max-time 20 -o "$got" "http://127.0.0.1:$1/" 2>>"$WORK/logs/curl.log" &&
        cmp -s "$got" "$WORK/hello.expected"
}

uwsgi_bind_refusal() { # PORT: the gateway's refusal of --bind uwsgi://127.0.0.1:PORT, or nothing
    # --check-config validates the settings (the --bind addresses among them) and binds nothing:
    # a gateway without the uwsgi listener refuses the address itself and names it.
    backend_command nsgi-uwsgi "$1"
    local out
    if ! out=$("${CMD[@]}" --check-config 2>&1); then
        grep -m1 -e '--bind "uwsgi://' <<<"$out" || true
    fi
}

# ---- the run -------------------------------------------------------------------------------
meta=(date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" duration="$DURATION" runs="$RUNS" warmup="$WARMUP"
    quick="$quick" cpus="$(nproc)" "rows=$ROWS" workers="$workers" nginx_workers="$nginx_workers"
    connections="$conns" "pinning=$PINNING"
    "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)" "gunicorn_worker_class=$GUNICORN_WORKER_CLASS"
    "gunicorn_threads=$GUNICORN_THREADS"
    "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    "versions.wrk=$(version_of wrk -v | awk '{print $2}')"
    "versions.nginx=$(version_of "$NGINX" -v | sed 's|.*nginx/||')")
if has_row nsgi-uwsgi || has_row nsgi-http; then
    meta+=("versions.nsgi-gateway=$(version_of "$RELEASE/nsgi-gateway" --version | awk '{print $NF}')")
fi
if has_row uwsgi; then meta+=("versions.uwsgi=$(version_of "$VENV/bin/uwsgi" --version)"); fi
if has_row granian; then meta+=("versions.granian=$(version_of "$VENV/bin/granian" --version | awk '{print $NF}')"); fi
if has_row gunicorn; then meta+=("versions.gunicorn=$(version_of "$VENV/bin/gunicorn" --version | awk '{print $NF}' | tr -d ')')"); fi
if [ ${#peers[@]} -gt 0 ]; then meta+=("versions.python=$(version_of "$PY" --version | awk '{print $2}')"); fi

count=$(echo "$ROWS" | wc -w)
log "$count rows of ${WARMUP} s warm-up + $RUNS × ${DURATION} s: about $(((count * (WARMUP + RUNS * DURATION + 2) + 59) / 60)) min; pinning: $PINNING"

names=() backend_pids=() nginx_pids=() ports=() backend_ports=()
for row in $ROWS; do
    tags=(--tag "row=$row" --tag "protocol=$(protocol_of "$row")")
    backend_port=$("$PY" "$LIB" port)
    backend_log=$WORK/logs/$row.log
    if [ "$row" = nsgi-uwsgi ]; then
        refusal=$(uwsgi_bind_refusal "$backend_port")
        if [ -n "$refusal" ]; then
            log "NOT AVAILABLE: nsgi-uwsgi: the gateway has no uwsgi listener; it said: $refusal"
            "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" \
                --reason "not available (gateway has no uwsgi listener)"
            continue
        fi
    fi
    backend_command "$row" "$backend_port"
    start_in_session "$backend_log" "${SERVER_PIN[@]+"${SERVER_PIN[@]}"}" "${CMD[@]}"
    backend_pid=$SERVER_PID
    if ! wait_port "$backend_pid" "$backend_port"; then
        log "$row did not start; its log:"; tail -n 20 "$backend_log" >&2 || true
        "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" --reason "did not start"
        forget_server "$backend_pid"; continue
    fi
    nginx_port=$("$PY" "$LIB" port)
    dir=$WORK/nginx-$row
    write_nginx_conf "$row" "$nginx_port" "$backend_port" "$dir"
    start_in_session "$dir/stdout.log" "${SERVER_PIN[@]+"${SERVER_PIN[@]}"}" \
        "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    nginx_pid=$SERVER_PID
    if ! wait_port "$nginx_pid" "$nginx_port"; then
        log "nginx for $row did not start; its log:"; tail -n 20 "$dir/error.log" "$dir/stdout.log" >&2 || true
        "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" --reason "nginx did not start"
        forget_server "$nginx_pid"; forget_server "$backend_pid"; continue
    fi
    if ! check_answer "$nginx_port"; then
        log "$row answered GET / wrongly through nginx; not measured. nginx's errors:"
        tail -n 5 "$dir/error.log" >&2 || true
        "$PY" "$LIB" fail --record "$RECORD" "${tags[@]}" --reason "wrong answer through nginx"
        forget_server "$nginx_pid"; forget_server "$backend_pid"; continue
    fi
    names+=("$row") backend_pids+=("$backend_pid") nginx_pids+=("$nginx_pid") ports+=("$nginx_port")
    backend_ports+=("$backend_port")
done

wrk_args=(-t1 "-c$conns" --latency)
for i in "${!names[@]}"; do
    log "${names[$i]}: ${WARMUP} s warm-up"
    "${WRK_PIN[@]+"${WRK_PIN[@]}"}" wrk "${wrk_args[@]}" "-d${WARMUP}s" "http://127.0.0.1:${ports[$i]}/" >/dev/null 2>&1 || true
done
backend_sockets() { # PORT: the local ports of nginx's connections to the backend on PORT, sorted
    ss -Htn state established "( dport = :$1 )" | awk '{ n = split($3, a, ":"); print a[n] }' | sort
}

for ((r = 1; r <= RUNS; r++)); do
    for i in "${!names[@]}"; do
        sampler=""
        if [ "$r" = "$RUNS" ] && command -v ss >/dev/null; then
            # nginx's connections to the backend at a third and at two thirds of the last run:
            # those open at both are kept across requests (about --connections with upstream
            # keep-alive, about none when each request has a connection of its own).
            third=$(awk -v d="$DURATION" 'BEGIN { print d / 3 }')
            (
                sleep "$third"; backend_sockets "${backend_ports[$i]}" >"$WORK/sockets.1"
                sleep "$third"; backend_sockets "${backend_ports[$i]}" >"$WORK/sockets.2"
            ) &
            sampler=$!
        fi
        printf '==> %-10s run %d/%d: ' "${names[$i]}" "$r" "$RUNS" >&2
        "$PY" "$LIB" measure --record "$RECORD" --pid "${backend_pids[$i]}" --front-pid "${nginx_pids[$i]}" \
            --tag "row=${names[$i]}" --tag "protocol=$(protocol_of "${names[$i]}")" --tag "run=$r" -- \
            "${WRK_PIN[@]+"${WRK_PIN[@]}"}" wrk "${wrk_args[@]}" "-d${DURATION}s" "http://127.0.0.1:${ports[$i]}/" >&2 || true
        if [ -n "$sampler" ] && wait "$sampler" && [ -e "$WORK/sockets.2" ]; then
            kept=$(comm -12 "$WORK/sockets.1" "$WORK/sockets.2" | wc -l)
            printf '{"kind": "pool", "row": "%s", "kept_connections": %d}\n' "${names[$i]}" "$kept" >>"$RECORD"
            rm -f "$WORK/sockets.1" "$WORK/sockets.2"
        fi
    done
done
for i in "${!names[@]}"; do
    forget_server "${nginx_pids[$i]}"
    forget_server "${backend_pids[$i]}"
done

# ---- the report ----------------------------------------------------------------------------
meta+=("loadavg_at_end=$(cut -d' ' -f1-3 /proc/loadavg)")
for row in $ROWS; do
    backend_command "$row" PORT
    meta+=("command.$row=${CMD[*]}")
done
"$PY" "$LIB" meta --out "$WORK/meta.json" "${meta[@]}"
mkdir -p "$BENCH_DIR/results"
echo
"$PY" "$REPORT" --record "$RECORD" --meta "$WORK/meta.json" \
    --json "$BENCH_DIR/results/behind_nginx.json" --md "$BENCH_DIR/results/behind_nginx.md"
log "raw results: bench/results/behind_nginx.json; this table: bench/results/behind_nginx.md"
