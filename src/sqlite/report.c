/*
 * report.c - predict_report: monitoring (docs/monitoring.md).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

/*
 * predict_report([model [, since [, until]]]) -> text
 *
 * The document PostgreSQL's predict_report() returns, computed here in C over
 * the predictions table (schema.c; docs/monitoring.md): per model
 * version with predictions in the window [since, until) (and the active
 * version), the volume, the metrics of the labelled rows, the calibration
 * table in 10 bins, the PSI of the probability and of each input column
 * against the version's reference, missing rates, unseen categories and the
 * predictions per day (UTC). model NULL means the default model; since and
 * until are anything strftime reads ('2026-11-01', '2026-11-01T12:00:00Z',
 * '2026-11-01 12:00+02:00') or NULL. Same numbers as PostgreSQL's within
 * 1e-9 (test/report checks it); the one difference is the text of a JSON
 * number held by a string column, which PostgreSQL writes as written
 * ("3.0") and this as the double's shortest form ("3").
 */


static cJSON *
report_number(double x, bool defined)
{
	return defined && isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static double
report_psi_term(double actual, double expected)
{
	double		a = fmax(actual, REPORT_PSI_FLOOR);
	double		e = fmax(expected, REPORT_PSI_FLOOR);

	return (a - e) * log(a / e);
}

/*
 * PostgreSQL's predict_internal.report_reading: the usual reading of a PSI,
 * "unknown" where none could be computed (the feature's reason says why).
 */
static const char *
report_reading(double psi, bool has_psi)
{
	if (!has_psi)
		return "unknown";
	return psi < 0.1 ? "stable" : psi <= 0.25 ? "moderate" : "significant";
}

/* One bin of a feature: {bin, label, lower, upper, reference, rows, fraction}. */
static cJSON *
report_bin(int bin, const char *label, double lower, bool has_lower, double upper, bool has_upper,
		   double reference, bool has_reference, int64_t rows, int64_t total)
{
	cJSON	   *b = cJSON_CreateObject();

	cJSON_AddItemToObject(b, "bin", cJSON_CreateNumber(bin));
	cJSON_AddItemToObject(b, "label", cJSON_CreateString(label));
	cJSON_AddItemToObject(b, "lower", report_number(lower, has_lower));
	cJSON_AddItemToObject(b, "upper", report_number(upper, has_upper));
	cJSON_AddItemToObject(b, "reference", report_number(reference, has_reference));
	cJSON_AddItemToObject(b, "rows", cJSON_CreateNumber((double) rows));
	cJSON_AddItemToObject(b, "fraction", report_number((double) rows / (double) total, total > 0));
	return b;
}

/* The label of value bin j of edges e[m]: "< e0", "[a, b)", ">= e(m-1)" or "all". */
static void
report_label(char *out, size_t size, const double *e, size_t m, size_t j)
{
	char		a[40];
	char		b[40];

	if (m == 0)
		snprintf(out, size, "all");
	else if (j == 0)
		predict_format_number(a, sizeof(a), e[0]), snprintf(out, size, "< %s", a);
	else if (j == m)
		predict_format_number(a, sizeof(a), e[m - 1]), snprintf(out, size, ">= %s", a);
	else
	{
		predict_format_number(a, sizeof(a), e[j - 1]);
		predict_format_number(b, sizeof(b), e[j]);
		snprintf(out, size, "[%s, %s)", a, b);
	}
}

static double
report_fraction(const cJSON *array, size_t j)
{
	const cJSON *f = cJSON_GetArrayItem(array, (int) j);

	return cJSON_IsNumber(f) ? f->valuedouble : 0;
}

/* A feature object with every key, the kind-specific ones null. */
static cJSON *
report_feature(const char *name, const char *kind, double psi, bool has_psi, int64_t total)
{
	cJSON	   *f = cJSON_CreateObject();

	cJSON_AddItemToObject(f, "feature", cJSON_CreateString(name));
	cJSON_AddItemToObject(f, "kind", cJSON_CreateString(kind));
	cJSON_AddItemToObject(f, "psi", report_number(psi, has_psi));
	cJSON_AddItemToObject(f, "reading", cJSON_CreateString(report_reading(psi, has_psi)));
	cJSON_AddItemToObject(f, "rows", cJSON_CreateNumber((double) total));
	return f;
}

/* The drift of one input column (see the PostgreSQL version for the bins). */
static cJSON *
column_feature(const report_version *v, const report_column *col)
{
	const cJSON *ref = col->ref;
	cJSON	   *bins = cJSON_CreateArray();
	cJSON	   *f;
	double		psi = 0;
	int64_t		total = v->n;
	double		missing_ref = ref ? cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "missing")) : NAN;
	const char *reason = NULL;
	int64_t		unseen_rows = 0;
	cJSON	   *unseen = NULL;

	cJSON_AddItemToArray(bins, report_bin(-1, "missing", 0, false, 0, false, missing_ref, ref != NULL,
										  col->missing, total));
	psi += report_psi_term(total ? (double) col->missing / total : 0, missing_ref);
	if (ref == NULL)
		;						/* the missing rate only */
	else if (col->numeric)
	{
		const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(ref, "fractions");

		for (size_t j = 0; j <= col->nedges; j++)
		{
			char		label[100];
			double		e = report_fraction(fractions, j);

			report_label(label, sizeof(label), col->edges, col->nedges, j);
			cJSON_AddItemToArray(bins, report_bin((int) j, label, j > 0 ? col->edges[j - 1] : 0, j > 0,
												  j < col->nedges ? col->edges[j] : 0, j < col->nedges,
												  e, true, col->bins[j], total));
			psi += report_psi_term(total ? (double) col->bins[j] / total : 0, e);
		}
	}
	else
	{
		const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(ref, "fractions");
		const cJSON *cats = cJSON_GetObjectItemCaseSensitive(ref, "categories");
		size_t		head = col->ncategories < REPORT_PSI_CATEGORIES ? col->ncategories : REPORT_PSI_CATEGORIES;
		double		rest = 0;
		int64_t		rest_rows = 0;
		size_t		j = 0;
		struct
		{
			const char *value;
			int64_t		rows;
		}			top[REPORT_UNSEEN_SHOWN];
		size_t		ntop = 0;

		for (const cJSON *k = cats ? cats->child : NULL; k != NULL && j < head; k = k->next, j++)
		{
			int64_t		n = counts_get(&col->seen, k->valuestring);
			double		e = report_fraction(fractions, j);

			n = n < 0 ? 0 : n;
			cJSON_AddItemToArray(bins, report_bin((int) j, k->valuestring, 0, false, 0, false, e, true, n, total));
			psi += report_psi_term(total ? (double) n / total : 0, e);
		}
		for (size_t m = head; m < col->ncategories; m++)
			rest += report_fraction(fractions, m);
		rest = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "other")) + rest;
		for (size_t s = 0; col->seen.keys != NULL && s <= col->seen.mask; s++)
		{
			const char *value = col->seen.keys[s];
			int64_t		n = col->seen.counts[s];
			int64_t		index;

			if (value == NULL)
				continue;
			index = counts_get(&col->categories, value);
			if (index < 0 || (size_t) index >= head)
				rest_rows += n;
			if (index >= 0)
				continue;
			unseen_rows += n;
			/* the most frequent unseen values, ties in byte order */
			{
				size_t		t = 0;

				while (t < ntop && (top[t].rows > n || (top[t].rows == n && strcmp(top[t].value, value) < 0)))
					t++;
				if (t < REPORT_UNSEEN_SHOWN)
				{
					size_t		last = ntop < REPORT_UNSEEN_SHOWN ? ntop : REPORT_UNSEEN_SHOWN - 1;

					memmove(&top[t + 1], &top[t], (last - t) * sizeof(top[0]));
					top[t].value = value;
					top[t].rows = n;
					if (ntop < REPORT_UNSEEN_SHOWN)
						ntop++;
				}
			}
		}
		cJSON_AddItemToArray(bins, report_bin((int) head, "other", 0, false, 0, false, rest, true, rest_rows, total));
		psi += report_psi_term(total ? (double) rest_rows / total : 0, rest);
		unseen = cJSON_CreateArray();
		for (size_t t = 0; t < ntop; t++)
		{
			cJSON	   *u = cJSON_CreateObject();

			cJSON_AddItemToObject(u, "value", cJSON_CreateString(top[t].value));
			cJSON_AddItemToObject(u, "rows", cJSON_CreateNumber((double) top[t].rows));
			cJSON_AddItemToArray(unseen, u);
		}
	}
	if (ref == NULL)
		reason = cJSON_GetObjectItemCaseSensitive(v->doc, "reference") != NULL
			? "the reference has no entry for this column" : REPORT_NO_REFERENCE;
	else if (total == 0)
		reason = "no predictions";
	f = report_feature(col->name, col->numeric ? "number" : "string", psi, ref != NULL && total > 0, total);
	cJSON_AddItemToObject(f, "missing_rate", report_number((double) col->missing / total, total > 0));
	cJSON_AddItemToObject(f, "reference_missing_rate", report_number(missing_ref, ref != NULL));
	cJSON_AddItemToObject(f, "unseen_rows", report_number((double) unseen_rows, ref != NULL && !col->numeric));
	cJSON_AddItemToObject(f, "unseen_rate", report_number((double) unseen_rows / total,
														  ref != NULL && !col->numeric && total > 0));
	cJSON_AddItemToObject(f, "unseen_values", unseen ? unseen : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_other",
						  report_number(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ref, "other")),
										ref != NULL && !col->numeric));
	cJSON_AddItemToObject(f, "reason", reason ? cJSON_CreateString(reason) : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "bins", bins);
	return f;
}

