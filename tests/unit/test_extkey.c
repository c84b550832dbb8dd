/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the "m2m-ext" provider (lib/keystore/extkey.h), with a
 * software back-end standing in for a token: its sign callback signs the
 * digest with a default-provider private key.  For P-256, P-384 and
 * RSA-2048 (PKCS#1 and PSS; an RSA-3072 certificate once): signatures that verify with the public key
 * (one-shot, streamed, over a digest, a context reused and copied,
 * or made without the property query), verifying with the external key,
 * certificates, requests, CRLs and OCSP responses signed through
 * m2m_sign_ctx_new, the AlgorithmIdentifiers the default provider would
 * write, the public key as the public key's, when the handle is freed,
 * a failing back-end's text in the detail, fetches that name no
 * provider still getting the default provider's, and refused keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <m2m/ctx.h>
#include <m2m/key.h>

#include "../../lib/cert_internal.h"
#include "../../lib/internal.h"
#include "../../lib/keystore/extkey.h"
#include "../../lib/keystore/keystore.h"
#include "unit.h"

static struct m2m_ctx *ctx;

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

/* The back-end's failure text, as a PKCS#11 back-end would word it. */
#define FAIL_TEXT "pkcs11:token=test;object=ca: CKR_DEVICE_REMOVED"

/* ---- the software back-end ---------------------------------------------- */

struct soft {
	struct m2m_ctx *ctx;
	EVP_PKEY *priv;		/* owned */
	int *frees;		/* counts method->free */
	int fail;		/* sign fails, as a removed token would */
	int calls;		/* sign calls */
	enum m2m_extkey_pad pad;	/* of the last call */
	char md[8];			/* likewise */
};

static int soft_sign(void *handle, enum m2m_extkey_pad pad, const char *md,
		     const unsigned char *dgst, size_t dlen,
		     unsigned char *sig, size_t *siglen)
{
	struct soft *s = handle;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD *m = NULL;
	int ok;

	s->calls++;
	s->pad = pad;
	snprintf(s->md, sizeof(s->md), "%s", md);
	if (s->fail) {
		ERR_raise_data(ERR_LIB_USER, 1, "%s", FAIL_TEXT);
		return 0;
	}
	pctx = EVP_PKEY_CTX_new_from_pkey(s->ctx->libctx, s->priv, NULL);
	m = EVP_MD_fetch(s->ctx->libctx, md, NULL);
	ok = pctx && m && EVP_PKEY_sign_init(pctx) == 1;
	if (ok && pad != M2M_EXTKEY_ECDSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx,
				pad == M2M_EXTKEY_RSA_PSS ?
				RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_signature_md(pctx, m) > 0;
	if (ok && pad == M2M_EXTKEY_RSA_PSS)
		ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
				RSA_PSS_SALTLEN_DIGEST) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, m) > 0;
	ok = ok && EVP_PKEY_sign(pctx, sig, siglen, dgst, dlen) == 1;
	EVP_MD_free(m);
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

static void soft_free(void *handle)
{
	struct soft *s = handle;

	(*s->frees)++;
	EVP_PKEY_free(s->priv);
	free(s);
}

static const struct m2m_extkey_method soft_method = {
	"pkcs11", soft_sign, soft_free,
};

/* A public-only copy of pkey, in c's library context, as a token gives. */
static EVP_PKEY *public_of(struct m2m_ctx *c, EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int n = i2d_PUBKEY(pkey, &der);

	p = der;
	if (n > 0)
		pub = d2i_PUBKEY_ex(NULL, &p, n, c->libctx, NULL);
	OPENSSL_free(der);
	return pub;
}

/*
 * An external key of alg in c: *ext signs through a soft back-end whose
 * frees count goes to *frees; *pub (if pub) gets the public key, *s (if
 * s) the back-end.  1 on success.
 */
static int make_ext_in(struct m2m_ctx *c, enum m2m_key_alg alg, int *frees,
		       EVP_PKEY **ext, EVP_PKEY **pub, struct soft **sp)
{
	struct soft *s = calloc(1, sizeof(*s));
	EVP_PKEY *p = NULL;
	enum m2m_err rc;

	*ext = NULL;
	if (!s)
		return 0;
	s->ctx = c;
	s->frees = frees;
	if (m2m_pkey_generate(c, alg, &s->priv) != M2M_OK ||
	    !(p = public_of(c, s->priv))) {
		EVP_PKEY_free(s->priv);
		free(s);
		return 0;
	}
	rc = m2m_extkey_new(c, p, &soft_method, s, ext);
	if (rc != M2M_OK) {
		CHECK_MSG(0, "m2m_extkey_new: %s: %s", m2m_strerror(rc),
			  m2m_ctx_detail(c));
		EVP_PKEY_free(s->priv);
		free(s);
		EVP_PKEY_free(p);
		return 0;
	}
	if (sp)
		*sp = s;
	if (pub)
		*pub = p;
	else
		EVP_PKEY_free(p);
	return 1;
}

static int make_ext(enum m2m_key_alg alg, int *frees, EVP_PKEY **ext,
		    EVP_PKEY **pub, struct soft **sp)
{
	return make_ext_in(ctx, alg, frees, ext, pub, sp);
}

/* The cases every test runs: an algorithm, a digest, PSS or not. */
static const struct kase {
	const char *name;
	enum m2m_key_alg alg;
	const char *md;
	int pss;
} cases[] = {
	{ "P-256", M2M_KEY_EC_P256, "SHA256", 0 },
	{ "P-384", M2M_KEY_EC_P384, "SHA384", 0 },
	{ "RSA-2048 PKCS#1", M2M_KEY_RSA2048, "SHA256", 0 },
	{ "RSA-2048 PSS", M2M_KEY_RSA2048, "SHA256", 1 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* PSS with MGF1 of the digest and a salt of its length, on pctx. */
static int set_pss(EVP_PKEY_CTX *pctx)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
						RSA_PSS_SALTLEN_DIGEST) > 0;
}

/* A digest-signing context for key (PSS if pss) with md; NULL on error. */
static EVP_MD_CTX *sign_ctx(EVP_PKEY *key, const char *md, int pss)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	if (!mctx || EVP_DigestSignInit_ex(mctx, &pctx, md, ctx->libctx,
					   m2m_extkey_propq(key), key,
					   NULL) != 1 ||
	    (pss && !set_pss(pctx))) {
		EVP_MD_CTX_free(mctx);
		return NULL;
	}
	return mctx;
}

