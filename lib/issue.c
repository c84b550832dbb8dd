/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Issuing DevID certificates.  The hot path of a factory batch, so what is
 * the same for every certificate is made once per CA and profile (the
 * signing context, AKI, key usage, EKU, the subject template, the hwType
 * DER), the subject public key is carried over from the request as it is
 * (no re-encoding through the provider machinery), and subjectAltName is
 * written as DER by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <m2m/hex.h>
#include <m2m/manifest.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "der.h"
#include "internal.h"
#include "keystore/keystore.h"

#define SERIAL_RETRIES 8
#define SAN_MAX 4096
#define HWMODULE_MAX 512	/* a HardwareModuleName's DER, at most */

static void cache_release(struct m2m_profile_cache *pc)
{
	X509_NAME_free(pc->subject);
	X509_EXTENSION_free(pc->ku);
	X509_EXTENSION_free(pc->eku);
	X509_EXTENSION_free(pc->masa);
	memset(pc, 0, sizeof(*pc));
}

void m2m_ca_issuer_release(struct m2m_ca *ca)
{
	int i;

	EVP_MD_CTX_free(ca->sign);
	ca->sign = NULL;
	X509_EXTENSION_free(ca->aki);
	ca->aki = NULL;
	X509_EXTENSION_free(ca->policies);
	ca->policies = NULL;
	for (i = 0; i < M2M_PROFILES_MAX; i++)
		cache_release(&ca->cache[i]);
}

/* certificatePolicies: TCG verifiedTPMResidency and verifiedTPMFixed. */
static X509_EXTENSION *tpm_policies_ext(void)
{
	static const char *const oids[] = { "2.23.133.11.1.1",
					    "2.23.133.11.1.2" };
	CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
	X509_EXTENSION *ext = NULL;
	size_t i;
	int ok = pols != NULL;

	for (i = 0; ok && i < sizeof(oids) / sizeof(oids[0]); i++) {
		POLICYINFO *pi = POLICYINFO_new();

		ok = pi && (pi->policyid = OBJ_txt2obj(oids[i], 1)) &&
		     sk_POLICYINFO_push(pols, pi) > 0;
		if (!ok)
			POLICYINFO_free(pi);
	}
	if (ok)
		ext = X509V3_EXT_i2d(NID_certificate_policies, 0, pols);
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	return ext;
}

static enum m2m_err issuer_prepare(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	const ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *akid = NULL;
	enum m2m_err rc;

	if (ca->sign)
		return M2M_OK;
	if (!ca->key)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "the CA was opened without its key");
	ski = X509_get0_subject_key_id(m2m_cert_x509(ca->cert));
	if (!ski)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the CA certificate has no subjectKeyIdentifier");
	akid = AUTHORITY_KEYID_new();
	if (!akid || !(akid->keyid = ASN1_OCTET_STRING_dup(ski)) ||
	    !(ca->aki = X509V3_EXT_i2d(NID_authority_key_identifier, 0,
				       akid))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the authorityKeyIdentifier");
		goto out;
	}
	ca->policies = tpm_policies_ext();
	if (!ca->policies) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the certificatePolicies");
		goto out;
	}
	rc = m2m_sign_ctx_new(ctx, m2m_key_pkey(ca->key),
			      m2m_key_get_alg(ca->key), &ca->sign);
out:
	AUTHORITY_KEYID_free(akid);
	if (rc != M2M_OK)
		m2m_ca_issuer_release(ca);
	return rc;
}

enum m2m_err m2m_ca_sign_ctx(struct m2m_ctx *ctx, struct m2m_ca *ca,
			     EVP_MD_CTX **out)
{
	EVP_MD_CTX *m;
	enum m2m_err rc;

	*out = NULL;
	rc = issuer_prepare(ctx, ca);
	if (rc != M2M_OK)
		return rc;
	m = EVP_MD_CTX_new();
	if (m && EVP_MD_CTX_copy_ex(m, ca->sign)) {
		*out = m;
		return M2M_OK;
	}
	/* Some signature providers cannot duplicate: start afresh. */
	EVP_MD_CTX_free(m);
	ERR_clear_error();
	return m2m_sign_ctx_new(ctx, m2m_key_pkey(ca->key),
				m2m_key_get_alg(ca->key), out);
}

static X509_EXTENSION *ku_ext(unsigned ku)
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

