/* SPDX-License-Identifier: Apache-2.0 */
/* m2m-enroll: keys and certificates in devices (TPM, PKCS#11 token, file). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/cmp_client.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

#include "cli.h"
#include "enroll.h"

/* The options of idevid beyond those of enroll.h. */
enum {
	OPT_CA = 50, OPT_CA_PASSIN, OPT_CA_TCTI, OPT_LEDGER, OPT_TRUST,
	OPT_SERIAL, OPT_PPID, OPT_BATCH, OPT_PROFILE, OPT_REPLACE, OPT_CR,
	OPT_USE_KEY,
	OPT_TECH = 100		/* + enum m2m_tech */
};

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
static const char *const usage_idevid[] = {
	"m2m-enroll idevid --ca DIR --key URI [--cert URI] [--chain URI] --serial SN {--ppid HEX | ADDRESS ...} [--json]",
	"m2m-enroll idevid --ca DIR --batch MANIFEST [--json]",
	"m2m-enroll idevid --server URL --server-trust FILE {--station-cert FILE --station-key URI | --secret SOURCE --ref REF} --key URI [--cert URI] [--chain URI] --serial SN {--ppid HEX | ADDRESS ...} [--cr] [--use-key] [--json]",
	"m2m-enroll idevid --server URL --server-trust FILE {--station-cert FILE --station-key URI | --secret SOURCE --ref REF} --batch MANIFEST [--cr] [--use-key] [--json]",
	NULL
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

static const struct cli_option idevid_options[] = {
	{ OPT_CA, "ca", 0, "DIR", "the issuing CA (default $M2M_CA)" },
	{ OPT_KEY, "key", 0, "URI", "where the device key is made (tpm2: alone: 0x81020000)" },
	{ OPT_CERT, "cert", 0, "URI", "where the certificate goes (default: by the key)" },
	{ OPT_CHAIN, "chain", 0, "URI", "where the chain goes (default: with the certificate)" },
	{ OPT_SERIAL, "serial", 0, "SN", "the device's serial number" },
	{ OPT_PPID, "ppid", 0, "HEX", "the device's PPID (or give its addresses)" },
	{ OPT_BATCH, "batch", 0, "MANIFEST", "one device per manifest row (- = stdin)" },
	{ OPT_ALGORITHM, "algorithm", 0, "ALG", "ec-p256 (default), ec-p384, rsa2048, rsa3072" },
	{ OPT_PROFILE, "profile", 0, "NAME", "the CA's profile (default idevid)" },
	{ OPT_TRUST, "trust", 0, "FILE", "anchors the chain must verify to (PEM)" },
	{ OPT_REPLACE, "replace", 0, NULL, "supersede the PPID's IDevID for another key" },
	{ OPT_FORCE, "force", 0, NULL, "replace the key and certificates the device holds" },
	{ OPT_CA_PASSIN, "ca-passin", 0, "SOURCE", "the CA key's passphrase or PIN" },
	{ OPT_CA_TCTI, "ca-tcti", 0, "CONFIG", "TCTI of a CA key kept in a TPM" },
	{ OPT_LEDGER, "ledger", 0, "LOCATION", "the CA's ledger, if not where ca.conf says" },
	OPT_PASSIN_ENTRY,
	OPT_TCTI_ENTRY,
	OPT_AUTH_ENTRY,
	OPT_JSON_ENTRY("print each device's result as JSON"),
	OPT_SERVER_ENTRIES,
	OPT_STATION_ENTRIES,
	{ OPT_CR, "cr", 0, NULL, "send a certification request (cr), not an ir" },
	{ OPT_USE_KEY, "use-key", 0, NULL, "the device has its key already: request for it" },
	{ 0, NULL, 0, NULL, "Device addresses (instead of --ppid):" },
	CLI_TECH_OPTIONS(OPT_TECH),
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
static const struct cli_command idevid_cmd = { usage_idevid,
	"Provision a device's IDevID: make its key inside it, have the CA issue\n"
	"the certificate for a request signed by that key, store certificate\n"
	"and chain in the device, read them back and check them.  With\n"
	"--batch, a whole line of devices, one result per device.",
	idevid_options };
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

/* ---- idevid ------------------------------------------------------------------ */

/*
 * Where an IDevID goes in a TPM when the command line does not say: the
 * key and certificate where the TCG's provisioning guidance puts them,
 * the chain at an owner index of this project's choosing.
 */
#define TPM_IDEVID_KEY		"tpm2:handle=0x81020000"
#define TPM_IDEVID_CERT		"tpm2:nv=0x01C90000"
#define TPM_IDEVID_CHAIN	"tpm2:nv=0x01800100"

#define CRL_CESSATION	5	/* cessationOfOperation */

enum step { STEP_KEY, STEP_CSR, STEP_ISSUE, STEP_STORE, STEP_READ_BACK,
	    STEP_VERIFY, NSTEP };

static const char *const step_name[NSTEP] = {
	"key", "csr", "issue", "store", "read_back", "verify"
};

/* What the whole run shares: the CA, what is installed with each
 * certificate and what the chain is checked against. */
struct station {
	const struct common *c;
	struct m2m_ca *ca;
	const char *profile;
	int alg;
	int replace;
	struct m2m_cert **chain;	/* the CA's chain, installed */
	size_t nchain;
	struct m2m_cert **trust;	/* --trust, else borrowed from chain */
	size_t ntrust;
	struct m2m_cert *anchor[1];	/* the default anchor */
	int own_trust;
	struct m2m_cmp_client *cmp;	/* --server: the CA is there */
	const char *server;
	int cr, use_key;
};

/* One device: where its key, certificate and chain go, and who it is. */
struct device {
	uint64_t line;			/* manifest line, 0 for one device */
	const char *serial;
	struct m2m_ppid ppid;
	const char *tcti;		/* NULL: --tcti */
	char key[URI_SHOWN_MAX];
	char cert[URI_SHOWN_MAX];
	char chain[URI_SHOWN_MAX];	/* "": the chain goes with the
					   certificate */
};

/* What became of it. */
struct outcome {
	const char *status;		/* provisioned, existing, resumed, error */
	int exit;
	char ppid[M2M_PPID_HEX_MAX];
	char cert_serial[M2M_CERT_SERIAL_HEX];
	char fingerprint[65];
	char replaced[M2M_CERT_SERIAL_HEX];
	size_t nchain;
	double ms[NSTEP];
	double total_ms;
	char error[2048];
};

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The certificate's location for a key that has none given: the TPM's
 * IDevID index; the token object itself (type= dropped); the key file's
 * name with .crt for .key or .pem (else .crt added).  0, or -1 if it
 * does not fit.
 */
static int default_cert_uri(const char *key, char *out, size_t size)
{
	const char *scheme = m2m_key_scheme(key);
	size_t n, o = 0;
	const char *p, *q, *end;

	if (scheme && strcmp(scheme, "tpm2") == 0)
		return snprintf(out, size, "%s", TPM_IDEVID_CERT) <
		       (int)size ? 0 : -1;
	if (scheme && strcmp(scheme, "pkcs11") == 0) {
		/* pkcs11:a=1;type=private;b=2?q -> pkcs11:a=1;b=2?q */
		end = key + strcspn(key, "?");
		o = (size_t)snprintf(out, size, "pkcs11:");
		for (p = key + 7; p < end; p = q + (q < end)) {
			q = memchr(p, ';', (size_t)(end - p));
			if (!q)
				q = end;
			n = (size_t)(q - p);
			if (n == 0 || (n >= 5 && strncmp(p, "type=", 5) == 0))
				continue;
			if (o + n + 2 >= size)
				return -1;
			if (out[o - 1] != ':')
				out[o++] = ';';
			memcpy(out + o, p, n);
			o += n;
		}
		if (o + strlen(end) + 1 > size)
			return -1;
		memcpy(out + o, end, strlen(end) + 1);
		return 0;
	}
	n = strlen(key);
	if (n > 4 && (strcmp(key + n - 4, ".key") == 0 ||
		      strcmp(key + n - 4, ".pem") == 0))
		n -= 4;
	return snprintf(out, size, "%.*s.crt", (int)n, key) < (int)size ? 0 :
	       -1;
}

/*
 * The device's locations from what was given (cert and chain may be NULL
 * or empty).  "tpm2:" alone is the TPM's IDevID key.  NULL, or why not.
 */
static const char *device_locations(struct device *d, const char *key,
				    const char *cert, const char *chain)
{
	const char *scheme;

	if (strcmp(key, "tpm2:") == 0)
		key = TPM_IDEVID_KEY;
	if (snprintf(d->key, sizeof(d->key), "%s", key) >= (int)sizeof(d->key))
		return "the key location is too long";
	scheme = m2m_key_scheme(d->key);
	if (cert && *cert) {
		if (snprintf(d->cert, sizeof(d->cert), "%s", cert) >=
		    (int)sizeof(d->cert))
			return "the certificate location is too long";
	} else if (default_cert_uri(d->key, d->cert, sizeof(d->cert)) < 0) {
		return "the certificate location is too long";
	}
	if (chain && *chain)
		snprintf(d->chain, sizeof(d->chain), "%s", chain);
	else if (scheme && strcmp(scheme, "tpm2") == 0 &&
		 strcmp(m2m_key_scheme(d->cert) ? m2m_key_scheme(d->cert) : "",
			"tpm2") == 0)
		snprintf(d->chain, sizeof(d->chain), "%s", TPM_IDEVID_CHAIN);
	else
		d->chain[0] = '\0';
	if (strlen(d->chain) >= sizeof(d->chain) - 1)
		return "the chain location is too long";
	if (strcmp(d->key, d->cert) == 0 && (!scheme ||
					     strcmp(scheme, "pkcs11") != 0))
		return "the certificate cannot go where the key is";
	if (d->chain[0] && strcmp(d->chain, d->cert) == 0)
		return "the chain cannot go where the certificate is";
	return NULL;
}

/* Say why the device failed; the library's detail follows a colon. */
static void outcome_fail(struct m2m_ctx *ctx, struct outcome *o,
			 enum m2m_err rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void outcome_fail(struct m2m_ctx *ctx, struct outcome *o,
			 enum m2m_err rc, const char *fmt, ...)
{
	char msg[sizeof(o->error)], shown_msg[sizeof(o->error)];
	const char *detail = m2m_ctx_detail(ctx);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msg) && detail && *detail)
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", detail);
	snprintf(o->error, sizeof(o->error), "%s",
		 cli_uri_shown(msg, shown_msg, sizeof(shown_msg)));
	o->status = "error";
	o->exit = cli_exit_status(rc);
}

/* The certificates at uri, or none (*n = 0) if nothing is there. */
static enum m2m_err held(struct m2m_ctx *ctx, const char *uri,
			 const struct m2m_key_opts *ko,
			 struct m2m_cert ***list, size_t *n)
{
	enum m2m_err rc = m2m_cert_load(ctx, uri, ko, list, n);

	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_ctx_clear_error(ctx);
		*list = NULL;
		*n = 0;
		return M2M_OK;
	}
	return rc;
}

