/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_VERIFY_H
#define M2M_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/lint.h>
#include <m2m/ppid.h>

/*
 * Verifying device certificates, as an auditor, an admin or a registrar
 * does (m2m-verify(1)):
 *
 *   - the path, by OpenSSL's X509_verify_cert() with strict RFC 5280
 *     checking (X509_V_FLAG_X509_STRICT) against the trust anchors given;
 *     nothing OpenSSL rejects is ever accepted, and the only error that
 *     may be let pass is the expiry of the certificate itself, on request
 *     (RFC 8995 2.6.2: registrars accept expired IDevIDs);
 *   - on top of it, the 802.1AR profile (include/m2m/lint.h), the PPID in
 *     the HardwareModuleName, and what the caller expects of it;
 *   - revocation from CRLs (full and delta) and OCSP responses given as
 *     files.  Each CRL's signature is checked once per run against the
 *     issuer found in a chain, and serials are looked up in a sorted
 *     table, instead of OpenSSL checking every CRL again for every chain.
 *
 * A struct m2m_verifier is set up by one thread; after that, m2m_verify()
 * may be called on it from several threads at once, each with a context
 * of its own that shares the library context of the one it was made with
 * (see struct m2m_verify_pool).
 */

enum m2m_purpose {
	M2M_PURPOSE_ANY = 0,	/* no purpose checked */
	M2M_PURPOSE_CLIENT,	/* TLS client: OpenSSL's sslclient purpose */
	M2M_PURPOSE_SERVER	/* TLS server: sslserver */
};

enum m2m_revocation {
	M2M_REVOCATION_PREFER = 0,	/* check what is given; a certificate
					   it says nothing about still
					   verifies */
	M2M_REVOCATION_REQUIRE,		/* the certificate must be known not
					   to be revoked */
	M2M_REVOCATION_NONE		/* no revocation checking */
};

struct m2m_verify_opts {
	int64_t at;			/* verification time; 0: now */
	enum m2m_purpose purpose;
	enum m2m_lint_profile profile;	/* of the certificates verified;
					   AUTO: each as it looks */
	int ignore_expiry;		/* accept an expired certificate
					   (its chain must not be) */
	enum m2m_revocation revocation;
	const uint8_t *expect_ppid;	/* the PPID the certificate must
					   carry (copied); NULL: any */
	size_t expect_ppid_len;
	const char *expect_serial;	/* the subject serialNumber it must
					   have (copied); NULL: any */
};

struct m2m_verifier;

/*
 * A verifier with opts (NULL: all defaults) and no trust anchor yet.
 * M2M_ERR_USAGE for a PPID longer than M2M_PPID_MAX or a serial longer
 * than M2M_SERIAL_MAX.  Caller owns *out; free with m2m_verifier_free().
 */
enum m2m_err m2m_verifier_new(struct m2m_ctx *ctx,
			      const struct m2m_verify_opts *opts,
			      struct m2m_verifier **out);

/* Free a verifier.  Accepts NULL. */
void m2m_verifier_free(struct m2m_verifier *v);

/*
 * Trust anchors (trusted) or intermediate certificates (not) from path:
 * a file of certificates (PEM, any number, or DER), or a directory whose
 * regular files, those not starting with '.', each are one.
 * M2M_ERR_NOT_FOUND if path does not exist, M2M_ERR_INVALID (naming the
 * file and the certificate) for a file that holds no certificate or a
 * broken one, M2M_ERR_IO.
 */
enum m2m_err m2m_verifier_add_certs(struct m2m_ctx *ctx,
				    struct m2m_verifier *v, const char *path,
				    int trusted);

/* Add one certificate as an anchor (trusted) or an intermediate. */
enum m2m_err m2m_verifier_add_cert(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const struct m2m_cert *cert, int trusted);

/* Number of trust anchors added. */
size_t m2m_verifier_anchors(const struct m2m_verifier *v);

/*
 * CRLs from path (PEM "X509 CRL" blocks, any number, or DER), or from
 * buf[0..len) named name.  Each must be a v2 CRL with a cRLNumber; a
 * delta CRL's deltaCRLIndicator names its base.  M2M_ERR_INVALID for one
 * that cannot be parsed, M2M_ERR_UNSUPPORTED for one with an
 * issuingDistributionPoint, an indirect entry or another critical
 * extension we do not understand.  Signatures are checked later, against
 * the issuer a chain names.
 */
