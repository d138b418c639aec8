/*
 * places_geonames_int.h -- private to places_geonames.c and
 * places_geonames_loader.c: what a load running on the loader's thread
 * uses to log and to notice it was abandoned.
 */
#ifndef HERD_PLACES_GEONAMES_INT_H
#define HERD_PLACES_GEONAMES_INT_H

/* Log as log_info (info) or log_warnx (err: with errno's text); on a
 * loader's thread the line is kept for the loop to log instead. */
void	gn_log(int info, int err, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Whether the load running on this thread was abandoned. */
int	gn_canceled(void);

#endif
