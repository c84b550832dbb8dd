/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verifying certificates: OpenSSL's path validation, then the profile,
 * the PPID and revocation on top of it.
 *
 * Revocation is looked up here rather than by OpenSSL's CRL checking,
 * which checks a CRL's signature again for every chain (with a CRL of
 * 10,000 entries that is most of the time): a CRL is parsed once into a
 * table of serials sorted for binary search, and its signature is checked
 * once per issuer key that a chain offers for it, under a lock, so that
 * threads share the result.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/certstream.h>
#include <m2m/hex.h>
#include <m2m/verify.h>

#include "cert_internal.h"
#include "internal.h"
#include "keystore/keystore.h"
#include "verify_internal.h"

#define CRL_MAX		(64 * 1024 * 1024)	/* largest CRL accepted */
#define OCSP_MAX	(1024 * 1024)		/* largest OCSP response */
#define SKEW		300			/* seconds of clock skew
						   allowed for OCSP */
#define SOURCE_MAX	1100			/* "file#N" */

/* ---- the verifier ------------------------------------------------------------ */

struct crl_entry {
	uint8_t len;			/* serial octets (magnitude) */
	uint8_t neg;
	uint8_t sn[20];
	int8_t reason;			/* CRLReason, -1 if none */
	int64_t when;			/* revocationDate */
};

/* A signature checked once per key, shared by threads. */
struct sig_cache {
	pthread_mutex_t lock;
	int state;			/* 0 unchecked, 1 good, 2 bad */
	unsigned char *key;		/* the issuer public key it was
					   checked with (its bits) */
	size_t key_len;
	char why[256];			/* why bad */
};

struct crl {
	char *source;
	X509_CRL *crl;
	uint64_t number;
	int delta;
	uint64_t base;			/* delta: BaseCRLNumber */
	int64_t this_update, next_update;	/* next_update 0: none */
	struct crl_entry *e;
	size_t n;
	struct sig_cache sig;
};

struct ocsp {
	char *source;
	OCSP_BASICRESP *bs;
	struct sig_cache sig;
};

/* What is known of a certificate the verifier holds, shown in chains. */
struct known {
	X509 *x;
	char subject[M2M_VERIFY_TEXT_MAX];
	char fingerprint[M2M_FINGERPRINT_HEX];
};

struct m2m_verifier {
	struct m2m_verify_opts opts;
	OSSL_LIB_CTX *leaf_libctx;	/* where certificates verified are
					   parsed; NULL: the context's own */
	OSSL_PROVIDER *leaf_provider;
	uint8_t expect_ppid[M2M_PPID_MAX];
	char expect_serial[M2M_SERIAL_MAX + 1];
	int64_t at;
	X509_STORE *store;
	STACK_OF(X509) *untrusted;
	size_t anchors;
	struct known *known;
	size_t nknown, known_cap;
	struct crl **crls;
	size_t ncrls;
	struct ocsp **ocsps;
	size_t nocsps;
};

const char *m2m_revocation_status_name(enum m2m_revocation_status s)
{
	switch (s) {
	case M2M_REV_GOOD:
		return "good";
	case M2M_REV_REVOKED:
		return "revoked";
	case M2M_REV_UNKNOWN:
		return "unknown";
	default:
		return "not-checked";
	}
}

static void iso_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "?");
}

static void sig_cache_init(struct sig_cache *c)
{
	pthread_mutex_init(&c->lock, NULL);
}

static void sig_cache_release(struct sig_cache *c)
{
	pthread_mutex_destroy(&c->lock);
	free(c->key);
}

static void crl_free(struct crl *c)
{
	if (!c)
		return;
	sig_cache_release(&c->sig);
	X509_CRL_free(c->crl);
	free(c->e);
	free(c->source);
	free(c);
}

static void ocsp_free(struct ocsp *o)
{
	if (!o)
		return;
	sig_cache_release(&o->sig);
	OCSP_BASICRESP_free(o->bs);
	free(o->source);
	free(o);
}

void m2m_verifier_free(struct m2m_verifier *v)
{
	size_t i;

	if (!v)
		return;
	m2m_leaf_libctx_free(v->leaf_libctx, v->leaf_provider);
	X509_STORE_free(v->store);
	sk_X509_pop_free(v->untrusted, X509_free);
	for (i = 0; i < v->nknown; i++)
		X509_free(v->known[i].x);
	free(v->known);
	for (i = 0; i < v->ncrls; i++)
		crl_free(v->crls[i]);
	free(v->crls);
	for (i = 0; i < v->nocsps; i++)
		ocsp_free(v->ocsps[i]);
	free(v->ocsps);
	free(v);
}

/* The per-call state the verify callback sees. */
struct call {
	struct m2m_verifier *v;
	int expired;			/* the leaf's expiry was let pass */
};

static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	struct call *c = X509_STORE_CTX_get_app_data(sctx);

	if (!ok && c && c->v->opts.ignore_expiry &&
	    X509_STORE_CTX_get_error(sctx) == X509_V_ERR_CERT_HAS_EXPIRED &&
	    X509_STORE_CTX_get_error_depth(sctx) == 0) {
		c->expired = 1;
		return 1;
	}
	return ok;
}

enum m2m_err m2m_verifier_new(struct m2m_ctx *ctx,
			      const struct m2m_verify_opts *opts,
			      struct m2m_verifier **out)
{
	struct m2m_verifier *v;
	X509_VERIFY_PARAM *param;
	enum m2m_err rc;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (opts)
		v->opts = *opts;
	if (v->opts.expect_ppid) {
		if (v->opts.expect_ppid_len > M2M_PPID_MAX) {
			rc = m2m_error(ctx, M2M_ERR_USAGE,
				       "the expected PPID is too long");
			goto fail;
		}
		memcpy(v->expect_ppid, v->opts.expect_ppid,
		       v->opts.expect_ppid_len);
		v->opts.expect_ppid = v->expect_ppid;
	}
	if (v->opts.expect_serial) {
		if (strlen(v->opts.expect_serial) > M2M_SERIAL_MAX) {
			rc = m2m_error(ctx, M2M_ERR_USAGE,
				       "the expected serial number is too long");
			goto fail;
		}
		strcpy(v->expect_serial, v->opts.expect_serial);
		v->opts.expect_serial = v->expect_serial;
	}
	v->at = v->opts.at ? v->opts.at : (int64_t)time(NULL);
	v->store = X509_STORE_new();
	v->untrusted = sk_X509_new_null();
	if (!v->store || !v->untrusted) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto fail;
	}
	param = X509_STORE_get0_param(v->store);
	X509_VERIFY_PARAM_set_time(param, (time_t)v->at);
	if (!X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT) ||
	    (v->opts.purpose == M2M_PURPOSE_CLIENT &&
	     !X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT)) ||
	    (v->opts.purpose == M2M_PURPOSE_SERVER &&
	     !X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot set the verification parameters");
		goto fail;
	}
	X509_STORE_set_verify_cb(v->store, verify_cb);
	/*
	 * The certificates to verify are parsed where decoders are few;
	 * signatures are still checked by the issuer key's provider.
	 */
	v->leaf_libctx = m2m_leaf_libctx_new(ctx, &v->leaf_provider);
	*out = v;
	return M2M_OK;
