/*
 * sched.pml - Promela model of sched's dispatch / lease / fence /
 * reassignment protocol.  The state machine it encodes is described in
 * docs/protocol.md ("The protocol as a state machine"); the safety argument
 * it checks is DESIGN.md's.  tests/model/check.sh runs spin on it;
 * tests/model/README.md explains how to read and run it.
 *
 * One scheduler with a durable store, two workers with durable stores, one
 * task.  The network loses, duplicates and reorders datagrams; workerd
 * crashes, pauses, gets cut off; the scheduler restarts; gossip declares a
 * node dead when it is out of reach (or, as a fault, when it is not); the
 * fence hook fails or confirms; a node declared dead that shows up again
 * as the same life, or restarted on its own store, gets its fence called
 * off (its runs go back to where they were; a restarted one reports them
 * ended).
 *
 * Properties (all asserts, so one search checks them together):
 *   SAFETY    at every process start: no other process of the task is
 *             executing anywhere (nexec <= 1), and the starting run holds
 *             the newest token of the task.
 *   ENDS      in Timer, at every quiescent state where nothing is left to
 *             retransmit: no run is dispatched, running or fencing (every
 *             run ended, or was fenced and is lost), and no process of the
 *             task executes.
 *   PROGRESS  (pan -l, built with -DNO_HEARTBEAT) no cycle at all: a loop
 *             of retransmissions that never gets an answer would be one.
 *
 * Build switches (spin -DNAME -a sched.pml):
 *   SKIP_FENCE_CHECK  the bug the checker must catch: when a node is
 *                     declared dead its runs become `lost` at once and the
 *                     task is dispatched again, without waiting for the
 *                     fence hook to confirm the node is isolated.
 *   NO_HEARTBEAT      no heartbeat / lease messages (for the PROGRESS
 *                     search, where a task that runs for ever while its
 *                     lease is renewed would be a cycle that is no bug).
 *   NO_TOKEN_ASSERT   leave out the newest-token assertion (check.sh
 *                     --broken uses it so that its trail ends on the
 *                     double execution itself).
 *   KEEP_INFLIGHT     exploration only: datagrams already on their way to a
 *                     node survive its fence and reach it after it rejoins
 *                     (see README.md: safety then depends on the freshness
 *                     bound, which the model has no clock for).
 *   FAULTS            faults of any kind in one execution (default 3).
 *   MAXRUNS, MAXTOK   runs of the task (2 or 3), tokens drawn in all.
 */

#ifndef MAXRUNS
#define MAXRUNS 2
#endif
#ifndef MAXTOK
#define MAXTOK 3
#endif
#ifndef FAULTS
#define FAULTS 3
#endif

#define NR (MAXRUNS + 1)	/* run ids 1..MAXRUNS; slot 0 unused */

mtype = {
	DISPATCH,	/* sched -> worker (run, token); resent until answered */
	ACCEPT,		/* worker -> sched; an answer, never resent on its own */
	REJECT,		/* worker -> sched; resent until ACK_RJ */
	STARTED,	/* worker -> sched; sent once in the model (README) */
	ENDED,		/* worker -> sched; resent until ACK_EN */
	HB,		/* worker -> sched: heartbeat naming the run it holds */
	LEASE_OK,	/* sched -> worker: the lease of that run is renewed */
	LEASE_UNK,	/* sched -> worker: not active on you here: stop it */
	ACK_ST, ACK_EN, ACK_RJ	/* sched -> worker, once per copy received */
};

/* ---- faults ------------------------------------------------------------- */

/* One budget for every fault: a datagram lost, duplicated or overtaken, a
 * workerd crash or pause, a partition, a scheduler restart, a false dead
 * declaration, a failed fence hook, a refused dispatch.  Losing a datagram
 * sent into a full channel, and the recoveries (restart, resume, heal,
 * rejoin), cost nothing. */
byte faults = FAULTS;
#define FAULT (faults > 0)
#define SPEND faults--

/* ---- scheduler: durable store ------------------------------------------- */

