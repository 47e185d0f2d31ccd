/*
 * http.c - requests in, JSON out.
 *
 * libmicrohttpd calls http_handle several times per request: once when the
 * headers are in (we allocate the request's state and decide what we can:
 * 404, 405, 401, 413 by Content-Length), once per piece of body (appended
 * under the PREDICT_MAX_BODY cap), and a last time with no data, when we
 * answer. A response queued before the body is read makes libmicrohttpd
 * close the connection, so only an announced oversized body is answered
 * early; every other refusal waits for the body, which keeps the connection
 * usable for the client's next request.
 *
 * Every response is JSON with Content-Type application/json (but /metrics,
 * which is Prometheus text, and the monitoring page GET /, which is HTML);
 * every error body is {"error": "..."}. The one table mapping backend
 * outcomes to HTTP statuses is status_for_db().
 */
#include "http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "body.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "report_page.h"
#include "strbuf.h"

/* Seconds a client should wait before retrying a 503. */
#define RETRY_AFTER "1"

/* A body this many times the cap is not drained but cut (connection closed). */
#define DISCARD_FACTOR 16

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000

/*
 * The monitoring report reads every prediction of the window (about 3 s for
 * a million rows on PostgreSQL): its own deadline, PREDICT_DB_TIMEOUT_MS if
 * that is longer.
 */
#define REPORT_TIMEOUT_MS 60000
#define REPORT_MAX_BOUND 64		/* bytes of a since/until query argument */

/* The page needs nothing from elsewhere: a policy that lets it fetch nothing. */
#define PAGE_CSP "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Per-request state, from the headers to the completion callback. */
typedef struct request_state
{
	route_id	route;
	int64_t		start_us;
	unsigned	refusal;		/* status decided from the headers, or 0 */
	const char *refusal_message;
	const char *allow;			/* the Allow header of a 405 */
	bool		takes_body;
	bool		too_large;
	char	   *body;
	size_t		len;
	size_t		cap;
	size_t		received;
	bool		has_id;
	int64_t		observation_id;
	bool		no_retry_after; /* a 503 that will not clear soon (a standby) */
	db_predict_call *call;		/* a /predict the backend runs (predict_begin) */
} request_state;

static atomic_bool draining;

void
http_start_draining(void)
{
	atomic_store(&draining, true);
}

long
http_connection_count(void)
{
	return listener_open_connections();
}

void
http_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
					   enum MHD_ConnectionNotificationCode toe)
{
	worker	   *w = cls;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		/* tracked for the request deadline until CLOSED (listener.c) */
		info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = info != NULL ? listener_connection_started(w, info->connect_fd) : NULL;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	listener_connection_closed(w, info != NULL ? info->client_addr : NULL, *socket_context);
	*socket_context = NULL;
}

