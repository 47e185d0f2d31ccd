/*
 * observation.c - read an observation given as JSON text (the CLI, SQLite)
 * into the core's input values, and score it.
 *
 * The reader scans the one flat object in place instead of building a cJSON
 * tree per row: keys are looked up as they come, numbers are converted only
 * for the model's columns, strings without escapes are pointed at where they
 * are. It accepts and refuses exactly what cJSON 1.7.15 (as Debian ships it,
 * with its fixes for long numbers and for an object ending after a comma)
 * does, with cJSON's error offsets: every step below mirrors one of
 * cJSON's parse functions, so "not valid JSON near byte N" reads the same
 * as before and as in the model loader. test/unit/reference_observation.c
 * keeps the cJSON reader, and test/fuzz/fuzz_observation.c compares the two.
 */
#include <ctype.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "predict.h"
#include "util.h"

/* cJSON's CJSON_NESTING_LIMIT: arrays and objects nested deeper fail. */
#define JSON_NESTING_LIMIT 1000

/* Numbers longer than this are copied to the heap for strtod, as cJSON does. */
#define NUMBER_STACK_BYTES 128

typedef struct json_scan
{
	const unsigned char *text;
	size_t		length;
	size_t		offset;
	size_t		depth;
	observation_strings *strings;
	bool		no_memory;
} json_scan;

#define can_access(sc, index) ((sc)->offset + (index) < (sc)->length)
#define can_read(sc, size) ((sc)->offset + (size) <= (sc)->length)
#define at(sc) ((sc)->text[(sc)->offset])

static bool scan_value(json_scan *sc, predict_value *out);

/* cJSON's buffer_skip_whitespace: every byte up to 32 is whitespace. */
static void
skip_whitespace(json_scan *sc)
{
	if (!can_access(sc, 0))
		return;
	while (can_access(sc, 0) && at(sc) <= 32)
		sc->offset++;
	if (sc->offset == sc->length)
		sc->offset--;
}

/*
 * Room for n more bytes of decoded strings: the caller's buffer, then one
 * allocation as large as the whole text (every decoded string is shorter
 * than its literal). NULL when that allocation fails.
 */
static char *
strings_reserve(json_scan *sc, size_t n)
{
	observation_strings *s = sc->strings;

	if (s->size - s->used >= n)
		return s->buffer + s->used;
	if (s->heap != NULL || (s->heap = malloc(sc->length)) == NULL)
	{
		sc->no_memory = true;
		return NULL;
	}
	s->buffer = s->heap;
	s->size = sc->length;
	s->used = 0;
	return s->buffer;
}

/* cJSON's parse_hex4: four hex digits, or 0 if any is not one. */
static unsigned int
hex4(const unsigned char *p)
{
	unsigned int h = 0;

	for (int i = 0; i < 4; i++)
	{
		int			d = predict_hex_value((char) p[i]);

		if (d < 0)
			return 0;
		h = (h << 4) | (unsigned int) d;
	}
	return h;
}

/*
 * cJSON's utf16_literal_to_utf8: the \uXXXX (or surrogate pair) at p, before
 * the closing quote at end, as UTF-8 into out (NULL: only check). Returns the
 * length of the escape, 0 when cJSON refuses it.
 */
static size_t
decode_utf16_escape(const unsigned char *p, const unsigned char *end,
					unsigned char *out, size_t *written)
{
	unsigned long codepoint;
	unsigned int first;
	size_t		consumed = 6;
	size_t		n;

	if (end - p < 6)
		return 0;
	first = hex4(p + 2);
	if (first >= 0xDC00 && first <= 0xDFFF)
		return 0;
	codepoint = first;
	if (first >= 0xD800 && first <= 0xDBFF)
	{
		unsigned int second;

		if (end - (p + 6) < 6 || p[6] != '\\' || p[7] != 'u')
			return 0;
		second = hex4(p + 8);
		if (second < 0xDC00 || second > 0xDFFF)
			return 0;
		codepoint = 0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF));
		consumed = 12;
	}
	n = codepoint < 0x80 ? 1 : codepoint < 0x800 ? 2 : codepoint < 0x10000 ? 3 : 4;
	if (out != NULL)
	{
		static const unsigned char first_mark[5] = {0, 0, 0xC0, 0xE0, 0xF0};

		for (size_t i = n - 1; i > 0; i--)
		{
			out[i] = (unsigned char) ((codepoint | 0x80) & 0xBF);
			codepoint >>= 6;
		}
		out[0] = (unsigned char) (n > 1 ? (codepoint | first_mark[n]) & 0xFF : codepoint & 0x7F);
	}
	*written = n;
	return consumed;
}

