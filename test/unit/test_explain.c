/*
 * test_explain.c - explanations (docs/model-format.md, "Explanations") on
 * the fixtures, with values worked out apart from the code: the linear
 * formula by hand, the forest's SHAP values by enumerating every subset of
 * its split features in Python (path-dependent expectations over the covers
 * below). Also the loader's rules for "cover" and "feature_means", the
 * models that cannot be explained, and the order of a notice's reasons.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* base_model's row: features [0, 1, 0, -1, 0, 2, 0.25, 1] */
static const char row[] = "{\"Sex\": \"male\", \"Age\": 20, \"Embarked\": \"S\", \"Pclass\": 3}";


typedef struct explained
{
	predict_status status;
	double		proba;
	double		base;
	double		contributions[5];
	char		message[PREDICT_ERROR_SIZE];
} explained;

static explained
explain(const predict_model *model, const char *observation)
{
	explained	e = {0};
	predict_value values[5];
	predict_error err = {0};
	void	   *scratch = malloc(predict_explain_scratch_size(model));
	bool		predicted;

	if (scratch == NULL)
		abort();
	e.status = predict_explain_json(model, observation, strlen(observation), values, scratch,
									&e.proba, &predicted, &e.base, e.contributions, &err);
	snprintf(e.message, sizeof(e.message), "%s", err.message);
	free(scratch);
	return e;
}

static double
sum_of(const explained *e)
{
	double		s = e->base;

	for (int i = 0; i < 5; i++)
		s += e->contributions[i];
	return s;
}

static void
expect_contributions(const char *name, const explained *e, double base, const double *want)
{
	bool		ok = e->status == PREDICT_OK && fabs(e->base - base) <= 1e-12;

	for (int i = 0; i < 5 && ok; i++)
		ok = fabs(e->contributions[i] - want[i]) <= 1e-12;
	unit_report(name, ok, "status %d (%s), base %.17g (want %.17g), contributions %.17g %.17g %.17g %.17g %.17g",
				e->status, e->message, e->base, base, e->contributions[0], e->contributions[1],
				e->contributions[2], e->contributions[3], e->contributions[4]);
}

static void
expect_unsupported(const char *name, const char *document, const char *want)
{
	predict_model *model = expect_load(name, document);
	explained	e;
	predict_error err = {0};

	if (model == NULL)
		return;
	e = explain(model, row);
	unit_report(name, e.status == PREDICT_UNSUPPORTED && strstr(e.message, want) != NULL &&
				!predict_model_explainable(model, &err) && strcmp(err.message, e.message) == 0,
				"status %d, message \"%s\" (want \"%s\")", e.status, e.message, want);
	predict_model_free(model);
}

/* Age's mean -1e308 and a row's Age 1e308: the row scores, its Age contribution overflows. */
static void
overflow_test(void)
{
	char	   *means = unit_replace(base_model, "\"positive_class\": 1,", reference_with_means);
	char	   *far = unit_replace(means, "0.25, 0.5, 0.25, 0, 0.5", "0.25, 0.5, 0.25, -1e308, 0.5");
	char	   *doc = unit_replace(far, "\"scale\": 10.0", "\"scale\": 1.0");
	predict_model *model = expect_load("linear with a far feature mean", doc);
	explained	e;

	if (model != NULL)
	{
		e = explain(model, "{\"Sex\": \"male\", \"Age\": 1e308, \"Embarked\": \"S\", \"Pclass\": 3}");
		unit_report("linear: a row that scores but whose contribution overflows is refused by column",
					e.status == PREDICT_BAD_OBSERVATION && strstr(e.message, "column \"Age\"") != NULL,
					"status %d, %s", e.status, e.message);
		predict_model_free(model);
	}
	free(doc);
	free(far);
	free(means);
}

