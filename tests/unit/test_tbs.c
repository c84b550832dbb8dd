/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the certificates lib/issue.c writes as DER by hand: each
 * one is compared, byte for byte, with the certificate built the way
 * lib/issue.c built it before (an X509 filled in through libcrypto, then
 * X509_sign_ctx and i2d; kept here as the reference), for the same request,
 * serial and time.  ECDSA signatures are not deterministic in OpenSSL 3.0,
 * so what is compared is the TBSCertificate and the signatureAlgorithm, and
 * the signature is verified; with RSA and Ed25519 CA keys the whole
 * certificate is compared.  The subject text and validity that the ledger
 * records are compared with what libcrypto reads from the reference.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/hex.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>
#include <m2m/profile.h>

#include "../../lib/ca_internal.h"
#include "../../lib/cert_internal.h"
#include "../../lib/der.h"
#include "../../lib/internal.h"
#include "../../lib/keystore/keystore.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-tbs-XXXXXX";
static int64_t NOW;
static unsigned cases;		/* certificates compared */

#define HW_TYPE		"1.3.6.1.4.1.99999.1.1"
#define DEV_SUBJECT	"O=Acme Devices,OU=Factory 1"

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

/* ---- the reference: lib/issue.c's build() as it was ---------------------- */

/* What the old plan() worked out for a request. */
struct ref_plan {
	const struct m2m_profile *prof;
	uint8_t ppid[M2M_PPID_MAX];
	size_t ppid_len;
	char device_serial[M2M_SERIAL_MAX + 1];
	uint8_t hwmodule[512];
	size_t hwmodule_len;
	X509_NAME *subject;		/* ldevid: the IDevID's; else NULL */
	int add_serial;
	uint8_t names[4096];
	size_t names_len;
};

static int ref_plan(struct m2m_ca *ca, const struct m2m_issue_request *req,
		    struct ref_plan *pl)
{
	char hex[M2M_PPID_HEX_MAX];
	const struct m2m_profile *prof;

	memset(pl, 0, sizeof(*pl));
	prof = m2m_profiles_get(&ca->profiles, req->profile ? req->profile :
				"idevid");
	if (!prof)
		return 0;
	pl->prof = prof;
	if (prof->type == M2M_PROFILE_LDEVID) {
		X509 *x = m2m_cert_x509(req->idevid);
		GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name,
						       NULL, NULL);
		int i;

		for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			const ASN1_STRING *seq;
			const uint8_t *hw, *sn;
			size_t hwlen, snlen;

			if (g->type != GEN_OTHERNAME ||
			    OBJ_length(g->d.otherName->type_id) !=
			    sizeof(m2m_oid_hwmodule) ||
			    memcmp(OBJ_get0_data(g->d.otherName->type_id),
				   m2m_oid_hwmodule,
				   sizeof(m2m_oid_hwmodule)) != 0)
				continue;
			seq = g->d.otherName->value->value.sequence;
			if (m2m_hwmodule_parse(ctx, seq->data,
					       (size_t)seq->length, &hw, &hwlen,
					       &sn, &snlen) != M2M_OK)
				break;
			memcpy(pl->ppid, sn, snlen);
			pl->ppid_len = snlen;
			memcpy(pl->hwmodule, seq->data, (size_t)seq->length);
			pl->hwmodule_len = (size_t)seq->length;
			break;
		}
		GENERAL_NAMES_free(gens);
		if (!prof->subject[0])
			pl->subject = X509_NAME_dup(X509_get_subject_name(x));
	} else if (m2m_ppid_encode(ctx, req->ppid, pl->ppid, sizeof(pl->ppid),
				   &pl->ppid_len) != M2M_OK) {
		return 0;
	}
	m2m_hex_encode(pl->ppid, pl->ppid_len, hex);
	if (req->device_serial)
		snprintf(pl->device_serial, sizeof(pl->device_serial), "%s",
			 req->device_serial);
	else if (prof->type == M2M_PROFILE_IDEVID &&
		 pl->ppid_len <= M2M_SERIAL_MAX / 2)
		memcpy(pl->device_serial, hex, 2 * pl->ppid_len + 1);
	pl->add_serial = pl->device_serial[0] &&
			 (prof->type == M2M_PROFILE_IDEVID || prof->subject[0]);
	if (req->csr) {
		STACK_OF(X509_EXTENSION) *exts = m2m_csr_extensions(req->csr);
		int idx = exts ? X509v3_get_ext_by_NID(exts,
						       NID_subject_alt_name,
						       -1) : -1;
		GENERAL_NAMES *gens = idx >= 0 ?
			X509V3_EXT_d2i(X509v3_get_ext(exts, idx)) : NULL;
		struct m2m_der d;
		int i;

		m2m_der_init(&d, pl->names, sizeof(pl->names));
		for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS)
				m2m_der_tlv(&d, 0x82, g->d.dNSName->data,
					    (size_t)g->d.dNSName->length);
			else if (g->type == GEN_URI)
				m2m_der_tlv(&d, 0x86,
					    g->d.uniformResourceIdentifier->data,
					    (size_t)g->d.uniformResourceIdentifier->length);
		}
		pl->names_len = d.len;
		GENERAL_NAMES_free(gens);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	return 1;
}

