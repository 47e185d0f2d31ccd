/*
 * fuzz_score.c - libFuzzer target for scoring: any bytes as an observation
 * against a model that has every step type (test/unit/fixtures.c) and the
 * same preprocessing ending in each tree estimator, and against the same
 * bytes read as host values (the path PostgreSQL uses). The explainable
 * fixtures (a linear model with feature means, trees with covers) explain
 * every row they score, and the explanation must add up to the score.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "predict.h"
#include "../unit/unit.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NMODELS 6

/* The fixtures: logistic regression, forest, boosting, HistGradientBoosting, XGBoost,
 * AdaBoost. */
static predict_model *
fixture_model(int which)
{
	static predict_model *models[NMODELS];
	predict_error err;

	if (models[which] == NULL)
	{
		const char *estimators[NMODELS] = {NULL, forest_estimator, boosting_estimator, hist_estimator,
			xgboost_estimator, adaboost_estimator};
		char	   *text = estimators[which] ? unit_with_estimator(estimators[which]) : NULL;
		const char *doc = text ? text : base_model;

		models[which] = predict_model_load(doc, strlen(doc), NULL, NULL, &err);
		free(text);
		if (models[which] == NULL)
			abort();
	}
	return models[which];
}

/* Host values straight from the bytes: kind, then a number or a string. */
static void
score_host_values(const predict_model *model, const uint8_t *data, size_t size)
{
	predict_value values[8];
	size_t		ncolumns = predict_model_ncolumns(model);
	size_t		at = 0;
	predict_error err;
	double		proba;

	memset(values, 0, sizeof(values));
	for (size_t c = 0; c < ncolumns && at < size; c++)
	{
		values[c].kind = (predict_value_kind) (data[at++] % 5);
		if (values[c].kind == PREDICT_VALUE_NUMBER && at + sizeof(double) <= size)
		{
			memcpy(&values[c].number, data + at, sizeof(double));
			at += sizeof(double);
		}
		else if (values[c].kind == PREDICT_VALUE_STRING)
		{
			size_t		len = at < size ? data[at++] % 16 : 0;

			if (len > size - at)
				len = size - at;
			values[c].string = (const char *) data + at;
			values[c].length = len;
			at += len;
		}
		else if (values[c].kind == PREDICT_VALUE_OTHER)
			values[c].length = at < size ? data[at++] % 2 : 0;
	}
	if (predict_score(model, values, &proba, &err) == PREDICT_OK && !(proba >= 0 && proba <= 1))
		abort();				/* a probability outside [0, 1] is a bug */
}

#define NEXPLAINED 4

/* The linear model with feature means, and the forest, boosting and HistGradientBoosting with covers. */
static predict_model *
explained_model(int which)
{
	static predict_model *models[NEXPLAINED];
	predict_error err;

	if (models[which] == NULL)
	{
		const char *estimators[NEXPLAINED] = {NULL, forest_with_cover, boosting_with_cover,
			hist_with_cover};
		char	   *text = estimators[which] ? unit_with_estimator(estimators[which]) :
			unit_replace(base_model, "\"positive_class\": 1,", reference_with_means);

		models[which] = predict_model_load(text, strlen(text), NULL, NULL, &err);
		free(text);
		if (models[which] == NULL || !predict_model_explainable(models[which], &err))
			abort();
	}
	return models[which];
}

/*
 * Explain the bytes: a row that scores must explain, and the base plus the
 * contributions must be its probability, or its log-odds where the
 * probability is far enough from 0 and 1 for logit to be exact enough.
 */
static void
explain_bytes(const predict_model *model, const uint8_t *data, size_t size)
{
	static double scratch[1 << 12];
	predict_value values[8];
	double		contributions[8];
	predict_error err;
	double		proba;
	double		base;
	double		sum;
	bool		predicted;
	predict_status status;

	if (predict_explain_scratch_size(model) > sizeof(scratch))
		abort();
	status = predict_explain_json(model, (const char *) data, size, values, scratch, &proba,
								  &predicted, &base, contributions, &err);
	if (status != PREDICT_OK)
	{
		if (status == PREDICT_UNSUPPORTED)
			abort();
		return;
	}
	sum = base;
	for (size_t c = 0; c < predict_model_ncolumns(model); c++)
		sum += contributions[c];
	if (predict_model_space(model) == PREDICT_SPACE_PROBABILITY)
	{
		if (!(fabs(sum - proba) <= 1e-9))
			abort();
	}
	else if (proba > 1e-6 && proba < 1 - 1e-6 && !(fabs(sum - log(proba / (1 - proba))) <= 1e-6))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int m = 0; m < NMODELS; m++)
	{
		const predict_model *model = fixture_model(m);
		predict_value values[8];
		predict_error err;
		double		proba;

		if (predict_score_json(model, (const char *) data, size, values, &proba, &err) == PREDICT_OK &&
			!(proba >= 0 && proba <= 1))
			abort();
		score_host_values(model, data, size);
	}
	for (int m = 0; m < NEXPLAINED; m++)
		explain_bytes(explained_model(m), data, size);
	return 0;
}