/*
 * Store the certificate and the chain where the device keeps them, read
 * both back and compare, then check the certificate is the key's and
 * chains to the anchors.  0, or the failure is in *o.
 */
static int install_and_check(struct m2m_ctx *ctx, const struct station *st,
			     const struct device *d,
			     const struct m2m_key_opts *ko,
			     const struct m2m_key *key,
			     const struct m2m_cert *cert, struct outcome *o)
{
	struct m2m_cert **back = NULL, **cback = NULL, *all[M2M_CERT_LIST_MAX];
	struct m2m_key_opts force = *ko;
	size_t nback = 0, ncback = 0, i;
	enum m2m_err rc;
	double t;
	int status = -1;

	force.force = 1;	/* the caller checked the slots are ours */
	t = mono_ms();
	if (d->chain[0]) {
		rc = m2m_cert_store(ctx, d->cert, cert, NULL, 0, &force);
		if (rc == M2M_OK && st->nchain)
			rc = m2m_cert_store(ctx, d->chain, st->chain[0],
					    st->chain + 1, st->nchain - 1,
					    &force);
	} else {
		rc = m2m_cert_store(ctx, d->cert, cert, st->chain, st->nchain,
				    &force);
	}
	o->ms[STEP_STORE] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot store the certificate");
		goto out;
	}
	t = mono_ms();
	rc = m2m_cert_load(ctx, d->cert, ko, &back, &nback);
	if (rc == M2M_OK && d->chain[0] && st->nchain)
		rc = m2m_cert_load(ctx, d->chain, ko, &cback, &ncback);
	o->ms[STEP_READ_BACK] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot read the certificate back");
		goto out;
	}
	all[0] = (struct m2m_cert *)cert;
	for (i = 0; i < st->nchain; i++)
		all[i + 1] = st->chain[i];
	if (d->chain[0] ? !same_certs(all, 1, back, nback) ||
			  !same_certs(st->chain, st->nchain, cback, ncback) :
	    !same_certs(all, 1 + st->nchain, back, nback)) {
		m2m_ctx_clear_error(ctx);
		outcome_fail(ctx, o, M2M_ERR_IO,
			     "the device reads back something other than what was stored");
		goto out;
	}
	t = mono_ms();
	if (!m2m_cert_matches_key(back[0], key)) {
		m2m_ctx_clear_error(ctx);
		outcome_fail(ctx, o, M2M_ERR_VERIFY,
			     "the certificate read back is not the device key's");
		goto out;
	}
	rc = m2m_chain_verify(ctx, back[0], st->chain, st->nchain, st->trust,
			      st->ntrust, 0);
	o->ms[STEP_VERIFY] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "the certificate read back");
		goto out;
	}
	o->nchain = st->nchain;
	status = 0;
