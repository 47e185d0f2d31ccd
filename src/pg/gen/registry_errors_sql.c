/*
 * registry_errors_sql.c - writes PostgreSQL's predict_internal.registry_error
 * (the part build/sql/registry-errors.sql, mk/pg.mk) from the core's table
 * of the registry's and the log's errors (src/core/registry_errors.c), so
 * that both PostgreSQL modes raise the texts SQLite raises: one definition.
 *
 * A template's placeholders become format()'s positional arguments, in
 * registry_error's order; "null" stands for a NULL value, as in the core.
 */
#include <stdio.h>
#include <string.h>

#include "registry_errors.h"

static const char *const placeholders[] = {"name", "version", "relation", "row_proba", "row_class",
"proba", "class"};

/* template as a SQL string literal for format(): NULL as NULL */
static void
put_format(const char *template)
{
	if (template == NULL)
	{
		fputs("NULL", stdout);
		return;
	}
	fputs("format('", stdout);
	for (const char *p = template; *p != '\0'; p++)
	{
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		int			arg = 0;

		for (size_t i = 0; close != NULL && i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
			if (strlen(placeholders[i]) == (size_t) (close - p - 1) &&
				memcmp(placeholders[i], p + 1, (size_t) (close - p - 1)) == 0)
				arg = (int) i + 1;
		if (arg > 0)
		{
			printf("%%%d$s", arg);
			p = close;
		}
		else if (*p == '\'')
			fputs("''", stdout);
		else if (*p == '%')
			fputs("%%", stdout);
		else
			putchar(*p);
	}
	fputs("', VARIADIC v)", stdout);
}

int
main(void)
{
	puts("/*\n"
		 " * registry-errors.sql - made by src/pg/gen/registry_errors_sql.c from the\n"
		 " * core's table (src/core/registry_errors.c): do not edit.\n"
		 " *\n"
		 " * Every error of the registry and of the predictions log, by kind: its\n"
		 " * SQLSTATE, message, detail and hint (NULL: none). Both PostgreSQL modes\n"
		 " * raise them from here (registry.sql's registry_raise; the extension's C\n"
		 " * code through src/pg/errors.c), SQLite from the same table.\n"
		 " */\n"
		 "CREATE OR REPLACE FUNCTION predict_internal.registry_error(\n"
		 "    kind text, name text DEFAULT NULL, version integer DEFAULT NULL, relation text DEFAULT NULL,\n"
		 "    row_proba float8 DEFAULT NULL, row_class boolean DEFAULT NULL,\n"
		 "    proba float8 DEFAULT NULL, class boolean DEFAULT NULL,\n"
		 "    OUT sqlstate text, OUT message text, OUT detail text, OUT hint text)\n"
		 "LANGUAGE plpgsql STABLE PARALLEL SAFE\n"
		 "SET search_path = pg_catalog, pg_temp AS $$\n"
		 "DECLARE\n"
		 "    v text[] := ARRAY[coalesce(name, 'null'), coalesce(version::text, 'null'),\n"
		 "                      coalesce(relation, 'null'), coalesce(row_proba::text, 'null'),\n"
		 "                      coalesce(row_class::text, 'null'), coalesce(proba::text, 'null'),\n"
		 "                      coalesce(class::text, 'null')];\n"
		 "BEGIN\n"
		 "    CASE kind");
	for (int i = 0; i < PREDICT_REGISTRY_ERRORS; i++)
	{
		const predict_registry_error *e = &predict_registry_errors[i];

		printf("    WHEN '%s' THEN\n        sqlstate := '%s';\n        message := ", e->kind, e->sqlstate);
		put_format(e->message);
		fputs(";\n        detail := ", stdout);
		put_format(e->detail);
		fputs(";\n        hint := ", stdout);
		if (e->deploy_hint)
			fputs("predict_internal.deploy_hint(name)", stdout);
		else
			put_format(e->hint);
		puts(";");
	}
	puts("    END CASE;\n"
		 "END\n"
		 "$$;\n");
	return 0;
}
