/*
 * pg_predict.c - the PostgreSQL host of the scoring core: the `predict`
 * extension's C functions (src/pg/sql/ declares them).
 *
 *   predict_deploy(name, model), predict_activate(name, version),
 *   predict_set_default(name)                   the model registry
 *   predict_proba(obs [, model]), predict_class(obs [, model])
 *                                               scoring
 *   predictions_score(), predictions_protect()  the predictions triggers
 *
 * Everything else is the core's (src/core/predict.h): this file only moves
 * values between jsonb and the core and turns the core's errors into
 * ereport()s with the core's text.
 *
 * Model cache.  A backend loads a model version once and keeps it in its own
 * memory context ("predict model" with identifier "<name> version <n>",
 * children of "predict model cache", visible in pg_backend_memory_contexts).
 * A cached version is identified by its registry row (name, version and the
 * row's xmin and ctid), so a version number reused after a rolled-back
 * deploy, or a registry dropped and re-created, never hits a stale entry.
 *
 * Resolution.  Which version a call uses is read from the registry with the
 * statement's snapshot, once per statement: the answer is kept in fn_extra
 * together with the snapshot's identity, and looked up again only when the
 * snapshot changes (a new statement, or a new PL/pgSQL expression evaluation
 * in READ COMMITTED).  A deploy committed elsewhere is thus used by this
 * session's next statement, one rolled back is never seen, and no row pays a
 * lookup.  Each fn_extra pins the versions it uses until its memory context
 * goes away (end of query, cursor close, transaction end); a version that a
 * lookup finds superseded is freed as soon as nothing pins it.
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "predict.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(predict_deploy);
PG_FUNCTION_INFO_V1(predict_activate);
PG_FUNCTION_INFO_V1(predict_set_default);
PG_FUNCTION_INFO_V1(predict_proba);
PG_FUNCTION_INFO_V1(predict_class);
PG_FUNCTION_INFO_V1(predictions_score);
PG_FUNCTION_INFO_V1(predictions_protect);

/* predict.max_model_bytes */
static int	predict_max_model_bytes = (int) PREDICT_DEFAULT_MAX_MODEL_BYTES;

/* Model names: what the format allows for a model's "name" field. */

/* Distinct model names one call site remembers per statement. */
#define RESOLVED_MAX 4

/*
 * Versions one call site of the trigger remembers per statement, for rows
 * that arrive with their model_version (a restore interleaves them).
 */
#define VERSIONS_MAX 16

/* ---------- the model cache ---------- */

/* One loaded model version; everything lives in its own memory context. */
typedef struct model_entry
{
	struct model_entry *next;
	MemoryContext context;
	char	   *name;
	int32		version;
	TransactionId row_xmin;		/* identity of the registry row */
	ItemPointerData row_tid;
	predict_model *model;
	size_t		ncolumns;
	const char **column_names;	/* in the database encoding */
	int		   *column_lengths;
	int			pins;			/* call sites using it right now */
	bool		superseded;		/* no longer active: free when unpinned */
} model_entry;

static MemoryContext model_cache_context = NULL;
static model_entry *model_cache = NULL;

/* The registry queries, prepared once per backend for the extension's schema. */
typedef struct registry_plans
{
	char	   *schema;			/* quoted schema name the plans were made for */
	SPIPlanPtr	resolve_named;
	SPIPlanPtr	resolve_default;
	SPIPlanPtr	resolve_version;
	SPIPlanPtr	fetch_document;
	SPIPlanPtr	registry_empty;
} registry_plans;

static registry_plans plans;

/* ---------- per call site state (fn_extra) ---------- */

/* The snapshot a resolution was made with; equal keys see equal registries. */
typedef struct statement_key
{
	LocalTransactionId lxid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	CommandId	curcid;
	uint64		completion;
} statement_key;

typedef struct resolved_model
{
	char	   *requested;		/* model name asked for, NULL for the default */
	int			requested_len;
	int32		version;		/* the version asked for, 0 for the active one */
	model_entry *entry;			/* pinned */
	Datum		name_text;		/* entry->name as text, for the trigger */
} resolved_model;

typedef struct scoring_state
{
	MemoryContext mcxt;			/* fn_mcxt: lives as long as the call site */
	MemoryContextCallback unpin_callback;
	Oid			schema;			/* the extension's schema (the function's) */
	char	   *schema_quoted;
	bool		key_valid;
	statement_key key;
	int			nresolved;
	resolved_model resolved[RESOLVED_MAX];
	int			nversions;
	resolved_model versions[VERSIONS_MAX];	/* asked for by name and version */
	predict_value *values;		/* scratch for one observation */
	size_t		nvalues;
	/* trigger only: attribute numbers in the trigger's relation */
	Oid			relid;
	int			att_observation;
	int			att_proba;
	int			att_predicted_class;
	int			att_model;
	int			att_model_version;
	int			att_true_class;
	int			att_updated_at;
} scoring_state;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("predict.max_model_bytes",
							"Refuse model documents larger than this.",
							"The size of the document as JSON text, checked by predict_deploy and "
							"whenever a backend loads a model.",
							&predict_max_model_bytes,
							(int) PREDICT_DEFAULT_MAX_MODEL_BYTES,
							1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("predict");
}

/* ---------- errors ---------- */

/* Text from the core (UTF-8) in the database encoding. */
static const char *
from_utf8(const char *s)
{
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		return s;
	return pg_any_to_server(s, strlen(s), PG_UTF8);
}

/* Raise the core's error; entry, when given, is the model that scored. */
static void
report_predict_error(const predict_error *err, const model_entry *entry)
{
	const char *message = from_utf8(err->message);

	switch (err->status)
	{
		case PREDICT_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("%s", message)));
			break;
		case PREDICT_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s", message),
					 entry == NULL ?
					 errhint("A superuser can raise predict.max_model_bytes.") : 0));
			break;
		default:
			if (entry != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", message),
						 errdetail("The observation was scored with model \"%s\" version %d.",
								   entry->name, entry->version)));
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", message)));
			break;
	}
}

