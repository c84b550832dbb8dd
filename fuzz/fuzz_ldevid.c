/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a CA reads from outside to accept an LDevID: the request,
 * m2m_ldevid_request_parse() (PEM or DER CMS SignedData, its signature,
 * the regInfo words, the PKCS#10 request inside and its signature), and a
 * profile's trust anchors file, m2m_anchors_parse() (certificates and
 * CRLs in PEM).  Every input goes to both.
 *
 * Oracles (abort() on violation):
 *   - request parse succeeds: no error is recorded; the purpose is
 *     M2M_LDEVID_ENROLL or M2M_LDEVID_RENEW, the flags at most
 *     M2M_LDEVID_REUSE_KEY; the signer and the PKCS#10 request are there,
 *     the signer's DER at most M2M_CERT_MAX bytes, fewer than
 *     M2M_CERT_LIST_MAX other certificates; the request's key algorithm
 *     is an assigned one.
 *   - request parse fails: the code is M2M_ERR_INVALID, M2M_ERR_VERIFY or
 *     M2M_ERR_UNSUPPORTED, as include/m2m/ldevid.h says; the context
 *     records it with a detail, and *out is NULL.
 *   - anchors parse succeeds: at least one certificate, no error
 *     recorded; fails: M2M_ERR_INVALID with a detail, *out NULL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/ldevid.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_ldevid: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static void failed(enum m2m_err rc, const void *out)
{
	if (m2m_ctx_error(ctx) != rc || !m2m_ctx_detail(ctx)[0])
		oops("parse fails without recording the code and a detail",
		     rc);
	if (out)
		oops("a failed parse leaves *out set", rc);
}

static void request(const uint8_t *data, size_t size)
{
	struct m2m_ldevid_request *req = NULL;
	const struct m2m_cert *signer;
	size_t n = 99, len = 0;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_ldevid_request_parse(ctx, data, size, &req);
	if (rc != M2M_OK) {
		if (rc != M2M_ERR_INVALID && rc != M2M_ERR_VERIFY &&
		    rc != M2M_ERR_UNSUPPORTED)
			oops("request parse fails with an unexpected code", rc);
		failed(rc, req);
		return;
	}
	if (m2m_ctx_error(ctx) != M2M_OK)
		oops("request parse succeeds but records an error", rc);
	if (m2m_ldevid_request_purpose(req) != M2M_LDEVID_ENROLL &&
	    m2m_ldevid_request_purpose(req) != M2M_LDEVID_RENEW)
		oops("a request of no purpose", rc);
	if (m2m_ldevid_request_flags(req) & ~(unsigned)M2M_LDEVID_REUSE_KEY)
		oops("a request with unknown flags", rc);
	signer = m2m_ldevid_request_signer(req);
	if (!signer || !m2m_ldevid_request_csr(req))
		oops("a request without its signer or its PKCS#10", rc);
	m2m_cert_der(signer, &len);
	if (len == 0 || len > M2M_CERT_MAX)
		oops("a signer with no or too much DER", rc);
	m2m_ldevid_request_chain(req, &n);
	if (n >= M2M_CERT_LIST_MAX)
		oops("a request carrying too many certificates", rc);
	if (!m2m_key_alg_name(m2m_csr_key_alg(m2m_ldevid_request_csr(req))))
		oops("a request for a key of no algorithm", rc);
	m2m_ldevid_request_free(req);
}

static void anchors(const uint8_t *data, size_t size)
{
	struct m2m_anchors *a = NULL;
	size_t ncrls = 0;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_anchors_parse(ctx, data, size, &a);
	if (rc != M2M_OK) {
		if (rc != M2M_ERR_INVALID)
			oops("anchors parse fails with a code other than INVALID",
			     rc);
		failed(rc, a);
		return;
	}
	if (m2m_ctx_error(ctx) != M2M_OK)
		oops("anchors parse succeeds but records an error", rc);
	if (m2m_anchors_count(a, &ncrls) < 1)
		oops("anchors without a certificate", rc);
	m2m_anchors_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	request(data, size);
	anchors(data, size);
	return 0;
}
