/*
 * test_trees.c - the tree estimators: every validation error of their
 * documents with its JSON path, the limits, and the scoring rules of
 * docs/model-format.md ("Trees") on small hand-made trees whose results
 * follow from the rules alone: the float32 comparison of the standard
 * trees, forest averaging, boosting sums, HistGradientBoosting's missing
 * values and category codes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

typedef struct tree_mutation
{
	const char *name;
	const char *estimator;		/* the fixture it mutates */
	const char *from;
	const char *to;
	const char *want;
} tree_mutation;

static const tree_mutation mutations[] = {
	{"tree without value", forest_estimator, ",\n    \"value\": [0.9, 0.7, 0.4, 0.1]}", "}",
	"estimator.trees[0]: missing field \"value\""},
	{"left shorter than feature", forest_estimator, "\"left\": [1, -1, -3]", "\"left\": [1, -1]",
	"estimator.trees[0].left: expected 3 elements (one per split, as in \"feature\"), got 2"},
	{"threshold longer than feature", forest_estimator, "[0.5, -0.5, 0]", "[0.5, -0.5, 0, 1]",
	"estimator.trees[0].threshold: expected 3 elements (one per split, as in \"feature\"), got 4"},
	{"one leaf too few", forest_estimator, "[0.9, 0.7, 0.4, 0.1]", "[0.9, 0.7, 0.4]",
	"estimator.trees[0].value: expected 4 elements (one per leaf: a tree with n splits has n + 1 leaves), got 3"},
	{"feature not an array", forest_estimator, "\"feature\": [5]", "\"feature\": 5",
	"estimator.trees[1].feature: expected an array, got a number"},
	{"feature out of range", forest_estimator, "\"feature\": [1, 3, 7]", "\"feature\": [1, 3, 8]",
	"estimator.trees[0].feature[2]: expected a feature index from 0 to 7, got 8"},
	{"negative feature", forest_estimator, "\"feature\": [1, 3, 7]", "\"feature\": [1, -1, 7]",
	"estimator.trees[0].feature[1]: expected a feature index from 0 to 7, got -1"},
	{"feature not integral", forest_estimator, "\"feature\": [1, 3, 7]", "\"feature\": [1, 3.5, 7]",
	"estimator.trees[0].feature[1]: expected a feature index from 0 to 7, got 3.5"},
	{"feature a string", forest_estimator, "\"feature\": [5]", "\"feature\": [\"Embarked\"]",
	"estimator.trees[1].feature[0]: expected a feature index from 0 to 7, got a string"},
	{"child points back (cycle)", forest_estimator, "\"left\": [1, -1, -3]", "\"left\": [1, 0, -3]",
	"estimator.trees[0].left[1]: split 1 points back to split 0; a child must come after its parent (so that a tree has no cycle)"},
	{"split is its own child", forest_estimator, "\"right\": [2, -2, -4]", "\"right\": [2, 1, -4]",
	"estimator.trees[0].right[1]: split 1 points back to split 1"},
	{"leaf with two parents", forest_estimator, "\"right\": [2, -2, -4]", "\"right\": [2, -1, -4]",
	"estimator.trees[0].right[1]: leaf 0 is already the child of another split"},
	{"split with two parents", forest_estimator, "\"left\": [1, -1, -3]", "\"left\": [2, -1, -3]",
	"estimator.trees[0].right[0]: split 2 is already the child of another split"},
	{"leaf out of range", forest_estimator, "\"right\": [2, -2, -4]", "\"right\": [2, -2, -5]",
	"estimator.trees[0].right[2]: expected a split index or -1 - leaf index from -4 to 2, got -5"},
	{"child beyond the splits", forest_estimator, "\"right\": [2, -2, -4]", "\"right\": [2, -2, 3]",
	"estimator.trees[0].right[2]: expected a split index or -1 - leaf index from -4 to 2, got 3"},
	{"child not an integer", forest_estimator, "\"left\": [-1]", "\"left\": [-1.5]",
	"estimator.trees[1].left[0]: expected a split index or -1 - leaf index from -2 to 0, got -1.5"},
	{"threshold a string", forest_estimator, "[0.5, -0.5, 0]", "[0.5, \"x\", 0]",
	"estimator.trees[0].threshold[1]: expected a finite number, \"inf\" or \"-inf\", got a string"},
	{"threshold Infinity", forest_estimator, "[0.5, -0.5, 0]", "[0.5, \"Infinity\", 0]",
	"estimator.trees[0].threshold[1]: expected a finite number, \"inf\" or \"-inf\", got a string"},
	{"threshold overflows", forest_estimator, "[0.5, -0.5, 0]", "[0.5, 1e400, 0]",
	"estimator.trees[0].threshold[1]: expected a finite number, \"inf\" or \"-inf\", got an out-of-range number"},
	{"threshold null", forest_estimator, "[0.5, -0.5, 0]", "[0.5, null, 0]",
	"estimator.trees[0].threshold[1]: expected a finite number, \"inf\" or \"-inf\", got null"},
	{"class fraction above 1", forest_estimator, "[0.9, 0.7, 0.4, 0.1]", "[0.9, 1.5, 0.4, 0.1]",
	"estimator.trees[0].value[1]: expected a class fraction between 0 and 1, got 1.5"},
	{"class fraction negative", forest_estimator, "[0.625, 0.3]", "[0.625, -0.0001]",
	"estimator.trees[1].value[1]: expected a class fraction between 0 and 1, got -0.0001"},
	{"leaf value overflows", forest_estimator, "[0.9, 0.7, 0.4, 0.1]", "[0.9, 1e400, 0.4, 0.1]",
	"estimator.trees[0].value[1]: expected a finite number, got an out-of-range number"},
	{"leaf value a string", forest_estimator, "[0.5]", "[\"0.5\"]",
	"estimator.trees[2].value[0]: expected a finite number, got a string"},
	{"tree not an object", forest_estimator,
		"{\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2], \"value\": [0.625, 0.3]}", "[5]",
	"estimator.trees[1]: expected an object, got an array"},
	{"unknown tree field", forest_estimator, "\"value\": [0.625, 0.3]}", "\"value\": [0.625, 0.3], \"gain\": [1]}",
	"estimator.trees[1]: unknown field \"gain\""},
	{"unknown forest field", forest_estimator, "\"type\": \"random_forest\", ", "\"type\": \"random_forest\", \"n_jobs\": 1, ",
	"estimator: unknown field \"n_jobs\""},
	{"missing mode", forest_estimator, "\"type\": \"random_forest\", ", "\"type\": \"random_forest\", \"missing\": \"nan\", ",
	"estimator.missing: unsupported value \"nan\""},
	{"learned missing needs missing_left", forest_estimator, "\"type\": \"random_forest\", ",
		"\"type\": \"random_forest\", \"missing\": \"learned\", ",
	"estimator.trees[0]: missing field \"missing_left\""},
	{"missing_left length", forest_estimator, "\"left\": [-1]", "\"missing_left\": [], \"left\": [-1]",
	"estimator.trees[1].missing_left: expected 1 element (one per split, as in \"feature\"), got 0"},
	{"boosting without init", boosting_estimator, "\"init\": -0.25, ", "",
	"estimator: missing field \"init\""},
	{"boosting learning_rate a string", boosting_estimator, "\"learning_rate\": 0.1", "\"learning_rate\": \"0.1\"",
	"estimator.learning_rate: expected a finite number, got a string"},
	{"boosting without trees", boosting_estimator, "\"trees\": [", "\"stages\": [",
	"estimator: unknown field \"stages\""},
	{"boosting leaves may leave [0, 1]", boosting_estimator, "[0.5, -0.5]", "[0.5, 1e400]",
	"estimator.trees[1].value[1]: expected a finite number, got an out-of-range number"},
	{"hist without baseline", hist_estimator, "\"baseline\": 0.125,", "",
	"estimator: missing field \"baseline\""},
	{"hist tree without missing_left", hist_estimator, "\"missing_left\": [1], ", "",
	"estimator.trees[1]: missing field \"missing_left\""},
	{"hist missing_left not a flag", hist_estimator, "\"missing_left\": [1, 0]", "\"missing_left\": [1, 2]",
	"estimator.trees[0].missing_left[1]: expected a 0/1 flag from 0 to 1, got 2"},
	{"hist categories on a numeric feature", hist_estimator, "[[1], \"inf\"]", "[[1], [2]]",
	"estimator.trees[0].threshold[1]: a list of categories, but feature 3 is not in \"categorical\""},
	{"hist number on a categorical feature", hist_estimator, "[[1], \"inf\"]", "[1, \"inf\"]",
	"estimator.trees[0].threshold[0]: feature 5 is categorical: expected the list of category codes that go left, got a number"},
	{"hist category code out of range", hist_estimator, "[[1], \"inf\"]", "[[256], \"inf\"]",
	"estimator.trees[0].threshold[0][0]: expected a category code from 0 to 255, got 256"},
	{"hist duplicate category code", hist_estimator, "[[1], \"inf\"]", "[[1, 1], \"inf\"]",
	"estimator.trees[0].threshold[0][1]: duplicate category code 1"},
	{"hist categorical feature out of range", hist_estimator, "{\"feature\": 5, \"known\"", "{\"feature\": 8, \"known\"",
	"estimator.categorical[0].feature: expected a feature index from 0 to 7, got 8"},
	{"hist categorical feature twice", hist_estimator, "[{\"feature\": 5, \"known\": [0, 1, 2]}]",
		"[{\"feature\": 5, \"known\": [0, 1, 2]}, {\"feature\": 5, \"known\": []}]",
	"estimator.categorical[1].feature: feature 5 is listed twice"},
	{"hist known code negative", hist_estimator, "\"known\": [0, 1, 2]", "\"known\": [0, 1, -2]",
	"estimator.categorical[0].known[2]: expected a category code from 0 to 255, got -2"},
	{"hist known code duplicate", hist_estimator, "\"known\": [0, 1, 2]", "\"known\": [0, 1, 1]",
	"estimator.categorical[0].known[2]: duplicate category code 1"},
	{"hist known not an array", hist_estimator, "\"known\": [0, 1, 2]", "\"known\": 3",
	"estimator.categorical[0].known: expected an array of category codes, got a number"},
	{"hist categorical entry field", hist_estimator, "\"known\": [0, 1, 2]}", "\"known\": [0, 1, 2], \"name\": \"Embarked\"}",
	"estimator.categorical[0]: unknown field \"name\""},
	{"hist no missing field for standard trees", hist_estimator, "\"baseline\": 0.125,", "\"baseline\": 0.125, \"missing\": \"error\",",
	"estimator: unknown field \"missing\""},
	{"hist empty trees", hist_estimator, "\"trees\": [", "\"trees\": [], \"x\": [",
	"estimator: unknown field \"x\""},
};

