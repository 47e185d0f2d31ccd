/*
 * test_adaboost.c - the adaboost estimator: its validation errors with
 * their JSON paths, and AdaBoostClassifier's scoring rule
 * (docs/model-format.md, "adaboost") on hand-made trees: both classes'
 * sums, the division by weight_sum, the softmax of [-d, d] / 2, the
 * standard trees' float32 comparison and checks. Also gradient_boosting's
 * exponential loss and init estimators.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* x <= 0.5 goes left; a second tree is one leaf. */
static const char two_trees[] =
	"{\"type\": \"adaboost\", \"weight_sum\": 2, \"trees\": ["
	"{\"feature\": [0], \"threshold\": [0.5], \"left\": [-1], \"right\": [-2],"
	" \"value\": [-0.75, 1.5], \"value_negative\": [0.75, -1.25]},"
	"{\"feature\": [], \"threshold\": [], \"left\": [], \"right\": [],"
	" \"value\": [0.25], \"value_negative\": [-0.5]}]}";

static char *
x_document(const char *estimator)
{
	const char *format =
		"{\"format\": \"predict-model/1\", \"name\": \"ada\", "
		"\"columns\": [{\"name\": \"x\", \"type\": \"number\"}],"
		" \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]}],"
		" \"estimator\": %s, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": null}}";
	size_t		size = strlen(format) + strlen(estimator) + 1;
	char	   *doc = malloc(size);

	if (doc == NULL)
		abort();
	snprintf(doc, size, format, estimator);
	return doc;
}

static const struct
{
	const char *name;
	const char *from;
	const char *to;
	const char *want;
}			mutations[] = {
	{"adaboost without weight_sum", "\"weight_sum\": 2, ", "",
	"estimator: missing field \"weight_sum\""},
	{"adaboost weight_sum a string", "\"weight_sum\": 2", "\"weight_sum\": \"2\"",
	"estimator.weight_sum: expected a finite number, got a string"},
	{"adaboost without value_negative", ", \"value_negative\": [-0.5]", "",
	"estimator.trees[1]: missing field \"value_negative\""},
	{"adaboost value_negative too short", "[0.75, -1.25]", "[0.75]",
	"estimator.trees[0].value_negative: expected 2 elements (one per leaf, as in \"value\"), got 1"},
	{"adaboost value_negative overflows", "[0.75, -1.25]", "[0.75, -1e400]",
	"estimator.trees[0].value_negative[1]: expected a finite number, got an out-of-range number"},
	{"adaboost value_negative a string", "[-0.5]", "[\"x\"]",
	"estimator.trees[1].value_negative[0]: expected a finite number, got a string"},
	{"adaboost has no missing_left", "\"left\": [-1]", "\"missing_left\": [1], \"left\": [-1]",
	"estimator.trees[0]: unknown field \"missing_left\""},
	{"adaboost has no missing mode", "\"weight_sum\": 2, ", "\"weight_sum\": 2, \"missing\": \"error\", ",
	"estimator: unknown field \"missing\""},
};

/* _compute_proba_from_decision for two classes, written out. */
static double
proba_of(double negative, double positive, double weight_sum)
{
	double		d = -(negative / weight_sum) + positive / weight_sum;
	double		h = d / 2;
	double		m = h > -h ? h : -h;

	return exp(h - m) / (exp(-h - m) + exp(h - m));
}

static void
expect_ada(const predict_model *model, const char *name, const char *json, double want)
{
	predict_value values[16];	/* base_model has 8 columns */
	predict_error err = {0};
	double		proba = -1;

	if (predict_score_json(model, json, strlen(json), values, &proba, &err) != PREDICT_OK)
		unit_report(name, false, "error '%s' for %s", err.message, json);
	else
		unit_report(name, proba == want, "proba %.17g, want %.17g for %s", proba, want, json);
}

static void
expect_ada_error(const predict_model *model, const char *name, const char *json, const char *want)
{
	predict_value values[16];	/* base_model has 8 columns */
	predict_error err = {0};
	double		proba = -1;

	if (predict_score_json(model, json, strlen(json), values, &proba, &err) == PREDICT_OK)
		unit_report(name, false, "scored %.17g, expected an error containing '%s'", proba, want);
	else
		unit_report(name, strstr(err.message, want) != NULL, "got '%s'", err.message);
}

/*
 * gradient_boosting's "loss": exponential doubles the decision before
 * expit (ExponentialLoss._raw_prediction_to_proba); log_loss is the default.
 */
