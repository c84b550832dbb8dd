/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <m2m/cert.h>
#include <m2m/hex.h>

#include "cert_internal.h"
#include "der.h"
#include "internal.h"
#include "keystore/extkey.h"
#include "keystore/keystore.h"

static int looks_pem(const void *buf, size_t len)
{
	return len >= 11 && memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/* ---- certificates ------------------------------------------------------ */

/*
 * The serial as hex (from the INTEGER's content octets without a sign
 * octet: "00" goes first where the high bit is set) and the SHA-256
 * fingerprint of c's DER.
 */
static enum m2m_err cert_names(struct m2m_ctx *ctx, struct m2m_cert *c,
			       const unsigned char *sn, size_t sn_len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int pad = sn_len > 0 && (sn[0] & 0x80);

	if (sn_len < 1 || sn_len + (size_t)pad > 20)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate serial is not a positive number of 1 to 20 octets");
	if (pad)
		memcpy(c->serial, "00", 2);
	m2m_hex_encode(sn, sn_len, c->serial + 2 * pad);
	/* The digest fetched once per context: this runs per certificate. */
	if (!m2m_ctx_md(ctx, 256) ||
	    !EVP_Digest(c->der, c->der_len, md, &mdlen, m2m_ctx_md(ctx, 256),
			NULL))
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot hash the certificate");
	m2m_hex_encode(md, mdlen, c->fingerprint);
	return M2M_OK;
}

enum m2m_err m2m_cert_from_x509(struct m2m_ctx *ctx, X509 **x,
				struct m2m_cert **out)
{
	struct m2m_cert *c = NULL;
	const ASN1_INTEGER *sn;
	unsigned char *p;
	enum m2m_err rc = M2M_ERR_NOMEM;
	int n;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	n = i2d_X509(*x, NULL);
	if (n <= 0 || n > M2M_CERT_MAX) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "cannot encode the certificate");
		goto fail;
	}
	c->der = malloc((size_t)n);
	if (!c->der)
		goto fail;
	p = c->der;
	c->der_len = (size_t)i2d_X509(*x, &p);
	sn = X509_get0_serialNumber(*x);
	if (sn->type & V_ASN1_NEG) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "certificate serial is not a positive number of 1 to 20 octets");
		goto fail;
	}
	rc = cert_names(ctx, c, sn->data, sn->length > 0 ? (size_t)sn->length : 0);
	if (rc != M2M_OK)
		goto fail;
	c->x509 = *x;
	*x = NULL;
	*out = c;
	return M2M_OK;
fail:
	if (rc == M2M_ERR_NOMEM)
		m2m_error(ctx, rc, "out of memory");
	m2m_cert_free(c);
	return rc;
}

enum m2m_err m2m_cert_from_der(struct m2m_ctx *ctx, unsigned char **der,
			       size_t der_len, const unsigned char *serial,
			       size_t serial_len, struct m2m_cert **out)
{
	struct m2m_cert *c;
	enum m2m_err rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	c->der = *der;
	c->der_len = der_len;
	rc = cert_names(ctx, c, serial, serial_len);
	if (rc != M2M_OK) {
		c->der = NULL;	/* still the caller's */
		m2m_cert_free(c);
		return rc;
	}
	*der = NULL;
	*out = c;
	return M2M_OK;
}

enum m2m_err m2m_cert_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			    struct m2m_cert **out)
{
	X509 *x = NULL;
	BIO *bio = NULL;
	const unsigned char *p = buf;
	enum m2m_err rc;

	*out = NULL;
	if (len > M2M_CERT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate is larger than %d bytes",
				 M2M_CERT_MAX);
	if (looks_pem(buf, len)) {
		bio = BIO_new_mem_buf(buf, (int)len);
		x = X509_new_ex(ctx->libctx, NULL);
		if (!bio || !x || !PEM_read_bio_X509(bio, &x, NULL, NULL)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "not a PEM certificate");
			goto out;
		}
	} else {
		x = X509_new_ex(ctx->libctx, NULL);
		if (!x || !d2i_X509(&x, &p, (long)len)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "not a DER certificate");
			goto out;
		}
		if (p != (const unsigned char *)buf + len) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "%zu bytes of garbage after the certificate",
				       (size_t)((const unsigned char *)buf +
						len - p));
			goto out;
		}
	}
	rc = m2m_cert_from_x509(ctx, &x, out);
out:
	BIO_free(bio);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/*
 * PEM_read_bio() skips text up to the next BEGIN line and reports the end
 * of the input as "no start line"; any other failure is a broken block.
 */
