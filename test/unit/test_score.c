/*
 * test_score.c - scoring rules of docs/model-format.md on small models:
 * how values are read, each step's arithmetic, unknown categories and every
 * observation error with its message. (Parity with scikit-learn itself is
 * tested in test/parity/.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static const double coef[8] = {1.5, -1.25, 0.5, -0.75, 2.0, 0.3, -0.4, 0.6};

/*
 * The base model's probability, summed in the scorer's order. sex: 0..2 or
 * -1 for no hot feature; pclass: 1..3.
 */
static double
base_proba(int sex, double age, bool age_missing, double embarked, int pclass)
{
	double		d = 0.0;

	if (sex >= 0)
		d += coef[sex] * 1.0;
	d += coef[3] * ((age - 30.0) / 10.0);
	d += coef[4] * (age_missing ? 1.0 : 0.0);
	d += coef[5] * embarked;
	d += coef[6] * (pclass == 2 ? 0.5 * 1.0 + 0.25 : 0.5 * 0.0 + 0.25);
	d += coef[7] * (pclass == 3 ? 2.0 * 1.0 + -1.0 : 2.0 * 0.0 + -1.0);
	d += 0.125;
	return 1.0 / (1.0 + exp(-d));
}

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

/* Two observations score the same (both succeed). */
static void
expect_same(const predict_model *model, const char *name, const char *a, const char *b)
{
	scored		x = score(model, a);
	scored		y = score(model, b);

	unit_report(name, x.status == PREDICT_OK && y.status == PREDICT_OK && x.proba == y.proba,
				"%s -> %s %.17g; %s -> %s %.17g", a, x.message, x.proba, b, y.message, y.proba);
}