static X509_EXTENSION *eku_ext(unsigned eku)
{
	EXTENDED_KEY_USAGE *e = sk_ASN1_OBJECT_new_null();
	X509_EXTENSION *ext = NULL;
	int ok = e != NULL;

	if (ok && (eku & M2M_EKU_CLIENT_AUTH))
		ok = sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_client_auth)) > 0;
	if (ok && (eku & M2M_EKU_SERVER_AUTH))
		ok = sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_server_auth)) > 0;
	if (ok)
		ext = X509V3_EXT_i2d(NID_ext_key_usage, 0, e);
	sk_ASN1_OBJECT_free(e);	/* the objects are static */
	return ext;
}

/* id-pe-masa-url (1.3.6.1.5.5.7.1.32): an IA5String. */
static X509_EXTENSION *masa_ext(const char *url)
{
	uint8_t buf[M2M_URL_TEXT_MAX + 8];
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

static enum m2m_err profile_prepare(struct m2m_ctx *ctx, struct m2m_ca *ca,
				    const struct m2m_profile *prof,
				    struct m2m_profile_cache **out)
{
	struct m2m_profile_cache *pc;
	ASN1_OBJECT *oid = NULL;
	unsigned char *p;
	enum m2m_err rc = M2M_OK;
	int n;

	pc = &ca->cache[prof - ca->profiles.p];
	*out = pc;
	if (pc->ready)
		return M2M_OK;
	if (prof->subject[0]) {
		rc = m2m_name_parse(ctx, prof->subject, &pc->subject);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "profile %s: subject", prof->name);
			goto out;
		}
	} else {
		pc->subject = X509_NAME_new();
	}
	if (prof->hw_type[0]) {
		oid = OBJ_txt2obj(prof->hw_type, 1);
		n = oid ? i2d_ASN1_OBJECT(oid, NULL) : -1;
		if (n <= 0 || (size_t)n > sizeof(pc->hw_type)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "profile %s: hw-type '%s' is not an OID",
					    prof->name, prof->hw_type);
			goto out;
		}
		p = pc->hw_type;
		pc->hw_type_len = (size_t)i2d_ASN1_OBJECT(oid, &p);
	}
	if ((prof->key_usage && !(pc->ku = ku_ext(prof->key_usage))) ||
	    (prof->ext_key_usage && !(pc->eku = eku_ext(prof->ext_key_usage))) ||
	    (prof->masa_url[0] && !(pc->masa = masa_ext(prof->masa_url))) ||
	    !pc->subject) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "profile %s: cannot make its extensions",
				    prof->name);
		goto out;
	}
	pc->ready = 1;
out:
	ASN1_OBJECT_free(oid);
	if (rc != M2M_OK)
		cache_release(pc);
	return rc;
}

/* ---- what a request must satisfy ----------------------------------------- */

/* Everything about one request that the certificate is made from. */
struct issue_plan {
	const struct m2m_profile *prof;
	struct m2m_profile_cache *pc;
	enum m2m_key_alg alg;
	uint8_t ppid[M2M_PPID_MAX];
	size_t ppid_len;
	char ppid_hex[M2M_PPID_HEX_MAX];
	char device_serial[M2M_SERIAL_MAX + 1];
	size_t hwmodule_len;		/* ldevid: the IDevID's, DER; 0 none */
	X509_NAME *subject;		/* owned; NULL: the profile's */
	int add_serial;			/* subject gets device_serial */
	char subject_text[1024];	/* made by build() */
	char vouched_by[M2M_CERT_SERIAL_HEX];
	int64_t now;
	/* Large buffers last: plan() clears only what comes before them. */
	uint8_t hwmodule[HWMODULE_MAX];
	uint8_t names[SAN_MAX];		/* DNS/URI GeneralNames, DER */
	size_t names_len;
};

