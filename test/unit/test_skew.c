/*
 * test_skew.c - the per-column steps for skewed numbers (function, power):
 * their loader errors, their arithmetic against values computed by
 * scikit-learn 1.2.1 and scipy 1.10.1, and the rows they refuse.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* One number column x, one block with the given steps, coef 1, intercept 0. */
static char *
skew_model(const char *steps)
{
	static const char format[] =
		"{\"format\": \"predict-model/1\", \"name\": \"skew\","
		" \"columns\": [{\"name\": \"x\", \"type\": \"number\"}, {\"name\": \"s\", \"type\": \"string\"}],"
		" \"preprocessing\": [{\"column\": \"x\", \"steps\": [%s], \"features\": [\"x\"]}],"
		" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1.0], \"intercept\": 0.0,"
		" \"link\": \"logistic\"}, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-12-05T00:00:00Z\","
		" \"training_rows\": null}}";
	size_t		n = sizeof(format) + strlen(steps);
	char	   *text = malloc(n);

	if (text != NULL)
		snprintf(text, n, format, steps);
	return text;
}

/*
 * Score {"x": x} (x a JSON literal) with steps; want is the feature value
 * scikit-learn computes (NAN: an error containing error).
 */
static void
expect_feature(const char *name, const char *steps, const char *x, double want,
			   const char *error)
{
	char	   *text = skew_model(steps);
	predict_model *m = text ? expect_load(name, text) : NULL;
	predict_value values[2];
	predict_error err = {0};
	char		obs[200];
	double		proba = 0;
	predict_status status;

	free(text);
	if (m == NULL)
		return;
	snprintf(obs, sizeof(obs), "{\"x\": %s}", x);
	status = predict_score_json(m, obs, strlen(obs), values, &proba, &err);
	if (error != NULL)
		unit_report(name, status != PREDICT_OK && strstr(err.message, error) != NULL,
					"got '%s' (proba %.17g), expected an error containing '%s'",
					status == PREDICT_OK ? "" : err.message, proba, error);
	else
	{
		/* libm and numpy's SIMD code may differ in the last place */
		double		p = 1.0 / (1.0 + exp(-want));

		unit_report(name, status == PREDICT_OK && fabs(proba - p) <= 1e-15,
					"proba %.17g (%s), want %.17g", proba,
					status == PREDICT_OK ? "ok" : err.message, p);
	}
	predict_model_free(m);
}

static void
expect_skew_load_error(const char *name, const char *steps, const char *want)
{
	char	   *text = skew_model(steps);

	if (text != NULL)
		expect_load_error(name, text, NULL, want);
	free(text);
}

