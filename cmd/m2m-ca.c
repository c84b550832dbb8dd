/* SPDX-License-Identifier: Apache-2.0 */
/* m2m-ca: certificate authorities for device identities (IEEE 802.1AR). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/csrq.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/hex.h>
#include <m2m/ldevid.h>
#include <m2m/ledger.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>
#include <m2m/profile.h>

#include "ca_serve.h"
#include "cli.h"

enum {
	OPT_CA = 1, OPT_PASSIN, OPT_LEDGER, OPT_JSON, OPT_PARENT,
	OPT_PARENT_PASSIN, OPT_SUBJECT, OPT_ALGORITHM, OPT_DAYS, OPT_PATH_LEN,
	OPT_KEY, OPT_HW_TYPE, OPT_DEVICE_SUBJECT, OPT_PROFILE, OPT_CSR,
	OPT_PPID, OPT_SERIAL, OPT_OUT, OPT_CHAIN, OPT_DER, OPT_REPLACE,
	OPT_GENERATE_KEY, OPT_PKCS12, OPT_PASSOUT, OPT_BATCH, OPT_OUT_DIR,
	OPT_GROUP, OPT_REASON, OPT_REQUEST, OPT_STATUS, OPT_PEM, OPT_VERIFY,
	OPT_TCTI, OPT_AUTH, OPT_ALLOW_KEY_REUSE, OPT_FROM, OPT_TO, OPT_TECH = 100
};

#define CERT_FILE_MAX (64 * 1024)

/* Options most subcommands share. */
#define OPT_CA_ENTRY { OPT_CA, "ca", 0, "DIR", "the CA directory (default: $M2M_CA, else .)" }
#define OPT_PASSIN_ENTRY { OPT_PASSIN, "passin", 0, "SOURCE", "CA key passphrase, token PIN: pass:, env:, file:, fd:" }
#define OPT_TCTI_ENTRY { OPT_TCTI, "tcti", 0, "CONFIG", "TPM TCTI of a tpm2: CA key (default: $M2M_TCTI)" }
#define OPT_LEDGER_ENTRY { OPT_LEDGER, "ledger", 0, "LOCATION", "use this ledger instead of the configured one" }
#define OPT_JSON_ENTRY(what) { OPT_JSON, "json", 0, NULL, what }
#define OPT_END { 0, NULL, 0, NULL, NULL }

static const char *const usage_init[] = {
	"m2m-ca init DIR [--parent DIR] [--subject DN] [--algorithm ALG] [--days N] [--key URI] [--json]",
	NULL
};
static const char *const usage_issue[] = {
	"m2m-ca issue [--ca DIR] [--profile NAME] --csr FILE [--ppid HEX | --TECHNOLOGY ADDRESS ...] [--serial SN] [--out FILE] [--chain] [--json]",
	"m2m-ca issue [--ca DIR] [--profile NAME] --generate-key FILE [--pkcs12 --passout SOURCE] ...",
	"m2m-ca issue [--ca DIR] [--profile NAME] --batch MANIFEST [--out-dir DIR] [--json]",
	"m2m-ca issue [--ca DIR] [--profile NAME] --request FILE [--allow-key-reuse] [--out FILE] [--chain] [--json]",
	NULL
};
static const char *const usage_revoke[] = {
	"m2m-ca revoke [--ca DIR] SERIAL [--reason REASON] [--json]", NULL
};
static const char *const usage_crl[] = {
	"m2m-ca crl [--ca DIR] [--out FILE] [--der] [--json]", NULL
};
static const char *const usage_ocsp[] = {
	"m2m-ca ocsp [--ca DIR] --request FILE [--out FILE]", NULL
};
static const char *const usage_list[] = {
	"m2m-ca list [--ca DIR] [--status STATUS] [--profile NAME] [--ppid HEX] [--json]",
	NULL
};
static const char *const usage_show[] = {
	"m2m-ca show [--ca DIR] SERIAL [--pem] [--json]", NULL
};
static const char *const usage_export[] = {
	"m2m-ca export [--ca DIR] [--status STATUS] [--out FILE]", NULL
};
static const char *const usage_profile[] = {
	"m2m-ca profile show [--ca DIR] [NAME] [--json]",
	"m2m-ca profile set [--ca DIR] NAME KEY=VALUE ...",
	NULL
};
static const char *const usage_audit[] = {
	"m2m-ca audit [--ca DIR] [--verify] [--json]", NULL
};
static const char *const usage_ledger[] = {
	"m2m-ca ledger init --ledger LOCATION [--json]",
	"m2m-ca ledger migrate [--ca DIR] [--ledger LOCATION] [--json]",
	"m2m-ca ledger copy --from LOCATION --to LOCATION [--json]",
	NULL
};

