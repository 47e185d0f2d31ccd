/*
 * body.c - request bodies: cJSON for the structure, plus one pass over the
 * raw text for what cJSON does not give or does not check.
 *
 * cJSON keeps numbers only as doubles (an id of 2^53 + 1 would silently
 * change) and is laxer than RFC 8259 and PostgreSQL's jsonb: it accepts raw
 * control characters inside strings, leading zeros ("01"), "1." and any
 * control character as whitespace, and it decodes \u0000 into a truncated
 * string. json_scan() walks the text that cJSON has already accepted,
 * refuses those cases, and records where each wanted top-level member's
 * value starts and ends, so the id is read exactly from its digits and the
 * observation is passed on as the client wrote it.
 *
 * Duplicate keys: the last occurrence wins, as in jsonb and Python's json.
 */
#include "body.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"

/* The raw text of a top-level member's value. */
typedef struct json_span
{
	const char *start;
	size_t		len;
} json_span;

bool
valid_utf8(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *) text;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		follow;
		unsigned char lo = 0x80,
					hi = 0xbf;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			follow = 1;
		else if (c >= 0xe0 && c <= 0xef)
		{
			follow = 2;
			if (c == 0xe0)
				lo = 0xa0;		/* overlong */
			else if (c == 0xed)
				hi = 0x9f;		/* UTF-16 surrogates */
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			follow = 3;
			if (c == 0xf0)
				lo = 0x90;		/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;		/* above U+10FFFF */
		}
		else
			return false;
		if (len - i <= follow)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		if (follow >= 2 && (s[i + 2] < 0x80 || s[i + 2] > 0xbf))
			return false;
		if (follow == 3 && (s[i + 3] < 0x80 || s[i + 3] > 0xbf))
			return false;
		i += follow + 1;
	}
	return true;
}

bool
parse_int64(const char *s, size_t len, int64_t *out)
{
	size_t		i = 0;
	bool		negative = false;
	uint64_t	v = 0;
	uint64_t	limit;

	if (len > 0 && s[0] == '-')
	{
		negative = true;
		i = 1;
	}
	if (i >= len)
		return false;
	limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
	for (; i < len; i++)
	{
		unsigned	d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned) (s[i] - '0');
		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (negative)
		*out = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
	else
		*out = (int64_t) v;
	return true;
}

/*
 * Which of keys[] the raw key text (between its quotes) spells, or -1.
 * Escapes are decoded; the keys we look for are short ASCII names.
 */
static int
match_key(const char *raw, size_t len, const char *const *keys, int nkeys)
{
	char		decoded[32];
	size_t		n = 0;
	size_t		i;
	int			k;

	for (i = 0; i < len; i++)
	{
		char		c = raw[i];

		if (n + 1 >= sizeof(decoded))
			return -1;
		if (c == '\\')
		{
			if (i + 1 >= len)
				return -1;
			c = raw[++i];
			if (c == 'u')
			{
				unsigned	code = 0;
				int			h;

				if (i + 4 >= len)
					return -1;
				for (h = 1; h <= 4; h++)
				{
					char		x = raw[i + h];

					code <<= 4;
					if (x >= '0' && x <= '9')
						code |= (unsigned) (x - '0');
					else if (x >= 'a' && x <= 'f')
						code |= (unsigned) (x - 'a' + 10);
					else if (x >= 'A' && x <= 'F')
						code |= (unsigned) (x - 'A' + 10);
					else
						return -1;
				}
				if (code == 0 || code >= 0x80)
					return -1;
				c = (char) code;
				i += 4;
			}
			else if (c != '"' && c != '\\' && c != '/')
				return -1;		/* \b \f \n \r \t: never in our keys */
		}
		decoded[n++] = c;
	}
	decoded[n] = '\0';
	for (k = 0; k < nkeys; k++)
		if (strcmp(decoded, keys[k]) == 0)
			return k;
	return -1;
}

/*
 * Walk JSON text that cJSON accepted. Refuse what jsonb would refuse (400 or
 * 422, message in msg) and record in spans[k] the value of the last
 * top-level member named keys[k]. Returns 0 when the text is acceptable.
 */
