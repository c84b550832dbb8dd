/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LDevID requests: made in the device (a PKCS#10 request inside a CMS
 * SignedData signed by the IDevID, or by the current LDevID to renew),
 * and accepted by a CA (the signer checked against the profile's trust
 * anchors, or against the ledger).  The CMS is OpenSSL's; what is checked
 * on top of it, and in which order, is here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/ldevid.h>
#include <m2m/ledger.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "internal.h"
#include "keystore/keystore.h"
#include "keystore/tpm2_uri.h"
#include "ldevid_internal.h"

/* id-cmc-regInfo (RFC 5272, 6.12): "information specific to the CA". */
#define OID_REGINFO	"1.3.6.1.5.5.7.7.18"
#define REGINFO_MAX	64
#define WORD_REUSE	"reuse-key"

struct m2m_ldevid_request {
	enum m2m_ldevid_purpose purpose;
	unsigned flags;
	struct m2m_cert *signer;
	struct m2m_cert **chain;	/* the other certificates carried */
	size_t nchain;
	struct m2m_csr *csr;
};

struct m2m_anchors {
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
};

static const char *purpose_word(enum m2m_ldevid_purpose p)
{
	return p == M2M_LDEVID_RENEW ? "renew" : "ldevid";
}

static int looks_pem(const void *buf, size_t len)
{
	return len >= 11 && memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/* "2026-11-22T04:41:25Z" into buf. */
static const char *iso_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "?");
	return buf;
}

/* ---- making a request ----------------------------------------------------- */

enum m2m_err m2m_ldevid_request_make(struct m2m_ctx *ctx,
				     const struct m2m_key *new_key,
				     const struct m2m_key *signer_key,
				     struct m2m_cert *const *signer,
				     size_t nsigner,
				     enum m2m_ldevid_purpose purpose,
				     unsigned flags, enum m2m_format fmt,
				     char **out, size_t *len)
{
	struct m2m_csr *csr = NULL;
	char *csr_der = NULL, word[REGINFO_MAX];
	unsigned char *a = NULL, *b = NULL, *der = NULL;
	size_t na = 0, nb = 0, csr_len = 0, i;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	EVP_MD *md = NULL;
	ASN1_OBJECT *oid = NULL;
	BIO *in = NULL;
	const char *mdname;
	int n, same, reuse = (flags & M2M_LDEVID_REUSE_KEY) != 0;
	enum m2m_err rc;

	*out = NULL;
	*len = 0;
	if (nsigner == 0 || nsigner > M2M_CERT_LIST_MAX)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "a request carries its signer's certificate and at most %d certificates in all",
				 M2M_CERT_LIST_MAX);
	if (m2m_key_get_alg(signer_key) == M2M_KEY_ED25519)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "an ed25519 key cannot sign an LDevID request (OpenSSL 3.0's CMS has no EdDSA signer); enroll again with the IDevID instead");
	if (!m2m_cert_matches_key(signer[0], signer_key))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate %s is not the certificate of the key '%s'",
				 m2m_cert_serial(signer[0]),
				 m2m_key_uri(signer_key));
	rc = m2m_key_public_der(ctx, new_key, &a, &na);
	if (rc == M2M_OK)
		rc = m2m_key_public_der(ctx, signer_key, &b, &nb);
	if (rc != M2M_OK)
		goto out;
	same = na == nb && memcmp(a, b, na) == 0;
	if (same != reuse) {
		rc = m2m_error(ctx, M2M_ERR_USAGE, same ?
			       "the new key '%s' is the signing key: reusing it must be asked for" :
			       "reusing the signing key was asked for, but the new key '%s' is another",
			       m2m_key_uri(new_key));
		goto out;
	}
	rc = m2m_csr_make(ctx, new_key, NULL, &csr);
	if (rc == M2M_OK)
		rc = m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &csr_der,
				    &csr_len);
	if (rc != M2M_OK)
		goto out;

	mdname = m2m_sign_digest(m2m_key_get_alg(signer_key));
	md = mdname ? EVP_MD_fetch(ctx->libctx, mdname, NULL) : NULL;
	cms = CMS_sign_ex(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY,
			  ctx->libctx, NULL);
	oid = OBJ_txt2obj(OID_REGINFO, 1);
	if (!md || !cms || !oid) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot start a CMS SignedData");
		goto out;
	}
	si = CMS_add1_signer(cms, m2m_cert_x509(signer[0]),
			     m2m_key_pkey(signer_key), md,
			     CMS_BINARY | CMS_NOSMIMECAP);
	snprintf(word, sizeof(word), "%s%s", purpose_word(purpose),
		 reuse ? " " WORD_REUSE : "");
	if (!si ||
	    !CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_OCTET_STRING, word,
					 (int)strlen(word))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot add the signer '%s'",
				    m2m_key_uri(signer_key));
		goto out;
	}
	for (i = 1; i < nsigner; i++)
		if (!CMS_add1_cert(cms, m2m_cert_x509(signer[i]))) {
			rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot add chain certificate %zu",
					    i);
			goto out;
		}
	in = BIO_new_mem_buf(csr_der, (int)csr_len);
	if (!in || !CMS_final(cms, in, NULL, CMS_BINARY)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the request with '%s'",
				    m2m_key_uri(signer_key));
		goto out;
	}
	n = i2d_CMS_ContentInfo(cms, &der);
	if (n <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode the request");
		goto out;
	}
	rc = m2m_der_encode(ctx, der, (size_t)n, "CMS", fmt, out, len);
