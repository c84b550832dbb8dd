/* SPDX-License-Identifier: Apache-2.0 */
/* Revocation: revoke, CRLs (RFC 5280) and OCSP responses (RFC 6960). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <m2m/hex.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "internal.h"
#include "keystore/keystore.h"

#define OCSP_REQUEST_MAX (64 * 1024)
#define OCSP_IDS_MAX 64

static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

#define NREASONS ((int)(sizeof(reasons) / sizeof(reasons[0])))

int m2m_crl_reason_lookup(const char *name)
{
	int i;

	for (i = 0; i < NREASONS; i++)
		if (reasons[i] && strcasecmp(name, reasons[i]) == 0)
			return i;
	return -1;
}

const char *m2m_crl_reason_name(int reason)
{
	return reason >= 0 && reason < NREASONS ? reasons[reason] : NULL;
}

/* Lower-case hex, leading "00" octets dropped, into out[0..size). */
static enum m2m_err norm_serial(struct m2m_ctx *ctx, const char *in,
				char *out, size_t size)
{
	size_t i, n = strlen(in);

	if (n == 0 || n >= size)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'%.50s' is not a certificate serial (hex)", in);
	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%.50s' is not a certificate serial (hex)",
					 in);
		out[i] = c;
	}
	out[n] = '\0';
	return M2M_OK;
}

enum m2m_err m2m_ca_revoke(struct m2m_ctx *ctx, struct m2m_ca *ca,
			   const char *serial, int reason, int64_t now,
			   char canonical[M2M_CERT_SERIAL_HEX])
{
	struct m2m_cert_record r;
	char sn[M2M_CERT_SERIAL_HEX * 2], detail[512];
	enum m2m_err rc;

	if (!m2m_crl_reason_name(reason) || reason == 8)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "reason %d cannot be given to a revocation",
				 reason);
	rc = norm_serial(ctx, serial, sn, sizeof(sn));
	if (rc != M2M_OK)
		return rc;
	now = m2m_now(now);
	rc = m2m_ledger_begin(ctx, ca->ledger);
	if (rc != M2M_OK)
		return rc;
	rc = m2m_ledger_get_cert(ctx, ca->ledger, sn, &r);
	if (rc == M2M_OK) {
		/* The ledger's own spelling of the serial from here on. */
		snprintf(sn, sizeof(sn), "%s", r.serial);
		rc = m2m_ledger_revoke(ctx, ca->ledger, sn, now, reason);
	}
	if (rc == M2M_OK) {
		snprintf(detail, sizeof(detail),
			 "{\"serial\":\"%s\",\"reason\":\"%s\"}", sn,
			 m2m_crl_reason_name(reason));
		rc = m2m_ledger_audit(ctx, ca->ledger, now, "revoke", detail);
	}
	if (rc == M2M_OK)
		rc = m2m_ledger_commit(ctx, ca->ledger);
	else
		m2m_ledger_rollback(ctx, ca->ledger);
	if (rc == M2M_OK && canonical && strlen(sn) < M2M_CERT_SERIAL_HEX)
		memcpy(canonical, sn, strlen(sn) + 1);
	return rc;
}

/* ---- CRL ------------------------------------------------------------------- */

static ASN1_INTEGER *serial_integer(const char *hex)
{
	unsigned char b[20];
	size_t n = strlen(hex) / 2, i;
	ASN1_INTEGER *ai;

	if (n == 0 || n > sizeof(b))
		return NULL;
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(m2m_hex_value((unsigned char)hex[2 * i]) << 4 |
				       m2m_hex_value((unsigned char)hex[2 * i + 1]));
	ai = ASN1_INTEGER_new();
	if (ai && !ASN1_STRING_set(ai, b, (int)n)) {
		ASN1_INTEGER_free(ai);
		return NULL;
	}
	return ai;
}

struct crl_walk {
	X509_CRL *crl;
	int failed;
};

