/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CA's ledger checked against itself and the CA, in four walks, each in
 * order and each stopping at the first inconsistency: the audit log's
 * hash chain; the certificate records; the CRLs; the audit log's issue
 * and revoke entries against the records.  What is kept between walks is
 * an index of serials and the revoked records (serial, time, reason).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/hex.h>
#include <m2m/manifest.h>
#include <m2m/verify.h>

#include "cert_internal.h"
#include "internal.h"
#include "verify_internal.h"

struct revoked {
	char serial[M2M_CERT_SERIAL_HEX];
	int64_t when;
	int reason;
	uint64_t record;		/* its number in order of issuance */
};

struct check {
	struct m2m_ctx *ctx;
	struct m2m_ca *ca;
	X509 *cax;
	EVP_PKEY *cakey;
	struct m2m_seen *serials;	/* serial -> record number */
	struct m2m_seen *valid;		/* profile NUL ppid -> record number */
	struct m2m_seen *issued;	/* serials of issue entries */
	struct m2m_seen *revokes;	/* serials of revoke entries */
	struct revoked *rev;
	size_t nrev, rev_cap;
	uint64_t n;			/* records or CRLs seen */
	struct m2m_ledger_check *out;
};

__attribute__((format(printf, 2, 3)))
static enum m2m_err bad(struct check *c, const char *fmt, ...)
{
	char msg[M2M_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return m2m_error(c->ctx, M2M_ERR_VERIFY, "%s", msg);
}

/* The canonical serial of x: the INTEGER's content octets, in hex. */
static int serial_of(X509 *x, char out[M2M_CERT_SERIAL_HEX])
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	const unsigned char *p = ASN1_STRING_get0_data(sn);
	int n = ASN1_STRING_length(sn), pad;

	if (n < 1 || (ASN1_STRING_type(sn) & V_ASN1_NEG))
		return 0;
	pad = (p[0] & 0x80) != 0;
	if (n + pad > 20)
		return 0;
	if (pad)
		memcpy(out, "00", 2);
	m2m_hex_encode(p, (size_t)n, out + 2 * pad);
	return 1;
}

static int valid_reason(int r)
{
	return (r >= 0 && r <= 6) || r == 9 || r == 10;
}

static const char *short_text(const char *s, char *buf, size_t size)
{
	if (strlen(s) < size)
		return s;
	snprintf(buf, size, "%.*s...", (int)size - 4, s);
	return buf;
}

/* The record's profile, as a lint profile; -1 if the CA has no such. */
static int lint_profile_of(struct check *c, const char *profile)
{
	const struct m2m_profile *p;

	if (strcmp(profile, "ca") == 0)
		return M2M_LINT_CA;
	p = m2m_profiles_get(m2m_ca_profiles(c->ca), profile);
	if (!p)
		return -1;
	return p->type == M2M_PROFILE_IDEVID ? M2M_LINT_IDEVID : M2M_LINT_LDEVID;
}

/* The PPID a certificate carries (lint's decoding), into buf. */
static const uint8_t *cert_ppid(struct m2m_ctx *ctx,
				const struct m2m_lint_report *lr, uint8_t *buf,
				size_t size, size_t *len)
{
	const struct m2m_devid_info *d = &lr->devid;

	*len = 0;
	if (!d->hwmodule_ok)
		return NULL;
	if (!d->tcg) {
		*len = d->hw_serial_len < M2M_HW_SERIAL_MAX ? d->hw_serial_len :
		       M2M_HW_SERIAL_MAX;
		return d->hw_serial;
	}
	if (!d->has_ppid ||
	    m2m_ppid_encode(ctx, &d->ppid, buf, size, len) != M2M_OK) {
		m2m_ctx_clear_error(ctx);
		return NULL;
	}
	return buf;
}

