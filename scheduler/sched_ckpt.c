/*
 * sched_ckpt.c - task checkpoints at the scheduler (docs/protocol.md,
 * "Checkpoints"; docs/operations.md "Checkpoints").
 *
 * Upload: a worker ships a run's checkpoint as CKPT_PUT chunks (run,
 * token, the content's version seq, total size, hash of the whole).  They
 * are assembled in memory per (run, token, seq, hash); every chunk is
 * answered with a CKPT_ACK: "part" while chunks are missing, else the
 * verdict for the whole, which is kept (without the bytes) so that any
 * late copy gets the same answer.  A whole checkpoint whose hash matches
 * goes to store_ckpt_put, which stores it only if the token is the task's
 * current one and the run is active on that worker (one transaction):
 * a stale one is refused, logged, counted and recorded as an event (once
 * per run and verdict), and acknowledged so that the worker stops
 * resending.  One over scheduler.checkpoint_max is refused the same way
 * on its first chunk.  Memory is bounded: ASM_MAX assemblies, a few in
 * progress per node, idle ones dropped by sched_ckpt_tick.
 *
 * Download: the DISPATCH of a run names the task's stored checkpoint
 * (size, hash); the worker asks for each chunk it lacks with a CKPT_ACK
 * "want" and is answered with CKPT_DATA, or with "gone" if that
 * checkpoint is no longer stored.  The worker drives the retransmission,
 * so nothing here keeps per-download state; requests are served only for
 * a run dispatched (not yet started) to the asking worker with its token.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

#define ASM_MAX	    32	   /* uploads assembled at once */
#define ASM_IDLE_MS  120000 /* a verdict is forgotten after */
#define ASM_NODE_MAX 8	    /* uploads in progress per node, at most (and at most its slots) */
#define REFUSED_MAX  64	    /* (run, verdict) refusals remembered: one event each */
#define CACHE_MAX    4	    /* stored checkpoints kept for downloads (each <= 1 MiB) */

struct ckpt_asm {
	bool used;
	uint64_t run_id, token, seq;
	uint8_t hash[WIRE_CKPT_HASH];
	uint32_t total, nchunks, ngot;
	char node[WIRE_NAME_MAX + 1];
	uint8_t *got;	 /* per chunk: 1 once received */
	uint8_t *data;	 /* total bytes (NULL once there is a verdict) */
	uint8_t verdict; /* 0 while assembling, else enum wire_ckpt_status */
	int64_t touched; /* monotonic ms */
};

/* A refusal already recorded as an event (for a run, one per verdict). */
struct ckpt_refused {
	uint64_t run_id;
	uint8_t verdict;
};

struct sched_ckpt {
	struct ckpt_asm a[ASM_MAX];
	struct ckpt_refused refused[REFUSED_MAX]; /* a ring */
	size_t nrefused;
	struct sched_ckpt_counters n;
	/* Checkpoints served to downloads, by task and hash: several tasks
	 * fetching at once each find theirs (least recently used goes). */
	struct ckpt_cached {
		char task[TASK_NAME_MAX + 1]; /* "": free */
		struct store_ckpt meta;
		void *data;
		uint64_t used; /* c->clock when last served */
	} cache[CACHE_MAX];
	uint64_t clock;
};

int sched_ckpt_new(struct sched_ckpt **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void asm_drop(struct ckpt_asm *x)
{
	free(x->got);
	free(x->data);
	memset(x, 0, sizeof(*x));
}

static void cache_drop(struct ckpt_cached *e)
{
	free(e->data);
	memset(e, 0, sizeof(*e));
}

void sched_ckpt_free(struct sched_ckpt *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ASM_MAX; i++)
		asm_drop(&c->a[i]);
	for (size_t i = 0; i < CACHE_MAX; i++)
		cache_drop(&c->cache[i]);
	free(c);
}

void sched_ckpt_counters(const struct sched *s, struct sched_ckpt_counters *out)
{
	*out = s->ckpt->n;
}

void sched_ckpt_forget_task(struct sched *s, const char *task)
{
	for (size_t i = 0; i < CACHE_MAX; i++)
		if (strcmp(s->ckpt->cache[i].task, task) == 0)
			cache_drop(&s->ckpt->cache[i]);
}

void sched_ckpt_hash(const void *data, size_t len, uint8_t out[WIRE_CKPT_HASH])
{
	crypto_generichash(out, WIRE_CKPT_HASH, data, len, NULL, 0);
}

