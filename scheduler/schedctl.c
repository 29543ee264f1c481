/*
 * schedctl.c - the operator's command line.
 *
 * Local commands (keygen, next, help) need no scheduler.  Every other
 * command is sent to schedd as an authenticated CTL_REQ with the cluster
 * key; the reply comes back in pages and is printed as is (a table, or
 * JSON with --json).  A request is retransmitted until answered (the
 * scheduler executes each request id once), so a lost datagram never
 * makes a `run` or `cancel` happen twice.
 *
 * Exit codes: 0 ok, 1 failure (including no answer), 2 bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "cli.h"
#include "clock.h"
#include "cron.h"
#include "log.h"
#include "net.h"
#include "strbuf.h"

static const struct cli_flag ctl_flags[] = {
	{"--scheduler", "cluster", "scheduler", "scheduler address, ADDR:PORT"},
	{"--key-file", "cluster", "key_file", "cluster keyring file"},
	{"--timeout", "schedctl", "timeout", "how long to wait for an answer (default 5s)"},
	{NULL, NULL, NULL, NULL},
};

static bool opt_json, opt_help;
static const struct cli_switch ctl_switches[] = {
	{"--json", &opt_json, "machine-readable output"},
	{"-h", &opt_help, "this help"},
	{"--help", &opt_help, "this help"},
	{NULL, NULL, NULL},
};

static const char *const commands_help =
	"commands:\n"
	"  tasks [--all]                   tasks, their state, next and last run, why one waits\n"
	"  history TASK [--limit N]        runs of a task, newest first\n"
	"  run TASK...                     start a run now (reason manual)\n"
	"  trigger TASK                    ask for a run (reason trigger; debounce, follow-up)\n"
	"  cancel RUN_ID|TASK...           stop a run, or a task's unfinished runs\n"
	"  pause TASK... | resume TASK...  stop / restart scheduling tasks\n"
	"    (run, cancel, pause, resume: -l k=v[,k=v...] picks the tasks by their\n"
	"    labels; several items apply all or nothing)\n"
	"  reload                          re-read the schedule files (all or nothing)\n"
	"  status                          scheduler, workers and unfinished runs\n"
	"  logs RUN_ID                     a run's result and output tail\n"
	"  members                         gossip members: state, incarnation, runs\n"
	"  fence list                      fence requests, open first, newest closed after\n"
	"  fence show ID                   a fence request's hook calls with their output\n"
	"  fence confirm NODE [--force]    vouch that NODE is isolated: its runs become lost\n"
	"  fence resume                    lift a storm pause: fence hooks run again\n"
	"  drain NODE [--wait]             no new runs to NODE; --wait: until it holds none\n"
	"  undrain NODE                    NODE takes new runs again\n"
	"  checkpoint TASK [--clear | --out FILE]\n"
	"                                  a task's stored checkpoint; clear it; save it\n"
	"  keygen [--out FILE]             create a cluster keyring (mode 0600)\n"
	"  next EXPR [--count N] [--from TIME] [--tz ZONE]\n"
	"                                  next fire times of a schedule expression\n";

static void usage(void)
{
	cli_usage("schedctl", "[-c FILE] [--json] COMMAND [ARGS]", ctl_flags, ctl_switches);
	fprintf(stderr, "\n%s", commands_help);
}

static int cmd_keygen(const struct config *cfg, int argc, char **argv)
{
	const char *out = config_str(cfg, "cluster", "key_file", "sched.keys");
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else {
			fprintf(stderr, "usage: schedctl keygen [--out FILE]\n");
			return 2;
		}
	}
	char err[512];
	if (auth_init() < 0 || auth_keyring_generate(out, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: keygen: %s\n", err);
		return 1;
	}
	printf("wrote a new cluster key to %s (mode 0600); copy it to every node\n", out);
	return 0;
}

static int cmd_next(int argc, char **argv)
{
	const char *expr = NULL, *from = "now", *tz = "UTC";
	long count = 5;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			char *end;
			count = strtol(argv[++i], &end, 10);
			if (*end || count < 1 || count > 1000) {
				fprintf(stderr, "schedctl: next: --count must be 1..1000\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(argv[i], "--tz") == 0 && i + 1 < argc) {
			tz = argv[++i];
		} else if (!expr && argv[i][0] != '-') {
			expr = argv[i];
		} else {
			expr = NULL;
			break;
		}
	}
	if (!expr) {
		fprintf(stderr, "usage: schedctl next EXPR [--count N] [--from TIME] [--tz ZONE]\n"
				"  e.g. schedctl next '30 2 * * *' --tz Europe/Berlin --count 3\n");
		return 2;
	}
	struct cron_expr e;
	char err[256];
	if (cron_parse(expr, tz, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: next: '%s': %s\n", expr, err);
		return 2;
	}
	int64_t t;
	if (cron_parse_time(from, tz, &t) < 0) {
		fprintf(stderr, "schedctl: next: --from '%s': expected 'now', YYYY-MM-DD[ HH:MM[:SS]] "
				"or RFC 3339\n", from);
		return 2;
	}
	if (opt_json)
		printf("[");
	for (long i = 0; i < count; i++) {
		if (cron_next(&e, t, &t) < 0) {
			if (i == 0) {
				fprintf(stderr, "schedctl: next: '%s' never fires\n", expr);
				return 1;
			}
			break;
		}
		char local[40], utc[40];
		cron_format_time(t, tz, local, sizeof(local));
		cron_format_time(t, "UTC", utc, sizeof(utc));
		if (opt_json)
			printf("%s\n  {\"time\": \"%s\", \"utc\": \"%s\", \"unix\": %lld}", i ? "," : "",
			       local, utc, (long long)t);
		else
			printf("%s  (%s)\n", local, utc);
	}
	if (opt_json)
		printf("\n]\n");
	return 0;
}

/* Send argv to the scheduler; the paged reply into *text, exit code back. */
static int remote_call(const struct config *cfg, int argc, char **argv, struct strbuf *reply)
{
	char err[512];
	const char *origin;
	const char *addr = config_get(cfg, "cluster", "scheduler", &origin);
	if (!addr)
		addr = config_get(cfg, "scheduler", "listen", &origin);
	if (!addr) {
		addr = "127.0.0.1:7000";
		origin = "default";
	}
	struct net_addr to;
	if (net_addr_parse(addr, &to, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: %s: scheduler address: %s\n", origin, err);
		return 2;
	}
	int64_t timeout_ms;
	if (config_duration_ms(cfg, "schedctl", "timeout", 5000, &timeout_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: %s\n", err);
		return 2;
	}
	struct auth_keyring keys;
	if (auth_init() < 0 ||
	    auth_keyring_load(config_str(cfg, "cluster", "key_file", "sched.keys"), &keys, err,
			      sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: %s\n", err);
		return 1;
	}
	struct wire_msg *req = calloc(1, sizeof(*req));
	struct net_msg *in = calloc(1, sizeof(*in));
	struct net_endpoint *ep = NULL;
	struct strbuf text;
	strbuf_init(&text);
	int code = 1;
	bool answered = false;
	if (!req || !in)
		goto out;
	req->type = WIRE_CTL_REQ;
	req->u.ctl_req.req_id = auth_random_u64();
	req->u.ctl_req.json = opt_json;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			req->u.ctl_req.json = 1;
			continue;
		}
		if (wire_ctl_req_add_arg(&req->u.ctl_req, argv[i]) < 0) {
			fprintf(stderr, "schedctl: arguments too long for one request\n");
			code = 2;
			goto out;
		}
	}
	struct net_config nc = {
		.listen = NULL,
		.keys = &keys,
		.sender_id = auth_random_u64(),
		.incarnation = (uint64_t)clock_wall_ms(),
		.max_skew_ms = 60000,
		.replay_senders = 4,
	};
	if (to.ss.ss_family == AF_INET6) {
		static struct net_addr any6;
		net_addr_parse("[::1]:0", &any6, err, sizeof(err));
		nc.listen = &any6;
	}
	if (net_open(&nc, &ep, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedctl: %s\n", err);
		goto out;
	}
	int64_t deadline = clock_mono_ms() + timeout_ms;
	uint32_t page = 0, npages = 1;
	while (page < npages) {
		req->u.ctl_req.page = page;
		net_send(ep, &to, req, NULL);
		int64_t resend_at = clock_mono_ms() + 300;
		bool got = false;
		while (!got && clock_mono_ms() < resend_at) {
			struct pollfd pfd = {.fd = net_fd(ep), .events = POLLIN};
			int wait = (int)(resend_at - clock_mono_ms());
			if (poll(&pfd, 1, wait > 0 ? wait : 0) <= 0)
				continue;
			while (net_recv(ep, in) != -EAGAIN) {
				const struct wire_ctl_resp *r = &in->msg.u.ctl_resp;
				if (in->msg.type != WIRE_CTL_RESP || r->req_id != req->u.ctl_req.req_id ||
				    r->page != page)
					continue;
				strbuf_putn(&text, (const char *)r->data, r->len);
				npages = r->npages;
				code = r->exit_code;
				got = true;
				break;
			}
		}
		if (got) {
			page++;
			deadline = clock_mono_ms() + timeout_ms;
		} else if (clock_mono_ms() >= deadline) {
			fprintf(stderr,
				"schedctl: no answer from the scheduler at %s within %lld ms "
				"(is schedd running, and is this its key file?)\n",
				addr, (long long)timeout_ms);
			code = 1;
			goto out;
		}
	}
	answered = true;
	strbuf_putn(reply, strbuf_str(&text), text.len); /* any bytes (checkpoint --out) */
out:
	if (!answered && code == 1)
		code = -1; /* no answer (already said so) */
	strbuf_free(&text);
	net_close(ep);
	free(req);
	free(in);
	auth_keyring_wipe(&keys);
	return code;
}

static int remote(const struct config *cfg, int argc, char **argv)
{
	struct strbuf reply;
	strbuf_init(&reply);
	int code = remote_call(cfg, argc, argv, &reply);
	fputs(strbuf_str(&reply), code == 0 ? stdout : stderr);
	strbuf_free(&reply);
	return code < 0 ? 1 : code;
}

/* checkpoint TASK --out FILE: the stored checkpoint's bytes into FILE
 * (asked for with --raw), exactly as stored. */
static int checkpoint_out(const struct config *cfg, int argc, char **argv)
{
	const char *task = NULL, *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && !file)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			continue;
		else if (!task && argv[i][0] != '-')
			task = argv[i];
		else
			task = file = NULL, i = argc;
	}
	if (!task || !file) {
		fprintf(stderr, "usage: schedctl checkpoint TASK [--clear | --out FILE]\n");
		return 2;
	}
	char *args[] = {"checkpoint", (char *)task, "--raw", NULL};
	struct strbuf reply;
	strbuf_init(&reply);
	int code = remote_call(cfg, 3, args, &reply);
	if (code != 0) {
		fputs(strbuf_str(&reply), stderr);
		strbuf_free(&reply);
		return code < 0 ? 1 : code;
	}
	FILE *f = fopen(file, "wb");
	if (!f || fwrite(strbuf_str(&reply), 1, reply.len, f) != reply.len || fclose(f) != 0) {
		fprintf(stderr, "schedctl: checkpoint: %s: %s\n", file, strerror(errno));
		strbuf_free(&reply);
		return 1;
	}
	if (opt_json) {
		struct strbuf j;
		strbuf_init(&j);
		strbuf_puts(&j, "{\"ok\": true, \"task\": ");
		strbuf_json_str(&j, task);
		strbuf_puts(&j, ", \"file\": ");
		strbuf_json_str(&j, file);
		strbuf_printf(&j, ", \"size\": %zu}\n", reply.len);
		fputs(strbuf_str(&j), stdout);
		strbuf_free(&j);
	} else
		printf("wrote the checkpoint of %s (%zu bytes) to %s\n", task, reply.len, file);
	strbuf_free(&reply);
	return 0;
}

