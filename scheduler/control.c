/*
 * control.c - requests from schedctl.
 *
 * A request carries argv (the subcommand and its arguments) and whether
 * the caller wants JSON.  The scheduler runs the command once per request
 * id, keeps the whole reply text for a minute, and serves it page by page
 * (replies larger than one datagram are paged); a retransmitted request
 * gets the cached reply, so `run`, `cancel` and friends never act twice.
 *
 * Reply text is either an aligned table for people or JSON with stable
 * field names for programs.  Exit codes: 0 ok, 1 failure, 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "sched.h"

#define CACHE_MAX 64
#define CACHE_TTL_MS 60000

struct ctl_entry {
	uint64_t sender, req_id;
	int64_t at;
	int exit_code;
	char *text;
	size_t len;
};

struct ctl_cache {
	struct ctl_entry e[CACHE_MAX];
};

int ctl_cache_new(struct ctl_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ctl_cache_free(struct ctl_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_MAX; i++)
		free(c->e[i].text);
	free(c);
}

static struct ctl_entry *cache_find(struct ctl_cache *c, uint64_t sender, uint64_t req_id)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < CACHE_MAX; i++) {
		struct ctl_entry *e = &c->e[i];
		if (e->text && now - e->at > CACHE_TTL_MS) {
			free(e->text);
			e->text = NULL;
		}
		if (e->text && e->sender == sender && e->req_id == req_id)
			return e;
	}
	return NULL;
}

static struct ctl_entry *cache_slot(struct ctl_cache *c)
{
	struct ctl_entry *oldest = &c->e[0];
	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (!c->e[i].text)
			return &c->e[i];
		if (c->e[i].at < oldest->at)
			oldest = &c->e[i];
	}
	free(oldest->text);
	oldest->text = NULL;
	return oldest;
}

void ctl_time(int64_t ms, char *buf, size_t len)
{
	if (ms <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	cron_format_time(ms / 1000, "UTC", buf, len);
}

void ctl_json_time(struct strbuf *b, int64_t ms)
{
	if (ms <= 0) {
		strbuf_puts(b, "null");
		return;
	}
	char t[40];
	cron_format_time(ms / 1000, "UTC", t, sizeof(t));
	strbuf_json_str(b, t);
}

static const struct ctl_command *find_command(const char *name)
{
	for (const struct ctl_command *c = ctl_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static int execute(struct sched *s, const struct wire_ctl_req *rq, struct strbuf *out)
{
	if (rq->argc == 0) {
		strbuf_puts(out, "no command given\n");
		return 2;
	}
	const struct ctl_command *c = find_command(rq->argv[0]);
	if (!c) {
		strbuf_printf(out, "unknown command '%s' (try: schedctl help)\n", rq->argv[0]);
		return 2;
	}
	struct ctl_args a = {.argc = rq->argc - 1, .argv = (const char *const *)rq->argv + 1,
			     .json = rq->json != 0};
	return c->fn(s, &a, out);
}

void sched_on_ctl(struct sched *s, const struct net_msg *nm)
{
	const struct wire_ctl_req *rq = &nm->msg.u.ctl_req;
	struct ctl_entry *e = cache_find(s->ctl, nm->hdr.sender, rq->req_id);
	if (!e) {
		struct strbuf out;
		strbuf_init(&out);
		int code = execute(s, rq, &out);
		if (strbuf_failed(&out)) {
			log_warnx("control: out of memory building a reply");
			strbuf_free(&out);
			return;
		}
		e = cache_slot(s->ctl);
		e->sender = nm->hdr.sender;
		e->req_id = rq->req_id;
		e->at = clock_mono_ms();
		e->exit_code = code;
		e->len = out.len;
		e->text = out.s ? out.s : strdup("");
		if (!e->text) {
			e->len = 0;
			return;
		}
	}
	struct wire_msg m = {.type = WIRE_CTL_RESP};
	struct wire_ctl_resp *r = &m.u.ctl_resp;
	r->req_id = rq->req_id;
	r->npages = (uint32_t)((e->len + WIRE_CTL_PAGE_MAX - 1) / WIRE_CTL_PAGE_MAX);
	if (r->npages == 0)
		r->npages = 1;
	r->page = rq->page < r->npages ? rq->page : r->npages - 1;
	r->exit_code = (uint8_t)e->exit_code;
	size_t off = (size_t)r->page * WIRE_CTL_PAGE_MAX;
	size_t n = e->len > off ? e->len - off : 0;
	if (n > WIRE_CTL_PAGE_MAX)
		n = WIRE_CTL_PAGE_MAX;
	memcpy(r->data, e->text + off, n);
	r->len = (uint16_t)n;
	int rc = net_send(s->net, &nm->from, &m, NULL);
	if (rc < 0)
		log_debug("control: reply: %s", strerror(-rc));
}