/* The request's DNS and URI names, checked against the profile. */
static enum m2m_err request_names(struct m2m_ctx *ctx,
				  const struct m2m_issue_request *req,
				  struct issue_plan *pl)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	struct m2m_der d;
	enum m2m_err rc = M2M_OK;
	int i, idx;

	pl->names_len = 0;
	if (!req->csr)
		return M2M_OK;
	exts = m2m_csr_extensions(req->csr);
	idx = exts ? X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) : -1;
	if (idx < 0)
		goto out;
	gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx));
	if (!gens) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "request has a malformed subjectAltName");
		goto out;
	}
	m2m_der_init(&d, pl->names, sizeof(pl->names));
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_IA5STRING *s;

		if (g->type == GEN_DNS &&
		    (pl->prof->request_names & M2M_SAN_DNS)) {
			s = g->d.dNSName;
			m2m_der_tlv(&d, 0x82, s->data, (size_t)s->length);
		} else if (g->type == GEN_URI &&
			   (pl->prof->request_names & M2M_SAN_URI)) {
			s = g->d.uniformResourceIdentifier;
			m2m_der_tlv(&d, 0x86, s->data, (size_t)s->length);
		} else {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "request asks for a subjectAltName of a kind profile %s does not allow (%s)",
				       pl->prof->name,
				       g->type == GEN_DNS ? "DNS" :
				       g->type == GEN_URI ? "URI" :
				       g->type == GEN_IPADD ? "IP address" :
				       g->type == GEN_EMAIL ? "e-mail" : "other");
			goto out;
		}
	}
	if (d.bad) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "request's subjectAltName is too large");
		goto out;
	}
	pl->names_len = d.len;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* ldevid: the IDevID's HardwareModuleName and PPID, and its subject. */
static enum m2m_err from_idevid(struct m2m_ctx *ctx, const struct m2m_cert *idevid,
				struct issue_plan *pl)
{
	X509 *x = m2m_cert_x509(idevid);
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
					       NULL);
	const uint8_t *hw, *sn;
	size_t hwlen, snlen;
	enum m2m_err rc;
	int i;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const OTHERNAME *on = g->d.otherName;
		unsigned char *der;

		if (g->type != GEN_OTHERNAME ||
		    OBJ_length(on->type_id) != sizeof(m2m_oid_hwmodule) ||
		    memcmp(OBJ_get0_data(on->type_id), m2m_oid_hwmodule,
			   sizeof(m2m_oid_hwmodule)) != 0 ||
		    on->value->type != V_ASN1_SEQUENCE)
			continue;
		der = on->value->value.sequence->data;
		rc = m2m_hwmodule_parse(ctx, der,
					(size_t)on->value->value.sequence->length,
					&hw, &hwlen, &sn, &snlen);
		if (rc != M2M_OK)
			goto out;
		if (snlen > sizeof(pl->ppid) || snlen == 0) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the IDevID's hwSerialNum is %zu bytes long",
				       snlen);
			goto out;
		}
		if ((size_t)on->value->value.sequence->length >
		    sizeof(pl->hwmodule)) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the IDevID's HardwareModuleName is longer than %d bytes",
				       HWMODULE_MAX);
			goto out;
		}
		/* Copies: gens is freed below. */
		memcpy(pl->ppid, sn, snlen);
		pl->ppid_len = snlen;
		pl->hwmodule_len = (size_t)on->value->value.sequence->length;
		memcpy(pl->hwmodule, der, pl->hwmodule_len);
		break;
	}
	if (!pl->hwmodule_len) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the IDevID has no HardwareModuleName");
		goto out;
	}
	if (!pl->prof->subject[0]) {
		X509_NAME_free(pl->subject);
		pl->subject = X509_NAME_dup(X509_get_subject_name(x));
		if (!pl->subject) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	snprintf(pl->vouched_by, sizeof(pl->vouched_by), "%s",
		 m2m_cert_serial(idevid));
	rc = M2M_OK;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static void plan_release(struct issue_plan *pl)
{
	X509_NAME_free(pl->subject);
	pl->subject = NULL;
}

static enum m2m_err plan(struct m2m_ctx *ctx, struct m2m_ca *ca,
			 const struct m2m_issue_request *req,
			 struct issue_plan *pl)
{
	const struct m2m_profile *prof;
	char allowed[128];
	size_t o = 0;
	enum m2m_err rc;
	int a;

	memset(pl, 0, offsetof(struct issue_plan, hwmodule));
	pl->names_len = 0;
	pl->now = m2m_now(req->now);
	prof = m2m_profiles_get(&ca->profiles, req->profile ? req->profile :
				"idevid");
	if (!prof)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "CA '%s' has no profile '%s'", ca->dir,
				 req->profile ? req->profile : "idevid");
	pl->prof = prof;
	rc = issuer_prepare(ctx, ca);
	if (rc == M2M_OK)
		rc = profile_prepare(ctx, ca, prof, &pl->pc);
	if (rc != M2M_OK)
		return rc;
	if (!req->csr == !req->key)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "give either a request or a key");
	pl->alg = req->csr ? m2m_csr_key_alg(req->csr) :
		  m2m_key_get_alg(req->key);
	if (!(prof->key_algs & (1u << pl->alg))) {
		for (a = 0; a < M2M_KEY_ALG_COUNT; a++)
			if (prof->key_algs & (1u << a))
				o += (size_t)snprintf(allowed + o,
						      sizeof(allowed) - o,
						      "%s%s", o ? " " : "",
						      m2m_key_alg_name(a));
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "profile %s does not allow %s keys (allowed: %s)",
				 prof->name, m2m_key_alg_name(pl->alg),
				 o ? allowed : "none");
	}
	if (prof->type == M2M_PROFILE_LDEVID) {
		if (!req->idevid)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "profile %s issues LDevIDs: the request must come with the device's IDevID",
					 prof->name);
		rc = from_idevid(ctx, req->idevid, pl);
		if (rc != M2M_OK)
			return rc;
	} else {
		if (!req->ppid || req->ppid->mask == 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "an IDevID needs the device's PPID (--ppid or its addresses)");
		if (!prof->hw_type[0])
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "profile %s has no hw-type: set the device model OID with 'm2m-ca profile set %s hw-type=OID'",
					 prof->name, prof->name);
		rc = m2m_ppid_encode(ctx, req->ppid, pl->ppid,
				     sizeof(pl->ppid), &pl->ppid_len);
		if (rc != M2M_OK)
			return rc;
	}
	m2m_hex_encode(pl->ppid, pl->ppid_len, pl->ppid_hex);
	if (req->device_serial) {
		rc = m2m_device_serial_check(ctx, req->device_serial,
					     strlen(req->device_serial));
		if (rc != M2M_OK)
			return rc;
		snprintf(pl->device_serial, sizeof(pl->device_serial), "%s",
			 req->device_serial);
	} else if (prof->type == M2M_PROFILE_IDEVID) {
		if (pl->ppid_len > M2M_SERIAL_MAX / 2)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "a PPID of %zu bytes does not fit the subject serialNumber (64 characters): give the device serial number",
					 pl->ppid_len);
		memcpy(pl->device_serial, pl->ppid_hex, 2 * pl->ppid_len + 1);
	}
	pl->add_serial = pl->device_serial[0] &&
			 (prof->type == M2M_PROFILE_IDEVID || prof->subject[0]);
	return request_names(ctx, req, pl);
}