static X509_EXTENSION *ref_san(const struct ref_plan *pl,
			       const uint8_t *hw_type, size_t hw_type_len)
{
	uint8_t buf[4096 + 256];
	struct m2m_der d;
	size_t names, on, val, hw;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;

	m2m_der_init(&d, buf, sizeof(buf));
	names = m2m_der_open(&d, 0x30);
	on = m2m_der_open(&d, 0xa0);
	m2m_der_tlv(&d, 0x06, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule));
	val = m2m_der_open(&d, 0xa0);
	if (pl->hwmodule_len) {
		memcpy(d.buf + d.len, pl->hwmodule, pl->hwmodule_len);
		d.len += pl->hwmodule_len;
	} else {
		hw = m2m_der_open(&d, 0x30);
		memcpy(d.buf + d.len, hw_type, hw_type_len);
		d.len += hw_type_len;
		m2m_der_tlv(&d, 0x04, pl->ppid, pl->ppid_len);
		m2m_der_close(&d, hw);
	}
	m2m_der_close(&d, val);
	m2m_der_close(&d, on);
	if (pl->names_len) {
		memcpy(d.buf + d.len, pl->names, pl->names_len);
		d.len += pl->names_len;
	}
	m2m_der_close(&d, names);
	os = ASN1_OCTET_STRING_new();
	if (!d.bad && os && ASN1_OCTET_STRING_set(os, buf, (int)d.len))
		ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name,
						   0, os);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

static X509_EXTENSION *ref_ku(unsigned ku)
{
	ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
	X509_EXTENSION *ext = NULL;

	if (bs && (!(ku & M2M_KU_DIGITAL_SIGNATURE) ||
		   ASN1_BIT_STRING_set_bit(bs, 0, 1)) &&
	    (!(ku & M2M_KU_KEY_ENCIPHERMENT) ||
	     ASN1_BIT_STRING_set_bit(bs, 2, 1)) &&
	    (!(ku & M2M_KU_KEY_AGREEMENT) || ASN1_BIT_STRING_set_bit(bs, 4, 1)))
		ext = X509V3_EXT_i2d(NID_key_usage, 1, bs);
	ASN1_BIT_STRING_free(bs);
	return ext;
}

static X509_EXTENSION *ref_eku(unsigned eku)
{
	EXTENDED_KEY_USAGE *e = sk_ASN1_OBJECT_new_null();
	X509_EXTENSION *ext = NULL;

	if (e && (eku & M2M_EKU_CLIENT_AUTH))
		sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_client_auth));
	if (e && (eku & M2M_EKU_SERVER_AUTH))
		sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_server_auth));
	if (e)
		ext = X509V3_EXT_i2d(NID_ext_key_usage, 0, e);
	sk_ASN1_OBJECT_free(e);
	return ext;
}

static X509_EXTENSION *ref_aki(X509 *issuer)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	X509_EXTENSION *ext = NULL;

	if (akid && (akid->keyid = ASN1_OCTET_STRING_dup(
			     X509_get0_subject_key_id(issuer))))
		ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
	AUTHORITY_KEYID_free(akid);
	return ext;
}

