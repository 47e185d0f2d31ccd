/*
 * db_sqlite.c - the SQLite backend, the gateway's embedded default
 * (DATABASE_URL=sqlite:///predictions.db): the same schema and the same HTTP
 * behaviour as the PostgreSQL backend, in one database file.
 *
 * The schema is the SQLite extension's (src/sqlite/schema.c), which is
 * linked into the gateway and registered on every connection: the registry
 * tables and the predictions log, with PostgreSQL's table and column names,
 * constraints and rules. sqlite_setup.c creates it at start-up.
 *
 * Scoring. A SQLite trigger cannot rewrite the row being inserted (the
 * extension's trigger inserts a scored copy instead, which RETURNING does
 * not see), so the INSERT computes the scored columns itself, with the
 * extension's functions, in the same statement:
 *
 *   INSERT INTO predictions (observation_id, observation, proba,
 *                            predicted_class, model, model_version)
 *   SELECT ?1, predict_json(?2), predict_proba(?2), predict_class(?2),
 *          predict_default_model(), predict_model_version() ...
 *
 * and the extension's trigger checks that the row carries that model's
 * score of its observation.
 *
 * Sessions. Each worker thread has its own connection (opened on its first
 * request, with the extension's functions registered), its statements
 * prepared once. Every statement is one autocommitted statement, as with
 * PostgreSQL: a write statement begins as a write transaction (it waits for
 * the write lock through the busy handler and then reads the newest data),
 * so it never meets SQLITE_BUSY_SNAPSHOT, and an error leaves no
 * transaction open. Within the process writers take write_lock first
 * (SQLite has one writer at a time: better a mutex wait than polling), so
 * the busy handler only waits for other processes (several gateways, or a
 * sqlite3 shell, on the same file); it sleeps in short steps until the
 * request's deadline, and the progress handler interrupts a statement still
 * running at the deadline: a request never takes longer than
 * PREDICT_DB_TIMEOUT_MS and gets 503 then.
 *
 * Durability. The file is in WAL mode and every connection runs with
 * synchronous = FULL: a commit returns after the WAL is flushed to disk.
 * The row of /predict is copied when INSERT ... RETURNING hands it over
 * and reported only after the statement has finished, i.e. committed.
 *
 * Idempotent retry. The observation is stored in the extension's canonical
 * form (predict_json: no whitespace, keys sorted, the last of duplicate
 * keys kept, numbers as the client wrote them). A stored id is compared
 * with predict_json_equal, in which numbers are also normalised (22, 22.0
 * and 2.2e1 are equal), which is jsonb's equality.
 */

#define _GNU_SOURCE				/* pthread_mutex_clocklock */

#include "backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "db_sqlite.h"
#include "extension.h"
#include "registry_errors.h"

#define BACKOFF_FIRST_US 100000
#define BACKOFF_MAX_US 1000000
/* Virtual machine instructions between two deadline checks. */
#define PROGRESS_INTERVAL 1000
#define TIMESTAMP_SIZE 40

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/*
 * The row's columns and its explanation (null unless the row was
 * explained), last so that read_row finds it by count. /predict does not
 * fetch the observation back (the client just sent it), nor the
 * explanation from its INSERT (the trigger writes it after the RETURNING).
 */
#define ROW_COLUMNS \
	"id, observation_id, observation, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at, explanation"
#define PREDICT_COLUMNS \
	"id, observation_id, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at"

enum
{
	STMT_PREDICT = 0,
	STMT_EXPLANATION,
	STMT_EXISTING,
	STMT_UPDATE,
	STMT_GET,
	STMT_LIST,
	STMT_READY,
	STMT_REPORT,
	NSTATEMENTS
};

typedef struct sqlite_statement
{
	const char *name;
	const char *sql;
} sqlite_statement;

/*
 * predict: insert unless the id is there; the WHERE is evaluated before the
 * scoring functions, so a retry neither scores nor writes. No row back
 * means the id is stored: STMT_EXISTING then fetches it, and whether its
 * observation is the request's (predict_json_equal).
 */
