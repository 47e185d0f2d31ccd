/*
 * load_features.c - load the optional "transforms": the feature stage
 * between the blocks and the estimator (stage.h).
 *
 * Each transform reads the previous one's outputs (the first reads the
 * blocks'), a union's parts each read the union's input. Everything is
 * flattened into operations on one work vector whose size is checked
 * against MAX_STAGE_FEATURES as it grows, so that scoring can keep it on
 * the stack. Every index is checked against the width it reads.
 */
#include <math.h>
#include <string.h>

#include "stage.h"
#include "loader.h"

static const char *const transform_types[] = {
	"select", "polynomial", "standardize", "multiply", "min_max", "linear", "normalize",
	"spline", "union", NULL
};
#define TYPE_UNION 8

static const char *const check_names[] = {"none", "finite", "no_infinity", NULL};
static const char *const norm_names[] = {"l1", "l2", "max", NULL};

static const char *const select_fields[] = {"type", "check", "indices", "features", NULL};
static const char *const polynomial_fields[] = {"type", "check", "terms", "features", NULL};
static const char *const standardize_fields[] = {"type", "check", "center", "scale", "features", NULL};
static const char *const multiply_fields[] = {"type", "check", "factor", "features", NULL};
static const char *const min_max_fields[] = {"type", "check", "scale", "min", "clip", "features", NULL};
static const char *const linear_fields[] = {"type", "check", "mean", "matrix", "divisor", "features", NULL};
static const char *const normalize_fields[] = {"type", "check", "norm", "zero_below", "features", NULL};
static const char *const spline_fields[] = {
	"type", "check", "degree", "extrapolation", "include_bias", "splines", "knots", "features", NULL
};
static const char *const extrapolation_names[] = {
	"error", "constant", "linear", "continue", "periodic", NULL
};
static const char *const union_fields[] = {"type", "parts", "weights", "features", NULL};

/* The stage being loaded. */
typedef struct stage_loader
{
	feature_stage *stage;
	transform  *ops;
	size_t		nops;
	size_t		max_ops;
	const char **names;
	uint32_t   *name_lengths;
} stage_loader;

/* Operations a list of transforms flattens to (a union: its parts', plus one). */
static size_t
count_ops(const cJSON *list)
{
	size_t		n = 0;

	if (!cJSON_IsArray(list))
		return 0;
	for (const cJSON *t = list->child; t != NULL; t = t->next)
	{
		const cJSON *parts = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "parts") : NULL;

		n++;
		if (cJSON_IsArray(parts))
			for (const cJSON *p = parts->child; p != NULL; p = p->next)
				n += count_ops(p);
	}
	return n;
}

static char *
copy_name(loader *ld, const char *s, uint32_t *length)
{
	size_t		len = strlen(s);
	char	   *copy = arena_alloc(ld->model, len + 1);

	if (copy != NULL)
		memcpy(copy, s, len);
	*length = (uint32_t) (len > UINT32_MAX ? UINT32_MAX : len);
	return copy;
}

/* Reserve n entries of the work vector; *at is the first. */
static bool
grow_work(loader *ld, stage_loader *sl, size_t n, uint32_t *at)
{
	size_t		total = (size_t) sl->stage->nwork + n;

	if (total > MAX_STAGE_FEATURES)
		return fail_limit(ld, "features in the feature stage (blocks and transforms together)",
						  total, "max_stage_features", MAX_STAGE_FEATURES);
	*at = sl->stage->nwork;
	sl->stage->nwork = (uint32_t) total;
	return true;
}

/* "features": exactly n names, for the entries from at on. */
static bool
load_names(loader *ld, stage_loader *sl, const cJSON *object, size_t n, uint32_t at)
{
	const cJSON *item = member(ld, object, "features", true);
	size_t		count;
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, "features");
	if (!expect_array(ld, item, 0, 0, NULL, &count))
		return false;
	if (count != n)
		return fail(ld, "expected %zu feature names (the transform's width), got %zu", n, count);
	item = item->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		k = path_push_index(ld, i);
		const char *name;

		if (!expect_string(ld, item, 4096, &name, &sl->name_lengths[at + i]))
			return false;
		sl->names[at + i] = name;
		path_set(ld, k);
	}
	path_set(ld, saved);
	return true;
}

