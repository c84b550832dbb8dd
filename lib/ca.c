/* SPDX-License-Identifier: Apache-2.0 */
/* The CA directory: create, open, configuration, CA certificates. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "internal.h"
#include "keystore/keystore.h"

#define CONF_NAME	"ca.conf"
#define CERT_NAME	"ca.crt"
#define CHAIN_NAME	"chain.pem"
#define KEY_NAME	"ca.key"
#define LEDGER_NAME	"ledger.db"
#define CHAIN_MAX	(1024 * 1024)

int64_t m2m_now(int64_t now)
{
	return now ? now : (int64_t)time(NULL);
}

enum m2m_err m2m_random_serial(struct m2m_ctx *ctx, unsigned char serial[16])
{
	if (RAND_bytes_ex(ctx->libctx, serial, 16, 0) != 1)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot draw a random serial");
	serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
	return M2M_OK;
}

/* A location with no scheme (no ':' before any '/') is a path. */
static int is_relative_path(const char *loc)
{
	const char *colon = strchr(loc, ':'), *slash = strchr(loc, '/');

	if (colon && (!slash || colon < slash)) {
		if (strncmp(loc, "file:", 5) == 0 || strncmp(loc, "sqlite:", 7) == 0)
			return loc[strcspn(loc, ":") + 1] != '/';
		return 0;
	}
	return loc[0] != '/';
}

/* rel resolved against dir into out; nonzero if it fit. */
static int dir_path(const char *dir, const char *rel, char *out, size_t size)
{
	const char *colon = strchr(rel, ':');
	int n;

	if (!is_relative_path(rel))
		n = snprintf(out, size, "%s", rel);
	else if (colon && (strncmp(rel, "file:", 5) == 0 ||
			   strncmp(rel, "sqlite:", 7) == 0))
		n = snprintf(out, size, "%.*s%s/%s", (int)(colon - rel + 1),
			     rel, dir, colon + 1);
	else
		n = snprintf(out, size, "%s/%s", dir, rel);
	return n >= 0 && (size_t)n < size;
}

void m2m_ca_path(const struct m2m_ca *ca, const char *rel, char *out,
		 size_t size)
{
	dir_path(ca->dir, rel, out, size);
}

