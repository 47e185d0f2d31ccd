/*
 * metrics.h - counters for GET /metrics (Prometheus text format 0.0.4).
 *
 * Lock-free: every counter is a relaxed atomic, so recording costs a few
 * nanoseconds on the request path; a scrape reads them without stopping
 * the workers (each value is exact, the set is not a snapshot).
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

/* The routes, as labels; ROUTE_NONE is any unknown path. */
typedef enum route_id
{
	ROUTE_PREDICT = 0,
	ROUTE_UPDATE,
	ROUTE_PREDICTIONS,
	ROUTE_LIST,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_PAGE,					/* GET /: the monitoring page */
	ROUTE_REPORT,				/* GET /report.json */
	ROUTE_NONE,
	ROUTE_COUNT
} route_id;

/* Kinds of database error, as labels. */
typedef enum db_error_kind
{
	DBERR_CONNECTION = 0,		/* could not connect, or the connection broke */
	DBERR_TIMEOUT,				/* no answer within the deadline */
	DBERR_DATA,					/* the database refused the data (SQLSTATE 22, 23) */
	DBERR_RETRY,				/* serialization failure or deadlock (SQLSTATE 40) */
	DBERR_READ_ONLY,			/* a read-only database: a standby (SQLSTATE 25006) */
	DBERR_OTHER,				/* anything else */
	DBERR_COUNT
} db_error_kind;

const char *route_label(route_id route);

void		metrics_request(route_id route, unsigned status, int64_t duration_us);
void		metrics_prediction_written(void);
void		metrics_db_error(db_error_kind kind);
/* A statement of several POST /predict requests stored the rows of `requests` of them. */
void		metrics_batch(int requests);
/* A worker starts (+1) or finishes (-1) a database call. */
void		metrics_db_busy(int delta);
/* A request enters (+1) or leaves (-1) the gateway. */
void		metrics_in_flight(int delta);
long		metrics_requests_in_flight(void);
/* A connection was refused because max_connections were open. */
void		metrics_connection_refused(void);
/* A connection was closed because its request was not in by the request timeout. */
void		metrics_request_timed_out(bool in_body);

/* Append every metric; http_connections is the daemon's open connections. */
void		metrics_render(strbuf *sb, long http_connections);

#endif							/* GATEWAY_METRICS_H */
