/*
 * test_config.c - configuration files with origins, command-line
 * overrides (cli_parse), the schema check and the typed getters: every
 * error names where the value came from and which key it is.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "gossip.h"

static char dir[64];
static char err[512];

static void setup(void)
{
	strcpy(dir, "/tmp/test_config.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	err[0] = '\0';
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(cli, .init = setup, .fini = teardown, .timeout = 10);

/* Write text to dir/name; returns the path (static, two alternating). */
static const char *write_file(const char *name, const char *text)
{
	static char paths[2][128];
	static int next;
	char *p = paths[next++ % 2];
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
	return p;
}

static void expect_origin(const struct config *c, const char *section, const char *key,
			  const char *value, const char *origin)
{
	const char *o = NULL;
	const char *v = config_get(c, section, key, &o);
	cr_assert_not_null(v, "%s.%s unset", section, key);
	cr_assert_str_eq(v, value, "%s.%s = '%s', want '%s'", section, key, v, value);
	cr_assert_not_null(o);
	cr_assert_str_eq(o, origin, "%s.%s from '%s', want '%s'", section, key, o, origin);
}

static const char *sample = "# cluster\n"
			    "[scheduler]\n"
			    "listen = 127.0.0.1:7000\n"
			    "db = /var/lib/sched/sched.db\n"
			    "\n"
			    "[worker]\n"
			    "  slots = 4  \n"
			    "lease = 15s\n"
			    "name = \"  spaced  \"\n"
			    "[scheduler]\n"
			    "listen = 127.0.0.1:7001\n";

/* ---- files ------------------------------------------------------------- */

