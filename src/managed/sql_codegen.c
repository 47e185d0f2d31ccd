/*
 * sql_codegen.c - compile a loaded model into a PL/pgSQL function that
 * scores exactly as predict_score does, for PostgreSQL databases where the
 * C extension cannot be installed (managed services such as Heroku
 * Postgres). The gateway installs it in "managed mode" (src/managed/sql/managed.sql has
 * the helper functions it calls).
 *
 * Exactness: the generated code performs the scorer's float8 operations in
 * the same order with the same constants (printed with 17 significant
 * digits, which read back exactly), so results are bit-identical. Two
 * PostgreSQL behaviours are worked around rather than reproduced:
 *   - casts to real raise errors on underflow, so a standard tree's float32
 *     comparison (float) x <= t is compiled to the equivalent float64
 *     comparison with the midpoint between t and the next float32;
 *   - exp() raises errors where C returns 0 or infinity, so the link
 *     functions are guarded where their C result is exactly 0 or 1.
 * What cannot be reproduced: PostgreSQL's float8 arithmetic raises
 * "value out of range" (22003) where C would overflow to infinity or
 * underflow to zero in the middle of a step. Such rows are rejected in
 * managed mode with PostgreSQL's message (the core rejects the overflowing
 * ones too, with its own message).
 *
 * Messages are the core's, built by the helper functions from the same
 * pieces (column names quoted by predict_quote here, values quoted by
 * quote in SQL).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "model.h"
#include "special.h"
#include "stage.h"
#include "score.h"

/* Generated code for trees this large would take PL/pgSQL too long to compile. */
#define MAX_SQL_TREE_NODES 250000
#define MAX_SQL_TREE_DEPTH 200

typedef struct sql_buffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} sql_buffer;

static void sql_append(sql_buffer *buf, const char *format,...) __attribute__((format(printf, 2, 3)));

static void
sql_append(sql_buffer *buf, const char *format,...)
{
	va_list		args;
	int			n;

	if (buf->failed)
		return;
	if (buf->data == NULL)
	{
		/* no arithmetic on a NULL buffer: allocate before the first write */
		if ((buf->data = malloc(4096)) == NULL)
		{
			buf->failed = true;
			return;
		}
		buf->cap = 4096;
		buf->len = 0;
	}
	for (;;)
	{
		va_start(args, format);
		n = vsnprintf(buf->data + buf->len, buf->cap - buf->len, format, args);
		va_end(args);
		if (n < 0)
		{
			buf->failed = true;
			return;
		}
		if ((size_t) n < buf->cap - buf->len)
		{
			buf->len += (size_t) n;
			return;
		}
		{
			size_t		cap = (buf->cap + (size_t) n + 1) * 2;
			char	   *bigger = realloc(buf->data, cap);

			if (bigger == NULL)
			{
				buf->failed = true;
				return;
			}
			buf->data = bigger;
			buf->cap = cap;
		}
	}
}

/* A float8 constant that reads back as exactly x. */
static void
sql_number(sql_buffer *buf, double x)
{
	if (isnan(x))
		sql_append(buf, "'NaN'::float8");
	else if (isinf(x))
		sql_append(buf, x > 0 ? "'Infinity'::float8" : "'-Infinity'::float8");
	else
		sql_append(buf, "%.17g::float8", x);
}

/*
 * Bytes as an escape string literal (E'...'), which reads the same whatever
 * the session's standard_conforming_strings.
 */
static void
sql_string(sql_buffer *buf, const char *s, size_t len)
{
	sql_append(buf, "E'");
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '\'' || s[i] == '\\')
			sql_append(buf, "\\%c", s[i]);
		else
			sql_append(buf, "%c", s[i]);
	}
	sql_append(buf, "'");
}

/* Bytes as the inside of a JSON string (the key of a jsonb lookup map). */
static void
json_string_body(sql_buffer *buf, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
			sql_append(buf, "\\%c", c);
		else if (c < 0x20)
			sql_append(buf, "\\u%04x", c);
		else
			sql_append(buf, "%c", c);
	}
}

/*
 * For "x op c" (op * or /): below tiny and above big, |x| takes
 * sql_safe_op's helpers; in between, the plain operator gives C's result.
 */
static void
safe_op_bounds(char op, double c, double *tiny, double *big)
{
	double		a = fabs(c);

	*tiny = op == '*' ? 1e-290 / fmin(a, 1.0) : 1e-290 * fmax(a, 1.0);
	*big = op == '*' ? 1e290 / fmax(a, 1.0) : 1e290 * fmin(a, 1.0);
}

/*
 * "var op c" for a constant c (op one of + - * /) with C's result where
 * PostgreSQL's checked float8 operators raise: below the thresholds where a
 * product or quotient could underflow to zero, and above those where a
 * result could overflow to infinity, the helpers tiny_* and
 * big_* / add of src/managed/sql/managed.sql compute it. NaN is
 * above every number in PostgreSQL's ordering: it takes the "big" branch,
 * whose helpers return NaN op c as C does.
 */
static void
sql_safe_op(sql_buffer *buf, const char *helpers, const char *var, char op, double c)
{
	double		tiny;
	double		big;

	if (op == '+' || op == '-')
	{
		sql_append(buf, "CASE WHEN abs(%s) > 8e307 THEN %s.add(%s, ", var, helpers, var);
		sql_number(buf, op == '-' ? -c : c);
		sql_append(buf, ") ELSE %s %c ", var, op);
		sql_number(buf, c);
		sql_append(buf, " END");
		return;
	}
	if (op == '*' && c == 0)
	{
		sql_append(buf, "%s * ", var);	/* 0 times finite: no error */
		sql_number(buf, c);
		return;
	}
	safe_op_bounds(op, c, &tiny, &big);
	sql_append(buf, "CASE WHEN abs(%s) < %.17g THEN %s.%s(%s, ", var, tiny,
			   helpers, op == '*' ? "tiny_product" : "tiny_quotient", var);
	sql_number(buf, c);
	sql_append(buf, ") WHEN abs(%s) > %.17g THEN %s.%s(%s, ", var, big,
			   helpers, op == '*' ? "big_product" : "big_quotient", var);
	sql_number(buf, c);
	sql_append(buf, ") ELSE %s %c ", var, op);
	sql_number(buf, c);
	sql_append(buf, " END");
}

/* "total := total + t" with C's overflow to infinity. */
static void
sql_safe_sum(sql_buffer *buf, const char *helpers, const char *total, const char *t)
{
	sql_append(buf, "%s := CASE WHEN abs(%s) > 8e307 OR abs(%s) > 8e307 THEN %s.add(%s, %s) "
			   "ELSE %s + %s END;\n", total, total, t, helpers, total, t, total, t);
}

typedef struct codegen
{
	const predict_model *model;
	const char *helpers;
	sql_buffer *out;
	const bool *read_at;		/* per block: first block reading its column */
	const estimator *est;		/* the estimator being compiled */
	const char *ret;			/* its result's variable, or NULL: the function's */
	const char *ret0;			/* predict_proba[:, 0]'s variable, or NULL */
	bool		decision;		/* its decision_function, not predict_proba */
	unsigned	ncomposites;	/* composites compiled so far: their variables' names */
	bool		classify;		/* the class function: OUT proba, OUT predicted */
} codegen;

/*
 * End the estimator with probability proba (an SQL expression; with
 * cg->decision its decision function). Inside a composite, assign it to
 * cg->ret, and predict_proba[:, 0] to cg->ret0 when the composite wants it
 * (proba0, or NULL for 1 - proba, an expression that may read cg->ret).
 * Else end the function: the class function also sets predicted,
 * scikit-learn's predict() for the estimator (an expression that may read
 * proba), as predict_score_class decides it.
 */
static void
emit_result(codegen *cg, int indent, const char *proba, const char *predicted,
			const char *proba0)
{
	if (cg->ret != NULL)
	{
		sql_append(cg->out, "%*s%s := %s;\n", indent, "", cg->ret, proba);
		if (cg->ret0 == NULL)
			return;
		if (proba0 != NULL)
			sql_append(cg->out, "%*s%s := %s;\n", indent, "", cg->ret0, proba0);
		else
			sql_append(cg->out, "%*s%s := 1.0::float8 - %s;\n", indent, "", cg->ret0, cg->ret);
		return;
	}
	if (!cg->classify)
	{
		sql_append(cg->out, "%*sRETURN %s;\n", indent, "", proba);
		return;
	}
	sql_append(cg->out, "%*sproba := %s;\n%*spredicted := %s;\n%*sRETURN;\n",
			   indent, "", proba, indent, "", predicted, indent, "");
}

/* 'column "Age"', the prefix of every message about that column. */
static void
column_label(codegen *cg, uint32_t col)
{
	char		name[300];
	char		label[320];

	predict_quote(name, sizeof(name), cg->model->columns[col].name,
				  cg->model->columns[col].name_length);
	snprintf(label, sizeof(label), "column %s", name);
	sql_string(cg->out, label, strlen(label));
}

static void
column_key(codegen *cg, uint32_t col)
{
	sql_string(cg->out, cg->model->columns[col].name, cg->model->columns[col].name_length);
}

/*
 * A column with a pandas category dtype (read_category_value in score.c):
 * read as a cell, then anything that is not one of the categories (a
 * number or boolean for string ones, a string or boolean for numeric ones)
 * becomes missing.
 */
static void
emit_read_category_column(codegen *cg, uint32_t col, bool keep)
{
	sql_buffer *out = cg->out;
	const category_table *table = cg->model->columns[col].categories;

	if (!keep)
	{
		/* only objects and arrays are errors */
		sql_append(out, "  PERFORM %s.read_cell_number(obs->", cg->helpers);
		column_key(cg, col);
		sql_append(out, ", ");
		column_label(cg, col);
		sql_append(out, ");\n");
		return;
	}
	sql_append(out, "  c%u_s := %s.read_cell_string(obs->", col, cg->helpers);
	column_key(cg, col);
	sql_append(out, ");\n  c%u_x := %s.read_cell_number(obs->", col, cg->helpers);
	column_key(cg, col);
	sql_append(out, ", ");
	column_label(cg, col);
	sql_append(out, ");\n");
	if (table->numeric)
	{
		sql_append(out, "  IF c%u_s IS NOT NULL OR jsonb_typeof(obs->", col);
		column_key(cg, col);
		sql_append(out, ") = 'boolean' OR NOT (c%u_x = ANY ('{", col);
		for (size_t i = 0; i < table->count; i++)
			sql_append(out, "%s%.17g", i ? "," : "", table->numbers[i]);
		sql_append(out, "}'::float8[])) THEN c%u_x := 'NaN'::float8; END IF;\n  c%u_s := NULL;\n",
				   col, col);
		return;
	}
	sql_append(out, "  IF c%u_s IS NULL OR NOT (c%u_s = ANY (ARRAY[", col, col);
	for (size_t i = 0; i < table->count; i++)
	{
		if (i)
			sql_append(out, ", ");
		sql_string(out, table->strings[i], table->lengths[i]);
	}
	sql_append(out, "]::text[])) THEN c%u_s := NULL; c%u_x := 'NaN'::float8; END IF;\n", col, col);
}

/*
 * A nullable dtype's rule on the number just read into var (check_nullable
 * in score.c): Int64 takes an int() literal or an integral number in
 * int64's range, boolean true/false or a number equal to 0 or 1.
 */
static void
emit_nullable_check(codegen *cg, uint32_t col, const char *var)
{
	sql_buffer *out = cg->out;
	bool		integer = cg->model->columns[col].values == COLUMN_VALUES_INTEGER;

	sql_append(out, "  IF jsonb_typeof(obs->");
	column_key(cg, col);
	if (integer)
	{
		sql_append(out, ") IN ('string', 'number') AND ((jsonb_typeof(obs->");
		column_key(cg, col);
		sql_append(out, ") = 'string' AND translate(obs->>");
		column_key(cg, col);
		sql_append(out, ", E' \\t\\n\\u000b\\f\\r+-0123456789_', '') <> '') OR %s <> trunc(%s) "
				   "OR abs(%s) >= 9223372036854775808::float8)", var, var, var);
	}
	else
	{
		sql_append(out, ") = 'string' OR (jsonb_typeof(obs->");
		column_key(cg, col);
		sql_append(out, ") = 'number' AND %s <> 0 AND %s <> 1)", var, var);
	}
	sql_append(out, " THEN PERFORM %s.fail(", cg->helpers);
	column_label(cg, col);
	sql_append(out, " || ': %s, got ' || CASE WHEN jsonb_typeof(obs->",
			   integer ? "expected an integer (dtype Int64)" :
			   "expected true, false, 0 or 1 (dtype boolean)");
	column_key(cg, col);
	sql_append(out, ") = 'string' THEN 'the string ' || %s.quote(obs->>", cg->helpers);
	column_key(cg, col);
	sql_append(out, ", 80) ELSE %s.shown(NULL, %s) END); END IF;\n", cg->helpers, var);
}

/* Read column col into c<col>_s / c<col>_x (a string, or a number with NaN for missing). */
static void
emit_read_column(codegen *cg, uint32_t col, bool keep)
{
	sql_buffer *out = cg->out;
	bool		numeric = cg->model->columns[col].numeric;

	if (cg->model->columns[col].categories != NULL)
	{
		emit_read_category_column(cg, col, keep);
		return;
	}
	if (cg->model->columns[col].values != COLUMN_VALUES_ANY)
	{
		char		var[32];

		snprintf(var, sizeof(var), keep ? "c%u_x" : "x", col);
		if (keep)
			sql_append(out, "  c%u_s := NULL;\n", col);
		sql_append(out, "  %s := %s.read_number(obs->", var, cg->helpers);
		column_key(cg, col);
		sql_append(out, ", ");
		column_label(cg, col);
		sql_append(out, ");\n");
		emit_nullable_check(cg, col, var);
		return;
	}
	if (!keep)
		sql_append(out, "  PERFORM %s.read_%s(obs->", cg->helpers,
				   numeric ? "number" : "cell_number");
	else if (numeric)
		sql_append(out, "  c%u_s := NULL;\n  c%u_x := %s.read_number(obs->",
				   col, col, cg->helpers);
	else
	{
		sql_append(out, "  c%u_s := %s.read_cell_string(obs->", col, cg->helpers);
		column_key(cg, col);
		sql_append(out, ");\n  c%u_x := %s.read_cell_number(obs->", col, cg->helpers);
	}
	column_key(cg, col);
	sql_append(out, ", ");
	column_label(cg, col);
	sql_append(out, ");\n");
}

static void
emit_fail(codegen *cg, uint32_t col, const char *message)
{
	sql_append(cg->out, "PERFORM %s.fail(", cg->helpers);
	column_label(cg, col);
	sql_append(cg->out, " || ': %s');", message);
}

/*
 * A jsonb map from the strings of table to their indexes, counted from
 * base; with missing, the keys are the strings after an "s", and key "m"
 * is missing's, the next index.
 */
static void
sql_category_map(sql_buffer *out, const category_table *table, size_t base, bool missing)
{
	sql_buffer	map = {0};

	sql_append(&map, "{");
	for (size_t i = 0; i < table->count; i++)
	{
		sql_append(&map, "%s\"%s", i ? "," : "", missing ? "s" : "");
		json_string_body(&map, table->strings[i], table->lengths[i]);
		sql_append(&map, "\":%zu", base + i);
	}
	if (missing)
		sql_append(&map, ",\"m\":%zu", base + table->count);
	sql_append(&map, "}");
	if (map.failed)
		out->failed = true;
	else
		sql_string(out, map.data, map.len);
	free(map.data);
	sql_append(out, "::jsonb");
}

/* k := the category index of the cell (s, x) in table, or NULL if unknown. */
static void
emit_category_lookup(codegen *cg, const category_table *table)
{
	sql_buffer *out = cg->out;

	sql_append(out, "    IF s IS NULL AND x = 'NaN' THEN k := ");
	if (table->missing_index >= 0)
		sql_append(out, "%ld", table->missing_index);
	else
		sql_append(out, "NULL");
	if (table->numeric)
	{
		sql_append(out, ";\n    ELSIF s IS NOT NULL THEN k := NULL;\n"
				   "    ELSE k := array_position('{");
		for (size_t i = 0; i < table->count; i++)
			sql_append(out, "%s%.17g", i ? "," : "", table->numbers[i]);
		sql_append(out, "}'::float8[], x) - 1;\n    END IF;\n");
		return;
	}
	sql_append(out, ";\n    ELSIF s IS NULL THEN k := NULL;\n    ELSE k := (");
	sql_category_map(out, table, 0, false);
	sql_append(out, " ->> s)::integer;\n    END IF;\n");
}

