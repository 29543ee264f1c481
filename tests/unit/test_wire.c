/*
 * test_wire.c - the message codec: every type round-trips at its limits,
 * and every malformed body (truncated, trailing byte, string or count
 * over its limit, embedded NUL, unknown type) is refused.
 */
#include "wire.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* Deterministic filler: a string of exactly n bytes, never NUL. */
static void fill(char *dst, size_t n, char base)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)(base + (char)(i % 26));
	dst[n] = '\0';
}

static void fill_runs(struct wire_run_entry *runs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		runs[i].run_id = UINT64_C(0x0102030405060708) + i;
		runs[i].token = UINT64_MAX - i;
		runs[i].state = (uint8_t)(i + 1);
	}
}

/* ---- a message of every type, every field at its limit --------------- */

static void build_hello(struct wire_msg *m)
{
	fill(m->u.hello.name, WIRE_NAME_MAX, 'a');
	m->u.hello.slots = UINT32_MAX;
	fill(m->u.hello.labels, WIRE_LABELS_MAX, 'A');
	m->u.hello.lease_ms = 0x01020304;
	m->u.hello.prev_incarnation = 0x0102030405060708ULL;
}

static void build_welcome(struct wire_msg *m)
{
	m->u.welcome.sched_incarnation = UINT64_C(0x8877665544332211);
	m->u.welcome.heartbeat_ms = 1000;
	m->u.welcome.lease_ms = UINT32_MAX;
}

static void build_heartbeat(struct wire_msg *m)
{
	fill(m->u.heartbeat.name, WIRE_NAME_MAX, 'n');
	m->u.heartbeat.slots = 7;
	m->u.heartbeat.nruns = WIRE_RUNS_MAX;
	fill_runs(m->u.heartbeat.runs, WIRE_RUNS_MAX);
}

static void build_lease(struct wire_msg *m)
{
	m->u.lease.hb_seq = UINT64_MAX;
	m->u.lease.lease_ms = 15000;
	m->u.lease.nruns = WIRE_RUNS_MAX;
	fill_runs(m->u.lease.runs, WIRE_RUNS_MAX);
}

static void build_dispatch(struct wire_msg *m)
{
	struct wire_dispatch *d = &m->u.dispatch;
	d->run_id = 42;
	d->token = UINT64_MAX;
	d->attempt = 3;
	d->scheduled_for = INT64_MIN;
	d->timeout_ms = UINT32_MAX;
	d->lease_ms = 30000;
	d->reason = 2;
	fill(d->task, WIRE_NAME_MAX, 't');
	fill(d->command, WIRE_COMMAND_MAX, 'c');
	fill(d->node, WIRE_NAME_MAX, 'n');
	d->incarnation = UINT64_MAX - 1;
	d->ckpt = 1;
	d->ckpt_size = WIRE_CKPT_TOTAL_MAX;
	for (int i = 0; i < WIRE_CKPT_HASH; i++)
		d->ckpt_hash[i] = (uint8_t)(0xf0 + i);
}

static void build_ckpt(struct wire_msg *m)
{
	struct wire_ckpt_chunk *c = &m->u.ckpt;
	c->run_id = 7;
	c->token = UINT64_MAX;
	c->seq = UINT64_MAX - 3;
	c->total = WIRE_CKPT_TOTAL_MAX;
	for (int i = 0; i < WIRE_CKPT_HASH; i++)
		c->hash[i] = (uint8_t)(i * 17);
	c->offset = WIRE_CKPT_TOTAL_MAX - WIRE_CKPT_CHUNK;
	c->len = WIRE_CKPT_CHUNK;
	for (int i = 0; i < WIRE_CKPT_CHUNK; i++)
		c->data[i] = (uint8_t)(i * 31); /* any byte value, NUL included */
}

static void build_ckpt_ack(struct wire_msg *m)
{
	struct wire_ckpt_ack *k = &m->u.ckpt_ack;
	k->run_id = UINT64_MAX;
	k->token = 99;
	k->seq = 12345;
	for (int i = 0; i < WIRE_CKPT_HASH; i++)
		k->hash[i] = (uint8_t)(255 - i);
	k->offset = UINT32_MAX;
	k->status = CKPT_STORED;
}

static void build_ref(struct wire_msg *m)
{
	m->u.ref.run_id = UINT64_C(0xdeadbeefcafef00d);
	m->u.ref.token = 1;
}

static void build_reject(struct wire_msg *m)
{
	m->u.reject.run_id = 9;
	m->u.reject.token = 10;
	m->u.reject.code = 5;
	fill(m->u.reject.reason, WIRE_ERROR_MAX, 'r');
}