/* ---------- loading models ---------- */

static void *
context_alloc(size_t size, void *context)
{
	if (size > MaxAllocHugeSize)
		return NULL;
	return MemoryContextAllocExtended((MemoryContext) context, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
context_release(void *pointer, void *context)
{
	pfree(pointer);
}

/*
 * Load a model document stored as jsonb, with the model's memory in
 * context. The text form exists only for the loader (cJSON) and is freed
 * before returning; the loader frees its own cJSON tree and never longjmps,
 * so an error raised here leaks nothing.
 */
static predict_model *
model_load_jsonb(Jsonb *doc, MemoryContext context)
{
	predict_allocator allocator = {context_alloc, context_release, context};
	predict_limits limits = predict_default_limits();
	predict_model *model;
	predict_error err;
	StringInfoData text;
	char	   *utf8;

	initStringInfo(&text);
	JsonbToCString(&text, &doc->root, VARSIZE(doc));
	utf8 = text.data;
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
		utf8 = pg_server_to_any(text.data, text.len, PG_UTF8);
	limits.max_model_bytes = (size_t) predict_max_model_bytes;
	model = predict_model_load(utf8, strlen(utf8), &limits, &allocator, &err);
	if (utf8 != text.data)
		pfree(utf8);
	pfree(text.data);
	if (model == NULL)
		report_predict_error(&err, NULL);
	return model;
}

/* Validate a document: load it into a scratch context and throw it away. */
static void
model_check_jsonb(Jsonb *doc)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "predict model check",
												  ALLOCSET_DEFAULT_SIZES);

	predict_model_free(model_load_jsonb(doc, scratch));
	MemoryContextDelete(scratch);
}

static void
model_entry_free(model_entry *entry)
{
	model_entry **link;

	for (link = &model_cache; *link != NULL; link = &(*link)->next)
	{
		if (*link == entry)
		{
			*link = entry->next;
			break;
		}
	}
	predict_model_free(entry->model);
	MemoryContextDelete(entry->context);
}

static void
model_entry_unpin(model_entry *entry)
{
	Assert(entry->pins > 0);
	if (--entry->pins == 0 && entry->superseded)
		model_entry_free(entry);
}

/* Mark every cached version of name other than keep superseded. */
static void
model_cache_supersede(const char *name, const model_entry *keep)
{
	model_entry *entry = model_cache;

	while (entry != NULL)
	{
		model_entry *next = entry->next;

		if (entry != keep && strcmp(entry->name, name) == 0)
		{
			entry->superseded = true;
			if (entry->pins == 0)
				model_entry_free(entry);
		}
		entry = next;
	}
}

static model_entry *
model_cache_find(const char *name, int32 version, TransactionId xmin,
				 ItemPointer tid)
{
	for (model_entry *entry = model_cache; entry != NULL; entry = entry->next)
	{
		if (entry->version == version && entry->row_xmin == xmin &&
			ItemPointerEquals(&entry->row_tid, tid) &&
			strcmp(entry->name, name) == 0)
			return entry;
	}
	return NULL;
}

/* Load doc as (name, version) of the registry row (xmin, tid) into the cache. */
static model_entry *
model_cache_add(const char *name, int32 version, TransactionId xmin,
				ItemPointer tid, Jsonb *doc)
{
	MemoryContext context;
	model_entry *entry;
	predict_model *model;
	size_t		ncolumns;

	if (model_cache_context == NULL)
		model_cache_context = AllocSetContextCreate(TopMemoryContext,
													"predict model cache",
													ALLOCSET_SMALL_SIZES);
	context = AllocSetContextCreate(model_cache_context, "predict model",
									ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		model = model_load_jsonb(doc, context);
		ncolumns = predict_model_ncolumns(model);
		entry = MemoryContextAllocZero(context, sizeof(model_entry));
		entry->context = context;
		entry->name = MemoryContextStrdup(context, name);
		entry->version = version;
		entry->row_xmin = xmin;
		ItemPointerCopy(tid, &entry->row_tid);
		entry->model = model;
		entry->ncolumns = ncolumns;
		entry->column_names = MemoryContextAlloc(context, ncolumns * sizeof(char *));
		entry->column_lengths = MemoryContextAlloc(context, ncolumns * sizeof(int));
		for (size_t i = 0; i < ncolumns; i++)
		{
			const char *column = predict_model_column_name(model, i);

			/* observation keys are in the database encoding */
			if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
			{
				MemoryContext old = MemoryContextSwitchTo(context);

				column = pg_any_to_server(column, strlen(column), PG_UTF8);
				MemoryContextSwitchTo(old);
			}
			entry->column_names[i] = column;
			entry->column_lengths[i] = (int) strlen(column);
		}
		MemoryContextSetIdentifier(context,
								   MemoryContextStrdup(context,
													   psprintf("%s version %d", name, version)));
	}
	PG_CATCH();
	{
		/* model memory, if any, is in context: nothing else to release */
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	entry->next = model_cache;
	model_cache = entry;
	return entry;
}

/* ---------- the registry ---------- */

/* The extension's schema: the one the calling function lives in. */
static Oid
function_schema(FunctionCallInfo fcinfo)
{
	Oid			schema = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!OidIsValid(schema))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	return schema;
}

