/* SPDX-License-Identifier: Apache-2.0 */
/* The "m2m-ext" provider: not built yet (see extkey.h). */
#include <openssl/evp.h>

#include "../internal.h"
#include "extkey.h"

enum m2m_err m2m_extkey_new(struct m2m_ctx *ctx, EVP_PKEY *pub,
			    const struct m2m_extkey_method *method,
			    void *handle, EVP_PKEY **out)
{
	(void)pub;
	(void)handle;
	*out = NULL;
	return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			 "%s keys cannot sign in this build yet", method->name);
}

int m2m_extkey_is(const EVP_PKEY *pkey)
{
	(void)pkey;
	return 0;
}

const char *m2m_extkey_propq(const EVP_PKEY *pkey)
{
	(void)pkey;
	return NULL;
}

void m2m_extkey_ctx_free(struct m2m_ctx *ctx)
{
	(void)ctx;
}