static void
value_tests(const predict_model *m)
{
	const char *full = "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}";
	static const char *const accepted[][2] = {
		{"\"40\"", "40"}, {"\" 40 \"", "40"}, {"\"\\t4_0\\n\"", "40"}, {"\"+4.e1\"", "40"},
		{"\".4e2\"", "40"}, {"\"4_0.0_0\"", "40"}, {"\"4E+0_1\"", "40"}, {"\"-0\"", "-0.0"},
		{"\"1e300\"", "1e300"}, {"\"9007199254740993\"", "9007199254740993"},
		{"\"NaN\"", "null"}, {"\" -nan \"", "null"}, {"true", "1"}, {"false", "0"},
	};
	static const char *const rejected[] = {
		"\"\"", "\" \"", "\"abc\"", "\"1__0\"", "\"_1\"", "\"1_\"", "\"0x10\"", "\"1e\"",
		"\".\"", "\"e5\"", "\"1 0\"", "\"\xd9\xa1\xd9\xa2\"", "\"1.5.5\"", "\"--1\"",
		"\"infinit\"", "\"nan(1)\"", "\"1_.5\"", "\"1._5\"", "\"1e_5\"", "\"1,5\"", "\"\\u001c3\"",
	};
	char		a[256];
	char		b[256];

	expect_proba(m, "male, 40, S, 3", full, base_proba(1, 40, false, 2, 3));
	expect_proba(m, "female, 25, C, 2", "{\"Sex\": \"female\", \"Age\": 25, \"Embarked\": \"C\", \"Pclass\": 2}",
				 base_proba(0, 25, false, 0, 2));
	expect_proba(m, "missing values imputed, null category, indicator", "{\"Pclass\": 1}",
				 base_proba(2, 30, true, -2, 1));
	expect_same(m, "null is the same as an absent key",
				"{\"Sex\": null, \"Age\": null, \"Embarked\": null, \"Pclass\": 1}", "{\"Pclass\": 1}");
	expect_proba(m, "unknown string category ignored", "{\"Sex\": \"x\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}",
				 base_proba(-1, 40, false, 2, 3));
	expect_proba(m, "number in a string column is an unknown category",
				 "{\"Sex\": 1, \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}", base_proba(-1, 40, false, 2, 3));
	expect_proba(m, "boolean in a string column is an unknown category",
				 "{\"Sex\": true, \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}", base_proba(-1, 40, false, 2, 3));
	expect_proba(m, "case matters in categories", "{\"Sex\": \"Male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}",
				 base_proba(-1, 40, false, 2, 3));
	expect_proba(m, "ordinal unknown_value", "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"X\", \"Pclass\": 3}",
				 base_proba(1, 40, false, -1, 3));
	expect_proba(m, "numeric category matched by value", "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3.0}",
				 base_proba(1, 40, false, 2, 3));
	expect_proba(m, "numeric category from a string", "{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": \" 3 \"}",
				 base_proba(1, 40, false, 2, 3));
	expect_proba(m, "keys that are not columns are ignored",
				 "{\"Name\": {\"x\": [1]}, \"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3, \"sex\": 7}",
				 base_proba(1, 40, false, 2, 3));
	expect_proba(m, "the last duplicate key wins",
				 "{\"Sex\": \"male\", \"Age\": \"abc\", \"Embarked\": \"S\", \"Pclass\": 3, \"Age\": 40}",
				 base_proba(1, 40, false, 2, 3));
	expect_proba(m, "1e300 is finite", "{\"Sex\": \"male\", \"Age\": 1e300, \"Embarked\": \"S\", \"Pclass\": 3}",
				 base_proba(1, 1e300, false, 2, 3));
	expect_proba(m, "unused numeric column with a good value", "{\"Unused\": \"7\", \"Pclass\": 1}",
				 base_proba(2, 30, true, -2, 1));

	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
	{
		char		name[80];

		snprintf(a, sizeof(a), "{\"Sex\": \"male\", \"Age\": %s, \"Embarked\": \"S\", \"Pclass\": 3}", accepted[i][0]);
		snprintf(b, sizeof(b), "{\"Sex\": \"male\", \"Age\": %s, \"Embarked\": \"S\", \"Pclass\": 3}", accepted[i][1]);
		snprintf(name, sizeof(name), "Age %s reads as %s", accepted[i][0], accepted[i][1]);
		expect_same(m, name, a, b);
	}
	for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
	{
		char		name[80];

		snprintf(a, sizeof(a), "{\"Sex\": \"male\", \"Age\": %s, \"Embarked\": \"S\", \"Pclass\": 3}", rejected[i]);
		snprintf(name, sizeof(name), "Age %s is refused", rejected[i]);
		expect_error(m, name, a, "column \"Age\": expected a number, got the string ");
	}
}