/* ---- the certificate --------------------------------------------------------- */

/* subjectAltName: the HardwareModuleName, then the request's names. */
static X509_EXTENSION *san_ext(const struct issue_plan *pl)
{
	uint8_t buf[SAN_MAX + 256];
	struct m2m_der d;
	size_t names, on, val, hw;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;

	m2m_der_init(&d, buf, sizeof(buf));
	names = m2m_der_open(&d, 0x30);
	on = m2m_der_open(&d, 0xa0);	/* otherName [0] */
	m2m_der_tlv(&d, 0x06, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule));
	val = m2m_der_open(&d, 0xa0);	/* value [0] EXPLICIT */
	if (pl->hwmodule_len) {
		/* ldevid: the IDevID's HardwareModuleName, unchanged. */
		if (d.size - d.len < pl->hwmodule_len)
			return NULL;
		memcpy(d.buf + d.len, pl->hwmodule, pl->hwmodule_len);
		d.len += pl->hwmodule_len;
	} else {
		hw = m2m_der_open(&d, 0x30);
		if (d.size - d.len < pl->pc->hw_type_len)
			return NULL;
		memcpy(d.buf + d.len, pl->pc->hw_type, pl->pc->hw_type_len);
		d.len += pl->pc->hw_type_len;
		m2m_der_tlv(&d, 0x04, pl->ppid, pl->ppid_len);
		m2m_der_close(&d, hw);
	}
	m2m_der_close(&d, val);
	m2m_der_close(&d, on);
	if (pl->names_len) {
		if (d.size - d.len < pl->names_len)
			return NULL;
		memcpy(d.buf + d.len, pl->names, pl->names_len);
		d.len += pl->names_len;
	}
	m2m_der_close(&d, names);
	if (d.bad)
		return NULL;
	os = ASN1_OCTET_STRING_new();
	if (os && ASN1_OCTET_STRING_set(os, buf, (int)d.len))
		ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name,
						   0, os);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

