/*
 * db_pg.c - the PostgreSQL backend: each request is one statement against
 * the predict schema's predictions table.
 *
 * Connections. The workers share a pool of connections (libpq's rule: one
 * thread per connection at a time): a statement borrows an idle connection,
 * or opens one while fewer than PREDICT_DB_CONNECTIONS are open, or waits for one
 * to come back, within its deadline. libpq is used in non-blocking mode with
 * poll() and the deadline, for connecting too, so a database that stops
 * answering costs a request at most cfg->db_timeout_ms before it gets 503 —
 * never a hang. A connection that broke or timed out is closed; while none
 * is open, attempts are spaced by a backoff (100 ms doubling to 1 s) during
 * which requests get 503 at once. A statement whose connection broke is
 * retried once on another connection: every statement here is idempotent
 * (see the predict statement).
 *
 * Poolers. Behind a pooler that has fewer server connections than the
 * gateway has workers (PgBouncer in session mode), a new connection is
 * accepted but its first statement waits for a server connection that
 * never comes: that attempt is abandoned after a short wait and the gateway
 * keeps the connections it has (opening no other for CEILING_PAUSE_US). In
 * transaction mode a server connection serves other clients between
 * statements, so the gateway keeps no session state there: its statements
 * name every object and operator with its schema, results are binary (no
 * DateStyle, TimeZone or extra_float_digits to rely on; TimeZone and
 * DateStyle, which the report's days and timestamps use, are set once per
 * connection and PgBouncer keeps them per client), and prepared statements,
 * which such a pooler loses, are replaced by unnamed ones (parsed and planned
 * each time) when PREDICT_PREPARED_STATEMENTS is off, or for good at the
 * first sign of such a pooler when it is auto (the default): a prepared
 * statement missing (26000) or already there (42P05) on a server connection.
 * Named statements carry a hash of their text, so a connection that has one
 * of that name has the same statement.
 *
 * Replicas. With PREDICT_READ_DATABASE_URL the read-only routes use a second
 * pool on the replica, and the primary while the replica is unavailable (a
 * row not found on a lagging replica is looked up on the primary too).
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
#include <endian.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "group.h"
#include "log.h"
#include "metrics.h"
#include "pg_setup.h"
#include "registry_errors.h"
#include "strbuf.h"

#define BACKOFF_FIRST_US 100000
#define BACKOFF_MAX_US 1000000
/* A new connection whose first statement has no answer by then waits for a pooler. */
#define STALL_US 1000000
/* How long to keep the connections a pooler gave before trying for more. */
#define CEILING_PAUSE_US (30 * 1000000)

/* Type OIDs of the statements' parameters (pg_type.h, stable). */
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define JSONBOID 3802
#define TEXTOID 25

/*
 * The row's columns, in binary, and its explanation (null unless the row
 * was explained), last so that emit_row finds it by count. /predict does
 * not fetch the observation back (the client just sent it).
 */
#define EXPLANATION "[[, explanation::pg_catalog.text]]"
#define ROW_COLUMNS \
	"id, observation_id, observation::pg_catalog.text, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at" EXPLANATION
#define PREDICT_COLUMNS \
	"id, observation_id, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at" EXPLANATION

/*
 * Set once per connection, for the report (its days and its timestamps are
 * in the session's time zone). PgBouncer keeps both per client.
 */
#define SESSION_SETTINGS "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'"

/*
 * The statements. @s@ stands for the predict tables' schema (quoted): every
 * object, operator and type is named with its schema, so that nothing
 * another role creates is ever called, whatever the session's search_path
 * (docs/sql-reference.md, Security). Not a SET search_path: a pooler in
 * transaction mode would hand it to other clients, and run our statements
 * on connections that never saw it.
 *
 * predict: insert unless the id is already there (the NOT EXISTS comes
 * before the trigger, so a retry neither scores nor writes), returning the
 * row with outcome 0. No row back: the id is there, and existing reports it
 * with an outcome: 1 = stored with an equal observation (jsonb equality),
 * 2 = stored with another one. Two plain statements rather than one with
 * CTEs: through a transaction pooler every statement is parsed and planned
 * again, and planning the one-statement form cost more than running it
 * (docs/scaling.md). When another session inserts the same id concurrently,
 * the INSERT waits for it and does nothing; existing, a new statement, sees
 * the committed row.
 */
enum
{
	STMT_PREDICT = 0,
	STMT_PREDICT_BATCH,
	STMT_EXISTING,
	STMT_UPDATE,
	STMT_GET,
	STMT_LIST,
	STMT_READY,
	STMT_REPORT,
	NSTATEMENTS
};

typedef struct pg_statement
{
	const char *name;
	const char *sql;
	int			nparams;
	Oid			types[3];
} pg_statement;

