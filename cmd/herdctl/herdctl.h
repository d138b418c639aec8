/*
 * herdctl.h -- what herdctl's files share: exit codes, the commands, the
 * INI's paths, the control socket and reading the supervisor's answers.
 */
#ifndef HERDCTL_H
#define HERDCTL_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "herd/config.h"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_NOTALL	3	/* status: some worker not running */
#define EXIT_NOSUP	4	/* status: no supervisor answers */

/* The commands (cmd_*.c): argv[0] is the command's name. */
int	cmd_check(int, char **);
int	cmd_start(int, char **);
int	cmd_stop(int, char **);
int	cmd_restart(int, char **);
int	cmd_reload(int, char **);
int	cmd_status(int, char **);
int	cmd_graph(int, char **);

/* args.c: a command's arguments. */
void	unknown_option(const char *);
int	bad_option(int, const char *, const char *);
int	no_arguments(int, char **);
char	*join_request(const char *, int, char **, int);
char	**split_list(const char *, size_t *);

/* paths.c: the INI (-c, else $HERD_CONFIG, else the default) and the paths
 * derived from it. */
extern const char *config_arg;
const char	*config_path(void);
char	*socket_path(void);
int	 absolute_env(const char *);
int	 print_config_errors(struct config_errors *);

/* ctl.c: a request to the supervisor over its control socket. */
cJSON	*request(const char *, int, int *);
cJSON	*request_names(const char *, int, char **, int, int, int *);
int	 print_errors(cJSON *);

/* json.c: members of an answer from another process, trusting nothing. */
const char	*json_str(const cJSON *, const char *, const char *);
int	 json_int(const cJSON *, const char *);
int	 json_has(const cJSON *, const char *, const char *);

/* status.c: rendering a status answer's "servers" (pure: no I/O but fp). */
void	 format_uptime(double, char *, size_t);
int	 status_all_running(const cJSON *);
void	 status_print_json(FILE *, cJSON *);
void	 status_print_table(FILE *, const cJSON *);

#endif