static X509_EXTENSION *ski_ext(X509 *x)
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

static int add_ext(X509 *x, X509_EXTENSION *ext, int owned)
{
	int ok = ext && X509_add_ext(x, ext, -1);

	if (owned)
		X509_EXTENSION_free(ext);
	return ok;
}

/*
 * The subject is made in place, in the certificate: a copy of an
 * X509_NAME costs as much as signing (OpenSSL re-parses it and makes its
 * canonical form), so the profile's is copied once, not twice.
 */
static enum m2m_err build(struct m2m_ctx *ctx, struct m2m_ca *ca,
			  const struct m2m_issue_request *req,
			  struct issue_plan *pl, struct m2m_cert **out)
{
	const struct m2m_profile *prof = pl->prof;
	unsigned char serial[16];
	EVP_MD_CTX *mctx = NULL;
	X509 *x = NULL;
	int64_t not_after;
	enum m2m_err rc;
	int ok;

	*out = NULL;
	rc = m2m_random_serial(ctx, serial);
	if (rc != M2M_OK)
		return rc;
	x = X509_new_ex(ctx->libctx, NULL);
	ok = x && X509_set_version(x, X509_VERSION_3) &&
	     ASN1_STRING_set(X509_get_serialNumber(x), serial, sizeof(serial)) &&
	     X509_set_issuer_name(x, X509_get_subject_name(m2m_cert_x509(ca->cert))) &&
	     X509_set_subject_name(x, pl->subject ? pl->subject :
				   pl->pc->subject) &&
	     (!pl->add_serial ||
	      X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
					 NID_serialNumber,
					 V_ASN1_PRINTABLESTRING,
					 (unsigned char *)pl->device_serial,
					 -1, -1, 0)) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)pl->now);
	if (ok)
		m2m_name_text(X509_get_subject_name(x), pl->subject_text,
			      sizeof(pl->subject_text));
	if (ok && prof->lifetime_days == 0) {
		ok = ASN1_TIME_set_string(X509_getm_notAfter(x),
					  "99991231235959Z");
	} else if (ok) {
		not_after = pl->now + prof->lifetime_days * 86400;
		if (prof->type != M2M_PROFILE_IDEVID &&
		    not_after > ca->not_after)
			not_after = ca->not_after;
		ok = ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) != NULL;
	}
	if (ok)
		ok = req->csr ? m2m_csr_copy_spki(req->csr, x) :
		     X509_set_pubkey(x, m2m_key_pkey(req->key));
	if (ok)
		ok = add_ext(x, san_ext(pl), 1) &&
		     (!pl->pc->ku || add_ext(x, pl->pc->ku, 0)) &&
		     (!pl->pc->eku || add_ext(x, pl->pc->eku, 0)) &&
		     add_ext(x, ca->aki, 0) &&
		     (!prof->subject_key_id || add_ext(x, ski_ext(x), 1)) &&
		     (!req->tpm_resident || add_ext(x, ca->policies, 0)) &&
		     (!pl->pc->masa || add_ext(x, pl->pc->masa, 0));
	if (!ok) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot build the certificate");
		goto out;
	}
	rc = m2m_ca_sign_ctx(ctx, ca, &mctx);
	if (rc != M2M_OK)
		goto out;
	if (X509_sign_ctx(x, mctx) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the certificate with the CA key");
		goto out;
	}
	rc = m2m_cert_from_x509(ctx, &x, out);
out:
	EVP_MD_CTX_free(mctx);
	X509_free(x);
	return rc;
}

/* ---- recording ------------------------------------------------------------- */

static enum m2m_err audit_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const struct issue_plan *pl,
				const struct m2m_cert *cert,
				const char *replaced)
{
	char detail[2048];
	size_t o;

	o = (size_t)snprintf(detail, sizeof(detail),
			     "{\"serial\":\"%s\",\"profile\":",
			     m2m_cert_serial(cert));
	m2m_json_put(detail, sizeof(detail), &o, pl->prof->name);
	o += (size_t)snprintf(detail + o, sizeof(detail) - o,
			      ",\"ppid\":\"%s\",\"device_serial\":",
			      pl->ppid_hex);
	m2m_json_put(detail, sizeof(detail), &o, pl->device_serial);
	o += (size_t)snprintf(detail + o, sizeof(detail) - o, ",\"subject\":");
	m2m_json_put(detail, sizeof(detail), &o, pl->subject_text);
	if (pl->vouched_by[0])
		o += (size_t)snprintf(detail + o, sizeof(detail) - o,
				      ",\"vouched_by\":\"%s\"", pl->vouched_by);
	if (replaced && *replaced)
		o += (size_t)snprintf(detail + o, sizeof(detail) - o,
				      ",\"replaces\":\"%s\"", replaced);
	if (o + 2 > sizeof(detail))
		return m2m_error(ctx, M2M_ERR_INTERNAL, "audit detail too long");
	snprintf(detail + o, sizeof(detail) - o, "}");
	return m2m_ledger_audit(ctx, ca->ledger, pl->now, "issue", detail);
}