static bool has_arg(int argc, char **argv, const char *arg)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], arg) == 0)
			return true;
	return false;
}

/* drain NODE --wait: drain, then ask again every second until the node
 * holds no run, printing the progress; then say it is safe to stop. */
static int drain_wait(const struct config *cfg, const char *node)
{
	char *argv[] = {"drain", (char *)node, "--json", NULL};
	int64_t start = clock_mono_ms();
	int last = -1;
	for (;;) {
		struct strbuf reply;
		strbuf_init(&reply);
		int code = remote_call(cfg, 3, argv, &reply);
		const char *p = strstr(strbuf_str(&reply), "\"runs_left\": ");
		int left = p ? atoi(p + 13) : -1;
		if (code != 0 || left < 0) {
			if (code >= 0)
				fputs(strbuf_str(&reply), stderr);
			strbuf_free(&reply);
			return code < 0 ? 1 : code ? code : 1;
		}
		strbuf_free(&reply);
		double secs = (clock_mono_ms() - start) / 1000.0;
		if (left == 0) {
			if (opt_json)
				printf("{\"ok\": true, \"node\": \"%s\", \"runs_left\": 0, "
				       "\"waited_s\": %.1f}\n", node, secs);
			else
				printf("%s is drained and holds no runs after %.1fs: safe to stop\n",
				       node, secs);
			return 0;
		}
		if (left != last && !opt_json)
			printf("draining %s: %d run(s) left after %.1fs\n", node, left, secs);
		fflush(stdout);
		last = left;
		struct timespec ts = {.tv_sec = 1};
		nanosleep(&ts, NULL);
	}
}