fail:
	m2m_verifier_free(v);
	return rc;
}

size_t m2m_verifier_anchors(const struct m2m_verifier *v)
{
	return v->anchors;
}

/* SHA-256 of der into out (hex). */
static enum m2m_err fingerprint(struct m2m_ctx *ctx, const uint8_t *der,
				size_t len, char out[M2M_FINGERPRINT_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!m2m_ctx_md(ctx, 256) ||
	    !EVP_Digest(der, len, md, &mdlen, m2m_ctx_md(ctx, 256), NULL))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot hash a certificate");
	m2m_hex_encode(md, mdlen, out);
	return M2M_OK;
}

/* Remember x (its subject and fingerprint) for showing chains. */
static enum m2m_err remember(struct m2m_ctx *ctx, struct m2m_verifier *v,
			     X509 *x, const uint8_t *der, size_t len)
{
	struct known *k;
	enum m2m_err rc;

	if (v->nknown == v->known_cap) {
		size_t cap = v->known_cap ? 2 * v->known_cap : 16;

		k = realloc(v->known, cap * sizeof(*k));
		if (!k)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		v->known = k;
		v->known_cap = cap;
	}
	k = &v->known[v->nknown];
	rc = fingerprint(ctx, der, len, k->fingerprint);
	if (rc != M2M_OK)
		return rc;
	m2m_name_text(X509_get_subject_name(x), k->subject, sizeof(k->subject));
	if (!X509_up_ref(x))
		return m2m_error(ctx, M2M_ERR_CRYPTO, "cannot keep a certificate");
	k->x = x;
	v->nknown++;
	return M2M_OK;
}

/* Parse der[0..len) as a certificate of libctx (NULL: ctx's). */
static enum m2m_err parse_x509(struct m2m_ctx *ctx, OSSL_LIB_CTX *libctx,
			       const uint8_t *der, size_t len, X509 **out)
{
	const unsigned char *p = der;
	X509 *x;

	*out = NULL;
	if (len > M2M_CERT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "larger than %d bytes", M2M_CERT_MAX);
	x = X509_new_ex(libctx ? libctx : ctx->libctx, NULL);
	if (!x)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (!d2i_X509(&x, &p, (long)len)) {
		X509_free(x);
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "not a valid certificate");
	}
	if (p != der + len) {
		X509_free(x);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%zu bytes of garbage after the certificate",
				 (size_t)(der + len - p));
	}
	/* Extensions decoded now, once, not by threads racing later. */
	X509_check_purpose(x, -1, 0);
	ERR_clear_error();
	*out = x;
	return M2M_OK;
}

static enum m2m_err add_der(struct m2m_ctx *ctx, struct m2m_verifier *v,
			    const uint8_t *der, size_t len, int trusted)
{
	X509 *x = NULL;
	enum m2m_err rc;

	rc = parse_x509(ctx, NULL, der, len, &x);
	if (rc != M2M_OK)
		return rc;
	rc = remember(ctx, v, x, der, len);
	if (rc == M2M_OK) {
		if (trusted) {
			if (!X509_STORE_add_cert(v->store, x))
				rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
						    "cannot add a trust anchor");
			else
				v->anchors++;
		} else if (sk_X509_push(v->untrusted, x) > 0) {
			x = NULL;
		} else {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
	}
	X509_free(x);
	ERR_clear_error();
	return rc;
}

enum m2m_err m2m_verifier_add_cert(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const struct m2m_cert *cert, int trusted)
{
	size_t len;
	const uint8_t *der = m2m_cert_der(cert, &len);

	return add_der(ctx, v, der, len, trusted);
}

static enum m2m_err add_file(struct m2m_ctx *ctx, struct m2m_verifier *v,
			     const char *path, int trusted)
{
	struct m2m_certstream *s = NULL;
	const uint8_t *der;
	size_t len;
	enum m2m_err rc;

	rc = m2m_certstream_open(ctx, path, NULL, M2M_CERT_MAX, &s);
	if (rc != M2M_OK)
		return rc;
	for (;;) {
		rc = m2m_certstream_next(ctx, s, &der, &len);
		if (rc != M2M_OK) {
			if (rc == M2M_ERR_INVALID)
				m2m_error_prefix(ctx, "'%s'", path);
			break;
		}
		if (!der)
			break;
		rc = add_der(ctx, v, der, len, trusted);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "'%s': certificate %llu", path,
					 (unsigned long long)m2m_certstream_count(s));
			break;
		}
	}
	m2m_certstream_free(s);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum m2m_err m2m_verifier_add_certs(struct m2m_ctx *ctx,
				    struct m2m_verifier *v, const char *path,
				    int trusted)
{
	struct stat st;
	struct dirent *de;
	DIR *d = NULL;
	char **names = NULL, file[4096];
	size_t n = 0, cap = 0, i;
	enum m2m_err rc = M2M_OK;

	if (stat(path, &st) < 0)
		return m2m_error(ctx, errno == ENOENT ? M2M_ERR_NOT_FOUND :
				 M2M_ERR_IO, "cannot open '%s': %s", path,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return add_file(ctx, v, path, trusted);
	d = opendir(path);
	if (!d)
		return m2m_error(ctx, M2M_ERR_IO, "cannot open '%s': %s", path,
				 strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 32) *
					      sizeof(*names));

			if (!more) {
				rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
				goto out;
			}
			names = more;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && rc == M2M_OK; i++) {
		if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
				     names[i]) >= sizeof(file)) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "'%s/%s': name too long", path, names[i]);
			break;
		}
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = add_file(ctx, v, file, trusted);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

