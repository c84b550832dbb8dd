/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CA_INTERNAL_H
#define M2M_CA_INTERNAL_H

/* Internal: the state of an open CA, shared by ca.c, issue.c, revoke.c. */

#include <limits.h>

#include <openssl/x509.h>

#include <m2m/ca.h>

/* What issuing under one profile needs that is the same every time. */
struct m2m_profile_cache {
	int ready;
	X509_NAME *subject;		/* the template, without serialNumber */
	unsigned char hw_type[M2M_OID_TEXT_MAX];	/* DER of the OID */
	size_t hw_type_len;
	X509_EXTENSION *ku, *eku, *masa;
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
	X509_EXTENSION *aki, *policies;
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
