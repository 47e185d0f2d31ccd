/*
 * log.c - logfmt lines on stdout (access) and stderr (events).
 *
 * Values that may hold anything (a request path, an error message) are
 * quoted with backslash escapes, so one line is always one record and a
 * client cannot forge log lines with a newline in its URL.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_SIZE 2048

/* Append "time=<RFC 3339 UTC with milliseconds> " to buf. */
static size_t
put_time(char *buf, size_t size)
{
	/* the formatted second, per thread: strftime once a second, not per line */
	static __thread time_t cached_second = -1;
	static __thread char cached[32];
	static __thread size_t cached_len;
	struct timespec ts;
	struct tm	tm;
	long		ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_second)
	{
		gmtime_r(&ts.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "time=%Y-%m-%dT%H:%M:%S.", &tm);
		cached_second = ts.tv_sec;
	}
	if (size < cached_len + 6)
		return 0;
	memcpy(buf, cached, cached_len);
	ms = ts.tv_nsec / 1000000;
	buf[cached_len] = (char) ('0' + ms / 100);
	buf[cached_len + 1] = (char) ('0' + ms / 10 % 10);
	buf[cached_len + 2] = (char) ('0' + ms % 10);
	buf[cached_len + 3] = 'Z';
	buf[cached_len + 4] = ' ';
	return cached_len + 5;
}

/* Append s as a quoted logfmt value; stops (truncating) at the buffer's end. */
static size_t
put_quoted(char *buf, size_t size, size_t n, const char *s)
{
	const unsigned char *p;

	if (n + 3 >= size)
		return n;
	buf[n++] = '"';
	for (p = (const unsigned char *) s; *p && n + 6 < size; p++)
	{
		if (*p == '"' || *p == '\\')
		{
			buf[n++] = '\\';
			buf[n++] = (char) *p;
		}
		else if (*p == '\n')
		{
			buf[n++] = '\\';
			buf[n++] = 'n';
		}
		else if (*p < 0x20 || *p == 0x7f)
			n += (size_t) snprintf(buf + n, size - n, "\\x%02x", *p);
		else
			buf[n++] = (char) *p;
	}
	buf[n++] = '"';
	return n;
}

/* Write a whole line to fd, retrying short writes. */
static void
write_line(int fd, const char *buf, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, buf, n);

		if (w <= 0)
			return;
		buf += w;
		n -= (size_t) w;
	}
}

void
log_access(const char *method, const char *path, unsigned status,
		   double duration_ms, bool has_id, int64_t observation_id)
{
	char		buf[LOG_LINE_SIZE];
	size_t		n = put_time(buf, sizeof(buf));

	n += (size_t) snprintf(buf + n, sizeof(buf) - n, "method=");
	n = put_quoted(buf, sizeof(buf) - 64, n, method);
	n += (size_t) snprintf(buf + n, sizeof(buf) - n, " path=");
	n = put_quoted(buf, sizeof(buf) - 64, n, path);
	n += (size_t) snprintf(buf + n, sizeof(buf) - n, " status=%u duration_ms=%.3f",
						   status, duration_ms);
	if (has_id)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, " observation_id=%lld",
							   (long long) observation_id);
	buf[n++] = '\n';
	write_line(STDOUT_FILENO, buf, n);
}

void
log_event(const char *level, const char *format,...)
{
	char		msg[LOG_LINE_SIZE / 2];
	char		buf[LOG_LINE_SIZE];
	size_t		n = put_time(buf, sizeof(buf));
	va_list		ap;

	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	n += (size_t) snprintf(buf + n, sizeof(buf) - n, "level=%s msg=", level);
	n = put_quoted(buf, sizeof(buf) - 1, n, msg);
	buf[n++] = '\n';
	write_line(STDERR_FILENO, buf, n);
}
