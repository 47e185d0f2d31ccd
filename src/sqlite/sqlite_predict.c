/*
 * sqlite_predict.c - the scoring core as a SQLite loadable extension.
 *
 *   .load ./predict_sqlite          (or SELECT load_extension('./predict_sqlite'))
 *
 * SQL functions:
 *   predict_deploy(name, model_json) -> integer
 *       Validate a predict-model/1 document, store it as the next version
 *       of name in predict_model_versions, make it active, and make name
 *       the default model if there is none. Creates the registry tables on
 *       first use. Direct use only (not from triggers or views).
 *   predict_activate(name, version)   roll back or forward to a stored version
 *   predict_set_default(name)         make name the default model
 *   predict_proba(obs_json [, name]) -> real
 *       The probability of the positive class for one observation (a JSON
 *       object), with the default model or the named one. NULL in, NULL out.
 *   predict_class(obs_json [, name]) -> integer 0 or 1   (proba >= threshold)
 *   predict_model_version([name]) -> integer   the active version (NULL if none)
 *   predict_default_model() -> text            the default model's name (or NULL)
 *   predict_report([model [, since [, until]]]) -> text
 *       The monitoring report of a model (the default one for NULL) over
 *       the predictions table, as JSON: the document PostgreSQL's
 *       predict_report() returns (docs/monitoring.md), computed in C.
 *
 * Errors carry the core's messages (docs/model-format.md), the same text as
 * the PostgreSQL extension and predict-score.
 *
 * Caching: a connection parses a model version once. Which version is
 * active is looked up again only when the database may have changed (see
 * refresh_if_changed): in a statement that reads a table, such as
 * SELECT predict_proba(obs) FROM t, at most once per statement and model,
 * with one registry query. A version that is no longer active is freed
 * when the change is seen. A version parsed inside an explicit transaction
 * is parsed again after it (the transaction may have rolled back a deploy,
 * and the next deploy reuse its number for another document).
 *
 * Two builds of this one file. As the loadable extension predict_sqlite.so
 * (mk/sqlite.mk defines PREDICT_SQLITE_LOADABLE), every sqlite3_* call goes
 * through the API table SQLite hands to the entry point, as SQLite's
 * loadable extensions do. Linked into a program together with SQLite (the
 * gateway, whose SQLite connections are the embedded default), it is
 * compiled with SQLITE_CORE: the calls are plain calls, there is no API
 * table, and the program registers the functions on each connection it
 * opens with sqlite3_predict_init(db, NULL, NULL).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#ifndef PREDICT_SQLITE_LOADABLE
#define SQLITE_CORE 1
#endif
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "predict.h"

#define REGISTRY_SQL \
	"CREATE TABLE IF NOT EXISTS predict_model_versions (" \
	" name TEXT NOT NULL," \
	" version INTEGER NOT NULL CHECK (version > 0)," \
	" model TEXT NOT NULL," \
	" created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))," \
	" deployed_by TEXT," \
	" PRIMARY KEY (name, version));" \
	"CREATE TABLE IF NOT EXISTS predict_models (" \
	" name TEXT PRIMARY KEY," \
	" active_version INTEGER NOT NULL," \
	" is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))," \
	" updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))," \
	" FOREIGN KEY (name, active_version) REFERENCES predict_model_versions (name, version));" \
	"CREATE UNIQUE INDEX IF NOT EXISTS predict_models_one_default" \
	" ON predict_models (is_default) WHERE is_default = 1;"

/* One model name's active version, parsed. */
typedef struct cached_model
{
	struct cached_model *next;
	char	   *name;
	sqlite3_int64 version;
	int			tentative;		/* parsed inside an explicit transaction */
	predict_model *model;
	predict_value *values;		/* scratch for predict_score_json */
	unsigned long verified;		/* the epoch in which it was last found active */
} cached_model;

/*
 * Per-connection state, shared by every function of the extension.
 * Resolutions (which version is active, which model is the default) hold
 * for one epoch; a new epoch starts whenever the database may have changed.
 */
typedef struct connection_state
{
	sqlite3    *db;
	cached_model *models;
	unsigned long epoch;
	/* what the current epoch was started against */
	unsigned int data_version;
	sqlite3_int64 total_changes;
	int			snapshot_valid; /* the two fields above are meaningful */
	int			snapshot_in_autocommit; /* taken outside an explicit transaction */
	char	   *default_name;	/* name of the default model, or NULL */
	unsigned long default_verified; /* the epoch default_name was read in */
} connection_state;

static void
free_cached(cached_model *c)
{
	predict_model_free(c->model);
	sqlite3_free(c->values);
	sqlite3_free(c->name);
	sqlite3_free(c);
}

static void
connection_state_free(void *p)
{
	connection_state *state = p;

	while (state->models != NULL)
	{
		cached_model *next = state->models->next;

		free_cached(state->models);
		state->models = next;
	}
	sqlite3_free(state->default_name);
	sqlite3_free(state);
}

/* predict_model memory comes from SQLite's allocator, like everything else here. */
static void *
model_alloc(size_t size, void *context)
{
	(void) context;
	return sqlite3_malloc64(size);
}

static void
model_release(void *pointer, void *context)
{
	(void) context;
	sqlite3_free(pointer);
}

static const predict_allocator sqlite_allocator = {model_alloc, model_release, NULL};

/* Report a core error with SQLite's matching error code. */
static void
result_core_error(sqlite3_context *ctx, const predict_error *err)
{
	if (err->status == PREDICT_NO_MEMORY)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_error(ctx, err->message, -1);
	if (err->status == PREDICT_TOO_LARGE)
		sqlite3_result_error_code(ctx, SQLITE_TOOBIG);
}

/*
 * Start a new epoch (every cached resolution is to be checked again) if the
 * database may have changed since the current one started. Parsed models
 * stay; their versions are checked in active_model.
 */
static void
refresh_if_changed(connection_state *state)
{
	unsigned int data_version = 0;
	sqlite3_int64 changes = sqlite3_total_changes64(state->db);

	int			autocommit = sqlite3_get_autocommit(state->db);

	int			txn = sqlite3_txn_state(state->db, "main");

	/*
	 * Outside explicit transactions the file's data version and the
	 * connection's change count see every commit, but the data version is
	 * only brought up to date when a read transaction starts: with none open
	 * (a statement that reads no table) look again. Inside an explicit
	 * transaction, or after one (it may have rolled back), look again too.
	 */
	sqlite3_file_control(state->db, "main", SQLITE_FCNTL_DATA_VERSION, &data_version);
	if (state->snapshot_valid && autocommit && state->snapshot_in_autocommit &&
		txn != SQLITE_TXN_NONE &&
		data_version == state->data_version && changes == state->total_changes)
		return;
	state->epoch++;
	state->snapshot_valid = 1;
	state->snapshot_in_autocommit = autocommit;
	state->data_version = data_version;
	state->total_changes = changes;
}

/* Does the registry exist in this database? */
static int
registry_exists(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int			exists = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'predict_models'",
						   -1, &stmt, NULL) != SQLITE_OK)
		return 0;
	exists = (sqlite3_step(stmt) == SQLITE_ROW);
	sqlite3_finalize(stmt);
	return exists;
}

