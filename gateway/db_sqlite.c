/*
 * db_sqlite.c - the SQLite backend, the gateway's embedded default
 * (DATABASE_URL=sqlite:///predictions.db): the same schema and the same HTTP
 * behaviour as the PostgreSQL backend, in one database file.
 *
 * The schema (schema_sql below) has PostgreSQL's table and column names and
 * constraints: the registry tables predict_model_versions and predict_models
 * (created by the predict extension's predict_deploy, src/sqlite/sqlite_predict.c,
 * which is linked into the gateway and registered on every connection) and
 * the predictions log, a STRICT table, so that types are enforced as in
 * PostgreSQL. Timestamps are ISO 8601 UTC text with milliseconds (SQLite's
 * clock), shown with six digits as PostgreSQL's are.
 *
 * Scoring. A SQLite trigger cannot rewrite the row being inserted, so the
 * INSERT computes the scored columns itself, with the extension's functions,
 * in the same statement:
 *
 *   INSERT INTO predictions (observation_id, observation, proba,
 *                            predicted_class, model, model_version)
 *   SELECT ?1, ?2, predict_proba(?2), predict_class(?2),
 *          predict_default_model(), predict_model_version() ...
 *
 * and the BEFORE INSERT trigger predictions_score refuses any row whose
 * proba, predicted_class, model or model_version is not what the default
 * model gives for its observation (so a row inserted by other means than
 * the gateway cannot carry a made-up score). predictions_protect refuses an
 * UPDATE of anything but true_class and updated_at, with PostgreSQL's
 * message; predictions_touch sets updated_at when an UPDATE does not.
 *
 * Sessions. Each worker thread has its own connection (opened on its first
 * request, with sqlite3_predict_init registering the scoring functions),
 * its statements prepared once. Every statement is one autocommitted
 * statement, as with PostgreSQL: a write statement begins as a write
 * transaction (it waits for the write lock through the busy handler and
 * then reads the newest data), so it never meets SQLITE_BUSY_SNAPSHOT, and
 * an error leaves no transaction open. Within the process writers take
 * write_lock first (SQLite has one writer at a time: better a mutex wait
 * than polling), so the busy handler only waits for other processes
 * (several gateways, or a sqlite3 shell, on the same file); it sleeps in
 * short steps until the request's deadline, and the progress handler
 * interrupts a statement still running at the deadline: a request never
 * takes longer than PREDICT_DB_TIMEOUT_MS and gets 503 then.
 *
 * Durability. The file is in WAL mode and every connection runs with
 * synchronous = FULL: a commit returns after the WAL is flushed to disk.
 * The row of /predict is copied when INSERT ... RETURNING hands it over
 * and reported only after the statement has finished, i.e. committed.
 *
 * Idempotent retry. The observation is stored in a canonical form (no
 * whitespace, keys sorted, the last of duplicate keys kept, numbers as the
 * client wrote them). A stored id is compared by canonical forms in which
 * numbers are also normalised (22, 22.0 and 2.2e1 are equal), which is
 * jsonb's equality.
 *
 * Start-up (sqlite_setup) creates the file, switches it to WAL, creates the
 * schema and deploys the first model in one IMMEDIATE transaction, so that
 * gateways starting together on a new file do it once.
 */
#define _GNU_SOURCE				/* pthread_mutex_clocklock */

#include "backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"

/* src/sqlite/sqlite_predict.c, linked in (compiled with SQLITE_CORE). */
int			sqlite3_predict_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);

#define BACKOFF_FIRST_US 100000
#define BACKOFF_MAX_US 1000000
/* Start-up waits this long for another process's write (another gateway's set-up). */
#define SETUP_TIMEOUT_US (60 * 1000000LL)
/* Virtual machine instructions between two deadline checks. */
#define PROGRESS_INTERVAL 1000
/* Nesting depth of observations (cJSON already refuses more than 1000). */
#define CANON_MAX_DEPTH 1024
#define TIMESTAMP_SIZE 40

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
#define ISO_GLOB "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'"

/*
 * The predictions log. The registry tables come from predict_deploy (the
 * extension creates them on first use). Everything is IF NOT EXISTS, run
 * inside the set-up transaction.
 */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS predictions ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" observation_id INTEGER NOT NULL UNIQUE,"
	" observation TEXT NOT NULL CHECK (json_valid(observation)),"
	" proba REAL NOT NULL,"
	" predicted_class INTEGER NOT NULL CHECK (predicted_class IN (0, 1)),"
	" true_class INTEGER CHECK (true_class IN (0, 1)),"
	" model TEXT NOT NULL,"
	" model_version INTEGER NOT NULL,"
	" created_at TEXT NOT NULL DEFAULT (" NOW ") CHECK (created_at GLOB " ISO_GLOB "),"
	" updated_at TEXT NOT NULL DEFAULT (" NOW ") CHECK (updated_at GLOB " ISO_GLOB ")"
	") STRICT;"
	/* a row must carry the default model's score of its observation */
	"CREATE TRIGGER IF NOT EXISTS predictions_score BEFORE INSERT ON predictions"
	" WHEN NEW.proba IS NOT predict_proba(NEW.observation)"
	" OR NEW.predicted_class IS NOT predict_class(NEW.observation)"
	" OR NEW.model IS NOT predict_default_model()"
	" OR NEW.model_version IS NOT predict_model_version()"
	" BEGIN SELECT RAISE(ABORT, 'predictions: proba, predicted_class, model and model_version"
	" must be the default model''s: insert predict_proba(observation), predict_class(observation),"
	" predict_default_model(), predict_model_version()'); END;"
	/* predictions are an audit log: only true_class (and updated_at) change */
	"CREATE TRIGGER IF NOT EXISTS predictions_protect BEFORE UPDATE ON predictions BEGIN"
	" SELECT RAISE(ABORT, 'column \"id\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.id IS NOT OLD.id;"
	" SELECT RAISE(ABORT, 'column \"observation_id\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.observation_id IS NOT OLD.observation_id;"
	" SELECT RAISE(ABORT, 'column \"observation\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.observation IS NOT OLD.observation;"
	" SELECT RAISE(ABORT, 'column \"proba\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.proba IS NOT OLD.proba;"
	" SELECT RAISE(ABORT, 'column \"predicted_class\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.predicted_class IS NOT OLD.predicted_class;"
	" SELECT RAISE(ABORT, 'column \"model\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.model IS NOT OLD.model;"
	" SELECT RAISE(ABORT, 'column \"model_version\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.model_version IS NOT OLD.model_version;"
	" SELECT RAISE(ABORT, 'column \"created_at\" of relation \"predictions\" cannot be changed')"
	"  WHERE NEW.created_at IS NOT OLD.created_at;"
	" END;"
	/* an UPDATE that leaves updated_at alone (SQL typed by hand) still sets it */
	"CREATE TRIGGER IF NOT EXISTS predictions_touch AFTER UPDATE ON predictions"
	" WHEN NEW.updated_at IS OLD.updated_at AND OLD.updated_at IS NOT " NOW
	" BEGIN UPDATE predictions SET updated_at = " NOW " WHERE id = NEW.id; END;";

/* The row's columns (/predict does not fetch the observation back). */
#define ROW_COLUMNS \
	"id, observation_id, observation, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at"
#define PREDICT_COLUMNS \
	"id, observation_id, proba, predicted_class, true_class, " \
	"model, model_version, created_at, updated_at"

