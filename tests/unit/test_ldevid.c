/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/ldevid.h, in a temporary directory with a
 * manufacturer (root and factory CA issuing IDevIDs), a second
 * manufacturer nobody trusts, and an operator CA whose ldevid profile
 * trusts the first: requests made and read back (PEM and DER, the
 * regInfo words), every refusal of the parser (malformed, tampered,
 * forged by hand), trust anchors files, enrolling (the LDevID bound to
 * the IDevID, vouched_by) and every refusal (untrusted, revoked, stale
 * CRL, CA signer, profiles, key reuse, duplicates), renewing (superseded,
 * same key) and its refusals, and the renewal locations.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/key.h>
#include <m2m/ldevid.h>
#include <m2m/ledger.h>
#include <m2m/ppid.h>

#include "../../lib/cert_internal.h"
#include "../../lib/keystore/keystore.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-ldevid-XXXXXX";
static int64_t NOW;

#define HW_TYPE		"1.3.6.1.4.1.99999.1.1"
#define DAY		86400

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

/* The fixtures, made once by main(). */
static struct m2m_ca *mfab;	/* manufacturer's factory CA */
static struct m2m_ca *other;	/* a manufacturer the operator does not trust */
static struct m2m_ca *op;	/* the operator's CA */

static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

static int write_text(const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	FILE *f = fopen(tmp_path(path, name), "wb");
	int ok = f && fwrite(text, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok;
}

static char *cert_pem(const struct m2m_cert *c)
{
	char *pem = NULL;
	size_t len = 0;

	if (m2m_cert_encode(ctx, c, M2M_FORMAT_PEM, &pem, &len) != M2M_OK)
		return NULL;
	return pem;
}

/* PEM of a DER CRL. */
static char *crl_pem(const unsigned char *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (b && PEM_write_bio(b, "X509 CRL", "", der, (long)len) > 0 &&
	    (n = BIO_get_mem_data(b, &p)) > 0 && (out = malloc((size_t)n + 1))) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

/* op's manufacturers.pem: the manufacturer's root, then extra (or ""). */
static int set_anchors(const char *extra)
{
	char path[PATH_MAX], *root = NULL, *text = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	int ok;

	ok = m2m_file_read(ctx, tmp_path(path, "mroot/ca.crt"), 1 << 20, &buf,
			   &len) == M2M_OK;
	root = (char *)buf;
	if (ok && (text = malloc(len + strlen(extra) + 1))) {
		memcpy(text, root, len);
		strcpy(text + len, extra);
		ok = write_text("op/manufacturers.pem", text, strlen(text));
	} else {
		ok = 0;
	}
	free(text);
	free(root);
	return ok;
}

/* A bluetooth-only PPID 01 00 1a 7d da HI LO. */
static struct m2m_ppid *ppid_bt(struct m2m_ppid *p, unsigned n)
{
	char text[32];

	m2m_ppid_init(p);
	snprintf(text, sizeof(text), "00:1A:7D:DA:%02X:%02X", (n >> 8) & 0xff,
		 n & 0xff);
	if (m2m_ppid_set_text(ctx, p, M2M_TECH_BLUETOOTH, text,
			      strlen(text)) != M2M_OK)
		CHECK_MSG(0, "ppid %s: %s", text, m2m_ctx_detail(ctx));
	return p;
}

/* A new P-256 file key dir/name (replacing one that is there). */
static struct m2m_key *file_key(const char *name)
{
	char path[PATH_MAX];
	struct m2m_key *key = NULL;
	struct m2m_key_opts o = { .force = 1 };

	if (m2m_key_generate(ctx, tmp_path(path, name), M2M_KEY_EC_P256, &o,
			     &key) != M2M_OK)
		CHECK_MSG(0, "keygen %s: %s", name, m2m_ctx_detail(ctx));
	return key;
}

/*
 * A device: its IDevID key (dir/NAME.key) and certificate from ca for
 * PPID number n, then the CA's certificate (the chain).  0 on failure.
 */
struct device {
	struct m2m_key *key;
	struct m2m_cert *certs[2];	/* IDevID, its issuer */
};

static int device_make(struct device *d, struct m2m_ca *ca, const char *name,
		       unsigned n)
{
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_ppid ppid;
	char keyname[64], serial[32];
	const uint8_t *der;
	size_t len;

	memset(d, 0, sizeof(*d));
	memset(&res, 0, sizeof(res));
	snprintf(keyname, sizeof(keyname), "%s.key", name);
	snprintf(serial, sizeof(serial), "SN-%s", name);
	d->key = file_key(keyname);
	memset(&req, 0, sizeof(req));
	req.key = d->key;
	req.ppid = ppid_bt(&ppid, n);
	req.device_serial = serial;
	req.now = NOW;
	if (!d->key || m2m_ca_issue(ctx, ca, &req, &res) != M2M_OK) {
		CHECK_MSG(0, "IDevID %s: %s", name, m2m_ctx_detail(ctx));
		return 0;
	}
	d->certs[0] = res.cert;
	der = m2m_cert_der(m2m_ca_cert(ca), &len);
	return m2m_cert_parse(ctx, der, len, &d->certs[1]) == M2M_OK;
}

static void device_release(struct device *d)
{
	m2m_key_free(d->key);
	m2m_cert_free(d->certs[0]);
	m2m_cert_free(d->certs[1]);
}

/* A request, DER, made with the library; NULL on failure (checked). */
static char *request(const struct m2m_key *newkey, const struct m2m_key *signkey,
		     struct m2m_cert *const *certs, size_t n,
		     enum m2m_ldevid_purpose purpose, unsigned flags,
		     size_t *len)
{
	char *out = NULL;

	*len = 0;
	CHECK_OK(m2m_ldevid_request_make(ctx, newkey, signkey, certs, n,
					 purpose, flags, M2M_FORMAT_DER, &out,
					 len));
	return out;
}

/* Parse and accept buf[0..len) at op; the result's code. */
static enum m2m_err submit(const char *buf, size_t len,
			   const struct m2m_ldevid_policy *policy,
			   struct m2m_issue_result *res)
{
	struct m2m_ldevid_request *req = NULL;
	enum m2m_err rc;

	memset(res, 0, sizeof(*res));
	m2m_ctx_clear_error(ctx);
	rc = m2m_ldevid_request_parse(ctx, buf, len, &req);
	if (rc == M2M_OK)
		rc = m2m_ldevid_accept(ctx, op, req, policy, res);
	m2m_ldevid_request_free(req);
	return rc;
}

/* A policy at NOW (flags and replace as given). */
static struct m2m_ldevid_policy at_now(unsigned flags, int replace)
{
	struct m2m_ldevid_policy p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.replace = replace;
	p.now = NOW;
	return p;
}

/* The ledger record of serial at op, checked to be there. */
static int record_of(const char *serial, struct m2m_cert_record *r)
{
	return CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(op), serial,
						r), M2M_OK);
}