static const pg_statement statement_templates[NSTATEMENTS] = {
	[STMT_PREDICT] = {"predict_predict",
		"INSERT INTO @s@.predictions (observation_id, observation[[, explanation]])"
		" SELECT $1, $2[[, $3]] WHERE NOT EXISTS"
		" (SELECT FROM @s@.predictions WHERE observation_id OPERATOR(pg_catalog.=) $1)"
		" ON CONFLICT (observation_id) DO NOTHING"
		" RETURNING 0, " PREDICT_COLUMNS,
	3, {INT8OID, JSONBOID, JSONBOID}},
	/*
	 * predict_batch: predict's INSERT for several requests (group.h), their
	 * ids as an int8[] and their observations as one JSON array, zipped by
	 * ROWS FROM; a row comes back for each id inserted. The ids are
	 * distinct (group.c takes one request per id into a batch). Each row's
	 * explain travels as an element of a bool[], $3: true asks the trigger
	 * for that row's explanation (explanation = 'true'), false leaves it to
	 * the version (null), so one request's flag is never another's. No NOT
	 * EXISTS here (14% of the statement's time for 8 rows): a retry in a
	 * batch is rare, and is scored for nothing, or fails the batch with a
	 * changed observation the model refuses, after which each request runs
	 * alone and gets its own answer.
	 */
	[STMT_PREDICT_BATCH] = {"predict_predict_batch",
		"INSERT INTO @s@.predictions (observation_id, observation[[, explanation]])"
		" SELECT t.i, t.o[[, CASE WHEN t.e THEN 'true'::pg_catalog.jsonb END]]"
		" FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]),"
		" pg_catalog.jsonb_array_elements($2::pg_catalog.jsonb),"
		" pg_catalog.unnest($3::pg_catalog.bool[])) AS t (i, o, e)"
		" ON CONFLICT (observation_id) DO NOTHING"
		" RETURNING 0, " PREDICT_COLUMNS,
	3, {0, 0, 0}},
	[STMT_EXISTING] = {"predict_existing",
		"SELECT CASE WHEN observation OPERATOR(pg_catalog.=) $2 THEN 1 ELSE 2 END, " PREDICT_COLUMNS
		" FROM @s@.predictions WHERE observation_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, JSONBOID}},
	[STMT_UPDATE] = {"predict_update",
		"UPDATE @s@.predictions SET true_class = $2 WHERE observation_id OPERATOR(pg_catalog.=) $1"
		" RETURNING " ROW_COLUMNS,
	2, {INT8OID, INT2OID}},
	[STMT_GET] = {"predict_get",
		"SELECT " ROW_COLUMNS " FROM @s@.predictions WHERE observation_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}},
	[STMT_LIST] = {"predict_list",
		"SELECT " ROW_COLUMNS " FROM @s@.predictions WHERE id OPERATOR(pg_catalog.>) $1"
		" ORDER BY id LIMIT $2",
	2, {INT8OID, INT4OID}},
	/* a default model, and whether this database takes writes */
	[STMT_READY] = {"predict_ready",
		"SELECT EXISTS (SELECT FROM @s@.predict_models WHERE is_default),"
		" pg_catalog.pg_is_in_recovery() OR"
		" pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'on'",
	0, {0}},
	/*
	 * The monitoring report, never prepared: a connection must not fail for a
	 * database whose schema predates predict_report (the other routes work
	 * there; this one answers 500 and logs why).
	 */
	[STMT_REPORT] = {"predict_report",
		"SELECT @s@.predict_report(NULL::pg_catalog.text, $1::pg_catalog.timestamptz,"
		" $2::pg_catalog.timestamptz)::pg_catalog.text",
	2, {TEXTOID, TEXTOID}},
};

/*
 * Whether the log has the explanation column; the columns /predict's
 * statements return, and those of update, get and list.
 */
static bool log_explains;
static int	predict_ncolumns;
static int	row_ncolumns;

/* The statements with the schema's name and a hash of their text in their name. */
static pg_statement statements[NSTATEMENTS];

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
	const char *message;		/* if set, the rule is only for a primary message starting so */
} sqlstate_rule;

static const sqlstate_rule sqlstate_rules[] = {
	{"40001", DB_UNAVAILABLE, DBERR_RETRY, false, true, "serialization failure", NULL},
	{"40P01", DB_UNAVAILABLE, DBERR_RETRY, false, true, "deadlock", NULL},
	{"40", DB_UNAVAILABLE, DBERR_RETRY, false, false, "transaction rollback", NULL},
	{"23505", DB_CONFLICT, DBERR_DATA, false, false, "unique violation", NULL},
	{"23514", DB_INVALID, DBERR_DATA, true, false, "check violation", NULL},
	{"22", DB_INVALID, DBERR_DATA, true, false, "data exception", NULL},
	{"54", DB_INVALID, DBERR_DATA, true, false, "program limit exceeded", NULL},
	/*
	 * The trigger's refusal of a row asked to be explained, and only it:
	 * 0A000 is also "cached plan must not change result type", no client's
	 * fault.
	 */
	{"0A000", DB_INVALID, DBERR_DATA, true, false, "feature not supported",
	"cannot explain this model: "},
	{"08", DB_UNAVAILABLE, DBERR_CONNECTION, false, false, "connection exception", NULL},
	{"53", DB_UNAVAILABLE, DBERR_OTHER, false, false, "insufficient resources", NULL},
	{"57", DB_UNAVAILABLE, DBERR_CONNECTION, false, false, "operator intervention", NULL},
	{"25006", DB_READ_ONLY, DBERR_READ_ONLY, false, false,
	"the database is read-only (a standby): this gateway must connect to the primary", NULL},
	{"55000", DB_UNAVAILABLE, DBERR_OTHER, true, false, "object not in prerequisite state", NULL},
	{"", DB_INTERNAL, DBERR_OTHER, false, false, "internal error", NULL},
};

/* ---------- the connection pools ---------- */

typedef struct pg_link
{
	PGconn	   *conn;
	bool		prepared;		/* the named statements exist on it */
	struct pg_link *next;		/* in the pool's idle list */
} pg_link;

typedef struct link_pool
{
	const char *label;			/* "database", "replica": for the log */
	const char *url;
	pthread_mutex_t lock;
	pthread_cond_t changed;		/* a link came back, or an attempt ended */
	pg_link    *idle;
	int			open;			/* links connected, idle or lent */
	int			connecting;		/* attempts under way */
	int			limit;			/* PREDICT_DB_CONNECTIONS */
	int64_t		retry_at;		/* no attempt before this (the backoff) */
	int64_t		ceiling_until;	/* while some are open, none more before this (a pooler's limit) */
	int64_t		answered_at;	/* when a connection last got an answer */
	int			failures;		/* consecutive failed attempts */
	bool		ceiling_logged;
} link_pool;

static link_pool primary = {.label = "database"};
static link_pool replica = {.label = "replica"};
static atomic_bool unnamed_statements;	/* transaction pooling: no prepared statements */
static bool prepared_statements_auto = true;

struct db_session
{
	const gateway_config *cfg;
};

static void
pool_init(link_pool *pool, const char *url, int limit)
{
	pthread_condattr_t attr;

	pool->url = url;
	pool->limit = limit;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->changed, &attr);
	pthread_condattr_destroy(&attr);
}

/* Wait on the pool's condition until it changes or until (now_us) passes. */
static void
pool_wait(link_pool *pool, int64_t until)
{
	struct timespec ts;

	if (now_us() >= until)
		return;
	ts.tv_sec = (time_t) (until / 1000000);
	ts.tv_nsec = (long) (until % 1000000) * 1000;
	pthread_cond_timedwait(&pool->changed, &pool->lock, &ts);
}

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

typedef enum run_outcome
{
	RUN_RESULT,					/* a result (success or a server error) */
	RUN_TIMEOUT,				/* the deadline passed */
	RUN_BROKEN					/* the connection failed */
} run_outcome;

typedef enum run_mode
{
	RUN_EXECUTE,				/* execute the prepared statement st->name */
	RUN_PREPARE,				/* prepare st->sql as st->name */
	RUN_SIMPLE,					/* send st->sql as a simple query (no parameters) */
	RUN_PARAMS					/* send st->sql with its parameters, unnamed */
} run_mode;

/*
 * Send a statement (a prepared one, a Prepare, a simple query or an unnamed
 * one) on a non-blocking connection and collect its result within the
 * deadline, in binary. The result is the first error result if there is
 * any, else the last one; it is returned only after PQgetResult returned
 * NULL, i.e. after ReadyForQuery, i.e. after the commit.
 */
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
		sent = PQsendQueryParams(conn, st->sql, st->nparams, st->types, values, NULL, NULL, 1);
	else
		sent = PQsendQueryPrepared(conn, st->name, st->nparams, values, NULL, NULL, 1);
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
	*result = kept;
	if (PQstatus(conn) == CONNECTION_BAD)
		return RUN_BROKEN;
	return kept != NULL ? RUN_RESULT : RUN_BROKEN;
}

