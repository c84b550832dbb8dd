/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificates verified by a few threads, handed back in the order they
 * came.  A ring of slots: job number s lives in slot s % nslots; the
 * caller fills slots while fewer than nslots jobs are out, threads take
 * them in order, and the caller hands finished jobs to fn from the oldest
 * on.  Memory is the ring's, whatever the number of certificates.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/verify.h>

#include "internal.h"

#define JOBS_MAX	256
#define SLOTS_PER_JOB	8
#define SOURCE_SHOWN	1024

enum { SLOT_FREE = 0, SLOT_WAITING, SLOT_TAKEN, SLOT_DONE };

struct slot {
	int state;
	uint8_t *der;
	size_t len, cap;
	char source[SOURCE_SHOWN];
	struct m2m_verify_job job;
};

struct m2m_verify_pool {
	struct m2m_ctx *ctx;
	struct m2m_verifier *v;
	m2m_verify_done_fn fn;
	void *arg;
	unsigned nthreads;		/* started */
	pthread_t *threads;
	struct m2m_ctx **tctx;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* threads: a slot waits, or stop */
	pthread_cond_t done;		/* the caller: a slot is done */
	size_t nslots;
	struct slot *slots;
	uint64_t added, taken, out;	/* job numbers */
	int waiting;			/* the caller waits for job waiting_for */
	uint64_t waiting_for;
	int stop;
	enum m2m_err failed;		/* what fn returned, if not OK */
};

static void run_job(struct m2m_ctx *ctx, struct m2m_verifier *v,
		    struct slot *s)
{
	struct m2m_verify_job *j = &s->job;

	m2m_ctx_clear_error(ctx);
	j->err = m2m_verify(ctx, v, s->der, s->len, NULL, 0, &j->res);
	j->detail[0] = '\0';
	if (j->err != M2M_OK)
		snprintf(j->detail, sizeof(j->detail), "%s",
			 m2m_ctx_detail(ctx));
}

struct thread_arg {
	struct m2m_verify_pool *p;
	unsigned i;
};

static void *worker(void *arg)
{
	struct m2m_verify_pool *p = ((struct thread_arg *)arg)->p;
	struct m2m_ctx *ctx = p->tctx[((struct thread_arg *)arg)->i];
	struct slot *s;

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->taken == p->added)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		s = &p->slots[p->taken++ % p->nslots];
		s->state = SLOT_TAKEN;
		pthread_mutex_unlock(&p->lock);
		run_job(ctx, p->v, s);
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		/* The caller waits for one job, not for each. */
		if (p->waiting && s->job.seq == p->waiting_for)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void m2m_verify_pool_free(struct m2m_verify_pool *p)
{
	size_t i;

	if (!p)
		return;
	if (p->nthreads) {
		pthread_mutex_lock(&p->lock);
		p->stop = 1;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->lock);
		for (i = 0; i < p->nthreads; i++)
			pthread_join(p->threads[i], NULL);
	}
	if (p->tctx)
		for (i = 0; i < p->nthreads; i++)
			m2m_ctx_free(p->tctx[i]);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->lock);
	for (i = 0; p->slots && i < p->nslots; i++)
		free(p->slots[i].der);
	free(p->slots);
	free(p->tctx);
	free(p->threads);
	free(p);
}

enum m2m_err m2m_verify_pool_new(struct m2m_ctx *ctx, struct m2m_verifier *v,
				 unsigned jobs, m2m_verify_done_fn fn,
				 void *arg, struct m2m_verify_pool **out)
{
	struct m2m_verify_pool *p;
	struct thread_arg *ta;
	unsigned i;

	*out = NULL;
	if (jobs == 0 || jobs > JOBS_MAX)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "the number of jobs must be 1 to %d", JOBS_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->ctx = ctx;
	p->v = v;
	p->fn = fn;
	p->arg = arg;
	p->nslots = jobs == 1 ? 1 : (size_t)jobs * SLOTS_PER_JOB;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots)
		goto nomem;
	if (jobs == 1) {
		*out = p;
		return M2M_OK;
	}
	p->threads = calloc(jobs, sizeof(*p->threads));
	p->tctx = calloc(jobs, sizeof(*p->tctx));
	if (!p->threads || !p->tctx)
		goto nomem;
	for (i = 0; i < jobs; i++) {
		if (m2m_ctx_new_sibling(ctx, &p->tctx[i]) != M2M_OK)
			goto nomem;
		ta = malloc(sizeof(*ta));
		if (!ta) {
			m2m_ctx_free(p->tctx[i]);
			p->tctx[i] = NULL;
			goto nomem;
		}
		ta->p = p;
		ta->i = i;
		if (pthread_create(&p->threads[i], NULL, worker, ta) != 0) {
			free(ta);
			m2m_ctx_free(p->tctx[i]);
			p->tctx[i] = NULL;
			m2m_verify_pool_free(p);
			return m2m_error(ctx, M2M_ERR_SYSTEM,
					 "cannot start a verifying thread");
		}
		p->nthreads++;
	}
	*out = p;
	return M2M_OK;