out:
	OPENSSL_free(der);
	BIO_free(in);
	ASN1_OBJECT_free(oid);
	CMS_ContentInfo_free(cms);
	EVP_MD_free(md);
	free(csr_der);
	m2m_csr_free(csr);
	free(a);
	free(b);
	ERR_clear_error();
	return rc;
}

/* ---- reading a request ---------------------------------------------------- */

void m2m_ldevid_request_free(struct m2m_ldevid_request *req)
{
	if (!req)
		return;
	m2m_cert_free(req->signer);
	m2m_cert_list_free(req->chain, req->nchain);
	m2m_csr_free(req->csr);
	free(req);
}

enum m2m_ldevid_purpose m2m_ldevid_request_purpose(
	const struct m2m_ldevid_request *req)
{
	return req->purpose;
}

unsigned m2m_ldevid_request_flags(const struct m2m_ldevid_request *req)
{
	return req->flags;
}

const struct m2m_cert *m2m_ldevid_request_signer(
	const struct m2m_ldevid_request *req)
{
	return req->signer;
}

const struct m2m_csr *m2m_ldevid_request_csr(
	const struct m2m_ldevid_request *req)
{
	return req->csr;
}

struct m2m_cert *const *m2m_ldevid_request_chain(
	const struct m2m_ldevid_request *req, size_t *n)
{
	*n = req->nchain;
	return req->chain;
}

enum m2m_err m2m_ldevid_request_assemble(struct m2m_ctx *ctx,
					 enum m2m_ldevid_purpose purpose,
					 unsigned flags,
					 struct m2m_cert **signer,
					 struct m2m_cert ***chain,
					 size_t nchain, struct m2m_csr **csr,
					 struct m2m_ldevid_request **out)
{
	struct m2m_ldevid_request *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	r->purpose = purpose;
	r->flags = flags;
	r->signer = *signer;
	*signer = NULL;
	r->chain = *chain;
	*chain = NULL;
	r->nchain = nchain;
	r->csr = *csr;
	*csr = NULL;
	*out = r;
	return M2M_OK;
}

/* The DER of the first "CMS" block of PEM text buf[0..len), into *der. */
static enum m2m_err pem_cms(struct m2m_ctx *ctx, const void *buf, size_t len,
			    unsigned char **der, size_t *der_len)
{
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	enum m2m_err rc = M2M_ERR_INVALID;

	*der = NULL;
	while (bio && PEM_read_bio(bio, &name, &header, &data, &n) == 1) {
		if (strcmp(name, "CMS") == 0) {
			*der = data;
			*der_len = (size_t)n;
			data = NULL;
			rc = M2M_OK;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
		if (rc == M2M_OK)
			break;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (rc != M2M_OK)
		return m2m_error(ctx, rc, "no well-formed CMS block in the PEM");
	return M2M_OK;
}

/* A certificate of the request as our own, parsed again with our caps. */
static enum m2m_err cert_of(struct m2m_ctx *ctx, X509 *x, size_t i,
			    struct m2m_cert **out)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	enum m2m_err rc;

	if (n <= 0)
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "certificate %zu of the request cannot be encoded",
				      i + 1);
	rc = m2m_cert_parse(ctx, der, (size_t)n, out);
	OPENSSL_free(der);
	if (rc != M2M_OK)
		m2m_error_prefix(ctx, "certificate %zu of the request", i + 1);
	return rc;
}

