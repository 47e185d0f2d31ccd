/*
 * test/soak/loadgen.c: the soak's HTTP load generator (POST /predict, a
 * unique id per request), closed-loop or at a constant rate.
 *
 *   build/soak/loadgen --port P [--host 127.0.0.1] [--connections 32]
 *                      [--duration SECONDS] [--rate REQ_PER_S] [--warmup SECONDS]
 *                      [--base ID] [--drain SECONDS] [--out FILE]
 *
 * Closed loop (--rate 0, the default): every connection sends its next request
 * as soon as the previous answer arrived; the rate it reaches is the
 * saturation rate (counted after --warmup seconds).
 *
 * Open loop (--rate R): request i is due at start + i / R, whatever happened
 * to the earlier ones (wrk2's model: no coordinated omission). A due request
 * goes out on the next idle keep-alive connection (round robin, so that no
 * connection idles into the gateway's idle timeout); when all are busy it
 * waits in the generator, and its latency counts from when it was due, not
 * from when it was written. Requests are due during --duration seconds; then
 * the generator waits up to --drain seconds (default 15) for the answers
 * still owed, and counts whatever is left as unanswered (an error).
 *
 * Ids: request i carries id BASE + i + 1 (BASE default 0): no request repeats
 * an id, so every request is a first insert. The observations cycle through
 * eight complete Titanic passengers (bench/http.lua's).
 *
 * Output: one line per second on stdout,
 *   SECOND s=<n> done=<answers this second> ok=<200s> non200=<n> errors=<n> backlog=<due, not sent> inflight=<n>
 * and at the end one line
 *   RESULT requests=<answered or failed> ok=<200s> non200=<n> socket_errors=<n>
 *          unanswered=<n> duration_us=<n> rate=<answers per s, after warm-up>
 *          target_rate=<R> due=<requests due> sent=<n> reconnects=<n> max_backlog=<n>
 *          p50_us=<n> p99_us=<n>
 * (latency from due time in the open loop, from the write in the closed loop).
 * With --out FILE, one line per answered request:
 *   <due time, us from start> <latency us from due time> <service us from write> <status>
 * (status 0: a socket error). Exit status 0 when every request got a 200.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static const char *const observations[] = {
	"{\"Pclass\": 3, \"Sex\": \"male\", \"Age\": 22, \"SibSp\": 1, \"Parch\": 0, \"Fare\": 7.25, \"Embarked\": \"S\"}",
	"{\"Pclass\": 1, \"Sex\": \"female\", \"Age\": 38, \"SibSp\": 1, \"Parch\": 0, \"Fare\": 71.2833, \"Cabin\": \"C85\", \"Embarked\": \"C\"}",
	"{\"Pclass\": 3, \"Sex\": \"female\", \"Age\": 26, \"SibSp\": 0, \"Parch\": 0, \"Fare\": 7.925, \"Embarked\": \"S\"}",
	"{\"Pclass\": 1, \"Sex\": \"female\", \"Age\": 35, \"SibSp\": 1, \"Parch\": 0, \"Fare\": 53.1, \"Cabin\": \"C123\", \"Embarked\": \"S\"}",
	"{\"Pclass\": 3, \"Sex\": \"male\", \"Age\": 35, \"SibSp\": 0, \"Parch\": 0, \"Fare\": 8.05, \"Embarked\": \"S\"}",
	"{\"Pclass\": 1, \"Sex\": \"male\", \"Age\": 54, \"SibSp\": 0, \"Parch\": 0, \"Fare\": 51.8625, \"Cabin\": \"E46\", \"Embarked\": \"S\"}",
	"{\"Pclass\": 3, \"Sex\": \"male\", \"Age\": 2, \"SibSp\": 3, \"Parch\": 1, \"Fare\": 21.075, \"Embarked\": \"S\"}",
	"{\"Pclass\": 2, \"Sex\": \"female\", \"Age\": 14, \"SibSp\": 1, \"Parch\": 0, \"Fare\": 30.0708, \"Embarked\": \"C\"}",
};
#define N_OBSERVATIONS (sizeof(observations) / sizeof(observations[0]))

enum conn_state
{
	CONN_CLOSED, CONN_CONNECTING, CONN_IDLE, CONN_BUSY
};

typedef struct
{
	int			fd;
	enum conn_state state;
	char		req[1024];
	size_t		req_len;
	size_t		req_off;
	char		resp[65536];
	size_t		resp_len;
	uint64_t	index;			/* request number (0-based) */
	int64_t		due_ns;			/* when it was due (ns from start) */
	int64_t		sent_ns;		/* when its first byte was written */
} conn;

