#!/bin/bash
# What workerd does with a run, end to end with real processes on loopback:
#  (a) the task environment of DESIGN.md (SCHED_TASK, SCHED_RUN_ID,
#      SCHED_FENCE_TOKEN, SCHED_ATTEMPT, SCHED_SCHEDULED_FOR in RFC 3339 UTC,
#      SCHED_NODE, SCHED_CHECKPOINT_FILE), checked against the history,
#      for a first attempt and for its retry;
#  (b) timeout: the whole process group is stopped (SIGTERM), a task that
#      ignores SIGTERM is SIGKILLed after the kill grace; both end timed_out
#      and no process of theirs survives;
#  (c) output: stdout and stderr in the per-run log under log_dir; with
#      log_cap = 10K a chatty task leaves a capped log and its tail in
#      `schedctl logs`;
#  (d) exit code and retries: `exit 3`, retries = 2, retry_backoff = 1s gives
#      exactly three failed runs (manual, retry, retry; attempts 1, 2, 3);
#  (e) slots: one worker with one slot never runs two tasks at once; two
#      such workers run them in parallel on different nodes;
#  (f) labels: a task needing zone=b waits while only other workers are up,
#      then runs only on the worker started with --labels zone=b.
#
# Workers: w1 (role=main, the worker of a-d), w2 and w3 (pool=s, one slot
# each, for e), w4 (zone=b, for f).  Each part's tasks carry labels that
# pin them to their workers, so the parts cannot disturb each other.
. "$(dirname "$0")/lib.sh"

unique_sleeps

KILL_GRACE=3s
write_config
NEVER='0 0 1 1 *' # far away: only `schedctl run` starts these tasks
cat >"$T/tasks/runs.conf" <<CONF
[task envt]
command = env | grep '^SCHED_' > $T/env.\$SCHED_ATTEMPT; echo "ckpt \$SCHED_RUN_ID" > "\$SCHED_CHECKPOINT_FILE" || exit 9; [ "\$SCHED_ATTEMPT" -ge 2 ]
schedule = $NEVER
retries = 1
retry_backoff = 1s
labels = role=main

[task to-group]
command = sh -c 'sleep 61.${U}1 & sleep 61.${U}2'
schedule = $NEVER
timeout = 2s
labels = role=main

[task to-noterm]
command = trap '' TERM; sleep 62.${U}5
schedule = $NEVER
timeout = 2s
labels = role=main

[task hello]
command = echo "hello-out-$U"; echo "hello-err-$U" >&2
schedule = $NEVER
labels = role=main

[task chatty]
command = echo first-line-marker; seq 1 50000; echo last-line-marker
schedule = $NEVER
labels = role=main

[task fail3]
command = date +%s.%N >> $T/fail3.times; exit 3
schedule = $NEVER
retries = 2
retry_backoff = 1s
retry_backoff_max = 1s
labels = role=main

[task slot-a]
command = echo "start \$SCHED_TASK \$SCHED_NODE \$(date +%s.%N)" >> $T/slots; sleep 3; echo "end \$SCHED_TASK \$SCHED_NODE \$(date +%s.%N)" >> $T/slots
schedule = $NEVER
labels = pool=s

[task slot-b]
command = echo "start \$SCHED_TASK \$SCHED_NODE \$(date +%s.%N)" >> $T/slots; sleep 3; echo "end \$SCHED_TASK \$SCHED_NODE \$(date +%s.%N)" >> $T/slots
schedule = $NEVER
labels = pool=s

[task zoned]
command = echo "\$SCHED_NODE" >> $T/zoned.nodes
schedule = $NEVER
labels = zone=b
CONF

start_schedd
start_worker 1 --slots 8 --labels role=main --set worker.log_cap=10K
start_worker 2 --slots 1 --labels pool=s
wait_for 10 "w1 and w2 alive" workers_alive 2

# ---- (a) task environment ----------------------------------------------
t_before=$(date -u +%s)
r=$(trigger envt) || fail "schedctl run envt"
wait_for 15 "envt: first attempt failed and its retry succeeded" \
	eval "[ -s $T/env.2 ] && ctl --json history envt | json 'len(j)==2 and j[0][\"state\"]==\"succeeded\" and j[1][\"state\"]==\"failed\"' | grep -qx True"
ctl --json history envt >"$T/envt.json" || fail "history envt"
python3 - "$T" "$r" "$t_before" <<'PY' || fail "task environment (a)"
import json, os, re, sys, calendar, time
T, first_id, t_before = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hist = sorted(json.load(open(f"{T}/envt.json")), key=lambda r: r["attempt"])
if [r["attempt"] for r in hist] != [1, 2]:
    sys.exit(f"attempts {[r['attempt'] for r in hist]}, want [1, 2]")