static char *
schema_quoted(Oid schema)
{
	char	   *name = get_namespace_name(schema);

	if (name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", schema);
	return pstrdup(quote_identifier(name));
}

static SPIPlanPtr
prepare_kept(const char *query, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* Prepare the scoring path's registry queries for schema (inside SPI). */
static void
registry_plans_prepare(const char *schema)
{
	Oid			text_arg[1] = {TEXTOID};
	Oid			version_args[2] = {TEXTOID, INT4OID};

	if (plans.schema != NULL && strcmp(plans.schema, schema) == 0)
		return;
	if (plans.schema != NULL)
	{
		SPI_freeplan(plans.resolve_named);
		SPI_freeplan(plans.resolve_default);
		SPI_freeplan(plans.resolve_version);
		SPI_freeplan(plans.fetch_document);
		SPI_freeplan(plans.registry_empty);
		pfree(plans.schema);
		memset(&plans, 0, sizeof(plans));
	}
	plans.resolve_named = prepare_kept(psprintf(
		"SELECT m.name, m.active_version, v.xmin, v.ctid"
		" FROM %s.predict_models m JOIN %s.predict_model_versions v"
		" ON v.name OPERATOR(pg_catalog.=) m.name"
		" AND v.version OPERATOR(pg_catalog.=) m.active_version"
		" WHERE m.name OPERATOR(pg_catalog.=) $1", schema, schema), 1, text_arg);
	plans.resolve_default = prepare_kept(psprintf(
		"SELECT m.name, m.active_version, v.xmin, v.ctid"
		" FROM %s.predict_models m JOIN %s.predict_model_versions v"
		" ON v.name OPERATOR(pg_catalog.=) m.name"
		" AND v.version OPERATOR(pg_catalog.=) m.active_version"
		" WHERE m.is_default", schema, schema), 0, NULL);
	plans.resolve_version = prepare_kept(psprintf(
		"SELECT v.name, v.version, v.xmin, v.ctid FROM %s.predict_model_versions v"
		" WHERE v.name OPERATOR(pg_catalog.=) $1"
		" AND v.version OPERATOR(pg_catalog.=) $2", schema), 2, version_args);
	plans.fetch_document = prepare_kept(psprintf(
		"SELECT v.model FROM %s.predict_model_versions v"
		" WHERE v.name OPERATOR(pg_catalog.=) $1"
		" AND v.version OPERATOR(pg_catalog.=) $2", schema), 2, version_args);
	plans.registry_empty = prepare_kept(psprintf(
		"SELECT NOT EXISTS (SELECT FROM %s.predict_model_versions)", schema), 0, NULL);
	plans.schema = MemoryContextStrdup(TopMemoryContext, schema);
}

/* The owner of the registry table predict_models in schema. */
static Oid
registry_owner(Oid schema)
{
	Oid			relid = get_relname_relid("predict_models", schema);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.predict_models\" does not exist",
						get_namespace_name(schema))));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

static void
no_model_error(const char *requested)
{
	if (requested == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no default model is deployed"),
				 errhint("Deploy one first, for example: SELECT predict_deploy('titanic', pg_read_file('/path/to/titanic.json')::jsonb); the first model deployed becomes the default.")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", requested),
			 errhint("Deploy it first, for example: SELECT predict_deploy(%s, pg_read_file('/path/to/model.json')::jsonb);",
					 quote_literal_cstr(requested))));
}

/*
 * Whether this statement loads a dump: pg_restore's sessions, and any COPY
 * (pg_restore run under another PGAPPNAME by a wrapper, psql loading a
 * plain dump). An INSERT is never a restore's.
 */
static bool
loading_a_dump(void)
{
	const char *query = debug_query_string;

	if (application_name != NULL && strcmp(application_name, "pg_restore") == 0)
		return true;
	if (query == NULL)
		return false;
	while (scanner_isspace(*query))
		query++;
	return pg_strncasecmp(query, "copy", 4) == 0 && scanner_isspace(query[4]);
}

/*
 * pg_restore -j loads the extension's tables in parallel and in any order
 * (pg_dump orders an extension's tables only for a serial restore): a
 * restored prediction can arrive before the registry it is checked against.
 * While a dump loads and the registry is empty, wait for it (as seen by the
 * latest snapshot: it is loaded by another session), and say so in the
 * server's log every minute. Returns the SPI result code of the version's
 * lookup, made with the snapshot that found it, or of the last attempt.
 */
static int
registry_wait_restored(Datum *arg)
{
	int			ret = SPI_OK_SELECT;
	TimestampTz last_warning = GetCurrentTimestamp();

	if (!loading_a_dump())
		return ret;
	for (;;)
	{
		bool		isnull;
		bool		empty;

		/*
		 * Emptiness first: the registry is loaded whole by one COPY, so a
		 * registry that was not empty before the lookup has all its versions.
		 */
		ret = SPI_execute_snapshot(plans.registry_empty, NULL, NULL, GetLatestSnapshot(),
								   InvalidSnapshot, true, false, 1);
		if (ret != SPI_OK_SELECT)
			return ret;
		empty = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		ret = SPI_execute_snapshot(plans.resolve_version, arg, NULL, GetLatestSnapshot(),
								   InvalidSnapshot, true, false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed > 0 || !empty)
			return ret;
		if (TimestampDifferenceExceeds(last_warning, GetCurrentTimestamp(), 60 * 1000))
		{
			ereport(WARNING,
					(errmsg("restored predictions wait for the model registry, which this restore has not loaded yet"),
					 errhint("pg_restore -j loads the extension's tables in parallel; if predict_model_versions is not part of this restore, cancel it and restore the registry first.")));
			last_warning = GetCurrentTimestamp();
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The active version of a model (requested == NULL: of the default model),
 * or version of requested when version > 0, as the statement's snapshot
 * sees the registry, loaded into the cache; the caller pins it before
 * anything can supersede it. Finding the active version supersedes the
 * other cached versions of that name. The registry is read as its owner, so
 * that EXECUTE on the scoring functions (or INSERT on predictions) is all a
 * role needs; the queries are fixed and schema-qualified, and run as a
 * security-restricted operation.
 */
static model_entry *
model_resolve(Oid schema, const char *schema_q, const char *requested, int32 wanted)
{
	Oid			save_userid;
	int			save_sec_context;
	model_entry *entry;
	char	   *name;
	int32		version;
	TransactionId xmin;
	ItemPointerData tid;
	bool		isnull;
	int			ret;
	Datum		arg[2];

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(registry_owner(schema),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	registry_plans_prepare(schema_q);
	if (requested != NULL && wanted > 0)
	{
		arg[0] = CStringGetTextDatum(requested);
		arg[1] = Int32GetDatum(wanted);
		ret = SPI_execute_plan(plans.resolve_version, arg, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 0)
			ret = registry_wait_restored(arg);
	}
	else if (requested != NULL)
	{
		arg[0] = CStringGetTextDatum(requested);
		ret = SPI_execute_plan(plans.resolve_named, arg, NULL, true, 1);
	}
	else
		ret = SPI_execute_plan(plans.resolve_default, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0 && wanted > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", requested, wanted)));
	if (SPI_processed == 0)
		no_model_error(requested);

	name = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
	xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 3, &isnull));
	ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 4,
													  &isnull)), &tid);

	entry = model_cache_find(name, version, xmin, &tid);
	if (entry == NULL)
	{
		arg[0] = CStringGetTextDatum(name);
		arg[1] = Int32GetDatum(version);
		/* a version found by the wait above is newer than the statement's snapshot */
		ret = SPI_execute_snapshot(plans.fetch_document, arg, NULL,
								   wanted > 0 ? GetLatestSnapshot() : InvalidSnapshot,
								   InvalidSnapshot, true, false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "model \"%s\" version %d vanished from the registry", name, version);
		entry = model_cache_add(name, version, xmin, &tid,
								DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc,
															 1, &isnull)));
	}
	if (wanted <= 0)
		model_cache_supersede(name, entry);

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return entry;
}