static enum m2m_err add_revoked(void *arg, const struct m2m_cert_record *r)
{
	struct crl_walk *w = arg;
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *sn = serial_integer(r->serial);
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)r->revoked_at);
	ASN1_ENUMERATED *reason = NULL;
	int ok = rev && sn && t && X509_REVOKED_set_serialNumber(rev, sn) &&
		 X509_REVOKED_set_revocationDate(rev, t);

	/* RFC 5280: omit reasonCode rather than say "unspecified". */
	if (ok && r->reason > 0) {
		reason = ASN1_ENUMERATED_new();
		ok = reason && ASN1_ENUMERATED_set(reason, r->reason) &&
		     X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0,
					       0) == 1;
	}
	if (ok)
		ok = X509_CRL_add0_revoked(w->crl, rev);
	if (ok)
		rev = NULL;
	ASN1_ENUMERATED_free(reason);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	X509_REVOKED_free(rev);
	if (!ok) {
		w->failed = 1;
		return M2M_ERR_CRYPTO;
	}
	return M2M_OK;
}

enum m2m_err m2m_ca_crl(struct m2m_ctx *ctx, struct m2m_ca *ca, int64_t now,
			unsigned char **der, size_t *len, uint64_t *number)
{
	struct m2m_ledger_filter f;
	struct crl_walk w;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *p;
	uint64_t n = 0;
	char detail[256];
	int sz;
	enum m2m_err rc;

	*der = NULL;
	*len = 0;
	now = m2m_now(now);
	rc = m2m_ca_sign_ctx(ctx, ca, &mctx);
	if (rc != M2M_OK)
		return rc;
	rc = m2m_ledger_begin(ctx, ca->ledger);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_ledger_next_crl_number(ctx, ca->ledger, &n);
	if (rc != M2M_OK)
		goto out;
	crl = X509_CRL_new_ex(ctx->libctx, NULL);
	num = ASN1_INTEGER_new();
	if (!crl || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(m2m_cert_x509(ca->cert))) ||
	    !(t = ASN1_TIME_set(NULL, (time_t)now)) ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    !ASN1_TIME_set(t, (time_t)(now + ca->profiles.crl_validity_days * 86400)) ||
	    !X509_CRL_set1_nextUpdate(crl, t) ||
	    !ASN1_INTEGER_set_uint64(num, n) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
	    !X509_CRL_add_ext(crl, ca->aki, -1)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot build the CRL");
		goto out;
	}
	memset(&f, 0, sizeof(f));
	f.status = 2;	/* revoked */
	w.crl = crl;
	w.failed = 0;
	rc = m2m_ledger_list(ctx, ca->ledger, &f, add_revoked, &w);
	if (rc != M2M_OK || w.failed) {
		if (w.failed)
			rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot add a revoked certificate to the CRL");
		goto out;
	}
	X509_CRL_sort(crl);
	if (X509_CRL_sign_ctx(crl, mctx) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the CRL with the CA key");
		goto out;
	}
	sz = i2d_X509_CRL(crl, NULL);
	if (sz <= 0 || !(*der = malloc((size_t)sz))) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	p = *der;
	*len = (size_t)i2d_X509_CRL(crl, &p);
	rc = m2m_ledger_add_crl(ctx, ca->ledger, n, now, *der, *len);
	if (rc == M2M_OK) {
		snprintf(detail, sizeof(detail),
			 "{\"number\":%llu,\"revoked\":%d}",
			 (unsigned long long)n,
			 /* no list at all when nothing is revoked: -1 */
			 sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0 ?
			 sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : 0);
		rc = m2m_ledger_audit(ctx, ca->ledger, now, "crl", detail);
	}
	if (rc == M2M_OK)
		rc = m2m_ledger_commit(ctx, ca->ledger);
out:
	if (rc != M2M_OK) {
		m2m_ledger_rollback(ctx, ca->ledger);
		free(*der);
		*der = NULL;
		*len = 0;
	} else if (number) {
		*number = n;
	}
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* ---- OCSP ------------------------------------------------------------------ */

