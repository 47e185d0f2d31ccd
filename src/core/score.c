/*
 * score.c - score one observation with a loaded model.
 *
 * The arithmetic of every step is scikit-learn's, operation for operation
 * (docs/model-format.md), so that results are bit-identical wherever
 * scikit-learn's own order of operations is deterministic. Nothing here
 * allocates: a one-hot block costs one hash lookup whatever its width.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"
#include "model.h"
#include "special.h"

/* scikit-learn's BOUNDS_THRESHOLD (sklearn/preprocessing/_data.py) */
#define BOUNDS_THRESHOLD 1e-7
#include "pairwise.h"
#include "score.h"
#include "util.h"

/* A value flowing through a block: a string, or a float64 (NaN = missing). */
typedef struct cell
{
	bool		is_string;
	const char *string;
	size_t		length;
	double		number;
} cell;

static bool
is_python_space(unsigned char c)
{
	/*
	 * The ASCII whitespace float() strips (Py_ISSPACE); unlike str.isspace()
	 * it excludes the separators 0x1c-0x1f.
	 */
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Copy digits with single underscores between them (Python's grammar) into
 * buf; returns the number of digits, or -1 on a misplaced underscore.
 */
static long
copy_digits(const char *s, size_t len, size_t *i, char *buf, size_t *out)
{
	long		digits = 0;

	while (*i < len)
	{
		if (is_digit(s[*i]))
		{
			buf[(*out)++] = s[(*i)++];
			digits++;
		}
		else if (s[*i] == '_' && digits > 0 && *i + 1 < len && is_digit(s[*i + 1]))
			(*i)++;
		else
			break;
	}
	return digits;
}

static bool
matches_word(const char *s, size_t len, const char *word)
{
	size_t		n = strlen(word);

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 0x20) != word[i])
			return false;
	return true;
}

#define MAX_NUMERIC_STRING 512

/*
 * Parse a string as Python's float() does, for ASCII input: surrounding
 * whitespace, a sign, digits with single '_' between digits, a fraction, an
 * exponent, or inf/infinity/nan in any case. Correctly rounded (strtod).
 */
