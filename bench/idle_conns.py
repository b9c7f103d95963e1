#!/usr/bin/env python3
"""bench/idle_conns.py: memory of 10,000 idle keep-alive connections held by one worker.

What it measures: the resident memory of the whole nsgi-gateway process tree (the supervisor and
its one worker, `--workers 1`) while it holds 10,000 idle keep-alive connections, against the
target of under 40 MiB in total. nginx (one worker) is measured the same way beside it when it
is installed.

How: the gateway serves bench/apps/bench_app.c on loopback with --max-connections and
--keep-alive set high enough not to refuse or close any of them. The script raises its own
RLIMIT_NOFILE to the hard limit (the gateway does not raise its own; it inherits this one),
records the tree's RSS once the server has answered one request (the baseline), then opens
10,000 TCP connections, sends one complete keep-alive `GET /` on each and reads and checks the
whole answer, so that every connection has been accepted, served and left idle. Then it sums
VmRSS (/proc/PID/status) over the server's process and all its descendants, checks that every
connection is still open, that a new connection is still answered and that a sample of the idle
connections answers a second request. Everything it starts runs in a session of its own and is
stopped on exit. Prints Markdown and writes bench/results/idle.json. Standard library only.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from procs import BENCH_DIR, ROOT, compile_bench_app, free_port, nginx_command, nginx_hello_config, start, stop  # noqa: E402

RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")
RESULTS = os.path.join(BENCH_DIR, "results")
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b"Hello, World!"
MIB = 1024 * 1024


def log(message):
    sys.stderr.write("==> " + message + "\n")
    sys.stderr.flush()


class Failed(Exception):
    pass


# ---- /proc ------------------------------------------------------------------------------------

def children_map():
    """pid -> list of child pids, for every process in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants, parents first."""
    kids = children_map()
    found, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        found.append(p)
        todo.extend(sorted(kids.get(p, [])))
    return found


def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def memory(pid):
    """RSS of the tree rooted at pid: the root (supervisor, master), the rest (workers), total."""
    procs = tree(pid)
    each = []
    for p in procs:
        each.append({
            "pid": p,
            "rss_kib": status_kib(p, "VmRSS"),
            "rss_anon_kib": status_kib(p, "RssAnon"),
            "rss_file_kib": status_kib(p, "RssFile"),
            "hwm_kib": status_kib(p, "VmHWM"),
            "threads": status_kib(p, "Threads"),
            "fds": open_fds(p),
        })
    root = each[0]["rss_kib"]
    rest = sum(e["rss_kib"] for e in each[1:])
    return {
        "processes": each,
        "root_mib": round(root / 1024.0, 2),
        "workers_mib": round(rest / 1024.0, 2),
        "total_mib": round((root + rest) / 1024.0, 2),
        "total_hwm_mib": round(sum(e["hwm_kib"] for e in each) / 1024.0, 2),
    }


# ---- HTTP -------------------------------------------------------------------------------------

def read_response(sock):
    """Reads one response with a Content-Length; returns (status line, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise Failed("connection closed before a complete response head")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise Failed("response without Content-Length: %r" % lines[0])
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise Failed("connection closed inside a response body")
        rest += data
    if len(rest) != length:
        raise Failed("%d bytes more than the response" % (len(rest) - length))
    return lines[0], rest


def check_answer(sock, what):
    status, body = read_response(sock)
    if not status.startswith(b"HTTP/1.1 200 ") or body != BODY:
        raise Failed("%s: wrong answer %r, body %r" % (what, status, body[:60]))


def fresh_request(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(REQUEST)
        check_answer(sock, "a new connection")
    finally:
        sock.close()


def wait_ready(proc, port, deadline):
    while True:
        if proc.poll() is not None:
            raise Failed("the server exited with status %s before it listened" % proc.returncode)
        try:
            fresh_request(port)  # a wrong answer (Failed) is final; only connecting is retried
            return
        except OSError:
            if time.time() > deadline:
                raise Failed("the server did not answer on port %d within 30 s" % port)
            time.sleep(0.1)


def close_hard(sock):
    """Closes with RST (SO_LINGER 0), so that no TIME_WAIT is left on the client's ports."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


def still_open(sock):
    """True while the peer has not closed the connection (nothing to read, no EOF)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # with a timeout set, Python would wait for data before recv
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return data != b""


def open_idle(port, count, batch, deadline):
    """count connections, each answered once and left idle."""
    socks = []
    while len(socks) < count:
        if time.time() > deadline:
            raise Failed("opening the connections took too long (%d of %d open)" % (len(socks), count))
        group = []
        for _ in range(min(batch, count - len(socks))):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError as e:
                for s in group:
                    close_hard(s)
                raise Failed("connection %d: connect failed: %s" % (len(socks) + len(group) + 1, e))
            group.append(sock)
            sock.sendall(REQUEST)
        for i, sock in enumerate(group):
            try:
                check_answer(sock, "connection %d" % (len(socks) + i + 1))
            except (OSError, Failed) as e:
                for s in group:
                    close_hard(s)
                raise Failed("connection %d: %s" % (len(socks) + i + 1, e))
        socks.extend(group)
    return socks


# ---- servers ----------------------------------------------------------------------------------

def measure(name, cmd, port, args, logfile, started):
    """Starts the server, measures it with args.connections idle connections, stops it."""
    log("%s: %s" % (name, " ".join(cmd)))
    result = {"server": name, "command": cmd, "ok": False}
    proc = start(cmd, logfile)
    started.append(proc)
    socks = []
    try:
        wait_ready(proc, port, time.time() + 30)
        for _ in range(50):  # the worker(s) must be up: the tree has more than one process
            if len(tree(proc.pid)) > 1:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        result["baseline"] = memory(proc.pid)
        log("%s: baseline %.1f MiB; opening %d connections" % (name, result["baseline"]["total_mib"], args.connections))

        began = time.time()
        socks = open_idle(port, args.connections, args.batch, time.time() + args.open_timeout)
        result["open_seconds"] = round(time.time() - began, 2)
        time.sleep(args.settle)
        result["idle"] = memory(proc.pid)
        result["held_by_client"] = sum(1 for s in socks if still_open(s))
        log("%s: %d connections open and idle, %.1f MiB" % (name, result["held_by_client"], result["idle"]["total_mib"]))

        fresh_request(port)
        result["new_connection_answered"] = True
        step = max(1, len(socks) // args.sample)
        sample = socks[::step][:args.sample]
        for i, sock in enumerate(sample):
            sock.sendall(REQUEST)
            check_answer(sock, "second request on idle connection %d" % (i * step + 1))
        result["second_requests_answered"] = len(sample)
        result["held_after_checks"] = sum(1 for s in socks if still_open(s))
        if result["held_by_client"] != args.connections or result["held_after_checks"] != args.connections:
            raise Failed("the server closed idle connections: %d open after measuring, %d after the checks"
                         % (result["held_by_client"], result["held_after_checks"]))
        result["ok"] = True
    except Failed as e:
        result["error"] = str(e)
        log("%s: FAILED: %s" % (name, e))
        with open(logfile, "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        if tail.strip():
            log("%s: the end of its log:\n%s" % (name, tail))
    finally:
        for s in socks:
            close_hard(s)
        result["server_alive_at_end"] = proc.poll() is None
        result["stop_seconds"] = stop(proc)
        started.remove(proc)
    return result


def nginx_config(work, port, connections):
    """nginx with room for `connections` idle keep-alive connections that it keeps for an hour."""
    return nginx_hello_config(
        work, port, worker_connections=connections + 1000,
        main_extra="worker_rlimit_nofile %d;" % (2 * connections + 2000),
        http_extra="    keepalive_timeout 3600s;")


# ---- report -----------------------------------------------------------------------------------

def report(results, args):
    lines = [
        "| server | connections held | baseline MiB | supervisor/master MiB | worker MiB | **total MiB** "
        "| KiB per connection | < %g MiB |" % args.limit_mib,
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if not r.get("idle"):
            lines.append("| %s | – | – | – | – | – | – | failed: %s |" % (r["server"], r.get("error", "?")))
            continue
        base, idle = r["baseline"], r["idle"]
        per_conn = (idle["total_mib"] - base["total_mib"]) * 1024.0 / args.connections
        verdict = "pass" if r["ok"] and idle["total_mib"] < args.limit_mib else "**FAIL**"
        if not r["ok"]:
            verdict += " (%s)" % r.get("error", "?")
        lines.append("| %s | %d | %.1f | %.1f | %.1f | **%.1f** | %.2f | %s |" % (
            r["server"], r["held_by_client"], base["total_mib"], idle["root_mib"], idle["workers_mib"],
            idle["total_mib"], per_conn, verdict))
    lines.append("")
    lines.append("RSS = VmRSS summed over the server's process tree (shared pages counted once per process), "
                 "%d idle keep-alive connections each answered once; baseline after one request." % args.connections)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(
        description="RSS of nsgi-gateway (1 worker) holding many idle keep-alive connections, "
                    "and of nginx (1 worker) if installed. Writes bench/results/idle.json.")
    parser.add_argument("--connections", type=int, default=10000, help="idle connections to hold (default 10000)")
    parser.add_argument("--limit-mib", type=float, default=40.0, help="the target for the total RSS (default 40)")
    parser.add_argument("--sample", type=int, default=100, help="idle connections that send a second request (default 100)")
    parser.add_argument("--batch", type=int, default=250, help="connections opened before reading their answers (default 250)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds to wait before measuring (default 1)")
    parser.add_argument("--open-timeout", type=float, default=45.0, help="seconds allowed to open all connections (default 45)")
    parser.add_argument("--no-build", action="store_true", help="use the gateway already in target/release")
    parser.add_argument("--no-nginx", action="store_true", help="do not measure nginx")
    args = parser.parse_args()
    if args.connections < 1 or args.sample < 1 or args.batch < 1:
        parser.error("--connections, --sample and --batch must be positive")

    # File descriptors: ours (one per connection) and the servers' (they inherit this limit).
    need = args.connections + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))  # root may raise the hard limit
        except (OSError, ValueError):
            sys.exit("idle_conns.py: RLIMIT_NOFILE hard limit %d < %d needed; raise it (ulimit -Hn) or use "
                     "fewer --connections" % (hard, need))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    log("RLIMIT_NOFILE %d/%d (the servers inherit it)" % nofile)

    # Bounded time: the whole run stops after 110 s, cleaning up on the way out.
    def on_signal(signum, frame):
        raise SystemExit("idle_conns.py: stopped by signal %d" % signum)

    def on_alarm(signum, frame):
        raise SystemExit("idle_conns.py: took longer than 110 s; stopped")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)

    if not args.no_build:
        log("building the gateway (cargo build --release -p nsgi-gateway)")
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "nsgi-gateway"], cwd=ROOT, check=True)
    gateway = os.path.join(RELEASE, "nsgi-gateway")
    if not os.access(gateway, os.X_OK):
        sys.exit("idle_conns.py: %s is missing (run without --no-build)" % gateway)
    nginx = None if args.no_nginx else (shutil.which("nginx") or
                                        (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx") or None)

    work = tempfile.mkdtemp(prefix="nsgi-idle.")
    os.chmod(work, 0o755)
    started = []
    results = []
    failed = False
    signal.alarm(110)
    try:
        app = compile_bench_app(work)

        port = free_port()
        cmd = [gateway, "--workers", "1", "--threads", "0", "--log-level", "warn",
               "--bind", "127.0.0.1:%d" % port, "--max-connections", str(args.connections + 1000),
               "--keep-alive", "3600", app]
        if os.geteuid() == 0:
            cmd.insert(1, "--allow-root")  # the gateway refuses to serve as root without it
        results.append(measure("nsgi", cmd, port, args, os.path.join(work, "nsgi.log"), started))

        if nginx:
            port = free_port()
            conf_dir, conf = nginx_config(work, port, args.connections)
            cmd = nginx_command(nginx, conf_dir, conf)
            results.append(measure("nginx", cmd, port, args, os.path.join(work, "nginx.log"), started))
        else:
            log("nginx is not installed (or --no-nginx): no comparison")
    finally:
        signal.alarm(0)
        for proc in list(started):
            stop(proc)
        if all(r["ok"] for r in results) and results:
            shutil.rmtree(work, ignore_errors=True)
        else:
            failed = True
            log("logs kept in %s" % work)

    table = report(results, args)
    print()
    print(table)
    nsgi = results[0]
    target_met = nsgi["ok"] and nsgi["idle"]["total_mib"] < args.limit_mib
    print()
    print("nsgi-gateway, 1 worker, %d idle connections: %s MiB total, target < %g MiB: %s" % (
        args.connections, nsgi["idle"]["total_mib"] if nsgi.get("idle") else "–", args.limit_mib,
        "met" if target_met else "NOT met"))

    versions = {"nsgi-gateway": subprocess.run([gateway, "--version"], capture_output=True, text=True).stdout.strip()}
    if nginx:
        versions["nginx"] = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "idle.json"), "w") as f:
        json.dump({
            "meta": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "git": git or "unknown",
                "versions": versions,
                "connections": args.connections,
                "limit_mib": args.limit_mib,
                "rlimit_nofile": list(nofile),
                "method": "VmRSS summed over the server's process tree; each connection sent one keep-alive "
                          "GET / and read the answer, then stayed idle",
            },
            "target_met": target_met,
            "results": results,
            "table": table,
        }, f, indent=2)
        f.write("\n")
    log("written: bench/results/idle.json")
    if failed:
        sys.exit(1)
    sys.exit(0 if target_met else 3)


if __name__ == "__main__":
    main()
