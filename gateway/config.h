/*
 * config.h - the gateway's settings: environment variables, each with a
 * matching command-line flag (flags win). `predict-gateway --help` lists
 * them; docs/http-api.md documents them.
 */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The model commands (pg_command), one line each: all of them in --help, each
 * one in its own usage.
 */
#define DEPLOY_HELP \
	"  predict-gateway deploy [--name NAME] [--explain] MODEL.json  the next version of a\n" \
	"                                                    model, active (--explain: every row\n" \
	"                                                    it scores stores its explanation)\n"
#define ACTIVATE_HELP \
	"  predict-gateway activate NAME VERSION             make a stored version the active one\n"
#define SET_DEFAULT_HELP \
	"  predict-gateway set-default NAME                  the model /predict scores with\n"
#define MODEL_COMMANDS_HELP DEPLOY_HELP ACTIVATE_HELP SET_DEFAULT_HELP

/* As the tutorial's app: SQLite, predictions.db in the current directory. */
#define DEFAULT_DATABASE_URL "sqlite:///predictions.db"

typedef struct gateway_config
{
	const char *database_url;	/* DATABASE_URL, default sqlite:///predictions.db */
	const char *host;			/* HOST: bind address, default 0.0.0.0 */
	unsigned	port;			/* PORT, default 5000; 0 picks a free port */
	char	   *model_path;		/* PREDICT_MODEL, resolved (see config.c) */
	bool		model_given;	/* PREDICT_MODEL or --model was set, not the default */
	unsigned	threads;		/* PREDICT_THREADS: workers */
	unsigned	db_connections; /* PREDICT_DB_CONNECTIONS: the most PostgreSQL connections */
	size_t		max_body;		/* PREDICT_MAX_BODY, bytes */
	const char *api_token;		/* PREDICT_API_TOKEN, NULL = no auth */
	unsigned	max_connections;	/* PREDICT_MAX_CONNECTIONS */
	unsigned	max_connections_per_ip; /* PREDICT_MAX_CONNECTIONS_PER_IP, 0 = off */
	unsigned	idle_timeout;	/* PREDICT_IDLE_TIMEOUT, seconds */
	unsigned	request_timeout;	/* PREDICT_REQUEST_TIMEOUT, seconds */
	unsigned	db_timeout_ms;	/* PREDICT_DB_TIMEOUT_MS */
	const char *mode;			/* PREDICT_MODE: auto, extension or managed */
	const char *read_database_url;	/* PREDICT_READ_DATABASE_URL, NULL = none */
	const char *prepared_statements;	/* PREDICT_PREPARED_STATEMENTS: auto, on, off */
	unsigned	batch;			/* PREDICT_BATCH: most /predict requests per statement */
	unsigned	batch_lanes;	/* PREDICT_BATCH_LANES: such statements at once; 0: auto */
	bool		explain;		/* PREDICT_EXPLAIN: PREDICT_MODEL deployed with explain */
} gateway_config;

/*
 * Fill cfg from the environment and argv. Returns 0 to run, 1 when --help or
 * --version was printed (exit 0), -1 after printing an error (exit 2).
 */
int			config_load(gateway_config *cfg, int argc, char **argv);

/* Free what config_load allocated. */
void		config_free(gateway_config *cfg);

/*
 * At start-up, the default model the database already had ("name version",
 * as the set-up query returns it): logged, and when PREDICT_MODEL named
 * another file, why that file was not deployed and how to serve it.
 */
void		config_note_default_model(const gateway_config *cfg, const char *name_version);

/* The default number of worker threads for this machine. */
unsigned	config_default_threads(void);

/* The default most PostgreSQL connections, for that many workers. */
unsigned	config_default_db_connections(unsigned threads);

#endif							/* GATEWAY_CONFIG_H */
