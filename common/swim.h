/*
 * swim.h - cluster membership: SWIM failure detection and gossip with the
 * Lifeguard refinements, as a library with no I/O of its own.
 *
 * The protocol logic never touches a socket or a clock.  The host hands
 * it three seams (send a datagram, read a monotonic clock, draw a random
 * number) and drives it with two calls: swim_receive() for every gossip
 * payload that arrived (already authenticated by the transport) and
 * swim_tick() whenever swim_next_deadline() has passed.  A daemon plugs
 * in net.h and clock.h; the unit tests plug in a simulated network and a
 * fake clock, so a whole cluster runs deterministically in one process.
 *
 * What it provides: every member's name (the unique id), address,
 * incarnation, state (ALIVE, SUSPECT, DEAD, LEFT), an opaque metadata
 * blob disseminated with ALIVE updates, and the time its state last
 * changed; a callback on every state change.  See swim.c for the design
 * and docs/membership.md for the parameters and the detection time they
 * give.
 *
 * Threading: none.  One struct swim belongs to one thread; the callbacks
 * run synchronously inside swim_* calls and must not call back into the
 * mutating functions of the same instance (they get -EBUSY); the read-only
 * accessors (swim_member_get(), swim_member_at(), swim_self(), ...) are
 * fine from inside a callback.
 */
#ifndef SCHED_SWIM_H
#define SCHED_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWIM_NAME_MAX	 63   /* bytes of a member name, no NUL inside */
#define SWIM_ADDR_MAX	 63   /* bytes of an "ip:port" address string */
#define SWIM_META_MAX	 200  /* bytes of the opaque metadata blob */
#define SWIM_PAYLOAD_MAX 1100 /* bytes of one gossip payload, either way */
#define SWIM_SEEDS_MAX	 16   /* seed addresses remembered for joining */
#define SWIM_K_MAX	 8    /* cap on indirect_k and suspicion_k */

enum swim_state {
	SWIM_UNKNOWN = 0, /* only as old_state: the member was just learned */
	SWIM_ALIVE = 1,
	SWIM_SUSPECT = 2, /* a probe failed; it may still refute */
	SWIM_DEAD = 3,	  /* suspicion expired without refutation: fence it */
	SWIM_LEFT = 4,	  /* it announced its own departure: no fence */
};

/* A member as every observer sees it.  Owned by the library: valid until
 * the next mutating call on the instance (swim_receive, swim_tick, ...). */
struct swim_member {
	char name[SWIM_NAME_MAX + 1];
	char addr[SWIM_ADDR_MAX + 1];
	uint64_t incarnation; /* only its owner raises it */
	enum swim_state state;
	uint8_t meta[SWIM_META_MAX];
	uint16_t meta_len;
	int64_t state_changed_ms; /* host monotonic ms of the last change */
};

/*
 * Parameters.  swim_config_default() fills the LAN defaults below; every
 * field may then be changed.  Times are in milliseconds.
 */
struct swim_config {
	uint32_t probe_interval_ms;  /* 200: one probe per period */
	uint32_t probe_timeout_ms;   /* 100: direct ack wait, < interval */
	uint32_t indirect_k;	     /* 3: ping-req helpers per failed ping */
	uint32_t suspicion_mult;     /* 4: min = mult*max(1,log10 n)*interval */
	uint32_t suspicion_max_mult; /* 6: max = this * min */
	uint32_t suspicion_k;	     /* 3: confirmations that reach the min */
	uint32_t retransmit_mult;    /* 4: sends = mult*ceil(log10(n+1)) */
	uint32_t gossip_interval_ms; /* 100: push pending updates this often */
	uint32_t gossip_fanout;	     /* 3: members per push (0: piggyback only) */
	uint32_t lhm_max;	     /* 8: local health multiplier cap */
	uint32_t join_retry_ms;	     /* 1000: resend JOIN until synced */
	uint32_t dead_probe_ms;	     /* 2000: ping one DEAD member (0 off) */
	uint32_t reclaim_ms;	     /* 3600000: forget DEAD/LEFT (0 never) */
};

/*
 * The seams.  send() gets an opaque "ip:port" string and one payload of
 * at most SWIM_PAYLOAD_MAX bytes; its result is only counted (UDP may
 * lose the datagram anyway).  now_ms() must be monotonic.  on_change is
 * optional; it fires for every state change of another member (never for
 * self), with old_state SWIM_UNKNOWN when the member was just learned, and
 * also when an ALIVE member comes back with new metadata or a new address
 * (then old_state == m->state).  m is valid during the call only.
 */
struct swim_callbacks {
	void *ctx;
	int (*send)(void *ctx, const char *to_addr, const uint8_t *buf, size_t len);
	int64_t (*now_ms)(void *ctx);
	uint64_t (*random_u64)(void *ctx);
	void (*on_change)(void *ctx, const struct swim_member *m, enum swim_state old_state);
};