typedef enum connect_outcome
{
	CONNECT_OK,
	CONNECT_FAILED,				/* refused, or an error: back off */
	CONNECT_STALLED				/* accepted, but no answer: a pooler's limit */
} connect_outcome;

static int	pool_open_count(link_pool *pool);

/* The deadline of a step of connecting: STALL_US once the pool has others. */
static int64_t
stall_deadline(link_pool *pool, int64_t deadline)
{
	int64_t		stall = now_us() + STALL_US;

	return pool_open_count(pool) > 0 && stall < deadline ? stall : deadline;
}

/*
 * Open a connection: non-blocking connect, then the session settings, within
 * the deadline; while the pool has other connections, a step that gets no
 * answer within STALL_US means a pooler has no more to give.
 */
static connect_outcome
link_connect(link_pool *pool, int64_t deadline, pg_link **out)
{
	static const pg_statement settings = {"settings", SESSION_SETTINGS, 0, {0}};
	const char *keywords[] = {"fallback_application_name", "dbname", NULL};
	const char *values[] = {"predict-gateway", pool->url, NULL};
	PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
	PGconn	   *conn = PQconnectStartParams(keywords, values, 1);
	PGresult   *res = NULL;
	run_outcome ran;
	char		line[256];
	int64_t		step_deadline = stall_deadline(pool, deadline);

	*out = NULL;
	if (conn == NULL)
		return CONNECT_FAILED;
	PQsetNoticeProcessor(conn, pg_ignore_notice, NULL);
	while (PQstatus(conn) != CONNECTION_BAD && poll_status != PGRES_POLLING_OK &&
		   poll_status != PGRES_POLLING_FAILED)
	{
		int			w = wait_socket(PQsocket(conn),
									poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT,
									step_deadline);

		if (w == 0)
		{
			PQfinish(conn);
			if (step_deadline < deadline)
				return CONNECT_STALLED;
			metrics_db_error(DBERR_TIMEOUT);
			log_error("cannot connect to the %s: no answer within the deadline", pool->label);
			return CONNECT_FAILED;
		}
		poll_status = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK || PQsetnonblocking(conn, 1) != 0)
	{
		metrics_db_error(DBERR_CONNECTION);
		/* one line per failed attempt; attempts are spaced by the backoff */
		log_error("cannot connect to the %s: %s", pool->label,
				  pg_first_line(PQerrorMessage(conn), line, sizeof(line)));
		PQfinish(conn);
		return CONNECT_FAILED;
	}
	step_deadline = stall_deadline(pool, deadline);
	ran = run_statement(conn, &settings, RUN_SIMPLE, NULL, step_deadline, &res);
	if (ran != RUN_RESULT || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		if (ran == RUN_RESULT || ran == RUN_BROKEN)
		{
			metrics_db_error(DBERR_CONNECTION);
			log_error("cannot set up a connection to the %s: %s", pool->label,
					  pg_first_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn),
									line, sizeof(line)));
		}
		PQclear(res);
		PQfinish(conn);
		if (ran == RUN_TIMEOUT && step_deadline < deadline)
			return CONNECT_STALLED;
		if (ran == RUN_TIMEOUT)
			metrics_db_error(DBERR_TIMEOUT);
		return CONNECT_FAILED;
	}
	PQclear(res);
	*out = calloc(1, sizeof(pg_link));
	if (*out == NULL)
	{
		PQfinish(conn);
		return CONNECT_FAILED;
	}
	(*out)->conn = conn;
	return CONNECT_OK;
}

/* Arm the backoff after a failure (the pool's lock held). */
static void
pool_back_off(link_pool *pool)
{
	int64_t		delay = BACKOFF_FIRST_US;

	pool->failures++;
	for (int i = 1; i < pool->failures && delay < BACKOFF_MAX_US; i++)
		delay *= 2;
	pool->retry_at = now_us() + (delay < BACKOFF_MAX_US ? delay : BACKOFF_MAX_US);
}

/*
 * Borrow a connection within the deadline: an idle one, or a new one while
 * fewer than the limit are open, or the next to come back. NULL with err.
 */
static pg_link *
pool_acquire(link_pool *pool, int64_t deadline, db_error *err)
{
	pg_link    *link = NULL;

	pthread_mutex_lock(&pool->lock);
	for (;;)
	{
		int64_t		now = now_us();
		connect_outcome outcome;

		if (pool->idle != NULL)
		{
			link = pool->idle;
			pool->idle = link->next;
			break;
		}
		/*
		 * One attempt at a time (the others wait for it, or for a link to
		 * come back): so that an attempt that gets no answer is known to be
		 * beyond a pooler's limit once one connection works, even at a cold
		 * start.
		 */
		if (pool->connecting == 0 && pool->open < pool->limit && now >= pool->retry_at &&
			(pool->open == 0 || now >= pool->ceiling_until))
		{
			pool->connecting++;
			pthread_mutex_unlock(&pool->lock);
			outcome = link_connect(pool, deadline, &link);
			pthread_mutex_lock(&pool->lock);
			pool->connecting--;
			pthread_cond_broadcast(&pool->changed);
			if (outcome == CONNECT_OK)
			{
				pool->open++;
				pool->failures = 0;
				break;
			}
			if (outcome == CONNECT_STALLED && now_us() - pool->answered_at < 2 * STALL_US)
			{
				/* the others answer: a pooler gave what it has; use those connections */
				pool->ceiling_until = now_us() + CEILING_PAUSE_US;
				if (!pool->ceiling_logged)
					log_info("the %s accepts %d connections at once (a pooler's limit?): "
							 "the workers share them", pool->label, pool->open);
				pool->ceiling_logged = true;
				continue;
			}
			pool_back_off(pool);
			if (pool->open == 0)
			{
				pthread_mutex_unlock(&pool->lock);
				db_fail(err, DB_UNAVAILABLE, "database unavailable");
				return NULL;
			}
			continue;
		}
		if (pool->open == 0 && pool->connecting == 0)
		{
			/* the database was down a moment ago: no waiting behind the backoff */
			pthread_mutex_unlock(&pool->lock);
			db_fail(err, DB_UNAVAILABLE, "database unavailable (reconnecting)");
			return NULL;
		}
		if (now >= deadline)
		{
			pthread_mutex_unlock(&pool->lock);
			metrics_db_error(DBERR_TIMEOUT);
			db_fail(err, DB_UNAVAILABLE, "database timeout (every connection busy)");
			return NULL;
		}
		/* until a link comes back or an attempt ends, or a new attempt may start */
		{
			int64_t		until = deadline;

			if (pool->retry_at > now && pool->retry_at < until)
				until = pool->retry_at;
			if (pool->ceiling_until > now && pool->ceiling_until < until)
				until = pool->ceiling_until;
			pool_wait(pool, until);
		}
	}
	pthread_mutex_unlock(&pool->lock);
	link->next = NULL;
	return link;
}

