/*
 * node.c -- one herd server process: config, listener, signals, reload,
 * the status pipe, and the wiring of store, clients, peers and places.
 *
 * The node owns every part and decides what happens to a record: every
 * record, from a client (client.c) or a neighbour (peer.c), comes here
 * through a callback, is merged into the store, and is flooded to the
 * other neighbours only when it changed the store.
 *
 * One flush event ends each busy loop turn: first the floods to every
 * neighbour (peers_flush), then each client's staged replies
 * (clients_flush).  So a flood has been handed to its link (the kernel,
 * or the link's output queue when that is not empty) before the reply
 * that acknowledges it is written, and on SIGTERM the node stays up,
 * within the replies' grace period, until those queues have reached the
 * kernel.
 *
 * With persistence (durable.c over persist.c), every record that changed
 * the store is appended to the log, and the flush starts with
 * durable_write(): the turn's records reach the kernel before the floods
 * and the replies.  Under fsync = always the client sessions hold each
 * acknowledgement until the writer thread reports its entry durable
 * (clients_durable).  The listening socket is listener.c's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/auth.h"
#include "herd/client.h"
#include "herd/durable.h"
#include "herd/listener.h"
#include "herd/log.h"
#include "herd/metrics.h"
#include "herd/node.h"
#include "herd/node_report.h"
#include "herd/peer.h"
#include "herd/persist.h"
#include "herd/places.h"
#include "herd/tls_client.h"

#define STOP_GRACE_S		2	/* SIGTERM: WHATSATs in flight may finish */
#define STOP_WRITE_S		1	/* then their answers may be written */

struct node {
	struct event_base	*base;
	char			*config_path;
	struct herd_config	*cfg;
	const struct herd_server *self;		/* inside cfg */
	char			 name[HERD_NAME_MAX + 1];

	struct auth_keys	 keys;		/* n 0: protected mode */

	struct listener		*listener;
	struct listener		*tls_listener;	/* tls_port, or NULL */
	struct tls_client	*tls;		/* its certificate and key */
	struct metrics_server	*metrics;	/* metrics_port, or NULL */
	struct node_report_links mlinks;	/* a scrape's links */
	double			 start_time_s;	/* Unix time of node_new() */
	struct store		*store;
	struct places		*places;
	struct peers		*peers;
	struct clients		*clients;
	struct durable		*durable;	/* the log (maybe off) */
	char			 *data_dir;	/* --data-dir, or NULL */
	long			  fd_limit;	/* RLIMIT_NOFILE */

	struct node_pipe	  pipe;		/* to the supervisor */
	char			  failure[256];	/* why node_new() failed */

	struct event		 *sig_ev[5];
	struct event		 *sweep_ev;	/* client deadlines, 1 Hz */
	struct event		 *reconcile_ev;	/* periodic anti-entropy */
	time_t			  full_logged;
	uint64_t		  store_full;	/* new ids refused: max_records */
	struct event		 *flush_ev;	/* end-of-turn writes */
	int			  flush_scheduled;
	int			  stopping;
	int			  exit_code;
};

static enum store_result node_merge(struct node *, struct peer_link *,
		    const char *, size_t, const struct herd_time *,
		    const char *, size_t, const struct herd_record **);
static enum store_result client_record_cb(void *, const char *, size_t,
		    const struct herd_time *, const char *, size_t,
		    const struct herd_record **);
static int	client_peer_tls_cb(void *, struct bufferevent *, const char *);
static int	client_hello_cb(void *, struct bufferevent *, const char *,
		    size_t, const char *);
static void	peer_record_cb(void *, struct peer_link *, const char *,
		    size_t, const struct herd_time *, const char *, size_t);
static void	flush_wanted_cb(void *);
static void	drained_cb(void *);
static void	links_changed_cb(void *);
static void	synced_cb(void *);
static uint64_t	ack_seq_cb(void *);
static void	durable_cb(void *, uint64_t);
static void	persist_state_cb(void *);
static int	load_record_cb(void *, const char *, size_t,
		    const struct proto_at *);
