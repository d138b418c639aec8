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

#endif
