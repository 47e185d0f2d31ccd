/*
 * test_xgboost.c - the xgboost estimator: its validation errors with their
 * JSON paths, and XGBoost's scoring rules (docs/model-format.md, "xgboost")
 * on hand-made trees whose results follow from the rules alone: the strict
 * float32 comparison, default directions for NaN (and for zeros when the
 * input was sparse), the float32 margin, base_score's margin and the
 * capped float32 sigmoid. The SQL scorer refuses the type by name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Two number columns x and y read as they are, with this estimator. */
static char *
xy_document(const char *estimator)
{
	const char *format =
		"{\"format\": \"predict-model/1\", \"name\": \"xgb\", "
		"\"columns\": [{\"name\": \"x\", \"type\": \"number\"}, {\"name\": \"y\", \"type\": \"number\"}],"
		" \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]},"
		" {\"column\": \"y\", \"steps\": [], \"features\": [\"y\"]}],"
		" \"estimator\": %s, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"xgboost_version\": \"1.7.4\","
		" \"exported_at\": \"x\", \"training_rows\": null}}";
	size_t		size = strlen(format) + strlen(estimator) + 1;
	char	   *doc = malloc(size);

	if (doc == NULL)
		abort();
	snprintf(doc, size, format, estimator);
	return doc;
}

/* x < 0.5 goes left (-0.25), else right (0.5); NaN goes left. */
static const char one_split[] =
	"{\"type\": \"xgboost\", \"base_score\": 0.5, \"zero_is_missing\": false, \"trees\": ["
	"{\"feature\": [0], \"threshold\": [0.5], \"missing_left\": [1], \"left\": [-1], \"right\": [-2],"
	" \"value\": [-0.25, 0.5]}]}";

static const struct
{
	const char *name;
	const char *from;
	const char *to;
	const char *want;
}			mutations[] = {
	{"xgboost without base_score", "\"base_score\": 0.5, ", "",
	"estimator: missing field \"base_score\""},
	{"xgboost base_score 0", "\"base_score\": 0.5", "\"base_score\": 0",
	"estimator.base_score: expected a float32 probability strictly between 0 and 1, got 0"},
	{"xgboost base_score 1", "\"base_score\": 0.5", "\"base_score\": 1",
	"estimator.base_score: expected a float32 probability strictly between 0 and 1, got 1"},
	{"xgboost base_score not a float32", "\"base_score\": 0.5", "\"base_score\": 0.1",
	"estimator.base_score: expected a float32 probability strictly between 0 and 1, got 0.10000000000000001"},
	{"xgboost without zero_is_missing", "\"zero_is_missing\": false, ", "",
	"estimator: missing field \"zero_is_missing\""},
	{"xgboost zero_is_missing a number", "\"zero_is_missing\": false", "\"zero_is_missing\": 0",
	"estimator.zero_is_missing: expected true or false, got a number"},
	{"xgboost without missing_left", "\"missing_left\": [1], ", "",
	"estimator.trees[0]: missing field \"missing_left\""},
	{"xgboost threshold not a float32", "\"threshold\": [0.5]", "\"threshold\": [0.1]",
	"estimator.trees[0].threshold[0]: expected a finite float32 split condition, got 0.10000000000000001"},
	{"xgboost threshold inf", "\"threshold\": [0.5]", "\"threshold\": [\"inf\"]",
	"estimator.trees[0].threshold[0]: expected a finite float32 split condition, got inf"},
	{"xgboost threshold beyond float32", "\"threshold\": [0.5]", "\"threshold\": [1e39]",
	"estimator.trees[0].threshold[0]: expected a finite float32 split condition, got 9.9999999999999994e+38"},
	{"xgboost leaf not a float32", "[-0.25, 0.5]", "[-0.25, 0.3]",
	"estimator.trees[0].value[1]: expected a float32 leaf value, got 0.29999999999999999"},
	{"xgboost categories refused", "\"threshold\": [0.5]", "\"threshold\": [[1]]",
	"estimator.trees[0].threshold[0]: expected a finite number, \"inf\" or \"-inf\", got an array"},
	{"xgboost no missing field", "\"zero_is_missing\": false,", "\"zero_is_missing\": false, \"missing\": \"learned\",",
	"estimator: unknown field \"missing\""},
	{"xgboost without trees", "\"trees\": [", "\"trees\": [], \"x\": [",
	"estimator: unknown field \"x\""},
};

