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
#include <string.h>

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

/*
 * scipy's find_interval (_bspl.pyx): the l in [k, n - 1] with
 * t[l] <= x < t[l + 1], the end intervals for x beyond them, or -1 when x
 * is beyond them and the spline does not extrapolate.
 */
static long
find_interval(const double *t, uint32_t k, uint32_t n, double x, bool extrapolate)
{
	uint32_t	l = k + 1;

	if (isnan(x))
		return -1;
	if ((x < t[k] || x > t[n]) && !extrapolate)
		return -1;
	while (x >= t[l] && l != n)
		l++;
	return (long) l - 1;
}

/*
 * scipy's _deBoor_D: the k + 1 B-splines (their m-th derivatives) that are
 * not zero at x in interval ell, into result[0 .. k]; result has 2 (k + 1)
 * entries.
 */
static void
de_boor(const double *t, double x, uint32_t k, long ell, uint32_t m, double *result)
{
	double	   *hh = result + k + 1;
	double	   *h = result;

	result[0] = 1.0;
	for (uint32_t j = 1; j <= k - m; j++)
	{
		memcpy(hh, h, j * sizeof(double));
		h[0] = 0.0;
		for (uint32_t n = 1; n <= j; n++)
		{
			double		xb = t[ell + n];
			double		xa = t[ell + n - j];
			double		w;

			if (xb == xa)
			{
				h[n] = 0.0;
				continue;
			}
			w = hh[n - 1] / (xb - xa);
			h[n - 1] += w * (xb - x);
			h[n] = w * (x - xa);
		}
	}
	for (uint32_t j = k - m + 1; j <= k; j++)
	{
		memcpy(hh, h, j * sizeof(double));
		h[0] = 0.0;
		for (uint32_t n = 1; n <= j; n++)
		{
			double		xb = t[ell + n];
			double		xa = t[ell + n - j];
			double		w;

			if (xb == xa)
			{
				h[m] = 0.0;
				continue;
			}
			w = (double) j * hh[n - 1] / (xb - xa);
			h[n - 1] -= w;
			h[n] = w;
		}
	}
}

/* A B-spline basis at x: the interval (or -1) and de Boor's values in work. */
typedef struct spline_point
{
	long		ell;
	double		work[2 * (MAX_SPLINE_DEGREE + 1)];
} spline_point;

static void
spline_at(const transform *op, const double *t, double x, uint32_t m, bool extrapolate,
		  spline_point *p)
{
	p->ell = find_interval(t, op->degree, op->nknots - op->degree - 1, x, extrapolate);
	if (p->ell >= 0)
		de_boor(t, x, op->degree, p->ell, m, p->work);
}

/*
 * evaluate_spline's value of basis function j: the sum over the nonzero
 * B-splines of its coefficient (1 or 0: the identity matrix, wrapped
 * around for periodic splines) times the B-spline, NaN outside the knots
 * without extrapolation.
 */
static double
basis_value(const transform *op, const spline_point *p, uint32_t j)
{
	double		s = 0.0;

	if (p->ell < 0)
		return NAN;
	for (uint32_t a = 0; a <= op->degree; a++)
		s = s + (((size_t) p->ell + a - op->degree) % op->nsplines == j ? 1.0 : 0.0) * p->work[a];
	return s;
}

double
spline_basis_at(const transform *op, const double *t, double x, uint32_t m, uint32_t j)
{
	spline_point p;

	spline_at(op, t, x, m, false, &p);
	return basis_value(op, &p, j);
}

/* numpy's float remainder (npy_divmod) for a positive divisor. */
static double
python_mod(double a, double b)
{
	double		mod = fmod(a, b);

	if (mod < 0)
		mod += b;
	else if (mod == 0)
		mod = 0.0;				/* copysign(0, b) */
	return mod;
}

/*
 * SplineTransformer.transform (scikit-learn 1.2) of one input feature x
 * into out[0 .. width - 1] (width: the splines, or one less without the
 * bias); false for a value beyond the knots with extrapolation "error".
 */
static bool
spline_feature(const transform *op, const double *t, double x, double *out, uint32_t width)
{
	uint32_t	k = op->degree;
	double		xmin = t[k];
	double		xmax = t[op->nknots - k - 1];
	spline_point p;
	spline_point slope;

	switch (op->extrapolation)
	{
		case SPLINE_PERIODIC:
			spline_at(op, t, xmin + python_mod(x - xmin, xmax - xmin), 0, true, &p);
			break;
		case SPLINE_CONTINUE:
			spline_at(op, t, x, 0, true, &p);
			break;
		case SPLINE_ERROR:
			spline_at(op, t, x, 0, false, &p);
			if (p.ell < 0)
				return false;
			break;
		default:
			if (!(xmin <= x && x <= xmax))
				p.ell = -1;
			else
				spline_at(op, t, x, 0, false, &p);
			break;
	}
	if (p.ell >= 0)
	{
		for (uint32_t j = 0; j < width; j++)
			out[j] = basis_value(op, &p, j);
		return true;
	}
	/* constant, linear: zeros, but the first (last) degree functions */
	for (uint32_t j = 0; j < width; j++)
		out[j] = 0.0;
	spline_at(op, t, x < xmin ? xmin : xmax, 0, false, &p);
	if (op->extrapolation == SPLINE_LINEAR)
		spline_at(op, t, x < xmin ? xmin : xmax, 1, false, &slope);	/* degree >= 2 */
	for (uint32_t i = 0; i < k; i++)
	{
		uint32_t	j = x < xmin ? i : op->nsplines - 1 - i;

		if (j >= width)
			continue;
		if (op->extrapolation == SPLINE_CONSTANT)
			out[j] = basis_value(op, &p, j);
		else
			out[j] = basis_value(op, &p, j) + (x - (x < xmin ? xmin : xmax)) * basis_value(op, &slope, j);
	}
	return true;
}

static predict_status
splines(const feature_stage *stage, const transform *op, const double *x, double *out,
		predict_error *err)
{
	uint32_t	width = op->nsplines - !op->include_bias;

	for (uint32_t i = 0; i < op->nin; i++)
		if (!spline_feature(op, op->a + (size_t) i * op->nknots, x[i], out + (size_t) i * width, width))
		{
			char		label[320];

			stage_feature_label(stage, op->in + i, label, sizeof(label));
			return predict_set_error(err, PREDICT_BAD_OBSERVATION,
									 "%s: value beyond the knots of %s (extrapolation \"error\")",
									 label, op->path);
		}
	return PREDICT_OK;
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
			case TRANSFORM_SPLINE:
				if ((status = splines(stage, op, x, out, err)) != PREDICT_OK)
					return status;
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
