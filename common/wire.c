/*
 * wire.c - the message codec of wire.h: typed messages <-> body bytes.
 *
 * Message catalogue (the body layouts; integers big-endian, "str" is a
 * u16 length then that many bytes with no NUL, "runs" is a u8 count then
 * count x {u64 run_id, u64 token, u8 state}):
 *
 *    1 HELLO      str name(63) u32 slots  str labels(255)  u32 lease_ms
 *    2 WELCOME    u64 sched_incarnation   u32 heartbeat_ms u32 lease_ms
 *    3 HEARTBEAT  str name(63) u32 slots  runs(32)
 *    4 LEASE      u64 hb_seq   u32 lease_ms runs(32)
 *    5 DISPATCH   u64 run_id u64 token u32 attempt i64 scheduled_for
 *                 u32 timeout_ms u32 lease_ms u8 reason str task(63)
 *                 str command(900) str node(63) u64 incarnation
 *                 u8 ckpt u32 ckpt_size 16 bytes ckpt_hash
 *    6 ACCEPT     u64 run_id u64 token
 *    7 REJECT     u64 run_id u64 token u8 code str reason(200)
 *    8 STARTED    u64 run_id u64 token i64 started_at_ms u32 pid
 *    9 ENDED      u64 run_id u64 token u8 state i32 exit_code i32 signal
 *                 i64 started_at_ms i64 finished_at_ms str tail(400)
 *                 str error(200) str log_path(200)
 *   10 ACK        u8 acked_type u64 run_id u64 token
 *   11 CANCEL     u64 run_id u64 token
 *   12 CKPT_PUT   u64 run_id u64 token u64 seq u32 total 16 bytes hash
 *                 u32 offset u16 len, len bytes (<= 1024)
 *   13 CKPT_DATA  same as CKPT_PUT
 *   14 CKPT_ACK   u64 run_id u64 token u64 seq 16 bytes hash u32 offset
 *                 u8 status
 *   20 CTL_REQ    u64 req_id u32 page u8 json u8 argc, argc x str
 *                 (argc <= 32, all strings together <= 900 bytes)
 *   30 GOSSIP     u16 len, len bytes (<= 1100, a SWIM payload)
 *   21 CTL_RESP   u64 req_id u32 page u32 npages u8 exit_code
 *                 u16 len, len bytes of data (<= 1000, any byte value)
 *
 * The codec checks structure only: lengths, counts, NUL bytes, trailing
 * bytes.  Enum-valued fields (states, reasons, codes, verdicts) travel
 * as given and are validated by the handler that knows what it expects.
 *
 * Both directions go through a cursor with a sticky error: once a put or
 * get fails, later ones do nothing and the error is reported at the end,
 * so a codec function is a straight list of fields with no checks in
 * between.  Per-type functions are found through a table indexed by the
 * message type.
 */
#include "wire.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* ---- cursors ---------------------------------------------------------- */

struct wenc {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;                 /* 0, -EMSGSIZE (no room), -EINVAL (limits) */
};

struct wdec {
	const uint8_t *buf;
	size_t len;
	size_t off;
	bool bad;                /* any failure: the body is -EBADMSG */
};

