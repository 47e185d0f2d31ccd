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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Register every function on db. The loadable build gets api from SQLite;
 * a program that links this file (SQLITE_CORE) passes NULL.
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
		{"predict_proba", 1, 0, predict_proba_func},
		{"predict_proba", 2, 0, predict_proba_func},
		{"predict_class", 1, 0, predict_class_func},
		{"predict_class", 2, 0, predict_class_func},
		{"predict_model_version", 0, 0, predict_model_version_func},
		{"predict_model_version", 1, 0, predict_model_version_func},
		{"predict_default_model", 0, 0, predict_default_model_func},
		{"predict_deploy", 2, SQLITE_DIRECTONLY, predict_deploy_func},
		{"predict_activate", 2, SQLITE_DIRECTONLY, predict_activate_func},
		{"predict_set_default", 1, SQLITE_DIRECTONLY, predict_set_default_func},
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
