/*
 * db_pg.c - the PostgreSQL backend: each request is one prepared statement
 * against the predict extension's predictions table.
 *
 * Connections. Each worker thread has its own PGconn (libpq's rule: one
 * thread per connection at a time), opened on the thread's first request and
 * kept. libpq is used in non-blocking mode with poll() and a deadline, for
 * the connection too (PQconnectStartParams/PQconnectPoll), so a database
 * that stops answering costs a request at most cfg->db_timeout_ms before it
 * gets 503 — never a hang. A connection that broke or timed out is closed;
 * the next attempt waits for a backoff (100 ms doubling to 1 s) during which
 * requests on that worker get 503 at once instead of queueing behind another
 * timeout. A statement whose connection broke is retried once on a fresh
 * connection: every statement here is idempotent (see PREDICT_SQL).
 *
 * Durability. A statement is a single autocommitted transaction; the result
 * counts only once libpq has seen ReadyForQuery (PQgetResult returned NULL),
 * which PostgreSQL sends after the commit, so a 200 is never sent for a row
 * that is not committed. A failed statement leaves the connection idle and
 * usable: there is never an open transaction to abort.
 *
 * Errors. sqlstate_rules maps SQLSTATEs to outcomes in one table. The client
 * sees the server's primary message only for data errors (the scoring core's
 * messages naming the column); everything else is logged on stderr and
 * answered with a generic message.
 *
 * Start-up (pg_setup) is one transaction under an advisory lock so that
 * gateways booting together on an empty database create the extension and
 * deploy the first model exactly once; it tells the statements the predict
 * tables' schema.
 */
#include "backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "pg_setup.h"

/* pg_advisory_lock key serialising start-up: "predict\0" as a bigint. */

#define BACKOFF_FIRST_US 100000
#define BACKOFF_MAX_US 1000000

/* Type OIDs of the statements' parameters (pg_type.h, stable). */
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define JSONBOID 3802
#define TEXTOID 25

/*
 * The row's columns, as text (the session runs with TimeZone UTC, DateStyle
 * ISO and extra_float_digits 3: timestamps are converted to ISO 8601 in C,
 * proba is the shortest exact decimal and is passed on as is). /predict does
 * not fetch the observation back: the client just sent it.
 */
#define ROW_COLUMNS \
	"id, observation_id, observation::text, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at"
#define ROW_NCOLUMNS 10
#define PREDICT_COLUMNS \
	"id, observation_id, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at"
#define PREDICT_NCOLUMNS 9

/* Session settings the result parsing relies on, set on every new connection. */
#define SESSION_SETTINGS \
	"SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3; " \
	"SET search_path = pg_catalog, pg_temp"

/*
 * The statements, prepared on every connection. @s@ stands for the predict
 * tables' schema (quoted): every object is named with its schema, and the
 * session's search_path is pg_catalog, pg_temp, so that nothing another
 * role creates elsewhere is ever called (docs/sql-reference.md, Security).
 *
 * predict: insert unless the id is already there, then report one row with
 * an outcome: 0 = inserted now; 1 = already stored with an equal observation
 * (jsonb equality), nothing written; 2 = stored with another observation.
 * The `existing` check comes first so a retry neither scores nor writes.
 * When another session inserts the same id concurrently, the INSERT waits
 * for it and does nothing, and `existing` (this statement's snapshot) does
 * not see it either: no row comes back, and the caller runs the statement
 * once more, whose new snapshot sees the committed row.
 */
enum
{
	STMT_PREDICT = 0,
	STMT_UPDATE,
	STMT_GET,
	STMT_LIST,
	STMT_READY,
	NSTATEMENTS
};

typedef struct pg_statement
{
	const char *name;
	const char *sql;
	int			nparams;
	Oid			types[2];
} pg_statement;

