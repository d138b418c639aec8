/*
 * places_http.c -- the HTTP fetch engine of the places service: libcurl's
 * multi interface on the node's libevent loop, a request in, its status
 * and body out through a callback.
 *
 * The wiring follows curl's multi-event/hiperfifo examples: curl tells us
 * which sockets to watch (socket callback) and when to wake it (timer
 * callback); libevent tells curl when either happens.
 */
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "herd/log.h"
#include "places_http.h"

#define CONNECT_TIMEOUT_MS	3000

struct places_http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	size_t			 body_max;
	size_t			 nrunning;	/* fetches on the multi handle */
};

struct places_http_fetch {
	struct places_http	*http;
	CURL			*easy;
	struct curl_slist	*headers;
	places_http_done_cb	 done;
	void			*arg;
	char			*body;		/* response */
	size_t			 len;
	int			 too_big;
	int			 running;	/* on the multi handle */
	struct timespec		 started;
	char			 errbuf[CURL_ERROR_SIZE];
};

/* The socket-watch state curl asks us to keep per socket. */
struct sock_watch {
	struct event		*ev;
	struct places_http	*http;
};

static int	socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	timer_cb(CURLM *, long, void *);
static void	event_cb(evutil_socket_t, short, void *);
static void	timeout_cb(evutil_socket_t, short, void *);
static void	check_done(struct places_http *);
static void	fetch_finish(struct places_http_fetch *, CURLcode);
static size_t	write_cb(char *, size_t, size_t, void *);

/* An engine on base; NULL on failure. */
struct places_http *
places_http_new(struct event_base *base, size_t body_max)
{
	struct places_http *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	h->base = base;
	h->body_max = body_max;
	if ((h->multi = curl_multi_init()) == NULL ||
	    (h->timer = evtimer_new(base, timeout_cb, h)) == NULL) {
		places_http_free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

/* Free the engine (its fetches are gone). */
void
places_http_free(struct places_http *h)
{
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	if (h->timer != NULL)
		event_free(h->timer);
	free(h);
	curl_global_cleanup();
}

/* Bound the connections, open or kept alive, to conns. */
void
places_http_set_max(struct places_http *h, long conns)
{
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, conns);
}

/* s URL-encoded, in memory of our own; NULL when memory runs out. */
char *
places_http_escape(const char *s)
{
	char *esc, *copy;

	if ((esc = curl_easy_escape(NULL, s, 0)) == NULL)
		return NULL;
	copy = strdup(esc);
	curl_free(esc);
	return copy;
}

/* A transfer of req (GET, or POST of req->post), not started; NULL on
 * failure. */
struct places_http_fetch *
places_http_fetch_new(struct places_http *h,
    const struct places_http_request *req, places_http_done_cb done,
    void *arg)
{
	struct places_http_fetch *f;
	struct curl_slist *l;
	size_t i;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->http = h;
	f->done = done;
	f->arg = arg;
	if ((f->easy = curl_easy_init()) == NULL)
		goto fail;
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
		if ((l = curl_slist_append(f->headers, req->headers[i])) ==
		    NULL)
			goto fail;
		f->headers = l;
	}
	if (f->headers != NULL)
		curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
	if (req->post != NULL)
		curl_easy_setopt(f->easy, CURLOPT_COPYPOSTFIELDS, req->post);
	else
		curl_easy_setopt(f->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(f->easy, CURLOPT_URL, req->url);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    req->timeout_ms < CONNECT_TIMEOUT_MS ? req->timeout_ms :
	    CONNECT_TIMEOUT_MS);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "herd/1");
	curl_easy_setopt(f->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	return f;
fail:
	places_http_fetch_free(f);
	return NULL;
}

/* Hand f to curl; -1 (logged) on failure. */
int
places_http_fetch_start(struct places_http_fetch *f)
{
	CURLMcode mc;

	clock_gettime(CLOCK_MONOTONIC, &f->started);
	if ((mc = curl_multi_add_handle(f->http->multi, f->easy)) !=
	    CURLM_OK) {
		log_warnx("places: curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		return -1;
	}
	f->running = 1;
	f->http->nrunning++;
	return 0;
}

/* Take f off curl if it runs, and free it. */
void
places_http_fetch_free(struct places_http_fetch *f)
{
	if (f->running) {
		curl_multi_remove_handle(f->http->multi, f->easy);
		f->http->nrunning--;
	}
	if (f->easy != NULL)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->body);
	free(f);
}

/*
 * CURLOPT_WRITEFUNCTION: append to the body; 0 (abort) past body_max
 * or when memory runs out.
 */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct places_http_fetch *f = arg;
	size_t len = size * n;
	char *b;

	if (f->len + len > f->http->body_max) {
		f->too_big = 1;
		return 0;	/* aborts the transfer */
	}
	if ((b = realloc(f->body, f->len + len + 1)) == NULL)
		return 0;
	f->body = b;
	memcpy(f->body + f->len, p, len);
	f->len += len;
	f->body[f->len] = '\0';
	return len;
}

/* Tell f's owner how its transfer ended (rc). */
static void
fetch_finish(struct places_http_fetch *f, CURLcode rc)
{
	struct places_http_result res;
	struct timespec now;

	memset(&res, 0, sizeof(res));
	clock_gettime(CLOCK_MONOTONIC, &now);
	res.ms = (now.tv_sec - f->started.tv_sec) * 1000 +
	    (now.tv_nsec - f->started.tv_nsec) / 1000000;
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &res.status);
	res.ok = rc == CURLE_OK;
	res.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
	res.too_big = f->too_big;
	res.body = f->body ? f->body : "";
	res.len = f->len;
	res.error = rc == CURLE_OK ? "" : f->errbuf[0] ? f->errbuf :
	    curl_easy_strerror(rc);
	f->done(f->arg, &res);
}

/* Finish every fetch whose transfer curl reports done. */
static void
check_done(struct places_http *h)
{
	CURLMsg *m;
	int left;
	struct places_http_fetch *f;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		f = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &f);
		if (f != NULL)
			fetch_finish(f, m->data.result);
	}
}

/*
 * Tell curl that socket fd is ready and finish the transfers that are
 * done; with none left running, the timer is cancelled.
 */
static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places_http *h = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, action, &running);
	check_done(h);
	/* Nothing left: cancel curl's timer.  Our count, not curl's
	 * running, which predates fetches check_done started. */
	if (h->nrunning == 0 && evtimer_pending(h->timer, NULL))
		evtimer_del(h->timer);
}

/* curl's timer expired: let it act on timeouts and finish what is done. */
static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places_http *h = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: curl wants a wake-up in ms (-1: none). */
static int
timer_cb(CURLM *multi, long ms, void *arg)
{
	struct places_http *h = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct places_http *h = arg;
	struct sock_watch *w = sockp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return -1;
		w->http = h;
		curl_multi_assign(h->multi, s, w);
	} else
		event_free(w->ev);
	w->ev = event_new(h->base, s, kind, event_cb, h);
	if (w->ev == NULL)
		return -1;
	event_add(w->ev, NULL);
	return 0;
}
