#!/usr/bin/env python3
"""bench/segments.py: TCP segments per request, nsgi-gateway beside nginx.

What it measures: how many TCP segments one request costs on loopback, both directions counted,
for a `Connection: close` request (a new connection each time: handshake, request, response,
teardown) and for a keep-alive request (one connection, request after request). Every segment
is a trip through the network stack on both ends, so for short connections this is most of the
kernel's work per request, and, unlike requests per second, it does not move with the load of
the machine.

How: the gateway (`--workers 0`, bench/apps/bench_app.c, "Hello, World!") and nginx (one worker,
`return 200 "Hello, World!"`) each get N sequential requests from this script, one at a time,
each answer read whole and checked; the kernel's `OutSegs` counter (/proc/net/snmp, every TCP
segment the host sends, which on loopback is every segment of both ends) is read before and
after, and the difference divided by N. Run it on an otherwise quiet machine: other TCP traffic
of the host is counted too (the script repeats each measurement and keeps the lowest).
Standard library only; Linux only. Prints Markdown and writes bench/results/segments.json.
"""

import argparse
import json
import os
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
BODY = b"Hello, World!"


def log(message):
    sys.stderr.write("==> " + message + "\n")
    sys.stderr.flush()


def out_segments():
    """The host's TCP OutSegs counter."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutSegs")])


def read_answer(sock, until_close):
    """Reads one answer (to the end of the stream with `until_close`) and checks its body."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if not until_close and data.endswith(BODY):
            break
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(BODY):
        raise RuntimeError("unexpected answer: %r" % data[:200])


def close_requests(port, count):
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            read_answer(sock, until_close=True)


def keepalive_requests(port, count):
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(count):
            sock.sendall(request)
            read_answer(sock, until_close=False)


def per_request(run, port, count, repeats):
    """The lowest segments per request over `repeats` measurements of `count` requests."""
    best = None
    for _ in range(repeats):
        before = out_segments()
        run(port, count)
        segments = (out_segments() - before) / count
        best = segments if best is None else min(best, segments)
    return round(best, 2)


def wait_ready(proc, port):
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited with status %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not listen on port %d" % port)


def main():
    parser = argparse.ArgumentParser(description="TCP segments per request of nsgi-gateway and nginx "
                                                 "on loopback. Writes bench/results/segments.json.")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per figure; the lowest is kept (default 3)")
    parser.add_argument("--gateway", help="the nsgi-gateway binary (default: target/release, built first)")
    parser.add_argument("--no-nginx", action="store_true", help="do not measure nginx")
    args = parser.parse_args()
    if args.requests < 1 or args.repeat < 1:
        parser.error("--requests and --repeat must be positive")

    def on_signal(signum, frame):
        raise SystemExit("segments.py: stopped by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, lambda s, f: on_signal(s, f))
    signal.alarm(300)  # bounded: the whole run stops after 5 minutes

    gateway = args.gateway
    if gateway is None:
        log("building the gateway (cargo build --release -p nsgi-gateway)")
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "nsgi-gateway"], cwd=ROOT, check=True)
        gateway = os.path.join(RELEASE, "nsgi-gateway")
    nginx = None if args.no_nginx else (shutil.which("nginx") or
                                        (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx") or None)

    work = tempfile.mkdtemp(prefix="nsgi-segments.")
    os.chmod(work, 0o755)
    results = []
    try:
        app = compile_bench_app(work)
        servers = []
        port = free_port()
        cmd = [gateway, "--workers", "0", "--threads", "0", "--log-level", "warn",
               "--bind", "127.0.0.1:%d" % port, app]
        if os.geteuid() == 0:
            cmd.insert(1, "--allow-root")  # the gateway refuses to serve as root without it
        servers.append(("nsgi", cmd, port))
        if nginx:
            port = free_port()
            conf_dir, conf = nginx_hello_config(work, port)
            servers.append(("nginx", nginx_command(nginx, conf_dir, conf), port))
        else:
            log("nginx is not installed (or --no-nginx): no comparison")
        for name, cmd, port in servers:
            proc = start(cmd, os.path.join(work, name + ".log"))
            try:
                wait_ready(proc, port)
                close_requests(port, 50)  # warm-up
                row = {
                    "server": name,
                    "close": per_request(close_requests, port, args.requests, args.repeat),
                    "keepalive": per_request(keepalive_requests, port, args.requests, args.repeat),
                }
                log("%s: %s" % (name, row))
                results.append(row)
            finally:
                stop(proc)
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)

    lines = ["| server | segments per `Connection: close` request | segments per keep-alive request |",
             "|---|---:|---:|"]
    lines += ["| %s | %.2f | %.2f |" % (r["server"], r["close"], r["keepalive"]) for r in results]
    print()
    print("\n".join(lines))
    print()
    print("Both ends counted (loopback); %d sequential requests per measurement, the lowest of %d."
          % (args.requests, args.repeat))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "segments.json"), "w") as f:
        json.dump({"requests": args.requests, "repeat": args.repeat, "results": results}, f, indent=2)
    log("written: bench/results/segments.json")


if __name__ == "__main__":
    main()