/* Estimators replaced whole: decision_tree's "tree" and empty lists. */
static const struct
{
	const char *name;
	const char *estimator;
	const char *want;
}			estimators[] = {
	{"decision_tree with trees", "{\"type\": \"decision_tree\", \"trees\": []}",
	"estimator: unknown field \"trees\""},
	{"decision_tree without tree", "{\"type\": \"decision_tree\"}",
	"estimator: missing field \"tree\""},
	{"decision_tree tree not an object", "{\"type\": \"decision_tree\", \"tree\": []}",
	"estimator.tree: expected an object, got an array"},
	{"decision_tree path has no index",
		"{\"type\": \"decision_tree\", \"tree\": {\"feature\": [9], \"threshold\": [1], \"left\": [-1], \"right\": [-2], \"value\": [0, 1]}}",
	"estimator.tree.feature[0]: expected a feature index from 0 to 7, got 9"},
	{"forest without trees", "{\"type\": \"random_forest\", \"trees\": []}",
	"estimator.trees: expected at least 1 element, got 0"},
	{"forest trees not an array", "{\"type\": \"random_forest\", \"trees\": {}}",
	"estimator.trees: expected an array, got an object"},
	{"forest tree a number", "{\"type\": \"random_forest\", \"trees\": [1]}",
	"estimator.trees[0]: expected an object, got a number"},
	{"empty tree has no leaf",
		"{\"type\": \"random_forest\", \"trees\": [{\"feature\": [], \"threshold\": [], \"left\": [], \"right\": [], \"value\": []}]}",
	"estimator.trees[0].value: expected 1 element (one per leaf: a tree with n splits has n + 1 leaves), got 0"},
	{"hist without trees", "{\"type\": \"hist_gradient_boosting\", \"baseline\": 0, \"trees\": []}",
	"estimator.trees: expected at least 1 element, got 0"},
	{"type after a tree estimator name", "{\"type\": \"extra_trees\", \"trees\": []}",
	"estimator.type: unsupported estimator \"extra_trees\""},
};

