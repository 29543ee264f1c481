/*
 * workerd.c - the worker daemon: configuration, start-up, signals, loop.
 * See agent.h for how the work is split.
 *
 * Start-up: open the database and take the next incarnation from it
 * (strictly above every earlier one, whatever the wall clock says), so
 * that the scheduler and gossip can tell this life from the last;
 * reconcile runs a previous life left behind (runs.c: they are ended and
 * reported, never silently dropped); bind the socket; join gossip through
 * cluster.seeds (or the scheduler) under the address others reach us at
 * (worker.advertise, or the bound address when it is not a wildcard);
 * say HELLO.
 *
 * SIGTERM/SIGINT: drain (drain.c): refuse new dispatches, let running
 * runs finish up to worker.drain_timeout, then stop what still runs;
 * once every end is acknowledged, leave the cluster and exit.  A second
 * signal ends the drain at once.
 */
#include <errno.h>
#include <sys/file.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/prctl.h>

#include "agent.h"
#include "cli.h"
#include "clock.h"
#include "labels.h"
#include "log.h"

static const struct cli_flag workerd_flags[] = {
	{"--name", "worker", "name", "worker (node) name, unique in the cluster"},
	{"--listen", "worker", "listen", "UDP address to listen on, ADDR:PORT"},
	{"--scheduler", "cluster", "scheduler", "scheduler address, ADDR:PORT"},
	{"--db", "worker", "db", "SQLite database path"},
	{"--key-file", "cluster", "key_file", "cluster keyring file"},
	{"--slots", "worker", "slots", "runs this worker takes at once"},
	{"--labels", "worker", "labels", "labels carried, k=v,..."},
	{"--log-dir", "worker", "log_dir", "directory for per-run output logs"},
	{"--log-level", "worker", "log_level", "error, warn, info or debug"},
	{NULL, NULL, NULL, NULL},
};

static const char *const workerd_schema[] = {
	"cluster.key_file", "cluster.scheduler", "cluster.scheduler_name",
	"cluster.max_clock_skew", "cluster.seeds", "worker.name", "worker.listen", "worker.db",
	"worker.slots", "worker.labels", "worker.log_dir", "worker.log_cap",
	"worker.log_retention", "worker.kill_grace", "worker.log_level", "worker.advertise",
	"worker.drain_timeout", "worker.checkpoint_max",
	"gossip.*", /* checked by gossip_options_load */
	/* scheduler keys may live in a shared cluster file */
	"scheduler.name", "scheduler.listen", "scheduler.db", "scheduler.tasks_dir",
	"scheduler.lease", "scheduler.heartbeat", "scheduler.node_timeout",
	"scheduler.catch_up_grace", "scheduler.log_level", "scheduler.advertise",
	"scheduler.fence_hook", "scheduler.fence_timeout", "scheduler.fence_backoff_max",
	"scheduler.fence_storm_share", "scheduler.fence_storm_min", "scheduler.fence_storm_window",
	"scheduler.node_grace", "scheduler.checkpoint_max", NULL,
};

static bool opt_check, opt_help;
static const struct cli_switch workerd_switches[] = {
	{"-n", &opt_check, "check the configuration, then exit"},
	{"-h", &opt_help, "this help"},
	{"--help", &opt_help, "this help"},
	{NULL, NULL, NULL},
};

static int parse_addr(const struct config *cfg, const char *sec, const char *key,
		      const char *def, struct net_addr *out, char *err, size_t len)
{
	const char *origin;
	const char *v = config_get(cfg, sec, key, &origin);
	if (!v) {
		if (!def) {
			snprintf(err, len, "%s.%s is required (or its flag)", sec, key);
			return -EINVAL;
		}
		v = def;
	}
	char why[160];
	if (net_addr_parse(v, out, why, sizeof(why)) < 0) {
		snprintf(err, len, "%s: %s.%s: %s", origin, sec, key, why);
		return -EINVAL;
	}
	return 0;
}

/* "0" (with or without a unit) is a valid drain_timeout: no drain at all.
 * Durations elsewhere must be above zero, so it is read here. */
static int load_drain_timeout(const struct config *cfg, int64_t *out, char *err, size_t len)
{
	const char *v = config_get(cfg, "worker", "drain_timeout", NULL);
	if (v) {
		size_t zeros = strspn(v, "0");
		const char *unit = v + zeros;
		if (zeros > 0 && (!*unit || !strcmp(unit, "ms") || !strcmp(unit, "s") ||
				  !strcmp(unit, "m") || !strcmp(unit, "h") || !strcmp(unit, "d"))) {
			*out = 0;
			return 0;
		}
	}
	return config_duration_ms(cfg, "worker", "drain_timeout", 300000, out, err, len);
}

