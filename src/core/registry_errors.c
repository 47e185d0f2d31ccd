/*
 * registry_errors.c - the registry's and the log's errors (registry_errors.h)
 * and the one function that fills their templates.
 */
#include "registry_errors.h"

#include <stdio.h>
#include <string.h>

#include "predict.h"

const predict_registry_error predict_registry_errors[PREDICT_REGISTRY_ERRORS] = {
	[PREDICT_ERR_NO_DEFAULT_MODEL] = {"no default model", "55000", "no default model is deployed",
		NULL, NULL, true},
	[PREDICT_ERR_UNKNOWN_MODEL] = {"unknown model", "42704", "model \"{name}\" does not exist",
		NULL, NULL, true},
	[PREDICT_ERR_UNKNOWN_VERSION] = {"unknown version", "42704", "model \"{name}\" has no version {version}",
		NULL, NULL, false},
	[PREDICT_ERR_NULL_NAME] = {"null name", "22004", "model name must not be null", NULL, NULL, false},
	[PREDICT_ERR_NULL_VERSION] = {"null version", "22004", "model version must not be null", NULL, NULL, false},
	[PREDICT_ERR_NULL_DOCUMENT] = {"null document", "22004", "model document must not be null",
		NULL, NULL, false},
	[PREDICT_ERR_INVALID_NAME] = {"invalid name", "22023", "invalid model name \"{name}\"",
		PREDICT_MODEL_NAME_RULE, NULL, false},
	[PREDICT_ERR_MAXIMUM_VERSION] = {"maximum version", "54000",
		"model \"{name}\" has reached the maximum version number", NULL, NULL, false},
	[PREDICT_ERR_ACTIVE_VERSION_MISSING] = {"active version missing", "23503",
		"model \"{name}\" has no version {version}",
		"The active version of a model must be one of its versions in predict_model_versions.", NULL, false},
	[PREDICT_ERR_ACTIVE_VERSION_DELETED] = {"active version deleted", "23503",
		"model \"{name}\" version {version} is active",
		"The active version of a model cannot be deleted or renamed.",
		"Activate another version first (predict_activate).", false},
	[PREDICT_ERR_ROW_WITHOUT_MODEL] = {"row without model", "23502",
		"a row of relation \"{relation}\" with a model_version must name its model", NULL, NULL, false},
	[PREDICT_ERR_ROW_NOT_SCORED] = {"row not scored by its version", "23514",
		"new row of relation \"{relation}\" does not carry the score of model \"{name}\" version {version}",
		"The row has proba {row_proba} and predicted_class {row_class}; the version computes {proba} and "
		"{class} for its observation.",
		"A row inserted with a model_version (as a restore does) keeps only the score that version "
		"computes; leave model_version out to have the row scored by the default model.", false},
	[PREDICT_ERR_SCORED_COLUMN_CHANGED] = {"scored column changed", "42501",
		PREDICT_MSG_SCORED_COLUMN_CHANGED("{name}", "{relation}"), PREDICT_DETAIL_AUDIT_LOG, NULL, false},
	[PREDICT_ERR_ROW_NOT_EXPLAINED] = {"row not explained by its version", "23514",
		"new row of relation \"{relation}\" does not carry the explanation of model \"{name}\" version {version}",
		"The row's explanation differs from the one the version computes for its observation.",
		"A row inserted with a model_version (as a restore does) keeps only the explanation that version "
		"computes; set explanation to true or null to have it computed.", false},
	[PREDICT_ERR_EXPLANATION_SUPPLIED] = {"explanation supplied", "22023",
		"explanation of a new row of relation \"{relation}\" must be true, false or null",
		"The log computes a new row's explanation: true asks for it, false or null leaves it to the "
		"version's setting.",
		"Deploy the model with explain set to have every row explained.", false},
};

const predict_registry_error *
predict_registry_error_find(const char *kind)
{
	for (int i = 0; i < PREDICT_REGISTRY_ERRORS; i++)
		if (kind != NULL && strcmp(predict_registry_errors[i].kind, kind) == 0)
			return &predict_registry_errors[i];
	return NULL;
}

/* The text of placeholder key (len bytes) in args, "null" for a null value; NULL if no such key. */
static const char *
placeholder_value(const char *key, size_t len, const predict_registry_args *args, char *number,
				  size_t number_size)
{
	static const struct
	{
		const char *key;
		size_t		offset;
	}			keys[] = {
		{"name", offsetof(predict_registry_args, name)},
		{"relation", offsetof(predict_registry_args, relation)},
		{"row_proba", offsetof(predict_registry_args, row_proba)},
		{"row_class", offsetof(predict_registry_args, row_class)},
		{"proba", offsetof(predict_registry_args, proba)},
		{"class", offsetof(predict_registry_args, class)},
	};

	if (len == 7 && memcmp(key, "version", 7) == 0)
	{
		if (args->version <= 0)
			return "null";
		snprintf(number, number_size, "%lld", args->version);
		return number;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].key) == len && memcmp(keys[i].key, key, len) == 0)
		{
			const char *value = *(const char *const *) ((const char *) args + keys[i].offset);

			return value != NULL ? value : "null";
		}
	return NULL;
}

char *
predict_registry_render(const char *template, const predict_registry_args *args, char *buf, size_t size)
{
	size_t		used = 0;

	if (size == 0)
		return buf;
	for (const char *p = template; *p != '\0';)
	{
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		char		number[24];
		const char *value = close == NULL ? NULL :
			placeholder_value(p + 1, (size_t) (close - p - 1), args, number, sizeof(number));
		const char *piece = value != NULL ? value : p;
		size_t		len = value != NULL ? strlen(value) : 1;

		p = value != NULL ? close + 1 : p + 1;
		if (len > size - 1 - used)
			len = size - 1 - used;
		memcpy(buf + used, piece, len);
		used += len;
	}
	buf[used] = '\0';
	return buf;
}
