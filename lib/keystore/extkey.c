/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "m2m-ext" provider (see extkey.h).  Key management "EC" and "RSA"
 * whose key data is a public EVP_PKEY and a back-end handle; signatures
 * "ECDSA" and "RSA" that hash here and hand the digest to the back-end.
 * Everything public (parameters, the point, the modulus, export to an
 * encoder) is answered by the public key.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "../internal.h"
#include "extkey.h"
#include "keystore.h"

#define PROV_NAME	"m2m-ext"
#define PROV_PROPQ	"provider=m2m-ext"
/* The import parameter m2m_extkey_new() passes a struct extref by. */
#define PARAM_REF	"m2m-ext-ref"

enum ktype { KT_EC, KT_RSA };

/* What m2m_extkey_new() hands the key management's import. */
struct extref {
	EVP_PKEY *pub;
	const struct m2m_extkey_method *method;
	void *handle;
	struct extkey *made;	/* out: the key data filled in */
};

/*
 * Key data.  Never changed after import, so dup shares it under a
 * reference count and the handle is freed once, with the last reference.
 */
struct extkey {
	atomic_int refs;
	enum ktype type;
	EVP_PKEY *pub;
	const struct m2m_extkey_method *method;
	void *handle;
	/*
	 * Set by m2m_extkey_new() once EVP_PKEY_fromdata() has succeeded:
	 * before that, a failure leaves the handle with the caller.
	 */
	int owns_handle;
};

/*
 * The digests a back-end is asked to sign, with the last byte of the
 * OIDs that name them:
 *   sha256 2.16.840.1.101.3.4.2.1, ecdsa-with-SHA256 1.2.840.10045.4.3.2,
 *   sha256WithRSAEncryption 1.2.840.113549.1.1.11; then 384 and 512.
 */
static const struct digest {
	const char *name;
	size_t len;
	unsigned char hash_oid, ecdsa_oid, rsa_oid;
} digests[] = {
	{ "SHA256", 32, 0x01, 0x02, 0x0b },
	{ "SHA384", 48, 0x02, 0x03, 0x0c },
	{ "SHA512", 64, 0x03, 0x04, 0x0d },
};

#define NDIGESTS (sizeof(digests) / sizeof(digests[0]))

/* ---- key management ----------------------------------------------------- */

static void extkey_up(struct extkey *k)
{
	atomic_fetch_add(&k->refs, 1);
}

static void extkey_down(struct extkey *k)
{
	if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	if (k->owns_handle)
		k->method->free(k->handle);
	EVP_PKEY_free(k->pub);
	free(k);
}

static void *km_new(enum ktype type)
{
	struct extkey *k = calloc(1, sizeof(*k));

	if (!k) {
		ERR_raise(ERR_LIB_PROV, ERR_R_MALLOC_FAILURE);
		return NULL;
	}
	atomic_init(&k->refs, 1);
	k->type = type;
	return k;
}

static void *km_ec_new(void *provctx)
{
	(void)provctx;
	return km_new(KT_EC);
}

static void *km_rsa_new(void *provctx)
{
	(void)provctx;
	return km_new(KT_RSA);
}

static void km_free(void *keydata)
{
	extkey_down(keydata);
}

static void *km_dup(const void *keydata, int selection)
{
	struct extkey *k = (struct extkey *)keydata;

	(void)selection;
	extkey_up(k);
	return k;
}

/*
 * Only m2m_extkey_new() can make a key: anything else that imports
 * (EVP_PKEY_fromdata without our reference, or OpenSSL exporting a key
 * of another provider to us) is refused, as there is no private half
 * we could reach.
 */
