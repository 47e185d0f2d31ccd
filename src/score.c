/*
 * score.c - score one observation with a loaded model.
 *
 * The arithmetic of every step is scikit-learn's, operation for operation
 * (docs/model-format.md), so that results are bit-identical wherever
 * scikit-learn's own order of operations is deterministic. Nothing here
 * allocates: a one-hot block costs one hash lookup whatever its width.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
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

static predict_status
column_error(const predict_model *model, uint32_t col, predict_error *err,
			 const char *format, const char *detail)
{
	char		name[300];
	char		message[PREDICT_ERROR_SIZE];

	predict_quote(name, sizeof(name), model->columns[col].name, model->columns[col].name_length);
	snprintf(message, sizeof(message), format, detail);
	return predict_set_error(err, PREDICT_BAD_OBSERVATION, "column %s: %s", name, message);
}

/* Read a column's value the way the tutorial's astype(dtypes) does. */
static predict_status
read_value(const predict_model *model, uint32_t col, const predict_value *value,
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

static predict_status
unknown_category(const predict_model *model, uint32_t col, const cell *c, predict_error *err)
{
	char		shown[100];

	if (c->is_string)
		predict_quote(shown, sizeof(shown), c->string, c->length);
	else if (isnan(c->number))
		snprintf(shown, sizeof(shown), "(missing)");
	else
		snprintf(shown, sizeof(shown), "%.17g", c->number);
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
		}
	}
	return PREDICT_OK;
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

static double
apply_link(link_type link, double d)
{
	if (link == LINK_SOFTMAX)
	{
		/* scikit-learn's softmax of [-d, d], operation for operation */
		double		m = d > -d ? d : -d;
		double		negative = exp(-d - m);
		double		positive = exp(d - m);

		return positive / (negative + positive);
	}
	/* scipy.special.expit */
	return 1.0 / (1.0 + exp(-d));
}

