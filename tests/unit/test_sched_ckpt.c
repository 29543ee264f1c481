/*
 * test_sched_ckpt.c - the scheduler's half of checkpoints
 * (scheduler/sched_ckpt.c) against a real store and two real loopback
 * endpoints: the scheduler's, and one playing worker n1, which receives
 * the scheduler's answers (CKPT_ACK, CKPT_DATA, DISPATCH).
 *
 *   - a refusal decided on the first chunk is one event per run and
 *     verdict, however many contents the worker retries;
 *   - one node has at most max(4, slots) uploads in progress (up to 8);
 *   - with every assembly slot taken, a kept verdict gives way before an
 *     upload in progress;
 *   - an upload that receives no chunk for two leases is dropped by the
 *     tick;
 *   - a store read error is never "no checkpoint": no dispatch goes out
 *     without it (it goes out once the read succeeds) and a chunk request
 *     is not answered "gone";
 *   - two tasks fetching at once are each served from memory, not from
 *     the store for every chunk.
 *
 * A store read error is made by renaming the checkpoints table through a
 * second connection (and renaming it back).
 *
 * A `struct sched` is built by hand (store, tasks, endpoint, outbox, one
 * worker record, runs tracked in memory): no gossip, so no worker is
 * eligible for new dispatches and sched_dispatch_pending only resends.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "auth.h"
#include "clock.h"
#include "cron.h"
#include "log.h"
#include "outbox.h"
#include "sched.h"
#include "store.h"

#define NOW_MS (INT64_C(1700000000) * 1000)

static char dir[64];
static char path[128];
static char err[256];
static struct sched s;
static struct task_def defs[8];
static struct net_endpoint *wep; /* worker n1 */
static struct sched_worker *w1;

static struct net_endpoint *open_ep(const char *name)
{
	struct net_config cfg = {
		.keys = &s.keys,
		.sender_id = auth_sender_id(name),
		.incarnation = 1,
		.max_skew_ms = 60000,
	};
	struct net_endpoint *ep = NULL;
	cr_assert_eq(net_open(&cfg, &ep, err, sizeof(err)), 0, "%s", err);
	return ep;
}