/* sig[0..len) over data[0..dlen) verifies with pub (default provider). */
static int verifies(EVP_PKEY *pub, const char *md, int pss,
		    const unsigned char *sig, size_t len,
		    const unsigned char *data, size_t dlen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	ok = mctx && EVP_DigestVerifyInit_ex(mctx, &pctx, md, ctx->libctx,
					     NULL, pub, NULL) == 1 &&
	     (!pss || set_pss(pctx)) &&
	     EVP_DigestVerify(mctx, sig, len, data, dlen) == 1;
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	return ok;
}

static const char *provider_of_pctx(EVP_PKEY_CTX *pctx)
{
	const OSSL_PROVIDER *p = pctx ? EVP_PKEY_CTX_get0_provider(pctx) : NULL;

	return p ? OSSL_PROVIDER_get0_name(p) : "(none)";
}

static const char *provider_of_key(EVP_PKEY *pkey)
{
	const OSSL_PROVIDER *p = pkey ? EVP_PKEY_get0_provider(pkey) : NULL;

	return p ? OSSL_PROVIDER_get0_name(p) : "(none)";
}

/* ---- signing ------------------------------------------------------------ */

UNIT_TEST(digest_sign_one_shot_and_streamed_verify)
{
	static const unsigned char data[] = "device 0042, model 7";
	unsigned char sig[512];
	size_t i, len;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		EVP_MD_CTX *mctx = NULL;
		EVP_PKEY_CTX *pctx = NULL;
		struct soft *s = NULL;
		int frees = 0;

		if (!CHECK_MSG(make_ext(k->alg, &frees, &ext, &pub, &s),
			       "%s: no key", k->name))
			continue;
		mctx = EVP_MD_CTX_new();
		CHECK_MSG(mctx && EVP_DigestSignInit_ex(mctx, &pctx, k->md,
				ctx->libctx, m2m_extkey_propq(ext), ext,
				NULL) == 1 && (!k->pss || set_pss(pctx)),
			  "%s: cannot start signing", k->name);
		/* The signature operation is ours, not the default's. */
		CHECK_EQ_STR(provider_of_pctx(pctx), "m2m-ext");
		len = sizeof(sig);
		CHECK_MSG(EVP_DigestSign(mctx, sig, &len, data, sizeof(data))
			  == 1, "%s: EVP_DigestSign failed", k->name);
		CHECK_MSG(verifies(pub, k->md, k->pss, sig, len, data,
				   sizeof(data)), "%s: does not verify",
			  k->name);
		CHECK_EQ_INT(s->calls, 1);
		CHECK_EQ_STR(s->md, k->md);
		CHECK_EQ_INT(s->pad, k->alg == M2M_KEY_RSA2048 ?
			     (k->pss ? M2M_EXTKEY_RSA_PSS :
			      M2M_EXTKEY_RSA_PKCS1) : M2M_EXTKEY_ECDSA);
		EVP_MD_CTX_free(mctx);

		/* Update + Final, in pieces. */
		mctx = sign_ctx(ext, k->md, k->pss);
		len = sizeof(sig);
		CHECK_MSG(mctx &&
			  EVP_DigestSignUpdate(mctx, data, 7) == 1 &&
			  EVP_DigestSignUpdate(mctx, data + 7,
					       sizeof(data) - 7) == 1 &&
			  EVP_DigestSignFinal(mctx, NULL, &len) == 1 &&
			  len == (size_t)EVP_PKEY_get_size(pub) &&
			  EVP_DigestSignFinal(mctx, sig, &len) == 1,
			  "%s: streamed signing failed", k->name);
		CHECK_MSG(verifies(pub, k->md, k->pss, sig, len, data,
				   sizeof(data)), "%s: streamed does not verify",
			  k->name);
		EVP_MD_CTX_free(mctx);
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
		CHECK_EQ_INT(frees, 1);
	}
	ERR_clear_error();
}

UNIT_TEST(digests_sha384_and_sha512_with_every_key)
{
	static const char *const mds[] = { "SHA256", "SHA384", "SHA512" };
	static const unsigned char data[] = "x";
	unsigned char sig[512];
	size_t i, j, len;

	for (i = 0; i < NCASES; i++) {
		EVP_PKEY *ext = NULL, *pub = NULL;
		int frees = 0;

		if (!make_ext(cases[i].alg, &frees, &ext, &pub, NULL))
			continue;
		for (j = 0; j < 3; j++) {
			EVP_MD_CTX *mctx = sign_ctx(ext, mds[j], cases[i].pss);

			len = sizeof(sig);
			CHECK_MSG(mctx && EVP_DigestSign(mctx, sig, &len, data,
							 1) == 1 &&
				  verifies(pub, mds[j], cases[i].pss, sig, len,
					   data, 1),
				  "%s with %s", cases[i].name, mds[j]);
			EVP_MD_CTX_free(mctx);
		}
		/* Not a digest a back-end is asked for. */
		CHECK(sign_ctx(ext, "SHA1", cases[i].pss) == NULL);
		ERR_clear_error();
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
	}
}