static void
exponential_loss_tests(void)
{
	const char *boosting =
		"{\"type\": \"gradient_boosting\", \"init\": 0.25, \"learning_rate\": 0.5, %s"
		"\"trees\": [{\"feature\": [0], \"threshold\": [0.5], \"left\": [-1], \"right\": [-2],"
		" \"value\": [-1.5, 0.75]}]}";
	const char *losses[] = {"", "\"loss\": \"log_loss\", ", "\"loss\": \"exponential\", "};
	const double scale[] = {1.0, 1.0, 2.0};
	char		estimator[512];

	for (int i = 0; i < 3; i++)
	{
		char	   *doc;
		predict_model *m;

		snprintf(estimator, sizeof(estimator), boosting, losses[i]);
		doc = x_document(estimator);
		m = expect_load(losses[i][0] ? losses[i] : "gradient boosting, no loss", doc);
		free(doc);
		if (m == NULL)
			continue;
		expect_ada(m, i == 2 ? "exponential loss: expit(2 * d)" : "log_loss: expit(d)",
				   "{\"x\": 1}", 1.0 / (1.0 + exp(-(scale[i] * (0.25 + 0.5 * 0.75)))));
		predict_model_free(m);
	}
	snprintf(estimator, sizeof(estimator), boosting, "\"loss\": \"deviance\", ");
	{
		char	   *doc = x_document(estimator);

		expect_load_error("gradient boosting loss deviance", doc, NULL,
						  "estimator.loss: unsupported value \"deviance\"");
		free(doc);
	}
}

/* GradientBoosting's tree after init: x <= 0.5 adds 0.5 * -1.5, else 0.5 * 0.75. */
static const char boosting_after_init[] =
	"{\"type\": \"gradient_boosting\", \"init\": %s, \"learning_rate\": 0.5, %s"
	"\"trees\": [{\"feature\": [0], \"threshold\": [0.5], \"left\": [-1], \"right\": [-2],"
	" \"value\": [-1.5, 0.75]}]}";

static const char logistic_init[] =
	"{\"type\": \"logistic_regression\", \"coef\": [3.0], \"intercept\": -0.5, "
	"\"link\": \"logistic\"}";

/* A depth-1 probability tree: x <= 0.25 has fraction 1.0, else 0.375. */
static const char tree_init[] =
	"{\"type\": \"decision_tree\", \"missing\": \"error\", \"tree\": "
	"{\"feature\": [0], \"threshold\": [0.25], \"left\": [-1], \"right\": [-2], "
	"\"value\": [1.0, 0.375]}}";

/* get_init_raw_predictions: np.clip to float32's eps, then the log-odds (halved). */
static double
init_raw(double p, bool exponential)
{
	p = p < FLT_EPSILON ? FLT_EPSILON : p > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : p;
	return exponential ? 0.5 * log(p / (1.0 - p)) : log(p / (1.0 - p));
}

static predict_model *
load_boosting(const char *name, const char *init, const char *loss)
{
	char		estimator[1024];
	char	   *doc;
	predict_model *m;

	snprintf(estimator, sizeof(estimator), boosting_after_init, init, loss);
	doc = x_document(estimator);
	m = expect_load(name, doc);
	free(doc);
	return m;
}

static void
expect_init_load_error(const char *name, const char *init, const char *want)
{
	char		estimator[1024];
	char	   *doc;

	snprintf(estimator, sizeof(estimator), boosting_after_init, init, "");
	doc = x_document(estimator);
	expect_load_error(name, doc, NULL, want);
	free(doc);
}

/*
 * gradient_boosting's init estimator: scored on the feature rounded to
 * float32 (0.1 is not 0.1f: the logistic regression's decision shows it),
 * its probability clipped, the log-odds the trees start from.
 */
