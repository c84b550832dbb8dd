/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CTX_H
#define M2M_CTX_H

#include <m2m/error.h>

/*
 * struct m2m_ctx is the handle every library call takes: it owns the
 * OpenSSL library context the library uses (all libcrypto calls in lib/
 * use the *_ex variants with it), and it holds the detail of the last
 * error.  One context per thread; it is not locked.
 */
struct m2m_ctx;

/*
 * Create a context.  Returns M2M_OK and sets *out, or M2M_ERR_NOMEM /
 * M2M_ERR_CRYPTO (no context exists then, so there is no detail).
 * Caller owns *out; free with m2m_ctx_free().
 */
enum m2m_err m2m_ctx_new(struct m2m_ctx **out);

/* Free a context and everything it owns.  Accepts NULL. */
void m2m_ctx_free(struct m2m_ctx *ctx);

/*
 * The detail of the last error recorded in ctx: one line of text, no
 * trailing newline, never containing secrets.  "" when the last call
 * succeeded or recorded nothing.  Borrowed; valid until the next call
 * that uses ctx.
 */
const char *m2m_ctx_detail(const struct m2m_ctx *ctx);

/* The code of the last error recorded in ctx, M2M_OK if none. */
enum m2m_err m2m_ctx_error(const struct m2m_ctx *ctx);

/* Forget the last error. */
void m2m_ctx_clear_error(struct m2m_ctx *ctx);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *m2m_version(void);

#endif
