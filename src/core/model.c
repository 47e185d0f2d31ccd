/*
 * model.c - load and validate a predict-model/1 document.
 *
 * Validation is complete before anything is trusted: every field's
 * presence and type, array lengths, finite numbers, references between
 * fields and the limits. A refused document gets one message starting with
 * the JSON path of the offending value. The cJSON tree is freed before
 * returning on every path, so a host may raise its own error afterwards
 * without leaking.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model.h"
#include "util.h"

/* ---------- arena ---------- */

struct arena_chunk
{
	arena_chunk *next;
	size_t		size;
	size_t		used;
	/* data follows, 16-byte aligned */
};

#define ARENA_ALIGN 16
#define ARENA_CHUNK_SIZE ((size_t) 64 * 1024)
#define CHUNK_HEADER_SIZE ((sizeof(arena_chunk) + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1))

static void *
default_alloc(size_t size, void *context)
{
	(void) context;
	return malloc(size);
}

static void
default_release(void *pointer, void *context)
{
	(void) context;
	free(pointer);
}

/* Zeroed memory that lives as long as the model, or NULL. */
static void *
arena_alloc(predict_model *model, size_t size)
{
	arena_chunk *chunk = model->chunks;
	void	   *p;

	size = (size + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
	if (size == 0)
		size = ARENA_ALIGN;
	if (chunk == NULL || chunk->size - chunk->used < size)
	{
		size_t		data_size = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;

		if (data_size > SIZE_MAX - CHUNK_HEADER_SIZE)
			return NULL;
		chunk = model->allocator.alloc(CHUNK_HEADER_SIZE + data_size,
									   model->allocator.context);
		if (chunk == NULL)
			return NULL;
		chunk->size = data_size;
		chunk->used = 0;
		/* a big allocation goes behind the current chunk to keep its free space */
		if (size > ARENA_CHUNK_SIZE / 4 && model->chunks != NULL)
		{
			chunk->next = model->chunks->next;
			model->chunks->next = chunk;
		}
		else
		{
			chunk->next = model->chunks;
			model->chunks = chunk;
		}
	}
	p = (char *) chunk + CHUNK_HEADER_SIZE + chunk->used;
	chunk->used += size;
	memset(p, 0, size);
	return p;
}

void
predict_model_free(predict_model *model)
{
	predict_allocator allocator;
	arena_chunk *chunk;

	if (model == NULL)
		return;
	allocator = model->allocator;
	chunk = model->chunks;
	while (chunk != NULL)
	{
		arena_chunk *next = chunk->next;

		allocator.release(chunk, allocator.context);
		chunk = next;
	}
	allocator.release(model, allocator.context);
}

/* ---------- loader state and errors ---------- */

#define PATH_SIZE 256

typedef struct loader
{
	predict_model *model;
	predict_limits limits;
	predict_error *err;
	char		path[PATH_SIZE];
	size_t		path_len;
} loader;

static void
path_set(loader *ld, size_t len)
{
	ld->path_len = len < PATH_SIZE ? len : PATH_SIZE - 1;
	ld->path[ld->path_len] = '\0';
}

/* Append ".key" (or "key" at the root); returns the length to restore. */
static size_t
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

static size_t
path_push_index(loader *ld, size_t index)
{
	size_t		saved = ld->path_len;
	int			n;

	n = snprintf(ld->path + ld->path_len, PATH_SIZE - ld->path_len, "[%zu]", index);
	if (n > 0)
		path_set(ld, ld->path_len + (size_t) n);
	return saved;
}

static bool fail(loader *ld, const char *format,...) __attribute__((format(printf, 2, 3)));

/* Record "<path>: <message>" as a bad-model error; returns false. */
static bool
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

static bool
fail_limit(loader *ld, const char *what, size_t count, const char *limit_name, size_t limit)
{
	fail(ld, "%zu %s exceeds the limit %s = %zu", count, what, limit_name, limit);
	if (ld->err != NULL)
		ld->err->status = PREDICT_TOO_LARGE;
	return false;
}

static bool
fail_memory(loader *ld)
{
	predict_set_error(ld->err, PREDICT_NO_MEMORY, "out of memory while loading the model");
	return false;
}

/* ---------- typed access to cJSON items ---------- */

static const char *
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
static bool
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
static const cJSON *
member(loader *ld, const cJSON *object, const char *key, bool required)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	if (item == NULL && required)
		fail(ld, "missing field \"%s\"", key);
	return item;
}

static bool
expect_finite(loader *ld, const cJSON *item, double *out)
{
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return fail(ld, "expected a finite number, got %s",
					cJSON_IsNumber(item) ? "an out-of-range number" : json_type_name(item));
	*out = item->valuedouble;
	return true;
}

/* A string of 1..max bytes, copied into the arena. */
static bool
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

static bool
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
static int
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

/* ---------- category tables ---------- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static uint64_t
hash_number(double x)
{
	uint64_t	bits;

	if (x == 0)
		x = 0;					/* -0.0 and 0.0 are the same category */
	memcpy(&bits, &x, sizeof(bits));
	bits ^= bits >> 33;
	bits *= 0xff51afd7ed558ccdULL;
	bits ^= bits >> 33;
	return bits;
}

long
category_find_string(const category_table *table, const char *s, size_t len)
{
	size_t		i;

	if (table->numeric || table->count == 0)
		return -1;
	for (i = hash_bytes(s, len) & table->mask;; i = (i + 1) & table->mask)
	{
		uint32_t	slot = table->slots[i];

		if (slot == 0)
			return -1;
		if (table->lengths[slot - 1] == len &&
			memcmp(table->strings[slot - 1], s, len) == 0)
			return (long) slot - 1;
	}
}

long
category_find_number(const category_table *table, double x)
{
	size_t		i;

	if (!table->numeric || table->count == 0 || isnan(x))
		return -1;
	for (i = hash_number(x) & table->mask;; i = (i + 1) & table->mask)
	{
		uint32_t	slot = table->slots[i];

		if (slot == 0)
			return -1;
		if (table->numbers[slot - 1] == x)
			return (long) slot - 1;
	}
}

/* Allocate the slots of a table for count entries (load factor <= 1/2). */
static bool
table_init(loader *ld, category_table *table, size_t count)
{
	size_t		nslots = 4;

	while (nslots < 2 * count)
		nslots *= 2;
	table->slots = arena_alloc(ld->model, nslots * sizeof(uint32_t));
	if (table->slots == NULL)
		return fail_memory(ld);
	table->mask = nslots - 1;
	table->count = count;
	return true;
}

/* Insert entry index; false if an equal entry is already there. */
static bool
table_insert(category_table *table, size_t index)
{
	size_t		i;

	if (table->numeric)
		i = hash_number(table->numbers[index]) & table->mask;
	else
		i = hash_bytes(table->strings[index], table->lengths[index]) & table->mask;
	for (;; i = (i + 1) & table->mask)
	{
		uint32_t	slot = table->slots[i];

		if (slot == 0)
		{
			table->slots[i] = (uint32_t) index + 1;
			return true;
		}
		if (table->numeric ? table->numbers[slot - 1] == table->numbers[index]
			: (table->lengths[slot - 1] == table->lengths[index] &&
			   memcmp(table->strings[slot - 1], table->strings[index],
					  table->lengths[index]) == 0))
			return false;
	}
}

/*
 * An encoder's categories: all strings or all numbers, unique, optionally
 * followed by one null (NaN seen in training). *total counts the null.
 */
