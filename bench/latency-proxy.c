/*
 * latency-proxy: a TCP relay on 127.0.0.1 that holds each chunk it reads for
 * DELAY_US microseconds before passing it on, in order, in both directions:
 * between a client and a server on one machine, a network link with a round
 * trip of 2 x DELAY_US and no bandwidth limit.
 *
 *   latency-proxy LISTEN_PORT TARGET_PORT [DELAY_US]
 *
 * LISTEN_PORT 0 takes a free port. Once it accepts connections it prints
 * "listening PORT" on standard output. DELAY_US defaults to 500 (a 1 ms round
 * trip). It runs until it is killed.
 *
 * Why a proxy and not tc netem on a veth pair: the development machine's
 * kernel has no queueing disciplines at all (no netem, no modules to load),
 * and a proxy needs neither root nor a network namespace. It delays what the
 * application reads rather than packets, which is the same thing for a
 * database protocol's small messages; TCP's own ACKs are not delayed, so it
 * does not model a congestion window filling up on bulk transfers.
 *
 * One thread for every connection, an epoll loop and one timer, at real-time
 * priority where it may. A link costs the machines at its ends nothing but
 * their own sends and receives, so the relay must cost as little as it can on
 * the cores it shares with them and must not wait for a core behind them.
 * This program's first form, a thread per direction per connection at normal
 * priority, gave pgbench's 32 clients a round trip of 2.3-2.9 ms against 1.3
 * ms beside the gateway's two connections; one thread at normal priority
 * 2.2 ms, at real-time priority 1.4-1.6 (bench/http.sh, 6 December 2026;
 * docs/http-api.md). The delay is the same for every chunk, so chunks fall
 * due in the order they were read: one queue for all of them, in that order,
 * and one timer for its head.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX 65536
#define EVENTS_MAX 64

struct connection;

/*
 * A chunk read from one end, due at the other end at `due`. len 0 is the
 * reader's end of stream, passed on as a shutdown once it falls due.
 */
struct chunk {
	struct chunk *next;			/* in the due queue, then in a backlog */
	struct connection *conn;
	int			to;				/* 0: the client, 1: the server */
	struct timespec due;
	size_t		len, sent;
	char		data[];
};

/* One end of a connection, as registered with epoll. */
struct end {
	struct connection *conn;
	int			side;
	int			fd;
	bool		registered;		/* in the epoll set */
	bool		read_closed;	/* its end of stream was read */
	bool		write_closed;	/* the other end's end of stream was passed on */
	struct chunk *backlog, *backlog_tail;	/* due but not yet sent (the socket was full) */
};

struct connection {
	struct end	ends[2];
	int			queued;			/* chunks of this connection in the due queue */
	bool		dead;
	bool		doomed;			/* on the list freed after this round of events */
	struct connection *next_doomed;
};

static long delay_ns = 500 * 1000L;
static int target_port;
static int epfd, timer_fd;
static struct chunk *due_head, *due_tail;
static struct connection *doomed;
static struct timespec armed;	/* the timer's due time, set again only when the head changes */
static char read_buf[CHUNK_MAX];

static struct timespec now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static struct timespec add_ns(struct timespec t, long ns)
{
	t.tv_nsec += ns % 1000000000L;
	t.tv_sec += ns / 1000000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_nsec -= 1000000000L;
		t.tv_sec++;
	}
	return t;
}

static bool is_due(struct timespec due, struct timespec t)
{
	return t.tv_sec > due.tv_sec || (t.tv_sec == due.tv_sec && t.tv_nsec >= due.tv_nsec);
}

static void arm_timer(struct timespec due)
{
	struct itimerspec it = { .it_value = due };

	if (due.tv_sec == armed.tv_sec && due.tv_nsec == armed.tv_nsec)
		return;
	timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &it, NULL);
	armed = due;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Nagle would hold the small messages back for the peer's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * What epoll watches on an end: reading until its end of stream, writing
 * while its backlog waits for room. An end that needs neither leaves the set,
 * or a closed socket's EPOLLHUP would wake the loop until the connection ends.
 */
static void watch(struct end *e, bool want_write)
{
	struct epoll_event ev = { .events = (e->read_closed ? 0 : EPOLLIN) | (want_write ? EPOLLOUT : 0),
		.data.ptr = e };

	if (ev.events == 0) {
		if (e->registered)
			epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, NULL);
		e->registered = false;
		return;
	}
	epoll_ctl(epfd, e->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev);
	e->registered = true;
}

