/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/cmp_server.c: requests built with OpenSSL's CMP client (captured by
 * a transfer callback instead of being sent) go to m2m_cmp_srv_handle(),
 * and its responses go back to the client, which checks them as it
 * checks any server's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <m2m/ca.h>
#include <m2m/cmp.h>
#include <m2m/ledger.h>

#include "../../lib/cert_internal.h"
#include "../../lib/internal.h"
#include "unit.h"

#define HW "1.3.6.1.4.1.99999.1.1"
#define SECRET "unit-secret"

static char dir[] = "/tmp/test_cmp_server.XXXXXX";
static struct m2m_ctx *ctx;
static struct m2m_ca *ca;
static struct m2m_cmp_srv *srv;
static struct m2m_cmp_srv_result last;
static enum m2m_err last_rc;
static const char *profile;
static char ca_dir[128];

/* The transfer callback: the request through the handler and back. */
static OSSL_CMP_MSG *transfer(OSSL_CMP_CTX *c, const OSSL_CMP_MSG *req)
{
	unsigned char *der = NULL, *resp = NULL;
	const unsigned char *p;
	size_t len = 0;
	OSSL_CMP_MSG *rsp = NULL;
	int n = i2d_OSSL_CMP_MSG(req, &der);

	(void)c;
	last_rc = m2m_cmp_srv_handle(srv, ctx, ca, profile, der, (size_t)n,
				     &resp, &len, &last);
	if (last_rc == M2M_OK) {
		p = resp;
		rsp = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	}
	OPENSSL_free(der);
	free(resp);
	return rsp;
}

/* subjectAltName: HardwareModuleName { HW, ppid } */
static X509_EXTENSIONS *hw_exts(const unsigned char *ppid, int n)
{
	unsigned char buf[128], *q;
	ASN1_OBJECT *hw = OBJ_txt2obj(HW, 1);
	int l = i2d_ASN1_OBJECT(hw, NULL);
	ASN1_STRING *seq = ASN1_STRING_new();
	ASN1_TYPE *val = ASN1_TYPE_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	X509_EXTENSIONS *exts = sk_X509_EXTENSION_new_null();

	buf[0] = 0x30;
	buf[1] = (unsigned char)(l + 2 + n);
	q = buf + 2;
	i2d_ASN1_OBJECT(hw, &q);
	*q++ = 0x04;
	*q++ = (unsigned char)n;
	memcpy(q, ppid, (size_t)n);
	ASN1_STRING_set(seq, buf, l + 4 + n);
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	GENERAL_NAME_set0_othername(gn, OBJ_txt2obj("1.3.6.1.5.5.7.8.4", 1), val);
	sk_GENERAL_NAME_push(gens, gn);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(hw);
	return exts;
}

/* A client context: MAC-protected under secret, or unprotected. */
static OSSL_CMP_CTX *client(const char *secret, const unsigned char *ppid)
{
	OSSL_CMP_CTX *c = OSSL_CMP_CTX_new(NULL, NULL);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_NAME *subj = X509_NAME_new();

	X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
				   (const unsigned char *)"device", -1, -1, 0);
	OSSL_CMP_CTX_set_transfer_cb(c, transfer);
	OSSL_CMP_CTX_set1_srvCert(c, m2m_cert_x509(m2m_ca_cert(ca)));
	OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IGNORE_KEYUSAGE, 1);
	OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_LOG_VERBOSITY, 0);
	if (secret) {
		OSSL_CMP_CTX_set1_secretValue(c, (const unsigned char *)secret,
					      (int)strlen(secret));
		OSSL_CMP_CTX_set1_referenceValue(c, (const unsigned char *)"u", 1);
	} else {
		OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_UNPROTECTED_SEND, 1);
	}
	OSSL_CMP_CTX_set0_newPkey(c, 1, k);
	OSSL_CMP_CTX_set1_subjectName(c, subj);
	if (ppid)
		OSSL_CMP_CTX_set0_reqExtensions(c, hw_exts(ppid, 7));
	X509_NAME_free(subj);
	return c;
}

static const unsigned char PPID1[7] = { 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x01 };
static const unsigned char PPID2[7] = { 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x02 };

UNIT_TEST(ir_with_the_secret_issues_and_records)
{
	struct m2m_cert_record r;
	OSSL_CMP_CTX *c = client(SECRET, PPID1);
	X509 *x;

	OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 1);
	x = OSSL_CMP_exec_IR_ses(c);
	CHECK(x != NULL);
	CHECK_EQ_STR(last.op, "ir");
	CHECK_MSG(!strcmp(last.status, "accepted"), "ir: %s: %s", last.status,
		  last.text);
	CHECK_EQ_INT(strlen(last.serial), 32);
	if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca), last.serial,
					     &r), M2M_OK)) {
		CHECK_EQ_STR(r.profile, "idevid");
		CHECK_EQ_INT(r.status, M2M_CERT_VALID);
	}
	OSSL_CMP_CTX_free(c);
	ERR_clear_error();
}