static void
emit_unknown(codegen *cg, const block *blk, const step *st)
{
	sql_buffer *out = cg->out;

	if (!st->unknown_is_error)
		return;
	sql_append(out, "    IF k IS NULL THEN PERFORM %s.fail(", cg->helpers);
	column_label(cg, blk->column);
	sql_append(out, " || ': unknown category ' || %s.shown(s, x) || "
			   "' (the encoder''s handle_unknown is \"error\")'); END IF;\n", cg->helpers);
}

/*
 * The last double in [lo, hi] (positive, ordered like their bit patterns)
 * for which pred holds, pred holding at lo and not at hi: where the libm
 * function behind a PostgreSQL one starts to overflow or underflow, which
 * PostgreSQL raises as an error where C returns the limit.
 */
static double
last_true(bool (*pred) (double x, double param), double param, double lo, double hi)
{
	uint64_t	a;
	uint64_t	b;

	memcpy(&a, &lo, sizeof(a));
	memcpy(&b, &hi, sizeof(b));
	while (b - a > 1)
	{
		uint64_t	mid = a + (b - a) / 2;
		double		x;

		memcpy(&x, &mid, sizeof(x));
		if (pred(x, param))
			a = mid;
		else
			b = mid;
	}
	memcpy(&lo, &a, sizeof(lo));
	return lo;
}

/* sign * x is exact: sign -1 searches the negative numbers */
static bool
exp_finite(double x, double sign)
{
	return isfinite(exp(sign * x));
}

static bool
exp_nonzero(double x, double sign)
{
	return exp(sign * x) != 0;
}

static bool
pow_finite(double x, double e)
{
	return isfinite(pow(x, e));
}

static bool
pow_nonzero(double x, double e)
{
	return pow(x, e) != 0;
}

/* x := exp(x), with C's infinity and 0 where PostgreSQL raises. */
static void
emit_exp(codegen *cg)
{
	/* PostgreSQL orders NaN above every number */
	sql_append(cg->out, "  x := CASE WHEN x = 'NaN' THEN x WHEN x > ");
	sql_number(cg->out, last_true(exp_finite, 1.0, 1.0, 1000.0));
	sql_append(cg->out, " THEN 'Infinity'::float8 WHEN x < ");
	sql_number(cg->out, -last_true(exp_nonzero, -1.0, 1.0, 1000.0));
	sql_append(cg->out, " THEN 0.0::float8 ELSE exp(x) END;\n");
}

/*
 * t := power(t, e) for t >= 1 (or NaN), with C's infinity or 0 where the
 * result overflows or underflows and PostgreSQL raises.
 */
static void
emit_power_from_one(codegen *cg, double e)
{
	double		limit = e > 0 ? last_true(pow_finite, e, 1.0, INFINITY) :
		last_true(pow_nonzero, e, 1.0, INFINITY);

	sql_append(cg->out, "  t := CASE WHEN t > ");
	sql_number(cg->out, limit);
	sql_append(cg->out, " AND t <> 'NaN' THEN %s ELSE power(t, ",
			   e > 0 ? "'Infinity'::float8" : "0.0::float8");
	sql_number(cg->out, e);
	sql_append(cg->out, ") END;\n");
}

/* numpy's ufunc of a function step (apply_function in score.c). */
static void
emit_function(codegen *cg, const block *blk, const step *st)
{
	sql_buffer *out = cg->out;

	if (st->missing_is_error)
	{
		sql_append(out, "  IF x = 'NaN' THEN ");
		emit_fail(cg, blk->column, "missing value (FunctionTransformer(validate=True) refuses NaN)");
		sql_append(out, " END IF;\n");
	}
	switch (st->function)
	{
		case FUNCTION_LOG:
			/* C's log(0) is -inf and log(x < 0) NaN; PostgreSQL raises */
			sql_append(out, "  x := CASE WHEN x = 0 THEN '-Infinity'::float8 "
					   "WHEN x < 0 THEN 'NaN'::float8 ELSE ln(x) END;\n");
			break;
		case FUNCTION_SQRT:
			sql_append(out, "  x := CASE WHEN x < 0 THEN 'NaN'::float8 ELSE sqrt(x) END;\n");
			break;
		case FUNCTION_EXP:
			emit_exp(cg);
			break;
		case FUNCTION_ABS:
			sql_append(out, "  x := abs(x);\n");
			break;
		case FUNCTION_IDENTITY:
			break;
		case FUNCTION_LOG1P:
		case FUNCTION_EXPM1:
			/* refused by sql_supported_steps */
			out->failed = true;
			break;
	}
}

/* PowerTransformer's Yeo-Johnson (yeo_johnson in score.c), lambda not 0 or 2. */
static void
emit_yeo_johnson(codegen *cg, double lambda)
{
	sql_buffer *out = cg->out;

	/* PostgreSQL orders NaN above every number: it must take the second branch */
	sql_append(out, "  IF x >= 0 AND x <> 'NaN' THEN\n  t := x + 1.0::float8;\n");
	emit_power_from_one(cg, lambda);
	sql_append(out, "  t := t - 1.0::float8;\n  x := ");
	sql_safe_op(out, cg->helpers, "t", '/', lambda);
	sql_append(out, ";\n  ELSE\n  t := -x + 1.0::float8;\n");
	emit_power_from_one(cg, 2 - lambda);
	sql_append(out, "  t := -(t - 1.0::float8);\n  x := ");
	sql_safe_op(out, cg->helpers, "t", '/', 2 - lambda);
	sql_append(out, ";\n  END IF;\n");
}

/*
 * KBinsDiscretizer's bin (count_edges_at_or_below in score.c): PostgreSQL's
 * width_bucket over sorted thresholds counts those <= x by the same
 * bisection.
 */
static void
emit_kbins(codegen *cg, const block *blk, const step *st)
{
	sql_buffer *out = cg->out;

	sql_append(out, "  IF x = 'NaN' THEN ");
	emit_fail(cg, blk->column, "missing value (KBinsDiscretizer refuses NaN)");
	sql_append(out, " END IF;\n");
	if (st->npoints == 0)
	{
		sql_append(out, "  x := 0.0::float8;\n");
		return;
	}
	sql_append(out, "  x := width_bucket(x, '{");
	for (size_t i = 0; i < st->npoints; i++)
		sql_append(out, "%s%.17g", i ? "," : "", st->points[i]);
	sql_append(out, "}'::float8[])::float8;\n");
}

/* k := its output index before the drop, infrequent categories grouped. */
static void
emit_infrequent(codegen *cg, const step *st)
{
	sql_buffer *out = cg->out;
	size_t		total = st->table->count + (st->table->missing_index >= 0 ? 1 : 0);

	if (st->groups == NULL)
		return;
	sql_append(out, "    IF k IS NULL THEN k := ");
	if (st->unknown_infrequent)
		sql_append(out, "%ld", st->infrequent_index);
	else
		sql_append(out, "NULL");
	sql_append(out, "; ELSE k := ('{");
	for (size_t i = 0; i < total; i++)
		sql_append(out, "%s%u", i ? "," : "", st->groups[i]);
	sql_append(out, "}'::integer[])[k + 1]; END IF;\n");
}

/*
 * The interpolation's arithmetic stays clear of PostgreSQL's overflow and
 * underflow errors when the quantiles are within 1e290 and distinct ones at
 * least 1e-290 apart: slopes are then below 1e290 and each product below 1.
 */
static bool
quantile_in_range(const step *st)
{
	for (size_t i = 0; i < st->npoints; i++)
	{
		if (fabs(st->points[i]) > 1e290)
			return false;
		if (i > 0 && st->points[i] != st->points[i - 1] &&
			st->points[i] - st->points[i - 1] < 1e-290)
			return false;
	}
	return true;
}

static void
emit_float_array(codegen *cg, const double *values, size_t n, bool negated_reversed)
{
	sql_append(cg->out, "'{");
	for (size_t i = 0; i < n; i++)
		sql_append(cg->out, "%s%.17g", i ? "," : "",
				   negated_reversed ? -values[n - 1 - i] : values[i]);
	sql_append(cg->out, "}'::float8[]");
}

/*
 * var := np.interp(qt, xp, fp) (interp in score.c): the last point <= qt by
 * bisection, then numpy's slope formula. Arrays are 1-based in SQL.
 */
static void
emit_interp(codegen *cg, const step *st, bool negated, const char *var)
{
	sql_buffer *out = cg->out;
	size_t		n = st->npoints;

	sql_append(out, "  qx := ");
	emit_float_array(cg, st->points, n, negated);
	sql_append(out, ";\n  qf := ");
	emit_float_array(cg, st->levels, n, negated);
	sql_append(out, ";\n  IF qt > qx[%zu] THEN %s := qf[%zu];\n"
			   "  ELSIF qt < qx[1] THEN %s := qf[1];\n  ELSE\n"
			   "    qlo := 0; qhi := %zu;\n"
			   "    WHILE qlo < qhi LOOP qmid := qlo + (qhi - qlo) / 2;"
			   " IF qt >= qx[qmid + 1] THEN qlo := qmid + 1; ELSE qhi := qmid; END IF; END LOOP;\n"
			   "    IF qlo = %zu OR qx[qlo] = qt THEN %s := qf[qlo];\n    ELSE\n"
			   "      qs := (qf[qlo + 1] - qf[qlo]) / (qx[qlo + 1] - qx[qlo]);\n"
			   "      qc := qt - qx[qlo];\n"
			   "      qc := CASE WHEN abs(qc) < 1e-200 THEN %s.tiny_product(qc, qs) ELSE qc * qs END;\n"
			   "      %s := qc + qf[qlo];\n    END IF;\n  END IF;\n",
			   n, var, n, var, n, n, var, cg->helpers, var);
}

/*
 * Horner's rule as an expression in z, as Cephes evaluates it: polevl,
 * c[0] z^n + ... + c[n]; or, when monic, p1evl, z^n + c[0] z^(n-1) + ... +
 * c[n-1] (its leading 1 not stored).
 */
static void
emit_polynomial(codegen *cg, const char *z, const double *c, int n, bool monic)
{
	for (int i = 0; i < n; i++)
		sql_append(cg->out, "(");
	if (monic)
	{
		sql_append(cg->out, "%s + ", z);
		sql_number(cg->out, c[0]);
		sql_append(cg->out, ")");
	}
	else
		sql_number(cg->out, c[0]);
	for (int i = 1; i < (monic ? n : n + 1); i++)
	{
		sql_append(cg->out, " * %s + ", z);
		sql_number(cg->out, c[i]);
		sql_append(cg->out, ")");
	}
}

/* x := scipy.stats.norm.ppf(x) (norm_ppf and cephes_ndtri in the core). */
static void
emit_norm_ppf(codegen *cg)
{
	static const double expm2 = 0.13533528323661269189;
	sql_buffer *out = cg->out;
	const double *const *p;
	const double *const *q;

	cephes_ndtri_coefficients(&p, &q);
	sql_append(out, "  IF x = 0 THEN x := '-Infinity'::float8;\n"
			   "  ELSIF x = 1 THEN x := 'Infinity'::float8;\n"
			   "  ELSIF x > 0 AND x < 1 AND x <> 'NaN' THEN\n"
			   "    qlower := true; qy := x;\n    IF qy > ");
	sql_number(out, 1.0 - expm2);
	sql_append(out, " THEN qy := 1.0::float8 - qy; qlower := false; END IF;\n    IF qy > ");
	sql_number(out, expm2);
	sql_append(out, " THEN\n      qy := qy - 0.5::float8; qz := qy * qy;\n      x := (qy + qy * (qz * ");
	emit_polynomial(cg, "qz", p[0], 4, false);
	sql_append(out, " / ");
	emit_polynomial(cg, "qz", q[0], 8, true);
	sql_append(out, ")) * ");
	sql_number(out, 2.50662827463100050242E0);
	sql_append(out, ";\n    ELSE\n      qz := sqrt(-2.0::float8 * ln(qy));\n"
			   "      qa := qz - ln(qz) / qz;\n      qb := 1.0::float8 / qz;\n"
			   "      IF qz < 8.0 THEN qc := qb * ");
	emit_polynomial(cg, "qb", p[1], 8, false);
	sql_append(out, " / ");
	emit_polynomial(cg, "qb", q[1], 8, true);
	sql_append(out, "; ELSE qc := qb * ");
	emit_polynomial(cg, "qb", p[2], 8, false);
	sql_append(out, " / ");
	emit_polynomial(cg, "qb", q[2], 8, true);
	sql_append(out, "; END IF;\n      x := qa - qc;\n      IF qlower THEN x := -x; END IF;\n"
			   "    END IF;\n    x := x * 1.0::float8 + 0.0::float8;\n"
			   "  ELSE x := 'NaN'::float8;\n  END IF;\n");
}

/*
 * PowerTransformer's Box-Cox (box_cox in score.c): scipy's boxcox with
 * Cephes' expm1, whose rational branch is plain arithmetic here too.
 */
static void
emit_box_cox(codegen *cg, const block *blk, double lambda)
{
	static const double p[3] = {
		1.2617719307481059087798E-4, 3.0299440770744196129956E-2, 9.9999999999999999991025E-1,
	};
	static const double q[4] = {
		3.0019850513866445504159E-6, 2.5244834034968410419224E-3,
		2.2726554820815502876593E-1, 2.0000000000000000009029E0,
	};
	sql_buffer *out = cg->out;

	/* NaN passes: PostgreSQL orders it above 0 */
	sql_append(out, "  IF x <= 0 THEN ");
	emit_fail(cg, blk->column, "value is not positive (the Box-Cox transformation needs strictly positive data)");
	sql_append(out, " END IF;\n  IF x <> 'NaN' THEN\n  x := ln(x);\n");
	if (fabs(lambda) < 1e-19)
	{
		sql_append(out, "  END IF;\n");
		return;
	}
	sql_append(out, "  x := ");
	sql_safe_op(out, cg->helpers, "x", '*', lambda);
	sql_append(out, ";\n  IF x < -0.5 OR x > 0.5 THEN\n");
	emit_exp(cg);
	sql_append(out, "  x := x - 1.0::float8;\n  ELSE\n  qz := x * x;\n  qa := x * ");
	emit_polynomial(cg, "qz", p, 2, false);
	sql_append(out, ";\n  qa := qa / (");
	emit_polynomial(cg, "qz", q, 3, false);
	sql_append(out, " - qa);\n  x := qa + qa;\n  END IF;\n  x := ");
	sql_safe_op(out, cg->helpers, "x", '/', lambda);
	sql_append(out, ";\n  END IF;\n");
}

/* QuantileTransformer forward (quantile_transform in score.c). */
static void
emit_quantile(codegen *cg, const step *st)
{
	sql_buffer *out = cg->out;
	size_t		n = st->npoints;

	/* PostgreSQL orders NaN above every number: NaN is neither bound */
	if (st->normal_output)
	{
		sql_append(out, "  qdown := x <> 'NaN' AND x - 1e-7::float8 < ");
		sql_number(out, st->points[0]);
		sql_append(out, ";\n  qup := x <> 'NaN' AND x + 1e-7::float8 > ");
		sql_number(out, st->points[n - 1]);
	}
	else
	{
		sql_append(out, "  qdown := x = ");
		sql_number(out, st->points[0]);
		sql_append(out, ";\n  qup := x = ");
		sql_number(out, st->points[n - 1]);
	}
	sql_append(out, ";\n  IF x <> 'NaN' THEN\n  qt := x;\n");
	emit_interp(cg, st, false, "qa");
	sql_append(out, "  qt := -x;\n");
	emit_interp(cg, st, true, "qb");
	sql_append(out, "  t := qa - qb;\n  x := ");
	sql_safe_op(out, cg->helpers, "t", '*', 0.5);
	sql_append(out, ";\n  END IF;\n  IF qup THEN x := 1.0::float8; END IF;\n"
			   "  IF qdown THEN x := 0.0::float8; END IF;\n");
	if (!st->normal_output)
		return;
	emit_norm_ppf(cg);
	sql_append(out, "  IF x < ");
	sql_number(out, st->lo);
	sql_append(out, " THEN x := ");
	sql_number(out, st->lo);
	sql_append(out, "; END IF;\n  IF x > ");
	sql_number(out, st->hi);
	sql_append(out, " AND x <> 'NaN' THEN x := ");
	sql_number(out, st->hi);
	sql_append(out, "; END IF;\n");
}