static void
init_estimator_tests(void)
{
	double		x32 = (double) (float) 0.1;
	double		p = 1.0 / (1.0 + exp(-(0.0 + 3.0 * x32 + -0.5)));
	predict_model *m;
	predict_error err = {0};
	char	   *sql;

	if ((m = load_boosting("gradient boosting, logistic init", logistic_init, "")) != NULL)
	{
		expect_ada(m, "logistic init: float32 feature, log-odds", "{\"x\": 0.1}",
				   1.0 / (1.0 + exp(-(init_raw(p, false) + 0.5 * -1.5))));
		unit_report("logistic init: float64 feature would differ",
					3.0 * x32 != 3.0 * 0.1, "same");
		expect_ada_error(m, "logistic init: the trees' checks come first", "{\"x\": 1e39}",
						 "value is too large for float32");
		sql = predict_model_to_sql(m, "f", "h", &err);
		unit_report("the SQL scorer refuses an init estimator by name",
					sql == NULL && strstr(err.message, "managed mode does not compile a "
										  "gradient_boosting init estimator") != NULL,
					"got %s", sql ? "SQL" : err.message);
		free(sql);
		predict_model_free(m);
	}
	if ((m = load_boosting("gradient boosting, exponential, logistic init", logistic_init,
						   "\"loss\": \"exponential\", ")) != NULL)
	{
		expect_ada(m, "logistic init, exponential: half the log-odds", "{\"x\": 0.1}",
				   1.0 / (1.0 + exp(-(2.0 * (init_raw(p, true) + 0.5 * -1.5)))));
		predict_model_free(m);
	}
	if ((m = load_boosting("gradient boosting, tree init", tree_init, "")) != NULL)
	{
		expect_ada(m, "tree init: fraction 1 clipped to 1 - eps", "{\"x\": 0.1}",
				   1.0 / (1.0 + exp(-(init_raw(1.0, false) + 0.5 * -1.5))));
		expect_ada(m, "tree init: fraction 0.375", "{\"x\": 0.75}",
				   1.0 / (1.0 + exp(-(init_raw(0.375, false) + 0.5 * 0.75))));
		predict_model_free(m);
	}
	expect_init_load_error("init estimator of another type",
						   "{\"type\": \"gaussian_nb\", \"log_prior\": [0, 0]}",
						   "estimator.init");
	expect_init_load_error("init voting refused",
						   "{\"type\": \"voting\", \"weights\": null, \"estimators\": [{"
						   "\"type\": \"logistic_regression\", \"coef\": [1], \"intercept\": 0,"
						   " \"link\": \"logistic\"}]}",
						   "estimator.init.type: expected an init estimator of type "
						   "logistic_regression, decision_tree or random_forest");
	expect_init_load_error("init a string", "\"x\"",
						   "estimator.init: expected a finite number, got a string");
	expect_init_load_error("init without type", "{}",
						   "estimator.init: missing field \"type\"");
	expect_init_load_error("init logistic with link none",
						   "{\"type\": \"logistic_regression\", \"coef\": [1], "
						   "\"intercept\": 0, \"link\": \"none\"}",
						   "estimator.init.link");
	expect_init_load_error("init logistic coef too long",
						   "{\"type\": \"logistic_regression\", \"coef\": [1, 2], "
						   "\"intercept\": 0, \"link\": \"logistic\"}",
						   "estimator.init.coef");
}

void
adaboost_tests(void)
{
	char	   *doc;
	predict_model *m;
	predict_error err = {0};
	char	   *sql;

	exponential_loss_tests();
	init_estimator_tests();

	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++)
	{
		char	   *estimator = unit_replace(two_trees, mutations[i].from, mutations[i].to);

		doc = x_document(estimator);
		expect_load_error(mutations[i].name, doc, NULL, mutations[i].want);
		free(doc);
		free(estimator);
	}

	doc = x_document(two_trees);
	m = expect_load("adaboost two trees", doc);
	free(doc);
	if (m == NULL)
		return;
	expect_ada(m, "adaboost: left leaf, then the single leaf", "{\"x\": 0.5}",
			   proba_of(0.0 + 0.75 + -0.5, 0.0 + -0.75 + 0.25, 2));
	expect_ada(m, "adaboost: right leaf, then the single leaf", "{\"x\": 0.75}",
			   proba_of(0.0 + -1.25 + -0.5, 0.0 + 1.5 + 0.25, 2));
	unit_report("adaboost: the two leaves give different probabilities",
				proba_of(0.25, -0.5, 2) != proba_of(-1.75, 1.75, 2), "same");
	/* 0.50000000000000011 is above 0.5 in float64, 0.5 in float32: left */
	expect_ada(m, "adaboost: float32 comparison", "{\"x\": 0.50000000000000011}",
			   proba_of(0.0 + 0.75 + -0.5, 0.0 + -0.75 + 0.25, 2));
	expect_ada_error(m, "adaboost: NaN is an error", "{}",
					 "missing value reaches the estimator");
	expect_ada_error(m, "adaboost: beyond float32 is an error", "{\"x\": 1e39}",
					 "value is too large for float32");
	{
		char	   *fixture = unit_with_estimator(adaboost_estimator);
		predict_model *f = expect_load("adaboost fixture", fixture);

		free(fixture);
		/* male, 3rd class, S: tree 0's leaf 3, tree 1's leaf 1 */
		if (f != NULL)
			expect_ada(f, "adaboost fixture: male, 3rd class, S",
					   "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}",
					   proba_of(0.0 + 1.5 + 0.125, 0.0 + -1.5 + -0.125, 2));
		predict_model_free(f);
	}
	sql = predict_model_to_sql(m, "f", "h", &err);
	unit_report("the SQL scorer compiles adaboost",
				sql != NULL && strstr(sql, "d := d / 2.0::float8;") != NULL,
				"got %s", sql ? sql : err.message);
	free(sql);
	predict_model_free(m);
}