static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct extkey *k = keydata;
	const OSSL_PARAM *p;
	struct extref *ref = NULL;
	size_t len = 0;

	(void)selection;
	p = OSSL_PARAM_locate_const(params, PARAM_REF);
	if (!p || p->data_type != OSSL_PARAM_OCTET_PTR ||
	    !OSSL_PARAM_get_octet_ptr(p, (const void **)&ref, &len) ||
	    len != sizeof(*ref) || !ref || !ref->pub || !ref->method ||
	    !ref->method->sign || !ref->method->free) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED,
			       "%s keys are made by m2m_extkey_new only",
			       PROV_NAME);
		return 0;
	}
	if (k->pub || !EVP_PKEY_is_a(ref->pub, k->type == KT_EC ? "EC" :
				     "RSA")) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT,
			       "%s: public key of the wrong type", PROV_NAME);
		return 0;
	}
	if (!EVP_PKEY_up_ref(ref->pub))
		return 0;
	k->pub = ref->pub;
	k->method = ref->method;
	k->handle = ref->handle;
	ref->made = k;
	return 1;
}

static const OSSL_PARAM km_import_list[] = {
	{ PARAM_REF, OSSL_PARAM_OCTET_PTR, NULL, 0, 0 },
	OSSL_PARAM_END
};

static const OSSL_PARAM *km_import_types(int selection)
{
	(void)selection;
	return km_import_list;
}

/*
 * The public key and its parameters: how OpenSSL hands the key to the
 * default provider's encoders (i2d_PUBKEY, X509_set_pubkey) and compares
 * it with other keys.  A selection with the private key is refused: an
 * operation fetched from another provider (a context made without
 * m2m_extkey_propq) then cannot take the key, and OpenSSL 3.0 falls back
 * on the key's own provider, so such a context still signs through the
 * back-end instead of failing on a public-only copy.
 */
static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb,
		     void *cbarg)
{
	struct extkey *k = keydata;
	OSSL_PARAM *params = NULL;
	int ok;

	if (!k->pub || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) ||
	    !(selection & OSSL_KEYMGMT_SELECT_ALL))
		return 0;
	if (!EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params))
		return 0;
	ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static const OSSL_PARAM km_ec_exported[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			       NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM km_rsa_exported[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *km_ec_export_types(int selection)
{
	(void)selection;
	return km_ec_exported;
}

static const OSSL_PARAM *km_rsa_export_types(int selection)
{
	(void)selection;
	return km_rsa_exported;
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct extkey *k = keydata;

	return k->pub && EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM km_ec_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			       NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM km_rsa_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *km_ec_gettable_params(void *provctx)
{
	(void)provctx;
	return km_ec_gettable;
}

static const OSSL_PARAM *km_rsa_gettable_params(void *provctx)
{
	(void)provctx;
	return km_rsa_gettable;
}

/* The private half is there, on the device: we can sign. */
static int km_has(const void *keydata, int selection)
{
	const struct extkey *k = keydata;

	(void)selection;
	return k && k->pub;
}

static int km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct extkey *a = keydata1, *b = keydata2;

	if (!a->pub || !b->pub)
		return 0;
	if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
		return EVP_PKEY_eq(a->pub, b->pub) == 1;
	if (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)
		return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
	return 1;
}

/*
 * Which signature algorithm OpenSSL fetches for the key: only ours, so
 * only signatures; the rest falls back on the key type's name.
 */
static const char *km_ec_operation(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *km_rsa_operation(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

#define KM_COMMON \
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free }, \
	{ OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup }, \
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import }, \
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_import_types }, \
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export }, \
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params }, \
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has }, \
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match }

static const OSSL_DISPATCH km_ec_fns[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_ec_new },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
	  (void (*)(void))km_ec_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_ec_export_types },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
	  (void (*)(void))km_ec_operation },
	KM_COMMON,
	{ 0, NULL }
};

static const OSSL_DISPATCH km_rsa_fns[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_rsa_new },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
	  (void (*)(void))km_rsa_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_rsa_export_types },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
	  (void (*)(void))km_rsa_operation },
	KM_COMMON,
	{ 0, NULL }
};

/* ---- signatures --------------------------------------------------------- */

