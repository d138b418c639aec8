/*
 * geonames_index.h -- GeoNames features in one compact, position-free
 * image, and the WHATSAT query over it.  Pure: no I/O, no GLib.
 *
 * A builder collects features (from a GeoNames dump parsed line by line
 * with gn_parse_line(), or from libgeonames) and lays them out as one
 * contiguous image: a header, a 0.5-degree latitude/longitude grid of
 * cell offsets, the features sorted by cell, and a pool of NUL-ended
 * strings.  The same image is used from malloc'd memory or from a
 * read-only mapping of an index file shared by every node;
 * gn_index_open() validates any image as hostile input (sizes, offsets,
 * checksum) before it is used.
 *
 * gn_index_query() returns the features within a great-circle radius,
 * nearest first, cut to a maximum.
 */
#ifndef HERD_GEONAMES_INDEX_H
#define HERD_GEONAMES_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define GN_EARTH_KM		6371.0088	/* mean Earth radius */
#define GN_NAME_MAX		200		/* bytes in a name */
#define GN_ADMIN_MAX		40		/* bytes in an admin code */
#define GN_MAX_FEATURES		(32u * 1024 * 1024)
#define GN_POOL_MAX		(1024u * 1024 * 1024)
#define GN_LINE_MAX		(256 * 1024)	/* bytes in a dump line */
/* Feature classes: bit (c - 'A') for each letter; the default P S L T H. */
#define GN_CLASS(c)		(1u << ((c) - 'A'))
#define GN_CLASSES_ALL		"AHLPRSTUV"
#define GN_CLASSES_DEFAULT	(GN_CLASS('P') | GN_CLASS('S') | \
				 GN_CLASS('L') | GN_CLASS('T') | GN_CLASS('H'))

/* One line of a GeoNames dump, pointing into the line. */
struct gn_row {
	uint32_t	 id;
	int32_t		 lat_e7, lon_e7;	/* degrees * 1e7 */
	const char	*name;
	size_t		 name_len;
	const char	*cc;			/* country code */
	size_t		 cc_len;
	const char	*admin1;
	size_t		 admin1_len;
	char		 fclass;		/* '\0' when empty */
	char		 fcode[12];		/* NUL-ended */
};

enum gn_parse {
	GN_ROW_OK,	/* *row filled */
	GN_ROW_SKIP,	/* blank line, or a class not asked for */
	GN_ROW_BAD,	/* malformed: *why says how */
};

/* A feature as stored in the image. */
struct gn_feat {
	int32_t		 lat_e7, lon_e7;
	uint32_t	 id;
	uint32_t	 name;		/* offset in the pool */
	uint32_t	 vicinity;	/* offset in the pool */
	uint32_t	 type;		/* gn_types() index */
};

/* What the image was built from, to tell a stale index file. */
struct gn_source {
	uint64_t	 size;
	int64_t		 mtime_ns;
	uint32_t	 classes;
};

struct gn_index {
	const unsigned char	*base;
	size_t			 size;
	const uint32_t		*cells;
	const struct gn_feat	*feats;
	uint32_t		 nfeats;
	const char		*pool;
	uint32_t		 pool_size;
	struct gn_source	 source;
};

struct gn_hit {
	uint32_t	 feat;		/* index in feats */
	double		 km;
};

struct gn_builder;

/* Parse classes such as "P S L T H" or "PS" into a mask; -1 if a letter
 * is not a GeoNames class or none is given. */
int		 gn_classes_parse(const char *, uint32_t *mask);

/* Parse one dump line (without its newline; a trailing CR is allowed). */
enum gn_parse	 gn_parse_line(const char *line, size_t len, uint32_t classes,
		    struct gn_row *row, const char **why);

/* The type of a feature class and code (0 when unknown), and the legacy
 * types of a type as a NULL-ended list. */
uint32_t	 gn_type_of(char fclass, const char *fcode);
const char *const *gn_types(uint32_t type);

struct gn_builder *gn_builder_new(void);
void		 gn_builder_free(struct gn_builder *);
/* Add a feature; vicinity may be empty.  -1 when memory or a limit ran
 * out (the builder is then unusable). */
int		 gn_builder_add(struct gn_builder *, uint32_t id, int32_t lat_e7,
		    int32_t lon_e7, const char *name, size_t name_len,
		    const char *vicinity, size_t vicinity_len, uint32_t type);
/* Add a parsed dump row, vicinity "admin1, CC". */
int		 gn_builder_add_row(struct gn_builder *, const struct gn_row *);
uint32_t	 gn_builder_count(const struct gn_builder *);
/* Lay out the image (malloc'd into *image, *size); -1 out of memory. */
int		 gn_builder_finish(struct gn_builder *,
		    const struct gn_source *, unsigned char **image,
		    size_t *size);

/* Validate image and point ix into it (the image must outlive ix and be
 * 8-byte aligned); -1 with *why when it is not a valid index. */
int		 gn_index_open(struct gn_index *ix, const void *image,
		    size_t size, const char **why);

/* Up to max features within radius_km of lat, lon, nearest first (ties
 * by position in the image), into out; the number found. */
size_t		 gn_index_query(const struct gn_index *, double lat,
		    double lon, double radius_km, struct gn_hit *out,
		    size_t max);

const char	*gn_feat_name(const struct gn_index *, uint32_t);
const char	*gn_feat_vicinity(const struct gn_index *, uint32_t);

/* True when s[0..len) is valid UTF-8 without control characters. */
int		 gn_text_ok(const char *, size_t);

/* Great-circle distance in km between two points in degrees. */
double		 gn_haversine_km(double lat1, double lon1, double lat2,
		    double lon2);

#endif