/* One text or integer value from a one-row query with an optional text parameter. */
static int
query_one(sqlite3 *db, const char *sql, const char *param, sqlite3_int64 *number, char **text)
{
	sqlite3_stmt *stmt;
	int			rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)) != SQLITE_OK)
		return rc;
	if (param != NULL)
		sqlite3_bind_text(stmt, 1, param, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
	{
		if (number != NULL)
			*number = sqlite3_column_int64(stmt, 0);
		if (text != NULL)
		{
			const char *t = (const char *) sqlite3_column_text(stmt, 0);

			*text = t ? sqlite3_mprintf("%s", t) : NULL;
			if (t != NULL && *text == NULL)
				rc = SQLITE_NOMEM;
		}
	}
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Report a registry lookup that found nothing (rc SQLITE_DONE: a plain
 * SQLITE_ERROR) or failed (the lookup's own code, e.g. SQLITE_BUSY or
 * SQLITE_IOERR, so that a caller can tell a missing model from a database
 * that could not be read).
 */
static void
result_registry_error(sqlite3_context *ctx, const char *msg, int rc)
{
	if (msg == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_error(ctx, msg, -1);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW && rc != SQLITE_OK && rc != SQLITE_ERROR)
		sqlite3_result_error_code(ctx, rc);
}

static const char no_model_hint[] =
	"deploy one with: SELECT predict_deploy('titanic', readfile('models/titanic.json'))";

/*
 * One registry lookup: the default model's name (name NULL) or the named
 * model, and its active version. Returns SQLITE_ROW, SQLITE_DONE when there
 * is none (or no registry yet), or an error code (message in db).
 */
static int
lookup_active(sqlite3 *db, const char *name, char **found, sqlite3_int64 *version)
{
	sqlite3_stmt *stmt;
	int			rc;

	*found = NULL;
	rc = sqlite3_prepare_v2(db, name == NULL ?
							"SELECT name, active_version FROM predict_models WHERE is_default = 1" :
							"SELECT name, active_version FROM predict_models WHERE name = ?1",
							-1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return rc == SQLITE_ERROR && !registry_exists(db) ? SQLITE_DONE : rc;
	if (name != NULL)
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
	{
		const char *n = (const char *) sqlite3_column_text(stmt, 0);

		*version = sqlite3_column_int64(stmt, 1);
		if ((*found = sqlite3_mprintf("%s", n != NULL ? n : "")) == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Version `version` of name, parsed: from the cache, or parsed now
 * (replacing an older version of name), and marked as verified in this
 * epoch; NULL after setting an error on ctx.
 */
static cached_model *
load_version(sqlite3_context *ctx, connection_state *state, const char *name,
			 sqlite3_int64 version)
{
	sqlite3    *db = state->db;
	cached_model **link;
	cached_model *c;
	char	   *text = NULL;
	predict_error err;
	int			in_transaction = !sqlite3_get_autocommit(db);

	for (link = &state->models; (c = *link) != NULL; link = &c->next)
		if (strcmp(c->name, name) == 0)
			break;
	if (c != NULL && c->version == version && (!c->tentative || in_transaction))
	{
		c->verified = state->epoch;
		return c;
	}
	/* a new active version: free the old one, parse the new one */
	if (c != NULL)
	{
		*link = c->next;
		free_cached(c);
	}
	{
		sqlite3_stmt *stmt;

		if (sqlite3_prepare_v2(db, "SELECT model FROM predict_model_versions WHERE name = ?1 AND version = ?2",
							   -1, &stmt, NULL) != SQLITE_OK)
		{
			sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
			return NULL;
		}
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, version);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			text = sqlite3_mprintf("%s", (const char *) sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
	}
	if (text == NULL)
	{
		sqlite3_result_error(ctx, "the active model version is missing from predict_model_versions", -1);
		return NULL;
	}
	c = sqlite3_malloc64(sizeof(cached_model));
	if (c == NULL)
	{
		sqlite3_free(text);
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->version = version;
	c->tentative = in_transaction;
	c->name = sqlite3_mprintf("%s", name);
	c->model = predict_model_load(text, strlen(text), NULL, &sqlite_allocator, &err);
	sqlite3_free(text);
	if (c->model == NULL || c->name == NULL)
	{
		if (c->model == NULL)
			result_core_error(ctx, &err);
		else
			sqlite3_result_error_nomem(ctx);
		free_cached(c);
		return NULL;
	}
	c->values = sqlite3_malloc64(predict_model_ncolumns(c->model) * sizeof(predict_value));
	if (c->values == NULL)
	{
		free_cached(c);
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	c->verified = state->epoch;
	c->next = state->models;
	state->models = c;
	return c;
}

/*
 * The parsed active version of name (the default model when name is NULL),
 * or NULL after setting an error on ctx. Within an epoch each model is
 * looked up in the registry once, and the default model's name once.
 */
static cached_model *
active_model(sqlite3_context *ctx, connection_state *state, const char *name)
{
	sqlite3    *db = state->db;
	cached_model *c;
	sqlite3_int64 version = 0;
	char	   *found;
	int			rc;

	refresh_if_changed(state);
	if (name == NULL && state->default_name != NULL && state->default_verified == state->epoch)
		name = state->default_name;
	if (name != NULL)
	{
		for (c = state->models; c != NULL; c = c->next)
			if (strcmp(c->name, name) == 0)
				break;
		if (c != NULL && c->verified == state->epoch)
			return c;
	}
	rc = lookup_active(db, name, &found, &version);
	if (rc != SQLITE_ROW)
	{
		char	   *msg = rc != SQLITE_DONE ?
			sqlite3_mprintf("could not read the model registry: %s", sqlite3_errmsg(db)) :
			name == NULL ? sqlite3_mprintf("no default model is deployed; %s", no_model_hint) :
			sqlite3_mprintf("model \"%s\" is not deployed; %s", name, no_model_hint);

		result_registry_error(ctx, msg, rc);
		sqlite3_free(msg);
		return NULL;
	}
	if (name == NULL)
	{
		sqlite3_free(state->default_name);
		state->default_name = found;
		state->default_verified = state->epoch;
		found = NULL;
	}
	c = load_version(ctx, state, name != NULL ? name : state->default_name, version);
	sqlite3_free(found);
	return c;
}

/* Score argv[0] with the default model or the one named by argv[1]. */
static int
score_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, double *proba, cached_model **out)
{
	connection_state *state = sqlite3_user_data(ctx);
	const char *name = NULL;
	const char *obs;
	cached_model *c;
	predict_error err;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
		(argc > 1 && sqlite3_value_type(argv[1]) == SQLITE_NULL))
	{
		sqlite3_result_null(ctx);
		return 0;
	}
	if (argc > 1)
		name = (const char *) sqlite3_value_text(argv[1]);
	if ((c = active_model(ctx, state, name)) == NULL)
		return 0;
	obs = (const char *) sqlite3_value_text(argv[0]);
	if (obs == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return 0;
	}
	if (predict_score_json(c->model, obs, (size_t) sqlite3_value_bytes(argv[0]), c->values,
						   proba, &err) != PREDICT_OK)
	{
		result_core_error(ctx, &err);
		return 0;
	}
	*out = c;
	return 1;
}

static void
predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &c))
		sqlite3_result_double(ctx, proba);
}

static void
predict_class_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &c))
		sqlite3_result_int(ctx, predict_model_classify(c->model, proba) ? 1 : 0);
}

static void
predict_model_version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	if (argc > 0 && sqlite3_value_type(argv[0]) == SQLITE_NULL)
	{
		sqlite3_result_null(ctx);
		return;
	}
	if ((c = active_model(ctx, state, argc > 0 ? (const char *) sqlite3_value_text(argv[0]) : NULL)) != NULL)
		sqlite3_result_int64(ctx, c->version);
}

static void
predict_default_model_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	(void) argc;
	(void) argv;
	if ((c = active_model(ctx, state, NULL)) != NULL)
		sqlite3_result_text(ctx, c->name, -1, SQLITE_TRANSIENT);
}

/* Run sql with up to two bound parameters (text name, integer); SQLITE_DONE on success. */
static int
exec_bound(sqlite3 *db, const char *sql, const char *name, sqlite3_int64 number)
{
	sqlite3_stmt *stmt;
	int			rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL)) != SQLITE_OK)
		return rc;
	if (sqlite3_bind_parameter_count(stmt) >= 1)
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int64(stmt, 2, number);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Run a registry change inside a savepoint, so that it is all or nothing.
 * change returns SQLITE_DONE on success or sets an error on ctx.
 */
typedef int (*registry_change) (sqlite3_context *ctx, sqlite3 *db, const char *name,
								sqlite3_int64 number, const char *text, sqlite3_int64 *result);

static void
run_registry_change(sqlite3_context *ctx, registry_change change, const char *name,
					sqlite3_int64 number, const char *text)
{
	connection_state *state = sqlite3_user_data(ctx);
	sqlite3    *db = state->db;
	sqlite3_int64 result = 0;
	int			rc;

	if ((rc = sqlite3_exec(db, "SAVEPOINT predict_registry", NULL, NULL, NULL)) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	if (sqlite3_exec(db, REGISTRY_SQL, NULL, NULL, NULL) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		rc = SQLITE_ERROR;
	}
	else
		rc = change(ctx, db, name, number, text, &result);
	if (rc == SQLITE_DONE)
	{
		if ((rc = sqlite3_exec(db, "RELEASE predict_registry", NULL, NULL, NULL)) == SQLITE_OK)
		{
			state->snapshot_valid = 0;
			sqlite3_result_int64(ctx, result);
			return;
		}
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	}
	sqlite3_exec(db, "ROLLBACK TO predict_registry; RELEASE predict_registry", NULL, NULL, NULL);
	state->snapshot_valid = 0;
}

static int
deploy_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 unused,
			  const char *text, sqlite3_int64 *version)
{
	int			rc;

	(void) unused;
	rc = query_one(db, "SELECT coalesce(max(version), 0) + 1 FROM predict_model_versions WHERE name = ?1",
				   name, version, NULL);
	if (rc == SQLITE_ROW)
	{
		sqlite3_stmt *stmt;

		rc = sqlite3_prepare_v2(db, "INSERT INTO predict_model_versions (name, version, model) VALUES (?1, ?2, ?3)",
								-1, &stmt, NULL);
		if (rc == SQLITE_OK)
		{
			sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(stmt, 2, *version);
			sqlite3_bind_text(stmt, 3, text, -1, SQLITE_TRANSIENT);
			rc = sqlite3_step(stmt);
			sqlite3_finalize(stmt);
		}
	}
	if (rc == SQLITE_DONE)
		rc = exec_bound(db, "INSERT INTO predict_models (name, active_version) VALUES (?1, ?2)"
						" ON CONFLICT (name) DO UPDATE SET active_version = excluded.active_version,"
						" updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", name, *version);
	if (rc == SQLITE_DONE)
		rc = exec_bound(db, "UPDATE predict_models SET is_default = 1 WHERE name = ?1"
						" AND NOT EXISTS (SELECT 1 FROM predict_models WHERE is_default = 1)", name, 0);
	if (rc != SQLITE_DONE)
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	return rc;
}