struct sigctx {
	OSSL_LIB_CTX *libctx;
	struct extkey *key;		/* a reference */
	const struct digest *dg;	/* NULL until known */
	EVP_MD *md;			/* dg's, fetched to hash with */
	EVP_MD_CTX *mdctx;		/* digest_sign_update's hash */
	enum m2m_extkey_pad pad;
	int saltlen;	/* asked for: RSA_PSS_SALTLEN_* or bytes */
	const struct digest *mgf1;	/* asked for; NULL: dg */
};

static void *sig_newctx(void *provctx, const char *propq)
{
	struct sigctx *c = calloc(1, sizeof(*c));

	(void)propq;
	if (!c) {
		ERR_raise(ERR_LIB_PROV, ERR_R_MALLOC_FAILURE);
		return NULL;
	}
	c->libctx = provctx;
	c->saltlen = RSA_PSS_SALTLEN_DIGEST;
	return c;
}

static void sig_freectx(void *vctx)
{
	struct sigctx *c = vctx;

	if (!c)
		return;
	EVP_MD_CTX_free(c->mdctx);
	EVP_MD_free(c->md);
	extkey_down(c->key);
	free(c);
}

/*
 * EVP_DigestSignFinal() signs with a copy, so that the context can go
 * on; EVP_MD_CTX_copy_ex() of a signing context lands here too.
 */
static void *sig_dupctx(void *vctx)
{
	const struct sigctx *src = vctx;
	struct sigctx *c = malloc(sizeof(*c));

	if (!c) {
		ERR_raise(ERR_LIB_PROV, ERR_R_MALLOC_FAILURE);
		return NULL;
	}
	*c = *src;
	c->md = NULL;
	c->mdctx = NULL;
	if (c->key)
		extkey_up(c->key);
	if (src->md) {
		if (!EVP_MD_up_ref(src->md))
			goto fail;
		c->md = src->md;
	}
	if (src->mdctx) {
		c->mdctx = EVP_MD_CTX_new();
		if (!c->mdctx || !EVP_MD_CTX_copy_ex(c->mdctx, src->mdctx))
			goto fail;
	}
	return c;
fail:
	sig_freectx(c);
	return NULL;
}

/*
 * The digest called name ("SHA256", "SHA2-256", an OID...), if it is
 * one we sign; NULL with an error raised otherwise.  *md gets it fetched.
 */
static const struct digest *digest_find(OSSL_LIB_CTX *libctx,
					const char *name, EVP_MD **md)
{
	EVP_MD *m;
	size_t i;

	ERR_set_mark();
	m = EVP_MD_fetch(libctx, name, NULL);
	ERR_pop_to_mark();
	for (i = 0; m && i < NDIGESTS; i++) {
		if (!EVP_MD_is_a(m, digests[i].name))
			continue;
		if (md)
			*md = m;
		else
			EVP_MD_free(m);
		return &digests[i];
	}
	EVP_MD_free(m);
	ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED,
		       "%s signs with SHA256, SHA384 or SHA512, not %s",
		       PROV_NAME, name);
	return NULL;
}

static int set_digest(struct sigctx *c, const char *name)
{
	EVP_MD *md = NULL;
	const struct digest *dg = digest_find(c->libctx, name, &md);

	if (!dg)
		return 0;
	/* Once hashing has begun, the digest stays. */
	if (c->mdctx && dg != c->dg) {
		EVP_MD_free(md);
		ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT,
			       "the digest cannot change while signing");
		return 0;
	}
	EVP_MD_free(c->md);
	c->md = md;
	c->dg = dg;
	return 1;
}

