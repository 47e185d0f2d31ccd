/*
 * group.h - group commit: requests that wait for the same database work go
 * as one statement and one commit.
 *
 * A worker's request joins a queue. While fewer than `lanes` batches run,
 * the worker leads at once: it takes the oldest requests queued (at most
 * `max`, and one per key, since two requests for one id must see each
 * other's outcome), runs them as one batch, and wakes their workers. The
 * requests that arrive while batches run wait, and go together in the next
 * one. There is no timer: a request that finds a lane free goes at once,
 * so at low load nothing waits, and batches form only when requests would
 * have queued for the database anyway.
 *
 * Each waiting worker sleeps on its own condition variable: a finished
 * batch wakes its own requests' workers and the oldest queued one, which
 * leads the next batch, and no other (with one shared variable, every
 * batch woke every waiting worker to find most of them not done).
 */
#ifndef GATEWAY_GROUP_H
#define GATEWAY_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* The largest batch (PREDICT_BATCH's maximum). */
#define GROUP_MAX 256

typedef struct group_request
{
	int64_t		key;			/* at most one request per key in a batch */
	void	   *data;			/* the caller's: the request and, once done, its outcome */
	struct group_request *next;
	bool		done;
	pthread_cond_t wake;		/* its batch ran, or it may lead the next one */
} group_request;

/* Run n requests (n >= 1) as one batch and fill their outcomes in data. */
typedef void (*group_runner) (group_request **batch, int n, void *arg);

typedef struct group
{
	pthread_mutex_t lock;
	group_request *head;		/* the queue, oldest first */
	int			running;		/* batches running */
	int			lanes;
	int			max;
	group_runner run;
	void	   *arg;
} group;

void		group_init(group *g, int lanes, int max, group_runner run, void *arg);
void		group_destroy(group *g);

/* Queue r and return once a batch that held it has run (from the calling thread). */
void		group_submit(group *g, group_request *r);

#endif							/* GATEWAY_GROUP_H */
