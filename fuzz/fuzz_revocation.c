/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Arbitrary bytes as CRLs (PEM or DER, m2m_verifier_add_crls_mem()) and as
 * an OCSP response (m2m_verifier_add_ocsp_mem()), then the IDevID of
 * verify_fixture.h verified with whatever was accepted: the parsers of
 * revocation data and the lookups that use them.
 *
 * Oracles (abort() on violation):
 *   - a refusal is M2M_ERR_INVALID or M2M_ERR_UNSUPPORTED, with a detail;
 *   - verification of the fixture's IDevID always gives a verdict
 *     (M2M_OK), with a check named if and only if it does not verify, and
 *     fails only for revocation reasons: the chain itself is good;
 *   - a revocation status is one of the four.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/verify.h>

#include "verify_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;
static struct m2m_cert *root, *ca;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr, "fuzz_revocation: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static void refused(enum m2m_err rc)
{
	if ((rc != M2M_ERR_INVALID && rc != M2M_ERR_UNSUPPORTED) ||
	    !m2m_ctx_detail(ctx)[0])
		oops("a refusal is not INVALID or UNSUPPORTED with a detail", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct m2m_verify_opts opts = {
		.at = 1893456000,	/* 2030-01-01: within the CAs' validity */
		.revocation = M2M_REVOCATION_REQUIRE,
	};
	static struct m2m_verify_result res;
	struct m2m_verifier *v = NULL;
	enum m2m_err rc;

	if (!ctx && (m2m_ctx_new(&ctx) != M2M_OK ||
		     m2m_cert_parse(ctx, fixture_root, sizeof(fixture_root), &root) != M2M_OK ||
		     m2m_cert_parse(ctx, fixture_ca, sizeof(fixture_ca), &ca) != M2M_OK))
		abort();
	if (m2m_verifier_new(ctx, &opts, &v) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, root, 1) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, ca, 0) != M2M_OK)
		abort();
	m2m_ctx_clear_error(ctx);
	rc = m2m_verifier_add_crls_mem(ctx, v, data, size, "fuzz");
	if (rc != M2M_OK)
		refused(rc);
	m2m_ctx_clear_error(ctx);
	rc = m2m_verifier_add_ocsp_mem(ctx, v, data, size, "fuzz");
	if (rc != M2M_OK)
		refused(rc);
	m2m_ctx_clear_error(ctx);
	rc = m2m_verify(ctx, v, fixture_leaf, sizeof(fixture_leaf), NULL, 0, &res);
	if (rc != M2M_OK)
		oops("the fixture's IDevID gets no verdict", rc);
	if (!res.ok != (res.check != NULL))
		oops("a verdict without a check, or a check without a failure", rc);
	if (!res.ok && strcmp(res.check, "revoked") &&
	    strcmp(res.check, "revocation-unknown") && strcmp(res.check, "crl") &&
	    strcmp(res.check, "ocsp"))
		oops("the fixture's IDevID fails for another reason than revocation",
		     rc);
	if ((unsigned)res.revocation > M2M_REV_UNKNOWN)
		oops("a revocation status out of range", rc);
	m2m_verifier_free(v);
	return 0;
}