enum m2m_err m2m_cert_parse_list(struct m2m_ctx *ctx, const void *buf,
				 size_t len, struct m2m_cert ***out, size_t *n)
{
	struct m2m_cert **list = NULL;
	size_t count = 0, blocks = 0;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	unsigned long e;
	enum m2m_err rc;

	*out = NULL;
	*n = 0;
	if (len > M2M_CERT_BUNDLE_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificates are larger than %d bytes in all",
				 M2M_CERT_BUNDLE_MAX);
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "no certificate: the input is empty");
	list = calloc(M2M_CERT_LIST_MAX, sizeof(*list));
	if (!list)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (!looks_pem(buf, len)) {
		rc = m2m_cert_parse(ctx, buf, len, &list[0]);
		if (rc != M2M_OK)
			goto out;
		count = 1;
		goto done;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	ERR_clear_error();
	for (;;) {
		if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "PEM block %zu is malformed",
					    blocks + 1);
			goto out;
		}
		blocks++;
		if (strcmp(name, "CERTIFICATE") == 0) {
			if (count == M2M_CERT_LIST_MAX) {
				rc = m2m_error(ctx, M2M_ERR_INVALID,
					       "more than %d certificates",
					       M2M_CERT_LIST_MAX);
				goto out;
			}
			rc = m2m_cert_parse(ctx, data, (size_t)dlen,
					    &list[count]);
			if (rc != M2M_OK) {
				m2m_error_prefix(ctx, "certificate %zu",
						 count + 1);
				goto out;
			}
			count++;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	if (count == 0) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "no CERTIFICATE block in the PEM");
		goto out;
	}
done:
	*out = list;
	*n = count;
	list = NULL;
	count = 0;
	rc = M2M_OK;
out:
	m2m_cert_list_free(list, count);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

enum m2m_err m2m_cert_load_file(struct m2m_ctx *ctx, const char *path,
				struct m2m_cert **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum m2m_err rc;

	*out = NULL;
	rc = m2m_file_read(ctx, path, M2M_CERT_MAX, &buf, &len);
	if (rc == M2M_OK) {
		rc = m2m_cert_parse(ctx, buf, len, out);
		if (rc != M2M_OK)
			m2m_error_prefix(ctx, "'%s'", path);
	}
	free(buf);
	return rc;
}

void m2m_cert_free(struct m2m_cert *cert)
{
	if (!cert)
		return;
	X509_free(cert->x509);
	free(cert->der);
	free(cert);
}

const uint8_t *m2m_cert_der(const struct m2m_cert *cert, size_t *len)
{
	*len = cert->der_len;
	return cert->der;
}

X509 *m2m_cert_x509(const struct m2m_cert *cert)
{
	/* Filled in on first use: a cache, not a change of the value. */
	struct m2m_cert *c = (struct m2m_cert *)cert;
	const unsigned char *p = c->der;

	if (!c->x509) {
		c->x509 = d2i_X509(NULL, &p, (long)c->der_len);
		ERR_clear_error();
	}
	return c->x509;
}

const char *m2m_cert_serial(const struct m2m_cert *cert)
{
	return cert->serial;
}

const char *m2m_cert_fingerprint(const struct m2m_cert *cert)
{
	return cert->fingerprint;
}

void m2m_name_text(const X509_NAME *name, char *out, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	if (size == 0)
		return;
	out[0] = '\0';
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0,
			       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		if (n > 0) {
			size_t k = (size_t)n < size - 1 ? (size_t)n : size - 1;

			memcpy(out, p, k);
			out[k] = '\0';
		}
	}
	BIO_free(bio);
}

void m2m_cert_subject(const struct m2m_cert *cert, char *out, size_t size)
{
	X509 *x = m2m_cert_x509(cert);

	if (x)
		m2m_name_text(X509_get_subject_name(x), out, size);
	else if (size)
		out[0] = '\0';
}

void m2m_cert_issuer(const struct m2m_cert *cert, char *out, size_t size)
{
	X509 *x = m2m_cert_x509(cert);

	if (x)
		m2m_name_text(X509_get_issuer_name(x), out, size);
	else if (size)
		out[0] = '\0';
}

int64_t m2m_asn1_time_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

void m2m_cert_validity(const struct m2m_cert *cert, int64_t *not_before,
		       int64_t *not_after)
{
	X509 *x = m2m_cert_x509(cert);

	*not_before = x ? m2m_asn1_time_epoch(X509_get0_notBefore(x)) : 0;
	*not_after = x ? m2m_asn1_time_epoch(X509_get0_notAfter(x)) : 0;
}

int m2m_cert_matches_key(const struct m2m_cert *cert,
			 const struct m2m_key *key)
{
	X509 *x = m2m_cert_x509(cert);
	unsigned char *a = NULL, *b = NULL;
	int na, nb, same;

	if (!x)
		return 0;
	/*
	 * By the DER of the SubjectPublicKeyInfo: a certificate issued here
	 * from a request carries its key only as those bytes.
	 */
	na = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &a);
	nb = i2d_PUBKEY(m2m_key_pkey(key), &b);
	same = na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
	OPENSSL_free(a);
	OPENSSL_free(b);
	ERR_clear_error();
	return same;
}