/* The connection's entry for the request deadline (NULL if it has none). */
static tracked_connection *
tracked(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/* The one mapping from backend outcomes to HTTP statuses. */
static unsigned
status_for_db(db_status status)
{
	switch (status)
	{
		case DB_OK:
			return MHD_HTTP_OK;
		case DB_NOT_FOUND:
			return MHD_HTTP_NOT_FOUND;
		case DB_CONFLICT:
			return MHD_HTTP_CONFLICT;
		case DB_INVALID:
			return MHD_HTTP_UNPROCESSABLE_CONTENT;
		case DB_UNAVAILABLE:
		case DB_READ_ONLY:
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		case DB_INTERNAL:
			break;
	}
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Count and log a request that got its answer (or would have: the client left). */
static void
record_request(const request_state *rs, const char *method, const char *url, unsigned status)
{
	int64_t		duration = now_us() - rs->start_us;

	metrics_request(rs->route, status, duration);
	log_access(method, url, status, (double) duration / 1000.0, rs->has_id, rs->observation_id);
}

/*
 * Queue a response (taking ownership of body, a malloc'd buffer or NULL),
 * with extra headers (name, value pairs, NULL-terminated; NULL for none),
 * then log and count the request.
 */
static enum MHD_Result
respond_headers(struct MHD_Connection *connection, request_state *rs, const char *method,
				const char *url, unsigned status, char *body, size_t len,
				const char *content_type, const char *const *headers)
{
	struct MHD_Response *response;
	enum MHD_Result ret;

	response = MHD_create_response_from_buffer(len, body != NULL ? body : (char *) "",
											   body != NULL ? MHD_RESPMEM_MUST_FREE
											   : MHD_RESPMEM_PERSISTENT);
	if (response == NULL)
	{
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE && !rs->no_retry_after)
		MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && rs->allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, rs->allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
	{
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		/* a browser asks for the token (as the password) on the page's routes */
		if (rs->route == ROUTE_PAGE || rs->route == ROUTE_REPORT)
			MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
									"Basic realm=\"predict\", charset=\"UTF-8\"");
	}
	for (; headers != NULL && headers[0] != NULL; headers += 2)
		MHD_add_response_header(response, headers[0], headers[1]);
	if (atomic_load_explicit(&draining, memory_order_relaxed))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	record_request(rs, method, url, status);
	return ret;
}

/* respond_headers with at most one extra header. */
static enum MHD_Result
respond(struct MHD_Connection *connection, request_state *rs, const char *method,
		const char *url, unsigned status, char *body, size_t len, const char *content_type,
		const char *header, const char *value)
{
	const char *headers[3] = {header, value, NULL};

	return respond_headers(connection, rs, method, url, status, body, len, content_type,
						   header != NULL ? headers : NULL);
}

/* Respond with a JSON body built in sb (freed here). */
static enum MHD_Result
respond_json(struct MHD_Connection *connection, request_state *rs, const char *method,
			 const char *url, unsigned status, strbuf *sb)
{
	char	   *data;
	size_t		len;

	if (sb->failed)
	{
		sb_free(sb);
		return MHD_NO;
	}
	data = sb_steal(sb, &len);
	return respond(connection, rs, method, url, status, data, len, "application/json",
				   NULL, NULL);
}

/* Respond {"error": message}. */
static enum MHD_Result
respond_error(struct MHD_Connection *connection, request_state *rs, const char *method,
			  const char *url, unsigned status, const char *message)
{
	strbuf		sb;

	sb_init(&sb);
	sb_puts(&sb, "{\"error\": ");
	sb_json_string(&sb, message, strlen(message));
	sb_puts(&sb, "}");
	return respond_json(connection, rs, method, url, status, &sb);
}

/* Respond for a backend failure: the backend's message, but never for a 500. */
static enum MHD_Result
respond_db_error(struct MHD_Connection *connection, request_state *rs, const char *method,
				 const char *url, const db_error *err)
{
	unsigned	status = status_for_db(err->status);

	rs->no_retry_after = err->status == DB_READ_ONLY;
	if (err->status == DB_INTERNAL)
		return respond_error(connection, rs, method, url, status,
							 "internal error (details are in the gateway's log)");
	return respond_error(connection, rs, method, url, status, err->message);
}

/* What the row sinks write into. */
typedef struct row_writer
{
	strbuf	   *sb;
	int			count;
	int64_t		last_id;
} row_writer;

/* Render one row as a JSON object (a comma first if it is not the first). */
static void
write_row(const prediction_row *row, void *arg)
{
	row_writer *w = arg;
	strbuf	   *sb = w->sb;

	if (w->count++ > 0)
		sb_puts(sb, ", ");
	sb_puts(sb, "{\"id\": ");
	sb_json_int64(sb, row->id);
	sb_puts(sb, ", \"observation_id\": ");
	sb_json_int64(sb, row->observation_id);
	if (row->observation != NULL)
	{
		sb_puts(sb, ", \"observation\": ");
		sb_append(sb, row->observation, row->observation_len);
	}
	sb_puts(sb, ", \"proba\": ");
	sb_json_number_text(sb, row->proba_text, row->proba);
	sb_puts(sb, row->predicted_class ? ", \"predicted_class\": true" : ", \"predicted_class\": false");
	if (row->true_class < 0)
		sb_puts(sb, ", \"true_class\": null");
	else
		sb_puts(sb, row->true_class ? ", \"true_class\": 1" : ", \"true_class\": 0");
	sb_puts(sb, ", \"model\": ");
	sb_json_string(sb, row->model, strlen(row->model));
	sb_puts(sb, ", \"model_version\": ");
	sb_json_int64(sb, row->model_version);
	sb_puts(sb, ", \"created_at\": ");
	sb_json_string(sb, row->created_at, strlen(row->created_at));
	sb_puts(sb, ", \"updated_at\": ");
	sb_json_string(sb, row->updated_at, strlen(row->updated_at));
	/* last, and only when there is one: a row without keeps its old bytes */
	if (row->explanation != NULL)
	{
		sb_puts(sb, ", \"explanation\": ");
		sb_append(sb, row->explanation, row->explanation_len);
	}
	sb_puts(sb, "}");
	w->last_id = row->id;
}

/* The database deadline for a request answered now. */
static int64_t
db_deadline(const http_context *ctx)
{
	return now_us() + (int64_t) ctx->cfg->db_timeout_ms * 1000;
}

/* Answer a /predict with its outcome: the row written into sb, or err. */
static enum MHD_Result
respond_predict(struct MHD_Connection *connection, request_state *rs, const char *method,
				const char *url, db_status status, bool created, strbuf *sb,
				const db_error *err)
{
	if (status != DB_OK)
	{
		sb_free(sb);
		return respond_db_error(connection, rs, method, url, err);
	}
	if (created)
		metrics_prediction_written();
	return respond_json(connection, rs, method, url, MHD_HTTP_OK, sb);
}

/* The answer of a /predict call the backend has run (predict_begin). */
static enum MHD_Result
finish_predict(const http_context *ctx, struct MHD_Connection *connection,
			   request_state *rs, const char *method, const char *url)
{
	db_error	err;
	strbuf		sb;
	row_writer	w = {&sb, 0, 0};
	bool		created = false;
	db_status	status;

	sb_init(&sb);
	status = ctx->backend->predict_end(rs->call, write_row, &w, &created, &err);
	rs->call = NULL;
	return respond_predict(connection, rs, method, url, status, created, &sb, &err);
}

/*
 * Whether the connection's worker serves other connections, which a
 * statement run in its thread would hold up.
 */
static bool
worker_serves_others(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON);
	const union MHD_DaemonInfo *di = ci == NULL ? NULL :
		MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return di == NULL || di->num_connections > 1;
}