/* The regInfo attribute: "ldevid" or "renew", then maybe "reuse-key". */
static enum m2m_err reginfo(struct m2m_ctx *ctx, CMS_SignerInfo *si,
			    struct m2m_ldevid_request *r)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(OID_REGINFO, 1);
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	char text[REGINFO_MAX + 1], q[M2M_QUOTE_MAX];
	const char *sp;
	size_t n, w;
	int idx;
	enum m2m_err rc = M2M_ERR_INVALID;

	idx = oid ? CMS_signed_get_attr_by_OBJ(si, oid, -1) : -1;
	if (idx < 0) {
		m2m_error(ctx, rc, "the request has no signed regInfo attribute (%s): it is no LDevID request",
			  OID_REGINFO);
		goto out;
	}
	if (CMS_signed_get_attr_by_OBJ(si, oid, idx) >= 0) {
		m2m_error(ctx, rc, "the request has more than one regInfo attribute");
		goto out;
	}
	attr = CMS_signed_get_attr(si, idx);
	t = attr && X509_ATTRIBUTE_count(attr) == 1 ?
	    X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
	if (!t || t->type != V_ASN1_OCTET_STRING ||
	    t->value.octet_string->length <= 0 ||
	    t->value.octet_string->length > REGINFO_MAX) {
		m2m_error(ctx, rc, "the request's regInfo is not one OCTET STRING of 1 to %d bytes",
			  REGINFO_MAX);
		goto out;
	}
	n = (size_t)t->value.octet_string->length;
	memcpy(text, t->value.octet_string->data, n);
	text[n] = '\0';
	sp = memchr(text, ' ', n);
	w = sp ? (size_t)(sp - text) : n;
	if (w == 6 && memcmp(text, "ldevid", 6) == 0) {
		r->purpose = M2M_LDEVID_ENROLL;
	} else if (w == 5 && memcmp(text, "renew", 5) == 0) {
		r->purpose = M2M_LDEVID_RENEW;
	} else {
		m2m_error(ctx, rc, "the request's regInfo '%s' is neither 'ldevid' nor 'renew'",
			  m2m_quote(q, text, n));
		goto out;
	}
	if (sp && strcmp(sp + 1, WORD_REUSE) == 0) {
		r->flags |= M2M_LDEVID_REUSE_KEY;
	} else if (sp) {
		m2m_error(ctx, rc, "the request's regInfo '%s' has an unknown word",
			  m2m_quote(q, text, n));
		goto out;
	}
	rc = M2M_OK;
out:
	ASN1_OBJECT_free(oid);
	return rc;
}

/* The certificates: the signer's, then the others, as ours. */
static enum m2m_err request_certs(struct m2m_ctx *ctx, CMS_ContentInfo *cms,
				  X509 *signer, struct m2m_ldevid_request *r)
{
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	int i, n = certs ? sk_X509_num(certs) : 0;
	enum m2m_err rc = M2M_OK;

	r->chain = calloc(n > 0 ? (size_t)n : 1, sizeof(*r->chain));
	if (!r->chain) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n && rc == M2M_OK; i++) {
		X509 *x = sk_X509_value(certs, i);

		if (!r->signer && X509_cmp(x, signer) == 0)
			rc = cert_of(ctx, x, (size_t)i, &r->signer);
		else
			rc = cert_of(ctx, x, (size_t)i,
				     &r->chain[r->nchain++]);
	}
	if (rc == M2M_OK && !r->signer)
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request does not carry its signer's certificate");
out:
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * The SignedData's shape, before anything is verified: signed data
 * around attached id-data, one signer, 1 to M2M_CERT_LIST_MAX
 * certificates and the signer's among them.
 */
