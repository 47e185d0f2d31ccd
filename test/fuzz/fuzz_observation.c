/*
 * fuzz_observation.c - libFuzzer target comparing the observation scanner
 * (src/core/observation.c) with the cJSON reader it replaced
 * (test/unit/reference_observation.c): any bytes must give both the same
 * status and message, or the same values, bit for bit, and then the same
 * probability and class through predict_score_json_class.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "predict.h"
#include "../unit/unit.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static predict_model *
fixture_model(void)
{
	static predict_model *model;
	predict_error err;

	if (model == NULL && (model = predict_model_load(base_model, strlen(base_model),
													 NULL, NULL, &err)) == NULL)
		abort();
	return model;
}

/* The public entry point against the reference reader and the same scorer. */
static void
compare_scores(const predict_model *model, const char *text, size_t size)
{
	predict_value values[8];
	predict_error mine = {0};
	predict_error theirs = {0};
	double		p1 = -1;
	double		p2 = -1;
	bool		c1 = false;
	bool		c2 = false;
	cJSON	   *tree;
	predict_status a;
	predict_status b;

	a = predict_score_json_class(model, text, size, values, &p1, &c1, &mine);
	b = reference_read_observation(model, text, size, values, &tree, &theirs);
	if (b == PREDICT_OK)
		b = predict_score_class(model, values, &p2, &c2, &theirs);
	cJSON_Delete(tree);
	if (a != b || (a != PREDICT_OK && strcmp(mine.message, theirs.message) != 0) ||
		(a == PREDICT_OK && (memcmp(&p1, &p2, sizeof(double)) != 0 || c1 != c2)))
	{
		fprintf(stderr, "scores differ: scanner %d %s %.17g; cJSON %d %s %.17g\n",
				a, mine.message, p1, b, theirs.message, p2);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const predict_model *model = fixture_model();
	char		why[1024];

	if (!readers_agree(model, (const char *) data, size, why, sizeof(why)))
	{
		fprintf(stderr, "readers differ: %s\n", why);
		abort();
	}
	compare_scores(model, (const char *) data, size);
	return 0;
}
