/*
 * load_ensemble.c - load the composite estimators: "voting" (a soft
 * VotingClassifier) and "calibrated" (CalibratedClassifierCV), each a list
 * of estimator objects of any type reading the same features.
 *
 * Composite estimators nest (a calibrated voting, a voting of calibrated
 * estimators): the loader bounds the depth (MAX_ESTIMATOR_DEPTH) and the
 * number of estimators in all (MAX_SUB_ESTIMATORS), so that scoring's
 * recursion and work stay bounded whatever the document says.
 */
#include <math.h>

#include "loader.h"
#include "pairwise.h"

static const char *const voting_fields[] = {"type", "weights", "estimators", NULL};
static const char *const calibrated_fields[] = {"type", "method", "folds", NULL};
static const char *const fold_fields[] = {"estimator", "calibrator", NULL};
static const char *const sigmoid_fields[] = {"a", "b", NULL};
static const char *const isotonic_fields[] = {"x", "y", NULL};
static const char *const method_names[] = {"sigmoid", "isotonic", NULL};

/*
 * One estimator of a composite (or gradient_boosting's init estimator),
 * counted against max_sub_estimators.
 */
bool
load_sub_estimator(loader *ld, const cJSON *object, estimator *sub, bool decision_only)
{
	estimator  *outer = ld->est;
	bool		outer_decision_only = ld->decision_only;
	bool		ok;

	if (ld->nsubs >= MAX_SUB_ESTIMATORS)
		return fail_limit(ld, "estimators", ld->nsubs + 1, "max_sub_estimators",
						  MAX_SUB_ESTIMATORS);
	ld->nsubs++;
	ld->est = sub;
	ld->depth++;
	ld->decision_only = decision_only;
	ok = load_estimator_object(ld, object);
	ld->decision_only = outer_decision_only;
	ld->depth--;
	ld->est = outer;
	return ok;
}

/* The "estimators" or "folds" array: 1 or more entries, not nested too deep. */
static bool
composite_array(loader *ld, const cJSON *object, const char *key, size_t *count,
				estimator **subs)
{
	const cJSON *item = member(ld, object, key, true);

	if (item == NULL)
		return false;
	path_push_key(ld, key);
	if (ld->depth + 1 > MAX_ESTIMATOR_DEPTH)
		return fail_limit(ld, "levels of nested estimators", (size_t) ld->depth + 1,
						  "max_estimator_depth", MAX_ESTIMATOR_DEPTH);
	if (!expect_array(ld, item, 1, MAX_SUB_ESTIMATORS, "max_sub_estimators", count))
		return false;
	if ((*subs = arena_alloc(ld->model, *count * sizeof(estimator))) == NULL)
		return fail_memory(ld);
	return true;
}

/* np.average's divisor: the weights summed as numpy sums them (pairwise). */
static bool
sum_weights(loader *ld, estimator *est, const double *weights, size_t n)
{
	pairwise_plan plan;
	pairwise_state st;
	uint32_t   *length = arena_alloc(ld->model, pairwise_plan_leaves(n) * sizeof(uint32_t));
	uint8_t    *merges = arena_alloc(ld->model, pairwise_plan_leaves(n));

	if (length == NULL || merges == NULL)
		return fail_memory(ld);
	pairwise_plan_fill(&plan, length, merges, n);
	pairwise_start(&st, &plan);
	for (size_t i = 0; i < n; i++)
		pairwise_add(&st, weights[i]);
	est->weight_sum = pairwise_result(&st);
	if (est->weight_sum == 0 || !isfinite(est->weight_sum))
		return fail(ld, "the weights sum to %g (numpy's average needs a finite, non-zero sum)",
					est->weight_sum);
	return true;
}

