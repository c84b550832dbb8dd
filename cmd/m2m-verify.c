/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m2m-verify: the auditor's tool.  Certificate chains, the 802.1AR
 * profile, PPIDs and revocation; a live device's possession of its key;
 * the integrity of a CA's ledger.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <m2m/ca.h>
#include <m2m/cert.h>
#include <m2m/certstream.h>
#include <m2m/ctx.h>
#include <m2m/hex.h>
#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/lint.h>
#include <m2m/ppid.h>
#include <m2m/verify.h>

#include "cli.h"

enum {
	OPT_TRUST = 1, OPT_UNTRUSTED, OPT_CRL, OPT_OCSP, OPT_REVOCATION,
	OPT_AT, OPT_PURPOSE, OPT_PROFILE, OPT_IGNORE_EXPIRY, OPT_EXPECT_PPID,
	OPT_EXPECT_SERIAL, OPT_FROM_LEDGER, OPT_JOBS, OPT_JSON, OPT_LIST,
	OPT_KEY, OPT_CERT, OPT_PASSIN, OPT_TCTI, OPT_LEDGER, OPT_TECH = 100
};

#define SHOWN_MAX 4096	/* a location as messages show it */

static const char *const usage_verify[] = {
	"m2m-verify --trust FILE|DIR [--untrusted FILE] [--crl FILE ...] [--ocsp-response FILE ...] [--revocation MODE] [--at TIME] [--purpose PURPOSE] [--profile PROFILE] [--ignore-expiry] [--expect-ppid HEX | --TECHNOLOGY ADDRESS ...] [--expect-serial SN] [--jobs N] [--json] CERT|DIR ...",
	"m2m-verify --trust FILE|DIR --from-ledger CADIR ...",
	"m2m-verify lint [--profile PROFILE] [--json] CERT|DIR ...",
	"m2m-verify lint --list [--json]",
	"m2m-verify device --key URI --cert URI --trust FILE|DIR [--passin SOURCE] [--tcti CONFIG] ...",
	"m2m-verify ledger [--ledger LOCATION] [--json] CADIR",
	NULL
};
static const char *const usage_lint[] = {
	"m2m-verify lint [--profile PROFILE] [--json] CERT|DIR ...",
	"m2m-verify lint --list [--json]",
	NULL
};
static const char *const usage_device[] = {
	"m2m-verify device --key URI --cert URI --trust FILE|DIR [--passin SOURCE] [--tcti CONFIG] ...",
	NULL
};
static const char *const usage_ledger[] = {
	"m2m-verify ledger [--ledger LOCATION] [--json] CADIR",
	NULL
};

/* The verification options the default form and device share. */
#define VERIFY_OPTIONS \
	{ OPT_TRUST, "trust", 0, "FILE|DIR", "trust anchors: PEM or DER certificates, or a directory of them" }, \
	{ OPT_UNTRUSTED, "untrusted", 0, "FILE|DIR", "intermediate CA certificates (repeatable)" }, \
	{ OPT_CRL, "crl", 0, "FILE", "CRLs, full or delta, PEM or DER (repeatable)" }, \
	{ OPT_OCSP, "ocsp-response", 0, "FILE", "a DER OCSP response (repeatable)" }, \
	{ OPT_REVOCATION, "revocation", 0, "MODE", "prefer (default), require or none" }, \
	{ OPT_AT, "at", 0, "TIME", "verify as of TIME: YYYY-MM-DD[THH:MM:SSZ] or @SECONDS" }, \
	{ OPT_PURPOSE, "purpose", 0, "PURPOSE", "clientAuth, serverAuth or any (default)" }, \
	{ OPT_PROFILE, "profile", 0, "PROFILE", "idevid, ldevid, ca or any (default: as it looks)" }, \
	{ OPT_IGNORE_EXPIRY, "ignore-expiry", 0, NULL, "accept an expired certificate (not an expired CA)" }, \
	{ OPT_EXPECT_PPID, "expect-ppid", 0, "HEX", "the PPID the certificate must carry" }, \
	{ OPT_EXPECT_SERIAL, "expect-serial", 0, "SN", "the subject serialNumber it must have" }

