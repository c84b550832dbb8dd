/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Does a certificate chain to an anchor?  OpenSSL's path validation
 * (X509_verify_cert, strict RFC 5280 checks) decides; this only sets it
 * up and turns its verdict into a sentence.
 */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <m2m/cert.h>

#include "ca_internal.h"
#include "cert_internal.h"
#include "internal.h"

enum m2m_err m2m_chain_verify(struct m2m_ctx *ctx, const struct m2m_cert *cert,
			      struct m2m_cert *const *chain, size_t nchain,
			      struct m2m_cert *const *anchors, size_t nanchors,
			      int64_t now)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *sctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509_VERIFY_PARAM *param;
	X509 *leaf = m2m_cert_x509(cert);
	char subject[512];
	enum m2m_err rc;
	size_t i;
	int err, depth;

	if (nanchors == 0)
		return m2m_error(ctx, M2M_ERR_USAGE, "no trust anchor to verify with");
	if (!leaf)
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "cannot parse the certificate");
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	sctx = X509_STORE_CTX_new_ex(ctx->libctx, NULL);
	if (!store || !untrusted || !sctx) {
		rc = m2m_error_ossl(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nanchors; i++) {
		X509 *x = m2m_cert_x509(anchors[i]);

		if (!x || !X509_STORE_add_cert(store, x)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "cannot use trust anchor %zu", i + 1);
			goto out;
		}
	}
	for (i = 0; i < nchain; i++) {
		X509 *x = m2m_cert_x509(chain[i]);

		if (!x || !sk_X509_push(untrusted, x)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "cannot use chain certificate %zu",
					    i + 1);
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(sctx, store, leaf, untrusted)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot set up chain verification");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(sctx);
	/* An anchor need not be a root: the chain may end at an issuing CA. */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT |
				    X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_time(param, (time_t)m2m_now(now));
	if (X509_verify_cert(sctx) == 1) {
		rc = M2M_OK;
		goto out;
	}
	err = X509_STORE_CTX_get_error(sctx);
	depth = X509_STORE_CTX_get_error_depth(sctx);
	subject[0] = '\0';
	if (X509_STORE_CTX_get_current_cert(sctx))
		m2m_name_text(X509_get_subject_name(
				      X509_STORE_CTX_get_current_cert(sctx)),
			      subject, sizeof(subject));
	ERR_clear_error();
	rc = m2m_error(ctx, M2M_ERR_VERIFY,
		       "the chain does not verify: %s (depth %d%s%s)",
		       X509_verify_cert_error_string(err), depth,
		       subject[0] ? ", " : "", subject);
out:
	X509_STORE_CTX_free(sctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return rc;
}
