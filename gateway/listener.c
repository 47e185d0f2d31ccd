/*
 * listener.c - the acceptor thread: accept, enforce the connection limits,
 * hand the connection to the worker with the fewest (MHD_add_connection,
 * which queues it for the worker's own thread and wakes it through the
 * daemon's inter-thread channel; thread-safe since libmicrohttpd 0.9.72).
 *
 * Counting: a connection is counted (globally, per worker, per client
 * address) when accepted here and uncounted when its worker reports it
 * closed, so a burst of connections is spread before any worker has run.
 */
#define _GNU_SOURCE				/* accept4, pipe2 */

#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define PER_IP_BUCKETS 1024

/* Open connections of one client address (per-IP limit). */
typedef struct ip_count
{
	unsigned char key[17];		/* family byte + address */
	long		count;
	struct ip_count *next;
} ip_count;

struct listener
{
	int			listen_fd;
	int			wake_fd[2];		/* a byte on [1] stops the thread */
	pthread_t	thread;
	worker	   *workers;
	unsigned	nworkers;
	long		max_connections;
	long		max_per_ip;
};

static atomic_long open_connections;
static long per_ip_limit;		/* 0: no per-IP accounting at all */
static pthread_mutex_t per_ip_lock = PTHREAD_MUTEX_INITIALIZER;
static ip_count *per_ip[PER_IP_BUCKETS];

long
listener_open_connections(void)
{
	return atomic_load_explicit(&open_connections, memory_order_relaxed);
}

/* The per-IP key of an address (IPv4 or IPv6); false for other families. */
static bool
ip_key(const struct sockaddr *addr, unsigned char key[17], unsigned *bucket)
{
	unsigned	h = 2166136261u;
	int			i;

	memset(key, 0, 17);
	if (addr->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *) addr)->sin_addr, 4);
	else if (addr->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *) addr)->sin6_addr, 16);
	else
		return false;
	key[0] = (unsigned char) addr->sa_family;
	for (i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	*bucket = h % PER_IP_BUCKETS;
	return true;
}

/* Count one more connection from addr unless it is at the limit. */
static bool
per_ip_acquire(const struct sockaddr *addr)
{
	unsigned char key[17];
	unsigned	bucket;
	ip_count   *e;
	bool		ok = true;

	if (per_ip_limit == 0 || !ip_key(addr, key, &bucket))
		return true;
	pthread_mutex_lock(&per_ip_lock);
	for (e = per_ip[bucket]; e != NULL && memcmp(e->key, key, 17) != 0; e = e->next)
		;
	if (e == NULL)
	{
		e = calloc(1, sizeof(*e));
		if (e != NULL)
		{
			memcpy(e->key, key, 17);
			e->next = per_ip[bucket];
			per_ip[bucket] = e;
		}
	}
	if (e == NULL || e->count >= per_ip_limit)
		ok = false;
	else
		e->count++;
	pthread_mutex_unlock(&per_ip_lock);
	return ok;
}

/* Uncount a connection from addr. */
static void
per_ip_release(const struct sockaddr *addr)
{
	unsigned char key[17];
	unsigned	bucket;
	ip_count  **link;

	if (per_ip_limit == 0 || addr == NULL || !ip_key(addr, key, &bucket))
		return;
	pthread_mutex_lock(&per_ip_lock);
	for (link = &per_ip[bucket]; *link != NULL; link = &(*link)->next)
	{
		ip_count   *e = *link;

		if (memcmp(e->key, key, 17) != 0)
			continue;
		if (--e->count <= 0)
		{
			*link = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&per_ip_lock);
}

void
listener_connection_closed(worker *w, const struct sockaddr *addr)
{
	atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&open_connections, 1, memory_order_relaxed);
	per_ip_release(addr);
}

