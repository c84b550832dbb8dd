/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_INTERNAL_H
#define M2M_INTERNAL_H

/* What lib/ files share and the public headers do not show. */

#include <stddef.h>

#include <m2m/ctx.h>

#define M2M_DETAIL_MAX 1024

struct ossl_lib_ctx_st;
struct evp_md_st;
struct evp_md_ctx_st;
struct evp_pkey_ctx_st;
struct m2m_pkcs11_state;	/* lib/keystore/pkcs11.c */
struct m2m_tpm2_state;		/* lib/keystore/tpm2.c */

struct m2m_ctx {
	struct ossl_lib_ctx_st *libctx;	/* OSSL_LIB_CTX, owned unless
					   borrowed is set */
	void *default_provider;		/* OSSL_PROVIDER, loaded in libctx */
	int borrowed;			/* libctx is another context's */
	struct evp_md_st *sha256, *sha384;	/* fetched on first use */
	struct evp_pkey_st *ec_curve[2];	/* P-256, P-384 parameters */
	struct evp_pkey_st *ec_verify[2];	/* m2m_ctx_ec_verify's keys */
	struct evp_pkey_ctx_st *ec_verify_ctx[2];	/* and their contexts */
	struct evp_md_ctx_st *md_ctx;		/* m2m_ctx_ec_verify's hashing */
	void *ext_provider;		/* OSSL_PROVIDER "m2m-ext" (extkey.c),
					   loaded on first use */
	struct m2m_pkcs11_state *pkcs11;	/* modules and sessions */
	struct m2m_tpm2_state *tpm2;		/* ESYS connections */
	enum m2m_err err;
	char detail[M2M_DETAIL_MAX];
};

/*
 * Record err and a printf-formatted detail in ctx; returns err so callers
 * can "return m2m_error(ctx, M2M_ERR_INVALID, ...)".  ctx may be NULL.
 */
enum m2m_err m2m_error(struct m2m_ctx *ctx, enum m2m_err err,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * As m2m_error(), then append OpenSSL's error queue (and empty it):
 * "DETAIL: lib-reason; lib-reason".  The one place that reads the queue.
 */
enum m2m_err m2m_error_ossl(struct m2m_ctx *ctx, enum m2m_err err,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A context for another thread that uses parent's library context (so
 * that what it makes can be used and freed with parent's) and has
 * everything else of its own.  parent must outlive it.  Caller owns *out;
 * free with m2m_ctx_free().  M2M_ERR_NOMEM (no detail) on failure.
 */
enum m2m_err m2m_ctx_new_sibling(const struct m2m_ctx *parent,
				 struct m2m_ctx **out);

/*
 * SHA-256 (bits 256) or SHA-384 (384) of ctx's library context, fetched
 * once; NULL if it cannot be.  Owned by ctx.
 */
const struct evp_md_st *m2m_ctx_md(struct m2m_ctx *ctx, int bits);

/*
 * A P-256 (p384 0) or P-384 public key from its encoded point pt[0..len),
 * made from a parameters-only key of the curve that ctx keeps (cheaper
 * than building the group each time).  Caller owns *out.
 * M2M_ERR_INVALID (no detail: the caller words it) if the point is not
 * on the curve or not an encoded point.
 */
struct evp_pkey_st;
enum m2m_err m2m_ctx_ec_key(struct m2m_ctx *ctx, int p384,
			    const unsigned char *pt, size_t len,
			    struct evp_pkey_st **out);

/*
 * Check an ECDSA signature sig[0..sig_len) (DER) over data[0..len), hashed
 * with SHA-256 (bits 256) or SHA-384 (384), under the P-256 (p384 0) or
 * P-384 public key whose encoded point is pt[0..pt_len): as
 * EVP_DigestVerify() with a key made from the point, without making a key
 * per call (ctx keeps one per curve and replaces its point).  Returns 1 if
 * it verifies, 0 if not (OpenSSL's reason, such as a malformed signature,
 * left in its error queue for m2m_error_ossl()), -1 if pt is not a point
 * on the curve, -2 if the check could not be made (out of memory, no such
 * algorithm); the queue is left empty but for 0.  No detail is recorded.
 * Not for two threads at once on one ctx.
 */
int m2m_ctx_ec_verify(struct m2m_ctx *ctx, int p384, const unsigned char *pt,
		      size_t pt_len, int bits, const unsigned char *sig,
		      size_t sig_len, const unsigned char *data, size_t len);

/*
 * Put a printf-formatted prefix and ": " before the detail already in ctx
 * (adding context on the way up: "column 'wifi': " + detail).  Returns the
 * recorded code.  ctx may be NULL.
 */
enum m2m_err m2m_error_prefix(struct m2m_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A library context in which certificates and CMP messages parse several
 * times faster (few decoders: lib/leafctx.c), or NULL if it cannot be
 * made (then parse the ordinary way: slower only).  A public key of a
 * type other than EC, RSA or Ed25519 is left undecoded in it.  ctx must
 * outlive it; free with m2m_leaf_libctx_free(l, *prov).
 */
struct ossl_provider_st;
struct ossl_lib_ctx_st *m2m_leaf_libctx_new(struct m2m_ctx *ctx,
					    struct ossl_provider_st **prov);
void m2m_leaf_libctx_free(struct ossl_lib_ctx_st *l,
			  struct ossl_provider_st *prov);

#include <m2m/file.h>

/*
 * Append s as a JSON string (quotes, escapes) to out[0..size) at offset
 * *o, moving *o; stops short rather than overflow; keeps out
 * NUL-terminated.
 */
void m2m_json_put(char *out, size_t size, size_t *o, const char *s);

#endif
