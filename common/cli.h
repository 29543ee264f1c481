/*
 * cli.h - command-line flags that override configuration keys, shared by
 * schedd, workerd and schedctl: "-c FILE" loads the INI file, then every
 * "--flag VALUE" (or "--flag=VALUE") from the table sets section.key with
 * origin "--flag", and "--set SECTION.KEY=VALUE" sets any key.  Boolean
 * switches are a second table.  Parsing stops at the first argument that
 * is not an option (schedctl's subcommand) or after "--".
 */
#ifndef SCHED_CLI_H
#define SCHED_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct cli_flag {
	const char *flag;      /* "--listen" */
	const char *section;   /* "worker" */
	const char *key;       /* "listen" */
	const char *help;
};

struct cli_switch {
	const char *flag;      /* "-n", "--json" */
	bool *value;
	const char *help;
};

/*
 * Returns the index of the first positional argument (argc if none), or
 * -EINVAL with a message in err (unknown flag, missing value, unreadable
 * config file).  *config_path receives the -c argument or NULL.
 */
int cli_parse(int argc, char **argv, const struct cli_flag *flags,
	      const struct cli_switch *switches, struct config *cfg, const char **config_path,
	      char *err, size_t errlen);

/* Print "  --flag VALUE   help" lines for both tables. */
void cli_usage(const char *prog, const char *synopsis, const struct cli_flag *flags,
	       const struct cli_switch *switches);

#endif
