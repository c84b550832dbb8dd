/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 keys at persistent handles and certificates in NV indices,
 * through tpm2-tss's ESYS ("tpm2:handle=0x81020000", "tpm2:nv=0x01C90000";
 * shared/spec/profiles.md, "TPM 2.0 conventions").  The only file of the
 * library that includes tss2 headers.
 *
 * ctx->tpm2 keeps one ESYS connection per TCTI string.  A connection is
 * referenced by ctx's list and by every key made from it, so a key's
 * signing callback can outlive neither; the last reference finalizes it.
 * Commands are authorised with password sessions: the owner hierarchy's
 * (from opts->auth_source, set on the ESYS object only while a call needs
 * it, then wiped), and the empty ones of the SRK, our keys and our NV
 * indices.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/proverr.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <m2m/cert.h>

#include "../der.h"
#include "../internal.h"
#include "extkey.h"
#include "keystore.h"
#include "tpm2_uri.h"

#define TCTI_CONF_MAX	1024	/* longest TCTI configuration string */

struct tpm2_conn {
	struct tpm2_conn *next;
	char *tcti;			/* the configuration; "" for the default */
	TSS2_TCTI_CONTEXT *tcti_ctx;
	ESYS_CONTEXT *esys;
	unsigned refs;			/* ctx's list, plus one per key */
	uint32_t nv_index_max;		/* TPM_PT_NV_INDEX_MAX, 0 until read */
	uint32_t nv_buffer_max;		/* TPM_PT_NV_BUFFER_MAX, 0 until read */
	unsigned can_make;		/* 1 << alg: TPM2_TestParms passed */
	ESYS_TR parent;			/* the last parent used, kept open */
	uint32_t parent_handle;		/* its handle; 0: none */
	/*
	 * The persistent handles [0] and NV indices [1] in use, listed once
	 * per connection (handle_used) and kept up to date with what this
	 * connection changes: a device's key, certificate and chain are
	 * looked at by several steps, and a TPM holds a line's devices one
	 * after the other.  Another program changing the same handles
	 * meanwhile makes the TPM refuse a step (an error, after which the
	 * list is read again), never a silent replacement.
	 */
	struct handle_set {
		int listed;
		uint32_t *h;
		size_t n, size;
	} in_use[2];
};

struct m2m_tpm2_state {
	struct tpm2_conn *conns;
};

/* What a key's EVP_PKEY holds: its connection and its ESYS object. */
struct tpm2_key {
	struct tpm2_conn *conn;
	ESYS_TR obj;
	uint32_t handle;
};

/* ---- errors -------------------------------------------------------------- */

/* The printf-formatted detail, ": ", and what tss2 says rc means. */
__attribute__((format(printf, 4, 5)))
static enum m2m_err tss_error(struct m2m_ctx *ctx, enum m2m_err err,
			      TSS2_RC rc, const char *fmt, ...)
{
	char what[M2M_DETAIL_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return m2m_error(ctx, err, "%s: %s", what, Tss2_RC_Decode(rc));
}

/*
 * rc as the TPM's response code without the number of the handle,
 * session or parameter it is about (format one), or 0 if rc did not come
 * from the TPM.
 */
static TSS2_RC tpm_rc(TSS2_RC rc)
{
	if (rc == TSS2_RC_SUCCESS || (rc & TSS2_RC_LAYER_MASK) != 0)
		return 0;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3F);
	return rc;
}

/*
 * tss2 logs warnings and errors on stderr by default, and the library
 * never prints: every failure is in ctx's detail already.  Unless the user
 * asked for tss2's log (TSS2_LOG set), turn it off before tss2 first
 * reads the variable.
 */
static void quiet_tss2_log(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	setenv("TSS2_LOG", "all+NONE", 0);
}

/* ---- connections --------------------------------------------------------- */

static void conn_put(struct tpm2_conn *c)
{
	if (!c || --c->refs > 0)
		return;
	if (c->esys)
		Esys_Finalize(&c->esys);
	if (c->tcti_ctx)
		Tss2_TctiLdr_Finalize(&c->tcti_ctx);
	free(c->in_use[0].h);
	free(c->in_use[1].h);
	free(c->tcti);
	free(c);
}

/*
 * The connection to the TPM opts names (opts->tcti, else $M2M_TCTI, else
 * tpm2-tss's default), made on first use.  Borrowed from ctx's list.
 */
static enum m2m_err conn_get(struct m2m_ctx *ctx,
			     const struct m2m_key_opts *opts,
			     struct tpm2_conn **out)
{
	char q[M2M_QUOTE_MAX], where[M2M_QUOTE_MAX + 16];
	const char *conf = opts->tcti ? opts->tcti : getenv("M2M_TCTI");
	struct tpm2_conn *c = NULL;
	enum m2m_err rc;
	TSS2_RC trc;