static const struct cli_option verify_options[] = {
	VERIFY_OPTIONS,
	{ OPT_FROM_LEDGER, "from-ledger", 0, "CADIR", "verify every certificate in this CA's ledger" },
	{ OPT_JOBS, "jobs", 'j', "N", "verify with N threads (default 1)" },
	{ OPT_JSON, "json", 0, NULL, "one JSON object per certificate" },
	{ 0, NULL, 0, NULL, "Expected device addresses (instead of --expect-ppid):" },
	CLI_TECH_OPTIONS(OPT_TECH),
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_option lint_options[] = {
	{ OPT_PROFILE, "profile", 0, "PROFILE", "idevid, ldevid, ca or any (default: as it looks)" },
	{ OPT_LIST, "list", 0, NULL, "list every rule instead" },
	{ OPT_JSON, "json", 0, NULL, "one JSON object per certificate or rule" },
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_option device_options[] = {
	{ OPT_KEY, "key", 0, "URI", "the device's key: file:, pkcs11: or tpm2:" },
	{ OPT_CERT, "cert", 0, "URI", "the device's certificate and chain" },
	{ OPT_PASSIN, "passin", 0, "SOURCE", "file key passphrase, token PIN: pass:, env:, file:, fd:" },
	{ OPT_TCTI, "tcti", 0, "CONFIG", "TPM TCTI (default: $M2M_TCTI, else tpm2-tss's)" },
	VERIFY_OPTIONS,
	{ OPT_JSON, "json", 0, NULL, "print the verdict as JSON" },
	{ 0, NULL, 0, NULL, "Expected device addresses (instead of --expect-ppid):" },
	CLI_TECH_OPTIONS(OPT_TECH),
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_option ledger_options[] = {
	{ OPT_LEDGER, "ledger", 0, "LOCATION", "check this ledger instead of the configured one" },
	{ OPT_JSON, "json", 0, NULL, "print the verdict as JSON" },
	{ 0, NULL, 0, NULL, NULL }
};

static const struct cli_command verify_cmd = { usage_verify,
	"Verify certificates against trust anchors: the path (RFC 5280, strict),\n"
	"the IEEE 802.1AR profile, the PPID and revocation.  One verdict line per\n"
	"certificate; exit 0 only if every one verifies.  See m2m-verify(1).",
	verify_options };
static const struct cli_command lint_cmd = { usage_lint,
	"Check certificates against the IDevID, LDevID or CA profile and the\n"
	"RFC 5280 encoding rules, each a named rule with a severity.",
	lint_options };
static const struct cli_command device_cmd = { usage_device,
	"Challenge a live device: its key signs a fresh nonce, checked with its\n"
	"certificate's public key; then the certificate is verified.",
	device_options };
static const struct cli_command ledger_cmd = { usage_ledger,
	"Check a CA's ledger: the audit log's hash chain, every record against\n"
	"its certificate, uniqueness, and the CRLs against the revocations.",
	ledger_options };

/* ---- shared ------------------------------------------------------------------ */

struct vopts {
	struct m2m_verify_opts o;
	const char **trust, **untrusted, **crls, **ocsps;
	size_t ntrust, nuntrusted, ncrls, nocsps;
	const char *expect_ppid_hex;
	const char *addr[M2M_TECH_COUNT];
	int naddr;
	uint8_t ppid[M2M_PPID_MAX];
	int json;
};

static void push(const char ***list, size_t *n, const char *v)
{
	const char **more = realloc(*list, (*n + 1) * sizeof(**list));

	if (!more) {
		cli_error("out of memory");
		exit(CLI_EXIT_SYSTEM);
	}
	*list = more;
	(*list)[(*n)++] = v;
}

static void vopts_release(struct vopts *v)
{
	free(v->trust);
	free(v->untrusted);
	free(v->crls);
	free(v->ocsps);
}

/* "2026-01-02", "2026-01-02T03:04:05Z" or "@SECONDS" as seconds. */
static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v;

	if (s[0] == '@') {
		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end || v <= 0)
			return -1;
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end) {
		end = strptime(end, "T%H:%M:%SZ", &tm);
		if (!end || *end)
			return -1;
	}
	*out = (int64_t)timegm(&tm);
	return *out > 0 ? 0 : -1;
}

/* --profile's argument (exits 2 if it is none). */
static enum m2m_lint_profile profile_arg(const char *arg)
{
	int n = m2m_lint_profile_lookup(arg);

	if (n < 0 || strcmp(arg, "auto") == 0)
		cli_usage_error("--profile must be idevid, ldevid, ca or any, not '%s'",
				arg);
	return (enum m2m_lint_profile)n;
}

/* Take an option of VERIFY_OPTIONS or a technology; nonzero if it was one. */
static int verify_opt(struct vopts *v, int opt, const char *arg)
{
	if (cli_tech_option(v->addr, OPT_TECH, opt, arg, &v->naddr))
		return 1;
	switch (opt) {
	case OPT_TRUST:
		push(&v->trust, &v->ntrust, arg);
		return 1;
	case OPT_UNTRUSTED:
		push(&v->untrusted, &v->nuntrusted, arg);
		return 1;
	case OPT_CRL:
		push(&v->crls, &v->ncrls, arg);
		return 1;
	case OPT_OCSP:
		push(&v->ocsps, &v->nocsps, arg);
		return 1;
	case OPT_REVOCATION:
		if (strcmp(arg, "prefer") == 0)
			v->o.revocation = M2M_REVOCATION_PREFER;
		else if (strcmp(arg, "require") == 0)
			v->o.revocation = M2M_REVOCATION_REQUIRE;
		else if (strcmp(arg, "none") == 0)
			v->o.revocation = M2M_REVOCATION_NONE;
		else
			cli_usage_error("--revocation must be prefer, require or none, not '%s'",
					arg);
		return 1;
	case OPT_AT:
		if (parse_time(arg, &v->o.at) < 0)
			cli_usage_error("--at '%s' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS",
					arg);
		return 1;
	case OPT_PURPOSE:
		if (strcmp(arg, "clientAuth") == 0)
			v->o.purpose = M2M_PURPOSE_CLIENT;
		else if (strcmp(arg, "serverAuth") == 0)
			v->o.purpose = M2M_PURPOSE_SERVER;
		else if (strcmp(arg, "any") == 0)
			v->o.purpose = M2M_PURPOSE_ANY;
		else
			cli_usage_error("--purpose must be clientAuth, serverAuth or any, not '%s'",
					arg);
		return 1;
	case OPT_PROFILE:
		v->o.profile = profile_arg(arg);
		return 1;
	case OPT_IGNORE_EXPIRY:
		v->o.ignore_expiry = 1;
		return 1;
	case OPT_EXPECT_PPID:
		v->expect_ppid_hex = arg;
		return 1;
	case OPT_EXPECT_SERIAL:
		v->o.expect_serial = arg;
		return 1;
	case OPT_JSON:
		v->json = 1;
		return 1;
	}
	return 0;
}

/* The expected PPID, from --expect-ppid or addresses: 0 or a status. */
static int expected_ppid(struct m2m_ctx *ctx, struct vopts *v)
{
	struct m2m_ppid p;
	size_t n = 0;
	enum m2m_err rc;
	int status;

	if (v->expect_ppid_hex && v->naddr)
		cli_usage_error("--expect-ppid cannot be combined with technology options");
	if (v->o.expect_serial &&
	    m2m_device_serial_check(ctx, v->o.expect_serial,
				    strlen(v->o.expect_serial)) != M2M_OK)
		return cli_fail(ctx, M2M_ERR_INVALID, "invalid --expect-serial");
	if (v->expect_ppid_hex) {
		rc = m2m_ppid_decode_hex(ctx, &p, v->expect_ppid_hex,
					 strlen(v->expect_ppid_hex));
		if (rc != M2M_OK)
			return cli_fail(ctx, rc, "invalid --expect-ppid");
	} else if (v->naddr) {
		status = cli_tech_ppid(ctx, v->addr, &p);
		if (status)
			return status;
	} else {
		return 0;
	}
	rc = m2m_ppid_encode(ctx, &p, v->ppid, sizeof(v->ppid), &n);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot encode the expected PPID");
	v->o.expect_ppid = v->ppid;
	v->o.expect_ppid_len = n;
	return 0;
}

/* A verifier with every --trust, --untrusted, --crl and --ocsp-response. */
static int make_verifier(struct m2m_ctx *ctx, struct vopts *v,
			 struct m2m_verifier **out)
{
	struct m2m_verifier *ver = NULL;
	enum m2m_err rc;
	size_t i;
	int status;

	*out = NULL;
	if (!v->ntrust)
		cli_usage_error("no trust anchor: give --trust FILE|DIR");
	status = expected_ppid(ctx, v);
	if (status)
		return status;
	rc = m2m_verifier_new(ctx, &v->o, &ver);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot start verifying");
	for (i = 0; i < v->ntrust; i++) {
		rc = m2m_verifier_add_certs(ctx, ver, v->trust[i], 1);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot read the trust anchors");
			goto fail;
		}
	}
	if (!m2m_verifier_anchors(ver)) {
		cli_error("no trust anchor in %s", v->trust[0]);
		status = CLI_EXIT_INPUT;
		goto fail;
	}
	for (i = 0; i < v->nuntrusted; i++) {
		rc = m2m_verifier_add_certs(ctx, ver, v->untrusted[i], 0);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot read the intermediate certificates");
			goto fail;
		}
	}
	for (i = 0; i < v->ncrls; i++) {
		rc = m2m_verifier_add_crls(ctx, ver, v->crls[i]);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot use the CRL");
			goto fail;
		}
	}
	for (i = 0; i < v->nocsps; i++) {
		rc = m2m_verifier_add_ocsp(ctx, ver, v->ocsps[i]);
		if (rc != M2M_OK) {
			status = cli_fail(ctx, rc, "cannot use the OCSP response");
			goto fail;
		}
	}
	*out = ver;
	return 0;