if hist[0]["run_id"] != first_id:
    sys.exit(f"first attempt is run {hist[0]['run_id']}, schedctl run said {first_id}")
names = ["SCHED_TASK", "SCHED_RUN_ID", "SCHED_FENCE_TOKEN", "SCHED_ATTEMPT",
         "SCHED_SCHEDULED_FOR", "SCHED_NODE", "SCHED_CHECKPOINT_FILE"]
for r in hist:
    env = dict(l.rstrip("\n").split("=", 1) for l in open(f"{T}/env.{r['attempt']}"))
    for n in names:
        if n not in env:
            sys.exit(f"attempt {r['attempt']}: {n} missing from the task environment: {env}")
    want = {"SCHED_TASK": "envt", "SCHED_RUN_ID": str(r["run_id"]),
            "SCHED_FENCE_TOKEN": str(r["token"]), "SCHED_ATTEMPT": str(r["attempt"]),
            "SCHED_NODE": "w1", "SCHED_SCHEDULED_FOR": r["scheduled_for"]}
    for k, v in want.items():
        if env[k] != v:
            sys.exit(f"attempt {r['attempt']}: {k}={env[k]!r}, want {v!r}")
    sf = env["SCHED_SCHEDULED_FOR"]
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sf):
        sys.exit(f"SCHED_SCHEDULED_FOR={sf!r} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    t = calendar.timegm(time.strptime(sf, "%Y-%m-%dT%H:%M:%SZ"))
    if not t_before - 1 <= t <= time.time() + 1:
        sys.exit(f"SCHED_SCHEDULED_FOR={sf} is not the time of the manual run")
    ck = env["SCHED_CHECKPOINT_FILE"]
    if not os.path.isabs(ck):
        sys.exit(f"SCHED_CHECKPOINT_FILE={ck!r} is not an absolute path")
    if not os.path.exists(ck):
        sys.exit(f"checkpoint file {ck} of attempt {r['attempt']} could not be written")
    if r is hist[-1] and open(ck).read().split() != ["ckpt", str(r["run_id"])]:
        sys.exit(f"checkpoint file {ck} was not written by the last run")
if hist[1]["token"] <= hist[0]["token"]:
    sys.exit(f"retry token {hist[1]['token']} not above {hist[0]['token']}")
if hist[1]["scheduled_for"] != hist[0]["scheduled_for"]:
    sys.exit("the retry changed SCHED_SCHEDULED_FOR")
print("ok: task environment of both attempts matches the history")
PY

# ---- (b) timeouts -------------------------------------------------------
G1="sleep 61\.${U}1([^0-9]|$)"
G2="sleep 61\.${U}2([^0-9]|$)"
NT="sleep 62\.${U}5([^0-9]|$)"
rg=$(trigger to-group) || fail "schedctl run to-group"
rn=$(trigger to-noterm) || fail "schedctl run to-noterm"
t0=$(date +%s.%N)
wait_for 2 "to-group's two sleeps running" eval 'procs "$G1" && procs "$G2"'
wait_for 2 "to-noterm's sleep running" procs "$NT"
pass "timeout tasks running (pgrep sees them)"
# to-noterm: SIGTERM at ~2 s is ignored; SIGKILL comes at ~2 s + kill_grace
# (3 s).  At 3 s it must still be there.
python3 -c "import time; time.sleep(max(0, $t0 + 3.0 - time.time()))"
procs "$NT" || fail "to-noterm's sleep died before the kill grace ended (SIGTERM is ignored by it)"
run_in "$rn" running || fail "to-noterm ended before the kill grace: $(field "$rn" state)"
wait_for 6 "to-group ends" run_in "$rg" timed_out failed succeeded cancelled lost
[ "$(field "$rg" state)" = timed_out ] || fail "to-group ended $(field "$rg" state), want timed_out"
no_procs "$G1" || fail "to-group: 'sleep 61.${U}1' (background) survived the timeout"
no_procs "$G2" || fail "to-group: 'sleep 61.${U}2' survived the timeout"
pass "to-group timed out; neither sleep survived"
wait_for 6 "to-noterm ends" run_in "$rn" timed_out failed succeeded cancelled lost
[ "$(field "$rn" state)" = timed_out ] || fail "to-noterm ended $(field "$rn" state), want timed_out"
[ "$(field "$rn" signal)" = 9 ] || fail "to-noterm: signal $(field "$rn" signal), want 9 (SIGKILL)"
no_procs "$NT" || fail "to-noterm: its sleep survived SIGKILL"
# timeout 2s + kill_grace 3s: ~5 s from start to end (times are whole seconds).
took=$(ctl --json logs "$rn" | json 'int(__import__("calendar").timegm(__import__("time").strptime(j["finished_at"], "%Y-%m-%dT%H:%M:%SZ")) - __import__("calendar").timegm(__import__("time").strptime(j["started_at"], "%Y-%m-%dT%H:%M:%SZ")))')
[ "$took" -ge 4 ] && [ "$took" -le 7 ] || fail "to-noterm ran ${took}s, want ~5 (timeout 2s + kill grace 3s)"
pass "to-noterm ignored SIGTERM, was SIGKILLed after the grace, ended timed_out"

# ---- (c) output ---------------------------------------------------------
rh=$(trigger hello) || fail "schedctl run hello"
wait_for 10 "hello succeeded" run_in "$rh" succeeded
lp=$(field "$rh" log_path)
case "$lp" in "$T/logs/"*) ;; *) fail "hello's log '$lp' is not under log_dir $T/logs" ;; esac
[ -f "$lp" ] || fail "hello's log $lp does not exist"
grep -qx "hello-out-$U" "$lp" || fail "stdout not in $lp: $(head -c 300 "$lp")"
grep -qx "hello-err-$U" "$lp" || fail "stderr not in $lp: $(head -c 300 "$lp")"
ctl logs "$rh" | grep -q "hello-out-$U" || fail "schedctl logs $rh lacks the output"
pass "per-run log holds stdout and stderr"