	*out = NULL;
	if (conf && !*conf)
		conf = NULL;
	if (conf && strlen(conf) > TCTI_CONF_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "TCTI configuration is longer than %d bytes",
				 TCTI_CONF_MAX);
	if (!ctx->tpm2) {
		ctx->tpm2 = calloc(1, sizeof(*ctx->tpm2));
		if (!ctx->tpm2)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	for (c = ctx->tpm2->conns; c; c = c->next)
		if (strcmp(c->tcti, conf ? conf : "") == 0) {
			*out = c;
			return M2M_OK;
		}
	if (conf)
		snprintf(where, sizeof(where), "at '%s'",
			 m2m_quote(q, conf, strlen(conf)));
	else
		snprintf(where, sizeof(where), "(tpm2-tss's default TCTI)");
	c = calloc(1, sizeof(*c));
	if (!c || !(c->tcti = strdup(conf ? conf : ""))) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	c->refs = 1;
	c->parent = ESYS_TR_NONE;
	quiet_tss2_log();
	trc = Tss2_TctiLdr_Initialize(conf, &c->tcti_ctx);
	if (trc == TSS2_RC_SUCCESS)
		trc = Esys_Initialize(&c->esys, c->tcti_ctx, NULL);
	if (trc == TSS2_RC_SUCCESS) {
		trc = Esys_Startup(c->esys, TPM2_SU_CLEAR);
		if (trc == TPM2_RC_INITIALIZE)
			trc = TSS2_RC_SUCCESS;	/* started already */
	}
	if (trc != TSS2_RC_SUCCESS) {
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot reach the TPM %s", where);
		goto out;
	}
	c->next = ctx->tpm2->conns;
	ctx->tpm2->conns = c;
	*out = c;
	c = NULL;
	rc = M2M_OK;
out:
	conn_put(c);
	return rc;
}

static void tpm2_ctx_free(struct m2m_ctx *ctx)
{
	struct tpm2_conn *c, *next;

	if (!ctx->tpm2)
		return;
	for (c = ctx->tpm2->conns; c; c = next) {
		next = c->next;
		c->next = NULL;
		conn_put(c);
	}
	free(ctx->tpm2);
	ctx->tpm2 = NULL;
}

/*
 * Owner hierarchy authorisation from opts->auth_source (empty if none),
 * set on ESYS's owner object until owner_auth_clear().
 */
static enum m2m_err owner_auth(struct m2m_ctx *ctx, struct tpm2_conn *c,
			       const struct m2m_key_opts *opts)
{
	char secret[sizeof(((TPM2B_AUTH *)0)->buffer) + 1];
	TPM2B_AUTH auth;
	size_t len = 0;
	enum m2m_err rc = M2M_OK;
	TSS2_RC trc;

	memset(&auth, 0, sizeof(auth));
	if (opts->auth_source) {
		rc = m2m_secret_read(ctx, opts->auth_source, secret,
				     sizeof(secret), &len);
		if (rc != M2M_OK)
			goto out;
		auth.size = (UINT16)len;
		memcpy(auth.buffer, secret, len);
	}
	trc = Esys_TR_SetAuth(c->esys, ESYS_TR_RH_OWNER, &auth);
	if (trc != TSS2_RC_SUCCESS)
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot set the owner authorisation");
out:
	m2m_secret_wipe(secret, sizeof(secret));
	m2m_secret_wipe(&auth, sizeof(auth));
	return rc;
}

static void owner_auth_clear(struct tpm2_conn *c)
{
	TPM2B_AUTH none;

	if (!c)
		return;
	memset(&none, 0, sizeof(none));
	Esys_TR_SetAuth(c->esys, ESYS_TR_RH_OWNER, &none);
}

/* The list handle belongs in: persistent objects, NV indices, or none. */
static struct handle_set *set_of(struct tpm2_conn *c, uint32_t handle)
{
	switch (handle >> TPM2_HR_SHIFT) {
	case TPM2_HT_PERSISTENT:
		return &c->in_use[0];
	case TPM2_HT_NV_INDEX:
		return &c->in_use[1];
	default:
		return NULL;
	}
}

static int set_has(const struct handle_set *hs, uint32_t handle)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		if (hs->h[i] == handle)
			return 1;
	return 0;
}

/* Forget the list: the next handle_used reads it again. */
static void set_forget(struct handle_set *hs)
{
	hs->listed = 0;
	hs->n = 0;
}

/* -1 if out of memory: then the list is forgotten. */
static int set_add(struct handle_set *hs, uint32_t handle)
{
	uint32_t *bigger;

	if (set_has(hs, handle))
		return 0;
	if (hs->n == hs->size) {
		bigger = realloc(hs->h, (hs->size ? 2 * hs->size : 32) *
				 sizeof(*hs->h));
		if (!bigger) {
			set_forget(hs);
			return -1;
		}
		hs->h = bigger;
		hs->size = hs->size ? 2 * hs->size : 32;
	}
	hs->h[hs->n++] = handle;
	return 0;
}

/*
 * What this connection did to handle: now in use (1), not (0), or unknown
 * (-1: a command on it failed).
 */
static void handle_known(struct tpm2_conn *c, uint32_t handle, int used)
{
	struct handle_set *hs = set_of(c, handle);
	size_t i;

	if (!hs || !hs->listed)
		return;
	if (used < 0) {
		set_forget(hs);
	} else if (used) {
		set_add(hs, handle);	/* or forgotten: read again */
	} else {
		for (i = 0; i < hs->n; i++)
			if (hs->h[i] == handle)
				hs->h[i] = hs->h[--hs->n];
	}
}

/*
 * Every handle in use from first on, of first's type, into hs (or, with
 * hs NULL, only whether first itself is, into *used).  Asked as a
 * capability so that an absent handle is no TPM error.
 */
static enum m2m_err list_handles(struct m2m_ctx *ctx, struct tpm2_conn *c,
				 uint32_t first, struct handle_set *hs,
				 int *used)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 1;
	TSS2_RC trc;
	uint32_t from = first, h;
	UINT32 i;

	*used = 0;
	while (more) {
		trc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					 ESYS_TR_NONE, TPM2_CAP_HANDLES, from,
					 hs ? TPM2_MAX_CAP_HANDLES : 1, &more,
					 &cap);
		if (trc != TSS2_RC_SUCCESS) {
			if (hs)
				set_forget(hs);
			return tss_error(ctx, M2M_ERR_BACKEND, trc,
					 "cannot list the TPM's handles");
		}
		more = hs && more && cap->data.handles.count > 0;
		for (i = 0; i < cap->data.handles.count; i++) {
			h = cap->data.handles.handle[i];
			if (h >> TPM2_HR_SHIFT != first >> TPM2_HR_SHIFT) {
				more = 0;
				break;
			}
			if (h == first)
				*used = 1;
			if (hs && set_add(hs, h) < 0) {
				Esys_Free(cap);
				return m2m_error(ctx, M2M_ERR_NOMEM,
						 "out of memory");
			}
			from = h + 1;
		}
		Esys_Free(cap);
		cap = NULL;
	}
	return M2M_OK;
}

/*
 * Whether handle (a persistent object or an NV index) is in use: from the
 * connection's list of its type, read on first use.
 */
static enum m2m_err handle_used(struct m2m_ctx *ctx, struct tpm2_conn *c,
				uint32_t handle, int *used)
{
	struct handle_set *hs = set_of(c, handle);
	enum m2m_err rc;
	int ignored;

	if (!hs)
		return list_handles(ctx, c, handle, NULL, used);
	if (!hs->listed) {
		hs->n = 0;
		rc = list_handles(ctx, c, handle & ~TPM2_HR_HANDLE_MASK, hs,
				  &ignored);
		if (rc != M2M_OK)
			return rc;
		hs->listed = 1;
	}
	*used = set_has(hs, handle);
	return M2M_OK;
}