static void build_started(struct wire_msg *m)
{
	m->u.started.run_id = 11;
	m->u.started.token = 12;
	m->u.started.started_at_ms = -1;
	m->u.started.pid = UINT32_MAX;
}

static void build_ended(struct wire_msg *m)
{
	struct wire_ended *e = &m->u.ended;
	e->run_id = 13;
	e->token = 14;
	e->state = 6;
	e->exit_code = INT32_MIN;
	e->signal = INT32_MAX;
	e->started_at_ms = INT64_MAX;
	e->finished_at_ms = INT64_MIN;
	fill(e->tail, WIRE_TAIL_MAX, 'o');
	fill(e->error, WIRE_ERROR_MAX, 'e');
	fill(e->log_path, WIRE_PATH_MAX, 'p');
}

static void build_ack(struct wire_msg *m)
{
	m->u.ack.acked_type = WIRE_ENDED;
	m->u.ack.run_id = 15;
	m->u.ack.token = 16;
}

/* 32 arguments totalling exactly WIRE_CTL_ARGS_MAX bytes. */
static void build_ctl_req(struct wire_msg *m)
{
	char arg[WIRE_CTL_ARGS_MAX + 1];
	size_t per = WIRE_CTL_ARGS_MAX / WIRE_CTL_ARGC_MAX;

	m->u.ctl_req.req_id = UINT64_C(0x1122334455667788);
	m->u.ctl_req.page = 3;
	m->u.ctl_req.json = 1;
	for (size_t i = 0; i < WIRE_CTL_ARGC_MAX; i++) {
		size_t n = i + 1 < WIRE_CTL_ARGC_MAX ? per
			: WIRE_CTL_ARGS_MAX - per * (WIRE_CTL_ARGC_MAX - 1);
		fill(arg, n, (char)('a' + i % 20));
		cr_assert_eq(wire_ctl_req_add_arg(&m->u.ctl_req, arg), 0);
	}
}

static void build_gossip(struct wire_msg *m)
{
	m->u.gossip.len = WIRE_GOSSIP_MAX;
	for (size_t i = 0; i < WIRE_GOSSIP_MAX; i++)
		m->u.gossip.data[i] = (uint8_t)(i * 7); /* any byte, NUL included */
}

static void build_ctl_resp(struct wire_msg *m)
{
	m->u.ctl_resp.req_id = 77;
	m->u.ctl_resp.page = 1;
	m->u.ctl_resp.npages = 2;
	m->u.ctl_resp.exit_code = 2;
	m->u.ctl_resp.len = WIRE_CTL_PAGE_MAX;
	for (size_t i = 0; i < WIRE_CTL_PAGE_MAX; i++)
		m->u.ctl_resp.data[i] = (uint8_t)i; /* NULs allowed: it is data */
}

static const struct {
	uint8_t type;
	void (*build)(struct wire_msg *m);
} cases[] = {
	{ WIRE_HELLO, build_hello },       { WIRE_WELCOME, build_welcome },
	{ WIRE_HEARTBEAT, build_heartbeat }, { WIRE_LEASE, build_lease },
	{ WIRE_DISPATCH, build_dispatch }, { WIRE_ACCEPT, build_ref },
	{ WIRE_REJECT, build_reject },     { WIRE_STARTED, build_started },
	{ WIRE_ENDED, build_ended },       { WIRE_ACK, build_ack },
	{ WIRE_CANCEL, build_ref },        { WIRE_CTL_REQ, build_ctl_req },
	{ WIRE_CTL_RESP, build_ctl_resp },
	{ WIRE_GOSSIP, build_gossip },
	{ WIRE_CKPT_PUT, build_ckpt },     { WIRE_CKPT_DATA, build_ckpt },
	{ WIRE_CKPT_ACK, build_ckpt_ack },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct wire_msg msg;      /* too big for a comfortable stack */
static struct wire_msg dec;
static uint8_t body[WIRE_BODY_MAX + 16];

static size_t build_and_encode(size_t k)
{
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = cases[k].type;
	cases[k].build(&msg);
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0, "encode %s",
		     wire_type_name(cases[k].type));
	return len;
}

/* ---- round trips, field by field --------------------------------------- */

static void check_runs(const struct wire_run_entry *a, const struct wire_run_entry *b,
		       uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(a[i].run_id, b[i].run_id);
		cr_assert_eq(a[i].token, b[i].token);
		cr_assert_eq(a[i].state, b[i].state);
	}
}