/*
 * OSSL_SIGNATURE_PARAM_ALGORITHM_ID of ours is what the default
 * provider's operation gives for the private key, for every digest.
 */
UNIT_TEST(algorithm_ids_are_the_default_providers)
{
	static const char *const mds[] = { "SHA256", "SHA384", "SHA512" };
	size_t i, j;

	for (i = 0; i < NCASES; i++) {
		EVP_PKEY *ext = NULL;
		struct soft *s = NULL;
		int frees = 0;

		if (!make_ext(cases[i].alg, &frees, &ext, NULL, &s))
			continue;
		for (j = 0; j < 3; j++) {
			unsigned char a[128], b[128];
			OSSL_PARAM pa[2], pb[2];
			EVP_MD_CTX *ma = sign_ctx(ext, mds[j], cases[i].pss);
			EVP_MD_CTX *mb = sign_ctx(s->priv, mds[j],
						  cases[i].pss);

			pa[0] = OSSL_PARAM_construct_octet_string(
				OSSL_SIGNATURE_PARAM_ALGORITHM_ID, a, sizeof(a));
			pa[1] = OSSL_PARAM_construct_end();
			memcpy(pb, pa, sizeof(pb));
			pb[0].data = b;
			if (!CHECK_MSG(ma && mb &&
				       EVP_PKEY_CTX_get_params(
					       EVP_MD_CTX_get_pkey_ctx(ma), pa) &&
				       EVP_PKEY_CTX_get_params(
					       EVP_MD_CTX_get_pkey_ctx(mb), pb),
				       "%s %s: no algorithm id", cases[i].name,
				       mds[j])) {
				EVP_MD_CTX_free(ma);
				EVP_MD_CTX_free(mb);
				continue;
			}
			CHECK_MSG(pa[0].return_size == pb[0].return_size,
				  "%s %s: %zu bytes, want %zu", cases[i].name,
				  mds[j], pa[0].return_size,
				  pb[0].return_size);
			if (pa[0].return_size == pb[0].return_size)
				CHECK_EQ_MEM(a, b, pb[0].return_size);
			EVP_MD_CTX_free(ma);
			EVP_MD_CTX_free(mb);
		}
		EVP_PKEY_free(ext);
	}
	ERR_clear_error();
}

/* EVP_PKEY_sign over a digest made elsewhere. */
UNIT_TEST(sign_a_digest)
{
	static const unsigned char data[] = "firmware image";
	unsigned char dgst[EVP_MAX_MD_SIZE], sig[512];
	unsigned int dlen;
	size_t i, len;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		EVP_PKEY_CTX *pctx = NULL, *vctx = NULL;
		EVP_MD *md = EVP_MD_fetch(ctx->libctx, k->md, NULL);
		int frees = 0, set_md;

		if (!md || !make_ext(k->alg, &frees, &ext, &pub, NULL)) {
			EVP_MD_free(md);
			continue;
		}
		CHECK(EVP_Digest(data, sizeof(data), dgst, &dlen, md, NULL));
		/* ECDSA is also tried without naming the digest. */
		for (set_md = k->pss || k->alg == M2M_KEY_RSA2048; set_md < 2;
		     set_md++) {
			pctx = EVP_PKEY_CTX_new_from_pkey(ctx->libctx, ext,
							  m2m_extkey_propq(ext));
			len = sizeof(sig);
			CHECK_MSG(pctx && EVP_PKEY_sign_init(pctx) == 1 &&
				  (!set_md ||
				   EVP_PKEY_CTX_set_signature_md(pctx, md) > 0) &&
				  (!k->pss || set_pss(pctx)) &&
				  EVP_PKEY_sign(pctx, NULL, &len, dgst, dlen)
				  == 1 &&
				  EVP_PKEY_sign(pctx, sig, &len, dgst, dlen)
				  == 1, "%s: EVP_PKEY_sign failed", k->name);
			CHECK_EQ_STR(provider_of_pctx(pctx), "m2m-ext");
			vctx = EVP_PKEY_CTX_new_from_pkey(ctx->libctx, pub, NULL);
			CHECK_MSG(vctx && EVP_PKEY_verify_init(vctx) == 1 &&
				  EVP_PKEY_CTX_set_signature_md(vctx, md) > 0 &&
				  (!k->pss || set_pss(vctx)) &&
				  EVP_PKEY_verify(vctx, sig, len, dgst, dlen)
				  == 1, "%s: does not verify", k->name);
			EVP_PKEY_CTX_free(pctx);
			EVP_PKEY_CTX_free(vctx);
		}
		EVP_MD_free(md);
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
		CHECK_EQ_INT(frees, 1);
	}
	ERR_clear_error();
}

/*
 * One context for 100 signatures (X509_sign_ctx and friends call
 * EVP_DigestSign on it each time), and the way lib/issue.c does it: a
 * copy of a prepared context per certificate.
 */
