/*
 * metrics.c - the gateway's counters, histograms and gauges, and their
 * Prometheus rendering.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdbool.h>

#include "backend.h"

/* Status codes with their own label; anything else counts as "other". */
static const unsigned tracked_statuses[] = {
	200, 400, 401, 404, 405, 409, 413, 422, 500, 503
};

#define NSTATUS (sizeof(tracked_statuses) / sizeof(tracked_statuses[0]) + 1)

/* Latency bucket upper bounds in microseconds (le labels in seconds). */
static const int64_t bucket_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};
static const char *const bucket_label[] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10"
};

#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

static const char *const route_labels[ROUTE_COUNT] = {
	"/predict", "/update", "/predictions/:observation_id", "/list-db-contents",
	"/healthz", "/readyz", "/metrics", "/", "/report.json", "unknown"
};

static const char *const db_error_labels[DBERR_COUNT] = {
	"connection", "timeout", "data", "retry", "read_only", "other"
};

static atomic_ulong requests[ROUTE_COUNT][NSTATUS];
static atomic_ulong latency_buckets[ROUTE_COUNT][NBUCKETS + 1];	/* last: +Inf */
static atomic_ullong latency_sum_us[ROUTE_COUNT];
static atomic_ulong predictions_written;
static atomic_ulong batches;	/* statements that stored rows of several /predict requests */
static atomic_ulong batched_requests;
static atomic_ulong db_errors[DBERR_COUNT];
static atomic_long db_busy;
static atomic_long in_flight;
static atomic_ulong connections_refused;
static atomic_ulong requests_timed_out[2];	/* [0] in the headers, [1] in the body */

const char *
route_label(route_id route)
{
	return route_labels[route];
}