static void check_same(const struct wire_msg *a, const struct wire_msg *b)
{
	cr_assert_eq(a->type, b->type);
	switch (a->type) {
	case WIRE_HELLO:
		cr_assert_str_eq(a->u.hello.name, b->u.hello.name);
		cr_assert_eq(a->u.hello.slots, b->u.hello.slots);
		cr_assert_str_eq(a->u.hello.labels, b->u.hello.labels);
		cr_assert_eq(a->u.hello.lease_ms, b->u.hello.lease_ms);
		cr_assert_eq(a->u.hello.prev_incarnation, b->u.hello.prev_incarnation);
		break;
	case WIRE_WELCOME:
		cr_assert_eq(a->u.welcome.sched_incarnation, b->u.welcome.sched_incarnation);
		cr_assert_eq(a->u.welcome.heartbeat_ms, b->u.welcome.heartbeat_ms);
		cr_assert_eq(a->u.welcome.lease_ms, b->u.welcome.lease_ms);
		break;
	case WIRE_HEARTBEAT:
		cr_assert_str_eq(a->u.heartbeat.name, b->u.heartbeat.name);
		cr_assert_eq(a->u.heartbeat.slots, b->u.heartbeat.slots);
		cr_assert_eq(a->u.heartbeat.nruns, b->u.heartbeat.nruns);
		check_runs(a->u.heartbeat.runs, b->u.heartbeat.runs, a->u.heartbeat.nruns);
		break;
	case WIRE_LEASE:
		cr_assert_eq(a->u.lease.hb_seq, b->u.lease.hb_seq);
		cr_assert_eq(a->u.lease.lease_ms, b->u.lease.lease_ms);
		cr_assert_eq(a->u.lease.nruns, b->u.lease.nruns);
		check_runs(a->u.lease.runs, b->u.lease.runs, a->u.lease.nruns);
		break;
	case WIRE_DISPATCH:
		cr_assert_eq(a->u.dispatch.run_id, b->u.dispatch.run_id);
		cr_assert_eq(a->u.dispatch.token, b->u.dispatch.token);
		cr_assert_eq(a->u.dispatch.attempt, b->u.dispatch.attempt);
		cr_assert_eq(a->u.dispatch.scheduled_for, b->u.dispatch.scheduled_for);
		cr_assert_eq(a->u.dispatch.timeout_ms, b->u.dispatch.timeout_ms);
		cr_assert_eq(a->u.dispatch.lease_ms, b->u.dispatch.lease_ms);
		cr_assert_eq(a->u.dispatch.reason, b->u.dispatch.reason);
		cr_assert_str_eq(a->u.dispatch.task, b->u.dispatch.task);
		cr_assert_str_eq(a->u.dispatch.command, b->u.dispatch.command);
		cr_assert_str_eq(a->u.dispatch.node, b->u.dispatch.node);
		cr_assert_eq(a->u.dispatch.incarnation, b->u.dispatch.incarnation);
		cr_assert_eq(a->u.dispatch.ckpt, b->u.dispatch.ckpt);
		cr_assert_eq(a->u.dispatch.ckpt_size, b->u.dispatch.ckpt_size);
		cr_assert_arr_eq(a->u.dispatch.ckpt_hash, b->u.dispatch.ckpt_hash, WIRE_CKPT_HASH);
		break;
	case WIRE_CKPT_PUT:
	case WIRE_CKPT_DATA:
		cr_assert_eq(a->u.ckpt.run_id, b->u.ckpt.run_id);
		cr_assert_eq(a->u.ckpt.token, b->u.ckpt.token);
		cr_assert_eq(a->u.ckpt.seq, b->u.ckpt.seq);
		cr_assert_eq(a->u.ckpt.total, b->u.ckpt.total);
		cr_assert_arr_eq(a->u.ckpt.hash, b->u.ckpt.hash, WIRE_CKPT_HASH);
		cr_assert_eq(a->u.ckpt.offset, b->u.ckpt.offset);
		cr_assert_eq(a->u.ckpt.len, b->u.ckpt.len);
		cr_assert_arr_eq(a->u.ckpt.data, b->u.ckpt.data, a->u.ckpt.len);
		break;
	case WIRE_CKPT_ACK:
		cr_assert_eq(a->u.ckpt_ack.run_id, b->u.ckpt_ack.run_id);
		cr_assert_eq(a->u.ckpt_ack.token, b->u.ckpt_ack.token);
		cr_assert_eq(a->u.ckpt_ack.seq, b->u.ckpt_ack.seq);
		cr_assert_arr_eq(a->u.ckpt_ack.hash, b->u.ckpt_ack.hash, WIRE_CKPT_HASH);
		cr_assert_eq(a->u.ckpt_ack.offset, b->u.ckpt_ack.offset);
		cr_assert_eq(a->u.ckpt_ack.status, b->u.ckpt_ack.status);
		break;
	case WIRE_ACCEPT:
	case WIRE_CANCEL:
		cr_assert_eq(a->u.ref.run_id, b->u.ref.run_id);
		cr_assert_eq(a->u.ref.token, b->u.ref.token);
		break;
	case WIRE_REJECT:
		cr_assert_eq(a->u.reject.run_id, b->u.reject.run_id);
		cr_assert_eq(a->u.reject.token, b->u.reject.token);
		cr_assert_eq(a->u.reject.code, b->u.reject.code);
		cr_assert_str_eq(a->u.reject.reason, b->u.reject.reason);
		break;
	case WIRE_STARTED:
		cr_assert_eq(a->u.started.run_id, b->u.started.run_id);
		cr_assert_eq(a->u.started.token, b->u.started.token);
		cr_assert_eq(a->u.started.started_at_ms, b->u.started.started_at_ms);
		cr_assert_eq(a->u.started.pid, b->u.started.pid);
		break;
	case WIRE_ENDED:
		cr_assert_eq(a->u.ended.run_id, b->u.ended.run_id);
		cr_assert_eq(a->u.ended.token, b->u.ended.token);
		cr_assert_eq(a->u.ended.state, b->u.ended.state);
		cr_assert_eq(a->u.ended.exit_code, b->u.ended.exit_code);
		cr_assert_eq(a->u.ended.signal, b->u.ended.signal);
		cr_assert_eq(a->u.ended.started_at_ms, b->u.ended.started_at_ms);
		cr_assert_eq(a->u.ended.finished_at_ms, b->u.ended.finished_at_ms);
		cr_assert_str_eq(a->u.ended.tail, b->u.ended.tail);
		cr_assert_str_eq(a->u.ended.error, b->u.ended.error);
		cr_assert_str_eq(a->u.ended.log_path, b->u.ended.log_path);
		break;
	case WIRE_ACK:
		cr_assert_eq(a->u.ack.acked_type, b->u.ack.acked_type);
		cr_assert_eq(a->u.ack.run_id, b->u.ack.run_id);
		cr_assert_eq(a->u.ack.token, b->u.ack.token);
		break;
	case WIRE_CTL_REQ:
		cr_assert_eq(a->u.ctl_req.req_id, b->u.ctl_req.req_id);
		cr_assert_eq(a->u.ctl_req.page, b->u.ctl_req.page);
		cr_assert_eq(a->u.ctl_req.json, b->u.ctl_req.json);
		cr_assert_eq(a->u.ctl_req.argc, b->u.ctl_req.argc);
		for (size_t i = 0; i < a->u.ctl_req.argc; i++) {
			cr_assert_str_eq(a->u.ctl_req.argv[i], b->u.ctl_req.argv[i]);
			/* Decoded argv points into the decoded struct itself. */
			cr_assert(b->u.ctl_req.argv[i] >= b->u.ctl_req.args &&
				  b->u.ctl_req.argv[i] < b->u.ctl_req.args + sizeof(b->u.ctl_req.args));
		}
		break;
	case WIRE_CTL_RESP:
		cr_assert_eq(a->u.ctl_resp.req_id, b->u.ctl_resp.req_id);
		cr_assert_eq(a->u.ctl_resp.page, b->u.ctl_resp.page);
		cr_assert_eq(a->u.ctl_resp.npages, b->u.ctl_resp.npages);
		cr_assert_eq(a->u.ctl_resp.exit_code, b->u.ctl_resp.exit_code);
		cr_assert_eq(a->u.ctl_resp.len, b->u.ctl_resp.len);
		cr_assert_arr_eq(a->u.ctl_resp.data, b->u.ctl_resp.data, a->u.ctl_resp.len);
		break;
	case WIRE_GOSSIP:
		cr_assert_eq(a->u.gossip.len, b->u.gossip.len);
		cr_assert_arr_eq(a->u.gossip.data, b->u.gossip.data, a->u.gossip.len);
		break;
	default:
		cr_assert_fail("no comparison for type %u", a->type);
	}
}