/* predict_queue's callback, in a database thread: the answer is in. */
static void
resume_connection(void *cls)
{
	MHD_resume_connection(cls);
}

/*
 * POST /predict. When the backend batches, a request that cannot run at
 * once is queued and its connection suspended: the worker serves its other
 * connections meanwhile, and is called again (finish_predict) once resumed.
 */
static enum MHD_Result
handle_predict(const http_context *ctx, struct MHD_Connection *connection,
			   request_state *rs, const char *method, const char *url)
{
	predict_body in;
	char		msg[BODY_ERROR_SIZE];
	unsigned	status;
	db_session *session;
	db_error	err;
	strbuf		sb;
	row_writer	w = {&sb, 0, 0};
	bool		created = false;
	bool		answered = false;
	db_status	result;

	status = parse_predict_body(rs->body, rs->len, &in, &rs->has_id, msg, sizeof(msg));
	if (rs->has_id)
		rs->observation_id = in.id;
	if (status != 0)
		return respond_error(connection, rs, method, url, status, msg);
	session = backend_thread_session();
	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	if (ctx->backend->predict_begin != NULL)
	{
		rs->call = ctx->backend->predict_begin(session, in.id, in.observation,
											   in.observation_len, in.explain, db_deadline(ctx),
											   !worker_serves_others(connection),
											   &answered);
		if (rs->call == NULL)
			return respond_error(connection, rs, method, url,
								 MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		if (answered)
			return finish_predict(ctx, connection, rs, method, url);
		/* suspended before it is queued: the resume can never come first */
		MHD_suspend_connection(connection);
		ctx->backend->predict_queue(rs->call, resume_connection, connection);
		return MHD_YES;
	}
	sb_init(&sb);
	result = ctx->backend->predict(session, in.id, in.observation, in.observation_len, in.explain,
								   write_row, &w, &created, db_deadline(ctx), &err);
	return respond_predict(connection, rs, method, url, result, created, &sb, &err);
}

/* POST /update */
static enum MHD_Result
handle_update(const http_context *ctx, struct MHD_Connection *connection,
			  request_state *rs, const char *method, const char *url)
{
	update_body in;
	char		msg[BODY_ERROR_SIZE];
	unsigned	status;
	db_session *session;
	db_error	err;
	strbuf		sb;
	row_writer	w = {&sb, 0, 0};

	status = parse_update_body(rs->body, rs->len, &in, &rs->has_id, msg, sizeof(msg));
	if (rs->has_id)
		rs->observation_id = in.id;
	if (status != 0)
		return respond_error(connection, rs, method, url, status, msg);
	session = backend_thread_session();
	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	sb_init(&sb);
	if (ctx->backend->update(session, in.id, in.true_class, write_row, &w,
							 db_deadline(ctx), &err) != DB_OK)
	{
		sb_free(&sb);
		return respond_db_error(connection, rs, method, url, &err);
	}
	return respond_json(connection, rs, method, url, MHD_HTTP_OK, &sb);
}

/* GET /predictions/<observation_id> */
static enum MHD_Result
handle_get(const http_context *ctx, struct MHD_Connection *connection,
		   request_state *rs, const char *method, const char *url)
{
	const char *text = url + strlen("/predictions/");
	db_session *session;
	db_error	err;
	strbuf		sb;
	row_writer	w = {&sb, 0, 0};
	char		msg[BODY_ERROR_SIZE];

	if (!parse_int64(text, strlen(text), &rs->observation_id))
	{
		sb_init(&sb);
		sb_json_string(&sb, text, strlen(text) > 40 ? 40 : strlen(text));
		snprintf(msg, sizeof(msg), "observation_id in the path must be an integer, got %s",
				 sb.failed ? "?" : sb.data);
		sb_free(&sb);
		return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT, msg);
	}
	rs->has_id = true;
	session = backend_thread_session();
	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	sb_init(&sb);
	if (ctx->backend->get(session, rs->observation_id, write_row, &w,
						  db_deadline(ctx), &err) != DB_OK)
	{
		sb_free(&sb);
		return respond_db_error(connection, rs, method, url, &err);
	}
	return respond_json(connection, rs, method, url, MHD_HTTP_OK, &sb);
}