static void	node_persist_report(struct node *);
static void	node_pipe_ready(struct node *);
static void	accept_cb(void *, int, const struct sockaddr *);
static void	tls_accept_cb(void *, int, const struct sockaddr *);
static size_t	clients_count_cb(void *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	node_stats_log(struct node *);
static void	metrics_fill_cb(void *, struct metrics_snapshot *);
static int	node_metrics_listen(struct node *, const struct herd_server *,
		    char *, size_t);
static void	node_schedule_flush(struct node *);
static void	node_stop_if_done(struct node *);
static void	flush_cb(evutil_socket_t, short, void *);
static void	sweep_cb(evutil_socket_t, short, void *);
static void	reconcile_cb(evutil_socket_t, short, void *);
static void	node_arm_reconcile(struct node *);
static void	stop_grace_cb(evutil_socket_t, short, void *);

/* What the client sessions ask of the node. */
static const struct client_ops node_client_ops = {
	.record = client_record_cb,
	.hello = client_hello_cb,
	.peer_tls = client_peer_tls_cb,
	.flush_wanted = flush_wanted_cb,
	.drained = drained_cb,
	.ack_seq = ack_seq_cb,
};

/* What the persistence wiring tells the node. */
static const struct durable_ops node_durable_ops = {
	.durable = durable_cb,
	.state_changed = persist_state_cb,
	.flush_wanted = flush_wanted_cb,
};

/* What the listening socket tells and asks the node. */
static const struct listener_ops node_listener_ops = {
	.accept = accept_cb,
	.count = clients_count_cb,
};

/* What the tls_port's listening socket tells and asks the node. */
static const struct listener_ops node_tls_listener_ops = {
	.accept = tls_accept_cb,
	.count = clients_count_cb,
};

/* What the peer links tell the node. */
static const struct peer_ops node_peer_ops = {
	.record = peer_record_cb,
	.links_changed = links_changed_cb,
	.synced = synced_cb,
	.flush_wanted = flush_wanted_cb,
	.drained = drained_cb,
};

/* --- records ----------------------------------------------------------- */

/* Offer a record to the store; when it changed the store, append it to
 * the log and flood it (not back to from); log a full store at most once
 * a second. */
static enum store_result
node_merge(struct node *n, struct peer_link *from, const char *client,
    size_t clen, const struct herd_time *sent, const char *line, size_t llen,
    const struct herd_record **out)
{
	enum store_result r;
	time_t now;

	r = store_merge(n->store, client, clen, sent, line, llen, out);
	switch (r) {
	case STORE_CHANGED:
		durable_changed(n->durable, line, llen);
		peers_flood(n->peers, from, *out);
		break;
	case STORE_FULL:
		n->store_full++;
		if ((now = time(NULL)) != n->full_logged) {
			n->full_logged = now;
			log_warnx("store full (max_records %zu): refused a new"
			    " client id (%llu so far)", store_count(n->store),
			    (unsigned long long)n->store_full);
		}
		break;
	case STORE_NOMEM:
		log_warnx("out of memory storing a record");
		break;
	default:
		break;
	}
	return r;
}

/* A client's IAMAT, as our AT line: merge it, unless it would change the
 * store while fsync = always cannot make it durable (then "?"). */
static enum store_result
client_record_cb(void *arg, const char *client, size_t clen,
    const struct herd_time *sent, const char *line, size_t llen,
    const struct herd_record **out)
{
	struct node *n = arg;

	if (durable_refuses(n->durable, client, clen, sent, line, llen)) {
		*out = NULL;
		return STORE_FULL;	/* answered "?", not stored */
	}
	return node_merge(n, NULL, client, clen, sent, line, llen, out);
}

/* --- persistence ------------------------------------------------------- */

/* What a reply acknowledging the store now waits for: under fsync =
 * always the last entry appended, unless it is durable already. */
static uint64_t
ack_seq_cb(void *arg)
{
	struct node *n = arg;

	return durable_ack_seq(n->durable);
}

/* The writer thread synced entries up to seq: release the replies that
 * waited for them. */
static void
durable_cb(void *arg, uint64_t seq)
{
	struct node *n = arg;

	clients_durable(n->clients, seq);
}

/* The log started or stopped failing (the engine logged it): tell the
 * supervisor. */
static void
persist_state_cb(void *arg)
{
	node_persist_report(arg);
}

/* One entry of the files being loaded: merged like a neighbour's record,
 * but neither flooded nor appended again. */
static int
load_record_cb(void *arg, const char *line, size_t len,
    const struct proto_at *at)
{
	struct node *n = arg;
	const struct herd_record *rec;

	switch (store_merge(n->store, at->client.p, at->client.len, &at->sent,
	    line, len, &rec)) {
	case STORE_NOMEM:
		log_warnx("out of memory loading the records");
		return -1;
	default:
		break;
	}
	return 0;
}

/* Send "PERSIST state fsync lag_ms" to the supervisor. */
static void
node_persist_report(struct node *n)
{
	char line[96];

	durable_report_line(n->durable, line, sizeof(line));
	node_pipe_send(&n->pipe, line);
}

/* "READY" and the first PERSIST line in one write: the supervisor reads
 * both before it answers a waiting `herdctl start`. */
static void
node_pipe_ready(struct node *n)
{
	char line[96], both[128];

	durable_report_line(n->durable, line, sizeof(line));
	snprintf(both, sizeof(both), "READY\n%s", line);
	node_pipe_send(&n->pipe, both);
}

/* A neighbour's AT line: merge it (not flooded back to it). */
static void
peer_record_cb(void *arg, struct peer_link *from, const char *client,
    size_t clen, const struct herd_time *sent, const char *line,
    size_t llen)
{
	const struct herd_record *rec;

	(void)node_merge(arg, from, client, clen, sent, line, llen, &rec);
}

/* A client connection opened with a TLS record: a TLS peer, or not. */
static int
client_peer_tls_cb(void *arg, struct bufferevent *bev, const char *addr)
{
	struct node *n = arg;

	return peers_accept_tls(n->peers, bev, addr);
}

/* A client connection opened with HELLO: the peers take it, or not. */
static int
client_hello_cb(void *arg, struct bufferevent *bev, const char *line,
    size_t len, const char *addr)
{
	struct node *n = arg;

	return peers_accept(n->peers, bev, line, len, addr);
}

/* Clients or peers staged output: run the end-of-turn flush. */
static void
flush_wanted_cb(void *arg)
{
	node_schedule_flush(arg);
}

/* Stopping, a client ended or a link drained: maybe end the loop. */
static void
drained_cb(void *arg)
{
	node_stop_if_done(arg);
}

/* A link went up or down: tell the supervisor. */
static void
links_changed_cb(void *arg)
{
	struct node *n = arg;

	node_pipe_peers(&n->pipe, n->peers);
}

/* A neighbour's catch-up ended: tell the supervisor the record count. */
static void
synced_cb(void *arg)
{
	struct node *n = arg;

	node_pipe_records(&n->pipe, store_count(n->store));
}

/* --- the loop turn ----------------------------------------------------- */

/* The listener accepted a connection: a client session, for now. */
static void
accept_cb(void *arg, int fd, const struct sockaddr *sa)
{
	struct node *n = arg;

	clients_accept(n->clients, fd, sa, NULL);
}

/* The tls_port accepted a connection: a client session inside TLS. */
static void
tls_accept_cb(void *arg, int fd, const struct sockaddr *sa)
{
	struct node *n = arg;

	clients_accept(n->clients, fd, sa, n->tls);
}

/* The client sessions open (the listener's pause log line). */
static size_t
clients_count_cb(void *arg)
{
	struct node *n = arg;

	return clients_count(n->clients);
}

/* End the loop once every client is gone and every flood reached the
 * kernel; the grace timer of signal_cb ends it otherwise. */
static void
node_stop_if_done(struct node *n)
{
	if (clients_count(n->clients) == 0 && peers_unsent(n->peers) == 0)
		event_base_loopbreak(n->base);
}

/* The end of a loop turn: floods first, then the replies that
 * acknowledge them. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)what;
	n->flush_scheduled = 0;
	durable_write(n->durable);	/* failing: retried */
	peers_flush(n->peers);
	clients_flush(n->clients);
	if (n->stopping)
		node_stop_if_done(n);	/* the floods may all be out now */
}