Test(wire, round_trip_every_type_at_limits)
{
	uint8_t again[WIRE_BODY_MAX];
	for (size_t k = 0; k < NCASES; k++) {
		size_t len = build_and_encode(k), len2 = 0;
		cr_assert_leq(len, WIRE_BODY_MAX);
		cr_assert_eq(wire_decode(cases[k].type, body, len, &dec), 0, "decode %s",
			     wire_type_name(cases[k].type));
		check_same(&msg, &dec);
		/* The encoding is canonical: re-encoding gives the same bytes. */
		cr_assert_eq(wire_encode(&dec, again, sizeof(again), &len2), 0);
		cr_assert_eq(len2, len);
		cr_assert_arr_eq(again, body, len);
	}
}

Test(wire, every_type_is_covered)
{
	size_t known = 0;
	for (unsigned t = 0; t <= 255; t++)
		if (strcmp(wire_type_name((uint8_t)t), "?") != 0)
			known++;
	cr_assert_eq(known, NCASES);
	cr_assert_str_eq(wire_type_name(WIRE_DISPATCH), "DISPATCH");
	cr_assert_str_eq(wire_type_name(WIRE_CTL_RESP), "CTL_RESP");
}

Test(wire, empty_strings_and_no_runs_round_trip)
{
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_HEARTBEAT;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	cr_assert_eq(len, 2 + 4 + 1);
	cr_assert_eq(wire_decode(WIRE_HEARTBEAT, body, len, &dec), 0);
	cr_assert_str_eq(dec.u.heartbeat.name, "");
	cr_assert_eq(dec.u.heartbeat.nruns, 0);
}

