/*
 * test_stage.c - the feature stage ("transforms"): loading and its errors,
 * each transform's arithmetic, and the input checks with their messages.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/*
 * Two passthrough number columns; the stage makes [1, a, a*b, (b*b)*a],
 * standardizes them, then a union of a selection (weight 2) and the
 * standardized vector itself (weight 1): 6 features.
 */
static const char stage_model[] =
"{\"format\": \"predict-model/1\", \"name\": \"stage\",\n"
" \"columns\": [{\"name\": \"a\", \"type\": \"number\"}, {\"name\": \"b\", \"type\": \"number\"}],\n"
" \"preprocessing\": [{\"column\": \"a\", \"steps\": [], \"features\": [\"A\"]},\n"
"                   {\"column\": \"b\", \"steps\": [], \"features\": [\"B\"]}],\n"
" \"transforms\": [\n"
"   {\"type\": \"polynomial\", \"check\": \"finite\", \"terms\": [[], [0], [0, 1], [0, 1, 1]],\n"
"    \"features\": [\"1\", \"A\", \"A B\", \"A B^2\"]},\n"
"   {\"type\": \"standardize\", \"check\": \"no_infinity\", \"center\": [0, 1, 2, 3], \"scale\": [1, 2, 4, 8],\n"
"    \"features\": [\"s1\", \"sA\", \"sAB\", \"sAB2\"]},\n"
"   {\"type\": \"union\", \"weights\": [2.0, 1.0], \"features\": [\"w1\", \"w3\", \"u0\", \"u1\", \"u2\", \"u3\"],\n"
"    \"parts\": [[{\"type\": \"select\", \"check\": \"none\", \"indices\": [1, 3], \"features\": [\"x1\", \"x3\"]}], []]}],\n"
" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [0.5, -0.25, 0.125, 0.75, -0.5, 0.0625],\n"
"   \"intercept\": -0.25, \"link\": \"logistic\"},\n"
" \"positive_class\": 1,\n"
" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-12-05T00:00:00Z\", \"training_rows\": null}}\n";

static const double stage_coef[6] = {0.5, -0.25, 0.125, 0.75, -0.5, 0.0625};

static double
stage_proba(double a, double b)
{
	double		p[4] = {1.0, a, b * a, (b * b) * a};
	double		s[4];
	double		x[6];
	double		d = 0.0;

	for (int i = 0; i < 4; i++)
		s[i] = (p[i] - (double) i) / (double) (1 << i);
	x[0] = s[1] * 2.0;
	x[1] = s[3] * 2.0;
	for (int i = 0; i < 4; i++)
		x[2 + i] = s[i];
	for (int i = 0; i < 6; i++)
		d += stage_coef[i] * x[i];
	d += -0.25;
	return 1.0 / (1.0 + exp(-d));
}

static void
expect_stage(const predict_model *m, const char *name, const char *json, double want,
			 const char *error)
{
	predict_value values[8];
	predict_error err = {0};
	double		proba = 0;
	predict_status status = predict_score_json(m, json, strlen(json), values, &proba, &err);

	if (error != NULL)
		unit_report(name, status != PREDICT_OK && strstr(err.message, error) != NULL,
					"status %d, proba %.17g, message '%s', want '%s'", status, proba,
					err.message, error);
	else
		unit_report(name, status == PREDICT_OK && proba == want,
					"status %d '%s', proba %.17g, want %.17g", status, err.message, proba, want);
}