/* Read an optional integer query argument within [min, max]; false if invalid. */
static bool
query_int(struct MHD_Connection *connection, const char *name, int64_t min, int64_t max,
		  int64_t *value)
{
	const char *text = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, name);

	if (text == NULL)
		return true;
	return parse_int64(text, strlen(text), value) && *value >= min && *value <= max;
}

/* GET /list-db-contents?limit=&after= */
static enum MHD_Result
handle_list(const http_context *ctx, struct MHD_Connection *connection,
			request_state *rs, const char *method, const char *url)
{
	int64_t		limit = LIST_DEFAULT_LIMIT;
	int64_t		after = INT64_MIN;
	db_session *session;
	db_error	err;
	strbuf		sb;
	row_writer	w = {&sb, 0, 0};
	char	   *data;
	size_t		len;
	char		link[128] = "";

	if (!query_int(connection, "limit", 1, LIST_MAX_LIMIT, &limit))
		return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT,
							 "limit must be an integer from 1 to 1000");
	if (!query_int(connection, "after", INT64_MIN, INT64_MAX, &after))
		return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT,
							 "after must be an integer (the id of the last row already read)");
	session = backend_thread_session();
	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	sb_init(&sb);
	sb_puts(&sb, "[");
	if (ctx->backend->list(session, after, (int) limit, write_row, &w,
						   db_deadline(ctx), &err) != DB_OK)
	{
		sb_free(&sb);
		return respond_db_error(connection, rs, method, url, &err);
	}
	sb_puts(&sb, "]");
	if (sb.failed)
	{
		sb_free(&sb);
		return MHD_NO;
	}

	/* a full page links to the next one */
	data = sb_steal(&sb, &len);
	if (w.count == (int) limit)
		snprintf(link, sizeof(link), "</list-db-contents?after=%lld&limit=%d>; rel=\"next\"",
				 (long long) w.last_id, (int) limit);
	return respond(connection, rs, method, url, MHD_HTTP_OK, data, len, "application/json",
				   w.count == (int) limit ? "Link" : NULL, link);
}