static enum m2m_err revoke_superseded(struct m2m_ctx *ctx, struct m2m_ca *ca,
				      const char *serial, int64_t now)
{
	char detail[256];
	enum m2m_err rc;

	rc = m2m_ledger_revoke(ctx, ca->ledger, serial, now, 4 /* superseded */);
	if (rc != M2M_OK)
		return rc;
	snprintf(detail, sizeof(detail),
		 "{\"serial\":\"%s\",\"reason\":\"superseded\"}", serial);
	return m2m_ledger_audit(ctx, ca->ledger, now, "revoke", detail);
}

/* Is cert for the key of the request? */
static int request_matches(const struct m2m_issue_request *req,
			   const struct m2m_cert *cert)
{
	unsigned char *a = NULL, *b = NULL;
	X509 *tmp;
	int na, nb, same;

	if (req->key)
		return m2m_cert_matches_key(cert, req->key);
	tmp = X509_new();
	if (!tmp || !m2m_csr_copy_spki(req->csr, tmp)) {
		X509_free(tmp);
		return 0;
	}
	na = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(tmp), &a);
	nb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(m2m_cert_x509(cert)), &b);
	same = na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
	OPENSSL_free(a);
	OPENSSL_free(b);
	X509_free(tmp);
	return same;
}

/* Does the recorded certificate belong to the same device as the plan? */
static int same_device(const struct m2m_cert_record *r,
		       const struct issue_plan *pl)
{
	const char *ds = r->device_serial ? r->device_serial : "";

	return strcmp(ds, pl->device_serial) == 0;
}

enum m2m_err m2m_ca_group_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const struct m2m_issue_request *req,
				struct m2m_issue_result *res)
{
	struct issue_plan *pl = NULL;
	struct m2m_cert_record have, r;
	struct m2m_cert *cert = NULL;
	enum m2m_ledger_conflict conflict = M2M_CONFLICT_NONE;
	enum m2m_err rc;
	int tries;

	memset(res, 0, sizeof(*res));
	if (!ca->in_group)
		return m2m_error(ctx, M2M_ERR_USAGE, "no issuing group is open");
	pl = malloc(sizeof(*pl));
	if (!pl)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	pl->subject = NULL;
	rc = plan(ctx, ca, req, pl);
	if (rc != M2M_OK)
		goto out;

