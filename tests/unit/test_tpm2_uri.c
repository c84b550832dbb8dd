/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the tpm2: locator parser (lib/keystore/tpm2_uri.c): a table
 * of locators that parse, with what they give, and of locators that do
 * not, with a phrase of the detail; lengths and bytes a C string cannot
 * hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <m2m/ctx.h>

#include "../../lib/keystore/tpm2_uri.h"
#include "unit.h"

static struct m2m_ctx *ctx;

struct good {
	const char *loc;
	enum m2m_tpm2_uri_kind kind;
	uint32_t handle, parent;
	int parent_given;
};

static const struct good goods[] = {
	{ "handle=0x81020000", M2M_TPM2_URI_HANDLE, 0x81020000, 0x81000001, 0 },
	{ "handle=0x81000000", M2M_TPM2_URI_HANDLE, 0x81000000, 0x81000001, 0 },
	{ "handle=0x81FFFFFF", M2M_TPM2_URI_HANDLE, 0x81ffffff, 0x81000001, 0 },
	{ "handle=0X81abcdef", M2M_TPM2_URI_HANDLE, 0x81abcdef, 0x81000001, 0 },
	{ "handle=0x81020000;parent=0x81000002", M2M_TPM2_URI_HANDLE,
	  0x81020000, 0x81000002, 1 },
	{ "parent=0x81000001;handle=0x81020001", M2M_TPM2_URI_HANDLE,
	  0x81020001, 0x81000001, 1 },
	{ "nv=0x01C90000", M2M_TPM2_URI_NV, 0x01c90000, 0, 0 },
	{ "nv=0x1000000", M2M_TPM2_URI_NV, 0x01000000, 0, 0 },
	{ "nv=0x01ffffff", M2M_TPM2_URI_NV, 0x01ffffff, 0, 0 },
	{ "nv=0x01C0000A", M2M_TPM2_URI_NV, 0x01c0000a, 0, 0 },
};

struct bad {
	const char *loc;
	const char *phrase;
};