Test(config, load_file_values_and_origins)
{
	const char *path = write_file("c.ini", sample);
	struct config c;
	config_init(&c);
	cr_assert_eq(config_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
	char o[256];
	snprintf(o, sizeof(o), "%s:4", path);
	expect_origin(&c, "scheduler", "db", "/var/lib/sched/sched.db", o);
	snprintf(o, sizeof(o), "%s:7", path);
	expect_origin(&c, "worker", "slots", "4", o);
	snprintf(o, sizeof(o), "%s:9", path);
	expect_origin(&c, "worker", "name", "  spaced  ", o);
	/* a later value overrides an earlier one, and its line is the origin */
	snprintf(o, sizeof(o), "%s:11", path);
	expect_origin(&c, "scheduler", "listen", "127.0.0.1:7001", o);
	cr_assert_eq(c.n, 5, "%zu entries", c.n);

	const char *origin = NULL;
	cr_assert_null(config_get(&c, "worker", "db", &origin));
	cr_assert_str_eq(origin, "default");
	cr_assert_null(config_get(&c, "nosuch", "listen", NULL));
	cr_assert_str_eq(config_str(&c, "worker", "lease", "x"), "15s");
	cr_assert_str_eq(config_str(&c, "worker", "missing", "dflt"), "dflt");
	cr_assert_null(config_str(&c, "worker", "missing", NULL));
	config_free(&c);
	cr_assert_eq(c.n, 0);
	cr_assert_null(c.e);
}

Test(config, load_file_errors_name_path_and_line)
{
	struct config c;
	config_init(&c);
	const char *p = write_file("outside.ini", "# x\nkey = 1\n[s]\n");
	cr_assert_eq(config_load_file(&c, p, err, sizeof(err)), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:2:", p);
	cr_assert(strstr(err, want), "err: %s", err);
	cr_assert(strstr(err, "key"), "err: %s", err);

	p = write_file("syntax.ini", "[s]\na = 1\n[broken\n");
	err[0] = '\0';
	cr_assert_eq(config_load_file(&c, p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3:", p);
	cr_assert(strstr(err, want), "err: %s", err);

	char missing[128];
	snprintf(missing, sizeof(missing), "%s/none.ini", dir);
	err[0] = '\0';
	cr_assert_eq(config_load_file(&c, missing, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, missing), "err: %s", err);
	config_free(&c);
}

Test(config, set_overrides_with_origin)
{
	struct config c;
	config_init(&c);
	cr_assert_eq(config_set(&c, "a", "b", "1", "x.ini:3"), 0);
	cr_assert_eq(config_set(&c, "a", "c", "2", "x.ini:4"), 0);
	cr_assert_eq(config_set(&c, "a", "b", "9", "--bee"), 0);
	cr_assert_eq(c.n, 2);
	expect_origin(&c, "a", "b", "9", "--bee");
	expect_origin(&c, "a", "c", "2", "x.ini:4");
	/* section and key are matched exactly */
	cr_assert_null(config_get(&c, "A", "b", NULL));
	cr_assert_null(config_get(&c, "a", "b ", NULL));
	config_free(&c);
}

static config_schema schema = {"scheduler.listen", "scheduler.db", "worker.slots",
			       "worker.lease", "worker.name", NULL};

Test(config, check_refuses_unknown_key_with_origin)
{
	const char *path = write_file("c.ini", sample);
	struct config c;
	config_init(&c);
	cr_assert_eq(config_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_check(&c, schema, err, sizeof(err)), 0, "%s", err);

	const char *bad = write_file("bad.ini", "[worker]\nslots = 2\n\n[worker]\nslot = 3\n");
	cr_assert_eq(config_load_file(&c, bad, err, sizeof(err)), 0, "%s", err);
	err[0] = '\0';
	cr_assert_eq(config_check(&c, schema, err, sizeof(err)), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:5", bad);
	cr_assert(strstr(err, want), "error does not name %s: %s", want, err);
	cr_assert(strstr(err, "worker.slot"), "error does not name the key: %s", err);
	config_free(&c);

	/* a key in an unknown section, set from a flag */
	config_init(&c);
	cr_assert_eq(config_set(&c, "schedular", "listen", "x", "--set"), 0);
	err[0] = '\0';
	cr_assert_eq(config_check(&c, schema, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "--set"), "err: %s", err);
	cr_assert(strstr(err, "schedular.listen"), "err: %s", err);
	config_free(&c);
}

/* ---- typed getters ----------------------------------------------------- */

static void expect_getter_error(const char *origin, const char *key, const char *value)
{
	cr_assert(strstr(err, origin), "error lacks origin '%s': %s", origin, err);
	cr_assert(strstr(err, key), "error lacks key '%s': %s", key, err);
	if (value)
		cr_assert(strstr(err, value), "error lacks value '%s': %s", value, err);
}

Test(config, duration_getter)
{
	struct config c;
	config_init(&c);
	int64_t ms = -1;
	cr_assert_eq(config_duration_ms(&c, "w", "lease", 1234, &ms, err, sizeof(err)), 0);
	cr_assert_eq(ms, 1234, "default not used");

	static const struct {
		const char *in;
		int64_t ms;
	} good[] = {{"15s", 15000}, {"500ms", 500}, {"2m", 120000}, {"1h30m", 5400000},
		    {"1d", 86400000}, {"7", 7000}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "lease", good[i].in, "f.ini:2"), 0);
		ms = -1;
		cr_assert_eq(config_duration_ms(&c, "w", "lease", 1, &ms, err, sizeof(err)), 0,
			     "'%s': %s", good[i].in, err);
		cr_assert_eq(ms, good[i].ms, "'%s' gave %lld ms", good[i].in, (long long)ms);
	}

	const char *bad[] = {"fast", "5x", "", "-5s", "0s", "s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "lease", bad[i], "f.ini:9"), 0);
		err[0] = '\0';
		ms = 42;
		cr_assert_eq(config_duration_ms(&c, "w", "lease", 1, &ms, err, sizeof(err)),
			     -EINVAL, "'%s' accepted as %lld ms", bad[i], (long long)ms);
		expect_getter_error("f.ini:9", "w.lease", NULL);
	}
	config_free(&c);
}

Test(config, int_getter_with_range)
{
	struct config c;
	config_init(&c);
	long v = -1;
	cr_assert_eq(config_int(&c, "w", "slots", 8, 1, 64, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 8);

	cr_assert_eq(config_set(&c, "w", "slots", "64", "c.ini:3"), 0);
	cr_assert_eq(config_int(&c, "w", "slots", 8, 1, 64, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v, 64);
	cr_assert_eq(config_set(&c, "w", "slots", "1", "c.ini:3"), 0);
	cr_assert_eq(config_int(&c, "w", "slots", 8, 1, 64, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v, 1);
	cr_assert_eq(config_set(&c, "w", "slots", "-3", "c.ini:3"), 0);
	cr_assert_eq(config_int(&c, "w", "slots", 8, -5, 64, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v, -3);

	const char *bad[] = {"65", "0", "many", "", "4x", "1.5", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "slots", bad[i], "--slots"), 0);
		err[0] = '\0';
		v = 77;
		cr_assert_eq(config_int(&c, "w", "slots", 8, 1, 64, &v, err, sizeof(err)),
			     -EINVAL, "'%s' accepted", bad[i]);
		cr_assert_eq(v, 77, "out written on error");
		expect_getter_error("--slots", "w.slots", bad[i]);
		cr_assert(strstr(err, "1..64"), "range missing: %s", err);
	}
	config_free(&c);
}

Test(config, size_getter_with_suffixes)
{
	struct config c;
	config_init(&c);
	int64_t v = -1;
	cr_assert_eq(config_size(&c, "w", "log_max", 4096, &v, err, sizeof(err)), 0);
	cr_assert_eq(v, 4096);

	static const struct {
		const char *in;
		int64_t bytes;
	} good[] = {{"0", 0},
		    {"1048576", 1048576},
		    {"512K", 512 * 1024},
		    {"512KiB", 512 * 1024},
		    {"1M", 1 << 20},
		    {"3MiB", 3 << 20},
		    {"2G", INT64_C(2) << 30},
		    {"1GiB", INT64_C(1) << 30},
		    {"9223372036854775807", INT64_MAX}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "log_max", good[i].in, "w.ini:12"), 0);
		v = -1;
		cr_assert_eq(config_size(&c, "w", "log_max", 1, &v, err, sizeof(err)), 0,
			     "'%s': %s", good[i].in, err);
		cr_assert_eq(v, good[i].bytes, "'%s' gave %lld", good[i].in, (long long)v);
	}

	const char *bad[] = {"", "big", "1T", "1 M", "-1", "-1K", "1.5M", "1k",
			     "9223372036854775807K", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "log_max", bad[i], "w.ini:13"), 0);
		err[0] = '\0';
		v = 77;
		cr_assert_eq(config_size(&c, "w", "log_max", 1, &v, err, sizeof(err)), -EINVAL,
			     "'%s' accepted as %lld", bad[i], (long long)v);
		cr_assert_eq(v, 77, "out written on error");
		expect_getter_error("w.ini:13", "w.log_max", bad[i]);
	}
	config_free(&c);
}

/* A suffix without digits ("M", "K", "GiB") is not a size (it used to be
 * read as 0 bytes). */
Test(config, size_without_digits_is_refused)
{
	struct config c;
	config_init(&c);
	const char *bad[] = {"M", "K", "GiB"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(config_set(&c, "w", "log_max", bad[i], "w.ini:14"), 0);
		int64_t v = 77;
		err[0] = '\0';
		cr_assert_eq(config_size(&c, "w", "log_max", 1, &v, err, sizeof(err)), -EINVAL,
			     "'%s' accepted as %lld", bad[i], (long long)v);
		expect_getter_error("w.ini:14", "w.log_max", bad[i]);
	}
	config_free(&c);
}

/* ---- cli_parse ----------------------------------------------------------- */

static const struct cli_flag flags[] = {
	{"--listen", "worker", "listen", "address"},
	{"--slots", "worker", "slots", "slots"},
	{"--name", "worker", "name", "node name"},
	{NULL, NULL, NULL, NULL},
};

static bool sw_n, sw_json;
static const struct cli_switch switches[] = {
	{"-n", &sw_n, "check only"},
	{"--json", &sw_json, "JSON output"},
	{NULL, NULL, NULL},
};

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse(int argc, char **argv, struct config *c, const char **cfg_path)
{
	sw_n = sw_json = false;
	err[0] = '\0';
	return cli_parse(argc, argv, flags, switches, c, cfg_path, err, sizeof(err));
}

static const char *worker_ini = "[worker]\n"
				"listen = 10.0.0.1:7000\n"
				"slots = 2\n"
				"name = from-file\n";

Test(cli, flag_overrides_file_whatever_the_order)
{
	const char *path = write_file("w.ini", worker_ini);
	char fpath[128];
	snprintf(fpath, sizeof(fpath), "%s", path);
	char line2[160], line4[160];
	snprintf(line2, sizeof(line2), "%s:2", fpath);
	snprintf(line4, sizeof(line4), "%s:4", fpath);

	char *before[] = {"workerd", "--listen", "127.0.0.1:9", "-c", fpath, "--slots=5"};
	char *after[] = {"workerd", "-c", fpath, "--listen", "127.0.0.1:9", "--slots=5"};
	char **orders[] = {before, after};
	for (int k = 0; k < 2; k++) {
		struct config c;
		config_init(&c);
		const char *cp = NULL;
		cr_assert_eq(parse(6, orders[k], &c, &cp), 6, "order %d: %s", k, err);
		cr_assert_not_null(cp);
		cr_assert_str_eq(cp, fpath);
		expect_origin(&c, "worker", "listen", "127.0.0.1:9", "--listen");
		expect_origin(&c, "worker", "slots", "5", "--slots");
		/* untouched keys keep the file's value and line */
		expect_origin(&c, "worker", "name", "from-file", line4);
		(void)line2;
		config_free(&c);
	}
}

Test(cli, set_any_key)
{
	const char *path = write_file("w.ini", worker_ini);
	char fpath[128];
	snprintf(fpath, sizeof(fpath), "%s", path);
	char *argv[] = {"schedd", "--set", "worker.slots=9", "--set=scheduler.db=/x/y=z",
			"-c", fpath};
	struct config c;
	config_init(&c);
	const char *cp = NULL;
	cr_assert_eq(parse(ARGC(argv), argv, &c, &cp), ARGC(argv), "%s", err);
	expect_origin(&c, "worker", "slots", "9", "--set");
	/* the value is everything after the first '=' */
	expect_origin(&c, "scheduler", "db", "/x/y=z", "--set");
	config_free(&c);

	const char *bad[] = {"worker=1", "worker.=1", ".slots=1", "worker.slots", "a=b.c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *av[] = {"schedd", "--set", (char *)bad[i]};
		config_init(&c);
		cr_assert_eq(parse(3, av, &c, &cp), -EINVAL, "--set %s accepted", bad[i]);
		cr_assert(strstr(err, "SECTION.KEY=VALUE"), "err: %s", err);
		cr_assert(strstr(err, bad[i]), "err does not quote '%s': %s", bad[i], err);
		cr_assert_eq(c.n, 0);
		config_free(&c);
	}
	char *missing[] = {"schedd", "--set"};
	config_init(&c);
	cr_assert_eq(parse(2, missing, &c, &cp), -EINVAL);
	cr_assert(strstr(err, "--set"), "err: %s", err);
	config_free(&c);
}

Test(cli, stops_at_first_positional)
{
	char *argv[] = {"schedctl", "--json", "--name", "n1", "history", "--listen", "x",
			"backup"};
	struct config c;
	config_init(&c);
	const char *cp = (const char *)1;
	cr_assert_eq(parse(ARGC(argv), argv, &c, &cp), 4, "%s", err);
	cr_assert_null(cp, "no -c given");
	cr_assert(sw_json);
	cr_assert_not(sw_n);
	expect_origin(&c, "worker", "name", "n1", "--name");
	/* nothing after the positional was taken as an option */
	cr_assert_null(config_get(&c, "worker", "listen", NULL));
	config_free(&c);

	char *dashdash[] = {"schedctl", "-n", "--", "--json", "x"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(dashdash), dashdash, &c, &cp), 3, "%s", err);
	cr_assert(sw_n);
	cr_assert_not(sw_json, "switch after -- was parsed");
	config_free(&c);

	char *none[] = {"schedd", "-n"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(none), none, &c, &cp), 2, "%s", err);
	cr_assert(sw_n);
	config_free(&c);

	char *only[] = {"schedctl"};
	config_init(&c);
	cr_assert_eq(parse(1, only, &c, &cp), 1);
	config_free(&c);

	/* "-" alone is a positional (stdin, by convention) */
	char *dash[] = {"schedctl", "--json", "-", "--name", "x"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(dash), dash, &c, &cp), 2, "%s", err);
	cr_assert_null(config_get(&c, "worker", "name", NULL));
	config_free(&c);
}