/* The probability's drift against the reference's histogram. */
static cJSON *
probability_feature(const report_version *v)
{
	cJSON	   *f;
	cJSON	   *bins = NULL;
	double		psi = 0;
	const cJSON *fractions = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v->ref, "proba"),
															  "fractions");

	if (v->ref != NULL)
	{
		bins = cJSON_CreateArray();
		for (size_t j = 0; j <= v->nhist; j++)
		{
			char		label[100];
			double		e = report_fraction(fractions, j);

			report_label(label, sizeof(label), v->hist_edges, v->nhist, j);
			cJSON_AddItemToArray(bins, report_bin((int) j, label, j > 0 ? v->hist_edges[j - 1] : 0, j > 0,
												  j < v->nhist ? v->hist_edges[j] : 0, j < v->nhist,
												  e, true, v->hist[j], v->n));
			psi += report_psi_term(v->n ? (double) v->hist[j] / v->n : 0, e);
		}
	}
	f = report_feature("(probability)", "probability", psi, v->ref != NULL && v->n > 0, v->n);
	cJSON_AddItemToObject(f, "missing_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_missing_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_rows", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_rate", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "unseen_values", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reference_other", cJSON_CreateNull());
	cJSON_AddItemToObject(f, "reason", v->ref == NULL ? cJSON_CreateString(REPORT_NO_REFERENCE)
						  : v->n == 0 ? cJSON_CreateString("no predictions") : cJSON_CreateNull());
	cJSON_AddItemToObject(f, "bins", bins ? bins : cJSON_CreateNull());
	return f;
}

