/*
 * geonames_index.c -- GeoNames dump lines, the compact grid image and
 * its nearest-first radius query.  Pure: memory in, memory out.
 *
 * Image layout (native byte order, every part 8-byte aligned):
 *   struct gn_header
 *   uint32_t cells[GN_ROWS * GN_COLS + 1]   first feature of each cell
 *   struct gn_feat feats[nfeats]            sorted by cell, stable
 *   char pool[pool_size]                    NUL-ended strings
 * The checksum covers everything after the header.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd/geonames_index.h"

#define GN_MAGIC	"HERDGNI1"
#define GN_VERSION	1
#define GN_ENDIAN	0x01020304u
#define GN_ROWS		360		/* 0.5 degree of latitude each */
#define GN_COLS		720		/* 0.5 degree of longitude each */
#define GN_NCELLS	(GN_ROWS * GN_COLS)
#define DEG		(M_PI / 180.0)

struct gn_header {
	char		 magic[8];	/* then no padding anywhere */
	uint32_t	 version;
	uint32_t	 endian;
	uint32_t	 rows, cols;
	uint32_t	 nfeats;
	uint32_t	 pool_size;
	uint64_t	 total_size;
	uint64_t	 checksum;
	struct gn_source source;
	uint32_t	 pad;
};

/* A query's centre and radius, with what every feature tested needs. */
struct gn_query {
	double		 lat, lon, radius_km;
	double		 dlat;		/* degrees of latitude reachable */
	double		 dlon;		/* ... of longitude (360: any) */
	double		 coslat;
	double		 amax;		/* haversine term at the radius, + margin */
};

struct gn_builder {
	struct gn_feat	*feats;
	uint32_t	 nfeats, capfeats;
	char		*pool;
	size_t		 pool_len, pool_cap;
	int		 failed;
};

/* Legacy types per feature code; index 0 is the default. */
struct type_map {
	char		 fclass;	/* '\0': any class */
	const char	*code;		/* prefix when it ends with '*' */
	const char	*types[4];
};

static const struct type_map type_map[] = {
	{ 0,   "",	{ "point_of_interest", NULL } },
	{ 'P', "*",	{ "locality", "political", NULL } },
	{ 'A', "ADM1*",	{ "administrative_area_level_1", "political", NULL } },
	{ 'A', "ADM2*",	{ "administrative_area_level_2", "political", NULL } },
	{ 'A', "PCL*",	{ "country", "political", NULL } },
	{ 'A', "*",	{ "political", NULL } },
	{ 'S', "MUS",	{ "museum", "point_of_interest", "establishment" } },
	{ 'S', "SCH*",	{ "school", "point_of_interest", "establishment" } },
	{ 'S', "UNIV",	{ "university", "point_of_interest", "establishment" } },
	{ 'S', "HSP*",	{ "hospital", "point_of_interest", "establishment" } },
	{ 'S', "AIR*",	{ "airport", "point_of_interest", "establishment" } },
	{ 'S', "CH",	{ "church", "point_of_interest", "establishment" } },
	{ 'S', "MSQE",	{ "mosque", "point_of_interest", "establishment" } },
	{ 'S', "SYG",	{ "synagogue", "point_of_interest", "establishment" } },
	{ 'S', "TMPL",	{ "place_of_worship", "point_of_interest",
			  "establishment" } },
	{ 'S', "LIBR",	{ "library", "point_of_interest", "establishment" } },
	{ 'S', "STDM",	{ "stadium", "point_of_interest", "establishment" } },
	{ 'S', "HTL",	{ "lodging", "point_of_interest", "establishment" } },
	{ 'S', "REST",	{ "restaurant", "point_of_interest", "establishment" } },
	{ 'S', "ZOO",	{ "zoo", "point_of_interest", "establishment" } },
	{ 'S', "MALL",	{ "shopping_mall", "point_of_interest",
			  "establishment" } },
	{ 'S', "BNK",	{ "bank", "point_of_interest", "establishment" } },
	{ 'S', "PO",	{ "post_office", "point_of_interest", "establishment" } },
	{ 'S', "PP",	{ "police", "point_of_interest", "establishment" } },
	{ 'S', "RSTN",	{ "train_station", "transit_station",
			  "point_of_interest" } },
	{ 'S', "BUSTN",	{ "bus_station", "transit_station",
			  "point_of_interest" } },
	{ 'S', "CMTY",	{ "cemetery", "point_of_interest", "establishment" } },
	{ 'S', "CSTL",	{ "tourist_attraction", "point_of_interest", NULL } },
	{ 'S', "MNMT",	{ "tourist_attraction", "point_of_interest", NULL } },
	{ 'S', "*",	{ "point_of_interest", "establishment", NULL } },
	{ 'L', "PRK",	{ "park", "point_of_interest", NULL } },
	{ 'L', "*",	{ "point_of_interest", NULL } },
	{ 'T', "*",	{ "natural_feature", NULL } },
	{ 'H', "*",	{ "natural_feature", NULL } },
	{ 'V', "*",	{ "natural_feature", NULL } },
	{ 'U', "*",	{ "natural_feature", NULL } },
	{ 'R', "*",	{ "route", NULL } },
};
#define NTYPES	(sizeof(type_map) / sizeof(type_map[0]))

