/* SPDX-License-Identifier: Apache-2.0 */
/* m2m-enroll: keys and certificates in devices (TPM, PKCS#11 token, file). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/key.h>

#include "cli.h"
#include "enroll.h"

static const char *const usage_keygen[] = {
	"m2m-enroll keygen --key URI [--algorithm ALG] [--force] [--json]",
	NULL
};
static const char *const usage_csr[] = {
	"m2m-enroll csr --key URI [--subject DN] [--out FILE] [--der]", NULL
};
static const char *const usage_install[] = {
	"m2m-enroll install --cert URI --in FILE [--chain FILE] [--key URI] [--force] [--json]",
	NULL
};
static const char *const usage_show[] = {
	"m2m-enroll show --key URI [--cert URI] [--json]", NULL
};

static const struct cli_option keygen_options[] = {
	{ OPT_KEY, "key", 0, "URI", "where to make the key: file:, pkcs11: or tpm2:" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "ec-p256 (default), ec-p384, rsa2048, rsa3072" },
	{ OPT_FORCE, "force", 0, NULL, "replace a key that is there" },
	{ OPT_PASSOUT, "passout", 0, "SOURCE", "encrypt a file key with this passphrase" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print the key as JSON"),
	OPT_END
};

static const struct cli_option csr_options[] = {
	{ OPT_KEY, "key", 0, "URI", "the key that signs the request" },
	{ OPT_SUBJECT, "subject", 0, "DN", "subject, e.g. 'O=Example,CN=dev-1' (default empty)" },
	{ OPT_OUT, "out", 0, "FILE", "write the request here (default stdout)" },
	{ OPT_DER, "der", 0, NULL, "write DER instead of PEM" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_END
};

static const struct cli_option install_options[] = {
	{ OPT_CERT, "cert", 0, "URI", "where to store the certificate" },
	{ OPT_IN, "in", 0, "FILE", "the certificate, PEM or DER, chain may follow (- = stdin)" },
	{ OPT_CHAIN, "chain", 0, "FILE", "more chain certificates, PEM" },
	{ OPT_KEY, "key", 0, "URI", "refuse a certificate that is not this key's" },
	{ OPT_FORCE, "force", 0, NULL, "replace a certificate that is there" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print the result as JSON"),
	OPT_END
};

static const struct cli_option show_options[] = {
	{ OPT_KEY, "key", 0, "URI", "the device's key" },
	{ OPT_CERT, "cert", 0, "URI", "the device's certificate and chain" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print what the device holds as JSON"),
	OPT_END
};

static const struct cli_command keygen_cmd = { usage_keygen,
	"Generate a key inside its back-end (a TPM, a PKCS#11 token or a file)\n"
	"and print its location, algorithm and public key fingerprint.",
	keygen_options };
static const struct cli_command csr_cmd = { usage_csr,
	"Make a PKCS#10 certification request signed by the key.",
	csr_options };
static const struct cli_command install_cmd = { usage_install,
	"Store a certificate and its chain where the device keeps them, read\n"
	"them back and compare.",
	install_options };
static const struct cli_command show_cmd = { usage_show,
	"Show the key a device holds and, with --cert, its certificate and\n"
	"whether the two belong together (exit 1 if not).",
	show_options };

/* ---- shared ---------------------------------------------------------------- */

/* A secret on the command line is visible to every user: say so. */
static void warn_pass(const char *opt, const char *source)
{
	if (strncmp(source, "pass:", 5) == 0)
		cli_warn("%s pass:... shows the secret to other users; prefer env:, file: or fd:",
			 opt);
}

/* A PIN inside a location is as visible as pass:. */
void warn_pin(const char *opt, const char *uri)
{
	if (strstr(uri, "pin-value="))
		cli_warn("%s with pin-value shows the PIN to other users; prefer pin-source or --passin",
			 opt);
}