int sched_ckpt_fill_dispatch(struct sched *s, const struct sched_run *r, struct wire_dispatch *d)
{
	struct store_ckpt m;
	int rc = store_ckpt_get(s->store, r->task, &m, NULL);
	d->ckpt = 0;
	d->ckpt_size = 0;
	memset(d->ckpt_hash, 0, sizeof(d->ckpt_hash));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc; /* not "none": the run must not start without it */
	d->ckpt = 1;
	d->ckpt_size = m.size;
	memcpy(d->ckpt_hash, m.hash, WIRE_CKPT_HASH);
	return 0;
}

int sched_ckpt_readable(struct sched *s, const char *task)
{
	struct store_ckpt m;
	int rc = store_ckpt_get(s->store, task, &m, NULL);
	return rc == -ENOENT ? 0 : rc;
}

static void send_ack(struct sched *s, const struct net_addr *to, const struct wire_ckpt_chunk *c,
		     uint8_t status)
{
	struct wire_msg m = {.type = WIRE_CKPT_ACK};
	struct wire_ckpt_ack *k = &m.u.ckpt_ack;
	k->run_id = c->run_id;
	k->token = c->token;
	k->seq = c->seq;
	memcpy(k->hash, c->hash, WIRE_CKPT_HASH);
	k->offset = c->offset;
	k->status = status;
	int rc = net_send(s->net, to, &m, NULL);
	if (rc < 0)
		log_debug("send CKPT_ACK: %s", strerror(-rc));
}

/* Is (offset, len) chunk k of a checkpoint of total bytes?  An empty
 * checkpoint is one empty chunk. */
static bool chunk_fits(uint32_t total, uint32_t offset, uint32_t len)
{
	if (offset % WIRE_CKPT_CHUNK)
		return false;
	if (total == 0)
		return offset == 0 && len == 0;
	if (offset >= total)
		return false;
	uint32_t want = total - offset < WIRE_CKPT_CHUNK ? total - offset : WIRE_CKPT_CHUNK;
	return len == want;
}

static struct ckpt_asm *asm_find(struct sched_ckpt *c, const struct wire_ckpt_chunk *k)
{
	for (size_t i = 0; i < ASM_MAX; i++) {
		struct ckpt_asm *x = &c->a[i];
		if (x->used && x->run_id == k->run_id && x->token == k->token && x->seq == k->seq &&
		    x->total == k->total && memcmp(x->hash, k->hash, WIRE_CKPT_HASH) == 0)
			return x;
	}
	return NULL;
}

/* How long an upload that receives no chunk is kept: two leases (the
 * worker gives up on an upload after one). */
static int64_t asm_idle_ms(const struct sched *s)
{
	return 2 * s->opt.lease_ms > 0 ? 2 * s->opt.lease_ms : ASM_IDLE_MS;
}

/* Is x forgotten now: an upload idle too long, or a verdict kept long
 * enough for late copies? */
static bool asm_stale(const struct sched *s, const struct ckpt_asm *x, int64_t now)
{
	return x->used && now - x->touched > (x->verdict ? ASM_IDLE_MS : asm_idle_ms(s));
}

void sched_ckpt_tick(struct sched *s)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < ASM_MAX; i++) {
		struct ckpt_asm *x = &s->ckpt->a[i];
		if (asm_stale(s, x, now)) {
			if (!x->verdict)
				log_info("checkpoint of run %llu from %s: no chunk for %lld ms; "
					 "the partial upload (%u of %u chunks) is dropped",
					 (unsigned long long)x->run_id, x->node,
					 (long long)(now - x->touched), x->ngot, x->nchunks);
			asm_drop(x);
		}
	}
}

/* Uploads node has in progress (no verdict yet). */
static int asm_in_progress(const struct sched_ckpt *c, const char *node)
{
	int n = 0;
	for (size_t i = 0; i < ASM_MAX; i++)
		n += c->a[i].used && !c->a[i].verdict && strcmp(c->a[i].node, node) == 0;
	return n;
}

/* A slot for a new upload: forgets idle ones and the run's older contents
 * still assembling; if none is free, the verdict heard of least recently
 * (it holds no bytes, and a late copy is merely judged again), else the
 * upload least recently touched. */
