/*
 * log.h - the gateway's two logs, both logfmt: one access line per request
 * on stdout, and events (start-up, database errors, shutdown) on stderr.
 *
 * Each line is built in a local buffer and written with a single write(2),
 * so lines from concurrent workers never interleave (pipes keep writes of
 * up to PIPE_BUF bytes whole) and no lock is taken.
 */
#ifndef GATEWAY_LOG_H
#define GATEWAY_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* One access-log line; observation_id is printed when has_id. */
void		log_access(const char *method, const char *path, unsigned status,
					   double duration_ms, bool has_id, int64_t observation_id);

/* An event on stderr: level=<level> msg="<formatted message>". */
void		log_event(const char *level, const char *format,...)
			__attribute__((format(printf, 2, 3)));

#define log_error(...) log_event("error", __VA_ARGS__)
#define log_warning(...) log_event("warning", __VA_ARGS__)
#define log_info(...) log_event("info", __VA_ARGS__)

#endif							/* GATEWAY_LOG_H */
