/*
 * explain.c - why a model gave its score: exact, additive contributions of
 * the input columns (docs/model-format.md, "Explanations").
 *
 * An explanation decomposes the model's raw output (its log-odds, or for
 * decision trees and forests its probability) into a base and one
 * contribution per input column: coef_j (x_j - mean_j) for linear models,
 * path-dependent TreeSHAP for trees (explain_tree.c, explain_xgboost.c),
 * computed per feature the estimator reads and summed into the column that
 * feature comes from. The loader maps features to columns once
 * (map_feature_columns); a feature that mixes columns makes the model
 * unexplainable per column, and says so.
 *
 * predict_explain scores the observation first with predict_score_class,
 * so it refuses exactly what scoring refuses, then recomputes the features
 * densely into the caller's scratch: nothing is allocated per call.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "explain.h"
#include "loader.h"
#include "score.h"
#include "stage.h"

/* ---------- features to columns (at load time) ---------- */

/* The column of a feature that reads both a and b. */
static int32_t
combine_columns(int32_t a, int32_t b)
{
	if (a == FEATURE_CONSTANT)
		return b;
	if (b == FEATURE_CONSTANT || a == b)
		return a;
	return FEATURE_MIXED;
}

/* The columns of one transform's outputs, from those of its inputs. */
static void
map_transform(const transform *op, int32_t *work)
{
	const int32_t *in = work + op->in;
	int32_t    *out = work + op->out;

	for (uint32_t j = 0; j < op->nout; j++)
	{
		int32_t		c = FEATURE_CONSTANT;

		switch (op->type)
		{
			case TRANSFORM_SELECT:
				c = work[op->index[j]];
				break;
			case TRANSFORM_POLYNOMIAL:
				/* a term multiplies its factors; the empty term is the bias */
				for (uint32_t k = op->term_start[j]; k < op->term_start[j + 1]; k++)
					c = combine_columns(c, in[op->index[k]]);
				break;
			case TRANSFORM_LINEAR:
				for (uint32_t i = 0; i < op->nin; i++)
					if (op->matrix[(size_t) j * op->nin + i] != 0)
						c = combine_columns(c, in[i]);
				break;
			case TRANSFORM_NORMALIZE:
				/* each output is divided by the norm of every input */
				for (uint32_t i = 0; i < op->nin; i++)
					c = combine_columns(c, in[i]);
				break;
			case TRANSFORM_SPLINE:
				c = in[j / (op->nsplines - !op->include_bias)];
				break;
			case TRANSFORM_STANDARDIZE:
			case TRANSFORM_MULTIPLY:
			case TRANSFORM_MIN_MAX:
				c = in[j];
				break;
		}
		out[j] = c;
	}
}

/* explain_linear's contribution of feature f at the value x. */
double
linear_contribution(const predict_model *model, size_t f, double x)
{
	const estimator *est = &model->estimator;
	double		scale = est->link == LINK_SOFTMAX ? 2.0 : 1.0;

	return scale * (est->coef[f] * (x - model->feature_means[f]));
}

/*
 * model->hot_sums: a one-hot block's contributions depend only on which of
 * its features is hot, so where the block is the first to credit its
 * column (which therefore holds +0 before it), the column's sum after it is
 * one of width + 1 numbers, summed here in explain_linear's order, so the
 * same bits; a row then reads one instead of adding width of them, one
 * after the other (the Titanic pipeline's Cabin has 148).
 */
static bool
sum_hot_blocks(predict_model *model)
{
	const double **sums = arena_alloc(model, (model->nblocks ? model->nblocks : 1) * sizeof(double *));

	if (sums == NULL)
		return false;
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		bool		first = true;
		double	   *s;

		sums[b] = NULL;
		for (size_t e = 0; e < b && first; e++)
			first = model->blocks[e].column != blk->column;
		if (!blk->one_hot || !first)
			continue;
		if ((s = arena_alloc(model, ((size_t) blk->width + 1) * sizeof(double))) == NULL)
			return false;
		for (uint32_t hot = 0; hot <= blk->width; hot++)
		{
			s[hot] = 0.0;
			for (uint32_t j = 0; j < blk->width; j++)
				s[hot] += linear_contribution(model, blk->first_feature + j,
											  j == hot ? blk->on_values[j] : blk->off_values[j]);
		}
		sums[b] = s;
	}
	model->hot_sums = sums;
	return true;
}