UNIT_TEST(one_context_many_signatures)
{
	unsigned char data[32], sig[512];
	size_t i, n, len;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		EVP_MD_CTX *mctx, *copy;
		struct soft *s = NULL;
		int frees = 0, bad = 0, badcopy = 0;

		if (!make_ext(k->alg, &frees, &ext, &pub, &s))
			continue;
		mctx = sign_ctx(ext, k->md, k->pss);
		if (!CHECK(mctx))
			goto next;
		for (n = 0; n < 100; n++) {
			memset(data, (int)n, sizeof(data));
			len = sizeof(sig);
			if (EVP_DigestSign(mctx, sig, &len, data,
					   sizeof(data)) != 1 ||
			    !verifies(pub, k->md, k->pss, sig, len, data,
				      sizeof(data)))
				bad++;
		}
		for (n = 0; n < 20; n++) {
			memset(data, (int)n + 1, sizeof(data));
			copy = EVP_MD_CTX_new();
			len = sizeof(sig);
			if (!copy || !EVP_MD_CTX_copy_ex(copy, mctx) ||
			    EVP_DigestSignUpdate(copy, data, sizeof(data)) != 1 ||
			    EVP_DigestSignFinal(copy, sig, &len) != 1 ||
			    !verifies(pub, k->md, k->pss, sig, len, data,
				      sizeof(data)))
				badcopy++;
			EVP_MD_CTX_free(copy);
		}
		CHECK_MSG(bad == 0, "%s: %d of 100 signatures bad", k->name,
			  bad);
		CHECK_MSG(badcopy == 0, "%s: %d of 20 copies bad", k->name,
			  badcopy);
		CHECK_EQ_INT(s->calls, 120);
		EVP_MD_CTX_free(mctx);
next:
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
		CHECK_EQ_INT(frees, 1);
	}
	ERR_clear_error();
}

/* ---- certificates, requests, CRLs --------------------------------------- */

/* A self-issued certificate of ext, not yet signed. */
static X509 *cert_of(EVP_PKEY *ext)
{
	X509 *x = X509_new();
	X509_NAME *name = NULL;

	if (!x || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 42) ||
	    m2m_name_parse(ctx, "CN=External CA", &name) != M2M_OK ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
	    !X509_set_pubkey(x, ext)) {
		X509_NAME_free(name);
		X509_free(x);
		return NULL;
	}
	X509_NAME_free(name);
	return x;
}

UNIT_TEST(certificate_request_and_crl_verify)
{
	size_t i;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		EVP_MD_CTX *mctx = NULL;
		X509 *x = NULL;
		X509_REQ *req = NULL;
		X509_CRL *crl = NULL;
		int frees = 0;

		if (!make_ext(k->alg, &frees, &ext, &pub, NULL))
			continue;
		if (k->pss)
			mctx = sign_ctx(ext, k->md, 1);
		else
			CHECK_OK(m2m_sign_ctx_new(ctx, ext, k->alg, &mctx));
		if (!CHECK(mctx))
			goto next;
		x = cert_of(ext);
		CHECK_MSG(x && X509_sign_ctx(x, mctx) > 0,
			  "%s: X509_sign_ctx failed", k->name);
		CHECK_MSG(x && X509_verify(x, pub) == 1,
			  "%s: certificate does not verify", k->name);
		CHECK_MSG(x && EVP_PKEY_eq(X509_get0_pubkey(x), pub) == 1,
			  "%s: certificate has another key", k->name);
		CHECK_EQ_INT(x ? X509_get_signature_nid(x) : 0,
			     k->pss ? NID_rsassaPss :
			     k->alg == M2M_KEY_EC_P256 ? NID_ecdsa_with_SHA256 :
			     k->alg == M2M_KEY_EC_P384 ? NID_ecdsa_with_SHA384 :
			     NID_sha256WithRSAEncryption);

		req = X509_REQ_new();
		CHECK_MSG(req && X509_REQ_set_subject_name(req,
				X509_get_subject_name(x)) &&
			  X509_REQ_set_pubkey(req, ext) &&
			  X509_REQ_sign_ctx(req, mctx) > 0 &&
			  X509_REQ_verify(req, pub) == 1,
			  "%s: request does not verify", k->name);

		crl = X509_CRL_new();
		CHECK_MSG(crl && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
			  X509_CRL_set_issuer_name(crl,
				X509_get_subject_name(x)) &&
			  X509_CRL_set1_lastUpdate(crl, X509_get0_notBefore(x)) &&
			  X509_CRL_sign_ctx(crl, mctx) > 0 &&
			  X509_CRL_verify(crl, pub) == 1,
			  "%s: CRL does not verify", k->name);

		/*
		 * An OCSP response, signed as lib/revoke.c does, by a
		 * certificate read back from DER: OpenSSL first checks that
		 * its key matches the signing key.
		 */
		{
			unsigned char *der = NULL;
			const unsigned char *p;
			int n = x ? i2d_X509(x, &der) : 0;
			X509 *back;
			OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
			STACK_OF(X509) *certs = sk_X509_new_null();
			X509_STORE *store = X509_STORE_new();

			p = der;
			back = n > 0 ? d2i_X509(NULL, &p, n) : NULL;
			/* The signature alone: OCSP_NOVERIFY skips the chain. */
			CHECK_MSG(back && bs && certs && store &&
				  sk_X509_push(certs, back) &&
				  OCSP_basic_sign_ctx(bs, back, mctx, NULL,
						      OCSP_NOCERTS) == 1 &&
				  OCSP_basic_verify(bs, certs, store,
						    OCSP_NOVERIFY) == 1,
				  "%s: OCSP response does not verify", k->name);
			X509_STORE_free(store);
			sk_X509_free(certs);
			OCSP_BASICRESP_free(bs);
			X509_free(back);
			OPENSSL_free(der);
		}
next:
		X509_CRL_free(crl);
		X509_REQ_free(req);
		X509_free(x);
		EVP_MD_CTX_free(mctx);
		EVP_PKEY_free(ext);
		CHECK_EQ_INT(frees, 1);
		EVP_PKEY_free(pub);
	}
	ERR_clear_error();
}

