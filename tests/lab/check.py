#!/usr/bin/env python3
"""check.py - the fault lab's independent checker (manual: tests/lab/CHECKER.md).

    check.py --history HISTORY.json --intervals FILE... [--lockdir DIR] [--report OUT.json]
    check.py collect --schedctl 'PREFIX' [--events-db SCHEDD.db] [--limit N] --out HISTORY.json

The first form reads what the test tasks recorded (tests/lab/sched-interval:
START / END / VIOLATION lines, one file per host) and what the scheduler
says happened (the HISTORY file: every task's run history, the task
definitions and the scheduler's event list), and checks the promise of
sched from the outside:

  (a) no two executions of a task overlap (no VIOLATION record; intervals
      on the shared monotonic clock are disjoint);
  (b) the fencing tokens a task saw strictly increase, in order of START;
  (c) every run in the history is terminal, and every execution matches a
      run row (task, run id, token, node);
  (d) no due run disappeared: every row is accounted for, retries that were
      owed exist, and every fire time of a task's schedule inside the
      observed window has a row.

It prints one PASS/FAIL line per property with counts, a summary, and exits
0 when everything holds, 1 when a property fails, 2 on unusable input.

The second form collects HISTORY.json from a running scheduler: PREFIX is
the command that runs schedctl, e.g. 'bin/schedctl -c lab.conf' or
'ip netns exec lab-h0 bin/schedctl -c lab.conf'.

Standard library only: the checker shares no code with what it checks (it
has its own cron evaluation, too).
"""

import argparse
import datetime
import fcntl
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import zoneinfo

TERMINAL = ("succeeded", "failed", "timed_out", "cancelled", "skipped", "lost")
ACTIVE = ("pending", "dispatched", "running", "fencing")
PRIMARY_REASONS = ("schedule", "catch_up")  # rows that stand for a fire time
RETRIED_STATES = ("failed", "timed_out", "lost")
HISTORY_FORMAT = "sched-lab-history/1"
DETAILS_MAX = 25  # failure lines printed per property (all go to the report)
MISSING_MAX = 10  # missing fire times listed one by one per task


class InputError(Exception):
    """Input the checker cannot use at all (exit 2)."""


# ---- interval records ------------------------------------------------------

RECORD_FIELDS = {
    "START": ("task", "run", "token", "node", "pid", "lock", "mono_ns"),
    "END": ("task", "run", "token", "node", "pid", "status", "mono_ns"),
    "VIOLATION": ("task", "pid", "mono_ns"),
}


def decode(value):
    """A field value as sched-interval wrote it: '-' is unset."""
    return None if value == "-" else urllib.parse.unquote(value)


def parse_line(line):
    """(kind, fields) of one record line; raises ValueError when malformed."""
    words = line.split()
    if not words or words[0] not in RECORD_FIELDS:
        raise ValueError("unknown record kind")
    fields = {}
    for w in words[1:]:
        key, eq, value = w.partition("=")
        if not eq or not key or key in fields:
            raise ValueError(f"bad field {w!r}")
        fields[key] = decode(value)
    missing = [k for k in RECORD_FIELDS[words[0]] if k not in fields]
    if missing:
        raise ValueError("missing " + ", ".join(missing))
    for k in ("mono_ns", "real_ns", "pid"):
        if fields.get(k) is not None:
            fields[k] = int(fields[k])
    if fields["mono_ns"] is None or fields["mono_ns"] < 0:
        raise ValueError("no monotonic time")
    return words[0], fields


class Interval:
    """One execution: a START, its END if there is one, and the bound the
    checker derives for its end (see CHECKER.md, "Missing ENDs")."""

    def __init__(self, start, src):
        self.f = start
        self.src = src
        self.task = start["task"]
        self.start = start["mono_ns"]
        self.end = None        # END's monotonic time
        self.status = None     # END's status: exit:N | signal:N
        self.bound = None      # effective end: END, next START, check time; None: open
        self.bound_kind = None  # "END" | "next START" | "lock free at check" | "open"
        try:
            self.token = int(start["token"])
        except (TypeError, ValueError):
            self.token = None

    def describe(self):
        f = self.f
        if self.end is not None:
            end = f"ended {fmt_ns(self.end - self.start)} later ({self.status})"
        elif self.bound_kind == "next START":
            end = "no END, bounded by the next START"
        elif self.bound_kind == "lock free at check":
            end = "no END, lock free at check time"
        else:
            end = "no END, still open"
        return (f"run {f['run']} token {f['token']} on {f['node']} "
                f"[{self.src}, start {self.start}, {end}]")

    def to_json(self):
        f = self.f
        return {"task": self.task, "run": f["run"], "token": f["token"], "node": f["node"],
                "attempt": f.get("attempt"), "scheduled_for": f.get("sched_for"),
                "host": f.get("host"), "pid": f["pid"], "source": self.src,
                "start_mono_ns": self.start, "start_real_ns": f.get("real_ns"),
                "end_mono_ns": self.end, "status": self.status,
                "bound_mono_ns": self.bound, "bound_kind": self.bound_kind}