bool
map_feature_columns(loader *ld)
{
	predict_model *model = ld->model;
	const feature_stage *stage = model->stage;
	size_t		nwork = stage != NULL ? stage->nwork : model->nfeatures;
	int32_t    *work = arena_alloc(model, (nwork ? nwork : 1) * sizeof(int32_t));

	if (work == NULL)
		return fail_memory(ld);
	for (size_t b = 0; b < model->nblocks; b++)
		for (uint32_t j = 0; j < model->blocks[b].width; j++)
			work[model->blocks[b].first_feature + j] = (int32_t) model->blocks[b].column;
	if (stage != NULL)
	{
		for (size_t t = 0; t < stage->ntransforms; t++)
			map_transform(&stage->transforms[t], work);
		work += stage->final;
	}
	model->feature_column = work;
	model->first_mixed = -1;
	/* the linear explanations' base depends on no row: intercept + coef . mean */
	if (model->estimator.type == ESTIMATOR_LOGISTIC_REGRESSION && model->feature_means != NULL)
	{
		model->linear_base = model->estimator.intercept;
		for (size_t f = 0; f < model->nfeatures; f++)
			model->linear_base += model->estimator.coef[f] * model->feature_means[f];
		if (stage == NULL && !sum_hot_blocks(model))
			return fail_memory(ld);
	}
	for (size_t f = 0; f < model->nfeatures && model->first_mixed < 0; f++)
		if (work[f] == FEATURE_MIXED)
			model->first_mixed = (long) f;
	return true;
}

/* ---------- what can be explained ---------- */

#define CANNOT "cannot explain this model: "

static bool
unsupported(predict_error *err, const char *format, const char *what)
{
	char		message[PREDICT_ERROR_SIZE];

	snprintf(message, sizeof(message), format, what);
	if (err != NULL)
		predict_set_error(err, PREDICT_UNSUPPORTED, CANNOT "%s", message);
	return false;
}

static bool
estimator_explainable(const estimator *est, predict_error *err)
{
	const char *name = estimator_type_name(est->type);

	switch (est->type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
			if (est->link == LINK_MODIFIED_HUBER)
				return unsupported(err, "a %s with the modified_huber link: its probability "
								   "is not the logistic of a sum", name);
			return true;
		case ESTIMATOR_DECISION_TREE:
		case ESTIMATOR_RANDOM_FOREST:
		case ESTIMATOR_GRADIENT_BOOSTING:
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
		case ESTIMATOR_XGBOOST:
			if (est->cover == NULL)
				return unsupported(err, "its %s trees have no \"cover\" (the training "
								   "cover of each node): export the model again with a "
								   "current predict-export (a model trained with negative "
								   "sample weights has none)", name);
			if (est->init_estimator != NULL)
				return unsupported(err, "a %s whose init is an estimator (only a constant "
								   "init)", name);
			if (est->max_depth > MAX_EXPLAIN_DEPTH)
				return unsupported(err, "a %s tree is deeper than 512 levels, the deepest "
								   "an explanation walks", name);
			return true;
		default:
			return unsupported(err, "a %s estimator has no exact per-column explanation "
							   "(logistic regression and the tree models have)", name);
	}
}

bool
predict_model_explainable(const predict_model *model, predict_error *err)
{
	const estimator *est = &model->estimator;

	if (!estimator_explainable(est, err))
		return false;
	if (est->type == ESTIMATOR_LOGISTIC_REGRESSION && model->feature_means == NULL)
		return unsupported(err, "%s explanations need the mean of each feature over the "
						   "reference data (reference.feature_means); export the model "
						   "with --reference DATA.csv", estimator_type_name(est->type));
	if (model->first_mixed >= 0)
	{
		char		label[320] = "";

		if (model->stage != NULL)
			stage_feature_label(model->stage, model->stage->final + (uint32_t) model->first_mixed,
								label, sizeof(label));
		return unsupported(err, "%s mixes several input columns (a transform such as "
						   "PCA, a normalizer or an interaction), so no column can be "
						   "credited with its part", label);
	}
	return true;
}

predict_space
predict_model_space(const predict_model *model)
{
	estimator_type type = model->estimator.type;

	return type == ESTIMATOR_DECISION_TREE || type == ESTIMATOR_RANDOM_FOREST ?
		PREDICT_SPACE_PROBABILITY : PREDICT_SPACE_LOG_ODDS;
}

