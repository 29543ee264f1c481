/*
 * control_ckpt.c - `schedctl checkpoint TASK [--clear] [--raw]`: a task's
 * stored checkpoint (docs/operations.md, "Checkpoints").
 *
 *   checkpoint TASK          size, token, run, version, when, hash; the
 *                            content too if it is text of at most 4 KiB
 *   checkpoint TASK --clear  delete it (a "checkpoint_clear" event); the
 *                            task's next run starts without one
 *   checkpoint TASK --raw    the content's bytes exactly, nothing else
 *                            (schedctl's --out FILE asks for this)
 *
 * Both forms list the task's recent checkpoint events (refusals of stale
 * or oversized checkpoints, clears).  With --json: {"task", "stored",
 * "size", "token", "run_id", "version", "updated", "hash", "text" (null
 * unless shown), "events", "counters"}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "sched.h"

#define SHOW_TEXT_MAX 4096
#define EVENTS_SCAN   500 /* recent events looked through */
#define EVENTS_SHOWN  10  /* checkpoint events of the task shown */

struct ev_list {
	const char *task;
	size_t n;
	struct store_event_row rows[EVENTS_SHOWN];
};

static int collect_event(void *arg, const struct store_event_row *ev)
{
	struct ev_list *l = arg;
	if (l->n < EVENTS_SHOWN && strncmp(ev->kind, "checkpoint_", 11) == 0 &&
	    strcmp(ev->task, l->task) == 0)
		l->rows[l->n++] = *ev;
	return 0;
}

/* The task's recent checkpoint events (refusals, clears), newest first. */
static void put_events(struct sched *s, const char *task, bool json, struct strbuf *out)
{
	struct ev_list *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	l->task = task;
	if (store_events_recent(s->store, EVENTS_SCAN, collect_event, l) < 0)
		l->n = 0;
	if (json)
		strbuf_puts(out, ", \"events\": [");
	else if (l->n)
		strbuf_puts(out, "recent events:\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct store_event_row *e = &l->rows[i];
		char when[40];
		if (json) {
			strbuf_printf(out, "%s{\"at\": ", i ? ", " : "");
			ctl_json_time(out, e->at_ms);
			strbuf_puts(out, ", \"kind\": ");
			strbuf_json_str(out, e->kind);
			strbuf_printf(out, ", \"run_id\": %llu, \"node\": ",
				      (unsigned long long)e->run_id);
			strbuf_json_str(out, e->node);
			strbuf_puts(out, ", \"message\": ");
			strbuf_json_str(out, e->message);
			strbuf_puts(out, "}");
		} else {
			ctl_time(e->at_ms, when, sizeof(when));
			strbuf_printf(out, "  %s  %-20s run %llu  %s\n", when, e->kind,
				      (unsigned long long)e->run_id, e->message);
		}
	}
	if (json)
		strbuf_puts(out, "]");
	free(l);
}