/* An integer or its text ("digest", "pss"), as OpenSSL passes either. */
static int param_int_or_text(const OSSL_PARAM *p, int *v, const char **text)
{
	*text = NULL;
	if (p->data_type == OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_utf8_string_ptr(p, text);
	return OSSL_PARAM_get_int(p, v);
}

static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	const OSSL_PARAM *p;
	const char *s;
	int v = 0;

	if (!params)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p && (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
		  !set_digest(c, s)))
		return 0;
	if (!c->key || c->key->type != KT_RSA)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p) {
		if (!param_int_or_text(p, &v, &s))
			return 0;
		if (s ? strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0 :
		    v == RSA_PKCS1_PADDING) {
			c->pad = M2M_EXTKEY_RSA_PKCS1;
		} else if (s ? strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0 :
			   v == RSA_PKCS1_PSS_PADDING) {
			c->pad = M2M_EXTKEY_RSA_PSS;
		} else {
			ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED,
				       "%s signs with pkcs1 or pss padding only",
				       PROV_NAME);
			return 0;
		}
	}
	/*
	 * Any salt length is taken, for verifying; signing takes only the
	 * digest's length, the back-end's (checked then, as the digest may
	 * come later).
	 */
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p) {
		if (!param_int_or_text(p, &v, &s))
			return 0;
		if (s && strcmp(s, "digest") == 0)
			v = RSA_PSS_SALTLEN_DIGEST;
		else if (s && strcmp(s, "auto") == 0)
			v = RSA_PSS_SALTLEN_AUTO;
		else if (s && strcmp(s, "max") == 0)
			v = RSA_PSS_SALTLEN_MAX;
		else if (s)
			v = atoi(s);
		c->saltlen = v;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (p) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		c->mgf1 = digest_find(c->libctx, s, NULL);
		if (!c->mgf1)
			return 0;
	}
	return 1;
}

static const OSSL_PARAM sig_ec_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM sig_rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *sig_ec_settable_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return sig_ec_settable;
}

static const OSSL_PARAM *sig_rsa_settable_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return sig_rsa_settable;
}

/*
 * The DER AlgorithmIdentifier of the signature c makes, into
 * out[0..*len); 0 if the digest is not known yet.  X509_sign_ctx and its
 * kin put it in what they sign.
 */
static int algorithm_id(const struct sigctx *c, unsigned char *out,
			size_t *len)
{
	/* SEQUENCE { ecdsa-with-SHAxxx } (RFC 5758: no parameters) */
	static const unsigned char ecdsa[] = {
		0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
		0x03, 0x00,
	};
	/* SEQUENCE { shaxxxWithRSAEncryption, NULL } (RFC 4055) */
	static const unsigned char pkcs1[] = {
		0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x00, 0x05, 0x00,
	};
	/*
	 * SEQUENCE { id-RSASSA-PSS, RSASSA-PSS-params {
	 *   [0] hashAlgorithm SEQUENCE { shaxxx, NULL },
	 *   [1] maskGenAlgorithm SEQUENCE { id-mgf1,
	 *                                   SEQUENCE { shaxxx, NULL } },
	 *   [2] saltLength INTEGER (the digest's length) } }  (RFC 4055)
	 * as OpenSSL writes it for the default provider's keys.
	 */
	static const unsigned char pss[] = {
		0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x0a, 0x30, 0x34,
		0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x00, 0x05, 0x00,
		0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
		0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60,
		0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x00, 0x05, 0x00,
		0xa2, 0x03, 0x02, 0x01, 0x00,
	};
	const struct digest *dg = c->dg;

	if (!dg || !c->key)
		return 0;
	if (c->key->type == KT_EC) {
		memcpy(out, ecdsa, sizeof(ecdsa));
		out[11] = dg->ecdsa_oid;
		*len = sizeof(ecdsa);
	} else if (c->pad == M2M_EXTKEY_RSA_PKCS1) {
		memcpy(out, pkcs1, sizeof(pkcs1));
		out[12] = dg->rsa_oid;
		*len = sizeof(pkcs1);
	} else {
		memcpy(out, pss, sizeof(pss));
		out[29] = dg->hash_oid;
		out[59] = dg->hash_oid;
		out[66] = (unsigned char)dg->len;
		*len = sizeof(pss);
	}
	return 1;
}

