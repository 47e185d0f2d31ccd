/*
 * load_json.c - the loader's JSON path, its errors and typed access to
 * cJSON items.
 *
 * Every part of the loader reads its piece of the document through these
 * helpers, so that a refused document always gets one message of the same
 * form, starting with the JSON path of the offending value. They are apart
 * from the parts so that each part reads as the format it checks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

void
path_set(loader *ld, size_t len)
{
	ld->path_len = len < PATH_SIZE ? len : PATH_SIZE - 1;
	ld->path[ld->path_len] = '\0';
}

/* Append ".key" (or "key" at the root); returns the length to restore. */
size_t
path_push_key(loader *ld, const char *key)
{
	size_t		saved = ld->path_len;
	int			n;

	n = snprintf(ld->path + ld->path_len, PATH_SIZE - ld->path_len,
				 saved == 0 ? "%s" : ".%s", key);
	if (n > 0)
		path_set(ld, ld->path_len + (size_t) n);
	return saved;
}

size_t
path_push_index(loader *ld, size_t index)
{
	size_t		saved = ld->path_len;
	int			n;

	n = snprintf(ld->path + ld->path_len, PATH_SIZE - ld->path_len, "[%zu]", index);
	if (n > 0)
		path_set(ld, ld->path_len + (size_t) n);
	return saved;
}

/* Record "<path>: <message>" as a bad-model error; returns false. */
bool
fail(loader *ld, const char *format,...)
{
	char		message[PREDICT_ERROR_SIZE];
	va_list		args;

	va_start(args, format);
	vsnprintf(message, sizeof(message), format, args);
	va_end(args);
	predict_set_error(ld->err, PREDICT_BAD_MODEL, "%s: %s",
					  ld->path_len ? ld->path : "(document)", message);
	return false;
}

bool
fail_limit(loader *ld, const char *what, size_t count, const char *limit_name, size_t limit)
{
	fail(ld, "%zu %s exceeds the limit %s = %zu", count, what, limit_name, limit);
	if (ld->err != NULL)
		ld->err->status = PREDICT_TOO_LARGE;
	return false;
}

bool
fail_memory(loader *ld)
{
	predict_set_error(ld->err, PREDICT_NO_MEMORY, "out of memory while loading the model");
	return false;
}

/* ---------- typed access to cJSON items ---------- */

const char *
json_type_name(const cJSON *item)
{
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsObject(item))
		return "an object";
	return "an invalid value";
}

#define MAX_OPEN_OBJECT_FIELDS 256

/*
 * Check an object's keys against the allowed ones (NULL-terminated list;
 * NULL list = any key) and refuse duplicates, which cJSON would keep
 * silently and Python's json would resolve differently.
 */
bool
check_object(loader *ld, const cJSON *object, const char *const *allowed)
{
	int			nfields = 0;

	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	for (const cJSON *child = object->child; child != NULL; child = child->next)
	{
		bool		known = (allowed == NULL);

		/* bounds the quadratic duplicate check of open objects (provenance) */
		if (++nfields > MAX_OPEN_OBJECT_FIELDS)
			return fail(ld, "more than %d fields", MAX_OPEN_OBJECT_FIELDS);

		for (const char *const *a = allowed; a != NULL && *a != NULL; a++)
			if (strcmp(*a, child->string) == 0)
				known = true;
		if (!known)
		{
			char		quoted[64];

			predict_quote(quoted, sizeof(quoted), child->string, strlen(child->string));
			return fail(ld, "unknown field %s", quoted);
		}
		for (const cJSON *other = object->child; other != child; other = other->next)
			if (strcmp(other->string, child->string) == 0)
			{
				char		quoted[64];

				predict_quote(quoted, sizeof(quoted), child->string, strlen(child->string));
				return fail(ld, "duplicate field %s", quoted);
			}
	}
	return true;
}

/* A member, or NULL (after setting an error if it is required). */
const cJSON *
member(loader *ld, const cJSON *object, const char *key, bool required)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	if (item == NULL && required)
		fail(ld, "missing field \"%s\"", key);
	return item;
}

