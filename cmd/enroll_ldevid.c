/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2m-enroll ldevid and renew: an LDevID for a device, vouched for by its
 * IDevID, from a CA on this machine; and its renewal, vouched for by the
 * current LDevID.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/cmp_client.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/hex.h>
#include <m2m/key.h>
#include <m2m/ldevid.h>
#include <m2m/ledger.h>
#include <m2m/ppid.h>

#include "cli.h"
#include "enroll.h"

enum {
	OPT_CA = 200, OPT_CA_PASSIN, OPT_IDEVID_KEY, OPT_IDEVID_CERT,
	OPT_PROFILE, OPT_REUSE, OPT_REPLACE, OPT_BEFORE, OPT_SAME_KEY,
	OPT_NEW_KEY, OPT_NEW_CERT, OPT_IDEVID_CHAIN
};

#define DEFAULT_BEFORE	30	/* days: renew when the LDevID expires sooner */
#define REASON_CESSATION 5	/* cessationOfOperation */
#define REASON_TEXT_MAX	1400

static const char *const usage_ldevid[] = {
	"m2m-enroll ldevid --ca DIR --idevid-key URI --idevid-cert URI [--key URI | --reuse-idevid-key] [--cert URI] [--profile NAME] [--replace] [--json]",
	"m2m-enroll ldevid --out FILE --idevid-key URI --idevid-cert URI [--key URI | --reuse-idevid-key] [--json]",
	"m2m-enroll ldevid --server URL --server-trust FILE --idevid-key URI --idevid-cert URI [--key URI | --reuse-idevid-key] [--cert URI] [--json]",
	NULL
};
static const char *const usage_renew[] = {
	"m2m-enroll renew --ca DIR --key URI --cert URI [--before DAYS] [--same-key | --new-key URI] [--new-cert URI] [--json]",
	"m2m-enroll renew --server URL --server-trust FILE --key URI --cert URI [--before DAYS] [--same-key | --new-key URI] [--new-cert URI] [--json]",
	NULL
};

#define OPT_CA_ENTRY { OPT_CA, "ca", 0, "DIR", "the CA that issues the LDevID" }
#define OPT_CA_PASSIN_ENTRY { OPT_CA_PASSIN, "ca-passin", 0, "SOURCE", "the CA key's passphrase or PIN" }

static const struct cli_option ldevid_options[] = {
	OPT_CA_ENTRY,
	{ OPT_IDEVID_KEY, "idevid-key", 0, "URI", "the device's IDevID key" },
	{ OPT_IDEVID_CERT, "idevid-cert", 0, "URI", "the IDevID certificate (and its chain)" },
	{ OPT_IDEVID_CHAIN, "idevid-chain", 0, "URI", "the IDevID's chain, if not with it (a TPM's)" },
	{ OPT_KEY, "key", 0, "URI", "where to make the LDevID key (tpm2: alone: 0x81000110)" },
	{ OPT_REUSE, "reuse-idevid-key", 0, NULL, "the LDevID keeps the IDevID's key" },
	{ OPT_CERT, "cert", 0, "URI", "where the LDevID and chain go (tpm2: key: nv 0x01800110)" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "of the new key: ec-p256 (default), ec-p384, rsa2048, rsa3072" },
	{ OPT_PROFILE, "profile", 0, "NAME", "the CA's ldevid profile (default ldevid)" },
	{ OPT_REPLACE, "replace", 0, NULL, "supersede the LDevID the device has at the CA" },
	{ OPT_OUT, "out", 0, "FILE", "write the request here instead of asking a CA" },
	{ OPT_FORCE, "force", 0, NULL, "replace a key or certificate that is there" },
	OPT_PASSIN_ENTRY,
	{ OPT_PASSOUT, "passout", 0, "SOURCE", "encrypt a new file key with this passphrase" },
	OPT_CA_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_SERVER_ENTRIES,
	OPT_END
};

static const struct cli_option renew_options[] = {
	OPT_CA_ENTRY,
	{ OPT_KEY, "key", 0, "URI", "the LDevID key the device has" },
	{ OPT_CERT, "cert", 0, "URI", "the LDevID certificate the device has" },
	{ OPT_BEFORE, "before", 0, "DAYS", "renew when it expires within DAYS (default 30)" },
	{ OPT_SAME_KEY, "same-key", 0, NULL, "keep the key, renew the certificate" },
	{ OPT_NEW_KEY, "new-key", 0, "URI", "where the new key goes (default: see the manual)" },
	{ OPT_NEW_CERT, "new-cert", 0, "URI", "where the new certificate goes (likewise)" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "of the new key (default: the current key's)" },
	{ OPT_FORCE, "force", 0, NULL, "replace a key or certificate at the new location" },
	OPT_PASSIN_ENTRY,
	{ OPT_PASSOUT, "passout", 0, "SOURCE", "encrypt a new file key (default: --passin's)" },
	OPT_CA_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_SERVER_ENTRIES,
	OPT_END
};

const struct cli_command ldevid_cmd = { usage_ldevid,
	"Make a new key in the device and get its LDevID from the CA in DIR\n"
	"with a request signed by the new key and by the device's IDevID; store\n"
	"certificate and chain in the device and read them back.  With --out,\n"
	"write the request for a CA elsewhere (m2m-ca issue --request).",
	ldevid_options };

const struct cli_command renew_cmd = { usage_renew,
	"Renew the device's LDevID when it expires within --before days: a new\n"
	"key (or --same-key) and certificate, requested with the current LDevID,\n"
	"installed and read back before the old pair is removed.",
	renew_options };

/* ---- shared --------------------------------------------------------------- */

