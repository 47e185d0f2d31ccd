/*
 * test_ensemble.c - issue 18's final estimators on small hand-made
 * documents: numpy's pairwise summation term by term, the modified_huber
 * link, gaussian_nb, the voting and calibrated composites (their rules,
 * their limits and their loader errors with JSON paths). Parity with
 * scikit-learn is tested in test/parity/test_estimators.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pairwise.h"
#include "unit.h"

/* numpy's pairwise_sum (loops_utils.h.src), transliterated: the reference. */
static double
numpy_pairwise(const double *a, size_t n)
{
	if (n < 8)
	{
		double		res = 0.;

		for (size_t i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128)
	{
		double		r[8];
		double		res;
		size_t		i;

		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	{
		size_t		n2 = n / 2;

		n2 -= n2 % 8;
		return numpy_pairwise(a, n2) + numpy_pairwise(a + n2, n - n2);
	}
}

static void
pairwise_tests(void)
{
	enum
	{
		MAX_N = 1100
	};
	static double a[MAX_N];
	static uint32_t length[MAX_N];
	static uint8_t merges[MAX_N];
	size_t		bad = 0;
	size_t		differs_from_sequential = 0;
	unsigned	seed = 12345;

	for (size_t i = 0; i < MAX_N; i++)
	{
		seed = seed * 1103515245u + 12345u;
		/* magnitudes from 1e-8 to 1e8: the order of the sum matters */
		a[i] = ldexp((double) (seed >> 8) / (1 << 24), (int) (seed % 53) - 26);
	}
	for (size_t n = 0; n <= MAX_N; n += (n < 300 ? 1 : 97))
	{
		pairwise_plan plan;
		pairwise_state st;
		double		sequential = 0.0;
		double		got;

		if (pairwise_plan_leaves(n) > MAX_N)
			abort();
		pairwise_plan_fill(&plan, length, merges, n);
		pairwise_start(&st, &plan);
		for (size_t i = 0; i < n; i++)
		{
			pairwise_add(&st, a[i]);
			sequential += a[i];
		}
		got = pairwise_result(&st);
		if (got != 0.0 + numpy_pairwise(a, n))
			bad++;
		if (got != sequential)
			differs_from_sequential++;
	}
	unit_report("pairwise: term by term equals numpy's pairwise_sum for every length",
				bad == 0, "%zu lengths differ", bad);
	/* the test has teeth: the pairwise order is not the sequential one */
	unit_report("pairwise: the order differs from a sequential sum for some lengths",
				differs_from_sequential > 10, "only %zu", differs_from_sequential);
}

/* A model of number columns x and y read as they are, with this estimator. */
static char *
xy_doc(const char *estimator)
{
	const char *format =
		"{\"format\": \"predict-model/1\", \"name\": \"xy\", "
		"\"columns\": [{\"name\": \"x\", \"type\": \"number\"}, {\"name\": \"y\", \"type\": \"number\"}],"
		" \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]},"
		" {\"column\": \"y\", \"steps\": [], \"features\": [\"y\"]}],"
		" \"estimator\": %s, \"positive_class\": 1,"
		" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": null}}";
	size_t		size = strlen(format) + strlen(estimator) + 1;
	char	   *doc = malloc(size);

	if (doc == NULL)
		abort();
	snprintf(doc, size, format, estimator);
	return doc;
}

static predict_model *
xy_model(const char *name, const char *estimator)
{
	char	   *doc = xy_doc(estimator);
	predict_model *m = expect_load(name, doc);

	free(doc);
	return m;
}

static void
xy_error(const char *name, const char *estimator, const char *want)
{
	char	   *doc = xy_doc(estimator);

	expect_load_error(name, doc, NULL, want);
	free(doc);
}

static void
expect_xy(const predict_model *m, const char *name, double x, double y, double want)
{
	char		json[128];
	predict_value values[2];
	predict_error err = {0};
	double		proba = -1;
	predict_status status;

	snprintf(json, sizeof(json), "{\"x\": %.17g, \"y\": %.17g}", x, y);
	status = predict_score_json(m, json, strlen(json), values, &proba, &err);
	if (status != PREDICT_OK)
		unit_report(name, false, "error '%s' for %s", err.message, json);
	else
		unit_report(name, proba == want, "proba %.17g, want %.17g for %s", proba, want, json);
}