/* An ESYS object for handle, which is in use. */
static enum m2m_err handle_open(struct m2m_ctx *ctx, struct tpm2_conn *c,
				uint32_t handle, ESYS_TR *tr)
{
	TSS2_RC trc;

	trc = Esys_TR_FromTPMPublic(c->esys, handle, ESYS_TR_NONE,
				    ESYS_TR_NONE, ESYS_TR_NONE, tr);
	if (trc != TSS2_RC_SUCCESS) {
		*tr = ESYS_TR_NONE;
		handle_known(c, handle, -1);	/* asked again next time */
		return tss_error(ctx, M2M_ERR_BACKEND, trc,
				 "cannot open TPM handle 0x%08x", handle);
	}
	return M2M_OK;
}

static void tr_close(struct tpm2_conn *c, ESYS_TR *tr)
{
	if (*tr != ESYS_TR_NONE)
		Esys_TR_Close(c->esys, tr);
	*tr = ESYS_TR_NONE;
}

static void parent_drop(struct tpm2_conn *c)
{
	tr_close(c, &c->parent);
	c->parent_handle = 0;
}

/* Evict the persistent object *tr (owner authorisation set); closes *tr. */
static TSS2_RC evict(struct tpm2_conn *c, ESYS_TR *tr, uint32_t handle)
{
	ESYS_TR gone = ESYS_TR_NONE;
	TSS2_RC trc;

	if (handle == c->parent_handle)
		parent_drop(c);		/* no parent to keep any more */

	trc = Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, *tr,
				ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				handle, &gone);
	if (trc == TSS2_RC_SUCCESS)
		tr_close(c, tr);
	handle_known(c, handle, trc == TSS2_RC_SUCCESS ? 0 : -1);
	return trc;
}

/* ---- locators ------------------------------------------------------------ */

/* locator, which must be of kind (else M2M_ERR_USAGE), into *u. */
static enum m2m_err parse(struct m2m_ctx *ctx, const char *locator,
			  enum m2m_tpm2_uri_kind kind, struct m2m_tpm2_uri *u)
{
	enum m2m_err rc;

	rc = m2m_tpm2_uri_parse(ctx, locator, strlen(locator), u);
	if (rc != M2M_OK)
		return rc;
	if (u->kind == kind)
		return M2M_OK;
	if (kind == M2M_TPM2_URI_NV)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "'tpm2:handle=0x%08x' is a key: certificates go to tpm2:nv=...",
				 u->handle);
	return m2m_error(ctx, M2M_ERR_USAGE,
			 "'tpm2:nv=0x%08x' is an NV index: keys go to tpm2:handle=...",
			 u->handle);
}

/* ---- keys ---------------------------------------------------------------- */

static void tpm2_key_free(void *handle)
{
	struct tpm2_key *k = handle;

	if (!k)
		return;
	tr_close(k->conn, &k->obj);
	conn_put(k->conn);
	free(k);
}

/* The TPM's name for md ("SHA256"...), or TPM2_ALG_ERROR. */
static TPM2_ALG_ID hash_alg(const char *md)
{
	if (strcmp(md, "SHA256") == 0)
		return TPM2_ALG_SHA256;
	if (strcmp(md, "SHA384") == 0)
		return TPM2_ALG_SHA384;
	if (strcmp(md, "SHA512") == 0)
		return TPM2_ALG_SHA512;
	return TPM2_ALG_ERROR;
}

/* ECDSA r and s as a DER ECDSA-Sig-Value into sig[0..*siglen). */
static int ecdsa_der(const TPMS_SIGNATURE_ECC *e, unsigned char *sig,
		     size_t *siglen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	BIGNUM *s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	unsigned char *p = sig;
	int n, ok = 0;

	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > *siglen)
		goto out;
	n = i2d_ECDSA_SIG(es, &p);
	if (n <= 0)
		goto out;
	*siglen = (size_t)n;
	ok = 1;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

/* The m2m_extkey_method sign callback: TPM2_Sign with the key at k. */
static int tpm2_sign(void *handle, enum m2m_extkey_pad pad, const char *md,
		     const unsigned char *dgst, size_t dlen,
		     unsigned char *sig, size_t *siglen)
{
	struct tpm2_key *k = handle;
	TPMT_TK_HASHCHECK check;
	TPMT_SIG_SCHEME scheme;
	TPM2B_DIGEST digest;
	TPMT_SIGNATURE *s = NULL;
	const TPM2B_PUBLIC_KEY_RSA *rsa;
	TPM2_ALG_ID hash = hash_alg(md);
	TSS2_RC trc;
	int ok = 0;

	memset(&check, 0, sizeof(check));
	memset(&scheme, 0, sizeof(scheme));
	memset(&digest, 0, sizeof(digest));
	if (hash == TPM2_ALG_ERROR || dlen > sizeof(digest.buffer)) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN,
			       "tpm2:handle=0x%08x: digest %s is not supported",
			       k->handle, md);
		return 0;
	}
	digest.size = (UINT16)dlen;
	memcpy(digest.buffer, dgst, dlen);
	scheme.scheme = pad == M2M_EXTKEY_ECDSA ? TPM2_ALG_ECDSA :
			pad == M2M_EXTKEY_RSA_PSS ? TPM2_ALG_RSAPSS :
			TPM2_ALG_RSASSA;
	scheme.details.any.hashAlg = hash;
	/* A digest made outside the TPM: no ticket, for an unrestricted key. */
	check.tag = TPM2_ST_HASHCHECK;
	check.hierarchy = TPM2_RH_NULL;
	trc = Esys_Sign(k->conn->esys, k->obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			ESYS_TR_NONE, &digest, &scheme, &check, &s);
	if (trc != TSS2_RC_SUCCESS) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN,
			       "tpm2:handle=0x%08x: %s", k->handle,
			       Tss2_RC_Decode(trc));
		return 0;
	}
	if (s->sigAlg == TPM2_ALG_ECDSA) {
		ok = ecdsa_der(&s->signature.ecdsa, sig, siglen);
	} else if (s->sigAlg == TPM2_ALG_RSASSA ||
		   s->sigAlg == TPM2_ALG_RSAPSS) {
		rsa = s->sigAlg == TPM2_ALG_RSASSA ? &s->signature.rsassa.sig :
		      &s->signature.rsapss.sig;
		if (rsa->size <= *siglen) {
			memcpy(sig, rsa->buffer, rsa->size);
			*siglen = rsa->size;
			ok = 1;
		}
	}
	if (!ok)
		ERR_raise_data(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN,
			       "tpm2:handle=0x%08x: cannot encode the TPM's signature",
			       k->handle);
	Esys_Free(s);
	return ok;
}