enum
{
	STMT_PREDICT = 0,
	STMT_EXISTING,
	STMT_UPDATE,
	STMT_GET,
	STMT_LIST,
	STMT_READY,
	STMT_REPORT,
	NSTATEMENTS
};

typedef struct sqlite_statement
{
	const char *name;
	const char *sql;
} sqlite_statement;

/*
 * predict: insert unless the id is there; the WHERE is evaluated before the
 * scoring functions, so a retry neither scores nor writes. No row back
 * means the id is stored: STMT_EXISTING then fetches it for the comparison.
 */
static const sqlite_statement statements[NSTATEMENTS] = {
	[STMT_PREDICT] = {"predict",
		"INSERT INTO predictions (observation_id, observation, proba, predicted_class,"
		" model, model_version)"
		" SELECT ?1, ?2, predict_proba(?2), predict_class(?2), predict_default_model(),"
		" predict_model_version()"
		" WHERE NOT EXISTS (SELECT 1 FROM predictions WHERE observation_id = ?1)"
	" RETURNING " PREDICT_COLUMNS},
	[STMT_EXISTING] = {"predict_existing",
	"SELECT " ROW_COLUMNS " FROM predictions WHERE observation_id = ?1"},
	[STMT_UPDATE] = {"update",
		"UPDATE predictions SET true_class = ?2, updated_at = " NOW
	" WHERE observation_id = ?1 RETURNING " ROW_COLUMNS},
	[STMT_GET] = {"get",
	"SELECT " ROW_COLUMNS " FROM predictions WHERE observation_id = ?1"},
	[STMT_LIST] = {"list",
	"SELECT " ROW_COLUMNS " FROM predictions WHERE id > ?1 ORDER BY id LIMIT ?2"},
	[STMT_READY] = {"ready",
	"SELECT EXISTS (SELECT 1 FROM predict_models WHERE is_default = 1)"},
	/* the monitoring report, computed by src/sqlite/sqlite_predict.c */
	[STMT_REPORT] = {"report", "SELECT predict_report(NULL, ?1, ?2)"},
};

/*
 * SQLite result code -> outcome, first match wins: an extended code, or a
 * primary code (matching all its extended codes). A plain SQLITE_ERROR
 * from the /predict INSERT is handled before this table: there it is the
 * scoring core refusing the observation (see classify_scoring_error).
 */
typedef struct sqlite_rule
{
	int			code;
	bool		extended;
	db_status	status;
	db_error_kind kind;
	bool		show_message;	/* SQLite's message may reach the client */
	bool		reconnect;		/* close the connection, open a new one next time */
	const char *meaning;
} sqlite_rule;

