#!/usr/bin/env python3
"""report_svg.py - a chaos run as a picture (manual: tests/lab/CHAOS.md).

    report_svg.py --report REPORT.json --events EVENTS.log [--summary SUMMARY.json]
                  [--history HISTORY.json] --out TIMELINE.svg

One time line, on the monotonic clock every lab namespace shares, seconds
from the start of the faults:

  - the faults of the plan, one bar each, stacked in lanes (events.log's
    "chaos: + F.." / "- F.." lines), and the same windows shaded lightly
    behind every row below;
  - one row per daemon: when it was down (SIGKILL, or powered off by the
    fence hook, until it was started again) and when it was stopped
    (SIGSTOP until SIGCONT);
  - one row per task: every execution (check.py's --report intervals) as a
    bar coloured by the worker that ran it; an end the checker had to
    bound (no END record) is drawn pale with a dashed edge; a run the
    scheduler recorded as lost has a red edge; an overlap is drawn in a
    second lane, red;
  - fencings as red lines across everything (a false one thicker, and
    named), and the heal and quiesce instants as grey ones.

Hovering over a bar shows its run, token, node and status (SVG <title>).
Standard library only.
"""

import argparse
import html
import json
import re
import sys

NODE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
                "#bab0ac"]
CATEGORY = {"partition": "net", "oneway": "net", "isolate_sched": "sched", "isolate_worker": "net",
            "loss": "net", "dup": "net", "delay": "net", "pause_long": "proc",
            "pause_short": "proc", "kill_worker": "proc", "kill_schedd": "sched", "clock": "clock"}
CAT_COLOURS = {"net": "#6baed6", "proc": "#fd8d3c", "sched": "#9e66c9", "clock": "#41ab5d"}
CAT_NAMES = {"net": "network", "proc": "worker process", "sched": "scheduler",
             "clock": "wrong clock"}

LEFT, RIGHT, TOP = 110, 30, 70
ROW, LANE, GAP = 26, 16, 10
WIDTH = 1500    # the least width; more for runs longer than about 3 minutes
PX_PER_S = 7


def esc(s):
    return html.escape(str(s), quote=True)


EVENT_LINE = re.compile(r"^(\d+) (\d+(?:\.\d+)?) (.*)$")


