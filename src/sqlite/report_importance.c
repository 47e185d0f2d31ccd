/*
 * report_importance.c - predict_report's importance (issue 20): of each
 * version, over the window's rows that have an explanation, each input
 * column's mean |contribution|, for the whole window and per week (Monday
 * 00:00 UTC), ranked, with each column's change from the version's previous
 * week that had explained rows. The same definition as PostgreSQL's
 * report_importance (src/pg/sql/report.sql). A log without an explanation
 * column has none: every version keeps its null and reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* The sums of one version, one week or the whole window, as SQLite groups them. */
static const char importance_sql[] =
	"WITH r AS (SELECT model_version AS ver, date(created_at, 'weekday 0', '-6 days') AS week, explanation AS x"
	"             FROM predictions WHERE model = ?1 AND explanation IS NOT NULL"
	"              AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at < ?3)),"
	" c AS (SELECT r.ver, r.week, j.key AS col, abs(j.value) AS a"
	"         FROM r, json_each(r.x, '$.contributions') AS j"
	"        WHERE json_type(r.x, '$.contributions') = 'object' AND j.type IN ('integer', 'real'))"
	" SELECT ver, NULL, NULL, count(*), min(json_extract(x, '$.space')), NULL FROM r GROUP BY ver"
	" UNION ALL SELECT ver, week, NULL, count(*), min(json_extract(x, '$.space')), NULL FROM r GROUP BY ver, week"
	" UNION ALL SELECT ver, NULL, col, count(*), NULL, sum(a) FROM c GROUP BY ver, col"
	" UNION ALL SELECT ver, week, col, count(*), NULL, sum(a) FROM c GROUP BY ver, week, col"
	" ORDER BY 1, 2, 3";

/* Larger means first; equal ones in the order of the names' bytes. */
static int
compare_means(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *) a;
	const cJSON *y = *(const cJSON *const *) b;
	double		mx = cJSON_GetObjectItemCaseSensitive(x, "mean_abs_contribution")->valuedouble;
	double		my = cJSON_GetObjectItemCaseSensitive(y, "mean_abs_contribution")->valuedouble;

	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(cJSON_GetObjectItemCaseSensitive(x, "column")->valuestring,
				  cJSON_GetObjectItemCaseSensitive(y, "column")->valuestring);
}

/* columns in rank order, each with its rank; false when out of memory. */
static bool
rank_columns(cJSON *columns)
{
	int			n = cJSON_GetArraySize(columns);
	cJSON	  **items = malloc(sizeof(cJSON *) * (n > 0 ? n : 1));

	if (items == NULL)
		return false;
	for (int i = 0; i < n; i++)
		items[i] = cJSON_DetachItemFromArray(columns, 0);
	qsort(items, n, sizeof(cJSON *), compare_means);
	for (int i = 0; i < n; i++)
	{
		cJSON_AddItemToObject(items[i], "rank", cJSON_CreateNumber(i + 1));
		cJSON_AddItemToArray(columns, items[i]);
	}
	free(items);
	return true;
}

/* A week's columns: each one's change from the previous week's (null without one). */
static void
add_changes(cJSON *columns, const cJSON *previous)
{
	for (cJSON *c = columns->child; c != NULL; c = c->next)
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(c, "column")->valuestring;
		const cJSON *p = NULL;

		for (const cJSON *e = previous ? previous->child : NULL; e != NULL && p == NULL; e = e->next)
			if (strcmp(cJSON_GetObjectItemCaseSensitive(e, "column")->valuestring, name) == 0)
				p = e;
		cJSON_AddItemToObject(c, "change", p == NULL ? cJSON_CreateNull() : cJSON_CreateNumber(
			cJSON_GetObjectItemCaseSensitive(c, "mean_abs_contribution")->valuedouble -
			cJSON_GetObjectItemCaseSensitive(p, "mean_abs_contribution")->valuedouble));
	}
}

/* One column's mean, unranked. */
static cJSON *
column_mean(const char *name, sqlite3_int64 n, double sum)
{
	cJSON	   *c = cJSON_CreateObject();

	cJSON_AddItemToObject(c, "column", cJSON_CreateString(name));
	cJSON_AddItemToObject(c, "mean_abs_contribution", cJSON_CreateNumber(sum / (double) n));
	return c;
}

/* A version's ranks and changes, once all its sums are read. */
static bool
finish_version(cJSON *imp)
{
	const cJSON *previous = NULL;

	if (!rank_columns(cJSON_GetObjectItemCaseSensitive(imp, "columns")))
		return false;
	for (cJSON *w = cJSON_GetObjectItemCaseSensitive(imp, "weekly")->child; w != NULL; w = w->next)
	{
		cJSON	   *columns = cJSON_GetObjectItemCaseSensitive(w, "columns");

		add_changes(columns, previous);
		if (!rank_columns(columns))
			return false;
		previous = columns;
	}
	return true;
}