static void
arithmetic_tests(void)
{
	predict_model *m = expect_load("stage: loads", stage_model);

	if (m == NULL)
		return;
	unit_report("stage: the estimator reads the stage's width", predict_model_nfeatures(m) == 6,
				"nfeatures %zu", predict_model_nfeatures(m));
	expect_stage(m, "stage: products, scaling, weighted union", "{\"a\": 1.5, \"b\": -3.25}",
				 stage_proba(1.5, -3.25), NULL);
	expect_stage(m, "stage: products multiply from the last factor",
				 "{\"a\": 0.1, \"b\": 0.7}", stage_proba(0.1, 0.7), NULL);
	expect_stage(m, "stage: NaN refused by a finite check", "{\"b\": 1}",
				 0, "feature \"A\": missing value reaches transforms[0], which refuses NaN");
	expect_stage(m, "stage: infinity refused by a finite check", "{\"a\": 1, \"b\": \"-inf\"}",
				 0, "feature \"B\": value is infinite (transforms[0] refuses infinity)");
	expect_stage(m, "stage: an overflowing product refused by the next check",
				 "{\"a\": 1e200, \"b\": 1e100}", 0,
				 "feature \"A B^2\": value is infinite (transforms[1] refuses infinity)");
	predict_model_free(m);
}

/* A stage that lets NaN and infinity through: the estimator's own checks apply. */
static void
estimator_check_tests(void)
{
	char	   *doc;
	char	   *lr;
	char	   *tree;
	char	   *hist;
	predict_model *m;

	lr = unit_replace(stage_model,
					  "{\"type\": \"polynomial\", \"check\": \"finite\", \"terms\": [[], [0], [0, 1], [0, 1, 1]],\n"
					  "    \"features\": [\"1\", \"A\", \"A B\", \"A B^2\"]},\n"
					  "   {\"type\": \"standardize\", \"check\": \"no_infinity\", \"center\": [0, 1, 2, 3], \"scale\": [1, 2, 4, 8],\n"
					  "    \"features\": [\"s1\", \"sA\", \"sAB\", \"sAB2\"]},\n"
					  "   {\"type\": \"union\", \"weights\": [2.0, 1.0], \"features\": [\"w1\", \"w3\", \"u0\", \"u1\", \"u2\", \"u3\"],\n"
					  "    \"parts\": [[{\"type\": \"select\", \"check\": \"none\", \"indices\": [1, 3], \"features\": [\"x1\", \"x3\"]}], []]}",
					  "{\"type\": \"select\", \"check\": \"none\", \"indices\": [1, 0], \"features\": [\"b\", \"a\"]}");
	doc = unit_replace(lr, "\"coef\": [0.5, -0.25, 0.125, 0.75, -0.5, 0.0625]", "\"coef\": [0.5, -0.25]");
	free(lr);
	if ((m = expect_load("stage: a selection that checks nothing", doc)) != NULL)
	{
		expect_stage(m, "stage: selection swaps", "{\"a\": 2, \"b\": 4}",
					 1.0 / (1.0 + exp(-(0.0 + 0.5 * 4.0 + -0.25 * 2.0 + -0.25))), NULL);
		expect_stage(m, "stage: NaN reaches logistic regression", "{\"a\": 2}", 0,
					 "feature \"b\": missing value reaches the estimator");
		expect_stage(m, "stage: infinity reaches logistic regression", "{\"a\": \"inf\", \"b\": 1}", 0,
					 "feature \"a\": value is infinite");
		predict_model_free(m);
	}
	tree = unit_replace(doc, "{\"type\": \"logistic_regression\", \"coef\": [0.5, -0.25],\n"
						"   \"intercept\": -0.25, \"link\": \"logistic\"}",
						"{\"type\": \"decision_tree\", \"tree\": {\"feature\": [1], \"threshold\": [2.5], "
						"\"left\": [-1], \"right\": [-2], \"value\": [0.25, 0.75]}}");
	if ((m = expect_load("stage: a tree after the stage", tree)) != NULL)
	{
		expect_stage(m, "stage: the tree reads the stage's feature 1 (a)", "{\"a\": 2, \"b\": 9}", 0.25, NULL);
		expect_stage(m, "stage: the tree reads a, not b", "{\"a\": 3, \"b\": 0}", 0.75, NULL);
		expect_stage(m, "stage: float32 overflow of a final feature", "{\"a\": 1, \"b\": 1e39}", 0,
					 "feature \"b\": value is too large for float32");
		expect_stage(m, "stage: NaN refused by the standard trees", "{\"a\": 1}", 0,
					 "feature \"b\": missing value reaches the estimator");
		predict_model_free(m);
	}
	hist = unit_replace(doc, "{\"type\": \"logistic_regression\", \"coef\": [0.5, -0.25],\n"
						"   \"intercept\": -0.25, \"link\": \"logistic\"}",
						"{\"type\": \"hist_gradient_boosting\", \"baseline\": 0.5, \"trees\": [{\"feature\": [0], "
						"\"threshold\": [2.5], \"left\": [-1], \"right\": [-2], \"missing_left\": [1], \"value\": [0.25, -0.75]}]}");
	if ((m = expect_load("stage: HistGradientBoosting after the stage", hist)) != NULL)
	{
		expect_stage(m, "stage: NaN reaches HistGradientBoosting", "{\"a\": 1}",
					 1.0 / (1.0 + exp(-(0.0 + 0.5 + 0.25))), NULL);
		expect_stage(m, "stage: infinity reaches HistGradientBoosting", "{\"a\": 1, \"b\": \"inf\"}",
					 1.0 / (1.0 + exp(-(0.0 + 0.5 + -0.75))), NULL);
		predict_model_free(m);
	}
	free(hist);
	free(tree);
	hist = unit_replace(doc, "{\"type\": \"select\", \"check\": \"none\", \"indices\": [1, 0], \"features\": [\"b\", \"a\"]}", "");
	expect_load_error("stage: empty", hist, NULL, "transforms: expected at least 1");
	free(hist);
	free(doc);
}

