/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/cert.h: certificates made with libcrypto
 * parsed as PEM and DER (and everything that is not one, or is too
 * large), the accessors against what libcrypto says, encoding round
 * trips, PKCS#10 requests parsed (PEM, old PEM label, DER), refused
 * (broken signature, weak key) and made, key matching, and PKCS#12 files
 * opened again with libcrypto.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/cert.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "../../lib/cert_internal.h"
#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-cert-XXXXXX";

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

#define NB	1700000000	/* notBefore of the fixtures */
#define NA	1800000000	/* notAfter */
#define Y9999	253402300799	/* 99991231235959Z */

/* Fixtures, made once in main(). */
static EVP_PKEY *ca_pk, *leaf_pk;
static X509 *ca_x, *leaf_x;
static unsigned char *ca_der, *leaf_der;
static int ca_der_len, leaf_der_len;
static struct m2m_key *ca_key, *leaf_key;

/* ---- helpers ------------------------------------------------------------ */

static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

/* Add "ATTR=value" pairs (a NULL-terminated list) to a new name. */
static X509_NAME *name_of(const char *const *attrs)
{
	X509_NAME *n = X509_NAME_new();

	for (; n && attrs[0]; attrs += 2)
		if (!X509_NAME_add_entry_by_txt(n, attrs[0], MBSTRING_UTF8,
						(const unsigned char *)attrs[1],
						-1, -1, 0)) {
			X509_NAME_free(n);
			return NULL;
		}
	return n;
}

/*
 * A certificate for pub named subject, with serial (big-endian octets),
 * signed by sign_pk as issuer (NULL: self-signed), valid nb..na (na 0:
 * 99991231235959Z).
 */
static X509 *make_cert(const char *const *subject, const unsigned char *serial,
		       size_t serial_len, EVP_PKEY *pub, X509 *issuer,
		       EVP_PKEY *sign_pk, int64_t nb, int64_t na)
{
	X509 *x = X509_new();
	X509_NAME *n = name_of(subject);
	BIGNUM *bn = BN_bin2bn(serial, (int)serial_len, NULL);
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	int ok;

	ok = x && n && bn && X509_set_version(x, X509_VERSION_3) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_set_subject_name(x, n) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) &&
	     (na ? ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) != NULL :
	      ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z")) &&
	     X509_set_pubkey(x, pub);
	if (ok) {
		X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
					  issuer ? "critical,CA:FALSE" :
					  "critical,CA:TRUE");
		ok = ext && X509_add_ext(x, ext, -1);
	}
	ok = ok && X509_sign(x, sign_pk, EVP_sha256()) > 0;
	X509_EXTENSION_free(ext);
	BN_free(bn);
	X509_NAME_free(n);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* PEM of x into a malloc()ed string. */
static char *pem_of_x509(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (bio && PEM_write_bio_X509(bio, x) == 1) {
		n = BIO_get_mem_data(bio, &p);
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

/* Write pkey to dir/name (PKCS#8 PEM) and load it as an m2m key. */
static struct m2m_key *key_file(const char *name, EVP_PKEY *pkey)
{
	char path[PATH_MAX];
	struct m2m_key *key = NULL;
	FILE *f = fopen(tmp_path(path, name), "w");

	if (!f)
		return NULL;
	if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (m2m_key_load(ctx, path, NULL, &key) != M2M_OK)
		printf("# cannot load %s: %s\n", path, m2m_ctx_detail(ctx));
	return key;
}

/* A request for pub with subject, signed by sign_pk with md (may be NULL). */
static X509_REQ *make_req(const char *const *subject, EVP_PKEY *pub,
			  EVP_PKEY *sign_pk, const EVP_MD *md)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = name_of(subject);
	int ok = r && n && X509_REQ_set_version(r, 0) &&
		 X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, pub) &&
		 X509_REQ_sign(r, sign_pk, md) > 0;

	X509_NAME_free(n);
	if (!ok) {
		X509_REQ_free(r);
		return NULL;
	}
	return r;
}

