/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What m2m-ca serve reads from the network: a CMP request body, handed to
 * m2m_cmp_srv_handle() as it came.  The harness makes a CA once (in a
 * temporary directory, removed at exit) with the shared secret
 * "fuzz-secret", so the seed requests, MAC-protected under it (and one
 * signed by an unknown station), reach issuing, revoking, genm and
 * certConf, and their mutations every refusal on the way.
 *
 * Oracles (abort() on violation):
 *   - M2M_OK: a response of 1 to M2M_CMP_MSG_MAX bytes that is itself a
 *     DER PKIMessage (the handler parses it again), an operation name and
 *     a status of "accepted", "rejected" or "error";
 *   - otherwise: M2M_ERR_INVALID (not a PKIMessage), no response, and a
 *     detail recorded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2m/ca.h>
#include <m2m/cmp.h>
#include <m2m/ctx.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;
static struct m2m_ca *ca;
static struct m2m_cmp_srv *srv;
static char dir[64];

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr, "fuzz_cmp_server: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static void cleanup(void)
{
	char cmd[128];

	m2m_cmp_srv_free(srv);
	m2m_ca_close(ca);
	m2m_ctx_free(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "fuzz_cmp_server: cannot remove %s\n", dir);
}

static void init(void)
{
	struct m2m_ca_params p;
	struct m2m_cmp_srv_config cfg;
	char ca_dir[128];

	snprintf(dir, sizeof(dir), "/tmp/fuzz_cmp.XXXXXX");
	if (!mkdtemp(dir) || m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	atexit(cleanup);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", dir);
	memset(&p, 0, sizeof(p));
	p.dir = ca_dir;
	p.subject = "O=Example,CN=Issuing CA";
	p.alg = M2M_KEY_EC_P256;
	p.path_len = -1;
	p.hw_type = "1.3.6.1.4.1.99999.1.1";
	p.device_subject = "O=Example,OU=Devices";
	if (m2m_ca_create(ctx, &p, NULL) != M2M_OK ||
	    m2m_ca_open(ctx, ca_dir, M2M_CA_NEED_KEY, NULL, NULL, &ca) != M2M_OK)
		oops("cannot make the CA", m2m_ctx_error(ctx));
	memset(&cfg, 0, sizeof(cfg));
	cfg.mac_source = "pass:fuzz-secret";
	cfg.confirm_secs = 1;
	if (m2m_cmp_srv_new(ctx, &cfg, &srv) != M2M_OK)
		oops("cannot make the server", m2m_ctx_error(ctx));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_cmp_srv_result res;
	unsigned char *resp = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	struct m2m_cmp_srv_result res2;
	enum m2m_err rc;

	if (!ctx)
		init();
	m2m_ctx_clear_error(ctx);
	rc = m2m_cmp_srv_handle(srv, ctx, ca, NULL, data, size, &resp, &len,
				&res);
	if (rc != M2M_OK) {
		if (rc != M2M_ERR_INVALID)
			oops("the handler fails with an unexpected code", rc);
		if (resp || len || !m2m_ctx_detail(ctx)[0])
			oops("a failure with a response, or without a detail", rc);
		return 0;
	}
	if (!resp || len == 0 || len > M2M_CMP_MSG_MAX || !res.op[0])
		oops("success without a response or an operation", rc);
	if (strcmp(res.status, "accepted") && strcmp(res.status, "rejected") &&
	    strcmp(res.status, "error"))
		oops("a status of no known kind", rc);
	/* The response is a PKIMessage too: the handler reads it back. */
	rc = m2m_cmp_srv_handle(srv, ctx, ca, NULL, resp, len, &again, &len2,
				&res2);
	if (rc != M2M_OK && rc != M2M_ERR_INVALID)
		oops("the response read back fails unexpectedly", rc);
	if (rc == M2M_ERR_INVALID && strstr(m2m_ctx_detail(ctx), "no DER PKIMessage"))
		oops("the response is no DER PKIMessage", rc);
	free(again);
	free(resp);
	return 0;
}
