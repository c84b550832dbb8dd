/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Issuing DevID certificates.  The hot path of a factory batch, so the
 * certificate is written as DER by hand: what is the same for every
 * certificate of a CA and profile (the issuer Name, the signature
 * AlgorithmIdentifier, the subject template, AKI, key usage, EKU, the
 * policies, the MASA URL, the hwType) is encoded once, the subject public
 * key is carried over from the request as it is (no re-encoding through
 * the provider machinery), and the TBSCertificate is signed with a copy
 * of a signing context made once.  No X509 is built: what the ledger
 * records comes from the inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
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
#define NAME_MAX_DER 4096	/* an IDevID's subject Name copied, at most */
#define TBS_MAX 16384		/* the TBSCertificate, at most */
#define SIG_MAX 1024		/* a signature, at most (RSA-8192) */
#define Y9999 253402300799	/* 99991231235959Z */

static void blob_free(struct m2m_der_blob *b)
{
	OPENSSL_free(b->der);
	b->der = NULL;
	b->len = 0;
}

/* b = the DER of ext, which is freed.  0 on failure. */
static int blob_ext(struct m2m_der_blob *b, X509_EXTENSION *ext)
{
	unsigned char *p = NULL;
	int n = ext ? i2d_X509_EXTENSION(ext, &p) : -1;

	X509_EXTENSION_free(ext);
	if (n <= 0)
		return 0;
	b->der = p;
	b->len = (size_t)n;
	return 1;
}

static void cache_release(struct m2m_profile_cache *pc)
{
	blob_free(&pc->subject);
	free(pc->subject_text);
	blob_free(&pc->ku_eku);
	blob_free(&pc->masa);
	memset(pc, 0, sizeof(*pc));
}

void m2m_ca_issuer_release(struct m2m_ca *ca)
{
	int i;

	EVP_MD_CTX_free(ca->sign);
	ca->sign = NULL;
	X509_EXTENSION_free(ca->aki);
	ca->aki = NULL;
	blob_free(&ca->issuer);
	blob_free(&ca->sig_alg);
	blob_free(&ca->aki_der);
	blob_free(&ca->policies);
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

/*
 * The AlgorithmIdentifier the signing context signs under, as its provider
 * gives it: what X509_sign_ctx() would put in the certificate.
 */
static enum m2m_err sig_alg_prepare(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	EVP_PKEY_CTX *pctx = EVP_MD_CTX_get_pkey_ctx(ca->sign);
	unsigned char aid[128];
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_octet_string(
		OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid, sizeof(aid));
	params[1] = OSSL_PARAM_construct_end();
	if (!pctx || EVP_PKEY_CTX_get_params(pctx, params) <= 0 ||
	    params[0].return_size == 0 || params[0].return_size > sizeof(aid))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "the CA key's signature has no AlgorithmIdentifier");
	ca->sig_alg.der = OPENSSL_memdup(aid, params[0].return_size);
	if (!ca->sig_alg.der)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	ca->sig_alg.len = params[0].return_size;
	return M2M_OK;
}

static enum m2m_err issuer_prepare(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	const ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *akid = NULL;
	const unsigned char *name;
	size_t name_len;
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
				       akid)) ||
	    !blob_ext(&ca->aki_der, X509_EXTENSION_dup(ca->aki))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the authorityKeyIdentifier");
		goto out;
	}
	if (!blob_ext(&ca->policies, tpm_policies_ext())) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the certificatePolicies");
		goto out;
	}
	/* The Name as the CA certificate has it (kept as it was read). */
	if (!X509_NAME_get0_der(X509_get_subject_name(m2m_cert_x509(ca->cert)),
				&name, &name_len) ||
	    !(ca->issuer.der = OPENSSL_memdup(name, name_len))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode the issuer name");
		goto out;
	}
	ca->issuer.len = name_len;
	rc = m2m_sign_ctx_new(ctx, m2m_key_pkey(ca->key),
			      m2m_key_get_alg(ca->key), &ca->sign);
	if (rc == M2M_OK)
		rc = sig_alg_prepare(ctx, ca);
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

