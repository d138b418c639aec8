/*
 * places_overpass.h -- OpenStreetMap's Overpass API as a places provider:
 * the request body for a WHATSAT and the answer mapped to the legacy
 * Nearby Search shape.
 *
 * Pure (cJSON only), like places_json.h: strings in, malloc'd strings
 * out (NULL only when memory runs out), for the caller to free.
 */
#ifndef HERD_PLACES_OVERPASS_H
#define HERD_PLACES_OVERPASS_H

#include <stddef.h>

/* The ODbL attribution every Overpass answer carries. */
#define OVERPASS_ATTRIBUTION	"\xc2\xa9 OpenStreetMap contributors"
/* Elements asked for: Overpass answers in id order, not nearest first,
 * so herd asks for more than the bound and sorts them itself. */
#define OVERPASS_FETCH_MIN	50
#define OVERPASS_FETCH_FACTOR	5

/* The elements to ask for a WHATSAT with this bound. */
int	 places_overpass_fetch_count(int bound);

/* Rings: the query asks the same within radius_m, radius_m / 2, ...,
 * down to OVERPASS_RINGS radii none under OVERPASS_RING_MIN_M metres.
 * Each ring's "out center M" gives its M lowest ids, but a ring with
 * fewer than M elements gives all of them: once some ring is complete
 * and holds bound named places, sorting the union is exact, in a city
 * centre with thousands of elements too. */
#define OVERPASS_RINGS		6
#define OVERPASS_RING_MIN_M	10.0

/* The Overpass QL query for amenity, tourism, shop and leisure nodes and
 * ways within each ring of radius_m metres (a decimal string) of
 * lat,lon, smallest first, with the server-side timeout of timeout_ms
 * (in whole seconds, at least 1). */
char	*places_overpass_ql(double lat, double lon, const char *radius_m,
	    int bound, long timeout_ms);

/* The same as the POST body: "data=" and the query form-encoded. */
char	*places_overpass_body(double lat, double lon, const char *radius_m,
	    int bound, long timeout_ms);

/* An Overpass answer (HTTP status http) -> legacy JSON: the named
 * elements nearest lat,lon first, at most max; OVER_QUERY_LIMIT for a
 * 429 or a rate_limited page, UNKNOWN_ERROR for a 504, a runtime error
 * or anything that is not an Overpass JSON answer. */
char	*places_overpass_to_legacy(const char *body, size_t len, long http,
	    double lat, double lon, int max);

/* Great-circle distance in metres between two points, in degrees. */
double	 places_overpass_distance(double lat1, double lon1, double lat2,
	    double lon2);

#endif /* HERD_PLACES_OVERPASS_H */
