/*
 * backend.c - choosing a backend from DATABASE_URL, and one database session
 * per worker thread.
 *
 * libmicrohttpd runs each request's handler on one of its pool threads, and
 * a thread serves its connections one at a time, so a session per thread
 * (kept in thread-local storage) is never used concurrently. Sessions are
 * also kept in a list so that /metrics can count them and shutdown can close
 * them. (The PostgreSQL backend's sessions share a pool of connections.)
 */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct session_entry
{
	db_session *session;
	struct session_entry *next;
} session_entry;

static const backend_ops *current_ops;
static const struct gateway_config *current_cfg;
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static session_entry *sessions;
static __thread db_session *thread_session;

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

db_status
db_fail(db_error *err, db_status status, const char *format,...)
{
	va_list		ap;

	err->status = status;
	va_start(ap, format);
	vsnprintf(err->message, sizeof(err->message), format, ap);
	va_end(ap);
	return status;
}

const backend_ops *
backend_for_url(const char *url, char *msg, size_t size)
{
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return &pg_backend;
	if (strncmp(url, "sqlite:", 7) == 0)
	{
		char		path[PATH_MAX];

		return sqlite_url_path(url, path, sizeof(path), msg, size) ? &sqlite_backend : NULL;
	}
	/* a libpq keyword=value connection string */
	if (strchr(url, '=') != NULL)
		return &pg_backend;
	snprintf(msg, size, "DATABASE_URL must be a postgresql:// URL, a libpq connection string "
			 "(host=... dbname=...) or a sqlite:/// URL");
	return NULL;
}

void
backend_init(const backend_ops *ops, const struct gateway_config *cfg)
{
	current_ops = ops;
	current_cfg = cfg;
}

db_session *
backend_thread_session(void)
{
	session_entry *entry;

	if (thread_session != NULL)
		return thread_session;
	entry = malloc(sizeof(*entry));
	if (entry == NULL)
		return NULL;
	entry->session = current_ops->session_open(current_cfg);
	if (entry->session == NULL)
	{
		free(entry);
		return NULL;
	}
	pthread_mutex_lock(&sessions_lock);
	entry->next = sessions;
	sessions = entry;
	pthread_mutex_unlock(&sessions_lock);
	thread_session = entry->session;
	return thread_session;
}

void
backend_close_all(void)
{
	session_entry *entry;

	pthread_mutex_lock(&sessions_lock);
	while ((entry = sessions) != NULL)
	{
		sessions = entry->next;
		current_ops->session_close(entry->session);
		free(entry);
	}
	pthread_mutex_unlock(&sessions_lock);
}

void
backend_count_sessions(int *count, int *connected)
{
	session_entry *entry;

	*count = 0;
	*connected = 0;
	pthread_mutex_lock(&sessions_lock);
	for (entry = sessions; entry != NULL; entry = entry->next)
	{
		(*count)++;
		if (current_ops->session_connected(entry->session))
			(*connected)++;
	}
	pthread_mutex_unlock(&sessions_lock);
	/* a backend that pools its connections counts them itself */
	if (current_ops->connections != NULL)
		*connected = current_ops->connections();
}

char *
read_whole_file(const char *path, size_t max, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;
	int			saved_errno;

	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		got;

		if (n + 1 >= cap)
		{
			char	   *bigger;

			cap = cap ? cap * 2 : 65536;
			if (cap > max + 2)
				cap = max + 2;
			bigger = n + 1 >= cap ? NULL : realloc(buf, cap);
			if (bigger == NULL)
			{
				saved_errno = n + 1 >= cap ? EFBIG : ENOMEM;
				goto fail;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		saved_errno = EIO;
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(f);
	errno = saved_errno;
	return NULL;
}
