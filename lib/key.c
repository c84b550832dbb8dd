/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <m2m/cert.h>
#include <m2m/hex.h>

#include "internal.h"
#include "keystore/keystore.h"

static const struct m2m_keystore_ops *const backends[] = {
	&m2m_keystore_file,
	&m2m_keystore_pkcs11,
	&m2m_keystore_tpm2,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/*
 * The back-end for uri, or NULL: "scheme:rest" picks the back-end of that
 * scheme; anything without a known scheme is a file path.
 */
static const struct m2m_keystore_ops *backend_of(const char *uri)
{
	const char *colon = strchr(uri, ':');
	size_t i, n;

	if (!colon)
		return &m2m_keystore_file;
	n = (size_t)(colon - uri);
	for (i = 0; i < NBACKENDS; i++)
		if (strlen(backends[i]->scheme) == n &&
		    strncmp(backends[i]->scheme, uri, n) == 0)
			return backends[i];
	return &m2m_keystore_file;
}

const char *m2m_key_scheme(const char *uri)
{
	return backend_of(uri)->scheme;
}

/*
 * The back-end for uri and the locator it gets: the part after "scheme:",
 * except for files, whose back-end parses the whole ("file:..." or a bare
 * path).
 */
static enum m2m_err pick(struct m2m_ctx *ctx, const char *uri,
			 const struct m2m_keystore_ops **ops,
			 const char **locator)
{
	if (!*uri)
		return m2m_error(ctx, M2M_ERR_INVALID, "empty key location");
	*ops = backend_of(uri);
	*locator = *ops == &m2m_keystore_file ? uri :
		   uri + strlen((*ops)->scheme) + 1;
	return M2M_OK;
}

void m2m_keystore_ctx_free(struct m2m_ctx *ctx)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		if (backends[i]->ctx_free)
			backends[i]->ctx_free(ctx);
}

enum m2m_err m2m_key_remove(struct m2m_ctx *ctx, const char *uri,
			    const struct m2m_key_opts *opts)
{
	static const struct m2m_key_opts none;
	const struct m2m_keystore_ops *ops = NULL;
	const char *locator = NULL;
	enum m2m_err rc;

	rc = pick(ctx, uri, &ops, &locator);
	if (rc != M2M_OK)
		return rc;
	return ops->remove(ctx, locator, opts ? opts : &none);
}

enum m2m_err m2m_cert_store(struct m2m_ctx *ctx, const char *uri,
			    const struct m2m_cert *cert,
			    struct m2m_cert *const *chain, size_t nchain,
			    const struct m2m_key_opts *opts)
{
	static const struct m2m_key_opts none;
	const struct m2m_keystore_ops *ops = NULL;
	const char *locator = NULL;
	enum m2m_err rc;

	rc = pick(ctx, uri, &ops, &locator);
	if (rc != M2M_OK)
		return rc;
	return ops->cert_store(ctx, locator, cert, chain, nchain,
			       opts ? opts : &none);
}

enum m2m_err m2m_cert_load(struct m2m_ctx *ctx, const char *uri,
			   const struct m2m_key_opts *opts,
			   struct m2m_cert ***out, size_t *n)
{
	static const struct m2m_key_opts none;
	const struct m2m_keystore_ops *ops = NULL;
	const char *locator = NULL;
	enum m2m_err rc;

	*out = NULL;
	*n = 0;
	rc = pick(ctx, uri, &ops, &locator);
	if (rc != M2M_OK)
		return rc;
	return ops->cert_load(ctx, locator, opts ? opts : &none, out, n);
}

enum m2m_err m2m_cert_remove(struct m2m_ctx *ctx, const char *uri,
			     const struct m2m_key_opts *opts)
{
	static const struct m2m_key_opts none;
	const struct m2m_keystore_ops *ops = NULL;
	const char *locator = NULL;
	enum m2m_err rc;

	rc = pick(ctx, uri, &ops, &locator);
	if (rc != M2M_OK)
		return rc;
	return ops->cert_remove(ctx, locator, opts ? opts : &none);
}

void m2m_cert_list_free(struct m2m_cert **list, size_t n)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < n; i++)
		m2m_cert_free(list[i]);
	free(list);
}

static enum m2m_err key_new(struct m2m_ctx *ctx, const char *uri,
			    const struct m2m_keystore_ops *ops, EVP_PKEY **pkey,
			    struct m2m_key **out)
{
	struct m2m_key *key = NULL;
	enum m2m_err rc;

	key = calloc(1, sizeof(*key));
	if (!key || !(key->uri = strdup(uri))) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = m2m_pkey_alg(ctx, *pkey, &key->alg);
	if (rc != M2M_OK)
		goto out;
	key->ops = ops;
	key->pkey = *pkey;
	*pkey = NULL;
	*out = key;
	key = NULL;
out:
	m2m_key_free(key);
	return rc;
}