typedef enum link_fate
{
	LINK_KEEP,					/* back to the idle list */
	LINK_BROKEN,				/* closed: reconnect at once, the server may be back */
	LINK_TIMED_OUT				/* closed, and no new one before the backoff */
} link_fate;

/* Give a link back; a broken one (or one in an unknown state) is closed. */
static void
pool_release(link_pool *pool, pg_link *link, link_fate fate)
{
	pthread_mutex_lock(&pool->lock);
	if (fate != LINK_KEEP || PQstatus(link->conn) != CONNECTION_OK ||
		PQtransactionStatus(link->conn) != PQTRANS_IDLE)
	{
		PQfinish(link->conn);
		free(link);
		pool->open--;
		if (fate == LINK_TIMED_OUT)
			pool_back_off(pool);
	}
	else
	{
		link->next = pool->idle;
		pool->idle = link;
		pool->answered_at = now_us();
	}
	pthread_cond_signal(&pool->changed);
	pthread_mutex_unlock(&pool->lock);
}

static void
pool_close(link_pool *pool)
{
	if (pool->url == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	while (pool->idle != NULL)
	{
		pg_link    *link = pool->idle;

		pool->idle = link->next;
		PQfinish(link->conn);
		free(link);
		pool->open--;
	}
	pthread_mutex_unlock(&pool->lock);
}

static int
pool_open_count(link_pool *pool)
{
	int			n;

	if (pool->url == NULL)
		return 0;
	pthread_mutex_lock(&pool->lock);
	n = pool->open;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

/* ---------- statements ---------- */

/* The rule for a SQLSTATE (NULL or empty: the catch-all). */
static const sqlstate_rule *
rule_for_sqlstate(const char *sqlstate, const char *message)
{
	size_t		i;

	for (i = 0; i < sizeof(sqlstate_rules) / sizeof(sqlstate_rules[0]); i++)
	{
		const sqlstate_rule *rule = &sqlstate_rules[i];
		size_t		n = strlen(rule->prefix);

		if (rule->message != NULL &&
			(message == NULL || strncmp(message, rule->message, strlen(rule->message)) != 0))
			continue;
		if (sqlstate != NULL && strncmp(sqlstate, rule->prefix, n) == 0)
			return rule;
		if (n == 0)
			return &sqlstate_rules[i];
	}
	return NULL;				/* not reached: the table ends with "" */
}

/* A transaction pooler lost or shared a prepared statement: stop preparing. */
static bool
pooler_signature(const PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (!prepared_statements_auto || sqlstate == NULL ||
		(strcmp(sqlstate, "26000") != 0 && strcmp(sqlstate, "42P05") != 0))
		return false;
	if (!atomic_exchange(&unnamed_statements, true))
		log_info("the database connection is pooled per transaction (a prepared statement was %s): "
				 "unnamed statements from now on (PREDICT_PREPARED_STATEMENTS=off starts that way)",
				 strcmp(sqlstate, "26000") == 0 ? "missing" : "already there");
	return true;
}

/* Prepare the named statements on a link (once per link). */
static run_outcome
link_prepare(pg_link *link, int64_t deadline, PGresult **result)
{
	for (int i = 0; i < NSTATEMENTS; i++)
	{
		run_outcome out;

		if (i == STMT_REPORT)
			continue;
		out = run_statement(link->conn, &statements[i], RUN_PREPARE, NULL, deadline, result);
		if (out != RUN_RESULT || PQresultStatus(*result) != PGRES_COMMAND_OK)
			return out;
		PQclear(*result);
		*result = NULL;
	}
	link->prepared = true;
	return RUN_RESULT;
}

/* Run st on link, prepared (and preparing it first) or unnamed. */
static run_outcome
link_run(pg_link *link, int st, const char *const *values, int64_t deadline, PGresult **result)
{
	run_outcome out;

	if (st == STMT_REPORT || atomic_load(&unnamed_statements))
		return run_statement(link->conn, &statements[st], RUN_PARAMS, values, deadline, result);
	if (!link->prepared)
	{
		out = link_prepare(link, deadline, result);
		if (out != RUN_RESULT || *result != NULL)
			return out;
	}
	return run_statement(link->conn, &statements[st], RUN_EXECUTE, values, deadline, result);
}

/*
 * Run statement st with values on a connection of pool, retrying once after
 * a broken connection or a retryable SQLSTATE (and after a transaction
 * pooler's signature, unnamed). On DB_OK *result holds a PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK result for the caller to clear.
 */
static db_status
pool_run(link_pool *pool, int st, const char *const *values, int64_t deadline,
		 PGresult **result, db_error *err)
{
	int			attempt;
	bool		unnamed_retry = false;
	char		line[256];
	const char *name = statements[st].name;

	*result = NULL;
	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		run_outcome out;
		const sqlstate_rule *rule;
		const char *sqlstate;
		ExecStatusType rs;
		pg_link    *link = pool_acquire(pool, deadline, err);

		if (link == NULL)
			return err->status;
		metrics_db_busy(1);
		out = link_run(link, st, values, deadline, &res);
		metrics_db_busy(-1);

		if (out == RUN_TIMEOUT)
		{
			PQclear(res);
			pool_release(pool, link, LINK_TIMED_OUT);
			metrics_db_error(DBERR_TIMEOUT);
			log_error("the %s did not answer %s within the deadline; closing the connection",
					  pool->label, name);
			return db_fail(err, DB_UNAVAILABLE, "database timeout");
		}
		if (out == RUN_BROKEN)
		{
			metrics_db_error(DBERR_CONNECTION);
			log_error("%s connection lost during %s: %s", pool->label, name,
					  pg_first_line(res != NULL ? PQresultErrorMessage(res)
									: PQerrorMessage(link->conn), line, sizeof(line)));
			PQclear(res);
			/* another connection for the retry, at once: the server may be back */
			pool_release(pool, link, LINK_BROKEN);
			continue;
		}

		rs = PQresultStatus(res);
		if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
		{
			pool_release(pool, link, LINK_KEEP);
			*result = res;
			return DB_OK;
		}
		if (!unnamed_retry && pooler_signature(res))
		{
			PQclear(res);
			pool_release(pool, link, LINK_KEEP);
			unnamed_retry = true;
			attempt--;			/* not the statement's fault: once more, unnamed */
			continue;
		}
		pool_release(pool, link, LINK_KEEP);

		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		rule = rule_for_sqlstate(sqlstate, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		metrics_db_error(rule->kind);
		if (rule->retry && attempt == 0)
		{
			PQclear(res);
			continue;
		}
		if (rule->show_message)
		{
			const char *primary_message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			db_fail(err, rule->status, "%s", primary_message != NULL ? primary_message : rule->meaning);
		}
		else
			db_fail(err, rule->status, "%s", rule->meaning);
		if (rule->status != DB_INVALID)
			log_error("%s failed: SQLSTATE %s: %s", name, sqlstate != NULL ? sqlstate : "none",
					  pg_first_line(PQresultErrorMessage(res), line, sizeof(line)));
		PQclear(res);
		return rule->status;
	}
	return db_fail(err, DB_UNAVAILABLE, "database unavailable");
}

/*
 * A read-only statement: on the replica when there is one, on the primary
 * while the replica is unavailable.
 */
static db_status
read_run(int st, const char *const *values, int64_t deadline, PGresult **result, db_error *err)
{
	if (replica.url != NULL)
	{
		db_status	status = pool_run(&replica, st, values, deadline, result, err);

		if (status != DB_UNAVAILABLE || now_us() >= deadline)
			return status;
	}
	return pool_run(&primary, st, values, deadline, result, err);
}

/* ---------- binary results ---------- */

static int64_t
get_int8(const PGresult *res, int row, int col)
{
	uint64_t	v;

	memcpy(&v, PQgetvalue(res, row, col), sizeof(v));
	return (int64_t) be64toh(v);
}

static int32_t
get_int4(const PGresult *res, int row, int col)
{
	uint32_t	v;

	memcpy(&v, PQgetvalue(res, row, col), sizeof(v));
	return (int32_t) be32toh(v);
}

static int
get_int2(const PGresult *res, int row, int col)
{
	uint16_t	v;

	memcpy(&v, PQgetvalue(res, row, col), sizeof(v));
	return (int16_t) be16toh(v);
}

static double
get_float8(const PGresult *res, int row, int col)
{
	uint64_t	bits;
	double		d;

	memcpy(&bits, PQgetvalue(res, row, col), sizeof(bits));
	bits = be64toh(bits);
	memcpy(&d, &bits, sizeof(d));
	return d;
}

static bool
get_bool(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] != 0;
}

/* Two decimal digits of v (0..99) at p. */
static char *
put2(char *p, int v)
{
	p[0] = (char) ('0' + v / 10);
	p[1] = (char) ('0' + v % 10);
	return p + 2;
}

/*
 * A binary timestamptz (microseconds since 2000-01-01 00:00:00 UTC) as ISO
 * 8601 with microseconds ("2026-11-26T11:08:01.223700Z"). Integer
 * arithmetic on the proleptic Gregorian calendar (days to civil date, by
 * 400-year eras) rather than gmtime_r and strftime, which cost as much as
 * the rest of the row's decoding.
 */
static const char *
iso_timestamp(int64_t pg_us, char *out, size_t size)
{
	const int64_t us_per_day = INT64_C(86400000000);
	int64_t		days;
	int64_t		us;
	int64_t		z;
	int64_t		era;
	int64_t		doe;
	int64_t		yoe;
	int64_t		doy;
	int64_t		mp;
	int64_t		year;
	int			month;
	int			day;
	int			sec;
	char	   *p;

	if (pg_us == INT64_MAX)
		return "infinity";
	if (pg_us == INT64_MIN)
		return "-infinity";
	days = pg_us / us_per_day;
	us = pg_us % us_per_day;
	if (us < 0)
	{
		us += us_per_day;
		days--;
	}
	z = days + 10957 + 719468;	/* days since 0000-03-01: 2000-01-01 is day 10957 of 1970 */
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = (int) (doy - (153 * mp + 2) / 5 + 1);
	month = (int) (mp < 10 ? mp + 3 : mp - 9);
	year = yoe + era * 400 + (month <= 2);
	sec = (int) (us / 1000000);
	if (year < 0 || year > 9999 || size < 28)
	{
		snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", (long long) year, month, day,
				 sec / 3600, sec / 60 % 60, sec % 60, (int) (us % 1000000));
		return out;
	}
	p = put2(out, (int) (year / 100));
	p = put2(p, (int) (year % 100));
	*p++ = '-';
	p = put2(p, month);
	*p++ = '-';
	p = put2(p, day);
	*p++ = 'T';
	p = put2(p, sec / 3600);
	*p++ = ':';
	p = put2(p, sec / 60 % 60);
	*p++ = ':';
	p = put2(p, sec % 60);
	*p++ = '.';
	p = put2(p, (int) (us % 1000000 / 10000));
	p = put2(p, (int) (us % 10000 / 100));
	p = put2(p, (int) (us % 100));
	*p++ = 'Z';
	*p = '\0';
	return out;
}