/* ---- CRLs ------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
	const struct crl_entry *x = a, *y = b;

	if (x->neg != y->neg)
		return x->neg - y->neg;
	if (x->len != y->len)
		return x->len - y->len;
	return memcmp(x->sn, y->sn, x->len);
}

/* The magnitude of an INTEGER, leading zero octets dropped; 0 if > 20. */
static int serial_key(const ASN1_INTEGER *sn, struct crl_entry *e)
{
	const unsigned char *p = ASN1_STRING_get0_data(sn);
	int n = ASN1_STRING_length(sn);

	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > 20)
		return 0;
	e->len = (uint8_t)n;
	e->neg = (ASN1_STRING_type(sn) & V_ASN1_NEG) != 0;
	memset(e->sn, 0, sizeof(e->sn));
	memcpy(e->sn, p, (size_t)n);
	return 1;
}

/* The integer extension nid of crl into *v; 0 if absent, -1 if bad. */
static int crl_int_ext(X509_CRL *crl, int nid, uint64_t *v)
{
	int crit = 0;
	ASN1_INTEGER *ai = X509_CRL_get_ext_d2i(crl, nid, &crit, NULL);
	int r;

	if (!ai)
		return crit == -1 ? 0 : -1;
	r = ASN1_INTEGER_get_uint64(v, ai) ? 1 : -1;
	ASN1_INTEGER_free(ai);
	return r;
}

static enum m2m_err crl_load(struct m2m_ctx *ctx, const uint8_t *der,
			     size_t len, const char *source, struct crl **out)
{
	const unsigned char *p = der;
	STACK_OF(X509_REVOKED) *revs;
	struct crl *c;
	enum m2m_err rc;
	int i, n, r;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	sig_cache_init(&c->sig);
	c->source = strdup(source);
	c->crl = X509_CRL_new_ex(ctx->libctx, NULL);
	if (!c->source || !c->crl) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (!d2i_X509_CRL(&c->crl, &p, (long)len) || p != der + len) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID, "not a valid CRL");
		goto fail;
	}
	for (i = 0; i < X509_CRL_get_ext_count(c->crl); i++) {
		X509_EXTENSION *e = X509_CRL_get_ext(c->crl, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));

		if (nid == NID_issuing_distribution_point) {
			rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				       "a CRL with an issuingDistributionPoint (a partial CRL) is not supported");
			goto fail;
		}
		if (X509_EXTENSION_get_critical(e) && nid != NID_delta_crl &&
		    nid != NID_crl_number &&
		    nid != NID_authority_key_identifier) {
			rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
				       "the CRL has a critical extension that is not understood");
			goto fail;
		}
	}
	r = crl_int_ext(c->crl, NID_crl_number, &c->number);
	if (r < 0) {
		rc = m2m_error(ctx, M2M_ERR_INVALID, "the CRL's cRLNumber is malformed");
		goto fail;
	}
	r = crl_int_ext(c->crl, NID_delta_crl, &c->base);
	if (r < 0) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "the CRL's deltaCRLIndicator is malformed");
		goto fail;
	}
	c->delta = r == 1;
	c->this_update = m2m_asn1_time_epoch(X509_CRL_get0_lastUpdate(c->crl));
	if (X509_CRL_get0_nextUpdate(c->crl))
		c->next_update = m2m_asn1_time_epoch(X509_CRL_get0_nextUpdate(c->crl));
	revs = X509_CRL_get_REVOKED(c->crl);
	n = revs ? sk_X509_REVOKED_num(revs) : 0;
	if (n > 0) {
		c->e = calloc((size_t)n, sizeof(*c->e));
		if (!c->e) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		X509_REVOKED *rev = sk_X509_REVOKED_value(revs, i);
		struct crl_entry *e = &c->e[c->n];
		ASN1_ENUMERATED *reason;
		int j, crit = 0;

		for (j = 0; j < X509_REVOKED_get_ext_count(rev); j++) {
			X509_EXTENSION *x = X509_REVOKED_get_ext(rev, j);
			int nid = OBJ_obj2nid(X509_EXTENSION_get_object(x));

			if (nid == NID_certificate_issuer ||
			    (X509_EXTENSION_get_critical(x) &&
			     nid != NID_crl_reason)) {
				rc = m2m_error(ctx, M2M_ERR_UNSUPPORTED,
					       "entry %d of the CRL has an extension that is not understood (an indirect CRL?)",
					       i + 1);
				goto fail;
			}
		}
		if (!serial_key(X509_REVOKED_get0_serialNumber(rev), e))
			continue;	/* no certificate we accept has it */
		e->when = m2m_asn1_time_epoch(X509_REVOKED_get0_revocationDate(rev));
		e->reason = -1;
		reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
		if (reason) {
			long rv = ASN1_ENUMERATED_get(reason);

			e->reason = rv >= 0 && rv <= 10 ? (int8_t)rv : 0;
			ASN1_ENUMERATED_free(reason);
		}
		c->n++;
	}
	if (c->n)
		qsort(c->e, c->n, sizeof(*c->e), entry_cmp);
	ERR_clear_error();
	*out = c;
	return M2M_OK;
fail:
	crl_free(c);
	ERR_clear_error();
	return rc;
}

static enum m2m_err crl_push(struct m2m_ctx *ctx, struct m2m_verifier *v,
			     struct m2m_certstream *s, const char *name)
{
	char source[SOURCE_MAX];
	const uint8_t *der;
	size_t len;
	struct crl *c, **more;
	enum m2m_err rc;

	for (;;) {
		rc = m2m_certstream_next(ctx, s, &der, &len);
		if (rc != M2M_OK) {
			m2m_error_prefix(ctx, "'%s'", name);
			return rc;
		}
		if (!der)
			return M2M_OK;
		if (m2m_certstream_count(s) == 1)
			snprintf(source, sizeof(source), "%s", name);
		else
			snprintf(source, sizeof(source), "%s#%llu", name,
				 (unsigned long long)m2m_certstream_count(s));
		rc = crl_load(ctx, der, len, source, &c);
		if (rc != M2M_OK)
			return m2m_error_prefix(ctx, "'%s': CRL %llu", name,
						(unsigned long long)m2m_certstream_count(s));
		more = realloc(v->crls, (v->ncrls + 1) * sizeof(*more));
		if (!more) {
			crl_free(c);
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
		v->crls = more;
		v->crls[v->ncrls++] = c;
	}
}

enum m2m_err m2m_verifier_add_crls(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const char *path)
{
	struct m2m_certstream *s = NULL;
	enum m2m_err rc;

