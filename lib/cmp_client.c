/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CMP client (RFC 4210, lightweight profile RFC 9483, HTTP transfer RFC
 * 6712) over OpenSSL's OSSL_CMP_CTX: the messages, their protection and
 * the HTTP exchange are OpenSSL's.  What is ours: the template, which
 * credential protects, and the judgement of what comes back (a
 * certificate for our key, chaining to the anchors, or nothing).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/cmp_client.h>

#include "cert_internal.h"
#include "der.h"
#include "internal.h"
#include "keystore/keystore.h"

#define PKIBODY_CERTCONF 24	/* PKIBody certConf [24], RFC 4210 */
#define SECRET_MAX	1024
#define HWMODULE_MAX	(16 + 2 * 64)	/* our HardwareModuleName, at most */

struct m2m_cmp_client {
	OSSL_CMP_CTX *cmp;
	char url[M2M_CMP_URL_MAX];
	int timeout;
	/* What the current transaction found (reset by each call). */
	int transfer_failed;		/* no response to a request */
	int sent_certconf;
	char refused[M2M_DETAIL_MAX];	/* why our certConf refuses */
	X509_STORE *trust;		/* borrowed from cmp */
	STACK_OF(X509) *chain;		/* the chain that verified the cert */
	OSSL_LIB_CTX *libctx;
	X509_NAME *null_dn;		/* the recipient when the CA's name
					   is not known */
	char status[M2M_CMP_STATUS_MAX];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* OpenSSL would print its CMP log on stdout: the queue says enough. */
static int log_nothing(const char *func, const char *file, int line,
		       OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	(void)level;
	(void)msg;
	return 1;
}

/* OpenSSL's HTTP transfer, noting whether it got an answer. */
static OSSL_CMP_MSG *transfer(OSSL_CMP_CTX *cmp, const OSSL_CMP_MSG *req)
{
	struct m2m_cmp_client *cl = OSSL_CMP_CTX_get_transfer_cb_arg(cmp);
	OSSL_CMP_MSG *rsp;

	if (OSSL_CMP_MSG_get_bodytype(req) == PKIBODY_CERTCONF)
		cl->sent_certconf = 1;
	rsp = OSSL_CMP_MSG_http_perform(cmp, req);
	if (!rsp)
		cl->transfer_failed = 1;
	return rsp;
}

/*
 * Decide on a newly issued certificate before it is confirmed: OpenSSL
 * has flagged one that is not for our key (fail_info); we also want it to
 * chain to the anchors through the extraCerts and caPubs received.
 */
static int cert_conf(OSSL_CMP_CTX *cmp, X509 *cert, int fail_info,
		     const char **txt)
{
	struct m2m_cmp_client *cl = OSSL_CMP_CTX_get_certConf_cb_arg(cmp);
	STACK_OF(X509) *pool = NULL, *capubs = NULL;
	X509_STORE_CTX *sc = NULL;
	int err;

	if (fail_info) {
		snprintf(cl->refused, sizeof(cl->refused),
			 "the certificate the server issued is not for the new key");
		*txt = "public key does not match the request";
		return fail_info;
	}
	fail_info = 1 << OSSL_CMP_PKIFAILUREINFO_incorrectData;
	pool = sk_X509_new_null();
	sc = X509_STORE_CTX_new_ex(cl->libctx, NULL);
	if (!pool || !sc)
		goto refuse;
	/* Candidates only: trust comes from the anchors alone. */
	if (!X509_add_certs(pool, OSSL_CMP_CTX_get0_untrusted(cmp),
			    X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP))
		goto refuse;
	capubs = OSSL_CMP_CTX_get1_caPubs(cmp);
	if (capubs && !X509_add_certs(pool, capubs, X509_ADD_FLAG_UP_REF |
				      X509_ADD_FLAG_NO_DUP))
		goto refuse;
	if (!X509_STORE_CTX_init(sc, cl->trust, cert, pool))
		goto refuse;
	if (X509_verify_cert(sc) <= 0) {
		err = X509_STORE_CTX_get_error(sc);
		snprintf(cl->refused, sizeof(cl->refused),
			 "the certificate the server issued does not chain to the trust anchors: %s",
			 X509_verify_cert_error_string(err));
		*txt = "certificate does not chain to the trust anchors";
		goto out;
	}
	sk_X509_pop_free(cl->chain, X509_free);
	cl->chain = X509_STORE_CTX_get1_chain(sc);
	if (!cl->chain)
		goto refuse;
	fail_info = 0;
	goto out;
refuse:
	snprintf(cl->refused, sizeof(cl->refused),
		 "cannot check the certificate the server issued (out of memory)");
	*txt = "cannot check the certificate";
out:
	sk_X509_pop_free(capubs, X509_free);
	sk_X509_pop_free(pool, X509_free);
	X509_STORE_CTX_free(sc);
	return fail_info;
}

/* Where the server is: OpenSSL's URL parser, http: only. */
static enum m2m_err set_server(struct m2m_ctx *ctx, OSSL_CMP_CTX *cmp,
			       const char *url)
{
	char *user = NULL, *host = NULL, *port = NULL, *path = NULL;
	char *query = NULL, *frag = NULL;
	char q[M2M_QUOTE_MAX];
	int ssl = 0, portnum = 0;
	enum m2m_err rc = M2M_ERR_USAGE;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		m2m_error(ctx, M2M_ERR_USAGE,
			  "'%s' is not an http:// URL",
			  m2m_quote(q, url, strlen(url)));
		goto out;
	}
	if (!OSSL_HTTP_parse_url(url, &ssl, &user, &host, &port, &portnum,
				 &path, &query, &frag)) {
		ERR_clear_error();
		m2m_error(ctx, M2M_ERR_USAGE, "'%s' is not a URL",
			  m2m_quote(q, url, strlen(url)));
		goto out;
	}
	if (ssl) {
		rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			       "https: is not supported; use http:// (CMP messages are protected themselves)");
		goto out;
	}
	if ((user && *user) || (query && *query) || (frag && *frag)) {
		m2m_error(ctx, M2M_ERR_USAGE,
			  "'%s': a CMP server URL has no user, query or fragment",
			  m2m_quote(q, url, strlen(url)));
		goto out;
	}
	if (!OSSL_CMP_CTX_set1_server(cmp, host) ||
	    !OSSL_CMP_CTX_set_serverPort(cmp, portnum) ||
	    !OSSL_CMP_CTX_set1_serverPath(cmp, path)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set the server");
		goto out;
	}
	rc = M2M_OK;