/* Explicit big-endian, field order as in the catalogue. */
Test(wire, ack_golden_bytes)
{
	static const uint8_t want[] = {
		9,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
	};
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_ACK;
	msg.u.ack.acked_type = WIRE_ENDED;
	msg.u.ack.run_id = UINT64_C(0x0102030405060708);
	msg.u.ack.token = UINT64_C(0xf0e1d2c3b4a59687);
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	cr_assert_eq(len, sizeof(want));
	cr_assert_arr_eq(body, want, sizeof(want));
}

/* ---- malformed bodies ------------------------------------------------- */

Test(wire, every_truncation_fails)
{
	for (size_t k = 0; k < NCASES; k++) {
		size_t len = build_and_encode(k);
		for (size_t l = 0; l < len; l++)
			cr_assert_eq(wire_decode(cases[k].type, body, l, &dec), -EBADMSG,
				     "%s truncated to %zu of %zu", wire_type_name(cases[k].type),
				     l, len);
	}
}

Test(wire, trailing_byte_fails)
{
	for (size_t k = 0; k < NCASES; k++) {
		size_t len = build_and_encode(k);
		body[len] = 0;
		cr_assert_eq(wire_decode(cases[k].type, body, len + 1, &dec), -EBADMSG, "%s",
			     wire_type_name(cases[k].type));
	}
}

Test(wire, unknown_type_fails)
{
	static const uint8_t unknown[] = { 0, 15, 16, 19, 22, 128, 255 };
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_ACCEPT;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	for (size_t i = 0; i < sizeof(unknown); i++) {
		cr_assert_eq(wire_decode(unknown[i], body, len, &dec), -EBADMSG);
		cr_assert_str_eq(wire_type_name(unknown[i]), "?");
		msg.type = unknown[i];
		cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
	}
}

/*
 * Lengthen the string whose u16 length sits at off by one byte c, so the
 * body stays well formed except for that string.
 */
static size_t grow_string(uint8_t *buf, size_t len, size_t off, uint8_t c)
{
	size_t n = ((size_t)buf[off] << 8) | buf[off + 1];
	size_t at = off + 2 + n;
	memmove(buf + at + 1, buf + at, len - at);
	buf[at] = c;
	buf[off] = (uint8_t)((n + 1) >> 8);
	buf[off + 1] = (uint8_t)(n + 1);
	return len + 1;
}

/* Body offset of a string's length field, per type and field. */
static const struct {
	uint8_t type;
	size_t off;       /* of the u16 length */
	const char *what;
} strings[] = {
	{ WIRE_HELLO, 0, "hello.name" },
	{ WIRE_HELLO, 2 + WIRE_NAME_MAX + 4, "hello.labels" },
	{ WIRE_HEARTBEAT, 0, "heartbeat.name" },
	{ WIRE_DISPATCH, 37, "dispatch.task" },
	{ WIRE_DISPATCH, 37 + 2 + WIRE_NAME_MAX, "dispatch.command" },
	{ WIRE_REJECT, 17, "reject.reason" },
	{ WIRE_ENDED, 41, "ended.tail" },
	{ WIRE_ENDED, 41 + 2 + WIRE_TAIL_MAX, "ended.error" },
	{ WIRE_ENDED, 41 + 4 + WIRE_TAIL_MAX + WIRE_ERROR_MAX, "ended.log_path" },
	{ WIRE_DISPATCH, 37 + 4 + WIRE_NAME_MAX + WIRE_COMMAND_MAX, "dispatch.node" },
};

