/*
 * explain_xgboost.c - XGBoost's own explanations: Booster.predict with
 * pred_contribs=True (XGBoost 1.7, approx_contribs=False), the
 * path-dependent TreeSHAP of its CPU predictor, reproduced in its float32
 * arithmetic operation for operation so that every contribution and the
 * bias are bit-identical to XGBoost's.
 *
 * The algorithm is the one explain_tree.c computes in float64 (Lundberg et
 * al., "Consistent individualized feature attribution for tree ensembles",
 * algorithm 2); what is particular here is XGBoost's rounding: each float32
 * product and quotient in XGBoost's order (src/tree/tree_model.cc), each
 * tree's attributions summed apart and then added to the running totals
 * (src/predictor/cpu_predictor.cc, PredictContribution), and the bias as the
 * sum of the trees' root mean values with the base margin added last.
 *
 * Nothing here allocates: the path lives in the caller's scratch, one
 * tree's attributions on the stack.
 */
#include <string.h>

#include "explain.h"
#include "score.h"

/* What the recursion over one tree reads and writes. */
typedef struct xgboost_walk
{
	const estimator *est;
	const tree *tr;
	const float *x;				/* the slots, NaN for missing */
	float	   *tree_phi;		/* this tree's attributions per slot */
} xgboost_walk;

static inline bool
is_leaf(const tree *tr, uint32_t i)
{
	/* a tree's leaves follow its splits (load_tree) */
	return i >= tr->root + tr->nsplits;
}

static inline float
leaf_value(const estimator *est, const tree *tr, uint32_t i)
{
	return (float) est->leaves[(int64_t) i + tr->leaf_offset];
}

/* The training cover of node i: XGBoost's sum_hess, a float32 held exactly. */
static inline float
node_cover(const estimator *est, uint32_t i)
{
	return (float) est->cover[i];
}

/*
 * The cover-weighted mean leaf value below node i, in float32 as XGBoost's
 * FillNodeMeanValues (cpu_predictor.cc) computes it: left child's mean
 * times its cover, plus the right's, divided by the node's cover. Only the
 * root's is used (the bias), so it is computed per call rather than kept.
 */
static float
node_mean_value(const estimator *est, const tree *tr, uint32_t i)
{
	const tree_node *n = &est->nodes[i];
	float		result;

	if (is_leaf(tr, i))
		return leaf_value(est, tr, i);
	result = node_mean_value(est, tr, n->child[1]) * node_cover(est, n->child[1]);
	result += node_mean_value(est, tr, n->child[0]) * node_cover(est, n->child[0]);
	result /= node_cover(est, i);
	return result;
}

/*
 * Extend the path of depth elements with one more (XGBoost's ExtendPath):
 * the fractions of the cover (zero) and of the observation (one) that go
 * the new split's way, and the permutation weights updated for one more
 * feature. The weights are computed in XGBoost's order: ((f * w) * k) / n.
 */
static void
extend_path(xgboost_element *path, uint32_t depth, float zero, float one, int32_t slot)
{
	float		n = (float) (depth + 1);

	path[depth].slot = slot;
	path[depth].zero = zero;
	path[depth].one = one;
	path[depth].weight = depth == 0 ? 1.0f : 0.0f;
	for (int i = (int) depth - 1; i >= 0; i--)
	{
		path[i + 1].weight += one * path[i].weight * (float) (i + 1) / n;
		path[i].weight = zero * path[i].weight * (float) (depth - i) / n;
	}
}

/*
 * Undo the extension by element k (XGBoost's UnwindPath), so that a split
 * on a feature already on the path replaces its earlier element. The
 * weights stay in place; only the later elements' features and fractions
 * move down.
 */
static void
unwind_path(xgboost_element *path, uint32_t depth, uint32_t k)
{
	float		one = path[k].one;
	float		zero = path[k].zero;
	float		next_one_portion = path[depth].weight;
	float		n = (float) (depth + 1);

	for (int i = (int) depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			float		tmp = path[i].weight;

			path[i].weight = next_one_portion * n / ((float) (i + 1) * one);
			next_one_portion = tmp - path[i].weight * zero * (float) (depth - i) / n;
		}
		else
			path[i].weight = path[i].weight * n / (zero * (float) (depth - i));
	}
	for (uint32_t i = k; i < depth; i++)
	{
		path[i].slot = path[i + 1].slot;
		path[i].zero = path[i + 1].zero;
		path[i].one = path[i + 1].one;
	}
}

/*
 * The total permutation weight the path would have without element k
 * (XGBoost's UnwoundPathSum). Note XGBoost's parentheses, kept: its
 * (depth - i) / (depth + 1) is one quotient here, unlike in unwind_path.
 * An element with both fractions 0 adds nothing (XGBoost checks that its
 * weight is 0).
 */
