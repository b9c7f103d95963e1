"""Measuring and reporting helpers for bench/run.sh (standard library only).

    benchlib.py port                       a free TCP port on 127.0.0.1
    benchlib.py tree PID                   PID and its live descendants, one line
    benchlib.py measure --record FILE --pid PID [--front-pid PID] [--tag K=V ...] -- wrk ARGS...
                                           one wrk run; appends a "run" record, prints a summary
                                           (--front-pid: a proxy in front of the server, such as
                                           nginx, whose tree's CPU is measured apart)
    benchlib.py rss --record FILE --pid PID [--tag K=V ...]
                                           appends the tree's summed VmHWM as an "rss" record
    benchlib.py fail --record FILE --reason TEXT [--tag K=V ...]
                                           appends a "failure" record
    benchlib.py meta --out FILE KEY=VALUE...  writes the run's settings as JSON (a.b=c nests)
    benchlib.py report --record FILE --meta FILE --json OUT --md OUT
                                           prints the Markdown tables, writes JSON and Markdown

Server CPU is read from /proc/PID/stat (utime, stime, cutime, cstime: fields 14-17, in clock
ticks) summed over the whole process tree, before and after the run. cutime/cstime carry the
time of descendants that exited and were reaped inside the tree, so a worker that is replaced
mid-run is still counted; each live process's own utime/stime is counted once.
"""

import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# The order of scenarios and servers in the report.
SCENARIOS = [
    ("keepalive-c50", "GET / (13 bytes), keep-alive, 50 connections"),
    ("keepalive-c200", "GET / (13 bytes), keep-alive, 200 connections"),
    ("close-c50", "GET / (13 bytes), `Connection: close` (a new connection per request), 50 connections"),
    ("64k-c50", "GET /64k (65536-byte response), keep-alive, 50 connections"),
    ("post1m-c50", "POST / with a 1 MiB body, echoed back, keep-alive, 50 connections"),
]
SERVERS = ["nsgi", "nsgi-rust", "nsgi-baseline", "nginx", "granian", "gunicorn"]
NSGI_SERVERS = ["nsgi", "nsgi-rust"]
# Why a server has no row in a scenario (bench/run.sh skips these combinations).
NOT_RUN = {
    ("post1m-c50", "nginx"): "nginx cannot echo a request body without an extra module",
    ("64k-c50", "nsgi-rust"): "the Rust hello sample has no /64k route",
}


# ---------------------------------------------------------------------------------------------
# /proc


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None if PID is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The name (field 2) is in parentheses and may itself hold spaces and parentheses.
    return data[data.rindex(b")") + 2 :].split()


def tree_pids(root):
    """ROOT and all its live descendants (by parent pid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None:
            continue
        ppid = int(fields[1])  # field 4
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_ticks(root):
    """utime+stime+cutime+cstime summed over ROOT's tree, in clock ticks."""
    total = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # Fields 14..17 of /proc/PID/stat; fields[0] is field 3.
            total += sum(int(x) for x in fields[11:15])
    return total


def tree_peak_rss_kib(root):
    """VmHWM (peak resident set) summed over ROOT's tree, in KiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def tree_counts(root):
    """(processes, threads) in ROOT's tree."""
    pids = tree_pids(root)
    threads = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            threads += int(fields[17])  # field 20, num_threads
    return len(pids), threads


