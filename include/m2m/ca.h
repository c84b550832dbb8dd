/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CA_H
#define M2M_CA_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/ppid.h>
#include <m2m/profile.h>

/*
 * A certificate authority is a directory:
 *   ca.crt          its certificate (PEM)
 *   chain.pem       the CA certificates above it, without the self-signed
 *                   root (empty under a root: the root is the trust
 *                   anchor users have already)
 *   ca.conf         where its key and ledger are, and its profiles
 *                   (include/m2m/profile.h)
 *   ca.key          its key, when it is a file made by m2m_ca_create()
 *   ledger.db       its ledger (include/m2m/ledger.h), unless elsewhere
 * The CA uses its key only through struct m2m_key, so the key may be a
 * file, a PKCS#11 object or a TPM key.
 */

struct m2m_ca;

struct m2m_ca_params {
	const char *dir;		/* to create: absent or empty */
	const char *subject;		/* "C=..,O=..,CN=.." (certificate
					   order, most significant first) */
	enum m2m_key_alg alg;		/* for a key generated here */
	const char *key_uri;		/* NULL: generate DIR/ca.key; else
					   the key there, generated there if
					   absent (and removed again if the
					   CA cannot be made) */
	struct m2m_key_opts key_opts;	/* how to reach the CA key: its
					   passphrase, PIN, TCTI sources */
	const char *parent_dir;		/* NULL: a self-signed root */
	struct m2m_key_opts parent_key_opts;	/* the same for the parent's */
	int64_t days;			/* validity; 0: 20 years for a root,
					   10 for an issuing CA */
	int path_len;			/* -1: none (root default); issuing
					   CA default 0 */
	const char *hw_type;		/* idevid profile hw-type, or NULL */
	const char *device_subject;	/* idevid profile subject, or NULL */
	const char *ledger;		/* ledger location, NULL: DIR/ledger.db */
	int64_t now;			/* 0: the current time */
};

/*
 * Create the CA directory described by params: key (generated or loaded),
 * certificate (self-signed, or signed by the parent CA, which records it
 * in its own ledger as profile "ca"), ca.conf with the default profiles,
 * and the ledger with an "init" audit entry.  Nothing is left behind on
 * failure.  Errors: M2M_ERR_DUPLICATE (directory not empty),
 * M2M_ERR_INVALID (bad subject, key not allowed), and those of the key,
 * ledger and file layers.  Caller owns *out (may be NULL to just create);
 * close with m2m_ca_close().
 */
enum m2m_err m2m_ca_create(struct m2m_ctx *ctx,
			   const struct m2m_ca_params *params,
			   struct m2m_ca **out);

#define M2M_CA_NEED_KEY	0x1	/* load the CA key (issuing, revoking...) */
#define M2M_CA_READONLY	0x2	/* open the ledger read-only */

/*
 * Open the CA in dir.  With M2M_CA_NEED_KEY the key is loaded (with
 * kopts: passphrase, PIN and TCTI sources; may be NULL) and checked against the
 * certificate.  ledger overrides the ledger location of ca.conf (NULL:
 * as configured); it is used as given, a relative path being relative to
 * the working directory, where ca.conf's is relative to dir.  M2M_ERR_NOT_FOUND if dir is not a CA directory,
 * M2M_ERR_INVALID if it is damaged.
 */
enum m2m_err m2m_ca_open(struct m2m_ctx *ctx, const char *dir, unsigned flags,
			 const struct m2m_key_opts *kopts, const char *ledger,
			 struct m2m_ca **out);

/* Close a CA.  Accepts NULL. */
void m2m_ca_close(struct m2m_ca *ca);

/*
 * Where the ledger of the CA in dir is, without opening it (for
 * m2m_ledger_migrate(), whose ledger m2m_ca_open() would refuse): ca.conf's
 * ledger location, a relative path resolved against dir, into
 * out[0..size).  Errors as m2m_ca_open()'s for ca.conf; M2M_ERR_INVALID if
 * out is too small.
 */
enum m2m_err m2m_ca_ledger_location(struct m2m_ctx *ctx, const char *dir,
				    char *out, size_t size);

/* The CA's certificate.  Borrowed. */
const struct m2m_cert *m2m_ca_cert(const struct m2m_ca *ca);

/* The CA's profiles.  Borrowed. */
const struct m2m_profiles *m2m_ca_profiles(const struct m2m_ca *ca);

/* The CA's ledger, for listing and reading records.  Borrowed. */
struct m2m_ledger *m2m_ca_ledger(const struct m2m_ca *ca);

/* The CA directory.  Borrowed. */
const char *m2m_ca_dir(const struct m2m_ca *ca);

/*
 * The chain to send with a certificate it issues, PEM: the CA's
 * certificate and those above it except the self-signed root.
 * Borrowed, NUL-terminated.
 */
const char *m2m_ca_chain_pem(const struct m2m_ca *ca);