/*
 * PEM as PEM_write_bio() writes it without headers: the BEGIN line, the
 * base64 in lines of 64 characters, the END line.  Made here directly: a
 * memory BIO and PEM_write_bio() cost more than the rest of writing out a
 * certificate in a batch.
 */
enum m2m_err m2m_der_encode(struct m2m_ctx *ctx, const unsigned char *der,
			    size_t der_len, const char *pem_name,
			    enum m2m_format fmt, char **out, size_t *len)
{
	size_t name_len = strlen(pem_name), size, o = 0, i;
	char *p;

	*out = NULL;
	*len = 0;
	if (fmt == M2M_FORMAT_DER) {
		*out = malloc(der_len ? der_len : 1);
		if (!*out)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		memcpy(*out, der, der_len);
		*len = der_len;
		return M2M_OK;
	}
	if (der_len > INT_MAX || name_len > 256)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "cannot write PEM: too long");
	/* The two lines, 64 + '\n' for each 48 octets, and a NUL. */
	size = 2 * name_len + 32 + (der_len + 47) / 48 * 65 + 1;
	p = malloc(size);
	if (!p)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	o += (size_t)snprintf(p + o, size - o, "-----BEGIN %s-----\n",
			      pem_name);
	for (i = 0; i < der_len; i += 48) {
		size_t n = der_len - i < 48 ? der_len - i : 48;

		/* writes a NUL after the line, overwritten by its '\n' */
		o += (size_t)EVP_EncodeBlock((unsigned char *)p + o, der + i,
					     (int)n);
		p[o++] = '\n';
	}
	o += (size_t)snprintf(p + o, size - o, "-----END %s-----\n",
			      pem_name);
	*out = p;
	*len = o;
	return M2M_OK;
}

enum m2m_err m2m_cert_encode(struct m2m_ctx *ctx, const struct m2m_cert *cert,
			     enum m2m_format fmt, char **out, size_t *len)
{
	return m2m_der_encode(ctx, cert->der, cert->der_len, "CERTIFICATE",
			      fmt, out, len);
}

/* ---- requests ---------------------------------------------------------- */

void m2m_csr_free(struct m2m_csr *csr)
{
	if (!csr)
		return;
	X509_REQ_free(csr->req);
	free(csr->der);
	free(csr);
}

/* The full parser's checks: a key type we issue to, and its signature. */
static enum m2m_err csr_check(struct m2m_ctx *ctx, X509_REQ *req,
			      struct m2m_csr *c)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	enum m2m_err rc;

	if (!pub)
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "request holds no usable public key");
	rc = m2m_pkey_alg(ctx, pub, &c->alg);
	if (rc != M2M_OK)
		return m2m_error_prefix(ctx, "request");
	if (X509_REQ_verify_ex(req, pub, ctx->libctx, NULL) != 1)
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "request signature does not verify (no proof of possession)");
	return M2M_OK;
}

/* Wrap a request made here (its DER taken from *req). */
static enum m2m_err csr_wrap(struct m2m_ctx *ctx, X509_REQ **req,
			     struct m2m_csr **out)
{
	struct m2m_csr *c = NULL;
	unsigned char *p;
	enum m2m_err rc;
	int n;

	c = calloc(1, sizeof(*c));
	if (!c)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	n = i2d_X509_REQ(*req, NULL);
	if (n <= 0 || !(c->der = malloc((size_t)n))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "cannot encode the request");
		goto out;
	}
	p = c->der;
	c->der_len = (size_t)i2d_X509_REQ(*req, &p);
	rc = csr_check(ctx, *req, c);
	if (rc != M2M_OK)
		goto out;
	c->req = *req;
	*req = NULL;
	*out = c;
	c = NULL;
out:
	m2m_csr_free(c);
	ERR_clear_error();
	return rc;
}

