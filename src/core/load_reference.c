/*
 * load_reference.c - validate the optional "reference" of a model: the
 * training data's distributions, for monitoring.
 *
 * Scoring never reads it, so it is apart from everything scoring depends
 * on; explanations read its feature means.
 */
#include <math.h>
#include <string.h>

#include "loader.h"

/*
 * The optional "reference": what the training data looked like, for
 * monitoring (docs/model-format.md, "reference"). Scoring never reads it;
 * the loader only validates it, so that a report can trust its shape:
 * histograms whose edges increase and whose fractions are rates that add
 * up to 1, for columns of the model, each described by the kind of its type.
 */

#define REFERENCE_SUM_TOLERANCE 1e-3

static const char *const reference_fields[] = {"rows", "proba", "columns", "feature_means", NULL};
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

bool
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
	path_push_key(ld, "reference");

	/* the linear explanations' reference point: one mean per feature */
	if (member(ld, object, "feature_means", false) != NULL &&
		!load_number_array(ld, object, "feature_means", ld->model->nfeatures, 0, 0, NULL,
						   (double **) &ld->model->feature_means, NULL))
		return false;
	path_set(ld, saved);
	return true;
}
