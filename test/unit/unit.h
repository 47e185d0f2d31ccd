/*
 * unit.h - a minimal test harness for the core's C unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name: detail"; main()
 * prints "RESULT passed failed" and exits non-zero on any failure.
 */
#ifndef PREDICT_UNIT_H
#define PREDICT_UNIT_H

#include <stdbool.h>
#include <stddef.h>

#include "predict.h"

void		unit_report(const char *name, bool ok, const char *format,...)
			__attribute__((format(printf, 3, 4)));

/* A model document with the given text replacing the first `from`. */
char	   *unit_replace(const char *text, const char *from, const char *to);

/* Load text, expecting failure with a message containing want. */
void		expect_load_error(const char *name, const char *text, const predict_limits *limits,
							  const char *want);

/* Load text, expecting success; returns the model (caller frees). */
predict_model *expect_load(const char *name, const char *text);

/* A model with every step type, both column types and 8 features. */
extern const char base_model[];

/* Tree estimators over base_model's features (fixtures.c). */
extern const char forest_estimator[];
extern const char boosting_estimator[];
extern const char hist_estimator[];
extern const char xgboost_estimator[];
extern const char adaboost_estimator[];

/* For explanations (fixtures.c): feature means, trees with covers. */
extern const char reference_with_means[];
extern const char forest_with_cover[];
extern const char boosting_with_cover[];
extern const char hist_with_cover[];

/* base_model with its estimator object replaced (caller frees). */
char	   *unit_with_estimator(const char *estimator);

/*
 * The cJSON reader of observations that src/core/observation.c replaced
 * (reference_observation.c); the caller deletes *tree.
 */
struct cJSON;
predict_status reference_read_observation(const predict_model *model, const char *json,
										  size_t len, predict_value *values,
										  struct cJSON **tree, predict_error *err);

/*
 * Whether read_observation and the cJSON reader give the same status and
 * message, or the same values; if not, *why says how they differ.
 */
bool		readers_agree(const predict_model *model, const char *json, size_t len,
						  char *why, size_t size);

void		observation_tests(void);
void		format_g17_tests(void);
void		format_number_tests(void);
void		loader_tests(void);
void		score_tests(void);
void		tree_loader_tests(void);
void		tree_score_tests(void);
void		registry_error_tests(void);
void		xgboost_tests(void);
void		explain_xgboost_tests(void);
void		adaboost_tests(void);
void		predicted_class_tests(void);
void		skew_tests(void);
void		stage_tests(void);
void		ensemble_tests(void);
void		explain_tests(void);

#endif							/* PREDICT_UNIT_H */