/* DER contents of the OIDs the fast path knows. */
static const uint8_t oid_ec_public_key[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p256[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ecdsa_sha256[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };

static int oid_is(const uint8_t *p, size_t n, const uint8_t *oid, size_t len)
{
	return n == len && memcmp(p, oid, len) == 0;
}

/*
 * The subject is not used, but it must have the shape of a Name:
 *   SEQUENCE OF SET SIZE (1..MAX) OF SEQUENCE { OBJECT IDENTIFIER, ANY }
 * (the value's own syntax is the full parser's business).
 */
static int name_shape_ok(const uint8_t *p, size_t len)
{
	const uint8_t *set, *atv, *c;
	size_t o = 0, so, ao, setl, atvl, cl;

	while (o < len) {
		if (m2m_der_read(p, len, &o, 0x31, &set, &setl) < 0 ||
		    setl == 0)
			return 0;
		for (so = 0; so < setl;) {
			if (m2m_der_read(set, setl, &so, 0x30, &atv, &atvl) < 0)
				return 0;
			ao = 0;
			if (m2m_der_read(atv, atvl, &ao, 0x06, &c, &cl) < 0 ||
			    cl == 0 || ao >= atvl)
				return 0;
			/* one value of any tag (low tag numbers), and no more */
			if ((atv[ao] & 0x1f) == 0x1f ||
			    m2m_der_read(atv, atvl, &ao, atv[ao], &c, &cl) < 0 ||
			    ao != atvl)
				return 0;
		}
	}
	return 1;
}

/*
 * An EC P-256 or P-384 SubjectPublicKeyInfo with an uncompressed point:
 *   SEQUENCE { SEQUENCE { id-ecPublicKey, P-256 | P-384 }, BIT STRING }
 * with nothing after it: 1 with c's key fields set (pk_off counted from
 * base), else 0.
 */
static int spki_ec(const uint8_t *base, const uint8_t *der, size_t len,
		   struct m2m_csr *c)
{
	const uint8_t *spki, *alg, *oid, *curve, *pk;
	size_t off = 0, so = 0, ao = 0, spkil, algl, oidl, curvel, pkl;
	int p384;

	if (m2m_der_read(der, len, &off, 0x30, &spki, &spkil) < 0 ||
	    off != len ||
	    m2m_der_read(spki, spkil, &so, 0x30, &alg, &algl) < 0 ||
	    m2m_der_read(spki, spkil, &so, 0x03, &pk, &pkl) < 0 ||
	    so != spkil ||
	    m2m_der_read(alg, algl, &ao, 0x06, &oid, &oidl) < 0 ||
	    m2m_der_read(alg, algl, &ao, 0x06, &curve, &curvel) < 0 ||
	    ao != algl ||
	    !oid_is(oid, oidl, oid_ec_public_key, sizeof(oid_ec_public_key)))
		return 0;
	if (oid_is(curve, curvel, oid_p256, sizeof(oid_p256)))
		p384 = 0;
	else if (oid_is(curve, curvel, oid_p384, sizeof(oid_p384)))
		p384 = 1;
	else
		return 0;
	if (pkl != (p384 ? 98u : 66u) || pk[0] != 0 || pk[1] != 0x04)
		return 0;
	c->alg = p384 ? M2M_KEY_EC_P384 : M2M_KEY_EC_P256;
	c->curve_nid = p384 ? NID_secp384r1 : NID_X9_62_prime256v1;
	c->pk_off = (size_t)(pk + 1 - base);
	c->pk_len = pkl - 1;
	return 1;
}

/*
 * The fast path, for what factories send: returns 1 and sets *rc if it
 * handled c (its DER already in c->der): the request is
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE {
 *       version INTEGER (0), subject Name,
 *       subjectPKInfo SEQUENCE { SEQUENCE { id-ecPublicKey, P-256 | P-384 },
 *                                BIT STRING },
 *       attributes [0] {} },
 *     signatureAlgorithm SEQUENCE { ecdsa-with-SHA256 | -SHA384 },
 *     signature BIT STRING }
 * with nothing after it; *rc is M2M_OK if the signature verifies, else
 * M2M_ERR_INVALID.  Returns 0 for anything else: the full parser takes it.
 */
static int csr_fast(struct m2m_ctx *ctx, struct m2m_csr *c, enum m2m_err *rc)
{
	const uint8_t *der = c->der, *req, *cri, *ver, *name, *spki, *oid,
		      *attrs, *sigalg, *sig;
	size_t off = 0, reql, o = 0, cri_at, cril, n = 0, verl, namel, spkil,
	       spki_at, oidl, attrsl, sigalgl, go = 0, sigl;
	struct m2m_csr key;
	int p384, sha384, ok;

	if (m2m_der_read(der, c->der_len, &off, 0x30, &req, &reql) < 0 ||
	    off != c->der_len)
		return 0;
	cri_at = o;
	if (m2m_der_read(req, reql, &o, 0x30, &cri, &cril) < 0)
		return 0;
	if (m2m_der_read(cri, cril, &n, 0x02, &ver, &verl) < 0 || verl != 1 ||
	    ver[0] != 0)
		return 0;
	if (m2m_der_read(cri, cril, &n, 0x30, &name, &namel) < 0 ||
	    !name_shape_ok(name, namel))
		return 0;
	spki_at = n;
	if (m2m_der_read(cri, cril, &n, 0x30, &spki, &spkil) < 0 ||
	    m2m_der_read(cri, cril, &n, 0xa0, &attrs, &attrsl) < 0 ||
	    attrsl != 0 || n != cril)
		return 0;
	memset(&key, 0, sizeof(key));
	if (!spki_ec(der, cri + spki_at, (size_t)(spki + spkil - (cri + spki_at)),
		     &key))
		return 0;
	p384 = key.alg == M2M_KEY_EC_P384;
	if (m2m_der_read(req, reql, &o, 0x30, &sigalg, &sigalgl) < 0 ||
	    m2m_der_read(req, reql, &o, 0x03, &sig, &sigl) < 0 || o != reql ||
	    sigl < 2 || sig[0] != 0)
		return 0;
	if (m2m_der_read(sigalg, sigalgl, &go, 0x06, &oid, &oidl) < 0 ||
	    go != sigalgl)
		return 0;
	if (oid_is(oid, oidl, oid_ecdsa_sha256, sizeof(oid_ecdsa_sha256)))
		sha384 = 0;
	else if (oid_is(oid, oidl, oid_ecdsa_sha384, sizeof(oid_ecdsa_sha384)))
		sha384 = 1;
	else
		return 0;

	/*
	 * The signature covers the DER of certificationRequestInfo, under
	 * the key of the point (which is checked to be on the curve).
	 */
	ok = m2m_ctx_ec_verify(ctx, p384, der + key.pk_off, key.pk_len,
			       sha384 ? 384 : 256,
			       sig + 1, sigl - 1, req + cri_at,
			       (size_t)(cri + cril - (req + cri_at)));
	if (ok < 0)
		return 0;	/* the full parser words it */
	c->alg = key.alg;
	c->curve_nid = key.curve_nid;
	c->pk_off = key.pk_off;
	c->pk_len = key.pk_len;
	c->spki_off = (size_t)(cri + spki_at - der);
	c->spki_len = (size_t)(spki + spkil - (cri + spki_at));
	*rc = ok == 1 ? M2M_OK :
	      m2m_error_ossl(ctx, M2M_ERR_INVALID,
			     "request signature does not verify (no proof of possession)");
	ERR_clear_error();
	return 1;
}

/*
 * 1 if p[0..len) is a line of base64 as PEM has it: 4 to 64 characters, a
 * multiple of 4, '=' only as the last one or two; *pad is their number.
 */
static int b64_line(const uint8_t *p, size_t len, size_t *pad)
{
	size_t i;

	if (len < 4 || len > 64 || len % 4)
		return 0;
	*pad = p[len - 1] == '=' ? (p[len - 2] == '=' ? 2 : 1) : 0;
	for (i = 0; i < len - *pad; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '+' ||
		      p[i] == '/'))
			return 0;
	return 1;
}

/*
 * The DER of a request in PEM as OpenSSL and most tools write it: from the
 * first byte, a request's BEGIN line, lines of 64 base64 characters and a
 * shorter or padded last one, the matching END line.  Returns 1 with *der
 * (malloc()ed) and *der_len, 0 for anything else (headers, text before the
 * block, other line lengths: PEM_read_bio() reads those), -1 if out of
 * memory.  What it takes, PEM_read_bio() reads to the same bytes; it is
 * here because a memory BIO and PEM_read_bio() cost more than the rest of
 * reading a request.
 */
static int csr_pem_plain(const uint8_t *p, size_t len, unsigned char **der,
			 size_t *der_len)
{
	static const char *const labels[] = { "CERTIFICATE REQUEST",
					      "NEW CERTIFICATE REQUEST" };
	char begin[48], end[48];
	const uint8_t *nl;
	unsigned char *out;
	size_t o, n = 0, i, bl = 0, el = 0, ll, pad = 0;
	int last = 0, d;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]) && !el; i++) {
		bl = (size_t)snprintf(begin, sizeof(begin), "-----BEGIN %s-----",
				      labels[i]);
		if (len > bl && memcmp(p, begin, bl) == 0)
			el = (size_t)snprintf(end, sizeof(end),
					      "-----END %s-----", labels[i]);
	}
	if (!el)
		return 0;
	o = bl + (p[bl] == '\r');
	if (o >= len || p[o] != '\n')
		return 0;
	o++;
	out = malloc(len / 4 * 3 + 3);
	if (!out)
		return -1;
	for (;;) {
		nl = memchr(p + o, '\n', len - o);
		ll = (nl ? (size_t)(nl - p) : len) - o;
		if (ll && p[o + ll - 1] == '\r')
			ll--;
		if (ll == el && memcmp(p + o, end, el) == 0)
			break;
		/* A data line; after a short or padded one, only END. */
		if (last || !b64_line(p + o, ll, &pad))
			goto no;
		d = EVP_DecodeBlock(out + n, p + o, (int)ll);
		if (d < 0 || (size_t)d < pad)
			goto no;
		n += (size_t)d - pad;
		last = ll < 64 || pad;
		if (!nl)
			goto no;
		o = (size_t)(nl - p) + 1;
	}
	if (n == 0)
		goto no;
	*der = out;
	*der_len = n;
	return 1;