static void
function_tests(void)
{
	expect_feature("function log1p", "{\"type\": \"function\", \"func\": \"log1p\", \"validate\": false}",
				   "2.5", 1.252762968495368, NULL);
	expect_feature("function log of 0 is -inf, refused by the estimator",
				   "{\"type\": \"function\", \"func\": \"log\", \"validate\": false}",
				   "0", NAN, "column \"x\": value is infinite");
	expect_feature("function log of a negative is NaN, refused by the estimator",
				   "{\"type\": \"function\", \"func\": \"log\", \"validate\": false}",
				   "-1", NAN, "missing value reaches the estimator");
	expect_feature("function sqrt of a negative is NaN, then imputed",
				   "{\"type\": \"function\", \"func\": \"sqrt\", \"validate\": false},"
				   " {\"type\": \"impute\", \"value\": 0.75}", "-4", 0.75, NULL);
	expect_feature("function sqrt", "{\"type\": \"function\", \"func\": \"sqrt\", \"validate\": false}",
				   "6.25", 2.5, NULL);
	expect_feature("function exp overflows to inf, refused",
				   "{\"type\": \"function\", \"func\": \"exp\", \"validate\": false}",
				   "710", NAN, "value is infinite");
	expect_feature("function expm1", "{\"type\": \"function\", \"func\": \"expm1\", \"validate\": false}",
				   "-1000", -1.0, NULL);
	expect_feature("function abs", "{\"type\": \"function\", \"func\": \"abs\", \"validate\": false}",
				   "-3.5", 3.5, NULL);
	expect_feature("function NaN passes without validate",
				   "{\"type\": \"function\", \"func\": \"abs\", \"validate\": false},"
				   " {\"type\": \"impute\", \"value\": 2}", "null", 2.0, NULL);
	expect_feature("function validate refuses NaN",
				   "{\"type\": \"function\", \"func\": \"identity\", \"validate\": true},"
				   " {\"type\": \"impute\", \"value\": 2}", "null", NAN,
				   "column \"x\": missing value (FunctionTransformer(validate=True) refuses NaN)");
	expect_feature("function identity", "{\"type\": \"function\", \"func\": \"identity\", \"validate\": true}",
				   "-1.25", -1.25, NULL);
	expect_feature("function refuses infinite input",
				   "{\"type\": \"function\", \"func\": \"exp\", \"validate\": false}",
				   "\"-inf\"", NAN, "value is infinite");

	expect_skew_load_error("function unknown func",
						   "{\"type\": \"function\", \"func\": \"log2\", \"validate\": false}",
						   "preprocessing[0].steps[0].func:");
	expect_skew_load_error("function validate not a boolean",
						   "{\"type\": \"function\", \"func\": \"log\", \"validate\": 1}",
						   "preprocessing[0].steps[0].validate: expected a boolean, got a number");
	expect_skew_load_error("function without validate",
						   "{\"type\": \"function\", \"func\": \"log\"}",
						   "preprocessing[0].steps[0]");
	expect_skew_load_error("function unknown field",
						   "{\"type\": \"function\", \"func\": \"log\", \"validate\": false, \"kw\": 1}",
						   "preprocessing[0].steps[0]");
	expect_skew_load_error("function on a one-hot block",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2], \"drop\": null, \"handle_unknown\": \"ignore\"},"
						   " {\"type\": \"function\", \"func\": \"log\", \"validate\": false}",
						   "cannot follow a one_hot step");
}

static void
power_tests(void)
{
	/* the values PowerTransformer(standardize=False) gives with lambdas_ set */
	expect_feature("yeo-johnson x >= 0", "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": 0.5}",
				   "3", 2.0, NULL);
	expect_feature("yeo-johnson x < 0", "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": 0.5}",
				   "-3", -4.666666666666667, NULL);
	expect_feature("yeo-johnson lambda 0 takes log1p",
				   "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": 0}",
				   "2.5", 1.252762968495368, NULL);
	expect_feature("yeo-johnson lambda 2 takes log1p",
				   "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": 2}",
				   "-2.5", -1.252762968495368, NULL);
	expect_feature("yeo-johnson negative lambda",
				   "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": -1.3}",
				   "-0.5", -0.8519836082323899, NULL);
	expect_feature("yeo-johnson NaN passes",
				   "{\"type\": \"power\", \"method\": \"yeo-johnson\", \"lambda\": 0.5},"
				   " {\"type\": \"impute\", \"value\": 7}", "null", 7.0, NULL);
	/* scipy.special.boxcox, both branches of Cephes' expm1 */
	expect_feature("box-cox polynomial branch", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25}",
				   "1.5", 0.4267276788012864, NULL);
	expect_feature("box-cox exp branch", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25}",
				   "3", 1.2642960518099697, NULL);
	expect_feature("box-cox negative lambda", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": -0.7}",
				   "40", 1.3205624233809923, NULL);
	expect_feature("box-cox tiny lambda is log", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 1e-20}",
				   "0.2", -1.6094379124341003, NULL);
	expect_feature("box-cox refuses 0", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25}",
				   "0", NAN, "column \"x\": value is not positive (the Box-Cox transformation");
	expect_feature("box-cox refuses -0.0", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25}",
				   "-0.0", NAN, "value is not positive");
	expect_feature("box-cox refuses negatives", "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25}",
				   "-3", NAN, "value is not positive");
	expect_feature("box-cox NaN passes",
				   "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": 0.25},"
				   " {\"type\": \"impute\", \"value\": 7}", "null", 7.0, NULL);

	expect_skew_load_error("power unknown method",
						   "{\"type\": \"power\", \"method\": \"box_cox\", \"lambda\": 1}",
						   "preprocessing[0].steps[0].method:");
	expect_skew_load_error("power lambda not finite",
						   "{\"type\": \"power\", \"method\": \"box-cox\", \"lambda\": \"inf\"}",
						   "preprocessing[0].steps[0].lambda: expected a finite number");
	expect_skew_load_error("power without lambda",
						   "{\"type\": \"power\", \"method\": \"box-cox\"}",
						   "preprocessing[0].steps[0]");
}

