/*
 * test_predicted_class.c - the predicted class (docs/model-format.md,
 * "Predicted class"): proba >= threshold for a number, scikit-learn's
 * predict() for "threshold": null, on hand-made models whose ties follow
 * from the rules alone; and the loader's checks of null and "value0".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* A model of one number column x read as it is; threshold is JSON text or NULL (absent). */
static char *
x_model(const char *estimator, const char *threshold)
{
	char	   *doc = malloc(4096);
	char		field[64] = "";

	if (threshold != NULL)
		snprintf(field, sizeof(field), " \"threshold\": %s,", threshold);
	snprintf(doc, 4096,
			 "{\"format\": \"predict-model/1\", \"name\": \"x\","
			 " \"columns\": [{\"name\": \"x\", \"type\": \"number\"}],"
			 " \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]}],"
			 " \"estimator\": %s, \"positive_class\": 1,%s"
			 " \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\","
			 " \"training_rows\": null}}", estimator, field);
	return doc;
}

static predict_model *
load_x(const char *name, const char *estimator, const char *threshold)
{
	char	   *doc = x_model(estimator, threshold);
	predict_model *m = expect_load(name, doc);

	free(doc);
	return m;
}

/* Score {"x": x}; report whether proba and the class are what the rule says. */
static void
expect_class(const predict_model *m, const char *name, double x, double proba, bool predicted)
{
	char		json[64];
	predict_value values[1];
	predict_error err = {0};
	double		got = -1;
	bool		got_class = !predicted;
	predict_status status;

	if (m == NULL)
		return;
	snprintf(json, sizeof(json), "{\"x\": %.17g}", x);
	status = predict_score_json_class(m, json, strlen(json), values, &got, &got_class, &err);
	unit_report(name, status == PREDICT_OK && got == proba && got_class == predicted,
				"status %d '%s', proba %.17g (want %.17g), class %d (want %d)",
				status, err.message, got, proba, got_class, predicted);
}

static void
rule_tests(void)
{
	/* d = 1e-20 * x rounds to proba 0.5 for |x| <= 1: the sign decides */
	const char *lr = "{\"type\": \"logistic_regression\", \"coef\": [1e-20], \"intercept\": 0, "
		"\"link\": \"%s\"}";
	const char *links[] = {"logistic", "softmax"};

	for (int i = 0; i < 2; i++)
	{
		char		est[256];
		char		name[128];
		predict_model *m;

		snprintf(est, sizeof(est), lr, links[i]);
		m = load_x("logistic regression, null threshold", est, "null");
		snprintf(name, sizeof(name), "%s: a tiny positive decision predicts 1 at proba 0.5", links[i]);
		expect_class(m, name, 1, 0.5, true);
		snprintf(name, sizeof(name), "%s: a tiny negative decision predicts 0 at proba 0.5", links[i]);
		expect_class(m, name, -1, 0.5, false);
		snprintf(name, sizeof(name), "%s: decision 0 predicts 0", links[i]);
		expect_class(m, name, 0, 0.5, false);
		if (m != NULL)
			unit_report("a null threshold has no threshold", !predict_model_has_threshold(m) &&
						!predict_model_classify(m, 1.0), "has %d", predict_model_has_threshold(m));
		predict_model_free(m);
		m = load_x("logistic regression, threshold 0.5", est, "0.5");
		snprintf(name, sizeof(name), "%s, threshold 0.5: proba 0.5 is positive", links[i]);
		expect_class(m, name, -1, 0.5, true);
		predict_model_free(m);
	}
}