fail:
	m2m_verifier_free(ver);
	return status;
}

static void json_str(const char *s)
{
	cli_json_string(stdout, s, strlen(s));
}

static void json_str_or_null(const char *s)
{
	if (s && *s)
		json_str(s);
	else
		fputs("null", stdout);
}

static void json_time(int64_t t)
{
	char buf[CLI_TIME_MAX];

	printf("\"%s\"", cli_iso_time(t, buf));
}

static void json_findings(const struct m2m_lint_report *l)
{
	size_t i;

	printf("\"profile\":\"%s\",\"errors\":%u,\"warnings\":%u,\"notices\":%u,\"findings\":[",
	       m2m_lint_profile_name(l->profile), l->errors, l->warnings,
	       l->notices);
	for (i = 0; i < l->n; i++) {
		printf("%s{\"id\":\"%s\",\"severity\":\"%s\",\"detail\":",
		       i ? "," : "", l->f[i].rule->id,
		       m2m_lint_severity_name(l->f[i].rule->severity));
		json_str(l->f[i].detail);
		putchar('}');
	}
	putchar(']');
}

static void json_devid(struct m2m_ctx *ctx, const struct m2m_devid_info *d)
{
	char buf[M2M_PPID_JSON_MAX];

	fputs(",\"hw_type\":", stdout);
	json_str_or_null(d->hw_type);
	fputs(",\"ppid\":", stdout);
	if (d->has_ppid &&
	    m2m_ppid_json_members(ctx, &d->ppid, buf, sizeof(buf), NULL) == M2M_OK)
		printf("{%s}", buf);
	else
		fputs("null", stdout);
	fputs(",\"serial_number\":", stdout);
	json_str_or_null(d->serial_number);
}