static const struct cli_option init_options[] = {
	{ OPT_PARENT, "parent", 0, "DIR", "make an issuing CA signed by the CA in DIR" },
	{ OPT_PARENT_PASSIN, "parent-passin", 0, "SOURCE", "passphrase of the parent's key" },
	{ OPT_SUBJECT, "subject", 0, "DN", "subject, e.g. 'C=DE,O=Example,CN=Root CA'" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "ec-p256 (default), ec-p384, rsa2048, rsa3072, ed25519" },
	{ OPT_DAYS, "days", 0, "N", "validity (default 7300 for a root, 3650 otherwise)" },
	{ OPT_PATH_LEN, "path-len", 0, "N", "pathLenConstraint (issuing CA default 0)" },
	{ OPT_KEY, "key", 0, "URI", "the CA key: made there if absent (default DIR/ca.key)" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	{ OPT_AUTH, "auth", 0, "SOURCE", "TPM owner hierarchy authorisation, to make a tpm2: key" },
	{ OPT_HW_TYPE, "hw-type", 0, "OID", "device model OID of the idevid profile" },
	{ OPT_DEVICE_SUBJECT, "device-subject", 0, "DN", "subject template of the idevid profile" },
	{ OPT_LEDGER, "ledger", 0, "LOCATION", "keep the ledger there (default DIR/ledger.db)" },
	OPT_JSON_ENTRY("print the new CA as JSON"),
	OPT_END
};

static const struct cli_option issue_options[] = {
	OPT_CA_ENTRY,
	{ OPT_PROFILE, "profile", 0, "NAME", "certificate profile (default idevid)" },
	{ OPT_CSR, "csr", 0, "FILE", "PKCS#10 request, PEM or DER (- reads stdin)" },
	{ OPT_GENERATE_KEY, "generate-key", 0, "FILE", "make the device key here (0600)" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "of a generated key (default ec-p256)" },
	{ OPT_PKCS12, "pkcs12", 0, NULL, "write key, certificate and chain as PKCS#12" },
	{ OPT_PASSOUT, "passout", 0, "SOURCE", "passphrase for the generated key or PKCS#12" },
	{ OPT_BATCH, "batch", 0, "MANIFEST", "issue one certificate per manifest row" },
	{ OPT_REQUEST, "request", 0, "FILE", "LDevID request signed by an IDevID or LDevID (- reads stdin)" },
	{ OPT_ALLOW_KEY_REUSE, "allow-key-reuse", 0, NULL, "request: the LDevID may keep the IDevID's key" },
	{ OPT_OUT_DIR, "out-dir", 0, "DIR", "batch: where certificates go (default .)" },
	{ OPT_PPID, "ppid", 0, "HEX", "the device's PPID (or give its addresses)" },
	{ OPT_SERIAL, "serial", 0, "SN", "device serial number (subject serialNumber)" },
	{ OPT_OUT, "out", 0, "FILE", "write the certificate here (default stdout)" },
	{ OPT_CHAIN, "chain", 0, NULL, "append the CA chain (PEM)" },
	{ OPT_DER, "der", 0, NULL, "write DER instead of PEM" },
	{ OPT_REPLACE, "replace", 0, NULL, "supersede the device's valid certificate" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON (one line per row)"),
	{ 0, NULL, 0, NULL, "Device addresses (instead of --ppid):" },
	CLI_TECH_OPTIONS(OPT_TECH),
	OPT_END
};

static const struct cli_option revoke_options[] = {
	OPT_CA_ENTRY,
	{ OPT_REASON, "reason", 0, "REASON", "RFC 5280 reason (default unspecified)" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_END
};

static const struct cli_option crl_options[] = {
	OPT_CA_ENTRY,
	{ OPT_OUT, "out", 0, "FILE", "write the CRL here (default stdout)" },
	{ OPT_DER, "der", 0, NULL, "write DER instead of PEM" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("print the CRL number and size as JSON (needs --out)"),
	OPT_END
};

static const struct cli_option ocsp_options[] = {
	OPT_CA_ENTRY,
	{ OPT_REQUEST, "request", 0, "FILE", "DER OCSP request (- reads stdin)" },
	{ OPT_OUT, "out", 0, "FILE", "write the DER response here (default stdout)" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_LEDGER_ENTRY,
	OPT_END
};

static const struct cli_option list_options[] = {
	OPT_CA_ENTRY,
	{ OPT_STATUS, "status", 0, "STATUS", "valid, revoked or expired" },
	{ OPT_PROFILE, "profile", 0, "NAME", "only this profile" },
	{ OPT_PPID, "ppid", 0, "HEX", "only this PPID" },
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("one JSON object per line"),
	OPT_END
};

static const struct cli_option show_options[] = {
	OPT_CA_ENTRY,
	{ OPT_PEM, "pem", 0, NULL, "print the certificate itself" },
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("print the record as JSON"),
	OPT_END
};

static const struct cli_option export_options[] = {
	OPT_CA_ENTRY,
	{ OPT_STATUS, "status", 0, "STATUS", "valid, revoked or expired" },
	{ OPT_OUT, "out", 0, "FILE", "write the PEM bundle here (default stdout)" },
	OPT_LEDGER_ENTRY,
	OPT_END
};

static const struct cli_option profile_options[] = {
	OPT_CA_ENTRY,
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("show: print the profiles as JSON"),
	OPT_END
};

static const struct cli_option audit_options[] = {
	OPT_CA_ENTRY,
	{ OPT_VERIFY, "verify", 0, NULL, "check the hash chain; exit 1 if broken" },
	OPT_LEDGER_ENTRY,
	OPT_JSON_ENTRY("one JSON object per entry"),
	OPT_END
};

static const struct cli_option ledger_options[] = {
	OPT_CA_ENTRY,
	{ OPT_LEDGER, "ledger", 0, "LOCATION", "init: where; migrate: instead of the CA's" },
	{ OPT_FROM, "from", 0, "LOCATION", "copy: the ledger to copy (read only)" },
	{ OPT_TO, "to", 0, "LOCATION", "copy: the new ledger (absent or empty)" },
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_END
};

static const struct cli_command init_cmd = { usage_init,
	"Create a root CA in DIR, or an issuing CA signed by the one in --parent.",
	init_options };
static const struct cli_command issue_cmd = { usage_issue,
	"Issue a DevID certificate for a request, a key made here, every row of\n"
	"a factory manifest, or an LDevID request that a device's IDevID (or its\n"
	"current LDevID, to renew) signed.  Nothing is handed out before it is in\n"
	"the ledger.",
	issue_options };
static const struct cli_command revoke_cmd = { usage_revoke,
	"Revoke a certificate.", revoke_options };
static const struct cli_command crl_cmd = { usage_crl,
	"Make and record the next CRL.", crl_options };
static const struct cli_command ocsp_cmd = { usage_ocsp,
	"Answer an OCSP request with a response signed by the CA.",
	ocsp_options };
static const struct cli_command list_cmd = { usage_list,
	"List the certificates in the ledger.", list_options };
static const struct cli_command show_cmd = { usage_show,
	"Show one certificate's record.", show_options };
static const struct cli_command export_cmd = { usage_export,
	"Write every certificate in the ledger as one PEM bundle.",
	export_options };
static const struct cli_command profile_cmd = { usage_profile,
	"Show or change the CA's certificate profiles.", profile_options };
static const struct cli_command audit_cmd = { usage_audit,
	"Print or verify the audit log.", audit_options };
static const struct cli_command ledger_cmd = { usage_ledger,
	"Make an empty ledger (SQLite file or PostgreSQL database), bring a\n"
	"ledger's schema up to date, or copy a ledger into a new one, verifying\n"
	"the audit chain on both sides.",
	ledger_options };

/* ---- shared ---------------------------------------------------------------- */

struct common {
	const char *ca_dir;
	const char *passin;
	const char *tcti;
	const char *ledger;
	int json;
};

static void common_init(struct common *c)
{
	const char *env = getenv("M2M_CA");

	memset(c, 0, sizeof(*c));
	c->ca_dir = env && *env ? env : ".";
}

/* A passphrase on the command line is visible to every user: say so. */
static void warn_pass(const char *opt, const char *source)
{
	if (strncmp(source, "pass:", 5) == 0)
		cli_warn("%s pass:... shows the passphrase to other users; prefer env:, file: or fd:",
			 opt);
}

/* Take a shared option; nonzero if it was one. */
static int common_opt(struct common *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CA:
		c->ca_dir = arg;
		return 1;
	case OPT_PASSIN:
		warn_pass("--passin", arg);
		c->passin = arg;
		return 1;
	case OPT_TCTI:
		c->tcti = arg;
		return 1;
	case OPT_LEDGER:
		c->ledger = arg;
		return 1;
	case OPT_JSON:
		c->json = 1;
		return 1;
	}
	return 0;
}

/*
 * How to reach the CA key: --passin is a file key's passphrase and a
 * token's PIN (when its URI names none); --tcti reaches a TPM.
 */
static struct m2m_key_opts ca_key_opts(const struct common *c)
{
	struct m2m_key_opts o;

	memset(&o, 0, sizeof(o));
	o.pass_source = c->passin;
	o.pin_source = c->passin;
	o.tcti = c->tcti;
	return o;
}

static int open_ca(struct m2m_ctx *ctx, const struct common *c, unsigned flags,
		   struct m2m_ca **ca)
{
	struct m2m_key_opts kopts = ca_key_opts(c);
	enum m2m_err rc = m2m_ca_open(ctx, c->ca_dir, flags, &kopts,
				      c->ledger, ca);

	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot open the CA");
	return 0;
}

/* Read a whole input: a path or "-" for stdin. */
static int read_input(struct m2m_ctx *ctx, const char *path, size_t max,
		      unsigned char **buf, size_t *len)
{
	enum m2m_err rc;

	if (strcmp(path, "-") == 0)
		rc = m2m_fd_read(ctx, STDIN_FILENO, "<stdin>", max, buf, len);
	else
		rc = m2m_file_read(ctx, path, max, buf, len);
	if (rc != M2M_OK) {
		if (rc == M2M_ERR_NOT_FOUND)
			rc = M2M_ERR_IO;
		return cli_fail(ctx, rc, "cannot read the input");
	}
	return 0;
}

/* Write data to path (atomically) or to stdout when path is NULL or "-". */
static int write_output(struct m2m_ctx *ctx, const char *path,
			const void *data, size_t len, unsigned mode)
{
	enum m2m_err rc;

	if (!path || strcmp(path, "-") == 0) {
		fwrite(data, 1, len, stdout);
		return 0;
	}
	rc = m2m_file_write(ctx, path, data, len, mode, 0);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot write the output");
	return 0;
}

static void json_str(const char *s)
{
	cli_json_string(stdout, s ? s : "", s ? strlen(s) : 0);
}

/* ---- init ----------------------------------------------------------------- */

static int parse_number(const char *opt, const char *arg, long min, long max,
			long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < min || v > max)
		cli_usage_error("option '%s' needs a number from %ld to %ld, not '%s'",
				opt, min, max, arg);
	*out = v;
	return 0;
}

static int cmd_init(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct m2m_ca_params pr;
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	const char *parent_passin = NULL, *auth = NULL;
	char subject[1024];
	long n;
	int opt, alg, status;
	enum m2m_err rc;

	common_init(&c);
	memset(&pr, 0, sizeof(pr));
	pr.path_len = -1;
	pr.alg = M2M_KEY_EC_P256;
	cli_parser_init(&p, &init_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		switch (opt) {
		case OPT_PARENT: pr.parent_dir = p.optarg; break;
		case OPT_PARENT_PASSIN:
			warn_pass("--parent-passin", p.optarg);
			parent_passin = p.optarg;
			break;
		case OPT_AUTH:
			warn_pass("--auth", p.optarg);
			auth = p.optarg;
			break;
		case OPT_SUBJECT: pr.subject = p.optarg; break;
		case OPT_ALGORITHM:
			alg = m2m_key_alg_lookup(p.optarg);
			if (alg < 0)
				cli_usage_error("unknown algorithm '%s' (ec-p256, ec-p384, rsa2048, rsa3072, ed25519)",
						p.optarg);
			pr.alg = alg;
			break;
		case OPT_DAYS:
			parse_number("--days", p.optarg, 1, 36500, &n);
			pr.days = n;
			break;
		case OPT_PATH_LEN:
			parse_number("--path-len", p.optarg, 0, 16, &n);
			pr.path_len = (int)n;
			break;
		case OPT_KEY: pr.key_uri = p.optarg; break;
		case OPT_HW_TYPE: pr.hw_type = p.optarg; break;
		case OPT_DEVICE_SUBJECT: pr.device_subject = p.optarg; break;
		}
	}
	if (p.noperands != 1)
		cli_usage_error(p.noperands ? "init takes one directory" :
				"init needs the directory of the new CA");
	pr.dir = p.operands[0];
	pr.key_opts = ca_key_opts(&c);
	pr.key_opts.auth_source = auth;
	pr.parent_key_opts = ca_key_opts(&c);
	pr.parent_key_opts.pass_source = parent_passin;
	pr.parent_key_opts.pin_source = parent_passin;
	pr.ledger = c.ledger;
	if (!pr.subject) {
		snprintf(subject, sizeof(subject), "CN=%s %s",
			 pr.parent_dir ? "m2m issuing CA" : "m2m root CA",
			 strrchr(pr.dir, '/') ? strrchr(pr.dir, '/') + 1 : pr.dir);
		pr.subject = subject;
	}
	cli_parser_release(&p);
	rc = m2m_ca_create(ctx, &pr, &ca);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot create the CA '%s'", pr.dir);
	m2m_cert_subject(m2m_ca_cert(ca), subject, sizeof(subject));
	if (c.json) {
		printf("{\"dir\":");
		json_str(pr.dir);
		printf(",\"subject\":");
		json_str(subject);
		printf(",\"serial\":\"%s\",\"fingerprint\":\"%s\",\"root\":%s}\n",
		       m2m_cert_serial(m2m_ca_cert(ca)),
		       m2m_cert_fingerprint(m2m_ca_cert(ca)),
		       pr.parent_dir ? "false" : "true");
	} else {
		printf("%s CA '%s' created in %s\n",
		       pr.parent_dir ? "issuing" : "root", subject, pr.dir);
	}
	m2m_ca_close(ca);
	status = cli_finish_stdout(CLI_EXIT_OK);
	return status;
}

/* ---- issue ------------------------------------------------------------------ */

struct issue_opts {
	struct common c;
	const char *profile;
	const char *csr;
	const char *generate_key;
	int alg;
	int pkcs12;
	const char *passout;
	const char *batch;
	const char *out_dir;
	const char *ppid_hex;
	const char *addr[M2M_TECH_COUNT];
	int naddr;
	const char *serial;
	const char *out;
	int chain;
	int der;
	int replace;
	const char *request;
	int allow_key_reuse;
};

/* The certificate (PEM or DER, with the chain if asked) as bytes. */
static int cert_output(struct m2m_ctx *ctx, struct m2m_ca *ca,
		       const struct m2m_cert *cert, int der, int chain,
		       char **out, size_t *len)
{
	enum m2m_err rc;
	const char *cp = m2m_ca_chain_pem(ca);
	char *pem = NULL, *all;
	size_t n = 0, cl = strlen(cp);

	rc = m2m_cert_encode(ctx, cert, der ? M2M_FORMAT_DER : M2M_FORMAT_PEM,
			     &pem, &n);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot encode the certificate");
	if (!chain || der) {
		*out = pem;
		*len = n;
		return 0;
	}
	all = malloc(n + cl + 1);
	if (!all) {
		free(pem);
		cli_error("out of memory");
		return CLI_EXIT_SYSTEM;
	}
	memcpy(all, pem, n);
	memcpy(all + n, cp, cl + 1);
	free(pem);
	*out = all;
	*len = n + cl;
	return 0;
}

static void print_issued_json(const struct m2m_cert *cert, const char *out,
			      const char *pem, size_t pemlen,
			      const struct m2m_issue_result *res)
{
	char subject[1024], nb[CLI_TIME_MAX], na[CLI_TIME_MAX];
	int64_t b, a;

	m2m_cert_subject(cert, subject, sizeof(subject));
	m2m_cert_validity(cert, &b, &a);
	printf("{\"certificate_serial\":\"%s\",\"fingerprint\":\"%s\",\"subject\":",
	       m2m_cert_serial(cert), m2m_cert_fingerprint(cert));
	json_str(subject);
	printf(",\"not_before\":\"%s\",\"not_after\":\"%s\"",
	       cli_iso_time(b, nb), cli_iso_time(a, na));
	if (res->replaced[0])
		printf(",\"replaced\":\"%s\"", res->replaced);
	if (out) {
		printf(",\"out\":");
		json_str(out);
	} else {
		printf(",\"certificate\":");
		cli_json_string(stdout, pem, pemlen);
	}
	printf("}\n");
}

/* The PPID from --ppid or the technology options. */
static int request_ppid(struct m2m_ctx *ctx, const struct issue_opts *o,
			struct m2m_ppid *ppid)
{
	enum m2m_err rc;
	int t;

	m2m_ppid_init(ppid);
	if (o->ppid_hex) {
		rc = m2m_ppid_decode_hex(ctx, ppid, o->ppid_hex,
					 strlen(o->ppid_hex));
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "invalid --ppid");
		return 0;
	}
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		if (!o->addr[t])
			continue;
		rc = m2m_ppid_set_text(ctx, ppid, t, o->addr[t],
				       strlen(o->addr[t]));
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "invalid --%s address",
					m2m_tech_name(t));
	}
	return 0;
}