/*
 * A SignedData made by hand around a request for newkey, signed by
 * signkey with signcert: the shapes the library would never make.
 */
struct forge {
	const struct m2m_key *newkey;
	const struct m2m_key *signkey;
	const struct m2m_cert *signcert;
	const char *reginfo;	/* NULL: no regInfo attribute */
	int reginfo_twice;
	int reginfo_utf8;	/* a UTF8String instead of an OCTET STRING */
	int nocerts;		/* the signer's certificate left out */
	int detached;		/* the request not inside */
	const struct m2m_key *key2;	/* a second signer, or NULL */
	const struct m2m_cert *cert2;
	const struct m2m_cert *extra;	/* one more certificate, or NULL */
	int econtent_other;	/* id-ct-authData-ish content type */
	const unsigned char *content;	/* instead of the request */
	size_t content_len;
};

static char *forge(const struct forge *f, size_t *len)
{
	struct m2m_csr *csr = NULL;
	char *csr_der = NULL, *out = NULL;
	size_t csr_len = 0;
	unsigned char *der = NULL;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.7.18", 1);
	BIO *in = NULL;
	unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP;
	int n = 0, i, ok;

	*len = 0;
	ok = m2m_csr_make(ctx, f->newkey, NULL, &csr) == M2M_OK &&
	     m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &csr_der,
			    &csr_len) == M2M_OK;
	if (f->detached)
		flags |= CMS_DETACHED;
	if (f->nocerts)
		flags |= CMS_NOCERTS;
	cms = ok ? CMS_sign(NULL, NULL, NULL, NULL, flags) : NULL;
	if (cms && f->econtent_other)
		ok = CMS_set1_eContentType(cms,
					   OBJ_txt2obj("1.2.840.113549.1.9.16.1.4",
						       1)) == 1;
	for (i = 0; cms && ok && i < 1 + !!f->key2; i++) {
		si = CMS_add1_signer(cms, m2m_cert_x509(i ? f->cert2 :
							f->signcert),
				     m2m_key_pkey(i ? f->key2 : f->signkey),
				     EVP_sha256(), flags);
		ok = si != NULL;
		if (ok && f->reginfo && f->reginfo_utf8)
			ok = CMS_signed_add1_attr_by_OBJ(si, oid,
							 V_ASN1_UTF8STRING,
							 f->reginfo,
							 (int)strlen(f->reginfo));
		else if (ok && f->reginfo)
			ok = CMS_signed_add1_attr_by_OBJ(si, oid,
							 V_ASN1_OCTET_STRING,
							 f->reginfo,
							 (int)strlen(f->reginfo));
		if (ok && f->reginfo && f->reginfo_twice)
			ok = CMS_signed_add1_attr_by_OBJ(si, oid,
							 V_ASN1_OCTET_STRING,
							 f->reginfo,
							 (int)strlen(f->reginfo));
	}
	if (ok && f->extra)
		ok = CMS_add1_cert(cms, m2m_cert_x509(f->extra));
	if (ok && f->content)
		in = BIO_new_mem_buf(f->content, (int)f->content_len);
	else if (ok)
		in = BIO_new_mem_buf(csr_der, (int)csr_len);
	ok = ok && in && CMS_final(cms, in, NULL, flags & ~CMS_PARTIAL) &&
	     (n = i2d_CMS_ContentInfo(cms, &der)) > 0;
	if (ok && (out = malloc((size_t)n))) {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
	CHECK_MSG(out != NULL, "cannot forge a request");
	OPENSSL_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	ASN1_OBJECT_free(oid);
	free(csr_der);
	m2m_csr_free(csr);
	return out;
}

/* ---- making and reading ------------------------------------------------------ */

