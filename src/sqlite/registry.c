/*
 * registry.c - the model registry: lookups, and the functions that change it.
 *
 *   predict_deploy(name, model_json [, explain]) -> integer
 *       Validate a predict-model/1 document, store it as the next version
 *       of name in predict_model_versions, make it active, and make name
 *       the default model if there is none. With explain 1 (PostgreSQL's
 *       explain => true) the log explains every row the version scores
 *       (schema.c), and a model the core cannot explain is refused.
 *   predict_activate(name, version) -> NULL     roll back or forward
 *   predict_set_default(name) -> NULL           make name the default model
 *
 * The rules and the messages are PostgreSQL's (src/pg/pg_predict.c): names
 * follow the core's rule (predict_model_name_valid), a model that is not
 * there is reported by no_model_message, and activate and set_default
 * return nothing (NULL here, void there). Direct use only: the three are
 * SQLITE_DIRECTONLY (not callable from triggers or views).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sqlite_predict.h"

/* Does the registry exist in this database? */
int
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
int
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
 * One registry lookup: the default model's name (name NULL) or the named
 * model, and its active version. Returns SQLITE_ROW, SQLITE_DONE when there
 * is none (or no registry yet), or an error code (message in db).
 */
int
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

/* No default model (requested NULL), or no model of that name. */
void
result_no_model(sqlite3_context *ctx, const char *requested)
{
	predict_registry_args args = {.name = requested};

	result_registry_error(ctx, 0, requested == NULL ? PREDICT_ERR_NO_DEFAULT_MODEL : PREDICT_ERR_UNKNOWN_MODEL,
						  &args);
}