static bool
load_categories(loader *ld, const cJSON *item, category_table **out, size_t *total)
{
	category_table *table;
	size_t		n;
	size_t		saved = path_push_key(ld, "categories");
	const cJSON *first;
	const cJSON *last;

	if (!expect_array(ld, item, 1, ld->limits.max_categories, "max_categories", &n))
		return false;
	table = arena_alloc(ld->model, sizeof(category_table));
	if (table == NULL)
		return fail_memory(ld);
	table->missing_index = -1;
	last = cJSON_GetArrayItem(item, (int) n - 1);
	if (cJSON_IsNull(last))
	{
		table->missing_index = (long) n - 1;
		n--;
	}
	first = item->child;
	table->numeric = n > 0 && cJSON_IsNumber(first);
	if (!table_init(ld, table, n))
		return false;
	if (table->numeric)
		table->numbers = arena_alloc(ld->model, (n ? n : 1) * sizeof(double));
	else
	{
		table->strings = arena_alloc(ld->model, (n ? n : 1) * sizeof(char *));
		table->lengths = arena_alloc(ld->model, (n ? n : 1) * sizeof(uint32_t));
	}
	if ((table->numeric && table->numbers == NULL) ||
		(!table->numeric && (table->strings == NULL || table->lengths == NULL)))
		return fail_memory(ld);

	for (size_t i = 0; i < n; i++, first = first->next)
	{
		size_t		at = path_push_index(ld, i);

		if (table->numeric)
		{
			if (!cJSON_IsNumber(first))
				return fail(ld, "expected a number like the first category, got %s%s",
							json_type_name(first),
							cJSON_IsNull(first) ? " (null may only be the last category)" : "");
			if (!expect_finite(ld, first, (double *) &table->numbers[i]))
				return false;
		}
		else
		{
			if (!cJSON_IsString(first))
				return fail(ld, "expected a string like the first category, got %s%s",
							json_type_name(first),
							cJSON_IsNull(first) ? " (null may only be the last category)" : "");
			if (!expect_string(ld, first, SIZE_MAX, (const char **) &table->strings[i],
							   (uint32_t *) &table->lengths[i]))
				return false;
		}
		if (!table_insert(table, i))
		{
			char		quoted[64];

			if (table->numeric)
				predict_format_number(quoted, sizeof(quoted), table->numbers[i]);
			else
				predict_quote(quoted, sizeof(quoted), table->strings[i], table->lengths[i]);
			return fail(ld, "duplicate category %s", quoted);
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	*out = table;
	*total = n + (table->missing_index >= 0 ? 1 : 0);
	return true;
}

/* ---------- columns ---------- */

static const char *const column_fields[] = {"name", "type", "dtype", NULL};
static const char *const column_types[] = {"number", "string", NULL};

static bool
load_columns(loader *ld, const cJSON *item)
{
	predict_model *model = ld->model;
	size_t		n;
	size_t		saved = path_push_key(ld, "columns");
	const cJSON *entry = cJSON_IsArray(item) ? item->child : NULL;

	if (!expect_array(ld, item, 1, ld->limits.max_columns, "max_columns", &n))
		return false;
	model->columns = arena_alloc(model, n * sizeof(column));
	model->column_index.strings = arena_alloc(model, n * sizeof(char *));
	model->column_index.lengths = arena_alloc(model, n * sizeof(uint32_t));
	if (model->columns == NULL || model->column_index.strings == NULL ||
		model->column_index.lengths == NULL)
		return fail_memory(ld);
	model->column_index.missing_index = -1;
	if (!table_init(ld, &model->column_index, n))
		return false;
	model->ncolumns = n;

	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		column	   *col = &model->columns[i];
		const cJSON *field;
		int			type;
		size_t		key;

		if (!check_object(ld, entry, column_fields))
			return false;
		if ((field = member(ld, entry, "name", true)) == NULL)
			return false;
		key = path_push_key(ld, "name");
		if (!expect_string(ld, field, 255, &col->name, &col->name_length))
			return false;
		if (col->name_length == 0)
			return fail(ld, "expected a non-empty string");
		((const char **) model->column_index.strings)[i] = col->name;
		((uint32_t *) model->column_index.lengths)[i] = col->name_length;
		if (!table_insert(&model->column_index, i))
		{
			char		quoted[300];

			predict_quote(quoted, sizeof(quoted), col->name, col->name_length);
			return fail(ld, "duplicate column %s", quoted);
		}
		path_set(ld, key);
		if ((field = member(ld, entry, "type", true)) == NULL)
			return false;
		key = path_push_key(ld, "type");
		if ((type = expect_enum(ld, field, column_types)) < 0)
			return false;
		col->numeric = (type == 0);
		path_set(ld, key);
		if ((field = member(ld, entry, "dtype", false)) != NULL && !cJSON_IsString(field))
		{
			path_push_key(ld, "dtype");
			return fail(ld, "expected a string, got %s", json_type_name(field));
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

long
predict_model_find_column(const predict_model *model, const char *key, size_t len)
{
	return category_find_string(&model->column_index, key, len);
}

/* ---------- preprocessing ---------- */

static const char *const block_fields[] = {"column", "steps", "features", NULL};
static const char *const step_names[] = {
	"impute", "indicator", "standardize", "multiply", "min_max", "one_hot", "ordinal", NULL
};
static const char *const impute_fields[] = {"type", "value", NULL};
static const char *const indicator_fields[] = {"type", NULL};
static const char *const standardize_fields[] = {"type", "center", "scale", NULL};
static const char *const multiply_fields[] = {"type", "factor", NULL};
static const char *const min_max_fields[] = {"type", "scale", "min", "clip", NULL};
static const char *const one_hot_fields[] = {"type", "categories", "drop", "handle_unknown", NULL};
static const char *const ordinal_fields[] = {
	"type", "categories", "handle_unknown", "unknown_value", "encoded_missing_value", NULL
};
static const char *const one_hot_unknown[] = {"ignore", "error", NULL};
static const char *const ordinal_unknown[] = {"use_encoded_value", "error", NULL};

/* What flows through a block while its steps are compiled. */
typedef struct lane
{
	bool		numeric;		/* a float64 value (else an object-dtype value) */
	bool		expanded;		/* after a one_hot */
	size_t		width;
	double	   *off_values;
	double	   *on_values;
} lane;

/* A number field, or null (returns *present = false) when nullable. */
static bool
load_optional_number(loader *ld, const cJSON *object, const char *key,
					 double *out, bool *present)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;
	bool		ok;

	if (item == NULL)
		return false;
	*present = !cJSON_IsNull(item);
	if (!*present)
		return true;
	saved = path_push_key(ld, key);
	ok = expect_finite(ld, item, out);
	path_set(ld, saved);
	return ok;
}

static bool
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

/* A number-or-NaN field: null means NaN (ordinal's encoded values). */
static bool
load_number_or_nan(loader *ld, const cJSON *object, const char *key, double *out)
{
	bool		present;

	if (!load_optional_number(ld, object, key, out, &present))
		return false;
	if (!present)
		*out = NAN;
	return true;
}

/*
 * Per-feature parameters of a step after a one_hot: an array of lane width
 * finite numbers, or null when nullable (returns NULL in *out).
 */
static bool
load_feature_array(loader *ld, const cJSON *object, const char *key, size_t width,
				   bool nullable, const double **out)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;
	size_t		n;
	double	   *values;
	const cJSON *entry;

	*out = NULL;
	if (item == NULL)
		return false;
	if (nullable && cJSON_IsNull(item))
		return true;
	saved = path_push_key(ld, key);
	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array of %zu numbers (one per one-hot feature), got %s",
					width, json_type_name(item));
	n = (size_t) cJSON_GetArraySize(item);
	if (n != width)
		return fail(ld, "expected %zu numbers (one per one-hot feature), got %zu", width, n);
	values = arena_alloc(ld->model, width * sizeof(double));
	if (values == NULL)
		return fail_memory(ld);
	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!expect_finite(ld, entry, &values[i]))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	*out = values;
	return true;
}

/* Apply a step's arithmetic (after a one_hot) to both value arrays. */
static bool
apply_to_expanded(loader *ld, lane *ln, step_type type, const double *a, const double *b,
				  const double *clip)
{
	for (size_t j = 0; j < ln->width; j++)
	{
		double	   *values[2] = {&ln->off_values[j], &ln->on_values[j]};

		for (int k = 0; k < 2; k++)
		{
			double		x = *values[k];

			switch (type)
			{
				case STEP_STANDARDIZE:
					if (a != NULL)
						x = x - a[j];
					if (b != NULL)
						x = x / b[j];
					break;
				case STEP_MULTIPLY:
					x = x * a[j];
					break;
				case STEP_MIN_MAX:
					x = x * a[j];
					x = x + b[j];
					if (clip != NULL)
						x = fmin(fmax(x, clip[0]), clip[1]);
					break;
				default:
					break;
			}
			if (!isfinite(x))
				return fail(ld, "produces a non-finite value for one-hot feature %zu", j);
			*values[k] = x;
		}
	}
	return true;
}

static bool
load_clip(loader *ld, const cJSON *object, double clip[2], bool *present)
{
	const cJSON *item = member(ld, object, "clip", true);
	size_t		saved;

	if (item == NULL)
		return false;
	*present = !cJSON_IsNull(item);
	if (!*present)
		return true;
	saved = path_push_key(ld, "clip");
	if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2)
		return fail(ld, "expected null or an array [lo, hi]");
	for (int i = 0; i < 2; i++)
	{
		size_t		at = path_push_index(ld, (size_t) i);

		if (!expect_finite(ld, cJSON_GetArrayItem(item, i), &clip[i]))
			return false;
		path_set(ld, at);
	}
	if (clip[0] > clip[1])
		return fail(ld, "lo must not be greater than hi");
	path_set(ld, saved);
	return true;
}

static bool
require_numeric(loader *ld, const lane *ln, const char *name)
{
	if (!ln->numeric)
		return fail(ld, "%s needs a numeric value; a string column must pass through "
					"one_hot, ordinal or indicator first", name);
	return true;
}