out:
	OPENSSL_free(user);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	OPENSSL_free(query);
	OPENSSL_free(frag);
	return rc;
}

/* The anchors as a store that verifies the server and what it issues. */
static enum m2m_err set_trust(struct m2m_ctx *ctx, struct m2m_cmp_client *cl,
			      struct m2m_cert *const *trust, size_t n)
{
	X509_STORE *st = X509_STORE_new();
	size_t i;

	if (!st)
		return m2m_error_ossl(ctx, M2M_ERR_NOMEM, "cannot make a store");
	for (i = 0; i < n; i++) {
		X509 *x = m2m_cert_x509(trust[i]);

		if (!x || !X509_STORE_add_cert(st, x)) {
			X509_STORE_free(st);
			return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					      "cannot use trust anchor %zu", i + 1);
		}
	}
	/* An anchor may be an intermediate CA (as m2m_chain_verify). */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	if (!OSSL_CMP_CTX_set0_trustedStore(cl->cmp, st)) {
		X509_STORE_free(st);
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set the anchors");
	}
	cl->trust = st;
	return M2M_OK;
}

static enum m2m_err set_protection(struct m2m_ctx *ctx,
				   struct m2m_cmp_client *cl,
				   const struct m2m_cmp_opts *o)
{
	STACK_OF(X509) *chain = NULL;
	char secret[SECRET_MAX];
	size_t len = 0, i;
	enum m2m_err rc;

	if (o->secret_source) {
		rc = m2m_secret_read(ctx, o->secret_source, secret,
				     sizeof(secret), &len);
		if (rc != M2M_OK)
			return rc;
		if (len == 0) {
			m2m_secret_wipe(secret, sizeof(secret));
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "the shared secret is empty");
		}
		rc = OSSL_CMP_CTX_set1_secretValue(cl->cmp,
						   (unsigned char *)secret,
						   (int)len) &&
		     OSSL_CMP_CTX_set1_referenceValue(cl->cmp,
						      (const unsigned char *)o->ref,
						      (int)strlen(o->ref)) ?
		     M2M_OK : m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					     "cannot set the shared secret");
		m2m_secret_wipe(secret, sizeof(secret));
		return rc;
	}
	if (!m2m_cert_x509(o->certs[0]))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the protecting certificate cannot be parsed");
	if (!OSSL_CMP_CTX_set1_cert(cl->cmp, m2m_cert_x509(o->certs[0])) ||
	    !OSSL_CMP_CTX_set1_pkey(cl->cmp, m2m_key_pkey(o->key)))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot use the protecting key and certificate");
	if (o->ncerts < 2)
		return M2M_OK;
	/* Its chain goes with every request as extraCerts. */
	chain = sk_X509_new_null();
	if (!chain)
		return m2m_error_ossl(ctx, M2M_ERR_NOMEM, "cannot make a list");
	for (i = 1; i < o->ncerts; i++) {
		X509 *x = m2m_cert_x509(o->certs[i]);

		if (!x || !sk_X509_push(chain, x)) {
			sk_X509_free(chain);
			return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					      "cannot use chain certificate %zu", i);
		}
	}
	rc = OSSL_CMP_CTX_set1_untrusted(cl->cmp, chain) ? M2M_OK :
	     m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set the chain");
	sk_X509_free(chain);	/* the certificates are the caller's */
	return rc;
}

