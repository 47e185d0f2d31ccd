/*
 * explain_tree.c - path-dependent TreeSHAP (Lundberg et al., "Consistent
 * individualized feature attribution for tree ensembles"; "From local
 * explanations to global understanding with explainable AI for trees",
 * 2020) for scikit-learn's trees, in float64.
 *
 * The value of a set S of features is the tree's expected output when the
 * features in S take the row's values and the others are unknown: at a
 * split on a feature in S the row's way is taken, at any other the two ways
 * are weighted by their children's training covers over the split's own.
 * Each leaf adds a product game to it: for the features u on the path to
 * the leaf, z_u is the fraction of the cover that followed the path
 * through u's splits and o_u is 1 if the row did too, else 0, and the leaf
 * adds value * prod(u in S) o_u * prod(u not in S) z_u to v(S). The
 * Shapley value of feature j in that game is
 *
 *     value * (o_j - z_j) * sum_k w_d(k) [t^k] prod(u != j) (z_u + o_u t)
 *
 * with d the path's features and w_d(k) = k! (d - k - 1)! / d!, the
 * weight of a coalition of k of the others. One walk of the tree carries
 * each path's (z_u, o_u) per feature, and each leaf computes its terms
 * from them: O(leaves x depth^2), as the paper's Algorithm 2.
 *
 * Why not Algorithm 2 itself: it keeps the path's permutation weights
 * updated as features are added and, for a feature split on again,
 * removed, and removing divides by fractions; on the deep trees of a
 * forest grown to purity (65 levels on the Titanic data, features split on
 * many times along a path) its errors reached 0.04 in probability. Here
 * every product and sum is of nonnegative numbers but for the factor
 * (o_j - z_j) (leaf_terms). XGBoost's explanations are Algorithm 2 on
 * purpose: they reproduce XGBoost's (explain_xgboost.c).
 *
 * "The row's way" is scoring's own step (score.h: tree_step_missing,
 * hist_step), missing values and categories included, so the explanation
 * of a row explains the score it got.
 */
#include <math.h>

#include "explain.h"
#include "score.h"

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
	double	   *poly;			/* the hot features' polynomial, and scratch */
	double		expected;		/* the tree's value of the empty set */
} walk;

/* Node i's children (left, right), its split's slot, and the row's way, as scoring goes. */
static uint32_t
row_way(const walk *w, uint32_t i, uint32_t *left, uint32_t *right, int32_t *slot)
{
	const estimator *est = w->est;

	if (est->hist_nodes != NULL)
	{
		*left = est->hist_nodes[i].child[1];
		*right = est->hist_nodes[i].child[0];
		*slot = (int32_t) (est->hist_nodes[i].slot & NODE_SLOT_MASK);
		return hist_step(est, i, w->x64, w->codes);
	}
	*left = est->nodes[i].child[1];
	*right = est->nodes[i].child[0];
	*slot = (int32_t) (est->nodes[i].slot & NODE_SLOT_MASK);
	/* without learned missing values no NaN reaches here: scoring refused it */
	return tree_step_missing(est->nodes, i, w->x32);
}

/* w_d(k) = k! (d - k - 1)! / d! for k = 0 .. d - 1, by its ratio from k to k + 1. */
static void
coalition_weights(uint32_t d, double *w)
{
	w[0] = 1.0 / (double) d;
	for (uint32_t k = 0; k + 1 < d; k++)
		w[k + 1] = w[k] * (double) (k + 1) / (double) (d - k - 1);
}

/*
 * A leaf's share of every feature's Shapley value and of the empty set's
 * value, from the path's n features. The hot ones (o = 1), h of them, make
 * the polynomial P(t) = prod (z_u + t); the cold ones (o = 0) a constant
 * factor, prod z_u, which each cold feature takes without its own z_u
 * (prefix and suffix products). A hot feature j needs P without its own
 * factor, the product of the hot factors before it (Pre_j, built going up)
 * and after it (Suf_j); what it needs of Suf_j is
 * G_j[a] = sum_b Suf_j[b] w(a + b), which going down from G_h[a] = w(a)
 * is G_{j-1}[a] = z_j G_j[a] + G_j[a + 1]: sums of products of
 * nonnegative numbers only, no division, so the terms keep their relative
 * precision (dividing P by (z_j + t) instead lost all of it: 1e-5 on a
 * Titanic tree 65 levels deep).
 */
