/* SPDX-License-Identifier: Apache-2.0 */
/* m2m-ca serve: answer lightweight CMP (RFC 9483) over HTTP. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/cmp.h>
#include <m2m/key.h>

#include "ca_serve.h"

enum {
	OPT_CA = 1, OPT_PASSIN, OPT_TCTI, OPT_LEDGER, OPT_LISTEN, OPT_WORKERS,
	OPT_MAX_BODY, OPT_TIMEOUT, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_PASSIN,
	OPT_STATIONS, OPT_MAC_SECRET, OPT_ALLOW_KEY_REUSE,
	OPT_NO_IMPLICIT_CONFIRM, OPT_CONFIRM_TIMEOUT
};

#define SECRET_MAX 1024

static const char *const usage_serve[] = {
	"m2m-ca serve [--ca DIR] --listen ADDR:PORT [--workers N] [--stations FILE] [--mac-secret SOURCE] [--tls-cert URI --tls-key URI]",
	NULL
};

static const struct cli_option serve_options[] = {
	{ OPT_CA, "ca", 0, "DIR", "the CA directory (default: $M2M_CA, else .)" },
	{ OPT_LISTEN, "listen", 0, "ADDR:PORT", "where to listen, e.g. 127.0.0.1:8080 or [::1]:8080" },
	{ OPT_WORKERS, "workers", 0, "N", "threads answering requests (default 8)" },
	{ OPT_STATIONS, "stations", 0, "FILE", "station certificates/CAs and CRLs (default DIR/stations.pem if present)" },
	{ OPT_MAC_SECRET, "mac-secret", 0, "SOURCE", "shared secret for MAC-protected bootstrap: pass:, env:, file:, fd:" },
	{ OPT_ALLOW_KEY_REUSE, "allow-key-reuse", 0, NULL, "an LDevID may keep the IDevID's key" },
	{ OPT_NO_IMPLICIT_CONFIRM, "no-implicit-confirm", 0, NULL, "always wait for certConf" },
	{ OPT_CONFIRM_TIMEOUT, "confirm-timeout", 0, "SECONDS", "revoke a certificate not confirmed by then (default 300)" },
	{ OPT_MAX_BODY, "max-body", 0, "BYTES", "largest request (default 65536, at most 262144)" },
	{ OPT_TIMEOUT, "timeout", 0, "SECONDS", "to read a request or write a response (default 30)" },
	{ OPT_TLS_CERT, "tls-cert", 0, "URI", "serve HTTPS with this certificate (and chain)" },
	{ OPT_TLS_KEY, "tls-key", 0, "URI", "its key: file, pkcs11: or tpm2:" },
	{ OPT_TLS_PASSIN, "tls-passin", 0, "SOURCE", "TLS key passphrase or PIN" },
	{ OPT_PASSIN, "passin", 0, "SOURCE", "CA key passphrase, token PIN: pass:, env:, file:, fd:" },
	{ OPT_TCTI, "tcti", 0, "CONFIG", "TPM TCTI of a tpm2: CA key (default: $M2M_TCTI)" },
	{ OPT_LEDGER, "ledger", 0, "LOCATION", "use this ledger instead of the configured one" },
	{ 0, NULL, 0, NULL, NULL }
};

const struct cli_command serve_cmd = { usage_serve,
	"Answer lightweight CMP (RFC 9483) over HTTP POST at /.well-known/cmp\n"
	"and /.well-known/cmp/p/<profile>: ir, cr, p10cr, kur, rr, genm and\n"
	"certConf, issuing through the ledger as 'issue' does, until SIGTERM or\n"
	"SIGINT.  One line per request on stderr.",
	serve_options };

static long number(const char *opt, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < min || v > max)
		cli_usage_error("option '%s' needs a number from %ld to %ld, not '%s'",
				opt, min, max, arg);
	return v;
}

static void warn_pass(const char *opt, const char *source)
{
	if (source && strncmp(source, "pass:", 5) == 0)
		cli_warn("%s pass:... shows the secret to other users; prefer env:, file: or fd:",
			 opt);
}

/*
 * Every worker reads the key's secret again: a descriptor can be read
 * once, so its secret is read here and handed on in memory.
 */
