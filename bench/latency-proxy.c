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
 * One thread per direction per connection (bench/http.sh opens a few hundred
 * at most), each sleeping until the next chunk is due or more bytes arrive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX 65536
#define THREAD_STACK (256 * 1024)

struct chunk {
	struct chunk *next;
	struct timespec due;
	size_t len;
	char data[];
};

/* One direction of one connection: bytes read from `from`, written to `to`. */
struct direction {
	int from, to;
	struct chunk *head, *tail;
	bool eof;
};

static long delay_ns = 500 * 1000L;
static int target_port;
static pthread_attr_t thread_attr;

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

/* due - t, or zero when due has passed. */
static struct timespec time_until(struct timespec due, struct timespec t)
{
	struct timespec d = { 0, 0 };

	if (is_due(due, t))
		return d;
	d.tv_sec = due.tv_sec - t.tv_sec;
	d.tv_nsec = due.tv_nsec - t.tv_nsec;
	if (d.tv_nsec < 0) {
		d.tv_nsec += 1000000000L;
		d.tv_sec--;
	}
	return d;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Nagle would hold the small messages back for the peer's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static bool send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read what is there into a new chunk at the queue's tail; false at EOF or error. */
static bool read_chunk(struct direction *d)
{
	char buf[CHUNK_MAX];
	struct chunk *c;
	ssize_t n;

	do
		n = recv(d->from, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	c = malloc(sizeof(*c) + (size_t)n);
	if (c == NULL)
		return false;
	c->next = NULL;
	c->due = add_ns(now(), delay_ns);
	c->len = (size_t)n;
	memcpy(c->data, buf, (size_t)n);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	return true;
}

static struct chunk *pop(struct direction *d)
{
	struct chunk *c = d->head;

	d->head = c->next;
	if (d->head == NULL)
		d->tail = NULL;
	return c;
}

/* Send every chunk whose time has come; false when the receiver is gone. */
static bool deliver_due(struct direction *d)
{
	struct timespec t = now();

	while (d->head && is_due(d->head->due, t)) {
		struct chunk *c = pop(d);
		bool sent = send_all(d->to, c->data, c->len);

		free(c);
		if (!sent)
			return false;
		t = now();
	}
	return true;
}

static void drop_queue(struct direction *d)
{
	while (d->head)
		free(pop(d));
}

/* Wait for bytes to read or for the head chunk to fall due, whichever is first. */
static void wait_for_work(struct direction *d)
{
	struct pollfd p = { .fd = d->from, .events = POLLIN, .revents = 0 };
	struct timespec wait = { 0, 0 };

	if (d->eof) {
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d->head->due, NULL);
		return;
	}
	if (d->head)
		wait = time_until(d->head->due, now());
	if (ppoll(&p, 1, d->head ? &wait : NULL, NULL) > 0 && !read_chunk(d))
		d->eof = true;
}

static void *relay(void *arg)
{
	struct direction *d = arg;

	/* The default 50 us of timer slack would be a tenth of the delay. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	while (!(d->eof && d->head == NULL)) {
		if (!deliver_due(d)) {
			/* The receiver is gone: stop the sender too. */
			drop_queue(d);
			shutdown(d->from, SHUT_RDWR);
			break;
		}
		if (d->eof && d->head == NULL)
			break;
		wait_for_work(d);
	}
	shutdown(d->to, SHUT_WR);
	return NULL;
}

static int connect_target(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)target_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	set_nodelay(fd);
	return fd;
}

/* One client: connect it to the target and relay both ways until both ends close. */
static void *serve(void *arg)
{
	int client = (int)(intptr_t)arg;
	int server = connect_target();
	struct direction up = { .from = client, .to = server };
	struct direction down = { .from = server, .to = client };
	pthread_t t;

	if (server < 0) {
		perror("latency-proxy: connect");
		close(client);
		return NULL;
	}
	if (pthread_create(&t, &thread_attr, relay, &down) != 0) {
		fprintf(stderr, "latency-proxy: cannot start a thread\n");
		close(client);
		close(server);
		return NULL;
	}
	relay(&up);
	pthread_join(t, NULL);
	close(client);
	close(server);
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

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

static void accept_forever(int listener)
{
	for (;;) {
		int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (client < 0) {
			if (errno != EINTR)
				perror("latency-proxy: accept");
			/* out of descriptors: let some connections close */
			if (errno == EMFILE || errno == ENFILE)
				usleep(10000);
			continue;
		}
		set_nodelay(client);
		if (pthread_create(&t, &thread_attr, serve, (void *)(intptr_t)client) != 0) {
			fprintf(stderr, "latency-proxy: cannot start a thread\n");
			close(client);
			continue;
		}
		pthread_detach(t);
	}
}

static long parse_number(const char *s, long max)
{
	char *end;
	long v;

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
	int listener;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: latency-proxy LISTEN_PORT TARGET_PORT [DELAY_US]\n");
		return 2;
	}
	target_port = (int)parse_number(argv[2], 65535);
	if (argc == 4)
		delay_ns = parse_number(argv[3], 10 * 1000 * 1000) * 1000L;
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&thread_attr);
	pthread_attr_setstacksize(&thread_attr, THREAD_STACK);
	listener = listen_on((int)parse_number(argv[1], 65535));
	if (listener < 0) {
		perror("latency-proxy: listen");
		return 1;
	}
	accept_forever(listener);
	return 0;
}
