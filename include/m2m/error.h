/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_ERROR_H
#define M2M_ERROR_H

#include <stddef.h>

/*
 * Every library function that can fail returns an enum m2m_err.  The code
 * says what kind of failure it was; the detail (which field, which byte,
 * OpenSSL's error queue, a back-end's return code) is kept in the caller's
 * struct m2m_ctx and read with m2m_ctx_detail().
 *
 * The commands turn a code into an exit status with one table (cmd/cli.c);
 * new codes must be added there and in man/m2m.7.
 */
enum m2m_err {
	M2M_OK = 0,
	M2M_ERR_VERIFY,		/* a negative verdict: does not verify */
	M2M_ERR_USAGE,		/* the caller asked for something meaningless */
	M2M_ERR_INVALID,	/* malformed or out-of-rule input data */
	M2M_ERR_UNSUPPORTED,	/* well-formed, but not something we handle */
	M2M_ERR_DUPLICATE,	/* already present where it must be unique */
	M2M_ERR_NOT_FOUND,	/* no such object */
	M2M_ERR_IO,		/* reading or writing a file or stream failed */
	M2M_ERR_NOMEM,		/* out of memory */
	M2M_ERR_SYSTEM,		/* another operating system failure */
	M2M_ERR_CRYPTO,		/* OpenSSL failed */
	M2M_ERR_BACKEND,	/* a token, TPM or database failed */
	M2M_ERR_INTERNAL,	/* a bug: an invariant did not hold */
	M2M_ERR_COUNT		/* number of codes; not an error */
};

/*
 * A short, constant, lower-case description of a code ("invalid input").
 * Never NULL, also for values outside the enum.
 */
const char *m2m_strerror(enum m2m_err err);

/*
 * Make untrusted text safe to show in a message: at most 40 bytes of
 * s[0..len), bytes outside printable ASCII as '?', "..." appended when
 * cut.  Writes and returns out, which must hold M2M_QUOTE_MAX bytes.
 */
#define M2M_QUOTE_MAX 48
const char *m2m_quote(char out[M2M_QUOTE_MAX], const char *s, size_t len);

#endif
