/*
 * ckpt.c - a run's checkpoint file at the worker (docs/protocol.md,
 * "Checkpoints"; docs/operations.md "Checkpoints").
 *
 * The file is LOG_DIR/TASK/checkpoint, named to the task by
 * $SCHED_CHECKPOINT_FILE.
 *
 * Before the start: the DISPATCH says whether the task has a stored
 * checkpoint (size, hash).  None: any file an earlier run left is
 * removed.  One that the file already holds (same hash): kept.  Else the
 * worker fetches it chunk by chunk (CKPT_ACK "want", answered by
 * CKPT_DATA), asking again for what is missing every 300 ms, writes it to
 * the file (temporary file, fsync, rename) and only then starts the
 * process.  The run is accepted (persisted) before any of this, as ever,
 * so a lost chunk only delays the start; a download that makes no
 * progress for a lease (at least 30 s) fails the run, and one that
 * outlives the run's lease (or completes while the scheduler holds it)
 * ends it without a start.
 *
 * While the run runs: at every heartbeat the file is looked at (stat,
 * then read and hashed if it changed); new content within
 * worker.checkpoint_max is shipped as CKPT_PUT chunks with the run's
 * token and a version number (seq) that grows, a window of chunks at a
 * time, resent with backoff until the scheduler answers each (part) and
 * then the whole (stored, or refused: stale, too big, bad).  New content
 * replaces an upload still in flight.  At the end the file is read once
 * more and shipped, and ENDED is only sent once that upload has its
 * verdict, so the next run starts with the final checkpoint, or once the
 * scheduler has answered us for a lease since the end without giving one.
 * The file itself (what a task may leave at the path) is ckpt_file.c's.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "clock.h"
#include "log.h"

#define UP_WINDOW      16 /* chunks in flight per upload */
#define DOWN_WINDOW    16 /* chunks asked for at once */
#define DOWN_ASK_MS    300
#define UP_BACKOFF_MIN 250
#define UP_BACKOFF_MAX 4000
#define DOWN_TRIES_MAX 3 /* fetched wholes that do not match before giving up */
#define FINAL_READS    3 /* reads of a file that changes meanwhile at the end */

struct agent_ckpt {
	/* The content the file is known to hold: shipped or started with. */
	bool have_last;
	uint8_t last_hash[WIRE_CKPT_HASH];
	/* The file as last looked at, to skip reading it when unchanged. */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	off_t over_logged; /* size last logged as over the cap */
	mode_t odd_logged; /* kind last logged as not a regular file, 0: none */
	uint64_t seq;	   /* last version shipped */
	/* Upload in flight (up: yes). */
	bool up;
	bool hold_end; /* ENDED waits for its verdict */
	uint64_t up_seq;
	uint8_t up_hash[WIRE_CKPT_HASH];
	uint32_t up_total, up_nchunks, up_nacked;
	uint8_t *up_data, *up_acked;
	int64_t up_next, up_backoff;
	/* The held ENDED's wait: ms counted while the scheduler answers us,
	 * and when last counted.  Bounded whatever the acks say. */
	int64_t hold_waited, hold_tick;
	/* Download before the start (down: yes). */
	bool down;
	uint8_t down_hash[WIRE_CKPT_HASH];
	uint32_t down_total, down_nchunks, down_ngot;
	uint8_t *down_data, *down_got;
	int64_t down_next, down_progress;
	int down_tries; /* wholes that did not match their hash */
};

static void up_free(struct agent_ckpt *c)
{
	free(c->up_data);
	free(c->up_acked);
	c->up_data = c->up_acked = NULL;
	c->up = false;
}

static void down_free(struct agent_ckpt *c)
{
	free(c->down_data);
	free(c->down_got);
	c->down_data = c->down_got = NULL;
	c->down = false;
}

void agent_ckpt_free(struct agent_run *r)
{
	if (!r->ckpt)
		return;
	up_free(r->ckpt);
	down_free(r->ckpt);
	free(r->ckpt);
	r->ckpt = NULL;
}

static struct agent_ckpt *ckpt_of(struct agent_run *r)
{
	if (!r->ckpt) {
		r->ckpt = calloc(1, sizeof(*r->ckpt));
		if (!r->ckpt)
			fatalx("out of memory");
	}
	return r->ckpt;
}