def system_ticks():
    """(busy, softirq, steal) CPU time of the whole machine (all cores), in clock ticks, from
    /proc/stat.

    Busy is user + nice + system + irq + softirq. Softirq is also returned apart, for information:
    it is mostly the loopback network stack. With tick-based accounting (CONFIG_IRQ_TIME_ACCOUNTING
    off, as on the machines this was written on) softirq time is also charged to the task it
    interrupted, so it overlaps the server's and wrk's own times. Steal (time the hypervisor gave
    to other guests) is neither this machine's work nor idle."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return user + nice + system + irq + softirq, softirq, steal


# ---------------------------------------------------------------------------------------------
# wrk

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _latency_ms(text, percent):
    m = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    return round(float(m.group(1)) * _UNITS_MS[m.group(2)], 4) if m else None


def parse_wrk(text):
    """The figures of one `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", text, re.M)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = {
        "connect": int(sock.group(1)) if sock else 0,
        "read": int(sock.group(2)) if sock else 0,
        "write": int(sock.group(3)) if sock else 0,
        "timeout": int(sock.group(4)) if sock else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }
    return {
        "rps": float(rps.group(1)) if rps else None,
        "requests": int(total.group(1)) if total else None,
        "p50_ms": _latency_ms(text, 50),
        "p75_ms": _latency_ms(text, 75),
        "p90_ms": _latency_ms(text, 90),
        "p99_ms": _latency_ms(text, 99),
        "errors": errors,
        "error_count": sum(errors.values()),
    }


# ---------------------------------------------------------------------------------------------
# commands


def _tags(pairs):
    tags = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        tags[key] = int(value) if value.isdigit() else value
    return tags


def _append(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def cmd_port(_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_tree(args):
    print(" ".join(str(p) for p in tree_pids(args.pid)))


def cmd_measure(args):
    wrk = args.wrk[1:] if args.wrk and args.wrk[0] == "--" else args.wrk
    # A SIGTERM to this helper must not leave wrk running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    before_rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    front0 = tree_cpu_ticks(args.front_pid) if args.front_pid else 0
    cpu0, (busy0, soft0, steal0) = tree_cpu_ticks(args.pid), system_ticks()
    t0 = time.monotonic()
    proc = subprocess.Popen(wrk, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    cpu1, (busy1, soft1, steal1) = tree_cpu_ticks(args.pid), system_ticks()
    front1 = tree_cpu_ticks(args.front_pid) if args.front_pid else 0
    after_rusage = resource.getrusage(resource.RUSAGE_CHILDREN)

    record = {"kind": "run", **_tags(args.tag)}
    record.update(parse_wrk(output))
    server_cores = (cpu1 - cpu0) / CLK_TCK / wall
    wrk_cores = (
        (after_rusage.ru_utime - before_rusage.ru_utime) + (after_rusage.ru_stime - before_rusage.ru_stime)
    ) / wall
    front_cores = (front1 - front0) / CLK_TCK / wall
    machine_cores = (busy1 - busy0) / CLK_TCK / wall
    softirq_cores = (soft1 - soft0) / CLK_TCK / wall
    record.update(
        {
            "wall_s": round(wall, 3),
            "server_cores": round(server_cores, 3),
            "rps_per_core": round(record["rps"] / server_cores, 1) if record["rps"] and server_cores > 0 else None,
            "wrk_cores": round(wrk_cores, 3),
            "softirq_cores": round(softirq_cores, 3),
            "other_cores": round(max(0.0, machine_cores - server_cores - front_cores - wrk_cores), 3),
            "steal_cores": round((steal1 - steal0) / CLK_TCK / wall, 3),
            "wrk_exit": proc.returncode,
            "wrk_command": wrk,
            "wrk_output": output,
        }
    )
    if args.front_pid:
        total_cores = server_cores + front_cores
        record["front_cores"] = round(front_cores, 3)
        record["rps_per_total_core"] = (
            round(record["rps"] / total_cores, 1) if record["rps"] and total_cores > 0 else None
        )
    _append(args.record, record)
    if proc.returncode != 0 or record["rps"] is None:
        sys.stderr.write(output)
        print(f"wrk failed (exit {proc.returncode})")
        sys.exit(1)
    errors = f", {record['error_count']} errors" if record["error_count"] else ""
    front = f"{front_cores:4.2f} front cores  " if args.front_pid else ""
    print(
        f"{record['rps']:>10.0f} req/s  {front}{server_cores:4.2f} server cores  "
        f"{record['rps_per_core'] or 0:>9.0f} req/s/core  p50 {record['p50_ms']:.2f} ms  "
        f"p99 {record['p99_ms']:.2f} ms  (wrk {wrk_cores:.2f}, other load {record['other_cores']:.2f} cores{errors})"
    )


def cmd_rss(args):
    kib = tree_peak_rss_kib(args.pid)
    processes, threads = tree_counts(args.pid)
    record = {"kind": "rss", **_tags(args.tag), "peak_rss_mib": round(kib / 1024, 1)}
    record.update({"processes": processes, "threads": threads})
    _append(args.record, record)


def cmd_meta(args):
    meta = {}
    for pair in args.pairs:
        key, _, value = pair.partition("=")
        node = meta
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if leaf in ("servers", "scenarios"):
            node[leaf] = value.split()
        elif leaf == "workers":
            node[leaf] = [int(w) for w in value.split()]
        else:
            node[leaf] = int(value) if value.isdigit() else value
    with open(args.out, "w") as f:
        json.dump(meta, f, indent=1)


def cmd_fail(args):
    _append(args.record, {"kind": "failure", **_tags(args.tag), "reason": args.reason})


# ---------------------------------------------------------------------------------------------
# report


def other_load_note(entries):
    """The note for a table whose runs shared the machine with other work (0.25 cores or more
    in a median run), or None."""
    busiest = max((e["median"]["other_cores"] for e in entries if e.get("median")), default=0)
    if busiest < 0.25:
        return None
    return (f"other work on the machine used up to {busiest:.2f} cores during these runs: the servers "
            "competed with it for CPU, so req/s and latencies are depressed and noisy; the per-core "
            "figures suffer less")


def _median_run(runs):
    """The run with the median req/s (the lower middle one for an even count)."""
    ranked = sorted(runs, key=lambda r: r["rps"] or 0)
    return ranked[(len(ranked) - 1) // 2]


def _fmt(value, spec):
    return "–" if value is None else format(value, spec)


def summarize(records):
    """{(workers, scenario): {server: summary}} from the raw records."""
    cases = {}
    for rec in records:
        if rec["kind"] not in ("run", "rss", "failure"):
            continue
        key = (rec["workers"], rec["scenario"])
        entry = cases.setdefault(key, {}).setdefault(rec["server"], {"runs": [], "failures": []})
        if rec["kind"] == "run":
            entry["runs"].append(rec)
        elif rec["kind"] == "rss":
            for k in ("peak_rss_mib", "processes", "threads"):
                entry[k] = rec.get(k)
        else:
            entry["failures"].append(rec["reason"])
    for servers in cases.values():
        for entry in servers.values():
            good = [r for r in entry["runs"] if r.get("rps") is not None and r.get("wrk_exit") == 0]
            if good:
                med = _median_run(good)
                rates = [r["rps"] for r in good]
                entry["median"] = {
                    k: med[k]
                    for k in (
                        "rps", "server_cores", "rps_per_core", "p50_ms", "p99_ms",
                        "error_count", "wrk_cores", "softirq_cores", "other_cores",
                    )
                }
                entry["median"]["rps_spread_pct"] = round(100 * (max(rates) - min(rates)) / med["rps"], 1)
                entry["median"]["runs"] = len(good)
    return cases


def _case_order(key):
    workers, scenario = key
    order = [s for s, _ in SCENARIOS]
    return workers, order.index(scenario) if scenario in order else len(order), scenario


def render(cases, meta):
    lines = []
    described = dict(SCENARIOS)
    keys = sorted(cases, key=_case_order)
    lines.append(f"# NSGI and its peers — {meta.get('date', '')}")
    lines.append("")
    lines.append(
        f"wrk -t1, {meta.get('duration', '?')} s per run, {meta.get('runs', '?')} run(s) after a "
        f"{meta.get('warmup', '?')} s warm-up, median run by req/s. Machine: {meta.get('cpus', '?')} CPUs, "
        "shared by wrk, the server and anything else running."
    )
    if meta.get("versions"):
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".")
    lines.append("")
    for workers, scenario in keys:
        servers = cases[(workers, scenario)]
        lines.append(f"## {scenario}, {workers} worker{'s' if workers != 1 else ''}")
        lines.append("")
        lines.append(described.get(scenario, scenario))
        lines.append("")
        lines.append(
            "| server | req/s | server cores | req/s per core | p50 ms | p99 ms | peak RSS MiB "
            "| procs/threads | errors | spread | wrk cores | other load |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        order = [s for s in SERVERS if s in servers] + sorted(s for s in servers if s not in SERVERS)
        for server in order:
            entry = servers[server]
            med = entry.get("median")
            if med is None:
                reason = "; ".join(entry["failures"]) or "no successful run"
                lines.append(f"| {server} | failed: {reason} | | | | | | | | | | |")
                continue
            lines.append(
                f"| {server} | {med['rps']:,.0f} | {med['server_cores']:.2f} | {_fmt(med['rps_per_core'], ',.0f')} "
                f"| {_fmt(med['p50_ms'], '.2f')} | {_fmt(med['p99_ms'], '.2f')} "
                f"| {_fmt(entry.get('peak_rss_mib'), '.1f')} "
                f"| {entry.get('processes', '?')}/{entry.get('threads', '?')} | {med['error_count']} "
                f"| {med['rps_spread_pct']:.0f}% | {med['wrk_cores']:.2f} | {med['other_cores']:.2f} |"
            )
        not_run = [f"{s}: {why}" for (sc, s), why in NOT_RUN.items() if sc == scenario and s in meta.get("servers", [])]
        if not_run:
            lines.append("")
            lines.append("Not run — " + "; ".join(not_run) + ".")
        ratios = []
        for ours in NSGI_SERVERS:
            mine = servers.get(ours, {}).get("median")
            if not mine:
                continue
            for peer in SERVERS:
                theirs = servers.get(peer, {}).get("median")
                if peer in NSGI_SERVERS or not theirs:
                    continue
                rps = mine["rps"] / theirs["rps"]
                per_core = (
                    f"{mine['rps_per_core'] / theirs['rps_per_core']:.2f}×"
                    if mine["rps_per_core"] and theirs["rps_per_core"]
                    else "–"
                )
                ratios.append(f"- {ours}/{peer}: req/s = {rps:.2f}×, per-core = {per_core}")
        if ratios:
            lines.append("")
            lines.extend(ratios)
        notes = []
        if "gunicorn" in servers and meta.get("gunicorn_worker_class", "sync") == "sync" and scenario != "close-c50":
            notes.append(
                "gunicorn's sync worker closes the connection after every response (it has no keep-alive), "
                "so its keep-alive rows pay for a new connection per request; its gthread worker keeps "
                "connections alive but measured slower on this machine (bench/README.md)"
            )
        busy = other_load_note(servers.values())
        if busy:
            notes.append(busy)
        if notes:
            lines.append("")
            lines.extend(f"Note: {n}." for n in notes)
        lines.append("")
    lines.append(
        "Columns: req/s, latencies and wrk's own CPU come from the median run; server cores = CPU time of "
        "the server's whole process tree / wall time; spread = (max − min) / median req/s over the runs; "
        "other load = busy cores on the machine that were neither the server nor wrk (other jobs: "
        "high values mean noisy figures); peak RSS = VmHWM summed over the process tree at the end; "
        "procs/threads = processes and threads in the server's tree at the end."
    )
    return "\n".join(lines) + "\n"


def cmd_report(args):
    records = []
    with open(args.record) as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    meta = {}
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            meta = json.load(f)
    cases = summarize(records)
    text = render(cases, meta)
    sys.stdout.write(text)
    results = {
        "meta": meta,
        "results": [
            {"workers": w, "scenario": s, "server": server, **{k: v for k, v in entry.items() if k != "runs"},
             "runs": entry["runs"]}
            for (w, s), servers in sorted(cases.items(), key=lambda kv: _case_order(kv[0]))
            for server, entry in servers.items()
        ],
    }
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    with open(args.md, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("port").set_defaults(func=cmd_port)
    p = sub.add_parser("tree")
    p.add_argument("pid", type=int)
    p.set_defaults(func=cmd_tree)
    for name, func in (("measure", cmd_measure), ("rss", cmd_rss), ("fail", cmd_fail)):
        p = sub.add_parser(name)
        p.add_argument("--record", required=True)
        p.add_argument("--tag", action="append")
        if name != "fail":
            p.add_argument("--pid", type=int, required=True)
        if name == "fail":
            p.add_argument("--reason", required=True)
        if name == "measure":
            p.add_argument("--front-pid", type=int)
            p.add_argument("wrk", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    p = sub.add_parser("meta")
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(func=cmd_meta)
    p = sub.add_parser("report")
    p.add_argument("--record", required=True)
    p.add_argument("--meta")
    p.add_argument("--json", required=True)
    p.add_argument("--md", required=True)
    p.set_defaults(func=cmd_report)
    args = parser.parse_args()
    try:
        args.func(args)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