static const pg_statement statement_templates[NSTATEMENTS] = {
	[STMT_PREDICT] = {"predict_predict",
		"WITH existing AS ("
		" SELECT * FROM @s@.predictions WHERE observation_id = $1"
		"), inserted AS ("
		" INSERT INTO @s@.predictions (observation_id, observation)"
		" SELECT $1, $2 WHERE NOT EXISTS (SELECT FROM existing)"
		" ON CONFLICT (observation_id) DO NOTHING"
		" RETURNING *"
		") "
		"SELECT 0, " PREDICT_COLUMNS " FROM inserted "
		"UNION ALL "
		"SELECT CASE WHEN observation = $2 THEN 1 ELSE 2 END, " PREDICT_COLUMNS " FROM existing",
	2, {INT8OID, JSONBOID}},
	[STMT_UPDATE] = {"predict_update",
		"UPDATE @s@.predictions SET true_class = $2 WHERE observation_id = $1 RETURNING " ROW_COLUMNS,
	2, {INT8OID, INT2OID}},
	[STMT_GET] = {"predict_get",
		"SELECT " ROW_COLUMNS " FROM @s@.predictions WHERE observation_id = $1",
	1, {INT8OID}},
	[STMT_LIST] = {"predict_list",
		"SELECT " ROW_COLUMNS " FROM @s@.predictions WHERE id > $1 ORDER BY id LIMIT $2",
	2, {INT8OID, INT4OID}},
	[STMT_READY] = {"predict_ready",
		"SELECT EXISTS (SELECT FROM @s@.predict_models WHERE is_default)",
	0, {0}},
};

/*
 * The monitoring report (docs/monitoring.md), sent unprepared: a connection
 * must not fail for a database whose schema predates predict_report (the
 * other routes work there; this one answers 500 and logs why).
 */
static const pg_statement report_template = {"predict_report",
	"SELECT @s@.predict_report(NULL::text, $1::timestamptz, $2::timestamptz)::text",
2, {TEXTOID, TEXTOID}};

/* The statements with the schema's name, made once by the set-up. */
static pg_statement statements[NSTATEMENTS];
static pg_statement report_statement;

/*
 * SQLSTATE -> outcome, first match wins (a rule's prefix is a whole SQLSTATE
 * or a class). The HTTP status of each outcome is in http.c (status_for_db).
 */
typedef struct sqlstate_rule
{
	const char *prefix;
	db_status	status;
	db_error_kind kind;
	bool		show_message;	/* the server's primary message may reach the client */
	bool		retry;			/* run the statement once more */
	const char *meaning;
} sqlstate_rule;

static const sqlstate_rule sqlstate_rules[] = {
	{"40001", DB_UNAVAILABLE, DBERR_RETRY, false, true, "serialization failure"},
	{"40P01", DB_UNAVAILABLE, DBERR_RETRY, false, true, "deadlock"},
	{"40", DB_UNAVAILABLE, DBERR_RETRY, false, false, "transaction rollback"},
	{"23505", DB_CONFLICT, DBERR_DATA, false, false, "unique violation"},
	{"23514", DB_INVALID, DBERR_DATA, true, false, "check violation"},
	{"22", DB_INVALID, DBERR_DATA, true, false, "data exception"},
	{"54", DB_INVALID, DBERR_DATA, true, false, "program limit exceeded"},
	{"08", DB_UNAVAILABLE, DBERR_CONNECTION, false, false, "connection exception"},
	{"53", DB_UNAVAILABLE, DBERR_OTHER, false, false, "insufficient resources"},
	{"57", DB_UNAVAILABLE, DBERR_CONNECTION, false, false, "operator intervention"},
	{"25006", DB_UNAVAILABLE, DBERR_OTHER, false, false, "database is read-only"},
	{"55000", DB_UNAVAILABLE, DBERR_OTHER, true, false, "object not in prerequisite state"},
	{"", DB_INTERNAL, DBERR_OTHER, false, false, "internal error"},
};

struct db_session
{
	const gateway_config *cfg;
	PGconn	   *conn;
	atomic_bool connected;		/* read by /metrics from other threads */
	int			failures;		/* consecutive failed connections */
	int64_t		retry_at;		/* no connection attempt before this */
};