static X509_EXTENSION *ref_ski(X509 *x)
{
	const unsigned char *pk;
	unsigned char md[20];
	int pklen;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	if (os && X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL,
					 X509_get_X509_PUBKEY(x)) &&
	    EVP_Digest(pk, (size_t)pklen, md, NULL, EVP_sha1(), NULL) &&
	    ASN1_OCTET_STRING_set(os, md, sizeof(md)))
		ext = X509V3_EXT_i2d(NID_subject_key_identifier, 0, os);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

static X509_EXTENSION *ref_policies(void)
{
	CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
	X509_EXTENSION *ext = NULL;
	POLICYINFO *a = POLICYINFO_new(), *b = POLICYINFO_new();

	if (pols && a && b &&
	    (a->policyid = OBJ_txt2obj("2.23.133.11.1.1", 1)) &&
	    (b->policyid = OBJ_txt2obj("2.23.133.11.1.2", 1)) &&
	    sk_POLICYINFO_push(pols, a) && (a = NULL, 1) &&
	    sk_POLICYINFO_push(pols, b) && (b = NULL, 1))
		ext = X509V3_EXT_i2d(NID_certificate_policies, 0, pols);
	POLICYINFO_free(a);
	POLICYINFO_free(b);
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	return ext;
}

static X509_EXTENSION *ref_masa(const char *url)
{
	uint8_t buf[300];
	struct m2m_der d;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.32", 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x16, url, strlen(url));
	if (oid && os && !d.bad && ASN1_OCTET_STRING_set(os, buf, (int)d.len))
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

/* The old m2m_csr_copy_spki(), from the request as libcrypto parses it. */
static int ref_copy_spki(const struct m2m_csr *csr, X509 *x)
{
	const uint8_t *der;
	const unsigned char *p;
	size_t len;
	X509_REQ *req = NULL;
	X509_PUBKEY *src;
	const unsigned char *pk;
	const void *pval;
	const ASN1_OBJECT *aobj;
	X509_ALGOR *alg;
	void *pdup = NULL;
	unsigned char *penc;
	int pklen, ptype, ok = 0;

	der = csr->der;
	len = csr->der_len;
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	src = req ? X509_REQ_get_X509_PUBKEY(req) : NULL;
	if (src && X509_PUBKEY_get0_param(NULL, &pk, &pklen, &alg, src)) {
		X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
		if (ptype == V_ASN1_OBJECT)
			pdup = OBJ_dup(pval);
		else if (ptype == V_ASN1_SEQUENCE)
			pdup = ASN1_STRING_dup(pval);
		penc = OPENSSL_memdup(pk, (size_t)pklen);
		ok = penc && X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
						    OBJ_dup(aobj), ptype, pdup,
						    penc, pklen);
	}
	X509_REQ_free(req);
	return ok;
}