/*
 * Change a profile setting (m2m_profiles_set), write ca.conf and record a
 * "profile" audit entry.
 */
enum m2m_err m2m_ca_profile_set(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const char *profile, const char *key,
				const char *value);

/* ---- issuance -------------------------------------------------------------- */

struct m2m_issue_request {
	const char *profile;		/* "idevid", "ldevid", ... */
	const struct m2m_csr *csr;	/* the subject's key, proven; or */
	const struct m2m_key *key;	/* a key made for the device here */
	const struct m2m_ppid *ppid;	/* required for DevID profiles */
	const char *device_serial;	/* subject serialNumber; NULL: the
					   PPID in hex */
	const struct m2m_cert *idevid;	/* ldevid: the IDevID vouching for
					   the request (already authenticated
					   by the caller) */
	int replace;			/* revoke (superseded) the valid
					   certificate this PPID has */
	int tpm_resident;		/* the key was made inside a TPM by us:
					   add the TCG residency policies */
	int64_t now;			/* 0: the current time */
};

struct m2m_issue_result {
	struct m2m_cert *cert;		/* caller owns; m2m_cert_free() */
	int existing;			/* 1: the PPID already had this
					   device's certificate (a rerun) */
	char replaced[M2M_CERT_SERIAL_HEX]; /* serial revoked, or "" */
};

/*
 * Issue one certificate: check the request against the profile (key
 * algorithm, names, PPID and serial rules, uniqueness), build and sign the
 * certificate, record it and an "issue" audit entry, commit, and only then
 * hand it out in *res.  A PPID that already has a valid certificate of
 * the profile is M2M_ERR_DUPLICATE unless req->replace.  A serial
 * collision is retried with a new serial.
 */
enum m2m_err m2m_ca_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
			  const struct m2m_issue_request *req,
			  struct m2m_issue_result *res);

/*
 * Issue in groups, for batches: m2m_ca_group_begin() opens a ledger
 * transaction; each m2m_ca_group_issue() works as m2m_ca_issue() but its
 * record is only committed by m2m_ca_group_commit(): the caller must not
 * release any certificate of the group before that succeeds.  A request
 * whose PPID already has a certificate for the same device serial is not
 * issued again: res->existing is set and res->cert is the recorded one.
 * A failure of one request (M2M_ERR_INVALID, M2M_ERR_DUPLICATE, ...)
 * leaves the group usable; M2M_ERR_BACKEND means the group is lost
 * (call m2m_ca_group_abort()).
 */
enum m2m_err m2m_ca_group_begin(struct m2m_ctx *ctx, struct m2m_ca *ca);
enum m2m_err m2m_ca_group_issue(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const struct m2m_issue_request *req,
				struct m2m_issue_result *res);
enum m2m_err m2m_ca_group_commit(struct m2m_ctx *ctx, struct m2m_ca *ca);
void m2m_ca_group_abort(struct m2m_ctx *ctx, struct m2m_ca *ca);

/* ---- revocation ------------------------------------------------------------ */

/*
 * RFC 5280 CRLReason names: "unspecified", "keyCompromise",
 * "cACompromise", "affiliationChanged", "superseded",
 * "cessationOfOperation", "certificateHold", "removeFromCRL",
 * "privilegeWithdrawn", "aACompromise"; case-insensitive.  -1 if unknown.
 */
int m2m_crl_reason_lookup(const char *name);
const char *m2m_crl_reason_name(int reason);

/*
 * Revoke the certificate with this serial (hex, any case, leading zeros
 * or not) for reason, record a "revoke" audit entry; canonical (may be
 * NULL) gets the serial as the ledger spells it.  M2M_ERR_NOT_FOUND, or
 * M2M_ERR_INVALID if it is revoked already.
 */
enum m2m_err m2m_ca_revoke(struct m2m_ctx *ctx, struct m2m_ca *ca,
			   const char *serial, int reason, int64_t now,
			   char canonical[M2M_CERT_SERIAL_HEX]);

/*
 * Make the next CRL (v2, cRLNumber from the ledger, AKI, thisUpdate now,
 * nextUpdate now + crl-validity, every revoked certificate with its
 * reason), record it and a "crl" audit entry.  *der (caller frees with
 * free()) and *len get it; *number (may be NULL) its number.
 */
enum m2m_err m2m_ca_crl(struct m2m_ctx *ctx, struct m2m_ca *ca, int64_t now,
			unsigned char **der, size_t *len, uint64_t *number);

/*
 * Answer a DER OCSP request (RFC 6960) about certificates of this CA: a
 * response signed by the CA with the status of each requested certificate
 * (good, revoked with time and reason, or unknown).  Malformed requests
 * get M2M_ERR_INVALID.  *der (free()) and *len get the DER response.
 */
enum m2m_err m2m_ca_ocsp(struct m2m_ctx *ctx, struct m2m_ca *ca,
			 const void *request, size_t request_len, int64_t now,
			 unsigned char **der, size_t *len);

#endif