/* The issued certificate to --out or stdout, as PEM, DER or JSON. */
static int issued_output(struct m2m_ctx *ctx, const struct issue_opts *o,
			 struct m2m_ca *ca, const struct m2m_issue_result *res)
{
	char *out = NULL;
	size_t outlen = 0;
	int status;

	status = cert_output(ctx, ca, res->cert, o->der, o->chain, &out,
			     &outlen);
	if (status)
		goto out;
	if (o->c.json && !o->out) {
		/* JSON on stdout: the certificate (PEM) goes in it. */
		free(out);
		out = NULL;
		status = cert_output(ctx, ca, res->cert, 0, o->chain, &out,
				     &outlen);
		if (status)
			goto out;
		print_issued_json(res->cert, NULL, out, outlen, res);
	} else {
		status = write_output(ctx, o->out, out, outlen, 0644);
		if (status)
			goto out;
		if (o->c.json)
			print_issued_json(res->cert, o->out, NULL, 0, res);
	}
	if (res->replaced[0])
		cli_warn("revoked %s (superseded)", res->replaced);
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(out);
	return status;
}

static int issue_one(struct m2m_ctx *ctx, const struct issue_opts *o)
{
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_ppid ppid;
	struct m2m_ca *ca = NULL;
	struct m2m_csr *csr = NULL;
	struct m2m_key *key = NULL;
	struct m2m_key_opts kopts = { .pass_source = o->passout };
	unsigned char *buf = NULL, *p12 = NULL;
	size_t len = 0, p12len = 0;
	int status, keyfile = 0;
	enum m2m_err rc;

	memset(&res, 0, sizeof(res));
	status = request_ppid(ctx, o, &ppid);
	if (status)
		goto out;
	if (o->csr) {
		status = read_input(ctx, o->csr, CERT_FILE_MAX, &buf, &len);
		if (status)
			goto out;
		rc = m2m_csr_parse(ctx, buf, len, &csr);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "invalid request '%s'",
					  o->csr);
			goto out;
		}
	}
	if (o->pkcs12) {
		/* Read (then forget) the passphrase now, not after issuing. */
		char pass[1024];

		rc = m2m_secret_read(ctx, o->passout, pass, sizeof(pass), NULL);
		m2m_secret_wipe(pass, sizeof(pass));
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot read --passout");
			goto out;
		}
	}
	if (o->pkcs12 && access(o->generate_key, F_OK) == 0) {
		/* Checked again when written; this spares an issuance. */
		cli_error("cannot create '%s': %s", o->generate_key,
			  strerror(EEXIST));
		status = CLI_EXIT_INPUT;
		goto out;
	}
	status = open_ca(ctx, &o->c, M2M_CA_NEED_KEY, &ca);
	if (status)
		goto out;
	if (o->generate_key) {
		rc = o->pkcs12 ? m2m_key_new_ephemeral(ctx, o->alg, &key) :
		     m2m_key_generate(ctx, o->generate_key, o->alg, &kopts,
				      &key);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot make the device key");
			goto out;
		}
		keyfile = !o->pkcs12;
	}
	memset(&req, 0, sizeof(req));
	req.profile = o->profile;
	req.csr = csr;
	req.key = key;
	req.ppid = &ppid;
	req.device_serial = o->serial;
	req.replace = o->replace;
	rc = m2m_ca_issue(ctx, ca, &req, &res);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot issue");
		goto out;
	}
	keyfile = 0;	/* issued: the key file stays */
	if (o->pkcs12) {
		rc = m2m_pkcs12_make(ctx, key, res.cert, m2m_ca_chain_pem(ca),
				     o->passout, &p12, &p12len);
		if (rc == M2M_OK)
			rc = m2m_file_write(ctx, o->generate_key, p12, p12len,
					    0600, M2M_WRITE_EXCL);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc,
					  "issued %s, but cannot write '%s'",
					  m2m_cert_serial(res.cert),
					  o->generate_key);
			goto out;
		}
	}
	status = issued_output(ctx, o, ca, &res);
out:
	if (keyfile && o->generate_key)
		unlink(o->generate_key);	/* no key without its certificate */
	free(p12);
	free(buf);
	m2m_cert_free(res.cert);
	m2m_key_free(key);
	m2m_csr_free(csr);
	m2m_ca_close(ca);
	return status;
}

/* An LDevID request: authenticated by the device, judged by the library. */
static int issue_request(struct m2m_ctx *ctx, const struct issue_opts *o)
{
	struct m2m_ldevid_policy pol;
	struct m2m_issue_result res;
	struct m2m_ldevid_request *req = NULL;
	struct m2m_ca *ca = NULL;
	unsigned char *buf = NULL;
	const char *name = strcmp(o->request, "-") ? o->request : "<stdin>";
	size_t len = 0;
	int status;
	enum m2m_err rc;

	memset(&res, 0, sizeof(res));
	status = read_input(ctx, o->request, M2M_LDEVID_REQUEST_MAX, &buf,
			    &len);
	if (status)
		goto out;
	rc = m2m_ldevid_request_parse(ctx, buf, len, &req);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "invalid LDevID request '%s'", name);
		goto out;
	}
	status = open_ca(ctx, &o->c, M2M_CA_NEED_KEY, &ca);
	if (status)
		goto out;
	memset(&pol, 0, sizeof(pol));
	pol.profile = o->profile;
	pol.flags = o->allow_key_reuse ? M2M_LDEVID_ALLOW_KEY_REUSE : 0;
	pol.replace = o->replace;
	rc = m2m_ldevid_accept(ctx, ca, req, &pol, &res);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot issue for '%s'", name);
		goto out;
	}
	status = issued_output(ctx, o, ca, &res);
out:
	free(buf);
	m2m_cert_free(res.cert);
	m2m_ldevid_request_free(req);
	m2m_ca_close(ca);
	return status;
}

/* ---- issue --batch ------------------------------------------------------------- */

#define GROUP_MAX 256
#define AHEAD_MAX 64	/* rows read ahead of the one being issued */

/* One row's result, held until its group is committed, then reported. */
struct pending {
	uint64_t line;
	char serial[M2M_SERIAL_MAX + 1];
	char ppid[M2M_PPID_HEX_MAX];
	char path[4096];
	struct m2m_cert *cert;		/* NULL: the row failed */
	char error[1280];
	int existing;
	char replaced[M2M_CERT_SERIAL_HEX];
};

/*
 * A row read ahead, its request (if it names one) already in the queue:
 * while a certificate is signed and recorded, the next requests are read
 * and verified on the queue's thread.
 */
struct row_ahead {
	enum m2m_err rc;		/* of reading the line */
	uint64_t lineno;
	size_t len;
	int queued;			/* its request is in the queue */
	char detail[1024];		/* rc != M2M_OK: why */
	char line[M2M_LINE_MAX];
};

struct batch {
	struct m2m_ctx *ctx;
	const struct issue_opts *o;
	struct m2m_ca *ca;
	const char *name;
	struct m2m_lines *lines;
	struct m2m_seen *seen_ppid, *seen_serial, *seen_out;
	struct m2m_manifest m;
	struct m2m_csv_row row;
	int csr_col, key_col, out_col, profile_col;
	int json;			/* JSON lines, not CSV */
	const char *names[M2M_CSV_FIELDS_MAX];	/* JSON: the columns */
	size_t nnames;
	char *first;			/* JSON: the first line is a row */
	size_t first_len;
	uint64_t first_lineno;
	struct pending group[GROUP_MAX];
	size_t ngroup;
	char writable[4096];		/* an output of this group whose
					   directory was found writable */
	struct m2m_csrq *csrq;		/* NULL: requests are read in turn */
	struct m2m_csv_row ahead_row;	/* the read-ahead's own */
	struct row_ahead ahead[AHEAD_MAX];
	size_t ahead_head, nahead;
	int ahead_end;			/* nothing more to read */
	uint64_t rows, issued, existing, failed;
	struct cli_progress pr;
};

static int col_of(const struct m2m_csv_row *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->field[i], name) == 0)
			return (int)i;
	return -1;
}

/* Report a failed row now (to keep rows in order, see row_failed). */
static void report_error(struct batch *b, uint64_t line, const char *serial,
			 const char *ppid, const char *msg)
{
	b->failed++;
	cli_error("%s:%llu: %s", b->name, (unsigned long long)line, msg);
	if (b->o->c.json) {
		printf("{\"line\":%llu,\"serial\":", (unsigned long long)line);
		json_str(serial);
		printf(",\"ppid\":");
		json_str(ppid);
		printf(",\"status\":\"error\",\"error\":");
		json_str(msg);
		printf("}\n");
	}
}

/* Nonzero if the directory path would go in is there and writable. */
static int dir_writable(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return access(".", W_OK | X_OK) == 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + (slash == path)),
		 path);
	return access(dir, W_OK | X_OK) == 0;
}