/* Take a shared option; nonzero if it was one. */
int common_opt(struct common *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_KEY:
		warn_pin("--key", arg);
		c->key = arg;
		return 1;
	case OPT_PASSIN:
		warn_pass("--passin", arg);
		c->passin = arg;
		return 1;
	case OPT_PASSOUT:
		warn_pass("--passout", arg);
		c->passout = arg;
		return 1;
	case OPT_TCTI:
		c->tcti = arg;
		return 1;
	case OPT_AUTH:
		warn_pass("--auth", arg);
		c->auth = arg;
		return 1;
	case OPT_FORCE:
		c->force = 1;
		return 1;
	case OPT_JSON:
		c->json = 1;
		return 1;
	}
	return 0;
}

/*
 * The key options: --passin unlocks a file key and is a token's PIN when
 * the location names none; a new file key is encrypted with --passout.
 */
struct m2m_key_opts key_opts(const struct common *c, int generate)
{
	struct m2m_key_opts o;

	memset(&o, 0, sizeof(o));
	o.pass_source = generate ? c->passout : c->passin;
	o.pin_source = c->passin;
	o.tcti = c->tcti;
	o.auth_source = c->auth;
	o.force = c->force;
	return o;
}

const char *shown(const char *uri, char buf[URI_SHOWN_MAX])
{
	return cli_uri_shown(uri, buf, URI_SHOWN_MAX);
}

void json_str(const char *s)
{
	cli_json_string(stdout, s, strlen(s));
}

void no_operands(struct cli_parser *p)
{
	if (p->noperands)
		cli_usage_error("unexpected argument '%s'", p->operands[0]);
	cli_parser_release(p);
}

int load_key(struct m2m_ctx *ctx, const struct common *c,
	     struct m2m_key **key)
{
	struct m2m_key_opts ko = key_opts(c, 0);
	char s[URI_SHOWN_MAX];
	enum m2m_err rc = m2m_key_load(ctx, c->key, &ko, key);

	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot load the key '%s'",
				shown(c->key, s));
	return 0;
}

/* ---- keygen ---------------------------------------------------------------- */

static int cmd_keygen(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_key *key = NULL;
	struct m2m_key_opts ko;
	char fp[M2M_KEY_FINGERPRINT_HEX], s[URI_SHOWN_MAX];
	const char *scheme;
	int opt, alg = M2M_KEY_EC_P256, status;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	cli_parser_init(&p, &keygen_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_ALGORITHM) {
			alg = m2m_key_alg_lookup(p.optarg);
			if (alg < 0 || alg == M2M_KEY_ED25519)
				cli_usage_error("unknown algorithm '%s' (ec-p256, ec-p384, rsa2048, rsa3072)",
						p.optarg);
		}
	}
	no_operands(&p);
	if (!c.key)
		cli_usage_error("keygen needs --key URI");
	scheme = m2m_key_scheme(c.key);
	if (scheme && strcmp(scheme, "file") == 0 && c.passin && !c.passout)
		cli_usage_error("a new file key is encrypted with --passout, not --passin");
	if (c.passout && (!scheme || strcmp(scheme, "file") != 0))
		cli_usage_error("--passout encrypts file keys; a %s: key stays in its device",
				scheme ? scheme : "non-file");
	ko = key_opts(&c, 1);
	rc = m2m_key_generate(ctx, c.key, (enum m2m_key_alg)alg, &ko, &key);
	if (rc == M2M_OK)
		rc = m2m_key_fingerprint(ctx, key, fp);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot generate a key at '%s'",
				  shown(c.key, s));
		goto out;
	}
	if (c.json) {
		printf("{\"key\":");
		json_str(shown(c.key, s));
		printf(",\"algorithm\":\"%s\",\"public_key_fingerprint\":\"%s\"}\n",
		       m2m_key_alg_name(m2m_key_get_alg(key)), fp);
	} else {
		printf("generated %s key '%s', public key SHA-256 %s\n",
		       m2m_key_alg_name(m2m_key_get_alg(key)), shown(c.key, s),
		       fp);
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	m2m_key_free(key);
	return status;
}

/* ---- csr ------------------------------------------------------------------- */