out:
	m2m_cert_list_free(back, nback);
	m2m_cert_list_free(cback, ncback);
	return status;
}

/*
 * A device whose PPID has a valid certificate in the ledger: already
 * provisioned if it holds it (and its chain), resumed by installing it if
 * its key is that certificate's.  Returns 1 if dealt with (o says how),
 * 0 if the certificate is another key's.
 */
static int provisioned_before(struct m2m_ctx *ctx, const struct station *st,
			      const struct device *d,
			      const struct m2m_key_opts *ko,
			      const struct m2m_key *key,
			      const struct m2m_cert *cert, struct outcome *o)
{
	struct m2m_cert **have = NULL, **chave = NULL;
	size_t nhave = 0, nchave = 0;
	enum m2m_err rc;

	if (!key || !m2m_cert_matches_key(cert, key))
		return 0;
	snprintf(o->cert_serial, sizeof(o->cert_serial), "%s",
		 m2m_cert_serial(cert));
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s",
		 m2m_cert_fingerprint(cert));
	rc = held(ctx, d->cert, ko, &have, &nhave);
	if (rc == M2M_OK && d->chain[0])
		rc = held(ctx, d->chain, ko, &chave, &nchave);
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot read what the device holds");
	} else if (nhave && strcmp(m2m_cert_fingerprint(have[0]),
				   o->fingerprint) == 0 &&
		   (d->chain[0] ?
		    nhave == 1 && same_certs(st->chain, st->nchain, chave,
					     nchave) :
		    same_certs(st->chain, st->nchain, have + 1, nhave - 1))) {
		o->status = "existing";
		o->nchain = st->nchain;
	} else if (install_and_check(ctx, st, d, ko, key, cert, o) == 0) {
		o->status = "resumed";
	} else {
		/* Still valid in the ledger: a rerun installs it again. */
		size_t n = strlen(o->error);

		snprintf(o->error + n, sizeof(o->error) - n,
			 " (certificate %s stays valid for this device's key; a rerun installs it)",
			 o->cert_serial);
	}
	m2m_cert_list_free(have, nhave);
	m2m_cert_list_free(chave, nchave);
	return 1;
}

/* Nothing may be at uri unless it may be overwritten. */
static int slot_free(struct m2m_ctx *ctx, int overwrite,
		     const char *what, const char *uri,
		     const struct m2m_key_opts *ko, struct outcome *o)
{
	struct m2m_cert **have = NULL;
	size_t n = 0;
	char s[URI_SHOWN_MAX];
	enum m2m_err rc = held(ctx, uri, ko, &have, &n);

	m2m_cert_list_free(have, n);
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot read the %s location '%s'",
			     what, shown(uri, s));
		return -1;
	}
	if (n && !overwrite) {
		m2m_ctx_clear_error(ctx);
		outcome_fail(ctx, o, M2M_ERR_DUPLICATE,
			     "the device holds a %s at '%s' already (--force replaces it)",
			     what, shown(uri, s));
		return -1;
	}
	return 0;
}

/*
 * Provision one device: its key (made inside it), a request signed by it, the IDevID from the CA, certificate
 * and chain stored, read back and checked.  A failure after issuance
 * revokes the certificate (cessationOfOperation) and says so.
 */
/* The device's PPID, encoded and in o as hex: 0, or -1 with o failed. */
static int device_ppid(struct m2m_ctx *ctx, const struct device *d,
		       uint8_t *ppid, size_t size, size_t *len,
		       struct outcome *o)
{
	enum m2m_err rc = m2m_ppid_encode(ctx, &d->ppid, ppid, size, len);

	if (rc == M2M_OK)
		rc = m2m_ppid_to_hex(ctx, &d->ppid, o->ppid, sizeof(o->ppid),
				     NULL);
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "invalid PPID");
		return -1;
	}
	return 0;
}

/*
 * A new key at d->key in place of *key (freed): 0, or -1 with o failed.
 * overwrite: a key there is replaced.
 */
static int new_device_key(struct m2m_ctx *ctx, const struct station *st,
			  const struct device *d,
			  const struct m2m_key_opts *ko, int overwrite,
			  struct m2m_key **key, struct outcome *o)
{
	struct m2m_key_opts gen = *ko;
	char s[URI_SHOWN_MAX];
	enum m2m_err rc;

	m2m_key_free(*key);
	*key = NULL;
	gen.force = overwrite;
	rc = m2m_key_generate(ctx, d->key, (enum m2m_key_alg)st->alg, &gen,
			      key);
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot generate a key at '%s'",
			     shown(d->key, s));
		return -1;
	}
	return 0;
}

/*
 * After an issued certificate could not be installed: add to o's error
 * whether revoking it (revoked: the revocation's result) worked; rerun
 * ends the text of a certificate that stays valid.
 */
static void note_revocation(struct m2m_ctx *ctx, struct outcome *o,
			    enum m2m_err revoked, const char *rerun)
{
	size_t n = strlen(o->error);

	if (revoked == M2M_OK)
		snprintf(o->error + n, sizeof(o->error) - n,
			 "; certificate %s is revoked (cessationOfOperation): the device keeps its key and has no valid IDevID; a rerun with --force provisions it",
			 o->cert_serial);
	else
		snprintf(o->error + n, sizeof(o->error) - n,
			 "; certificate %s could not be revoked (%s) and stays valid for this device's key%s",
			 o->cert_serial, m2m_ctx_detail(ctx), rerun);
}