Test(cli, errors)
{
	struct config c;
	const char *cp;

	char *unknown[] = {"workerd", "--slots", "2", "--bogus", "1"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(unknown), unknown, &c, &cp), -EINVAL);
	cr_assert(strstr(err, "unknown option"), "err: %s", err);
	cr_assert(strstr(err, "--bogus"), "err: %s", err);
	config_free(&c);

	char *unknown_short[] = {"workerd", "-x"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(unknown_short), unknown_short, &c, &cp), -EINVAL);
	cr_assert(strstr(err, "'-x'"), "err: %s", err);
	config_free(&c);

	char *missing[] = {"workerd", "--json", "--listen"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(missing), missing, &c, &cp), -EINVAL);
	cr_assert(strstr(err, "--listen"), "err: %s", err);
	cr_assert(strstr(err, "missing value"), "err: %s", err);
	config_free(&c);

	char *missing_c[] = {"workerd", "-c"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(missing_c), missing_c, &c, &cp), -EINVAL);
	cr_assert(strstr(err, "-c"), "err: %s", err);
	config_free(&c);

	char nofile[128];
	snprintf(nofile, sizeof(nofile), "%s/absent.ini", dir);
	char *absent[] = {"workerd", "-c", nofile};
	config_init(&c);
	cr_assert_eq(parse(ARGC(absent), absent, &c, &cp), -EINVAL);
	cr_assert(strstr(err, nofile), "err: %s", err);
	config_free(&c);

	const char *bad = write_file("bad.ini", "[worker]\nslots = 1\nnot a pair\n");
	char bpath[128];
	snprintf(bpath, sizeof(bpath), "%s", bad);
	char *badfile[] = {"workerd", "-c", bpath};
	config_init(&c);
	cr_assert_eq(parse(ARGC(badfile), badfile, &c, &cp), -EINVAL);
	char want[160];
	snprintf(want, sizeof(want), "%s:3", bpath);
	cr_assert(strstr(err, want), "err: %s", err);
	config_free(&c);

	/* a switch takes no value */
	char *swval[] = {"schedctl", "--json=1"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(swval), swval, &c, &cp), -EINVAL);
	cr_assert_not(sw_json);
	config_free(&c);
}

