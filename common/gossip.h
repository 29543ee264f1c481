/*
 * gossip.h - SWIM membership (swim.h) on a daemon's real transport: the
 * payloads travel as WIRE_GOSSIP messages through the daemon's
 * authenticated endpoint (net.h), time comes from clock.h, randomness
 * from auth.h, and swim's timers run on the daemon's event loop.
 *
 * The daemon keeps reading its socket as before and hands every
 * WIRE_GOSSIP message to gossip_on_message(); everything else about
 * membership is asked of the swim instance (gossip_swim()).
 */
#ifndef SCHED_GOSSIP_H
#define SCHED_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "net.h"
#include "swim.h"

struct gossip;

struct gossip_config {
	struct net_endpoint *net;      /* borrowed; sends WIRE_GOSSIP on it */
	struct loop *loop;             /* borrowed; swim's timers run here */
	const char *name;              /* this member's unique name */
	const char *addr;              /* "ip:port" others reach us at */
	uint64_t incarnation;          /* above any this name used before */
	const uint8_t *meta;           /* disseminated metadata, may be NULL */
	size_t meta_len;
	const struct swim_config *swim; /* NULL: LAN defaults */
	/* Optional: every state change of another member (see swim.h). */
	void (*on_change)(void *ctx, const struct swim_member *m, enum swim_state old_state);
	void *ctx;
};

/*
 * The [gossip] section of a daemon's config into *out (LAN defaults for
 * what is unset; see docs/membership.md for every key and the detection
 * time the defaults give).  Unknown keys and bad values are refused with
 * "origin: gossip.key: why".  0 or -EINVAL.
 */
int gossip_options_load(const struct config *cfg, struct swim_config *out, char *err,
			size_t errlen);

/* Create the member and arm its timer.  0 or -errno. */
int gossip_new(const struct gossip_config *cfg, struct gossip **out)
	__attribute__((warn_unused_result));
/* Stop the timer and free; sends nothing (call gossip_leave first). */
void gossip_free(struct gossip *g);

/* Seeds ("ip:port", comma-separated; the first SWIM_SEEDS_MAX count) to
 * join through; then join.  -EINVAL for a malformed seed. */
int gossip_join(struct gossip *g, const char *seeds);
/* Announce a graceful departure (see swim_leave). */
int gossip_leave(struct gossip *g);

/* A WIRE_GOSSIP message from the endpoint: into swim.  0 or -EBADMSG. */
int gossip_on_message(struct gossip *g, const struct net_msg *m);

/* The membership view, for queries (members, states, stats). */
struct swim *gossip_swim(struct gossip *g);

#endif