/* DER of a request into a malloc()ed buffer. */
static unsigned char *req_der(X509_REQ *r, size_t *len)
{
	unsigned char *der = NULL, *out = NULL;
	int n = r ? i2d_X509_REQ(r, &der) : -1;

	*len = 0;
	if (n > 0 && (out = malloc((size_t)n))) {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	return out;
}

/* PEM of a request (new: the "NEW CERTIFICATE REQUEST" label). */
static char *req_pem(X509_REQ *r, int new_label)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (bio && (new_label ? PEM_write_bio_X509_REQ_NEW(bio, r) :
		    PEM_write_bio_X509_REQ(bio, r)) == 1) {
		n = BIO_get_mem_data(bio, &p);
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* ---- certificates ------------------------------------------------------------ */

UNIT_TEST(parse_der_and_accessors)
{
	struct m2m_cert *c = NULL;
	unsigned char md[32];
	char want_fp[65], text[256];
	const uint8_t *der;
	size_t len = 0;
	int64_t nb = 0, na = 0;

	CHECK_OK(m2m_cert_parse(ctx, ca_der, (size_t)ca_der_len, &c));
	if (!CHECK(c))
		return;
	der = m2m_cert_der(c, &len);
	if (CHECK_EQ_INT(len, ca_der_len))
		CHECK_EQ_MEM(der, ca_der, len);
	CHECK_EQ_STR(m2m_cert_serial(c), "0102030405");
	m2m_cert_subject(c, text, sizeof(text));
	CHECK_EQ_STR(text, "CN=Test CA,O=Example Ltd,C=DE");
	m2m_cert_issuer(c, text, sizeof(text));
	CHECK_EQ_STR(text, "CN=Test CA,O=Example Ltd,C=DE");
	SHA256(ca_der, (size_t)ca_der_len, md);
	hex(md, sizeof(md), want_fp);
	CHECK_EQ_STR(m2m_cert_fingerprint(c), want_fp);
	CHECK_EQ_INT(strlen(m2m_cert_fingerprint(c)), M2M_FINGERPRINT_HEX - 1);
	m2m_cert_validity(c, &nb, &na);
	CHECK_EQ_INT(nb, NB);
	CHECK_EQ_INT(na, NA);
	CHECK(m2m_cert_matches_key(c, ca_key));
	CHECK(!m2m_cert_matches_key(c, leaf_key));
	m2m_cert_free(c);
	m2m_cert_free(NULL);
}

UNIT_TEST(parse_pem_same_as_der)
{
	struct m2m_cert *c = NULL, *d = NULL;
	char *pem = pem_of_x509(ca_x), *noisy = NULL;
	const uint8_t *der;
	size_t len;

	if (!CHECK(pem))
		return;
	CHECK_OK(m2m_cert_parse(ctx, pem, strlen(pem), &c));
	if (c) {
		der = m2m_cert_der(c, &len);
		CHECK(len == (size_t)ca_der_len && memcmp(der, ca_der, len) == 0);
		CHECK_EQ_STR(m2m_cert_serial(c), "0102030405");
	}
	/* text before the PEM block, as openssl's tools write it */
	noisy = malloc(strlen(pem) + 64);
	if (noisy) {
		sprintf(noisy, "subject=CN = Test CA\n\n%s", pem);
		CHECK_OK(m2m_cert_parse(ctx, noisy, strlen(noisy), &d));
		CHECK(c && d && strcmp(m2m_cert_fingerprint(c),
				       m2m_cert_fingerprint(d)) == 0);
	}
	free(noisy);
	free(pem);
	m2m_cert_free(c);
	m2m_cert_free(d);
}

UNIT_TEST(issued_certificate_accessors_and_serials)
{
	static const char *const subj[] = { "O", "Acme", "CN", "leaf 1", NULL };
	static const unsigned char s80[] = { 0x80 };
	static const unsigned char sff01[] = { 0xff, 0x01 };
	static const unsigned char s7f[] = { 0x7f };
	static const unsigned char s20[20] = {
		0x7e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
		18, 19
	};
	static const struct {
		const unsigned char *sn;
		size_t len;
		const char *hex;
	} serials[] = {
		{ s80, 1, "0080" },
		{ sff01, 2, "00ff01" },
		{ s7f, 1, "7f" },
		{ s20, 20, "7e0102030405060708090a0b0c0d0e0f10111213" },
	};
	struct m2m_cert *c = NULL;
	char text[256];
	unsigned char *der = NULL;
	int64_t nb, na;
	size_t i;
	int n;

	CHECK_OK(m2m_cert_parse(ctx, leaf_der, (size_t)leaf_der_len, &c));
	if (c) {
		m2m_cert_subject(c, text, sizeof(text));
		CHECK_EQ_STR(text, "CN=leaf 1,O=Acme");
		m2m_cert_issuer(c, text, sizeof(text));
		CHECK_EQ_STR(text, "CN=Test CA,O=Example Ltd,C=DE");
		m2m_cert_validity(c, &nb, &na);
		CHECK_EQ_INT(nb, NB);
		CHECK_EQ_INT(na, Y9999);
		CHECK(m2m_cert_matches_key(c, leaf_key));
		CHECK(!m2m_cert_matches_key(c, ca_key));
		/* truncation keeps a terminated prefix */
		m2m_cert_subject(c, text, 8);
		CHECK_EQ_STR(text, "CN=leaf");
		m2m_cert_issuer(c, text, 1);
		CHECK_EQ_STR(text, "");
	}
	m2m_cert_free(c);

	/* serial: the DER INTEGER's content octets, with the sign octet */
	for (i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
		X509 *x = make_cert(subj, serials[i].sn, serials[i].len,
				    leaf_pk, ca_x, ca_pk, NB, NA);

		c = NULL;
		der = NULL;
		n = x ? i2d_X509(x, &der) : -1;
		if (CHECK(n > 0))
			CHECK_OK(m2m_cert_parse(ctx, der, (size_t)n, &c));
		if (c)
			CHECK_EQ_STR(m2m_cert_serial(c), serials[i].hex);
		m2m_cert_free(c);
		OPENSSL_free(der);
		X509_free(x);
	}
}

UNIT_TEST(parse_rejects_what_is_not_one_certificate)
{
	static const char bad_pem[] =
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	struct m2m_cert *c = NULL;
	unsigned char *buf = malloc(M2M_CERT_MAX + 2);
	X509_REQ *r;
	char *pem;

	if (!CHECK(buf))
		return;
	CHECK_FAILS(m2m_cert_parse(ctx, "hello, world", 12, &c),
		    M2M_ERR_INVALID, "not a DER certificate");
	CHECK(c == NULL);
	CHECK_FAILS(m2m_cert_parse(ctx, "", 0, &c), M2M_ERR_INVALID,
		    "not a DER certificate");
	/* truncated DER, by one octet and by half */
	CHECK_FAILS(m2m_cert_parse(ctx, ca_der, (size_t)ca_der_len - 1, &c),
		    M2M_ERR_INVALID, "not a DER certificate");
	CHECK_FAILS(m2m_cert_parse(ctx, ca_der, (size_t)ca_der_len / 2, &c),
		    M2M_ERR_INVALID, "not a DER certificate");
	/* DER with bytes after it */
	memcpy(buf, ca_der, (size_t)ca_der_len);
	buf[ca_der_len] = 0x00;
	buf[ca_der_len + 1] = 0x0a;
	CHECK_FAILS(m2m_cert_parse(ctx, buf, (size_t)ca_der_len + 2, &c),
		    M2M_ERR_INVALID, "2 bytes of garbage after the certificate");
	CHECK(c == NULL);
	/* two certificates in a row are not one */
	memcpy(buf + ca_der_len, ca_der, (size_t)ca_der_len);
	CHECK_FAILS(m2m_cert_parse(ctx, buf, 2 * (size_t)ca_der_len, &c),
		    M2M_ERR_INVALID, "garbage after");
	/* PEM that is not a certificate */
	CHECK_FAILS(m2m_cert_parse(ctx, bad_pem, strlen(bad_pem), &c),
		    M2M_ERR_INVALID, "not a PEM certificate");
	r = make_req((const char *const[]){ "CN", "x", NULL }, leaf_pk, leaf_pk,
		     EVP_sha256());
	pem = r ? req_pem(r, 0) : NULL;
	if (CHECK(pem))
		CHECK_FAILS(m2m_cert_parse(ctx, pem, strlen(pem), &c),
			    M2M_ERR_INVALID, "not a PEM certificate");
	free(pem);
	X509_REQ_free(r);
	/* larger than 64 KiB: refused before looking at it */
	memset(buf, 0, M2M_CERT_MAX + 2);
	memcpy(buf, ca_der, (size_t)ca_der_len);
	CHECK_FAILS(m2m_cert_parse(ctx, buf, M2M_CERT_MAX + 1, &c),
		    M2M_ERR_INVALID, "larger than 65536 bytes");
	CHECK(c == NULL);
	free(buf);
}

UNIT_TEST(load_file)
{
	char path[PATH_MAX];
	struct m2m_cert *c = NULL;
	FILE *f;

	f = fopen(tmp_path(path, "ca.der"), "wb");
	CHECK(f && fwrite(ca_der, 1, (size_t)ca_der_len, f) ==
	      (size_t)ca_der_len);
	if (f)
		fclose(f);
	CHECK_OK(m2m_cert_load_file(ctx, path, &c));
	CHECK(c && strcmp(m2m_cert_serial(c), "0102030405") == 0);
	m2m_cert_free(c);
	c = NULL;
	CHECK_FAILS(m2m_cert_load_file(ctx, tmp_path(path, "none.pem"), &c),
		    M2M_ERR_NOT_FOUND, "none.pem");
	f = fopen(tmp_path(path, "junk.pem"), "w");
	if (f) {
		fputs("junk\n", f);
		fclose(f);
	}
	CHECK_FAILS(m2m_cert_load_file(ctx, path, &c), M2M_ERR_INVALID,
		    "junk.pem");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "not a DER certificate");
	CHECK(c == NULL);
	unlink(path);
	unlink(tmp_path(path, "ca.der"));
}

UNIT_TEST(encode_pem_and_der_round_trip)
{
	struct m2m_cert *c = NULL, *back = NULL;
	char *out = NULL, *want = pem_of_x509(leaf_x);
	size_t len = 0, blen;
	const uint8_t *bder;

	CHECK_OK(m2m_cert_parse(ctx, leaf_der, (size_t)leaf_der_len, &c));
	if (!c) {
		free(want);
		return;
	}
	CHECK_OK(m2m_cert_encode(ctx, c, M2M_FORMAT_DER, &out, &len));
	if (CHECK_EQ_INT(len, leaf_der_len))
		CHECK_EQ_MEM(out, leaf_der, len);
	free(out);
	out = NULL;
	CHECK_OK(m2m_cert_encode(ctx, c, M2M_FORMAT_PEM, &out, &len));
	CHECK_EQ_STR(out, want);
	CHECK(out && len == strlen(out));
	if (out)
		CHECK_OK(m2m_cert_parse(ctx, out, len, &back));
	if (back) {
		bder = m2m_cert_der(back, &blen);
		CHECK(blen == (size_t)leaf_der_len &&
		      memcmp(bder, leaf_der, blen) == 0);
		CHECK_EQ_STR(m2m_cert_fingerprint(back), m2m_cert_fingerprint(c));
	}
	free(out);
	free(want);
	m2m_cert_free(back);
	m2m_cert_free(c);
}

/* PEM as PEM_write_bio() writes it, for every length of the last line. */
UNIT_TEST(pem_encoding_as_openssl_writes_it)
{
	static const size_t lens[] = { 1, 2, 3, 47, 48, 49, 95, 96, 97,
				       700, 1000 };
	unsigned char der[1000];
	size_t i, k, len = 0;

	for (k = 0; k < sizeof(der); k++)
		der[k] = (unsigned char)(k * 7 + 3);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *want = NULL, *got = NULL;
		long n = 0;

		if (!CHECK(bio && PEM_write_bio(bio, "X509 CRL", "", der,
						(long)lens[i]) > 0)) {
			BIO_free(bio);
			continue;
		}
		n = BIO_get_mem_data(bio, &want);
		CHECK_OK(m2m_der_encode(ctx, der, lens[i], "X509 CRL",
					M2M_FORMAT_PEM, &got, &len));
		if (CHECK_MSG(got && len == (size_t)n,
			      "length %zu: %zu bytes of PEM, not %ld", lens[i],
			      len, n)) {
			CHECK_EQ_MEM(got, want, len);
			CHECK_EQ_INT(got[len], 0);
		}
		free(got);
		BIO_free(bio);
	}
}

