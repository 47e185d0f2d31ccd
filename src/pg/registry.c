/*
 * registry.c - reading the model registry for a call (model_resolve,
 * through plans prepared once per backend), with the rules it follows: the
 * registry's owner, fixed schema-qualified queries, a restore that is still
 * loading. Changing the registry is SQL's, the same in both PostgreSQL
 * modes (src/pg/sql/registry.sql).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "predict.h"
#include "pg_predict.h"

/* ---------- reading the registry ---------- */

/* The registry queries, prepared once per backend for the extension's schema. */
typedef struct registry_plans
{
	char	   *schema;			/* quoted schema name the plans were made for */
	bool		has_explain;	/* and whether its versions have explain (1.5) */
	SPIPlanPtr	resolve_named;
	SPIPlanPtr	resolve_default;
	SPIPlanPtr	resolve_version;
	SPIPlanPtr	fetch_document;
	SPIPlanPtr	registry_empty;
} registry_plans;

static registry_plans plans;

/* The extension's schema: the one the calling function lives in. */
Oid
function_schema(FunctionCallInfo fcinfo)
{
	Oid			schema = get_func_namespace(fcinfo->flinfo->fn_oid);

	if (!OidIsValid(schema))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	return schema;
}

char *
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

/*
 * Whether predict_model_versions in schema has the column explain: a
 * database whose extension is not updated to 1.5 yet has not, and its
 * versions explain nothing. Asked on each lookup (a syscache probe), so
 * that ALTER EXTENSION UPDATE is seen by the sessions already open.
 */
static bool
versions_have_explain(Oid schema)
{
	Oid			relid = get_relname_relid("predict_model_versions", schema);

	return OidIsValid(relid) && get_attnum(relid, "explain") != InvalidAttrNumber;
}

/* Prepare the scoring path's registry queries for schema (inside SPI). */
static void
registry_plans_prepare(const char *schema, bool has_explain)
{
	Oid			text_arg[1] = {TEXTOID};
	Oid			version_args[2] = {TEXTOID, INT4OID};

	if (plans.schema != NULL && strcmp(plans.schema, schema) == 0 &&
		plans.has_explain == has_explain)
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
		"SELECT v.model, %s FROM %s.predict_model_versions v"
		" WHERE v.name OPERATOR(pg_catalog.=) $1"
		" AND v.version OPERATOR(pg_catalog.=) $2", has_explain ? "v.explain" : "false",
		schema), 2, version_args);
	plans.registry_empty = prepare_kept(psprintf(
		"SELECT NOT EXISTS (SELECT FROM %s.predict_model_versions)", schema), 0, NULL);
	plans.schema = MemoryContextStrdup(TopMemoryContext, schema);
	plans.has_explain = has_explain;
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
model_entry *
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
	registry_plans_prepare(schema_q, versions_have_explain(schema));
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
		registry_error("unknown version", requested, wanted, NULL, NULL);
	if (SPI_processed == 0)
		registry_error(requested == NULL ? "no default model" : "unknown model", requested, 0,
					   NULL, NULL);

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
															 1, &isnull)),
								DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2,
														   &isnull)));
	}
	if (wanted <= 0)
		model_cache_supersede(name, entry);

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return entry;
}