typedef struct
{
	uint32_t	due_ms;			/* due time, ms from start (enough for sorting into windows) */
	uint32_t	due_us_frac;	/* the rest, us */
	uint32_t	latency_us;
	uint32_t	service_us;
	uint16_t	status;
} record;

static int64_t t0_ns;
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec - t0_ns;
}

/* settings */
static const char *host = "127.0.0.1";
static int	port = 0;
static int	nconn = 32;
static double duration_s = 10;
static double rate = 0;
static double warmup_s = 0;
static double drain_s = 15;
static long long base_id = 0;
static const char *out_path = NULL;

/* state */
static conn *conns;
static int	epfd;
static int *idle_ring;			/* FIFO of idle connections */
static int	idle_head, idle_count;
static uint64_t next_index;		/* next request to send */
static uint64_t due_count;		/* requests due so far (open loop) */
static int	inflight;
static int	stopping;			/* past the duration: send nothing new in the closed loop */

/* counters: total, and the current second's */
static uint64_t n_ok, n_non200, n_errors, n_reconnects, max_backlog, n_after_warmup;
static uint64_t s_done, s_ok, s_non200, s_errors;

static record *records;
static size_t n_records, cap_records;

static void
die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
idle_push(int i)
{
	idle_ring[(idle_head + idle_count) % nconn] = i;
	idle_count++;
}

static int
idle_pop(void)
{
	int			i = idle_ring[idle_head];

	idle_head = (idle_head + 1) % nconn;
	idle_count--;
	return i;
}

static void
idle_remove(int i)
{
	int			n = idle_count, k, w = 0;
	int		   *tmp = malloc(sizeof(int) * (size_t) nconn);

	for (k = 0; k < n; k++)
	{
		int			j = idle_ring[(idle_head + k) % nconn];

		if (j != i)
			tmp[w++] = j;
	}
	idle_head = 0;
	idle_count = w;
	memcpy(idle_ring, tmp, sizeof(int) * (size_t) w);
	free(tmp);
}