/* keyUsage then extendedKeyUsage, the ones the profile has, as DER. */
static int ku_eku_prepare(struct m2m_profile_cache *pc,
			  const struct m2m_profile *prof)
{
	struct m2m_der_blob ku = { NULL, 0 }, eku = { NULL, 0 };
	int ok;

	ok = (!prof->key_usage || blob_ext(&ku, ku_ext(prof->key_usage))) &&
	     (!prof->ext_key_usage ||
	      blob_ext(&eku, eku_ext(prof->ext_key_usage)));
	if (ok && ku.len + eku.len > 0) {
		pc->ku_eku.der = OPENSSL_malloc(ku.len + eku.len);
		ok = pc->ku_eku.der != NULL;
	}
	if (ok && pc->ku_eku.der) {
		if (ku.len)
			memcpy(pc->ku_eku.der, ku.der, ku.len);
		if (eku.len)
			memcpy(pc->ku_eku.der + ku.len, eku.der, eku.len);
		pc->ku_eku.len = ku.len + eku.len;
	}
	blob_free(&ku);
	blob_free(&eku);
	return ok;
}

/* The subject template: its RDNs as DER, and as text. */
static enum m2m_err subject_prepare(struct m2m_ctx *ctx,
				    struct m2m_profile_cache *pc,
				    const struct m2m_profile *prof)
{
	X509_NAME *name = NULL;
	const unsigned char *der, *rdns;
	unsigned char *p = NULL;
	size_t len, off = 0, rdns_len;
	enum m2m_err rc;

	if (!prof->subject[0]) {
		pc->subject_text = strdup("");
		return pc->subject_text ? M2M_OK :
		       m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	rc = m2m_name_parse(ctx, prof->subject, &name);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "profile %s: subject",
					prof->name);
	pc->subject_text = malloc(2 * M2M_DN_MAX);
	if (!pc->subject_text ||
	    !X509_NAME_get0_der(name, &der, &len) ||
	    m2m_der_read(der, len, &off, 0x30, &rdns, &rdns_len) < 0 ||
	    off != len || !(p = OPENSSL_memdup(rdns, rdns_len ? rdns_len : 1))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "profile %s: cannot encode its subject",
				    prof->name);
		goto out;
	}
	m2m_name_text(name, pc->subject_text, 2 * M2M_DN_MAX);
	pc->subject.der = p;
	pc->subject.len = rdns_len;
	rc = M2M_OK;
out:
	X509_NAME_free(name);
	return rc;
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
	rc = subject_prepare(ctx, pc, prof);
	if (rc != M2M_OK)
		goto out;
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
	if (!ku_eku_prepare(pc, prof) ||
	    (prof->masa_url[0] &&
	     !blob_ext(&pc->masa, masa_ext(prof->masa_url)))) {
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
	size_t subject_len;		/* ldevid: the IDevID's RDNs, DER, in
					 * subject[]; 0: the profile's */
	int add_serial;			/* subject gets device_serial */
	char subject_text[1024];	/* what the ledger records */
	char vouched_by[M2M_CERT_SERIAL_HEX];
	int64_t now;
	/* Large buffers last: plan() clears only what comes before them. */
	uint8_t hwmodule[HWMODULE_MAX];
	uint8_t names[SAN_MAX];		/* DNS/URI GeneralNames, DER */
	size_t names_len;
	uint8_t subject[NAME_MAX_DER];
};

/*
 * v as X509_NAME_print_ex() prints a PrintableString under XN_FLAG_RFC2253
 * (without ASN1_STRFLGS_ESC_MSB), into out[0..size): a backslash before
 * , + " \ < > ; and before a leading space or # or a trailing space,
 * control characters as \XX.
 */
static void rfc2253_value(const char *v, char *out, size_t size)
{
	size_t i, o = 0, n = strlen(v);
	unsigned char c;

	for (i = 0; i < n && o + 4 < size; i++) {
		c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\%02X", c);
			continue;
		}
		if (strchr(",+\"\\<>;", c) || (i == 0 && (c == ' ' || c == '#')) ||
		    (i == n - 1 && c == ' '))
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* What the ledger records as the subject: the template's, serialNumber first. */
static void subject_text(struct issue_plan *pl)
{
	char v[4 * M2M_SERIAL_MAX + 4];

	if (!pl->add_serial) {
		snprintf(pl->subject_text, sizeof(pl->subject_text), "%s",
			 pl->pc->subject_text);
		return;
	}
	rfc2253_value(pl->device_serial, v, sizeof(v));
	snprintf(pl->subject_text, sizeof(pl->subject_text),
		 "serialNumber=%s%s%s", v, pl->pc->subject_text[0] ? "," : "",
		 pl->pc->subject_text);
}

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
		/* The Name as the IDevID has it (kept as it was read). */
		const unsigned char *der, *rdns;
		size_t len, off = 0, rdns_len;

		if (!X509_NAME_get0_der(X509_get_subject_name(x), &der, &len) ||
		    m2m_der_read(der, len, &off, 0x30, &rdns, &rdns_len) < 0 ||
		    off != len) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "cannot encode the IDevID's subject");
			goto out;
		}
		if (rdns_len > sizeof(pl->subject) || rdns_len == 0) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the IDevID's subject is %zu bytes long (1 to %d)",
				       rdns_len, NAME_MAX_DER);
			goto out;
		}
		memcpy(pl->subject, rdns, rdns_len);
		pl->subject_len = rdns_len;
		m2m_name_text(X509_get_subject_name(x), pl->subject_text,
			      sizeof(pl->subject_text));
	}
	snprintf(pl->vouched_by, sizeof(pl->vouched_by), "%s",
		 m2m_cert_serial(idevid));
	rc = M2M_OK;
