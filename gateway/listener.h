/*
 * listener.h - accept connections and hand each to the least-loaded worker.
 *
 * Each worker is a single-threaded libmicrohttpd daemon without a listening
 * socket, with one database session. libmicrohttpd's own thread pool lets
 * every worker accept from the shared socket, and the first to wake takes
 * every pending connection: measured, 32 connections landed on 2 of 8
 * workers, leaving 6 database connections idle and the requests queueing.
 * One acceptor thread instead gives each new connection to the worker with
 * the fewest, and enforces the connection limits by closing the connection
 * at once (a refusal, not a wait in the listen queue).
 *
 * The same thread enforces the request deadline (PREDICT_REQUEST_TIMEOUT):
 * libmicrohttpd's only timeout is an inactivity one, which a client sending
 * a byte now and then never meets. Each worker keeps its open connections
 * on a list (tracked from libmicrohttpd's STARTED to its CLOSED
 * notification), with where each stands in its request; four times a second
 * the acceptor shuts down (shutdown(2), never close(2): libmicrohttpd sees
 * the end of the stream and cleans up as for any client that left) those
 * whose request has not all arrived in time. See listener.c for the rule.
 */
#ifndef GATEWAY_LISTENER_H
#define GATEWAY_LISTENER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

/* One open connection, as the request deadline sees it (listener.c). */
typedef struct tracked_connection tracked_connection;

/*
 * One worker: its daemon, how many connections it has been given, and its
 * open connections for the request deadline.
 */
typedef struct worker
{
	struct MHD_Daemon *daemon;
	atomic_long connections;
	int64_t		request_timeout_us;	/* PREDICT_REQUEST_TIMEOUT */
	pthread_mutex_t lock;		/* guards tracked and what it links */
	tracked_connection *tracked;
} worker;

/* Initialise a worker (before its daemon starts) and release it (after it stopped). */
void		listener_worker_init(worker *w, const gateway_config *cfg);
void		listener_worker_destroy(worker *w);

typedef struct listener listener;

/*
 * Bind and listen on host:port (port 0 picks a free one, returned in
 * *bound_port). Returns the socket, or -1 with msg set.
 */
int			listener_bind(const char *host, unsigned port, unsigned *bound_port,
						  char *msg, size_t size);

/* Start the acceptor thread on listen_fd for these workers; NULL with msg on failure. */
listener   *listener_start(int listen_fd, worker *workers, unsigned nworkers,
						   const gateway_config *cfg, char *msg, size_t size);

/* Stop accepting: the thread ends and the listening socket is closed. */
void		listener_stop(listener *l);

/*
 * A worker's connection on socket fd started (from its notify callback, in
 * the worker's thread): track it for the request deadline, which runs from
 * now. NULL when out of memory (the connection is then not tracked).
 */
tracked_connection *listener_connection_started(worker *w, int fd);

/*
 * A worker's connection closed (from its notify callback, before
 * libmicrohttpd closes the socket): update the counts and stop tracking it
 * (t may be NULL).
 */
void		listener_connection_closed(worker *w, const struct sockaddr *addr,
									   tracked_connection *t);

/*
 * Where a tracked connection's request stands (from the access handler and
 * the completion callback, in the worker's thread; t may be NULL): its
 * headers are in, all of it is in (the worker answers), its response is
 * done (the connection waits for a next request, or closes).
 */
void		listener_request_headers_in(tracked_connection *t);
void		listener_request_received(tracked_connection *t);
void		listener_request_finished(tracked_connection *t);

/* Connections open now, all workers together. */
long		listener_open_connections(void);

#endif							/* GATEWAY_LISTENER_H */