/* ---- requests ------------------------------------------------------------------ */

UNIT_TEST(csr_parse_pem_new_pem_and_der)
{
	static const char *const subj[] = { "O", "Acme", "CN", "dev1", NULL };
	X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
	struct m2m_csr *csr = NULL;
	unsigned char *der;
	char *pem, *pem_new, *out = NULL, text[128];
	size_t len = 0, olen = 0;

	if (!CHECK(r))
		return;
	der = req_der(r, &len);
	pem = req_pem(r, 0);
	pem_new = req_pem(r, 1);
	CHECK(pem && strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
	CHECK(pem_new && strncmp(pem_new, "-----BEGIN NEW CERTIFICATE REQUEST-----",
				 39) == 0);

	CHECK_OK(m2m_csr_parse(ctx, der, len, &csr));
	if (csr) {
		CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P256);
		m2m_csr_subject(csr, text, sizeof(text));
		CHECK_EQ_STR(text, "CN=dev1,O=Acme");
		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &out, &olen));
		if (CHECK_EQ_INT(olen, len))
			CHECK_EQ_MEM(out, der, len);
		free(out);
		out = NULL;
		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_PEM, &out, &olen));
		CHECK_EQ_STR(out, pem);
		free(out);
		out = NULL;
	}
	m2m_csr_free(csr);
	csr = NULL;
	if (pem)
		CHECK_OK(m2m_csr_parse(ctx, pem, strlen(pem), &csr));
	if (csr) {
		m2m_csr_subject(csr, text, sizeof(text));
		CHECK_EQ_STR(text, "CN=dev1,O=Acme");
		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &out, &olen));
		CHECK(out && olen == len && memcmp(out, der, len) == 0);
		free(out);
		out = NULL;
	}
	m2m_csr_free(csr);
	csr = NULL;
	if (pem_new)
		CHECK_OK(m2m_csr_parse(ctx, pem_new, strlen(pem_new), &csr));
	if (csr) {
		CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P256);
		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &out, &olen));
		CHECK(out && olen == len && memcmp(out, der, len) == 0);
		free(out);
	}
	m2m_csr_free(csr);
	m2m_csr_free(NULL);
	free(der);
	free(pem);
	free(pem_new);
	X509_REQ_free(r);
}