/* A failed row: reported with its group, in the order of the rows. */
static void row_error(struct batch *b, uint64_t line, const char *serial,
		      const char *ppid, const char *msg)
{
	struct pending *pe = &b->group[b->ngroup++];

	memset(pe, 0, sizeof(*pe));
	pe->line = line;
	snprintf(pe->serial, sizeof(pe->serial), "%s", serial);
	snprintf(pe->ppid, sizeof(pe->ppid), "%s", ppid);
	snprintf(pe->error, sizeof(pe->error), "%s", msg);
}

static void sanitize(const char *in, char *out, size_t size)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < size; i++) {
		char c = in[i];

		out[i] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-') ?
			 c : '_';
	}
	out[i] = '\0';
}

/*
 * After the group's commit: write each certificate (without an fsync of
 * its own), make them all durable with one sync of their file systems,
 * and only then report the rows, in manifest order.
 */
static int group_release(struct batch *b)
{
	const char *synced = NULL;
	size_t i;
	int status = 0;

	for (i = 0; i < b->ngroup; i++) {
		struct pending *pe = &b->group[i];
		char *out = NULL;
		size_t len = 0;
		enum m2m_err rc;

		if (!pe->cert)
			continue;
		if (cert_output(b->ctx, b->ca, pe->cert, b->o->der, b->o->chain,
				&out, &len) != 0) {
			status = CLI_EXIT_SYSTEM;
			break;
		}
		rc = m2m_file_write(b->ctx, pe->path, out, len, 0644,
				    M2M_WRITE_NOSYNC);
		free(out);
		if (rc != M2M_OK) {
			snprintf(pe->error, sizeof(pe->error), "%s",
				 m2m_ctx_detail(b->ctx));
			m2m_cert_free(pe->cert);
			pe->cert = NULL;
		}
	}
	for (i = 0; status == 0 && i < b->ngroup; i++) {
		struct pending *pe = &b->group[i];
		enum m2m_err rc;

		/* One sync per file system; most batches have one. */
		if (!pe->cert || (synced && m2m_same_dir(synced, pe->path)))
			continue;
		rc = m2m_sync_path(b->ctx, pe->path);
		if (rc != M2M_OK) {
			status = cli_fail(b->ctx, rc, "cannot make the outputs durable");
			break;
		}
		synced = pe->path;
	}
	for (i = 0; i < b->ngroup; i++) {
		struct pending *pe = &b->group[i];

		if (status) {
			report_error(b, pe->line, pe->serial, pe->ppid,
				     pe->cert ? "not reported: the batch stopped" :
				     pe->error);
			continue;
		}
		if (!pe->cert) {
			report_error(b, pe->line, pe->serial, pe->ppid,
				     pe->error);
			continue;
		}
		if (pe->existing)
			b->existing++;
		else
			b->issued++;
		if (b->o->c.json) {
			printf("{\"line\":%llu,\"serial\":",
			       (unsigned long long)pe->line);
			json_str(pe->serial);
			printf(",\"ppid\":\"%s\",\"status\":\"%s\",\"certificate_serial\":\"%s\",\"out\":",
			       pe->ppid, pe->existing ? "existing" : "issued",
			       m2m_cert_serial(pe->cert));
			json_str(pe->path);
			if (pe->replaced[0])
				printf(",\"replaced\":\"%s\"", pe->replaced);
			printf("}\n");
		} else {
			cli_csv_field(stdout, pe->serial, strlen(pe->serial));
			printf(",%s,%s,%s,", pe->ppid,
			       pe->existing ? "existing" : "issued",
			       m2m_cert_serial(pe->cert));
			cli_csv_field(stdout, pe->path, strlen(pe->path));
			putchar('\n');
		}
	}
	for (i = 0; i < b->ngroup; i++) {
		m2m_cert_free(b->group[i].cert);
		b->group[i].cert = NULL;
	}
	b->ngroup = 0;
	b->writable[0] = '\0';
	return status;
}

static int group_flush(struct batch *b)
{
	enum m2m_err rc = m2m_ca_group_commit(b->ctx, b->ca);
	size_t i;

	if (rc != M2M_OK) {
		/* Nothing of the group was recorded: nothing is released. */
		for (i = 0; i < b->ngroup; i++) {
			struct pending *pe = &b->group[i];

			report_error(b, pe->line, pe->serial, pe->ppid,
				     pe->cert ? m2m_ctx_detail(b->ctx) :
				     pe->error);
			m2m_cert_free(pe->cert);
			pe->cert = NULL;
		}
		b->ngroup = 0;
		return cli_fail(b->ctx, rc, "cannot commit to the ledger");
	}
	return group_release(b);
}

/*
 * One row into the open group.  Returns 0 (issued or reported), or an
 * exit status for a failure that ends the batch.
 */
