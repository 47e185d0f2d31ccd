/*
 * report.h - predict_report's accumulators, shared by report_stats.c (which
 * reads the rows into them) and report.c (which writes the document).
 */
#ifndef PREDICT_SQLITE_REPORT_H
#define PREDICT_SQLITE_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sqlite_predict.h"

#define REPORT_BINS 10			/* calibration bins of predict_report() */
#define REPORT_EPS 2.220446049250313e-16	/* log_loss's clipping (float64 eps) */
#define REPORT_PSI_FLOOR 1e-4
#define REPORT_PSI_CATEGORIES 20	/* string categories with a PSI bin of their own */
#define REPORT_UNSEEN_SHOWN 10
#define REPORT_NO_LABELS "no labelled predictions (true_class is null in every row)"
#define REPORT_NO_REFERENCE "the model version has no reference (export it with --reference)"
#define REPORT_NO_EXPLANATION \
	"no row of this version has an explanation; deploy it with explain or insert with explanation = true"

/* A growable array of doubles. */
typedef struct report_doubles
{
	double	   *v;
	size_t		n;
	size_t		cap;
} report_doubles;

/* A string -> count table (open addressing; keys owned). */
typedef struct report_counts
{
	char	  **keys;
	int64_t    *counts;
	size_t		mask;			/* slots - 1 */
	size_t		used;
} report_counts;

/* One input column of a model version, and what its rows held. */
typedef struct report_column
{
	const char *name;
	bool		numeric;
	const cJSON *ref;			/* the reference entry, or NULL */
	double	   *edges;			/* number: the reference's edges */
	size_t		nedges;
	int64_t    *bins;			/* number: per value bin (nedges + 1) */
	report_counts categories;	/* string: reference category -> index */
	size_t		ncategories;
	report_counts seen;			/* string: every value -> rows */
	int64_t		missing;
} report_column;

/* One model version's accumulated rows. */
typedef struct report_version
{
	sqlite3_int64 version;
	cJSON	   *doc;			/* its model document (NULL if not stored) */
	const cJSON *ref;
	int64_t		n;
	int64_t		predicted;
	int64_t		labelled;
	int64_t		positives;
	int64_t		tp, fp, fn, tn;
	double		sum_proba;
	double		brier;
	double		log_loss;
	char		first_at[40];
	char		last_at[40];
	int64_t		cal_rows[REPORT_BINS];
	int64_t		cal_positives[REPORT_BINS];
	double		cal_sum[REPORT_BINS];
	double	   *hist_edges;		/* the reference's probability edges */
	size_t		nhist;
	int64_t    *hist;			/* nhist + 1 bins */
	report_doubles pos;			/* labelled probabilities of each class */
	report_doubles neg;
	report_counts days;			/* "YYYY-MM-DD" -> index into day_* */
	struct report_day
	{
		char		day[11];
		int64_t		rows, labelled, predicted, positives;
		double		sum_proba;
	}		   *day;
	size_t		ndays;
	size_t		day_cap;
	report_column *columns;
	size_t		ncolumns;
} report_version;

int64_t		counts_get(const report_counts *t, const char *key);
void		version_free(report_version *v);
bool		version_start(sqlite3 *db, const char *model, sqlite3_int64 number, report_version *v);
bool		version_add(report_version *v, double proba, int predicted, int true_class,
						const char *created_at, const char *observation, int observation_len);
void		version_ranking(report_version *v, double *auc, double *ap);

/* report_importance.c */
bool		report_add_importance(sqlite3 *db, const char *model, const char *since, const char *until,
								  cJSON *versions, char **msg);

#endif							/* PREDICT_SQLITE_REPORT_H */