UNIT_TEST(make_and_parse_pem_der_words)
{
	struct device d;
	struct m2m_key *nk = file_key("new1.key");
	struct m2m_ldevid_request *req = NULL;
	struct m2m_cert *const *chain;
	char *pem = NULL, *der = NULL;
	size_t plen = 0, dlen = 0, n = 0;

	if (!CHECK(nk && device_make(&d, mfab, "d1", 1)))
		goto out;
	CHECK_OK(m2m_ldevid_request_make(ctx, nk, d.key, d.certs, 2,
					 M2M_LDEVID_ENROLL, 0, M2M_FORMAT_PEM,
					 &pem, &plen));
	CHECK(pem && strncmp(pem, "-----BEGIN CMS-----\n", 20) == 0);
	CHECK_OK(m2m_ldevid_request_parse(ctx, pem, plen, &req));
	if (CHECK(req)) {
		CHECK_EQ_INT(m2m_ldevid_request_purpose(req), M2M_LDEVID_ENROLL);
		CHECK_EQ_INT(m2m_ldevid_request_flags(req), 0);
		CHECK_EQ_STR(m2m_cert_fingerprint(m2m_ldevid_request_signer(req)),
			     m2m_cert_fingerprint(d.certs[0]));
		chain = m2m_ldevid_request_chain(req, &n);
		CHECK_EQ_INT(n, 1);
		if (n == 1)
			CHECK_EQ_STR(m2m_cert_fingerprint(chain[0]),
				     m2m_cert_fingerprint(d.certs[1]));
		CHECK_EQ_INT(m2m_csr_key_alg(m2m_ldevid_request_csr(req)),
			     M2M_KEY_EC_P256);
	}
	m2m_ldevid_request_free(req);
	req = NULL;

	/* DER, renewing, with the key reused: the words say so */
	der = request(d.key, d.key, d.certs, 1, M2M_LDEVID_RENEW,
		      M2M_LDEVID_REUSE_KEY, &dlen);
	CHECK(der && dlen > 0 && (unsigned char)der[0] == 0x30);
	CHECK_OK(m2m_ldevid_request_parse(ctx, der, dlen, &req));
	if (CHECK(req)) {
		CHECK_EQ_INT(m2m_ldevid_request_purpose(req), M2M_LDEVID_RENEW);
		CHECK_EQ_INT(m2m_ldevid_request_flags(req),
			     M2M_LDEVID_REUSE_KEY);
		m2m_ldevid_request_chain(req, &n);
		CHECK_EQ_INT(n, 0);
	}
	/* what openssl cms sees: the request as id-data content */
	{
		const unsigned char *p = (const unsigned char *)der;
		CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)dlen);

		CHECK(cms && OBJ_obj2nid(CMS_get0_eContentType(cms)) ==
		      NID_pkcs7_data);
		CMS_ContentInfo_free(cms);
	}
out:
	m2m_ldevid_request_free(req);
	free(pem);
	free(der);
	m2m_key_free(nk);
	device_release(&d);
}

UNIT_TEST(make_refusals)
{
	struct device d, e;
	struct m2m_key *nk = file_key("new2.key");
	struct m2m_cert *wrong[1];
	char *out = NULL;
	size_t len = 0;

	if (!CHECK(nk && device_make(&d, mfab, "d2", 2) &&
		   device_make(&e, mfab, "e2", 3)))
		goto out;
	wrong[0] = e.certs[0];
	CHECK_FAILS(m2m_ldevid_request_make(ctx, nk, d.key, wrong, 1,
					    M2M_LDEVID_ENROLL, 0, M2M_FORMAT_DER,
					    &out, &len),
		    M2M_ERR_INVALID, "is not the certificate of the key");
	CHECK_FAILS(m2m_ldevid_request_make(ctx, d.key, d.key, d.certs, 2,
					    M2M_LDEVID_ENROLL, 0, M2M_FORMAT_DER,
					    &out, &len),
		    M2M_ERR_USAGE, "is the signing key: reusing it must be asked for");
	CHECK_FAILS(m2m_ldevid_request_make(ctx, nk, d.key, d.certs, 2,
					    M2M_LDEVID_ENROLL,
					    M2M_LDEVID_REUSE_KEY, M2M_FORMAT_DER,
					    &out, &len),
		    M2M_ERR_USAGE, "but the new key");
	CHECK_FAILS(m2m_ldevid_request_make(ctx, nk, d.key, d.certs, 0,
					    M2M_LDEVID_ENROLL, 0, M2M_FORMAT_DER,
					    &out, &len),
		    M2M_ERR_USAGE, "its signer's certificate");
	CHECK(out == NULL && len == 0);
out:
	free(out);
	m2m_key_free(nk);
	device_release(&d);
	device_release(&e);
}

/* parse(buf) fails with code and a detail containing phrase. */
static void check_parse_fails(int line, const void *buf, size_t len,
			      enum m2m_err code, const char *phrase)
{
	struct m2m_ldevid_request *req = NULL;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_ldevid_request_parse(ctx, buf, len, &req);
	unit_check(rc == code, __FILE__, line, "parse: %s, want %s (%s)",
		   m2m_strerror(rc), m2m_strerror(code), m2m_ctx_detail(ctx));
	unit_check(strstr(m2m_ctx_detail(ctx), phrase) != NULL, __FILE__, line,
		   "detail \"%s\" lacks \"%s\"", m2m_ctx_detail(ctx), phrase);
	unit_check(req == NULL, __FILE__, line, "a request on failure");
	m2m_ldevid_request_free(req);
}
#define CHECK_PARSE_FAILS(buf, len, code, phrase) \
	check_parse_fails(__LINE__, (buf), (len), (code), (phrase))

