/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_KEY_H
#define M2M_KEY_H

#include <stddef.h>

#include <m2m/ctx.h>

/*
 * Private keys wherever they live, behind one interface.  A key is named by
 * a URI (shared/spec/profiles.md, "Key and certificate locations"):
 *   file:/path/dev.key  or a bare path     a PEM private key file
 *   pkcs11:...                             a PKCS#11 token object
 *   tpm2:handle=0x81020000                 a persistent TPM 2.0 key
 * Each scheme is one back-end in lib/keystore/ behind one ops table; the
 * rest of the library only ever signs through the OpenSSL EVP_PKEY that a
 * struct m2m_key carries, so a CA or a device key works the same wherever
 * it is.  A pkcs11: or tpm2: key's EVP_PKEY belongs to a provider built
 * into the library that asks the token or TPM to sign; its private part
 * never leaves the device.
 *
 * Certificates live at the same kinds of location (m2m_cert_store(),
 * m2m_cert_load()): a PEM file, a PKCS#11 certificate object, or a TPM
 * NV index ("tpm2:nv=0x01C90000").
 */

struct m2m_key;
struct m2m_cert;

enum m2m_key_alg {
	M2M_KEY_EC_P256 = 0,	/* the default */
	M2M_KEY_EC_P384,
	M2M_KEY_RSA2048,
	M2M_KEY_RSA3072,
	M2M_KEY_ED25519,
	M2M_KEY_ALG_COUNT
};

/* "ec-p256", "ec-p384", "rsa2048", "rsa3072", "ed25519"; NULL if unknown. */
const char *m2m_key_alg_name(enum m2m_key_alg alg);

/* The algorithm named name (case-insensitive), or -1. */
int m2m_key_alg_lookup(const char *name);

/*
 * A secret (passphrase, PIN) comes from a source, never from a plain
 * argument that would show in argv:
 *   pass:TEXT   the text itself (works, but visible in ps: commands warn)
 *   env:VAR     the environment variable VAR
 *   file:PATH   the first line of the file PATH
 *   fd:N        the first line read from file descriptor N
 * Read the secret named by source into buf[0..size), NUL-terminated,
 * without its line end; *len (may be NULL) gets its length.  Returns
 * M2M_ERR_INVALID for a malformed source or a secret that does not fit,
 * M2M_ERR_NOT_FOUND for an unset variable, M2M_ERR_IO for an unreadable
 * file or descriptor.  The detail names the source, never the secret.
 * The caller wipes buf (m2m_secret_wipe) when done.
 */
enum m2m_err m2m_secret_read(struct m2m_ctx *ctx, const char *source,
			     char *buf, size_t size, size_t *len);

/* Overwrite buf[0..size) with zeros in a way the compiler keeps. */
void m2m_secret_wipe(void *buf, size_t size);

/*
 * Options for generating and loading keys and storing certificates.  All
 * secrets are sources (above), never the secret itself.
 */
struct m2m_key_opts {
	const char *pass_source;	/* passphrase source for file keys:
					   generate encrypts with it (AES-256),
					   load decrypts with it; NULL: none */
	const char *pin_source;		/* PKCS#11 user PIN when the URI has
					   neither pin-source nor pin-value */
	const char *tcti;		/* TPM: tpm2-tss TCTI config string;
					   NULL: $M2M_TCTI, else tpm2-tss's
					   default */
	const char *auth_source;	/* TPM owner hierarchy authorisation;
					   NULL: empty */
	int force;			/* generate/store: replace an existing
					   key, handle, object or file */
};

/*
 * Generate a key of algorithm alg at uri, inside its back-end (file: a new
 * PEM file created O_EXCL|O_NOFOLLOW with mode 0600, written to a
 * temporary name and renamed).  Refuses to replace an existing key
 * (M2M_ERR_DUPLICATE) unless opts->force.  opts may be NULL.
 * Returns M2M_ERR_INVALID for a malformed URI, M2M_ERR_UNSUPPORTED for a
 * scheme or algorithm the back-end cannot do, M2M_ERR_IO, M2M_ERR_CRYPTO.
 * Caller owns *out; free with m2m_key_free().
 */
enum m2m_err m2m_key_generate(struct m2m_ctx *ctx, const char *uri,
			      enum m2m_key_alg alg,
			      const struct m2m_key_opts *opts,
			      struct m2m_key **out);

/*
 * Load the key at uri.  M2M_ERR_NOT_FOUND if there is none,
 * M2M_ERR_INVALID if it is not a private key we can use (or is encrypted
 * and no passphrase source was given), M2M_ERR_INVALID for a wrong
 * passphrase ("wrong passphrase for 'URI'").  opts may be NULL.
 * Caller owns *out; free with m2m_key_free().
 */