/* Activate the end-of-turn flush event unless it is already pending. */
static void
node_schedule_flush(struct node *n)
{
	if (!n->flush_scheduled) {
		n->flush_scheduled = 1;
		event_active(n->flush_ev, EV_WRITE, 0);
	}
}

/* Once a second: tell the supervisor the record count and the load, and
 * let the client sessions meet their deadlines. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)what;
	node_pipe_records(&n->pipe, store_count(n->store));
	node_pipe_load(&n->pipe, clients_count(n->clients),
	    clients_stats(n->clients)->lines_in);
	clients_sweep(n->clients);
	if (durable_lag_changed(n->durable))
		node_persist_report(n);	/* at most once a second */
}

/* Every reconcile_s: re-send the store on every link (anti-entropy). */
static void
reconcile_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)what;
	peers_reconcile(n->peers);
	node_arm_reconcile(n);
}

/* Arm the reconcile timer for reconcile_s seconds, or disarm it when
 * reconcile_s is not positive. */
static void
node_arm_reconcile(struct node *n)
{
	struct timeval tv = { n->cfg->herd.reconcile_s, 0 };

	if (n->cfg->herd.reconcile_s > 0)
		evtimer_add(n->reconcile_ev, &tv);
	else
		evtimer_del(n->reconcile_ev);
}