#define LR_X "{\"type\": \"logistic_regression\", \"coef\": [1, 0], \"intercept\": 0, \"link\": \"%s\"}"
#define FOREST_X "{\"type\": \"random_forest\", \"trees\": [{\"feature\": [0], \"threshold\": [0.5], " \
	"\"left\": [-1], \"right\": [-2], \"value\": [0.2, 0.8]}]}"
#define FOREST_Y "{\"type\": \"random_forest\", \"trees\": [{\"feature\": [1], \"threshold\": [1.5], " \
	"\"left\": [-1], \"right\": [-2], \"value\": [0.1, 0.6]}]}"

static void
modified_huber_tests(void)
{
	char		est[256];
	predict_model *m;

	snprintf(est, sizeof(est), LR_X, "modified_huber");
	if ((m = xy_model("modified_huber: loads", est)) == NULL)
		return;
	expect_xy(m, "modified_huber: (d + 1) / 2 inside [-1, 1]", 0.5, 0, 0.75);
	expect_xy(m, "modified_huber: d = -1 is 0", -1, 0, 0.0);
	expect_xy(m, "modified_huber: clipped to 1 above 1", 3, 0, 1.0);
	expect_xy(m, "modified_huber: clipped to 0 below -1", -1e300, 0, 0.0);
	predict_model_free(m);
}

#define NB "{\"type\": \"gaussian_nb\", \"log_prior\": [-0.5, -0.9], \"log_norm\": [-1.25, -2.5], " \
	"\"theta\": [[0, 1], [2, 3]], \"var\": [[1, 4], [2, 0.5]]}"

static double
nb_expected(double x, double y)
{
	double		s0 = 0.0 + ((x - 0) * (x - 0)) / 1 + ((y - 1) * (y - 1)) / 4;
	double		s1 = 0.0 + ((x - 2) * (x - 2)) / 2 + ((y - 3) * (y - 3)) / 0.5;
	double		j0 = -0.5 + (-1.25 - 0.5 * s0);
	double		j1 = -0.9 + (-2.5 - 0.5 * s1);
	double		m = j0 >= j1 ? j0 : j1;
	double		lse = log(0.0 + exp(j0 - m) + exp(j1 - m)) + m;

	return exp(j1 - lse);
}

static void
gaussian_nb_tests(void)
{
	predict_model *m = xy_model("gaussian_nb: loads", NB);
	char	   *bad;

	if (m != NULL)
	{
		expect_xy(m, "gaussian_nb: near class 1", 2, 3, nb_expected(2, 3));
		expect_xy(m, "gaussian_nb: near class 0", 0, 1, nb_expected(0, 1));
		expect_xy(m, "gaussian_nb: far away (one class's exp underflows)", 40, -30,
				  nb_expected(40, -30));
		predict_model_free(m);
	}
	bad = unit_replace(NB, "[2, 0.5]", "[2, 0]");
	xy_error("gaussian_nb: var must be positive", bad, "estimator.var[1][1]: expected a positive number");
	free(bad);
	bad = unit_replace(NB, "[[0, 1], [2, 3]]", "[[0, 1], [2]]");
	xy_error("gaussian_nb: theta per feature", bad,
			 "estimator.theta[1]: expected 2 numbers (the total width of the blocks), got 1");
	free(bad);
	bad = unit_replace(NB, "[-0.5, -0.9]", "[-0.5]");
	xy_error("gaussian_nb: two priors", bad, "estimator.log_prior: expected 2 numbers, got 1");
	free(bad);
}

