/*
 * score.h - the scorer's entry point per estimator, shared by score.c and
 * the combiners of the composite estimators (score_ensemble.c). Not part
 * of the public API.
 */
#ifndef PREDICT_SCORE_H
#define PREDICT_SCORE_H

#include "model.h"

/*
 * est's predict_proba[:, 1] for the observation, or with decision its
 * decision_function (only where estimator_has_decision); *predicted is
 * its predict() class (false for voting and calibrated, which have none
 * yet).
 */
predict_status score_estimator(const predict_model *model, const estimator *est,
							   const predict_value *values, bool decision, double *out,
							   bool *predicted, predict_error *err);
bool		estimator_has_decision(const estimator *est);

/* score_ensemble.c */
predict_status score_voting(const predict_model *model, const estimator *est,
							const predict_value *values, double *proba, predict_error *err);
predict_status score_calibrated(const predict_model *model, const estimator *est,
								const predict_value *values, double *proba,
								predict_error *err);

#endif							/* PREDICT_SCORE_H */
