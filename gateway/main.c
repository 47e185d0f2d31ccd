/*
 * main.c - predict-gateway: read the settings, prepare the database, serve
 * HTTP on libmicrohttpd's thread pool until SIGTERM or SIGINT, then drain.
 *
 * Shutdown: stop accepting (MHD_quiesce_daemon), make every further response
 * close its connection, wait until no request is in flight (at most
 * SHUTDOWN_GRACE_US), stop the daemon (which closes idle keep-alive
 * connections), close the database connections, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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
#include "log.h"
#include "metrics.h"

#define SHUTDOWN_GRACE_US (10 * 1000000)
/* Idle keep-alive connections do not delay shutdown once nothing moved for this long. */
#define SHUTDOWN_QUIET_US 200000
#define CONNECTION_MEMORY_LIMIT ((size_t) 32 * 1024)
/*
 * The connection limit is enforced by http_accept_policy, which refuses at
 * once; libmicrohttpd's own limit, which stops accepting and leaves clients
 * waiting in the listen queue, is only a backstop a little above it (the
 * policy's count can overshoot by a connection per worker).
 */
#define CONNECTION_LIMIT_SLACK 64

/* libmicrohttpd's own messages (accept failures, malformed requests) go to stderr. */
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

int
main(int argc, char **argv)
{
	gateway_config cfg;
	const backend_ops *backend;
	char		msg[1024];
	http_context ctx;
	struct sockaddr_in addr;
	struct MHD_Daemon *daemon;
	const union MHD_DaemonInfo *info;
	sigset_t	signals;
	int			sig = 0;
	int			rc;
	MHD_socket	listen_fd;
	unsigned	port;

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
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) cfg.port);
	if (inet_pton(AF_INET, cfg.host, &addr.sin_addr) != 1)
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

	/* The workers inherit this mask: only the main thread takes the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	ctx.backend = backend;
	daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC,
							  (uint16_t) cfg.port, http_accept_policy, &ctx, http_handle, &ctx,
							  MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, (void *) NULL,
							  MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							  MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) cfg.threads,
							  MHD_OPTION_CONNECTION_LIMIT,
							  (unsigned int) (cfg.max_connections + CONNECTION_LIMIT_SLACK),
							  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
							  (unsigned int) cfg.max_connections_per_ip,
							  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg.idle_timeout,
							  MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT,
							  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
							  MHD_OPTION_NOTIFY_CONNECTION,
							  (MHD_NotifyConnectionCallback) http_connection_notify, (void *) NULL,
							  MHD_OPTION_NOTIFY_COMPLETED,
							  (MHD_RequestCompletedCallback) http_request_completed, (void *) NULL,
							  MHD_OPTION_END);
	if (daemon == NULL)
	{
		fprintf(stderr, "predict-gateway: cannot listen on %s:%u (is the port in use? set PORT "
				"to a free port)\n", cfg.host, cfg.port);
		config_free(&cfg);
		return 1;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	port = info != NULL ? info->port : cfg.port;
	log_info("listening on http://%s:%u/ (backend %s, %u threads, max body %zu bytes%s)",
			 cfg.host, port, backend->name, cfg.threads, cfg.max_body,
			 cfg.api_token != NULL ? ", bearer token required" : "");

	do
	{
		rc = sigwait(&signals, &sig);
	} while (rc != 0 && rc == EINTR);

	log_info("received %s: finishing the requests in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
	http_start_draining();
	listen_fd = MHD_quiesce_daemon(daemon);
	drain();
	MHD_stop_daemon(daemon);
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	backend_close_all();
	config_free(&cfg);
	log_info("stopped");
	return 0;
}