struct swim_stats {
	uint64_t probes;	 /* direct pings of a probe sent */
	uint64_t acks;		 /* probes answered (directly or relayed) */
	uint64_t ping_reqs;	 /* indirect requests sent */
	uint64_t nacks;		 /* nacks received from helpers */
	uint64_t suspicions;	 /* members this node started suspecting */
	uint64_t refutations;	 /* claims about self refuted */
	uint64_t deaths;	 /* suspicions this node let expire */
	uint64_t malformed;	 /* payloads refused by the decoder */
	uint64_t received;	 /* payloads accepted */
	uint64_t sent;		 /* payloads handed to send() */
	uint64_t send_errors;	 /* send() returned < 0 */
	uint64_t updates_sent;	 /* piggybacked updates (dissemination) */
	uint64_t relays_dropped; /* ping-reqs refused: relay table full */
};

struct swim;

/* Fill cfg with the LAN defaults documented above. */
void swim_config_default(struct swim_config *cfg);

/*
 * Create an instance for member `name` reachable at `addr`, starting at
 * `incarnation` (the host persists it and passes one above the last value
 * it saw, see docs/membership.md) with `meta_len` bytes of metadata.
 * cfg may be NULL (defaults).  The callbacks send, now_ms and random_u64
 * are required.  0 and *out set, -EINVAL (bad argument or config) or
 * -ENOMEM.  The instance is alone until swim_join().
 */
int swim_new(const struct swim_config *cfg, const struct swim_callbacks *cb, const char *name,
	     const char *addr, uint64_t incarnation, const uint8_t *meta, size_t meta_len,
	     struct swim **out) __attribute__((warn_unused_result));
/* Free everything; NULL is a no-op.  Sends nothing (see swim_leave). */
void swim_free(struct swim *s);

/* Remember a seed address to join through (our own address is skipped).
 * 0, -EINVAL (empty or too long), -ENOSPC (SWIM_SEEDS_MAX reached). */
int swim_add_seed(struct swim *s, const char *addr);
/* Send JOIN to every seed, and again every join_retry_ms until one of them
 * has pushed its whole member list.  0 (also when there is no seed: we
 * are the first member), -EBUSY from a callback, -EINVAL after leave. */
int swim_join(struct swim *s);
/* Announce a graceful departure: raise our incarnation, mark ourselves
 * LEFT and tell every member right away (and anyone who asks later).  The
 * host keeps calling swim_receive/swim_tick for a few probe periods before
 * it exits, so that the news outlives lost datagrams.  Idempotent. */
int swim_leave(struct swim *s);
/* Replace our metadata; raises our incarnation so the change spreads.
 * 0, -EINVAL (too long), -EBUSY. */
int swim_set_meta(struct swim *s, const uint8_t *meta, size_t len);

/*
 * Process one payload from from_addr.  The decoder is bounds-checked and
 * refuses trailing bytes; a refused payload changes nothing and counts in
 * stats.malformed.  0, -EBADMSG (refused), -EBUSY (from a callback).
 */
int swim_receive(struct swim *s, const char *from_addr, const uint8_t *buf, size_t len);
/* Run every timer that is due: probes, indirect probes, nacks, suspicion
 * expiry, join retries.  Call it when swim_next_deadline() has passed. */
void swim_tick(struct swim *s);
/* The host monotonic time at which swim_tick() next has work to do
 * (INT64_MAX: none; it can only change through swim_receive or a
 * mutating call, after which the host asks again). */
int64_t swim_next_deadline(const struct swim *s);

/* Members, self included.  swim_member_at(s, i) for i < swim_member_count()
 * iterates in no particular order; the order is stable between mutating
 * calls.  swim_member_get() looks up by name; NULL if unknown. */
size_t swim_member_count(const struct swim *s);
const struct swim_member *swim_member_at(const struct swim *s, size_t i);
const struct swim_member *swim_member_get(const struct swim *s, const char *name);
const struct swim_member *swim_self(const struct swim *s);

/* Local health multiplier, 0..lhm_max: timeouts are scaled by lhm + 1. */
unsigned swim_lhm(const struct swim *s);
/* Updates still waiting to be piggybacked (0 once gossip has quiesced). */
size_t swim_pending_updates(const struct swim *s);
/* The suspicion timeout min and max, for the current membership size. */
void swim_suspicion_bounds(const struct swim *s, int64_t *min_ms, int64_t *max_ms);
/* Retransmissions per update for the current membership size. */
unsigned swim_retransmit_limit(const struct swim *s);
void swim_get_stats(const struct swim *s, struct swim_stats *out);
/* "alive", "suspect", "dead", "left" or "unknown". */
const char *swim_state_name(enum swim_state st);

#endif