static void
linear_tests(void)
{
	char	   *doc = unit_replace(base_model, "\"positive_class\": 1,", reference_with_means);
	predict_model *model = expect_load("logistic regression with feature means", doc);
	/* coef (x - mean) summed per column, worked out by hand */
	const double want[5] = {-1.125, -0.25, 0.3, 0.4, 0};
	explained	e;

	if (model != NULL)
	{
		e = explain(model, row);
		expect_contributions("linear: coef (x - mean) per column, base intercept + coef . mean",
							 &e, 1.4, want);
		unit_report("linear: the sum is the log-odds", fabs(sum_of(&e) - log(e.proba / (1 - e.proba))) <= 1e-12,
					"sum %.17g, logit %.17g", sum_of(&e), log(e.proba / (1 - e.proba)));
		unit_report("linear: the space is log-odds",
					predict_model_space(model) == PREDICT_SPACE_LOG_ODDS, "space %d",
					predict_model_space(model));
		e = explain(model, "{\"Sex\": \"male\", \"Embarked\": \"S\"}");
		unit_report("linear: a row scoring refuses fails as scoring does",
					e.status == PREDICT_BAD_OBSERVATION && strstr(e.message, "Pclass") != NULL,
					"status %d, %s", e.status, e.message);
		predict_model_free(model);
	}
	free(doc);
	overflow_test();
	expect_unsupported("linear without feature means", base_model, "reference.feature_means");
	doc = unit_replace(base_model, "\"positive_class\": 1,",
					   "\"reference\": {\"rows\": 10, \"proba\": {\"edges\": [0.5], \"fractions\": [0.5, 0.5]},"
					   " \"columns\": [], \"feature_means\": [0.25, 0.5]}, \"positive_class\": 1,");
	expect_load_error("feature means of the wrong length", doc, NULL,
					  "reference.feature_means: expected 8 numbers, got 2");
	free(doc);
}

static void
tree_tests(void)
{
	char	   *doc = unit_with_estimator(forest_with_cover);
	predict_model *model = expect_load("forest with covers", doc);
	/* the Shapley values of the path-dependent game, enumerated in Python */
	const double want[5] = {-0.09166666666666666, 0.008333333333333331, -0.065,
	-0.02666666666666666, 0};
	explained	e;

	if (model != NULL)
	{
		e = explain(model, row);
		expect_contributions("forest: SHAP values per column (Age credited off the row's path)",
							 &e, 0.475, want);
		unit_report("forest: the sum is the probability", fabs(sum_of(&e) - e.proba) <= 1e-12,
					"sum %.17g, proba %.17g", sum_of(&e), e.proba);
		unit_report("forest: the space is probability",
					predict_model_space(model) == PREDICT_SPACE_PROBABILITY, "space %d",
					predict_model_space(model));
		predict_model_free(model);
	}
	free(doc);

	doc = unit_with_estimator(boosting_with_cover);
	if ((model = expect_load("boosting with covers", doc)) != NULL)
	{
		e = explain(model, row);
		unit_report("boosting: the sum is the log-odds", e.status == PREDICT_OK &&
					fabs(sum_of(&e) - log(e.proba / (1 - e.proba))) <= 1e-12,
					"status %d (%s), sum %.17g, logit %.17g", e.status, e.message, sum_of(&e),
					log(e.proba / (1 - e.proba)));
		predict_model_free(model);
	}
	free(doc);

	doc = unit_with_estimator(hist_with_cover);
	if ((model = expect_load("hist gradient boosting with covers", doc)) != NULL)
	{
		const char *rows[] = {row, "{\"Sex\": \"female\", \"Age\": null, \"Pclass\": 1}",
		"{\"Sex\": \"male\", \"Age\": 45, \"Embarked\": \"X\", \"Pclass\": 2}"};

		for (int i = 0; i < 3; i++)
		{
			e = explain(model, rows[i]);
			unit_report("hist gradient boosting: the sum is the log-odds (missing, unknown categories)",
						e.status == PREDICT_OK && fabs(sum_of(&e) - log(e.proba / (1 - e.proba))) <= 1e-12,
						"row %d: status %d (%s), sum %.17g, logit %.17g", i, e.status, e.message,
						sum_of(&e), log(e.proba / (1 - e.proba)));
		}
		predict_model_free(model);
	}
	free(doc);

	doc = unit_with_estimator(forest_estimator);
	expect_unsupported("trees without covers", doc, "have no \"cover\"");
	free(doc);
	doc = unit_with_estimator(adaboost_estimator);
	expect_unsupported("adaboost", doc, "a adaboost estimator has no exact per-column explanation");
	free(doc);
}

