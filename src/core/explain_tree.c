/*
 * explain_tree.c - path-dependent TreeSHAP (Lundberg et al., "Consistent
 * individualized feature attribution for tree ensembles", Algorithm 2) for
 * scikit-learn's trees, in float64.
 *
 * The value of a set S of features is the tree's expected output when the
 * features in S take the row's values and the others are unknown: at a
 * split on a feature in S the row's way is taken, at any other the two ways
 * are weighted by the fraction of the training cover that went each way.
 * The attributions are the Shapley values of that game, computed in one
 * walk of the tree that carries the path of unique features from the root
 * with the weight of every subset size (shap_element): O(leaves x depth^2).
 *
 * "The row's way" is exactly scoring's way (score.c: tree_step_missing,
 * hist_step), missing values and categories included, so the explanation
 * of a row explains the score it got.
 */
#include <math.h>

#include "explain.h"

/* One walk: the trees' data, the row, and where attributions go. */
typedef struct walk
{
	const estimator *est;
	const tree *t;
	const float *x32;			/* standard trees */
	const double *x64;			/* HistGradientBoosting */
	const uint32_t *codes;
	double		scale;
	double	   *phi;
	double		expected;		/* the tree's value of the empty set */
} walk;

/* Add a feature to the path: every subset size's weight is updated. */
static void
extend_path(shap_element *path, uint32_t depth, double zero, double one, int32_t slot)
{
	path[depth].slot = slot;
	path[depth].zero = zero;
	path[depth].one = one;
	path[depth].weight = depth == 0 ? 1.0 : 0.0;
	for (int64_t i = (int64_t) depth - 1; i >= 0; i--)
	{
		path[i + 1].weight += one * path[i].weight * (double) (i + 1) / (double) (depth + 1);
		path[i].weight = zero * path[i].weight * (double) (depth - i) / (double) (depth + 1);
	}
}

/* Take element k back out of the path (its feature is split on again). */
static void
unwind_path(shap_element *path, uint32_t depth, uint32_t k)
{
	double		one = path[k].one;
	double		zero = path[k].zero;
	double		next = path[depth].weight;

	for (int64_t i = (int64_t) depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			double		w = path[i].weight;

			path[i].weight = next * (double) (depth + 1) / ((double) (i + 1) * one);
			next = w - path[i].weight * zero * (double) (depth - i) / (double) (depth + 1);
		}
		else
			path[i].weight = path[i].weight * (double) (depth + 1) / (zero * (double) (depth - i));
	}
	for (uint32_t i = k; i < depth; i++)
	{
		path[i].slot = path[i + 1].slot;
		path[i].zero = path[i + 1].zero;
		path[i].one = path[i + 1].one;
	}
}

/* The total weight of the path with element k unwound, without unwinding it. */
static double
unwound_sum(const shap_element *path, uint32_t depth, uint32_t k)
{
	double		one = path[k].one;
	double		zero = path[k].zero;
	double		next = path[depth].weight;
	double		total = 0;

	for (int64_t i = (int64_t) depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			double		w = next / ((double) (i + 1) * one);

			total += w;
			next = path[i].weight - w * zero * (double) (depth - i);
		}
		else
			total += path[i].weight / (zero * (double) (depth - i));
	}
	return total * (double) (depth + 1);
}

/* Whether the row goes left at split i, as scoring decides. */
static bool
goes_left(const walk *w, uint32_t i)
{
	const estimator *est = w->est;

	if (est->hist_nodes != NULL)
	{
		const hist_node *n = &est->hist_nodes[i];
		uint32_t	slot = n->slot & NODE_SLOT_MASK;
		double		v;

		if (n->slot & NODE_CATEGORICAL)
		{
			uint32_t	code = w->codes[slot];

			return (est->bitsets[BITSET_WORDS * (size_t) n->bitset + code / 32] >> (code % 32)) & 1;
		}
		v = w->x64[slot];
		return v <= n->threshold || (isnan(v) && (n->slot & NODE_MISSING_LEFT));
	}
	else
	{
		const tree_node *n = &est->nodes[i];
		float		v = w->x32[n->slot & NODE_SLOT_MASK];

		return v <= n->threshold || (isnan(v) && (n->slot & NODE_MISSING_LEFT));
	}
}