enum m2m_err m2m_cmp_client_new(struct m2m_ctx *ctx,
				const struct m2m_cmp_opts *opts,
				struct m2m_cmp_client **out)
{
	struct m2m_cmp_client *cl = NULL;
	enum m2m_err rc = M2M_ERR_NOMEM;

	*out = NULL;
	if (!opts->url || strlen(opts->url) >= M2M_CMP_URL_MAX)
		return m2m_error(ctx, M2M_ERR_USAGE, "no server URL, or a longer one than %d bytes",
				 M2M_CMP_URL_MAX - 1);
	if (!opts->ntrust)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "no trust anchors for the server");
	if (!opts->secret_source == !opts->key)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "requests are protected by a shared secret or by a key and certificate, one of them");
	if (opts->secret_source && (!opts->ref || !*opts->ref))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "a shared secret needs its reference");
	if (opts->key && !opts->ncerts)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "the protecting key needs its certificate");
	if (opts->timeout < 0)
		return m2m_error(ctx, M2M_ERR_USAGE, "a negative time-out");
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	snprintf(cl->url, sizeof(cl->url), "%s", opts->url);
	cl->timeout = opts->timeout ? opts->timeout : M2M_CMP_TIMEOUT_DEFAULT;
	cl->libctx = ctx->libctx;
	cl->cmp = OSSL_CMP_CTX_new(ctx->libctx, NULL);
	cl->null_dn = X509_NAME_new();
	if (!cl->cmp || !cl->null_dn) {
		rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "cannot make a CMP context");
		goto out;
	}
	if (!OSSL_CMP_CTX_set_log_cb(cl->cmp, log_nothing) ||
	    !OSSL_CMP_CTX_set_transfer_cb(cl->cmp, transfer) ||
	    !OSSL_CMP_CTX_set_transfer_cb_arg(cl->cmp, cl) ||
	    !OSSL_CMP_CTX_set_certConf_cb(cl->cmp, cert_conf) ||
	    !OSSL_CMP_CTX_set_certConf_cb_arg(cl->cmp, cl) ||
	    !OSSL_CMP_CTX_set_option(cl->cmp, OSSL_CMP_OPT_MSG_TIMEOUT,
				     cl->timeout) ||
	    !OSSL_CMP_CTX_set_option(cl->cmp, OSSL_CMP_OPT_TOTAL_TIMEOUT,
				     4 * cl->timeout) ||
	    !OSSL_CMP_CTX_set_option(cl->cmp, OSSL_CMP_OPT_IMPLICIT_CONFIRM,
				     !opts->explicit_confirm) ||
	    /*
	     * A CA signs its responses with its own key (m2m-ca serve does,
	     * as EJBCA does), and a CA certificate allows keyCertSign and
	     * cRLSign, not digitalSignature: the signer must still chain to
	     * the anchors, but its key usage is not asked for.
	     */
	    !OSSL_CMP_CTX_set_option(cl->cmp, OSSL_CMP_OPT_IGNORE_KEYUSAGE, 1)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set up CMP");
		goto out;
	}
	rc = set_server(ctx, cl->cmp, opts->url);
	if (rc == M2M_OK)
		rc = set_trust(ctx, cl, opts->trust, opts->ntrust);
	if (rc == M2M_OK)
		rc = set_protection(ctx, cl, opts);
	if (rc != M2M_OK)
		goto out;
	*out = cl;
	cl = NULL;
