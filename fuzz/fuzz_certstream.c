/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The certificate stream, m2m_certstream_new_mem()/_next(), on arbitrary
 * bytes: PEM bundles (blocks of other labels and text around skipped) or
 * concatenated DER, as m2m-verify reads its operands, trust anchors and
 * CRLs.  Small caps (512 bytes an object) so that the caps are reached.
 *
 * Oracles (abort() on violation):
 *   - every object handed out is 1 to 512 bytes;
 *   - a failure is M2M_ERR_INVALID with a detail, and the stream is at its
 *     end afterwards: next gives M2M_OK and no object;
 *   - DER input read to its end without failure is the concatenation of
 *     the objects, exactly;
 *   - the objects, written again as PEM, read back as the same objects.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/certstream.h>
#include <m2m/ctx.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX 512
#define KEEP 64		/* objects compared after a PEM round trip */

static struct m2m_ctx *ctx;

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr, "fuzz_certstream: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* p[0..n) as a PEM CERTIFICATE block appended to out at *o. */
static void pem_put(char *out, size_t *o, const uint8_t *p, size_t n)
{
	size_t i, col = 0;

	*o += (size_t)sprintf(out + *o, "-----BEGIN CERTIFICATE-----\n");
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 |
			     (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		out[(*o)++] = b64[v >> 18 & 63];
		out[(*o)++] = b64[v >> 12 & 63];
		out[(*o)++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[(*o)++] = i + 2 < n ? b64[v & 63] : '=';
		if ((col += 4) == 64) {
			out[(*o)++] = '\n';
			col = 0;
		}
	}
	*o += (size_t)sprintf(out + *o, "%s-----END CERTIFICATE-----\n",
			      col ? "\n" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_certstream *s = NULL, *again = NULL;
	static uint8_t kept[KEEP][MAX];
	static size_t kept_len[KEEP];
	static char pem[KEEP * (MAX * 2 + 80)];
	const uint8_t *der;
	size_t len, n = 0, off = 0, o = 0, i;
	int der_mode = size && data[0] == 0x30, failed = 0;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	if (m2m_certstream_new_mem(ctx, data, size, NULL, MAX, &s) != M2M_OK)
		abort();
	for (;;) {
		m2m_ctx_clear_error(ctx);
		rc = m2m_certstream_next(ctx, s, &der, &len);
		if (rc != M2M_OK) {
			if (rc != M2M_ERR_INVALID || !m2m_ctx_detail(ctx)[0])
				oops("a failure is not INVALID with a detail", rc);
			if (m2m_certstream_next(ctx, s, &der, &len) != M2M_OK || der)
				oops("the stream goes on after a failure", rc);
			failed = 1;
			break;
		}
		if (!der)
			break;
		if (len == 0 || len > MAX)
			oops("an object of no or too many bytes", rc);
		if (der_mode) {
			if (off + len > size || memcmp(data + off, der, len))
				oops("a DER object is not the next bytes of the input",
				     rc);
			off += len;
		}
		if (n < KEEP) {
			memcpy(kept[n], der, len);
			kept_len[n] = len;
		}
		n++;
	}
	if (m2m_certstream_count(s) != n)
		oops("the count is not the number of objects", rc);
	m2m_certstream_free(s);
	if (der_mode && !failed && off != size)
		oops("DER read to its end left bytes unread", rc);
	if (n == 0 || n > KEEP)
		return 0;
	for (i = 0; i < n; i++)
		pem_put(pem, &o, kept[i], kept_len[i]);
	if (m2m_certstream_new_mem(ctx, pem, o, NULL, MAX, &again) != M2M_OK)
		abort();
	for (i = 0; i < n; i++) {
		rc = m2m_certstream_next(ctx, again, &der, &len);
		if (rc != M2M_OK || !der || len != kept_len[i] ||
		    memcmp(der, kept[i], len))
			oops("the objects written as PEM read back differently", rc);
	}
	rc = m2m_certstream_next(ctx, again, &der, &len);
	if (rc != M2M_OK || der)
		oops("the PEM of the objects holds more", rc);
	m2m_certstream_free(again);
	return 0;
}
