/*
 * extension.c - the scoring core as a SQLite loadable extension: the entry
 * point, the functions' registration, and the error form they share.
 *
 *   .load ./predict_sqlite          (or SELECT load_extension('./predict_sqlite'))
 *
 * Loading the extension on a writable database creates its schema when it
 * is missing (schema.c), as PostgreSQL's CREATE EXTENSION does: the model
 * registry (predict_model_versions, predict_models) and the predictions log
 * with its triggers. On a read-only database the functions are registered
 * and the schema is left as it is.
 *
 * SQL functions (docs/sql-reference.md, "SQLite"):
 *   predict_deploy(name, model_json [, explain]) -> integer   the new version (registry.c)
 *   predict_activate(name, version) -> NULL          roll back or forward
 *   predict_set_default(name) -> NULL                make name the default model
 *   predict_proba(obs_json [, name]) -> real         (scoring.c)
 *   predict_class(obs_json [, name]) -> integer 0 or 1   (the model's class)
 *   predict_explain(obs_json [, name]) -> text       the explanation, JSON
 *   predict_reasons(obs_json, k [, name]) -> text    a notice's k reasons, JSON
 *   predict_model_version([name]) -> integer         the active version
 *   predict_default_model() -> text                  the default model's name
 *   predict_report([model [, since [, until]]]) -> text   monitoring (report.c)
 *   predict_json(json) -> text                       canonical form (json.c)
 *   predict_json_equal(a, b) -> integer              equal as jsonb (json.c)
 *   predict_install() -> NULL                        create the schema (schema.c)
 *   predictions_check(...)                           the predictions trigger's check
 *   predictions_explanation(...)                     a log row's explanation (schema.c)
 *
 * Errors. The core's errors carry the core's messages (docs/model-format.md),
 * the same text as PostgreSQL and predict-score. The extension's own errors
 * carry PostgreSQL's errmsg, and its errdetail and errhint as psql prints
 * them, on lines of their own:
 *
 *   model "churn" does not exist
 *   HINT:  Deploy it first, for example: SELECT predict_deploy('churn', ...);
 *
 * Two builds of the same files. As the loadable extension predict_sqlite.so
 * (mk/sqlite.mk defines PREDICT_SQLITE_LOADABLE), every sqlite3_* call goes
 * through the API table SQLite hands to the entry point. Linked into a
 * program together with SQLite (the gateway), it is compiled with
 * SQLITE_CORE: the calls are plain calls, and the program calls
 * predict_sqlite_register and predict_sqlite_install (extension.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sqlite_predict.h"
#include "extension.h"

SQLITE_EXTENSION_INIT1

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

const predict_allocator predict_sqlite_allocator = {model_alloc, model_release, NULL};

/* Report a core error with SQLite's matching error code. */
void
result_core_error(sqlite3_context *ctx, const predict_error *err)
{
	if (err->status == PREDICT_NO_MEMORY)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (err->status == PREDICT_UNSUPPORTED)
	{
		/* PostgreSQL's ERRCODE_FEATURE_NOT_SUPPORTED, with its hint */
		result_error_full(ctx, 0, err->message, NULL, PREDICT_EXPLAIN_HINT);
		return;
	}
	sqlite3_result_error(ctx, err->message, -1);
	if (err->status == PREDICT_TOO_LARGE)
		sqlite3_result_error_code(ctx, SQLITE_TOOBIG);
}

/* An error's text as psql shows it: the message, DETAIL and HINT lines. */
static char *
error_text(const char *message, const char *detail, const char *hint)
{
	return sqlite3_mprintf("%s%s%s%s%s", message, detail ? "\nDETAIL:  " : "", detail ? detail : "",
						   hint ? "\nHINT:  " : "", hint ? hint : "");
}