static void
voting_tests(void)
{
	char		est[1024];
	char		lr[256];
	predict_model *m;

	/* two forests reading different features: each keeps its own slots */
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": null, \"estimators\": [%s, %s]}",
			 FOREST_X, FOREST_Y);
	if ((m = xy_model("voting: two tree estimators load", est)) != NULL)
	{
		expect_xy(m, "voting: the mean of the probabilities", 1, 1, (0.0 + 0.8 + 0.1) / 2.0);
		expect_xy(m, "voting: each forest reads its own feature", 0, 2, (0.0 + 0.2 + 0.6) / 2.0);
		predict_model_free(m);
	}
	snprintf(lr, sizeof(lr), LR_X, "logistic");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": [3, 0.5], \"estimators\": [%s, %s]}",
			 lr, FOREST_Y);
	if ((m = xy_model("voting: weighted", est)) != NULL)
	{
		expect_xy(m, "voting: weighted sum over the weights' sum", 0.25, 2,
				  (0.0 + (1.0 / (1.0 + exp(-0.25))) * 3 + 0.6 * 0.5) / 3.5);
		predict_model_free(m);
	}
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": [0, 0], \"estimators\": [%s, %s]}",
			 lr, FOREST_Y);
	xy_error("voting: weights summing to zero", est, "estimator.weights: the weights sum to 0");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": [2, -1], \"estimators\": [%s, %s]}",
			 lr, FOREST_Y);
	xy_error("voting: negative weights", est, "estimator.weights[1]: expected a non-negative weight");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": [1], \"estimators\": [%s, %s]}",
			 lr, FOREST_Y);
	xy_error("voting: one weight per estimator", est, "estimator.weights: expected 2 numbers, got 1");
	xy_error("voting: no estimators", "{\"type\": \"voting\", \"weights\": null, \"estimators\": []}",
			 "estimator.estimators: expected at least 1 element, got 0");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": null, \"estimators\": [%s, "
			 "{\"type\": \"logistic_regression\", \"coef\": [1], \"intercept\": 0, \"link\": \"logistic\"}]}",
			 lr);
	xy_error("voting: a sub-estimator's error has its path", est,
			 "estimator.estimators[1].coef: expected 2 numbers (the total width of the blocks), got 1");
}

static void
calibrated_tests(void)
{
	char		est[1024];
	char		lr[256];
	predict_model *m;
	double		d = 0.25;

	snprintf(lr, sizeof(lr), LR_X, "logistic");
	/* sigmoid: expit(-(a * d + b)) of the decision function, two folds averaged */
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"a\": -2, \"b\": 0.5}},"
			 "{\"estimator\": %s, \"calibrator\": {\"a\": -1, \"b\": 0}}]}", lr, FOREST_X);
	if ((m = xy_model("calibrated: sigmoid loads", est)) != NULL)
	{
		expect_xy(m, "calibrated: sigmoid of the decision function and of a probability", d, 0,
				  (0.0 + 1.0 / (1.0 + exp(-2 * d + 0.5)) + 1.0 / (1.0 + exp(-1 * 0.2 + 0))) / 2.0);
		predict_model_free(m);
	}
	/* isotonic: np.interp, clipped */
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"x\": [-1, 0, 2], \"y\": [0, 0.5, 1]}}]}", lr);
	if ((m = xy_model("calibrated: isotonic loads", est)) != NULL)
	{
		expect_xy(m, "isotonic: between thresholds", 1, 0, 0.25 * (1 - 0) + 0.5);
		expect_xy(m, "isotonic: at a threshold", 0, 0, 0.5);
		expect_xy(m, "isotonic: clipped above", 7, 0, 1.0);
		expect_xy(m, "isotonic: clipped below", -7, 0, 0.0);
		predict_model_free(m);
	}
	/* a probability just above 1 is 1 (up to 1 + 1e-5), the others are kept */
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"x\": [-1, 0], \"y\": [0, 1.000001]}}]}", lr);
	if ((m = xy_model("calibrated: y just above 1 loads", est)) != NULL)
	{
		expect_xy(m, "calibrated: 1.000001 becomes 1", 0, 0, 1.0);
		predict_model_free(m);
	}
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"x\": [-1, 0, 0], \"y\": [0, 0.5, 1]}}]}", lr);
	xy_error("isotonic: thresholds increasing", est,
			 "estimator.folds[0].calibrator.x[2]: expected increasing numbers");
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
			 "{\"estimator\": %s}]}", lr);
	xy_error("calibrated: a fold needs its calibrator", est,
			 "estimator.folds[0]: missing field \"calibrator\"");
	snprintf(lr, sizeof(lr), LR_X, "none");
	xy_error("link none: refused outside a calibrated fold", lr,
			 "estimator.link: \"none\" (no predict_proba) is only valid for the estimator of a calibrated fold");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": null, \"estimators\": [%s]}", lr);
	xy_error("link none: refused in a voting", est,
			 "estimator.estimators[0].link: \"none\" (no predict_proba) is only valid");
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"a\": -2, \"b\": 0.5}}]}", lr);
	if ((m = xy_model("link none: a calibrated fold's decision function", est)) != NULL)
	{
		expect_xy(m, "link none: calibrated", d, 0, (0.0 + 1.0 / (1.0 + exp(-2 * d + 0.5))) / 1.0);
		predict_model_free(m);
	}
	snprintf(lr, sizeof(lr), LR_X, "logistic");
	snprintf(est, sizeof(est), "{\"type\": \"calibrated\", \"method\": \"sigmoid\", \"folds\": ["
			 "{\"estimator\": %s, \"calibrator\": {\"x\": [0], \"y\": [0]}}]}", lr);
	xy_error("calibrated: the method's fields", est,
			 "estimator.folds[0].calibrator: unknown field \"x\"");
}

