/*
 * swim_int.h - what swim.c (protocol) and swim_proto.c (codec) share;
 * not for other modules.
 *
 * Payload format (one datagram payload, <= SWIM_PAYLOAD_MAX bytes;
 * integers big-endian; "str" is a u8 length then that many bytes, never a
 * NUL among them):
 *
 *    0       1       2       3       4       5       6       7
 *   +-------+-------+-------+-------+-------+-------+-------+-------+
 *   | magic 'S' 'W' |  ver  | type  |             seq              |
 *   +-------+-------+-------+-------+-------+-------+-------+-------+
 *   | slen  | sender name (slen <= 63 bytes) ...
 *   +-------+-------------------------------------------------------
 *   | type-specific body (below)
 *   +-------+-------------------------------------------------------
 *   | count | record 1 | record 2 | ... (count <= SWIM_UPDATES_MAX)
 *   +-------+-------------------------------------------------------
 *   (nothing may follow the last record)
 *
 *   type       body
 *   1 PING     str target_name            (the member we think we ping)
 *   2 ACK      -                          (seq echoes the ping's)
 *   3 PING_REQ str target_name str target_addr u16 timeout_ms
 *   4 NACK     -                          (seq echoes the ping-req's)
 *   5 JOIN     -                          (records: the joiner itself)
 *   6 SYNC     u16 page u16 pages         (seq echoes the join's)
 *   7 GOSSIP   -                          (records only, no answer)
 *
 * A record is one member's state, as a piggybacked update or as an entry
 * of a SYNC page:
 *
 *   +-------+-------+-------+-------+-------+-------+-------+-------+
 *   | state |               incarnation (u64) ...
 *   +-------+-------+-------+-------+-------+-------+-------+-------+
 *   |  ...  | nlen  | name ... | alen | addr ... | mlen | meta ...
 *   +-------+-------+-------------------------------------------------
 *   | flen  | from (accuser, SUSPECT/DEAD; may be empty otherwise) ...
 *   +-------+----------------------------------------------------------
 *
 * state is 1..4 (enum swim_state), name and addr are non-empty, meta is
 * at most SWIM_META_MAX bytes (authoritative only on ALIVE), a SUSPECT
 * record names its accuser.
 */
#ifndef SCHED_SWIM_INT_H
#define SCHED_SWIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swim.h"

#define SWIM_MAGIC0	    'S'
#define SWIM_MAGIC1	    'W'
#define SWIM_PROTO_VERSION  1
#define SWIM_UPDATES_MAX    64	/* records per payload */
#define SWIM_RELAY_MAX	    32	/* ping-reqs served at once */
#define SWIM_SYNC_PAGES_MAX 256 /* pages of one SYNC push */

enum swim_msg_type {
	SWIM_MSG_PING = 1,
	SWIM_MSG_ACK = 2,
	SWIM_MSG_PING_REQ = 3,
	SWIM_MSG_NACK = 4,
	SWIM_MSG_JOIN = 5,
	SWIM_MSG_SYNC = 6,
	SWIM_MSG_GOSSIP = 7,
	SWIM_MSG_TYPE_MAX = 7,
};

/* A view of a string inside a received payload: not NUL-terminated. */
struct swim_str {
	const uint8_t *p;
	uint8_t len;
};

/* A decoded record; its strings point into the payload. */
struct swim_rec {
	uint8_t state;
	uint64_t inc;
	struct swim_str name, addr, meta, from;
};

/* A decoded payload.  Large (SWIM_UPDATES_MAX records), so the instance
 * keeps one instead of putting it on the stack per datagram. */
struct swim_msg {
	uint8_t type;
	uint32_t seq;
	struct swim_str sender;
	struct swim_str target;	     /* PING, PING_REQ */
	struct swim_str target_addr; /* PING_REQ */
	uint16_t timeout_ms;	     /* PING_REQ */
	uint16_t page, pages;	     /* SYNC */
	uint8_t nrec;
	struct swim_rec rec[SWIM_UPDATES_MAX];
};