static void
conn_open(int i)
{
	conn	   *c = &conns[i];
	struct sockaddr_in sa;
	int			one = 1;
	struct epoll_event ev;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
	{
		fprintf(stderr, "loadgen: bad host %s\n", host);
		exit(2);
	}
	c->resp_len = 0;
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u32 = (uint32_t) i;
	if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
	{
		/* reported as a socket error when used: keep it closed, retry later */
		close(c->fd);
		c->fd = -1;
		c->state = CONN_CLOSED;
		return;
	}
	c->state = CONN_CONNECTING;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

static void
conn_close(int i)
{
	conn	   *c = &conns[i];

	if (c->state == CONN_IDLE)
		idle_remove(i);
	if (c->fd >= 0)
	{
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = CONN_CLOSED;
}

static void
record_answer(conn *c, int status, int64_t now)
{
	int64_t		lat = now - c->due_ns;
	int64_t		svc = now - c->sent_ns;

	if (n_records == cap_records)
	{
		cap_records = cap_records ? cap_records * 2 : 1 << 16;
		records = realloc(records, cap_records * sizeof(record));
		if (!records)
			die("realloc");
	}
	records[n_records].due_ms = (uint32_t) (c->due_ns / 1000000);
	records[n_records].due_us_frac = (uint32_t) ((c->due_ns / 1000) % 1000);
	records[n_records].latency_us = (uint32_t) (lat / 1000);
	records[n_records].service_us = (uint32_t) (svc / 1000);
	records[n_records].status = (uint16_t) status;
	n_records++;
	s_done++;
	if (status == 200)
	{
		n_ok++;
		s_ok++;
	}
	else if (status == 0)
	{
		n_errors++;
		s_errors++;
	}
	else
	{
		n_non200++;
		s_non200++;
	}
	if (now >= (int64_t) (warmup_s * 1e9) && now <= (int64_t) (duration_s * 1e9))
		n_after_warmup++;
	inflight--;
}

/* A request failed on its connection: a socket error; reconnect. */
static void
conn_fail(int i, int64_t now)
{
	conn	   *c = &conns[i];

	if (c->state == CONN_BUSY)
		record_answer(c, 0, now);
	conn_close(i);
	n_reconnects++;
	conn_open(i);
}

static void
try_write(int i, int64_t now)
{
	conn	   *c = &conns[i];
	struct epoll_event ev;

	while (c->req_off < c->req_len)
	{
		ssize_t		n = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);

		if (n < 0)
		{
			if (errno == EAGAIN)
				break;
			conn_fail(i, now);
			return;
		}
		c->req_off += (size_t) n;
	}
	ev.events = EPOLLIN | (c->req_off < c->req_len ? EPOLLOUT : 0);
	ev.data.u32 = (uint32_t) i;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
send_request(int i, uint64_t index, int64_t due, int64_t now)
{
	conn	   *c = &conns[i];
	char		body[512];
	int			blen;

	blen = snprintf(body, sizeof(body), "{\"id\": %lld, \"observation\": %s}",
					base_id + (long long) index + 1, observations[index % N_OBSERVATIONS]);
	c->req_len = (size_t) snprintf(c->req, sizeof(c->req),
								   "POST /predict HTTP/1.1\r\nHost: %s:%d\r\n"
								   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
								   host, port, blen, body);
	c->req_off = 0;
	c->resp_len = 0;
	c->index = index;
	c->due_ns = due;
	c->sent_ns = now;
	c->state = CONN_BUSY;
	inflight++;
	try_write(i, now);
}

static int64_t
due_time(uint64_t index)
{
	return (int64_t) ((double) index * 1e9 / rate);
}

/* Send what is due (open loop) or keep every idle connection busy (closed). */
static void
dispatch(int64_t now)
{
	if (rate > 0)
	{
		int64_t		end = (int64_t) (duration_s * 1e9);

		while (due_count * 1.0 < duration_s * rate && due_time(due_count) <= now && due_time(due_count) < end)
			due_count++;
		while (next_index < due_count && idle_count > 0)
		{
			uint64_t	index = next_index++;

			send_request(idle_pop(), index, due_time(index), now);
		}
		if (due_count - next_index > max_backlog)
			max_backlog = due_count - next_index;
	}
	else if (!stopping)
	{
		while (idle_count > 0)
		{
			uint64_t	index = next_index++;

			send_request(idle_pop(), index, now, now);
		}
	}
}

/* Parse a complete response in c->resp: -1 incomplete, -2 malformed, else its status. */
static int
parse_response(conn *c, int *close_after)
{
	char	   *hdr_end,
			   *p;
	long		clen = -1;
	int			status;
	size_t		hlen;

	c->resp[c->resp_len < sizeof(c->resp) ? c->resp_len : sizeof(c->resp) - 1] = '\0';
	hdr_end = strstr(c->resp, "\r\n\r\n");
	if (!hdr_end)
		return c->resp_len >= sizeof(c->resp) - 1 ? -2 : -1;
	hlen = (size_t) (hdr_end - c->resp) + 4;
	if (strncmp(c->resp, "HTTP/1.", 7) != 0 || c->resp_len < 12)
		return -2;
	status = atoi(c->resp + 9);
	*close_after = 0;
	for (p = strstr(c->resp, "\r\n"); p && p < hdr_end; p = strstr(p + 2, "\r\n"))
	{
		char	   *line = p + 2;

		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
				 strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5) == 0)
			*close_after = 1;
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			return -2;			/* the gateway sends Content-Length */
	}
	if (clen < 0)
		return -2;
	if (c->resp_len < hlen + (size_t) clen)
		return -1;
	if (c->resp_len > hlen + (size_t) clen)
		return -2;				/* more than one answer: nothing was pipelined */
	return status;
}

