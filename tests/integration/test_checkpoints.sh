#!/bin/bash
# Checkpoints and resume with real processes (issue 5): schedd and three
# workers on loopback, each with its own log_dir (so each has its own
# checkpoint files), the fence hook fence-local-worker behind a wrapper
# that can be told to fail.  Tasks run ck.sh, which records the checkpoint
# it starts with (how many lines) and appends lines to it, atomically.
#  (a) resume: a run appends 3 lines; the next run starts with them and
#      appends 3 more; `schedctl checkpoint` shows them; --clear clears it
#      (an event), and the run after starts without one;
#  (b) SIGKILL of the workerd running a task: fenced by the hook, the run
#      is lost, its retry starts on another worker with the last
#      checkpoint the killed run shipped;
#  (c) stale token: a worker is SIGSTOPped while its task writes on, the
#      operator confirms its fence, the retry runs elsewhere and stores its
#      own checkpoints; on SIGCONT the paused worker ships what its task
#      wrote with the old token: refused (logged, counted, an event), the
#      stored checkpoint stays the retry's;
#  (d) a 20 KiB binary checkpoint (20 chunks) round-trips intact: through
#      `checkpoint --out`, and to the next run on another worker;
#  (e) caps: over worker.checkpoint_max it is not shipped, over
#      scheduler.checkpoint_max it is refused; the run's error says so and
#      the stored checkpoint is unchanged;
#  (f) overlap = queue: a run queued behind the running one holds a newer
#      token, yet the running run's checkpoints (its final one too) are
#      stored, and the queued run starts with them.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

write_config
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$(date +%s.%N) \$*" >> $T/hook.calls
if [ -f $T/hook-fail ]; then echo "power switch unreachable"; exit 1; fi
exec $ROOT/fence/fence-local-worker "\$@"
HOOK
chmod +x "$T/hook"
export SCHED_FENCE_CLUSTER="$T/" SCHED_FENCE_TIMEOUT=5

# ck.sh NAME STEPS PAUSE: note "RUN NODE TOKEN LINES" of the checkpoint
# this run starts with, then append STEPS lines, one every PAUSE seconds.
cat >"$T/ck.sh" <<'SH'
#!/bin/sh
f=$SCHED_CHECKPOINT_FILE
n=0
[ -f "$f" ] && n=$(wc -l <"$f")
echo "$SCHED_RUN_ID $SCHED_NODE $SCHED_FENCE_TOKEN $n" >>"$CK_DIR/$1.seen"
i=0
while [ "$i" -lt "$2" ]; do
	n=$((n + 1))
	i=$((i + 1))
	{ [ -f "$f" ] && cat "$f"; echo "step $n run $SCHED_RUN_ID"; } >"$f.tmp" && mv "$f.tmp" "$f"
	sleep "$3"
done
SH
# bin.sh NAME BYTES: note the sha256 of the checkpoint this run starts with
# (or "none"), then write BYTES random bytes as the checkpoint.
cat >"$T/bin.sh" <<'SH'
#!/bin/sh
f=$SCHED_CHECKPOINT_FILE
if [ -f "$f" ]; then sha256sum <"$f" | cut -d' ' -f1; else echo none; fi >>"$CK_DIR/$1.seen"
head -c "$2" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
sha256sum <"$f" | cut -d' ' -f1 >>"$CK_DIR/$1.wrote"
SH
chmod +x "$T/ck.sh" "$T/bin.sh"
export CK_DIR="$T"