static const struct m2m_extkey_method tpm2_method = {
	"tpm2",
	tpm2_sign,
	tpm2_key_free,
};

/* big[0..len) left-padded with zeros to n bytes at out; 0 if longer. */
static int put_fixed(unsigned char *out, size_t n, const BYTE *big,
		     size_t len)
{
	if (len > n)
		return 0;
	memset(out, 0, n - len);
	memcpy(out + n - len, big, len);
	return 1;
}

/* The public key of the TPM object pt as an EVP_PKEY of ctx's libctx. */
static enum m2m_err public_pkey(struct m2m_ctx *ctx, const TPMT_PUBLIC *pt,
				uint32_t handle, EVP_PKEY **out)
{
	const TPMS_ECC_POINT *ep = &pt->unique.ecc;
	unsigned char point[1 + 2 * 48];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	size_t field;
	int p384;
	enum m2m_err rc;

	*out = NULL;
	if (!(pt->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
	    (pt->objectAttributes & TPMA_OBJECT_RESTRICTED))
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "tpm2:handle=0x%08x is not an unrestricted signing key",
				 handle);
	if (pt->type == TPM2_ALG_ECC) {
		if (pt->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 &&
		    pt->parameters.eccDetail.curveID != TPM2_ECC_NIST_P384)
			return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
					 "tpm2:handle=0x%08x: TPM curve 0x%04x is not supported (P-256 or P-384)",
					 handle,
					 pt->parameters.eccDetail.curveID);
		p384 = pt->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384;
		field = p384 ? 48 : 32;
		point[0] = 0x04;
		if (!put_fixed(point + 1, field, ep->x.buffer, ep->x.size) ||
		    !put_fixed(point + 1 + field, field, ep->y.buffer,
			       ep->y.size) ||
		    m2m_ctx_ec_key(ctx, p384, point, 1 + 2 * field, out) !=
		    M2M_OK)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "tpm2:handle=0x%08x: the TPM's public point is not on the curve",
					 handle);
		return M2M_OK;
	}
	if (pt->type != TPM2_ALG_RSA)
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "tpm2:handle=0x%08x: TPM key type 0x%04x is not supported (ECC or RSA)",
				 handle, pt->type);
	rc = M2M_ERR_CRYPTO;
	n = BN_bin2bn(pt->unique.rsa.buffer, pt->unique.rsa.size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld ||
	    !BN_set_word(e, pt->parameters.rsaDetail.exponent ?
			 pt->parameters.rsaDetail.exponent : 65537) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto fail;
	pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, "RSA", NULL);
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto fail;
	rc = M2M_OK;
	goto out;
fail:
	rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
			    "tpm2:handle=0x%08x: cannot make the RSA public key",
			    handle);
out:
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/*
 * The EVP_PKEY for the persistent key *tr (public area pt) at handle,
 * signing through c.  On success the key owns *tr (set to ESYS_TR_NONE).
 */
static enum m2m_err key_pkey(struct m2m_ctx *ctx, struct tpm2_conn *c,
			     const TPMT_PUBLIC *pt, ESYS_TR *tr,
			     uint32_t handle, EVP_PKEY **out)
{
	struct tpm2_key *k = NULL;
	EVP_PKEY *pub = NULL;
	enum m2m_err rc;

	rc = public_pkey(ctx, pt, handle, &pub);
	if (rc != M2M_OK)
		goto out;
	k = calloc(1, sizeof(*k));
	if (!k) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	k->conn = c;
	c->refs++;
	k->obj = *tr;
	k->handle = handle;
	rc = m2m_extkey_new(ctx, pub, &tpm2_method, k, out);
	if (rc != M2M_OK) {
		k->obj = ESYS_TR_NONE;	/* still the caller's */
		goto out;
	}
	k = NULL;
	*tr = ESYS_TR_NONE;
out:
	tpm2_key_free(k);
	EVP_PKEY_free(pub);
	return rc;
}

/*
 * The TCG SRK (Provisioning Guidance, ECC NIST P-256 storage key): a
 * restricted decryption primary key of the owner hierarchy with AES-128-CFB
 * for its children, no scheme, empty authorisation and policy, and empty
 * unique fields, so that the same owner seed always gives the same key.
 */
static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM |
			TPMA_OBJECT_FIXEDPARENT |
			TPMA_OBJECT_SENSITIVEDATAORIGIN |
			TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
			TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = {
			.symmetric = {
				.algorithm = TPM2_ALG_AES,
				.keyBits.aes = 128,
				.mode.aes = TPM2_ALG_CFB,
			},
			.scheme = { .scheme = TPM2_ALG_NULL },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		},
	},
};

/* Make the SRK and persist it at handle (owner authorisation set). */
static enum m2m_err make_srk(struct m2m_ctx *ctx, struct tpm2_conn *c,
			     uint32_t handle, ESYS_TR *out)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPML_PCR_SELECTION pcrs;
	TPM2B_DATA outside;
	ESYS_TR prim = ESYS_TR_NONE;
	enum m2m_err rc = M2M_OK;
	TSS2_RC trc;

	memset(&sens, 0, sizeof(sens));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&outside, 0, sizeof(outside));
	trc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				 ESYS_TR_NONE, ESYS_TR_NONE, &sens,
				 &srk_template, &outside, &pcrs, &prim, NULL,
				 NULL, NULL, NULL);
	if (trc != TSS2_RC_SUCCESS)
		return tss_error(ctx, M2M_ERR_BACKEND, trc,
				 "cannot create the SRK");
	trc = Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, prim,
				ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				handle, out);
	handle_known(c, handle, trc == TSS2_RC_SUCCESS ? 1 : -1);
	if (trc != TSS2_RC_SUCCESS) {
		*out = ESYS_TR_NONE;
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot make the SRK persistent at 0x%08x",
			       handle);
	}
	if (Esys_FlushContext(c->esys, prim) != TSS2_RC_SUCCESS)
		tr_close(c, &prim);
	return rc;
}

