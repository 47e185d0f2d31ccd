/*
 * listener.c - the acceptor thread: accept, enforce the connection limits,
 * hand the connection to the worker with the fewest (MHD_add_connection,
 * which queues it for the worker's own thread and wakes it through the
 * daemon's inter-thread channel; thread-safe since libmicrohttpd 0.9.72).
 *
 * Counting: a connection is counted (globally, per worker, per client
 * address) when accepted here and uncounted when its worker reports it
 * closed, so a burst of connections is spread before any worker has run.
 *
 * The request deadline (PREDICT_REQUEST_TIMEOUT, T): a request must have
 * arrived whole, request line, headers and body, within T
 *   - of its connection's start (when its worker takes it), for the first
 *     request of a connection: a client connects to send a request, and a
 *     connection that sends nothing is the cheapest slowloris of all;
 *   - of its first byte, for a later request on a kept-alive connection:
 *     between requests a connection is idle, and PREDICT_IDLE_TIMEOUT alone
 *     governs it. The first byte is seen as the socket's count of bytes
 *     received (TCP_INFO tcpi_bytes_received, Linux 4.1) growing past its
 *     value when the previous response was done, by the next sweep (so up
 *     to SWEEP_INTERVAL_US late); bytes that came before that response was
 *     done (pipelining) start the deadline when the headers are in.
 * Neither the worker's answer nor the sending of the response counts.
 * Every SWEEP_INTERVAL_US the acceptor walks each worker's connections and
 * shuts down those past their deadline, unless bytes wait unread in the
 * socket (FIONREAD): then the worker is busy (a long database call), the
 * client not slow, and the connection is looked at again on the next sweep.
 */
#define _GNU_SOURCE				/* accept4, pipe2 */

#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>			/* struct tcp_info with tcpi_bytes_received */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend.h"			/* now_us */
#include "log.h"
#include "metrics.h"

#define PER_IP_BUCKETS 1024

/* How often the request deadline is checked: a late request lasts up to this longer. */
#define SWEEP_INTERVAL_US 250000

/* Where a tracked connection's request stands. */
typedef enum request_phase
{
	PHASE_HEADERS,				/* waiting for the request line and headers */
	PHASE_BODY,					/* headers in, waiting for the rest of the body */
	PHASE_ANSWERING,			/* all in: the worker answers, the response goes out */
	PHASE_IDLE,					/* kept alive, no byte of a next request seen yet */
	PHASE_CUT					/* shut down for its deadline, closing */
} request_phase;

/* One open connection of a worker, linked on worker->tracked. */
struct tracked_connection
{
	worker	   *w;
	int			fd;				/* libmicrohttpd's socket: valid until CLOSED */
	request_phase phase;
	int64_t		deadline_us;	/* PHASE_HEADERS and PHASE_BODY */
	uint64_t	idle_mark;		/* PHASE_IDLE: bytes received when it became idle */
	bool		idle_mark_valid;	/* false: the kernel does not count them */
	tracked_connection *prev;
	tracked_connection *next;
};

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
listener_worker_init(worker *w, const gateway_config *cfg)
{
	atomic_init(&w->connections, 0);
	w->request_timeout_us = (int64_t) cfg->request_timeout * 1000000;
	pthread_mutex_init(&w->lock, NULL);
	w->tracked = NULL;
}

void
listener_worker_destroy(worker *w)
{
	pthread_mutex_destroy(&w->lock);
}

/* The bytes a TCP socket has received so far; false if the kernel does not say. */
static bool
bytes_received(int fd, uint64_t *bytes)
{
	struct tcp_info info;
	socklen_t	len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
		len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
		return false;
	*bytes = info.tcpi_bytes_received;
	return true;
}

tracked_connection *
listener_connection_started(worker *w, int fd)
{
	tracked_connection *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->w = w;
	t->fd = fd;
	t->phase = PHASE_HEADERS;
	t->deadline_us = now_us() + w->request_timeout_us;
	pthread_mutex_lock(&w->lock);
	t->next = w->tracked;
	if (t->next != NULL)
		t->next->prev = t;
	w->tracked = t;
	pthread_mutex_unlock(&w->lock);
	return t;
}

void
listener_connection_closed(worker *w, const struct sockaddr *addr, tracked_connection *t)
{
	if (t != NULL)
	{
		/* unlinked under the lock, so the sweep never touches the socket once closed */
		pthread_mutex_lock(&w->lock);
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			w->tracked = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
		pthread_mutex_unlock(&w->lock);
		free(t);
	}
	atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&open_connections, 1, memory_order_relaxed);
	per_ip_release(addr);
}