no:
	free(out);
	return 0;
}

/* The DER of a PEM request (the first block labelled as one). */
static enum m2m_err csr_pem(struct m2m_ctx *ctx, const void *buf, size_t len,
			    unsigned char **der, size_t *der_len)
{
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	enum m2m_err rc = M2M_ERR_INVALID;

	*der = NULL;
	while (bio && PEM_read_bio(bio, &name, &header, &data, &n) == 1) {
		if (strcmp(name, "CERTIFICATE REQUEST") == 0 ||
		    strcmp(name, "NEW CERTIFICATE REQUEST") == 0) {
			*der = malloc(n > 0 ? (size_t)n : 1);
			if (*der) {
				memcpy(*der, data, (size_t)n);
				*der_len = (size_t)n;
				rc = M2M_OK;
			} else {
				rc = M2M_ERR_NOMEM;
			}
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
		if (rc != M2M_ERR_INVALID)
			break;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (rc == M2M_ERR_NOMEM)
		return m2m_error(ctx, rc, "out of memory");
	if (rc != M2M_OK)
		return m2m_error(ctx, rc, "not a PEM certificate request");
	return M2M_OK;
}

enum m2m_err m2m_csr_parse(struct m2m_ctx *ctx, const void *buf, size_t len,
			   struct m2m_csr **out)
{
	struct m2m_csr *c = NULL;
	X509_REQ *req = NULL;
	const unsigned char *p;
	enum m2m_err rc = M2M_OK;

	*out = NULL;
	if (len > M2M_CERT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "request is larger than %d bytes",
				 M2M_CERT_MAX);
	c = calloc(1, sizeof(*c));
	if (!c)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (looks_pem(buf, len)) {
		switch (csr_pem_plain(buf, len, &c->der, &c->der_len)) {
		case 1:
			break;
		case 0:
			rc = csr_pem(ctx, buf, len, &c->der, &c->der_len);
			break;
		default:
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
			break;
		}
	} else {
		c->der = malloc(len ? len : 1);
		if (c->der) {
			memcpy(c->der, buf, len);
			c->der_len = len;
		} else {
			rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		}
	}
	if (rc != M2M_OK)
		goto out;
	if (csr_fast(ctx, c, &rc)) {
		if (rc == M2M_OK) {
			*out = c;
			c = NULL;
		}
		goto out;
	}
	/* Everything else: the full parser. */
	p = c->der;
	req = X509_REQ_new_ex(ctx->libctx, NULL);
	if (!req || !d2i_X509_REQ(&req, &p, (long)c->der_len)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
				    "not a %s certificate request",
				    looks_pem(buf, len) ? "PEM" : "DER");
		goto out;
	}
	if (p != c->der + c->der_len) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "%zu bytes of garbage after the request",
			       (size_t)(c->der + c->der_len - p));
		goto out;
	}
	rc = csr_check(ctx, req, c);
	if (rc != M2M_OK)
		goto out;
	c->req = req;
	req = NULL;
	*out = c;
	c = NULL;