#define QUANTILE(output) \
	"{\"type\": \"quantile\", \"output\": \"" output "\", \"quantiles\": [0, 10, 10, 20]," \
	" \"references\": [0, 0.25, 0.75, 1]}"

static void
quantile_tests(void)
{
	/* QuantileTransformer.transform with these quantiles_ and references_ */
	static const struct
	{
		const char *x;
		double		uniform;
		double		normal;
	}			cases[] = {
		{"5", 0.125, -1.1503493803760079},
		{"10", 0.5, 0.0},		/* a repeated quantile: the mean of both directions */
		{"0", 0.0, -5.199337582605575},
		{"-3", 0.0, -5.199337582605575},
		{"25", 1.0, 5.19933758270342},
		{"19.99999995", 0.99999999875, 5.19933758270342},	/* within 1e-7 of the top */
		{"1e-8", 2.5000001034254636e-10, -5.199337582605575},
		{"12.5", 0.8125, 0.887146559018876},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		name[100];

		snprintf(name, sizeof(name), "quantile uniform at %s", cases[i].x);
		expect_feature(name, QUANTILE("uniform"), cases[i].x, cases[i].uniform, NULL);
		snprintf(name, sizeof(name), "quantile normal at %s", cases[i].x);
		expect_feature(name, QUANTILE("normal"), cases[i].x, cases[i].normal, NULL);
	}
	expect_feature("quantile NaN passes", QUANTILE("normal") ", {\"type\": \"impute\", \"value\": 3}",
				   "null", 3.0, NULL);
	expect_feature("quantile refuses infinity", QUANTILE("uniform"), "1e400", NAN, "value is infinite");
	expect_feature("quantile of one point",
				   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [4],"
				   " \"references\": [0.5]}", "3", 0.5, NULL);

	expect_skew_load_error("quantile decreasing",
						   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [0, 2, 1],"
						   " \"references\": [0, 0.5, 1]}",
						   "preprocessing[0].steps[0].quantiles[2]: expected a number not smaller than the previous one");
	expect_skew_load_error("quantile references length",
						   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [0, 1, 2],"
						   " \"references\": [0, 1]}",
						   "preprocessing[0].steps[0].references: expected 3 numbers (one per quantile), got 2");
	expect_skew_load_error("quantile references beyond 1",
						   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [0, 1],"
						   " \"references\": [0, 1.5]}",
						   "preprocessing[0].steps[0].references: expected numbers from 0 to 1");
	expect_skew_load_error("quantile empty",
						   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [],"
						   " \"references\": []}",
						   "preprocessing[0].steps[0].quantiles: expected at least 1 element");
	expect_skew_load_error("quantile unknown output",
						   "{\"type\": \"quantile\", \"output\": \"gaussian\", \"quantiles\": [0],"
						   " \"references\": [0]}",
						   "preprocessing[0].steps[0].output:");
	expect_skew_load_error("quantile not finite",
						   "{\"type\": \"quantile\", \"output\": \"uniform\", \"quantiles\": [0, \"inf\"],"
						   " \"references\": [0, 1]}",
						   "preprocessing[0].steps[0].quantiles[1]: expected a finite number");
}

#define KBINS(dtype, edges) \
	"{\"type\": \"kbins\", \"edges\": [" edges "], \"dtype\": \"" dtype "\"}"