static void
tree_rule_tests(void)
{
	predict_model *m;
	const char *tie = "{\"type\": \"decision_tree\", \"tree\": {\"feature\": [0], \"threshold\": [0],"
		" \"left\": [-1], \"right\": [-2], \"value\": [0.5, 0.75], \"value0\": [0.5, 0.25]}}";

	m = load_x("decision tree, null threshold", tie, "null");
	expect_class(m, "tree: a 50/50 leaf predicts classes_[0]", -1, 0.5, false);
	expect_class(m, "tree: a 75% leaf predicts 1", 1, 0.75, true);
	predict_model_free(m);
	m = load_x("decision tree, absent threshold (0.5)", tie, NULL);
	expect_class(m, "tree, no threshold field: proba >= 0.5 as always", -1, 0.5, true);
	if (m != NULL)
		unit_report("an absent threshold is 0.5", predict_model_has_threshold(m) &&
					predict_model_threshold(m) == 0.5, "%g", predict_model_threshold(m));
	predict_model_free(m);

	/*
	 * The forest compares its classes' averaged fractions, class 0 summed on
	 * its own: here 0.5 against 0.49999999999999994, where 1 - proba would
	 * say a tie; and the classes' sums tie where fractions of 2/3 and 1/3
	 * do not sum to 1 as 1 - p would.
	 */
	m = load_x("forest, null threshold",
			   "{\"type\": \"random_forest\", \"trees\": ["
			   "{\"feature\": [0], \"threshold\": [0], \"left\": [-1], \"right\": [-2],"
			   " \"value\": [0.5, 0.6666666666666666], \"value0\": [0.49999999999999994, 0.3333333333333333]},"
			   "{\"feature\": [0], \"threshold\": [0], \"left\": [-1], \"right\": [-2],"
			   " \"value\": [0.5, 0.3333333333333333], \"value0\": [0.49999999999999994, 0.6666666666666666]}]}",
			   "null");
	expect_class(m, "forest: class 0's own sum decides (1 - p would tie)", -1, 0.5, true);
	expect_class(m, "forest: tied sums predict classes_[0]", 1, (0.6666666666666666 + 0.3333333333333333) / 2, false);
	predict_model_free(m);
}

static void
boosting_rule_tests(void)
{
	predict_model *m;

	/* expit(1e-20) is 0.5: argmax over [0.5, 0.5] is classes_[0] */
	m = load_x("gradient boosting, null threshold",
			   "{\"type\": \"gradient_boosting\", \"init\": 1e-20, \"learning_rate\": 0.1, \"trees\": ["
			   "{\"feature\": [0], \"threshold\": [0], \"left\": [-1], \"right\": [-2], \"value\": [0, 10]}]}",
			   "null");
	expect_class(m, "gradient boosting: proba 0.5 predicts classes_[0]", -1, 0.5, false);
	expect_class(m, "gradient boosting: above 0.5 predicts 1", 1, 1.0 / (1.0 + exp(-(1e-20 + 0.1 * 10))), true);
	predict_model_free(m);
	m = load_x("hist gradient boosting, null threshold",
			   "{\"type\": \"hist_gradient_boosting\", \"baseline\": 1e-20, \"categorical\": [], \"trees\": ["
			   "{\"feature\": [0], \"threshold\": [0], \"missing_left\": [0], \"left\": [-1], \"right\": [-2],"
			   " \"value\": [0, -1]}]}",
			   "null");
	expect_class(m, "hist gradient boosting: proba 0.5 predicts classes_[0]", -1, 0.5, false);
	expect_class(m, "hist gradient boosting: below 0.5 predicts 0", 1, 1.0 / (1.0 + exp(-(0.0 + 1e-20 + -1))), false);
	predict_model_free(m);
}

/*
 * Issue 18's boosted trees, each at a tie its own rule decides: XGBoost
 * compares the float32 probability with 0.5 (a positive margin whose
 * probability rounds to 0.5f predicts 0), AdaBoost the decision with 0
 * (before the halving that can round a positive decision to 0), the
 * exponential loss the raw sum with 0 (>=: 0 predicts 1).
 */
