/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_KEYSTORE_H
#define M2M_KEYSTORE_H

/*
 * Internal: the ops table every key back-end implements, and what the
 * rest of lib/ may know about a struct m2m_key (its EVP_PKEY).
 */

#include <limits.h>

#include <openssl/evp.h>

#include <m2m/key.h>

struct m2m_keystore_ops {
	const char *scheme;	/* URI scheme without ':' */
	/*
	 * Make a key at locator (the URI's part after "scheme:", or a bare
	 * path for the file back-end); *out gets an EVP_PKEY that signs with
	 * it.  Errors as m2m_key_generate().
	 */
	enum m2m_err (*generate)(struct m2m_ctx *ctx, const char *locator,
				 enum m2m_key_alg alg,
				 const struct m2m_key_opts *opts,
				 EVP_PKEY **out);
	/* Open the key at locator.  Errors as m2m_key_load(). */
	enum m2m_err (*load)(struct m2m_ctx *ctx, const char *locator,
			     const struct m2m_key_opts *opts, EVP_PKEY **out);
	/* As m2m_key_remove(), at locator. */
	enum m2m_err (*remove)(struct m2m_ctx *ctx, const char *locator,
			       const struct m2m_key_opts *opts);
	/* As m2m_cert_store() and m2m_cert_load(), at locator. */
	enum m2m_err (*cert_store)(struct m2m_ctx *ctx, const char *locator,
				   const struct m2m_cert *cert,
				   struct m2m_cert *const *chain,
				   size_t nchain,
				   const struct m2m_key_opts *opts);
	enum m2m_err (*cert_load)(struct m2m_ctx *ctx, const char *locator,
				  const struct m2m_key_opts *opts,
				  struct m2m_cert ***out, size_t *n);
	/*
	 * Release what the back-end keeps in ctx (a loaded module, an open
	 * session, a TPM connection); called by m2m_ctx_free().  May be
	 * NULL.  Keys a back-end handed out must have been freed first.
	 */
	void (*ctx_free)(struct m2m_ctx *ctx);
	/* As m2m_cert_remove(), at locator. */
	enum m2m_err (*cert_remove)(struct m2m_ctx *ctx, const char *locator,
				    const struct m2m_key_opts *opts);
};

extern const struct m2m_keystore_ops m2m_keystore_file;
extern const struct m2m_keystore_ops m2m_keystore_pkcs11;
extern const struct m2m_keystore_ops m2m_keystore_tpm2;

/*
 * The path a file: location (or bare path) names, into path: what the
 * file back-end opens.  M2M_ERR_INVALID for a malformed location.
 */
enum m2m_err m2m_keystore_file_path(struct m2m_ctx *ctx, const char *loc,
				    char path[PATH_MAX]);

/* Every back-end's ctx_free, for m2m_ctx_free(). */
void m2m_keystore_ctx_free(struct m2m_ctx *ctx);

struct m2m_key {
	const struct m2m_keystore_ops *ops;
	char *uri;
	enum m2m_key_alg alg;
	EVP_PKEY *pkey;
};

/* The key's EVP_PKEY, to sign with.  Borrowed. */
EVP_PKEY *m2m_key_pkey(const struct m2m_key *key);

/*
 * Generate a key pair of alg in memory, in ctx's library context.
 * Caller owns *out (EVP_PKEY_free).
 */
enum m2m_err m2m_pkey_generate(struct m2m_ctx *ctx, enum m2m_key_alg alg,
			       EVP_PKEY **out);

/*
 * Which of our algorithms pkey is: M2M_ERR_UNSUPPORTED (with a detail
 * naming it) for any other type, curve or size.
 */
enum m2m_err m2m_pkey_alg(struct m2m_ctx *ctx, const EVP_PKEY *pkey,
			  enum m2m_key_alg *alg);

#endif
