/*
 * registry_errors.h - every error of the model registry and of the
 * predictions log, written once for every host: its SQLSTATE (SQLite has
 * none: its errors carry the same texts), message, detail and hint.
 *
 * A message is a template: {name} (a model's, or a column's), {version},
 * {relation}, {row_proba}, {row_class}, {proba} and {class} stand for the
 * values the host fills in (predict_registry_render). The messages SQLite's
 * triggers spell as SQL literals are macros of their arguments, so that
 * src/sqlite/schema.c gets the same text at compile time. PostgreSQL's
 * predict_internal.registry_error, which both of its modes raise from, is
 * written from this table by src/pg/registry_errors_sql.c (mk/pg.mk).
 *
 * No PostgreSQL or SQLite header here: part of the core.
 */
#ifndef PREDICT_REGISTRY_ERRORS_H
#define PREDICT_REGISTRY_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum predict_registry_error_kind
{
	PREDICT_ERR_NO_DEFAULT_MODEL,
	PREDICT_ERR_UNKNOWN_MODEL,
	PREDICT_ERR_UNKNOWN_VERSION,
	PREDICT_ERR_NULL_NAME,
	PREDICT_ERR_NULL_VERSION,
	PREDICT_ERR_NULL_DOCUMENT,
	PREDICT_ERR_INVALID_NAME,
	PREDICT_ERR_MAXIMUM_VERSION,
	PREDICT_ERR_ACTIVE_VERSION_MISSING,
	PREDICT_ERR_ACTIVE_VERSION_DELETED,
	PREDICT_ERR_ROW_WITHOUT_MODEL,
	PREDICT_ERR_ROW_NOT_SCORED,
	PREDICT_ERR_SCORED_COLUMN_CHANGED,
	PREDICT_ERR_ROW_NOT_EXPLAINED,
	PREDICT_ERR_EXPLANATION_SUPPLIED,
	PREDICT_REGISTRY_ERRORS		/* how many */
} predict_registry_error_kind;

typedef struct predict_registry_error
{
	const char *kind;			/* its name in SQL: registry_error(kind, ...) */
	const char *sqlstate;
	const char *message;		/* template */
	const char *detail;			/* template, or NULL */
	const char *hint;			/* template, or NULL */
	bool		deploy_hint;	/* the hint is the host's way to deploy {name} */
} predict_registry_error;

extern const predict_registry_error predict_registry_errors[PREDICT_REGISTRY_ERRORS];

/*
 * The values of a template's placeholders; NULL where a value is null, a
 * version of 0 or less for none (versions start at 1).
 */
typedef struct predict_registry_args
{
	const char *name;
	long long	version;
	const char *relation;
	const char *row_proba;
	const char *row_class;
	const char *proba;
	const char *class;
} predict_registry_args;

/* The error of that kind (its name in SQL), or NULL. */
extern const predict_registry_error *predict_registry_error_find(const char *kind);

/*
 * Fill template into buf (size bytes, NUL-terminated, cut if need be): each
 * placeholder becomes its value, "null" when that is NULL. Returns buf.
 */
extern char *predict_registry_render(const char *template, const predict_registry_args *args,
									 char *buf, size_t size);

/* The detail of a scoring error: which version scored the observation. */
#define PREDICT_DETAIL_SCORED_WITH "The observation was scored with model \"{name}\" version {version}."

/* Spelled by SQLite's audit triggers as SQL literals (src/sqlite/schema.c). */
#define PREDICT_MSG_SCORED_COLUMN_CHANGED(column, relation) \
	"column \"" column "\" of relation \"" relation "\" cannot be changed"
#define PREDICT_DETAIL_AUDIT_LOG "Predictions are an audit log: only true_class can be updated."

#endif							/* PREDICT_REGISTRY_ERRORS_H */