const char *
predict_space_name(predict_space space)
{
	return space == PREDICT_SPACE_PROBABILITY ? "probability" : "log-odds";
}

/* ---------- scratch ---------- */

/*
 * The caller's scratch, carved in order: the dense features (the stage's
 * whole work vector if any), per-slot features and attributions for the
 * trees, and TreeSHAP's paths. Every piece is a multiple of 8 bytes.
 */
typedef struct explain_scratch
{
	double	   *work;
	double	   *phi;
	double	   *x64;
	float	   *x32;
	float	   *phi32;
	uint32_t   *codes;
	int32_t    *hots;
	double	   *poly;
	void	   *path;
} explain_scratch;

#define ROUND8(n) (((n) + 7) & ~(size_t) 7)

static size_t
carve(const predict_model *model, char *base, explain_scratch *s)
{
	const estimator *est = &model->estimator;
	size_t		nwork = model->stage != NULL ? model->stage->nwork : model->nfeatures;
	size_t		nslots = est->nslots + 1;
	size_t		npath = shap_path_elements(est->max_depth);
	size_t		at = 0;

#define TAKE(field, type, n) \
	do { \
		if (s != NULL) s->field = (type *) (base + at); \
		at += ROUND8((n) * sizeof(type)); \
	} while (0)
	TAKE(work, double, nwork + 1);
	TAKE(phi, double, nslots);
	TAKE(x64, double, nslots);
	TAKE(x32, float, nslots);
	TAKE(phi32, float, nslots);
	TAKE(codes, uint32_t, nslots);
	TAKE(hots, int32_t, model->nblocks + 1);
	TAKE(poly, double, shap_poly_doubles(est->max_depth));
	if (est->type == ESTIMATOR_XGBOOST)
		TAKE(path, xgboost_element, npath);
	else if (est->ntrees > 0)
		TAKE(path, shap_element, npath);
#undef TAKE
	return at;
}

size_t
predict_explain_scratch_size(const predict_model *model)
{
	if (!predict_model_explainable(model, NULL))
		return 8;
	return carve(model, NULL, NULL);
}

/* ---------- explaining ---------- */

/* Add a feature's contribution to its column (a constant's to the base). */
static inline void
credit(const predict_model *model, size_t f, double c, double *base, double *contributions)
{
	int32_t		col = model->feature_column[f];

	if (col >= 0)
		contributions[col] += c;
	else
		*base += c;
}

/*
 * coef_j (x_j - mean_j) per feature, and the base intercept + sum coef_j
 * mean_j; a multinomial fit's log-odds is twice its decision function.
 * Without a stage, a one-hot block's sum is read from hot_sums where it
 * has one (hots: each block's hot feature).
 */
static void
explain_linear(const predict_model *model, const double *x, const int32_t *hots,
			   double *base, double *contributions)
{
	const estimator *est = &model->estimator;
	double		scale = est->link == LINK_SOFTMAX ? 2.0 : 1.0;

	*base = scale * model->linear_base;
	if (model->stage != NULL)
	{
		for (size_t f = 0; f < model->nfeatures; f++)
			credit(model, f, linear_contribution(model, f, x[f]), base, contributions);
		return;
	}
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const double *sums = model->hot_sums[b];

		if (sums != NULL)
		{
			contributions[blk->column] = sums[hots[b] >= 0 ? (uint32_t) hots[b] : blk->width];
			continue;
		}
		for (uint32_t j = 0; j < blk->width; j++)
			credit(model, blk->first_feature + j, linear_contribution(model, blk->first_feature + j,
																	  x[blk->first_feature + j]),
				   base, contributions);
	}
}

/* Sum per-slot attributions into the columns of the features in those slots. */
static void
credit_slots(const predict_model *model, const double *phi, const float *phi32,
			 double *base, double *contributions)
{
	const estimator *est = &model->estimator;

	for (size_t f = 0; f < model->nfeatures; f++)
	{
		int32_t		slot = est->feature_slot[f];

		if (slot >= 0)
			credit(model, f, phi != NULL ? phi[slot] : (double) phi32[slot], base,
				   contributions);
	}
}

