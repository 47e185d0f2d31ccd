/*
 * report_page.c - the monitoring page of GET /: the default model's report
 * (predict_report(), docs/monitoring.md) as one self-contained HTML page.
 *
 * The page shows one model version, the active one: its headline metrics,
 * the predictions per day, the probability's histogram against the
 * training reference, the calibration plot of the labelled rows, the
 * confusion matrix and the PSI table with its warnings highlighted; a
 * table compares the versions when the window holds several. The charts
 * are SVG drawn here, with the numbers they show in data-* attributes (the
 * browser test reads them); the style sheet is inline. Nothing is fetched:
 * no script, no font, no image.
 */
#include "report_page.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Chart geometry, in SVG user units (the SVGs scale to their box). */
#define CHART_W 560
#define CHART_H 260
#define PAD_L 56
#define PAD_R 16
#define PAD_T 16
#define PAD_B 44

/* ---------- small writers ---------- */

/* Text as HTML (element content and attribute values alike). */
static void
put_html(strbuf *sb, const char *s)
{
	for (; s != NULL && *s; s++)
	{
		switch (*s)
		{
			case '&':
				sb_puts(sb, "&amp;");
				break;
			case '<':
				sb_puts(sb, "&lt;");
				break;
			case '>':
				sb_puts(sb, "&gt;");
				break;
			case '"':
				sb_puts(sb, "&quot;");
				break;
			case '\'':
				sb_puts(sb, "&#39;");
				break;
			default:
				sb_append(sb, s, 1);
		}
	}
}

static const cJSON *
get(const cJSON *object, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(object, key);
}

/* A member as a number; NAN when absent or null. */
static double
num(const cJSON *object, const char *key)
{
	const cJSON *item = get(object, key);

	return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static const char *
str(const cJSON *object, const char *key)
{
	const char *s = cJSON_GetStringValue(get(object, key));

	return s != NULL ? s : "";
}

/* A count with thousands separators ("1,000,000"). */
static void
put_count(strbuf *sb, double x)
{
	char		digits[32];
	size_t		n;

	if (!isfinite(x))
	{
		sb_puts(sb, "&#8212;");
		return;
	}
	snprintf(digits, sizeof(digits), "%.0f", fabs(x));
	n = strlen(digits);
	if (x < 0)
		sb_puts(sb, "-");
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0 && (n - i) % 3 == 0)
			sb_puts(sb, ",");
		sb_append(sb, digits + i, 1);
	}
}

/* A number for reading: fixed decimals, or a dash for null. */
static void
put_fixed(strbuf *sb, double x, int decimals)
{
	if (!isfinite(x))
		sb_puts(sb, "&#8212;");
	else
		sb_printf(sb, "%.*f", decimals, x);
}

static void
put_percent(strbuf *sb, double x)
{
	if (!isfinite(x))
		sb_puts(sb, "&#8212;");
	else
		sb_printf(sb, "%.1f%%", 100 * x);
}

/* A data-* attribute holding a number exactly (or "null"). */
static void
put_data(strbuf *sb, const char *name, double x)
{
	sb_printf(sb, " data-%s=\"", name);
	sb_json_double(sb, x);
	sb_puts(sb, "\"");
}