UNIT_TEST(cr_with_certconf_then_genm)
{
	OSSL_CMP_CTX *c = client(SECRET, PPID2);
	STACK_OF(OSSL_CMP_ITAV) *itavs;

	CHECK(OSSL_CMP_exec_CR_ses(c) != NULL);
	CHECK_EQ_STR(last.op, "certConf");
	CHECK_EQ_STR(last.status, "accepted");
	OSSL_CMP_CTX_free(c);
	c = client(SECRET, NULL);
	itavs = OSSL_CMP_exec_GENM_ses(c);
	CHECK(itavs != NULL && sk_OSSL_CMP_ITAV_num(itavs) == 1);
	CHECK_EQ_STR(last.op, "genm");
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	OSSL_CMP_CTX_free(c);
	ERR_clear_error();
}

UNIT_TEST(refusals_say_why)
{
	OSSL_CMP_CTX *c = client(NULL, PPID1);

	CHECK(OSSL_CMP_exec_IR_ses(c) == NULL);
	CHECK_EQ_STR(last.status, "error");
	CHECK_CONTAINS(last.text, "the request is not protected");
	OSSL_CMP_CTX_free(c);

	c = client("wrong", PPID1);
	CHECK(OSSL_CMP_exec_IR_ses(c) == NULL);
	CHECK_EQ_STR(last.status, "error");
	CHECK_CONTAINS(last.text, "protection does not verify with the shared secret");
	OSSL_CMP_CTX_free(c);

	/* a PPID that has its certificate already */
	c = client(SECRET, PPID1);
	CHECK(OSSL_CMP_exec_IR_ses(c) == NULL);
	CHECK_EQ_STR(last.status, "rejected");
	CHECK_CONTAINS(last.text, "already has a valid idevid certificate");
	OSSL_CMP_CTX_free(c);

	/* no HardwareModuleName */
	c = client(SECRET, NULL);
	CHECK(OSSL_CMP_exec_IR_ses(c) == NULL);
	CHECK_CONTAINS(last.text, "HardwareModuleName");
	OSSL_CMP_CTX_free(c);

	/* an LDevID profile needs the IDevID's signature */
	profile = "ldevid";
	c = client(SECRET, PPID2);
	CHECK(OSSL_CMP_exec_IR_ses(c) == NULL);
	CHECK_CONTAINS(last.text, "must be signed with the device's IDevID");
	profile = NULL;
	OSSL_CMP_CTX_free(c);
	ERR_clear_error();
}

UNIT_TEST(garbage_is_no_message)
{
	static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x02 };
	struct m2m_cmp_srv_result res;
	unsigned char *resp = (unsigned char *)"x";
	size_t len = 7;

	CHECK_EQ_INT(m2m_cmp_srv_handle(srv, ctx, ca, NULL, junk, sizeof(junk),
					&resp, &len, &res), M2M_ERR_INVALID);
	CHECK(resp == NULL && len == 0);
	CHECK_EQ_STR(res.status, "error");
	CHECK_EQ_INT(m2m_cmp_srv_handle(srv, ctx, ca, NULL, junk, 0, &resp,
					&len, &res), M2M_ERR_INVALID);
}

static unsigned char *captured;
static int captured_len;

/* A transfer callback that keeps the request and sends nothing. */
static OSSL_CMP_MSG *capture(OSSL_CMP_CTX *c, const OSSL_CMP_MSG *req)
{
	(void)c;
	OPENSSL_free(captured);
	captured = NULL;
	captured_len = i2d_OSSL_CMP_MSG(req, &captured);
	return NULL;
}

/*
 * out: SEQUENCE { the content of der (a SEQUENCE, 0x82 length) then
 * more[0..n) }.  Returns its length.
 */
static size_t reseq(const unsigned char *der, size_t len,
		    const unsigned char *more, size_t n, unsigned char *out)
{
	size_t c = len - 4;

	out[0] = 0x30;
	out[1] = 0x82;
	out[2] = (unsigned char)((c + n) >> 8);
	out[3] = (unsigned char)(c + n);
	memcpy(out + 4, der + 4, c);
	memcpy(out + 4 + c, more, n);
	return 4 + c + n;
}

/* handle der[0..len): its code; *body the response's type (-1: none) */
static enum m2m_err handle(const unsigned char *der, size_t len, int *body)
{
	unsigned char *resp = NULL;
	const unsigned char *p;
	size_t rlen = 0;
	OSSL_CMP_MSG *m;
	enum m2m_err rc;