/*
 * Decode row `row` of res, its columns starting at `first` (with the
 * observation when with_observation, and the explanation when the result
 * has a column after updated_at), and hand it to sink.
 */
static void
emit_row(const PGresult *res, int row, int first, bool with_observation,
		 row_sink sink, void *arg)
{
	prediction_row r;
	int			c = first;
	char		created[48];
	char		updated[48];

	r.id = get_int8(res, row, c++);
	r.observation_id = get_int8(res, row, c++);
	r.observation = NULL;
	r.observation_len = 0;
	if (with_observation)
	{
		r.observation = PQgetvalue(res, row, c);
		r.observation_len = (size_t) PQgetlength(res, row, c++);
	}
	r.proba = get_float8(res, row, c++);
	r.proba_text = NULL;		/* printed as the shortest decimal that reads back */
	r.predicted_class = get_bool(res, row, c++);
	r.true_class = PQgetisnull(res, row, c) ? -1 : get_int2(res, row, c);
	c++;
	r.model = PQgetvalue(res, row, c++);
	r.model_version = get_int4(res, row, c++);
	r.created_at = iso_timestamp(get_int8(res, row, c++), created, sizeof(created));
	r.updated_at = iso_timestamp(get_int8(res, row, c++), updated, sizeof(updated));
	r.explanation = NULL;
	r.explanation_len = 0;
	if (c < PQnfields(res) && !PQgetisnull(res, row, c))
	{
		r.explanation = PQgetvalue(res, row, c);
		r.explanation_len = (size_t) PQgetlength(res, row, c);
	}
	sink(&r, arg);
}

/*
 * Whether res has the columns a row result needs, in binary (guards against
 * schema drift and a pooler that answered for another statement).
 */
