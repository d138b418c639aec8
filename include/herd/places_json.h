/*
 * places_json.h -- provider answers -> the legacy Nearby Search shape.
 *
 * Pure (cJSON only): takes response bodies, returns malloc'd compact JSON
 * with no newline in it, which the caller frees.  Every function returns
 * a complete legacy-shaped object, errors included, so a client always
 * gets {"html_attributions":[...],"results":[...],"status":"..."}.
 */
#ifndef HERD_PLACES_JSON_H
#define HERD_PLACES_JSON_H

#include <stddef.h>

struct cJSON;

/* {"error_message":msg,"html_attributions":[],"results":[],"status":st} */
char	*places_json_error(const char *status, const char *message);

/* Places API (New) searchNearby body (HTTP status http) -> legacy JSON
 * with at most max results; provider errors become their legacy status. */
char	*places_json_from_new(const char *body, size_t len, long http,
	    int max);

/* Nearby Search (legacy) body -> the same JSON with results cut to max. */
char	*places_json_from_legacy(const char *body, size_t len, long http,
	    int max);

/* The legacy status for an HTTP status / Google error status string. */
const char *places_json_status(long http, const char *google_status);

/* places_json_error() with a printf-formatted message. */
char	*places_json_errorf(const char *status, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Append a copy of the string s to a cJSON array; -1 on OOM. */
int	 places_json_append(struct cJSON *array, const char *s);

/* Parse len bytes of a hostile body as one JSON value (only whitespace
 * after it); NULL when it is not, *oom set when memory ran out.  The
 * caller frees it with cJSON_Delete(). */
struct cJSON *places_json_parse(const char *body, size_t len, int *oom);

/* The status field of a legacy JSON we produced (for logs), into buf. */
const char *places_json_status_of(const char *json, char *buf, size_t size);

#endif
