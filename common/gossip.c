/*
 * gossip.c - swim on the daemon's transport, clock and loop (gossip.h).
 *
 * The only state here is the glue: the swim instance and its loop timer.
 * The timer re-arms itself at swim's next deadline, so probe timeouts are
 * as precise as the event loop, not a coarse periodic tick.
 */
#include "gossip.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"

struct gossip {
	struct net_endpoint *net;
	struct loop *loop;
	struct swim *swim;
	struct loop_timer *timer;
	void (*on_change)(void *ctx, const struct swim_member *m, enum swim_state old_state);
	void *ctx;
};

static int seam_send(void *ctx, const char *to_addr, const uint8_t *buf, size_t len)
{
	struct gossip *g = ctx;
	struct net_addr to;
	char err[128];
	if (len > WIRE_GOSSIP_MAX || net_addr_parse(to_addr, &to, err, sizeof(err)) < 0)
		return -EINVAL;
	struct wire_msg m = {.type = WIRE_GOSSIP};
	m.u.gossip.len = (uint16_t)len;
	memcpy(m.u.gossip.data, buf, len);
	return net_send(g->net, &to, &m, NULL);
}

static int64_t seam_now(void *ctx)
{
	(void)ctx;
	return clock_mono_ms();
}

static uint64_t seam_random(void *ctx)
{
	(void)ctx;
	return auth_random_u64();
}

static void seam_change(void *ctx, const struct swim_member *m, enum swim_state old_state)
{
	struct gossip *g = ctx;
	if (m->state != old_state)
		log_info("member %s (%s, incarnation %llu): %s -> %s", m->name, m->addr,
			 (unsigned long long)m->incarnation, swim_state_name(old_state),
			 swim_state_name(m->state));
	if (g->on_change)
		g->on_change(g->ctx, m, old_state);
}

static int64_t on_timer(struct loop *l, void *arg)
{
	(void)l;
	struct gossip *g = arg;
	if (clock_mono_ms() >= swim_next_deadline(g->swim))
		swim_tick(g->swim);
	int64_t wait = swim_next_deadline(g->swim) - clock_mono_ms();
	return wait < 1 ? 1 : wait > 1000 ? 1000 : wait;
}