static const char	*field(const char **, const char *, size_t *);
static int		 parse_coord(const char *, size_t, int, int32_t *);
static int		 parse_id(const char *, size_t, uint32_t *);
static uint32_t		 pool_add(struct gn_builder *, const char *, size_t);
static uint32_t		 cell_of(int32_t, int32_t);
static uint64_t		 checksum(const unsigned char *, size_t, uint64_t);
static uint64_t		 image_checksum(const struct gn_header *,
			    const unsigned char *, size_t);
static void		 consider(const struct gn_index *, uint32_t,
			    const struct gn_query *, struct gn_hit *, size_t,
			    size_t *);

/* --- classes and types ---------------------------------------------------- */

/* See geonames_index.h: letters, separated by blanks or commas. */
int
gn_classes_parse(const char *s, uint32_t *mask)
{
	uint32_t m = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == ',')
			continue;
		if (*s < 'A' || *s > 'Z' || strchr(GN_CLASSES_ALL, *s) == NULL)
			return -1;
		m |= GN_CLASS(*s);
	}
	if (m == 0)
		return -1;
	*mask = m;
	return 0;
}

/* The first entry of type_map matching fclass and fcode; 0 if none. */
uint32_t
gn_type_of(char fclass, const char *fcode)
{
	size_t i, n;
	const char *c;

	for (i = 1; i < NTYPES; i++) {
		if (type_map[i].fclass != fclass)
			continue;
		c = type_map[i].code;
		n = strlen(c);
		if (n > 0 && c[n - 1] == '*') {
			if (strncmp(fcode, c, n - 1) == 0)
				return (uint32_t)i;
		} else if (strcmp(fcode, c) == 0)
			return (uint32_t)i;
	}
	return 0;
}

/* The NULL-ended legacy types of type (the default when out of range). */
const char *const *
gn_types(uint32_t type)
{
	static const char *const none[] = { NULL };

	if (type >= NTYPES)
		return none;
	return type_map[type].types;
}

/* --- dump lines -------------------------------------------------------- */

/* The field at *p up to the next tab or end, advancing *p past the tab;
 * NULL when there is no field left. */
static const char *
field(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *t;

	if (s == NULL)
		return NULL;
	t = memchr(s, '\t', (size_t)(end - s));
	*len = (size_t)((t ? t : end) - s);
	*p = t ? t + 1 : NULL;
	return s;
}

/* A geonameid: 1..4294967295 in decimal, no sign, no leading zero. */
static int
parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/*
 * A coordinate: [-]D[.D...] with at most 3 integer digits, |value| <=
 * limit exactly; degrees * 1e7, rounded half away from zero at the 8th
 * decimal.
 */
static int
parse_coord(const char *s, size_t len, int limit, int32_t *out)
{
	int64_t ip = 0, fp = 0;
	size_t i = 0, nint = 0, nfrac = 0;
	int neg = 0, round = 0, beyond = 0;

	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nint++)
		if (nint < 3)
			ip = ip * 10 + (s[i] - '0');
	if (nint == 0 || nint > 3)
		return -1;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
			if (nfrac < 7)
				fp = fp * 10 + (s[i] - '0');
			else if (nfrac == 7)
				round = s[i] >= '5';
			beyond |= nfrac >= 7 && s[i] != '0';
		}
		if (nfrac == 0)
			return -1;
	}
	if (i != len)
		return -1;
	for (; nfrac < 7; nfrac++)
		fp *= 10;
	fp = ip * 10000000 + fp;
	if (fp > (int64_t)limit * 10000000 ||
	    (fp == (int64_t)limit * 10000000 && beyond))
		return -1;
	fp += round;
	*out = (int32_t)(neg ? -fp : fp);
	return 0;
}