static size_t case_of(uint8_t type)
{
	for (size_t k = 0; k < NCASES; k++)
		if (cases[k].type == type)
			return k;
	cr_assert_fail("no case for %u", type);
	return 0;
}

Test(wire, string_over_limit_fails)
{
	for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++) {
		size_t len = build_and_encode(case_of(strings[s].type));
		len = grow_string(body, len, strings[s].off, 'x');
		cr_assert_eq(wire_decode(strings[s].type, body, len, &dec), -EBADMSG, "%s",
			     strings[s].what);
	}
}

/* Control for the test above: the same surgery under the limit decodes. */
Test(wire, string_growth_under_limit_decodes)
{
	for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++) {
		size_t len = build_and_encode(case_of(strings[s].type));
		size_t off = strings[s].off;
		/* Shorten the string by one byte first (drop its last byte). */
		size_t n = ((size_t)body[off] << 8) | body[off + 1];
		memmove(body + off + 2 + n - 1, body + off + 2 + n, len - (off + 2 + n));
		len--;
		body[off] = (uint8_t)((n - 1) >> 8);
		body[off + 1] = (uint8_t)(n - 1);
		cr_assert_eq(wire_decode(strings[s].type, body, len, &dec), 0, "%s shortened",
			     strings[s].what);
		len = grow_string(body, len, off, 'x');
		cr_assert_eq(wire_decode(strings[s].type, body, len, &dec), 0, "%s",
			     strings[s].what);
	}
}

Test(wire, embedded_nul_fails)
{
	for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++) {
		size_t len = build_and_encode(case_of(strings[s].type));
		size_t at = strings[s].off + 2 + 5;
		body[at] = 'x';
		cr_assert_eq(wire_decode(strings[s].type, body, len, &dec), 0, "%s",
			     strings[s].what);
		body[at] = '\0';
		cr_assert_eq(wire_decode(strings[s].type, body, len, &dec), -EBADMSG, "%s",
			     strings[s].what);
	}
}

Test(wire, run_count_over_limit_fails)
{
	static const struct { uint8_t type; size_t off; } counts[] = {
		{ WIRE_HEARTBEAT, 2 + WIRE_NAME_MAX + 4 },
		{ WIRE_LEASE, 12 },
	};
	for (size_t i = 0; i < 2; i++) {
		size_t len = build_and_encode(case_of(counts[i].type));
		cr_assert_eq(body[counts[i].off], WIRE_RUNS_MAX);
		/* One more well-formed entry, and the count says so. */
		memcpy(body + len, body + len - 17, 17);
		len += 17;
		body[counts[i].off] = WIRE_RUNS_MAX + 1;
		cr_assert_eq(wire_decode(counts[i].type, body, len, &dec), -EBADMSG);
		/* Control: dropping two entries under the limit is fine. */
		body[counts[i].off] = WIRE_RUNS_MAX - 1;
		cr_assert_eq(wire_decode(counts[i].type, body, len - 34, &dec), 0);
		cr_assert_eq(counts[i].type == WIRE_LEASE ? dec.u.lease.nruns
			     : dec.u.heartbeat.nruns, WIRE_RUNS_MAX - 1);
	}
}

/* ctl_req: argc over 32, a 33rd string, and argument bytes over 900. */
Test(wire, ctl_req_limits_fail)
{
	size_t len = build_and_encode(case_of(WIRE_CTL_REQ));
	uint8_t copy[WIRE_BODY_MAX + 16];
	memcpy(copy, body, len);

	/* argc byte at offset 13; append one empty string. */
	body[13] = WIRE_CTL_ARGC_MAX + 1;
	body[len] = 0;
	body[len + 1] = 0;
	cr_assert_eq(wire_decode(WIRE_CTL_REQ, body, len + 2, &dec), -EBADMSG);

	/* Total bytes: lengthen the first argument by one (901 in all). */
	memcpy(body, copy, len);
	size_t l2 = grow_string(body, len, 14, 'x');
	cr_assert_eq(wire_decode(WIRE_CTL_REQ, body, l2, &dec), -EBADMSG);

	/* Control: one argument of exactly 900 bytes decodes. */
	char big[WIRE_CTL_ARGS_MAX + 2];
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_CTL_REQ;
	fill(big, WIRE_CTL_ARGS_MAX, 'k');
	cr_assert_eq(wire_ctl_req_add_arg(&msg.u.ctl_req, big), 0);
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	cr_assert_eq(wire_decode(WIRE_CTL_REQ, body, len, &dec), 0);
	cr_assert_str_eq(dec.u.ctl_req.argv[0], big);
	/* ... and 901 does not. */
	len = grow_string(body, len, 14, 'x');
	cr_assert_eq(wire_decode(WIRE_CTL_REQ, body, len, &dec), -EBADMSG);
}