/* The block's scalar steps on (s, x); a one-hot block ends with hot set. */
static void
emit_steps(codegen *cg, const block *blk)
{
	const predict_model *model = cg->model;
	sql_buffer *out = cg->out;
	const step *st = &model->steps[blk->first_step];

	sql_append(out, "  s := c%u_s; x := c%u_x;\n", blk->column, blk->column);
	for (uint32_t i = 0; i < blk->nsteps; i++, st++)
	{
		if (st->numeric_input)
		{
			sql_append(out, "  IF x = 'Infinity' OR x = '-Infinity' THEN ");
			emit_fail(cg, blk->column, "value is infinite");
			sql_append(out, " END IF;\n");
		}
		switch (st->type)
		{
			case STEP_IMPUTE:
				sql_append(out, "  IF s IS NULL AND x = 'NaN' THEN ");
				if (st->string != NULL)
				{
					sql_append(out, "s := ");
					sql_string(out, st->string, st->string_length);
				}
				else
				{
					sql_append(out, "x := ");
					sql_number(out, st->a);
				}
				sql_append(out, "; END IF;\n");
				break;
			case STEP_INDICATOR:
				sql_append(out, "  x := CASE WHEN s IS NULL AND x = 'NaN' THEN 1.0::float8 ELSE 0.0::float8 END; s := NULL;\n");
				break;
			case STEP_STANDARDIZE:
				if (st->has_center)
				{
					sql_append(out, "  x := ");
					sql_safe_op(out, cg->helpers, "x", '-', st->a);
					sql_append(out, ";\n");
				}
				if (st->has_scale)
				{
					sql_append(out, "  x := ");
					sql_safe_op(out, cg->helpers, "x", '/', st->b);
					sql_append(out, ";\n");
				}
				break;
			case STEP_MULTIPLY:
				sql_append(out, "  x := ");
				sql_safe_op(out, cg->helpers, "x", '*', st->a);
				sql_append(out, ";\n");
				break;
			case STEP_MIN_MAX:
				sql_append(out, "  x := ");
				sql_safe_op(out, cg->helpers, "x", '*', st->a);
				sql_append(out, ";\n  x := ");
				sql_safe_op(out, cg->helpers, "x", '+', st->b);
				sql_append(out, ";\n");
				if (st->has_clip)
				{
					/* np.clip keeps NaN; PostgreSQL orders NaN above everything */
					sql_append(out, "  IF x <> 'NaN' THEN IF x < ");
					sql_number(out, st->lo);
					sql_append(out, " THEN x := ");
					sql_number(out, st->lo);
					sql_append(out, "; END IF; IF x > ");
					sql_number(out, st->hi);
					sql_append(out, " THEN x := ");
					sql_number(out, st->hi);
					sql_append(out, "; END IF; END IF;\n");
				}
				break;
			case STEP_ONE_HOT:
				sql_append(out, "  BEGIN\n");
				emit_category_lookup(cg, st->table);
				emit_unknown(cg, blk, st);
				emit_infrequent(cg, st);
				sql_append(out, "    hot := CASE WHEN k IS NULL OR k = %ld THEN -1", st->drop);
				if (st->drop >= 0)
					sql_append(out, " WHEN k > %ld THEN k - 1", st->drop);
				sql_append(out, " ELSE k END;\n  END;\n");
				break;
			case STEP_ORDINAL:
				sql_append(out, "  BEGIN\n");
				emit_category_lookup(cg, st->table);
				emit_unknown(cg, blk, st);
				sql_append(out, "    x := CASE WHEN k IS NULL THEN ");
				sql_number(out, st->b);
				if (st->table->missing_index >= 0)
				{
					sql_append(out, " WHEN k = %ld THEN ", st->table->missing_index);
					sql_number(out, st->lo);
				}
				sql_append(out, " ELSE k::float8 END; s := NULL;\n  END;\n");
				break;
			case STEP_FUNCTION:
				emit_function(cg, blk, st);
				break;
			case STEP_POWER:
				if (st->method == POWER_BOX_COX)
					emit_box_cox(cg, blk, st->a);
				else
					emit_yeo_johnson(cg, st->a);
				break;
			case STEP_QUANTILE:
				emit_quantile(cg, st);
				break;
			case STEP_KBINS:
				emit_kbins(cg, blk, st);
				break;
		}
	}
}

/* check_feature: a width-1 block's value as the estimator checks it. */
static void
emit_check_feature(codegen *cg, const block *blk)
{
	sql_append(cg->out, "  IF x = 'NaN' THEN ");
	emit_fail(cg, blk->column, "missing value reaches the estimator (no imputer for this column)");
	sql_append(cg->out, " ELSIF x = 'Infinity' OR x = '-Infinity' THEN ");
	emit_fail(cg, blk->column, "value is infinite");
	sql_append(cg->out, " END IF;\n");
}

static void
emit_read_and_steps(codegen *cg, size_t b)
{
	const block *blk = &cg->model->blocks[b];

	{
		char		name[300];

		/* quoted: a raw name could end the comment with a newline */
		predict_quote(name, sizeof(name), cg->model->columns[blk->column].name,
					  cg->model->columns[blk->column].name_length);
		sql_append(cg->out, "  -- block %zu: column %s\n", b, name);
	}
	if (cg->read_at[b])
		emit_read_column(cg, blk->column, true);
	emit_steps(cg, blk);
}

/* ---------- the feature stage ("transforms", stage.h) ---------- */

/* PERFORM fail('feature "name": message'), the core's message for entry i. */
static void
emit_feature_fail(codegen *cg, uint32_t i, const char *format, const char *path)
{
	char		label[320];
	char		message[PREDICT_ERROR_SIZE];
	char		text[PREDICT_ERROR_SIZE + 330];

	stage_feature_label(cg->model->stage, i, label, sizeof(label));
	snprintf(message, sizeof(message), format, path);
	snprintf(text, sizeof(text), "%s: %s", label, message);
	sql_append(cg->out, "PERFORM %s.fail(", cg->helpers);
	sql_string(cg->out, text, strlen(text));
	sql_append(cg->out, ");");
}

/* Every block's outputs into w<first_feature + j>, as fill_block_features does. */
static void
emit_stage_blocks(codegen *cg)
{
	const predict_model *model = cg->model;
	sql_buffer *out = cg->out;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];

		emit_read_and_steps(cg, b);
		if (!blk->one_hot)
		{
			sql_append(out, "  w%u := x;\n", blk->first_feature);
			continue;
		}
		for (uint32_t j = 0; j < blk->width; j++)
		{
			sql_append(out, "  w%u := CASE WHEN hot = %u THEN ", blk->first_feature + j, j);
			sql_number(out, blk->on_values[j]);
			sql_append(out, " ELSE ");
			sql_number(out, blk->off_values[j]);
			sql_append(out, " END;\n");
		}
	}
}

/* check_input: the transform's whole input, as the core checks it. */
static void
emit_stage_check(codegen *cg, const transform *op)
{
	sql_buffer *out = cg->out;

	if (op->check == CHECK_NONE)
		return;
	for (uint32_t i = op->in; i < op->in + op->nin; i++)
	{
		if (op->check == CHECK_FINITE)
		{
			sql_append(out, "  IF w%u = 'NaN' THEN ", i);
			emit_feature_fail(cg, i, "missing value reaches %s, which refuses NaN", op->path);
			sql_append(out, " ELSIF w%u IN ('Infinity', '-Infinity') THEN ", i);
		}
		else
			sql_append(out, "  IF w%u IN ('Infinity', '-Infinity') THEN ", i);
		emit_feature_fail(cg, i, "value is infinite (%s refuses infinity)", op->path);
		sql_append(out, " END IF;\n");
	}
}

/*
 * "target := a * b" for two variables with C's result where PostgreSQL's
 * checked product raises: operands far from 1 are first scaled by 2^-600 or
 * 2^600 (exact), their product p cannot overflow or underflow, and p is
 * scaled back with C's overflow to infinity and underflow to zero. (A
 * subnormal result is rounded twice, which can differ from C's by the last
 * subnormal step, as with the tiny_* helpers.)
 */
static void
emit_product(codegen *cg, const char *target, const char *a, const char *b)
{
	sql_buffer *out = cg->out;

	sql_append(out,
			   "  IF abs(%s) BETWEEN 1e-150 AND 1e150 AND abs(%s) BETWEEN 1e-150 AND 1e150 "
			   "OR %s = 0 OR %s = 0 OR %s = 'NaN' OR %s = 'NaN' OR %s IN ('Infinity', '-Infinity') "
			   "OR %s IN ('Infinity', '-Infinity') THEN\n    %s := %s * %s;\n  ELSE\n",
			   a, b, a, b, a, b, a, b, target, a, b);
	sql_append(out,
			   "    sa := CASE WHEN abs(%s) < 1e-150 THEN 600 WHEN abs(%s) > 1e150 THEN -600 ELSE 0 END;\n"
			   "    sb := CASE WHEN abs(%s) < 1e-150 THEN 600 WHEN abs(%s) > 1e150 THEN -600 ELSE 0 END;\n",
			   a, a, b, b);
	sql_append(out,
			   "    p := (%s * CASE sa WHEN 600 THEN 4.149515568880993e+180::float8 WHEN -600 THEN 2.409919865102884e-181::float8 ELSE 1.0::float8 END)\n"
			   "      * (%s * CASE sb WHEN 600 THEN 4.149515568880993e+180::float8 WHEN -600 THEN 2.409919865102884e-181::float8 ELSE 1.0::float8 END);\n",
			   a, b);
	/* the product is p * 2^-(sa + sb) */
	sql_append(out,
			   "    %s := CASE sa + sb\n"
			   "      WHEN 0 THEN p\n"
			   "      WHEN -600 THEN CASE WHEN abs(p) >= 4.332296397063773e+127::float8 THEN sign(p) * 'Infinity'::float8 ELSE p * 4.149515568880993e+180::float8 END\n"
			   "      WHEN -1200 THEN CASE WHEN abs(p) >= 1.044048714879764e-53::float8 THEN sign(p) * 'Infinity'::float8 ELSE (p * 4.149515568880993e+180::float8) * 4.149515568880993e+180::float8 END\n"
			   "      WHEN 600 THEN CASE WHEN abs(p) <= 1.0250665447337477e-143::float8 THEN p * 0.0::float8 ELSE p * 2.409919865102884e-181::float8 END\n"
			   "      ELSE CASE WHEN abs(p) <= 4.253529586511731e+37::float8 THEN p * 0.0::float8 ELSE (p * 2.409919865102884e-181::float8) * 2.409919865102884e-181::float8 END\n"
			   "    END;\n  END IF;\n", target);
}

static void
emit_polynomial_features(codegen *cg, const transform *op)
{
	sql_buffer *out = cg->out;

	for (uint32_t j = 0; j < op->nout; j++)
	{
		uint32_t	first = op->term_start[j];
		uint32_t	k = op->term_start[j + 1];
		char		target[32];
		char		factor[32];

		snprintf(target, sizeof(target), "w%u", op->out + j);
		if (k == first)
		{
			sql_append(out, "  %s := 1.0::float8;\n", target);
			continue;
		}
		sql_append(out, "  %s := w%u;\n", target, op->in + op->index[--k]);
		while (k > first)
		{
			snprintf(factor, sizeof(factor), "w%u", op->in + op->index[--k]);
			emit_product(cg, target, target, factor);
		}
	}
}

static void
emit_elementwise(codegen *cg, const transform *op)
{
	sql_buffer *out = cg->out;

	for (uint32_t i = 0; i < op->nin; i++)
	{
		char		v[32];

		snprintf(v, sizeof(v), "w%u", op->out + i);
		sql_append(out, "  %s := w%u;\n", v, op->in + i);
		switch (op->type)
		{
			case TRANSFORM_STANDARDIZE:
				if (op->a)
				{
					sql_append(out, "  %s := ", v);
					sql_safe_op(out, cg->helpers, v, '-', op->a[i]);
					sql_append(out, ";\n");
				}
				if (op->b)
				{
					sql_append(out, "  %s := ", v);
					sql_safe_op(out, cg->helpers, v, '/', op->b[i]);
					sql_append(out, ";\n");
				}
				break;
			case TRANSFORM_MULTIPLY:
			case TRANSFORM_MIN_MAX:
				sql_append(out, "  %s := ", v);
				sql_safe_op(out, cg->helpers, v, '*', op->a[i]);
				sql_append(out, ";\n");
				if (op->type == TRANSFORM_MULTIPLY)
					break;
				sql_append(out, "  %s := ", v);
				sql_safe_op(out, cg->helpers, v, '+', op->b[i]);
				sql_append(out, ";\n");
				if (op->has_clip)
				{
					/* np.clip keeps NaN; PostgreSQL orders NaN above everything */
					sql_append(out, "  IF %s <> 'NaN' THEN IF %s < ", v, v);
					sql_number(out, op->lo);
					sql_append(out, " THEN %s := ", v);
					sql_number(out, op->lo);
					sql_append(out, "; END IF; IF %s > ", v);
					sql_number(out, op->hi);
					sql_append(out, " THEN %s := ", v);
					sql_number(out, op->hi);
					sql_append(out, "; END IF; END IF;\n");
				}
				break;
			default:
				break;
		}
	}
}

static void
emit_linear(codegen *cg, const transform *op)
{
	sql_buffer *out = cg->out;

	for (uint32_t j = 0; j < op->nout; j++)
	{
		sql_append(out, "  acc := 0.0::float8;\n");
		for (uint32_t i = 0; i < op->nin; i++)
		{
			char		v[32];

			snprintf(v, sizeof(v), "w%u", op->in + i);
			sql_append(out, "  t := %s;\n", v);
			if (op->a)
			{
				sql_append(out, "  t := ");
				sql_safe_op(out, cg->helpers, "t", '-', op->a[i]);
				sql_append(out, ";\n");
			}
			sql_append(out, "  t := ");
			sql_safe_op(out, cg->helpers, "t", '*', op->matrix[(size_t) j * op->nin + i]);
			sql_append(out, ";\n  ");
			sql_safe_sum(out, cg->helpers, "acc", "t");
		}
		if (op->b)
		{
			sql_append(out, "  acc := ");
			sql_safe_op(out, cg->helpers, "acc", '/', op->b[j]);
			sql_append(out, ";\n");
		}
		sql_append(out, "  w%u := acc;\n", op->out + j);
	}
}

static void
emit_normalize(codegen *cg, const transform *op)
{
	sql_buffer *out = cg->out;

	sql_append(out, "  nrm := 0.0::float8;\n");
	for (uint32_t i = op->in; i < op->in + op->nin; i++)
	{
		if (op->norm == NORM_L1)
		{
			sql_append(out, "  t := abs(w%u);\n  ", i);
			sql_safe_sum(out, cg->helpers, "nrm", "t");
		}
		else if (op->norm == NORM_L2)
		{
			char		v[32];

			snprintf(v, sizeof(v), "w%u", i);
			emit_product(cg, "t", v, v);
			sql_append(out, "  ");
			sql_safe_sum(out, cg->helpers, "nrm", "t");
		}
		else
			sql_append(out, "  IF abs(w%u) > nrm AND w%u <> 'NaN' THEN nrm := abs(w%u); END IF;\n", i, i, i);
	}
	if (op->norm == NORM_L2)
		sql_append(out, "  nrm := sqrt(nrm);\n");
	sql_append(out, "  IF nrm < ");
	sql_number(out, op->zero_below);
	sql_append(out, " OR nrm = 0 THEN nrm := 1.0::float8; END IF;\n");
	/* |x| <= nrm: the quotient cannot overflow, but can underflow */
	for (uint32_t i = 0; i < op->nin; i++)
		sql_append(out, "  w%u := CASE WHEN nrm = 'Infinity' THEN w%u * 0.0::float8 "
				   "WHEN w%u = 0 OR abs(w%u) >= 1e-290 THEN w%u / nrm "
				   "ELSE %s.tiny_quotient(w%u, nrm) END;\n",
				   op->out + i, op->in + i, op->in + i, op->in + i, op->in + i, cg->helpers,
				   op->in + i);
}

/* One de Boor evaluation (scipy's _deBoor_D, m = 0) at sx in interval ell, into h0 .. h<k>. */
static void
emit_de_boor(codegen *cg, const double *t, uint32_t k, uint32_t ell)
{
	sql_buffer *out = cg->out;

	sql_append(out, "      h0 := 1.0::float8;\n");
	for (uint32_t j = 1; j <= k; j++)
	{
		for (uint32_t i = 0; i < j; i++)
			sql_append(out, "      hh%u := h%u;\n", i, i);
		sql_append(out, "      h0 := 0.0::float8;\n");
		for (uint32_t n = 1; n <= j; n++)
		{
			double		xb = t[ell + n];
			double		xa = t[ell + n - j];
			char		hh[16];
			char		h[16];

			if (xb == xa)
			{
				sql_append(out, "      h%u := 0.0::float8;\n", n);
				continue;
			}
			snprintf(hh, sizeof(hh), "hh%u", n - 1);
			sql_append(out, "      sw := ");
			sql_safe_op(out, cg->helpers, hh, '/', xb - xa);
			/* xb - x is exactly -(x - xb) */
			sql_append(out, ";\n      st := -(");
			sql_safe_op(out, cg->helpers, "sx", '-', xb);
			sql_append(out, ");\n");
			emit_product(cg, "sp", "sw", "st");
			snprintf(h, sizeof(h), "h%u", n - 1);
			sql_append(out, "  ");
			sql_safe_sum(out, cg->helpers, h, "sp");
			sql_append(out, "      st := ");
			sql_safe_op(out, cg->helpers, "sx", '-', xa);
			sql_append(out, ";\n");
			snprintf(h, sizeof(h), "h%u", n);
			emit_product(cg, h, "sw", "st");
		}
	}
}

