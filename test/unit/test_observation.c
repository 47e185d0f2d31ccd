/*
 * test_observation.c - the scanner that reads JSON observations
 * (src/core/observation.c) against the cJSON reader it replaced
 * (reference_observation.c): the same values, or the same message, for the
 * edge cases of JSON text, numbers and escapes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util.h"

/* A text and its length (some have NUL bytes). */
typedef struct text_case
{
	const char *text;
	size_t		len;
} text_case;

#define T(literal) {literal, sizeof(literal) - 1}

static const text_case cases[] = {
	T("{\"Sex\": \"male\", \"Age\": 40, \"Embarked\": \"S\", \"Pclass\": 3}"),
	/* whitespace, byte order mark, trailing text */
	T(" \t\n{ \"Age\" :1 } \n"), T("\x01{\"Age\":1}"), T("{\"Age\":1}\x01"), T("{\"Age\":1}\x0b"),
	T("\xEF\xBB\xBF{}"), T("\xEF\xBB\xBF{"), T("\xEF\xBB\xBF{\"Age\": 2}"), T("{} {}"), T("{}x"),
	T("{\"Age\":\x1f" "1}"), T("{\"Age\":1}\0"), T("{\"Age\"\0:1}"), T(""), T(" "), T("\n\n"),
	/* duplicate keys: the last wins */
	T("{\"Age\": 1, \"Age\": \"x\"}"), T("{\"Age\": 1, \"Age\": null}"), T("{\"Age\": [1], \"Age\": 2}"),
	/* escapes in keys, an invalid \u escape ending cJSON's C string */
	T("{\"A\\u0067e\": 2}"), T("{\"\\u0041ge\": 3}"), T("{\"Age\\u00zz\": 5}"), T("{\"Age\\u00zzx\": 5}"),
	T("{\"Ag\\u00G0e\": 1}"), T("{\"\\u0000Age\": 1}"), T("{\"Age\\/\": 1}"),
	/* escapes in values */
	T("{\"Sex\": \"m\\u00e9le\"}"), T("{\"Sex\": \"\\ud83d\\ude00\"}"), T("{\"Sex\": \"\\uD834\\uDD1E\"}"),
	T("{\"Sex\": \"\\ud800\"}"), T("{\"Sex\": \"\\udc00\"}"), T("{\"Sex\": \"\\ud800\\u0041\"}"),
	T("{\"Sex\": \"\\ud800\\\\u0041\"}"), T("{\"Sex\": \"\\ud800\\udbff\"}"), T("{\"Sex\": \"ab\\u12\"}"),
	T("{\"Sex\": \"ab\\u12\\\"4\"}"), T("{\"Sex\": \"x\\q\"}"), T("{\"Sex\": \"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}"),
	T("{\"Sex\": \"ma\\u00zzle\"}"), T("{\"Sex\": \"\\u0000\"}"), T("{\"Sex\": \"\\u0800\\u07ff\\u007f\\uffff\"}"),
	T("{\"Sex\": \"a\\\"b\"}"), T("{\"Sex\": \"a\\"), T("{\"Sex\": \"a"), T("{\"Sex\": \"\xc3\xa9\"}"),
	T("{\"Sex\": \"\xc3\"}"), T("{\"Sex\": \"\x01\"}"), T("{\"Sex\": \"a\tb\"}"),
	/* numbers as strtod reads what cJSON copies */
	T("{\"Age\": -0}"), T("{\"Age\": -0.0e5}"), T("{\"Age\": 01}"), T("{\"Age\": 1.}"), T("{\"Age\": -.5}"),
	T("{\"Age\": .5}"), T("{\"Age\": 1e}"), T("{\"Age\": 1e+}"), T("{\"Age\": 1E-2}"), T("{\"Age\": 1e400}"),
	T("{\"Age\": -1e400}"), T("{\"Age\": 1e-400}"), T("{\"Age\": 4.9e-324}"), T("{\"Age\": 2.4703282292062328e-324}"),
	T("{\"Age\": 2.2250738585072011e-308}"), T("{\"Age\": 9007199254740993}"), T("{\"Age\": 0.1}"),
	T("{\"Age\": 123456789012345678901234567890}"), T("{\"Age\": 1.7976931348623157e308}"),
	T("{\"Age\": 1.7976931348623159e308}"), T("{\"Age\": 0x10}"), T("{\"Age\": 1-2}"), T("{\"Age\": --1}"),
	T("{\"Age\": -}"), T("{\"Age\": +1}"), T("{\"Age\": 1e99999999999}"), T("{\"Age\": 1e-99999999999}"),
	T("{\"Age\": 0.000000000000000000000000001}"), T("{\"Age\": 100000000000000000000000}"),
	T("{\"Age\": 1e23}"), T("{\"Age\": 8.988465674311579e307}"), T("{\"Age\": 999999999999999}"),
	T("{\"Age\": 9999999999999999}"), T("{\"Age\": 1e22}"), T("{\"Age\": 1e-22}"), T("{\"Age\": 123456.789e-20}"),
	T("{\"Age\": 0.30000000000000004}"), T("{\"Age\": 1.5e+3.2}"), T("{\"Age\": 1e5e5}"), T("{\"Age\": -Infinity}"),
	T("{\"Age\": NaN}"), T("{\"Age\": 1.0E+2}"), T("{\"Age\": 00.5}"), T("{\"Age\": -01.5e-0}"),
	T("{\"Unused\": 12, \"Age\": 3}"), T("{\"Unknown\": 1e999, \"Age\": 3}"), T("{\"Unknown\": 1e, \"Age\": 3}"),
	/* literals */
	T("{\"Age\": true}"), T("{\"Age\": false}"), T("{\"Age\": null}"), T("{\"Age\": nul}"), T("{\"Age\": True}"),
	T("{\"Age\": nullx}"), T("{\"Age\": tru}"), T("{\"Age\": fals"),
	/* nested values */
	T("{\"Age\": [1, {\"a\": [null]}]}"), T("{\"Age\": {}}"), T("{\"Age\": [}"), T("{\"x\": [1,]}"),
	T("{\"x\": [,1]}"), T("{\"x\": {\"a\" 1}}"), T("{\"x\": [1 2]}"), T("{\"x\": {\"a\": 1,}}"), T("{\"x\": [ ]}"),
	T("{\"x\": [\"\\q\"]}"), T("{\"x\": {\"\\q\": 1}}"), T("{\"x\": [1e]}"), T("{\"x\": [-]}"),
	/* structure */
	T("{"), T("{ "), T("{\"Age\":1,"), T("{\"Age\":1, "), T("{\"Age\":1,}"), T("{,}"), T("{\"Age\"}"),
	T("{Age:1}"), T("{\"Age\":1"), T("{\"Age\":1]"), T("{\"Age\" :"), T("{\"Age\": }"), T("{\"Age\": 1 \"Sex\": 2}"),
	T("[1,"), T("}"), T("{\"Age\":1,\""), T("{\"Age\":1, \""), T("{\"\":1}"), T("{  \"Age\"  :  1  ,  \"Sex\"  :  \"x\"  }"),
	/* not an object */
	T("[]"), T("[{\"Age\": 1}]"), T("\"x\""), T("1"), T("-1.5e3"), T("true"), T("false"), T("null"), T("\"a\\u00zz\""),
	/* text checks before JSON */
	T("{\"Sex\": \"\xff\"}"), T("{\"Sex\": \"x\"}\xff"), T("{\0}"),
};