/* Keep notices (e.g. "extension already exists") out of stderr. */
static int
wait_socket(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;

	if (fd < 0)
		return -1;
	pfd.fd = fd;
	pfd.events = events;
	for (;;)
	{
		int64_t		left = deadline - now_us();
		int			rc;

		if (left <= 0)
			return 0;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int) ((left + 999) / 1000));
		if (rc > 0)
			return 1;
		if (rc == 0)
			continue;			/* recheck the clock */
		if (errno != EINTR)
			return -1;
	}
}

/* Close the session's connection (if any) and arm the reconnection backoff. */
static void
session_drop(db_session *s, bool backoff)
{
	if (s->conn != NULL)
	{
		PQfinish(s->conn);
		s->conn = NULL;
	}
	atomic_store(&s->connected, false);
	if (backoff)
	{
		int64_t		delay = BACKOFF_FIRST_US;
		int			i;

		for (i = 1; i < s->failures && delay < BACKOFF_MAX_US; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_US)
			delay = BACKOFF_MAX_US;
		s->retry_at = now_us() + delay;
	}
}

typedef enum run_outcome
{
	RUN_RESULT,					/* a result (success or a server error) */
	RUN_TIMEOUT,				/* the deadline passed */
	RUN_BROKEN					/* the connection failed */
} run_outcome;

/*
 * Send a prepared statement (or a Prepare, or a simple query) on a non-blocking
 * connection and collect its result within the deadline. The result is the
 * first error result if there is any, else the last one; it is returned only
 * after PQgetResult returned NULL, i.e. after ReadyForQuery, i.e. after the
 * commit.
 */
typedef enum run_mode
{
	RUN_EXECUTE,				/* execute the prepared statement st->name */
	RUN_PREPARE,				/* prepare st->sql as st->name */
	RUN_SIMPLE,					/* send st->sql as a simple query (no parameters) */
	RUN_PARAMS					/* send st->sql with its parameters, unprepared */
} run_mode;

static run_outcome
run_statement(PGconn *conn, const pg_statement *st, run_mode mode,
			  const char *const *values, int64_t deadline, PGresult **result)
{
	int			sent;
	PGresult   *kept = NULL;
	PGresult   *r;

	*result = NULL;
	if (mode == RUN_PREPARE)
		sent = PQsendPrepare(conn, st->name, st->sql, st->nparams, st->types);
	else if (mode == RUN_SIMPLE)
		sent = PQsendQuery(conn, st->sql);
	else if (mode == RUN_PARAMS)
		sent = PQsendQueryParams(conn, st->sql, st->nparams, st->types, values, NULL, NULL, 0);
	else
		sent = PQsendQueryPrepared(conn, st->name, st->nparams, values, NULL, NULL, 0);
	if (!sent)
		return RUN_BROKEN;

	for (;;)
	{
		int			f = PQflush(conn);

		if (f == 0)
			break;
		if (f < 0)
			return RUN_BROKEN;
		f = wait_socket(PQsocket(conn), POLLIN | POLLOUT, deadline);
		if (f == 0)
			return RUN_TIMEOUT;
		if (f < 0 || !PQconsumeInput(conn))
			return RUN_BROKEN;
	}

	for (;;)
	{
		while (PQisBusy(conn))
		{
			int			w = wait_socket(PQsocket(conn), POLLIN, deadline);

			if (w == 0)
			{
				PQclear(kept);
				return RUN_TIMEOUT;
			}
			/*
			 * Never call PQgetResult while busy: it would block. A failed
			 * read means the connection is gone (PQerrorMessage says why).
			 */
			if (w < 0 || !PQconsumeInput(conn))
			{
				PQclear(kept);
				return RUN_BROKEN;
			}
		}
		r = PQgetResult(conn);
		if (r == NULL)
			break;
		if (kept == NULL)
			kept = r;
		else if (PQresultStatus(kept) != PGRES_FATAL_ERROR)
		{
			PQclear(kept);
			kept = r;
		}
		else
			PQclear(r);
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
	}
	if (PQstatus(conn) == CONNECTION_BAD)
	{
		*result = kept;
		return RUN_BROKEN;
	}
	*result = kept;
	return kept != NULL ? RUN_RESULT : RUN_BROKEN;
}