/* Nothing issued: the key made for it goes; o's error says if it cannot. */
static void remove_new_key(struct m2m_ctx *ctx, const struct device *d,
			   const struct m2m_key_opts *ko, struct outcome *o)
{
	char s[URI_SHOWN_MAX];
	size_t n;

	if (m2m_key_remove(ctx, d->key, ko) != M2M_OK) {
		n = strlen(o->error);
		snprintf(o->error + n, sizeof(o->error) - n,
			 "; the new key at '%s' could not be removed",
			 shown(d->key, s));
	}
}

/*
 * The key the device holds at d->key, or none yet (*key NULL): 0, or -1
 * with the outcome failed.
 */
static int device_key(struct m2m_ctx *ctx, const struct device *d,
		      const struct m2m_key_opts *ko, struct m2m_key **key,
		      struct outcome *o)
{
	char s[URI_SHOWN_MAX];
	enum m2m_err rc = m2m_key_load(ctx, d->key, ko, key);

	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_ctx_clear_error(ctx);
		return 0;
	}
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot load the key '%s'",
			     shown(d->key, s));
		return -1;
	}
	return 0;
}

static void provision(struct m2m_ctx *ctx, const struct station *st,
		      const struct device *d, struct outcome *o)
{
	struct m2m_key_opts ko = key_opts(st->c, 0);
	struct m2m_key *key = NULL;
	struct m2m_csr *csr = NULL;
	struct m2m_cert *recorded = NULL;
	struct m2m_cert_record rec;
	struct m2m_issue_request req;
	struct m2m_issue_result res;
	uint8_t ppid[M2M_PPID_MAX];
	size_t ppid_len = 0;
	const char *scheme = m2m_key_scheme(d->key);
	char s[URI_SHOWN_MAX];
	enum m2m_err rc;
	double start = mono_ms(), t;
	int made = 0, overwrite = st->c->force || st->replace;

	memset(o, 0, sizeof(*o));
	memset(&res, 0, sizeof(res));
	o->status = "error";
	if (d->tcti)
		ko.tcti = d->tcti;
	if (device_ppid(ctx, d, ppid, sizeof(ppid), &ppid_len, o) != 0)
		goto out;
	/* What the ledger and the device hold already. */
	rc = m2m_ledger_find_valid(ctx, m2m_ca_ledger(st->ca),
				   st->profile ? st->profile : "idevid", ppid,
				   ppid_len, &rec);
	if (rc == M2M_OK) {
		rc = m2m_cert_parse(ctx, rec.der, rec.der_len, &recorded);
	} else if (rc == M2M_ERR_NOT_FOUND) {
		m2m_ctx_clear_error(ctx);
		rc = M2M_OK;
	}
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot look the PPID up in the ledger");
		goto out;
	}
	t = mono_ms();
	if (device_key(ctx, d, &ko, &key, o) != 0)
		goto out;
	if (recorded && !st->replace &&
	    provisioned_before(ctx, st, d, &ko, key, recorded, o))
		goto out;
	if (recorded && !st->replace) {
		m2m_ctx_clear_error(ctx);
		outcome_fail(ctx, o, M2M_ERR_DUPLICATE,
			     "PPID %s already has IDevID %s for another key (--replace supersedes it)",
			     o->ppid, m2m_cert_serial(recorded));
		goto out;
	}
	/*
	 * A key there that no IDevID of this PPID is for: an occupied
	 * location, or a run that stopped before the CA issued.  Which, only
	 * the operator knows: it is replaced only when asked to.
	 */
	if (key && !overwrite) {
		m2m_ctx_clear_error(ctx);
		outcome_fail(ctx, o, M2M_ERR_DUPLICATE,
			     "the device holds a key at '%s' already, with no IDevID of PPID %s for it (--force replaces it)",
			     shown(d->key, s), o->ppid);
		goto out;
	}
	if (slot_free(ctx, overwrite, "certificate", d->cert, &ko, o) < 0 ||
	    (d->chain[0] && st->nchain &&
	     slot_free(ctx, overwrite, "chain", d->chain, &ko, o) < 0))
		goto out;
	if (new_device_key(ctx, st, d, &ko, overwrite, &key, o) != 0)
		goto out;
	made = 1;
	o->ms[STEP_KEY] = mono_ms() - t;
	t = mono_ms();
	rc = m2m_csr_make(ctx, key, NULL, &csr);
	o->ms[STEP_CSR] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot sign a request with '%s'",
			     shown(d->key, s));
		goto undo_key;
	}
	memset(&req, 0, sizeof(req));
	req.profile = st->profile;
	req.csr = csr;
	req.ppid = &d->ppid;
	req.device_serial = d->serial;
	req.replace = st->replace;
	req.tpm_resident = scheme && strcmp(scheme, "tpm2") == 0;
	t = mono_ms();
	rc = m2m_ca_issue(ctx, st->ca, &req, &res);
	o->ms[STEP_ISSUE] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "cannot issue");
		goto undo_key;
	}
	snprintf(o->cert_serial, sizeof(o->cert_serial), "%s",
		 m2m_cert_serial(res.cert));
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s",
		 m2m_cert_fingerprint(res.cert));
	snprintf(o->replaced, sizeof(o->replaced), "%s", res.replaced);
	if (install_and_check(ctx, st, d, &ko, key, res.cert, o) == 0) {
		o->status = "provisioned";
		goto out;
	}
	/* Issued but not in the device: the certificate must not stay valid. */
	note_revocation(ctx, o, m2m_ca_revoke(ctx, st->ca, o->cert_serial,
					      CRL_CESSATION, 0, NULL),
			": a rerun installs it");
	goto out;
undo_key:
	/* Nothing issued: the device goes back to how it was. */
	m2m_key_free(key);
	key = NULL;
	if (made)
		remove_new_key(ctx, d, &ko, o);
out:
	o->total_ms = mono_ms() - start;
	if (!o->status || strcmp(o->status, "error") != 0)
		o->exit = 0;
	m2m_cert_free(res.cert);
	m2m_cert_free(recorded);
	m2m_csr_free(csr);
	m2m_key_free(key);
}

/* ---- idevid --server: the same from a CA server over CMP ---------------------- */