static void
leaf_terms(walk *w, const shap_element *path, uint32_t n, double value)
{
	double	   *p = w->poly;
	double	   *weight = p + (n + 1);
	double	   *after = weight + (n + 1);
	double	   *pre = after + (n + 1);
	double	   *hot_zero = pre + (n + 1);
	double	   *g = hot_zero + (n + 1);	/* G_j at g + (j - 1) j / 2, j entries */
	double		cold = 1.0;
	double		sum = 0.0;
	double		before = 1.0;
	uint32_t	h = 0;
	uint32_t	j = 0;

	p[0] = 1.0;
	after[n] = 1.0;
	for (uint32_t u = n; u-- > 0;)
		after[u] = path[u].one == 0 ? after[u + 1] * path[u].zero : after[u + 1];
	for (uint32_t u = 0; u < n; u++)
	{
		if (path[u].one == 0)
		{
			cold *= path[u].zero;
			continue;
		}
		/* P(t) (z_u + t), the highest coefficient first */
		p[h + 1] = p[h];
		for (uint32_t k = h; k > 0; k--)
			p[k] = p[k] * path[u].zero + p[k - 1];
		p[0] *= path[u].zero;
		hot_zero[++h] = path[u].zero;
	}
	w->expected += value * cold * p[0];
	coalition_weights(n, weight);
	for (uint32_t k = 0; k <= h && k < n; k++)
		sum += weight[k] * p[k];

	if (h > 0)
	{
		double	   *gh = g + (size_t) (h - 1) * h / 2;

		for (uint32_t a = 0; a < h; a++)
			gh[a] = weight[a];
		for (uint32_t k = h; k > 1; k--)
		{
			const double *gk = g + (size_t) (k - 1) * k / 2;
			double	   *down = g + (size_t) (k - 2) * (k - 1) / 2;

			for (uint32_t a = 0; a + 1 < k; a++)
				down[a] = hot_zero[k] * gk[a] + gk[a + 1];
		}
	}

	pre[0] = 1.0;
	for (uint32_t u = 0; u < n; u++)
	{
		double		share;

		if (path[u].one == 0)
		{
			/* the other cold features' product, before u and after it */
			share = -path[u].zero * before * after[u + 1] * sum;
			before *= path[u].zero;
		}
		else
		{
			const double *gj = g + (size_t) j * (j + 1) / 2;	/* G_{j+1} */
			double		s = 0.0;

			for (uint32_t a = 0; a <= j; a++)
				s += pre[a] * gj[a];
			share = (1.0 - path[u].zero) * cold * s;
			/* Pre (z_u + t) for the next hot feature */
			pre[j + 1] = pre[j];
			for (uint32_t k = j; k > 0; k--)
				pre[k] = pre[k] * path[u].zero + pre[k - 1];
			pre[0] *= path[u].zero;
			j++;
		}
		w->phi[path[u].slot] += w->scale * value * share;
	}
}

/*
 * Node i, reached with the path parent (n features) extended by the split
 * above it: feature slot, the fraction of the cover that came this way, and
 * whether the row did. A feature already on the path multiplies its
 * fractions. Each level's path is a copy in the next part of the scratch,
 * so that the cold branch sees the path as the hot branch found it.
 */
static void
recurse(walk *w, uint32_t i, const shap_element *parent, uint32_t n, int32_t slot,
		double zero, double one)
{
	const estimator *est = w->est;
	shap_element *path = (shap_element *) parent + n;
	uint32_t	left;
	uint32_t	right;
	uint32_t	hot;
	uint32_t	k;
	int32_t		split;
	double		cover = est->cover[i];

	for (k = 0; k < n; k++)
		path[k] = parent[k];
	if (slot >= 0)
	{
		for (k = 0; k < n && path[k].slot != slot; k++)
			;
		if (k == n)
			path[n++] = (shap_element) {slot, 1.0, 1.0};
		path[k].zero *= zero;
		path[k].one *= one;
	}

	if (i >= w->t->root + w->t->nsplits)
	{
		double		value = est->leaves[(int64_t) i + w->t->leaf_offset];

		if (n == 0)
			w->expected += value;	/* a tree that is one leaf */
		else
			leaf_terms(w, path, n, value);
		return;
	}

	hot = row_way(w, i, &left, &right, &split);
	recurse(w, hot, path, n, split, est->cover[hot] / cover, 1.0);
	/* a way no training row took adds nothing to any coalition's value */
	if (est->cover[hot == left ? right : left] > 0)
		recurse(w, hot == left ? right : left, path, n, split,
				est->cover[hot == left ? right : left] / cover, 0.0);
}

double
explain_trees(const estimator *est, const float *x32, const double *x64, const uint32_t *codes,
			  double scale, double *phi, shap_element *path, double *poly)
{
	walk		w = {est, NULL, x32, x64, codes, scale, phi, poly, 0.0};
	double		expected = 0.0;

	for (size_t t = 0; t < est->ntrees; t++)
	{
		w.t = &est->trees[t];
		w.expected = 0.0;
		recurse(&w, w.t->root, path, 0, -1, 1.0, 1.0);
		expected += scale * w.expected;
	}
	return expected;
}