static void
node_children(const estimator *est, uint32_t i, uint32_t *left, uint32_t *right, int32_t *slot)
{
	if (est->hist_nodes != NULL)
	{
		*left = est->hist_nodes[i].child[1];
		*right = est->hist_nodes[i].child[0];
		*slot = (int32_t) (est->hist_nodes[i].slot & NODE_SLOT_MASK);
	}
	else
	{
		*left = est->nodes[i].child[1];
		*right = est->nodes[i].child[0];
		*slot = (int32_t) (est->nodes[i].slot & NODE_SLOT_MASK);
	}
}

/*
 * The recursion of Algorithm 2 at node i: parent is the parent's path
 * (depth + 1 elements, the root's placeholder first), extended here by the
 * feature that led to i with its fractions; reach is the product of the
 * cover fractions from the root, the weight of this node in the empty set's
 * value. Each level's path is a copy in the next part of the scratch.
 */
static void
recurse(walk *w, uint32_t i, shap_element *parent, uint32_t depth, double zero, double one,
		int32_t feature, double reach)
{
	const estimator *est = w->est;
	shap_element *path = parent + depth + 1;
	uint32_t	left;
	uint32_t	right;
	uint32_t	hot;
	uint32_t	cold;
	int32_t		slot;
	double		incoming_zero = 1.0;
	double		incoming_one = 1.0;
	double		cover = est->cover[i];

	for (uint32_t k = 0; k <= depth; k++)
		path[k] = parent[k];
	extend_path(path, depth, zero, one, feature);

	if (i >= w->t->root + w->t->nsplits)
	{
		double		value = est->leaves[(int64_t) i + w->t->leaf_offset];

		for (uint32_t k = 1; k <= depth; k++)
			w->phi[path[k].slot] += w->scale * unwound_sum(path, depth, k) *
				(path[k].one - path[k].zero) * value;
		w->expected += reach * value;
		return;
	}

	node_children(est, i, &left, &right, &slot);
	hot = goes_left(w, i) ? left : right;
	cold = hot == left ? right : left;
	/* a feature already on the path is taken out, its fractions carried on */
	for (uint32_t k = 1; k <= depth; k++)
		if (path[k].slot == slot)
		{
			incoming_zero = path[k].zero;
			incoming_one = path[k].one;
			unwind_path(path, depth, k);
			depth--;
			break;
		}
	recurse(w, hot, path, depth + 1, est->cover[hot] / cover * incoming_zero, incoming_one,
			slot, reach * (est->cover[hot] / cover));
	/* a way no training row took adds nothing to any subset's value */
	if (est->cover[cold] > 0)
		recurse(w, cold, path, depth + 1, est->cover[cold] / cover * incoming_zero, 0.0,
				slot, reach * (est->cover[cold] / cover));
}

double
explain_trees(const estimator *est, const float *x32, const double *x64, const uint32_t *codes,
			  double scale, double *phi, shap_element *path)
{
	walk		w = {est, NULL, x32, x64, codes, scale, phi, 0.0};
	double		expected = 0.0;

	path[0] = (shap_element) {-1, 1.0, 1.0, 1.0};	/* copied by the root's call */
	for (size_t t = 0; t < est->ntrees; t++)
	{
		w.t = &est->trees[t];
		w.expected = 0.0;
		/* the root's call: an empty path whose placeholder has no feature */
		recurse(&w, w.t->root, path, 0, 1.0, 1.0, -1, 1.0);
		expected += scale * w.expected;
	}
	return expected;
}
