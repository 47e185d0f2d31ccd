/*
 * score_ensemble.c - the combiners of the composite estimators: a soft
 * VotingClassifier and CalibratedClassifierCV, operation for operation
 * (scikit-learn 1.2's ensemble/_voting.py and calibration.py, numpy's
 * average, scipy's expit and numpy's interp; docs/model-format.md).
 *
 * Each combined estimator is scored by score_estimator, which evaluates
 * the blocks again for it. Nothing here allocates: the nesting is bounded
 * by the loader (MAX_ESTIMATOR_DEPTH).
 */
#include <math.h>

#include "score.h"
#include "util.h"

/*
 * VotingClassifier.predict_proba: np.average(probas, axis=0, weights): each
 * column's probabilities (times their weights) added in estimators_ order
 * to zeros, divided by the count, or by the weights' sum (the loader sums
 * them as numpy does). predict(): np.argmax over the two averaged columns,
 * the first class winning ties.
 */
predict_status
score_voting(const predict_model *model, const estimator *est, const predict_value *values,
			 estimate *out, predict_error *err)
{
	double		sum = 0.0;
	double		sum0 = 0.0;
	double		scale = est->weights != NULL ? est->weight_sum : (double) est->nsubs;

	for (size_t i = 0; i < est->nsubs; i++)
	{
		estimate	sub;
		predict_status status;

		if ((status = score_estimator(model, &est->subs[i], values, false, &sub, err)) != PREDICT_OK)
			return status;
		if (est->weights != NULL)
		{
			sum += sub.proba * est->weights[i];
			sum0 += sub.proba0 * est->weights[i];
		}
		else
		{
			sum += sub.proba;
			sum0 += sub.proba0;
		}
	}
	out->proba = sum / scale;
	out->proba0 = sum0 / scale;
	out->predicted = out->proba > out->proba0;
	return PREDICT_OK;
}

/*
 * IsotonicRegression.predict (out_of_bounds="clip"): check_array refuses a
 * non-finite prediction; np.clip to the thresholds' range, then np.interp
 * (numpy's arr_interp: the threshold at or below, the slope between it and
 * the next, the fallbacks for NaN) or the one value of a single threshold.
 */
static predict_status
isotonic(const calibrator *cal, double t, double *out, predict_error *err)
{
	const double *x = cal->x;
	const double *y = cal->y;
	size_t		n = cal->npoints;
	size_t		lo = 0;
	size_t		hi = n;
	double		slope;

	if (!isfinite(t))
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 "the calibrated estimator's %s is not finite "
								 "(values too large for the model)",
								 isnan(t) ? "prediction" : "decision function");
	if (n == 1)
	{
		*out = y[0];
		return PREDICT_OK;
	}
	t = t < x[0] ? x[0] : t > x[n - 1] ? x[n - 1] : t;
	/* the last j with x[j] <= t (x[0] <= t always) */
	while (hi - lo > 1)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (x[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (lo == n - 1 || x[lo] == t)
	{
		*out = y[lo];
		return PREDICT_OK;
	}
	slope = (y[lo + 1] - y[lo]) / (x[lo + 1] - x[lo]);
	*out = slope * (t - x[lo]) + y[lo];
	if (isnan(*out))
	{
		*out = slope * (t - x[lo + 1]) + y[lo + 1];
		if (isnan(*out) && y[lo] == y[lo + 1])
			*out = y[lo];
	}
	return PREDICT_OK;
}

/* _CalibratedClassifier.predict_proba's fix of a probability just above 1. */
static double
clip_above_one(double p)
{
	return 1.0 < p && p <= 1.0 + 1e-5 ? 1.0 : p;
}

/*
 * CalibratedClassifierCV.predict_proba: each fold's _CalibratedClassifier
 * calibrates its estimator's decision_function if it has one, else its
 * predict_proba[:, 1]: sigmoid expit(-(a * T + b)), or isotonic, giving
 * column 1, column 0 being 1 - that; then either column's probability just
 * above 1 (up to 1 + 1e-5) becomes 1; the folds' columns are added to
 * zeros in order and divided by their count. predict(): np.argmax over the
 * two mean columns, the first class winning ties.
 */
predict_status
score_calibrated(const predict_model *model, const estimator *est,
				 const predict_value *values, estimate *out, predict_error *err)
{
	double		sum = 0.0;
	double		sum0 = 0.0;

	for (size_t i = 0; i < est->nsubs; i++)
	{
		const estimator *sub = &est->subs[i];
		const calibrator *cal = &est->calibrators[i];
		estimate	fold;
		double		t;
		double		p = 0.0;
		predict_status status;

		if ((status = score_estimator(model, sub, values, estimator_has_decision(sub), &fold,
									  err)) != PREDICT_OK)
			return status;
		t = fold.proba;
		/* expit(-z) is 1 / (1 + exp(z)): negation is exact */
		if (cal->method == CALIBRATION_SIGMOID)
			p = 1.0 / (1.0 + exp(cal->a * t + cal->b));
		else if ((status = isotonic(cal, t, &p, err)) != PREDICT_OK)
			return status;
		sum0 += clip_above_one(1.0 - p);
		sum += clip_above_one(p);
	}
	out->proba = sum / (double) est->nsubs;
	out->proba0 = sum0 / (double) est->nsubs;
	out->predicted = out->proba > out->proba0;
	return PREDICT_OK;
}