static int sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	unsigned char aid[80];
	size_t aidlen;
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
	if (p && algorithm_id(c, aid, &aidlen) &&
	    !OSSL_PARAM_set_octet_string(p, aid, aidlen))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p && c->dg && !OSSL_PARAM_set_utf8_string(p, c->dg->name))
		return 0;
	if (!c->key || c->key->type != KT_RSA)
		return 1;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p) {
		int pss = c->pad == M2M_EXTKEY_RSA_PSS;

		if (p->data_type == OSSL_PARAM_UTF8_STRING ?
		    !OSSL_PARAM_set_utf8_string(p, pss ?
				OSSL_PKEY_RSA_PAD_MODE_PSS :
				OSSL_PKEY_RSA_PAD_MODE_PKCSV15) :
		    !OSSL_PARAM_set_int(p, pss ? RSA_PKCS1_PSS_PADDING :
					RSA_PKCS1_PADDING))
			return 0;
	}
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p && c->dg && (p->data_type == OSSL_PARAM_UTF8_STRING ?
			   !OSSL_PARAM_set_utf8_string(p, "digest") :
			   !OSSL_PARAM_set_int(p, (int)c->dg->len)))
		return 0;
	return 1;
}

static const OSSL_PARAM sig_ec_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM sig_rsa_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *sig_ec_gettable_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return sig_ec_gettable;
}

static const OSSL_PARAM *sig_rsa_gettable_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return sig_rsa_gettable;
}

/*
 * sign_init and verify_init: start with provkey, from defaults; with
 * NULL, start again with the key and settings of an earlier init.
 */
static int sig_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	struct extkey *k = provkey;

	if (k) {
		extkey_up(k);
		extkey_down(c->key);
		c->key = k;
		EVP_MD_free(c->md);
		c->md = NULL;
		c->dg = NULL;
		c->pad = k->type == KT_EC ? M2M_EXTKEY_ECDSA :
			 M2M_EXTKEY_RSA_PKCS1;
		c->saltlen = RSA_PSS_SALTLEN_DIGEST;
		c->mgf1 = NULL;
	}
	if (!c->key || !c->key->pub) {
		ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
		return 0;
	}
	EVP_MD_CTX_free(c->mdctx);
	c->mdctx = NULL;
	return sig_set_ctx_params(c, params);
}

/* dlen bytes are a digest of dg (NULL: not known); else an error. */
static int digest_fits(const struct digest *dg, size_t dlen)
{
	if (dg && dlen == dg->len)
		return 1;
	ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT,
		       "%s: %zu bytes are not a %s digest", PROV_NAME, dlen,
		       dg ? dg->name : "SHA256, SHA384 or SHA512");
	return 0;
}

/* The back-end signs dgst, a digest of dg, into sig[0..sigsize). */
static int sign_digest(const struct sigctx *c, const struct digest *dg,
		       const unsigned char *dgst, size_t dlen,
		       unsigned char *sig, size_t *siglen, size_t sigsize)
{
	const struct extkey *k = c->key;
	size_t max = (size_t)EVP_PKEY_get_size(k->pub), n = sigsize;

	if (!digest_fits(dg, dlen))
		return 0;
	if (c->pad == M2M_EXTKEY_RSA_PSS &&
	    ((c->saltlen != RSA_PSS_SALTLEN_DIGEST &&
	      (c->saltlen < 0 || (size_t)c->saltlen != dg->len)) ||
	     (c->mgf1 && c->mgf1 != dg))) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED,
			       "%s: PSS takes MGF1 with the digest and a salt as long as the digest",
			       PROV_NAME);
		return 0;
	}
	if (sigsize < max) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT,
			       "%s: signature buffer of %zu bytes, need %zu",
			       PROV_NAME, sigsize, max);
		return 0;
	}
	if (k->method->sign(k->handle, c->pad, dg->name, dgst, dlen, sig,
			    &n) != 1) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL,
			       "the %s key did not sign", k->method->name);
		return 0;
	}
	/* Check what the back-end wrote, before it ends up in a certificate. */
	if (k->type == KT_EC) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = n <= max ? d2i_ECDSA_SIG(NULL, &p, (long)n) :
				NULL;

		ECDSA_SIG_free(es);
		if (!es || p != sig + n) {
			ERR_raise_data(ERR_LIB_PROV, ERR_R_INTERNAL_ERROR,
				       "the %s key's signature is not a DER ECDSA-Sig-Value",
				       k->method->name);
			return 0;
		}
	} else if (n != max) {
		ERR_raise_data(ERR_LIB_PROV, ERR_R_INTERNAL_ERROR,
			       "the %s key's signature has %zu bytes, not %zu",
			       k->method->name, n, max);
		return 0;
	}
	*siglen = n;
	return 1;
}