static void
kbins_tests(void)
{
	/* KBinsDiscretizer(encode='ordinal').transform with these inner bin_edges_ */
	expect_feature("kbins below an edge", KBINS("float64", "1.5, 1.5, 2.75"), "1", 0.0, NULL);
	expect_feature("kbins on a repeated edge", KBINS("float64", "1.5, 1.5, 2.75"), "1.5", 2.0, NULL);
	expect_feature("kbins on an edge", KBINS("float64", "1.5, 1.5, 2.75"), "2.75", 3.0, NULL);
	expect_feature("kbins an ulp below an edge", KBINS("float64", "1.5, 1.5, 2.75"),
				   "2.7499999999999996", 2.0, NULL);
	expect_feature("kbins far below", KBINS("float64", "1.5, 1.5, 2.75"), "-5", 0.0, NULL);
	expect_feature("kbins far above", KBINS("float64", "1.5, 1.5, 2.75"), "100", 3.0, NULL);
	expect_feature("kbins one bin", KBINS("float64", ""), "100", 0.0, NULL);
	expect_feature("kbins float64 below 0.1", KBINS("float64", "0.1"), "0.09999999999999999", 0.0, NULL);
	expect_feature("kbins float32 rounds up to 0.1f", KBINS("float32", "0.1"), "0.09999999999999999", 1.0, NULL);
	expect_feature("kbins float32 below 0.1f", KBINS("float32", "0.1"), "0.0999999962747097", 0.0, NULL);
	expect_feature("kbins float32 overflow", KBINS("float32", "0.1"), "1e39", NAN,
				   "value is too large for float32 (KBinsDiscretizer dtype=float32)");
	expect_feature("kbins refuses NaN", KBINS("float64", "0.1"), "null", NAN,
				   "column \"x\": missing value (KBinsDiscretizer refuses NaN)");
	expect_skew_load_error("kbins decreasing edges", KBINS("float64", "2, 1"),
						   "preprocessing[0].steps[0].edges[1]: expected a number not smaller");
	expect_skew_load_error("kbins dtype", KBINS("float16", "1"),
						   "preprocessing[0].steps[0].dtype:");
}

/* A string column with one-hot infrequent categories; coef 1, 2, 4 on its features. */
static void
expect_infrequent(const char *name, const char *step, const char *value, double want,
				  const char *error)
{
	static const char format[] =
		"{\"format\": \"predict-model/1\", \"name\": \"skew\","
		" \"columns\": [{\"name\": \"s\", \"type\": \"string\"}],"
		" \"preprocessing\": [{\"column\": \"s\", \"steps\": [%s], \"features\": [\"a\", \"b\", \"c\"]}],"
		" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1.0, 2.0, 4.0], \"intercept\": 0.0,"
		" \"link\": \"logistic\"}, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-12-05T00:00:00Z\","
		" \"training_rows\": null}}";
	char		text[2048];
	char		obs[200];
	predict_model *m;
	predict_value values[1];
	predict_error err = {0};
	double		proba = 0;
	predict_status status;

	snprintf(text, sizeof(text), format, step);
	if ((m = expect_load(name, text)) == NULL)
		return;
	snprintf(obs, sizeof(obs), "{\"s\": %s}", value);
	status = predict_score_json(m, obs, strlen(obs), values, &proba, &err);
	if (error != NULL)
		unit_report(name, status != PREDICT_OK && strstr(err.message, error) != NULL,
					"got '%s', expected an error containing '%s'",
					status == PREDICT_OK ? "" : err.message, error);
	else
		unit_report(name, status == PREDICT_OK && proba == 1.0 / (1.0 + exp(-want)),
					"proba %.17g (%s), want the feature sum %g", proba,
					status == PREDICT_OK ? "ok" : err.message, want);
	predict_model_free(m);
}

#define INFREQUENT(drop, unknown) \
	"{\"type\": \"one_hot\", \"categories\": [\"A\", \"B\", \"C\", \"D\", null]," \
	" \"infrequent\": [\"B\", null, \"D\"], \"drop\": " drop ", \"handle_unknown\": \"" unknown "\"}"

