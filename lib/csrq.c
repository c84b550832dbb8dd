/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests read ahead on a thread of the queue's own.  A ring of jobs:
 * the first `taken` from the head are being read or are done, the rest
 * wait.  The thread and the caller (when it pops a job nobody took) both
 * take the first waiting job, so taken jobs are always a prefix and
 * results come out in the order paths went in.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/csrq.h>
#include <m2m/file.h>

#include "internal.h"

struct csrq_job {
	char *path;
	int done;
	enum m2m_err rc;
	struct m2m_csr *csr;
	char detail[M2M_DETAIL_MAX];
};

struct m2m_csrq {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* the thread: a job waits, or stop */
	pthread_cond_t done;		/* the caller: a job is done */
	pthread_t thread;
	struct m2m_ctx *tctx;		/* the thread's */
	size_t max;
	size_t depth, head, count, taken;
	int stop;
	struct csrq_job *jobs;
};

static enum m2m_err read_request(struct m2m_ctx *ctx, const char *path,
				 size_t max, struct m2m_csr **out)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	enum m2m_err rc;

	*out = NULL;
	rc = m2m_file_read(ctx, path, max, &buf, &n);
	if (rc == M2M_OK)
		rc = m2m_csr_parse(ctx, buf, n, out);
	free(buf);
	return rc;
}

static void *csrq_thread(void *arg)
{
	struct m2m_csrq *q = arg;
	struct csrq_job *j;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->stop && q->taken == q->count)
			pthread_cond_wait(&q->wake, &q->lock);
		if (q->stop)
			break;
		j = &q->jobs[(q->head + q->taken++) % q->depth];
		pthread_mutex_unlock(&q->lock);

		m2m_ctx_clear_error(q->tctx);
		j->rc = read_request(q->tctx, j->path, q->max, &j->csr);
		if (j->rc != M2M_OK)
			snprintf(j->detail, sizeof(j->detail), "%s",
				 m2m_ctx_detail(q->tctx));

		pthread_mutex_lock(&q->lock);
		j->done = 1;
		pthread_cond_signal(&q->done);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

enum m2m_err m2m_csrq_new(struct m2m_ctx *ctx, size_t depth, size_t max,
			  struct m2m_csrq **out)
{
	struct m2m_csrq *q = NULL;
	enum m2m_err rc;
	int locks = 0;

	*out = NULL;
	if (depth == 0)
		return m2m_error(ctx, M2M_ERR_USAGE, "a queue of no requests");
	q = calloc(1, sizeof(*q));
	if (!q || !(q->jobs = calloc(depth, sizeof(*q->jobs))) ||
	    m2m_ctx_new_sibling(ctx, &q->tctx) != M2M_OK) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	q->depth = depth;
	q->max = max;
	if (pthread_mutex_init(&q->lock, NULL) != 0 ||
	    pthread_cond_init(&q->wake, NULL) != 0 ||
	    pthread_cond_init(&q->done, NULL) != 0) {
		rc = m2m_error(ctx, M2M_ERR_SYSTEM,
			       "cannot make the request queue's locks");
		goto out;
	}
	locks = 1;
	if (pthread_create(&q->thread, NULL, csrq_thread, q) != 0) {
		rc = m2m_error(ctx, M2M_ERR_SYSTEM,
			       "cannot start the request queue's thread");
		goto out;
	}
	*out = q;
	q = NULL;
	rc = M2M_OK;
out:
	if (q) {
		if (locks) {
			pthread_cond_destroy(&q->done);
			pthread_cond_destroy(&q->wake);
			pthread_mutex_destroy(&q->lock);
		}
		m2m_ctx_free(q->tctx);
		free(q->jobs);
		free(q);
	}
	return rc;
}

void m2m_csrq_free(struct m2m_csrq *q)
{
	size_t i;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	for (i = 0; i < q->count; i++) {
		struct csrq_job *j = &q->jobs[(q->head + i) % q->depth];

		free(j->path);
		m2m_csr_free(j->csr);
	}
	pthread_cond_destroy(&q->done);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	m2m_ctx_free(q->tctx);
	free(q->jobs);
	free(q);
}

size_t m2m_csrq_count(const struct m2m_csrq *q)
{
	/* Only the caller's thread changes count. */
	return q->count;
}

enum m2m_err m2m_csrq_push(struct m2m_ctx *ctx, struct m2m_csrq *q,
			   const char *path)
{
	struct csrq_job *j;
	char *copy;

	if (q->count == q->depth)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "the request queue is full");
	copy = strdup(path);
	if (!copy)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&q->lock);
	j = &q->jobs[(q->head + q->count) % q->depth];
	memset(j, 0, offsetof(struct csrq_job, detail));
	j->detail[0] = '\0';
	j->path = copy;
	q->count++;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	return M2M_OK;
}

enum m2m_err m2m_csrq_pop(struct m2m_ctx *ctx, struct m2m_csrq *q,
			  struct m2m_csr **out)
{
	struct csrq_job *j;
	enum m2m_err rc;
	int mine = 0;

	*out = NULL;
	if (q->count == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "the request queue is empty");
	j = &q->jobs[q->head];
	pthread_mutex_lock(&q->lock);
	if (q->taken == 0) {
		q->taken = 1;	/* the thread is behind: read it here */
		mine = 1;
	} else {
		while (!j->done)
			pthread_cond_wait(&q->done, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);

	if (mine) {
		rc = read_request(ctx, j->path, q->max, out);
	} else {
		rc = j->rc;
		*out = j->csr;
		if (rc != M2M_OK)
			m2m_error(ctx, rc, "%s", j->detail);
	}
	free(j->path);
	j->path = NULL;
	j->csr = NULL;

	pthread_mutex_lock(&q->lock);
	q->head = (q->head + 1) % q->depth;
	q->count--;
	q->taken--;
	pthread_mutex_unlock(&q->lock);
	return rc;
}
