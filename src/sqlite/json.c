/*
 * json.c - observations in canonical form, and compared as jsonb compares
 * them: what an idempotent insert needs to tell a retry of the same
 * observation from a different observation under the same id.
 *
 *   predict_json(json) -> text
 *       The canonical form: no whitespace, object keys sorted (bytewise),
 *       the last of duplicate keys kept, strings with minimal escapes,
 *       numbers as written. NULL in, NULL out; an error if it is not JSON.
 *       The predictions triggers store observations in this form, as the
 *       gateway does (PostgreSQL's jsonb normalises them likewise).
 *   predict_json_equal(a, b) -> integer 0 or 1
 *       Whether a and b are the same JSON value as jsonb's equality sees
 *       it: canonical forms in which numbers are also normalised (22, 22.0
 *       and 2.2e1 are equal). NULL if either is NULL.
 *
 * The text is parsed strictly (RFC 8259, no \u0000, no lone surrogate
 * escapes), whatever wrote it; bytes in strings are kept as they are.
 * Work is linear in the text, whatever the nesting: the canonical bytes are
 * written once, in parsing order, into an arena, and each value is a chain
 * of pieces of the arena; an object reorders its members by relinking
 * their chains, not by copying bytes, and the top chain is copied out once. (Building each object in a buffer
 * of its own and copying it into its parent's would cost depth x size:
 * 1000 nested objects around a long string.) Adjacent pieces merge, so
 * there are about as many pieces as object members.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_predict.h"

/* Nesting depth of observations (the gateway's parser refuses more than 1000). */
#define CANON_MAX_DEPTH 1024

/*
 * A growable byte buffer (SQLite's allocator). Allocation failures are
 * sticky: once an append fails, failed is set and later appends do nothing.
 */
typedef struct jbuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} jbuf;