static struct ckpt_asm *asm_slot(struct sched *s, const struct wire_ckpt_chunk *k)
{
	struct sched_ckpt *c = s->ckpt;
	int64_t now = clock_mono_ms();
	struct ckpt_asm *free_slot = NULL, *oldest = NULL, *oldest_verdict = NULL;
	for (size_t i = 0; i < ASM_MAX; i++) {
		struct ckpt_asm *x = &c->a[i];
		if (asm_stale(s, x, now) ||
		    (x->used && x->run_id == k->run_id && x->seq < k->seq && !x->verdict))
			asm_drop(x);
		if (!x->used && !free_slot)
			free_slot = x;
		if (x->used && x->verdict &&
		    (!oldest_verdict || x->touched < oldest_verdict->touched))
			oldest_verdict = x;
		if (x->used && (!oldest || x->touched < oldest->touched))
			oldest = x;
	}
	if (!free_slot) {
		free_slot = oldest_verdict ? oldest_verdict : oldest;
		asm_drop(free_slot);
	}
	return free_slot;
}

/* Whether the refusal (run_id, verdict) is new: an event is recorded
 * once per run and verdict, not for every content a worker retries
 * (each event is a commit).  Remembers it. */
static bool refusal_new(struct sched_ckpt *c, uint64_t run_id, uint8_t verdict)
{
	size_t n = c->nrefused < REFUSED_MAX ? c->nrefused : REFUSED_MAX;
	for (size_t i = 0; i < n; i++)
		if (c->refused[i].run_id == run_id && c->refused[i].verdict == verdict)
			return false;
	c->refused[c->nrefused % REFUSED_MAX] = (struct ckpt_refused){run_id, verdict};
	c->nrefused++;
	return true;
}

static void asm_verdict(struct ckpt_asm *x, uint8_t verdict)
{
	x->verdict = verdict;
	free(x->data);
	free(x->got);
	x->data = x->got = NULL;
}

/* Why the run may not ship (from what this scheduler holds), "" if it may:
 * the store checks again, authoritatively, before storing. */
static void early_refusal(struct sched *s, const struct sched_worker *w,
			  const struct wire_ckpt_chunk *k, char *why, size_t len)
{
	const struct sched_run *r = sched_run_find(s, k->run_id);
	why[0] = '\0';
	if (!r || !run_state_active(r->state))
		snprintf(why, len, "run %llu is not active", (unsigned long long)k->run_id);
	else if (r->token != k->token)
		snprintf(why, len, "token %llu is not the run's current token %llu",
			 (unsigned long long)k->token, (unsigned long long)r->token);
	else if (strcmp(r->node, w->name) != 0)
		snprintf(why, len, "the run is on %s", r->node[0] ? r->node : "no node");
}

/* The task of run_id into buf (from memory, else the store); NULL if unknown. */
static const char *task_of(struct sched *s, uint64_t run_id, char *buf, size_t len)
{
	const struct sched_run *r = sched_run_find(s, run_id);
	if (r) {
		snprintf(buf, len, "%s", r->task);
		return buf;
	}
	struct store_run *sr = malloc(sizeof(*sr));
	const char *task = NULL;
	if (sr && store_run_get(s->store, run_id, sr) == 0) {
		snprintf(buf, len, "%s", sr->task);
		task = buf;
	}
	free(sr);
	return task;
}

/* The whole checkpoint is in: check its hash, store it. */
static void asm_complete(struct sched *s, struct ckpt_asm *x)
{
	uint8_t h[WIRE_CKPT_HASH];
	sched_ckpt_hash(x->data, x->total, h);
	if (memcmp(h, x->hash, WIRE_CKPT_HASH) != 0) {
		log_warnx("checkpoint of run %llu from %s: its %u bytes do not match its hash; "
			  "refused",
			  (unsigned long long)x->run_id, x->node, x->total);
		s->ckpt->n.bad++;
		asm_verdict(x, CKPT_BAD);
		return;
	}
	char tbuf[TASK_NAME_MAX + 1], why[256];
	const char *task = task_of(s, x->run_id, tbuf, sizeof(tbuf));
	int rc = store_ckpt_put(s->store, x->run_id, x->token, x->node, x->seq, x->data, x->total,
				x->hash, clock_wall_ms(), why, sizeof(why));
	if (rc == 0) {
		log_info("checkpoint of %s (%u bytes, version %llu) stored from run %llu on %s",
			 task ? task : "?", x->total, (unsigned long long)x->seq,
			 (unsigned long long)x->run_id, x->node);
		s->ckpt->n.stored++;
		if (task)
			sched_ckpt_forget_task(s, task);
		asm_verdict(x, CKPT_STORED);
	} else if (rc == -ESTALE || rc == -ENOENT) {
		log_warnx("checkpoint of run %llu from %s (token %llu) refused: %s",
			  (unsigned long long)x->run_id, x->node, (unsigned long long)x->token,
			  rc == -ENOENT ? "no such run" : why);
		s->ckpt->n.stale++;
		asm_verdict(x, CKPT_STALE);
	} else {
		/* Kept whole: the next copy of any chunk tries again. */
		log_warnx("checkpoint of run %llu: could not store it: %s; not acknowledged",
			  (unsigned long long)x->run_id, strerror(-rc));
	}
}