def read_events(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = EVENT_LINE.match(line.rstrip("\n"))
            if m:
                out.append((int(m.group(1)), m.group(3)))
    return out


def fault_windows(events, end):
    """[(id, kind, text, start, stop)] from the chaos lines of events.log."""
    open_, out = {}, []
    for mono, text in events:
        m = re.match(r"^chaos: ([+-]) (F\d+) (\S+) ?(.*)$", text)
        if not m:
            continue
        if m.group(1) == "+":
            open_[m.group(2)] = (m.group(3), m.group(4), mono)
        elif m.group(2) in open_:
            kind, args, start = open_.pop(m.group(2))
            out.append((m.group(2), kind, args, start, mono))
    for fid, (kind, args, start) in open_.items():
        out.append((fid, kind, args, start, end))
    return sorted(out, key=lambda w: w[3])


def daemon_spans(events, end):
    """{daemon: [(kind, start, stop)]}: 'down' from a SIGKILL or a
    power-off until the next start, 'stopped' from SIGSTOP until SIGCONT
    (or until it goes down).  The lab writes its lines to events.log
    without the 'lab: ' it prints on stdout; both forms are read."""
    down, stopped, spans = {}, {}, {}

    def close(d, table, kind, t):
        if d in table:
            spans.setdefault(d, []).append((kind, table.pop(d), t))
    for mono, text in events:
        m = re.match(r"^(?:lab: )?signal (\w+) -> (\S+)", text)
        if m:
            sig, d = m.groups()
            if sig == "KILL":
                close(d, stopped, "stopped", mono)
                down.setdefault(d, mono)
            elif sig == "STOP":
                stopped.setdefault(d, mono)
            elif sig == "CONT":
                close(d, stopped, "stopped", mono)
            continue
        m = re.match(r"^chaos: fenced (w\d+)", text)
        if m:
            d = m.group(1)
            close(d, stopped, "stopped", mono)
            down.setdefault(d, mono)
            continue
        m = (re.match(r"^(?:lab: )?restart (\S+) on", text) or
             re.match(r"^(?:lab: )?worker (w\d+) on", text) or
             re.match(r"^(?:lab: )?(schedd) on h0", text))
        if m:
            close(m.group(1), down, "down", mono)
    for d in list(down):
        close(d, down, "down", end)
    for d in list(stopped):
        close(d, stopped, "stopped", end)
    return spans


def marks(events):
    """[(mono, label)] of heal and quiesce."""
    out = []
    for mono, text in events:
        for key in ("heal", "clean", "quiesce"):
            if text.startswith(f"chaos: {key}"):
                out.append((mono, key))
    return out


def lanes(items, key_start, key_end):
    """Greedy lanes: each item goes to the first lane free at its start."""
    ends, out = [], []
    for it in items:
        for i, e in enumerate(ends):
            if e <= key_start(it):
                ends[i] = key_end(it)
                out.append((i, it))
                break
        else:
            ends.append(key_end(it))
            out.append((len(ends) - 1, it))
    return out, len(ends)


def draw(report, events, summary, history, out):
    ivs = report.get("intervals", []) if report else []
    start_ev = next((m for m, t in events if t.startswith("chaos: start")), None)
    monos = [m for m, _ in events] + [i["start_mono_ns"] for i in ivs] + \
        [i["bound_mono_ns"] or i["start_mono_ns"] for i in ivs]
    lo, hi = min(monos), max(monos)
    t0 = start_ev if start_ev is not None else lo
    span = max(hi - lo, 1)
    # at least PX_PER_S: a long run gets a wide picture, not thin bars
    width = max(WIDTH, int(LEFT + RIGHT + span / 1e9 * PX_PER_S))
    plot_w = width - LEFT - RIGHT

    def x(mono):
        return LEFT + (mono - lo) * plot_w / span

    lost = set()
    for rows in (history or {}).get("history", {}).values():
        for r in rows:
            if r.get("state") == "lost":
                lost.add(str(r["run_id"]))
    nodes = sorted({i["node"] for i in ivs if i.get("node")} |
                   {f"w{k}" for k in range(1, 1 + ((summary or {}).get("workers") or 4))},
                   key=lambda n: (len(n), n))
    colour = {n: NODE_COLOURS[k % len(NODE_COLOURS)] for k, n in enumerate(nodes)}

    faults = fault_windows(events, hi)
    placed, nlanes = lanes(faults, lambda w: w[3], lambda w: w[4] + 1)
    spans = daemon_spans(events, hi)
    daemons = ["schedd"] + [n for n in nodes if n.startswith("w")]
    tasks = sorted({i["task"] for i in ivs})
    fencings = (summary or {}).get("fencing_detail", [])

    y_faults = TOP + 20
    y_daemons = y_faults + max(nlanes, 1) * LANE + GAP + 8
    y_tasks = y_daemons + len(daemons) * ROW + GAP + 8
    y_axis = y_tasks + len(tasks) * (ROW + 8)
    height = y_axis + 90

    s = []
    s.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">')
    s.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    sm = summary or {}
    result = "PASS" if sm.get("ok") else "FAIL"
    title = (f"sched chaos: seed {sm.get('seed', '?')} (plan {sm.get('plan_hash', '?')}), "
             f"{sm.get('duration', '?')} s of faults — {result}")
    s.append(f'<text x="{LEFT}" y="22" font-size="16" font-weight="bold" '
             f'fill="{"#1a7f37" if result == "PASS" else "#c0392b"}">{esc(title)}</text>')
    sub = (f"faults {sm.get('faults_injected', '?')}, runs {sm.get('runs', '?')}, executions "
           f"{sm.get('executions', '?')}, overlaps {sm.get('overlaps', '?')}, violations "
           f"{sm.get('violations', '?')}, lost runs {sm.get('lost_runs', '?')}, fencings "
           f"{sm.get('fencings', '?')}, false fencings {sm.get('false_fencings', '?')}")
    s.append(f'<text x="{LEFT}" y="40">{esc(sub)}</text>')

    # shading of every fault window behind the daemon and task rows
    for fid, kind, args, a, b in faults:
        c = CAT_COLOURS[CATEGORY.get(kind, "net")]
        s.append(f'<rect x="{x(a):.1f}" y="{y_daemons - 4}" width="{max(x(b) - x(a), 1):.1f}" '
                 f'height="{y_axis - y_daemons + 4}" fill="{c}" opacity="0.10"/>')
    # fault lanes
    s.append(f'<text x="8" y="{y_faults + 12}" font-weight="bold">faults</text>')
    for lane, (fid, kind, args, a, b) in placed:
        c = CAT_COLOURS[CATEGORY.get(kind, "net")]
        y = y_faults + lane * LANE
        w = max(x(b) - x(a), 2)
        label = f"{fid} {kind} {args}"
        s.append(f'<g><title>{esc(label)}: {(a - t0) / 1e9:.1f}s .. {(b - t0) / 1e9:.1f}s</title>'
                 f'<rect x="{x(a):.1f}" y="{y}" width="{w:.1f}" height="{LANE - 3}" fill="{c}" '
                 f'opacity="0.75" rx="2"/>')
        s.append(f'<text x="{x(a) + 2:.1f}" y="{y + LANE - 6}" font-size="9">'
                 f'{esc(label if w > 6 * len(label) * 0.9 else fid)}</text></g>')
    # daemons
    for k, d in enumerate(daemons):
        y = y_daemons + k * ROW
        s.append(f'<text x="8" y="{y + 15}">{esc(d)}</text>')
        s.append(f'<line x1="{LEFT}" y1="{y + ROW / 2:.1f}" x2="{width - RIGHT}" '
                 f'y2="{y + ROW / 2:.1f}" stroke="#ccc"/>')
        for kind, a, b in spans.get(d, []):
            fill = "#555" if kind == "down" else "#fdae6b"
            s.append(f'<g><title>{esc(d)} {kind}: {(a - t0) / 1e9:.1f}s .. {(b - t0) / 1e9:.1f}s'
                     f'</title><rect x="{x(a):.1f}" y="{y + 5}" width="{max(x(b) - x(a), 1.5):.1f}" '
                     f'height="{ROW - 10}" fill="{fill}"/></g>')
    # tasks
    for k, task in enumerate(tasks):
        y = y_tasks + k * (ROW + 8)
        s.append(f'<text x="8" y="{y + 17}">{esc(task)}</text>')
        s.append(f'<rect x="{LEFT}" y="{y}" width="{plot_w}" height="{ROW + 4}" fill="none" '
                 f'stroke="#eee"/>')
        mine = sorted((i for i in ivs if i["task"] == task), key=lambda i: i["start_mono_ns"])
        reach = None
        for iv in mine:
            a = iv["start_mono_ns"]
            b = iv["end_mono_ns"] or iv["bound_mono_ns"] or hi
            overlap = reach is not None and a < reach
            reach = max(reach or 0, b)
            yy = y + 2 + (ROW // 2 if overlap else 0)
            hgt = ROW // 2 if overlap else ROW
            col = colour.get(iv.get("node"), "#999")
            bounded = iv.get("end_mono_ns") is None
            edge = "#c0392b" if overlap or str(iv.get("run")) in lost else "white"
            dash = ' stroke-dasharray="3,2"' if bounded and edge == "white" else ""
            tip = (f"{task} run {iv.get('run')} token {iv.get('token')} on {iv.get('node')} "
                   f"attempt {iv.get('attempt')}: {(a - t0) / 1e9:.2f}s .. {(b - t0) / 1e9:.2f}s, "
                   f"{iv.get('status') or 'no END (' + str(iv.get('bound_kind')) + ')'}"
                   f"{', run lost' if str(iv.get('run')) in lost else ''}")
            s.append(f'<g><title>{esc(tip)}</title><rect x="{x(a):.1f}" y="{yy}" '
                     f'width="{max(x(b) - x(a), 1.5):.1f}" height="{hgt}" fill="{col}" '
                     f'opacity="{0.35 if bounded else 0.9}" stroke="{edge}" '
                     f'stroke-width="{2 if edge != "white" else 0.7}"'
                     f'{dash}/></g>')
    # violations
    for v in (report or {}).get("violations", []):
        vx = x(v["mono_ns"])
        s.append(f'<g><title>VIOLATION {esc(v.get("task"))} run {esc(v.get("run"))}</title>'
                 f'<text x="{vx:.1f}" y="{y_tasks - 2}" fill="#c0392b" font-weight="bold" '
                 f'text-anchor="middle">✖</text></g>')
    # heal / quiesce
    for k, (mono, label) in enumerate(marks(events)):
        s.append(f'<line x1="{x(mono):.1f}" y1="{y_faults - 16}" x2="{x(mono):.1f}" y2="{y_axis}" '
                 f'stroke="#777" stroke-dasharray="4,3"/>')
        s.append(f'<text x="{x(mono) + 3:.1f}" y="{y_faults - 8 - 10 * (k % 2)}" fill="#555">'
                 f'{esc(label)}</text>')
    # fencings
    for f in fencings:
        fx = x(f["fenced_mono_ns"])
        false = f.get("false")
        why = ", ".join(f.get("explained_by") or []) or "no fault: FALSE FENCING"
        s.append(f'<g><title>{esc(f["node"])} powered off by the fence hook at '
                 f'{(f["fenced_mono_ns"] - t0) / 1e9:.1f}s (decided '
                 f'{(f["decided_mono_ns"] - t0) / 1e9:.1f}s); explained by {esc(why)}</title>'
                 f'<line x1="{fx:.1f}" y1="{y_daemons - 4}" x2="{fx:.1f}" y2="{y_axis}" '
                 f'stroke="#c0392b" stroke-width="{3 if false else 1.2}"/>'
                 f'<text x="{fx:.1f}" y="{y_daemons - 6}" fill="#c0392b" text-anchor="middle" '
                 f'font-size="10">⚡{esc(f["node"])}{" FALSE" if false else ""}</text></g>')
    # axis: seconds from the start of the faults
    s.append(f'<line x1="{LEFT}" y1="{y_axis}" x2="{width - RIGHT}" y2="{y_axis}" stroke="#333"/>')
    first = int((lo - t0) / 1e9 // 10 * 10)
    for sec in range(first, int((hi - t0) / 1e9) + 1, 10):
        tx = x(t0 + sec * 1e9)
        if tx < LEFT - 0.5:
            continue
        s.append(f'<line x1="{tx:.1f}" y1="{y_axis}" x2="{tx:.1f}" y2="{y_axis + 5}" '
                 f'stroke="#333"/><text x="{tx:.1f}" y="{y_axis + 17}" text-anchor="middle">'
                 f'{sec}s</text>')
    # legend
    ly = y_axis + 40
    lx = LEFT
    s.append(f'<text x="8" y="{ly + 10}" font-weight="bold">legend</text>')
    for n in nodes:
        s.append(f'<rect x="{lx}" y="{ly}" width="14" height="12" fill="{colour[n]}"/>'
                 f'<text x="{lx + 18}" y="{ly + 10}">{esc(n)}</text>')
        lx += 60
    for cat, c in CAT_COLOURS.items():
        s.append(f'<rect x="{lx}" y="{ly}" width="14" height="12" fill="{c}" opacity="0.75"/>'
                 f'<text x="{lx + 18}" y="{ly + 10}">{esc(CAT_NAMES[cat])} fault</text>')
        lx += 130
    for label, fill in (("down", "#555"), ("stopped", "#fdae6b")):
        s.append(f'<rect x="{lx}" y="{ly}" width="14" height="12" fill="{fill}"/>'
                 f'<text x="{lx + 18}" y="{ly + 10}">daemon {label}</text>')
        lx += 110
    ly += 20
    s.append(f'<text x="{LEFT}" y="{ly + 10}">pale dashed bar: no END (end bounded by the '
             f'checker); red edge: the run was lost, or an overlap; red line: a fencing '
             f'(thick: false); grey dashed: heal, clean, quiesce</text>')
    s.append("</svg>")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(s) + "\n")


def load(path):
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def main(argv):
    ap = argparse.ArgumentParser(prog="report_svg.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", required=True, help="check.py --report JSON")
    ap.add_argument("--events", required=True, help="the lab's events.log")
    ap.add_argument("--summary", help="chaos_plan.py summary JSON (fencings, title)")
    ap.add_argument("--history", help="HISTORY.json (to mark lost runs)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    events = read_events(args.events)
    if not events:
        print(f"report_svg.py: no events in {args.events}", file=sys.stderr)
        return 2
    draw(load(args.report), events, load(args.summary), load(args.history), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
