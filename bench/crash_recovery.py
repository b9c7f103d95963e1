#!/usr/bin/env python3
"""bench/crash_recovery.py: how long the service is down after an app crashes a worker.

What it measures: the time to service after each crash. The gateway serves
gateway/tests/apps/lifecycle.c, whose `GET /crash` kills its worker with SIGSEGV (a native app's
bug reached by one request). While background clients keep sending keep-alive `GET /`, the
script sends `GET /crash` on a new connection N times in a row; for each crash it notes when the
crashing connection is closed by the kernel (the worker is dead), then sends `GET /` on new
connections until one is answered 200, and records the time between the two. With one worker
that is the time the supervisor takes to start a replacement that serves; with several it is
normally the time another worker takes to answer. The target: every crash followed by service
within 200 ms.

Reports p50, p90 and max over the N crashes for each worker count (default 1 and 2), the
requests the background clients lost, and pass or FAIL against the target. Prints Markdown and
writes bench/results/crash_recovery.json. Exit status 0 when every configuration meets the
target, 3 when one misses it, 1 on any failure. Everything it starts runs in a session of its
own and is stopped on exit. Standard library only.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from procs import free_port, stop  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
RESULTS = os.path.join(BENCH_DIR, "results")
APP_SOURCE = os.path.join(ROOT, "gateway", "tests", "apps", "lifecycle.c")


def log(message):
    sys.stderr.write("==> " + message + "\n")
    sys.stderr.flush()


class Failed(Exception):
    pass


# ---- HTTP -------------------------------------------------------------------------------------

def read_response(sock):
    """Reads one response with a Content-Length body; returns (status, body), or None when the
    connection closed (or was reset) before a complete response."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            rest += chunk
        return status, rest[:length]
    except (ConnectionResetError, BrokenPipeError):
        return None


def get_once(port, path, timeout):
    """GET `path` on a new connection: (status, body), or None when no response came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        return read_response(sock)
    except (ConnectionResetError, BrokenPipeError):
        return None
    finally:
        sock.close()


class Load:
    """Client threads sending keep-alive `GET /` until stopped; counts answered and lost requests
    (a request written and not answered; a connection the server closed while idle is replaced
    before a request is written on it, as far as a client can tell)."""

    def __init__(self, port, clients):
        self.port = port
        self.stop = threading.Event()
        self.ok = 0
        self.lost = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def client(self):
        sock = None
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = read_response(sock)
            except OSError:
                reply = None
            with self.lock:
                if reply is not None and reply[0] == 200:
                    self.ok += 1
                else:
                    self.lost += 1
            if reply is None:
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.005)
        if sock is not None:
            sock.close()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        return self.ok, self.lost


# ---- the gateway ------------------------------------------------------------------------------

def start_gateway(binary, app, workers, threads, port, stderr_path):
    args = [binary, "--bind", "127.0.0.1:%d" % port, "--workers", str(workers), "--threads", str(threads),
            "--log-level", "info", app]
    if os.geteuid() == 0:
        args.insert(1, "--allow-root")  # the gateway refuses to serve as root without it
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True)
    line = proc.stdout.readline().decode(errors="replace")
    if not line.startswith("Listening on"):
        stop_gateway(proc)
        raise Failed("the gateway did not start: %r (see %s)" % (line, stderr_path))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def stop_gateway(proc):
    """Stops the gateway, giving its graceful stop (the drain) up to 40 s."""
    stop(proc, grace=40)


def crash_and_time(port, tries, timeout):
    """One crash; returns the seconds from the crashing connection's close to the first 200, and
    how many GETs that took."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_response(sock)
    finally:
        sock.close()
    crashed_at = time.monotonic()
    if reply is not None:
        raise Failed("GET /crash was answered %r: the app did not crash" % (reply,))
    for attempt in range(1, tries + 1):
        reply = get_once(port, "/", timeout)
        if reply is not None and reply[0] == 200:
            return time.monotonic() - crashed_at, attempt
    raise Failed("no service %d tries after a crash" % tries)


