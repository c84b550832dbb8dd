/* SPDX-License-Identifier: Apache-2.0 */
/* Keys in PEM files: "file:/path", "file:///path" or a bare path. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>

#include <m2m/cert.h>
#include <m2m/hex.h>

#include "../internal.h"
#include "keystore.h"

#define KEY_FILE_MAX (1024 * 1024)
#define PASS_MAX 1024

/*
 * The path a file key location names (RFC 8089): "file:///p" and
 * "file://localhost/p" and "file:/p" and "file:p" with %XX decoded, or a
 * bare path as it is.
 */
static enum m2m_err file_path(struct m2m_ctx *ctx, const char *loc,
			      char path[PATH_MAX])
{
	const char *s = loc;
	size_t o = 0;

	if (strncmp(loc, "file:", 5) != 0) {
		if (strlen(loc) >= PATH_MAX)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key path is too long");
		strcpy(path, loc);
		return M2M_OK;
	}
	s += 5;
	if (strncmp(s, "//", 2) == 0) {
		s += 2;
		if (strncmp(s, "localhost/", 10) == 0)
			s += 9;
		else if (*s != '/')
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s': only local file URIs are supported",
					 loc);
	}
	for (; *s; s++) {
		char c = *s;

		if (c == '%') {
			int hi = m2m_hex_value((unsigned char)s[1]);
			int lo = hi < 0 ? -1 : m2m_hex_value((unsigned char)s[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "'%s': bad %%-escape", loc);
			c = (char)(hi << 4 | lo);
			s += 2;
		} else if (c == '?' || c == '#') {
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s': file URIs take no query or fragment",
					 loc);
		}
		if (o + 1 >= PATH_MAX)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key path is too long");
		path[o++] = c;
	}
	if (o == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "'%s' names no file",
				 loc);
	path[o] = '\0';
	return M2M_OK;
}

static enum m2m_err file_generate(struct m2m_ctx *ctx, const char *loc,
				  enum m2m_key_alg alg,
				  const struct m2m_key_opts *opts,
				  EVP_PKEY **out)
{
	char path[PATH_MAX], pass[PASS_MAX];
	OSSL_ENCODER_CTX *ectx = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *pem = NULL;
	size_t pemlen = 0, passlen = 0;
	enum m2m_err rc;

	pass[0] = '\0';
	rc = file_path(ctx, loc, path);
	if (rc != M2M_OK)
		goto out;
	if (opts->pass_source) {
		rc = m2m_secret_read(ctx, opts->pass_source, pass, sizeof(pass),
				     &passlen);
		if (rc != M2M_OK)
			goto out;
		if (passlen < 4) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "passphrase for '%s' is shorter than 4 characters",
				       path);
			goto out;
		}
	}
	rc = m2m_pkey_generate(ctx, alg, &pkey);
	if (rc != M2M_OK)
		goto out;
	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "PEM",
					     "PrivateKeyInfo", NULL);
	if (!ectx ||
	    (passlen && (!OSSL_ENCODER_CTX_set_cipher(ectx, "AES-256-CBC",
						      NULL) ||
			 !OSSL_ENCODER_CTX_set_passphrase(
				 ectx, (unsigned char *)pass, passlen))) ||
	    !OSSL_ENCODER_to_data(ectx, &pem, &pemlen)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot encode the key for '%s'", path);
		goto out;
	}
	rc = m2m_file_write(ctx, path, pem, pemlen, 0600,
			    opts->force ? 0 : M2M_WRITE_EXCL);
	if (rc == M2M_ERR_DUPLICATE)
		m2m_error(ctx, rc, "'%s' exists already (keys are never replaced)",
			  path);
	if (rc != M2M_OK)
		goto out;
	*out = pkey;
	pkey = NULL;
out:
	if (pem) {
		OPENSSL_cleanse(pem, pemlen);
		OPENSSL_free(pem);
	}
	OSSL_ENCODER_CTX_free(ectx);
	EVP_PKEY_free(pkey);
	m2m_secret_wipe(pass, sizeof(pass));
	return rc;
}

static int is_encrypted(const unsigned char *data, size_t len)
{
	static const char *const marks[] = {
		"-----BEGIN ENCRYPTED PRIVATE KEY-----",
		"Proc-Type: 4,ENCRYPTED",
	};
	size_t i, m;

	for (i = 0; i < 2; i++) {
		m = strlen(marks[i]);
		if (len >= m && memmem(data, len, marks[i], m))
			return 1;
	}
	return 0;
}

static enum m2m_err file_load(struct m2m_ctx *ctx, const char *loc,
			      const struct m2m_key_opts *opts, EVP_PKEY **out)
{
	char path[PATH_MAX], pass[PASS_MAX];
	OSSL_DECODER_CTX *dctx = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	size_t len = 0, left, passlen = 0;
	enum m2m_err rc;
	int encrypted;

	pass[0] = '\0';
	rc = file_path(ctx, loc, path);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_file_read(ctx, path, KEY_FILE_MAX, &data, &len);
	if (rc != M2M_OK)
		goto out;
	encrypted = is_encrypted(data, len);
	if (encrypted && !opts->pass_source) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s' is encrypted: give a passphrase source",
			       path);
		goto out;
	}
	if (opts->pass_source) {
		rc = m2m_secret_read(ctx, opts->pass_source, pass, sizeof(pass),
				     &passlen);
		if (rc != M2M_OK)
			goto out;
	}
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, NULL,
					     EVP_PKEY_KEYPAIR, ctx->libctx,
					     NULL);
	if (!dctx || (opts->pass_source &&
		      !OSSL_DECODER_CTX_set_passphrase(
			      dctx, (unsigned char *)pass, passlen))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot set up a key decoder");
		goto out;
	}
	p = data;
	left = len;
	if (!OSSL_DECODER_from_data(dctx, &p, &left) || !pkey) {
		ERR_clear_error();
		rc = encrypted ?
		     m2m_error(ctx, M2M_ERR_INVALID,
			       "wrong passphrase for '%s'", path) :
		     m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s' holds no private key", path);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = M2M_OK;
out:
	if (data) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
	OSSL_DECODER_CTX_free(dctx);
	EVP_PKEY_free(pkey);
	m2m_secret_wipe(pass, sizeof(pass));
	return rc;
}