/* Sign a digest: EVP_PKEY_sign(). */
static int sig_sign(void *vctx, unsigned char *sig, size_t *siglen,
		    size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = vctx;
	const struct digest *dg = c->dg;
	size_t i;

	if (!sig) {
		*siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
		return 1;
	}
	/* Without EVP_PKEY_CTX_set_signature_md(), the length tells. */
	for (i = 0; !dg && i < NDIGESTS; i++)
		if (digests[i].len == tbslen)
			dg = &digests[i];
	return sign_digest(c, dg, tbs, tbslen, sig, siglen, sigsize);
}

/* For signing and verifying alike: start the running hash. */
static int sig_digest_init(void *vctx, const char *mdname, void *provkey,
			   const OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	const char *deflt;

	if (!sig_init(c, provkey, params))
		return 0;
	if (!mdname && !c->dg) {
		/* m2m's choice for a key that names no digest. */
		deflt = "SHA256";
		if (c->key->type == KT_EC &&
		    EVP_PKEY_get_bits(c->key->pub) > 256)
			deflt = "SHA384";
		mdname = deflt;
	}
	if (mdname && !set_digest(c, mdname))
		return 0;
	c->mdctx = EVP_MD_CTX_new();
	if (!c->mdctx || !EVP_DigestInit_ex2(c->mdctx, c->md, NULL)) {
		EVP_MD_CTX_free(c->mdctx);
		c->mdctx = NULL;
		return 0;
	}
	return 1;
}

static int sig_digest_update(void *vctx, const unsigned char *data,
			     size_t datalen)
{
	struct sigctx *c = vctx;

	return c->mdctx && EVP_DigestUpdate(c->mdctx, data, datalen);
}

static int sig_digest_sign_final(void *vctx, unsigned char *sig,
				 size_t *siglen, size_t sigsize)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!c->mdctx)
		return 0;
	if (!sig) {
		*siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
		return 1;
	}
	if (!EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	return sign_digest(c, c->dg, dgst, dlen, sig, siglen, sigsize);
}

/*
 * EVP_DigestSign(), which X509_sign_ctx and its kin call: hash tbs alone,
 * leaving the running hash as it is, so one context signs any number of
 * certificates (the default provider's ECDSA, without a one-shot, would
 * hash each after the ones before).
 */
static int sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen,
			   size_t sigsize, const unsigned char *tbs,
			   size_t tbslen)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!c->mdctx)
		return 0;
	if (!sig) {
		*siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
		return 1;
	}
	if (!EVP_Digest(tbs, tbslen, dgst, &dlen, c->md, NULL))
		return 0;
	return sign_digest(c, c->dg, dgst, dlen, sig, siglen, sigsize);
}

/*
 * Verifying needs no back-end: the public key's provider checks sig
 * over dgst, a digest of dg, with the same padding.  Lets X509_verify and
 * EVP_DigestVerify take the external key, whichever provider OpenSSL
 * fetches first.
 */