/* spline_feature for input feature i: its de Boor code per interval, then the extrapolation. */
static void
emit_spline_feature(codegen *cg, const transform *op, uint32_t i)
{
	sql_buffer *out = cg->out;
	const double *t = op->a + (size_t) i * op->nknots;
	uint32_t	k = op->degree;
	uint32_t	n = op->nknots - k - 1;
	uint32_t	width = op->nsplines - !op->include_bias;
	uint32_t	first = op->out + i * width;
	bool		extrapolate = op->extrapolation == SPLINE_CONTINUE;

	sql_append(out, "  sx := w%u;\n", op->in + i);
	if (extrapolate)
		sql_append(out, "  IF true THEN\n");
	else
	{
		sql_append(out, "  IF sx >= ");
		sql_number(out, t[k]);
		sql_append(out, " AND sx <= ");
		sql_number(out, t[n]);
		sql_append(out, " THEN\n");
	}
	/* find_interval: the last l in [k, n - 1] with t[l] <= sx */
	sql_append(out, "    ell := CASE");
	for (uint32_t l = n - 1; l > k; l--)
	{
		sql_append(out, " WHEN sx >= ");
		sql_number(out, t[l]);
		sql_append(out, " THEN %u", l);
	}
	sql_append(out, " ELSE %u END;\n    CASE ell\n", k);
	for (uint32_t l = k; l < n; l++)
	{
		sql_append(out, "    WHEN %u THEN\n", l);
		emit_de_boor(cg, t, k, l);
		for (uint32_t j = 0; j < width; j++)
		{
			sql_append(out, "      acc := 0.0::float8;\n");
			for (uint32_t a = 0; a <= k; a++)
			{
				sql_append(out, "      st := %s * h%u;\n  ",
						   ((size_t) l + a - k) % op->nsplines == j ? "1.0::float8" : "0.0::float8", a);
				sql_safe_sum(out, cg->helpers, "acc", "st");
			}
			sql_append(out, "      w%u := acc;\n", first + j);
		}
	}
	sql_append(out, "    END CASE;\n  ELSE\n");
	if (op->extrapolation == SPLINE_ERROR)
	{
		sql_append(out, "    ");
		emit_feature_fail(cg, op->in + i, "value beyond the knots of %s (extrapolation \"error\")",
						  op->path);
		sql_append(out, "\n  END IF;\n");
		return;
	}
	for (int below = 1; below >= 0; below--)
	{
		double		edge = below ? t[k] : t[n];

		sql_append(out, below ? "    IF sx < " : "    ELSE\n");
		if (below)
		{
			sql_number(out, t[k]);
			sql_append(out, " THEN\n");
		}
		for (uint32_t j = 0; j < width; j++)
		{
			bool		kept = below ? j < k : j >= op->nsplines - k;
			double		f = kept ? spline_basis_at(op, t, edge, 0, j) : 0.0;

			sql_append(out, "      w%u := ", first + j);
			if (!kept || op->extrapolation == SPLINE_CONSTANT)
			{
				sql_number(out, f);
				sql_append(out, ";\n");
				continue;
			}
			/* linear: f + (x - edge) * slope */
			sql_safe_op(out, cg->helpers, "sx", '-', edge);
			sql_append(out, ";\n      w%u := ", first + j);
			{
				char		v[32];

				snprintf(v, sizeof(v), "w%u", first + j);
				sql_safe_op(out, cg->helpers, v, '*', spline_basis_at(op, t, edge, 1, j));
				sql_append(out, ";\n      w%u := ", first + j);
				sql_safe_op(out, cg->helpers, v, '+', f);
			}
			sql_append(out, ";\n");
		}
	}
	sql_append(out, "    END IF;\n  END IF;\n");
}

static void
emit_stage(codegen *cg)
{
	const feature_stage *stage = cg->model->stage;
	sql_buffer *out = cg->out;

	emit_stage_blocks(cg);
	for (size_t t = 0; t < stage->ntransforms; t++)
	{
		const transform *op = &stage->transforms[t];

		sql_append(out, "  -- %s\n", op->path);
		emit_stage_check(cg, op);
		switch (op->type)
		{
			case TRANSFORM_SELECT:
				for (uint32_t j = 0; j < op->nout; j++)
				{
					char		v[32];

					snprintf(v, sizeof(v), "w%u", op->index[j]);
					sql_append(out, "  w%u := ", op->out + j);
					if (op->a)
						sql_safe_op(out, cg->helpers, v, '*', op->a[j]);
					else
						sql_append(out, "%s", v);
					sql_append(out, ";\n");
				}
				break;
			case TRANSFORM_POLYNOMIAL:
				emit_polynomial_features(cg, op);
				break;
			case TRANSFORM_LINEAR:
				emit_linear(cg, op);
				break;
			case TRANSFORM_NORMALIZE:
				emit_normalize(cg, op);
				break;
			case TRANSFORM_STANDARDIZE:
			case TRANSFORM_MULTIPLY:
			case TRANSFORM_MIN_MAX:
				emit_elementwise(cg, op);
				break;
			case TRANSFORM_SPLINE:
				for (uint32_t i = 0; i < op->nin; i++)
					emit_spline_feature(cg, op, i);
				break;
		}
	}
}

/*
 * The transforms the SQL scorer does not compile: periodic splines, whose
 * float remainder PostgreSQL cannot compute exactly (float8 has no fmod).
 */
static bool
stage_compiles(const predict_model *model, predict_error *err)
{
	const feature_stage *stage = model->stage;

	for (size_t t = 0; stage != NULL && t < stage->ntransforms; t++)
		if (stage->transforms[t].type == TRANSFORM_SPLINE &&
			stage->transforms[t].extrapolation == SPLINE_PERIODIC)
		{
			predict_set_error(err, PREDICT_BAD_MODEL,
							  "%s is a periodic \"spline\" (SplineTransformer extrapolation=\"periodic\"), "
							  "which the SQL scorer does not compile; use the predict extension for this model",
							  stage->transforms[t].path);
			return false;
		}
	return true;
}

/* check_final_features: the estimator's check of the stage's output. */
static void
emit_stage_final_checks(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = &model->estimator;
	const feature_stage *stage = model->stage;
	sql_buffer *out = cg->out;
	bool		trees32 = est->type != ESTIMATOR_LOGISTIC_REGRESSION &&
		est->type != ESTIMATOR_HIST_GRADIENT_BOOSTING;

	if (est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING)
		return;
	for (uint32_t f = stage->final; f < stage->final + stage->nfinal; f++)
	{
		if (trees32 && est->missing_learned)
			sql_append(out, "  IF w%u = 'NaN' THEN NULL; ", f);
		else
		{
			sql_append(out, "  IF w%u = 'NaN' THEN ", f);
			emit_feature_fail(cg, f, "missing value reaches the estimator%s", "");
		}
		sql_append(out, " ELSIF w%u IN ('Infinity', '-Infinity') THEN ", f);
		emit_feature_fail(cg, f, "value is infinite%s", "");
		if (trees32)
		{
			/* (float) x overflows from FLT_MAX plus half an ulp up */
			sql_append(out, " ELSIF abs(w%u) >= ", f);
			sql_number(out, (double) FLT_MAX + ldexp(1.0, 103));
			sql_append(out, " THEN ");
			emit_feature_fail(cg, f, "value is too large for float32 (the trees compare float32 values)%s", "");
		}
		sql_append(out, " END IF;\n");
	}
}

/* The estimator's features after the stage: logistic regression's sum, the trees' slots. */
static void
emit_stage_estimator_input(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = &model->estimator;
	const feature_stage *stage = model->stage;
	sql_buffer *out = cg->out;

	emit_stage(cg);
	emit_stage_final_checks(cg);
	if (est->type != ESTIMATOR_LOGISTIC_REGRESSION)
	{
		for (uint32_t f = 0; f < stage->nfinal; f++)
			if (est->feature_slot[f] >= 0)
				sql_append(out, "  f%d := w%u;\n", est->feature_slot[f], stage->final + f);
		return;
	}
	for (uint32_t f = 0; f < stage->nfinal; f++)
	{
		char		v[32];

		snprintf(v, sizeof(v), "w%u", stage->final + f);
		sql_append(out, "  t := ");
		sql_safe_op(out, cg->helpers, v, '*', est->coef[f]);
		sql_append(out, ";\n  ");
		sql_safe_sum(out, cg->helpers, "d", "t");
	}
}

static void
emit_stage_declarations(codegen *cg)
{
	const feature_stage *stage = cg->model->stage;

	sql_append(cg->out, "  p float8;\n  sa integer;\n  sb integer;\n  acc float8;\n  nrm float8;\n"
			   "  sx float8;\n  sw float8;\n  st float8;\n  sp float8;\n  ell integer;\n");
	for (uint32_t i = 0; i <= MAX_SPLINE_DEGREE; i++)
		sql_append(cg->out, "  h%u float8;\n  hh%u float8;\n", i, i);
	for (uint32_t i = 0; i < stage->nwork; i++)
		sql_append(cg->out, "  w%u float8;\n", i);
}

/*
 * The probability from the decision d, and predict()'s class as predicted,
 * an expression that may read d (LogisticRegression's: d > 0).
 */
static void
emit_link(codegen *cg, const char *predicted)
{
	sql_buffer *out = cg->out;
	char		expr[128];

	if (cg->decision)
	{
		emit_result(cg, 2, "d", predicted, NULL);
		return;
	}
	if (cg->est->link == LINK_MODIFIED_HUBER)
	{
		/* d is not NaN here (PostgreSQL's NaN is above every number) */
		emit_result(cg, 2, "(CASE WHEN d < -1.0::float8 THEN -1.0::float8 "
					"WHEN d > 1.0::float8 THEN 1.0::float8 ELSE d END + 1.0::float8) / 2.0::float8",
					predicted, NULL);
		return;
	}
	if (cg->est->link == LINK_SOFTMAX)
	{
		/*
		 * exp(-2|d|) underflows (an error in PostgreSQL) only where the C
		 * result is 1, or smaller than 1e-307 for negative d
		 */
		sql_append(out, "  IF d > 354 THEN\n");
		emit_result(cg, 4, "1.0::float8", predicted, "0.0::float8");
		sql_append(out, "  ELSIF d < -354 THEN\n");
		emit_result(cg, 4, "0.0::float8", predicted, "1.0::float8");
		sql_append(out, "  ELSE\n    m := CASE WHEN d > -d THEN d ELSE -d END;\n");
		emit_result(cg, 4, "exp(d - m) / (exp(-d - m) + exp(d - m))", predicted,
					"exp(-d - m) / (exp(-d - m) + exp(d - m))");
		sql_append(out, "  END IF;\n");
		return;
	}
	snprintf(expr, sizeof(expr), "%s.expit(d)", cg->helpers);
	emit_result(cg, 2, expr, predicted, NULL);
}

static void
emit_logistic_regression(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;

	if (model->stage != NULL)
		emit_stage_estimator_input(cg);
	for (size_t b = 0; model->stage == NULL && b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const double *coef = est->coef + blk->first_feature;

		emit_read_and_steps(cg, b);
		if (!blk->one_hot)
		{
			emit_check_feature(cg, blk);
			sql_append(out, "  t := ");
			sql_safe_op(out, cg->helpers, "x", '*', coef[0]);
			sql_append(out, ";\n  ");
			sql_safe_sum(out, cg->helpers, "d", "t");
		}
		else if (blk->off_all_zero)
		{
			/* the scorer's product coef[hot] * on_value, computed here */
			sql_append(out, "  IF hot >= 0 THEN d := d + ('{");
			for (uint32_t j = 0; j < blk->width; j++)
				sql_append(out, "%s%.17g", j ? "," : "", coef[j] * blk->on_values[j]);
			sql_append(out, "}'::float8[])[hot + 1]; END IF;\n");
		}
		else
		{
			/* constant products, computed here as the scorer computes them */
			for (uint32_t j = 0; j < blk->width; j++)
			{
				sql_append(out, "  d := d + CASE WHEN hot = %u THEN ", j);
				sql_number(out, coef[j] * blk->on_values[j]);
				sql_append(out, " ELSE ");
				sql_number(out, coef[j] * blk->off_values[j]);
				sql_append(out, " END;\n");
			}
		}
	}
	sql_append(out, "  t := ");
	sql_number(out, est->intercept);
	sql_append(out, ";\n  ");
	sql_safe_sum(out, cg->helpers, "d", "t");
	/* inf - inf: the core's error (PostgreSQL's NaN equals itself) */
	sql_append(out, "  IF d = 'NaN' THEN PERFORM %s.fail('the decision function overflowed "
			   "to NaN (values too large for the model)'); END IF;\n", cg->helpers);
	/* LogisticRegression.predict: the decision function's sign */
	emit_link(cg, "d > 0");
}

/*
 * The float64 bound equivalent to a float32 comparison: (float) x <= t
 * holds exactly when x < m, or x == m and the tie rounds to t (t's last
 * mantissa bit even), m being the midpoint between t and the next float32.
 * Writes the condition on variable var.
 */
static void
emit_float32_le(codegen *cg, const char *var, float t)
{
	sql_buffer *out = cg->out;
	float		next;
	double		mid;
	uint32_t	bits;

	if (isinf(t))
	{
		/* +inf: everything but NaN; -inf: nothing a float32 check lets through */
		sql_append(out, t > 0 ? "%s <> 'NaN'" : "false", var);
		return;
	}
	next = nextafterf(t, INFINITY);
	mid = isinf(next) ? (double) t + ldexp(1.0, 103) : ((double) t + (double) next) / 2;
	memcpy(&bits, &t, sizeof(bits));
	sql_append(out, "%s %s ", var, (bits & 1) == 0 ? "<=" : "<");
	sql_number(out, mid);
}

/*
 * Whether the row goes left at split i of cg->est, as an SQL condition on
 * the slots' variables (f<slot>, and HistGradientBoosting's category codes
 * g<slot>): the scorer's IF and the explanation's way at each split
 * (emit_explain_trees) are this one text, so both take the same way.
 */
static void
emit_split_condition(codegen *cg, uint32_t i)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;

	if (est->hist_nodes != NULL)
	{
		const hist_node *n = &est->hist_nodes[i];
		uint32_t	slot = n->slot & NODE_SLOT_MASK;

		if (n->slot & NODE_CATEGORICAL)
		{
			const uint32_t *bits = est->bitsets + BITSET_WORDS * (size_t) n->bitset;
			bool		first = true;

			sql_append(out, "g%u = ANY ('{", slot);
			for (uint32_t code = 0; code <= CATEGORY_MISSING; code++)
				if ((bits[code / 32] >> (code % 32)) & 1)
				{
					sql_append(out, "%s%u", first ? "" : ",", code);
					first = false;
				}
			sql_append(out, "}'::integer[])");
			return;
		}
		/* NaN compares false: PostgreSQL orders NaN above every number */
		if (n->slot & NODE_MISSING_LEFT)
			sql_append(out, "f%u = 'NaN' OR f%u <= ", slot, slot);
		else
			sql_append(out, "f%u <= ", slot);
		sql_number(out, n->threshold);
		return;
	}
	{
		const tree_node *n = &est->nodes[i];
		uint32_t	slot = n->slot & NODE_SLOT_MASK;
		char		var[32];

		snprintf(var, sizeof(var), "f%u", slot);
		if (n->slot & NODE_MISSING_LEFT)
			sql_append(out, "f%u = 'NaN' OR ", slot);
		emit_float32_le(cg, var, n->threshold);
	}
}

/* A standard tree's nodes as nested IFs adding its leaf to total. */
static void
emit_standard_node(codegen *cg, const tree *tr, uint32_t i, int depth, bool scaled)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	const tree_node *n = &est->nodes[i];
	int			indent = 2 + 2 * depth;

	if (i >= tr->root + tr->nsplits && est->type == ESTIMATOR_ADABOOST)
	{
		const double *pair = est->leaf_pairs +
			2 * (size_t) est->leaves[(int64_t) i + tr->leaf_offset];

		/* both classes' sums of decision_function, as score_adaboost */
		sql_append(out, "%*sraw := raw + ", indent, "");
		sql_number(out, pair[0]);
		sql_append(out, "; total := total + ");
		sql_number(out, pair[1]);
		sql_append(out, ";\n");
		return;
	}
	if (i >= tr->root + tr->nsplits)
	{
		double		leaf = est->leaves[(int64_t) i + tr->leaf_offset];

		/* gradient boosting's learning_rate * leaf: a constant product */
		sql_append(out, "%*stotal := total + ", indent, "");
		sql_number(out, scaled ? est->learning_rate * leaf : leaf);
		sql_append(out, ";\n");
		if (cg->classify && !scaled && est->leaves0 != NULL)
		{
			sql_append(out, "%*stotal0 := total0 + ", indent, "");
			sql_number(out, est->leaves0[(int64_t) i + tr->leaf_offset]);
			sql_append(out, ";\n");
		}
		return;
	}
	sql_append(out, "%*sIF ", indent, "");
	emit_split_condition(cg, i);
	sql_append(out, " THEN\n");
	emit_standard_node(cg, tr, n->child[1], depth + 1, scaled);
	sql_append(out, "%*sELSE\n", indent, "");
	emit_standard_node(cg, tr, n->child[0], depth + 1, scaled);
	sql_append(out, "%*sEND IF;\n", indent, "");
}