out:
	GENERAL_NAMES_free(gens);
	return rc;
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
	if (!pl->subject_len)
		subject_text(pl);
	return request_names(ctx, req, pl);
}

/* ---- the certificate --------------------------------------------------------- */

/* A Time as X509_time_adj() makes it: UTCTime up to 2049, then Generalized. */
static int der_time(struct m2m_der *d, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[16];
	int y, i = 0, k;
	int v[5];

	if (t == Y9999) {
		m2m_der_tlv(d, 0x18, "99991231235959Z", 15);
		return 1;
	}
	if (!gmtime_r(&tt, &tm))
		return 0;
	y = tm.tm_year + 1900;
	if (y < 0 || y > 9999)
		return 0;
	if (y >= 1950 && y < 2050) {
		buf[i++] = (char)('0' + y / 10 % 10);
		buf[i++] = (char)('0' + y % 10);
	} else {
		buf[i++] = (char)('0' + y / 1000);
		buf[i++] = (char)('0' + y / 100 % 10);
		buf[i++] = (char)('0' + y / 10 % 10);
		buf[i++] = (char)('0' + y % 10);
	}
	v[0] = tm.tm_mon + 1;
	v[1] = tm.tm_mday;
	v[2] = tm.tm_hour;
	v[3] = tm.tm_min;
	v[4] = tm.tm_sec;
	for (k = 0; k < 5; k++) {
		buf[i++] = (char)('0' + v[k] / 10);
		buf[i++] = (char)('0' + v[k] % 10);
	}
	buf[i++] = 'Z';
	m2m_der_tlv(d, y >= 1950 && y < 2050 ? 0x17 : 0x18, buf, (size_t)i);
	return 1;
}

/* notAfter: the profile's lifetime, or 9999 for none. */
static int64_t not_after_of(const struct m2m_ca *ca,
			    const struct issue_plan *pl)
{
	int64_t not_after;

	if (pl->prof->lifetime_days == 0)
		return Y9999;
	not_after = pl->now + pl->prof->lifetime_days * 86400;
	if (pl->prof->type != M2M_PROFILE_IDEVID && not_after > ca->not_after)
		not_after = ca->not_after;
	return not_after;
}

/* Extension ::= SEQUENCE { extnID 2.5.29.x, extnValue OCTET STRING } */
static size_t ext_open(struct m2m_der *d, uint8_t id, size_t *os)
{
	const uint8_t oid[3] = { 0x55, 0x1d, id };
	size_t ext = m2m_der_open(d, 0x30);

	m2m_der_tlv(d, 0x06, oid, sizeof(oid));
	*os = m2m_der_open(d, 0x04);
	return ext;
}

static void ext_close(struct m2m_der *d, size_t ext, size_t os)
{
	m2m_der_close(d, os);
	m2m_der_close(d, ext);
}

/* subjectAltName: the HardwareModuleName, then the request's names. */
static void san_ext(struct m2m_der *d, const struct issue_plan *pl)
{
	size_t ext, os, names, on, val, hw;

	ext = ext_open(d, 0x11, &os);
	names = m2m_der_open(d, 0x30);
	on = m2m_der_open(d, 0xa0);	/* otherName [0] */
	m2m_der_tlv(d, 0x06, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule));
	val = m2m_der_open(d, 0xa0);	/* value [0] EXPLICIT */
	if (pl->hwmodule_len) {
		/* ldevid: the IDevID's HardwareModuleName, unchanged. */
		m2m_der_raw(d, pl->hwmodule, pl->hwmodule_len);
	} else {
		hw = m2m_der_open(d, 0x30);
		m2m_der_raw(d, pl->pc->hw_type, pl->pc->hw_type_len);
		m2m_der_tlv(d, 0x04, pl->ppid, pl->ppid_len);
		m2m_der_close(d, hw);
	}
	m2m_der_close(d, val);
	m2m_der_close(d, on);
	m2m_der_raw(d, pl->names, pl->names_len);
	m2m_der_close(d, names);
	ext_close(d, ext, os);
}

