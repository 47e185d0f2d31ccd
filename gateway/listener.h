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
 */
#ifndef GATEWAY_LISTENER_H
#define GATEWAY_LISTENER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "config.h"

/* One worker: its daemon and how many connections it has been given. */
typedef struct worker
{
	struct MHD_Daemon *daemon;
	atomic_long connections;
} worker;

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

/* A worker's connection closed (from its notify callback): update the counts. */
void		listener_connection_closed(worker *w, const struct sockaddr *addr);

/* Connections open now, all workers together. */
long		listener_open_connections(void);

#endif							/* GATEWAY_LISTENER_H */