static bool
parse_float_string(const char *s, size_t len, double *out)
{
	char		buf[MAX_NUMERIC_STRING + 1];
	size_t		i = 0;
	size_t		n = 0;
	bool		negative = false;
	long		int_digits;
	long		frac_digits = 0;

	while (len > 0 && is_python_space((unsigned char) s[len - 1]))
		len--;
	while (i < len && is_python_space((unsigned char) s[i]))
		i++;
	if (len - i > MAX_NUMERIC_STRING)
		return false;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		negative = (s[i++] == '-');
	if (matches_word(s + i, len - i, "inf") || matches_word(s + i, len - i, "infinity"))
	{
		*out = negative ? -INFINITY : INFINITY;
		return true;
	}
	if (matches_word(s + i, len - i, "nan"))
	{
		*out = NAN;
		return true;
	}
	if (negative)
		buf[n++] = '-';
	int_digits = copy_digits(s, len, &i, buf, &n);
	if (i < len && s[i] == '_')
		return false;
	if (i < len && s[i] == '.')
	{
		buf[n++] = s[i++];
		if (i < len && s[i] == '_')
			return false;
		frac_digits = copy_digits(s, len, &i, buf, &n);
		if (i < len && s[i] == '_')
			return false;
	}
	if (int_digits + frac_digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		buf[n++] = s[i++];
		if (i < len && (s[i] == '+' || s[i] == '-'))
			buf[n++] = s[i++];
		if (i < len && s[i] == '_')
			return false;
		if (copy_digits(s, len, &i, buf, &n) == 0)
			return false;
	}
	if (i != len)
		return false;
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

static const char *
other_kind_name(const predict_value *value)
{
	return value->length == 1 ? "an array" : "an object";
}

predict_status
column_error(const predict_model *model, uint32_t col, predict_error *err,
			 const char *format, const char *detail)
{
	char		name[300];
	char		message[PREDICT_ERROR_SIZE];

	predict_quote(name, sizeof(name), model->columns[col].name, model->columns[col].name_length);
	snprintf(message, sizeof(message), format, detail);
	return predict_set_error(err, PREDICT_BAD_OBSERVATION, "column %s: %s", name, message);
}

/*
 * A value of a column with a pandas category dtype: astype keeps a value
 * among the categories (a string equal to a string category, a number
 * equal to a numeric one, as the category's value) and turns any other
 * into NaN: a string "3" or true for the categories [1, 2, 3], a number for
 * string ones.
 */
static predict_status
read_category_value(const predict_model *model, uint32_t col, const predict_value *value,
					cell *out, predict_error *err)
{
	const category_table *table = model->columns[col].categories;
	long		k;

	out->is_string = false;
	out->number = NAN;
	switch (value->kind)
	{
		case PREDICT_VALUE_MISSING:
		case PREDICT_VALUE_BOOL:
			return PREDICT_OK;
		case PREDICT_VALUE_NUMBER:
			if (table->numeric && (k = category_find_number(table, value->number)) >= 0)
				out->number = table->numbers[k];
			return PREDICT_OK;
		case PREDICT_VALUE_STRING:
			if (!table->numeric &&
				category_find_string(table, value->string, value->length) >= 0)
			{
				out->is_string = true;
				out->string = value->string;
				out->length = value->length;
			}
			return PREDICT_OK;
		case PREDICT_VALUE_OTHER:
			break;
	}
	return column_error(model, col, err, "expected a string or a number, got %s",
						other_kind_name(value));
}

/* Characters of a Python int() literal: ASCII whitespace, sign, digits, '_'. */
static bool
is_integer_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_python_space((unsigned char) s[i]) && !is_digit(s[i]) &&
			s[i] != '+' && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/*
 * A nullable dtype's astype refuses what the float64 reading accepts: Int64
 * an int() literal or an integral number whose float64 is within (-2^63,
 * 2^63) (at +-2^63 the JSON number may have been beyond int64), boolean
 * true/false or a number equal to 0 or 1.
 */
static predict_status
check_nullable(const predict_model *model, uint32_t col, const predict_value *value,
			   const cell *c, predict_error *err)
{
	uint8_t		rule = model->columns[col].values;
	char		shown[100];
	bool		ok;

	if (rule == COLUMN_VALUES_ANY || value->kind == PREDICT_VALUE_MISSING ||
		value->kind == PREDICT_VALUE_BOOL)
		return PREDICT_OK;
	if (rule == COLUMN_VALUES_INTEGER)
		ok = (value->kind != PREDICT_VALUE_STRING ||
			  is_integer_text(value->string, value->length)) &&
			c->number == floor(c->number) &&
			/* +-2^63 exactly could be int64's minimum or beyond it: refused */
			fabs(c->number) < 9223372036854775808.0;
	else
		ok = value->kind == PREDICT_VALUE_NUMBER && (c->number == 0 || c->number == 1);
	if (ok)
		return PREDICT_OK;
	if (value->kind == PREDICT_VALUE_STRING)
	{
		char		quoted[80];

		predict_quote(quoted, sizeof(quoted), value->string, value->length);
		snprintf(shown, sizeof(shown), "the string %s", quoted);
	}
	else
		predict_format_number(shown, sizeof(shown), c->number);
	return column_error(model, col, err,
						rule == COLUMN_VALUES_INTEGER ?
						"expected an integer (dtype Int64), got %s" :
						"expected true, false, 0 or 1 (dtype boolean), got %s", shown);
}

/* A number or string column's value, by the table of docs/model-format.md. */
static predict_status
read_plain_value(const predict_model *model, uint32_t col, const predict_value *value,
				 cell *out, predict_error *err)
{
	bool		numeric = model->columns[col].numeric;

	out->is_string = false;
	out->number = NAN;
	switch (value->kind)
	{
		case PREDICT_VALUE_MISSING:
			return PREDICT_OK;
		case PREDICT_VALUE_NUMBER:
		case PREDICT_VALUE_BOOL:
			out->number = value->number;
			return PREDICT_OK;
		case PREDICT_VALUE_STRING:
			if (!numeric)
			{
				out->is_string = true;
				out->string = value->string;
				out->length = value->length;
				return PREDICT_OK;
			}
			if (!parse_float_string(value->string, value->length, &out->number))
			{
				char		quoted[80];

				predict_quote(quoted, sizeof(quoted), value->string, value->length);
				return column_error(model, col, err,
									"expected a number, got the string %s", quoted);
			}
			return PREDICT_OK;
		case PREDICT_VALUE_OTHER:
			break;
	}
	return column_error(model, col, err,
						numeric ? "expected a number, got %s" :
						"expected a string or a number, got %s",
						other_kind_name(value));
}

/* Read a column's value the way the tutorial's astype(dtypes) does. */
static predict_status
read_value(const predict_model *model, uint32_t col, const predict_value *value,
		   cell *out, predict_error *err)
{
	predict_status status;

	if (model->columns[col].categories != NULL)
		return read_category_value(model, col, value, out, err);
	if ((status = read_plain_value(model, col, value, out, err)) != PREDICT_OK)
		return status;
	return check_nullable(model, col, value, out, err);
}

static predict_status
unknown_category(const predict_model *model, uint32_t col, const cell *c, predict_error *err)
{
	char		shown[100];

	if (c->is_string)
		predict_quote(shown, sizeof(shown), c->string, c->length);
	else if (isnan(c->number))
		snprintf(shown, sizeof(shown), "(missing)");
	else
		predict_format_number(shown, sizeof(shown), c->number);
	return column_error(model, col, err,
						"unknown category %s (the encoder's handle_unknown is \"error\")",
						shown);
}

/* The category index of a cell in an encoder's table, or -1. */
static long
find_category(const category_table *table, const cell *c)
{
	if (c->is_string)
		return category_find_string(table, c->string, c->length);
	if (isnan(c->number))
		return table->missing_index;
	return category_find_number(table, c->number);
}

/*
 * numpy's ufunc of a function step. numpy may compute these with its own
 * SIMD code, which can differ from libm in the last place; that is far
 * below the 1e-12 bound on the probability.
 */
static double
apply_function(step_function function, double x)
{
	switch (function)
	{
		case FUNCTION_LOG1P:
			return log1p(x);
		case FUNCTION_LOG:
			return log(x);
		case FUNCTION_SQRT:
			return sqrt(x);
		case FUNCTION_EXP:
			return exp(x);
		case FUNCTION_EXPM1:
			return expm1(x);
		case FUNCTION_ABS:
			return fabs(x);
		case FUNCTION_IDENTITY:
			break;
	}
	return x;
}

/*
 * PowerTransformer._yeo_johnson_transform (scikit-learn 1.2), one value:
 * NaN fails x >= 0 and comes out of the second branch as NaN.
 */
static double
yeo_johnson(double x, double lambda)
{
	if (x >= 0)
	{
		if (fabs(lambda) < DBL_EPSILON)
			return log1p(x);
		return (pow(x + 1, lambda) - 1) / lambda;
	}
	if (fabs(lambda - 2) > DBL_EPSILON)
		return -(pow(-x + 1, 2 - lambda) - 1) / (2 - lambda);
	return -log1p(-x);
}

/* scipy.special.boxcox (scipy 1.10), one value: Cephes' expm1, not libm's. */
static double
box_cox(double x, double lambda)
{
	if (fabs(lambda) < 1e-19)
		return log(x);
	return cephes_expm1(lambda * log(x)) / lambda;
}

/*
 * np.interp(x, xp, fp) for a finite x, as numpy's compiled interp computes
 * it, with xp the n points and fp the levels, or (negated) their reversed
 * negations: -points[n-1-k] and -levels[n-1-k].
 */
static double
interp(double x, const double *points, const double *levels, size_t n, bool negated)
{
#define XP(k) (negated ? -points[n - 1 - (k)] : points[k])
#define FP(k) (negated ? -levels[n - 1 - (k)] : levels[k])
	size_t		lo = 0;
	size_t		hi = n;
	size_t		j;
	double		slope;
	double		y;

	if (x > XP(n - 1))
		return FP(n - 1);
	if (x < XP(0))
		return FP(0);
	/* j: the last point <= x (binary_search_with_guess) */
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (x >= XP(mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	j = lo - 1;
	if (j == n - 1 || XP(j) == x)
		return FP(j);
	slope = (FP(j + 1) - FP(j)) / (XP(j + 1) - XP(j));
	y = slope * (x - XP(j)) + FP(j);
	if (isnan(y))
	{
		/* numpy's retry from the other end */
		y = slope * (x - XP(j + 1)) + FP(j + 1);
		if (isnan(y) && FP(j) == FP(j + 1))
			y = FP(j);
	}
	return y;
#undef XP
#undef FP
}

/* scipy.stats.norm.ppf: 0 and 1 give the infinities, (0, 1) ndtri * 1 + 0 */
static double
norm_ppf(double q)
{
	if (q == 0)
		return -INFINITY;
	if (q == 1)
		return INFINITY;
	if (q > 0 && q < 1)
		return cephes_ndtri(q) * 1.0 + 0.0;
	return NAN;
}

/* QuantileTransformer._transform_col, forward, for one value (NaN stays NaN). */
static double
quantile_transform(const step *st, double x)
{
	const double *q = st->points;
	size_t		n = st->npoints;
	bool		lower;
	bool		upper;

	if (st->normal_output)
	{
		lower = x - BOUNDS_THRESHOLD < q[0];
		upper = x + BOUNDS_THRESHOLD > q[n - 1];
	}
	else
	{
		lower = x == q[0];
		upper = x == q[n - 1];
	}
	/* the mean of both directions, in case of repeated quantiles */
	if (!isnan(x))
		x = 0.5 * (interp(x, q, st->levels, n, false) - interp(-x, q, st->levels, n, true));
	if (upper)
		x = 1;
	if (lower)
		x = 0;
	if (!st->normal_output)
		return x;
	x = norm_ppf(x);
	/* np.clip: NaN stays NaN */
	if (x < st->lo)
		x = st->lo;
	if (x > st->hi)
		x = st->hi;
	return x;
}

/* np.searchsorted(edges, x, side="right"): how many edges are <= x. */
static double
count_edges_at_or_below(const step *st, double x)
{
	size_t		lo = 0;
	size_t		hi = st->npoints;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (x >= st->points[mid])
			lo = mid + 1;
		else
			hi = mid;
	}
	return (double) lo;
}

/*
 * Run a block's scalar steps. On return, a one-hot block has *hot set to
 * the index of its hot feature (-1 for none); another block has c->number.
 */
static predict_status
run_steps(const predict_model *model, const block *blk, cell *c, long *hot,
		  predict_error *err)
{
	const step *st = &model->steps[blk->first_step];

	for (uint32_t i = 0; i < blk->nsteps; i++, st++)
	{
		long		k;

		if (st->numeric_input && isinf(c->number))
			return column_error(model, blk->column, err, "value is infinite%s", "");
		switch (st->type)
		{
			case STEP_IMPUTE:
				if (!c->is_string && isnan(c->number))
				{
					if (st->string != NULL)
					{
						c->is_string = true;
						c->string = st->string;
						c->length = st->string_length;
					}
					else
						c->number = st->a;
				}
				break;
			case STEP_INDICATOR:
				c->number = (!c->is_string && isnan(c->number)) ? 1.0 : 0.0;
				c->is_string = false;
				break;
			case STEP_STANDARDIZE:
				if (st->has_center)
					c->number = c->number - st->a;
				if (st->has_scale)
					c->number = c->number / st->b;
				break;
			case STEP_MULTIPLY:
				c->number = c->number * st->a;
				break;
			case STEP_MIN_MAX:
				c->number = c->number * st->a;
				c->number = c->number + st->b;
				/* np.clip: NaN stays NaN */
				if (st->has_clip && c->number < st->lo)
					c->number = st->lo;
				if (st->has_clip && c->number > st->hi)
					c->number = st->hi;
				break;
			case STEP_ONE_HOT:
				k = find_category(st->table, c);
				if (k < 0 && st->unknown_is_error)
					return unknown_category(model, blk->column, c, err);
				/* _map_infrequent_categories, before the drop */
				if (k < 0 && st->unknown_infrequent)
					k = st->infrequent_index;
				else if (k >= 0 && st->groups != NULL)
					k = (long) st->groups[k];
				if (k < 0 || k == st->drop)
					*hot = -1;
				else
					*hot = (st->drop >= 0 && k > st->drop) ? k - 1 : k;
				break;
			case STEP_ORDINAL:
				k = find_category(st->table, c);
				if (k < 0 && st->unknown_is_error)
					return unknown_category(model, blk->column, c, err);
				if (k < 0)
					c->number = st->b;
				else if (k == st->table->missing_index)
					c->number = st->lo;
				else
					c->number = (double) k;
				c->is_string = false;
				break;
			case STEP_FUNCTION:
				if (st->missing_is_error && isnan(c->number))
					return column_error(model, blk->column, err,
										"missing value (FunctionTransformer(validate=True) "
										"refuses NaN)%s", "");
				c->number = apply_function(st->function, c->number);
				break;
			case STEP_POWER:
				if (st->method == POWER_YEO_JOHNSON)
					c->number = yeo_johnson(c->number, st->a);
				else if (c->number <= 0)
					return column_error(model, blk->column, err,
										"value is not positive (the Box-Cox "
										"transformation needs strictly positive data)%s", "");
				else
					c->number = box_cox(c->number, st->a);
				break;
			case STEP_QUANTILE:
				c->number = quantile_transform(st, c->number);
				break;
			case STEP_KBINS:
				/* KBinsDiscretizer's check_array: NaN, and a float32 overflow, refused */
				if (isnan(c->number))
					return column_error(model, blk->column, err,
										"missing value (KBinsDiscretizer refuses NaN)%s", "");
				if (st->float32)
				{
					if (isinf((float) c->number))
						return column_error(model, blk->column, err,
											"value is too large for float32 "
											"(KBinsDiscretizer dtype=float32)%s", "");
					c->number = (double) (float) c->number;
				}
				c->number = count_edges_at_or_below(st, c->number);
				break;
		}
	}
	return PREDICT_OK;
}

/* A block's value: its column read, then its steps run (run_steps' outputs). */
static predict_status
evaluate_block(const predict_model *model, const block *blk, const predict_value *values,
			   cell *c, long *hot, predict_error *err)
{
	predict_status status;

	if ((status = read_value(model, blk->column, &values[blk->column], c, err)) != PREDICT_OK)
		return status;
	return run_steps(model, blk, c, hot, err);
}

/* scikit-learn's check_array on the estimator's input, for one feature. */
static predict_status
check_feature(const predict_model *model, const block *blk, double x, predict_error *err)
{
	if (isnan(x))
		return column_error(model, blk->column, err,
							"missing value reaches the estimator (no imputer for this column)%s", "");
	if (isinf(x))
		return column_error(model, blk->column, err, "value is infinite%s", "");
	return PREDICT_OK;
}

/* The float32 cast of the standard trees overflows: check_array's error. */
static predict_status
float32_overflow(const predict_model *model, const block *blk, predict_error *err)
{
	return column_error(model, blk->column, err,
						"value is too large for float32 (the trees compare float32 values)%s", "");
}

/*
 * predict_proba[:, 1] from the decision function, and predict_proba[:, 0]
 * into *proba0 as scikit-learn computes that column.
 */
static double
apply_link(link_type link, double d, double *proba0)
{
	double		p;

	if (link == LINK_NONE)
	{
		*proba0 = NAN;
		return NAN;				/* not reached: the loader keeps it to calibrated folds */
	}
	if (link == LINK_SOFTMAX)
	{
		/* scikit-learn's softmax of [-d, d], operation for operation */
		double		m = d > -d ? d : -d;
		double		negative = exp(-d - m);
		double		positive = exp(d - m);

		*proba0 = negative / (negative + positive);
		return positive / (negative + positive);
	}
	if (link == LINK_MODIFIED_HUBER)
	{
		/* SGDClassifier: np.clip(d, -1, 1) (NaN stays NaN), += 1, /= 2 */
		p = d < -1.0 ? -1.0 : d > 1.0 ? 1.0 : d;
		p += 1.0;
		p /= 2.0;
	}
	else
		p = 1.0 / (1.0 + exp(-d));	/* scipy.special.expit */
	/* _predict_proba_lr's 1 - prob; modified_huber's ones - prob */
	*proba0 = 1.0 - p;
	return p;
}

/*
 * A feature as the estimator sees it: gradient_boosting's init estimator
 * gets the float32 X of GradientBoostingClassifier's check (never out of
 * float32's range: that check refuses it first), and computes in float64.
 */
static inline double
estimator_input(const estimator *est, double x)
{
	return est->float32_input ? (double) (float) x : x;
}

static predict_status
score_logistic_regression(const predict_model *model, const estimator *est,
						  const predict_value *values, bool decision, estimate *out,
						  predict_error *err)
{
	double		d = 0.0;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const double *coef = est->coef + blk->first_feature;
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = evaluate_block(model, blk, values, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			if ((status = check_feature(model, blk, c.number, err)) != PREDICT_OK)
				return status;
			d += coef[0] * estimator_input(est, c.number);
		}
		else if (blk->off_all_zero)
		{
			/* the sparse product: zero features add nothing */
			if (hot >= 0)
				d += coef[hot] * estimator_input(est, blk->on_values[hot]);
		}
		else
		{
			for (uint32_t j = 0; j < blk->width; j++)
				d += coef[j] * estimator_input(est, (long) j == hot ? blk->on_values[j] :
											   blk->off_values[j]);
		}
	}
	d += est->intercept;
	out->proba = decision ? d : apply_link(est->link, d, &out->proba0);
	/* LinearClassifierMixin.predict: decision_function > 0, whatever the link */
	out->predicted = d > 0;
	if (isnan(out->proba))
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 "the decision function overflowed to NaN "
								 "(values too large for the model)");
	return PREDICT_OK;
}