static int batch_row(struct batch *b, const struct row_ahead *ra)
{
	struct m2m_device dev;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	struct m2m_csr *csr = NULL;
	struct m2m_key *key = NULL;
	struct m2m_key_opts kopts = { .pass_source = b->o->passout };
	struct pending *pe;
	unsigned char *buf = NULL;
	char ppid[M2M_PPID_HEX_MAX], name[M2M_SERIAL_MAX + 1], msg[1200];
	const char *profile = b->o->profile, *made_key = NULL;
	char csr_detail[1024];
	size_t n = 0;
	uint64_t first, lineno = ra->lineno;
	int status = 0;
	enum m2m_err rc, csr_rc = M2M_OK;

	if (ra->queued) {
		/* Taken out whatever becomes of the row: the queue is in
		 * row order. */
		csr_rc = m2m_csrq_pop(b->ctx, b->csrq, &csr);
		snprintf(csr_detail, sizeof(csr_detail), "%s",
			 csr_rc == M2M_OK ? "" : m2m_ctx_detail(b->ctx));
	}
	ppid[0] = '\0';
	dev.serial[0] = '\0';
	rc = b->json ? m2m_json_split(b->ctx, &b->row, ra->line, ra->len,
				      b->names, b->nnames) :
	     m2m_csv_split(b->ctx, &b->row, ra->line, ra->len);
	if (rc == M2M_OK)
		rc = m2m_manifest_row(b->ctx, &b->m, &b->row, &dev);
	if (rc == M2M_OK)
		rc = m2m_ppid_to_hex(b->ctx, &dev.ppid, ppid, sizeof(ppid),
				     NULL);
	if (rc != M2M_OK) {
		/* The serial, when the row got as far as reading it. */
		row_error(b, lineno, dev.serial, "", m2m_ctx_detail(b->ctx));
		goto out;
	}
	if (m2m_seen_find(b->seen_ppid, ppid, strlen(ppid), &first)) {
		snprintf(msg, sizeof(msg), "duplicate ppid %s (first on line %llu)",
			 ppid, (unsigned long long)first);
		row_error(b, lineno, dev.serial, ppid, msg);
		goto out;
	}
	if (m2m_seen_find(b->seen_serial, dev.serial, dev.serial_len, &first)) {
		snprintf(msg, sizeof(msg), "duplicate serial '%s' (first on line %llu)",
			 dev.serial, (unsigned long long)first);
		row_error(b, lineno, dev.serial, ppid, msg);
		goto out;
	}
	if (b->profile_col >= 0 && b->row.len[b->profile_col])
		profile = b->row.field[b->profile_col];
	pe = &b->group[b->ngroup];
	memset(pe, 0, sizeof(*pe));
	pe->line = lineno;
	snprintf(pe->serial, sizeof(pe->serial), "%s", dev.serial);
	snprintf(pe->ppid, sizeof(pe->ppid), "%s", ppid);
	if (b->out_col >= 0 && b->row.len[b->out_col]) {
		snprintf(pe->path, sizeof(pe->path), "%s",
			 b->row.field[b->out_col]);
	} else {
		sanitize(dev.serial, name, sizeof(name));
		snprintf(pe->path, sizeof(pe->path), "%s/%s.%s",
			 b->o->out_dir ? b->o->out_dir : ".", name,
			 b->o->der ? "der" : "pem");
	}
	/* Once per directory and group: most batches write to one. */
	if (!b->writable[0] || !m2m_same_dir(b->writable, pe->path)) {
		if (!dir_writable(pe->path)) {
			/* Found out now, not after the certificate is
			 * recorded. */
			snprintf(msg, sizeof(msg), "cannot write '%.1000s': %s",
				 pe->path, strerror(errno));
			row_error(b, lineno, dev.serial, ppid, msg);
			goto out;
		}
		snprintf(b->writable, sizeof(b->writable), "%s", pe->path);
	}
	if (m2m_seen_find(b->seen_out, pe->path, strlen(pe->path), &first)) {
		snprintf(msg, sizeof(msg), "output '%.1000s' is also line %llu's",
			 pe->path, (unsigned long long)first);
		row_error(b, lineno, dev.serial, ppid, msg);
		goto out;
	}
	if (b->csr_col >= 0 && b->row.len[b->csr_col]) {
		const char *path = b->row.field[b->csr_col];

		if (ra->queued) {
			rc = csr_rc;
		} else {
			rc = m2m_file_read(b->ctx, path, CERT_FILE_MAX, &buf,
					   &n);
			if (rc == M2M_OK)
				rc = m2m_csr_parse(b->ctx, buf, n, &csr);
			snprintf(csr_detail, sizeof(csr_detail), "%s",
				 m2m_ctx_detail(b->ctx));
		}
		if (rc != M2M_OK) {
			snprintf(msg, sizeof(msg), "request '%.200s': %.980s", path,
				 csr_detail);
			row_error(b, lineno, dev.serial, ppid, msg);
			goto out;
		}
	} else if (b->key_col >= 0 && b->row.len[b->key_col]) {
		/* A key made by an earlier, interrupted run is used again. */
		const char *path = b->row.field[b->key_col];

		rc = m2m_key_load(b->ctx, path, &kopts, &key);
		if (rc == M2M_ERR_NOT_FOUND) {
			rc = m2m_key_generate(b->ctx, path, b->o->alg, &kopts,
					      &key);
			made_key = rc == M2M_OK ? path : NULL;
		}
		if (rc != M2M_OK) {
			snprintf(msg, sizeof(msg), "key '%.200s': %s", path,
				 m2m_ctx_detail(b->ctx));
			row_error(b, lineno, dev.serial, ppid, msg);
			goto out;
		}
	} else {
		row_error(b, lineno, dev.serial, ppid,
			  "no request: the row needs a 'csr' or a 'key' cell");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.csr = csr;
	req.key = key;
	req.ppid = &dev.ppid;
	req.device_serial = dev.serial;
	req.replace = b->o->replace;
	rc = m2m_ca_group_issue(b->ctx, b->ca, &req, &res);
	if (rc == M2M_ERR_BACKEND || rc == M2M_ERR_NOMEM ||
	    rc == M2M_ERR_CRYPTO || rc == M2M_ERR_IO) {
		status = cli_fail(b->ctx, rc, "%s:%llu", b->name,
				  (unsigned long long)lineno);
		goto out;
	}
	if (rc != M2M_OK) {
		row_error(b, lineno, dev.serial, ppid, m2m_ctx_detail(b->ctx));
		if (made_key)	/* no key without its certificate */
			unlink(made_key);
		goto out;
	}
	pe->cert = res.cert;
	pe->existing = res.existing;
	memcpy(pe->replaced, res.replaced, sizeof(pe->replaced));
	b->ngroup++;
	if (m2m_seen_add(b->ctx, b->seen_ppid, ppid, strlen(ppid), lineno,
			 NULL) != M2M_OK ||
	    m2m_seen_add(b->ctx, b->seen_serial, dev.serial, dev.serial_len,
			 lineno, NULL) != M2M_OK ||
	    m2m_seen_add(b->ctx, b->seen_out, pe->path, strlen(pe->path),
			 lineno, NULL) != M2M_OK)
		status = cli_fail(b->ctx, M2M_ERR_NOMEM, "%s", b->name);
out:
	free(buf);
	m2m_csr_free(csr);
	m2m_key_free(key);
	return status;
}

static int batch_header(struct batch *b)
{
	static const char *const ours[] = { "csr", "key", "out", "profile" };
	char q[M2M_QUOTE_MAX];
	const char *line;
	size_t len, i, k;
	uint64_t lineno;
	enum m2m_err rc;
	int status;

	status = cli_manifest_start(b->ctx, b->lines, b->name, &line, &len,
				    &lineno);
	if (status)
		return status;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i < len && line[i] == '{') {
		/* JSON lines: no header; every known name is a column. */
		b->json = 1;
		b->first = malloc(len + 1);
		if (!b->first) {
			cli_error("out of memory");
			return CLI_EXIT_SYSTEM;
		}
		memcpy(b->first, line, len);
		b->first_len = len;
		b->first_lineno = lineno;
		b->names[b->nnames++] = "serial";
		b->names[b->nnames++] = "ppid";
		for (k = 0; k < M2M_TECH_COUNT; k++)
			b->names[b->nnames++] = m2m_tech_name((enum m2m_tech)k);
		for (k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
			b->names[b->nnames++] = ours[k];
		b->row.n = b->nnames;
		for (k = 0; k < b->nnames; k++) {
			b->row.field[k] = b->names[k];
			b->row.len[k] = strlen(b->names[k]);
		}
		rc = M2M_OK;
	} else {
		rc = m2m_csv_split(b->ctx, &b->row, line, len);
	}
	if (rc == M2M_OK)
		rc = m2m_manifest_header(b->ctx, &b->m, &b->row);
	if (rc != M2M_OK)
		return cli_fail(b->ctx, rc, "%s:%llu", b->name,
				(unsigned long long)lineno);
	b->csr_col = col_of(&b->row, "csr");
	b->key_col = col_of(&b->row, "key");
	b->out_col = col_of(&b->row, "out");
	b->profile_col = col_of(&b->row, "profile");
	if (b->csr_col < 0 && b->key_col < 0) {
		cli_error("%s:%llu: header: no 'csr' or 'key' column", b->name,
			  (unsigned long long)lineno);
		return CLI_EXIT_INPUT;
	}
	for (i = 0; i < b->row.n; i++) {
		int known = 0;

		if (!(b->m.ignored >> i & 1))
			continue;
		for (k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
			known |= strcasecmp(b->row.field[i], ours[k]) == 0;
		if (!known)
			cli_warn("%s:%llu: ignoring column '%s'", b->name,
				 (unsigned long long)lineno,
				 m2m_quote(q, b->row.field[i], b->row.len[i]));
	}
	return 0;
}

/*
 * Read rows until AHEAD_MAX are waiting or the manifest ends, and queue
 * the requests they name.  Lines that cannot be read are kept as they
 * are, to be reported in their turn.
 */
static void read_ahead(struct batch *b)
{
	struct row_ahead *ra;
	const char *line;
	const struct m2m_csv_row *r = &b->ahead_row;
	size_t len;
	uint64_t lineno;
	enum m2m_err rc;

	while (!b->ahead_end && b->nahead < AHEAD_MAX) {
		if (b->first) {
			/* JSON lines: the line read for the header is a row. */
			rc = M2M_OK;
			line = b->first;
			len = b->first_len;
			lineno = b->first_lineno;
		} else {
			rc = m2m_lines_next(b->ctx, b->lines, &line, &len,
					    &lineno);
		}
		if (rc == M2M_OK && !line) {
			b->ahead_end = 1;
			break;
		}
		if (rc == M2M_OK && len == 0)
			continue;
		ra = &b->ahead[(b->ahead_head + b->nahead++) % AHEAD_MAX];
		ra->rc = rc;
		ra->lineno = lineno;
		ra->len = 0;
		ra->queued = 0;
		if (rc != M2M_OK) {
			snprintf(ra->detail, sizeof(ra->detail), "%s",
				 m2m_ctx_detail(b->ctx));
			b->ahead_end = rc != M2M_ERR_INVALID;
			continue;
		}
		memcpy(ra->line, line, len);
		ra->len = len;
		if (line == b->first) {
			free(b->first);
			b->first = NULL;
		}
		if (!b->csrq)
			continue;
		rc = b->json ? m2m_json_split(b->ctx, &b->ahead_row, ra->line,
					      ra->len, b->names, b->nnames) :
		     m2m_csv_split(b->ctx, &b->ahead_row, ra->line, ra->len);
		/* A row the queue cannot take reads its request in turn. */
		ra->queued = rc == M2M_OK && (size_t)b->csr_col < r->n &&
			     r->len[b->csr_col] &&
			     m2m_csrq_push(b->ctx, b->csrq,
					   r->field[b->csr_col]) == M2M_OK;
	}
}

static int batch_rows(struct batch *b)
{
	const struct row_ahead *ra;
	enum m2m_err rc;
	int status = 0;

	cli_progress_start(&b->pr, "rows", 0);
	for (;;) {
		/* Half a window at a time: the thread is woken less often. */
		if (b->nahead <= AHEAD_MAX / 2)
			read_ahead(b);
		if (b->nahead == 0)
			break;
		ra = &b->ahead[b->ahead_head];
		if (ra->rc == M2M_ERR_INVALID) {
			b->rows++;
			row_error(b, ra->lineno, "", "", ra->detail);
		} else if (ra->rc != M2M_OK) {
			fflush(stdout);
			cli_error("cannot read '%s': %s", b->name,
				  ra->detail[0] ? ra->detail :
				  m2m_strerror(ra->rc));
			status = cli_exit_status(ra->rc);
		} else {
			b->rows++;
			status = batch_row(b, ra);
		}
		b->ahead_head = (b->ahead_head + 1) % AHEAD_MAX;
		b->nahead--;
		if (status)
			break;
		if (b->ngroup == GROUP_MAX) {
			status = group_flush(b);
			if (status)
				break;
			rc = m2m_ca_group_begin(b->ctx, b->ca);
			if (rc != M2M_OK) {
				status = cli_fail(b->ctx, rc, "cannot open the ledger");
				break;
			}
		}
		cli_progress_update(&b->pr, b->rows, b->failed);
	}
	return status;
}

static int issue_batch(struct m2m_ctx *ctx, const struct issue_opts *o)
{
	struct batch *b;
	enum m2m_err rc;
	int fd, status;

	fd = cli_open_input(o->batch);
	if (fd < 0)
		return CLI_EXIT_SYSTEM;
	b = calloc(1, sizeof(*b));
	if (!b) {
		cli_error("out of memory");
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	b->ctx = ctx;
	b->o = o;
	b->name = strcmp(o->batch, "-") ? o->batch : "<stdin>";
	rc = m2m_lines_new_fd(ctx, &b->lines, fd);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &b->seen_ppid);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &b->seen_serial);
	if (rc == M2M_OK)
		rc = m2m_seen_new(ctx, &b->seen_out);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot start the batch");
		goto out;
	}
	status = batch_header(b);
	if (status)
		goto out;
	if (o->out_dir && mkdir(o->out_dir, 0755) < 0 && errno != EEXIST) {
		cli_error("cannot create '%s': %s", o->out_dir, strerror(errno));
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	status = open_ca(ctx, &o->c, M2M_CA_NEED_KEY, &b->ca);
	if (status)
		goto out;
	/* Without its thread, requests are read in turn: slower, the same. */
	if (b->csr_col >= 0 &&
	    m2m_csrq_new(ctx, AHEAD_MAX, CERT_FILE_MAX, &b->csrq) != M2M_OK)
		b->csrq = NULL;
	rc = m2m_ca_group_begin(ctx, b->ca);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot open the ledger");
		goto out;
	}
	status = batch_rows(b);
	if (status == 0) {
		status = group_flush(b);
	} else {
		size_t i;

		/* The open group is lost: none of it was recorded. */
		m2m_ca_group_abort(ctx, b->ca);
		for (i = 0; i < b->ngroup; i++) {
			struct pending *pe = &b->group[i];

			report_error(b, pe->line, pe->serial, pe->ppid,
				     pe->cert ? "not recorded: the batch stopped" :
				     pe->error);
			m2m_cert_free(pe->cert);
			pe->cert = NULL;
		}
		b->ngroup = 0;
	}
	cli_progress_end(&b->pr, b->rows, b->failed);
	if (status == 0 && b->failed) {
		cli_error("%s: %llu of %llu rows failed", b->name,
			  (unsigned long long)b->failed,
			  (unsigned long long)b->rows);
		status = CLI_EXIT_INPUT;
	}
out:
	if (b) {
		size_t i;

		for (i = 0; i < b->ngroup; i++)
			m2m_cert_free(b->group[i].cert);
		m2m_csrq_free(b->csrq);
		m2m_ca_close(b->ca);
		free(b->first);
		m2m_lines_free(b->lines);
		m2m_seen_free(b->seen_ppid);
		m2m_seen_free(b->seen_serial);
		m2m_seen_free(b->seen_out);
		free(b);
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return cli_finish_stdout(status);
}

static int cmd_issue(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct issue_opts o;
	struct cli_parser p;
	int opt, t, alg;

	memset(&o, 0, sizeof(o));
	common_init(&o.c);
	o.alg = M2M_KEY_EC_P256;
	cli_parser_init(&p, &issue_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&o.c, opt, p.optarg))
			continue;
		if (opt >= OPT_TECH && opt < OPT_TECH + M2M_TECH_COUNT) {
			t = opt - OPT_TECH;
			if (o.addr[t])
				cli_usage_error("option '--%s' given twice",
						m2m_tech_name(t));
			o.addr[t] = p.optarg;
			o.naddr++;
			continue;
		}
		switch (opt) {
		case OPT_PROFILE: o.profile = p.optarg; break;
		case OPT_CSR: o.csr = p.optarg; break;
		case OPT_GENERATE_KEY: o.generate_key = p.optarg; break;
		case OPT_ALGORITHM:
			alg = m2m_key_alg_lookup(p.optarg);
			if (alg < 0)
				cli_usage_error("unknown algorithm '%s'", p.optarg);
			o.alg = alg;
			break;
		case OPT_PKCS12: o.pkcs12 = 1; break;
		case OPT_PASSOUT: o.passout = p.optarg; break;
		case OPT_BATCH: o.batch = p.optarg; break;
		case OPT_OUT_DIR: o.out_dir = p.optarg; break;
		case OPT_PPID: o.ppid_hex = p.optarg; break;
		case OPT_SERIAL: o.serial = p.optarg; break;
		case OPT_OUT: o.out = p.optarg; break;
		case OPT_CHAIN: o.chain = 1; break;
		case OPT_DER: o.der = 1; break;
		case OPT_REPLACE: o.replace = 1; break;
		case OPT_REQUEST: o.request = p.optarg; break;
		case OPT_ALLOW_KEY_REUSE: o.allow_key_reuse = 1; break;
		}
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	if (!!o.csr + !!o.generate_key + !!o.batch + !!o.request != 1)
		cli_usage_error("give one of --csr, --generate-key, --batch or --request");
	if (o.allow_key_reuse && !o.request)
		cli_usage_error("--allow-key-reuse goes with --request");
	if (o.chain && o.der)
		cli_usage_error("--chain needs PEM output, not --der");
	if (o.pkcs12 && (!o.generate_key || !o.passout))
		cli_usage_error("--pkcs12 goes with --generate-key and --passout");
	if (o.passout)
		warn_pass("--passout", o.passout);
	if (o.batch) {
		if (o.ppid_hex || o.naddr || o.serial || o.out)
			cli_usage_error("--batch takes PPIDs, serials and outputs from the manifest");
		return issue_batch(ctx, &o);
	}
	if (o.out_dir)
		cli_usage_error("--out-dir goes with --batch");
	if (o.ppid_hex && o.naddr)
		cli_usage_error("give either --ppid or addresses, not both");
	if (o.request) {
		if (o.ppid_hex || o.naddr || o.serial)
			cli_usage_error("--request takes the device's PPID and subject from its IDevID");
		if (o.passout)
			cli_usage_error("--passout goes with --generate-key");
		return issue_request(ctx, &o);
	}
	return issue_one(ctx, &o);
}