/*
 * A connection with nothing queued whose two directions have ended (or that
 * is dead) is freed, after the round of events in hand: one of them may
 * still point at it.
 */
static void free_connection_if_done(struct connection *c)
{
	if (c->doomed || c->queued > 0 ||
	    !(c->dead || (c->ends[0].write_closed && c->ends[1].write_closed)))
		return;
	c->doomed = true;
	c->next_doomed = doomed;
	doomed = c;
}

static void free_doomed(void)
{
	while (doomed) {
		struct connection *c = doomed;

		doomed = c->next_doomed;
		for (int s = 0; s < 2; s++) {
			struct end *e = &c->ends[s];

			while (e->backlog) {
				struct chunk *k = e->backlog;

				e->backlog = k->next;
				free(k);
			}
			close(e->fd);		/* closing also takes it out of the epoll set */
		}
		free(c);
	}
}

/* A reset or an error on either end: drop both, as a broken link would. */
static void kill_connection(struct connection *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (int s = 0; s < 2; s++) {
		if (c->ends[s].registered)
			epoll_ctl(epfd, EPOLL_CTL_DEL, c->ends[s].fd, NULL);
		c->ends[s].registered = false;
		shutdown(c->ends[s].fd, SHUT_RDWR);
	}
	free_connection_if_done(c);
}

/* Send as much of an end's backlog as its socket takes; false on an error. */
static bool flush_backlog(struct end *e)
{
	while (e->backlog) {
		struct chunk *k = e->backlog;

		if (k->len == 0) {
			shutdown(e->fd, SHUT_WR);
			e->write_closed = true;
		}
		while (k->sent < k->len) {
			ssize_t n = send(e->fd, k->data + k->sent, k->len - k->sent, MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				watch(e, true);
				return true;
			}
			if (n <= 0)
				return false;
			k->sent += (size_t)n;
		}
		e->backlog = k->next;
		if (e->backlog == NULL)
			e->backlog_tail = NULL;
		free(k);
	}
	watch(e, false);
	return true;
}

/* A chunk that has fallen due joins its receiving end's backlog, which is sent. */
static void deliver(struct chunk *k)
{
	struct connection *c = k->conn;
	struct end *e = &c->ends[k->to];
	bool was_empty = e->backlog == NULL;

	c->queued--;
	if (c->dead) {
		free(k);
		free_connection_if_done(c);
		return;
	}
	k->next = NULL;
	if (e->backlog_tail)
		e->backlog_tail->next = k;
	else
		e->backlog = k;
	e->backlog_tail = k;
	/* a backlog that was not empty waits for EPOLLOUT, in order */
	if (was_empty && !flush_backlog(e))
		kill_connection(c);
	else
		free_connection_if_done(c);
}

static void deliver_due(void)
{
	struct timespec t = now();

	while (due_head && is_due(due_head->due, t)) {
		struct chunk *k = due_head;

		due_head = k->next;
		if (due_head == NULL)
			due_tail = NULL;
		deliver(k);
	}
	if (due_head)
		arm_timer(due_head->due);
}

static void enqueue(struct connection *c, int to, const char *data, size_t len)
{
	struct chunk *k = malloc(sizeof(*k) + len);

	if (k == NULL) {
		kill_connection(c);
		return;
	}
	k->next = NULL;
	k->conn = c;
	k->to = to;
	k->due = add_ns(now(), delay_ns);
	k->len = len;
	k->sent = 0;
	memcpy(k->data, data, len);
	c->queued++;
	if (due_tail)
		due_tail->next = k;
	else {
		due_head = k;
		arm_timer(k->due);
	}
	due_tail = k;
}

/* Bytes (or the end of stream) from one end, queued for the other. */
static void read_end(struct end *e)
{
	struct connection *c = e->conn;
	ssize_t n;

	do
		n = recv(e->fd, read_buf, sizeof(read_buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0) {
		kill_connection(c);
		return;
	}
	if (n == 0) {
		e->read_closed = true;
		watch(e, e->backlog != NULL);
	}
	enqueue(c, 1 - e->side, read_buf, (size_t)n);
}

static int connect_target(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)target_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* A blocking connect: the target is on this machine, and this happens once per client. */
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	set_nodelay(fd);
	return fd;
}