	rc = m2m_cmp_srv_handle(srv, ctx, ca, NULL, der, len, &resp, &rlen,
				&last);
	p = resp;
	m = resp ? d2i_OSSL_CMP_MSG(NULL, &p, (long)rlen) : NULL;
	*body = m ? OSSL_CMP_MSG_get_bodytype(m) : -1;
	OSSL_CMP_MSG_free(m);
	free(resp);
	return rc;
}

/*
 * The extraCerts are parsed by the server itself and left out of what
 * OpenSSL parses: they must end the message, once, and nothing may follow
 * the message, as a whole parse would insist.
 */
UNIT_TEST(extra_certs_end_the_message)
{
	static const unsigned char PPID3[7] = { 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x03 };
	static const unsigned char after[] = { 0xa2, 0x00 };
	STACK_OF(X509) *extra = sk_X509_new_null();
	OSSL_CMP_CTX *c = client(SECRET, PPID3);
	unsigned char *buf = NULL;
	const unsigned char *p;
	size_t n, k = 0;
	int body, i;

	sk_X509_push(extra, m2m_cert_x509(m2m_ca_cert(ca)));
	OSSL_CMP_CTX_set1_extraCertsOut(c, extra);
	sk_X509_free(extra);
	OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 1);
	OSSL_CMP_CTX_set_transfer_cb(c, capture);
	OSSL_CMP_exec_IR_ses(c);
	if (!CHECK(captured_len > 200 && captured[1] == 0x82))
		goto out;
	buf = malloc((size_t)captured_len * 2 + 16);
	if (!CHECK(buf != NULL))
		goto out;
	/* the [1] extraCerts element: the last of the message's content */
	for (i = 4; i < captured_len; ) {
		p = captured + i;
		if (*p == 0xa1)
			k = (size_t)i;
		i += 2 + (p[1] < 0x80 ? p[1] : p[1] == 0x81 ? 1 + p[2] :
			  2 + (p[2] << 8 | p[3]));
	}
	if (!CHECK(k > 0))
		goto out;

	/* something after the message */
	memcpy(buf, captured, (size_t)captured_len);
	buf[captured_len] = 0x00;
	CHECK_EQ_INT(handle(buf, (size_t)captured_len + 1, &body),
		     M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "no DER PKIMessage");
	/* an element after the extraCerts */
	n = reseq(captured, (size_t)captured_len, after, sizeof(after), buf);
	CHECK_EQ_INT(handle(buf, n, &body), M2M_ERR_INVALID);
	/* the extraCerts twice */
	n = reseq(captured, (size_t)captured_len, captured + k,
		  (size_t)captured_len - k, buf);
	CHECK_EQ_INT(handle(buf, n, &body), M2M_ERR_INVALID);
	/* as it was: issued */
	CHECK_EQ_INT(handle(captured, (size_t)captured_len, &body), M2M_OK);
	CHECK_EQ_INT(body, 1);
	CHECK_MSG(!strcmp(last.status, "accepted"), "ir: %s: %s", last.status,
		  last.text);
out:
	free(buf);
	OSSL_CMP_CTX_free(c);
	ERR_clear_error();
}

/* ---- grouped issuance from several threads -------------------------------- */

#define GROUP_REQS	48
#define GROUP_THREADS	6

struct group_req {
	unsigned char *der;
	int len;
	struct m2m_cmp_srv_result res;
	enum m2m_err rc;
	int body;		/* of the response: 1 ip, 23 error */
};

static struct group_req greqs[GROUP_REQS];

struct group_thread {
	int first;
	int ok;
};

static void *group_worker(void *arg)
{
	struct group_thread *t = arg;
	struct m2m_ctx *tctx = NULL;
	struct m2m_ca *tca = NULL;
	int i;

	if (m2m_ctx_new_sibling(ctx, &tctx) != M2M_OK ||
	    m2m_ca_open(tctx, ca_dir, M2M_CA_NEED_KEY, NULL, NULL, &tca) != M2M_OK)
		goto out;
	for (i = t->first; i < GROUP_REQS; i += GROUP_THREADS) {
		struct group_req *g = &greqs[i];
		unsigned char *resp = NULL;
		const unsigned char *p;
		size_t len = 0;
		OSSL_CMP_MSG *m;

		g->rc = m2m_cmp_srv_handle(srv, tctx, tca, NULL, g->der,
					   (size_t)g->len, &resp, &len, &g->res);
		p = resp;
		m = resp ? d2i_OSSL_CMP_MSG(NULL, &p, (long)len) : NULL;
		g->body = m ? OSSL_CMP_MSG_get_bodytype(m) : -1;
		OSSL_CMP_MSG_free(m);
		free(resp);
	}
	t->ok = 1;
out:
	m2m_ca_close(tca);
	m2m_ctx_free(tctx);
	ERR_clear_error();
	return NULL;
}

