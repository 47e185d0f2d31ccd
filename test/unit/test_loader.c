/*
 * test_loader.c - every validation error of the model loader, with its
 * message, and documents that are truncated, empty, deep or oversized.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

typedef struct mutation
{
	const char *name;
	const char *from;
	const char *to;
	const char *want;
} mutation;

/* Each replaces one piece of the base document and names the error. */
static const mutation mutations[] = {
	{"format missing", "\"format\": \"predict-model/1\", ", "",
	"(document): missing field \"format\""},
	{"format version", "predict-model/1", "predict-model/2",
	"format: unsupported format \"predict-model/2\" (this version reads \"predict-model/1\")"},
	{"format type", "\"predict-model/1\"", "1", "format: expected the string \"predict-model/1\", got a number"},
	{"unknown top-level field", "\"threshold\": 0.5", "\"treshold\": 0.5",
	"(document): unknown field \"treshold\""},
	{"duplicate top-level field", "\"threshold\": 0.5", "\"threshold\": 0.5, \"threshold\": 0.6",
	"(document): duplicate field \"threshold\""},
	{"name characters", "\"name\": \"unit\"", "\"name\": \"a b\"",
	"name: may contain only letters, digits, '_', '.' and '-'"},
	{"name empty", "\"name\": \"unit\"", "\"name\": \"\"", "name: expected a non-empty string"},
	{"name too long", "\"name\": \"unit\"",
		"\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
	"name: string of 64 bytes is longer than 63"},
	{"column duplicate", "{\"name\": \"Unused\"", "{\"name\": \"Age\"",
	"columns[4].name: duplicate column \"Age\""},
	{"column type", "{\"name\": \"Pclass\", \"type\": \"number\"}",
		"{\"name\": \"Pclass\", \"type\": \"int\"}", "columns[3].type: unsupported value \"int\""},
	{"column unknown field", "{\"name\": \"Unused\", \"type\": \"number\"}",
		"{\"name\": \"Unused\", \"type\": \"number\", \"nullable\": true}",
	"columns[4]: unknown field \"nullable\""},
	{"column name missing", "{\"name\": \"Unused\", \"type\": \"number\"}",
		"{\"type\": \"number\"}", "columns[4]: missing field \"name\""},
	{"column dtype type", "\"dtype\": \"float64\"", "\"dtype\": 64",
	"columns[1].dtype: expected a string, got a number"},
	{"block unknown column", "{\"column\": \"Sex\"", "{\"column\": \"Sexx\"",
	"preprocessing[0].column: unknown column \"Sexx\" (not in \"columns\")"},
	{"block column type", "{\"column\": \"Sex\"", "{\"column\": 3",
	"preprocessing[0].column: expected a string, got a number"},
	{"step type", "{\"type\": \"indicator\"}", "{\"type\": \"pca\"}",
	"preprocessing[2].steps[0].type: unsupported value \"pca\""},
	{"step not an object", "[{\"type\": \"indicator\"}]", "[\"indicator\"]",
	"preprocessing[2].steps[0]: expected an object, got a string"},
	{"step unknown field", "{\"type\": \"indicator\"}", "{\"type\": \"indicator\", \"features\": 1}",
	"preprocessing[2].steps[0]: unknown field \"features\""},
	{"duplicate category", "[\"female\", \"male\", \"missing\"]", "[\"female\", \"male\", \"male\"]",
	"preprocessing[0].steps[1].categories[2]: duplicate category \"male\""},
	{"duplicate numeric category -0", "[1, 2, 3]", "[0, -0.0, 3]",
	"preprocessing[4].steps[0].categories[1]: duplicate category -0"},
	{"mixed categories", "[\"female\", \"male\", \"missing\"]", "[\"female\", 2, \"missing\"]",
	"preprocessing[0].steps[1].categories[1]: expected a string like the first category, got a number"},
	{"null category not last", "[\"C\", \"Q\", \"S\", null]", "[\"C\", null, \"S\"]",
	"categories[1]: expected a string like the first category, got null (null may only be the last category)"},
	{"categories empty", "[\"C\", \"Q\", \"S\", null]", "[]",
	"preprocessing[3].steps[0].categories: expected at least 1 element, got 0"},
	{"category not finite", "[1, 2, 3]", "[1, 2, 1e999]",
	"preprocessing[4].steps[0].categories[2]: expected a finite number, got an out-of-range number"},
	{"drop out of range", "\"drop\": 0", "\"drop\": 3",
	"preprocessing[4].steps[0].drop: expected null or a category index from 0 to 2"},
	{"drop not integral", "\"drop\": 0", "\"drop\": 0.5",
	"preprocessing[4].steps[0].drop: expected null or a category index from 0 to 2"},
	{"one_hot handle_unknown", "\"handle_unknown\": \"ignore\"", "\"handle_unknown\": \"sometimes\"",
	"preprocessing[0].steps[1].handle_unknown: unsupported value \"sometimes\""},
	{"one_hot infrequent_if_exist without infrequent", "\"handle_unknown\": \"ignore\"",
		"\"handle_unknown\": \"infrequent_if_exist\"",
	"preprocessing[0].steps[1].handle_unknown: \"infrequent_if_exist\" needs \"infrequent\" categories"},
	{"ordinal handle_unknown", "\"handle_unknown\": \"use_encoded_value\"", "\"handle_unknown\": \"ignore\"",
	"preprocessing[3].steps[0].handle_unknown: unsupported value \"ignore\""},
	{"ordinal unknown_value", "\"unknown_value\": -1", "\"unknown_value\": \"x\"",
	"preprocessing[3].steps[0].unknown_value: expected a finite number, got a string"},
	{"ordinal missing field", ", \"encoded_missing_value\": -2", "",
	"preprocessing[3].steps[0]: missing field \"encoded_missing_value\""},
	{"features width", "[\"Sex_female\", \"Sex_male\", \"Sex_missing\"]", "[\"Sex_female\", \"Sex_male\"]",
	"preprocessing[0].features: expected 3 feature names (the block's width), got 2"},
	{"features element", "[\"Age_missing\"]", "[7]",
	"preprocessing[2].features[0]: expected a string, got a number"},
	{"standardize on a string", "{\"type\": \"impute\", \"value\": \"missing\"},",
		"{\"type\": \"standardize\", \"center\": 1, \"scale\": 2},",
	"preprocessing[0].steps[0]: standardize needs a numeric value; a string column must pass through one_hot, ordinal or indicator first"},
	{"block ends with a string",
		"[{\"type\": \"ordinal\", \"categories\": [\"C\", \"Q\", \"S\", null],\n"
		"      \"handle_unknown\": \"use_encoded_value\", \"unknown_value\": -1, \"encoded_missing_value\": -2}]",
		"[]", "preprocessing[3]: the block ends with a string value; a string column needs a one_hot or ordinal step before the estimator"},
	{"scale zero", "\"scale\": 10.0", "\"scale\": 0", "preprocessing[1].steps[1].scale: must not be 0"},
	{"center not a number", "\"center\": 30.0", "\"center\": \"30\"",
	"preprocessing[1].steps[1].center: expected a finite number, got a string"},
	{"impute number column with a string", "{\"type\": \"impute\", \"value\": 30.0}",
		"{\"type\": \"impute\", \"value\": \"thirty\"}",
	"preprocessing[1].steps[0].value: a numeric column cannot be imputed with a string"},
	{"impute missing value", "{\"type\": \"impute\", \"value\": 30.0}", "{\"type\": \"impute\"}",
	"preprocessing[1].steps[0]: missing field \"value\""},
	{"expanded array length", "\"scale\": [0.5, 2]", "\"scale\": [0.5]",
	"preprocessing[4].steps[1].scale: expected 2 numbers (one per one-hot feature), got 1"},
	{"expanded scalar instead of array", "\"min\": [0.25, -1]", "\"min\": 0.25",
	"preprocessing[4].steps[1].min: expected an array of 2 numbers (one per one-hot feature), got a number"},
	{"impute after one_hot", "{\"type\": \"min_max\", \"scale\": [0.5, 2], \"min\": [0.25, -1], \"clip\": null}",
		"{\"type\": \"impute\", \"value\": 0}",
	"preprocessing[4].steps[1]: \"impute\" cannot follow a one_hot step"},
	{"clip reversed", "\"clip\": null", "\"clip\": [1, 0]", "preprocessing[4].steps[1].clip: lo must not be greater than hi"},
	{"clip shape", "\"clip\": null", "\"clip\": [1]", "preprocessing[4].steps[1].clip: expected null or an array [lo, hi]"},
	{"expanded overflow", "\"scale\": [0.5, 2], \"min\": [0.25, -1]", "\"scale\": [0.5, 1e308], \"min\": [0.25, 1e308]",
	"preprocessing[4].steps[1]: produces a non-finite value for one-hot feature 1"},
	{"estimator type", "\"type\": \"logistic_regression\"", "\"type\": \"svc\"",
	"estimator.type: unsupported estimator \"svc\""},
	{"coef length", "[1.5, -1.25, 0.5, -0.75, 2.0, 0.3, -0.4, 0.6]", "[1.5, -1.25, 0.5, -0.75, 2.0, 0.3, -0.4]",
	"estimator.coef: expected 8 numbers (the total width of the blocks), got 7"},
	{"coef not finite", "[1.5, -1.25,", "[1.5, 1e400,",
	"estimator.coef[1]: expected a finite number, got an out-of-range number"},
	{"coef string", "[1.5, -1.25,", "[\"1.5\", -1.25,",
	"estimator.coef[0]: expected a finite number, got a string"},
	{"coef element null", "[1.5, -1.25,", "[1.5, null,",
	"estimator.coef[1]: expected a finite number, got null"},
	{"intercept missing", "\"intercept\": 0.125, ", "", "estimator: missing field \"intercept\""},
	{"link", "\"link\": \"logistic\"", "\"link\": \"probit\"", "estimator.link: unsupported value \"probit\""},
	{"positive_class type", "\"positive_class\": 1", "\"positive_class\": [1]",
	"positive_class: expected a number, string or boolean, got an array"},
	{"threshold range", "\"threshold\": 0.5", "\"threshold\": 1.5", "threshold: expected a number between 0 and 1"},
	{"threshold type", "\"threshold\": 0.5", "\"threshold\": \"0.5\"", "threshold: expected a number between 0 and 1"},
	{"provenance missing", ",\n \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-11-26T00:00:00Z\",\n   \"training_rows\": 891, \"git\": \"abc\"}", "",
	"(document): missing field \"provenance\""},
	{"provenance field missing", "\"sklearn_version\": \"1.2.1\", ", "",
	"provenance: missing field \"sklearn_version\""},
	{"provenance training_rows", "\"training_rows\": 891", "\"training_rows\": -1",
	"provenance.training_rows: expected null or a non-negative integer"},
	{"provenance exporter type", "\"git\": \"abc\"", "\"exporter\": 1",
	"provenance.exporter: expected a string, got a number"},
	{"invalid UTF-8", "\"git\": \"abc\"", "\"git\": \"\xff\"", "(document): invalid UTF-8 at byte"},
	{"overlong UTF-8", "\"git\": \"abc\"", "\"git\": \"\xc0\xaf\"", "(document): invalid UTF-8 at byte"},
	{"UTF-16 surrogate in UTF-8", "\"git\": \"abc\"", "\"git\": \"\xed\xa0\x80\"", "(document): invalid UTF-8 at byte"},
	{"escaped NUL", "\"git\": \"abc\"", "\"git\": \"a\\u0000b\"", "(document): \\u0000 is not allowed in strings at byte"},
	{"control character", "\"git\": \"abc\"", "\"git\": \"a\tb\"", "(document): control character in a string at byte"},
	{"lone surrogate escape", "\"git\": \"abc\"", "\"git\": \"\\ud800\"", "(document): not valid JSON"},
	{"trailing text", "\"git\": \"abc\"}}", "\"git\": \"abc\"}} x", "(document): unexpected text after the JSON value"},
};

