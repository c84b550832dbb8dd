/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CSRQ_H
#define M2M_CSRQ_H

#include <stddef.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>

/*
 * Certificate requests read ahead: paths go in, and come out in the same
 * order as requests read, parsed and verified (m2m_file_read() and
 * m2m_csr_parse()) by a thread of the queue's own, while the caller does
 * other work.  Checking a request's signature costs more than signing a
 * certificate; a batch gets both cores that way.  When the caller asks
 * for a request the thread has not started on, the caller reads it
 * itself, so neither side waits for the other more than one request long.
 *
 * A queue is used from one thread (the one that made it).
 */
struct m2m_csrq;

/*
 * A queue holding at most depth (>= 1) requests, of files of at most max
 * bytes.  Its thread uses ctx's OpenSSL library context, so ctx must
 * outlive the queue and the requests it hands out.  Caller owns *out;
 * free with m2m_csrq_free().  M2M_ERR_NOMEM, or M2M_ERR_SYSTEM if the
 * thread cannot be started.
 */
enum m2m_err m2m_csrq_new(struct m2m_ctx *ctx, size_t depth, size_t max,
			  struct m2m_csrq **out);

/*
 * Stop the thread (after the request it is reading) and free the queue
 * with the requests not taken out.  Accepts NULL.
 */
void m2m_csrq_free(struct m2m_csrq *q);

/* Number of paths pushed and not yet popped. */
size_t m2m_csrq_count(const struct m2m_csrq *q);

/*
 * Queue the request at path (copied).  M2M_ERR_USAGE if the queue holds
 * depth requests already, M2M_ERR_NOMEM.
 */
enum m2m_err m2m_csrq_push(struct m2m_ctx *ctx, struct m2m_csrq *q,
			   const char *path);

/*
 * The oldest request pushed, waiting for it if need be: returns what
 * m2m_file_read() then m2m_csr_parse() returned for it, with their detail
 * in ctx.  Caller owns *out (NULL on failure); free with m2m_csr_free().
 * M2M_ERR_USAGE if the queue is empty.
 */
enum m2m_err m2m_csrq_pop(struct m2m_ctx *ctx, struct m2m_csrq *q,
			  struct m2m_csr **out);

#endif