static int cmd_csr(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_key *key = NULL;
	struct m2m_csr *csr = NULL;
	const char *subject = NULL, *out = NULL;
	char *enc = NULL, s[URI_SHOWN_MAX];
	size_t len = 0;
	int opt, der = 0, status;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	cli_parser_init(&p, &csr_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_SUBJECT)
			subject = p.optarg;
		else if (opt == OPT_OUT)
			out = p.optarg;
		else if (opt == OPT_DER)
			der = 1;
	}
	no_operands(&p);
	if (!c.key)
		cli_usage_error("csr needs --key URI");
	status = load_key(ctx, &c, &key);
	if (status)
		goto out;
	rc = m2m_csr_make(ctx, key, subject, &csr);
	if (rc == M2M_OK)
		rc = m2m_csr_encode(ctx, csr, der ? M2M_FORMAT_DER :
				    M2M_FORMAT_PEM, &enc, &len);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot make a request with '%s'",
				  shown(c.key, s));
		goto out;
	}
	if (!out || strcmp(out, "-") == 0) {
		fwrite(enc, 1, len, stdout);
	} else {
		rc = m2m_file_write(ctx, out, enc, len, 0644, 0);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot write the request");
			goto out;
		}
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	free(enc);
	m2m_csr_free(csr);
	m2m_key_free(key);
	return status;
}

/* ---- install ----------------------------------------------------------------- */

/*
 * The certificates in path ("-": stdin) appended to list[*n..), at most
 * M2M_CERT_LIST_MAX in all.  Returns 0 or the exit status after saying
 * why not.
 */
static int read_certs(struct m2m_ctx *ctx, const char *what, const char *path,
		      struct m2m_cert **list, size_t *n)
{
	const char *name = strcmp(path, "-") ? path : "<stdin>";
	struct m2m_cert **got = NULL;
	unsigned char *buf = NULL;
	size_t len = 0, ngot = 0, i;
	enum m2m_err rc;
	int status = 0;

	if (strcmp(path, "-") == 0)
		rc = m2m_fd_read(ctx, STDIN_FILENO, name, M2M_CERT_BUNDLE_MAX,
				 &buf, &len);
	else
		rc = m2m_file_read(ctx, path, M2M_CERT_BUNDLE_MAX, &buf, &len);
	if (rc != M2M_OK) {
		/* An input that cannot be read is an I/O failure. */
		status = cli_fail(ctx, rc == M2M_ERR_NOT_FOUND ? M2M_ERR_IO : rc,
				  "cannot read the %s", what);
		goto out;
	}
	rc = m2m_cert_parse_list(ctx, buf, len, &got, &ngot);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "invalid %s '%s'", what, name);
		goto out;
	}
	if (*n + ngot > M2M_CERT_LIST_MAX) {
		cli_error("too many certificates: at most %d with the chain",
			  M2M_CERT_LIST_MAX);
		status = CLI_EXIT_INPUT;
		goto out;
	}
	for (i = 0; i < ngot; i++) {
		list[(*n)++] = got[i];
		got[i] = NULL;
	}
out:
	m2m_cert_list_free(got, ngot);
	free(buf);
	return status;
}

/* The store read back holds what was stored, in order. */
int same_certs(struct m2m_cert *const *a, size_t na,
	       struct m2m_cert *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(m2m_cert_fingerprint(a[i]),
			   m2m_cert_fingerprint(b[i])) != 0)
			return 0;
	return 1;
}