enum m2m_err m2m_key_load(struct m2m_ctx *ctx, const char *uri,
			  const struct m2m_key_opts *opts,
			  struct m2m_key **out);

/*
 * A key of algorithm alg that lives only in memory (URI "memory:"), for a
 * device that gets its key from the CA in a PKCS#12 file.  Caller owns
 * *out.
 */
enum m2m_err m2m_key_new_ephemeral(struct m2m_ctx *ctx, enum m2m_key_alg alg,
				   struct m2m_key **out);

/*
 * Destroy the key at uri in its back-end (file: unlink; pkcs11: the
 * private and public key objects; tpm2: evict the persistent handle), for
 * undoing a key generated for something that then failed.
 * M2M_ERR_NOT_FOUND if there is none.  opts may be NULL.
 */
enum m2m_err m2m_key_remove(struct m2m_ctx *ctx, const char *uri,
			    const struct m2m_key_opts *opts);

/* Free a key handle (the key itself stays where it is).  Accepts NULL. */
void m2m_key_free(struct m2m_key *key);

/* The key's URI as given.  Borrowed. */
const char *m2m_key_uri(const struct m2m_key *key);

/* The key's algorithm. */
enum m2m_key_alg m2m_key_get_alg(const struct m2m_key *key);

/*
 * The DER SubjectPublicKeyInfo of the key into *der (caller frees with
 * free()) and *len.
 */
enum m2m_err m2m_key_public_der(struct m2m_ctx *ctx, const struct m2m_key *key,
				unsigned char **der, size_t *len);

#define M2M_KEY_FINGERPRINT_HEX 65	/* SHA-256 in hex, with NUL */

/*
 * The SHA-256 of the key's DER SubjectPublicKeyInfo in lower-case hex
 * into out, which must hold M2M_KEY_FINGERPRINT_HEX bytes (the same as a
 * certificate's public key would give, so a key and its certificate can
 * be matched by eye).  M2M_ERR_CRYPTO if the key cannot be encoded.
 */
enum m2m_err m2m_key_fingerprint(struct m2m_ctx *ctx, const struct m2m_key *key,
				 char out[M2M_KEY_FINGERPRINT_HEX]);

/*
 * Store cert, followed by the nchain certificates of chain[] (issuer
 * first, root last; nchain may be 0), at uri:
 *   file:        one PEM file, cert then chain, written to a temporary
 *                name and renamed;
 *   pkcs11:      a CKO_CERTIFICATE object with the CKA_ID and CKA_LABEL
 *                the URI names (those of the key it belongs to), chain
 *                certificates as authority objects;
 *   tpm2:nv=IDX  an NV index defined to the DER's size and written in
 *                chunks (chain: M2M_ERR_UNSUPPORTED, store it elsewhere).
 * Every back-end reads what it wrote back and compares it byte for byte.
 * Refuses to replace what is there (M2M_ERR_DUPLICATE) unless
 * opts->force; a failed store leaves nothing behind.  opts may be NULL.
 */
enum m2m_err m2m_cert_store(struct m2m_ctx *ctx, const char *uri,
			    const struct m2m_cert *cert,
			    struct m2m_cert *const *chain, size_t nchain,
			    const struct m2m_key_opts *opts);

/*
 * Load the certificates at uri: (*out)[0] is the certificate, then any
 * chain stored with it; *n gets their number (at least 1).
 * M2M_ERR_NOT_FOUND if there is none.  Free with m2m_cert_list_free().
 */
enum m2m_err m2m_cert_load(struct m2m_ctx *ctx, const char *uri,
			   const struct m2m_key_opts *opts,
			   struct m2m_cert ***out, size_t *n);

/*
 * Remove the certificate at uri from its back-end (file: unlink; tpm2:nv=
 * undefine the NV index, with the owner's authorisation; pkcs11: the
 * certificate object the URI names, and the chain stored under its label
 * when no other certificate is kept under it), for a certificate that was
 * replaced or that must not stay without its key.  M2M_ERR_NOT_FOUND if
 * there is none, M2M_ERR_USAGE if a pkcs11: URI names more than one.
 * opts may be NULL.
 */
enum m2m_err m2m_cert_remove(struct m2m_ctx *ctx, const char *uri,
			     const struct m2m_key_opts *opts);

/* Free what m2m_cert_load() returned.  Accepts NULL. */
void m2m_cert_list_free(struct m2m_cert **list, size_t n);

/*
 * The scheme of the back-end that would handle uri: "file", "pkcs11" or
 * "tpm2" (a bare path is "file"); NULL for an unknown scheme.
 */
const char *m2m_key_scheme(const char *uri);

#endif