/* One request entry's answer into bs. */
static enum m2m_err ocsp_one(struct m2m_ctx *ctx, struct m2m_ca *ca,
			     OCSP_BASICRESP *bs, OCSP_CERTID *id,
			     const X509 *cacert, int64_t now)
{
	ASN1_OBJECT *md_obj = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
	OCSP_CERTID *ours = NULL;
	struct m2m_cert_record r;
	ASN1_TIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	const EVP_MD *md;
	char serial[M2M_CERT_SERIAL_HEX];
	int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = -1;
	enum m2m_err rc = M2M_OK;

	OCSP_id_get0_info(&name_hash, &md_obj, &key_hash, &sn, id);
	md = EVP_get_digestbyobj(md_obj);
	/* Ours only if the issuer hashes match this CA's. */
	if (md)
		ours = OCSP_cert_id_new(md, X509_get_subject_name(cacert),
					X509_get0_pubkey_bitstr(cacert), sn);
	if (ours && OCSP_id_issuer_cmp(ours, id) == 0 && sn->length > 0 &&
	    sn->length <= 20 && !(sn->type & V_ASN1_NEG)) {
		m2m_hex_encode(sn->data, (size_t)sn->length, serial);
		rc = m2m_ledger_get_cert(ctx, ca->ledger, serial, &r);
		if (rc == M2M_OK) {
			status = r.status == M2M_CERT_REVOKED ?
				 V_OCSP_CERTSTATUS_REVOKED :
				 V_OCSP_CERTSTATUS_GOOD;
			reason = r.reason > 0 ? r.reason : -1;
			if (status == V_OCSP_CERTSTATUS_REVOKED)
				revtime = ASN1_TIME_set(NULL, (time_t)r.revoked_at);
		} else if (rc == M2M_ERR_NOT_FOUND) {
			rc = M2M_OK;
		}
	}
	ERR_clear_error();
	if (rc != M2M_OK)
		goto out;
	thisupd = ASN1_TIME_set(NULL, (time_t)now);
	nextupd = ASN1_TIME_set(NULL, (time_t)(now + 86400));
	if (!thisupd || !nextupd ||
	    (status == V_OCSP_CERTSTATUS_REVOKED && !revtime) ||
	    !OCSP_basic_add1_status(bs, id, status, reason, revtime, thisupd,
				    nextupd))
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot add a status to the OCSP response");
out:
	OCSP_CERTID_free(ours);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(revtime);
	return rc;
}

enum m2m_err m2m_ca_ocsp(struct m2m_ctx *ctx, struct m2m_ca *ca,
			 const void *request, size_t request_len, int64_t now,
			 unsigned char **der, size_t *len)
{
	const unsigned char *p = request;
	OCSP_REQUEST *req = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *out;
	int i, n, sz;
	enum m2m_err rc;

	*der = NULL;
	*len = 0;
	now = m2m_now(now);
	if (request_len > OCSP_REQUEST_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "OCSP request is larger than %d bytes",
				 OCSP_REQUEST_MAX);
	req = d2i_OCSP_REQUEST(NULL, &p, (long)request_len);
	if (!req || p != (const unsigned char *)request + request_len) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "not a DER OCSP request");
		goto out;
	}
	n = OCSP_request_onereq_count(req);
	if (n < 1 || n > OCSP_IDS_MAX) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "OCSP request asks about %d certificates (1 to %d)",
			       n, OCSP_IDS_MAX);
		goto out;
	}
	bs = OCSP_BASICRESP_new();
	if (!bs) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);

		rc = ocsp_one(ctx, ca, bs, OCSP_onereq_get0_id(one),
			      m2m_cert_x509(ca->cert), now);
		if (rc != M2M_OK)
			goto out;
	}
	if (OCSP_copy_nonce(bs, req) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot copy the request's nonce");
		goto out;
	}
	rc = m2m_ca_sign_ctx(ctx, ca, &mctx);
	if (rc != M2M_OK)
		goto out;
	if (!OCSP_basic_sign_ctx(bs, m2m_cert_x509(ca->cert), mctx, NULL,
				 OCSP_NOCERTS)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the OCSP response");
		goto out;
	}
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	sz = resp ? i2d_OCSP_RESPONSE(resp, NULL) : -1;
	if (sz <= 0 || !(*der = malloc((size_t)sz))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode the OCSP response");
		goto out;
	}
	out = *der;
	*len = (size_t)i2d_OCSP_RESPONSE(resp, &out);
	rc = M2M_OK;
out:
	EVP_MD_CTX_free(mctx);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return rc;
}