/* pem with every "\n" made "\r\n", or its base64 in lines of 76. */
static char *pem_variant(const char *pem, int crlf)
{
	size_t len = strlen(pem), i, o = 0, col = 0;
	char *out = malloc(2 * len + 1);
	const char *body = strchr(pem, '\n'), *end = strstr(pem, "-----END");

	if (!out || !body || !end)
		goto fail;
	if (crlf) {
		for (i = 0; i < len; i++) {
			if (pem[i] == '\n')
				out[o++] = '\r';
			out[o++] = pem[i];
		}
	} else {
		memcpy(out, pem, (size_t)(body + 1 - pem));
		o = (size_t)(body + 1 - pem);
		for (i = o; pem + i < end; i++) {
			if (pem[i] == '\n')
				continue;
			out[o++] = pem[i];
			if (++col == 76) {
				out[o++] = '\n';
				col = 0;
			}
		}
		if (col)
			out[o++] = '\n';
		memcpy(out + o, end, strlen(end));
		o += strlen(end);
	}
	out[o] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/*
 * PEM read without a BIO when it is laid out as OpenSSL writes it (every
 * length of the last line), and by PEM_read_bio() when it is not: the
 * same DER either way.
 */
UNIT_TEST(csr_pem_layouts)
{
	static const char name[] = "abcdefghijklmnop";
	const char *subj[] = { "CN", NULL, NULL };
	char cn[sizeof(name)], *pem, *alt, *out = NULL;
	struct m2m_csr *csr;
	unsigned char *der;
	size_t k, len = 0, olen = 0;
	int v;

	for (k = 1; k < sizeof(name); k++) {
		X509_REQ *r;

		memcpy(cn, name, k);
		cn[k] = '\0';
		subj[1] = cn;
		r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
		der = req_der(r, &len);
		pem = req_pem(r, k % 2);
		for (v = 0; v < 3 && der && pem; v++) {
			alt = v ? pem_variant(pem, v == 1) : NULL;
			csr = NULL;
			m2m_ctx_clear_error(ctx);
			CHECK_MSG(m2m_csr_parse(ctx, v ? alt : pem,
						strlen(v ? alt : pem), &csr) ==
				  M2M_OK, "CN of %zu, layout %d: %s", k, v,
				  m2m_ctx_detail(ctx));
			if (csr && m2m_csr_encode(ctx, csr, M2M_FORMAT_DER,
						  &out, &olen) == M2M_OK)
				CHECK_MSG(olen == len && !memcmp(out, der, len),
					  "CN of %zu, layout %d: other DER", k,
					  v);
			free(out);
			out = NULL;
			m2m_csr_free(csr);
			free(alt);
		}
		CHECK(der && pem);
		free(pem);
		free(der);
		X509_REQ_free(r);
	}
}

/* Broken PEM is refused as before, whichever reader looks at it. */
UNIT_TEST(csr_pem_broken)
{
	static const char *const subj[] = { "CN", "broken", NULL };
	static const struct {
		const char *at;		/* where the change goes */
		size_t skip;		/* octets after that */
		const char *put;	/* "" cuts the PEM there */
		const char *error;
	} cases[] = {
		/* not base64, in the first line */
		{ "\n", 6, "*", "not a PEM certificate request" },
		/* no END line, or one of another label */
		{ "-----END", 0, "", "not a PEM certificate request" },
		{ "-----END", 0, "-----END CERTIFICATE-----\n",
		  "not a PEM certificate request" },
	};
	X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
	struct m2m_csr *csr;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *pem = req_pem(r, 0), *at = pem ? strstr(pem, cases[i].at) :
						   NULL;

		if (!CHECK_MSG(at, "case %zu: no '%s' in the PEM", i,
			       cases[i].at)) {
			free(pem);
			continue;
		}
		at += cases[i].skip;
		if (cases[i].put[0])
			memcpy(at, cases[i].put, strlen(cases[i].put));
		else
			*at = '\0';
		csr = NULL;
		m2m_ctx_clear_error(ctx);
		CHECK_MSG(m2m_csr_parse(ctx, pem, strlen(pem), &csr) ==
			  M2M_ERR_INVALID, "case %zu was read", i);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), cases[i].error);
		CHECK(csr == NULL);
		m2m_csr_free(csr);
		free(pem);
	}
	X509_REQ_free(r);
}

/* Padding made characters: octets after the request, as before. */
UNIT_TEST(csr_pem_padding_made_data)
{
	static const char *const subj[] = { "CN", "pad", NULL };
	struct m2m_csr *csr;
	char want[64], *pem, *end;
	size_t pad;
	int tries, tried[3] = { 0, 0, 0 };

	/*
	 * The signature's length varies: two requests in three end in
	 * padding.  Until one of each kind was seen (64 tries at most).
	 */
	for (tries = 0; tries < 64 && !(tried[1] && tried[2]); tries++) {
		X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());

		pem = req_pem(r, 0);
		end = pem ? strstr(pem, "\n-----END") : NULL;
		pad = end && end[-1] == '=' ? (end[-2] == '=' ? 2 : 1) : 0;
		if (pad && !tried[pad]) {
			memset(end - pad, 'A', pad);
			snprintf(want, sizeof(want),
				 "%zu bytes of garbage after the request", pad);
			csr = NULL;
			CHECK_FAILS(m2m_csr_parse(ctx, pem, strlen(pem), &csr),
				    M2M_ERR_INVALID, want);
			CHECK(csr == NULL);
			tried[pad] = 1;
		}
		CHECK(end != NULL);
		free(pem);
		X509_REQ_free(r);
	}
	CHECK(tried[1] || tried[2]);
}

UNIT_TEST(csr_key_algorithms)
{
	static const char *const subj[] = { "CN", "k", NULL };
	static const struct {
		const char *type;
		const char *param;
		int alg;
	} keys[] = {
		{ "EC", "P-384", M2M_KEY_EC_P384 },
		{ "ED25519", NULL, M2M_KEY_ED25519 },
	};
	struct m2m_csr *csr = NULL;
	size_t i, len;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		EVP_PKEY *pk = keys[i].param ?
			       EVP_PKEY_Q_keygen(NULL, NULL, keys[i].type,
						 keys[i].param) :
			       EVP_PKEY_Q_keygen(NULL, NULL, keys[i].type);
		int ed = keys[i].alg == M2M_KEY_ED25519;
		X509_REQ *r = pk ? make_req(subj, pk, pk, ed ? NULL :
					    EVP_sha384()) : NULL;
		unsigned char *der = req_der(r, &len);

		csr = NULL;
		if (CHECK_MSG(der, "%s: no request", keys[i].type))
			CHECK_OK(m2m_csr_parse(ctx, der, len, &csr));
		if (csr)
			CHECK_EQ_INT(m2m_csr_key_alg(csr), keys[i].alg);
		m2m_csr_free(csr);
		free(der);
		X509_REQ_free(r);
		EVP_PKEY_free(pk);
	}
}