static int add_ext(X509 *x, X509_EXTENSION *ext)
{
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

/* The certificate for req as the old code made it; NULL on failure. */
static X509 *ref_build(struct m2m_ca *ca, const struct m2m_issue_request *req,
		       const unsigned char serial[16])
{
	struct ref_plan *pl = malloc(sizeof(*pl));
	const struct m2m_profile *prof;
	X509 *ca_x = m2m_cert_x509(ca->cert), *x = NULL;
	X509_NAME *tmpl = NULL;
	ASN1_OBJECT *oid = NULL;
	EVP_MD_CTX *mctx = NULL;
	uint8_t hw_type[128], *p = hw_type;
	size_t hw_type_len = 0;
	int64_t not_after;
	int ok;

	if (!pl || !ref_plan(ca, req, pl))
		goto out;
	prof = pl->prof;
	if (prof->hw_type[0]) {
		oid = OBJ_txt2obj(prof->hw_type, 1);
		hw_type_len = (size_t)i2d_ASN1_OBJECT(oid, &p);
	}
	if (prof->subject[0]) {
		if (m2m_name_parse(ctx, prof->subject, &tmpl) != M2M_OK)
			goto out;
	} else {
		tmpl = X509_NAME_new();
	}
	x = X509_new();
	ok = x && X509_set_version(x, X509_VERSION_3) &&
	     ASN1_STRING_set(X509_get_serialNumber(x), serial, 16) &&
	     X509_set_issuer_name(x, X509_get_subject_name(ca_x)) &&
	     X509_set_subject_name(x, pl->subject ? pl->subject : tmpl) &&
	     (!pl->add_serial ||
	      X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
					 NID_serialNumber,
					 V_ASN1_PRINTABLESTRING,
					 (unsigned char *)pl->device_serial,
					 -1, -1, 0)) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)req->now);
	if (ok && prof->lifetime_days == 0) {
		ok = ASN1_TIME_set_string(X509_getm_notAfter(x),
					  "99991231235959Z");
	} else if (ok) {
		not_after = req->now + prof->lifetime_days * 86400;
		if (prof->type != M2M_PROFILE_IDEVID &&
		    not_after > ca->not_after)
			not_after = ca->not_after;
		ok = ASN1_TIME_set(X509_getm_notAfter(x),
				   (time_t)not_after) != NULL;
	}
	if (ok)
		ok = req->csr ? ref_copy_spki(req->csr, x) :
		     X509_set_pubkey(x, m2m_key_pkey(req->key));
	ok = ok && add_ext(x, ref_san(pl, hw_type, hw_type_len)) &&
	     (!prof->key_usage || add_ext(x, ref_ku(prof->key_usage))) &&
	     (!prof->ext_key_usage ||
	      add_ext(x, ref_eku(prof->ext_key_usage))) &&
	     add_ext(x, ref_aki(ca_x)) &&
	     (!prof->subject_key_id || add_ext(x, ref_ski(x))) &&
	     (!req->tpm_resident || add_ext(x, ref_policies())) &&
	     (!prof->masa_url[0] || add_ext(x, ref_masa(prof->masa_url)));
	ok = ok && m2m_sign_ctx_new(ctx, m2m_key_pkey(ca->key),
				    m2m_key_get_alg(ca->key), &mctx) == M2M_OK &&
	     X509_sign_ctx(x, mctx) > 0;
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
out:
	EVP_MD_CTX_free(mctx);
	ASN1_OBJECT_free(oid);
	X509_NAME_free(tmpl);
	if (pl)
		X509_NAME_free(pl->subject);
	free(pl);
	return x;
}

/* ---- the comparison ------------------------------------------------------- */

/* The first two elements of a Certificate: tbsCertificate, signatureAlgorithm. */
static int cert_parts(const uint8_t *der, size_t len, const uint8_t **tbs,
		      size_t *tbs_len, const uint8_t **alg, size_t *alg_len)
{
	const uint8_t *cert, *c;
	size_t off = 0, o = 0, certl, cl, at;

	if (m2m_der_read(der, len, &off, 0x30, &cert, &certl) < 0 ||
	    off != len)
		return 0;
	at = o;
	if (m2m_der_read(cert, certl, &o, 0x30, &c, &cl) < 0)
		return 0;
	*tbs = cert + at;
	*tbs_len = o - at;
	at = o;
	if (m2m_der_read(cert, certl, &o, 0x30, &c, &cl) < 0)
		return 0;
	*alg = cert + at;
	*alg_len = o - at;
	return 1;
}

/*
 * Issue for req both ways with one serial, and compare: TBSCertificate,
 * signatureAlgorithm, the whole DER for deterministic signatures, the
 * signature, the subject text and validity the ledger would get.
 */