static void
loader_error_tests(void)
{
	static const struct
	{
		const char *name;
		const char *from;
		const char *to;
		const char *want;
	}			cases[] = {
		{"stage: index beyond the input", "\"indices\": [1, 3]", "\"indices\": [1, 4]",
		"transforms[2].parts[0][0].indices[1]: expected a feature index from 0 to 3, got 4"},
		{"stage: term factor beyond the input", "[0, 1, 1]]", "[0, 1, 2]]",
		"transforms[0].terms[3][2]: expected a feature index from 0 to 1, got 2"},
		{"stage: names for the width", "\"features\": [\"x1\", \"x3\"]", "\"features\": [\"x1\"]",
		"transforms[2].parts[0][0].features: expected 2 feature names (the transform's width), got 1"},
		{"stage: scale per input feature", "\"scale\": [1, 2, 4, 8]", "\"scale\": [1, 2, 4]",
		"transforms[1].scale: expected 4 numbers, got 3"},
		{"stage: coef against the stage's width", "\"coef\": [0.5, -0.25, 0.125, 0.75, -0.5, 0.0625]",
			"\"coef\": [0.5, -0.25, 0.125, 0.75, -0.5]",
		"estimator.coef: expected 6 numbers"},
		{"stage: unknown transform", "{\"type\": \"polynomial\"", "{\"type\": \"kernel\"",
		"transforms[0].type: "},
		{"stage: unknown check", "\"check\": \"no_infinity\"", "\"check\": \"nan\"",
		"transforms[1].check: "},
		{"stage: weights per part", "\"weights\": [2.0, 1.0]", "\"weights\": [2.0]",
		"transforms[2].weights: expected 2 numbers, got 1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *doc = unit_replace(stage_model, cases[i].from, cases[i].to);

		expect_load_error(cases[i].name, doc, NULL, cases[i].want);
		free(doc);
	}
}

/* A polynomial of 9000 terms exceeds max_stage_features. */
static void
limit_tests(void)
{
	size_t		n = 9000;
	char	   *terms = malloc(n * 4 + 64);
	char	   *names = malloc(n * 6 + 64);
	char	   *with_terms;
	char	   *doc;
	size_t		t = 0;
	size_t		m = 0;

	if (terms == NULL || names == NULL)
		abort();
	terms[t++] = '[';
	names[m++] = '[';
	for (size_t i = 0; i < n; i++)
	{
		t += (size_t) sprintf(terms + t, "%s[0]", i ? "," : "");
		m += (size_t) sprintf(names + m, "%s\"t\"", i ? "," : "");
	}
	strcpy(terms + t, "]");
	strcpy(names + m, "]");
	with_terms = unit_replace(stage_model, "[[], [0], [0, 1], [0, 1, 1]]", terms);
	doc = unit_replace(with_terms, "[\"1\", \"A\", \"A B\", \"A B^2\"]", names);
	expect_load_error("stage: max_stage_features", doc, NULL,
					  "transforms[0].terms: 9000 elements exceeds the limit max_stage_features = 8192");
	free(doc);
	free(with_terms);
	free(terms);
	free(names);
}

/* A degree-1 spline over a (hat functions) on knots -1, 0, 1, 2, 3, then logistic regression. */
static char *
spline_model(const char *extrapolation, int nsplines, const char *coef)
{
	char		transforms[1200];
	char	   *b;

	/* a model of one column: a -> spline -> logistic regression */
	snprintf(transforms, sizeof(transforms),
			 "{\"format\": \"predict-model/1\", \"name\": \"spline\",\n"
			 " \"columns\": [{\"name\": \"a\", \"type\": \"number\"}],\n"
			 " \"preprocessing\": [{\"column\": \"a\", \"steps\": [], \"features\": [\"A\"]}],\n"
			 " \"transforms\": [{\"type\": \"spline\", \"check\": \"finite\", \"degree\": 1, \"extrapolation\": \"%s\",\n"
			 "   \"include_bias\": true, \"splines\": %d, \"knots\": [[-1, 0, 1, 2, 3]], \"features\": [%s]}],\n"
			 " \"estimator\": {\"type\": \"logistic_regression\", \"coef\": %s, \"intercept\": 0, \"link\": \"logistic\"},\n"
			 " \"positive_class\": 1,\n"
			 " \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": null}}\n",
			 extrapolation, nsplines, nsplines == 3 ? "\"s0\", \"s1\", \"s2\"" : "\"s0\", \"s1\"", coef);
	b = malloc(strlen(transforms) + 1);
	if (b == NULL)
		abort();
	strcpy(b, transforms);
	return b;
}