static void
predict_deploy_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name;
	const char *text;
	predict_model *model;
	predict_error err;

	(void) argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || sqlite3_value_type(argv[1]) == SQLITE_NULL)
	{
		sqlite3_result_error(ctx, "predict_deploy(name, model_json): name must be text and model_json not null", -1);
		return;
	}
	name = (const char *) sqlite3_value_text(argv[0]);
	text = (const char *) sqlite3_value_text(argv[1]);
	if (name == NULL || text == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (name[0] == '\0')
	{
		sqlite3_result_error(ctx, "predict_deploy: the model name must not be empty", -1);
		return;
	}
	/* validate with the same loader that will score with it */
	model = predict_model_load(text, (size_t) sqlite3_value_bytes(argv[1]), NULL, &sqlite_allocator, &err);
	if (model == NULL)
	{
		result_core_error(ctx, &err);
		return;
	}
	predict_model_free(model);
	run_registry_change(ctx, deploy_change, name, 0, text);
}

static int
activate_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 version,
				const char *unused, sqlite3_int64 *result)
{
	sqlite3_int64 found = 0;
	int			rc;

	(void) unused;
	{
		sqlite3_stmt *stmt;

		rc = sqlite3_prepare_v2(db, "SELECT 1 FROM predict_model_versions WHERE name = ?1 AND version = ?2",
								-1, &stmt, NULL);
		if (rc == SQLITE_OK)
		{
			sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(stmt, 2, version);
			found = (sqlite3_step(stmt) == SQLITE_ROW);
			sqlite3_finalize(stmt);
		}
	}
	if (!found)
	{
		char	   *msg = sqlite3_mprintf("model \"%s\" has no version %lld", name, (long long) version);

		sqlite3_result_error(ctx, msg ? msg : "out of memory", -1);
		sqlite3_free(msg);
		return SQLITE_ERROR;
	}
	rc = exec_bound(db, "UPDATE predict_models SET active_version = ?2,"
					" updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = ?1", name, version);
	if (rc != SQLITE_DONE)
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	*result = version;
	return rc;
}

static void
predict_activate_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void) argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || sqlite3_value_type(argv[1]) != SQLITE_INTEGER)
	{
		sqlite3_result_error(ctx, "predict_activate(name, version): expected a text name and an integer version", -1);
		return;
	}
	if (!registry_exists(((connection_state *) sqlite3_user_data(ctx))->db))
	{
		sqlite3_result_error(ctx, "no model is deployed in this database", -1);
		return;
	}
	run_registry_change(ctx, activate_change, (const char *) sqlite3_value_text(argv[0]),
						sqlite3_value_int64(argv[1]), NULL);
}

static int
set_default_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 unused,
				   const char *unused_text, sqlite3_int64 *result)
{
	int			rc;

	(void) unused;
	(void) unused_text;
	if ((rc = exec_bound(db, "UPDATE predict_models SET is_default = 0 WHERE is_default = 1 AND name <> ?1",
						 name, 0)) != SQLITE_DONE ||
		(rc = exec_bound(db, "UPDATE predict_models SET is_default = 1 WHERE name = ?1", name, 0)) != SQLITE_DONE)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return rc;
	}
	if (sqlite3_changes(db) == 0)
	{
		char	   *msg = sqlite3_mprintf("model \"%s\" is not deployed", name);

		sqlite3_result_error(ctx, msg ? msg : "out of memory", -1);
		sqlite3_free(msg);
		return SQLITE_ERROR;
	}
	*result = 1;
	return SQLITE_DONE;
}

static void
predict_set_default_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void) argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_TEXT)
	{
		sqlite3_result_error(ctx, "predict_set_default(name): expected a text name", -1);
		return;
	}
	if (!registry_exists(((connection_state *) sqlite3_user_data(ctx))->db))
	{
		sqlite3_result_error(ctx, "no model is deployed in this database", -1);
		return;
	}
	run_registry_change(ctx, set_default_change, (const char *) sqlite3_value_text(argv[0]), 0, NULL);
}

/* ---------- predict_report: monitoring (docs/monitoring.md) ---------- */

/*
 * predict_report([model [, since [, until]]]) -> text
 *
 * The document PostgreSQL's predict_report() returns, computed here in C over
 * the predictions table the gateway creates (docs/monitoring.md): per model
 * version with predictions in the window [since, until) (and the active
 * version), the volume, the metrics of the labelled rows, the calibration
 * table in 10 bins, the PSI of the probability and of each input column
 * against the version's reference, missing rates, unseen categories and the
 * predictions per day (UTC). model NULL means the default model; since and
 * until are anything strftime reads ('2026-11-01', '2026-11-01T12:00:00Z',
 * '2026-11-01 12:00+02:00') or NULL. Same numbers as PostgreSQL's within
 * 1e-9 (test/report checks it); the one difference is the text of a JSON
 * number held by a string column, which PostgreSQL writes as written
 * ("3.0") and this as the double's shortest form ("3").
 */

#define REPORT_BINS 10			/* calibration bins of predict_report() */
#define REPORT_EPS 2.220446049250313e-16	/* log_loss's clipping (float64 eps) */
#define REPORT_PSI_FLOOR 1e-4
#define REPORT_PSI_CATEGORIES 20	/* string categories with a PSI bin of their own */
#define REPORT_UNSEEN_SHOWN 10
#define REPORT_NO_LABELS "no labelled predictions (true_class is null in every row)"
#define REPORT_NO_REFERENCE "the model version has no reference (export it with --reference)"

/* A growable array of doubles. */
typedef struct report_doubles
{
	double	   *v;
	size_t		n;
	size_t		cap;
} report_doubles;

