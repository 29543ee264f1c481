/*
 * schedd.c - the scheduler daemon: configuration, start-up, signals and
 * the main loop.  See sched.h for how the work is split.
 *
 * Start-up order matters for the safety argument: open the store
 * (migrating it), load the schedule files (refusing to start on errors),
 * recover unfinished runs and known nodes from the store, and only then
 * open the socket and start firing and dispatching.  SIGHUP reloads the
 * schedule files (all or nothing); SIGTERM/SIGINT stop dispatching and
 * exit without touching any run: workers keep running their tasks and
 * report when a scheduler is back.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "cli.h"
#include "clock.h"
#include "log.h"
#include "sched.h"

static const struct cli_flag schedd_flags[] = {
	{"--name", "scheduler", "name", "scheduler name (sender identity)"},
	{"--listen", "scheduler", "listen", "UDP address to listen on, ADDR:PORT"},
	{"--scheduler", "cluster", "scheduler", "the scheduler address workers use"},
	{"--db", "scheduler", "db", "SQLite database path"},
	{"--key-file", "cluster", "key_file", "cluster keyring file (schedctl keygen)"},
	{"--tasks-dir", "scheduler", "tasks_dir", "directory of schedule files"},
	{"--log-level", "scheduler", "log_level", "error, warn, info or debug"},
	{"--fence-hook", "scheduler", "fence_hook", "HOOK NODE ADDRESS INCARNATION; exit 0: isolated"},
	{"--seeds", "cluster", "seeds", "gossip seed addresses, ADDR:PORT,..."},
	{NULL, NULL, NULL, NULL},
};

static const char *const schedd_schema[] = {
	"cluster.key_file", "cluster.scheduler", "cluster.scheduler_name",
	"cluster.max_clock_skew", "scheduler.name", "scheduler.listen", "scheduler.db",
	"scheduler.tasks_dir", "scheduler.lease", "scheduler.heartbeat",
	"scheduler.node_timeout", "scheduler.catch_up_grace", "scheduler.log_level",
	"scheduler.advertise", "scheduler.fence_hook", "scheduler.fence_timeout",
	"scheduler.fence_backoff_max", "scheduler.fence_storm_share", "scheduler.fence_storm_min",
	"scheduler.fence_storm_window", "scheduler.node_grace", "scheduler.checkpoint_max",
	"cluster.seeds", "gossip.*",
	/* worker keys may live in a shared cluster file */
	"worker.name", "worker.listen", "worker.db", "worker.slots", "worker.labels",
	"worker.log_dir", "worker.log_cap", "worker.log_retention", "worker.kill_grace",
	"worker.log_level", "worker.advertise", "worker.drain_timeout", "worker.checkpoint_max",
	NULL,
};

static bool opt_check, opt_help;
static const struct cli_switch schedd_switches[] = {
	{"-n", &opt_check, "check the configuration and schedule files, then exit"},
	{"-h", &opt_help, "this help"},
	{"--help", &opt_help, "this help"},
	{NULL, NULL, NULL},
};