/*
 * The parent at handle, made (the SRK) if absent (owner authorisation
 * set).  Kept open in c for the next key: a factory makes many under one
 * SRK.  Borrowed.
 */
static enum m2m_err parent_get(struct m2m_ctx *ctx, struct tpm2_conn *c,
			       uint32_t handle, ESYS_TR *out)
{
	enum m2m_err rc;
	int used = 0;

	*out = ESYS_TR_NONE;
	if (c->parent_handle != handle) {
		parent_drop(c);
		rc = handle_used(ctx, c, handle, &used);
		if (rc != M2M_OK)
			return rc;
		rc = used ? handle_open(ctx, c, handle, &c->parent) :
		     make_srk(ctx, c, handle, &c->parent);
		if (rc != M2M_OK)
			return rc;
		c->parent_handle = handle;
	}
	*out = c->parent;
	return M2M_OK;
}

/*
 * A signing key's template: fixedTPM, fixedParent, sensitiveDataOrigin,
 * userWithAuth, sign, and no scheme, so that each signature chooses its
 * own (ECDSA, RSASSA or RSAPSS) and hash.
 */
static enum m2m_err key_template(struct m2m_ctx *ctx, enum m2m_key_alg alg,
				 TPM2B_PUBLIC *t)
{
	TPMT_PUBLIC *p = &t->publicArea;

	memset(t, 0, sizeof(*t));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_SIGN_ENCRYPT;
	switch (alg) {
	case M2M_KEY_EC_P256:
	case M2M_KEY_EC_P384:
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = alg == M2M_KEY_EC_P256 ?
			TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return M2M_OK;
	case M2M_KEY_RSA2048:
	case M2M_KEY_RSA3072:
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = alg == M2M_KEY_RSA2048 ?
			2048 : 3072;
		return M2M_OK;
	default:
		return m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				 "a TPM 2.0 cannot make %s keys (ec-p256, ec-p384, rsa2048 or rsa3072)",
				 m2m_key_alg_name(alg) ? m2m_key_alg_name(alg) :
				 "such");
	}
}

static enum m2m_err tpm2_generate(struct m2m_ctx *ctx, const char *locator,
				  enum m2m_key_alg alg,
				  const struct m2m_key_opts *opts,
				  EVP_PKEY **out)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	TPM2B_SENSITIVE_CREATE sens;
	TPMT_PUBLIC_PARMS parms;
	TPML_PCR_SELECTION pcrs;
	TPM2B_DATA outside;
	TPM2B_PUBLIC tmpl;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR parent = ESYS_TR_NONE, obj = ESYS_TR_NONE;
	ESYS_TR key = ESYS_TR_NONE;	/* parent: borrowed from c */
	enum m2m_err rc;
	TSS2_RC trc;
	int used = 0, made = 0;

	*out = NULL;
	memset(&sens, 0, sizeof(sens));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&outside, 0, sizeof(outside));
	rc = parse(ctx, locator, M2M_TPM2_URI_HANDLE, &u);
	if (rc != M2M_OK)
		goto out;
	rc = key_template(ctx, alg, &tmpl);
	if (rc != M2M_OK)
		goto out;
	rc = conn_get(ctx, opts, &c);
	if (rc != M2M_OK)
		goto out;
	if (!(c->can_make & 1u << alg)) {
		parms.type = tmpl.publicArea.type;
		parms.parameters = tmpl.publicArea.parameters;
		trc = Esys_TestParms(c->esys, ESYS_TR_NONE, ESYS_TR_NONE,
				     ESYS_TR_NONE, &parms);
		if (trc != TSS2_RC_SUCCESS) {
			rc = tss_error(ctx, tpm_rc(trc) ? M2M_ERR_UNSUPPORTED :
				       M2M_ERR_BACKEND, trc,
				       "this TPM cannot make %s keys",
				       m2m_key_alg_name(alg));
			goto out;
		}
		c->can_make |= 1u << alg;
	}
	rc = owner_auth(ctx, c, opts);
	if (rc != M2M_OK)
		goto out;
	rc = handle_used(ctx, c, u.handle, &used);
	if (rc != M2M_OK)
		goto out;
	if (used && !opts->force) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "handle 0x%08x is in use", u.handle);
		goto out;
	}
	if (used) {
		rc = handle_open(ctx, c, u.handle, &key);
		if (rc != M2M_OK)
			goto out;
		trc = evict(c, &key, u.handle);
		if (trc != TSS2_RC_SUCCESS) {
			rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
				       "cannot evict the key at 0x%08x",
				       u.handle);
			goto out;
		}
	}
	rc = parent_get(ctx, c, u.parent, &parent);
	if (rc != M2M_OK)
		goto out;
	trc = Esys_Create(c->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			  ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &priv,
			  &pub, NULL, NULL, NULL);
	if (trc == TSS2_RC_SUCCESS)
		trc = Esys_Load(c->esys, parent, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &obj);
	if (trc != TSS2_RC_SUCCESS) {
		obj = ESYS_TR_NONE;
		parent_drop(c);	/* perhaps gone: look again next time */
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot create a %s key under 0x%08x",
			       m2m_key_alg_name(alg), u.parent);
		goto out;
	}
	trc = Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, obj,
				ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				u.handle, &key);
	handle_known(c, u.handle, trc == TSS2_RC_SUCCESS ? 1 : -1);
	if (trc != TSS2_RC_SUCCESS) {
		key = ESYS_TR_NONE;
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot make the key persistent at 0x%08x",
			       u.handle);
		goto out;
	}
	made = 1;
	rc = key_pkey(ctx, c, &pub->publicArea, &key, u.handle, out);
