/*
 * node.h -- one herd server: its event loop, clients, peers and store.
 *
 * struct node is shared by node.c (listener, client sessions, signals)
 * and peer.c (neighbour links); nothing else looks inside it.  The node
 * owns its configuration, store, clients and peer links, and frees them
 * all in node_free().
 */
#ifndef HERD_NODE_H
#define HERD_NODE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/proto.h"
#include "herd/store.h"

struct event_base;
struct event;
struct evconnlistener;
struct bufferevent;
struct peer_link;
struct places;
struct client;

/* Process exit codes (sysexits.h values, documented in the README). */
#define HERD_EXIT_OK		0
#define HERD_EXIT_FATAL		1
#define HERD_EXIT_USAGE		64
#define HERD_EXIT_UNAVAILABLE	69	/* cannot listen */
#define HERD_EXIT_CONFIG	78

struct node_stats {
	uint64_t	lines_in;	/* client lines received */
	uint64_t	replies;	/* replies sent (AT, WHATSAT, ?) */
	uint64_t	invalid;	/* "?" replies */
	uint64_t	flood_in;	/* AT lines received from peers */
	uint64_t	flood_out;	/* AT lines sent to peers */
	uint64_t	accepted;	/* client connections accepted */
	uint64_t	refused;	/* refused: max_clients reached */
	uint64_t	dropped;	/* dropped by a timeout */
	uint64_t	store_full;	/* new ids refused: max_records */
};

TAILQ_HEAD(client_list, client);

struct node {
	struct event_base	*base;
	char			*config_path;
	struct herd_config	*cfg;
	const struct herd_server *self;		/* inside cfg */
	char			 name[HERD_NAME_MAX + 1];
	size_t			 name_len;

	struct auth_secret	 secret;	/* len 0: protected mode */

	struct evconnlistener	*listener;
	struct store		*store;
	struct places		*places;

	struct peer_link	**links;	/* one per neighbour */
	size_t			  nlinks;

	struct client_list	  clients;
	size_t			  nclients;	/* probation included */
	struct client_list	  probation;	/* over max_clients, oldest
						 * first: HELLO or leave */
	size_t			  nprobation;
	long			  fd_limit;	/* RLIMIT_NOFILE */
	uint64_t		  next_client_id;

	char			 *scratch;	/* formatting buffer */
	size_t			  scratch_size;

	int			  status_fd;	/* to the supervisor, or -1 */
	char			  failure[256];	/* why node_new() failed */

	struct event		 *sig_ev[5];
	struct event		 *sweep_ev;	/* client deadlines, 1 Hz */
	struct event		 *reconcile_ev;	/* periodic anti-entropy */
	size_t			  reported;	/* RECORDS last sent */
	time_t			  refused_logged;
	time_t			  full_logged;
	struct client_list	  dirty;	/* clients with staged replies */
	struct client_list	  flushing;	/* being flushed right now */
	struct event		 *flush_ev;	/* end-of-turn writes */
	struct event		 *resume_ev;	/* listener paused on EMFILE */
	int			  flush_scheduled;
	int			  stopping;
	int			  exit_code;
	struct node_stats	  stats;
};

/* Parse the config, bind the listener; NULL on failure with *code set
 * to the documented exit code.  ready_fd >= 0 gets "READY\n" once
 * listening. */
struct node	*node_new(const char *config_path, const char *name,
		    int ready_fd, int *code);
/* Run the loop until SIGTERM/SIGINT; returns the exit code. */
int		 node_run(struct node *);
void		 node_free(struct node *);

/* Offer a record from any source; floods it when it changed the store.
 * from: the link it came from (not flooded back), or NULL. */
enum store_result node_merge(struct node *, struct peer_link *from,
		    const char *client, size_t client_len,
		    const struct herd_time *sent, const char *line,
		    size_t line_len, const struct herd_record **out);

/* Have the end-of-turn flush run: floods, then staged replies. */
void		 node_schedule_flush(struct node *);

/* While stopping: end the loop once no client is left and every flood
 * has been handed to the kernel (peer.c calls it as links drain). */
void		 node_stop_if_done(struct node *);

/* Re-read the config file and apply it (SIGHUP). */
void		 node_reload(struct node *);

/* A link went up or down: tell the supervisor (PEERS up total). */
void		 node_peers_changed(struct node *);

/* Tell the supervisor the record count if it changed (RECORDS n);
 * called once a second and when a catch-up sync ends. */
void		 node_records_changed(struct node *);

/* The number of neighbour links that are up. */
size_t		 node_links_up(const struct node *);

#endif