Test(cli, switches_and_equals_form)
{
	char *argv[] = {"schedd", "-n", "--listen=[::1]:7000", "--name", "a=b", "--json"};
	struct config c;
	config_init(&c);
	const char *cp;
	cr_assert_eq(parse(ARGC(argv), argv, &c, &cp), ARGC(argv), "%s", err);
	cr_assert(sw_n);
	cr_assert(sw_json);
	expect_origin(&c, "worker", "listen", "[::1]:7000", "--listen");
	/* a separate value may itself contain '=' */
	expect_origin(&c, "worker", "name", "a=b", "--name");
	config_free(&c);

	/* switches left alone stay false */
	char *plain[] = {"schedd", "--slots", "3"};
	config_init(&c);
	cr_assert_eq(parse(ARGC(plain), plain, &c, &cp), 3, "%s", err);
	cr_assert_not(sw_n);
	cr_assert_not(sw_json);
	config_free(&c);
}

Test(cli, flag_value_that_looks_like_c_is_a_value)
{
	/* "--name -c" sets name to "-c"; nothing is loaded */
	char *argv[] = {"workerd", "--name", "-c", "--slots", "3"};
	struct config c;
	config_init(&c);
	const char *cp = NULL;
	cr_assert_eq(parse(ARGC(argv), argv, &c, &cp), ARGC(argv), "%s", err);
	cr_assert_null(cp);
	expect_origin(&c, "worker", "name", "-c", "--name");
	expect_origin(&c, "worker", "slots", "3", "--slots");
	config_free(&c);
}

