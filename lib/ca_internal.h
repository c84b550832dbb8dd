/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CA_INTERNAL_H
#define M2M_CA_INTERNAL_H

/* Internal: the state of an open CA, shared by ca.c, issue.c, revoke.c. */

#include <limits.h>

#include <openssl/x509.h>

#include <m2m/ca.h>

/* DER made once and copied into every certificate issued. */
struct m2m_der_blob {
	unsigned char *der;		/* OPENSSL_malloc()ed; NULL: none */
	size_t len;
};

/* What issuing under one profile needs that is the same every time. */
struct m2m_profile_cache {
	int ready;
	struct m2m_der_blob subject;	/* the template's RDNs (no SEQUENCE
					 * header), without serialNumber */
	char *subject_text;		/* the template as m2m_name_text() */
	unsigned char hw_type[M2M_OID_TEXT_MAX];	/* DER of the OID */
	size_t hw_type_len;
	struct m2m_der_blob ku_eku;	/* Extension DER: keyUsage, then
					 * extendedKeyUsage, if any */
	struct m2m_der_blob masa;	/* Extension DER, if any */
};

struct m2m_ca {
	char dir[PATH_MAX];
	struct m2m_profiles profiles;
	struct m2m_cert *cert;
	struct m2m_key *key;		/* NULL unless opened with NEED_KEY */
	struct m2m_ledger *ledger;
	char *chain_pem;		/* to send with issued certificates */
	char *above_pem;		/* chain.pem: everything above us */
	int64_t not_after;		/* of the CA certificate */

	/* issuing, prepared once */
	EVP_MD_CTX *sign;		/* template signing context */
	X509_EXTENSION *aki;		/* for CRLs too */
	struct m2m_der_blob issuer;	/* our subject Name */
	struct m2m_der_blob sig_alg;	/* AlgorithmIdentifier of sign */
	struct m2m_der_blob aki_der, policies;	/* Extension DER */
	struct m2m_profile_cache cache[M2M_PROFILES_MAX];
	int in_group;
};

/* Resolve a location relative to the CA directory into out[0..size). */
void m2m_ca_path(const struct m2m_ca *ca, const char *rel, char *out,
		 size_t size);

/* Write ca.conf from ca->profiles. */
enum m2m_err m2m_ca_write_conf(struct m2m_ctx *ctx, const char *dir,
			       const struct m2m_profiles *p);

/* Free what issuing prepared (issue.c). */
void m2m_ca_issuer_release(struct m2m_ca *ca);

/*
 * Test hook (issue.c): the certificate m2m_ca_group_issue() would issue
 * for req, with serial instead of a random one, and the subject text and
 * validity it would record; the ledger is neither asked nor written.
 * Caller owns *out (m2m_cert_free).
 */
enum m2m_err m2m_ca_make_cert(struct m2m_ctx *ctx, struct m2m_ca *ca,
			      const struct m2m_issue_request *req,
			      const unsigned char serial[16],
			      struct m2m_cert **out, char *subject,
			      size_t subject_size, int64_t *not_before,
			      int64_t *not_after);

/* A fresh signing context copied from the CA's template (issue.c). */
enum m2m_err m2m_ca_sign_ctx(struct m2m_ctx *ctx, struct m2m_ca *ca,
			     EVP_MD_CTX **out);

/*
 * A positive random serial of 16 octets (126 bits of entropy; the first
 * octet 0x40..0x7f, so no leading zero and no sign bit).
 */
enum m2m_err m2m_random_serial(struct m2m_ctx *ctx, unsigned char serial[16]);

/* The current time, or now if non-zero. */
int64_t m2m_now(int64_t now);

#endif
