/*
 * backend.h - what the HTTP layer needs from a database, and nothing more.
 *
 * The HTTP layer (http.c) validates requests and renders responses; a
 * backend stores and scores. Each backend is one file exporting one
 * `backend_ops` table: db_pg.c for PostgreSQL, db_sqlite.c for SQLite, with
 * no change to the HTTP layer. The contract each backend must
 * keep, whatever its database:
 *
 *   - predict: store (observation_id, observation) scored with the default
 *     model, atomically and durably, and report the stored row (without its
 *     observation, which the client just sent). If the id is
 *     already stored with an equal observation (JSON equality: key order,
 *     whitespace and duplicate keys do not matter), report the stored row
 *     with created = false and write nothing; with a different observation,
 *     DB_CONFLICT. The row is reported only after it is committed. With
 *     explain, the row is inserted asking for its explanation (a model the
 *     database cannot explain: DB_INVALID with its message, nothing
 *     stored); the row reported carries its explanation whenever it has one
 *     (asked, or its version explains every row). A retry reports the row as
 *     stored, explain or not: an explanation it was stored without is not
 *     added.
 *   - update: set true_class (0 or 1) on an existing row; DB_NOT_FOUND if none.
 *   - get: the row of one observation_id; DB_NOT_FOUND if none.
 *   - list: rows with id > after, ordered by id, at most limit of them.
 *   - update, get and list report rows with their observation, and with
 *     their explanation whenever they have one (none on a log without the
 *     explanation column).
 *   - ready: DB_OK when the database is reachable and a default model is
 *     deployed, else DB_UNAVAILABLE with a message saying which.
 *   - report: the monitoring report of the default model over the
 *     predictions created in [since, until) (NULL: no bound; timestamps as
 *     text the database reads), as the JSON document of predict_report()
 *     (docs/monitoring.md); DB_INVALID with the database's message for a
 *     bound it cannot read or since after until, DB_UNAVAILABLE when no
 *     default model is deployed.
 *
 * Threads: the HTTP layer calls from several worker threads. A session is
 * used by one thread only (backend.c keeps one per thread); a backend opens
 * its database connections lazily (SQLite one per session, PostgreSQL a pool
 * the sessions share), reconnects by itself, and never takes longer than the
 * deadline it is given (a monotonic time in microseconds, see now_us()).
 *
 * Errors: every call returns a db_status and, when it is not DB_OK, fills a
 * db_error whose message goes to the client for every status but
 * DB_INTERNAL (for which the HTTP layer sends a generic message). So a
 * backend puts there only what a client may read: for DB_INVALID the message
 * naming the field or column, for DB_UNAVAILABLE a short reason, never SQL
 * text or server internals; it logs the details on stderr itself.
 */
#ifndef GATEWAY_BACKEND_H
#define GATEWAY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gateway_config;

/* Outcomes, each mapped to one HTTP status by http.c (status_for_db). */
typedef enum db_status
{
	DB_OK = 0,
	DB_NOT_FOUND,				/* 404: no such row */
	DB_CONFLICT,				/* 409: the id exists with another observation */
	DB_INVALID,					/* 422: the data was refused; message says why */
	DB_UNAVAILABLE,				/* 503 + Retry-After: try again shortly */
	DB_READ_ONLY,				/* 503 without Retry-After: a standby, for good */
	DB_INTERNAL					/* 500: a bug or a broken schema; details logged */
} db_status;

#define DB_ERROR_SIZE 512

typedef struct db_error
{
	db_status	status;
	char		message[DB_ERROR_SIZE];
} db_error;

/*
 * One row of the predictions table. Strings and the observation (JSON text)
 * point into backend memory valid only during the row_sink call.
 */
typedef struct prediction_row
{
	int64_t		id;
	int64_t		observation_id;
	const char *observation;	/* JSON object text; NULL when not fetched (predict) */
	size_t		observation_len;
	double		proba;
	const char *proba_text;		/* the database's exact decimal text, or NULL */
	bool		predicted_class;
	int			true_class;		/* 0, 1, or -1 for null */
	const char *model;
	int32_t		model_version;
	const char *created_at;		/* ISO 8601, UTC */
	const char *updated_at;
	const char *explanation;	/* JSON object text; NULL when none (or not fetched) */
	size_t		explanation_len;
} prediction_row;

/* Receives each row of a result, in order. */
typedef void (*row_sink) (const prediction_row *row, void *arg);

/* Receives a text result (valid only during the call). */
typedef void (*text_sink) (const char *text, size_t len, void *arg);

typedef struct db_session db_session;

/* A /predict call under way (predict_begin to predict_end). */
typedef struct db_predict_call db_predict_call;

/* Called once, from another thread, when a queued predict call has its answer. */
typedef void (*predict_ready) (void *cls);

