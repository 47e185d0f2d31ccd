/*
 * load_preprocessing.c - load the "preprocessing" blocks: one column each
 * and its chain of steps (impute, indicator, standardize, multiply,
 * min_max, one_hot, ordinal, function, power, quantile, kbins).
 *
 * Separate from the estimators: the blocks fix the feature layout
 * (model->nfeatures) that the estimator's parameters are then checked
 * against.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "loader.h"
#include "special.h"

static const char *const block_fields[] = {"column", "steps", "features", NULL};
static const char *const step_names[] = {
	"impute", "indicator", "standardize", "multiply", "min_max", "one_hot", "ordinal",
	"function", "power", "quantile", "kbins", NULL
};
static const char *const impute_fields[] = {"type", "value", NULL};
static const char *const indicator_fields[] = {"type", NULL};
static const char *const standardize_fields[] = {"type", "center", "scale", NULL};
static const char *const multiply_fields[] = {"type", "factor", NULL};
static const char *const min_max_fields[] = {"type", "scale", "min", "clip", NULL};
static const char *const one_hot_fields[] = {
	"type", "categories", "drop", "handle_unknown", "infrequent", NULL
};
static const char *const ordinal_fields[] = {
	"type", "categories", "handle_unknown", "unknown_value", "encoded_missing_value", NULL
};
static const char *const function_fields[] = {"type", "func", "validate", NULL};
static const char *const power_fields[] = {"type", "method", "lambda", NULL};
static const char *const one_hot_unknown[] = {"ignore", "error", "infrequent_if_exist", NULL};
/* in the order of step_function and power_method */
static const char *const function_names[] = {
	"log1p", "log", "sqrt", "exp", "expm1", "abs", "identity", NULL
};
static const char *const power_methods[] = {"yeo-johnson", "box-cox", NULL};
static const char *const quantile_fields[] = {"type", "output", "quantiles", "references", NULL};
static const char *const quantile_outputs[] = {"uniform", "normal", NULL};
static const char *const kbins_fields[] = {"type", "edges", "dtype", NULL};
static const char *const kbins_dtypes[] = {"float64", "float32", NULL};
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

/* The index of a JSON category in an encoder's table, or -1. */
static long
find_json_category(const category_table *table, const cJSON *item)
{
	if (cJSON_IsNull(item))
		return table->missing_index;
	if (cJSON_IsString(item))
		return table->numeric ? -1 :
			category_find_string(table, item->valuestring, strlen(item->valuestring));
	if (cJSON_IsNumber(item))
		return table->numeric ? category_find_number(table, item->valuedouble) : -1;
	return -1;
}

/*
 * OneHotEncoder's infrequent categories (min_frequency, max_categories):
 * grouped into one output feature after the frequent ones, which keep their
 * order. Sets st->groups (NULL without the field) and *outputs, the number of
 * output features before the drop.
 */
static bool
load_infrequent(loader *ld, const cJSON *object, step *st, size_t total, size_t *outputs)
{
	const cJSON *item = member(ld, object, "infrequent", false);
	const cJSON *entry;
	size_t		saved;
	size_t		n;
	size_t		frequent = 0;
	uint32_t   *groups;

	*outputs = total;
	st->groups = NULL;
	if (item == NULL)
		return true;
	saved = path_push_key(ld, "infrequent");
	if (!expect_array(ld, item, 1, total, "the number of categories", &n))
		return false;
	if ((groups = arena_alloc(ld->model, total * sizeof(uint32_t))) == NULL)
		return fail_memory(ld);
	for (size_t k = 0; k < total; k++)
		groups[k] = 0;
	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		long		k = find_json_category(st->table, entry);

		if (k < 0)
			return fail(ld, "expected one of the categories");
		if (groups[k])
			return fail(ld, "duplicate infrequent category");
		groups[k] = 1;
		path_set(ld, at);
	}
	path_set(ld, saved);
	/* _default_to_infrequent_mappings: frequent ones in order, then the group */
	for (size_t k = 0; k < total; k++)
		if (!groups[k])
			groups[k] = (uint32_t) frequent++;
		else
			groups[k] = UINT32_MAX;
	for (size_t k = 0; k < total; k++)
		if (groups[k] == UINT32_MAX)
			groups[k] = (uint32_t) frequent;
	st->groups = groups;
	st->infrequent_index = (long) frequent;
	*outputs = frequent + 1;
	return true;
}

static bool
load_one_hot(loader *ld, const cJSON *object, step *st, lane *ln)
{
	size_t		total;
	size_t		outputs;
	const cJSON *item;
	int			mode;
	size_t		width;

	if (!check_object(ld, object, one_hot_fields))
		return false;
	if ((item = member(ld, object, "categories", true)) == NULL ||
		!load_categories(ld, item, &st->table, &total) ||
		!load_infrequent(ld, object, st, total, &outputs))
		return false;
	if ((item = member(ld, object, "drop", true)) == NULL)
		return false;
	st->drop = -1;
	if (!cJSON_IsNull(item))
	{
		size_t		saved = path_push_key(ld, "drop");

		/* with infrequent categories, an index of the grouped features */
		if (!cJSON_IsNumber(item) || item->valuedouble < 0 ||
			item->valuedouble >= (double) outputs ||
			item->valuedouble != floor(item->valuedouble))
			return fail(ld, "expected null or a %s index from 0 to %zu",
						st->groups ? "feature" : "category", outputs - 1);
		st->drop = (long) item->valuedouble;
		path_set(ld, saved);
	}
	if ((item = member(ld, object, "handle_unknown", true)) == NULL)
		return false;
	{
		size_t		saved = path_push_key(ld, "handle_unknown");

		if ((mode = expect_enum(ld, item, one_hot_unknown)) < 0)
			return false;
		if (mode == 2 && st->groups == NULL)
			return fail(ld, "\"infrequent_if_exist\" needs \"infrequent\" categories "
						"(without them it is \"ignore\")");
		path_set(ld, saved);
	}
	st->unknown_is_error = (mode == 1);
	st->unknown_infrequent = (mode == 2);
	width = outputs - (st->drop >= 0 ? 1 : 0);
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

/* An enum-valued string field: its index in names, or -1 (failed). */
static int
load_enum_field(loader *ld, const cJSON *object, const char *key, const char *const *names)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;
	int			value;

	if (item == NULL)
		return -1;
	saved = path_push_key(ld, key);
	if ((value = expect_enum(ld, item, names)) < 0)
		return -1;
	path_set(ld, saved);
	return value;
}