static int verify_digest(const struct sigctx *c, const struct digest *dg,
			 const unsigned char *sig, size_t siglen,
			 const unsigned char *dgst, size_t dlen)
{
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int pad = RSA_PKCS1_PADDING, saltlen = c->saltlen, ok;

	if (!digest_fits(dg, dlen))
		return 0;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
						(char *)dg->name, 0);
	if (c->key->type == KT_RSA) {
		if (c->pad == M2M_EXTKEY_RSA_PSS)
			pad = RSA_PKCS1_PSS_PADDING;
		*p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE,
						&pad);
	}
	if (c->pad == M2M_EXTKEY_RSA_PSS) {
		*p++ = OSSL_PARAM_construct_int(
			OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen);
		*p++ = OSSL_PARAM_construct_utf8_string(
			OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
			(char *)(c->mgf1 ? c->mgf1 : dg)->name, 0);
	}
	*p = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_pkey(c->libctx, c->key->pub, NULL);
	ok = pctx && EVP_PKEY_verify_init_ex(pctx, params) == 1 &&
	     EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* Verify over a digest: EVP_PKEY_verify(). */
static int sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
		      const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = vctx;
	const struct digest *dg = c->dg;
	size_t i;

	for (i = 0; !dg && i < NDIGESTS; i++)
		if (digests[i].len == tbslen)
			dg = &digests[i];
	return verify_digest(c, dg, sig, siglen, tbs, tbslen);
}

static int sig_digest_verify_final(void *vctx, const unsigned char *sig,
				   size_t siglen)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!c->mdctx || !EVP_DigestFinal_ex(c->mdctx, dgst, &dlen))
		return 0;
	return verify_digest(c, c->dg, sig, siglen, dgst, dlen);
}

static int sig_digest_verify(void *vctx, const unsigned char *sig,
			     size_t siglen, const unsigned char *tbs,
			     size_t tbslen)
{
	struct sigctx *c = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!c->mdctx || !EVP_Digest(tbs, tbslen, dgst, &dlen, c->md, NULL))
		return 0;
	return verify_digest(c, c->dg, sig, siglen, dgst, dlen);
}

#define SIG_COMMON \
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx }, \
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx }, \
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx }, \
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_init }, \
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, \
	  (void (*)(void))sig_digest_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, \
	  (void (*)(void))sig_digest_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, \
	  (void (*)(void))sig_digest_sign_final }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_digest_sign }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_init }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, \
	  (void (*)(void))sig_digest_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, \
	  (void (*)(void))sig_digest_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, \
	  (void (*)(void))sig_digest_verify_final }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, \
	  (void (*)(void))sig_digest_verify }, \
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, \
	  (void (*)(void))sig_get_ctx_params }, \
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, \
	  (void (*)(void))sig_set_ctx_params }

static const OSSL_DISPATCH sig_ecdsa_fns[] = {
	SIG_COMMON,
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	  (void (*)(void))sig_ec_gettable_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	  (void (*)(void))sig_ec_settable_params },
	{ 0, NULL }
};

static const OSSL_DISPATCH sig_rsa_fns[] = {
	SIG_COMMON,
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	  (void (*)(void))sig_rsa_gettable_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	  (void (*)(void))sig_rsa_settable_params },
	{ 0, NULL }
};

/* ---- the provider ------------------------------------------------------- */

/* Names as the default provider gives them, so EVP_PKEY_is_a() agrees. */
static const OSSL_ALGORITHM prov_keymgmt[] = {
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", PROV_PROPQ, km_ec_fns,
	  "EC keys held by an m2m back-end" },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", PROV_PROPQ, km_rsa_fns,
	  "RSA keys held by an m2m back-end" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM prov_signature[] = {
	{ "ECDSA", PROV_PROPQ, sig_ecdsa_fns, NULL },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", PROV_PROPQ, sig_rsa_fns,
	  NULL },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *prov_query(void *provctx, int operation_id,
					int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return prov_keymgmt;
	case OSSL_OP_SIGNATURE:
		return prov_signature;
	default:
		return NULL;
	}
}