rc=$(trigger chatty) || fail "schedctl run chatty"
wait_for 15 "chatty succeeded" run_in "$rc" succeeded
lp=$(field "$rc" log_path)
[ -f "$lp" ] || fail "chatty's log $lp does not exist"
size=$(stat -c %s "$lp")
# ~290 KB of output; 10K cap plus at most a one-line truncation note.
[ "$size" -ge 10240 ] && [ "$size" -le 10500 ] || fail "chatty's log is $size bytes, want the 10K cap"
head -n 1 "$lp" | grep -qx first-line-marker || fail "capped log does not start with the output"
grep -q last-line-marker "$lp" && fail "capped log holds the end of the output"
ctl logs "$rc" >"$T/chatty.tail" || fail "schedctl logs $rc"
grep -qx last-line-marker "$T/chatty.tail" || fail "schedctl logs has no tail: $(tail -n 5 "$T/chatty.tail")"
grep -qx 50000 "$T/chatty.tail" || fail "tail lacks the last numbers"
tailtxt=$(field "$rc" output_tail)
case "$tailtxt" in *first-line-marker*) fail "output_tail is not a tail" ;; esac
case "$tailtxt" in *last-line-marker*) ;; *) fail "--json logs output_tail lacks the end" ;; esac
pass "chatty: log capped at $size bytes, tail in schedctl logs"

# ---- (d) exit code and retries -----------------------------------------
rf=$(trigger fail3) || fail "schedctl run fail3"
wait_for 20 "three runs of fail3 ended" eval \
	"ctl --json history fail3 | json 'len(j)>=3 and all(r[\"state\"] in (\"failed\",\"succeeded\",\"timed_out\",\"cancelled\",\"lost\") for r in j)' | grep -qx True"
sleep 2.5 # a fourth attempt would have come by now (backoff at most 1s)
ctl --json history fail3 >"$T/fail3.json" || fail "history fail3"
python3 - "$T" "$rf" <<'PY' || fail "retries (d)"
import json, sys
T, first = sys.argv[1], int(sys.argv[2])
h = sorted(json.load(open(f"{T}/fail3.json")), key=lambda r: r["run_id"])
if len(h) != 3:
    sys.exit(f"{len(h)} runs of fail3, want 3 (1 + retries=2): {h}")
if h[0]["run_id"] != first:
    sys.exit("the first run is not the manual one")
got = [(r["reason"], r["attempt"], r["state"], r["exit_code"]) for r in h]
want = [("manual", 1, "failed", 3), ("retry", 2, "failed", 3), ("retry", 3, "failed", 3)]
if got != want:
    sys.exit(f"runs {got}, want {want}")
toks = [r["token"] for r in h]
if toks != sorted(set(toks)):
    sys.exit(f"tokens {toks} not strictly increasing")
times = [float(x) for x in open(f"{T}/fail3.times").read().split()]
if len(times) != 3:
    sys.exit(f"the command ran {len(times)} times, want 3")
gaps = [b - a for a, b in zip(times, times[1:])]
# Equal jitter (docs/schedules.md "Retries"): with the cap at 1s every
# retry waits at least half of retry_backoff.
if min(gaps) < 0.45:
    sys.exit(f"retries came {gaps} s apart, want >= 0.5 s (backoff 1s, capped, equal jitter)")
print(f"ok: fail3: 3 runs {[(g[0], g[1]) for g in got]}, exit 3, {['%.1fs' % g for g in gaps]} apart")
PY