static const struct bad bads[] = {
	{ "", "names no handle or NV index" },
	{ "handle", "is not NAME=VALUE" },
	{ "handle=", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x", "is not 0x and 1 to 8 hex digits" },
	{ "handle=81020000", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x8102000g", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x081020000", "is not 0x and 1 to 8 hex digits" },
	{ "handle= 0x81020000", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x81020000 ", "is not 0x and 1 to 8 hex digits" },
	{ "handle=-0x81020000", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x+1020000", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x81000001", "is the SRK" },
	{ "handle=0x80000000", "not a persistent handle" },
	{ "handle=0x82000000", "not a persistent handle" },
	{ "handle=0x01C90000", "not a persistent handle" },
	{ "nv=0x00FFFFFF", "is not in 0x01000000-0x01ffffff" },
	{ "nv=0x02000000", "is not in 0x01000000-0x01ffffff" },
	{ "nv=0x81020000", "is not in 0x01000000-0x01ffffff" },
	{ "Handle=0x81020000", "unknown attribute 'Handle'" },
	{ "object=idevid", "unknown attribute 'object'" },
	{ "=0x81020000", "unknown attribute ''" },
	{ "handle=0x81020000;handle=0x81020001", "'handle' given twice" },
	{ "nv=0x01C90000;nv=0x01C90000", "'nv' given twice" },
	{ "handle=0x81020000;parent=0x81000001;parent=0x81000001",
	  "'parent' given twice" },
	{ "handle=0x81020000;nv=0x01C90000", "not both" },
	{ "parent=0x81000001", "names no handle= or nv=" },
	{ "nv=0x01C90000;parent=0x81000001", "parent= goes with handle=" },
	{ "handle=0x81020000;parent=0x81020000", "its own parent" },
	{ "handle=0x81020000;parent=0x40000001", "parent 0x40000001 is not" },
	{ "handle=0x81020000;", "empty attribute" },
	{ ";handle=0x81020000", "empty attribute" },
	{ "handle=0x81020000;;parent=0x81000001", "empty attribute" },
	{ "handle=0x81020000?pin-value=1", "is not 0x and 1 to 8 hex digits" },
	{ "handle=0x81020000,nv=0x01C90000", "is not 0x and 1 to 8 hex digits" },
	{ "handle==0x81020000", "is not 0x and 1 to 8 hex digits" },
};

UNIT_TEST(good_locators)
{
	struct m2m_tpm2_uri u;
	size_t i;

	for (i = 0; i < UNIT_COUNT(goods); i++) {
		const struct good *g = &goods[i];
		enum m2m_err rc;

		m2m_ctx_clear_error(ctx);
		rc = m2m_tpm2_uri_parse(ctx, g->loc, strlen(g->loc), &u);
		if (!CHECK_MSG(rc == M2M_OK, "'%s': %s", g->loc,
			       m2m_ctx_detail(ctx)))
			continue;
		CHECK_MSG(u.kind == g->kind && u.handle == g->handle &&
			  u.parent == g->parent &&
			  u.parent_given == g->parent_given,
			  "'%s': kind %d handle 0x%08x parent 0x%08x given %d",
			  g->loc, (int)u.kind, u.handle, u.parent,
			  u.parent_given);
	}
}

UNIT_TEST(bad_locators)
{
	struct m2m_tpm2_uri u;
	size_t i;

	for (i = 0; i < UNIT_COUNT(bads); i++) {
		const struct bad *b = &bads[i];
		enum m2m_err rc;

		m2m_ctx_clear_error(ctx);
		memset(&u, 0xA5, sizeof(u));
		rc = m2m_tpm2_uri_parse(ctx, b->loc, strlen(b->loc), &u);
		CHECK_MSG(rc == M2M_ERR_INVALID, "'%s': got %d, want INVALID",
			  b->loc, (int)rc);
		CHECK_MSG(strstr(m2m_ctx_detail(ctx), b->phrase) != NULL,
			  "'%s': detail \"%s\" lacks \"%s\"", b->loc,
			  m2m_ctx_detail(ctx), b->phrase);
		CHECK_MSG(u.kind == 0 && u.handle == 0 && u.parent == 0 &&
			  u.parent_given == 0, "'%s': *out not zeroed", b->loc);
	}
}

UNIT_TEST(detail_quotes_the_locator)
{
	struct m2m_tpm2_uri u;

	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, "handle=0x81000001", 17, &u),
		     M2M_ERR_INVALID);
	CHECK_EQ_STR(m2m_ctx_detail(ctx),
		     "'tpm2:handle=0x81000001': handle 0x81000001 is the SRK, not a signing key");
	/* Bytes outside printable ASCII are never shown as they are. */
	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, "handle=\x1b[2J", 11, &u),
		     M2M_ERR_INVALID);
	CHECK(strchr(m2m_ctx_detail(ctx), '\x1b') == NULL);
}

UNIT_TEST(lengths_and_bytes)
{
	char big[M2M_TPM2_URI_MAX + 2];
	struct m2m_tpm2_uri u;
	size_t n;

	/* Only len bytes count: the rest of the buffer is not read. */
	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, "nv=0x01C90000;junk", 13, &u),
		     M2M_OK);
	CHECK_EQ_INT(u.handle, 0x01c90000);
	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, "nv=0x01C9\0" "000", 13, &u),
		     M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "NUL byte");

	/* Over M2M_TPM2_URI_MAX fails on its length; at it, it is parsed. */
	memset(big, 'a', sizeof(big));
	n = M2M_TPM2_URI_MAX + 1;
	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, big, n, &u), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "longer than 256 bytes");
	memcpy(big, "handle=0x81020000", 17);
	CHECK_EQ_INT(m2m_tpm2_uri_parse(ctx, big, M2M_TPM2_URI_MAX, &u),
		     M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "is not 0x and 1 to 8 hex digits");
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(good_locators),
		UNIT(bad_locators),
		UNIT(detail_quotes_the_locator),
		UNIT(lengths_and_bytes),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK)
		return 2;
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
