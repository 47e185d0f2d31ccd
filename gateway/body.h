/*
 * body.h - parse and validate request bodies before anything reaches the
 * database.
 *
 * A body is parsed as JSON whatever its Content-Type (curl's default form
 * type is a common mistake), with cJSON, and checked item by item. The text
 * handed to the database is the client's own text of the observation, not a
 * re-serialisation, so numbers keep every digit the client sent; and text
 * that PostgreSQL's jsonb would refuse (bytes that are not UTF-8, raw control
 * characters in strings, the escape \u0000) is refused here with 400 or 422,
 * so it can never surface as a database error.
 *
 * Each parser returns 0 on success or the HTTP status of the refusal (400 for
 * text that is not JSON, 422 for JSON of the wrong shape) with a message
 * naming the field.
 */
#ifndef GATEWAY_BODY_H
#define GATEWAY_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BODY_ERROR_SIZE 256

/* POST /predict: {"id": <integer>, "observation": {...}, "explain": true|false} */
typedef struct predict_body
{
	int64_t		id;
	const char *observation;	/* NUL-terminated, points into the body */
	size_t		observation_len;
	bool		explain;		/* store and answer the row's explanation (default false) */
} predict_body;

/* POST /update: {"id": <integer>, "true_class": 0|1|true|false} */
typedef struct update_body
{
	int64_t		id;
	int			true_class;
} update_body;

/*
 * body is len bytes followed by a NUL, owned and writable by the caller (the
 * parser may write NULs into it). On a 422 after the id was read, *has_id is
 * set so the access log can name it.
 */
unsigned	parse_predict_body(char *body, size_t len, predict_body *out,
							   bool *has_id, char *msg, size_t size);
unsigned	parse_update_body(char *body, size_t len, update_body *out,
							  bool *has_id, char *msg, size_t size);

/* A decimal integer (-?[0-9]+, no sign '+', no spaces) that fits int64_t. */
bool		parse_int64(const char *s, size_t len, int64_t *out);

/* Whether the len bytes at s are UTF-8 without NUL bytes. */
bool		valid_utf8(const char *s, size_t len);

#endif							/* GATEWAY_BODY_H */