static enum m2m_err cms_shape(struct m2m_ctx *ctx, CMS_ContentInfo *cms,
			      CMS_SignerInfo **si)
{
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs;
	ASN1_OCTET_STRING **content;
	const ASN1_OBJECT *ect;
	int ncerts;

	*si = NULL;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request is a CMS message but not SignedData");
	ect = CMS_get0_eContentType(cms);
	if (!ect || OBJ_obj2nid(ect) != NID_pkcs7_data)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request's SignedData does not hold id-data");
	content = CMS_get0_content(cms);
	if (!content || !*content)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request's SignedData holds no request (detached content)");
	sis = CMS_get0_SignerInfos(cms);
	if (!sis || sk_CMS_SignerInfo_num(sis) != 1)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request has %d signers, not one",
				 sis ? sk_CMS_SignerInfo_num(sis) : 0);
	certs = CMS_get1_certs(cms);
	ncerts = certs ? sk_X509_num(certs) : 0;
	sk_X509_pop_free(certs, X509_free);
	if (ncerts < 1 || ncerts > M2M_CERT_LIST_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request carries %d certificates (1 to %d)",
				 ncerts, M2M_CERT_LIST_MAX);
	if (CMS_set1_signers_certs(cms, NULL, 0) != 1) {
		ERR_clear_error();
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request does not carry its signer's certificate");
	}
	*si = sk_CMS_SignerInfo_value(sis, 0);
	return M2M_OK;
}

enum m2m_err m2m_ldevid_request_parse(struct m2m_ctx *ctx, const void *buf,
				      size_t len,
				      struct m2m_ldevid_request **out)
{
	struct m2m_ldevid_request *r = NULL;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si = NULL;
	X509 *signer = NULL;
	BIO *content = NULL;
	unsigned char *pem_der = NULL;
	const unsigned char *der = buf, *p;
	char *data = NULL;
	size_t der_len = len;
	long n;
	enum m2m_err rc;

	*out = NULL;
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "the request is empty");
	if (len > M2M_LDEVID_REQUEST_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the request is larger than %d bytes",
				 M2M_LDEVID_REQUEST_MAX);
	r = calloc(1, sizeof(*r));
	if (!r)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (looks_pem(buf, len)) {
		rc = pem_cms(ctx, buf, len, &pem_der, &der_len);
		if (rc != M2M_OK)
			goto out;
		der = pem_der;
	}
	cms = CMS_ContentInfo_new_ex(ctx->libctx, NULL);
	if (!cms) {
		rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	p = der;
	if (!d2i_CMS_ContentInfo(&cms, &p, (long)der_len)) {
		cms = NULL;	/* freed by the failed decoder */
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "the request is not a DER CMS message");
		goto out;
	}
	if (p != der + der_len) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "%zu bytes of garbage after the request",
			       (size_t)(der + der_len - p));
		goto out;
	}
	rc = cms_shape(ctx, cms, &si);
	if (rc == M2M_OK)
		rc = reginfo(ctx, si, r);
	if (rc != M2M_OK)
		goto out;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
	content = BIO_new(BIO_s_mem());
	if (!content || !signer) {
		rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The signature only: whom the signer is, is for the CA to judge. */
	if (CMS_verify(cms, NULL, NULL, NULL, content,
		       CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		rc = m2m_error_ossl(ctx, M2M_ERR_VERIFY,
				    "the request's signature does not verify with the key of its certificate (it was changed, or signed by another key)");
		goto out;
	}
	n = BIO_get_mem_data(content, &data);
	if (n <= 0 || n > M2M_CERT_MAX || !data || data[0] != 0x30) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request's content is not a DER PKCS#10 request of at most %d bytes",
			       M2M_CERT_MAX);
		goto out;
	}
	rc = m2m_csr_parse(ctx, data, (size_t)n, &r->csr);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "the PKCS#10 request inside");
		goto out;
	}
	rc = request_certs(ctx, cms, signer, r);
	if (rc != M2M_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(pem_der);
	m2m_ldevid_request_free(r);
	ERR_clear_error();
	return rc;
}