/* An array of exactly n finite numbers (or null when nullable). */
static bool
load_numbers(loader *ld, const cJSON *object, const char *key, size_t n, bool nullable,
			 const double **out)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		count;
	size_t		saved;
	double	   *values;

	*out = NULL;
	if (item == NULL)
		return false;
	if (nullable && cJSON_IsNull(item))
		return true;
	saved = path_push_key(ld, key);
	if (!expect_array(ld, item, 0, 0, NULL, &count))
		return false;
	if (count != n)
		return fail(ld, "expected %zu numbers, got %zu", n, count);
	if ((values = arena_alloc(ld->model, (n ? n : 1) * sizeof(double))) == NULL)
		return fail_memory(ld);
	item = item->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		k = path_push_index(ld, i);

		if (!expect_finite(ld, item, &values[i]))
			return false;
		path_set(ld, k);
	}
	path_set(ld, saved);
	*out = values;
	return true;
}

static bool
load_enum_field(loader *ld, const cJSON *object, const char *key, const char *const *names,
				int *out)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if ((*out = expect_enum(ld, item, names)) < 0)
		return false;
	path_set(ld, saved);
	return true;
}

/* An array of indices, each below nin; returns the count in *n. */
static bool
load_indices(loader *ld, const cJSON *item, uint32_t nin, size_t min, uint32_t *out,
			 size_t *n)
{
	if (!expect_array(ld, item, min, 0, NULL, n))
		return false;
	item = item->child;
	for (size_t i = 0; i < *n; i++, item = item->next)
	{
		size_t		k = path_push_index(ld, i);
		long		v;

		if (nin == 0)
			return fail(ld, "the transform's input has no feature");
		if (!expect_integer(ld, item, 0, (double) nin - 1, "a feature index", &v))
			return false;
		out[i] = (uint32_t) v;
		path_set(ld, k);
	}
	return true;
}

