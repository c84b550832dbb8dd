/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2m-enroll over CMP: the options and client every remote subcommand
 * shares (--server), and revoke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/cmp_client.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "cli.h"
#include "enroll.h"

/* ---- shared ---------------------------------------------------------------- */

static int parse_timeout(const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < 1 || v > 3600)
		cli_usage_error("--timeout needs a number of seconds from 1 to 3600, not '%s'",
				arg);
	return (int)v;
}

int remote_opt(struct remote *r, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SERVER: r->server = arg; return 1;
	case OPT_SERVER_TRUST: r->trust = arg; return 1;
	case OPT_TIMEOUT: r->timeout = parse_timeout(arg); return 1;
	case OPT_EXPLICIT_CONFIRM: r->explicit_confirm = 1; return 1;
	case OPT_STATION_CERT: r->station_cert = arg; return 1;
	case OPT_STATION_KEY:
		warn_pin("--station-key", arg);
		r->station_key = arg;
		return 1;
	case OPT_STATION_PASSIN:
		if (strncmp(arg, "pass:", 5) == 0)
			cli_warn("--station-passin pass:... shows the secret to other users; prefer env:, file: or fd:");
		r->station_passin = arg;
		return 1;
	case OPT_SECRET:
		if (strncmp(arg, "pass:", 5) == 0)
			cli_warn("--secret pass:... shows the secret to other users; prefer env:, file: or fd:");
		r->secret = arg;
		return 1;
	case OPT_REF: r->ref = arg; return 1;
	}
	return 0;
}

void remote_check(const struct remote *r, int station, int own_key)
{
	int st = r->station_cert || r->station_key || r->station_passin;
	int mac = r->secret || r->ref;

	if (!r->server) {
		if (r->trust || r->timeout || r->explicit_confirm || st || mac)
			cli_usage_error("--server-trust, --timeout, --explicit-confirm, --station-*, --secret and --ref go with --server");
		return;
	}
	if (!r->trust)
		cli_usage_error("--server needs --server-trust FILE: the anchors the server's answers chain to");
	if (!station && (st || mac))
		cli_usage_error("this request is protected by the device's own certificate: no --station-*, --secret or --ref");
	if (!station)
		return;
	if (st && mac)
		cli_usage_error("protect requests with --station-cert and --station-key, or with --secret and --ref, not both");
	if (st && (!r->station_cert || !r->station_key))
		cli_usage_error("--station-cert and --station-key go together");
	if (mac && (!r->secret || !r->ref))
		cli_usage_error("--secret and --ref go together");
	if (!st && !mac && !own_key)
		cli_usage_error("--server needs --station-cert FILE and --station-key URI, or --secret SOURCE and --ref REF");
}

int remote_open(struct m2m_ctx *ctx, const struct common *c, struct remote *r,
		const struct m2m_key *key, struct m2m_cert *const *certs,
		size_t ncerts)
{
	struct m2m_cmp_opts o;
	struct m2m_key_opts ko;
	char s[URI_SHOWN_MAX];
	enum m2m_err rc;

	rc = m2m_cert_load(ctx, r->trust, NULL, &r->anchors, &r->nanchors);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc == M2M_ERR_NOT_FOUND ? M2M_ERR_IO : rc,
				"cannot read the server's trust anchors '%s'",
				r->trust);
	memset(&o, 0, sizeof(o));
	if (r->station_cert) {
		memset(&ko, 0, sizeof(ko));
		ko.pass_source = r->station_passin;
		ko.pin_source = r->station_passin;
		ko.tcti = c->tcti;
		ko.auth_source = c->auth;
		rc = m2m_key_load(ctx, r->station_key, &ko, &r->skey);
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "cannot load the station key '%s'",
					shown(r->station_key, s));
		rc = m2m_cert_load(ctx, r->station_cert, NULL, &r->scerts,
				   &r->nscerts);
		if (rc != M2M_OK)
			return cli_fail(ctx, rc == M2M_ERR_NOT_FOUND ?
					M2M_ERR_IO : rc,
					"cannot read the station certificate '%s'",
					r->station_cert);
		if (!m2m_cert_matches_key(r->scerts[0], r->skey)) {
			cli_error("the station certificate '%s' is not the key '%s''s",
				  r->station_cert, shown(r->station_key, s));
			return CLI_EXIT_INPUT;
		}
		key = r->skey;
		certs = r->scerts;
		ncerts = r->nscerts;
	}
	o.url = r->server;
	o.timeout = r->timeout;
	o.explicit_confirm = r->explicit_confirm;
	if (r->secret) {
		o.secret_source = r->secret;
		o.ref = r->ref;
	} else {
		o.key = key;
		o.certs = certs;
		o.ncerts = ncerts;
	}
	o.trust = r->anchors;
	o.ntrust = r->nanchors;
	rc = m2m_cmp_client_new(ctx, &o, &r->cl);
	if (rc == M2M_ERR_USAGE)
		cli_usage_error("--server: %s", m2m_ctx_detail(ctx));
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot set up the CMP client");
	return 0;
}