/*
 * Decode the escapes of the literal between from and end into out (NULL:
 * only check them). Returns false, with the offset of the bad escape, as
 * cJSON's parse_string. *length is the decoded length up to the first NUL
 * (an invalid \u escape decodes to one), where cJSON's C string ends.
 */
static bool
decode_escapes(json_scan *sc, size_t from, size_t end, char *out, size_t *length)
{
	const unsigned char *text = sc->text;
	size_t		p = from;
	size_t		n = 0;
	size_t		cut = SIZE_MAX;

	while (p < end)
	{
		unsigned char c = text[p];
		size_t		step = 2;
		size_t		written = 1;

		if (c != '\\')
		{
			if (out != NULL)
				out[n] = (char) c;
			n++;
			p++;
			continue;
		}
		switch (text[p + 1])
		{
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case '"':
			case '\\':
			case '/':
				c = text[p + 1];
				break;
			case 'u':
				step = decode_utf16_escape(text + p, text + end,
										   out != NULL ? (unsigned char *) out + n : NULL,
										   &written);
				if (step == 0)
				{
					sc->offset = p;
					return false;
				}
				if (written == 1 && hex4(text + p + 2) == 0 && cut == SIZE_MAX)
					cut = n;
				break;
			default:
				sc->offset = p;
				return false;
		}
		if (step == 2 && out != NULL)
			out[n] = (char) c;
		n += written;
		p += step;
	}
	*length = cut < n ? cut : n;
	return true;
}

/*
 * cJSON's parse_string, at a '"'. With want set, *string and *length are
 * the decoded bytes: the literal itself when it has no escapes, else a copy
 * in sc->strings.
 */
static bool
scan_string(json_scan *sc, bool want, const char **string, size_t *length)
{
	const unsigned char *text = sc->text;
	size_t		start = sc->offset + 1;
	size_t		end = start;
	bool		escapes = false;

	if (at(sc) != '"')
	{
		sc->offset = start;
		return false;
	}
	while (end < sc->length && text[end] != '"')
	{
		if (text[end] == '\\')
		{
			if (end + 1 >= sc->length)
			{
				sc->offset = start;
				return false;
			}
			escapes = true;
			end++;
		}
		end++;
	}
	if (end >= sc->length)
	{
		sc->offset = start;
		return false;
	}
	if (!escapes)
	{
		if (want)
		{
			*string = (const char *) text + start;
			*length = end - start;
		}
	}
	else
	{
		char	   *out = NULL;

		if (want && (out = strings_reserve(sc, end - start)) == NULL)
			return false;
		if (!decode_escapes(sc, start, end, out, length))
			return false;
		if (want)
		{
			*string = out;
			sc->strings->used += *length;
		}
	}
	sc->offset = end + 1;
	return true;
}

static int
digits(const unsigned char *s, size_t n, size_t i)
{
	size_t		from = i;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return (int) (i - from);
}