static enum m2m_err record_one(struct check *c, const struct m2m_cert_record *r,
			       X509 *x)
{
	struct m2m_lint_report *lr = NULL;
	const struct m2m_lint_finding *f;
	char sn[M2M_CERT_SERIAL_HEX], text[1024], s1[200], s2[200],
	     h1[M2M_PPID_HEX_MAX], h2[M2M_PPID_HEX_MAX];
	uint8_t ppid[M2M_PPID_MAX];
	const uint8_t *cp;
	size_t cplen;
	int64_t nb, na;
	int prof;
	enum m2m_err rc = M2M_OK;

	if (X509_NAME_cmp(X509_get_issuer_name(x),
			  X509_get_subject_name(c->cax)) != 0)
		return bad(c, "its issuer is not the CA");
	if (!c->cakey || X509_verify(x, c->cakey) != 1)
		return bad(c, "it is not signed by the CA's key");
	if (!serial_of(x, sn))
		return bad(c, "the certificate's serial is not 1 to 20 positive octets");
	if (strcmp(sn, r->serial) != 0)
		return bad(c, "the serial recorded is %s, the certificate's is %s",
			   r->serial, sn);
	m2m_name_text(X509_get_subject_name(x), text, sizeof(text));
	if (strcmp(text, r->subject) != 0)
		return bad(c, "the subject recorded is '%s', the certificate's is '%s'",
			   short_text(r->subject, s1, sizeof(s1)),
			   short_text(text, s2, sizeof(s2)));
	nb = m2m_asn1_time_epoch(X509_get0_notBefore(x));
	na = m2m_asn1_time_epoch(X509_get0_notAfter(x));
	if (nb != r->not_before || na != r->not_after)
		return bad(c, "the validity recorded is %" PRId64 "..%" PRId64
			   ", the certificate's is %" PRId64 "..%" PRId64,
			   r->not_before, r->not_after, nb, na);
	prof = lint_profile_of(c, r->profile);
	if (prof < 0)
		return bad(c, "its profile '%s' is not one of the CA's",
			   short_text(r->profile, s1, sizeof(s1)));
	lr = malloc(sizeof(*lr));
	if (!lr)
		return m2m_error(c->ctx, M2M_ERR_NOMEM, "out of memory");
	/* x was parsed from r->der, nothing after it. */
	m2m_lint_x509(c->ctx, x, r->der, r->der_len, prof, lr);
	f = m2m_lint_first(lr, M2M_LINT_ERROR);
	if (f) {
		rc = bad(c, "it does not fit its profile %s: %s: %s",
			 r->profile, f->rule->id, f->detail);
		goto out;
	}
	cp = cert_ppid(c->ctx, lr, ppid, sizeof(ppid), &cplen);
	if ((r->ppid != NULL) != (cp != NULL) ||
	    (cp && (cplen != r->ppid_len || memcmp(cp, r->ppid, cplen) != 0))) {
		rc = bad(c, "the PPID recorded is %s, the certificate's is %s",
			 r->ppid ? m2m_hex_encode(r->ppid, r->ppid_len <= M2M_PPID_MAX ?
						  r->ppid_len : M2M_PPID_MAX, h1) : "none",
			 cp ? m2m_hex_encode(cp, cplen <= M2M_PPID_MAX ? cplen :
					     M2M_PPID_MAX, h2) : "none");
		goto out;
	}
	if (r->device_serial &&
	    strcmp(r->device_serial, lr->devid.serial_number) != 0) {
		rc = bad(c, "the device serial recorded is '%s', the certificate's serialNumber is '%s'",
			 short_text(r->device_serial, s1, sizeof(s1)),
			 lr->devid.serial_number);
		goto out;
	}
out:
	free(lr);
	return rc;
}

static enum m2m_err status_one(struct check *c, const struct m2m_cert_record *r)
{
	struct revoked *rv;

	if (r->status == M2M_CERT_VALID) {
		if (r->revoked_at || r->reason != -1)
			return bad(c, "it is valid, yet has a revocation time or reason");
		return M2M_OK;
	}
	if (r->revoked_at <= 0 || !valid_reason(r->reason))
		return bad(c, "it is revoked without a revocation time and a valid reason");
	if (c->nrev == c->rev_cap) {
		size_t cap = c->rev_cap ? 2 * c->rev_cap : 64;

		rv = realloc(c->rev, cap * sizeof(*rv));
		if (!rv)
			return m2m_error(c->ctx, M2M_ERR_NOMEM, "out of memory");
		c->rev = rv;
		c->rev_cap = cap;
	}
	rv = &c->rev[c->nrev++];
	snprintf(rv->serial, sizeof(rv->serial), "%s", r->serial);
	rv->when = r->revoked_at;
	rv->reason = r->reason;
	rv->record = c->n;
	c->out->revoked++;
	return M2M_OK;
}