static bool
load_one_hot(loader *ld, const cJSON *object, step *st, lane *ln)
{
	size_t		total;
	const cJSON *item;
	int			mode;
	size_t		width;

	if (!check_object(ld, object, one_hot_fields))
		return false;
	if ((item = member(ld, object, "categories", true)) == NULL ||
		!load_categories(ld, item, &st->table, &total))
		return false;
	if ((item = member(ld, object, "drop", true)) == NULL)
		return false;
	st->drop = -1;
	if (!cJSON_IsNull(item))
	{
		size_t		saved = path_push_key(ld, "drop");

		if (!cJSON_IsNumber(item) || item->valuedouble < 0 ||
			item->valuedouble >= (double) total ||
			item->valuedouble != floor(item->valuedouble))
			return fail(ld, "expected null or a category index from 0 to %zu", total - 1);
		st->drop = (long) item->valuedouble;
		path_set(ld, saved);
	}
	if ((item = member(ld, object, "handle_unknown", true)) == NULL)
		return false;
	{
		size_t		saved = path_push_key(ld, "handle_unknown");

		if ((mode = expect_enum(ld, item, one_hot_unknown)) < 0)
			return false;
		path_set(ld, saved);
	}
	st->unknown_is_error = (mode == 1);
	width = total - (st->drop >= 0 ? 1 : 0);
	if (width == 0)
		return fail(ld, "drops its only category, leaving no feature");
	ln->expanded = true;
	ln->numeric = true;
	ln->width = width;
	ln->off_values = arena_alloc(ld->model, width * sizeof(double));
	ln->on_values = arena_alloc(ld->model, width * sizeof(double));
	if (ln->off_values == NULL || ln->on_values == NULL)
		return fail_memory(ld);
	for (size_t j = 0; j < width; j++)
		ln->on_values[j] = 1.0;
	return true;
}

static bool
load_ordinal(loader *ld, const cJSON *object, step *st, lane *ln)
{
	size_t		total;
	const cJSON *item;
	int			mode;

	if (!check_object(ld, object, ordinal_fields))
		return false;
	if ((item = member(ld, object, "categories", true)) == NULL ||
		!load_categories(ld, item, &st->table, &total))
		return false;
	if ((item = member(ld, object, "handle_unknown", true)) == NULL)
		return false;
	{
		size_t		saved = path_push_key(ld, "handle_unknown");

		if ((mode = expect_enum(ld, item, ordinal_unknown)) < 0)
			return false;
		path_set(ld, saved);
	}
	st->unknown_is_error = (mode == 1);
	if (!load_number_or_nan(ld, object, "unknown_value", &st->b) ||
		!load_number_or_nan(ld, object, "encoded_missing_value", &st->lo))
		return false;
	ln->numeric = true;
	return true;
}

/* Compile one step into st (scalar) or into the lane's arrays (expanded). */
static bool
load_step(loader *ld, const cJSON *object, step *st, lane *ln, bool *kept)
{
	const cJSON *type_item;
	int			type;
	size_t		saved;

	memset(st, 0, sizeof(*st));
	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	if ((type_item = member(ld, object, "type", true)) == NULL)
		return false;
	saved = path_push_key(ld, "type");
	if ((type = expect_enum(ld, type_item, step_names)) < 0)
		return false;
	path_set(ld, saved);
	st->type = (step_type) type;
	st->numeric_input = ln->numeric;
	*kept = !ln->expanded;

	if (ln->expanded)
	{
		const double *a = NULL;
		const double *b = NULL;
		double		clip[2];
		bool		has_clip = false;

		switch (st->type)
		{
			case STEP_STANDARDIZE:
				if (!check_object(ld, object, standardize_fields) ||
					!load_feature_array(ld, object, "center", ln->width, true, &a) ||
					!load_feature_array(ld, object, "scale", ln->width, true, &b))
					return false;
				for (size_t j = 0; b != NULL && j < ln->width; j++)
					if (b[j] == 0)
						return fail(ld, "scale[%zu] must not be 0", j);
				break;
			case STEP_MULTIPLY:
				if (!check_object(ld, object, multiply_fields) ||
					!load_feature_array(ld, object, "factor", ln->width, false, &a))
					return false;
				break;
			case STEP_MIN_MAX:
				if (!check_object(ld, object, min_max_fields) ||
					!load_feature_array(ld, object, "scale", ln->width, false, &a) ||
					!load_feature_array(ld, object, "min", ln->width, false, &b) ||
					!load_clip(ld, object, clip, &has_clip))
					return false;
				break;
			default:
				return fail(ld, "\"%s\" cannot follow a one_hot step", step_names[type]);
		}
		return apply_to_expanded(ld, ln, st->type, a, b, has_clip ? clip : NULL);
	}

	switch (st->type)
	{
		case STEP_IMPUTE:
			{
				const cJSON *value;

				if (!check_object(ld, object, impute_fields) ||
					(value = member(ld, object, "value", true)) == NULL)
					return false;
				saved = path_push_key(ld, "value");
				if (cJSON_IsString(value))
				{
					if (ln->numeric)
						return fail(ld, "a numeric column cannot be imputed with a string");
					if (!expect_string(ld, value, SIZE_MAX, &st->string, &st->string_length))
						return false;
				}
				else if (!expect_finite(ld, value, &st->a))
					return false;
				path_set(ld, saved);
				return true;
			}
		case STEP_INDICATOR:
			if (!check_object(ld, object, indicator_fields))
				return false;
			ln->numeric = true;
			return true;
		case STEP_STANDARDIZE:
			if (!check_object(ld, object, standardize_fields) ||
				!require_numeric(ld, ln, "standardize") ||
				!load_optional_number(ld, object, "center", &st->a, &st->has_center) ||
				!load_optional_number(ld, object, "scale", &st->b, &st->has_scale))
				return false;
			if (st->has_scale && st->b == 0)
			{
				path_push_key(ld, "scale");
				return fail(ld, "must not be 0");
			}
			return true;
		case STEP_MULTIPLY:
			return check_object(ld, object, multiply_fields) &&
				require_numeric(ld, ln, "multiply") &&
				load_required_number(ld, object, "factor", &st->a);
		case STEP_MIN_MAX:
			{
				double		clip[2] = {0, 0};

				if (!check_object(ld, object, min_max_fields) ||
					!require_numeric(ld, ln, "min_max") ||
					!load_required_number(ld, object, "scale", &st->a) ||
					!load_required_number(ld, object, "min", &st->b) ||
					!load_clip(ld, object, clip, &st->has_clip))
					return false;
				st->lo = clip[0];
				st->hi = clip[1];
				return true;
			}
		case STEP_ONE_HOT:
			return load_one_hot(ld, object, st, ln);
		case STEP_ORDINAL:
			return load_ordinal(ld, object, st, ln);
	}
	return fail(ld, "unsupported step");
}

static bool
load_block(loader *ld, const cJSON *object, block *blk, size_t *next_step)
{
	predict_model *model = ld->model;
	const cJSON *item;
	const cJSON *features;
	long		col;
	size_t		nsteps;
	size_t		nfeatures;
	size_t		saved;
	lane		ln = {0};

	if (!check_object(ld, object, block_fields))
		return false;
	if ((item = member(ld, object, "column", true)) == NULL)
		return false;
	saved = path_push_key(ld, "column");
	if (!cJSON_IsString(item))
		return fail(ld, "expected a string, got %s", json_type_name(item));
	col = predict_model_find_column(model, item->valuestring, strlen(item->valuestring));
	if (col < 0)
	{
		char		quoted[300];

		predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
		return fail(ld, "unknown column %s (not in \"columns\")", quoted);
	}
	path_set(ld, saved);
	blk->column = (uint32_t) col;
	model->columns[col].used = true;
	ln.numeric = model->columns[col].numeric;
	ln.width = 1;

	if ((item = member(ld, object, "steps", true)) == NULL)
		return false;
	saved = path_push_key(ld, "steps");
	if (!expect_array(ld, item, 0, 0, NULL, &nsteps))
		return false;
	blk->first_step = (uint32_t) *next_step;
	{
		const cJSON *entry = item->child;

		for (size_t i = 0; i < nsteps; i++, entry = entry->next)
		{
			size_t		at = path_push_index(ld, i);
			bool		kept = false;
			bool		was_expanded = ln.expanded;

			if (!load_step(ld, entry, &model->steps[*next_step], &ln, &kept))
				return false;
			if (kept)
			{
				(*next_step)++;
				blk->nsteps++;
			}
			if (!was_expanded && ln.expanded)
				blk->one_hot = true;
			path_set(ld, at);
		}
	}
	path_set(ld, saved);
	if (!ln.numeric)
		return fail(ld, "the block ends with a string value; a string column needs "
					"a one_hot or ordinal step before the estimator");
	blk->width = (uint32_t) ln.width;
	blk->off_values = ln.off_values;
	blk->on_values = ln.on_values;
	blk->off_all_zero = true;
	for (size_t j = 0; blk->one_hot && j < ln.width; j++)
		if (ln.off_values[j] != 0)
			blk->off_all_zero = false;

	if ((features = member(ld, object, "features", true)) == NULL)
		return false;
	saved = path_push_key(ld, "features");
	if (!expect_array(ld, features, 1, 0, NULL, &nfeatures))
		return false;
	if (nfeatures != ln.width)
		return fail(ld, "expected %zu feature name%s (the block's width), got %zu",
					ln.width, ln.width == 1 ? "" : "s", nfeatures);
	{
		const cJSON *entry = features->child;

		for (size_t i = 0; i < nfeatures; i++, entry = entry->next)
			if (!cJSON_IsString(entry))
			{
				path_push_index(ld, i);
				return fail(ld, "expected a string, got %s", json_type_name(entry));
			}
	}
	path_set(ld, saved);
	return true;
}