UNIT_TEST(parse_refuses_malformed_and_tampered)
{
	struct device d, e;
	struct m2m_key *nk = file_key("new3.key");
	struct forge f;
	char *der = NULL, *bad = NULL, *big = NULL, *pem = NULL;
	size_t len = 0, plen = 0;
	struct m2m_csr *csr = NULL;
	char *csr_der = NULL;
	size_t csr_len = 0;
	unsigned char *at;

	if (!CHECK(nk && device_make(&d, mfab, "d3", 4) &&
		   device_make(&e, mfab, "e3", 12)))
		goto out;
	der = request(nk, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	if (!CHECK(der))
		goto out;
	CHECK_PARSE_FAILS("", 0, M2M_ERR_INVALID, "the request is empty");
	big = calloc(1, M2M_LDEVID_REQUEST_MAX + 1);
	if (big)
		CHECK_PARSE_FAILS(big, M2M_LDEVID_REQUEST_MAX + 1,
				  M2M_ERR_INVALID, "larger than 262144 bytes");
	CHECK_PARSE_FAILS("garbage", 7, M2M_ERR_INVALID,
			  "not a DER CMS message");
	CHECK_PARSE_FAILS(der, len - 1, M2M_ERR_INVALID,
			  "not a DER CMS message");
	pem = malloc(len + 64);
	if (pem) {
		plen = (size_t)snprintf(pem, len + 64,
					"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
		CHECK_PARSE_FAILS(pem, plen, M2M_ERR_INVALID,
				  "no well-formed CMS block in the PEM");
	}
	bad = malloc(len + 3);
	if (bad) {
		memcpy(bad, der, len);
		memcpy(bad + len, "xyz", 3);
		CHECK_PARSE_FAILS(bad, len + 3, M2M_ERR_INVALID,
				  "3 bytes of garbage after the request");
		/* the last byte is the signature's */
		memcpy(bad, der, len);
		bad[len - 1] ^= 0x01;
		CHECK_PARSE_FAILS(bad, len, M2M_ERR_VERIFY,
				  "the request's signature does not verify");
		/* a byte of the request inside: its digest no longer matches */
		memcpy(bad, der, len);
		if (m2m_csr_make(ctx, nk, NULL, &csr) == M2M_OK &&
		    m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &csr_der,
				   &csr_len) == M2M_OK &&
		    CHECK((at = memmem(bad, len, csr_der + 30, 16)) != NULL)) {
			at[8] ^= 0x40;
			CHECK_PARSE_FAILS(bad, len, M2M_ERR_VERIFY,
					  "the request's signature does not verify");
		}
	}
	free(der);
	der = NULL;

	/* forged shapes */
	memset(&f, 0, sizeof(f));
	f.newkey = nk;
	f.signkey = d.key;
	f.signcert = d.certs[0];
	f.reginfo = "ldevid";
	der = forge(&f, &len);
	{
		struct m2m_ldevid_request *req = NULL;

		CHECK_OK(m2m_ldevid_request_parse(ctx, der, len, &req));
		m2m_ldevid_request_free(req);
	}
	free(der);
	f.reginfo = NULL;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "no signed regInfo attribute (1.3.6.1.5.5.7.7.18): it is no LDevID request");
	free(der);
	f.reginfo = "ldevid";
	f.reginfo_twice = 1;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "more than one regInfo attribute");
	free(der);
	f.reginfo_twice = 0;
	f.reginfo_utf8 = 1;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "regInfo is not one OCTET STRING of 1 to 64 bytes");
	free(der);
	f.reginfo_utf8 = 0;
	f.reginfo = "enroll";
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "regInfo 'enroll' is neither 'ldevid' nor 'renew'");
	free(der);
	f.reginfo = "ldevid reuse-key please";
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "regInfo 'ldevid reuse-key please' has an unknown word");
	free(der);
	f.reginfo = "ldevid";
	f.nocerts = 1;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "carries 0 certificates (1 to 16)");
	free(der);
	f.nocerts = 0;
	f.detached = 1;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "holds no request (detached content)");
	free(der);
	f.detached = 0;
	f.key2 = e.key;
	f.cert2 = e.certs[0];
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID, "has 2 signers, not one");
	free(der);
	f.key2 = NULL;
	f.econtent_other = 1;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID, "does not hold id-data");
	free(der);
	f.econtent_other = 0;
	f.content = (const unsigned char *)"\x30\x03\x02\x01\x00";
	f.content_len = 5;
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "the PKCS#10 request inside");
	free(der);
	f.content = (const unsigned char *)"hello";
	der = forge(&f, &len);
	CHECK_PARSE_FAILS(der, len, M2M_ERR_INVALID,
			  "not a DER PKCS#10 request");
	free(der);
	der = NULL;
	f.content = NULL;

	/* not SignedData at all */
	{
		BIO *in = BIO_new_mem_buf("data", 4);
		CMS_ContentInfo *cms = in ? CMS_data_create(in, CMS_BINARY) : NULL;
		unsigned char *p = NULL;
		int n = cms ? i2d_CMS_ContentInfo(cms, &p) : -1;

		if (CHECK(n > 0))
			CHECK_PARSE_FAILS(p, (size_t)n, M2M_ERR_INVALID,
					  "a CMS message but not SignedData");
		OPENSSL_free(p);
		CMS_ContentInfo_free(cms);
		BIO_free(in);
	}
out:
	free(der);
	free(bad);
	free(big);
	free(pem);
	free(csr_der);
	m2m_csr_free(csr);
	m2m_key_free(nk);
	device_release(&d);
	device_release(&e);
}

/* ---- trust anchors ------------------------------------------------------------ */