static void
mutation_tests(void)
{
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++)
	{
		char	   *text = unit_replace(base_model, mutations[i].from, mutations[i].to);

		expect_load_error(mutations[i].name, text, NULL, mutations[i].want);
		free(text);
	}
}

/* A string of n copies of piece, then tail. */
static char *
repeat(const char *piece, size_t n, const char *tail)
{
	size_t		len = strlen(piece);
	char	   *out = malloc(len * n + strlen(tail) + 1);

	if (out == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * len, piece, len);
	strcpy(out + len * n, tail);
	return out;
}

static void
shape_tests(void)
{
	predict_limits limits = predict_default_limits();
	predict_error err = {0};
	size_t		len = strlen(base_model);
	char	   *text;

	expect_load_error("empty document", "", NULL, "(document): empty");
	{
		predict_model *model = predict_model_load(NULL, 0, NULL, NULL, &err);

		unit_report("NULL document", model == NULL && strstr(err.message, "empty") != NULL,
					"got '%s'", err.message);
	}
	expect_load_error("whitespace only", "  \n ", NULL, "(document): not valid JSON");
	expect_load_error("not an object", "[1, 2]", NULL, "(document): expected an object, got an array");
	expect_load_error("a bare string", "\"predict-model/1\"", NULL, "(document): expected an object, got a string");
	{
		static const char nul[] = "{\"format\": \"predict-model/1\"}\0 ";
		predict_model *model = predict_model_load(nul, sizeof(nul) - 1, NULL, NULL, &err);

		unit_report("NUL byte after the document", model == NULL &&
					strstr(err.message, "(document): NUL byte at byte 29") != NULL, "got '%s'", err.message);
	}
	expect_load_error("columns empty", "{\"format\": \"predict-model/1\", \"name\": \"x\", \"columns\": []}",
					  NULL, "columns: expected at least 1 element, got 0");
	expect_load_error("columns not an array", "{\"format\": \"predict-model/1\", \"name\": \"x\", \"columns\": {\"a\": 1}}",
					  NULL, "columns: expected an array, got an object");
	expect_load_error("preprocessing empty",
					  "{\"format\": \"predict-model/1\", \"name\": \"x\", \"columns\": [{\"name\": \"a\", \"type\": \"number\"}], "
					  "\"preprocessing\": []}", NULL, "preprocessing: expected at least 1 element, got 0");
	expect_load_error("estimator not an object",
					  "{\"format\": \"predict-model/1\", \"name\": \"x\", \"columns\": [{\"name\": \"a\", \"type\": \"number\"}], "
					  "\"preprocessing\": [{\"column\": \"a\", \"steps\": [], \"features\": [\"a\"]}], \"estimator\": []}",
					  NULL, "estimator: expected an object, got an array");

	/* every truncation of the base document is refused, none crashes */
	{
		int			refused = 0;

		for (size_t cut = 0; cut < len - 2; cut++)
		{
			predict_model *model = predict_model_load(base_model, cut, NULL, NULL, &err);

			if (model == NULL && err.status == PREDICT_BAD_MODEL)
				refused++;
			predict_model_free(model);
		}
		unit_report("every truncation refused", refused == (int) (len - 2),
					"%d of %zu truncations refused", refused, len - 2);
	}
	{
		predict_model *model = predict_model_load(base_model, len, NULL, NULL, &err);

		unit_report("the base document loads", model != NULL, "refused: %s", err.message);
		if (model != NULL)
		{
			unit_report("base document features", predict_model_nfeatures(model) == 8,
						"nfeatures = %zu", predict_model_nfeatures(model));
			unit_report("column lookup", predict_model_find_column(model, "Pclass", 6) == 3 &&
						predict_model_find_column(model, "pclass", 6) == -1 &&
						predict_model_find_column(model, "Pclas", 5) == -1,
						"lookup mismatch");
			unit_report("name and threshold", strcmp(predict_model_name(model), "unit") == 0 &&
						predict_model_threshold(model) == 0.5, "got %s %g",
						predict_model_name(model), predict_model_threshold(model));
		}
		predict_model_free(model);
	}

	/* 10,000 levels of nesting: refused by cJSON's limit, no stack overflow */
	text = repeat("[", 10000, "");
	expect_load_error("10,000 nested arrays", text, NULL, "nested deeper than 1000 levels");
	free(text);
	text = repeat("{\"a\":", 10000, "1");
	expect_load_error("10,000 nested objects", text, NULL, "nested deeper than 1000 levels");
	free(text);
	text = unit_replace(base_model, "\"git\": \"abc\"", "\"git\": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]");
	{
		predict_model *model = expect_load("nesting inside provenance is kept", text);

		predict_model_free(model);
	}
	free(text);

	/* the size limit is configurable and checked before parsing */
	limits.max_model_bytes = 100;
	expect_load_error("document over max_model_bytes", base_model, &limits,
					  "exceeds the limit max_model_bytes = 100");
	{
		predict_model *model = predict_model_load(base_model, len, &limits, NULL, &err);

		unit_report("over the limit is PREDICT_TOO_LARGE", model == NULL && err.status == PREDICT_TOO_LARGE,
					"status %d", (int) err.status);
	}
	limits = predict_default_limits();
	limits.max_columns = 4;
	expect_load_error("max_columns", base_model, &limits,
					  "columns: 5 elements exceeds the limit max_columns = 4");
	limits = predict_default_limits();
	limits.max_features = 7;
	expect_load_error("max_features", base_model, &limits,
					  "preprocessing[4]: 8 features exceeds the limit max_features = 7");
	limits = predict_default_limits();
	limits.max_categories = 3;
	expect_load_error("max_categories", base_model, &limits,
					  "preprocessing[3].steps[0].categories: 4 elements exceeds the limit max_categories = 3");
	limits = predict_default_limits();
	limits.max_blocks = 4;
	expect_load_error("max_blocks", base_model, &limits,
					  "preprocessing: 5 elements exceeds the limit max_blocks = 4");
	limits = predict_default_limits();
	limits.max_string_bytes = 5;
	expect_load_error("max_string_bytes", base_model, &limits,
					  "columns[2].name: string of 8 bytes is longer than 5");

	/* a large but valid document: 200,000 one-hot categories */
	{
		size_t		n = 200000;
		size_t		cap = n * 16 + 4096;
		char	   *doc = malloc(cap);
		size_t		at = 0;
		predict_model *model;

		if (doc == NULL)
			abort();
		at += (size_t) snprintf(doc + at, cap - at,
								"{\"format\": \"predict-model/1\", \"name\": \"big\", "
								"\"columns\": [{\"name\": \"c\", \"type\": \"string\"}], "
								"\"preprocessing\": [{\"column\": \"c\", \"steps\": [{\"type\": \"one_hot\", "
								"\"categories\": [");
		for (size_t i = 0; i < n; i++)
			at += (size_t) snprintf(doc + at, cap - at, "%s\"k%zu\"", i ? "," : "", i);
		at += (size_t) snprintf(doc + at, cap - at,
								"], \"drop\": null, \"handle_unknown\": \"ignore\"}], \"features\": [");
		for (size_t i = 0; i < n; i++)
			at += (size_t) snprintf(doc + at, cap - at, "%s\"f\"", i ? "," : "");
		at += (size_t) snprintf(doc + at, cap - at,
								"]}], \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [");
		for (size_t i = 0; i < n; i++)
			at += (size_t) snprintf(doc + at, cap - at, "%s%zu", i ? "," : "", i % 7);
		snprintf(doc + at, cap - at,
				 "], \"intercept\": 0, \"link\": \"logistic\"}, \"positive_class\": true, "
				 "\"provenance\": {\"sklearn_version\": \"x\", \"exported_at\": \"x\", \"training_rows\": null}}");
		model = expect_load("200,000 categories load", doc);
		if (model != NULL)
		{
			predict_value value = {.kind = PREDICT_VALUE_STRING, .string = "k199999", .length = 7};
			double		proba = 0;
			predict_status status = predict_score(model, &value, &proba, &err);
			double		want = 1.0 / (1.0 + exp(-(double) (199999 % 7)));

			unit_report("200,000 categories score the last one", status == PREDICT_OK && proba == want,
						"status %d proba %.17g want %.17g", (int) status, proba, want);
		}
		predict_model_free(model);
		free(doc);
	}
}