	/* One valid certificate per PPID and profile. */
	rc = m2m_ledger_find_valid(ctx, ca->ledger, pl->prof->name, pl->ppid,
				   pl->ppid_len, &have);
	if (rc == M2M_OK) {
		if (!req->replace) {
			if (same_device(&have, pl) && ca->in_group == 2) {
				/* A rerun of a batch: hand out what we have,
				 * if it is for the key the device holds. */
				rc = m2m_cert_parse(ctx, have.der, have.der_len,
						    &res->cert);
				if (rc == M2M_OK &&
				    !request_matches(req, res->cert)) {
					m2m_cert_free(res->cert);
					res->cert = NULL;
					rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
						       "PPID %s already has a valid %s certificate (serial %s) for another key; --replace supersedes it",
						       pl->ppid_hex,
						       pl->prof->name,
						       have.serial);
				}
				res->existing = rc == M2M_OK;
				goto out;
			}
			rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
				       "PPID %s already has a valid %s certificate (serial %s, device %s); --replace supersedes it",
				       pl->ppid_hex, pl->prof->name, have.serial,
				       have.device_serial ? have.device_serial :
				       "-");
			goto out;
		}
		snprintf(res->replaced, sizeof(res->replaced), "%s",
			 have.serial);
		rc = revoke_superseded(ctx, ca, res->replaced, pl->now);
		if (rc != M2M_OK)
			goto out;
	} else if (rc != M2M_ERR_NOT_FOUND) {
		goto out;
	}
	/* And one per device serial number: a PPID is not a device. */
	if (pl->device_serial[0]) {
		rc = m2m_ledger_find_valid_device(ctx, ca->ledger,
						  pl->prof->name,
						  pl->device_serial, &have);
		if (rc == M2M_OK && !req->replace) {
			char hex[M2M_PPID_HEX_MAX];

			m2m_hex_encode(have.ppid, have.ppid_len <= M2M_PPID_MAX ?
				  have.ppid_len : 0, hex);
			rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
				       "device %s already has a valid %s certificate (serial %s, PPID %s); --replace supersedes it",
				       pl->device_serial, pl->prof->name,
				       have.serial, have.ppid ? hex : "-");
			goto out;
		}
		if (rc == M2M_OK) {
			rc = revoke_superseded(ctx, ca, have.serial, pl->now);
			if (rc != M2M_OK)
				goto out;
			if (!res->replaced[0])
				snprintf(res->replaced, sizeof(res->replaced),
					 "%s", have.serial);
		} else if (rc != M2M_ERR_NOT_FOUND) {
			goto out;
		}
	}

	for (tries = 0;; tries++) {
		m2m_cert_free(cert);
		cert = NULL;
		rc = build(ctx, ca, req, pl, &cert);
		if (rc != M2M_OK)
			goto out;
		memset(&r, 0, sizeof(r));
		r.serial = m2m_cert_serial(cert);
		r.profile = pl->prof->name;
		r.subject = pl->subject_text;
		r.ppid = pl->ppid;
		r.ppid_len = pl->ppid_len;
		r.device_serial = pl->device_serial[0] ? pl->device_serial : NULL;
		r.vouched_by = pl->vouched_by[0] ? pl->vouched_by : NULL;
		r.issued_at = pl->now;
		m2m_cert_validity(cert, &r.not_before, &r.not_after);
		r.status = M2M_CERT_VALID;
		r.reason = -1;
		r.der = m2m_cert_der(cert, &r.der_len);
		rc = m2m_ledger_add_cert(ctx, ca->ledger, &r, &conflict);
		if (rc == M2M_ERR_DUPLICATE && conflict == M2M_CONFLICT_SERIAL &&
		    tries < SERIAL_RETRIES)
			continue;	/* 2^-126 per try; never issued twice */
		break;
	}
	if (rc == M2M_OK)
		rc = audit_issue(ctx, ca, pl, cert, res->replaced);
	if (rc != M2M_OK)
		goto out;
	res->cert = cert;
	cert = NULL;
out:
	m2m_cert_free(cert);
	if (pl)
		plan_release(pl);
	free(pl);
	return rc;
}

enum m2m_err m2m_ca_group_begin(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	enum m2m_err rc;

	if (ca->in_group)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "an issuing group is already open");
	rc = m2m_ledger_begin(ctx, ca->ledger);
	if (rc == M2M_OK)
		ca->in_group = 2;	/* batch: reruns return what exists */
	return rc;
}

enum m2m_err m2m_ca_group_commit(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	enum m2m_err rc;

	if (!ca->in_group)
		return m2m_error(ctx, M2M_ERR_USAGE, "no issuing group is open");
	ca->in_group = 0;
	rc = m2m_ledger_commit(ctx, ca->ledger);
	return rc;
}

void m2m_ca_group_abort(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	if (!ca->in_group)
		return;
	ca->in_group = 0;
	m2m_ledger_rollback(ctx, ca->ledger);
}

enum m2m_err m2m_ca_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
			  const struct m2m_issue_request *req,
			  struct m2m_issue_result *res)
{
	enum m2m_err rc;

	memset(res, 0, sizeof(*res));
	if (ca->in_group)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "an issuing group is open");
	rc = m2m_ledger_begin(ctx, ca->ledger);
	if (rc != M2M_OK)
		return rc;
	ca->in_group = 1;	/* single: an existing one is a conflict */
	rc = m2m_ca_group_issue(ctx, ca, req, res);
	if (rc != M2M_OK) {
		m2m_ca_group_abort(NULL, ca);
		return rc;
	}
	rc = m2m_ca_group_commit(ctx, ca);
	if (rc != M2M_OK) {
		m2m_cert_free(res->cert);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}
