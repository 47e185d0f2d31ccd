/*
 * util.c - error reporting, quoting and the checks every piece of JSON text
 * passes before cJSON sees it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predict.h"
#include "shortest.h"
#include "util.h"

predict_status
predict_set_error(predict_error *err, predict_status status, const char *format,...)
{
	va_list		args;

	if (err == NULL)
		return status;
	err->status = status;
	va_start(args, format);
	vsnprintf(err->message, sizeof(err->message), format, args);
	va_end(args);
	return status;
}

/*
 * Quote at most ~40 bytes of s for a message, escaping what a terminal or a
 * log line should not receive raw, and never cutting a UTF-8 sequence.
 */
void
predict_quote(char *buf, size_t size, const char *s, size_t len)
{
	const size_t max_shown = 40;
	size_t		out = 0;
	size_t		i = 0;

	if (size < 8)
	{
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	buf[out++] = '"';
	while (i < len && i < max_shown && out + 8 < size)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			buf[out++] = '\\';
			buf[out++] = (char) c;
			i++;
		}
		else if (c < 0x20 || c == 0x7f)
		{
			out += (size_t) snprintf(buf + out, size - out, "\\u%04x", c);
			i++;
		}
		else if (c < 0x80)
			buf[out++] = s[i++];
		else
		{
			size_t		n = utf8_sequence_length(s + i, len - i);

			if (n == 0 || out + n + 4 >= size)
				break;
			memcpy(buf + out, s + i, n);
			out += n;
			i += n;
		}
	}
	if (i < len && out + 4 < size)
	{
		memcpy(buf + out, "...", 3);
		out += 3;
	}
	buf[out++] = '"';
	buf[out] = '\0';
}

/*
 * x as PostgreSQL's float8 output writes it (extra_float_digits >= 1): the
 * shortest digits that read back as x, in fixed notation for decimal
 * exponents from -4 to 14 and as d.ddde+XX otherwise ("0.1", "1e+15",
 * "5e-324", "Infinity"). Messages quoting numbers then read the same from
 * the C core and from the SQL scorer of managed mode.
 */