/* ---------- trees ---------- */

/*
 * Evaluate every block once and write the features the trees read into
 * their slots: x32 (float32, standard trees) or x64 (float64,
 * HistGradientBoosting), whichever is not NULL. Every feature is checked as
 * scikit-learn checks the estimator's whole input, read by a tree or not:
 * the standard trees' check_array(dtype=float32) refuses NaN (unless the
 * model routes missing values), infinity and values that overflow float32;
 * HistGradientBoosting takes any float64 (force_all_finite=False).
 */
static predict_status
gather_features(const predict_model *model, const estimator *est, const predict_value *values,
				float *x32, double *x64, predict_error *err)
{
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const feature_use *use = est->uses + est->block_uses[2 * b];
		uint32_t	nuses = est->block_uses[2 * b + 1];
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = evaluate_block(model, blk, values, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			if (x64 != NULL)
			{
				if (nuses)
					x64[use->slot] = c.number;
				continue;
			}
			if (!isnan(c.number) || !est->missing_learned)
			{
				if ((status = check_feature(model, blk, c.number, err)) != PREDICT_OK)
					return status;
				if (isinf((float) c.number))
					return float32_overflow(model, blk, err);
			}
			if (nuses)
				x32[use->slot] = (float) c.number;
			continue;
		}

		/* one-hot: the off values, then the hot feature's on value */
		if (x64 != NULL)
		{
			for (uint32_t u = 0; u < nuses; u++)
				x64[use[u].slot] = blk->off_values[use[u].offset];
			if (hot >= 0 && est->feature_slot[blk->first_feature + hot] >= 0)
				x64[est->feature_slot[blk->first_feature + hot]] = blk->on_values[hot];
			continue;
		}
		/* an off value that overflows matters unless its feature is the hot one */
		if ((blk->off_too_large32 &&
			 (blk->off_too_large32 > 1 || hot != (long) blk->off_too_large32_at)) ||
			(hot >= 0 && isinf((float) blk->on_values[hot])))
			return float32_overflow(model, blk, err);
		for (uint32_t u = 0; u < nuses; u++)
			x32[use[u].slot] = (float) blk->off_values[use[u].offset];
		if (hot >= 0 && est->feature_slot[blk->first_feature + hot] >= 0)
			x32[est->feature_slot[blk->first_feature + hot]] = (float) blk->on_values[hot];
	}
	return PREDICT_OK;
}