/* A custom allocator: every byte allocated is released by predict_model_free. */
typedef struct counting
{
	long		live;
	long		calls;
	long		fail_at;		/* fail the nth allocation (0 = never) */
} counting;

static void *
counting_alloc(size_t size, void *context)
{
	counting   *c = context;

	if (c->fail_at && ++c->calls == c->fail_at)
		return NULL;
	c->live++;
	return malloc(size);
}

static void
counting_release(void *pointer, void *context)
{
	counting   *c = context;

	c->live--;
	free(pointer);
}

static void
allocator_tests(void)
{
	counting	c = {0};
	predict_allocator alloc = {counting_alloc, counting_release, &c};
	predict_error err = {0};
	predict_model *model = predict_model_load(base_model, strlen(base_model), NULL, &alloc, &err);
	int			clean = 0;
	int			attempts = 0;

	unit_report("custom allocator used", model != NULL && c.live > 0, "live %ld", c.live);
	predict_model_free(model);
	unit_report("custom allocator balanced", c.live == 0, "live %ld after free", c.live);

	/* failing each allocation in turn: an out-of-memory error, nothing leaked */
	for (long n = 1; n < 50; n++)
	{
		counting	f = {0, 0, n};
		predict_allocator failing = {counting_alloc, counting_release, &f};

		model = predict_model_load(base_model, strlen(base_model), NULL, &failing, &err);
		if (model != NULL)
		{
			predict_model_free(model);
			break;
		}
		attempts++;
		if (err.status == PREDICT_NO_MEMORY && f.live == 0)
			clean++;
	}
	unit_report("allocation failures are clean", attempts > 0 && clean == attempts,
				"%d of %d failures clean", clean, attempts);
}