static int cmd_install(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_key *key = NULL;
	struct m2m_cert *list[M2M_CERT_LIST_MAX], **back = NULL;
	struct m2m_key_opts ko;
	const char *cert_uri = NULL, *in = NULL, *chain = NULL;
	char s[URI_SHOWN_MAX], k[URI_SHOWN_MAX], subject[1024];
	size_t n = 0, nback = 0, i;
	int opt, status;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	cli_parser_init(&p, &install_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_CERT) {
			warn_pin("--cert", p.optarg);
			cert_uri = p.optarg;
		} else if (opt == OPT_IN) {
			in = p.optarg;
		} else if (opt == OPT_CHAIN) {
			chain = p.optarg;
		}
	}
	no_operands(&p);
	if (!cert_uri)
		cli_usage_error("install needs --cert URI");
	if (!in)
		cli_usage_error("install needs --in FILE (- for standard input)");
	if (chain && strcmp(in, "-") == 0 && strcmp(chain, "-") == 0)
		cli_usage_error("--in and --chain cannot both be standard input");
	status = read_certs(ctx, "certificate", in, list, &n);
	if (status == 0 && chain)
		status = read_certs(ctx, "chain", chain, list, &n);
	if (status)
		goto out;
	if (c.key) {
		status = load_key(ctx, &c, &key);
		if (status)
			goto out;
		if (!m2m_cert_matches_key(list[0], key)) {
			cli_error("certificate '%s' does not match the key '%s'",
				  strcmp(in, "-") ? in : "<stdin>",
				  shown(c.key, k));
			status = CLI_EXIT_INPUT;
			goto out;
		}
	}
	ko = key_opts(&c, 0);
	rc = m2m_cert_store(ctx, cert_uri, list[0], list + 1, n - 1, &ko);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot store the certificate at '%s'",
				  shown(cert_uri, s));
		goto out;
	}
	rc = m2m_cert_load(ctx, cert_uri, &ko, &back, &nback);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot read back '%s'",
				  shown(cert_uri, s));
		goto out;
	}
	if (!same_certs(list, n, back, nback)) {
		cli_error("'%s' reads back different from what was stored",
			  shown(cert_uri, s));
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	m2m_cert_subject(back[0], subject, sizeof(subject));
	if (c.json) {
		printf("{\"cert\":");
		json_str(shown(cert_uri, s));
		printf(",\"certificate_serial\":\"%s\",\"subject\":",
		       m2m_cert_serial(back[0]));
		json_str(subject);
		printf(",\"fingerprint\":\"%s\",\"chain\":%zu",
		       m2m_cert_fingerprint(back[0]), nback - 1);
		if (key)
			printf(",\"matches_key\":true");
		printf("}\n");
	} else {
		printf("installed certificate %s at '%s' with %zu chain certificate%s, SHA-256 %s\n",
		       m2m_cert_serial(back[0]), shown(cert_uri, s), nback - 1,
		       nback == 2 ? "" : "s", m2m_cert_fingerprint(back[0]));
	}
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	for (i = 0; i < n; i++)
		m2m_cert_free(list[i]);
	m2m_cert_list_free(back, nback);
	m2m_key_free(key);
	return status;
}

/* ---- show ------------------------------------------------------------------ */

static void show_text(const struct common *c, const struct m2m_key *key,
		      const char *fp, const char *cert_uri,
		      struct m2m_cert *const *certs, size_t n, int matches)
{
	char s[URI_SHOWN_MAX], name[1024], t[CLI_TIME_MAX];
	int64_t nb, na;

	printf("key: %s\n", shown(c->key, s));
	printf("algorithm: %s\n", m2m_key_alg_name(m2m_key_get_alg(key)));
	printf("public key SHA-256: %s\n", fp);
	if (!cert_uri)
		return;
	printf("certificate: %s\n", shown(cert_uri, s));
	m2m_cert_subject(certs[0], name, sizeof(name));
	printf("subject: %s\n", name);
	m2m_cert_issuer(certs[0], name, sizeof(name));
	printf("issuer: %s\n", name);
	printf("certificate serial: %s\n", m2m_cert_serial(certs[0]));
	m2m_cert_validity(certs[0], &nb, &na);
	printf("not before: %s\n", cli_iso_time(nb, t));
	printf("not after: %s\n", cli_iso_time(na, t));
	printf("SHA-256: %s\n", m2m_cert_fingerprint(certs[0]));
	printf("chain: %zu certificate%s\n", n - 1, n == 2 ? "" : "s");
	printf("matches key: %s\n", matches ? "yes" : "no");
}

static void show_json(const struct common *c, const struct m2m_key *key,
		      const char *fp, const char *cert_uri,
		      struct m2m_cert *const *certs, size_t n, int matches)
{
	char s[URI_SHOWN_MAX], name[1024], t[CLI_TIME_MAX];
	int64_t nb, na;

