/*
 * jsonb_read.c - read an observation (a jsonb object) into the core's
 * predict_value array and score or explain it.
 *
 * The per-row hot path: numerics are converted without a round trip
 * through text where possible, and small objects are read in one pass.
 * Separate because it depends on jsonb's and numeric's representation,
 * and on nothing of the registry or the cache.
 */
#include "postgres.h"

#include <stdlib.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "predict.h"
#include "pg_predict.h"

static const char *
jsonb_scalar_kind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvNull:
			return "null";
		default:
			return "a value";
	}
}

/*
 * numeric's storage format (src/backend/utils/adt/numeric.c keeps it
 * private; it is on disk, hence unchanged since PostgreSQL 9.1): after the
 * 4-byte varlena header, a uint16 header word. Short form (flag bits 10)
 * holds the sign, display scale and a 7-bit weight in it; long form (flag
 * bits 00 positive, 01 negative) has an int16 weight next; flag bits 11 are
 * the special values (NaN, infinities). Then the digits, int16 in base
 * 10000, the first weighted 10000^weight, without leading or trailing zero
 * digits (zero has none).
 */
#define NUMERIC_FLAG_MASK 0xC000
#define NUMERIC_FLAG_NEG 0x4000
#define NUMERIC_FLAG_SHORT 0x8000
#define NUMERIC_FLAG_SPECIAL 0xC000
#define NUMERIC_SHORT_SIGN 0x2000
#define NUMERIC_SHORT_WEIGHT_SIGN 0x0040
#define NUMERIC_SHORT_WEIGHT 0x003F

static const double powers_of_ten[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * Most observation numbers have few digits; read those directly. When the
 * digits (at most 4 base-10000 digits) form an integer m <= 2^53 and the
 * decimal exponent e is within [-22, 22], m and 10^|e| are exact doubles and
 * m * 10^e (or m / 10^-e) is one correctly rounded operation: exactly what
 * strtod gives for the number's decimal text (Clinger's fast path), without
 * numeric_out's string. Returns false for everything else.
 */