static void
error_tests(const predict_model *m)
{
	expect_error(m, "non-numeric string", "{\"Age\": \"abc\", \"Pclass\": 1}",
				 "column \"Age\": expected a number, got the string \"abc\"");
	expect_error(m, "long string is quoted briefly",
				 "{\"Age\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"Pclass\": 1}",
				 "got the string \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
	expect_error(m, "object in a number column", "{\"Age\": {}, \"Pclass\": 1}",
				 "column \"Age\": expected a number, got an object");
	expect_error(m, "array in a string column", "{\"Sex\": [\"male\"], \"Pclass\": 1}",
				 "column \"Sex\": expected a string or a number, got an array");
	expect_error(m, "unused column is still checked", "{\"Unused\": \"abc\", \"Pclass\": 1}",
				 "column \"Unused\": expected a number, got the string \"abc\"");
	expect_error(m, "infinite string", "{\"Age\": \"-inf\", \"Pclass\": 1}", "column \"Age\": value is infinite");
	expect_error(m, "infinite number", "{\"Age\": 1e400, \"Pclass\": 1}", "column \"Age\": value is infinite");
	expect_error(m, "unknown numeric category, handle_unknown error", "{\"Pclass\": 4}",
				 "column \"Pclass\": unknown category 4 (the encoder's handle_unknown is \"error\")");
	expect_error(m, "missing value in an encoder without a null category", "{\"Pclass\": null}",
				 "column \"Pclass\": unknown category (missing)");
	expect_error(m, "the dropped category is still a known category", "{\"Pclass\": 0}",
				 "column \"Pclass\": unknown category 0");
	expect_error(m, "observation is an array", "[{\"Pclass\": 1}]", "observation: expected a JSON object, got an array");
	expect_error(m, "observation is a string", "\"x\"", "observation: expected a JSON object, got a string");
	expect_error(m, "observation is null", "null", "observation: expected a JSON object, got null");
	expect_error(m, "invalid JSON", "{\"Pclass\": 1", "observation: not valid JSON near byte");
	expect_error(m, "empty observation text", "", "observation: not valid JSON");
	expect_error(m, "text after the object", "{\"Pclass\": 1} {}", "observation: unexpected text after the JSON value at byte 14");
	expect_error(m, "escaped NUL in a category", "{\"Sex\": \"male\\u0000x\", \"Pclass\": 1}",
				 "observation: \\u0000 is not allowed in strings at byte 13");
	expect_error(m, "escaped NUL in a key", "{\"Se\\u0000x\": \"male\", \"Pclass\": 1}",
				 "observation: \\u0000 is not allowed in strings");
	expect_error(m, "invalid UTF-8", "{\"Sex\": \"\xc3\x28\", \"Pclass\": 1}", "observation: invalid UTF-8 at byte 9");
	expect_error(m, "raw control character", "{\"Sex\": \"a\nb\", \"Pclass\": 1}",
				 "observation: control character in a string at byte 10");
	{
		char		deep[2200];

		strcpy(deep, "{\"Pclass\": 1, \"Age\": ");
		for (int i = 0; i < 990; i++)
			strcat(deep, "[");
		for (int i = 0; i < 990; i++)
			strcat(deep, "]");
		strcat(deep, "}");
		expect_error(m, "990 levels of nesting in a value", deep, "column \"Age\": expected a number, got an array");
		deep[strlen(deep) - 1] = '\0';
		expect_error(m, "unbalanced nesting", deep, "observation: not valid JSON");
	}
	{
		size_t		n = PREDICT_MAX_OBSERVATION_BYTES + 10;
		char	   *big = malloc(n + 1);
		predict_value values[8];
		predict_error err = {0};
		double		proba;
		predict_status status;

		if (big == NULL)
			abort();
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		big[n] = '\0';
		status = predict_score_json(m, big, n, values, &proba, &err);
		unit_report("observation over 1 MiB", status == PREDICT_TOO_LARGE &&
					strstr(err.message, "observation: 1048586 bytes exceeds the limit of 1048576") != NULL,
					"status %d '%s'", (int) status, err.message);
		free(big);
	}
	{
		predict_value values[5] = {{0}};
		predict_error err = {0};
		double		proba = -1;

		values[3].kind = PREDICT_VALUE_NUMBER;
		values[3].number = 2;
		unit_report("predict_score on host values",
					predict_score(m, values, &proba, &err) == PREDICT_OK &&
					proba == base_proba(2, 30, true, -2, 2), "proba %.17g: %s", proba, err.message);
		values[1].kind = PREDICT_VALUE_OTHER;
		values[1].length = 1;
		unit_report("host OTHER value", predict_score(m, values, &proba, &err) == PREDICT_BAD_OBSERVATION &&
					strcmp(err.message, "column \"Age\": expected a number, got an array") == 0,
					"'%s'", err.message);
		values[1].kind = PREDICT_VALUE_STRING;
		values[1].string = "12abc";
		values[1].length = 2;	/* a host string is not NUL-terminated */
		unit_report("host string length respected", predict_score(m, values, &proba, &err) == PREDICT_OK &&
					proba == base_proba(2, 12, false, -2, 2), "proba %.17g: %s", proba, err.message);
	}
}

static predict_model *
load_text(const char *name, const char *text)
{
	return expect_load(name, text);
}

/* A one-column numeric model with the given steps and coefficient 1. */
static predict_model *
numeric_model(const char *steps)
{
	char		doc[2048];

	snprintf(doc, sizeof(doc),
			 "{\"format\": \"predict-model/1\", \"name\": \"n\", \"columns\": [{\"name\": \"x\", \"type\": \"number\"}],"
			 " \"preprocessing\": [{\"column\": \"x\", \"steps\": %s, \"features\": [\"x\"]}],"
			 " \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1], \"intercept\": 0, \"link\": \"logistic\"},"
			 " \"positive_class\": \"yes\", \"threshold\": 0.25,"
			 " \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": 0}}",
			 steps);
	return load_text(steps, doc);
}