	printf("{\"key\":");
	json_str(shown(c->key, s));
	printf(",\"algorithm\":\"%s\",\"public_key_fingerprint\":\"%s\"",
	       m2m_key_alg_name(m2m_key_get_alg(key)), fp);
	if (cert_uri) {
		printf(",\"cert\":");
		json_str(shown(cert_uri, s));
		m2m_cert_subject(certs[0], name, sizeof(name));
		printf(",\"subject\":");
		json_str(name);
		m2m_cert_issuer(certs[0], name, sizeof(name));
		printf(",\"issuer\":");
		json_str(name);
		m2m_cert_validity(certs[0], &nb, &na);
		printf(",\"certificate_serial\":\"%s\",\"not_before\":\"%s\"",
		       m2m_cert_serial(certs[0]), cli_iso_time(nb, t));
		printf(",\"not_after\":\"%s\",\"fingerprint\":\"%s\",\"chain\":%zu,\"matches_key\":%s",
		       cli_iso_time(na, t), m2m_cert_fingerprint(certs[0]),
		       n - 1, matches ? "true" : "false");
	}
	printf("}\n");
}

static int cmd_show(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct common c;
	struct m2m_key *key = NULL;
	struct m2m_cert **certs = NULL;
	struct m2m_key_opts ko;
	const char *cert_uri = NULL;
	char fp[M2M_KEY_FINGERPRINT_HEX], s[URI_SHOWN_MAX], k[URI_SHOWN_MAX];
	size_t n = 0;
	int opt, status, matches = 0;
	enum m2m_err rc;

	memset(&c, 0, sizeof(c));
	cli_parser_init(&p, &show_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&c, opt, p.optarg))
			continue;
		if (opt == OPT_CERT) {
			warn_pin("--cert", p.optarg);
			cert_uri = p.optarg;
		}
	}
	no_operands(&p);
	if (!c.key)
		cli_usage_error("show needs --key URI");
	status = load_key(ctx, &c, &key);
	if (status)
		goto out;
	rc = m2m_key_fingerprint(ctx, key, fp);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot show the key '%s'",
				  shown(c.key, k));
		goto out;
	}
	if (cert_uri) {
		ko = key_opts(&c, 0);
		rc = m2m_cert_load(ctx, cert_uri, &ko, &certs, &n);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc,
					  "cannot load the certificate '%s'",
					  shown(cert_uri, s));
			goto out;
		}
		matches = m2m_cert_matches_key(certs[0], key);
	}
	if (c.json)
		show_json(&c, key, fp, cert_uri, certs, n, matches);
	else
		show_text(&c, key, fp, cert_uri, certs, n, matches);
	status = cli_finish_stdout(CLI_EXIT_OK);
	if (status == CLI_EXIT_OK && cert_uri && !matches) {
		cli_error("certificate '%s' does not match the key '%s'",
			  shown(cert_uri, s), shown(c.key, k));
		status = CLI_EXIT_VERDICT;
	}
out:
	m2m_cert_list_free(certs, n);
	m2m_key_free(key);
	return status;
}

/* ---- main ------------------------------------------------------------------ */

static const struct cli_subcommand subcommands[] = {
	{ "keygen", cmd_keygen, &keygen_cmd },
	{ "csr", cmd_csr, &csr_cmd },
	{ "install", cmd_install, &install_cmd },
	{ "show", cmd_show, &show_cmd },
	{ "ldevid", cmd_ldevid, &ldevid_cmd },
	{ "renew", cmd_renew, &renew_cmd },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static const char about[] =
	"Keys and certificates in devices: a key made inside a TPM, a PKCS#11\n"
	"token or a file, a request signed by it, the certificate and chain\n"
	"installed and read back.  Locations are URIs: file:PATH (or a path),\n"
	"pkcs11:... (RFC 7512), tpm2:handle=0x81020000, tpm2:nv=0x01C90000.\n";

int main(int argc, char **argv)
{
	return cli_main("m2m-enroll", about, subcommands, NSUB, argc, argv);
}