/*
 * A device that holds a key, and at d->cert a certificate for it that
 * chains to the anchors (with the chain it holds): provisioned before.
 */
static int holds_idevid(struct m2m_ctx *ctx, const struct station *st,
			const struct device *d, const struct m2m_key_opts *ko,
			const struct m2m_key *key, struct outcome *o)
{
	struct m2m_cert **have = NULL, **chave = NULL, **chain;
	size_t nhave = 0, nchave = 0, nchain;
	int ok = 0;

	if (held(ctx, d->cert, ko, &have, &nhave) != M2M_OK ||
	    (d->chain[0] && held(ctx, d->chain, ko, &chave, &nchave) != M2M_OK))
		goto out;
	if (!nhave)
		goto out;
	chain = d->chain[0] ? chave : have + 1;
	nchain = d->chain[0] ? nchave : nhave - 1;
	if (!m2m_cert_matches_key(have[0], key) ||
	    m2m_chain_verify(ctx, have[0], chain, nchain, st->trust,
			     st->ntrust, 0) != M2M_OK)
		goto out;
	snprintf(o->cert_serial, sizeof(o->cert_serial), "%s",
		 m2m_cert_serial(have[0]));
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s",
		 m2m_cert_fingerprint(have[0]));
	o->nchain = nchain;
	o->status = "existing";
	ok = 1;
out:
	m2m_ctx_clear_error(ctx);
	m2m_cert_list_free(have, nhave);
	m2m_cert_list_free(chave, nchave);
	return ok;
}

/*
 * Provision one device from the CA server: as provision(), the request
 * being a CMP ir (or cr) for the key made in the device, carrying its
 * serial and PPID; the chain installed is the one the server's answer
 * verified with.  A certificate that is not the key's or does not chain
 * to --server-trust is refused before anything is stored.
 */
static void provision_remote(struct m2m_ctx *ctx, const struct station *st,
			     const struct device *d, struct outcome *o)
{
	struct m2m_key_opts ko = key_opts(st->c, 0);
	struct m2m_key *key = NULL;
	struct m2m_cmp_enroll req;
	struct m2m_cmp_result res;
	struct station rst;
	uint8_t ppid[M2M_PPID_MAX];
	size_t ppid_len = 0;
	char s[URI_SHOWN_MAX];
	enum m2m_err rc;
	double start = mono_ms(), t;
	int made = 0, overwrite = st->c->force;

	memset(o, 0, sizeof(*o));
	memset(&res, 0, sizeof(res));
	o->status = "error";
	if (d->tcti)
		ko.tcti = d->tcti;
	if (device_ppid(ctx, d, ppid, sizeof(ppid), &ppid_len, o) != 0)
		goto out;
	t = mono_ms();
	if (device_key(ctx, d, &ko, &key, o) != 0)
		goto out;
	if (st->use_key && !key) {
		outcome_fail(ctx, o, M2M_ERR_NOT_FOUND,
			     "no key at '%s' (--use-key requests for the key the device has)",
			     shown(d->key, s));
		goto out;
	}
	if (key && !overwrite && holds_idevid(ctx, st, d, &ko, key, o))
		goto out;
	if (key && !st->use_key && !overwrite) {
		outcome_fail(ctx, o, M2M_ERR_DUPLICATE,
			     "the device holds a key at '%s' already, with no certificate for it that chains to the anchors (--force replaces it)",
			     shown(d->key, s));
		goto out;
	}
	if (slot_free(ctx, overwrite, "certificate", d->cert, &ko, o) < 0 ||
	    (d->chain[0] &&
	     slot_free(ctx, overwrite, "chain", d->chain, &ko, o) < 0))
		goto out;
	if (!st->use_key) {
		if (new_device_key(ctx, st, d, &ko, overwrite, &key, o) != 0)
			goto out;
		made = 1;
	}
	o->ms[STEP_KEY] = mono_ms() - t;
	memset(&req, 0, sizeof(req));
	req.type = st->cr ? M2M_CMP_CR : M2M_CMP_IR;
	req.key = key;
	req.device_serial = d->serial;
	req.ppid = ppid;
	req.ppid_len = ppid_len;
	t = mono_ms();
	rc = m2m_cmp_client_enroll(ctx, st->cmp, &req, &res);
	o->ms[STEP_ISSUE] = mono_ms() - t;
	if (rc != M2M_OK) {
		outcome_fail(ctx, o, rc, "no IDevID");
		goto undo_key;
	}
	snprintf(o->cert_serial, sizeof(o->cert_serial), "%s",
		 m2m_cert_serial(res.cert));
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s",
		 m2m_cert_fingerprint(res.cert));
	rst = *st;
	rst.chain = res.chain;
	rst.nchain = res.nchain;
	if (install_and_check(ctx, &rst, d, &ko, key, res.cert, o) == 0) {
		o->status = "provisioned";
		goto out;
	}
	/* Issued but not in the device: ask the server to revoke it. */
	note_revocation(ctx, o, m2m_cmp_client_revoke(ctx, st->cmp, res.cert,
						      CRL_CESSATION), "");
	goto out;
undo_key:
	/* Nothing issued: the device goes back to how it was. */
	m2m_key_free(key);
	key = NULL;
	if (made)
		remove_new_key(ctx, d, &ko, o);
out:
	o->total_ms = mono_ms() - start;
	if (!o->status || strcmp(o->status, "error") != 0)
		o->exit = 0;
	m2m_cmp_result_release(&res);
	m2m_key_free(key);
}