def fmt_ns(ns):
    return f"{ns / 1e9:.3f}s"


def read_intervals(paths):
    """(intervals, violations, problems) from the interval logs.  An END
    belongs to the latest unmatched START of the same process in the same
    file; problems are malformed lines and unmatched ENDs."""
    intervals, violations, problems = [], [], []
    for path in paths:
        try:
            fh = open(path, encoding="utf-8", errors="replace")
        except OSError as e:
            raise InputError(f"{path}: {e.strerror}") from e
        with fh:
            started = {}
            for n, line in enumerate(fh, 1):
                src = f"{path}:{n}"
                if not line.strip():
                    continue
                if not line.endswith("\n"):
                    problems.append(f"{src}: incomplete last line (no newline)")
                    continue
                try:
                    kind, f = parse_line(line)
                except ValueError as e:
                    problems.append(f"{src}: malformed record: {e}: {line.strip()[:200]}")
                    continue
                key = (f["task"], f.get("run"), f.get("token"), f.get("node"), f["pid"])
                if kind == "START":
                    iv = Interval(f, src)
                    intervals.append(iv)
                    started.setdefault(key, []).append(iv)
                elif kind == "END":
                    pending = started.get(key)
                    if not pending:
                        problems.append(f"{src}: END without a START of the same process")
                        continue
                    iv = pending.pop()
                    if f["mono_ns"] < iv.start:
                        problems.append(f"{src}: END before its START ({iv.src})")
                        continue
                    iv.end, iv.status = f["mono_ns"], f["status"]
                else:
                    violations.append((src, f))
    return intervals, violations, problems