static void
limit_tests(void)
{
	char	   *est = malloc(64 * 1024);
	char	   *inner = malloc(64 * 1024);
	size_t		len;

	if (est == NULL || inner == NULL)
		abort();
	snprintf(inner, 64 * 1024, LR_X, "logistic");
	/* MAX_ESTIMATOR_DEPTH levels load; one more is refused */
	for (int depth = 1; depth <= MAX_ESTIMATOR_DEPTH + 1; depth++)
	{
		snprintf(est, 64 * 1024, "{\"type\": \"voting\", \"weights\": null, \"estimators\": [%s]}", inner);
		strcpy(inner, est);
		if (depth == MAX_ESTIMATOR_DEPTH)
		{
			predict_model *m = xy_model("limits: composites nest 4 deep", est);

			if (m != NULL)
			{
				expect_xy(m, "limits: nested votes of one estimator", 0, 0, 0.5);
				predict_model_free(m);
			}
		}
	}
	xy_error("limits: 5 levels refused", est, "max_estimator_depth");
	/* MAX_SUB_ESTIMATORS in all */
	len = (size_t) snprintf(est, 64 * 1024, "{\"type\": \"voting\", \"weights\": null, \"estimators\": [");
	snprintf(inner, 64 * 1024, LR_X, "logistic");
	for (int i = 0; i <= MAX_SUB_ESTIMATORS; i++)
		len += (size_t) snprintf(est + len, 64 * 1024 - len, "%s%s", i ? "," : "", inner);
	snprintf(est + len, 64 * 1024 - len, "]}");
	xy_error("limits: more than max_sub_estimators", est, "max_sub_estimators");
	free(est);
	free(inner);
}

/* Managed mode compiles the composites and refuses gaussian_nb by name, nested too. */
static void
managed_tests(void)
{
	char		est[2048];
	char		lr[256];
	predict_model *m;

	snprintf(lr, sizeof(lr), LR_X, "none");
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": [1, 2], \"estimators\": [%s, "
			 "{\"type\": \"calibrated\", \"method\": \"isotonic\", \"folds\": [{\"estimator\": %s, "
			 "\"calibrator\": {\"x\": [-1, 0, 2], \"y\": [0, 0.5, 1]}}]}]}", FOREST_X, lr);
	if ((m = xy_model("managed: a vote of a forest and a calibrated fold loads", est)) != NULL)
	{
		predict_error err = {0};
		char	   *sql = predict_model_to_sql(m, "f", "h", &err);

		unit_report("managed: composites compile, each estimator in its own block",
					sql != NULL && strstr(sql, "DECLARE vs0") && strstr(sql, "DECLARE cs1") &&
					strstr(sql, "vp0 := total / 1.0::float8") && strstr(sql, "ct1 := d;"),
					"%s", sql ? sql : err.message);
		free(sql);
		predict_model_free(m);
	}
	snprintf(est, sizeof(est), "{\"type\": \"voting\", \"weights\": null, \"estimators\": [%s, %s]}",
			 FOREST_X, NB);
	if ((m = xy_model("managed: a vote with a naive Bayes loads", est)) != NULL)
	{
		predict_error err = {0};
		char	   *sql = predict_model_to_sql(m, "f", "h", &err);

		unit_report("managed: gaussian_nb refused by name inside a composite",
					sql == NULL && strcmp(err.message, "managed mode does not compile gaussian_nb "
										  "estimators to SQL (use the predict extension)") == 0,
					"%s", sql ? "compiled" : err.message);
		free(sql);
		predict_model_free(m);
	}
}

void
ensemble_tests(void)
{
	pairwise_tests();
	modified_huber_tests();
	gaussian_nb_tests();
	voting_tests();
	calibrated_tests();
	limit_tests();
	managed_tests();
}