static void
explain_tree_estimator(const predict_model *model, const double *x, explain_scratch *s,
					   double *base, double *contributions)
{
	const estimator *est = &model->estimator;
	size_t		nslots = est->nslots ? est->nslots : 1;
	double		scale;

	memset(s->phi, 0, nslots * sizeof(double));
	memset(s->phi32, 0, nslots * sizeof(float));
	s->x32[0] = 0;
	s->x64[0] = 0;
	s->codes[0] = 0;
	for (size_t f = 0; f < model->nfeatures; f++)
	{
		int32_t		slot = est->feature_slot[f];

		if (slot < 0)
			continue;
		s->x64[slot] = x[f];
		s->x32[slot] = est->type == ESTIMATOR_XGBOOST && est->zero_is_missing && x[f] == 0 ?
			NAN : (float) x[f];
	}
	switch (est->type)
	{
		case ESTIMATOR_XGBOOST:
			*base = (double) explain_xgboost(est, s->x32, s->phi32, s->path);
			credit_slots(model, NULL, s->phi32, base, contributions);
			return;
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
			for (size_t k = 0; k < nslots; k++)
				s->codes[k] = category_code(s->x64[k]);
			*base = est->init + explain_trees(est, NULL, s->x64, s->codes, 1.0, s->phi, s->path,
												  s->poly);
			break;
		case ESTIMATOR_GRADIENT_BOOSTING:
			/* the exponential loss's probability is expit(2 d) */
			scale = est->exponential_loss ? 2.0 : 1.0;
			*base = scale * est->init +
				explain_trees(est, s->x32, NULL, NULL, scale * est->learning_rate, s->phi,
							  s->path, s->poly);
			break;
		default:
			/* a forest's probability is its trees' mean */
			*base = explain_trees(est, s->x32, NULL, NULL, 1.0 / (double) est->ntrees, s->phi,
								  s->path, s->poly);
			break;
	}
	credit_slots(model, s->phi, NULL, base, contributions);
}

/*
 * A row can score (its probability rounds to 0 or 1) while a contribution
 * overflows: x = 1.5e308 times a coefficient of 1.5. An infinite part
 * explains nothing and has no JSON, so such a row is refused by column.
 */
static predict_status
check_finite(const predict_model *model, double base, const double *contributions,
			 predict_error *err)
{
	for (size_t i = 0; i < model->ncolumns; i++)
		if (!isfinite(contributions[i]))
			return column_error(model, (uint32_t) i, err, "%s",
								"its contribution to the explanation overflows "
								"(a value too large to explain)");
	if (!isfinite(base))
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 "the explanation's base overflows (feature means too large)");
	return PREDICT_OK;
}

predict_status
predict_explain(const predict_model *model, const predict_value *values, void *scratch,
				double *proba, bool *predicted, double *base, double *contributions,
				predict_error *err)
{
	explain_scratch s;
	double		p;
	bool		c;
	const double *x;
	predict_status status;

	if (!predict_model_explainable(model, err))
		return PREDICT_UNSUPPORTED;
	if ((status = predict_score_class(model, values, &p, &c, err)) != PREDICT_OK)
		return status;
	if (proba != NULL)
		*proba = p;
	if (predicted != NULL)
		*predicted = c;
	carve(model, scratch, &s);
	/* scoring succeeded, so every feature computes as it did there */
	if ((status = fill_block_features(model, values, s.work, s.hots, err)) != PREDICT_OK)
		return status;
	x = s.work;
	if (model->stage != NULL)
	{
		if ((status = apply_feature_stage(model->stage, s.work, err)) != PREDICT_OK)
			return status;
		x = s.work + model->stage->final;
	}
	memset(contributions, 0, model->ncolumns * sizeof(double));
	if (model->estimator.type == ESTIMATOR_LOGISTIC_REGRESSION)
		explain_linear(model, x, s.hots, base, contributions);
	else
		explain_tree_estimator(model, x, &s, base, contributions);
	return check_finite(model, *base, contributions, err);
}

/* ---------- the explanation's JSON and a notice's reasons ---------- */

/*
 * The writers gather their pieces (two dozen for the Titanic explanation)
 * here and hand the caller's sink a few large ones: a sink call per piece
 * cost about as much as explaining.
 */
typedef struct gathered
{
	predict_append_fn append;	/* the caller's */
	void	   *sink;
	size_t		n;
	char		buf[1024];
} gathered;

static void
gathered_flush(gathered *g)
{
	if (g->n > 0)
		g->append(g->sink, g->buf, g->n);
	g->n = 0;
}

