/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "internal.h"
#include "keystore/extkey.h"
#include "keystore/keystore.h"

enum m2m_err m2m_ctx_new(struct m2m_ctx **out)
{
	struct m2m_ctx *ctx = NULL;
	enum m2m_err rc = M2M_ERR_NOMEM;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto out;
	/*
	 * A library context of our own, so that providers we load later
	 * (PKCS#11, TPM) never change the application's default context.
	 */
	rc = M2M_ERR_CRYPTO;
	ctx->libctx = OSSL_LIB_CTX_new();
	if (!ctx->libctx)
		goto out;
	ctx->default_provider = OSSL_PROVIDER_load(ctx->libctx, "default");
	if (!ctx->default_provider)
		goto out;
	*out = ctx;
	ctx = NULL;
	rc = M2M_OK;
out:
	ERR_clear_error();
	m2m_ctx_free(ctx);
	return rc;
}

enum m2m_err m2m_ctx_new_sibling(const struct m2m_ctx *parent,
				 struct m2m_ctx **out)
{
	struct m2m_ctx *ctx = calloc(1, sizeof(*ctx));

	*out = ctx;
	if (!ctx)
		return M2M_ERR_NOMEM;
	ctx->libctx = parent->libctx;
	ctx->borrowed = 1;
	return M2M_OK;
}

void m2m_ctx_free(struct m2m_ctx *ctx)
{
	if (!ctx)
		return;
	m2m_keystore_ctx_free(ctx);
	m2m_extkey_ctx_free(ctx);
	EVP_MD_free(ctx->sha256);
	EVP_MD_free(ctx->sha384);
	EVP_PKEY_free(ctx->ec_curve[0]);
	EVP_PKEY_free(ctx->ec_curve[1]);
	EVP_PKEY_CTX_free(ctx->ec_verify_ctx[0]);
	EVP_PKEY_CTX_free(ctx->ec_verify_ctx[1]);
	EVP_PKEY_free(ctx->ec_verify[0]);
	EVP_PKEY_free(ctx->ec_verify[1]);
	EVP_MD_CTX_free(ctx->md_ctx);
	if (!ctx->borrowed) {
		if (ctx->default_provider)
			OSSL_PROVIDER_unload(ctx->default_provider);
		OSSL_LIB_CTX_free(ctx->libctx);
	}
	free(ctx);
}

const EVP_MD *m2m_ctx_md(struct m2m_ctx *ctx, int bits)
{
	EVP_MD **md = bits == 384 ? &ctx->sha384 : &ctx->sha256;

	if (!*md)
		*md = EVP_MD_fetch(ctx->libctx, bits == 384 ? "SHA384" :
				   "SHA256", NULL);
	return *md;
}

/* ctx's parameters-only key of the curve, made on first use; NULL on failure. */
static EVP_PKEY *ec_curve(struct m2m_ctx *ctx, int p384)
{
	EVP_PKEY **curve = &ctx->ec_curve[p384 ? 1 : 0];
	EVP_PKEY_CTX *pctx;
	OSSL_PARAM params[2];

	if (*curve)
		return *curve;
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "EC", NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, (char *)(p384 ? "P-384" : "P-256"),
		0);
	params[1] = OSSL_PARAM_construct_end();
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, curve, EVP_PKEY_KEY_PARAMETERS,
			      params) != 1)
		*curve = NULL;
	EVP_PKEY_CTX_free(pctx);
	ERR_clear_error();
	return *curve;
}

enum m2m_err m2m_ctx_ec_key(struct m2m_ctx *ctx, int p384,
			    const unsigned char *pt, size_t len, EVP_PKEY **out)
{
	EVP_PKEY *curve = ec_curve(ctx, p384);

	*out = NULL;
	if (!curve)
		return M2M_ERR_CRYPTO;
	*out = EVP_PKEY_dup(curve);
	if (!*out || EVP_PKEY_set1_encoded_public_key(*out, pt, len) != 1) {
		EVP_PKEY_free(*out);
		*out = NULL;
		ERR_clear_error();
		return M2M_ERR_INVALID;
	}
	return M2M_OK;
}

