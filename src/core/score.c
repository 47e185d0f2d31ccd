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

		if ((status = read_value(model, blk->column, &values[blk->column], &c, err)) != PREDICT_OK ||
			(status = run_steps(model, blk, &c, &hot, err)) != PREDICT_OK)
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
 * The same when the trees route missing values (scikit-learn >= 1.3): NaN
 * compares false and goes right unless the split learned to send it left.
 * (Kept apart: the extra test costs 13% on models that reject NaN.)
 */
static inline uint32_t
tree_step_missing(const tree_node *nodes, uint32_t i, const float *x)
{
	const tree_node *n = &nodes[i];
	float		v = x[n->slot & NODE_SLOT_MASK];

	return n->child[(unsigned) (v <= n->threshold) | ((unsigned) (v != v) & (n->slot >> 31))];
}

/*
 * One step down a HistGradientBoosting tree (_predictor.pyx,
 * _predict_one_from_raw_data): a numeric split compares float64 values and
 * sends NaN the learned missing-value way, without a branch; a categorical
 * split looks up the feature's category code (precomputed per row, see
 * category_code) in its bitset, whose code CATEGORY_MISSING is the
 * missing-value way. Testing the kind of split with a branch keeps the
 * bitset's load off the numeric splits' chain of loads: measured 25% faster
 * than selecting between both results, categorical features included.
 */
static inline uint32_t
hist_step(const estimator *est, uint32_t i, const double *x, const uint32_t *codes)
{
	const hist_node *n = &est->hist_nodes[i];
	uint32_t	slot = n->slot & NODE_SLOT_MASK;
	double		v;

	if (n->slot & NODE_CATEGORICAL)
	{
		uint32_t	code = codes[slot];

		return n->child[(est->bitsets[BITSET_WORDS * (size_t) n->bitset + code / 32] >>
						 (code % 32)) & 1];
	}
	v = x[slot];
	return n->child[(unsigned) (v <= n->threshold) | ((unsigned) (v != v) & (n->slot >> 31))];
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

/*
 * A categorical value's code, as scikit-learn 1.2's compiled predictor
 * takes it from a float64: NaN and negative values are missing; otherwise a
 * C cast to uint8, which x86-64 performs as a truncation to int32
 * (0x80000000 when out of range) keeping the low byte. So 257.9 reads as 1
 * and anything from 2^31 up, +inf included, as 0.
 */
static inline uint32_t
category_code(double v)
{
	if (!(v >= 0))
		return CATEGORY_MISSING;
	if (v < 2147483648.0)
		return (uint32_t) (int32_t) v & 0xff;
	return 0;
}

/* scipy.special.expit, as scikit-learn's binomial losses apply it. */
static double
expit(double raw)
{
	return 1.0 / (1.0 + exp(-raw));
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
		/* predict_stages: out += learning_rate * value, stage by stage */
		sum = est->init;
		sum_trees(est, x, NULL, NULL, &sum, NULL);
		out->proba = decision ? sum : expit(sum);
		/* _raw_prediction_to_proba: proba[:, 0] = 1 - proba[:, 1] */
		out->proba0 = 1.0 - out->proba;
		out->predicted = binomial_class(out->proba);
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

	x[0] = 0;					/* read by leaves when no tree splits */
	if ((status = gather_features(model, est, values, NULL, x, err)) != PREDICT_OK)
		return status;
	codes[0] = 0;
	for (size_t s = 0; s < est->nslots; s++)
		codes[s] = category_code(x[s]);
	/* _raw_predict: zeros + baseline, then each iteration's predictor */
	raw = 0.0 + est->init;
	sum_trees(est, NULL, x, codes, &raw, NULL);
	out->proba = decision ? raw : expit(raw);
	/* HalfBinomialLoss.predict_proba: proba[:, 0] = 1 - proba[:, 1] */
	out->proba0 = 1.0 - out->proba;
	out->predicted = binomial_class(out->proba);
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

		if ((status = read_value(model, blk->column, &values[blk->column], &c, err)) != PREDICT_OK ||
			(status = run_steps(model, blk, &c, &hot, err)) != PREDICT_OK)
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

/* Whether scikit-learn's CalibratedClassifierCV calibrates decision_function. */
bool
estimator_has_decision(const estimator *est)
{
	switch (est->type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
		case ESTIMATOR_GRADIENT_BOOSTING:
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
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
