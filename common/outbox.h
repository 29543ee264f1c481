/*
 * outbox.h - messages that must arrive, retransmitted until acknowledged.
 *
 * Each entry is keyed by (message type, run id): putting a second entry
 * with the same key replaces the first (the newest content wins, e.g. a
 * re-dispatch to another address).  Entries are resent with exponential
 * backoff (initial, doubling, capped) until outbox_ack() removes them.
 * The receiver's handlers are idempotent, so a duplicate is harmless.
 */
#ifndef SCHED_OUTBOX_H
#define SCHED_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "wire.h"

struct outbox;

struct outbox_config {
	int64_t initial_ms;  /* first retransmission after this (default 250) */
	int64_t max_ms;      /* backoff cap (default 4000) */
};

int outbox_new(struct net_endpoint *ep, const struct outbox_config *cfg, struct outbox **out);
void outbox_free(struct outbox *ob);

/* Send m to `to` now and keep it for retransmission under (m->type, run_id). */
int outbox_put(struct outbox *ob, const char *peer, const struct net_addr *to,
	       const struct wire_msg *m, uint64_t run_id);

/* Remove the entry (type, run_id) if present; returns 1 if removed, else 0. */
int outbox_ack(struct outbox *ob, uint8_t type, uint64_t run_id);

/* Is (type, run_id) waiting for an acknowledgement? */
int outbox_pending(const struct outbox *ob, uint8_t type, uint64_t run_id);

/* New address for every entry to peer (it restarted elsewhere); resend them now. */
void outbox_readdress(struct outbox *ob, const char *peer, const struct net_addr *to);

/* Resend every entry whose time has come; returns ms until the next one
 * (or max_ms when empty). */
int64_t outbox_tick(struct outbox *ob, int64_t now_mono_ms);

size_t outbox_count(const struct outbox *ob);

#endif