/* ---------- per call site state ---------- */

static void
resolved_forget(resolved_model *slot)
{
	model_entry_unpin(slot->entry);
	if (slot->requested != NULL)
		pfree(slot->requested);
	pfree(DatumGetPointer(slot->name_text));
}

static void
scoring_state_unpin_all(scoring_state *state)
{
	for (int i = 0; i < state->nresolved; i++)
		resolved_forget(&state->resolved[i]);
	state->nresolved = 0;
	for (int i = 0; i < state->nversions; i++)
		resolved_forget(&state->versions[i]);
	state->nversions = 0;
}

/* fn_mcxt is going away: release the pins. */
static void
scoring_state_release(void *arg)
{
	scoring_state_unpin_all((scoring_state *) arg);
}

static scoring_state *
scoring_state_get(FunctionCallInfo fcinfo)
{
	scoring_state *state = (scoring_state *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (state != NULL)
		return state;
	state = MemoryContextAllocZero(mcxt, sizeof(scoring_state));
	state->mcxt = mcxt;
	state->schema = function_schema(fcinfo);
	state->schema_quoted = MemoryContextStrdup(mcxt, schema_quoted(state->schema));
	state->unpin_callback.func = scoring_state_release;
	state->unpin_callback.arg = state;
	MemoryContextRegisterResetCallback(mcxt, &state->unpin_callback);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

static bool
statement_key_get(statement_key *key)
{
	Snapshot	snapshot;

	if (!ActiveSnapshotSet())
		return false;
	snapshot = GetActiveSnapshot();
	memset(key, 0, sizeof(*key));
	key->lxid = MyProc->lxid;
	key->xmin = snapshot->xmin;
	key->xmax = snapshot->xmax;
	key->xcnt = snapshot->xcnt;
	key->subxcnt = snapshot->subxcnt;
	key->suboverflowed = snapshot->suboverflowed;
	key->curcid = snapshot->curcid;
	key->completion = snapshot->snapXactCompletionCount;
	return true;
}

/* Forget what an earlier statement resolved (its snapshot is not this one's). */
static void
scoring_state_for_statement(scoring_state *state)
{
	statement_key key;

	if (!statement_key_get(&key))
	{
		scoring_state_unpin_all(state);
		state->key_valid = false;
	}
	else if (!state->key_valid || memcmp(&key, &state->key, sizeof(key)) != 0)
	{
		scoring_state_unpin_all(state);
		state->key = key;
		state->key_valid = true;
	}
}

static resolved_model *
scoring_find(resolved_model *slots, int n, const char *name, int len, int32 version)
{
	for (int i = 0; i < n; i++)
	{
		resolved_model *slot = &slots[i];

		if (slot->version == version &&
			(name == NULL ? slot->requested == NULL :
			 (slot->requested != NULL && slot->requested_len == len &&
			  memcmp(slot->requested, name, len) == 0)))
			return slot;
	}
	return NULL;
}

/* Pin entry in a new slot of slots (n of max in use; the oldest goes when full). */
static resolved_model *
scoring_remember(scoring_state *state, resolved_model *slots, int *n, int max,
				 model_entry *entry, const char *name, int len, int32 version)
{
	resolved_model *slot;
	MemoryContext old;

	if (*n == max)
	{
		/* many models in one statement: forget the oldest */
		resolved_forget(&slots[0]);
		memmove(&slots[0], &slots[1], (max - 1) * sizeof(resolved_model));
		(*n)--;
	}
	old = MemoryContextSwitchTo(state->mcxt);
	slot = &slots[*n];
	slot->entry = entry;
	slot->requested = name != NULL ? pnstrdup(name, len) : NULL;
	slot->requested_len = len;
	slot->version = version;
	slot->name_text = PointerGetDatum(cstring_to_text(entry->name));
	if (state->nvalues < entry->ncolumns)
	{
		if (state->values != NULL)
			pfree(state->values);
		state->values = palloc(entry->ncolumns * sizeof(predict_value));
		state->nvalues = entry->ncolumns;
	}
	MemoryContextSwitchTo(old);
	entry->pins++;
	(*n)++;
	return slot;
}

/*
 * The model for this call: the active version of the default model (name ==
 * NULL) or of a named one, as the current statement sees the registry.
 * Cheap when the statement already resolved it.
 */
static resolved_model *
scoring_resolve(scoring_state *state, const char *name, int len)
{
	resolved_model *slot;
	char	   *requested;
	model_entry *entry;

	scoring_state_for_statement(state);
	slot = scoring_find(state->resolved, state->nresolved, name, len, 0);
	if (slot != NULL)
		return slot;
	requested = name != NULL ? pnstrdup(name, len) : NULL;
	entry = model_resolve(state->schema, state->schema_quoted, requested, 0);
	if (requested != NULL)
		pfree(requested);
	return scoring_remember(state, state->resolved, &state->nresolved, RESOLVED_MAX,
							entry, name, len, 0);
}

/* Version version of model name, active or not (a row that names it). */
static resolved_model *
scoring_resolve_version(scoring_state *state, const char *name, int32 version)
{
	int			len = (int) strlen(name);
	resolved_model *slot;

	scoring_state_for_statement(state);
	slot = scoring_find(state->versions, state->nversions, name, len, version);
	if (slot != NULL)
		return slot;
	return scoring_remember(state, state->versions, &state->nversions, VERSIONS_MAX,
							model_resolve(state->schema, state->schema_quoted, name, version),
							name, len, version);
}

/* ---------- reading observations from jsonb ---------- */

static const char *
jsonb_scalar_kind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvNull:
			return "null";
		default:
			return "a value";
	}
}

