# bench/lib/servers.sh: starting, waiting for and stopping the servers a bench script measures,
# and installing what it lacks; sourced by bench/run.sh and bench/behind_nginx.sh.
#
# Owns the clean-up: every server started through start_in_session is in RUNNING and is stopped
# (its whole process tree) when the script exits, fails or is interrupted; the temporary
# directory WORK is removed after a clean exit and kept (with its logs) after a failure. It must
# never stop a process it did not start, nor leave a service or policy-rc.d behind.
#
# The sourcing script sets PROG (its name, for messages), BENCH_DIR, VENV, PY and LIB (python and
# benchlib.py, set before the first server starts), and may set WORK once it has made its
# directory.

PROG=${PROG:-bench}
WORK="" POLICY_GUARD="" RUNNING=()

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }

stop_server() { # PID: TERM to the server, then KILL whatever of its tree is left after 10 s
    local pid=$1 tree pgid i
    tree=$("$PY" "$LIB" tree "$pid" 2>/dev/null || echo "$pid")
    pgid=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[3] }' "/proc/$pid/stat" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        local alive=0 p
        for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    # A process group of our own (setsid made one per server): kill what is left of it.
    if [ "$pgid" = "$pid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
    for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${RUNNING[@]}"; do stop_server "$pid"; done
    RUNNING=()
    if [ -n "$POLICY_GUARD" ]; then
        rm -f /usr/sbin/policy-rc.d 2>/dev/null || sudo -n rm -f /usr/sbin/policy-rc.d 2>/dev/null || true
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$status" = 0 ]; then rm -rf "$WORK"; else echo "$PROG: logs kept in $WORK" >&2; fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_in_session() { # LOG COMMAND...: starts COMMAND in a session of its own; sets SERVER_PID
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    SERVER_PID=$!
    RUNNING+=("$SERVER_PID")
}

forget_server() { # PID: stop it and drop it from RUNNING
    local pid=$1 p kept=()
    stop_server "$pid"
    for p in "${RUNNING[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    RUNNING=("${kept[@]+"${kept[@]}"}")
}

wait_port() { # PID PORT: 0 once the port accepts, 1 if the server died or 30 s passed
    local pid=$1 port=$2 i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# ---- installing what is missing ------------------------------------------------------------
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else die "needs root to run: $* (install it yourself, or run as root)"
    fi
}

install_missing() { # PACKAGE...: installs them (none: nothing), or dies under --no-install
    [ $# -gt 0 ] || return 0
    [ "$install" = 1 ] || die "missing: $* (run without --no-install to install them)"
    apt_install "$@"
}

apt_install() {
    command -v apt-get >/dev/null || die "cannot install $* without apt-get: install it yourself"
    log "installing $* with apt-get"
    # Packages such as nginx start their service on install; a policy-rc.d that says no keeps
    # the machine free of servers this script did not start (removed again on exit).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        POLICY_GUARD=1
    fi
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; then
        as_root apt-get update -qq >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
    fi
    if [ -n "$POLICY_GUARD" ]; then as_root rm -f /usr/sbin/policy-rc.d; POLICY_GUARD=""; fi
}

find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

venv_with() { # VENV INSTALL(0/1) PACKAGE...: makes VENV and pip-installs the packages it lacks
    local venv=$1 install=$2
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        [ "$install" = 1 ] || die "no virtualenv at $venv (run without --no-install)"
        log "creating the virtualenv $venv"
        if ! python3 -m venv "$venv" >&2; then
            rm -rf "$venv"
            apt_install python3-venv
            python3 -m venv "$venv" >&2
        fi
    fi
    local package missing=()
    for package in "$@"; do
        "$venv/bin/python" -c "import importlib.metadata as m; m.version('$package')" 2>/dev/null ||
            missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$install" = 1 ] || die "${missing[*]} missing from $venv (run without --no-install)"
        log "installing ${missing[*]} from PyPI into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
    fi
}

wsgi_peer_command() { # SERVER WORKERS PORT: sets CMD to serve bench/peers/hello_wsgi.py over HTTP
    # with granian or gunicorn from VENV (GUNICORN_WORKER_CLASS and GUNICORN_THREADS set by the caller)
    local server=$1 workers=$2 port=$3
    case $server in
        granian)
            CMD=("$VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$port"
                --workers "$workers" --http 1 --working-dir "$BENCH_DIR/peers" --log-level warning
                hello_wsgi:app) ;;
        gunicorn)
            CMD=("$VENV/bin/gunicorn" --bind "127.0.0.1:$port" --workers "$workers"
                --worker-class "$GUNICORN_WORKER_CLASS" --threads "$GUNICORN_THREADS" --chdir "$BENCH_DIR/peers"
                --log-level warning hello_wsgi:app) ;;
        *) die "no WSGI peer called $server" ;;
    esac
}

version_of() { "$@" 2>&1 | head -n 1 | tr -d '\r' || true; }