/* An encoding cursor with a sticky overflow flag. */
struct swim_wbuf {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

/* The record to encode, from plain C strings. */
struct swim_rec_src {
	enum swim_state state;
	uint64_t inc;
	const char *name, *addr, *from;
	const uint8_t *meta;
	size_t meta_len;
};

/*
 * Decode buf[0..len) into *m.  0 or -EBADMSG: short or over-long
 * payloads, bad magic or version, unknown type, empty or over-long
 * strings, NUL bytes in strings, bad states, counts above
 * SWIM_UPDATES_MAX, and any byte left after the last record.  On failure
 * *m is garbage.  Never reads outside buf.
 */
int swim_decode(const uint8_t *buf, size_t len, struct swim_msg *m);

/* Start a payload of `type` in w (cap SWIM_PAYLOAD_MAX).  The body
 * helpers follow; then swim_enc_records_begin() and one
 * swim_enc_record() per record, then swim_enc_records_end(). */
void swim_enc_header(struct swim_wbuf *w, uint8_t *buf, uint8_t type, uint32_t seq,
		     const char *sender);
void swim_enc_str(struct swim_wbuf *w, const char *s);
void swim_enc_u16(struct swim_wbuf *w, uint16_t v);
/* Returns the offset of the count byte. */
size_t swim_enc_records_begin(struct swim_wbuf *w);
/* Append one record if it fits: true, else false and w unchanged. */
bool swim_enc_record(struct swim_wbuf *w, const struct swim_rec_src *r);
void swim_enc_records_end(struct swim_wbuf *w, size_t count_off, unsigned count);
/* Encoded size of a record. */
size_t swim_rec_size(const struct swim_rec_src *r);

/* Does the view equal the C string? */
bool swim_str_eq(struct swim_str v, const char *s);
/* Copy a view into dst[SWIM_NAME_MAX + 1] (or ADDR), NUL-terminated. */
void swim_str_copy(char *dst, size_t dstsz, struct swim_str v);

/* ---- instance state (swim.c, swim_members.c) ---------------------------- */

/* One member as this node knows it. */
struct swim_node {
	struct swim_member m; /* the public view handed to callers */
	uint64_t hash;	      /* of m.name, for the index */
	bool is_self;
	bool in_order; /* present in swim.order */
	/* dissemination: the update about this member is its current state */
	uint32_t tx;		      /* piggybacked this often since it changed */
	uint64_t useq;		      /* when it changed (larger: more recent) */
	char from[SWIM_NAME_MAX + 1]; /* accuser gossiped with SUSPECT/DEAD */
	/* suspicion, while m.state == SWIM_SUSPECT */
	int64_t susp_start_ms;
	bool last_call;			  /* the last-chance ping went out */
	int64_t last_call_until;	  /* DEAD if no refutation by then */
	uint64_t susp_by[SWIM_K_MAX + 1]; /* name hashes: first accuser, confirmers */
	unsigned susp_nby;
};

/* A ping-req we serve: we ping the target and relay its ack, or nack. */
struct swim_relay {
	bool used;
	uint32_t my_seq;  /* of our ping to the target */
	uint32_t req_seq; /* of the requester's probe */
	int64_t nack_at;
	char req_addr[SWIM_ADDR_MAX + 1];
	char req_name[SWIM_NAME_MAX + 1];
};

/* The probe in flight (at most one per period). */
struct swim_probe {
	bool active;
	bool indirect_sent;
	uint32_t seq;
	struct swim_node *target;
	int64_t timeout_at; /* no direct ack by then: ping-req */
	int64_t deadline;   /* no ack at all by then: suspect */
	unsigned helpers, nacks;
};

struct swim {
	struct swim_config cfg;
	struct swim_callbacks cb;
	struct swim_node *self;
	/* the member table, self included; nodes are allocated one by one so
	 * that a struct swim_member pointer survives table growth */
	struct swim_node **nodes;
	size_t n, cap;
	uint32_t *index;	  /* open addressing: position + 1, 0 free */
	size_t index_cap;	  /* power of two, >= 2 * cap */
	struct swim_node **order; /* probe order, shuffled once per round */
	size_t order_n, order_pos;
	struct swim_node **scratch; /* cap slots for selections */
	size_t n_live;		    /* ALIVE + SUSPECT, self included */
	/* failure detection */
	struct swim_probe probe;
	int64_t next_probe_ms;
	int64_t next_dead_probe_ms;
	int64_t next_gossip_ms;
	uint32_t seq;
	unsigned lhm;
	struct swim_relay relay[SWIM_RELAY_MAX];
	/* join */
	char seeds[SWIM_SEEDS_MAX][SWIM_ADDR_MAX + 1];
	size_t nseeds;
	bool joining;
	uint32_t join_seq;
	int64_t join_next_ms;
	uint64_t sync_from; /* name hash of the seed being counted */
	unsigned sync_pages, sync_got;
	uint64_t sync_seen[SWIM_SYNC_PAGES_MAX / 64];
	bool left;
	/* dissemination */
	uint64_t useq;
	/* reentrancy guard: set while callbacks may run */
	bool busy;
	struct swim_stats stats;
	struct swim_msg rx;
	uint8_t txbuf[SWIM_PAYLOAD_MAX];
};

/* ---- swim_members.c: the table, the incarnation rules, gossip ----------- */

uint64_t swim_name_hash(const void *p, size_t n);
/* Find by name bytes; NULL if unknown. */
struct swim_node *swim_table_find(const struct swim *s, const void *name, size_t len);
/* Add a member (state SWIM_UNKNOWN until swim_set_state()); NULL on ENOMEM. */
struct swim_node *swim_table_add(struct swim *s, const char *name, const char *addr);
/* Forget members DEAD or LEFT for longer than cfg.reclaim_ms. */
void swim_table_reclaim(struct swim *s, int64_t now);
/* Next member to probe, round-robin over a list shuffled every round. */
struct swim_node *swim_next_target(struct swim *s);
/* Change state; fires on_change (never for self) and keeps counts. */
void swim_set_state(struct swim *s, struct swim_node *nd, enum swim_state st, int64_t now);
/* Apply one received record under the incarnation rules. */
void swim_apply(struct swim *s, const struct swim_rec *r, bool from_sync, int64_t now);
/* Raise a suspicion of nd by ourselves, or confirm one. */
void swim_suspect(struct swim *s, struct swim_node *nd, int64_t now);
/* When nd's suspicion expires. */
int64_t swim_susp_deadline(const struct swim *s, const struct swim_node *nd);
/* Queue nd's current state for dissemination. */
void swim_gossip(struct swim *s, struct swim_node *nd);
/* Append the updates to piggyback on a message to `to` (may be NULL);
 * with_self: our own record too, even if it is old news (pings). */
void swim_piggyback(struct swim *s, struct swim_wbuf *w, struct swim_node *to, bool with_self);
/* Describe nd as a record (full: with metadata whatever the state). */
void swim_node_rec(const struct swim_node *nd, bool full, struct swim_rec_src *r);
/* Local health: +1 or -1, clamped to 0..lhm_max. */
void swim_lhm_add(struct swim *s, int delta);

#endif