UNIT_TEST(csr_broken_signature_is_refused)
{
	static const char *const subj[] = { "O", "Acme", "CN", "dev1", NULL };
	X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
	struct m2m_csr *csr = NULL;
	unsigned char *der;
	size_t len = 0, i;
	int flipped = 0;

	der = req_der(r, &len);
	if (!CHECK(der)) {
		X509_REQ_free(r);
		return;
	}
	/* "dev1" -> "dev2" in the signed part: still well-formed */
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(der + i, "dev1", 4) == 0) {
			der[i + 3] = '2';
			flipped = 1;
			break;
		}
	CHECK(flipped);
	CHECK_FAILS(m2m_csr_parse(ctx, der, len, &csr), M2M_ERR_INVALID,
		    "does not verify");
	CHECK(csr == NULL);
	/* a request signed by another key than the one it holds */
	X509_REQ_free(r);
	free(der);
	r = make_req(subj, leaf_pk, ca_pk, EVP_sha256());
	der = req_der(r, &len);
	if (CHECK(der))
		CHECK_FAILS(m2m_csr_parse(ctx, der, len, &csr), M2M_ERR_INVALID,
			    "no proof of possession");
	CHECK(csr == NULL);
	free(der);
	X509_REQ_free(r);
}

/*
 * The fast path keeps one key per curve and replaces its point for each
 * request: a request must be checked under its own key, never under the
 * one before it.
 */
UNIT_TEST(csr_checked_under_its_own_key)
{
	static const char *const subj[] = { "CN", "own", NULL };
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	const struct {
		EVP_PKEY *pub, *signer;
		const EVP_MD *md;
		int ok;
	} reqs[] = {
		{ leaf_pk, leaf_pk, EVP_sha256(), 1 },
		{ ca_pk, leaf_pk, EVP_sha256(), 0 },	/* the last one's key */
		{ ca_pk, ca_pk, EVP_sha256(), 1 },
		{ leaf_pk, ca_pk, EVP_sha256(), 0 },
		{ p384, p384, EVP_sha384(), 1 },
		{ leaf_pk, leaf_pk, EVP_sha384(), 1 },	/* P-256, SHA-384 */
		{ ca_pk, leaf_pk, EVP_sha384(), 0 },
		{ p384, p384, EVP_sha256(), 1 },	/* P-384, SHA-256 */
		{ leaf_pk, leaf_pk, EVP_sha256(), 1 },
	};
	struct m2m_csr *csr;
	unsigned char *der;
	size_t i, len = 0;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		X509_REQ *r = reqs[i].pub && reqs[i].signer ?
			      make_req(subj, reqs[i].pub, reqs[i].signer,
				       reqs[i].md) : NULL;

		der = req_der(r, &len);
		csr = NULL;
		if (!CHECK_MSG(der, "request %zu: not made", i)) {
			X509_REQ_free(r);
			continue;
		}
		m2m_ctx_clear_error(ctx);
		if (reqs[i].ok) {
			CHECK_MSG(m2m_csr_parse(ctx, der, len, &csr) == M2M_OK,
				  "request %zu: %s", i, m2m_ctx_detail(ctx));
			CHECK(csr != NULL);
		} else {
			CHECK_MSG(m2m_csr_parse(ctx, der, len, &csr) ==
				  M2M_ERR_INVALID, "request %zu passed", i);
			CHECK_CONTAINS(m2m_ctx_detail(ctx),
				       "no proof of possession");
			CHECK(csr == NULL);
		}
		m2m_csr_free(csr);
		free(der);
		X509_REQ_free(r);
	}
	EVP_PKEY_free(p384);
}

/* A point that is not on the curve is refused, and the next one works. */
UNIT_TEST(csr_point_off_the_curve)
{
	static const char *const subj[] = { "CN", "off", NULL };
	static const unsigned char bits[] = { 0x03, 0x42, 0x00, 0x04 };
	X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
	struct m2m_csr *csr = NULL;
	unsigned char *der, *pt = NULL;
	size_t len = 0;

	der = req_der(r, &len);
	if (der)
		pt = memmem(der, len, bits, sizeof(bits));
	if (!CHECK(pt && pt + 4 + 64 <= der + len)) {
		free(der);
		X509_REQ_free(r);
		return;
	}
	pt[4 + 63] ^= 0x01;	/* the last bit of y */
	CHECK_FAILS(m2m_csr_parse(ctx, der, len, &csr), M2M_ERR_INVALID,
		    "request holds no usable public key");
	CHECK(csr == NULL);
	pt[4 + 63] ^= 0x01;
	CHECK_OK(m2m_csr_parse(ctx, der, len, &csr));
	CHECK(csr != NULL);
	if (csr)
		CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P256);
	m2m_csr_free(csr);
	free(der);
	X509_REQ_free(r);
}

UNIT_TEST(csr_weak_and_unsupported_keys)
{
	static const char *const subj[] = { "CN", "weak", NULL };
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	X509_REQ *r = NULL;
	struct m2m_csr *csr = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	r = rsa ? make_req(subj, rsa, rsa, EVP_sha256()) : NULL;
	der = req_der(r, &len);
	if (CHECK(der))
		CHECK_FAILS(m2m_csr_parse(ctx, der, len, &csr),
			    M2M_ERR_UNSUPPORTED, "RSA key of 1024 bits");
	CHECK(csr == NULL);
	free(der);
	X509_REQ_free(r);
	r = p521 ? make_req(subj, p521, p521, EVP_sha512()) : NULL;
	der = req_der(r, &len);
	if (CHECK(der))
		CHECK_FAILS(m2m_csr_parse(ctx, der, len, &csr),
			    M2M_ERR_UNSUPPORTED, "is not supported");
	CHECK(csr == NULL);
	free(der);
	X509_REQ_free(r);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p521);
}