static float
unwound_path_sum(const xgboost_element *path, uint32_t depth, uint32_t k)
{
	float		one = path[k].one;
	float		zero = path[k].zero;
	float		next_one_portion = path[depth].weight;
	float		n = (float) (depth + 1);
	float		total = 0;

	for (int i = (int) depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			float		tmp = next_one_portion * n / ((float) (i + 1) * one);

			total += tmp;
			next_one_portion = path[i].weight - tmp * zero * ((float) (depth - i) / n);
		}
		else if (zero != 0)
			total += path[i].weight / zero / ((float) (depth - i) / n);
	}
	return total;
}

/*
 * XGBoost's RegTree::TreeShap without conditioning (condition 0): node i
 * reached with the path parent of depth elements before this node's own,
 * which the split above adds with the fractions zero and one for its slot.
 * Each node works on a copy of its parent's path, right after it in the
 * scratch, so the cold branch sees the path as the hot branch found it.
 */
static void
tree_shap(const xgboost_walk *walk, uint32_t i, xgboost_element *parent, uint32_t depth,
		  float zero, float one, int32_t slot)
{
	const estimator *est = walk->est;
	const tree_node *n = &est->nodes[i];
	xgboost_element *path = parent + depth + 1;
	uint32_t	split_slot;
	uint32_t	hot;
	uint32_t	cold;
	float		cover;
	float		hot_zero;
	float		cold_zero;
	float		incoming_zero = 1;
	float		incoming_one = 1;
	uint32_t	k;

	/* element depth is written whole by extend_path: copy the ones before */
	memcpy(path, parent, depth * sizeof(*path));
	extend_path(path, depth, zero, one, slot);

	if (is_leaf(walk->tr, i))
	{
		float		value = leaf_value(est, walk->tr, i);

		/* XGBoost's last factor, the condition fraction 1, changes nothing */
		for (k = 1; k <= depth; k++)
		{
			float		w = unwound_path_sum(path, depth, k);

			walk->tree_phi[path[k].slot] += w * (path[k].one - path[k].zero) * value;
		}
		return;
	}

	split_slot = n->slot & NODE_SLOT_MASK;
	/* XGBoost's GetNextNode is scoring's step (score.h) */
	hot = tree_step_missing(est->nodes, i, walk->x);
	cold = hot == n->child[1] ? n->child[0] : n->child[1];
	cover = node_cover(est, i);
	hot_zero = node_cover(est, hot) / cover;
	cold_zero = node_cover(est, cold) / cover;

	/* a feature split on again above: undo its element and redo it here */
	for (k = 0; k <= depth; k++)
		if ((uint32_t) path[k].slot == split_slot)
			break;
	if (k != depth + 1)
	{
		incoming_zero = path[k].zero;
		incoming_one = path[k].one;
		unwind_path(path, depth, k);
		depth--;
	}

	tree_shap(walk, hot, path, depth + 1, hot_zero * incoming_zero, incoming_one,
			  (int32_t) split_slot);
	tree_shap(walk, cold, path, depth + 1, cold_zero * incoming_zero, 0,
			  (int32_t) split_slot);
}

/*
 * XGBoost's PredictContribution for one row (binary:logistic, one output
 * group, gbtree: no tree weights): per tree, its contributions summed from
 * zero apart (CalculateContributions into this_tree_contribs, the root mean
 * value into the bias), then each added to the row's totals; the base
 * margin is added to the bias after the last tree.
 *
 * The per-tree sums start at zero for every slot; a slot the tree does not
 * split on stays +0, and adding +0 to a total changes nothing (the totals
 * start at +0 and a float32 sum is never -0 then), so only the tree's split
 * slots are added, and reset for the next tree.
 */
float
explain_xgboost(const estimator *est, const float *x32, float *phi, xgboost_element *path)
{
	float		tree_phi[MAX_TREE_FEATURES];
	xgboost_walk walk;

	memset(tree_phi, 0, est->nslots * sizeof(float));
	walk.est = est;
	walk.x = x32;
	walk.tree_phi = tree_phi;
	for (size_t t = 0; t < est->ntrees; t++)
	{
		const tree *tr = &est->trees[t];

		walk.tr = tr;
		/* CalculateContributions: the root extends an empty path, slot -1 */
		tree_shap(&walk, tr->root, path, 0, 1, 1, -1);
		for (uint32_t i = tr->root; i < tr->root + tr->nsplits; i++)
		{
			uint32_t	s = est->nodes[i].slot & NODE_SLOT_MASK;

			phi[s] += tree_phi[s];
			tree_phi[s] = 0;
		}
	}
	return est->xgboost_bias;
}

float
xgboost_bias(const estimator *est)
{
	float		bias = 0;

	for (size_t t = 0; t < est->ntrees; t++)
		bias += node_mean_value(est, &est->trees[t], est->trees[t].root);
	return bias + (float) est->init;
}
