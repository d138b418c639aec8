/*
 * places_geonames.c -- the GeoNames provider: loading its data (the
 * built-in libgeonames set, or a GeoNames dump) into a gn_index, and the
 * legacy Nearby Search JSON of a query.  Queries run in the loop with no
 * I/O; loading happens at start and on a reload that changes the data.
 *
 * A dump is parsed once into an index file next to it, FILE.herd-index
 * (written to a temporary file and renamed, under an flock on
 * FILE.herd-index.lock, so the nodes of one machine build it once), and
 * every node maps that file read-only: the pages are shared.  An index
 * file is validated as hostile input, and rebuilt when the dump's size,
 * modification time or the classes asked for differ.  When no index file
 * can be written, the node keeps a private copy in memory.  The built-in
 * libgeonames set is shared the same way, in the directory given to
 * places_geonames_share_dir() (the data directory's root: every server
 * of the machine under herdctl), as geonames-builtin.herd-index.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <geonames.h>

#include "herd/geonames_index.h"
#include "herd/log.h"
#include "herd/places_json.h"
#include "places_geonames.h"
#include "places_geonames_int.h"

#define INDEX_SUFFIX	".herd-index"
/* The built-in set's shared index, in the directory of
 * places_geonames_share_dir(); its classes field tells it from a dump's. */
#define BUILTIN_INDEX	"geonames-builtin.herd-index"
#define BUILTIN_CLASSES	0xffffffffU
#define READ_CHUNK	(1024 * 1024)
#define HITS_MAX	64
#define S(lit)		(lit), (sizeof(lit) - 1)

/* A growing JSON text. */
struct jbuf {
	char		*p;
	size_t		 len, cap;
	int		 oom;
};

/* The state of reading one dump. */
struct dump_reader {
	const char		*path;
	uint32_t		 mask;
	struct gn_builder	*b;
	int			 fd;
	char			*buf;
	unsigned long		 lineno, bad;
	int			 skipping;	/* in a line too long */
};

struct places_geonames {
	struct gn_index	 ix;
	unsigned char	*image;		/* malloc'd, or NULL */
	void		*map;		/* mmap'd, or NULL */
	size_t		 map_len;
	char		 what[2 * 4096 + 64];
};

static char	share_dir[4000];	/* where the built-in set is shared */

static struct places_geonames *gn_new(void);
static int	load_builtin(struct gn_builder *);
static int	load_dump(const char *, uint32_t, struct gn_builder *);
static int	dump_line(struct dump_reader *, const char *, size_t, int);
static int	open_index_file(struct places_geonames *, const char *,
		    const struct gn_source *);
static int	write_index_file(const char *, const unsigned char *, size_t);
static int	use_image(struct places_geonames *, unsigned char *, size_t);
static void	jb_put(struct jbuf *, const char *, size_t);
static void	jb_str(struct jbuf *, const char *);
static void	jb_coord(struct jbuf *, int32_t);
static void	result_of(struct jbuf *, const struct places_geonames *,
		    uint32_t);

/* An empty provider; NULL out of memory. */
static struct places_geonames *
gn_new(void)
{
	return calloc(1, sizeof(struct places_geonames));
}

/* See places_geonames.h. */
void
places_geonames_free(struct places_geonames *g)
{
	if (g == NULL)
		return;
	if (g->map != NULL)
		munmap(g->map, g->map_len);
	free(g->image);
	free(g);
}

/* See places_geonames.h. */
uint32_t
places_geonames_count(const struct places_geonames *g)
{
	return g->ix.nfeats;
}

/* See places_geonames.h. */
const char *
places_geonames_what(const struct places_geonames *g)
{
	return g->what;
}

/* Point g at the malloc'd image (taken over); -1 (logged) if invalid. */
static int
use_image(struct places_geonames *g, unsigned char *image, size_t size)
{
	const char *why;

	if (gn_index_open(&g->ix, image, size, &why) == -1) {
		gn_log(0, 0, "places: geonames: the index built is invalid: %s",
		    why);
		free(image);
		return -1;
	}
	g->image = image;
	return 0;
}

