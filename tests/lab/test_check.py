#!/usr/bin/env python3
"""test_check.py - tests of the lab checker (check.py) and of sched-interval.

    SCHED_INTERVAL=build/lab/sched-interval [BIN=bin] python3 tests/lab/test_check.py [-v]

Synthetic inputs (hand-written interval logs and history JSON) for every
property passing and failing, the checker's own schedule evaluation
against `schedctl next` (when BIN is given), and sched-interval run as a
real process: records, the lock, signals, a SIGKILL that leaves no END.
The end-to-end test with a real cluster is test_check.sh.
"""

import contextlib
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402

SEC = 1_000_000_000
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
T0 = 1_780_000_000  # a Unix second the synthetic histories live at (2026-05-28)


def iso(t):
    return check.fmt_time(t)


def read(path):
    with open(path) as fh:
        return fh.read()


def write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def jload(path):
    return json.loads(read(path))


def start(task, run, token, node, mono, pid=None, lock="1:1", **extra):
    f = dict(task=task, run=run, token=token, attempt=1, node=node, sched_for="-",
             pid=pid if pid is not None else 1000 + int(run), host="h", lock=lock,
             mono_ns=mono, real_ns=mono)
    f.update(extra)
    return "START " + " ".join(f"{k}={v}" for k, v in f.items())


def end(task, run, token, node, mono, status="exit:0", pid=None):
    f = dict(task=task, run=run, token=token, node=node,
             pid=pid if pid is not None else 1000 + int(run), status=status,
             mono_ns=mono, real_ns=mono, dur_ns=0)
    return "END " + " ".join(f"{k}={v}" for k, v in f.items())


def run_row(task, run_id, token, node, state="succeeded", reason="schedule", sched=T0,
            attempt=1, error=None):
    return {"run_id": run_id, "task": task, "token": token, "reason": reason, "state": state,
            "attempt": attempt, "node": node, "scheduled_for": iso(sched),
            "created_at": iso(sched), "started_at": None, "finished_at": None,
            "exit_code": 0 if state == "succeeded" else None, "signal": None, "error": error}


def skip_row(task, run_id, sched, error="run 1 of this task was still unfinished (overlap=skip)"):
    return run_row(task, run_id, 0, None, state="skipped", sched=sched, error=error)


def task_def(name, schedule="every 1s", retries=0, tz="UTC"):
    return {"name": name, "schedule": schedule, "timezone": tz, "retries": retries,
            "overlap": "skip", "catch_up": "latest", "state": "active"}