struct timing {
	double start, keygen, request, issue, install, readback;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds since *t, and restart it. */
static double lap(double *t)
{
	double now = now_ms(), d = now - *t;

	*t = now;
	return d;
}

static void json_ms(const struct timing *t, double total)
{
	printf(",\"ms\":{\"keygen\":%.1f,\"request\":%.1f,\"issue\":%.1f,"
	       "\"install\":%.1f,\"readback\":%.1f,\"total\":%.1f}",
	       t->keygen, t->request, t->issue, t->install, t->readback, total);
}

/* "tpm2:" alone names the project's default LDevID location. */
static const char *tpm_default(const char *uri, const char *dflt)
{
	return uri && strcmp(uri, "tpm2:") == 0 ? dflt : uri;
}

static int scheme_is(const char *uri, const char *scheme)
{
	const char *s = m2m_key_scheme(uri);

	return s && strcmp(s, scheme) == 0;
}

static int parse_days(const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < 0 || v > 36500)
		cli_usage_error("--before needs a number of days from 0 to 36500, not '%s'",
				arg);
	return (int)v;
}

static int parse_alg(const char *arg)
{
	int alg = m2m_key_alg_lookup(arg);

	if (alg < 0 || alg == M2M_KEY_ED25519)
		cli_usage_error("unknown algorithm '%s' (ec-p256, ec-p384, rsa2048, rsa3072)",
				arg);
	return alg;
}

/* The certificates at uri: 0, or the exit status after saying why not. */
static int load_certs(struct m2m_ctx *ctx, const struct common *c,
		      const char *what, const char *uri,
		      struct m2m_cert ***certs, size_t *n)
{
	struct m2m_key_opts ko = key_opts(c, 0);
	char s[URI_SHOWN_MAX];
	enum m2m_err rc = m2m_cert_load(ctx, uri, &ko, certs, n);

	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot load the %s '%s'", what,
				shown(uri, s));
	return 0;
}

/* The CA in dir, with its key: 0, or the exit status. */
static int open_ca(struct m2m_ctx *ctx, const char *dir, const char *passin,
		   const struct common *c, struct m2m_ca **ca)
{
	struct m2m_key_opts ko;
	enum m2m_err rc;

	memset(&ko, 0, sizeof(ko));
	ko.pass_source = passin;
	ko.pin_source = passin;
	ko.tcti = c->tcti;
	ko.auth_source = c->auth;
	rc = m2m_ca_open(ctx, dir, M2M_CA_NEED_KEY, &ko, NULL, ca);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot open the CA '%s'", dir);
	return 0;
}

/* The CA's chain as certificates (none under a root). */
static int ca_chain(struct m2m_ctx *ctx, struct m2m_ca *ca,
		    struct m2m_cert ***chain, size_t *n)
{
	const char *pem = m2m_ca_chain_pem(ca);
	enum m2m_err rc;

	*chain = NULL;
	*n = 0;
	if (!*pem)
		return 0;
	rc = m2m_cert_parse_list(ctx, pem, strlen(pem), chain, n);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot read the CA's chain");
	return 0;
}

/* Parse the request as the CA would read it, and have the CA decide. */
static enum m2m_err ca_accept(struct m2m_ctx *ctx, struct m2m_ca *ca,
			      const char *req_der, size_t len,
			      const struct m2m_ldevid_policy *pol,
			      struct m2m_issue_result *res)
{
	struct m2m_ldevid_request *req = NULL;
	enum m2m_err rc;

	rc = m2m_ldevid_request_parse(ctx, req_der, len, &req);
	if (rc == M2M_OK)
		rc = m2m_ldevid_accept(ctx, ca, req, pol, res);
	m2m_ldevid_request_free(req);
	return rc;
}

/*
 * Store cert (and chain, where the location holds one) at uri, read it
 * back, compare, and check it is key's.  M2M_OK, or the failure with a
 * detail in ctx; *stored says whether something is there to remove.
 */
static enum m2m_err install(struct m2m_ctx *ctx, const char *uri,
			    struct m2m_cert *cert, struct m2m_cert **chain,
			    size_t nchain, const struct m2m_key *key,
			    const struct m2m_key_opts *ko, struct timing *t,
			    double *clock, size_t *nstored, int *stored)
{
	struct m2m_cert *list[M2M_CERT_LIST_MAX], **back = NULL;
	size_t nback = 0, n = 0, i;
	enum m2m_err rc;

	*stored = 0;
	if (scheme_is(uri, "tpm2"))
		nchain = 0;	/* an NV index holds one certificate */
	if (nchain >= M2M_CERT_LIST_MAX)
		nchain = M2M_CERT_LIST_MAX - 1;
	list[n++] = cert;
	for (i = 0; i < nchain; i++)
		list[n++] = chain[i];
	rc = m2m_cert_store(ctx, uri, cert, chain, nchain, ko);
	t->install = lap(clock);
	if (rc != M2M_OK)
		return rc;
	*stored = 1;
	rc = m2m_cert_load(ctx, uri, ko, &back, &nback);
	t->readback = lap(clock);
	if (rc != M2M_OK) {
		m2m_cert_list_free(back, nback);
		return rc;
	}
	if (!same_certs(list, n, back, nback))
		rc = M2M_ERR_BACKEND;
	else if (!m2m_cert_matches_key(back[0], key))
		rc = M2M_ERR_INVALID;
	if (rc != M2M_OK)
		m2m_ctx_clear_error(ctx);	/* the caller words these */
	m2m_cert_list_free(back, nback);
	*nstored = n;
	return rc;
}

