/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/cmp_client.h: what a client accepts to be
 * made with, and how a failed exchange is reported.  The exchanges
 * themselves are tested against OpenSSL's mock server in
 * tests/cmp-client.bats.
 */
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <m2m/cert.h>
#include <m2m/cmp_client.h>
#include <m2m/ctx.h>
#include <m2m/key.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static struct m2m_key *key;
static struct m2m_cert *anchor;

/* A self-signed certificate for key, made with OpenSSL. */
static struct m2m_cert *self_signed(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	unsigned char *der = NULL;
	struct m2m_cert *c = NULL;
	int len;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"anchor", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_sign(x, pk, EVP_sha256());
	len = i2d_X509(x, &der);
	if (len > 0)
		m2m_cert_parse(ctx, der, (size_t)len, &c);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(pk);
	return c;
}

static struct m2m_cmp_opts opts(const char *url)
{
	struct m2m_cmp_opts o;

	memset(&o, 0, sizeof(o));
	o.url = url;
	o.secret_source = "pass:s3cret";
	o.ref = "station-1";
	o.trust = &anchor;
	o.ntrust = 1;
	return o;
}

/* m2m_cmp_client_new's code for o; the client, if any, freed. */
static enum m2m_err try_new(const struct m2m_cmp_opts *o)
{
	struct m2m_cmp_client *cl = NULL;
	enum m2m_err rc = m2m_cmp_client_new(ctx, o, &cl);

	if (rc == M2M_OK)
		CHECK(cl != NULL);
	else
		CHECK(cl == NULL);
	m2m_cmp_client_free(cl);
	return rc;
}

UNIT_TEST(test_new_usage)
{
	struct m2m_cmp_opts o = opts("http://127.0.0.1:8080/.well-known/cmp");
	struct m2m_cert *certs[1] = { anchor };

	CHECK_EQ_INT(try_new(&o), M2M_OK);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");
	o.url = NULL;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	o = opts("ftp://127.0.0.1/");
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "'ftp://127.0.0.1/' is not an http:// URL");
	o = opts("http://127.0.0.1/x?y=1");
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "no user, query or fragment");
	o = opts("http://[::1");
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	o = opts("https://127.0.0.1/");
	CHECK_EQ_INT(try_new(&o), M2M_ERR_UNSUPPORTED);
	o = opts("http://127.0.0.1/");
	o.ntrust = 0;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "no trust anchors for the server");
	o = opts("http://127.0.0.1/");
	o.ref = NULL;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
	o = opts("http://127.0.0.1/");
	o.key = key;
	o.certs = certs;
	o.ncerts = 1;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);	/* both */
	o.secret_source = NULL;
	o.ncerts = 0;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);	/* key, no certificate */
	o.key = NULL;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);	/* neither */
	o = opts("http://127.0.0.1/");
	o.secret_source = "env:M2M_UNIT_NO_SUCH_VARIABLE";
	CHECK_EQ_INT(try_new(&o), M2M_ERR_NOT_FOUND);
	o.secret_source = "pass:";
	CHECK_EQ_INT(try_new(&o), M2M_ERR_INVALID);
	o = opts("http://127.0.0.1/");
	o.timeout = -1;
	CHECK_EQ_INT(try_new(&o), M2M_ERR_USAGE);
}

UNIT_TEST(test_enroll_unreachable)
{
	struct m2m_cmp_opts o = opts("http://127.0.0.1:1/.well-known/cmp");
	struct m2m_cmp_client *cl = NULL;
	struct m2m_cmp_enroll req;
	struct m2m_cmp_result res;
	time_t t0;

	o.timeout = 1;
	if (!CHECK_EQ_INT(m2m_cmp_client_new(ctx, &o, &cl), M2M_OK))
		return;
	memset(&req, 0, sizeof(req));
	req.type = M2M_CMP_KUR;
	req.key = key;
	CHECK_EQ_INT(m2m_cmp_client_enroll(ctx, cl, &req, &res), M2M_ERR_USAGE);
	CHECK(res.cert == NULL);
	req.type = M2M_CMP_IR;
	req.device_serial = "SN-1";
	CHECK_EQ_INT(m2m_cmp_client_enroll(ctx, cl, &req, &res), M2M_ERR_USAGE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "needs a serial and a PPID");
	req.ppid = (const uint8_t *)"\x01\x00\x1a\x7d\xda\x71\x13";
	req.ppid_len = 7;
	t0 = time(NULL);
	CHECK_EQ_INT(m2m_cmp_client_enroll(ctx, cl, &req, &res), M2M_ERR_IO);
	CHECK(time(NULL) - t0 <= 3);
	CHECK_CONTAINS(m2m_ctx_detail(ctx),
		       "no answer from 'http://127.0.0.1:1/.well-known/cmp' within 1 s");
	CHECK(res.cert == NULL && res.chain == NULL && res.nchain == 0);
	CHECK_EQ_STR(m2m_cmp_client_status(cl), "");
	/* And the same client again, as a batch would. */
	CHECK_EQ_INT(m2m_cmp_client_revoke(ctx, cl, anchor, 5), M2M_ERR_IO);
	m2m_cmp_client_free(cl);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(test_new_usage),
		UNIT(test_enroll_unreachable),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK ||
	    m2m_key_new_ephemeral(ctx, M2M_KEY_EC_P256, &key) != M2M_OK)
		return 1;
	anchor = self_signed();
	if (!anchor)
		return 1;
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_cert_free(anchor);
	m2m_key_free(key);
	m2m_ctx_free(ctx);
	return rc;
}
