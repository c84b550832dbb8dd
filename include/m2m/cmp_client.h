/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CMP_CLIENT_H
#define M2M_CMP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

/*
 * Certificates from a CA server over CMP (RFC 4210), in the lightweight
 * profile (RFC 9483), carried over HTTP (RFC 6712).  The messages, their
 * protection and the HTTP transfer are OpenSSL's (OSSL_CMP_CTX); this
 * module chooses what goes into them and judges what comes back.
 *
 * A client is one server and one way of protecting requests:
 *   - a shared secret (PBM MAC) and its reference (senderKID), for the
 *     first bootstrap of a station;
 *   - a signature by a key of the key interface (file, pkcs11:, tpm2:)
 *     and its certificate (and chain, sent as extraCerts): a factory
 *     station's credential, a device's IDevID, its current LDevID.
 * Every response must be protected: a signed one by a certificate that
 * chains to the trust anchors, a MAC'd one with the shared secret.  A
 * certificate the server issues is accepted only if its public key is the
 * new key's and it chains to the anchors (through the response's
 * extraCerts and caPubs); otherwise it is refused (certConf with
 * rejection when confirmation is explicit) and not handed out.
 *
 * The request template for an IDevID (m2m_cmp_client_enroll with a
 * device_serial and a PPID):
 *   subject     serialNumber=<device serial>
 *   extensions  subjectAltName (non-critical) holding one otherName
 *               id-on-hardwareModuleName (1.3.6.1.5.5.7.8.4, RFC 4108):
 *               HardwareModuleName { hwType 1.3.6.1.5.5.7.8.4 (a
 *               placeholder: the CA's profile sets the real device model
 *               OID), hwSerialNum OCTET STRING <the PPID's bytes> }
 *   publicKey   the device key's; proof of possession: a signature by it.
 * Without a device_serial and PPID the template is OpenSSL's default: the
 * subject and subjectAltName of the protecting certificate (the IDevID
 * when it vouches for an LDevID), or of the certificate being updated.
 */

#define M2M_CMP_TIMEOUT_DEFAULT	30	/* seconds per message round trip */
#define M2M_CMP_URL_MAX		2048
#define M2M_CMP_STATUS_MAX	512	/* the server's PKIStatusInfo, as text */

struct m2m_cmp_client;

struct m2m_cmp_opts {
	const char *url;		/* http://HOST[:PORT][/PATH] */
	int timeout;			/* seconds per round trip; 0: default */
	int explicit_confirm;		/* do not ask for implicit confirmation:
					   always certConf/pkiConf */
	/* Protection: a shared secret, or a key and certificate. */
	const char *secret_source;	/* pass:, env:, file:, fd: (m2m_secret_read) */
	const char *ref;		/* the secret's reference (senderKID) */
	const struct m2m_key *key;	/* signs requests */
	struct m2m_cert *const *certs;	/* key's certificate, then its chain */
	size_t ncerts;
	/* What the server's signatures and the certificates must chain to. */
	struct m2m_cert *const *trust;
	size_t ntrust;
};

/*
 * A client for opts (copied; the key and certificates are borrowed and
 * must outlive the client).  M2M_ERR_USAGE for a URL that is not
 * http://HOST[:PORT][/PATH] (https: is M2M_ERR_UNSUPPORTED), no trust
 * anchors, none or both of the protections, a secret without a reference;
 * errors of m2m_secret_read(); M2M_ERR_CRYPTO.  Nothing is sent yet.
 * Caller owns *out; free with m2m_cmp_client_free().
 */
enum m2m_err m2m_cmp_client_new(struct m2m_ctx *ctx,
				const struct m2m_cmp_opts *opts,
				struct m2m_cmp_client **out);

/* Free a client (wipes the secret).  Accepts NULL. */
void m2m_cmp_client_free(struct m2m_cmp_client *cl);

enum m2m_cmp_req {
	M2M_CMP_IR = 0,		/* initialization request */
	M2M_CMP_CR,		/* certification request */
	M2M_CMP_KUR		/* key update request: old is updated */
};

struct m2m_cmp_enroll {
	enum m2m_cmp_req type;
	const struct m2m_key *key;	/* the new key: in the template, and
					   signs the proof of possession */
	const char *device_serial;	/* IDevID template (above), or NULL */
	const uint8_t *ppid;		/* with device_serial */
	size_t ppid_len;
	const struct m2m_cert *old;	/* KUR: the certificate to update */
};

/* What the server issued: the certificate and the chain that verified it. */
struct m2m_cmp_result {
	struct m2m_cert *cert;
	struct m2m_cert **chain;	/* issuer first, anchor last */
	size_t nchain;
	int implicit;			/* the server granted implicit
					   confirmation */
	double ms;			/* the whole transaction */
};

/*
 * Ask the server for a certificate for req->key.  On M2M_OK, *res holds
 * it (release with m2m_cmp_result_release()).  Failures, each with a
 * detail:
 *   M2M_ERR_IO        the server cannot be reached, does not answer within
 *                     the time-out ("no answer ... within N s"), or does
 *                     not answer with CMP over HTTP;
 *   M2M_ERR_INVALID   the server refuses: the detail is its PKIStatusInfo
 *                     ("rejection; badRequest; \"text\"");
 *   M2M_ERR_VERIFY    a response whose protection does not verify, or a
 *                     certificate that is not for req->key or does not
 *                     chain to the anchors (refused, not returned);
 *   M2M_ERR_USAGE     a request that cannot be made (KUR without old);
 *   M2M_ERR_CRYPTO    anything else OpenSSL reports.
 * Calls may follow each other on one client (a batch).
 */
enum m2m_err m2m_cmp_client_enroll(struct m2m_ctx *ctx,
				   struct m2m_cmp_client *cl,
				   const struct m2m_cmp_enroll *req,
				   struct m2m_cmp_result *res);

/* Free what a result holds and zero it.  Accepts an empty result. */
void m2m_cmp_result_release(struct m2m_cmp_result *res);

/*
 * Ask the server to revoke cert for reason (an RFC 5280 CRLReason code,
 * m2m_crl_reason_lookup(); -1 sends none).  M2M_OK once the server says
 * it is revoked; errors as m2m_cmp_client_enroll().
 */
enum m2m_err m2m_cmp_client_revoke(struct m2m_ctx *ctx,
				   struct m2m_cmp_client *cl,
				   const struct m2m_cert *cert, int reason);

/*
 * The server's PKIStatusInfo of the last transaction as text ("" if it
 * sent none): status, failure bits, status strings.  Borrowed; valid until
 * the next call on cl.
 */
const char *m2m_cmp_client_status(const struct m2m_cmp_client *cl);

#endif