static bool
load_select(loader *ld, const cJSON *object, transform *op)
{
	const cJSON *item;
	size_t		saved;
	size_t		n;
	uint32_t   *index;

	if (!check_object(ld, object, select_fields) ||
		(item = member(ld, object, "indices", true)) == NULL)
		return false;
	saved = path_push_key(ld, "indices");
	n = cJSON_IsArray(item) ? (size_t) cJSON_GetArraySize(item) : 0;
	if ((index = arena_alloc(ld->model, (n ? n : 1) * sizeof(uint32_t))) == NULL)
		return fail_memory(ld);
	if (!load_indices(ld, item, op->nin, 1, index, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		index[i] += op->in;
	path_set(ld, saved);
	op->index = index;
	op->nout = (uint32_t) n;
	return true;
}

static bool
load_polynomial(loader *ld, const cJSON *object, transform *op)
{
	const cJSON *item;
	const cJSON *term;
	size_t		saved;
	size_t		n;
	size_t		factors = 0;
	uint32_t   *start;
	uint32_t   *index;

	if (!check_object(ld, object, polynomial_fields) ||
		(item = member(ld, object, "terms", true)) == NULL)
		return false;
	saved = path_push_key(ld, "terms");
	if (!expect_array(ld, item, 1, MAX_STAGE_FEATURES, "max_stage_features", &n))
		return false;
	for (term = item->child; term != NULL; term = term->next)
		if (cJSON_IsArray(term))
			factors += (size_t) cJSON_GetArraySize(term);
	start = arena_alloc(ld->model, (n + 1) * sizeof(uint32_t));
	index = arena_alloc(ld->model, (factors ? factors : 1) * sizeof(uint32_t));
	if (start == NULL || index == NULL)
		return fail_memory(ld);
	factors = 0;
	term = item->child;
	for (size_t i = 0; i < n; i++, term = term->next)
	{
		size_t		k = path_push_index(ld, i);
		size_t		m;

		start[i] = (uint32_t) factors;
		if (!load_indices(ld, term, op->nin, 0, index + factors, &m))
			return false;
		factors += m;
		path_set(ld, k);
	}
	start[n] = (uint32_t) factors;
	path_set(ld, saved);
	op->term_start = start;
	op->index = index;
	op->nout = (uint32_t) n;
	return true;
}

static bool
load_min_max(loader *ld, const cJSON *object, transform *op)
{
	const cJSON *item;
	size_t		saved;

	if (!check_object(ld, object, min_max_fields) ||
		!load_numbers(ld, object, "scale", op->nin, false, &op->a) ||
		!load_numbers(ld, object, "min", op->nin, false, &op->b) ||
		(item = member(ld, object, "clip", true)) == NULL)
		return false;
	op->nout = op->nin;
	if (cJSON_IsNull(item))
		return true;
	saved = path_push_key(ld, "clip");
	if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2)
		return fail(ld, "expected null or [lo, hi]");
	if (!expect_finite(ld, item->child, &op->lo) || !expect_finite(ld, item->child->next, &op->hi))
		return false;
	path_set(ld, saved);
	op->has_clip = true;
	return true;
}

static bool
load_linear(loader *ld, const cJSON *object, transform *op)
{
	const cJSON *item;
	const cJSON *row;
	size_t		saved;
	size_t		n;
	double	   *matrix;

	if (!check_object(ld, object, linear_fields) ||
		!load_numbers(ld, object, "mean", op->nin, true, &op->a) ||
		(item = member(ld, object, "matrix", true)) == NULL)
		return false;
	saved = path_push_key(ld, "matrix");
	if (!expect_array(ld, item, 1, MAX_STAGE_FEATURES, "max_stage_features", &n))
		return false;
	if (op->nin == 0 || n > SIZE_MAX / sizeof(double) / op->nin)
		return fail(ld, "the transform's input has no feature");
	if ((matrix = arena_alloc(ld->model, n * op->nin * sizeof(double))) == NULL)
		return fail_memory(ld);
	row = item->child;
	for (size_t i = 0; i < n; i++, row = row->next)
	{
		size_t		k = path_push_index(ld, i);
		size_t		m;
		const cJSON *v;

		if (!expect_array(ld, row, 0, 0, NULL, &m))
			return false;
		if (m != op->nin)
			return fail(ld, "expected %u numbers (the transform's input width), got %zu",
						op->nin, m);
		v = row->child;
		for (size_t j = 0; j < m; j++, v = v->next)
		{
			size_t		e = path_push_index(ld, j);

			if (!expect_finite(ld, v, &matrix[i * op->nin + j]))
				return false;
			path_set(ld, e);
		}
		path_set(ld, k);
	}
	path_set(ld, saved);
	op->matrix = matrix;
	op->nout = (uint32_t) n;
	if (!load_numbers(ld, object, "divisor", n, true, &op->b))
		return false;
	for (size_t i = 0; op->b != NULL && i < n; i++)
		if (!(op->b[i] > 0))
		{
			path_push_key(ld, "divisor");
			path_push_index(ld, i);
			return fail(ld, "expected a positive number");
		}
	return true;
}

static bool
load_normalize(loader *ld, const cJSON *object, transform *op)
{
	int			norm;
	const cJSON *item;

	if (!check_object(ld, object, normalize_fields) ||
		!load_enum_field(ld, object, "norm", norm_names, &norm) ||
		(item = member(ld, object, "zero_below", true)) == NULL)
		return false;
	op->norm = (norm_type) norm;
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble < 1))
	{
		path_push_key(ld, "zero_below");
		return fail(ld, "expected a number from 0 to less than 1");
	}
	op->zero_below = item->valuedouble;
	op->nout = op->nin;
	return true;
}

/*
 * SplineTransformer: per input feature, the knots of a B-spline basis of
 * "splines" functions (scipy's BSpline with an identity coefficient matrix;
 * periodic: degree more rows, wrapping around).
 */