static void
emit_hist_node(codegen *cg, const tree *tr, uint32_t i, int depth)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	const hist_node *n = &est->hist_nodes[i];
	int			indent = 2 + 2 * depth;

	if (i >= tr->root + tr->nsplits)
	{
		sql_append(out, "%*sraw := raw + ", indent, "");
		sql_number(out, est->leaves[(int64_t) i + tr->leaf_offset]);
		sql_append(out, ";\n");
		return;
	}
	sql_append(out, "%*sIF ", indent, "");
	emit_split_condition(cg, i);
	sql_append(out, " THEN\n");
	emit_hist_node(cg, tr, n->child[1], depth + 1);
	sql_append(out, "%*sELSE\n", indent, "");
	emit_hist_node(cg, tr, n->child[0], depth + 1);
	sql_append(out, "%*sEND IF;\n", indent, "");
}

/*
 * gather_features: every block's value checked as the estimator checks its
 * input, and the features the trees read written to f<slot>.
 */
static void
emit_gather(codegen *cg, bool hist)
{
	const predict_model *model = cg->model;
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const feature_use *use = est->uses + est->block_uses[2 * b];
		uint32_t	nuses = est->block_uses[2 * b + 1];

		emit_read_and_steps(cg, b);
		if (!blk->one_hot)
		{
			if (!hist)
			{
				if (!est->missing_learned)
					emit_check_feature(cg, blk);
				else
				{
					sql_append(out, "  IF x <> 'NaN' THEN\n");
					emit_check_feature(cg, blk);
					sql_append(out, "  END IF;\n");
				}
				/* (float) x overflows from FLT_MAX plus half an ulp up */
				sql_append(out, "  IF x <> 'NaN' AND abs(x) >= ");
				sql_number(out, (double) FLT_MAX + ldexp(1.0, 103));
				sql_append(out, " THEN ");
				emit_fail(cg, blk->column, "value is too large for float32 (the trees compare float32 values)");
				sql_append(out, " END IF;\n");
			}
			if (nuses)
				sql_append(out, "  f%u := x;\n", use->slot);
			continue;
		}
		if (!hist && blk->off_too_large32 > 1)
		{
			/* two features off at once: every row overflows float32 */
			sql_append(out, "  ");
			emit_fail(cg, blk->column, "value is too large for float32 (the trees compare float32 values)");
			sql_append(out, "\n");
		}
		else if (!hist && blk->off_too_large32 == 1)
		{
			sql_append(out, "  IF hot <> %u THEN ", blk->off_too_large32_at);
			emit_fail(cg, blk->column, "value is too large for float32 (the trees compare float32 values)");
			sql_append(out, " END IF;\n");
		}
		if (!hist)
		{
			bool		any = false;

			for (uint32_t j = 0; j < blk->width; j++)
				if (isinf((float) blk->on_values[j]))
				{
					if (!any)
						sql_append(out, "  IF hot IN (");
					sql_append(out, "%s%u", any ? "," : "", j);
					any = true;
				}
			if (any)
			{
				sql_append(out, ") THEN ");
				emit_fail(cg, blk->column, "value is too large for float32 (the trees compare float32 values)");
				sql_append(out, " END IF;\n");
			}
		}
		for (uint32_t u = 0; u < nuses; u++)
		{
			sql_append(out, "  f%u := CASE WHEN hot = %u THEN ", use[u].slot, use[u].offset);
			sql_number(out, blk->on_values[use[u].offset]);
			sql_append(out, " ELSE ");
			sql_number(out, blk->off_values[use[u].offset]);
			sql_append(out, " END;\n");
		}
	}
}

/* The splits of every tree estimator in est, composites included. */
static bool
count_tree_size(const estimator *est, size_t *nodes, predict_error *err)
{
	for (size_t i = 0; i < est->nsubs; i++)
		if (!count_tree_size(&est->subs[i], nodes, err))
			return false;
	for (size_t t = 0; t < est->ntrees; t++)
	{
		*nodes += est->trees[t].nsplits;
		if (est->trees[t].depth > MAX_SQL_TREE_DEPTH)
		{
			predict_set_error(err, PREDICT_TOO_LARGE,
							  "tree %zu is %u levels deep; the SQL scorer compiles trees of at most %d levels",
							  t, est->trees[t].depth, MAX_SQL_TREE_DEPTH);
			return false;
		}
	}
	return true;
}

static bool
check_tree_size(const predict_model *model, predict_error *err)
{
	size_t		nodes = 0;

	if (!count_tree_size(&model->estimator, &nodes, err))
		return false;
	if (nodes > MAX_SQL_TREE_NODES)
	{
		predict_set_error(err, PREDICT_TOO_LARGE,
						  "the trees have %zu splits; the SQL scorer compiles at most %d "
						  "(use the predict extension for larger models)",
						  nodes, MAX_SQL_TREE_NODES);
		return false;
	}
	return true;
}

/* predict() of the binomial losses: argmax over [1 - p, p] (binomial_class) */
#define BINOMIAL_CLASS "proba > 1.0::float8 - proba"

static void
emit_trees(codegen *cg)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	bool		hist = (est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING);
	char		expr[128];
	char		klass[128];
	char		expr0[128];

	if (cg->model->stage != NULL)
		emit_stage_estimator_input(cg);
	else
		emit_gather(cg, hist);
	if (hist)
	{
		for (size_t s = 0; s < est->nslots; s++)
			sql_append(out, "  g%zu := %s.category_code(f%zu);\n", s, cg->helpers, s);
		sql_append(out, "  raw := 0.0::float8 + ");
		sql_number(out, est->init);
		sql_append(out, ";\n");
		for (size_t t = 0; t < est->ntrees; t++)
			emit_hist_node(cg, &est->trees[t], est->trees[t].root, 0);
		snprintf(expr, sizeof(expr), "%s.expit(raw)", cg->helpers);
		emit_result(cg, 2, cg->decision ? "raw" : expr, BINOMIAL_CLASS, NULL);
		return;
	}
	if (est->type == ESTIMATOR_ADABOOST)
	{
		sql_append(out, "  raw := 0.0::float8;\n  total := 0.0::float8;\n");
		for (size_t t = 0; t < est->ntrees; t++)
			emit_standard_node(cg, &est->trees[t], est->trees[t].root, 0, false);
		sql_append(out, "  d := -(raw / ");
		sql_number(out, est->weight_sum);
		sql_append(out, ") + total / ");
		sql_number(out, est->weight_sum);
		sql_append(out, ";\n");
		if (cg->decision)
		{
			emit_result(cg, 2, "d", "d > 0", NULL);
			return;
		}
		sql_append(out, "  t := d;\n  d := d / 2.0::float8;\n");
		/* the loader set the softmax link (both columns); predict() is decision > 0 */
		emit_link(cg, "t > 0");
		return;
	}
	if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		sql_append(out, "  total := ");
		sql_number(out, est->init);
		sql_append(out, ";\n");
		for (size_t t = 0; t < est->ntrees; t++)
			emit_standard_node(cg, &est->trees[t], est->trees[t].root, 0, true);
		if (est->exponential_loss)
		{
			/* ExponentialLoss: expit(2.0 * raw), column 0 1 - that; predict() is raw >= 0 */
			snprintf(expr, sizeof(expr), "%s.expit(2.0::float8 * total)", cg->helpers);
			emit_result(cg, 2, cg->decision ? "total" : expr, "total >= 0", NULL);
		}
		else
		{
			snprintf(expr, sizeof(expr), "%s.expit(total)", cg->helpers);
			emit_result(cg, 2, cg->decision ? "total" : expr, BINOMIAL_CLASS, NULL);
		}
		return;
	}
	sql_append(out, "  total := 0.0::float8;\n");
	if (cg->classify)
		sql_append(out, "  total0 := 0.0::float8;\n");
	for (size_t t = 0; t < est->ntrees; t++)
		emit_standard_node(cg, &est->trees[t], est->trees[t].root, 0, false);
	/* argmax over the averaged fractions, class 0 summed on its own */
	snprintf(expr, sizeof(expr), "total / %zu.0::float8", est->ntrees);
	snprintf(klass, sizeof(klass), "proba > total0 / %zu.0::float8", est->ntrees);
	if (est->leaves0 != NULL)
		snprintf(expr0, sizeof(expr0), "total0 / %zu.0::float8", est->ntrees);
	else
		snprintf(expr0, sizeof(expr0), "'NaN'::float8");
	emit_result(cg, 2, expr, klass, expr0);
}

/*
 * Steps whose libm functions PostgreSQL does not have (log1p, expm1, and
 * Cephes' expm1 behind Box-Cox) cannot be computed bit for bit in SQL:
 * such a model is refused by name.
 */
static bool
sql_supported_steps(const predict_model *model, predict_error *err)
{
	static const char *const names[] = {"log1p", "log", "sqrt", "exp", "expm1", "abs", "identity"};

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const step *st = &model->steps[blk->first_step];
		const char *why = NULL;

		for (uint32_t i = 0; i < blk->nsteps && why == NULL; i++, st++)
		{
			if (st->type == STEP_FUNCTION &&
				(st->function == FUNCTION_LOG1P || st->function == FUNCTION_EXPM1))
				why = names[st->function];
			else if (st->type == STEP_POWER && st->method == POWER_YEO_JOHNSON &&
					 (fabs(st->a) < DBL_EPSILON || !(fabs(st->a - 2) > DBL_EPSILON)))
				why = "power (yeo-johnson with lambda 0 or 2, which takes log1p)";
			else if (st->type == STEP_QUANTILE && !quantile_in_range(st))
				why = "quantile (quantiles beyond 1e290 or closer than 1e-290, where "
					"PostgreSQL's float8 checks raise)";
			else if (st->type == STEP_KBINS && st->float32)
				why = "kbins (dtype float32)";
		}
		if (why != NULL)
		{
			char		name[300];

			predict_quote(name, sizeof(name), model->columns[blk->column].name,
						  model->columns[blk->column].name_length);
			predict_set_error(err, PREDICT_BAD_MODEL,
							  "preprocessing[%zu] (column %s): the SQL scorer cannot compute "
							  "step %s, which has no PostgreSQL equivalent (use the predict "
							  "extension for this model)", b, name, why);
			return false;
		}
	}
	return true;
}

/* Whether some block of the model has a step of this type. */
static bool
has_step(const predict_model *model, step_type type)
{
	for (size_t i = 0; i < model->nsteps; i++)
		if (model->steps[i].type == type)
			return true;
	return false;
}

static void
emit_declarations(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = &model->estimator;
	sql_buffer *out = cg->out;

	sql_append(out, "DECLARE\n  s text;\n  x float8;\n  k integer;\n  hot integer;\n"
			   "  d float8 := 0.0;\n  t float8;\n  m float8;\n  total float8;\n  raw float8;\n");
	/* the class function's class-0 sum (the scorers compiled before it lack it) */
	if (cg->classify)
		sql_append(out, "  total0 float8;\n");
	/* the quantile step's interpolation and ndtri, Box-Cox's expm1 (only where used, likewise) */
	if (has_step(model, STEP_QUANTILE) || has_step(model, STEP_POWER))
		sql_append(out, "  qx float8[];\n  qf float8[];\n  qlo integer;\n  qhi integer;\n  qmid integer;\n"
				   "  qt float8;\n  qs float8;\n  qa float8;\n  qb float8;\n  qc float8;\n  qy float8;\n"
				   "  qz float8;\n  qlower boolean;\n  qup boolean;\n  qdown boolean;\n");
	for (size_t c = 0; c < model->ncolumns; c++)
		if (model->columns[c].used)
			sql_append(out, "  c%zu_s text;\n  c%zu_x float8;\n", c, c);
	if (model->stage != NULL)
		emit_stage_declarations(cg);
	if (est->type != ESTIMATOR_LOGISTIC_REGRESSION)
		for (size_t s = 0; s < est->nslots; s++)
			sql_append(out, "  f%zu float8 := 0.0;\n  g%zu integer;\n", s, s);
}

/*
 * The estimators compiled here, composites included. gaussian_nb is
 * refused by name: its probabilities are exp() of log-likelihood
 * differences, subnormal or zero far from a class's mean, where C returns
 * them and PostgreSQL's exp() raises (docs/heroku.md).
 */
static bool
check_compiled_type(const estimator *est, predict_error *err)
{
	/*
	 * XGBoost ends with the C library's float32 expf, which PL/pgSQL does not
	 * have: rounding float8's exp() to float4 instead differs from glibc's
	 * expf on 158,660 of the float32 inputs from -17.5 to 88.7 (counted
	 * exhaustively), the range where the sigmoid sees the difference.
	 */
	if (est->type == ESTIMATOR_XGBOOST)
	{
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "the SQL scorer does not compile \"xgboost\" models (float32 "
						  "arithmetic); use the predict extension for them");
		return false;
	}
	if (est->type == ESTIMATOR_GAUSSIAN_NB)
	{
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "managed mode does not compile gaussian_nb estimators to SQL "
						  "(use the predict extension)");
		return false;
	}
	/*
	 * Not compiled yet: the init estimator's float32 features and the
	 * log-odds of its clipped probability.
	 */
	if (est->init_estimator != NULL)
	{
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "managed mode does not compile a gradient_boosting init estimator "
						  "to SQL (use the predict extension)");
		return false;
	}
	for (size_t i = 0; i < est->nsubs; i++)
		if (!check_compiled_type(&est->subs[i], err))
			return false;
	return true;
}

static void emit_estimator(codegen *cg, const estimator *est, bool decision, const char *ret,
						   const char *ret0);

/*
 * One estimator of a composite, in a block of its own whose variables
 * (the scorer's d, t, m, total, total0, raw and the trees' f and g slots)
 * shadow the function's: its code is the code of a model of that
 * estimator, its result assigned to ret (and predict_proba[:, 0] to ret0,
 * unless NULL).
 */
static void
emit_sub_estimator(codegen *cg, const estimator *est, bool decision, const char *ret,
				   const char *ret0)
{
	sql_buffer *out = cg->out;

	sql_append(out, "  DECLARE d float8 := 0.0; t float8; m float8; total float8; raw float8;\n");
	if (cg->classify)
		sql_append(out, "    total0 float8;\n");
	for (size_t s = 0; s < est->nslots; s++)
		sql_append(out, "    f%zu float8 := 0.0; g%zu integer;\n", s, s);
	sql_append(out, "  BEGIN\n");
	emit_estimator(cg, est, decision, ret, ret0);
	sql_append(out, "  END;\n");
}

/*
 * A composite's end: its columns in variables proba and proba0 (the class
 * function's only), predict() their argmax, the first class winning ties.
 * The function's result gets the core's final check that it is a number.
 */
static void
emit_composite_result(codegen *cg, const char *proba, const char *proba0)
{
	char		klass[48];

	if (cg->ret == NULL)
		sql_append(cg->out, "  IF %s = 'NaN' THEN PERFORM %s.fail('the decision function overflowed "
				   "to NaN (values too large for the model)'); END IF;\n", proba, cg->helpers);
	snprintf(klass, sizeof(klass), "%s > %s", proba, proba0);
	emit_result(cg, 2, proba, klass, proba0);
}

/*
 * score_voting: each column's probabilities (times their weights) added,
 * then divided; column 0 only in the class function.
 */