int
listener_bind(const char *host, unsigned port, unsigned *bound_port, char *msg, size_t size)
{
	struct sockaddr_in addr;
	socklen_t	len = sizeof(addr);
	int			fd;
	int			on = 1;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
	{
		snprintf(msg, size, "HOST must be an IPv4 address such as 0.0.0.0 or 127.0.0.1, "
				 "got \"%s\"", host);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
		bind(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(fd, 1024) != 0 ||
		getsockname(fd, (struct sockaddr *) &addr, &len) != 0)
	{
		snprintf(msg, size, "cannot listen on %s:%u (%s): set PORT to a free port", host, port,
				 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*bound_port = ntohs(addr.sin_port);
	return fd;
}

/* The worker with the fewest connections (the first of equals). */
static worker *
least_loaded(listener *l)
{
	worker	   *best = &l->workers[0];
	long		best_n = atomic_load_explicit(&best->connections, memory_order_relaxed);
	unsigned	i;

	for (i = 1; i < l->nworkers && best_n > 0; i++)
	{
		long		n = atomic_load_explicit(&l->workers[i].connections, memory_order_relaxed);

		if (n < best_n)
		{
			best = &l->workers[i];
			best_n = n;
		}
	}
	return best;
}

/* Accept every pending connection; false when accepting must pause (no fds). */
static bool
accept_pending(listener *l)
{
	for (;;)
	{
		struct sockaddr_storage addr;
		socklen_t	len = sizeof(addr);
		int			fd = accept4(l->listen_fd, (struct sockaddr *) &addr, &len,
								 SOCK_NONBLOCK | SOCK_CLOEXEC);
		worker	   *w;

		if (fd < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_error("accept failed: %s", strerror(errno));
			return errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM;
		}
		if (atomic_load_explicit(&open_connections, memory_order_relaxed) >= l->max_connections ||
			!per_ip_acquire((struct sockaddr *) &addr))
		{
			metrics_connection_refused();
			close(fd);
			continue;
		}
		w = least_loaded(l);
		atomic_fetch_add_explicit(&w->connections, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&open_connections, 1, memory_order_relaxed);
		if (MHD_add_connection(w->daemon, fd, (struct sockaddr *) &addr, len) != MHD_YES)
		{
			/* libmicrohttpd closed the socket; no callback will come */
			log_error("cannot hand a connection to a worker: %s", strerror(errno));
			listener_connection_closed(w, (struct sockaddr *) &addr);
		}
	}
}

static void *
listener_main(void *arg)
{
	listener   *l = arg;

	for (;;)
	{
		struct pollfd pfd[2] = {{l->listen_fd, POLLIN, 0}, {l->wake_fd[0], POLLIN, 0}};
		int			rc = poll(pfd, 2, -1);

		if (rc < 0 && errno != EINTR)
		{
			log_error("listener poll failed: %s", strerror(errno));
			usleep(10000);
			continue;
		}
		if (pfd[1].revents != 0)
			break;
		if ((pfd[0].revents & POLLIN) && !accept_pending(l))
			usleep(10000);		/* out of file descriptors: let connections close */
	}
	return NULL;
}

listener *
listener_start(int listen_fd, worker *workers, unsigned nworkers, const gateway_config *cfg,
			   char *msg, size_t size)
{
	listener   *l = calloc(1, sizeof(*l));
	sigset_t	all;
	sigset_t	old;
	int			rc;

	if (l == NULL)
	{
		snprintf(msg, size, "out of memory");
		return NULL;
	}
	l->listen_fd = listen_fd;
	l->workers = workers;
	l->nworkers = nworkers;
	l->max_connections = (long) cfg->max_connections;
	per_ip_limit = (long) cfg->max_connections_per_ip;
	if (pipe2(l->wake_fd, O_CLOEXEC) != 0)
	{
		snprintf(msg, size, "cannot create a pipe: %s", strerror(errno));
		free(l);
		return NULL;
	}
	/* signals are for the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&l->thread, NULL, listener_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		snprintf(msg, size, "cannot start the listener thread: %s", strerror(rc));
		close(l->wake_fd[0]);
		close(l->wake_fd[1]);
		free(l);
		return NULL;
	}
	return l;
}

void
listener_stop(listener *l)
{
	char		byte = 1;
	ssize_t		n;

	if (l == NULL)
		return;
	do
		n = write(l->wake_fd[1], &byte, 1);
	while (n < 0 && errno == EINTR);
	pthread_join(l->thread, NULL);
	close(l->listen_fd);
	close(l->wake_fd[0]);
	close(l->wake_fd[1]);
	free(l);
}
