/*
 * config.c - INI configuration with origins and overrides (see config.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "ini.h"

void config_init(struct config *c)
{
	c->e = NULL;
	c->n = 0;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].section);
		free(c->e[i].key);
		free(c->e[i].value);
		free(c->e[i].origin);
	}
	free(c->e);
	config_init(c);
}

static struct config_entry *find(const struct config *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0)
			return &c->e[i];
	return NULL;
}

int config_set(struct config *c, const char *section, const char *key, const char *value,
	       const char *origin)
{
	char *v = strdup(value), *o = strdup(origin);
	if (!v || !o)
		goto nomem;
	struct config_entry *en = find(c, section, key);
	if (en) {
		free(en->value);
		free(en->origin);
		en->value = v;
		en->origin = o;
		return 0;
	}
	struct config_entry *ne = realloc(c->e, (c->n + 1) * sizeof(*ne));
	if (!ne)
		goto nomem;
	c->e = ne;
	en = &c->e[c->n];
	en->section = strdup(section);
	en->key = strdup(key);
	if (!en->section || !en->key) {
		free(en->section);
		free(en->key);
		goto nomem;
	}
	en->value = v;
	en->origin = o;
	c->n++;
	return 0;
nomem:
	free(v);
	free(o);
	return -ENOMEM;
}

struct load_ctx {
	struct config *c;
	const char *path;
	char *err;
	size_t errlen;
};

static int on_pair(void *arg, int line, const char *section, const char *key, const char *value)
{
	struct load_ctx *lc = arg;
	if (!key)
		return 0; /* section header */
	if (section[0] == '\0') {
		snprintf(lc->err, lc->errlen, "%s:%d: %s: key outside any [section]", lc->path,
			 line, key);
		return -EINVAL;
	}
	char origin[512];
	snprintf(origin, sizeof(origin), "%s:%d", lc->path, line);
	if (config_set(lc->c, section, key, value, origin) < 0) {
		snprintf(lc->err, lc->errlen, "%s:%d: out of memory", lc->path, line);
		return -ENOMEM;
	}
	return 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx lc = {c, path, err, errlen};
	char perr[256] = "";
	int line = 0;
	int rc = ini_parse_file(path, on_pair, &lc, perr, sizeof(perr), &line);
	if (rc == -EINVAL && perr[0])
		snprintf(err, errlen, "%s:%d: %s", path, line, perr);
	else if (rc < 0 && rc != -EINVAL && rc != -ENOMEM)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}

const char *config_get(const struct config *c, const char *section, const char *key,
		       const char **origin)
{
	struct config_entry *en = find(c, section, key);
	if (origin)
		*origin = en ? en->origin : "default";
	return en ? en->value : NULL;
}

int config_check(const struct config *c, config_schema schema, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n; i++) {
		char full[256];
		snprintf(full, sizeof(full), "%s.%s", c->e[i].section, c->e[i].key);
		int known = 0;
		for (size_t k = 0; schema[k]; k++) {
			/* "section.*": the section's owner checks its keys itself */
			size_t sl = strlen(c->e[i].section);
			if (strcmp(schema[k], full) == 0 ||
			    (strncmp(schema[k], full, sl + 1) == 0 && strcmp(schema[k] + sl + 1, "*") == 0))
				known = 1;
		}
		if (!known) {
			snprintf(err, errlen, "%s: %s: unknown key", c->e[i].origin, full);
			return -EINVAL;
		}
	}
	return 0;
}

const char *config_str(const struct config *c, const char *section, const char *key,
		       const char *def)
{
	const char *v = config_get(c, section, key, NULL);
	return v ? v : def;
}

int config_duration_ms(const struct config *c, const char *section, const char *key,
		       int64_t def, int64_t *out, char *err, size_t errlen)
{
	const char *origin;
	const char *v = config_get(c, section, key, &origin);
	if (!v) {
		*out = def;
		return 0;
	}
	char why[128];
	if (cron_parse_duration_ms(v, out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s.%s: %s", origin, section, key, why);
		return -EINVAL;
	}
	return 0;
}

int config_int(const struct config *c, const char *section, const char *key, long def,
	       long min, long max, long *out, char *err, size_t errlen)
{
	const char *origin;
	const char *v = config_get(c, section, key, &origin);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || x < min || x > max) {
		snprintf(err, errlen, "%s: %s.%s: '%s' is not an integer in %ld..%ld", origin,
			 section, key, v, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int config_size(const struct config *c, const char *section, const char *key, int64_t def,
		int64_t *out, char *err, size_t errlen)
{
	const char *origin;
	const char *v = config_get(c, section, key, &origin);
	if (!v) {
		*out = def;
		return 0;
	}
	static const struct {
		const char *suffix;
		int64_t mult;
	} units[] = {{"", 1},	     {"K", 1024},	     {"KiB", 1024},
		     {"M", 1 << 20}, {"MiB", 1 << 20}, {"G", 1 << 30},
		     {"GiB", 1 << 30}};
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (end != v && !errno && x >= 0 && *v >= '0' && *v <= '9') {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcmp(end, units[i].suffix) == 0 && x <= INT64_MAX / units[i].mult) {
				*out = x * units[i].mult;
				return 0;
			}
		}
	}
	snprintf(err, errlen, "%s: %s.%s: '%s' is not a size (e.g. 1048576, 512K, 1M, 2G)",
		 origin, section, key, v);
	return -EINVAL;
}