static bool
load_spline(loader *ld, const cJSON *object, transform *op)
{
	const cJSON *item;
	const cJSON *row;
	int			mode;
	long		degree;
	long		nsplines;
	size_t		saved;
	size_t		n;
	size_t		rows;
	double	   *knots;

	if (!check_object(ld, object, spline_fields) ||
		!load_enum_field(ld, object, "extrapolation", extrapolation_names, &mode) ||
		(item = member(ld, object, "degree", true)) == NULL)
		return false;
	saved = path_push_key(ld, "degree");
	if (!expect_integer(ld, item, 0, MAX_SPLINE_DEGREE, "a degree", &degree))
		return false;
	path_set(ld, saved);
	if ((item = member(ld, object, "splines", true)) == NULL)
		return false;
	saved = path_push_key(ld, "splines");
	if (!expect_integer(ld, item, 1, MAX_STAGE_FEATURES, "a number of splines", &nsplines))
		return false;
	path_set(ld, saved);
	if ((item = member(ld, object, "include_bias", true)) == NULL)
		return false;
	if (!cJSON_IsBool(item))
	{
		path_push_key(ld, "include_bias");
		return fail(ld, "expected true or false, got %s", json_type_name(item));
	}
	op->include_bias = cJSON_IsTrue(item);
	if (mode == SPLINE_LINEAR && degree <= 1)
	{
		/* scikit-learn 1.2 raises its degree for the next features too */
		path_push_key(ld, "degree");
		return fail(ld, "linear extrapolation needs a degree of 2 or more");
	}
	if (!op->include_bias && nsplines < 2)
	{
		path_push_key(ld, "splines");
		return fail(ld, "expected 2 or more splines without the bias");
	}
	rows = (size_t) nsplines + (mode == SPLINE_PERIODIC ? (size_t) degree : 0);
	if (rows < (size_t) degree + 1)
	{
		/* scipy's BSpline needs at least degree + 1 coefficients */
		path_push_key(ld, "splines");
		return fail(ld, "expected at least %ld splines for degree %ld", degree + 1, degree);
	}
	op->degree = (uint32_t) degree;
	op->nsplines = (uint32_t) nsplines;
	op->nknots = (uint32_t) (rows + (size_t) degree + 1);
	op->extrapolation = (spline_extrapolation) mode;
	if ((size_t) op->nin * (nsplines - !op->include_bias) > MAX_STAGE_FEATURES)
		return fail_limit(ld, "spline features", (size_t) op->nin * (nsplines - !op->include_bias),
						  "max_stage_features", MAX_STAGE_FEATURES);
	if ((item = member(ld, object, "knots", true)) == NULL)
		return false;
	saved = path_push_key(ld, "knots");
	if (!expect_array(ld, item, 0, 0, NULL, &n))
		return false;
	if (n != op->nin)
		return fail(ld, "expected %u arrays of knots (one per input feature), got %zu", op->nin, n);
	if ((knots = arena_alloc(ld->model, (n ? n : 1) * op->nknots * sizeof(double))) == NULL)
		return fail_memory(ld);
	row = item->child;
	for (size_t i = 0; i < n; i++, row = row->next)
	{
		size_t		k = path_push_index(ld, i);
		double	   *t = knots + i * op->nknots;
		size_t		m;
		const cJSON *v;

		if (!expect_array(ld, row, 0, 0, NULL, &m))
			return false;
		if (m != op->nknots)
			return fail(ld, "expected %u knots (splines + degree + 1%s), got %zu", op->nknots,
						mode == SPLINE_PERIODIC ? " + degree: periodic" : "", m);
		v = row->child;
		for (size_t j = 0; j < m; j++, v = v->next)
		{
			size_t		e = path_push_index(ld, j);

			if (!expect_finite(ld, v, &t[j]))
				return false;
			if (j > 0 && t[j] < t[j - 1])
				return fail(ld, "knots must not decrease");
			path_set(ld, e);
		}
		if (!(t[rows] > t[degree]))
			return fail(ld, "the knots from index %ld to %zu span nothing", degree, rows);
		path_set(ld, k);
	}
	path_set(ld, saved);
	op->a = knots;
	op->nout = op->nin * (uint32_t) (nsplines - !op->include_bias);
	return true;
}