/* The members of one verdict object, after "{" and the caller's first. */
static void json_result(struct m2m_ctx *ctx, const struct m2m_verify_result *r)
{
	const char *reason = m2m_crl_reason_name(r->revocation_reason);
	size_t i;

	printf(",\"verdict\":\"%s\",\"check\":", r->ok ? "ok" : "fail");
	json_str_or_null(r->check);
	fputs(",\"reason\":", stdout);
	json_str_or_null(r->ok ? NULL : r->reason);
	fputs(",\"subject\":", stdout);
	json_str(r->subject);
	fputs(",\"issuer\":", stdout);
	json_str(r->issuer);
	printf(",\"serial\":\"%s\",\"fingerprint\":\"%s\",\"not_before\":",
	       r->serial, r->fingerprint);
	json_time(r->not_before);
	fputs(",\"not_after\":", stdout);
	json_time(r->not_after);
	printf(",\"expired\":%s,\"chain\":[", r->expired ? "true" : "false");
	for (i = 0; i < r->chain_len; i++) {
		printf("%s{\"subject\":", i ? "," : "");
		json_str(r->chain[i].subject);
		printf(",\"fingerprint\":\"%s\"}", r->chain[i].fingerprint);
	}
	fputs("],", stdout);
	json_findings(&r->lint);
	json_devid(ctx, &r->lint.devid);
	printf(",\"revocation\":{\"status\":\"%s\",\"source\":",
	       m2m_revocation_status_name(r->revocation));
	json_str_or_null(r->revocation_source);
	fputs(",\"revoked_at\":", stdout);
	if (r->revocation == M2M_REV_REVOKED && r->revoked_at)
		json_time(r->revoked_at);
	else
		fputs("null", stdout);
	fputs(",\"reason\":", stdout);
	json_str_or_null(r->revocation == M2M_REV_REVOKED ? reason : NULL);
	fputs(",\"note\":", stdout);
	json_str_or_null(r->revocation == M2M_REV_GOOD ||
			 r->revocation == M2M_REV_REVOKED ? NULL :
			 r->revocation_note);
	fputs("}", stdout);
}

/* "NAME: ok" or "NAME: fail CHECK: REASON", the verdict line. */
static void human_result(const char *name, const struct m2m_verify_result *r,
			 const char *extra)
{
	char t[CLI_TIME_MAX];

	if (!r->ok)
		printf("%s: fail %s: %s\n", name, r->check, r->reason);
	else if (r->expired)
		printf("%s: ok (expired at %s, ignored)%s\n", name,
		       cli_iso_time(r->not_after, t), extra ? extra : "");
	else
		printf("%s: ok%s\n", name, extra ? extra : "");
}

/* ---- batches ------------------------------------------------------------------- */

struct batch {
	struct m2m_ctx *ctx;
	int json;
	uint64_t certs, ok, failed, unreadable;
	struct cli_progress pr;
};

/* The name a certificate goes by: FILE, FILE#N for the N-th (N > 1). */
static const char *item_name(const char *source, uint64_t index, char *buf,
			     size_t size)
{
	if (index <= 1 && strncmp(source, "ledger:", 7) != 0)
		return source;
	snprintf(buf, size, "%s#%llu", source, (unsigned long long)index);
	return buf;
}

static enum m2m_err verified(void *arg, const struct m2m_verify_job *j)
{
	struct batch *b = arg;
	char buf[SHOWN_MAX];
	const char *name = item_name(j->source, j->index, buf, sizeof(buf));
	if (j->err != M2M_OK) {
		b->unreadable++;
		cli_error("'%s': %s", name, j->detail);
		return j->err == M2M_ERR_INVALID || j->err == M2M_ERR_UNSUPPORTED ?
		       M2M_OK : j->err;
	}
	b->certs++;
	if (j->res.ok)
		b->ok++;
	else
		b->failed++;
	if (b->json) {
		fputs("{\"source\":", stdout);
		json_str(j->source);
		printf(",\"index\":%llu", (unsigned long long)j->index);
		json_result(b->ctx, &j->res);
		fputs("}\n", stdout);
	} else {
		human_result(name, &j->res, NULL);
	}
	cli_progress_update(&b->pr, b->certs + b->unreadable,
			    b->failed + b->unreadable);
	if (ferror(stdout))
		return M2M_ERR_IO;
	return M2M_OK;
}

/*
 * What is done with each certificate of the operands: 0 to go on, or an
 * exit status >= CLI_EXIT_SYSTEM to stop the run.
 */
typedef int (*cert_fn)(void *arg, const uint8_t *der, size_t len,
		       const char *source, uint64_t index);

/*
 * Every certificate of one file ("-": standard input) to fn.  Returns 0,
 * 1 if the file could not be read whole (said on stderr), or fn's status.
 */