static void
infrequent_tests(void)
{
	/* outputs: A, C, then the group (B, D, missing) */
	expect_infrequent("infrequent frequent first", INFREQUENT("null", "ignore"), "\"A\"", 1.0, NULL);
	expect_infrequent("infrequent frequent after one", INFREQUENT("null", "ignore"), "\"C\"", 2.0, NULL);
	expect_infrequent("infrequent grouped", INFREQUENT("null", "ignore"), "\"D\"", 4.0, NULL);
	expect_infrequent("infrequent missing grouped", INFREQUENT("null", "error"), "null", 4.0, NULL);
	expect_infrequent("infrequent unknown ignored", INFREQUENT("null", "ignore"), "\"Z\"", 0.0, NULL);
	expect_infrequent("infrequent unknown is infrequent", INFREQUENT("null", "infrequent_if_exist"),
					  "\"Z\"", 4.0, NULL);
	expect_infrequent("infrequent unknown error", INFREQUENT("null", "error"), "\"Z\"", 0.0,
					  "unknown category \"Z\"");

	expect_skew_load_error("infrequent not a category",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2, 3], \"infrequent\": [4],"
						   " \"drop\": null, \"handle_unknown\": \"ignore\"}",
						   "preprocessing[0].steps[0].infrequent[0]: expected one of the categories");
	expect_skew_load_error("infrequent duplicate",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2, 3], \"infrequent\": [2, 2],"
						   " \"drop\": null, \"handle_unknown\": \"ignore\"}",
						   "preprocessing[0].steps[0].infrequent[1]: duplicate infrequent category");
	expect_skew_load_error("infrequent drop beyond the grouped features",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2, 3], \"infrequent\": [2, 3],"
						   " \"drop\": 2, \"handle_unknown\": \"ignore\"}",
						   "preprocessing[0].steps[0].drop: expected null or a feature index from 0 to 1");
	expect_skew_load_error("infrequent_if_exist without infrequent",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2, 3],"
						   " \"drop\": null, \"handle_unknown\": \"infrequent_if_exist\"}",
						   "handle_unknown: \"infrequent_if_exist\" needs \"infrequent\" categories");
	expect_skew_load_error("infrequent string among numbers",
						   "{\"type\": \"one_hot\", \"categories\": [1, 2, 3], \"infrequent\": [\"2\"],"
						   " \"drop\": null, \"handle_unknown\": \"ignore\"}",
						   "infrequent[0]: expected one of the categories");
}

/* A model reading column c (declared by column_json) through a one-hot or an imputer. */
static void
expect_column(const char *name, const char *column_json, const char *steps, const char *value,
			  double want, const char *error)
{
	static const char format[] =
		"{\"format\": \"predict-model/1\", \"name\": \"skew\", \"columns\": [%s],"
		" \"preprocessing\": [{\"column\": \"c\", \"steps\": [%s], \"features\": [\"f\"]}],"
		" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1.0], \"intercept\": 0.0,"
		" \"link\": \"logistic\"}, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-12-05T00:00:00Z\","
		" \"training_rows\": null}}";
	char		text[2048];
	char		obs[200];
	predict_model *m;
	predict_value values[1];
	predict_error err = {0};
	double		proba = 0;
	predict_status status;

	snprintf(text, sizeof(text), format, column_json, steps);
	if (value == NULL)
	{
		expect_load_error(name, text, NULL, error);
		return;
	}
	if ((m = expect_load(name, text)) == NULL)
		return;
	snprintf(obs, sizeof(obs), "{\"c\": %s}", value);
	status = predict_score_json(m, obs, strlen(obs), values, &proba, &err);
	if (error != NULL)
		unit_report(name, status != PREDICT_OK && strstr(err.message, error) != NULL,
					"got '%s', expected an error containing '%s'",
					status == PREDICT_OK ? "" : err.message, error);
	else
		unit_report(name, status == PREDICT_OK && proba == 1.0 / (1.0 + exp(-want)),
					"proba %.17g (%s), want feature %g", proba,
					status == PREDICT_OK ? "ok" : err.message, want);
	predict_model_free(m);
}

#define STRING_CATEGORIES "{\"name\": \"c\", \"type\": \"string\", \"categories\": [\"female\", \"male\"]}"
#define NUMBER_CATEGORIES "{\"name\": \"c\", \"type\": \"number\", \"categories\": [1, 2, 3]}"
#define IS_MALE "{\"type\": \"impute\", \"value\": \"male\"}, {\"type\": \"ordinal\", " \
	"\"categories\": [\"female\", \"male\"], \"handle_unknown\": \"error\", \"unknown_value\": null, " \
	"\"encoded_missing_value\": null}"
#define IMPUTE_7 "{\"type\": \"impute\", \"value\": 7}"
#define INT64 "{\"name\": \"c\", \"type\": \"number\", \"values\": \"integer\"}"
#define BOOLEAN "{\"name\": \"c\", \"type\": \"number\", \"values\": \"boolean\"}"

