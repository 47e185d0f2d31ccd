/*
 * load_trees.c - load the tree estimators: decision_tree, random_forest,
 * gradient_boosting, hist_gradient_boosting, xgboost and adaboost.
 *
 * The estimator's fields, its list of trees (sized before anything is
 * allocated), HistGradientBoosting's known categories and the dense slots
 * of the split features. One tree's nodes are loaded by load_tree.c.
 */
#include <math.h>

#include "explain.h"
#include "loader.h"

static const char *const decision_tree_fields[] = {"type", "tree", "missing", NULL};
static const char *const forest_fields[] = {"type", "trees", "missing", NULL};
static const char *const boosting_fields[] = {
	"type", "init", "learning_rate", "trees", "missing", "loss", NULL
};
static const char *const boosting_losses[] = {"log_loss", "exponential", NULL};
static const char *const hist_fields[] = {"type", "baseline", "categorical", "trees", NULL};
static const char *const xgboost_fields[] = {
	"type", "base_score", "zero_is_missing", "trees", NULL
};
static const char *const adaboost_fields[] = {"type", "weight_sum", "trees", NULL};
static const char *const categorical_fields[] = {"feature", "known", NULL};
static const char *const missing_modes[] = {"error", "learned", NULL};

/* The trees' sizes, summed before anything is allocated. */
static bool
count_trees(loader *ld, const cJSON *entry, size_t ntrees, size_t *nsplits,
			size_t *ncategorical, size_t *largest)
{
	*nsplits = *ncategorical = *largest = 0;
	for (size_t i = 0; i < ntrees; i++, entry = entry->next)
	{
		const cJSON *feature = cJSON_IsObject(entry) ?
			cJSON_GetObjectItemCaseSensitive(entry, "feature") : NULL;
		const cJSON *threshold = cJSON_IsObject(entry) ?
			cJSON_GetObjectItemCaseSensitive(entry, "threshold") : NULL;
		size_t		n;

		if (!cJSON_IsArray(feature))
			continue;			/* load_tree reports it */
		n = (size_t) cJSON_GetArraySize(feature);
		if (n > MAX_TREE_NODES - *nsplits)
		{
			path_push_index(ld, i);
			return fail_limit(ld, "splits in all trees", *nsplits + n, "max_tree_nodes",
							  MAX_TREE_NODES);
		}
		*nsplits += n;
		if (n > *largest)
			*largest = n;
		if (cJSON_IsArray(threshold))
			for (const cJSON *t = threshold->child; t != NULL; t = t->next)
				if (cJSON_IsArray(t))
					(*ncategorical)++;
	}
	return true;
}

/*
 * Number the features the trees split on with dense slots, in feature
 * order, and record for every block which of its features go where.
 */
static bool
assign_slots(loader *ld)
{
	predict_model *model = ld->model;
	estimator  *est = ld->est;
	int32_t    *slot_of = arena_alloc(model, model->nfeatures * sizeof(int32_t));
	feature_use *uses;
	uint32_t   *block_uses;
	size_t		nslots = 0;
	size_t		next_use = 0;

	if (slot_of == NULL)
		return fail_memory(ld);
	for (size_t t = 0; t < est->ntrees; t++)
		for (uint32_t i = 0; i < est->trees[t].nsplits; i++)
		{
			size_t		node = est->trees[t].root + i;
			uint32_t	slot = est->hist_nodes ? est->hist_nodes[node].slot : est->nodes[node].slot;

			slot_of[slot & NODE_SLOT_MASK] = 1;
		}
	for (size_t f = 0; f < model->nfeatures; f++)
		slot_of[f] = slot_of[f] ? (int32_t) nslots++ : -1;
	if (nslots > MAX_TREE_FEATURES)
		return fail_limit(ld, "distinct split features", nslots, "max_tree_features",
						  MAX_TREE_FEATURES);
	for (size_t t = 0; t < est->ntrees; t++)
		for (uint32_t i = 0; i < est->trees[t].nsplits; i++)
		{
			size_t		node = est->trees[t].root + i;
			uint32_t   *slot = est->hist_nodes ? &((hist_node *) est->hist_nodes)[node].slot :
				&((tree_node *) est->nodes)[node].slot;

			*slot = (uint32_t) slot_of[*slot & NODE_SLOT_MASK] | (*slot & ~NODE_SLOT_MASK);
		}
	uses = arena_alloc(model, (nslots ? nslots : 1) * sizeof(feature_use));
	block_uses = arena_alloc(model, 2 * model->nblocks * sizeof(uint32_t));
	if (uses == NULL || block_uses == NULL)
		return fail_memory(ld);
	/* with a feature stage, the trees read the stage's output, not the blocks' */
	for (size_t b = 0; model->stage == NULL && b < model->nblocks; b++)
	{
		block	   *blk = &model->blocks[b];

		block_uses[2 * b] = (uint32_t) next_use;
		for (uint32_t j = 0; j < blk->width; j++)
			if (slot_of[blk->first_feature + j] >= 0)
			{
				uses[next_use].offset = j;
				uses[next_use].slot = (uint32_t) slot_of[blk->first_feature + j];
				next_use++;
			}
		block_uses[2 * b + 1] = (uint32_t) (next_use - block_uses[2 * b]);
		/* scikit-learn checks every feature it casts to float32, read or not */
		blk->off_too_large32 = 0;	/* counted again by each tree estimator */
		for (uint32_t j = blk->width; blk->one_hot && j-- > 0;)
			if (isinf((float) blk->off_values[j]))
			{
				blk->off_too_large32++;
				blk->off_too_large32_at = j;
			}
	}
	est->nslots = nslots;
	est->feature_slot = slot_of;
	est->uses = uses;
	est->block_uses = block_uses;
	return true;
}