/* ---- revoke, crl, ocsp ------------------------------------------------------ */

static int cmd_revoke(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	const char *serial;
	char canon[M2M_CERT_SERIAL_HEX];
	int opt, reason = 0, status;
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &revoke_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_REASON) {
			reason = m2m_crl_reason_lookup(p.optarg);
			if (reason < 0 || reason == 8)
				cli_usage_error("unknown reason '%s' (e.g. keyCompromise, superseded, cessationOfOperation)",
						p.optarg);
		}
	}
	if (p.noperands != 1)
		cli_usage_error(p.noperands ? "revoke takes one serial" :
				"revoke needs the certificate serial");
	serial = p.operands[0];
	cli_parser_release(&p);
	status = open_ca(ctx, &c, M2M_CA_NEED_KEY, &ca);
	if (status)
		return status;
	rc = m2m_ca_revoke(ctx, ca, serial, reason, 0, canon);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot revoke '%s'", serial);
	} else {
		if (c.json)
			printf("{\"certificate_serial\":\"%s\",\"status\":\"revoked\",\"reason\":\"%s\"}\n",
			       canon, m2m_crl_reason_name(reason));
		else
			printf("revoked %s (%s)\n", canon,
			       m2m_crl_reason_name(reason));
		status = cli_finish_stdout(CLI_EXIT_OK);
	}
	m2m_ca_close(ca);
	return status;
}

static int cmd_crl(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	const char *out = NULL;
	unsigned char *der = NULL;
	char *enc = NULL;
	size_t len = 0, enclen = 0;
	uint64_t number = 0;
	int opt, as_der = 0, status;
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &crl_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_OUT)
			out = p.optarg;
		else if (opt == OPT_DER)
			as_der = 1;
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	if (c.json && !out)
		cli_usage_error("--json needs --out (the CRL itself goes there)");
	status = open_ca(ctx, &c, M2M_CA_NEED_KEY, &ca);
	if (status)
		return status;
	rc = m2m_ca_crl(ctx, ca, 0, &der, &len, &number);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot make the CRL");
		goto out;
	}
	if (as_der) {
		status = write_output(ctx, out, der, len, 0644);
	} else {
		/* PEM of a CRL: the same armour as a certificate's. */
		static const char head[] = "-----BEGIN X509 CRL-----\n";
		static const char tail[] = "-----END X509 CRL-----\n";
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		size_t i, o = 0, col = 0;

		enc = malloc(sizeof(head) + sizeof(tail) + len * 2 + 8);
		if (!enc) {
			cli_error("out of memory");
			status = CLI_EXIT_SYSTEM;
			goto out;
		}
		memcpy(enc, head, sizeof(head) - 1);
		o = sizeof(head) - 1;
		for (i = 0; i < len; i += 3) {
			unsigned v = (unsigned)der[i] << 16 |
				     (i + 1 < len ? (unsigned)der[i + 1] << 8 : 0) |
				     (i + 2 < len ? der[i + 2] : 0);

			enc[o++] = b64[v >> 18 & 63];
			enc[o++] = b64[v >> 12 & 63];
			enc[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
			enc[o++] = i + 2 < len ? b64[v & 63] : '=';
			col += 4;
			if (col == 64) {
				enc[o++] = '\n';
				col = 0;
			}
		}
		if (col)
			enc[o++] = '\n';
		memcpy(enc + o, tail, sizeof(tail) - 1);
		enclen = o + sizeof(tail) - 1;
		status = write_output(ctx, out, enc, enclen, 0644);
	}
	if (status == 0 && c.json) {
		printf("{\"crl_number\":%llu,\"out\":",
		       (unsigned long long)number);
		json_str(out);
		printf(",\"bytes\":%zu}\n", as_der ? len : enclen);
	}
	if (status == 0)
		status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(enc);
	free(der);
	m2m_ca_close(ca);
	return status;
}

static int cmd_ocsp(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	const char *request = NULL, *out = NULL;
	unsigned char *req = NULL, *der = NULL;
	size_t reqlen = 0, len = 0;
	int opt, status;
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &ocsp_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_REQUEST)
			request = p.optarg;
		else if (opt == OPT_OUT)
			out = p.optarg;
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	if (!request)
		cli_usage_error("ocsp needs --request FILE");
	status = read_input(ctx, request, 64 * 1024, &req, &reqlen);
	if (status)
		return status;
	status = open_ca(ctx, &c, M2M_CA_NEED_KEY, &ca);
	if (status)
		goto out;
	rc = m2m_ca_ocsp(ctx, ca, req, reqlen, 0, &der, &len);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot answer the OCSP request");
		goto out;
	}
	status = write_output(ctx, out, der, len, 0644);
	if (status == 0)
		status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(req);
	free(der);
	m2m_ca_close(ca);
	return status;
}

/* ---- list, show, export ------------------------------------------------------- */

static const char *status_of(const struct m2m_cert_record *r, int64_t now)
{
	if (r->status == M2M_CERT_REVOKED)
		return "revoked";
	return r->not_after < now ? "expired" : "valid";
}

static void print_record_json(const struct m2m_cert_record *r, int64_t now)
{
	char ppid[M2M_PPID_HEX_MAX], t1[CLI_TIME_MAX], t2[CLI_TIME_MAX];
	char t3[CLI_TIME_MAX], t4[CLI_TIME_MAX];

	m2m_hex_encode(r->ppid, r->ppid_len < M2M_PPID_MAX ? r->ppid_len : 0, ppid);
	printf("{\"certificate_serial\":\"%s\",\"profile\":", r->serial);
	json_str(r->profile);
	printf(",\"status\":\"%s\",\"subject\":", status_of(r, now));
	json_str(r->subject);
	printf(",\"ppid\":");
	if (r->ppid)
		printf("\"%s\"", ppid);
	else
		printf("null");
	printf(",\"serial\":");
	if (r->device_serial)
		json_str(r->device_serial);
	else
		printf("null");
	printf(",\"issued_at\":\"%s\",\"not_before\":\"%s\",\"not_after\":\"%s\"",
	       cli_iso_time(r->issued_at, t1), cli_iso_time(r->not_before, t2),
	       cli_iso_time(r->not_after, t3));
	if (r->status == M2M_CERT_REVOKED)
		printf(",\"revoked_at\":\"%s\",\"reason\":\"%s\"",
		       cli_iso_time(r->revoked_at, t4),
		       m2m_crl_reason_name(r->reason) ?
		       m2m_crl_reason_name(r->reason) : "unspecified");
	if (r->vouched_by)
		printf(",\"vouched_by\":\"%s\"", r->vouched_by);
	printf("}\n");
}

struct list_walk {
	int json;
	int64_t now;
	uint64_t n;
};

static enum m2m_err list_one(void *arg, const struct m2m_cert_record *r)
{
	struct list_walk *w = arg;
	char ppid[M2M_PPID_HEX_MAX], na[CLI_TIME_MAX];

	w->n++;
	if (w->json) {
		print_record_json(r, w->now);
		return M2M_OK;
	}
	m2m_hex_encode(r->ppid, r->ppid_len < M2M_PPID_MAX ? r->ppid_len : 0, ppid);
	printf("%s %-7s %-7s %s %s %s\n", r->serial, r->profile,
	       status_of(r, w->now), cli_iso_time(r->not_after, na),
	       r->device_serial ? r->device_serial : "-",
	       r->ppid ? ppid : "-");
	return M2M_OK;
}

