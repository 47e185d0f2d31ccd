/*
 * fuzz_model.c - libFuzzer target for the model loader: any bytes must be
 * refused cleanly or loaded; a loaded model is then scored with observations
 * built from its own columns, so fuzzed models exercise the scorer too.
 * The seeds (test/fuzz/seeds/model/) include every estimator type, tree
 * documents written by hand and exported from scikit-learn.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "predict.h"

static const char *const observation_values[] = {
	"null", "0", "-0.0", "1", "2.5", "1e300", "-1e300", "\"a\"", "\"male\"", "\"1_0\"",
	"\"nan\"", "\"inf\"", "true", "{}", "[]", "\"\"",
	/* trees: float32 overflow, category codes (negative, wrapping, 2^31) */
	"3.4028235677973366e38", "-1", "257", "2147483648", "\"-inf\"", "0.5",
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	predict_limits limits = predict_default_limits();
	predict_error err;
	predict_model *model;
	predict_value values[64];
	size_t		ncolumns;

	limits.max_model_bytes = 1 << 20;
	model = predict_model_load((const char *) data, size, &limits, NULL, &err);
	if (model == NULL)
		return 0;
	ncolumns = predict_model_ncolumns(model);
	if (ncolumns <= 64)
	{
		size_t		nvalues = sizeof(observation_values) / sizeof(observation_values[0]);

		for (size_t v = 0; v < nvalues; v++)
		{
			char		obs[8192];
			size_t		len = 0;
			double		proba;

			len += (size_t) snprintf(obs + len, sizeof(obs) - len, "{");
			for (size_t c = 0; c < ncolumns && len < sizeof(obs) - 400; c++)
			{
				char		key[300];

				/* column names are plain strings; quote-free ones are enough here */
				snprintf(key, sizeof(key), "%s", predict_model_column_name(model, c));
				if (strpbrk(key, "\"\\") != NULL)
					continue;
				len += (size_t) snprintf(obs + len, sizeof(obs) - len, "%s\"%s\": %s",
										 c ? ", " : "", key, observation_values[(v + c) % nvalues]);
			}
			snprintf(obs + len, sizeof(obs) - len, "}");
			if (predict_score_json(model, obs, strlen(obs), values, &proba, &err) == PREDICT_OK &&
				!(proba >= 0 && proba <= 1))
				__builtin_trap();	/* a probability outside [0, 1] is a bug */
		}
	}
	predict_model_free(model);
	return 0;
}