static bool
row_shape_ok(const PGresult *res, int expected, db_error *err)
{
	if (PQnfields(res) != expected || PQbinaryTuples(res) != 1)
	{
		log_error("unexpected result shape: %d columns", PQnfields(res));
		db_fail(err, DB_INTERNAL, "unexpected result");
		return false;
	}
	return true;
}

/* ---------- the backend's operations ---------- */

/* A request asks for an explanation from a log that cannot store one. */
static db_status
explain_unavailable(db_error *err)
{
	return db_fail(err, DB_INVALID, "explain needs the predict extension 1.5 or the managed "
				   "predict schema 1.9: this database's is older (the gateway's start-up "
				   "warning says how to update it)");
}

/*
 * One /predict request as its own statement (and a second one for a retry):
 * on DB_OK, *result holds its row (the caller clears it). explain sets the
 * inserted row's explanation to true (the trigger computes it); else null,
 * and the version decides. A retry reports the stored row, explain or not.
 */
static db_status
predict_one(int64_t observation_id, const char *observation, bool explain, PGresult **result,
			bool *created, int64_t deadline, db_error *err)
{
	char		id[24];
	const char *values[3];
	int			attempt;

	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	values[0] = id;
	values[1] = observation;
	values[2] = explain ? "true" : NULL;
	*created = false;
	for (attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;
		db_status	status = pool_run(&primary, STMT_PREDICT, values, deadline, &res, err);
		int			outcome;

		if (status == DB_OK && PQntuples(res) == 0)
		{
			/* the id is there: a retry, or a concurrent insert that won */
			PQclear(res);
			status = pool_run(&primary, STMT_EXISTING, values, deadline, &res, err);
			if (status == DB_OK && PQntuples(res) == 0)
			{
				/* deleted in between: insert again */
				PQclear(res);
				continue;
			}
		}
		if (status != DB_OK)
			return status;
		if (!row_shape_ok(res, predict_ncolumns, err))
		{
			PQclear(res);
			return err->status;
		}
		outcome = get_int4(res, 0, 0);
		if (outcome == 2)
		{
			PQclear(res);
			return db_fail(err, DB_CONFLICT, "Observation ID: \"%lld\" already exists",
						   (long long) observation_id);
		}
		*created = (outcome == 0);
		*result = res;
		return DB_OK;
	}
	log_error("predict: observation_id %lld neither inserted nor found twice",
			  (long long) observation_id);
	return db_fail(err, DB_UNAVAILABLE, "concurrent insert, retry");
}

/*
 * Batching (PREDICT_BATCH > 1). Each /predict request is a db_predict_call
 * handed to the group (group.h); the batch's lane fills in its outcome: its
 * row of the batch's result, or of its own statement's when it ran alone;
 * an error every request of the batch shares (the database is unavailable
 * or read-only: the same answer each request alone would get); or
 * CALL_ALONE: run it as its own statement, which predict_end does in the
 * request's own thread. A batch whose statement failed for any other
 * reason (one observation the database refused, a bug) inserted nothing,
 * being one transaction, so each of its requests runs alone and gets its
 * own answer; so does a request whose id was already stored (a retry, or a
 * conflict), which the batch skipped.
 */
typedef enum call_outcome
{
	CALL_ALONE,
	CALL_ROW,
	CALL_FAILED,
} call_outcome;

/* A batch's result, shared by the requests it answers; the last one frees it. */
typedef struct shared_result
{
	PGresult   *res;
	atomic_int	users;
} shared_result;

struct db_predict_call
{
	group_request r;
	int64_t		observation_id;
	const char *observation;
	size_t		len;
	bool		explain;
	int64_t		deadline;
	predict_ready ready;
	void	   *ready_cls;
	call_outcome outcome;
	shared_result *shared;		/* CALL_ROW from a batch: the result, and the row in it */
	PGresult   *own;			/* CALL_ROW from its own statement: row 0 */
	int			row;
	bool		created;
	db_status	status;			/* CALL_FAILED */
	db_error	err;
};

static group predict_group;
static bool batching;			/* PREDICT_BATCH > 1: the group's lanes run */

static void
shared_release(shared_result *shared)
{
	if (atomic_fetch_sub(&shared->users, 1) == 1)
	{
		PQclear(shared->res);
		free(shared);
	}
}

/* Run a call as its own statement and keep its outcome. */
static void
call_run_alone(db_predict_call *c)
{
	c->status = predict_one(c->observation_id, c->observation, c->explain, &c->own,
							&c->created, c->deadline, &c->err);
	c->outcome = c->status == DB_OK ? CALL_ROW : CALL_FAILED;
	c->row = 0;
}

/*
 * The ids as an int8[] literal, the observations as a JSON array and the
 * explain flags as a bool[] literal, each request at the same place in all
 * three.
 */
static bool
batch_parameters(group_request **batch, int n, strbuf *ids, strbuf *observations,
				 strbuf *explains)
{
	for (int i = 0; i < n; i++)
	{
		const db_predict_call *c = batch[i]->data;

		sb_printf(ids, "%c%lld", i == 0 ? '{' : ',', (long long) c->observation_id);
		sb_append(observations, i == 0 ? "[" : ",", 1);
		sb_append(observations, c->observation, c->len);
		sb_printf(explains, "%c%c", i == 0 ? '{' : ',', c->explain ? 't' : 'f');
	}
	sb_append(ids, "}", 1);
	sb_append(observations, "]", 1);
	sb_append(explains, "}", 1);
	return !ids->failed && !observations->failed && !explains->failed;
}

/* Give each request of the batch its row of res; the others run alone. */
static void
hand_out_rows(group_request **batch, int n, PGresult *res)
{
	shared_result *shared = malloc(sizeof(*shared));
	int			users = 0;

	if (shared == NULL)
	{
		PQclear(res);
		return;					/* every request alone, which finds its row stored */
	}
	shared->res = res;
	for (int row = 0; row < PQntuples(res); row++)
	{
		int64_t		id = get_int8(res, row, 2);

		for (int i = 0; i < n; i++)
		{
			db_predict_call *c = batch[i]->data;

			if (c->observation_id == id && c->outcome == CALL_ALONE)
			{
				c->outcome = CALL_ROW;
				c->shared = shared;
				c->row = row;
				c->created = true;
				users++;
				break;
			}
		}
	}
	atomic_init(&shared->users, users);
	if (users > 0)
		metrics_batch(users);
	else
	{
		PQclear(res);
		free(shared);
	}
}