/* The finished version object (see the PostgreSQL version for every rule). */
static cJSON *
version_json(report_version *v, sqlite3_int64 active)
{
	cJSON	   *out = cJSON_CreateObject();
	cJSON	   *metrics = cJSON_CreateObject();
	cJSON	   *reasons = cJSON_CreateObject();
	cJSON	   *calibration = cJSON_CreateArray();
	cJSON	   *features = cJSON_CreateArray();
	cJSON	   *daily = cJSON_CreateArray();
	cJSON	   *drift = cJSON_CreateObject();
	int64_t		npos = (int64_t) v->pos.n;
	int64_t		nneg = (int64_t) v->neg.n;
	double		auc;
	double		ap;
	const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(v->doc, "threshold");
	const cJSON *reference_rows = cJSON_GetObjectItemCaseSensitive(v->ref, "rows");

	version_ranking(v, &auc, &ap);

	cJSON_AddItemToObject(metrics, "rows", cJSON_CreateNumber((double) v->n));
	cJSON_AddItemToObject(metrics, "labelled_rows", cJSON_CreateNumber((double) v->labelled));
	cJSON_AddItemToObject(metrics, "positive_rate", report_number((double) v->predicted / v->n, v->n > 0));
	cJSON_AddItemToObject(metrics, "mean_proba", report_number(v->sum_proba / v->n, v->n > 0));
	cJSON_AddItemToObject(metrics, "observed_positive_rate",
						  report_number((double) v->positives / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "roc_auc", report_number(auc, !isnan(auc)));
	cJSON_AddItemToObject(metrics, "average_precision", report_number(ap, !isnan(ap)));
	cJSON_AddItemToObject(metrics, "log_loss", report_number(v->log_loss / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "brier_score", report_number(v->brier / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "accuracy",
						  report_number((double) (v->tp + v->tn) / v->labelled, v->labelled > 0));
	cJSON_AddItemToObject(metrics, "precision", report_number((double) v->tp / (v->tp + v->fp), v->tp + v->fp > 0));
	cJSON_AddItemToObject(metrics, "recall", report_number((double) v->tp / (v->tp + v->fn), v->tp + v->fn > 0));
	cJSON_AddItemToObject(metrics, "f1", report_number(2.0 * v->tp / (2 * v->tp + v->fp + v->fn),
													   2 * v->tp + v->fp + v->fn > 0));
	cJSON_AddItemToObject(metrics, "true_negatives", cJSON_CreateNumber((double) v->tn));
	cJSON_AddItemToObject(metrics, "false_positives", cJSON_CreateNumber((double) v->fp));
	cJSON_AddItemToObject(metrics, "false_negatives", cJSON_CreateNumber((double) v->fn));
	cJSON_AddItemToObject(metrics, "true_positives", cJSON_CreateNumber((double) v->tp));

	if (v->n == 0)
	{
		cJSON_AddItemToObject(reasons, "positive_rate", cJSON_CreateString("no predictions"));
		cJSON_AddItemToObject(reasons, "mean_proba", cJSON_CreateString("no predictions"));
	}
	if (v->labelled == 0)
	{
		static const char *const labelled_only[] = {
			"observed_positive_rate", "roc_auc", "average_precision", "log_loss", "brier_score", "accuracy"
		};

		for (size_t i = 0; i < sizeof(labelled_only) / sizeof(labelled_only[0]); i++)
			cJSON_AddItemToObject(reasons, labelled_only[i], cJSON_CreateString(REPORT_NO_LABELS));
	}
	else
	{
		if (npos == 0 || nneg == 0)
			cJSON_AddItemToObject(reasons, "roc_auc", cJSON_CreateString(
				npos == 0 ? "the labelled predictions have one class only (true_class 0); ROC AUC needs both"
				: "the labelled predictions have one class only (true_class 1); ROC AUC needs both"));
		if (npos == 0)
			cJSON_AddItemToObject(reasons, "average_precision",
								  cJSON_CreateString("no labelled prediction has true_class 1"));
	}
	if (v->tp + v->fp == 0)
		cJSON_AddItemToObject(reasons, "precision", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no labelled prediction has predicted_class true"));
	if (v->tp + v->fn == 0)
		cJSON_AddItemToObject(reasons, "recall", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no labelled prediction has true_class 1"));
	if (2 * v->tp + v->fp + v->fn == 0)
		cJSON_AddItemToObject(reasons, "f1", cJSON_CreateString(
			v->labelled == 0 ? REPORT_NO_LABELS : "no positives, predicted or labelled"));

	for (int b = 0; b < REPORT_BINS; b++)
	{
		cJSON	   *c;

		if (v->cal_rows[b] == 0)
			continue;
		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "bin", cJSON_CreateNumber(b));
		cJSON_AddItemToObject(c, "lower", cJSON_CreateNumber(b * (1.0 / REPORT_BINS)));
		cJSON_AddItemToObject(c, "upper", cJSON_CreateNumber(b + 1 == REPORT_BINS ? 1.0 : (b + 1) * (1.0 / REPORT_BINS)));
		cJSON_AddItemToObject(c, "rows", cJSON_CreateNumber((double) v->cal_rows[b]));
		cJSON_AddItemToObject(c, "mean_proba", cJSON_CreateNumber(v->cal_sum[b] / v->cal_rows[b]));
		cJSON_AddItemToObject(c, "observed_rate", cJSON_CreateNumber((double) v->cal_positives[b] / v->cal_rows[b]));
		cJSON_AddItemToArray(calibration, c);
	}

	cJSON_AddItemToArray(features, probability_feature(v));
	for (size_t i = 0; i < v->ncolumns; i++)
		cJSON_AddItemToArray(features, column_feature(v, &v->columns[i]));
	cJSON_AddItemToObject(drift, "reference_rows", report_number(cJSON_GetNumberValue(reference_rows),
																  cJSON_IsNumber(reference_rows)));
	cJSON_AddItemToObject(drift, "features", features);

	/* days in order (rows usually come in time order already) */
	for (size_t i = 1; i < v->ndays; i++)
		for (size_t j = i; j > 0 && strcmp(v->day[j - 1].day, v->day[j].day) > 0; j--)
		{
			struct report_day t = v->day[j];

			v->day[j] = v->day[j - 1];
			v->day[j - 1] = t;
		}
	for (size_t i = 0; i < v->ndays; i++)
	{
		struct report_day *d = &v->day[i];
		cJSON	   *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "day", cJSON_CreateString(d->day));
		cJSON_AddItemToObject(o, "rows", cJSON_CreateNumber((double) d->rows));
		cJSON_AddItemToObject(o, "labelled_rows", cJSON_CreateNumber((double) d->labelled));
		cJSON_AddItemToObject(o, "positive_rate", cJSON_CreateNumber((double) d->predicted / d->rows));
		cJSON_AddItemToObject(o, "mean_proba", cJSON_CreateNumber(d->sum_proba / d->rows));
		cJSON_AddItemToObject(o, "observed_positive_rate",
							  report_number((double) d->positives / d->labelled, d->labelled > 0));
		cJSON_AddItemToArray(daily, o);
	}

	cJSON_AddItemToObject(out, "version", cJSON_CreateNumber((double) v->version));
	cJSON_AddItemToObject(out, "active", cJSON_CreateBool(v->version == active));
	cJSON_AddItemToObject(out, "threshold",
						  report_number(cJSON_IsNumber(threshold) ? threshold->valuedouble : 0.5, v->doc != NULL));
	cJSON_AddItemToObject(out, "first_at", v->first_at[0] ? cJSON_CreateString(v->first_at) : cJSON_CreateNull());
	cJSON_AddItemToObject(out, "last_at", v->last_at[0] ? cJSON_CreateString(v->last_at) : cJSON_CreateNull());
	cJSON_AddItemToObject(out, "metrics", metrics);
	cJSON_AddItemToObject(out, "reasons", reasons);
	cJSON_AddItemToObject(out, "calibration", calibration);
	cJSON_AddItemToObject(out, "drift", drift);
	cJSON_AddItemToObject(out, "daily", daily);
	/* null with the reason until report_add_importance finds explained rows */
	cJSON_AddItemToObject(reasons, "importance", cJSON_CreateString(REPORT_NO_EXPLANATION));
	cJSON_AddItemToObject(out, "importance", cJSON_CreateNull());
	return out;
}

/* A window bound as the stored timestamps write it; false (message in *msg) if unreadable. */
static bool
report_bound(sqlite3 *db, sqlite3_value *value, const char *what, char **out, char **msg)
{
	sqlite3_stmt *stmt;
	const char *t;

	*out = NULL;
	if (value == NULL || sqlite3_value_type(value) == SQLITE_NULL)
		return true;
	if (sqlite3_prepare_v2(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)", -1, &stmt, NULL) != SQLITE_OK)
	{
		*msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
		return false;
	}
	sqlite3_bind_value(stmt, 1, value);
	if (sqlite3_step(stmt) == SQLITE_ROW && (t = (const char *) sqlite3_column_text(stmt, 0)) != NULL)
		*out = sqlite3_mprintf("%s", t);
	else
		*msg = sqlite3_mprintf("%s: invalid input syntax for a timestamp: \"%s\"", what,
							   (const char *) sqlite3_value_text(value));
	sqlite3_finalize(stmt);
	return *out != NULL;
}

/*
 * A bound (report_bound's YYYY-MM-DDTHH:MM:SS.SSSZ) as PostgreSQL shows a
 * timestamptz in UTC: YYYY-MM-DD HH:MM:SS, the fraction only when not zero
 * and without trailing zeros, then +00.
 */
static const char *
shown_timestamp(const char *iso, char *buf, size_t size)
{
	size_t		len = strlen(iso);
	size_t		digits = 0;

	if (len != 24 || iso[10] != 'T' || iso[19] != '.' || iso[23] != 'Z')
		return iso;
	for (size_t i = 20; i < 23; i++)
		if (iso[i] != '0')
			digits = i - 19;
	snprintf(buf, size, "%.10s %.8s%s%.*s+00", iso, iso + 11, digits > 0 ? "." : "", (int) digits, iso + 20);
	return buf;
}

void
predict_report_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	sqlite3    *db = state->db;
	const char *requested = argc > 0 ? (const char *) sqlite3_value_text(argv[0]) : NULL;
	char	   *model = NULL;
	char	   *since = NULL;
	char	   *until = NULL;
	char	   *msg = NULL;
	sqlite3_int64 active = 0;
	bool		has_active = false;
	bool		active_seen = false;
	sqlite3_stmt *stmt = NULL;
	cJSON	   *report = NULL;
	cJSON	   *versions = NULL;
	report_version v;
	bool		started = false;
	bool		ok = true;
	int			rc;
	char	   *text;

	memset(&v, 0, sizeof(v));
	if (!report_bound(db, argc > 1 ? argv[1] : NULL, "since", &since, &msg) ||
		!report_bound(db, argc > 2 ? argv[2] : NULL, "until", &until, &msg))
		goto fail;
	if (since != NULL && until != NULL && strcmp(since, until) > 0)
	{
		char		a[40];
		char		b[40];

		msg = sqlite3_mprintf("since (%s) is after until (%s)", shown_timestamp(since, a, sizeof(a)),
							  shown_timestamp(until, b, sizeof(b)));
		goto fail;
	}
	/* the model: named, or the default one */
	rc = lookup_active(db, requested, &model, &active);
	if (rc == SQLITE_ROW)
		has_active = true;
	else if (rc != SQLITE_DONE)
	{
		msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
		goto fail;
	}
	else if (requested == NULL)
	{
		msg = registry_error_text(PREDICT_ERR_NO_DEFAULT_MODEL, &(predict_registry_args) {0});
		goto fail;
	}
	else
	{
		sqlite3_int64 found = 0;

		rc = query_one(db, "SELECT count(*) FROM predict_model_versions WHERE name = ?1", requested, &found, NULL);
		if (rc != SQLITE_ROW || found == 0)
		{
			msg = registry_error_text(PREDICT_ERR_UNKNOWN_MODEL, &(predict_registry_args) {.name = requested});
			goto fail;
		}
		model = sqlite3_mprintf("%s", requested);
	}
	if (model == NULL)
		goto nomem;

	report = cJSON_CreateObject();
	versions = cJSON_CreateArray();
	if (report == NULL || versions == NULL)
		goto nomem;
	if (sqlite3_prepare_v2(db,
						   "SELECT model_version, proba, predicted_class, true_class, created_at, observation"
						   " FROM predictions WHERE model = ?1"
						   " AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at < ?3)"
						   " ORDER BY model_version, id", -1, &stmt, NULL) != SQLITE_OK)
	{
		msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, model, -1, SQLITE_STATIC);
	if (since)
		sqlite3_bind_text(stmt, 2, since, -1, SQLITE_STATIC);
	if (until)
		sqlite3_bind_text(stmt, 3, until, -1, SQLITE_STATIC);
	while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
	{
		sqlite3_int64 number = sqlite3_column_int64(stmt, 0);

		if (!started || number != v.version)
		{
			if (started)
			{
				/* the active version without rows goes in its place */
				if (has_active && !active_seen && active < v.version)
				{
					report_version empty;

					if (!version_start(db, model, active, &empty))
						ok = false;
					cJSON_AddItemToArray(versions, version_json(&empty, active));
					version_free(&empty);
					active_seen = true;
				}
				cJSON_AddItemToArray(versions, version_json(&v, active));
				version_free(&v);
			}
			if (has_active && !active_seen && active < number)
			{
				report_version empty;

				if (!version_start(db, model, active, &empty))
					ok = false;
				cJSON_AddItemToArray(versions, version_json(&empty, active));
				version_free(&empty);
				active_seen = true;
			}
			if (!version_start(db, model, number, &v))
				ok = false;
			started = true;
			active_seen = active_seen || (has_active && number == active);
		}
		if (ok)
			ok = version_add(&v, sqlite3_column_double(stmt, 1), sqlite3_column_int(stmt, 2),
							 sqlite3_column_type(stmt, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 3),
							 (const char *) sqlite3_column_text(stmt, 4),
							 (const char *) sqlite3_column_text(stmt, 5), sqlite3_column_bytes(stmt, 5));
	}
	if (!ok)
		goto nomem;
	if (rc != SQLITE_DONE)
	{
		msg = sqlite3_mprintf("predict_report: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (started)
		cJSON_AddItemToArray(versions, version_json(&v, active));
	if (has_active && !active_seen)
	{
		report_version empty;

		if (!version_start(db, model, active, &empty))
			ok = false;
		cJSON_AddItemToArray(versions, version_json(&empty, active));
		version_free(&empty);
	}
	if (!ok)
		goto nomem;
	if (!report_add_importance(db, model, since, until, versions, &msg))
		goto fail;

	cJSON_AddItemToObject(report, "model", cJSON_CreateString(model));
	cJSON_AddItemToObject(report, "since", since ? cJSON_CreateString(since) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "until", until ? cJSON_CreateString(until) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "active_version",
						  has_active ? cJSON_CreateNumber((double) active) : cJSON_CreateNull());
	cJSON_AddItemToObject(report, "calibration_bins", cJSON_CreateNumber(REPORT_BINS));
	cJSON_AddItemToObject(report, "versions", versions);
	versions = NULL;
	if ((text = cJSON_PrintUnformatted(report)) == NULL)
		goto nomem;
	sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
	cJSON_free(text);
	goto done;

nomem:
	sqlite3_result_error_nomem(ctx);
	goto done;
fail:
	if (msg == NULL)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_error(ctx, msg, -1);
done:
	version_free(&v);
	sqlite3_finalize(stmt);
	cJSON_Delete(versions);
	cJSON_Delete(report);
	sqlite3_free(model);
	sqlite3_free(since);
	sqlite3_free(until);
	sqlite3_free(msg);
}