out:
	X509_REQ_free(req);
	m2m_csr_free(c);
	ERR_clear_error();
	return rc;
}

enum m2m_key_alg m2m_csr_key_alg(const struct m2m_csr *csr)
{
	return csr->alg;
}

/* The fast path keeps no X509_REQ: make one when it is asked for. */
static X509_REQ *csr_req(const struct m2m_csr *csr)
{
	const unsigned char *p = csr->der;

	return d2i_X509_REQ(NULL, &p, (long)csr->der_len);
}

void m2m_csr_subject(const struct m2m_csr *csr, char *out, size_t size)
{
	X509_REQ *req = csr->req ? csr->req : csr_req(csr);

	if (size)
		out[0] = '\0';
	if (req)
		m2m_name_text(X509_REQ_get_subject_name(req), out, size);
	if (req != csr->req)
		X509_REQ_free(req);
	ERR_clear_error();
}

STACK_OF(X509_EXTENSION) *m2m_csr_extensions(const struct m2m_csr *csr)
{
	/* The fast path took only requests without attributes. */
	return csr->req ? X509_REQ_get_extensions(csr->req) : NULL;
}

int m2m_csr_spki(const struct m2m_csr *csr, const uint8_t **der,
		 size_t *len, unsigned char **owned)
{
	int n;

	*owned = NULL;
	if (!csr->req) {
		*der = csr->der + csr->spki_off;
		*len = csr->spki_len;
		return 1;
	}
	n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr->req), owned);
	if (n <= 0) {
		*owned = NULL;
		return 0;
	}
	*der = *owned;
	*len = (size_t)n;
	return 1;
}