	rc = m2m_certstream_open(ctx, path, "X509 CRL", CRL_MAX, &s);
	if (rc == M2M_OK)
		rc = crl_push(ctx, v, s, path);
	m2m_certstream_free(s);
	return rc;
}

enum m2m_err m2m_verifier_add_crls_mem(struct m2m_ctx *ctx,
				       struct m2m_verifier *v, const void *buf,
				       size_t len, const char *name)
{
	struct m2m_certstream *s = NULL;
	enum m2m_err rc;

	rc = m2m_certstream_new_mem(ctx, buf, len, "X509 CRL", CRL_MAX, &s);
	if (rc == M2M_OK)
		rc = crl_push(ctx, v, s, name);
	m2m_certstream_free(s);
	return rc;
}

enum m2m_err m2m_crl_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			   X509_CRL **out)
{
	struct m2m_certstream *s = NULL;
	const uint8_t *der = NULL, *p;
	size_t dlen = 0;
	X509_CRL *crl = NULL;
	enum m2m_err rc;

	*out = NULL;
	rc = m2m_certstream_new_mem(ctx, buf, len, "X509 CRL", CRL_MAX, &s);
	if (rc == M2M_OK)
		rc = m2m_certstream_next(ctx, s, &der, &dlen);
	if (rc == M2M_OK) {
		p = der;
		crl = X509_CRL_new_ex(ctx->libctx, NULL);
		if (!crl || !d2i_X509_CRL(&crl, &p, (long)dlen) ||
		    p != der + dlen) {
			X509_CRL_free(crl);
			crl = NULL;
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "not a valid CRL");
		}
	}
	m2m_certstream_free(s);
	ERR_clear_error();
	*out = crl;
	return rc;
}

/* ---- OCSP ------------------------------------------------------------------ */

static const char *ocsp_status_text(int status)
{
	switch (status) {
	case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
		return "malformedRequest";
	case OCSP_RESPONSE_STATUS_INTERNALERROR:
		return "internalError";
	case OCSP_RESPONSE_STATUS_TRYLATER:
		return "tryLater";
	case OCSP_RESPONSE_STATUS_SIGREQUIRED:
		return "sigRequired";
	case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
		return "unauthorized";
	default:
		return "an unknown status";
	}
}

enum m2m_err m2m_verifier_add_ocsp_mem(struct m2m_ctx *ctx,
				       struct m2m_verifier *v, const void *buf,
				       size_t len, const char *name)
{
	const unsigned char *p = buf;
	OCSP_RESPONSE *resp = NULL;
	struct ocsp *o = NULL, **more;
	enum m2m_err rc;
	int status;

	if (len > OCSP_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'%s' is larger than %d bytes", name, OCSP_MAX);
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (!resp || p != (const unsigned char *)buf + len) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "'%s' is not a DER OCSP response", name);
		goto out;
	}
	status = OCSP_response_status(resp);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s' is not successful: the responder said %s",
			       name, ocsp_status_text(status));
		goto out;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	sig_cache_init(&o->sig);
	o->source = strdup(name);
	o->bs = OCSP_response_get1_basic(resp);
	if (!o->source || !o->bs) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "'%s' holds no basic OCSP response",
				    name);
		goto out;
	}
	more = realloc(v->ocsps, (v->nocsps + 1) * sizeof(*more));
	if (!more) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	v->ocsps = more;
	v->ocsps[v->nocsps++] = o;
	o = NULL;
	rc = M2M_OK;
out:
	ocsp_free(o);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return rc;
}

enum m2m_err m2m_verifier_add_ocsp(struct m2m_ctx *ctx, struct m2m_verifier *v,
				   const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum m2m_err rc;

	rc = m2m_file_read(ctx, path, OCSP_MAX, &buf, &len);
	if (rc == M2M_OK)
		rc = m2m_verifier_add_ocsp_mem(ctx, v, buf, len, path);
	free(buf);
	return rc;
}

/* ---- signatures checked once ------------------------------------------------- */

/*
 * Run check (which returns 1 if the signature verifies, else 0 with why
 * set) once per issuer key, sharing the answer: 1 good, 0 bad.
 */
static int once(struct sig_cache *c, X509 *issuer,
		int (*check)(void *obj, X509 *issuer, char *why, size_t size),
		void *obj, char *why, size_t why_size)
{
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(issuer);
	size_t n = bits ? (size_t)bits->length : 0;
	unsigned char *k;
	int good;

	pthread_mutex_lock(&c->lock);
	if (c->state && c->key_len == n &&
	    (n == 0 || memcmp(c->key, bits->data, n) == 0)) {
		good = c->state == 1;
		snprintf(why, why_size, "%s", c->why);
		pthread_mutex_unlock(&c->lock);
		return good;
	}
	c->why[0] = '\0';
	good = check(obj, issuer, c->why, sizeof(c->why));
	ERR_clear_error();
	snprintf(why, why_size, "%s", c->why);
	k = malloc(n ? n : 1);
	if (k) {
		if (n)
			memcpy(k, bits->data, n);
		free(c->key);
		c->key = k;
		c->key_len = n;
		c->state = good ? 1 : 2;
	} else {
		c->state = 0;	/* not kept: checked again next time */
	}
	pthread_mutex_unlock(&c->lock);
	return good;
}

static int crl_sig_check(void *obj, X509 *issuer, char *why, size_t size)
{
	struct crl *c = obj;
	EVP_PKEY *pk = X509_get0_pubkey(issuer);

	if (pk && X509_CRL_verify(c->crl, pk) == 1)
		return 1;
	snprintf(why, size, "its signature does not verify with the issuer's key");
	return 0;
}

/*
 * Is signer, which signed an OCSP response, allowed to answer for
 * issuer's certificates (RFC 6960 4.2.2.2)?  The issuer itself, or a
 * certificate it issued for id-kp-OCSPSigning.
 */
static int ocsp_signer_ok(X509 *signer, X509 *issuer, int64_t at, char *why,
			  size_t size)
{
	EVP_PKEY *ik = X509_get0_pubkey(issuer);

	if (X509_cmp(signer, issuer) == 0)
		return 1;
	if (X509_check_issued(issuer, signer) != X509_V_OK || !ik ||
	    X509_verify(signer, ik) != 1) {
		snprintf(why, size, "it is signed by a certificate the issuer did not issue");
		return 0;
	}
	if (!(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN)) {
		snprintf(why, size, "its signer is not authorised for OCSP (no id-kp-OCSPSigning)");
		return 0;
	}
	if (X509_cmp_time(X509_get0_notBefore(signer), &(time_t){ (time_t)at }) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(signer), &(time_t){ (time_t)at }) < 0) {
		snprintf(why, size, "its signer's certificate is not valid at the time of verification");
		return 0;
	}
	return 1;
}