static bool
doubles_push(report_doubles *a, double x)
{
	if (a->n == a->cap)
	{
		size_t		cap = a->cap ? a->cap * 2 : 1024;
		double	   *v = sqlite3_realloc64(a->v, cap * sizeof(double));

		if (v == NULL)
			return false;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return true;
}

/* A string -> count table (open addressing; keys owned). */
typedef struct report_counts
{
	char	  **keys;
	int64_t    *counts;
	size_t		mask;			/* slots - 1 */
	size_t		used;
} report_counts;

static uint64_t
report_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static void
counts_free(report_counts *t)
{
	for (size_t i = 0; t->keys != NULL && i <= t->mask; i++)
		sqlite3_free(t->keys[i]);
	sqlite3_free(t->keys);
	sqlite3_free(t->counts);
	memset(t, 0, sizeof(*t));
}

/* The slot of key (found, or where it would go). */
static size_t
counts_slot(const report_counts *t, const char *key)
{
	size_t		i = report_hash(key) & t->mask;

	while (t->keys[i] != NULL && strcmp(t->keys[i], key) != 0)
		i = (i + 1) & t->mask;
	return i;
}

/* Add n to key's count (inserting it); false when out of memory. */
static bool
counts_add(report_counts *t, const char *key, int64_t n)
{
	size_t		i;

	if (t->keys == NULL || 2 * (t->used + 1) > t->mask + 1)
	{
		report_counts bigger = {0};
		size_t		slots = t->keys == NULL ? 16 : 2 * (t->mask + 1);

		bigger.keys = sqlite3_malloc64(slots * sizeof(char *));
		bigger.counts = sqlite3_malloc64(slots * sizeof(int64_t));
		if (bigger.keys == NULL || bigger.counts == NULL)
		{
			sqlite3_free(bigger.keys);
			sqlite3_free(bigger.counts);
			return false;
		}
		memset(bigger.keys, 0, slots * sizeof(char *));
		bigger.mask = slots - 1;
		for (size_t j = 0; t->keys != NULL && j <= t->mask; j++)
			if (t->keys[j] != NULL)
			{
				size_t		k = counts_slot(&bigger, t->keys[j]);

				bigger.keys[k] = t->keys[j];
				bigger.counts[k] = t->counts[j];
				bigger.used++;
			}
		sqlite3_free(t->keys);
		sqlite3_free(t->counts);
		*t = bigger;
	}
	i = counts_slot(t, key);
	if (t->keys[i] == NULL)
	{
		if ((t->keys[i] = sqlite3_mprintf("%s", key)) == NULL)
			return false;
		t->counts[i] = 0;
		t->used++;
	}
	t->counts[i] += n;
	return true;
}

/* key's count, or -1 when absent. */
static int64_t
counts_get(const report_counts *t, const char *key)
{
	size_t		i;

	if (t->keys == NULL)
		return -1;
	i = counts_slot(t, key);
	return t->keys[i] == NULL ? -1 : t->counts[i];
}

/* The number of values <= x in sorted a[n] (width_bucket); NaN counts as above all. */
static size_t
count_at_most(const double *a, size_t n, double x)
{
	size_t		lo = 0;
	size_t		hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (a[mid] <= x || isnan(x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The number of values < x in sorted a[n]. */
static size_t
count_below(const double *a, size_t n, double x)
{
	size_t		lo = 0;
	size_t		hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * A string of a number column read as Python's float() reads it (ASCII
 * whitespace around, a sign, digits with single underscores between them,
 * inf/infinity/nan in any case); false for anything else.
 */
static bool
report_parse_number(const char *s, double *out)
{
	char		buf[512];
	size_t		len = strlen(s);
	size_t		n = 0;
	const char *p;
	const char *end;
	bool		digits = false;
	bool		mantissa = false;

	while (len > 0 && strchr(" \t\n\r\f\v", s[len - 1]) != NULL)
		len--;
	while (len > 0 && strchr(" \t\n\r\f\v", *s) != NULL)
		s++, len--;
	end = s + len;
	p = s;
	if (p < end && (*p == '+' || *p == '-'))
		buf[n++] = *p++;
	if ((size_t) (end - p) == 3 || (size_t) (end - p) == 8)
	{
		if (strncasecmp(p, "inf", 3) == 0 && (end - p == 3 || strncasecmp(p, "infinity", 8) == 0))
		{
			*out = (s[0] == '-') ? -INFINITY : INFINITY;
			return true;
		}
		if (end - p == 3 && strncasecmp(p, "nan", 3) == 0)
		{
			*out = NAN;
			return true;
		}
	}
	/* digits [. digits] [e [sign] digits], single underscores between digits */
	for (int part = 0; part < 3 && p < end; part++)
	{
		if (part == 1 && *p != '.')
			continue;
		if (part == 2 && *p != 'e' && *p != 'E')
			break;
		if (part > 0)
		{
			buf[n++] = *p++;
			if (part == 2 && p < end && (*p == '+' || *p == '-'))
				buf[n++] = *p++;
		}
		digits = false;
		while (p < end && n < sizeof(buf) - 1)
		{
			if (*p >= '0' && *p <= '9')
				buf[n++] = *p++, digits = true;
			else if (*p == '_' && digits && p + 1 < end && p[1] >= '0' && p[1] <= '9')
				p++;
			else
				break;
		}
		if (part < 2 && digits)
			mantissa = true;
		if (part == 2 && !digits)
			return false;
		if (n >= sizeof(buf) - 1)
			return false;
	}
	if (p != end || !mantissa)
		return false;
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

/*
 * The last member of an object named name (a key given twice counts once,
 * its last value: what PostgreSQL's jsonb keeps), or NULL.
 */
static const cJSON *
report_member(const cJSON *object, const char *name)
{
	const cJSON *found = NULL;

	for (const cJSON *c = object ? object->child : NULL; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, name) == 0)
			found = c;
	return found;
}

/* One input column of a model version, and what its rows held. */
typedef struct report_column
{
	const char *name;
	bool		numeric;
	const cJSON *ref;			/* the reference entry, or NULL */
	double	   *edges;			/* number: the reference's edges */
	size_t		nedges;
	int64_t    *bins;			/* number: per value bin (nedges + 1) */
	report_counts categories;	/* string: reference category -> index */
	size_t		ncategories;
	report_counts seen;			/* string: every value -> rows */
	int64_t		missing;
} report_column;

/* One model version's accumulated rows. */
typedef struct report_version
{
	sqlite3_int64 version;
	cJSON	   *doc;			/* its model document (NULL if not stored) */
	const cJSON *ref;
	int64_t		n;
	int64_t		predicted;
	int64_t		labelled;
	int64_t		positives;
	int64_t		tp, fp, fn, tn;
	double		sum_proba;
	double		brier;
	double		log_loss;
	char		first_at[40];
	char		last_at[40];
	int64_t		cal_rows[REPORT_BINS];
	int64_t		cal_positives[REPORT_BINS];
	double		cal_sum[REPORT_BINS];
	double	   *hist_edges;		/* the reference's probability edges */
	size_t		nhist;
	int64_t    *hist;			/* nhist + 1 bins */
	report_doubles pos;			/* labelled probabilities of each class */
	report_doubles neg;
	report_counts days;			/* "YYYY-MM-DD" -> index into day_* */
	struct report_day
	{
		char		day[11];
		int64_t		rows, labelled, predicted, positives;
		double		sum_proba;
	}		   *day;
	size_t		ndays;
	size_t		day_cap;
	report_column *columns;
	size_t		ncolumns;
} report_version;

static void
version_free(report_version *v)
{
	for (size_t i = 0; i < v->ncolumns; i++)
	{
		sqlite3_free(v->columns[i].edges);
		sqlite3_free(v->columns[i].bins);
		counts_free(&v->columns[i].categories);
		counts_free(&v->columns[i].seen);
	}
	sqlite3_free(v->columns);
	sqlite3_free(v->hist_edges);
	sqlite3_free(v->hist);
	sqlite3_free(v->pos.v);
	sqlite3_free(v->neg.v);
	counts_free(&v->days);
	sqlite3_free(v->day);
	cJSON_Delete(v->doc);
	memset(v, 0, sizeof(*v));
}

/* A JSON array of finite numbers as a malloc'd double array. */
static bool
report_numbers(const cJSON *array, double **out, size_t *n)
{
	size_t		i = 0;

	*n = (size_t) cJSON_GetArraySize(array);
	*out = sqlite3_malloc64((*n ? *n : 1) * sizeof(double));
	if (*out == NULL)
		return false;
	for (const cJSON *e = array ? array->child : NULL; e != NULL; e = e->next)
		(*out)[i++] = e->valuedouble;
	return true;
}

/* Start a version: read its document, set up the reference's bins. */
static bool
version_start(sqlite3 *db, const char *model, sqlite3_int64 number, report_version *v)
{
	sqlite3_stmt *stmt;
	const cJSON *cols;
	size_t		i = 0;

	memset(v, 0, sizeof(*v));
	v->version = number;
	if (sqlite3_prepare_v2(db, "SELECT model FROM predict_model_versions WHERE name = ?1 AND version = ?2",
						   -1, &stmt, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(stmt, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, number);
	if (sqlite3_step(stmt) == SQLITE_ROW)
	{
		const char *text = (const char *) sqlite3_column_text(stmt, 0);

		v->doc = text ? cJSON_ParseWithLength(text, (size_t) sqlite3_column_bytes(stmt, 0)) : NULL;
	}
	sqlite3_finalize(stmt);
	v->ref = cJSON_GetObjectItemCaseSensitive(v->doc, "reference");
	if (v->ref != NULL)
	{
		const cJSON *proba = cJSON_GetObjectItemCaseSensitive(v->ref, "proba");

		if (!report_numbers(cJSON_GetObjectItemCaseSensitive(proba, "edges"), &v->hist_edges, &v->nhist))
			return false;
		if ((v->hist = sqlite3_malloc64((v->nhist + 1) * sizeof(int64_t))) == NULL)
			return false;
		memset(v->hist, 0, (v->nhist + 1) * sizeof(int64_t));
	}
	cols = cJSON_GetObjectItemCaseSensitive(v->doc, "columns");
	v->ncolumns = (size_t) cJSON_GetArraySize(cols);
	if ((v->columns = sqlite3_malloc64((v->ncolumns ? v->ncolumns : 1) * sizeof(report_column))) == NULL)
		return false;
	memset(v->columns, 0, (v->ncolumns ? v->ncolumns : 1) * sizeof(report_column));
	for (const cJSON *c = cols ? cols->child : NULL; c != NULL; c = c->next, i++)
	{
		report_column *col = &v->columns[i];
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
		const cJSON *refs = cJSON_GetObjectItemCaseSensitive(v->ref, "columns");

		col->name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
		col->numeric = cJSON_IsString(type) && strcmp(type->valuestring, "number") == 0;
		for (const cJSON *r = refs ? refs->child : NULL; r != NULL; r = r->next)
		{
			const char *named = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "column"));

			if (named != NULL && col->name != NULL && strcmp(named, col->name) == 0)
				col->ref = r;
		}
		if (col->name == NULL)
			col->name = "";
		if (col->numeric)
		{
			if (!report_numbers(cJSON_GetObjectItemCaseSensitive(col->ref, "edges"), &col->edges, &col->nedges))
				return false;
			if ((col->bins = sqlite3_malloc64((col->nedges + 1) * sizeof(int64_t))) == NULL)
				return false;
			memset(col->bins, 0, (col->nedges + 1) * sizeof(int64_t));
		}
		else
		{
			const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col->ref, "categories");
			int64_t		index = 0;

			for (const cJSON *k = cats ? cats->child : NULL; k != NULL; k = k->next, index++)
				if (cJSON_IsString(k) && !counts_add(&col->categories, k->valuestring, index))
					return false;
			col->ncategories = (size_t) index;
		}
	}
	return true;
}

/* Count one row's value of a column. */
static bool
column_add(report_column *col, const cJSON *value)
{
	char		text[40];
	double		x = NAN;

	if (col->numeric)
	{
		if (cJSON_IsNumber(value))
			x = value->valuedouble;
		else if (cJSON_IsBool(value))
			x = cJSON_IsTrue(value) ? 1.0 : 0.0;
		else if (cJSON_IsString(value) && !report_parse_number(value->valuestring, &x))
			x = NAN;
		if (isnan(x))
			col->missing++;
		else
			col->bins[count_at_most(col->edges, col->nedges, x)]++;
		return true;
	}
	if (cJSON_IsString(value))
		return counts_add(&col->seen, value->valuestring, 1);
	if (cJSON_IsNumber(value))
	{
		predict_format_number(text, sizeof(text), value->valuedouble);
		return counts_add(&col->seen, text, 1);
	}
	if (cJSON_IsBool(value))
		return counts_add(&col->seen, cJSON_IsTrue(value) ? "true" : "false", 1);
	col->missing++;				/* absent, null (objects and arrays are never scored) */
	return true;
}

/* Count one row. */
static bool
version_add(report_version *v, double proba, int predicted, int true_class,
			const char *created_at, const char *observation, int observation_len)
{
	struct report_day *d;
	int64_t		at;
	char		day[11];

	v->n++;
	v->sum_proba += proba;
	v->predicted += predicted;
	if (created_at != NULL)
	{
		if (v->first_at[0] == '\0' || strcmp(created_at, v->first_at) < 0)
			snprintf(v->first_at, sizeof(v->first_at), "%s", created_at);
		if (strcmp(created_at, v->last_at) > 0)
			snprintf(v->last_at, sizeof(v->last_at), "%s", created_at);
	}
	snprintf(day, sizeof(day), "%s", created_at ? created_at : "");
	if ((at = counts_get(&v->days, day)) < 0)
	{
		if (v->ndays == v->day_cap)
		{
			size_t		cap = v->day_cap ? 2 * v->day_cap : 64;
			struct report_day *bigger = sqlite3_realloc64(v->day, cap * sizeof(struct report_day));

			if (bigger == NULL)
				return false;
			v->day = bigger;
			v->day_cap = cap;
		}
		at = (int64_t) v->ndays++;
		memset(&v->day[at], 0, sizeof(struct report_day));
		memcpy(v->day[at].day, day, sizeof(day));
		if (!counts_add(&v->days, day, at))
			return false;
	}
	d = &v->day[at];
	d->rows++;
	d->predicted += predicted;
	d->sum_proba += proba;
	if (v->hist != NULL)
		v->hist[count_at_most(v->hist_edges, v->nhist, proba)]++;
	if (true_class >= 0)
	{
		/* scikit-learn 1.2's log_loss: clipped to [eps, 1 - eps], [1 - c, c] renormalised */
		double		c = fmin(fmax(proba, REPORT_EPS), 1 - REPORT_EPS);
		double		e = (proba - true_class) * (proba - true_class);
		int			bin = 0;

		d->labelled++;
		d->positives += true_class;
		v->labelled++;
		v->positives += true_class;
		v->brier += e;
		v->log_loss += true_class ? -log(c / ((1 - c) + c)) : -log((1 - c) / ((1 - c) + c));
		if (predicted)
			true_class ? v->tp++ : v->fp++;
		else
			true_class ? v->fn++ : v->tn++;
		/* calibration_curve's bins: the edges i * (1 / bins) below the probability */
		while (bin + 1 < REPORT_BINS && (bin + 1) * (1.0 / REPORT_BINS) < proba)
			bin++;
		v->cal_rows[bin]++;
		v->cal_positives[bin] += true_class;
		v->cal_sum[bin] += proba;
		if (!doubles_push(true_class ? &v->pos : &v->neg, proba))
			return false;
	}
	if (v->ncolumns > 0)
	{
		cJSON	   *obs = cJSON_ParseWithLength(observation ? observation : "{}",
												observation ? (size_t) observation_len : 2);
		bool		ok = true;

		for (size_t i = 0; ok && i < v->ncolumns; i++)
			ok = column_add(&v->columns[i], report_member(obs, v->columns[i].name));
		cJSON_Delete(obs);
		if (!ok)
			return false;
	}
	return true;
}

/* cJSON helpers: a number or null (NaN and infinity are never written). */
static cJSON *
report_number(double x, bool defined)
{
	return defined && isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static double
report_psi_term(double actual, double expected)
{
	double		a = fmax(actual, REPORT_PSI_FLOOR);
	double		e = fmax(expected, REPORT_PSI_FLOOR);

	return (a - e) * log(a / e);
}

static const char *
report_reading(double psi)
{
	return psi < 0.1 ? "stable" : psi <= 0.25 ? "moderate" : "significant";
}

/* One bin of a feature: {bin, label, lower, upper, reference, rows, fraction}. */
static cJSON *
report_bin(int bin, const char *label, double lower, bool has_lower, double upper, bool has_upper,
		   double reference, bool has_reference, int64_t rows, int64_t total)
{
	cJSON	   *b = cJSON_CreateObject();

	cJSON_AddItemToObject(b, "bin", cJSON_CreateNumber(bin));
	cJSON_AddItemToObject(b, "label", cJSON_CreateString(label));
	cJSON_AddItemToObject(b, "lower", report_number(lower, has_lower));
	cJSON_AddItemToObject(b, "upper", report_number(upper, has_upper));
	cJSON_AddItemToObject(b, "reference", report_number(reference, has_reference));
	cJSON_AddItemToObject(b, "rows", cJSON_CreateNumber((double) rows));
	cJSON_AddItemToObject(b, "fraction", report_number((double) rows / (double) total, total > 0));
	return b;
}

/* The label of value bin j of edges e[m]: "< e0", "[a, b)", ">= e(m-1)" or "all". */
static void
report_label(char *out, size_t size, const double *e, size_t m, size_t j)
{
	char		a[40];
	char		b[40];

	if (m == 0)
		snprintf(out, size, "all");
	else if (j == 0)
		predict_format_number(a, sizeof(a), e[0]), snprintf(out, size, "< %s", a);
	else if (j == m)
		predict_format_number(a, sizeof(a), e[m - 1]), snprintf(out, size, ">= %s", a);
	else
	{
		predict_format_number(a, sizeof(a), e[j - 1]);
		predict_format_number(b, sizeof(b), e[j]);
		snprintf(out, size, "[%s, %s)", a, b);
	}
}

static double
report_fraction(const cJSON *array, size_t j)
{
	const cJSON *f = cJSON_GetArrayItem(array, (int) j);

	return cJSON_IsNumber(f) ? f->valuedouble : 0;
}

/* A feature object with every key, the kind-specific ones null. */
static cJSON *
report_feature(const char *name, const char *kind, double psi, bool has_psi, int64_t total)
{
	cJSON	   *f = cJSON_CreateObject();

	cJSON_AddItemToObject(f, "feature", cJSON_CreateString(name));
	cJSON_AddItemToObject(f, "kind", cJSON_CreateString(kind));
	cJSON_AddItemToObject(f, "psi", report_number(psi, has_psi));
	cJSON_AddItemToObject(f, "reading", has_psi ? cJSON_CreateString(report_reading(psi)) : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "rows", cJSON_CreateNumber((double) total));
	return f;
}

/* The drift of one input column (see the PostgreSQL version for the bins). */
static cJSON *
column_feature(const report_version *v, const report_column *col)
{
	const cJSON *ref = col->ref;
	cJSON	   *bins = cJSON_CreateArray();
	cJSON	   *f;
	double		psi = 0;
	int64_t		total = v->n;
	double		missing_ref = ref ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "missing")) : NAN;
	const char *reason = NULL;
	int64_t		unseen_rows = 0;
	cJSON	   *unseen = NULL;

	cJSON_AddItemToArray(bins, report_bin(-1, "missing", 0, false, 0, false, missing_ref, ref != NULL,
										  col->missing, total));
	psi += report_psi_term(total ? (double) col->missing / total : 0, missing_ref);
	if (ref == NULL)
		;						/* the missing rate only */
	else if (col->numeric)
	{
		const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(ref, "fractions");

		for (size_t j = 0; j <= col->nedges; j++)
		{
			char		label[100];
			double		e = report_fraction(fractions, j);

			report_label(label, sizeof(label), col->edges, col->nedges, j);
			cJSON_AddItemToArray(bins, report_bin((int) j, label, j > 0 ? col->edges[j - 1] : 0, j > 0,
												  j < col->nedges ? col->edges[j] : 0, j < col->nedges,
												  e, true, col->bins[j], total));
			psi += report_psi_term(total ? (double) col->bins[j] / total : 0, e);
		}
	}
	else
	{
		const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(ref, "fractions");
		const cJSON *cats = cJSON_GetObjectItemCaseSensitive(ref, "categories");
		size_t		head = col->ncategories < REPORT_PSI_CATEGORIES ? col->ncategories : REPORT_PSI_CATEGORIES;
		double		rest = 0;
		int64_t		rest_rows = 0;
		size_t		j = 0;
		struct
		{
			const char *value;
			int64_t		rows;
		}			top[REPORT_UNSEEN_SHOWN];
		size_t		ntop = 0;

		for (const cJSON *k = cats ? cats->child : NULL; k != NULL && j < head; k = k->next, j++)
		{
			int64_t		n = counts_get(&col->seen, k->valuestring);
			double		e = report_fraction(fractions, j);

			n = n < 0 ? 0 : n;
			cJSON_AddItemToArray(bins, report_bin((int) j, k->valuestring, 0, false, 0, false, e, true, n, total));
			psi += report_psi_term(total ? (double) n / total : 0, e);
		}
		for (size_t m = head; m < col->ncategories; m++)
			rest += report_fraction(fractions, m);
		rest = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "other")) + rest;
		for (size_t s = 0; col->seen.keys != NULL && s <= col->seen.mask; s++)
		{
			const char *value = col->seen.keys[s];
			int64_t		n = col->seen.counts[s];
			int64_t		index;

			if (value == NULL)
				continue;
			index = counts_get(&col->categories, value);
			if (index < 0 || (size_t) index >= head)
				rest_rows += n;
			if (index >= 0)
				continue;
			unseen_rows += n;
			/* the most frequent unseen values, ties in byte order */
			{
				size_t		t = 0;

				while (t < ntop && (top[t].rows > n || (top[t].rows == n && strcmp(top[t].value, value) < 0)))
					t++;
				if (t < REPORT_UNSEEN_SHOWN)
				{
					size_t		last = ntop < REPORT_UNSEEN_SHOWN ? ntop : REPORT_UNSEEN_SHOWN - 1;

					memmove(&top[t + 1], &top[t], (last - t) * sizeof(top[0]));
					top[t].value = value;
					top[t].rows = n;
					if (ntop < REPORT_UNSEEN_SHOWN)
						ntop++;
				}
			}
		}
		cJSON_AddItemToArray(bins, report_bin((int) head, "other", 0, false, 0, false, rest, true, rest_rows, total));
		psi += report_psi_term(total ? (double) rest_rows / total : 0, rest);
		unseen = cJSON_CreateArray();
		for (size_t t = 0; t < ntop; t++)
		{
			cJSON	   *u = cJSON_CreateObject();

			cJSON_AddItemToObject(u, "value", cJSON_CreateString(top[t].value));
			cJSON_AddItemToObject(u, "rows", cJSON_CreateNumber((double) top[t].rows));
			cJSON_AddItemToArray(unseen, u);
		}
	}
	if (ref == NULL)
		reason = cJSON_GetObjectItemCaseSensitive(v->doc, "reference") != NULL
			? "the reference has no entry for this column" : REPORT_NO_REFERENCE;
	else if (total == 0)
		reason = "no predictions";
	f = report_feature(col->name, col->numeric ? "number" : "string", psi, ref != NULL && total > 0, total);
	cJSON_AddItemToObject(f, "missing_rate", report_number((double) col->missing / total, total > 0));
	cJSON_AddItemToObject(f, "reference_missing_rate", report_number(missing_ref, ref != NULL));
	cJSON_AddItemToObject(f, "unseen_rows", report_number((double) unseen_rows, ref != NULL && !col->numeric));
	cJSON_AddItemToObject(f, "unseen_rate", report_number((double) unseen_rows / total,
														  ref != NULL && !col->numeric && total > 0));
	cJSON_AddItemToObject(f, "unseen_values", unseen ? unseen : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_other",
						  report_number(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "other")),
										ref != NULL && !col->numeric));
	cJSON_AddItemToObject(f, "reason", reason ? cJSON_CreateString(reason) : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "bins", bins);
	return f;
}