/*
 * One step down a standard tree (scikit-learn's Tree.apply): x[f] <= threshold
 * goes left. x holds float32 values and the thresholds are the largest
 * float32 not above scikit-learn's float64 thresholds, which decides every
 * comparison as (double) (float) x <= threshold does. A leaf compares false
 * and leads to itself. No branch: the scorer's speed is bounded by the chain
 * of loads, not by mispredictions.
 */
static inline uint32_t
tree_step(const tree_node *nodes, uint32_t i, const float *x)
{
	const tree_node *n = &nodes[i];

	return n->child[(unsigned) (x[n->slot] <= n->threshold)];
}



/*
 * The leaf values of trees first .. first + count - 1 into values. Trees are
 * walked eight at a time, until all eight stand on a leaf (a leaf leads to
 * itself; a tree's leaf nodes follow its splits). The eight lanes are
 * written out with the macros below so that their indexes live in registers
 * and their independent chains of loads overlap: this is what makes a
 * forest score faster than a walk of one tree after the other. The caller
 * defines WALK_STEP(i), the next node after node i (tree_step or hist_step).
 */
#define LANES(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define LANE_START(k) uint32_t i##k = tr[k].root, l##k = i##k + tr[k].nsplits;
#define LANE_STEP(k) i##k = WALK_STEP(i##k);
#define LANE_AT_LEAF(k) & (i##k >= l##k)
#define LANE_VALUE(k) \
	values[t - first + k] = est->leaves[(int64_t) i##k + tr[k].leaf_offset]; \
	if (values0 != NULL) \
		values0[t - first + k] = est->leaves0[(int64_t) i##k + tr[k].leaf_offset];

#define WALK_TREES() \
	do { \
		size_t		t = first; \
		size_t		end = first + count; \
		\
		for (; t + 8 <= end; t += 8) \
		{ \
			const tree *tr = &est->trees[t]; \
			LANES(LANE_START) \
			do \
			{ \
				LANES(LANE_STEP) \
			} while (!(1 LANES(LANE_AT_LEAF))); \
			LANES(LANE_VALUE) \
		} \
		for (; t < end; t++) \
		{ \
			const tree *tr = &est->trees[t]; \
			uint32_t	i = tr->root; \
			\
			for (uint32_t d = 0; d < tr->depth; d++) \
				i = WALK_STEP(i); \
			values[t - first] = est->leaves[(int64_t) i + tr->leaf_offset]; \
			if (values0 != NULL) \
				values0[t - first] = est->leaves0[(int64_t) i + tr->leaf_offset]; \
		} \
	} while (0)

static void
standard_values(const estimator *est, size_t first, size_t count, const float *x,
				double *values, double *values0)
{
	const tree_node *nodes = est->nodes;

	if (!est->missing_learned)
	{
#define WALK_STEP(i) tree_step(nodes, (i), x)
		WALK_TREES();
#undef WALK_STEP
	}
	else
	{
#define WALK_STEP(i) tree_step_missing(nodes, (i), x)
		WALK_TREES();
#undef WALK_STEP
	}
}

static void
hist_values(const estimator *est, size_t first, size_t count, const double *x,
			const uint32_t *codes, double *values)
{
	double	   *values0 = NULL;

#define WALK_STEP(i) hist_step(est, (i), x, codes)
	WALK_TREES();
#undef WALK_STEP
}

#define LEAF_BATCH 256			/* leaf values summed per batch of trees */

/*
 * Add every tree's leaf value to *sum in estimators_ order, the order of
 * scikit-learn's sums (times learning_rate for gradient boosting), and when
 * sum0 is not NULL the class-0 fractions to *sum0 the same way.
 */
static void
sum_trees(const estimator *est, const float *x32, const double *x64, const uint32_t *codes,
		  double *sum, double *sum0)
{
	double		values[LEAF_BATCH];
	double		values0[LEAF_BATCH];

	for (size_t first = 0; first < est->ntrees; first += LEAF_BATCH)
	{
		size_t		n = est->ntrees - first < LEAF_BATCH ? est->ntrees - first : LEAF_BATCH;

		if (x32 != NULL)
			standard_values(est, first, n, x32, values, sum0 != NULL ? values0 : NULL);
		else
			hist_values(est, first, n, x64, codes, values);
		if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
			for (size_t k = 0; k < n; k++)
				*sum += est->learning_rate * values[k];
		else
			for (size_t k = 0; k < n; k++)
				*sum += values[k];
		if (sum0 != NULL)
			for (size_t k = 0; k < n; k++)
				*sum0 += values0[k];
	}
}

/*
 * predict() of the binomial losses (GradientBoosting's and
 * HistGradientBoosting's): argmax over [1 - p, p], the first winning ties.
 */
static bool
binomial_class(double proba)
{
	return proba > 1.0 - proba;
}

/* scipy.special.expit, as scikit-learn's binomial losses apply it. */
static double
expit(double raw)
{
	return 1.0 / (1.0 + exp(-raw));
}

/*
 * _raw_predict_init: the constant init, or the init estimator's
 * predict_proba[:, 1] np.clip'd to [eps, 1 - eps] (float32's eps; NaN
 * stays NaN), then get_init_raw_predictions' log-odds, halved for the
 * exponential loss. The caller has checked the features first, as
 * scikit-learn's float32 conversion precedes the init estimator.
 */
static predict_status
boosting_init(const predict_model *model, const estimator *est, const predict_value *values,
			  double *raw, predict_error *err)
{
	estimate	init;
	double		p;
	predict_status status;

	if (est->init_estimator == NULL)
	{
		*raw = est->init;
		return PREDICT_OK;
	}
	if ((status = score_estimator(model, est->init_estimator, values, false, &init,
								  err)) != PREDICT_OK)
		return status;
	p = init.proba;
	p = p < FLT_EPSILON ? FLT_EPSILON : p > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : p;
	*raw = est->exponential_loss ? 0.5 * log(p / (1.0 - p)) : log(p / (1.0 - p));
	return PREDICT_OK;
}

static predict_status
score_trees(const predict_model *model, const estimator *est, const predict_value *values,
			bool decision, estimate *out, predict_error *err)
{
	float		x[MAX_TREE_FEATURES];
	predict_status status;
	double		sum;
	double		sum0 = 0.0;

	x[0] = 0;					/* read by leaves when no tree splits */
	if ((status = gather_features(model, est, values, x, NULL, err)) != PREDICT_OK)
		return status;
	if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		if ((status = boosting_init(model, est, values, &sum, err)) != PREDICT_OK)
			return status;
		/* predict_stages: out += learning_rate * value, stage by stage */
		sum_trees(est, x, NULL, NULL, &sum, NULL);
		if (est->exponential_loss)
		{
			/*
			 * ExponentialLoss: _raw_prediction_to_proba is expit(2.0 * raw)
			 * (proba[:, 0] = 1 - proba[:, 1]) and
			 * _raw_prediction_to_decision is raw >= 0.
			 */
			double		p = expit(2.0 * sum);

			out->proba = decision ? sum : p;
			out->proba0 = 1.0 - p;
			out->predicted = sum >= 0;
		}
		else
		{
			double		p = expit(sum);

			out->proba = decision ? sum : p;
			/* _raw_prediction_to_proba: proba[:, 0] = 1 - proba[:, 1] */
			out->proba0 = 1.0 - p;
			out->predicted = binomial_class(p);
		}
	}
	else
	{
		/*
		 * ForestClassifier.predict_proba: each tree's class fraction added
		 * in estimators_ order to zeros, then divided by the tree count; a
		 * single decision tree is the same sum of one.
		 */
		sum = 0.0;
		sum_trees(est, x, NULL, NULL, &sum, est->leaves0 != NULL ? &sum0 : NULL);
		out->proba = sum / (double) est->ntrees;
		out->proba0 = est->leaves0 != NULL ? sum0 / (double) est->ntrees : NAN;

		/*
		 * predict(): argmax over both classes' averaged fractions, class 0
		 * summed on its own (not 1 - p), the first class winning ties. A
		 * single tree argmaxes its leaf's weighted counts, which the exporter
		 * checks order the same way as the fractions.
		 */
		out->predicted = out->proba > out->proba0;
	}
	return PREDICT_OK;
}

static predict_status
score_hist_gradient_boosting(const predict_model *model, const estimator *est,
							 const predict_value *values, bool decision, estimate *out,
							 predict_error *err)
{
	double		x[MAX_TREE_FEATURES];
	uint32_t	codes[MAX_TREE_FEATURES];
	predict_status status;
	double		raw;
	double		p;

	x[0] = 0;					/* read by leaves when no tree splits */
	if ((status = gather_features(model, est, values, NULL, x, err)) != PREDICT_OK)
		return status;
	codes[0] = 0;
	for (size_t s = 0; s < est->nslots; s++)
		codes[s] = category_code(x[s]);
	/* _raw_predict: zeros + baseline, then each iteration's predictor */
	raw = 0.0 + est->init;
	sum_trees(est, NULL, x, codes, &raw, NULL);
	p = expit(raw);
	out->proba = decision ? raw : p;
	/* HalfBinomialLoss.predict_proba: proba[:, 0] = 1 - proba[:, 1] */
	out->proba0 = 1.0 - p;
	out->predicted = binomial_class(p);
	return PREDICT_OK;
}

/*
 * XGBoost's common::Sigmoid (1.7, src/common/math.h), binary:logistic's
 * PredTransform, in float32: the exponent capped at 88.7f and a 1e-16f that
 * the float32 sum always absorbs but that is kept for the order of operations.
 */
static float
xgboost_sigmoid(float margin)
{
	float		x = 88.7f < -margin ? 88.7f : -margin;	/* std::min(-margin, 88.7f) */
	float		denom = expf(x) + 1.0f + 1e-16f;

	return 1.0f / denom;
}

/*
 * XGBClassifier.predict_proba (1.7, cpu_predictor.cc): the features cast to
 * float32, each tree walked with x < split_condition and a missing value
 * (NaN, or for sparse input any zero, which scipy does not store) sent the
 * split's default way, the leaf values added in float32 to the base margin
 * in tree order, then the sigmoid. XGBoost checks nothing: infinities and
 * values beyond float32 (cast to infinity) are compared like any other.
 */
static predict_status
score_xgboost(const predict_model *model, const estimator *est, const predict_value *values,
			  estimate *out, predict_error *err)
{
	double		x64[MAX_TREE_FEATURES];
	float		x32[MAX_TREE_FEATURES];
	double		leaf[LEAF_BATCH];
	predict_status status;
	float		margin;
	float		p;

	x64[0] = 0;					/* read by leaves when no tree splits */
	if ((status = gather_features(model, est, values, NULL, x64, err)) != PREDICT_OK)
		return status;
	x32[0] = 0;
	for (size_t s = 0; s < est->nslots; s++)
		x32[s] = (est->zero_is_missing && x64[s] == 0) ? NAN : (float) x64[s];
	margin = (float) est->init;
	for (size_t first = 0; first < est->ntrees; first += LEAF_BATCH)
	{
		size_t		n = est->ntrees - first < LEAF_BATCH ? est->ntrees - first : LEAF_BATCH;

		standard_values(est, first, n, x32, leaf, NULL);
		for (size_t k = 0; k < n; k++)
			margin = margin + (float) leaf[k];
	}
	p = xgboost_sigmoid(margin);
	out->proba = (double) p;
	/* XGBClassifier.predict_proba (binary): column 0 is 1.0 - p in float32 */
	out->proba0 = (double) (1.0f - p);
	/* XGBClassifier.predict (1.7, binary): the float32 probability > 0.5 */
	out->predicted = p > 0.5f;
	return PREDICT_OK;
}

/*
 * AdaBoostClassifier.predict_proba (scikit-learn 1.2, SAMME.R and SAMME):
 * decision_function sums each tree's per-class contribution (the loader's
 * leaf_pairs, precomputed per leaf as _samme_proba or the weighted vote
 * computes it per row) from 0 in estimators_ order, divides both sums by
 * estimator_weights_.sum(), negates class 0's and adds; then
 * _compute_proba_from_decision's softmax of [-d, d] / 2. The trees read
 * float32 features with scikit-learn's checks, as a forest's do.
 */
static predict_status
score_adaboost(const predict_model *model, const estimator *est, const predict_value *values,
			   bool decision, estimate *out, predict_error *err)
{
	float		x[MAX_TREE_FEATURES];
	double		leaf[LEAF_BATCH];
	double		negative = 0.0;
	double		positive = 0.0;
	predict_status status;
	double		d;

	x[0] = 0;					/* read by leaves when no tree splits */
	if ((status = gather_features(model, est, values, x, NULL, err)) != PREDICT_OK)
		return status;
	for (size_t first = 0; first < est->ntrees; first += LEAF_BATCH)
	{
		size_t		n = est->ntrees - first < LEAF_BATCH ? est->ntrees - first : LEAF_BATCH;

		standard_values(est, first, n, x, leaf, NULL);
		for (size_t k = 0; k < n; k++)
		{
			const double *pair = est->leaf_pairs + 2 * (size_t) leaf[k];

			negative += pair[0];
			positive += pair[1];
		}
	}
	d = -(negative / est->weight_sum) + positive / est->weight_sum;
	/* the softmax gives both columns (apply_link's proba0 is column 0) */
	out->proba = apply_link(est->link, d / 2, &out->proba0);
	if (decision)
		out->proba = d;
	/* AdaBoostClassifier.predict, two classes: classes_.take(d > 0) */
	out->predicted = d > 0;
	return PREDICT_OK;
}

/* ---------- naive Bayes ---------- */

/* One feature's term ((x - theta_) ** 2) / var_ for both classes, in order. */
static inline void
add_nb_terms(const estimator *est, size_t f, double x, pairwise_state sums[2], size_t n)
{
	for (int k = 0; k < 2; k++)
	{
		double		diff = x - est->theta[k * n + f];

		pairwise_add(&sums[k], (diff * diff) / est->var[k * n + f]);
	}
}

/*
 * GaussianNB.predict_proba: per class, jll = log prior + (log_norm - 0.5 *
 * np.sum(terms, 1)), the terms summed over all features in numpy's pairwise
 * order (pairwise.h); then np.exp(jll - logsumexp(jll)), scipy's logsumexp
 * shifting by the largest jll (0 if it is not finite).
 */
static predict_status
score_gaussian_nb(const predict_model *model, const estimator *est,
				  const predict_value *values, estimate *out, predict_error *err)
{
	size_t		n = model->nfeatures;
	pairwise_state sums[2];
	double		jll[2];
	double		m;
	double		lse;

	pairwise_start(&sums[0], &est->plan);
	pairwise_start(&sums[1], &est->plan);
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = evaluate_block(model, blk, values, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			if ((status = check_feature(model, blk, c.number, err)) != PREDICT_OK)
				return status;
			add_nb_terms(est, blk->first_feature, c.number, sums, n);
			continue;
		}
		for (uint32_t j = 0; j < blk->width; j++)
			add_nb_terms(est, blk->first_feature + j,
						 (long) j == hot ? blk->on_values[j] : blk->off_values[j], sums, n);
	}
	for (int k = 0; k < 2; k++)
		jll[k] = est->log_prior[k] + (est->log_norm[k] - 0.5 * pairwise_result(&sums[k]));
	m = jll[0] >= jll[1] || isnan(jll[0]) ? jll[0] : jll[1];	/* np.amax: NaN wins */
	if (!isfinite(m))
		m = 0.0;
	lse = log(0.0 + exp(jll[0] - m) + exp(jll[1] - m));
	lse += m;
	out->proba = exp(jll[1] - lse);
	out->proba0 = exp(jll[0] - lse);
	/* _BaseNB.predict: np.argmax(jll), the first class winning ties */
	out->predicted = jll[1] > jll[0];
	return PREDICT_OK;
}

