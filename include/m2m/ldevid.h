/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_LDEVID_H
#define M2M_LDEVID_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

/*
 * Authenticated LDevID requests (IEEE 802.1AR; shared/spec/profiles.md,
 * "LDevID"): a PKCS#10 request for the new key, signed by that key (proof
 * of possession), wrapped in a CMS SignedData (RFC 5652) signed over the
 * whole DER request by the key of the certificate that vouches for the
 * device: its IDevID to enroll, its current LDevID to renew.
 *
 *   ContentInfo { id-signedData, SignedData {
 *     encapContentInfo  id-data, the DER CertificationRequest
 *     certificates      the signer's certificate, then its chain
 *     signerInfos       exactly one: issuerAndSerialNumber of the signer,
 *                       SHA-256 (SHA-384 for P-384 keys; an Ed25519
 *                       key cannot sign), signed attributes contentType,
 *                       signingTime, messageDigest and
 *                       id-cmc-regInfo (1.3.6.1.5.5.7.7.18, RFC 5272):
 *                       an OCTET STRING of ASCII words, "ldevid" or
 *                       "renew", then " reuse-key" when the new key is
 *                       the signer's own key } }
 *
 * A request file is that DER, or PEM under the label "CMS" (what
 * "openssl cms -outform PEM" writes), so openssl cms can read it too.
 */

#define M2M_LDEVID_REQUEST_MAX	(256 * 1024)	/* largest request file */
#define M2M_ANCHORS_MAX		(16 * 1024 * 1024)	/* largest anchors file */
#define M2M_ANCHORS_BLOCKS_MAX	4096		/* PEM blocks in it, at most */

/* Default LDevID locations in a TPM: the project's choice (owner range). */
#define M2M_LDEVID_TPM_KEY	"tpm2:handle=0x81000110"
#define M2M_LDEVID_TPM_CERT	"tpm2:nv=0x01800110"

enum m2m_ldevid_purpose {
	M2M_LDEVID_ENROLL = 0,	/* "ldevid": vouched for by the IDevID */
	M2M_LDEVID_RENEW	/* "renew": by the current LDevID */
};

#define M2M_LDEVID_REUSE_KEY	0x1	/* the new key is the signer's key */

/*
 * Make a request: a PKCS#10 request (empty subject) signed by new_key,
 * wrapped in a SignedData signed by signer_key and carrying signer[0]
 * (signer_key's certificate) and signer[1..nsigner) (its chain, not
 * checked).  Any key of the key interface signs (file, pkcs11:, tpm2:).
 * flags: M2M_LDEVID_REUSE_KEY if and only if new_key is signer_key's key
 * (M2M_ERR_USAGE otherwise, either way).  M2M_ERR_INVALID if signer[0] is
 * not signer_key's certificate; M2M_ERR_USAGE if nsigner is 0 or more
 * than M2M_CERT_LIST_MAX; M2M_ERR_UNSUPPORTED for an Ed25519 signer_key
 * (OpenSSL 3.0's CMS signs with no EdDSA key; new_key may be one).  The request, as PEM or DER, goes to *out
 * (caller frees with free()) and *len.
 */
enum m2m_err m2m_ldevid_request_make(struct m2m_ctx *ctx,
				     const struct m2m_key *new_key,
				     const struct m2m_key *signer_key,
				     struct m2m_cert *const *signer,
				     size_t nsigner,
				     enum m2m_ldevid_purpose purpose,
				     unsigned flags, enum m2m_format fmt,
				     char **out, size_t *len);

struct m2m_ldevid_request;

/*
 * Parse a request from buf[0..len) (PEM or DER, at most
 * M2M_LDEVID_REQUEST_MAX bytes, at most M2M_CERT_LIST_MAX certificates)
 * and check what it can check alone: the SignedData's shape (attached
 * id-data content, one signer, its certificate among those carried, the
 * regInfo attribute), the signature of the signer's certificate's key
 * over it, and the PKCS#10 request inside with its own signature
 * (m2m_csr_parse()).  Whom the signer is, and whether the CA trusts it,
 * is for m2m_ldevid_accept().
 * Returns M2M_ERR_VERIFY if the SignedData's signature does not verify
 * (a request changed after it was signed, or signed by a key that is not
 * its certificate's), M2M_ERR_INVALID (with a detail) for anything
 * malformed, M2M_ERR_UNSUPPORTED for a key type the inner request may not
 * have.  Caller owns *out; free with m2m_ldevid_request_free().
 */
enum m2m_err m2m_ldevid_request_parse(struct m2m_ctx *ctx, const void *buf,
				      size_t len,
				      struct m2m_ldevid_request **out);

/* Free a request.  Accepts NULL. */
void m2m_ldevid_request_free(struct m2m_ldevid_request *req);

/* What the request says it is, and its M2M_LDEVID_* flags. */
enum m2m_ldevid_purpose m2m_ldevid_request_purpose(
	const struct m2m_ldevid_request *req);
unsigned m2m_ldevid_request_flags(const struct m2m_ldevid_request *req);

/* The signer's certificate.  Borrowed. */
const struct m2m_cert *m2m_ldevid_request_signer(
	const struct m2m_ldevid_request *req);