/* HistGradientBoosting's known categories: one 256-bit set per feature. */
static bool
load_known_categories(loader *ld, const cJSON *object, tree_rules *rules)
{
	predict_model *model = ld->model;
	const cJSON *item = member(ld, object, "categorical", false);
	uint32_t   *known;
	bool	   *categorical;
	size_t		n = 0;
	size_t		saved;
	const cJSON *entry;

	if (item == NULL)
		return true;
	saved = path_push_key(ld, "categorical");
	if (!expect_array(ld, item, 0, 0, NULL, &n))
		return false;
	if (n > model->nfeatures)
		return fail(ld, "%zu entries for %zu features", n, model->nfeatures);
	known = arena_alloc(model, model->nfeatures * 8 * sizeof(uint32_t));
	categorical = arena_alloc(model, model->nfeatures * sizeof(bool));
	if (known == NULL || categorical == NULL)
		return fail_memory(ld);
	entry = item->child;
	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		size_t		element = ld->path_len;
		const cJSON *field;
		const cJSON *code;
		long		f;
		size_t		k = 0;

		if (!check_object(ld, entry, categorical_fields) ||
			(field = member(ld, entry, "feature", true)) == NULL)
			return false;
		path_push_key(ld, "feature");
		if (!expect_integer(ld, field, 0, (double) model->nfeatures - 1, "a feature index", &f))
			return false;
		if (categorical[f])
			return fail(ld, "feature %ld is listed twice", f);
		categorical[f] = true;
		path_set(ld, element);
		if ((field = member(ld, entry, "known", true)) == NULL)
			return false;
		path_push_key(ld, "known");
		if (!cJSON_IsArray(field))
			return fail(ld, "expected an array of category codes, got %s", json_type_name(field));
		for (code = field->child; code != NULL; code = code->next, k++)
		{
			size_t		c_at = path_push_index(ld, k);
			long		c;
			uint32_t   *words = known + 8 * (size_t) f;

			if (!expect_integer(ld, code, 0, CATEGORY_CODES - 1, "a category code", &c))
				return false;
			if (words[c / 32] & ((uint32_t) 1 << (c % 32)))
				return fail(ld, "duplicate category code %ld", c);
			words[c / 32] |= (uint32_t) 1 << (c % 32);
			path_set(ld, c_at);
		}
		path_set(ld, at);
	}
	path_set(ld, saved);
	rules->known = known;
	rules->categorical = categorical;
	return true;
}

/*
 * The trees of any tree estimator, into flat arrays: ntrees objects from
 * first on (single: the one object of decision_tree's "tree").
 */