static void
boosted_rule_tests(void)
{
	predict_model *m;
	float		one = 1.0f / (expf(-1.0f) + 1.0f + 1e-16f);

	/* base_score 0.5: margin 0; leaves 0, 2^-40 and 1 */
	m = load_x("xgboost, null threshold",
			   "{\"type\": \"xgboost\", \"base_score\": 0.5, \"zero_is_missing\": false, \"trees\": ["
			   "{\"feature\": [0, 0], \"threshold\": [0, 1], \"missing_left\": [1, 1],"
			   " \"left\": [-1, -2], \"right\": [1, -3], \"value\": [0, 9.094947017729282e-13, 1]}]}",
			   "null");
	expect_class(m, "xgboost: margin 0, proba 0.5f predicts 0", -1, 0.5, false);
	expect_class(m, "xgboost: a positive margin at proba 0.5f predicts 0", 0.5, 0.5, false);
	expect_class(m, "xgboost: proba above 0.5 predicts 1", 2, (double) one, true);
	predict_model_free(m);
	m = load_x("xgboost, threshold 0.5", "{\"type\": \"xgboost\", \"base_score\": 0.5, "
			   "\"zero_is_missing\": false, \"trees\": [{\"feature\": [], \"threshold\": [], "
			   "\"missing_left\": [], \"left\": [], \"right\": [], \"value\": [0]}]}", "0.5");
	expect_class(m, "xgboost, threshold 0.5: proba 0.5f is positive", 0, 0.5, true);
	predict_model_free(m);

	/* weight_sum 2: d = 0, then 5e-301 (proba 0.5), then 4.9e-324 (d / 2 is 0) */
	m = load_x("adaboost, null threshold",
			   "{\"type\": \"adaboost\", \"weight_sum\": 2, \"trees\": ["
			   "{\"feature\": [0, 0], \"threshold\": [0, 1], \"left\": [-1, -2], \"right\": [1, -3],"
			   " \"value\": [0.5, 1e-300, 1e-323], \"value_negative\": [0.5, 0, 0]}]}",
			   "null");
	expect_class(m, "adaboost: decision 0 predicts 0", -1, 0.5, false);
	expect_class(m, "adaboost: a tiny positive decision predicts 1 at proba 0.5", 0.5, 0.5, true);
	expect_class(m, "adaboost: a decision whose half is 0 predicts 1", 2, 0.5, true);
	predict_model_free(m);

	/* raw 0 and -1e-300: expit(2 * raw) is 0.5 for both */
	m = load_x("exponential loss, null threshold",
			   "{\"type\": \"gradient_boosting\", \"loss\": \"exponential\", \"init\": 0,"
			   " \"learning_rate\": 1, \"trees\": [{\"feature\": [0], \"threshold\": [0],"
			   " \"left\": [-1], \"right\": [-2], \"value\": [0, -1e-300]}]}",
			   "null");
	expect_class(m, "exponential loss: raw 0 predicts 1 (raw >= 0)", -1, 0.5, true);
	expect_class(m, "exponential loss: a tiny negative raw predicts 0", 1, 0.5, false);
	predict_model_free(m);
}

/* x > 0 as a tree of one split, its leaves' fractions given */
#define SPLIT_TREE(value, value0) "{\"feature\": [0], \"threshold\": [0], \"left\": [-1], " \
	"\"right\": [-2], \"value\": " value ", \"value0\": " value0 "}"
#define LR_X_LINK(link) "{\"type\": \"logistic_regression\", \"coef\": [1], \"intercept\": 0, " \
	"\"link\": \"" link "\"}"

static void
linear_and_nb_rule_tests(void)
{
	predict_model *m;
	double		j0 = -0.5;
	double		j1 = -0.49999999999999994;
	double		lse = log(0.0 + exp(j0 - j1) + exp(j1 - j1)) + j1;

	/* SGDClassifier(modified_huber).predict: d > 0, not the clipped probability */
	m = load_x("modified_huber, null threshold", LR_X_LINK("modified_huber"), "null");
	expect_class(m, "modified_huber: d = 0 predicts classes_[0] at proba 0.5", 0, 0.5, false);
	expect_class(m, "modified_huber: a tiny positive d predicts 1 at proba 0.5", 1e-300, 0.5, true);
	expect_class(m, "modified_huber: d beyond 1 predicts 1 at proba 1", 3, 1.0, true);
	predict_model_free(m);

	/* GaussianNB.predict: argmax of the joint log likelihoods */
	m = load_x("gaussian_nb, null threshold",
			   "{\"type\": \"gaussian_nb\", \"log_prior\": [-0.5, -0.5], \"log_norm\": [0, 0], "
			   "\"theta\": [[0], [0]], \"var\": [[1], [1]]}", "null");
	expect_class(m, "gaussian_nb: equal likelihoods predict classes_[0]", 0.25, 0.5, false);
	predict_model_free(m);
	m = load_x("gaussian_nb, priors an ulp apart",
			   "{\"type\": \"gaussian_nb\", \"log_prior\": [-0.5, -0.49999999999999994], "
			   "\"log_norm\": [0, 0], \"theta\": [[0], [0]], \"var\": [[1], [1]]}", "null");
	expect_class(m, "gaussian_nb: the larger likelihood by an ulp predicts 1", 0,
				 exp(j1 - lse), true);
	predict_model_free(m);
}