static void
on_readable(int i, int64_t now)
{
	conn	   *c = &conns[i];

	for (;;)
	{
		ssize_t		n;
		int			status,
					close_after = 0;

		if (c->resp_len >= sizeof(c->resp) - 1)
		{
			conn_fail(i, now);
			return;
		}
		n = read(c->fd, c->resp + c->resp_len, sizeof(c->resp) - 1 - c->resp_len);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
		{
			/* closed by the server: between requests (idle timeout) it is no error */
			if (c->state == CONN_BUSY)
				conn_fail(i, now);
			else
			{
				conn_close(i);
				n_reconnects++;
				conn_open(i);
			}
			return;
		}
		if (c->state != CONN_BUSY)
		{
			conn_fail(i, now);	/* bytes nobody asked for */
			return;
		}
		c->resp_len += (size_t) n;
		status = parse_response(c, &close_after);
		if (status == -1)
			continue;
		if (status == -2)
		{
			conn_fail(i, now);
			return;
		}
		record_answer(c, status, now);
		c->state = CONN_IDLE;
		c->resp_len = 0;
		if (close_after)
		{
			c->state = CONN_CLOSED;
			conn_close(i);
			n_reconnects++;
			conn_open(i);
		}
		else
			idle_push(i);
		return;
	}
}

static void
on_writable(int i, int64_t now)
{
	conn	   *c = &conns[i];

	if (c->state == CONN_CONNECTING)
	{
		int			err = 0;
		socklen_t	len = sizeof(err);
		struct epoll_event ev;

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err)
		{
			fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
			n_errors++;
			conn_close(i);
			n_reconnects++;
			conn_open(i);
			return;
		}
		c->state = CONN_IDLE;
		idle_push(i);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t) i;
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	if (c->state == CONN_BUSY)
		try_write(i, now);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a,
				y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