static bool load_chain(loader *ld, stage_loader *sl, const cJSON *list, uint32_t in,
					   uint32_t nin, uint32_t *out, uint32_t *nout);

/*
 * A union: each part is a chain reading the union's input (an empty part
 * is the input itself), then one selection of the parts' outputs, in
 * order, times each part's weight.
 */
static bool
load_union(loader *ld, stage_loader *sl, const cJSON *object, uint32_t in, uint32_t nin,
		   transform *op)
{
	const cJSON *parts;
	const cJSON *part;
	const double *weights;
	size_t		nparts;
	size_t		saved;
	uint32_t   *ranges;			/* per part: first output, width (arena: unions nest) */
	size_t		total = 0;
	uint32_t   *index;
	double	   *factor = NULL;

	if (!check_object(ld, object, union_fields) ||
		(parts = member(ld, object, "parts", true)) == NULL)
		return false;
	saved = path_push_key(ld, "parts");
	if (!expect_array(ld, parts, 1, 256, "max_union_parts", &nparts))
		return false;
	if ((ranges = arena_alloc(ld->model, 2 * nparts * sizeof(uint32_t))) == NULL)
		return fail_memory(ld);
	part = parts->child;
	for (size_t i = 0; i < nparts; i++, part = part->next)
	{
		size_t		k = path_push_index(ld, i);

		if (!expect_array(ld, part, 0, 0, NULL, &total))
			return false;
		if (!load_chain(ld, sl, part, in, nin, &ranges[2 * i], &ranges[2 * i + 1]))
			return false;
		path_set(ld, k);
	}
	path_set(ld, saved);
	if (!load_numbers(ld, object, "weights", nparts, true, &weights))
		return false;
	total = 0;
	for (size_t i = 0; i < nparts; i++)
		total += ranges[2 * i + 1];
	if (total == 0)
		return fail(ld, "the union produces no feature");
	index = arena_alloc(ld->model, total * sizeof(uint32_t));
	if (weights != NULL)
		factor = arena_alloc(ld->model, total * sizeof(double));
	if (index == NULL || (weights != NULL && factor == NULL))
		return fail_memory(ld);
	total = 0;
	for (size_t i = 0; i < nparts; i++)
		for (uint32_t j = 0; j < ranges[2 * i + 1]; j++, total++)
		{
			index[total] = ranges[2 * i] + j;
			if (factor != NULL)
				factor[total] = weights[i];
		}
	op->type = TRANSFORM_SELECT;
	op->check = CHECK_NONE;
	op->in = in;
	op->nin = nin;
	op->index = index;
	op->a = factor;
	op->nout = (uint32_t) total;
	return true;
}

static bool
load_transform(loader *ld, stage_loader *sl, const cJSON *object, uint32_t in, uint32_t nin,
			   uint32_t *out, uint32_t *nout)
{
	transform	scratch = {0};
	transform  *op = &scratch;
	int			type;
	int			check = CHECK_NONE;
	bool		ok;
	char	   *path;

	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	if (!load_enum_field(ld, object, "type", transform_types, &type))
		return false;
	if (type != TYPE_UNION && !load_enum_field(ld, object, "check", check_names, &check))
		return false;
	op->type = (transform_type) type;
	op->check = (input_check) check;
	op->in = in;
	op->nin = nin;
	switch (type)
	{
		case TRANSFORM_SELECT:
			ok = load_select(ld, object, op);
			break;
		case TRANSFORM_POLYNOMIAL:
			ok = load_polynomial(ld, object, op);
			break;
		case TRANSFORM_STANDARDIZE:
			ok = check_object(ld, object, standardize_fields) &&
				load_numbers(ld, object, "center", nin, true, &op->a) &&
				load_numbers(ld, object, "scale", nin, true, &op->b);
			op->nout = nin;
			break;
		case TRANSFORM_MULTIPLY:
			ok = check_object(ld, object, multiply_fields) &&
				load_numbers(ld, object, "factor", nin, false, &op->a);
			op->nout = nin;
			break;
		case TRANSFORM_MIN_MAX:
			ok = load_min_max(ld, object, op);
			break;
		case TRANSFORM_LINEAR:
			ok = load_linear(ld, object, op);
			break;
		case TRANSFORM_NORMALIZE:
			ok = load_normalize(ld, object, op);
			break;
		case TRANSFORM_SPLINE:
			ok = load_spline(ld, object, op);
			break;
		default:
			ok = load_union(ld, sl, object, in, nin, op);
			break;
	}
	if (!ok)
		return false;
	if (op->nout == 0)
		return fail(ld, "the transform produces no feature");
	if (!grow_work(ld, sl, op->nout, &op->out) ||
		!load_names(ld, sl, object, op->nout, op->out))
		return false;
	if (sl->nops >= sl->max_ops)
		return fail(ld, "more transforms than counted");
	if ((path = arena_alloc(ld->model, ld->path_len + 1)) == NULL)
		return fail_memory(ld);
	memcpy(path, ld->path, ld->path_len);
	op->path = path;
	sl->ops[sl->nops++] = *op;
	*out = op->out;
	*nout = op->nout;
	return true;
}

