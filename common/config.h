/*
 * config.h - daemon configuration: an INI file of "[section]" tables plus
 * command-line overrides, with the origin of every value kept ("file:line"
 * or "--flag") so that an error names where the bad value came from.
 * Keys are checked against a table of known keys; typed getters validate.
 */
#ifndef SCHED_CONFIG_H
#define SCHED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config_entry {
	char *section;
	char *key;
	char *value;
	char *origin;   /* "path:line" or "--flag" */
};

struct config {
	struct config_entry *e;
	size_t n;
};

/* Known keys: "section.key" strings, NULL-terminated. */
typedef const char *const config_schema[];

void config_init(struct config *c);
void config_free(struct config *c);

/* Read path into c (later values override earlier).  0 or -errno with a
 * reason naming path:line in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Set (override) section.key; origin is copied.  0 or -ENOMEM. */
int config_set(struct config *c, const char *section, const char *key, const char *value,
	       const char *origin);

/* The value (or NULL) and, if origin != NULL, where it came from. */
const char *config_get(const struct config *c, const char *section, const char *key,
		       const char **origin);

/* Every key must be listed in schema; -EINVAL naming origin and key otherwise.
 * An entry "section.*" admits every key of that section (its owner then
 * checks them, e.g. gossip_options_load). */
int config_check(const struct config *c, config_schema schema, char *err, size_t errlen);

/* Typed getters: def when unset; -EINVAL with "origin: section.key: why". */
const char *config_str(const struct config *c, const char *section, const char *key,
		       const char *def);
int config_duration_ms(const struct config *c, const char *section, const char *key,
		       int64_t def, int64_t *out, char *err, size_t errlen);
int config_int(const struct config *c, const char *section, const char *key, long def,
	       long min, long max, long *out, char *err, size_t errlen);
/* Sizes: "1048576", "512K", "1M", "1MiB", "2G". */
int config_size(const struct config *c, const char *section, const char *key, int64_t def,
		int64_t *out, char *err, size_t errlen);

#endif