/* ---- trust anchors ------------------------------------------------------------ */

void m2m_anchors_free(struct m2m_anchors *a)
{
	if (!a)
		return;
	sk_X509_pop_free(a->certs, X509_free);
	sk_X509_CRL_pop_free(a->crls, X509_CRL_free);
	free(a);
}

size_t m2m_anchors_count(const struct m2m_anchors *a, size_t *ncrls)
{
	if (ncrls)
		*ncrls = (size_t)sk_X509_CRL_num(a->crls);
	return (size_t)sk_X509_num(a->certs);
}

/* One PEM block of an anchors file: a certificate, a CRL, or skipped. */
static enum m2m_err anchors_block(struct m2m_ctx *ctx, struct m2m_anchors *a,
				  const char *name, const unsigned char *data,
				  long n, size_t block)
{
	const unsigned char *p = data;
	X509 *x = NULL;
	X509_CRL *crl = NULL;

	if (strcmp(name, "CERTIFICATE") == 0) {
		x = X509_new_ex(ctx->libctx, NULL);
		if (!x || !d2i_X509(&x, &p, n) || p != data + n) {
			X509_free(x);
			return m2m_error_ossl(ctx, M2M_ERR_INVALID,
					      "PEM block %zu is not a DER certificate",
					      block);
		}
		if (!sk_X509_push(a->certs, x)) {
			X509_free(x);
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
	} else if (strcmp(name, "X509 CRL") == 0) {
		crl = d2i_X509_CRL(NULL, &p, n);
		if (!crl || p != data + n) {
			X509_CRL_free(crl);
			return m2m_error_ossl(ctx, M2M_ERR_INVALID,
					      "PEM block %zu is not a DER CRL",
					      block);
		}
		if (!sk_X509_CRL_push(a->crls, crl)) {
			X509_CRL_free(crl);
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
	}
	return M2M_OK;
}

enum m2m_err m2m_anchors_parse(struct m2m_ctx *ctx, const void *buf,
			       size_t len, struct m2m_anchors **out)
{
	struct m2m_anchors *a = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	size_t blocks = 0;
	unsigned long e;
	enum m2m_err rc;

	*out = NULL;
	if (len > M2M_ANCHORS_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "larger than %d bytes", M2M_ANCHORS_MAX);
	a = calloc(1, sizeof(*a));
	if (!a)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	a->certs = sk_X509_new_null();
	a->crls = sk_X509_CRL_new_null();
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!a->certs || !a->crls || !bio) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	ERR_clear_error();
	for (;;) {
		if (!PEM_read_bio(bio, &name, &header, &data, &n)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "PEM block %zu is malformed",
					    blocks + 1);
			goto out;
		}
		if (++blocks > M2M_ANCHORS_BLOCKS_MAX) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "more than %d PEM blocks",
				       M2M_ANCHORS_BLOCKS_MAX);
			goto out;
		}
		rc = anchors_block(ctx, a, name, data, n, blocks);
		if (rc != M2M_OK)
			goto out;
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	if (sk_X509_num(a->certs) == 0) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "no CERTIFICATE block: no trust anchor");
		goto out;
	}
	*out = a;
	a = NULL;
	rc = M2M_OK;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	m2m_anchors_free(a);
	ERR_clear_error();
	return rc;
}

/* ---- accepting a request ------------------------------------------------------ */

/* An issuer without a CRL in the anchors file is not checked. */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	if (!ok && X509_STORE_CTX_get_error(sctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
		X509_STORE_CTX_set_error(sctx, X509_V_OK);
		return 1;
	}
	return ok;
}

/* The signer's chain, with what the request carries, to an anchor. */
static enum m2m_err chain_verify(struct m2m_ctx *ctx,
				 const struct m2m_anchors *a,
				 const struct m2m_ldevid_request *req,
				 int64_t now, const char *file)
{
	return m2m_anchors_verify(ctx, a, req->signer, req->chain, req->nchain,
				  now, "IDevID", file);
}

