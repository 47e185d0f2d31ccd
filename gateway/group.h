/*
 * group.h - group commit: requests that wait for the same database work go
 * as one statement and one commit, run by lane threads while the HTTP
 * workers go on serving.
 *
 * A request that finds a lane free and nothing queued runs at once, alone,
 * in the caller's thread (group_run_alone): at low load nothing waits and
 * no thread is woken. Otherwise the caller queues it (group_submit) and
 * returns; a lane thread takes the oldest requests queued (at most `max`,
 * and one per key, since two requests for one id must see each other's
 * outcome), runs them as one batch, and reports each request done. The
 * requests that arrive while batches run wait, and go together in the next
 * one. There is no timer: batches form only when requests would have
 * queued for the database anyway.
 *
 * Why lanes rather than a leader among the waiting workers: a worker that
 * waits for its batch is a thread to put to sleep and to wake for each
 * request. Here an HTTP worker suspends its connection and goes back to its
 * event loop, and a lane under load runs one batch after the other without
 * sleeping; what is left per request is the wake-up of the worker that
 * sends the response.
 */
#ifndef GATEWAY_GROUP_H
#define GATEWAY_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* The largest batch (PREDICT_BATCH's maximum), and the most lanes. */
#define GROUP_MAX 256
#define GROUP_MAX_LANES 64

typedef struct group_request
{
	int64_t		key;			/* at most one request per key in a batch */
	void	   *data;			/* the caller's: the request and, once run, its outcome */
	struct group_request *next;
} group_request;

/* Run n requests (n >= 1) as one batch and fill their outcomes in data. */
typedef void (*group_runner) (group_request **batch, int n, void *arg);

/* A queued request's batch ran (called once, from the lane's thread, unlocked). */
typedef void (*group_done) (group_request *r);

typedef struct group
{
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a request queued, a lane freed, or stopping */
	pthread_cond_t idle;		/* the queue emptied and no batch runs */
	group_request *head;		/* the queue, oldest first */
	int			running;		/* batches running (lanes and callers alike) */
	int			lanes;
	int			max;
	bool		stopping;
	int			nthreads;
	pthread_t	threads[GROUP_MAX_LANES];
	group_runner run;
	group_done	done;
	void	   *arg;
} group;

/*
 * Start `lanes` lane threads (with every signal blocked). False with errno
 * if no thread could start.
 */
bool		group_start(group *g, int lanes, int max, group_runner run, group_done done,
						void *arg);

/* Wait until every queued request is done, then stop and join the lanes. */
void		group_stop(group *g);

/*
 * If a lane is free and nothing is queued, run r now in the calling thread
 * as a batch of one and return true (done is not called). Otherwise false:
 * queue it with group_submit.
 */
bool		group_run_alone(group *g, group_request *r);

/* Queue r; done(r) follows from a lane's thread once a batch that held it ran. */
void		group_submit(group *g, group_request *r);

#endif							/* GATEWAY_GROUP_H */
