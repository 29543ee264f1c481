/*
 * outbox.c - retransmission until acknowledged (see outbox.h).
 *
 * A plain array: the number of unacknowledged messages is bounded by the
 * runs in flight, which is small (slots across the cluster); a linear scan
 * per tick costs less than a datagram.
 */
#include "outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct outbox_entry {
	uint8_t type;
	uint64_t run_id;
	char peer[WIRE_NAME_MAX + 1];
	struct net_addr to;
	struct wire_msg msg;
	int64_t next_ms;
	int64_t backoff_ms;
	unsigned sends;
};

struct outbox {
	struct net_endpoint *ep;
	struct outbox_config cfg;
	struct outbox_entry *e;
	size_t n, cap;
};

int outbox_new(struct net_endpoint *ep, const struct outbox_config *cfg, struct outbox **out)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return -ENOMEM;
	ob->ep = ep;
	ob->cfg.initial_ms = cfg && cfg->initial_ms > 0 ? cfg->initial_ms : 250;
	ob->cfg.max_ms = cfg && cfg->max_ms > 0 ? cfg->max_ms : 4000;
	*out = ob;
	return 0;
}

void outbox_free(struct outbox *ob)
{
	if (!ob)
		return;
	free(ob->e);
	free(ob);
}

static struct outbox_entry *find(const struct outbox *ob, uint8_t type, uint64_t run_id)
{
	for (size_t i = 0; i < ob->n; i++)
		if (ob->e[i].type == type && ob->e[i].run_id == run_id)
			return &ob->e[i];
	return NULL;
}

static void send_entry(struct outbox *ob, struct outbox_entry *en, int64_t now)
{
	int rc = net_send(ob->ep, &en->to, &en->msg, NULL);
	if (rc < 0)
		log_debug("outbox: send %s run %llu to %s: %s", wire_type_name(en->type),
			  (unsigned long long)en->run_id, en->peer, strerror(-rc));
	en->sends++;
	en->next_ms = now + en->backoff_ms;
	en->backoff_ms = en->backoff_ms * 2 > ob->cfg.max_ms ? ob->cfg.max_ms : en->backoff_ms * 2;
}

int outbox_put(struct outbox *ob, const char *peer, const struct net_addr *to,
	       const struct wire_msg *m, uint64_t run_id)
{
	struct outbox_entry *en = find(ob, m->type, run_id);
	if (!en) {
		if (ob->n == ob->cap) {
			size_t ncap = ob->cap ? ob->cap * 2 : 16;
			struct outbox_entry *ne = realloc(ob->e, ncap * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			ob->e = ne;
			ob->cap = ncap;
		}
		en = &ob->e[ob->n++];
	}
	memset(en, 0, sizeof(*en));
	en->type = m->type;
	en->run_id = run_id;
	snprintf(en->peer, sizeof(en->peer), "%s", peer);
	en->to = *to;
	en->msg = *m;
	en->backoff_ms = ob->cfg.initial_ms;
	send_entry(ob, en, clock_mono_ms());
	return 0;
}

int outbox_ack(struct outbox *ob, uint8_t type, uint64_t run_id)
{
	struct outbox_entry *en = find(ob, type, run_id);
	if (!en)
		return 0;
	*en = ob->e[--ob->n];
	return 1;
}

int outbox_pending(const struct outbox *ob, uint8_t type, uint64_t run_id)
{
	return find(ob, type, run_id) != NULL;
}

void outbox_readdress(struct outbox *ob, const char *peer, const struct net_addr *to)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < ob->n; i++) {
		struct outbox_entry *en = &ob->e[i];
		if (strcmp(en->peer, peer) != 0)
			continue;
		en->to = *to;
		en->backoff_ms = ob->cfg.initial_ms;
		send_entry(ob, en, now);
	}
}

int64_t outbox_tick(struct outbox *ob, int64_t now)
{
	int64_t next = ob->cfg.max_ms;
	for (size_t i = 0; i < ob->n; i++) {
		struct outbox_entry *en = &ob->e[i];
		if (en->next_ms <= now)
			send_entry(ob, en, now);
		if (en->next_ms - now < next)
			next = en->next_ms - now;
	}
	return next;
}

size_t outbox_count(const struct outbox *ob) { return ob->n; }
