/*
 * pg_setup.h - preparing a PostgreSQL database for the gateway, in either
 * mode: with the predict extension, or "managed" (the same schema in plain
 * SQL, models compiled to PL/pgSQL) where the extension cannot be
 * installed. Also the deploy and activate commands.
 */
#ifndef GATEWAY_PG_SETUP_H
#define GATEWAY_PG_SETUP_H

#include <stdbool.h>
#include <stddef.h>

struct gateway_config;

/*
 * Start-up, in one transaction under an advisory lock (so that gateways
 * booting together on an empty database all come up): create the extension
 * or the managed schema (or bring an older one to this version), and deploy
 * cfg->model_path if there is no default model. schema gets the predict
 * tables' schema, quoted, explanations whether its predictions table has
 * the explanation column (1.5/1.9: an older schema this role could not
 * update has not), and round_trip_ms the median time of a SELECT 1
 * on the set-up's connection afterwards. False with one line in msg saying
 * what to do.
 */
bool		pg_setup(const struct gateway_config *cfg, char *schema, size_t schema_size,
					 bool *explanations, double *round_trip_ms, char *msg, size_t size);

/*
 * `predict-gateway deploy|activate ...`: argv[0] is the command. Returns
 * the process exit status.
 */
int			pg_command(int argc, char **argv);

/* libpq helpers shared with db_pg.c. */
void		pg_ignore_notice(void *arg, const char *message);
const char *pg_first_line(const char *message, char *buf, size_t size);

#endif							/* GATEWAY_PG_SETUP_H */