static int parse_status(const char *s)
{
	if (strcmp(s, "valid") == 0)
		return 1;
	if (strcmp(s, "revoked") == 0)
		return 2;
	if (strcmp(s, "expired") == 0)
		return 3;
	cli_usage_error("unknown status '%s' (valid, revoked or expired)", s);
}

static int cmd_list(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	struct m2m_ledger_filter f;
	struct m2m_ppid ppid;
	struct list_walk w;
	uint8_t bin[M2M_PPID_MAX];
	size_t n = 0;
	int opt, status;
	enum m2m_err rc;

	common_init(&c);
	memset(&f, 0, sizeof(f));
	cli_parser_init(&p, &list_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_STATUS) {
			f.status = parse_status(p.optarg);
		} else if (opt == OPT_PROFILE) {
			f.profile = p.optarg;
		} else if (opt == OPT_PPID) {
			rc = m2m_ppid_decode_hex(ctx, &ppid, p.optarg,
						 strlen(p.optarg));
			if (rc == M2M_OK)
				rc = m2m_ppid_encode(ctx, &ppid, bin,
						     sizeof(bin), &n);
			if (rc != M2M_OK) {
				cli_parser_release(&p);
				return cli_fail(ctx, rc, "invalid --ppid");
			}
			f.ppid = bin;
			f.ppid_len = n;
		}
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	status = open_ca(ctx, &c, M2M_CA_READONLY, &ca);
	if (status)
		return status;
	w.json = c.json;
	w.now = time(NULL);
	w.n = 0;
	f.now = w.now;
	rc = m2m_ledger_list(ctx, m2m_ca_ledger(ca), &f, list_one, &w);
	if (rc != M2M_OK)
		status = cli_fail(ctx, rc, "cannot list the ledger");
	else
		status = cli_finish_stdout(CLI_EXIT_OK);
	m2m_ca_close(ca);
	return status;
}

static int cmd_show(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	struct m2m_cert_record r;
	struct m2m_cert *cert = NULL;
	const char *serial;
	char *pem = NULL, ppid[M2M_PPID_HEX_MAX], t[CLI_TIME_MAX];
	size_t len = 0;
	int opt, want_pem = 0, status;
	int64_t now = time(NULL);
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &show_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_PEM)
			want_pem = 1;
	}
	if (p.noperands != 1)
		cli_usage_error(p.noperands ? "show takes one serial" :
				"show needs a certificate serial");
	serial = p.operands[0];
	cli_parser_release(&p);
	status = open_ca(ctx, &c, M2M_CA_READONLY, &ca);
	if (status)
		return status;
	rc = m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), serial, &r);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot show '%s'", serial);
		goto out;
	}
	if (want_pem) {
		rc = m2m_cert_parse(ctx, r.der, r.der_len, &cert);
		if (rc == M2M_OK)
			rc = m2m_cert_encode(ctx, cert, M2M_FORMAT_PEM, &pem,
					     &len);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "ledger record of '%s'",
					  serial);
			goto out;
		}
		fwrite(pem, 1, len, stdout);
	} else if (c.json) {
		print_record_json(&r, now);
	} else {
		m2m_hex_encode(r.ppid, r.ppid_len < M2M_PPID_MAX ? r.ppid_len : 0, ppid);
		printf("certificate serial: %s\n", r.serial);
		printf("profile: %s\n", r.profile);
		printf("status: %s\n", status_of(&r, now));
		printf("subject: %s\n", r.subject);
		printf("ppid: %s\n", r.ppid ? ppid : "-");
		printf("serial: %s\n", r.device_serial ? r.device_serial : "-");
		printf("issued: %s\n", cli_iso_time(r.issued_at, t));
		printf("not before: %s\n", cli_iso_time(r.not_before, t));
		printf("not after: %s\n", cli_iso_time(r.not_after, t));
		if (r.status == M2M_CERT_REVOKED) {
			printf("revoked: %s\n", cli_iso_time(r.revoked_at, t));
			printf("reason: %s\n", m2m_crl_reason_name(r.reason) ?
			       m2m_crl_reason_name(r.reason) : "unspecified");
		}
		if (r.vouched_by)
			printf("vouched by: %s\n", r.vouched_by);
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(pem);
	m2m_cert_free(cert);
	m2m_ca_close(ca);
	return status;
}

struct export_walk {
	struct m2m_ctx *ctx;
	FILE *f;
	uint64_t n;
};

static enum m2m_err export_one(void *arg, const struct m2m_cert_record *r)
{
	struct export_walk *w = arg;
	struct m2m_cert *cert = NULL;
	char *pem = NULL;
	size_t len = 0;
	enum m2m_err rc;

	rc = m2m_cert_parse(w->ctx, r->der, r->der_len, &cert);
	if (rc == M2M_OK)
		rc = m2m_cert_encode(w->ctx, cert, M2M_FORMAT_PEM, &pem, &len);
	if (rc == M2M_OK && fwrite(pem, 1, len, w->f) != len)
		rc = M2M_ERR_IO;
	w->n++;
	free(pem);
	m2m_cert_free(cert);
	return rc;
}

static int cmd_export(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	struct m2m_ledger_filter f;
	struct export_walk w;
	const char *out = NULL;
	char tmp[4200];
	int opt, status;
	enum m2m_err rc;

	common_init(&c);
	memset(&f, 0, sizeof(f));
	cli_parser_init(&p, &export_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_STATUS)
			f.status = parse_status(p.optarg);
		else if (opt == OPT_OUT)
			out = p.optarg;
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	f.now = time(NULL);
	status = open_ca(ctx, &c, M2M_CA_READONLY, &ca);
	if (status)
		return status;
	w.ctx = ctx;
	w.n = 0;
	w.f = stdout;
	if (out && strcmp(out, "-")) {
		/* A temporary file renamed into place: never half a bundle. */
		snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", out, (long)getpid());
		w.f = fopen(tmp, "wx");
		if (!w.f) {
			cli_error("cannot create '%s': %s", out, strerror(errno));
			status = CLI_EXIT_SYSTEM;
			goto out;
		}
	}
	rc = m2m_ledger_list(ctx, m2m_ca_ledger(ca), &f, export_one, &w);
	if (w.f != stdout) {
		int bad = fflush(w.f) != 0 || fsync(fileno(w.f)) != 0;

		bad |= fclose(w.f) != 0;
		if (rc == M2M_OK && (bad || rename(tmp, out) != 0))
			rc = M2M_ERR_IO;
		if (rc != M2M_OK)
			unlink(tmp);
	}
	if (rc != M2M_OK)
		status = cli_fail(ctx, rc, "cannot export the certificates");
	else
		status = cli_finish_stdout(CLI_EXIT_OK);
out:
	m2m_ca_close(ca);
	return status;
}

/* ---- profile ------------------------------------------------------------------ */

static void profile_json(const struct m2m_profile *pr)
{
	static const char *const ku[] = { "digitalSignature", "keyEncipherment",
					  "keyAgreement" };
	static const char *const eku[] = { "clientAuth", "serverAuth" };
	static const char *const names[] = { "dns", "uri" };
	int i, first;

	printf("{\"name\":");
	json_str(pr->name);
	printf(",\"type\":\"%s\",\"hw-type\":",
	       pr->type == M2M_PROFILE_IDEVID ? "idevid" : "ldevid");
	json_str(pr->hw_type);
	printf(",\"subject\":");
	json_str(pr->subject);
	printf(",\"key-algorithms\":[");
	for (i = 0, first = 1; i < M2M_KEY_ALG_COUNT; i++)
		if (pr->key_algs & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", m2m_key_alg_name(i));
			first = 0;
		}
	if (pr->lifetime_days)
		printf("],\"lifetime-days\":%lld", (long long)pr->lifetime_days);
	else
		printf("],\"lifetime-days\":null");
	printf(",\"subject-key-id\":%s,\"key-usage\":[",
	       pr->subject_key_id ? "true" : "false");
	for (i = 0, first = 1; i < 3; i++)
		if (pr->key_usage & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", ku[i]);
			first = 0;
		}
	printf("],\"extended-key-usage\":[");
	for (i = 0, first = 1; i < 2; i++)
		if (pr->ext_key_usage & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", eku[i]);
			first = 0;
		}
	printf("],\"request-names\":[");
	for (i = 0, first = 1; i < 2; i++)
		if (pr->request_names & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", names[i]);
			first = 0;
		}
	printf("],\"masa-url\":");
	json_str(pr->masa_url);
	printf(",\"trust-anchors\":");
	json_str(pr->trust_anchors);
	printf("}");
}

static int cmd_profile(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	const struct m2m_profiles *ps;
	const char *verb;
	char *text = NULL;
	size_t len = 0, i;
	int opt, status = 0, k;
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &profile_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE)
		common_opt(&c, opt, p.optarg);
	if (p.noperands == 0)
		cli_usage_error("profile needs 'show' or 'set'");
	verb = p.operands[0];
	if (strcmp(verb, "show") && strcmp(verb, "set"))
		cli_usage_error("unknown profile command '%s' (show or set)", verb);
	if (strcmp(verb, "show") == 0 && p.noperands > 2)
		cli_usage_error("unexpected argument '%s'", p.operands[2]);
	if (strcmp(verb, "set") == 0 && p.noperands < 3)
		cli_usage_error("profile set needs a profile and KEY=VALUE");
	status = open_ca(ctx, &c, 0, &ca);
	if (status)
		goto out;
	ps = m2m_ca_profiles(ca);
	if (strcmp(verb, "set") == 0) {
		for (k = 2; k < p.noperands; k++) {
			char *eq = strchr(p.operands[k], '=');

			if (!eq || eq == p.operands[k])
				cli_usage_error("'%s' is not KEY=VALUE",
						p.operands[k]);
			*eq = '\0';
			rc = m2m_ca_profile_set(ctx, ca, p.operands[1],
						p.operands[k], eq + 1);
			*eq = '=';
			if (rc != M2M_OK) {
				status = cli_fail(ctx, rc, "cannot set '%s'",
						  p.operands[k]);
				goto out;
			}
		}
		goto out;
	}
	if (p.noperands == 2 && !m2m_profiles_get(ps, p.operands[1])) {
		cli_error("no profile '%s' in '%s'", p.operands[1], c.ca_dir);
		status = CLI_EXIT_INPUT;
		goto out;
	}
	if (c.json) {
		int first = 1;

		if (p.noperands == 2) {
			profile_json(m2m_profiles_get(ps, p.operands[1]));
			printf("\n");
		} else {
			printf("{\"key\":");
			json_str(ps->key);
			printf(",\"ledger\":");
			json_str(ps->ledger);
			printf(",\"crl-validity-days\":%lld,\"profiles\":[",
			       (long long)ps->crl_validity_days);
			for (i = 0; i < ps->n; i++) {
				printf("%s", first ? "" : ",");
				profile_json(&ps->p[i]);
				first = 0;
			}
			printf("]}\n");
		}
		status = cli_finish_stdout(CLI_EXIT_OK);
		goto out;
	}
	text = malloc(M2M_PROFILES_TEXT_MAX);
	if (!text) {
		cli_error("out of memory");
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	rc = m2m_profiles_format(ctx, ps, text, M2M_PROFILES_TEXT_MAX, &len);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot show the profiles");
		goto out;
	}
	if (p.noperands == 2) {
		/* Only the [NAME] section. */
		char head[M2M_PROFILE_NAME_MAX + 4];
		char *s, *e;

		snprintf(head, sizeof(head), "[%s]\n", p.operands[1]);
		s = strstr(text, head);
		e = s ? strstr(s + 1, "\n[") : NULL;
		if (s)
			fwrite(s, 1, e ? (size_t)(e - s) + 1 : strlen(s), stdout);
	} else {
		fwrite(text, 1, len, stdout);
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(text);
	cli_parser_release(&p);
	m2m_ca_close(ca);
	return status;
}