void
listener_request_headers_in(tracked_connection *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->w->lock);
	if (t->phase == PHASE_IDLE)
		t->deadline_us = now_us() + t->w->request_timeout_us;	/* its first byte went unseen */
	if (t->phase == PHASE_IDLE || t->phase == PHASE_HEADERS)
		t->phase = PHASE_BODY;
	pthread_mutex_unlock(&t->w->lock);
}

void
listener_request_received(tracked_connection *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->w->lock);
	if (t->phase != PHASE_CUT)
		t->phase = PHASE_ANSWERING;
	pthread_mutex_unlock(&t->w->lock);
}

void
listener_request_finished(tracked_connection *t)
{
	uint64_t	mark = 0;
	bool		valid;

	if (t == NULL)
		return;
	valid = bytes_received(t->fd, &mark);
	pthread_mutex_lock(&t->w->lock);
	if (t->phase != PHASE_CUT)
	{
		t->phase = PHASE_IDLE;
		t->idle_mark = mark;
		t->idle_mark_valid = valid;
	}
	pthread_mutex_unlock(&t->w->lock);
}

/* The peer address of a socket as text ("?" if unknown). */
static void
peer_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage addr;
	socklen_t	len = sizeof(addr);
	const void *ip = NULL;

	snprintf(out, size, "?");
	if (getpeername(fd, (struct sockaddr *) &addr, &len) != 0)
		return;
	if (addr.ss_family == AF_INET)
		ip = &((struct sockaddr_in *) &addr)->sin_addr;
	else if (addr.ss_family == AF_INET6)
		ip = &((struct sockaddr_in6 *) &addr)->sin6_addr;
	if (ip != NULL && inet_ntop(addr.ss_family, ip, out, (socklen_t) size) == NULL)
		snprintf(out, size, "?");
}

/*
 * Shut down every connection past its request deadline (see the top of the
 * file); one log line for all those of this sweep.
 */
static void
sweep(listener *l)
{
	int64_t		now = now_us();
	unsigned long cut[2] = {0, 0};	/* in the headers, in the body */
	char		last_peer[INET6_ADDRSTRLEN] = "?";
	unsigned	i;

	for (i = 0; i < l->nworkers; i++)
	{
		worker	   *w = &l->workers[i];
		tracked_connection *t;

		pthread_mutex_lock(&w->lock);
		for (t = w->tracked; t != NULL; t = t->next)
		{
			uint64_t	bytes;
			int			unread = 0;

			if (t->phase == PHASE_IDLE)
			{
				if (t->idle_mark_valid && bytes_received(t->fd, &bytes) && bytes != t->idle_mark)
				{
					t->phase = PHASE_HEADERS;	/* a next request has begun */
					t->deadline_us = now + w->request_timeout_us;
				}
				continue;
			}
			if ((t->phase != PHASE_HEADERS && t->phase != PHASE_BODY) || now < t->deadline_us)
				continue;
			if (ioctl(t->fd, FIONREAD, &unread) == 0 && unread > 0)
				continue;		/* its worker has not read what came: busy, not the client slow */
			peer_name(t->fd, last_peer, sizeof(last_peer));
			/* libmicrohttpd reads the end of the stream and closes the socket itself */
			shutdown(t->fd, SHUT_RDWR);
			cut[t->phase == PHASE_BODY]++;
			metrics_request_timed_out(t->phase == PHASE_BODY);
			t->phase = PHASE_CUT;
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (cut[0] + cut[1] > 0)
		log_event("warning", "request timeout: closed %lu connection(s) whose request had not "
				  "arrived within %lld s (%lu in the headers, %lu in the body; the last from %s)",
				  cut[0] + cut[1], (long long) (l->workers[0].request_timeout_us / 1000000),
				  cut[0], cut[1], last_peer);
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
			listener_connection_closed(w, (struct sockaddr *) &addr, NULL);
		}
	}
}

static void *
listener_main(void *arg)
{
	listener   *l = arg;
	int64_t		next_sweep = 0;

	for (;;)
	{
		struct pollfd pfd[2] = {{l->listen_fd, POLLIN, 0}, {l->wake_fd[0], POLLIN, 0}};
		int64_t		now = now_us();
		int			timeout = -1;	/* no connection open: nothing to sweep */
		int			rc;

		if (now >= next_sweep)
		{
			sweep(l);
			next_sweep = now + SWEEP_INTERVAL_US;
		}
		if (listener_open_connections() > 0)
			timeout = (int) ((next_sweep - now + 999) / 1000);
		rc = poll(pfd, 2, timeout);

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
