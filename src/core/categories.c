/*
 * categories.c - the category hash tables: the encoders' categories and
 * the column index.
 *
 * Loading builds them and scoring looks values up in them
 * (category_find_string, category_find_number, declared in model.h), so
 * the hashing is kept in one file, apart from both.
 */
#include <math.h>
#include <string.h>

#include "loader.h"

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
bool
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
bool
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
bool
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