static void
composite_rule_tests(void)
{
	predict_model *m;

	/*
	 * Soft voting: argmax over both averaged columns, each estimator's
	 * column 0 as it computes it. The forest's class-0 fraction
	 * 0.49999999999999994 against its 0.5 decides (1 - p would tie); the
	 * tree's 50/50 leaf ties, and classes_[0] wins.
	 */
	m = load_x("voting, null threshold",
			   "{\"type\": \"voting\", \"weights\": [1, 3], \"estimators\": ["
			   "{\"type\": \"random_forest\", \"trees\": ["
			   SPLIT_TREE("[0.5, 0.5]", "[0.49999999999999994, 0.5]") "]},"
			   "{\"type\": \"random_forest\", \"trees\": ["
			   SPLIT_TREE("[0.5, 0.5]", "[0.49999999999999994, 0.5]") "]}]}", "null");
	expect_class(m, "voting: class 0's own average decides", -1, (0.0 + 0.5 * 1 + 0.5 * 3) / 4, true);
	expect_class(m, "voting: tied averages predict classes_[0]", 1, (0.0 + 0.5 * 1 + 0.5 * 3) / 4, false);
	predict_model_free(m);
	m = load_x("voting of a tree, null threshold",
			   "{\"type\": \"voting\", \"weights\": null, \"estimators\": [{\"type\": \"decision_tree\", "
			   "\"tree\": " SPLIT_TREE("[0.5, 0.75]", "[0.5, 0.25]") "}]}", "null");
	expect_class(m, "voting of a tree: a 50/50 leaf predicts classes_[0]", -1, 0.5, false);
	expect_class(m, "voting of a tree: a 75% leaf predicts 1", 1, 0.75, true);
	predict_model_free(m);

	/*
	 * CalibratedClassifierCV: argmax over the folds' mean [1 - p, p]. Two
	 * folds of 0.07 and 0.93 average to 0.5 but column 0 to
	 * 0.49999999999999994; sigmoid(0) is 0.5 against 0.5, a tie.
	 */
	m = load_x("calibrated, null threshold",
			   "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": ["
			   "{\"estimator\": " LR_X_LINK("none") ", \"calibrator\": {\"x\": [0], \"y\": [0.07]}},"
			   "{\"estimator\": " LR_X_LINK("none") ", \"calibrator\": {\"x\": [0], \"y\": [0.93]}}]}",
			   "null");
	expect_class(m, "calibrated: the mean of 1 - p decides (1 - mean would tie)", 0,
				 (0.0 + 0.07 + 0.93) / 2, true);
	predict_model_free(m);

	/*
	 * Column 0 is 1 - p before the fix of p just above 1: 1.000001 counts
	 * as 1 in column 1 but as -1e-6 in column 0, which breaks the tie.
	 */
	m = load_x("calibrated, a fold just above 1",
			   "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": ["
			   "{\"estimator\": " LR_X_LINK("none") ", \"calibrator\": {\"x\": [0], \"y\": [1.000001]}},"
			   "{\"estimator\": " LR_X_LINK("none") ", \"calibrator\": {\"x\": [0], \"y\": [0]}}]}",
			   "null");
	expect_class(m, "calibrated: column 0 takes p before its fix to 1", 0, (0.0 + 1.0 + 0.0) / 2, true);
	predict_model_free(m);
	m = load_x("calibrated sigmoid, null threshold",
			   "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
			   "{\"estimator\": " LR_X_LINK("none") ", \"calibrator\": {\"a\": 0, \"b\": 0}}]}",
			   "null");
	expect_class(m, "calibrated: 0.5 against 0.5 predicts classes_[0]", 2, 0.5, false);
	predict_model_free(m);
}

/*
 * Issue 18's boosted trees inside a soft voting: its predict() compares
 * the averaged columns, each as the library computes column 0 (AdaBoost's
 * softmax gives both; XGBoost is refused inside a composite), not its own
 * rule: AdaBoost's tiny positive decision, which predicts 1 alone, ties at 0.5
 * against 0.5 in a voting and predicts classes_[0].
 */
static void
boosted_in_voting_tests(void)
{
	predict_model *m;

	m = load_x("voting of an adaboost, null threshold",
			   "{\"type\": \"voting\", \"weights\": null, \"estimators\": ["
			   "{\"type\": \"adaboost\", \"weight_sum\": 2, \"trees\": ["
			   "{\"feature\": [0, 0], \"threshold\": [0, 1], \"left\": [-1, -2], \"right\": [1, -3],"
			   " \"value\": [0.5, 1e-300, 1e-323], \"value_negative\": [0.5, 0, 0]}]}]}",
			   "null");
	expect_class(m, "voting of an adaboost: decision 0 ties, classes_[0]", -1, 0.5, false);
	expect_class(m, "voting of an adaboost: a tiny positive decision ties at 0.5, classes_[0]",
				 0.5, 0.5, false);
	predict_model_free(m);
}

#define TREE_WITH(extra) "{\"feature\": [0], \"threshold\": [0], \"left\": [-1], " \
	"\"right\": [-2], \"value\": [0.5, 0.75]" extra "}"
#define T TREE_WITH("")
#define T0 TREE_WITH(", \"value0\": [0.5, 0.25]")

static void
loader_rule_tests(void)
{
	struct
	{
		const char *name;
		const char *estimator;
		const char *threshold;
		const char *want;
	}			cases[] = {
		{"null threshold: a forest needs value0",
			"{\"type\": \"random_forest\", \"trees\": [" T "]}", "null",
		"threshold: null (scikit-learn's predict()) needs the trees' \"value0\" (classes_[0]'s fraction per leaf) for a random_forest"},
		{"null threshold: a tree needs value0",
			"{\"type\": \"decision_tree\", \"tree\": " T "}", "null",
		"threshold: null (scikit-learn's predict()) needs the trees' \"value0\""},
		{"threshold a string", "{\"type\": \"decision_tree\", \"tree\": " T "}", "\"predict\"",
		"threshold: expected a number between 0 and 1, or null"},
		{"value0 on the second tree only",
			"{\"type\": \"random_forest\", \"trees\": [" T ", " T0 "]}", "0.5",
		"estimator.trees[1].value0: every tree has \"value0\" or none does (the first tree has none)"},
		{"value0 on the first tree only",
			"{\"type\": \"random_forest\", \"trees\": [" T0 ", " T "]}", "null",
		"estimator.trees[1]: missing field \"value0\""},
		{"value0 out of range",
			"{\"type\": \"decision_tree\", \"tree\": " TREE_WITH(", \"value0\": [0.5, 1.25]") "}", "null",
		"estimator.tree.value0[1]: expected a class fraction between 0 and 1"},
		{"value0 one short",
			"{\"type\": \"decision_tree\", \"tree\": " TREE_WITH(", \"value0\": [0.5]") "}", "null",
		"estimator.tree.value0: expected 2 elements (one per leaf, as in \"value\"), got 1"},
		{"value0 on gradient boosting",
			"{\"type\": \"gradient_boosting\", \"init\": 0, \"learning_rate\": 1, \"trees\": [" T0 "]}", "0.5",
		"estimator.trees[0].value0: only decision_tree and random_forest trees have class-0 fractions"},
		{"null threshold: a voting's forest needs value0",
			"{\"type\": \"voting\", \"weights\": null, \"estimators\": ["
			"{\"type\": \"random_forest\", \"trees\": [" T0 "]}, "
			"{\"type\": \"random_forest\", \"trees\": [" T "]}]}", "null",
		"threshold: null (scikit-learn's predict()) needs the trees' \"value0\" (classes_[0]'s fraction per leaf) for a random_forest"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *doc = x_model(cases[i].estimator, cases[i].threshold);

		expect_load_error(cases[i].name, doc, NULL, cases[i].want);
		free(doc);
	}
}

/* A calibrated fold reads column 1 only: its forest needs no "value0". */
static void
calibrated_value0_test(void)
{
	predict_model *m = load_x("null threshold: a calibrated fold's forest without value0 loads",
							  "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
							  "{\"estimator\": {\"type\": \"random_forest\", \"trees\": [" T "]}, "
							  "\"calibrator\": {\"a\": 0, \"b\": 0}}]}", "null");

	expect_class(m, "calibrated forest: sigmoid(0) ties, classes_[0]", 1, 0.5, false);
	predict_model_free(m);
}

void
predicted_class_tests(void)
{
	rule_tests();
	tree_rule_tests();
	boosting_rule_tests();
	boosted_rule_tests();
	linear_and_nb_rule_tests();
	composite_rule_tests();
	boosted_in_voting_tests();
	loader_rule_tests();
	calibrated_value0_test();
}
