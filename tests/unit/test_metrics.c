/*
 * test_metrics.c -- unit tests for the Prometheus exposition
 * (src/metrics.c): histograms, places status labels, and the text of a
 * formatted snapshot, line by line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "herd/metrics.h"

/* The exposition of s as a NUL-terminated string (caller frees). */
static char *
format(const struct metrics_snapshot *s)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *out;

	assert_non_null(b);
	assert_int_equal(metrics_format(b, s), 0);
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	assert_non_null(out);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return out;
}

/* True when text has line as one whole line. */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/* Observations land in the first bucket whose bound is >= them. */
static void
test_hist_observe(void **state)
{
	struct metrics_hist h;

	(void)state;
	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, 0.005);	/* on the bound: le 0.005 */
	metrics_hist_observe(&h, 0.006);
	metrics_hist_observe(&h, 11);		/* above all: +Inf only */
	metrics_hist_observe(&h, -1);		/* clamped to 0 */
	assert_int_equal(h.counts[0], 2);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[METRICS_NBOUNDS], 1);
	assert_int_equal(h.count, 4);
	assert_true(h.sum > 11.010 && h.sum < 11.012);
}

/* Known statuses are their own label; anything else is "other". */
static void
test_places_index(void **state)
{
	(void)state;
	assert_string_equal(metrics_places_status[metrics_places_index("OK")],
	    "OK");
	assert_string_equal(metrics_places_status[metrics_places_index(
	    "UNKNOWN_ERROR")], "UNKNOWN_ERROR");
	assert_string_equal(metrics_places_status[metrics_places_index(
	    "client-chosen\"junk")], "other");
}

/* Every family has HELP and TYPE; counters end in _total; histogram
 * buckets are cumulative with +Inf, _sum and _count; labels escaped. */
static void
test_format(void **state)
{
	struct metrics_peer peers[2] = {
		{ .name = "Jaquez", .up = 1 }, { .name = "Sm\"ith", .up = 0 },
	};
	struct metrics_snapshot s;
	char *t;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.iamat = 7;
	s.whatsat = 2;
	s.invalid = 3;
	s.records = 5;
	s.clients = 1;
	s.peers = peers;
	s.npeers = 2;
	s.flood_out = 14;
	s.places[0] = 4;
	s.places[METRICS_NPLACES - 1] = 1;
	metrics_hist_observe(&s.places_duration, 0.003);
	metrics_hist_observe(&s.places_duration, 0.2);
	metrics_hist_observe(&s.places_duration, 20);
	s.persist_state = "ok";
	s.open_fds = -1;
	t = format(&s);

	assert_true(has_line(t, "# TYPE herd_requests_total counter"));
	assert_true(has_line(t, "herd_requests_total{command=\"IAMAT\"} 7"));
	assert_true(has_line(t, "herd_requests_total{command=\"WHATSAT\"} 2"));
	assert_true(has_line(t, "herd_requests_total{command=\"invalid\"} 3"));
	assert_true(has_line(t, "herd_records 5"));
	assert_true(has_line(t, "herd_clients_connected 1"));
	assert_true(has_line(t, "herd_peer_up{peer=\"Jaquez\"} 1"));
	assert_true(has_line(t, "herd_peer_up{peer=\"Sm\\\"ith\"} 0"));
	assert_true(has_line(t, "herd_flood_sent_total 14"));
	assert_true(has_line(t, "herd_places_requests_total{status=\"OK\"} 4"));
	assert_true(has_line(t,
	    "herd_places_requests_total{status=\"other\"} 1"));
	assert_true(has_line(t, "# TYPE herd_places_request_duration_seconds"
	    " histogram"));
	assert_true(has_line(t,
	    "herd_places_request_duration_seconds_bucket{le=\"0.005\"} 1"));
	assert_true(has_line(t,
	    "herd_places_request_duration_seconds_bucket{le=\"0.1\"} 1"));
	assert_true(has_line(t,
	    "herd_places_request_duration_seconds_bucket{le=\"0.25\"} 2"));
	assert_true(has_line(t,
	    "herd_places_request_duration_seconds_bucket{le=\"10\"} 2"));
	assert_true(has_line(t,
	    "herd_places_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
	assert_true(has_line(t, "herd_places_request_duration_seconds_count 3"));
	assert_true(has_line(t, "herd_persist_state{state=\"ok\"} 1"));
	assert_true(has_line(t, "herd_persist_state{state=\"off\"} 0"));
	assert_true(has_line(t, "herd_build_info{version=\"" HERD_VERSION
	    "\"} 1"));
	assert_null(strstr(t, "process_open_fds"));	/* unknown: omitted */
	/* Each "# TYPE x" follows its "# HELP x"; counters are *_total. */
	{
		const char *p = t;

		while ((p = strstr(p, "# TYPE ")) != NULL) {
			char name[128], type[32], help[160];

			assert_int_equal(sscanf(p, "# TYPE %127s %31s", name,
			    type), 2);
			snprintf(help, sizeof(help), "# HELP %s ", name);
			assert_non_null(strstr(t, help));
			if (strcmp(type, "counter") == 0)
				assert_string_equal(name + strlen(name) - 6,
				    "_total");
			p++;
		}
	}
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_observe),
		cmocka_unit_test(test_places_index),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