task() { # NAME COMMAND [KEY=VALUE...]
	local name=$1 cmd=$2 overlap=skip
	shift 2
	for kv in "$@"; do [ "${kv%%=*}" = overlap ] && overlap=${kv#*=}; done
	{
		printf '[task %s]\ncommand = %s\nschedule = @yearly\noverlap = %s\ncatch_up = none\n' \
			"$name" "$cmd" "$overlap"
		for kv in "$@"; do
			[ "${kv%%=*}" = overlap ] || printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
		done
		echo
	} >>"$T/tasks/t.conf"
}
task p "$T/ck.sh p 3 0.1"
task k "$T/ck.sh k 1000 0.3" retries=2 retry_backoff=1s
task s "$T/ck.sh s 1000 0.3" retries=1 retry_backoff=1s
task big "$T/bin.sh big 20480"
task huge "$T/bin.sh huge 102400"
task mid "$T/bin.sh mid 40960"
task q "$T/ck.sh q 8 0.25" overlap=queue

start_schedd --fence-hook "$T/hook" --set scheduler.fence_backoff_max=2s \
	--set scheduler.checkpoint_max=32KiB
for n in 1 2 3; do start_worker "$n" --log-dir "$T/logs/w$n"; done
wait_for 20 "three workers alive" workers_alive 3

pid_of() { eval "echo \$W${1#w}_PID"; }
node_of() { field "$1" node; }
# ck TASK PYEXPR: the expression over j (checkpoint TASK --json) is true.
ck() { ctl --json checkpoint "$1" >"$T/ck.json" && jtrue "$T/ck.json" "$2" "checkpoint $1"; }
ck_is() { ctl --json checkpoint "$1" >"$T/ck.json" 2>/dev/null &&
	python3 -c "import json,sys; j=json.load(open('$T/ck.json')); sys.exit(0 if ($2) else 1)"; }
seen_of() { awk -v r="$2" '$1 == r { print $4 }' "$T/$1.seen"; }
lines() { [ "${1:-}" ] && printf '%s' "$1" | grep -c "^step " || echo 0; }
stored_text() { ctl --json checkpoint "$1" | json 'j["text"] or ""'; }
finished() { wait_for 20 "run $1 ended" run_in "$1" succeeded failed cancelled timed_out lost; }

# ---- (a) a run appends progress, the next one resumes from it ----------------
want 0 ctl checkpoint p
grep -q "no checkpoint stored for p" "$T/out" || fail "checkpoint p before any run: $(cat "$T/out")"
r1=$(trigger p) || fail "run p"
finished "$r1"
run_in "$r1" succeeded || fail "p run $r1: $(field "$r1" state) $(field "$r1" error)"
[ "$(seen_of p "$r1")" = 0 ] || fail "the first run of p started with a checkpoint: $(cat "$T/p.seen")"
ck p "j['stored'] and j['run_id'] == $r1 and j['text'].count('step ') == 3"
want 0 ctl checkpoint p
grep -q "step 3 run $r1" "$T/out" || fail "checkpoint p does not show the content: $(cat "$T/out")"
r2=$(trigger p) || fail "run p again"
finished "$r2"
[ "$(seen_of p "$r2")" = 3 ] || fail "run $r2 did not start with the 3 lines of run $r1: $(cat "$T/p.seen")"
ck p "j['run_id'] == $r2 and j['text'].count('step ') == 6 and 'step 6 run $r2' in j['text'] and 'step 1 run $r1' in j['text']"
want 0 ctl checkpoint p --clear
want 0 ctl --json checkpoint p
jtrue "$T/out" "not j['stored'] and any(e['kind'] == 'checkpoint_clear' for e in j['events'])" "cleared, with an event"
r3=$(trigger p) || fail "run p a third time"
finished "$r3"
[ "$(seen_of p "$r3")" = 0 ] || fail "run $r3 started with a checkpoint after --clear: $(cat "$T/p.seen")"
want 1 ctl checkpoint nosuchtask
want 2 ctl checkpoint
pass "(a) runs $r1 -> $r2 resumed from the checkpoint (3 lines, then 6); --clear: run $r3 started without"

# ---- (b) SIGKILL of the worker, fence, retry resumes elsewhere ---------------
rk=$(trigger k) || fail "run k"
wait_for 10 "k running" run_in "$rk" running
vk=$(node_of "$rk")
tok_k=$(field "$rk" token)
wait_for 20 "k's checkpoint shipped with 3 lines" ck_is k "j['stored'] and j['text'].count('step ') >= 3"
kill -KILL "$(pid_of "$vk")"
wait_for 30 "run $rk lost" run_in "$rk" lost
wait_for 20 "k retried" sh -c "[ \"\$(awk '\$1 != $rk' $T/k.seen | wc -l)\" -ge 1 ]"
read -r rk2 node2 tok2 saw2 < <(awk -v r="$rk" '$1 != r' "$T/k.seen" | head -1)
[ "$node2" != "$vk" ] || fail "the retry ran on the killed worker $vk"
[ "$tok2" -gt "$tok_k" ] || fail "the retry's token $tok2 is not above $tok_k"
# The last checkpoint stored from the killed run (its size in schedd's log)
# is the one the retry must start with: that many lines.
last=$(grep "checkpoint of k (.* stored from run $rk on $vk" "$T/schedd.log" | tail -1 | sed 's/.*(\([0-9]*\) bytes.*/\1/')
want_bytes=$(python3 -c "print(sum(len('step %d run $rk\n' % i) for i in range(1, $saw2 + 1)))")
[ "$saw2" -ge 3 ] && [ "$last" = "$want_bytes" ] ||
	fail "retry $rk2 started with $saw2 lines ($want_bytes bytes); the last checkpoint $rk shipped had $last bytes"
n_stored=$saw2
wait_for 20 "the retry's own checkpoint stored" ck_is k "j['run_id'] == $rk2 and j['text'].count('step ') > $n_stored"
grep -q "fetching its checkpoint" "$T/$node2.log" || fail "$node2 did not fetch the checkpoint"
want 0 ctl cancel "$rk2"
finished "$rk2"
pass "(b) SIGKILL of $vk: run $rk lost, retry $rk2 on $node2 (token $tok2) resumed from its $n_stored lines"
start_worker "${vk#w}" --log-dir "$T/logs/$vk"
wait_for 20 "three workers alive again" workers_alive 3

# ---- (c) a stale token's checkpoint is refused ----------------------------------
touch "$T/hook-fail"
rs=$(trigger s) || fail "run s"
wait_for 10 "s running" run_in "$rs" running
vs=$(node_of "$rs")
wait_for 20 "s's checkpoint shipped" ck_is s "j['stored'] and j['run_id'] == $rs and j['text'].count('step ') >= 2"
kill -STOP "$(pid_of "$vs")"
wait_for 30 "run $rs fencing" run_in "$rs" fencing
want 0 ctl fence confirm "$vs" # the operator is wrong on purpose: the task goes on there
run_in "$rs" lost || fail "run $rs not lost after the confirmation"
wait_for 20 "s retried elsewhere" sh -c "[ \"\$(awk '\$1 != $rs' $T/s.seen | wc -l)\" -ge 1 ]"
read -r rs2 node_s2 _ saw_s2 < <(awk -v r="$rs" '$1 != r' "$T/s.seen" | head -1)
wait_for 20 "the retry's checkpoint stored" ck_is s "j['run_id'] == $rs2 and j['text'].count('step ') > $saw_s2"
sleep 1 # the paused worker's task writes on meanwhile
rm -f "$T/hook-fail"
kill -CONT "$(pid_of "$vs")"
wait_for 20 "the paused worker's checkpoint refused" grep -q "run $rs of s: checkpoint .* refused by the scheduler" "$T/$vs.log"
ck s "j['run_id'] == $rs2 and 'run $rs2' in j['text'].splitlines()[-1] and j['counters']['refused_stale'] >= 1"
jtrue "$T/ck.json" "any(e['kind'] == 'checkpoint_stale' and e['run_id'] == $rs and e['node'] == '$vs' for e in j['events'])" "the refusal is an event of the task"
grep -q "checkpoint of run $rs from $vs (token .*) refused" "$T/schedd.log" || fail "the refusal is not logged"
wait_for 20 "the paused worker stopped its run" sh -c "! grep -q 'run $rs of s' $T/$vs.log || grep -q 'run $rs of s ended' $T/$vs.log"
want 0 ctl cancel "$rs2"
finished "$rs2"
pass "(c) $vs paused and fenced: its checkpoint with the old token was refused; the stored one is retry $rs2's"

# ---- (d) 20 KiB of binary round-trips ---------------------------------------------
rb=$(trigger big) || fail "run big"
finished "$rb"
run_in "$rb" succeeded || fail "big: $(field "$rb" error)"
vb=$(node_of "$rb")
ck big "j['stored'] and j['size'] == 20480 and j['text'] is None and j['run_id'] == $rb"
want 0 ctl checkpoint big --out "$T/big.out"
[ "$(sha256sum <"$T/big.out" | cut -d' ' -f1)" = "$(tail -1 "$T/big.wrote")" ] ||
	fail "checkpoint --out differs from what the task wrote"
want 0 ctl drain "$vb" # the next run goes to another worker: it must fetch it
rb2=$(trigger big) || fail "run big again"
finished "$rb2"
[ "$(node_of "$rb2")" != "$vb" ] || fail "big ran on drained $vb"
[ "$(sed -n 2p "$T/big.seen")" = "$(sed -n 1p "$T/big.wrote")" ] ||
	fail "run $rb2 did not start with the 20 KiB run $rb wrote"
want 0 ctl undrain "$vb"
pass "(d) 20 KiB checkpoint of run $rb: --out intact, run $rb2 on $(node_of "$rb2") started with it"

# ---- (e) over the caps: not shipped / refused, and said so ---------------------
rh=$(trigger huge) || fail "run huge"
finished "$rh"
run_in "$rh" succeeded || fail "huge: $(field "$rh" state)"
field "$rh" error | grep -q "checkpoint of 102400 bytes over worker.checkpoint_max (65536); not shipped" ||
	fail "huge's error does not say it was not shipped: $(field "$rh" error)"
ck huge "not j['stored']"
grep -q "checkpoint of 102400 bytes is over worker.checkpoint_max" "$T"/w*.log || fail "no worker log line"
rm_=$(trigger mid) || fail "run mid"
finished "$rm_"
run_in "$rm_" succeeded || fail "mid: $(field "$rm_" state)"
field "$rm_" error | grep -q "checkpoint refused by the scheduler: over scheduler.checkpoint_max" ||
	fail "mid's error does not say the scheduler refused it: $(field "$rm_" error)"
ck mid "not j['stored'] and j['counters']['refused_too_big'] == 1 and any(e['kind'] == 'checkpoint_too_big' and e['run_id'] == $rm_ for e in j['events'])"
pass "(e) over worker.checkpoint_max: not shipped; over scheduler.checkpoint_max: refused; both in the run's error"

# ---- (f) a queued run's newer token does not make the running run stale -------
rq1=$(trigger q) || fail "run q"
wait_for 10 "q running" run_in "$rq1" running
rq2=$(trigger q) || fail "queue a second run of q"
run_in "$rq2" pending || fail "the second run of q is not queued: $(field "$rq2" state)"
[ "$(field "$rq2" token)" -gt "$(field "$rq1" token)" ] || fail "the queued run's token is not newer"
finished "$rq1"
wait_for 20 "the queued run ended" run_in "$rq2" succeeded failed
[ "$(seen_of q "$rq2")" = 8 ] || fail "queued run $rq2 did not start with the 8 lines of run $rq1: $(cat "$T/q.seen")"
! grep -q "checkpoint of run $rq1 .* refused" "$T/schedd.log" || fail "run $rq1's checkpoint was refused"
ck q "j['run_id'] == $rq2 and j['text'].count('step ') == 16"
pass "(f) overlap=queue: run $rq1's checkpoints stored while $rq2 waited with a newer token; $rq2 resumed from 8 lines"
