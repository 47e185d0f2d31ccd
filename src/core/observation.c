/*
 * observation.c - read an observation given as JSON text (the CLI, SQLite)
 * into the core's input values, and score it.
 */
#include <ctype.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "predict.h"
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
	size_t		ncolumns = predict_model_ncolumns(model);
	predict_error local;
	cJSON	   *root;
	predict_status status;

	if (err == NULL)
		err = &local;
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
	status = predict_score_class(model, values, proba, predicted, err);
	cJSON_Delete(root);
	return status;
}