nomem:
	m2m_verify_pool_free(p);
	return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
}

/*
 * Hand finished jobs to fn, oldest first, at least need of them (all there
 * are if fewer), waiting for them if need be.  A wait is for the last job
 * needed, or for the oldest if that one is done already, so that the
 * caller wakes once per batch rather than once per job.  Called and
 * returns with p->lock held.
 */
static enum m2m_err drain(struct m2m_verify_pool *p, uint64_t need)
{
	struct slot *s;
	uint64_t handed = 0, target;
	enum m2m_err rc;

	while (p->out < p->added && !p->failed) {
		s = &p->slots[p->out % p->nslots];
		if (s->state != SLOT_DONE) {
			if (handed >= need)
				break;
			target = p->out + (need - handed) - 1;
			if (target >= p->added)
				target = p->added - 1;
			if (p->slots[target % p->nslots].state == SLOT_DONE)
				target = p->out;
			p->waiting = 1;
			p->waiting_for = target;
			pthread_cond_wait(&p->done, &p->lock);
			p->waiting = 0;
			continue;
		}
		/* The slot is the caller's until it is freed again. */
		pthread_mutex_unlock(&p->lock);
		rc = p->fn(p->arg, &s->job);
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_FREE;
		p->out++;
		handed++;
		if (rc != M2M_OK)
			p->failed = rc;
	}
	return p->failed;
}

enum m2m_err m2m_verify_pool_add(struct m2m_ctx *ctx, struct m2m_verify_pool *p,
				 const uint8_t *der, size_t len,
				 const char *source, uint64_t index)
{
	struct slot *s;
	enum m2m_err rc;

	if (p->failed)
		return p->failed;
	if (len > M2M_CERT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate is larger than %d bytes",
				 M2M_CERT_MAX);
	pthread_mutex_lock(&p->lock);
	if (p->added - p->out == p->nslots)
		drain(p, p->nslots > 1 ? p->nslots / 2 : 1);
	rc = p->failed;
	pthread_mutex_unlock(&p->lock);
	if (rc != M2M_OK)
		return rc;

	/* Free slots are touched by the caller only. */
	s = &p->slots[p->added % p->nslots];
	if (s->cap < len) {
		uint8_t *d = realloc(s->der, len ? len : 1);

		if (!d)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		s->der = d;
		s->cap = len;
	}
	if (len)
		memcpy(s->der, der, len);
	s->len = len;
	snprintf(s->source, sizeof(s->source), "%s", source);
	s->job.seq = p->added;
	s->job.source = s->source;
	s->job.index = index;
	if (!p->nthreads) {
		run_job(ctx, p->v, s);
		s->state = SLOT_DONE;
		p->added++;
		pthread_mutex_lock(&p->lock);
		rc = drain(p, 0);
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	pthread_mutex_lock(&p->lock);
	s->state = SLOT_WAITING;
	p->added++;
	pthread_cond_signal(&p->work);
	rc = drain(p, 0);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

enum m2m_err m2m_verify_pool_finish(struct m2m_ctx *ctx,
				    struct m2m_verify_pool *p)
{
	enum m2m_err rc;

	(void)ctx;
	pthread_mutex_lock(&p->lock);
	rc = drain(p, p->added - p->out);
	pthread_mutex_unlock(&p->lock);
	return rc;
}