static const sqlite_statement statements[NSTATEMENTS] = {
	[STMT_PREDICT] = {"predict",
		"INSERT INTO predictions (observation_id, observation, proba, predicted_class,"
		" model, model_version, explanation)"
		" SELECT ?1, predict_json(?2), predict_proba(?2), predict_class(?2), predict_default_model(),"
		" predict_model_version(), CASE WHEN ?3 THEN 'true' END"
		" WHERE NOT EXISTS (SELECT 1 FROM predictions WHERE observation_id = ?1)"
	" RETURNING " PREDICT_COLUMNS},
	/*
	 * The explanation of a row just inserted: the AFTER INSERT trigger
	 * writes it, so the INSERT's RETURNING has only what was inserted.
	 */
	[STMT_EXPLANATION] = {"predict_explanation",
	"SELECT explanation FROM predictions WHERE observation_id = ?1"},
	[STMT_EXISTING] = {"predict_existing",
		"SELECT " ROW_COLUMNS ", predict_json_equal(observation, ?2)"
	" FROM predictions WHERE observation_id = ?1"},
	[STMT_UPDATE] = {"update",
		"UPDATE predictions SET true_class = ?2, updated_at = " NOW
	" WHERE observation_id = ?1 RETURNING " ROW_COLUMNS},
	[STMT_GET] = {"get",
	"SELECT " ROW_COLUMNS " FROM predictions WHERE observation_id = ?1"},
	[STMT_LIST] = {"list",
	"SELECT " ROW_COLUMNS " FROM predictions WHERE id > ?1 ORDER BY id LIMIT ?2"},
	[STMT_READY] = {"ready",
	"SELECT EXISTS (SELECT 1 FROM predict_models WHERE is_default = 1)"},
	/* the monitoring report, computed by the extension (src/sqlite/report.c) */
	[STMT_REPORT] = {"report", "SELECT predict_report(NULL, ?1, ?2)"},
};

/*
 * SQLite result code -> outcome, first match wins: an extended code, or a
 * primary code (matching all its extended codes). A plain SQLITE_ERROR
 * from the /predict INSERT is handled before this table: there it is the
 * scoring core refusing the observation (see classify_scoring_error).
 */
typedef struct sqlite_rule
{
	int			code;
	bool		extended;
	db_status	status;
	db_error_kind kind;
	bool		show_message;	/* SQLite's message may reach the client */
	bool		reconnect;		/* close the connection, open a new one next time */
	const char *meaning;
} sqlite_rule;