typedef struct backend_ops
{
	const char *name;			/* "postgresql", "sqlite" */

	/*
	 * Start-up, once, before serving: check the database is reachable, create
	 * the schema if missing, deploy cfg->model_path if there is no default
	 * model. Safe when several gateways start at once. On failure returns
	 * false with one line saying what to do in msg.
	 */
	bool		(*setup) (const struct gateway_config *cfg, char *msg, size_t size);

	/* A session for the calling thread; connects lazily. NULL if out of memory. */
	db_session *(*session_open) (const struct gateway_config *cfg);
	void		(*session_close) (db_session *session);
	/* Whether the session holds an open database connection now. */
	bool		(*session_connected) (db_session *session);

	/* Open database connections, when the backend pools them (else NULL). */
	int			(*connections) (void);

	db_status	(*predict) (db_session *session, int64_t observation_id,
							const char *observation, size_t len, bool explain,
							row_sink sink, void *arg, bool *created,
							int64_t deadline, db_error *err);

	/*
	 * /predict without holding the caller's thread while others' requests
	 * run, for a backend that batches them (NULL otherwise: the HTTP layer
	 * calls predict). predict_begin returns NULL when out of memory; else
	 * the call, with *answered true when it ran at once, in this thread
	 * (only when may_block: the caller serves nobody else meanwhile).
	 * When not, the caller hands it to predict_queue, which returns at once;
	 * ready(cls) follows, from another thread, once the answer is in. Either
	 * way predict_end then gives the answer as predict would (it may run a
	 * statement of its own: a retry, or a batch that failed) and frees the
	 * call, also when the client is gone (its row is stored and logged as
	 * any other). The observation must stay valid until predict_end.
	 */
	db_predict_call *(*predict_begin) (db_session *session, int64_t observation_id,
									   const char *observation, size_t len,
									   bool explain, int64_t deadline, bool may_block,
									   bool *answered);
	void		(*predict_queue) (db_predict_call *call, predict_ready ready, void *cls);
	db_status	(*predict_end) (db_predict_call *call, row_sink sink, void *arg,
								bool *created, db_error *err);
	/*
	 * Shutdown: wait until every queued call has its answer; calls queued
	 * from then on run in the caller's thread (NULL: nothing is queued).
	 */
	void		(*predict_stop) (void);

	db_status	(*update) (db_session *session, int64_t observation_id,
						   int true_class, row_sink sink, void *arg,
						   int64_t deadline, db_error *err);
	db_status	(*get) (db_session *session, int64_t observation_id,
						row_sink sink, void *arg, int64_t deadline, db_error *err);
	db_status	(*list) (db_session *session, int64_t after, int limit,
						 row_sink sink, void *arg, int64_t deadline, db_error *err);
	db_status	(*ready) (db_session *session, int64_t deadline, db_error *err);
	db_status	(*report) (db_session *session, const char *since, const char *until,
						   text_sink sink, void *arg, int64_t deadline, db_error *err);
} backend_ops;

extern const backend_ops pg_backend;
extern const backend_ops sqlite_backend;

/*
 * The file a sqlite: DATABASE_URL names (sqlite_url.c): sqlite:///rel.db or
 * sqlite:////abs.db, as peewee reads them. False with one line in msg.
 */
bool		sqlite_url_path(const char *url, char *path, size_t size, char *msg,
							size_t msgsize);

/*
 * `predict-gateway deploy|activate|set-default` against a SQLite database:
 * verb, the model name (deploy: NULL for the document's), deploy's
 * --explain, then the model
 * file (deploy) or the name and version (activate) or the name
 * (set-default). Returns the process exit status.
 */
int			sqlite_command(const char *url, const char *verb, const char *name, bool explain,
						   const char *arg1, const char *arg2);

/* The backend a DATABASE_URL names, or NULL (msg says why). */
const backend_ops *backend_for_url(const char *url, char *msg, size_t size);

/*
 * The calling thread's session of the running backend, opened on first use
 * and closed by backend_close_all. NULL if out of memory.
 */
db_session *backend_thread_session(void);

/* Select the backend and config used by backend_thread_session. */
void		backend_init(const backend_ops *ops, const struct gateway_config *cfg);

/* Close every session (after the HTTP daemon has stopped). */
void		backend_close_all(void);

/* Sessions open, and those with a database connection (for /metrics). */
void		backend_count_sessions(int *sessions, int *connected);

/* Fill err (printf-style) and return its status. */
db_status	db_fail(db_error *err, db_status status, const char *format,...)
			__attribute__((format(printf, 3, 4)));

/* Monotonic time in microseconds. */
int64_t		now_us(void);

/*
 * A whole file (a model document) in a NUL-terminated buffer of *len bytes,
 * at most max; NULL with errno set on failure (EFBIG past max).
 */
char	   *read_whole_file(const char *path, size_t max, size_t *len);

#endif							/* GATEWAY_BACKEND_H */