static void
tree_mutation_tests(void)
{
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++)
	{
		char	   *base = unit_with_estimator(mutations[i].estimator);
		char	   *text = unit_replace(base, mutations[i].from, mutations[i].to);

		expect_load_error(mutations[i].name, text, NULL, mutations[i].want);
		free(text);
		free(base);
	}
	for (size_t i = 0; i < sizeof(estimators) / sizeof(estimators[0]); i++)
	{
		char	   *text = unit_with_estimator(estimators[i].estimator);

		expect_load_error(estimators[i].name, text, NULL, estimators[i].want);
		free(text);
	}
}

/* A model of one string column c one-hot encoded into n categories k0..k{n-1}. */
static char *
chain_model(size_t n)
{
	size_t		cap = n * 64 + 4096;
	char	   *doc = malloc(cap);
	size_t		at = 0;

	if (doc == NULL)
		abort();
	at += (size_t) snprintf(doc + at, cap - at,
							"{\"format\": \"predict-model/1\", \"name\": \"chain\", "
							"\"columns\": [{\"name\": \"c\", \"type\": \"string\"}], "
							"\"preprocessing\": [{\"column\": \"c\", \"steps\": [{\"type\": \"one_hot\", "
							"\"categories\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s\"k%zu\"", i ? "," : "", i);
	at += (size_t) snprintf(doc + at, cap - at,
							"], \"drop\": null, \"handle_unknown\": \"ignore\"}], \"features\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s\"f\"", i ? "," : "");

	/*
	 * split i: feature i <= 0.5 (not hot) goes on to split i + 1 (the last
	 * to leaf n), hot goes to leaf i; leaf i's value is i / (n + 1)
	 */
	at += (size_t) snprintf(doc + at, cap - at,
							"]}], \"estimator\": {\"type\": \"decision_tree\", \"tree\": {\"feature\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s%zu", i ? "," : "", i);
	at += (size_t) snprintf(doc + at, cap - at, "], \"threshold\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s0.5", i ? "," : "");
	at += (size_t) snprintf(doc + at, cap - at, "], \"left\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s%ld", i ? "," : "",
								i + 1 < n ? (long) i + 1 : -1 - (long) n);
	at += (size_t) snprintf(doc + at, cap - at, "], \"right\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s%ld", i ? "," : "", -1 - (long) i);
	at += (size_t) snprintf(doc + at, cap - at, "], \"value\": [");
	for (size_t i = 0; i <= n; i++)
		at += (size_t) snprintf(doc + at, cap - at, "%s%.17g", i ? "," : "", (double) i / (double) (n + 1));
	snprintf(doc + at, cap - at,
			 "]}}, \"positive_class\": 1, "
			 "\"provenance\": {\"sklearn_version\": \"x\", \"exported_at\": \"x\", \"training_rows\": null}}");
	return doc;
}

