/*
 * score_features.c - apply the feature stage (stage.h) to the work
 * vector, whose first entries the scorer has filled with the blocks'
 * outputs.
 *
 * Each transform first checks its whole input as scikit-learn's
 * check_array does for that transformer (force_all_finite), then performs
 * its float64 operations in scikit-learn's order where that order is
 * defined (products, scalers); sums that scikit-learn leaves to BLAS or
 * numpy's pairwise reductions (PCA, the l1 and l2 norms) are summed in
 * index order, which differs by a few units in the last place.
 */
#include <math.h>
#include <stdio.h>

#include "stage.h"

void
stage_feature_label(const feature_stage *stage, uint32_t i, char *buf, size_t size)
{
	char		name[300];

	predict_quote(name, sizeof(name), stage->names[i], stage->name_lengths[i]);
	snprintf(buf, size, "feature %s", name);
}

static predict_status
check_input(const feature_stage *stage, const transform *op, const double *work,
			predict_error *err)
{
	char		label[320];

	if (op->check == CHECK_NONE)
		return PREDICT_OK;
	for (uint32_t i = op->in; i < op->in + op->nin; i++)
	{
		if (isnan(work[i]) && op->check == CHECK_FINITE)
		{
			stage_feature_label(stage, i, label, sizeof(label));
			return predict_set_error(err, PREDICT_BAD_OBSERVATION,
									 "%s: missing value reaches %s, which refuses NaN",
									 label, op->path);
		}
		if (isinf(work[i]))
		{
			stage_feature_label(stage, i, label, sizeof(label));
			return predict_set_error(err, PREDICT_BAD_OBSERVATION,
									 "%s: value is infinite (%s refuses infinity)",
									 label, op->path);
		}
	}
	return PREDICT_OK;
}

/*
 * PolynomialFeatures.transform builds a term of degree d as the term of its
 * last d - 1 factors times its first factor: the factors are multiplied
 * from the last to the first.
 */
static void
polynomial(const transform *op, const double *x, double *out)
{
	for (uint32_t j = 0; j < op->nout; j++)
	{
		uint32_t	first = op->term_start[j];
		uint32_t	k = op->term_start[j + 1];
		double		p;

		if (k == first)
		{
			out[j] = 1.0;
			continue;
		}
		p = x[op->index[--k]];
		while (k > first)
			p = p * x[op->index[--k]];
		out[j] = p;
	}
}

/* _BasePCA.transform: (x - mean_) @ components_.T, then / sqrt(explained_variance_). */
static void
linear(const transform *op, const double *x, double *out)
{
	for (uint32_t j = 0; j < op->nout; j++)
	{
		const double *row = op->matrix + (size_t) j * op->nin;
		double		s = 0.0;

		for (uint32_t i = 0; i < op->nin; i++)
			s += (op->a ? x[i] - op->a[i] : x[i]) * row[i];
		out[j] = op->b ? s / op->b[j] : s;
	}
}

/* sklearn.preprocessing.normalize, row-wise: x / norm, tiny norms taken as 1. */
static void
normalize(const transform *op, const double *x, double *out)
{
	double		norm = 0.0;

	for (uint32_t i = 0; i < op->nin; i++)
	{
		double		v = fabs(x[i]);

		if (op->norm == NORM_L1)
			norm += v;
		else if (op->norm == NORM_L2)
			norm += x[i] * x[i];
		else if (v > norm)
			norm = v;
	}
	if (op->norm == NORM_L2)
		norm = sqrt(norm);
	if (norm < op->zero_below || norm == 0)
		norm = 1.0;
	for (uint32_t i = 0; i < op->nin; i++)
		out[i] = x[i] / norm;
}

static void
elementwise(const transform *op, const double *x, double *out)
{
	for (uint32_t i = 0; i < op->nin; i++)
	{
		double		v = x[i];

		switch (op->type)
		{
			case TRANSFORM_STANDARDIZE:
				if (op->a)
					v = v - op->a[i];
				if (op->b)
					v = v / op->b[i];
				break;
			case TRANSFORM_MULTIPLY:
				v = v * op->a[i];
				break;
			case TRANSFORM_MIN_MAX:
				v = v * op->a[i];
				v = v + op->b[i];
				/* np.clip: NaN stays NaN */
				if (op->has_clip && v < op->lo)
					v = op->lo;
				if (op->has_clip && v > op->hi)
					v = op->hi;
				break;
			default:
				break;
		}
		out[i] = v;
	}
}

predict_status
apply_feature_stage(const feature_stage *stage, double *work, predict_error *err)
{
	for (size_t t = 0; t < stage->ntransforms; t++)
	{
		const transform *op = &stage->transforms[t];
		const double *x = work + op->in;
		double	   *out = work + op->out;
		predict_status status;

		if ((status = check_input(stage, op, work, err)) != PREDICT_OK)
			return status;
		switch (op->type)
		{
			case TRANSFORM_SELECT:
				/* a union's weights multiply its parts' outputs */
				for (uint32_t j = 0; j < op->nout; j++)
					out[j] = op->a ? work[op->index[j]] * op->a[j] : work[op->index[j]];
				break;
			case TRANSFORM_POLYNOMIAL:
				polynomial(op, x, out);
				break;
			case TRANSFORM_LINEAR:
				linear(op, x, out);
				break;
			case TRANSFORM_NORMALIZE:
				normalize(op, x, out);
				break;
			case TRANSFORM_STANDARDIZE:
			case TRANSFORM_MULTIPLY:
			case TRANSFORM_MIN_MAX:
				elementwise(op, x, out);
				break;
		}
	}
	return PREDICT_OK;
}