static int each_in_file(struct m2m_ctx *ctx, const char *path, cert_fn fn,
			void *arg)
{
	struct m2m_certstream *s = NULL;
	const uint8_t *der;
	size_t len;
	enum m2m_err rc;
	int status = 0;

	rc = m2m_certstream_open(ctx, path, NULL, M2M_CERT_MAX, &s);
	if (rc != M2M_OK) {
		cli_error("%s", m2m_ctx_detail(ctx));
		return rc == M2M_ERR_NOMEM ? CLI_EXIT_SYSTEM : 1;
	}
	while (!status) {
		rc = m2m_certstream_next(ctx, s, &der, &len);
		if (rc != M2M_OK) {
			cli_fail(ctx, rc, "'%s'", m2m_certstream_name(s));
			status = rc == M2M_ERR_NOMEM ? CLI_EXIT_SYSTEM : 1;
			break;
		}
		if (!der)
			break;
		status = fn(arg, der, len, m2m_certstream_name(s),
			    m2m_certstream_count(s));
	}
	m2m_certstream_free(s);
	return status;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The regular files directly in dir, not starting with '.', sorted, into
 * *out (free each, then the array).  Returns their number, or -1 after
 * printing why the directory cannot be read.
 */
static long dir_files(const char *dir, char ***out)
{
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	char **names = NULL, **more, *path;
	size_t n = 0, cap = 0, len;

	*out = NULL;
	if (!d) {
		cli_error("cannot read '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		len = strlen(dir) + strlen(de->d_name) + 2;
		path = malloc(len);
		if (!path)
			goto nomem;
		snprintf(path, len, "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			more = realloc(names, cap * sizeof(*names));
			if (!more) {
				free(path);
				goto nomem;
			}
			names = more;
		}
		names[n++] = path;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	return (long)n;
nomem:
	closedir(d);
	while (n)
		free(names[--n]);
	free(names);
	cli_error("out of memory");
	return -1;
}

/*
 * Every certificate of an operand to fn: a file, "-", or the files of a
 * directory.  Inputs that cannot be read are said on stderr and counted
 * in *unreadable.  Returns 0, or fn's status that stopped the run.
 */
static int each_in_operand(struct m2m_ctx *ctx, const char *path, cert_fn fn,
			   void *arg, uint64_t *unreadable)
{
	struct stat st;
	char **files = NULL;
	long n, i;
	int r, status = 0;

	if (strcmp(path, "-") == 0 || stat(path, &st) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		r = each_in_file(ctx, path, fn, arg);
		if (r == 1)
			++*unreadable;
		return r > 1 ? r : 0;
	}
	n = dir_files(path, &files);
	if (n <= 0) {
		if (n == 0)
			cli_error("'%s' holds no certificate file", path);
		++*unreadable;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!status) {
			r = each_in_file(ctx, files[i], fn, arg);
			if (r == 1)
				++*unreadable;
			else if (r > 1)
				status = r;
		}
		free(files[i]);
	}
	free(files);
	return status;
}

struct pool_feed {
	struct m2m_ctx *ctx;
	struct m2m_verify_pool *pool;
};

static int to_pool(void *arg, const uint8_t *der, size_t len,
		   const char *source, uint64_t index)
{
	struct pool_feed *f = arg;
	enum m2m_err rc = m2m_verify_pool_add(f->ctx, f->pool, der, len,
					      source, index);

	return rc == M2M_OK ? 0 : cli_fail(f->ctx, rc, "cannot verify");
}

struct ledger_feed {
	struct m2m_ctx *ctx;
	struct m2m_verify_pool *pool;
	const char *source;
	uint64_t n;
};

static enum m2m_err ledger_one(void *arg, const struct m2m_cert_record *r)
{
	struct ledger_feed *f = arg;

	return m2m_verify_pool_add(f->ctx, f->pool, r->der, r->der_len,
				   f->source, ++f->n);
}

/* The CA of dir: its certificate and chain become intermediates. */
static int ledger_ca(struct m2m_ctx *ctx, struct m2m_verifier *v,
		     const char *dir, struct m2m_ca **out)
{
	struct m2m_cert **chain = NULL;
	const char *pem;
	size_t n = 0, i;
	enum m2m_err rc;

	rc = m2m_ca_open(ctx, dir, M2M_CA_READONLY, NULL, NULL, out);
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot open the CA");
	rc = m2m_verifier_add_cert(ctx, v, m2m_ca_cert(*out), 0);
	pem = m2m_ca_chain_pem(*out);
	if (rc == M2M_OK && pem && *pem) {
		rc = m2m_cert_parse_list(ctx, pem, strlen(pem), &chain, &n);
		for (i = 0; rc == M2M_OK && i < n; i++)
			rc = m2m_verifier_add_cert(ctx, v, chain[i], 0);
		m2m_cert_list_free(chain, n);
	}
	if (rc != M2M_OK)
		return cli_fail(ctx, rc, "cannot use the chain of CA '%s'", dir);
	return 0;
}

static void summary(const struct batch *b)
{
	if (b->json) {
		printf("{\"summary\":{\"certificates\":%llu,\"ok\":%llu,\"failed\":%llu,\"unreadable\":%llu}}\n",
		       (unsigned long long)b->certs, (unsigned long long)b->ok,
		       (unsigned long long)b->failed,
		       (unsigned long long)b->unreadable);
		return;
	}
	printf("%llu certificate%s: %llu ok, %llu failed",
	       (unsigned long long)b->certs, b->certs == 1 ? "" : "s",
	       (unsigned long long)b->ok, (unsigned long long)b->failed);
	if (b->unreadable)
		printf(", %llu unreadable", (unsigned long long)b->unreadable);
	putchar('\n');
}

static int batch_status(const struct batch *b)
{
	if (b->unreadable)
		return CLI_EXIT_INPUT;
	return b->failed ? CLI_EXIT_VERDICT : CLI_EXIT_OK;
}

static int cmd_verify(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct vopts v;
	struct batch b;
	struct m2m_verifier *ver = NULL;
	struct m2m_verify_pool *pool = NULL;
	struct pool_feed feed;
	struct m2m_ca *ca = NULL;
	const char *from_ledger = NULL;
	char source[SHOWN_MAX];
	unsigned jobs = 1;
	enum m2m_err rc;
	int opt, i, status = 0;
	char *end;
	long n;

	memset(&v, 0, sizeof(v));
	memset(&b, 0, sizeof(b));
	cli_parser_init(&p, &verify_cmd, argc, argv, 1);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (verify_opt(&v, opt, p.optarg))
			continue;
		if (opt == OPT_FROM_LEDGER) {
			from_ledger = p.optarg;
		} else if (opt == OPT_JOBS) {
			errno = 0;
			n = strtol(p.optarg, &end, 10);
			if (errno || *end || end == p.optarg || n < 1 || n > 256)
				cli_usage_error("--jobs must be a number from 1 to 256, not '%s'",
						p.optarg);
			jobs = (unsigned)n;
		}
	}
	if (!p.noperands && !from_ledger)
		cli_usage_error("no certificate given");
	status = make_verifier(ctx, &v, &ver);
	if (status)
		goto out;
	if (from_ledger) {
		status = ledger_ca(ctx, ver, from_ledger, &ca);
		if (status)
			goto out;
	}
	b.ctx = ctx;
	b.json = v.json;
	rc = m2m_verify_pool_new(ctx, ver, jobs, verified, &b, &pool);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot start verifying");
		goto out;
	}
	/* Results are many short lines: write them in large blocks. */
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	cli_progress_start(&b.pr, "certificates", 0);
	feed.ctx = ctx;
	feed.pool = pool;
	for (i = 0; i < p.noperands && !status; i++)
		status = each_in_operand(ctx, p.operands[i], to_pool, &feed,
					 &b.unreadable);
	if (!status && ca) {
		struct ledger_feed f = { ctx, pool, source, 0 };

		snprintf(source, sizeof(source), "ledger:%s", from_ledger);
		rc = m2m_ledger_list(ctx, m2m_ca_ledger(ca), NULL, ledger_one, &f);
		if (rc != M2M_OK)
			status = cli_fail(ctx, rc, "cannot read the ledger of '%s'",
					  from_ledger);
	}
	if (!status) {
		rc = m2m_verify_pool_finish(ctx, pool);
		if (rc != M2M_OK)
			status = cli_fail(ctx, rc, "cannot verify");
	}
	cli_progress_end(&b.pr, b.certs + b.unreadable, b.failed + b.unreadable);
	if (!status) {
		if (b.certs + b.unreadable > 1 || b.unreadable)
			summary(&b);
		status = batch_status(&b);
	}
	status = cli_finish_stdout(status);
out:
	m2m_verify_pool_free(pool);
	m2m_ca_close(ca);
	m2m_verifier_free(ver);
	vopts_release(&v);
	cli_parser_release(&p);
	return status;
}