int m2m_ctx_ec_verify(struct m2m_ctx *ctx, int p384, const unsigned char *pt,
		      size_t pt_len, int bits, const unsigned char *sig,
		      size_t sig_len, const unsigned char *data, size_t len)
{
	int i = p384 ? 1 : 0, ok = -2;
	EVP_PKEY **key = &ctx->ec_verify[i];
	EVP_PKEY_CTX **pctx = &ctx->ec_verify_ctx[i];
	const EVP_MD *md = m2m_ctx_md(ctx, bits);
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!md || (!ctx->md_ctx && !(ctx->md_ctx = EVP_MD_CTX_new())))
		goto out;
	if (!*key) {
		/* In the key's own library context, where its provider is. */
		if (!ec_curve(ctx, p384) ||
		    !(*key = EVP_PKEY_dup(ctx->ec_curve[i])) ||
		    !(*pctx = EVP_PKEY_CTX_new_from_pkey(ctx->libctx, *key,
							 NULL)))
			goto drop;
	}
	/*
	 * The key's point is replaced in place (no key is made per request),
	 * and the operation is set up afresh after it, so it takes this
	 * point.
	 */
	if (EVP_PKEY_set1_encoded_public_key(*key, pt, pt_len) != 1) {
		/* Not on the curve: the key may be half-changed. */
		ok = -1;
		goto drop;
	}
	if (EVP_DigestInit_ex2(ctx->md_ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx->md_ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx->md_ctx, dgst, &dlen) != 1 ||
	    EVP_PKEY_verify_init(*pctx) != 1)
		goto out;
	ok = EVP_PKEY_verify(*pctx, sig, sig_len, dgst, dlen) == 1;
	return ok;	/* 0: why, if OpenSSL says, is in its queue */
drop:
	EVP_PKEY_CTX_free(*pctx);
	*pctx = NULL;
	EVP_PKEY_free(*key);
	*key = NULL;
out:
	ERR_clear_error();
	return ok;
}

const char *m2m_ctx_detail(const struct m2m_ctx *ctx)
{
	return ctx ? ctx->detail : "";
}

enum m2m_err m2m_ctx_error(const struct m2m_ctx *ctx)
{
	return ctx ? ctx->err : M2M_OK;
}

void m2m_ctx_clear_error(struct m2m_ctx *ctx)
{
	if (!ctx)
		return;
	ctx->err = M2M_OK;
	ctx->detail[0] = '\0';
}

const char *m2m_version(void)
{
	return M2M_VERSION;
}

static void vset(struct m2m_ctx *ctx, enum m2m_err err, const char *fmt,
		 va_list ap)
{
	int n;

	ctx->err = err;
	n = vsnprintf(ctx->detail, sizeof(ctx->detail), fmt, ap);
	if (n < 0)
		ctx->detail[0] = '\0';
}

enum m2m_err m2m_error(struct m2m_ctx *ctx, enum m2m_err err,
		       const char *fmt, ...)
{
	va_list ap;

	if (!ctx)
		return err;
	va_start(ap, fmt);
	vset(ctx, err, fmt, ap);
	va_end(ap);
	return err;
}

enum m2m_err m2m_error_ossl(struct m2m_ctx *ctx, enum m2m_err err,
			    const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	size_t used;
	const char *sep = ": ";

	if (!ctx) {
		ERR_clear_error();
		return err;
	}
	va_start(ap, fmt);
	vset(ctx, err, fmt, ap);
	va_end(ap);
	/* Oldest first: the first error is usually the cause. */
	for (;;) {
		const char *data = NULL, *reason;
		int flags = 0;

		e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
		if (e == 0)
			break;
		used = strlen(ctx->detail);
		if (used + 8 >= sizeof(ctx->detail))
			continue;	/* keep draining the queue */
		reason = ERR_reason_error_string(e);
		if (!(flags & ERR_TXT_STRING) || !data)
			data = "";
		snprintf(ctx->detail + used, sizeof(ctx->detail) - used,
			 "%s%s%s%s%s", sep, reason ? reason : "unknown error",
			 *data ? " (" : "", data, *data ? ")" : "");
		sep = "; ";
	}
	return err;
}

enum m2m_err m2m_error_prefix(struct m2m_ctx *ctx, const char *fmt, ...)
{
	char old[M2M_DETAIL_MAX];
	char prefix[M2M_DETAIL_MAX];
	va_list ap;
	int n;

	if (!ctx)
		return M2M_ERR_INTERNAL;
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return ctx->err;
	memcpy(old, ctx->detail, sizeof(old));
	/* A detail cut at M2M_DETAIL_MAX is still a useful detail. */
	if (snprintf(ctx->detail, sizeof(ctx->detail), "%s%s%s", prefix,
		     old[0] ? ": " : "", old) < 0)
		ctx->detail[0] = '\0';
	return ctx->err;
}

const char *m2m_quote(char out[M2M_QUOTE_MAX], const char *s, size_t len)
{
	size_t i, n = len > 40 ? 40 : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}