out:
	if (rc != M2M_OK && made && key != ESYS_TR_NONE)
		evict(c, &key, u.handle);	/* nothing half-made */
	if (c) {
		if (obj != ESYS_TR_NONE &&
		    Esys_FlushContext(c->esys, obj) != TSS2_RC_SUCCESS)
			tr_close(c, &obj);
		tr_close(c, &key);
	}
	owner_auth_clear(c);
	Esys_Free(priv);
	Esys_Free(pub);
	return rc;
}

/*
 * The key handle locator names, on the connection opts gives, which must
 * hold a key: M2M_ERR_NOT_FOUND if it holds none.  *c is set as soon as
 * the connection is made, also on failure after it.
 */
static enum m2m_err key_there(struct m2m_ctx *ctx, const char *locator,
			      const struct m2m_key_opts *opts,
			      struct m2m_tpm2_uri *u, struct tpm2_conn **c)
{
	enum m2m_err rc;
	int used = 0;

	rc = parse(ctx, locator, M2M_TPM2_URI_HANDLE, u);
	if (rc == M2M_OK)
		rc = conn_get(ctx, opts, c);
	if (rc == M2M_OK)
		rc = handle_used(ctx, *c, u->handle, &used);
	if (rc == M2M_OK && !used)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no key at tpm2:handle=0x%08x", u->handle);
	return rc;
}

static enum m2m_err tpm2_load(struct m2m_ctx *ctx, const char *locator,
			      const struct m2m_key_opts *opts, EVP_PKEY **out)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR key = ESYS_TR_NONE;
	enum m2m_err rc;
	TSS2_RC trc;

	*out = NULL;
	rc = key_there(ctx, locator, opts, &u, &c);
	if (rc != M2M_OK)
		goto out;
	rc = handle_open(ctx, c, u.handle, &key);
	if (rc != M2M_OK)
		goto out;
	trc = Esys_ReadPublic(c->esys, key, ESYS_TR_NONE, ESYS_TR_NONE,
			      ESYS_TR_NONE, &pub, NULL, NULL);
	if (trc != TSS2_RC_SUCCESS) {
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot read the public key at 0x%08x",
			       u.handle);
		goto out;
	}
	rc = key_pkey(ctx, c, &pub->publicArea, &key, u.handle, out);
out:
	if (c)
		tr_close(c, &key);
	Esys_Free(pub);
	return rc;
}

static enum m2m_err tpm2_remove(struct m2m_ctx *ctx, const char *locator,
				const struct m2m_key_opts *opts)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	ESYS_TR key = ESYS_TR_NONE;
	enum m2m_err rc;
	TSS2_RC trc;

	rc = key_there(ctx, locator, opts, &u, &c);
	if (rc != M2M_OK)
		goto out;
	rc = owner_auth(ctx, c, opts);
	if (rc == M2M_OK)
		rc = handle_open(ctx, c, u.handle, &key);
	if (rc != M2M_OK)
		goto out;
	trc = evict(c, &key, u.handle);
	if (trc != TSS2_RC_SUCCESS)
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot evict the key at 0x%08x", u.handle);
out:
	if (c)
		tr_close(c, &key);
	owner_auth_clear(c);
	return rc;
}

/* ---- certificates in NV -------------------------------------------------- */

/* TPM property prop (a TPM2_PT_ fixed property) into *v. */
static enum m2m_err property(struct m2m_ctx *ctx, struct tpm2_conn *c,
			     TPM2_PT prop, const char *name, uint32_t *v)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 0;
	TSS2_RC trc;

	if (*v)
		return M2M_OK;
	trc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE,
				 ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, prop, 1,
				 &more, &cap);
	if (trc != TSS2_RC_SUCCESS)
		return tss_error(ctx, M2M_ERR_BACKEND, trc,
				 "cannot read the TPM's %s", name);
	if (cap->data.tpmProperties.count < 1 ||
	    cap->data.tpmProperties.tpmProperty[0].property != prop ||
	    cap->data.tpmProperties.tpmProperty[0].value == 0) {
		Esys_Free(cap);
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "the TPM does not tell its %s", name);
	}
	*v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return M2M_OK;
}

/* Chunk size for NV reads and writes: what one command and ESYS carry. */
static enum m2m_err nv_chunk(struct m2m_ctx *ctx, struct tpm2_conn *c,
			     size_t *chunk)
{
	enum m2m_err rc;

	rc = property(ctx, c, TPM2_PT_NV_BUFFER_MAX, "TPM_PT_NV_BUFFER_MAX",
		      &c->nv_buffer_max);
	if (rc != M2M_OK)
		return rc;
	*chunk = c->nv_buffer_max;
	if (*chunk > TPM2_MAX_NV_BUFFER_SIZE)
		*chunk = TPM2_MAX_NV_BUFFER_SIZE;
	return M2M_OK;
}

/* Read len bytes of the NV index nv into buf, authorised by auth. */
static enum m2m_err nv_read(struct m2m_ctx *ctx, struct tpm2_conn *c,
			    ESYS_TR auth, ESYS_TR nv, uint32_t index,
			    unsigned char *buf, size_t len)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	size_t off, chunk = 0, n;
	enum m2m_err rc;
	TSS2_RC trc;

	rc = nv_chunk(ctx, c, &chunk);
	if (rc != M2M_OK)
		return rc;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		trc = Esys_NV_Read(c->esys, auth, nv, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE, (UINT16)n,
				   (UINT16)off, &data);
		if (trc != TSS2_RC_SUCCESS)
			return tss_error(ctx, M2M_ERR_BACKEND, trc,
					 "cannot read NV index 0x%08x", index);
		if (data->size != n) {
			Esys_Free(data);
			return m2m_error(ctx, M2M_ERR_BACKEND,
					 "NV index 0x%08x: the TPM returned %u bytes for %zu",
					 index, (unsigned)data->size, n);
		}
		memcpy(buf + off, data->buffer, n);
		Esys_Free(data);
		data = NULL;
	}
	return M2M_OK;
}

/*
 * The index holds the certificate for anyone to read: AUTHREAD with an
 * empty authorisation (and OWNERREAD), no dictionary-attack lockout for
 * those reads (NO_DA); only the owner may write it (OWNERWRITE, no
 * AUTHWRITE), and only the owner may undefine it.
 */