def lock_is_free(lockdir, task, lock_id):
    """True if LOCKDIR/TASK.lock (the file the executions locked) can be
    locked now, False if some process still holds it, None if unknown."""
    path = os.path.join(lockdir, task + ".lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if lock_id and lock_id != f"{st.st_dev}:{st.st_ino}":
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def bound_intervals(by_task, lockdir, still_running):
    """Give every interval its effective end.  An interval without END ends
    at the next START of its task, which got the lock and so proves every
    process of the earlier execution gone; the last one of a task is
    bounded by the check time if the lock is free now, else open."""
    now = time.monotonic_ns()
    for task, ivs in by_task.items():
        for i, iv in enumerate(ivs):
            if iv.end is not None:
                iv.bound, iv.bound_kind = iv.end, "END"
            elif i + 1 < len(ivs):
                iv.bound, iv.bound_kind = ivs[i + 1].start, "next START"
            else:
                free = lock_is_free(lockdir, task, iv.f["lock"]) if lockdir else None
                if free:
                    iv.bound, iv.bound_kind = now, "lock free at check"
                else:
                    iv.bound_kind = "open"
                    if free is False:
                        still_running.append(iv)


# ---- history ---------------------------------------------------------------

RUN_KEYS = ("run_id", "task", "token", "reason", "state", "attempt", "node", "scheduled_for")


def parse_time(s):
    """Unix seconds of an RFC 3339 time as schedctl prints it."""
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def load_history(path):
    """{"history": {task: [run, ...]}, "tasks": {name: def}, "events": [...],
    "limit": N or None}; accepts the full format or a bare {task: [runs]}."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from e
    except ValueError as e:
        raise InputError(f"{path}: not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InputError(f"{path}: want a JSON object")
    if isinstance(doc.get("history"), dict):
        history, tasks, events = doc["history"], doc.get("tasks") or [], doc.get("events")
        limit = doc.get("limit")
    else:
        history, tasks, events, limit = doc, [], None, None
    out_hist = {}
    for task, rows in history.items():
        if not isinstance(rows, list):
            raise InputError(f"{path}: history of {task!r} is not a list")
        for r in rows:
            if not isinstance(r, dict) or any(k not in r for k in RUN_KEYS):
                raise InputError(f"{path}: run of {task!r} lacks one of {', '.join(RUN_KEYS)}: "
                                 f"{json.dumps(r)[:200]}")
            try:
                r["_sched"] = parse_time(r["scheduled_for"])
            except (TypeError, ValueError) as e:
                raise InputError(f"{path}: run {r['run_id']}: bad scheduled_for") from e
        out_hist[task] = sorted(rows, key=lambda r: r["run_id"])
    if isinstance(tasks, dict):
        tasks = list(tasks.values())
    return {"history": out_hist, "tasks": {t["name"]: t for t in tasks if "name" in t},
            "events": events, "limit": limit}


# ---- schedules: an evaluation of our own ----------------------------------

DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (min, max, end of '*' and of 'N/step', names, value of names[0])
CRON_FIELDS = [(0, 59, 59, None, 0), (0, 23, 23, None, 0), (1, 31, 31, None, 1),
               (1, 12, 12, MONTHS, 1), (0, 7, 6, DAYS, 0)]


def parse_duration_s(s):
    """Whole seconds of a duration ('1s', '1h30m', bare seconds)."""
    s = s.strip()
    if re.fullmatch(r"\d+", s):
        return int(s)
    parts = re.findall(r"(\d+)([a-z]+)", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(f"bad duration {s!r}")
    ms = sum(int(n) * DURATION_UNITS[u] for n, u in parts)
    if ms <= 0 or ms % 1000:
        raise ValueError(f"bad duration {s!r}")
    return ms // 1000


def cron_value(text, names, base):
    if names and text.lower() in names:
        return names.index(text.lower()) + base
    return int(text)


def parse_cron_field(text, spec):
    lo, hi, star_hi, names, base = spec
    vals = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        step = int(step) if step else 1
        if rng == "*":
            a, b = lo, star_hi
        elif "-" in rng:
            a, b = (cron_value(x, names, base) for x in rng.split("-", 1))
        else:
            a = cron_value(rng, names, base)
            b = star_hi if step != 1 or item.endswith("/1") else a
        if not (lo <= a <= hi and lo <= b <= hi) or step < 1:
            raise ValueError(f"bad cron field {text!r}")
        vals.update(range(a, b + 1, step))
    return vals


class Schedule:
    """Fire times of a schedule expression: 'every D' (multiples of D since
    the epoch) or cron in a time zone with sched's DST rule: a wall time
    that occurs twice fires at its first occurrence, times in a gap fire
    once at the instant the gap ends."""

    def __init__(self, expr, tz):
        expr = expr.strip()
        self.every = None
        m = re.fullmatch(r"(?i)every\s+(\S+)", expr)
        if m:
            self.every = parse_duration_s(m.group(1))
            return
        expr = MACROS.get(expr.lower(), expr)
        fields = expr.split()
        if len(fields) != 5:
            raise ValueError(f"not a schedule: {expr!r}")
        self.sets = [parse_cron_field(f, spec) for f, spec in zip(fields, CRON_FIELDS)]
        if 7 in self.sets[4]:
            self.sets[4].add(0)
        self.dom_star, self.dow_star = fields[2].startswith("*"), fields[4].startswith("*")
        self.tz = zoneinfo.ZoneInfo(tz or "UTC")

    def matches(self, w):
        mi, h, dom, mon, dow = self.sets
        if w.minute not in mi or w.hour not in h or w.month not in mon:
            return False
        dom_ok, dow_ok = w.day in dom, (w.weekday() + 1) % 7 in dow
        if not self.dom_star and not self.dow_star:
            return dom_ok or dow_ok
        return dom_ok and dow_ok

    def fire_times(self, lo, hi):
        """Fire instants t (Unix s) with lo < t <= hi."""
        if self.every:
            p = self.every
            return list(range((lo // p + 1) * p, hi + 1, p))
        out = []
        one = datetime.timedelta(minutes=1)
        t = (lo // 60 + 1) * 60
        prev = datetime.datetime.fromtimestamp(t - 60, self.tz).replace(tzinfo=None)
        while t <= hi:
            aware = datetime.datetime.fromtimestamp(t, self.tz)
            w = aware.replace(tzinfo=None, fold=0)
            if w - prev > one:  # a gap: every wall minute skipped fires now, once
                m, fire = prev + one, False
                while m <= w and not fire:
                    fire = self.matches(m)
                    m += one
                if fire:
                    out.append(t)
            elif aware.fold == 0 and w > prev and self.matches(w):
                out.append(t)  # fold 1: the second occurrence never fires
            prev = max(prev, w)
            t += 60
        return out


# ---- the checks --------------------------------------------------------------

class Property:
    def __init__(self, key, title):
        self.key, self.title = key, title
        self.failures, self.notes = [], []
        self.detail = ""

    @property
    def ok(self):
        return not self.failures

    def fail(self, msg):
        self.failures.append(msg)


def check_records(problems):
    p = Property("records", "interval records are well formed")
    for msg in problems:
        p.fail(msg)
    return p


def check_overlap(by_task, violations, still_running):
    p = Property("a", "no overlapping executions")
    for src, f in violations:
        p.fail(f"VIOLATION at {src}: task {f['task']} run {f.get('run')} token {f.get('token')} "
               f"on {f.get('node')} found the lock held by: {f.get('holder') or 'unknown'}")
    overlaps = 0
    for task, ivs in sorted(by_task.items()):
        locks = {iv.f["lock"] for iv in ivs}
        if len(locks) > 1:
            p.fail(f"task {task}: executions locked different files ({', '.join(sorted(locks))}): "
                   "the lock cannot exclude them and ends cannot be bounded")
        last = None  # the interval reaching furthest so far
        for iv in ivs:
            if last is not None and (last.bound is None or iv.start < last.bound):
                overlaps += 1
                p.fail(f"task {task}: overlap: {iv.describe()} starts "
                       + ("while " if last.bound is None else
                          f"{fmt_ns(last.bound - iv.start)} before the end of ")
                       + last.describe())
            if last is None or last.bound is not None and (iv.bound is None or
                                                           iv.bound > last.bound):
                last = iv
    for iv in still_running:
        p.fail(f"task {iv.task}: still executing at check time (its lock is held): "
               + iv.describe())
    n = sum(len(v) for v in by_task.values())
    no_end = [iv for v in by_task.values() for iv in v if iv.end is None]
    kinds = {k: sum(1 for iv in no_end if iv.bound_kind == k)
             for k in ("next START", "lock free at check", "open")}
    p.detail = (f"{n} executions of {len(by_task)} tasks, {len(violations)} violations, "
                f"{overlaps} overlaps; {len(no_end)} without END ({kinds['next START']} bounded "
                f"by the next START, {kinds['lock free at check']} by a free lock at check time, "
                f"{kinds['open']} open to the end of the logs)")
    p.counts = {"executions": n, "violations": len(violations), "overlaps": overlaps,
                "without_end": len(no_end), "open": kinds["open"]}
    return p


def check_tokens(by_task):
    p = Property("b", "fencing tokens strictly increase per task")
    checked = 0
    for task, ivs in sorted(by_task.items()):
        prev = None
        for iv in ivs:
            if iv.token is None:
                p.fail(f"task {task}: execution without a token: {iv.describe()}")
                continue
            checked += 1
            if prev is not None and iv.token <= prev.token:
                what = "the same token again" if iv.token == prev.token else "a lower token"
                p.fail(f"task {task}: {what}: {iv.describe()} started after {prev.describe()}")
            prev = iv
    p.detail = f"{checked} tokens in START order over {len(by_task)} tasks"
    return p


def check_history(hist, by_task):
    p = Property("c", "runs are terminal and executions match runs")
    rows = {r["run_id"]: r for rs in hist["history"].values() for r in rs}
    nrows = sum(len(rs) for rs in hist["history"].values())
    for task, rs in sorted(hist["history"].items()):
        for r in rs:
            if r["task"] != task:
                p.fail(f"run {r['run_id']} is listed under task {task} but belongs to {r['task']}")
            if r["state"] not in TERMINAL:
                p.fail(f"task {task}: run {r['run_id']} is {r['state']}, not terminal")
    matched, executions_of = 0, {}
    for task, ivs in sorted(by_task.items()):
        for iv in ivs:
            f = iv.f
            try:
                r = rows.get(int(f["run"]))
            except (TypeError, ValueError):
                r = None
            if r is None:
                p.fail(f"task {task}: no run row for the execution {iv.describe()}")
                continue
            diff = [f"{k} {f[k]} vs {r[rk]}" for k, rk in
                    (("task", "task"), ("token", "token"), ("node", "node"))
                    if str(f[k]) != str(r[rk])]
            if diff:
                p.fail(f"task {task}: execution does not match run {r['run_id']} "
                       f"({'; '.join(diff)}): {iv.describe()}")
                continue
            matched += 1
            executions_of.setdefault(r["run_id"], []).append(iv)
    succeeded = 0
    for r in rows.values():
        if r["state"] != "succeeded":
            continue
        succeeded += 1
        ivs = executions_of.get(r["run_id"], [])
        if not any(iv.status == "exit:0" for iv in ivs):
            how = ("no execution was recorded" if not ivs else
                   "its execution ended " + ", ".join(iv.status or "without END" for iv in ivs))
            p.fail(f"task {r['task']}: run {r['run_id']} is succeeded but {how}")
    p.detail = (f"{nrows} runs, {sum(1 for r in rows.values() if r['state'] in TERMINAL)} "
                f"terminal; {matched} executions matched to runs; {succeeded} succeeded runs "
                "each with an execution that exited 0")
    return p


CATCH_UP_EVENT = re.compile(r"(\d+) more fire times, from (\S+) to (\S+), were missed")


def schedule_changed(event):
    """Does a task_changed event say the schedule or its zone changed?
    Its message is 'changed: FIELD, FIELD (FILE:LINE)'; when it cannot be
    read, assume it did (which only shrinks what is checked)."""
    m = re.match(r"changed: (.*) \(", event.get("message") or "")
    if not m:
        return True
    fields = {x.strip() for x in m.group(1).split(",")}
    return bool(fields & {"schedule", "timezone"})


def check_accounting(hist):
    p = Property("d", "no due run disappeared")
    events = hist["events"] or []
    tasks, limit = hist["tasks"], hist["limit"]
    stats = {"lost": 0, "lost_retried": 0, "lost_followed": 0, "retries_owed": 0,
             "fire_times": 0, "fire_tasks": 0, "catch_up_ranges": 0}
    p.notes = []
    for task, rs in sorted(hist["history"].items()):
        tdef = tasks.get(task)
        retries = tdef.get("retries") if tdef else None
        for r in rs:
            if r["state"] == "skipped" and not (r.get("error") or "").strip():
                p.fail(f"task {task}: run {r['run_id']} was skipped without a reason")
            if r["state"] not in RETRIED_STATES:
                continue
            retry = next((x for x in rs if x["run_id"] > r["run_id"] and x["reason"] == "retry"
                          and x["attempt"] == r["attempt"] + 1 and x["_sched"] == r["_sched"]),
                         None)
            owed = retries is not None and r["attempt"] <= retries
            if owed:
                stats["retries_owed"] += 1
                if retry is None:
                    p.fail(f"task {task}: run {r['run_id']} ended {r['state']} (attempt "
                           f"{r['attempt']} of {retries + 1}) but no retry was created")
            if r["state"] != "lost":
                continue
            stats["lost"] += 1
            if retry is not None:
                stats["lost_retried"] += 1
            elif any(x["run_id"] > r["run_id"] and x["reason"] in PRIMARY_REASONS for x in rs):
                stats["lost_followed"] += 1
            elif not owed:
                p.fail(f"task {task}: run {r['run_id']} was lost and neither retried nor "
                       "followed by another scheduled run")
        check_fire_times(p, task, rs, tdef, events, limit, stats)
    p.detail = (f"{stats['lost']} lost runs ({stats['lost_retried']} retried, "
                f"{stats['lost_followed']} followed by the next schedule), "
                f"{stats['retries_owed']} retries owed; {stats['fire_times']} fire times of "
                f"{stats['fire_tasks']} tasks checked")
    if stats["catch_up_ranges"]:
        p.detail += f", {stats['catch_up_ranges']} catch-up ranges accounted by events"
    if not hist["tasks"]:
        p.notes.append("no task definitions in the history file: fire times and owed retries "
                       "not checked")
    elif hist["events"] is None:
        p.notes.append("no events in the history file: fire times checked between the first "
                       "and the last scheduled row only")
    p.stats = stats
    return p


def check_fire_times(p, task, rs, tdef, events, limit, stats):
    """Every fire time of the task's schedule in its window has exactly one
    row standing for it (reason schedule or catch_up: a run or a skipped
    row), or lies in a range a catch_up event counted; no such row falls
    off the schedule.  The window ends at the last fire time with a row
    (the cursor moves in order, so none before it may be missing) and starts
    after the task was added or its schedule last changed (the event), else
    at the first fire time with a row."""
    if not tdef:
        return
    try:
        sched = Schedule(tdef["schedule"], tdef.get("timezone"))
    except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError) as e:
        p.notes.append(f"task {task}: schedule not understood, fire times not checked ({e})")
        return
    primary = [r for r in rs if r["reason"] in PRIMARY_REASONS]
    if not primary:
        return
    mine = [e for e in events if e.get("task") == task]
    starts = [e["at_ms"] // 1000 for e in mine
              if e.get("kind") == "task_added" or
              (e.get("kind") == "task_changed" and schedule_changed(e))]
    truncated = limit is not None and len(rs) >= limit
    hi = max(r["_sched"] for r in primary)
    if starts and not truncated:
        lo = max(starts)  # exclusive: the cursor was set to that second
    else:
        lo = min(r["_sched"] for r in primary) - 1
        if truncated:
            p.notes.append(f"task {task}: history may be truncated ({len(rs)} rows, limit "
                           f"{limit}): fire times checked from the first row only")
    accounted = []
    for e in mine:
        m = CATCH_UP_EVENT.search(e.get("message") or "") if e.get("kind") == "catch_up" else None
        if m:
            accounted.append((parse_time(m.group(2)), parse_time(m.group(3))))
    stats["catch_up_ranges"] += len(accounted)
    expected = sched.fire_times(lo, hi)
    want = set(expected)
    seen = {}
    for r in primary:
        if r["_sched"] <= lo:
            continue
        if r["_sched"] not in want:
            p.fail(f"task {task}: run {r['run_id']} ({r['reason']}, {r['state']}) is for "
                   f"{r['scheduled_for']}, which is not a fire time of '{tdef['schedule']}'")
        elif r["_sched"] in seen:
            p.fail(f"task {task}: fire time {r['scheduled_for']} has two rows: runs "
                   f"{seen[r['_sched']]['run_id']} and {r['run_id']}")
        else:
            seen[r["_sched"]] = r
    missing = [t for t in expected if t not in seen and
               not any(a <= t <= b for a, b in accounted)]
    for t in missing[:MISSING_MAX]:
        p.fail(f"task {task}: fire time {fmt_time(t)} disappeared: no run and no skipped row "
               f"(window {fmt_time(lo + 1)} .. {fmt_time(hi)})")
    if len(missing) > MISSING_MAX:
        p.fail(f"task {task}: {len(missing) - MISSING_MAX} more fire times disappeared, the "
               f"last {fmt_time(missing[-1])}")
    stats["fire_times"] += len(expected)
    stats["fire_tasks"] += 1


def fmt_time(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summarize(hist, by_task, overlap, accounting):
    rows = [r for rs in hist["history"].values() for r in rs]
    by_state, skipped = {}, {"overlap": 0, "catch_up": 0, "other": 0}
    for r in rows:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
        if r["state"] == "skipped":
            err = r.get("error") or ""
            kind = ("overlap" if "overlap=" in err else
                    "catch_up" if "catch_up" in err or "missed" in err else "other")
            skipped[kind] += 1
    return {"runs": len(rows), "runs_by_state": dict(sorted(by_state.items())),
            "skipped_by_cause": skipped,
            "retries": sum(1 for r in rows if r["reason"] == "retry"),
            "executions": overlap.counts["executions"],
            "violations": overlap.counts["violations"],
            "overlaps": overlap.counts["overlaps"],
            "executions_without_end": overlap.counts["without_end"],
            "lost_runs": accounting.stats["lost"],
            "lost_runs_retried": accounting.stats["lost_retried"],
            "lost_runs_followed": accounting.stats["lost_followed"],
            "fire_times_checked": accounting.stats["fire_times"]}


def run_check(args):
    hist = load_history(args.history)
    intervals, violations, problems = read_intervals(args.intervals)
    by_task = {}
    for iv in sorted(intervals, key=lambda iv: iv.start):
        by_task.setdefault(iv.task, []).append(iv)
    still_running = []
    bound_intervals(by_task, args.lockdir, still_running)

    props = [check_records(problems), check_overlap(by_task, violations, still_running),
             check_tokens(by_task), check_history(hist, by_task), check_accounting(hist)]
    props[0].detail = f"{len(intervals) + len(violations)} records in {len(args.intervals)} files"
    summary = summarize(hist, by_task, props[1], props[4])
    ok = all(p.ok for p in props)

    for p in props:
        label = p.key if p.key == "records" else f"({p.key})"
        print(f"{'PASS' if p.ok else 'FAIL'} {label} {p.title}: {p.detail}")
        for msg in p.failures[:DETAILS_MAX]:
            print(f"    - {msg}")
        if len(p.failures) > DETAILS_MAX:
            print(f"    ... {len(p.failures) - DETAILS_MAX} more (see --report)")
        for note in p.notes:
            print(f"    note: {note}")
    states = ", ".join(f"{k} {v}" for k, v in summary["runs_by_state"].items())
    print(f"summary: runs {summary['runs']} ({states}); executions {summary['executions']} "
          f"({summary['executions_without_end']} without END); violations "
          f"{summary['violations']}; overlaps {summary['overlaps']}; lost runs "
          f"{summary['lost_runs']} ({summary['lost_runs_retried']} retried); retries "
          f"{summary['retries']}; skipped {sum(summary['skipped_by_cause'].values())} "
          f"(overlap {summary['skipped_by_cause']['overlap']}, catch-up "
          f"{summary['skipped_by_cause']['catch_up']})")
    print("RESULT: " + ("PASS" if ok else "FAIL"))

    if args.report:
        report = {"ok": ok, "summary": summary,
                  "properties": [{"key": p.key, "title": p.title, "ok": p.ok, "detail": p.detail,
                                  "failures": p.failures, "notes": p.notes} for p in props],
                  "intervals": [iv.to_json() for ivs in by_task.values() for iv in ivs],
                  "violations": [dict(f, source=src) for src, f in violations]}
        with open(args.report, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
            fh.write("\n")
    return 0 if ok else 1


# ---- collect ---------------------------------------------------------------

def schedctl(prefix, *args):
    cmd = shlex.split(prefix) + ["--json", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if res.returncode != 0:
        raise InputError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.strip()[:500]}")
    return json.loads(res.stdout)


def read_events(db):
    """The scheduler's event list, read from its database without writing
    (mode=ro; WAL readers do not disturb a running schedd)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(
            "SELECT id, at_ms, kind, task, run_id, node, message FROM events ORDER BY id")]
    finally:
        con.close()