Test(wire, ctl_resp_len_over_limit_fails)
{
	size_t len = build_and_encode(case_of(WIRE_CTL_RESP));
	/* len field at offset 17; one more data byte. */
	body[17] = (uint8_t)((WIRE_CTL_PAGE_MAX + 1) >> 8);
	body[18] = (uint8_t)(WIRE_CTL_PAGE_MAX + 1);
	body[len] = 'z';
	cr_assert_eq(wire_decode(WIRE_CTL_RESP, body, len + 1, &dec), -EBADMSG);
}

Test(wire, gossip_len_over_limit_fails)
{
	size_t len = build_and_encode(case_of(WIRE_GOSSIP));
	body[0] = (uint8_t)((WIRE_GOSSIP_MAX + 1) >> 8);
	body[1] = (uint8_t)(WIRE_GOSSIP_MAX + 1);
	body[len] = 'z';
	cr_assert_eq(wire_decode(WIRE_GOSSIP, body, len + 1, &dec), -EBADMSG);
	msg.u.gossip.len = WIRE_GOSSIP_MAX + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
}

Test(wire, failed_decode_leaves_no_data)
{
	size_t len = build_and_encode(case_of(WIRE_HELLO));
	cr_assert_eq(wire_decode(WIRE_HELLO, body, len - 1, &dec), -EBADMSG);
	cr_assert_eq(dec.type, WIRE_HELLO);
	cr_assert_str_eq(dec.u.hello.name, "");
	cr_assert_str_eq(dec.u.hello.labels, "");
}

/* ---- encode refusals -------------------------------------------------- */

Test(wire, encode_refuses_overlong_strings)
{
	size_t len = 0;
	for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++) {
		size_t k = case_of(strings[s].type);
		build_and_encode(k);
		/* Overwrite the terminating NUL: the string is max + 1 long. */
		char *p = NULL;
		switch (s) {
		case 0: p = msg.u.hello.name; break;
		case 1: p = msg.u.hello.labels; break;
		case 2: p = msg.u.heartbeat.name; break;
		case 3: p = msg.u.dispatch.task; break;
		case 4: p = msg.u.dispatch.command; break;
		case 5: p = msg.u.reject.reason; break;
		case 6: p = msg.u.ended.tail; break;
		case 7: p = msg.u.ended.error; break;
		case 8: p = msg.u.ended.log_path; break;
		case 9: p = msg.u.dispatch.node; break;
		}
		p[strlen(p)] = 'y';
		cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL, "%s",
			     strings[s].what);
	}
}

Test(wire, encode_refuses_over_limit_counts)
{
	size_t len = 0;
	build_and_encode(case_of(WIRE_HEARTBEAT));
	msg.u.heartbeat.nruns = WIRE_RUNS_MAX + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);

	build_and_encode(case_of(WIRE_LEASE));
	msg.u.lease.nruns = UINT32_MAX;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);

	build_and_encode(case_of(WIRE_CTL_RESP));
	msg.u.ctl_resp.len = WIRE_CTL_PAGE_MAX + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);

	build_and_encode(case_of(WIRE_CTL_REQ));
	msg.u.ctl_req.argc = WIRE_CTL_ARGC_MAX + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
}

/* A hand-built request whose argv totals 901 bytes is refused. */
Test(wire, encode_refuses_ctl_args_over_total)
{
	static char a[WIRE_CTL_ARGS_MAX + 1], b[2] = "z";
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_CTL_REQ;
	fill(a, WIRE_CTL_ARGS_MAX, 'a');
	msg.u.ctl_req.argc = 2;
	msg.u.ctl_req.argv[0] = a;
	msg.u.ctl_req.argv[1] = b;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
	msg.u.ctl_req.argc = 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	msg.u.ctl_req.argc = 2;
	msg.u.ctl_req.argv[1] = NULL;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
}

Test(wire, encode_refuses_small_buffer)
{
	uint8_t small[WIRE_BODY_MAX];
	for (size_t k = 0; k < NCASES; k++) {
		size_t len = build_and_encode(k), got = 0;
		cr_assert_eq(wire_encode(&msg, small, len, &got), 0);
		cr_assert_eq(got, len);
		for (size_t cap = 0; cap < len; cap++)
			cr_assert_eq(wire_encode(&msg, small, cap, &got), -EMSGSIZE,
				     "%s cap %zu", wire_type_name(cases[k].type), cap);
	}
}