/* Printable text (UTF-8, no control bytes but tab and newlines)? */
static bool is_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t len = (c & 0xe0) == 0xc0	  ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		if (!len || c == 0xc0 || c == 0xc1 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void hex(const uint8_t *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void put_counters(struct sched *s, struct strbuf *out, bool json)
{
	struct sched_ckpt_counters c;
	sched_ckpt_counters(s, &c);
	if (json)
		strbuf_printf(out,
			      ", \"counters\": {\"stored\": %llu, \"refused_stale\": %llu, "
			      "\"refused_too_big\": %llu, \"refused_bad\": %llu, "
			      "\"chunks_served\": %llu}",
			      (unsigned long long)c.stored, (unsigned long long)c.stale,
			      (unsigned long long)c.too_big, (unsigned long long)c.bad,
			      (unsigned long long)c.served);
	else
		strbuf_printf(
			out,
			"(since schedd started: %llu stored, %llu refused as stale, %llu too big, "
			"%llu bad)\n",
			(unsigned long long)c.stored, (unsigned long long)c.stale,
			(unsigned long long)c.too_big, (unsigned long long)c.bad);
}

static int show(struct sched *s, const char *task, bool json, bool raw, struct strbuf *out)
{
	struct store_ckpt m;
	void *data = NULL;
	int rc = store_ckpt_get(s->store, task, &m, &data);
	if (rc < 0 && rc != -ENOENT)
		return ctl_result(out, json, 1, "", "cannot read the checkpoint of %s: %s", task,
				  strerror(-rc));
	if (raw) {
		if (rc == -ENOENT) {
			strbuf_printf(out, "no checkpoint stored for %s\n", task);
			return 1;
		}
		strbuf_putn(out, data, m.size);
		free(data);
		return 0;
	}
	if (rc == -ENOENT) {
		if (json) {
			strbuf_puts(out, "{\"task\": ");
			strbuf_json_str(out, task);
			strbuf_puts(out, ", \"stored\": false");
			put_events(s, task, true, out);
			put_counters(s, out, true);
			strbuf_puts(out, "}\n");
		} else {
			strbuf_printf(out, "no checkpoint stored for %s\n", task);
			put_events(s, task, false, out);
			put_counters(s, out, false);
		}
		return 0;
	}
	char h[2 * STORE_CKPT_HASH + 1], when[40];
	hex(m.hash, STORE_CKPT_HASH, h);
	bool text = m.size <= SHOW_TEXT_MAX && is_text(data, m.size);
	if (json) {
		strbuf_puts(out, "{\"task\": ");
		strbuf_json_str(out, task);
		strbuf_printf(
			out,
			", \"stored\": true, \"size\": %u, \"token\": %llu, \"run_id\": %llu, "
			"\"version\": %llu, \"updated\": ",
			m.size, (unsigned long long)m.token, (unsigned long long)m.run_id,
			(unsigned long long)m.seq);
		ctl_json_time(out, m.updated_ms);
		strbuf_printf(out, ", \"hash\": \"%s\", \"text\": ", h);
		if (text) {
			char *t = malloc(m.size + 1);
			if (t) {
				memcpy(t, data, m.size);
				t[m.size] = '\0';
			}
			strbuf_json_str(out, t);
			free(t);
		} else {
			strbuf_puts(out, "null");
		}
		put_events(s, task, true, out);
		put_counters(s, out, true);
		strbuf_puts(out, "}\n");
	} else {
		ctl_time(m.updated_ms, when, sizeof(when));
		strbuf_printf(out,
			      "task     %s\nsize     %u bytes\ntoken    %llu\nrun      %llu\n"
			      "version  %llu\nupdated  %s\nhash     %s (BLAKE2b-128)\n",
			      task, m.size, (unsigned long long)m.token,
			      (unsigned long long)m.run_id, (unsigned long long)m.seq, when, h);
		if (text) {
			strbuf_puts(out, "content:\n");
			strbuf_putn(out, data, m.size);
			if (m.size && ((const char *)data)[m.size - 1] != '\n')
				strbuf_puts(out, "\n");
		} else {
			strbuf_printf(out, "content: %s; use --out FILE\n",
				      m.size > SHOW_TEXT_MAX ? "over 4 KiB" : "not text");
		}
		put_events(s, task, false, out);
		put_counters(s, out, false);
	}
	free(data);
	return 0;
}

static int clear(struct sched *s, const char *task, bool json, struct strbuf *out)
{
	char extra[120];
	snprintf(extra, sizeof(extra), ", \"task\": \"%.63s\"", task);
	int rc = store_ckpt_clear(s->store, task, "operator", clock_wall_ms());
	sched_ckpt_forget_task(s, task);
	if (rc == -EALREADY)
		return ctl_result(out, json, 0, extra, "%s has no checkpoint; nothing to clear",
				  task);
	if (rc == -ENOENT)
		return ctl_result(out, json, 1, extra, "no task named %s", task);
	if (rc < 0)
		return ctl_result(out, json, 1, extra, "could not clear the checkpoint of %s: %s",
				  task, strerror(-rc));
	log_info("checkpoint of %s cleared by an operator", task);
	return ctl_result(out, json, 0, extra,
			  "checkpoint of %s cleared; its next run starts without one", task);
}

int ctl_cmd_checkpoint(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	const char *task = NULL;
	bool do_clear = false, raw = false;
	for (int i = 0; i < a->argc; i++) {
		if (strcmp(a->argv[i], "--clear") == 0) {
			do_clear = true;
		} else if (strcmp(a->argv[i], "--raw") == 0) {
			raw = true;
		} else if (!task && a->argv[i][0] != '-') {
			task = a->argv[i];
		} else {
			strbuf_printf(out,
				      "checkpoint: unexpected argument '%s'\n"
				      "usage: schedctl checkpoint TASK [--clear | --out FILE]\n",
				      a->argv[i]);
			return 2;
		}
	}
	if (!task || (do_clear && raw)) {
		strbuf_puts(out, "usage: schedctl checkpoint TASK [--clear | --out FILE]\n");
		return 2;
	}
	struct store_task_state ts;
	if (store_task_state(s->store, task, &ts) < 0) {
		if (raw) {
			strbuf_printf(out, "no task named %s\n", task);
			return 1;
		}
		return ctl_result(out, a->json, 1, "", "no task named %s", task);
	}
	return do_clear ? clear(s, task, a->json, out) : show(s, task, a->json, raw, out);
}
