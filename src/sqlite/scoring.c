/*
 * scoring.c - the scoring functions and the per-connection model cache.
 *
 *   predict_proba(obs_json [, name]) -> real
 *       The probability of the positive class for one observation (a JSON
 *       object), with the default model or the named one. NULL in, NULL out.
 *   predict_class(obs_json [, name]) -> integer 0 or 1   (the model's class)
 *   predict_model_version([name]) -> integer   the active version
 *   predict_default_model() -> text            the default model's name
 *
 * Caching: a connection parses a model version once. Which version is
 * active is looked up again only when the database may have changed (see
 * refresh_if_changed): in a statement that reads a table, such as
 * SELECT predict_proba(obs) FROM t, at most once per statement and model,
 * with one registry query. A version that is no longer active is freed
 * when the change is seen. A version parsed inside an explicit transaction
 * is parsed again after it (the transaction may have rolled back a deploy,
 * and the next deploy reuse its number for another document).
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_predict.h"

void
cached_model_free(cached_model *c)
{
	predict_model_free(c->model);
	sqlite3_free(c->values);
	sqlite3_free(c->name);
	sqlite3_free(c);
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

/*
 * Version `version` of name, parsed, not in the cache (tentative when
 * parsed inside an explicit transaction); NULL after setting an error on
 * ctx, missing as the message when the registry has no such version.
 */
static cached_model *
parse_version(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 version,
			  const char *missing)
{
	sqlite3_stmt *stmt;
	cached_model *c;
	char	   *text = NULL;
	predict_error err;

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
	if (text == NULL)
	{
		sqlite3_result_error(ctx, missing, -1);
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
	c->tentative = !sqlite3_get_autocommit(db);
	c->name = sqlite3_mprintf("%s", name);
	c->model = predict_model_load(text, strlen(text), NULL, &predict_sqlite_allocator, &err);
	sqlite3_free(text);
	if (c->model == NULL || c->name == NULL)
	{
		if (c->model == NULL)
			result_core_error(ctx, &err);
		else
			sqlite3_result_error_nomem(ctx);
		cached_model_free(c);
		return NULL;
	}
	c->values = sqlite3_malloc64(predict_model_ncolumns(c->model) * sizeof(predict_value));
	if (c->values == NULL)
	{
		cached_model_free(c);
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	return c;
}

/*
 * A version that may not be the active one, for the rows that name their
 * version (predictions_check): parsed for the call, freed by the caller
 * with cached_model_free. Such rows come from copies and restores, rarely:
 * the cache keeps active versions only.
 */
cached_model *
stored_version(sqlite3_context *ctx, connection_state *state, const char *name,
			   sqlite3_int64 version)
{
	cached_model *c;
	char	   *missing = registry_error_text(PREDICT_ERR_UNKNOWN_VERSION,
											&(predict_registry_args) {.name = name, .version = version});

	if (missing == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	c = parse_version(ctx, state->db, name, version, missing);
	sqlite3_free(missing);
	return c;
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
	cached_model **link;
	cached_model *c;
	int			in_transaction = !sqlite3_get_autocommit(state->db);

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
		cached_model_free(c);
	}
	c = parse_version(ctx, state->db, name, version,
					  "the active model version is missing from predict_model_versions");
	if (c == NULL)
		return NULL;
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
cached_model *
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
	if (rc == SQLITE_DONE)
	{
		result_no_model(ctx, name);
		return NULL;
	}
	if (rc != SQLITE_ROW)
	{
		/* the lookup's own code (SQLITE_BUSY, SQLITE_IOERR...): not a missing model */
		result_error_detail(ctx, rc, NULL, NULL, "could not read the model registry: %s",
							sqlite3_errmsg(db));
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

/* Score argv[0] with the default model or the one named by argv[1]: proba and class. */
static int
score_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, double *proba,
		   bool *predicted, cached_model **out)
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
	if (predict_score_json_class(c->model, obs, (size_t) sqlite3_value_bytes(argv[0]), c->values,
								 proba, predicted, &err) != PREDICT_OK)
	{
		result_scoring_error(ctx, &err, c->name, c->version);
		return 0;
	}
	*out = c;
	return 1;
}

void
predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	bool		predicted;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &predicted, &c))
		sqlite3_result_double(ctx, proba);
}

void
predict_class_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	bool		predicted;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &predicted, &c))
		sqlite3_result_int(ctx, predicted ? 1 : 0);
}

void
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

void
predict_default_model_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	(void) argc;
	(void) argv;
	if ((c = active_model(ctx, state, NULL)) != NULL)
		sqlite3_result_text(ctx, c->name, -1, SQLITE_TRANSIENT);
}

/*
 * Version `version` of name, for a row that names it (predictions_check):
 * the cached active version when it is that one, else parsed for the call
 * into *owned, which the caller frees. NULL after setting an error on ctx
 * (PREDICT_ERR_UNKNOWN_VERSION when there is no such version, whether or
 * not the model exists, as PostgreSQL).
 */
cached_model *
version_model(sqlite3_context *ctx, connection_state *state, const char *name,
			  sqlite3_int64 version, cached_model **owned)
{
	sqlite3_int64 active = 0;
	char	   *found = NULL;
	int			rc;

	*owned = NULL;
	refresh_if_changed(state);
	for (cached_model *c = state->models; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0 && c->verified == state->epoch && c->version == version)
			return c;
	rc = lookup_active(state->db, name, &found, &active);
	sqlite3_free(found);
	if (rc == SQLITE_ROW && active == version)
		return active_model(ctx, state, name);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
	{
		result_error_detail(ctx, rc, NULL, NULL, "could not read the model registry: %s",
							sqlite3_errmsg(state->db));
		return NULL;
	}
	return *owned = stored_version(ctx, state, name, version);
}
