/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_VERIFY_INTERNAL_H
#define M2M_VERIFY_INTERNAL_H

/* Internal: what lint.c, verify.c and verify_ledger.c share. */

#include <openssl/x509.h>

#include <m2m/lint.h>

/*
 * m2m_lint_der() of a certificate already parsed into x from
 * der[0..len).
 */
void m2m_lint_x509(struct m2m_ctx *ctx, X509 *x, const uint8_t *der,
		   size_t len, enum m2m_lint_profile profile,
		   struct m2m_lint_report *out);

/*
 * The dotted text of the OID whose content octets (no tag, no length)
 * are oid[0..len) into out[0..size).  0 if they are not a valid OID or
 * do not fit.
 */
int m2m_oid_text(const uint8_t *oid, size_t len, char *out, size_t size);

/*
 * Parse DER (or PEM: the first "X509 CRL" block) buf[0..len) as a CRL in
 * ctx's library context.  M2M_ERR_INVALID with a detail otherwise.
 * Caller owns *out.
 */
enum m2m_err m2m_crl_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			   X509_CRL **out);

#endif