enum m2m_err m2m_anchors_verify(struct m2m_ctx *ctx,
				const struct m2m_anchors *a,
				const struct m2m_cert *cert,
				struct m2m_cert *const *chain, size_t nchain,
				int64_t now, const char *what, const char *file)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new_ex(ctx->libctx, NULL);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_VERIFY_PARAM *param;
	X509 *leaf = m2m_cert_x509(cert), *bad;
	char subject[M2M_DN_MAX];
	unsigned long flags = X509_V_FLAG_X509_STRICT |
			      X509_V_FLAG_PARTIAL_CHAIN;
	enum m2m_err rc;
	int i, err, depth;
	size_t k;

	if (!store || !sctx || !untrusted || !leaf) {
		rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(a->certs); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(a->certs, i))) {
			rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot use trust anchor %d", i + 1);
			goto out;
		}
	for (i = 0; i < sk_X509_CRL_num(a->crls); i++)
		if (!X509_STORE_add_crl(store, sk_X509_CRL_value(a->crls, i))) {
			rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot use CRL %d", i + 1);
			goto out;
		}
	if (sk_X509_CRL_num(a->crls) > 0)
		flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	for (k = 0; k < nchain; k++) {
		X509 *x = m2m_cert_x509(chain[k]);

		if (!x || !sk_X509_push(untrusted, x)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(sctx, store, leaf, untrusted)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot start verifying the %s", what);
		goto out;
	}
	param = X509_STORE_CTX_get0_param(sctx);
	X509_VERIFY_PARAM_set_flags(param, flags);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	X509_STORE_CTX_set_verify_cb(sctx, verify_cb);
	if (X509_verify_cert(sctx) == 1) {
		rc = M2M_OK;
		goto out;
	}
	err = X509_STORE_CTX_get_error(sctx);
	depth = X509_STORE_CTX_get_error_depth(sctx);
	bad = X509_STORE_CTX_get_current_cert(sctx);
	subject[0] = '\0';
	if (bad)
		m2m_name_text(X509_get_subject_name(bad), subject,
			      sizeof(subject));
	if (err == X509_V_ERR_CERT_REVOKED && depth == 0)
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the %s %s is revoked: a CRL in '%s' lists it",
			       what, m2m_cert_serial(cert), file);
	else if (err == X509_V_ERR_CERT_REVOKED)
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the %s's issuer '%s' is revoked: a CRL in '%s' lists it",
			       what, subject, file);
	else if (depth == 0)
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the %s %s does not verify to a trust anchor in '%s': %s",
			       what, m2m_cert_serial(cert), file,
			       X509_verify_cert_error_string(err));
	else
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the %s %s does not verify to a trust anchor in '%s': %s, at '%s'",
			       what, m2m_cert_serial(cert), file,
			       X509_verify_cert_error_string(err), subject);
out:
	sk_X509_free(untrusted);	/* the certificates are the request's */
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

/* "ldevid": the signer is an IDevID the profile's anchors vouch for. */
static enum m2m_err idevid_check(struct m2m_ctx *ctx, struct m2m_ca *ca,
				 const struct m2m_profile *prof,
				 const struct m2m_ldevid_request *req,
				 int64_t now)
{
	struct m2m_anchors *a = NULL;
	unsigned char *buf = NULL;
	char path[PATH_MAX];
	size_t len = 0;
	X509 *x;
	enum m2m_err rc;

	if (!prof->trust_anchors[0])
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "profile %s has no trust-anchors file, so it takes no IDevID: set one with 'm2m-ca profile set %s trust-anchors=FILE'",
				 prof->name, prof->name);
	m2m_ca_path(ca, prof->trust_anchors, path, sizeof(path));
	rc = m2m_file_read(ctx, path, M2M_ANCHORS_MAX, &buf, &len);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "trust anchors of profile %s", prof->name);
		goto out;
	}
	rc = m2m_anchors_parse(ctx, buf, len, &a);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "trust anchors '%s'", path);
		goto out;
	}
	x = m2m_cert_x509(req->signer);
	if (!x || X509_check_ca(x) != 0) {
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the request is signed by certificate %s, a CA certificate, not an IDevID",
			       m2m_cert_serial(req->signer));
		goto out;
	}
	rc = chain_verify(ctx, a, req, now, prof->trust_anchors);