static void compare(int line, struct m2m_ca *ca,
		    const struct m2m_issue_request *req)
{
	unsigned char serial[16], *ref_der = NULL;
	const uint8_t *der, *t1, *t2, *a1, *a2;
	size_t len, t1l, t2l, a1l, a2l;
	struct m2m_cert *cert = NULL;
	char text[1024], ref_text[1024], hex[33];
	int64_t nb = 0, na = 0;
	X509 *ref = NULL, *x = NULL;
	EVP_PKEY *ca_pub;
	enum m2m_err rc;
	int ref_len, k, deterministic;

	for (k = 0; k < 16; k++)
		serial[k] = (unsigned char)(0x11 * k + line);
	serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
	m2m_ctx_clear_error(ctx);
	rc = m2m_ca_make_cert(ctx, ca, req, serial, &cert, text, sizeof(text),
			      &nb, &na);
	if (!unit_check(rc == M2M_OK, __FILE__, line, "make_cert: %s: %s",
			m2m_strerror(rc), m2m_ctx_detail(ctx)))
		goto out;
	ref = ref_build(ca, req, serial);
	if (!unit_check(ref != NULL, __FILE__, line, "reference build failed"))
		goto out;
	ref_len = i2d_X509(ref, &ref_der);
	der = m2m_cert_der(cert, &len);
	if (!unit_check(ref_len > 0 && cert_parts(der, len, &t1, &t1l, &a1,
						  &a1l) &&
			cert_parts(ref_der, (size_t)ref_len, &t2, &t2l, &a2,
				   &a2l), __FILE__, line,
			"cannot take the certificates apart"))
		goto out;
	cases++;
	unit_eq_mem(__FILE__, line, "TBSCertificate", t1, t2,
		    t1l == t2l ? t1l : 0);
	unit_check(t1l == t2l, __FILE__, line, "TBSCertificate: %zu bytes, reference %zu",
		   t1l, t2l);
	unit_check(a1l == a2l && memcmp(a1, a2, a1l) == 0, __FILE__, line,
		   "signatureAlgorithm differs");
	deterministic = m2m_key_get_alg(ca->key) != M2M_KEY_EC_P256 &&
			m2m_key_get_alg(ca->key) != M2M_KEY_EC_P384;
	if (deterministic)
		unit_check(len == (size_t)ref_len &&
			   memcmp(der, ref_der, len) == 0, __FILE__, line,
			   "the certificate differs from the reference");
	x = m2m_cert_x509(cert);
	ca_pub = X509_get0_pubkey(m2m_cert_x509(ca->cert));
	unit_check(x && X509_verify(x, ca_pub) == 1, __FILE__, line,
		   "the signature does not verify");
	m2m_name_text(X509_get_subject_name(ref), ref_text, sizeof(ref_text));
	unit_check(strcmp(text, ref_text) == 0, __FILE__, line,
		   "subject text \"%s\", reference \"%s\"", text, ref_text);
	unit_check(nb == m2m_asn1_time_epoch(X509_get0_notBefore(ref)) &&
		   na == m2m_asn1_time_epoch(X509_get0_notAfter(ref)),
		   __FILE__, line, "validity %lld..%lld differs", (long long)nb,
		   (long long)na);
	m2m_hex_encode(serial, sizeof(serial), hex);
	unit_check(strcmp(m2m_cert_serial(cert), hex) == 0, __FILE__, line,
		   "serial %s, not %s", m2m_cert_serial(cert), hex);
out:
	OPENSSL_free(ref_der);
	X509_free(ref);
	m2m_cert_free(cert);
}

#define COMPARE(ca, req) compare(__LINE__, (ca), (req))

/* ---- inputs ---------------------------------------------------------------- */

static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

/* A self-signed CA dir/name with a key of alg, opened with its key. */
static struct m2m_ca *new_ca(const char *name, enum m2m_key_alg alg)
{
	char path[PATH_MAX];
	struct m2m_ca_params p;
	struct m2m_ca *ca = NULL;

	memset(&p, 0, sizeof(p));
	p.dir = tmp_path(path, name);
	p.subject = "C=DE,O=Acme,CN=Acme Device CA";
	p.alg = alg;
	p.path_len = -1;
	p.now = NOW;
	p.hw_type = HW_TYPE;
	p.device_subject = DEV_SUBJECT;
	CHECK_OK(m2m_ca_create(ctx, &p, &ca));
	return ca;
}

static void set(struct m2m_ca *ca, const char *profile, const char *key,
		const char *value)
{
	CHECK_OK(m2m_ca_profile_set(ctx, ca, profile, key, value));
}