#define R_NONE  0	/* not created yet */
#define R_PEND  1	/* pending: waits for a worker (no token sent yet) */
#define R_DISP  2	/* dispatched to rnode with token rtok */
#define R_RUN   3	/* running: the worker reported STARTED */
#define R_FENC  4	/* fencing (it was running): node declared dead, fence pending */
#define R_LOST  5	/* lost: the fence hook confirmed the node isolated */
#define R_ENDED 6	/* ended: the worker reported ENDED (any final state) */
#define R_FENCD 7	/* fencing, and it was dispatched (not known started) */
#define ISFENC(r) (rst[r] == R_FENC || rst[r] == R_FENCD)

byte rst[NR];		/* run state */
byte rtok[NR];		/* current token of the run: unique, increasing per task */
byte rnode[NR];		/* node the run is assigned to (while active) */
byte ntok;		/* highest token drawn for the task */
byte nruns;		/* runs created so far */
byte pendr;		/* the pending run, 0 if none */

/* nodes as the scheduler sees them: membership plus fence requests */
#define N_ALIVE  0
#define N_DEAD   1	/* declared dead; a fence request is recorded */
#define N_FENCED 2	/* the hook confirmed it isolated; back when it rejoins */
byte nst[2];
bit restarted[2];	/* workerd restarted while declared dead (else 0) */

/* scheduler: volatile, lost on restart */
bit dacked[NR];		/* the worker answered the DISPATCH: stop resending */

#define ACTIVE(r) (rst[r] == R_DISP || rst[r] == R_RUN || ISFENC(r))
#define MATCH(r, t, w) (ACTIVE(r) && rnode[r] == (w) && rtok[r] == (t))
#define HOLDS_RUN(r, w) ((rst[r] == R_DISP || rst[r] == R_RUN) && rnode[r] == (w))
#define S_OUT(r) (rst[r] == R_DISP && !dacked[r])
#define FENCING_RUN(r, w) (ISFENC(r) && rnode[r] == (w))

#if MAXRUNS == 2
#define ANY_ACTIVE (ACTIVE(1) || ACTIVE(2))
#define HOLDS(w) (HOLDS_RUN(1, w) || HOLDS_RUN(2, w))
#define FENCING(w) (FENCING_RUN(1, w) || FENCING_RUN(2, w))
#define S_ANY_OUT (S_OUT(1) || S_OUT(2))
#elif MAXRUNS == 3
#define ANY_ACTIVE (ACTIVE(1) || ACTIVE(2) || ACTIVE(3))
#define HOLDS(w) (HOLDS_RUN(1, w) || HOLDS_RUN(2, w) || HOLDS_RUN(3, w))
#define FENCING(w) (FENCING_RUN(1, w) || FENCING_RUN(2, w) || FENCING_RUN(3, w))
#define S_ANY_OUT (S_OUT(1) || S_OUT(2) || S_OUT(3))
#else
#error "MAXRUNS must be 2 or 3"
#endif

/* ---- workers: durable store ---------------------------------------------- */

#define W_NONE 0	/* never seen */
#define W_ACC  1	/* accepted, process not started */
#define W_RUN  2	/* process started */
#define W_END  3	/* ended; ENDED is resent until ACK_EN */
#define W_DONE 4	/* ended and acknowledged */
#define W_REJ  5	/* tombstone "never started, never will"; REJECT resent */
#define W_REJQ 6	/* tombstone, nothing resent (acked, or outbox lost) */
#define ISREJ(p) ((p) == W_REJ || (p) == W_REJQ)

typedef WStore {
	byte ph[NR];	/* phase of each run id */
	byte tk[NR];	/* token of that record */
	byte max;	/* highest token seen for the task (task_tokens) */
	byte live;	/* the run in W_ACC or W_RUN, 0 if none (derived) */
};
WStore ws[2];

#define W_OUT(w, r) (ws[w].ph[r] == W_END || ws[w].ph[r] == W_REJ)
#if MAXRUNS == 2
#define W_ANY_OUT(w) (W_OUT(w, 1) || W_OUT(w, 2))
#else
#define W_ANY_OUT(w) (W_OUT(w, 1) || W_OUT(w, 2) || W_OUT(w, 3))
#endif
#define LIVE(w) (ws[w].live)
#define LIVE_PH(w) (ws[w].ph[ws[w].live])