enum m2m_err m2m_ca_write_conf(struct m2m_ctx *ctx, const char *dir,
			       const struct m2m_profiles *p)
{
	char path[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	enum m2m_err rc;

	text = malloc(M2M_PROFILES_TEXT_MAX);
	if (!text)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = m2m_profiles_format(ctx, p, text, M2M_PROFILES_TEXT_MAX, &len);
	if (rc == M2M_OK) {
		snprintf(path, sizeof(path), "%s/%s", dir, CONF_NAME);
		rc = m2m_file_write(ctx, path, text, len, 0644, 0);
	}
	free(text);
	return rc;
}

/* ---- open ------------------------------------------------------------------ */

void m2m_ca_close(struct m2m_ca *ca)
{
	if (!ca)
		return;
	m2m_ca_issuer_release(ca);
	m2m_ledger_close(ca->ledger);
	m2m_key_free(ca->key);
	m2m_cert_free(ca->cert);
	free(ca->chain_pem);
	free(ca->above_pem);
	free(ca);
}

static int self_signed(const struct m2m_cert *cert)
{
	X509 *x = m2m_cert_x509(cert);

	return X509_NAME_cmp(X509_get_subject_name(x),
			     X509_get_issuer_name(x)) == 0 &&
	       X509_check_issued(x, x) == X509_V_OK;
}

/* chain_pem: our certificate (unless a root) followed by chain.pem. */
static enum m2m_err make_chain(struct m2m_ctx *ctx, struct m2m_ca *ca)
{
	char *pem = NULL;
	size_t len = 0, above = strlen(ca->above_pem);
	enum m2m_err rc;

	if (self_signed(ca->cert)) {
		ca->chain_pem = strdup(ca->above_pem);
		return ca->chain_pem ? M2M_OK :
		       m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	rc = m2m_cert_encode(ctx, ca->cert, M2M_FORMAT_PEM, &pem, &len);
	if (rc != M2M_OK)
		return rc;
	ca->chain_pem = malloc(len + above + 1);
	if (!ca->chain_pem) {
		free(pem);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	memcpy(ca->chain_pem, pem, len);
	memcpy(ca->chain_pem + len, ca->above_pem, above + 1);
	free(pem);
	return M2M_OK;
}

/* Read and parse ca.conf of dir into *p. */
static enum m2m_err read_conf(struct m2m_ctx *ctx, const char *dir,
			      struct m2m_profiles *p)
{
	char path[PATH_MAX + 64];
	unsigned char *buf = NULL;
	size_t len = 0;
	enum m2m_err rc;

	snprintf(path, sizeof(path), "%s/%s", dir, CONF_NAME);
	rc = m2m_file_read(ctx, path, M2M_PROFILES_TEXT_MAX, &buf, &len);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_error(ctx, rc, "'%s' is not a CA directory (no %s)",
				 dir, CONF_NAME);
	if (rc != M2M_OK)
		return rc;
	rc = m2m_profiles_parse(ctx, (const char *)buf, len, p);
	free(buf);
	if (rc != M2M_OK)
		m2m_error_prefix(ctx, "'%s'", path);
	return rc;
}

enum m2m_err m2m_ca_ledger_location(struct m2m_ctx *ctx, const char *dir,
				    char *out, size_t size)
{
	struct m2m_profiles *p = malloc(sizeof(*p));
	enum m2m_err rc;

	if (!p)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = read_conf(ctx, dir, p);
	if (rc == M2M_OK && !dir_path(dir, p->ledger, out, size))
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the ledger location of '%s' is too long", dir);
	free(p);
	return rc;
}

enum m2m_err m2m_ca_open(struct m2m_ctx *ctx, const char *dir, unsigned flags,
			 const struct m2m_key_opts *kopts, const char *ledger,
			 struct m2m_ca **out)
{
	struct m2m_ca *ca = NULL;
	char path[PATH_MAX + 64], loc[M2M_URI_TEXT_MAX + PATH_MAX];
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t nb;
	enum m2m_err rc;

	*out = NULL;
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (strlen(dir) >= sizeof(ca->dir) - 64) {
		rc = m2m_error(ctx, M2M_ERR_INVALID, "CA directory name is too long");
		goto out;
	}
	strcpy(ca->dir, dir);
	rc = read_conf(ctx, dir, &ca->profiles);
	if (rc != M2M_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, CERT_NAME);
	rc = m2m_cert_load_file(ctx, path, &ca->cert);
	if (rc != M2M_OK) {
		if (rc == M2M_ERR_NOT_FOUND)
			rc = M2M_ERR_INVALID;
		m2m_error_prefix(ctx, "CA directory '%s' is damaged", dir);
		ctx->err = rc;
		goto out;
	}
	m2m_cert_validity(ca->cert, &nb, &ca->not_after);
	snprintf(path, sizeof(path), "%s/%s", dir, CHAIN_NAME);
	rc = m2m_file_read(ctx, path, CHAIN_MAX, &buf, &len);
	if (rc != M2M_OK) {
		if (rc == M2M_ERR_NOT_FOUND)
			rc = ctx->err = M2M_ERR_INVALID;
		m2m_error_prefix(ctx, "CA directory '%s' is damaged", dir);
		goto out;
	}
	ca->above_pem = (char *)buf;
	buf = NULL;
	rc = make_chain(ctx, ca);
	if (rc != M2M_OK)
		goto out;
	/* A location given by the caller is taken as it is (relative to
	 * the working directory); one in ca.conf is relative to the CA. */
	if (ledger)
		snprintf(loc, sizeof(loc), "%s", ledger);
	else
		m2m_ca_path(ca, ca->profiles.ledger, loc, sizeof(loc));
	rc = m2m_ledger_open(ctx, loc,
			     flags & M2M_CA_READONLY ? M2M_LEDGER_READONLY : 0,
			     &ca->ledger);
	if (rc == M2M_ERR_NOT_FOUND && !ledger) {
		/* A CA without its ledger is damaged, not absent. */
		rc = ctx->err = M2M_ERR_INVALID;
		m2m_error_prefix(ctx, "CA directory '%s' is damaged", dir);
	}
	if (rc != M2M_OK)
		goto out;
	if (flags & M2M_CA_NEED_KEY) {
		m2m_ca_path(ca, ca->profiles.key, loc, sizeof(loc));
		rc = m2m_key_load(ctx, loc, kopts, &ca->key);
		if (rc != M2M_OK)
			goto out;
		if (!m2m_cert_matches_key(ca->cert, ca->key)) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "CA key '%s' does not match '%s/%s'",
				       loc, dir, CERT_NAME);
			goto out;
		}
	}
	*out = ca;
	ca = NULL;
	rc = M2M_OK;
out:
	free(buf);
	m2m_ca_close(ca);
	return rc;
}

const struct m2m_cert *m2m_ca_cert(const struct m2m_ca *ca)
{
	return ca->cert;
}

const struct m2m_profiles *m2m_ca_profiles(const struct m2m_ca *ca)
{
	return &ca->profiles;
}

struct m2m_ledger *m2m_ca_ledger(const struct m2m_ca *ca)
{
	return ca->ledger;
}

const char *m2m_ca_dir(const struct m2m_ca *ca)
{
	return ca->dir;
}

const char *m2m_ca_chain_pem(const struct m2m_ca *ca)
{
	return ca->chain_pem;
}

/* ---- audit details ------------------------------------------------------- */

void m2m_json_put(char *out, size_t size, size_t *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*o + 3 > size)
		return;
	out[(*o)++] = '"';
	for (; *s && *o + 8 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[(*o)++] = '\\';
			out[(*o)++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + *o, "\\u00", 4);
			*o += 4;
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		} else {
			out[(*o)++] = (char)c;
		}
	}
	out[(*o)++] = '"';
	out[*o] = '\0';
}