def percentile(values, percent):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(percent / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def measure(binary, app, workers, args, scratch):
    port = free_port()
    stderr_path = os.path.join(scratch, "gateway-w%d.log" % workers)
    proc = start_gateway(binary, app, workers, args.threads, port, stderr_path)
    try:
        load = Load(port, args.clients)
        time.sleep(args.warmup)
        times = []
        attempts = []
        for _ in range(args.crashes):
            seconds, tries = crash_and_time(port, args.tries, args.timeout)
            times.append(seconds)
            attempts.append(tries)
            time.sleep(args.pause)
        ok, lost = load.finish()
    finally:
        stop_gateway(proc)
    with open(stderr_path, errors="replace") as f:
        log_text = f.read()
    crashes_logged = log_text.count("killed by signal SIGSEGV")
    backoffs = len(re.findall(r"SIGSEGV; restarting in ", log_text))
    return {
        "workers": workers,
        "threads": args.threads,
        "crashes": len(times),
        "crashes_logged": crashes_logged,
        "restarts_with_back_off": backoffs,
        "time_to_service_ms": [round(t * 1000, 2) for t in times],
        "gets_until_served": attempts,
        "p50_ms": round(percentile(times, 50) * 1000, 2),
        "p90_ms": round(percentile(times, 90) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
        "load_ok": ok,
        "load_lost": lost,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    parser.add_argument("--threads", type=int, default=0, help="--threads of the gateway (default 0)")
    parser.add_argument("--crashes", type=int, default=20, help="crashes per worker count (default 20)")
    parser.add_argument("--clients", type=int, default=2, help="background keep-alive clients (default 2)")
    parser.add_argument("--target-ms", type=float, default=200, help="the target for every crash (default 200)")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between a recovery and the next crash")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before the first crash")
    parser.add_argument("--tries", type=int, default=50, help="GETs allowed per recovery")
    parser.add_argument("--timeout", type=float, default=15, help="socket timeout in seconds")
    parser.add_argument("--profile", default="release", choices=["release", "debug"])
    parser.add_argument("--no-build", action="store_true", help="use the gateway binary already built")
    args = parser.parse_args()

    signal.alarm(600)  # the whole run is bounded
    if not args.no_build:
        log("building the gateway (cargo build --%s -p nsgi-gateway)" % args.profile)
        command = ["cargo", "build", "--quiet", "-p", "nsgi-gateway"]
        if args.profile == "release":
            command.insert(2, "--release")
        subprocess.run(command, cwd=ROOT, check=True)
    binary = os.path.join(TARGET_DIR, args.profile, "nsgi-gateway")
    if not os.path.exists(binary):
        raise Failed("%s does not exist (build it, or drop --no-build)" % binary)
    results = []
    with tempfile.TemporaryDirectory(prefix="nsgi-crash-") as scratch:
        app = os.path.join(scratch, "liblifecycle.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-fvisibility=hidden", "-I", os.path.join(ROOT, "abi", "include"),
                        "-o", app, APP_SOURCE], check=True)
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            log("workers %d: %d crashes under load from %d clients" % (workers, args.crashes, args.clients))
            results.append(measure(binary, app, workers, args, scratch))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    report = {"commit": commit, "profile": args.profile, "target_ms": args.target_ms,
              "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "results": results}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "crash_recovery.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("| workers | crashes | time to service p50 | p90 | max | target | restarts with back-off "
          "| background requests ok / lost |")
    print("|---|---|---|---|---|---|---|---|")
    met = True
    for r in results:
        passed = r["max_ms"] <= args.target_ms
        met = met and passed
        print("| %d | %d | %.1f ms | %.1f ms | %.1f ms | %s | %d | %d / %d |" % (
            r["workers"], r["crashes"], r["p50_ms"], r["p90_ms"], r["max_ms"],
            "pass" if passed else "**FAIL**", r["restarts_with_back_off"], r["load_ok"], r["load_lost"]))
    print("\n%s build at %s, %d CPUs, load average %.2f %.2f %.2f" % (
        args.profile, commit or "?", os.cpu_count() or 0, *os.getloadavg()))
    return 0 if met else 3


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        log("FAILED: %s" % e)
        sys.exit(1)