static enum m2m_err unique_one(struct check *c, const struct m2m_cert_record *r)
{
	uint8_t key[M2M_PROFILE_NAME_MAX + M2M_PPID_MAX + 1];
	size_t plen = strlen(r->profile);
	uint64_t first = 0;
	enum m2m_err rc;

	rc = m2m_seen_add(c->ctx, c->serials, r->serial, strlen(r->serial),
			  c->n, &first);
	if (rc == M2M_ERR_DUPLICATE)
		return bad(c, "its serial is also that of certificate %" PRIu64,
			   first);
	if (rc != M2M_OK)
		return rc;
	if (r->status != M2M_CERT_VALID || !r->ppid ||
	    plen >= M2M_PROFILE_NAME_MAX || r->ppid_len > M2M_PPID_MAX)
		return M2M_OK;
	memcpy(key, r->profile, plen + 1);
	memcpy(key + plen + 1, r->ppid, r->ppid_len);
	rc = m2m_seen_add(c->ctx, c->valid, key, plen + 1 + r->ppid_len, c->n,
			  &first);
	if (rc == M2M_ERR_DUPLICATE)
		return bad(c, "its PPID already has a valid %s certificate: certificate %" PRIu64,
			   r->profile, first);
	return rc;
}

static enum m2m_err cert_walk(void *arg, const struct m2m_cert_record *r)
{
	struct check *c = arg;
	const unsigned char *p = r->der;
	X509 *x = NULL;
	char s[M2M_CERT_SERIAL_HEX + 4];
	enum m2m_err rc;

	c->n++;
	c->out->certs++;
	snprintf(s, sizeof(s), "%.40s", r->serial);
	x = X509_new_ex(c->ctx->libctx, NULL);
	if (!x)
		return m2m_error(c->ctx, M2M_ERR_NOMEM, "out of memory");
	if (!d2i_X509(&x, &p, (long)r->der_len) || p != r->der + r->der_len)
		rc = bad(c, "its DER is not a certificate");
	else
		rc = record_one(c, r, x);
	if (rc == M2M_OK)
		rc = status_one(c, r);
	if (rc == M2M_OK)
		rc = unique_one(c, r);
	X509_free(x);
	ERR_clear_error();
	if (rc == M2M_ERR_VERIFY)
		m2m_error_prefix(c->ctx, "certificate %" PRIu64 " (serial %s)",
				 c->n, s);
	return rc;
}

/* ---- CRLs ------------------------------------------------------------------ */

static int rev_cmp(const void *a, const void *b)
{
	return strcmp(((const struct revoked *)a)->serial,
		      ((const struct revoked *)b)->serial);
}