/* One device's result: a JSON object or a line. */
static void print_outcome(const struct station *st, const struct device *d,
			  const struct outcome *o)
{
	char s[URI_SHOWN_MAX];
	int i;

	if (st->c->json) {
		printf("{");
		if (d->line)
			printf("\"line\":%llu,", (unsigned long long)d->line);
		printf("\"serial\":");
		json_str(d->serial ? d->serial : "");
		printf(",\"ppid\":\"%s\",\"status\":\"%s\"", o->ppid, o->status);
		if (o->cert_serial[0])
			printf(",\"certificate_serial\":\"%s\",\"fingerprint\":\"%s\"",
			       o->cert_serial, o->fingerprint);
		if (o->replaced[0])
			printf(",\"replaced\":\"%s\"", o->replaced);
		printf(",\"key\":");
		json_str(shown(d->key, s));
		printf(",\"cert\":");
		json_str(shown(d->cert, s));
		printf(",\"chain\":");
		if (d->chain[0])
			json_str(shown(d->chain, s));
		else
			printf("null");
		if (o->exit == 0)
			printf(",\"chain_certificates\":%zu", o->nchain);
		printf(",\"ms\":{");
		for (i = 0; i < NSTEP; i++)
			printf("\"%s\":%.3f,", step_name[i], o->ms[i]);
		printf("\"total\":%.3f}", o->total_ms);
		if (o->exit) {
			printf(",\"error\":");
			json_str(o->error);
		}
		printf("}\n");
		return;
	}
	if (o->exit)
		return;		/* the error line says it */
	printf("%s %s ppid %s: IDevID %s SHA-256 %s, key '%s', certificate '%s'",
	       strcmp(o->status, "existing") == 0 ? "already provisioned" :
	       o->status, d->serial ? d->serial : "-", o->ppid, o->cert_serial,
	       o->fingerprint, shown(d->key, s), shown(d->cert, s));
	if (d->chain[0])
		printf(", chain '%s'", shown(d->chain, s));
	printf(" (%zu chain certificate%s), %.1f ms\n", o->nchain,
	       o->nchain == 1 ? "" : "s", o->total_ms);
}

/*
 * The CA's chain to install, and what to check it against: --trust, else
 * the top of that chain (the root, when the CA is one).
 */
static int station_open(struct m2m_ctx *ctx, struct station *st,
			const char *ca_dir, const char *ca_passin,
			const char *ca_tcti, const char *ledger,
			const char *trust)
{
	struct m2m_key_opts kopts;
	const char *pem;
	enum m2m_err rc;

	memset(&kopts, 0, sizeof(kopts));
	kopts.pass_source = ca_passin;
	kopts.pin_source = ca_passin;
	kopts.tcti = ca_tcti;
	rc = m2m_ca_open(ctx, ca_dir, M2M_CA_NEED_KEY, &kopts, ledger, &st->ca);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot open the CA '%s'", ca_dir);
	pem = m2m_ca_chain_pem(st->ca);
	if (pem && *pem) {
		rc = m2m_cert_parse_list(ctx, pem, strlen(pem), &st->chain,
					 &st->nchain);
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "the CA's chain");
	}
	if (trust) {
		size_t n = 0;
		struct m2m_cert *list[M2M_CERT_LIST_MAX];
		int status = read_certs(ctx, "trust anchors", trust, list, &n);

		if (status)
			return status;
		st->trust = calloc(n, sizeof(*st->trust));
		if (!st->trust) {
			while (n)
				m2m_cert_free(list[--n]);
			cli_error("out of memory");
			return CLI_EXIT_SYSTEM;
		}
		memcpy(st->trust, list, n * sizeof(*list));
		st->ntrust = n;
		st->own_trust = 1;
		/* Found out now, before any device gets a certificate. */
		rc = m2m_chain_verify(ctx, m2m_ca_cert(st->ca),
				      st->nchain > 1 ? st->chain + 1 : NULL,
				      st->nchain > 1 ? st->nchain - 1 : 0,
				      st->trust, st->ntrust, 0);
		if (rc != M2M_OK)
			return cli_fail(ctx, M2M_ERR_INVALID,
					"the CA's certificate does not verify to the anchors in '%s'",
					trust);
	} else {
		st->anchor[0] = st->nchain ? st->chain[st->nchain - 1] :
			(struct m2m_cert *)m2m_ca_cert(st->ca);
		st->trust = st->anchor;
		st->ntrust = 1;
	}
	return 0;
}

static void station_close(struct station *st)
{
	if (st->own_trust)
		m2m_cert_list_free(st->trust, st->ntrust);
	m2m_cert_list_free(st->chain, st->nchain);
	m2m_ca_close(st->ca);
}

struct idevid_opts;
static int station_open_remote(struct m2m_ctx *ctx, struct station *st,
			       struct idevid_opts *io);

struct idevid_opts {
	struct common c;
	const char *ca_dir, *ca_passin, *ca_tcti, *ledger, *trust;
	const char *cert, *chain, *serial, *ppid_hex, *batch, *profile;
	const char *addr[M2M_TECH_COUNT];
	int naddr, alg, replace, cr, use_key;
	struct remote r;
};

/* --server: the anchors and the client; no CA here, no chain until issued. */
static int station_open_remote(struct m2m_ctx *ctx, struct station *st,
			       struct idevid_opts *io)
{
	int status = remote_open(ctx, &io->c, &io->r, NULL, NULL, 0);

	if (status)
		return status;
	st->cmp = io->r.cl;
	st->server = io->r.server;
	st->cr = io->cr;
	st->use_key = io->use_key;
	st->trust = io->r.anchors;
	st->ntrust = io->r.nanchors;
	return 0;
}

/* ---- idevid --batch ----------------------------------------------------------- */

enum { COL_KEY, COL_CERT, COL_CHAIN, COL_TCTI, NCOL };
static const char *const col_name[NCOL] = { "key", "cert", "chain", "tcti" };

struct line_batch {
	struct m2m_ctx *ctx;
	struct station *st;
	const char *name;
	struct m2m_lines *lines;
	struct m2m_manifest m;
	struct m2m_csv_row head, row;
	const char *names[M2M_CSV_FIELDS_MAX];
	size_t nnames;
	int json;
	int col[NCOL];
	uint64_t devices, provisioned, existing, resumed, failed;
	struct cli_progress pr;
};

static int col_index(const struct m2m_csv_row *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->field[i], name) == 0)
			return (int)i;
	return -1;
}