static bool
load_function(loader *ld, const cJSON *object, step *st, lane *ln)
{
	const cJSON *item;
	int			func;

	if (!check_object(ld, object, function_fields) ||
		!require_numeric(ld, ln, "function") ||
		(func = load_enum_field(ld, object, "func", function_names)) < 0 ||
		(item = member(ld, object, "validate", true)) == NULL)
		return false;
	if (!cJSON_IsBool(item))
	{
		path_push_key(ld, "validate");
		return fail(ld, "expected a boolean, got %s", json_type_name(item));
	}
	st->function = (step_function) func;
	st->missing_is_error = cJSON_IsTrue(item);
	return true;
}

static bool
load_power(loader *ld, const cJSON *object, step *st, lane *ln)
{
	int			method;

	if (!check_object(ld, object, power_fields) ||
		!require_numeric(ld, ln, "power") ||
		(method = load_enum_field(ld, object, "method", power_methods)) < 0 ||
		!load_required_number(ld, object, "lambda", &st->a))
		return false;
	st->method = (power_method) method;
	return true;
}

/*
 * An array of at least one finite number, none smaller than the one before
 * (a search by bisection needs that), counted against max_categories.
 */
static bool
load_rising_numbers(loader *ld, const cJSON *object, const char *key, size_t min,
					double **out, size_t *count)
{
	const cJSON *item = member(ld, object, key, true);
	const cJSON *entry;
	size_t		saved;
	size_t		n;
	double	   *values;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!expect_array(ld, item, min, ld->limits.max_categories, "max_categories", &n))
		return false;
	if ((values = arena_alloc(ld->model, (n ? n : 1) * sizeof(double))) == NULL)
		return fail_memory(ld);
	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!expect_finite(ld, entry, &values[i]))
			return false;
		if (i > 0 && values[i] < values[i - 1])
			return fail(ld, "expected a number not smaller than the previous one");
		path_set(ld, at);
	}
	path_set(ld, saved);
	*out = values;
	*count = n;
	return true;
}

/* scikit-learn's BOUNDS_THRESHOLD (sklearn/preprocessing/_data.py) */
#define BOUNDS_THRESHOLD 1e-7

static bool
load_quantile(loader *ld, const cJSON *object, step *st, lane *ln)
{
	double	   *quantiles;
	double	   *references;
	size_t		nreferences;
	int			output;

	if (!check_object(ld, object, quantile_fields) ||
		!require_numeric(ld, ln, "quantile") ||
		(output = load_enum_field(ld, object, "output", quantile_outputs)) < 0 ||
		!load_rising_numbers(ld, object, "quantiles", 1, &quantiles, &st->npoints) ||
		!load_rising_numbers(ld, object, "references", 1, &references, &nreferences))
		return false;
	if (nreferences != st->npoints)
	{
		path_push_key(ld, "references");
		return fail(ld, "expected %zu numbers (one per quantile), got %zu",
					st->npoints, nreferences);
	}
	if (references[0] < 0 || references[nreferences - 1] > 1)
	{
		path_push_key(ld, "references");
		return fail(ld, "expected numbers from 0 to 1");
	}
	st->points = quantiles;
	st->levels = references;
	st->normal_output = (output == 1);
	/* _transform_col's clip: norm.ppf of BOUNDS_THRESHOLD - np.spacing(1) and 1 - that */
	st->lo = cephes_ndtri(BOUNDS_THRESHOLD - DBL_EPSILON);
	st->hi = cephes_ndtri(1 - (BOUNDS_THRESHOLD - DBL_EPSILON));
	return true;
}

static bool
load_kbins(loader *ld, const cJSON *object, step *st, lane *ln)
{
	double	   *edges;
	int			dtype;

	if (!check_object(ld, object, kbins_fields) ||
		!require_numeric(ld, ln, "kbins") ||
		!load_rising_numbers(ld, object, "edges", 0, &edges, &st->npoints) ||
		(dtype = load_enum_field(ld, object, "dtype", kbins_dtypes)) < 0)
		return false;
	st->points = edges;
	st->float32 = (dtype == 1);
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
		case STEP_FUNCTION:
			return load_function(ld, object, st, ln);
		case STEP_POWER:
			return load_power(ld, object, st, ln);
		case STEP_QUANTILE:
			return load_quantile(ld, object, st, ln);
		case STEP_KBINS:
			return load_kbins(ld, object, st, ln);
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

bool
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