static const sqlite_rule sqlite_rules[] = {
	{SQLITE_CONSTRAINT_UNIQUE, true, DB_CONFLICT, DBERR_DATA, false, false, "unique violation"},
	{SQLITE_CONSTRAINT_CHECK, true, DB_INVALID, DBERR_DATA, true, false, "check violation"},
	{SQLITE_CONSTRAINT_NOTNULL, true, DB_INVALID, DBERR_DATA, true, false, "not null violation"},
	{SQLITE_CONSTRAINT_DATATYPE, true, DB_INVALID, DBERR_DATA, true, false, "datatype mismatch"},
	{SQLITE_TOOBIG, false, DB_INVALID, DBERR_DATA, true, false, "too big"},
	{SQLITE_BUSY, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database busy"},
	{SQLITE_LOCKED, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database busy"},
	{SQLITE_INTERRUPT, false, DB_UNAVAILABLE, DBERR_TIMEOUT, false, false, "database timeout"},
	{SQLITE_NOMEM, false, DB_UNAVAILABLE, DBERR_OTHER, false, false, "out of memory"},
	{SQLITE_FULL, false, DB_UNAVAILABLE, DBERR_OTHER, false, false, "disk full"},
	{SQLITE_IOERR, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_CANTOPEN, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_PROTOCOL, false, DB_UNAVAILABLE, DBERR_CONNECTION, false, true, "database unavailable"},
	{SQLITE_READONLY, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database is read-only"},
	{SQLITE_CORRUPT, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database unavailable"},
	{SQLITE_NOTADB, false, DB_UNAVAILABLE, DBERR_OTHER, false, true, "database unavailable"},
	{0, false, DB_INTERNAL, DBERR_OTHER, false, false, "internal error"},
};

struct db_session
{
	const gateway_config *cfg;
	char	   *path;
	sqlite3    *db;
	sqlite3_stmt *stmts[NSTATEMENTS];
	atomic_bool connected;		/* read by /metrics from other threads */
	int			failures;		/* consecutive failed connections */
	int64_t		retry_at;		/* no connection attempt before this */
	int64_t		deadline;		/* of the call in progress (busy, progress handlers) */
	strbuf		stored;			/* canonical observation, bound to the INSERT */
	strbuf		compare[2];		/* canonical forms compared on a retry */
	struct canon_buffers *canon;	/* canonicalisation's working memory */
};

/* Only one writer at a time in SQLite: the process's writers queue here. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------- DATABASE_URL ---------- */

/* The value of one hexadecimal digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

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
			int			hi = hex_value(p[1]);
			int			lo = hi < 0 ? -1 : hex_value(p[2]);

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

/* ---------- canonical JSON ---------- */

/*
 * The observation text has been checked by body.c (RFC 8259, UTF-8, no
 * \u0000, no lone surrogates) or was stored by this file; the parser still
 * refuses anything else rather than trusting it.
 *
 * Work is linear in the text, whatever the nesting: the canonical bytes are
 * written once, in parsing order, into an arena, and each value is a chain
 * of pieces of the arena; an object reorders its members by relinking their
 * chains, not by copying bytes, and the top chain is copied out once.
 * (Building each object in a buffer of its own and copying it into its
 * parent's would cost depth x size: 1000 nested objects around a long
 * string.) Adjacent pieces merge, so there are about as many pieces as
 * object members.
 */
typedef struct canon_piece
{
	size_t		off;			/* in the arena */
	size_t		len;
	long		next;			/* index of the next piece, or -1 */
} canon_piece;

typedef struct canon_chain
{
	long		head;
	long		tail;			/* -1, -1: empty */
} canon_chain;

/* What canonicalisation reuses from one call to the next (one per session). */
typedef struct canon_buffers
{
	strbuf		arena;
	strbuf		scratch;		/* a string being decoded */
	canon_piece *pieces;
	size_t		npieces;
	size_t		cap;
} canon_buffers;

typedef struct canon_state
{
	const char *s;
	size_t		len;
	size_t		pos;
	int			depth;
	bool		numbers_by_value;	/* normalise numbers (comparison form) */
	bool		failed;			/* out of memory */
	canon_buffers *b;
} canon_state;

/* One member of an object: its chain, and its encoded key in the arena for sorting. */
typedef struct canon_member
{
	size_t		key_off;
	size_t		key_len;
	canon_chain chain;
	size_t		index;			/* order in the object: the last of equal keys wins */
	const char *arena;			/* the arena's bytes, for sorting */
} canon_member;

static bool canon_value(canon_state *c, canon_chain *ch);

/* Add the arena's bytes from off to its end to ch (merged into its last piece if adjacent). */
static void
chain_mark(canon_state *c, canon_chain *ch, size_t off)
{
	canon_buffers *b = c->b;
	size_t		n = b->arena.len - off;
	canon_piece *p;

	if (b->arena.failed)
	{
		c->failed = true;
		return;
	}
	if (n == 0)
		return;
	if (ch->tail >= 0 && b->pieces[ch->tail].off + b->pieces[ch->tail].len == off)
	{
		b->pieces[ch->tail].len += n;
		return;
	}
	if (b->npieces == b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 256;
		canon_piece *bigger = realloc(b->pieces, cap * sizeof(*bigger));

		if (bigger == NULL)
		{
			c->failed = true;
			return;
		}
		b->pieces = bigger;
		b->cap = cap;
	}
	p = &b->pieces[b->npieces];
	p->off = off;
	p->len = n;
	p->next = -1;
	if (ch->tail >= 0)
		b->pieces[ch->tail].next = (long) b->npieces;
	else
		ch->head = (long) b->npieces;
	ch->tail = (long) b->npieces;
	b->npieces++;
}

/* Write n bytes at the arena's end and add them to ch. */
static void
chain_put(canon_state *c, canon_chain *ch, const char *text, size_t n)
{
	size_t		off = c->b->arena.len;

	sb_append(&c->b->arena, text, n);
	chain_mark(c, ch, off);
}

/* Append chain tail_chain to ch. */
static void
chain_join(canon_state *c, canon_chain *ch, canon_chain tail_chain)
{
	if (tail_chain.head < 0)
		return;
	if (ch->tail < 0)
		*ch = tail_chain;
	else
	{
		c->b->pieces[ch->tail].next = tail_chain.head;
		ch->tail = tail_chain.tail;
	}
}

static void
canon_skip_space(canon_state *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
							   c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
		c->pos++;
}

/* Four hexadecimal digits at s, or -1. */
static long
hex4(const char *s)
{
	long		v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			d = hex_value(s[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Append code point cp as UTF-8. */
static void
put_utf8(strbuf *sb, long cp)
{
	char		b[4];
	size_t		n;

	if (cp < 0x80)
	{
		b[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (char) (0xc0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3f));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (char) (0xe0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char) (0x80 | (cp & 0x3f));
		n = 3;
	}
	else
	{
		b[0] = (char) (0xf0 | (cp >> 18));
		b[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char) (0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_append(sb, b, n);
}

/*
 * A string at c->pos (on its '"'), decoded, then written back with minimal
 * escapes (sb_json_string's) at the arena's end and added to ch.
 */
static bool
canon_string(canon_state *c, canon_chain *ch)
{
	strbuf	   *d = &c->b->scratch;
	size_t		start;

	d->len = 0;
	start = ++c->pos;
	while (c->pos < c->len)
	{
		unsigned char byte = (unsigned char) c->s[c->pos];
		char		e;

		if (byte == '"')
		{
			size_t		off = c->b->arena.len;

			sb_append(d, c->s + start, c->pos - start);
			c->pos++;
			if (d->failed)
				return !(c->failed = true);
			sb_json_string(&c->b->arena, d->data != NULL ? d->data : "", d->len);
			chain_mark(c, ch, off);
			return !c->failed;
		}
		if (byte < 0x20)
			return false;
		if (byte != '\\')
		{
			c->pos++;
			continue;
		}
		sb_append(d, c->s + start, c->pos - start);
		if (c->pos + 1 >= c->len)
			return false;
		e = c->s[c->pos + 1];
		c->pos += 2;
		switch (e)
		{
			case '"':
			case '\\':
			case '/':
				sb_append(d, &e, 1);
				break;
			case 'b':
				sb_append(d, "\b", 1);
				break;
			case 'f':
				sb_append(d, "\f", 1);
				break;
			case 'n':
				sb_append(d, "\n", 1);
				break;
			case 'r':
				sb_append(d, "\r", 1);
				break;
			case 't':
				sb_append(d, "\t", 1);
				break;
			case 'u':
				{
					long		cp = c->pos + 4 <= c->len ? hex4(c->s + c->pos) : -1;

					if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff))
						return false;	/* \u0000, a bad escape or a lone low surrogate */
					c->pos += 4;
					if (cp >= 0xd800 && cp <= 0xdbff)
					{
						long		low = c->pos + 6 <= c->len && c->s[c->pos] == '\\' &&
							c->s[c->pos + 1] == 'u' ? hex4(c->s + c->pos + 2) : -1;

						if (low < 0xdc00 || low > 0xdfff)
							return false;
						cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
						c->pos += 6;
					}
					put_utf8(d, cp);
					break;
				}
			default:
				return false;
		}
		start = c->pos;
	}
	return false;
}

/* Whether s[i] is a decimal digit (within len). */
static bool
is_digit_at(const char *s, size_t len, size_t i)
{
	return i < len && s[i] >= '0' && s[i] <= '9';
}

/*
 * A number: as written, or (numbers_by_value) as [-]<digits>e<exponent>
 * with no leading or trailing zero digit, "0" for zero, so that numerically
 * equal numbers are equal text. An exponent too large to compute with is
 * kept as written (equal only to the same text).
 */
static bool
canon_number(canon_state *c, canon_chain *ch)
{
	const char *s = c->s;
	strbuf	   *arena = &c->b->arena;
	size_t		start = c->pos,
				int_start,
				int_end,
				frac_start = 0,
				frac_end = 0,
				i = c->pos,
				off = arena->len;
	bool		negative = false;
	long long	exponent = 0;
	bool		exponent_ok = true;

	if (i < c->len && s[i] == '-')
	{
		negative = true;
		i++;
	}
	int_start = i;
	while (is_digit_at(s, c->len, i))
		i++;
	int_end = i;
	if (int_end == int_start || (s[int_start] == '0' && int_end - int_start > 1))
		return false;
	if (i < c->len && s[i] == '.')
	{
		frac_start = ++i;
		while (is_digit_at(s, c->len, i))
			i++;
		frac_end = i;
		if (frac_end == frac_start)
			return false;
	}
	if (i < c->len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		exp_negative = false;
		size_t		digits;

		i++;
		if (i < c->len && (s[i] == '+' || s[i] == '-'))
			exp_negative = s[i++] == '-';
		digits = i;
		while (is_digit_at(s, c->len, i))
		{
			if (exponent > 100000000000000LL)
				exponent_ok = false;
			else
				exponent = exponent * 10 + (s[i] - '0');
			i++;
		}
		if (i == digits)
			return false;
		if (exp_negative)
			exponent = -exponent;
	}
	c->pos = i;
	if (!c->numbers_by_value)
		sb_append(arena, s + start, i - start);
	else if (!exponent_ok)
	{
		sb_append(arena, "x", 1);
		sb_append(arena, s + start, i - start);
	}
	else
	{
		/*
		 * The digits D = integer digits then fraction digits; the value is
		 * D x 10^(exponent - fraction length). Drop D's leading zeros, and
		 * its trailing zeros into the exponent.
		 */
		size_t		int_len = int_end - int_start;
		size_t		frac_len = frac_end - frac_start;
		size_t		n = int_len + frac_len;
		size_t		first = 0,
					last = n;
		size_t		k;

#define DIGIT(k) ((k) < int_len ? s[int_start + (k)] : s[frac_start + (k) - int_len])
		while (first < n && DIGIT(first) == '0')
			first++;
		if (first == n)
			sb_append(arena, "0", 1);
		else
		{
			while (DIGIT(last - 1) == '0')
				last--;
			if (negative)
				sb_append(arena, "-", 1);
			for (k = first; k < last; k++)
			{
				char		digit = DIGIT(k);

				sb_append(arena, &digit, 1);
			}
			sb_printf(arena, "e%lld", exponent - (long long) frac_len + (long long) (n - last));
		}
#undef DIGIT
	}
	chain_mark(c, ch, off);
	return !c->failed;
}

static int
compare_members(const void *a, const void *b)
{
	const canon_member *x = a;
	const canon_member *y = b;
	int			r = memcmp(x->arena + x->key_off, y->arena + y->key_off,
						   x->key_len < y->key_len ? x->key_len : y->key_len);

	if (r != 0)
		return r;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->index < y->index ? -1 : 1;
}

/* An object: its members' chains relinked in key order, the last of equal keys kept. */
static bool
canon_object(canon_state *c, canon_chain *ch)
{
	canon_member *members = NULL;
	size_t		n = 0,
				cap = 0,
				i;
	bool		ok = false;
	bool		first = true;

	c->pos++;
	canon_skip_space(c);
	if (c->pos < c->len && c->s[c->pos] == '}')
	{
		c->pos++;
		chain_put(c, ch, "{}", 2);
		return !c->failed;
	}
	for (;;)
	{
		canon_member m = {0, 0, {-1, -1}, n, NULL};

		canon_skip_space(c);
		if (c->pos >= c->len || c->s[c->pos] != '"')
			goto done;
		m.key_off = c->b->arena.len;
		if (!canon_string(c, &m.chain))
			goto done;
		m.key_len = c->b->arena.len - m.key_off;
		canon_skip_space(c);
		if (c->pos >= c->len || c->s[c->pos] != ':')
			goto done;
		c->pos++;
		chain_put(c, &m.chain, ":", 1);
		if (!canon_value(c, &m.chain))
			goto done;
		if (n == cap)
		{
			canon_member *bigger;

			cap = cap ? cap * 2 : 16;
			bigger = realloc(members, cap * sizeof(*members));
			if (bigger == NULL)
			{
				c->failed = true;
				goto done;
			}
			members = bigger;
		}
		members[n++] = m;
		canon_skip_space(c);
		if (c->pos < c->len && c->s[c->pos] == ',')
		{
			c->pos++;
			continue;
		}
		if (c->pos < c->len && c->s[c->pos] == '}')
		{
			c->pos++;
			break;
		}
		goto done;
	}
	for (i = 0; i < n; i++)
		members[i].arena = c->b->arena.data;
	qsort(members, n, sizeof(*members), compare_members);
	chain_put(c, ch, "{", 1);
	for (i = 0; i < n; i++)
	{
		/* of a run of equal keys, only the last (in the object's order) */
		if (i + 1 < n && members[i + 1].key_len == members[i].key_len &&
			memcmp(c->b->arena.data + members[i].key_off,
				   c->b->arena.data + members[i + 1].key_off, members[i].key_len) == 0)
			continue;
		if (!first)
			chain_put(c, ch, ",", 1);
		first = false;
		chain_join(c, ch, members[i].chain);
	}
	chain_put(c, ch, "}", 1);
	ok = !c->failed;
done:
	free(members);
	return ok;
}

static bool
canon_array(canon_state *c, canon_chain *ch)
{
	c->pos++;
	chain_put(c, ch, "[", 1);
	canon_skip_space(c);
	if (c->pos < c->len && c->s[c->pos] == ']')
	{
		c->pos++;
		chain_put(c, ch, "]", 1);
		return !c->failed;
	}
	for (;;)
	{
		if (!canon_value(c, ch))
			return false;
		canon_skip_space(c);
		if (c->pos < c->len && c->s[c->pos] == ',')
		{
			c->pos++;
			chain_put(c, ch, ",", 1);
			continue;
		}
		if (c->pos < c->len && c->s[c->pos] == ']')
		{
			c->pos++;
			chain_put(c, ch, "]", 1);
			return !c->failed;
		}
		return false;
	}
}

static bool
canon_literal(canon_state *c, canon_chain *ch, const char *word)
{
	size_t		n = strlen(word);

	if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
		return false;
	c->pos += n;
	chain_put(c, ch, word, n);
	return !c->failed;
}

static bool
canon_value(canon_state *c, canon_chain *ch)
{
	bool		ok;

	canon_skip_space(c);
	if (c->pos >= c->len)
		return false;
	switch (c->s[c->pos])
	{
		case '{':
		case '[':
			if (++c->depth > CANON_MAX_DEPTH)
				return false;
			ok = c->s[c->pos] == '{' ? canon_object(c, ch) : canon_array(c, ch);
			c->depth--;
			return ok;
		case '"':
			return canon_string(c, ch);
		case 't':
			return canon_literal(c, ch, "true");
		case 'f':
			return canon_literal(c, ch, "false");
		case 'n':
			return canon_literal(c, ch, "null");
		default:
			return canon_number(c, ch);
	}
}

typedef enum canon_result
{
	CANON_OK,
	CANON_NOT_JSON,
	CANON_NO_MEMORY
} canon_result;

/* The canonical form of the JSON text s into out (emptied first). */
static canon_result
canonical_json(const char *s, size_t len, bool numbers_by_value, canon_buffers *b, strbuf *out)
{
	canon_state c = {s, len, 0, 0, numbers_by_value, false, b};
	canon_chain top = {-1, -1};
	long		i;
	bool		ok;

	b->arena.len = 0;
	b->arena.failed = false;
	b->scratch.failed = false;
	b->npieces = 0;
	out->len = 0;
	out->failed = false;
	ok = canon_value(&c, &top);
	canon_skip_space(&c);
	if (c.failed)
		return CANON_NO_MEMORY;
	if (!ok || c.pos != len)
		return CANON_NOT_JSON;
	for (i = top.head; i >= 0; i = b->pieces[i].next)
		sb_append(out, b->arena.data + b->pieces[i].off, b->pieces[i].len);
	return out->failed || out->data == NULL ? CANON_NO_MEMORY : CANON_OK;
}

/* ---------- sessions ---------- */

/* Busy handler: sleep in short, growing steps until the deadline, then give up. */
static int
busy_wait(void *arg, int count)
{
	const int64_t *deadline = arg;
	int64_t		left = *deadline - now_us();
	int64_t		step = count < 5 ? 50 << count : 1000;
	struct timespec ts;

	if (left <= 0)
		return 0;
	if (step > left)
		step = left;
	ts.tv_sec = 0;
	ts.tv_nsec = (long) step * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

/* Progress handler: interrupt a statement still running at the deadline. */
static int
past_deadline(void *arg)
{
	const int64_t *deadline = arg;

	return now_us() > *deadline;
}

/* Close the session's connection (if any) and arm the reconnection backoff. */
static void
session_drop(db_session *s, bool backoff)
{
	int			i;

	for (i = 0; i < NSTATEMENTS; i++)
	{
		sqlite3_finalize(s->stmts[i]);
		s->stmts[i] = NULL;
	}
	if (s->db != NULL)
	{
		sqlite3_close(s->db);
		s->db = NULL;
	}
	atomic_store(&s->connected, false);
	if (backoff)
	{
		int64_t		delay = BACKOFF_FIRST_US;

		for (i = 1; i < s->failures && delay < BACKOFF_MAX_US; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_US)
			delay = BACKOFF_MAX_US;
		s->retry_at = now_us() + delay;
	}
}

/* A failed connection attempt: log it, back off, fill err. */
static bool
connect_failed(db_session *s, const char *what, db_error *err)
{
	s->failures++;
	metrics_db_error(DBERR_CONNECTION);
	log_error("cannot open the SQLite database %s: %s: %s", s->path, what,
			  s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
	session_drop(s, true);
	db_fail(err, DB_UNAVAILABLE, "database unavailable");
	return false;
}

/* Open the session's connection, register the functions, prepare the statements. */
static bool
session_connect(db_session *s, db_error *err)
{
	int			i;

	if (now_us() < s->retry_at)
	{
		db_fail(err, DB_UNAVAILABLE, "database unavailable (reconnecting)");
		return false;
	}
	/* one thread uses the connection at a time: no SQLite mutex */
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
						SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK)
		return connect_failed(s, "open", err);
	sqlite3_busy_handler(s->db, busy_wait, &s->deadline);
	sqlite3_progress_handler(s->db, PROGRESS_INTERVAL, past_deadline, &s->deadline);
	if (sqlite3_predict_init(s->db, NULL, NULL) != SQLITE_OK)
		return connect_failed(s, "registering the predict functions", err);
	/*
	 * FULL: a commit returns once the WAL is on disk. 1 MiB of page cache per
	 * connection (SQLite's default is 2): the hot pages are the tables' last
	 * leaves and the registry, and memory stays bounded with many workers.
	 */
	if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA cache_size = -1024",
					 NULL, NULL, NULL) != SQLITE_OK)
		return connect_failed(s, "PRAGMA synchronous", err);
	for (i = 0; i < NSTATEMENTS; i++)
		if (sqlite3_prepare_v3(s->db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
							   &s->stmts[i], NULL) != SQLITE_OK)
			return connect_failed(s, statements[i].name, err);
	s->failures = 0;
	atomic_store(&s->connected, true);
	return true;
}

/* Start a backend call: its deadline, and a connection. */
static bool
session_begin(db_session *s, int64_t deadline, db_error *err)
{
	s->deadline = deadline;
	if (s->db == NULL && !session_connect(s, err))
		return false;
	return true;
}

/* Take the process's write lock before the deadline. */
static bool
write_lock_take(int64_t deadline)
{
	struct timespec ts;

	ts.tv_sec = (time_t) (deadline / 1000000);
	ts.tv_nsec = (long) (deadline % 1000000) * 1000;
	return pthread_mutex_clocklock(&write_lock, CLOCK_MONOTONIC, &ts) == 0;
}

/* The rule for a result code. */
static const sqlite_rule *
rule_for_code(int code)
{
	size_t		i;

	for (i = 0; i < sizeof(sqlite_rules) / sizeof(sqlite_rules[0]); i++)
	{
		const sqlite_rule *r = &sqlite_rules[i];

		if (r->code == 0 || (r->extended ? code == r->code : (code & 0xff) == r->code))
			return r;
	}
	return &sqlite_rules[sizeof(sqlite_rules) / sizeof(sqlite_rules[0]) - 1];
}

/* Turn a failed statement's result code and message into err (and log, count, reconnect). */
static db_status
statement_failed(db_session *s, int st, int code, const char *message, db_error *err)
{
	const sqlite_rule *rule = rule_for_code(code);

	metrics_db_error(rule->kind);
	if (rule->status != DB_INVALID)
		log_error("%s failed: SQLite error %d (%s): %s", statements[st].name, code,
				  sqlite3_errstr(code), message);
	if (rule->reconnect)
		session_drop(s, true);
	if (rule->show_message)
		return db_fail(err, rule->status, "%s", message);
	return db_fail(err, rule->status, "%s", rule->meaning);
}

/* ---------- rows ---------- */

/* Column i as text, never NULL. */
static const char *
column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *) t : "";
}

/*
 * A stored timestamp ("2026-11-26T11:08:01.223Z", SQLite's strftime %f has
 * milliseconds) with six fraction digits ("2026-11-26T11:08:01.223000Z"), as
 * the PostgreSQL backend shows them. Anything else is copied as it is.
 */
static const char *
iso_timestamp(const char *in, char *out, size_t size)
{
	size_t		n = strlen(in);
	size_t		fraction = 0;
	size_t		i;

	/* "YYYY-MM-DDTHH:MM:SS" then ".digits" or nothing, then "Z" */
	if (size >= 28 && n >= 20 && in[10] == 'T' && in[n - 1] == 'Z' &&
		(in[19] == 'Z' || (in[19] == '.' && n > 21)))
	{
		if (in[19] == '.')
			fraction = n - 21;
		for (i = 20; i < 20 + fraction; i++)
			if (in[i] < '0' || in[i] > '9')
				fraction = SIZE_MAX;
	}
	else
		fraction = SIZE_MAX;
	if (fraction == SIZE_MAX)
	{
		snprintf(out, size, "%s", in);
		return out;
	}
	memcpy(out, in, 19);
	out[19] = '.';
	for (i = 0; i < 6; i++)
		out[20 + i] = i < fraction ? in[20 + i] : '0';
	out[26] = 'Z';
	out[27] = '\0';
	return out;
}

/* A row of st, its columns as in ROW_COLUMNS (or PREDICT_COLUMNS without the observation). */
static void
read_row(sqlite3_stmt *st, bool with_observation, prediction_row *r,
		 char *created, char *updated)
{
	int			c = 0;

	r->id = sqlite3_column_int64(st, c++);
	r->observation_id = sqlite3_column_int64(st, c++);
	r->observation = NULL;
	r->observation_len = 0;
	if (with_observation)
	{
		r->observation = column_text(st, c);
		r->observation_len = (size_t) sqlite3_column_bytes(st, c);
		c++;
	}
	r->proba = sqlite3_column_double(st, c++);
	r->proba_text = NULL;		/* printed as the shortest decimal that reads back */
	r->predicted_class = sqlite3_column_int(st, c++) != 0;
	r->true_class = sqlite3_column_type(st, c) == SQLITE_NULL ? -1 : sqlite3_column_int(st, c);
	c++;
	r->model = column_text(st, c++);
	r->model_version = (int32_t) sqlite3_column_int64(st, c++);
	r->created_at = iso_timestamp(column_text(st, c++), created, TIMESTAMP_SIZE);
	r->updated_at = iso_timestamp(column_text(st, c++), updated, TIMESTAMP_SIZE);
}

/* A row kept past its statement (the one row of a write, reported after the commit). */
typedef struct saved_row
{
	prediction_row row;
	char		created[TIMESTAMP_SIZE];
	char		updated[TIMESTAMP_SIZE];
	char	   *strings;
} saved_row;

static bool
save_row(sqlite3_stmt *st, bool with_observation, saved_row *saved)
{
	size_t		model_len;

	read_row(st, with_observation, &saved->row, saved->created, saved->updated);
	model_len = strlen(saved->row.model);
	saved->strings = malloc(model_len + 1 + saved->row.observation_len + 1);
	if (saved->strings == NULL)
		return false;
	memcpy(saved->strings, saved->row.model, model_len + 1);
	saved->row.model = saved->strings;
	if (with_observation)
	{
		char	   *obs = saved->strings + model_len + 1;

		memcpy(obs, saved->row.observation, saved->row.observation_len);
		obs[saved->row.observation_len] = '\0';
		saved->row.observation = obs;
	}
	return true;
}

/*
 * Run a write statement (its parameters bound) under the write lock: step
 * it, keep its one returned row, and finish it, which commits. *have_row
 * tells whether a row came back. Returns SQLITE_DONE or the error code,
 * with the message in msg.
 */
static int
run_write(db_session *s, sqlite3_stmt *st, bool with_observation, saved_row *saved,
		  bool *have_row, char *msg, size_t size)
{
	int			rc;

	*have_row = false;
	if (!write_lock_take(s->deadline))
	{
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		snprintf(msg, size, "other requests held the write lock until the deadline");
		return SQLITE_BUSY;
	}
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		if (!save_row(st, with_observation, saved))
			rc = SQLITE_NOMEM;
		else
		{
			*have_row = true;
			rc = sqlite3_step(st);
		}
	}
	if (rc != SQLITE_DONE)
		snprintf(msg, size, "%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
	/* statement-level errors roll the statement back: no half-written row */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	metrics_db_busy(-1);
	pthread_mutex_unlock(&write_lock);
	if (rc != SQLITE_DONE && *have_row)
	{
		free(saved->strings);
		*have_row = false;
	}
	return rc;
}

/*
 * Step a read statement (parameters bound), handing each row to sink; with
 * want_one, no row is DB_NOT_FOUND with not_found as the message.
 */
static db_status
run_read(db_session *s, int st, bool want_one, const char *not_found, row_sink sink,
		 void *arg, db_error *err)
{
	sqlite3_stmt *stmt = s->stmts[st];
	char		created[TIMESTAMP_SIZE];
	char		updated[TIMESTAMP_SIZE];
	char		msg[DB_ERROR_SIZE];
	int			rows = 0;
	int			rc;

	metrics_db_busy(1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
	{
		prediction_row r;

		read_row(stmt, true, &r, created, updated);
		sink(&r, arg);
		rows++;
	}
	if (rc != SQLITE_DONE)
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	metrics_db_busy(-1);
	if (rc != SQLITE_DONE)
		return statement_failed(s, st, rc, msg, err);
	if (want_one && rows == 0)
		return db_fail(err, DB_NOT_FOUND, "%s", not_found);
	return DB_OK;
}

/* Whether a default model is deployed: 1, 0, or -1 with err filled. */
static int
has_default_model(db_session *s, db_error *err)
{
	sqlite3_stmt *st = s->stmts[STMT_READY];
	int			rc;
	int			found = -1;
	char		msg[DB_ERROR_SIZE];

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = sqlite3_column_int(st, 0) != 0;
	else
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	if (found < 0)
		statement_failed(s, STMT_READY, rc, msg, err);
	return found;
}

/*
 * A plain SQLITE_ERROR from the /predict INSERT. Its statement is fixed and
 * prepared, so this comes from the predict functions: no default model
 * (503, as PostgreSQL's "55000"), or the scoring core refusing the
 * observation (422 with the core's message, as PostgreSQL's "22023").
 */
static db_status
classify_scoring_error(db_session *s, const char *message, db_error *err)
{
	int			found = has_default_model(s, err);

	if (found < 0)
		return err->status;
	if (found == 0)
	{
		metrics_db_error(DBERR_OTHER);
		return db_fail(err, DB_UNAVAILABLE, "no default model is deployed");
	}
	metrics_db_error(DBERR_DATA);
	return db_fail(err, DB_INVALID, "%s", message);
}

/*
 * The stored row of an id /predict found already there: report it if its
 * observation equals the request's (canonical comparison), else conflict.
 * DB_NOT_FOUND if the row is gone (deleted meanwhile).
 */
static db_status
predict_existing(db_session *s, int64_t observation_id, const char *observation, size_t len,
				 row_sink sink, void *arg, db_error *err)
{
	sqlite3_stmt *st = s->stmts[STMT_EXISTING];
	db_status	status;
	char		msg[DB_ERROR_SIZE];
	int			rc;

	sqlite3_bind_int64(st, 1, observation_id);
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
	{
		prediction_row r;
		char		created[TIMESTAMP_SIZE];
		char		updated[TIMESTAMP_SIZE];

		canon_result stored_form,
					request_form;

		read_row(st, true, &r, created, updated);
		stored_form = canonical_json(r.observation, r.observation_len, true, s->canon,
									 &s->compare[0]);
		request_form = stored_form != CANON_OK ? stored_form :
			canonical_json(observation, len, true, s->canon, &s->compare[1]);
		if (stored_form == CANON_NO_MEMORY || request_form == CANON_NO_MEMORY)
			status = db_fail(err, DB_UNAVAILABLE, "out of memory");
		else if (stored_form != CANON_OK || request_form != CANON_OK)
		{
			log_error("predict: the stored observation of id %lld is not JSON",
					  (long long) observation_id);
			status = db_fail(err, DB_INTERNAL, "unexpected stored observation");
		}
		else if (s->compare[0].len == s->compare[1].len &&
				 memcmp(s->compare[0].data, s->compare[1].data, s->compare[0].len) == 0)
		{
			r.observation = NULL;
			r.observation_len = 0;
			sink(&r, arg);
			status = DB_OK;
		}
		else
			status = db_fail(err, DB_CONFLICT, "Observation ID: \"%lld\" already exists",
							 (long long) observation_id);
	}
	else if (rc == SQLITE_DONE)
		status = DB_NOT_FOUND;
	else
	{
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
		status = statement_failed(s, STMT_EXISTING, rc, msg, err);
	}
	if (s->db != NULL)
	{
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	metrics_db_busy(-1);
	return status;
}

static db_status
sqlite_predict(db_session *s, int64_t observation_id, const char *observation, size_t len,
			   row_sink sink, void *arg, bool *created, int64_t deadline, db_error *err)
{
	int			attempt;

	*created = false;
	switch (canonical_json(observation, len, false, s->canon, &s->stored))
	{
		case CANON_OK:
			break;
		case CANON_NO_MEMORY:
			return db_fail(err, DB_UNAVAILABLE, "out of memory");
		case CANON_NOT_JSON:
			/* body.c let it through: a disagreement between the two parsers */
			log_error("predict: the observation of id %lld was accepted by the request parser "
					  "but not by the canonicaliser", (long long) observation_id);
			return db_fail(err, DB_INTERNAL, "unexpected observation text");
	}
	if (!session_begin(s, deadline, err))
		return err->status;
	for (attempt = 0; attempt < 2; attempt++)
	{
		sqlite3_stmt *st = s->stmts[STMT_PREDICT];
		saved_row	saved;
		bool		have_row;
		char		msg[DB_ERROR_SIZE];
		int			rc;
		db_status	status;

		sqlite3_bind_int64(st, 1, observation_id);
		sqlite3_bind_text(st, 2, s->stored.data, (int) s->stored.len, SQLITE_STATIC);
		rc = run_write(s, st, false, &saved, &have_row, msg, sizeof(msg));
		if (rc == SQLITE_DONE && have_row)
		{
			*created = true;
			sink(&saved.row, arg);
			free(saved.strings);
			return DB_OK;
		}
		if (rc == SQLITE_DONE || rc == SQLITE_CONSTRAINT_UNIQUE)
		{
			/* the id is stored (by another process in the second case) */
			status = predict_existing(s, observation_id, observation, len, sink, arg, err);
			if (status != DB_NOT_FOUND)
				return status;
			continue;
		}
		if (rc == SQLITE_ERROR)
			return classify_scoring_error(s, msg, err);
		return statement_failed(s, STMT_PREDICT, rc, msg, err);
	}
	log_error("predict: observation_id %lld neither inserted nor found after a retry",
			  (long long) observation_id);
	return db_fail(err, DB_UNAVAILABLE, "concurrent change, retry");
}

static db_status
sqlite_update(db_session *s, int64_t observation_id, int true_class, row_sink sink, void *arg,
			  int64_t deadline, db_error *err)
{
	sqlite3_stmt *st;
	saved_row	saved;
	bool		have_row;
	char		msg[DB_ERROR_SIZE];
	int			rc;

	if (!session_begin(s, deadline, err))
		return err->status;
	st = s->stmts[STMT_UPDATE];
	sqlite3_bind_int64(st, 1, observation_id);
	sqlite3_bind_int(st, 2, true_class ? 1 : 0);
	rc = run_write(s, st, true, &saved, &have_row, msg, sizeof(msg));
	if (rc != SQLITE_DONE)
		return statement_failed(s, STMT_UPDATE, rc, msg, err);
	if (!have_row)
		return db_fail(err, DB_NOT_FOUND, "Observation ID: \"%lld\" does not exist",
					   (long long) observation_id);
	sink(&saved.row, arg);
	free(saved.strings);
	return DB_OK;
}

static db_status
sqlite_get(db_session *s, int64_t observation_id, row_sink sink, void *arg,
		   int64_t deadline, db_error *err)
{
	char		not_found[64];

	if (!session_begin(s, deadline, err))
		return err->status;
	snprintf(not_found, sizeof(not_found), "Observation ID: \"%lld\" does not exist",
			 (long long) observation_id);
	sqlite3_bind_int64(s->stmts[STMT_GET], 1, observation_id);
	return run_read(s, STMT_GET, true, not_found, sink, arg, err);
}

static db_status
sqlite_list(db_session *s, int64_t after, int limit, row_sink sink, void *arg,
			int64_t deadline, db_error *err)
{
	if (!session_begin(s, deadline, err))
		return err->status;
	sqlite3_bind_int64(s->stmts[STMT_LIST], 1, after);
	sqlite3_bind_int(s->stmts[STMT_LIST], 2, limit);
	return run_read(s, STMT_LIST, false, NULL, sink, arg, err);
}

static db_status
sqlite_ready(db_session *s, int64_t deadline, db_error *err)
{
	int			found;

	if (!session_begin(s, deadline, err))
		return err->status;
	metrics_db_busy(1);
	found = has_default_model(s, err);
	metrics_db_busy(-1);
	if (found < 0)
		return err->status == DB_INTERNAL ? db_fail(err, DB_UNAVAILABLE, "database not ready")
			: err->status;
	if (found == 0)
		return db_fail(err, DB_UNAVAILABLE, "no default model is deployed");
	return DB_OK;
}

static db_status
sqlite_report(db_session *s, const char *since, const char *until, text_sink sink, void *arg,
			  int64_t deadline, db_error *err)
{
	sqlite3_stmt *st;
	char		msg[DB_ERROR_SIZE] = "";
	bool		sent = false;
	int			rc;

	if (!session_begin(s, deadline, err))
		return err->status;
	st = s->stmts[STMT_REPORT];
	if (since != NULL)
		sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
	if (until != NULL)
		sqlite3_bind_text(st, 2, until, -1, SQLITE_TRANSIENT);
	metrics_db_busy(1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
	{
		sink((const char *) sqlite3_column_text(st, 0), (size_t) sqlite3_column_bytes(st, 0), arg);
		sent = true;
	}
	else if (rc != SQLITE_ROW)
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	metrics_db_busy(-1);
	if (sent)
		return DB_OK;
	if (rc == SQLITE_ROW)
	{
		log_error("predict_report returned no document");
		return db_fail(err, DB_INTERNAL, "internal error");
	}
	/* the report's own refusals: a window it cannot read, no default model */
	if (rc == SQLITE_ERROR && (strncmp(msg, "since", 5) == 0 || strncmp(msg, "until", 5) == 0))
		return db_fail(err, DB_INVALID, "%s", msg);
	if (rc == SQLITE_ERROR && strncmp(msg, "no default model", 16) == 0)
		return db_fail(err, DB_UNAVAILABLE, "no default model is deployed");
	return statement_failed(s, STMT_REPORT, rc, msg, err);
}

static db_session *
sqlite_session_open(const gateway_config *cfg)
{
	db_session *s = calloc(1, sizeof(*s));
	char		path[PATH_MAX];
	char		msg[256];

	if (s == NULL)
		return NULL;
	/* the URL was checked by backend_for_url */
	if (!sqlite_url_path(cfg->database_url, path, sizeof(path), msg, sizeof(msg)) ||
		(s->path = strdup(path)) == NULL)
	{
		free(s);
		return NULL;
	}
	s->cfg = cfg;
	s->deadline = INT64_MAX;
	atomic_init(&s->connected, false);
	sb_init(&s->stored);
	sb_init(&s->compare[0]);
	sb_init(&s->compare[1]);
	s->canon = calloc(1, sizeof(*s->canon));
	if (s->canon == NULL)
	{
		free(s->path);
		free(s);
		return NULL;
	}
	return s;
}

static void
sqlite_session_close(db_session *s)
{
	session_drop(s, false);
	sb_free(&s->stored);
	sb_free(&s->compare[0]);
	sb_free(&s->compare[1]);
	sb_free(&s->canon->arena);
	sb_free(&s->canon->scratch);
	free(s->canon->pieces);
	free(s->canon);
	free(s->path);
	free(s);
}

static bool
sqlite_session_connected(db_session *s)
{
	return atomic_load(&s->connected);
}

/* ---------- start-up ---------- */

/* One integer from a one-row query; -1 (with msg) on failure. */
static long long
setup_query_int(sqlite3 *db, const char *sql, char *msg, size_t size, const char *what)
{
	sqlite3_stmt *st;
	long long	value = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	else
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return value;
}

/*
 * Deploy the model file as the next version of name (the document's own
 * name when NULL); *version gets the version. False with msg on failure.
 */
static bool
setup_deploy(sqlite3 *db, const char *path, const char *name_override, long long *version,
			 char *msg, size_t size)
{
	size_t		len;
	char	   *text = read_whole_file(path, 64 * 1024 * 1024, &len);
	cJSON	   *doc;
	const cJSON *name;
	sqlite3_stmt *st = NULL;
	bool		ok = false;

	if (text == NULL)
	{
		snprintf(msg, size, "the database has no default model and the model file %s cannot be "
				 "read (%s): set PREDICT_MODEL to a model file made by tools/predict-export",
				 path, strerror(errno));
		return false;
	}
	doc = cJSON_ParseWithLength(text, len);
	name = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc, "name") : NULL;
	if (!cJSON_IsString(name) || name->valuestring == NULL)
	{
		snprintf(msg, size, "the model file %s is not a predict model (no \"name\"): set "
				 "PREDICT_MODEL to a model file made by tools/predict-export", path);
		goto done;
	}
	if (sqlite3_prepare_v2(db, "SELECT predict_deploy(?1, ?2)", -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "cannot deploy the model file %s: %s", path, sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_bind_text(st, 1, name_override != NULL ? name_override : name->valuestring, -1,
					  SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, (int) len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
	{
		snprintf(msg, size, "cannot deploy the model file %s: %s (fix the file or set "
				 "PREDICT_MODEL to another one)", path, sqlite3_errmsg(db));
		goto done;
	}
	*version = sqlite3_column_int64(st, 0);
	log_info("deployed model \"%s\" from %s as version %lld",
			 name_override != NULL ? name_override : name->valuestring, path, *version);
	ok = true;
done:
	sqlite3_finalize(st);
	cJSON_Delete(doc);
	free(text);
	return ok;
}

/* Run sql on the set-up connection; false with "what: message" in msg. */
static bool
setup_exec(sqlite3 *db, const char *sql, char *msg, size_t size, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return true;
	snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
	return false;
}

/*
 * The set-up transaction: schema, first model, and a check that every
 * statement of the sessions compiles against what is there (a predictions
 * table of another application would not).
 */
static bool
setup_schema(sqlite3 *db, const gateway_config *cfg, const char *path, char *msg, size_t size)
{
	long long	registry;
	long long	has_default = 0;
	long long	version;
	int			i;

	if (!setup_exec(db, schema_sql, msg, size, "cannot create the predictions table"))
		return false;
	registry = setup_query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
							   " AND name = 'predict_models'", msg, size,
							   "cannot read the database schema");
	if (registry < 0)
		return false;
	if (registry > 0)
	{
		has_default = setup_query_int(db, "SELECT count(*) FROM predict_models WHERE is_default = 1",
									  msg, size, "cannot read the model registry");
		if (has_default < 0)
			return false;
	}
	if (has_default == 0 && !setup_deploy(db, cfg->model_path, NULL, &version, msg, size))
		return false;
	for (i = 0; i < NSTATEMENTS; i++)
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, statements[i].sql, -1, &st, NULL) != SQLITE_OK)
		{
			snprintf(msg, size, "the SQLite database %s has tables that are not predict's "
					 "(%s): use another file in DATABASE_URL", path, sqlite3_errmsg(db));
			return false;
		}
		sqlite3_finalize(st);
	}
	return true;
}

static bool
sqlite_setup(const gateway_config *cfg, char *msg, size_t size)
{
	char		path[PATH_MAX];
	sqlite3    *db = NULL;
	int64_t		deadline = now_us() + SETUP_TIMEOUT_US;
	bool		ok = false;
	char		what[PATH_MAX + 64];
	sqlite3_stmt *st;
	char		mode[16] = "";

	if (!sqlite_url_path(cfg->database_url, path, sizeof(path), msg, size))
		return false;
	if (sqlite3_libversion_number() < 3037000)
	{
		snprintf(msg, size, "SQLite %s is too old (STRICT tables need 3.37): install a newer "
				 "libsqlite3 or use a postgresql:// DATABASE_URL", sqlite3_libversion());
		return false;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
						SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "cannot open the SQLite database %s (%s): check DATABASE_URL "
				 "(sqlite:///relative/path.db or sqlite:////absolute/path.db) and that the "
				 "directory exists and is writable", path,
				 db != NULL ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	/* wait for another gateway's set-up, at most a minute */
	sqlite3_busy_handler(db, busy_wait, &deadline);
	if (sqlite3_predict_init(db, NULL, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "cannot register the predict functions: %s", sqlite3_errmsg(db));
		goto done;
	}
	/* WAL is a property of the file: set once, kept by every later connection */
	snprintf(what, sizeof(what), "cannot use the SQLite database %s", path);
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "%s: %s (is it a SQLite database? check DATABASE_URL)", what,
				 sqlite3_errmsg(db));
		goto done;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(mode, sizeof(mode), "%s", column_text(st, 0));
	else
		snprintf(msg, size, "%s: %s (is it a SQLite database? check DATABASE_URL)", what,
				 sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (mode[0] == '\0')
		goto done;
	if (strcmp(mode, "wal") != 0)
	{
		snprintf(msg, size, "%s: it cannot be switched to write-ahead logging (journal mode "
				 "stays \"%s\"): put it on a local file system", what, mode);
		goto done;
	}
	if (!setup_exec(db, "PRAGMA synchronous = FULL", msg, size, what) ||
		!setup_exec(db, "BEGIN IMMEDIATE", msg, size, what))
		goto done;
	if (!setup_schema(db, cfg, path, msg, size))
	{
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto done;
	}
	ok = setup_exec(db, "COMMIT", msg, size, what);
done:
	sqlite3_close(db);
	return ok;
}

/* Run the activate or set-default statement; false with msg on failure. */
static bool
command_select(sqlite3 *db, const char *sql, const char *arg1, const char *arg2,
			   const char *what, char *msg, size_t size)
{
	sqlite3_stmt *st;
	bool		ok;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
		return false;
	}
	sqlite3_bind_text(st, 1, arg1, -1, SQLITE_STATIC);
	if (arg2 != NULL)
		sqlite3_bind_int64(st, 2, strtoll(arg2, NULL, 10));
	ok = sqlite3_step(st) == SQLITE_ROW;
	if (!ok)
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ok;
}

/*
 * `predict-gateway deploy|activate|set-default` on SQLite, in one write
 * transaction: BEGIN IMMEDIATE waits for the gateway's writers, where a bare
 * SELECT predict_deploy(...) begins as a reader and, under load, fails at
 * once with "database is locked".
 */
int
sqlite_command(const char *url, const char *verb, const char *name, const char *arg1,
			   const char *arg2)
{
	char		path[PATH_MAX];
	char		msg[PATH_MAX + 1024] = "";
	sqlite3    *db = NULL;
	int64_t		deadline = now_us() + SETUP_TIMEOUT_US;
	long long	version = 0;
	bool		ok = false;

	if (!sqlite_url_path(url, path, sizeof(path), msg, sizeof(msg)))
	{
		fprintf(stderr, "predict-gateway %s: %s\n", verb, msg);
		return 2;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK)
	{
		snprintf(msg, sizeof(msg), "cannot open the SQLite database %s (%s): check DATABASE_URL, "
				 "or start the gateway on it once", path,
				 db != NULL ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	sqlite3_busy_handler(db, busy_wait, &deadline);
	if (sqlite3_predict_init(db, NULL, NULL) != SQLITE_OK)
	{
		snprintf(msg, sizeof(msg), "cannot register the predict functions: %s", sqlite3_errmsg(db));
		goto done;
	}
	if (!setup_exec(db, "BEGIN IMMEDIATE", msg, sizeof(msg), "cannot lock the database"))
		goto done;
	if (strcmp(verb, "deploy") == 0)
		ok = setup_deploy(db, arg1, name, &version, msg, sizeof(msg));
	else if (strcmp(verb, "activate") == 0)
		ok = command_select(db, "SELECT predict_activate(?1, ?2)", arg1, arg2,
							"cannot activate the version", msg, sizeof(msg));
	else
		ok = command_select(db, "SELECT predict_set_default(?1)", arg1, NULL,
							"cannot make the model the default", msg, sizeof(msg));
	if (ok)
		ok = setup_exec(db, "COMMIT", msg, sizeof(msg), "cannot commit");
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (ok && strcmp(verb, "deploy") == 0)
		printf("%lld\n", version);
done:
	if (!ok)
		fprintf(stderr, "predict-gateway %s: %s\n", verb, msg);
	sqlite3_close(db);
	return ok ? 0 : 1;
}

const backend_ops sqlite_backend = {
	.name = "sqlite",
	.setup = sqlite_setup,
	.session_open = sqlite_session_open,
	.session_close = sqlite_session_close,
	.session_connected = sqlite_session_connected,
	.predict = sqlite_predict,
	.update = sqlite_update,
	.get = sqlite_get,
	.list = sqlite_list,
	.ready = sqlite_ready,
	.report = sqlite_report,
};