static EVP_PKEY *keygen(enum m2m_key_alg alg)
{
	switch (alg) {
	case M2M_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case M2M_KEY_EC_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case M2M_KEY_RSA2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case M2M_KEY_RSA3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
}

/* A request for pk with subject "CN=device" and, if given, a SAN. */
static struct m2m_csr *csr_for(EVP_PKEY *pk, const char *san)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	struct m2m_csr *csr = NULL;
	unsigned char *der = NULL;
	int len = 0, ok, ed = EVP_PKEY_is_a(pk, "ED25519");

	ok = r && n &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					(const unsigned char *)"device", -1, -1,
					0) &&
	     X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, pk);
	if (ok && san) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
					  san);
		exts = sk_X509_EXTENSION_new_null();
		ok = ext && exts && sk_X509_EXTENSION_push(exts, ext) &&
		     X509_REQ_add_extensions(r, exts);
		if (!ok)
			X509_EXTENSION_free(ext);
	}
	ok = ok && X509_REQ_sign(r, pk, ed ? NULL : EVP_sha256()) > 0 &&
	     (len = i2d_X509_REQ(r, &der)) > 0;
	if (ok)
		CHECK_OK(m2m_csr_parse(ctx, der, (size_t)len, &csr));
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(r);
	return csr;
}

static const struct m2m_ppid *ppid_of(struct m2m_ppid *p, unsigned n)
{
	char text[32];

	m2m_ppid_init(p);
	snprintf(text, sizeof(text), "00:1A:7D:DA:%02X:%02X", (n >> 8) & 0xff,
		 n & 0xff);
	CHECK_OK(m2m_ppid_set_text(ctx, p, M2M_TECH_BLUETOOTH, text,
				   strlen(text)));
	return p;
}

static void request(struct m2m_issue_request *req, const char *profile,
		    const struct m2m_csr *csr, const struct m2m_ppid *ppid,
		    const char *serial)
{
	memset(req, 0, sizeof(*req));
	req->profile = profile;
	req->csr = csr;
	req->ppid = ppid;
	req->device_serial = serial;
	req->now = NOW;
}

/* ---- tests ------------------------------------------------------------------ */

/* Every device key, from a request and from a key, under each CA key. */
UNIT_TEST(device_keys_under_each_ca_key)
{
	static const enum m2m_key_alg ca_algs[] = {
		M2M_KEY_EC_P256, M2M_KEY_EC_P384, M2M_KEY_RSA2048,
		M2M_KEY_ED25519,
	};
	static const enum m2m_key_alg dev_algs[] = {
		M2M_KEY_EC_P256, M2M_KEY_EC_P384, M2M_KEY_RSA2048,
		M2M_KEY_RSA3072, M2M_KEY_ED25519,
	};
	struct m2m_issue_request req;
	struct m2m_ppid ppid;
	char name[32];
	size_t i, j;

	for (i = 0; i < sizeof(ca_algs) / sizeof(ca_algs[0]); i++) {
		struct m2m_ca *ca;

		snprintf(name, sizeof(name), "keys-%zu", i);
		ca = new_ca(name, ca_algs[i]);
		if (!CHECK(ca))
			continue;
		/* The rules keep ed25519 out of idevid profiles, not the DER. */
		ca->profiles.p[0].key_algs = (1u << M2M_KEY_ALG_COUNT) - 1;
		CHECK_EQ_STR(ca->profiles.p[0].name, "idevid");
		for (j = 0; j < sizeof(dev_algs) / sizeof(dev_algs[0]); j++) {
			EVP_PKEY *pk = keygen(dev_algs[j]);
			struct m2m_csr *csr = pk ? csr_for(pk, NULL) : NULL;
			struct m2m_key *key = NULL;

			CHECK(csr != NULL);
			request(&req, NULL, csr, ppid_of(&ppid, 0x100 + (unsigned)j),
				NULL);
			if (csr)
				COMPARE(ca, &req);
			CHECK_OK(m2m_key_new_ephemeral(ctx, dev_algs[j], &key));
			request(&req, "idevid", NULL, &ppid, "SN-key-1");
			req.key = key;
			if (key)
				COMPARE(ca, &req);
			req.tpm_resident = 1;
			if (key)
				COMPARE(ca, &req);
			m2m_key_free(key);
			m2m_csr_free(csr);
			EVP_PKEY_free(pk);
		}
		m2m_ca_close(ca);
	}
}