static void
emit_voting(codegen *cg)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	unsigned	k = cg->ncomposites++;
	double		scale = est->weights != NULL ? est->weight_sum : (double) est->nsubs;
	char		p[16];
	char		sum[16];
	char		p0[16];
	char		sum0[16];

	snprintf(p, sizeof(p), "vp%u", k);
	snprintf(sum, sizeof(sum), "vs%u", k);
	snprintf(p0, sizeof(p0), "vq%u", k);
	snprintf(sum0, sizeof(sum0), "vz%u", k);
	sql_append(out, "  DECLARE %s float8 := 0.0; %s float8; %s float8 := 0.0; %s float8;\n  BEGIN\n",
			   sum, p, sum0, p0);
	for (size_t i = 0; i < est->nsubs; i++)
	{
		emit_sub_estimator(cg, &est->subs[i], false, p, cg->classify ? p0 : NULL);
		for (int column = 1; column >= (cg->classify ? 0 : 1); column--)
		{
			sql_append(out, "  t := ");
			if (est->weights != NULL)
				sql_safe_op(out, cg->helpers, column ? p : p0, '*', est->weights[i]);
			else
				sql_append(out, "%s", column ? p : p0);
			sql_append(out, ";\n  %s := %s + t;\n", column ? sum : sum0, column ? sum : sum0);
		}
	}
	for (int column = 1; column >= (cg->classify ? 0 : 1); column--)
	{
		sql_append(out, "  %s := ", column ? sum : sum0);
		sql_safe_op(out, cg->helpers, column ? sum : sum0, '/', scale);
		sql_append(out, ";\n");
	}
	emit_composite_result(cg, sum, sum0);
	sql_append(out, "  END;\n");
}

/* A float8[] literal of n numbers. */
static void
sql_array(sql_buffer *out, const double *values, size_t n)
{
	sql_append(out, "'{");
	for (size_t i = 0; i < n; i++)
		sql_append(out, "%s%.17g", i ? "," : "", values[i]);
	sql_append(out, "}'::float8[]");
}

/* isotonic in score_ensemble.c: t (not finite: an error) to p. */
static void
emit_isotonic(codegen *cg, const calibrator *cal, const char *t, const char *p)
{
	sql_buffer *out = cg->out;
	size_t		n = cal->npoints;
	double	   *slopes;

	sql_append(out, "  IF %s = 'NaN' OR %s = 'Infinity' OR %s = '-Infinity' THEN "
			   "PERFORM %s.fail('the calibrated estimator''s ' || CASE WHEN %s = 'NaN' THEN "
			   "'prediction' ELSE 'decision function' END || ' is not finite "
			   "(values too large for the model)'); END IF;\n", t, t, t, cg->helpers, t);
	if (n == 1)
	{
		sql_append(out, "  %s := ", p);
		sql_number(out, cal->y[0]);
		sql_append(out, ";\n");
		return;
	}
	/* the scorer's slopes, computed here as it computes them */
	if ((slopes = malloc((n - 1) * sizeof(double))) == NULL)
	{
		out->failed = true;
		return;
	}
	for (size_t j = 0; j + 1 < n; j++)
		slopes[j] = (cal->y[j + 1] - cal->y[j]) / (cal->x[j + 1] - cal->x[j]);
	sql_append(out, "  DECLARE xs float8[] := ");
	sql_array(out, cal->x, n);
	sql_append(out, "; ys float8[] := ");
	sql_array(out, cal->y, n);
	sql_append(out, "; sl float8[] := ");
	sql_array(out, slopes, n - 1);
	free(slopes);
	sql_append(out, "; lo integer := 1; hi integer := %zu; mid integer;\n  BEGIN\n", n + 1);
	sql_append(out, "  %s := CASE WHEN %s < xs[1] THEN xs[1] WHEN %s > xs[%zu] THEN xs[%zu] ELSE %s END;\n",
			   t, t, t, n, n, t);
	sql_append(out, "  WHILE hi - lo > 1 LOOP mid := lo + (hi - lo) / 2; "
			   "IF xs[mid] <= %s THEN lo := mid; ELSE hi := mid; END IF; END LOOP;\n", t);
	sql_append(out, "  IF lo = %zu OR xs[lo] = %s THEN %s := ys[lo];\n", n, t, p);
	sql_append(out, "  ELSE\n    %s := sl[lo] * (%s - xs[lo]) + ys[lo];\n"
			   "    IF %s = 'NaN' THEN\n      %s := sl[lo] * (%s - xs[lo + 1]) + ys[lo + 1];\n"
			   "      IF %s = 'NaN' AND ys[lo] = ys[lo + 1] THEN %s := ys[lo]; END IF;\n"
			   "    END IF;\n  END IF;\n  END;\n", p, t, p, p, t, p, p);
}

/*
 * score_calibrated: each fold's calibrated prediction, added, then divided;
 * in the class function column 0 (1 - the prediction) too.
 */
static void
emit_calibrated(codegen *cg)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	unsigned	k = cg->ncomposites++;
	char		t[16];
	char		p[16];
	char		sum[16];
	char		sum0[16];

	snprintf(t, sizeof(t), "ct%u", k);
	snprintf(p, sizeof(p), "cp%u", k);
	snprintf(sum, sizeof(sum), "cs%u", k);
	snprintf(sum0, sizeof(sum0), "cz%u", k);
	sql_append(out, "  DECLARE %s float8 := 0.0; %s float8; %s float8; %s float8 := 0.0;\n  BEGIN\n",
			   sum, t, p, sum0);
	for (size_t i = 0; i < est->nsubs; i++)
	{
		const estimator *sub = &est->subs[i];
		const calibrator *cal = &est->calibrators[i];

		emit_sub_estimator(cg, sub, estimator_has_decision(sub), t, NULL);
		if (cal->method == CALIBRATION_SIGMOID)
		{
			/* expit(-(a * T + b)); a NaN would be 1 in the helper (NaN is above 700) */
			sql_append(out, "  %s := ", p);
			sql_safe_op(out, cg->helpers, t, '*', cal->a);
			sql_append(out, ";\n  %s := ", p);
			sql_safe_op(out, cg->helpers, p, '+', cal->b);
			sql_append(out, ";\n  IF %s = 'NaN' THEN PERFORM %s.fail('the decision function overflowed "
					   "to NaN (values too large for the model)'); END IF;\n", p, cg->helpers);
			sql_append(out, "  %s := %s.expit(-%s);\n", p, cg->helpers, p);
		}
		else
			emit_isotonic(cg, cal, t, p);
		if (cg->classify)
		{
			/* column 0 is 1 - the unclipped column 1; t is free again */
			sql_append(out, "  t := 1.0::float8 - %s;\n  IF t > 1.0::float8 AND t <= ", p);
			sql_number(out, 1.0 + 1e-5);
			sql_append(out, " THEN t := 1.0::float8; END IF;\n  %s := %s + t;\n", sum0, sum0);
		}
		sql_append(out, "  IF %s > 1.0::float8 AND %s <= ", p, p);
		sql_number(out, 1.0 + 1e-5);
		sql_append(out, " THEN %s := 1.0::float8; END IF;\n  %s := %s + %s;\n", p, sum, sum, p);
	}
	for (int column = 1; column >= (cg->classify ? 0 : 1); column--)
	{
		sql_append(out, "  %s := ", column ? sum : sum0);
		sql_safe_op(out, cg->helpers, column ? sum : sum0, '/', (double) est->nsubs);
		sql_append(out, ";\n");
	}
	emit_composite_result(cg, sum, sum0);
	sql_append(out, "  END;\n");
}

/*
 * est's code, its result (decision_function with decision) assigned to
 * ret, column 0 of predict_proba to ret0 unless NULL; with ret NULL, the
 * function's result.
 */
static void
emit_estimator(codegen *cg, const estimator *est, bool decision, const char *ret,
			   const char *ret0)
{
	const estimator *outer = cg->est;
	const char *outer_ret = cg->ret;
	const char *outer_ret0 = cg->ret0;
	bool		outer_decision = cg->decision;

	cg->est = est;
	cg->ret = ret;
	cg->ret0 = ret0;
	cg->decision = decision;
	switch (est->type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
			emit_logistic_regression(cg);
			break;
		case ESTIMATOR_VOTING:
			emit_voting(cg);
			break;
		case ESTIMATOR_CALIBRATED:
			emit_calibrated(cg);
			break;
		default:
			emit_trees(cg);
			break;
	}
	cg->est = outer;
	cg->ret = outer_ret;
	cg->ret0 = outer_ret0;
	cg->decision = outer_decision;
}

/* ---------- the inlinable scorer ---------- */

/*
 * The PL/pgSQL scorer runs some sixty statements a row, and PL/pgSQL is
 * slow at that. For the common pipeline (a logistic regression over
 * imputed, standardized numbers and one-hot encoded strings) its arithmetic
 * is also written as one SQL expression, the body of a LANGUAGE sql
 * function, <function>_inline, that the planner inlines into the query
 * that calls it:
 *
 *   CASE WHEN jsonb_typeof(obs) = 'object' THEN CASE WHEN <guard>
 *     THEN coalesce(<expression>, scorer(obs)) ELSE scorer(obs) END
 *   ELSE scorer(obs) END
 *
 * On a row that the guard admits, the expression is NULL, or performs
 * exactly the PL/pgSQL scorer's float8 operations, in the same order, and
 * takes none of its helpers' branches: numbers within bounds chosen here
 * (no step can overflow or underflow), missing only where an imputer fills
 * them, one-hot columns that hold known strings, unknown ones where those
 * are ignored, or nothing, and a decision function for which expit is the
 * plain formula. Every other row, and every other model, goes to the
 * PL/pgSQL scorer, which has the checks and the messages.
 *
 * SQL computes no common subexpression once, and each jsonb operator that
 * builds a value (->, a jsonb comparison, jsonb_typeof) costs about as much
 * as a column's arithmetic, where ->> is cheap. So the guard tests only
 * what would make the expression raise an error or misread a value, and the
 * expression turns the rest into NULL from the values that it reads anyway
 * (float8 operators and exp are strict):
 *
 * - A number is read as (obs->>'x')::float8. ->> gives numeric_out's text,
 *   which has no exponent: a nonzero number of at most INLINE_TEXT bytes is
 *   at least 1e-198 (well above INLINE_TINY) and below INLINE_WIDE in
 *   magnitude, and float8in reads it without error, as the value that the
 *   scorer reads (exact_double's n::float8 is float8in of numeric_out
 *   there). The guard admits such a number, or nothing (->> is NULL for a
 *   JSON null and a missing key only); it tests the type because a string
 *   "3" has the text of the number 3. A jsonb number is never NaN or
 *   infinite (to_jsonb makes those strings).
 * - A missing number is coalesced with the imputer's, so it stays NULL
 *   where no imputer fills it. Then its bound, unless inline_wide finds
 *   every number that the guard admits plain: with B' the double after B,
 *   nullif(least(x, B'), B') is x where x <= B, else NULL (NaN too, being
 *   above every number), and nullif(greatest(x, -B'), -B') likewise.
 * - The decision function is bounded so, to where expit is the formula.
 * - A one-hot column's ->> text is looked up among its category strings; a
 *   miss is the missing category's term if the text is NULL, zero if the
 *   value is a string and unknown ones are ignored, else NULL. No category
 *   string may be the ->> text of a number, boolean, object or array
 *   (which begins with a digit, '-', '{' or '[', or is true or false), or
 *   the guard admits only a string or nothing there.
 */
#define INLINE_DECISION 600.0
#define INLINE_TINY 1e-200		/* nonzero numbers closer to 0 take the PL/pgSQL scorer */
#define INLINE_HUGE 1e100
#define INLINE_TEXT 200			/* longest numeric_out text let through (see above) */
#define INLINE_WIDE 1e200		/* above every number of at most INLINE_TEXT bytes */
#define INLINE_EXPIT_LOW -709.78	/* expit's bounds in managed.sql, between which */
#define INLINE_EXPIT_HIGH 700.0 /* it is 1 / (1 + exp(-d)) */
#define INLINE_CASE 8			/* one-hot tables up to this size are a CASE, else a map */

/* A number block: [impute (a number)] [standardize], then its coefficient. */
static bool
inline_number_block(const predict_model *model, const block *blk, const step **impute,
					const step **scale)
{
	const step *st = &model->steps[blk->first_step];
	uint32_t	i = 0;

	*impute = *scale = NULL;
	if (blk->one_hot || blk->width != 1 || !model->columns[blk->column].numeric)
		return false;
	if (i < blk->nsteps && st[i].type == STEP_IMPUTE && st[i].string == NULL)
		*impute = &st[i++];
	if (i < blk->nsteps && st[i].type == STEP_STANDARDIZE)
		*scale = &st[i++];
	return i == blk->nsteps;
}

/* A string block: [impute (a string)] one_hot of strings, off values zero. */
static bool
inline_one_hot_block(const predict_model *model, const block *blk, const step **impute,
					 const step **hot)
{
	const step *st = &model->steps[blk->first_step];
	uint32_t	i = 0;

	*impute = *hot = NULL;
	if (!blk->one_hot || !blk->off_all_zero || model->columns[blk->column].numeric)
		return false;
	if (i < blk->nsteps && st[i].type == STEP_IMPUTE && st[i].string != NULL)
		*impute = &st[i++];
	if (i + 1 != blk->nsteps || st[i].type != STEP_ONE_HOT || st[i].groups != NULL ||
		st[i].table->numeric)
		return false;
	*hot = &st[i];
	return true;
}

/* The feature that category k (or -1, unknown) makes hot, or -1 for none. */
static long
one_hot_feature(const step *hot, long k)
{
	if (k < 0 || k == hot->drop)
		return -1;
	return hot->drop >= 0 && k > hot->drop ? k - 1 : k;
}

/* What category k (or -1, unknown) adds to the decision function. */
static double
one_hot_term(const block *blk, const double *coef, const step *hot, long k)
{
	long		j = one_hot_feature(hot, k);

	/* d + 0.0 is d but for -0.0, which expit reads as 0.0 */
	return j < 0 ? 0.0 : coef[j] * blk->on_values[j];
}

/* The category of a missing value: the imputed string's, or the table's own, or -1. */
static long
one_hot_missing(const step *impute, const step *hot)
{
	if (impute != NULL)
		return category_find_string(hot->table, impute->string, impute->string_length);
	return hot->table->missing_index;
}

/* Whether the plain "x op c" is sql_safe_op's result for every |x| in {0} and [lo, hi]. */
static bool
plain_op_for(char op, double c, double lo, double hi)
{
	double		tiny;
	double		big;

	if (op == '+' || op == '-')
		return hi <= 8e307;
	if (op == '*' && c == 0)
		return true;
	safe_op_bounds(op, c, &tiny, &big);
	return lo >= tiny && hi <= big;
}

/*
 * Whether the plain operations of a number block are the PL/pgSQL scorer's
 * for every input in {0} and +-[lo, hi]: the range of the nonzero values
 * followed through each step (a difference of two doubles that is not 0 is
 * at least 2^-54 times the smaller one). *most is then a bound on the
 * block's term.
 */
static bool
inline_number_plain(const step *scale, double coef, double lo, double hi, double *most)
{
	if (scale != NULL && scale->has_center)
	{
		if (!plain_op_for('-', scale->a, lo, hi))
			return false;
		hi += fabs(scale->a);
		if (scale->a != 0)
			lo = fmin(lo, fabs(scale->a)) * 0x1p-54;
	}
	if (scale != NULL && scale->has_scale)
	{
		if (!plain_op_for('/', scale->b, lo, hi))
			return false;
		hi = hi / fabs(scale->b) * 2;
		lo = lo / fabs(scale->b) / 2;
	}
	*most = hi * fabs(coef) * 2;
	return plain_op_for('*', coef, lo, hi);
}

/* The term of an imputed value, computed as the scorer computes it; false if a step is not plain. */
static bool
inline_imputed_term(const step *impute, const step *scale, double coef, double *term)
{
	double		x = impute->a;

	if (!isfinite(x))
		return false;
	if (scale != NULL && scale->has_center)
	{
		if (!plain_op_for('-', scale->a, fabs(x), fabs(x)))
			return false;
		x = x - scale->a;
	}
	if (scale != NULL && scale->has_scale)
	{
		if (x != 0 && !plain_op_for('/', scale->b, fabs(x), fabs(x)))
			return false;
		x = x / scale->b;
	}
	if (!isfinite(x) || (x != 0 && !plain_op_for('*', coef, fabs(x), fabs(x))))
		return false;
	*term = x * coef;
	return isfinite(*term);
}

/*
 * Whether the guard's numbers need no bound of their own: every number
 * block's steps are plain for all the values that the guard lets through
 * (0, and magnitudes from INLINE_TINY / 2 to INLINE_WIDE), so are those on
 * its imputed value, and no sum of the decision function can reach the
 * 8e307 where the scorer's additions take a helper. The expression then
 * bounds the decision function only, to where expit is the plain formula.
 */
static bool
inline_wide(const predict_model *model, double fixed)
{
	const estimator *est = &model->estimator;
	double		total = fixed;

	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		double		coef = est->coef[blk->first_feature];
		const step *impute;
		const step *scale;
		double		most;
		double		term = 0;

		if (!inline_number_block(model, blk, &impute, &scale))
			continue;
		if (!isfinite(coef) || !inline_number_plain(scale, coef, INLINE_TINY / 2, INLINE_WIDE, &most))
			return false;
		if (impute != NULL && !inline_imputed_term(impute, scale, coef, &term))
			return false;
		total += fmax(most, fabs(term));
	}
	return total <= 1e307;
}

