/*
 * load_tree.c - load one tree of a tree estimator into the estimator's
 * flat node, leaf and bitset arrays.
 *
 * The per-node checks of a tree (features, thresholds, children, category
 * splits, leaf values) are the bulk of the tree loader; the estimators
 * that hold the trees are in load_trees.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

static const char *const tree_fields[] = {
	"feature", "threshold", "left", "right", "missing_left", "value", "value0", "cover", NULL
};
static const char *const adaboost_tree_fields[] = {
	"feature", "threshold", "left", "right", "value", "value_negative", NULL
};

/* The largest float32 not above t: x <= t iff x <= this, for any float32 x. */
static float
float32_at_or_below(double t)
{
	float		f = (float) t;

	if ((double) f > t)
		f = nextafterf(f, -INFINITY);
	return f;
}

/*
 * XGBoost's split conditions and leaf values are float32 (written by its
 * JSON model as the shortest decimal that reads back as the same float32).
 */
static inline bool
is_float32(double v)
{
	return isfinite(v) && (double) (float) v == v;
}

/*
 * Trees have millions of elements: their loops test each one with these
 * predicates and build the JSON path (snprintf) only to report an error.
 */
static inline bool
is_integer_in(const cJSON *item, double lo, double hi, long *out)
{
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi) ||
		item->valuedouble != floor(item->valuedouble))
		return false;
	*out = (long) item->valuedouble;
	return true;
}

/* Set the path to <current>.key[index]; returns the length to restore. */
static size_t
path_push_element(loader *ld, const char *key, size_t index)
{
	size_t		saved = path_push_key(ld, key);

	path_push_index(ld, index);
	return saved;
}


/*
 * A per-split or per-leaf array of a tree: present, an array of exactly n
 * elements. Returns its first element (NULL when n is 0) through *first.
 */
static bool
tree_array(loader *ld, const cJSON *object, const char *key, size_t n, const char *why,
		   const cJSON **first)
{
	const cJSON *item = member(ld, object, key, true);
	size_t		count;
	size_t		saved;

	if (item == NULL)
		return false;
	saved = path_push_key(ld, key);
	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array, got %s", json_type_name(item));
	count = (size_t) cJSON_GetArraySize(item);
	if (count != n)
		return fail(ld, "expected %zu element%s (%s), got %zu", n, n == 1 ? "" : "s", why, count);
	path_set(ld, saved);
	*first = item->child;
	return true;
}

/* A threshold: a finite number, or "inf" / "-inf" (JSON has no infinity). */
static inline bool
is_threshold(const cJSON *item, double *out)
{
	if (cJSON_IsNumber(item) && isfinite(item->valuedouble))
		*out = item->valuedouble;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "inf") == 0)
		*out = INFINITY;
	else if (cJSON_IsString(item) && strcmp(item->valuestring, "-inf") == 0)
		*out = -INFINITY;
	else
		return false;
	return true;
}

static bool
expect_threshold(loader *ld, const cJSON *item, double *out)
{
	if (!is_threshold(item, out))
		return fail(ld, "expected a finite number, \"inf\" or \"-inf\", got %s",
					cJSON_IsNumber(item) ? "an out-of-range number" : json_type_name(item));
	return true;
}

/*
 * A categorical split's threshold: the category codes (0 to 255) that go
 * left. Stored as the set of codes that go left once unknown codes (not in
 * the feature's known categories) are sent the missing-value way, which is
 * scikit-learn's order of tests folded into one lookup, plus the code
 * CATEGORY_MISSING (NaN and negative values) when missing values go left.
 */
static bool
load_category_split(loader *ld, const cJSON *item, const uint32_t *known,
					bool missing_left, uint32_t *bits)
{
	uint32_t	left[CATEGORY_CODES / 32] = {0};
	size_t		i = 0;

	if (!cJSON_IsArray(item))
		return fail(ld, "expected an array of category codes, got %s", json_type_name(item));
	for (const cJSON *code = item->child; code != NULL; code = code->next, i++)
	{
		size_t		at = path_push_index(ld, i);
		long		c;

		if (!expect_integer(ld, code, 0, CATEGORY_CODES - 1, "a category code", &c))
			return false;
		if (left[c / 32] & ((uint32_t) 1 << (c % 32)))
			return fail(ld, "duplicate category code %ld", c);
		left[c / 32] |= (uint32_t) 1 << (c % 32);
		path_set(ld, at);
	}
	for (int w = 0; w < CATEGORY_CODES / 32; w++)
		bits[w] = left[w] | (missing_left ? ~known[w] : 0);
	bits[CATEGORY_MISSING / 32] = missing_left ? (uint32_t) 1 << (CATEGORY_MISSING % 32) : 0;
	return true;
}

