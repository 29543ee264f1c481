#!/usr/bin/env python3
"""chaos_plan.py - the chaos driver's fault schedule, and its judgement of
what happened (manual: tests/lab/CHAOS.md).

    chaos_plan.py plan --seed S --duration D [--workers 4] [--lease 5] --out PLAN.json
    chaos_plan.py actions --plan PLAN.json
    chaos_plan.py summary --plan PLAN.json --events EVENTS.log [--fence-log FENCE.log]
                          [--history HISTORY.json] [--report REPORT.json] [--check-rc N]
                          [--notes FILE] --out SUMMARY.json

`plan` draws the whole fault schedule from random.Random(SEED) before
anything runs, so one seed (with the same duration, workers and lease)
always gives the same schedule; it prints the schedule and its hash.
`actions` turns it into the driver's time-ordered apply/revert lines.
`summary` puts the plan, the lab's events.log, the fence hook's log, the
scheduler's history and the checker's report together: faults by kind,
runs by state, executions, overlaps, lost runs, fencings and false
fencings, PASS or FAIL.

A fencing is *false* when no fault of the schedule touched the fenced
worker while the fence was decided or shortly before it (see
`touches` and CHAOS.md): the scheduler then fenced a worker that nothing
was wrong with.

Standard library only.
"""

import argparse
import bisect
import datetime
import hashlib
import json
import random
import re
import statistics
import sys

PLAN_FORMAT = "sched-chaos-plan/1"

# kind: (weight, (min, max) duration in seconds or None for lease-relative)
# The durations of the pauses depend on the lease: "long" outlives it,
# "short" does not.
KINDS = {
    "partition":      3,  # two-way partition between two hosts (h0 included)
    "oneway":         2,  # one-way partition A -/-> B
    "isolate_sched":  1,  # h0 cut off from every worker
    "isolate_worker": 1,  # one worker cut off from everyone
    "loss":           2,  # datagram loss on a host (h0 included)
    "dup":            1,  # datagram duplication on a host
    "delay":          1,  # delay and jitter on a host
    "pause_long":     2,  # SIGSTOP of a worker for longer than a lease, then SIGCONT
    "pause_short":    2,  # SIGSTOP for less than a lease
    "kill_worker":    2,  # SIGKILL of a worker, restart after the window
    "kill_schedd":    1,  # SIGKILL of schedd, restart after the window
    "clock":          1,  # a worker restarted with a wrong wall clock, then a right one
    "pause_sched":    1,  # SIGSTOP of schedd for longer than a lease, then SIGCONT
    "partition_long": 1,  # two-way partition longer than node_grace (15-40 s)
}
MAX_CONCURRENT = 2      # faults in force at once ("may overlap a little")
GAP = (2.0, 7.0)        # seconds between the starts of two faults
FIRST = (2.0, 4.0)      # the first fault starts this far into the run


def draw_plan(seed, duration, workers, lease):
    """The fault list for SEED: every random choice is made here, from one
    random.Random(seed), in a fixed order."""
    rng = random.Random(seed)
    hosts = list(range(workers + 1))  # h0 is the scheduler
    kinds = sorted(KINDS)
    weights = [KINDS[k] for k in kinds]
    faults = []
    t = rng.uniform(*FIRST)
    while t < duration - 2:
        active = [f for f in faults if f["at"] <= t < f["at"] + f["dur"]]
        if len(active) < MAX_CONCURRENT:
            busy = {r for f in active for r in f["claims"]}
            for _ in range(10):  # a few draws for one that fits
                f = draw_fault(rng, kinds, weights, hosts, lease)
                if not set(f["claims"]) & busy:
                    f["at"] = round(t, 1)
                    f["dur"] = round(min(f["dur"], duration - f["at"]), 1)
                    faults.append(f)
                    break
        t += rng.uniform(*GAP)
    for i, f in enumerate(faults, 1):
        f["id"] = f"F{i:02d}"
    return faults


