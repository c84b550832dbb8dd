/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CERT_INTERNAL_H
#define M2M_CERT_INTERNAL_H

/* Internal: what lib/ knows about certificates and requests. */

#include <openssl/x509.h>

#include <m2m/cert.h>

#define M2M_DN_MAX 1024	/* longest DN text accepted */

struct m2m_cert {
	X509 *x509;			/* NULL until asked for: m2m_cert_x509 */
	unsigned char *der;
	size_t der_len;
	char serial[M2M_CERT_SERIAL_HEX];
	char fingerprint[M2M_FINGERPRINT_HEX];
};

/*
 * A request.  The common factory case (an EC P-256/P-384 key, ECDSA, no
 * attributes) is read by hand and verified without building an X509_REQ:
 * then req is NULL and the SubjectPublicKeyInfo is kept as its parts.
 * Anything else goes through d2i_X509_REQ and has req.
 */
struct m2m_csr {
	X509_REQ *req;			/* NULL on the fast path */
	unsigned char *der;
	size_t der_len;
	enum m2m_key_alg alg;
	int curve_nid;			/* fast path: NID of the curve */
	size_t pk_off, pk_len;		/* fast path: the point, in der */
	size_t spki_off, spki_len;	/* fast path: the whole SPKI, in der */
};

/*
 * The request's SubjectPublicKeyInfo as DER, as it is (no re-encoding
 * through the provider machinery): *der points into the request's own DER
 * (fast path), or to *owned, encoded from the parsed request (caller
 * frees *owned with OPENSSL_free; NULL when nothing was allocated).
 * Returns 0 on failure.
 */
int m2m_csr_spki(const struct m2m_csr *csr, const uint8_t **der,
		 size_t *len, unsigned char **owned);

/*
 * The request's extensionRequest (NULL if none; caller frees with
 * sk_X509_EXTENSION_pop_free).
 */
STACK_OF(X509_EXTENSION) *m2m_csr_extensions(const struct m2m_csr *csr);

/*
 * A request for the public key pub with the extensions exts (NULL or
 * empty: none), made of parts whose proof of possession the caller has
 * checked (a CMP certificate template): it has no DER of its own, so
 * m2m_csr_encode() and m2m_csr_subject() have nothing to give.
 * M2M_ERR_UNSUPPORTED for a key we do not issue to.  Caller owns *out.
 */
enum m2m_err m2m_csr_from_spki(struct m2m_ctx *ctx, X509_PUBKEY *pub,
			       const STACK_OF(X509_EXTENSION) *exts,
			       struct m2m_csr **out);

/*
 * The same from the DER of a SubjectPublicKeyInfo: an EC P-256/P-384 key
 * with an uncompressed point and no extensions is taken as it is, without
 * decoding the key (which costs OpenSSL 3.0 more than issuing): its
 * proof of possession, checked by the caller, decoded it already.
 * M2M_ERR_INVALID for DER that is no SubjectPublicKeyInfo.
 */
enum m2m_err m2m_csr_from_spki_der(struct m2m_ctx *ctx, const uint8_t *der,
				   size_t len,
				   const STACK_OF(X509_EXTENSION) *exts,
				   struct m2m_csr **out);

/* Wrap *x (taken over: *x is NULL afterwards on success). */
enum m2m_err m2m_cert_from_x509(struct m2m_ctx *ctx, X509 **x,
				struct m2m_cert **out);

/*
 * Wrap a certificate made here from its DER (*der, malloc()ed, taken over:
 * *der is NULL afterwards on success) and its serial (the INTEGER's
 * content octets, positive): no X509 is made until m2m_cert_x509() asks
 * for one.  Caller owns *out.
 */
enum m2m_err m2m_cert_from_der(struct m2m_ctx *ctx, unsigned char **der,
			       size_t der_len, const unsigned char *serial,
			       size_t serial_len, struct m2m_cert **out);

/*
 * The X509 inside cert, parsed from its DER on first use (so a certificate
 * is not shared between threads).  Borrowed; NULL if it cannot be parsed.
 */
X509 *m2m_cert_x509(const struct m2m_cert *cert);

/* name as RFC 4514 text into out[0..size). */
void m2m_name_text(const X509_NAME *name, char *out, size_t size);

/*
 * Parse a DN written "C=DE,O=Example Ltd,CN=x" (RDNs in certificate
 * order, most significant first; "\," for a comma in a value) into *out.
 * Attributes: C ST L O OU CN DC serialNumber.  M2M_ERR_INVALID otherwise.
 */
enum m2m_err m2m_name_parse(struct m2m_ctx *ctx, const char *text,
			    X509_NAME **out);

/* An ASN1_TIME as seconds since the epoch (0 if unreadable). */
int64_t m2m_asn1_time_epoch(const ASN1_TIME *t);

/* DER bytes as PEM (under pem_name) or DER, into *out (free()). */
enum m2m_err m2m_der_encode(struct m2m_ctx *ctx, const unsigned char *der,
			    size_t der_len, const char *pem_name,
			    enum m2m_format fmt, char **out, size_t *len);

/* The digest a key of alg signs with ("SHA256"; NULL for Ed25519). */
const char *m2m_sign_digest(enum m2m_key_alg alg);

/*
 * A signing context for pkey (of algorithm alg) in ctx's library context,
 * ready for X509_sign_ctx() and friends.  Caller owns *out
 * (EVP_MD_CTX_free).
 */
enum m2m_err m2m_sign_ctx_new(struct m2m_ctx *ctx, EVP_PKEY *pkey,
			      enum m2m_key_alg alg, EVP_MD_CTX **out);

#endif