UNIT_TEST(anchors_files)
{
	struct m2m_anchors *a = NULL;
	unsigned char *crl = NULL;
	char *root = cert_pem(m2m_ca_cert(mfab)), *cp = NULL, *text = NULL;
	size_t crl_len = 0, ncrls = 9;

	if (!CHECK(root) ||
	    !CHECK(m2m_ca_crl(ctx, mfab, NOW, &crl, &crl_len, NULL) == M2M_OK))
		goto out;
	cp = crl_pem(crl, crl_len);
	text = cp ? malloc(2 * strlen(root) + strlen(cp) + 200) : NULL;
	if (!CHECK(cp && text))
		goto out;
	sprintf(text, "# vendor X\n%s-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n%s%s",
		root, cp, root);
	CHECK_OK(m2m_anchors_parse(ctx, text, strlen(text), &a));
	if (a) {
		CHECK_EQ_INT(m2m_anchors_count(a, &ncrls), 2);
		CHECK_EQ_INT(ncrls, 1);
	}
	m2m_anchors_free(a);
	a = NULL;
	CHECK_FAILS(m2m_anchors_parse(ctx, cp, strlen(cp), &a),
		    M2M_ERR_INVALID, "no CERTIFICATE block: no trust anchor");
	CHECK_FAILS(m2m_anchors_parse(ctx, "", 0, &a), M2M_ERR_INVALID,
		    "no CERTIFICATE block");
	sprintf(text, "%s-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
		root);
	CHECK_FAILS(m2m_anchors_parse(ctx, text, strlen(text), &a),
		    M2M_ERR_INVALID, "PEM block 2 is not a DER certificate");
	sprintf(text, "%s-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n",
		root);
	CHECK_FAILS(m2m_anchors_parse(ctx, text, strlen(text), &a),
		    M2M_ERR_INVALID, "PEM block 2 is not a DER CRL");
	sprintf(text, "%s-----BEGIN CERTIFICATE-----\nMAMC!!!\n", root);
	CHECK_FAILS(m2m_anchors_parse(ctx, text, strlen(text), &a),
		    M2M_ERR_INVALID, "PEM block 2 is malformed");
	CHECK_FAILS(m2m_anchors_parse(ctx, text, M2M_ANCHORS_MAX + 1, &a),
		    M2M_ERR_INVALID, "larger than 16777216 bytes");
	CHECK(a == NULL);
out:
	m2m_anchors_free(a);
	free(text);
	free(cp);
	free(root);
	free(crl);
}

/* ---- enrolling ---------------------------------------------------------------- */

UNIT_TEST(enroll_binds_ldevid_to_idevid)
{
	struct device d;
	struct m2m_key *nk = file_key("new4.key");
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result res;
	struct m2m_cert_record r;
	char *der = NULL;
	size_t len = 0;

	memset(&res, 0, sizeof(res));
	if (!CHECK(nk && device_make(&d, mfab, "d4", 5)))
		goto out;
	der = request(nk, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(submit(der, len, &pol, &res));
	if (!CHECK(res.cert))
		goto out;
	CHECK(m2m_cert_matches_key(res.cert, nk));
	CHECK_EQ_STR(res.replaced, "");
	if (record_of(m2m_cert_serial(res.cert), &r)) {
		CHECK_EQ_STR(r.profile, "ldevid");
		CHECK_EQ_STR(r.vouched_by, m2m_cert_serial(d.certs[0]));
		CHECK(r.ppid_len == 7 &&
		      memcmp(r.ppid, "\x01\x00\x1a\x7d\xda\x00\x05", 7) == 0);
		CHECK_EQ_INT(r.not_after, NOW + 365 * (int64_t)DAY);
	}
	{
		char a[512], b[512];

		m2m_cert_subject(res.cert, a, sizeof(a));
		m2m_cert_subject(d.certs[0], b, sizeof(b));
		CHECK_EQ_STR(a, b);
	}
	m2m_cert_free(res.cert);
	res.cert = NULL;

	/* a second LDevID for the device: only by replacing the first */
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_DUPLICATE,
		    "already has a valid ldevid certificate");
	pol.replace = 1;
	CHECK_OK(submit(der, len, &pol, &res));
	CHECK(res.replaced[0] != '\0');
	if (record_of(res.replaced, &r)) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 4);
	}
	/* without the chain: the intermediate is not an anchor */
	m2m_cert_free(res.cert);
	res.cert = NULL;
	free(der);
	der = request(nk, d.key, d.certs, 1, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY,
		    "does not verify to a trust anchor in 'manufacturers.pem': unable to get local issuer certificate");
out:
	free(der);
	m2m_cert_free(res.cert);
	m2m_key_free(nk);
	device_release(&d);
}

UNIT_TEST(enroll_refusals_trust)
{
	struct device d, u;
	struct m2m_key *nk = file_key("new5.key");
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result res;
	struct m2m_cert *fabcert = NULL;
	struct m2m_key *fabkey = NULL;
	unsigned char *crl = NULL;
	char path[PATH_MAX], *cp = NULL, *der = NULL;
	size_t len = 0, crl_len = 0;
	const uint8_t *cd;
	size_t cl;

	memset(&res, 0, sizeof(res));
	if (!CHECK(nk && device_make(&d, mfab, "d5", 6) &&
		   device_make(&u, other, "u5", 7)))
		goto out;

	/* from a manufacturer the profile does not trust */
	der = request(nk, u.key, u.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY,
		    "does not verify to a trust anchor in 'manufacturers.pem'");
	free(der);

	/* revoked: the factory's CRL in the anchors file lists it */
	der = request(nk, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(m2m_ca_revoke(ctx, mfab, m2m_cert_serial(d.certs[0]), 1, NOW,
			       NULL));
	CHECK_OK(m2m_ca_crl(ctx, mfab, NOW, &crl, &crl_len, NULL));
	cp = crl ? crl_pem(crl, crl_len) : NULL;
	if (CHECK(cp && set_anchors(cp))) {
		char want[160];

		snprintf(want, sizeof(want),
			 "the IDevID %s is revoked: a CRL in 'manufacturers.pem' lists it",
			 m2m_cert_serial(d.certs[0]));
		CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY,
			    want);
		/* the CRL past its nextUpdate: everything of its issuer */
		pol.now = NOW + 30 * DAY;
		CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY,
			    "CRL has expired");
		pol.now = NOW;
	}
	CHECK(set_anchors(""));

	/* no anchors file, none set, a profile of the wrong type */
	CHECK(unlink(tmp_path(path, "op/manufacturers.pem")) == 0);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_NOT_FOUND,
		    "trust anchors of profile ldevid: cannot open");
	CHECK(set_anchors(""));
	CHECK_OK(m2m_ca_profile_set(ctx, op, "ldevid", "trust-anchors", ""));
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "profile ldevid has no trust-anchors file, so it takes no IDevID");
	CHECK_OK(m2m_ca_profile_set(ctx, op, "ldevid", "trust-anchors",
				    "manufacturers.pem"));
	pol.profile = "idevid";
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "profile idevid issues IDevIDs, not LDevIDs");
	pol.profile = "nosuch";
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "has no profile 'nosuch'");
	pol.profile = NULL;
	free(der);

	/* signed by a CA: the factory CA's own key and certificate */
	tmp_path(path, "mfab/ca.key");
	cd = m2m_cert_der(m2m_ca_cert(mfab), &cl);
	if (CHECK_EQ_INT(m2m_key_load(ctx, path, NULL, &fabkey), M2M_OK) &&
	    CHECK_EQ_INT(m2m_cert_parse(ctx, cd, cl, &fabcert), M2M_OK)) {
		der = request(nk, fabkey, &fabcert, 1, M2M_LDEVID_ENROLL, 0,
			      &len);
		CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY,
			    "a CA certificate, not an IDevID");
	}
	CHECK(res.cert == NULL);