void sched_ckpt_on_put(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_ckpt_chunk *k = &nm->msg.u.ckpt;
	struct sched_ckpt *c = s->ckpt;
	if (!chunk_fits(k->total, k->offset, k->len)) {
		log_debug("CKPT_PUT of run %llu from %s: chunk at %u (%u bytes) does not fit a "
			  "checkpoint of %u bytes; dropped",
			  (unsigned long long)k->run_id, w->name, k->offset, k->len, k->total);
		return;
	}
	struct ckpt_asm *x = asm_find(c, k);
	if (!x) {
		char why[200], tbuf[TASK_NAME_MAX + 1];
		const char *task = task_of(s, k->run_id, tbuf, sizeof(tbuf));
		uint8_t verdict = 0;
		early_refusal(s, w, k, why, sizeof(why));
		if (why[0]) {
			c->n.stale++;
			verdict = CKPT_STALE;
			if (refusal_new(c, k->run_id, verdict)) {
				log_warnx("checkpoint of run %llu from %s (token %llu) refused: %s",
					  (unsigned long long)k->run_id, w->name,
					  (unsigned long long)k->token, why);
				store_event(s->store, clock_wall_ms(), "checkpoint_stale", task,
					    k->run_id, w->name,
					    "checkpoint of %u bytes (token %llu) refused: %s",
					    k->total, (unsigned long long)k->token, why);
			}
		} else if (k->total > s->opt.checkpoint_max) {
			c->n.too_big++;
			verdict = CKPT_TOO_BIG;
			if (refusal_new(c, k->run_id, verdict)) {
				log_warnx("checkpoint of run %llu from %s: %u bytes, over "
					  "scheduler.checkpoint_max (%lld); refused",
					  (unsigned long long)k->run_id, w->name, k->total,
					  (long long)s->opt.checkpoint_max);
				store_event(s->store, clock_wall_ms(), "checkpoint_too_big", task,
					    k->run_id, w->name,
					    "checkpoint of %u bytes over checkpoint_max %lld; "
					    "not stored",
					    k->total, (long long)s->opt.checkpoint_max);
			}
		} else {
			/* At most its slots (4 to ASM_NODE_MAX) uploads of one node
			 * are assembled at once, so that one node cannot take every
			 * slot: a further one is not started (no answer: the worker
			 * resends it once one of them is done or dropped). */
			for (size_t i = 0; i < ASM_MAX; i++) {
				struct ckpt_asm *o = &c->a[i];
				if (o->used && o->run_id == k->run_id && o->seq < k->seq &&
				    !o->verdict)
					asm_drop(o); /* superseded by newer content */
			}
			int lim = w->slots < 4		    ? 4
				  : w->slots > ASM_NODE_MAX ? ASM_NODE_MAX
							    : w->slots;
			if (asm_in_progress(c, w->name) >= lim) {
				log_debug("checkpoint of run %llu from %s: %d uploads of that node "
					  "in "
					  "progress already; this one waits",
					  (unsigned long long)k->run_id, w->name, lim);
				return;
			}
		}
		x = asm_slot(s, k);
		x->used = true;
		x->run_id = k->run_id;
		x->token = k->token;
		x->seq = k->seq;
		x->total = k->total;
		memcpy(x->hash, k->hash, WIRE_CKPT_HASH);
		snprintf(x->node, sizeof(x->node), "%s", w->name);
		x->nchunks = k->total ? (k->total + WIRE_CKPT_CHUNK - 1) / WIRE_CKPT_CHUNK : 1;
		x->verdict = verdict;
		if (!verdict) {
			x->got = calloc(x->nchunks, 1);
			x->data = malloc(k->total ? k->total : 1);
			if (!x->got || !x->data) {
				log_warnx("checkpoint of run %llu: out of memory; dropped",
					  (unsigned long long)k->run_id);
				asm_drop(x);
				return;
			}
		}
	}
	x->touched = clock_mono_ms();
	if (!x->verdict) {
		uint32_t idx = k->offset / WIRE_CKPT_CHUNK;
		if (!x->got[idx]) {
			if (k->len)
				memcpy(x->data + k->offset, k->data, k->len);
			x->got[idx] = 1;
			x->ngot++;
		}
		if (x->ngot == x->nchunks)
			asm_complete(s, x);
		if (x->ngot == x->nchunks && !x->verdict)
			return; /* the store failed: no answer, the worker resends */
	}
	send_ack(s, &nm->from, k, x->verdict ? x->verdict : CKPT_PART);
}