static bool
load_preprocessing(loader *ld, const cJSON *item)
{
	predict_model *model = ld->model;
	size_t		n;
	size_t		total_steps = 0;
	size_t		next_step = 0;
	size_t		saved = path_push_key(ld, "preprocessing");
	const cJSON *entry;

	if (!expect_array(ld, item, 1, ld->limits.max_blocks, "max_blocks", &n))
		return false;
	/* size the step array first: it is shared by all blocks */
	for (entry = item->child; entry != NULL; entry = entry->next)
	{
		const cJSON *steps = cJSON_IsObject(entry) ?
			cJSON_GetObjectItemCaseSensitive(entry, "steps") : NULL;

		if (cJSON_IsArray(steps))
			total_steps += (size_t) cJSON_GetArraySize(steps);
	}
	model->blocks = arena_alloc(model, n * sizeof(block));
	model->steps = arena_alloc(model, (total_steps ? total_steps : 1) * sizeof(step));
	if (model->blocks == NULL || model->steps == NULL)
		return fail_memory(ld);
	model->nblocks = n;

	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		block	   *blk = &model->blocks[i];

		if (!load_block(ld, entry, blk, &next_step))
			return false;
		blk->first_feature = (uint32_t) model->nfeatures;
		model->nfeatures += blk->width;
		if (model->nfeatures > ld->limits.max_features)
			return fail_limit(ld, "features", model->nfeatures, "max_features",
							  ld->limits.max_features);
		path_set(ld, at);
	}
	model->nsteps = next_step;
	path_set(ld, saved);
	return true;
}

/* ---------- estimator ---------- */

static const char *const estimator_types[] = {
	"logistic_regression", "decision_tree", "random_forest", "gradient_boosting",
	"hist_gradient_boosting", NULL
};
static const char *const logistic_fields[] = {"type", "coef", "intercept", "link", NULL};
static const char *const link_names[] = {"logistic", "softmax", NULL};

static bool
load_logistic_regression(loader *ld, const cJSON *object)
{
	predict_model *model = ld->model;
	estimator  *est = &model->estimator;
	const cJSON *item;
	size_t		n;
	double	   *coef;
	int			link;
	size_t		saved;

	if (!check_object(ld, object, logistic_fields))
		return false;
	if ((item = member(ld, object, "coef", true)) == NULL)
		return false;
	saved = path_push_key(ld, "coef");
	if (!expect_array(ld, item, 0, 0, NULL, &n))
		return false;
	if (n != model->nfeatures)
		return fail(ld, "expected %zu numbers (the total width of the blocks), got %zu",
					model->nfeatures, n);
	coef = arena_alloc(model, (n ? n : 1) * sizeof(double));
	if (coef == NULL)
		return fail_memory(ld);
	item = item->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!expect_finite(ld, item, &coef[i]))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	est->coef = coef;
	if (!load_required_number(ld, object, "intercept", &est->intercept))
		return false;
	if ((item = member(ld, object, "link", true)) == NULL)
		return false;
	saved = path_push_key(ld, "link");
	if ((link = expect_enum(ld, item, link_names)) < 0)
		return false;
	path_set(ld, saved);
	est->link = (link_type) link;
	est->type = ESTIMATOR_LOGISTIC_REGRESSION;
	return true;
}

/* ---------- tree estimators ---------- */

static const char *const decision_tree_fields[] = {"type", "tree", "missing", NULL};
static const char *const forest_fields[] = {"type", "trees", "missing", NULL};
static const char *const boosting_fields[] = {
	"type", "init", "learning_rate", "trees", "missing", NULL
};
static const char *const hist_fields[] = {"type", "baseline", "categorical", "trees", NULL};
static const char *const tree_fields[] = {
	"feature", "threshold", "left", "right", "missing_left", "value", NULL
};
static const char *const categorical_fields[] = {"feature", "known", NULL};
static const char *const missing_modes[] = {"error", "learned", NULL};

#define CATEGORY_CODES 256		/* HistGradientBoosting's 8 x 32-bit bitsets */

/* What the trees of an estimator may hold. */
typedef struct tree_rules
{
	bool		hist;			/* hist_gradient_boosting splits */
	bool		probability;	/* leaves are class fractions in [0, 1] */
	bool		missing_left;	/* every tree must have missing_left */
	const uint32_t *known;		/* hist: 8 words per feature, or NULL */
	const bool *categorical;	/* hist: nfeatures flags */
} tree_rules;

/* Scratch shared by the trees of one estimator while they load. */
typedef struct tree_scratch
{
	uint8_t    *referenced;		/* per node of the largest tree */
	uint32_t   *depth;			/* per node of the largest tree */
	size_t		next_node;
	size_t		next_leaf;
	size_t		next_bitset;	/* 0 is the all-zero bitset */
} tree_scratch;

/* The largest float32 not above t: x <= t iff x <= this, for any float32 x. */
static float
float32_at_or_below(double t)
{
	float		f = (float) t;

	if ((double) f > t)
		f = nextafterf(f, -INFINITY);
	return f;
}

/*
 * Trees have millions of elements: their loops test each one with these
 * predicates and build the JSON path (snprintf) only to report an error.
 */
static inline bool
is_integer_in(const cJSON *item, double lo, double hi, long *out)
{
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi) ||
		item->valuedouble != floor(item->valuedouble))
		return false;
	*out = (long) item->valuedouble;
	return true;
}

/* Set the path to <current>.key[index]; returns the length to restore. */
static size_t
path_push_element(loader *ld, const char *key, size_t index)
{
	size_t		saved = path_push_key(ld, key);

	path_push_index(ld, index);
	return saved;
}

/* An integral number in [lo, hi]. */
static bool
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
 * A per-split or per-leaf array of a tree: present, an array of exactly n
 * elements. Returns its first element (NULL when n is 0) through *first.
 */
static bool
tree_array(loader *ld, const cJSON *object, const char *key, size_t n, const char *why,
		   const cJSON **first)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		count;
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array, got %s", json_type_name(item));
	count = (size_t) cJSON_GetArraySize(item);
	if (count != n)
		return fail(ld, "expected %zu element%s (%s), got %zu", n, n == 1 ? "" : "s", why, count);
	path_set(ld, saved);
	*first = item->child;
	return true;
}

/* A threshold: a finite number, or "inf" / "-inf" (JSON has no infinity). */
static inline bool
is_threshold(const cJSON *item, double *out)
{
	if (cJSON_IsNumber(item) && isfinite(item->valuedouble))
		*out = item->valuedouble;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "inf") == 0)
		*out = INFINITY;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "-inf") == 0)
		*out = -INFINITY;
	else
		return false;
	return true;
}

static bool
expect_threshold(loader *ld, const cJSON *item, double *out)
{
	if (!is_threshold(item, out))
		return fail(ld, "expected a finite number, \"inf\" or \"-inf\", got %s",
					cJSON_IsNumber(item) ? "an out-of-range number" : json_type_name(item));
	return true;
}

/*
 * A categorical split's threshold: the category codes (0 to 255) that go
 * left. Stored as the set of codes that go left once unknown codes (not in
 * the feature's known categories) are sent the missing-value way, which is
 * scikit-learn's order of tests folded into one lookup, plus the code
 * CATEGORY_MISSING (NaN and negative values) when missing values go left.
 */
static bool
load_category_split(loader *ld, const cJSON *item, const uint32_t *known,
					bool missing_left, uint32_t *bits)
{
	uint32_t	left[CATEGORY_CODES / 32] = {0};
	size_t		i = 0;

	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array of category codes, got %s", json_type_name(item));
	for (const cJSON *code = item->child; code != NULL; code = code->next, i++)
	{
		size_t		at = path_push_index(ld, i);
		long		c;

		if (!expect_integer(ld, code, 0, CATEGORY_CODES - 1, "a category code", &c))
			return false;
		if (left[c / 32] & ((uint32_t) 1 << (c % 32)))
			return fail(ld, "duplicate category code %ld", c);
		left[c / 32] |= (uint32_t) 1 << (c % 32);
		path_set(ld, at);
	}
	for (int w = 0; w < CATEGORY_CODES / 32; w++)
		bits[w] = left[w] | (missing_left ? ~known[w] : 0);
	bits[CATEGORY_MISSING / 32] = missing_left ? (uint32_t) 1 << (CATEGORY_MISSING % 32) : 0;
	return true;
}

/*
 * A child reference at key[parent]: a later split (> parent) or a leaf, each
 * used once. *out is the child's node within the tree (splits, then leaves).
 */
