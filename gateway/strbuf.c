/*
 * strbuf.c - growable buffers and JSON writers for response bodies.
 */
#include "strbuf.h"
#include "predict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sb_init(strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void
sb_free(strbuf *sb)
{
	free(sb->data);
	sb_init(sb);
}

char *
sb_steal(strbuf *sb, size_t *len)
{
	char	   *data = sb->data;

	*len = sb->len;
	sb_init(sb);
	return data;
}

/* Make room for n more bytes plus a NUL; false (and failed set) if impossible. */
static bool
sb_reserve(strbuf *sb, size_t n)
{
	size_t		cap;
	char	   *data;

	if (sb->failed)
		return false;
	if (sb->len + n + 1 <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 1024;
	while (cap < sb->len + n + 1)
	{
		if (cap > SIZE_MAX / 2)
		{
			sb->failed = true;
			return false;
		}
		cap *= 2;
	}
	data = realloc(sb->data, cap);
	if (data == NULL)
	{
		sb->failed = true;
		return false;
	}
	sb->data = data;
	sb->cap = cap;
	return true;
}

void
sb_append(strbuf *sb, const char *s, size_t n)
{
	if (!sb_reserve(sb, n))
		return;
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
sb_puts(strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void
sb_printf(strbuf *sb, const char *format,...)
{
	va_list		ap;
	int			n;

	va_start(ap, format);
	n = vsnprintf(NULL, 0, format, ap);
	va_end(ap);
	if (n < 0 || !sb_reserve(sb, (size_t) n))
	{
		sb->failed = true;
		return;
	}
	va_start(ap, format);
	vsnprintf(sb->data + sb->len, (size_t) n + 1, format, ap);
	va_end(ap);
	sb->len += (size_t) n;
}

static void
sb_append_piece(void *sink, const char *s, size_t n)
{
	sb_append((strbuf *) sink, s, n);
}

void
sb_json_string(strbuf *sb, const char *s, size_t n)
{
	predict_json_string(s, n, sb_append_piece, sb);
}

void
sb_json_double(strbuf *sb, double d)
{
	char		buf[32];
	int			precision;

	if (!isfinite(d))
	{
		sb_append(sb, "null", 4);
		return;
	}
	/* the shortest of %.15g .. %.17g that reads back exactly */
	for (precision = 15; precision <= 17; precision++)
	{
		snprintf(buf, sizeof(buf), "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	sb_puts(sb, buf);
}

/* Whether s[0..len) is a number as RFC 8259 writes it. */
bool
json_number_valid(const char *s, size_t len)
{
	size_t		i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len)
		return false;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < len && s[i] == '.')
	{
		size_t		digits = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == digits)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		size_t		digits;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		digits = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == digits)
			return false;
	}
	return i == len;
}

void
sb_json_int64(strbuf *sb, int64_t v)
{
	char		buf[24];
	char	   *p = buf + sizeof(buf);
	uint64_t	u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	sb_append(sb, p, (size_t) (buf + sizeof(buf) - p));
}

void
sb_json_number_text(strbuf *sb, const char *text, double value)
{
	size_t		len = text != NULL ? strlen(text) : 0;

	if (len > 0 && json_number_valid(text, len))
		sb_append(sb, text, len);
	else
		sb_json_double(sb, value);
}