out:
	m2m_cmp_client_free(cl);
	return rc;
}

void m2m_cmp_client_free(struct m2m_cmp_client *cl)
{
	if (!cl)
		return;
	OSSL_CMP_CTX_free(cl->cmp);	/* clears the secret */
	sk_X509_pop_free(cl->chain, X509_free);
	X509_NAME_free(cl->null_dn);
	free(cl);
}

const char *m2m_cmp_client_status(const struct m2m_cmp_client *cl)
{
	return cl->status;
}

/* Ready for a new transaction. */
static enum m2m_err begin(struct m2m_ctx *ctx, struct m2m_cmp_client *cl)
{
	cl->transfer_failed = 0;
	cl->sent_certconf = 0;
	cl->refused[0] = '\0';
	cl->status[0] = '\0';
	sk_X509_pop_free(cl->chain, X509_free);
	cl->chain = NULL;
	if (!OSSL_CMP_CTX_reinit(cl->cmp))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot start a CMP transaction");
	return M2M_OK;
}

/* The server's PKIStatusInfo as text into cl->status. */
static void keep_status(struct m2m_cmp_client *cl)
{
	char buf[M2M_CMP_STATUS_MAX];

	cl->status[0] = '\0';
	if (OSSL_CMP_CTX_get_status(cl->cmp) < 0)
		return;
	if (OSSL_CMP_CTX_snprint_PKIStatus(cl->cmp, buf, sizeof(buf)))
		snprintf(cl->status, sizeof(cl->status), "%s", buf);
}

/*
 * An error message's errorDetails (RFC 4210, 5.3.21), where a server says
 * why it refused the request as a whole (m2m-ca serve does): OpenSSL puts
 * them in the data of its "received error" entry, as "CMP routines,
 * <reason>, <text>".  What the status string does not say already is
 * added to cl->status.
 */
static void keep_error_details(struct m2m_cmp_client *cl)
{
	static const char key[] = "errorDetails: ", lib[] = "CMP routines, ";
	char quoted[M2M_CMP_STATUS_MAX];
	const char *data, *d, *comma;
	size_t n;
	int flags;

	while (ERR_get_error_all(NULL, NULL, NULL, &data, &flags) != 0) {
		d = (flags & ERR_TXT_STRING) && data ? strstr(data, key) : NULL;
		if (!d)
			continue;
		d += strlen(key);
		if (strncmp(d, lib, strlen(lib)) == 0)
			d += strlen(lib);
		comma = strstr(d, ", ");
		n = comma ? (size_t)(comma - d) : strlen(d);
		snprintf(quoted, sizeof(quoted), "\"%.*s\"", (int)n, d);
		if (strstr(cl->status, quoted))	/* the status string again */
			d = comma ? comma + 2 : d + n;
		n = strlen(cl->status);
		if (*d)
			snprintf(cl->status + n, sizeof(cl->status) - n,
				 "%serrorDetails: %s", n ? "; " : "", d);
		return;
	}
}

/* Why a transaction failed, as one of the codes of the header. */
static enum m2m_err failed(struct m2m_ctx *ctx, struct m2m_cmp_client *cl,
			   const char *what, double start)
{
	int status = OSSL_CMP_CTX_get_status(cl->cmp);
	double secs = (now_ms() - start) / 1e3;

	keep_status(cl);
	if (cl->refused[0]) {
		ERR_clear_error();
		return m2m_error(ctx, M2M_ERR_VERIFY, "%s; refused it",
				 cl->refused);
	}
	if (cl->transfer_failed) {
		if (secs + 0.5 >= (double)cl->timeout)
			return m2m_error_ossl(ctx, M2M_ERR_IO,
					      "no answer from '%s' within %d s",
					      cl->url, cl->timeout);
		return m2m_error_ossl(ctx, M2M_ERR_IO,
				      "cannot exchange CMP messages with '%s'",
				      cl->url);
	}
	if (status >= OSSL_CMP_PKISTATUS_rejection || (status >= 0 &&
	    OSSL_CMP_CTX_get_failInfoCode(cl->cmp) > 0)) {
		keep_error_details(cl);
		ERR_clear_error();
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the server refuses the %s: %s", what,
				 cl->status[0] ? cl->status : "no reason given");
	}
	return m2m_error_ossl(ctx, M2M_ERR_VERIFY,
			      "the response from '%s' is not acceptable",
			      cl->url);
}