/* The header (CSV), or the column names of JSON lines. */
static int line_header(struct line_batch *b, const char *line, size_t len,
		       uint64_t lineno, int *first_is_row)
{
	size_t i, k;
	enum m2m_err rc;

	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	*first_is_row = i < len && line[i] == '{';
	if (*first_is_row) {
		b->json = 1;
		b->names[b->nnames++] = "serial";
		b->names[b->nnames++] = "ppid";
		for (k = 0; k < M2M_TECH_COUNT; k++)
			b->names[b->nnames++] = m2m_tech_name((enum m2m_tech)k);
		for (k = 0; k < NCOL; k++)
			b->names[b->nnames++] = col_name[k];
		b->head.n = b->nnames;
		for (k = 0; k < b->nnames; k++) {
			b->head.field[k] = b->names[k];
			b->head.len[k] = strlen(b->names[k]);
		}
		rc = M2M_OK;
	} else {
		rc = m2m_csv_split(b->ctx, &b->head, line, len);
	}
	if (rc == M2M_OK)
		rc = m2m_manifest_header(b->ctx, &b->m, &b->head);
	if (rc != M2M_OK)
		return cli_fail(b->ctx, rc, "%s:%llu", b->name,
				(unsigned long long)lineno);
	for (k = 0; k < NCOL; k++)
		b->col[k] = col_index(&b->head, col_name[k]);
	if (b->col[COL_KEY] < 0) {
		cli_error("%s:%llu: header: no 'key' column", b->name,
			  (unsigned long long)lineno);
		return CLI_EXIT_INPUT;
	}
	for (i = 0; i < b->head.n; i++) {
		int known = 0;

		if (!(b->m.ignored >> i & 1))
			continue;
		for (k = 0; k < NCOL; k++)
			known |= (int)i == b->col[k];
		if (!known)
			cli_warn("%s:%llu: ignoring column '%s'", b->name,
				 (unsigned long long)lineno, b->head.field[i]);
	}
	return 0;
}

static const char *cell(const struct line_batch *b, int col)
{
	return b->col[col] >= 0 && b->row.len[b->col[col]] ?
	       b->row.field[b->col[col]] : NULL;
}

/* One manifest line: a device provisioned, or its failure reported. */
static void line_device(struct line_batch *b, const char *line, size_t len,
			uint64_t lineno, enum m2m_err read_rc)
{
	struct m2m_device dev;
	struct device d;
	struct outcome o;
	const char *why;
	enum m2m_err rc = read_rc;

	memset(&d, 0, sizeof(d));
	memset(&o, 0, sizeof(o));
	d.line = lineno;
	dev.serial[0] = '\0';
	b->devices++;
	if (rc == M2M_OK)
		rc = b->json ? m2m_json_split(b->ctx, &b->row, line, len,
					      b->names, b->nnames) :
		     m2m_csv_split(b->ctx, &b->row, line, len);
	if (rc == M2M_OK)
		rc = m2m_manifest_row(b->ctx, &b->m, &b->row, &dev);
	d.serial = dev.serial;
	if (rc != M2M_OK) {
		outcome_fail(b->ctx, &o, rc, "invalid row");
	} else if (!cell(b, COL_KEY)) {
		m2m_ctx_clear_error(b->ctx);
		outcome_fail(b->ctx, &o, M2M_ERR_INVALID,
			     "column 'key': the device's key location is empty");
	} else if ((why = device_locations(&d, cell(b, COL_KEY),
					   cell(b, COL_CERT),
					   cell(b, COL_CHAIN))) != NULL) {
		m2m_ctx_clear_error(b->ctx);
		outcome_fail(b->ctx, &o, M2M_ERR_INVALID, "%s", why);
	} else {
		d.ppid = dev.ppid;
		d.tcti = cell(b, COL_TCTI);
		(b->st->cmp ? provision_remote : provision)(b->ctx, b->st, &d,
							    &o);
	}
	if (o.exit) {
		b->failed++;
		cli_error("%s:%llu: %s%s%s", b->name, (unsigned long long)lineno,
			  d.serial[0] ? d.serial : "", d.serial[0] ? ": " : "",
			  o.error);
	} else if (strcmp(o.status, "existing") == 0) {
		b->existing++;
	} else if (strcmp(o.status, "resumed") == 0) {
		b->resumed++;
	} else {
		b->provisioned++;
	}
	print_outcome(b->st, &d, &o);
	fflush(stdout);
	cli_progress_update(&b->pr, b->devices, b->failed);
}

static int idevid_batch(struct m2m_ctx *ctx, struct station *st,
			const struct idevid_opts *io)
{
	struct line_batch *b = calloc(1, sizeof(*b));
	const char *line;
	size_t len;
	uint64_t lineno;
	double start = mono_ms();
	enum m2m_err rc;
	int fd = -1, status, first_is_row = 0;

	if (!b) {
		cli_error("out of memory");
		return CLI_EXIT_SYSTEM;
	}
	b->ctx = ctx;
	b->st = st;
	b->name = strcmp(io->batch, "-") ? io->batch : "<stdin>";
	fd = cli_open_input(io->batch);
	if (fd < 0) {
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	rc = m2m_lines_new_fd(ctx, &b->lines, fd);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot read '%s'", b->name);
		goto out;
	}
	status = cli_manifest_start(ctx, b->lines, b->name, &line, &len,
				    &lineno);
	if (status == 0)
		status = line_header(b, line, len, lineno, &first_is_row);
	if (status)
		goto out;
	cli_progress_start(&b->pr, "devices", 0);
	if (first_is_row)
		line_device(b, line, len, lineno, M2M_OK);
	for (;;) {
		rc = m2m_lines_next(ctx, b->lines, &line, &len, &lineno);
		if (rc == M2M_ERR_INVALID) {
			line_device(b, NULL, 0, lineno, rc);
			continue;
		}
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot read '%s'", b->name);
			break;
		}
		if (!line)
			break;
		if (len == strspn(line, " \t"))
			continue;	/* blank */
		line_device(b, line, len, lineno, M2M_OK);
	}
	cli_progress_end(&b->pr, b->devices, b->failed);
	if (st->c->json)
		printf("{\"summary\":{\"devices\":%llu,\"provisioned\":%llu,\"existing\":%llu,\"resumed\":%llu,\"failed\":%llu,\"seconds\":%.3f}}\n",
		       (unsigned long long)b->devices,
		       (unsigned long long)b->provisioned,
		       (unsigned long long)b->existing,
		       (unsigned long long)b->resumed,
		       (unsigned long long)b->failed,
		       (mono_ms() - start) / 1e3);
	else
		printf("%llu devices: %llu provisioned, %llu already provisioned, %llu resumed, %llu failed, %.1f s\n",
		       (unsigned long long)b->devices,
		       (unsigned long long)b->provisioned,
		       (unsigned long long)b->existing,
		       (unsigned long long)b->resumed,
		       (unsigned long long)b->failed,
		       (mono_ms() - start) / 1e3);
	if (status == 0 && b->failed)
		status = CLI_EXIT_INPUT;
	status = cli_finish_stdout(status);
out:
	m2m_lines_free(b->lines);
	if (fd > STDIN_FILENO)
		close(fd);
	free(b);
	return status;
}

/* ---- idevid: the command ------------------------------------------------------ */