/* A one-line reason, detail scrubbed of PINs, kept across cleanup. */
static void keep_reason(const struct m2m_ctx *ctx, enum m2m_err rc,
			const char *fallback, char out[REASON_TEXT_MAX])
{
	const char *d = m2m_ctx_detail(ctx);
	char s[URI_SHOWN_MAX];

	snprintf(out, REASON_TEXT_MAX, "%s",
		 shown(*d ? d : fallback ? fallback : m2m_strerror(rc), s));
}

/* ---- ldevid ------------------------------------------------------------------ */

struct ldevid_opts {
	struct common c;
	const char *ca;
	const char *ca_passin;
	const char *idevid_key;
	const char *idevid_cert;
	const char *idevid_chain;
	const char *cert;
	const char *profile;
	const char *out;
	int alg;
	int reuse;
	int replace;
	struct remote r;
};

static void ldevid_parse(struct ldevid_opts *o, int argc, char **argv)
{
	struct cli_parser p;
	int opt;

	memset(o, 0, sizeof(*o));
	o->alg = M2M_KEY_EC_P256;
	cli_parser_init(&p, &ldevid_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&o->c, opt, p.optarg) ||
		    remote_opt(&o->r, opt, p.optarg))
			continue;
		switch (opt) {
		case OPT_CA: o->ca = p.optarg; break;
		case OPT_CA_PASSIN: o->ca_passin = p.optarg; break;
		case OPT_IDEVID_KEY:
			warn_pin("--idevid-key", p.optarg);
			o->idevid_key = p.optarg;
			break;
		case OPT_IDEVID_CERT: o->idevid_cert = p.optarg; break;
		case OPT_IDEVID_CHAIN: o->idevid_chain = p.optarg; break;
		case OPT_CERT:
			warn_pin("--cert", p.optarg);
			o->cert = p.optarg;
			break;
		case OPT_ALGORITHM: o->alg = parse_alg(p.optarg); break;
		case OPT_PROFILE: o->profile = p.optarg; break;
		case OPT_REUSE: o->reuse = 1; break;
		case OPT_REPLACE: o->replace = 1; break;
		case OPT_OUT: o->out = p.optarg; break;
		}
	}
	no_operands(&p);
	remote_check(&o->r, 0, 1);
	if (!o->ca + !o->out + !o->r.server != 2)
		cli_usage_error("ldevid needs --ca DIR or --server URL, or --out FILE for the request alone");
	if (o->r.server && (o->profile || o->replace || o->ca_passin))
		cli_usage_error("--profile, --replace and --ca-passin go with --ca (with --server, the URL names the profile)");
	if (!o->idevid_key || !o->idevid_cert)
		cli_usage_error("ldevid needs --idevid-key URI and --idevid-cert URI");
	if (o->reuse && o->c.key)
		cli_usage_error("--reuse-idevid-key keeps the IDevID's key: no --key");
	if (!o->reuse && !o->c.key)
		cli_usage_error("ldevid needs --key URI for the new key (tpm2: for 0x81000110), or --reuse-idevid-key");
	o->c.key = o->reuse ? o->idevid_key :
		   tpm_default(o->c.key, M2M_LDEVID_TPM_KEY);
	if (!o->reuse && strcmp(o->c.key, o->idevid_key) == 0)
		cli_usage_error("--key is the IDevID's key: name another place, or give --reuse-idevid-key");
	if (o->out) {
		if (o->cert || o->profile || o->replace || o->ca_passin)
			cli_usage_error("--out writes the request alone: --cert, --profile, --replace and --ca-passin go with --ca");
		return;
	}
	o->cert = tpm_default(o->cert, M2M_LDEVID_TPM_CERT);
	if (!o->cert && scheme_is(o->c.key, "tpm2"))
		o->cert = M2M_LDEVID_TPM_CERT;
	else if (!o->cert && scheme_is(o->c.key, "pkcs11") && !o->reuse)
		o->cert = o->c.key;	/* beside its key, under its id */
	if (!o->cert)
		cli_usage_error("ldevid needs --cert URI: where the LDevID goes");
	if (strcmp(o->cert, o->idevid_cert) == 0)
		cli_usage_error("--cert is where the IDevID is: the LDevID goes elsewhere");
	if (o->c.passout && !scheme_is(o->c.key, "file"))
		cli_usage_error("--passout encrypts file keys; this key stays in its device");
}

/* The certificates at uri appended to *certs (at most M2M_CERT_LIST_MAX). */
static int chain_append(struct m2m_ctx *ctx, const struct common *c,
			const char *uri, struct m2m_cert ***certs, size_t *n)
{
	struct m2m_cert **more = NULL, **all;
	size_t nmore = 0, i;
	int status;

	status = load_certs(ctx, c, "IDevID chain", uri, &more, &nmore);
	if (status)
		return status;
	if (*n + nmore > M2M_CERT_LIST_MAX) {
		cli_error("too many certificates: at most %d with the chain",
			  M2M_CERT_LIST_MAX);
		m2m_cert_list_free(more, nmore);
		return CLI_EXIT_INPUT;
	}
	all = realloc(*certs, (*n + nmore) * sizeof(*all));
	if (!all) {
		m2m_cert_list_free(more, nmore);
		cli_error("out of memory");
		return CLI_EXIT_SYSTEM;
	}
	for (i = 0; i < nmore; i++) {
		all[(*n)++] = more[i];
		more[i] = NULL;
	}
	*certs = all;
	m2m_cert_list_free(more, nmore);
	return 0;
}