static bool
load_trees(loader *ld, const cJSON *first, size_t ntrees, bool single, tree_rules *rules)
{
	predict_model *model = ld->model;
	estimator  *est = ld->est;
	size_t		nsplits;
	size_t		ncategorical;
	size_t		largest;
	size_t		nnodes;
	tree_scratch scratch = {0};
	tree	   *out;
	const cJSON *entry;

	if (!count_trees(ld, first, ntrees, &nsplits, &ncategorical, &largest))
		return false;
	out = arena_alloc(model, ntrees * sizeof(tree));
	est->leaves = arena_alloc(model, (nsplits + ntrees) * sizeof(double));
	if (rules->probability && cJSON_IsObject(first) &&
		cJSON_GetObjectItemCaseSensitive(first, "value0") != NULL &&
		(est->leaves0 = arena_alloc(model, (nsplits + ntrees) * sizeof(double))) == NULL)
		return fail_memory(ld);
	nnodes = 2 * nsplits + ntrees;
	if (!rules->adaboost && cJSON_IsObject(first) &&
		cJSON_GetObjectItemCaseSensitive(first, "cover") != NULL &&
		(est->cover = arena_alloc(model, nnodes * sizeof(double))) == NULL)
		return fail_memory(ld);
	scratch.referenced = arena_alloc(model, 2 * largest + 1);
	scratch.depth = arena_alloc(model, (2 * largest + 1) * sizeof(uint32_t));
	scratch.next_bitset = 1;
	if (rules->hist)
	{
		est->hist_nodes = arena_alloc(model, nnodes * sizeof(hist_node));
		est->bitsets = arena_alloc(model, (ncategorical + 1) * BITSET_WORDS * sizeof(uint32_t));
		if (rules->categorical == NULL)
		{
			/* no categorical features: every feature is numeric */
			rules->categorical = arena_alloc(model, model->nfeatures * sizeof(bool));
			if (rules->categorical == NULL)
				return fail_memory(ld);
		}
	}
	else
		est->nodes = arena_alloc(model, nnodes * sizeof(tree_node));
	if (rules->adaboost &&
		(est->leaf_pairs = arena_alloc(model, 2 * (nsplits + ntrees) * sizeof(double))) == NULL)
		return fail_memory(ld);
	if (out == NULL || est->leaves == NULL || scratch.referenced == NULL ||
		scratch.depth == NULL ||
		(rules->hist ? est->hist_nodes == NULL || est->bitsets == NULL : est->nodes == NULL))
		return fail_memory(ld);

	entry = first;
	for (size_t i = 0; i < ntrees; i++, entry = entry->next)
	{
		size_t		at = single ? ld->path_len : path_push_index(ld, i);

		if (!load_tree(ld, entry, rules, &scratch, &out[i]))
			return false;
		if (out[i].depth > est->max_depth)
			est->max_depth = out[i].depth;
		path_set(ld, at);
	}
	est->trees = out;
	est->ntrees = ntrees;
	return assign_slots(ld);
}

/* "trees": a non-empty array, or for decision_tree "tree": one object. */
static bool
load_tree_list(loader *ld, const cJSON *object, bool single, tree_rules *rules)
{
	const char *key = single ? "tree" : "trees";
	const cJSON *item = member(ld, object, key, true);
	size_t		n = 1;
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (single)
	{
		if (!load_trees(ld, item, 1, true, rules))
			return false;
	}
	else if (!expect_array(ld, item, 1, MAX_TREES, "max_trees", &n) ||
			 !load_trees(ld, item->child, n, false, rules))
		return false;
	path_set(ld, saved);
	return true;
}

/* The optional "missing" field of the standard tree estimators. */
static bool
load_missing_mode(loader *ld, const cJSON *object, tree_rules *rules)
{
	const cJSON *item = member(ld, object, "missing", false);
	size_t		saved;
	int			mode;

	if (item == NULL)
		return true;
	saved = path_push_key(ld, "missing");
	if ((mode = expect_enum(ld, item, missing_modes)) < 0)
		return false;
	path_set(ld, saved);
	rules->missing_left = (mode == 1);
	ld->est->missing_learned = (mode == 1);
	return true;
}

/* gradient_boosting's optional "loss": log_loss (the default) or exponential. */
static bool
load_boosting_loss(loader *ld, const cJSON *object)
{
	const cJSON *item = member(ld, object, "loss", false);
	size_t		saved;
	int			loss;

	if (item == NULL)
		return true;
	saved = path_push_key(ld, "loss");
	if ((loss = expect_enum(ld, item, boosting_losses)) < 0)
		return false;
	path_set(ld, saved);
	ld->est->exponential_loss = (loss == 1);
	return true;
}

/*
 * gradient_boosting's "init": the constant raw prediction, or the init
 * estimator whose predict_proba[:, 1] gives it row by row. scikit-learn
 * hands that estimator the float32 X it gives the trees, so only
 * estimators that then compute in float64 on the rounded values (the
 * exporter's choice: logistic regression and the probability trees) are
 * accepted; a composite would pass float32 on to estimators that do not.
 */