def draw_fault(rng, kinds, weights, hosts, lease):
    """One fault with its arguments, duration and claims (resources it
    must not share with another fault in force: a fault id of the lab, a
    daemon)."""
    kind = rng.choices(kinds, weights)[0]
    w = rng.choice(hosts[1:])
    if kind in ("partition", "oneway", "partition_long"):
        a, b = rng.sample(hosts, 2)
        if kind != "oneway":
            a, b = min(a, b), max(a, b)
        args = {"a": a, "b": b}
        dur = rng.uniform(15, 40) if kind == "partition_long" else rng.uniform(3, 12)
        claims = [f"{'oneway' if kind == 'oneway' else 'part'}_h{a}_h{b}"]
    elif kind == "isolate_sched":
        args, dur, claims = {"h": 0}, rng.uniform(3, 10), ["isolate_h0"]
    elif kind == "isolate_worker":
        args, dur, claims = {"h": w}, rng.uniform(3, 10), [f"isolate_h{w}"]
    elif kind == "loss":
        h = rng.choice(hosts)
        args = {"h": h, "pct": rng.choice([20, 30, 50, 70, 90])}
        dur, claims = rng.uniform(4, 15), [f"loss_h{h}"]
    elif kind == "dup":
        h = rng.choice(hosts)
        args = {"h": h, "pct": rng.choice([30, 50, 100])}
        dur, claims = rng.uniform(4, 15), [f"dup_h{h}"]
    elif kind == "delay":
        h = rng.choice(hosts)
        args = {"h": h, "ms": rng.choice([20, 50, 100, 150]), "jitter": rng.choice([0, 20, 60])}
        dur, claims = rng.uniform(4, 12), [f"delay_h{h}"]
    elif kind == "pause_long":
        args, dur, claims = {"w": w}, rng.uniform(lease + 1, lease + 5), [f"w{w}"]
    elif kind == "pause_short":
        args, dur, claims = {"w": w}, rng.uniform(0.5, min(3.0, lease - 1)), [f"w{w}"]
    elif kind == "kill_worker":
        args, dur, claims = {"w": w}, rng.uniform(1, 8), [f"w{w}"]
    elif kind == "kill_schedd":
        args, dur, claims = {}, rng.uniform(1, 6), ["schedd"]
    elif kind == "pause_sched":
        args, dur, claims = {}, rng.uniform(lease + 1, 2 * lease + 5), ["schedd"]
    else:  # clock: within max_clock_skew (60 s), either way
        off = rng.randint(5, 45) * rng.choice([-1, 1])
        args, dur, claims = {"w": w, "offset": f"{off:+d}s"}, rng.uniform(10, 25), [f"w{w}"]
    return {"kind": kind, "args": args, "dur": round(dur, 1), "claims": claims}


def describe(f):
    """The fault's arguments as the driver takes them (and people read)."""
    a = f["args"]
    k = f["kind"]
    if k in ("partition", "oneway", "partition_long"):
        return f"h{a['a']} h{a['b']}"
    if k in ("isolate_sched", "isolate_worker"):
        return f"h{a['h']}"
    if k in ("loss", "dup"):
        return f"h{a['h']} {a['pct']}"
    if k == "delay":
        return f"h{a['h']} {a['ms']} {a['jitter']}"
    if k == "clock":
        return f"w{a['w']} {a['offset']}"
    if k in ("kill_schedd", "pause_sched"):
        return "schedd"
    return f"w{a['w']}"


def plan_lines(faults):
    return [f"{f['id']} at {f['at']:6.1f}s for {f['dur']:5.1f}s  {f['kind']:<14} {describe(f)}"
            for f in faults]