/* The NODE of "drain NODE --wait" (--json anywhere), else NULL. */
static const char *drain_node(int argc, char **argv)
{
	const char *node = NULL;
	bool wait = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0)
			wait = true;
		else if (strcmp(argv[i], "--json") == 0)
			continue;
		else if (node || argv[i][0] == '-')
			return NULL;
		else
			node = argv[i];
	}
	return wait ? node : NULL;
}

int main(int argc, char **argv)
{
	struct config cfg;
	config_init(&cfg);
	const char *cfg_path;
	char err[512];
	log_init("schedctl", LOG_LVL_WARN);
	int first = cli_parse(argc, argv, ctl_flags, ctl_switches, &cfg, &cfg_path, err,
			      sizeof(err));
	int code;
	if (first < 0) {
		fprintf(stderr, "schedctl: %s\n", err);
		code = 2;
	} else if (opt_help || first >= argc || strcmp(argv[first], "help") == 0) {
		usage();
		code = opt_help || (first < argc) ? 0 : 2;
	} else {
		/* --json may also follow the command */
		for (int i = first; i < argc; i++)
			if (strcmp(argv[i], "--json") == 0)
				opt_json = true;
		const char *cmd = argv[first];
		if (strcmp(cmd, "keygen") == 0)
			code = cmd_keygen(&cfg, argc - first - 1, argv + first + 1);
		else if (strcmp(cmd, "next") == 0) {
			int n = 0;
			char **rest = argv + first + 1;
			for (int i = 0; i < argc - first - 1; i++)
				if (strcmp(rest[i], "--json") != 0)
					rest[n++] = rest[i];
			code = cmd_next(n, rest);
		} else if (strcmp(cmd, "checkpoint") == 0 && has_arg(argc - first, argv + first, "--out")) {
			code = checkpoint_out(&cfg, argc - first, argv + first);
		} else if (strcmp(cmd, "drain") == 0 && drain_node(argc - first, argv + first)) {
			code = drain_wait(&cfg, drain_node(argc - first, argv + first));
		} else
			code = remote(&cfg, argc - first, argv + first);
	}
	config_free(&cfg);
	return code;
}