/* The PKCS#10 request for the new key.  Borrowed. */
const struct m2m_csr *m2m_ldevid_request_csr(
	const struct m2m_ldevid_request *req);

/* The other certificates the request carries (*n of them).  Borrowed. */
struct m2m_cert *const *m2m_ldevid_request_chain(
	const struct m2m_ldevid_request *req, size_t *n);

/* ---- the CA's side ----------------------------------------------------- */

/*
 * Trust anchors of an ldevid profile: the PEM file its "trust-anchors"
 * setting names, relative to the CA directory.  Every "CERTIFICATE" in it
 * is a trust anchor (a manufacturer's root, or one of its issuing CAs);
 * every "X509 CRL" in it is checked: a certificate of an IDevID's chain
 * is refused if a CRL of its issuer in the file lists it, or if that CRL
 * is past its nextUpdate or does not verify; a certificate whose issuer
 * has no CRL in the file is not checked for revocation.  Other PEM blocks
 * are skipped.
 */
struct m2m_anchors;

/*
 * Parse an anchors file from buf[0..len): at most M2M_ANCHORS_MAX bytes
 * and M2M_ANCHORS_BLOCKS_MAX PEM blocks, at least one certificate.
 * M2M_ERR_INVALID (the detail names the block) otherwise.  Caller owns
 * *out; free with m2m_anchors_free().
 */
enum m2m_err m2m_anchors_parse(struct m2m_ctx *ctx, const void *buf,
			       size_t len, struct m2m_anchors **out);

/* Free anchors.  Accepts NULL. */
void m2m_anchors_free(struct m2m_anchors *a);

/* The number of certificates and of CRLs in a. */
size_t m2m_anchors_count(const struct m2m_anchors *a, size_t *ncrls);

#define M2M_LDEVID_ALLOW_KEY_REUSE	0x1	/* enroll: the new key may be
						   the IDevID's, if the
						   request says so */

/* How a CA accepts a request. */
struct m2m_ldevid_policy {
	const char *profile;	/* an ldevid profile; NULL: "ldevid" to
				   enroll, the current LDevID's to renew */
	unsigned flags;		/* M2M_LDEVID_ALLOW_KEY_REUSE */
	int replace;		/* enroll: supersede the valid LDevID the
				   device has (renewing always does) */
	int64_t now;		/* 0: the current time */
};

/*
 * Decide on a parsed request and issue the LDevID (m2m_ca_issue() with
 * the signer as the vouching certificate: the IDevID's
 * HardwareModuleName, PPID and subject are copied, and the ledger records
 * the signer's serial as vouched_by).  ca must be open with its key.
 *   "ldevid": the profile's trust anchors (m2m_anchors) are read; the
 *   signer's chain, with the certificates the request carries, must
 *   verify to one of them at now (X509_verify_cert, X509_V_FLAG_X509_STRICT
 *   and partial chains; revocation as m2m_anchors says); the signer must
 *   not be a CA.
 *   "renew": the signer must be a certificate this CA issued (its DER in
 *   the ledger) under an ldevid profile, valid at now and not revoked; it
 *   is revoked as superseded when the new one is recorded (the ledger
 *   keeps one valid LDevID per device and profile).
 * A new key equal to the signer's must be declared (M2M_LDEVID_REUSE_KEY)
 * and, to enroll, allowed (M2M_LDEVID_ALLOW_KEY_REUSE); a declared reuse
 * must be one.
 * Returns M2M_ERR_VERIFY when the signer is not trusted (no chain to an
 * anchor, revoked, expired, not this CA's), M2M_ERR_INVALID for a
 * profile that is not an ldevid one or has no anchors, and a refused key
 * reuse, M2M_ERR_NOT_FOUND for an anchors file that is not there, and
 * whatever m2m_ca_issue() returns.  On success res is as m2m_ca_issue()
 * fills it (res->replaced: the LDevID superseded).
 */
enum m2m_err m2m_ldevid_accept(struct m2m_ctx *ctx, struct m2m_ca *ca,
			       const struct m2m_ldevid_request *req,
			       const struct m2m_ldevid_policy *policy,
			       struct m2m_issue_result *res);

/* ---- renewing in the device -------------------------------------------- */

/*
 * Where renewing puts the new key (cert 0) or certificate (cert 1) of
 * the LDevID at uri when the caller names no place: a tpm2: handle or NV
 * index with its lowest bit flipped (0x81000110 and 0x81000111 take
 * turns; other attributes kept), and a file location with ".new" after
 * it (moved over the old one at the end: m2m_ldevid_file_replace()).
 * Into out[0..size).  M2M_ERR_USAGE for pkcs11: (the caller must name the
 * new objects), M2M_ERR_INVALID for a malformed location or one that
 * does not fit.
 */
enum m2m_err m2m_ldevid_next_location(struct m2m_ctx *ctx, const char *uri,
				      int cert, char *out, size_t size);

/*
 * Move the file at location from over the one at location to (both
 * file: locations or paths, in the same directory): rename(2), then
 * fsync of the directory.  M2M_ERR_USAGE for other schemes, M2M_ERR_IO.
 */
enum m2m_err m2m_ldevid_file_replace(struct m2m_ctx *ctx, const char *from,
				     const char *to);

#endif