/* The probability's drift against the reference's histogram. */
static cJSON *
probability_feature(const report_version *v)
{
	cJSON	   *f;
	cJSON	   *bins = NULL;
	double		psi = 0;
	const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v->ref, "proba"),
															  "fractions");

	if (v->ref != NULL)
	{
		bins = cJSON_CreateArray();
		for (size_t j = 0; j <= v->nhist; j++)
		{
			char		label[100];
			double		e = report_fraction(fractions, j);

			report_label(label, sizeof(label), v->hist_edges, v->nhist, j);
			cJSON_AddItemToArray(bins, report_bin((int) j, label, j > 0 ? v->hist_edges[j - 1] : 0, j > 0,
												  j < v->nhist ? v->hist_edges[j] : 0, j < v->nhist,
												  e, true, v->hist[j], v->n));
			psi += report_psi_term(v->n ? (double) v->hist[j] / v->n : 0, e);
		}
	}
	f = report_feature("(probability)", "probability", psi, v->ref != NULL && v->n > 0, v->n);
	cJSON_AddItemToObject(f, "missing_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_missing_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_rows", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_values", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_other", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reason", v->ref == NULL ? cJSON_CreateString(REPORT_NO_REFERENCE)
						  : v->n == 0 ? cJSON_CreateString("no predictions") : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "bins", bins ? bins : cJSON_CreateNull());
	return f;
}