static void
xgboost_load_tests(void)
{
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++)
	{
		char	   *estimator = unit_replace(one_split, mutations[i].from, mutations[i].to);
		char	   *doc = xy_document(estimator);

		expect_load_error(mutations[i].name, doc, NULL, mutations[i].want);
		free(doc);
		free(estimator);
	}
}

/* XGBoost 1.7's common::Sigmoid, written out from its definition. */
static float
sigmoid32(float margin)
{
	float		x = fminf(-margin, 88.7f);

	return 1.0f / (expf(x) + 1.0f + 1e-16f);
}

static void
expect_xgb(const predict_model *model, const char *name, const char *json, float want)
{
	predict_value values[16];	/* base_model has 8 columns */
	predict_error err = {0};
	double		proba = -1;
	predict_status status = predict_score_json(model, json, strlen(json), values, &proba, &err);

	if (status != PREDICT_OK)
		unit_report(name, false, "error '%s' for %s", err.message, json);
	else
		unit_report(name, proba == (double) want, "proba %.17g, want %.17g for %s", proba,
					(double) want, json);
}

static predict_model *
load_xgb(const char *name, const char *estimator)
{
	char	   *doc = xy_document(estimator);
	predict_model *model = expect_load(name, doc);

	free(doc);
	return model;
}