/* fence_storm_share: "0.5" or "50%", in (0, 1]. */
static int parse_share(const struct config *cfg, double *out, char *err, size_t len)
{
	const char *origin;
	const char *v = config_get(cfg, "scheduler", "fence_storm_share", &origin);
	*out = 0.5;
	if (!v)
		return 0;
	char *end;
	double x = strtod(v, &end);
	if (end != v && *end == '%' && end[1] == '\0')
		x /= 100.0;
	else if (end == v || *end != '\0')
		x = -1;
	if (!(x > 0 && x <= 1)) {
		snprintf(err, len, "%s: scheduler.fence_storm_share: '%s' is not a share in (0, 1] "
			 "(e.g. 0.5 or 50%%)", origin, v);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int load_fence_options(const struct config *cfg, struct sched_opts *o, char *err,
			      size_t len)
{
	const char *origin;
	const char *hook = config_get(cfg, "scheduler", "fence_hook", &origin);
	if (hook && hook[0] && hook[0] != '/') {
		snprintf(err, len, "%s: scheduler.fence_hook: '%s' must be an absolute path", origin,
			 hook);
		return -EINVAL;
	}
	if (hook && strlen(hook) >= sizeof(o->fence_hook)) {
		snprintf(err, len, "%s: scheduler.fence_hook: path too long", origin);
		return -EINVAL;
	}
	snprintf(o->fence_hook, sizeof(o->fence_hook), "%s", hook ? hook : "");
	if (config_duration_ms(cfg, "scheduler", "fence_timeout", 60000, &o->fence_timeout_ms, err,
			       len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "fence_backoff_max", 60000,
			       &o->fence_backoff_max_ms, err, len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "fence_storm_window", 30000, &o->storm_window_ms,
			       err, len) < 0 ||
	    config_int(cfg, "scheduler", "fence_storm_min", 2, 1, 100000, &o->storm_min, err,
		       len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "node_grace", 15000, &o->node_grace_ms, err,
			       len) < 0 ||
	    parse_share(cfg, &o->storm_share, err, len) < 0)
		return -EINVAL;
	if (o->fence_timeout_ms <= 0 || o->fence_backoff_max_ms < 1000) {
		snprintf(err, len, "scheduler.fence_timeout must be above 0 and "
			 "scheduler.fence_backoff_max at least 1s");
		return -EINVAL;
	}
	return 0;
}

static int load_options(const struct config *cfg, struct sched_opts *o, char *err, size_t len)
{
	if (config_check(cfg, schedd_schema, err, len) < 0)
		return -EINVAL;
	o->name = config_str(cfg, "scheduler", "name",
			     config_str(cfg, "cluster", "scheduler_name", "schedd"));
	o->db_path = config_str(cfg, "scheduler", "db", "schedd.db");
	o->tasks_dir = config_str(cfg, "scheduler", "tasks_dir", "tasks");
	const char *origin;
	const char *listen = config_get(cfg, "scheduler", "listen", &origin);
	if (!listen)
		listen = config_get(cfg, "cluster", "scheduler", &origin);
	if (!listen) {
		listen = "127.0.0.1:7000";
		origin = "default";
	}
	char why[160];
	if (net_addr_parse(listen, &o->listen, why, sizeof(why)) < 0) {
		snprintf(err, len, "%s: scheduler.listen: %s", origin, why);
		return -EINVAL;
	}
	if (config_duration_ms(cfg, "scheduler", "lease", 15000, &o->lease_ms, err, len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "heartbeat", 1000, &o->heartbeat_ms, err, len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "node_timeout", 5000, &o->node_timeout_ms, err,
			       len) < 0 ||
	    config_duration_ms(cfg, "scheduler", "catch_up_grace", 10000, &o->catch_up_grace_ms,
			       err, len) < 0 ||
	    config_duration_ms(cfg, "cluster", "max_clock_skew", 60000, &o->max_skew_ms, err,
			       len) < 0 ||
	    config_size(cfg, "scheduler", "checkpoint_max", 64 * 1024, &o->checkpoint_max, err,
			len) < 0)
		return -EINVAL;
	if (o->checkpoint_max < 0 || o->checkpoint_max > WIRE_CKPT_TOTAL_MAX) {
		snprintf(err, len, "scheduler.checkpoint_max: %lld bytes is over the limit of %u",
			 (long long)o->checkpoint_max, WIRE_CKPT_TOTAL_MAX);
		return -EINVAL;
	}
	if (load_fence_options(cfg, o, err, len) < 0 ||
	    gossip_options_load(cfg, &o->swim, err, len) < 0)
		return -EINVAL;
	o->seeds = config_str(cfg, "cluster", "seeds", NULL);
	const char *adv = config_get(cfg, "scheduler", "advertise", &origin);
	struct net_addr aa;
	if (adv && net_addr_parse(adv, &aa, why, sizeof(why)) < 0) {
		snprintf(err, len, "%s: scheduler.advertise: %s", origin, why);
		return -EINVAL;
	}
	snprintf(o->advertise, sizeof(o->advertise), "%s", adv ? adv : "");
	if (o->lease_ms < 3 * o->heartbeat_ms) {
		snprintf(err, len, "scheduler.lease (%lld ms) must be at least 3 heartbeats (%lld ms)",
			 (long long)o->lease_ms, (long long)(3 * o->heartbeat_ms));
		return -EINVAL;
	}
	return 0;
}

static void on_datagrams(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	struct sched *s = arg;
	struct net_msg *nm = malloc(sizeof(*nm));
	if (!nm)
		return;
	for (int budget = 256; budget > 0; budget--) {
		int rc = net_recv(s->net, nm);
		if (rc == -EAGAIN)
			break;
		if (rc == 0)
			sched_on_message(s, nm);
	}
	free(nm);
	/* A report may have freed a slot or a run may have become ready. */
	if (!s->stopping)
		sched_dispatch_pending(s);
}

static int64_t on_tick(struct loop *l, void *arg)
{
	struct sched *s = arg;
	if (!s->stopping) {
		sched_members_sweep(s);
		sched_fence_tick(s);
		sched_storm_tick(s);
		sched_ckpt_tick(s);
	}
	if (s->stopping) {
		if (clock_mono_ms() >= s->stop_at)
			loop_stop(l);
		return 20;
	}
	sched_fire_due(s);
	sched_dispatch_pending(s);
	outbox_tick(s->outbox, clock_mono_ms());
	return 100;
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	struct sched *s = arg;
	if (signo == SIGCHLD) {
		sched_fence_reap(s);
		return;
	}
	if (signo == SIGHUP) {
		char msg[4096];
		log_info("SIGHUP: reloading %s", s->opt.tasks_dir);
		if (sched_reload(s, msg, sizeof(msg)) == 0)
			log_info("%s", msg);
		return;
	}
	if (s->stopping)
		return;
	log_info("%s: stopping; running tasks keep running on their workers",
		 strsignal(signo));
	/* Leave the cluster (workers then know the scheduler is down for
	 * everyone: rule 6) and give the news a few probe periods. */
	s->stopping = true;
	s->stop_at = clock_mono_ms() + 5 * (int64_t)s->opt.swim.probe_interval_ms;
	if (s->gossip)
		gossip_leave(s->gossip);
}

static int check_only(const struct sched_opts *o)
{
	struct task_set ts = {0};
	char *errors = NULL;
	int rc = taskfile_load_dir(o->tasks_dir, &ts, &errors);
	if (rc < 0) {
		fprintf(stderr, "%s", errors ? errors : strerror(-rc));
		if (errors && errors[0] && errors[strlen(errors) - 1] != '\n')
			fputc('\n', stderr);
		free(errors);
		return 1;
	}
	printf("%s: %zu task(s) OK\n", o->tasks_dir, ts.n);
	task_set_free(&ts);
	return 0;
}

static void sched_free(struct sched *s)
{
	sched_fences_free(s);
	gossip_free(s->gossip);
	outbox_free(s->outbox);
	net_close(s->net);
	loop_free(s->loop);
	ctl_cache_free(s->ctl);
	sched_ckpt_free(s->ckpt);
	sched_tasks_free(s);
	free(s->workers);
	free(s->runs);
	store_close(s->store);
	auth_keyring_wipe(&s->keys);
}

int main(int argc, char **argv)
{
	struct config cfg;
	config_init(&cfg);
	const char *cfg_path;
	char err[1024];
	log_init("schedd", LOG_LVL_INFO);
	int first = cli_parse(argc, argv, schedd_flags, schedd_switches, &cfg, &cfg_path, err,
			      sizeof(err));
	if (opt_help) {
		cli_usage("schedd", "[-n] [-c FILE] [options]", schedd_flags, schedd_switches);
		config_free(&cfg);
		return 0;
	}
	if (first < 0 || first < argc) {
		fprintf(stderr, "schedd: %s\n", first < 0 ? err : "unexpected argument");
		config_free(&cfg);
		return 2;
	}
	static struct sched s;
	if (load_options(&cfg, &s.opt, err, sizeof(err)) < 0) {
		fprintf(stderr, "schedd: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	enum log_level lvl;
	const char *lv = config_str(&cfg, "scheduler", "log_level", "info");
	if (log_parse_level(lv, &lvl) < 0) {
		fprintf(stderr, "schedd: scheduler.log_level: '%s' is not error|warn|info|debug\n", lv);
		config_free(&cfg);
		return 2;
	}
	log_set_level(lvl);
	if (opt_check) {
		int rc = check_only(&s.opt);
		config_free(&cfg);
		return rc;
	}
	if (auth_init() < 0)
		fatalx("libsodium initialisation failed");
	const char *key_file = config_str(&cfg, "cluster", "key_file", "sched.keys");
	if (auth_keyring_load(key_file, &s.keys, err, sizeof(err)) < 0)
		fatalx("%s", err);

	struct task_set ts = {0};
	char *errors = NULL;
	if (taskfile_load_dir(s.opt.tasks_dir, &ts, &errors) < 0)
		fatalx("schedule files have errors, not starting:\n%s", errors ? errors : "");
	if (store_open(s.opt.db_path, &s.store, err, sizeof(err)) < 0)
		fatalx("%s", err);
	s.started_ms = clock_wall_ms();
	s.incarnation = (uint64_t)s.started_ms;
	if (sched_runs_load(&s) < 0 || sched_workers_load(&s) < 0 || sched_fences_load(&s) < 0)
		fatalx("cannot read unfinished runs and nodes from %s", s.opt.db_path);
	heap_init(&s.due);
	if (sched_tasks_apply(&s, &ts, err, sizeof(err)) < 0)
		fatalx("cannot record the tasks: %s", err);
	task_set_free(&ts);

	struct net_config nc = {
		.listen = &s.opt.listen,
		.keys = &s.keys,
		.sender_id = auth_sender_id(s.opt.name),
		.incarnation = s.incarnation,
		.max_skew_ms = s.opt.max_skew_ms,
		.replay_senders = 4096,
	};
	if (net_open(&nc, &s.net, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (loop_new(&s.loop) < 0 || outbox_new(s.net, NULL, &s.outbox) < 0 ||
	    ctl_cache_new(&s.ctl) < 0 || sched_ckpt_new(&s.ckpt) < 0)
		fatalx("out of memory");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD); /* fence hooks */
	if (loop_watch_signals(s.loop, &set, on_signal, &s) < 0 ||
	    loop_add_fd(s.loop, net_fd(s.net), EPOLLIN, on_datagrams, &s) < 0 ||
	    loop_add_timer(s.loop, 0, on_tick, &s, NULL) < 0)
		fatal("event loop");
	if (sched_triggers_start(&s) < 0) /* open debounce windows: their timer */
		fatalx("cannot read trigger windows from %s", s.opt.db_path);
	/* Dispatches recorded before a restart go out again when their worker
	 * says HELLO to this incarnation (sched_peers.c), not to an address
	 * remembered from before, which another process may hold by now. */
	char addr[NET_ADDR_STRLEN];
	struct net_addr local;
	net_local_addr(s.net, &local);
	net_addr_format(&local, addr, sizeof(addr));
	if (!s.opt.advertise[0]) {
		if (strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0)
			fatalx("scheduler.listen %s is a wildcard address: set scheduler.advertise to "
			       "the address members reach this scheduler at", addr);
		snprintf(s.opt.advertise, sizeof(s.opt.advertise), "%s", addr);
	}
	s.started_mono = clock_mono_ms();
	if (sched_gossip_start(&s) < 0)
		fatalx("cannot start gossip membership as %s at %s", s.opt.name, s.opt.advertise);
	log_info("scheduler %s listening on %s, %zu task(s) from %s, database %s", s.opt.name,
		 addr, s.ntasks, s.opt.tasks_dir, s.opt.db_path);
	store_event(s.store, s.started_ms, "scheduler_start", NULL, 0, NULL, "%s on %s",
		    s.opt.name, addr);
	int rc = loop_run(s.loop);
	store_event(s.store, clock_wall_ms(), "scheduler_stop", NULL, 0, NULL, "%s",
		    rc < 0 ? "loop error" : "signal");
	sched_free(&s);
	config_free(&cfg);
	return rc < 0 ? 1 : 0;
}