static const struct revoked *rev_find(const struct check *c, const char *sn)
{
	struct revoked key;

	snprintf(key.serial, sizeof(key.serial), "%s", sn);
	return c->nrev ? bsearch(&key, c->rev, c->nrev, sizeof(*c->rev),
				 rev_cmp) : NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum m2m_err crl_entries(struct check *c, X509_CRL *crl, int64_t tu)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
	int i, n = revs ? sk_X509_REVOKED_num(revs) : 0;
	char **listed = NULL, *sns = NULL;
	size_t k;
	enum m2m_err rc = M2M_OK;

	if (n > 0) {
		listed = calloc((size_t)n, sizeof(*listed));
		sns = calloc((size_t)n, M2M_CERT_SERIAL_HEX);
		if (!listed || !sns) {
			rc = m2m_error(c->ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);
		const ASN1_INTEGER *ai = X509_REVOKED_get0_serialNumber(rv);
		const unsigned char *p = ASN1_STRING_get0_data(ai);
		int len = ASN1_STRING_length(ai), pad, crit = 0, reason = 0;
		ASN1_ENUMERATED *re;
		const struct revoked *led;
		char *sn = sns + (size_t)i * M2M_CERT_SERIAL_HEX;
		int64_t when;

		pad = len > 0 && (p[0] & 0x80);
		if (len < 1 || len + pad > 20 || (ASN1_STRING_type(ai) & V_ASN1_NEG)) {
			rc = bad(c, "entry %d is not a serial of 1 to 20 octets", i + 1);
			goto out;
		}
		if (pad)
			memcpy(sn, "00", 2);
		m2m_hex_encode(p, (size_t)len, sn + 2 * pad);
		listed[i] = sn;
		led = rev_find(c, sn);
		if (!led) {
			rc = bad(c, "it lists serial %s, which the ledger does not record as revoked",
				 sn);
			goto out;
		}
		when = m2m_asn1_time_epoch(X509_REVOKED_get0_revocationDate(rv));
		re = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, &crit, NULL);
		if (re) {
			reason = (int)ASN1_ENUMERATED_get(re);
			ASN1_ENUMERATED_free(re);
		}
		if (when != led->when || reason != led->reason) {
			rc = bad(c, "it gives serial %s the revocation time %" PRId64 " and reason %d, the ledger %" PRId64 " and %d",
				 sn, when, reason, led->when, led->reason);
			goto out;
		}
		if (led->when > tu) {
			rc = bad(c, "it lists serial %s, revoked after the CRL was made",
				 sn);
			goto out;
		}
	}
	if (n > 1)
		qsort(listed, (size_t)n, sizeof(*listed), str_cmp);
	for (k = 0; k < c->nrev; k++) {
		const char *key = c->rev[k].serial;

		if (c->rev[k].when >= tu)
			continue;	/* after it (or in its second) */
		if (!n || !bsearch(&key, listed, (size_t)n, sizeof(*listed),
				   str_cmp)) {
			rc = bad(c, "it does not list serial %s (certificate %" PRIu64 "), revoked before it was made",
				 key, c->rev[k].record);
			goto out;
		}
	}
out:
	free(listed);
	free(sns);
	return rc;
}

static enum m2m_err crl_one(struct check *c, const struct m2m_crl_record *r)
{
	X509_CRL *crl = NULL;
	uint64_t number = 0;
	ASN1_INTEGER *num;
	int crit = 0;
	int64_t tu;
	enum m2m_err rc;

	if (!r->der)
		return bad(c, "its number was taken, but no CRL was recorded");
	rc = m2m_crl_parse(c->ctx, r->der, r->der_len, &crl);
	if (rc == M2M_ERR_INVALID)
		return bad(c, "its DER is not a CRL");
	if (rc != M2M_OK)
		return rc;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
			  X509_get_subject_name(c->cax)) != 0) {
		rc = bad(c, "its issuer is not the CA");
		goto out;
	}
	if (!c->cakey || X509_CRL_verify(crl, c->cakey) != 1) {
		rc = bad(c, "it is not signed by the CA's key");
		goto out;
	}
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	if (!num || !ASN1_INTEGER_get_uint64(&number, num) ||
	    number != r->number) {
		ASN1_INTEGER_free(num);
		rc = bad(c, "its cRLNumber is not %" PRIu64, r->number);
		goto out;
	}
	ASN1_INTEGER_free(num);
	tu = m2m_asn1_time_epoch(X509_CRL_get0_lastUpdate(crl));
	if (tu != r->this_update) {
		rc = bad(c, "its thisUpdate is %" PRId64 ", the ledger records %" PRId64,
			 tu, r->this_update);
		goto out;
	}
	rc = crl_entries(c, crl, tu);
out:
	X509_CRL_free(crl);
	ERR_clear_error();
	return rc;
}

static enum m2m_err crl_walk(void *arg, const struct m2m_crl_record *r)
{
	struct check *c = arg;
	enum m2m_err rc;

	c->out->crls++;
	rc = crl_one(c, r);
	if (rc == M2M_ERR_VERIFY)
		m2m_error_prefix(c->ctx, "CRL %" PRIu64, r->number);
	return rc;
}

/* ---- the audit log against the records ---------------------------------------- */