/* text (sqlite3_free'd here; NULL: out of memory) as the call's error. */
static void
result_error_text(sqlite3_context *ctx, int code, char *text)
{
	if (text == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_error(ctx, text, -1);
	if (code != 0)
		sqlite3_result_error_code(ctx, code);
	sqlite3_free(text);
}

/*
 * Report an error as PostgreSQL's psql shows it: the message, then
 * "DETAIL:  " and "HINT:  " lines when there are any. code is SQLite's
 * error code (0 keeps SQLITE_ERROR).
 */
void
result_error_full(sqlite3_context *ctx, int code, const char *message,
				  const char *detail, const char *hint)
{
	result_error_text(ctx, code, error_text(message, detail, hint));
}

/*
 * A core error scoring an observation with version of model name: as
 * result_core_error, with PostgreSQL's detail naming the version.
 */
void
result_scoring_error(sqlite3_context *ctx, const predict_error *err, const char *name,
					 sqlite3_int64 version)
{
	char		detail[256];

	if (err->status == PREDICT_NO_MEMORY || err->status == PREDICT_TOO_LARGE ||
		strncmp(err->message, PREDICT_WHOLE_OBSERVATION, strlen(PREDICT_WHOLE_OBSERVATION)) == 0)
	{
		result_core_error(ctx, err);
		return;
	}
	result_error_text(ctx, 0, error_text(err->message,
										 predict_registry_render(PREDICT_DETAIL_SCORED_WITH,
																 &(predict_registry_args) {.name = name, .version = version},
																 detail, sizeof(detail)), NULL));
}

/* SQLite's way to deploy name (NULL: the first model), the hint of a missing model. */
static const char *
deploy_hint(const char *name, char *buf, int size)
{
	if (name == NULL)
		return "Deploy one first, for example: SELECT predict_deploy('titanic', "
			"readfile('/path/to/titanic.json')); the first model deployed becomes the default.";
	return sqlite3_snprintf(size, buf, "Deploy it first, for example: SELECT predict_deploy(%Q, "
							"readfile('/path/to/model.json'));", name);
}

/*
 * An error of the core's table of registry and log errors (registry_errors.h),
 * as result_error_full writes it, SQLite's way to deploy in a missing model's
 * hint: the same texts as PostgreSQL's. NULL when out of memory; sqlite3_free
 * it.
 */
char *
registry_error_text(predict_registry_error_kind kind, const predict_registry_args *args)
{
	const predict_registry_error *e = &predict_registry_errors[kind];
	char		message[1024];
	char		detail[1024];
	char		hint[1024];
	const char *h = NULL;

	if (e->deploy_hint)
		h = deploy_hint(args->name, hint, sizeof(hint));
	else if (e->hint != NULL)
		h = predict_registry_render(e->hint, args, hint, sizeof(hint));
	return error_text(predict_registry_render(e->message, args, message, sizeof(message)),
					  e->detail ? predict_registry_render(e->detail, args, detail, sizeof(detail)) : NULL, h);
}

/* registry_error_text as the call's error; code as result_error_full's. */
void
result_registry_error(sqlite3_context *ctx, int code, predict_registry_error_kind kind,
					  const predict_registry_args *args)
{
	result_error_text(ctx, code, registry_error_text(kind, args));
}

/* result_error_full with a formatted message. */
void
result_error_detail(sqlite3_context *ctx, int code, const char *detail, const char *hint,
					const char *format,...)
{
	va_list		args;
	char	   *message;

	va_start(args, format);
	message = sqlite3_vmprintf(format, args);
	va_end(args);
	if (message == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	result_error_full(ctx, code, message, detail, hint);
	sqlite3_free(message);
}

static void
connection_state_free(void *p)
{
	connection_state *state = p;

	while (state->models != NULL)
	{
		cached_model *next = state->models->next;

		cached_model_free(state->models);
		state->models = next;
	}
	sqlite3_free(state->default_name);
	sqlite3_free(state);
}

/*
 * Register every function on db, sharing one connection_state.
 *
 * A database file's schema (triggers, views) is no more to be trusted than
 * PostgreSQL's search_path: the registry's writers are SQLITE_DIRECTONLY
 * (only a statement the application runs may call them); the functions
 * that write nothing are SQLITE_INNOCUOUS (usable in a schema, such as the
 * predictions triggers, even with PRAGMA trusted_schema = OFF).
 */
int
predict_sqlite_register(sqlite3 *db, char **errmsg)
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
		{"predict_explain", 1, SQLITE_INNOCUOUS, predict_explain_func},
		{"predict_explain", 2, SQLITE_INNOCUOUS, predict_explain_func},
		{"predict_reasons", 2, SQLITE_INNOCUOUS, predict_reasons_func},
		{"predict_reasons", 3, SQLITE_INNOCUOUS, predict_reasons_func},
		{"predict_model_version", 0, SQLITE_INNOCUOUS, predict_model_version_func},
		{"predict_model_version", 1, SQLITE_INNOCUOUS, predict_model_version_func},
		{"predict_default_model", 0, SQLITE_INNOCUOUS, predict_default_model_func},
		{"predict_json", 1, SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, predict_json_func},
		{"predict_json_equal", 2, SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, predict_json_equal_func},
		{"predictions_check", 5, SQLITE_INNOCUOUS, predictions_check_func},
		{"predictions_explanation", 2, SQLITE_INNOCUOUS, predictions_explanation_func},
		{"predictions_explanation", 4, SQLITE_INNOCUOUS, predictions_explanation_func},
		{"predict_registry_raise", 3, SQLITE_INNOCUOUS, predict_registry_raise_func},
		{"predict_deploy", 2, SQLITE_DIRECTONLY, predict_deploy_func},
		{"predict_deploy", 3, SQLITE_DIRECTONLY, predict_deploy_func},
		{"predict_activate", 2, SQLITE_DIRECTONLY, predict_activate_func},
		{"predict_set_default", 1, SQLITE_DIRECTONLY, predict_set_default_func},
		{"predict_install", 0, SQLITE_DIRECTONLY, predict_install_func},
		{"predict_report", 0, 0, predict_report_func},
		{"predict_report", 1, 0, predict_report_func},
		{"predict_report", 2, 0, predict_report_func},
		{"predict_report", 3, 0, predict_report_func},
	};
	connection_state *state;
	int			rc = SQLITE_OK;

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

/* Create or bring up to date the extension's schema in db's main database. */
int
predict_sqlite_install(sqlite3 *db, char **errmsg)
{
	return schema_install(db, errmsg);
}

/*
 * The loadable extension's entry point: register the functions, then
 * create the schema unless the database is read-only.
 */
int
sqlite3_predict_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	int			rc;

	(void) api;					/* unused when linked into a program */
	SQLITE_EXTENSION_INIT2(api);
	if ((rc = predict_sqlite_register(db, errmsg)) != SQLITE_OK)
		return rc;
	if (sqlite3_db_readonly(db, "main") == 1)
		return SQLITE_OK;
	return schema_install(db, errmsg);
}

/* The entry point SQLite derives from the file name predict_sqlite.so. */
int
sqlite3_predictsqlite_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	return sqlite3_predict_init(db, errmsg, api);
}