struct ocsp_check {
	struct ocsp *o;
	int64_t at;
};

static int ocsp_sig_check(void *obj, X509 *issuer, char *why, size_t size)
{
	struct ocsp_check *oc = obj;
	STACK_OF(X509) *extra = sk_X509_new_null();
	X509 *signer = NULL;
	int ok = 0;

	if (!extra || !sk_X509_push(extra, issuer) ||
	    !OCSP_resp_get0_signer(oc->o->bs, &signer, extra)) {
		snprintf(why, size, "its signer is neither the issuer nor a certificate in the response");
		goto out;
	}
	/* The signature alone: who may sign is decided below. */
	if (OCSP_basic_verify(oc->o->bs, extra, NULL,
			      OCSP_NOVERIFY | OCSP_NOCHECKS) != 1) {
		snprintf(why, size, "its signature does not verify");
		goto out;
	}
	ok = ocsp_signer_ok(signer, issuer, oc->at, why, size);
out:
	sk_X509_free(extra);
	return ok;
}

/* ---- revocation of one certificate ------------------------------------------- */

struct rev {
	enum m2m_revocation_status status;
	char source[M2M_VERIFY_TEXT_MAX];
	int64_t when;
	int reason;
	char note[M2M_VERIFY_TEXT_MAX];
	int bad;			/* a CRL or response did not verify */
	const char *bad_check;		/* "crl" or "ocsp" */
	char bad_why[M2M_VERIFY_TEXT_MAX];
};

static const struct crl_entry *crl_find(const struct crl *c,
					const struct crl_entry *key)
{
	return c->n ? bsearch(key, c->e, c->n, sizeof(*c->e), entry_cmp) : NULL;
}

__attribute__((format(printf, 2, 3)))
static void note(struct rev *r, const char *fmt, ...)
{
	size_t o = strlen(r->note);
	va_list ap;

	if (o >= sizeof(r->note) - 3)
		return;
	if (o) {
		memcpy(r->note + o, "; ", 3);
		o += 2;
	}
	va_start(ap, fmt);
	vsnprintf(r->note + o, sizeof(r->note) - o, fmt, ap);
	va_end(ap);
}

static int fresh(int64_t this_update, int64_t next_update, int64_t at)
{
	return this_update <= at && (next_update == 0 || next_update >= at);
}

/*
 * The subject of x as text into buf, from what the verifier knows of its
 * certificates when it can (printing a name costs more than looking it
 * up: this is once per certificate verified).
 */
static const char *subject_text(const struct m2m_verifier *v, const X509 *x,
				char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < v->nknown; i++)
		if (v->known[i].x == x)
			return v->known[i].subject;
	m2m_name_text(X509_get_subject_name(x), buf, size);
	return buf;
}

static const char *crl_issuer(const struct crl *c, char *buf, size_t size)
{
	m2m_name_text(X509_CRL_get_issuer(c->crl), buf, size);
	return buf;
}

/* What the CRLs of issuer say about x. */
static void crl_status(struct m2m_verifier *v, X509 *x, X509 *issuer,
		       struct rev *r)
{
	const struct crl *full = NULL, *delta = NULL;
	const struct crl_entry *e;
	struct crl_entry key;
	char why[256], t[32], buf[M2M_VERIFY_TEXT_MAX];
	const char *name;
	size_t i;
	int any = 0;

	if (!serial_key(X509_get0_serialNumber(x), &key))
		return;
	name = subject_text(v, issuer, buf, sizeof(buf));
	for (i = 0; i < v->ncrls; i++) {
		struct crl *c = v->crls[i];

		if (X509_NAME_cmp(X509_CRL_get_issuer(c->crl),
				  X509_get_subject_name(issuer)) != 0)
			continue;
		any = 1;
		if (!once(&c->sig, issuer, crl_sig_check, c, why, sizeof(why))) {
			if (!r->bad) {
				r->bad = 1;
				r->bad_check = "crl";
				snprintf(r->bad_why, sizeof(r->bad_why),
					 "CRL '%.150s' of '%.150s' does not verify: %.150s",
					 c->source, name, why);
			}
			continue;
		}
		/* A revocation is final, whatever CRL says it. */
		e = crl_find(c, &key);
		if (e && e->reason != 6 && e->reason != 8 &&
		    r->status != M2M_REV_REVOKED) {
			r->status = M2M_REV_REVOKED;
			r->when = e->when;
			r->reason = e->reason;
			snprintf(r->source, sizeof(r->source), "%sCRL %llu of '%.200s' ('%.200s')",
				 c->delta ? "delta " : "",
				 (unsigned long long)c->number, name, c->source);
		}
		if (!c->delta && (!full || c->number > full->number))
			full = c;
	}
	if (!any && v->ncrls == 1)
		note(r, "CRL '%.150s' is of '%.150s', not of '%.150s'",
		     v->crls[0]->source, crl_issuer(v->crls[0], why, sizeof(why)),
		     name);
	else if (!any && v->ncrls)
		note(r, "no CRL given is of '%.200s'", name);
	if (!any || !full) {
		if (any && !r->bad)
			note(r, "no full CRL of '%.200s' verifies", name);
		return;
	}
	for (i = 0; i < v->ncrls; i++) {
		struct crl *c = v->crls[i];

		if (c->delta && c->base <= full->number &&
		    c->number > full->number &&
		    (!delta || c->number > delta->number) &&
		    X509_NAME_cmp(X509_CRL_get_issuer(c->crl),
				  X509_get_subject_name(issuer)) == 0 &&
		    once(&c->sig, issuer, crl_sig_check, c, why, sizeof(why)))
			delta = c;
	}
	if (r->status == M2M_REV_REVOKED)
		return;
	/* certificateHold: on the newest lists only, unless lifted. */
	e = delta ? crl_find(delta, &key) : NULL;
	if (!e || e->reason != 8) {
		const struct crl *src = e ? delta : full;

		if (!e)
			e = crl_find(full, &key);
		if (e && e->reason != 8) {
			r->status = M2M_REV_REVOKED;
			r->when = e->when;
			r->reason = e->reason;
			snprintf(r->source, sizeof(r->source), "%sCRL %llu of '%.200s' ('%.200s')",
				 src->delta ? "delta " : "",
				 (unsigned long long)src->number, name,
				 src->source);
			return;
		}
	}
	if (!fresh(full->this_update, full->next_update, v->at)) {
		iso_time(full->this_update > v->at ? full->this_update :
			 full->next_update, t);
		note(r, "CRL '%s' of '%s' is %s %s", full->source, name,
		     full->this_update > v->at ? "not valid before" :
		     "out of date since", t);
		return;
	}
	if (delta && !fresh(delta->this_update, delta->next_update, v->at)) {
		note(r, "delta CRL '%s' of '%s' is out of date", delta->source,
		     name);
		return;
	}
	if (r->status != M2M_REV_GOOD) {
		r->status = M2M_REV_GOOD;
		snprintf(r->source, sizeof(r->source), "CRL %llu of '%.200s' ('%.200s')%s",
			 (unsigned long long)full->number, name, full->source,
			 delta ? " and a delta CRL" : "");
	}
}