/* Index of status in requests[][]: its tracked slot, or the last ("other"). */
static unsigned
status_slot(unsigned status)
{
	unsigned	i;

	for (i = 0; i < NSTATUS - 1; i++)
		if (tracked_statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void
metrics_request(route_id route, unsigned status, int64_t duration_us)
{
	unsigned	b;

	atomic_fetch_add_explicit(&requests[route][status_slot(status)], 1, memory_order_relaxed);
	for (b = 0; b < NBUCKETS && duration_us > bucket_us[b]; b++)
		;
	atomic_fetch_add_explicit(&latency_buckets[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&latency_sum_us[route],
							  (unsigned long long) (duration_us > 0 ? duration_us : 0),
							  memory_order_relaxed);
}

void
metrics_prediction_written(void)
{
	atomic_fetch_add_explicit(&predictions_written, 1, memory_order_relaxed);
}

void
metrics_batch(int requests)
{
	atomic_fetch_add_explicit(&batches, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&batched_requests, (unsigned long) requests, memory_order_relaxed);
}

void
metrics_db_error(db_error_kind kind)
{
	atomic_fetch_add_explicit(&db_errors[kind], 1, memory_order_relaxed);
}

void
metrics_db_busy(int delta)
{
	atomic_fetch_add_explicit(&db_busy, delta, memory_order_relaxed);
}

void
metrics_in_flight(int delta)
{
	atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

void
metrics_connection_refused(void)
{
	atomic_fetch_add_explicit(&connections_refused, 1, memory_order_relaxed);
}

void
metrics_request_timed_out(bool in_body)
{
	atomic_fetch_add_explicit(&requests_timed_out[in_body ? 1 : 0], 1, memory_order_relaxed);
}

long
metrics_requests_in_flight(void)
{
	return atomic_load_explicit(&in_flight, memory_order_relaxed);
}

void
metrics_render(strbuf *sb, long http_connections)
{
	unsigned	r;
	unsigned	s;
	unsigned	b;
	unsigned	k;
	int			sessions;
	int			connected;

	sb_puts(sb, "# HELP predict_http_requests_total HTTP requests answered, by route and status.\n"
			"# TYPE predict_http_requests_total counter\n");
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < NSTATUS; s++)
		{
			unsigned long n = atomic_load_explicit(&requests[r][s], memory_order_relaxed);

			if (n == 0)
				continue;
			if (s < NSTATUS - 1)
				sb_printf(sb, "predict_http_requests_total{route=\"%s\",status=\"%u\"} %lu\n",
						  route_labels[r], tracked_statuses[s], n);
			else
				sb_printf(sb, "predict_http_requests_total{route=\"%s\",status=\"other\"} %lu\n",
						  route_labels[r], n);
		}

	sb_puts(sb, "# HELP predict_http_request_duration_seconds Time from the request's headers "
			"to its response being queued, by route.\n"
			"# TYPE predict_http_request_duration_seconds histogram\n");
	for (r = 0; r < ROUTE_COUNT; r++)
	{
		unsigned long cumulative = 0;

		for (b = 0; b <= NBUCKETS; b++)
		{
			cumulative += atomic_load_explicit(&latency_buckets[r][b], memory_order_relaxed);
			sb_printf(sb, "predict_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %lu\n",
					  route_labels[r], b < NBUCKETS ? bucket_label[b] : "+Inf", cumulative);
		}
		sb_printf(sb, "predict_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
				  route_labels[r],
				  (double) atomic_load_explicit(&latency_sum_us[r], memory_order_relaxed) / 1e6);
		sb_printf(sb, "predict_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
				  route_labels[r], cumulative);
	}

	sb_printf(sb, "# HELP predict_predictions_written_total Rows written by POST /predict "
			  "(idempotent retries are not counted).\n"
			  "# TYPE predict_predictions_written_total counter\n"
			  "predict_predictions_written_total %lu\n",
			  atomic_load_explicit(&predictions_written, memory_order_relaxed));

	sb_printf(sb, "# HELP predict_batches_total Statements that stored the rows of POST /predict "
			  "requests taken together (PostgreSQL, PREDICT_BATCH).\n"
			  "# TYPE predict_batches_total counter\n"
			  "predict_batches_total %lu\n"
			  "# HELP predict_batched_requests_total The rows those statements stored.\n"
			  "# TYPE predict_batched_requests_total counter\n"
			  "predict_batched_requests_total %lu\n",
			  atomic_load_explicit(&batches, memory_order_relaxed),
			  atomic_load_explicit(&batched_requests, memory_order_relaxed));

	sb_puts(sb, "# HELP predict_db_errors_total Database errors seen by the workers, by kind.\n"
			"# TYPE predict_db_errors_total counter\n");
	for (k = 0; k < DBERR_COUNT; k++)
		sb_printf(sb, "predict_db_errors_total{kind=\"%s\"} %lu\n", db_error_labels[k],
				  atomic_load_explicit(&db_errors[k], memory_order_relaxed));

	backend_count_sessions(&sessions, &connected);
	sb_printf(sb, "# HELP predict_db_connections Open database connections (PostgreSQL: "
			  "shared by the workers, opened as they are needed; SQLite: one per worker).\n"
			  "# TYPE predict_db_connections gauge\n"
			  "predict_db_connections %d\n"
			  "# HELP predict_db_connections_in_use Database connections running a statement now.\n"
			  "# TYPE predict_db_connections_in_use gauge\n"
			  "predict_db_connections_in_use %ld\n"
			  "# HELP predict_http_connections Open HTTP connections.\n"
			  "# TYPE predict_http_connections gauge\n"
			  "predict_http_connections %ld\n"
			  "# HELP predict_http_connections_refused_total Connections closed at once because "
			  "PREDICT_MAX_CONNECTIONS were open.\n"
			  "# TYPE predict_http_connections_refused_total counter\n"
			  "predict_http_connections_refused_total %lu\n"
			  "# HELP predict_http_requests_in_flight Requests received and not yet answered.\n"
			  "# TYPE predict_http_requests_in_flight gauge\n"
			  "predict_http_requests_in_flight %ld\n"
			  "# HELP predict_http_requests_timed_out_total Connections closed because their "
			  "request had not all arrived within PREDICT_REQUEST_TIMEOUT, by where it stood.\n"
			  "# TYPE predict_http_requests_timed_out_total counter\n"
			  "predict_http_requests_timed_out_total{phase=\"headers\"} %lu\n"
			  "predict_http_requests_timed_out_total{phase=\"body\"} %lu\n",
			  connected, atomic_load_explicit(&db_busy, memory_order_relaxed),
			  http_connections,
			  atomic_load_explicit(&connections_refused, memory_order_relaxed),
			  atomic_load_explicit(&in_flight, memory_order_relaxed),
			  atomic_load_explicit(&requests_timed_out[0], memory_order_relaxed),
			  atomic_load_explicit(&requests_timed_out[1], memory_order_relaxed));
}