/* Generate (generate != 0) or load the key at uri through its back-end. */
static enum m2m_err key_open(struct m2m_ctx *ctx, const char *uri,
			     int generate, enum m2m_key_alg alg,
			     const struct m2m_key_opts *opts,
			     struct m2m_key **out)
{
	static const struct m2m_key_opts none;
	const struct m2m_keystore_ops *ops = NULL;
	const char *locator = NULL;
	EVP_PKEY *pkey = NULL;
	enum m2m_err rc;

	*out = NULL;
	rc = pick(ctx, uri, &ops, &locator);
	if (rc != M2M_OK)
		return rc;
	if (!opts)
		opts = &none;
	rc = generate ? ops->generate(ctx, locator, alg, opts, &pkey) :
	     ops->load(ctx, locator, opts, &pkey);
	if (rc == M2M_OK)
		rc = key_new(ctx, uri, ops, &pkey, out);
	EVP_PKEY_free(pkey);
	return rc;
}

enum m2m_err m2m_key_generate(struct m2m_ctx *ctx, const char *uri,
			      enum m2m_key_alg alg,
			      const struct m2m_key_opts *opts,
			      struct m2m_key **out)
{
	*out = NULL;
	if (!m2m_key_alg_name(alg))
		return m2m_error(ctx, M2M_ERR_USAGE, "unknown key algorithm %d",
				 (int)alg);
	return key_open(ctx, uri, 1, alg, opts, out);
}

enum m2m_err m2m_key_load(struct m2m_ctx *ctx, const char *uri,
			  const struct m2m_key_opts *opts,
			  struct m2m_key **out)
{
	return key_open(ctx, uri, 0, M2M_KEY_EC_P256, opts, out);
}

enum m2m_err m2m_key_new_ephemeral(struct m2m_ctx *ctx, enum m2m_key_alg alg,
				   struct m2m_key **out)
{
	EVP_PKEY *pkey = NULL;
	enum m2m_err rc;

	*out = NULL;
	rc = m2m_pkey_generate(ctx, alg, &pkey);
	if (rc == M2M_OK)
		rc = key_new(ctx, "memory:", &m2m_keystore_file, &pkey, out);
	EVP_PKEY_free(pkey);
	return rc;
}

void m2m_key_free(struct m2m_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->uri);
	free(key);
}

const char *m2m_key_uri(const struct m2m_key *key)
{
	return key->uri;
}

enum m2m_key_alg m2m_key_get_alg(const struct m2m_key *key)
{
	return key->alg;
}

EVP_PKEY *m2m_key_pkey(const struct m2m_key *key)
{
	return key->pkey;
}

enum m2m_err m2m_key_public_der(struct m2m_ctx *ctx, const struct m2m_key *key,
				unsigned char **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n;

	*der = NULL;
	*len = 0;
	n = i2d_PUBKEY(key->pkey, &buf);
	if (n <= 0)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot encode the public key of '%s'",
				      key->uri);
	/* Hand over memory the caller frees with free(). */
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(buf);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	memcpy(*der, buf, (size_t)n);
	OPENSSL_free(buf);
	*len = (size_t)n;
	return M2M_OK;
}

enum m2m_err m2m_key_fingerprint(struct m2m_ctx *ctx, const struct m2m_key *key,
				 char out[M2M_KEY_FINGERPRINT_HEX])
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	enum m2m_err rc = M2M_OK;
	int n;

	out[0] = '\0';
	n = i2d_PUBKEY(key->pkey, &der);
	if (n <= 0)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot encode the public key of '%s'",
				      key->uri);
	if (!m2m_ctx_md(ctx, 256) ||
	    !EVP_Digest(der, (size_t)n, md, &mdlen, m2m_ctx_md(ctx, 256),
			NULL) || mdlen != 32)
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot hash the public key of '%s'",
				    key->uri);
	else
		m2m_hex_encode(md, mdlen, out);
	OPENSSL_free(der);
	return rc;
}

/* ---- algorithms ------------------------------------------------------------ */

enum m2m_err m2m_pkey_generate(struct m2m_ctx *ctx, enum m2m_key_alg alg,
			       EVP_PKEY **out)
{
	EVP_PKEY_CTX *pctx = NULL;
	const char *type;
	OSSL_PARAM params[2];
	size_t bits = 0;
	char group[16];
	enum m2m_err rc = M2M_ERR_CRYPTO;

	*out = NULL;
	params[0] = OSSL_PARAM_construct_end();
	switch (alg) {
	case M2M_KEY_EC_P256:
	case M2M_KEY_EC_P384:
		type = "EC";
		strcpy(group, alg == M2M_KEY_EC_P256 ? "P-256" : "P-384");
		params[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
		break;
	case M2M_KEY_RSA2048:
	case M2M_KEY_RSA3072:
		type = "RSA";
		bits = alg == M2M_KEY_RSA2048 ? 2048 : 3072;
		params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS,
							&bits);
		break;
	case M2M_KEY_ED25519:
		type = "ED25519";
		break;
	default:
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "unknown key algorithm %d", (int)alg);
	}
	params[1] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, type, NULL);
	if (!pctx || EVP_PKEY_keygen_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_params(pctx, params) <= 0 ||
	    EVP_PKEY_generate(pctx, out) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot generate an %s key",
				    m2m_key_alg_name(alg));
		goto out;
	}
	rc = M2M_OK;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