static void
jb_append(jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *bigger;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((bigger = sqlite3_realloc64(b->data, cap)) == NULL)
		{
			b->failed = true;
			return;
		}
		b->data = bigger;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
jb_append_piece(void *sink, const char *s, size_t n)
{
	jb_append((jbuf *) sink, s, n);
}

/* A JSON string literal, written as the gateway writes it (the core's). */
static void
jb_json_string(jbuf *b, const char *s, size_t n)
{
	predict_json_string(s, n, jb_append_piece, b);
}

typedef struct canon_piece
{
	size_t		off;			/* in the arena */
	size_t		len;
	long		next;			/* index of the next piece, or -1 */
} canon_piece;

typedef struct canon_chain
{
	long		head;
	long		tail;			/* -1, -1: empty */
} canon_chain;

/* What canonicalisation reuses from one call to the next (one per session). */
typedef struct canon_buffers
{
	jbuf		arena;
	jbuf		scratch;		/* a string being decoded */
	canon_piece *pieces;
	size_t		npieces;
	size_t		cap;
} canon_buffers;

typedef struct canon_state
{
	const char *s;
	size_t		len;
	size_t		pos;
	int			depth;
	bool		numbers_by_value;	/* normalise numbers (comparison form) */
	bool		failed;			/* out of memory */
	canon_buffers *b;
} canon_state;

/* One member of an object: its chain, and its encoded key in the arena for sorting. */
typedef struct canon_member
{
	size_t		key_off;
	size_t		key_len;
	canon_chain chain;
	size_t		index;			/* order in the object: the last of equal keys wins */
	const char *arena;			/* the arena's bytes, for sorting */
} canon_member;

static bool canon_value(canon_state *c, canon_chain *ch);

/* Add the arena's bytes from off to its end to ch (merged into its last piece if adjacent). */
static void
chain_mark(canon_state *c, canon_chain *ch, size_t off)
{
	canon_buffers *b = c->b;
	size_t		n = b->arena.len - off;
	canon_piece *p;

	if (b->arena.failed)
	{
		c->failed = true;
		return;
	}
	if (n == 0)
		return;
	if (ch->tail >= 0 && b->pieces[ch->tail].off + b->pieces[ch->tail].len == off)
	{
		b->pieces[ch->tail].len += n;
		return;
	}
	if (b->npieces == b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 256;
		canon_piece *bigger = sqlite3_realloc64(b->pieces, cap * sizeof(*bigger));

		if (bigger == NULL)
		{
			c->failed = true;
			return;
		}
		b->pieces = bigger;
		b->cap = cap;
	}
	p = &b->pieces[b->npieces];
	p->off = off;
	p->len = n;
	p->next = -1;
	if (ch->tail >= 0)
		b->pieces[ch->tail].next = (long) b->npieces;
	else
		ch->head = (long) b->npieces;
	ch->tail = (long) b->npieces;
	b->npieces++;
}

/* Write n bytes at the arena's end and add them to ch. */
static void
chain_put(canon_state *c, canon_chain *ch, const char *text, size_t n)
{
	size_t		off = c->b->arena.len;

	jb_append(&c->b->arena, text, n);
	chain_mark(c, ch, off);
}

/* Append chain tail_chain to ch. */
static void
chain_join(canon_state *c, canon_chain *ch, canon_chain tail_chain)
{
	if (tail_chain.head < 0)
		return;
	if (ch->tail < 0)
		*ch = tail_chain;
	else
	{
		c->b->pieces[ch->tail].next = tail_chain.head;
		ch->tail = tail_chain.tail;
	}
}

static void
canon_skip_space(canon_state *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
							   c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
		c->pos++;
}

/* Four hexadecimal digits at s, or -1. */
static long
hex4(const char *s)
{
	long		v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			d = predict_hex_value(s[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Append code point cp as UTF-8. */
static void
put_utf8(jbuf *sb, long cp)
{
	char		b[4];
	size_t		n;

	if (cp < 0x80)
	{
		b[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (char) (0xc0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3f));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (char) (0xe0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char) (0x80 | (cp & 0x3f));
		n = 3;
	}
	else
	{
		b[0] = (char) (0xf0 | (cp >> 18));
		b[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char) (0x80 | (cp & 0x3f));
		n = 4;
	}
	jb_append(sb, b, n);
}

/*
 * A string at c->pos (on its '"'), decoded, then written back with minimal
 * escapes (jb_json_string's) at the arena's end and added to ch.
 */
static bool
canon_string(canon_state *c, canon_chain *ch)
{
	jbuf	   *d = &c->b->scratch;
	size_t		start;

	d->len = 0;
	start = ++c->pos;
	while (c->pos < c->len)
	{
		unsigned char byte = (unsigned char) c->s[c->pos];
		char		e;

		if (byte == '"')
		{
			size_t		off = c->b->arena.len;

			jb_append(d, c->s + start, c->pos - start);
			c->pos++;
			if (d->failed)
				return !(c->failed = true);
			jb_json_string(&c->b->arena, d->data != NULL ? d->data : "", d->len);
			chain_mark(c, ch, off);
			return !c->failed;
		}
		if (byte < 0x20)
			return false;
		if (byte != '\\')
		{
			c->pos++;
			continue;
		}
		jb_append(d, c->s + start, c->pos - start);
		if (c->pos + 1 >= c->len)
			return false;
		e = c->s[c->pos + 1];
		c->pos += 2;
		switch (e)
		{
			case '"':
			case '\\':
			case '/':
				jb_append(d, &e, 1);
				break;
			case 'b':
				jb_append(d, "\b", 1);
				break;
			case 'f':
				jb_append(d, "\f", 1);
				break;
			case 'n':
				jb_append(d, "\n", 1);
				break;
			case 'r':
				jb_append(d, "\r", 1);
				break;
			case 't':
				jb_append(d, "\t", 1);
				break;
			case 'u':
				{
					long		cp = c->pos + 4 <= c->len ? hex4(c->s + c->pos) : -1;

					if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff))
						return false;	/* \u0000, a bad escape or a lone low surrogate */
					c->pos += 4;
					if (cp >= 0xd800 && cp <= 0xdbff)
					{
						long		low = c->pos + 6 <= c->len && c->s[c->pos] == '\\' &&
							c->s[c->pos + 1] == 'u' ? hex4(c->s + c->pos + 2) : -1;

						if (low < 0xdc00 || low > 0xdfff)
							return false;
						cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
						c->pos += 6;
					}
					put_utf8(d, cp);
					break;
				}
			default:
				return false;
		}
		start = c->pos;
	}
	return false;
}

/* Whether s[i] is a decimal digit (within len). */
static bool
is_digit_at(const char *s, size_t len, size_t i)
{
	return i < len && s[i] >= '0' && s[i] <= '9';
}

/*
 * A number: as written, or (numbers_by_value) as [-]<digits>e<exponent>
 * with no leading or trailing zero digit, "0" for zero, so that numerically
 * equal numbers are equal text. An exponent too large to compute with is
 * kept as written (equal only to the same text).
 */
static bool
canon_number(canon_state *c, canon_chain *ch)
{
	const char *s = c->s;
	jbuf	   *arena = &c->b->arena;
	size_t		start = c->pos,
				int_start,
				int_end,
				frac_start = 0,
				frac_end = 0,
				i = c->pos,
				off = arena->len;
	bool		negative = false;
	long long	exponent = 0;
	bool		exponent_ok = true;

	if (i < c->len && s[i] == '-')
	{
		negative = true;
		i++;
	}
	int_start = i;
	while (is_digit_at(s, c->len, i))
		i++;
	int_end = i;
	if (int_end == int_start || (s[int_start] == '0' && int_end - int_start > 1))
		return false;
	if (i < c->len && s[i] == '.')
	{
		frac_start = ++i;
		while (is_digit_at(s, c->len, i))
			i++;
		frac_end = i;
		if (frac_end == frac_start)
			return false;
	}
	if (i < c->len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		exp_negative = false;
		size_t		digits;

		i++;
		if (i < c->len && (s[i] == '+' || s[i] == '-'))
			exp_negative = s[i++] == '-';
		digits = i;
		while (is_digit_at(s, c->len, i))
		{
			if (exponent > 100000000000000LL)
				exponent_ok = false;
			else
				exponent = exponent * 10 + (s[i] - '0');
			i++;
		}
		if (i == digits)
			return false;
		if (exp_negative)
			exponent = -exponent;
	}
	c->pos = i;
	if (!c->numbers_by_value)
		jb_append(arena, s + start, i - start);
	else if (!exponent_ok)
	{
		jb_append(arena, "x", 1);
		jb_append(arena, s + start, i - start);
	}
	else
	{
		/*
		 * The digits D = integer digits then fraction digits; the value is
		 * D x 10^(exponent - fraction length). Drop D's leading zeros, and
		 * its trailing zeros into the exponent.
		 */
		size_t		int_len = int_end - int_start;
		size_t		frac_len = frac_end - frac_start;
		size_t		n = int_len + frac_len;
		size_t		first = 0,
					last = n;
		size_t		k;

#define DIGIT(k) ((k) < int_len ? s[int_start + (k)] : s[frac_start + (k) - int_len])
		while (first < n && DIGIT(first) == '0')
			first++;
		if (first == n)
			jb_append(arena, "0", 1);
		else
		{
			while (DIGIT(last - 1) == '0')
				last--;
			if (negative)
				jb_append(arena, "-", 1);
			for (k = first; k < last; k++)
			{
				char		digit = DIGIT(k);

				jb_append(arena, &digit, 1);
			}
			{
				char		exp[32];

				snprintf(exp, sizeof(exp), "e%lld", exponent - (long long) frac_len + (long long) (n - last));
				jb_append(arena, exp, strlen(exp));
			}
		}
#undef DIGIT
	}
	chain_mark(c, ch, off);
	return !c->failed;
}

static int
compare_members(const void *a, const void *b)
{
	const canon_member *x = a;
	const canon_member *y = b;
	int			r = memcmp(x->arena + x->key_off, y->arena + y->key_off,
						   x->key_len < y->key_len ? x->key_len : y->key_len);

	if (r != 0)
		return r;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->index < y->index ? -1 : 1;
}

/* An object: its members' chains relinked in key order, the last of equal keys kept. */
static bool
canon_object(canon_state *c, canon_chain *ch)
{
	canon_member *members = NULL;
	size_t		n = 0,
				cap = 0,
				i;
	bool		ok = false;
	bool		first = true;

	c->pos++;
	canon_skip_space(c);
	if (c->pos < c->len && c->s[c->pos] == '}')
	{
		c->pos++;
		chain_put(c, ch, "{}", 2);
		return !c->failed;
	}
	for (;;)
	{
		canon_member m = {0, 0, {-1, -1}, n, NULL};

		canon_skip_space(c);
		if (c->pos >= c->len || c->s[c->pos] != '"')
			goto done;
		m.key_off = c->b->arena.len;
		if (!canon_string(c, &m.chain))
			goto done;
		m.key_len = c->b->arena.len - m.key_off;
		canon_skip_space(c);
		if (c->pos >= c->len || c->s[c->pos] != ':')
			goto done;
		c->pos++;
		chain_put(c, &m.chain, ":", 1);
		if (!canon_value(c, &m.chain))
			goto done;
		if (n == cap)
		{
			canon_member *bigger;

			cap = cap ? cap * 2 : 16;
			bigger = sqlite3_realloc64(members, cap * sizeof(*members));
			if (bigger == NULL)
			{
				c->failed = true;
				goto done;
			}
			members = bigger;
		}
		members[n++] = m;
		canon_skip_space(c);
		if (c->pos < c->len && c->s[c->pos] == ',')
		{
			c->pos++;
			continue;
		}
		if (c->pos < c->len && c->s[c->pos] == '}')
		{
			c->pos++;
			break;
		}
		goto done;
	}
	for (i = 0; i < n; i++)
		members[i].arena = c->b->arena.data;
	qsort(members, n, sizeof(*members), compare_members);
	chain_put(c, ch, "{", 1);
	for (i = 0; i < n; i++)
	{
		/* of a run of equal keys, only the last (in the object's order) */
		if (i + 1 < n && members[i + 1].key_len == members[i].key_len &&
			memcmp(c->b->arena.data + members[i].key_off,
				   c->b->arena.data + members[i + 1].key_off, members[i].key_len) == 0)
			continue;
		if (!first)
			chain_put(c, ch, ",", 1);
		first = false;
		chain_join(c, ch, members[i].chain);
	}
	chain_put(c, ch, "}", 1);
	ok = !c->failed;
done:
	sqlite3_free(members);
	return ok;
}

static bool
canon_array(canon_state *c, canon_chain *ch)
{
	c->pos++;
	chain_put(c, ch, "[", 1);
	canon_skip_space(c);
	if (c->pos < c->len && c->s[c->pos] == ']')
	{
		c->pos++;
		chain_put(c, ch, "]", 1);
		return !c->failed;
	}
	for (;;)
	{
		if (!canon_value(c, ch))
			return false;
		canon_skip_space(c);
		if (c->pos < c->len && c->s[c->pos] == ',')
		{
			c->pos++;
			chain_put(c, ch, ",", 1);
			continue;
		}
		if (c->pos < c->len && c->s[c->pos] == ']')
		{
			c->pos++;
			chain_put(c, ch, "]", 1);
			return !c->failed;
		}
		return false;
	}
}

static bool
canon_literal(canon_state *c, canon_chain *ch, const char *word)
{
	size_t		n = strlen(word);

	if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
		return false;
	c->pos += n;
	chain_put(c, ch, word, n);
	return !c->failed;
}

static bool
canon_value(canon_state *c, canon_chain *ch)
{
	bool		ok;

	canon_skip_space(c);
	if (c->pos >= c->len)
		return false;
	switch (c->s[c->pos])
	{
		case '{':
		case '[':
			if (++c->depth > CANON_MAX_DEPTH)
				return false;
			ok = c->s[c->pos] == '{' ? canon_object(c, ch) : canon_array(c, ch);
			c->depth--;
			return ok;
		case '"':
			return canon_string(c, ch);
		case 't':
			return canon_literal(c, ch, "true");
		case 'f':
			return canon_literal(c, ch, "false");
		case 'n':
			return canon_literal(c, ch, "null");
		default:
			return canon_number(c, ch);
	}
}

typedef enum canon_result
{
	CANON_OK,
	CANON_NOT_JSON,
	CANON_NO_MEMORY
} canon_result;

/* The canonical form of the JSON text s into out (emptied first). */
static canon_result
canonical_json(const char *s, size_t len, bool numbers_by_value, canon_buffers *b, jbuf *out)
{
	canon_state c = {s, len, 0, 0, numbers_by_value, false, b};
	canon_chain top = {-1, -1};
	long		i;
	bool		ok;

	b->arena.len = 0;
	b->arena.failed = false;
	b->scratch.failed = false;
	b->npieces = 0;
	out->len = 0;
	out->failed = false;
	ok = canon_value(&c, &top);
	canon_skip_space(&c);
	if (c.failed)
		return CANON_NO_MEMORY;
	if (!ok || c.pos != len)
		return CANON_NOT_JSON;
	for (i = top.head; i >= 0; i = b->pieces[i].next)
		jb_append(out, b->arena.data + b->pieces[i].off, b->pieces[i].len);
	return out->failed || out->data == NULL ? CANON_NO_MEMORY : CANON_OK;
}

static void
canon_buffers_free(canon_buffers *b)
{
	sqlite3_free(b->arena.data);
	sqlite3_free(b->scratch.data);
	sqlite3_free(b->pieces);
}

/* The canonical form of text (numbers normalised or not); false after setting an error on ctx. */
static bool
canonical_text(sqlite3_context *ctx, const char *text, size_t len, bool numbers_by_value,
			   canon_buffers *b, jbuf *out)
{
	if (text == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return false;
	}
	switch (canonical_json(text, len, numbers_by_value, b, out))
	{
		case CANON_OK:
			return true;
		case CANON_NO_MEMORY:
			sqlite3_result_error_nomem(ctx);
			return false;
		case CANON_NOT_JSON:
			break;
	}
	sqlite3_result_error(ctx, "invalid input syntax for type json", -1);
	return false;
}

/* canonical_text of an argument's text. */
static bool
canonical_arg(sqlite3_context *ctx, sqlite3_value *value, bool numbers_by_value,
			  canon_buffers *b, jbuf *out)
{
	const char *text = (const char *) sqlite3_value_text(value);

	return canonical_text(ctx, text, (size_t) sqlite3_value_bytes(value), numbers_by_value, b, out);
}

/*
 * Whether the JSON of a and the JSON text b (blen bytes) are the same value
 * as jsonb's equality sees it (predict_json_equal), into *equal; false after
 * setting an error on ctx (not JSON, or out of memory).
 */
bool
json_text_equal(sqlite3_context *ctx, sqlite3_value *a, const char *b, size_t blen, bool *equal)
{
	canon_buffers buffers;
	jbuf		x;
	jbuf		y;
	bool		ok;

	memset(&buffers, 0, sizeof(buffers));
	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	ok = canonical_arg(ctx, a, true, &buffers, &x) && canonical_text(ctx, b, blen, true, &buffers, &y);
	if (ok)
		*equal = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	canon_buffers_free(&buffers);
	sqlite3_free(x.data);
	sqlite3_free(y.data);
	return ok;
}

void
predict_json_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	canon_buffers b;
	jbuf		out;

	(void) argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
	{
		sqlite3_result_null(ctx);
		return;
	}
	memset(&b, 0, sizeof(b));
	memset(&out, 0, sizeof(out));
	if (canonical_arg(ctx, argv[0], false, &b, &out))
		sqlite3_result_text64(ctx, out.data, out.len, SQLITE_TRANSIENT, SQLITE_UTF8);
	canon_buffers_free(&b);
	sqlite3_free(out.data);
}

void
predict_json_equal_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	bool		equal;

	(void) argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
	{
		sqlite3_result_null(ctx);
		return;
	}
	if (json_text_equal(ctx, argv[0], (const char *) sqlite3_value_text(argv[1]),
						(size_t) sqlite3_value_bytes(argv[1]), &equal))
		sqlite3_result_int(ctx, equal);
}