static unsigned
json_scan(const char *s, size_t len, const char *const *keys, int nkeys,
		  json_span *spans, char *msg, size_t size)
{
	size_t		i = 0;
	int			depth = 0;
	bool		expect_key = false;
	int			member = -1;	/* index in keys[] of the member being read */
	size_t		value_start = 0;
	size_t		last_end = 0;	/* just past the last non-blank byte */

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"')
		{
			size_t		start = i++;

			while (i < len && s[i] != '"')
			{
				if ((unsigned char) s[i] < 0x20)
				{
					snprintf(msg, size, "request body is not valid JSON: control character "
							 "0x%02x inside a string at byte %zu (escape it)",
							 (unsigned char) s[i], i);
					return 400;
				}
				if (s[i] == '\\')
				{
					if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
					{
						snprintf(msg, size, "strings must not contain \\u0000 (at byte %zu)", i);
						return 422;
					}
					i += 2;
					continue;
				}
				i++;
			}
			i++;
			last_end = i;
			if (depth == 1 && expect_key)
			{
				member = match_key(s + start + 1, i - start - 2, keys, nkeys);
				expect_key = false;
			}
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
		{
			i++;
			continue;
		}
		if (c < 0x20)
		{
			snprintf(msg, size, "request body is not valid JSON: control character 0x%02x "
					 "at byte %zu", c, i);
			return 400;
		}
		if (c == '-' || (c >= '0' && c <= '9'))
		{
			size_t		start = i;

			while (i < len && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' ||
							   s[i] == 'E' || (s[i] >= '0' && s[i] <= '9')))
				i++;
			if (!json_number_valid(s + start, i - start))
			{
				snprintf(msg, size, "request body is not valid JSON: malformed number \"%.*s\" "
						 "at byte %zu", (int) (i - start > 40 ? 40 : i - start), s + start, start);
				return 400;
			}
			last_end = i;
			continue;
		}
		if (c == '{' || c == '[')
		{
			depth++;
			if (depth == 1)
				expect_key = (c == '{');
		}
		else if (c == ':' && depth == 1)
		{
			/* the value starts at the next non-blank byte */
			size_t		j = i + 1;

			while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
				j++;
			value_start = j;
		}
		else if ((c == ',' && depth == 1) || ((c == '}' || c == ']') && depth == 1))
		{
			if (member >= 0 && last_end > value_start)
			{
				spans[member].start = s + value_start;
				spans[member].len = last_end - value_start;
			}
			member = -1;
			expect_key = (c == ',');
		}
		if (c == '}' || c == ']')
			depth--;
		i++;
		last_end = i;
	}
	return 0;
}

/* The kind of a cJSON item, for messages. */
static const char *
item_kind(const cJSON *item)
{
	if (cJSON_IsObject(item))
		return "an object";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsNumber(item))
		return "a number";
	return "an invalid value";
}

/* The last member of object named key, or NULL (jsonb: the last one wins). */
static const cJSON *
last_member(const cJSON *object, const char *key)
{
	const cJSON *item;
	const cJSON *found = NULL;

	cJSON_ArrayForEach(item, object)
		if (item->string != NULL && strcmp(item->string, key) == 0)
		found = item;
	return found;
}

/*
 * Parse body as a JSON object and scan it for the members in keys. On
 * success *root is the cJSON tree (the caller deletes it) and spans hold the
 * raw values.
 */
static unsigned
parse_object(const char *body, size_t len, const char *const *keys, int nkeys,
			 json_span *spans, cJSON **root, char *msg, size_t size)
{
	const char *end = NULL;
	unsigned	status;

	*root = NULL;
	if (len == 0)
	{
		snprintf(msg, size, "request body is empty: send a JSON object");
		return 400;
	}
	if (!valid_utf8(body, len))
	{
		snprintf(msg, size, "request body is not valid UTF-8");
		return 400;
	}
	*root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (*root == NULL)
	{
		size_t		at = end != NULL && end >= body && end <= body + len ? (size_t) (end - body) : 0;

		snprintf(msg, size, "request body is not valid JSON (error at byte %zu)", at);
		return 400;
	}
	while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != body + len)
	{
		snprintf(msg, size, "request body is not valid JSON: unexpected text after the value "
				 "at byte %zu", (size_t) (end - body));
		return 400;
	}
	status = json_scan(body, len, keys, nkeys, spans, msg, size);
	if (status != 0)
		return status;
	if (!cJSON_IsObject(*root))
	{
		snprintf(msg, size, "request body must be a JSON object, got %s", item_kind(*root));
		return 422;
	}
	return 0;
}