#define NV_CERT_ATTRS (TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | \
		       TPMA_NV_AUTHREAD | TPMA_NV_NO_DA | \
		       (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT))

/*
 * What an NV index holds: the certificate's DER, then each chain
 * certificate's, back to back (a reader that wants only the certificate
 * reads the first SEQUENCE).  *out is the caller's to free.
 */
static enum m2m_err nv_contents(struct m2m_ctx *ctx,
				const struct m2m_cert *cert,
				struct m2m_cert *const *chain, size_t nchain,
				unsigned char **out, size_t *outlen)
{
	const uint8_t *der;
	unsigned char *buf;
	size_t len, total, i;

	der = m2m_cert_der(cert, &total);
	for (i = 0; i < nchain; i++) {
		m2m_cert_der(chain[i], &len);
		total += len;
	}
	buf = malloc(total);
	if (!buf)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	der = m2m_cert_der(cert, &len);
	memcpy(buf, der, len);
	total = len;
	for (i = 0; i < nchain; i++) {
		der = m2m_cert_der(chain[i], &len);
		memcpy(buf + total, der, len);
		total += len;
	}
	*out = buf;
	*outlen = total;
	return M2M_OK;
}

static enum m2m_err tpm2_cert_store(struct m2m_ctx *ctx, const char *locator,
				    const struct m2m_cert *cert,
				    struct m2m_cert *const *chain,
				    size_t nchain,
				    const struct m2m_key_opts *opts)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	TPM2B_NV_PUBLIC info;
	TPM2B_MAX_NV_BUFFER data;
	TPM2B_AUTH empty;
	ESYS_TR nv = ESYS_TR_NONE;
	const uint8_t *der;
	unsigned char *back = NULL, *all = NULL;
	size_t len = 0, off, n, chunk = 0;
	enum m2m_err rc;
	TSS2_RC trc;
	int used = 0, made = 0;

	memset(&info, 0, sizeof(info));
	memset(&empty, 0, sizeof(empty));
	rc = parse(ctx, locator, M2M_TPM2_URI_NV, &u);
	if (rc != M2M_OK)
		goto out;
	if (nchain >= M2M_CERT_LIST_MAX) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "a chain of %zu certificates is too long (at most %d)",
			       nchain, M2M_CERT_LIST_MAX - 1);
		goto out;
	}
	rc = nv_contents(ctx, cert, chain, nchain, &all, &len);
	if (rc != M2M_OK)
		goto out;
	der = all;
	rc = conn_get(ctx, opts, &c);
	if (rc != M2M_OK)
		goto out;
	rc = property(ctx, c, TPM2_PT_NV_INDEX_MAX, "TPM_PT_NV_INDEX_MAX",
		      &c->nv_index_max);
	if (rc == M2M_OK)
		rc = nv_chunk(ctx, c, &chunk);
	if (rc != M2M_OK)
		goto out;
	if (len > c->nv_index_max || len > UINT16_MAX) {
		rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			       "%s of %zu bytes does not fit an NV index (max %u)",
			       nchain ? "certificate and chain" : "certificate",
			       len, (unsigned)c->nv_index_max);
		goto out;
	}
	rc = owner_auth(ctx, c, opts);
	if (rc != M2M_OK)
		goto out;
	rc = handle_used(ctx, c, u.handle, &used);
	if (rc != M2M_OK)
		goto out;
	if (used && !opts->force) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "NV index 0x%08x is in use", u.handle);
		goto out;
	}
	if (used) {
		rc = handle_open(ctx, c, u.handle, &nv);
		if (rc != M2M_OK)
			goto out;
		trc = Esys_NV_UndefineSpace(c->esys, ESYS_TR_RH_OWNER, nv,
					    ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE);
		handle_known(c, u.handle, trc == TSS2_RC_SUCCESS ? 0 : -1);
		if (trc != TSS2_RC_SUCCESS) {
			rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
				       "cannot undefine NV index 0x%08x",
				       u.handle);
			goto out;
		}
		nv = ESYS_TR_NONE;	/* closed by ESYS */
	}
	info.nvPublic.nvIndex = u.handle;
	info.nvPublic.nameAlg = TPM2_ALG_SHA256;
	info.nvPublic.attributes = NV_CERT_ATTRS;
	info.nvPublic.dataSize = (UINT16)len;
	trc = Esys_NV_DefineSpace(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, &empty, &info,
				  &nv);
	handle_known(c, u.handle, trc == TSS2_RC_SUCCESS ? 1 : -1);
	if (trc != TSS2_RC_SUCCESS) {
		nv = ESYS_TR_NONE;
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot define NV index 0x%08x of %zu bytes",
			       u.handle, len);
		goto out;
	}
	made = 1;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		data.size = (UINT16)n;
		memcpy(data.buffer, der + off, n);
		trc = Esys_NV_Write(c->esys, ESYS_TR_RH_OWNER, nv,
				    ESYS_TR_PASSWORD, ESYS_TR_NONE,
				    ESYS_TR_NONE, &data, (UINT16)off);
		if (trc != TSS2_RC_SUCCESS) {
			rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
				       "cannot write NV index 0x%08x",
				       u.handle);
			goto out;
		}
	}
	/* Read back as a reader would: with the index's own (empty) auth. */
	back = malloc(len);
	if (!back) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = nv_read(ctx, c, nv, nv, u.handle, back, len);
	if (rc != M2M_OK)
		goto out;
	if (memcmp(back, der, len) != 0) {
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "NV index 0x%08x does not read back what was written",
			       u.handle);
		goto out;
	}
	made = 0;
out:
	if (made && nv != ESYS_TR_NONE) {
		/* Nothing left behind, or what is there is asked again. */
		trc = Esys_NV_UndefineSpace(c->esys, ESYS_TR_RH_OWNER, nv,
					    ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE);
		handle_known(c, u.handle, trc == TSS2_RC_SUCCESS ? 0 : -1);
		if (trc == TSS2_RC_SUCCESS)
			nv = ESYS_TR_NONE;
	}
	if (c)
		tr_close(c, &nv);
	owner_auth_clear(c);
	free(back);
	free(all);
	return rc;
}

/*
 * The length of the DER SEQUENCE at p[0..len) if only zero or 0xFF
 * padding follows it (an index defined larger than its certificate), else
 * len.
 */