/* The device's IDevID: key and certificates, checked to belong together. */
static int idevid_load(struct m2m_ctx *ctx, const struct ldevid_opts *o,
		       struct m2m_key **key, struct m2m_cert ***certs,
		       size_t *n)
{
	struct common c = o->c;
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	int status;

	c.key = o->idevid_key;
	status = load_key(ctx, &c, key);
	if (status == 0)
		status = load_certs(ctx, &c, "IDevID certificate",
				    o->idevid_cert, certs, n);
	if (status == 0 && !m2m_cert_matches_key((*certs)[0], *key)) {
		cli_error("the IDevID certificate '%s' is not the key '%s''s",
			  shown(o->idevid_cert, s), shown(o->idevid_key, k));
		status = CLI_EXIT_INPUT;
	}
	if (status == 0 && o->idevid_chain)
		status = chain_append(ctx, &c, o->idevid_chain, certs, n);
	return status;
}

static void ldevid_print(struct m2m_ctx *ctx, struct m2m_ca *ca,
			 const struct ldevid_opts *o,
			 const struct m2m_cert *idevid,
			 const struct m2m_cert *cert, const struct m2m_key *key,
			 size_t nstored, const struct timing *t, double total)
{
	struct m2m_cert_record r;
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX], fp[M2M_KEY_FINGERPRINT_HEX];
	char na[CLI_TIME_MAX], ppid[M2M_PPID_HEX_MAX], subject[1024];
	char profile[64];
	int64_t b, a;

	ppid[0] = '\0';
	snprintf(profile, sizeof(profile), "%s",
		 o->profile ? o->profile : "ldevid");
	if (ca && m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
				      m2m_cert_serial(cert), &r) == M2M_OK) {
		m2m_hex_encode(r.ppid, r.ppid_len <= M2M_PPID_MAX ? r.ppid_len :
			       0, ppid);
		snprintf(profile, sizeof(profile), "%s", r.profile);
	}
	if (m2m_key_fingerprint(ctx, key, fp) != M2M_OK)
		snprintf(fp, sizeof(fp), "?");
	m2m_cert_validity(cert, &b, &a);
	cli_iso_time(a, na);
	if (!o->c.json) {
		printf("enrolled LDevID %s for IDevID %s at '%s' (key '%s'), valid until %s\n",
		       m2m_cert_serial(cert), m2m_cert_serial(idevid),
		       shown(o->cert, s), shown(o->c.key, k), na);
		return;
	}
	m2m_cert_subject(cert, subject, sizeof(subject));
	printf("{\"idevid_serial\":\"%s\",\"idevid_fingerprint\":\"%s\",\"ppid\":\"%s\",\"profile\":",
	       m2m_cert_serial(idevid), m2m_cert_fingerprint(idevid), ppid);
	json_str(profile);
	printf(",\"certificate_serial\":\"%s\",\"fingerprint\":\"%s\",\"subject\":",
	       m2m_cert_serial(cert), m2m_cert_fingerprint(cert));
	json_str(subject);
	printf(",\"not_after\":\"%s\",\"key\":", na);
	json_str(shown(o->c.key, s));
	printf(",\"cert\":");
	json_str(shown(o->cert, s));
	printf(",\"chain\":%zu,\"public_key_fingerprint\":\"%s\",\"reused_idevid_key\":%s",
	       nstored ? nstored - 1 : 0, fp, o->reuse ? "true" : "false");
	json_ms(t, total);
	printf("}\n");
}