static uint32_t
percentile(uint32_t *v, size_t n, double p)
{
	size_t		k;

	if (n == 0)
		return 0;
	k = (size_t) (p / 100.0 * (double) n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen --port P [--host A] [--connections N] [--duration S] [--rate R]\n"
			"               [--warmup S] [--drain S] [--base ID] [--out FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int			i,
				tfd;
	int64_t		end_ns,
				drain_end_ns,
				next_second_ns = 1000000000;
	int			second = 0;
	struct epoll_event ev,
				events[256];
	struct timespec ts;
	uint32_t   *lat;
	size_t		nl = 0;

	for (i = 1; i < argc; i += 2)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--host"))
			host = v;
		else if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--connections"))
			nconn = atoi(v);
		else if (!strcmp(a, "--duration"))
			duration_s = atof(v);
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--warmup"))
			warmup_s = atof(v);
		else if (!strcmp(a, "--drain"))
			drain_s = atof(v);
		else if (!strcmp(a, "--base"))
			base_id = atoll(v);
		else if (!strcmp(a, "--out"))
			out_path = v;
		else
			usage();
	}
	if (port <= 0 || nconn < 1 || duration_s <= 0 || rate < 0 || warmup_s >= duration_s)
		usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	conns = calloc((size_t) nconn, sizeof(conn));
	idle_ring = calloc((size_t) nconn, sizeof(int));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!conns || !idle_ring || epfd < 0 || tfd < 0)
		die("setup");
	ev.events = EPOLLIN;
	ev.data.u32 = UINT32_MAX;
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (i = 0; i < nconn; i++)
		conn_open(i);
	end_ns = (int64_t) (duration_s * 1e9);
	drain_end_ns = end_ns + (int64_t) (drain_s * 1e9);

	for (;;)
	{
		int64_t		now = now_ns(),
					wake;
		int			n,
					k;
		struct itimerspec its;

		if (now >= end_ns)
			stopping = 1;
		/* everything due was answered (or the drain ran out) */
		if (stopping)
		{
			int			all_sent = rate > 0 ? (next_index >= due_count &&
											   due_count >= (uint64_t) (duration_s * rate)) : 1;

			if ((all_sent && inflight == 0) || now >= drain_end_ns)
				break;
		}
		/* reopen connections that failed to connect */
		for (i = 0; i < nconn; i++)
			if (conns[i].state == CONN_CLOSED)
				conn_open(i);
		dispatch(now);

		while (now >= next_second_ns)
		{
			second++;
			printf("SECOND s=%d done=%llu ok=%llu non200=%llu errors=%llu backlog=%llu inflight=%d\n",
				   second, (unsigned long long) s_done, (unsigned long long) s_ok,
				   (unsigned long long) s_non200, (unsigned long long) s_errors,
				   (unsigned long long) (due_count - next_index), inflight);
			s_done = s_ok = s_non200 = s_errors = 0;
			next_second_ns += 1000000000;
		}

		/* wake at the next due request, the next second, or the end */
		wake = next_second_ns;
		if (rate > 0 && !stopping && due_time(due_count) < wake)
			wake = due_time(due_count);
		if (!stopping && end_ns < wake)
			wake = end_ns;
		if (stopping && drain_end_ns < wake)
			wake = drain_end_ns;
		memset(&its, 0, sizeof(its));
		wake += t0_ns;
		its.it_value.tv_sec = wake / 1000000000;
		its.it_value.tv_nsec = wake % 1000000000;
		timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

		n = epoll_wait(epfd, events, 256, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		now = now_ns();
		for (k = 0; k < n; k++)
		{
			uint32_t	id = events[k].data.u32;

			if (id == UINT32_MAX)
			{
				uint64_t	expirations;

				if (read(tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
					die("timerfd");
				continue;
			}
			if (conns[id].fd < 0)
				continue;
			if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			{
				if (conns[id].state == CONN_CONNECTING)
					on_writable((int) id, now);
				else
					on_readable((int) id, now);
			}
			else if (events[k].events & EPOLLOUT)
				on_writable((int) id, now);
			dispatch(now);
		}
	}

	{
		int64_t		elapsed = now_ns();
		uint64_t	unanswered = (uint64_t) inflight + (rate > 0 ? due_count - next_index : 0);
		double		measured = (duration_s - warmup_s);
		FILE	   *out = NULL;
		size_t		r;

		if (rate > 0 && due_count < (uint64_t) (duration_s * rate))
			unanswered += (uint64_t) (duration_s * rate) - due_count;
		lat = malloc(sizeof(uint32_t) * (n_records ? n_records : 1));
		if (out_path && !(out = fopen(out_path, "w")))
			die(out_path);
		for (r = 0; r < n_records; r++)
		{
			record	   *rec = &records[r];

			if (out)
				fprintf(out, "%llu %u %u %u\n",
						(unsigned long long) rec->due_ms * 1000 + rec->due_us_frac,
						rec->latency_us, rec->service_us, rec->status);
			if ((double) rec->due_ms >= warmup_s * 1000)
				lat[nl++] = rate > 0 ? rec->latency_us : rec->service_us;
		}
		if (out && fclose(out) != 0)
			die(out_path);
		qsort(lat, nl, sizeof(uint32_t), cmp_u32);
		printf("RESULT requests=%llu ok=%llu non200=%llu socket_errors=%llu unanswered=%llu "
			   "duration_us=%lld rate=%.1f target_rate=%.1f due=%llu sent=%llu reconnects=%llu "
			   "max_backlog=%llu p50_us=%u p99_us=%u\n",
			   (unsigned long long) n_records, (unsigned long long) n_ok,
			   (unsigned long long) n_non200, (unsigned long long) n_errors,
			   (unsigned long long) unanswered, (long long) (elapsed / 1000),
			   (double) n_after_warmup / measured, rate,
			   (unsigned long long) (rate > 0 ? due_count : next_index),
			   (unsigned long long) next_index, (unsigned long long) n_reconnects,
			   (unsigned long long) max_backlog,
			   percentile(lat, nl, 50), percentile(lat, nl, 99));
		return (n_ok == n_records && n_errors == 0 && unanswered == 0) ? 0 : 1;
	}
}