static void
xgboost_rule_tests(void)
{
	predict_model *m = load_xgb("xgboost one split", one_split);
	float		left = sigmoid32(-0.0f + -0.25f);
	float		right = sigmoid32(-0.0f + 0.5f);

	if (m != NULL)
	{
		expect_xgb(m, "xgboost: x < 0.5 goes left", "{\"x\": 0.25, \"y\": 0}", left);
		expect_xgb(m, "xgboost: x == 0.5 goes right (strict)", "{\"x\": 0.5, \"y\": 0}", right);
		expect_xgb(m, "xgboost: the float32 below 0.5 goes left", "{\"x\": 0.49999997, \"y\": 0}", left);
		/* below 0.5 in float64, 0.5 once cast to float32: right, as XGBoost */
		expect_xgb(m, "xgboost: 0.49999999 rounds to 0.5 in float32, goes right",
				   "{\"x\": 0.49999999, \"y\": 0}", right);
		expect_xgb(m, "xgboost: NaN takes the default direction (left)", "{\"y\": 0}", left);
		expect_xgb(m, "xgboost: a zero is a value with dense input", "{\"x\": 0, \"y\": 0}", left);
		expect_xgb(m, "xgboost: +inf is compared, right", "{\"x\": \"inf\", \"y\": 0}", right);
		expect_xgb(m, "xgboost: -inf is compared, left", "{\"x\": \"-inf\", \"y\": 0}", left);
		expect_xgb(m, "xgboost: 1e300 casts to +inf, right", "{\"x\": 1e300, \"y\": 0}", right);
		predict_model_free(m);
	}

	/* the same tree splitting at -0.5 and sending missing values left */
	{
		char	   *dense = unit_replace(one_split, "[0.5]", "[-0.5]");
		char	   *sparse = unit_replace(dense, "\"zero_is_missing\": false", "\"zero_is_missing\": true");

		m = load_xgb("xgboost dense, split at -0.5", dense);
		if (m != NULL)
		{
			expect_xgb(m, "xgboost dense: 0 is not < -0.5, right", "{\"x\": 0, \"y\": 0}", right);
			predict_model_free(m);
		}
		m = load_xgb("xgboost sparse, split at -0.5", sparse);
		if (m != NULL)
		{
			expect_xgb(m, "xgboost sparse: 0 is missing, default left", "{\"x\": 0, \"y\": 1}", left);
			expect_xgb(m, "xgboost sparse: -0 is missing too", "{\"x\": -0.0, \"y\": 1}", left);
			/* scipy stores 1e-300 (not 0), XGBoost reads it as float32 0: a value */
			expect_xgb(m, "xgboost sparse: 1e-300 is stored, 0 in float32, right",
					   "{\"x\": 1e-300, \"y\": 1}", right);
			expect_xgb(m, "xgboost sparse: -1 goes left", "{\"x\": -1, \"y\": 1}", left);
			predict_model_free(m);
		}
		free(sparse);
		free(dense);
	}

	/* the margin is float32: 2^24 + 1 rounds back to 2^24, and - 2^24 leaves 0 */
	m = load_xgb("xgboost float32 margin",
				 "{\"type\": \"xgboost\", \"base_score\": 0.5, \"zero_is_missing\": false, \"trees\": ["
				 "{\"feature\": [], \"threshold\": [], \"missing_left\": [], \"left\": [], \"right\": [], \"value\": [16777216]},"
				 "{\"feature\": [], \"threshold\": [], \"missing_left\": [], \"left\": [], \"right\": [], \"value\": [1]},"
				 "{\"feature\": [], \"threshold\": [], \"missing_left\": [], \"left\": [], \"right\": [], \"value\": [-16777216]}]}");
	if (m != NULL)
	{
		expect_xgb(m, "xgboost: leaves add in float32 (2^24 + 1 - 2^24 = 0)", "{\"x\": 1, \"y\": 0}", 0.5f);
		predict_model_free(m);
	}

	/* the sigmoid's exponent is capped at 88.7: a margin of -100 is not 0 */
	m = load_xgb("xgboost capped sigmoid",
				 "{\"type\": \"xgboost\", \"base_score\": 0.5, \"zero_is_missing\": false, \"trees\": ["
				 "{\"feature\": [1], \"threshold\": [0], \"missing_left\": [0], \"left\": [-1], \"right\": [-2], \"value\": [-100, 100]}]}");
	if (m != NULL)
	{
		float		capped = 1.0f / (expf(88.7f) + 1.0f + 1e-16f);

		expect_xgb(m, "xgboost: margin -100 gives 1 / (expf(88.7f) + 1)", "{\"x\": 0, \"y\": -1}", capped);
		unit_report("xgboost: the capped probability is above 0", capped > 0.0f, "%g", (double) capped);
		expect_xgb(m, "xgboost: margin 100 gives 1", "{\"x\": 0, \"y\": 1}", 1.0f);
		predict_model_free(m);
	}

	/* base_score 0.25 (a float32) starts from -logf(1 / 0.25 - 1) = -logf(3) */
	m = load_xgb("xgboost base_score 0.25",
				 "{\"type\": \"xgboost\", \"base_score\": 0.25, \"zero_is_missing\": false, \"trees\": ["
				 "{\"feature\": [], \"threshold\": [], \"missing_left\": [], \"left\": [], \"right\": [], \"value\": [0.125]}]}");
	if (m != NULL)
	{
		expect_xgb(m, "xgboost: base_score's margin, then the leaf",
				   "{\"x\": 0, \"y\": 0}", sigmoid32(-logf(1.0f / 0.25f - 1.0f) + 0.125f));
		predict_model_free(m);
	}
}

static void
xgboost_sql_tests(void)
{
	predict_model *m = load_xgb("xgboost for the SQL scorer", one_split);
	predict_error err = {0};
	char	   *sql;

	if (m == NULL)
		return;
	sql = predict_model_to_sql(m, "f", "h", &err);
	unit_report("the SQL scorer refuses xgboost by name",
				sql == NULL && strstr(err.message, "does not compile \"xgboost\" models") != NULL,
				"got %s", sql ? "SQL" : err.message);
	free(sql);
	predict_model_free(m);
}

/* The fuzzers' fixture: base_model's preprocessing ending in XGBoost. */
static void
xgboost_fixture_tests(void)
{
	char	   *doc = unit_with_estimator(xgboost_estimator);
	predict_model *m = expect_load("xgboost fixture", doc);

	free(doc);
	if (m == NULL)
		return;
	/* tree 0: Sex_male 1 is not < 0.5, Pclass_3 (2x - 1 = 1) not < 0; tree 1: Embarked S = 2 */
	expect_xgb(m, "xgboost fixture: male, 3rd class, S",
			   "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}",
			   sigmoid32(-logf(1.0f / 0.25f - 1.0f) + -2.0f + -0.5f));
	predict_model_free(m);
}

void
xgboost_tests(void)
{
	xgboost_fixture_tests();
	xgboost_load_tests();
	xgboost_rule_tests();
	xgboost_sql_tests();
}