/* Read the id member: a JSON integer within bigint. */
static unsigned
read_id(const cJSON *root, const json_span *span, int64_t *id, bool *has_id,
		char *msg, size_t size)
{
	const cJSON *item = last_member(root, "id");

	if (item == NULL)
	{
		snprintf(msg, size, "id is missing: send {\"id\": <integer>, ...}");
		return 422;
	}
	if (!cJSON_IsNumber(item) || span->start == NULL ||
		!parse_int64(span->start, span->len, id))
	{
		if (cJSON_IsNumber(item))
			snprintf(msg, size, "id must be an integer from -9223372036854775808 to "
					 "9223372036854775807, got %.*s",
					 (int) (span->len > 40 ? 40 : span->len), span->start ? span->start : "");
		else
			snprintf(msg, size, "id must be an integer, got %s", item_kind(item));
		return 422;
	}
	*has_id = true;
	return 0;
}

/*
 * Read the optional explain member: a JSON boolean only, so that a client's
 * "yes" or 1 is refused rather than read one way or the other.
 */
static unsigned
read_explain(const cJSON *root, bool *explain, char *msg, size_t size)
{
	const cJSON *item = last_member(root, "explain");

	*explain = false;
	if (item == NULL)
		return 0;
	if (!cJSON_IsBool(item))
	{
		snprintf(msg, size, "explain must be true or false, got %s", item_kind(item));
		return 422;
	}
	*explain = cJSON_IsTrue(item);
	return 0;
}

unsigned
parse_predict_body(char *body, size_t len, predict_body *out, bool *has_id,
				   char *msg, size_t size)
{
	static const char *const keys[] = {"id", "observation"};
	json_span	spans[2] = {{NULL, 0}, {NULL, 0}};
	cJSON	   *root;
	const cJSON *observation;
	unsigned	status;

	*has_id = false;
	status = parse_object(body, len, keys, 2, spans, &root, msg, size);
	if (status == 0)
		status = read_id(root, &spans[0], &out->id, has_id, msg, size);
	if (status == 0)
		status = read_explain(root, &out->explain, msg, size);
	if (status == 0)
	{
		observation = last_member(root, "observation");
		if (observation == NULL)
		{
			snprintf(msg, size, "observation is missing: send {\"id\": ..., \"observation\": {...}}");
			status = 422;
		}
		else if (!cJSON_IsObject(observation) || spans[1].start == NULL)
		{
			snprintf(msg, size, "observation must be a JSON object, got %s",
					 item_kind(observation));
			status = 422;
		}
		else
		{
			/* the object's text, NUL-terminated in place for the database */
			out->observation = spans[1].start;
			out->observation_len = spans[1].len;
			body[(spans[1].start - body) + spans[1].len] = '\0';
		}
	}
	cJSON_Delete(root);
	return status;
}

unsigned
parse_update_body(char *body, size_t len, update_body *out, bool *has_id,
				  char *msg, size_t size)
{
	static const char *const keys[] = {"id", "true_class"};
	json_span	spans[2] = {{NULL, 0}, {NULL, 0}};
	cJSON	   *root;
	const cJSON *item;
	unsigned	status;

	*has_id = false;
	status = parse_object(body, len, keys, 2, spans, &root, msg, size);
	if (status == 0)
		status = read_id(root, &spans[0], &out->id, has_id, msg, size);
	if (status == 0)
	{
		item = last_member(root, "true_class");
		if (item == NULL)
		{
			snprintf(msg, size, "true_class is missing: send {\"id\": ..., \"true_class\": 0 or 1}");
			status = 422;
		}
		else if (cJSON_IsBool(item))
			out->true_class = cJSON_IsTrue(item) ? 1 : 0;
		else if (cJSON_IsNumber(item) && spans[1].len == 1 &&
				 (spans[1].start[0] == '0' || spans[1].start[0] == '1'))
			out->true_class = spans[1].start[0] - '0';
		else
		{
			if (cJSON_IsNumber(item))
				snprintf(msg, size, "true_class must be 0, 1, true or false, got %.*s",
						 (int) (spans[1].len > 40 ? 40 : spans[1].len),
						 spans[1].start ? spans[1].start : "");
			else
				snprintf(msg, size, "true_class must be 0, 1, true or false, got %s",
						 item_kind(item));
			status = 422;
		}
	}
	cJSON_Delete(root);
	return status;
}
