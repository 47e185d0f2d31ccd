/*
 * report_stats.c - predict_report's arithmetic: the rows of one model
 * version read into counts, histograms and sorted probabilities
 * (version_add), and the ranking metrics computed from them. report.c
 * writes the document.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report.h"

static bool
doubles_push(report_doubles *a, double x)
{
	if (a->n == a->cap)
	{
		size_t		cap = a->cap ? a->cap * 2 : 1024;
		double	   *v = sqlite3_realloc64(a->v, cap * sizeof(double));

		if (v == NULL)
			return false;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return true;
}

static uint64_t
report_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static void
counts_free(report_counts *t)
{
	for (size_t i = 0; t->keys != NULL && i <= t->mask; i++)
		sqlite3_free(t->keys[i]);
	sqlite3_free(t->keys);
	sqlite3_free(t->counts);
	memset(t, 0, sizeof(*t));
}

/* The slot of key (found, or where it would go). */
static size_t
counts_slot(const report_counts *t, const char *key)
{
	size_t		i = report_hash(key) & t->mask;

	while (t->keys[i] != NULL && strcmp(t->keys[i], key) != 0)
		i = (i + 1) & t->mask;
	return i;
}

/* Add n to key's count (inserting it); false when out of memory. */
static bool
counts_add(report_counts *t, const char *key, int64_t n)
{
	size_t		i;

	if (t->keys == NULL || 2 * (t->used + 1) > t->mask + 1)
	{
		report_counts bigger = {0};
		size_t		slots = t->keys == NULL ? 16 : 2 * (t->mask + 1);

		bigger.keys = sqlite3_malloc64(slots * sizeof(char *));
		bigger.counts = sqlite3_malloc64(slots * sizeof(int64_t));
		if (bigger.keys == NULL || bigger.counts == NULL)
		{
			sqlite3_free(bigger.keys);
			sqlite3_free(bigger.counts);
			return false;
		}
		memset(bigger.keys, 0, slots * sizeof(char *));
		bigger.mask = slots - 1;
		for (size_t j = 0; t->keys != NULL && j <= t->mask; j++)
			if (t->keys[j] != NULL)
			{
				size_t		k = counts_slot(&bigger, t->keys[j]);

				bigger.keys[k] = t->keys[j];
				bigger.counts[k] = t->counts[j];
				bigger.used++;
			}
		sqlite3_free(t->keys);
		sqlite3_free(t->counts);
		*t = bigger;
	}
	i = counts_slot(t, key);
	if (t->keys[i] == NULL)
	{
		if ((t->keys[i] = sqlite3_mprintf("%s", key)) == NULL)
			return false;
		t->counts[i] = 0;
		t->used++;
	}
	t->counts[i] += n;
	return true;
}

/* key's count, or -1 when absent. */
int64_t
counts_get(const report_counts *t, const char *key)
{
	size_t		i;

	if (t->keys == NULL)
		return -1;
	i = counts_slot(t, key);
	return t->keys[i] == NULL ? -1 : t->counts[i];
}