bool
expect_finite(loader *ld, const cJSON *item, double *out)
{
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return fail(ld, "expected a finite number, got %s",
					cJSON_IsNumber(item) ? "an out-of-range number" : json_type_name(item));
	*out = item->valuedouble;
	return true;
}

/* A string of 1..max bytes, copied into the arena. */
bool
expect_string(loader *ld, const cJSON *item, size_t max, const char **out, uint32_t *length)
{
	size_t		len;
	char	   *copy;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return fail(ld, "expected a string, got %s", json_type_name(item));
	len = strlen(item->valuestring);
	if (len > max || len > ld->limits.max_string_bytes)
		return fail(ld, "string of %zu bytes is longer than %zu", len,
					max < ld->limits.max_string_bytes ? max : ld->limits.max_string_bytes);
	copy = arena_alloc(ld->model, len + 1);
	if (copy == NULL)
		return fail_memory(ld);
	memcpy(copy, item->valuestring, len);
	*out = copy;
	if (length != NULL)
		*length = (uint32_t) len;
	return true;
}

bool
expect_array(loader *ld, const cJSON *item, size_t min, size_t max,
			 const char *limit_name, size_t *count)
{
	size_t		n;

	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array, got %s", json_type_name(item));
	n = (size_t) cJSON_GetArraySize(item);
	if (n < min)
		return fail(ld, "expected at least %zu element%s, got %zu", min, min == 1 ? "" : "s", n);
	if (limit_name != NULL && n > max)
		return fail_limit(ld, "elements", n, limit_name, max);
	*count = n;
	return true;
}

/* One of the given names (NULL-terminated); returns its index or -1. */
int
expect_enum(loader *ld, const cJSON *item, const char *const *names)
{
	if (cJSON_IsString(item))
		for (int i = 0; names[i] != NULL; i++)
			if (strcmp(item->valuestring, names[i]) == 0)
				return i;
	if (cJSON_IsString(item))
	{
		char		quoted[64];

		predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
		fail(ld, "unsupported value %s", quoted);
	}
	else
		fail(ld, "expected a string, got %s", json_type_name(item));
	return -1;
}

bool
load_required_number(loader *ld, const cJSON *object, const char *key, double *out)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;
	bool		ok;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	ok = expect_finite(ld, item, out);
	path_set(ld, saved);
	return ok;
}

/* An integral number in [lo, hi]. */
bool
expect_integer(loader *ld, const cJSON *item, double lo, double hi, const char *what,
			   long *out)
{
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi) ||
		item->valuedouble != floor(item->valuedouble))
	{
		if (cJSON_IsNumber(item) && isfinite(item->valuedouble))
			return fail(ld, "expected %s from %.0f to %.0f, got %.17g", what, lo, hi,
						item->valuedouble);
		return fail(ld, "expected %s from %.0f to %.0f, got %s", what, lo, hi,
					cJSON_IsNumber(item) ? "an out-of-range number" : json_type_name(item));
	}
	*out = (long) item->valuedouble;
	return true;
}

/*
 * The member key of object: an array of exactly n finite numbers (n = 0:
 * any length from min to max, its count in *count), copied into the arena.
 */
bool
load_number_array(loader *ld, const cJSON *object, const char *key, size_t n, size_t min,
				  size_t max, const char *limit_name, double **out, size_t *count)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;
	size_t		got;
	double	   *values;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!expect_array(ld, item, n ? 0 : min, max, n ? NULL : limit_name, &got))
		return false;
	if (n && got != n)
		return fail(ld, "expected %zu numbers, got %zu", n, got);
	if ((values = arena_alloc(ld->model, (got ? got : 1) * sizeof(double))) == NULL)
		return fail_memory(ld);
	item = item->child;
	for (size_t i = 0; i < got; i++, item = item->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!expect_finite(ld, item, &values[i]))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	*out = values;
	if (count != NULL)
		*count = got;
	return true;
}