/* --out: the request to a file; the new key stays for its certificate. */
static int ldevid_request_out(struct m2m_ctx *ctx, const struct ldevid_opts *o,
			      const char *req, size_t len,
			      const struct m2m_cert *idevid,
			      const struct m2m_key *key)
{
	char s[URI_SHOWN_MAX], fp[M2M_KEY_FINGERPRINT_HEX];
	enum m2m_err rc;

	if (strcmp(o->out, "-") == 0) {
		fwrite(req, 1, len, stdout);
		return cli_finish_stdout(CLI_EXIT_OK);
	}
	rc = m2m_file_write(ctx, o->out, req, len, 0644, 0);
	if (rc == M2M_OK)
		rc = m2m_key_fingerprint(ctx, key, fp);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot write the request");
	if (o->c.json) {
		printf("{\"request\":");
		json_str(o->out);
		printf(",\"idevid_serial\":\"%s\",\"key\":",
		       m2m_cert_serial(idevid));
		json_str(shown(o->c.key, s));
		printf(",\"public_key_fingerprint\":\"%s\",\"reused_idevid_key\":%s}\n",
		       fp, o->reuse ? "true" : "false");
	} else {
		printf("wrote the LDevID request for key '%s', signed by IDevID %s, to '%s'\n",
		       shown(o->c.key, s), m2m_cert_serial(idevid), o->out);
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

/*
 * After the CA issued: undo what can be undone, say what is left, in one
 * line.  Returns the exit status of rc.
 */
static int ldevid_undo(struct m2m_ctx *ctx, struct m2m_ca *ca,
		       struct m2m_cmp_client *cl, const struct ldevid_opts *o,
		       enum m2m_err rc,
		       const char *what, const struct m2m_cert *cert,
		       int stored, int made, const struct m2m_key_opts *ko)
{
	char why[REASON_TEXT_MAX], s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	const char *removed_cert = "", *removed_key = "";

	keep_reason(ctx, rc, what, why);
	if (stored && m2m_cert_remove(ctx, o->cert, ko) == M2M_OK)
		removed_cert = ", removed it from the device";
	if (made && m2m_key_remove(ctx, o->c.key, ko) == M2M_OK)
		removed_key = " and removed the new key";
	if (cl ? m2m_cmp_client_revoke(ctx, cl, cert, REASON_CESSATION) ==
	    M2M_OK : m2m_ca_revoke(ctx, ca, m2m_cert_serial(cert),
				   REASON_CESSATION, 0, NULL) == M2M_OK)
		cli_error("cannot install the LDevID at '%s': %s; revoked LDevID %s (cessationOfOperation)%s%s",
			  shown(o->cert, s), why, m2m_cert_serial(cert),
			  removed_cert, removed_key);
	else if (cl)
		cli_error("cannot install the LDevID at '%s': %s; LDevID %s stays issued at '%s', which does not revoke it (%s)%s%s (key '%s')",
			  shown(o->cert, s), why, m2m_cert_serial(cert),
			  o->r.server, m2m_ctx_detail(ctx), removed_cert,
			  removed_key, shown(o->c.key, k));
	else
		cli_error("cannot install the LDevID at '%s': %s; LDevID %s stays issued: revoke it with 'm2m-ca revoke --ca %s %s'%s%s (key '%s')",
			  shown(o->cert, s), why, m2m_cert_serial(cert), o->ca,
			  m2m_cert_serial(cert), removed_cert, removed_key,
			  shown(o->c.key, k));
	return cli_exit_status(rc);
}

/* ldevid --server: the same, over CMP: an ir protected by the IDevID. */
static int ldevid_remote(struct m2m_ctx *ctx, struct ldevid_opts *o,
			 struct m2m_key *idkey, struct m2m_cert **idcerts,
			 size_t nid)
{
	struct m2m_cmp_enroll req;
	struct m2m_cmp_result res;
	struct m2m_key *key = NULL;
	struct m2m_key_opts ko = key_opts(&o->c, 0), kgen = key_opts(&o->c, 1);
	struct timing t;
	char s[URI_SHOWN_MAX];
	size_t nstored = 0;
	double clock, start;
	int status, made = 0, stored = 0;
	enum m2m_err rc;

	memset(&res, 0, sizeof(res));
	memset(&t, 0, sizeof(t));
	start = clock = now_ms();
	status = remote_open(ctx, &o->c, &o->r, idkey, idcerts, nid);
	if (status)
		goto out;
	lap(&clock);
	if (o->reuse) {
		key = idkey;
	} else {
		rc = m2m_key_generate(ctx, o->c.key, (enum m2m_key_alg)o->alg,
				      &kgen, &key);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot make the LDevID key at '%s'",
					  shown(o->c.key, s));
			goto out;
		}
		made = 1;
	}
	t.keygen = lap(&clock);
	memset(&req, 0, sizeof(req));
	req.type = M2M_CMP_IR;
	req.key = key;
	rc = m2m_cmp_client_enroll(ctx, o->r.cl, &req, &res);
	t.issue = lap(&clock);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "no LDevID");
		goto out;
	}
	rc = install(ctx, o->cert, res.cert, res.chain, res.nchain, key,
		     &kgen, &t, &clock, &nstored, &stored);
	if (rc != M2M_OK) {
		status = ldevid_undo(ctx, NULL, o->r.cl, o, rc,
				     rc == M2M_ERR_BACKEND ?
				     "it reads back different from what was stored" :
				     "it is not the new key's",
				     res.cert, stored, made, &ko);
		made = 0;
		goto out;
	}
	made = 0;
	ldevid_print(ctx, NULL, o, idcerts[0], res.cert, key, nstored, &t,
		     now_ms() - start);
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	if (made && m2m_key_remove(ctx, o->c.key, &ko) != M2M_OK)
		cli_warn("the new key '%s' is left behind", shown(o->c.key, s));
	m2m_cmp_result_release(&res);
	if (key != idkey)
		m2m_key_free(key);
	remote_close(&o->r);
	return status;
}