/* ---- workers: node, workerd, processes ------------------------------------ */

#define UP   0
#define DOWN 1	/* workerd crashed; the node and its processes live on */
#define OFF  2	/* fenced: isolated / powered off; its processes are dead */
byte wup[2];
bit paused[2];		/* workerd stopped (SIGSTOP): takes no step */
bit part[2];		/* the scheduler <-> node link drops everything */
bit lease[2];		/* volatile: renewed since the last tick of the clock */

#define W_STEPS(w) (wup[w] == UP && !paused[w])
#define REACHABLE(w) (wup[w] == UP && !paused[w] && !part[w])

byte proc[2];		/* run whose process group executes on the node, or 0 */
byte nexec;		/* executing processes of the task, cluster-wide */

/* ---- network --------------------------------------------------------------- */

chan toW[2] = [2] of { mtype, byte, byte };	/* sched -> worker w */
chan toS[2] = [2] of { mtype, byte, byte };	/* worker w -> sched */

/* scratch: only used within one atomic step, so not part of the state */
hidden mtype hm, hm2;
hidden byte hr, ht, hr2, ht2, hw, hi, sr, st;

/* Send: lost (cut link, powered-off receiver, full channel, or a fault),
 * delivered, or delivered twice (a fault). */
inline net_send(ch, cut, m, r, t)
{
	if
	:: cut -> skip
	:: else ->
		if
		:: full(ch) -> skip
		:: nfull(ch) ->
			ch!m, r, t;
			if
			:: FAULT && nfull(ch) -> SPEND; ch!m, r, t;
			   printf("EV net: %e run %d token %d duplicated\n", m, r, t)
			:: true -> skip
			fi
		:: FAULT -> SPEND; printf("EV net: %e run %d token %d lost\n", m, r, t)
		fi
	fi
}

#define TO_W(w, m, r, t) sr = r; st = t; net_send(toW[w], (part[w] || wup[w] == OFF), m, sr, st)
#define TO_S(w, m, r, t) sr = r; st = t; net_send(toS[w], part[w], m, sr, st)

/* Receive the first datagram or, a fault, the second (reordering). */
inline take(ch)
{
	if
	:: ch?hm, hr, ht
	:: FAULT && len(ch) >= 2 -> SPEND;
	   ch?hm2, hr2, ht2; ch?hm, hr, ht; ch!hm2, hr2, ht2
	fi
}

/* ---- the task's processes ----------------------------------------------- */

inline spawn(w, r)
{
	assert(proc[w] == 0);		/* one live run of the task per worker */
	proc[w] = r;
	nexec++;
	printf("EV w%d: process of run %d token %d starts (%d executing)\n",
	       w, r, ws[w].tk[r], nexec);
	/* SAFETY: never two executions of the task at the same time ... */
	assert(nexec <= 1);
#ifndef NO_TOKEN_ASSERT
	/* ... and the one that starts holds the task's newest token */
	assert(ws[w].tk[r] == ntok)
#endif
}

inline kill_proc(w)
{
	if
	:: proc[w] != 0 -> proc[w] = 0; nexec--
	:: else -> skip
	fi
}

/* ---- worker ---------------------------------------------------------------- */

/* The live run ended (reaped, killed, self-fenced): commit, then report. */
inline w_end_live(w)
{
	hi = ws[w].live;
	ws[w].ph[hi] = W_END;
	ws[w].live = 0;
	TO_S(w, ENDED, hi, ws[w].tk[hi])
}

/* workerd's memory is gone (crash, power off): lease, outbox. */
inline w_lose_volatile(w)
{
	paused[w] = 0;
	lease[w] = 0;
	hi = 1;
	do
	:: hi < NR ->
		if
		:: ws[w].ph[hi] == W_REJ -> ws[w].ph[hi] = W_REJQ
		:: else -> skip
		fi;
		hi++
	:: else -> break
	od
}

/* workerd starts (after a crash, or rejoining after a fence): it never
 * adopts a run: it kills what is left of the live run's processes, records
 * the run as ended (failed) and reports every end not yet acknowledged. */
