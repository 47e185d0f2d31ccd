/*
 * main.c - predict-gateway: read the settings, prepare the database, serve
 * HTTP until SIGTERM or SIGINT, then drain.
 *
 * Threads: PREDICT_THREADS workers, each a single-threaded libmicrohttpd
 * daemon without a listening socket and with its own database session, and
 * one acceptor thread (listener.c) that gives each new connection to the
 * worker with the fewest. The main thread only waits for a signal.
 *
 * Shutdown: stop accepting (the listening socket is closed), make every
 * further response close its connection, wait until no request is in
 * flight (at most SHUTDOWN_GRACE_US), stop the daemons (which closes idle
 * keep-alive connections), close the database connections, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pg_setup.h"

#define SHUTDOWN_GRACE_US (10 * 1000000)
/* Idle keep-alive connections do not delay shutdown once nothing moved for this long. */
#define SHUTDOWN_QUIET_US 200000
#define CONNECTION_MEMORY_LIMIT ((size_t) 32 * 1024)

/* libmicrohttpd's own messages (malformed requests, failures) go to stderr. */
static void
mhd_logger(void *cls, const char *format, va_list ap)
{
	char		msg[512];
	size_t		n;

	(void) cls;
	vsnprintf(msg, sizeof(msg), format, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event("warning", "libmicrohttpd: %s", msg);
}

/* Wait for the requests in flight to finish, at most SHUTDOWN_GRACE_US. */
static void
drain(void)
{
	int64_t		deadline = now_us() + SHUTDOWN_GRACE_US;
	int64_t		quiet_since = 0;

	while (now_us() < deadline)
	{
		long		in_flight = metrics_requests_in_flight();

		if (http_connection_count() == 0)
			return;
		if (in_flight > 0)
			quiet_since = 0;
		else if (quiet_since == 0)
			quiet_since = now_us();
		else if (now_us() - quiet_since >= SHUTDOWN_QUIET_US)
			return;
		usleep(10000);
	}
	log_error("shutdown: %ld request(s) still in flight after 10 s; closing anyway",
			  metrics_requests_in_flight());
}

/* Start one worker daemon; NULL on failure. */
static struct MHD_Daemon *
start_worker(const gateway_config *cfg, http_context *ctx, worker *w)
{
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET |
							MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
							0, NULL, NULL, http_handle, ctx,
							MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *) NULL,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->idle_timeout,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT,
	/*
	 * Strict HTTP/1.1: a request without Host (RFC 9112 requires one) is
	 * a 400, as are spaces in the URL. Our clients are programs (curl,
	 * routers, load balancers), which all send Host.
	 */
							MHD_OPTION_STRICT_FOR_CLIENT, (int) 1,
							MHD_OPTION_NOTIFY_CONNECTION,
							(MHD_NotifyConnectionCallback) http_connection_notify, (void *) w,
							MHD_OPTION_NOTIFY_COMPLETED,
							(MHD_RequestCompletedCallback) http_request_completed, (void *) ctx,
							MHD_OPTION_END);
}

int
main(int argc, char **argv)
{
	gateway_config cfg;
	const backend_ops *backend;
	char		msg[1024];
	http_context ctx;
	worker	   *workers;
	listener   *acceptor;
	sigset_t	signals;
	int			sig = 0;
	int			rc;
	int			listen_fd;
	unsigned	port;
	unsigned	i;
	struct in_addr host_addr;

	/* the model commands: predict-gateway deploy|activate|set-default ... */
	if (argc >= 2 && (strcmp(argv[1], "deploy") == 0 || strcmp(argv[1], "activate") == 0 ||
					  strcmp(argv[1], "set-default") == 0))
		return pg_command(argc - 1, argv + 1);

	rc = config_load(&cfg, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	backend = backend_for_url(cfg.database_url, msg, sizeof(msg));
	if (backend == NULL)
	{
		fprintf(stderr, "predict-gateway: %s\n", msg);
		config_free(&cfg);
		return 2;
	}
	if (inet_pton(AF_INET, cfg.host, &host_addr) != 1)
	{
		fprintf(stderr, "predict-gateway: HOST must be an IPv4 address such as 0.0.0.0 or "
				"127.0.0.1, got \"%s\"\n", cfg.host);
		config_free(&cfg);
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	if (!backend->setup(&cfg, msg, sizeof(msg)))
	{
		fprintf(stderr, "predict-gateway: %s\n", msg);
		config_free(&cfg);
		return 1;
	}
	backend_init(backend, &cfg);

	/* The port opens only once the database is ready (a router sees it then). */
	listen_fd = listener_bind(cfg.host, cfg.port, &port, msg, sizeof(msg));
	if (listen_fd < 0)
	{
		fprintf(stderr, "predict-gateway: %s\n", msg);
		config_free(&cfg);
		return 1;
	}

	/* The threads started from here inherit this mask: only main takes the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	ctx.backend = backend;
	workers = calloc(cfg.threads, sizeof(*workers));
	if (workers == NULL)
	{
		fprintf(stderr, "predict-gateway: out of memory\n");
		close(listen_fd);
		config_free(&cfg);
		return 1;
	}
	for (i = 0; i < cfg.threads; i++)
	{
		listener_worker_init(&workers[i], &cfg);
		workers[i].daemon = start_worker(&cfg, &ctx, &workers[i]);
		if (workers[i].daemon == NULL)
		{
			fprintf(stderr, "predict-gateway: cannot start HTTP worker %u of %u (out of "
					"memory or threads? lower PREDICT_THREADS)\n", i + 1, cfg.threads);
			listener_worker_destroy(&workers[i]);
			while (i > 0)
			{
				MHD_stop_daemon(workers[--i].daemon);
				listener_worker_destroy(&workers[i]);
			}
			free(workers);
			close(listen_fd);
			config_free(&cfg);
			return 1;
		}
	}
	acceptor = listener_start(listen_fd, workers, cfg.threads, &cfg, msg, sizeof(msg));
	if (acceptor == NULL)
	{
		fprintf(stderr, "predict-gateway: %s\n", msg);
		for (i = 0; i < cfg.threads; i++)
		{
			MHD_stop_daemon(workers[i].daemon);
			listener_worker_destroy(&workers[i]);
		}
		free(workers);
		close(listen_fd);
		config_free(&cfg);
		return 1;
	}
	{
		char		pool[96] = "";

		if (backend == &pg_backend)
			snprintf(pool, sizeof(pool), ", at most %u database connections, batches of up to %u",
					 cfg.db_connections, cfg.batch);
		log_info("listening on http://%s:%u/ (backend %s, %u workers%s, max body %zu bytes%s)",
				 cfg.host, port, backend->name, cfg.threads, pool, cfg.max_body,
				 cfg.api_token != NULL ? ", bearer token required" : "");
	}

	do
	{
		rc = sigwait(&signals, &sig);
	} while (rc != 0 && rc == EINTR);

	log_info("received %s: finishing the requests in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
	listener_stop(acceptor);
	http_start_draining();
	drain();
	/* a daemon must not stop with a connection suspended: every queued call answered first */
	if (backend->predict_stop != NULL)
		backend->predict_stop();
	for (i = 0; i < cfg.threads; i++)
	{
		MHD_stop_daemon(workers[i].daemon);
		listener_worker_destroy(&workers[i]);
	}
	free(workers);
	backend_close_all();
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