void remote_close(struct remote *r)
{
	m2m_cmp_client_free(r->cl);
	m2m_key_free(r->skey);
	m2m_cert_list_free(r->scerts, r->nscerts);
	m2m_cert_list_free(r->anchors, r->nanchors);
	r->cl = NULL;
	r->skey = NULL;
	r->scerts = r->anchors = NULL;
	r->nscerts = r->nanchors = 0;
}

/* ---- revoke ------------------------------------------------------------------ */

enum { OPT_REASON = 350 };

static const char *const usage_revoke[] = {
	"m2m-enroll revoke --server URL --server-trust FILE --cert URI [--key URI | --station-cert FILE --station-key URI | --secret SOURCE --ref REF] [--reason REASON] [--json]",
	NULL
};

static const struct cli_option revoke_options[] = {
	{ OPT_CERT, "cert", 0, "URI", "the certificate to revoke (a file, token or TPM)" },
	{ OPT_KEY, "key", 0, "URI", "its key: signs the request (default protection)" },
	{ OPT_REASON, "reason", 0, "REASON", "CRLReason: unspecified (default), keyCompromise, superseded, cessationOfOperation, ..." },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_SERVER_ENTRIES,
	OPT_STATION_ENTRIES,
	OPT_END
};

const struct cli_command revoke_cmd = { usage_revoke,
	"Ask the CA server to revoke a certificate (CMP rr), with a request\n"
	"signed by the certificate's own key, or by a station's credential or\n"
	"shared secret.",
	revoke_options };

int cmd_revoke(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct remote r;
	struct m2m_key *key = NULL;
	struct m2m_cert **certs = NULL;
	struct m2m_key_opts ko;
	const char *cert_uri = NULL;
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	size_t n = 0;
	int opt, status, reason = 0;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	cli_parser_init(&p, &revoke_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg) ||
		    remote_opt(&r, opt, p.optarg))
			continue;
		if (opt == OPT_CERT) {
			warn_pin("--cert", p.optarg);
			cert_uri = p.optarg;
		} else if (opt == OPT_REASON) {
			reason = m2m_crl_reason_lookup(p.optarg);
			if (reason < 0 || reason == 8)
				cli_usage_error("unknown reason '%s' (keyCompromise, superseded, cessationOfOperation, ...)",
						p.optarg);
		}
	}
	no_operands(&p);
	if (!r.server || !cert_uri)
		cli_usage_error("revoke needs --server URL and --cert URI");
	remote_check(&r, 1, c.key != NULL);
	if (c.key && (r.station_cert || r.secret))
		cli_usage_error("the request is signed by --key, or protected by the station's credential or --secret: one of them");
	ko = key_opts(&c, 0);
	rc = m2m_cert_load(ctx, cert_uri, &ko, &certs, &n);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot load the certificate '%s'",
				  shown(cert_uri, s));
		goto out;
	}
	if (c.key) {
		status = load_key(ctx, &c, &key);
		if (status)
			goto out;
		if (!m2m_cert_matches_key(certs[0], key)) {
			cli_error("the certificate '%s' is not the key '%s''s",
				  shown(cert_uri, s), shown(c.key, k));
			status = CLI_EXIT_INPUT;
			goto out;
		}
	}
	status = remote_open(ctx, &c, &r, key, certs, n);
	if (status)
		goto out;
	rc = m2m_cmp_client_revoke(ctx, r.cl, certs[0], reason);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot revoke certificate %s",
				  m2m_cert_serial(certs[0]));
		goto out;
	}
	if (c.json) {
		printf("{\"revoked\":true,\"certificate_serial\":\"%s\",\"fingerprint\":\"%s\",\"reason\":\"%s\",\"server\":",
		       m2m_cert_serial(certs[0]), m2m_cert_fingerprint(certs[0]),
		       m2m_crl_reason_name(reason));
		json_str(r.server);
		printf("}\n");
	} else {
		printf("revoked certificate %s (%s) at '%s'\n",
		       m2m_cert_serial(certs[0]), m2m_crl_reason_name(reason),
		       r.server);
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	remote_close(&r);
	m2m_cert_list_free(certs, n);
	m2m_key_free(key);
	return status;
}