static uint32_t nchunks_of(uint32_t total)
{
	return total ? (total + WIRE_CKPT_CHUNK - 1) / WIRE_CKPT_CHUNK : 1;
}

static uint32_t chunk_len(uint32_t total, uint32_t idx)
{
	uint32_t off = idx * WIRE_CKPT_CHUNK;
	return total - off < WIRE_CKPT_CHUNK ? total - off : WIRE_CKPT_CHUNK;
}

int agent_ckpt_path(const struct agent *a, const char *task, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s/checkpoint", a->opt.log_dir, task) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void send_msg(struct agent *a, const struct wire_msg *m)
{
	int rc = net_send(a->net, &a->opt.scheduler, m, NULL);
	if (rc < 0)
		log_debug("send %s: %s", wire_type_name(m->type), strerror(-rc));
}

/* ---- download ---------------------------------------------------------- */

static void ask_missing(struct agent *a, const struct agent_run *r, struct agent_ckpt *c)
{
	struct wire_msg m = {.type = WIRE_CKPT_ACK};
	struct wire_ckpt_ack *k = &m.u.ckpt_ack;
	k->run_id = r->w.run_id;
	k->token = r->w.token;
	memcpy(k->hash, c->down_hash, WIRE_CKPT_HASH);
	k->status = CKPT_WANT;
	unsigned asked = 0;
	for (uint32_t i = 0; i < c->down_nchunks && asked < DOWN_WINDOW; i++) {
		if (c->down_got[i])
			continue;
		k->offset = i * WIRE_CKPT_CHUNK;
		send_msg(a, &m);
		asked++;
	}
	c->down_next = clock_mono_ms() + DOWN_ASK_MS;
}

static void fail_start(struct agent *a, struct agent_run *r, const char *what, int err)
{
	char why[WSTORE_ERROR_MAX + 1];
	snprintf(why, sizeof(why), "%s: %s", what, strerror(err < 0 ? -err : err));
	agent_kill(a, r, RUN_FAILED, why, SIGKILL);
}

int agent_ckpt_prepare(struct agent *a, struct agent_run *r, const struct wire_dispatch *d)
{
	char dir[WSTORE_PATH_MAX + 1], path[WSTORE_PATH_MAX + 1];
	struct agent_ckpt *c = ckpt_of(r);
	snprintf(dir, sizeof(dir), "%s/%s", a->opt.log_dir, r->w.task);
	int rc = agent_ckpt_path(a, r->w.task, path, sizeof(path));
	if (rc == 0)
		rc = agent_mkdirs(dir);
	/* A directory a task made at the path (or at the temporary one) would
	 * fail every later run of it here: moved aside. */
	char part[WSTORE_PATH_MAX + 16];
	if (rc == 0 && (size_t)snprintf(part, sizeof(part), "%s.part", path) >= sizeof(part))
		rc = -ENAMETOOLONG;
	if (rc == 0)
		rc = agent_ckpt_clear_dir(path, r->w.run_id, r->w.task);
	if (rc == 0)
		rc = agent_ckpt_clear_dir(part, r->w.run_id, r->w.task);
	if (rc < 0) {
		fail_start(a, r, "cannot prepare the checkpoint file", rc);
		return rc;
	}
	if (!d->ckpt) {
		rc = agent_ckpt_remove(path);
		if (rc < 0) {
			fail_start(a, r, "cannot remove the checkpoint an earlier run left", rc);
			return rc;
		}
		c->have_last = false;
		return 1;
	}
	if (d->ckpt_size > WIRE_CKPT_TOTAL_MAX) {
		fail_start(a, r, "dispatched with a checkpoint over the limit", EFBIG);
		return -EFBIG;
	}
	/* The file may hold it already (this worker ran the task last). */
	uint8_t *data;
	size_t size;
	struct stat st;
	if (agent_ckpt_read(path, d->ckpt_size, &data, &size, &st) == 0) {
		uint8_t h[WIRE_CKPT_HASH];
		crypto_generichash(h, sizeof(h), data, size, NULL, 0);
		free(data);
		if (size == d->ckpt_size && memcmp(h, d->ckpt_hash, WIRE_CKPT_HASH) == 0) {
			memcpy(c->last_hash, h, WIRE_CKPT_HASH);
			c->have_last = true;
			log_info("run %llu of %s starts with its checkpoint (%u bytes, already "
				 "here)",
				 (unsigned long long)r->w.run_id, r->w.task, d->ckpt_size);
			return 1;
		}
	}
	c->down = true;
	memcpy(c->down_hash, d->ckpt_hash, WIRE_CKPT_HASH);
	c->down_total = d->ckpt_size;
	c->down_nchunks = nchunks_of(d->ckpt_size);
	c->down_ngot = 0;
	c->down_data = malloc(d->ckpt_size ? d->ckpt_size : 1);
	c->down_got = calloc(c->down_nchunks, 1);
	if (!c->down_data || !c->down_got)
		fatalx("out of memory");
	c->down_progress = clock_mono_ms();
	log_info("run %llu of %s: fetching its checkpoint (%u bytes) before the start",
		 (unsigned long long)r->w.run_id, r->w.task, d->ckpt_size);
	ask_missing(a, r, c);
	return 0;
}

/*
 * Why fetching run r must not start, NULL if it may.  Leases apply to a
 * fetching run as to a running one (DESIGN rule 6): once its lease is
 * over the scheduler may have declared this node dead and run the task
 * elsewhere, and a HOLD says it is fencing this node; either way starting
 * it now could overlap another copy.  A run not started is simply ended.
 */
static const char *no_start(const struct agent_run *r, int64_t now)
{
	if (r->hold_seq)
		return "not started: the scheduler is fencing this node (lease on hold) while "
		       "it fetched its checkpoint";
	if (now > r->lease_until)
		return "not started: its lease ended while it fetched its checkpoint";
	return NULL;
}

/* Fetching run r ends without starting (why). */
static void down_fail(struct agent *a, struct agent_run *r, const char *why)
{
	down_free(r->ckpt);
	agent_kill(a, r, RUN_FAILED, why, SIGKILL);
}

/* The download is whole (or the checkpoint is gone): write it, start. */
static void down_done(struct agent *a, struct agent_run *r, bool gone)
{
	struct agent_ckpt *c = r->ckpt;
	const char *why = no_start(r, clock_mono_ms());
	if (why) {
		down_fail(a, r, why);
		return;
	}
	char path[WSTORE_PATH_MAX + 1];
	int rc = agent_ckpt_path(a, r->w.task, path, sizeof(path));
	if (rc == 0 && gone) {
		log_warnx(
			"run %llu of %s: its checkpoint is no longer stored (cleared?); it starts "
			"without one",
			(unsigned long long)r->w.run_id, r->w.task);
		rc = agent_ckpt_remove(path);
		c->have_last = false;
	} else if (rc == 0) {
		rc = agent_ckpt_write(path, c->down_data, c->down_total);
		memcpy(c->last_hash, c->down_hash, WIRE_CKPT_HASH);
		c->have_last = rc == 0;
	}
	down_free(c);
	if (rc < 0) {
		fail_start(a, r, "cannot write the checkpoint file", rc);
		return;
	}
	if (!gone)
		log_info("run %llu of %s: checkpoint fetched", (unsigned long long)r->w.run_id,
			 r->w.task);
	agent_spawn(a, r);
}

void agent_ckpt_on_data(struct agent *a, const struct net_msg *nm)
{
	const struct wire_ckpt_chunk *k = &nm->msg.u.ckpt;
	struct agent_run *r = agent_run_find(a, k->run_id);
	struct agent_ckpt *c = r ? r->ckpt : NULL;
	if (!c || !c->down || r->w.token != k->token || r->w.phase != WRUN_ACCEPTED ||
	    k->total != c->down_total || memcmp(k->hash, c->down_hash, WIRE_CKPT_HASH) != 0)
		return;
	uint32_t idx = k->offset / WIRE_CKPT_CHUNK;
	if (k->offset % WIRE_CKPT_CHUNK || idx >= c->down_nchunks ||
	    k->len != (k->total ? chunk_len(k->total, idx) : 0) || c->down_got[idx])
		return;
	if (k->len)
		memcpy(c->down_data + k->offset, k->data, k->len);
	c->down_got[idx] = 1;
	c->down_ngot++;
	c->down_progress = clock_mono_ms();
	if (c->down_ngot < c->down_nchunks) {
		/* Keep the window full: ask for the next missing one. */
		if (c->down_ngot % (DOWN_WINDOW / 2) == 0)
			ask_missing(a, r, c);
		return;
	}
	uint8_t h[WIRE_CKPT_HASH];
	crypto_generichash(h, sizeof(h), c->down_data, c->down_total, NULL, 0);
	if (memcmp(h, c->down_hash, WIRE_CKPT_HASH) != 0) {
		if (++c->down_tries >= DOWN_TRIES_MAX) {
			down_fail(a, r,
				  "the checkpoint fetched from the scheduler does not match its "
				  "hash");
			return;
		}
		log_warnx("run %llu of %s: the fetched checkpoint does not match its hash; "
			  "fetching it again",
			  (unsigned long long)r->w.run_id, r->w.task);
		memset(c->down_got, 0, c->down_nchunks);
		c->down_ngot = 0;
		ask_missing(a, r, c);
		return;
	}
	down_done(a, r, false);
}

/* ---- upload ------------------------------------------------------------ */

static void send_chunk(struct agent *a, const struct agent_run *r, const struct agent_ckpt *c,
		       uint32_t idx)
{
	struct wire_msg m = {.type = WIRE_CKPT_PUT};
	struct wire_ckpt_chunk *k = &m.u.ckpt;
	k->run_id = r->w.run_id;
	k->token = r->w.token;
	k->seq = c->up_seq;
	k->total = c->up_total;
	memcpy(k->hash, c->up_hash, WIRE_CKPT_HASH);
	k->offset = idx * WIRE_CKPT_CHUNK;
	k->len = (uint16_t)(c->up_total ? chunk_len(c->up_total, idx) : 0);
	if (k->len)
		memcpy(k->data, c->up_data + k->offset, k->len);
	send_msg(a, &m);
}

/* Send the first UP_WINDOW chunks not yet acknowledged. */
static void send_window(struct agent *a, const struct agent_run *r, struct agent_ckpt *c)
{
	unsigned sent = 0;
	for (uint32_t i = 0; i < c->up_nchunks && sent < UP_WINDOW; i++) {
		if (c->up_acked[i])
			continue;
		send_chunk(a, r, c, i);
		sent++;
	}
}

/* Ship data (size bytes, hash h) as the run's checkpoint; takes data. */
static void up_start(struct agent *a, struct agent_run *r, uint8_t *data, size_t size,
		     const uint8_t *h)
{
	struct agent_ckpt *c = r->ckpt;
	up_free(c);
	c->up = true;
	/* Versions grow across workerd restarts too: wall time, strictly up. */
	uint64_t now = (uint64_t)clock_wall_ms();
	c->up_seq = c->seq = now > c->seq ? now : c->seq + 1;
	memcpy(c->up_hash, h, WIRE_CKPT_HASH);
	c->up_total = (uint32_t)size;
	c->up_nchunks = nchunks_of(c->up_total);
	c->up_nacked = 0;
	c->up_data = data;
	c->up_acked = calloc(c->up_nchunks, 1);
	if (!c->up_acked)
		fatalx("out of memory");
	c->up_backoff = UP_BACKOFF_MIN;
	c->up_next = clock_mono_ms() + c->up_backoff;
	log_debug("run %llu of %s: shipping its checkpoint (%zu bytes, version %llu)",
		  (unsigned long long)r->w.run_id, r->w.task, size, (unsigned long long)c->up_seq);
	send_window(a, r, c);
}

/* The file is not a regular one (mode): say so in note, and in the log
 * once per run and kind. */
static void refuse_odd(const struct agent_run *r, struct agent_ckpt *c, mode_t mode, char *note,
		       size_t len)
{
	const char *kind = agent_ckpt_kind(mode);
	if (note)
		snprintf(note, len, "checkpoint file is %s, not a regular file; not shipped", kind);
	if ((c->odd_logged & S_IFMT) != (mode & S_IFMT))
		log_warnx("run %llu of %s: its checkpoint file is %s, not a regular file; not "
			  "shipped",
			  (unsigned long long)r->w.run_id, r->w.task, kind);
	c->odd_logged = mode;
}

/*
 * Look at the run's file; ship it if its content is new.  force: read it
 * even if stat says unchanged, and again if it changes while read (the
 * end).  note (may be NULL) receives why nothing was shipped when the
 * file is over the cap, not a regular file, or never read whole.
 */
static void look(struct agent *a, struct agent_run *r, bool force, char *note, size_t len)
{
	struct agent_ckpt *c = ckpt_of(r);
	char path[WSTORE_PATH_MAX + 1];
	struct stat st;
	if (agent_ckpt_path(a, r->w.task, path, sizeof(path)) < 0 || lstat(path, &st) < 0)
		return; /* no file: nothing to ship (the stored one stays) */
	if (!S_ISREG(st.st_mode)) {
		refuse_odd(r, c, st.st_mode, note, len);
		return;
	}
	if (!force && st.st_dev == c->dev && st.st_ino == c->ino && st.st_size == c->size &&
	    st.st_mtim.tv_sec == c->mtime.tv_sec && st.st_mtim.tv_nsec == c->mtime.tv_nsec)
		return;
	uint8_t *data;
	size_t size;
	int rc, tries = 0;
	do
		rc = agent_ckpt_read(path, (size_t)a->opt.checkpoint_max, &data, &size, &st);
	while (rc == -EAGAIN && force && ++tries < FINAL_READS);
	if (rc == -EINVAL) {
		refuse_odd(r, c, st.st_mode, note, len);
		return;
	}
	if (rc == -EAGAIN && note)
		snprintf(note, len, "checkpoint file kept changing while read; not shipped");
	if (rc == -EFBIG) {
		if (note)
			snprintf(note, len,
				 "checkpoint of %zu bytes over worker.checkpoint_max (%lld); "
				 "not shipped",
				 size, (long long)a->opt.checkpoint_max);
		if (c->over_logged != (off_t)size)
			log_warnx("run %llu of %s: checkpoint of %zu bytes is over "
				  "worker.checkpoint_max (%lld); not shipped",
				  (unsigned long long)r->w.run_id, r->w.task, size,
				  (long long)a->opt.checkpoint_max);
		c->over_logged = (off_t)size;
	}
	if (rc < 0 && rc != -EFBIG)
		return; /* gone or changing: next time */
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->size = st.st_size;
	c->mtime = st.st_mtim;
	if (rc < 0)
		return;
	uint8_t h[WIRE_CKPT_HASH];
	crypto_generichash(h, sizeof(h), data, size, NULL, 0);
	bool same = c->up ? memcmp(h, c->up_hash, WIRE_CKPT_HASH) == 0
			  : c->have_last && memcmp(h, c->last_hash, WIRE_CKPT_HASH) == 0;
	if (same) {
		free(data);
		return;
	}
	up_start(a, r, data, size, h);
}

void agent_ckpt_poll(struct agent *a)
{
	for (size_t i = 0; i < a->nruns; i++) {
		struct agent_run *r = &a->runs[i];
		if (r->w.phase == WRUN_RUNNING && r->has_proc && !r->exited && !r->draining &&
		    r->kill_state != RUN_LOST)
			look(a, r, false, NULL, 0);
	}
}

void agent_ckpt_final(struct agent *a, struct agent_run *r, char *note, size_t len)
{
	if (note && len)
		note[0] = '\0';
	look(a, r, true, note, len);
}

bool agent_ckpt_holds_end(const struct agent_run *r)
{
	if (!r->ckpt || !r->ckpt->up)
		return false;
	if (!r->ckpt->hold_end) {
		r->ckpt->hold_end = true;
		r->ckpt->hold_waited = 0;
		r->ckpt->hold_tick = clock_mono_ms();
	}
	return true;
}

static const char *verdict_text(uint8_t status)
{
	switch (status) {
	case CKPT_STORED:
		return "stored";
	case CKPT_STALE:
		return "refused by the scheduler: this run no longer holds the task's current "
		       "token";
	case CKPT_TOO_BIG:
		return "refused by the scheduler: over scheduler.checkpoint_max";
	case CKPT_BAD:
		return "refused by the scheduler: it did not arrive intact";
	default:
		return "?";
	}
}

/* The upload in flight is over (why: NULL if stored, else what became of
 * it): this content is not shipped again; a held ENDED goes now, with why
 * added to the run's error. */
static void up_settled(struct agent *a, struct agent_run *r, const char *why)
{
	struct agent_ckpt *c = r->ckpt;
	memcpy(c->last_hash, c->up_hash, WIRE_CKPT_HASH);
	c->have_last = true;
	bool hold = c->hold_end;
	c->hold_end = false;
	up_free(c);
	if (!hold || r->w.phase != WRUN_ENDED)
		return;
	if (why) {
		size_t n = strlen(r->w.error);
		snprintf(r->w.error + n, sizeof(r->w.error) - n, "%scheckpoint %s", n ? "; " : "",
			 why);
	}
	agent_send_ended(a, r);
}

void agent_ckpt_on_ack(struct agent *a, const struct net_msg *nm)
{
	const struct wire_ckpt_ack *k = &nm->msg.u.ckpt_ack;
	struct agent_run *r = agent_run_find(a, k->run_id);
	struct agent_ckpt *c = r ? r->ckpt : NULL;
	if (!c || r->w.token != k->token)
		return;
	if (k->status == CKPT_GONE) {
		if (c->down && memcmp(k->hash, c->down_hash, WIRE_CKPT_HASH) == 0 &&
		    r->w.phase == WRUN_ACCEPTED)
			down_done(a, r, true);
		return;
	}
	if (!c->up || k->seq != c->up_seq || memcmp(k->hash, c->up_hash, WIRE_CKPT_HASH) != 0)
		return; /* about content that has been replaced since */
	if (k->status == CKPT_PART) {
		uint32_t idx = k->offset / WIRE_CKPT_CHUNK;
		if (k->offset % WIRE_CKPT_CHUNK || idx >= c->up_nchunks || c->up_acked[idx])
			return;
		c->up_acked[idx] = 1;
		c->up_nacked++;
		/* Progress: resend what is missing a short while from now. */
		c->up_backoff = UP_BACKOFF_MIN;
		c->up_next = clock_mono_ms() + c->up_backoff;
		/* The window slides: send the next chunk not yet sent. */
		uint32_t next = idx + UP_WINDOW;
		if (next < c->up_nchunks && !c->up_acked[next])
			send_chunk(a, r, c, next);
		return;
	}
	if (k->status < CKPT_STORED || k->status > CKPT_BAD)
		return;
	if (k->status == CKPT_STORED)
		log_info("run %llu of %s: checkpoint (%u bytes) stored",
			 (unsigned long long)r->w.run_id, r->w.task, c->up_total);
	else
		log_warnx("run %llu of %s: checkpoint (%u bytes) %s",
			  (unsigned long long)r->w.run_id, r->w.task, c->up_total,
			  verdict_text(k->status));
	up_settled(a, r, k->status == CKPT_STORED ? NULL : verdict_text(k->status));
}

void agent_ckpt_tick(struct agent *a)
{
	int64_t now = clock_mono_ms();
	int64_t stall = a->lease_ms > 30000 ? a->lease_ms : 30000;
	for (size_t i = 0; i < a->nruns; i++) {
		struct agent_run *r = &a->runs[i];
		struct agent_ckpt *c = r->ckpt;
		if (!c)
			continue;
		if (c->down && r->w.phase == WRUN_ACCEPTED) {
			if (now - c->down_progress > stall) {
				down_fail(a, r,
					  "could not fetch its checkpoint from the scheduler");
				continue;
			}
			if (now > r->lease_until) {
				down_fail(a, r, no_start(r, now));
				continue;
			}
			if (now >= c->down_next)
				ask_missing(a, r, c);
		}
		/* A final upload holds the run's ENDED: give up on it once the
		 * scheduler has answered us (welcomed) for a lease (at least
		 * 30 s) since the end without settling it, rather than never
		 * report the end.  `part` acks do not extend it (a scheduler
		 * that loses the pieces acks them forever); a scheduler silent
		 * altogether does not count (the end waits for it). */
		if (c->up && c->hold_end) {
			if (a->welcomed)
				c->hold_waited += now - c->hold_tick;
			c->hold_tick = now;
			if (c->hold_waited > stall) {
				log_warnx("run %llu of %s: the scheduler did not settle its final "
					  "checkpoint; reporting the end without it",
					  (unsigned long long)r->w.run_id, r->w.task);
				up_settled(a, r, "not acknowledged by the scheduler");
				continue;
			}
		}
		if (c->up && now >= c->up_next) {
			/* Every chunk is in but no verdict came: the scheduler lost
			 * the pieces (it restarted); all of them again. */
			if (c->up_nacked == c->up_nchunks) {
				memset(c->up_acked, 0, c->up_nchunks);
				c->up_nacked = 0;
			}
			send_window(a, r, c);
			c->up_backoff = c->up_backoff * 2 > UP_BACKOFF_MAX ? UP_BACKOFF_MAX
									   : c->up_backoff * 2;
			c->up_next = now + c->up_backoff;
		}
	}
}