out:
	m2m_anchors_free(a);
	free(buf);
	return rc;
}

/*
 * "renew": the signer is an LDevID of this CA, valid at now; *prof gets
 * its profile.
 */
static enum m2m_err current_check(struct m2m_ctx *ctx, struct m2m_ca *ca,
				  const struct m2m_ldevid_request *req,
				  int64_t now, const struct m2m_profile **prof)
{
	struct m2m_cert_record r;
	const char *serial = m2m_cert_serial(req->signer);
	const uint8_t *der;
	char t[32];
	size_t len;
	enum m2m_err rc;

	*prof = NULL;
	rc = m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), serial, &r);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "the LDevID %s that signs the renewal was not issued by this CA",
				 serial);
	if (rc != M2M_OK)
		return rc;
	der = m2m_cert_der(req->signer, &len);
	if (r.der_len != len || memcmp(r.der, der, len) != 0)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "the certificate %s that signs the renewal is not the one this CA issued with that serial",
				 serial);
	*prof = m2m_profiles_get(m2m_ca_profiles(ca), r.profile);
	if (!*prof || (*prof)->type != M2M_PROFILE_LDEVID)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "certificate %s that signs the renewal is no LDevID of this CA (profile %s)",
				 serial, r.profile);
	if (r.status == M2M_CERT_REVOKED)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "the LDevID %s that signs the renewal is revoked (%s, %s)",
				 serial, iso_time(r.revoked_at, t),
				 m2m_crl_reason_name(r.reason) ?
				 m2m_crl_reason_name(r.reason) : "unspecified");
	if (now > r.not_after)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "the LDevID %s that signs the renewal expired on %s",
				 serial, iso_time(r.not_after, t));
	if (now < r.not_before)
		return m2m_error(ctx, M2M_ERR_VERIFY,
				 "the LDevID %s that signs the renewal is valid only from %s",
				 serial, iso_time(r.not_before, t));
	return M2M_OK;
}

/* The new key is the signer's only when the request says so and may. */
static enum m2m_err reuse_check(struct m2m_ctx *ctx,
				const struct m2m_ldevid_request *req,
				unsigned policy_flags)
{
	X509 *x = m2m_cert_x509(req->signer);
	const uint8_t *spki;
	unsigned char *owned = NULL, *theirs = NULL;
	size_t n = 0;
	int nt, same, said = (req->flags & M2M_LDEVID_REUSE_KEY) != 0;
	int enroll = req->purpose == M2M_LDEVID_ENROLL;
	enum m2m_err rc = M2M_OK;

	if (!x || !m2m_csr_spki(req->csr, &spki, &n, &owned) ||
	    (nt = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &theirs)) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot compare the request's keys");
		goto out;
	}
	same = n == (size_t)nt && memcmp(spki, theirs, n) == 0;
	if (same && !said)
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request's new key is the %s's key, but the request does not say it reuses it",
			       enroll ? "IDevID" : "current LDevID");
	else if (!same && said)
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request says it reuses the %s's key, but its new key is another",
			       enroll ? "IDevID" : "current LDevID");
	else if (same && enroll && !(policy_flags & M2M_LDEVID_ALLOW_KEY_REUSE))
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the request reuses the IDevID's key, which is refused unless allowed (--allow-key-reuse)");
out:
	OPENSSL_free(owned);
	OPENSSL_free(theirs);
	ERR_clear_error();
	return rc;
}

enum m2m_err m2m_ldevid_accept(struct m2m_ctx *ctx, struct m2m_ca *ca,
			       const struct m2m_ldevid_request *req,
			       const struct m2m_ldevid_policy *policy,
			       struct m2m_issue_result *res)
{
	static const struct m2m_ldevid_policy none;
	struct m2m_issue_request ir;
	const struct m2m_profile *prof = NULL, *current = NULL;
	const char *name;
	int64_t now;
	enum m2m_err rc;