static int cmd_idevid(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct idevid_opts io;
	struct station st;
	struct device d;
	struct outcome o;
	const char *why;
	enum m2m_err rc;
	int opt, t, status;

	memset(&io, 0, sizeof(io));
	memset(&st, 0, sizeof(st));
	io.alg = M2M_KEY_EC_P256;
	io.ca_dir = getenv("M2M_CA");
	cli_parser_init(&p, &idevid_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (common_opt(&io.c, opt, p.optarg) ||
		    remote_opt(&io.r, opt, p.optarg))
			continue;
		if (opt >= OPT_TECH && opt < OPT_TECH + M2M_TECH_COUNT) {
			t = opt - OPT_TECH;
			if (io.addr[t])
				cli_usage_error("option '--%s' given twice",
						m2m_tech_name(t));
			io.addr[t] = p.optarg;
			io.naddr++;
			continue;
		}
		switch (opt) {
		case OPT_CA: io.ca_dir = p.optarg; break;
		case OPT_CA_PASSIN:
			warn_pass("--ca-passin", p.optarg);
			io.ca_passin = p.optarg;
			break;
		case OPT_CA_TCTI: io.ca_tcti = p.optarg; break;
		case OPT_LEDGER: io.ledger = p.optarg; break;
		case OPT_TRUST: io.trust = p.optarg; break;
		case OPT_CERT:
			warn_pin("--cert", p.optarg);
			io.cert = p.optarg;
			break;
		case OPT_CHAIN:
			warn_pin("--chain", p.optarg);
			io.chain = p.optarg;
			break;
		case OPT_SERIAL: io.serial = p.optarg; break;
		case OPT_PPID: io.ppid_hex = p.optarg; break;
		case OPT_BATCH: io.batch = p.optarg; break;
		case OPT_PROFILE: io.profile = p.optarg; break;
		case OPT_REPLACE: io.replace = 1; break;
		case OPT_CR: io.cr = 1; break;
		case OPT_USE_KEY: io.use_key = 1; break;
		case OPT_ALGORITHM:
			io.alg = m2m_key_alg_lookup(p.optarg);
			if (io.alg < 0 || io.alg == M2M_KEY_ED25519)
				cli_usage_error("unknown algorithm '%s' (ec-p256, ec-p384, rsa2048, rsa3072)",
						p.optarg);
			break;
		}
	}
	no_operands(&p);
	remote_check(&io.r, 1, 0);
	if (io.r.server) {
		if (io.ca_dir && io.ca_dir != getenv("M2M_CA"))
			cli_usage_error("give either --ca DIR or --server URL, not both");
		if (io.ca_passin || io.ca_tcti || io.ledger || io.profile ||
		    io.replace || io.trust)
			cli_usage_error("--ca-passin, --ca-tcti, --ledger, --profile, --replace and --trust go with --ca (with --server, the URL names the profile and --server-trust the anchors)");
		io.ca_dir = NULL;
	} else if (io.cr || io.use_key) {
		cli_usage_error("--cr and --use-key go with --server");
	}
	if (!io.ca_dir && !io.r.server)
		cli_usage_error("idevid needs --ca DIR (or $M2M_CA) or --server URL");
	if (io.batch) {
		if (io.c.key || io.cert || io.chain || io.serial ||
		    io.ppid_hex || io.naddr)
			cli_usage_error("--batch takes keys, locations, serials and PPIDs from the manifest");
	} else {
		if (!io.c.key)
			cli_usage_error("idevid needs --key URI (or --batch MANIFEST)");
		if (!io.serial)
			cli_usage_error("idevid needs --serial SN");
		if (!io.ppid_hex && !io.naddr)
			cli_usage_error("idevid needs --ppid HEX or the device's addresses");
		if (io.ppid_hex && io.naddr)
			cli_usage_error("give either --ppid or addresses, not both");
	}
	memset(&d, 0, sizeof(d));
	if (!io.batch) {
		why = device_locations(&d, io.c.key, io.cert, io.chain);
		if (why)
			cli_usage_error("%s", why);
		d.serial = io.serial;
		rc = m2m_device_serial_check(ctx, io.serial, strlen(io.serial));
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "invalid --serial");
		m2m_ppid_init(&d.ppid);
		if (io.ppid_hex) {
			rc = m2m_ppid_decode_hex(ctx, &d.ppid, io.ppid_hex,
						 strlen(io.ppid_hex));
			if (rc != M2M_OK)
				return cli_fail(ctx, rc, "invalid --ppid");
		}
		for (t = 0; t < M2M_TECH_COUNT; t++) {
			if (!io.addr[t])
				continue;
			rc = m2m_ppid_set_text(ctx, &d.ppid, t, io.addr[t],
					       strlen(io.addr[t]));
			if (rc != M2M_OK)
				return cli_fail(ctx, rc, "invalid --%s address",
						m2m_tech_name(t));
		}
	}
	st.c = &io.c;
	st.profile = io.profile;
	st.alg = io.alg;
	st.replace = io.replace;
	if (io.r.server)
		status = station_open_remote(ctx, &st, &io);
	else
		status = station_open(ctx, &st, io.ca_dir, io.ca_passin,
				      io.ca_tcti, io.ledger, io.trust);
	if (status)
		goto out;
	if (io.batch) {
		status = idevid_batch(ctx, &st, &io);
		goto out;
	}
	(st.cmp ? provision_remote : provision)(ctx, &st, &d, &o);
	if (o.exit) {
		cli_error("%s: %s", io.serial, o.error);
		if (io.c.json)
			print_outcome(&st, &d, &o);
		status = cli_finish_stdout(o.exit);
		goto out;
	}
	print_outcome(&st, &d, &o);
	status = cli_finish_stdout(CLI_EXIT_OK);
out:
	station_close(&st);
	remote_close(&io.r);
	return status;
}

/* ---- main ------------------------------------------------------------------ */

static const struct cli_subcommand subcommands[] = {
	{ "keygen", cmd_keygen, &keygen_cmd },
	{ "csr", cmd_csr, &csr_cmd },
	{ "install", cmd_install, &install_cmd },
	{ "show", cmd_show, &show_cmd },
	{ "idevid", cmd_idevid, &idevid_cmd },
	{ "ldevid", cmd_ldevid, &ldevid_cmd },
	{ "renew", cmd_renew, &renew_cmd },
	{ "revoke", cmd_revoke, &revoke_cmd },
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