/* The model name of argument arg, or NULL after setting PostgreSQL's error. */
static const char *
required_name(sqlite3_context *ctx, sqlite3_value **argv, int arg, const char *usage)
{
	const char *name;

	if (sqlite3_value_type(argv[arg]) == SQLITE_NULL)
	{
		result_registry_error(ctx, 0, PREDICT_ERR_NULL_NAME, &(predict_registry_args) {0});
		return NULL;
	}
	if (sqlite3_value_type(argv[arg]) != SQLITE_TEXT)
	{
		result_error_detail(ctx, 0, NULL, NULL, "%s: the model name must be text", usage);
		return NULL;
	}
	if ((name = (const char *) sqlite3_value_text(argv[arg])) == NULL)
		sqlite3_result_error_nomem(ctx);
	return name;
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
 * A registry change: SQLITE_DONE on success, with *result the function's
 * value (0 for none: NULL, PostgreSQL's void), or an error set on ctx.
 */
typedef int (*registry_change) (sqlite3_context *ctx, sqlite3 *db, const char *name,
								sqlite3_int64 number, const char *text, sqlite3_int64 *result);

/*
 * Run a registry change inside a savepoint, so that it is all or nothing,
 * after making sure the schema is there (a program that links the
 * extension may not have installed it yet).
 */
static void
run_registry_change(sqlite3_context *ctx, registry_change change, const char *name,
					sqlite3_int64 number, const char *text)
{
	connection_state *state = sqlite3_user_data(ctx);
	sqlite3    *db = state->db;
	sqlite3_int64 result = 0;
	char	   *msg = NULL;
	int			rc;

	if ((rc = sqlite3_exec(db, "SAVEPOINT predict_registry", NULL, NULL, NULL)) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	if ((rc = schema_install(db, &msg)) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, msg != NULL ? msg : sqlite3_errstr(rc), -1);
		sqlite3_result_error_code(ctx, rc);
		sqlite3_free(msg);
	}
	else
		rc = change(ctx, db, name, number, text, &result);
	if (rc == SQLITE_DONE)
	{
		if ((rc = sqlite3_exec(db, "RELEASE predict_registry", NULL, NULL, NULL)) == SQLITE_OK)
		{
			state->snapshot_valid = 0;
			if (result != 0)
				sqlite3_result_int64(ctx, result);
			else
				sqlite3_result_null(ctx);
			return;
		}
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	}
	sqlite3_exec(db, "ROLLBACK TO predict_registry; RELEASE predict_registry", NULL, NULL, NULL);
	state->snapshot_valid = 0;
}

/* Make version the active one of name (inserting the name when new). */
static int
set_active(sqlite3 *db, const char *name, sqlite3_int64 version)
{
	int			rc;

	rc = exec_bound(db, "INSERT INTO predict_models (name, active_version) VALUES (?1, ?2)"
					" ON CONFLICT (name) DO UPDATE SET active_version = excluded.active_version,"
					" updated_at = " PREDICT_NOW, name, version);
	if (rc == SQLITE_DONE)
		rc = exec_bound(db, "UPDATE predict_models SET is_default = 1 WHERE name = ?1"
						" AND NOT EXISTS (SELECT 1 FROM predict_models WHERE is_default = 1)", name, 0);
	return rc;
}

/* PostgreSQL's registry_check_explain: its message, SQLite's spelling in the hint. */
#define NULL_EXPLAIN "explain must not be null"
#define NULL_EXPLAIN_HINT "Deploy with explain 1 (true) to explain every row the version logs, " \
	"or 0 (false, the default)."

static int
deploy_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 explain,
			  const char *text, sqlite3_int64 *version)
{
	int			rc;

	rc = query_one(db, "SELECT coalesce(max(version), 0) + 1 FROM predict_model_versions WHERE name = ?1",
				   name, version, NULL);
	/* PostgreSQL's versions are integers: SQLite's 64-bit ones stop there too */
	if (rc == SQLITE_ROW && *version > INT32_MAX)
	{
		result_registry_error(ctx, 0, PREDICT_ERR_MAXIMUM_VERSION, &(predict_registry_args) {.name = name});
		return SQLITE_ERROR;
	}
	if (rc == SQLITE_ROW)
	{
		sqlite3_stmt *stmt;

		rc = sqlite3_prepare_v2(db, "INSERT INTO predict_model_versions (name, version, model, explain)"
								" VALUES (?1, ?2, ?3, ?4)", -1, &stmt, NULL);
		if (rc == SQLITE_OK)
		{
			sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(stmt, 2, *version);
			sqlite3_bind_text(stmt, 3, text, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(stmt, 4, explain);
			rc = sqlite3_step(stmt);
			sqlite3_finalize(stmt);
		}
	}
	if (rc == SQLITE_DONE)
		rc = set_active(db, name, *version);
	if (rc != SQLITE_DONE)
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	return rc;
}

/*
 * Validate a model document with the loader that will score with it, and
 * (explain) that the core can explain it, with predict_explain's error.
 */
static int
model_document_check(sqlite3_context *ctx, const char *text, size_t len, bool explain)
{
	predict_error err;
	predict_model *model = predict_model_load(text, len, NULL, &predict_sqlite_allocator, &err);
	bool		ok = model != NULL && (!explain || predict_model_explainable(model, &err));

	if (!ok)
		result_core_error(ctx, &err);
	predict_model_free(model);
	return ok;
}

/*
 * The explain argument of predict_deploy (1 or 0, SQLite's true and false),
 * into *explain; false after setting an error on ctx.
 */
static bool
deploy_explain(sqlite3_context *ctx, sqlite3_value *arg, bool *explain)
{
	if (sqlite3_value_type(arg) == SQLITE_NULL)
	{
		result_error_full(ctx, 0, NULL_EXPLAIN, NULL, NULL_EXPLAIN_HINT);
		return false;
	}
	/* '1' is 1, as SQLite's integer affinity reads it */
	if (sqlite3_value_numeric_type(arg) != SQLITE_INTEGER ||
		(sqlite3_value_int64(arg) != 0 && sqlite3_value_int64(arg) != 1))
	{
		sqlite3_result_error(ctx, "predict_deploy(name, model_json, explain): explain must be 0 or 1", -1);
		return false;
	}
	*explain = sqlite3_value_int64(arg) == 1;
	return true;
}

void
predict_deploy_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name;
	const char *text;
	bool		explain = false;

	if ((name = required_name(ctx, argv, 0, "predict_deploy(name, model_json)")) == NULL)
		return;
	if (!predict_model_name_valid(name, strlen(name)))
	{
		result_registry_error(ctx, 0, PREDICT_ERR_INVALID_NAME, &(predict_registry_args) {.name = name});
		return;
	}
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL)
	{
		result_registry_error(ctx, 0, PREDICT_ERR_NULL_DOCUMENT, &(predict_registry_args) {0});
		return;
	}
	/* the checks in PostgreSQL's order: name, document, explain, then the document's content */
	if (argc > 2 && !deploy_explain(ctx, argv[2], &explain))
		return;
	if ((text = (const char *) sqlite3_value_text(argv[1])) == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (model_document_check(ctx, text, (size_t) sqlite3_value_bytes(argv[1]), explain))
		run_registry_change(ctx, deploy_change, name, explain, text);
}

static int
activate_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 version,
				const char *unused, sqlite3_int64 *result)
{
	sqlite3_stmt *stmt;
	int			found = 0;
	int			rc;

	(void) unused;
	*result = 0;
	rc = sqlite3_prepare_v2(db, "SELECT model FROM predict_model_versions WHERE name = ?1 AND version = ?2",
							-1, &stmt, NULL);
	if (rc != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return rc;
	}
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, version);
	/* a version stored by hand, not by predict_deploy, must still be valid */
	if (sqlite3_step(stmt) == SQLITE_ROW)
		found = model_document_check(ctx, (const char *) sqlite3_column_text(stmt, 0),
									 (size_t) sqlite3_column_bytes(stmt, 0), false) ? 1 : -1;
	sqlite3_finalize(stmt);
	if (found < 0)
		return SQLITE_ERROR;
	if (found == 0)
	{
		sqlite3_int64 versions = 0;

		query_one(db, "SELECT count(*) FROM predict_model_versions WHERE name = ?1", name, &versions, NULL);
		if (versions == 0)
			result_no_model(ctx, name);
		else
			result_registry_error(ctx, 0, PREDICT_ERR_UNKNOWN_VERSION,
								  &(predict_registry_args) {.name = name, .version = version});
		return SQLITE_ERROR;
	}
	if ((rc = set_active(db, name, version)) != SQLITE_DONE)
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
	return rc;
}