/*
 * numeric's storage format (src/backend/utils/adt/numeric.c keeps it
 * private; it is on disk, hence unchanged since PostgreSQL 9.1): after the
 * 4-byte varlena header, a uint16 header word. Short form (flag bits 10)
 * holds the sign, display scale and a 7-bit weight in it; long form (flag
 * bits 00 positive, 01 negative) has an int16 weight next; flag bits 11 are
 * the special values (NaN, infinities). Then the digits, int16 in base
 * 10000, the first weighted 10000^weight, without leading or trailing zero
 * digits (zero has none).
 */
#define NUMERIC_FLAG_MASK 0xC000
#define NUMERIC_FLAG_NEG 0x4000
#define NUMERIC_FLAG_SHORT 0x8000
#define NUMERIC_FLAG_SPECIAL 0xC000
#define NUMERIC_SHORT_SIGN 0x2000
#define NUMERIC_SHORT_WEIGHT_SIGN 0x0040
#define NUMERIC_SHORT_WEIGHT 0x003F

static const double powers_of_ten[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * Most observation numbers have few digits; read those directly. When the
 * digits (at most 4 base-10000 digits) form an integer m <= 2^53 and the
 * decimal exponent e is within [-22, 22], m and 10^|e| are exact doubles and
 * m * 10^e (or m / 10^-e) is one correctly rounded operation: exactly what
 * strtod gives for the number's decimal text (Clinger's fast path), without
 * numeric_out's string. Returns false for everything else.
 */