void
predict_format_number(char *buf, size_t size, double x)
{
	char		digits[17];
	int			ndigits;
	int			exponent;
	size_t		out = 0;

	if (size < 32)
	{
		/* too small for every number: say nothing rather than something wrong */
		if (size > 0)
			buf[0] = '\0';
		return;
	}
	if (isnan(x) || isinf(x) || x == 0)
	{
		snprintf(buf, size, "%s", isnan(x) ? "NaN" : isinf(x) ? (x > 0 ? "Infinity" : "-Infinity")
				 : signbit(x) ? "-0" : "0");
		return;
	}
	ndigits = shortest_digits(fabs(x), digits, &exponent);
	if (x < 0)
		buf[out++] = '-';
	if (exponent < -4 || exponent >= 15)
	{
		buf[out++] = digits[0];
		if (ndigits > 1)
		{
			buf[out++] = '.';
			memcpy(buf + out, digits + 1, (size_t) ndigits - 1);
			out += (size_t) ndigits - 1;
		}
		snprintf(buf + out, size - out, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
		return;
	}
	if (exponent < 0)
	{
		buf[out++] = '0';
		buf[out++] = '.';
		for (int i = 0; i < -exponent - 1; i++)
			buf[out++] = '0';
		memcpy(buf + out, digits, (size_t) ndigits);
		out += (size_t) ndigits;
	}
	else
	{
		for (int i = 0; i <= exponent; i++)
			buf[out++] = i < ndigits ? digits[i] : '0';
		if (ndigits > exponent + 1)
		{
			buf[out++] = '.';
			memcpy(buf + out, digits + exponent + 1, (size_t) (ndigits - exponent - 1));
			out += (size_t) (ndigits - exponent - 1);
		}
	}
	buf[out] = '\0';
}

/*
 * x as printf's "%.17g" writes it (17 significant digits, enough to read
 * back as x), into buf of at least 32 bytes. Probabilities from 1e-4 up to
 * 1 are printed here with integer arithmetic, exactly as the C library
 * rounds (the exact binary value, ties to even); everything else goes to
 * snprintf. The CLI prints one per row, where snprintf's multiple-precision
 * path was a third of the time.
 */
void
predict_format_g17(char *buf, double x)
{
	static const uint64_t ten16 = UINT64_C(10000000000000000);
	uint64_t	bits;
	uint64_t	mantissa;
	unsigned __int128 scaled = 0;
	unsigned __int128 power;
	unsigned __int128 rest;
	unsigned __int128 half;
	uint64_t	q = 0;
	int			shift;
	int			exponent;
	int			out = 0;
	int			ndigits = 17;
	char		digits[17];

	memcpy(&bits, &x, sizeof(bits));
	if (!(x > 0 && x < 1) || ((bits >> 52) & 0x7ff) == 0)
	{
		snprintf(buf, 32, "%.17g", x);
		return;
	}
	mantissa = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
	shift = 1075 - (int) ((bits >> 52) & 0x7ff);	/* x = mantissa / 2^shift */
	/* the decimal exponent: the first power 10^(16 - exponent) that gives 17 digits */
	power = (unsigned __int128) ten16 * 10;
	for (exponent = -1; exponent >= -4 && shift < 100; exponent--, power *= 10)
	{
		scaled = mantissa * power;
		if ((q = (uint64_t) (scaled >> shift)) >= ten16)
			break;
	}
	if (exponent < -4 || shift >= 100)
	{
		snprintf(buf, 32, "%.17g", x);
		return;
	}
	rest = scaled & ((((unsigned __int128) 1) << shift) - 1);
	half = ((unsigned __int128) 1) << (shift - 1);
	if (rest > half || (rest == half && (q & 1)))
		q++;
	if (q == ten16 * 10)
	{
		q = ten16;
		exponent++;
	}
	if (exponent == 0)
	{
		strcpy(buf, "1");
		return;
	}
	for (int i = 16; i >= 0; i--, q /= 10)
		digits[i] = (char) ('0' + q % 10);
	while (digits[ndigits - 1] == '0')
		ndigits--;
	buf[out++] = '0';
	buf[out++] = '.';
	for (int i = 0; i < -exponent - 1; i++)
		buf[out++] = '0';
	memcpy(buf + out, digits, (size_t) ndigits);
	buf[out + ndigits] = '\0';
}

/*
 * Length of the valid UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) starting at s, or 0 if invalid.
 */
size_t
utf8_sequence_length(const char *s, size_t avail)
{
	const unsigned char *p = (const unsigned char *) s;
	unsigned int cp;
	size_t		n;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static bool
is_hex_zero(const char *s)
{
	return s[0] == '0' && s[1] == '0' && s[2] == '0' && s[3] == '0';
}

/*
 * Bytes json_text_check must look at: outside strings a quote, NUL or a
 * non-ASCII byte; inside strings also a backslash or a control character.
 * Everything else is skipped by the fast loops below.
 */
static unsigned char special_bytes[2][256];

static void
init_special_bytes(void)
{
	for (int c = 0; c < 256; c++)
	{
		special_bytes[0][c] = (c == '"' || c == '\0' || c >= 0x80);
		special_bytes[1][c] = (c == '"' || c == '\\' || c < 0x20 || c >= 0x80);
	}
}

/*
 * Refuse what cJSON would accept but PostgreSQL's jsonb and Python's json
 * refuse, so that every adapter accepts exactly the same documents: invalid
 * UTF-8, raw control characters inside strings, and the escape \u0000 (which
 * would silently truncate a cJSON string). Returns NULL when the text is
 * acceptable, else a reason, with *offset set to the byte concerned.
 */
const char *
json_text_check(const char *text, size_t len, size_t *offset)
{
	const unsigned char *p = (const unsigned char *) text;
	int			in_string = 0;
	size_t		i = 0;

	if (!special_bytes[0]['"'])
		init_special_bytes();	/* idempotent: a race writes the same bytes */
	for (;;)
	{
		const unsigned char *special = special_bytes[in_string];
		unsigned char c;

		while (i < len && !special[p[i]])
			i++;
		if (i >= len)
			return NULL;
		c = p[i];
		*offset = i;
		if (c >= 0x80)
		{
			size_t		n = utf8_sequence_length(text + i, len - i);

			if (n == 0)
				return "invalid UTF-8";
			i += n;
		}
		else if (c == '"')
		{
			in_string = !in_string;
			i++;
		}
		else if (!in_string)
			return "NUL byte";
		else if (c < 0x20)
			return "control character in a string";
		else
		{
			/* a backslash: refuse \u0000, skip the escaped character */
			if (i + 5 < len && p[i + 1] == 'u' && is_hex_zero(text + i + 2))
				return "\\u0000 is not allowed in strings";
			i += 2;
		}
	}
}

bool
predict_model_name_valid(const char *name, size_t len)
{
	if (len < 1 || len > PREDICT_MODEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

void
predict_json_string(const char *s, size_t n, predict_append_fn append, void *sink)
{
	static const char hex[] = "0123456789abcdef";
	size_t		start = 0;

	append(sink, "\"", 1);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[6] = {'\\', (char) c};
		size_t		len = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		append(sink, s + start, i - start);
		start = i + 1;
		if (c == '\n')
			esc[1] = 'n';
		else if (c == '\t')
			esc[1] = 't';
		else if (c != '"' && c != '\\')
		{
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			len = 6;
		}
		append(sink, esc, len);
	}
	append(sink, s + start, n - start);
	append(sink, "\"", 1);
}

int
predict_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