/* The number of values <= x in sorted a[n] (width_bucket); NaN counts as above all. */
static size_t
count_at_most(const double *a, size_t n, double x)
{
	size_t		lo = 0;
	size_t		hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (a[mid] <= x || isnan(x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The number of values < x in sorted a[n]. */
static size_t
count_below(const double *a, size_t n, double x)
{
	size_t		lo = 0;
	size_t		hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * A string of a number column read as Python's float() reads it (ASCII
 * whitespace around, a sign, digits with single underscores between them,
 * inf/infinity/nan in any case); false for anything else.
 */
static bool
report_parse_number(const char *s, double *out)
{
	char		buf[512];
	size_t		len = strlen(s);
	size_t		n = 0;
	const char *p;
	const char *end;
	bool		digits = false;
	bool		mantissa = false;

	while (len > 0 && strchr(" \t\n\r\f\v", s[len - 1]) != NULL)
		len--;
	while (len > 0 && strchr(" \t\n\r\f\v", *s) != NULL)
		s++, len--;
	end = s + len;
	p = s;
	if (p < end && (*p == '+' || *p == '-'))
		buf[n++] = *p++;
	if ((size_t) (end - p) == 3 || (size_t) (end - p) == 8)
	{
		if (strncasecmp(p, "inf", 3) == 0 && (end - p == 3 || strncasecmp(p, "infinity", 8) == 0))
		{
			*out = (s[0] == '-') ? -INFINITY : INFINITY;
			return true;
		}
		if (end - p == 3 && strncasecmp(p, "nan", 3) == 0)
		{
			*out = NAN;
			return true;
		}
	}
	/* digits [. digits] [e [sign] digits], single underscores between digits */
	for (int part = 0; part < 3 && p < end; part++)
	{
		if (part == 1 && *p != '.')
			continue;
		if (part == 2 && *p != 'e' && *p != 'E')
			break;
		if (part > 0)
		{
			buf[n++] = *p++;
			if (part == 2 && p < end && (*p == '+' || *p == '-'))
				buf[n++] = *p++;
		}
		digits = false;
		while (p < end && n < sizeof(buf) - 1)
		{
			if (*p >= '0' && *p <= '9')
				buf[n++] = *p++, digits = true;
			else if (*p == '_' && digits && p + 1 < end && p[1] >= '0' && p[1] <= '9')
				p++;
			else
				break;
		}
		if (part < 2 && digits)
			mantissa = true;
		if (part == 2 && !digits)
			return false;
		if (n >= sizeof(buf) - 1)
			return false;
	}
	if (p != end || !mantissa)
		return false;
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

/*
 * The last member of an object named name (a key given twice counts once,
 * its last value: what PostgreSQL's jsonb keeps), or NULL.
 */
static const cJSON *
report_member(const cJSON *object, const char *name)
{
	const cJSON *found = NULL;

	for (const cJSON *c = object ? object->child : NULL; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, name) == 0)
			found = c;
	return found;
}


void
version_free(report_version *v)
{
	for (size_t i = 0; i < v->ncolumns; i++)
	{
		sqlite3_free(v->columns[i].edges);
		sqlite3_free(v->columns[i].bins);
		counts_free(&v->columns[i].categories);
		counts_free(&v->columns[i].seen);
	}
	sqlite3_free(v->columns);
	sqlite3_free(v->hist_edges);
	sqlite3_free(v->hist);
	sqlite3_free(v->pos.v);
	sqlite3_free(v->neg.v);
	counts_free(&v->days);
	sqlite3_free(v->day);
	cJSON_Delete(v->doc);
	memset(v, 0, sizeof(*v));
}

/* A JSON array of finite numbers as a malloc'd double array. */
static bool
report_numbers(const cJSON *array, double **out, size_t *n)
{
	size_t		i = 0;

	*n = (size_t) cJSON_GetArraySize(array);
	*out = sqlite3_malloc64((*n ? *n : 1) * sizeof(double));
	if (*out == NULL)
		return false;
	for (const cJSON *e = array ? array->child : NULL; e != NULL; e = e->next)
		(*out)[i++] = e->valuedouble;
	return true;
}

/* Start a version: read its document, set up the reference's bins. */
bool
version_start(sqlite3 *db, const char *model, sqlite3_int64 number, report_version *v)
{
	sqlite3_stmt *stmt;
	const cJSON *cols;
	size_t		i = 0;

	memset(v, 0, sizeof(*v));
	v->version = number;
	if (sqlite3_prepare_v2(db, "SELECT model FROM predict_model_versions WHERE name = ?1 AND version = ?2",
						   -1, &stmt, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(stmt, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, number);
	if (sqlite3_step(stmt) == SQLITE_ROW)
	{
		const char *text = (const char *) sqlite3_column_text(stmt, 0);

		v->doc = text ? cJSON_ParseWithLength(text, (size_t) sqlite3_column_bytes(stmt, 0)) : NULL;
	}
	sqlite3_finalize(stmt);
	v->ref = cJSON_GetObjectItemCaseSensitive(v->doc, "reference");
	if (v->ref != NULL)
	{
		const cJSON *proba = cJSON_GetObjectItemCaseSensitive(v->ref, "proba");

		if (!report_numbers(cJSON_GetObjectItemCaseSensitive(proba, "edges"), &v->hist_edges, &v->nhist))
			return false;
		if ((v->hist = sqlite3_malloc64((v->nhist + 1) * sizeof(int64_t))) == NULL)
			return false;
		memset(v->hist, 0, (v->nhist + 1) * sizeof(int64_t));
	}
	cols = cJSON_GetObjectItemCaseSensitive(v->doc, "columns");
	v->ncolumns = (size_t) cJSON_GetArraySize(cols);
	if ((v->columns = sqlite3_malloc64((v->ncolumns ? v->ncolumns : 1) * sizeof(report_column))) == NULL)
		return false;
	memset(v->columns, 0, (v->ncolumns ? v->ncolumns : 1) * sizeof(report_column));
	for (const cJSON *c = cols ? cols->child : NULL; c != NULL; c = c->next, i++)
	{
		report_column *col = &v->columns[i];
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
		const cJSON *refs = cJSON_GetObjectItemCaseSensitive(v->ref, "columns");

		col->name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
		col->numeric = cJSON_IsString(type) && strcmp(type->valuestring, "number") == 0;
		for (const cJSON *r = refs ? refs->child : NULL; r != NULL; r = r->next)
		{
			const char *named = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "column"));

			if (named != NULL && col->name != NULL && strcmp(named, col->name) == 0)
				col->ref = r;
		}
		if (col->name == NULL)
			col->name = "";
		if (col->numeric)
		{
			if (!report_numbers(cJSON_GetObjectItemCaseSensitive(col->ref, "edges"), &col->edges, &col->nedges))
				return false;
			if ((col->bins = sqlite3_malloc64((col->nedges + 1) * sizeof(int64_t))) == NULL)
				return false;
			memset(col->bins, 0, (col->nedges + 1) * sizeof(int64_t));
		}
		else
		{
			const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col->ref, "categories");
			int64_t		index = 0;

			for (const cJSON *k = cats ? cats->child : NULL; k != NULL; k = k->next, index++)
				if (cJSON_IsString(k) && !counts_add(&col->categories, k->valuestring, index))
					return false;
			col->ncategories = (size_t) index;
		}
	}
	return true;
}

/* Count one row's value of a column. */
static bool
column_add(report_column *col, const cJSON *value)
{
	char		text[40];
	double		x = NAN;

	if (col->numeric)
	{
		if (cJSON_IsNumber(value))
			x = value->valuedouble;
		else if (cJSON_IsBool(value))
			x = cJSON_IsTrue(value) ? 1.0 : 0.0;
		else if (cJSON_IsString(value) && !report_parse_number(value->valuestring, &x))
			x = NAN;
		if (isnan(x))
			col->missing++;
		else
			col->bins[count_at_most(col->edges, col->nedges, x)]++;
		return true;
	}
	if (cJSON_IsString(value))
		return counts_add(&col->seen, value->valuestring, 1);
	if (cJSON_IsNumber(value))
	{
		predict_format_number(text, sizeof(text), value->valuedouble);
		return counts_add(&col->seen, text, 1);
	}
	if (cJSON_IsBool(value))
		return counts_add(&col->seen, cJSON_IsTrue(value) ? "true" : "false", 1);
	col->missing++;				/* absent, null (objects and arrays are never scored) */
	return true;
}

/* Count one row. */
bool
version_add(report_version *v, double proba, int predicted, int true_class,
			const char *created_at, const char *observation, int observation_len)
{
	struct report_day *d;
	int64_t		at;
	char		day[11];

	v->n++;
	v->sum_proba += proba;
	v->predicted += predicted;
	if (created_at != NULL)
	{
		if (v->first_at[0] == '\0' || strcmp(created_at, v->first_at) < 0)
			snprintf(v->first_at, sizeof(v->first_at), "%s", created_at);
		if (strcmp(created_at, v->last_at) > 0)
			snprintf(v->last_at, sizeof(v->last_at), "%s", created_at);
	}
	snprintf(day, sizeof(day), "%s", created_at ? created_at : "");
	if ((at = counts_get(&v->days, day)) < 0)
	{
		if (v->ndays == v->day_cap)
		{
			size_t		cap = v->day_cap ? 2 * v->day_cap : 64;
			struct report_day *bigger = sqlite3_realloc64(v->day, cap * sizeof(struct report_day));

			if (bigger == NULL)
				return false;
			v->day = bigger;
			v->day_cap = cap;
		}
		at = (int64_t) v->ndays++;
		memset(&v->day[at], 0, sizeof(struct report_day));
		memcpy(v->day[at].day, day, sizeof(day));
		if (!counts_add(&v->days, day, at))
			return false;
	}
	d = &v->day[at];
	d->rows++;
	d->predicted += predicted;
	d->sum_proba += proba;
	if (v->hist != NULL)
		v->hist[count_at_most(v->hist_edges, v->nhist, proba)]++;
	if (true_class >= 0)
	{
		/* scikit-learn 1.2's log_loss: clipped to [eps, 1 - eps], [1 - c, c] renormalised */
		double		c = fmin(fmax(proba, REPORT_EPS), 1 - REPORT_EPS);
		double		e = (proba - true_class) * (proba - true_class);
		int			bin = 0;

		d->labelled++;
		d->positives += true_class;
		v->labelled++;
		v->positives += true_class;
		v->brier += e;
		v->log_loss += true_class ? -log(c / ((1 - c) + c)) : -log((1 - c) / ((1 - c) + c));
		if (predicted)
			true_class ? v->tp++ : v->fp++;
		else
			true_class ? v->fn++ : v->tn++;
		/* calibration_curve's bins: the edges i * (1 / bins) below the probability */
		while (bin + 1 < REPORT_BINS && (bin + 1) * (1.0 / REPORT_BINS) < proba)
			bin++;
		v->cal_rows[bin]++;
		v->cal_positives[bin] += true_class;
		v->cal_sum[bin] += proba;
		if (!doubles_push(true_class ? &v->pos : &v->neg, proba))
			return false;
	}
	if (v->ncolumns > 0)
	{
		cJSON	   *obs = cJSON_ParseWithLength(observation ? observation : "{}",
												observation ? (size_t) observation_len : 2);
		bool		ok = true;

		for (size_t i = 0; ok && i < v->ncolumns; i++)
			ok = column_add(&v->columns[i], report_member(obs, v->columns[i].name));
		cJSON_Delete(obs);
		if (!ok)
			return false;
	}
	return true;
}

/* cJSON helpers: a number or null (NaN and infinity are never written). */

/*
 * ROC AUC and average precision of the labelled rows (NaN when undefined):
 * each class sorted, each row's rank in the other class.
 */
void
version_ranking(report_version *v, double *auc, double *ap)
{
	int64_t		npos = (int64_t) v->pos.n;
	int64_t		nneg = (int64_t) v->neg.n;

	*auc = NAN;
	*ap = NAN;
	if (v->pos.n > 0)
		qsort(v->pos.v, v->pos.n, sizeof(double), compare_doubles);
	if (v->neg.n > 0)
		qsort(v->neg.v, v->neg.n, sizeof(double), compare_doubles);
	if (npos > 0 && nneg > 0)
	{
		uint64_t	sum = 0;
		size_t		below = 0;
		size_t		at_most = 0;

		/* each negative: 1 per positive above it, 1/2 per tie (counted twice) */
		for (size_t i = 0; i < v->neg.n; i++)
		{
			double		x = v->neg.v[i];

			while (below < v->pos.n && v->pos.v[below] < x)
				below++;
			while (at_most < v->pos.n && v->pos.v[at_most] <= x)
				at_most++;
			sum += 2 * (uint64_t) npos - below - at_most;
		}
		*auc = (double) sum / (2.0 * (double) npos * (double) nneg);
	}
	if (npos > 0)
	{
		double		sum = 0;
		size_t		neg_below = 0;

		/* each positive: the precision among the rows scored at least as high */
		for (size_t i = 0; i < v->pos.n; i++)
		{
			double		x = v->pos.v[i];
			int64_t		pos_below = (int64_t) count_below(v->pos.v, v->pos.n, x);

			while (neg_below < v->neg.n && v->neg.v[neg_below] < x)
				neg_below++;
			sum += (double) (npos - pos_below) / (double) (npos - pos_below + nneg - (int64_t) neg_below);
		}
		*ap = sum / (double) npos;
	}

}