enum m2m_err m2m_ca_profile_set(struct m2m_ctx *ctx, struct m2m_ca *ca,
				const char *profile, const char *key,
				const char *value)
{
	struct m2m_profiles *np = NULL;
	char detail[2048];
	size_t o = 0;
	enum m2m_err rc;
	int i;

	np = malloc(sizeof(*np));
	if (!np)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	*np = ca->profiles;
	rc = m2m_profiles_set(ctx, np, profile, key, value);
	if (rc != M2M_OK)
		goto out;
	o = (size_t)snprintf(detail, sizeof(detail), "{\"profile\":");
	m2m_json_put(detail, sizeof(detail), &o, profile);
	o += (size_t)snprintf(detail + o, sizeof(detail) - o, ",\"key\":");
	m2m_json_put(detail, sizeof(detail), &o, key);
	o += (size_t)snprintf(detail + o, sizeof(detail) - o, ",\"value\":");
	m2m_json_put(detail, sizeof(detail), &o, value);
	snprintf(detail + o, sizeof(detail) - o, "}");
	rc = m2m_ledger_begin(ctx, ca->ledger);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_ledger_audit(ctx, ca->ledger, m2m_now(0), "profile", detail);
	if (rc == M2M_OK)
		rc = m2m_ca_write_conf(ctx, ca->dir, np);
	if (rc == M2M_OK) {
		rc = m2m_ledger_commit(ctx, ca->ledger);
		if (rc != M2M_OK)	/* put the old settings back */
			m2m_ca_write_conf(NULL, ca->dir, &ca->profiles);
	} else {
		m2m_ledger_rollback(ctx, ca->ledger);
	}
	if (rc != M2M_OK)
		goto out;
	ca->profiles = *np;
	/* Settings changed: prepared extensions are stale. */
	m2m_ca_issuer_release(ca);
	for (i = 0; i < M2M_PROFILES_MAX; i++)
		ca->cache[i].ready = 0;
out:
	free(np);
	return rc;
}

/* ---- create ------------------------------------------------------------------ */

static enum m2m_err add_ext(struct m2m_ctx *ctx, X509 *x, X509V3_CTX *v3,
			    int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	if (!ok)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot add the %s extension",
				      OBJ_nid2sn(nid));
	return M2M_OK;
}