static const OSSL_DISPATCH prov_fns[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query },
	{ 0, NULL }
};

static int prov_init(const OSSL_CORE_HANDLE *core, const OSSL_DISPATCH *in,
		     const OSSL_DISPATCH **out, void **provctx)
{
	OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;

	for (; in->function_id; in++)
		if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX)
			get_libctx = OSSL_FUNC_core_get_libctx(in);
	if (!get_libctx)
		return 0;
	/*
	 * Built into the library that loads us, the core's context is the
	 * OSSL_LIB_CTX itself: the one we fetch digests from.
	 */
	*provctx = (void *)get_libctx(core);
	*out = prov_fns;
	return 1;
}

static enum m2m_err provider_load(struct m2m_ctx *ctx)
{
	if (ctx->ext_provider)
		return M2M_OK;
	/*
	 * Our algorithms carry the default provider's names ("EC", "ECDSA",
	 * "RSA"), so a fetch that names no provider could get either.
	 * Prefer the default provider's for those, whatever order the
	 * method store keeps them in: loading us must not change what the
	 * rest of the library gets.  Ours come only with PROV_PROPQ.
	 */
	if (!EVP_set_default_properties(ctx->libctx, "?provider=default") ||
	    !OSSL_PROVIDER_add_builtin(ctx->libctx, PROV_NAME, prov_init))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot add the %s provider", PROV_NAME);
	ctx->ext_provider = OSSL_PROVIDER_load(ctx->libctx, PROV_NAME);
	if (!ctx->ext_provider)
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot load the %s provider", PROV_NAME);
	return M2M_OK;
}

/* ---- the interface ------------------------------------------------------ */

enum m2m_err m2m_extkey_new(struct m2m_ctx *ctx, EVP_PKEY *pub,
			    const struct m2m_extkey_method *method,
			    void *handle, EVP_PKEY **out)
{
	struct extref ref = { pub, method, handle, NULL };
	struct extref *refp = &ref;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[2];
	enum m2m_key_alg alg;
	enum m2m_err rc;

	*out = NULL;
	if (!pub || !method || !method->name || !method->sign ||
	    !method->free)
		return m2m_error(ctx, M2M_ERR_INTERNAL,
				 "an external key needs a public key, a sign and a free function");
	rc = m2m_pkey_alg(ctx, pub, &alg);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "%s key", method->name);
	if (alg == M2M_KEY_ED25519)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "%s key: Ed25519 keys held outside the library cannot sign yet (EC P-256, P-384, RSA 2048 or 3072 can)",
				 method->name);
	rc = provider_load(ctx);
	if (rc != M2M_OK)
		return rc;
	params[0] = OSSL_PARAM_construct_octet_ptr(PARAM_REF, (void **)&refp,
						   sizeof(ref));
	params[1] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx,
					  EVP_PKEY_is_a(pub, "EC") ? "EC" :
					  "RSA", PROV_PROPQ);
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1 ||
	    !ref.made) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make a key of %s", method->name);
		goto out;
	}
	/* From here on, the last EVP_PKEY_free() releases the handle. */
	ref.made->owns_handle = 1;
	*out = pkey;
	pkey = NULL;
	rc = M2M_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int m2m_extkey_is(const EVP_PKEY *pkey)
{
	const OSSL_PROVIDER *prov = pkey ? EVP_PKEY_get0_provider(pkey) : NULL;

	return prov && strcmp(OSSL_PROVIDER_get0_name(prov), PROV_NAME) == 0;
}

const char *m2m_extkey_propq(const EVP_PKEY *pkey)
{
	return m2m_extkey_is(pkey) ? PROV_PROPQ : NULL;
}

void m2m_extkey_ctx_free(struct m2m_ctx *ctx)
{
	if (!ctx || !ctx->ext_provider)
		return;
	OSSL_PROVIDER_unload(ctx->ext_provider);
	ctx->ext_provider = NULL;
}
