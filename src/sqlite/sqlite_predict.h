/*
 * sqlite_predict.h - what the files of the SQLite extension share. Private:
 * a program that links the extension includes extension.h instead.
 *
 * Every file includes this one first. As the loadable extension
 * (PREDICT_SQLITE_LOADABLE) the sqlite3_* calls go through the API table
 * that extension.c receives at load time (SQLITE_EXTENSION_INIT3 declares
 * it here); linked into a program (SQLITE_CORE) they are plain calls.
 */
#ifndef PREDICT_SQLITE_PRIVATE_H
#define PREDICT_SQLITE_PRIVATE_H

#ifndef PREDICT_SQLITE_LOADABLE
#define SQLITE_CORE 1
#endif
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include "predict.h"
#include "registry_errors.h"

/* SQLite's clock as the tables store it: ISO 8601 UTC with milliseconds. */
#define PREDICT_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/* One model name's active version, parsed. */
typedef struct cached_model
{
	struct cached_model *next;
	char	   *name;
	sqlite3_int64 version;
	int			tentative;		/* parsed inside an explicit transaction */
	predict_model *model;
	predict_value *values;		/* scratch for predict_score_json */
	void	   *explain_scratch;	/* predict_explain's, allocated when first explained */
	double	   *contributions;	/* one per column, with explain_scratch */
	int			explains;		/* the version's explain: 0, 1, or -1 not read yet */
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

/* extension.c: allocation and errors */
extern const predict_allocator predict_sqlite_allocator;
void		result_core_error(sqlite3_context *ctx, const predict_error *err);
void		result_error_full(sqlite3_context *ctx, int code, const char *message,
							  const char *detail, const char *hint);
void		result_error_detail(sqlite3_context *ctx, int code, const char *detail,
								const char *hint, const char *format,...)
			__attribute__((format(printf, 5, 6)));
void		result_scoring_error(sqlite3_context *ctx, const predict_error *err, const char *name,
								 sqlite3_int64 version);
char	   *registry_error_text(predict_registry_error_kind kind, const predict_registry_args *args);
void		result_registry_error(sqlite3_context *ctx, int code, predict_registry_error_kind kind,
								  const predict_registry_args *args);

/* scoring.c: the model cache and the scoring functions */
void		cached_model_free(cached_model *c);
cached_model *active_model(sqlite3_context *ctx, connection_state *state, const char *name);
cached_model *stored_version(sqlite3_context *ctx, connection_state *state, const char *name,
							 sqlite3_int64 version);
cached_model *version_model(sqlite3_context *ctx, connection_state *state, const char *name,
							sqlite3_int64 version, cached_model **owned);
void		predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_class_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
bool		explain_ready(sqlite3_context *ctx, cached_model *c);
sqlite3_str *explanation_str(sqlite3_context *ctx, cached_model *c, const char *obs, size_t len);
void		result_str(sqlite3_context *ctx, sqlite3_str *str);
void		predict_explain_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_reasons_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_model_version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_default_model_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* registry.c: the model registry */
int			registry_exists(sqlite3 *db);
int			query_one(sqlite3 *db, const char *sql, const char *param, sqlite3_int64 *number,
					  char **text);
int			lookup_active(sqlite3 *db, const char *name, char **found, sqlite3_int64 *version);
void		result_no_model(sqlite3_context *ctx, const char *requested);
void		predict_deploy_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_registry_raise_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_activate_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_set_default_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* schema.c: the tables and triggers the extension owns */
int			schema_install(sqlite3 *db, char **errmsg);
void		predict_install_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predictions_check_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predictions_explanation_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* json.c: observations in canonical form, compared as jsonb compares them */
void		predict_json_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void		predict_json_equal_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
bool		json_text_equal(sqlite3_context *ctx, sqlite3_value *a, const char *b, size_t blen,
							bool *equal);

/* report.c: monitoring */
void		predict_report_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif							/* PREDICT_SQLITE_PRIVATE_H */