static void
cover_loader_tests(void)
{
	static const struct
	{
		const char *name;
		const char *from;
		const char *to;
		const char *want;
	}			cases[] = {
		{"cover of the wrong length", "\"cover\": [100, 60, 40]", "\"cover\": [100, 60]",
		"estimator.trees[1].cover: expected 3 elements (one per split, then one per leaf), got 2"},
		{"a split's cover of 0", "\"cover\": [100, 60, 40]", "\"cover\": [0, 60, 40]",
		"estimator.trees[1].cover[0]: expected a finite cover, greater than 0"},
		{"a negative leaf cover", "\"cover\": [100, 60, 40]", "\"cover\": [100, -1, 40]",
		"estimator.trees[1].cover[1]: expected a finite cover, 0 or more"},
		{"a tree without cover", ", \"cover\": [100]", "",
		"estimator.trees[2]: missing field \"cover\""},
	};
	char	   *forest = unit_with_estimator(forest_with_cover);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *doc = unit_replace(forest, cases[i].from, cases[i].to);

		expect_load_error(cases[i].name, doc, NULL, cases[i].want);
		free(doc);
	}
	free(forest);
}

static void
append_text(void *sink, const char *s, size_t n)
{
	strncat((char *) sink, s, n);
}

/* An infinite value (1e400 for Embarked, an unknown category) is shown as the string "Infinity". */
static void
infinite_reason_test(void)
{
	char	   *doc = unit_replace(base_model, "\"positive_class\": 1,", reference_with_means);
	predict_model *model = expect_load("logistic regression with feature means", doc);
	static const char obs[] = "{\"Sex\": \"male\", \"Age\": 20, \"Embarked\": 1e400, \"Pclass\": 3}";
	predict_value values[5];
	double		contributions[5];
	predict_error err = {0};
	char		json[1024] = "";
	void	   *scratch;

	if (model == NULL)
		return;
	scratch = malloc(predict_explain_scratch_size(model));
	if (scratch == NULL)
		abort();
	unit_report("reasons: an infinite value is the string \"Infinity\"",
				predict_explain_json_reasons(model, obs, strlen(obs), values, scratch, contributions,
											 3, append_text, json, &err) == PREDICT_OK &&
				strstr(json, "\"value\": \"Infinity\"") != NULL,
				"%s %s", err.message, json);
	free(scratch);
	predict_model_free(model);
	free(doc);
}

static void
reasons_tests(void)
{
	const double c[6] = {0.5, -0.25, -1.0, -0.25, 0.0, -2.0};
	size_t		columns[6];
	size_t		n = predict_lowest_contributions(c, 6, 3, columns);

	unit_report("reasons: the most negative first, ties in column order, at most k",
				n == 3 && columns[0] == 5 && columns[1] == 2 && columns[2] == 1,
				"n %zu: %zu %zu %zu", n, columns[0], columns[1], columns[2]);
	n = predict_lowest_contributions(c, 6, 10, columns);
	unit_report("reasons: only negative contributions", n == 4 && columns[3] == 3,
				"n %zu", n);
	n = predict_lowest_contributions(c, 6, 0, columns);
	unit_report("reasons: k = 0 gives none", n == 0, "n %zu", n);
	infinite_reason_test();
}

void
explain_tests(void)
{
	linear_tests();
	tree_tests();
	cover_loader_tests();
	reasons_tests();
}