out:
	free(der);
	free(cp);
	free(crl);
	m2m_cert_free(res.cert);
	m2m_cert_free(fabcert);
	m2m_key_free(fabkey);
	m2m_key_free(nk);
	device_release(&d);
	device_release(&u);
}

UNIT_TEST(enroll_key_reuse)
{
	struct device d;
	struct m2m_key *nk = file_key("new6.key");
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result res;
	struct m2m_cert_record r;
	struct forge f;
	char *der = NULL;
	size_t len = 0;

	memset(&res, 0, sizeof(res));
	if (!CHECK(nk && device_make(&d, mfab, "d6", 8)))
		goto out;
	der = request(d.key, d.key, d.certs, 2, M2M_LDEVID_ENROLL,
		      M2M_LDEVID_REUSE_KEY, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "reuses the IDevID's key, which is refused unless allowed (--allow-key-reuse)");
	pol.flags = M2M_LDEVID_ALLOW_KEY_REUSE;
	CHECK_OK(submit(der, len, &pol, &res));
	CHECK(res.cert && m2m_cert_matches_key(res.cert, d.key));
	if (res.cert && record_of(m2m_cert_serial(res.cert), &r))
		CHECK_EQ_STR(r.vouched_by, m2m_cert_serial(d.certs[0]));
	m2m_cert_free(res.cert);
	res.cert = NULL;
	free(der);

	/* reuse not declared, or declared and not done: refused */
	pol.replace = 1;
	memset(&f, 0, sizeof(f));
	f.newkey = d.key;
	f.signkey = d.key;
	f.signcert = d.certs[0];
	f.extra = d.certs[1];
	f.reginfo = "ldevid";
	der = forge(&f, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "the request's new key is the IDevID's key, but the request does not say it reuses it");
	free(der);
	f.newkey = nk;
	f.reginfo = "ldevid reuse-key";
	der = forge(&f, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "says it reuses the IDevID's key, but its new key is another");
out:
	free(der);
	m2m_cert_free(res.cert);
	m2m_key_free(nk);
	device_release(&d);
}

/* ---- renewing ------------------------------------------------------------------ */

UNIT_TEST(renew_supersedes_and_refusals)
{
	struct device d;
	struct m2m_key *k1 = file_key("new7a.key"), *k2 = file_key("new7b.key");
	struct m2m_key *k3 = file_key("new7c.key");
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result first, second, res;
	struct m2m_cert_record r;
	struct m2m_cert *cur[1];
	char *der = NULL, want[200];
	size_t len = 0;

	memset(&first, 0, sizeof(first));
	memset(&second, 0, sizeof(second));
	memset(&res, 0, sizeof(res));
	if (!CHECK(k1 && k2 && k3 && device_make(&d, mfab, "d7", 9)))
		goto out;
	der = request(k1, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(submit(der, len, &pol, &first));
	free(der);
	der = NULL;
	if (!CHECK(first.cert))
		goto out;

	/* renewed with a new key: the first is superseded */
	cur[0] = first.cert;
	der = request(k2, k1, cur, 1, M2M_LDEVID_RENEW, 0, &len);
	CHECK_OK(submit(der, len, &pol, &second));
	if (!CHECK(second.cert))
		goto out;
	CHECK_EQ_STR(second.replaced, m2m_cert_serial(first.cert));
	CHECK(m2m_cert_matches_key(second.cert, k2));
	if (record_of(m2m_cert_serial(second.cert), &r)) {
		CHECK_EQ_STR(r.vouched_by, m2m_cert_serial(first.cert));
		CHECK_EQ_STR(r.profile, "ldevid");
		CHECK(r.ppid_len == 7 &&
		      memcmp(r.ppid, "\x01\x00\x1a\x7d\xda\x00\x09", 7) == 0);
	}
	if (record_of(m2m_cert_serial(first.cert), &r)) {
		CHECK_EQ_INT(r.status, M2M_CERT_REVOKED);
		CHECK_EQ_INT(r.reason, 4);
	}

	/* the superseded one cannot renew again */
	snprintf(want, sizeof(want),
		 "the LDevID %s that signs the renewal is revoked",
		 m2m_cert_serial(first.cert));
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY, want);
	free(der);

	/* the same key, declared */
	cur[0] = second.cert;
	der = request(k2, k2, cur, 1, M2M_LDEVID_RENEW, M2M_LDEVID_REUSE_KEY,
		      &len);
	pol.profile = "idevid";
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "a renewal keeps the profile of the LDevID it renews (ldevid), not idevid");
	pol.profile = NULL;
	/* an expired LDevID renews nothing */
	pol.now = NOW + 400 * (int64_t)DAY;
	snprintf(want, sizeof(want),
		 "the LDevID %s that signs the renewal expired on ",
		 m2m_cert_serial(second.cert));
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY, want);
	pol.now = NOW;
	CHECK_OK(submit(der, len, &pol, &res));
	CHECK(res.cert && m2m_cert_matches_key(res.cert, k2));
	CHECK_EQ_STR(res.replaced, m2m_cert_serial(second.cert));
	m2m_cert_free(res.cert);
	res.cert = NULL;
	free(der);

	/* an IDevID is no LDevID: not this CA's, or not an ldevid profile */
	der = request(k3, d.key, d.certs, 2, M2M_LDEVID_RENEW, 0, &len);
	snprintf(want, sizeof(want),
		 "the LDevID %s that signs the renewal was not issued by this CA",
		 m2m_cert_serial(d.certs[0]));
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_VERIFY, want);
	free(der);
	der = NULL;
	{
		struct device own;

		if (CHECK(device_make(&own, op, "own7", 10))) {
			der = request(k3, own.key, own.certs, 1,
				      M2M_LDEVID_RENEW, 0, &len);
			CHECK_FAILS(submit(der, len, &pol, &res),
				    M2M_ERR_VERIFY,
				    "that signs the renewal is no LDevID of this CA (profile idevid)");
		}
		device_release(&own);
	}
	CHECK(res.cert == NULL);