/* ---- lint ---------------------------------------------------------------------- */

static const char *profiles_text(unsigned bits, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s",
		 bits & M2M_LINT_FOR_IDEVID ? "idevid" : "",
		 (bits & M2M_LINT_FOR_IDEVID) && (bits & ~M2M_LINT_FOR_IDEVID) ? "," : "",
		 bits & M2M_LINT_FOR_LDEVID ? "ldevid" : "",
		 (bits & M2M_LINT_FOR_LDEVID) && (bits & M2M_LINT_FOR_CA) ? "," : "",
		 bits & M2M_LINT_FOR_CA ? "ca" : "");
	return buf;
}

static int lint_list(int json)
{
	const struct m2m_lint_rule *r;
	char prof[32];
	size_t n, i;

	r = m2m_lint_rules(&n);
	for (i = 0; i < n; i++) {
		profiles_text(r[i].profiles, prof, sizeof(prof));
		if (json) {
			printf("{\"id\":\"%s\",\"severity\":\"%s\",\"profiles\":\"%s\",\"summary\":",
			       r[i].id, m2m_lint_severity_name(r[i].severity),
			       prof);
			json_str(r[i].summary);
			fputs(",\"source\":", stdout);
			json_str(r[i].source);
			fputs("}\n", stdout);
		} else {
			printf("%s %s %s: %s (%s)\n", r[i].id,
			       m2m_lint_severity_name(r[i].severity), prof,
			       r[i].summary, r[i].source);
		}
	}
	return cli_finish_stdout(CLI_EXIT_OK);
}

static void lint_print(struct m2m_ctx *ctx, const char *source, uint64_t index,
		       const struct m2m_lint_report *l, int json)
{
	char name[SHOWN_MAX];
	size_t i;

	if (json) {
		fputs("{\"source\":", stdout);
		json_str(source);
		printf(",\"index\":%llu,", (unsigned long long)index);
		json_findings(l);
		json_devid(ctx, &l->devid);
		fputs("}\n", stdout);
		return;
	}
	printf("%s: %s: %u error%s, %u warning%s, %u notice%s\n",
	       item_name(source, index, name, sizeof(name)),
	       m2m_lint_profile_name(l->profile), l->errors,
	       l->errors == 1 ? "" : "s", l->warnings,
	       l->warnings == 1 ? "" : "s", l->notices,
	       l->notices == 1 ? "" : "s");
	for (i = 0; i < l->n; i++)
		printf("  %s %s: %s\n",
		       m2m_lint_severity_name(l->f[i].rule->severity),
		       l->f[i].rule->id, l->f[i].detail);
	if (l->n < l->errors + l->warnings + l->notices)
		printf("  (%zu more not shown)\n",
		       (size_t)(l->errors + l->warnings + l->notices) - l->n);
}