void
predict_activate_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name;

	(void) argc;
	if ((name = required_name(ctx, argv, 0, "predict_activate(name, version)")) == NULL)
		return;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL)
	{
		result_registry_error(ctx, 0, PREDICT_ERR_NULL_VERSION, &(predict_registry_args) {0});
		return;
	}
	if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER)
	{
		sqlite3_result_error(ctx, "predict_activate(name, version): the version must be an integer", -1);
		return;
	}
	run_registry_change(ctx, activate_change, name, sqlite3_value_int64(argv[1]), NULL);
}

static int
set_default_change(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 unused,
				   const char *unused_text, sqlite3_int64 *result)
{
	sqlite3_int64 found = 0;
	int			rc;

	(void) unused;
	(void) unused_text;
	*result = 0;
	rc = query_one(db, "SELECT count(*) FROM predict_models WHERE name = ?1", name, &found, NULL);
	if (rc == SQLITE_ROW && found == 0)
	{
		result_no_model(ctx, name);
		return SQLITE_ERROR;
	}
	/* two statements: the unique index on is_default is checked row by row */
	if (rc != SQLITE_ROW ||
		(rc = exec_bound(db, "UPDATE predict_models SET is_default = 0, updated_at = " PREDICT_NOW
						 " WHERE is_default = 1 AND name <> ?1", name, 0)) != SQLITE_DONE ||
		(rc = exec_bound(db, "UPDATE predict_models SET is_default = 1, updated_at = " PREDICT_NOW
						 " WHERE name = ?1 AND is_default = 0", name, 0)) != SQLITE_DONE)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_ERROR : rc;
	}
	return SQLITE_DONE;
}

void
predict_set_default_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name;

	(void) argc;
	if ((name = required_name(ctx, argv, 0, "predict_set_default(name)")) != NULL)
		run_registry_change(ctx, set_default_change, name, 0, NULL);
}

/*
 * predict_registry_raise(kind, name, version): the core's registry error of
 * that kind, raised by the schema's checks of the registry's tables
 * (schema.c), whose RAISE can only word a fixed text.
 */
void
predict_registry_raise_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const predict_registry_error *e = predict_registry_error_find((const char *) sqlite3_value_text(argv[0]));
	(void) argc;
	if (e == NULL)
	{
		sqlite3_result_error(ctx, "predict_registry_raise: no such kind of error", -1);
		return;
	}
	result_registry_error(ctx, SQLITE_CONSTRAINT_TRIGGER, (predict_registry_error_kind) (e - predict_registry_errors),
						  &(predict_registry_args) {.name = (const char *) sqlite3_value_text(argv[1]),
						  .version = sqlite3_value_int64(argv[2])});
}