/*
 * A child reference at key[parent]: a later split (> parent) or a leaf, each
 * used once. *out is the child's node within the tree (splits, then leaves).
 */
static bool
load_child(loader *ld, const char *key, const cJSON *item, size_t parent, size_t nsplits,
		   uint8_t *referenced, uint32_t *out)
{
	long		c;
	size_t		node;

	if (!is_integer_in(item, -(double) (nsplits + 1), (double) nsplits - 1, &c))
	{
		path_push_element(ld, key, parent);
		return expect_integer(ld, item, -(double) (nsplits + 1), (double) nsplits - 1,
							  "a split index or -1 - leaf index", &c);
	}
	if (c >= 0 && (size_t) c <= parent)
	{
		path_push_element(ld, key, parent);
		return fail(ld, "split %zu points back to split %ld; a child must come after its "
					"parent (so that a tree has no cycle)", parent, c);
	}
	/* nodes numbered splits first, then leaves */
	node = c >= 0 ? (size_t) c : nsplits + (size_t) (-1 - c);
	if (referenced[node])
	{
		path_push_element(ld, key, parent);
		if (c >= 0)
			return fail(ld, "split %ld is already the child of another split", c);
		return fail(ld, "leaf %ld is already the child of another split", -1 - c);
	}
	referenced[node] = 1;
	*out = (uint32_t) node;
	return true;
}

static bool
is_class_fraction(const cJSON *item)
{
	return cJSON_IsNumber(item) && item->valuedouble >= 0 && item->valuedouble <= 1;
}

/*
 * A probability tree's "value0": classes_[0]'s fraction per leaf, which
 * scikit-learn's predict() compares with classes_[1]'s (threshold null).
 * Every tree of the estimator has it or none does: load_trees allocated
 * leaves0 when the first tree has it.
 */
static bool
load_value0(loader *ld, const cJSON *object, size_t nleaves, const cJSON **value0)
{
	const estimator *est = ld->est;
	const cJSON *item = member(ld, object, "value0", est->leaves0 != NULL);

	*value0 = NULL;
	if (item == NULL)
		return est->leaves0 == NULL;
	if (est->leaves0 == NULL)
	{
		path_push_key(ld, "value0");
		if (est->type != ESTIMATOR_DECISION_TREE && est->type != ESTIMATOR_RANDOM_FOREST)
			return fail(ld, "only decision_tree and random_forest trees have class-0 fractions");
		return fail(ld, "every tree has \"value0\" or none does (the first tree has none)");
	}
	return tree_array(ld, object, "value0", nleaves, "one per leaf, as in \"value\"", value0);
}

/*
 * A tree's "cover": the training cover of each node, its splits then its
 * leaves (the order of the nodes here), for explanations. Every tree of the
 * estimator has it or none does: load_trees allocated the covers when the
 * first tree has them. A split's cover divides its children's, so it must
 * be positive; XGBoost's are float32 (sum_hessian), kept exact.
 */
static bool
load_cover(loader *ld, const cJSON *object, size_t nsplits, size_t root)
{
	const estimator *est = ld->est;
	const cJSON *item = member(ld, object, "cover", est->cover != NULL);
	const cJSON *c;

	if (item == NULL)
		return est->cover == NULL;
	if (est->cover == NULL)
	{
		path_push_key(ld, "cover");
		return fail(ld, "every tree has \"cover\" or none does (the first tree has none)");
	}
	if (!tree_array(ld, object, "cover", 2 * nsplits + 1,
					"one per split, then one per leaf", &c))
		return false;
	for (size_t i = 0; i <= 2 * nsplits; i++, c = c->next)
	{
		double		v = cJSON_IsNumber(c) ? c->valuedouble : NAN;

		if (!(isfinite(v) && (i < nsplits ? v > 0 : v >= 0)))
		{
			path_push_element(ld, "cover", i);
			return fail(ld, "expected a finite cover, %s", i < nsplits ?
						"greater than 0 (a split's cover divides its children's)" :
						"0 or more");
		}
		((double *) est->cover)[root + i] = v;
	}
	return true;
}