/* ---------- a document with a feature stage ("transforms") ---------- */

predict_status
fill_block_features(const predict_model *model, const predict_value *values, double *work,
					int32_t *hots, predict_error *err)
{
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		double	   *x = work + blk->first_feature;
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = evaluate_block(model, blk, values, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			x[0] = c.number;
			continue;
		}
		for (uint32_t j = 0; j < blk->width; j++)
			x[j] = blk->off_values[j];
		if (hot >= 0)
			x[hot] = blk->on_values[hot];
		if (hots != NULL)
			hots[b] = (int32_t) hot;
	}
	return PREDICT_OK;
}

static predict_status
stage_feature_error(const feature_stage *stage, uint32_t f, predict_error *err,
					const char *message)
{
	char		label[320];

	stage_feature_label(stage, stage->final + f, label, sizeof(label));
	return predict_set_error(err, PREDICT_BAD_OBSERVATION, "%s: %s", label, message);
}

/*
 * The estimator's input check on the stage's output x, feature by feature,
 * as check_feature and gather_features check the blocks' outputs.
 */
static predict_status
check_final_features(const predict_model *model, const double *x, predict_error *err)
{
	const estimator *est = &model->estimator;
	const feature_stage *stage = model->stage;
	bool		trees32 = est->type != ESTIMATOR_LOGISTIC_REGRESSION &&
		est->type != ESTIMATOR_HIST_GRADIENT_BOOSTING;

	if (est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING)
		return PREDICT_OK;		/* force_all_finite=False */
	for (uint32_t f = 0; f < stage->nfinal; f++)
	{
		if (isnan(x[f]) && trees32 && est->missing_learned)
			continue;
		if (isnan(x[f]))
			return stage_feature_error(stage, f, err,
									   "missing value reaches the estimator");
		if (isinf(x[f]))
			return stage_feature_error(stage, f, err, "value is infinite");
		if (trees32 && isinf((float) x[f]))
			return stage_feature_error(stage, f, err,
									   "value is too large for float32 (the trees compare float32 values)");
	}
	return PREDICT_OK;
}