bool
load_voting(loader *ld, const cJSON *object)
{
	estimator  *est = ld->est;
	const cJSON *item;
	estimator  *subs;
	size_t		n;
	size_t		saved = ld->path_len;

	if (!check_object(ld, object, voting_fields) ||
		!composite_array(ld, object, "estimators", &n, &subs))
		return false;
	item = cJSON_GetObjectItemCaseSensitive(object, "estimators")->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!load_sub_estimator(ld, item, &subs[i], false))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	est->subs = subs;
	est->nsubs = n;
	if ((item = member(ld, object, "weights", true)) == NULL)
		return false;
	if (!cJSON_IsNull(item))
	{
		double	   *weights;
		size_t		count;

		if (!load_number_array(ld, object, "weights", n, 0, 0, NULL, &weights, &count))
			return false;
		path_push_key(ld, "weights");
		/* non-negative: the average of probabilities stays one */
		for (size_t i = 0; i < n; i++)
			if (!(weights[i] >= 0))
			{
				path_push_index(ld, i);
				return fail(ld, "expected a non-negative weight");
			}
		if (!sum_weights(ld, est, weights, n))
			return false;
		path_set(ld, saved);
		est->weights = weights;
	}
	est->type = ESTIMATOR_VOTING;
	return true;
}

/*
 * isotonic: X_thresholds_ increasing, y_thresholds_ in [0, 1] give or take
 * the rounding that predict_proba's 1 + 1e-5 rule absorbs.
 */
static bool
load_isotonic(loader *ld, const cJSON *object, calibrator *cal)
{
	double	   *x;
	double	   *y;
	size_t		n;
	size_t		saved = ld->path_len;

	if (!check_object(ld, object, isotonic_fields) ||
		!load_number_array(ld, object, "x", 0, 1, MAX_CALIBRATION_POINTS,
						   "max_calibration_points", &x, &n) ||
		!load_number_array(ld, object, "y", n, 0, 0, NULL, &y, NULL))
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0 && !(x[i] > x[i - 1]))
		{
			path_push_key(ld, "x");
			path_push_index(ld, i);
			return fail(ld, "expected increasing numbers");
		}
		if (!(y[i] >= 0 && y[i] <= 1.0 + 1e-5))
		{
			path_push_key(ld, "y");
			path_push_index(ld, i);
			return fail(ld, "expected a number between 0 and 1 (or up to 1e-5 above)");
		}
	}
	path_set(ld, saved);
	cal->npoints = n;
	cal->x = x;
	cal->y = y;
	return true;
}

static bool
load_calibrator(loader *ld, const cJSON *object, calibration_method method, calibrator *cal)
{
	const cJSON *item = member(ld, object, "calibrator", true);
	size_t		saved = ld->path_len;

	if (item == NULL)
		return false;
	path_push_key(ld, "calibrator");
	cal->method = method;
	if (method == CALIBRATION_SIGMOID)
	{
		if (!check_object(ld, item, sigmoid_fields) ||
			!load_required_number(ld, item, "a", &cal->a) ||
			!load_required_number(ld, item, "b", &cal->b))
			return false;
	}
	else if (!load_isotonic(ld, item, cal))
		return false;
	path_set(ld, saved);
	return true;
}

bool
load_calibrated(loader *ld, const cJSON *object)
{
	estimator  *est = ld->est;
	const cJSON *item;
	estimator  *subs;
	calibrator *cals;
	size_t		n;
	size_t		saved = ld->path_len;
	int			method;

	if (!check_object(ld, object, calibrated_fields) ||
		(item = member(ld, object, "method", true)) == NULL)
		return false;
	path_push_key(ld, "method");
	if ((method = expect_enum(ld, item, method_names)) < 0)
		return false;
	path_set(ld, saved);
	if (!composite_array(ld, object, "folds", &n, &subs))
		return false;
	if ((cals = arena_alloc(ld->model, n * sizeof(calibrator))) == NULL)
		return fail_memory(ld);
	item = cJSON_GetObjectItemCaseSensitive(object, "folds")->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		at = path_push_index(ld, i);
		size_t		element = ld->path_len;
		const cJSON *sub;

		if (!check_object(ld, item, fold_fields) ||
			(sub = member(ld, item, "estimator", true)) == NULL)
			return false;
		path_push_key(ld, "estimator");
		if (!load_sub_estimator(ld, sub, &subs[i], true))
			return false;
		path_set(ld, element);
		if (!load_calibrator(ld, item, (calibration_method) method, &cals[i]))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	est->subs = subs;
	est->nsubs = n;
	est->calibrators = cals;
	est->type = ESTIMATOR_CALIBRATED;
	return true;
}