UNIT_TEST(csr_parse_rejects_malformed_input)
{
	static const char *const subj[] = { "CN", "x", NULL };
	static const char bad_pem[] =
		"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
		"-----END CERTIFICATE REQUEST-----\n";
	X509_REQ *r = make_req(subj, leaf_pk, leaf_pk, EVP_sha256());
	struct m2m_csr *csr = NULL;
	unsigned char *der, *buf = calloc(1, M2M_CERT_MAX + 8);
	char *pem;
	size_t len = 0;

	der = req_der(r, &len);
	if (!CHECK(der && buf)) {
		free(buf);
		free(der);
		X509_REQ_free(r);
		return;
	}
	CHECK_FAILS(m2m_csr_parse(ctx, "garbage", 7, &csr), M2M_ERR_INVALID,
		    "not a DER certificate request");
	CHECK_FAILS(m2m_csr_parse(ctx, der, len - 1, &csr), M2M_ERR_INVALID,
		    "not a DER certificate request");
	memcpy(buf, der, len);
	CHECK_FAILS(m2m_csr_parse(ctx, buf, len + 3, &csr), M2M_ERR_INVALID,
		    "3 bytes of garbage after the request");
	CHECK_FAILS(m2m_csr_parse(ctx, bad_pem, strlen(bad_pem), &csr),
		    M2M_ERR_INVALID, "not a PEM certificate request");
	pem = pem_of_x509(ca_x);
	if (pem)
		CHECK_FAILS(m2m_csr_parse(ctx, pem, strlen(pem), &csr),
			    M2M_ERR_INVALID, "not a PEM certificate request");
	free(pem);
	/* a certificate in DER is not a request either */
	CHECK_FAILS(m2m_csr_parse(ctx, ca_der, (size_t)ca_der_len, &csr),
		    M2M_ERR_INVALID, "not a DER certificate request");
	CHECK_FAILS(m2m_csr_parse(ctx, buf, M2M_CERT_MAX + 1, &csr),
		    M2M_ERR_INVALID, "larger than 65536 bytes");
	CHECK(csr == NULL);
	free(buf);
	free(der);
	X509_REQ_free(r);
}

/* Make a request with key and subject; check it as libcrypto sees it. */
static void check_csr_make(int line, struct m2m_key *key, const char *subject,
			   const char *want_text, int want_sig_nid)
{
	struct m2m_csr *csr = NULL, *back = NULL;
	unsigned char *pub = NULL;
	const unsigned char *p;
	char *der = NULL, text[256];
	size_t len = 0, plen = 0;
	X509_REQ *r = NULL;
	EVP_PKEY *pk = NULL;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_csr_make(ctx, key, subject, &csr);
	if (!unit_check(rc == M2M_OK && csr, __FILE__, line, "csr_make: %s",
			m2m_ctx_detail(ctx)))
		return;
	m2m_csr_subject(csr, text, sizeof(text));
	unit_check(strcmp(text, want_text) == 0, __FILE__, line,
		   "subject \"%s\", want \"%s\"", text, want_text);
	unit_check(m2m_csr_key_alg(csr) == m2m_key_get_alg(key), __FILE__,
		   line, "algorithm %d", (int)m2m_csr_key_alg(csr));
	rc = m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &der, &len);
	unit_check(rc == M2M_OK, __FILE__, line, "encode: %s",
		   m2m_ctx_detail(ctx));
	if (rc == M2M_OK) {
		rc = m2m_csr_parse(ctx, der, len, &back);
		unit_check(rc == M2M_OK, __FILE__, line, "parse back: %s",
			   m2m_ctx_detail(ctx));
	}
	if (back) {
		m2m_csr_subject(back, text, sizeof(text));
		unit_check(strcmp(text, want_text) == 0, __FILE__, line,
			   "parsed back: subject \"%s\"", text);
	}
	/* libcrypto: well-formed, v1, signed by the key it holds */
	p = (const unsigned char *)der;
	r = der ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
	m2m_key_public_der(ctx, key, &pub, &plen);
	p = pub;
	pk = pub ? d2i_PUBKEY(NULL, &p, (long)plen) : NULL;
	if (unit_check(r && pk, __FILE__, line, "libcrypto cannot read it")) {
		unit_check(X509_REQ_get_version(r) == 0, __FILE__, line,
			   "version %ld", X509_REQ_get_version(r));
		unit_check(X509_REQ_verify(r, pk) == 1, __FILE__, line,
			   "signature does not verify");
		unit_check(X509_REQ_get_signature_nid(r) == want_sig_nid,
			   __FILE__, line, "signature %s",
			   OBJ_nid2sn(X509_REQ_get_signature_nid(r)));
		unit_check(EVP_PKEY_eq(X509_REQ_get0_pubkey(r), pk) == 1,
			   __FILE__, line, "another public key");
	}
	EVP_PKEY_free(pk);
	X509_REQ_free(r);
	free(pub);
	free(der);
	m2m_csr_free(back);
	m2m_csr_free(csr);
}

UNIT_TEST(csr_make_and_parse_back)
{
	struct m2m_key *p384 = NULL, *ed = NULL;
	struct m2m_csr *csr = NULL;
	X509_REQ *r;
	const unsigned char *p;
	char *der = NULL;
	size_t len = 0;

	check_csr_make(__LINE__, leaf_key, "O=Acme,CN=dev-42",
		       "CN=dev-42,O=Acme", NID_ecdsa_with_SHA256);
	check_csr_make(__LINE__, leaf_key, "C=DE,O=Acme\\, Inc.,CN=dev 7",
		       "CN=dev 7,O=Acme\\, Inc.,C=DE", NID_ecdsa_with_SHA256);
	check_csr_make(__LINE__, leaf_key, NULL, "", NID_ecdsa_with_SHA256);
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P384, &p384));
	if (p384)
		check_csr_make(__LINE__, p384, "CN=p384", "CN=p384",
			       NID_ecdsa_with_SHA384);
	CHECK_OK(m2m_key_new_ephemeral(ctx, M2M_KEY_ED25519, &ed));
	if (ed)
		check_csr_make(__LINE__, ed, "CN=ed", "CN=ed", NID_ED25519);
	m2m_key_free(p384);
	m2m_key_free(ed);

	/* an empty subject has no RDNs at all */
	CHECK_OK(m2m_csr_make(ctx, leaf_key, "", &csr));
	if (csr)
		CHECK_OK(m2m_csr_encode(ctx, csr, M2M_FORMAT_DER, &der, &len));
	p = (const unsigned char *)der;
	r = der ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
	CHECK(r && X509_NAME_entry_count(X509_REQ_get_subject_name(r)) == 0);
	X509_REQ_free(r);
	free(der);
	m2m_csr_free(csr);
	csr = NULL;

	CHECK_FAILS(m2m_csr_make(ctx, leaf_key, "XX=dev", &csr),
		    M2M_ERR_INVALID, "unknown attribute");
	CHECK_FAILS(m2m_csr_make(ctx, leaf_key, "CN=", &csr),
		    M2M_ERR_INVALID, "empty value");
	CHECK_FAILS(m2m_csr_make(ctx, leaf_key, "just text", &csr),
		    M2M_ERR_INVALID, "is not ATTR=value");
	CHECK_FAILS(m2m_csr_make(ctx, leaf_key, "C=Germany", &csr),
		    M2M_ERR_INVALID, "is not a valid value");
	CHECK(csr == NULL);
}