int gossip_new(const struct gossip_config *cfg, struct gossip **out)
{
	struct gossip *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->net = cfg->net;
	g->loop = cfg->loop;
	g->on_change = cfg->on_change;
	g->ctx = cfg->ctx;
	struct swim_callbacks cb = {
		.ctx = g,
		.send = seam_send,
		.now_ms = seam_now,
		.random_u64 = seam_random,
		.on_change = seam_change,
	};
	int rc = swim_new(cfg->swim, &cb, cfg->name, cfg->addr, cfg->incarnation, cfg->meta,
			  cfg->meta_len, &g->swim);
	if (rc == 0)
		rc = loop_add_timer(g->loop, 0, on_timer, g, &g->timer);
	if (rc < 0) {
		swim_free(g->swim);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void gossip_free(struct gossip *g)
{
	if (!g)
		return;
	loop_del_timer(g->loop, g->timer);
	swim_free(g->swim);
	free(g);
}

int gossip_join(struct gossip *g, const char *seeds)
{
	char *buf = strdup(seeds ? seeds : "");
	if (!buf)
		return -ENOMEM;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		int rc = swim_add_seed(g->swim, tok);
		if (rc == -ENOSPC)
			break; /* enough seeds: the first SWIM_SEEDS_MAX are used */
		if (rc < 0) {
			free(buf);
			return rc;
		}
	}
	free(buf);
	return swim_join(g->swim);
}

int gossip_leave(struct gossip *g) { return swim_leave(g->swim); }

int gossip_on_message(struct gossip *g, const struct net_msg *m)
{
	if (m->msg.type != WIRE_GOSSIP)
		return -EINVAL;
	char from[NET_ADDR_STRLEN];
	net_addr_format(&m->from, from, sizeof(from));
	return swim_receive(g->swim, from, m->msg.u.gossip.data, m->msg.u.gossip.len);
}

struct swim *gossip_swim(struct gossip *g) { return g->swim; }

/* [gossip] keys: durations (ms fields) and counts, with their bounds. */
static const struct {
	const char *key;
	bool duration;
	size_t off;
	long max;
} gossip_keys[] = {
	{"probe_interval", true, offsetof(struct swim_config, probe_interval_ms), 60000},
	{"probe_timeout", true, offsetof(struct swim_config, probe_timeout_ms), 60000},
	{"indirect_probes", false, offsetof(struct swim_config, indirect_k), SWIM_K_MAX},
	{"suspicion_mult", false, offsetof(struct swim_config, suspicion_mult), 100},
	{"suspicion_max_mult", false, offsetof(struct swim_config, suspicion_max_mult), 100},
	{"suspicion_confirmations", false, offsetof(struct swim_config, suspicion_k), SWIM_K_MAX},
	{"retransmit_mult", false, offsetof(struct swim_config, retransmit_mult), 100},
	{"gossip_interval", true, offsetof(struct swim_config, gossip_interval_ms), 60000},
	{"gossip_fanout", false, offsetof(struct swim_config, gossip_fanout), 16},
	{"lhm_max", false, offsetof(struct swim_config, lhm_max), 64},
	{"join_retry", true, offsetof(struct swim_config, join_retry_ms), 3600000},
	{"dead_probe", true, offsetof(struct swim_config, dead_probe_ms), 3600000},
	{"reclaim", true, offsetof(struct swim_config, reclaim_ms), 86400000},
};

int gossip_options_load(const struct config *cfg, struct swim_config *out, char *err,
			size_t errlen)
{
	swim_config_default(out);
	size_t nkeys = sizeof(gossip_keys) / sizeof(gossip_keys[0]);
	for (size_t i = 0; i < cfg->n; i++) {
		if (strcmp(cfg->e[i].section, "gossip") != 0)
			continue;
		size_t k = 0;
		while (k < nkeys && strcmp(gossip_keys[k].key, cfg->e[i].key) != 0)
			k++;
		if (k == nkeys) {
			snprintf(err, errlen, "%s: gossip.%s: unknown key", cfg->e[i].origin,
				 cfg->e[i].key);
			return -EINVAL;
		}
	}
	for (size_t k = 0; k < nkeys; k++) {
		uint32_t *field = (uint32_t *)((char *)out + gossip_keys[k].off);
		const char *origin = "default";
		config_get(cfg, "gossip", gossip_keys[k].key, &origin);
		if (gossip_keys[k].duration) {
			int64_t ms;
			if (config_duration_ms(cfg, "gossip", gossip_keys[k].key, *field, &ms, err,
					       errlen) < 0)
				return -EINVAL;
			if (ms < 0 || ms > gossip_keys[k].max) {
				snprintf(err, errlen, "%s: gossip.%s: must be at most %ld ms", origin,
					 gossip_keys[k].key, gossip_keys[k].max);
				return -EINVAL;
			}
			*field = (uint32_t)ms;
		} else {
			long v;
			if (config_int(cfg, "gossip", gossip_keys[k].key, (long)*field, 0,
				       gossip_keys[k].max, &v, err, errlen) < 0)
				return -EINVAL;
			*field = (uint32_t)v;
		}
	}
	if (out->probe_interval_ms == 0 || out->probe_timeout_ms == 0 ||
	    out->probe_timeout_ms >= out->probe_interval_ms || out->suspicion_mult == 0 ||
	    out->suspicion_max_mult == 0 || out->retransmit_mult == 0 || out->join_retry_ms == 0 ||
	    out->gossip_interval_ms == 0) {
		snprintf(err, errlen,
			 "gossip: probe_timeout (%u ms) must be above 0 and below probe_interval "
			 "(%u ms); intervals and multipliers must be above 0",
			 out->probe_timeout_ms, out->probe_interval_ms);
		return -EINVAL;
	}
	return 0;
}