/* --- node lifecycle ---------------------------------------------------- */

/* Re-read the config and apply it live (secret, log socket, limits,
 * reconcile timer, places, links); on any error keep the running one.
 * The supervisor gets "RELOADED ok" or "RELOADED error <why>". */
void
node_reload(struct node *n)
{
	struct config_errors errs;
	struct herd_config *cfg;
	const struct herd_server *self;
	struct auth_keys keys;
	struct tls_client *tls = NULL;
	char err[512], line[400];
	size_t i;

	log_info("reloading %s", n->config_path);
	if ((cfg = config_load(n->config_path, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			log_warnx("reload: %s", errs.msgs[i]);
		log_warnx("reload failed: keeping the running configuration");
		snprintf(err, sizeof(err), "%s", errs.count ? errs.msgs[0] :
		    "configuration error");
		config_errors_free(&errs);
		goto fail;
	}
	if ((self = config_server(cfg, n->name)) == NULL) {
		log_warnx("reload: server %s is no longer in %s: keeping the"
		    " running configuration", n->name, n->config_path);
		snprintf(err, sizeof(err), "no [server:%s] in %s", n->name,
		    n->config_path);
		config_free(cfg);
		goto fail;
	}
	if (auth_load_peer_keys(cfg->herd.secret_file, &keys, err,
	    sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the running configuration", err);
		config_free(cfg);
		goto fail;
	}
	/* Certificates are re-read; a bad one keeps the running ones. */
	if (n->tls != NULL && self->tls_port != 0 &&
	    (tls = tls_client_new(&cfg->herd, err,
	    sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the running configuration and"
		    " certificate", err);
		explicit_bzero(&keys, sizeof(keys));
		config_free(cfg);
		goto fail;
	}
	if (self->port != n->self->port || self->tls_port !=
	    n->self->tls_port || strcmp(self->bind, n->self->bind) != 0)
		log_warnx("reload: the listen address changed; it takes"
		    " effect only after a restart");
	/* A moved metrics port rebinds now; a failed bind keeps the old. */
	if ((self->metrics_port != n->self->metrics_port ||
	    strcmp(self->metrics_bind, n->self->metrics_bind) != 0) &&
	    node_metrics_listen(n, self, err, sizeof(err)) == -1) {
		log_warnx("reload: metrics: %s; keeping the running"
		    " configuration", err);
		tls_client_free(tls);
		config_free(cfg);
		goto fail;
	}
	if (cfg->herd.fsync != n->cfg->herd.fsync ||
	    cfg->herd.persist != n->cfg->herd.persist ||
	    (cfg->herd.data_dir == NULL) != (n->cfg->herd.data_dir == NULL) ||
	    (cfg->herd.data_dir != NULL &&
	    strcmp(cfg->herd.data_dir, n->cfg->herd.data_dir) != 0))
		log_warnx("reload: persist, fsync or data_dir changed; it takes"
		    " effect only after a restart");
	if (clients_configure(n->clients, &cfg->herd) == -1) {
		log_warnx("reload: out of memory; keeping the running"
		    " configuration");
		snprintf(err, sizeof(err), "out of memory");
		explicit_bzero(&keys, sizeof(keys));
		tls_client_free(tls);
		config_free(cfg);
		goto fail;
	}
	if (tls != NULL) {
		tls_client_free(n->tls);	/* open sessions keep theirs */
		n->tls = tls;
		log_info("reload: TLS certificate and key re-read");
	}
	config_free(n->cfg);
	n->cfg = cfg;
	n->self = self;
	if (!auth_keys_equal(&keys, &n->keys))
		log_info("reload: the peer secret changed (%zu %s); links"
		    " re-authenticate as they reconnect", keys.n,
		    log_plural(keys.n, "secret", "secrets"));
	n->keys = keys;
	explicit_bzero(&keys, sizeof(keys));
	log_set_socket(cfg->herd.log_socket);
	store_set_limit(n->store, (size_t)cfg->herd.max_records);
	node_arm_reconcile(n);
	places_configure(n->places, &cfg->places);
	peers_configure(n->peers, cfg, self);
	node_pipe_peers(&n->pipe, n->peers);
	log_info("reloaded: %zu %s", peers_count(n->peers),
	    log_plural(peers_count(n->peers), "neighbour", "neighbours"));
	node_pipe_send(&n->pipe, "RELOADED ok\n");
	return;
fail:
	/* One line on the status pipe: no newline inside, bounded. */
	for (i = 0; err[i] != '\0'; i++)
		if (err[i] == '\n' || err[i] == '\r')
			err[i] = ' ';
	snprintf(line, sizeof(line), "RELOADED error %.300s\n", err);
	node_pipe_send(&n->pipe, line);
}

/* Serve /metrics as self says (NULL server when metrics_port is unset),
 * replacing the running one; -1 with err when the bind fails (the
 * running one stays). */
static int
node_metrics_listen(struct node *n, const struct herd_server *self,
    char *err, size_t errlen)
{
	struct metrics_server *m = NULL;

	if (self->metrics_port != 0 && (m = metrics_server_new(n->base,
	    self->metrics_bind, self->metrics_port, metrics_fill_cb, n, err,
	    errlen)) == NULL)
		return -1;
	metrics_server_free(n->metrics);
	n->metrics = m;
	return 0;
}

/* The modules the reports read. */
static void
node_parts(struct node *n, struct node_parts *p)
{
	p->store = n->store;
	p->clients = n->clients;
	p->peers = n->peers;
	p->places = n->places;
	p->durable = n->durable;
	p->start_time_s = n->start_time_s;
}

/* A scrape: the node's counters as they are now. */
static void
metrics_fill_cb(void *arg, struct metrics_snapshot *s)
{
	struct node *n = arg;
	struct node_parts p;

	if (!s->health_only) {
		node_parts(n, &p);
		node_report_metrics(&p, &n->mlinks, s);
	}
	s->stopping = n->stopping;
}

/* SIGUSR1: one stats line. */
static void
node_stats_log(struct node *n)
{
	struct node_parts p;

	node_parts(n, &p);
	node_report_stats(&p);
}

/*
 * HUP reloads, USR1 logs stats; TERM/INT stop accepting, answer every
 * line already read, close every client once its replies are out, and
 * exit once the floods queued on the links have reached the kernel too.
 * WHATSATs in flight get STOP_GRACE_S (then stop_grace_cb answers them);
 * floods get the same grace.
 */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		node_reload(n);
		break;
	case SIGUSR1:
		node_stats_log(n);
		break;
	case SIGTERM:
	case SIGINT:
		if (n->stopping)
			break;
		log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		n->stopping = 1;
		listener_stop(n->listener);
		if (n->tls_listener != NULL)
			listener_stop(n->tls_listener);
		peers_stop(n->peers);	/* queued floods drain like replies */
		/* Let pending replies flush, then exit the loop. */
		clients_stop(n->clients);
		if (clients_count(n->clients) == 0 &&
		    peers_unsent(n->peers) == 0)
			event_base_loopbreak(n->base);
		else {
			struct timeval grace = { STOP_GRACE_S, 0 };

			if (event_base_once(n->base, -1, EV_TIMEOUT,
			    stop_grace_cb, n, &grace) == -1)
				stop_grace_cb(-1, EV_TIMEOUT, n);
		}
		break;
	}
}

/*
 * SIGTERM's grace is over: WHATSATs still in flight are answered
 * "server shutting down" (in order); their clients get STOP_WRITE_S more
 * to read it all, then the loop ends anyway.
 */
static void
stop_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct timeval last = { STOP_WRITE_S, 0 };

	(void)fd;
	(void)what;
	places_shutdown(n->places);
	event_base_loopexit(n->base, &last);
}

/*
 * Load the config, listen, set up store, timers, places, signals and links,
 * and write READY to ready_fd; on failure write "FAIL why" there, set *code
 * and return NULL.
 */
struct node *
node_new(const char *config_path, const char *name, const char *data_dir,
    int ready_fd, int *code)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
	struct config_errors errs;
	struct node *n;
	uint64_t seed[2];
	size_t i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		fatal("calloc");
	n->pipe.fd = -1;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		n->start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	if ((n->config_path = strdup(config_path)) == NULL)
		fatal("strdup");
	if (data_dir != NULL && (n->data_dir = strdup(data_dir)) == NULL)
		fatal("strdup");
	if ((n->cfg = config_load(config_path, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		snprintf(n->failure, sizeof(n->failure), "%s%s", errs.count ?
		    errs.msgs[0] : "configuration error", errs.count > 1 ?
		    " (and more)" : "");
		config_errors_free(&errs);
		*code = HERD_EXIT_CONFIG;
		goto printed;
	}
	if ((n->self = config_server(n->cfg, name)) == NULL) {
		snprintf(n->failure, sizeof(n->failure), "%s: no [server:%s]"
		    " section", config_path, name);
		fprintf(stderr, "%s\n", n->failure);
		*code = HERD_EXIT_CONFIG;
		goto printed;
	}
	snprintf(n->name, sizeof(n->name), "%s", name);
	log_set_prefix(n->name);
	log_set_socket(n->cfg->herd.log_socket);
	if (auth_load_peer_keys(n->cfg->herd.secret_file, &n->keys,
	    n->failure, sizeof(n->failure)) == -1) {
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	if (n->self->tls_port != 0 && (n->tls = tls_client_new(&n->cfg->herd,
	    n->failure, sizeof(n->failure))) == NULL) {
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	if (n->keys.n == 0)
		log_warnx("no secret_file is configured: peer links are"
		    " accepted and dialled over loopback only (protected"
		    " mode); set secret_file in [herd] to a file holding a"
		    " shared secret (mode 600) for a herd on several machines");

	/* A client that vanishes must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	n->fd_limit = listener_raise_nofile(n->cfg->herd.max_clients);
	if ((n->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	log_set_event_base(n->base);
	/* Signals before the listener: whoever sees the port open may send
	 * SIGTERM at once and must get a clean stop, not the default death. */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		n->sig_ev[i] = evsignal_new(n->base, sigs[i], signal_cb, n);
		if (n->sig_ev[i] == NULL || evsignal_add(n->sig_ev[i], NULL))
			fatalx("evsignal_new failed");
	}
	evutil_secure_rng_get_bytes(seed, sizeof(seed));
	if ((n->store = store_new(seed[0], seed[1])) == NULL)
		fatal("store_new");
	store_set_limit(n->store, (size_t)n->cfg->herd.max_records);
	/* Load before listening: no client sees an empty store. */
	if ((n->durable = durable_new(n->store, n->cfg->herd.fsync,
	    &node_durable_ops, n)) == NULL)
		fatal("durable_new");
	if (durable_open(n->durable, n->base, &n->cfg->herd, n->data_dir,
	    n->name, load_record_cb, n, n->failure, sizeof(n->failure)) == -1) {
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	if ((n->listener = listener_new(n->base, n->self->bind, n->self->port,
	    &node_listener_ops, n, n->failure, sizeof(n->failure))) == NULL) {
		*code = HERD_EXIT_UNAVAILABLE;
		goto fail;
	}
	if (n->self->tls_port != 0) {
		if ((n->tls_listener = listener_new(n->base, n->self->bind,
		    n->self->tls_port, &node_tls_listener_ops, n, n->failure,
		    sizeof(n->failure))) == NULL) {
			*code = HERD_EXIT_UNAVAILABLE;
			goto fail;
		}
	}
	{
		struct timeval one = { 1, 0 };

		n->flush_ev = event_new(n->base, -1, 0, flush_cb, n);
		n->sweep_ev = event_new(n->base, -1, EV_PERSIST, sweep_cb, n);
		n->reconcile_ev = evtimer_new(n->base, reconcile_cb, n);
		if (n->sweep_ev == NULL || n->reconcile_ev == NULL ||
		    n->flush_ev == NULL)
			fatalx("event_new failed");
		event_add(n->sweep_ev, &one);
		node_arm_reconcile(n);
	}
	/* The data directory's root holds what the servers of the machine
	 * share (the built-in GeoNames index): under herdctl, all of them. */
	if (n->cfg->herd.persist)
		places_share_dir(n->data_dir != NULL ? n->data_dir :
		    n->cfg->herd.data_dir);
	if ((n->places = places_new(n->base, &n->cfg->places)) == NULL)
		fatalx("places_new failed");
	n->clients = clients_new(n->base, n->name, &n->cfg->herd, n->fd_limit,
	    n->store, n->places, &node_client_ops, n);
	n->peers = peers_new(n->base, n->name, &n->keys, n->store,
	    &node_peer_ops, n);
	peers_configure(n->peers, n->cfg, n->self);
	if (node_metrics_listen(n, n->self, n->failure,
	    sizeof(n->failure)) == -1) {
		*code = HERD_EXIT_UNAVAILABLE;
		goto fail;
	}
	log_info("started: %zu %s, config %s", peers_count(n->peers),
	    log_plural(peers_count(n->peers), "neighbour", "neighbours"),
	    config_path);
	if (ready_fd >= 0) {
		/* Ready only now that signals are handled.  Keep the pipe:
		 * link and record counts are reported on it. */
		(void)fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(ready_fd, F_SETFL, O_NONBLOCK);
		n->pipe.fd = ready_fd;
		node_pipe_ready(n);
	}
	node_pipe_peers(&n->pipe, n->peers);
	return n;
fail:
	/* Seen by whoever started us, even where no syslog listens. */
	log_failx("%s", n->failure);
printed:
	if (ready_fd >= 0) {
		char msg[300];
		int len;

		len = snprintf(msg, sizeof(msg), "FAIL %s\n", n->failure);
		(void)write(ready_fd, msg, (size_t)len < sizeof(msg) ?
		    (size_t)len : sizeof(msg) - 1);
		close(ready_fd);
	}
	node_free(n);
	return NULL;
}

/* Run the event loop until stopped, log final stats, return the exit code. */
int
node_run(struct node *n)
{
	event_base_dispatch(n->base);
	node_stats_log(n);
	log_info("stopped");
	return n->exit_code;
}

/* Free the node and all it owns: clients, links, events, places, listener,
 * store and config. */
void
node_free(struct node *n)
{
	size_t i;

	/* The staged entries reach the disk (synced per policy) first. */
	durable_free(n->durable);
	n->durable = NULL;
	metrics_server_free(n->metrics);
	free(n->mlinks.v);
	clients_free(n->clients);
	peers_free(n->peers);
	for (i = 0; i < sizeof(n->sig_ev) / sizeof(n->sig_ev[0]); i++)
		if (n->sig_ev[i] != NULL)
			event_free(n->sig_ev[i]);
	if (n->sweep_ev != NULL)
		event_free(n->sweep_ev);
	if (n->flush_ev != NULL)
		event_free(n->flush_ev);
	if (n->reconcile_ev != NULL)
		event_free(n->reconcile_ev);
	if (n->places != NULL)
		places_free(n->places);
	listener_free(n->listener);
	listener_free(n->tls_listener);
	tls_client_free(n->tls);
	store_free(n->store);
	config_free(n->cfg);
	free(n->config_path);
	free(n->data_dir);
	if (n->pipe.fd != -1)
		close(n->pipe.fd);
	log_flush(1000);
	/* A TLS bufferevent freed above (a dial still connecting) finishes
	 * freeing in a callback of the loop: run what is ready once. */
	if (n->base != NULL) {
		event_base_loop(n->base, EVLOOP_NONBLOCK);
		event_base_free(n->base);
	}
	free(n);
}