static int once(struct m2m_ctx *ctx, const char *opt, const char **source,
		char *buf, size_t size)
{
	enum m2m_err rc;

	if (!*source || strncmp(*source, "fd:", 3) != 0)
		return 0;
	memcpy(buf, "pass:", 5);
	rc = m2m_secret_read(ctx, *source, buf + 5, size - 5, NULL);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot read %s", opt);
	*source = buf;
	return 0;
}

static void log_stderr(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s: %s\n", cli_progname(), line);
}

int cmd_serve(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct m2m_cmp_serve_params sp;
	struct cli_parser p;
	const char *passin = NULL, *tls_passin = NULL, *env = getenv("M2M_CA");
	char pass[SECRET_MAX], tls_pass[SECRET_MAX], stations[PATH_MAX];
	int opt, status;
	enum m2m_err rc;

	memset(&sp, 0, sizeof(sp));
	sp.ca_dir = env && *env ? env : ".";
	sp.workers = 8;
	sp.max_body = 65536;
	sp.timeout = 30;
	cli_parser_init(&p, &serve_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		switch (opt) {
		case OPT_CA: sp.ca_dir = p.optarg; break;
		case OPT_PASSIN:
			warn_pass("--passin", p.optarg);
			passin = p.optarg;
			break;
		case OPT_TCTI: sp.key_opts.tcti = p.optarg; break;
		case OPT_LEDGER: sp.ledger = p.optarg; break;
		case OPT_LISTEN: sp.listen = p.optarg; break;
		case OPT_WORKERS:
			sp.workers = (unsigned)number("--workers", p.optarg, 1,
						      M2M_CMP_WORKERS_MAX);
			break;
		case OPT_MAX_BODY:
			sp.max_body = (size_t)number("--max-body", p.optarg, 1,
						     M2M_CMP_MSG_MAX);
			break;
		case OPT_TIMEOUT:
			sp.timeout = (unsigned)number("--timeout", p.optarg, 1,
						      3600);
			break;
		case OPT_TLS_CERT: sp.tls_cert = p.optarg; break;
		case OPT_TLS_KEY: sp.tls_key = p.optarg; break;
		case OPT_TLS_PASSIN:
			warn_pass("--tls-passin", p.optarg);
			tls_passin = p.optarg;
			break;
		case OPT_STATIONS: sp.cmp.stations = p.optarg; break;
		case OPT_MAC_SECRET:
			warn_pass("--mac-secret", p.optarg);
			sp.cmp.mac_source = p.optarg;
			break;
		case OPT_ALLOW_KEY_REUSE: sp.cmp.allow_key_reuse = 1; break;
		case OPT_NO_IMPLICIT_CONFIRM: sp.cmp.no_implicit_confirm = 1; break;
		case OPT_CONFIRM_TIMEOUT:
			sp.cmp.confirm_secs = (unsigned)number("--confirm-timeout",
							       p.optarg, 1, 86400);
			break;
		}
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	if (!sp.listen)
		cli_usage_error("serve needs --listen ADDR:PORT");
	if (!sp.tls_cert != !sp.tls_key)
		cli_usage_error("--tls-cert and --tls-key go together");
	if (tls_passin && !sp.tls_key)
		cli_usage_error("--tls-passin goes with --tls-key");
	if (!sp.cmp.stations) {
		snprintf(stations, sizeof(stations), "%s/stations.pem",
			 sp.ca_dir);
		if (access(stations, F_OK) == 0)
			sp.cmp.stations = stations;
	}
	status = once(ctx, "--passin", &passin, pass, sizeof(pass));
	if (!status)
		status = once(ctx, "--tls-passin", &tls_passin, tls_pass,
			      sizeof(tls_pass));
	if (status)
		goto out;
	sp.key_opts.pass_source = passin;
	sp.key_opts.pin_source = passin;
	sp.tls_key_opts.pass_source = tls_passin;
	sp.tls_key_opts.pin_source = tls_passin;
	sp.tls_key_opts.tcti = sp.key_opts.tcti;
	sp.log = log_stderr;
	rc = m2m_cmp_serve(ctx, &sp);
	status = rc == M2M_OK ? CLI_EXIT_OK : cli_fail(ctx, rc, "cannot serve");
out:
	m2m_secret_wipe(pass, sizeof(pass));
	m2m_secret_wipe(tls_pass, sizeof(tls_pass));
	return status;
}