/* The profile options, one at a time and together. */
UNIT_TEST(profile_options)
{
	static const char *const subjects[] = {
		"",
		"CN=Sensor",
		"C=DE,ST=Bayern,L=M\xc3\xbcnchen,O=Acme\\, Inc.,OU=Line 2,"
		"CN=Sensor \\+x,DC=example,DC=com",
		"O=a\\\"b\\<c\\>d\\;e=f\\\\g,CN=\\#hash",
	};
	static const char *const serials[] = {
		NULL, "SN-1", " lead", "trail ", "a+b,c=d'(e)/f:g?h.",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	struct m2m_ca *ca = new_ca("options", M2M_KEY_EC_P256);
	struct m2m_issue_request req;
	struct m2m_ppid ppid;
	EVP_PKEY *pk = keygen(M2M_KEY_EC_P256);
	struct m2m_csr *csr = pk ? csr_for(pk, NULL) : NULL;
	struct m2m_csr *named = pk ? csr_for(pk, "DNS:dev.example.com,"
					     "URI:urn:dev:1,DNS:b.example") :
				NULL;
	size_t i, j;

	if (!CHECK(ca && csr && named))
		goto out;
	ppid_of(&ppid, 0x42);
	request(&req, NULL, csr, &ppid, NULL);
	COMPARE(ca, &req);
	set(ca, "idevid", "subject-key-id", "yes");
	COMPARE(ca, &req);
	set(ca, "idevid", "key-usage", "digitalSignature keyAgreement");
	COMPARE(ca, &req);
	set(ca, "idevid", "key-usage", "digitalSignature keyEncipherment");
	COMPARE(ca, &req);
	set(ca, "idevid", "key-usage", "none");
	COMPARE(ca, &req);
	set(ca, "idevid", "masa-url", "https://masa.example.com/.well-known/brski");
	COMPARE(ca, &req);
	set(ca, "idevid", "extended-key-usage", "clientAuth serverAuth");
	COMPARE(ca, &req);
	set(ca, "idevid", "lifetime", "3650d");		/* UTCTime */
	COMPARE(ca, &req);
	set(ca, "idevid", "lifetime", "36500d");	/* GeneralizedTime */
	COMPARE(ca, &req);
	req.tpm_resident = 1;
	COMPARE(ca, &req);
	set(ca, "idevid", "request-names", "dns uri");
	req.csr = named;
	COMPARE(ca, &req);
	req.csr = csr;
	set(ca, "idevid", "key-usage", "digitalSignature");
	set(ca, "idevid", "hw-type", "1.2.840.113549.1.9.16.1.999999");
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		set(ca, "idevid", "subject", subjects[i]);
		for (j = 0; j < sizeof(serials) / sizeof(serials[0]); j++) {
			req.device_serial = serials[j];
			COMPARE(ca, &req);
		}
	}
out:
	m2m_csr_free(csr);
	m2m_csr_free(named);
	EVP_PKEY_free(pk);
	m2m_ca_close(ca);
}

/* The subject text of serials of every character a serial may hold. */
UNIT_TEST(subject_text_of_every_serial_character)
{
	static const char chars[] = "ABCXYZabcxyz0189 '()+,-./:=?";
	struct m2m_ca *ca = new_ca("chars", M2M_KEY_ED25519);
	struct m2m_issue_request req;
	struct m2m_ppid ppid;
	struct m2m_key *key = NULL;
	char serial[4];
	size_t i;

	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &key));
	if (!CHECK(ca && key))
		goto out;
	request(&req, NULL, NULL, ppid_of(&ppid, 7), serial);
	req.key = key;
	for (i = 0; chars[i]; i++) {
		/* first, middle, last, alone */
		snprintf(serial, sizeof(serial), "%cx", chars[i]);
		COMPARE(ca, &req);
		snprintf(serial, sizeof(serial), "x%cx", chars[i]);
		COMPARE(ca, &req);
		snprintf(serial, sizeof(serial), "x%c", chars[i]);
		COMPARE(ca, &req);
		snprintf(serial, sizeof(serial), "%c", chars[i]);
		COMPARE(ca, &req);
	}
out:
	m2m_key_free(key);
	m2m_ca_close(ca);
}

