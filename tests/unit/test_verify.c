/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/certstream.h, lint.h and verify.h, in a
 * temporary directory with CAs made by m2m_ca_create(): the certificate
 * stream (PEM, DER, its caps and failures), the lint rules and the
 * devid decoding, verification (chains, PPIDs, CRLs, OCSP), the pool's
 * order and stop, possession of a key, and the ledger check with the
 * ledger edited behind its back.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/certstream.h>
#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/lint.h>
#include <m2m/ppid.h>
#include <m2m/verify.h>

#include "../../lib/verify_internal.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-verify-XXXXXX";
static struct m2m_ca *root, *issuing;
static struct m2m_key *devkey, *otherkey;
static struct m2m_cert *idevid, *idevid2;

#define HW_TYPE		"1.3.6.1.4.1.99999.1.1"
#define PPID_HEX	"01001a7dda7113"

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

static const char *path_of(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

/* A CA in dir/name: a root (parent NULL) or an issuing CA under parent. */
static struct m2m_ca *make_ca(const char *name, const char *parent)
{
	char path[PATH_MAX], ppath[PATH_MAX], subject[128];
	struct m2m_ca_params p;
	struct m2m_ca *ca = NULL;

	memset(&p, 0, sizeof(p));
	snprintf(subject, sizeof(subject), "O=Unit,CN=%s", name);
	p.dir = path_of(path, name);
	p.subject = subject;
	p.alg = M2M_KEY_EC_P256;
	p.path_len = -1;
	p.parent_dir = parent ? path_of(ppath, parent) : NULL;
	p.hw_type = parent ? HW_TYPE : NULL;
	p.device_subject = parent ? "O=Unit,OU=Devices" : NULL;
	if (m2m_ca_create(ctx, &p, NULL) != M2M_OK ||
	    m2m_ca_open(ctx, path, M2M_CA_NEED_KEY, NULL, NULL, &ca) != M2M_OK)
		return NULL;
	return ca;
}

/* An IDevID of issuing for key, with the PPID of hex and serial sn. */
static struct m2m_cert *issue(struct m2m_key *key, const char *hex,
			      const char *sn)
{
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_ppid ppid;

	if (m2m_ppid_decode_hex(ctx, &ppid, hex, strlen(hex)) != M2M_OK)
		return NULL;
	memset(&req, 0, sizeof(req));
	req.profile = "idevid";
	req.key = key;
	req.ppid = &ppid;
	req.device_serial = sn;
	if (m2m_ca_issue(ctx, issuing, &req, &res) != M2M_OK)
		return NULL;
	return res.cert;
}

/* A verifier trusting root, with issuing's certificate as intermediate. */
static struct m2m_verifier *verifier(const struct m2m_verify_opts *o)
{
	struct m2m_verifier *v = NULL;

	if (m2m_verifier_new(ctx, o, &v) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, m2m_ca_cert(root), 1) != M2M_OK ||
	    m2m_verifier_add_cert(ctx, v, m2m_ca_cert(issuing), 0) != M2M_OK) {
		m2m_verifier_free(v);
		return NULL;
	}
	return v;
}

static enum m2m_err verify_cert(struct m2m_verifier *v,
				const struct m2m_cert *c,
				struct m2m_verify_result *res)
{
	size_t len;
	const uint8_t *der = m2m_cert_der(c, &len);

	return m2m_verify(ctx, v, der, len, NULL, 0, res);
}

/* ---- the certificate stream ----------------------------------------------- */

/* All objects of buf[0..len) into their count; -1 on a failure. */
static long count_objects(const void *buf, size_t len, size_t max)
{
	struct m2m_certstream *s = NULL;
	const uint8_t *der;
	size_t n;
	long count = 0;

	if (m2m_certstream_new_mem(ctx, buf, len, NULL, max, &s) != M2M_OK)
		return -2;
	for (;;) {
		if (m2m_certstream_next(ctx, s, &der, &n) != M2M_OK) {
			count = -1;
			break;
		}
		if (!der)
			break;
		count++;
	}
	m2m_certstream_free(s);
	return count;
}

