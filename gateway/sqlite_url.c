/*
 * sqlite_url.c - the file a sqlite: DATABASE_URL names.
 */
#include "backend.h"
#include "predict.h"

#include <stdio.h>
#include <string.h>

/*
 * The file of a sqlite: URL, read as peewee's db_url does: sqlite:///x.db is
 * x.db relative to the working directory, sqlite:////abs/x.db is /abs/x.db.
 * Percent-escapes are decoded. Refused: any other form (sqlite:x.db,
 * sqlite://host/x.db), no path, a query string, :memory: (each worker would
 * have its own empty database).
 */
bool
sqlite_url_path(const char *url, char *path, size_t size, char *msg, size_t msgsize)
{
	static const char usage[] = "use sqlite:///relative/path.db (relative to the working "
		"directory) or sqlite:////absolute/path.db";
	const char *p;
	size_t		n = 0;

	if (strncmp(url, "sqlite:///", 10) != 0 || url[10] == '\0')
	{
		snprintf(msg, msgsize, "DATABASE_URL \"%s\" is not a SQLite URL the gateway reads: %s",
				 url, usage);
		return false;
	}
	if (strpbrk(url, "?#") != NULL)
	{
		snprintf(msg, msgsize, "DATABASE_URL \"%s\": SQLite URLs take no parameters: %s",
				 url, usage);
		return false;
	}
	if (strcmp(url + 10, ":memory:") == 0)
	{
		snprintf(msg, msgsize, "DATABASE_URL \"%s\": an in-memory database would not be shared "
				 "by the gateway's workers: %s", url, usage);
		return false;
	}
	for (p = url + 10; *p != '\0'; p++)
	{
		char		c = *p;

		if (c == '%')
		{
			int			hi = predict_hex_value(p[1]);
			int			lo = hi < 0 ? -1 : predict_hex_value(p[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
			{
				snprintf(msg, msgsize, "DATABASE_URL \"%s\": bad percent-escape: %s", url, usage);
				return false;
			}
			c = (char) (hi * 16 + lo);
			p += 2;
		}
		if (n + 1 >= size)
		{
			snprintf(msg, msgsize, "DATABASE_URL: the SQLite file name is too long");
			return false;
		}
		path[n++] = c;
	}
	path[n] = '\0';
	if (path[n - 1] == '/')
	{
		snprintf(msg, msgsize, "DATABASE_URL \"%s\" names a directory, not a file: %s", url, usage);
		return false;
	}
	return true;
}