static int padding(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0x00 && p[i] != 0xFF)
			return 0;
	return 1;
}

static size_t der_trim(const unsigned char *p, size_t len)
{
	size_t total, i, nlen;

	if (len < 2 || p[0] != 0x30)
		return len;
	if (p[1] < 0x80) {
		total = 2 + (size_t)p[1];
	} else {
		nlen = p[1] & 0x7F;
		if (nlen == 0 || nlen > 3 || len < 2 + nlen)
			return len;
		total = 0;
		for (i = 0; i < nlen; i++)
			total = total << 8 | p[2 + i];
		total += 2 + nlen;
	}
	if (total >= len || !padding(p + total, len - total))
		return len;
	return total;
}

static enum m2m_err tpm2_cert_load(struct m2m_ctx *ctx, const char *locator,
				   const struct m2m_key_opts *opts,
				   struct m2m_cert ***out, size_t *n)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	struct m2m_cert **list = NULL;
	TPM2B_NV_PUBLIC *info = NULL;
	ESYS_TR nv = ESYS_TR_NONE, auth;
	unsigned char *buf = NULL;
	const uint8_t *content;
	size_t len, off, end, clen, count = 0;
	TPMA_NV attrs;
	enum m2m_err rc;
	TSS2_RC trc;
	int used = 0, owner = 0;

	*out = NULL;
	*n = 0;
	rc = parse(ctx, locator, M2M_TPM2_URI_NV, &u);
	if (rc != M2M_OK)
		goto out;
	rc = conn_get(ctx, opts, &c);
	if (rc != M2M_OK)
		goto out;
	rc = handle_used(ctx, c, u.handle, &used);
	if (rc != M2M_OK)
		goto out;
	if (!used) {
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no certificate at tpm2:nv=0x%08x", u.handle);
		goto out;
	}
	rc = handle_open(ctx, c, u.handle, &nv);
	if (rc != M2M_OK)
		goto out;
	trc = Esys_NV_ReadPublic(c->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE,
				 ESYS_TR_NONE, &info, NULL);
	if (trc != TSS2_RC_SUCCESS) {
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot read the public area of NV index 0x%08x",
			       u.handle);
		goto out;
	}
	attrs = info->nvPublic.attributes;
	len = info->nvPublic.dataSize;
	if (!(attrs & TPMA_NV_WRITTEN)) {
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "NV index 0x%08x has never been written",
			       u.handle);
		goto out;
	}
	if (len == 0 || len > M2M_CERT_MAX ||
	    ((attrs & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) !=
	    TPM2_NT_ORDINARY) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "NV index 0x%08x does not hold a certificate",
			       u.handle);
		goto out;
	}
	if (attrs & TPMA_NV_AUTHREAD) {
		auth = nv;
	} else if (attrs & TPMA_NV_OWNERREAD) {
		rc = owner_auth(ctx, c, opts);
		if (rc != M2M_OK)
			goto out;
		owner = 1;
		auth = ESYS_TR_RH_OWNER;
	} else {
		rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
			       "NV index 0x%08x can be read neither with its own nor with the owner's authorisation",
			       u.handle);
		goto out;
	}
	buf = malloc(len);
	list = calloc(M2M_CERT_LIST_MAX, sizeof(*list));
	if (!buf || !list) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = nv_read(ctx, c, auth, nv, u.handle, buf, len);
	if (rc != M2M_OK)
		goto out;
	/* The certificate, then its chain (nv_contents), maybe padded. */
	for (off = 0; off < len && (off == 0 || !padding(buf + off, len - off));
	     off = end) {
		end = off;
		if (count == M2M_CERT_LIST_MAX ||
		    m2m_der_read(buf, len, &end, 0x30, &content, &clen) < 0)
			end = off + der_trim(buf + off, len - off);
		rc = m2m_cert_parse(ctx, buf + off, end - off, &list[count]);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "NV index 0x%08x", u.handle);
			goto out;
		}
		count++;
	}
	*out = list;
	*n = count;
	list = NULL;
out:
	if (c)
		tr_close(c, &nv);
	if (owner)
		owner_auth_clear(c);
	m2m_cert_list_free(list, count);
	Esys_Free(info);
	free(buf);
	return rc;
}

static enum m2m_err tpm2_cert_remove(struct m2m_ctx *ctx, const char *locator,
				     const struct m2m_key_opts *opts)
{
	struct m2m_tpm2_uri u;
	struct tpm2_conn *c = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	enum m2m_err rc;
	TSS2_RC trc;
	int used = 0;

	rc = parse(ctx, locator, M2M_TPM2_URI_NV, &u);
	if (rc == M2M_OK)
		rc = conn_get(ctx, opts, &c);
	if (rc == M2M_OK)
		rc = handle_used(ctx, c, u.handle, &used);
	if (rc != M2M_OK)
		goto out;
	if (!used) {
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no certificate at tpm2:nv=0x%08x", u.handle);
		goto out;
	}
	rc = owner_auth(ctx, c, opts);
	if (rc == M2M_OK)
		rc = handle_open(ctx, c, u.handle, &nv);
	if (rc != M2M_OK)
		goto out;
	trc = Esys_NV_UndefineSpace(c->esys, ESYS_TR_RH_OWNER, nv,
				    ESYS_TR_PASSWORD, ESYS_TR_NONE,
				    ESYS_TR_NONE);
	handle_known(c, u.handle, trc == TSS2_RC_SUCCESS ? 0 : -1);
	if (trc != TSS2_RC_SUCCESS) {
		rc = tss_error(ctx, M2M_ERR_BACKEND, trc,
			       "cannot undefine NV index 0x%08x", u.handle);
		goto out;
	}
	nv = ESYS_TR_NONE;	/* closed by ESYS */
out:
	if (c)
		tr_close(c, &nv);
	owner_auth_clear(c);
	return rc;
}

const struct m2m_keystore_ops m2m_keystore_tpm2 = {
	"tpm2",
	tpm2_generate,
	tpm2_load,
	tpm2_remove,
	tpm2_cert_store,
	tpm2_cert_load,
	tpm2_ctx_free,
	tpm2_cert_remove,
};