/* subjectKeyIdentifier: SHA-1 of the subjectPublicKey bits (RFC 5280 (1)). */
static int ski_ext(struct m2m_der *d, const uint8_t *spki, size_t len)
{
	const uint8_t *seq, *alg, *bits;
	size_t off = 0, o = 0, seql, algl, bitsl, ext, os;
	unsigned char md[20];

	if (m2m_der_read(spki, len, &off, 0x30, &seq, &seql) < 0 ||
	    m2m_der_read(seq, seql, &o, 0x30, &alg, &algl) < 0 ||
	    m2m_der_read(seq, seql, &o, 0x03, &bits, &bitsl) < 0 ||
	    bitsl < 1 ||
	    !EVP_Digest(bits + 1, bitsl - 1, md, NULL, EVP_sha1(), NULL))
		return 0;
	ext = ext_open(d, 0x0e, &os);
	m2m_der_tlv(d, 0x04, md, sizeof(md));
	ext_close(d, ext, os);
	return 1;
}

/*
 * The TBSCertificate (RFC 5280 4.1) into d:
 *   SEQUENCE { [0] { INTEGER 2 }, serialNumber, signature, issuer,
 *              validity, subject, subjectPublicKeyInfo, [3] extensions }
 * the extensions in the order subjectAltName, keyUsage, extendedKeyUsage,
 * authorityKeyIdentifier, subjectKeyIdentifier, certificatePolicies,
 * id-pe-masa-url (those the profile and request have).
 */
static enum m2m_err tbs_write(struct m2m_ctx *ctx, struct m2m_ca *ca,
			      const struct m2m_issue_request *req,
			      const struct issue_plan *pl,
			      const unsigned char serial[16],
			      struct m2m_der *d)
{
	static const uint8_t v3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };
	static const uint8_t oid_serial[] = { 0x55, 0x04, 0x05 };
	const struct m2m_profile_cache *pc = pl->pc;
	const uint8_t *spki;
	unsigned char *owned = NULL;
	size_t spki_len, tbs, val, name, rdn, atv, exts, list;
	int ok;

	if (req->csr) {
		ok = m2m_csr_spki(req->csr, &spki, &spki_len, &owned);
	} else {
		int n = i2d_PUBKEY(m2m_key_pkey(req->key), &owned);

		ok = n > 0;
		spki = owned;
		spki_len = ok ? (size_t)n : 0;
	}
	if (!ok)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot encode the subject public key");
	tbs = m2m_der_open(d, 0x30);
	m2m_der_raw(d, v3, sizeof(v3));
	m2m_der_tlv(d, 0x02, serial, 16);
	m2m_der_raw(d, ca->sig_alg.der, ca->sig_alg.len);
	m2m_der_raw(d, ca->issuer.der, ca->issuer.len);
	val = m2m_der_open(d, 0x30);
	ok = der_time(d, pl->now) && der_time(d, not_after_of(ca, pl));
	m2m_der_close(d, val);
	name = m2m_der_open(d, 0x30);
	if (pl->subject_len)
		m2m_der_raw(d, pl->subject, pl->subject_len);
	else
		m2m_der_raw(d, pc->subject.der, pc->subject.len);
	if (pl->add_serial) {
		rdn = m2m_der_open(d, 0x31);
		atv = m2m_der_open(d, 0x30);
		m2m_der_tlv(d, 0x06, oid_serial, sizeof(oid_serial));
		m2m_der_tlv(d, 0x13, pl->device_serial,
			    strlen(pl->device_serial));
		m2m_der_close(d, atv);
		m2m_der_close(d, rdn);
	}
	m2m_der_close(d, name);
	m2m_der_raw(d, spki, spki_len);
	exts = m2m_der_open(d, 0xa3);
	list = m2m_der_open(d, 0x30);
	san_ext(d, pl);
	m2m_der_raw(d, pc->ku_eku.der, pc->ku_eku.len);
	m2m_der_raw(d, ca->aki_der.der, ca->aki_der.len);
	if (ok && pl->prof->subject_key_id)
		ok = ski_ext(d, spki, spki_len);
	if (req->tpm_resident)
		m2m_der_raw(d, ca->policies.der, ca->policies.len);
	m2m_der_raw(d, pc->masa.der, pc->masa.len);
	m2m_der_close(d, list);
	m2m_der_close(d, exts);
	m2m_der_close(d, tbs);
	OPENSSL_free(owned);
	if (!ok || d->bad)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot build the certificate%s",
				      d->bad ? ": it is too large" : "");
	return M2M_OK;
}