inline w_reconcile(w)
{
	if
	:: ws[w].live != 0 ->
		kill_proc(w);
		ws[w].ph[ws[w].live] = W_END;
		ws[w].live = 0
	:: else -> skip
	fi;
	assert(proc[w] == 0);
	hi = 1;
	do
	:: hi < NR ->
		if
		:: ws[w].ph[hi] == W_END -> TO_S(w, ENDED, hi, ws[w].tk[hi])
		:: else -> skip
		fi;
		hi++
	:: else -> break
	od
}

/* Refuse a new dispatch: tombstone committed first, then REJECT. */
inline w_reject_new(w, r, t)
{
	ws[w].ph[r] = W_REJ;
	ws[w].tk[r] = t;
	if
	:: t > ws[w].max -> ws[w].max = t
	:: else -> skip
	fi;
	printf("EV w%d: run %d token %d refused (tombstone)\n", w, r, t);
	TO_S(w, REJECT, r, t)
}

/* A dispatch of a run id the store knows: answer from the store. */
inline w_answer_known(w, r)
{
	if
	:: ws[w].ph[r] == W_ACC || ws[w].ph[r] == W_RUN -> TO_S(w, ACCEPT, r, ws[w].tk[r])
	:: ws[w].ph[r] == W_END -> TO_S(w, ENDED, r, ws[w].tk[r])
	:: ISREJ(ws[w].ph[r]) -> ws[w].ph[r] = W_REJ; TO_S(w, REJECT, r, ws[w].tk[r])
	:: ws[w].ph[r] == W_DONE -> skip	/* the scheduler has its end */
	fi
}

inline w_handle(w)
{
	if
	:: hm == DISPATCH ->
		if
		:: ws[w].ph[hr] != W_NONE && !(ISREJ(ws[w].ph[hr]) && ht > ws[w].tk[hr]) ->
			w_answer_known(w, hr)
		:: else ->	/* new, or a tombstone of an older token gives way */
			if
			:: ht <= ws[w].max || ws[w].live != 0 ->
				w_reject_new(w, hr, ht)	/* stale token, or busy */
			:: else ->
				if
				:: FAULT -> SPEND;	/* no slot, shutting down */
				   w_reject_new(w, hr, ht)
				:: ws[w].ph[hr] = W_ACC;	/* commit, then answer */
				   ws[w].tk[hr] = ht;
				   ws[w].max = ht;
				   ws[w].live = hr;
				   lease[w] = 1;
				   printf("EV w%d: run %d token %d accepted\n", w, hr, ht);
				   TO_S(w, ACCEPT, hr, ht)
				fi
			fi
		fi
	:: hm == ACK_ST -> skip	/* STARTED is sent once here: see README */
	:: hm == ACK_EN ->
		if
		:: ws[w].ph[hr] == W_END && ws[w].tk[hr] == ht -> ws[w].ph[hr] = W_DONE
		:: else -> skip
		fi
	:: hm == ACK_RJ ->
		if
		:: ws[w].ph[hr] == W_REJ -> ws[w].ph[hr] = W_REJQ
		:: else -> skip
		fi
	:: hm == LEASE_OK ->
		if
		:: ws[w].live == hr && ws[w].tk[hr] == ht -> lease[w] = 1
		:: else -> skip
		fi
	:: hm == LEASE_UNK ->
		if
		:: ws[w].live == hr && ws[w].tk[hr] == ht ->
			printf("EV w%d: scheduler does not know run %d token %d: killed\n", w, hr, ht);
			kill_proc(w);
			w_end_live(w)
		:: else -> skip
		fi
	fi
}

#ifdef NO_HEARTBEAT
#define HEARTBEAT(w) skip
#else
#define HEARTBEAT(w) TO_S(w, HB, LIVE(w), ws[w].tk[LIVE(w)])
#endif