/* What the OCSP responses say about x, issued by issuer. */
static void ocsp_status(struct m2m_verifier *v, X509 *x, X509 *issuer,
			struct rev *r)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	char why[256];
	size_t i;
	int k, matched = 0;

	if (!v->nocsps)
		return;
	for (i = 0; i < v->nocsps; i++) {
		struct ocsp *o = v->ocsps[i];
		struct ocsp_check oc = { o, v->at };

		for (k = 0; k < OCSP_resp_count(o->bs); k++) {
			OCSP_SINGLERESP *single = OCSP_resp_get0(o->bs, k);
			const OCSP_CERTID *id = OCSP_SINGLERESP_get0_id(single);
			ASN1_OBJECT *md_obj = NULL;
			ASN1_INTEGER *isn = NULL;
			ASN1_GENERALIZEDTIME *rt = NULL, *tu = NULL, *nu = NULL;
			OCSP_CERTID *ours;
			const EVP_MD *md;
			int status, reason = -1, same;
			int64_t thisu, nextu;

			OCSP_id_get0_info(NULL, &md_obj, NULL, &isn,
					  (OCSP_CERTID *)id);
			if (!isn || ASN1_INTEGER_cmp(isn, sn) != 0)
				continue;
			md = md_obj ? EVP_get_digestbyobj(md_obj) : NULL;
			ours = md ? OCSP_cert_id_new(md, X509_get_subject_name(issuer),
						     X509_get0_pubkey_bitstr(issuer),
						     sn) : NULL;
			same = ours && OCSP_id_issuer_cmp(ours, id) == 0;
			OCSP_CERTID_free(ours);
			ERR_clear_error();
			if (!same)
				continue;
			matched = 1;
			if (!once(&o->sig, issuer, ocsp_sig_check, &oc, why,
				  sizeof(why))) {
				if (!r->bad) {
					r->bad = 1;
					r->bad_check = "ocsp";
					snprintf(r->bad_why, sizeof(r->bad_why),
						 "OCSP response '%.200s' does not verify: %.200s",
						 o->source, why);
				}
				break;
			}
			status = OCSP_single_get0_status(single, &reason, &rt,
							 &tu, &nu);
			thisu = tu ? m2m_asn1_time_epoch(tu) : 0;
			nextu = nu ? m2m_asn1_time_epoch(nu) : 0;
			if (status == V_OCSP_CERTSTATUS_REVOKED) {
				if (r->status != M2M_REV_REVOKED) {
					r->status = M2M_REV_REVOKED;
					r->when = rt ? m2m_asn1_time_epoch(rt) : 0;
					r->reason = reason;
					snprintf(r->source, sizeof(r->source),
						 "OCSP response '%.400s'", o->source);
				}
				break;
			}
			if (status != V_OCSP_CERTSTATUS_GOOD) {
				note(r, "OCSP response '%s' says unknown",
				     o->source);
				break;
			}
			if (thisu > v->at + SKEW ||
			    (nextu && nextu < v->at - SKEW)) {
				note(r, "OCSP response '%s' is %s", o->source,
				     thisu > v->at + SKEW ? "not valid yet" :
				     "out of date");
				break;
			}
			if (r->status == M2M_REV_UNKNOWN ||
			    r->status == M2M_REV_NOT_CHECKED) {
				r->status = M2M_REV_GOOD;
				snprintf(r->source, sizeof(r->source),
					 "OCSP response '%.400s'", o->source);
			}
			break;
		}
	}
	if (!matched) {
		if (v->nocsps == 1)
			note(r, "OCSP response '%s' is about another certificate",
			     v->ocsps[0]->source);
		else
			note(r, "no OCSP response is about it");
	}
}

static void revocation(struct m2m_verifier *v, X509 *x, X509 *issuer,
		       struct rev *r)
{
	memset(r, 0, sizeof(*r));
	r->status = M2M_REV_UNKNOWN;
	r->reason = -1;
	crl_status(v, x, issuer, r);
	if (r->status != M2M_REV_REVOKED)
		ocsp_status(v, x, issuer, r);
	if (r->status == M2M_REV_UNKNOWN && !v->ncrls && !v->nocsps) {
		char buf[M2M_VERIFY_TEXT_MAX];

		note(r, "no CRL of '%.400s' and no OCSP response was given",
		     subject_text(v, issuer, buf, sizeof(buf)));
	}
}

/* ---- one certificate ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void fail(struct m2m_verify_result *res, const char *check,
		 const char *fmt, ...)
{
	va_list ap;

	if (!res->ok)
		return;		/* the first failure is the verdict's */
	res->ok = 0;
	res->check = check;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static const struct known *known_of(const struct m2m_verifier *v, const X509 *x)
{
	size_t i;

	for (i = 0; i < v->nknown; i++)
		if (v->known[i].x == x)
			return &v->known[i];
	return NULL;
}

static void fill_chain(struct m2m_ctx *ctx, const struct m2m_verifier *v,
		       STACK_OF(X509) *chain, X509 *leaf,
		       struct m2m_verify_result *res)
{
	int i, n = chain ? sk_X509_num(chain) : 0;

	for (i = 0; i < n && res->chain_len < M2M_VERIFY_CHAIN_MAX; i++) {
		X509 *x = sk_X509_value(chain, i);
		struct m2m_verify_chain_cert *c = &res->chain[res->chain_len++];
		const struct known *k = known_of(v, x);
		unsigned char *der = NULL;
		int len;

		if (x == leaf) {
			memcpy(c->subject, res->subject, sizeof(c->subject));
			memcpy(c->fingerprint, res->fingerprint,
			       sizeof(c->fingerprint));
		} else if (k) {
			memcpy(c->subject, k->subject, sizeof(c->subject));
			memcpy(c->fingerprint, k->fingerprint,
			       sizeof(c->fingerprint));
		} else {
			m2m_name_text(X509_get_subject_name(x), c->subject,
				      sizeof(c->subject));
			len = i2d_X509(x, &der);
			if (len <= 0 || fingerprint(ctx, der, (size_t)len,
						    c->fingerprint) != M2M_OK)
				snprintf(c->fingerprint, sizeof(c->fingerprint),
					 "?");
			OPENSSL_free(der);
			m2m_ctx_clear_error(ctx);
		}
	}
}