/* The same text with n levels of arrays around a value. */
static char *
nested(int n, bool closed)
{
	char	   *text = malloc((size_t) (2 * n + 32));
	size_t		at = 0;

	at += (size_t) sprintf(text, "{\"Age\": ");
	for (int i = 0; i < n; i++)
		text[at++] = '[';
	text[at++] = '1';
	for (int i = 0; closed && i < n; i++)
		text[at++] = ']';
	text[at++] = '}';
	text[at] = '\0';
	return text;
}

/* Strings longer than the scanner's stack buffer, with escapes. */
static char *
long_escaped(size_t n)
{
	char	   *text = malloc(8 * n + 64);
	size_t		at = 0;

	at += (size_t) sprintf(text, "{\"S\\u0065x\": \"");
	for (size_t i = 0; i < n; i++)
		at += (size_t) sprintf(text + at, i % 3 ? "\\n" : "\\u00e9");
	at += (size_t) sprintf(text + at, "\", \"");
	for (size_t i = 0; i < n; i++)
		text[at++] = i % 2 ? 'k' : 'K';
	at += (size_t) sprintf(text + at, "\\\"\": 1, \"Embarked\": \"");
	for (size_t i = 0; i < n; i++)
		at += (size_t) sprintf(text + at, "\\\\");
	strcpy(text + at, "\"}");
	return text;
}

static void
expect_agree(const predict_model *m, const char *name, const char *text, size_t len)
{
	char		why[1024] = "";

	unit_report(name, readers_agree(m, text, len, why, sizeof(why)), "%s", why);
}

