/*
 * util.h - helpers shared by the core's files. Not part of the public API.
 */
#ifndef PREDICT_UTIL_H
#define PREDICT_UTIL_H

#include <stddef.h>

size_t		utf8_sequence_length(const char *s, size_t avail);
const char *json_text_check(const char *text, size_t len, size_t *offset);

#endif							/* PREDICT_UTIL_H */
