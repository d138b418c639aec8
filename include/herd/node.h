/*
 * node.h -- one herd server process: its event loop and everything in it.
 *
 * struct node is private to node.c.  The node allocates and owns its
 * configuration, store, places, client sessions (client.h), peer links
 * (peer.h), listener (listener.h), persistence (durable.h) and
 * metrics server (metrics.h, when metrics_port is set), wires
 * them together with their ops callbacks, and frees them all in
 * node_free().
 */
#ifndef HERD_NODE_H
#define HERD_NODE_H

struct node;

/* Process exit codes (sysexits.h values, documented in the README). */
#define HERD_EXIT_OK		0
#define HERD_EXIT_FATAL		1
#define HERD_EXIT_USAGE		64
#define HERD_EXIT_UNAVAILABLE	69	/* cannot listen */
#define HERD_EXIT_CONFIG	78

/* Parse the config, load the records of data_dir/NAME (data_dir: the
 * --data-dir option, else [herd] data_dir, else none), bind the listener;
 * NULL on failure with *code set to the documented exit code.  ready_fd
 * >= 0 gets "READY\n" once listening, then PERSIST/PEERS/RECORDS lines. */
struct node	*node_new(const char *config_path, const char *name,
		    const char *data_dir, int ready_fd, int *code);
/* Run the loop until SIGTERM/SIGINT; returns the exit code. */
int		 node_run(struct node *);
void		 node_free(struct node *);

/* Re-read the config file and apply it (SIGHUP). */
void		 node_reload(struct node *);

#endif