UNIT_TEST(grouped_issuance_from_threads)
{
	struct group_thread th[GROUP_THREADS];
	pthread_t tid[GROUP_THREADS];
	struct m2m_ctx *wctx = NULL;
	struct m2m_ca *wca = NULL;
	struct m2m_cert_record r;
	uint64_t count = 0, bad = 0;
	int i, accepted = 0, dup = 0;

	/* 48 requests; the last two name the PPID of the one before them */
	for (i = 0; i < GROUP_REQS; i++) {
		unsigned char ppid[7] = { 0x01, 0x00, 0x1a, 0x7d, 0xdb, 0x00, 0x00 };
		OSSL_CMP_CTX *c;

		ppid[6] = (unsigned char)(i < GROUP_REQS - 2 ? i : GROUP_REQS - 3);
		c = client(SECRET, ppid);
		OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 1);
		OSSL_CMP_CTX_set_transfer_cb(c, capture);
		(void)OSSL_CMP_exec_IR_ses(c);
		greqs[i].der = captured;
		greqs[i].len = captured_len;
		captured = NULL;
		OSSL_CMP_CTX_free(c);
		CHECK(greqs[i].len > 0);
	}
	ERR_clear_error();
	if (!CHECK_EQ_INT(m2m_ctx_new_sibling(ctx, &wctx), M2M_OK) ||
	    !CHECK_EQ_INT(m2m_ca_open(wctx, ca_dir, M2M_CA_NEED_KEY, NULL, NULL,
				      &wca), M2M_OK))
		goto out;
	m2m_cmp_srv_set_writer(srv, wctx, wca);
	for (i = 0; i < GROUP_THREADS; i++) {
		th[i].first = i;
		th[i].ok = 0;
		CHECK(pthread_create(&tid[i], NULL, group_worker, &th[i]) == 0);
	}
	for (i = 0; i < GROUP_THREADS; i++) {
		pthread_join(tid[i], NULL);
		CHECK(th[i].ok);
	}
	m2m_cmp_srv_set_writer(srv, NULL, NULL);
	for (i = 0; i < GROUP_REQS; i++) {
		struct group_req *g = &greqs[i];

		CHECK_EQ_INT(g->rc, M2M_OK);
		if (!strcmp(g->res.status, "accepted")) {
			accepted++;
			CHECK_EQ_INT(g->body, 1);
			if (CHECK_EQ_INT(m2m_ledger_get_cert(ctx, m2m_ca_ledger(ca),
							     g->res.serial, &r),
					 M2M_OK))
				CHECK_EQ_INT(r.status, M2M_CERT_VALID);
		} else {
			CHECK_MSG(strstr(g->res.text, "already has a valid idevid certificate") != NULL,
				  "request %d: %s: %s", i, g->res.status, g->res.text);
			dup++;
		}
	}
	/* one of the three requests for the shared PPID was issued */
	CHECK_EQ_INT(accepted, GROUP_REQS - 2);
	CHECK_EQ_INT(dup, 2);
	CHECK_EQ_INT(m2m_ledger_audit_verify(ctx, m2m_ca_ledger(ca), &count, &bad),
		     M2M_OK);
	CHECK_EQ_INT(bad, 0);
out:
	for (i = 0; i < GROUP_REQS; i++)
		OPENSSL_free(greqs[i].der);
	m2m_ca_close(wca);
	m2m_ctx_free(wctx);
	ERR_clear_error();
}

static const struct unit_test tests[] = {
	UNIT(ir_with_the_secret_issues_and_records),
	UNIT(cr_with_certconf_then_genm),
	UNIT(refusals_say_why),
	UNIT(garbage_is_no_message),
	UNIT(extra_certs_end_the_message),
	UNIT(grouped_issuance_from_threads),
};

int main(void)
{
	struct m2m_ca_params p;
	struct m2m_cmp_srv_config cfg;
	int rc = 1;

	if (!mkdtemp(dir) || m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot make a directory or a context: %s\n",
		       strerror(errno));
		return 1;
	}
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", dir);
	memset(&p, 0, sizeof(p));
	p.dir = ca_dir;
	p.subject = "O=Example,CN=Unit CA";
	p.path_len = -1;
	p.hw_type = HW;
	p.device_subject = "O=Example,OU=Devices";
	memset(&cfg, 0, sizeof(cfg));
	cfg.mac_source = "pass:" SECRET;
	if (m2m_ca_create(ctx, &p, NULL) != M2M_OK ||
	    m2m_ca_open(ctx, ca_dir, M2M_CA_NEED_KEY, NULL, NULL, &ca) != M2M_OK ||
	    m2m_cmp_srv_new(ctx, &cfg, &srv) != M2M_OK)
		printf("Bail out! cannot make the CA: %s\n", m2m_ctx_detail(ctx));
	else
		rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_cmp_srv_free(srv);
	m2m_ca_close(ca);
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