static double
expit(double d)
{
	return 1.0 / (1.0 + exp(-d));
}

static void
step_tests(void)
{
	predict_model *m;

	m = numeric_model("[{\"type\": \"min_max\", \"scale\": 2, \"min\": 0.5, \"clip\": [0, 1]}]");
	if (m != NULL)
	{
		expect_proba(m, "min_max clips above", "{\"x\": 0.75}", expit(1.0));
		expect_proba(m, "min_max clips below", "{\"x\": -1}", expit(0.0));
		expect_proba(m, "min_max inside", "{\"x\": 0.1}", expit(0.1 * 2 + 0.5));
		expect_error(m, "NaN passes the clip and reaches the estimator", "{}",
					 "column \"x\": missing value reaches the estimator (no imputer for this column)");
		unit_report("classify uses the threshold", predict_model_classify(m, 0.25) &&
					!predict_model_classify(m, 0.2499999), "threshold %g", predict_model_threshold(m));
	}
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"standardize\", \"center\": null, \"scale\": 4}, {\"type\": \"multiply\", \"factor\": 0.1}]");
	if (m != NULL)
		expect_proba(m, "standardize without center, then multiply", "{\"x\": 3}", expit((3.0 / 4.0) * 0.1));
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"standardize\", \"center\": 1e308, \"scale\": 1e-308}]");
	if (m != NULL)
		expect_error(m, "overflow reaching the estimator", "{\"x\": -1e308}", "column \"x\": value is infinite");
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"multiply\", \"factor\": 1e300}, {\"type\": \"multiply\", \"factor\": 1e300}]");
	if (m != NULL)
		expect_error(m, "overflow entering a step", "{\"x\": 1}", "column \"x\": value is infinite");
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"indicator\"}]");
	if (m != NULL)
	{
		expect_proba(m, "indicator of a missing value", "{\"x\": null}", expit(1.0));
		expect_proba(m, "indicator of a present value", "{\"x\": 5}", expit(0.0));
		expect_error(m, "indicator input is checked for infinity", "{\"x\": \"inf\"}", "value is infinite");
	}
	predict_model_free(m);


	m = numeric_model("[]");
	if (m != NULL)
	{
		expect_proba(m, "passthrough", "{\"x\": -2.5}", expit(-2.5));
		expect_error(m, "passthrough of a missing value", "{}", "missing value reaches the estimator");
	}
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"ordinal\", \"categories\": [0, 2.5, null], \"handle_unknown\": \"error\","
					  " \"unknown_value\": null, \"encoded_missing_value\": 7}]");
	if (m != NULL)
	{
		expect_proba(m, "ordinal -0.0 matches 0", "{\"x\": -0.0}", expit(0.0));
		expect_proba(m, "ordinal 2.5", "{\"x\": 2.5}", expit(1.0));
		expect_proba(m, "ordinal encoded missing value", "{}", expit(7.0));
		expect_error(m, "ordinal unknown, handle_unknown error", "{\"x\": 3}", "column \"x\": unknown category 3");
	}
	predict_model_free(m);

	m = numeric_model("[{\"type\": \"ordinal\", \"categories\": [1], \"handle_unknown\": \"use_encoded_value\","
					  " \"unknown_value\": null, \"encoded_missing_value\": null}]");
	if (m != NULL)
		expect_error(m, "ordinal unknown_value NaN reaches the estimator", "{\"x\": 3}",
					 "missing value reaches the estimator");
	predict_model_free(m);
}