enum m2m_err m2m_csr_from_spki(struct m2m_ctx *ctx, X509_PUBKEY *pub,
			       const STACK_OF(X509_EXTENSION) *exts,
			       struct m2m_csr **out)
{
	struct m2m_csr *c = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pkey = X509_PUBKEY_get0(pub);
	unsigned char *der = NULL;
	enum m2m_err rc;
	int n;

	*out = NULL;
	if (!pkey)
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "request holds no usable public key");
	c = calloc(1, sizeof(*c));
	if (!c)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	rc = m2m_pkey_alg(ctx, pkey, &c->alg);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "request");
		goto out;
	}
	if (sk_X509_EXTENSION_num(exts) <= 0) {
		/* The key as it came: no re-encoding, no X509_REQ. */
		n = i2d_X509_PUBKEY(pub, &der);
		if (n <= 0 || !(c->der = malloc((size_t)n))) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "cannot encode the request's key");
			goto out;
		}
		memcpy(c->der, der, (size_t)n);
		c->der_len = c->spki_len = (size_t)n;
		c->spki_off = 0;
		goto done;
	}
	req = X509_REQ_new_ex(ctx->libctx, NULL);
	if (!req || !X509_REQ_set_pubkey(req, pkey)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot hold the request's key");
		goto out;
	}
	if (!X509_REQ_add_extensions(req, (STACK_OF(X509_EXTENSION) *)exts)) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot hold the request's extensions");
		goto out;
	}
	c->req = req;
	req = NULL;
done:
	*out = c;
	c = NULL;
	rc = M2M_OK;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	m2m_csr_free(c);
	ERR_clear_error();
	return rc;
}

enum m2m_err m2m_csr_from_spki_der(struct m2m_ctx *ctx, const uint8_t *der,
				   size_t len,
				   const STACK_OF(X509_EXTENSION) *exts,
				   struct m2m_csr **out)
{
	struct m2m_csr *c;
	X509_PUBKEY *pub;
	const unsigned char *p = der;
	enum m2m_err rc;

	*out = NULL;
	if (sk_X509_EXTENSION_num(exts) <= 0) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		if (spki_ec(der, der, len, c)) {
			c->der = malloc(len);
			if (!c->der) {
				m2m_csr_free(c);
				return m2m_error(ctx, M2M_ERR_NOMEM,
						 "out of memory");
			}
			memcpy(c->der, der, len);
			c->der_len = c->spki_len = len;
			*out = c;
			return M2M_OK;
		}
		m2m_csr_free(c);
	}
	pub = d2i_X509_PUBKEY(NULL, &p, (long)len);
	if (!pub || p != der + len) {
		X509_PUBKEY_free(pub);
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "the request's public key is malformed");
	}
	rc = m2m_csr_from_spki(ctx, pub, exts, out);
	X509_PUBKEY_free(pub);
	return rc;
}

const char *m2m_sign_digest(enum m2m_key_alg alg)
{
	switch (alg) {
	case M2M_KEY_EC_P384:
		return "SHA384";
	case M2M_KEY_ED25519:
		return NULL;
	default:
		return "SHA256";
	}
}

enum m2m_err m2m_csr_make(struct m2m_ctx *ctx, const struct m2m_key *key,
			  const char *subject, struct m2m_csr **out)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	EVP_MD_CTX *mctx = NULL;
	enum m2m_err rc;

	*out = NULL;
	req = X509_REQ_new_ex(ctx->libctx, NULL);
	if (!req) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (subject && *subject) {
		rc = m2m_name_parse(ctx, subject, &name);
		if (rc != M2M_OK)
			goto out;
		if (!X509_REQ_set_subject_name(req, name)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
					    "cannot set the subject");
			goto out;
		}
	}
	rc = m2m_sign_ctx_new(ctx, m2m_key_pkey(key), m2m_key_get_alg(key),
			      &mctx);
	if (rc != M2M_OK)
		goto out;
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_pubkey(req, m2m_key_pkey(key)) ||
	    X509_REQ_sign_ctx(req, mctx) <= 0) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot sign the request with '%s'",
				    m2m_key_uri(key));
		goto out;
	}
	rc = csr_wrap(ctx, &req, out);
out:
	EVP_MD_CTX_free(mctx);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

enum m2m_err m2m_csr_encode(struct m2m_ctx *ctx, const struct m2m_csr *csr,
			    enum m2m_format fmt, char **out, size_t *len)
{
	return m2m_der_encode(ctx, csr->der, csr->der_len,
			      "CERTIFICATE REQUEST", fmt, out, len);
}