/* A list of transforms, each reading the previous one's outputs. */
static bool
load_chain(loader *ld, stage_loader *sl, const cJSON *list, uint32_t in, uint32_t nin,
		   uint32_t *out, uint32_t *nout)
{
	size_t		i = 0;

	*out = in;
	*nout = nin;
	for (const cJSON *t = list->child; t != NULL; t = t->next, i++)
	{
		size_t		k = path_push_index(ld, i);

		if (!load_transform(ld, sl, t, *out, *nout, out, nout))
			return false;
		path_set(ld, k);
	}
	return true;
}

/* The blocks' feature names, the first entries of the work vector. */
static bool
load_block_names(loader *ld, stage_loader *sl, const cJSON *preprocessing)
{
	uint32_t	at = 0;

	for (const cJSON *b = preprocessing->child; b != NULL; b = b->next)
	{
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(b, "features");

		/* load_preprocessing has checked them: strings, one per feature */
		for (const cJSON *n = names->child; n != NULL; n = n->next, at++)
			if ((sl->names[at] = copy_name(ld, n->valuestring, &sl->name_lengths[at])) == NULL)
				return fail_memory(ld);
	}
	return true;
}

bool
load_features(loader *ld, const cJSON *item, const cJSON *preprocessing)
{
	predict_model *model = ld->model;
	feature_stage *stage;
	stage_loader sl = {0};
	size_t		n;
	size_t		saved = path_push_key(ld, "transforms");
	uint32_t	out;
	uint32_t	nout;

	if (!expect_array(ld, item, 1, 0, NULL, &n))
		return false;
	if (model->nfeatures > MAX_STAGE_FEATURES)
		return fail_limit(ld, "block features before the feature stage", model->nfeatures,
						  "max_stage_features", MAX_STAGE_FEATURES);
	stage = arena_alloc(model, sizeof(feature_stage));
	sl.max_ops = count_ops(item);
	sl.ops = arena_alloc(model, sl.max_ops * sizeof(transform));
	sl.names = arena_alloc(model, MAX_STAGE_FEATURES * sizeof(char *));
	sl.name_lengths = arena_alloc(model, MAX_STAGE_FEATURES * sizeof(uint32_t));
	if (stage == NULL || sl.ops == NULL || sl.names == NULL || sl.name_lengths == NULL)
		return fail_memory(ld);
	sl.stage = stage;
	stage->nblock_features = (uint32_t) model->nfeatures;
	stage->nwork = (uint32_t) model->nfeatures;
	if (!load_block_names(ld, &sl, preprocessing) ||
		!load_chain(ld, &sl, item, 0, stage->nblock_features, &out, &nout))
		return false;
	stage->transforms = sl.ops;
	stage->ntransforms = sl.nops;
	stage->names = sl.names;
	stage->name_lengths = sl.name_lengths;
	stage->final = out;
	stage->nfinal = nout;
	model->stage = stage;
	/* the estimator's parameters are checked against the stage's width */
	model->nfeatures = nout;
	path_set(ld, saved);
	return true;
}