int cmd_ldevid(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct ldevid_opts o;
	struct m2m_ldevid_policy pol;
	struct m2m_issue_result res;
	struct m2m_key *idkey = NULL, *key = NULL;
	struct m2m_cert **idcerts = NULL, **chain = NULL;
	struct m2m_key_opts ko, kgen;
	struct m2m_ca *ca = NULL;
	struct timing t;
	char *req = NULL, s[URI_SHOWN_MAX];
	size_t nid = 0, nchain = 0, len = 0, nstored = 0;
	double clock, start;
	int status, made = 0, stored = 0;
	enum m2m_err rc;

	ldevid_parse(&o, argc, argv);
	memset(&res, 0, sizeof(res));
	memset(&t, 0, sizeof(t));
	start = clock = now_ms();
	ko = key_opts(&o.c, 0);
	kgen = key_opts(&o.c, 1);
	status = idevid_load(ctx, &o, &idkey, &idcerts, &nid);
	if (status)
		goto out;
	if (o.r.server) {
		status = ldevid_remote(ctx, &o, idkey, idcerts, nid);
		goto out;
	}
	if (o.ca) {
		/* Before the key is made: a CA that cannot be opened. */
		status = open_ca(ctx, o.ca, o.ca_passin, &o.c, &ca);
		if (status == 0)
			status = ca_chain(ctx, ca, &chain, &nchain);
		if (status)
			goto out;
	}
	lap(&clock);
	if (o.reuse) {
		key = idkey;
	} else {
		rc = m2m_key_generate(ctx, o.c.key, (enum m2m_key_alg)o.alg,
				      &kgen, &key);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot make the LDevID key at '%s'",
					  shown(o.c.key, s));
			goto out;
		}
		made = 1;
	}
	t.keygen = lap(&clock);
	rc = m2m_ldevid_request_make(ctx, key, idkey, idcerts, nid,
				     M2M_LDEVID_ENROLL,
				     o.reuse ? M2M_LDEVID_REUSE_KEY : 0,
				     o.out ? M2M_FORMAT_PEM : M2M_FORMAT_DER,
				     &req, &len);
	t.request = lap(&clock);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot make the LDevID request");
		goto out;
	}
	if (o.out) {
		status = ldevid_request_out(ctx, &o, req, len, idcerts[0], key);
		made = status != 0;
		goto out;
	}
	memset(&pol, 0, sizeof(pol));
	pol.profile = o.profile;
	pol.flags = o.reuse ? M2M_LDEVID_ALLOW_KEY_REUSE : 0;
	pol.replace = o.replace;
	rc = ca_accept(ctx, ca, req, len, &pol, &res);
	t.issue = lap(&clock);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "the CA refuses the LDevID request");
		goto out;
	}
	if (res.replaced[0])
		cli_warn("revoked LDevID %s (superseded)", res.replaced);
	rc = install(ctx, o.cert, res.cert, chain, nchain, key, &kgen, &t,
		     &clock, &nstored, &stored);
	if (rc != M2M_OK) {
		status = ldevid_undo(ctx, ca, NULL, &o, rc,
				     rc == M2M_ERR_BACKEND ?
				     "it reads back different from what was stored" :
				     "it is not the new key's",
				     res.cert, stored, made, &ko);
		made = 0;
		goto out;
	}
	made = 0;
	ldevid_print(ctx, ca, &o, idcerts[0], res.cert, key, nstored, &t,
		     now_ms() - start);
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	if (made && m2m_key_remove(ctx, o.c.key, &ko) != M2M_OK)
		cli_warn("the new key '%s' is left behind", shown(o.c.key, s));
	free(req);
	m2m_cert_free(res.cert);
	m2m_cert_list_free(chain, nchain);
	m2m_cert_list_free(idcerts, nid);
	if (key != idkey)
		m2m_key_free(key);
	m2m_key_free(idkey);
	m2m_ca_close(ca);
	return status;
}

/* ---- renew -------------------------------------------------------------------- */

struct renew_opts {
	struct common c;
	const char *ca;
	const char *ca_passin;
	const char *cert;
	const char *new_key;
	const char *new_cert;
	int alg;
	int before;
	int same_key;
	char new_key_buf[M2M_URI_TEXT_MAX];
	char new_cert_buf[M2M_URI_TEXT_MAX];
	int in_place;		/* file: KEY.new and CERT.new moved over */
	struct remote r;
};

static void renew_parse(struct renew_opts *o, int argc, char **argv)
{
	struct cli_parser p;
	int opt;

	memset(o, 0, sizeof(*o));
	o->alg = -1;
	o->before = DEFAULT_BEFORE;
	cli_parser_init(&p, &renew_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&o->c, opt, p.optarg) ||
		    remote_opt(&o->r, opt, p.optarg))
			continue;
		switch (opt) {
		case OPT_CA: o->ca = p.optarg; break;
		case OPT_CA_PASSIN: o->ca_passin = p.optarg; break;
		case OPT_CERT:
			warn_pin("--cert", p.optarg);
			o->cert = p.optarg;
			break;
		case OPT_BEFORE: o->before = parse_days(p.optarg); break;
		case OPT_SAME_KEY: o->same_key = 1; break;
		case OPT_NEW_KEY:
			warn_pin("--new-key", p.optarg);
			o->new_key = p.optarg;
			break;
		case OPT_NEW_CERT:
			warn_pin("--new-cert", p.optarg);
			o->new_cert = p.optarg;
			break;
		case OPT_ALGORITHM: o->alg = parse_alg(p.optarg); break;
		}
	}
	no_operands(&p);
	remote_check(&o->r, 0, 1);
	if (!o->ca == !o->r.server || !o->c.key || !o->cert)
		cli_usage_error("renew needs --ca DIR or --server URL, --key URI and --cert URI");
	if (o->r.server && o->ca_passin)
		cli_usage_error("--ca-passin goes with --ca");
	if (o->same_key && (o->new_key || o->alg >= 0 || o->c.passout))
		cli_usage_error("--same-key keeps the key: no --new-key, --algorithm or --passout");
	if (o->new_key && strcmp(o->new_key, o->c.key) == 0)
		cli_usage_error("--new-key is where the current key is: name another place, or give --same-key");
	if (o->new_cert && strcmp(o->new_cert, o->cert) == 0 && !o->same_key)
		cli_usage_error("--new-cert is where the current certificate is: name another place");
}

/*
 * Where the new pair goes (renew(1)'s table): the other TPM slot, KEY.new
 * and CERT.new moved over the old files, or what the options name.
 * 0, or the exit status.
 */
static int renew_places(struct m2m_ctx *ctx, struct renew_opts *o)
{
	enum m2m_err rc = M2M_OK;
	int file_key = scheme_is(o->c.key, "file");

	if (!o->same_key && !o->new_key) {
		rc = m2m_ldevid_next_location(ctx, o->c.key, 0, o->new_key_buf,
					      sizeof(o->new_key_buf));
		if (rc == M2M_ERR_USAGE)
			cli_usage_error("renewing a pkcs11: key needs --new-key URI (and --new-cert if it goes elsewhere)");
		o->new_key = o->new_key_buf;
		o->in_place = file_key;
	}
	if (rc == M2M_OK && !o->new_cert) {
		if (o->same_key && !scheme_is(o->cert, "tpm2")) {
			o->new_cert = o->cert;	/* replaced in one step */
		} else if (scheme_is(o->new_key ? o->new_key : o->c.key,
				     "pkcs11") && scheme_is(o->cert, "pkcs11")) {
			o->new_cert = o->new_key;	/* under its key's id */
		} else {
			rc = m2m_ldevid_next_location(ctx, o->cert, 1,
						      o->new_cert_buf,
						      sizeof(o->new_cert_buf));
			o->new_cert = o->new_cert_buf;
		}
	}
	if (!o->new_key)
		o->new_key = o->c.key;
	if (o->in_place && (!scheme_is(o->cert, "file") ||
			    o->new_cert != o->new_cert_buf))
		o->in_place = 0;
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot choose where the new LDevID goes");
	return 0;
}

