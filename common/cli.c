/*
 * cli.c - flags as configuration overrides (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct cli_flag *find_flag(const struct cli_flag *flags, const char *arg,
					size_t len)
{
	for (const struct cli_flag *f = flags; f && f->flag; f++)
		if (strlen(f->flag) == len && strncmp(f->flag, arg, len) == 0)
			return f;
	return NULL;
}

static int set_generic(struct config *cfg, const char *spec, char *err, size_t errlen)
{
	const char *dot = strchr(spec, '.'), *eq = strchr(spec, '=');
	if (!dot || !eq || dot > eq || dot == spec || eq == dot + 1) {
		snprintf(err, errlen, "--set: expected SECTION.KEY=VALUE, got '%s'", spec);
		return -EINVAL;
	}
	char section[64], key[64];
	snprintf(section, sizeof(section), "%.*s", (int)(dot - spec), spec);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
	return config_set(cfg, section, key, eq + 1, "--set");
}

int cli_parse(int argc, char **argv, const struct cli_flag *flags,
	      const struct cli_switch *switches, struct config *cfg, const char **config_path,
	      char *err, size_t errlen)
{
	*config_path = NULL;
	/* First pass: the config file, so that flags override it whatever
	 * their order on the command line. */
	for (int i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "-c: missing FILE");
				return -EINVAL;
			}
			*config_path = argv[++i];
		} else if (!strchr(argv[i], '=') && find_flag(flags, argv[i], strlen(argv[i]))) {
			i++; /* skip the flag's value */
		} else if (strcmp(argv[i], "--set") == 0) {
			i++;
		}
	}
	if (*config_path) {
		int rc = config_load_file(cfg, *config_path, err, errlen);
		if (rc < 0)
			return -EINVAL;
	}
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (strcmp(a, "-c") == 0) {
			i++;
			continue;
		}
		bool matched = false;
		for (const struct cli_switch *s = switches; s && s->flag; s++) {
			if (strcmp(s->flag, a) == 0) {
				*s->value = true;
				matched = true;
			}
		}
		if (matched)
			continue;
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		if (len == 5 && strncmp(a, "--set", 5) == 0) {
			if (!value) {
				snprintf(err, errlen, "--set: missing SECTION.KEY=VALUE");
				return -EINVAL;
			}
			if (set_generic(cfg, value, err, errlen) < 0)
				return -EINVAL;
			if (!eq)
				i++;
			continue;
		}
		const struct cli_flag *f = find_flag(flags, a, len);
		if (!f) {
			snprintf(err, errlen, "unknown option '%s'", a);
			return -EINVAL;
		}
		if (!value) {
			snprintf(err, errlen, "%s: missing value", f->flag);
			return -EINVAL;
		}
		if (config_set(cfg, f->section, f->key, value, f->flag) < 0) {
			snprintf(err, errlen, "out of memory");
			return -EINVAL;
		}
		if (!eq)
			i++;
	}
	return i;
}

void cli_usage(const char *prog, const char *synopsis, const struct cli_flag *flags,
	       const struct cli_switch *switches)
{
	fprintf(stderr, "usage: %s %s\n\noptions:\n", prog, synopsis);
	fprintf(stderr, "  %-22s %s\n", "-c FILE", "configuration file (INI)");
	for (const struct cli_switch *s = switches; s && s->flag; s++)
		fprintf(stderr, "  %-22s %s\n", s->flag, s->help);
	for (const struct cli_flag *f = flags; f && f->flag; f++) {
		char left[64];
		snprintf(left, sizeof(left), "%s VALUE", f->flag);
		fprintf(stderr, "  %-22s %s (%s.%s)\n", left, f->help, f->section, f->key);
	}
	fprintf(stderr, "  %-22s %s\n", "--set SECTION.KEY=V", "set any configuration key");
}