/* The rule for a SQLSTATE (NULL or empty: the catch-all). */
static const sqlstate_rule *
rule_for_sqlstate(const char *sqlstate)
{
	size_t		i;

	for (i = 0; i < sizeof(sqlstate_rules) / sizeof(sqlstate_rules[0]); i++)
	{
		size_t		n = strlen(sqlstate_rules[i].prefix);

		if (sqlstate != NULL && strncmp(sqlstate, sqlstate_rules[i].prefix, n) == 0)
			return &sqlstate_rules[i];
		if (n == 0)
			return &sqlstate_rules[i];
	}
	return NULL;				/* not reached: the table ends with "" */
}

/* Open the session's connection within the deadline and prepare the statements. */
static bool
session_connect(db_session *s, int64_t deadline, db_error *err)
{
	const char *keywords[] = {"fallback_application_name", "dbname", NULL};
	const char *values[] = {"predict-gateway", s->cfg->database_url, NULL};
	PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
	char		line[256];
	int			i;

	if (now_us() < s->retry_at)
	{
		db_fail(err, DB_UNAVAILABLE, "database unavailable (reconnecting)");
		return false;
	}
	s->conn = PQconnectStartParams(keywords, values, 1);
	if (s->conn == NULL)
	{
		db_fail(err, DB_UNAVAILABLE, "out of memory connecting to the database");
		return false;
	}
	PQsetNoticeProcessor(s->conn, pg_ignore_notice, NULL);
	while (PQstatus(s->conn) != CONNECTION_BAD && poll_status != PGRES_POLLING_OK &&
		   poll_status != PGRES_POLLING_FAILED)
	{
		int			w = wait_socket(PQsocket(s->conn),
									poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT,
									deadline);

		if (w == 0)
		{
			s->failures++;
			metrics_db_error(DBERR_TIMEOUT);
			log_error("cannot connect to the database: no answer within the deadline");
			session_drop(s, true);
			db_fail(err, DB_UNAVAILABLE, "database timeout");
			return false;
		}
		poll_status = PQconnectPoll(s->conn);
	}
	if (PQstatus(s->conn) != CONNECTION_OK)
	{
		s->failures++;
		metrics_db_error(DBERR_CONNECTION);
		/* one line per failed attempt; attempts are spaced by the backoff */
		log_error("cannot connect to the database: %s",
				  pg_first_line(PQerrorMessage(s->conn), line, sizeof(line)));
		session_drop(s, true);
		db_fail(err, DB_UNAVAILABLE, "database unavailable");
		return false;
	}
	if (PQsetnonblocking(s->conn, 1) != 0)
	{
		session_drop(s, true);
		db_fail(err, DB_UNAVAILABLE, "database connection setup failed");
		return false;
	}
	for (i = -1; i < NSTATEMENTS; i++)
	{
		static const pg_statement settings = {"settings", SESSION_SETTINGS, 0, {0}};
		const pg_statement *st = i < 0 ? &settings : &statements[i];
		PGresult   *res;
		run_outcome out = run_statement(s->conn, st, i < 0 ? RUN_SIMPLE : RUN_PREPARE, NULL,
										deadline, &res);

		if (out != RUN_RESULT || PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			s->failures++;
			metrics_db_error(out == RUN_TIMEOUT ? DBERR_TIMEOUT : DBERR_OTHER);
			log_error("cannot prepare statement %s: %s", st->name,
					  res != NULL ? pg_first_line(PQresultErrorMessage(res), line, sizeof(line))
					  : out == RUN_TIMEOUT ? "timeout" : "connection lost");
			PQclear(res);
			session_drop(s, true);
			db_fail(err, DB_UNAVAILABLE, "database not ready");
			return false;
		}
		PQclear(res);
	}
	s->failures = 0;
	atomic_store(&s->connected, true);
	return true;
}

/*
 * Run statement st with values on the session, connecting if needed, retrying
 * once after a broken connection or a retryable SQLSTATE. On DB_OK *result
 * holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result for the caller to clear.
 */