static predict_status
score_logistic_regression(const predict_model *model, const predict_value *values,
						  double *proba, predict_error *err)
{
	const estimator *est = &model->estimator;
	double		d = 0.0;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const double *coef = est->coef + blk->first_feature;
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = read_value(model, blk->column, &values[blk->column], &c, err)) != PREDICT_OK ||
			(status = run_steps(model, blk, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			if ((status = check_feature(model, blk, c.number, err)) != PREDICT_OK)
				return status;
			d += coef[0] * c.number;
		}
		else if (blk->off_all_zero)
		{
			/* the sparse product: zero features add nothing */
			if (hot >= 0)
				d += coef[hot] * blk->on_values[hot];
		}
		else
		{
			for (uint32_t j = 0; j < blk->width; j++)
				d += coef[j] * ((long) j == hot ? blk->on_values[j] : blk->off_values[j]);
		}
	}
	d += est->intercept;
	*proba = apply_link(est->link, d);
	if (isnan(*proba))
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
gather_features(const predict_model *model, const predict_value *values,
				float *x32, double *x64, predict_error *err)
{
	const estimator *est = &model->estimator;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const feature_use *use = est->uses + blk->first_use;
		cell		c;
		long		hot = -1;
		predict_status status;

		if ((status = read_value(model, blk->column, &values[blk->column], &c, err)) != PREDICT_OK ||
			(status = run_steps(model, blk, &c, &hot, err)) != PREDICT_OK)
			return status;
		if (!blk->one_hot)
		{
			if (x64 != NULL)
			{
				if (blk->nuses)
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
			if (blk->nuses)
				x32[use->slot] = (float) c.number;
			continue;
		}

		/* one-hot: the off values, then the hot feature's on value */
		if (x64 != NULL)
		{
			for (uint32_t u = 0; u < blk->nuses; u++)
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
		for (uint32_t u = 0; u < blk->nuses; u++)
			x32[use[u].slot] = (float) blk->off_values[use[u].offset];
		if (hot >= 0 && est->feature_slot[blk->first_feature + hot] >= 0)
			x32[est->feature_slot[blk->first_feature + hot]] = (float) blk->on_values[hot];
	}
	return PREDICT_OK;
}

/*
 * The leaf of a standard tree: scikit-learn's Tree.apply, x[f] <= threshold
 * goes left. x holds float32 values and the thresholds are the largest
 * float32 not above scikit-learn's float64 thresholds, which decides every
 * comparison as (double) (float) x <= threshold does. NaN compares false
 * and goes right, unless the split learned to send missing values left
 * (scikit-learn >= 1.3).
 */
static inline const double *
tree_leaf(const estimator *est, const tree *t, const float *x)
{
	const tree_split *splits = est->splits + t->first_split;
	int32_t		i = t->root;

	if (!est->missing_learned)
		while (i >= 0)
		{
			const tree_split *s = &splits[i];

			i = x[s->slot] <= s->threshold ? s->left : s->right;
		}
	else
		while (i >= 0)
		{
			const tree_split *s = &splits[i];
			float		v = x[s->slot & SPLIT_SLOT_MASK];

			i = (v <= s->threshold || (isnan(v) && (s->slot & SPLIT_MISSING_LEFT))) ?
				s->left : s->right;
		}
	return est->leaves + t->first_leaf + ~i;
}

/*
 * A categorical value's code, as scikit-learn 1.2's compiled predictor
 * takes it from a non-negative float64: a C cast to uint8, which x86-64
 * performs as a truncation to int32 (0x80000000 when out of range) keeping
 * the low byte. So 257.9 reads as 1 and anything from 2^31 up as 0.
 */
static inline unsigned
category_code(double v)
{
	if (v < 2147483648.0)
		return (unsigned) (int32_t) v & 0xff;
	return 0;
}

/*
 * The leaf of a HistGradientBoosting tree (_predictor.pyx,
 * _predict_one_from_raw_data): NaN goes the learned missing-value way; a
 * categorical split sends a negative value the missing way and otherwise
 * looks its code up in the split's set (unknown codes already folded in);
 * a numeric split compares float64 values.
 */
static inline double
hist_tree_value(const estimator *est, const tree *t, const double *x)
{
	const hist_split *splits = est->hist_splits + t->first_split;
	int32_t		i = t->root;

	while (i >= 0)
	{
		const hist_split *s = &splits[i];
		double		v = x[s->slot];
		bool		left;

		if (isnan(v))
			left = s->missing_left;
		else if (s->categorical)
		{
			if (v < 0)
				left = s->missing_left;
			else
			{
				unsigned	code = category_code(v);

				left = (est->bitsets[8 * (size_t) s->bitset + code / 32] >> (code % 32)) & 1;
			}
		}
		else
			left = v <= s->threshold;
		i = left ? s->left : s->right;
	}
	return est->leaves[t->first_leaf + ~i];
}

/* scipy.special.expit, as scikit-learn's binomial losses apply it. */
static double
expit(double raw)
{
	return 1.0 / (1.0 + exp(-raw));
}

static predict_status
score_trees(const predict_model *model, const predict_value *values, double *proba,
			predict_error *err)
{
	const estimator *est = &model->estimator;
	float		x[MAX_TREE_FEATURES];
	predict_status status;
	double		sum;

	if ((status = gather_features(model, values, x, NULL, err)) != PREDICT_OK)
		return status;
	if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		/* predict_stages: out += learning_rate * value, stage by stage */
		sum = est->init;
		for (size_t t = 0; t < est->ntrees; t++)
			sum += est->learning_rate * *tree_leaf(est, &est->trees[t], x);
		*proba = expit(sum);
	}
	else
	{
		/*
		 * ForestClassifier.predict_proba: each tree's class fraction added
		 * in estimators_ order to zeros, then divided by the tree count; a
		 * single decision tree is the same sum of one.
		 */
		sum = 0.0;
		for (size_t t = 0; t < est->ntrees; t++)
			sum += *tree_leaf(est, &est->trees[t], x);
		*proba = sum / (double) est->ntrees;
	}
	return PREDICT_OK;
}

static predict_status
score_hist_gradient_boosting(const predict_model *model, const predict_value *values,
							 double *proba, predict_error *err)
{
	const estimator *est = &model->estimator;
	double		x[MAX_TREE_FEATURES];
	predict_status status;
	double		raw;

	if ((status = gather_features(model, values, NULL, x, err)) != PREDICT_OK)
		return status;
	/* _raw_predict: zeros + baseline, then each iteration's predictor */
	raw = 0.0 + est->init;
	for (size_t t = 0; t < est->ntrees; t++)
		raw += hist_tree_value(est, &est->trees[t], x);
	*proba = expit(raw);
	return PREDICT_OK;
}

predict_status
predict_score(const predict_model *model, const predict_value *values,
			  double *proba, predict_error *err)
{
	predict_status status;

	/* every listed column is checked, as the tutorial's astype(dtypes) does */
	for (size_t i = 0; i < model->ncolumns; i++)
	{
		cell		c;

		if (!model->columns[i].used &&
			(status = read_value(model, (uint32_t) i, &values[i], &c, err)) != PREDICT_OK)
			return status;
	}
	switch (model->estimator.type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
			return score_logistic_regression(model, values, proba, err);
		case ESTIMATOR_DECISION_TREE:
		case ESTIMATOR_RANDOM_FOREST:
		case ESTIMATOR_GRADIENT_BOOSTING:
			status = score_trees(model, values, proba, err);
			break;
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
			status = score_hist_gradient_boosting(model, values, proba, err);
			break;
	}
	if (status == PREDICT_OK && isnan(*proba))
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 "the decision function overflowed to NaN "
								 "(values too large for the model)");
	return status;
}
