/*
 * reference_observation.c - the cJSON reader of observations that
 * src/core/observation.c replaced, kept as it was as the reference the
 * differential tests compare the scanner with (test/unit/test_observation.c,
 * test/fuzz/fuzz_observation.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "unit.h"
#include "util.h"

static void
value_from_cjson(const cJSON *item, predict_value *value)
{
	memset(value, 0, sizeof(*value));
	if (cJSON_IsNumber(item))
	{
		value->kind = PREDICT_VALUE_NUMBER;
		value->number = item->valuedouble;
	}
	else if (cJSON_IsBool(item))
	{
		value->kind = PREDICT_VALUE_BOOL;
		value->number = cJSON_IsTrue(item) ? 1.0 : 0.0;
	}
	else if (cJSON_IsString(item))
	{
		value->kind = PREDICT_VALUE_STRING;
		value->string = item->valuestring;
		value->length = strlen(item->valuestring);
	}
	else if (cJSON_IsArray(item) || cJSON_IsObject(item))
	{
		value->kind = PREDICT_VALUE_OTHER;
		value->length = cJSON_IsArray(item) ? 1 : 0;
	}
	else
		value->kind = PREDICT_VALUE_MISSING;	/* null */
}

/* Parse text as one JSON value with nothing but whitespace after it. */
static cJSON *
parse_observation(const char *json, size_t len, predict_error *err)
{
	const char *reason;
	const char *end = NULL;
	size_t		offset = 0;
	cJSON	   *root;

	if (len > PREDICT_MAX_OBSERVATION_BYTES)
	{
		predict_set_error(err, PREDICT_TOO_LARGE,
						  PREDICT_WHOLE_OBSERVATION "%zu bytes exceeds the limit of %zu", len,
						  PREDICT_MAX_OBSERVATION_BYTES);
		return NULL;
	}
	if ((reason = json_text_check(json, len, &offset)) != NULL)
	{
		predict_set_error(err, PREDICT_BAD_OBSERVATION, PREDICT_WHOLE_OBSERVATION "%s at byte %zu",
						  reason, offset);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (root == NULL)
	{
		predict_set_error(err, PREDICT_BAD_OBSERVATION,
						  PREDICT_WHOLE_OBSERVATION "not valid JSON near byte %zu",
						  end != NULL && end >= json ? (size_t) (end - json) : 0);
		return NULL;
	}
	while (end < json + len && isspace((unsigned char) *end))
		end++;
	if (end != json + len)
	{
		cJSON_Delete(root);
		predict_set_error(err, PREDICT_BAD_OBSERVATION,
						  PREDICT_WHOLE_OBSERVATION "unexpected text after the JSON value at byte %zu",
						  (size_t) (end - json));
		return NULL;
	}
	return root;
}

predict_status
reference_read_observation(const predict_model *model, const char *json, size_t len,
						   predict_value *values, cJSON **tree, predict_error *err)
{
	size_t		ncolumns = predict_model_ncolumns(model);
	cJSON	   *root;
	predict_status status;

	*tree = NULL;
	if ((root = parse_observation(json, len, err)) == NULL)
		return err->status;
	if (!cJSON_IsObject(root))
	{
		status = predict_set_error(err, PREDICT_BAD_OBSERVATION,
								   PREDICT_WHOLE_OBSERVATION "expected a JSON object, got %s",
								   cJSON_IsArray(root) ? "an array" :
								   cJSON_IsString(root) ? "a string" :
								   cJSON_IsNumber(root) ? "a number" :
								   cJSON_IsBool(root) ? "a boolean" : "null");
		cJSON_Delete(root);
		return status;
	}
	memset(values, 0, ncolumns * sizeof(predict_value));
	/* the last of duplicate keys wins, as in Python's json and jsonb */
	for (const cJSON *child = root->child; child != NULL; child = child->next)
	{
		long		col = predict_model_find_column(model, child->string,
													strlen(child->string));

		if (col >= 0)
			value_from_cjson(child, &values[col]);
	}
	*tree = root;
	return PREDICT_OK;
}

/* Whether the two readers agree on text; *why says how they differ. */
bool
readers_agree(const predict_model *model, const char *json, size_t len, char *why, size_t size)
{
	size_t		ncolumns = predict_model_ncolumns(model);
	predict_value mine[16];
	predict_value theirs[16];
	predict_error my_err = {0};
	predict_error their_err = {0};
	observation_strings strings;
	cJSON	   *tree;
	predict_status a;
	predict_status b;
	bool		same = true;

	if (ncolumns > 16)
		abort();
	a = read_observation(model, json, len, mine, &strings, &my_err);
	b = reference_read_observation(model, json, len, theirs, &tree, &their_err);
	if (a != b || (a != PREDICT_OK && strcmp(my_err.message, their_err.message) != 0))
	{
		snprintf(why, size, "scanner: %d %s; cJSON: %d %s", a, a ? my_err.message : "",
				 b, b ? their_err.message : "");
		same = false;
	}
	for (size_t c = 0; same && a == PREDICT_OK && c < ncolumns; c++)
	{
		const predict_value *x = &mine[c];
		const predict_value *y = &theirs[c];

		if (x->kind != y->kind || memcmp(&x->number, &y->number, sizeof(double)) != 0 ||
			(x->kind == PREDICT_VALUE_STRING &&
			 (x->length != y->length || memcmp(x->string, y->string, x->length) != 0)) ||
			(x->kind == PREDICT_VALUE_OTHER && x->length != y->length))
		{
			snprintf(why, size, "column %s: scanner kind %d number %.17g length %zu; "
					 "cJSON kind %d number %.17g length %zu",
					 predict_model_column_name(model, c), x->kind, x->number, x->length,
					 y->kind, y->number, y->length);
			same = false;
		}
	}
	observation_strings_free(&strings);
	cJSON_Delete(tree);
	return same;
}