/* RSA-3072, once: its key takes long to make. */
UNIT_TEST(rsa3072_certificate_verifies)
{
	EVP_PKEY *ext = NULL, *pub = NULL;
	EVP_MD_CTX *mctx = NULL;
	enum m2m_key_alg alg = M2M_KEY_EC_P256;
	X509 *x = NULL;
	int frees = 0;

	if (!make_ext(M2M_KEY_RSA3072, &frees, &ext, &pub, NULL))
		return;
	CHECK_OK(m2m_pkey_alg(ctx, ext, &alg));
	CHECK_EQ_INT(alg, M2M_KEY_RSA3072);
	CHECK_EQ_INT(EVP_PKEY_get_size(ext), 384);
	CHECK_OK(m2m_sign_ctx_new(ctx, ext, M2M_KEY_RSA3072, &mctx));
	x = cert_of(ext);
	CHECK(x && mctx && X509_sign_ctx(x, mctx) > 0 &&
	      X509_verify(x, pub) == 1);
	X509_free(x);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(ext);
	EVP_PKEY_free(pub);
	CHECK_EQ_INT(frees, 1);
	ERR_clear_error();
}

/* ---- the key ------------------------------------------------------------ */

UNIT_TEST(public_half_is_the_public_keys)
{
	size_t i;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		unsigned char *a = NULL, *b = NULL;
		enum m2m_key_alg alg = M2M_KEY_ED25519;
		int frees = 0, na, nb;

		if (k->pss || !make_ext(k->alg, &frees, &ext, &pub, NULL))
			continue;
		CHECK(m2m_extkey_is(ext));
		CHECK(!m2m_extkey_is(pub));
		CHECK_EQ_STR(m2m_extkey_propq(ext), "provider=m2m-ext");
		CHECK(m2m_extkey_propq(pub) == NULL);
		CHECK_EQ_STR(provider_of_key(ext), "m2m-ext");

		na = i2d_PUBKEY(ext, &a);
		nb = i2d_PUBKEY(pub, &b);
		CHECK_MSG(na > 0 && na == nb, "%s: SPKI of %d bytes, want %d",
			  k->name, na, nb);
		if (na > 0 && na == nb)
			CHECK_EQ_MEM(a, b, (size_t)na);
		OPENSSL_free(a);
		OPENSSL_free(b);

		/* The private half never comes out. */
		{
			BIO *bio = BIO_new(BIO_s_mem());
			char *mem = NULL;

			CHECK(bio && !PEM_write_bio_PrivateKey(bio, ext, NULL,
							       NULL, 0, NULL,
							       NULL));
			CHECK_EQ_INT(bio ? BIO_get_mem_data(bio, &mem) : 0, 0);
			BIO_free(bio);
			ERR_clear_error();
		}

		CHECK_OK(m2m_pkey_alg(ctx, ext, &alg));
		CHECK_EQ_INT(alg, k->alg);
		CHECK_EQ_INT(EVP_PKEY_get_bits(ext), EVP_PKEY_get_bits(pub));
		CHECK_EQ_INT(EVP_PKEY_get_security_bits(ext),
			     EVP_PKEY_get_security_bits(pub));
		CHECK_EQ_INT(EVP_PKEY_get_size(ext), EVP_PKEY_get_size(pub));
		CHECK_EQ_INT(EVP_PKEY_eq(ext, pub), 1);
		CHECK_EQ_INT(EVP_PKEY_eq(pub, ext), 1);
		if (k->alg != M2M_KEY_RSA2048) {
			unsigned char pa[200], pb[200];
			size_t la = 0, lb = 0;
			char group[32] = "";

			CHECK(EVP_PKEY_is_a(ext, "EC"));
			CHECK(!EVP_PKEY_is_a(ext, "RSA"));
			CHECK(EVP_PKEY_get_utf8_string_param(ext,
				OSSL_PKEY_PARAM_GROUP_NAME, group,
				sizeof(group), NULL));
			CHECK_EQ_STR(group, k->alg == M2M_KEY_EC_P256 ?
				     "prime256v1" : "secp384r1");
			CHECK(EVP_PKEY_get_octet_string_param(ext,
				OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pa,
				sizeof(pa), &la));
			CHECK(EVP_PKEY_get_octet_string_param(pub,
				OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pb,
				sizeof(pb), &lb));
			if (CHECK_EQ_INT(la, lb))
				CHECK_EQ_MEM(pa, pb, la);
			la = 0;
			CHECK(EVP_PKEY_get_octet_string_param(ext,
				OSSL_PKEY_PARAM_PUB_KEY, pa, sizeof(pa), &la));
			CHECK_EQ_INT(la, lb);
		} else {
			BIGNUM *n1 = NULL, *n2 = NULL, *e = NULL;

			CHECK(EVP_PKEY_is_a(ext, "RSA"));
			CHECK(!EVP_PKEY_is_a(ext, "EC"));
			CHECK(EVP_PKEY_get_bn_param(ext, OSSL_PKEY_PARAM_RSA_N,
						    &n1));
			CHECK(EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N,
						    &n2));
			CHECK(n1 && n2 && BN_cmp(n1, n2) == 0);
			CHECK(EVP_PKEY_get_bn_param(ext, OSSL_PKEY_PARAM_RSA_E,
						    &e));
			CHECK(e && BN_is_word(e, 65537));
			BN_free(n1);
			BN_free(n2);
			BN_free(e);
		}
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
	}
	ERR_clear_error();
}

