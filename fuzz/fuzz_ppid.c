/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The binary PPID decoder, m2m_ppid_decode(), on arbitrary bytes, and
 * m2m_ppid_decode_hex() on the same bytes taken as text.
 *
 * Oracles (abort() on violation):
 *   - decode succeeds: m2m_ppid_encode() gives back the input exactly;
 *     m2m_ppid_to_hex() then m2m_ppid_decode_hex() gives the same struct;
 *     each address printed by m2m_ppid_format_addr() parses back, with
 *     m2m_ppid_set_text() into an empty struct, to the same bytes;
 *     m2m_ppid_json_members() succeeds.
 *   - decode fails: the code is M2M_ERR_INVALID and the detail is not
 *     empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/ppid.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_ppid: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

/* A failed decode must say why, with the right code. */
static void check_failure(enum m2m_err rc, const char *what)
{
	if (rc != M2M_ERR_INVALID)
		oops(what, rc);
	if (m2m_ctx_error(ctx) != M2M_ERR_INVALID || !m2m_ctx_detail(ctx)[0])
		oops(what, rc);
}

static int same_ppid(const struct m2m_ppid *a, const struct m2m_ppid *b)
{
	return a->mask == b->mask &&
	       memcmp(a->len, b->len, sizeof(a->len)) == 0 &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static void check_decoded(const struct m2m_ppid *p, const uint8_t *data,
			  size_t size)
{
	uint8_t bin[M2M_PPID_MAX];
	char hex[M2M_PPID_HEX_MAX], json[M2M_PPID_JSON_MAX];
	char text[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid again, one;
	size_t n, hexlen, tlen, alen, blen;
	const uint8_t *a, *b;
	enum m2m_err rc;
	int t;

	if (p->mask == 0 || p->mask >> M2M_TECH_COUNT)
		oops("decoded mask is empty or has unassigned bits", M2M_OK);

	rc = m2m_ppid_encode(ctx, p, bin, sizeof(bin), &n);
	if (rc != M2M_OK)
		oops("encode of a decoded PPID fails", rc);
	if (n != size || memcmp(bin, data, size) != 0)
		oops("encode does not give back the input", rc);

	rc = m2m_ppid_to_hex(ctx, p, hex, sizeof(hex), &hexlen);
	if (rc != M2M_OK)
		oops("to_hex of a decoded PPID fails", rc);
	if (hexlen != 2 * size || strlen(hex) != hexlen)
		oops("to_hex length is not twice the binary length", rc);
	rc = m2m_ppid_decode_hex(ctx, &again, hex, hexlen);
	if (rc != M2M_OK)
		oops("decode_hex of to_hex fails", rc);
	if (!same_ppid(p, &again))
		oops("decode_hex(to_hex(p)) differs from p", rc);

	for (t = 0; t < M2M_TECH_COUNT; t++) {
		a = m2m_ppid_addr(p, t, &alen);
		tlen = m2m_ppid_format_addr(p, t, text, sizeof(text));
		if (!m2m_ppid_has(p, t)) {
			if (a || tlen)
				oops("an absent technology has an address",
				     M2M_OK);
			continue;
		}
		if (!a || tlen == 0 || tlen != strlen(text))
			oops("a present technology cannot be printed", M2M_OK);
		m2m_ppid_init(&one);
		rc = m2m_ppid_set_text(ctx, &one, t, text, tlen);
		if (rc != M2M_OK)
			oops("set_text rejects what format_addr printed", rc);
		b = m2m_ppid_addr(&one, t, &blen);
		if (!b || blen != alen || memcmp(a, b, alen) != 0 ||
		    one.mask != (uint64_t)1 << t)
			oops("set_text(format_addr(p)) gives other bytes", rc);
	}

	rc = m2m_ppid_json_members(ctx, p, json, sizeof(json), &n);
	if (rc != M2M_OK)
		oops("json_members of a decoded PPID fails", rc);
	if (n != strlen(json) || strncmp(json, "\"ppid\":\"", 8) != 0 ||
	    strncmp(json + 8, hex, hexlen) != 0)
		oops("json_members does not start with the hex form", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_ppid p;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();

	m2m_ctx_clear_error(ctx);
	rc = m2m_ppid_decode(ctx, &p, data, size);
	if (rc == M2M_OK)
		check_decoded(&p, data, size);
	else
		check_failure(rc, "decode failed without INVALID and a detail");

	m2m_ctx_clear_error(ctx);
	rc = m2m_ppid_decode_hex(ctx, &p, (const char *)data, size);
	if (rc == M2M_OK) {
		uint8_t bin[M2M_PPID_MAX];
		size_t n;

		/* Hex of either case: the binary form is half as long. */
		if (m2m_ppid_encode(ctx, &p, bin, sizeof(bin), &n) != M2M_OK ||
		    2 * n != size)
			oops("decode_hex accepted text that does not encode",
			     rc);
	} else {
		check_failure(rc,
			      "decode_hex failed without INVALID and a detail");
	}
	return 0;
}