/* Remove a half-made directory: our few files, then the directory. */
static void remove_tree(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Speak of DIR, not of DIR.tmp-PID, in a detail about the new CA. */
static void detail_rename(struct m2m_ctx *ctx, const char *tmp, const char *dir)
{
	char buf[M2M_DETAIL_MAX];
	const char *at = strstr(ctx->detail, tmp);

	if (!at)
		return;
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - ctx->detail),
		 ctx->detail, dir, at + strlen(tmp));
	memcpy(ctx->detail, buf, sizeof(buf));
}

static enum m2m_err check_target(struct m2m_ctx *ctx, const char *dir)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int empty = 1;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? M2M_OK :
		       m2m_error(ctx, M2M_ERR_IO, "cannot use '%s': %s", dir,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return m2m_error(ctx, M2M_ERR_DUPLICATE,
				 "'%s' exists and is not a directory", dir);
	d = opendir(dir);
	if (!d)
		return m2m_error(ctx, M2M_ERR_IO, "cannot read '%s': %s", dir,
				 strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	if (!empty)
		return m2m_error(ctx, M2M_ERR_DUPLICATE,
				 "'%s' exists and is not empty", dir);
	return M2M_OK;
}

static enum m2m_err set_time(struct m2m_ctx *ctx, ASN1_TIME *t, int64_t when)
{
	/* RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
	if (!ASN1_TIME_set(t, (time_t)when))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot set a certificate time");
	return M2M_OK;
}

/* Build and sign the CA certificate for key under issuer (NULL: self). */
static enum m2m_err make_ca_cert(struct m2m_ctx *ctx,
				 const struct m2m_ca_params *pr,
				 const X509_NAME *subject,
				 const struct m2m_key *key,
				 const struct m2m_ca *parent, int64_t now,
				 struct m2m_cert **out)
{
	X509 *x = NULL;
	X509V3_CTX v3;
	EVP_MD_CTX *mctx = NULL;
	BIGNUM *bn = NULL;
	unsigned char serial[16];
	char bc[64];
	int64_t days = pr->days, not_after;
	int path_len = pr->path_len;
	enum m2m_err rc;

	*out = NULL;
	if (days <= 0)
		days = parent ? 3650 : 7300;
	if (days > 36500)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "validity of %lld days is longer than 100 years",
				 (long long)days);
	if (parent) {
		/* RFC 5280 4.2.1.9: each CA below uses up one of the length. */
		int above = (int)X509_get_pathlen(m2m_cert_x509(parent->cert));

		if (above == 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "the parent CA's pathLenConstraint is 0: it may not have CAs below it");
		if (path_len == -1)
			path_len = 0;
		if (above > 0 && path_len > above - 1)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "path length %d is more than the parent CA's pathLenConstraint (%d) allows",
					 path_len, above);
	}
	if (path_len < -1 || path_len > 16)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "path length %d is out of range (0-16)",
				 path_len);
	not_after = now + days * 86400;
	if (parent && not_after > parent->not_after)
		not_after = parent->not_after;
	rc = m2m_random_serial(ctx, serial);
	if (rc != M2M_OK)
		goto out;
	x = X509_new_ex(ctx->libctx, NULL);
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!x || !bn || !X509_set_version(x, X509_VERSION_3) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, parent ?
				  X509_get_subject_name(m2m_cert_x509(parent->cert)) :
				  subject) ||
	    !X509_set_pubkey(x, m2m_key_pkey(key))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot build the CA certificate");
		goto out;
	}
	rc = set_time(ctx, X509_getm_notBefore(x), now);
	if (rc == M2M_OK)
		rc = set_time(ctx, X509_getm_notAfter(x), not_after);
	if (rc != M2M_OK)
		goto out;
	X509V3_set_ctx(&v3, parent ? m2m_cert_x509(parent->cert) : x, x, NULL,
		       NULL, 0);
	if (path_len >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", path_len);
	else
		snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	rc = add_ext(ctx, x, &v3, NID_basic_constraints, bc);
	if (rc == M2M_OK)
		rc = add_ext(ctx, x, &v3, NID_key_usage,
			     "critical,keyCertSign,cRLSign");
	if (rc == M2M_OK)
		rc = add_ext(ctx, x, &v3, NID_subject_key_identifier, "hash");
	if (rc == M2M_OK && parent)
		rc = add_ext(ctx, x, &v3, NID_authority_key_identifier,
			     "keyid:always");
	if (rc != M2M_OK)
		goto out;
	rc = m2m_sign_ctx_new(ctx, m2m_key_pkey(parent ? parent->key : key),
			      m2m_key_get_alg(parent ? parent->key : key),
			      &mctx);
	if (rc != M2M_OK)
		goto out;
	if (X509_sign_ctx(x, mctx) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the CA certificate");
		goto out;
	}
	rc = m2m_cert_from_x509(ctx, &x, out);
out:
	EVP_MD_CTX_free(mctx);
	BN_free(bn);
	X509_free(x);
	return rc;
}