static enum m2m_err file_remove(struct m2m_ctx *ctx, const char *locator,
				const struct m2m_key_opts *opts)
{
	char path[PATH_MAX];
	enum m2m_err rc;

	(void)opts;
	rc = file_path(ctx, locator, path);
	if (rc != M2M_OK)
		return rc;
	if (unlink(path) < 0)
		return m2m_error(ctx, errno == ENOENT ? M2M_ERR_NOT_FOUND :
				 M2M_ERR_IO, "cannot remove '%s': %s", path,
				 strerror(errno));
	return M2M_OK;
}

enum m2m_err m2m_keystore_file_path(struct m2m_ctx *ctx, const char *loc,
				    char path[PATH_MAX])
{
	return file_path(ctx, loc, path);
}

/* ---- certificates ---------------------------------------------------------- */

/*
 * Certificates in one PEM file: the certificate, then its chain, issuer
 * first.  What is written is read back and compared before the store
 * counts as done; a file that reads back different is removed.
 */
static enum m2m_err file_cert_store(struct m2m_ctx *ctx, const char *locator,
				    const struct m2m_cert *cert,
				    struct m2m_cert *const *chain,
				    size_t nchain,
				    const struct m2m_key_opts *opts)
{
	char path[PATH_MAX];
	char *all = NULL, *pem = NULL, *grown;
	unsigned char *back = NULL;
	size_t len = 0, pemlen = 0, backlen = 0, i;
	enum m2m_err rc;

	rc = file_path(ctx, locator, path);
	if (rc != M2M_OK)
		goto out;
	if (nchain >= M2M_CERT_LIST_MAX) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s': a chain of %zu certificates is too long (at most %d)",
			       path, nchain, M2M_CERT_LIST_MAX - 1);
		goto out;
	}
	for (i = 0; i <= nchain; i++) {
		const struct m2m_cert *c = i ? chain[i - 1] : cert;

		if (!c) {
			rc = m2m_error(ctx, M2M_ERR_USAGE,
				       "no certificate to store at '%s'", path);
			goto out;
		}
		rc = m2m_cert_encode(ctx, c, M2M_FORMAT_PEM, &pem, &pemlen);
		if (rc != M2M_OK)
			goto out;
		grown = realloc(all, len + pemlen + 1);
		if (!grown) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
		all = grown;
		memcpy(all + len, pem, pemlen);
		len += pemlen;
		free(pem);
		pem = NULL;
	}
	if (len > M2M_CERT_BUNDLE_MAX) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s': the certificates are larger than %d bytes in all",
			       path, M2M_CERT_BUNDLE_MAX);
		goto out;
	}
	rc = m2m_file_write(ctx, path, all, len, 0644,
			    opts->force ? 0 : M2M_WRITE_EXCL);
	if (rc == M2M_ERR_DUPLICATE)
		m2m_error(ctx, rc, "'%s' exists already (force replaces it)",
			  path);
	if (rc != M2M_OK)
		goto out;
	rc = m2m_file_read(ctx, path, M2M_CERT_BUNDLE_MAX, &back, &backlen);
	if (rc == M2M_OK && (backlen != len || memcmp(back, all, len) != 0))
		rc = m2m_error(ctx, M2M_ERR_IO,
			       "'%s' reads back different from what was written",
			       path);
	if (rc != M2M_OK)
		unlink(path);
out:
	free(back);
	free(pem);
	free(all);
	return rc;
}

/* A certificate file goes as a key file does. */
static enum m2m_err file_cert_remove(struct m2m_ctx *ctx, const char *locator,
				     const struct m2m_key_opts *opts)
{
	return file_remove(ctx, locator, opts);
}

static enum m2m_err file_cert_load(struct m2m_ctx *ctx, const char *locator,
				   const struct m2m_key_opts *opts,
				   struct m2m_cert ***out, size_t *n)
{
	char path[PATH_MAX];
	unsigned char *data = NULL;
	size_t len = 0;
	enum m2m_err rc;

	(void)opts;
	*out = NULL;
	*n = 0;
	rc = file_path(ctx, locator, path);
	if (rc == M2M_OK)
		rc = m2m_file_read(ctx, path, M2M_CERT_BUNDLE_MAX, &data, &len);
	if (rc == M2M_OK) {
		rc = m2m_cert_parse_list(ctx, data, len, out, n);
		if (rc != M2M_OK)
			m2m_error_prefix(ctx, "'%s'", path);
	}
	free(data);
	return rc;
}

const struct m2m_keystore_ops m2m_keystore_file = {
	"file",
	file_generate,
	file_load,
	file_remove,
	file_cert_store,
	file_cert_load,
	NULL,
	file_cert_remove,
};