static void
one_hot_tests(void)
{
	const char *doc =
		"{\"format\": \"predict-model/1\", \"name\": \"o\", \"columns\": [{\"name\": \"c\", \"type\": \"string\"}],"
		" \"preprocessing\": [{\"column\": \"c\", \"steps\": [{\"type\": \"one_hot\", \"categories\": [\"a\", \"b\", \"\", null],"
		" \"drop\": 1, \"handle_unknown\": \"ignore\"}, {\"type\": \"standardize\", \"center\": [0.5, 0.25, 0.125], \"scale\": null}],"
		" \"features\": [\"c_a\", \"c_\", \"c_nan\"]}],"
		" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1, 2, 4], \"intercept\": 0.5, \"link\": \"softmax\"},"
		" \"positive_class\": false, \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"x\", \"training_rows\": null}}";
	predict_model *m = load_text("one_hot with drop, null category, softmax", doc);

	if (m == NULL)
		return;

	/*
	 * features after the drop of "b": a, "", null; each then has its
	 * center subtracted; the softmax of [-d, d] as scikit-learn computes it
	 */
#define SOFTMAX(d) (exp((d) - fmax(-(d), (d))) / (exp(-(d) - fmax(-(d), (d))) + exp((d) - fmax(-(d), (d)))))
	{
		double		off[3] = {0 - 0.5, 0 - 0.25, 0 - 0.125};
		double		on[3] = {1 - 0.5, 1 - 0.25, 1 - 0.125};
		const double w[3] = {1, 2, 4};
		struct
		{
			const char *name;
			const char *obs;
			int			hot;
		}			cases[] = {
			{"hot a", "{\"c\": \"a\"}", 0},
			{"dropped b", "{\"c\": \"b\"}", -1},
			{"empty-string category", "{\"c\": \"\"}", 1},
			{"missing matches null", "{}", 2},
			{"unknown ignored", "{\"c\": \"z\"}", -1},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			double		d = 0.0;

			for (int j = 0; j < 3; j++)
				d += w[j] * (j == cases[i].hot ? on[j] : off[j]);
			d += 0.5;
			expect_proba(m, cases[i].name, cases[i].obs, SOFTMAX(d));
		}
	}
	predict_model_free(m);
}

/* Numbers in messages are written as PostgreSQL writes a float8. */
static void
format_tests(void)
{
	static const struct
	{
		double		x;
		const char *want;
	}			cases[] = {
		{0.1, "0.1"}, {100, "100"}, {1e14, "100000000000000"}, {1e15, "1e+15"},
		{123456789012345.6, "123456789012345.6"}, {1234567890123456.7, "1.2345678901234568e+15"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {-2.5e-7, "-2.5e-07"}, {5e-324, "5e-324"},
		{1e300, "1e+300"}, {9007199254740993.0, "9.007199254740992e+15"}, {-0.0, "-0"}, {0, "0"},
		{INFINITY, "Infinity"}, {-INFINITY, "-Infinity"}, {NAN, "NaN"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		buf[64];
		char		name[80];

		predict_format_number(buf, sizeof(buf), cases[i].x);
		snprintf(name, sizeof(name), "number %s", cases[i].want);
		unit_report(name, strcmp(buf, cases[i].want) == 0, "got %s", buf);
	}
}

void
score_tests(void)
{
	predict_model *m = expect_load("base model for scoring", base_model);

	format_tests();

	if (m != NULL)
	{
		value_tests(m);
		error_tests(m);
	}
	predict_model_free(m);
	step_tests();
	one_hot_tests();
}