/* The stored checkpoint of task, if its hash is hash (cached): 1 with
 * *meta and *data, 0 if that checkpoint is no longer stored, or the
 * store's negative errno when it could not be read (then nobody may say
 * "gone": the worker would delete its copy). */
static int served(struct sched *s, const char *task, const uint8_t *hash,
		  const struct store_ckpt **meta, const void **data)
{
	struct sched_ckpt *c = s->ckpt;
	struct ckpt_cached *e = NULL;
	for (size_t i = 0; i < CACHE_MAX && !e; i++)
		if (c->cache[i].task[0] && strcmp(c->cache[i].task, task) == 0 &&
		    memcmp(c->cache[i].meta.hash, hash, WIRE_CKPT_HASH) == 0)
			e = &c->cache[i];
	if (!e) {
		struct store_ckpt m;
		void *d = NULL;
		int rc = store_ckpt_get(s->store, task, &m, &d);
		if (rc == -ENOENT)
			return 0;
		if (rc < 0) {
			log_warnx("checkpoint of %s: cannot read it: %s; the request is not "
				  "answered (the worker asks again)",
				  task, strerror(-rc));
			return rc;
		}
		if (memcmp(m.hash, hash, WIRE_CKPT_HASH) != 0) {
			free(d); /* another checkpoint is stored now */
			return 0;
		}
		/* The task has one stored checkpoint: an older entry of it goes;
		 * then a free entry, else the least recently served. */
		sched_ckpt_forget_task(s, task);
		e = &c->cache[0];
		for (size_t i = 1; i < CACHE_MAX; i++)
			if (e->task[0] && (!c->cache[i].task[0] || c->cache[i].used < e->used))
				e = &c->cache[i];
		cache_drop(e);
		snprintf(e->task, sizeof(e->task), "%s", task);
		e->meta = m;
		e->data = d;
	}
	e->used = ++c->clock;
	*data = e->data;
	*meta = &e->meta;
	return 1;
}

void sched_ckpt_on_ack(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_ckpt_ack *k = &nm->msg.u.ckpt_ack;
	if (k->status != CKPT_WANT)
		return;
	const struct sched_run *r = sched_run_find(s, k->run_id);
	if (!r || r->token != k->token || r->state != RUN_DISPATCHED ||
	    strcmp(r->node, w->name) != 0) {
		log_debug("checkpoint wanted by %s for run %llu (token %llu): not a run dispatched "
			  "to it with that token; ignored",
			  w->name, (unsigned long long)k->run_id, (unsigned long long)k->token);
		return;
	}
	const void *data = NULL;
	const struct store_ckpt *m = NULL;
	int have = served(s, r->task, k->hash, &m, &data);
	if (have < 0)
		return; /* a read error is not "gone": no answer, the worker asks again */
	struct wire_msg out = {.type = WIRE_CKPT_DATA};
	struct wire_ckpt_chunk *c = &out.u.ckpt;
	c->run_id = k->run_id;
	c->token = k->token;
	memcpy(c->hash, k->hash, WIRE_CKPT_HASH);
	c->offset = k->offset;
	if (!m) {
		log_info(
			"run %llu of %s: the checkpoint it was dispatched with is no longer stored",
			(unsigned long long)r->run_id, r->task);
		c->total = 0;
		send_ack(s, &nm->from, c, CKPT_GONE);
		return;
	}
	uint32_t total = m->size;
	uint32_t len = k->offset < total ? total - k->offset : 0;
	if (len > WIRE_CKPT_CHUNK)
		len = WIRE_CKPT_CHUNK;
	if (!chunk_fits(total, k->offset, len)) {
		log_debug("checkpoint wanted by %s at %u: outside its %u bytes; ignored", w->name,
			  k->offset, total);
		return;
	}
	c->total = total;
	c->len = (uint16_t)len;
	if (len)
		memcpy(c->data, (const uint8_t *)data + k->offset, len);
	s->ckpt->n.served++;
	int rc = net_send(s->net, &nm->from, &out, NULL);
	if (rc < 0)
		log_debug("send CKPT_DATA: %s", strerror(-rc));
}