static double
logit(double d)
{
	return 1.0 / (1.0 + exp(-d));
}

static void
spline_tests(void)
{
	char	   *doc = spline_model("constant", 3, "[1, 2, 4]");
	predict_model *m = expect_load("spline: loads", doc);

	if (m != NULL)
	{
		/* x = 0.5 in [0, 1): hats 0 and 1 at 0.5 each */
		expect_stage(m, "spline: de Boor inside the knots", "{\"a\": 0.5}", logit(0.5 * 1 + 0.5 * 2), NULL);
		expect_stage(m, "spline: at the last knot", "{\"a\": 2}", logit(4.0), NULL);
		/* below t[1] = 0: the first degree functions keep their values at 0 */
		expect_stage(m, "spline: constant extrapolation below", "{\"a\": -3}", logit(1.0), NULL);
		expect_stage(m, "spline: constant extrapolation above", "{\"a\": 7}", logit(4.0), NULL);
		expect_stage(m, "spline: NaN refused", "{}", 0,
					 "feature \"A\": missing value reaches transforms[0], which refuses NaN");
		predict_model_free(m);
	}
	free(doc);
	doc = spline_model("error", 3, "[1, 2, 4]");
	if ((m = expect_load("spline: extrapolation error", doc)) != NULL)
	{
		expect_stage(m, "spline: error inside", "{\"a\": 1.25}", logit(0.75 * 2 + 0.25 * 4), NULL);
		expect_stage(m, "spline: error beyond the knots", "{\"a\": 2.5}", 0,
					 "feature \"A\": value beyond the knots of transforms[0] (extrapolation \"error\")");
		predict_model_free(m);
	}
	free(doc);
	doc = spline_model("periodic", 2, "[1, 2]");
	if ((m = expect_load("spline: periodic", doc)) != NULL)
	{
		/* period 2 from 0: 2.5 and -1.5 read as 0.5 */
		expect_stage(m, "spline: periodic inside", "{\"a\": 0.5}", logit(1.5), NULL);
		expect_stage(m, "spline: periodic above", "{\"a\": 2.5}", logit(1.5), NULL);
		expect_stage(m, "spline: periodic below", "{\"a\": -1.5}", logit(1.5), NULL);
		/* 1.5: hat 1 (row 1) at 0.5 and row 2, wrapped to function 0, at 0.5 */
		expect_stage(m, "spline: periodic rows wrap around", "{\"a\": 1.5}", logit(0.5 * 1 + 0.5 * 2), NULL);
		predict_model_free(m);
	}
	free(doc);
	doc = spline_model("linear", 3, "[1, 2, 4]");
	expect_load_error("spline: linear needs degree 2", doc, NULL,
					  "transforms[0].degree: linear extrapolation needs a degree of 2 or more");
	free(doc);
	doc = spline_model("constant", 1, "[1]");
	expect_load_error("spline: at least degree + 1 splines", doc, NULL,
					  "transforms[0].splines: expected at least 2 splines for degree 1");
	free(doc);
	doc = spline_model("continue", 2, "[1, 2]");
	expect_load_error("spline: knots for the splines", doc, NULL,
					  "transforms[0].knots[0]: expected 4 knots");
	free(doc);
}