static bool
load_boosting_init(loader *ld, const cJSON *object)
{
	estimator  *est = ld->est;
	const cJSON *item = member(ld, object, "init", true);
	estimator  *sub;
	size_t		saved = ld->path_len;

	if (item == NULL)
		return false;
	if (!cJSON_IsObject(item))
		return load_required_number(ld, object, "init", &est->init);
	path_push_key(ld, "init");
	if (ld->depth + 1 > MAX_ESTIMATOR_DEPTH)
		return fail_limit(ld, "levels of nested estimators", (size_t) ld->depth + 1,
						  "max_estimator_depth", MAX_ESTIMATOR_DEPTH);
	if ((sub = arena_alloc(ld->model, sizeof(estimator))) == NULL)
		return fail_memory(ld);
	if (!load_sub_estimator(ld, item, sub, false))
		return false;
	if (sub->type != ESTIMATOR_LOGISTIC_REGRESSION && sub->type != ESTIMATOR_DECISION_TREE &&
		sub->type != ESTIMATOR_RANDOM_FOREST)
	{
		path_push_key(ld, "type");
		return fail(ld, "expected an init estimator of type logistic_regression, "
					"decision_tree or random_forest");
	}
	sub->float32_input = true;
	est->init_estimator = sub;
	path_set(ld, saved);
	return true;
}

/*
 * XGBoost's base_score, the probability its learner keeps, becomes the
 * margin every prediction starts from as binary:logistic's ProbToMargin
 * computes it, in float32 (XGBoost 1.7, regression_loss.h).
 */
static bool
load_base_score(loader *ld, const cJSON *object)
{
	estimator  *est = ld->est;
	double		p;
	float		b;

	if (!load_required_number(ld, object, "base_score", &p))
		return false;
	b = (float) p;
	if (!((double) b == p && b > 0.0f && b < 1.0f))
	{
		path_push_key(ld, "base_score");
		return fail(ld, "expected a float32 probability strictly between 0 and 1, got %.17g", p);
	}
	est->init = (double) -logf(1.0f / b - 1.0f);
	return true;
}

static bool
load_zero_is_missing(loader *ld, const cJSON *object)
{
	const cJSON *item = member(ld, object, "zero_is_missing", true);

	if (item == NULL)
		return false;
	if (!cJSON_IsBool(item))
	{
		path_push_key(ld, "zero_is_missing");
		return fail(ld, "expected true or false, got %s", json_type_name(item));
	}
	ld->est->zero_is_missing = cJSON_IsTrue(item);
	return true;
}

static bool
load_xgboost(loader *ld, const cJSON *object)
{
	tree_rules	rules = {0};

	rules.missing_left = true;
	rules.xgboost = true;
	/* every split has a default direction: the walk of learned missing values */
	ld->est->missing_learned = true;
	if (!check_object(ld, object, xgboost_fields) ||
		!load_base_score(ld, object) ||
		!load_zero_is_missing(ld, object) ||
		!load_tree_list(ld, object, false, &rules))
		return false;
	/* the explanations' bias depends on no row: once, as XGBoost per call */
	if (ld->est->cover != NULL && ld->est->max_depth <= MAX_EXPLAIN_DEPTH)
		ld->est->xgboost_bias = xgboost_bias(ld->est);
	return true;
}

bool
load_tree_estimator(loader *ld, const cJSON *object, estimator_type type)
{
	estimator  *est = ld->est;
	tree_rules	rules = {0};

	est->type = type;
	switch (type)
	{
		case ESTIMATOR_DECISION_TREE:
		case ESTIMATOR_RANDOM_FOREST:
			rules.probability = true;
			return check_object(ld, object, type == ESTIMATOR_DECISION_TREE ?
								decision_tree_fields : forest_fields) &&
				load_missing_mode(ld, object, &rules) &&
				load_tree_list(ld, object, type == ESTIMATOR_DECISION_TREE, &rules);
		case ESTIMATOR_GRADIENT_BOOSTING:
			return check_object(ld, object, boosting_fields) &&
				load_boosting_loss(ld, object) &&
				load_boosting_init(ld, object) &&
				load_required_number(ld, object, "learning_rate", &est->learning_rate) &&
				load_missing_mode(ld, object, &rules) &&
				load_tree_list(ld, object, false, &rules);
		case ESTIMATOR_HIST_GRADIENT_BOOSTING:
			rules.hist = true;
			rules.missing_left = true;
			return check_object(ld, object, hist_fields) &&
				load_required_number(ld, object, "baseline", &est->init) &&
				load_known_categories(ld, object, &rules) &&
				load_tree_list(ld, object, false, &rules);
		case ESTIMATOR_XGBOOST:
			return load_xgboost(ld, object);
		case ESTIMATOR_ADABOOST:
			rules.adaboost = true;
			est->link = LINK_SOFTMAX;	/* _compute_proba_from_decision */
			return check_object(ld, object, adaboost_fields) &&
				load_required_number(ld, object, "weight_sum", &est->weight_sum) &&
				load_tree_list(ld, object, false, &rules);
		default:
			break;
	}
	return fail(ld, "unsupported estimator");
}