/* A predict_append_fn over a gathered. */
static void
gather(void *sink, const char *s, size_t n)
{
	gathered   *g = (gathered *) sink;

	if (g->n + n > sizeof(g->buf))
	{
		gathered_flush(g);
		if (n > sizeof(g->buf))
		{
			g->append(g->sink, s, n);
			return;
		}
	}
	memcpy(g->buf + g->n, s, n);
	g->n += n;
}

static void
append_text(predict_append_fn append, void *sink, const char *s)
{
	append(sink, s, strlen(s));
}

static void
append_number(predict_append_fn append, void *sink, double x)
{
	char		buf[40];

	predict_format_number(buf, sizeof(buf), x);
	append_text(append, sink, buf);
}

void
predict_explanation_json(const predict_model *model, double base, const double *contributions,
						 predict_append_fn caller_append, void *caller_sink)
{
	gathered	g;
	predict_append_fn append = gather;
	void	   *sink = &g;

	g.append = caller_append;
	g.sink = caller_sink;
	g.n = 0;

	append_text(append, sink, "{\"space\": \"");
	append_text(append, sink, predict_space_name(predict_model_space(model)));
	append_text(append, sink, "\", \"base\": ");
	append_number(append, sink, base);
	append_text(append, sink, ", \"contributions\": {");
	for (size_t i = 0; i < model->ncolumns; i++)
	{
		if (i > 0)
			append_text(append, sink, ", ");
		predict_json_string(model->columns[i].name, model->columns[i].name_length, append, sink);
		append_text(append, sink, ": ");
		append_number(append, sink, contributions[i]);
	}
	append_text(append, sink, "}}");
	gathered_flush(&g);
}

size_t
predict_lowest_contributions(const double *contributions, size_t ncolumns, size_t k,
							 size_t *columns)
{
	size_t		n = 0;

	/* insertion into the k most negative so far: k is a handful */
	for (size_t i = 0; i < ncolumns; i++)
	{
		size_t		at;

		if (!(contributions[i] < 0))
			continue;
		at = n < k ? n++ : k;
		while (at > 0 && contributions[columns[at - 1]] > contributions[i])
		{
			if (at < k)
				columns[at] = columns[at - 1];
			at--;
		}
		if (at < k)
			columns[at] = i;
	}
	return n;
}

/* An observation's value as JSON (strings as they came, numbers re-printed). */
static void
append_value(const predict_value *v, predict_append_fn append, void *sink)
{
	switch (v->kind)
	{
		case PREDICT_VALUE_NUMBER:
			/* 1e400 reads as infinity, which JSON has no number for */
			if (!isfinite(v->number))
				append_text(append, sink, v->number > 0 ? "\"Infinity\"" : "\"-Infinity\"");
			else
				append_number(append, sink, v->number);
			break;
		case PREDICT_VALUE_BOOL:
			append_text(append, sink, v->number != 0 ? "true" : "false");
			break;
		case PREDICT_VALUE_STRING:
			predict_json_string(v->string, v->length, append, sink);
			break;
		default:
			/* scoring refuses objects and arrays: only a missing value is left */
			append_text(append, sink, "null");
			break;
	}
}

void
predict_reasons_json(const predict_model *model, const predict_value *values,
					 const double *contributions, size_t k, predict_append_fn caller_append,
					 void *caller_sink)
{
	gathered	g;
	predict_append_fn append = gather;
	void	   *sink = &g;
	size_t		columns[PREDICT_MAX_REASONS];
	size_t		n;

	g.append = caller_append;
	g.sink = caller_sink;
	g.n = 0;

	n = predict_lowest_contributions(contributions, model->ncolumns,
									 k < PREDICT_MAX_REASONS ? k : PREDICT_MAX_REASONS, columns);
	append_text(append, sink, "[");
	for (size_t i = 0; i < n; i++)
	{
		const column *col = &model->columns[columns[i]];

		append_text(append, sink, i > 0 ? ", {\"column\": " : "{\"column\": ");
		predict_json_string(col->name, col->name_length, append, sink);
		append_text(append, sink, ", \"value\": ");
		append_value(&values[columns[i]], append, sink);
		append_text(append, sink, ", \"contribution\": ");
		append_number(append, sink, contributions[columns[i]]);
		append_text(append, sink, "}");
	}
	append_text(append, sink, "]");
	gathered_flush(&g);
}