/*
 * Copy libgeonames' cities into b: the GeoNames cities of at least
 * 15,000 people, vicinity "state, country", place_id their position in
 * the library's list.  -1 (logged) on failure.
 */
static int
load_builtin(struct gn_builder *b)
{
	GeonamesCity *c;
	const char *name, *state, *country;
	char vic[512];
	double lat, lon;
	gint i, n = geonames_get_n_cities();
	uint32_t type = gn_type_of('P', "PPL");
	size_t vlen;
	int r, skipped = 0;

	for (i = 0; i < n; i++) {
		if (gn_canceled())
			return -1;
		if ((c = geonames_get_city(i)) == NULL) {
			skipped++;
			continue;
		}
		name = geonames_city_get_name(c);
		state = geonames_city_get_state(c);
		country = geonames_city_get_country(c);
		lat = geonames_city_get_latitude(c);
		lon = geonames_city_get_longitude(c);
		r = snprintf(vic, sizeof(vic), "%s%s%s", state ? state : "",
		    state && *state && country && *country ? ", " : "",
		    country ? country : "");
		vlen = r < 0 ? 0 : (size_t)r;
		if (name == NULL || *name == '\0' || strlen(name) > GN_NAME_MAX ||
		    !gn_text_ok(name, strlen(name)) || vlen >= sizeof(vic) ||
		    !gn_text_ok(vic, vlen) || !(fabs(lat) <= 90.0) ||
		    !(fabs(lon) <= 180.0)) {
			skipped++;
			geonames_city_free(c);
			continue;
		}
		r = gn_builder_add(b, (uint32_t)i, (int32_t)lrint(lat * 1e7),
		    (int32_t)lrint(lon * 1e7), name, strlen(name), vic, vlen,
		    type);
		geonames_city_free(c);
		if (r == -1) {
			gn_log(0, 0, "places: geonames: out of memory");
			return -1;
		}
	}
	if (skipped > 0)
		gn_log(0, 0, "places: geonames: %d built-in cities skipped (no"
		    " name, or bad text or coordinates)", skipped);
	return 0;
}

/*
 * Parse the dump at path into b, keeping the classes of mask; each
 * malformed line is logged once (the first PLACES_GEONAMES_BAD_LOGGED,
 * then a count) and skipped.  -1 (logged) when the file cannot be read
 * or memory runs out.
 */
