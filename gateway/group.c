/*
 * group.c - group commit (see group.h).
 */
#include "group.h"

void
group_init(group *g, int lanes, int max, group_runner run, void *arg)
{
	pthread_mutex_init(&g->lock, NULL);
	g->head = NULL;
	g->running = 0;
	g->lanes = lanes < 1 ? 1 : lanes;
	g->max = max < 1 ? 1 : max > GROUP_MAX ? GROUP_MAX : max;
	g->run = run;
	g->arg = arg;
}

void
group_destroy(group *g)
{
	pthread_mutex_destroy(&g->lock);
}

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
	r->done = false;
	*link = r;
}

static bool
queued(const group *g, const group_request *r)
{
	for (const group_request *q = g->head; q != NULL; q = q->next)
		if (q == r)
			return true;
	return false;
}

/* A lane is free: the oldest queued request's worker leads the next batch. */
static void
wake_next_leader(group *g)
{
	if (g->head != NULL && g->running < g->lanes)
		pthread_cond_signal(&g->head->wake);
}

/* Run one batch of the oldest requests, the lock released meanwhile. */
static void
lead(group *g)
{
	group_request *batch[GROUP_MAX];
	int			n = take_batch(g, batch);

	g->running++;
	wake_next_leader(g);		/* requests left over, and another lane free */
	pthread_mutex_unlock(&g->lock);
	g->run(batch, n, g->arg);
	pthread_mutex_lock(&g->lock);
	g->running--;
	for (int i = 0; i < n; i++)
	{
		batch[i]->done = true;
		pthread_cond_signal(&batch[i]->wake);
	}
	wake_next_leader(g);
}

void
group_submit(group *g, group_request *r)
{
	pthread_cond_init(&r->wake, NULL);
	pthread_mutex_lock(&g->lock);
	append(g, r);
	while (!r->done)
	{
		if (g->running < g->lanes && queued(g, r))
			lead(g);
		else
			pthread_cond_wait(&r->wake, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	pthread_cond_destroy(&r->wake);
}
