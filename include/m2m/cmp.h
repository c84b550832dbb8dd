/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CMP_H
#define M2M_CMP_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

/*
 * The CA's side of lightweight CMP (RFC 9483; messages as RFC 4210, over
 * HTTP as RFC 6712).  The messages are OpenSSL's (OSSL_CMP_SRV_CTX); what
 * is accepted, from whom, and what is issued is decided here, through the
 * same issuing code and ledger as the local commands (m2m_ca_issue(),
 * m2m_ldevid_accept(), m2m_ca_revoke()).
 *
 * Who may ask for what.  A request must be protected:
 *   - signed by a station: a certificate that chains, through the
 *     certificates the message carries, to one in the stations file (PEM:
 *     station certificates or the CA that issues them, and "X509 CRL"
 *     blocks checked as in m2m_anchors), and that, if this CA issued it,
 *     is not revoked in its ledger.  A station may ask for certificates of
 *     IDevID profiles (ir, cr, p10cr) and revoke any certificate (rr);
 *   - with a MAC (PasswordBasedMac) under the shared secret, for a
 *     station's first bootstrap: certificates of IDevID profiles only;
 *   - signed by a device's IDevID, for ir/cr on an LDevID profile: the
 *     rules of m2m_ldevid_accept() (the profile's trust anchors, not
 *     revoked, HardwareModuleName copied, the IDevID recorded as
 *     vouched_by);
 *   - signed by the current LDevID, for kur: renewed as
 *     m2m_ldevid_accept() renews;
 *   - signed by a certificate's own key, for rr of that certificate.
 * genm (CA certificates) takes any of these.
 *
 * An IDevID request names the device in its certificate template: the
 * subjectAltName holds the HardwareModuleName (otherName
 * 1.3.6.1.5.5.7.8.4) whose hwType is the profile's and whose hwSerialNum
 * is the device's PPID; an optional subject serialNumber is the device
 * serial number.  Other DNS/URI names pass as the profile allows.
 *
 * Responses are signed with the CA key (MAC-protected requests are
 * answered under the same MAC, RFC 4210 5.1.3.1) and carry the CA's
 * certificate and chain in extraCerts.  A client asking for implicit
 * confirmation gets it; otherwise the certificate waits for certConf: a
 * rejection, or no certConf within the confirmation time, revokes it.
 */

#define M2M_CMP_MSG_MAX		(256 * 1024)	/* largest request */
#define M2M_CMP_CONFIRM_SECS	300		/* default confirmation wait */

struct m2m_cmp_srv_config {
	const char *stations;	/* stations file; NULL: no station */
	const char *mac_source;	/* shared secret source (pass:, env:,
				   file:, fd:); NULL: MACs refused */
	int allow_key_reuse;	/* LDevID ir may keep the IDevID's key */
	int no_implicit_confirm; /* always wait for certConf */
	unsigned confirm_secs;	/* 0: M2M_CMP_CONFIRM_SECS */
	int64_t now;		/* 0: the clock (tests fix it) */
};

/*
 * What serves CMP for one CA: the configuration read once (stations file,
 * secret) and the transactions waiting for certConf.  It may be used by
 * several threads at once, each with its own struct m2m_ctx (siblings of
 * the one it was made with) and its own struct m2m_ca of the same
 * directory.
 */
struct m2m_cmp_srv;

/*
 * Read cfg's stations file and secret.  M2M_ERR_NOT_FOUND / M2M_ERR_IO
 * for a file that cannot be read, M2M_ERR_INVALID for a stations file
 * that is not one (detail names the block).  Caller owns *out; free with
 * m2m_cmp_srv_free().
 */
enum m2m_err m2m_cmp_srv_new(struct m2m_ctx *ctx,
			     const struct m2m_cmp_srv_config *cfg,
			     struct m2m_cmp_srv **out);

/*
 * Issue IDevIDs through ca (open with its key on ctx, a context of its
 * own; both borrowed until m2m_cmp_srv_free() or another call) in groups:
 * requests that arrive together share one ledger transaction and commit,
 * and each is answered once that commit succeeded.  Without a writer each
 * request commits on its own, with the CA it is handled with.
 */
void m2m_cmp_srv_set_writer(struct m2m_cmp_srv *srv, struct m2m_ctx *ctx,
			    struct m2m_ca *ca);

/* Free srv, wiping the secret.  Accepts NULL. */
void m2m_cmp_srv_free(struct m2m_cmp_srv *srv);

/* What happened to one request, for the log: no secrets in it. */
struct m2m_cmp_srv_result {
	char op[12];		/* "ir", "cr", "p10cr", "kur", "rr", "genm",
				   "certConf", "error", "pollReq", or "-" */
	char status[12];	/* "accepted", "rejected" or "error" */
	char serial[M2M_CERT_SERIAL_HEX];	/* issued or revoked, or "" */
	char text[384];		/* why not accepted, or "" */
};

/*
 * Answer one DER request req[0..len) for profile (the <profile> of the
 * path /.well-known/cmp/p/<profile>; NULL: "idevid" for ir/cr/p10cr, the
 * certificate's own for kur) with ca, which must be open with its key:
 * *resp (free()) and *resp_len get the DER response, which may be a CMP
 * error message; res says what happened.  Returns M2M_OK whenever there
 * is a response; M2M_ERR_INVALID (no response) when req is not a DER
 * PKIMessage of at most M2M_CMP_MSG_MAX bytes; M2M_ERR_CRYPTO or
 * M2M_ERR_NOMEM when no response could be made.
 */
enum m2m_err m2m_cmp_srv_handle(struct m2m_cmp_srv *srv, struct m2m_ctx *ctx,
				struct m2m_ca *ca, const char *profile,
				const void *req, size_t len,
				unsigned char **resp, size_t *resp_len,
				struct m2m_cmp_srv_result *res);

/* ---- over HTTP ----------------------------------------------------------- */

#define M2M_CMP_WORKERS_MAX	64

struct m2m_cmp_serve_params {
	const char *ca_dir;
	const char *ledger;		/* NULL: the CA's */
	struct m2m_key_opts key_opts;	/* the CA key's; its sources are
					   read once per worker, so not fd: */
	const char *listen;		/* "ADDR:PORT", "[V6]:PORT" */
	unsigned workers;		/* threads, 1..M2M_CMP_WORKERS_MAX */
	size_t max_body;		/* 1..M2M_CMP_MSG_MAX */
	unsigned timeout;		/* seconds to read a request */
	const char *tls_cert;		/* certificate (and chain) location;
					   NULL: plain HTTP */
	const char *tls_key;		/* its key's location (any scheme) */
	struct m2m_key_opts tls_key_opts;
	struct m2m_cmp_srv_config cmp;
	/* One line per request (no newline), and one when listening. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/*
 * Serve CMP over HTTP (POST /.well-known/cmp and
 * /.well-known/cmp/p/<profile>, Content-Type application/pkixcmp) on
 * p->listen with p->workers threads, each with the CA open on its own
 * context and ledger connection, until SIGTERM or SIGINT (handled for
 * the duration; SIGPIPE ignored).  Other methods get 405, other paths
 * 404, another content type 415, a body over max_body 413, one that is
 * no PKIMessage 400.  Returns M2M_OK after a signal; M2M_ERR_IO if the
 * address cannot be listened on ("address already in use"),
 * M2M_ERR_USAGE for a malformed address or parameter, and what opening
 * the CA or the TLS key returns.
 */
enum m2m_err m2m_cmp_serve(struct m2m_ctx *ctx,
			   const struct m2m_cmp_serve_params *p);

#endif
