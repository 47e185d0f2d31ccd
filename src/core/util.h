/*
 * util.h - helpers shared by the core's files. Not part of the public API.
 */
#ifndef PREDICT_UTIL_H
#define PREDICT_UTIL_H

#include <stddef.h>

#include "predict.h"

size_t		utf8_sequence_length(const char *s, size_t avail);
const char *json_text_check(const char *text, size_t len, size_t *offset);

/*
 * Where read_observation puts the strings it must decode (those with
 * escapes): a buffer in the caller's frame, then, for larger ones, one
 * allocation that observation_strings_free releases.
 */
typedef struct observation_strings
{
	char		stack[256];
	char	   *buffer;
	size_t		size;
	size_t		used;
	char	   *heap;
} observation_strings;

/*
 * The observation's JSON text read into values (predict_model_ncolumns
 * entries), as predict_score_json reads it; the strings stay valid until
 * observation_strings_free. Exposed for the tests, which compare it with
 * the cJSON reader it replaced.
 */
predict_status read_observation(const predict_model *model, const char *json, size_t len,
								predict_value *values, observation_strings *strings,
								predict_error *err);
void		observation_strings_free(observation_strings *strings);

#endif							/* PREDICT_UTIL_H */
