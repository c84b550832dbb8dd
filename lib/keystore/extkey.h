/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_EXTKEY_H
#define M2M_EXTKEY_H

/*
 * Internal: keys whose private half lives elsewhere (a PKCS#11 token, a
 * TPM), as EVP_PKEYs OpenSSL signs with.  lib/keystore/extkey.c is an
 * OpenSSL 3 provider built into the library ("m2m-ext"): its key
 * management holds the public key and a back-end handle, and its
 * signature operations hash in software and hand the digest to the
 * back-end's sign callback.  X509_sign_ctx, X509_REQ_sign_ctx,
 * X509_CRL_sign_ctx, OCSP_basic_sign_ctx and CMS work with such a key
 * unchanged, as long as the signing context is made with
 * m2m_extkey_propq() (lib/cert.c, m2m_sign_ctx_new).
 */

#include <stddef.h>

#include <openssl/evp.h>

#include <m2m/ctx.h>

enum m2m_extkey_pad {
	M2M_EXTKEY_ECDSA,	/* ECDSA over the digest */
	M2M_EXTKEY_RSA_PKCS1,	/* RSASSA-PKCS1-v1_5: DigestInfo, then pad */
	M2M_EXTKEY_RSA_PSS	/* RSASSA-PSS, MGF1 with the same digest,
				   salt length = digest length */
};

struct m2m_extkey_method {
	const char *name;	/* "pkcs11", "tpm2": for error text */
	/*
	 * Sign the digest dgst[0..dlen) made with md ("SHA256", "SHA384"
	 * or "SHA512") into sig[0..*siglen) (*siglen in: the room; out: the
	 * length).  ECDSA: the DER ECDSA-Sig-Value; RSA: the signature, the
	 * modulus' size.  Returns 1 on success; 0 on failure, with an
	 * OpenSSL error raised (ERR_raise_data) whose text names the key's
	 * URI and the back-end's reason, never a PIN.
	 */
	int (*sign)(void *handle, enum m2m_extkey_pad pad, const char *md,
		    const unsigned char *dgst, size_t dlen,
		    unsigned char *sig, size_t *siglen);
	/* Release handle, when the last reference to the key goes. */
	void (*free)(void *handle);
};

/*
 * An EVP_PKEY in ctx's library context whose public half is pub (an
 * EC P-256/P-384 or RSA key from any provider; up-referenced, not
 * copied) and whose private operations call method->sign(handle).
 * On success the new key owns handle; on failure the caller still does.
 * Caller owns *out (EVP_PKEY_free).
 */
enum m2m_err m2m_extkey_new(struct m2m_ctx *ctx, EVP_PKEY *pub,
			    const struct m2m_extkey_method *method,
			    void *handle, EVP_PKEY **out);

/* Nonzero if pkey is one of these keys. */
int m2m_extkey_is(const EVP_PKEY *pkey);

/*
 * The property query to fetch signature operations for pkey with:
 * "provider=m2m-ext" for these keys, NULL for any other.
 */
const char *m2m_extkey_propq(const EVP_PKEY *pkey);

/* Unload the provider from ctx (m2m_ctx_free). */
void m2m_extkey_ctx_free(struct m2m_ctx *ctx);

#endif