/* The group's runner: n calls as one statement, or one alone. */
static void
run_batch(group_request **batch, int n, void *unused)
{
	strbuf		ids;
	strbuf		observations;
	strbuf		explains;
	const char *values[3];
	int64_t		deadline = INT64_MAX;
	PGresult   *res;
	db_error	err;
	db_status	status;

	(void) unused;
	if (n == 1)
	{
		/* alone in the queue: today's statement, at once */
		call_run_alone(batch[0]->data);
		return;
	}
	sb_init(&ids);
	sb_init(&observations);
	sb_init(&explains);
	for (int i = 0; i < n; i++)
	{
		const db_predict_call *c = batch[i]->data;

		if (c->deadline < deadline)
			deadline = c->deadline;
	}
	if (!batch_parameters(batch, n, &ids, &observations, &explains))
	{
		sb_free(&ids);
		sb_free(&observations);
		sb_free(&explains);
		return;					/* out of memory: each alone */
	}
	values[0] = ids.data;
	values[1] = observations.data;
	values[2] = explains.data;
	status = pool_run(&primary, STMT_PREDICT_BATCH, values, deadline, &res, &err);
	sb_free(&ids);
	sb_free(&observations);
	sb_free(&explains);
	if (status == DB_OK)
	{
		if (PQnfields(res) == predict_ncolumns && PQbinaryTuples(res) == 1)
			hand_out_rows(batch, n, res);
		else
			PQclear(res);		/* each alone: predict_one reports the shape */
		return;
	}
	if (status == DB_UNAVAILABLE || status == DB_READ_ONLY)
		for (int i = 0; i < n; i++)
		{
			db_predict_call *c = batch[i]->data;

			c->outcome = CALL_FAILED;
			c->status = status;
			c->err = err;
		}
}

/* The group's completion: the call's worker may answer (the call is its from now). */
static void
call_ready(group_request *r)
{
	db_predict_call *c = r->data;

	c->ready(c->ready_cls);
}

static db_predict_call *
pg_predict_begin(db_session *s, int64_t observation_id, const char *observation, size_t len,
				 bool explain, int64_t deadline, bool may_block, bool *answered)
{
	db_predict_call *c = calloc(1, sizeof(*c));

	(void) s;
	if (c == NULL)
		return NULL;
	c->observation_id = observation_id;
	c->observation = observation;
	c->len = len;
	c->explain = explain;
	c->deadline = deadline;
	c->outcome = CALL_ALONE;
	c->r.key = observation_id;
	c->r.data = c;
	if (explain && !log_explains)
	{
		c->outcome = CALL_FAILED;
		c->status = explain_unavailable(&c->err);
		*answered = true;
	}
	else if (!batching)
	{
		call_run_alone(c);		/* PREDICT_BATCH=1 */
		*answered = true;
	}
	else
		*answered = may_block && group_run_alone(&predict_group, &c->r);
	return c;
}

static void
pg_predict_queue(db_predict_call *c, predict_ready ready, void *cls)
{
	c->ready = ready;
	c->ready_cls = cls;
	group_submit(&predict_group, &c->r);
}

static db_status
pg_predict_end(db_predict_call *c, row_sink sink, void *arg, bool *created, db_error *err)
{
	db_status	status = DB_OK;

	*created = false;
	if (c->outcome == CALL_ALONE)
		call_run_alone(c);
	if (c->outcome == CALL_ROW)
	{
		emit_row(c->shared != NULL ? c->shared->res : c->own, c->row, 1, false, sink, arg);
		*created = c->created;
	}
	else
	{
		status = c->status;
		*err = c->err;
	}
	if (c->shared != NULL)
		shared_release(c->shared);
	PQclear(c->own);
	free(c);
	return status;
}

/* predict for a caller that serves nobody else meanwhile: begin, then end, in its thread. */
static db_status
pg_predict(db_session *s, int64_t observation_id, const char *observation, size_t len,
		   bool explain, row_sink sink, void *arg, bool *created, int64_t deadline,
		   db_error *err)
{
	bool		answered;
	db_predict_call *c = pg_predict_begin(s, observation_id, observation, len, explain,
										  deadline, true, &answered);

	*created = false;
	if (c == NULL)
		return db_fail(err, DB_UNAVAILABLE, "out of memory");
	return pg_predict_end(c, sink, arg, created, err);
}

static void
pg_predict_stop(void)
{
	if (batching)
		group_stop(&predict_group);
}

/* Hand each row of res to sink; DB_NOT_FOUND if none and want_one. */
static db_status
emit_rows(PGresult *res, bool want_one, const char *not_found, row_sink sink, void *arg,
		  db_error *err)
{
	db_status	status = DB_OK;

	if (!row_shape_ok(res, row_ncolumns, err))
		status = err->status;
	else if (want_one && PQntuples(res) == 0)
		status = db_fail(err, DB_NOT_FOUND, "%s", not_found);
	else
		for (int i = 0; i < PQntuples(res); i++)
			emit_row(res, i, 0, true, sink, arg);
	PQclear(res);
	return status;
}

static db_status
pg_update(db_session *s, int64_t observation_id, int true_class, row_sink sink, void *arg,
		  int64_t deadline, db_error *err)
{
	char		id[24];
	char		not_found[64];
	const char *values[2];
	PGresult   *res;
	db_status	status;

	(void) s;
	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	values[0] = id;
	values[1] = true_class ? "1" : "0";
	status = pool_run(&primary, STMT_UPDATE, values, deadline, &res, err);
	if (status != DB_OK)
		return status;
	return emit_rows(res, true, not_found, sink, arg, err);
}

static db_status
pg_get(db_session *s, int64_t observation_id, row_sink sink, void *arg,
	   int64_t deadline, db_error *err)
{
	char		id[24];
	char		not_found[64];
	const char *values[1];
	PGresult   *res;
	db_status	status;

	(void) s;
	snprintf(id, sizeof(id), "%lld", (long long) observation_id);
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	values[0] = id;
	status = read_run(STMT_GET, values, deadline, &res, err);
	/* a row just written may not have reached a replica yet */
	if (status == DB_OK && replica.url != NULL && PQntuples(res) == 0)
	{
		PQclear(res);
		status = pool_run(&primary, STMT_GET, values, deadline, &res, err);
	}
	if (status != DB_OK)
		return status;
	return emit_rows(res, true, not_found, sink, arg, err);
}

static db_status
pg_list(db_session *s, int64_t after, int limit, row_sink sink, void *arg,
		int64_t deadline, db_error *err)
{
	char		after_text[24];
	char		limit_text[16];
	const char *values[2];
	PGresult   *res;
	db_status	status;

	(void) s;
	snprintf(after_text, sizeof(after_text), "%lld", (long long) after);
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	values[0] = after_text;
	values[1] = limit_text;
	status = read_run(STMT_LIST, values, deadline, &res, err);
	if (status != DB_OK)
		return status;
	return emit_rows(res, false, NULL, sink, arg, err);
}

/*
 * Ready: the primary answers, takes writes, and has a default model. A
 * read-only database (a standby, or default_transaction_read_only) is not
 * ready, for good: a load balancer must not send writes there.
 */