static const sqlite_rule sqlite_rules[] = {
	{SQLITE_CONSTRAINT_UNIQUE, true, DB_CONFLICT, DBERR_DATA, false, false, "unique violation"},
	{SQLITE_CONSTRAINT_CHECK, true, DB_INVALID, DBERR_DATA, true, false, "check violation"},
	{SQLITE_CONSTRAINT_NOTNULL, true, DB_INVALID, DBERR_DATA, true, false, "not null violation"},
	{SQLITE_CONSTRAINT_DATATYPE, true, DB_INVALID, DBERR_DATA, true, false, "datatype mismatch"},
	{SQLITE_TOOBIG, false, DB_INVALID, DBERR_DATA, true, false, "too big"},
	{SQLITE_BUSY, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database busy"},
	{SQLITE_LOCKED, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database busy"},
	{SQLITE_INTERRUPT, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database timeout"},
	{SQLITE_NOMEM, false, DB_UNAVAILABLE, DBERR_OTHER, false, false, "out of memory"},
	{SQLITE_FULL, false, DB_UNAVAILABLE, DBERR_OTHER, false, false, "disk full"},
	{SQLITE_IOERR, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_CANTOPEN, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_PROTOCOL, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_READONLY, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database is read-only"},
	{SQLITE_CORRUPT, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database unavailable"},
	{SQLITE_NOTADB, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database unavailable"},
	{0, false, DB_INTERNAL, DBERR_OTHER, false, false, "internal error"},
};

struct db_session
{
	const gateway_config *cfg;
	char	   *path;
	sqlite3    *db;
	sqlite3_stmt *stmts[NSTATEMENTS];
	atomic_bool connected;		/* read by /metrics from other threads */
	int			failures;		/* consecutive failed connections */
	int64_t		retry_at;		/* no connection attempt before this */
	int64_t		deadline;		/* of the call in progress (busy, progress handlers) */
};

/* Only one writer at a time in SQLite: the process's writers queue here. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------- sessions ---------- */

/* Busy handler: sleep in short, growing steps until the deadline, then give up. */
int
sqlite_busy_wait(void *arg, int count)
{
	const int64_t *deadline = arg;
	int64_t		left = *deadline - now_us();
	int64_t		step = count < 5 ? 50 << count : 1000;
	struct timespec ts;

	if (left <= 0)
		return 0;
	if (step > left)
		step = left;
	ts.tv_sec = 0;
	ts.tv_nsec = (long) step * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

/* Progress handler: interrupt a statement still running at the deadline. */
static int
past_deadline(void *arg)
{
	const int64_t *deadline = arg;

	return now_us() > *deadline;
}

/* Close the session's connection (if any) and arm the reconnection backoff. */
static void
session_drop(db_session *s, bool backoff)
{
	int			i;

	for (i = 0; i < NSTATEMENTS; i++)
	{
		sqlite3_finalize(s->stmts[i]);
		s->stmts[i] = NULL;
	}
	if (s->db != NULL)
	{
		sqlite3_close(s->db);
		s->db = NULL;
	}
	atomic_store(&s->connected, false);
	if (backoff)
	{
		int64_t		delay = BACKOFF_FIRST_US;

		for (i = 1; i < s->failures && delay < BACKOFF_MAX_US; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_US)
			delay = BACKOFF_MAX_US;
		s->retry_at = now_us() + delay;
	}
}

/* A failed connection attempt: log it, back off, fill err. */
static bool
connect_failed(db_session *s, const char *what, db_error *err)
{
	s->failures++;
	metrics_db_error(DBERR_CONNECTION);
	log_error("cannot open the SQLite database %s: %s: %s", s->path, what,
			  s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
	session_drop(s, true);
	db_fail(err, DB_UNAVAILABLE, "database unavailable");
	return false;
}

/* Open the session's connection, register the functions, prepare the statements. */
static bool
session_connect(db_session *s, db_error *err)
{
	int			i;

	if (now_us() < s->retry_at)
	{
		db_fail(err, DB_UNAVAILABLE, "database unavailable (reconnecting)");
		return false;
	}
	/* one thread uses the connection at a time: no SQLite mutex */
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
						SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK)
		return connect_failed(s, "open", err);
	sqlite3_busy_handler(s->db, sqlite_busy_wait, &s->deadline);
	sqlite3_progress_handler(s->db, PROGRESS_INTERVAL, past_deadline, &s->deadline);
	if (predict_sqlite_register(s->db, NULL) != SQLITE_OK)
		return connect_failed(s, "registering the predict functions", err);
	/*
	 * FULL: a commit returns once the WAL is on disk. 1 MiB of page cache per
	 * connection (SQLite's default is 2): the hot pages are the tables' last
	 * leaves and the registry, and memory stays bounded with many workers.
	 */
	if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA cache_size = -1024",
					 NULL, NULL, NULL) != SQLITE_OK)
		return connect_failed(s, "PRAGMA synchronous", err);
	for (i = 0; i < NSTATEMENTS; i++)
		if (sqlite3_prepare_v3(s->db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
							   &s->stmts[i], NULL) != SQLITE_OK)
			return connect_failed(s, statements[i].name, err);
	s->failures = 0;
	atomic_store(&s->connected, true);
	return true;
}

/* Start a backend call: its deadline, and a connection. */
static bool
session_begin(db_session *s, int64_t deadline, db_error *err)
{
	s->deadline = deadline;
	if (s->db == NULL && !session_connect(s, err))
		return false;
	return true;
}

/* Take the process's write lock before the deadline. */
static bool
write_lock_take(int64_t deadline)
{
	struct timespec ts;

	ts.tv_sec = (time_t) (deadline / 1000000);
	ts.tv_nsec = (long) (deadline % 1000000) * 1000;
	return pthread_mutex_clocklock(&write_lock, CLOCK_MONOTONIC, &ts) == 0;
}

/* The rule for a result code. */
static const sqlite_rule *
rule_for_code(int code)
{
	size_t		i;

	for (i = 0; i < sizeof(sqlite_rules) / sizeof(sqlite_rules[0]); i++)
	{
		const sqlite_rule *r = &sqlite_rules[i];

		if (r->code == 0 || (r->extended ? code == r->code : (code & 0xff) == r->code))
			return r;
	}
	return &sqlite_rules[sizeof(sqlite_rules) / sizeof(sqlite_rules[0]) - 1];
}

/*
 * The primary message of an error of the SQLite extension, which writes
 * PostgreSQL's DETAIL and HINT on lines after it: what the PostgreSQL
 * backend answers (PG_DIAG_MESSAGE_PRIMARY), the same on both.
 */
static size_t
primary_length(const char *message)
{
	const char *detail = strstr(message, "\nDETAIL:  ");
	const char *hint = strstr(message, "\nHINT:  ");
	const char *end = detail != NULL && (hint == NULL || detail < hint) ? detail : hint;

	return end != NULL ? (size_t) (end - message) : strlen(message);
}

/* Turn a failed statement's result code and message into err (and log, count, reconnect). */
static db_status
statement_failed(db_session *s, int st, int code, const char *message, db_error *err)
{
	const sqlite_rule *rule = rule_for_code(code);

	metrics_db_error(rule->kind);
	if (rule->status != DB_INVALID)
		log_error("%s failed: SQLite error %d (%s): %s", statements[st].name, code,
				  sqlite3_errstr(code), message);
	if (rule->reconnect)
		session_drop(s, true);
	if (rule->show_message)
		return db_fail(err, rule->status, "%.*s", (int) primary_length(message), message);
	return db_fail(err, rule->status, "%s", rule->meaning);
}

/* ---------- rows ---------- */

/* Column i as text, never NULL. */
static const char *
column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *) t : "";
}

/*
 * A stored timestamp ("2026-11-26T11:08:01.223Z", SQLite's strftime %f has
 * milliseconds) with six fraction digits ("2026-11-26T11:08:01.223000Z"), as
 * the PostgreSQL backend shows them. Anything else is copied as it is.
 */
static const char *
iso_timestamp(const char *in, char *out, size_t size)
{
	size_t		n = strlen(in);
	size_t		fraction = 0;
	size_t		i;

	/* "YYYY-MM-DDTHH:MM:SS" then ".digits" or nothing, then "Z" */
	if (size >= 28 && n >= 20 && in[10] == 'T' && in[n - 1] == 'Z' &&
		(in[19] == 'Z' || (in[19] == '.' && n > 21)))
	{
		if (in[19] == '.')
			fraction = n - 21;
		for (i = 20; i < 20 + fraction; i++)
			if (in[i] < '0' || in[i] > '9')
				fraction = SIZE_MAX;
	}
	else
		fraction = SIZE_MAX;
	if (fraction == SIZE_MAX)
	{
		snprintf(out, size, "%s", in);
		return out;
	}
	memcpy(out, in, 19);
	out[19] = '.';
	for (i = 0; i < 6; i++)
		out[20 + i] = i < fraction ? in[20 + i] : '0';
	out[26] = 'Z';
	out[27] = '\0';
	return out;
}

/*
 * A row of st, its columns as in ROW_COLUMNS (or PREDICT_COLUMNS without the
 * observation), with the explanation when the statement has a column after
 * updated_at and the row one there.
 */
static void
read_row(sqlite3_stmt *st, bool with_observation, prediction_row *r,
		 char *created, char *updated)
{
	int			c = 0;

	r->id = sqlite3_column_int64(st, c++);
	r->observation_id = sqlite3_column_int64(st, c++);
	r->observation = NULL;
	r->observation_len = 0;
	if (with_observation)
	{
		r->observation = column_text(st, c);
		r->observation_len = (size_t) sqlite3_column_bytes(st, c);
		c++;
	}
	r->proba = sqlite3_column_double(st, c++);
	r->proba_text = NULL;		/* printed as the shortest decimal that reads back */
	r->predicted_class = sqlite3_column_int(st, c++) != 0;
	r->true_class = sqlite3_column_type(st, c) == SQLITE_NULL ? -1 : sqlite3_column_int(st, c);
	c++;
	r->model = column_text(st, c++);
	r->model_version = (int32_t) sqlite3_column_int64(st, c++);
	r->created_at = iso_timestamp(column_text(st, c++), created, TIMESTAMP_SIZE);
	r->updated_at = iso_timestamp(column_text(st, c++), updated, TIMESTAMP_SIZE);
	r->explanation = NULL;
	r->explanation_len = 0;
	if (c < sqlite3_column_count(st) && sqlite3_column_type(st, c) != SQLITE_NULL)
	{
		r->explanation = column_text(st, c);
		r->explanation_len = (size_t) sqlite3_column_bytes(st, c);
	}
}

/* A row kept past its statement (the one row of a write, reported after the commit). */
typedef struct saved_row
{
	prediction_row row;
	char		created[TIMESTAMP_SIZE];
	char		updated[TIMESTAMP_SIZE];
	char	   *strings;
} saved_row;

static bool
save_row(sqlite3_stmt *st, bool with_observation, saved_row *saved)
{
	size_t		model_len;

	read_row(st, with_observation, &saved->row, saved->created, saved->updated);
	model_len = strlen(saved->row.model);
	saved->strings = malloc(model_len + 1 + saved->row.observation_len + 1 +
							saved->row.explanation_len + 1);
	if (saved->strings == NULL)
		return false;
	memcpy(saved->strings, saved->row.model, model_len + 1);
	saved->row.model = saved->strings;
	if (with_observation)
	{
		char	   *obs = saved->strings + model_len + 1;

		memcpy(obs, saved->row.observation, saved->row.observation_len);
		obs[saved->row.observation_len] = '\0';
		saved->row.observation = obs;
	}
	if (saved->row.explanation != NULL)
	{
		char	   *x = saved->strings + model_len + 1 + saved->row.observation_len + 1;

		memcpy(x, saved->row.explanation, saved->row.explanation_len);
		x[saved->row.explanation_len] = '\0';
		saved->row.explanation = x;
	}
	return true;
}

/*
 * Run a write statement (its parameters bound) under the write lock: step
 * it, keep its one returned row, and finish it, which commits. *have_row
 * tells whether a row came back. Returns SQLITE_DONE or the error code,
 * with the message in msg.
 */
static int
run_write(db_session *s, sqlite3_stmt *st, bool with_observation, saved_row *saved,
		  bool *have_row, char *msg, size_t size)
{
	int			rc;

	*have_row = false;
	if (!write_lock_take(s->deadline))
	{
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		snprintf(msg, size, "other requests held the write lock until the deadline");
		return SQLITE_BUSY;
	}
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		if (!save_row(st, with_observation, saved))
			rc = SQLITE_NOMEM;
		else
		{
			*have_row = true;
			rc = sqlite3_step(st);
		}
	}
	if (rc != SQLITE_DONE)
		snprintf(msg, size, "%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
	/* statement-level errors roll the statement back: no half-written row */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	metrics_db_busy(-1);
	pthread_mutex_unlock(&write_lock);
	if (rc != SQLITE_DONE && *have_row)
	{
		free(saved->strings);
		*have_row = false;
	}
	return rc;
}

/*
 * Step a read statement (parameters bound), handing each row to sink; with
 * want_one, no row is DB_NOT_FOUND with not_found as the message.
 */
static db_status
run_read(db_session *s, int st, bool want_one, const char *not_found, row_sink sink,
		 void *arg, db_error *err)
{
	sqlite3_stmt *stmt = s->stmts[st];
	char		created[TIMESTAMP_SIZE];
	char		updated[TIMESTAMP_SIZE];
	char		msg[DB_ERROR_SIZE];
	int			rows = 0;
	int			rc;

	metrics_db_busy(1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
	{
		prediction_row r;

		read_row(stmt, true, &r, created, updated);
		sink(&r, arg);
		rows++;
	}
	if (rc != SQLITE_DONE)
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	metrics_db_busy(-1);
	if (rc != SQLITE_DONE)
		return statement_failed(s, st, rc, msg, err);
	if (want_one && rows == 0)
		return db_fail(err, DB_NOT_FOUND, "%s", not_found);
	return DB_OK;
}

/* Whether a default model is deployed: 1, 0, or -1 with err filled. */
static int
has_default_model(db_session *s, db_error *err)
{
	sqlite3_stmt *st = s->stmts[STMT_READY];
	int			rc;
	int			found = -1;
	char		msg[DB_ERROR_SIZE];

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = sqlite3_column_int(st, 0) != 0;
	else
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	if (found < 0)
		statement_failed(s, STMT_READY, rc, msg, err);
	return found;
}

/*
 * A plain SQLITE_ERROR from the /predict INSERT. Its statement is fixed and
 * prepared, so this comes from the predict functions: no default model
 * (503, as PostgreSQL's "55000"), or the scoring core refusing the
 * observation (422 with the core's message, as PostgreSQL's "22023").
 */
static db_status
classify_scoring_error(db_session *s, const char *message, db_error *err)
{
	int			found = has_default_model(s, err);

	if (found < 0)
		return err->status;
	if (found == 0)
	{
		metrics_db_error(DBERR_OTHER);
		return db_fail(err, DB_UNAVAILABLE, "%s", predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message);
	}
	metrics_db_error(DBERR_DATA);
	return db_fail(err, DB_INVALID, "%.*s", (int) primary_length(message), message);
}

/*
 * The stored row of an id /predict found already there: report it if its
 * observation equals the request's (predict_json_equal), else conflict.
 * DB_NOT_FOUND if the row is gone (deleted meanwhile).
 */
static db_status
predict_existing(db_session *s, int64_t observation_id, const char *observation, size_t len,
				 row_sink sink, void *arg, db_error *err)
{
	sqlite3_stmt *st = s->stmts[STMT_EXISTING];
	db_status	status;
	char		msg[DB_ERROR_SIZE];
	int			rc;

	sqlite3_bind_int64(st, 1, observation_id);
	sqlite3_bind_text(st, 2, observation, (int) len, SQLITE_STATIC);
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		prediction_row r;
		char		created[TIMESTAMP_SIZE];
		char		updated[TIMESTAMP_SIZE];

		read_row(st, true, &r, created, updated);
		if (sqlite3_column_int(st, 11) != 0)
		{
			r.observation = NULL;
			r.observation_len = 0;
			sink(&r, arg);
			status = DB_OK;
		}
		else
			status = db_fail(err, DB_CONFLICT, "Observation ID: \"%lld\" already exists",
							 (long long) observation_id);
	}
	else if (rc == SQLITE_DONE)
		status = DB_NOT_FOUND;
	else
	{
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
		status = statement_failed(s, STMT_EXISTING, rc, msg, err);
	}
	if (s->db != NULL)
	{
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	metrics_db_busy(-1);
	return status;
}

/*
 * Hand the row just inserted to sink with its explanation, which the
 * trigger wrote after the INSERT's RETURNING (when asked, or when its
 * version explains every row).
 */
static db_status
sink_with_explanation(db_session *s, int64_t observation_id, prediction_row *row,
					  row_sink sink, void *arg, db_error *err)
{
	sqlite3_stmt *st = s->stmts[STMT_EXPLANATION];
	char		msg[DB_ERROR_SIZE];
	int			rc;

	sqlite3_bind_int64(st, 1, observation_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
	{
		row->explanation = (const char *) sqlite3_column_text(st, 0);
		row->explanation_len = (size_t) sqlite3_column_bytes(st, 0);
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		sink(row, arg);
	else
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return statement_failed(s, STMT_EXPLANATION, rc, msg, err);
	return DB_OK;
}

static db_status
sqlite_predict(db_session *s, int64_t observation_id, const char *observation, size_t len,
			   bool explain, row_sink sink, void *arg, bool *created, int64_t deadline,
			   db_error *err)
{
	int			attempt;

	*created = false;
	if (!session_begin(s, deadline, err))
		return err->status;
	for (attempt = 0; attempt < 2; attempt++)
	{
		sqlite3_stmt *st = s->stmts[STMT_PREDICT];
		saved_row	saved;
		bool		have_row;
		char		msg[DB_ERROR_SIZE];
		int			rc;
		db_status	status;

		sqlite3_bind_int64(st, 1, observation_id);
		sqlite3_bind_text(st, 2, observation, (int) len, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, explain ? 1 : 0);
		rc = run_write(s, st, false, &saved, &have_row, msg, sizeof(msg));
		if (rc == SQLITE_DONE && have_row)
		{
			*created = true;
			status = sink_with_explanation(s, observation_id, &saved.row, sink, arg, err);
			free(saved.strings);
			return status;
		}
		if (rc == SQLITE_DONE || rc == SQLITE_CONSTRAINT_UNIQUE)
		{
			/* the id is stored (by another process in the second case) */
			status = predict_existing(s, observation_id, observation, len, sink, arg, err);
			if (status != DB_NOT_FOUND)
				return status;
			continue;
		}
		if (rc == SQLITE_ERROR)
			return classify_scoring_error(s, msg, err);
		return statement_failed(s, STMT_PREDICT, rc, msg, err);
	}
	log_error("predict: observation_id %lld neither inserted nor found after a retry",
			  (long long) observation_id);
	return db_fail(err, DB_UNAVAILABLE, "concurrent change, retry");
}

static db_status
sqlite_update(db_session *s, int64_t observation_id, int true_class, row_sink sink, void *arg,
			  int64_t deadline, db_error *err)
{
	sqlite3_stmt *st;
	saved_row	saved;
	bool		have_row;
	char		msg[DB_ERROR_SIZE];
	int			rc;

	if (!session_begin(s, deadline, err))
		return err->status;
	st = s->stmts[STMT_UPDATE];
	sqlite3_bind_int64(st, 1, observation_id);
	sqlite3_bind_int(st, 2, true_class ? 1 : 0);
	rc = run_write(s, st, true, &saved, &have_row, msg, sizeof(msg));
	if (rc != SQLITE_DONE)
		return statement_failed(s, STMT_UPDATE, rc, msg, err);
	if (!have_row)
		return db_fail(err, DB_NOT_FOUND, "Observation ID: \"%lld\" does not exist",
					   (long long) observation_id);
	sink(&saved.row, arg);
	free(saved.strings);
	return DB_OK;
}

static db_status
sqlite_get(db_session *s, int64_t observation_id, row_sink sink, void *arg,
		   int64_t deadline, db_error *err)
{
	char		not_found[64];

	if (!session_begin(s, deadline, err))
		return err->status;
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	sqlite3_bind_int64(s->stmts[STMT_GET], 1, observation_id);
	return run_read(s, STMT_GET, true, not_found, sink, arg, err);
}

static db_status
sqlite_list(db_session *s, int64_t after, int limit, row_sink sink, void *arg,
			int64_t deadline, db_error *err)
{
	if (!session_begin(s, deadline, err))
		return err->status;
	sqlite3_bind_int64(s->stmts[STMT_LIST], 1, after);
	sqlite3_bind_int(s->stmts[STMT_LIST], 2, limit);
	return run_read(s, STMT_LIST, false, NULL, sink, arg, err);
}

static db_status
sqlite_ready(db_session *s, int64_t deadline, db_error *err)
{
	int			found;

	if (!session_begin(s, deadline, err))
		return err->status;
	metrics_db_busy(1);
	found = has_default_model(s, err);
	metrics_db_busy(-1);
	if (found < 0)
		return err->status == DB_INTERNAL ? db_fail(err, DB_UNAVAILABLE, "database not ready")
			: err->status;
	if (found == 0)
		return db_fail(err, DB_UNAVAILABLE, "%s", predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message);
	return DB_OK;
}

static db_status
sqlite_report(db_session *s, const char *since, const char *until, text_sink sink, void *arg,
			  int64_t deadline, db_error *err)
{
	sqlite3_stmt *st;
	char		msg[DB_ERROR_SIZE] = "";
	bool		sent = false;
	int			rc;

	if (!session_begin(s, deadline, err))
		return err->status;
	st = s->stmts[STMT_REPORT];
	if (since != NULL)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
	if (until != NULL)
		sqlite3_bind_text(st, 2, until, -1, SQLITE_TRANSIENT);
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
	{
		sink((const char *) sqlite3_column_text(st, 0), (size_t) sqlite3_column_bytes(st, 0), arg);
		sent = true;
	}
	else if (rc != SQLITE_ROW)
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	metrics_db_busy(-1);
	if (sent)
		return DB_OK;
	if (rc == SQLITE_ROW)
	{
		log_error("predict_report returned no document");
		return db_fail(err, DB_INTERNAL, "internal error");
	}
	/* the report's own refusals: a window it cannot read, no default model */
	if (rc == SQLITE_ERROR && (strncmp(msg, "since", 5) == 0 || strncmp(msg, "until", 5) == 0))
		return db_fail(err, DB_INVALID, "%.*s", (int) primary_length(msg), msg);
	if (rc == SQLITE_ERROR && strncmp(msg, predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message,
									  strlen(predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message)) == 0)
		return db_fail(err, DB_UNAVAILABLE, "%s", predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message);
	return statement_failed(s, STMT_REPORT, rc, msg, err);
}

static db_session *
sqlite_session_open(const gateway_config *cfg)
{
	db_session *s = calloc(1, sizeof(*s));
	char		path[PATH_MAX];
	char		msg[256];

	if (s == NULL)
		return NULL;
	/* the URL was checked by backend_for_url */
	if (!sqlite_url_path(cfg->database_url, path, sizeof(path), msg, sizeof(msg)) ||
		(s->path = strdup(path)) == NULL)
	{
		free(s);
		return NULL;
	}
	s->cfg = cfg;
	s->deadline = INT64_MAX;
	atomic_init(&s->connected, false);
	return s;
}

static void
sqlite_session_close(db_session *s)
{
	session_drop(s, false);
	free(s->path);
	free(s);
}

static bool
sqlite_session_connected(db_session *s)
{
	return atomic_load(&s->connected);
}

/*
 * Whether every statement of the sessions compiles on db: a predictions
 * table of another application would not.
 */
bool
sqlite_statements_check(sqlite3 *db, const char *path, char *msg, size_t size)
{
	for (int i = 0; i < NSTATEMENTS; i++)
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, statements[i].sql, -1, &st, NULL) != SQLITE_OK)
		{
			snprintf(msg, size, "the SQLite database %s has tables that are not predict's "
					 "(%s): use another file in DATABASE_URL", path, sqlite3_errmsg(db));
			return false;
		}
		sqlite3_finalize(st);
	}
	return true;
}

const backend_ops sqlite_backend = {
	.name = "sqlite",
	.setup = sqlite_setup,
	.session_open = sqlite_session_open,
	.session_close = sqlite_session_close,
	.session_connected = sqlite_session_connected,
	.predict = sqlite_predict,
	.update = sqlite_update,
	.get = sqlite_get,
	.list = sqlite_list,
	.ready = sqlite_ready,
	.report = sqlite_report,
};

