/*
 * group.c - group commit (see group.h).
 */
#include "group.h"

#include <errno.h>
#include <signal.h>

static bool
key_taken(group_request **batch, int n, int64_t key)
{
	for (int i = 0; i < n; i++)
		if (batch[i]->key == key)
			return true;
	return false;
}

/* Unlink the oldest requests, one per key, at most g->max, into batch. */
static int
take_batch(group *g, group_request **batch)
{
	group_request **link = &g->head;
	int			n = 0;

	while (*link != NULL && n < g->max)
	{
		group_request *r = *link;

		if (key_taken(batch, n, r->key))
		{
			link = &r->next;	/* the next batch: it will see this one's row */
			continue;
		}
		*link = r->next;
		r->next = NULL;
		batch[n++] = r;
	}
	return n;
}

static void
append(group *g, group_request *r)
{
	group_request **link = &g->head;

	while (*link != NULL)
		link = &(*link)->next;
	r->next = NULL;
	*link = r;
}

/* A batch ended: wake a lane if requests wait and a lane is free, or a stopper. */
static void
batch_ended(group *g)
{
	g->running--;
	if (g->head != NULL)
		pthread_cond_signal(&g->work);
	else if (g->running == 0)
		pthread_cond_broadcast(&g->idle);
}

/* Run one batch of the oldest requests, the lock released meanwhile. */
static void
run_queued_batch(group *g)
{
	group_request *batch[GROUP_MAX];
	int			n = take_batch(g, batch);

	g->running++;
	if (g->head != NULL && g->running < g->lanes)
		pthread_cond_signal(&g->work);	/* requests left over, and another lane free */
	pthread_mutex_unlock(&g->lock);
	g->run(batch, n, g->arg);
	for (int i = 0; i < n; i++)
		g->done(batch[i]);
	pthread_mutex_lock(&g->lock);
	batch_ended(g);
}

/* A lane: run batches while requests are queued, sleep when none are. */
static void *
lane_main(void *arg)
{
	group	   *g = arg;

	pthread_mutex_lock(&g->lock);
	for (;;)
	{
		while (g->head == NULL ? !g->stopping : g->running >= g->lanes)
			pthread_cond_wait(&g->work, &g->lock);
		if (g->head == NULL)
			break;				/* stopping, and nothing left to run */
		run_queued_batch(g);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

bool
group_start(group *g, int lanes, int max, group_runner run, group_done done, void *arg)
{
	sigset_t	all;
	sigset_t	old;
	int			rc = 0;

	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->work, NULL);
	pthread_cond_init(&g->idle, NULL);
	g->head = NULL;
	g->running = 0;
	g->lanes = lanes < 1 ? 1 : lanes > GROUP_MAX_LANES ? GROUP_MAX_LANES : lanes;
	g->max = max < 1 ? 1 : max > GROUP_MAX ? GROUP_MAX : max;
	g->stopping = false;
	g->nthreads = 0;
	g->run = run;
	g->done = done;
	g->arg = arg;

	/* signals are for the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (g->nthreads < g->lanes &&
		   (rc = pthread_create(&g->threads[g->nthreads], NULL, lane_main, g)) == 0)
		g->nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (g->nthreads == 0)
	{
		errno = rc;
		return false;
	}
	g->lanes = g->nthreads;
	return true;
}

void
group_stop(group *g)
{
	pthread_mutex_lock(&g->lock);
	while (g->head != NULL || g->running > 0)
		pthread_cond_wait(&g->idle, &g->lock);
	g->stopping = true;
	pthread_cond_broadcast(&g->work);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < g->nthreads; i++)
		pthread_join(g->threads[i], NULL);
	g->nthreads = 0;
}

bool
group_run_alone(group *g, group_request *r)
{
	pthread_mutex_lock(&g->lock);
	if (g->head != NULL || g->running >= g->lanes)
	{
		pthread_mutex_unlock(&g->lock);
		return false;
	}
	g->running++;
	pthread_mutex_unlock(&g->lock);
	g->run(&r, 1, g->arg);
	pthread_mutex_lock(&g->lock);
	batch_ended(g);
	pthread_mutex_unlock(&g->lock);
	return true;
}

void
group_submit(group *g, group_request *r)
{
	pthread_mutex_lock(&g->lock);
	if (g->stopping)
	{
		/* the lanes are gone (shutdown): run it here, as a batch of one */
		pthread_mutex_unlock(&g->lock);
		g->run(&r, 1, g->arg);
		g->done(r);
		return;
	}
	append(g, r);
	if (g->running < g->lanes)
		pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->lock);
}