/* ---- audit -------------------------------------------------------------------- */

static enum m2m_err audit_one(void *arg, const struct m2m_audit_entry *e)
{
	int json = *(int *)arg;
	char t[CLI_TIME_MAX], h[2 * M2M_AUDIT_HASH_LEN + 1];

	m2m_hex_encode(e->hash, M2M_AUDIT_HASH_LEN, h);
	if (json) {
		printf("{\"seq\":%llu,\"time\":\"%s\",\"op\":",
		       (unsigned long long)e->seq, cli_iso_time(e->time, t));
		json_str(e->op);
		printf(",\"detail\":%s,\"hash\":\"%s\"}\n",
		       e->detail && *e->detail ? e->detail : "{}", h);
	} else {
		printf("%llu %s %s %s\n", (unsigned long long)e->seq,
		       cli_iso_time(e->time, t), e->op, e->detail ? e->detail : "");
	}
	return M2M_OK;
}

static int cmd_audit(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_ca *ca = NULL;
	uint64_t count = 0, bad = 0;
	int opt, verify = 0, status;
	enum m2m_err rc;

	common_init(&c);
	cli_parser_init(&p, &audit_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_VERIFY)
			verify = 1;
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	cli_parser_release(&p);
	status = open_ca(ctx, &c, M2M_CA_READONLY, &ca);
	if (status)
		return status;
	if (verify) {
		rc = m2m_ledger_audit_verify(ctx, m2m_ca_ledger(ca), &count,
					     &bad);
		if (rc == M2M_OK) {
			if (c.json)
				printf("{\"intact\":true,\"entries\":%llu}\n",
				       (unsigned long long)count);
			else
				printf("audit log intact: %llu entries\n",
				       (unsigned long long)count);
			status = cli_finish_stdout(CLI_EXIT_OK);
		} else {
			if (c.json && rc == M2M_ERR_VERIFY) {
				printf("{\"intact\":false,\"first_bad_entry\":%llu,\"reason\":",
				       (unsigned long long)bad);
				json_str(m2m_ctx_detail(ctx));
				printf("}\n");
				fflush(stdout);
			}
			status = cli_fail(ctx, rc, "audit log of '%s' is not intact",
					  c.ca_dir);
		}
	} else {
		rc = m2m_ledger_audit_list(ctx, m2m_ca_ledger(ca), audit_one,
					   &c.json);
		status = rc == M2M_OK ? cli_finish_stdout(CLI_EXIT_OK) :
			 cli_fail(ctx, rc, "cannot read the audit log");
	}
	m2m_ca_close(ca);
	return status;
}

/* ---- ledger ------------------------------------------------------------------- */

static int ledger_init(struct m2m_ctx *ctx, const char *loc, int json)
{
	struct m2m_ledger *l = NULL;
	char shown[M2M_LEDGER_SHOWN_MAX];
	enum m2m_err rc;
	int version;

	rc = m2m_ledger_open(ctx, loc, M2M_LEDGER_CREATE | M2M_LEDGER_EXCL,
			     &l);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot make the ledger");
	version = m2m_ledger_schema_version(l);
	m2m_ledger_close(l);
	m2m_ledger_location_shown(loc, shown, sizeof(shown), NULL);
	if (json) {
		printf("{\"ledger\":");
		json_str(shown);
		printf(",\"schema_version\":%d}\n", version);
	} else {
		printf("empty ledger made in '%s' (schema version %d)\n", shown,
		       version);
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

static int ledger_migrate(struct m2m_ctx *ctx, const struct common *c)
{
	char loc[M2M_URI_TEXT_MAX + 4096], shown[M2M_LEDGER_SHOWN_MAX];
	int from = 0, to = 0;
	enum m2m_err rc = M2M_OK;

	if (c->ledger)
		snprintf(loc, sizeof(loc), "%s", c->ledger);
	else
		rc = m2m_ca_ledger_location(ctx, c->ca_dir, loc, sizeof(loc));
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot open the CA");
	rc = m2m_ledger_migrate(ctx, loc, &from, &to);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot migrate the ledger");
	m2m_ledger_location_shown(loc, shown, sizeof(shown), NULL);
	if (c->json) {
		printf("{\"ledger\":");
		json_str(shown);
		printf(",\"from\":%d,\"to\":%d}\n", from, to);
	} else if (from == to) {
		printf("ledger '%s' is at schema version %d: up to date\n",
		       shown, to);
	} else {
		printf("ledger '%s' migrated from schema version %d to %d\n",
		       shown, from, to);
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

static int ledger_copy(struct m2m_ctx *ctx, const char *from, const char *to,
		       int json)
{
	struct m2m_ledger_copy_stats st;
	char sfrom[M2M_LEDGER_SHOWN_MAX], sto[M2M_LEDGER_SHOWN_MAX];
	char hash[2 * M2M_AUDIT_HASH_LEN + 1];
	enum m2m_err rc;

	rc = m2m_ledger_copy(ctx, from, to, &st);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot copy the ledger");
	m2m_ledger_location_shown(from, sfrom, sizeof(sfrom), NULL);
	m2m_ledger_location_shown(to, sto, sizeof(sto), NULL);
	m2m_hex_encode(st.last_hash, sizeof(st.last_hash), hash);
	if (json) {
		printf("{\"from\":");
		json_str(sfrom);
		printf(",\"to\":");
		json_str(sto);
		printf(",\"certificates\":%llu,\"revoked\":%llu,\"crls\":%llu,"
		       "\"audit_entries\":%llu,\"last_hash\":\"%s\"}\n",
		       (unsigned long long)st.certs,
		       (unsigned long long)st.revoked,
		       (unsigned long long)st.crls,
		       (unsigned long long)st.audit, hash);
	} else {
		printf("copied %llu certificates (%llu revoked), %llu CRLs and %llu audit entries from '%s' to '%s'\n"
		       "audit log intact on both sides, last hash %s\n",
		       (unsigned long long)st.certs,
		       (unsigned long long)st.revoked,
		       (unsigned long long)st.crls,
		       (unsigned long long)st.audit, sfrom, sto, hash);
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

static int cmd_ledger(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	const char *verb, *from = NULL, *to = NULL;
	int opt, ca_given = 0;

	common_init(&c);
	cli_parser_init(&p, &ledger_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (opt == OPT_CA)
			ca_given = 1;
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_FROM)
			from = p.optarg;
		else if (opt == OPT_TO)
			to = p.optarg;
	}
	if (p.noperands == 0)
		cli_usage_error("ledger needs 'init', 'migrate' or 'copy'");
	verb = p.operands[0];
	if (strcmp(verb, "init") && strcmp(verb, "migrate") &&
	    strcmp(verb, "copy"))
		cli_usage_error("unknown ledger command '%s' (init, migrate or copy)",
				verb);
	if (p.noperands > 1)
		cli_usage_error("unexpected argument '%s'", p.operands[1]);
	cli_parser_release(&p);
	if (strcmp(verb, "copy") && (from || to))
		cli_usage_error("--from and --to go with 'ledger copy'");
	if (strcmp(verb, "migrate") && ca_given)
		cli_usage_error("--ca goes with 'ledger migrate'");
	if (strcmp(verb, "init") == 0) {
		if (!c.ledger)
			cli_usage_error("ledger init needs --ledger LOCATION");
		return ledger_init(ctx, c.ledger, c.json);
	}
	if (strcmp(verb, "migrate") == 0)
		return ledger_migrate(ctx, &c);
	if (c.ledger)
		cli_usage_error("ledger copy takes --from and --to, not --ledger");
	if (!from || !to)
		cli_usage_error("ledger copy needs --from LOCATION and --to LOCATION");
	return ledger_copy(ctx, from, to, c.json);
}

/* ---- main --------------------------------------------------------------------- */

static const struct cli_subcommand subcommands[] = {
	{ "init", cmd_init, &init_cmd },
	{ "issue", cmd_issue, &issue_cmd },
	{ "revoke", cmd_revoke, &revoke_cmd },
	{ "crl", cmd_crl, &crl_cmd },
	{ "ocsp", cmd_ocsp, &ocsp_cmd },
	{ "list", cmd_list, &list_cmd },
	{ "show", cmd_show, &show_cmd },
	{ "export", cmd_export, &export_cmd },
	{ "profile", cmd_profile, &profile_cmd },
	{ "audit", cmd_audit, &audit_cmd },
	{ "ledger", cmd_ledger, &ledger_cmd },
	{ "serve", cmd_serve, &serve_cmd },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static const char about[] =
	"Certificate authorities for device identities (IEEE 802.1AR IDevIDs\n"
	"and LDevIDs) with a crash-safe ledger and a tamper-evident audit log.\n"
	"'m2m-ca COMMAND --help' shows a command's options; see m2m-ca(1).\n";

int main(int argc, char **argv)
{
	return cli_main("m2m-ca", about, subcommands, NSUB, argc, argv);
}