/*
 * The estimators on the stage's dense output. Logistic regression sums
 * every feature in order (scikit-learn's dense product is BLAS's); the
 * trees read their slots, then sum as score_trees and
 * score_hist_gradient_boosting do, and out->predicted is predict()'s class
 * as they decide it.
 */
static void
score_final_features(const predict_model *model, const double *x, estimate *out)
{
	const estimator *est = &model->estimator;
	float		x32[MAX_TREE_FEATURES];
	double		x64[MAX_TREE_FEATURES];
	uint32_t	codes[MAX_TREE_FEATURES];
	double		sum = 0.0;
	double		sum0 = 0.0;
	double		proba;

	if (est->type == ESTIMATOR_LOGISTIC_REGRESSION)
	{
		for (uint32_t f = 0; f < model->stage->nfinal; f++)
			sum += est->coef[f] * x[f];
		sum += est->intercept;
		out->predicted = sum > 0;
		out->proba = apply_link(est->link, sum, &out->proba0);
		return;
	}
	x32[0] = 0;
	x64[0] = 0;
	codes[0] = 0;
	for (uint32_t f = 0; f < model->stage->nfinal; f++)
		if (est->feature_slot[f] >= 0)
		{
			x32[est->feature_slot[f]] = (float) x[f];
			x64[est->feature_slot[f]] = x[f];
		}
	if (est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING)
	{
		for (size_t s = 0; s < est->nslots; s++)
			codes[s] = category_code(x64[s]);
		sum = 0.0 + est->init;
		sum_trees(est, NULL, x64, codes, &sum, NULL);
		proba = expit(sum);
		out->proba = proba;
		out->proba0 = 1.0 - proba;
		out->predicted = binomial_class(proba);
		return;
	}
	if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		/* a constant init: the loader refuses an init estimator after a stage */
		sum = est->init;
		sum_trees(est, x32, NULL, NULL, &sum, NULL);
		if (est->exponential_loss)
		{
			/* as score_trees: expit(2.0 * raw), and raw >= 0 for predict() */
			proba = expit(2.0 * sum);
			out->proba = proba;
			out->proba0 = 1.0 - proba;
			out->predicted = sum >= 0;
			return;
		}
		proba = expit(sum);
		out->proba = proba;
		out->proba0 = 1.0 - proba;
		out->predicted = binomial_class(proba);
		return;
	}
	sum_trees(est, x32, NULL, NULL, &sum, est->leaves0 != NULL ? &sum0 : NULL);
	out->proba = sum / (double) est->ntrees;
	out->proba0 = est->leaves0 != NULL ? sum0 / (double) est->ntrees : NAN;
	out->predicted = out->proba > out->proba0;
}