enum m2m_err m2m_pkey_alg(struct m2m_ctx *ctx, const EVP_PKEY *pkey,
			  enum m2m_key_alg *alg)
{
	char group[64];
	int bits = EVP_PKEY_get_bits(pkey);

	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pkey,
						    OSSL_PKEY_PARAM_GROUP_NAME,
						    group, sizeof(group), NULL))
			return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
					 "EC key without a named curve");
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0) {
			*alg = M2M_KEY_EC_P256;
			return M2M_OK;
		}
		if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0) {
			*alg = M2M_KEY_EC_P384;
			return M2M_OK;
		}
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "EC curve %s is not supported (P-256 or P-384)",
				 group);
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (bits == 2048 || bits == 3072) {
			*alg = bits == 2048 ? M2M_KEY_RSA2048 : M2M_KEY_RSA3072;
			return M2M_OK;
		}
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "RSA key of %d bits is not supported (2048 or 3072)",
				 bits);
	}
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*alg = M2M_KEY_ED25519;
		return M2M_OK;
	}
	return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			 "key type %s is not supported",
			 EVP_PKEY_get0_type_name(pkey) ?
			 EVP_PKEY_get0_type_name(pkey) : "(unknown)");
}

/* ---- secrets --------------------------------------------------------------- */

void m2m_secret_wipe(void *buf, size_t size)
{
	OPENSSL_cleanse(buf, size);
}

/* The first line of fd into buf (without its end); -1 on read error. */
static ssize_t read_line(int fd, char *buf, size_t size, int *toolong)
{
	size_t n = 0;
	char c;

	*toolong = 0;
	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= size) {
			*toolong = 1;
			break;
		}
		buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

enum m2m_err m2m_secret_read(struct m2m_ctx *ctx, const char *source,
			     char *buf, size_t size, size_t *len)
{
	char q[M2M_QUOTE_MAX];
	const char *v;
	size_t n;
	ssize_t r;
	int fd, toolong = 0, saved;
	char *end;
	long num;

	if (len)
		*len = 0;
	if (size == 0)
		return m2m_error(ctx, M2M_ERR_USAGE, "no room for the secret");
	buf[0] = '\0';
	if (strncmp(source, "pass:", 5) == 0) {
		v = source + 5;
		n = strlen(v);
		if (n >= size)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "secret from pass: is longer than %zu bytes",
					 size - 1);
		memcpy(buf, v, n + 1);
	} else if (strncmp(source, "env:", 4) == 0) {
		v = getenv(source + 4);
		if (!source[4])
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'env:' names no variable");
		if (!v)
			return m2m_error(ctx, M2M_ERR_NOT_FOUND,
					 "environment variable '%s' is not set",
					 m2m_quote(q, source + 4,
						   strlen(source + 4)));
		n = strlen(v);
		if (n >= size)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "secret in '%s' is longer than %zu bytes",
					 m2m_quote(q, source, strlen(source)),
					 size - 1);
		memcpy(buf, v, n + 1);
	} else if (strncmp(source, "file:", 5) == 0 ||
		   strncmp(source, "fd:", 3) == 0) {
		int is_fd = source[0] == 'f' && source[1] == 'd';

		if (is_fd) {
			errno = 0;
			num = strtol(source + 3, &end, 10);
			if (!source[3] || *end || errno || num < 0 ||
			    num > 1024 * 1024)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "'%s' is not fd:NUMBER",
						 m2m_quote(q, source,
							   strlen(source)));
			fd = (int)num;
		} else {
			fd = open(source + 5, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return m2m_error(ctx, M2M_ERR_IO,
						 "cannot open '%s': %s",
						 m2m_quote(q, source + 5,
							   strlen(source + 5)),
						 strerror(errno));
		}
		r = read_line(fd, buf, size, &toolong);
		saved = errno;
		if (!is_fd)
			close(fd);
		if (r < 0) {
			m2m_secret_wipe(buf, size);
			return m2m_error(ctx, M2M_ERR_IO,
					 "cannot read the secret from '%s': %s",
					 m2m_quote(q, source, strlen(source)),
					 strerror(saved));
		}
		if (toolong) {
			m2m_secret_wipe(buf, size);
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "secret from '%s' is longer than %zu bytes",
					 m2m_quote(q, source, strlen(source)),
					 size - 1);
		}
		n = (size_t)r;
	} else {
		/* Not quoted: it may be the secret itself, given by mistake. */
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "a secret source must start with pass:, env:, file: or fd:");
	}
	if (len)
		*len = n;
	return M2M_OK;
}