static bool
numeric_to_double_fast(Numeric num, double *value)
{
	const char *data = (const char *) num;
	uint16		header;
	bool		negative;
	int			weight;
	const char *digits;
	int			ndigits;
	uint64		mantissa = 0;
	int			exponent;

	if (VARATT_IS_EXTENDED(num))
		return false;
	memcpy(&header, data + VARHDRSZ, sizeof(header));
	if ((header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_SPECIAL)
		return false;
	if ((header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_SHORT)
	{
		negative = (header & NUMERIC_SHORT_SIGN) != 0;
		weight = (header & NUMERIC_SHORT_WEIGHT) |
			((header & NUMERIC_SHORT_WEIGHT_SIGN) ? ~NUMERIC_SHORT_WEIGHT : 0);
		digits = data + VARHDRSZ + sizeof(uint16);
	}
	else
	{
		int16		long_weight;

		negative = (header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_NEG;
		memcpy(&long_weight, data + VARHDRSZ + sizeof(uint16), sizeof(long_weight));
		weight = long_weight;
		digits = data + VARHDRSZ + sizeof(uint16) + sizeof(int16);
	}
	ndigits = (int) ((VARSIZE(num) - (Size) (digits - data)) / sizeof(int16));
	if (ndigits < 0 || ndigits > 4)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		digit;

		memcpy(&digit, digits + i * sizeof(int16), sizeof(digit));
		if (digit < 0 || digit > 9999)
			return false;
		mantissa = mantissa * 10000 + (uint64) digit;
	}
	if (mantissa > ((uint64) 1 << 53))
		return false;
	exponent = 4 * (weight - ndigits + 1);
	if (exponent < -22 || exponent > 22)
		return false;
	*value = exponent >= 0 ? (double) mantissa * powers_of_ten[exponent]
		: (double) mantissa / powers_of_ten[-exponent];
	if (negative)
		*value = -*value;
	return true;
}

/*
 * A jsonb number as the nearest double, as strtod reads numeric's exact
 * decimal text: correctly rounded, overflowing to infinity (1e400 is inf,
 * which the core reports as "value is infinite", as the CLI does).
 */
static double
numeric_to_double(Numeric num)
{
	char	   *text;
	double		value;

	if (numeric_to_double_fast(num, &value))
		return value;
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	value = strtod(text, NULL);
	pfree(text);
	return value;
}

static bool
has_high_bit(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if ((unsigned char) s[i] >= 0x80)
			return true;
	return false;
}

/* One jsonb value as the core's input value (v == NULL: the key is absent). */
static void
value_from_jsonb(const JsonbValue *v, predict_value *out, bool convert)
{
	out->number = 0.0;
	out->string = NULL;
	out->length = 0;
	if (v == NULL)
	{
		out->kind = PREDICT_VALUE_MISSING;
		return;
	}
	switch (v->type)
	{
		case jbvNull:
			out->kind = PREDICT_VALUE_MISSING;
			break;
		case jbvNumeric:
			out->kind = PREDICT_VALUE_NUMBER;
			out->number = numeric_to_double(v->val.numeric);
			break;
		case jbvBool:
			out->kind = PREDICT_VALUE_BOOL;
			out->number = v->val.boolean ? 1.0 : 0.0;
			break;
		case jbvString:
			out->kind = PREDICT_VALUE_STRING;
			out->string = v->val.string.val;
			out->length = (size_t) v->val.string.len;
			if (convert && has_high_bit(out->string, v->val.string.len))
			{
				out->string = pg_server_to_any(v->val.string.val,
											   v->val.string.len, PG_UTF8);
				out->length = strlen(out->string);
			}
			break;
		case jbvBinary:
			out->kind = PREDICT_VALUE_OTHER;
			out->length = JsonContainerIsArray(v->val.binary.data) ? 1 : 0;
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Objects this small are read in one pass over their pairs. */
#define ONE_PASS_MAX_PAIRS 64

/*
 * Read an object of at most ONE_PASS_MAX_PAIRS pairs in one pass: walk the
 * keys, then the values, in storage order (jsonb.h's JBE_ADVANCE_OFFSET, as
 * jsonb's own iterator does), and find each key's column with the model's
 * hash of column names. jsonb keeps one pair per key (the last), so this
 * gives what a lookup per column gives, without its binary searches. Keys
 * are compared as UTF-8 bytes: not for other database encodings.
 */
static bool
observation_read_one_pass(JsonbContainer *container, const model_entry *entry,
						  predict_value *values)
{
	uint32		npairs = JsonContainerSize(container);
	uint32		key_start[ONE_PASS_MAX_PAIRS];
	uint32		key_end[ONE_PASS_MAX_PAIRS];
	uint32		offset = 0;
	char	   *base;

	if (npairs > ONE_PASS_MAX_PAIRS || npairs > 2 * entry->ncolumns + 8)
		return false;
	base = (char *) &container->children[npairs * 2];
	for (uint32 i = 0; i < npairs; i++)
	{
		key_start[i] = offset;
		JBE_ADVANCE_OFFSET(offset, container->children[i]);
		key_end[i] = offset;
	}
	for (size_t i = 0; i < entry->ncolumns; i++)
		value_from_jsonb(NULL, &values[i], false);
	for (uint32 i = 0; i < npairs; i++)
	{
		JEntry		je = container->children[npairs + i];
		uint32		start = offset;
		long		column;
		JsonbValue	v;

		JBE_ADVANCE_OFFSET(offset, je);
		column = predict_model_find_column(entry->model, base + key_start[i],
										   key_end[i] - key_start[i]);
		if (column < 0)
			continue;
		if (JBE_ISNULL(je))
			v.type = jbvNull;
		else if (JBE_ISSTRING(je))
		{
			v.type = jbvString;
			v.val.string.val = base + start;
			v.val.string.len = (int) (offset - start);
		}
		else if (JBE_ISNUMERIC(je))
		{
			v.type = jbvNumeric;
			v.val.numeric = (Numeric) (base + INTALIGN(start));
		}
		else if (JBE_ISBOOL_TRUE(je) || JBE_ISBOOL_FALSE(je))
		{
			v.type = jbvBool;
			v.val.boolean = JBE_ISBOOL_TRUE(je);
		}
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = (JsonbContainer *) (base + INTALIGN(start));
			v.val.binary.len = (int) (offset - INTALIGN(start));
		}
		value_from_jsonb(&v, &values[column], false);
	}
	return true;
}

/*
 * Fill values (one per model column) from the top level of an observation
 * object. Strings point into the jsonb (or, in a non-UTF-8 database, into a
 * converted copy in the current, per-row memory context). Large objects are
 * read with a lookup per model column.
 */
static void
observation_read(Jsonb *obs, const model_entry *entry, predict_value *values)
{
	bool		convert = GetDatabaseEncoding() != PG_UTF8 &&
		GetDatabaseEncoding() != PG_SQL_ASCII;

	if (!JB_ROOT_IS_OBJECT(obs))
	{
		JsonbValue	scalar;
		const char *kind = "an array";

		if (JB_ROOT_IS_SCALAR(obs) && JsonbExtractScalar(&obs->root, &scalar))
			kind = jsonb_scalar_kind(&scalar);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(PREDICT_WHOLE_OBSERVATION "expected a JSON object, got %s", kind)));
	}
	if (!convert && observation_read_one_pass(&obs->root, entry, values))
		return;
	for (size_t i = 0; i < entry->ncolumns; i++)
	{
		JsonbValue	buf;

		value_from_jsonb(getKeyJsonValueFromContainer(&obs->root,
													  entry->column_names[i],
													  entry->column_lengths[i],
													  &buf),
						 &values[i], convert);
	}
}

double
observation_score(Jsonb *obs, const model_entry *entry, predict_value *values, bool *predicted)
{
	predict_error err;
	double		proba;

	observation_read(obs, entry, values);
	if (predict_score_class(entry->model, values, &proba, predicted, &err) != PREDICT_OK)
		report_predict_error(&err, entry);
	return proba;
}

/*
 * Explain obs with entry's model into state's contributions (allocated by
 * scoring_explain_buffers), and score it into *proba and *predicted unless
 * they are NULL; state->values keep the observation's values, their strings
 * in obs or in the current memory context, for the reasons.
 */
double
observation_explain(Jsonb *obs, const model_entry *entry, scoring_state *state, double *proba,
					bool *predicted)
{
	predict_error err;
	double		base;

	observation_read(obs, entry, state->values);
	if (predict_explain(entry->model, state->values, state->explain_scratch, proba, predicted,
						&base, state->contributions, &err) != PREDICT_OK)
		report_predict_error(&err, entry);
	return base;
}