static bool
load_child(loader *ld, const char *key, const cJSON *item, size_t parent, size_t nsplits,
		   uint8_t *referenced, uint32_t *out)
{
	long		c;
	size_t		node;

	if (!is_integer_in(item, -(double) (nsplits + 1), (double) nsplits - 1, &c))
	{
		path_push_element(ld, key, parent);
		return expect_integer(ld, item, -(double) (nsplits + 1), (double) nsplits - 1,
							  "a split index or -1 - leaf index", &c);
	}
	if (c >= 0 && (size_t) c <= parent)
	{
		path_push_element(ld, key, parent);
		return fail(ld, "split %zu points back to split %ld; a child must come after its "
					"parent (so that a tree has no cycle)", parent, c);
	}
	/* nodes numbered splits first, then leaves */
	node = c >= 0 ? (size_t) c : nsplits + (size_t) (-1 - c);
	if (referenced[node])
	{
		path_push_element(ld, key, parent);
		if (c >= 0)
			return fail(ld, "split %ld is already the child of another split", c);
		return fail(ld, "leaf %ld is already the child of another split", -1 - c);
	}
	referenced[node] = 1;
	*out = (uint32_t) node;
	return true;
}

/*
 * Load one tree into the next ranges of the estimator's arrays: its splits
 * as nodes, then its leaves as nodes that lead to themselves. Split features
 * are kept as feature indices here; they become slots once every tree is
 * loaded. Every split and leaf but the root is referenced exactly once and
 * children point forward, so the nodes form one tree, and its depth follows
 * in the same pass.
 */
static bool
load_tree(loader *ld, const cJSON *object, const tree_rules *rules, tree_scratch *scratch,
		  tree *t)
{
	estimator  *est = &ld->model->estimator;
	const cJSON *feature;
	const cJSON *threshold;
	const cJSON *left;
	const cJSON *right;
	const cJSON *missing = NULL;
	const cJSON *value;
	const cJSON *item;
	size_t		nsplits;
	size_t		root;
	size_t		saved;

	if (!check_object(ld, object, tree_fields))
		return false;
	if ((item = member(ld, object, "feature", true)) == NULL)
		return false;
	saved = path_push_key(ld, "feature");
	if (!expect_array(ld, item, 0, 0, NULL, &nsplits))
		return false;
	path_set(ld, saved);
	feature = item->child;
	if (!tree_array(ld, object, "threshold", nsplits, "one per split, as in \"feature\"",
					&threshold) ||
		!tree_array(ld, object, "left", nsplits, "one per split, as in \"feature\"", &left) ||
		!tree_array(ld, object, "right", nsplits, "one per split, as in \"feature\"", &right) ||
		!tree_array(ld, object, "value", nsplits + 1,
					"one per leaf: a tree with n splits has n + 1 leaves", &value))
		return false;
	if (member(ld, object, "missing_left", rules->missing_left) != NULL)
	{
		if (!tree_array(ld, object, "missing_left", nsplits, "one per split, as in \"feature\"",
						&missing))
			return false;
	}
	else if (rules->missing_left)
		return false;

	root = scratch->next_node;
	t->root = (uint32_t) root;
	t->nsplits = (uint32_t) nsplits;
	t->depth = 0;
	t->leaf_offset = (int64_t) scratch->next_leaf - (int64_t) (root + nsplits);
	memset(scratch->referenced, 0, 2 * nsplits + 1);
	scratch->depth[0] = 0;

	for (size_t i = 0; i < nsplits; i++)
	{
		size_t		at = ld->path_len;
		long		f;
		long		m = 0;
		uint32_t	l;
		uint32_t	r;
		double		thr = 0;
		bool		categorical_split = false;

		if (!is_integer_in(feature, 0, (double) ld->model->nfeatures - 1, &f))
		{
			path_push_element(ld, "feature", i);
			return expect_integer(ld, feature, 0, (double) ld->model->nfeatures - 1,
								  "a feature index", &f);
		}
		if (missing != NULL)
		{
			if (!is_integer_in(missing, 0, 1, &m))
			{
				path_push_element(ld, "missing_left", i);
				return expect_integer(ld, missing, 0, 1, "a 0/1 flag", &m);
			}
			missing = missing->next;
		}
		if (rules->hist && cJSON_IsArray(threshold))
		{
			uint32_t   *bits = (uint32_t *) est->bitsets + BITSET_WORDS * scratch->next_bitset;

			path_push_element(ld, "threshold", i);
			if (!rules->categorical[f])
				return fail(ld, "a list of categories, but feature %ld is not in \"categorical\"", f);
			if (!load_category_split(ld, threshold, rules->known + 8 * (size_t) f, m != 0, bits))
				return false;
			path_set(ld, at);
			categorical_split = true;
		}
		else if (rules->hist && rules->categorical[f])
		{
			path_push_element(ld, "threshold", i);
			return fail(ld, "feature %ld is categorical: expected the list of category codes "
						"that go left, got %s", f, json_type_name(threshold));
		}
		else if (!is_threshold(threshold, &thr))
		{
			path_push_element(ld, "threshold", i);
			return expect_threshold(ld, threshold, &thr);
		}
		if (!load_child(ld, "left", left, i, nsplits, scratch->referenced, &l) ||
			!load_child(ld, "right", right, i, nsplits, scratch->referenced, &r))
			return false;

		scratch->depth[l] = scratch->depth[r] = scratch->depth[i] + 1;
		if (scratch->depth[l] > t->depth)
			t->depth = scratch->depth[l];
		if (rules->hist)
		{
			hist_node  *n = (hist_node *) est->hist_nodes + root + i;

			n->threshold = thr;
			n->slot = (uint32_t) f | (m ? NODE_MISSING_LEFT : 0) |
				(categorical_split ? NODE_CATEGORICAL : 0);
			n->child[1] = (uint32_t) root + l;
			n->child[0] = (uint32_t) root + r;
			if (categorical_split)
				n->bitset = (uint32_t) scratch->next_bitset++;
		}
		else
		{
			tree_node  *n = (tree_node *) est->nodes + root + i;

			n->threshold = float32_at_or_below(thr);
			n->slot = (uint32_t) f | (m ? NODE_MISSING_LEFT : 0);
			n->child[1] = (uint32_t) root + l;
			n->child[0] = (uint32_t) root + r;
		}
		feature = feature->next;
		threshold = threshold->next;
		left = left->next;
		right = right->next;
	}

	for (size_t i = 0; i <= nsplits; i++, value = value->next)
	{
		double	   *leaf = (double *) est->leaves + scratch->next_leaf++;
		uint32_t	self = (uint32_t) (root + nsplits + i);

		/* a leaf compares false (NaN threshold, no flags) and stays put */
		if (rules->hist)
		{
			hist_node  *n = (hist_node *) est->hist_nodes + self;

			n->threshold = NAN;
			n->child[0] = n->child[1] = self;
		}
		else
		{
			tree_node  *n = (tree_node *) est->nodes + self;

			n->threshold = NAN;
			n->child[0] = n->child[1] = self;
		}

		if (!cJSON_IsNumber(value) || !isfinite(value->valuedouble) ||
			(rules->probability && !(value->valuedouble >= 0 && value->valuedouble <= 1)))
		{
			path_push_element(ld, "value", i);
			if (!expect_finite(ld, value, leaf))
				return false;
			return fail(ld, "expected a class fraction between 0 and 1, got %.17g", *leaf);
		}
		*leaf = value->valuedouble;
	}
	scratch->next_node = root + 2 * nsplits + 1;
	return true;
}

/* The trees' sizes, summed before anything is allocated. */
static bool
count_trees(loader *ld, const cJSON *entry, size_t ntrees, size_t *nsplits,
			size_t *ncategorical, size_t *largest)
{
	*nsplits = *ncategorical = *largest = 0;
	for (size_t i = 0; i < ntrees; i++, entry = entry->next)
	{
		const cJSON *feature = cJSON_IsObject(entry) ?
			cJSON_GetObjectItemCaseSensitive(entry, "feature") : NULL;
		const cJSON *threshold = cJSON_IsObject(entry) ?
			cJSON_GetObjectItemCaseSensitive(entry, "threshold") : NULL;
		size_t		n;

		if (!cJSON_IsArray(feature))
			continue;			/* load_tree reports it */
		n = (size_t) cJSON_GetArraySize(feature);
		if (n > MAX_TREE_NODES - *nsplits)
		{
			path_push_index(ld, i);
			return fail_limit(ld, "splits in all trees", *nsplits + n, "max_tree_nodes",
							  MAX_TREE_NODES);
		}
		*nsplits += n;
		if (n > *largest)
			*largest = n;
		if (cJSON_IsArray(threshold))
			for (const cJSON *t = threshold->child; t != NULL; t = t->next)
				if (cJSON_IsArray(t))
					(*ncategorical)++;
	}
	return true;
}

/*
 * Number the features the trees split on with dense slots, in feature
 * order, and record for every block which of its features go where.
 */