/* Record a CA certificate issued by parent in parent's ledger. */
static enum m2m_err record_in_parent(struct m2m_ctx *ctx, struct m2m_ca *parent,
				     const struct m2m_cert *cert, int64_t now)
{
	struct m2m_cert_record r;
	char subject[1024], detail[1536];
	size_t o;
	enum m2m_err rc;

	memset(&r, 0, sizeof(r));
	m2m_cert_subject(cert, subject, sizeof(subject));
	r.serial = m2m_cert_serial(cert);
	r.profile = "ca";
	r.subject = subject;
	r.issued_at = now;
	m2m_cert_validity(cert, &r.not_before, &r.not_after);
	r.status = M2M_CERT_VALID;
	r.reason = -1;
	r.der = m2m_cert_der(cert, &r.der_len);
	o = (size_t)snprintf(detail, sizeof(detail),
			     "{\"serial\":\"%s\",\"profile\":\"ca\",\"subject\":",
			     r.serial);
	m2m_json_put(detail, sizeof(detail), &o, subject);
	snprintf(detail + o, sizeof(detail) - o, "}");
	rc = m2m_ledger_begin(ctx, parent->ledger);
	if (rc != M2M_OK)
		return rc;
	rc = m2m_ledger_add_cert(ctx, parent->ledger, &r, NULL);
	if (rc == M2M_OK)
		rc = m2m_ledger_audit(ctx, parent->ledger, now, "issue-ca",
				      detail);
	if (rc == M2M_OK)
		rc = m2m_ledger_commit(ctx, parent->ledger);
	else
		m2m_ledger_rollback(ctx, parent->ledger);
	return rc;
}

/* A walk that stops at the first item. */
static enum m2m_err found_cert(void *arg, const struct m2m_cert_record *r)
{
	(void)r;
	*(int *)arg = 1;
	return M2M_ERR_DUPLICATE;
}

static enum m2m_err found_entry(void *arg, const struct m2m_audit_entry *e)
{
	(void)e;
	*(int *)arg = 1;
	return M2M_ERR_DUPLICATE;
}

/*
 * M2M_OK if l holds no certificate and no audit entry, M2M_ERR_DUPLICATE
 * if it does, or why it cannot be read.
 */
static enum m2m_err ledger_unused(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	enum m2m_err rc;
	int found = 0;

	rc = m2m_ledger_list(ctx, l, NULL, found_cert, &found);
	if (rc == M2M_OK)
		rc = m2m_ledger_audit_list(ctx, l, found_entry, &found);
	return found ? M2M_ERR_DUPLICATE : rc;
}

static enum m2m_err abs_location(struct m2m_ctx *ctx, const char *loc,
				 char *out, size_t size)
{
	char cwd[PATH_MAX];

	if (!is_relative_path(loc)) {
		if ((size_t)snprintf(out, size, "%s", loc) >= size)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "location is too long");
		return M2M_OK;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return m2m_error(ctx, M2M_ERR_SYSTEM,
				 "cannot find the current directory: %s",
				 strerror(errno));
	if (strncmp(loc, "sqlite:", 7) == 0) {
		if ((size_t)snprintf(out, size, "sqlite:%s/%s", cwd, loc + 7) >=
		    size)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "location is too long");
		return M2M_OK;
	}
	if (strncmp(loc, "file:", 5) == 0)
		loc += 5;
	if ((size_t)snprintf(out, size, "%s/%s", cwd, loc) >= size)
		return m2m_error(ctx, M2M_ERR_INVALID, "location is too long");
	return M2M_OK;
}