static void renew_not_due(const struct renew_opts *o,
			  const struct m2m_cert *cur, int64_t left)
{
	char na[CLI_TIME_MAX];
	int64_t nb, a;

	m2m_cert_validity(cur, &nb, &a);
	cli_iso_time(a, na);
	if (o->c.json)
		printf("{\"renewed\":false,\"certificate_serial\":\"%s\",\"not_after\":\"%s\",\"days_left\":%lld,\"before\":%d}\n",
		       m2m_cert_serial(cur), na, (long long)(left / 86400),
		       o->before);
	else
		printf("LDevID %s expires on %s, in %lld days: not renewing (due %d days before)\n",
		       m2m_cert_serial(cur), na, (long long)(left / 86400),
		       o->before);
}

static void renew_print(struct m2m_ctx *ctx, const struct renew_opts *o,
			const char *key, const char *cert,
			const struct m2m_cert *old,
			const struct m2m_issue_result *res,
			const struct m2m_key *nk, size_t nstored,
			const struct timing *t, double total)
{
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX], fp[M2M_KEY_FINGERPRINT_HEX];
	char na[CLI_TIME_MAX];
	int64_t b, a;

	m2m_cert_validity(res->cert, &b, &a);
	cli_iso_time(a, na);
	if (m2m_key_fingerprint(ctx, nk, fp) != M2M_OK)
		snprintf(fp, sizeof(fp), "?");
	if (!o->c.json) {
		printf("renewed LDevID %s as %s at '%s' (key '%s'), valid until %s\n",
		       m2m_cert_serial(old), m2m_cert_serial(res->cert),
		       shown(cert, s), shown(key, k), na);
		return;
	}
	printf("{\"renewed\":true,\"replaced\":\"%s\",\"certificate_serial\":\"%s\",\"fingerprint\":\"%s\"",
	       m2m_cert_serial(old), m2m_cert_serial(res->cert),
	       m2m_cert_fingerprint(res->cert));
	printf(",\"not_after\":\"%s\",\"key\":", na);
	json_str(shown(key, s));
	printf(",\"cert\":");
	json_str(shown(cert, s));
	printf(",\"chain\":%zu,\"public_key_fingerprint\":\"%s\",\"same_key\":%s",
	       nstored ? nstored - 1 : 0, fp, o->same_key ? "true" : "false");
	json_ms(t, total);
	printf("}\n");
}

/*
 * The new pair is in the device and read back: move it into place, or
 * remove the old one.  Warnings only: the device has a working pair
 * whatever happens here.  *key and *cert get where the pair is.
 */
static int renew_finish(struct m2m_ctx *ctx, const struct renew_opts *o,
			const struct m2m_key_opts *ko, const char **key,
			const char **cert)
{
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	enum m2m_err rc;

	*key = o->new_key;
	*cert = o->new_cert;
	if (o->in_place) {
		rc = m2m_ldevid_file_replace(ctx, o->new_cert, o->cert);
		if (rc == M2M_OK) {
			*cert = o->cert;
			rc = m2m_ldevid_file_replace(ctx, o->new_key, o->c.key);
		}
		if (rc == M2M_OK) {
			*key = o->c.key;
			return 0;
		}
		return cli_fail(ctx, rc, "the new LDevID is in the device at '%s' (key '%s'), but cannot be moved into place",
				shown(*cert, s), shown(*key, k));
	}
	if (strcmp(o->new_key, o->c.key) != 0 &&
	    m2m_key_remove(ctx, o->c.key, ko) != M2M_OK)
		cli_warn("cannot remove the old key '%s': %s",
			 shown(o->c.key, s), m2m_ctx_detail(ctx));
	if (strcmp(o->new_cert, o->cert) != 0 &&
	    m2m_cert_remove(ctx, o->cert, ko) != M2M_OK)
		cli_warn("cannot remove the old certificate '%s': %s",
			 shown(o->cert, s), m2m_ctx_detail(ctx));
	return 0;
}

/*
 * renew --server: a kur for nk, protected by the current LDevID (the
 * client's credential), updating old.  The certificate goes to res->cert, its chain to *chain.  0, or
 * the exit status after saying why not.
 */
static int renew_remote(struct m2m_ctx *ctx, const struct renew_opts *o,
			const struct m2m_cert *old,
			const struct m2m_key *nk, struct m2m_issue_result *res,
			struct m2m_cert ***chain, size_t *nchain)
{
	struct m2m_cmp_enroll req;
	struct m2m_cmp_result got;
	enum m2m_err rc;

	memset(&req, 0, sizeof(req));
	req.type = M2M_CMP_KUR;
	req.key = nk;
	req.old = old;
	rc = m2m_cmp_client_enroll(ctx, o->r.cl, &req, &got);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "no renewed LDevID");
	res->cert = got.cert;
	*chain = got.chain;
	*nchain = got.nchain;
	return 0;
}