static bool
numeric_to_double_fast(Numeric num, double *value)
{
	const char *data = (const char *) num;
	uint16		header;
	bool		negative;
	int			weight;
	const char *digits;
	int			ndigits;
	uint64		mantissa = 0;
	int			exponent;

	if (VARATT_IS_EXTENDED(num))
		return false;
	memcpy(&header, data + VARHDRSZ, sizeof(header));
	if ((header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_SPECIAL)
		return false;
	if ((header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_SHORT)
	{
		negative = (header & NUMERIC_SHORT_SIGN) != 0;
		weight = (header & NUMERIC_SHORT_WEIGHT) |
			((header & NUMERIC_SHORT_WEIGHT_SIGN) ? ~NUMERIC_SHORT_WEIGHT : 0);
		digits = data + VARHDRSZ + sizeof(uint16);
	}
	else
	{
		int16		long_weight;

		negative = (header & NUMERIC_FLAG_MASK) == NUMERIC_FLAG_NEG;
		memcpy(&long_weight, data + VARHDRSZ + sizeof(uint16), sizeof(long_weight));
		weight = long_weight;
		digits = data + VARHDRSZ + sizeof(uint16) + sizeof(int16);
	}
	ndigits = (int) ((VARSIZE(num) - (Size) (digits - data)) / sizeof(int16));
	if (ndigits < 0 || ndigits > 4)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		digit;

		memcpy(&digit, digits + i * sizeof(int16), sizeof(digit));
		if (digit < 0 || digit > 9999)
			return false;
		mantissa = mantissa * 10000 + (uint64) digit;
	}
	if (mantissa > ((uint64) 1 << 53))
		return false;
	exponent = 4 * (weight - ndigits + 1);
	if (exponent < -22 || exponent > 22)
		return false;
	*value = exponent >= 0 ? (double) mantissa * powers_of_ten[exponent]
		: (double) mantissa / powers_of_ten[-exponent];
	if (negative)
		*value = -*value;
	return true;
}

/*
 * A jsonb number as the nearest double, as strtod reads numeric's exact
 * decimal text: correctly rounded, overflowing to infinity (1e400 is inf,
 * which the core reports as "value is infinite", as the CLI does).
 */
static double
numeric_to_double(Numeric num)
{
	char	   *text;
	double		value;

	if (numeric_to_double_fast(num, &value))
		return value;
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	value = strtod(text, NULL);
	pfree(text);
	return value;
}

static bool
has_high_bit(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if ((unsigned char) s[i] >= 0x80)
			return true;
	return false;
}

/* One jsonb value as the core's input value (v == NULL: the key is absent). */
static void
value_from_jsonb(const JsonbValue *v, predict_value *out, bool convert)
{
	out->number = 0.0;
	out->string = NULL;
	out->length = 0;
	if (v == NULL)
	{
		out->kind = PREDICT_VALUE_MISSING;
		return;
	}
	switch (v->type)
	{
		case jbvNull:
			out->kind = PREDICT_VALUE_MISSING;
			break;
		case jbvNumeric:
			out->kind = PREDICT_VALUE_NUMBER;
			out->number = numeric_to_double(v->val.numeric);
			break;
		case jbvBool:
			out->kind = PREDICT_VALUE_BOOL;
			out->number = v->val.boolean ? 1.0 : 0.0;
			break;
		case jbvString:
			out->kind = PREDICT_VALUE_STRING;
			out->string = v->val.string.val;
			out->length = (size_t) v->val.string.len;
			if (convert && has_high_bit(out->string, v->val.string.len))
			{
				out->string = pg_server_to_any(v->val.string.val,
											   v->val.string.len, PG_UTF8);
				out->length = strlen(out->string);
			}
			break;
		case jbvBinary:
			out->kind = PREDICT_VALUE_OTHER;
			out->length = JsonContainerIsArray(v->val.binary.data) ? 1 : 0;
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Objects this small are read in one pass over their pairs. */
#define ONE_PASS_MAX_PAIRS 64

/*
 * Read an object of at most ONE_PASS_MAX_PAIRS pairs in one pass: walk the
 * keys, then the values, in storage order (jsonb.h's JBE_ADVANCE_OFFSET, as
 * jsonb's own iterator does), and find each key's column with the model's
 * hash of column names. jsonb keeps one pair per key (the last), so this
 * gives what a lookup per column gives, without its binary searches. Keys
 * are compared as UTF-8 bytes: not for other database encodings.
 */
static bool
observation_read_one_pass(JsonbContainer *container, const model_entry *entry,
						  predict_value *values)
{
	uint32		npairs = JsonContainerSize(container);
	uint32		key_start[ONE_PASS_MAX_PAIRS];
	uint32		key_end[ONE_PASS_MAX_PAIRS];
	uint32		offset = 0;
	char	   *base;

	if (npairs > ONE_PASS_MAX_PAIRS || npairs > 2 * entry->ncolumns + 8)
		return false;
	base = (char *) &container->children[npairs * 2];
	for (uint32 i = 0; i < npairs; i++)
	{
		key_start[i] = offset;
		JBE_ADVANCE_OFFSET(offset, container->children[i]);
		key_end[i] = offset;
	}
	for (size_t i = 0; i < entry->ncolumns; i++)
		value_from_jsonb(NULL, &values[i], false);
	for (uint32 i = 0; i < npairs; i++)
	{
		JEntry		je = container->children[npairs + i];
		uint32		start = offset;
		long		column;
		JsonbValue	v;

		JBE_ADVANCE_OFFSET(offset, je);
		column = predict_model_find_column(entry->model, base + key_start[i],
										   key_end[i] - key_start[i]);
		if (column < 0)
			continue;
		if (JBE_ISNULL(je))
			v.type = jbvNull;
		else if (JBE_ISSTRING(je))
		{
			v.type = jbvString;
			v.val.string.val = base + start;
			v.val.string.len = (int) (offset - start);
		}
		else if (JBE_ISNUMERIC(je))
		{
			v.type = jbvNumeric;
			v.val.numeric = (Numeric) (base + INTALIGN(start));
		}
		else if (JBE_ISBOOL_TRUE(je) || JBE_ISBOOL_FALSE(je))
		{
			v.type = jbvBool;
			v.val.boolean = JBE_ISBOOL_TRUE(je);
		}
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = (JsonbContainer *) (base + INTALIGN(start));
			v.val.binary.len = (int) (offset - INTALIGN(start));
		}
		value_from_jsonb(&v, &values[column], false);
	}
	return true;
}

/*
 * Fill values (one per model column) from the top level of an observation
 * object. Strings point into the jsonb (or, in a non-UTF-8 database, into a
 * converted copy in the current, per-row memory context). Large objects are
 * read with a lookup per model column.
 */
static void
observation_read(Jsonb *obs, const model_entry *entry, predict_value *values)
{
	bool		convert = GetDatabaseEncoding() != PG_UTF8 &&
		GetDatabaseEncoding() != PG_SQL_ASCII;

	if (!JB_ROOT_IS_OBJECT(obs))
	{
		JsonbValue	scalar;
		const char *kind = "an array";

		if (JB_ROOT_IS_SCALAR(obs) && JsonbExtractScalar(&obs->root, &scalar))
			kind = jsonb_scalar_kind(&scalar);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observation: expected a JSON object, got %s", kind)));
	}
	if (!convert && observation_read_one_pass(&obs->root, entry, values))
		return;
	for (size_t i = 0; i < entry->ncolumns; i++)
	{
		JsonbValue	buf;

		value_from_jsonb(getKeyJsonValueFromContainer(&obs->root,
													  entry->column_names[i],
													  entry->column_lengths[i],
													  &buf),
						 &values[i], convert);
	}
}

static double
observation_score(Jsonb *obs, const model_entry *entry, predict_value *values)
{
	predict_error err;
	double		proba;

	observation_read(obs, entry, values);
	if (predict_score(entry->model, values, &proba, &err) != PREDICT_OK)
		report_predict_error(&err, entry);
	return proba;
}

/* ---------- scoring functions ---------- */

static resolved_model *
resolve_for_call(FunctionCallInfo fcinfo, scoring_state *state)
{
	if (PG_NARGS() > 1)
	{
		text	   *name = PG_GETARG_TEXT_PP(1);

		return scoring_resolve(state, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	}
	return scoring_resolve(state, NULL, 0);
}

/* predict_proba(obs jsonb [, model text]) returns float8 */
Datum
predict_proba(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved = resolve_for_call(fcinfo, state);

	PG_RETURN_FLOAT8(observation_score(obs, resolved->entry, state->values));
}

/* predict_class(obs jsonb [, model text]) returns boolean: proba >= threshold */
Datum
predict_class(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved = resolve_for_call(fcinfo, state);
	double		proba = observation_score(obs, resolved->entry, state->values);

	PG_RETURN_BOOL(predict_model_classify(resolved->entry->model, proba));
}

/* ---------- registry functions ---------- */

static char *
required_name(FunctionCallInfo fcinfo, int arg)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

static void
model_name_check(const char *name)
{
	if (!predict_model_name_valid(name, strlen(name)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name \"%s\"", name),
				 errdetail(PREDICT_MODEL_NAME_RULE)));
}

/* Run one registry statement (inside SPI) with up to three arguments. */
static int
registry_exec(const char *query, int nargs, Oid *types, Datum *values, int expected)
{
	int			ret = SPI_execute_with_args(query, nargs, types, values, NULL, false, 0);

	if (ret != expected)
		elog(ERROR, "registry query failed (%s): %s", SPI_result_code_string(ret), query);
	return ret;
}

/*
 * Serialize registry changes: SHARE ROW EXCLUSIVE conflicts with itself and
 * with ordinary writes, not with the scoring path's reads. Statements after
 * the lock take a new snapshot (READ COMMITTED) and see every change
 * committed before it, so versions are numbered without gaps or duplicates.
 */
static void
registry_lock(const char *schema_q)
{
	registry_exec(psprintf("LOCK TABLE %s.predict_models IN SHARE ROW EXCLUSIVE MODE",
						   schema_q), 0, NULL, NULL, SPI_OK_UTILITY);
}

/* Make version the active one of name (inserting the name when new). */
static void
registry_set_active(const char *schema_q, const char *name, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};

	registry_exec(psprintf(
		"INSERT INTO %s.predict_models (name, active_version, is_default)"
		" SELECT $1, $2, NOT EXISTS (SELECT FROM %s.predict_models d WHERE d.is_default)"
		" ON CONFLICT (name) DO UPDATE"
		" SET active_version = excluded.active_version, updated_at = pg_catalog.now()",
		schema_q, schema_q), 2, types, values, SPI_OK_INSERT);
}

static bool
registry_has_name(const char *schema_q, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	registry_exec(psprintf(
		"SELECT FROM %s.predict_model_versions v WHERE v.name OPERATOR(pg_catalog.=) $1"
		" LIMIT 1", schema_q), 1, types, values, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* predict_deploy(name text, model jsonb) returns integer: the new version */
Datum
predict_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = required_name(fcinfo, 0);
	char	   *schema_q = schema_quoted(function_schema(fcinfo));
	Jsonb	   *doc;
	Oid			types[3] = {TEXTOID, INT4OID, JSONBOID};
	Datum		values[3];
	bool		isnull;
	int32		version;

	model_name_check(name);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model document must not be null")));
	doc = PG_GETARG_JSONB_P(1);
	model_check_jsonb(doc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	registry_lock(schema_q);
	values[0] = CStringGetTextDatum(name);
	registry_exec(psprintf(
		"SELECT pg_catalog.max(v.version) FROM %s.predict_model_versions v"
		" WHERE v.name OPERATOR(pg_catalog.=) $1", schema_q),
				  1, types, values, SPI_OK_SELECT);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		version = 0;
	if (version == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" has reached the maximum version number", name)));
	version++;
	values[1] = Int32GetDatum(version);
	values[2] = JsonbPGetDatum(doc);
	registry_exec(psprintf(
		"INSERT INTO %s.predict_model_versions (name, version, model) VALUES ($1, $2, $3)",
		schema_q), 3, types, values, SPI_OK_INSERT);
	registry_set_active(schema_q, name, version);
	SPI_finish();
	PG_RETURN_INT32(version);
}

/* predict_activate(name text, version integer): roll back or forward */
Datum
predict_activate(PG_FUNCTION_ARGS)
{
	char	   *name = required_name(fcinfo, 0);
	char	   *schema_q = schema_quoted(function_schema(fcinfo));
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int32		version;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model version must not be null")));
	version = PG_GETARG_INT32(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	registry_lock(schema_q);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	registry_exec(psprintf(
		"SELECT v.model FROM %s.predict_model_versions v"
		" WHERE v.name OPERATOR(pg_catalog.=) $1 AND v.version OPERATOR(pg_catalog.=) $2",
		schema_q), 2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		if (!registry_has_name(schema_q, name))
			no_model_error(name);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	}
	/* a version stored by hand, not by predict_deploy, must still be valid */
	model_check_jsonb(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull)));
	registry_set_active(schema_q, name, version);
	SPI_finish();
	PG_RETURN_VOID();
}