/* ---------- the optional reference ---------- */

/* The base document with a reference of every kind of column. */
static const char reference_tail[] =
"\"training_rows\": 891, \"git\": \"abc\"},\n"
" \"reference\": {\"rows\": 891,\n"
"   \"proba\": {\"edges\": [0.25, 0.5, 0.75], \"fractions\": [0.5, 0.25, 0.125, 0.125]},\n"
"   \"columns\": [\n"
"     {\"column\": \"Sex\", \"missing\": 0, \"categories\": [\"male\", \"female\"], \"fractions\": [0.625, 0.375], \"other\": 0},\n"
"     {\"column\": \"Age\", \"missing\": 0.25, \"edges\": [20, 30, 40], \"fractions\": [0.125, 0.25, 0.25, 0.125]},\n"
"     {\"column\": \"Embarked\", \"missing\": 0.125, \"categories\": [\"S\", \"C\"], \"fractions\": [0.5, 0.25], \"other\": 0.125},\n"
"     {\"column\": \"Pclass\", \"missing\": 0, \"edges\": [], \"fractions\": [1]}]}}\n";

static char *
with_reference(void)
{
	return unit_replace(base_model, "\"training_rows\": 891, \"git\": \"abc\"}}\n", reference_tail);
}

/* Each replaces one piece of the document with a reference. */
static const mutation reference_mutations[] = {
	{"reference unknown field", "{\"rows\": 891,", "{\"rows\": 891, \"bins\": 10,",
	"reference: unknown field \"bins\""},
	{"reference rows missing", "{\"rows\": 891,", "{", "reference: missing field \"rows\""},
	{"reference rows zero", "\"rows\": 891,", "\"rows\": 0,", "reference.rows: expected a positive integer"},
	{"reference rows fractional", "\"rows\": 891,", "\"rows\": 89.5,", "reference.rows: expected a positive integer"},
	{"reference proba missing",
		"\"proba\": {\"edges\": [0.25, 0.5, 0.75], \"fractions\": [0.5, 0.25, 0.125, 0.125]},", "",
	"reference: missing field \"proba\""},
	{"reference proba unknown field", "\"proba\": {\"edges\"", "\"proba\": {\"bins\": 4, \"edges\"",
	"reference.proba: unknown field \"bins\""},
	{"reference proba no edges", "\"edges\": [0.25, 0.5, 0.75], \"fractions\": [0.5, 0.25, 0.125, 0.125]",
		"\"edges\": [], \"fractions\": [1]", "reference.proba.edges: expected at least 1 element, got 0"},
	{"reference proba edge outside [0, 1]", "[0.25, 0.5, 0.75]", "[0.25, 0.5, 1.75]",
	"reference.proba.edges[2]: expected an edge between 0 and 1"},
	{"reference proba edges not increasing", "[0.25, 0.5, 0.75]", "[0.25, 0.5, 0.5]",
	"reference.proba.edges[2]: expected an edge greater than the previous one (edges increase)"},
	{"reference proba edge not a number", "[0.25, 0.5, 0.75]", "[0.25, \"0.5\", 0.75]",
	"reference.proba.edges[1]: expected a finite number, got a string"},
	{"reference proba fractions length", "[0.5, 0.25, 0.125, 0.125]", "[0.5, 0.25, 0.25]",
	"reference.proba.fractions: expected 4 numbers (one per bin: one more than the edges), got 3"},
	{"reference proba fraction negative", "[0.5, 0.25, 0.125, 0.125]", "[0.5, 0.25, -0.125, 0.375]",
	"reference.proba.fractions[2]: expected a number between 0 and 1, got a number outside it"},
	{"reference proba fraction null", "[0.5, 0.25, 0.125, 0.125]", "[0.5, null, 0.125, 0.125]",
	"reference.proba.fractions[1]: expected a number between 0 and 1, got null"},
	{"reference proba fractions total", "[0.5, 0.25, 0.125, 0.125]", "[0.5, 0.25, 0.125, 0.1]",
	"reference.proba: the fractions add up to 0.975, not 1"},
	{"reference column unknown", "{\"column\": \"Sex\", \"missing\"", "{\"column\": \"Sexx\", \"missing\"",
	"reference.columns[0].column: unknown column \"Sexx\" (not in \"columns\")"},
	{"reference column duplicate", "{\"column\": \"Pclass\", \"missing\"", "{\"column\": \"Age\", \"missing\"",
	"reference.columns[3].column: duplicate column \"Age\""},
	{"reference column name type", "{\"column\": \"Sex\", \"missing\"", "{\"column\": 1, \"missing\"",
	"reference.columns[0].column: expected a string, got a number"},
	{"reference column not an object", "{\"column\": \"Pclass\", \"missing\": 0, \"edges\": [], \"fractions\": [1]}",
		"\"Pclass\"", "reference.columns[3]: expected an object, got a string"},
	{"reference column missing rate", "{\"column\": \"Sex\", \"missing\": 0,", "{\"column\": \"Sex\", \"missing\": 1.5,",
	"reference.columns[0].missing: expected a number between 0 and 1, got a number outside it"},
	{"reference column missing rate absent", "{\"column\": \"Sex\", \"missing\": 0,", "{\"column\": \"Sex\",",
	"reference.columns[0]: missing field \"missing\""},
	{"reference number column with categories", "\"missing\": 0, \"edges\": [], \"fractions\": [1]}",
		"\"missing\": 0, \"categories\": [\"1\"], \"fractions\": [1], \"other\": 0}",
	"reference.columns[3]: column \"Pclass\" is a number column: its reference has \"edges\", not \"categories\""},
	{"reference string column with edges", "\"categories\": [\"male\", \"female\"], \"fractions\": [0.625, 0.375], \"other\": 0",
		"\"edges\": [1], \"fractions\": [0.625, 0.375]",
	"reference.columns[0]: column \"Sex\" is a string column: its reference has \"categories\", not \"edges\""},
	{"reference number column unknown field", "\"edges\": [20, 30, 40],", "\"edges\": [20, 30, 40], \"other\": 0,",
	"reference.columns[1]: unknown field \"other\""},
	{"reference number edges missing", "\"edges\": [20, 30, 40], ", "",
	"reference.columns[1]: missing field \"edges\""},
	{"reference number edges decrease", "[20, 30, 40]", "[20, 40, 30]",
	"reference.columns[1].edges[2]: expected an edge greater than the previous one (edges increase)"},
	{"reference number edge infinite", "[20, 30, 40]", "[20, 30, 1e400]",
	"reference.columns[1].edges[2]: expected a finite number, got an out-of-range number"},
	{"reference number fractions length", "[0.125, 0.25, 0.25, 0.125]", "[0.125, 0.25, 0.375]",
	"reference.columns[1].fractions: expected 4 numbers (one per bin: one more than the edges), got 3"},
	{"reference number total", "\"missing\": 0.25, \"edges\"", "\"missing\": 0.2, \"edges\"",
	"reference.columns[1]: the missing rate and the fractions add up to 0.95, not 1"},
	{"reference string categories missing", "\"categories\": [\"S\", \"C\"], ", "",
	"reference.columns[2]: missing field \"categories\""},
	{"reference string duplicate category", "[\"S\", \"C\"]", "[\"S\", \"S\"]",
	"reference.columns[2].categories[1]: duplicate category \"S\""},
	{"reference string category not a string", "[\"S\", \"C\"]", "[\"S\", 3]",
	"reference.columns[2].categories[1]: expected a string, got a number"},
	{"reference string fractions length", "\"fractions\": [0.5, 0.25], \"other\"", "\"fractions\": [0.75], \"other\"",
	"reference.columns[2].fractions: expected 2 numbers (one per category), got 1"},
	{"reference string other missing", ", \"other\": 0.125}", "}",
	"reference.columns[2]: missing field \"other\""},
	{"reference string other range", "\"other\": 0.125}", "\"other\": -0.125}",
	"reference.columns[2].other: expected a number between 0 and 1, got a number outside it"},
	{"reference string total", "\"other\": 0.125}", "\"other\": 0.25}",
	"reference.columns[2]: the missing rate, the fractions and the other rate add up to 1.125, not 1"},
	{"reference duplicate field", "{\"column\": \"Sex\", \"missing\": 0,", "{\"column\": \"Sex\", \"missing\": 0, \"missing\": 0,",
	"reference.columns[0]: duplicate field \"missing\""},
};

