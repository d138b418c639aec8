/*
 * places_geonames.h -- private to the places files: the GeoNames
 * provider, answering WHATSAT in process from a gn_index (built-in
 * libgeonames set, or a GeoNames dump through a shared index file).
 */
#ifndef HERD_PLACES_GEONAMES_H
#define HERD_PLACES_GEONAMES_H

#include <stddef.h>
#include <stdint.h>

#define PLACES_GEONAMES_ATTRIBUTION "Data \xc2\xa9 <a href=\"" \
	"https://www.geonames.org/\">GeoNames</a>, CC BY 4.0"
/* Malformed dump lines logged one by one; the rest are counted. */
#define PLACES_GEONAMES_BAD_LOGGED	20

struct places_geonames;
struct places_geonames_loader;
struct event_base;

/* A background load finished (on the loop thread): g the new data
 * (taken over), or NULL when it failed (logged). */
typedef void	(*places_geonames_done_cb)(void *arg, struct places_geonames *g,
		    const char *file, uint32_t classes);

/* Share the built-in set's index file in dir (NULL: no sharing, each
 * load builds a private copy); before any load. */
void			 places_geonames_share_dir(const char *dir);
/* Load file (NULL: the built-in libgeonames set) keeping the classes of
 * mask; NULL (logged) on failure. */
struct places_geonames	*places_geonames_load(const char *file,
			    uint32_t classes);
void			 places_geonames_free(struct places_geonames *);
uint32_t		 places_geonames_count(const struct places_geonames *);
/* "the built-in set" or "FILE (index FILE.herd-index, shared)" */
const char		*places_geonames_what(const struct places_geonames *);
/* The legacy JSON answer for a WHATSAT (malloc'd); NULL out of memory. */
char			*places_geonames_answer(const struct places_geonames *,
			    double lat, double lon, double radius_km, int max);


/*
 * Loading on a worker thread, so a reload never blocks the loop: the
 * thread's log lines are replayed by the loop, and done is called from
 * base.  One load runs at a time; starting another while one runs
 * abandons the running one (its result is discarded) and runs the
 * latest after it: the latest wins.  NULL (logged) on failure.
 */
struct places_geonames_loader *places_geonames_loader_new(
			    struct event_base *base,
			    places_geonames_done_cb done, void *arg);
/* Load file (NULL: built-in) with classes in the background; 0 when
 * started or queued, -1 (logged) when no thread can be started. */
int			 places_geonames_loader_start(
			    struct places_geonames_loader *, const char *file,
			    uint32_t classes);
/* Abandon the load running or queued, if any (done is not called). */
void			 places_geonames_loader_cancel(
			    struct places_geonames_loader *);
/* Whether a load runs or waits. */
int			 places_geonames_loader_busy(
			    const struct places_geonames_loader *);
/* Cancel, wait for the thread (it stops at its next chunk) and free. */
void			 places_geonames_loader_free(
			    struct places_geonames_loader *);

#endif