UNIT_TEST(test_certstream_pem_and_der)
{
	struct m2m_certstream *s = NULL;
	char *pem1 = NULL, *pem2 = NULL, *all = NULL;
	size_t l1 = 0, l2 = 0, d1, d2, n, o;
	const uint8_t *der, *x1 = m2m_cert_der(idevid, &d1),
		      *x2 = m2m_cert_der(idevid2, &d2);
	uint8_t *both;

	CHECK_OK(m2m_cert_encode(ctx, idevid, M2M_FORMAT_PEM, &pem1, &l1));
	CHECK_OK(m2m_cert_encode(ctx, idevid2, M2M_FORMAT_PEM, &pem2, &l2));
	if (!pem1 || !pem2)
		return;
	/* Text, a key block, CRLF lines: skipped or taken as they come. */
	all = malloc(l1 + l2 + 256);
	o = (size_t)sprintf(all, "some text\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	memcpy(all + o, pem1, l1);
	o += l1;
	memcpy(all + o, pem2, l2);
	o += l2;
	o += (size_t)sprintf(all + o, "trailing text\n");
	CHECK_OK(m2m_certstream_new_mem(ctx, all, o, NULL, M2M_CERT_MAX, &s));
	CHECK_OK(m2m_certstream_next(ctx, s, &der, &n));
	CHECK(der && n == d1 && memcmp(der, x1, n) == 0);
	CHECK_OK(m2m_certstream_next(ctx, s, &der, &n));
	CHECK(der && n == d2 && memcmp(der, x2, n) == 0);
	CHECK_OK(m2m_certstream_next(ctx, s, &der, &n));
	CHECK(der == NULL);
	CHECK_EQ_INT(m2m_certstream_count(s), 2);
	CHECK_EQ_STR(m2m_certstream_name(s), "<memory>");
	m2m_certstream_free(s);
	/* DER, two concatenated. */
	both = malloc(d1 + d2);
	memcpy(both, x1, d1);
	memcpy(both + d1, x2, d2);
	CHECK_EQ_INT(count_objects(both, d1 + d2, M2M_CERT_MAX), 2);
	CHECK_EQ_INT(count_objects(both, d1, M2M_CERT_MAX), 1);
	/* Capped: an object larger than max. */
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(count_objects(both, d1 + d2, 100), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 1: larger than 100 bytes");
	CHECK_EQ_INT(count_objects(pem1, l1, 100), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 1: larger than 100 bytes");
	/* Cut short: DER, PEM. */
	CHECK_EQ_INT(count_objects(both, d1 + 10, M2M_CERT_MAX), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 2: cut short after 10 of");
	CHECK_EQ_INT(count_objects(pem1, l1 - 30, M2M_CERT_MAX), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 1: the block begun on line 1 is cut short (no END line)");
	free(both);
	free(all);
	free(pem1);
	free(pem2);
}

UNIT_TEST(test_certstream_failures)
{
	static const char bad64[] = "-----BEGIN CERTIFICATE-----\nMII!\n-----END CERTIFICATE-----\n";
	static const char pad[] = "-----BEGIN CERTIFICATE-----\nAA=A\n-----END CERTIFICATE-----\n";
	static const char cut64[] = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
	static const char other[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n";
	static const char empty[] = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
	static const uint8_t indef[] = { 0x30, 0x80, 0x00, 0x00 };
	struct m2m_certstream *s = NULL;
	const uint8_t *der;
	char *longline, path[PATH_MAX];
	size_t n;

	CHECK_EQ_INT(count_objects(bad64, sizeof(bad64) - 1, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 1: line 2: not base64");
	CHECK_EQ_INT(count_objects(pad, sizeof(pad) - 1, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "line 2: base64 after the padding");
	CHECK_EQ_INT(count_objects(cut64, sizeof(cut64) - 1, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "the base64 of the block begun on line 1 is cut short");
	CHECK_EQ_INT(count_objects(other, sizeof(other) - 1, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "ends with another label");
	CHECK_EQ_INT(count_objects(empty, sizeof(empty) - 1, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "the block begun on line 1 is empty");
	CHECK_EQ_INT(count_objects(indef, sizeof(indef), 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "not a definite-length DER SEQUENCE");
	CHECK_EQ_INT(count_objects("", 0, 4096), -1);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "no certificate (no '-----BEGIN CERTIFICATE-----' line)");
	longline = malloc(M2M_CERTSTREAM_LINE_MAX + 10);
	memset(longline, 'A', M2M_CERTSTREAM_LINE_MAX + 9);
	longline[M2M_CERTSTREAM_LINE_MAX + 9] = '\n';
	CHECK_EQ_INT(count_objects(longline, M2M_CERTSTREAM_LINE_MAX + 10, 4096), -1);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "line 1 is longer than 16384 bytes");
	free(longline);
	/* After a failure the stream is at its end. */
	CHECK_OK(m2m_certstream_new_mem(ctx, bad64, sizeof(bad64) - 1, NULL, 4096, &s));
	CHECK_EQ_INT(m2m_certstream_next(ctx, s, &der, &n), M2M_ERR_INVALID);
	CHECK_OK(m2m_certstream_next(ctx, s, &der, &n));
	CHECK(der == NULL);
	m2m_certstream_free(s);
	/* Files: missing, a directory. */
	CHECK_FAILS(m2m_certstream_open(ctx, path_of(path, "nope"), NULL, 4096, &s),
		    M2M_ERR_NOT_FOUND, "No such file or directory");
	CHECK_FAILS(m2m_certstream_open(ctx, dir, NULL, 4096, &s),
		    M2M_ERR_INVALID, "is a directory");
	/* A file read in chunks: many certificates. */
	{
		char *pem = NULL;
		size_t len = 0, i;
		FILE *f;

		CHECK_OK(m2m_cert_encode(ctx, idevid, M2M_FORMAT_PEM, &pem, &len));
		f = fopen(path_of(path, "many.pem"), "w");
		for (i = 0; f && pem && i < 300; i++)
			fwrite(pem, 1, len, f);
		if (f)
			fclose(f);
		free(pem);
		CHECK_OK(m2m_certstream_open(ctx, path, NULL, M2M_CERT_MAX, &s));
		for (i = 0;; i++) {
			if (m2m_certstream_next(ctx, s, &der, &n) != M2M_OK || !der)
				break;
		}
		CHECK_EQ_INT(i, 300);
		CHECK_EQ_STR(m2m_certstream_name(s), path);
		m2m_certstream_free(s);
	}
}

/* ---- lint -------------------------------------------------------------------- */

UNIT_TEST(test_lint_rules_table)
{
	const struct m2m_lint_rule *r;
	size_t n, i, j;

	r = m2m_lint_rules(&n);
	CHECK(n >= 40);
	for (i = 0; i < n; i++) {
		CHECK_MSG(r[i].id && r[i].summary && r[i].source && r[i].profiles,
			  "rule %zu incomplete", i);
		CHECK(m2m_lint_rule(r[i].id) == &r[i]);
		for (j = 0; j < i; j++)
			CHECK_MSG(strcmp(r[i].id, r[j].id) != 0, "%s twice", r[i].id);
	}
	CHECK(m2m_lint_rule("no-such-rule") == NULL);
	CHECK_EQ_INT(m2m_lint_profile_lookup("IDevID"), M2M_LINT_IDEVID);
	CHECK_EQ_INT(m2m_lint_profile_lookup("any"), M2M_LINT_AUTO);
	CHECK_EQ_INT(m2m_lint_profile_lookup("ca"), M2M_LINT_CA);
	CHECK_EQ_INT(m2m_lint_profile_lookup("tdevid"), -1);
	CHECK_EQ_STR(m2m_lint_profile_name(M2M_LINT_LDEVID), "ldevid");
	CHECK(m2m_lint_profile_name(7) == NULL);
	CHECK_EQ_STR(m2m_lint_severity_name(M2M_LINT_WARNING), "warning");
}

UNIT_TEST(test_lint_issued)
{
	struct m2m_lint_report r;
	size_t len;
	const uint8_t *der;
	char hex[M2M_PPID_HEX_MAX];

	der = m2m_cert_der(idevid, &len);
	CHECK_OK(m2m_lint_der(ctx, der, len, M2M_LINT_AUTO, &r));
	CHECK_EQ_INT(r.profile, M2M_LINT_IDEVID);
	CHECK_EQ_INT(r.errors + r.warnings + r.notices, 0);
	CHECK_EQ_INT(r.n, 0);
	CHECK_EQ_INT(r.devid.hwmodules, 1);
	CHECK(r.devid.hwmodule_ok && r.devid.has_ppid && !r.devid.tcg);
	CHECK_EQ_STR(r.devid.hw_type, HW_TYPE);
	CHECK_EQ_STR(r.devid.serial_number, "SN-1");
	CHECK_OK(m2m_ppid_to_hex(ctx, &r.devid.ppid, hex, sizeof(hex), NULL));
	CHECK_EQ_STR(hex, PPID_HEX);
	/* As an LDevID: notices only; as a CA: the CA rules. */
	CHECK_OK(m2m_lint_der(ctx, der, len, M2M_LINT_LDEVID, &r));
	CHECK_EQ_INT(r.errors + r.warnings, 0);
	CHECK_EQ_INT(r.notices, 2);
	CHECK_EQ_STR(r.f[0].rule->id, "ldevid-eku");
	CHECK_EQ_STR(r.f[1].rule->id, "ldevid-lifetime");
	CHECK_OK(m2m_lint_der(ctx, der, len, M2M_LINT_CA, &r));
	CHECK_EQ_INT(r.errors, 3);
	CHECK(m2m_lint_first(&r, M2M_LINT_ERROR) == &r.f[0]);
	CHECK_EQ_STR(r.f[0].rule->id, "ca-basic-constraints");
	/* The CAs. */
	der = m2m_cert_der(m2m_ca_cert(root), &len);
	CHECK_OK(m2m_lint_der(ctx, der, len, M2M_LINT_AUTO, &r));
	CHECK_EQ_INT(r.profile, M2M_LINT_CA);
	CHECK_EQ_INT(r.errors + r.warnings + r.notices, 0);
	der = m2m_cert_der(m2m_ca_cert(issuing), &len);
	CHECK_OK(m2m_lint_der(ctx, der, len, M2M_LINT_AUTO, &r));
	CHECK_EQ_INT(r.errors + r.warnings + r.notices, 0);
	/* Not a certificate. */
	CHECK_FAILS(m2m_lint_der(ctx, (const uint8_t *)"\x30\x03\x02\x01\x01", 5,
				 M2M_LINT_AUTO, &r),
		    M2M_ERR_INVALID, "not a DER certificate");
}

UNIT_TEST(test_oid_text)
{
	static const uint8_t hw[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d,
				      0x1f, 0x01, 0x01 };
	static const uint8_t tcg[] = { 0x67, 0x81, 0x05, 0x01, 0x02 };
	static const uint8_t bad_end[] = { 0x2b, 0x86 };
	static const uint8_t not_min[] = { 0x2b, 0x80, 0x01 };
	char out[M2M_LINT_OID_MAX];

	CHECK(m2m_oid_text(hw, sizeof(hw), out, sizeof(out)));
	CHECK_EQ_STR(out, HW_TYPE);
	CHECK(m2m_oid_text(tcg, sizeof(tcg), out, sizeof(out)));
	CHECK_EQ_STR(out, "2.23.133.1.2");
	CHECK(!m2m_oid_text(bad_end, sizeof(bad_end), out, sizeof(out)));
	CHECK(!m2m_oid_text(not_min, sizeof(not_min), out, sizeof(out)));
	CHECK(!m2m_oid_text(hw, 0, out, sizeof(out)));
	CHECK(!m2m_oid_text(hw, sizeof(hw), out, 8));
}

/* ---- verification ----------------------------------------------------------- */

UNIT_TEST(test_verify_chain_and_ppid)
{
	struct m2m_verify_opts o;
	struct m2m_verify_result *res = malloc(sizeof(*res));
	struct m2m_verifier *v;
	uint8_t want[M2M_PPID_MAX];
	size_t n;

	memset(&o, 0, sizeof(o));
	v = verifier(&o);
	if (!CHECK(v && res))
		goto out;
	CHECK_OK(verify_cert(v, idevid, res));
	CHECK_MSG(res->ok, "%s: %s", res->check, res->reason);
	CHECK(res->check == NULL);
	CHECK_EQ_INT(res->chain_len, 3);
	CHECK_EQ_STR(res->chain[0].fingerprint, m2m_cert_fingerprint(idevid));
	CHECK_EQ_STR(res->chain[2].fingerprint, m2m_cert_fingerprint(m2m_ca_cert(root)));
	CHECK_EQ_STR(res->chain[1].subject, "CN=issuing,O=Unit");
	CHECK_EQ_STR(res->serial, m2m_cert_serial(idevid));
	CHECK_EQ_INT(res->revocation, M2M_REV_UNKNOWN);
	CHECK(res->lint.devid.has_ppid);
	CHECK_FAILS(m2m_verify(ctx, v, (const uint8_t *)"junk", 4, NULL, 0, res),
		    M2M_ERR_INVALID, "not a valid certificate");
	m2m_verifier_free(v);

	/* What is expected. */
	memset(want, 0, sizeof(want));
	n = 0;
	{
		struct m2m_ppid p;

		CHECK_OK(m2m_ppid_decode_hex(ctx, &p, "023c71bf4a0b2e", 14));
		CHECK_OK(m2m_ppid_encode(ctx, &p, want, sizeof(want), &n));
	}
	o.expect_ppid = want;
	o.expect_ppid_len = n;
	o.expect_serial = "SN-1";
	v = verifier(&o);
	if (!CHECK(v))
		goto out;
	CHECK_OK(verify_cert(v, idevid, res));
	CHECK(!res->ok);
	CHECK_EQ_STR(res->check, "expect-ppid");
	CHECK_EQ_STR(res->reason, "PPID is " PPID_HEX ", expected 023c71bf4a0b2e");
	CHECK_OK(verify_cert(v, idevid2, res));
	CHECK_EQ_STR(res->check, "expect-serial");
	CHECK_EQ_STR(res->reason, "serialNumber is 'SN-2', expected 'SN-1'");
	m2m_verifier_free(v);

	/* No trust anchor: a usage error; not the chain's: untrusted. */
	memset(&o, 0, sizeof(o));
	CHECK_OK(m2m_verifier_new(ctx, &o, &v));
	if (v) {
		CHECK_FAILS(verify_cert(v, idevid, res), M2M_ERR_USAGE,
			    "no trust anchor");
		CHECK_OK(m2m_verifier_add_cert(ctx, v, m2m_ca_cert(root), 1));
		CHECK_EQ_INT(m2m_verifier_anchors(v), 1);
		CHECK_OK(verify_cert(v, idevid, res));
		CHECK_EQ_STR(res->check, "untrusted");
		CHECK_EQ_STR(res->reason, "issuer 'CN=issuing,O=Unit' not trusted");
		CHECK_EQ_INT(res->revocation, M2M_REV_NOT_CHECKED);
		/* The chain given for one call only. */
		{
			struct m2m_cert *chain[1] = { (struct m2m_cert *)m2m_ca_cert(issuing) };
			size_t len;
			const uint8_t *der = m2m_cert_der(idevid, &len);

			CHECK_OK(m2m_verify(ctx, v, der, len, chain, 1, res));
			CHECK(res->ok);
		}
		m2m_verifier_free(v);
	}
	/* At a time before the CAs: not yet valid. */
	memset(&o, 0, sizeof(o));
	o.at = 946684800;	/* 2000-01-01 */
	v = verifier(&o);
	if (v) {
		CHECK_OK(verify_cert(v, idevid, res));
		CHECK_EQ_STR(res->check, "not-yet-valid");
		m2m_verifier_free(v);
	}
out:
	free(res);
}

UNIT_TEST(test_verify_revocation)
{
	struct m2m_verify_opts o;
	struct m2m_verify_result *res = malloc(sizeof(*res));
	struct m2m_verifier *v = NULL;
	struct m2m_cert *c;
	unsigned char *der = NULL, *resp = NULL, *req = NULL;
	size_t len = 0, resp_len = 0;
	OCSP_REQUEST *oreq = NULL;
	OCSP_CERTID *id;
	X509 *leaf = NULL, *iss = NULL;
	const unsigned char *p;
	int reqlen;

	if (!CHECK(res))
		return;
	c = issue(devkey, "40021b213a4f5c", "SN-R");
	if (!CHECK(c))
		goto out;
	CHECK_OK(m2m_ca_revoke(ctx, issuing, m2m_cert_serial(c), 1, 0, NULL));
	CHECK_OK(m2m_ca_crl(ctx, issuing, 0, &der, &len, NULL));
	memset(&o, 0, sizeof(o));
	o.revocation = M2M_REVOCATION_REQUIRE;
	v = verifier(&o);
	if (!CHECK(v))
		goto out;
	CHECK_OK(m2m_verifier_add_crls_mem(ctx, v, der, len, "u.crl"));
	CHECK_OK(verify_cert(v, c, res));
	CHECK_EQ_STR(res->check, "revoked");
	CHECK_EQ_INT(res->revocation, M2M_REV_REVOKED);
	CHECK_EQ_INT(res->revocation_reason, 1);
	CHECK_CONTAINS(res->revocation_source, "CRL 1 of 'CN=issuing,O=Unit' ('u.crl')");
	CHECK_OK(verify_cert(v, idevid, res));
	CHECK_MSG(res->ok, "%s: %s", res->check, res->reason);
	CHECK_EQ_INT(res->revocation, M2M_REV_GOOD);
	m2m_verifier_free(v);
	v = NULL;

	/* OCSP: a request made with libcrypto, answered by the CA. */
	p = m2m_cert_der(c, &len);
	leaf = d2i_X509(NULL, &p, (long)len);
	p = m2m_cert_der(m2m_ca_cert(issuing), &len);
	iss = d2i_X509(NULL, &p, (long)len);
	oreq = OCSP_REQUEST_new();
	id = leaf && iss ? OCSP_cert_to_id(NULL, leaf, iss) : NULL;
	if (!CHECK(oreq && id && OCSP_request_add0_id(oreq, id)))
		goto out;
	reqlen = i2d_OCSP_REQUEST(oreq, &req);
	CHECK_OK(m2m_ca_ocsp(ctx, issuing, req, (size_t)reqlen, 0, &resp, &resp_len));
	memset(&o, 0, sizeof(o));
	o.revocation = M2M_REVOCATION_REQUIRE;
	v = verifier(&o);
	if (!CHECK(v))
		goto out;
	CHECK_OK(m2m_verifier_add_ocsp_mem(ctx, v, resp, resp_len, "r.der"));
	CHECK_OK(verify_cert(v, c, res));
	CHECK_EQ_STR(res->check, "revoked");
	CHECK_EQ_STR(res->revocation_source, "OCSP response 'r.der'");
	CHECK_OK(verify_cert(v, idevid, res));
	CHECK_EQ_STR(res->check, "revocation-unknown");
	CHECK_EQ_STR(res->reason, "nothing says whether it is revoked: OCSP response 'r.der' is about another certificate");
	CHECK_FAILS(m2m_verifier_add_ocsp_mem(ctx, v, "\x30\x03\x0a\x01\x06", 5, "x"),
		    M2M_ERR_INVALID, "'x' is not successful: the responder said unauthorized");
	CHECK_FAILS(m2m_verifier_add_crls_mem(ctx, v, "junk", 4, "j"),
		    M2M_ERR_INVALID, "'j': no CRL");
out:
	m2m_verifier_free(v);
	m2m_cert_free(c);
	X509_free(leaf);
	X509_free(iss);
	OCSP_REQUEST_free(oreq);
	OPENSSL_free(req);
	free(resp);
	free(der);
	free(res);
}

struct order {
	uint64_t next;
	int bad, ok, stop_at;
};

static enum m2m_err in_order(void *arg, const struct m2m_verify_job *j)
{
	struct order *o = arg;

	if (j->seq != o->next || j->index != j->seq + 1)
		o->bad++;
	o->next++;
	o->ok += j->err == M2M_OK && j->res.ok;
	if (o->stop_at && (int)o->next == o->stop_at)
		return M2M_ERR_IO;
	return M2M_OK;
}

UNIT_TEST(test_verify_pool)
{
	struct m2m_verify_opts opts;
	struct m2m_verify_pool *pool = NULL;
	struct m2m_verifier *v;
	struct order o;
	const uint8_t *der;
	size_t len;
	unsigned jobs;
	int i;

	memset(&opts, 0, sizeof(opts));
	v = verifier(&opts);
	if (!CHECK(v))
		return;
	der = m2m_cert_der(idevid, &len);
	for (jobs = 1; jobs <= 3; jobs += 2) {
		memset(&o, 0, sizeof(o));
		CHECK_OK(m2m_verify_pool_new(ctx, v, jobs, in_order, &o, &pool));
		for (i = 0; i < 60 && pool; i++)
			CHECK_OK(m2m_verify_pool_add(ctx, pool, der, len, "x",
						     (uint64_t)i + 1));
		if (pool)
			CHECK_OK(m2m_verify_pool_finish(ctx, pool));
		m2m_verify_pool_free(pool);
		pool = NULL;
		CHECK_EQ_INT(o.next, 60);
		CHECK_EQ_INT(o.bad, 0);
		CHECK_EQ_INT(o.ok, 60);
	}
	/* A callback that fails stops the pool; what is left is dropped. */
	memset(&o, 0, sizeof(o));
	o.stop_at = 5;
	CHECK_OK(m2m_verify_pool_new(ctx, v, 2, in_order, &o, &pool));
	{
		enum m2m_err rc = M2M_OK;

		for (i = 0; i < 100 && pool && rc == M2M_OK; i++)
			rc = m2m_verify_pool_add(ctx, pool, der, len, "x",
						 (uint64_t)i + 1);
		if (rc == M2M_OK && pool)
			rc = m2m_verify_pool_finish(ctx, pool);
		CHECK_EQ_INT(rc, M2M_ERR_IO);
	}
	m2m_verify_pool_free(pool);
	CHECK_EQ_INT(o.next, 5);
	CHECK_FAILS(m2m_verify_pool_new(ctx, v, 0, in_order, &o, &pool),
		    M2M_ERR_USAGE, "1 to 256");
	m2m_verifier_free(v);
}

UNIT_TEST(test_possession)
{
	uint8_t n1[M2M_NONCE_LEN], n2[M2M_NONCE_LEN];

	CHECK_OK(m2m_verify_possession(ctx, devkey, idevid, n1));
	CHECK_OK(m2m_verify_possession(ctx, devkey, idevid, n2));
	CHECK(memcmp(n1, n2, sizeof(n1)) != 0);
	CHECK_FAILS(m2m_verify_possession(ctx, otherkey, idevid, n1),
		    M2M_ERR_VERIFY, "the key is not the certificate's");
}

/* ---- the ledger --------------------------------------------------------------- */

static int sql(const char *ca, const char *stmt)
{
	char path[PATH_MAX], name[64];
	sqlite3 *db = NULL;
	int rc;

	snprintf(name, sizeof(name), "%s/ledger.db", ca);
	rc = sqlite3_open(path_of(path, name), &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static enum m2m_err count_crl(void *arg, const struct m2m_crl_record *r)
{
	uint64_t *n = arg;

	if (r->number != *n + 1 || !r->der || !r->der_len || !r->this_update)
		return M2M_ERR_INVALID;
	++*n;
	return M2M_OK;
}

static enum m2m_err stop_crl(void *arg, const struct m2m_crl_record *r)
{
	(void)arg;
	(void)r;
	return M2M_ERR_IO;
}

UNIT_TEST(test_ledger_crl_list)
{
	uint64_t n = 0;

	CHECK_OK(m2m_ledger_crl_list(ctx, m2m_ca_ledger(issuing), count_crl, &n));
	CHECK_EQ_INT(n, 1);
	n = 0;
	CHECK_OK(m2m_ledger_crl_list(ctx, m2m_ca_ledger(root), count_crl, &n));
	CHECK_EQ_INT(n, 0);
	CHECK_FAILS(m2m_ledger_crl_list(ctx, m2m_ca_ledger(issuing), stop_crl, NULL),
		    M2M_ERR_IO, "stopped by its caller");
	CHECK_FAILS(m2m_ledger_crl_list(ctx, m2m_ca_ledger(issuing), NULL, NULL),
		    M2M_ERR_USAGE, "no function");
}

UNIT_TEST(test_verify_ledger)
{
	struct m2m_ledger_check c;
	struct m2m_ca *ca = NULL;
	char path[PATH_MAX];

	CHECK_OK(m2m_verify_ledger(ctx, issuing, &c));
	CHECK(c.certs >= 3);
	CHECK_EQ_INT(c.revoked, 1);
	CHECK_EQ_INT(c.crls, 1);
	CHECK(c.audit_entries >= c.certs + 1);
	CHECK_OK(m2m_verify_ledger(ctx, root, &c));
	CHECK_EQ_INT(c.certs, 1);
	/* Behind its back: the subject of the first IDevID. */
	CHECK_EQ_INT(sql("issuing", "UPDATE certs SET subject = 'CN=x' WHERE device_serial = 'SN-1'"),
		     SQLITE_OK);
	CHECK_OK(m2m_ca_open(ctx, path_of(path, "issuing"), M2M_CA_READONLY, NULL,
			     NULL, &ca));
	if (ca) {
		CHECK_FAILS(m2m_verify_ledger(ctx, ca, &c), M2M_ERR_VERIFY,
			    "): the subject recorded is 'CN=x', the certificate's is 'serialNumber=SN-1,OU=Devices,O=Unit'");
		CHECK_CONTAINS(m2m_ctx_detail(ctx), "certificate 1 (serial ");
		m2m_ca_close(ca);
	}
	CHECK_EQ_INT(sql("issuing", "UPDATE certs SET subject = 'serialNumber=SN-1,OU=Devices,O=Unit' WHERE device_serial = 'SN-1'; UPDATE audit SET op = 'issuf' WHERE seq = 2"),
		     SQLITE_OK);
	ca = NULL;
	CHECK_OK(m2m_ca_open(ctx, path, M2M_CA_READONLY, NULL, NULL, &ca));
	if (ca) {
		CHECK_FAILS(m2m_verify_ledger(ctx, ca, &c), M2M_ERR_VERIFY,
			    "audit log: entry 2: hash does not match its contents");
		m2m_ca_close(ca);
	}
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(test_certstream_pem_and_der),
		UNIT(test_certstream_failures),
		UNIT(test_lint_rules_table),
		UNIT(test_lint_issued),
		UNIT(test_oid_text),
		UNIT(test_verify_chain_and_ppid),
		UNIT(test_verify_revocation),
		UNIT(test_verify_pool),
		UNIT(test_possession),
		UNIT(test_ledger_crl_list),
		UNIT(test_verify_ledger),
	};
	char path[PATH_MAX];
	int status;

	if (!mkdtemp(dir) || m2m_ctx_new(&ctx) != M2M_OK)
		return 2;
	root = make_ca("root", NULL);
	issuing = root ? make_ca("issuing", "root") : NULL;
	if (issuing) {
		m2m_key_generate(ctx, path_of(path, "dev.key"), M2M_KEY_EC_P256,
				 NULL, &devkey);
		m2m_key_generate(ctx, path_of(path, "other.key"), M2M_KEY_EC_P256,
				 NULL, &otherkey);
	}
	if (devkey && otherkey) {
		idevid = issue(devkey, PPID_HEX, "SN-1");
		idevid2 = issue(otherkey, "023c71bf4a0b2e", "SN-2");
	}
	if (!idevid || !idevid2) {
		fprintf(stderr, "test_verify: setup failed: %s\n",
			m2m_ctx_detail(ctx));
		unit_rm_rf(dir);
		return 2;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	m2m_cert_free(idevid);
	m2m_cert_free(idevid2);
	m2m_key_free(devkey);
	m2m_key_free(otherkey);
	m2m_ca_close(issuing);
	m2m_ca_close(root);
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return status;
}