/* predict_set_default(name text): the model of predict_proba(obs) and the trigger */
Datum
predict_set_default(PG_FUNCTION_ARGS)
{
	char	   *name = required_name(fcinfo, 0);
	char	   *schema_q = schema_quoted(function_schema(fcinfo));
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	registry_lock(schema_q);
	registry_exec(psprintf(
		"SELECT FROM %s.predict_models m WHERE m.name OPERATOR(pg_catalog.=) $1",
		schema_q), 1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		no_model_error(name);
	/* two statements: the unique index on is_default is checked row by row */
	registry_exec(psprintf(
		"UPDATE %s.predict_models m SET is_default = false, updated_at = pg_catalog.now()"
		" WHERE m.is_default AND m.name OPERATOR(pg_catalog.<>) $1",
		schema_q), 1, types, values, SPI_OK_UPDATE);
	registry_exec(psprintf(
		"UPDATE %s.predict_models m SET is_default = true, updated_at = pg_catalog.now()"
		" WHERE m.name OPERATOR(pg_catalog.=) $1 AND NOT m.is_default",
		schema_q), 1, types, values, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------- the predictions triggers ---------- */

static TriggerData *
trigger_check(FunctionCallInfo fcinfo, const char *function, bool insert)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() was not called by the trigger manager", function)));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		(insert ? !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) :
		 !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be fired BEFORE %s FOR EACH ROW",
						function, insert ? "INSERT" : "UPDATE")));
	return trigdata;
}

static int
trigger_column(Relation rel, const char *function, const char *column, Oid type)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			attnum = SPI_fnumber(tupdesc, column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s() needs a column \"%s\" in relation \"%s\"",
						function, column, RelationGetRelationName(rel))));
	if (TupleDescAttr(tupdesc, attnum - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" must be of type %s for %s()",
						column, RelationGetRelationName(rel), format_type_be(type),
						function)));
	return attnum;
}