/* ---- PKCS#12 ------------------------------------------------------------------- */

/* alg is PBES2 with PBKDF2 and AES-256-CBC. */
static void check_pbes2_aes256(int line, const X509_ALGOR *alg)
{
	PBE2PARAM *pbe2 = NULL;

	if (!unit_check(alg && OBJ_obj2nid(alg->algorithm) == NID_pbes2,
			__FILE__, line, "not PBES2: %s",
			alg ? OBJ_nid2sn(OBJ_obj2nid(alg->algorithm)) : "-"))
		return;
	pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
					 alg->parameter);
	if (unit_check(pbe2 != NULL, __FILE__, line, "no PBES2 parameters")) {
		unit_check(OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_pbkdf2,
			   __FILE__, line, "key derivation %s",
			   OBJ_nid2sn(OBJ_obj2nid(pbe2->keyfunc->algorithm)));
		unit_check(OBJ_obj2nid(pbe2->encryption->algorithm) ==
			   NID_aes_256_cbc, __FILE__, line, "cipher %s",
			   OBJ_nid2sn(OBJ_obj2nid(pbe2->encryption->algorithm)));
	}
	PBE2PARAM_free(pbe2);
}

UNIT_TEST(pkcs12_opens_with_the_passphrase)
{
	struct m2m_cert *leaf = NULL, *cacert = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	char *chain = pem_of_x509(ca_x);
	PKCS12 *p12 = NULL;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *cas = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	unsigned char *xder = NULL;
	int xlen, i, j, keybags = 0, certbags = 0;

	CHECK_OK(m2m_cert_parse(ctx, leaf_der, (size_t)leaf_der_len, &leaf));
	CHECK_OK(m2m_cert_parse(ctx, ca_der, (size_t)ca_der_len, &cacert));
	if (!leaf || !chain)
		goto out;
	CHECK_OK(m2m_pkcs12_make(ctx, leaf_key, leaf, chain, "pass:p12-secret",
				 &der, &len));
	p = der;
	p12 = der ? d2i_PKCS12(NULL, &p, (long)len) : NULL;
	if (!CHECK(p12))
		goto out;
	CHECK(p == der + len);
	CHECK_EQ_INT(PKCS12_verify_mac(p12, "p12-secret", -1), 1);
	CHECK_EQ_INT(PKCS12_verify_mac(p12, "p12-wrong", -1), 0);
	if (CHECK_EQ_INT(PKCS12_parse(p12, "p12-secret", &pk, &x, &cas), 1)) {
		CHECK_EQ_INT(EVP_PKEY_eq(pk, leaf_pk), 1);
		xlen = x ? i2d_X509(x, &xder) : -1;
		CHECK(xlen == leaf_der_len && memcmp(xder, leaf_der, (size_t)xlen) == 0);
		OPENSSL_free(xder);
		xder = NULL;
		if (CHECK_EQ_INT(sk_X509_num(cas), 1)) {
			xlen = i2d_X509(sk_X509_value(cas, 0), &xder);
			CHECK(xlen == ca_der_len &&
			      memcmp(xder, ca_der, (size_t)xlen) == 0);
			OPENSSL_free(xder);
		}
	}
	/* key and certificates encrypted with PBES2/PBKDF2/AES-256-CBC */
	safes = PKCS12_unpack_authsafes(p12);
	for (i = 0; safes && i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		if (OBJ_obj2nid(p7->type) == NID_pkcs7_data) {
			bags = PKCS12_unpack_p7data(p7);
		} else if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
			check_pbes2_aes256(__LINE__,
					   p7->d.encrypted->enc_data->algorithm);
			bags = PKCS12_unpack_p7encdata(p7, "p12-secret", -1);
		}
		for (j = 0; bags && j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			const X509_ALGOR *alg = NULL;

			switch (PKCS12_SAFEBAG_get_nid(bag)) {
			case NID_pkcs8ShroudedKeyBag:
				X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag),
					      &alg, NULL);
				check_pbes2_aes256(__LINE__, alg);
				keybags++;
				break;
			case NID_certBag:
				certbags++;
				break;
			default:
				CHECK_MSG(0, "unexpected bag %s",
					  OBJ_nid2sn(PKCS12_SAFEBAG_get_nid(bag)));
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	CHECK_EQ_INT(keybags, 1);
	CHECK_EQ_INT(certbags, 2);
out:
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_X509_pop_free(cas, X509_free);
	X509_free(x);
	EVP_PKEY_free(pk);
	PKCS12_free(p12);
	free(der);
	free(chain);
	m2m_cert_free(leaf);
	m2m_cert_free(cacert);
}

UNIT_TEST(pkcs12_without_chain_and_failures)
{
	struct m2m_cert *leaf = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	PKCS12 *p12 = NULL;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *cas = NULL;

	CHECK_OK(m2m_cert_parse(ctx, leaf_der, (size_t)leaf_der_len, &leaf));
	if (!leaf)
		return;
	CHECK_EQ_INT(setenv("M2M_TEST_P12", "from-env", 1), 0);
	CHECK_OK(m2m_pkcs12_make(ctx, leaf_key, leaf, NULL, "env:M2M_TEST_P12",
				 &der, &len));
	unsetenv("M2M_TEST_P12");
	p = der;
	p12 = der ? d2i_PKCS12(NULL, &p, (long)len) : NULL;
	if (CHECK(p12) &&
	    CHECK_EQ_INT(PKCS12_parse(p12, "from-env", &pk, &x, &cas), 1)) {
		CHECK_EQ_INT(EVP_PKEY_eq(pk, leaf_pk), 1);
		CHECK_MSG(sk_X509_num(cas) <= 0, "%d chain certificates",
			  sk_X509_num(cas));
	}
	sk_X509_pop_free(cas, X509_free);
	X509_free(x);
	EVP_PKEY_free(pk);
	PKCS12_free(p12);
	free(der);
	der = NULL;

	CHECK_FAILS(m2m_pkcs12_make(ctx, leaf_key, leaf, NULL, "p12-secret",
				    &der, &len), M2M_ERR_INVALID,
		    "must start with");
	CHECK(der == NULL);
	CHECK_EQ_INT(len, 0);
	/* a key that is not the certificate's */
	CHECK_FAILS(m2m_pkcs12_make(ctx, ca_key, leaf, NULL, "pass:x1234",
				    &der, &len), M2M_ERR_CRYPTO,
		    "cannot make the PKCS#12 file");
	CHECK(der == NULL);
	m2m_cert_free(leaf);
}