/* LDevIDs: the IDevID's HardwareModuleName copied, its subject or a template. */
UNIT_TEST(ldevid_copies_the_hardware_module_name)
{
	struct m2m_ca *maker = new_ca("maker", M2M_KEY_EC_P256);
	struct m2m_ca *local = new_ca("local", M2M_KEY_EC_P384);
	struct m2m_issue_request req;
	struct m2m_issue_result idev;
	struct m2m_ppid ppid;
	EVP_PKEY *pk = keygen(M2M_KEY_EC_P256), *ed = keygen(M2M_KEY_ED25519);
	struct m2m_csr *csr = pk ? csr_for(pk, NULL) : NULL;
	struct m2m_csr *edcsr = ed ? csr_for(ed, NULL) : NULL;

	memset(&idev, 0, sizeof(idev));
	if (!CHECK(maker && local && csr && edcsr))
		goto out;
	set(maker, "idevid", "subject", "C=DE,O=Acme Devices,CN=Sensor 7");
	request(&req, NULL, csr, ppid_of(&ppid, 0x7113), "SN-L1");
	CHECK_OK(m2m_ca_issue(ctx, maker, &req, &idev));
	if (!CHECK(idev.cert))
		goto out;
	request(&req, "ldevid", edcsr, NULL, NULL);
	req.idevid = idev.cert;
	COMPARE(local, &req);
	req.device_serial = "SN-L1";
	COMPARE(local, &req);
	set(local, "ldevid", "subject", "O=Local,CN=Gateway");
	COMPARE(local, &req);
	req.device_serial = NULL;
	COMPARE(local, &req);
	set(local, "ldevid", "extended-key-usage", "serverAuth");
	set(local, "ldevid", "key-usage", "digitalSignature keyEncipherment");
	set(local, "ldevid", "subject-key-id", "yes");
	COMPARE(local, &req);
	/* a lifetime beyond the CA's own is cut to it */
	set(local, "ldevid", "lifetime", "36500d");
	COMPARE(local, &req);
	/* and the same on the maker's CA itself */
	COMPARE(maker, &req);
out:
	m2m_cert_free(idev.cert);
	m2m_csr_free(csr);
	m2m_csr_free(edcsr);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ed);
	m2m_ca_close(maker);
	m2m_ca_close(local);
}

/* What is issued for real is what the hook makes. */
UNIT_TEST(issued_certificates_are_recorded_as_made)
{
	struct m2m_ca *ca = new_ca("record", M2M_KEY_EC_P256);
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_cert_record r;
	struct m2m_ppid ppid;
	EVP_PKEY *pk = keygen(M2M_KEY_EC_P256);
	struct m2m_csr *csr = pk ? csr_for(pk, NULL) : NULL;
	const uint8_t *der;
	char text[1024];
	int64_t nb, na;
	size_t len;

	memset(&res, 0, sizeof(res));
	if (!CHECK(ca && csr))
		goto out;
	set(ca, "idevid", "lifetime", "30d");
	request(&req, NULL, csr, ppid_of(&ppid, 9), "S/N 9, rev+2 ");
	CHECK_OK(m2m_ca_issue(ctx, ca, &req, &res));
	if (!CHECK(res.cert) ||
	    !CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
					      m2m_cert_serial(res.cert), &r),
			  M2M_OK))
		goto out;
	der = m2m_cert_der(res.cert, &len);
	CHECK(r.der_len == len && memcmp(r.der, der, len) == 0);
	m2m_cert_subject(res.cert, text, sizeof(text));
	CHECK_EQ_STR(r.subject, text);
	m2m_cert_validity(res.cert, &nb, &na);
	CHECK(r.not_before == nb && r.not_after == na && nb == NOW &&
	      na == NOW + 30 * 86400);
	CHECK_EQ_INT((int)strlen(m2m_cert_serial(res.cert)), 32);
out:
	m2m_cert_free(res.cert);
	m2m_csr_free(csr);
	EVP_PKEY_free(pk);
	m2m_ca_close(ca);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(device_keys_under_each_ca_key),
		UNIT(profile_options),
		UNIT(subject_text_of_every_serial_character),
		UNIT(ldevid_copies_the_hardware_module_name),
		UNIT(issued_certificates_are_recorded_as_made),
	};
	int rc = 1;

	umask(022);
	/* A fixed time before 2050 and one whole second. */
	NOW = 1767225600;	/* 2026-01-01T00:00:00Z */
	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
	} else {
		rc = unit_run(tests, UNIT_COUNT(tests));
		printf("# %u certificates compared with the reference\n",
		       cases);
	}
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