UNIT_TEST(handle_freed_once_with_the_last_reference)
{
	EVP_PKEY *ext = NULL, *dup = NULL;
	EVP_MD_CTX *mctx = NULL, *copy = NULL;
	unsigned char sig[128];
	size_t len = sizeof(sig);
	X509 *x = NULL;
	int frees = 0;

	if (!make_ext(M2M_KEY_EC_P256, &frees, &ext, NULL, NULL))
		return;
	EVP_PKEY_free(ext);
	CHECK_EQ_INT(frees, 1);

	frees = 0;
	if (!make_ext(M2M_KEY_EC_P256, &frees, &ext, NULL, NULL))
		return;
	CHECK(EVP_PKEY_up_ref(ext));
	EVP_PKEY_free(ext);
	CHECK_EQ_INT(frees, 0);
	EVP_PKEY_free(ext);
	CHECK_EQ_INT(frees, 1);

	/* A signing context and a copy of it keep the key. */
	frees = 0;
	if (!make_ext(M2M_KEY_EC_P256, &frees, &ext, NULL, NULL))
		return;
	mctx = sign_ctx(ext, "SHA256", 0);
	EVP_PKEY_free(ext);
	copy = EVP_MD_CTX_new();
	CHECK(mctx && copy && EVP_MD_CTX_copy_ex(copy, mctx));
	EVP_MD_CTX_free(mctx);
	CHECK_EQ_INT(frees, 0);
	CHECK(EVP_DigestSign(copy, sig, &len, sig, 16) == 1);
	EVP_MD_CTX_free(copy);
	CHECK_EQ_INT(frees, 1);

	/* So do EVP_PKEY_dup and a certificate holding the key. */
	frees = 0;
	if (!make_ext(M2M_KEY_RSA2048, &frees, &ext, NULL, NULL))
		return;
	dup = EVP_PKEY_dup(ext);
	CHECK(dup && m2m_extkey_is(dup));
	x = cert_of(ext);
	CHECK(x);
	EVP_PKEY_free(ext);
	EVP_PKEY_free(dup);
	CHECK_EQ_INT(frees, 0);
	X509_free(x);
	CHECK_EQ_INT(frees, 1);
	ERR_clear_error();
}

UNIT_TEST(failing_back_end_names_itself_in_the_detail)
{
	EVP_PKEY *ext = NULL;
	EVP_MD_CTX *mctx = NULL;
	struct soft *s = NULL;
	unsigned char sig[128];
	size_t len = sizeof(sig);
	X509 *x = NULL;
	int frees = 0;

	if (!make_ext(M2M_KEY_EC_P256, &frees, &ext, NULL, &s))
		return;
	s->fail = 1;
	CHECK_OK(m2m_sign_ctx_new(ctx, ext, M2M_KEY_EC_P256, &mctx));
	x = cert_of(ext);
	CHECK(x && mctx);
	if (x && mctx) {
		CHECK(X509_sign_ctx(x, mctx) <= 0);
		m2m_ctx_clear_error(ctx);
		CHECK_EQ_INT(m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot sign the certificate"),
			     M2M_ERR_CRYPTO);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), FAIL_TEXT);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), "pkcs11 key did not sign");

		CHECK(EVP_DigestSign(mctx, sig, &len, sig, 16) != 1);
		m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot sign");
		CHECK_CONTAINS(m2m_ctx_detail(ctx), FAIL_TEXT);
	}
	/* The token is back. */
	s->fail = 0;
	len = sizeof(sig);
	CHECK(mctx && EVP_DigestSign(mctx, sig, &len, sig, 16) == 1);
	CHECK(ERR_peek_error() == 0);
	X509_free(x);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(ext);
	CHECK_EQ_INT(frees, 1);
	ERR_clear_error();
}

/* ---- the provider beside the default one -------------------------------- */

static void check_default_fetches(struct m2m_ctx *c)
{
	static const unsigned char data[] = "data";
	unsigned char sig[512];
	size_t i, len;
	EVP_SIGNATURE *sg;
	EVP_KEYMGMT *km;

	for (i = 0; i < 3; i++) {
		static const char *const types[] = { "EC", "RSA", "ED25519" };
		static const enum m2m_key_alg algs[] = {
			M2M_KEY_EC_P384, M2M_KEY_RSA2048, M2M_KEY_ED25519,
		};
		EVP_PKEY_CTX *pctx;
		EVP_PKEY *k = NULL, *back = NULL;
		EVP_MD_CTX *mctx = NULL;
		BIO *bio = NULL;

		/* EVP_PKEY_CTX_new_from_name(libctx, type, NULL), keygen. */
		CHECK_MSG(m2m_pkey_generate(c, algs[i], &k) == M2M_OK,
			  "%s: %s", types[i], m2m_ctx_detail(c));
		CHECK_EQ_STR(provider_of_key(k), "default");
		mctx = EVP_MD_CTX_new();
		len = sizeof(sig);
		CHECK_MSG(mctx && EVP_DigestSignInit_ex(mctx, &pctx,
				i == 2 ? NULL : "SHA256", c->libctx, NULL, k,
				NULL) == 1, "%s: cannot start signing",
			  types[i]);
		CHECK_EQ_STR(provider_of_pctx(pctx), "default");
		CHECK(EVP_DigestSign(mctx, sig, &len, data, sizeof(data)) == 1);
		EVP_MD_CTX_free(mctx);
		mctx = EVP_MD_CTX_new();
		CHECK(mctx && EVP_DigestVerifyInit_ex(mctx, NULL,
				i == 2 ? NULL : "SHA256", c->libctx, NULL, k,
				NULL) == 1 &&
		      EVP_DigestVerify(mctx, sig, len, data, sizeof(data)) == 1);
		EVP_MD_CTX_free(mctx);

		/* PEM decoding. */
		bio = BIO_new(BIO_s_mem());
		CHECK(bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0,
						      NULL, NULL));
		back = bio ? PEM_read_bio_PrivateKey_ex(bio, NULL, NULL, NULL,
							c->libctx, NULL) :
		       NULL;
		CHECK_EQ_STR(provider_of_key(back), "default");
		BIO_free(bio);
		EVP_PKEY_free(back);
		back = public_of(c, k);
		CHECK_EQ_STR(provider_of_key(back), "default");
		EVP_PKEY_free(back);
		EVP_PKEY_free(k);
	}
	sg = EVP_SIGNATURE_fetch(c->libctx, "ECDSA", NULL);
	CHECK_EQ_STR(sg ? OSSL_PROVIDER_get0_name(
			EVP_SIGNATURE_get0_provider(sg)) : "(none)", "default");
	EVP_SIGNATURE_free(sg);
	sg = EVP_SIGNATURE_fetch(c->libctx, "RSA", NULL);
	CHECK_EQ_STR(sg ? OSSL_PROVIDER_get0_name(
			EVP_SIGNATURE_get0_provider(sg)) : "(none)", "default");
	EVP_SIGNATURE_free(sg);
	km = EVP_KEYMGMT_fetch(c->libctx, "EC", NULL);
	CHECK_EQ_STR(km ? OSSL_PROVIDER_get0_name(
			EVP_KEYMGMT_get0_provider(km)) : "(none)", "default");
	EVP_KEYMGMT_free(km);
	/* And ours come with the property query. */
	sg = EVP_SIGNATURE_fetch(c->libctx, "ECDSA", "provider=m2m-ext");
	CHECK_EQ_STR(sg ? OSSL_PROVIDER_get0_name(
			EVP_SIGNATURE_get0_provider(sg)) : "(none)", "m2m-ext");
	EVP_SIGNATURE_free(sg);
	ERR_clear_error();
}

