/*
 * score.h - the scorer's entry point per estimator, shared by score.c and
 * the combiners of the composite estimators (score_ensemble.c). Not part
 * of the public API.
 */
#ifndef PREDICT_SCORE_H
#define PREDICT_SCORE_H

#include "model.h"

/*
 * What an estimator gives for one observation. Both columns of
 * predict_proba are kept as scikit-learn computes each (column 0 is not
 * always 1 - column 1: the forests and GaussianNB compute it on its own),
 * because a soft VotingClassifier's predict() compares their averages.
 */
typedef struct estimate
{
	double		proba;			/* predict_proba[:, 1], or decision_function */
	double		proba0;			/* predict_proba[:, 0]; NaN for probability
								 * trees without "value0" */
	bool		predicted;		/* predict() is classes_[1] */
} estimate;

/*
 * est's estimate for the observation, or with decision its
 * decision_function in out->proba (only where estimator_has_decision).
 */
predict_status score_estimator(const predict_model *model, const estimator *est,
							   const predict_value *values, bool decision, estimate *out,
							   predict_error *err);
bool		estimator_has_decision(const estimator *est);

/*
 * A categorical value's code, as scikit-learn 1.2's compiled predictor
 * takes it from a float64: NaN and negative values are missing; otherwise a
 * C cast to uint8, which x86-64 performs as a truncation to int32
 * (0x80000000 when out of range) keeping the low byte. So 257.9 reads as 1
 * and anything from 2^31 up, +inf included, as 0.
 */
static inline uint32_t
category_code(double v)
{
	if (!(v >= 0))
		return CATEGORY_MISSING;
	if (v < 2147483648.0)
		return (uint32_t) (int32_t) v & 0xff;
	return 0;
}

/*
 * One step down a standard tree (score.c, tree_step) when the trees route
 * missing values (scikit-learn >= 1.3, XGBoost's default directions): NaN
 * compares false and goes right unless the split learned to send it left.
 * Explanations walk with it too, so that they take scoring's way exactly.
 * (Kept apart: the extra test costs 13% on models that reject NaN.)
 */
static inline uint32_t
tree_step_missing(const tree_node *nodes, uint32_t i, const float *x)
{
	const tree_node *n = &nodes[i];
	float		v = x[n->slot & NODE_SLOT_MASK];

	return n->child[(unsigned) (v <= n->threshold) | ((unsigned) (v != v) & (n->slot >> 31))];
}

/*
 * One step down a HistGradientBoosting tree (_predictor.pyx,
 * _predict_one_from_raw_data): a numeric split compares float64 values and
 * sends NaN the learned missing-value way, without a branch; a categorical
 * split looks up the feature's category code (precomputed per row, see
 * category_code) in its bitset, whose code CATEGORY_MISSING is the
 * missing-value way. Testing the kind of split with a branch keeps the
 * bitset's load off the numeric splits' chain of loads: measured 25% faster
 * than selecting between both results, categorical features included.
 */
static inline uint32_t
hist_step(const estimator *est, uint32_t i, const double *x, const uint32_t *codes)
{
	const hist_node *n = &est->hist_nodes[i];
	uint32_t	slot = n->slot & NODE_SLOT_MASK;
	double		v;

	if (n->slot & NODE_CATEGORICAL)
	{
		uint32_t	code = codes[slot];

		return n->child[(est->bitsets[BITSET_WORDS * (size_t) n->bitset + code / 32] >>
						 (code % 32)) & 1];
	}
	v = x[slot];
	return n->child[(unsigned) (v <= n->threshold) | ((unsigned) (v != v) & (n->slot >> 31))];
}

/* An observation's error about column col: "column \"name\": " and format with detail. */
predict_status column_error(const predict_model *model, uint32_t col, predict_error *err,
							const char *format, const char *detail);

/*
 * Every block's outputs, densely, into work[0 .. blocks' width - 1]; with
 * hots, each one-hot block's hot feature (-1: none) into hots[block].
 */
predict_status fill_block_features(const predict_model *model, const predict_value *values,
								   double *work, int32_t *hots, predict_error *err);

/* score_ensemble.c */
predict_status score_voting(const predict_model *model, const estimator *est,
							const predict_value *values, estimate *out, predict_error *err);
predict_status score_calibrated(const predict_model *model, const estimator *est,
								const predict_value *values, estimate *out,
								predict_error *err);

#endif							/* PREDICT_SCORE_H */