static db_status
session_run(db_session *s, const pg_statement *st, run_mode mode, const char *const *values,
			int64_t deadline, PGresult **result, db_error *err)
{
	int			attempt;
	char		line[256];

	*result = NULL;
	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		run_outcome out;
		const sqlstate_rule *rule;
		const char *sqlstate;
		ExecStatusType rs;

		if (s->conn == NULL && !session_connect(s, deadline, err))
			return err->status;

		metrics_db_busy(1);
		out = run_statement(s->conn, st, mode, values, deadline, &res);
		metrics_db_busy(-1);

		if (out == RUN_TIMEOUT)
		{
			PQclear(res);
			s->failures++;
			metrics_db_error(DBERR_TIMEOUT);
			log_error("database did not answer %s within the deadline; closing the connection",
					  st->name);
			session_drop(s, true);
			return db_fail(err, DB_UNAVAILABLE, "database timeout");
		}
		if (out == RUN_BROKEN)
		{
			metrics_db_error(DBERR_CONNECTION);
			log_error("database connection lost during %s: %s", st->name,
					  pg_first_line(res != NULL ? PQresultErrorMessage(res)
								 : PQerrorMessage(s->conn), line, sizeof(line)));
			PQclear(res);
			/* reconnect at once for the retry: the server may be back already */
			session_drop(s, false);
			continue;
		}

		rs = PQresultStatus(res);
		if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
		{
			*result = res;
			return DB_OK;
		}

		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		rule = rule_for_sqlstate(sqlstate);
		metrics_db_error(rule->kind);
		if (rule->retry && attempt == 0)
		{
			PQclear(res);
			continue;
		}
		if (rule->show_message)
		{
			const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			db_fail(err, rule->status, "%s", primary != NULL ? primary : rule->meaning);
		}
		else
			db_fail(err, rule->status, "%s", rule->meaning);
		if (rule->status != DB_INVALID)
			log_error("%s failed: SQLSTATE %s: %s", st->name,
					  sqlstate != NULL ? sqlstate : "none",
					  pg_first_line(PQresultErrorMessage(res), line, sizeof(line)));
		PQclear(res);
		return rule->status;
	}
	return db_fail(err, DB_UNAVAILABLE, "database unavailable");
}

/* Execute prepared statement st (an index into statements); see session_run. */
static db_status
session_execute(db_session *s, int st, const char *const *values, int64_t deadline,
				PGresult **result, db_error *err)
{
	return session_run(s, &statements[st], RUN_EXECUTE, values, deadline, result, err);
}

/*
 * A PostgreSQL timestamptz in ISO style and UTC ("2026-11-26 11:08:01.2237+00")
 * as ISO 8601 with microseconds ("2026-11-26T11:08:01.223700Z"). Anything
 * else (it cannot happen with SESSION_SETTINGS) is copied as it is.
 */
static const char *
iso_timestamp(const char *in, char *out, size_t size)
{
	size_t		n = strlen(in);
	const char *dot;
	size_t		digits = 0;

	if (n < 22 || n + 8 > size || in[10] != ' ' || in[4] != '-' ||
		strcmp(in + n - 3, "+00") != 0)
		return in;
	memcpy(out, in, 19);		/* YYYY-MM-DD HH:MM:SS */
	out[10] = 'T';
	out[19] = '.';
	dot = in[19] == '.' ? in + 20 : NULL;
	if (dot != NULL)
		for (; dot + digits < in + n - 3 && digits < 6; digits++)
			out[20 + digits] = dot[digits];
	for (; digits < 6; digits++)
		out[20 + digits] = '0';
	out[26] = 'Z';
	out[27] = '\0';
	return out;
}

/*
 * Decode row `row` of res, its columns starting at `first` (with the
 * observation when with_observation), and hand it to sink.
 */