static void
tree_limit_tests(void)
{
	predict_error err = {0};
	char	   *doc;
	predict_model *model;

	/* max_tree_features: every one of 4,096 one-hot features is a split */
	doc = chain_model(4096);
	model = expect_load("4,096 distinct split features load", doc);
	if (model != NULL)
	{
		predict_value value = {.kind = PREDICT_VALUE_STRING, .string = "k4095", .length = 5};
		double		proba = -1;
		predict_status status = predict_score(model, &value, &proba, &err);

		unit_report("4,096 slots: the last category reaches its leaf",
					status == PREDICT_OK && proba == 4095.0 / 4097.0,
					"status %d proba %.17g: %s", (int) status, proba, err.message);
		value.string = "k0";
		value.length = 2;
		status = predict_score(model, &value, &proba, &err);
		unit_report("4,096 slots: the first category reaches its leaf",
					status == PREDICT_OK && proba == 0.0, "status %d proba %.17g", (int) status, proba);
		value.string = "zz";
		status = predict_score(model, &value, &proba, &err);
		unit_report("4,096 slots: an unknown category goes down the chain",
					status == PREDICT_OK && proba == 4096.0 / 4097.0, "status %d proba %.17g", (int) status, proba);
	}
	predict_model_free(model);
	free(doc);

	doc = chain_model(4097);
	expect_load_error("max_tree_features", doc, NULL,
					  "estimator.tree: 4097 distinct split features exceeds the limit max_tree_features = 4096");
	model = predict_model_load(doc, strlen(doc), NULL, NULL, &err);
	unit_report("max_tree_features is PREDICT_TOO_LARGE", model == NULL && err.status == PREDICT_TOO_LARGE,
				"status %d", (int) err.status);
	predict_model_free(model);
	free(doc);

	/* max_trees: 100,001 single-leaf trees */
	{
		const char *leaf = "{\"feature\":[],\"threshold\":[],\"left\":[],\"right\":[],\"value\":[0.5]},";
		size_t		n = 100001;
		size_t		cap = n * strlen(leaf) + 1;
		char	   *trees = malloc(cap);
		char	   *estimator;

		if (trees == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
			memcpy(trees + i * strlen(leaf), leaf, strlen(leaf));
		trees[n * strlen(leaf) - 1] = '\0';
		estimator = malloc(cap + 64);
		if (estimator == NULL)
			abort();
		snprintf(estimator, cap + 64, "{\"type\": \"random_forest\", \"trees\": [%s]}", trees);
		doc = unit_with_estimator(estimator);
		expect_load_error("max_trees", doc, NULL,
						  "estimator.trees: 100001 elements exceeds the limit max_trees = 100000");
		free(doc);
		/* 100,000 of them load, and average to their common value */
		snprintf(estimator, cap + 64, "{\"type\": \"random_forest\", \"trees\": [%s]}",
				 trees + strlen(leaf));
		doc = unit_with_estimator(estimator);
		model = expect_load("100,000 trees load", doc);
		if (model != NULL)
		{
			predict_value values[5] = {{0}};
			double		proba = -1;

			values[3].kind = PREDICT_VALUE_NUMBER;
			values[3].number = 1;
			unit_report("100,000 single-leaf trees average to the leaf",
						predict_score(model, values, &proba, &err) == PREDICT_OK && proba == 0.5,
						"proba %.17g: %s", proba, err.message);
		}
		predict_model_free(model);
		free(doc);
		free(estimator);
		free(trees);
	}
}

/* An allocator that fails its nth call and counts live blocks. */
typedef struct failing
{
	long		live;
	long		calls;
	long		fail_at;
} failing;

static void *
failing_alloc(size_t size, void *context)
{
	failing    *f = context;

	if (++f->calls == f->fail_at)
		return NULL;
	f->live++;
	return malloc(size);
}

static void
failing_release(void *pointer, void *context)
{
	failing    *f = context;

	f->live--;
	free(pointer);
}

/* Truncations, allocation failures: the tree loader cleans up like the rest. */
static void
tree_robustness_tests(void)
{
	const char *const fixtures[] = {forest_estimator, boosting_estimator, hist_estimator};

	for (size_t k = 0; k < sizeof(fixtures) / sizeof(fixtures[0]); k++)
	{
		char	   *doc = unit_with_estimator(fixtures[k]);
		size_t		len = strlen(doc);
		size_t		refused = 0;
		int			clean = 0;
		int			attempts = 0;
		predict_error err = {0};
		char		name[80];

		for (size_t cut = 0; cut < len - 2; cut++)
		{
			predict_model *model = predict_model_load(doc, cut, NULL, NULL, &err);

			if (model == NULL && err.status == PREDICT_BAD_MODEL)
				refused++;
			predict_model_free(model);
		}
		snprintf(name, sizeof(name), "every truncation of tree fixture %zu refused", k);
		unit_report(name, refused == len - 2, "%zu of %zu", refused, len - 2);

		for (long n = 1; n < 80; n++)
		{
			failing	f = {0, 0, n};
			predict_allocator alloc = {failing_alloc, failing_release, &f};
			predict_model *model = predict_model_load(doc, len, NULL, &alloc, &err);

			if (model != NULL)
			{
				predict_model_free(model);
				break;
			}
			attempts++;
			if (err.status == PREDICT_NO_MEMORY && f.live == 0)
				clean++;
		}
		snprintf(name, sizeof(name), "tree fixture %zu: allocation failures are clean", k);
		unit_report(name, attempts > 0 && clean == attempts, "%d of %d clean", clean, attempts);
		free(doc);
	}
}

void
tree_loader_tests(void)
{
	tree_mutation_tests();
	tree_limit_tests();
	tree_robustness_tests();
}

/* ---------- scoring ---------- */

typedef struct scored
{
	predict_status status;
	double		proba;
	char		message[PREDICT_ERROR_SIZE];
} scored;

static scored
score(const predict_model *model, const char *json)
{
	predict_value values[16];
	predict_error err = {0};
	scored		s = {0};

	s.status = predict_score_json(model, json, strlen(json), values, &s.proba, &err);
	if (s.status != PREDICT_OK)
		snprintf(s.message, sizeof(s.message), "%s", err.message);
	return s;
}

static void
expect_proba(const predict_model *model, const char *name, const char *json, double want)
{
	scored		s = score(model, json);

	if (s.status != PREDICT_OK)
		unit_report(name, false, "error '%s' for %s", s.message, json);
	else
		unit_report(name, s.proba == want, "proba %.17g, want %.17g for %s", s.proba, want, json);
}

static void
expect_error(const predict_model *model, const char *name, const char *json, const char *want)
{
	scored		s = score(model, json);

	if (s.status == PREDICT_OK)
		unit_report(name, false, "scored %.17g, expected an error containing '%s'", s.proba, want);
	else
		unit_report(name, strstr(s.message, want) != NULL,
					"got '%s', expected it to contain '%s'", s.message, want);
}

static double
expit(double d)
{
	return 1.0 / (1.0 + exp(-d));
}

/* A model of number columns x and y read as they are, with this estimator. */
static predict_model *
xy_model(const char *name, const char *estimator)
{
	char		doc[4096];

	snprintf(doc, sizeof(doc),
			 "{\"format\": \"predict-model/1\", \"name\": \"xy\", "
			 "\"columns\": [{\"name\": \"x\", \"type\": \"number\"}, {\"name\": \"y\", \"type\": \"number\"}],"
			 " \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]},"
			 " {\"column\": \"y\", \"steps\": [], \"features\": [\"y\"]}],"
			 " \"estimator\": %s, \"positive_class\": 1,"
			 " \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": null}}",
			 estimator);
	return expect_load(name, doc);
}