/* A round step for an axis from 0 to max with about 4 gridlines. */
static double
axis_step(double max)
{
	double		raw = max / 4;
	double		p = pow(10, floor(log10(raw)));
	double		m = raw / p;

	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The horizontal gridlines and their labels of a y axis from 0 to top. */
static void
put_y_axis(strbuf *sb, double top, double step, bool percent)
{
	double		plot_h = CHART_H - PAD_T - PAD_B;

	for (double y = 0; y <= top * 1.000001; y += step)
	{
		double		py = CHART_H - PAD_B - y / top * plot_h;

		sb_printf(sb, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>",
				  PAD_L, CHART_W - PAD_R, py, py);
		sb_printf(sb, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", PAD_L - 6, py + 4);
		if (percent)
			sb_printf(sb, "%.0f%%", 100 * y);
		else if (step >= 1)
			put_count(sb, y);
		else
			sb_printf(sb, "%g", y);
		sb_puts(sb, "</text>");
	}
}

static void
put_empty_chart(strbuf *sb, const char *id, const char *chart, const char *message)
{
	sb_printf(sb, "<svg id=\"%s\" class=\"chart\" data-chart=\"%s\" data-points=\"0\" viewBox=\"0 0 %d %d\" "
			  "role=\"img\"><text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
			  id, chart, CHART_W, CHART_H, CHART_W / 2, CHART_H / 2);
	put_html(sb, message);
	sb_puts(sb, "</text></svg>");
}

/* ---------- the charts ---------- */

/* Predictions per day: one bar per day, the share predicted positive in its title. */
static void
put_daily_chart(strbuf *sb, const cJSON *daily)
{
	int			n = cJSON_GetArraySize(daily);
	double		max = 0;
	double		plot_w = CHART_W - PAD_L - PAD_R;
	double		plot_h = CHART_H - PAD_T - PAD_B;
	double		slot;
	double		step;
	double		top;
	int			i = 0;

	if (n == 0)
	{
		put_empty_chart(sb, "daily-chart", "daily", "no predictions yet");
		return;
	}
	for (const cJSON *d = daily->child; d != NULL; d = d->next)
		max = fmax(max, num(d, "rows"));
	step = axis_step(fmax(max, 4));
	top = ceil(fmax(max, 4) / step) * step;
	slot = plot_w / n;
	sb_printf(sb, "<svg id=\"daily-chart\" class=\"chart\" data-chart=\"daily\" data-points=\"%d\" "
			  "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"predictions per day\">", n, CHART_W, CHART_H);
	put_y_axis(sb, top, step, false);
	for (const cJSON *d = daily->child; d != NULL; d = d->next, i++)
	{
		double		rows = num(d, "rows");
		double		h = rows / top * plot_h;
		double		x = PAD_L + i * slot + slot * 0.12;

		sb_printf(sb, "<rect class=\"bar now\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" data-day=\"",
				  x, CHART_H - PAD_B - h, slot * 0.76, h);
		put_html(sb, str(d, "day"));
		sb_puts(sb, "\"");
		put_data(sb, "rows", rows);
		put_data(sb, "labelled-rows", num(d, "labelled_rows"));
		put_data(sb, "positive-rate", num(d, "positive_rate"));
		sb_puts(sb, "><title>");
		put_html(sb, str(d, "day"));
		sb_puts(sb, ": ");
		put_count(sb, rows);
		sb_puts(sb, " predictions, ");
		put_percent(sb, num(d, "positive_rate"));
		sb_puts(sb, " predicted positive, ");
		put_count(sb, num(d, "labelled_rows"));
		sb_puts(sb, " labelled</title></rect>");
		/* the first, the last and a few days between, labelled */
		if (i == 0 || i == n - 1 || (n > 2 && i % ((n + 5) / 6) == 0 && n - 1 - i > (n + 5) / 12))
		{
			sb_printf(sb, "<text class=\"tick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">",
					  PAD_L + (i + 0.5) * slot, CHART_H - PAD_B + 16);
			put_html(sb, str(d, "day") + (strlen(str(d, "day")) == 10 ? 5 : 0));
			sb_puts(sb, "</text>");
		}
	}
	sb_printf(sb, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">day (UTC)</text>",
			  PAD_L + (int) plot_w / 2, CHART_H - 6);
	sb_puts(sb, "</svg>");
}

/* The probability's histogram: the training reference next to the predictions, per bin. */
static void
put_probability_chart(strbuf *sb, const cJSON *feature)
{
	const cJSON *bins = get(feature, "bins");
	int			n = cJSON_GetArraySize(bins);
	double		max = 0;
	double		plot_w = CHART_W - PAD_L - PAD_R;
	double		plot_h = CHART_H - PAD_T - PAD_B;
	double		slot;
	double		step;
	double		top;
	int			i = 0;

	if (!cJSON_IsArray(bins) || n == 0)
	{
		put_empty_chart(sb, "probability-chart", "probability",
						cJSON_IsString(get(feature, "reason")) ? str(feature, "reason") : "no reference");
		return;
	}
	for (const cJSON *b = bins->child; b != NULL; b = b->next)
		max = fmax(max, fmax(isfinite(num(b, "reference")) ? num(b, "reference") : 0,
							 isfinite(num(b, "fraction")) ? num(b, "fraction") : 0));
	max = fmax(max, 0.04);
	step = axis_step(max);
	top = ceil(max / step) * step;
	slot = plot_w / n;
	sb_printf(sb, "<svg id=\"probability-chart\" class=\"chart\" data-chart=\"probability\" data-points=\"%d\"",
			  n);
	put_data(sb, "psi", num(feature, "psi"));
	sb_printf(sb, " viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"probability histogram against training\">",
			  CHART_W, CHART_H);
	put_y_axis(sb, top, step, true);
	for (const cJSON *b = bins->child; b != NULL; b = b->next, i++)
	{
		static const char *const series[] = {"reference", "fraction"};
		static const char *const css[] = {"bar ref", "bar now"};
		static const char *const names[] = {"training", "predictions"};

		for (int s = 0; s < 2; s++)
		{
			double		f = num(b, series[s]);
			double		h = isfinite(f) ? f / top * plot_h : 0;
			double		x = PAD_L + i * slot + slot * (0.1 + 0.4 * s);

			sb_printf(sb, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
					  "data-series=\"%s\" data-bin=\"%d\"",
					  css[s], x, CHART_H - PAD_B - h, slot * 0.38, h, s == 0 ? "reference" : "predictions", i);
			put_data(sb, "fraction", f);
			sb_puts(sb, "><title>");
			put_html(sb, str(b, "label"));
			sb_printf(sb, ": %s ", names[s]);
			put_percent(sb, f);
			sb_puts(sb, "</title></rect>");
		}
		sb_printf(sb, "<text class=\"tick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">",
				  PAD_L + i * slot, CHART_H - PAD_B + 16);
		if (i > 0)
			sb_printf(sb, "%g", num(b, "lower"));
		else
			sb_puts(sb, "0");		/* probabilities start at 0 */
		sb_puts(sb, "</text>");
	}
	sb_printf(sb, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">1</text>",
			  CHART_W - PAD_R, CHART_H - PAD_B + 16);
	sb_printf(sb, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">predicted probability</text>",
			  PAD_L + (int) plot_w / 2, CHART_H - 6);
	sb_printf(sb, "<rect class=\"bar ref\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\"/>"
			  "<text class=\"legend\" x=\"%d\" y=\"%d\">training</text>"
			  "<rect class=\"bar now\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\"/>"
			  "<text class=\"legend\" x=\"%d\" y=\"%d\">predictions</text>",
			  CHART_W - 190, PAD_T, CHART_W - 172, PAD_T + 11, CHART_W - 100, PAD_T, CHART_W - 82, PAD_T + 11);
	sb_puts(sb, "</svg>");
}

/* The calibration plot: observed against predicted per bin, the diagonal for reference. */
static void
put_calibration_chart(strbuf *sb, const cJSON *calibration)
{
	int			n = cJSON_GetArraySize(calibration);
	double		size = CHART_H - PAD_T - PAD_B;
	double		x0 = (CHART_W - size) / 2;
	double		y0 = CHART_H - PAD_B;
	double		max_rows = 1;
	int			i = 0;

	if (n == 0)
	{
		put_empty_chart(sb, "calibration-chart", "calibration", "no labelled predictions yet");
		return;
	}
	for (const cJSON *c = calibration->child; c != NULL; c = c->next)
		max_rows = fmax(max_rows, num(c, "rows"));
	sb_printf(sb, "<svg id=\"calibration-chart\" class=\"chart\" data-chart=\"calibration\" data-points=\"%d\" "
			  "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"calibration plot\">", n, CHART_W, CHART_H);
	for (int t = 0; t <= 4; t++)
	{
		double		v = t / 4.0;

		sb_printf(sb, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
				  "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
				  "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>"
				  "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>",
				  x0, x0 + size, y0 - v * size, y0 - v * size,
				  x0 + v * size, x0 + v * size, y0, y0 - size,
				  x0 - 6, y0 - v * size + 4, v, x0 + v * size, y0 + 16, v);
	}
	sb_printf(sb, "<line class=\"diagonal\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
			  x0, y0, x0 + size, y0 - size);
	sb_puts(sb, "<polyline class=\"curve\" points=\"");
	for (const cJSON *c = calibration->child; c != NULL; c = c->next)
		sb_printf(sb, "%.2f,%.2f ", x0 + num(c, "mean_proba") * size, y0 - num(c, "observed_rate") * size);
	sb_puts(sb, "\"/>");
	for (const cJSON *c = calibration->child; c != NULL; c = c->next, i++)
	{
		double		r = 3 + 6 * sqrt(num(c, "rows") / max_rows);

		sb_printf(sb, "<circle class=\"point\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\" data-bin=\"%d\"",
				  x0 + num(c, "mean_proba") * size, y0 - num(c, "observed_rate") * size, r,
				  (int) num(c, "bin"));
		put_data(sb, "mean-proba", num(c, "mean_proba"));
		put_data(sb, "observed-rate", num(c, "observed_rate"));
		put_data(sb, "rows", num(c, "rows"));
		sb_puts(sb, "><title>");
		sb_printf(sb, "%g to %g: predicted ", num(c, "lower"), num(c, "upper"));
		put_fixed(sb, num(c, "mean_proba"), 3);
		sb_puts(sb, ", observed ");
		put_fixed(sb, num(c, "observed_rate"), 3);
		sb_puts(sb, " (");
		put_count(sb, num(c, "rows"));
		sb_puts(sb, " rows)</title></circle>");
	}
	sb_printf(sb, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">mean predicted probability</text>"
			  "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
			  "transform=\"rotate(-90 %.1f %.1f)\">observed rate</text>",
			  x0 + size / 2, CHART_H - 6, x0 - 40, y0 - size / 2, x0 - 40, y0 - size / 2);
	sb_puts(sb, "</svg>");
}

/* ---------- tables and tiles ---------- */

static const struct
{
	const char *key;
	const char *label;
	char		kind;			/* c count, p percent, f fraction (3 decimals) */
}			tiles[] = {
	{"rows", "predictions", 'c'},
	{"labelled_rows", "labelled", 'c'},
	{"positive_rate", "predicted positive", 'p'},
	{"mean_proba", "mean probability", 'f'},
	{"observed_positive_rate", "observed positive", 'p'},
	{"roc_auc", "ROC AUC", 'f'},
	{"average_precision", "average precision", 'f'},
	{"log_loss", "log loss", 'f'},
	{"brier_score", "Brier score", 'f'},
	{"accuracy", "accuracy", 'f'},
	{"precision", "precision", 'f'},
	{"recall", "recall", 'f'},
	{"f1", "F1", 'f'},
};

static void
put_tiles(strbuf *sb, const cJSON *version)
{
	const cJSON *metrics = get(version, "metrics");
	const cJSON *reasons = get(version, "reasons");

	sb_puts(sb, "<section class=\"tiles\" id=\"metrics\">");
	for (size_t i = 0; i < sizeof(tiles) / sizeof(tiles[0]); i++)
	{
		double		v = num(metrics, tiles[i].key);
		const char *reason = cJSON_GetStringValue(get(reasons, tiles[i].key));

		sb_printf(sb, "<div class=\"tile%s\" data-metric=\"%s\"", isfinite(v) ? "" : " null", tiles[i].key);
		put_data(sb, "value", v);
		if (reason != NULL)
		{
			sb_puts(sb, " title=\"");
			put_html(sb, reason);
			sb_puts(sb, "\"");
		}
		sb_printf(sb, "><div class=\"value\">");
		if (tiles[i].kind == 'c')
			put_count(sb, v);
		else if (tiles[i].kind == 'p')
			put_percent(sb, v);
		else
			put_fixed(sb, v, 3);
		sb_printf(sb, "</div><div class=\"label\">%s</div>", tiles[i].label);
		if (reason != NULL)
		{
			sb_puts(sb, "<div class=\"reason\">");
			put_html(sb, reason);
			sb_puts(sb, "</div>");
		}
		sb_puts(sb, "</div>");
	}
	sb_puts(sb, "</section>");
}

static void
put_confusion(strbuf *sb, const cJSON *version)
{
	const cJSON *m = get(version, "metrics");

	sb_puts(sb, "<table id=\"confusion\" class=\"confusion\"><tr><th></th><th>predicted 0</th>"
			"<th>predicted 1</th></tr><tr><th>actual 0</th><td data-cell=\"true_negatives\">");
	put_count(sb, num(m, "true_negatives"));
	sb_puts(sb, "</td><td data-cell=\"false_positives\">");
	put_count(sb, num(m, "false_positives"));
	sb_puts(sb, "</td></tr><tr><th>actual 1</th><td data-cell=\"false_negatives\">");
	put_count(sb, num(m, "false_negatives"));
	sb_puts(sb, "</td><td data-cell=\"true_positives\">");
	put_count(sb, num(m, "true_positives"));
	sb_printf(sb, "</td></tr></table><p class=\"note\">At the threshold ");
	put_fixed(sb, num(version, "threshold"), 2);
	sb_puts(sb, " (predicted_class as logged).</p>");
}

/*
 * A feature's reading: the report's, or "unknown" where it has none (an
 * extension before 1.2, which this gateway's role may not update, says null).
 */
static const char *
reading_of(const cJSON *feature)
{
	const char *reading = cJSON_GetStringValue(get(feature, "reading"));

	return reading != NULL ? reading : "unknown";
}

/* A reading's badge, and why when the PSI could not be computed. */
static void
put_reading(strbuf *sb, const cJSON *feature)
{
	const char *reading = reading_of(feature);

	sb_puts(sb, "<span class=\"badge ");
	put_html(sb, reading);
	sb_puts(sb, "\">");
	put_html(sb, reading);
	sb_puts(sb, "</span>");
	if (cJSON_IsString(get(feature, "reason")))
	{
		sb_puts(sb, " <span class=\"note reason\">");
		put_html(sb, str(feature, "reason"));
		sb_puts(sb, "</span>");
	}
}

/* The PSI table: one row per feature, drift and unknown readings highlighted. */
static void
put_psi_table(strbuf *sb, const cJSON *version)
{
	const cJSON *features = get(get(version, "drift"), "features");

	sb_puts(sb, "<table id=\"psi\" class=\"psi\"><thead><tr><th>feature</th><th class=\"num\">PSI</th><th>reading</th>"
			"<th class=\"num\">missing now</th><th class=\"num\">missing in training</th><th>unseen categories</th></tr></thead><tbody>");
	for (const cJSON *f = features ? features->child : NULL; f != NULL; f = f->next)
	{
		const cJSON *unseen = get(f, "unseen_values");
		int			shown = 0;

		sb_puts(sb, "<tr class=\"");
		put_html(sb, reading_of(f));
		sb_puts(sb, "\" data-feature=\"");
		put_html(sb, str(f, "feature"));
		sb_puts(sb, "\" data-reading=\"");
		put_html(sb, reading_of(f));
		sb_puts(sb, "\"");
		put_data(sb, "psi", num(f, "psi"));
		sb_puts(sb, "><td>");
		put_html(sb, str(f, "feature"));
		sb_puts(sb, " <span class=\"kind\">");
		put_html(sb, str(f, "kind"));
		sb_puts(sb, "</span></td><td class=\"num\">");
		put_fixed(sb, num(f, "psi"), 3);
		sb_puts(sb, "</td><td>");
		put_reading(sb, f);
		sb_puts(sb, "</td><td class=\"num\">");
		put_percent(sb, num(f, "missing_rate"));
		sb_puts(sb, "</td><td class=\"num\">");
		put_percent(sb, num(f, "reference_missing_rate"));
		sb_puts(sb, "</td><td>");
		if (cJSON_IsNumber(get(f, "unseen_rows")) && num(f, "unseen_rows") == 0)
			sb_puts(sb, "none");
		else if (cJSON_IsNumber(get(f, "unseen_rows")))
		{
			put_count(sb, num(f, "unseen_rows"));
			sb_puts(sb, " rows");
			for (const cJSON *u = unseen ? unseen->child : NULL; u != NULL && shown < 5; u = u->next, shown++)
			{
				sb_puts(sb, shown == 0 ? ": " : ", ");
				sb_puts(sb, "<code>");
				put_html(sb, str(u, "value"));
				sb_puts(sb, "</code> (");
				put_count(sb, num(u, "rows"));
				sb_puts(sb, ")");
			}
		}
		sb_puts(sb, "</td></tr>");
	}
	sb_puts(sb, "</tbody></table><p class=\"note\">PSI against the training data: below 0.1 stable, "
			"0.1 to 0.25 moderate, above 0.25 significant; unknown where it cannot be computed, "
			"with the reason.</p>");
}

/* The weeks shown in the importance table: the last ones. */
#define IMPORTANCE_WEEKS 6

/* A column's entry in an importance list ("columns" of the window or a week). */
static const cJSON *
importance_column(const cJSON *columns, const char *name)
{
	for (const cJSON *c = columns ? columns->child : NULL; c != NULL; c = c->next)
		if (strcmp(str(c, "column"), name) == 0)
			return c;
	return NULL;
}

/* A bar per column: mean |contribution| over the window, widths against the largest. */
static void
put_importance_bars(strbuf *sb, const cJSON *columns)
{
	double		top = num(columns ? columns->child : NULL, "mean_abs_contribution");

	sb_puts(sb, "<div id=\"importance-bars\">");
	for (const cJSON *c = columns ? columns->child : NULL; c != NULL; c = c->next)
	{
		double		x = num(c, "mean_abs_contribution");
		double		width = isfinite(x) && top > 0 ? 100 * x / top : 0;

		sb_puts(sb, "<div class=\"imp\" data-column=\"");
		put_html(sb, str(c, "column"));
		sb_puts(sb, "\"");
		put_data(sb, "mean", x);
		sb_printf(sb, " data-rank=\"%d\"><span class=\"name\">", (int) num(c, "rank"));
		put_html(sb, str(c, "column"));
		sb_printf(sb, "</span><span class=\"track\"><span class=\"fill\" style=\"width:%.1f%%\"></span></span>"
				  "<span class=\"val\">", width);
		put_fixed(sb, x, 3);
		sb_puts(sb, "</span></div>");
	}
	sb_puts(sb, "</div>");
}

/* Each column's mean |contribution| in the last weeks, with the change from the week before. */
static void
put_importance_weeks(strbuf *sb, const cJSON *importance)
{
	const cJSON *weekly = get(importance, "weekly");
	const cJSON *columns = get(importance, "columns");
	int			n = cJSON_GetArraySize(weekly);
	int			first = n > IMPORTANCE_WEEKS ? n - IMPORTANCE_WEEKS : 0;

	sb_puts(sb, "<table id=\"importance-weekly\"><thead><tr><th>column</th>");
	for (int i = first; i < n; i++)
	{
		const cJSON *w = cJSON_GetArrayItem(weekly, i);

		sb_puts(sb, "<th class=\"num\">week of ");
		put_html(sb, str(w, "week"));
		sb_puts(sb, " <span class=\"kind\">");
		put_count(sb, num(w, "rows"));
		sb_puts(sb, " rows</span></th>");
	}
	sb_puts(sb, "</tr></thead><tbody>");
	for (const cJSON *c = columns ? columns->child : NULL; c != NULL; c = c->next)
	{
		sb_puts(sb, "<tr data-column=\"");
		put_html(sb, str(c, "column"));
		sb_puts(sb, "\"><td>");
		put_html(sb, str(c, "column"));
		sb_puts(sb, "</td>");
		for (int i = first; i < n; i++)
		{
			const cJSON *e = importance_column(get(cJSON_GetArrayItem(weekly, i), "columns"), str(c, "column"));
			double		change = num(e, "change");

			sb_puts(sb, "<td class=\"num\"");
			put_data(sb, "mean", num(e, "mean_abs_contribution"));
			put_data(sb, "change", change);
			sb_puts(sb, ">");
			put_fixed(sb, num(e, "mean_abs_contribution"), 3);
			if (isfinite(change))
				sb_printf(sb, " <span class=\"change %s\">%+.3f</span>",
						  change > 0 ? "up" : change < 0 ? "down" : "same", change);
			sb_puts(sb, "</td>");
		}
		sb_puts(sb, "</tr>");
	}
	sb_puts(sb, "</tbody></table>");
}

/*
 * Why: the version's global importance (mean |contribution| per column, in
 * its explanations' space) and its weeks; the reason where it is null.
 */
static void
put_importance(strbuf *sb, const cJSON *version)
{
	const cJSON *importance = get(version, "importance");

	sb_puts(sb, "<section class=\"card\" id=\"importance\"><h2>Why: global importance");
	if (!cJSON_IsObject(importance))
	{
		const char *reason = cJSON_GetStringValue(get(get(version, "reasons"), "importance"));

		sb_puts(sb, "</h2><p class=\"note reason\">");
		put_html(sb, reason != NULL ? reason : "no importance in this report");
		sb_puts(sb, "</p></section>");
		return;
	}
	sb_puts(sb, " <span class=\"sub\">mean |contribution| in ");
	put_html(sb, str(importance, "space"));
	sb_puts(sb, " over ");
	put_count(sb, num(importance, "rows"));
	sb_puts(sb, " explained predictions</span></h2>");
	put_importance_bars(sb, get(importance, "columns"));
	put_importance_weeks(sb, importance);
	sb_puts(sb, "<p class=\"note\">Weeks start on Monday, 00:00 UTC; the change is from the previous week "
			"with explained predictions.</p></section>");
}

static void
put_versions(strbuf *sb, const cJSON *versions)
{
	sb_puts(sb, "<table id=\"versions\"><thead><tr><th>version</th><th class=\"num\">predictions</th><th class=\"num\">labelled</th>"
			"<th class=\"num\">ROC AUC</th><th class=\"num\">log loss</th><th class=\"num\">Brier</th>"
			"<th class=\"num\">probability PSI</th></tr></thead><tbody>");
	for (const cJSON *v = versions->child; v != NULL; v = v->next)
	{
		const cJSON *m = get(v, "metrics");
		const cJSON *features = get(get(v, "drift"), "features");

		sb_printf(sb, "<tr data-version=\"%d\"><td>%d%s</td><td class=\"num\">", (int) num(v, "version"),
				  (int) num(v, "version"), cJSON_IsTrue(get(v, "active")) ? " (active)" : "");
		put_count(sb, num(m, "rows"));
		sb_puts(sb, "</td><td class=\"num\">");
		put_count(sb, num(m, "labelled_rows"));
		sb_puts(sb, "</td><td class=\"num\">");
		put_fixed(sb, num(m, "roc_auc"), 3);
		sb_puts(sb, "</td><td class=\"num\">");
		put_fixed(sb, num(m, "log_loss"), 3);
		sb_puts(sb, "</td><td class=\"num\">");
		put_fixed(sb, num(m, "brier_score"), 3);
		sb_puts(sb, "</td><td class=\"num\">");
		put_fixed(sb, num(features ? features->child : NULL, "psi"), 3);
		sb_puts(sb, "</td></tr>");
	}
	sb_puts(sb, "</tbody></table>");
}

static const char style[] =
	"body{font-family:'DejaVu Sans',Lato,Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
	"header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:24px}"
	"header h1 span{font-weight:normal;color:#b8c0d0;font-size:18px;margin-left:10px}"
	"header p{margin:6px 0 0;color:#b8c0d0;font-size:13px}main{padding:20px 32px}"
	"nav{margin-top:8px;font-size:13px;color:#b8c0d0}nav a{color:#9cc0ff}nav b{color:#fff}"
	".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-bottom:18px}"
	".tile{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
	".tile .value{font-size:22px;font-weight:bold}.tile .label{font-size:12px;color:#5b6475;margin-top:2px}"
	".tile.null .value{color:#9aa1ad}.tile .reason{font-size:11px;color:#9aa1ad;margin-top:4px}"
	".grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}"
	".card{background:#fff;border-radius:6px;padding:12px 16px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08);"
	"margin-bottom:16px}.card h2{font-size:15px;margin:0 0 8px}.card h2 .psi,.card h2 .sub{font-weight:normal;color:#5b6475}"
	".chart{width:100%;height:auto;display:block}"
	".chart .grid{stroke:#e3e6eb;stroke-width:1}"
	".chart .tick,.chart .legend{font-size:11px;fill:#5b6475}.chart .axis{font-size:12px;fill:#1d2330}"
	".chart .empty{font-size:14px;fill:#9aa1ad}.bar.now{fill:#3569c8}.bar.ref{fill:#b8c0d0}"
	".diagonal{stroke:#9aa1ad;stroke-dasharray:4 4}.curve{fill:none;stroke:#3569c8;stroke-width:2}"
	".point{fill:#3569c8;fill-opacity:.8;stroke:#fff}"
	"table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:6px 8px;text-align:left;"
	"border-bottom:1px solid #e3e6eb}th{color:#5b6475;font-weight:normal}td.num,th.num{text-align:right;"
	"font-variant-numeric:tabular-nums}.kind{color:#9aa1ad;font-size:11px}"
	"tr.moderate{background:#fff4d6}tr.significant{background:#fde2e1}tr.unknown{background:#eef0f3}"
	".badge{padding:2px 8px;border-radius:10px;font-size:12px}.badge.stable{background:#dff3e4;color:#1d6b34}"
	".badge.moderate{background:#ffe8a3;color:#7a5200}.badge.significant{background:#f8b4b0;color:#8a1410}"
	".badge.unknown{background:#d5d9e0;color:#1d2330}"
	/* the counts right-aligned under headers aligned the same way */
	".confusion th,.confusion td{text-align:right}.confusion td{font-size:16px}"
	".confusion tr>th:first-child{text-align:left}.note{color:#5b6475;font-size:12px}"
	"footer{padding:0 32px 24px;color:#5b6475;font-size:12px}code{font-size:12px}"
	".imp{display:flex;align-items:center;gap:8px;font-size:13px;margin:3px 0}.imp .name{width:120px}"
	".imp .track{flex:1;background:#eef0f3;height:12px;border-radius:2px}"
	".imp .fill{display:block;height:12px;background:#3569c8;border-radius:2px}"
	".imp .val{width:56px;text-align:right;font-variant-numeric:tabular-nums}"
	/* a change is neither good nor bad: the same colour up and down */
	"#importance-weekly{margin-top:12px}.change{font-size:11px;color:#5b6475}";

/*
 * A timestamp of the report (ISO 8601: PostgreSQL's 2026-12-05T10:31:07.123456+00:00,
 * SQLite's 2026-12-05T10:31:07.123Z) as a person reads it, 2026-12-05 10:31 UTC,
 * in a <time> element that keeps the exact value; other text as it is.
 */
static void
put_timestamp(strbuf *sb, const char *ts)
{
	size_t		len = ts != NULL ? strlen(ts) : 0;
	const char *zone;

	if (len < 16 || ts[10] != 'T' || ts[13] != ':')
	{
		put_html(sb, ts);
		return;
	}
	zone = ts + 16 + strcspn(ts + 16, "Z+-");
	sb_puts(sb, "<time datetime=\"");
	put_html(sb, ts);
	sb_printf(sb, "\">%.10s %.5s ", ts, ts + 11);
	if (strcmp(zone, "Z") == 0 || strcmp(zone, "+00:00") == 0 || strcmp(zone, "+00") == 0)
		sb_puts(sb, "UTC");
	else
		put_html(sb, zone);
	sb_puts(sb, "</time>");
}

/* text as a URL query value (%-encoded but for unreserved characters). */
static void
put_query_value(strbuf *sb, const char *text)
{
	for (; *text; text++)
	{
		unsigned char c = (unsigned char) *text;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == ':')
			sb_append(sb, text, 1);
		else
			sb_printf(sb, "%%%02X", c);
	}
}

/* A link to report.json for the page's own window. */
static void
put_json_link(strbuf *sb, const cJSON *report, int days)
{
	sb_puts(sb, "<a href=\"report.json");
	if (days > 0)
		sb_printf(sb, "?days=%d", days);
	else
	{
		const char *sep = "?";

		if (cJSON_IsString(get(report, "since")))
		{
			sb_puts(sb, "?since=");
			put_query_value(sb, str(report, "since"));
			sep = "&amp;";
		}
		if (cJSON_IsString(get(report, "until")))
		{
			sb_printf(sb, "%suntil=", sep);
			put_query_value(sb, str(report, "until"));
		}
	}
	sb_puts(sb, "\">report.json</a>");
}

/* The window links: everything, the last 30, 7 and 1 days. */
static void
put_periods(strbuf *sb, int days)
{
	static const int choices[] = {0, 30, 7, 1};

	sb_puts(sb, "<nav id=\"periods\">");
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
	{
		int			d = choices[i];

		if (i > 0)
			sb_puts(sb, " &#183; ");
		if (d == days)
			sb_printf(sb, "<b>%s</b>", d == 0 ? "all" : d == 1 ? "last day" : d == 7 ? "last 7 days" : "last 30 days");
		else if (d == 0)
			sb_puts(sb, "<a href=\"./\">all</a>");
		else
			sb_printf(sb, "<a href=\"?days=%d\">%s</a>", d, d == 1 ? "last day" : d == 7 ? "last 7 days"
					  : "last 30 days");
	}
	sb_puts(sb, "</nav>");
}

bool
report_page_render(const char *json, size_t len, int days, strbuf *out)
{
	cJSON	   *report = cJSON_ParseWithLength(json, len);
	const cJSON *versions = get(report, "versions");
	const cJSON *shown = NULL;
	const cJSON *features;
	const cJSON *probability;

	if (report == NULL || !cJSON_IsArray(versions))
	{
		cJSON_Delete(report);
		return false;
	}
	/* the active version, else the newest */
	for (const cJSON *v = versions->child; v != NULL; v = v->next)
	{
		shown = v;
		if (cJSON_IsTrue(get(v, "active")))
			break;
	}
	features = get(get(shown, "drift"), "features");
	probability = features ? features->child : NULL;

	sb_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>");
	put_html(out, str(report, "model"));
	sb_printf(out, " &#183; predict</title><style>%s</style></head><body><header><h1>", style);
	put_html(out, str(report, "model"));
	if (shown != NULL)
		sb_printf(out, "<span>version %d%s</span>", (int) num(shown, "version"),
				  cJSON_IsTrue(get(shown, "active")) ? " &#183; active" : "");
	sb_puts(out, "</h1><p>");
	if (cJSON_IsString(get(report, "since")) || cJSON_IsString(get(report, "until")))
	{
		sb_puts(out, "Predictions from ");
		if (cJSON_IsString(get(report, "since")))
			put_timestamp(out, str(report, "since"));
		else
			sb_puts(out, "the first");
		sb_puts(out, " until ");
		if (cJSON_IsString(get(report, "until")))
			put_timestamp(out, str(report, "until"));
		else
			sb_puts(out, "now");
	}
	else
		sb_puts(out, "All predictions");
	if (shown != NULL && cJSON_IsString(get(shown, "first_at")))
	{
		sb_puts(out, " &#183; this version's from ");
		put_timestamp(out, str(shown, "first_at"));
		sb_puts(out, " to ");
		put_timestamp(out, str(shown, "last_at"));
	}
	sb_puts(out, "</p>");
	put_periods(out, days);
	sb_puts(out, "</header><main>");
	if (shown == NULL)
		sb_puts(out, "<p>No model version to report on.</p>");
	else
	{
		put_tiles(out, shown);
		sb_puts(out, "<div class=\"grid\"><section class=\"card\"><h2>Predictions per day</h2>");
		put_daily_chart(out, get(shown, "daily"));
		sb_puts(out, "</section><section class=\"card\"><h2>Probability: predictions against training");
		if (isfinite(num(probability, "psi")))
		{
			sb_puts(out, " <span class=\"psi\">PSI ");
			put_fixed(out, num(probability, "psi"), 3);
			sb_puts(out, " (");
			put_html(out, reading_of(probability));
			sb_puts(out, ")</span>");
		}
		else if (probability != NULL)
		{
			sb_puts(out, " <span class=\"psi\">PSI ");
			put_html(out, reading_of(probability));
			sb_puts(out, ": ");
			put_html(out, str(probability, "reason"));
			sb_puts(out, "</span>");
		}
		sb_puts(out, "</h2>");
		put_probability_chart(out, probability);
		sb_puts(out, "</section><section class=\"card\"><h2>Calibration (labelled predictions)</h2>");
		put_calibration_chart(out, get(shown, "calibration"));
		sb_puts(out, "</section><section class=\"card\"><h2>Confusion matrix (labelled predictions)</h2>");
		put_confusion(out, shown);
		sb_puts(out, "</section></div><section class=\"card\"><h2>Drift: population stability index</h2>");
		put_psi_table(out, shown);
		sb_puts(out, "</section>");
		put_importance(out, shown);
		if (cJSON_GetArraySize(versions) > 1)
		{
			sb_puts(out, "<section class=\"card\"><h2>Versions</h2>");
			put_versions(out, versions);
			sb_puts(out, "</section>");
		}
	}
	sb_puts(out, "</main><footer>predict &#183; computed by the database over the predictions table "
			"(docs/monitoring.md) &#183; the same numbers as JSON: ");
	put_json_link(out, report, days);
	sb_puts(out, "</footer></body></html>\n");
	cJSON_Delete(report);
	return true;
}