/*
 * The bound on the inputs of each number block (bounds[b]; infinite where
 * inline_wide holds), or false when the model has no inline expression: its
 * decision function's constant terms at most, the rest of INLINE_DECISION
 * shared among the number blocks.
 */
static bool
inline_bounds(const predict_model *model, const bool *read_at, double *bounds)
{
	const estimator *est = &model->estimator;
	double		fixed = fabs(est->intercept);
	size_t		numbers = 0;
	double		share;

	if (model->stage != NULL || est->type != ESTIMATOR_LOGISTIC_REGRESSION ||
		est->link != LINK_LOGISTIC || !isfinite(est->intercept))
		return false;
	for (size_t c = 0; c < model->ncolumns; c++)
		if (model->columns[c].categories != NULL || model->columns[c].values != COLUMN_VALUES_ANY)
			return false;
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		const double *coef = est->coef + blk->first_feature;
		const step *impute;
		const step *other;

		if (!read_at[b])
			return false;		/* a column read by two blocks */
		if (inline_number_block(model, blk, &impute, &other))
			numbers++;
		else if (inline_one_hot_block(model, blk, &impute, &other))
		{
			double		largest;

			if (one_hot_feature(other, one_hot_missing(impute, other)) >= (long) blk->width ||
				one_hot_feature(other, (long) other->table->count - 1) >= (long) blk->width)
				return false;	/* not a model the loader makes */
			largest = fabs(one_hot_term(blk, coef, other, one_hot_missing(impute, other)));
			for (size_t k = 0; k < other->table->count; k++)
				largest = fmax(largest, fabs(one_hot_term(blk, coef, other, (long) k)));
			if (!isfinite(largest))
				return false;
			fixed += largest;
		}
		else
			return false;
	}
	if (!(fixed < INLINE_DECISION))
		return false;
	if (inline_wide(model, fixed))
	{
		for (size_t b = 0; b < model->nblocks; b++)
			bounds[b] = INFINITY;
		return true;
	}
	share = (INLINE_DECISION - fixed) / (double) (numbers ? numbers : 1);
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];
		double		coef = est->coef[blk->first_feature];
		const step *impute;
		const step *scale;
		double		center;
		double		spread;
		double		term;
		double		most;

		if (!inline_number_block(model, blk, &impute, &scale))
			continue;
		if (!isfinite(coef))
			return false;
		center = scale != NULL && scale->has_center ? fabs(scale->a) : 0.0;
		spread = scale != NULL && scale->has_scale ? fabs(scale->b) : 1.0;
		/* |(x - center) / spread * coef| <= share, with room for rounding */
		bounds[b] = coef == 0 ? INLINE_HUGE : fmin(INLINE_HUGE, share * 0.99 * spread / fabs(coef) - center);
		if (!(bounds[b] >= 0))
			bounds[b] = 0;
		if (!inline_number_plain(scale, coef, INLINE_TINY / 2, bounds[b] * 2, &most))
			return false;
		if (impute != NULL && (!inline_imputed_term(impute, scale, coef, &term) || fabs(term) > share))
			return false;
	}
	return true;
}

/* obs->'name' */
static void
inline_value(codegen *cg, uint32_t col, const char *op)
{
	sql_append(cg->out, "(obs%s", op);
	column_key(cg, col);
	sql_append(cg->out, ")");
}

/* Whether s could be the ->> text of a number, boolean, object or array. */
static bool
text_of_non_string(const char *s, size_t len)
{
	if (len == 0)
		return false;
	if (strchr("-0123456789{[", s[0]) != NULL)
		return true;
	return (len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0);
}

/* Whether a one-hot column's lookup could take a non-string for a category. */
static bool
one_hot_needs_type(const step *hot)
{
	for (size_t k = 0; k < hot->table->count; k++)
		if (text_of_non_string(hot->table->strings[k], hot->table->lengths[k]))
			return true;
	return false;
}

/* The block that reads column col, or SIZE_MAX. */
static size_t
inline_block_of(const predict_model *model, uint32_t col)
{
	size_t		b = SIZE_MAX;

	for (size_t i = 0; i < model->nblocks; i++)
		if (model->blocks[i].column == col)
			b = i;
	return b;
}

/* Whether the guard checks column col: all but one-hot columns that need no type test. */
static bool
inline_guarded(const predict_model *model, uint32_t col)
{
	size_t		b = inline_block_of(model, col);
	const step *impute;
	const step *hot;

	if (b == SIZE_MAX || !inline_one_hot_block(model, &model->blocks[b], &impute, &hot))
		return true;
	return one_hot_needs_type(hot);
}

/*
 * The guard's condition on a column: the values that the expression reads
 * without error, and as the scorer does, or turns into NULL (see above).
 */
static void
emit_inline_guard(codegen *cg, uint32_t col)
{
	sql_buffer *out = cg->out;
	const predict_model *model = cg->model;
	size_t		b = inline_block_of(model, col);
	const step *impute;
	const step *other;

	if (b != SIZE_MAX && inline_number_block(model, &model->blocks[b], &impute, &other))
	{
		sql_append(out, "CASE WHEN jsonb_typeof(");
		inline_value(cg, col, "->");
		sql_append(out, ") = 'number' THEN octet_length(");
		inline_value(cg, col, "->>");
		sql_append(out, ") <= %d ELSE ", INLINE_TEXT);
		inline_value(cg, col, "->>");
		sql_append(out, " IS NULL END");
		return;
	}
	sql_append(out, "CASE coalesce(jsonb_typeof(");
	inline_value(cg, col, "->");
	sql_append(out, "), 'null')");
	if (b == SIZE_MAX)
	{
		/* a column no block reads: the scorer checks its type */
		sql_append(out, " WHEN 'object' THEN false WHEN 'array' THEN false%s ELSE true END",
				   model->columns[col].numeric ? " WHEN 'string' THEN false" : "");
		return;
	}
	sql_append(out, " WHEN 'string' THEN true WHEN 'null' THEN true ELSE false END");
}

/* nullif(least(x, over), over), over the double after bound toward to: NULL past bound. */
static void
inline_upto(sql_buffer *out, const char *least, double bound, double to, const char *x)
{
	double		over = nextafter(bound, to);

	sql_append(out, "nullif(%s(%s, ", least, x);
	sql_number(out, over);
	sql_append(out, "), ");
	sql_number(out, over);
	sql_append(out, ")");
}

/* x, or NULL outside [lo, hi]: a NaN is above every number, so NULL too. */
static void
inline_within(sql_buffer *out, double lo, double hi, const char *x)
{
	sql_buffer	inner = {0};

	inline_upto(&inner, "greatest", lo, -INFINITY, x);
	if (inner.failed)
		out->failed = true;
	else
		inline_upto(out, "least", hi, INFINITY, inner.data);
	free(inner.data);
}

/*
 * A number block's term: x, imputed, within its bound unless inline_wide,
 * standardized, times its coefficient.
 */
static void
emit_inline_number_term(codegen *cg, const block *blk, double coef, double bound)
{
	sql_buffer *out = cg->out;
	sql_buffer	x = {0};
	codegen		read = *cg;
	const step *impute;
	const step *scale;

	inline_number_block(cg->model, blk, &impute, &scale);
	read.out = &x;
	sql_append(&x, "%s", impute != NULL ? "coalesce(" : "");
	inline_value(&read, blk->column, "->>");
	sql_append(&x, "::float8");
	if (impute != NULL)
	{
		sql_append(&x, ", ");
		sql_number(&x, impute->a);
		sql_append(&x, ")");
	}
	sql_append(out, "((");
	if (x.failed)
		out->failed = true;
	else if (isinf(bound))
		sql_append(out, "%s", x.data);
	else
		inline_within(out, -bound, bound, x.data);
	free(x.data);
	if (scale != NULL && scale->has_center)
	{
		sql_append(out, " - ");
		sql_number(out, scale->a);
	}
	sql_append(out, ")");
	if (scale != NULL && scale->has_scale)
	{
		sql_append(out, " / ");
		sql_number(out, scale->b);
	}
	sql_append(out, ") * ");
	sql_number(out, coef);
}

/* A term, or NULL::float8 where the scorer must decide. */
static void
inline_term_or_null(sql_buffer *out, bool known, double term)
{
	if (known)
		sql_number(out, term);
	else
		sql_append(out, "NULL::float8");
}

/* A one-hot column's term where its text is no category: missing, an unknown string, or NULL. */
static void
emit_inline_miss(codegen *cg, const block *blk, const step *impute, const step *hot)
{
	const double *coef = cg->model->estimator.coef + blk->first_feature;
	long		missing = one_hot_missing(impute, hot);

	sql_append(cg->out, "CASE WHEN ");
	inline_value(cg, blk->column, "->>");
	sql_append(cg->out, " IS NULL THEN ");
	inline_term_or_null(cg->out, missing >= 0 || !hot->unknown_is_error,
						one_hot_term(blk, coef, hot, missing));
	sql_append(cg->out, " WHEN jsonb_typeof(");
	inline_value(cg, blk->column, "->");
	sql_append(cg->out, ") = 'string' THEN ");
	inline_term_or_null(cg->out, !hot->unknown_is_error, 0.0);
	sql_append(cg->out, " END");
}

/*
 * A one-hot block's term: a CASE on the ->> text for a few categories
 * (text equality is a memcmp), a jsonb map to an array index for more.
 */
static void
emit_inline_one_hot_term(codegen *cg, const block *blk)
{
	sql_buffer *out = cg->out;
	const double *coef = cg->model->estimator.coef + blk->first_feature;
	const step *impute;
	const step *hot;

	inline_one_hot_block(cg->model, blk, &impute, &hot);
	if (hot->table->count <= INLINE_CASE)
	{
		sql_append(out, "CASE ");
		inline_value(cg, blk->column, "->>");
		for (size_t k = 0; k < hot->table->count; k++)
		{
			sql_append(out, " WHEN ");
			sql_string(out, hot->table->strings[k], hot->table->lengths[k]);
			sql_append(out, " THEN ");
			sql_number(out, one_hot_term(blk, coef, hot, (long) k));
		}
		sql_append(out, " ELSE ");
		emit_inline_miss(cg, blk, impute, hot);
		sql_append(out, " END");
		return;
	}
	sql_append(out, "coalesce(('{");
	for (size_t k = 0; k < hot->table->count; k++)
		sql_append(out, "%s%.17g", k ? "," : "", one_hot_term(blk, coef, hot, (long) k));
	sql_append(out, "}'::float8[])[(");
	sql_category_map(out, hot->table, 1, false);
	sql_append(out, " ->> ");
	inline_value(cg, blk->column, "->>");
	sql_append(out, ")::integer], ");
	emit_inline_miss(cg, blk, impute, hot);
	sql_append(out, ")");
}

/* The decision function: d starts at 0.0, gets each block's term, then the intercept. */
static void
emit_inline_decision(codegen *cg, const double *bounds)
{
	const predict_model *model = cg->model;
	sql_buffer *out = cg->out;

	for (size_t b = 0; b <= model->nblocks; b++)
		sql_append(out, "(");
	sql_append(out, "0.0::float8");
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];

		sql_append(out, "\n    + ");
		if (blk->one_hot)
			emit_inline_one_hot_term(cg, blk);
		else
			emit_inline_number_term(cg, blk, model->estimator.coef[blk->first_feature], bounds[b]);
		sql_append(out, ")");
	}
	sql_append(out, "\n    + ");
	sql_number(out, model->estimator.intercept);
	sql_append(out, ")");
}

/* The inline expression: the guard, then expit of the decision function within its bounds. */
static void
emit_inline_expression(codegen *cg, const double *bounds, const char *function)
{
	const predict_model *model = cg->model;
	sql_buffer *out = cg->out;
	sql_buffer	d = {0};
	codegen		sum = *cg;
	const char *and = "";

	sql_append(out, "CASE WHEN jsonb_typeof(obs) = 'object' THEN CASE WHEN ");
	for (uint32_t c = 0; c < model->ncolumns; c++)
		if (inline_guarded(model, c))
		{
			sql_append(out, "%s", and);
			emit_inline_guard(cg, c);
			and = "\n    AND ";
		}
	if (*and == '\0')
		sql_append(out, "true");
	sum.out = &d;
	emit_inline_decision(&sum, bounds);
	sql_append(out, "\n  THEN coalesce(1.0::float8 / (1.0::float8 + exp(-");
	if (d.failed)
		out->failed = true;
	else
		inline_within(out, INLINE_EXPIT_LOW, INLINE_EXPIT_HIGH, d.data);
	free(d.data);
	sql_append(out, ")), %s(obs))\n  ELSE %s(obs) END ELSE %s(obs) END", function, function,
			   function);
}

/*
 * <function>_inline(obs jsonb): the inline expression where the model has
 * one, else a call of the PL/pgSQL scorer. Not strict (a CASE is not, and
 * the planner only inlines a strict function whose body is), but a null
 * observation takes the scorer, which is strict. True when it wrote the
 * inline expression.
 */
static bool
emit_inline_scorer(const predict_model *model, const char *function, const char *helpers,
				   const bool *read_at, sql_buffer *out)
{
	codegen		cg = {model, helpers, out, read_at, &model->estimator, NULL, NULL, false, 0, false};
	double	   *bounds = calloc(model->nblocks + 1, sizeof(double));
	bool		inline_expression;

	if (bounds == NULL)
	{
		out->failed = true;
		return false;
	}
	sql_append(out, "CREATE OR REPLACE FUNCTION %s_inline(obs jsonb) RETURNS float8\n"
			   "LANGUAGE sql IMMUTABLE PARALLEL SAFE\nRETURN ", function);
	inline_expression = inline_bounds(model, read_at, bounds);
	if (inline_expression)
		emit_inline_expression(&cg, bounds, function);
	else
		sql_append(out, "%s(obs)", function);
	sql_append(out, ";\n");
	free(bounds);
	return inline_expression;
}

/*
 * <function>_inline_class(obs jsonb, proba float8): scikit-learn's predict()
 * of a model with an inline expression (a logistic regression: its decision
 * function d > 0) from the probability the inline scorer gave. expit is
 * monotone and is 0.5 at d = 0, so a probability above 0.5 means d > 0 and
 * one below means d < 0; at exactly 0.5, d may be either (a tiny d rounds
 * to 0.5), and the class function decides. An inlinable SQL function, so
 * that the log's trigger takes the class without a second scoring.
 */
static void
emit_inline_class(const char *function, sql_buffer *out)
{
	sql_append(out, "CREATE OR REPLACE FUNCTION %s_inline_class(obs jsonb, proba float8) RETURNS boolean\n"
			   "LANGUAGE sql IMMUTABLE PARALLEL SAFE\n"
			   "RETURN CASE WHEN proba > 0.5::float8 THEN true WHEN proba < 0.5::float8 THEN false\n"
			   "  ELSE (%s_class(obs)).predicted END;\n", function, function);
}

/*
 * The rest of a CREATE FUNCTION statement whose signature is written: a
 * PL/pgSQL function of the compiled ones' attributes, its body (freed here)
 * in a dollar quote whose tag the body does not contain.
 */
static void
emit_plpgsql_body(sql_buffer *out, sql_buffer *body)
{
	char		tag[32];

	for (unsigned n = 0;; n++)
	{
		snprintf(tag, sizeof(tag), "$predict%u$", n);
		if (body->data == NULL || strstr(body->data, tag) == NULL)
			break;
	}
	sql_append(out, "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE\n"
			   "SET search_path = pg_catalog, pg_temp\nAS %s\n", tag);
	sql_append(out, "%s", body->data ? body->data : "");
	sql_append(out, "%s;\n", tag);
	if (body->failed)
		out->failed = true;
	free(body->data);
	body->data = NULL;
}

/*
 * One CREATE FUNCTION statement: the scorer (obs jsonb) RETURNS float8, or
 * with classify the class function (obs jsonb, OUT proba, OUT predicted).
 */
static void
emit_scorer(const predict_model *model, const char *function, const char *helpers,
			const bool *read_at, bool classify, sql_buffer *out)
{
	sql_buffer	body = {0};
	codegen		cg = {model, helpers, &body, read_at, &model->estimator, NULL, NULL, false, 0,
					  classify};

	emit_declarations(&cg);
	sql_append(&body, "BEGIN\n  IF jsonb_typeof(obs) <> 'object' THEN PERFORM %s.not_object(obs); END IF;\n",
			   helpers);
	/* every listed column is checked, as the tutorial's astype(dtypes) does */
	for (size_t c = 0; c < model->ncolumns; c++)
		if (!model->columns[c].used)
			emit_read_column(&cg, (uint32_t) c, false);
	emit_estimator(&cg, &model->estimator, false, NULL, NULL);
	sql_append(&body, "END\n");

	if (classify)
		sql_append(out, "CREATE OR REPLACE FUNCTION %s_class(obs jsonb, OUT proba float8, OUT predicted boolean)\n",
				   function);
	else
		sql_append(out, "CREATE OR REPLACE FUNCTION %s(obs jsonb) RETURNS float8\n", function);
	emit_plpgsql_body(out, &body);
}

