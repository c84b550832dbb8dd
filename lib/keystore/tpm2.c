/* SPDX-License-Identifier: Apache-2.0 */
/* TPM 2.0 keys and NV indices (tpm2-tss ESYS): not built yet; every call is refused clearly. */
#include <string.h>

#include "../internal.h"
#include "keystore.h"

static enum m2m_err refuse(struct m2m_ctx *ctx, const char *locator)
{
	char q[M2M_QUOTE_MAX];

	return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			 "'tpm2:%s': tpm2: locations are not supported by this build yet",
			 m2m_quote(q, locator, strlen(locator)));
}

static enum m2m_err tpm2_generate(struct m2m_ctx *ctx, const char *locator,
				 enum m2m_key_alg alg,
				 const struct m2m_key_opts *opts, EVP_PKEY **out)
{
	(void)alg;
	(void)opts;
	*out = NULL;
	return refuse(ctx, locator);
}

static enum m2m_err tpm2_load(struct m2m_ctx *ctx, const char *locator,
			     const struct m2m_key_opts *opts, EVP_PKEY **out)
{
	(void)opts;
	*out = NULL;
	return refuse(ctx, locator);
}

static enum m2m_err tpm2_remove(struct m2m_ctx *ctx, const char *locator,
			       const struct m2m_key_opts *opts)
{
	(void)opts;
	return refuse(ctx, locator);
}

static enum m2m_err tpm2_cert_store(struct m2m_ctx *ctx, const char *locator,
				   const struct m2m_cert *cert,
				   struct m2m_cert *const *chain, size_t nchain,
				   const struct m2m_key_opts *opts)
{
	(void)cert;
	(void)chain;
	(void)nchain;
	(void)opts;
	return refuse(ctx, locator);
}

static enum m2m_err tpm2_cert_load(struct m2m_ctx *ctx, const char *locator,
				  const struct m2m_key_opts *opts,
				  struct m2m_cert ***out, size_t *n)
{
	(void)opts;
	*out = NULL;
	*n = 0;
	return refuse(ctx, locator);
}

const struct m2m_keystore_ops m2m_keystore_tpm2 = {
	"tpm2",
	tpm2_generate,
	tpm2_load,
	tpm2_remove,
	tpm2_cert_store,
	tpm2_cert_load,
	NULL,
};