static bool
assign_slots(loader *ld)
{
	predict_model *model = ld->model;
	estimator  *est = &model->estimator;
	int32_t    *slot_of = arena_alloc(model, model->nfeatures * sizeof(int32_t));
	feature_use *uses;
	size_t		nslots = 0;
	size_t		next_use = 0;

	if (slot_of == NULL)
		return fail_memory(ld);
	for (size_t t = 0; t < est->ntrees; t++)
		for (uint32_t i = 0; i < est->trees[t].nsplits; i++)
		{
			size_t		node = est->trees[t].root + i;
			uint32_t	slot = est->hist_nodes ? est->hist_nodes[node].slot : est->nodes[node].slot;

			slot_of[slot & NODE_SLOT_MASK] = 1;
		}
	for (size_t f = 0; f < model->nfeatures; f++)
		slot_of[f] = slot_of[f] ? (int32_t) nslots++ : -1;
	if (nslots > MAX_TREE_FEATURES)
		return fail_limit(ld, "distinct split features", nslots, "max_tree_features",
						  MAX_TREE_FEATURES);
	for (size_t t = 0; t < est->ntrees; t++)
		for (uint32_t i = 0; i < est->trees[t].nsplits; i++)
		{
			size_t		node = est->trees[t].root + i;
			uint32_t   *slot = est->hist_nodes ? &((hist_node *) est->hist_nodes)[node].slot :
				&((tree_node *) est->nodes)[node].slot;

			*slot = (uint32_t) slot_of[*slot & NODE_SLOT_MASK] | (*slot & ~NODE_SLOT_MASK);
		}
	uses = arena_alloc(model, (nslots ? nslots : 1) * sizeof(feature_use));
	if (uses == NULL)
		return fail_memory(ld);
	for (size_t b = 0; b < model->nblocks; b++)
	{
		block	   *blk = &model->blocks[b];

		blk->first_use = (uint32_t) next_use;
		for (uint32_t j = 0; j < blk->width; j++)
			if (slot_of[blk->first_feature + j] >= 0)
			{
				uses[next_use].offset = j;
				uses[next_use].slot = (uint32_t) slot_of[blk->first_feature + j];
				next_use++;
			}
		blk->nuses = (uint32_t) (next_use - blk->first_use);
		/* scikit-learn checks every feature it casts to float32, read or not */
		for (uint32_t j = blk->width; blk->one_hot && j-- > 0;)
			if (isinf((float) blk->off_values[j]))
			{
				blk->off_too_large32++;
				blk->off_too_large32_at = j;
			}
	}
	est->nslots = nslots;
	est->feature_slot = slot_of;
	est->uses = uses;
	return true;
}

/* HistGradientBoosting's known categories: one 256-bit set per feature. */
static bool
load_known_categories(loader *ld, const cJSON *object, tree_rules *rules)
{
	predict_model *model = ld->model;
	const cJSON *item = member(ld, object, "categorical", false);
	uint32_t   *known;
	bool	   *categorical;
	size_t		n = 0;
	size_t		saved;
	const cJSON *entry;

	if (item == NULL)
		return true;
	saved = path_push_key(ld, "categorical");
	if (!expect_array(ld, item, 0, 0, NULL, &n))
		return false;
	if (n > model->nfeatures)
		return fail(ld, "%zu entries for %zu features", n, model->nfeatures);
	known = arena_alloc(model, model->nfeatures * 8 * sizeof(uint32_t));
	categorical = arena_alloc(model, model->nfeatures * sizeof(bool));
	if (known == NULL || categorical == NULL)
		return fail_memory(ld);
	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		size_t		element = ld->path_len;
		const cJSON *field;
		const cJSON *code;
		long		f;
		size_t		k = 0;

		if (!check_object(ld, entry, categorical_fields) ||
			(field = member(ld, entry, "feature", true)) == NULL)
			return false;
		path_push_key(ld, "feature");
		if (!expect_integer(ld, field, 0, (double) model->nfeatures - 1, "a feature index", &f))
			return false;
		if (categorical[f])
			return fail(ld, "feature %ld is listed twice", f);
		categorical[f] = true;
		path_set(ld, element);
		if ((field = member(ld, entry, "known", true)) == NULL)
			return false;
		path_push_key(ld, "known");
		if (!cJSON_IsArray(field))
			return fail(ld, "expected an array of category codes, got %s", json_type_name(field));
		for (code = field->child; code != NULL; code = code->next, k++)
		{
			size_t		c_at = path_push_index(ld, k);
			long		c;
			uint32_t   *words = known + 8 * (size_t) f;

			if (!expect_integer(ld, code, 0, CATEGORY_CODES - 1, "a category code", &c))
				return false;
			if (words[c / 32] & ((uint32_t) 1 << (c % 32)))
				return fail(ld, "duplicate category code %ld", c);
			words[c / 32] |= (uint32_t) 1 << (c % 32);
			path_set(ld, c_at);
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	rules->known = known;
	rules->categorical = categorical;
	return true;
}

/*
 * The trees of any tree estimator, into flat arrays: ntrees objects from
 * first on (single: the one object of decision_tree's "tree").
 */
static bool
load_trees(loader *ld, const cJSON *first, size_t ntrees, bool single, tree_rules *rules)
{
	predict_model *model = ld->model;
	estimator  *est = &model->estimator;
	size_t		nsplits;
	size_t		ncategorical;
	size_t		largest;
	size_t		nnodes;
	tree_scratch scratch = {0};
	tree	   *out;
	const cJSON *entry;

	if (!count_trees(ld, first, ntrees, &nsplits, &ncategorical, &largest))
		return false;
	out = arena_alloc(model, ntrees * sizeof(tree));
	est->leaves = arena_alloc(model, (nsplits + ntrees) * sizeof(double));
	scratch.referenced = arena_alloc(model, 2 * largest + 1);
	scratch.depth = arena_alloc(model, (2 * largest + 1) * sizeof(uint32_t));
	scratch.next_bitset = 1;
	nnodes = 2 * nsplits + ntrees;
	if (rules->hist)
	{
		est->hist_nodes = arena_alloc(model, nnodes * sizeof(hist_node));
		est->bitsets = arena_alloc(model, (ncategorical + 1) * BITSET_WORDS * sizeof(uint32_t));
		if (rules->categorical == NULL)
		{
			/* no categorical features: every feature is numeric */
			rules->categorical = arena_alloc(model, model->nfeatures * sizeof(bool));
			if (rules->categorical == NULL)
				return fail_memory(ld);
		}
	}
	else
		est->nodes = arena_alloc(model, nnodes * sizeof(tree_node));
	if (out == NULL || est->leaves == NULL || scratch.referenced == NULL ||
		scratch.depth == NULL ||
		(rules->hist ? est->hist_nodes == NULL || est->bitsets == NULL : est->nodes == NULL))
		return fail_memory(ld);

	entry = first;
	for (size_t i = 0; i < ntrees; i++, entry = entry->next)
	{
		size_t		at = single ? ld->path_len : path_push_index(ld, i);

		if (!load_tree(ld, entry, rules, &scratch, &out[i]))
			return false;
		path_set(ld, at);
	}
	est->trees = out;
	est->ntrees = ntrees;
	return assign_slots(ld);
}

/* "trees": a non-empty array, or for decision_tree "tree": one object. */
static bool
load_tree_list(loader *ld, const cJSON *object, bool single, tree_rules *rules)
{
	const char *key = single ? "tree" : "trees";
	const cJSON *item = member(ld, object, key, true);
	size_t		n = 1;
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (single)
	{
		if (!load_trees(ld, item, 1, true, rules))
			return false;
	}
	else if (!expect_array(ld, item, 1, MAX_TREES, "max_trees", &n) ||
			 !load_trees(ld, item->child, n, false, rules))
		return false;
	path_set(ld, saved);
	return true;
}

/* The optional "missing" field of the standard tree estimators. */
static bool
load_missing_mode(loader *ld, const cJSON *object, tree_rules *rules)
{
	const cJSON *item = member(ld, object, "missing", false);
	size_t		saved;
	int			mode;

	if (item == NULL)
		return true;
	saved = path_push_key(ld, "missing");
	if ((mode = expect_enum(ld, item, missing_modes)) < 0)
		return false;
	path_set(ld, saved);
	rules->missing_left = (mode == 1);
	ld->model->estimator.missing_learned = (mode == 1);
	return true;
}

static bool
load_tree_estimator(loader *ld, const cJSON *object, estimator_type type)
{
	estimator  *est = &ld->model->estimator;
	tree_rules	rules = {0};

	est->type = type;
	switch (type)
	{
		case ESTIMATOR_DECISION_TREE:
		case ESTIMATOR_RANDOM_FOREST:
			rules.probability = true;
			return check_object(ld, object, type == ESTIMATOR_DECISION_TREE ?
								decision_tree_fields : forest_fields) &&
				load_missing_mode(ld, object, &rules) &&
				load_tree_list(ld, object, type == ESTIMATOR_DECISION_TREE, &rules);
		case ESTIMATOR_GRADIENT_BOOSTING:
			return check_object(ld, object, boosting_fields) &&
				load_required_number(ld, object, "init", &est->init) &&
				load_required_number(ld, object, "learning_rate", &est->learning_rate) &&
				load_missing_mode(ld, object, &rules) &&
				load_tree_list(ld, object, false, &rules);
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
			rules.hist = true;
			rules.missing_left = true;
			return check_object(ld, object, hist_fields) &&
				load_required_number(ld, object, "baseline", &est->init) &&
				load_known_categories(ld, object, &rules) &&
				load_tree_list(ld, object, false, &rules);
		case ESTIMATOR_LOGISTIC_REGRESSION:
			break;
	}
	return fail(ld, "unsupported estimator");
}

static bool
load_estimator(loader *ld, const cJSON *object)
{
	const cJSON *item;
	size_t		saved = path_push_key(ld, "estimator");
	size_t		at;
	int			type;

	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	if ((item = member(ld, object, "type", true)) == NULL)
		return false;
	at = path_push_key(ld, "type");
	if (!cJSON_IsString(item))
		return fail(ld, "expected a string, got %s", json_type_name(item));
	type = -1;
	for (int i = 0; estimator_types[i] != NULL; i++)
		if (strcmp(item->valuestring, estimator_types[i]) == 0)
			type = i;
	if (type < 0)
	{
		char		quoted[64];

		predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
		return fail(ld, "unsupported estimator %s", quoted);
	}
	path_set(ld, at);
	if (type == ESTIMATOR_LOGISTIC_REGRESSION ? !load_logistic_regression(ld, object) :
		!load_tree_estimator(ld, object, (estimator_type) type))
		return false;
	path_set(ld, saved);
	return true;
}

/* ---------- top level ---------- */

static const char *const top_fields[] = {
	"format", "name", "columns", "preprocessing", "estimator",
	"positive_class", "threshold", "provenance", "reference", NULL
};

static bool
load_name(loader *ld, const cJSON *item)
{
	size_t		saved = path_push_key(ld, "name");
	uint32_t	len;

	if (!expect_string(ld, item, PREDICT_MODEL_NAME_MAX, &ld->model->name, &len))
		return false;
	if (len == 0)
		return fail(ld, "expected a non-empty string");
	if (!predict_model_name_valid(ld->model->name, len))
		return fail(ld, "may contain only letters, digits, '_', '.' and '-'");
	path_set(ld, saved);
	return true;
}

static bool
load_provenance(loader *ld, const cJSON *object)
{
	static const char *const string_fields[] = {"sklearn_version", "exported_at", NULL};
	static const char *const optional_strings[] = {"exporter", "source", "pipeline", NULL};
	const cJSON *item;
	size_t		saved = path_push_key(ld, "provenance");

	if (!check_object(ld, object, NULL))
		return false;
	for (int i = 0; string_fields[i] != NULL; i++)
	{
		size_t		at;

		if ((item = member(ld, object, string_fields[i], true)) == NULL)
			return false;
		at = path_push_key(ld, string_fields[i]);
		if (!cJSON_IsString(item))
			return fail(ld, "expected a string, got %s", json_type_name(item));
		path_set(ld, at);
	}
	for (int i = 0; optional_strings[i] != NULL; i++)
		if ((item = member(ld, object, optional_strings[i], false)) != NULL &&
			!cJSON_IsString(item))
		{
			path_push_key(ld, optional_strings[i]);
			return fail(ld, "expected a string, got %s", json_type_name(item));
		}
	if ((item = member(ld, object, "training_rows", true)) == NULL)
		return false;
	if (!cJSON_IsNull(item) &&
		(!cJSON_IsNumber(item) || item->valuedouble < 0 ||
		 item->valuedouble > 9007199254740992.0 ||
		 item->valuedouble != floor(item->valuedouble)))
	{
		path_push_key(ld, "training_rows");
		return fail(ld, "expected null or a non-negative integer");
	}
	path_set(ld, saved);
	return true;
}

/* ---------- reference distributions ---------- */

/*
 * The optional "reference": what the training data looked like, for
 * monitoring (docs/model-format.md, "reference"). Scoring never reads it;
 * the loader only validates it, so that a report can trust its shape:
 * histograms whose edges increase and whose fractions are rates that add
 * up to 1, for columns of the model, each described by the kind of its type.
 */

#define REFERENCE_SUM_TOLERANCE 1e-3

static const char *const reference_fields[] = {"rows", "proba", "columns", NULL};
static const char *const reference_proba_fields[] = {"edges", "fractions", NULL};
static const char *const reference_number_fields[] = {"column", "missing", "edges", "fractions", NULL};
static const char *const reference_string_fields[] = {
	"column", "missing", "categories", "fractions", "other", NULL
};

/* A rate: a number from 0 to 1. */
static bool
expect_rate(loader *ld, const cJSON *item, double *out)
{
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= 1))
		return fail(ld, "expected a number between 0 and 1, got %s",
					cJSON_IsNumber(item) ? "a number outside it" : json_type_name(item));
	*out = item->valuedouble;
	return true;
}