enum m2m_err m2m_verifier_add_crls(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const char *path);
enum m2m_err m2m_verifier_add_crls_mem(struct m2m_ctx *ctx,
				       struct m2m_verifier *v, const void *buf,
				       size_t len, const char *name);

/*
 * An OCSP response (DER OCSPResponse, RFC 6960) from path, or from
 * buf[0..len) named name.  M2M_ERR_INVALID if it is not one, or its
 * status is not successful, or it holds no BasicOCSPResponse.  Its
 * signature is checked later, against the issuer of the certificate it
 * is about.
 */
enum m2m_err m2m_verifier_add_ocsp(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const char *path);
enum m2m_err m2m_verifier_add_ocsp_mem(struct m2m_ctx *ctx,
				       struct m2m_verifier *v, const void *buf,
				       size_t len, const char *name);

/* ---- one certificate -------------------------------------------------------- */

#define M2M_VERIFY_CHAIN_MAX	10	/* chain certificates reported */
#define M2M_VERIFY_TEXT_MAX	512	/* a reason, a subject, with NUL */
#define M2M_VERIFY_SERIAL_HEX	(2 * 32 + 1)	/* serial shown, with NUL */

enum m2m_revocation_status {
	M2M_REV_NOT_CHECKED = 0,	/* --revocation none, or no chain */
	M2M_REV_GOOD,			/* a fresh CRL or OCSP response says
					   it is not revoked */
	M2M_REV_REVOKED,
	M2M_REV_UNKNOWN			/* nothing given says anything */
};

/* "not-checked", "good", "revoked", "unknown". */
const char *m2m_revocation_status_name(enum m2m_revocation_status s);

struct m2m_verify_chain_cert {
	char subject[M2M_VERIFY_TEXT_MAX];	/* RFC 4514 */
	char fingerprint[M2M_FINGERPRINT_HEX];	/* SHA-256 of the DER */
};

struct m2m_verify_result {
	int ok;				/* 1: the certificate verifies */
	const char *check;		/* the first check that failed (a
					   constant, see m2m-verify(1)),
					   NULL if ok */
	char reason[M2M_VERIFY_TEXT_MAX];	/* why, for a person */

	char subject[M2M_VERIFY_TEXT_MAX];
	char issuer[M2M_VERIFY_TEXT_MAX];
	char serial[M2M_VERIFY_SERIAL_HEX];	/* lower-case hex of the
						   INTEGER's content */
	char fingerprint[M2M_FINGERPRINT_HEX];
	int64_t not_before, not_after;
	int expired;			/* notAfter is before the time of
					   verification (only in a verdict
					   that ignores expiry, or fails) */

	size_t chain_len;		/* the chain OpenSSL built, leaf
					   first, anchor last */
	struct m2m_verify_chain_cert chain[M2M_VERIFY_CHAIN_MAX];

	struct m2m_lint_report lint;	/* profile findings; devid: the
					   HardwareModuleName and PPID */

	enum m2m_revocation_status revocation;
	char revocation_source[M2M_VERIFY_TEXT_MAX];	/* "CRL 3 of 'CN=..'",
							   "OCSP response 'r.der'" */
	int64_t revoked_at;
	int revocation_reason;		/* RFC 5280 code, -1 if none */
	char revocation_note[M2M_VERIFY_TEXT_MAX];	/* why unknown */
};

/*
 * Verify the certificate der[0..len), with chain[0..nchain) as further
 * intermediates (for this call only; may be 0), into *res.  Returns
 * M2M_OK with the verdict in res->ok (never an error for a certificate
 * that does not verify); M2M_ERR_INVALID if der is not a certificate;
 * M2M_ERR_USAGE if the verifier has no trust anchor; M2M_ERR_NOMEM,
 * M2M_ERR_CRYPTO.  Safe to call from several threads (see above).
 */
enum m2m_err m2m_verify(struct m2m_ctx *ctx, struct m2m_verifier *v,
			const uint8_t *der, size_t len,
			struct m2m_cert *const *chain, size_t nchain,
			struct m2m_verify_result *res);

/* ---- many certificates in parallel ---------------------------------------- */