/*
 * The IDevID template's extensions: subjectAltName with the
 * HardwareModuleName { hwType placeholder, hwSerialNum PPID }.
 */
static enum m2m_err idevid_template(struct m2m_ctx *ctx,
				    struct m2m_cmp_client *cl,
				    const struct m2m_cmp_enroll *req)
{
	X509_NAME *name = NULL;
	X509_EXTENSIONS *exts = NULL;
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen = NULL;
	ASN1_TYPE *val = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_STRING *seq = NULL;
	struct m2m_der d;
	uint8_t buf[HWMODULE_MAX];
	size_t m;
	enum m2m_err rc = M2M_ERR_CRYPTO;

	if (!req->ppid || !req->ppid_len || req->ppid_len > 64 ||
	    strlen(req->device_serial) > 64)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "an IDevID request needs a serial and a PPID of 1 to 64 bytes");
	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x06, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule));
	m2m_der_tlv(&d, 0x04, req->ppid, req->ppid_len);
	m2m_der_close(&d, m);
	if (d.bad)
		return m2m_error(ctx, M2M_ERR_INTERNAL, "HardwareModuleName too long");
	name = X509_NAME_new();
	if (!name || !X509_NAME_add_entry_by_NID(name, NID_serialNumber,
						 MBSTRING_UTF8,
						 (const unsigned char *)req->device_serial,
						 -1, -1, 0))
		goto out;
	oid = OBJ_txt2obj("1.3.6.1.5.5.7.8.4", 1);
	seq = ASN1_STRING_new();
	val = ASN1_TYPE_new();
	gen = GENERAL_NAME_new();
	gens = GENERAL_NAMES_new();
	exts = sk_X509_EXTENSION_new_null();
	if (!oid || !seq || !val || !gen || !gens || !exts ||
	    !ASN1_STRING_set(seq, buf, (int)d.len))
		goto out;
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if (!GENERAL_NAME_set0_othername(gen, oid, val))
		goto out;
	oid = NULL;
	val = NULL;
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto out;
	gen = NULL;
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	if (!ext || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	if (!OSSL_CMP_CTX_set1_subjectName(cl->cmp, name) ||
	    !OSSL_CMP_CTX_set0_reqExtensions(cl->cmp, exts))
		goto out;
	exts = NULL;
	rc = M2M_OK;
out:
	if (rc != M2M_OK)
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the request template");
	X509_NAME_free(name);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_EXTENSION_free(ext);
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(gen);
	ASN1_TYPE_free(val);
	ASN1_OBJECT_free(oid);
	ASN1_STRING_free(seq);
	return rc;
}

/* The verified chain without the certificate and a self-signed root. */
static enum m2m_err take_chain(struct m2m_ctx *ctx, struct m2m_cmp_client *cl,
			       struct m2m_cmp_result *res)
{
	int n = sk_X509_num(cl->chain), i;
	X509 *x;
	enum m2m_err rc;

	if (n > 1) {
		x = sk_X509_value(cl->chain, n - 1);
		if (X509_get_extension_flags(x) & EXFLAG_SS)
			n--;
	}
	if (n > M2M_CERT_LIST_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the certificate's chain is longer than %d",
				 M2M_CERT_LIST_MAX);
	if (n <= 1)
		return M2M_OK;
	res->chain = calloc((size_t)n - 1, sizeof(*res->chain));
	if (!res->chain)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	for (i = 1; i < n; i++) {
		x = sk_X509_value(cl->chain, i);
		if (!X509_up_ref(x))
			return m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "chain");
		rc = m2m_cert_from_x509(ctx, &x, &res->chain[res->nchain]);
		if (rc != M2M_OK) {
			X509_free(x);
			return rc;
		}
		res->nchain++;
	}
	return M2M_OK;
}

static const char *const req_name[] = { "ir", "cr", "kur" };

enum m2m_err m2m_cmp_client_enroll(struct m2m_ctx *ctx,
				   struct m2m_cmp_client *cl,
				   const struct m2m_cmp_enroll *req,
				   struct m2m_cmp_result *res)
{
	static const int type[] = { OSSL_CMP_IR, OSSL_CMP_CR, OSSL_CMP_KUR };
	EVP_PKEY *pk = m2m_key_pkey(req->key);
	X509 *got, *x = NULL;
	double start = now_ms();
	char what[32];
	enum m2m_err rc;