/* Find the predictions columns of the trigger's relation (once per query). */
static void
trigger_columns(scoring_state *state, Relation rel, const char *function)
{
	if (state->relid == RelationGetRelid(rel))
		return;
	state->att_observation = trigger_column(rel, function, "observation", JSONBOID);
	state->att_proba = trigger_column(rel, function, "proba", FLOAT8OID);
	state->att_predicted_class = trigger_column(rel, function, "predicted_class", BOOLOID);
	state->att_model = trigger_column(rel, function, "model", TEXTOID);
	state->att_model_version = trigger_column(rel, function, "model_version", INT4OID);
	state->att_true_class = trigger_column(rel, function, "true_class", INT2OID);
	state->att_updated_at = trigger_column(rel, function, "updated_at", TIMESTAMPTZOID);
	state->relid = RelationGetRelid(rel);
}

/*
 * A row that arrives with its model_version (a restored row, or one copied
 * from another database) keeps its score only if it is that version's:
 * proba and predicted_class, when given, must be bit for bit what the
 * version computes for the observation, and are filled in when missing.
 * Anything else is refused, so that a restore cannot forge a prediction.
 */
static HeapTuple
predictions_verify(scoring_state *state, Relation rel, HeapTuple tuple, Jsonb *obs,
				   int32 version)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	resolved_model *resolved;
	Datum		model;
	Datum		given;
	bool		isnull;
	bool		proba_null;
	bool		class_null;
	double		proba;
	double		given_proba = 0.0;
	bool		predicted;
	bool		given_class = false;
	int			columns[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};

	model = heap_getattr(tuple, state->att_model, tupdesc, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a row of relation \"%s\" with a model_version must name its model",
						RelationGetRelationName(rel))));
	resolved = scoring_resolve_version(state, TextDatumGetCString(model), version);
	proba = observation_score(obs, resolved->entry, state->values);
	predicted = predict_model_classify(resolved->entry->model, proba);

	given = heap_getattr(tuple, state->att_proba, tupdesc, &proba_null);
	if (!proba_null)
		given_proba = DatumGetFloat8(given);
	given = heap_getattr(tuple, state->att_predicted_class, tupdesc, &class_null);
	if (!class_null)
		given_class = DatumGetBool(given);
	if ((!proba_null && memcmp(&given_proba, &proba, sizeof(double)) != 0) ||
		(!class_null && given_class != predicted))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("new row of relation \"%s\" does not carry the score of model \"%s\" version %d",
						RelationGetRelationName(rel), resolved->entry->name, version),
				 errdetail("The row has proba %s and predicted_class %s; the version computes %s and %s for its observation.",
						   proba_null ? "null" : float8out_internal(given_proba),
						   class_null ? "null" : (given_class ? "true" : "false"),
						   float8out_internal(proba), predicted ? "true" : "false"),
				 errhint("A row inserted with a model_version (as a restore does) keeps only the score that version computes; leave model_version out to have the row scored by the default model.")));
	if (!proba_null && !class_null)
		return tuple;
	columns[0] = state->att_proba;
	values[0] = Float8GetDatum(proba);
	columns[1] = state->att_predicted_class;
	values[1] = BoolGetDatum(predicted);
	return heap_modify_tuple_by_cols(tuple, tupdesc, 2, columns, values, nulls);
}

/*
 * BEFORE INSERT on predictions: score the observation with the default
 * model and fill proba, predicted_class, model and model_version, whatever
 * the client supplied for them; or, for a row that names its model_version,
 * check its score (predictions_verify).
 */
Datum
predictions_score(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "predictions_score", true);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	tuple = trigdata->tg_trigtuple;
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved;
	Datum		obs;
	Datum		version;
	bool		isnull;
	double		proba;
	int			columns[4];
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	trigger_columns(state, rel, "predictions_score");
	obs = heap_getattr(tuple, state->att_observation, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);	/* the NOT NULL constraint reports it */
	version = heap_getattr(tuple, state->att_model_version, tupdesc, &isnull);
	if (!isnull)
		return PointerGetDatum(predictions_verify(state, rel, tuple, DatumGetJsonbP(obs),
												  DatumGetInt32(version)));

	resolved = scoring_resolve(state, NULL, 0);
	proba = observation_score(DatumGetJsonbP(obs), resolved->entry, state->values);

	columns[0] = state->att_proba;
	values[0] = Float8GetDatum(proba);
	columns[1] = state->att_predicted_class;
	values[1] = BoolGetDatum(predict_model_classify(resolved->entry->model, proba));
	columns[2] = state->att_model;
	values[2] = resolved->name_text;
	columns[3] = state->att_model_version;
	values[3] = Int32GetDatum(resolved->entry->version);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, tupdesc, 4, columns,
													 values, nulls));
}

/*
 * BEFORE UPDATE on predictions: predictions are an audit log. Only
 * true_class may change; updated_at is set here. Any other change, to a
 * scored column or any other, is refused.
 */
Datum
predictions_protect(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "predictions_protect", false);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	HeapTuple	newtuple = trigdata->tg_newtuple;
	scoring_state *state = scoring_state_get(fcinfo);
	int			columns[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	trigger_columns(state, rel, "predictions_protect");
	for (int attnum = 1; attnum <= tupdesc->natts; attnum++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
		bool		oldnull;
		bool		newnull;
		Datum		oldvalue;
		Datum		newvalue;

		if (att->attisdropped || attnum == state->att_true_class ||
			attnum == state->att_updated_at)
			continue;
		oldvalue = heap_getattr(oldtuple, attnum, tupdesc, &oldnull);
		newvalue = heap_getattr(newtuple, attnum, tupdesc, &newnull);
		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldvalue, newvalue, att->attbyval, att->attlen)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("column \"%s\" of relation \"%s\" cannot be changed",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errdetail("Predictions are an audit log: only true_class can be updated.")));
	}
	columns[0] = state->att_updated_at;
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, tupdesc, 1, columns,
													 values, nulls));
}
