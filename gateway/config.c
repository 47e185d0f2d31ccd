/*
 * config.c - read the gateway's settings from the environment and the
 * command line, validate them, and print --help.
 *
 * Every setting is an environment variable (what Heroku and containers set)
 * with a matching flag (what a person types); a flag overrides its variable.
 * Values are checked here once, so the rest of the gateway can trust them.
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define GATEWAY_VERSION "1.0.0"
#define DEFAULT_MODEL "models/titanic.json"

/* One setting: its variable, its flag, its help text and how to parse it. */
typedef enum setting_kind
{
	SETTING_STRING,
	SETTING_UINT,
	SETTING_SIZE
} setting_kind;

typedef struct setting
{
	const char *env;
	const char *flag;
	const char *metavar;
	setting_kind kind;
	unsigned long min;
	unsigned long max;
	const char *help;
} setting;

static const setting settings[] = {
	{"DATABASE_URL", "--database-url", "URL", SETTING_STRING, 0, 0,
	"postgres:// or postgresql:// URI, libpq connection string, or sqlite:///file.db\n"
	"                               (relative) or sqlite:////abs/file.db (default\n"
	"                               sqlite:///predictions.db, in the current directory)"},
	{"HOST", "--host", "ADDR", SETTING_STRING, 0, 0,
	"IPv4 address to listen on (default 0.0.0.0, all interfaces)"},
	{"PORT", "--port", "N", SETTING_UINT, 0, 65535,
	"TCP port (default 5000; 0 picks a free port, printed at start-up)"},
	{"PREDICT_MODEL", "--model", "FILE", SETTING_STRING, 0, 0,
	"model deployed at start-up when the database has no default model\n"
	"                               (default models/titanic.json, looked up in the current\n"
	"                               directory, then in the repository the binary was built in)"},
	{"PREDICT_EXPLAIN", "--explain", "on|off", SETTING_STRING, 0, 0,
	"on deploys PREDICT_MODEL (when it is deployed) with explain, so that\n"
	"                               every row it scores stores its explanation (default off)"},
	{"PREDICT_THREADS", "--threads", "N", SETTING_UINT, 1, 1024,
	"workers (threads) (default: 4 x cores, 4..64)"},
	{"PREDICT_DB_CONNECTIONS", "--db-connections", "N", SETTING_UINT, 1, 1024,
	"PostgreSQL only: the most connections the workers share (default: as many\n"
	"                               as workers, at most 4 x cores, 4..64)"},
	{"PREDICT_MAX_BODY", "--max-body", "BYTES", SETTING_SIZE, 64, 64UL * 1024 * 1024,
	"largest request body accepted, larger ones get 413 (default 65536)"},
	{"PREDICT_API_TOKEN", "--api-token", "TOKEN", SETTING_STRING, 0, 0,
	"require Authorization: Bearer TOKEN on every route but /healthz and /readyz"},
	{"PREDICT_MAX_CONNECTIONS", "--max-connections", "N", SETTING_UINT, 1, 1000000,
	"concurrent HTTP connections; more are refused (default 1000, less if ulimit -n is low)"},
	{"PREDICT_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", "N", SETTING_UINT, 0, 1000000,
	"concurrent connections from one address (default 0: no limit, since behind\n"
	"                               a router or load balancer every client has its address)"},
	{"PREDICT_IDLE_TIMEOUT", "--idle-timeout", "SECONDS", SETTING_UINT, 1, 86400,
	"close a connection idle (or stalled mid-request) this long (default 60)"},
	{"PREDICT_REQUEST_TIMEOUT", "--request-timeout", "SECONDS", SETTING_UINT, 1, 86400,
	"close a connection whose request (headers and body) has not all arrived\n"
	"                               this long after the connection opened, or after the\n"
	"                               first byte of a next request on a kept-alive one (default 10)"},
	{"PREDICT_DB_TIMEOUT_MS", "--db-timeout-ms", "MS", SETTING_UINT, 100, 4000,
	"longest wait for the database per request before answering 503 (default 2500)"},
	{"PREDICT_MODE", "--mode", "MODE", SETTING_STRING, 0, 0,
	"PostgreSQL only: extension (CREATE EXTENSION predict), managed (the same schema\n"
	"                               in plain SQL, for databases such as Heroku Postgres\n"
	"                               where the extension cannot be installed), or auto\n"
	"                               (default: the extension if it can be created)"},
	{"PREDICT_READ_DATABASE_URL", "--read-database-url", "URL", SETTING_STRING, 0, 0,
	"PostgreSQL only: a replica for the read-only routes (GET /, /report.json,\n"
	"                               /list-db-contents, /predictions/<id>); the primary\n"
	"                               (DATABASE_URL) answers them while it is unavailable"},
	{"PREDICT_BATCH", "--batch", "N", SETTING_UINT, 1, 256,
	"PostgreSQL only: most POST /predict requests one statement and one commit\n"
	"                               store, when several are waiting for the database\n"
	"                               (default 64; 1: one statement per request)"},
	{"PREDICT_BATCH_LANES", "--batch-lanes", "N", SETTING_STRING, 0, 0,
	"PostgreSQL only: how many such statements run at once, 1..64, or auto\n"
	"                               (default: 1 plus the database's round trip in ms,\n"
	"                               rounded, at most 4: 1 on the same machine)"},
	{"PREDICT_PREPARED_STATEMENTS", "--prepared-statements", "WHEN", SETTING_STRING, 0, 0,
	"PostgreSQL only: on (named prepared statements), off (unnamed: for a pooler\n"
	"                               in transaction mode, such as PgBouncer), or auto (default:\n"
	"                               on, and off for good at the first sign of such a pooler)"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Print --help. */
static void
print_help(FILE *out, const char *argv0)
{
	size_t		i;

	fprintf(out,
			"usage: %s [--flag VALUE | --flag=VALUE]...\n"
			"       %s deploy|activate|set-default ...   (the model commands, below)\n"
			"\n"
			"predict-gateway: the HTTP API of predict, each request one SQL statement on\n"
			"SQLite or PostgreSQL (the predict extension, or managed mode):\n"
			"  POST /predict                       score and store {\"id\", \"observation\"}\n"
			"  POST /update                        record {\"id\", \"true_class\"}\n"
			"  GET  /predictions/<observation_id>  one stored prediction\n"
			"  GET  /list-db-contents              the stored predictions, by id (?after=&limit=)\n"
			"  GET  /                              the monitoring page of the default model\n"
			"  GET  /report.json                   its report as JSON (?since=&until=)\n"
			"  GET  /healthz, /readyz              alive; ready (database reachable, a default model)\n"
			"  GET  /metrics                       Prometheus metrics\n"
			"\n"
			"Model commands (run against DATABASE_URL, then exit; the running gateway\n"
			"uses the change from its next request):\n"
			"%s"
			"\n"
			"Settings (environment variable, or the flag, which wins):\n",
			argv0, argv0, MODEL_COMMANDS_HELP);
	for (i = 0; i < NSETTINGS; i++)
	{
		char		left[64];

		snprintf(left, sizeof(left), "%s %s", settings[i].flag, settings[i].metavar);
		fprintf(out, "  %-28s %s\n  %-28s   env %s\n", left, settings[i].help, "",
				settings[i].env);
	}
	fprintf(out,
			"  %-28s %s\n  %-28s %s\n"
			"\nSee docs/http-api.md for the routes, statuses and bodies.\n",
			"--help", "print this and exit", "--version", "print the version and exit");
}

/* Parse an unsigned decimal within [min, max]; false if it is not one. */
static bool
parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char	   *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Store one value into cfg; false after printing why it is refused. */
static bool
apply_setting(gateway_config *cfg, const setting *s, const char *value, const char *source)
{
	unsigned long v = 0;

	if (s->kind != SETTING_STRING)
	{
		if (!parse_ulong(value, s->min, s->max, &v))
		{
			fprintf(stderr, "predict-gateway: %s must be an integer from %lu to %lu, got \"%s\"\n",
					source, s->min, s->max, value);
			return false;
		}
	}
	else if (*value == '\0')
	{
		/* An empty variable means "not set", as in most tools. */
		return true;
	}

	if (strcmp(s->env, "DATABASE_URL") == 0)
		cfg->database_url = value;
	else if (strcmp(s->env, "HOST") == 0)
		cfg->host = value;
	else if (strcmp(s->env, "PORT") == 0)
		cfg->port = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_MODEL") == 0)
	{
		free(cfg->model_path);
		cfg->model_path = strdup(value);
		cfg->model_given = true;
	}
	else if (strcmp(s->env, "PREDICT_EXPLAIN") == 0)
	{
		if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
		{
			fprintf(stderr, "predict-gateway: %s must be on or off, got \"%s\"\n", source, value);
			return false;
		}
		cfg->explain = strcmp(value, "on") == 0;
	}
	else if (strcmp(s->env, "PREDICT_BATCH") == 0)
		cfg->batch = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_BATCH_LANES") == 0)
	{
		if (strcmp(value, "auto") == 0)
			v = 0;
		else if (!parse_ulong(value, 1, 64, &v))
		{
			fprintf(stderr, "predict-gateway: %s must be auto or an integer from 1 to 64, got \"%s\"\n",
					source, value);
			return false;
		}
		cfg->batch_lanes = (unsigned) v;
	}
	else if (strcmp(s->env, "PREDICT_THREADS") == 0)
		cfg->threads = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_DB_CONNECTIONS") == 0)
		cfg->db_connections = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_MAX_BODY") == 0)
		cfg->max_body = (size_t) v;
	else if (strcmp(s->env, "PREDICT_API_TOKEN") == 0)
		cfg->api_token = value;
	else if (strcmp(s->env, "PREDICT_MAX_CONNECTIONS") == 0)
		cfg->max_connections = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_MAX_CONNECTIONS_PER_IP") == 0)
		cfg->max_connections_per_ip = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_IDLE_TIMEOUT") == 0)
		cfg->idle_timeout = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_REQUEST_TIMEOUT") == 0)
		cfg->request_timeout = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_DB_TIMEOUT_MS") == 0)
		cfg->db_timeout_ms = (unsigned) v;
	else if (strcmp(s->env, "PREDICT_MODE") == 0)
	{
		if (strcmp(value, "auto") != 0 && strcmp(value, "extension") != 0 &&
			strcmp(value, "managed") != 0)
		{
			fprintf(stderr, "predict-gateway: %s must be auto, extension or managed, got \"%s\"\n",
					source, value);
			return false;
		}
		cfg->mode = value;
	}
	else if (strcmp(s->env, "PREDICT_READ_DATABASE_URL") == 0)
		cfg->read_database_url = value;
	else if (strcmp(s->env, "PREDICT_PREPARED_STATEMENTS") == 0)
	{
		if (strcmp(value, "auto") != 0 && strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
		{
			fprintf(stderr, "predict-gateway: %s must be auto, on or off, got \"%s\"\n",
					source, value);
			return false;
		}
		cfg->prepared_statements = value;
	}
	return true;
}

/* 4 x cores, within 4..64. */
static unsigned
four_per_core(void)
{
	long		cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long n;

	if (cores < 1)
		cores = 1;
	n = 4UL * (unsigned long) cores;
	if (n < 4)
		n = 4;
	if (n > 64)
		n = 64;
	return (unsigned) n;
}

unsigned
config_default_threads(void)
{
	/*
	 * 4 x cores on both backends. PostgreSQL: a /predict that waits for its
	 * batch holds no worker (its connection is suspended, http.c), so a few
	 * workers serve many connections, and each extra thread is one more to
	 * wake per request: on the 2-core benchmark machine 4 and 8 workers
	 * served 1.1-1.7x the requests per second of 64 at 32 and 64
	 * connections, and the same at 8 (docs/http-api.md, "Sizing"). The
	 * other routes still hold their worker, hence not fewer. SQLite: one
	 * writer at a time, and each worker has its own connection with its
	 * page cache and models, so more workers only cost memory.
	 */
	return four_per_core();
}

unsigned
config_default_db_connections(unsigned threads)
{
	/*
	 * A commit waits for the WAL flush, not for a CPU: more connections than
	 * cores let PostgreSQL flush several commits at once (group commit). On
	 * the 2-core benchmark machine 8 and 16 measured best without batching;
	 * with it, 2 batches run at once and the rest of the connections serve
	 * the other routes.
	 */
	unsigned	n = four_per_core();

	return threads < n ? threads : n;
}

/*
 * The default model file: models/titanic.json in the current directory if it
 * is there, else in the repository the binary lives in (<repo>/bin/..).
 */
static char *
default_model_path(void)
{
	char		exe[PATH_MAX];
	ssize_t		n;
	char	   *slash;
	char	   *path;
	size_t		size;
	int			up;

	if (access(DEFAULT_MODEL, R_OK) == 0)
		return strdup(DEFAULT_MODEL);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
	{
		exe[n] = '\0';
		/* strip the file name, then bin/ (or build/asan/ for the ASan build) */
		for (up = 0; up < 3; up++)
		{
			slash = strrchr(exe, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
			size = strlen(exe) + sizeof("/" DEFAULT_MODEL);
			path = malloc(size);
			if (path == NULL)
				break;
			snprintf(path, size, "%s/%s", exe, DEFAULT_MODEL);
			if (up > 0 && access(path, R_OK) == 0)
				return path;
			free(path);
		}
	}
	return strdup(DEFAULT_MODEL);
}

/* Connections MHD may accept with this process's file descriptor limit. */
static unsigned
connection_limit_for_fds(unsigned wanted, unsigned threads)
{
	struct rlimit rl;
	unsigned long reserve = 128 + 4UL * threads;	/* slack over the limit, database sockets, logs, epoll */

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return wanted;
	if (rl.rlim_cur <= reserve + 16)
		return 16;
	if (rl.rlim_cur - reserve < wanted)
		return (unsigned) (rl.rlim_cur - reserve);
	return wanted;
}

void
config_free(gateway_config *cfg)
{
	free(cfg->model_path);
	cfg->model_path = NULL;
}

/* config_load's work; the caller frees cfg whatever this returns. */
static int
config_parse(gateway_config *cfg, int argc, char **argv)
{
	size_t		i;
	int			a;
	bool		max_connections_set = false;

	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "0.0.0.0";
	cfg->port = 5000;
	cfg->batch = 64;
	cfg->batch_lanes = 0;		/* auto */
	cfg->max_body = 64 * 1024;
	cfg->max_connections = 1000;
	cfg->idle_timeout = 60;
	cfg->request_timeout = 10;
	cfg->db_timeout_ms = 2500;
	cfg->mode = "auto";
	cfg->prepared_statements = "auto";

	for (i = 0; i < NSETTINGS; i++)
	{
		const char *value = getenv(settings[i].env);

		if (value != NULL && !apply_setting(cfg, &settings[i], value, settings[i].env))
			return -1;
		if (value != NULL && *value && strcmp(settings[i].env, "PREDICT_MAX_CONNECTIONS") == 0)
			max_connections_set = true;
	}

	for (a = 1; a < argc; a++)
	{
		const char *arg = argv[a];
		const char *value = NULL;
		const setting *found = NULL;
		size_t		len;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
		{
			print_help(stdout, argv[0]);
			return 1;
		}
		if (strcmp(arg, "--version") == 0)
		{
			printf("predict-gateway %s\n", GATEWAY_VERSION);
			return 1;
		}
		for (i = 0; i < NSETTINGS && found == NULL; i++)
		{
			len = strlen(settings[i].flag);
			if (strncmp(arg, settings[i].flag, len) != 0)
				continue;
			if (arg[len] == '=')
			{
				found = &settings[i];
				value = arg + len + 1;
			}
			else if (arg[len] == '\0')
			{
				found = &settings[i];
				if (a + 1 >= argc)
				{
					fprintf(stderr, "predict-gateway: %s needs a value (see --help)\n", arg);
					return -1;
				}
				value = argv[++a];
			}
		}
		if (found == NULL)
		{
			fprintf(stderr, "predict-gateway: unknown argument \"%s\" (see --help)\n", arg);
			return -1;
		}
		if (!apply_setting(cfg, found, value, found->flag))
			return -1;
		if (strcmp(found->env, "PREDICT_MAX_CONNECTIONS") == 0)
			max_connections_set = true;
	}

	if (cfg->database_url == NULL)
		cfg->database_url = DEFAULT_DATABASE_URL;	/* as the tutorial's app */
	if (cfg->threads == 0)
		cfg->threads = config_default_threads();
	if (cfg->db_connections == 0)
		cfg->db_connections = config_default_db_connections(cfg->threads);
	if (cfg->model_path == NULL)
		cfg->model_path = default_model_path();
	if (cfg->model_path == NULL)
	{
		fprintf(stderr, "predict-gateway: out of memory\n");
		return -1;
	}
	if (!max_connections_set)
		cfg->max_connections = connection_limit_for_fds(cfg->max_connections, cfg->threads);
	return 0;
}

int
config_load(gateway_config *cfg, int argc, char **argv)
{
	int			rc = config_parse(cfg, argc, argv);

	if (rc != 0)
		config_free(cfg);
	return rc;
}

void
config_note_default_model(const gateway_config *cfg, const char *name_version)
{
	const char *space = strrchr(name_version, ' ');
	int			name_len = space != NULL ? (int) (space - name_version) : (int) strlen(name_version);
	const char *version = space != NULL ? space + 1 : "?";

	log_info("serving the default model \"%.*s\" (version %s)", name_len, name_version, version);
	/* PREDICT_MODEL is only the first model: say so rather than ignore it silently */
	if (cfg->model_given)
		log_warning("PREDICT_MODEL %s was not deployed: the database already has a default "
					"model, served as above (PREDICT_MODEL is the first model of a database "
					"without one). To serve the file: predict-gateway deploy %s (the next "
					"version of the model it names, active at once), then predict-gateway "
					"set-default NAME if it names another model; same DATABASE_URL, no restart",
					cfg->model_path, cfg->model_path);
}