/* ---- ctl_req argument helper ------------------------------------------ */

Test(wire, ctl_req_add_arg_limits)
{
	struct wire_ctl_req *r = &msg.u.ctl_req;
	char big[WIRE_CTL_ARGS_MAX + 2];

	memset(&msg, 0, sizeof(msg));
	cr_assert_eq(wire_ctl_req_add_arg(r, "history"), 0);
	cr_assert_eq(wire_ctl_req_add_arg(r, ""), 0);
	cr_assert_eq(wire_ctl_req_add_arg(r, "--limit"), 0);
	cr_assert_eq(r->argc, 3);
	cr_assert_str_eq(r->argv[0], "history");
	cr_assert_str_eq(r->argv[1], "");
	cr_assert_str_eq(r->argv[2], "--limit");
	cr_assert_eq(r->argv[0], r->args);
	cr_assert_eq(r->argv[2], r->args + 9);
	cr_assert_eq(wire_ctl_req_add_arg(r, NULL), -EINVAL);

	/* 14 bytes used: exactly 886 more fit, 887 do not. */
	fill(big, WIRE_CTL_ARGS_MAX - 14 + 1, 'q');
	cr_assert_eq(wire_ctl_req_add_arg(r, big), -EMSGSIZE);
	cr_assert_eq(r->argc, 3);
	big[WIRE_CTL_ARGS_MAX - 14] = '\0';
	cr_assert_eq(wire_ctl_req_add_arg(r, big), 0);
	cr_assert_eq(wire_ctl_req_add_arg(r, "x"), -EMSGSIZE);
	cr_assert_eq(wire_ctl_req_add_arg(r, ""), 0);

	memset(&msg, 0, sizeof(msg));
	for (int i = 0; i < WIRE_CTL_ARGC_MAX; i++)
		cr_assert_eq(wire_ctl_req_add_arg(r, "a"), 0);
	cr_assert_eq(wire_ctl_req_add_arg(r, "a"), -E2BIG);
}

/* ---- checkpoint chunks ------------------------------------------------- */

Test(wire, ckpt_chunk_limits)
{
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_CKPT_PUT;
	msg.u.ckpt.len = WIRE_CKPT_CHUNK + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
	msg.u.ckpt.len = 0;
	msg.u.ckpt.total = WIRE_CKPT_TOTAL_MAX + 1;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), -EINVAL);
	msg.u.ckpt.total = 0; /* an empty checkpoint is one empty chunk */
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	cr_assert_eq(len, 8 + 8 + 8 + 4 + WIRE_CKPT_HASH + 4 + 2);
	cr_assert_eq(wire_decode(WIRE_CKPT_DATA, body, len, &dec), 0);
	cr_assert_eq(dec.u.ckpt.len, 0);

	/* A decoder never trusts the length: len over the chunk limit, or a
	 * total over the ceiling, is refused even when the bytes are there. */
	build_ckpt(&msg);
	msg.type = WIRE_CKPT_PUT;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	size_t len_at = 8 + 8 + 8 + 4 + WIRE_CKPT_HASH + 4;
	body[len_at] = (uint8_t)((WIRE_CKPT_CHUNK + 1) >> 8);
	body[len_at + 1] = (uint8_t)((WIRE_CKPT_CHUNK + 1) & 0xff);
	body[len] = 0;
	cr_assert_eq(wire_decode(WIRE_CKPT_PUT, body, len + 1, &dec), -EBADMSG);
	cr_assert_eq(dec.u.ckpt.len, 0);
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	body[24] = 0x7f; /* total's high byte */
	cr_assert_eq(wire_decode(WIRE_CKPT_PUT, body, len, &dec), -EBADMSG);
}

Test(wire, dispatch_without_checkpoint_round_trips)
{
	size_t len = 0;
	memset(&msg, 0, sizeof(msg));
	msg.type = WIRE_DISPATCH;
	cr_assert_eq(wire_encode(&msg, body, sizeof(body), &len), 0);
	cr_assert_eq(wire_decode(WIRE_DISPATCH, body, len, &dec), 0);
	cr_assert_eq(dec.u.dispatch.ckpt, 0);
	cr_assert_eq(dec.u.dispatch.ckpt_size, 0);
	/* The checkpoint fields are not optional: a body without them is short. */
	cr_assert_eq(wire_decode(WIRE_DISPATCH, body, len - 1 - 4 - WIRE_CKPT_HASH, &dec),
		     -EBADMSG);
}