def run_collect(args):
    tasks = schedctl(args.schedctl, "tasks", "--all")
    history = {t["name"]: schedctl(args.schedctl, "history", t["name"], "--limit",
                                   str(args.limit)) for t in tasks}
    doc = {"format": HISTORY_FORMAT,
           "collected_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
           "limit": args.limit, "tasks": tasks, "history": history}
    if args.events_db:
        doc["events"] = read_events(args.events_db)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, args.out)
    rows = sum(len(v) for v in history.values())
    print(f"collected {len(tasks)} tasks, {rows} runs"
          + (f", {len(doc['events'])} events" if args.events_db else "") + f" into {args.out}")
    return 0


def main(argv):
    if argv and argv[0] == "collect":
        ap = argparse.ArgumentParser(prog="check.py collect",
                                     description="collect HISTORY.json from a scheduler")
        ap.add_argument("--schedctl", required=True,
                        help="command prefix that runs schedctl, e.g. 'bin/schedctl -c FILE'")
        ap.add_argument("--events-db", help="schedd's database, for the event list")
        ap.add_argument("--limit", type=int, default=100000, help="runs per task (default 100000)")
        ap.add_argument("--out", required=True)
        args = ap.parse_args(argv[1:])
        run = run_collect
    else:
        ap = argparse.ArgumentParser(prog="check.py", description=__doc__.split("\n\n")[0])
        ap.add_argument("--history", required=True, help="HISTORY.json (see CHECKER.md)")
        ap.add_argument("--intervals", required=True, nargs="+", metavar="FILE",
                        help="interval logs written by sched-interval")
        ap.add_argument("--lockdir", help="the LOCKDIR the tasks used: an execution still "
                        "holding its lock at check time fails (a)")
        ap.add_argument("--report", help="write the results and all intervals as JSON")
        args = ap.parse_args(argv)
        run = run_check
    try:
        return run(args)
    except (InputError, sqlite3.Error, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        print(f"check.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