static void
emit_row(const PGresult *res, int row, int first, bool with_observation,
		 row_sink sink, void *arg)
{
	prediction_row r;
	int			c = first;
	char		created[40];
	char		updated[40];

	r.id = strtoll(PQgetvalue(res, row, c++), NULL, 10);
	r.observation_id = strtoll(PQgetvalue(res, row, c++), NULL, 10);
	r.observation = NULL;
	r.observation_len = 0;
	if (with_observation)
	{
		r.observation = PQgetvalue(res, row, c);
		r.observation_len = (size_t) PQgetlength(res, row, c++);
	}
	r.proba_text = PQgetvalue(res, row, c++);
	r.proba = strtod(r.proba_text, NULL);
	r.predicted_class = PQgetvalue(res, row, c++)[0] == 't';
	r.true_class = PQgetisnull(res, row, c) ? -1 : atoi(PQgetvalue(res, row, c));
	c++;
	r.model = PQgetvalue(res, row, c++);
	r.model_version = (int32_t) atol(PQgetvalue(res, row, c++));
	r.created_at = iso_timestamp(PQgetvalue(res, row, c++), created, sizeof(created));
	r.updated_at = iso_timestamp(PQgetvalue(res, row, c++), updated, sizeof(updated));
	sink(&r, arg);
}

/* Whether res has the columns a row result needs (guards against schema drift). */
static bool
row_shape_ok(const PGresult *res, int expected, db_error *err)
{
	if (PQnfields(res) != expected)
	{
		log_error("unexpected result shape: %d columns", PQnfields(res));
		db_fail(err, DB_INTERNAL, "unexpected result");
		return false;
	}
	return true;
}

static db_status
pg_predict(db_session *s, int64_t observation_id, const char *observation, size_t len,
		   row_sink sink, void *arg, bool *created, int64_t deadline, db_error *err)
{
	char		id[24];
	const char *values[2];
	int			attempt;

	(void) len;
	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	values[0] = id;
	values[1] = observation;
	*created = false;
	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		db_status	status = session_execute(s, STMT_PREDICT, values, deadline, &res, err);
		int			outcome;

		if (status != DB_OK)
			return status;
		if (PQntuples(res) == 0)
		{
			/* a concurrent insert of this id committed after our snapshot */
			PQclear(res);
			continue;
		}
		if (!row_shape_ok(res, 1 + PREDICT_NCOLUMNS, err))
		{
			PQclear(res);
			return err->status;
		}
		outcome = atoi(PQgetvalue(res, 0, 0));
		if (outcome == 2)
		{
			PQclear(res);
			return db_fail(err, DB_CONFLICT, "Observation ID: \"%lld\" already exists",
						   (long long) observation_id);
		}
		*created = (outcome == 0);
		emit_row(res, 0, 1, false, sink, arg);
		PQclear(res);
		return DB_OK;
	}
	log_error("predict: observation_id %lld neither inserted nor visible after a retry",
			  (long long) observation_id);
	return db_fail(err, DB_UNAVAILABLE, "concurrent insert, retry");
}

/* Run a statement returning rows, and hand each to sink; DB_NOT_FOUND if none and want_one. */
static db_status
query_rows(db_session *s, int st, const char *const *values, bool want_one,
		   const char *not_found, row_sink sink, void *arg, int64_t deadline, db_error *err)
{
	PGresult   *res;
	db_status	status = session_execute(s, st, values, deadline, &res, err);
	int			i;

	if (status != DB_OK)
		return status;
	if (!row_shape_ok(res, ROW_NCOLUMNS, err))
	{
		PQclear(res);
		return err->status;
	}
	if (want_one && PQntuples(res) == 0)
	{
		PQclear(res);
		return db_fail(err, DB_NOT_FOUND, "%s", not_found);
	}
	for (i = 0; i < PQntuples(res); i++)
		emit_row(res, i, 0, true, sink, arg);
	PQclear(res);
	return DB_OK;
}

static db_status
pg_update(db_session *s, int64_t observation_id, int true_class, row_sink sink, void *arg,
		  int64_t deadline, db_error *err)
{
	char		id[24];
	char		not_found[64];
	const char *values[2];

	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	values[0] = id;
	values[1] = true_class ? "1" : "0";
	return query_rows(s, STMT_UPDATE, values, true, not_found, sink, arg, deadline, err);
}