	memset(res, 0, sizeof(*res));
	if ((unsigned)req->type > M2M_CMP_KUR || !pk)
		return m2m_error(ctx, M2M_ERR_USAGE, "no such request");
	if (req->type == M2M_CMP_KUR && !req->old)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "a key update request needs the certificate to update");
	rc = begin(ctx, cl);
	if (rc != M2M_OK)
		return rc;
	/*
	 * The template and key of the last call must not stay.  The
	 * recipient: the issuer of the certificate updated, else the NULL-DN
	 * (RFC 9483, 3.1: the CA's name is not known), not OpenSSL's default
	 * of the protecting certificate's issuer: a station's or an IDevID's
	 * issuer is seldom the CA asked.
	 */
	if (!OSSL_CMP_CTX_set1_recipient(cl->cmp, req->old ?
			X509_get_issuer_name(m2m_cert_x509(req->old)) :
			cl->null_dn) ||
	    !OSSL_CMP_CTX_set1_subjectName(cl->cmp, NULL) ||
	    !OSSL_CMP_CTX_set0_reqExtensions(cl->cmp, NULL) ||
	    !OSSL_CMP_CTX_set1_oldCert(cl->cmp, req->old ?
				       m2m_cert_x509(req->old) : NULL) ||
	    !EVP_PKEY_up_ref(pk))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set up the request");
	if (!OSSL_CMP_CTX_set0_newPkey(cl->cmp, 1, pk)) {
		EVP_PKEY_free(pk);
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot set the new key");
	}
	if (req->device_serial) {
		rc = idevid_template(ctx, cl, req);
		if (rc != M2M_OK)
			goto out;
	}
	snprintf(what, sizeof(what), "%s", req_name[req->type]);
	got = OSSL_CMP_exec_certreq(cl->cmp, type[req->type], NULL);
	res->ms = now_ms() - start;
	if (!got) {
		rc = failed(ctx, cl, what, start);
		goto out;
	}
	keep_status(cl);
	if (!cl->chain) {	/* our certConf callback did not run */
		rc = m2m_error(ctx, M2M_ERR_INTERNAL,
			       "the certificate was not checked");
		goto out;
	}
	x = got;
	if (!X509_up_ref(x)) {
		x = NULL;
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "certificate");
		goto out;
	}
	rc = m2m_cert_from_x509(ctx, &x, &res->cert);
	if (rc == M2M_OK)
		rc = take_chain(ctx, cl, res);
	res->implicit = !cl->sent_certconf;
out:
	X509_free(x);
	/* The key may be freed by the caller before the client. */
	OSSL_CMP_CTX_set0_newPkey(cl->cmp, 1, NULL);
	OSSL_CMP_CTX_set1_oldCert(cl->cmp, NULL);
	if (rc != M2M_OK)
		m2m_cmp_result_release(res);
	return rc;
}

void m2m_cmp_result_release(struct m2m_cmp_result *res)
{
	m2m_cert_free(res->cert);
	m2m_cert_list_free(res->chain, res->nchain);
	memset(res, 0, sizeof(*res));
}

enum m2m_err m2m_cmp_client_revoke(struct m2m_ctx *ctx,
				   struct m2m_cmp_client *cl,
				   const struct m2m_cert *cert, int reason)
{
	X509 *x = m2m_cert_x509(cert);
	double start = now_ms();
	enum m2m_err rc;

	if (!x)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "the certificate cannot be parsed");
	rc = begin(ctx, cl);
	if (rc != M2M_OK)
		return rc;
	if (!OSSL_CMP_CTX_set1_oldCert(cl->cmp, x) ||
	    !OSSL_CMP_CTX_set1_recipient(cl->cmp, X509_get_issuer_name(x)) ||
	    !OSSL_CMP_CTX_set_option(cl->cmp, OSSL_CMP_OPT_REVOCATION_REASON,
				     reason))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot set up the revocation request");
	if (OSSL_CMP_exec_RR_ses(cl->cmp) != 1)
		rc = failed(ctx, cl, "revocation", start);
	else
		keep_status(cl);
	OSSL_CMP_CTX_set1_oldCert(cl->cmp, NULL);
	return rc;
}
