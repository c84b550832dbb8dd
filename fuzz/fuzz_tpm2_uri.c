/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tpm2: locator parser, m2m_tpm2_uri_parse(), on arbitrary bytes.
 *
 * Oracles (abort() on violation):
 *   - parse succeeds: the input is at most M2M_TPM2_URI_MAX bytes without
 *     a NUL; a handle= result is a persistent handle other than the SRK's
 *     with a persistent parent other than itself (the SRK's unless
 *     parent= was given); an nv= result is an NV index with no parent;
 *     the canonical text of the result ("handle=0x%08x;parent=0x%08x" or
 *     "nv=0x%08x") parses to the same struct.
 *   - parse fails: M2M_ERR_INVALID, a detail of printable ASCII only, and
 *     *out zeroed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>

#include "../lib/keystore/tpm2_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_tpm2_uri: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static int persistent(uint32_t h)
{
	return h >= 0x81000000u && h <= 0x81FFFFFFu;
}

static void check_parsed(const struct m2m_tpm2_uri *u, const uint8_t *data,
			 size_t size)
{
	struct m2m_tpm2_uri again;
	char text[64];
	enum m2m_err rc;
	int n;

	if (size > M2M_TPM2_URI_MAX || memchr(data, '\0', size))
		oops("accepted an over-long locator or a NUL byte", M2M_OK);
	if (u->kind == M2M_TPM2_URI_HANDLE) {
		if (!persistent(u->handle) || u->handle == M2M_TPM2_SRK)
			oops("handle out of range or the SRK", M2M_OK);
		if (!persistent(u->parent) || u->parent == u->handle)
			oops("parent out of range or the key itself", M2M_OK);
		if (!u->parent_given && u->parent != M2M_TPM2_SRK)
			oops("default parent is not the SRK", M2M_OK);
		n = snprintf(text, sizeof(text), "handle=0x%08x;parent=0x%08x",
			     u->handle, u->parent);
	} else if (u->kind == M2M_TPM2_URI_NV) {
		if (u->handle < 0x01000000u || u->handle > 0x01FFFFFFu)
			oops("NV index out of range", M2M_OK);
		if (u->parent || u->parent_given)
			oops("NV index with a parent", M2M_OK);
		n = snprintf(text, sizeof(text), "nv=0x%08x", u->handle);
	} else {
		oops("unknown kind", M2M_OK);
		return;
	}
	rc = m2m_tpm2_uri_parse(ctx, text, (size_t)n, &again);
	if (rc != M2M_OK)
		oops("the canonical text does not parse", rc);
	if (again.kind != u->kind || again.handle != u->handle ||
	    again.parent != u->parent ||
	    (u->kind == M2M_TPM2_URI_HANDLE && !again.parent_given))
		oops("the canonical text parses to something else", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_tpm2_uri u;
	const char *d;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	m2m_ctx_clear_error(ctx);
	memset(&u, 0x5A, sizeof(u));
	rc = m2m_tpm2_uri_parse(ctx, (const char *)data, size, &u);
	if (rc == M2M_OK) {
		check_parsed(&u, data, size);
		return 0;
	}
	if (rc != M2M_ERR_INVALID || m2m_ctx_error(ctx) != rc)
		oops("failed without M2M_ERR_INVALID", rc);
	d = m2m_ctx_detail(ctx);
	if (!d[0])
		oops("failed without a detail", rc);
	for (; *d; d++)
		if (*d < 0x20 || *d > 0x7E)
			oops("detail holds a byte outside printable ASCII", rc);
	if (u.kind != 0 || u.handle != 0 || u.parent != 0 || u.parent_given)
		oops("*out not zeroed on failure", rc);
	return 0;
}