/* ---- running ------------------------------------------------------------ */

static int setup(void)
{
	static const char *const ca_subj[] = {
		"C", "DE", "O", "Example Ltd", "CN", "Test CA", NULL
	};
	static const char *const leaf_subj[] = {
		"O", "Acme", "CN", "leaf 1", NULL
	};
	static const unsigned char ca_sn[] = { 1, 2, 3, 4, 5 };
	static const unsigned char leaf_sn[] = { 0x42, 0x42 };

	ca_pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	leaf_pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ca_pk || !leaf_pk)
		return 0;
	ca_x = make_cert(ca_subj, ca_sn, sizeof(ca_sn), ca_pk, NULL, ca_pk, NB,
			 NA);
	leaf_x = make_cert(leaf_subj, leaf_sn, sizeof(leaf_sn), leaf_pk, ca_x,
			   ca_pk, NB, 0);
	if (!ca_x || !leaf_x)
		return 0;
	ca_der_len = i2d_X509(ca_x, &ca_der);
	leaf_der_len = i2d_X509(leaf_x, &leaf_der);
	ca_key = key_file("ca.key", ca_pk);
	leaf_key = key_file("leaf.key", leaf_pk);
	return ca_der_len > 0 && leaf_der_len > 0 && ca_key && leaf_key;
}

/* i2d of pk's SubjectPublicKeyInfo; point_form "compressed" if asked. */
static int spki_of(EVP_PKEY *pk, int compressed, unsigned char **der)
{
	if (compressed &&
	    EVP_PKEY_set_utf8_string_param(pk, "point-format", "compressed") != 1)
		return -1;
	return i2d_PUBKEY(pk, der);
}

UNIT_TEST(csr_from_spki_der)
{
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct m2m_csr *csr = NULL;
	unsigned char *der = NULL;
	const uint8_t *got, junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	unsigned char *owned;
	size_t got_len;
	int n;

	CHECK(p256 && p384 && rsa);
	/* EC keys taken as they are: the request's SPKI is the DER given */
	n = spki_of(p256, 0, &der);
	CHECK(n > 0);
	CHECK_EQ_INT(m2m_csr_from_spki_der(ctx, der, (size_t)n, NULL, &csr), M2M_OK);
	CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P256);
	CHECK(m2m_csr_spki(csr, &got, &got_len, &owned));
	CHECK(owned == NULL);
	CHECK_EQ_INT(got_len, n);
	CHECK_EQ_MEM(got, der, (size_t)n);
	m2m_csr_free(csr);
	csr = NULL;
	OPENSSL_free(der);
	der = NULL;
	n = spki_of(p384, 0, &der);
	CHECK_EQ_INT(m2m_csr_from_spki_der(ctx, der, (size_t)n, NULL, &csr), M2M_OK);
	CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P384);
	m2m_csr_free(csr);
	csr = NULL;
	OPENSSL_free(der);
	der = NULL;
	/* others through the decoder: a compressed point, RSA */
	n = spki_of(p256, 1, &der);
	CHECK(n > 0 && n < 91);
	CHECK_EQ_INT(m2m_csr_from_spki_der(ctx, der, (size_t)n, NULL, &csr), M2M_OK);
	CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_EC_P256);
	m2m_csr_free(csr);
	csr = NULL;
	OPENSSL_free(der);
	der = NULL;
	n = spki_of(rsa, 0, &der);
	CHECK_EQ_INT(m2m_csr_from_spki_der(ctx, der, (size_t)n, NULL, &csr), M2M_OK);
	CHECK_EQ_INT(m2m_csr_key_alg(csr), M2M_KEY_RSA2048);
	m2m_csr_free(csr);
	csr = NULL;
	/* not a SubjectPublicKeyInfo; cut short */
	CHECK_FAILS(m2m_csr_from_spki_der(ctx, junk, sizeof(junk), NULL, &csr),
		    M2M_ERR_INVALID, "the request's public key is malformed");
	CHECK(csr == NULL);
	CHECK_FAILS(m2m_csr_from_spki_der(ctx, der, (size_t)n - 1, NULL, &csr),
		    M2M_ERR_INVALID, "the request's public key is malformed");
	OPENSSL_free(der);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
}

static void teardown(void)
{
	m2m_key_free(ca_key);
	m2m_key_free(leaf_key);
	OPENSSL_free(ca_der);
	OPENSSL_free(leaf_der);
	X509_free(ca_x);
	X509_free(leaf_x);
	EVP_PKEY_free(ca_pk);
	EVP_PKEY_free(leaf_pk);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(parse_der_and_accessors),
		UNIT(parse_pem_same_as_der),
		UNIT(issued_certificate_accessors_and_serials),
		UNIT(parse_rejects_what_is_not_one_certificate),
		UNIT(load_file),
		UNIT(encode_pem_and_der_round_trip),
		UNIT(pem_encoding_as_openssl_writes_it),
		UNIT(csr_parse_pem_new_pem_and_der),
		UNIT(csr_pem_layouts),
		UNIT(csr_pem_broken),
		UNIT(csr_pem_padding_made_data),
		UNIT(csr_key_algorithms),
		UNIT(csr_broken_signature_is_refused),
		UNIT(csr_checked_under_its_own_key),
		UNIT(csr_point_off_the_curve),
		UNIT(csr_weak_and_unsupported_keys),
		UNIT(csr_parse_rejects_malformed_input),
		UNIT(csr_make_and_parse_back),
		UNIT(pkcs12_opens_with_the_passphrase),
		UNIT(pkcs12_without_chain_and_failures),
		UNIT(csr_from_spki_der),
	};
	int rc = 1;

	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
	} else if (!setup()) {
		printf("Bail out! cannot make the fixtures\n");
	} else {
		rc = unit_run(tests, UNIT_COUNT(tests));
	}
	teardown();
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