def cmd_plan(args):
    faults = draw_plan(args.seed, args.duration, args.workers, args.lease)
    lines = plan_lines(faults)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    doc = {"format": PLAN_FORMAT, "seed": args.seed, "duration": args.duration,
           "workers": args.workers, "lease": args.lease, "hash": digest, "faults": faults}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    for line in lines:
        print(line)
    print(f"plan: seed {args.seed}, {args.duration}s, {len(faults)} faults, hash {digest}")
    return 0


def load_plan(path):
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format") != PLAN_FORMAT:
        raise SystemExit(f"{path}: not a {PLAN_FORMAT} file")
    return doc


def cmd_actions(args):
    """One line per action, in order: AT_MS +|- ID KIND ARGS.  A revert
    sorts before an apply at the same instant."""
    acts = []
    for f in load_plan(args.plan)["faults"]:
        acts.append((round(f["at"] * 1000), 1, f"+ {f['id']} {f['kind']} {describe(f)}"))
        acts.append((round((f["at"] + f["dur"]) * 1000), 0, f"- {f['id']} {f['kind']} {describe(f)}"))
    for at, _, text in sorted(acts):
        print(at, text)
    return 0


# ---- what happened ---------------------------------------------------------

def touches(kind, args, workers):
    """The workers a fault touches: its endpoints, its host, the worker
    it signals.  A fault that cuts or slows h0's network (isolation, loss,
    delay) touches every worker, since each one's path to the scheduler
    crosses it; duplication at h0 (refused as replays), a SIGKILL or a
    SIGSTOP of schedd touch none."""
    everyone = set(range(1, workers + 1))
    if kind in ("partition", "oneway", "partition_long"):
        return {h for h in (args["a"], args["b"]) if h != 0}
    if kind in ("isolate_sched", "isolate_worker", "loss", "dup", "delay"):
        if args["h"] != 0:
            return {args["h"]}
        return set() if kind == "dup" else everyone
    if kind in ("pause_long", "pause_short", "kill_worker", "clock"):
        return {args["w"]}
    return set()


EVENT_LINE = re.compile(r"^(\d+) (\d+(?:\.\d+)?) (.*)$")
CHAOS_FAULT = re.compile(r"^chaos: ([+-]) (F\d+) (\S+)")


def read_events(path):
    """[(mono_ns, wall_s, text)] of events.log."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = EVENT_LINE.match(line.rstrip("\n"))
            if m:
                out.append((int(m.group(1)), float(m.group(2)), m.group(3)))
    return out


def mono_offset(events):
    """mono_ns - wall_ns, the median over events.log (every line has both
    clocks): turns the wall times of the fence log and the scheduler's
    events into monotonic ones."""
    return statistics.median(m - w * 1e9 for m, w, _ in events) if events else 0.0


def fault_windows(events, plan):
    """{id: (kind, args, start_mono, end_mono)} of the faults the driver
    really applied (the chaos lines of events.log); a fault with no revert
    line lasts until the heal."""
    byid = {f["id"]: f for f in plan["faults"]}
    heal = next((m for m, _, t in events if t.startswith("chaos: heal")), None)
    last = events[-1][0] if events else 0
    wins = {}
    for mono, _, text in events:
        m = CHAOS_FAULT.match(text)
        if not m or m.group(2) not in byid:
            continue
        f = byid[m.group(2)]
        if m.group(1) == "+":
            wins[f["id"]] = [f["kind"], f["args"], mono, None]
        elif f["id"] in wins:
            wins[f["id"]][3] = mono
    for w in wins.values():
        if w[3] is None:
            w[3] = heal or last
    return wins


FENCE_LOG = re.compile(r"^(\S+Z) fenced (w\d+) ")


def read_fence_log(path):
    """[(wall_s, node)] of the hook's power-offs."""
    out = []
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    with fh:
        for line in fh:
            m = FENCE_LOG.match(line)
            if m:
                t = m.group(1)
                frac = re.search(r"\.(\d+)Z$", t)
                base = datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                if frac:
                    base += float("0." + frac.group(1))
                out.append((base, m.group(2)))
    return out