static db_status
pg_get(db_session *s, int64_t observation_id, row_sink sink, void *arg,
	   int64_t deadline, db_error *err)
{
	char		id[24];
	char		not_found[64];
	const char *values[1];

	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	values[0] = id;
	return query_rows(s, STMT_GET, values, true, not_found, sink, arg, deadline, err);
}

static db_status
pg_list(db_session *s, int64_t after, int limit, row_sink sink, void *arg,
		int64_t deadline, db_error *err)
{
	char		after_text[24];
	char		limit_text[16];
	const char *values[2];

	snprintf(after_text, sizeof(after_text), "%lld", (long long) after);
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	values[0] = after_text;
	values[1] = limit_text;
	return query_rows(s, STMT_LIST, values, false, NULL, sink, arg, deadline, err);
}

static db_status
pg_ready(db_session *s, int64_t deadline, db_error *err)
{
	PGresult   *res;
	db_status	status = session_execute(s, STMT_READY, NULL, deadline, &res, err);
	bool		has_default;

	if (status != DB_OK)
		return status == DB_INTERNAL ? db_fail(err, DB_UNAVAILABLE, "database not ready") : status;
	has_default = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!has_default)
		return db_fail(err, DB_UNAVAILABLE, "no default model is deployed");
	return DB_OK;
}

static db_status
pg_report(db_session *s, const char *since, const char *until, text_sink sink, void *arg,
		  int64_t deadline, db_error *err)
{
	const char *values[2] = {since, until};
	PGresult   *res;
	db_status	status = session_run(s, &report_statement, RUN_PARAMS, values, deadline, &res, err);

	if (status != DB_OK)
		return status;
	if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		log_error("predict_report returned no document");
		return db_fail(err, DB_INTERNAL, "internal error");
	}
	sink(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), arg);
	PQclear(res);
	return DB_OK;
}

static db_session *
pg_session_open(const gateway_config *cfg)
{
	db_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	atomic_init(&s->connected, false);
	return s;
}

static void
pg_session_close(db_session *s)
{
	if (s->conn != NULL)
		PQfinish(s->conn);
	free(s);
}

static bool
pg_session_connected(db_session *s)
{
	return atomic_load(&s->connected);
}

/* ---------- start-up ---------- */

/* template with every @s@ replaced by schema (malloc'ed, kept for the process). */
static char *
qualify(const char *template, const char *schema)
{
	size_t		n = strlen(template) + 1;
	char	   *out;
	char	   *o;

	for (const char *p = strstr(template, "@s@"); p != NULL; p = strstr(p + 3, "@s@"))
		n += strlen(schema);
	if ((out = malloc(n)) == NULL)
		return NULL;
	o = out;
	for (const char *p = template; *p != '\0';)
	{
		if (strncmp(p, "@s@", 3) == 0)
		{
			o = stpcpy(o, schema);
			p += 3;
		}
		else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* Prepare the database (pg_setup.c), then name its schema in every statement. */
static bool
pg_backend_setup(const gateway_config *cfg, char *msg, size_t size)
{
	char		schema[256];

	if (!pg_setup(cfg, schema, sizeof(schema), msg, size))
		return false;
	for (int i = 0; i <= NSTATEMENTS; i++)
	{
		const pg_statement *from = i < NSTATEMENTS ? &statement_templates[i] : &report_template;
		pg_statement *to = i < NSTATEMENTS ? &statements[i] : &report_statement;

		*to = *from;
		if ((to->sql = qualify(from->sql, schema)) == NULL)
		{
			snprintf(msg, size, "out of memory");
			return false;
		}
	}
	return true;
}

/* Run sql (with optional text parameters) on a blocking connection; NULL if it failed. */
const backend_ops pg_backend = {
	.name = "postgresql",
	.setup = pg_backend_setup,
	.session_open = pg_session_open,
	.session_close = pg_session_close,
	.session_connected = pg_session_connected,
	.predict = pg_predict,
	.update = pg_update,
	.get = pg_get,
	.list = pg_list,
	.ready = pg_ready,
	.report = pg_report,
};