/*
 * The importance of the versions that have explained rows, by version
 * number. The sums come ordered: per version, the whole window's rows and
 * columns, then each week's rows and columns.
 */
static bool
importance_by_version(sqlite3 *db, sqlite3_stmt *stmt, cJSON *out, char **msg)
{
	cJSON	   *imp = NULL;		/* the version being read */
	cJSON	   *week = NULL;	/* its week being read */
	sqlite3_int64 ver = 0;
	int			rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
	{
		sqlite3_int64 number = sqlite3_column_int64(stmt, 0);
		const char *day = (const char *) sqlite3_column_text(stmt, 1);
		const char *col = (const char *) sqlite3_column_text(stmt, 2);
		sqlite3_int64 n = sqlite3_column_int64(stmt, 3);

		if (imp == NULL || number != ver)
		{
			char		key[32];

			if (imp != NULL && !finish_version(imp))
				return false;
			ver = number;
			week = NULL;
			imp = cJSON_CreateObject();
			snprintf(key, sizeof(key), "%lld", (long long) ver);
			cJSON_AddItemToObject(out, key, imp);
			cJSON_AddItemToObject(imp, "rows", cJSON_CreateNumber((double) n));
			cJSON_AddItemToObject(imp, "space", sqlite3_column_type(stmt, 4) == SQLITE_NULL ? cJSON_CreateNull()
								  : cJSON_CreateString((const char *) sqlite3_column_text(stmt, 4)));
			cJSON_AddItemToObject(imp, "columns", cJSON_CreateArray());
			cJSON_AddItemToObject(imp, "weekly", cJSON_CreateArray());
		}
		else if (day == NULL)
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(imp, "columns"),
								 column_mean(col, n, sqlite3_column_double(stmt, 5)));
		else if (col == NULL)
		{
			week = cJSON_CreateObject();
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(imp, "weekly"), week);
			cJSON_AddItemToObject(week, "week", cJSON_CreateString(day));
			cJSON_AddItemToObject(week, "rows", cJSON_CreateNumber((double) n));
			cJSON_AddItemToObject(week, "columns", cJSON_CreateArray());
		}
		else if (week != NULL)
			cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(week, "columns"),
								 column_mean(col, n, sqlite3_column_double(stmt, 5)));
	}
	if (rc != SQLITE_DONE)
	{
		*msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		return false;
	}
	return imp == NULL || finish_version(imp);
}

/*
 * Each version of versions (predict_report's) gets its importance where it
 * has explained rows; the others keep importance null and its reason.
 * False with *msg on an error (*msg NULL: out of memory).
 */
bool
report_add_importance(sqlite3 *db, const char *model, const char *since, const char *until,
					  cJSON *versions, char **msg)
{
	sqlite3_int64 has_column = 0;
	sqlite3_stmt *stmt = NULL;
	cJSON	   *found;
	bool		ok;

	if (query_one(db, "SELECT count(*) FROM pragma_table_info('predictions') WHERE name = 'explanation'",
				  NULL, &has_column, NULL) != SQLITE_ROW)
	{
		*msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		return false;
	}
	if (has_column == 0)
		return true;
	if (sqlite3_prepare_v2(db, importance_sql, -1, &stmt, NULL) != SQLITE_OK)
	{
		*msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		return false;
	}
	sqlite3_bind_text(stmt, 1, model, -1, SQLITE_STATIC);
	if (since)
		sqlite3_bind_text(stmt, 2, since, -1, SQLITE_STATIC);
	if (until)
		sqlite3_bind_text(stmt, 3, until, -1, SQLITE_STATIC);
	found = cJSON_CreateObject();
	ok = found != NULL && importance_by_version(db, stmt, found, msg);
	sqlite3_finalize(stmt);
	for (cJSON *v = ok ? versions->child : NULL; v != NULL; v = v->next)
	{
		char		key[32];
		cJSON	   *imp;

		snprintf(key, sizeof(key), "%lld", (long long) cJSON_GetObjectItemCaseSensitive(v, "version")->valuedouble);
		if ((imp = cJSON_DetachItemFromObjectCaseSensitive(found, key)) == NULL)
			continue;
		cJSON_ReplaceItemInObjectCaseSensitive(v, "importance", imp);
		cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "reasons"), "importance");
	}
	cJSON_Delete(found);
	return ok;
}