static predict_status
score_with_stage(const predict_model *model, const predict_value *values, estimate *out,
				 predict_error *err)
{
	const feature_stage *stage = model->stage;
	double		work[MAX_STAGE_FEATURES];
	predict_status status;

	if ((status = fill_block_features(model, values, work, NULL, err)) != PREDICT_OK ||
		(status = apply_feature_stage(stage, work, err)) != PREDICT_OK ||
		(status = check_final_features(model, work + stage->final, err)) != PREDICT_OK)
		return status;
	score_final_features(model, work + stage->final, out);
	return PREDICT_OK;
}

/* Whether scikit-learn's CalibratedClassifierCV calibrates decision_function. */
bool
estimator_has_decision(const estimator *est)
{
	switch (est->type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
		case ESTIMATOR_GRADIENT_BOOSTING:
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
		case ESTIMATOR_ADABOOST:
			return true;
		default:
			return false;
	}
}

/*
 * One estimator's predict_proba and predict(), or with decision its
 * decision_function (estimator_has_decision) in out->proba. The blocks are evaluated by
 * each estimator of a composite in turn: simpler than sharing them, and
 * the cost of a composite is its estimators' anyway.
 */
predict_status
score_estimator(const predict_model *model, const estimator *est, const predict_value *values,
				bool decision, estimate *out, predict_error *err)
{
	switch (est->type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
			return score_logistic_regression(model, est, values, decision, out, err);
		case ESTIMATOR_DECISION_TREE:
		case ESTIMATOR_RANDOM_FOREST:
		case ESTIMATOR_GRADIENT_BOOSTING:
			return score_trees(model, est, values, decision, out, err);
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
			return score_hist_gradient_boosting(model, est, values, decision, out, err);
		case ESTIMATOR_XGBOOST:
			return score_xgboost(model, est, values, out, err);
		case ESTIMATOR_ADABOOST:
			return score_adaboost(model, est, values, decision, out, err);
		case ESTIMATOR_GAUSSIAN_NB:
			return score_gaussian_nb(model, est, values, out, err);
		case ESTIMATOR_VOTING:
			return score_voting(model, est, values, out, err);
		case ESTIMATOR_CALIBRATED:
			return score_calibrated(model, est, values, out, err);
	}
	return predict_set_error(err, PREDICT_BAD_MODEL, "unsupported estimator");
}

predict_status
predict_score(const predict_model *model, const predict_value *values,
			  double *proba, predict_error *err)
{
	bool		predicted;

	return predict_score_class(model, values, proba, &predicted, err);
}

predict_status
predict_score_class(const predict_model *model, const predict_value *values,
					double *proba, bool *predicted, predict_error *err)
{
	predict_status status;
	estimate	result;

	/* every listed column is checked, as the tutorial's astype(dtypes) does */
	for (size_t i = 0; i < model->ncolumns; i++)
	{
		cell		c;

		if (!model->columns[i].used &&
			(status = read_value(model, (uint32_t) i, &values[i], &c, err)) != PREDICT_OK)
			return status;
	}
	if (model->stage != NULL)
		status = score_with_stage(model, values, &result, err);
	else
		status = score_estimator(model, &model->estimator, values, false, &result, err);
	if (status != PREDICT_OK)
		return status;
	*proba = result.proba;
	if (isnan(*proba))
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 "the decision function overflowed to NaN "
								 "(values too large for the model)");
	*predicted = model->sklearn_rule ? result.predicted : *proba >= model->threshold;
	return PREDICT_OK;
}