enum m2m_err m2m_sign_ctx_new(struct m2m_ctx *ctx, EVP_PKEY *pkey,
			      enum m2m_key_alg alg, EVP_MD_CTX **out)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();

	*out = NULL;
	if (!mctx || EVP_DigestSignInit_ex(mctx, NULL, m2m_sign_digest(alg),
					   ctx->libctx, m2m_extkey_propq(pkey),
					   pkey, NULL) != 1) {
		EVP_MD_CTX_free(mctx);
		return m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				      "cannot start signing with an %s key",
				      m2m_key_alg_name(alg));
	}
	*out = mctx;
	return M2M_OK;
}

static const char *const dn_attrs[] = {
	"C", "ST", "L", "O", "OU", "CN", "DC", "serialNumber",
};

enum m2m_err m2m_name_parse(struct m2m_ctx *ctx, const char *text,
			    X509_NAME **out)
{
	X509_NAME *name = NULL;
	char val[M2M_DN_MAX], attr[16], q[M2M_QUOTE_MAX];
	const char *s = text;
	enum m2m_err rc;
	size_t i;

	*out = NULL;
	if (strlen(text) >= M2M_DN_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "distinguished name is longer than %d bytes",
				 M2M_DN_MAX - 1);
	name = X509_NAME_new();
	if (!name)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	while (*s) {
		size_t a = 0, v = 0;
		int known = 0;

		while (*s == ' ')
			s++;
		while (*s && *s != '=' && a + 1 < sizeof(attr))
			attr[a++] = *s++;
		while (a && attr[a - 1] == ' ')
			a--;
		attr[a] = '\0';
		if (*s != '=' || a == 0) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "'%s' is not ATTR=value,...",
				       m2m_quote(q, text, strlen(text)));
			goto out;
		}
		for (i = 0; i < sizeof(dn_attrs) / sizeof(dn_attrs[0]); i++)
			known |= strcmp(attr, dn_attrs[i]) == 0;
		if (!known) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "unknown attribute '%s' (C, ST, L, O, OU, CN, DC, serialNumber)",
				       m2m_quote(q, attr, a));
			goto out;
		}
		for (s++; *s == ' '; s++)
			;
		while (*s && *s != ',') {
			if (*s == '\\' && s[1])
				s++;
			val[v++] = *s++;
		}
		while (v && val[v - 1] == ' ' && (v < 2 || val[v - 2] != '\\'))
			v--;
		val[v] = '\0';
		if (v == 0) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "attribute %s has an empty value", attr);
			goto out;
		}
		if (!X509_NAME_add_entry_by_txt(name, attr, MBSTRING_UTF8,
						(unsigned char *)val, (int)v,
						-1, 0)) {
			rc = m2m_error_ossl(ctx, M2M_ERR_INVALID,
					    "%s='%s' is not a valid value", attr,
					    m2m_quote(q, val, v));
			goto out;
		}
		if (*s == ',')
			s++;
	}
	if (X509_NAME_entry_count(name) == 0) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "empty distinguished name");
		goto out;
	}
	*out = name;
	name = NULL;
	rc = M2M_OK;
out:
	X509_NAME_free(name);
	return rc;
}

enum m2m_err m2m_pkcs12_make(struct m2m_ctx *ctx, const struct m2m_key *key,
			     const struct m2m_cert *cert, const char *chain_pem,
			     const char *pass_source, unsigned char **der,
			     size_t *len)
{
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	BIO *bio = NULL;
	X509 *x;
	char pass[1024];
	unsigned char *p;
	enum m2m_err rc;
	int n;

	*der = NULL;
	*len = 0;
	rc = m2m_secret_read(ctx, pass_source, pass, sizeof(pass), NULL);
	if (rc != M2M_OK)
		return rc;
	chain = sk_X509_new_null();
	if (!chain) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (chain_pem && *chain_pem) {
		bio = BIO_new_mem_buf(chain_pem, -1);
		while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			if (!sk_X509_push(chain, x)) {
				X509_free(x);
				rc = m2m_error(ctx, M2M_ERR_NOMEM,
					       "out of memory");
				goto out;
			}
		}
		ERR_clear_error();
	}
	x = m2m_cert_x509(cert);
	if (!x) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	p12 = PKCS12_create_ex(pass, NULL, m2m_key_pkey(key), x, chain,
			       NID_aes_256_cbc, NID_aes_256_cbc, 0, 0, 0,
			       ctx->libctx, NULL);
	n = p12 ? i2d_PKCS12(p12, NULL) : -1;
	if (n <= 0 || !(*der = malloc((size_t)n))) {
		rc = m2m_error_ossl(ctx, M2M_ERR_CRYPTO,
				    "cannot make the PKCS#12 file");
		goto out;
	}
	p = *der;
	*len = (size_t)i2d_PKCS12(p12, &p);
	rc = M2M_OK;
out:
	m2m_secret_wipe(pass, sizeof(pass));
	PKCS12_free(p12);
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