/*
 * AdaBoost's leaf: its two contributions go to leaf_pairs, and the leaf's
 * value becomes its index there (the walk returns it; exact in a double).
 */
static bool
load_leaf_pair(loader *ld, const cJSON **negative, size_t i, double *leaf)
{
	estimator  *est = ld->est;
	size_t		index = (size_t) (leaf - est->leaves);
	double	   *pair = (double *) est->leaf_pairs + 2 * index;

	if (!cJSON_IsNumber(*negative) || !isfinite((*negative)->valuedouble))
	{
		path_push_element(ld, "value_negative", i);
		return expect_finite(ld, *negative, pair);
	}
	pair[0] = (*negative)->valuedouble;
	pair[1] = *leaf;
	*leaf = (double) index;
	*negative = (*negative)->next;
	return true;
}

/*
 * Load one tree into the next ranges of the estimator's arrays: its splits
 * as nodes, then its leaves as nodes that lead to themselves. Split features
 * are kept as feature indices here; they become slots once every tree is
 * loaded. Every split and leaf but the root is referenced exactly once and
 * children point forward, so the nodes form one tree, and its depth follows
 * in the same pass.
 */
bool
load_tree(loader *ld, const cJSON *object, const tree_rules *rules, tree_scratch *scratch,
		  tree *t)
{
	estimator  *est = ld->est;
	const cJSON *feature;
	const cJSON *threshold;
	const cJSON *left;
	const cJSON *right;
	const cJSON *missing = NULL;
	const cJSON *value;
	const cJSON *negative = NULL;
	const cJSON *value0 = NULL;
	const cJSON *item;
	size_t		nsplits;
	size_t		root;
	size_t		saved;

	if (!check_object(ld, object, rules->adaboost ? adaboost_tree_fields : tree_fields))
		return false;
	if ((item = member(ld, object, "feature", true)) == NULL)
		return false;
	saved = path_push_key(ld, "feature");
	if (!expect_array(ld, item, 0, 0, NULL, &nsplits))
		return false;
	path_set(ld, saved);
	feature = item->child;
	if (!tree_array(ld, object, "threshold", nsplits, "one per split, as in \"feature\"",
					&threshold) ||
		!tree_array(ld, object, "left", nsplits, "one per split, as in \"feature\"", &left) ||
		!tree_array(ld, object, "right", nsplits, "one per split, as in \"feature\"", &right) ||
		!tree_array(ld, object, "value", nsplits + 1,
					"one per leaf: a tree with n splits has n + 1 leaves", &value))
		return false;
	if (rules->adaboost &&
		!tree_array(ld, object, "value_negative", nsplits + 1, "one per leaf, as in \"value\"",
					&negative))
		return false;
	if (member(ld, object, "missing_left", rules->missing_left) != NULL)
	{
		if (!tree_array(ld, object, "missing_left", nsplits, "one per split, as in \"feature\"",
						&missing))
			return false;
	}
	else if (rules->missing_left)
		return false;
	if (!load_value0(ld, object, nsplits + 1, &value0))
		return false;

	root = scratch->next_node;
	if (!rules->adaboost && !load_cover(ld, object, nsplits, root))
		return false;
	t->root = (uint32_t) root;
	t->nsplits = (uint32_t) nsplits;
	t->depth = 0;
	t->leaf_offset = (int64_t) scratch->next_leaf - (int64_t) (root + nsplits);
	memset(scratch->referenced, 0, 2 * nsplits + 1);
	scratch->depth[0] = 0;

	for (size_t i = 0; i < nsplits; i++)
	{
		size_t		at = ld->path_len;
		long		f;
		long		m = 0;
		uint32_t	l;
		uint32_t	r;
		double		thr = 0;
		bool		categorical_split = false;

		if (!is_integer_in(feature, 0, (double) ld->model->nfeatures - 1, &f))
		{
			path_push_element(ld, "feature", i);
			return expect_integer(ld, feature, 0, (double) ld->model->nfeatures - 1,
								  "a feature index", &f);
		}
		if (missing != NULL)
		{
			if (!is_integer_in(missing, 0, 1, &m))
			{
				path_push_element(ld, "missing_left", i);
				return expect_integer(ld, missing, 0, 1, "a 0/1 flag", &m);
			}
			missing = missing->next;
		}
		if (rules->hist && cJSON_IsArray(threshold))
		{
			uint32_t   *bits = (uint32_t *) est->bitsets + BITSET_WORDS * scratch->next_bitset;

			path_push_element(ld, "threshold", i);
			if (!rules->categorical[f])
				return fail(ld, "a list of categories, but feature %ld is not in \"categorical\"", f);
			if (!load_category_split(ld, threshold, rules->known + 8 * (size_t) f, m != 0, bits))
				return false;
			path_set(ld, at);
			categorical_split = true;
		}
		else if (rules->hist && rules->categorical[f])
		{
			path_push_element(ld, "threshold", i);
			return fail(ld, "feature %ld is categorical: expected the list of category codes "
						"that go left, got %s", f, json_type_name(threshold));
		}
		else if (!is_threshold(threshold, &thr))
		{
			path_push_element(ld, "threshold", i);
			return expect_threshold(ld, threshold, &thr);
		}
		else if (rules->xgboost && !is_float32(thr))
		{
			path_push_element(ld, "threshold", i);
			return fail(ld, "expected a finite float32 split condition, got %.17g", thr);
		}
		if (!load_child(ld, "left", left, i, nsplits, scratch->referenced, &l) ||
			!load_child(ld, "right", right, i, nsplits, scratch->referenced, &r))
			return false;

		scratch->depth[l] = scratch->depth[r] = scratch->depth[i] + 1;
		if (scratch->depth[l] > t->depth)
			t->depth = scratch->depth[l];
		if (rules->hist)
		{
			hist_node  *n = (hist_node *) est->hist_nodes + root + i;

			n->threshold = thr;
			n->slot = (uint32_t) f | (m ? NODE_MISSING_LEFT : 0) |
				(categorical_split ? NODE_CATEGORICAL : 0);
			n->child[1] = (uint32_t) root + l;
			n->child[0] = (uint32_t) root + r;
			if (categorical_split)
				n->bitset = (uint32_t) scratch->next_bitset++;
		}
		else
		{
			tree_node  *n = (tree_node *) est->nodes + root + i;

			/* x < t is x <= the float32 below t: every x is a float32 here */
			n->threshold = rules->xgboost ? nextafterf((float) thr, -INFINITY) :
				float32_at_or_below(thr);
			n->slot = (uint32_t) f | (m ? NODE_MISSING_LEFT : 0);
			n->child[1] = (uint32_t) root + l;
			n->child[0] = (uint32_t) root + r;
		}
		feature = feature->next;
		threshold = threshold->next;
		left = left->next;
		right = right->next;
	}

	for (size_t i = 0; i <= nsplits; i++, value = value->next)
	{
		double	   *leaf = (double *) est->leaves + scratch->next_leaf++;
		uint32_t	self = (uint32_t) (root + nsplits + i);

		/* a leaf compares false (NaN threshold, no flags) and stays put */
		if (rules->hist)
		{
			hist_node  *n = (hist_node *) est->hist_nodes + self;

			n->threshold = NAN;
			n->child[0] = n->child[1] = self;
		}
		else
		{
			tree_node  *n = (tree_node *) est->nodes + self;

			n->threshold = NAN;
			n->child[0] = n->child[1] = self;
		}

		if (!cJSON_IsNumber(value) || !isfinite(value->valuedouble) ||
			(rules->probability && !(value->valuedouble >= 0 && value->valuedouble <= 1)))
		{
			path_push_element(ld, "value", i);
			if (!expect_finite(ld, value, leaf))
				return false;
			return fail(ld, "expected a class fraction between 0 and 1, got %.17g", *leaf);
		}
		if (rules->xgboost && !is_float32(value->valuedouble))
		{
			path_push_element(ld, "value", i);
			return fail(ld, "expected a float32 leaf value, got %.17g", value->valuedouble);
		}
		*leaf = value->valuedouble;
		if (rules->adaboost && !load_leaf_pair(ld, &negative, i, leaf))
			return false;
		if (value0 != NULL)
		{
			if (!is_class_fraction(value0))
			{
				path_push_element(ld, "value0", i);
				return fail(ld, "expected a class fraction between 0 and 1");
			}
			((double *) est->leaves0)[scratch->next_leaf - 1] = value0->valuedouble;
			value0 = value0->next;
		}
	}
	scratch->next_node = root + 2 * nsplits + 1;
	return true;
}