proctype Worker(byte w)
{
end_w:
	do
	:: atomic { W_STEPS(w) && nempty(toW[w]) -> take(toW[w]); w_handle(w) }

	/* fork/exec the accepted run, commit running, report STARTED */
	:: atomic { W_STEPS(w) && LIVE(w) != 0 && LIVE_PH(w) == W_ACC ->
		spawn(w, LIVE(w));
		ws[w].ph[LIVE(w)] = W_RUN;
		TO_S(w, STARTED, LIVE(w), ws[w].tk[LIVE(w)]) }

	/* its process group is gone: commit ended, report ENDED */
	:: atomic { W_STEPS(w) && LIVE(w) != 0 && LIVE_PH(w) == W_RUN && proc[w] == 0 ->
		printf("EV w%d: run %d ended\n", w, LIVE(w));
		w_end_live(w) }

	/* a heartbeat interval passes on the local clock.  Renewed since the
	 * last tick: send the next heartbeat.  Not renewed: the lease is over,
	 * SIGKILL the group (self-fencing) and report the run failed. */
	:: atomic { W_STEPS(w) && LIVE(w) != 0 && LIVE_PH(w) == W_RUN && proc[w] != 0 ->
		if
		:: lease[w] -> lease[w] = 0; HEARTBEAT(w)
		:: else ->
			printf("EV w%d: lease of run %d expired: self-fenced\n", w, LIVE(w));
			kill_proc(w);
			w_end_live(w)
		fi }

	/* workerd restarts after a crash */
	:: atomic { wup[w] == DOWN ->
		wup[w] = UP;
		restarted[w] = (nst[w] == N_DEAD);
		printf("EV w%d: workerd restarts\n", w);
		w_reconcile(w) }

	/* the fenced node comes back with a new incarnation */
	:: atomic { wup[w] == OFF ->
		wup[w] = UP;
		nst[w] = N_ALIVE;
		printf("EV w%d: rejoins after the fence\n", w);
		w_reconcile(w) }
	od
}

/* ---- scheduler ------------------------------------------------------------- */

inline s_handle(w)
{
	if
	:: hm == ACCEPT ->
		if
		:: MATCH(hr, ht, w) -> dacked[hr] = 1
		:: else -> skip	/* stale */
		fi
	:: hm == STARTED ->
		if
		:: MATCH(hr, ht, w) ->
			if
			:: rst[hr] == R_DISP -> rst[hr] = R_RUN
			:: else -> skip
			fi;
			dacked[hr] = 1
		:: else -> skip
		fi;
		TO_W(w, ACK_ST, hr, ht)
	:: hm == ENDED ->
		if
		:: MATCH(hr, ht, w) ->	/* commit, then acknowledge */
			rst[hr] = R_ENDED;
			printf("EV sched: run %d token %d ended on w%d\n", hr, ht, w)
		:: else -> skip	/* stale, or recorded before */
		fi;
		TO_W(w, ACK_EN, hr, ht)
	:: hm == REJECT ->
		if
		:: MATCH(hr, ht, w) ->
			/* "never started, never will": back to pending; the next
			 * dispatch draws a new token */
			assert(rst[hr] != R_RUN);
			rst[hr] = R_PEND;
			pendr = hr;
			dacked[hr] = 0;
			printf("EV sched: run %d token %d refused by w%d: pending\n", hr, ht, w)
		:: else -> skip
		fi;
		TO_W(w, ACK_RJ, hr, ht)
	:: hm == HB ->
		if
		:: MATCH(hr, ht, w) && !ISFENC(hr) -> TO_W(w, LEASE_OK, hr, ht)
		:: MATCH(hr, ht, w) -> skip	/* HOLD: not renewed while fencing */
		:: else -> TO_W(w, LEASE_UNK, hr, ht)
		fi
	fi
}

/* commit pending -> dispatched(node, new token), then send */
inline s_dispatch(w)
{
	ntok++;
	rtok[pendr] = ntok;
	rnode[pendr] = w;
	rst[pendr] = R_DISP;
	dacked[pendr] = 0;
	printf("EV sched: run %d dispatched to w%d with token %d\n", pendr, w, ntok);
	TO_W(w, DISPATCH, pendr, ntok);
	pendr = 0
}

/* gossip: w is dead (suspicion expired without refutation) */
inline s_declare_dead(w)
{
	nst[w] = N_DEAD;
	restarted[w] = 0;
	printf("EV sched: w%d declared dead\n", w);
	hi = 1;
	do
	:: hi < NR ->
		if
		:: HOLDS_RUN(hi, w) ->
#ifdef SKIP_FENCE_CHECK
			/* BUG: reassigned without waiting for the fence */
			rst[hi] = R_LOST;
			printf("EV sched: run %d lost WITHOUT a confirmed fence\n", hi)
#else
			/* active until the fence confirms; remembers its state */
			if
			:: rst[hi] == R_RUN -> rst[hi] = R_FENC
			:: else -> rst[hi] = R_FENCD
			fi
#endif
		:: else -> skip
		fi;
		hi++
	:: else -> break
	od
}