static void
column_dtype_tests(void)
{
	/* pandas category dtypes: a value not among the categories is missing (imputed) */
	expect_column("category string kept", STRING_CATEGORIES, IS_MALE, "\"female\"", 0.0, NULL);
	expect_column("category unknown string missing", STRING_CATEGORIES, IS_MALE, "\"MALE\"", 1.0, NULL);
	expect_column("category number for strings missing", STRING_CATEGORIES, IS_MALE, "5", 1.0, NULL);
	expect_column("category boolean missing", STRING_CATEGORIES, IS_MALE, "false", 1.0, NULL);
	expect_column("category object refused", STRING_CATEGORIES, IS_MALE, "{}", 0.0,
				  "column \"c\": expected a string or a number, got an object");
	expect_column("category number kept", NUMBER_CATEGORIES, IMPUTE_7, "3.0", 3.0, NULL);
	expect_column("category number not among them", NUMBER_CATEGORIES, IMPUTE_7, "2.5", 7.0, NULL);
	expect_column("category numeric string missing", NUMBER_CATEGORIES, IMPUTE_7, "\"3\"", 7.0, NULL);
	expect_column("category true is not 1", NUMBER_CATEGORIES, IMPUTE_7, "true", 7.0, NULL);
	expect_column("category infinity missing", NUMBER_CATEGORIES, IMPUTE_7, "1e400", 7.0, NULL);
	expect_column("category null", NUMBER_CATEGORIES, IMPUTE_7, "null", 7.0, NULL);
	expect_column("category kind must match the type",
				  "{\"name\": \"c\", \"type\": \"number\", \"categories\": [\"a\"]}", IMPUTE_7, NULL, 0,
				  "columns[0].categories: expected number categories for a number column");
	expect_column("category no null",
				  "{\"name\": \"c\", \"type\": \"number\", \"categories\": [1, null]}", IMPUTE_7, NULL, 0,
				  "columns[0].categories: a category dtype has no null category");

	/* nullable dtypes */
	expect_column("Int64 integral", INT64, IMPUTE_7, "4.0", 4.0, NULL);
	expect_column("Int64 int() literal", INT64, IMPUTE_7, "\" 1_0 \"", 10.0, NULL);
	expect_column("Int64 true", INT64, IMPUTE_7, "true", 1.0, NULL);
	expect_column("Int64 null", INT64, IMPUTE_7, "null", 7.0, NULL);
	expect_column("Int64 fraction refused", INT64, IMPUTE_7, "2.5", 0,
				  "column \"c\": expected an integer (dtype Int64), got 2.5");
	expect_column("Int64 float literal refused", INT64, IMPUTE_7, "\"3.0\"", 0,
				  "column \"c\": expected an integer (dtype Int64), got the string \"3.0\"");
	expect_column("Int64 nan literal refused", INT64, IMPUTE_7, "\"nan\"", 0,
				  "expected an integer (dtype Int64)");
	expect_column("Int64 beyond int64 refused", INT64, IMPUTE_7, "1e20", 0,
				  "expected an integer (dtype Int64), got 1e+20");
	expect_column("Int64 2^63 refused", INT64, IMPUTE_7, "-9223372036854775808", 0,
				  "expected an integer (dtype Int64)");
	expect_column("Int64 below 2^63", INT64, IMPUTE_7, "9223372036854774784", 9223372036854774784.0, NULL);
	expect_column("boolean 0", BOOLEAN, IMPUTE_7, "0", 0.0, NULL);
	expect_column("boolean true", BOOLEAN, IMPUTE_7, "true", 1.0, NULL);
	expect_column("boolean null", BOOLEAN, IMPUTE_7, "null", 7.0, NULL);
	expect_column("boolean 2 refused", BOOLEAN, IMPUTE_7, "2", 0,
				  "column \"c\": expected true, false, 0 or 1 (dtype boolean), got 2");
	expect_column("boolean string refused", BOOLEAN, IMPUTE_7, "\"1\"", 0,
				  "column \"c\": expected true, false, 0 or 1 (dtype boolean), got the string \"1\"");
	expect_column("values on a string column",
				  "{\"name\": \"c\", \"type\": \"string\", \"values\": \"boolean\"}", IS_MALE, NULL, 0,
				  "columns[0].values: only a number column without categories has a values rule");
	expect_column("values unknown",
				  "{\"name\": \"c\", \"type\": \"number\", \"values\": \"Int64\"}", IMPUTE_7, NULL, 0,
				  "columns[0].values:");
}

void
skew_tests(void)
{
	column_dtype_tests();
	infrequent_tests();
	function_tests();
	power_tests();
	quantile_tests();
	kbins_tests();
}