static db_status
pg_ready(db_session *s, int64_t deadline, db_error *err)
{
	PGresult   *res;
	db_status	status = pool_run(&primary, STMT_READY, NULL, deadline, &res, err);
	bool		has_default;
	bool		read_only;

	(void) s;
	if (status != DB_OK)
		return status == DB_INTERNAL ? db_fail(err, DB_UNAVAILABLE, "database not ready") : status;
	has_default = PQntuples(res) == 1 && get_bool(res, 0, 0);
	read_only = PQntuples(res) == 1 && get_bool(res, 0, 1);
	PQclear(res);
	if (read_only)
	{
		metrics_db_error(DBERR_READ_ONLY);
		return db_fail(err, DB_READ_ONLY, "the database is read-only (a standby): this gateway "
					   "must connect to the primary");
	}
	if (!has_default)
		return db_fail(err, DB_UNAVAILABLE, "%s", predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message);
	return DB_OK;
}

static db_status
pg_report(db_session *s, const char *since, const char *until, text_sink sink, void *arg,
		  int64_t deadline, db_error *err)
{
	const char *values[2] = {since, until};
	PGresult   *res;
	db_status	status = read_run(STMT_REPORT, values, deadline, &res, err);

	(void) s;
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
	return s;
}

static void
pg_session_close(db_session *s)
{
	/* the last session closed takes the idle connections with it */
	pool_close(&primary);
	pool_close(&replica);
	free(s);
}

static bool
pg_session_connected(db_session *s)
{
	(void) s;
	return pool_open_count(&primary) > 0;
}

static int
pg_connections(void)
{
	return pool_open_count(&primary) + pool_open_count(&replica);
}

/* ---------- start-up ---------- */

/*
 * template with every @s@ replaced by schema, and the text between [[ and
 * ]] kept only for a log with the explanation column (explains): the same
 * statements serve a log that its gateway's role could not update
 * (extension 1.4, managed schema 1.8 and older), where explain is refused.
 * Malloc'ed, kept for the process.
 */
static char *
qualify(const char *template, const char *schema, bool explains)
{
	size_t		n = strlen(template) + 1;
	char	   *out;
	char	   *o;
	bool		kept = true;

	for (const char *p = strstr(template, "@s@"); p != NULL; p = strstr(p + 3, "@s@"))
		n += strlen(schema);
	if ((out = malloc(n)) == NULL)
		return NULL;
	o = out;
	for (const char *p = template; *p != '\0';)
	{
		if (strncmp(p, "[[", 2) == 0 || strncmp(p, "]]", 2) == 0)
		{
			kept = p[0] == ']' || explains;
			p += 2;
		}
		else if (strncmp(p, "@s@", 3) == 0)
		{
			if (kept)
				o = stpcpy(o, schema);
			p += 3;
		}
		else if (kept)
			*o++ = *p++;
		else
			p++;
	}
	*o = '\0';
	return out;
}

/* "<name>_<hash of the text>": a connection with that name has this statement. */
static char *
statement_name(const char *name, const char *sql)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */
	char	   *out = malloc(strlen(name) + 10);

	for (const char *p = sql; *p != '\0'; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	if (out != NULL)
		sprintf(out, "%s_%08x", name, h);
	return out;
}

/*
 * PREDICT_BATCH_LANES=auto: one lane, and one more for each millisecond of
 * round trip to the database, at most 4. On the same machine a batch's time
 * is the database's CPU, and one batch at a time makes the largest batches;
 * across a network a lane waits out the round trip, which another lane's
 * batch can use. Measured through a 1.1 ms link (docs/http-api.md,
 * "Batching"): two lanes served 24% and 15% more than one at 8 and 32
 * connections and 9% less at 64; on loopback one lane did best.
 */
static int
batch_lanes(const gateway_config *cfg, double round_trip)
{
	long		lanes;

	if (cfg->batch_lanes > 0)
		return (int) cfg->batch_lanes;
	lanes = 1 + lround(round_trip);
	if (lanes > 4)
		lanes = 4;
	log_info("batching: %d lane(s) for a database round trip of %.2f ms (PREDICT_BATCH_LANES=auto)",
			 (int) lanes, round_trip);
	return (int) lanes;
}

/*
 * Prepare the database (pg_setup.c), name its schema in every statement,
 * and set up the pools.
 */
static bool
pg_backend_setup(const gateway_config *cfg, char *msg, size_t size)
{
	char		schema[256];
	double		round_trip = 0;

	if (!pg_setup(cfg, schema, sizeof(schema), &log_explains, &round_trip, msg, size))
		return false;
	/* the RETURNING's columns: "0," the row's, and the explanation */
	predict_ncolumns = log_explains ? 11 : 10;
	/* update's, get's and list's: the row's, and the explanation */
	row_ncolumns = log_explains ? 11 : 10;
	for (int i = 0; i < NSTATEMENTS; i++)
	{
		const pg_statement *template = &statement_templates[i];

		statements[i] = *template;
		statements[i].sql = qualify(template->sql, schema, log_explains);
		statements[i].name = statements[i].sql != NULL ?
			statement_name(template->name, statements[i].sql) : NULL;
		if (statements[i].sql == NULL || statements[i].name == NULL)
		{
			snprintf(msg, size, "out of memory");
			return false;
		}
	}
	prepared_statements_auto = strcmp(cfg->prepared_statements, "auto") == 0;
	atomic_store(&unnamed_statements, strcmp(cfg->prepared_statements, "off") == 0);
	pool_init(&primary, cfg->database_url, (int) cfg->db_connections);
	if (cfg->batch > 1)
	{
		if (!group_start(&predict_group, batch_lanes(cfg, round_trip), (int) cfg->batch,
						 run_batch, call_ready, NULL))
		{
			snprintf(msg, size, "cannot start the batching threads: %s (lower "
					 "PREDICT_BATCH_LANES, or PREDICT_BATCH=1)", strerror(errno));
			return false;
		}
		batching = true;
	}
	if (cfg->read_database_url != NULL)
		pool_init(&replica, cfg->read_database_url, (int) cfg->db_connections);
	return true;
}

const backend_ops pg_backend = {
	.name = "postgresql",
	.setup = pg_backend_setup,
	.session_open = pg_session_open,
	.session_close = pg_session_close,
	.session_connected = pg_session_connected,
	.connections = pg_connections,
	.predict = pg_predict,
	.predict_begin = pg_predict_begin,
	.predict_queue = pg_predict_queue,
	.predict_end = pg_predict_end,
	.predict_stop = pg_predict_stop,
	.update = pg_update,
	.get = pg_get,
	.list = pg_list,
	.ready = pg_ready,
	.report = pg_report,
};