# ---- (e) slots ------------------------------------------------------------
# w2 alone carries pool=s and has one slot: the two tasks take turns.
ra=$(trigger slot-a) || fail "schedctl run slot-a"
rb=$(trigger slot-b) || fail "schedctl run slot-b"
wait_for 5 "one slot task running" eval "run_in $ra running || run_in $rb running"
sleep 0.5
ctl --json status >"$T/slots-status.json" || fail "status"
python3 - "$T/slots-status.json" "$ra" "$rb" <<'PY' || fail "slots (e): status while one runs"
import json, sys
j = json.load(open(sys.argv[1]))
runs = {r["run_id"]: r for r in j["runs"]}
mine = [runs.get(int(x)) for x in sys.argv[2:]]
if None in mine:
    sys.exit(f"both slot runs should be unfinished: {j['runs']}")
act = [r for r in mine if r["state"] in ("dispatched", "running")]
if len(act) != 1 or act[0]["node"] != "w2":
    sys.exit(f"want exactly one active slot run, on w2: {mine}")
w2 = [w for w in j["workers"] if w["name"] == "w2"][0]
if w2["active_runs"] != 1:
    sys.exit(f"w2 has {w2['active_runs']} active runs with one slot")
PY
wait_for 15 "both slot runs succeeded" eval "run_in $ra succeeded && run_in $rb succeeded"
mv "$T/slots" "$T/slots.1"
[ "$(field "$ra" node)" = w2 ] && [ "$(field "$rb" node)" = w2 ] || fail "slot runs not on w2"

start_worker 3 --slots 1 --labels pool=s,zone=a
wait_for 10 "w3 alive" workers_alive 3
ra2=$(trigger slot-a) || fail "schedctl run slot-a"
rb2=$(trigger slot-b) || fail "schedctl run slot-b"
wait_for 10 "both slot runs succeeded again" eval "run_in $ra2 succeeded && run_in $rb2 succeeded"
python3 - "$T/slots.1" "$T/slots" <<'PY' || fail "slots (e)"
import sys
def load(p):
    iv = {}
    for line in open(p):
        kind, task, node, t = line.split()
        iv.setdefault(task, {})[kind] = float(t)
        iv[task]["node"] = node
    if sorted(iv) != ["slot-a", "slot-b"] or any(len(v) != 3 for v in iv.values()):
        sys.exit(f"{p}: incomplete intervals {iv}")
    return iv["slot-a"], iv["slot-b"]
a, b = load(sys.argv[1])
if a["node"] != "w2" or b["node"] != "w2":
    sys.exit(f"one slot: nodes {a['node']}, {b['node']}, want w2 for both")
if a["start"] < b["end"] and b["start"] < a["end"]:
    sys.exit(f"one slot, yet both ran at once: {a} {b}")
a, b = load(sys.argv[2])
if {a["node"], b["node"]} != {"w2", "w3"}:
    sys.exit(f"two 1-slot workers: nodes {a['node']}, {b['node']}, want w2 and w3")
if not (a["start"] < b["end"] and b["start"] < a["end"]):
    sys.exit(f"two 1-slot workers, yet the runs did not overlap: {a} {b}")
print("ok: one slot runs them in turn; two 1-slot workers run them in parallel")
PY

# ---- (f) labels -----------------------------------------------------------
# w1 (role=main), w2 (pool=s) and w3 (pool=s,zone=a) are idle; none carries
# zone=b, so the run must wait.
rz=$(trigger zoned) || fail "schedctl run zoned"
sleep 2
run_in "$rz" pending || fail "zoned ran without a zone=b worker: $(field "$rz" state) on $(field "$rz" node)"
[ -e "$T/zoned.nodes" ] && fail "zoned executed on $(cat "$T/zoned.nodes") without a zone=b worker"
pass "zoned waits while no worker carries zone=b"
start_worker 4 --slots 4 --labels zone=b
wait_for 10 "zoned ran on w4" run_in "$rz" succeeded
for _ in 1 2; do
	r=$(trigger zoned) || fail "schedctl run zoned"
	wait_for 10 "zoned run $r succeeded" run_in "$r" succeeded
done
[ "$(ctl --json history zoned | json 'sorted(set(r["node"] for r in j))')" = "['w4']" ] ||
	fail "zoned ran on $(ctl --json history zoned | json '[r["node"] for r in j]'), want only w4"
[ "$(sort -u "$T/zoned.nodes")" = w4 ] && [ "$(wc -l <"$T/zoned.nodes")" -eq 3 ] ||
	fail "SCHED_NODE of zoned runs: $(tr '\n' ' ' <"$T/zoned.nodes")"
pass "zoned (labels = zone=b) ran 3 times, only on w4"
