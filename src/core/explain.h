/*
 * explain.h - the explanations of the tree estimators, shared by explain.c
 * (the public predict_explain) and the walkers: explain_tree.c
 * (path-dependent TreeSHAP in float64, scikit-learn's trees) and
 * explain_xgboost.c (XGBoost's own TreeSHAP, in its float32 arithmetic).
 * Not part of the public API.
 *
 * Both walk the trees over the features as scoring holds them: one entry
 * per slot (model.h, "feature_use"), float32 for the standard trees and
 * XGBoost, float64 plus category codes for HistGradientBoosting; and both
 * attribute to slots, which explain.c sums into input columns.
 */
#ifndef PREDICT_EXPLAIN_H
#define PREDICT_EXPLAIN_H

#include "model.h"

/*
 * The deepest tree an explanation walks: TreeSHAP keeps one path of unique
 * features per level of its recursion, (depth + 2)(depth + 3) / 2 elements
 * in all, in the caller's scratch (about 3 MiB at this depth).
 */
#define MAX_EXPLAIN_DEPTH 512

/* A linear model's contribution of feature f at the value x (explain.c). */
double		linear_contribution(const predict_model *model, size_t f, double x);

/*
 * One feature on the path from a tree's root (float64): the fraction of the
 * training cover that followed the path through this feature's splits
 * (zero), and whether the row did (one: 1 or 0).
 */
typedef struct shap_element
{
	int32_t		slot;
	double		zero;
	double		one;
} shap_element;

/* The same in XGBoost's float32 (its PathElement). */
typedef struct xgboost_element
{
	int32_t		slot;
	float		zero;
	float		one;
	float		weight;
} xgboost_element;

/* Path elements for trees at most depth deep. */
static inline size_t
shap_path_elements(uint32_t depth)
{
	return ((size_t) depth + 2) * ((size_t) depth + 3) / 2;
}

/* Doubles of polynomial scratch explain_trees needs for trees at most depth deep. */
static inline size_t
shap_poly_doubles(uint32_t depth)
{
	return 5 * ((size_t) depth + 2) + ((size_t) depth + 1) * ((size_t) depth + 2) / 2;
}

/*
 * Path-dependent TreeSHAP of every tree of est (standard trees read x32,
 * HistGradientBoosting's read x64 and codes, as scoring does), using the
 * covers est->cover: adds scale times each tree's attribution to
 * phi[slot], and returns scale times the sum of the trees' expected values
 * (each tree's cover-weighted mean leaf value). path has
 * shap_path_elements(deepest tree) elements, poly shap_poly_doubles(deepest
 * tree) doubles.
 */
double		explain_trees(const estimator *est, const float *x32, const double *x64,
						  const uint32_t *codes, double scale, double *phi, shap_element *path,
						  double *poly);

/*
 * XGBoost's pred_contribs (1.7, TreeSHAP in float32): adds each tree's
 * attribution to phi[slot] in float32 as XGBoost accumulates them, and
 * returns the bias column: the base margin plus the trees' root mean values,
 * in XGBoost's order. x32 holds the slots as score_xgboost casts them
 * (NaN for missing). path has shap_path_elements(deepest tree) elements.
 */
float		explain_xgboost(const estimator *est, const float *x32, float *phi,
							xgboost_element *path);

/*
 * That bias, the same for every row: the base margin plus the trees' root
 * mean values (FillNodeMeanValues), which the loader keeps in
 * est->xgboost_bias once the trees and their covers are loaded.
 */
float		xgboost_bias(const estimator *est);

#endif							/* PREDICT_EXPLAIN_H */