static void
reference_tests(void)
{
	char	   *text = with_reference();
	predict_model *with = expect_load("a document with a reference loads", text);
	predict_model *without = predict_model_load(base_model, strlen(base_model), NULL, NULL, NULL);
	static const char *const observations[] = {
		"{\"Sex\": \"male\", \"Age\": 22, \"Embarked\": \"S\", \"Pclass\": 3}",
		"{\"Sex\": \"female\", \"Embarked\": \"C\", \"Pclass\": 1}",
		"{\"Sex\": \"other\", \"Age\": 80, \"Pclass\": 2, \"Unused\": 1}",
	};

	/* scoring ignores the reference: the same probabilities, bit for bit */
	if (with != NULL && without != NULL)
		for (size_t i = 0; i < sizeof(observations) / sizeof(observations[0]); i++)
		{
			predict_value values[16];
			predict_error err = {0};
			double		a = -1;
			double		b = -2;
			predict_status sa = predict_score_json(with, observations[i], strlen(observations[i]),
												   values, &a, &err);
			predict_status sb = predict_score_json(without, observations[i], strlen(observations[i]),
												   values, &b, &err);
			char		name[64];

			snprintf(name, sizeof(name), "reference ignored when scoring, observation %zu", i);
			unit_report(name, sa == PREDICT_OK && sb == PREDICT_OK && a == b,
						"status %d/%d proba %.17g/%.17g", (int) sa, (int) sb, a, b);
		}
	predict_model_free(with);
	predict_model_free(without);

	for (size_t i = 0; i < sizeof(reference_mutations) / sizeof(reference_mutations[0]); i++)
	{
		char	   *mutated = unit_replace(text, reference_mutations[i].from, reference_mutations[i].to);

		expect_load_error(reference_mutations[i].name, mutated, NULL, reference_mutations[i].want);
		free(mutated);
	}

	/* rates that add up to 1 within 0.001 are accepted */
	{
		char	   *a = unit_replace(text, "[0.5, 0.25, 0.125, 0.125]", "[0.5, 0.25, 0.125, 0.1241]");
		predict_model *model = expect_load("reference fractions within 0.001 of 1", a);

		predict_model_free(model);
		free(a);
	}

	/* the columns list: required, an array, possibly empty */
	{
		const char *start = strstr(text, ",\n   \"columns\": [");
		const char *end = strstr(text, "]}}\n");
		size_t		head = (size_t) (start - text);
		char	   *doc = malloc(strlen(text) + 64);
		predict_model *model;

		if (start == NULL || end == NULL || doc == NULL)
			abort();
		memcpy(doc, text, head);
		strcpy(doc + head, "}}\n");
		expect_load_error("reference columns missing", doc, NULL, "reference: missing field \"columns\"");
		strcpy(doc + head, ", \"columns\": {}}}\n");
		expect_load_error("reference columns not an array", doc, NULL,
						  "reference.columns: expected an array, got an object");
		strcpy(doc + head, ", \"columns\": []}}\n");
		model = expect_load("reference with no columns loads", doc);
		predict_model_free(model);
		start = strstr(text, "\"reference\": {");
		head = (size_t) (start - text);
		strcpy(doc + head, "\"reference\": [1]}\n");
		expect_load_error("reference not an object", doc, NULL, "reference: expected an object, got an array");
		strcpy(doc + head, "\"reference\": null}\n");
		expect_load_error("reference null", doc, NULL, "reference: expected an object, got null");
		free(doc);
	}

	/* a reference needs nothing of the estimator: with trees too */
	{
		char	   *forest = unit_with_estimator(forest_estimator);
		char	   *mixed = unit_replace(forest, "\"training_rows\": 891, \"git\": \"abc\"}}\n", reference_tail);
		predict_model *model = expect_load("a tree model with a reference loads", mixed);

		predict_model_free(model);
		free(mixed);
		free(forest);
	}
	free(text);
}

void
loader_tests(void)
{
	mutation_tests();
	shape_tests();
	allocator_tests();
	reference_tests();
}
