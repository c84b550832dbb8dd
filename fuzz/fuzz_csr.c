/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request intake, m2m_csr_parse(), on arbitrary bytes: PEM or DER,
 * size cap, proof-of-possession signature check.
 *
 * Oracles (abort() on violation):
 *   - parse succeeds: no error is recorded; the key algorithm is an
 *     assigned one; m2m_csr_encode() to DER (at most M2M_CERT_MAX bytes)
 *     and to PEM both succeed, and m2m_csr_parse() of each succeeds and
 *     gives the same DER and the same key algorithm; m2m_csr_subject()
 *     writes a NUL-terminated string into its buffer.
 *   - parse fails: the code is M2M_ERR_INVALID (malformed, or the
 *     signature does not verify) or M2M_ERR_UNSUPPORTED (key type), as
 *     include/m2m/cert.h says; the context records that code, the detail
 *     is not empty, and *out is left NULL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_csr: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

/* m2m_csr_encode() of csr as fmt, checked; caller frees *out. */
static void encode(const struct m2m_csr *csr, enum m2m_format fmt,
		   char **out, size_t *len)
{
	enum m2m_err rc;

	*out = NULL;
	*len = 0;
	rc = m2m_csr_encode(ctx, csr, fmt, out, len);
	if (rc != M2M_OK)
		oops("encode of a parsed request fails", rc);
	if (!*out || *len == 0)
		oops("encode succeeds with nothing", rc);
}

/* Parse enc again: it must give the DER der[0..n) and the same key. */
static void reparse(const char *what, const char *enc, size_t len,
		    const char *der, size_t n, enum m2m_key_alg alg)
{
	struct m2m_csr *again = NULL;
	char *der2 = NULL;
	size_t n2 = 0;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_csr_parse(ctx, enc, len, &again);
	if (rc != M2M_OK || !again)
		oops(what, rc);
	encode(again, M2M_FORMAT_DER, &der2, &n2);
	if (n2 != n || memcmp(der2, der, n) != 0)
		oops("a re-parsed request encodes to other DER", rc);
	if (m2m_csr_key_alg(again) != alg)
		oops("a re-parsed request has another key algorithm", rc);
	free(der2);
	m2m_csr_free(again);
}

static void check_parsed(const struct m2m_csr *csr)
{
	enum m2m_key_alg alg = m2m_csr_key_alg(csr);
	char *der = NULL, *pem = NULL, subject[1024];
	size_t n = 0, plen = 0;

	if ((int)alg < 0 || alg >= M2M_KEY_ALG_COUNT)
		oops("a parsed request has no assigned key algorithm",
		     M2M_OK);
	memset(subject, 'x', sizeof(subject));
	m2m_csr_subject(csr, subject, sizeof(subject));
	if (!memchr(subject, '\0', sizeof(subject)))
		oops("the subject is not NUL-terminated", M2M_OK);

	encode(csr, M2M_FORMAT_DER, &der, &n);
	if (n > M2M_CERT_MAX)
		oops("a parsed request is larger than M2M_CERT_MAX", M2M_OK);
	reparse("parse of the DER of a parsed request fails", der, n, der,
		n, alg);
	encode(csr, M2M_FORMAT_PEM, &pem, &plen);
	reparse("parse of the PEM of a parsed request fails", pem, plen, der,
		n, alg);
	free(pem);
	free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_csr *csr = NULL;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();

	m2m_ctx_clear_error(ctx);
	rc = m2m_csr_parse(ctx, data, size, &csr);
	if (rc == M2M_OK) {
		if (!csr)
			oops("parse succeeds without a request", rc);
		if (m2m_ctx_error(ctx) != M2M_OK)
			oops("parse succeeds but records an error", rc);
		check_parsed(csr);
		m2m_csr_free(csr);
		return 0;
	}
	if (rc != M2M_ERR_INVALID && rc != M2M_ERR_UNSUPPORTED)
		oops("parse fails with a code other than INVALID or UNSUPPORTED",
		     rc);
	if (m2m_ctx_error(ctx) != rc || !m2m_ctx_detail(ctx)[0])
		oops("parse fails without recording the code and a detail",
		     rc);
	if (csr)
		oops("a failed parse leaves *out set", rc);
	return 0;
}