/* A lone "-" is the first positional: a "-c FILE" after it belongs to
 * the subcommand and is not loaded as the configuration. */
Test(cli, config_after_a_positional_is_not_loaded)
{
	/* everything after the first positional belongs to the subcommand */
	const char *path = write_file("w.ini", worker_ini);
	char fpath[128];
	snprintf(fpath, sizeof(fpath), "%s", path);
	char *argv[] = {"schedctl", "-", "-c", fpath};
	struct config c;
	config_init(&c);
	const char *cp = NULL;
	cr_assert_eq(parse(ARGC(argv), argv, &c, &cp), 1, "%s", err);
	cr_assert_null(cp, "-c after the positional '-' was taken: %s", cp);
	cr_assert_eq(c.n, 0, "the file after the positional was loaded");
	config_free(&c);
}

/* ---- section wildcards and the [gossip] section ------------------------ */

Test(config, section_wildcard_admits_only_its_section)
{
	static const char *const wild[] = {"worker.slots", "gossip.*", NULL};
	struct config c;
	config_init(&c);
	cr_assert_eq(config_set(&c, "gossip", "probe_interval", "300ms", "--set"), 0);
	cr_assert_eq(config_set(&c, "worker", "slots", "2", "--set"), 0);
	cr_assert_eq(config_check(&c, wild, err, sizeof(err)), 0, "%s", err);
	/* "gossipx" is another section, and "gossip" itself no key */
	cr_assert_eq(config_set(&c, "gossipx", "probe_interval", "1s", "--set"), 0);
	cr_assert_eq(config_check(&c, wild, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "gossipx.probe_interval"), "err: %s", err);
	config_free(&c);
}