/* True when s[0..len) is valid UTF-8 with no control character. */
int
gn_text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t c;

	while (i < len) {
		c = p[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, c &= 0x07;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong, surrogate or beyond U+10FFFF. */
		if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
		    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * Parse a GeoNames dump line: 19 tab-separated fields, of which the id,
 * name, coordinates, feature class and code, country code and admin1
 * code are checked and kept.  A class not in classes is skipped.
 */
enum gn_parse
gn_parse_line(const char *line, size_t len, uint32_t classes,
    struct gn_row *row, const char **why)
{
	const char *end, *p = line, *f[19];
	size_t flen[19];
	int i;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return GN_ROW_SKIP;
	end = line + len;
	for (i = 0; i < 19; i++)
		if ((f[i] = field(&p, end, &flen[i])) == NULL) {
			*why = "fewer than 19 tab-separated fields";
			return GN_ROW_BAD;
		}
	if (p != NULL) {
		*why = "more than 19 tab-separated fields";
		return GN_ROW_BAD;
	}
	memset(row, 0, sizeof(*row));
	if (parse_id(f[0], flen[0], &row->id) == -1) {
		*why = "bad geonameid (expected 1..4294967295)";
		return GN_ROW_BAD;
	}
	if (flen[1] == 0 || flen[1] > GN_NAME_MAX || !gn_text_ok(f[1], flen[1])) {
		*why = "bad name (expected 1..200 bytes of UTF-8 text)";
		return GN_ROW_BAD;
	}
	if (parse_coord(f[4], flen[4], 90, &row->lat_e7) == -1 ||
	    parse_coord(f[5], flen[5], 180, &row->lon_e7) == -1) {
		*why = "bad latitude or longitude (expected decimal degrees)";
		return GN_ROW_BAD;
	}
	if (flen[6] > 1 || (flen[6] == 1 && (f[6][0] < 'A' || f[6][0] > 'Z')) ||
	    flen[7] >= sizeof(row->fcode) || !gn_text_ok(f[7], flen[7])) {
		*why = "bad feature class or code";
		return GN_ROW_BAD;
	}
	if (flen[8] > 3 || !gn_text_ok(f[8], flen[8]) ||
	    flen[10] > GN_ADMIN_MAX || !gn_text_ok(f[10], flen[10])) {
		*why = "bad country or admin1 code";
		return GN_ROW_BAD;
	}
	row->fclass = flen[6] ? f[6][0] : '\0';
	if (row->fclass == '\0' || (GN_CLASS(row->fclass) & classes) == 0)
		return GN_ROW_SKIP;
	memcpy(row->fcode, f[7], flen[7]);
	row->name = f[1];
	row->name_len = flen[1];
	row->cc = f[8];
	row->cc_len = flen[8];
	row->admin1 = f[10];
	row->admin1_len = flen[10];
	return GN_ROW_OK;
}

/* --- builder ------------------------------------------------------------ */

/* A new, empty builder; NULL out of memory. */
struct gn_builder *
gn_builder_new(void)
{
	struct gn_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	/* Offset 0 is the empty string. */
	if ((b->pool = malloc(4096)) == NULL) {
		free(b);
		return NULL;
	}
	b->pool_cap = 4096;
	b->pool[0] = '\0';
	b->pool_len = 1;
	return b;
}

/* Free b. */
void
gn_builder_free(struct gn_builder *b)
{
	if (b == NULL)
		return;
	free(b->feats);
	free(b->pool);
	free(b);
}

/* The features added so far. */
uint32_t
gn_builder_count(const struct gn_builder *b)
{
	return b->nfeats;
}

/* Append s[0..len) and a NUL to the pool; its offset, 0 for the empty
 * string, or UINT32_MAX when out of room. */
static uint32_t
pool_add(struct gn_builder *b, const char *s, size_t len)
{
	size_t cap;
	uint32_t off;
	char *n;

	if (len == 0)
		return 0;
	if (b->pool_len + len + 1 > GN_POOL_MAX)
		return UINT32_MAX;
	if (b->pool_len + len + 1 > b->pool_cap) {
		cap = b->pool_cap;
		while (cap < b->pool_len + len + 1)
			cap *= 2;
		if ((n = realloc(b->pool, cap)) == NULL)
			return UINT32_MAX;
		b->pool = n;
		b->pool_cap = cap;
	}
	off = (uint32_t)b->pool_len;
	memcpy(b->pool + b->pool_len, s, len);
	b->pool[b->pool_len + len] = '\0';
	b->pool_len += len + 1;
	return off;
}

/* See geonames_index.h. */
int
gn_builder_add(struct gn_builder *b, uint32_t id, int32_t lat_e7,
    int32_t lon_e7, const char *name, size_t name_len, const char *vicinity,
    size_t vicinity_len, uint32_t type)
{
	struct gn_feat *f;
	uint32_t cap;

	if (b->failed || b->nfeats >= GN_MAX_FEATURES ||
	    memchr(name, '\0', name_len) != NULL ||
	    memchr(vicinity, '\0', vicinity_len) != NULL) {
		b->failed = 1;
		return -1;
	}
	if (b->nfeats == b->capfeats) {
		cap = b->capfeats ? b->capfeats * 2 : 1024;
		if ((f = realloc(b->feats, cap * sizeof(*f))) == NULL) {
			b->failed = 1;
			return -1;
		}
		b->feats = f;
		b->capfeats = cap;
	}
	f = &b->feats[b->nfeats];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->lat_e7 = lat_e7;
	f->lon_e7 = lon_e7;
	f->type = type < NTYPES ? type : 0;
	if ((f->name = pool_add(b, name, name_len)) == UINT32_MAX ||
	    (f->vicinity = pool_add(b, vicinity, vicinity_len)) == UINT32_MAX) {
		b->failed = 1;
		return -1;
	}
	b->nfeats++;
	return 0;
}

/* See geonames_index.h: vicinity "admin1, CC", or whichever is set. */
int
gn_builder_add_row(struct gn_builder *b, const struct gn_row *r)
{
	char vic[GN_ADMIN_MAX + 2 + 4];
	size_t n = 0;

	memcpy(vic, r->admin1, r->admin1_len);
	n = r->admin1_len;
	if (n > 0 && r->cc_len > 0) {
		memcpy(vic + n, ", ", 2);
		n += 2;
	}
	memcpy(vic + n, r->cc, r->cc_len);
	n += r->cc_len;
	return gn_builder_add(b, r->id, r->lat_e7, r->lon_e7, r->name,
	    r->name_len, vic, n, gn_type_of(r->fclass, r->fcode));
}

/* The grid cell of a point (the poles and +180 fold into the last). */
static uint32_t
cell_of(int32_t lat_e7, int32_t lon_e7)
{
	int64_t r = ((int64_t)lat_e7 + 900000000) / 5000000;
	int64_t c = ((int64_t)lon_e7 + 1800000000) / 5000000;

	if (r >= GN_ROWS)
		r = GN_ROWS - 1;
	if (c >= GN_COLS)
		c = GN_COLS - 1;
	return (uint32_t)(r * GN_COLS + c);
}

/* 64-bit FNV-1a from h over 8-byte words (the tail byte by byte). */
static uint64_t
checksum(const unsigned char *p, size_t len, uint64_t h)
{
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The checksum of an image: its header (checksum field zero), then the
 * body after it. */
static uint64_t
image_checksum(const struct gn_header *hdr, const unsigned char *body,
    size_t len)
{
	struct gn_header h = *hdr;

	h.checksum = 0;
	return checksum(body, len, checksum((const unsigned char *)&h,
	    sizeof(h), 0xcbf29ce484222325ull));
}

/* See geonames_index.h: counting sort of the features by cell. */
int
gn_builder_finish(struct gn_builder *b, const struct gn_source *src,
    unsigned char **image, size_t *size)
{
	struct gn_header h;
	size_t cells_sz = (GN_NCELLS + 1) * sizeof(uint32_t);
	size_t feats_sz = (size_t)b->nfeats * sizeof(struct gn_feat);
	size_t pool_sz = (b->pool_len + 7) & ~(size_t)7;
	size_t total = sizeof(h) + cells_sz + feats_sz + pool_sz, i;
	unsigned char *img;
	uint32_t *cells, *fill, c;
	struct gn_feat *feats;

	if (b->failed || (img = calloc(1, total)) == NULL)
		return -1;
	if ((fill = calloc(GN_NCELLS, sizeof(*fill))) == NULL) {
		free(img);
		return -1;
	}
	cells = (uint32_t *)(img + sizeof(h));
	feats = (struct gn_feat *)(img + sizeof(h) + cells_sz);
	for (i = 0; i < b->nfeats; i++)
		cells[cell_of(b->feats[i].lat_e7, b->feats[i].lon_e7) + 1]++;
	for (c = 0; c < GN_NCELLS; c++)
		cells[c + 1] += cells[c];
	for (i = 0; i < b->nfeats; i++) {
		c = cell_of(b->feats[i].lat_e7, b->feats[i].lon_e7);
		feats[cells[c] + fill[c]++] = b->feats[i];
	}
	free(fill);
	memcpy(img + sizeof(h) + cells_sz + feats_sz, b->pool, b->pool_len);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, GN_MAGIC, 8);
	h.version = GN_VERSION;
	h.endian = GN_ENDIAN;
	h.rows = GN_ROWS;
	h.cols = GN_COLS;
	h.nfeats = b->nfeats;
	h.pool_size = (uint32_t)pool_sz;
	h.total_size = total;
	if (src != NULL)
		h.source = *src;
	h.checksum = image_checksum(&h, img + sizeof(h), total - sizeof(h));
	memcpy(img, &h, sizeof(h));
	*image = img;
	*size = total;
	return 0;
}

/* --- the index ------------------------------------------------------------ */

/* See geonames_index.h: every size, offset and the checksum checked. */
int
gn_index_open(struct gn_index *ix, const void *image, size_t size,
    const char **why)
{
	const unsigned char *p = image;
	struct gn_header h;
	size_t cells_sz = (GN_NCELLS + 1) * sizeof(uint32_t), feats_sz;
	const uint32_t *cells;
	const struct gn_feat *feats;
	const char *pool;
	uint32_t i;

	*why = "truncated header";
	if (size < sizeof(h))
		return -1;
	memcpy(&h, p, sizeof(h));
	*why = "not a herd GeoNames index of this version and byte order";
	if (memcmp(h.magic, GN_MAGIC, 8) != 0 || h.version != GN_VERSION ||
	    h.endian != GN_ENDIAN || h.rows != GN_ROWS || h.cols != GN_COLS)
		return -1;
	*why = "sizes do not match the file";
	feats_sz = (size_t)h.nfeats * sizeof(struct gn_feat);
	if (h.nfeats > GN_MAX_FEATURES || h.pool_size == 0 ||
	    h.pool_size > GN_POOL_MAX + 8 || (h.pool_size & 7) != 0 ||
	    h.total_size != size ||
	    size != sizeof(h) + cells_sz + feats_sz + h.pool_size)
		return -1;
	*why = "checksum mismatch";
	if (image_checksum(&h, p + sizeof(h), size - sizeof(h)) != h.checksum)
		return -1;
	cells = (const uint32_t *)(const void *)(p + sizeof(h));
	feats = (const struct gn_feat *)(const void *)(p + sizeof(h) +
	    cells_sz);
	pool = (const char *)(p + sizeof(h) + cells_sz + feats_sz);
	*why = "bad cell table";
	if (cells[0] != 0 || cells[GN_NCELLS] != h.nfeats)
		return -1;
	for (i = 0; i < GN_NCELLS; i++)
		if (cells[i] > cells[i + 1])
			return -1;
	*why = "bad string pool";
	if (pool[0] != '\0' || pool[h.pool_size - 1] != '\0')
		return -1;
	*why = "bad feature";
	for (i = 0; i < h.nfeats; i++)
		if (feats[i].name >= h.pool_size ||
		    feats[i].vicinity >= h.pool_size ||
		    feats[i].type >= NTYPES ||
		    feats[i].lat_e7 < -900000000 || feats[i].lat_e7 > 900000000 ||
		    feats[i].lon_e7 < -1800000000 ||
		    feats[i].lon_e7 > 1800000000)
			return -1;
	ix->base = p;
	ix->size = size;
	ix->cells = cells;
	ix->feats = feats;
	ix->nfeats = h.nfeats;
	ix->pool = pool;
	ix->pool_size = h.pool_size;
	ix->source = h.source;
	*why = NULL;
	return 0;
}

/* See geonames_index.h. */
const char *
gn_feat_name(const struct gn_index *ix, uint32_t i)
{
	return ix->pool + ix->feats[i].name;
}

/* See geonames_index.h. */
const char *
gn_feat_vicinity(const struct gn_index *ix, uint32_t i)
{
	return ix->pool + ix->feats[i].vicinity;
}

/* See geonames_index.h: the haversine formula, stable for small and
 * antipodal distances. */
double
gn_haversine_km(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = (lat2 - lat1) * DEG, dlon = (lon2 - lon1) * DEG;
	double a = sin(dlat / 2) * sin(dlat / 2) +
	    cos(lat1 * DEG) * cos(lat2 * DEG) * sin(dlon / 2) * sin(dlon / 2);

	if (a > 1.0)
		a = 1.0;
	return 2.0 * GN_EARTH_KM * atan2(sqrt(a), sqrt(1.0 - a));
}

/* Keep feature i in out (sorted, at most max, *n so far) when within
 * the radius of q.  out[].km holds the haversine term a for now (it
 * grows with the distance); gn_index_query() turns it into km. */
static void
consider(const struct gn_index *ix, uint32_t i, const struct gn_query *q,
    struct gn_hit *out, size_t max, size_t *n)
{
	const struct gn_feat *f = &ix->feats[i];
	double flat = f->lat_e7 / 1e7, flon = f->lon_e7 / 1e7, a, sl, so, km;
	double dl = fabs(flon - q->lon);
	size_t k;

	if (dl > 180.0)
		dl = 360.0 - dl;
	if (fabs(flat - q->lat) > q->dlat || dl > q->dlon)
		return;
	sl = sin((flat - q->lat) * DEG / 2);
	so = sin((flon - q->lon) * DEG / 2);
	a = sl * sl + q->coslat * cos(flat * DEG) * so * so;
	if (a > q->amax)
		return;
	km = a;
	if (*n == max && (km > out[max - 1].km ||
	    (km == out[max - 1].km && i > out[max - 1].feat)))
		return;
	k = *n < max ? (*n)++ : max - 1;
	/* Insertion: nearer first, then by position in the image. */
	while (k > 0 && (out[k - 1].km > km ||
	    (out[k - 1].km == km && out[k - 1].feat > i))) {
		out[k] = out[k - 1];
		k--;
	}
	out[k].feat = i;
	out[k].km = km;
}

/*
 * See geonames_index.h.  The cells scanned are the rows the radius can
 * reach and, in them, the columns of the cap's longitude extent
 * (asin(sin r / cos lat)), wrapping at +-180; all columns when the cap
 * holds a pole.
 */
size_t
gn_index_query(const struct gn_index *ix, double lat, double lon,
    double radius_km, struct gn_hit *out, size_t max)
{
	double ang = radius_km / GN_EARTH_KM, dlat, dlon, s, h;
	struct gn_query q;
	long r, r0, r1, c, c0, c1, cc;
	uint32_t i, cell;
	size_t n = 0;

	if (max == 0 || ix->nfeats == 0 || !(radius_km >= 0) ||
	    !isfinite(lat) || !isfinite(lon))
		return 0;
	if (ang > M_PI)
		ang = M_PI;
	/* A margin for rounding the stored coordinates. */
	dlat = ang / DEG + 1e-6;
	r0 = (long)floor((lat - dlat + 90.0) * 2.0);
	r1 = (long)floor((lat + dlat + 90.0) * 2.0);
	if (r0 < 0)
		r0 = 0;
	if (r1 >= GN_ROWS)
		r1 = GN_ROWS - 1;
	s = cos(lat * DEG);
	h = sin(ang / 2);
	q.lat = lat;
	q.lon = lon;
	q.radius_km = radius_km;
	q.dlat = dlat;
	q.coslat = s;
	q.amax = h * h * (1 + 1e-9) + 1e-15;
	if (lat + dlat >= 90.0 || lat - dlat <= -90.0 || s <= 0 ||
	    sin(ang) >= s) {
		c0 = 0;
		c1 = GN_COLS - 1;
		q.dlon = 360.0;
	} else {
		dlon = asin(sin(ang) / s) / DEG + 1e-6;
		q.dlon = dlon;
		c0 = (long)floor((lon - dlon + 180.0) * 2.0);
		c1 = (long)floor((lon + dlon + 180.0) * 2.0);
		if (c1 - c0 >= GN_COLS - 1) {
			c0 = 0;
			c1 = GN_COLS - 1;
		}
	}
	for (r = r0; r <= r1; r++)
		for (c = c0; c <= c1; c++) {
			cc = ((c % GN_COLS) + GN_COLS) % GN_COLS;
			cell = (uint32_t)(r * GN_COLS + cc);
			for (i = ix->cells[cell]; i < ix->cells[cell + 1]; i++)
				consider(ix, i, &q, out, max, &n);
		}
	/* From haversine terms to km; the margin of amax dropped. */
	for (i = 0; i < n; i++) {
		h = out[i].km;
		out[i].km = 2.0 * GN_EARTH_KM * atan2(sqrt(h),
		    sqrt(h < 1.0 ? 1.0 - h : 0));
		if (out[i].km > radius_km)
			break;
	}
	return i;
}