/*
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 *                            signatureValue BIT STRING }
 * with the TBSCertificate signed by a copy of the CA's signing context.
 */
static enum m2m_err build(struct m2m_ctx *ctx, struct m2m_ca *ca,
			  const struct m2m_issue_request *req,
			  const struct issue_plan *pl,
			  const unsigned char serial[16], struct m2m_cert **out)
{
	static const uint8_t no_unused_bits = 0;
	unsigned char *tbs = NULL, *der = NULL, sig[SIG_MAX];
	EVP_MD_CTX *mctx = NULL;
	struct m2m_der d, c;
	size_t siglen = 0, cert, bits;
	enum m2m_err rc;

	*out = NULL;
	tbs = malloc(TBS_MAX);
	if (!tbs) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	m2m_der_init(&d, tbs, TBS_MAX);
	rc = tbs_write(ctx, ca, req, pl, serial, &d);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_ca_sign_ctx(ctx, ca, &mctx);
	if (rc != M2M_OK)
		goto out;
	/* Signed once: the final step need not work on a copy of its own. */
	EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
	/* As ASN1_item_sign_ctx() does: the size, then the signature. */
	if (EVP_DigestSign(mctx, NULL, &siglen, tbs, d.len) != 1 ||
	    siglen > sizeof(sig) ||
	    EVP_DigestSign(mctx, sig, &siglen, tbs, d.len) != 1) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the certificate with the CA key");
		goto out;
	}
	der = malloc(d.len + ca->sig_alg.len + siglen + 16);
	if (!der) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	m2m_der_init(&c, der, d.len + ca->sig_alg.len + siglen + 16);
	cert = m2m_der_open(&c, 0x30);
	m2m_der_raw(&c, tbs, d.len);
	m2m_der_raw(&c, ca->sig_alg.der, ca->sig_alg.len);
	bits = m2m_der_open(&c, 0x03);
	m2m_der_raw(&c, &no_unused_bits, 1);
	m2m_der_raw(&c, sig, siglen);
	m2m_der_close(&c, bits);
	m2m_der_close(&c, cert);
	if (c.bad) {
		rc = m2m_error(ctx, M2M_ERR_INTERNAL,
			       "the certificate does not fit its buffer");
		goto out;
	}
	rc = m2m_cert_from_der(ctx, &der, c.len, serial, 16, out);
out:
	EVP_MD_CTX_free(mctx);
	free(der);
	free(tbs);
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
	const uint8_t *a;
	unsigned char *owned = NULL, *b = NULL;
	X509 *x = m2m_cert_x509(cert);
	size_t na;
	int nb, same;

	if (req->key)
		return m2m_cert_matches_key(cert, req->key);
	if (!x || !m2m_csr_spki(req->csr, &a, &na, &owned))
		return 0;
	nb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &b);
	same = nb > 0 && na == (size_t)nb && memcmp(a, b, na) == 0;
	OPENSSL_free(owned);
	OPENSSL_free(b);
	return same;
}

/* Does the recorded certificate belong to the same device as the plan? */
static int same_device(const struct m2m_cert_record *r,
		       const struct issue_plan *pl)
{
	const char *ds = r->device_serial ? r->device_serial : "";

	return strcmp(ds, pl->device_serial) == 0;
}

/*
 * Build and sign the certificate of the plan and record it; a serial that
 * is taken is drawn again.  On a uniqueness conflict *conflict says which.
 */
static enum m2m_err record_new(struct m2m_ctx *ctx, struct m2m_ca *ca,
			       const struct m2m_issue_request *req,
			       const struct issue_plan *pl,
			       struct m2m_cert **out,
			       enum m2m_ledger_conflict *conflict)
{
	struct m2m_cert_record r;
	struct m2m_cert *cert = NULL;
	unsigned char serial[16];
	enum m2m_err rc;
	int tries;