class Lab:
    """A temporary directory with interval logs and a history file."""

    def __init__(self, tmp):
        self.dir = tmp
        self.logs = []

    def log(self, name, *lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as fh:
            fh.write("".join(line + "\n" for line in lines))
        self.logs.append(path)
        return path

    def history(self, history, tasks=None, events=None, bare=False, limit=None):
        path = os.path.join(self.dir, "history.json")
        doc = history if bare else {"format": check.HISTORY_FORMAT, "history": history,
                                    "tasks": tasks or [], "limit": limit}
        if events is not None and not bare:
            doc["events"] = events
        with open(path, "w") as fh:
            json.dump(doc, fh)
        self.hist = path
        return path

    def check(self, *extra):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = check.main(["--history", self.hist, "--intervals", *self.logs, *extra])
        return rc, out.getvalue()


def line_of(out, key):
    """The PASS/FAIL line of a property ('records', 'a', 'b', ...)."""
    label = key if key == "records" else f"({key})"
    for line in out.splitlines():
        if line.split()[1:2] == [label]:
            return line
    raise AssertionError(f"no line for {label} in:\n{out}")


class CheckerCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.lab = Lab(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    def assertPass(self, rc, out, *keys):
        self.assertEqual(rc, 0, out)
        for k in keys or ("records", "a", "b", "c", "d"):
            self.assertTrue(line_of(out, k).startswith("PASS"), out)
        self.assertIn("RESULT: PASS", out)

    def assertFail(self, rc, out, key, *phrases):
        self.assertEqual(rc, 1, out)
        line = line_of(out, key)
        self.assertTrue(line.startswith("FAIL"), out)
        for p in phrases:
            self.assertIn(p, out)
        self.assertIn("RESULT: FAIL", out)

    def three_runs(self, tasks=True, events=None):
        """A clean history: task t every 1s, three runs on two hosts."""
        lab = self.lab
        lab.log("h1.log", start("t", 1, 1, "w1", 10 * SEC), end("t", 1, 1, "w1", 10 * SEC + SEC // 2),
                start("t", 3, 2, "w1", 12 * SEC), end("t", 3, 2, "w1", 12 * SEC + SEC // 2))
        lab.log("h2.log", start("t", 4, 3, "w2", 13 * SEC), end("t", 4, 3, "w2", 13 * SEC + SEC // 2))
        lab.history({"t": [run_row("t", 1, 1, "w1", sched=T0), skip_row("t", 2, T0 + 1),
                           run_row("t", 3, 2, "w1", sched=T0 + 2),
                           run_row("t", 4, 3, "w2", sched=T0 + 3)]},
                    tasks=[task_def("t")] if tasks else None, events=events)


class TestPass(CheckerCase):
    def test_clean_history_passes_with_counts(self):
        self.three_runs(events=[{"at_ms": (T0 - 1) * 1000, "kind": "task_added", "task": "t",
                                 "message": "added (t.conf:1)"}])
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("3 executions of 1 tasks, 0 violations, 0 overlaps", out)
        self.assertIn("4 fire times of 1 tasks checked", out)
        self.assertIn("runs 4 (skipped 1, succeeded 3)", out)
        self.assertIn("skipped 1 (overlap 1, catch-up 0)", out)

    def test_bare_history_format(self):
        self.three_runs(tasks=False)
        self.lab.history(jload(self.lab.hist)["history"], bare=True)
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("fire times and owed retries not checked", out)

    def test_report_has_results_and_intervals(self):
        self.three_runs()
        rep = os.path.join(self.lab.dir, "report.json")
        rc, out = self.lab.check("--report", rep)
        self.assertPass(rc, out)
        r = jload(rep)
        self.assertTrue(r["ok"])
        self.assertEqual(len(r["intervals"]), 3)
        self.assertEqual([i["end_mono_ns"] - i["start_mono_ns"] for i in r["intervals"]],
                         [SEC // 2] * 3)
        self.assertEqual(r["summary"]["executions"], 3)
        self.assertEqual([p["key"] for p in r["properties"]], ["records", "a", "b", "c", "d"])


class TestOverlap(CheckerCase):
    def test_overlap_across_hosts_fails(self):
        self.three_runs()
        # run 4 on w2 starts before run 3 on w1 ended
        self.lab.logs.pop()
        self.lab.log("h2.log", start("t", 4, 3, "w2", 12 * SEC + SEC // 4),
                     end("t", 4, 3, "w2", 13 * SEC))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "a", "overlap: run 4 token 3 on w2", "before the end of run 3")
        self.assertIn("overlaps 1", out)

    def test_overlap_with_an_earlier_long_interval(self):
        # 1 runs 10..20 s, 3 runs 12..12.5 s, 4 starts at 13 s: both overlap 1
        self.three_runs()
        self.lab.logs[:] = []
        self.lab.log("h1.log", start("t", 1, 1, "w1", 10 * SEC), end("t", 1, 1, "w1", 20 * SEC))
        self.lab.log("h2.log", start("t", 3, 2, "w2", 12 * SEC), end("t", 3, 2, "w2", 12 * SEC + 1),
                     start("t", 4, 3, "w2", 13 * SEC), end("t", 4, 3, "w2", 13 * SEC + 1))
        self.lab.history({"t": [run_row("t", 1, 1, "w1", sched=T0), skip_row("t", 2, T0 + 1),
                                run_row("t", 3, 2, "w2", sched=T0 + 2),
                                run_row("t", 4, 3, "w2", sched=T0 + 3)]}, tasks=[task_def("t")])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "a", "overlap: run 3", "overlap: run 4")
        self.assertIn("2 overlaps", out)

    def test_violation_record_fails(self):
        self.three_runs()
        self.lab.log("h3.log", "VIOLATION task=t run=9 token=7 node=w3 pid=5 lock=1:1 "
                     "mono_ns=12000000001 holder=run%3D3%20token%3D2")
        rc, out = self.lab.check()
        self.assertFail(rc, out, "a", "VIOLATION at", "found the lock held by: run=3 token=2")
        self.assertIn("1 violations", out)

    def test_different_lock_files_fail(self):
        self.three_runs()
        self.lab.logs.pop()
        self.lab.log("h2.log", start("t", 4, 3, "w2", 13 * SEC, lock="2:9"),
                     end("t", 4, 3, "w2", 13 * SEC + 1))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "a", "locked different files (1:1, 2:9)")

    def test_missing_end_is_bounded_by_the_next_start(self):
        # run 1's sched-interval was SIGKILLed: no END; run 3 got the lock later
        self.three_runs()
        self.lab.logs[:] = []
        self.lab.log("h1.log", start("t", 1, 1, "w1", 10 * SEC),
                     start("t", 3, 2, "w1", 12 * SEC), end("t", 3, 2, "w1", 12 * SEC + 1))
        self.lab.log("h2.log", start("t", 4, 3, "w2", 13 * SEC), end("t", 4, 3, "w2", 13 * SEC + 1))
        self.lab.history({"t": [run_row("t", 1, 1, "w1", state="failed", sched=T0),
                                skip_row("t", 2, T0 + 1), run_row("t", 3, 2, "w1", sched=T0 + 2),
                                run_row("t", 4, 3, "w2", sched=T0 + 3)]}, tasks=[task_def("t")])
        rep = os.path.join(self.lab.dir, "r.json")
        rc, out = self.lab.check("--report", rep)
        self.assertPass(rc, out)
        self.assertIn("1 without END (1 bounded by the next START", out)
        iv = jload(rep)["intervals"][0]
        self.assertEqual((iv["bound_kind"], iv["bound_mono_ns"]), ("next START", 12 * SEC))

    def test_missing_end_then_an_overlap_with_an_unended_earlier_one(self):
        # 1 (no END) is bounded by 3's START; 3 has no END and is bounded by
        # 4's START: nothing overlaps, but an END-less interval must never
        # hide a real overlap of others: 0 runs 9..14 s overlaps all of them
        self.three_runs()
        self.lab.logs[:] = []
        self.lab.log("h0.log", start("t", 7, 1, "w0", 9 * SEC), end("t", 7, 1, "w0", 14 * SEC))
        self.lab.log("h1.log", start("t", 1, 2, "w1", 10 * SEC), start("t", 3, 3, "w1", 12 * SEC))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "a", "overlap: run 1", "overlap: run 3")

    def test_open_interval_and_the_lock_at_check_time(self):
        self.three_runs()
        self.lab.logs.pop()
        # run 4 has no END and nothing started after it
        self.lab.log("h2.log", start("t", 4, 3, "w2", 13 * SEC, lock="LOCKID"))
        self.lab.logs[0] = self.lab.log("h1.log", start("t", 1, 1, "w1", 10 * SEC, lock="LOCKID"),
                                        end("t", 1, 1, "w1", 11 * SEC),
                                        start("t", 3, 2, "w1", 12 * SEC, lock="LOCKID"),
                                        end("t", 3, 2, "w1", 12 * SEC + 1))
        self.lab.logs = sorted(set(self.lab.logs))
        h = jload(self.lab.hist)
        h["history"]["t"][3]["state"] = "failed"  # its worker was killed with it
        self.lab.history(h["history"], tasks=h["tasks"])
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("1 open to the end of the logs", out)

        lockdir = os.path.join(self.lab.dir, "locks")
        os.mkdir(lockdir)
        lock = os.path.join(lockdir, "t.lock")
        open(lock, "w").close()
        st = os.stat(lock)
        for p in self.lab.logs:
            write(p, read(p).replace("LOCKID", f"{st.st_dev}:{st.st_ino}"))
        rc, out = self.lab.check("--lockdir", lockdir)
        self.assertPass(rc, out)
        self.assertIn("1 by a free lock at check time, 0 open", out)

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            rc, out = self.lab.check("--lockdir", lockdir)
        finally:
            os.close(fd)
        self.assertFail(rc, out, "a", "still executing at check time")


class TestTokens(CheckerCase):
    def test_lower_token_later_fails(self):
        self.three_runs()
        self.lab.logs.pop()
        self.lab.log("h2.log", start("t", 4, 1, "w2", 13 * SEC), end("t", 4, 1, "w2", 13 * SEC + 1))
        h = jload(self.lab.hist)
        h["history"]["t"][3]["token"] = 1
        self.lab.history(h["history"], tasks=h["tasks"])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "b", "a lower token: run 4 token 1")

    def test_same_run_executed_twice_fails(self):
        self.three_runs()
        self.lab.log("h3.log", start("t", 4, 3, "w2", 14 * SEC, pid=77),
                     end("t", 4, 3, "w2", 14 * SEC + 1, pid=77))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "b", "the same token again: run 4 token 3")


class TestHistory(CheckerCase):
    def test_non_terminal_run_fails(self):
        self.three_runs()
        h = jload(self.lab.hist)
        h["history"]["t"].append(run_row("t", 5, 4, "w1", state="running", sched=T0 + 4))
        self.lab.history(h["history"], tasks=h["tasks"])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "c", "run 5 is running, not terminal")

    def test_execution_without_run_row_fails(self):
        self.three_runs()
        self.lab.log("h3.log", start("t", 99, 9, "w9", 20 * SEC), end("t", 99, 9, "w9", 21 * SEC))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "c", "no run row for the execution run 99 token 9 on w9")

    def test_execution_on_another_node_or_token_fails(self):
        self.three_runs()
        self.lab.logs.pop()
        self.lab.log("h2.log", start("t", 4, 3, "w1", 13 * SEC), end("t", 4, 3, "w1", 13 * SEC + 1))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "c", "does not match run 4 (node w1 vs w2)")

    def test_succeeded_run_without_execution_fails(self):
        self.three_runs()
        self.lab.logs.pop()
        rc, out = self.lab.check()
        self.assertFail(rc, out, "c", "run 4 is succeeded but no execution was recorded")

    def test_succeeded_run_whose_execution_failed_fails(self):
        self.three_runs()
        self.lab.logs.pop()
        self.lab.log("h2.log", start("t", 4, 3, "w2", 13 * SEC),
                     end("t", 4, 3, "w2", 13 * SEC + 1, status="exit:3"))
        rc, out = self.lab.check()
        self.assertFail(rc, out, "c", "run 4 is succeeded but its execution ended exit:3")


class TestAccounting(CheckerCase):
    def hist(self, rows, schedule="every 1s", retries=0, events=None):
        self.lab.logs[:] = []
        self.lab.log("h.log")
        self.lab.history({"t": rows}, tasks=[task_def("t", schedule, retries)], events=events)

    def ok_rows(self, n, base=T0):
        return [run_row("t", i + 1, i + 1, "w1", state="failed", sched=base + i)
                for i in range(n)]  # failed: needs no execution record

    def test_missing_fire_time_fails(self):
        rows = self.ok_rows(5)
        del rows[2]
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", f"fire time {iso(T0 + 2)} disappeared")

    def test_legitimate_skips_pass(self):
        rows = [run_row("t", 1, 1, "w1", state="failed", sched=T0),
                skip_row("t", 2, T0 + 1), skip_row("t", 3, T0 + 2),
                skip_row("t", 4, T0 + 3, error="missed while the scheduler was not running "
                         "(catch_up=latest runs only the newest)"),
                run_row("t", 5, 2, "w1", state="cancelled", reason="catch_up", sched=T0 + 4),
                run_row("t", 6, 3, "w1", state="failed", reason="manual", sched=T0 + 4)]
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("5 fire times of 1 tasks checked", out)

    def test_skip_without_reason_fails(self):
        rows = self.ok_rows(3)
        rows[1] = skip_row("t", 2, T0 + 1, error="")
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", "run 2 was skipped without a reason")

    def test_off_schedule_and_duplicate_fire_times_fail(self):
        base = T0 - T0 % 10
        rows = [run_row("t", i + 1, i + 1, "w1", state="failed", sched=base + 2 * i)
                for i in range(4)]
        self.hist(rows, schedule="every 2s")
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        rows.append(run_row("t", 5, 5, "w1", state="failed", sched=base + 5))
        rows.append(run_row("t", 6, 6, "w1", state="failed", sched=base + 4))
        self.hist(rows, schedule="every 2s")
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", f"run 5 (schedule, failed) is for {iso(base + 5)}, which "
                        "is not a fire time of 'every 2s'", f"fire time {iso(base + 4)} has two "
                        "rows: runs 3 and 6")

    def test_leading_fire_time_after_task_added_is_checked(self):
        rows = self.ok_rows(3, base=T0 + 2)
        added = {"at_ms": T0 * 1000 + 400, "kind": "task_added", "task": "t", "message": "added"}
        self.hist(rows, events=[added])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", f"fire time {iso(T0 + 1)} disappeared")
        # without events only the span between rows is known: passes
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("no events in the history file", out)

    def test_schedule_change_restarts_the_window(self):
        old = [run_row("t", i + 1, i + 1, "w1", state="failed", sched=T0 + 7 * i)
               for i in range(3)]  # under the old 'every 7s'
        new = [run_row("t", 4 + i, 4 + i, "w1", state="failed", sched=T0 + 30 + i)
               for i in range(3)]
        change = {"at_ms": (T0 + 29) * 1000, "kind": "task_changed", "task": "t",
                  "message": "changed: schedule, command (t.conf:1)"}
        self.hist(old + new, events=[change])
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        change["message"] = "changed: command (schedules/t.conf:1)"
        self.hist(old + new, events=[change])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", "disappeared")

    def test_catch_up_event_accounts_for_a_range(self):
        rows = self.ok_rows(2) + self.ok_rows(2, base=T0 + 150)
        for i, r in enumerate(rows):
            r["run_id"] = r["token"] = i + 1
        ev = {"at_ms": (T0 + 151) * 1000, "kind": "catch_up", "task": "t",
              "message": f"148 more fire times, from {iso(T0 + 2)} to {iso(T0 + 149)}, were "
                         "missed (missed while the scheduler was not running (catch_up=none)); "
                         "the 100 after them are recorded as skipped runs"}
        self.hist(rows, events=[ev])
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("1 catch-up ranges accounted by events", out)
        self.hist(rows, events=[])
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", f"fire time {iso(T0 + 2)} disappeared",
                        f"138 more fire times disappeared, the last {iso(T0 + 149)}")

    def test_lost_run_needs_its_owed_retry(self):
        rows = [run_row("t", 1, 1, "w1", state="lost", sched=T0),
                run_row("t", 2, 2, "w1", state="failed", sched=T0 + 1)]
        self.hist(rows, retries=1)
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", "run 1 ended lost (attempt 1 of 2) but no retry",
                        "run 2 ended failed (attempt 1 of 2) but no retry")
        rows += [run_row("t", 3, 3, "w2", state="failed", reason="retry", attempt=2, sched=T0),
                 skip_row("t", 4, T0 + 1, error="run 3 of this task was already waiting "
                          "(overlap=skip)")]
        rows[3]["reason"], rows[3]["attempt"] = "retry", 2
        self.hist(rows, retries=1)
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("1 lost runs (1 retried, 0 followed by the next schedule), 2 retries owed",
                      out)

    def test_lost_run_not_owed_a_retry_must_be_followed(self):
        rows = self.ok_rows(3)
        rows[1]["state"] = "lost"
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertPass(rc, out)
        self.assertIn("1 lost runs (0 retried, 1 followed by the next schedule)", out)
        rows[2]["state"] = "lost"
        self.hist(rows)
        rc, out = self.lab.check()
        self.assertFail(rc, out, "d", "run 3 was lost and neither retried nor followed")


