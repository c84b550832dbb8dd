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
 * X509_CRL_sign_ctx and OCSP_basic_sign_ctx work with such a key
 * unchanged; lib/ makes its signing contexts with m2m_extkey_propq()
 * (lib/cert.c, m2m_sign_ctx_new).
 *
 * OpenSSL 3.0 fetches an operation by library context and property
 * query first, not from the key's provider: m2m_extkey_propq() asks for
 * ours directly.  A context made without it (EVP_PKEY_CTX_new(pkey,
 * NULL), OpenSSL's own X509_sign) first gets the default
 * provider's, which cannot have the private half; OpenSSL then falls
 * back on the key's provider, so it signs through the back-end too.
 * Verifying, encoding the public key (i2d_PUBKEY, X509_set_pubkey) and
 * comparing keys (EVP_PKEY_eq, X509_check_private_key) work either way:
 * the public half is exported, or verifying is handed to it.
 * One signing context signs any number of times (EVP_DigestSign hashes
 * each input alone), and can be copied (EVP_MD_CTX_copy_ex).
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
	 * or "SHA512") into sig[0..*siglen) (*siglen in: the room, at least
	 * EVP_PKEY_get_size(); out: the length).  ECDSA: the DER
	 * ECDSA-Sig-Value (a token's raw r || s must be converted); RSA:
	 * the signature, exactly the modulus' size; for PKCS#1 the
	 * back-end builds the DigestInfo of md (a token's CKM_RSA_PKCS
	 * takes it ready-made).  Anything else is refused before it
	 * reaches a certificate.  Returns 1 on success; 0 on failure, with
	 * an OpenSSL error raised (ERR_raise_data) whose text names the
	 * key's URI and the back-end's reason, never a PIN: the caller's
	 * m2m_error_ossl() detail shows it, followed by "the NAME key did
	 * not sign".  May be called from any thread that signs with the
	 * key, and from copies of one signing context: a back-end whose
	 * session is not thread-safe serialises here.
	 */
	int (*sign)(void *handle, enum m2m_extkey_pad pad, const char *md,
		    const unsigned char *dgst, size_t dlen,
		    unsigned char *sig, size_t *siglen);
	/*
	 * Release handle, once, when the last reference to the key goes:
	 * EVP_PKEY_up_ref/EVP_PKEY_dup copies, signing contexts made with
	 * the key (and their copies), and certificates or requests given
	 * it with X509_set_pubkey/X509_REQ_set_pubkey all hold one.
	 */
	void (*free)(void *handle);
};

/*
 * An EVP_PKEY in ctx's library context whose public half is pub (an
 * EC P-256/P-384 or RSA 2048/3072 key from any provider; up-referenced,
 * not copied; the caller may free its own reference at once) and whose
 * private operations call method->sign(handle).  method must outlive
 * the key (a static const table).  Loads the "m2m-ext" provider into
 * ctx on first use, and from then on ctx's library context prefers the
 * default provider ("?provider=default") where a fetch names none.
 * On success the new key owns handle; on failure the
 * caller still does.  Caller owns *out (EVP_PKEY_free), and frees it,
 * and everything holding it, before m2m_ctx_free(ctx).
 * M2M_ERR_UNSUPPORTED for another key type, curve or size (Ed25519
 * included), M2M_ERR_CRYPTO if OpenSSL refuses, M2M_ERR_INTERNAL for a
 * NULL pub or an incomplete method.
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