def judge_fencings(plan, events, fence_log, sched_events, window_s):
    """Each power-off of the fence log with the fence request behind it
    and the faults that explain it.  The time judged is the request's
    (fence_open: when schedd decided; a storm pause or a failing hook can
    delay the power-off), else the power-off itself.  Explained: a fault
    touching the worker was in force at some point of [t - window, t]."""
    off = mono_offset(events)
    wins = fault_windows(events, plan)
    opens = sorted((e["at_ms"] / 1000.0, e["node"]) for e in sched_events
                   if e.get("kind") == "fence_open" and e.get("node"))
    out = []
    for wall, node in fence_log:
        req = [t for t, n in opens if n == node and t <= wall + 1.0]
        decided = req[-1] if req else wall
        t = decided * 1e9 + off
        w = int(node[1:])
        lo = t - window_s * 1e9
        why = [fid for fid, (kind, args, s, e) in sorted(wins.items())
               if w in touches(kind, args, plan["workers"]) and s <= t and e >= lo]
        out.append({"node": node, "fenced_wall": wall, "decided_wall": decided,
                    "fenced_mono_ns": round(wall * 1e9 + off), "decided_mono_ns": round(t),
                    "explained_by": why, "false": not why})
    return out


def cmd_summary(args):
    plan = load_plan(args.plan)
    events = read_events(args.events)
    fence_log = read_fence_log(args.fence_log) if args.fence_log else []
    hist, report = {}, None
    if args.history:
        try:
            with open(args.history, encoding="utf-8") as fh:
                hist = json.load(fh)
        except (OSError, ValueError):
            hist = {}
    if args.report:
        try:
            with open(args.report, encoding="utf-8") as fh:
                report = json.load(fh)
        except (OSError, ValueError):
            report = None
    sched_events = hist.get("events") or []
    wins = fault_windows(events, plan)
    injected = {}
    for kind, _, _, _ in wins.values():
        injected[kind] = injected.get(kind, 0) + 1
    fencings = judge_fencings(plan, events, fence_log, sched_events, args.window)
    false = [f for f in fencings if f["false"]]
    ev_count = {}
    for e in sched_events:
        if e.get("kind", "").startswith("fence_") or e.get("kind") == "run_lost":
            ev_count[e["kind"]] = ev_count.get(e["kind"], 0) + 1
    notes = []
    if args.notes:
        try:
            with open(args.notes, encoding="utf-8") as fh:
                notes = [ln.rstrip("\n") for ln in fh if ln.strip()]
        except FileNotFoundError:
            pass
    s = (report or {}).get("summary", {})
    # Runs that ended failed or timed out, by the first words of their
    # error ("self-fenced", "killed", ...): a self-fencing while the
    # scheduler was down for everyone kills work it should have kept.
    failed, self_fenced = {}, []
    for rows in (hist.get("history") or {}).values():
        for r in rows:
            if r.get("state") not in ("failed", "timed_out"):
                continue
            err = r.get("error") or ""
            cause = err.split(":", 1)[0].strip()[:40] or r["state"]
            failed[cause] = failed.get(cause, 0) + 1
            if err.startswith("self-fenced"):
                self_fenced.append(f"{r['task']} run {r['run_id']} on {r.get('node')}: {err}")
    check_ok = args.check_rc == 0 and report is not None and report.get("ok")
    ok = bool(check_ok) and not false and not notes
    doc = {"seed": plan["seed"], "duration": plan["duration"], "plan_hash": plan["hash"],
           "workers": plan["workers"],
           "faults_planned": len(plan["faults"]), "faults_injected": len(wins),
           "faults_by_kind": dict(sorted(injected.items())),
           "runs": s.get("runs"), "runs_by_state": s.get("runs_by_state"),
           "executions": s.get("executions"), "executions_without_end":
           s.get("executions_without_end"), "violations": s.get("violations"),
           "overlaps": s.get("overlaps"), "lost_runs": s.get("lost_runs"),
           "lost_runs_retried": s.get("lost_runs_retried"),
           "lost_runs_followed": s.get("lost_runs_followed"),
           "failed_by_cause": dict(sorted(failed.items())), "self_fenced": self_fenced,
           "fencings": len(fencings), "fence_events": dict(sorted(ev_count.items())),
           "false_fencings": len(false), "fencing_detail": fencings,
           "check_rc": args.check_rc, "problems": notes, "ok": ok}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")

    def kv(d):
        return ", ".join(f"{k} {v}" for k, v in (d or {}).items()) or "none"
    t0 = next((m for m, _, t in events if t.startswith("chaos: start")), events[0][0] if events else 0)
    print(f"seed:            {plan['seed']} (plan hash {plan['hash']}, {plan['duration']}s)")
    print(f"faults injected: {len(wins)} of {len(plan['faults'])} planned: {kv(doc['faults_by_kind'])}")
    print(f"runs:            {s.get('runs', '?')}: {kv(s.get('runs_by_state'))}")
    print(f"executions:      {s.get('executions', '?')} ({s.get('executions_without_end', '?')} "
          "without END)")
    print(f"overlaps:        {s.get('overlaps', '?')} (violations {s.get('violations', '?')})")
    # A lost run is a fenced node's run: the promise is that none is lost
    # silently, i.e. each is retried or followed by the next schedule
    # (check.py part (d) fails otherwise).
    print(f"lost runs:       {s.get('lost_runs', '?')} fenced ({s.get('lost_runs_retried', '?')} "
          f"retried, {s.get('lost_runs_followed', '?')} followed by the next schedule); "
          f"silently lost: {'0' if check_ok else 'see checker'}")
    print(f"failed runs:     {sum(failed.values())}: {kv(doc['failed_by_cause'])}")
    for line in self_fenced:
        print(f"    {line}")
    print(f"fencings:        {len(fencings)} hosts powered off ({kv(doc['fence_events'])})")
    for f in fencings:
        rel = (f["decided_mono_ns"] - t0) / 1e9
        why = ", ".join(f["explained_by"]) or "nothing: FALSE FENCING"
        print(f"    {f['node']} decided at t={rel:.1f}s: {why}")
    print(f"false fencings:  {len(false)}")
    print(f"checker:         {'PASS' if check_ok else 'FAIL'} (exit {args.check_rc})")
    for n in notes:
        print(f"problem:         {n}")
    print(f"RESULT: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main(argv):
    ap = argparse.ArgumentParser(prog="chaos_plan.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan", help="draw the fault schedule of a seed")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--duration", type=int, required=True, help="seconds of faults")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--lease", type=float, default=5.0, help="the cluster's lease, seconds")
    p.add_argument("--out", required=True)
    p = sub.add_parser("actions", help="the plan as time-ordered apply/revert lines")
    p.add_argument("--plan", required=True)
    p = sub.add_parser("summary", help="judge a run and print its summary")
    p.add_argument("--plan", required=True)
    p.add_argument("--events", required=True, help="LAB_DIR/events.log")
    p.add_argument("--fence-log", help="LAB_DIR/fence.log")
    p.add_argument("--history", help="check.py collect's HISTORY.json")
    p.add_argument("--report", help="check.py's --report JSON")
    p.add_argument("--check-rc", type=int, default=-1, help="check.py's exit status")
    p.add_argument("--notes", help="file of problems the driver saw, one a line (each fails)")
    p.add_argument("--window", type=float, default=10.0,
                   help="seconds before a fence decision a fault still explains it (10)")
    p.add_argument("--out", required=True, help="SUMMARY.json")
    args = ap.parse_args(argv)
    return {"plan": cmd_plan, "actions": cmd_actions, "summary": cmd_summary}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
