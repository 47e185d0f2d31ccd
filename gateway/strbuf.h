/*
 * strbuf.h - a growable byte buffer and the JSON writers the responses need.
 *
 * Allocation failures are sticky: once an append fails, `failed` is set and
 * later appends do nothing, so a caller checks once, at the end.
 */
#ifndef GATEWAY_STRBUF_H
#define GATEWAY_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strbuf
{
	char	   *data;			/* NUL-terminated when not failed */
	size_t		len;
	size_t		cap;
	bool		failed;
} strbuf;

void		sb_init(strbuf *sb);
void		sb_free(strbuf *sb);
/* Hand the data to the caller (who frees it); sb is left empty. */
char	   *sb_steal(strbuf *sb, size_t *len);
void		sb_append(strbuf *sb, const char *s, size_t n);
void		sb_puts(strbuf *sb, const char *s);
void		sb_printf(strbuf *sb, const char *format,...)
			__attribute__((format(printf, 2, 3)));

/* A JSON string literal (quoted, escaped) of the n bytes at s. */
void		sb_json_string(strbuf *sb, const char *s, size_t n);
/* A JSON number: the shortest decimal that reads back as d; null if not finite. */
void		sb_json_double(strbuf *sb, double d);
void		sb_json_int64(strbuf *sb, int64_t v);
/* text if it is a JSON number (a database's exact decimal), else value as above. */
void		sb_json_number_text(strbuf *sb, const char *text, double value);

/* Whether s[0..len) is a number as RFC 8259 writes it. */
bool		json_number_valid(const char *s, size_t len);

#endif							/* GATEWAY_STRBUF_H */