/* Appends the report document to a strbuf. */
static void
write_text(const char *text, size_t len, void *arg)
{
	sb_append(arg, text, len);
}

/* A since/until query argument: absent (NULL), or text for the database to read. */
static bool
report_bound(struct MHD_Connection *connection, const char *name, const char **value)
{
	*value = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, name);
	if (*value != NULL && **value == '\0')
		*value = NULL;
	return *value == NULL || (strlen(*value) <= REPORT_MAX_BOUND && strchr(*value, '\n') == NULL);
}

/*
 * GET /report.json and GET / (page): the default model's monitoring report
 * over the predictions created in [since, until) (?since=&until=, timestamps;
 * or ?days=N: the last N days), as JSON or drawn as the HTML page.
 */
static enum MHD_Result
handle_report(const http_context *ctx, struct MHD_Connection *connection,
			  request_state *rs, const char *method, const char *url, bool page)
{
	static const char *const page_headers[] = {
		"Content-Security-Policy", PAGE_CSP,
		"X-Content-Type-Options", "nosniff",
		"Cache-Control", "no-store",
		NULL
	};
	static const char *const json_headers[] = {"Cache-Control", "no-store", NULL};
	const char *since;
	const char *until;
	int64_t		days = 0;
	char		days_since[32];
	db_session *session;
	db_error	err;
	strbuf		report;
	strbuf		html;
	char	   *data;
	size_t		len;
	unsigned	timeout = ctx->cfg->db_timeout_ms > REPORT_TIMEOUT_MS ? ctx->cfg->db_timeout_ms
		: REPORT_TIMEOUT_MS;

	if (!report_bound(connection, "since", &since) || !report_bound(connection, "until", &until))
		return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT,
							 "since and until must be timestamps (ISO 8601), at most 64 bytes");
	if (!query_int(connection, "days", 1, 36500, &days))
		return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT,
							 "days must be an integer from 1 to 36500");
	if (days > 0)
	{
		time_t		from = time(NULL) - (time_t) days * 86400;
		struct tm	utc;

		if (since != NULL)
			return respond_error(connection, rs, method, url, MHD_HTTP_UNPROCESSABLE_CONTENT,
								 "give days or since, not both");
		gmtime_r(&from, &utc);
		strftime(days_since, sizeof(days_since), "%Y-%m-%dT%H:%M:%SZ", &utc);
		since = days_since;
	}
	session = backend_thread_session();
	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	sb_init(&report);
	if (ctx->backend->report(session, since, until, write_text, &report,
							 now_us() + (int64_t) timeout * 1000, &err) != DB_OK)
	{
		sb_free(&report);
		return respond_db_error(connection, rs, method, url, &err);
	}
	if (report.failed)
	{
		sb_free(&report);
		return MHD_NO;
	}
	if (!page)
	{
		data = sb_steal(&report, &len);
		return respond_headers(connection, rs, method, url, MHD_HTTP_OK, data, len,
							   "application/json", json_headers);
	}
	sb_init(&html);
	if (!report_page_render(report.data, report.len, (int) days, &html))
	{
		log_error("the report is not a report document: %.80s", report.data);
		sb_free(&report);
		sb_free(&html);
		return respond_error(connection, rs, method, url, MHD_HTTP_INTERNAL_SERVER_ERROR,
							 "internal error (details are in the gateway's log)");
	}
	sb_free(&report);
	if (html.failed)
	{
		sb_free(&html);
		return MHD_NO;
	}
	data = sb_steal(&html, &len);
	return respond_headers(connection, rs, method, url, MHD_HTTP_OK, data, len,
						   "text/html; charset=utf-8", page_headers);
}

/* GET /readyz */
static enum MHD_Result
handle_ready(const http_context *ctx, struct MHD_Connection *connection,
			 request_state *rs, const char *method, const char *url)
{
	db_session *session = backend_thread_session();
	db_error	err;
	strbuf		sb;

	if (session == NULL)
		return respond_error(connection, rs, method, url, MHD_HTTP_SERVICE_UNAVAILABLE,
							 "out of memory");
	if (ctx->backend->ready(session, db_deadline(ctx), &err) != DB_OK)
		return respond_db_error(connection, rs, method, url, &err);
	sb_init(&sb);
	sb_puts(&sb, "{\"status\": \"ready\"}");
	return respond_json(connection, rs, method, url, MHD_HTTP_OK, &sb);
}