static void setup(void)
{
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(auth_init(), 0);
	snprintf(dir, sizeof(dir), "/tmp/test_sched_ckpt.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	memset(&s, 0, sizeof(s));
	char kp[128];
	snprintf(kp, sizeof(kp), "%s/keyring", dir);
	cr_assert_eq(auth_keyring_generate(kp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_keyring_load(kp, &s.keys, err, sizeof(err)), 0, "%s", err);
	s.opt.lease_ms = 15000;
	s.opt.checkpoint_max = 1 << 20;
	cr_assert_eq(store_open(path, &s.store, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(loop_new(&s.loop), 0);
	heap_init(&s.due);
	const char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	for (size_t i = 0; i < 8; i++) {
		struct task_def *d = &defs[i];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", names[i]);
		snprintf(d->command, sizeof(d->command), "echo %s", names[i]);
		snprintf(d->schedule, sizeof(d->schedule), "@yearly");
		cr_assert_eq(cron_parse("@yearly", "UTC", &d->cron, err, sizeof(err)), 0, "%s",
			     err);
		d->overlap = OVERLAP_SKIP;
		d->catch_up = CATCH_UP_LATEST;
		snprintf(d->file, sizeof(d->file), "tasks/test.conf");
		d->line = (int)i + 1;
	}
	struct task_set ts = {defs, 8};
	cr_assert_eq(sched_tasks_apply(&s, &ts, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sched_ckpt_new(&s.ckpt), 0);
	s.net = open_ep("schedd");
	cr_assert_eq(outbox_new(s.net, NULL, &s.outbox), 0);
	wep = open_ep("n1");
	s.workers = calloc(1, sizeof(*s.workers));
	cr_assert_not_null(s.workers);
	s.nworkers = 1;
	w1 = &s.workers[0];
	snprintf(w1->name, sizeof(w1->name), "n1");
	net_local_addr(wep, &w1->addr);
	w1->have_addr = true;
	w1->hello = true;
	w1->slots = 2;
	w1->incarnation = 1;
}

static void teardown(void)
{
	outbox_free(s.outbox);
	net_close(s.net);
	net_close(wep);
	sched_ckpt_free(s.ckpt);
	loop_free(s.loop);
	sched_tasks_free(&s);
	free(s.runs);
	free(s.workers);
	store_close(s.store);
	auth_keyring_wipe(&s.keys);
	memset(&s, 0, sizeof(s));
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(sched_ckpt, .init = setup, .fini = teardown, .timeout = 30);

/* A run of task, in the store and in memory, in `state` on n1: a copy
 * (tracking another run may move the scheduler's array). */
static struct sched_run active_run(const char *task, enum run_state state)
{
	struct store_run_new rn = {.task = task,
				   .reason = REASON_MANUAL,
				   .scheduled_for = NOW_MS / 1000,
				   .attempt = 1,
				   .overlap = OVERLAP_SKIP,
				   .now_ms = NOW_MS};
	struct store_run_created c;
	cr_assert_eq(store_run_create(s.store, &rn, &c), 0);
	cr_assert_eq(store_run_assign(s.store, c.run_id, "n1", NOW_MS + 1), 0);
	if (state == RUN_RUNNING)
		cr_assert_eq(store_run_started(s.store, c.run_id, c.token, "n1", NOW_MS + 2), 0);
	struct sched_run r = {.run_id = c.run_id, .token = c.token, .state = state, .attempt = 1};
	snprintf(r.task, sizeof(r.task), "%s", task);
	snprintf(r.node, sizeof(r.node), "n1");
	cr_assert_eq(sched_run_track(&s, &r), 0);
	return r;
}

/* The same, as the scheduler's own record (valid until the next run is
 * tracked). */
static struct sched_run *active(const char *task, enum run_state state)
{
	struct sched_run *r = sched_run_find(&s, active_run(task, state).run_id);
	cr_assert_not_null(r);
	return r;
}

/* The next message n1 receives within ms, or -1 if none. */
static int recv_w(struct net_msg *out, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	for (;;) {
		int rc = net_recv(wep, out);
		if (rc == 0)
			return 0;
		int64_t left = end - clock_mono_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = net_fd(wep), .events = POLLIN};
		poll(&p, 1, (int)left);
	}
}

/* n1 sends chunk k (offset) of an upload of `total` bytes, all 'x'. */
static void put(uint64_t run_id, uint64_t token, uint64_t seq, uint32_t total, uint32_t offset)
{
	static uint8_t blob[3 * WIRE_CKPT_CHUNK];
	memset(blob, 'x', sizeof(blob));
	/* The hash also tells contents apart: seq goes into the last byte.
	 * (Over the blob: only a first chunk is sent, hash of its seq.) */
	bool whole = total <= sizeof(blob);
	if (total && whole)
		blob[total - 1] = (uint8_t)seq;
	struct net_msg *nm = calloc(1, sizeof(*nm));
	cr_assert_not_null(nm);
	nm->msg.type = WIRE_CKPT_PUT;
	struct wire_ckpt_chunk *k = &nm->msg.u.ckpt;
	k->run_id = run_id;
	k->token = token;
	k->seq = seq;
	k->total = total;
	k->offset = offset;
	if (whole)
		sched_ckpt_hash(blob, total, k->hash);
	else
		sched_ckpt_hash(&seq, sizeof(seq), k->hash);
	k->len = (uint16_t)(total - offset < WIRE_CKPT_CHUNK ? total - offset : WIRE_CKPT_CHUNK);
	memcpy(k->data, blob + offset, k->len);
	net_local_addr(wep, &nm->from);
	sched_ckpt_on_put(&s, w1, nm);
	free(nm);
}

/* The status of the CKPT_ACK n1 got for run_id (0: none within 150 ms). */
static int ack_status(uint64_t run_id)
{
	struct net_msg nm;
	while (recv_w(&nm, 150) == 0)
		if (nm.msg.type == WIRE_CKPT_ACK && nm.msg.u.ckpt_ack.run_id == run_id)
			return nm.msg.u.ckpt_ack.status;
	return 0;
}

static int count_events(const char *kind)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE kind = ?1", -1, &st,
					NULL),
		     SQLITE_OK);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Make the checkpoints table unreadable for the store (or readable again). */
static void break_table(bool broken)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	const char *sql = broken ? "ALTER TABLE checkpoints RENAME TO checkpoints_away"
				 : "ALTER TABLE checkpoints_away RENAME TO checkpoints";
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(sched_ckpt, a_refusal_is_one_event_per_run_and_verdict)
{
	struct sched_run *r = active("a", RUN_RUNNING);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		put(r->run_id, r->token + 7, seq, 10, 0); /* a wrong token: stale */
		cr_assert_eq(ack_status(r->run_id), CKPT_STALE, "seq %llu",
			     (unsigned long long)seq);
	}
	struct sched_ckpt_counters n;
	sched_ckpt_counters(&s, &n);
	cr_assert_eq(n.stale, 5, "each refusal is counted");
	cr_assert_eq(count_events("checkpoint_stale"), 1, "but recorded once");
	/* Another verdict of the same run is a new event. */
	put(r->run_id, r->token, 9, (uint32_t)s.opt.checkpoint_max + 1, 0);
	cr_assert_eq(ack_status(r->run_id), CKPT_TOO_BIG);
	put(r->run_id, r->token, 10, (uint32_t)s.opt.checkpoint_max + 1, 0);
	cr_assert_eq(ack_status(r->run_id), CKPT_TOO_BIG);
	cr_assert_eq(count_events("checkpoint_too_big"), 1);
}

Test(sched_ckpt, uploads_in_progress_per_node_are_bounded)
{
	struct sched_run r[5];
	const char *names[5] = {"a", "b", "c", "d", "e"};
	for (size_t i = 0; i < 5; i++)
		r[i] = active_run(names[i], RUN_RUNNING);
	uint32_t total = 2 * WIRE_CKPT_CHUNK;
	for (size_t i = 0; i < 4; i++) { /* slots 2: at least 4 */
		put(r[i].run_id, r[i].token, 1, total, 0);
		cr_assert_eq(ack_status(r[i].run_id), CKPT_PART, "upload %zu", i);
	}
	put(r[4].run_id, r[4].token, 1, total, 0);
	cr_assert_eq(ack_status(r[4].run_id), 0, "a fifth upload of n1 must wait");
	/* One finishes: the fifth is taken. */
	put(r[0].run_id, r[0].token, 1, total, WIRE_CKPT_CHUNK);
	cr_assert_eq(ack_status(r[0].run_id), CKPT_STORED);
	put(r[4].run_id, r[4].token, 1, total, 0);
	cr_assert_eq(ack_status(r[4].run_id), CKPT_PART);
	/* Newer content of a run replaces its upload, never waits behind it. */
	put(r[1].run_id, r[1].token, 2, total, 0);
	cr_assert_eq(ack_status(r[1].run_id), CKPT_PART);
}

Test(sched_ckpt, a_full_table_evicts_verdicts_before_uploads)
{
	struct sched_run r[4];
	const char *names[4] = {"a", "b", "c", "d"};
	uint32_t total = 2 * WIRE_CKPT_CHUNK;
	for (size_t i = 0; i < 4; i++) {
		r[i] = active_run(names[i], RUN_RUNNING);
		put(r[i].run_id, r[i].token, 1, total, 0);
		cr_assert_eq(ack_status(r[i].run_id), CKPT_PART);
	}
	/* 28 verdicts fill the table (runs that do not exist: stale), then
	 * more: each must take a verdict's slot, not an upload's. */
	for (uint64_t id = 1000; id < 1040; id++) {
		put(id, 1, 1, 10, 0);
		cr_assert_eq(ack_status(id), CKPT_STALE);
	}
	for (size_t i = 0; i < 4; i++) {
		put(r[i].run_id, r[i].token, 1, total, WIRE_CKPT_CHUNK);
		cr_assert_eq(ack_status(r[i].run_id), CKPT_STORED, "upload %zu was evicted", i);
	}
}

Test(sched_ckpt, the_tick_drops_an_idle_upload)
{
	struct sched_run *r = active("a", RUN_RUNNING);
	s.opt.lease_ms = 20; /* idle after 40 ms */
	uint32_t total = 2 * WIRE_CKPT_CHUNK;
	put(r->run_id, r->token, 1, total, 0);
	cr_assert_eq(ack_status(r->run_id), CKPT_PART);
	sched_ckpt_tick(&s); /* not idle yet */
	put(r->run_id, r->token, 1, total, 0);
	cr_assert_eq(ack_status(r->run_id), CKPT_PART);
	struct timespec ts = {0, 80 * 1000000};
	nanosleep(&ts, NULL);
	sched_ckpt_tick(&s);
	/* Its last chunk now starts a new assembly: no verdict yet. */
	put(r->run_id, r->token, 1, total, WIRE_CKPT_CHUNK);
	cr_assert_eq(ack_status(r->run_id), CKPT_PART, "the idle upload was kept");
}

/* The DISPATCH n1 received for run_id: 1 and *d, or 0 if none in 150 ms. */
static int got_dispatch(uint64_t run_id, struct wire_dispatch *d)
{
	struct net_msg nm;
	while (recv_w(&nm, 150) == 0)
		if (nm.msg.type == WIRE_DISPATCH && nm.msg.u.dispatch.run_id == run_id) {
			*d = nm.msg.u.dispatch;
			return 1;
		}
	return 0;
}

/* A checkpoint of task stored by a run that then ended; its hash into hash. */
static void store_checkpoint(const char *task, uint8_t hash[WIRE_CKPT_HASH])
{
	struct sched_run *r = active(task, RUN_RUNNING);
	char data[32];
	snprintf(data, sizeof(data), "progress of %s", task);
	sched_ckpt_hash(data, sizeof(data), hash);
	char why[128];
	cr_assert_eq(store_ckpt_put(s.store, r->run_id, r->token, "n1", 1, data, sizeof(data), hash,
				    NOW_MS + 3, why, sizeof(why)),
		     0, "%s", why);
	struct store_run_end end = {.state = RUN_SUCCEEDED, .finished_ms = NOW_MS + 4};
	bool already;
	cr_assert_eq(store_run_end(s.store, r->run_id, r->token, "n1", &end, &already), 0);
	sched_run_forget(&s, r->run_id);
}

Test(sched_ckpt, an_unreadable_checkpoint_holds_the_dispatch)
{
	uint8_t hash[WIRE_CKPT_HASH];
	store_checkpoint("a", hash);
	cr_assert_eq(sched_ckpt_readable(&s, "a"), 0);
	cr_assert_eq(sched_ckpt_readable(&s, "b"), 0, "none stored is readable");
	struct sched_run *r = active("a", RUN_DISPATCHED);

	break_table(true);
	cr_assert_lt(sched_ckpt_readable(&s, "a"), 0);
	struct wire_dispatch d;
	memset(&d, 0xff, sizeof(d));
	cr_assert_lt(sched_ckpt_fill_dispatch(&s, r, &d), 0);
	sched_send_dispatch(&s, r);
	cr_assert(r->unsent);
	cr_assert(!outbox_pending(s.outbox, WIRE_DISPATCH, r->run_id));
	cr_assert_eq(got_dispatch(r->run_id, &d), 0, "a DISPATCH went out without its checkpoint");
	sched_dispatch_pending(&s); /* still unreadable: still held */
	cr_assert(r->unsent);
	cr_assert_eq(got_dispatch(r->run_id, &d), 0);

	break_table(false);
	sched_dispatch_pending(&s); /* the next pass sends it */
	cr_assert(!r->unsent);
	cr_assert(outbox_pending(s.outbox, WIRE_DISPATCH, r->run_id));
	cr_assert_eq(got_dispatch(r->run_id, &d), 1);
	cr_assert_eq(d.ckpt, 1);
	cr_assert_eq(memcmp(d.ckpt_hash, hash, WIRE_CKPT_HASH), 0);
}

/* n1 asks for the chunk at 0 of the checkpoint `hash` for run r. */
static void want(const struct sched_run *r, const uint8_t *hash)
{
	struct net_msg nm;
	memset(&nm, 0, sizeof(nm));
	nm.msg.type = WIRE_CKPT_ACK;
	struct wire_ckpt_ack *k = &nm.msg.u.ckpt_ack;
	k->run_id = r->run_id;
	k->token = r->token;
	memcpy(k->hash, hash, WIRE_CKPT_HASH);
	k->offset = 0;
	k->status = CKPT_WANT;
	net_local_addr(wep, &nm.from);
	sched_ckpt_on_ack(&s, w1, &nm);
}

/* What n1 got: WIRE_CKPT_DATA (for the run), CKPT_GONE, CKPT_GONE (as 1000 + status), or 0. */
static int answer(void)
{
	struct net_msg nm;
	while (recv_w(&nm, 150) == 0) {
		if (nm.msg.type == WIRE_CKPT_DATA)
			return WIRE_CKPT_DATA;
		if (nm.msg.type == WIRE_CKPT_ACK)
			return 1000 + nm.msg.u.ckpt_ack.status;
	}
	return 0;
}

Test(sched_ckpt, a_read_error_is_not_gone)
{
	uint8_t hash[WIRE_CKPT_HASH], other[WIRE_CKPT_HASH];
	store_checkpoint("a", hash);
	struct sched_run *r = active("a", RUN_DISPATCHED);
	break_table(true);
	want(r, hash);
	cr_assert_eq(answer(), 0, "a read error must not be answered (least of all 'gone')");
	break_table(false);
	want(r, hash);
	cr_assert_eq(answer(), WIRE_CKPT_DATA);
	memset(other, 7, sizeof(other));
	want(r, other);
	cr_assert_eq(answer(), 1000 + CKPT_GONE, "a checkpoint no longer stored is gone");
}

Test(sched_ckpt, two_downloads_at_once_are_both_cached)
{
	uint8_t ha[WIRE_CKPT_HASH], hb[WIRE_CKPT_HASH];
	store_checkpoint("a", ha);
	store_checkpoint("b", hb);
	uint64_t ra = active_run("a", RUN_DISPATCHED).run_id;
	uint64_t rb = active_run("b", RUN_DISPATCHED).run_id;
	want(sched_run_find(&s, ra), ha);
	cr_assert_eq(answer(), WIRE_CKPT_DATA);
	want(sched_run_find(&s, rb), hb);
	cr_assert_eq(answer(), WIRE_CKPT_DATA);
	/* From now on the store cannot be read: both are served from memory. */
	break_table(true);
	for (int i = 0; i < 3; i++) {
		want(sched_run_find(&s, ra), ha);
		cr_assert_eq(answer(), WIRE_CKPT_DATA, "a, round %d: read again from the store", i);
		want(sched_run_find(&s, rb), hb);
		cr_assert_eq(answer(), WIRE_CKPT_DATA, "b, round %d: read again from the store", i);
	}
	/* A new checkpoint stored (or cleared) drops the task's entry. */
	sched_ckpt_forget_task(&s, "a");
	want(sched_run_find(&s, ra), ha);
	cr_assert_eq(answer(), 0);
	break_table(false);
	want(sched_run_find(&s, ra), ha);
	cr_assert_eq(answer(), WIRE_CKPT_DATA);
}
