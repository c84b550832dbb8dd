/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate bundles, m2m_cert_parse_list(), on arbitrary bytes: a
 * certificate and its chain in PEM (other blocks and text skipped) or one
 * certificate in DER, as m2m-enroll install and the file back-end read
 * them.
 *
 * Oracles (abort() on violation):
 *   - parse succeeds: no error is recorded; there are 1 to
 *     M2M_CERT_LIST_MAX certificates, each at most M2M_CERT_MAX bytes of
 *     DER; their PEM, concatenated, parses again to the same
 *     certificates in the same order.
 *   - parse fails: the code is M2M_ERR_INVALID, as include/m2m/cert.h
 *     says; the context records it with a detail, and *out is NULL and
 *     *n is 0.
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
		"fuzz_certs: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

/* The PEM of list[0..n), concatenated, parses to the same certificates. */
static void reparse(struct m2m_cert *const *list, size_t n)
{
	struct m2m_cert **again = NULL;
	char *all = NULL, *pem = NULL, *grown;
	size_t len = 0, plen = 0, n2 = 0, i;
	enum m2m_err rc;

	for (i = 0; i < n; i++) {
		rc = m2m_cert_encode(ctx, list[i], M2M_FORMAT_PEM, &pem, &plen);
		if (rc != M2M_OK)
			oops("PEM of a parsed certificate fails", rc);
		grown = realloc(all, len + plen);
		if (!grown)
			abort();
		all = grown;
		memcpy(all + len, pem, plen);
		len += plen;
		free(pem);
		pem = NULL;
	}
	m2m_ctx_clear_error(ctx);
	rc = m2m_cert_parse_list(ctx, all, len, &again, &n2);
	if (rc != M2M_OK || n2 != n)
		oops("the PEM of a parsed bundle does not parse to as many", rc);
	for (i = 0; i < n; i++)
		if (strcmp(m2m_cert_fingerprint(list[i]),
			   m2m_cert_fingerprint(again[i])) != 0)
			oops("a re-parsed bundle holds other certificates", rc);
	m2m_cert_list_free(again, n2);
	free(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_cert **list = NULL;
	size_t n = 99, i, len;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();

	m2m_ctx_clear_error(ctx);
	rc = m2m_cert_parse_list(ctx, data, size, &list, &n);
	if (rc == M2M_OK) {
		if (!list || n < 1 || n > M2M_CERT_LIST_MAX)
			oops("parse succeeds with no or too many certificates",
			     rc);
		if (m2m_ctx_error(ctx) != M2M_OK)
			oops("parse succeeds but records an error", rc);
		for (i = 0; i < n; i++) {
			m2m_cert_der(list[i], &len);
			if (len == 0 || len > M2M_CERT_MAX)
				oops("a parsed certificate has no or too much DER",
				     rc);
		}
		reparse(list, n);
		m2m_cert_list_free(list, n);
		return 0;
	}
	if (rc != M2M_ERR_INVALID)
		oops("parse fails with a code other than INVALID", rc);
	if (m2m_ctx_error(ctx) != rc || !m2m_ctx_detail(ctx)[0])
		oops("parse fails without recording the code and a detail",
		     rc);
	if (list || n != 0)
		oops("a failed parse leaves *out or *n set", rc);
	return 0;
}