class TestRecordsAndInput(CheckerCase):
    def test_malformed_and_unmatched_records_fail(self):
        self.three_runs()
        self.lab.log("h3.log", "START task=t run=8", end("t", 9, 9, "w3", 30 * SEC),
                     "BOGUS x=1")
        with open(self.lab.logs[-1], "a") as fh:
            fh.write("START task=t run=7 token=7")  # cut short, no newline
        rc, out = self.lab.check()
        self.assertFail(rc, out, "records", "malformed record: missing", "END without a START",
                        "unknown record kind", "incomplete last line")

    def test_unusable_input_exits_2(self):
        self.three_runs()
        write(self.lab.hist, "{not json")
        rc, out = self.lab.check()
        self.assertEqual(rc, 2, out)
        self.three_runs()
        rc, out = self.lab.check("--intervals", "/nonexistent/log")
        self.assertEqual(rc, 2, out)


class TestSchedule(unittest.TestCase):
    """The checker's own schedule evaluation, including sched's DST rule
    (docs/schedules.md), and against `schedctl next` when BIN is set."""

    def fires(self, expr, tz, frm, n_s):
        lo = check.parse_time(frm)
        return [iso(t) for t in check.Schedule(expr, tz).fire_times(lo, lo + n_s)]

    def test_dst_gap_fires_once_at_its_end(self):
        self.assertEqual(self.fires("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 2 * 86400),
                         ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z"])

    def test_dst_repeat_fires_at_the_first_occurrence(self):
        self.assertEqual(self.fires("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 3 * 3600),
                         ["2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"])
        self.assertEqual(self.fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 86400),
                         ["2026-10-25T00:30:00Z"])

    def test_fields_macros_and_every(self):
        self.assertEqual(self.fires("every 15m", "UTC", "2026-01-01T00:05:00Z", 1800),
                         ["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"])
        self.assertEqual(self.fires("@daily", "UTC", "2026-01-01T00:00:00Z", 2 * 86400),
                         ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"])
        # day-of-month 1 OR Monday (both restricted); 2026-06-01 is a Monday
        self.assertEqual(self.fires("0 0 1 * mon", "UTC", "2026-05-28T00:00:00Z", 14 * 86400),
                         ["2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"])
        self.assertEqual(self.fires("10-40/15 9 * jan-feb 7", "UTC", "2026-01-03T00:00:00Z", 86400 * 2),
                         ["2026-01-04T09:10:00Z", "2026-01-04T09:25:00Z", "2026-01-04T09:40:00Z"])

    @unittest.skipUnless(os.environ.get("BIN"), "BIN not set (schedctl next)")
    def test_agrees_with_schedctl_next(self):
        # each crosses a DST change (Lord Howe shifts by 30 minutes)
        cases = [("*/7 1-3 * * *", "America/New_York", "2026-03-07T12:00:00Z", 40),
                 ("30 1 * * *", "America/New_York", "2026-10-30T12:00:00Z", 4),
                 ("0 2,3 * * *", "Europe/Berlin", "2026-03-27T00:00:00Z", 8),
                 ("15,45 * * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", 40),
                 ("15,45 * * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 40),
                 ("0 0 1,15 * fri", "Europe/Berlin", "2026-01-01T00:00:00Z", 12),
                 ("every 7m", "UTC", "2026-01-01T00:03:00Z", 12)]
        for expr, tz, frm, count in cases:
            res = subprocess.run([os.path.join(os.environ["BIN"], "schedctl"), "--json", "next",
                                  expr, "--tz", tz, "--from", frm, "--count", str(count)],
                                 capture_output=True, text=True, check=True)
            theirs = [x["utc"] for x in json.loads(res.stdout)]
            lo = check.parse_time(frm)
            ours = [iso(t) for t in check.Schedule(expr, tz).fire_times(
                lo, check.parse_time(theirs[-1]))]
            self.assertEqual(ours, theirs, f"{expr} in {tz} from {frm}")


@unittest.skipUnless(os.environ.get("SCHED_INTERVAL"), "SCHED_INTERVAL not set")
class TestSchedInterval(unittest.TestCase):
    """sched-interval as a real process."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.log = os.path.join(self.dir, "h.log")
        self.locks = os.path.join(self.dir, "locks")
        os.mkdir(self.locks)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            p.stderr.close()
        self._tmp.cleanup()

    def env(self, run, **kw):
        e = dict(os.environ, SCHED_TASK="job", SCHED_RUN_ID=str(run), SCHED_FENCE_TOKEN=str(run),
                 SCHED_ATTEMPT="1", SCHED_NODE="node one", SCHED_SCHEDULED_FOR="2026-01-01T00:00:00Z")
        e.update(kw)
        return e

    def spawn(self, run, *cmd, **kw):
        p = subprocess.Popen([os.environ["SCHED_INTERVAL"], self.log, self.locks, "--", *cmd],
                             env=self.env(run, **kw), stderr=subprocess.PIPE,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def run1(self, run, *cmd, **kw):
        p = self.spawn(run, *cmd, **kw)
        _, err = p.communicate(timeout=10)
        return p.returncode, err.decode()

    def records(self):
        if not os.path.exists(self.log):
            return []
        return [check.parse_line(x) for x in read(self.log).splitlines() if x.strip()]

    def wait_for(self, what, cond, secs=5):
        deadline = time.monotonic() + secs
        while not cond():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.01)

    def started(self, run):
        return any(k == "START" and f["run"] == str(run) for k, f in self.records())

    def lock_free(self):
        return check.lock_is_free(self.locks, "job", None)

    def test_records_and_exit_status(self):
        rc, _ = self.run1(1, "sh", "-c", "exit 3")
        self.assertEqual(rc, 3)
        (k1, s), (k2, e) = self.records()
        self.assertEqual((k1, k2), ("START", "END"))
        self.assertEqual((s["task"], s["run"], s["token"], s["node"], s["attempt"]),
                         ("job", "1", "1", "node one", "1"))
        self.assertEqual(s["sched_for"], "2026-01-01T00:00:00Z")
        self.assertEqual(e["status"], "exit:3")
        self.assertLessEqual(s["mono_ns"], e["mono_ns"])
        self.assertLessEqual(abs(s["mono_ns"] - time.monotonic_ns()), 10 * SEC)
        self.assertLessEqual(abs(s["real_ns"] - time.time_ns()), 10 * SEC)
        st = os.stat(os.path.join(self.locks, "job.lock"))
        self.assertEqual(s["lock"], f"{st.st_dev}:{st.st_ino}")
        rc, err = self.run1(2, "/nonexistent/cmd")
        self.assertEqual(rc, 127)
        self.assertIn("cannot execute", err)
        self.assertEqual(self.records()[-1][1]["status"], "exit:127")

    def test_concurrent_execution_is_a_violation(self):
        p = self.spawn(1, "sleep", "5")
        self.wait_for("START of run 1", lambda: self.started(1))
        rc, err = self.run1(2, "true")
        self.assertEqual(rc, 99)
        self.assertIn("VIOLATION", err)
        kinds = [k for k, _ in self.records()]
        self.assertEqual(kinds, ["START", "VIOLATION"])
        v = self.records()[1][1]
        self.assertEqual(v["run"], "2")
        self.assertIn(f"run=1 token=1 node=node one pid={p.pid}", v["holder"])
        p.terminate()  # SIGTERM is forwarded to the sleep
        self.assertEqual(p.wait(timeout=5), -signal.SIGTERM)
        self.assertEqual(self.records()[-1][1]["status"], "signal:15")

    def test_sigkill_leaves_no_end_and_the_child_keeps_the_lock(self):
        p = self.spawn(1, "sh", "-c", "sleep 0.7")
        self.wait_for("START of run 1", lambda: self.started(1))
        p.kill()  # only sched-interval: its child lives on, holding the lock
        p.wait(timeout=5)
        rc, _ = self.run1(2, "true")
        self.assertEqual(rc, 99, "the killed execution's child still runs: want a violation")
        self.wait_for("the orphaned child to end", self.lock_free)
        rc, _ = self.run1(3, "true")
        self.assertEqual(rc, 0)
        self.assertEqual([(k, f["run"]) for k, f in self.records()],
                         [("START", "1"), ("VIOLATION", "2"), ("START", "3"), ("END", "3")])
        # the checker bounds run 1 by run 3's START and reports the violation
        hist = os.path.join(self.dir, "hist.json")
        write(hist, json.dumps({"job": [run_row("job", r, r, "node one", state="failed")
                                        for r in (1, 2, 3)]}))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check.main(["--history", hist, "--intervals", self.log, "--lockdir", self.locks])
        self.assertEqual(rc, 1, out.getvalue())
        self.assertIn("FAIL (a)", out.getvalue())
        self.assertIn("1 without END (1 bounded by the next START", out.getvalue())

    @unittest.skipUnless(os.path.exists(FAKETIME_LIB), "libfaketime not installed")
    def test_clocks_are_true_under_libfaketime(self):
        out = os.path.join(self.dir, "date")
        rc, _ = self.run1(1, "sh", "-c", f"date +%s > {out}", LD_PRELOAD=FAKETIME_LIB,
                          FAKETIME="@2000-01-01 00:00:00",
                          ASAN_OPTIONS="verify_asan_link_order=0")  # make sanitize
        self.assertEqual(rc, 0)
        self.assertLess(int(read(out)), 1_000_000_000, "CMD should see the faked clock")
        s = self.records()[0][1]
        self.assertLessEqual(abs(s["real_ns"] - time.time_ns()), 10 * SEC)
        self.assertLessEqual(abs(s["mono_ns"] - time.monotonic_ns()), 10 * SEC)

    def test_usage_errors(self):
        rc, err = self.run1(1, "true", SCHED_TASK="../escape")
        self.assertEqual(rc, 2)
        self.assertIn("not a valid task name", err)
        p = subprocess.run([os.environ["SCHED_INTERVAL"], self.log, self.locks, "true"],
                           capture_output=True, env=self.env(1), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertFalse(os.path.exists(self.log))


if __name__ == "__main__":
    unittest.main()