/* The value the scanner reads for column Age (index 1 of base_model). */
static predict_value
age_of(const predict_model *m, const char *text)
{
	predict_value values[8];
	predict_error err;
	observation_strings strings;
	predict_value age;

	memset(&age, 0, sizeof(age));
	age.kind = (predict_value_kind) -1;
	if (read_observation(m, text, strlen(text), values, &strings, &err) == PREDICT_OK)
		age = values[1];
	observation_strings_free(&strings);
	return age;
}

/* A long number (the heap path of strtod's copy) with a known value. */
static void
long_number_tests(const predict_model *m)
{
	char		text[600];
	size_t		at = (size_t) sprintf(text, "{\"Age\": 0.");

	for (int i = 0; i < 500; i++)
		text[at++] = '0';
	strcpy(text + at, "1e501}");
	expect_agree(m, "a 500-digit number", text, strlen(text));
	unit_report("a 500-digit number reads as 1", age_of(m, text).number == 1.0, "%.17g",
				age_of(m, text).number);
}

void
observation_tests(void)
{
	predict_model *m = expect_load("observation reader model", base_model);
	char		name[64];
	char	   *text;

	if (m == NULL)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		snprintf(name, sizeof(name), "observation reader agrees with cJSON, case %zu", i);
		expect_agree(m, name, cases[i].text, cases[i].len);
	}
	for (int n = 997; n <= 1001; n++)
	{
		snprintf(name, sizeof(name), "observation reader agrees at depth %d", n + 1);
		text = nested(n, true);
		expect_agree(m, name, text, strlen(text));
		free(text);
		text = nested(n, false);
		expect_agree(m, "unbalanced nesting", text, strlen(text));
		free(text);
	}
	for (size_t n = 10; n <= 1000; n *= 10)
	{
		snprintf(name, sizeof(name), "observation reader agrees on %zu escapes", n);
		text = long_escaped(n);
		expect_agree(m, name, text, strlen(text));
		free(text);
	}
	long_number_tests(m);
	unit_report("-0 reads as negative zero", signbit(age_of(m, "{\"Age\": -0}").number), "+0");
	unit_report("an invalid \\u escape ends the key, as in cJSON",
				age_of(m, "{\"Age\\u00zz\": 5}").number == 5, "not 5");
	unit_report("1e400 reads as infinity", isinf(age_of(m, "{\"Age\": 1e400}").number), "finite");
	unit_report("an array reads as OTHER, 1", age_of(m, "{\"Age\": [2]}").kind == PREDICT_VALUE_OTHER &&
				age_of(m, "{\"Age\": [2]}").length == 1, "kind %d", age_of(m, "{\"Age\": [2]}").kind);
	predict_model_free(m);
}

/* predict_format_g17 against snprintf's "%.17g"; returns the failures. */
static int
g17_differs(double x, char *want, char *got)
{
	snprintf(want, 40, "%.17g", x);
	predict_format_g17(got, x);
	return strcmp(want, got) != 0;
}

void
format_g17_tests(void)
{
	static const double edges[] = {0, -0.0, 1, 0.1, 0.5, 1e-4, 9.9999999999999991e-5, 0.0001000000000000000048,
		0.99999999999999989, 0.099999999999999992, 0.001, 0.01, 1e-5, 5e-324, 2.2250738585072014e-308,
		1.5, -0.25, 1e300};
	uint64_t	state = 0x9E3779B97F4A7C15u;
	char		want[40];
	char		got[40];
	int			failures = 0;
	char		first[100] = "";

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		if (g17_differs(edges[i], want, got) && failures++ == 0)
			snprintf(first, sizeof(first), "%s, not %s", want, got);
	for (int i = 0; i < 200000; i++)
	{
		uint64_t	bits;
		double		x;

		state ^= state << 13, state ^= state >> 7, state ^= state << 17;
		/* exponents of 2^-1 to 2^-24: the fast path and the smaller numbers around it */
		bits = (state & ((UINT64_C(1) << 52) - 1)) | ((uint64_t) (1022 - (state >> 59) % 24) << 52);
		memcpy(&x, &bits, sizeof(x));
		if (g17_differs(x, want, got) && failures++ == 0)
			snprintf(first, sizeof(first), "%s, not %s", want, got);
	}
	/* c / 2^18 for odd c has 18 decimals ending in 5: a tie, to even */
	for (int c = 26215; c < 262144; c += 2)
		if (g17_differs(c / 262144.0, want, got) && failures++ == 0)
			snprintf(first, sizeof(first), "%s, not %s", want, got);
	unit_report("predict_format_g17 writes what %.17g writes", failures == 0, "%d differ, first %s",
				failures, first);
}