out:
	free(der);
	m2m_cert_free(first.cert);
	m2m_cert_free(second.cert);
	m2m_cert_free(res.cert);
	m2m_key_free(k1);
	m2m_key_free(k2);
	m2m_key_free(k3);
	device_release(&d);
}

UNIT_TEST(renew_same_key_undeclared)
{
	struct device d;
	struct m2m_key *k1 = file_key("new8.key");
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result first, res;
	struct forge f;
	char *der = NULL;
	size_t len = 0;

	memset(&first, 0, sizeof(first));
	memset(&res, 0, sizeof(res));
	if (!CHECK(k1 && device_make(&d, mfab, "d8", 11)))
		goto out;
	der = request(k1, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(submit(der, len, &pol, &first));
	free(der);
	der = NULL;
	if (!CHECK(first.cert))
		goto out;
	memset(&f, 0, sizeof(f));
	f.newkey = k1;
	f.signkey = k1;
	f.signcert = first.cert;
	f.reginfo = "renew";
	der = forge(&f, &len);
	CHECK_FAILS(submit(der, len, &pol, &res), M2M_ERR_INVALID,
		    "the request's new key is the current LDevID's key, but the request does not say it reuses it");
out:
	free(der);
	m2m_cert_free(first.cert);
	m2m_cert_free(res.cert);
	m2m_key_free(k1);
	device_release(&d);
}

UNIT_TEST(ed25519_ldevid_and_p384_signer)
{
	struct device d;
	struct m2m_key *ed = NULL, *p384 = NULL;
	struct m2m_key_opts o = { .force = 1 };
	struct m2m_ldevid_policy pol = at_now(0, 0);
	struct m2m_issue_result first, res;
	struct m2m_cert *cur[1];
	char path[PATH_MAX], *der = NULL;
	size_t len = 0;

	memset(&first, 0, sizeof(first));
	memset(&res, 0, sizeof(res));
	CHECK_OK(m2m_key_generate(ctx, tmp_path(path, "ed9.key"),
				  M2M_KEY_ED25519, &o, &ed));
	CHECK_OK(m2m_key_generate(ctx, tmp_path(path, "p384.key"),
				  M2M_KEY_EC_P384, &o, &p384));
	if (!CHECK(ed && p384 && device_make(&d, mfab, "d9", 13)))
		goto out;
	/* an Ed25519 LDevID (the ldevid profile allows it) */
	der = request(ed, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(submit(der, len, &pol, &first));
	free(der);
	der = NULL;
	if (!CHECK(first.cert))
		goto out;
	CHECK(m2m_cert_matches_key(first.cert, ed));
	/* an Ed25519 key signs no CMS: it is enrolled again instead */
	cur[0] = first.cert;
	CHECK_FAILS(m2m_ldevid_request_make(ctx, p384, ed, cur, 1,
					    M2M_LDEVID_RENEW, 0, M2M_FORMAT_DER,
					    &der, &len),
		    M2M_ERR_UNSUPPORTED, "an ed25519 key cannot sign an LDevID request");
	CHECK(der == NULL);
	pol.replace = 1;
	der = request(p384, d.key, d.certs, 2, M2M_LDEVID_ENROLL, 0, &len);
	CHECK_OK(submit(der, len, &pol, &res));
	CHECK(res.cert && m2m_cert_matches_key(res.cert, p384));
	CHECK_EQ_STR(res.replaced, m2m_cert_serial(first.cert));
	free(der);
	der = NULL;
	/* a P-384 signer (SHA-384) renews */
	if (res.cert) {
		cur[0] = res.cert;
		der = request(p384, p384, cur, 1, M2M_LDEVID_RENEW,
			      M2M_LDEVID_REUSE_KEY, &len);
		m2m_cert_free(first.cert);
		first.cert = res.cert;
		res.cert = NULL;
		CHECK_OK(submit(der, len, &pol, &res));
		CHECK(res.cert && m2m_cert_matches_key(res.cert, p384));
	}
out:
	free(der);
	m2m_cert_free(first.cert);
	m2m_cert_free(res.cert);
	m2m_key_free(ed);
	m2m_key_free(p384);
	device_release(&d);
}

/* ---- locations ---------------------------------------------------------------- */

UNIT_TEST(next_locations_and_file_replace)
{
	char out[64], small[8], a[PATH_MAX], b[PATH_MAX];
	struct stat st;

	CHECK_OK(m2m_ldevid_next_location(ctx, "tpm2:handle=0x81000110", 0,
					  out, sizeof(out)));
	CHECK_EQ_STR(out, "tpm2:handle=0x81000111");
	CHECK_OK(m2m_ldevid_next_location(ctx, "tpm2:handle=0x81000111", 0,
					  out, sizeof(out)));
	CHECK_EQ_STR(out, "tpm2:handle=0x81000110");
	CHECK_OK(m2m_ldevid_next_location(ctx,
					  "tpm2:handle=0x81000120;parent=0x81000002",
					  0, out, sizeof(out)));
	CHECK_EQ_STR(out, "tpm2:handle=0x81000121;parent=0x81000002");
	CHECK_OK(m2m_ldevid_next_location(ctx, "tpm2:nv=0x01800110", 1, out,
					  sizeof(out)));
	CHECK_EQ_STR(out, "tpm2:nv=0x01800111");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "tpm2:handle=0x81000000", 0,
					     out, sizeof(out)),
		    M2M_ERR_INVALID, "the handle beside 0x81000000 is the parent's");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "tpm2:nv=0x01800110", 0, out,
					     sizeof(out)),
		    M2M_ERR_INVALID, "is no TPM key (handle=)");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "tpm2:handle=0x81000110", 1,
					     out, sizeof(out)),
		    M2M_ERR_INVALID, "is no TPM NV index (nv=)");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "tpm2:handle=1", 0, out,
					     sizeof(out)),
		    M2M_ERR_INVALID, "tpm2:handle=1");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "pkcs11:token=t;object=k",
					     0, out, sizeof(out)),
		    M2M_ERR_USAGE, "a pkcs11: key has no place to go by default");
	CHECK_OK(m2m_ldevid_next_location(ctx, "file:/var/lib/ldevid.pem", 1,
					  out, sizeof(out)));
	CHECK_EQ_STR(out, "file:/var/lib/ldevid.pem.new");
	CHECK_OK(m2m_ldevid_next_location(ctx, "dev.key", 0, out, sizeof(out)));
	CHECK_EQ_STR(out, "dev.key.new");
	CHECK_FAILS(m2m_ldevid_next_location(ctx, "dev.key", 0, small,
					     sizeof(small)),
		    M2M_ERR_INVALID, "the location beside 'dev.key' is too long");
	CHECK_EQ_STR(small, "");

	CHECK(write_text("mv.new", "new", 3) && write_text("mv", "old", 3));
	CHECK_OK(m2m_ldevid_file_replace(ctx, tmp_path(a, "mv.new"),
					 tmp_path(b, "mv")));
	CHECK(stat(a, &st) < 0 && errno == ENOENT);
	CHECK(stat(b, &st) == 0 && st.st_size == 3);
	CHECK_FAILS(m2m_ldevid_file_replace(ctx, a, b), M2M_ERR_IO,
		    "cannot move");
	CHECK_FAILS(m2m_ldevid_file_replace(ctx, "tpm2:nv=0x01800110", b),
		    M2M_ERR_USAGE, "only files are moved into place");
	CHECK_FAILS(m2m_ldevid_file_replace(ctx, "/tmp/x", b), M2M_ERR_USAGE,
		    "are not in the same directory");
}

