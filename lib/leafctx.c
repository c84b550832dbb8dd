/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A library context for parsing what others send: certificates, CMP
 * messages.  Parsing an X.509 SubjectPublicKeyInfo decodes the key through
 * OpenSSL's decoders, and in OpenSSL 3.0 setting up a decoder walks every
 * key manager and decoder every provider of the library context offers:
 * most of the time a certificate takes to parse.  This context's one
 * provider offers the default provider's digests and signatures (so that
 * a key parsed here checks signatures: a CA certificate's, a request's),
 * and its key managers and SubjectPublicKeyInfo decoders of EC, RSA and
 * Ed25519 keys only: the default provider's implementations, under the
 * default provider's own context (so ctx's default provider must outlive
 * it).  A key of another type is left undecoded (X509_get0_pubkey()
 * NULL): parse it again the ordinary way.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "internal.h"

#define LEAF_ALGS_MAX 16

static pthread_mutex_t leaf_lock = PTHREAD_MUTEX_INITIALIZER;
static OSSL_ALGORITHM leaf_keymgmt[LEAF_ALGS_MAX], leaf_decoder[LEAF_ALGS_MAX];
static const OSSL_ALGORITHM *leaf_digest, *leaf_signature;
static void *leaf_provctx;	/* for the provider being loaded */

/* names' first name is one of the key types we keep. */
static int leaf_keeps(const char *names)
{
	static const char *const keep[] = { "EC", "RSA", "ED25519", "DER" };
	size_t n = strcspn(names, ":"), i;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strlen(keep[i]) == n && strncmp(names, keep[i], n) == 0)
			return 1;
	return 0;
}

/* The tables, once: the default provider's are the same in every context. */
static int leaf_tables(OSSL_PROVIDER *deflt)
{
	const OSSL_ALGORITHM *a;
	size_t k = 0, d = 0;
	int no_cache;

	if (leaf_digest)
		return 1;
	a = OSSL_PROVIDER_query_operation(deflt, OSSL_OP_KEYMGMT, &no_cache);
	for (; a && a->algorithm_names; a++)
		if (leaf_keeps(a->algorithm_names) && k < LEAF_ALGS_MAX - 1)
			leaf_keymgmt[k++] = *a;
	a = OSSL_PROVIDER_query_operation(deflt, OSSL_OP_DECODER, &no_cache);
	for (; a && a->algorithm_names; a++)
		if (leaf_keeps(a->algorithm_names) && a->property_definition &&
		    strstr(a->property_definition, "input=der") &&
		    strstr(a->property_definition,
			   "structure=SubjectPublicKeyInfo") &&
		    d < LEAF_ALGS_MAX - 1)
			leaf_decoder[d++] = *a;
	leaf_signature = OSSL_PROVIDER_query_operation(deflt, OSSL_OP_SIGNATURE,
						       &no_cache);
	leaf_digest = OSSL_PROVIDER_query_operation(deflt, OSSL_OP_DIGEST,
						    &no_cache);
	return leaf_digest && leaf_signature && k && d;
}

static const OSSL_ALGORITHM *leaf_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (op) {
	case OSSL_OP_DIGEST:
		return leaf_digest;
	case OSSL_OP_SIGNATURE:
		return leaf_signature;
	case OSSL_OP_KEYMGMT:
		return leaf_keymgmt;
	case OSSL_OP_DECODER:
		return leaf_decoder;
	default:
		return NULL;
	}
}

static const OSSL_DISPATCH leaf_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))leaf_query },
	{ 0, NULL }
};

static int leaf_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		     const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*out = leaf_dispatch;
	*provctx = leaf_provctx;
	return leaf_provctx != NULL;
}

OSSL_LIB_CTX *m2m_leaf_libctx_new(struct m2m_ctx *ctx, OSSL_PROVIDER **prov)
{
	OSSL_PROVIDER *deflt = ctx->default_provider;
	OSSL_LIB_CTX *l = NULL;
	OSSL_PROVIDER *p = NULL;

	*prov = NULL;
	if (!deflt)
		return NULL;
	pthread_mutex_lock(&leaf_lock);
	if (leaf_tables(deflt)) {
		leaf_provctx = OSSL_PROVIDER_get0_provider_ctx(deflt);
		l = OSSL_LIB_CTX_new();
		if (l && OSSL_PROVIDER_add_builtin(l, "m2m-leaf", leaf_init))
			p = OSSL_PROVIDER_load(l, "m2m-leaf");
		leaf_provctx = NULL;
	}
	pthread_mutex_unlock(&leaf_lock);
	ERR_clear_error();
	if (!p) {
		OSSL_LIB_CTX_free(l);
		return NULL;
	}
	*prov = p;
	return l;
}

void m2m_leaf_libctx_free(OSSL_LIB_CTX *l, OSSL_PROVIDER *p)
{
	if (p)
		OSSL_PROVIDER_unload(p);
	OSSL_LIB_CTX_free(l);
}
