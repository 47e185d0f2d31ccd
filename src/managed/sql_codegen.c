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

#include "model.h"
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
	double		a = fabs(c);

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
	sql_append(buf, "CASE WHEN abs(%s) < %.17g THEN %s.%s(%s, ", var,
			   op == '*' ? 1e-290 / fmin(a, 1.0) : 1e-290 * fmax(a, 1.0),
			   helpers, op == '*' ? "tiny_product" : "tiny_quotient", var);
	sql_number(buf, c);
	sql_append(buf, ") WHEN abs(%s) > %.17g THEN %s.%s(%s, ", var,
			   op == '*' ? 1e290 / fmax(a, 1.0) : 1e290 * fmin(a, 1.0),
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

/* Read column col into c<col>_s / c<col>_x (a string, or a number with NaN for missing). */
static void
emit_read_column(codegen *cg, uint32_t col, bool keep)
{
	sql_buffer *out = cg->out;
	bool		numeric = cg->model->columns[col].numeric;

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
	{
		sql_buffer	map = {0};

		sql_append(&map, "{");
		for (size_t i = 0; i < table->count; i++)
		{
			sql_append(&map, "%s\"", i ? "," : "");
			json_string_body(&map, table->strings[i], table->lengths[i]);
			sql_append(&map, "\":%zu", i);
		}
		sql_append(&map, "}");
		if (map.failed)
			out->failed = true;
		else
			sql_string(out, map.data, map.len);
		free(map.data);
	}
	sql_append(out, "::jsonb ->> s)::integer;\n    END IF;\n");
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

static void
emit_link(codegen *cg)
{
	sql_buffer *out = cg->out;
	char		expr[128];

	if (cg->decision)
	{
		emit_result(cg, 2, "d", "d > 0", NULL);
		return;
	}
	if (cg->est->link == LINK_MODIFIED_HUBER)
	{
		/* d is not NaN here (PostgreSQL's NaN is above every number) */
		emit_result(cg, 2, "(CASE WHEN d < -1.0::float8 THEN -1.0::float8 "
					"WHEN d > 1.0::float8 THEN 1.0::float8 ELSE d END + 1.0::float8) / 2.0::float8",
					"d > 0", NULL);
		return;
	}
	if (cg->est->link == LINK_SOFTMAX)
	{
		/*
		 * exp(-2|d|) underflows (an error in PostgreSQL) only where the C
		 * result is 1, or smaller than 1e-307 for negative d
		 */
		sql_append(out, "  IF d > 354 THEN\n");
		emit_result(cg, 4, "1.0::float8", "d > 0", "0.0::float8");
		sql_append(out, "  ELSIF d < -354 THEN\n");
		emit_result(cg, 4, "0.0::float8", "d > 0", "1.0::float8");
		sql_append(out, "  ELSE\n    m := CASE WHEN d > -d THEN d ELSE -d END;\n");
		emit_result(cg, 4, "exp(d - m) / (exp(-d - m) + exp(d - m))", "d > 0",
					"exp(-d - m) / (exp(-d - m) + exp(d - m))");
		sql_append(out, "  END IF;\n");
		return;
	}
	/* LogisticRegression.predict: the decision function's sign */
	snprintf(expr, sizeof(expr), "%s.expit(d)", cg->helpers);
	emit_result(cg, 2, expr, "d > 0", NULL);
}

static void
emit_logistic_regression(codegen *cg)
{
	const predict_model *model = cg->model;
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;

	for (size_t b = 0; b < model->nblocks; b++)
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
	emit_link(cg);
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

/* A standard tree's nodes as nested IFs adding its leaf to total. */
static void
emit_standard_node(codegen *cg, const tree *tr, uint32_t i, int depth, bool scaled)
{
	const estimator *est = cg->est;
	sql_buffer *out = cg->out;
	const tree_node *n = &est->nodes[i];
	int			indent = 2 + 2 * depth;

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
	{
		char		var[32];
		uint32_t	slot = n->slot & NODE_SLOT_MASK;

		snprintf(var, sizeof(var), "f%u", slot);
		sql_append(out, "%*sIF ", indent, "");
		if (n->slot & NODE_MISSING_LEFT)
			sql_append(out, "f%u = 'NaN' OR ", slot);
		emit_float32_le(cg, var, n->threshold);
		sql_append(out, " THEN\n");
	}
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
	uint32_t	slot = n->slot & NODE_SLOT_MASK;

	if (i >= tr->root + tr->nsplits)
	{
		sql_append(out, "%*sraw := raw + ", indent, "");
		sql_number(out, est->leaves[(int64_t) i + tr->leaf_offset]);
		sql_append(out, ";\n");
		return;
	}
	if (n->slot & NODE_CATEGORICAL)
	{
		const uint32_t *bits = est->bitsets + BITSET_WORDS * (size_t) n->bitset;
		bool		first = true;

		sql_append(out, "%*sIF g%u = ANY ('{", indent, "", slot);
		for (uint32_t code = 0; code <= CATEGORY_MISSING; code++)
			if ((bits[code / 32] >> (code % 32)) & 1)
			{
				sql_append(out, "%s%u", first ? "" : ",", code);
				first = false;
			}
		sql_append(out, "}'::integer[]) THEN\n");
	}
	else
	{
		/* NaN compares false: PostgreSQL orders NaN above every number */
		if (n->slot & NODE_MISSING_LEFT)
			sql_append(out, "%*sIF f%u = 'NaN' OR f%u <= ", indent, "", slot, slot);
		else
			sql_append(out, "%*sIF f%u <= ", indent, "", slot);
		sql_number(out, n->threshold);
		sql_append(out, " THEN\n");
	}
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
	if (est->type == ESTIMATOR_GRADIENT_BOOSTING)
	{
		sql_append(out, "  total := ");
		sql_number(out, est->init);
		sql_append(out, ";\n");
		for (size_t t = 0; t < est->ntrees; t++)
			emit_standard_node(cg, &est->trees[t], est->trees[t].root, 0, true);
		snprintf(expr, sizeof(expr), "%s.expit(total)", cg->helpers);
		emit_result(cg, 2, cg->decision ? "total" : expr, BINOMIAL_CLASS, NULL);
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
	for (size_t c = 0; c < model->ncolumns; c++)
		if (model->columns[c].used)
			sql_append(out, "  c%zu_s text;\n  c%zu_x float8;\n", c, c);
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
	if (est->type == ESTIMATOR_GAUSSIAN_NB)
	{
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "managed mode does not compile gaussian_nb estimators to SQL "
						  "(use the predict extension)");
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

/*
 * One CREATE FUNCTION statement: the scorer (obs jsonb) RETURNS float8, or
 * with classify the class function (obs jsonb, OUT proba, OUT predicted).
 */
static void
emit_function(const predict_model *model, const char *function, const char *helpers,
			  const bool *read_at, bool classify, sql_buffer *out)
{
	sql_buffer	body = {0};
	codegen		cg = {model, helpers, &body, read_at, &model->estimator, NULL, NULL, false, 0,
					  classify};
	char		tag[32];

	emit_declarations(&cg);
	sql_append(&body, "BEGIN\n  IF jsonb_typeof(obs) <> 'object' THEN PERFORM %s.not_object(obs); END IF;\n",
			   helpers);
	/* every listed column is checked, as the tutorial's astype(dtypes) does */
	for (size_t c = 0; c < model->ncolumns; c++)
		if (!model->columns[c].used)
			emit_read_column(&cg, (uint32_t) c, false);
	emit_estimator(&cg, &model->estimator, false, NULL, NULL);
	sql_append(&body, "END\n");

	/* a dollar-quote tag that the body does not contain */
	for (unsigned n = 0;; n++)
	{
		snprintf(tag, sizeof(tag), "$predict%u$", n);
		if (body.data == NULL || strstr(body.data, tag) == NULL)
			break;
	}
	if (classify)
		sql_append(out, "CREATE FUNCTION %s_class(obs jsonb, OUT proba float8, OUT predicted boolean)\n",
				   function);
	else
		sql_append(out, "CREATE FUNCTION %s(obs jsonb) RETURNS float8\n", function);
	sql_append(out, "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE\n"
			   "SET search_path = pg_catalog, pg_temp\nAS %s\n", tag);
	sql_append(out, "%s", body.data ? body.data : "");
	sql_append(out, "%s;\n", tag);
	if (body.failed)
		out->failed = true;
	free(body.data);
}

/*
 * The scorer, and for a model whose class is scikit-learn's predict() (a
 * null threshold) the class function <function>_class too: the class cannot
 * be told from the probability alone, so it is computed where the
 * estimator's sums are.
 */
char *
predict_model_to_sql(const predict_model *model, const char *function, const char *helpers,
					 predict_error *err)
{
	sql_buffer	out = {0};
	bool	   *read_at;
	bool	   *seen;

	if (!check_compiled_type(&model->estimator, err) || !check_tree_size(model, err))
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
	emit_function(model, function, helpers, read_at, false, &out);
	if (!predict_model_has_threshold(model))
		emit_function(model, function, helpers, read_at, true, &out);
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