/* The hook exited 0 (or an operator confirmed): the node is isolated or
 * powered off.  Its processes are dead, workerd takes no step until the
 * node rejoins, nothing on its way to it arrives; its runs are lost. */
inline s_fence_ok(w)
{
	printf("EV sched: fence of w%d confirmed: node off\n", w);
	kill_proc(w);
	wup[w] = OFF;
	part[w] = 0;
	w_lose_volatile(w);
#ifndef KEEP_INFLIGHT
	do
	:: toW[w]?_, _, _
	:: empty(toW[w]) -> break
	od;
#endif
	nst[w] = N_FENCED;
	hi = 1;
	do
	:: hi < NR ->
		if
		:: FENCING_RUN(hi, w) ->
			rst[hi] = R_LOST;
			printf("EV sched: run %d lost\n", hi)
		:: else -> skip
		fi;
		hi++
	:: else -> break
	od
}

/* The node heartbeats again as the life that was declared dead, and no
 * hook call is in flight (hook steps are atomic here): the suspicion was
 * false, the fence is called off, its runs resume where they were, and
 * unanswered dispatches are resent. */
inline s_fence_cancel(w)
{
	printf("EV sched: w%d is back: fence called off\n", w);
	nst[w] = N_ALIVE;
	hi = 1;
	do
	:: hi < NR ->
		if
		:: FENCING_RUN(hi, w) && rst[hi] == R_FENC -> rst[hi] = R_RUN
		:: FENCING_RUN(hi, w) -> rst[hi] = R_DISP; dacked[hi] = 0
		:: else -> skip
		fi;
		hi++
	:: else -> break
	od
}

#define CAN_CREATE (pendr == 0 && !ANY_ACTIVE && nruns < MAXRUNS)
#define CAN_DISPATCH(w) (pendr != 0 && !ANY_ACTIVE && ntok < MAXTOK && nst[w] == N_ALIVE)

active proctype Sched()
{
end_s:
	do
	:: atomic { nempty(toS[0]) -> take(toS[0]); s_handle(0) }
	:: atomic { nempty(toS[1]) -> take(toS[1]); s_handle(1) }

	/* the schedule or the retry policy creates a run */
	:: atomic { CAN_CREATE -> nruns++; rst[nruns] = R_PEND; pendr = nruns }

	/* one active run per task: the store's partial unique index */
	:: atomic { CAN_DISPATCH(0) -> s_dispatch(0) }
	:: atomic { CAN_DISPATCH(1) -> s_dispatch(1) }

	/* declared dead: free when the node is really out of reach; a false
	 * suspicion of a reachable node is a fault */
	:: atomic { nst[0] == N_ALIVE && HOLDS(0) && !REACHABLE(0) -> s_declare_dead(0) }
	:: atomic { nst[1] == N_ALIVE && HOLDS(1) && !REACHABLE(1) -> s_declare_dead(1) }
	:: atomic { FAULT && nst[0] == N_ALIVE && HOLDS(0) && REACHABLE(0) ->
		SPEND; s_declare_dead(0) }
	:: atomic { FAULT && nst[1] == N_ALIVE && HOLDS(1) && REACHABLE(1) ->
		SPEND; s_declare_dead(1) }

	/* back as the same life, or restarted on its own store (HELLO names
	 * the fenced life as its previous one; the store knows every run that
	 * life accepted and the restart ended them): called off */
	:: atomic { nst[0] == N_DEAD && REACHABLE(0) -> s_fence_cancel(0); restarted[0] = 0 }
	:: atomic { nst[1] == N_DEAD && REACHABLE(1) -> s_fence_cancel(1); restarted[1] = 0 }

	/* the fence hook: confirms, or fails (a fault) and is retried */
	:: atomic { nst[0] == N_DEAD ->
		if
		:: FAULT -> SPEND; printf("EV sched: fence of w0 failed\n")
		:: true -> s_fence_ok(0)
		fi }
	:: atomic { nst[1] == N_DEAD ->
		if
		:: FAULT -> SPEND; printf("EV sched: fence of w1 failed\n")
		:: true -> s_fence_ok(1)
		fi }
	od
}