enum m2m_err m2m_ca_create(struct m2m_ctx *ctx,
			   const struct m2m_ca_params *pr,
			   struct m2m_ca **out)
{
	struct m2m_ca *parent = NULL;
	struct m2m_ledger *ledger = NULL;
	struct m2m_key *key = NULL;
	struct m2m_cert *cert = NULL;
	struct m2m_profiles *conf = NULL;
	const struct m2m_key_opts *kopts = &pr->key_opts;
	X509_NAME *subject = NULL;
	char tmp[PATH_MAX], path[PATH_MAX + 32], keyloc[M2M_URI_TEXT_MAX];
	char detail[2048], subj[1024];
	char *pem = NULL;
	size_t pemlen = 0, o;
	int64_t now = m2m_now(pr->now);
	int made = 0, generated = 0;
	enum m2m_err rc;

	if (out)
		*out = NULL;
	rc = m2m_name_parse(ctx, pr->subject ? pr->subject : "", &subject);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "subject");
		goto out;
	}
	rc = check_target(ctx, pr->dir);
	if (rc != M2M_OK)
		goto out;
	if (pr->parent_dir) {
		rc = m2m_ca_open(ctx, pr->parent_dir, M2M_CA_NEED_KEY,
				 &pr->parent_key_opts, NULL, &parent);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "parent CA");
			goto out;
		}
	}
	conf = malloc(sizeof(*conf));
	if (!conf) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	m2m_profiles_defaults(conf);
	if (pr->hw_type)
		rc = m2m_profiles_set(ctx, conf, "idevid", "hw-type",
				      pr->hw_type);
	if (rc == M2M_OK && pr->device_subject)
		rc = m2m_profiles_set(ctx, conf, "idevid", "subject",
				      pr->device_subject);
	if (rc != M2M_OK)
		goto out;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", pr->dir,
			     (long)getpid()) >= sizeof(tmp)) {
		rc = m2m_error(ctx, M2M_ERR_INVALID, "'%s' is too long",
			       pr->dir);
		goto out;
	}
	if (mkdir(tmp, 0700) < 0) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot create '%s': %s", tmp,
			       strerror(errno));
		goto out;
	}
	made = 1;

	/* The key: made here, made elsewhere, or one that exists. */
	if (!pr->key_uri) {
		snprintf(path, sizeof(path), "%s/%s", tmp, KEY_NAME);
		rc = m2m_key_generate(ctx, path, pr->alg, kopts, &key);
		snprintf(keyloc, sizeof(keyloc), "%s", KEY_NAME);
	} else {
		/* An existing key is used; an absent one is made there. */
		rc = abs_location(ctx, pr->key_uri, keyloc, sizeof(keyloc));
		if (rc == M2M_OK)
			rc = m2m_key_load(ctx, keyloc, kopts, &key);
		if (rc == M2M_ERR_NOT_FOUND) {
			rc = m2m_key_generate(ctx, keyloc, pr->alg, kopts,
					      &key);
			generated = rc == M2M_OK;
		}
	}
	if (rc != M2M_OK)
		goto out;
	snprintf(conf->key, sizeof(conf->key), "%s", keyloc);
	if (pr->ledger)
		rc = abs_location(ctx, pr->ledger, conf->ledger,
				  sizeof(conf->ledger));
	else
		snprintf(conf->ledger, sizeof(conf->ledger), "%s", LEDGER_NAME);
	if (rc != M2M_OK)
		goto out;

	rc = make_ca_cert(ctx, pr, subject, key, parent, now, &cert);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_cert_encode(ctx, cert, M2M_FORMAT_PEM, &pem, &pemlen);
	if (rc != M2M_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", tmp, CERT_NAME);
	rc = m2m_file_write(ctx, path, pem, pemlen, 0644, M2M_WRITE_EXCL);
	if (rc != M2M_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", tmp, CHAIN_NAME);
	rc = parent ? m2m_file_write(ctx, path, parent->chain_pem,
				     strlen(parent->chain_pem), 0644,
				     M2M_WRITE_EXCL) :
	     m2m_file_write(ctx, path, "", 0, 0644, M2M_WRITE_EXCL);
	if (rc == M2M_OK)
		rc = m2m_ca_write_conf(ctx, tmp, conf);
	if (rc != M2M_OK)
		goto out;

	/* The ledger, with its first audit entry: a new one. */
	if (pr->ledger)
		snprintf(path, sizeof(path), "%s", conf->ledger);
	else
		snprintf(path, sizeof(path), "%s/%s", tmp, LEDGER_NAME);
	if (pr->ledger) {
		/* Absent, or empty (as 'm2m-ca ledger init' makes one). */
		rc = m2m_ledger_open(ctx, path, M2M_LEDGER_READONLY, &ledger);
		if (rc == M2M_OK)
			rc = ledger_unused(ctx, ledger);
		if (rc == M2M_ERR_DUPLICATE)
			m2m_error(ctx, rc,
				  "ledger '%s' exists already: a new CA needs a ledger of its own",
				  pr->ledger);
		else if (rc == M2M_ERR_NOT_FOUND)
			rc = M2M_OK;
		m2m_ledger_close(ledger);
		ledger = NULL;
		if (rc != M2M_OK)
			goto out;
	}
	rc = m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE, &ledger);
	if (rc != M2M_OK)
		goto out;
	m2m_cert_subject(cert, subj, sizeof(subj));
	o = (size_t)snprintf(detail, sizeof(detail),
			     "{\"serial\":\"%s\",\"key-algorithm\":\"%s\",\"subject\":",
			     m2m_cert_serial(cert),
			     m2m_key_alg_name(m2m_key_get_alg(key)));
	m2m_json_put(detail, sizeof(detail), &o, subj);
	o += (size_t)snprintf(detail + o, sizeof(detail) - o, ",\"parent\":");
	if (parent) {
		char psubj[1024];

		m2m_cert_subject(parent->cert, psubj, sizeof(psubj));
		m2m_json_put(detail, sizeof(detail), &o, psubj);
	} else {
		o += (size_t)snprintf(detail + o, sizeof(detail) - o, "null");
	}
	snprintf(detail + o, sizeof(detail) - o, "}");
	rc = m2m_ledger_begin(ctx, ledger);
	if (rc == M2M_OK)
		rc = m2m_ledger_audit(ctx, ledger, now, "init", detail);
	if (rc == M2M_OK)
		rc = m2m_ledger_commit(ctx, ledger);
	m2m_ledger_close(ledger);
	ledger = NULL;
	if (rc != M2M_OK)
		goto out;

	if (parent) {
		rc = record_in_parent(ctx, parent, cert, now);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "cannot record the CA in its parent's ledger");
			goto out;
		}
	}
	/* An empty target directory is replaced; an absent one made. */
	rmdir(pr->dir);
	if (rename(tmp, pr->dir) < 0) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot create '%s': %s",
			       pr->dir, strerror(errno));
		goto out;
	}
	made = 0;
	generated = 0;
	if (out)
		rc = m2m_ca_open(ctx, pr->dir, M2M_CA_NEED_KEY,
				 &pr->key_opts, NULL, out);
out:
	if (rc != M2M_OK && made)
		detail_rename(ctx, tmp, pr->dir);
	if (made)
		remove_tree(tmp);
	/* A key made for this CA goes with it; the error stays the first. */
	if (generated) {
		enum m2m_err first = ctx->err;

		snprintf(detail, sizeof(detail), "%s", ctx->detail);
		m2m_key_free(key);
		key = NULL;
		m2m_key_remove(ctx, keyloc, kopts);
		m2m_error(ctx, first, "%s", detail);
	}
	m2m_ledger_close(ledger);
	free(pem);
	free(conf);
	m2m_cert_free(cert);
	m2m_key_free(key);
	X509_NAME_free(subject);
	m2m_ca_close(parent);
	ERR_clear_error();
	return rc;
}
