"""The report of bench/behind_nginx.sh (standard library only).

    behind_nginx.py --record FILE --meta FILE --json OUT --md OUT

Reads the records benchlib.py wrote (one "run" record per wrk run, measured with --front-pid so
that nginx's CPU is apart from the backend's; "failure" records for rows not measured), takes
each row's median run by req/s, prints the Markdown table and the goals of issue 11, and writes
the table and the raw results. It measures nothing itself: the CPU figures are benchlib.py's.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (the measuring side, beside this file)

# The rows in the order of the table: (row, what nginx is in front of).
ROWS = [
    ("nsgi-uwsgi", "NSGI gateway over uwsgi (`uwsgi_pass`)"),
    ("nsgi-http", "NSGI gateway over HTTP, upstream keep-alive"),
    ("uwsgi", "uWSGI over uwsgi (`uwsgi_pass`)"),
    ("granian", "Granian over HTTP, upstream keep-alive"),
    ("gunicorn", "gunicorn over HTTP"),
]
# The goals of issue 11: (ours, theirs, the figure compared, its label, the goal).
GOALS = [
    ("nsgi-uwsgi", "uwsgi", "rps_per_core", "req/s per backend core", 1.3),
    ("nsgi-http", "uwsgi", "rps_per_total_core", "end-to-end req/s per total core (nginx + backend)", 1.5),
]
MEDIAN_FIELDS = (
    "rps", "front_cores", "server_cores", "rps_per_core", "rps_per_total_core", "p50_ms", "p99_ms",
    "error_count", "wrk_cores", "other_cores",
)


def summarize(records):
    """{row: {"median": {...}, "failures": [...]}} from the raw records."""
    rows = {}
    for rec in records:
        if rec.get("kind") not in ("run", "failure", "pool") or "row" not in rec:
            continue
        entry = rows.setdefault(rec["row"], {"runs": [], "failures": []})
        if rec["kind"] == "pool":
            entry["kept_connections"] = rec["kept_connections"]
        elif rec["kind"] == "run":
            entry["runs"].append(rec)
        else:
            entry["failures"].append(rec["reason"])
    for entry in rows.values():
        good = [r for r in entry["runs"] if r.get("rps") is not None and r.get("wrk_exit") == 0]
        if good:
            med = benchlib._median_run(good)
            rates = [r["rps"] for r in good]
            entry["median"] = {k: med.get(k) for k in MEDIAN_FIELDS}
            entry["median"]["rps_spread_pct"] = round(100 * (max(rates) - min(rates)) / med["rps"], 1)
            entry["median"]["runs"] = len(good)
    return rows


def goal_lines(rows):
    """One line per goal of issue 11: the ratio, and met or not, or why it cannot be said."""
    lines = []
    for ours, theirs, field, label, goal in GOALS:
        mine = rows.get(ours, {}).get("median")
        peer = rows.get(theirs, {}).get("median")
        head = f"- nginx → {ours} vs nginx → {theirs}, {label}: "
        if not mine or not peer:
            missing = ours if not mine else theirs
            why = "; ".join(rows.get(missing, {}).get("failures", [])) or "not measured"
            lines.append(f"{head}no figure ({missing}: {why}); goal ≥ {goal}×")
            continue
        if not mine.get(field) or not peer.get(field):
            lines.append(f"{head}no figure (no CPU time measured); goal ≥ {goal}×")
            continue
        ratio = mine[field] / peer[field]
        verdict = "met" if ratio >= goal else "**not met**"
        lines.append(
            f"{head}{mine[field]:,.0f} / {peer[field]:,.0f} = **{ratio:.2f}×** (goal ≥ {goal}×: {verdict})"
        )
    return lines


def render(rows, meta):
    fmt = benchlib._fmt
    lines = [f"# Behind nginx — {meta.get('date', '')}", ""]
    lines.append(
        f"`GET /` (13 bytes) through nginx, wrk -t1 -c{meta.get('connections', '?')} keep-alive to nginx, "
        f"{meta.get('duration', '?')} s per run, {meta.get('runs', '?')} run(s) after a "
        f"{meta.get('warmup', '?')} s warm-up, median run by req/s. Backends: {meta.get('workers', ['?'])[0]} "
        f"worker(s) each; nginx: worker_processes {meta.get('nginx_workers', '?')}. "
        f"Machine: {meta.get('cpus', '?')} CPUs; pinning: {meta.get('pinning', '?')}. "
        f"Load average {meta.get('loadavg_at_start', '?')} at the start, {meta.get('loadavg_at_end', '?')} at the end."
    )
    if meta.get("versions"):
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".")
    lines.append("")
    lines.append(
        "| nginx in front of | req/s | nginx cores | backend cores | req/s per backend core "
        "| req/s per total core | p50 ms | p99 ms | errors | spread | other load | backend conns kept |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    wanted = str(meta.get("rows", "")).split() or [r for r, _ in ROWS]
    for row, label in ROWS:
        if row not in wanted and row not in rows:
            continue
        entry = rows.get(row, {"failures": ["not measured"]})
        med = entry.get("median")
        if med is None:
            reason = "; ".join(entry["failures"]) or "no successful run"
            lines.append(f"| {label} | {reason} | | | | | | | | | | |")
            continue
        lines.append(
            f"| {label} | {med['rps']:,.0f} | {fmt(med['front_cores'], '.2f')} | {fmt(med['server_cores'], '.2f')} "
            f"| {fmt(med['rps_per_core'], ',.0f')} | {fmt(med['rps_per_total_core'], ',.0f')} "
            f"| {fmt(med['p50_ms'], '.2f')} | {fmt(med['p99_ms'], '.2f')} | {med['error_count']} "
            f"| {med['rps_spread_pct']:.0f}% | {med['other_cores']:.2f} | {fmt(entry.get('kept_connections'), 'd')} |"
        )
    lines.append("")
    lines.append("Goals (issue 11):")
    lines.append("")
    lines.extend(goal_lines(rows))
    notes = []
    if "gunicorn" in rows and meta.get("gunicorn_worker_class", "sync") == "sync":
        notes.append(
            "gunicorn's sync worker answers `Connection: close`, so nginx opens a new connection to "
            "it for every request although its upstream keeps connections"
        )
    busy = benchlib.other_load_note(rows.values())
    if busy:
        notes.append(busy)
    if notes:
        lines.append("")
        lines.extend(f"Note: {n}." for n in notes)
    lines.append("")
    lines.append(
        "Columns: req/s and latencies are wrk's, end to end through nginx, from the median run; nginx cores "
        "and backend cores = CPU time of nginx's and of the backend's whole process tree / wall time "
        "(bench/lib/benchlib.py); req/s per total core = req/s / (nginx cores + backend cores); spread = "
        "(max − min) / median req/s over the runs; other load = busy cores that were neither nginx, the "
        "backend nor wrk; backend conns kept = nginx's connections to the backend open both at a third and at "
        "two thirds of the last run (`ss`): the upstream keep-alive pool in use, about 0 when nginx opens a "
        "connection per request."
    )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", required=True)
    parser.add_argument("--meta")
    parser.add_argument("--json", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args()
    with open(args.record) as f:
        records = [json.loads(line) for line in f if line.strip()]
    meta = {}
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            meta = json.load(f)
    rows = summarize(records)
    text = render(rows, meta)
    sys.stdout.write(text)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
        f.write("\n")
    with open(args.md, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