/* Unions nested 300 deep (900 JSON levels) load (the loader's frames stay small) and pass the input through. */
static void
nesting_tests(void)
{
	const int	depth = 300;
	const char *head = "{\"type\": \"union\", \"weights\": null, \"features\": [\"A\", \"B\"], \"parts\": [[";
	size_t		size = strlen(stage_model) + (size_t) depth * (strlen(head) + 8) + 64;
	char	   *nested = malloc(size);
	char	   *doc;
	char	   *with_coef;
	predict_model *m;
	size_t		n = 0;

	if (nested == NULL)
		abort();
	n += (size_t) sprintf(nested + n, "\"transforms\": [");
	for (int i = 0; i < depth; i++)
		n += (size_t) sprintf(nested + n, "%s", head);
	for (int i = 0; i < depth; i++)
		n += (size_t) sprintf(nested + n, "]]}");
	sprintf(nested + n, "],\n \"unused\": [\n");
	doc = unit_replace(stage_model, "\"transforms\": [\n", nested);
	/* the original transforms now sit under "unused": put them back as a comment-free field */
	with_coef = unit_replace(doc, "\"coef\": [0.5, -0.25, 0.125, 0.75, -0.5, 0.0625]", "\"coef\": [1, 2]");
	free(doc);
	doc = unit_replace(with_coef, ",\n \"unused\": [\n", ",\n \"provenance_unused\": [\n");
	free(with_coef);
	/* drop the renamed field: cut from it to the estimator */
	{
		char	   *from = strstr(doc, ",\n \"provenance_unused\"");
		char	   *to = strstr(doc, ",\n \"estimator\"");

		if (from != NULL && to != NULL && to > from)
			memmove(from, to, strlen(to) + 1);
	}
	if ((m = expect_load("stage: unions nested 300 deep", doc)) != NULL)
	{
		expect_stage(m, "stage: nested unions pass the input through", "{\"a\": 0.5, \"b\": 0.25}",
					 1.0 / (1.0 + exp(-(0.0 + 1.0 * 0.5 + 2.0 * 0.25 + -0.25))), NULL);
		predict_model_free(m);
	}
	free(doc);
	free(nested);
}

void
stage_tests(void)
{
	nesting_tests();
	spline_tests();
	arithmetic_tests();
	estimator_check_tests();
	loader_error_tests();
	limit_tests();
}