/* The finished version object (see the PostgreSQL version for every rule). */
static cJSON *
version_json(report_version *v, sqlite3_int64 active)
{
	cJSON	   *out = cJSON_CreateObject();
	cJSON	   *metrics = cJSON_CreateObject();
	cJSON	   *reasons = cJSON_CreateObject();
	cJSON	   *calibration = cJSON_CreateArray();
	cJSON	   *features = cJSON_CreateArray();
	cJSON	   *daily = cJSON_CreateArray();
	cJSON	   *drift = cJSON_CreateObject();
	int64_t		npos = (int64_t) v->pos.n;
	int64_t		nneg = (int64_t) v->neg.n;
	double		auc = NAN;
	double		ap = NAN;
	const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(v->doc, "threshold");
	const cJSON *reference_rows = cJSON_GetObjectItemCaseSensitive(v->ref, "rows");

	/* ranking metrics: each class sorted, each row's rank in the other class */
	if (v->pos.n > 0)
		qsort(v->pos.v, v->pos.n, sizeof(double), compare_doubles);
	if (v->neg.n > 0)
		qsort(v->neg.v, v->neg.n, sizeof(double), compare_doubles);
	if (npos > 0 && nneg > 0)
	{
		uint64_t	sum = 0;
		size_t		below = 0;
		size_t		at_most = 0;

		/* each negative: 1 per positive above it, 1/2 per tie (counted twice) */
		for (size_t i = 0; i < v->neg.n; i++)
		{
			double		x = v->neg.v[i];

			while (below < v->pos.n && v->pos.v[below] < x)
				below++;
			while (at_most < v->pos.n && v->pos.v[at_most] <= x)
				at_most++;
			sum += 2 * (uint64_t) npos - below - at_most;
		}
		auc = (double) sum / (2.0 * (double) npos * (double) nneg);
	}
	if (npos > 0)
	{
		double		sum = 0;
		size_t		neg_below = 0;

		/* each positive: the precision among the rows scored at least as high */
		for (size_t i = 0; i < v->pos.n; i++)
		{
			double		x = v->pos.v[i];
			int64_t		pos_below = (int64_t) count_below(v->pos.v, v->pos.n, x);

			while (neg_below < v->neg.n && v->neg.v[neg_below] < x)
				neg_below++;
			sum += (double) (npos - pos_below) / (double) (npos - pos_below + nneg - (int64_t) neg_below);
		}
		ap = sum / (double) npos;
	}

	cJSON_AddItemToObject(metrics, "rows", cJSON_CreateNumber((double) v->n));
	cJSON_AddItemToObject(metrics, "labelled_rows", cJSON_CreateNumber((double) v->labelled));
	cJSON_AddItemToObject(metrics, "positive_rate", report_number((double) v->predicted / v->n, v->n > 0));
	cJSON_AddItemToObject(metrics, "mean_proba", report_number(v->sum_proba / v->n, v->n > 0));
	cJSON_AddItemToObject(metrics, "observed_positive_rate",
						  report_number((double) v->positives / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "roc_auc", report_number(auc, !isnan(auc)));
	cJSON_AddItemToObject(metrics, "average_precision", report_number(ap, !isnan(ap)));
	cJSON_AddItemToObject(metrics, "log_loss", report_number(v->log_loss / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "brier_score", report_number(v->brier / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "accuracy",
						  report_number((double) (v->tp + v->tn) / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "precision", report_number((double) v->tp / (v->tp + v->fp), v->tp + v->fp > 0));
	cJSON_AddItemToObject(metrics, "recall", report_number((double) v->tp / (v->tp + v->fn), v->tp + v->fn > 0));
	cJSON_AddItemToObject(metrics, "f1", report_number(2.0 * v->tp / (2 * v->tp + v->fp + v->fn),
													   2 * v->tp + v->fp + v->fn > 0));
	cJSON_AddItemToObject(metrics, "true_negatives", cJSON_CreateNumber((double) v->tn));
	cJSON_AddItemToObject(metrics, "false_positives", cJSON_CreateNumber((double) v->fp));
	cJSON_AddItemToObject(metrics, "false_negatives", cJSON_CreateNumber((double) v->fn));
	cJSON_AddItemToObject(metrics, "true_positives", cJSON_CreateNumber((double) v->tp));

	if (v->n == 0)
	{
		cJSON_AddItemToObject(reasons, "positive_rate", cJSON_CreateString("no predictions"));
		cJSON_AddItemToObject(reasons, "mean_proba", cJSON_CreateString("no predictions"));
	}
	if (v->labelled == 0)
	{
		static const char *const labelled_only[] = {
			"observed_positive_rate", "roc_auc", "average_precision", "log_loss", "brier_score", "accuracy"
		};

		for (size_t i = 0; i < sizeof(labelled_only) / sizeof(labelled_only[0]); i++)
			cJSON_AddItemToObject(reasons, labelled_only[i], cJSON_CreateString(REPORT_NO_LABELS));
	}
	else
	{
		if (npos == 0 || nneg == 0)
			cJSON_AddItemToObject(reasons, "roc_auc", cJSON_CreateString(
				npos == 0 ? "the labelled predictions have one class only (true_class 0); ROC AUC needs both"
				: "the labelled predictions have one class only (true_class 1); ROC AUC needs both"));
		if (npos == 0)
			cJSON_AddItemToObject(reasons, "average_precision",
								  cJSON_CreateString("no labelled prediction has true_class 1"));
	}
	if (v->tp + v->fp == 0)
		cJSON_AddItemToObject(reasons, "precision", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no labelled prediction has predicted_class true"));
	if (v->tp + v->fn == 0)
		cJSON_AddItemToObject(reasons, "recall", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no labelled prediction has true_class 1"));
	if (2 * v->tp + v->fp + v->fn == 0)
		cJSON_AddItemToObject(reasons, "f1", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no positives, predicted or labelled"));

	for (int b = 0; b < REPORT_BINS; b++)
	{
		cJSON	   *c;

		if (v->cal_rows[b] == 0)
			continue;
		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "bin", cJSON_CreateNumber(b));
		cJSON_AddItemToObject(c, "lower", cJSON_CreateNumber(b * (1.0 / REPORT_BINS)));
		cJSON_AddItemToObject(c, "upper", cJSON_CreateNumber(b + 1 == REPORT_BINS ? 1.0 : (b + 1) * (1.0 / REPORT_BINS)));
		cJSON_AddItemToObject(c, "rows", cJSON_CreateNumber((double) v->cal_rows[b]));
		cJSON_AddItemToObject(c, "mean_proba", cJSON_CreateNumber(v->cal_sum[b] / v->cal_rows[b]));
		cJSON_AddItemToObject(c, "observed_rate", cJSON_CreateNumber((double) v->cal_positives[b] / v->cal_rows[b]));
		cJSON_AddItemToArray(calibration, c);
	}

	cJSON_AddItemToArray(features, probability_feature(v));
	for (size_t i = 0; i < v->ncolumns; i++)
		cJSON_AddItemToArray(features, column_feature(v, &v->columns[i]));
	cJSON_AddItemToObject(drift, "reference_rows", report_number(cJSON_GetNumberValue(reference_rows),
																  cJSON_IsNumber(reference_rows)));
	cJSON_AddItemToObject(drift, "features", features);

	/* days in order (rows usually come in time order already) */
	for (size_t i = 1; i < v->ndays; i++)
		for (size_t j = i; j > 0 && strcmp(v->day[j - 1].day, v->day[j].day) > 0; j--)
		{
			struct report_day t = v->day[j];

			v->day[j] = v->day[j - 1];
			v->day[j - 1] = t;
		}
	for (size_t i = 0; i < v->ndays; i++)
	{
		struct report_day *d = &v->day[i];
		cJSON	   *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "day", cJSON_CreateString(d->day));
		cJSON_AddItemToObject(o, "rows", cJSON_CreateNumber((double) d->rows));
		cJSON_AddItemToObject(o, "labelled_rows", cJSON_CreateNumber((double) d->labelled));
		cJSON_AddItemToObject(o, "positive_rate", cJSON_CreateNumber((double) d->predicted / d->rows));
		cJSON_AddItemToObject(o, "mean_proba", cJSON_CreateNumber(d->sum_proba / d->rows));
		cJSON_AddItemToObject(o, "observed_positive_rate",
							  report_number((double) d->positives / d->labelled, d->labelled > 0));
		cJSON_AddItemToArray(daily, o);
	}

	cJSON_AddItemToObject(out, "version", cJSON_CreateNumber((double) v->version));
	cJSON_AddItemToObject(out, "active", cJSON_CreateBool(v->version == active));
	cJSON_AddItemToObject(out, "threshold",
						  report_number(cJSON_IsNumber(threshold) ? threshold->valuedouble : 0.5, v->doc != NULL));
	cJSON_AddItemToObject(out, "first_at", v->first_at[0] ? cJSON_CreateString(v->first_at) : cJSON_CreateNull());
	cJSON_AddItemToObject(out, "last_at", v->last_at[0] ? cJSON_CreateString(v->last_at) : cJSON_CreateNull());
	cJSON_AddItemToObject(out, "metrics", metrics);
	cJSON_AddItemToObject(out, "reasons", reasons);
	cJSON_AddItemToObject(out, "calibration", calibration);
	cJSON_AddItemToObject(out, "drift", drift);
	cJSON_AddItemToObject(out, "daily", daily);
	return out;
}

/* A window bound as the stored timestamps write it; false (message in *msg) if unreadable. */
static bool
report_bound(sqlite3 *db, sqlite3_value *value, const char *what, char **out, char **msg)
{
	sqlite3_stmt *stmt;
	const char *t;

	*out = NULL;
	if (value == NULL || sqlite3_value_type(value) == SQLITE_NULL)
		return true;
	if (sqlite3_prepare_v2(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)", -1, &stmt, NULL) != SQLITE_OK)
	{
		*msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
		return false;
	}
	sqlite3_bind_value(stmt, 1, value);
	if (sqlite3_step(stmt) == SQLITE_ROW && (t = (const char *) sqlite3_column_text(stmt, 0)) != NULL)
		*out = sqlite3_mprintf("%s", t);
	else
		*msg = sqlite3_mprintf("%s: invalid input syntax for a timestamp: \"%s\"", what,
							   (const char *) sqlite3_value_text(value));
	sqlite3_finalize(stmt);
	return *out != NULL;
}

static void
predict_report_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	sqlite3    *db = state->db;
	const char *requested = argc > 0 ? (const char *) sqlite3_value_text(argv[0]) : NULL;
	char	   *model = NULL;
	char	   *since = NULL;
	char	   *until = NULL;
	char	   *msg = NULL;
	sqlite3_int64 active = 0;
	bool		has_active = false;
	bool		active_seen = false;
	sqlite3_stmt *stmt = NULL;
	cJSON	   *report = NULL;
	cJSON	   *versions = NULL;
	report_version v;
	bool		started = false;
	bool		ok = true;
	int			rc;
	char	   *text;

	memset(&v, 0, sizeof(v));
	if (!report_bound(db, argc > 1 ? argv[1] : NULL, "since", &since, &msg) ||
		!report_bound(db, argc > 2 ? argv[2] : NULL, "until", &until, &msg))
		goto fail;
	if (since != NULL && until != NULL && strcmp(since, until) > 0)
	{
		msg = sqlite3_mprintf("since (%s) is after until (%s)", since, until);
		goto fail;
	}
	/* the model: named, or the default one */
	rc = lookup_active(db, requested, &model, &active);
	if (rc == SQLITE_ROW)
		has_active = true;
	else if (rc != SQLITE_DONE)
	{
		msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
		goto fail;
	}
	else if (requested == NULL)
	{
		msg = sqlite3_mprintf("no default model is deployed: %s", no_model_hint);
		goto fail;
	}
	else
	{
		sqlite3_int64 found = 0;

		rc = query_one(db, "SELECT count(*) FROM predict_model_versions WHERE name = ?1", requested, &found, NULL);
		if (rc != SQLITE_ROW || found == 0)
		{
			msg = sqlite3_mprintf("model \"%s\" does not exist", requested);
			goto fail;
		}
		model = sqlite3_mprintf("%s", requested);
	}
	if (model == NULL)
		goto nomem;

	report = cJSON_CreateObject();
	versions = cJSON_CreateArray();
	if (report == NULL || versions == NULL)
		goto nomem;
	if (sqlite3_prepare_v2(db,
						   "SELECT model_version, proba, predicted_class, true_class, created_at, observation"
						   " FROM predictions WHERE model = ?1"
						   " AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at < ?3)"
						   " ORDER BY model_version, id", -1, &stmt, NULL) != SQLITE_OK)
	{
		msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, model, -1, SQLITE_STATIC);
	if (since)
		sqlite3_bind_text(stmt, 2, since, -1, SQLITE_STATIC);
	if (until)
		sqlite3_bind_text(stmt, 3, until, -1, SQLITE_STATIC);
	while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
	{
		sqlite3_int64 number = sqlite3_column_int64(stmt, 0);

		if (!started || number != v.version)
		{
			if (started)
			{
				/* the active version without rows goes in its place */
				if (has_active && !active_seen && active < v.version)
				{
					report_version empty;

					if (!version_start(db, model, active, &empty))
						ok = false;
					cJSON_AddItemToArray(versions, version_json(&empty, active));
					version_free(&empty);
					active_seen = true;
				}
				cJSON_AddItemToArray(versions, version_json(&v, active));
				version_free(&v);
			}
			if (has_active && !active_seen && active < number)
			{
				report_version empty;

				if (!version_start(db, model, active, &empty))
					ok = false;
				cJSON_AddItemToArray(versions, version_json(&empty, active));
				version_free(&empty);
				active_seen = true;
			}
			if (!version_start(db, model, number, &v))
				ok = false;
			started = true;
			active_seen = active_seen || (has_active && number == active);
		}
		if (ok)
			ok = version_add(&v, sqlite3_column_double(stmt, 1), sqlite3_column_int(stmt, 2),
							 sqlite3_column_type(stmt, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 3),
							 (const char *) sqlite3_column_text(stmt, 4),
							 (const char *) sqlite3_column_text(stmt, 5), sqlite3_column_bytes(stmt, 5));
	}
	if (!ok)
		goto nomem;
	if (rc != SQLITE_DONE)
	{
		msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (started)
		cJSON_AddItemToArray(versions, version_json(&v, active));
	if (has_active && !active_seen)
	{
		report_version empty;

		if (!version_start(db, model, active, &empty))
			ok = false;
		cJSON_AddItemToArray(versions, version_json(&empty, active));
		version_free(&empty);
	}
	if (!ok)
		goto nomem;

	cJSON_AddItemToObject(report, "model", cJSON_CreateString(model));
	cJSON_AddItemToObject(report, "since", since ? cJSON_CreateString(since) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "until", until ? cJSON_CreateString(until) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "active_version",
						  has_active ? cJSON_CreateNumber((double) active) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "calibration_bins", cJSON_CreateNumber(REPORT_BINS));
	cJSON_AddItemToObject(report, "versions", versions);
	versions = NULL;
	if ((text = cJSON_PrintUnformatted(report)) == NULL)
		goto nomem;
	sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
	cJSON_free(text);
	goto done;

nomem:
	sqlite3_result_error_nomem(ctx);
	goto done;
fail:
	if (msg == NULL)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_error(ctx, msg, -1);
done:
	version_free(&v);
	sqlite3_finalize(stmt);
	cJSON_Delete(versions);
	cJSON_Delete(report);
	sqlite3_free(model);
	sqlite3_free(since);
	sqlite3_free(until);
	sqlite3_free(msg);
}

/*
 * Register every function on db. The loadable build gets api from SQLite;
 * a program that links this file (SQLITE_CORE) passes NULL.
 *
 * A database file's schema (triggers, views) is no more to be trusted than
 * PostgreSQL's search_path: the registry's writers are SQLITE_DIRECTONLY
 * (only a statement the application runs may call them); the scoring
 * functions, which write nothing, are SQLITE_INNOCUOUS (usable in a schema
 * even with PRAGMA trusted_schema = OFF).
 */
int			sqlite3_predict_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);
int			sqlite3_predictsqlite_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);

int
sqlite3_predict_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	static const struct
	{
		const char *name;
		int			nargs;
		int			flags;
		void		(*func) (sqlite3_context *, int, sqlite3_value **);
	}			functions[] = {
		{"predict_proba", 1, SQLITE_INNOCUOUS, predict_proba_func},
		{"predict_proba", 2, SQLITE_INNOCUOUS, predict_proba_func},
		{"predict_class", 1, SQLITE_INNOCUOUS, predict_class_func},
		{"predict_class", 2, SQLITE_INNOCUOUS, predict_class_func},
		{"predict_model_version", 0, SQLITE_INNOCUOUS, predict_model_version_func},
		{"predict_model_version", 1, SQLITE_INNOCUOUS, predict_model_version_func},
		{"predict_default_model", 0, SQLITE_INNOCUOUS, predict_default_model_func},
		{"predict_deploy", 2, SQLITE_DIRECTONLY, predict_deploy_func},
		{"predict_activate", 2, SQLITE_DIRECTONLY, predict_activate_func},
		{"predict_set_default", 1, SQLITE_DIRECTONLY, predict_set_default_func},
		{"predict_report", 0, 0, predict_report_func},
		{"predict_report", 1, 0, predict_report_func},
		{"predict_report", 2, 0, predict_report_func},
		{"predict_report", 3, 0, predict_report_func},
	};
	connection_state *state;
	int			rc = SQLITE_OK;

	SQLITE_EXTENSION_INIT2(api);
	state = sqlite3_malloc64(sizeof(connection_state));
	if (state == NULL)
		return SQLITE_NOMEM;
	memset(state, 0, sizeof(*state));
	state->db = db;
	/* the first registration owns the state and frees it with the connection */
	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(functions) / sizeof(functions[0]); i++)
		rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].nargs,
										SQLITE_UTF8 | functions[i].flags, state,
										functions[i].func, NULL, NULL,
										i == 0 ? connection_state_free : NULL);
	if (rc != SQLITE_OK && errmsg != NULL)
		*errmsg = sqlite3_mprintf("predict: could not register functions: %s", sqlite3_errmsg(db));
	return rc;
}

/* The entry point SQLite derives from the file name predict_sqlite.so. */
int
sqlite3_predictsqlite_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	return sqlite3_predict_init(db, errmsg, api);
}