UNIT_TEST(fetches_naming_no_provider_get_the_default)
{
	struct m2m_ctx *c = NULL;
	EVP_PKEY *ext = NULL, *pub = NULL;
	int frees = 0;

	/* In the shared context, after all the tests above. */
	if (make_ext(M2M_KEY_EC_P256, &frees, &ext, NULL, NULL)) {
		CHECK(ctx->ext_provider != NULL);
		check_default_fetches(ctx);
		EVP_PKEY_free(ext);
	}
	/*
	 * In a new context whose first fetch of anything is the provider's
	 * own: the public key comes from the application's context.
	 */
	if (!CHECK(m2m_ctx_new(&c) == M2M_OK))
		return;
	pub = EVP_EC_gen("P-256");
	{
		struct soft *s = calloc(1, sizeof(*s));

		if (CHECK(s && pub)) {
			s->ctx = c;
			s->frees = &frees;
			CHECK(m2m_extkey_new(c, pub, &soft_method, s, &ext) ==
			      M2M_OK);
			if (!ext)
				free(s);
		} else {
			free(s);
		}
	}
	EVP_PKEY_free(pub);
	check_default_fetches(c);
	EVP_PKEY_free(ext);
	m2m_ctx_free(c);
}

/*
 * Verifying with the external key, through either provider: OpenSSL may
 * fetch ours (with the property query, or falling back on the key's
 * provider), which hands the check to the public key.
 */
UNIT_TEST(verify_with_the_external_key)
{
	static const unsigned char data[] = "data";
	unsigned char sig[512];
	size_t i, len;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL;
		EVP_MD_CTX *mctx = NULL;
		EVP_PKEY_CTX *pctx = NULL;
		X509 *x = NULL;
		int frees = 0, q;

		if (!make_ext(k->alg, &frees, &ext, NULL, NULL))
			continue;
		mctx = sign_ctx(ext, k->md, k->pss);
		len = sizeof(sig);
		CHECK(mctx && EVP_DigestSign(mctx, sig, &len, data,
					     sizeof(data)) == 1);
		x = cert_of(ext);
		CHECK_MSG(x && mctx && X509_sign_ctx(x, mctx) > 0 &&
			  X509_verify(x, ext) == 1,
			  "%s: X509_verify with the external key", k->name);
		EVP_MD_CTX_free(mctx);
		for (q = 0; q < 2; q++) {
			mctx = EVP_MD_CTX_new();
			pctx = NULL;
			CHECK_MSG(mctx && EVP_DigestVerifyInit_ex(mctx, &pctx,
					k->md, ctx->libctx,
					q ? m2m_extkey_propq(ext) : NULL, ext,
					NULL) == 1 &&
				  (!k->pss || set_pss(pctx)) &&
				  EVP_DigestVerify(mctx, sig, len, data,
						   sizeof(data)) == 1,
				  "%s: EVP_DigestVerify%s", k->name,
				  q ? " with the query" : "");
			/* And a wrong signature does not verify. */
			sig[len / 2] ^= 1;
			CHECK(EVP_DigestVerify(mctx, sig, len, data,
					       sizeof(data)) != 1);
			sig[len / 2] ^= 1;
			EVP_MD_CTX_free(mctx);
		}
		X509_free(x);
		EVP_PKEY_free(ext);
		CHECK_EQ_INT(frees, 1);
	}
	ERR_clear_error();
}

/*
 * A context made without m2m_extkey_propq() (as CMS or other OpenSSL
 * code makes its own) still signs through the back-end: the default
 * provider's operation cannot have the private key, and OpenSSL falls
 * back on the key's provider.  The query stays the way lib/ does it.
 */