static const char *purpose_text(enum m2m_purpose p)
{
	return p == M2M_PURPOSE_CLIENT ? "TLS client authentication" :
	       p == M2M_PURPOSE_SERVER ? "TLS server authentication" :
	       "the purpose asked for";
}

/* The verdict for a chain X509_verify_cert() refused. */
static void chain_fail(const struct m2m_verifier *v, X509_STORE_CTX *sctx,
		       X509 *leaf, struct m2m_verify_result *res)
{
	int err = X509_STORE_CTX_get_error(sctx);
	int depth = X509_STORE_CTX_get_error_depth(sctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(sctx);
	char who[M2M_VERIFY_TEXT_MAX + 8] = "", name[M2M_VERIFY_TEXT_MAX],
	     iss[M2M_VERIFY_TEXT_MAX], t[32];

	if (!cur)
		cur = leaf;
	m2m_name_text(X509_get_subject_name(cur), name, sizeof(name));
	m2m_name_text(X509_get_issuer_name(cur), iss, sizeof(iss));
	if (depth > 0)
		snprintf(who, sizeof(who), "CA '%s' ", name);
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		iso_time(m2m_asn1_time_epoch(X509_get0_notAfter(cur)), t);
		fail(res, "expired", "%sexpired at %s", who, t);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		iso_time(m2m_asn1_time_epoch(X509_get0_notBefore(cur)), t);
		fail(res, "not-yet-valid", "%snot valid before %s", who, t);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		fail(res, "untrusted", "issuer '%s' not trusted", iss);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		fail(res, "untrusted", "self-signed, and not a trust anchor");
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		fail(res, "untrusted",
		     "the chain ends at '%s', which is not a trust anchor", name);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		if (depth > 0)
			fail(res, "signature",
			     "the signature on CA '%s' by '%s' does not verify",
			     name, iss);
		else
			fail(res, "signature",
			     "the signature by '%s' does not verify", iss);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		fail(res, "purpose", "%snot valid for %s", who,
		     purpose_text(v->opts.purpose));
		break;
	default:
		fail(res, "chain", "%s%s", depth > 0 ? who : "",
		     X509_verify_cert_error_string(err));
		break;
	}
}

static const char *finding_detail(const struct m2m_lint_report *l,
				  const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->f[i].rule->id, id) == 0)
			return l->f[i].detail;
	return "";
}

/* The PPID and serial number checks of a DevID, and what was expected. */
static void devid_checks(struct m2m_ctx *ctx, const struct m2m_verifier *v,
			 struct m2m_verify_result *res)
{
	const struct m2m_devid_info *d = &res->lint.devid;
	int devid = res->lint.profile == M2M_LINT_IDEVID ||
		    res->lint.profile == M2M_LINT_LDEVID;
	uint8_t ppid[M2M_PPID_MAX];
	char have[M2M_PPID_HEX_MAX], want[M2M_PPID_HEX_MAX];
	size_t n = 0;

	if (devid) {
		if (d->hwmodules == 0)
			fail(res, "ppid", "no HardwareModuleName in %s",
			     strcmp(finding_detail(&res->lint, "devid-san-present"),
				    "") ? "the certificate (it has no subjectAltName)" :
			     "subjectAltName");
		else if (!d->hwmodule_ok)
			fail(res, "ppid", "the HardwareModuleName is malformed: %s",
			     finding_detail(&res->lint, "devid-hwmodule-der"));
		else if (!d->has_ppid && d->tcg)
			fail(res, "ppid", "serialNumber is not a valid PPID: %s",
			     d->ppid_error);
		else if (!d->has_ppid)
			fail(res, "ppid", "hwSerialNum is not a valid PPID: %s",
			     d->ppid_error);
	}
	if (v->opts.expect_ppid) {
		m2m_hex_encode(v->opts.expect_ppid, v->opts.expect_ppid_len, want);
		if (!d->has_ppid ||
		    m2m_ppid_encode(ctx, &d->ppid, ppid, sizeof(ppid), &n) != M2M_OK)
			fail(res, "expect-ppid", "no PPID, expected %s", want);
		else if (n != v->opts.expect_ppid_len ||
			 memcmp(ppid, v->opts.expect_ppid, n) != 0)
			fail(res, "expect-ppid", "PPID is %s, expected %s",
			     m2m_hex_encode(ppid, n, have), want);
		m2m_ctx_clear_error(ctx);
	}
	if (v->opts.expect_serial) {
		if (!d->serial_number[0])
			fail(res, "expect-serial", "no serialNumber, expected '%s'",
			     v->opts.expect_serial);
		else if (strcmp(d->serial_number, v->opts.expect_serial) != 0)
			fail(res, "expect-serial", "serialNumber is '%s', expected '%s'",
			     d->serial_number, v->opts.expect_serial);
	}
}

static void revocation_checks(struct m2m_verifier *v, STACK_OF(X509) *chain,
			      struct m2m_verify_result *res)
{
	char t[32], name[M2M_VERIFY_TEXT_MAX];
	struct rev r;
	int d, n = sk_X509_num(chain);

	for (d = 0; d + 1 < n; d++) {
		X509 *x = sk_X509_value(chain, d);

		/* CAs are checked where something was given for them. */
		if (d > 0 && !v->ncrls && !v->nocsps)
			break;
		revocation(v, x, sk_X509_value(chain, d + 1), &r);
		if (d == 0) {
			res->revocation = r.status;
			memcpy(res->revocation_source, r.source,
			       sizeof(r.source));
			res->revoked_at = r.when;
			res->revocation_reason = r.reason;
			memcpy(res->revocation_note, r.note, sizeof(r.note));
		}
		if (r.bad)
			fail(res, r.bad_check, "%s", r.bad_why);
		if (r.status == M2M_REV_REVOKED) {
			const char *why = m2m_crl_reason_name(r.reason);

			iso_time(r.when, t);
			if (d > 0)
				m2m_name_text(X509_get_subject_name(x), name,
					      sizeof(name));
			fail(res, "revoked", "%s%s%srevoked at %s%s%s%s, by %s",
			     d > 0 ? "CA '" : "", d > 0 ? name : "",
			     d > 0 ? "' " : "", t, why ? " (" : "",
			     why ? why : "", why ? ")" : "", r.source);
		}
		if (d == 0 && r.status != M2M_REV_GOOD &&
		    r.status != M2M_REV_REVOKED &&
		    v->opts.revocation == M2M_REVOCATION_REQUIRE)
			fail(res, "revocation-unknown",
			     "nothing says whether it is revoked: %s", r.note);
	}
}