/* Powers of ten that are exact doubles. */
static const double exact_powers[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * The double of a decimal number when one IEEE operation gives it exactly
 * rounded (Clinger's fast path): at most 15 significant digits, a power of
 * ten up to 22. Returns false otherwise, for strtod to decide.
 */
static bool
fast_decimal(const unsigned char *s, size_t n, double *value)
{
	uint64_t	mantissa = 0;
	int			ndigits = 0;
	int			scale = 0;
	int			exponent = 0;
	bool		negative = false;
	bool		point = false;
	size_t		i = 0;

	if (s[0] == '-')
		negative = true, i++;
	for (; i < n; i++)
	{
		unsigned char c = s[i];

		if (c == '.')
			point = true;
		else if (c >= '0' && c <= '9')
		{
			if (mantissa == 0 && c == '0')
			{
				if (point)
					scale--;
				continue;
			}
			if (++ndigits > 15)
				return false;
			mantissa = mantissa * 10 + (uint64_t) (c - '0');
			if (point)
				scale--;
		}
		else
			break;				/* the exponent */
	}
	if (i < n)
	{
		bool		minus = false;

		i++;
		if (s[i] == '+' || s[i] == '-')
			minus = s[i++] == '-';
		if (n - i > 4)
			return false;
		for (; i < n; i++)
			exponent = exponent * 10 + (s[i] - '0');
		if (minus)
			exponent = -exponent;
	}
	if (mantissa == 0)
	{
		*value = negative ? -0.0 : 0.0;
		return true;
	}
	scale += exponent;
	if (scale < -22 || scale > 22)
		return false;
	*value = scale < 0 ? (double) mantissa / exact_powers[-scale] :
		(double) mantissa * exact_powers[scale];
	if (negative)
		*value = -*value;
	return true;
}

/*
 * strtod on the n bytes at s with '.' as the locale's decimal point, as
 * cJSON's parse_number calls it.
 */
static bool
strtod_decimal(json_scan *sc, const unsigned char *s, size_t n, double *value)
{
	char		stack[NUMBER_STACK_BYTES];
	char	   *copy = n < sizeof(stack) ? stack : malloc(n + 1);
	char		point = localeconv()->decimal_point[0];

	if (copy == NULL)
	{
		sc->no_memory = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		copy[i] = s[i] == '.' ? point : (char) s[i];
	copy[n] = '\0';
	*value = strtod(copy, NULL);
	if (copy != stack)
		free(copy);
	return true;
}

/*
 * cJSON's parse_number: cJSON copies the run of bytes among 0-9 + - e E .
 * and lets strtod take what it can from it, the rest being left for the
 * caller to refuse. strtod takes the longest prefix of that run of the form
 * -?(d+(.d*)?|.d+)([eE][+-]?d+)? (no hexadecimal, inf or nan is possible
 * without other letters), which is what is consumed here.
 */
static bool
scan_number(json_scan *sc, predict_value *out)
{
	const unsigned char *s = sc->text + sc->offset;
	size_t		avail = sc->length - sc->offset;
	size_t		i = 0;
	int			whole;
	int			fraction = 0;
	double		number;

	if (s[0] == '-')
		i++;
	whole = digits(s, avail, i);
	i += (size_t) whole;
	if (i < avail && s[i] == '.')
	{
		fraction = digits(s, avail, i + 1);
		if (whole + fraction > 0)
			i += 1 + (size_t) fraction;
	}
	if (whole + fraction == 0)
		return false;
	if (i < avail && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		e = i + 1;

		if (e < avail && (s[e] == '+' || s[e] == '-'))
			e++;
		if (digits(s, avail, e) > 0)
			i = e + (size_t) digits(s, avail, e);
	}
	if (out != NULL)
	{
		if (!fast_decimal(s, i, &number) && !strtod_decimal(sc, s, i, &number))
			return false;
		out->kind = PREDICT_VALUE_NUMBER;
		out->number = number;
	}
	sc->offset += i;
	return true;
}

/*
 * cJSON's parse_array and parse_object in one, at a '[' or '{': with values
 * set (the observation itself), the members go to the model's columns;
 * nested containers are only checked.
 */
static bool
scan_container(json_scan *sc, const predict_model *model, predict_value *values)
{
	bool		object = at(sc) == '{';
	char		close = object ? '}' : ']';

	if (sc->depth >= JSON_NESTING_LIMIT)
		return false;
	sc->depth++;
	sc->offset++;
	skip_whitespace(sc);
	if (can_access(sc, 0) && at(sc) == close)
		goto success;
	if (!can_access(sc, 0))
	{
		sc->offset--;
		return false;
	}
	sc->offset--;
	do
	{
		predict_value *out = NULL;

		if (object)
		{
			const char *key = NULL;
			size_t		keylen = 0;

			/* Debian's fix of cJSON: nothing after the comma */
			if (!can_access(sc, 1))
				return false;
			sc->offset++;
			skip_whitespace(sc);
			if (!scan_string(sc, values != NULL, &key, &keylen))
				return false;
			if (values != NULL)
			{
				long		col = predict_model_find_column(model, key, keylen);

				if (col >= 0)
					out = &values[col];
			}
			skip_whitespace(sc);
			if (!can_access(sc, 0) || at(sc) != ':')
				return false;
		}
		sc->offset++;
		skip_whitespace(sc);
		if (!scan_value(sc, out))
			return false;
		skip_whitespace(sc);
	}
	while (can_access(sc, 0) && at(sc) == ',');
	if (!can_access(sc, 0) || at(sc) != close)
		return false;
success:
	sc->depth--;
	sc->offset++;
	return true;
}

/*
 * cJSON's parse_value. out (NULL: not wanted) receives the value as the
 * core reads it: for an object or array, only which of the two it is.
 */
static bool
scan_value(json_scan *sc, predict_value *out)
{
	predict_value ignored;
	unsigned char c;

	if (out == NULL)
		out = &ignored;
	memset(out, 0, sizeof(*out));
	if (!can_access(sc, 0))
		return false;
	/* cJSON tries the literals first; only their first letters can match */
	c = at(sc);
	if (c == 'n' && can_read(sc, 4) && memcmp(sc->text + sc->offset, "null", 4) == 0)
	{
		sc->offset += 4;
		return true;
	}
	if (c == 'f' && can_read(sc, 5) && memcmp(sc->text + sc->offset, "false", 5) == 0)
	{
		out->kind = PREDICT_VALUE_BOOL;
		sc->offset += 5;
		return true;
	}
	if (c == 't' && can_read(sc, 4) && memcmp(sc->text + sc->offset, "true", 4) == 0)
	{
		out->kind = PREDICT_VALUE_BOOL;
		out->number = 1.0;
		sc->offset += 4;
		return true;
	}
	if (c == '"')
	{
		out->kind = PREDICT_VALUE_STRING;
		return scan_string(sc, out != &ignored, &out->string, &out->length);
	}
	if (c == '-' || (c >= '0' && c <= '9'))
	{
		out->kind = PREDICT_VALUE_NUMBER;
		return scan_number(sc, out != &ignored ? out : NULL);
	}
	if (c == '[' || c == '{')
	{
		out->kind = PREDICT_VALUE_OTHER;
		out->length = c == '[' ? 1 : 0;
		return scan_container(sc, NULL, NULL);
	}
	return false;
}

/* The kind of the top-level value for "expected a JSON object, got ...". */
static const char *
value_kind_name(const predict_value *value)
{
	switch (value->kind)
	{
		case PREDICT_VALUE_OTHER:
			return "an array";
		case PREDICT_VALUE_STRING:
			return "a string";
		case PREDICT_VALUE_NUMBER:
			return "a number";
		case PREDICT_VALUE_BOOL:
			return "a boolean";
		default:
			return "null";
	}
}

/* cJSON_ParseWithLengthOpts's error position: the offset, within the text. */
static predict_status
syntax_error(const json_scan *sc, predict_error *err)
{
	size_t		position = 0;

	if (sc->no_memory)
		return predict_set_error(err, PREDICT_NO_MEMORY, "out of memory while reading the observation");
	if (sc->offset < sc->length)
		position = sc->offset;
	else if (sc->length > 0)
		position = sc->length - 1;
	return predict_set_error(err, PREDICT_BAD_OBSERVATION,
							 PREDICT_WHOLE_OBSERVATION "not valid JSON near byte %zu", position);
}

predict_status
read_observation(const predict_model *model, const char *json, size_t len,
				 predict_value *values, observation_strings *strings, predict_error *err)
{
	json_scan	sc = {(const unsigned char *) json, len, 0, 0, strings, false};
	predict_value top;
	const char *reason;
	size_t		offset = 0;
	size_t		end;

	strings->buffer = strings->stack;
	strings->size = sizeof(strings->stack);
	strings->used = 0;
	strings->heap = NULL;
	if (len > PREDICT_MAX_OBSERVATION_BYTES)
		return predict_set_error(err, PREDICT_TOO_LARGE,
								 PREDICT_WHOLE_OBSERVATION "%zu bytes exceeds the limit of %zu", len,
								 PREDICT_MAX_OBSERVATION_BYTES);
	if ((reason = json_text_check(json, len, &offset)) != NULL)
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 PREDICT_WHOLE_OBSERVATION "%s at byte %zu", reason, offset);
	if (json == NULL || len == 0)
		return syntax_error(&sc, err);
	/* cJSON skips a byte order mark only when four more bytes follow it */
	if (len >= 5 && memcmp(json, "\xEF\xBB\xBF", 3) == 0)
		sc.offset = 3;
	skip_whitespace(&sc);
	memset(values, 0, predict_model_ncolumns(model) * sizeof(predict_value));
	if (can_access(&sc, 0) && at(&sc) == '{')
	{
		top.kind = PREDICT_VALUE_OTHER;
		top.length = 0;
		if (!scan_container(&sc, model, values))
			return syntax_error(&sc, err);
	}
	else if (!scan_value(&sc, &top))
		return syntax_error(&sc, err);
	end = sc.offset;
	while (end < len && isspace((unsigned char) json[end]))
		end++;
	if (end != len)
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 PREDICT_WHOLE_OBSERVATION "unexpected text after the JSON value at byte %zu",
								 end);
	if (top.kind != PREDICT_VALUE_OTHER || top.length != 0)
		return predict_set_error(err, PREDICT_BAD_OBSERVATION,
								 PREDICT_WHOLE_OBSERVATION "expected a JSON object, got %s",
								 value_kind_name(&top));
	return PREDICT_OK;
}

void
observation_strings_free(observation_strings *strings)
{
	free(strings->heap);
	strings->heap = NULL;
}

predict_status
predict_score_json(const predict_model *model, const char *json, size_t len,
				   predict_value *values, double *proba, predict_error *err)
{
	bool		predicted;

	return predict_score_json_class(model, json, len, values, proba, &predicted, err);
}

predict_status
predict_score_json_class(const predict_model *model, const char *json, size_t len,
						 predict_value *values, double *proba, bool *predicted,
						 predict_error *err)
{
	observation_strings strings;
	predict_error local;
	predict_status status;

	if (err == NULL)
		err = &local;
	status = read_observation(model, json, len, values, &strings, err);
	if (status == PREDICT_OK)
		status = predict_score_class(model, values, proba, predicted, err);
	observation_strings_free(&strings);
	return status;
}

predict_status
predict_explain_json(const predict_model *model, const char *json, size_t len,
					 predict_value *values, void *scratch, double *proba, bool *predicted,
					 double *base, double *contributions, predict_error *err)
{
	observation_strings strings;
	predict_error local;
	predict_status status;

	if (err == NULL)
		err = &local;
	status = read_observation(model, json, len, values, &strings, err);
	if (status == PREDICT_OK)
		status = predict_explain(model, values, scratch, proba, predicted, base,
								 contributions, err);
	observation_strings_free(&strings);
	return status;
}

predict_status
predict_explain_json_reasons(const predict_model *model, const char *json, size_t len,
							 predict_value *values, void *scratch, double *contributions,
							 size_t k, predict_append_fn append, void *sink,
							 predict_error *err)
{
	observation_strings strings;
	predict_error local;
	predict_status status;
	double		base;

	if (err == NULL)
		err = &local;
	status = read_observation(model, json, len, values, &strings, err);
	if (status == PREDICT_OK)
		status = predict_explain(model, values, scratch, NULL, NULL, &base,
								 contributions, err);
	/* values' decoded strings are in strings: write the reasons before freeing them */
	if (status == PREDICT_OK)
		predict_reasons_json(model, values, contributions, k, append, sink);
	observation_strings_free(&strings);
	return status;
}