static void
forest_tests(void)
{
	char	   *doc = unit_with_estimator(forest_estimator);
	predict_model *m = expect_load("forest fixture", doc);

	free(doc);
	if (m == NULL)
		return;

	/* tree 0: male -> Pclass_3 (2x - 1) <= 0; tree 1: Embarked code <= 1.5; tree 2: 0.5 */
	expect_proba(m, "forest: male, 3rd class, S",
				 "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}",
				 ((0.0 + 0.1) + 0.3 + 0.5) / 3.0);
	expect_proba(m, "forest: male, 2nd class, Q",
				 "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"Q\", \"Pclass\": 2}",
				 ((0.0 + 0.4) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "forest: female, 20, C",
				 "{\"Sex\": \"female\", \"Age\": 20, \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.9) + 0.625 + 0.5) / 3.0);

	/*
	 * Age is standardized, (age - 30) / 10, then cast to float32 and compared
	 * with -0.5. 25.000000000000004 gives -0.49999999999999961 in float64,
	 * above the threshold, but -0.5 in float32: it goes left, as in
	 * scikit-learn; 25.00001 stays above in float32 and goes right.
	 */
	expect_proba(m, "float32: exactly at the threshold goes left",
				 "{\"Sex\": \"female\", \"Age\": 25, \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.9) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "float32: above in float64, at the threshold in float32, goes left",
				 "{\"Sex\": \"female\", \"Age\": 25.000000000000004, \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.9) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "float32: above in float32 goes right",
				 "{\"Sex\": \"female\", \"Age\": 25.00001, \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.7) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "forest: a missing Age is imputed before the trees",
				 "{\"Sex\": \"female\", \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.7) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "forest: an unknown ordinal category (-1) reaches the trees",
				 "{\"Sex\": \"female\", \"Age\": 20, \"Embarked\": \"X\", \"Pclass\": 1}",
				 ((0.0 + 0.9) + 0.625 + 0.5) / 3.0);
	expect_proba(m, "float32: a standardized Age near FLT_MAX is accepted",
				 "{\"Sex\": \"female\", \"Age\": 3.4e39, \"Embarked\": \"C\", \"Pclass\": 1}",
				 ((0.0 + 0.7) + 0.625 + 0.5) / 3.0);
	expect_error(m, "float32: a standardized Age beyond FLT_MAX is refused",
				 "{\"Sex\": \"female\", \"Age\": 3.5e39, \"Embarked\": \"C\", \"Pclass\": 1}",
				 "column \"Age\": value is too large for float32 (the trees compare float32 values)");
	expect_error(m, "forest: still an unknown category with handle_unknown error",
				 "{\"Sex\": \"female\", \"Age\": 20, \"Embarked\": \"C\", \"Pclass\": 4}",
				 "column \"Pclass\": unknown category 4");
	predict_model_free(m);
}

static void
standard_tree_rule_tests(void)
{
	predict_model *m;
	const char *tree = "{\"feature\": [0], \"threshold\": [0.1], %s\"left\": [-1], \"right\": [-2], \"value\": [0.25, 0.75]}";
	char		estimator[512];
	char		with_flag[512];

	snprintf(estimator, sizeof(estimator), "{\"type\": \"decision_tree\", \"tree\": %s}", tree);
	snprintf(with_flag, sizeof(with_flag), estimator, "");
	m = xy_model("decision tree on x", with_flag);
	if (m != NULL)
	{
		/* 0.1 is 0.100000001490116... in float32, above the float64 0.1 */
		expect_proba(m, "float32: 0.1 rounds above the threshold 0.1 and goes right", "{\"x\": 0.1, \"y\": 0}", 0.75);
		expect_proba(m, "float32: the float32 below 0.1 goes left", "{\"x\": 0.099999994039535522, \"y\": 0}", 0.25);
		expect_proba(m, "float32: a float64 that rounds down to it goes left", "{\"x\": 0.0999999977, \"y\": 0}", 0.25);
		expect_proba(m, "float32: a float64 that rounds up to 0.1f goes right", "{\"x\": 0.0999999985, \"y\": 0}", 0.75);
		expect_proba(m, "float32: FLT_MAX is a float32", "{\"x\": 3.4028234663852886e38, \"y\": 0}", 0.75);
		expect_proba(m, "float32: underflow to -0 goes left", "{\"x\": -1e-300, \"y\": 0}", 0.25);
		expect_error(m, "float32: half an ulp above FLT_MAX rounds to infinity", "{\"x\": 3.4028235677973366e38, \"y\": 0}",
					 "column \"x\": value is too large for float32");
		expect_error(m, "infinity reaching a standard tree", "{\"x\": \"inf\", \"y\": 0}",
					 "column \"x\": value is infinite");
		expect_error(m, "NaN reaching a standard tree (scikit-learn 1.2)", "{\"y\": 0}",
					 "column \"x\": missing value reaches the estimator");
		/* check_array checks every feature, the ones no tree reads too */
		expect_error(m, "an unread feature is checked for NaN", "{\"x\": 0}",
					 "column \"y\": missing value reaches the estimator");
		expect_error(m, "an unread feature is checked for float32 overflow", "{\"x\": 0, \"y\": -1e39}",
					 "column \"y\": value is too large for float32");
	}
	predict_model_free(m);

	{
		char		learned[600];

		snprintf(learned, sizeof(learned),
				 "{\"type\": \"decision_tree\", \"missing\": \"learned\", \"tree\": %s}", tree);
		snprintf(with_flag, sizeof(with_flag), learned, "\"missing_left\": [1], ");
		m = xy_model("learned missing values, left", with_flag);
		if (m != NULL)
		{
			expect_proba(m, "missing learned: NaN goes left", "{\"y\": 0}", 0.25);
			expect_proba(m, "missing learned: numbers still compare", "{\"x\": 0.5, \"y\": 0}", 0.75);
			expect_proba(m, "missing learned: an unread NaN is fine", "{\"x\": 0.5}", 0.75);
			expect_error(m, "missing learned: infinity is still refused", "{\"x\": \"-inf\", \"y\": 0}",
						 "column \"x\": value is infinite");
		}
		predict_model_free(m);
		snprintf(with_flag, sizeof(with_flag), learned, "\"missing_left\": [0], ");
		m = xy_model("learned missing values, right", with_flag);
		if (m != NULL)
			expect_proba(m, "missing learned: NaN goes right", "{\"y\": 0}", 0.75);
		predict_model_free(m);
	}

	/* a one-hot feature whose scaled value overflows float32 when hot */
	{
		char		doc[2048];
		const char *fmt =
			"{\"format\": \"predict-model/1\", \"name\": \"o\", \"columns\": [{\"name\": \"c\", \"type\": \"string\"}],"
			" \"preprocessing\": [{\"column\": \"c\", \"steps\": [{\"type\": \"one_hot\", \"categories\": [\"a\", \"b\"],"
			" \"drop\": null, \"handle_unknown\": \"ignore\"}, %s], \"features\": [\"c_a\", \"c_b\"]}],"
			" \"estimator\": {\"type\": \"decision_tree\", \"tree\": {\"feature\": [1], \"threshold\": [0.5],"
			" \"left\": [-1], \"right\": [-2], \"value\": [0.25, 0.75]}},"
			" \"positive_class\": 1, \"provenance\": {\"sklearn_version\": \"x\", \"exported_at\": \"x\", \"training_rows\": null}}";

		snprintf(doc, sizeof(doc), fmt, "{\"type\": \"multiply\", \"factor\": [1e39, 1]}");
		m = expect_load("one-hot scaled beyond float32 when hot", doc);
		if (m != NULL)
		{
			expect_proba(m, "one-hot: the other category", "{\"c\": \"b\"}", 0.75);
			expect_proba(m, "one-hot: no category", "{\"c\": \"z\"}", 0.25);
			expect_error(m, "one-hot: the hot feature overflows float32", "{\"c\": \"a\"}",
						 "column \"c\": value is too large for float32");
		}
		predict_model_free(m);
		/* c_a is 1e39 when not hot and 0 when hot: only "a" scores */
		snprintf(doc, sizeof(doc), fmt,
				 "{\"type\": \"min_max\", \"scale\": [-1e39, 1], \"min\": [1e39, 0], \"clip\": null}");
		m = expect_load("one-hot beyond float32 when not hot", doc);
		if (m != NULL)
		{
			expect_proba(m, "one-hot: the overflowing off value is hot", "{\"c\": \"a\"}", 0.25);
			expect_error(m, "one-hot: an off value overflows float32", "{\"c\": \"b\"}",
						 "column \"c\": value is too large for float32");
			expect_error(m, "one-hot: every off value, no category", "{\"c\": \"z\"}",
						 "column \"c\": value is too large for float32");
		}
		predict_model_free(m);
	}
}

static void
boosting_tests(void)
{
	char	   *doc = unit_with_estimator(boosting_estimator);
	predict_model *m = expect_load("boosting fixture", doc);
	double		d;

	free(doc);
	if (m == NULL)
		return;
	/* init, then learning_rate * value per stage, then expit */
	d = -0.25;
	d += 0.1 * -2.0;
	d += 0.1 * -0.5;
	expect_proba(m, "boosting: male, 3rd class, S",
				 "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}", expit(d));
	d = -0.25;
	d += 0.1 * 2.5;
	d += 0.1 * 0.5;
	expect_proba(m, "boosting: female, 20, C",
				 "{\"Sex\": \"female\", \"Age\": 20, \"Embarked\": \"C\", \"Pclass\": 1}", expit(d));
	d = -0.25;
	d += 0.1 * 1.25;
	d += 0.1 * 0.5;
	expect_proba(m, "boosting: female, 25.00001 (float32 above), C",
				 "{\"Sex\": \"female\", \"Age\": 25.00001, \"Embarked\": \"C\", \"Pclass\": 1}", expit(d));
	predict_model_free(m);
}

static void
hist_tests(void)
{
	char	   *doc = unit_with_estimator(hist_estimator);
	predict_model *m = expect_load("hist fixture", doc);
	const char *fmt = "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": %s, \"Pclass\": 3}";
	char		obs[256];

	free(doc);
	if (m != NULL)
	{
		/* tree 0: Embarked code 1 (Q) left, 0 and 2 right, the rest missing (left) */
		snprintf(obs, sizeof(obs), fmt, "\"Q\"");
		expect_proba(m, "hist: category in the left set", obs, expit(0.0 + 0.125 + 0.5 + -0.125));
		snprintf(obs, sizeof(obs), fmt, "\"S\"");
		expect_proba(m, "hist: known category not in the set", obs, expit(0.0 + 0.125 + -0.25 + -0.125));
		snprintf(obs, sizeof(obs), fmt, "null");
		expect_proba(m, "hist: encoded missing value -2 is negative: missing", obs, expit(0.0 + 0.125 + 0.5 + -0.125));
		snprintf(obs, sizeof(obs), fmt, "\"X\"");
		expect_proba(m, "hist: unknown_value -1 is negative: missing", obs, expit(0.0 + 0.125 + 0.5 + -0.125));
		expect_proba(m, "hist: float64 comparison, no float32 cast",
					 "{\"Sex\": \"male\", \"Age\": 25.000000000000004, \"Embarked\": \"C\", \"Pclass\": 3}",
					 expit(0.0 + 0.125 + -0.25 + -0.125));
		expect_proba(m, "hist: at the float64 threshold goes left",
					 "{\"Sex\": \"male\", \"Age\": 25, \"Embarked\": \"C\", \"Pclass\": 3}",
					 expit(0.0 + 0.125 + -0.25 + 0.0625));
	}
	predict_model_free(m);

	m = xy_model("hist on raw x and a categorical y",
				 "{\"type\": \"hist_gradient_boosting\", \"baseline\": 0.125,"
				 " \"categorical\": [{\"feature\": 1, \"known\": [0, 1, 2, 3]}], \"trees\": ["
				 " {\"feature\": [1, 0], \"threshold\": [[1, 3], \"inf\"], \"missing_left\": [1, 0],"
				 " \"left\": [-1, -2], \"right\": [1, -3], \"value\": [0.5, -0.25, 2.0]}]}");
	if (m != NULL)
	{
		/* category codes of y: (left) 0.5, (right) then x: -0.25 when x <= inf, 2.0 when NaN */
		static const struct
		{
			const char *y;
			double		value;
			const char *why;
		}			codes[] = {
			{"1", 0.5, "in the left set"},
			{"3", 0.5, "in the left set"},
			{"0", -0.25, "known, not in the set"},
			{"2", -0.25, "known, not in the set"},
			{"7", 0.5, "unknown: missing way"},
			{"-1", 0.5, "negative: missing way"},
			{"-0.5", 0.5, "negative: missing way"},
			{"-0.0", -0.25, "-0.0 is not negative: code 0"},
			{"0.99", -0.25, "truncated to 0"},
			{"1.9", 0.5, "truncated to 1"},
			{"2.5", -0.25, "truncated to 2"},
			{"256", -0.25, "low byte 0"},
			{"257.5", 0.5, "low byte 1"},
			{"2147483647", 0.5, "low byte 255: unknown"},
			{"2147483648", -0.25, "2^31 and above read as 0"},
			{"1e300", -0.25, "2^31 and above read as 0"},
			{"\"inf\"", -0.25, "+inf reads as 0"},
			{"\"-inf\"", 0.5, "-inf is negative"},
			{"null", 0.5, "NaN: missing way"},
		};

		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		{
			char		name[128];

			snprintf(obs, sizeof(obs), "{\"x\": 5, \"y\": %s}", codes[i].y);
			snprintf(name, sizeof(name), "hist category code of %s: %s", codes[i].y, codes[i].why);
			expect_proba(m, name, obs, expit(0.0 + 0.125 + codes[i].value));
		}
		expect_proba(m, "hist: +inf <= inf goes left", "{\"x\": \"inf\", \"y\": 0}", expit(0.0 + 0.125 + -0.25));
		expect_proba(m, "hist: 1e400 is +inf, accepted", "{\"x\": 1e400, \"y\": 0}", expit(0.0 + 0.125 + -0.25));
		expect_proba(m, "hist: NaN goes the missing way (right)", "{\"y\": 0}", expit(0.0 + 0.125 + 2.0));
		expect_proba(m, "hist: 1e300 is fine (float64)", "{\"x\": 1e300, \"y\": 0}", expit(0.0 + 0.125 + -0.25));
	}
	predict_model_free(m);
}

/*
 * scikit-learn >= 1.3's standard trees route NaN per split
 * (tree_.missing_go_to_left): "missing": "learned" with missing_left. The
 * root sends a missing x right, split 1 a missing y left and split 2 a
 * missing y right, so every path of NaN shows where each node sent it.
 */
#define ROUTED_TREE(values) \
	"{\"feature\": [0, 1, 1], \"threshold\": [0.5, 0.5, 0.5], \"missing_left\": [0, 1, 0]," \
	" \"left\": [1, -1, -3], \"right\": [2, -2, -4], \"value\": " values "}"

static void
missing_per_node_tests(void)
{
	static const struct
	{
		const char *obs;
		int			leaf;
		const char *name;
	}			rows[] = {
		{"{}", 3, "both missing: root right, split 2 right"},
		{"{\"x\": 0}", 0, "y missing at split 1: left"},
		{"{\"y\": 0}", 2, "x missing at the root: right, then y <= 0.5"},
		{"{\"y\": 1}", 3, "x missing at the root: right, then y > 0.5"},
		{"{\"x\": 0, \"y\": 1}", 1, "no missing value: the thresholds decide"},
		{"{\"x\": 1}", 3, "y missing at split 2: right"},
	};
	static const double fractions[] = {0.1, 0.2, 0.3, 0.4};
	static const double raw[] = {-2, -1, 1, 2};
	predict_model *tree = xy_model("per-node missing: decision_tree",
								   "{\"type\": \"decision_tree\", \"missing\": \"learned\", \"tree\": "
								   ROUTED_TREE("[0.1, 0.2, 0.3, 0.4]") "}");
	predict_model *forest = xy_model("per-node missing: random_forest",
									 "{\"type\": \"random_forest\", \"missing\": \"learned\", \"trees\": ["
									 ROUTED_TREE("[0.1, 0.2, 0.3, 0.4]") ", "
									 "{\"feature\": [1], \"threshold\": [0.5], \"missing_left\": [1],"
									 " \"left\": [-1], \"right\": [-2], \"value\": [1, 0]}]}");
	predict_model *boosting = xy_model("per-node missing: gradient_boosting",
									   "{\"type\": \"gradient_boosting\", \"init\": 0.5, \"learning_rate\": 0.1,"
									   " \"missing\": \"learned\", \"trees\": [" ROUTED_TREE("[-2, -1, 1, 2]") "]}");

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
	{
		char		name[160];
		bool		y_left = strstr(rows[i].obs, "\"y\": 0") != NULL ||
			strstr(rows[i].obs, "\"y\"") == NULL;

		snprintf(name, sizeof(name), "per-node missing, tree: %s", rows[i].name);
		if (tree != NULL)
			expect_proba(tree, name, rows[i].obs, fractions[rows[i].leaf]);
		/* the forest's second tree sends a missing y left (1), y > 0.5 right (0) */
		snprintf(name, sizeof(name), "per-node missing, forest: %s", rows[i].name);
		if (forest != NULL)
			expect_proba(forest, name, rows[i].obs,
						 (0.0 + fractions[rows[i].leaf] + (y_left ? 1.0 : 0.0)) / 2.0);
		snprintf(name, sizeof(name), "per-node missing, boosting: %s", rows[i].name);
		if (boosting != NULL)
			expect_proba(boosting, name, rows[i].obs, expit(0.5 + 0.1 * raw[rows[i].leaf]));
	}
	predict_model_free(tree);
	predict_model_free(forest);
	predict_model_free(boosting);
	expect_load_error("learned missing values need every split's missing_left",
					  "{\"format\": \"predict-model/1\", \"name\": \"xy\", "
					  "\"columns\": [{\"name\": \"x\", \"type\": \"number\"}],"
					  " \"preprocessing\": [{\"column\": \"x\", \"steps\": [], \"features\": [\"x\"]}],"
					  " \"estimator\": {\"type\": \"decision_tree\", \"missing\": \"learned\", \"tree\":"
					  " {\"feature\": [0], \"threshold\": [0], \"left\": [-1], \"right\": [-2], \"value\": [0, 1]}},"
					  " \"positive_class\": 1, \"provenance\": {\"sklearn_version\": \"1.3.0\","
					  " \"exported_at\": \"x\", \"training_rows\": null}}",
					  NULL, "estimator.tree: missing field \"missing_left\"");
}

void
tree_score_tests(void)
{
	forest_tests();
	standard_tree_rule_tests();
	missing_per_node_tests();
	boosting_tests();
	hist_tests();
}