	for (tries = 0;; tries++) {
		m2m_cert_free(cert);
		cert = NULL;
		rc = m2m_random_serial(ctx, serial);
		if (rc == M2M_OK)
			rc = build(ctx, ca, req, pl, serial, &cert);
		if (rc != M2M_OK)
			break;
		memset(&r, 0, sizeof(r));
		r.serial = m2m_cert_serial(cert);
		r.profile = pl->prof->name;
		r.subject = pl->subject_text;
		r.ppid = pl->ppid;
		r.ppid_len = pl->ppid_len;
		r.device_serial = pl->device_serial[0] ? pl->device_serial : NULL;
		r.vouched_by = pl->vouched_by[0] ? pl->vouched_by : NULL;
		r.issued_at = pl->now;
		r.not_before = pl->now;
		r.not_after = not_after_of(ca, pl);
		r.status = M2M_CERT_VALID;
		r.reason = -1;
		r.der = m2m_cert_der(cert, &r.der_len);
		rc = m2m_ledger_add_cert(ctx, ca->ledger, &r, conflict);
		if (rc == M2M_ERR_DUPLICATE && *conflict == M2M_CONFLICT_SERIAL &&
		    tries < SERIAL_RETRIES)
			continue;	/* 2^-126 per try; never issued twice */
		break;
	}
	if (rc == M2M_OK) {
		*out = cert;
		cert = NULL;
	}
	m2m_cert_free(cert);
	return rc;
}

enum m2m_err m2m_ca_group_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const struct m2m_issue_request *req,
				struct m2m_issue_result *res)
{
	struct issue_plan *pl = NULL;
	struct m2m_cert_record have;
	struct m2m_cert *cert = NULL;
	enum m2m_ledger_conflict conflict = M2M_CONFLICT_NONE;
	enum m2m_err rc;

	memset(res, 0, sizeof(*res));
	if (!ca->in_group)
		return m2m_error(ctx, M2M_ERR_USAGE, "no issuing group is open");
	pl = malloc(sizeof(*pl));
	if (!pl)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = plan(ctx, ca, req, pl);
	if (rc != M2M_OK)
		goto out;

	/*
	 * Most requests are for devices the ledger has not seen: record
	 * first, and look up only when the database says the PPID or the
	 * device has a certificate.  Each lookup is a round trip to a
	 * database server; the unique indexes decide either way.
	 */
	if (!req->replace) {
		rc = record_new(ctx, ca, req, pl, &cert, &conflict);
		if (rc == M2M_OK)
			goto record;
		if (rc != M2M_ERR_DUPLICATE || conflict == M2M_CONFLICT_SERIAL)
			goto out;
		m2m_ctx_clear_error(ctx);
	}

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
			/* Borrowed from the ledger until its next call. */
			char old[M2M_CERT_SERIAL_HEX];

			snprintf(old, sizeof(old), "%s", have.serial);
			rc = revoke_superseded(ctx, ca, old, pl->now);
			if (rc != M2M_OK)
				goto out;
			if (!res->replaced[0])
				snprintf(res->replaced, sizeof(res->replaced),
					 "%s", old);
		} else if (rc != M2M_ERR_NOT_FOUND) {
			goto out;
		}
	}

	rc = record_new(ctx, ca, req, pl, &cert, &conflict);
	if (rc != M2M_OK)
		goto out;
record:
	rc = audit_issue(ctx, ca, pl, cert, res->replaced);
	if (rc != M2M_OK)
		goto out;
	res->cert = cert;
	cert = NULL;
out:
	m2m_cert_free(cert);
	free(pl);
	return rc;
}

enum m2m_err m2m_ca_make_cert(struct m2m_ctx *ctx, struct m2m_ca *ca,
			      const struct m2m_issue_request *req,
			      const unsigned char serial[16],
			      struct m2m_cert **out, char *subject,
			      size_t subject_size, int64_t *not_before,
			      int64_t *not_after)
{
	struct issue_plan *pl;
	enum m2m_err rc;

	*out = NULL;
	pl = malloc(sizeof(*pl));
	if (!pl)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = plan(ctx, ca, req, pl);
	if (rc == M2M_OK)
		rc = build(ctx, ca, req, pl, serial, out);
	if (rc == M2M_OK) {
		snprintf(subject, subject_size, "%s", pl->subject_text);
		*not_before = pl->now;
		*not_after = not_after_of(ca, pl);
	}
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
