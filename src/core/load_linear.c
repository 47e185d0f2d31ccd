/*
 * load_linear.c - load a "logistic_regression" estimator: a coefficient
 * per feature, an intercept and a link.
 *
 * Each estimator family has its own file; this one shares nothing with
 * the tree estimators beyond the loader's helpers.
 */
#include "loader.h"

static const char *const logistic_fields[] = {"type", "coef", "intercept", "link", NULL};
static const char *const link_names[] = {"logistic", "softmax", "modified_huber", "none", NULL};

bool
load_logistic_regression(loader *ld, const cJSON *object)
{
	predict_model *model = ld->model;
	estimator  *est = ld->est;
	const cJSON *item;
	size_t		n;
	double	   *coef;
	int			link;
	size_t		saved;

	if (!check_object(ld, object, logistic_fields))
		return false;
	if ((item = member(ld, object, "coef", true)) == NULL)
		return false;
	saved = path_push_key(ld, "coef");
	if (!expect_array(ld, item, 0, 0, NULL, &n))
		return false;
	if (n != model->nfeatures)
		return fail(ld, "expected %zu numbers (the total width of the blocks), got %zu",
					model->nfeatures, n);
	coef = arena_alloc(model, (n ? n : 1) * sizeof(double));
	if (coef == NULL)
		return fail_memory(ld);
	item = item->child;
	for (size_t i = 0; i < n; i++, item = item->next)
	{
		size_t		at = path_push_index(ld, i);

		if (!expect_finite(ld, item, &coef[i]))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	est->coef = coef;
	if (!load_required_number(ld, object, "intercept", &est->intercept))
		return false;
	if ((item = member(ld, object, "link", true)) == NULL)
		return false;
	saved = path_push_key(ld, "link");
	if ((link = expect_enum(ld, item, link_names)) < 0)
		return false;
	if (link == LINK_NONE && !ld->decision_only)
		return fail(ld, "\"none\" (no predict_proba) is only valid for the estimator of a "
					"calibrated fold");
	path_set(ld, saved);
	est->link = (link_type) link;
	est->type = ESTIMATOR_LOGISTIC_REGRESSION;
	return true;
}