static int load_options(const struct config *cfg, struct agent_opts *o, char *err, size_t len)
{
	if (config_check(cfg, workerd_schema, err, len) < 0)
		return -EINVAL;
	o->name = config_str(cfg, "worker", "name", NULL);
	if (!o->name || !o->name[0] || strlen(o->name) > WIRE_NAME_MAX) {
		snprintf(err, len, "worker.name is required (1..%d bytes; --name)", WIRE_NAME_MAX);
		return -EINVAL;
	}
	o->scheduler_name = config_str(cfg, "cluster", "scheduler_name",
				       config_str(cfg, "scheduler", "name", "schedd"));
	o->db_path = config_str(cfg, "worker", "db", "workerd.db");
	o->log_dir = config_str(cfg, "worker", "log_dir", "logs");
	long slots;
	const char *origin;
	const char *labels = config_get(cfg, "worker", "labels", &origin);
	char why[160];
	if (labels && labels_normalize(labels, o->labels, sizeof(o->labels), why, sizeof(why)) < 0) {
		snprintf(err, len, "%s: worker.labels: %s", origin, why);
		return -EINVAL;
	}
	if (parse_addr(cfg, "worker", "listen", "127.0.0.1:0", &o->listen, err, len) < 0 ||
	    parse_addr(cfg, "cluster", "scheduler", "127.0.0.1:7000", &o->scheduler, err, len) < 0 ||
	    config_int(cfg, "worker", "slots", 4, 1, WIRE_RUNS_MAX, &slots, err, len) < 0 ||
	    config_size(cfg, "worker", "log_cap", 1 << 20, &o->log_cap, err, len) < 0 ||
	    config_size(cfg, "worker", "checkpoint_max", 64 * 1024, &o->checkpoint_max, err,
			len) < 0 ||
	    config_duration_ms(cfg, "worker", "kill_grace", 10000, &o->kill_grace_ms, err, len) < 0 ||
	    config_duration_ms(cfg, "worker", "log_retention", 7 * 86400000LL, &o->log_retention_ms,
			       err, len) < 0 ||
	    config_duration_ms(cfg, "cluster", "max_clock_skew", 60000, &o->max_skew_ms, err,
			       len) < 0 ||
	    load_drain_timeout(cfg, &o->drain_timeout_ms, err, len) < 0)
		return -EINVAL;
	if (o->checkpoint_max < 0 || o->checkpoint_max > WIRE_CKPT_TOTAL_MAX) {
		snprintf(err, len, "worker.checkpoint_max: %lld bytes is over the limit of %u",
			 (long long)o->checkpoint_max, WIRE_CKPT_TOTAL_MAX);
		return -EINVAL;
	}
	o->slots = (int)slots;
	return 0;
}

/* Membership settings: how we join gossip and where others reach us. */
struct member_opts {
	struct swim_config swim;
	const char *seeds;          /* cluster.seeds, or sched_addr */
	char sched_addr[NET_ADDR_STRLEN];
	const char *advertise;      /* worker.advertise; NULL: the bound address */
};

static bool addr_is_wildcard(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
	return false;
}

