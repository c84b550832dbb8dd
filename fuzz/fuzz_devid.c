/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Arbitrary bytes as a certificate: the profile lint and the
 * HardwareModuleName/PPID extractor (m2m_lint_der() under every profile)
 * and the whole verification of one certificate (m2m_verify() against the
 * fixed hierarchy of verify_fixture.h), as m2m-verify runs them on what
 * it is given.
 *
 * Oracles (abort() on violation):
 *   - lint fails only with M2M_ERR_INVALID and a detail, under every
 *     profile alike; otherwise the profile is the one asked for (a
 *     definite one for AUTO), every finding names a rule that applies to
 *     it, findings are in rule order, and the counts hold them all;
 *   - a PPID decoded from a non-TCG hwSerialNum encodes back to it;
 *   - what lint parsed, verification gives a verdict for: no check named
 *     if and only if it verifies, a reason if it does not;
 *   - the same bytes lint to the same report twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/lint.h>
#include <m2m/verify.h>

#include "verify_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;
static struct m2m_verifier *v;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr, "fuzz_devid: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static void setup(void)
{
	static const struct m2m_verify_opts opts = {
		.revocation = M2M_REVOCATION_PREFER,
	};
	struct m2m_cert *root = NULL, *ca = NULL;

	if (m2m_ctx_new(&ctx) != M2M_OK ||
	    m2m_verifier_new(ctx, &opts, &v) != M2M_OK ||
	    m2m_cert_parse(ctx, fixture_root, sizeof(fixture_root), &root) != M2M_OK ||
	    m2m_cert_parse(ctx, fixture_ca, sizeof(fixture_ca), &ca) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, root, 1) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, ca, 0) != M2M_OK)
		abort();
	m2m_cert_free(root);
	m2m_cert_free(ca);
}

static void check_report(const struct m2m_lint_report *r,
			 enum m2m_lint_profile asked)
{
	static const unsigned bit[] = { 0, M2M_LINT_FOR_IDEVID,
					M2M_LINT_FOR_LDEVID, M2M_LINT_FOR_CA };
	size_t i;

	if (r->profile == M2M_LINT_AUTO || r->profile > M2M_LINT_CA ||
	    (asked != M2M_LINT_AUTO && r->profile != asked))
		oops("the report is of another profile", M2M_OK);
	if (r->n > M2M_LINT_FINDINGS_MAX ||
	    r->n > (size_t)r->errors + r->warnings + r->notices)
		oops("the counts do not hold the findings", M2M_OK);
	for (i = 0; i < r->n; i++) {
		if (!r->f[i].rule || !(r->f[i].rule->profiles & bit[r->profile]))
			oops("a finding of a rule that does not apply", M2M_OK);
		if (i && r->f[i - 1].rule > r->f[i].rule)
			oops("findings out of rule order", M2M_OK);
	}
	if (r->devid.has_ppid && !r->devid.tcg) {
		uint8_t buf[M2M_PPID_MAX];
		size_t n = 0;

		if (m2m_ppid_encode(ctx, &r->devid.ppid, buf, sizeof(buf), &n) !=
		    M2M_OK || n != r->devid.hw_serial_len ||
		    memcmp(buf, r->devid.hw_serial, n))
			oops("the PPID does not encode back to hwSerialNum", M2M_OK);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct m2m_lint_report r, r2;
	static struct m2m_verify_result res;
	enum m2m_lint_profile p;
	enum m2m_err rc;
	int i;

	if (!ctx)
		setup();
	/* As it looks, then under one profile the input picks. */
	for (i = 0; i < 2; i++) {
		p = i == 0 ? M2M_LINT_AUTO :
		    (enum m2m_lint_profile)(1 + (size ? data[size - 1] % 3 : 0));
		m2m_ctx_clear_error(ctx);
		rc = m2m_lint_der(ctx, data, size, p, &r);
		if (rc != M2M_OK) {
			if (rc != M2M_ERR_INVALID || !m2m_ctx_detail(ctx)[0])
				oops("lint fails other than INVALID with a detail", rc);
			if (i == 0)
				return 0;
			oops("lint fails under one profile only", rc);
		}
		check_report(&r, p);
	}
	if (m2m_lint_der(ctx, data, size, p, &r2) != M2M_OK ||
	    r2.n != r.n || r2.errors != r.errors ||
	    r2.warnings != r.warnings || r2.notices != r.notices)
		oops("the same bytes lint differently", rc);
	m2m_ctx_clear_error(ctx);
	rc = m2m_verify(ctx, v, data, size, NULL, 0, &res);
	if (rc != M2M_OK)
		oops("verification fails where lint parsed the certificate", rc);
	if (!res.ok != (res.check != NULL) || (!res.ok && !res.reason[0]))
		oops("a verdict without a check or a reason", rc);
	return 0;
}
