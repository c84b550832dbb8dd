/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The text address parsers, m2m_ppid_set_text().  The first input byte
 * modulo M2M_TECH_COUNT picks the technology; the rest is the text.
 *
 * Oracles (abort() on violation):
 *   - accepted: exactly that technology is present; m2m_ppid_format_addr()
 *     prints it and m2m_ppid_set_text() of the printed form gives the same
 *     bytes (and prints the same again); m2m_ppid_encode() then
 *     m2m_ppid_decode() gives the same struct.
 *   - rejected: the code is M2M_ERR_INVALID, the detail is not empty and
 *     the struct is still empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/ppid.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

static void oops(const char *what, int t, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_address: oracle failed for %s: %s (rc %d %s, detail '%s')\n",
		m2m_tech_name(t), what, (int)rc, m2m_strerror(rc),
		m2m_ctx_detail(ctx));
	abort();
}

static int is_empty(const struct m2m_ppid *p)
{
	static const struct m2m_ppid empty;

	return p->mask == 0 &&
	       memcmp(p->len, empty.len, sizeof(p->len)) == 0 &&
	       memcmp(p->addr, empty.addr, sizeof(p->addr)) == 0;
}

static void check_accepted(const struct m2m_ppid *p, int t)
{
	char text[M2M_ADDR_TEXT_MAX], text2[M2M_ADDR_TEXT_MAX];
	uint8_t bin[M2M_PPID_MAX];
	struct m2m_ppid again, dec;
	const uint8_t *a, *b;
	size_t alen, blen, tlen, n;
	enum m2m_err rc;

	if (p->mask != (uint64_t)1 << t)
		oops("the mask is not exactly the technology's bit", t, M2M_OK);
	a = m2m_ppid_addr(p, t, &alen);
	if (!a || alen == 0 || alen > M2M_ADDR_MAX)
		oops("no address, or one of a bad length", t, M2M_OK);

	tlen = m2m_ppid_format_addr(p, t, text, sizeof(text));
	if (tlen == 0 || tlen != strlen(text))
		oops("format_addr prints nothing", t, M2M_OK);
	m2m_ppid_init(&again);
	m2m_ctx_clear_error(ctx);
	rc = m2m_ppid_set_text(ctx, &again, t, text, tlen);
	if (rc != M2M_OK)
		oops("set_text rejects what format_addr printed", t, rc);
	b = m2m_ppid_addr(&again, t, &blen);
	if (again.mask != p->mask || !b || blen != alen ||
	    memcmp(a, b, alen) != 0)
		oops("set_text(format_addr(p)) gives other bytes", t, rc);
	if (m2m_ppid_format_addr(&again, t, text2, sizeof(text2)) != tlen ||
	    strcmp(text, text2) != 0)
		oops("the printed form is not stable", t, rc);

	rc = m2m_ppid_encode(ctx, p, bin, sizeof(bin), &n);
	if (rc != M2M_OK)
		oops("encode fails", t, rc);
	rc = m2m_ppid_decode(ctx, &dec, bin, n);
	if (rc != M2M_OK)
		oops("decode rejects what encode wrote", t, rc);
	if (dec.mask != p->mask || memcmp(dec.len, p->len, sizeof(p->len)) ||
	    memcmp(dec.addr, p->addr, sizeof(p->addr)))
		oops("decode(encode(p)) differs from p", t, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_ppid p;
	enum m2m_err rc;
	int t;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	if (size == 0)
		return 0;
	t = data[0] % M2M_TECH_COUNT;

	m2m_ppid_init(&p);
	m2m_ctx_clear_error(ctx);
	rc = m2m_ppid_set_text(ctx, &p, t, (const char *)data + 1, size - 1);
	if (rc == M2M_OK) {
		check_accepted(&p, t);
		return 0;
	}
	if (rc != M2M_ERR_INVALID || m2m_ctx_error(ctx) != M2M_ERR_INVALID)
		oops("rejected with a code other than INVALID", t, rc);
	if (!m2m_ctx_detail(ctx)[0])
		oops("rejected without a detail", t, rc);
	if (!is_empty(&p))
		oops("rejected, but the struct was changed", t, rc);
	return 0;
}
