/*
 * errors.c - the registry's and the predictions log's errors, raised from
 * their one definition, predict_internal.registry_error (src/pg/sql/
 * registry.sql), which managed mode raises them from too; and the C
 * functions that registry.sql replaced in 1.3.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "pg_predict.h"

PG_FUNCTION_INFO_V1(predict_document_check);

/*
 * Raise registry_error's error of kind (its other arguments: NULL where
 * name or relation is NULL, version <= 0, row_proba or row_class NULL).
 * Never returns.
 */
void
registry_error(const char *kind, const char *name, int32 version, const char *relation,
			   const registry_row_score *score)
{
	Oid			types[8] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, FLOAT8OID, BOOLOID, FLOAT8OID, BOOLOID};
	Datum		values[8];
	char		nulls[8] = {' ', 'n', 'n', 'n', 'n', 'n', 'n', 'n'};
	const char *fields[4];
	int			ret;

	values[0] = CStringGetTextDatum(kind);
	if (name != NULL)
		values[1] = CStringGetTextDatum(name), nulls[1] = ' ';
	if (version > 0)
		values[2] = Int32GetDatum(version), nulls[2] = ' ';
	if (relation != NULL)
		values[3] = CStringGetTextDatum(relation), nulls[3] = ' ';
	if (score != NULL)
	{
		if (score->has_row_proba)
			values[4] = Float8GetDatum(score->row_proba), nulls[4] = ' ';
		if (score->has_row_class)
			values[5] = BoolGetDatum(score->row_class), nulls[5] = ' ';
		values[6] = Float8GetDatum(score->proba), nulls[6] = ' ';
		values[7] = BoolGetDatum(score->predicted), nulls[7] = ' ';
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT e.sqlstate, e.message, e.detail, e.hint"
								" FROM predict_internal.registry_error($1, $2, $3, $4, $5, $6, $7, $8) e",
								8, types, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "predict_internal.registry_error(%s) failed: %s", kind, SPI_result_code_string(ret));
	for (int i = 0; i < 4; i++)
		fields[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
	if (fields[0] == NULL || strlen(fields[0]) != 5 || fields[1] == NULL)
		elog(ERROR, "predict_internal.registry_error has no error of kind \"%s\"", kind);
	/* the error's texts are copied by ereport; SPI is cleaned up by the abort */
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(fields[0][0], fields[0][1], fields[0][2], fields[0][3], fields[0][4])),
			 errmsg_internal("%s", fields[1]),
			 fields[2] ? errdetail_internal("%s", fields[2]) : 0,
			 fields[3] ? errhint("%s", fields[3]) : 0));
	pg_unreachable();
}

/*
 * predict_internal.document_check(model jsonb [, explain boolean]): that
 * the core loads the document (the extension's deploy and version_check,
 * registry.sql), and with explain that it can explain it.
 */
Datum
predict_document_check(PG_FUNCTION_ARGS)
{
	model_check_jsonb(PG_GETARG_JSONB_P(0), PG_NARGS() > 1 && PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

/*
 * The C registry functions of 1.0 to 1.2, which registry.sql replaced in
 * 1.3. Their symbols stay, so that the older install scripts still load (a
 * database created at 1.0 reaches 1.3 through them); called, in a database
 * whose extension was not updated, they say what to do. (Scoring, logging
 * and outcomes keep working there: the C scorers and triggers serve every
 * version.)
 */
static void
replaced_function(const char *function)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s() of this database's predict extension is older than the installed module",
					function),
			 errhint("Update the extension: ALTER EXTENSION predict UPDATE;")));
}

#define REPLACED_IN_1_3(function) \
	PG_FUNCTION_INFO_V1(function); \
	Datum function(PG_FUNCTION_ARGS) \
	{ \
		replaced_function(#function); \
		PG_RETURN_NULL(); \
	}

REPLACED_IN_1_3(predict_deploy)
REPLACED_IN_1_3(predict_activate)
REPLACED_IN_1_3(predict_set_default)