int cmd_renew(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct renew_opts o;
	struct m2m_ldevid_policy pol;
	struct m2m_issue_result res;
	struct m2m_key *cur = NULL, *nk = NULL;
	struct m2m_cert **certs = NULL, **chain = NULL;
	struct m2m_key_opts ko, kgen;
	struct m2m_ca *ca = NULL;
	struct timing t;
	char *req = NULL, s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	char why[REASON_TEXT_MAX];
	const char *key_at, *cert_at;
	size_t n = 0, nchain = 0, len = 0, nstored = 0;
	int64_t nb, na, now = (int64_t)time(NULL);
	double clock, start;
	int status, made = 0, stored = 0, alg;
	enum m2m_err rc;

	renew_parse(&o, argc, argv);
	memset(&res, 0, sizeof(res));
	memset(&t, 0, sizeof(t));
	start = clock = now_ms();
	ko = key_opts(&o.c, 0);
	kgen = key_opts(&o.c, 1);
	if (!kgen.pass_source)
		kgen.pass_source = o.c.passin;	/* a file key keeps its passphrase */
	status = load_key(ctx, &o.c, &cur);
	if (status == 0)
		status = load_certs(ctx, &o.c, "LDevID certificate", o.cert,
				    &certs, &n);
	if (status)
		goto out;
	if (!m2m_cert_matches_key(certs[0], cur)) {
		cli_error("the LDevID certificate '%s' is not the key '%s''s",
			  shown(o.cert, s), shown(o.c.key, k));
		status = CLI_EXIT_INPUT;
		goto out;
	}
	m2m_cert_validity(certs[0], &nb, &na);
	if (na - now > (int64_t)o.before * 86400) {
		renew_not_due(&o, certs[0], na - now);
		status = cli_finish_stdout(CLI_EXIT_OK);
		goto out;
	}
	status = renew_places(ctx, &o);
	if (status == 0 && o.r.server)
		status = remote_open(ctx, &o.c, &o.r, cur, certs, n);
	else if (status == 0)
		status = open_ca(ctx, o.ca, o.ca_passin, &o.c, &ca);
	if (status == 0 && !o.r.server)
		status = ca_chain(ctx, ca, &chain, &nchain);
	if (status)
		goto out;
	lap(&clock);
	if (o.same_key) {
		nk = cur;
	} else {
		alg = o.alg >= 0 ? o.alg : (int)m2m_key_get_alg(cur);
		rc = m2m_key_generate(ctx, o.new_key, (enum m2m_key_alg)alg,
				      &kgen, &nk);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot make the new key at '%s'",
					  shown(o.new_key, s));
			goto out;
		}
		made = 1;
	}
	t.keygen = lap(&clock);
	if (o.r.server) {
		status = renew_remote(ctx, &o, certs[0], nk, &res, &chain,
				      &nchain);
		t.issue = lap(&clock);
		if (status)
			goto out;
	} else {
		rc = m2m_ldevid_request_make(ctx, nk, cur, certs, n,
					     M2M_LDEVID_RENEW,
					     o.same_key ? M2M_LDEVID_REUSE_KEY : 0,
					     M2M_FORMAT_DER, &req, &len);
		t.request = lap(&clock);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot make the renewal request");
			goto out;
		}
		memset(&pol, 0, sizeof(pol));
		rc = ca_accept(ctx, ca, req, len, &pol, &res);
		t.issue = lap(&clock);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "the CA refuses the renewal");
			goto out;
		}
	}
	made = 0;	/* issued: the new key is needed whatever comes */
	kgen.force = o.c.force || strcmp(o.new_cert, o.cert) == 0;
	rc = install(ctx, o.new_cert, res.cert, chain, nchain, nk, &kgen, &t,
		     &clock, &nstored, &stored);
	if (rc != M2M_OK) {
		/* The old one is superseded: the new one stays valid. */
		keep_reason(ctx, rc, rc == M2M_ERR_BACKEND ?
			    "it reads back different from what was stored" :
			    "it is not the new key's", why);
		if (o.r.server)
			cli_error("cannot install the renewed LDevID at '%s': %s; LDevID %s is issued by '%s' (%s superseded) for the key '%s'",
				  shown(o.new_cert, s), why,
				  m2m_cert_serial(res.cert), o.r.server,
				  m2m_cert_serial(certs[0]), shown(o.new_key, k));
		else
			cli_error("cannot install the renewed LDevID at '%s': %s; LDevID %s is issued (%s superseded) for the key '%s': install it with 'm2m-ca show --ca %s %s --pem | m2m-enroll install --cert URI --in - --key %s'",
				  shown(o.new_cert, s), why,
				  m2m_cert_serial(res.cert),
				  m2m_cert_serial(certs[0]), shown(o.new_key, k),
				  o.ca, m2m_cert_serial(res.cert),
				  shown(o.new_key, k));
		status = cli_exit_status(rc);
		goto out;
	}
	status = renew_finish(ctx, &o, &ko, &key_at, &cert_at);
	if (status)
		goto out;
	renew_print(ctx, &o, key_at, cert_at, certs[0], &res, nk, nstored, &t,
		    now_ms() - start);
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	if (made && m2m_key_remove(ctx, o.new_key, &ko) != M2M_OK)
		cli_warn("the new key '%s' is left behind", shown(o.new_key, s));
	free(req);
	m2m_cert_free(res.cert);
	m2m_cert_list_free(chain, nchain);
	m2m_cert_list_free(certs, n);
	if (nk != cur)
		m2m_key_free(nk);
	m2m_key_free(cur);
	m2m_ca_close(ca);
	remote_close(&o.r);
	return status;
}