static int
load_dump(const char *path, uint32_t mask, struct gn_builder *b)
{
	struct dump_reader d;
	char *p, *nl;
	size_t have = 0, avail, len;
	ssize_t n;
	int eof = 0, ret = -1;

	memset(&d, 0, sizeof(d));
	d.path = path;
	d.mask = mask;
	d.b = b;
	if ((d.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		gn_log(0, 1, "places: geonames: %s", path);
		return -1;
	}
	if ((d.buf = malloc(GN_LINE_MAX + READ_CHUNK)) == NULL) {
		gn_log(0, 0, "places: geonames: out of memory");
		goto out;
	}
	/* A line longer than GN_LINE_MAX is handed over in pieces. */
	while (!eof || have > 0) {
		if (gn_canceled())
			goto out;
		if (!eof) {
			if ((n = read(d.fd, d.buf + have, GN_LINE_MAX +
			    READ_CHUNK - have)) == -1) {
				if (errno == EINTR)
					continue;
				gn_log(0, 1, "places: geonames: %s", path);
				goto out;
			}
			eof = n == 0;
			have += (size_t)n;
		}
		for (p = d.buf;; p += nl ? len + 1 : len) {
			avail = (size_t)(d.buf + have - p);
			if ((nl = memchr(p, '\n', avail)) != NULL)
				len = (size_t)(nl - p);
			else if ((eof && avail > 0) || avail >= GN_LINE_MAX)
				len = avail;
			else
				break;
			if (dump_line(&d, p, len, nl != NULL || eof) == -1)
				goto out;
		}
		have = (size_t)(d.buf + have - p);
		memmove(d.buf, p, have);
	}
	if (d.bad > PLACES_GEONAMES_BAD_LOGGED)
		gn_log(0, 0, "places: %s: %lu malformed lines skipped in all"
		    " (the first %d logged)", path, d.bad,
		    PLACES_GEONAMES_BAD_LOGGED);
	ret = 0;
out:
	free(d.buf);
	close(d.fd);
	return ret;
}

/*
 * One line (or piece of a line too long) of a dump; complete when its
 * end was seen.  -1 (logged) when memory or the feature limit runs out.
 */
static int
dump_line(struct dump_reader *d, const char *p, size_t len, int complete)
{
	struct gn_row row;
	const char *why = "line longer than 262144 bytes";
	enum gn_parse r = GN_ROW_BAD;

	if (d->skipping) {	/* the rest of a line too long */
		d->skipping = !complete;
		return 0;
	}
	d->lineno++;
	if (!complete || len >= GN_LINE_MAX)
		d->skipping = !complete;
	else
		r = gn_parse_line(p, len, d->mask, &row, &why);
	if (r == GN_ROW_BAD) {
		if (++d->bad <= PLACES_GEONAMES_BAD_LOGGED)
			gn_log(0, 0, "places: %s:%lu: %s; line skipped", d->path,
			    d->lineno, why);
	} else if (r == GN_ROW_OK && gn_builder_add_row(d->b, &row) == -1) {
		gn_log(0, 0, "places: geonames: %s: out of memory or more than"
		    " %u features", d->path, GN_MAX_FEATURES);
		return -1;
	}
	return 0;
}

/* Map the index file path when it is valid and built from src; 0 if so,
 * -1 (the reason logged at info) otherwise. */
static int
open_index_file(struct places_geonames *g, const char *path,
    const struct gn_source *src)
{
	struct stat st;
	const char *why = NULL;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	if (gn_index_open(&g->ix, map, (size_t)st.st_size, &why) == -1 ||
	    (why = "built from another version of the data",
	    g->ix.source.size != src->size ||
	    g->ix.source.mtime_ns != src->mtime_ns ||
	    g->ix.source.classes != src->classes)) {
		gn_log(1, 0, "places: geonames: %s: %s; rebuilding it", path,
		    why);
		munmap(map, (size_t)st.st_size);
		memset(&g->ix, 0, sizeof(g->ix));
		return -1;
	}
	g->map = map;
	g->map_len = (size_t)st.st_size;
	return 0;
}

/* Write image to path through a temporary file and a rename; -1
 * (logged) on failure. */
static int
write_index_file(const char *path, const unsigned char *image, size_t size)
{
	char tmp[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		gn_log(0, 1, "places: geonames: %s", tmp);
		return -1;
	}
	while (off < size) {
		if ((n = write(fd, image + off, size - off)) == -1) {
			if (errno == EINTR)
				continue;
			gn_log(0, 1, "places: geonames: %s", tmp);
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		gn_log(0, 1, "places: geonames: %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* See places_geonames.h. */
void
places_geonames_share_dir(const char *dir)
{
	if (dir == NULL || snprintf(share_dir, sizeof(share_dir), "%s", dir) >=
	    (int)sizeof(share_dir))
		share_dir[0] = '\0';
}

/*
 * What identifies the built-in set's data without loading it (asking
 * libgeonames anything makes it load its whole set, 60 ms and 8 MB per
 * server): the size and modification time of the library that holds it,
 * which a libgeonames upgrade changes; -1 when it cannot be found.
 */
static int
builtin_source(struct gn_source *src)
{
	Dl_info info;
	struct stat st;
	gint (*probe)(void) = geonames_get_n_cities;

	if (dladdr(*(void **)&probe, &info) == 0 || info.dli_fname == NULL ||
	    stat(info.dli_fname, &st) == -1)
		return -1;
	src->size = (uint64_t)st.st_size;
	src->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec;
	src->classes = BUILTIN_CLASSES;
	return 0;
}

/*
 * Fill g from the index file idx when it is valid and built from src;
 * else load the data (file, or the built-in set when NULL) into b and
 * write idx, under an flock on idx.lock so that the nodes of one machine
 * build it once, and map it; else keep a private copy.  -1 (logged) when
 * the data cannot be loaded.
 */
static int
load_shared(struct places_geonames *g, struct gn_builder *b, const char *idx,
    const struct gn_source *src, const char *file, uint32_t classes)
{
	const char *what = file ? file : "the built-in set";
	unsigned char *image;
	size_t size;
	char lock[4200];
	int lockfd = -1, r = -1;

	snprintf(lock, sizeof(lock), "%s.lock", idx);
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) != -1)
		while (flock(lockfd, LOCK_EX) == -1 && errno == EINTR)
			;
	if (open_index_file(g, idx, src) == 0) {
		snprintf(g->what, sizeof(g->what), "%s (index %s, shared)",
		    what, idx);
		r = 0;
		goto done;
	}
	if ((file ? load_dump(file, classes, b) : load_builtin(b)) == -1 ||
	    gn_canceled() || gn_builder_finish(b, src, &image, &size) == -1) {
		gn_log(0, 0, "places: geonames: %s: not loaded", what);
		goto done;
	}
	if (gn_canceled()) {
		free(image);
		goto done;
	}
	if (lockfd != -1 && write_index_file(idx, image, size) == 0 &&
	    open_index_file(g, idx, src) == 0) {
		free(image);
		snprintf(g->what, sizeof(g->what), "%s (index %s built,"
		    " shared)", what, idx);
		r = 0;
		goto done;
	}
	gn_log(0, 0, "places: geonames: no index file %s: keeping a private"
	    " copy in memory", idx);
	if (use_image(g, image, size) == 0) {
		snprintf(g->what, sizeof(g->what), "%s (in memory)", what);
		r = 0;
	}
done:
	if (lockfd != -1)
		close(lockfd);
	return r;
}

/* See places_geonames.h. */
struct places_geonames *
places_geonames_load(const char *file, uint32_t classes)
{
	struct places_geonames *g;
	struct gn_builder *b = NULL;
	struct gn_source src;
	struct stat st;
	unsigned char *image;
	size_t size;
	char idx[4096];

	if ((g = gn_new()) == NULL || (b = gn_builder_new()) == NULL) {
		gn_log(0, 0, "places: geonames: out of memory");
		goto fail;
	}
	memset(&src, 0, sizeof(src));
	if (file == NULL && (share_dir[0] == '\0' || builtin_source(&src) ==
	    -1 || snprintf(idx, sizeof(idx), "%s/" BUILTIN_INDEX, share_dir) >=
	    (int)sizeof(idx))) {
		/* No directory to share it in: a private copy. */
		snprintf(g->what, sizeof(g->what), "the built-in set");
		if (load_builtin(b) == -1 ||
		    gn_builder_finish(b, &src, &image, &size) == -1 ||
		    use_image(g, image, size) == -1)
			goto fail;
		goto done;
	}
	if (file != NULL) {
		if (stat(file, &st) == -1) {
			gn_log(0, 1, "places: geonames: %s", file);
			goto fail;
		}
		src.size = (uint64_t)st.st_size;
		src.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		src.classes = classes;
		if (snprintf(idx, sizeof(idx), "%s" INDEX_SUFFIX, file) >=
		    (int)sizeof(idx)) {
			gn_log(0, 0, "places: geonames: %s: path too long",
			    file);
			goto fail;
		}
	}
	if (load_shared(g, b, idx, &src, file, classes) == -1)
		goto fail;
done:
	gn_builder_free(b);
	malloc_trim(0);		/* the builder's memory, back */
	return g;
fail:
	gn_builder_free(b);
	places_geonames_free(g);
	return NULL;
}

/* Append len bytes of p to j (j->oom set when memory runs out). */
static void
jb_put(struct jbuf *j, const char *p, size_t len)
{
	size_t cap;
	char *n;

	if (j->oom)
		return;
	if (j->len + len + 1 > j->cap) {
		cap = j->cap ? j->cap : 8192;
		while (cap < j->len + len + 1)
			cap *= 2;
		if ((n = realloc(j->p, cap)) == NULL) {
			j->oom = 1;
			return;
		}
		j->p = n;
		j->cap = cap;
	}
	memcpy(j->p + j->len, p, len);
	j->len += len;
	j->p[j->len] = '\0';
}

/* Append s as a JSON string ("\"" and "\\" escaped, controls as
 * \u00XX; the text is valid UTF-8, checked at load). */
static void
jb_str(struct jbuf *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;
	char esc[8];

	jb_put(j, "\"", 1);
	for (;;) {
		for (run = p; *p >= 0x20 && *p != '"' && *p != '\\'; p++)
			;
		jb_put(j, (const char *)run, (size_t)(p - run));
		if (*p == '\0')
			break;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			jb_put(j, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			jb_put(j, esc, 6);
		}
		p++;
	}
	jb_put(j, "\"", 1);
}

/* Append degrees * 1e7 as a JSON number, exactly: "-118.40036". */
static void
jb_coord(struct jbuf *j, int32_t e7)
{
	char buf[24];
	int64_t v = e7 < 0 ? -(int64_t)e7 : e7;
	int n, frac = (int)(v % 10000000);

	n = snprintf(buf, sizeof(buf), "%s%ld", e7 < 0 ? "-" : "",
	    (long)(v / 10000000));
	if (frac != 0) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%07d", frac);
		while (buf[n - 1] == '0')
			n--;
	}
	jb_put(j, buf, (size_t)n);
}

/* Append the legacy result object of feature i to j. */
static void
result_of(struct jbuf *j, const struct places_geonames *g, uint32_t i)
{
	const struct gn_feat *f = &g->ix.feats[i];
	const char *const *t;
	char id[48];
	int n;

	/* Keys in the alphabetical order of Google's legacy answers. */
	jb_put(j, S("{\"geometry\":{\"location\":{\"lat\":"));
	jb_coord(j, f->lat_e7);
	jb_put(j, S(",\"lng\":"));
	jb_coord(j, f->lon_e7);
	jb_put(j, S("}},\"name\":"));
	jb_str(j, gn_feat_name(&g->ix, i));
	n = snprintf(id, sizeof(id), "\"geonames:%u\"", f->id);
	jb_put(j, S(",\"place_id\":"));
	jb_put(j, id, (size_t)n);
	jb_put(j, S(",\"reference\":"));
	jb_put(j, id, (size_t)n);
	jb_put(j, S(",\"types\":["));
	for (t = gn_types(f->type); *t != NULL; t++) {
		if (t != gn_types(f->type))
			jb_put(j, ",", 1);
		jb_str(j, *t);
	}
	jb_put(j, S("],\"vicinity\":"));
	jb_str(j, gn_feat_vicinity(&g->ix, i));
	jb_put(j, "}", 1);
}

/* See places_geonames.h: OK with the results nearest first, or
 * ZERO_RESULTS in the shape of every other empty answer. */
char *
places_geonames_answer(const struct places_geonames *g, double lat,
    double lon, double radius_km, int max)
{
	struct gn_hit hits[HITS_MAX];
	struct jbuf j;
	size_t n, i;

	if (max <= 0)
		max = 1;
	n = gn_index_query(&g->ix, lat, lon, radius_km, hits,
	    (size_t)max < HITS_MAX ? (size_t)max : HITS_MAX);
	if (n == 0)
		return places_json_error("ZERO_RESULTS", NULL);
	memset(&j, 0, sizeof(j));
	jb_put(&j, S("{\"html_attributions\":["));
	jb_str(&j, PLACES_GEONAMES_ATTRIBUTION);
	jb_put(&j, S("],\"results\":["));
	for (i = 0; i < n; i++) {
		if (i > 0)
			jb_put(&j, ",", 1);
		result_of(&j, g, hits[i].feat);
	}
	jb_put(&j, S("],\"status\":\"OK\"}"));
	if (j.oom) {
		free(j.p);
		return NULL;
	}
	return j.p;
}