/* GET /metrics */
static enum MHD_Result
handle_metrics(const http_context *ctx, struct MHD_Connection *connection,
			   request_state *rs, const char *method, const char *url)
{
	strbuf		sb;
	char	   *data;
	size_t		len;

	(void) ctx;
	sb_init(&sb);
	metrics_render(&sb, http_connection_count());
	if (sb.failed)
	{
		sb_free(&sb);
		return MHD_NO;
	}
	data = sb_steal(&sb, &len);
	return respond(connection, rs, method, url, MHD_HTTP_OK, data, len,
				   "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

/* Constant-time comparison of given[0..given_len) with the configured token. */
static bool
token_matches(const char *token, const char *given, size_t given_len)
{
	size_t		expected_len = strlen(token);
	size_t		i;
	unsigned char diff;

	/* the time depends on the expected token's length only, not on the content */
	diff = (unsigned char) (expected_len != given_len);
	for (i = 0; i < expected_len; i++)
		diff |= (unsigned char) token[i] ^ (unsigned char) (i < given_len ? given[i] : 0);
	return diff == 0;
}

/*
 * The password of "Basic base64(user:password)" into out (NUL-terminated);
 * false if the header is not that.
 */
static bool
basic_password(const char *b64, char *out, size_t size)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned	bits = 0;
	int			nbits = 0;
	size_t		n = 0;
	char	   *colon;

	for (; *b64 != '\0' && *b64 != '='; b64++)
	{
		const char *p = strchr(alphabet, *b64);

		if (p == NULL || n + 1 >= size)
			return false;
		bits = (bits << 6) | (unsigned) (p - alphabet);
		nbits += 6;
		if (nbits >= 8)
		{
			nbits -= 8;
			out[n++] = (char) ((bits >> nbits) & 0xff);
		}
	}
	out[n] = '\0';
	if (strlen(out) != n || (colon = strchr(out, ':')) == NULL)
		return false;
	memmove(out, colon + 1, strlen(colon + 1) + 1);
	return true;
}

/*
 * Whether the request carries the configured token: "Authorization: Bearer
 * TOKEN", or on the page's routes (which a browser opens) also "Basic" with
 * the token as the password (any user name).
 */
static bool
authorized(const http_context *ctx, struct MHD_Connection *connection, route_id route)
{
	const char *token = ctx->cfg->api_token;
	const char *header;

	if (token == NULL)
		return true;
	header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_AUTHORIZATION);
	if (header == NULL)
		return false;
	if (strncasecmp(header, "Bearer ", 7) == 0)
	{
		header += 7;
		while (*header == ' ')
			header++;
		return token_matches(token, header, strlen(header));
	}
	if ((route == ROUTE_PAGE || route == ROUTE_REPORT) && strncasecmp(header, "Basic ", 6) == 0)
	{
		char		password[512];
		bool		ok;

		header += 6;
		while (*header == ' ')
			header++;
		ok = basic_password(header, password, sizeof(password)) &&
			token_matches(token, password, strlen(password));
		memset(password, 0, sizeof(password));
		return ok;
	}
	return false;
}

/* Route a path: fills rs->route, rs->takes_body, and the methods it allows. */
static void
route_request(request_state *rs, const char *url, const char **allow)
{
	rs->takes_body = false;
	*allow = "GET, HEAD";
	if (strcmp(url, "/predict") == 0)
	{
		rs->route = ROUTE_PREDICT;
		rs->takes_body = true;
		*allow = "POST";
	}
	else if (strcmp(url, "/update") == 0)
	{
		rs->route = ROUTE_UPDATE;
		rs->takes_body = true;
		*allow = "POST";
	}
	else if (strncmp(url, "/predictions/", 13) == 0 && url[13] != '\0' &&
			 strchr(url + 13, '/') == NULL)
		rs->route = ROUTE_PREDICTIONS;
	else if (strcmp(url, "/list-db-contents") == 0)
		rs->route = ROUTE_LIST;
	else if (strcmp(url, "/healthz") == 0)
		rs->route = ROUTE_HEALTHZ;
	else if (strcmp(url, "/readyz") == 0)
		rs->route = ROUTE_READYZ;
	else if (strcmp(url, "/metrics") == 0)
		rs->route = ROUTE_METRICS;
	else if (strcmp(url, "/") == 0)
		rs->route = ROUTE_PAGE;
	else if (strcmp(url, "/report.json") == 0)
		rs->route = ROUTE_REPORT;
	else
	{
		rs->route = ROUTE_NONE;
		*allow = NULL;
	}
}