UNIT_TEST(cert_remove_file)
{
	char path[PATH_MAX];
	struct stat st;

	CHECK(write_text("c.pem", "x", 1));
	CHECK_OK(m2m_cert_remove(ctx, tmp_path(path, "c.pem"), NULL));
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_FAILS(m2m_cert_remove(ctx, path, NULL), M2M_ERR_NOT_FOUND,
		    "cannot remove");
}

/* ---- running -------------------------------------------------------------- */

/* A CA dir/name, self-signed or under parent, with the device profile. */
static struct m2m_ca *ca_make(const char *name, const char *parent,
			      const char *subject)
{
	char path[PATH_MAX], ppath[PATH_MAX];
	struct m2m_ca_params p;
	struct m2m_ca *ca = NULL;

	memset(&p, 0, sizeof(p));
	p.dir = tmp_path(path, name);
	p.subject = subject;
	p.alg = M2M_KEY_EC_P256;
	p.path_len = -1;
	p.now = NOW;
	p.hw_type = HW_TYPE;
	p.device_subject = "O=Acme Devices";
	if (parent)
		p.parent_dir = tmp_path(ppath, parent);
	if (m2m_ca_create(ctx, &p, &ca) != M2M_OK) {
		printf("# %s: %s\n", name, m2m_ctx_detail(ctx));
		return NULL;
	}
	return ca;
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(make_and_parse_pem_der_words),
		UNIT(make_refusals),
		UNIT(parse_refuses_malformed_and_tampered),
		UNIT(anchors_files),
		UNIT(enroll_binds_ldevid_to_idevid),
		UNIT(enroll_refusals_trust),
		UNIT(enroll_key_reuse),
		UNIT(renew_supersedes_and_refusals),
		UNIT(renew_same_key_undeclared),
		UNIT(ed25519_ldevid_and_p384_signer),
		UNIT(next_locations_and_file_replace),
		UNIT(cert_remove_file),
	};
	struct m2m_ca *root = NULL;
	int rc = 1;

	umask(022);
	NOW = (int64_t)time(NULL);
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		goto out;
	}
	root = ca_make("mroot", NULL, "O=Acme,CN=Acme Root");
	mfab = root ? ca_make("mfab", "mroot", "O=Acme,CN=Acme Factory") : NULL;
	other = ca_make("other", NULL, "O=Other,CN=Other Root");
	op = ca_make("op", NULL, "O=Operator,CN=Operator CA");
	if (!root || !mfab || !other || !op || !set_anchors(""))
		printf("Bail out! cannot create the CAs\n");
	else
		rc = unit_run(tests, UNIT_COUNT(tests));
out:
	m2m_ca_close(root);
	m2m_ca_close(mfab);
	m2m_ca_close(other);
	m2m_ca_close(op);
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