/* ---------- explanations (docs/model-format.md, "Explanations") ---------- */

/*
 * <function>_explain(obs jsonb, OUT space text, OUT base float8, OUT
 * columns text[], OUT contributions float8[]): predict_explain's base and
 * per-column contributions (the columns in the model's order), which
 * managed.sql's predict_explain and predict_reasons write as the
 * extension's JSON. Like predict_explain, it scores the observation first
 * (the scorer: what scoring refuses fails here with the same message), then
 * computes the features again with the scorer's code and splits the raw
 * output over them in explain.c's operations and order: coef_j (x_j -
 * mean_j) inline for a linear model, TreeSHAP by managed.sql's tree_shap
 * for trees, whose way at each split is the scorer's own condition. A model
 * that cannot be explained gets a function that says why (SQLSTATE 0A000,
 * the core's message), whatever the observation, as the extension does.
 */

/* The hint of every host's PREDICT_UNSUPPORTED error (the extension's errhint). */
#define EXPLAIN_HINT \
	"The models that can be explained are listed in docs/model-format.md, \"Explanations\"."

static void
emit_explain_signature(sql_buffer *out, const char *function)
{
	sql_append(out, "CREATE OR REPLACE FUNCTION %s_explain(obs jsonb, OUT space text, OUT base float8,\n"
			   "    OUT columns text[], OUT contributions float8[])\n", function);
}

static void
emit_explain_refusal(sql_buffer *out, const char *function, const char *message)
{
	sql_buffer	body = {0};

	sql_append(&body, "BEGIN\n  RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = ");
	sql_string(&body, message, strlen(message));
	sql_append(&body, ",\n    HINT = ");
	sql_string(&body, EXPLAIN_HINT, strlen(EXPLAIN_HINT));
	sql_append(&body, ";\nEND\n");
	emit_explain_signature(out, function);
	emit_plpgsql_body(out, &body);
}

/* "contrib<col> := contrib<col> + t" for feature f's contribution t, or base's for a constant feature. */
static void
emit_credit(codegen *cg, size_t f, const char *t)
{
	int32_t		col = cg->model->feature_column[f];
	char		target[32];

	if (col >= 0)
		snprintf(target, sizeof(target), "contrib%d", col);
	else
		snprintf(target, sizeof(target), "base");
	sql_append(cg->out, "  ");
	sql_safe_sum(cg->out, cg->helpers, target, t);
}

/* The same of feature f in variable var: t := var - mean, times coef, times 2 for softmax. */
static void
emit_linear_contribution(codegen *cg, size_t f, const char *var)
{
	const predict_model *model = cg->model;
	const estimator *est = &model->estimator;
	sql_buffer *out = cg->out;

	sql_append(out, "  t := ");
	sql_safe_op(out, cg->helpers, var, '-', model->feature_means[f]);
	/* (IEEE products commute: t * coef is C's coef * t) */
	sql_append(out, ";\n  t := ");
	sql_safe_op(out, cg->helpers, "t", '*', est->coef[f]);
	sql_append(out, ";\n");
	if (est->link == LINK_SOFTMAX)
	{
		sql_append(out, "  t := ");
		sql_safe_op(out, cg->helpers, "t", '*', 2.0);
		sql_append(out, ";\n");
	}
	emit_credit(cg, f, "t");
}

/*
 * explain_linear: base the reference point's decision function (the
 * loader's linear_base, as the core's), then each feature's contribution, in the
 * features' order, computed from the scorer's feature code.
 */
static void
emit_explain_linear(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = &model->estimator;
	sql_buffer *out = cg->out;
	double		scale = est->link == LINK_SOFTMAX ? 2.0 : 1.0;

	sql_append(out, "  base := ");
	sql_number(out, scale * model->linear_base);
	sql_append(out, ";\n");
	if (model->stage != NULL)
	{
		emit_stage(cg);
		emit_stage_final_checks(cg);
		for (uint32_t f = 0; f < model->stage->nfinal; f++)
		{
			char		var[32];

			snprintf(var, sizeof(var), "w%u", model->stage->final + f);
			emit_linear_contribution(cg, f, var);
		}
		return;
	}
	for (size_t b = 0; b < model->nblocks; b++)
	{
		const block *blk = &model->blocks[b];

		emit_read_and_steps(cg, b);
		if (!blk->one_hot)
		{
			emit_check_feature(cg, blk);
			emit_linear_contribution(cg, blk->first_feature, "x");
			continue;
		}
		for (uint32_t j = 0; j < blk->width; j++)
		{
			size_t		f = blk->first_feature + j;

			sql_append(out, "  t := CASE WHEN hot = %u THEN ", j);
			sql_number(out, linear_contribution(model, f, blk->on_values[j]));
			sql_append(out, " ELSE ");
			sql_number(out, linear_contribution(model, f, blk->off_values[j]));
			sql_append(out, " END;\n");
			emit_credit(cg, f, "t");
		}
	}
}

/* The nodes of est: one past the last tree's last leaf. */
static size_t
tree_node_count(const estimator *est)
{
	size_t		n = 0;

	for (size_t t = 0; t < est->ntrees; t++)
	{
		size_t		end = (size_t) est->trees[t].root + 2 * (size_t) est->trees[t].nsplits + 1;

		if (end > n)
			n = end;
	}
	return n;
}

/* Each of the n nodes' tree (NULL for none), or NULL when out of memory. */
static const tree **
node_trees(const estimator *est, size_t n)
{
	const tree **owner = calloc(n ? n : 1, sizeof(*owner));

	if (owner == NULL)
		return NULL;
	for (size_t t = 0; t < est->ntrees; t++)
	{
		const tree *tr = &est->trees[t];

		/* its splits, then its leaves */
		for (size_t i = tr->root; i <= (size_t) tr->root + 2 * (size_t) tr->nsplits; i++)
			owner[i] = tr;
	}
	return owner;
}

/* What tree_shap reads of each node i of est, as an SQL array of n nodes. */
typedef enum node_field
{
	NODE_LEFT,					/* a split's children (-1 for a leaf) */
	NODE_RIGHT,
	NODE_SLOT,					/* a split's slot (-1 for a leaf) */
	NODE_COVER,
	NODE_LEAF					/* a leaf's value (0 for a split) */
} node_field;

static void
emit_node_array(codegen *cg, node_field field, const tree **owner, size_t n)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;

	sql_append(out, "'{");
	for (size_t i = 0; i < n; i++)
	{
		const tree *tr = owner[i];
		bool		split = tr != NULL && i < (size_t) tr->root + tr->nsplits;
		uint32_t	slot = 0;
		uint32_t	child[2] = {0, 0};

		if (split && est->hist_nodes != NULL)
		{
			slot = est->hist_nodes[i].slot & NODE_SLOT_MASK;
			child[0] = est->hist_nodes[i].child[0];
			child[1] = est->hist_nodes[i].child[1];
		}
		else if (split)
		{
			slot = est->nodes[i].slot & NODE_SLOT_MASK;
			child[0] = est->nodes[i].child[0];
			child[1] = est->nodes[i].child[1];
		}
		if (i > 0)
			sql_append(out, ",");
		switch (field)
		{
			case NODE_LEFT:
			case NODE_RIGHT:
				if (split)
					sql_append(out, "%u", child[field == NODE_LEFT ? 1 : 0]);
				else
					sql_append(out, "-1");
				break;
			case NODE_SLOT:
				if (split)
					sql_append(out, "%u", slot);
				else
					sql_append(out, "-1");
				break;
			case NODE_COVER:
				sql_append(out, "%.17g", est->cover[i]);
				break;
			case NODE_LEAF:
				sql_append(out, "%.17g", tr != NULL && !split ? est->leaves[(int64_t) i + tr->leaf_offset] : 0.0);
				break;
		}
	}
	sql_append(out, "}'::%s[]", field == NODE_COVER || field == NODE_LEAF ? "float8" : "integer");
}

/*
 * explain_tree_estimator: the scorer's features in its slots (f<slot>, and
 * HistGradientBoosting's category codes g<slot>), the row's way at every
 * split by the scorer's conditions, tree_shap over the trees, then each
 * slot's attribution to the column of its feature, in the features' order.
 */
static void
emit_explain_trees(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	bool		hist = est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING;
	size_t		n = tree_node_count(est);
	const tree **owner = node_trees(est, n);
	double		scale = 1.0;
	double		init = 0.0;
	bool		has_init = false;

	if (owner == NULL)
	{
		out->failed = true;
		return;
	}

	if (model->stage != NULL)
		emit_stage_estimator_input(cg);
	else
		emit_gather(cg, hist);
	if (hist)
		for (size_t s = 0; s < est->nslots; s++)
			sql_append(out, "  g%zu := %s.category_code(f%zu);\n", s, cg->helpers, s);
	if (est->type == ESTIMATOR_HIST_GRADIENT_BOOSTING)
	{
		init = est->init;
		has_init = true;
	}
	else if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		/* the exponential loss's probability is expit(2 d) */
		double		loss_scale = est->exponential_loss ? 2.0 : 1.0;

		init = loss_scale * est->init;
		has_init = true;
		scale = loss_scale * est->learning_rate;
	}
	else
		scale = 1.0 / (double) est->ntrees;	/* a forest's probability is its trees' mean */

	sql_append(out, "  SELECT * INTO phi, expected FROM %s.tree_shap(\n    '{", cg->helpers);
	for (size_t t = 0; t < est->ntrees; t++)
		sql_append(out, "%s%u", t ? "," : "", est->trees[t].root);
	sql_append(out, "}'::integer[],\n    ");
	emit_node_array(cg, NODE_LEFT, owner, n);
	sql_append(out, ",\n    ");
	emit_node_array(cg, NODE_RIGHT, owner, n);
	sql_append(out, ",\n    ");
	emit_node_array(cg, NODE_SLOT, owner, n);
	sql_append(out, ",\n    ");
	emit_node_array(cg, NODE_COVER, owner, n);
	sql_append(out, ",\n    ");
	emit_node_array(cg, NODE_LEAF, owner, n);
	sql_append(out, ",\n    ARRAY[");
	for (size_t i = 0; i < n; i++)
	{
		const tree *tr = owner[i];

		sql_append(out, "%s", i ? ",\n      " : "");
		if (tr != NULL && i < (size_t) tr->root + tr->nsplits)
		{
			sql_append(out, "(");
			emit_split_condition(cg, (uint32_t) i);
			sql_append(out, ")");
		}
		else
			sql_append(out, "NULL::boolean");
	}
	free(owner);
	sql_append(out, "]::boolean[],\n    %u, %zu, ", est->max_depth, est->nslots);
	sql_number(out, scale);
	sql_append(out, ");\n");
	if (has_init)
	{
		sql_append(out, "  base := ");
		sql_number(out, init);
		sql_append(out, ";\n  ");
		sql_safe_sum(out, cg->helpers, "base", "expected");
	}
	else
		sql_append(out, "  base := expected;\n");
	for (size_t f = 0; f < model->nfeatures; f++)
	{
		char		var[32];

		if (est->feature_slot[f] < 0)
			continue;
		snprintf(var, sizeof(var), "phi[%d]", est->feature_slot[f] + 1);
		emit_credit(cg, f, var);
	}
}

/*
 * predict_explain's check_finite: a row can score while a contribution
 * overflows (its probability rounds to 0 or 1); such a row is refused by
 * column, then by its base, with the core's messages.
 */
static void
emit_explain_finite(codegen *cg)
{
	const predict_model *model = cg->model;
	sql_buffer *out = cg->out;
	static const char base_message[] = "the explanation's base overflows (feature means too large)";

	for (uint32_t c = 0; c < model->ncolumns; c++)
	{
		sql_append(out, "  IF contrib%u IN ('Infinity', '-Infinity', 'NaN') THEN ", c);
		emit_fail(cg, c, "its contribution to the explanation overflows (a value too large to explain)");
		sql_append(out, " END IF;\n");
	}
	sql_append(out, "  IF base IN ('Infinity', '-Infinity', 'NaN') THEN PERFORM %s.fail(", cg->helpers);
	sql_string(out, base_message, strlen(base_message));
	sql_append(out, "); END IF;\n");
}

/* The explanation function of an explainable model. */
static void
emit_explainer(const predict_model *model, const char *function, const char *helpers,
			   const bool *read_at, sql_buffer *out)
{
	sql_buffer	body = {0};
	codegen		cg = {model, helpers, &body, read_at, &model->estimator, NULL, NULL, false, 0, false};
	const char *space = predict_space_name(predict_model_space(model));

	emit_declarations(&cg);
	sql_append(&body, "  phi float8[];\n  expected float8;\n");
	for (size_t c = 0; c < model->ncolumns; c++)
		sql_append(&body, "  contrib%zu float8 := 0.0;\n", c);
	/* predict_explain scores first: what scoring refuses, this refuses with its message */
	sql_append(&body, "BEGIN\n  PERFORM %s(obs);\n", function);
	if (model->estimator.type == ESTIMATOR_LOGISTIC_REGRESSION)
		emit_explain_linear(&cg);
	else
		emit_explain_trees(&cg);
	emit_explain_finite(&cg);
	sql_append(&body, "  space := '%s';\n  columns := ARRAY[", space);
	for (size_t c = 0; c < model->ncolumns; c++)
	{
		sql_append(&body, "%s", c ? ", " : "");
		column_key(&cg, (uint32_t) c);
	}
	sql_append(&body, "]::text[];\n  contributions := ARRAY[");
	for (size_t c = 0; c < model->ncolumns; c++)
		sql_append(&body, "%scontrib%zu", c ? ", " : "", c);
	sql_append(&body, "]::float8[];\nEND\n");
	emit_explain_signature(out, function);
	emit_plpgsql_body(out, &body);
}

/*
 * <function>_explain: the explanation, or the refusal of a model that
 * cannot be explained (predict_model_explainable's message), or of one the
 * SQL code does not explain yet: XGBoost's explanations are its float32
 * TreeSHAP (and managed mode does not compile XGBoost at all).
 */
static void
emit_explain(const predict_model *model, const char *function, const char *helpers,
			 const bool *read_at, sql_buffer *out)
{
	predict_error err;

	if (model->estimator.type == ESTIMATOR_XGBOOST)
		emit_explain_refusal(out, function, "cannot explain this model: managed mode does not "
							 "explain xgboost models (XGBoost's float32 TreeSHAP); use the "
							 "predict extension for them");
	else if (!predict_model_explainable(model, &err))
		emit_explain_refusal(out, function, err.message);
	else
		emit_explainer(model, function, helpers, read_at, out);
}

/*
 * The scorer, and for a model whose class is scikit-learn's predict() (a
 * null threshold) the class function <function>_class too: the class cannot
 * be told from the probability alone, so it is computed where the
 * estimator's sums are. Then the explanation function <function>_explain
 * (or its refusal, for a model that cannot be explained).
 */
char *
predict_model_to_sql(const predict_model *model, const char *function, const char *helpers,
					 predict_error *err)
{
	sql_buffer	out = {0};
	bool	   *read_at;
	bool	   *seen;
	bool		inline_expression;

	if (!check_compiled_type(&model->estimator, err) || !check_tree_size(model, err))
		return NULL;
	if (!sql_supported_steps(model, err) || !stage_compiles(model, err))
		return NULL;
	read_at = calloc(model->nblocks + 1, sizeof(bool));
	seen = calloc(model->ncolumns + 1, sizeof(bool));
	if (read_at == NULL || seen == NULL)
	{
		free(read_at);
		free(seen);
		predict_set_error(err, PREDICT_NO_MEMORY, "out of memory while compiling the model to SQL");
		return NULL;
	}
	for (size_t b = 0; b < model->nblocks; b++)
	{
		read_at[b] = !seen[model->blocks[b].column];
		seen[model->blocks[b].column] = true;
	}
	emit_scorer(model, function, helpers, read_at, false, &out);
	inline_expression = emit_inline_scorer(model, function, helpers, read_at, &out);
	if (!predict_model_has_threshold(model))
	{
		emit_scorer(model, function, helpers, read_at, true, &out);
		if (inline_expression)
			emit_inline_class(function, &out);
	}
	emit_explain(model, function, helpers, read_at, &out);
	free(read_at);
	free(seen);
	if (out.failed)
	{
		free(out.data);
		predict_set_error(err, PREDICT_NO_MEMORY, "out of memory while compiling the model to SQL");
		return NULL;
	}
	return out.data;
}