/* The value of "key":"..." in a detail we wrote, into out; 0 if none. */
static int detail_string(const char *detail, const char *key, char *out,
			 size_t size)
{
	char pat[32];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(detail, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	e = strchr(p, '"');
	if (!e || (size_t)(e - p) >= size || e == p)
		return 0;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 1;
}

static enum m2m_err audit_walk(void *arg, const struct m2m_audit_entry *e)
{
	struct check *c = arg;
	char sn[M2M_CERT_SERIAL_HEX + 8];
	int issue = strcmp(e->op, "issue") == 0 || strcmp(e->op, "issue-ca") == 0;
	int revoke = strcmp(e->op, "revoke") == 0;
	enum m2m_err rc;

	if (!issue && !revoke)
		return M2M_OK;
	if (!detail_string(e->detail, "serial", sn, sizeof(sn)) ||
	    strlen(sn) >= M2M_CERT_SERIAL_HEX)
		return bad(c, "audit entry %" PRIu64 " (%s) names no serial",
			   e->seq, e->op);
	if (!m2m_seen_find(c->serials, sn, strlen(sn), NULL))
		return bad(c, "audit entry %" PRIu64 " (%s): serial %s is not in the ledger",
			   e->seq, e->op, sn);
	if (revoke && !rev_find(c, sn))
		return bad(c, "audit entry %" PRIu64 " (revoke): certificate %s is not revoked in the ledger",
			   e->seq, sn);
	rc = m2m_seen_add(c->ctx, issue ? c->issued : c->revokes, sn,
			  strlen(sn), e->seq, NULL);
	if (rc == M2M_ERR_DUPLICATE)
		return bad(c, "audit entry %" PRIu64 " (%s): serial %s was %s before",
			   e->seq, e->op, sn, issue ? "issued" : "revoked");
	return rc;
}

/* Every record has its issue entry, every revocation its revoke entry. */
static enum m2m_err audited_walk(void *arg, const struct m2m_cert_record *r)
{
	struct check *c = arg;

	c->n++;
	if (!m2m_seen_find(c->issued, r->serial, strlen(r->serial), NULL))
		return bad(c, "certificate %" PRIu64 " (serial %.40s) has no issue entry in the audit log",
			   c->n, r->serial);
	if (r->status == M2M_CERT_REVOKED &&
	    !m2m_seen_find(c->revokes, r->serial, strlen(r->serial), NULL))
		return bad(c, "certificate %" PRIu64 " (serial %.40s) is revoked, but the audit log has no revoke entry for it",
			   c->n, r->serial);
	return M2M_OK;
}

enum m2m_err m2m_verify_ledger(struct m2m_ctx *ctx, struct m2m_ca *ca,
			       struct m2m_ledger_check *out)
{
	struct m2m_ledger *l = m2m_ca_ledger(ca);
	struct check c;
	enum m2m_err rc;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.ca = ca;
	c.out = out;
	c.cax = m2m_cert_x509(m2m_ca_cert(ca));
	c.cakey = c.cax ? X509_get0_pubkey(c.cax) : NULL;
	ERR_clear_error();
	if (!c.cax)
		return m2m_error(ctx, M2M_ERR_INVALID, "the CA certificate cannot be parsed");
	rc = m2m_seen_new(ctx, &c.serials);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &c.valid);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &c.issued);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &c.revokes);
	if (rc != M2M_OK)
		goto out;

	rc = m2m_ledger_audit_verify(ctx, l, &out->audit_entries, NULL);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_ledger_list(ctx, l, NULL, cert_walk, &c);
	if (rc != M2M_OK)
		goto out;
	if (c.nrev > 1)
		qsort(c.rev, c.nrev, sizeof(*c.rev), rev_cmp);
	rc = m2m_ledger_crl_list(ctx, l, crl_walk, &c);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_ledger_audit_list(ctx, l, audit_walk, &c);
	if (rc != M2M_OK)
		goto out;
	c.n = 0;
	rc = m2m_ledger_list(ctx, l, NULL, audited_walk, &c);
out:
	m2m_seen_free(c.serials);
	m2m_seen_free(c.valid);
	m2m_seen_free(c.issued);
	m2m_seen_free(c.revokes);
	free(c.rev);
	return rc;
}