/* One certificate a pool verified, handed back in the order added. */
struct m2m_verify_job {
	uint64_t seq;			/* 0, 1, ... in order of adding */
	const char *source;		/* as added */
	uint64_t index;			/* as added */
	enum m2m_err err;		/* M2M_OK: res holds the verdict;
					   else why there is none */
	char detail[M2M_VERIFY_TEXT_MAX];	/* m2m_ctx_detail() of err */
	struct m2m_verify_result res;
};

/*
 * Called for each job in the order they were added, on the thread that
 * adds them.  A non-OK return stops the pool: it is returned by the add
 * or finish call that made it.
 */
typedef enum m2m_err (*m2m_verify_done_fn)(void *arg,
					   const struct m2m_verify_job *job);

struct m2m_verify_pool;

/*
 * A pool of jobs (>= 1) threads, each with a context of its own sharing
 * ctx's library context (so ctx must outlive the pool).  With jobs 1 no
 * thread is started: m2m_verify_pool_add() verifies in place.  At most
 * 8 * jobs certificates wait at a time, whatever the number added.
 * Caller owns *out; free with m2m_verify_pool_free().  M2M_ERR_USAGE for
 * jobs 0 or above 256, M2M_ERR_SYSTEM if a thread cannot start.
 */
enum m2m_err m2m_verify_pool_new(struct m2m_ctx *ctx, struct m2m_verifier *v,
				 unsigned jobs, m2m_verify_done_fn fn,
				 void *arg, struct m2m_verify_pool **out);

/*
 * Queue der[0..len) (copied; at most M2M_CERT_MAX bytes) from source
 * (copied; at most 1023 bytes shown) as its index-th certificate.  Waits
 * while the pool is full, handing finished jobs to fn meanwhile.
 */
enum m2m_err m2m_verify_pool_add(struct m2m_ctx *ctx, struct m2m_verify_pool *p,
				 const uint8_t *der, size_t len,
				 const char *source, uint64_t index);

/* Wait for every job and hand each to fn. */
enum m2m_err m2m_verify_pool_finish(struct m2m_ctx *ctx,
				    struct m2m_verify_pool *p);

/* Stop the threads and free the pool (jobs not finished are dropped). */
void m2m_verify_pool_free(struct m2m_verify_pool *p);

/* ---- a live device --------------------------------------------------------- */

#define M2M_NONCE_LEN 32

/*
 * Challenge the key: sign a fresh random nonce (nonce[0..M2M_NONCE_LEN),
 * written for the caller to show) with key, wherever it lives, and check
 * the signature with cert's public key.  M2M_OK if it verifies,
 * M2M_ERR_VERIFY (detail: why) if not; M2M_ERR_CRYPTO or M2M_ERR_BACKEND
 * if the key cannot sign.
 */
enum m2m_err m2m_verify_possession(struct m2m_ctx *ctx,
				   const struct m2m_key *key,
				   const struct m2m_cert *cert,
				   uint8_t nonce[M2M_NONCE_LEN]);

/* ---- a CA's ledger ----------------------------------------------------------- */

struct m2m_ledger_check {
	uint64_t audit_entries;		/* in the audit log */
	uint64_t certs;			/* certificate records */
	uint64_t revoked;		/* of them revoked */
	uint64_t crls;			/* CRLs recorded */
};

/*
 * Check the ledger of ca against itself and the CA: the audit log's hash
 * chain; every certificate record (in order of issuance): its DER is a
 * certificate signed by the CA, whose serial, subject, PPID, device
 * serial, validity and profile are the record's; serials are unique, and
 * so is the valid certificate of each profile per PPID; revocation fields
 * fit the status; every CRL recorded is signed by the CA, has its number
 * and thisUpdate, and lists exactly the certificates revoked before it
 * was made; every issue and revoke entry of the audit log names a record
 * that agrees.  M2M_OK and *out (counts) if all holds; M2M_ERR_VERIFY at
 * the first inconsistency, with a detail naming it exactly ("certificate
 * 12 (serial ...): the subject recorded is ..., the certificate's is
 * ..."); the errors of the ledger otherwise.
 */
enum m2m_err m2m_verify_ledger(struct m2m_ctx *ctx, struct m2m_ca *ca,
			       struct m2m_ledger_check *out);

#endif