	memset(res, 0, sizeof(*res));
	if (!policy)
		policy = &none;
	now = m2m_now(policy->now);
	if (req->purpose == M2M_LDEVID_RENEW) {
		rc = current_check(ctx, ca, req, now, &current);
		if (rc != M2M_OK)
			return rc;
		if (policy->profile && strcmp(policy->profile, current->name))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "a renewal keeps the profile of the LDevID it renews (%s), not %s",
					 current->name, policy->profile);
		prof = current;
	} else {
		name = policy->profile ? policy->profile : "ldevid";
		prof = m2m_profiles_get(m2m_ca_profiles(ca), name);
		if (!prof)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "CA '%s' has no profile '%s'",
					 m2m_ca_dir(ca), name);
		if (prof->type != M2M_PROFILE_LDEVID)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "profile %s issues IDevIDs, not LDevIDs: it takes no LDevID request",
					 prof->name);
		rc = idevid_check(ctx, ca, prof, req, now);
		if (rc != M2M_OK)
			return rc;
	}
	rc = reuse_check(ctx, req, policy->flags);
	if (rc != M2M_OK)
		return rc;
	memset(&ir, 0, sizeof(ir));
	ir.profile = prof->name;
	ir.csr = req->csr;
	ir.idevid = req->signer;
	ir.replace = req->purpose == M2M_LDEVID_RENEW ? 1 : policy->replace;
	ir.now = now;
	return m2m_ca_issue(ctx, ca, &ir, res);
}

/* ---- renewing in the device ----------------------------------------------------- */

enum m2m_err m2m_ldevid_next_location(struct m2m_ctx *ctx, const char *uri,
				      int cert, char *out, size_t size)
{
	const char *scheme = m2m_key_scheme(uri);
	struct m2m_tpm2_uri u;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc;
	uint32_t h;
	int n;

	if (size)
		out[0] = '\0';
	if (scheme && strcmp(scheme, "pkcs11") == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "a pkcs11: %s has no place to go by default: name one",
				 cert ? "certificate" : "key");
	if (scheme && strcmp(scheme, "tpm2") == 0) {
		rc = m2m_tpm2_uri_parse(ctx, uri + 5, strlen(uri + 5), &u);
		if (rc != M2M_OK)
			return rc;
		if (u.kind != (cert ? M2M_TPM2_URI_NV : M2M_TPM2_URI_HANDLE))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is no TPM %s",
					 m2m_quote(q, uri, strlen(uri)),
					 cert ? "NV index (nv=)" : "key (handle=)");
		h = u.handle ^ 1u;
		if (!cert && (h == M2M_TPM2_SRK || h == u.parent))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "the handle beside 0x%08x is the parent's: name where the new key goes",
					 u.handle);
		if (cert)
			n = snprintf(out, size, "tpm2:nv=0x%08x", h);
		else if (u.parent_given)
			n = snprintf(out, size, "tpm2:handle=0x%08x;parent=0x%08x",
				     h, u.parent);
		else
			n = snprintf(out, size, "tpm2:handle=0x%08x", h);
	} else {
		n = snprintf(out, size, "%s.new", uri);
	}
	if (n < 0 || (size_t)n >= size) {
		if (size)
			out[0] = '\0';
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the location beside '%s' is too long",
				 m2m_quote(q, uri, strlen(uri)));
	}
	return M2M_OK;
}

enum m2m_err m2m_ldevid_file_replace(struct m2m_ctx *ctx, const char *from,
				     const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	const char *sa = m2m_key_scheme(from), *sb = m2m_key_scheme(to);
	enum m2m_err rc;

	if (!sa || !sb || strcmp(sa, "file") || strcmp(sb, "file"))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "only files are moved into place");
	rc = m2m_keystore_file_path(ctx, from, a);
	if (rc == M2M_OK)
		rc = m2m_keystore_file_path(ctx, to, b);
	if (rc != M2M_OK)
		return rc;
	if (!m2m_same_dir(a, b))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "'%s' and '%s' are not in the same directory",
				 a, b);
	if (rename(a, b) < 0)
		return m2m_error(ctx, M2M_ERR_IO, "cannot move '%s' to '%s': %s",
				 a, b, strerror(errno));
	return m2m_sync_path(ctx, b);
}