/* Reserve n bytes at the end of the output; NULL (and err set) if none. */
static uint8_t *enc_room(struct wenc *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		w->err = -EMSGSIZE;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static void put_be(struct wenc *w, uint64_t v, size_t n)
{
	uint8_t *p = enc_room(w, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void put_u8(struct wenc *w, uint8_t v) { put_be(w, v, 1); }
static void put_u16(struct wenc *w, uint16_t v) { put_be(w, v, 2); }
static void put_u32(struct wenc *w, uint32_t v) { put_be(w, v, 4); }
static void put_u64(struct wenc *w, uint64_t v) { put_be(w, v, 8); }
static void put_i32(struct wenc *w, int32_t v) { put_be(w, (uint32_t)v, 4); }
static void put_i64(struct wenc *w, int64_t v) { put_be(w, (uint64_t)v, 8); }

/* strlen(s), reading at most max + 1 bytes; max + 1 means "too long". */
static size_t bounded_len(const char *s, size_t max)
{
	const char *z = memchr(s, '\0', max + 1);
	return z ? (size_t)(z - s) : max + 1;
}

static void put_bytes(struct wenc *w, const void *src, size_t n)
{
	uint8_t *p = enc_room(w, n);
	if (p && n)
		memcpy(p, src, n);
}

/*
 * A string of at most max bytes.  s is read only up to max + 1 bytes, so
 * a field declared char[max + 1] that lacks its NUL is refused, not
 * overrun.
 */
static void put_str(struct wenc *w, const char *s, size_t max)
{
	if (w->err)
		return;
	if (!s) {
		w->err = -EINVAL;
		return;
	}
	size_t n = bounded_len(s, max);
	if (n > max) {
		w->err = -EINVAL;
		return;
	}
	put_u16(w, (uint16_t)n);
	put_bytes(w, s, n);
}

/* n bytes of input, or NULL (and the body marked bad) if fewer remain. */
static const uint8_t *dec_take(struct wdec *r, size_t n)
{
	if (r->bad)
		return NULL;
	if (n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->buf + r->off;
	r->off += n;
	return p;
}

static uint64_t get_be(struct wdec *r, size_t n)
{
	const uint8_t *p = dec_take(r, n);
	uint64_t v = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint8_t get_u8(struct wdec *r) { return (uint8_t)get_be(r, 1); }
static uint16_t get_u16(struct wdec *r) { return (uint16_t)get_be(r, 2); }
static uint32_t get_u32(struct wdec *r) { return (uint32_t)get_be(r, 4); }
static uint64_t get_u64(struct wdec *r) { return get_be(r, 8); }
static int32_t get_i32(struct wdec *r) { return (int32_t)get_u32(r); }
static int64_t get_i64(struct wdec *r) { return (int64_t)get_u64(r); }

/*
 * A string of at most max bytes into dst (room for max + 1), NUL
 * terminated.  Returns its length (0 on failure, with dst = "").
 */
static size_t get_str(struct wdec *r, char *dst, size_t max)
{
	dst[0] = '\0';
	size_t n = get_u16(r);
	if (r->bad)
		return 0;
	if (n > max) {
		r->bad = true;
		return 0;
	}
	const uint8_t *p = dec_take(r, n);
	if (!p)
		return 0;
	if (memchr(p, '\0', n)) {
		r->bad = true;
		return 0;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return n;
}

/* Exactly n bytes into dst (zeroed on failure). */
static void get_bytes(struct wdec *r, void *dst, size_t n)
{
	const uint8_t *p = dec_take(r, n);
	if (p && n)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

/* ---- shared pieces ---------------------------------------------------- */

static void enc_runs(struct wenc *w, uint32_t nruns, const struct wire_run_entry *runs)
{
	if (nruns > WIRE_RUNS_MAX) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	put_u8(w, (uint8_t)nruns);
	for (uint32_t i = 0; i < nruns; i++) {
		put_u64(w, runs[i].run_id);
		put_u64(w, runs[i].token);
		put_u8(w, runs[i].state);
	}
}

static void dec_runs(struct wdec *r, uint32_t *nruns, struct wire_run_entry *runs)
{
	uint32_t n = get_u8(r);
	if (n > WIRE_RUNS_MAX) {
		r->bad = true;
		return;
	}
	*nruns = n;
	for (uint32_t i = 0; i < n; i++) {
		runs[i].run_id = get_u64(r);
		runs[i].token = get_u64(r);
		runs[i].state = get_u8(r);
	}
}

/* ---- one pair per message type ---------------------------------------- */

static void enc_hello(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_hello *h = &m->u.hello;
	put_str(w, h->name, WIRE_NAME_MAX);
	put_u32(w, h->slots);
	put_str(w, h->labels, WIRE_LABELS_MAX);
	put_u32(w, h->lease_ms);
	put_u64(w, h->prev_incarnation);
}

static void dec_hello(struct wdec *r, struct wire_msg *m)
{
	struct wire_hello *h = &m->u.hello;
	get_str(r, h->name, WIRE_NAME_MAX);
	h->slots = get_u32(r);
	get_str(r, h->labels, WIRE_LABELS_MAX);
	h->lease_ms = get_u32(r);
	h->prev_incarnation = get_u64(r);
}

static void enc_welcome(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_welcome *x = &m->u.welcome;
	put_u64(w, x->sched_incarnation);
	put_u32(w, x->heartbeat_ms);
	put_u32(w, x->lease_ms);
}

static void dec_welcome(struct wdec *r, struct wire_msg *m)
{
	struct wire_welcome *x = &m->u.welcome;
	x->sched_incarnation = get_u64(r);
	x->heartbeat_ms = get_u32(r);
	x->lease_ms = get_u32(r);
}

static void enc_heartbeat(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_heartbeat *h = &m->u.heartbeat;
	put_str(w, h->name, WIRE_NAME_MAX);
	put_u32(w, h->slots);
	enc_runs(w, h->nruns, h->runs);
}

static void dec_heartbeat(struct wdec *r, struct wire_msg *m)
{
	struct wire_heartbeat *h = &m->u.heartbeat;
	get_str(r, h->name, WIRE_NAME_MAX);
	h->slots = get_u32(r);
	dec_runs(r, &h->nruns, h->runs);
}

static void enc_lease(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_lease *l = &m->u.lease;
	put_u64(w, l->hb_seq);
	put_u32(w, l->lease_ms);
	enc_runs(w, l->nruns, l->runs);
}

static void dec_lease(struct wdec *r, struct wire_msg *m)
{
	struct wire_lease *l = &m->u.lease;
	l->hb_seq = get_u64(r);
	l->lease_ms = get_u32(r);
	dec_runs(r, &l->nruns, l->runs);
}

static void enc_dispatch(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_dispatch *d = &m->u.dispatch;
	put_u64(w, d->run_id);
	put_u64(w, d->token);
	put_u32(w, d->attempt);
	put_i64(w, d->scheduled_for);
	put_u32(w, d->timeout_ms);
	put_u32(w, d->lease_ms);
	put_u8(w, d->reason);
	put_str(w, d->task, WIRE_NAME_MAX);
	put_str(w, d->command, WIRE_COMMAND_MAX);
	put_str(w, d->node, WIRE_NAME_MAX);
	put_u64(w, d->incarnation);
	put_u8(w, d->ckpt);
	put_u32(w, d->ckpt_size);
	put_bytes(w, d->ckpt_hash, WIRE_CKPT_HASH);
}

static void dec_dispatch(struct wdec *r, struct wire_msg *m)
{
	struct wire_dispatch *d = &m->u.dispatch;
	d->run_id = get_u64(r);
	d->token = get_u64(r);
	d->attempt = get_u32(r);
	d->scheduled_for = get_i64(r);
	d->timeout_ms = get_u32(r);
	d->lease_ms = get_u32(r);
	d->reason = get_u8(r);
	get_str(r, d->task, WIRE_NAME_MAX);
	get_str(r, d->command, WIRE_COMMAND_MAX);
	get_str(r, d->node, WIRE_NAME_MAX);
	d->incarnation = get_u64(r);
	d->ckpt = get_u8(r);
	d->ckpt_size = get_u32(r);
	get_bytes(r, d->ckpt_hash, WIRE_CKPT_HASH);
}

static void enc_ref(struct wenc *w, const struct wire_msg *m)
{
	put_u64(w, m->u.ref.run_id);
	put_u64(w, m->u.ref.token);
}

static void dec_ref(struct wdec *r, struct wire_msg *m)
{
	m->u.ref.run_id = get_u64(r);
	m->u.ref.token = get_u64(r);
}

static void enc_reject(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_reject *x = &m->u.reject;
	put_u64(w, x->run_id);
	put_u64(w, x->token);
	put_u8(w, x->code);
	put_str(w, x->reason, WIRE_ERROR_MAX);
}

static void dec_reject(struct wdec *r, struct wire_msg *m)
{
	struct wire_reject *x = &m->u.reject;
	x->run_id = get_u64(r);
	x->token = get_u64(r);
	x->code = get_u8(r);
	get_str(r, x->reason, WIRE_ERROR_MAX);
}

static void enc_started(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_started *s = &m->u.started;
	put_u64(w, s->run_id);
	put_u64(w, s->token);
	put_i64(w, s->started_at_ms);
	put_u32(w, s->pid);
}

static void dec_started(struct wdec *r, struct wire_msg *m)
{
	struct wire_started *s = &m->u.started;
	s->run_id = get_u64(r);
	s->token = get_u64(r);
	s->started_at_ms = get_i64(r);
	s->pid = get_u32(r);
}

static void enc_ended(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_ended *e = &m->u.ended;
	put_u64(w, e->run_id);
	put_u64(w, e->token);
	put_u8(w, e->state);
	put_i32(w, e->exit_code);
	put_i32(w, e->signal);
	put_i64(w, e->started_at_ms);
	put_i64(w, e->finished_at_ms);
	put_str(w, e->tail, WIRE_TAIL_MAX);
	put_str(w, e->error, WIRE_ERROR_MAX);
	put_str(w, e->log_path, WIRE_PATH_MAX);
}

static void dec_ended(struct wdec *r, struct wire_msg *m)
{
	struct wire_ended *e = &m->u.ended;
	e->run_id = get_u64(r);
	e->token = get_u64(r);
	e->state = get_u8(r);
	e->exit_code = get_i32(r);
	e->signal = get_i32(r);
	e->started_at_ms = get_i64(r);
	e->finished_at_ms = get_i64(r);
	get_str(r, e->tail, WIRE_TAIL_MAX);
	get_str(r, e->error, WIRE_ERROR_MAX);
	get_str(r, e->log_path, WIRE_PATH_MAX);
}

static void enc_ack(struct wenc *w, const struct wire_msg *m)
{
	put_u8(w, m->u.ack.acked_type);
	put_u64(w, m->u.ack.run_id);
	put_u64(w, m->u.ack.token);
}

static void dec_ack(struct wdec *r, struct wire_msg *m)
{
	m->u.ack.acked_type = get_u8(r);
	m->u.ack.run_id = get_u64(r);
	m->u.ack.token = get_u64(r);
}

/* The limits are structural (total, len); the chunk's place in the
 * whole (offset a multiple of WIRE_CKPT_CHUNK, len matching) is the
 * handler's to check. */
static void enc_ckpt(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_ckpt_chunk *c = &m->u.ckpt;
	if (c->len > WIRE_CKPT_CHUNK || c->total > WIRE_CKPT_TOTAL_MAX) {
		w->err = -EINVAL;
		return;
	}
	put_u64(w, c->run_id);
	put_u64(w, c->token);
	put_u64(w, c->seq);
	put_u32(w, c->total);
	put_bytes(w, c->hash, WIRE_CKPT_HASH);
	put_u32(w, c->offset);
	put_u16(w, c->len);
	put_bytes(w, c->data, c->len);
}

static void dec_ckpt(struct wdec *r, struct wire_msg *m)
{
	struct wire_ckpt_chunk *c = &m->u.ckpt;
	c->run_id = get_u64(r);
	c->token = get_u64(r);
	c->seq = get_u64(r);
	c->total = get_u32(r);
	get_bytes(r, c->hash, WIRE_CKPT_HASH);
	c->offset = get_u32(r);
	c->len = get_u16(r);
	if (c->len > WIRE_CKPT_CHUNK || c->total > WIRE_CKPT_TOTAL_MAX) {
		r->bad = true;
		c->len = 0;
		return;
	}
	get_bytes(r, c->data, c->len);
}

static void enc_ckpt_ack(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_ckpt_ack *k = &m->u.ckpt_ack;
	put_u64(w, k->run_id);
	put_u64(w, k->token);
	put_u64(w, k->seq);
	put_bytes(w, k->hash, WIRE_CKPT_HASH);
	put_u32(w, k->offset);
	put_u8(w, k->status);
}

static void dec_ckpt_ack(struct wdec *r, struct wire_msg *m)
{
	struct wire_ckpt_ack *k = &m->u.ckpt_ack;
	k->run_id = get_u64(r);
	k->token = get_u64(r);
	k->seq = get_u64(r);
	get_bytes(r, k->hash, WIRE_CKPT_HASH);
	k->offset = get_u32(r);
	k->status = get_u8(r);
}

/*
 * argv[i] is read wherever it points (it need not point into args, so a
 * hand-built request works too); the limits are the same as on decode.
 */
static void enc_ctl_req(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_ctl_req *q = &m->u.ctl_req;
	size_t total = 0;

	if (q->argc > WIRE_CTL_ARGC_MAX) {
		w->err = -EINVAL;
		return;
	}
	put_u64(w, q->req_id);
	put_u32(w, q->page);
	put_u8(w, q->json);
	put_u8(w, q->argc);
	for (size_t i = 0; i < q->argc && !w->err; i++) {
		size_t n = q->argv[i] ? bounded_len(q->argv[i], WIRE_CTL_ARGS_MAX) : 0;
		total += n;
		if (!q->argv[i] || total > WIRE_CTL_ARGS_MAX) {
			w->err = -EINVAL;
			return;
		}
		put_str(w, q->argv[i], WIRE_CTL_ARGS_MAX);
	}
}

/* Strings land NUL-separated in args; argv[i] points into this struct. */
static void dec_ctl_req(struct wdec *r, struct wire_msg *m)
{
	struct wire_ctl_req *q = &m->u.ctl_req;
	size_t off = 0, total = 0;

	q->req_id = get_u64(r);
	q->page = get_u32(r);
	q->json = get_u8(r);
	q->argc = get_u8(r);
	if (q->argc > WIRE_CTL_ARGC_MAX) {
		r->bad = true;
		q->argc = 0;
		return;
	}
	for (size_t i = 0; i < q->argc && !r->bad; i++) {
		/* Room left for this string and its NUL, and the budget. */
		size_t max = WIRE_CTL_ARGS_MAX - total;
		size_t n = get_str(r, q->args + off, max);
		q->argv[i] = q->args + off;
		total += n;
		off += n + 1;
	}
	if (r->bad)
		q->argc = 0;
}

static void enc_ctl_resp(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_ctl_resp *p = &m->u.ctl_resp;
	if (p->len > WIRE_CTL_PAGE_MAX) {
		w->err = -EINVAL;
		return;
	}
	put_u64(w, p->req_id);
	put_u32(w, p->page);
	put_u32(w, p->npages);
	put_u8(w, p->exit_code);
	put_u16(w, p->len);
	put_bytes(w, p->data, p->len);
}

static void dec_ctl_resp(struct wdec *r, struct wire_msg *m)
{
	struct wire_ctl_resp *p = &m->u.ctl_resp;
	p->req_id = get_u64(r);
	p->page = get_u32(r);
	p->npages = get_u32(r);
	p->exit_code = get_u8(r);
	p->len = get_u16(r);
	if (p->len > WIRE_CTL_PAGE_MAX) {
		r->bad = true;
		p->len = 0;
		return;
	}
	const uint8_t *src = dec_take(r, p->len);
	if (src && p->len)
		memcpy(p->data, src, p->len);
}

static void enc_gossip(struct wenc *w, const struct wire_msg *m)
{
	const struct wire_gossip *g = &m->u.gossip;
	if (g->len > WIRE_GOSSIP_MAX) {
		w->err = -EINVAL;
		return;
	}
	put_u16(w, g->len);
	put_bytes(w, g->data, g->len);
}

static void dec_gossip(struct wdec *r, struct wire_msg *m)
{
	struct wire_gossip *g = &m->u.gossip;
	g->len = get_u16(r);
	if (g->len > WIRE_GOSSIP_MAX) {
		r->bad = true;
		g->len = 0;
		return;
	}
	const uint8_t *src = dec_take(r, g->len);
	if (src && g->len)
		memcpy(g->data, src, g->len);
}

/* ---- the table -------------------------------------------------------- */

struct wire_codec {
	const char *name;
	void (*enc)(struct wenc *w, const struct wire_msg *m);
	void (*dec)(struct wdec *r, struct wire_msg *m);
};

static const struct wire_codec codecs[WIRE_TYPE_MAX + 1] = {
	[WIRE_HELLO] = { "HELLO", enc_hello, dec_hello },
	[WIRE_WELCOME] = { "WELCOME", enc_welcome, dec_welcome },
	[WIRE_HEARTBEAT] = { "HEARTBEAT", enc_heartbeat, dec_heartbeat },
	[WIRE_LEASE] = { "LEASE", enc_lease, dec_lease },
	[WIRE_DISPATCH] = { "DISPATCH", enc_dispatch, dec_dispatch },
	[WIRE_ACCEPT] = { "ACCEPT", enc_ref, dec_ref },
	[WIRE_REJECT] = { "REJECT", enc_reject, dec_reject },
	[WIRE_STARTED] = { "STARTED", enc_started, dec_started },
	[WIRE_ENDED] = { "ENDED", enc_ended, dec_ended },
	[WIRE_ACK] = { "ACK", enc_ack, dec_ack },
	[WIRE_CANCEL] = { "CANCEL", enc_ref, dec_ref },
	[WIRE_CKPT_PUT] = { "CKPT_PUT", enc_ckpt, dec_ckpt },
	[WIRE_CKPT_DATA] = { "CKPT_DATA", enc_ckpt, dec_ckpt },
	[WIRE_CKPT_ACK] = { "CKPT_ACK", enc_ckpt_ack, dec_ckpt_ack },
	[WIRE_CTL_REQ] = { "CTL_REQ", enc_ctl_req, dec_ctl_req },
	[WIRE_CTL_RESP] = { "CTL_RESP", enc_ctl_resp, dec_ctl_resp },
	[WIRE_GOSSIP] = { "GOSSIP", enc_gossip, dec_gossip },
};

/*
 * Largest bodies, from the catalogue above: every message at its limits
 * fits one datagram, so encode's WIRE_BODY_MAX check only ever fires on
 * a caller's bug, and the limits cannot silently outgrow the datagram.
 */
#define STR(max) (2 + (max))
#define RUNS (1 + WIRE_RUNS_MAX * 17)
_Static_assert(STR(WIRE_NAME_MAX) + 4 + STR(WIRE_LABELS_MAX) + 4 <= WIRE_BODY_MAX, "HELLO");
_Static_assert(STR(WIRE_NAME_MAX) + 4 + RUNS <= WIRE_BODY_MAX, "HEARTBEAT");
_Static_assert(8 + 8 + 4 + 8 + 4 + 4 + 1 + STR(WIRE_NAME_MAX) + STR(WIRE_COMMAND_MAX)
		       + STR(WIRE_NAME_MAX) + 8 + 1 + 4 + WIRE_CKPT_HASH + 80 <= 1200,
	       "DISPATCH fits a 1200-byte datagram");
_Static_assert(8 + 8 + 8 + 4 + WIRE_CKPT_HASH + 4 + 2 + WIRE_CKPT_CHUNK <= WIRE_BODY_MAX,
	       "CKPT_PUT / CKPT_DATA");
_Static_assert(8 + 8 + 1 + 4 + 4 + 8 + 8 + STR(WIRE_TAIL_MAX) + STR(WIRE_ERROR_MAX)
		       + STR(WIRE_PATH_MAX) <= WIRE_BODY_MAX, "ENDED");
_Static_assert(8 + 4 + 1 + 1 + 2 * WIRE_CTL_ARGC_MAX + WIRE_CTL_ARGS_MAX <= WIRE_BODY_MAX,
	       "CTL_REQ");
_Static_assert(8 + 4 + 4 + 1 + 2 + WIRE_CTL_PAGE_MAX <= WIRE_BODY_MAX, "CTL_RESP");
_Static_assert(2 + WIRE_GOSSIP_MAX + 80 <= 1200, "GOSSIP fits a 1200-byte datagram");
_Static_assert(WIRE_CTL_ARGC_MAX <= UINT8_MAX && WIRE_RUNS_MAX <= UINT8_MAX, "u8 counts");
#undef STR
#undef RUNS

static const struct wire_codec *codec_for(uint8_t type)
{
	if (type > WIRE_TYPE_MAX || !codecs[type].enc)
		return NULL;
	return &codecs[type];
}

/* ---- public ----------------------------------------------------------- */

int wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
	const struct wire_codec *c = codec_for(m->type);
	if (!c)
		return -EINVAL;

	struct wenc w = { .buf = buf, .cap = cap < WIRE_BODY_MAX ? cap : WIRE_BODY_MAX };
	c->enc(&w, m);
	if (w.err)
		return w.err;
	*len = w.len;
	return 0;
}

/*
 * On failure *out is zeroed except for its type, so a caller that ignores
 * the error still sees no half-decoded strings.
 */
int wire_decode(uint8_t type, const uint8_t *buf, size_t len, struct wire_msg *out)
{
	memset(out, 0, sizeof(*out));
	out->type = type;

	const struct wire_codec *c = codec_for(type);
	if (!c)
		return -EBADMSG;

	struct wdec r = { .buf = buf, .len = len };
	c->dec(&r, out);
	if (r.bad || r.off != r.len) {
		memset(out, 0, sizeof(*out));
		out->type = type;
		return -EBADMSG;
	}
	return 0;
}

const char *wire_type_name(uint8_t type)
{
	const struct wire_codec *c = codec_for(type);
	return c ? c->name : "?";
}

/*
 * Append arg to r.  r must be zeroed first, and its arguments added only
 * through this function or by wire_decode: the strings are stored back to
 * back in r->args and r->argv[i] points into r->args of the same struct.
 * Copying the struct by value therefore leaves the copy's argv pointing
 * into the original; decode or rebuild instead.
 */
int wire_ctl_req_add_arg(struct wire_ctl_req *r, const char *arg)
{
	size_t total = 0;

	if (!arg)
		return -EINVAL;
	if (r->argc >= WIRE_CTL_ARGC_MAX)
		return -E2BIG;
	for (size_t i = 0; i < r->argc; i++)
		total += strlen(r->argv[i]);
	size_t n = bounded_len(arg, WIRE_CTL_ARGS_MAX);
	if (n > WIRE_CTL_ARGS_MAX - total)
		return -EMSGSIZE;

	/* Each earlier argument occupies its bytes plus a NUL. */
	char *dst = r->args + total + r->argc;
	memcpy(dst, arg, n);
	dst[n] = '\0';
	r->argv[r->argc++] = dst;
	return 0;
}