static uint16_t addr_port(const struct net_addr *a)
{
	return ntohs(a->ss.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&a->ss)->sin6_port
						 : ((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* Every seed must parse, so that -n catches a typo before a start does.
 * Any number may be given; gossip joins through the first SWIM_SEEDS_MAX. */
static int check_seeds(const char *seeds, const char *origin, char *err, size_t len)
{
	char why[160];
	char *buf = strdup(seeds);
	if (!buf) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	char *save = NULL;
	int n = 0, ret = 0;
	for (char *tok = strtok_r(buf, ", ", &save); tok && !ret;
	     tok = strtok_r(NULL, ", ", &save), n++) {
		struct net_addr tmp;
		if (net_addr_parse(tok, &tmp, why, sizeof(why)) < 0) {
			snprintf(err, len, "%s: cluster.seeds: %s", origin, why);
			ret = -EINVAL;
		}
	}
	free(buf);
	if (!ret && n == 0) {
		snprintf(err, len, "%s: cluster.seeds: give ADDR:PORT,... (or leave it unset)", origin);
		ret = -EINVAL;
	}
	return ret;
}

static int load_membership(const struct config *cfg, const struct agent_opts *o,
			   struct member_opts *mo, char *err, size_t len)
{
	if (gossip_options_load(cfg, &mo->swim, err, len) < 0)
		return -EINVAL;
	const char *origin;
	const char *seeds = config_get(cfg, "cluster", "seeds", &origin);
	if (seeds) {
		if (check_seeds(seeds, origin, err, len) < 0)
			return -EINVAL;
		mo->seeds = seeds;
	} else {
		net_addr_format(&o->scheduler, mo->sched_addr, sizeof(mo->sched_addr));
		mo->seeds = mo->sched_addr;
	}
	mo->advertise = config_get(cfg, "worker", "advertise", &origin);
	if (!mo->advertise && addr_is_wildcard(&o->listen)) {
		snprintf(err, len,
			 "worker.listen is a wildcard address, which other members cannot reach: "
			 "set worker.advertise to the ADDR:PORT they reach this worker at");
		return -EINVAL;
	}
	if (mo->advertise) {
		struct net_addr adv;
		char why[160] = "";
		if (strlen(mo->advertise) > SWIM_ADDR_MAX)
			snprintf(why, sizeof(why), "longer than %d bytes", SWIM_ADDR_MAX);
		else if (net_addr_parse(mo->advertise, &adv, why, sizeof(why)) == 0 &&
			 (addr_is_wildcard(&adv) || addr_port(&adv) == 0))
			snprintf(why, sizeof(why), "a wildcard address or port 0 reaches nobody");
		if (why[0]) {
			snprintf(err, len, "%s: worker.advertise: '%s': %s", origin, mo->advertise, why);
			return -EINVAL;
		}
	}
	return 0;
}

static void on_datagrams(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	struct agent *a = arg;
	struct net_msg *nm = malloc(sizeof(*nm));
	if (!nm)
		return;
	for (int budget = 256; budget > 0; budget--) {
		int rc = net_recv(a->net, nm);
		if (rc == -EAGAIN)
			break;
		if (rc == 0)
			agent_on_message(a, nm);
	}
	free(nm);
}

static int64_t on_tick(struct loop *l, void *arg)
{
	(void)l;
	struct agent *a = arg;
	agent_tick(a);
	agent_drain_tick(a);
	return 100;
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	struct agent *a = arg;
	if (signo == SIGCHLD) {
		agent_reap(a);
		return;
	}
	agent_drain_signal(a, signo);
}

/* Become a gossip member on our endpoint and join (see the file comment).
 * The address others reach us at: worker.advertise, else the bound one
 * (load_membership refused a wildcard without advertise). */
static void start_gossip(struct agent *a, const struct member_opts *mo)
{
	char addr[NET_ADDR_STRLEN];
	if (mo->advertise) {
		snprintf(addr, sizeof(addr), "%s", mo->advertise);
	} else {
		struct net_addr local;
		net_local_addr(a->net, &local);
		net_addr_format(&local, addr, sizeof(addr));
	}
	struct gossip_config gc = {
		.net = a->net,
		.loop = a->loop,
		.name = a->opt.name,
		.addr = addr,
		.incarnation = a->incarnation,
		.swim = &mo->swim,
		.on_change = agent_on_member,
		.ctx = a,
	};
	int rc = gossip_new(&gc, &a->gossip);
	if (rc < 0)
		fatalx("gossip: cannot start the member %s at %s: %s", a->opt.name, addr,
		       strerror(-rc));
	rc = gossip_join(a->gossip, mo->seeds);
	if (rc < 0)
		fatalx("gossip: cannot join through %s: %s", mo->seeds, strerror(-rc));
	/* About five probe periods: the LEFT news is pushed and piggybacked
	 * several times before we go quiet. */
	a->leave_linger_ms = 5 * (int64_t)mo->swim.probe_interval_ms;
	if (a->leave_linger_ms < 1000)
		a->leave_linger_ms = 1000;
	log_info("gossip member %s at %s (incarnation %llu), joining through %s", a->opt.name,
		 addr, (unsigned long long)a->incarnation, mo->seeds);
}

/* One database, one workerd: a second process on it would answer for runs
 * the first one holds, and the scheduler relies on "a new life on the same
 * database knows everything the previous one accepted" (HELLO's
 * prev_incarnation).  The lock lives as long as the process. */
static void lock_database(const char *db_path)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s.lock", db_path) >= sizeof(path))
		fatalx("%s: path too long", db_path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			fatalx("%s is in use by another workerd (lock %s): one database per worker",
			       db_path, path);
		fatal("lock %s", path);
	}
}

static void agent_free(struct agent *a)
{
	while (a->nruns)
		agent_run_remove(a, a->runs[0].w.run_id);
	free(a->runs);
	gossip_free(a->gossip);
	outbox_free(a->outbox);
	net_close(a->net);
	loop_free(a->loop);
	wstore_close(a->ws);
	auth_keyring_wipe(&a->keys);
}

int main(int argc, char **argv)
{
	struct config cfg;
	config_init(&cfg);
	const char *cfg_path;
	char err[1024];
	log_init("workerd", LOG_LVL_INFO);
	int first = cli_parse(argc, argv, workerd_flags, workerd_switches, &cfg, &cfg_path, err,
			      sizeof(err));
	if (opt_help) {
		cli_usage("workerd", "[-n] [-c FILE] [options]", workerd_flags, workerd_switches);
		config_free(&cfg);
		return 0;
	}
	static struct agent a;
	static struct member_opts mo;
	if (first < 0 || first < argc || load_options(&cfg, &a.opt, err, sizeof(err)) < 0 ||
	    load_membership(&cfg, &a.opt, &mo, err, sizeof(err)) < 0) {
		fprintf(stderr, "workerd: %s\n", first < 0 || first == argc ? err
								 : "unexpected argument");
		config_free(&cfg);
		return 2;
	}
	enum log_level lvl;
	const char *lv = config_str(&cfg, "worker", "log_level", "info");
	if (log_parse_level(lv, &lvl) < 0) {
		fprintf(stderr, "workerd: worker.log_level: '%s' is not error|warn|info|debug\n", lv);
		config_free(&cfg);
		return 2;
	}
	log_set_level(lvl);
	log_init(a.opt.name, lvl);
	if (opt_check) {
		printf("workerd %s: configuration OK\n", a.opt.name);
		config_free(&cfg);
		return 0;
	}
	if (auth_init() < 0)
		fatalx("libsodium initialisation failed");
	const char *key_file = config_str(&cfg, "cluster", "key_file", "sched.keys");
	if (auth_keyring_load(key_file, &a.keys, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* Orphaned grandchildren of tasks are reparented to us and reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	a.heartbeat_ms = 1000;
	a.lease_ms = 15000;
	a.sched_sender = auth_sender_id(a.opt.scheduler_name);
	lock_database(a.opt.db_path);
	if (wstore_open(a.opt.db_path, &a.ws, err, sizeof(err)) < 0)
		fatalx("%s", err);
	int rc = wstore_last_incarnation(a.ws, &a.prev_incarnation);
	if (rc == 0)
		rc = wstore_next_incarnation(a.ws, clock_wall_ms(), &a.incarnation);
	if (rc < 0)
		fatalx("%s: cannot record the next incarnation: %s", a.opt.db_path, strerror(-rc));
	struct net_config nc = {
		.listen = &a.opt.listen,
		.keys = &a.keys,
		.sender_id = auth_sender_id(a.opt.name),
		.incarnation = a.incarnation,
		.max_skew_ms = a.opt.max_skew_ms,
		.replay_senders = 4096, /* every member gossips with us */
	};
	if (net_open(&nc, &a.net, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (loop_new(&a.loop) < 0 || outbox_new(a.net, NULL, &a.outbox) < 0)
		fatalx("out of memory");
	start_gossip(&a, &mo);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe is an error return, not a death */
	if (loop_watch_signals(a.loop, &set, on_signal, &a) < 0)
		fatal("signals");
	if (agent_reconcile(&a) < 0)
		fatalx("cannot read runs from %s", a.opt.db_path);
	if (loop_add_fd(a.loop, net_fd(a.net), EPOLLIN, on_datagrams, &a) < 0 ||
	    loop_add_timer(a.loop, 0, on_tick, &a, NULL) < 0)
		fatal("event loop");
	char addr[NET_ADDR_STRLEN], saddr[NET_ADDR_STRLEN];
	struct net_addr local;
	net_local_addr(a.net, &local);
	net_addr_format(&local, addr, sizeof(addr));
	net_addr_format(&a.opt.scheduler, saddr, sizeof(saddr));
	log_info("worker %s listening on %s, %d slot(s), labels '%s', scheduler %s at %s, "
		 "drain_timeout %llds",
		 a.opt.name, addr, a.opt.slots, a.opt.labels, a.opt.scheduler_name, saddr,
		 (long long)(a.opt.drain_timeout_ms / 1000));
	rc = loop_run(a.loop);
	agent_free(&a);
	config_free(&cfg);
	return rc < 0 ? 1 : 0;
}
