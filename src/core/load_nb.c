/*
 * load_nb.c - load a "gaussian_nb" estimator: per class, np.log of its
 * prior, the constant -0.5 * np.sum(np.log(2 pi var_)), and theta_ and var_
 * per feature; and the plan of numpy's pairwise sum over the features.
 */
#include "loader.h"
#include "pairwise.h"

static const char *const nb_fields[] = {"type", "log_prior", "log_norm", "theta", "var", NULL};

/* "theta" or "var": two arrays of nfeatures numbers, one per class. */
static bool
load_class_arrays(loader *ld, const cJSON *object, const char *key, bool positive,
				  double **out)
{
	predict_model *model = ld->model;
	const cJSON *item = member(ld, object, key, true);
	size_t		n = model->nfeatures;
	size_t		saved;
	size_t		count;
	double	   *values;
	const cJSON *row;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!expect_array(ld, item, 0, 0, NULL, &count))
		return false;
	if (count != 2)
		return fail(ld, "expected 2 arrays (one per class), got %zu", count);
	if ((values = arena_alloc(model, 2 * (n ? n : 1) * sizeof(double))) == NULL)
		return fail_memory(ld);
	row = item->child;
	for (size_t c = 0; c < 2; c++, row = row->next)
	{
		size_t		at = path_push_index(ld, c);
		const cJSON *v;

		if (!expect_array(ld, row, 0, 0, NULL, &count))
			return false;
		if (count != n)
			return fail(ld, "expected %zu numbers (the total width of the blocks), got %zu",
						n, count);
		v = row->child;
		for (size_t f = 0; f < n; f++, v = v->next)
		{
			size_t		el = path_push_index(ld, f);

			if (!expect_finite(ld, v, &values[c * n + f]))
				return false;
			if (positive && !(values[c * n + f] > 0))
				return fail(ld, "expected a positive number");
			path_set(ld, el);
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	*out = values;
	return true;
}

bool
load_gaussian_nb(loader *ld, const cJSON *object)
{
	predict_model *model = ld->model;
	estimator  *est = ld->est;
	double	   *pair;
	double	   *theta;
	double	   *var;
	size_t		nleaves;
	uint32_t   *length;
	uint8_t    *merges;

	if (!check_object(ld, object, nb_fields))
		return false;
	if (!load_number_array(ld, object, "log_prior", 2, 0, 0, NULL, &pair, NULL))
		return false;
	est->log_prior[0] = pair[0];
	est->log_prior[1] = pair[1];
	if (!load_number_array(ld, object, "log_norm", 2, 0, 0, NULL, &pair, NULL))
		return false;
	est->log_norm[0] = pair[0];
	est->log_norm[1] = pair[1];
	if (!load_class_arrays(ld, object, "theta", false, &theta) ||
		!load_class_arrays(ld, object, "var", true, &var))
		return false;
	est->theta = theta;
	est->var = var;
	nleaves = pairwise_plan_leaves(model->nfeatures);
	length = arena_alloc(model, nleaves * sizeof(uint32_t));
	merges = arena_alloc(model, nleaves);
	if (length == NULL || merges == NULL)
		return fail_memory(ld);
	pairwise_plan_fill(&est->plan, length, merges, model->nfeatures);
	est->type = ESTIMATOR_GAUSSIAN_NB;
	return true;
}