static void hex_serial(const ASN1_INTEGER *sn, char *out, size_t size)
{
	const unsigned char *p = ASN1_STRING_get0_data(sn);
	size_t n = (size_t)ASN1_STRING_length(sn), i, o = 0;

	out[0] = '\0';
	if (ASN1_STRING_type(sn) & V_ASN1_NEG)
		o += (size_t)snprintf(out, size, "-");
	for (i = 0; i < n && o + 3 <= size; i++)
		o += (size_t)snprintf(out + o, size - o, "%02x", p[i]);
}

enum m2m_err m2m_verify(struct m2m_ctx *ctx, struct m2m_verifier *v,
			const uint8_t *der, size_t len,
			struct m2m_cert *const *chain, size_t nchain,
			struct m2m_verify_result *res)
{
	struct call call = { v, 0 };
	X509 *x = NULL;
	X509_STORE_CTX *sctx = NULL;
	STACK_OF(X509) *own = NULL;
	enum m2m_err rc;
	size_t i;
	int ok;

	memset(res, 0, sizeof(*res));
	res->ok = 1;
	res->revocation_reason = -1;
	if (!v->anchors)
		return m2m_error(ctx, M2M_ERR_USAGE, "no trust anchor was given");
	rc = parse_x509(ctx, v->leaf_libctx, der, len, &x);
	if (rc == M2M_OK && v->leaf_libctx && !X509_get0_pubkey(x)) {
		/* A key of another type: the ordinary way. */
		X509_free(x);
		rc = parse_x509(ctx, NULL, der, len, &x);
	}
	ERR_clear_error();
	if (rc != M2M_OK)
		return rc;
	m2m_name_text(X509_get_subject_name(x), res->subject,
		      sizeof(res->subject));
	m2m_name_text(X509_get_issuer_name(x), res->issuer, sizeof(res->issuer));
	hex_serial(X509_get0_serialNumber(x), res->serial, sizeof(res->serial));
	rc = fingerprint(ctx, der, len, res->fingerprint);
	if (rc != M2M_OK)
		goto out;
	res->not_before = m2m_asn1_time_epoch(X509_get0_notBefore(x));
	res->not_after = m2m_asn1_time_epoch(X509_get0_notAfter(x));
	res->expired = X509_cmp_time(X509_get0_notAfter(x),
				     &(time_t){ (time_t)v->at }) < 0;
	m2m_lint_x509(ctx, x, der, len, v->opts.profile, &res->lint);

	if (nchain) {
		own = sk_X509_dup(v->untrusted);
		if (!own) {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < nchain; i++) {
			X509 *c = m2m_cert_x509(chain[i]);

			if (c && !sk_X509_push(own, c)) {
				rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	sctx = X509_STORE_CTX_new_ex(ctx->libctx, NULL);
	if (!sctx || !X509_STORE_CTX_init(sctx, v->store, x,
					  own ? own : v->untrusted)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot start verifying");
		goto out;
	}
	X509_STORE_CTX_set_app_data(sctx, &call);
	ok = X509_verify_cert(sctx) == 1;
	fill_chain(ctx, v, X509_STORE_CTX_get0_chain(sctx), x, res);
	if (!ok)
		chain_fail(v, sctx, x, res);
	devid_checks(ctx, v, res);
	{
		const struct m2m_lint_finding *f =
			m2m_lint_first(&res->lint, M2M_LINT_ERROR);

		if (f)
			fail(res, "profile", "%s: %s", f->rule->id, f->detail);
	}
	if (ok && v->opts.revocation != M2M_REVOCATION_NONE)
		revocation_checks(v, X509_STORE_CTX_get0_chain(sctx), res);
	rc = M2M_OK;
out:
	X509_STORE_CTX_free(sctx);
	sk_X509_free(own);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* ---- a live device ------------------------------------------------------------ */

enum m2m_err m2m_verify_possession(struct m2m_ctx *ctx,
				   const struct m2m_key *key,
				   const struct m2m_cert *cert,
				   uint8_t nonce[M2M_NONCE_LEN])
{
	X509 *x = m2m_cert_x509(cert);
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	EVP_MD_CTX *sctx = NULL, *vctx = NULL;
	const char *md = m2m_sign_digest(m2m_key_get_alg(key));
	unsigned char sig[2048];
	size_t siglen = 0;
	enum m2m_err rc;

	if (!pub) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "the certificate's public key cannot be used");
		goto out;
	}
	if (RAND_bytes_ex(ctx->libctx, nonce, M2M_NONCE_LEN, 0) != 1) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make a random nonce");
		goto out;
	}
	rc = m2m_sign_ctx_new(ctx, m2m_key_pkey(key), m2m_key_get_alg(key),
			      &sctx);
	if (rc != M2M_OK)
		goto out;
	if (EVP_DigestSign(sctx, NULL, &siglen, nonce, M2M_NONCE_LEN) != 1 ||
	    siglen > sizeof(sig) ||
	    EVP_DigestSign(sctx, sig, &siglen, nonce, M2M_NONCE_LEN) != 1) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "the key '%s' cannot sign the nonce",
				    m2m_key_uri(key));
		goto out;
	}
	vctx = EVP_MD_CTX_new();
	if (!vctx || EVP_DigestVerifyInit_ex(vctx, NULL, md, ctx->libctx, NULL,
					     pub, NULL) != 1 ||
	    EVP_DigestVerify(vctx, sig, siglen, nonce, M2M_NONCE_LEN) != 1) {
		rc = m2m_error(ctx, M2M_ERR_VERIFY,
			       "the nonce signed by '%s' does not verify with the certificate's public key: the key is not the certificate's",
			       m2m_key_uri(key));
		goto out;
	}
	rc = M2M_OK;
out:
	EVP_MD_CTX_free(sctx);
	EVP_MD_CTX_free(vctx);
	ERR_clear_error();
	return rc;
}
