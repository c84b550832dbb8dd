/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CERT_H
#define M2M_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>
#include <m2m/key.h>

/*
 * X.509 certificates and PKCS#10 certification requests, as the commands
 * see them: parsed from PEM or DER with a size cap, written as PEM or DER,
 * and asked for the few things a tool prints.
 */

#define M2M_CERT_MAX		(64 * 1024)	/* largest certificate/CSR */
#define M2M_CERT_LIST_MAX	16		/* most certificates in a bundle */
#define M2M_CERT_BUNDLE_MAX	(1024 * 1024)	/* largest bundle, in bytes */
#define M2M_FINGERPRINT_HEX	65		/* SHA-256 in hex, with NUL */
#define M2M_CERT_SERIAL_HEX	41		/* 20 octets in hex, with NUL */

struct m2m_cert;
struct m2m_csr;

enum m2m_format {
	M2M_FORMAT_PEM = 0,
	M2M_FORMAT_DER
};

/*
 * Parse one certificate from buf[0..len), PEM ("CERTIFICATE") or DER,
 * whichever it is.  M2M_ERR_INVALID (with a detail) for anything else, a
 * truncated one or trailing garbage after DER.  Caller owns *out; free
 * with m2m_cert_free().
 */
enum m2m_err m2m_cert_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			    struct m2m_cert **out);

/*
 * Parse a certificate and the chain that may follow it from
 * buf[0..len): every "CERTIFICATE" block of PEM, in order (text around
 * the blocks and blocks of other types are skipped), or one certificate
 * in DER.  At least one, at most M2M_CERT_LIST_MAX, each at most
 * M2M_CERT_MAX bytes, len at most M2M_CERT_BUNDLE_MAX.  M2M_ERR_INVALID
 * (the detail says which certificate and why) for anything else,
 * including a PEM block that is cut short or a buffer with no
 * certificate.  *n gets their number.  Caller owns *out; free with
 * m2m_cert_list_free().
 */
enum m2m_err m2m_cert_parse_list(struct m2m_ctx *ctx, const void *buf,
				 size_t len, struct m2m_cert ***out,
				 size_t *n);

/* m2m_cert_parse() of the file at path ("-": not accepted). */
enum m2m_err m2m_cert_load_file(struct m2m_ctx *ctx, const char *path,
				struct m2m_cert **out);

/* Free a certificate.  Accepts NULL. */
void m2m_cert_free(struct m2m_cert *cert);

/* The certificate's DER.  Borrowed. */
const uint8_t *m2m_cert_der(const struct m2m_cert *cert, size_t *len);

/*
 * The certificate as PEM or DER into *out (caller frees with free()) and
 * *len.
 */
enum m2m_err m2m_cert_encode(struct m2m_ctx *ctx, const struct m2m_cert *cert,
			     enum m2m_format fmt, char **out, size_t *len);

/* The serial number in lower-case hex (DER content octets).  Borrowed. */
const char *m2m_cert_serial(const struct m2m_cert *cert);

/* The subject as an RFC 4514 string into out[0..size).  Truncates. */
void m2m_cert_subject(const struct m2m_cert *cert, char *out, size_t size);

/* The issuer as an RFC 4514 string into out[0..size).  Truncates. */
void m2m_cert_issuer(const struct m2m_cert *cert, char *out, size_t size);

/* The SHA-256 fingerprint of the DER, lower-case hex.  Borrowed. */
const char *m2m_cert_fingerprint(const struct m2m_cert *cert);

/* notBefore / notAfter in seconds since the epoch. */
void m2m_cert_validity(const struct m2m_cert *cert, int64_t *not_before,
		       int64_t *not_after);

/*
 * Nonzero if key is the private key of cert's public key (compares the
 * public halves).
 */
int m2m_cert_matches_key(const struct m2m_cert *cert,
			 const struct m2m_key *key);

/*
 * Check with OpenSSL's path validation (strict RFC 5280 checks) that cert
 * chains through the untrusted certificates chain[0..nchain) to one of
 * anchors[0..nanchors), at time now (seconds since the epoch; 0: now).
 * An anchor need not be self-signed: the path may end at an issuing CA.
 * M2M_ERR_VERIFY, with OpenSSL's reason, the depth and the subject there
 * in the detail, if it does not.
 */
enum m2m_err m2m_chain_verify(struct m2m_ctx *ctx, const struct m2m_cert *cert,
			      struct m2m_cert *const *chain, size_t nchain,
			      struct m2m_cert *const *anchors, size_t nanchors,
			      int64_t now);

/*
 * Parse a PKCS#10 request from buf[0..len), PEM ("CERTIFICATE REQUEST"
 * or "NEW CERTIFICATE REQUEST") or DER, at most M2M_CERT_MAX bytes, and
 * check its signature with its own public key (proof of possession).
 * M2M_ERR_INVALID for malformed input or a signature that does not verify
 * (the detail says which), M2M_ERR_UNSUPPORTED for a key type we do not issue to.
 * Caller owns *out; free with m2m_csr_free().
 */
enum m2m_err m2m_csr_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			   struct m2m_csr **out);

/* Free a request.  Accepts NULL. */
void m2m_csr_free(struct m2m_csr *csr);

/* The algorithm of the request's public key. */
enum m2m_key_alg m2m_csr_key_alg(const struct m2m_csr *csr);

/* The request's subject as an RFC 4514 string into out[0..size). */
void m2m_csr_subject(const struct m2m_csr *csr, char *out, size_t size);

/*
 * Make a request for key (subject "CN=..." or NULL for an empty subject),
 * signed by key.  Caller owns *out.
 */
enum m2m_err m2m_csr_make(struct m2m_ctx *ctx, const struct m2m_key *key,
			  const char *subject, struct m2m_csr **out);

/* The request as PEM or DER into *out (caller frees with free()). */
enum m2m_err m2m_csr_encode(struct m2m_ctx *ctx, const struct m2m_csr *csr,
			    enum m2m_format fmt, char **out, size_t *len);

/*
 * A PKCS#12 file (DER) holding key, cert and the chain certificates in
 * chain_pem (may be NULL), protected (AES-256, PBKDF2) by the passphrase
 * from pass_source, into *der (free()) and *len.
 */
enum m2m_err m2m_pkcs12_make(struct m2m_ctx *ctx, const struct m2m_key *key,
			     const struct m2m_cert *cert, const char *chain_pem,
			     const char *pass_source, unsigned char **der,
			     size_t *len);

#endif