UNIT_TEST(contexts_without_the_query_still_sign)
{
	static const unsigned char data[] = "data";
	unsigned char dgst[32] = { 1 }, sig[512];
	size_t i, len;

	for (i = 0; i < NCASES; i++) {
		const struct kase *k = &cases[i];
		EVP_PKEY *ext = NULL, *pub = NULL;
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		struct soft *s = NULL;
		X509 *x = NULL;
		int frees = 0;

		if (!mctx || !make_ext(k->alg, &frees, &ext, &pub, &s)) {
			EVP_MD_CTX_free(mctx);
			continue;
		}
		len = sizeof(sig);
		CHECK_MSG(EVP_DigestSignInit_ex(mctx, &pctx, k->md,
						ctx->libctx, NULL, ext,
						NULL) == 1 &&
			  (!k->pss || set_pss(pctx)) &&
			  EVP_DigestSign(mctx, sig, &len, data,
					 sizeof(data)) == 1 &&
			  verifies(pub, k->md, k->pss, sig, len, data,
				   sizeof(data)),
			  "%s: EVP_DigestSign without the query", k->name);
		CHECK_EQ_STR(provider_of_pctx(pctx), "m2m-ext");
		EVP_MD_CTX_free(mctx);

		pctx = EVP_PKEY_CTX_new(ext, NULL);
		len = sizeof(sig);
		CHECK_MSG(pctx && EVP_PKEY_sign_init(pctx) == 1 &&
			  (!k->pss || set_pss(pctx)) &&
			  EVP_PKEY_sign(pctx, sig, &len, dgst, 32) == 1,
			  "%s: EVP_PKEY_sign without the query", k->name);
		EVP_PKEY_CTX_free(pctx);

		/* X509_sign: the default library context, no query. */
		x = cert_of(ext);
		if (!k->pss)
			CHECK_MSG(x && X509_sign(x, ext, EVP_get_digestbyname(
					k->md)) > 0 && X509_verify(x, pub) == 1,
				  "%s: X509_sign", k->name);
		CHECK_EQ_INT(s->calls, k->pss ? 2 : 3);
		X509_free(x);
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
		CHECK_EQ_INT(frees, 1);
	}
	ERR_clear_error();
}

/* ---- refusals ----------------------------------------------------------- */

UNIT_TEST(import_without_the_reference_fails)
{
	EVP_PKEY *k = NULL, *made = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM *params = NULL;
	int frees = 0;

	/* Make sure the provider is loaded. */
	if (!make_ext(M2M_KEY_EC_P256, &frees, &k, NULL, NULL))
		return;
	EVP_PKEY_free(k);
	k = NULL;
	CHECK(m2m_pkey_generate(ctx, M2M_KEY_EC_P256, &k) == M2M_OK);
	CHECK(k && EVP_PKEY_todata(k, EVP_PKEY_KEYPAIR, &params));
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "EC",
					  "provider=m2m-ext");
	CHECK(pctx && EVP_PKEY_fromdata_init(pctx) == 1);
	CHECK(EVP_PKEY_fromdata(pctx, &made, EVP_PKEY_KEYPAIR, params) != 1);
	CHECK(made == NULL);
	m2m_error_ossl(ctx, M2M_ERR_CRYPTO, "cannot import");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "made by m2m_extkey_new only");
	/* Signing a default key through our property query fails too. */
	{
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();

		CHECK(mctx && EVP_DigestSignInit_ex(mctx, NULL, "SHA256",
						    ctx->libctx,
						    "provider=m2m-ext", k,
						    NULL) != 1);
		EVP_MD_CTX_free(mctx);
	}
	ERR_clear_error();
	EVP_PKEY_free(made);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	EVP_PKEY_free(k);
}

/* The caller keeps the handle when m2m_extkey_new fails. */
static void check_refused(EVP_PKEY *pub, const char *phrase)
{
	struct soft s = { 0 };
	EVP_PKEY *ext = NULL;
	int frees = 0;

	s.frees = &frees;
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(m2m_extkey_new(ctx, pub, &soft_method, &s, &ext),
		     M2M_ERR_UNSUPPORTED);
	CHECK(ext == NULL);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), phrase);
	CHECK_EQ_INT(frees, 0);
}

UNIT_TEST(unsupported_keys_are_refused)
{
	EVP_PKEY *k = NULL;

	CHECK(m2m_pkey_generate(ctx, M2M_KEY_ED25519, &k) == M2M_OK);
	if (k)
		check_refused(k, "Ed25519");
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(ctx->libctx, NULL, "RSA", (size_t)1024);
	if (CHECK(k))
		check_refused(k, "1024 bits");
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(ctx->libctx, NULL, "EC", "P-521");
	if (CHECK(k))
		check_refused(k, "secp521r1");
	EVP_PKEY_free(k);
	ERR_clear_error();
}

/* Under ASan, LeakSanitizer reports anything left at exit. */
UNIT_TEST(context_freed_after_its_keys)
{
	struct m2m_ctx *c = NULL;
	EVP_PKEY *ext = NULL, *pub = NULL;
	EVP_MD_CTX *mctx = NULL;
	X509 *x = NULL;
	int frees = 0;

	if (!CHECK(m2m_ctx_new(&c) == M2M_OK))
		return;
	if (make_ext_in(c, M2M_KEY_EC_P384, &frees, &ext, &pub, NULL)) {
		CHECK(m2m_sign_ctx_new(c, ext, M2M_KEY_EC_P384, &mctx) ==
		      M2M_OK);
		x = cert_of(ext);
		CHECK(x && mctx && X509_sign_ctx(x, mctx) > 0 &&
		      X509_verify(x, pub) == 1);
		X509_free(x);
		EVP_MD_CTX_free(mctx);
		EVP_PKEY_free(ext);
		EVP_PKEY_free(pub);
	}
	CHECK_EQ_INT(frees, 1);
	m2m_ctx_free(c);
	ERR_clear_error();
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(digest_sign_one_shot_and_streamed_verify),
		UNIT(digests_sha384_and_sha512_with_every_key),
		UNIT(algorithm_ids_are_the_default_providers),
		UNIT(sign_a_digest),
		UNIT(one_context_many_signatures),
		UNIT(certificate_request_and_crl_verify),
		UNIT(rsa3072_certificate_verifies),
		UNIT(public_half_is_the_public_keys),
		UNIT(handle_freed_once_with_the_last_reference),
		UNIT(failing_back_end_names_itself_in_the_detail),
		UNIT(fetches_naming_no_provider_get_the_default),
		UNIT(verify_with_the_external_key),
		UNIT(contexts_without_the_query_still_sign),
		UNIT(import_without_the_reference_fails),
		UNIT(unsupported_keys_are_refused),
		UNIT(context_freed_after_its_keys),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
