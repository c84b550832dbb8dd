/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/csrq.h: requests read ahead come out in the
 * order their paths went in, good and bad alike, with the detail
 * m2m_file_read() and m2m_csr_parse() give; a full or empty queue is a
 * usage error; a queue freed with requests in it loses nothing (the
 * sanitizer builds check that).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/cert.h>
#include <m2m/csrq.h>
#include <m2m/ctx.h>
#include <m2m/file.h>
#include <m2m/key.h>

#include "unit.h"

#define NREQ 40		/* good requests on disk */

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-csrq-XXXXXX";
static char *good[NREQ];	/* their PEM, to compare with */

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

static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

static const char *req_path(char out[PATH_MAX], int i)
{
	char name[32];

	snprintf(name, sizeof(name), "%02d.csr", i);
	return tmp_path(out, name);
}

/* The request's PEM is the one written as request i. */
static void check_is(int line, struct m2m_csr *csr, int i)
{
	char *pem = NULL;
	size_t len = 0;

	if (!unit_check(csr != NULL, __FILE__, line, "request %d is missing",
			i))
		return;
	if (m2m_csr_encode(ctx, csr, M2M_FORMAT_PEM, &pem, &len) == M2M_OK)
		unit_check(len == strlen(good[i]) &&
			   memcmp(pem, good[i], len) == 0, __FILE__, line,
			   "request %d came out of turn", i);
	else
		unit_check(0, __FILE__, line, "cannot encode request %d", i);
	free(pem);
}

UNIT_TEST(requests_come_out_in_order)
{
	char path[PATH_MAX];
	struct m2m_csrq *q = NULL;
	struct m2m_csr *csr;
	int in = 0, out = 0;

	CHECK_OK(m2m_csrq_new(ctx, 8, 64 * 1024, &q));
	if (!CHECK(q))
		return;
	/* Fill it, then keep it full while taking requests out. */
	while (out < NREQ) {
		while (in < NREQ && m2m_csrq_count(q) < 8)
			CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, in++)));
		CHECK_OK(m2m_csrq_pop(ctx, q, &csr));
		check_is(__LINE__, csr, out++);
		m2m_csr_free(csr);
		if (out % 7 == 0)
			usleep(2000);	/* let the thread get ahead */
	}
	CHECK_EQ_INT(m2m_csrq_count(q), 0);
	m2m_csrq_free(q);
}

UNIT_TEST(failures_come_out_in_their_turn)
{
	char path[PATH_MAX];
	struct m2m_csrq *q = NULL;
	struct m2m_csr *csr = NULL;
	int round;

	CHECK_OK(m2m_csrq_new(ctx, 4, 64 * 1024, &q));
	if (!CHECK(q))
		return;
	/* Twice: the thread reads them, then they are read on pop. */
	for (round = 0; round < 2; round++) {
		CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, 0)));
		CHECK_OK(m2m_csrq_push(ctx, q, tmp_path(path, "none.csr")));
		CHECK_OK(m2m_csrq_push(ctx, q, tmp_path(path, "junk.csr")));
		CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, 1)));
		if (round == 0)
			usleep(50000);
		CHECK_OK(m2m_csrq_pop(ctx, q, &csr));
		check_is(__LINE__, csr, 0);
		m2m_csr_free(csr);
		CHECK_FAILS(m2m_csrq_pop(ctx, q, &csr), M2M_ERR_NOT_FOUND,
			    "none.csr': No such file or directory");
		CHECK(csr == NULL);
		CHECK_FAILS(m2m_csrq_pop(ctx, q, &csr), M2M_ERR_INVALID,
			    "not a DER certificate request");
		CHECK(csr == NULL);
		CHECK_OK(m2m_csrq_pop(ctx, q, &csr));
		check_is(__LINE__, csr, 1);
		m2m_csr_free(csr);
	}
	m2m_csrq_free(q);
}

UNIT_TEST(full_and_empty_are_usage_errors)
{
	char path[PATH_MAX];
	struct m2m_csrq *q = NULL;
	struct m2m_csr *csr = NULL;

	CHECK_FAILS(m2m_csrq_new(ctx, 0, 1024, &q), M2M_ERR_USAGE,
		    "no requests");
	CHECK(q == NULL);
	CHECK_OK(m2m_csrq_new(ctx, 2, 64 * 1024, &q));
	if (!CHECK(q))
		return;
	CHECK_FAILS(m2m_csrq_pop(ctx, q, &csr), M2M_ERR_USAGE, "empty");
	CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, 2)));
	CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, 3)));
	CHECK_FAILS(m2m_csrq_push(ctx, q, req_path(path, 4)), M2M_ERR_USAGE,
		    "full");
	CHECK_EQ_INT(m2m_csrq_count(q), 2);
	CHECK_OK(m2m_csrq_pop(ctx, q, &csr));
	check_is(__LINE__, csr, 2);
	m2m_csr_free(csr);
	CHECK_EQ_INT(m2m_csrq_count(q), 1);
	m2m_csrq_free(q);	/* with request 3 still in it */
	m2m_csrq_free(NULL);
}

UNIT_TEST(size_cap)
{
	char path[PATH_MAX];
	struct m2m_csrq *q = NULL;
	struct m2m_csr *csr = NULL;

	CHECK_OK(m2m_csrq_new(ctx, 1, 100, &q));
	if (!CHECK(q))
		return;
	CHECK_OK(m2m_csrq_push(ctx, q, req_path(path, 5)));
	CHECK_FAILS(m2m_csrq_pop(ctx, q, &csr), M2M_ERR_INVALID,
		    "is larger than 100 bytes");
	m2m_csrq_free(q);
}

/* ---- running ------------------------------------------------------------ */

static int setup(void)
{
	char path[PATH_MAX], name[32];
	struct m2m_key *key = NULL;
	struct m2m_csr *csr = NULL;
	size_t len;
	int i, ok = 1;

	for (i = 0; ok && i < NREQ; i++) {
		snprintf(name, sizeof(name), "%02d.key", i);
		ok = m2m_key_generate(ctx, tmp_path(path, name),
				      M2M_KEY_EC_P256, NULL, &key) == M2M_OK &&
		     m2m_csr_make(ctx, key, "CN=dev", &csr) == M2M_OK &&
		     m2m_csr_encode(ctx, csr, M2M_FORMAT_PEM, &good[i],
				    &len) == M2M_OK &&
		     m2m_file_write(ctx, req_path(path, i), good[i], len, 0644,
				    0) == M2M_OK;
		m2m_csr_free(csr);
		csr = NULL;
		m2m_key_free(key);
		key = NULL;
		unlink(tmp_path(path, name));
	}
	return ok && m2m_file_write(ctx, tmp_path(path, "junk.csr"), "junk", 4,
				    0644, 0) == M2M_OK;
}

static void teardown(void)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < NREQ; i++) {
		free(good[i]);
		unlink(req_path(path, i));
	}
	unlink(tmp_path(path, "junk.csr"));
	rmdir(dir);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(requests_come_out_in_order),
		UNIT(failures_come_out_in_their_turn),
		UNIT(full_and_empty_are_usage_errors),
		UNIT(size_cap),
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
		printf("Bail out! cannot make the fixtures: %s\n",
		       m2m_ctx_detail(ctx));
	} else {
		rc = unit_run(tests, UNIT_COUNT(tests));
	}
	teardown();
	m2m_ctx_free(ctx);
	return rc;
}