static void accept_client(int listener)
{
	int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int server;
	struct connection *c;

	if (client < 0) {
		if (errno != EINTR && errno != EAGAIN)
			perror("latency-proxy: accept");
		/*
		 * Out of descriptors, the listener stays readable: without a pause the
		 * loop would spin at real-time priority until some connections close.
		 */
		if (errno == EMFILE || errno == ENFILE)
			usleep(10000);
		return;
	}
	server = connect_target();
	c = calloc(1, sizeof(*c));
	if (server < 0 || c == NULL) {
		perror("latency-proxy: connect");
		if (server >= 0)
			close(server);
		close(client);
		free(c);
		return;
	}
	set_nodelay(client);
	c->ends[0] = (struct end) { .conn = c, .side = 0, .fd = client };
	c->ends[1] = (struct end) { .conn = c, .side = 1, .fd = server };
	for (int s = 0; s < 2; s++)
		watch(&c->ends[s], false);
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static void run(int listener)
{
	struct epoll_event events[EVENTS_MAX];
	/* the epoll data of the listener and of the timer: no end has these addresses */
	static char listener_tag, timer_tag;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listener_tag };

	epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
	ev.data.ptr = &timer_tag;
	epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);
	for (;;) {
		int n = epoll_wait(epfd, events, EVENTS_MAX, -1);

		if (n < 0 && errno != EINTR) {
			perror("latency-proxy: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			void	   *p = events[i].data.ptr;

			if (p == &listener_tag)
				accept_client(listener);
			else if (p == &timer_tag) {
				uint64_t expirations;

				if (read(timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
					perror("latency-proxy: timer");
			}
			else {
				struct end *e = p;
				uint32_t	ev = events[i].events;

				if (e->conn->dead)
					continue;
				/* an error would be reported again at every wait: at this priority, a spin */
				if (ev & EPOLLERR) {
					kill_connection(e->conn);
					continue;
				}
				if ((ev & (EPOLLOUT | EPOLLHUP)) && e->backlog && !flush_backlog(e)) {
					kill_connection(e->conn);
					continue;
				}
				if (!e->read_closed && (ev & (EPOLLIN | EPOLLHUP)))
					read_end(e);
			}
		}
		/* what fell due while the events were handled goes out now, not a wake-up later */
		deliver_due();
		free_doomed();
	}
}

/*
 * A network delivers a message when it is due, whatever the machines at its
 * ends are running; a relay that waits for a core behind them is a slower
 * link for a busier client. Under pgbench's 32 clients at normal priority,
 * SELECT 1 over the relay took 2.2 ms against 1.2 ms beside the gateway's
 * run. So it runs at real-time priority where it may (root, or
 * CAP_SYS_NICE), and says so where it may not. The kernel's real-time
 * throttling still leaves the other processes 5% of each core.
 */
static void run_before_the_processes_it_links(void)
{
	struct sched_param p = { .sched_priority = 50 };

	if (sched_setscheduler(0, SCHED_FIFO, &p) != 0)
		fprintf(stderr, "latency-proxy: at normal priority (%s): the link slows down when the machine is busy\n",
				strerror(errno));
}

/* Two descriptors a connection: the soft limit (often 1024) is too few for a bench's hundreds. */
static void allow_every_descriptor(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static long parse_number(const char *s, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) {
		fprintf(stderr, "latency-proxy: not a number from 0 to %ld: %s\n", max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int			listener;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: latency-proxy LISTEN_PORT TARGET_PORT [DELAY_US]\n");
		return 2;
	}
	target_port = (int)parse_number(argv[2], 65535);
	if (argc == 4)
		delay_ns = parse_number(argv[3], 10 * 1000 * 1000) * 1000L;
	signal(SIGPIPE, SIG_IGN);
	run_before_the_processes_it_links();
	allow_every_descriptor();
	/* The default 50 us of timer slack would be a tenth of the delay. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (epfd < 0 || timer_fd < 0) {
		perror("latency-proxy: epoll");
		return 1;
	}
	listener = listen_on((int)parse_number(argv[1], 65535));
	if (listener < 0) {
		perror("latency-proxy: listen");
		return 1;
	}
	run(listener);
	return 0;
}