Test(config, gossip_options_defaults_values_and_errors)
{
	struct config c;
	struct swim_config sc, def;
	swim_config_default(&def);
	config_init(&c);
	cr_assert_eq(gossip_options_load(&c, &sc, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(&sc, &def, sizeof(sc)), 0, "no key set must give the defaults");

	cr_assert_eq(config_set(&c, "gossip", "probe_interval", "1s", "f.ini:3"), 0);
	cr_assert_eq(config_set(&c, "gossip", "probe_timeout", "400ms", "f.ini:4"), 0);
	cr_assert_eq(config_set(&c, "gossip", "indirect_probes", "5", "f.ini:5"), 0);
	cr_assert_eq(gossip_options_load(&c, &sc, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sc.probe_interval_ms, 1000);
	cr_assert_eq(sc.probe_timeout_ms, 400);
	cr_assert_eq(sc.indirect_k, 5);
	cr_assert_eq(sc.suspicion_mult, def.suspicion_mult);
	config_free(&c);

	static const struct {
		const char *key, *value, *want;
	} bad[] = {
		{"probe_intervall", "1s", "gossip.probe_intervall: unknown key"},
		{"indirect_probes", "9", "gossip.indirect_probes"},
		{"probe_timeout", "soon", "gossip.probe_timeout"},
		{"probe_timeout", "300ms", "below probe_interval"},
		{"reclaim", "400d", "gossip.reclaim"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init(&c);
		cr_assert_eq(config_set(&c, "gossip", bad[i].key, bad[i].value, "g.ini:7"), 0);
		err[0] = '\0';
		cr_assert_eq(gossip_options_load(&c, &sc, err, sizeof(err)), -EINVAL, "%s=%s",
			     bad[i].key, bad[i].value);
		cr_assert(strstr(err, bad[i].want), "%s=%s: err '%s' lacks '%s'", bad[i].key,
			  bad[i].value, err, bad[i].want);
		config_free(&c);
	}
}