/* Decide from the headers alone whether the request is refused (404, 405, 401, 413). */
static void
check_headers(const http_context *ctx, struct MHD_Connection *connection, request_state *rs,
			  const char *url, const char *method)
{
	const char *allow;
	const char *length;

	route_request(rs, url, &allow);
	if (rs->route == ROUTE_NONE)
	{
		rs->refusal = MHD_HTTP_NOT_FOUND;
		rs->refusal_message = "not found: see docs/http-api.md for the routes";
		return;
	}
	if (rs->takes_body ? strcmp(method, "POST") != 0
		: (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
	{
		rs->refusal = MHD_HTTP_METHOD_NOT_ALLOWED;
		rs->refusal_message = rs->takes_body ? "method not allowed: use POST"
			: "method not allowed: use GET";
		rs->allow = allow;
		return;
	}
	if (rs->route != ROUTE_HEALTHZ && rs->route != ROUTE_READYZ && !authorized(ctx, connection, rs->route))
	{
		rs->refusal = MHD_HTTP_UNAUTHORIZED;
		/* the page's routes are opened in a browser, whose login dialog is the way in */
		rs->refusal_message = rs->route == ROUTE_PAGE || rs->route == ROUTE_REPORT
			? "missing or wrong API token: in a browser, enter the token as the password "
			"(any user name); from a program, send Authorization: Bearer <token>"
			: "missing or wrong bearer token: send Authorization: Bearer <token>";
		return;
	}
	length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (rs->takes_body && length != NULL && strtoull(length, NULL, 10) > ctx->cfg->max_body)
	{
		rs->refusal = MHD_HTTP_CONTENT_TOO_LARGE;
		rs->too_large = true;
	}
}

/* The 413 message for this gateway's cap. */
static enum MHD_Result
respond_too_large(const http_context *ctx, struct MHD_Connection *connection,
				  request_state *rs, const char *method, const char *url)
{
	char		msg[128];

	snprintf(msg, sizeof(msg), "request body is larger than %zu bytes", ctx->cfg->max_body);
	return respond_error(connection, rs, method, url, MHD_HTTP_CONTENT_TOO_LARGE, msg);
}

/* Keep a piece of the body, or count and drop it; false to cut the connection. */
static bool
take_body(const http_context *ctx, request_state *rs, const char *data, size_t size)
{
	rs->received += size;
	if (!rs->takes_body || rs->refusal != 0 || rs->too_large)
		return rs->received <= DISCARD_FACTOR * ctx->cfg->max_body;
	if (rs->received > ctx->cfg->max_body)
	{
		/* a chunked body over the cap: drop what we have, answer 413 at the end */
		rs->too_large = true;
		free(rs->body);
		rs->body = NULL;
		rs->len = rs->cap = 0;
		return true;
	}
	if (rs->len + size + 1 > rs->cap)
	{
		size_t		cap = rs->cap ? rs->cap : 1024;
		char	   *bigger;

		while (cap < rs->len + size + 1)
			cap *= 2;
		if (cap > ctx->cfg->max_body + 1)
			cap = ctx->cfg->max_body + 1;
		bigger = realloc(rs->body, cap);
		if (bigger == NULL)
			return false;
		rs->body = bigger;
		rs->cap = cap;
	}
	memcpy(rs->body + rs->len, data, size);
	rs->len += size;
	rs->body[rs->len] = '\0';
	return true;
}

enum MHD_Result
http_handle(void *cls, struct MHD_Connection *connection, const char *url,
			const char *method, const char *version, const char *upload_data,
			size_t *upload_data_size, void **con_cls)
{
	const http_context *ctx = cls;
	request_state *rs = *con_cls;

	(void) version;
	if (rs == NULL)
	{
		/* headers are in: allocate, decide what the headers decide */
		rs = calloc(1, sizeof(*rs));
		if (rs == NULL)
			return MHD_NO;
		rs->start_us = now_us();
		*con_cls = rs;
		metrics_in_flight(1);
		listener_request_headers_in(tracked(connection));
		check_headers(ctx, connection, rs, url, method);
		if (rs->refusal == MHD_HTTP_CONTENT_TOO_LARGE)
		{
			/* answered without its body, which libmicrohttpd will not read */
			listener_request_received(tracked(connection));
			return respond_too_large(ctx, connection, rs, method, url);
		}
		return MHD_YES;
	}
	if (*upload_data_size != 0)
	{
		bool		keep = take_body(ctx, rs, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return keep ? MHD_YES : MHD_NO;
	}

	/* the whole request is in: answer */
	if (rs->call != NULL)
		return finish_predict(ctx, connection, rs, method, url);	/* resumed */
	listener_request_received(tracked(connection));
	if (rs->refusal != 0)
		return respond_error(connection, rs, method, url, rs->refusal, rs->refusal_message);
	if (rs->too_large)
		return respond_too_large(ctx, connection, rs, method, url);
	if (rs->takes_body && rs->body == NULL)
	{
		rs->body = malloc(1);
		if (rs->body == NULL)
			return MHD_NO;
		rs->body[0] = '\0';
	}
	switch (rs->route)
	{
		case ROUTE_PREDICT:
			return handle_predict(ctx, connection, rs, method, url);
		case ROUTE_UPDATE:
			return handle_update(ctx, connection, rs, method, url);
		case ROUTE_PREDICTIONS:
			return handle_get(ctx, connection, rs, method, url);
		case ROUTE_LIST:
			return handle_list(ctx, connection, rs, method, url);
		case ROUTE_READYZ:
			return handle_ready(ctx, connection, rs, method, url);
		case ROUTE_METRICS:
			return handle_metrics(ctx, connection, rs, method, url);
		case ROUTE_PAGE:
			return handle_report(ctx, connection, rs, method, url, true);
		case ROUTE_REPORT:
			return handle_report(ctx, connection, rs, method, url, false);
		case ROUTE_HEALTHZ:
			{
				strbuf		sb;

				sb_init(&sb);
				sb_puts(&sb, "{\"status\": \"ok\"}");
				return respond_json(connection, rs, method, url, MHD_HTTP_OK, &sb);
			}
		case ROUTE_NONE:
		case ROUTE_COUNT:
			break;
	}
	return respond_error(connection, rs, method, url, MHD_HTTP_NOT_FOUND, "not found");
}

/* A row sink for an answer nobody will read. */
static void
discard_row(const prediction_row *row, void *arg)
{
	(void) row;
	(void) arg;
}

/*
 * A /predict whose connection closed before its answer was sent (the client
 * left while it waited for its batch): finish it as it would have been
 * answered, so that its row is stored, logged and counted as every other
 * (an answer queued to a socket the client had closed is logged too).
 */
static void
finish_unsent_predict(const http_context *ctx, request_state *rs)
{
	db_error	err;
	bool		created = false;
	db_status	status = ctx->backend->predict_end(rs->call, discard_row, NULL, &created, &err);

	rs->call = NULL;
	if (created)
		metrics_prediction_written();
	record_request(rs, "POST", "/predict", status_for_db(status));
}

void
http_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
					   enum MHD_RequestTerminationCode toe)
{
	const http_context *ctx = cls;
	request_state *rs = *con_cls;

	(void) toe;
	/* the connection now waits for a next request (or closes) */
	listener_request_finished(tracked(connection));
	if (rs == NULL)
		return;
	if (rs->call != NULL)		/* never answered: the client left, or shutdown */
		finish_unsent_predict(ctx, rs);
	free(rs->body);
	free(rs);
	*con_cls = NULL;
	metrics_in_flight(-1);
}
