/*
 * fuzz_score.c - libFuzzer target for scoring: any bytes as an observation
 * against a model that has every step type (test/unit/fixtures.c) and the
 * same preprocessing ending in each tree estimator, and against the same
 * bytes read as host values (the path PostgreSQL uses).
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
	return 0;
}