/* A required rate field of object. */
static bool
load_rate(loader *ld, const cJSON *object, const char *key, double *out)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!expect_rate(ld, item, out))
		return false;
	path_set(ld, saved);
	return true;
}

/*
 * Bin edges: finite numbers in increasing order (no two equal), within
 * [lo, hi]; at least min of them. *count is their number.
 */
static bool
load_edges(loader *ld, const cJSON *object, size_t min, double lo, double hi, size_t *count)
{
	const cJSON *item = member(ld, object, "edges", true);
	size_t		saved;
	size_t		i = 0;
	double		previous = -INFINITY;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, "edges");
	if (!expect_array(ld, item, min, ld->limits.max_categories, "max_categories", count))
		return false;
	for (const cJSON *edge = item->child; edge != NULL; edge = edge->next, i++)
	{
		size_t		at = path_push_index(ld, i);
		double		x = 0;

		if (!expect_finite(ld, edge, &x))
			return false;
		if (x < lo || x > hi)
		{
			char		a[40];
			char		b[40];

			predict_format_number(a, sizeof(a), lo);
			predict_format_number(b, sizeof(b), hi);
			return fail(ld, "expected an edge between %s and %s", a, b);
		}
		if (!(x > previous))
			return fail(ld, "expected an edge greater than the previous one (edges increase)");
		previous = x;
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

/*
 * The fractions of a histogram: nbins rates ("why" says what a bin is);
 * *sum is their total, for the caller's check.
 */
static bool
load_fractions(loader *ld, const cJSON *object, size_t nbins, const char *why, double *sum)
{
	const cJSON *item = member(ld, object, "fractions", true);
	size_t		saved;
	size_t		i = 0;

	*sum = 0;
	if (item == NULL)
		return false;
	saved = path_push_key(ld, "fractions");
	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array, got %s", json_type_name(item));
	if ((size_t) cJSON_GetArraySize(item) != nbins)
		return fail(ld, "expected %zu numbers (%s), got %d", nbins, why,
					cJSON_GetArraySize(item));
	for (const cJSON *f = item->child; f != NULL; f = f->next, i++)
	{
		size_t		at = path_push_index(ld, i);
		double		x = 0;

		if (!expect_rate(ld, f, &x))
			return false;
		*sum += x;
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

/* Refuse rates that do not add up to 1 (within REFERENCE_SUM_TOLERANCE). */
static bool
check_total(loader *ld, double sum, const char *what)
{
	if (!(fabs(sum - 1.0) <= REFERENCE_SUM_TOLERANCE))
	{
		char		total[40];

		predict_format_number(total, sizeof(total), sum);
		return fail(ld, "%s add up to %s, not 1", what, total);
	}
	return true;
}

/* A string column's categories: unique strings, *count of them. */
static bool
load_reference_categories(loader *ld, const cJSON *object, size_t *count)
{
	const cJSON *item = member(ld, object, "categories", true);
	category_table table = {0};
	const char **strings;
	uint32_t   *lengths;
	size_t		saved;
	size_t		i = 0;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, "categories");
	if (!expect_array(ld, item, 0, ld->limits.max_categories, "max_categories", count))
		return false;
	strings = arena_alloc(ld->model, (*count ? *count : 1) * sizeof(char *));
	lengths = arena_alloc(ld->model, (*count ? *count : 1) * sizeof(uint32_t));
	if (strings == NULL || lengths == NULL || !table_init(ld, &table, *count))
		return fail_memory(ld);
	table.strings = strings;
	table.lengths = lengths;
	table.missing_index = -1;
	for (const cJSON *c = item->child; c != NULL; c = c->next, i++)
	{
		size_t		at = path_push_index(ld, i);
		size_t		len;

		if (!cJSON_IsString(c) || c->valuestring == NULL)
			return fail(ld, "expected a string, got %s", json_type_name(c));
		len = strlen(c->valuestring);
		if (len > ld->limits.max_string_bytes)
			return fail(ld, "string of %zu bytes is longer than %zu", len,
						ld->limits.max_string_bytes);
		strings[i] = c->valuestring;	/* only while the document is alive */
		lengths[i] = (uint32_t) len;
		if (!table_insert(&table, i))
		{
			char		quoted[64];

			predict_quote(quoted, sizeof(quoted), strings[i], len);
			return fail(ld, "duplicate category %s", quoted);
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

/* One entry of reference.columns; seen marks the columns described so far. */
static bool
load_reference_column(loader *ld, const cJSON *object, bool *seen)
{
	const cJSON *item;
	const column *col;
	size_t		saved;
	size_t		n;
	long		index;
	double		missing = 0;
	double		sum = 0;
	double		other = 0;
	char		quoted[300];

	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	if ((item = member(ld, object, "column", true)) == NULL)
		return false;
	saved = path_push_key(ld, "column");
	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return fail(ld, "expected a string, got %s", json_type_name(item));
	predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
	index = predict_model_find_column(ld->model, item->valuestring, strlen(item->valuestring));
	if (index < 0)
		return fail(ld, "unknown column %s (not in \"columns\")", quoted);
	if (seen[index])
		return fail(ld, "duplicate column %s", quoted);
	seen[index] = true;
	path_set(ld, saved);
	col = &ld->model->columns[index];

	/* the fields of the column's kind, with a hint for the other kind's */
	if (col->numeric && cJSON_GetObjectItemCaseSensitive(object, "categories") != NULL)
		return fail(ld, "column %s is a number column: its reference has \"edges\", not \"categories\"",
					quoted);
	if (!col->numeric && cJSON_GetObjectItemCaseSensitive(object, "edges") != NULL)
		return fail(ld, "column %s is a string column: its reference has \"categories\", not \"edges\"",
					quoted);
	if (!check_object(ld, object, col->numeric ? reference_number_fields : reference_string_fields))
		return false;
	if (!load_rate(ld, object, "missing", &missing))
		return false;
	if (col->numeric)
	{
		if (!load_edges(ld, object, 0, -INFINITY, INFINITY, &n) ||
			!load_fractions(ld, object, n + 1, "one per bin: one more than the edges", &sum))
			return false;
	}
	else
	{
		if (!load_reference_categories(ld, object, &n) ||
			!load_fractions(ld, object, n, "one per category", &sum) ||
			!load_rate(ld, object, "other", &other))
			return false;
	}
	return check_total(ld, missing + sum + other,
					   col->numeric ? "the missing rate and the fractions"
					   : "the missing rate, the fractions and the other rate");
}

static bool
load_reference(loader *ld, const cJSON *object)
{
	const cJSON *item;
	size_t		saved = path_push_key(ld, "reference");
	size_t		n;
	size_t		i = 0;
	double		sum = 0;
	bool	   *seen;

	if (!check_object(ld, object, reference_fields))
		return false;
	if ((item = member(ld, object, "rows", true)) == NULL)
		return false;
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= 1 && item->valuedouble <= 9007199254740992.0) ||
		item->valuedouble != floor(item->valuedouble))
	{
		path_push_key(ld, "rows");
		return fail(ld, "expected a positive integer");
	}

	if ((item = member(ld, object, "proba", true)) == NULL)
		return false;
	{
		size_t		at = path_push_key(ld, "proba");

		if (!check_object(ld, item, reference_proba_fields) ||
			!load_edges(ld, item, 1, 0.0, 1.0, &n) ||
			!load_fractions(ld, item, n + 1, "one per bin: one more than the edges", &sum) ||
			!check_total(ld, sum, "the fractions"))
			return false;
		path_set(ld, at);
	}

	if ((item = member(ld, object, "columns", true)) == NULL)
		return false;
	path_push_key(ld, "columns");
	if (!expect_array(ld, item, 0, ld->limits.max_columns, "max_columns", &n))
		return false;
	seen = arena_alloc(ld->model, ld->model->ncolumns * sizeof(bool));
	if (seen == NULL)
		return fail_memory(ld);
	memset(seen, 0, ld->model->ncolumns * sizeof(bool));
	for (const cJSON *entry = item->child; entry != NULL; entry = entry->next, i++)
	{
		size_t		at = path_push_index(ld, i);

		if (!load_reference_column(ld, entry, seen))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

static bool
load_document(loader *ld, const cJSON *root)
{
	predict_model *model = ld->model;
	const cJSON *item;

	if (!check_object(ld, root, top_fields))
		return false;
	if ((item = member(ld, root, "format", true)) == NULL)
		return false;
	if (!cJSON_IsString(item) || strcmp(item->valuestring, PREDICT_FORMAT) != 0)
	{
		path_push_key(ld, "format");
		if (cJSON_IsString(item))
		{
			char		quoted[64];

			predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
			return fail(ld, "unsupported format %s (this version reads \"%s\")",
						quoted, PREDICT_FORMAT);
		}
		return fail(ld, "expected the string \"%s\", got %s", PREDICT_FORMAT,
					json_type_name(item));
	}
	if ((item = member(ld, root, "name", true)) == NULL || !load_name(ld, item))
		return false;
	if ((item = member(ld, root, "columns", true)) == NULL || !load_columns(ld, item))
		return false;
	if ((item = member(ld, root, "preprocessing", true)) == NULL ||
		!load_preprocessing(ld, item))
		return false;
	if ((item = member(ld, root, "estimator", true)) == NULL || !load_estimator(ld, item))
		return false;
	if ((item = member(ld, root, "positive_class", true)) == NULL)
		return false;
	if (!cJSON_IsNumber(item) && !cJSON_IsString(item) && !cJSON_IsBool(item))
	{
		path_push_key(ld, "positive_class");
		return fail(ld, "expected a number, string or boolean, got %s", json_type_name(item));
	}
	if (cJSON_IsNumber(item) && !isfinite(item->valuedouble))
	{
		path_push_key(ld, "positive_class");
		return fail(ld, "expected a finite number");
	}
	model->threshold = 0.5;
	if ((item = member(ld, root, "threshold", false)) != NULL)
	{
		path_push_key(ld, "threshold");
		if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= 1))
			return fail(ld, "expected a number between 0 and 1");
		model->threshold = item->valuedouble;
		path_set(ld, 0);
	}
	if ((item = member(ld, root, "provenance", true)) == NULL || !load_provenance(ld, item))
		return false;
	if ((item = member(ld, root, "reference", false)) != NULL && !load_reference(ld, item))
		return false;
	return true;
}

predict_limits
predict_default_limits(void)
{
	predict_limits limits = {
		.max_model_bytes = PREDICT_DEFAULT_MAX_MODEL_BYTES,
		.max_columns = 10000,
		.max_blocks = 100000,
		.max_features = 1000000,
		.max_categories = 1000000,
		.max_string_bytes = 4096,
	};

	return limits;
}

predict_model *
predict_model_load(const char *json, size_t len, const predict_limits *limits,
				   const predict_allocator *allocator, predict_error *err)
{
	loader		ld = {0};
	predict_allocator alloc = {default_alloc, default_release, NULL};
	predict_model *model;
	cJSON	   *root;
	const char *end = NULL;
	const char *reason;
	size_t		offset = 0;
	bool		ok;

	if (allocator != NULL && allocator->alloc != NULL && allocator->release != NULL)
		alloc = *allocator;
	ld.limits = limits ? *limits : predict_default_limits();
	ld.err = err;
	if (json == NULL || len == 0)
	{
		predict_set_error(err, PREDICT_BAD_MODEL, "(document): empty");
		return NULL;
	}
	if (len > ld.limits.max_model_bytes)
	{
		predict_set_error(err, PREDICT_TOO_LARGE,
						  "(document): %zu bytes exceeds the limit max_model_bytes = %zu",
						  len, ld.limits.max_model_bytes);
		return NULL;
	}
	if ((reason = json_text_check(json, len, &offset)) != NULL)
	{
		predict_set_error(err, PREDICT_BAD_MODEL, "(document): %s at byte %zu", reason, offset);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (root == NULL)
	{
		offset = end != NULL && end >= json ? (size_t) (end - json) : 0;
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "(document): not valid JSON (or nested deeper than %d levels) near byte %zu",
						  CJSON_NESTING_LIMIT, offset);
		return NULL;
	}
	while (end != NULL && end < json + len && isspace((unsigned char) *end))
		end++;
	if (end == NULL || end != json + len)
	{
		cJSON_Delete(root);
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "(document): unexpected text after the JSON value at byte %zu",
						  end ? (size_t) (end - json) : 0);
		return NULL;
	}

	model = alloc.alloc(sizeof(predict_model), alloc.context);
	if (model == NULL)
	{
		cJSON_Delete(root);
		predict_set_error(err, PREDICT_NO_MEMORY, "out of memory while loading the model");
		return NULL;
	}
	memset(model, 0, sizeof(*model));
	model->allocator = alloc;
	ld.model = model;
	ok = load_document(&ld, root);
	cJSON_Delete(root);
	if (!ok)
	{
		predict_model_free(model);
		return NULL;
	}
	return model;
}

/* ---------- accessors ---------- */

const char *
predict_model_name(const predict_model *model)
{
	return model->name;
}

double
predict_model_threshold(const predict_model *model)
{
	return model->threshold;
}

size_t
predict_model_ncolumns(const predict_model *model)
{
	return model->ncolumns;
}

const char *
predict_model_column_name(const predict_model *model, size_t column)
{
	return column < model->ncolumns ? model->columns[column].name : NULL;
}

size_t
predict_model_nfeatures(const predict_model *model)
{
	return model->nfeatures;
}

bool
predict_model_classify(const predict_model *model, double proba)
{
	return proba >= model->threshold;
}