struct lint_run {
	struct m2m_ctx *ctx;
	enum m2m_lint_profile profile;
	struct batch *b;
	struct m2m_lint_report *l;
};

static int lint_one(void *arg, const uint8_t *der, size_t len,
		    const char *source, uint64_t index)
{
	struct lint_run *lr = arg;
	char name[SHOWN_MAX];
	enum m2m_err rc;

	rc = m2m_lint_der(lr->ctx, der, len, lr->profile, lr->l);
	if (rc != M2M_OK) {
		cli_fail(lr->ctx, rc, "'%s'",
			 item_name(source, index, name, sizeof(name)));
		lr->b->unreadable++;
		return 0;
	}
	lr->b->certs++;
	if (lr->l->errors)
		lr->b->failed++;
	else
		lr->b->ok++;
	lint_print(lr->ctx, source, index, lr->l, lr->b->json);
	return 0;
}

static int cmd_lint(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct batch b;
	struct m2m_lint_report *l = NULL;
	enum m2m_lint_profile profile = M2M_LINT_AUTO;
	struct lint_run run;
	int opt, i, list = 0, status = 0;

	memset(&b, 0, sizeof(b));
	b.ctx = ctx;
	cli_parser_init(&p, &lint_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (opt == OPT_JSON) {
			b.json = 1;
		} else if (opt == OPT_LIST) {
			list = 1;
		} else if (opt == OPT_PROFILE) {
			profile = profile_arg(p.optarg);
		}
	}
	if (list) {
		if (p.noperands)
			cli_usage_error("--list takes no certificate");
		cli_parser_release(&p);
		return lint_list(b.json);
	}
	if (!p.noperands)
		cli_usage_error("no certificate given");
	l = malloc(sizeof(*l));
	if (!l) {
		cli_error("out of memory");
		cli_parser_release(&p);
		return CLI_EXIT_SYSTEM;
	}
	run.ctx = ctx;
	run.profile = profile;
	run.b = &b;
	run.l = l;
	for (i = 0; i < p.noperands && !status; i++)
		status = each_in_operand(ctx, p.operands[i], lint_one, &run,
					 &b.unreadable);
	if (!status) {
		if (b.certs + b.unreadable > 1 || b.unreadable)
			summary(&b);
		status = batch_status(&b);
	}
	free(l);
	cli_parser_release(&p);
	return cli_finish_stdout(status);
}

/* ---- device -------------------------------------------------------------------- */

static void warn_pass(const char *opt, const char *source)
{
	if (strncmp(source, "pass:", 5) == 0)
		cli_warn("%s pass:... shows the secret to other users; prefer env:, file: or fd:",
			 opt);
}

static void warn_pin(const char *opt, const char *uri)
{
	if (strstr(uri, "pin-value="))
		cli_warn("%s with pin-value shows the PIN to other users; prefer pin-source or --passin",
			 opt);
}

static int cmd_device(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct vopts v;
	struct m2m_key_opts kopts;
	struct m2m_verifier *ver = NULL;
	struct m2m_key *key = NULL;
	struct m2m_cert **certs = NULL;
	struct m2m_verify_result *res = NULL;
	const char *key_uri = NULL, *cert_uri = NULL;
	uint8_t nonce[M2M_NONCE_LEN];
	char nhex[2 * M2M_NONCE_LEN + 1], kshown[SHOWN_MAX], cshown[SHOWN_MAX],
	     why[SHOWN_MAX] = "", extra[SHOWN_MAX + 128];
	const uint8_t *der;
	size_t ncerts = 0, len;
	enum m2m_err rc;
	int opt, status, possessed;

	memset(&v, 0, sizeof(v));
	memset(&kopts, 0, sizeof(kopts));
	cli_parser_init(&p, &device_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (verify_opt(&v, opt, p.optarg))
			continue;
		switch (opt) {
		case OPT_KEY:
			warn_pin("--key", p.optarg);
			key_uri = p.optarg;
			break;
		case OPT_CERT:
			warn_pin("--cert", p.optarg);
			cert_uri = p.optarg;
			break;
		case OPT_PASSIN:
			warn_pass("--passin", p.optarg);
			kopts.pass_source = kopts.pin_source = p.optarg;
			break;
		case OPT_TCTI:
			kopts.tcti = p.optarg;
			break;
		}
	}
	if (p.noperands)
		cli_usage_error("unexpected argument '%s'", p.operands[0]);
	if (!key_uri || !cert_uri)
		cli_usage_error("device needs --key URI and --cert URI");
	snprintf(kshown, sizeof(kshown), "%s",
		 cli_uri_shown(key_uri, why, sizeof(why)));
	snprintf(cshown, sizeof(cshown), "%s",
		 cli_uri_shown(cert_uri, why, sizeof(why)));
	why[0] = '\0';
	status = make_verifier(ctx, &v, &ver);
	if (status)
		goto out;
	rc = m2m_cert_load(ctx, cert_uri, &kopts, &certs, &ncerts);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot read the certificate '%s'",
				  cshown);
		goto out;
	}
	rc = m2m_key_load(ctx, key_uri, &kopts, &key);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot use the key '%s'", kshown);
		goto out;
	}
	rc = m2m_verify_possession(ctx, key, certs[0], nonce);
	if (rc != M2M_OK && rc != M2M_ERR_VERIFY) {
		status = cli_fail(ctx, rc, "cannot challenge the key '%s'",
				  kshown);
		goto out;
	}
	possessed = rc == M2M_OK;
	if (!possessed)
		snprintf(why, sizeof(why), "%s", m2m_ctx_detail(ctx));
	m2m_hex_encode(nonce, sizeof(nonce), nhex);
	res = malloc(sizeof(*res));
	if (!res) {
		cli_error("out of memory");
		status = CLI_EXIT_SYSTEM;
		goto out;
	}
	der = m2m_cert_der(certs[0], &len);
	rc = m2m_verify(ctx, ver, der, len, certs + 1, ncerts - 1, res);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot verify '%s'", cshown);
		goto out;
	}
	if (!possessed && res->ok) {
		res->ok = 0;
		res->check = "possession";
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	} else if (!possessed) {
		/* Possession is checked first: its failure is the verdict. */
		res->check = "possession";
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	}
	if (v.json) {
		fputs("{\"source\":", stdout);
		json_str(cshown);
		fputs(",\"index\":1,\"key\":", stdout);
		json_str(kshown);
		printf(",\"possession\":%s,\"nonce\":\"%s\"",
		       possessed ? "true" : "false", nhex);
		json_result(ctx, res);
		fputs("}\n", stdout);
	} else {
		snprintf(extra, sizeof(extra), " (the key '%s' signed nonce %s)",
			 kshown, nhex);
		human_result(cshown, res, possessed ? extra : NULL);
	}
	status = cli_finish_stdout(res->ok ? CLI_EXIT_OK : CLI_EXIT_VERDICT);
