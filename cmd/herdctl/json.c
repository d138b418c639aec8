/*
 * json.c -- herdctl: typed members of an answer from the supervisor, which
 * is another process: trust nothing in it.
 */
#include <limits.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

/* o's string member key, or dflt when it is missing or not a string (the
 * answer comes from another process: trust nothing in it). */
const char *
json_str(const cJSON *o, const char *key, const char *dflt)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return v != NULL ? v : dflt;
}

/* o's number member key as an int, or -1 when missing or not a number. */
int
json_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < INT_MIN ||
	    v->valuedouble > INT_MAX)
		return -1;
	return (int)v->valuedouble;
}

/* Does o's array member key hold the string name? */
int
json_has(const cJSON *o, const char *key, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, key))
		if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0)
			return 1;
	return 0;
}