/* ---- environment: the task's processes, and faults ------------------------- */

inline crash(w)
{
	SPEND;
	wup[w] = DOWN;
	printf("EV w%d: workerd crashes (its processes live on)\n", w);
	w_lose_volatile(w)
}

active proctype Env()
{
end_e:
	do
	/* a task's process group ends by itself (whatever workerd is doing) */
	:: atomic { proc[0] != 0 -> printf("EV w0: process of run %d exits\n", proc[0]);
		proc[0] = 0; nexec-- }
	:: atomic { proc[1] != 0 -> printf("EV w1: process of run %d exits\n", proc[1]);
		proc[1] = 0; nexec-- }

	/* workerd crashes: memory lost, store kept, processes live on */
	:: atomic { FAULT && wup[0] == UP -> crash(0) }
	:: atomic { FAULT && wup[1] == UP -> crash(1) }

	/* workerd stopped for a while */
	:: atomic { FAULT && W_STEPS(0) -> SPEND; paused[0] = 1; printf("EV w0: paused\n") }
	:: atomic { FAULT && W_STEPS(1) -> SPEND; paused[1] = 1; printf("EV w1: paused\n") }
	:: atomic { paused[0] -> paused[0] = 0; printf("EV w0: resumed\n") }
	:: atomic { paused[1] -> paused[1] = 0; printf("EV w1: resumed\n") }

	/* the link scheduler <-> node drops everything for a while */
	:: atomic { FAULT && wup[0] != OFF && !part[0] -> SPEND; part[0] = 1;
		printf("EV net: w0 cut off\n") }
	:: atomic { FAULT && wup[1] != OFF && !part[1] -> SPEND; part[1] = 1;
		printf("EV net: w1 cut off\n") }
	:: atomic { part[0] -> part[0] = 0; printf("EV net: w0 reachable again\n") }
	:: atomic { part[1] -> part[1] = 0; printf("EV net: w1 reachable again\n") }

	/* schedd restarts: memory lost, the store kept */
	:: atomic { FAULT -> SPEND; printf("EV sched: restarts\n");
		hi = 1;
		do
		:: hi < NR -> dacked[hi] = 0; hi++
		:: else -> break
		od }
	od
}

init
{
	atomic {
		run Worker(0);
		run Worker(1)
	}
}

/* ---- retransmission timers and the end-of-run check ----------------------- */

#define OUTSTANDING (S_ANY_OUT || W_ANY_OUT(0) || W_ANY_OUT(1))

/* `timeout` holds when no other process can move: the faults that were
 * going to happen have happened, every datagram was delivered or lost,
 * paused workers resumed, crashed ones restarted, fences went through,
 * processes exited.  Then the retransmission timers fire: everything not
 * yet answered is sent again.  When nothing is left to resend, every run
 * must have ended or been fenced. */
active proctype Timer()
{
	do
	:: timeout && OUTSTANDING ->
		atomic {
			hi = 1;
			do
			:: hi < NR ->
				if
				:: S_OUT(hi) -> TO_W(rnode[hi], DISPATCH, hi, rtok[hi])
				:: else -> skip
				fi;
				hw = 0;
				do
				:: hw < 2 ->
					if
					:: W_STEPS(hw) && ws[hw].ph[hi] == W_END ->
						TO_S(hw, ENDED, hi, ws[hw].tk[hi])
					:: W_STEPS(hw) && ws[hw].ph[hi] == W_REJ ->
						TO_S(hw, REJECT, hi, ws[hw].tk[hi])
					:: else -> skip
					fi;
					hw++
				:: else -> break
				od;
				hi++
			:: else -> break
			od
		}
	:: timeout && !OUTSTANDING ->
		/* ENDS: every run ended, or was fenced and is lost */
		assert(!ANY_ACTIVE);
		assert(nexec == 0);
		break
	od
}