out:
	free(res);
	m2m_key_free(key);
	m2m_cert_list_free(certs, ncerts);
	m2m_verifier_free(ver);
	vopts_release(&v);
	cli_parser_release(&p);
	return status;
}

/* ---- ledger -------------------------------------------------------------------- */

static int cmd_ledger(struct m2m_ctx *ctx, int argc, char **argv)
{
	struct cli_parser p;
	struct m2m_ca *ca = NULL;
	struct m2m_ledger_check c;
	const char *ledger = NULL, *dir;
	enum m2m_err rc;
	int opt, json = 0, status;

	cli_parser_init(&p, &ledger_cmd, argc, argv, 2);
	while ((opt = cli_next(&p)) != CLI_DONE) {
		if (opt == OPT_JSON)
			json = 1;
		else if (opt == OPT_LEDGER)
			ledger = p.optarg;
	}
	if (p.noperands == 0)
		cli_usage_error("ledger needs the CA directory");
	if (p.noperands > 1)
		cli_usage_error("unexpected argument '%s'", p.operands[1]);
	dir = p.operands[0];
	rc = m2m_ca_open(ctx, dir, M2M_CA_READONLY, NULL, ledger, &ca);
	if (rc != M2M_OK) {
		status = cli_fail(ctx, rc, "cannot open the CA");
		goto out;
	}
	rc = m2m_verify_ledger(ctx, ca, &c);
	if (rc != M2M_OK && rc != M2M_ERR_VERIFY) {
		status = cli_fail(ctx, rc, "cannot check the ledger of '%s'", dir);
		goto out;
	}
	if (json) {
		fputs("{\"source\":", stdout);
		json_str(dir);
		printf(",\"verdict\":\"%s\",\"reason\":",
		       rc == M2M_OK ? "ok" : "fail");
		json_str_or_null(rc == M2M_OK ? NULL : m2m_ctx_detail(ctx));
		printf(",\"audit_entries\":%llu,\"certificates\":%llu,\"revoked\":%llu,\"crls\":%llu}\n",
		       (unsigned long long)c.audit_entries,
		       (unsigned long long)c.certs,
		       (unsigned long long)c.revoked,
		       (unsigned long long)c.crls);
	} else if (rc == M2M_OK) {
		printf("%s: ok (%llu certificate%s, %llu revoked, %llu CRL%s, audit log of %llu entr%s)\n",
		       dir, (unsigned long long)c.certs, c.certs == 1 ? "" : "s",
		       (unsigned long long)c.revoked, (unsigned long long)c.crls,
		       c.crls == 1 ? "" : "s",
		       (unsigned long long)c.audit_entries,
		       c.audit_entries == 1 ? "y" : "ies");
	} else {
		printf("%s: fail ledger: %s\n", dir, m2m_ctx_detail(ctx));
	}
	status = cli_finish_stdout(rc == M2M_OK ? CLI_EXIT_OK : CLI_EXIT_VERDICT);
out:
	m2m_ca_close(ca);
	cli_parser_release(&p);
	return status;
}

/* ---- main ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct m2m_ctx *ctx = NULL;
	enum m2m_err rc;
	int status;

	cli_init("m2m-verify");
	rc = m2m_ctx_new(&ctx);
	if (rc != M2M_OK)
		return cli_fail(NULL, rc, "cannot initialise");
	if (argc > 1 && strcmp(argv[1], "lint") == 0)
		status = cmd_lint(ctx, argc, argv);
	else if (argc > 1 && strcmp(argv[1], "device") == 0)
		status = cmd_device(ctx, argc, argv);
	else if (argc > 1 && strcmp(argv[1], "ledger") == 0)
		status = cmd_ledger(ctx, argc, argv);
	else
		status = cmd_verify(ctx, argc, argv);
	m2m_ctx_free(ctx);
	return status;
}
