/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "der.h"
#include "internal.h"

const uint8_t m2m_oid_hwmodule[8] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04
};

void m2m_der_init(struct m2m_der *d, uint8_t *buf, size_t size)
{
	d->buf = buf;
	d->size = size;
	d->len = 0;
	d->bad = 0;
}

static void put(struct m2m_der *d, const void *p, size_t n)
{
	if (d->bad || d->size - d->len < n) {
		d->bad = 1;
		return;
	}
	memcpy(d->buf + d->len, p, n);
	d->len += n;
}

static void put_len(struct m2m_der *d, size_t n)
{
	uint8_t b[3];

	if (n < 0x80) {
		b[0] = (uint8_t)n;
		put(d, b, 1);
	} else if (n < 0x100) {
		b[0] = 0x81;
		b[1] = (uint8_t)n;
		put(d, b, 2);
	} else if (n < 0x10000) {
		b[0] = 0x82;
		b[1] = (uint8_t)(n >> 8);
		b[2] = (uint8_t)n;
		put(d, b, 3);
	} else {
		d->bad = 1;
	}
}

void m2m_der_tlv(struct m2m_der *d, uint8_t tag, const void *content,
		 size_t len)
{
	put(d, &tag, 1);
	put_len(d, len);
	put(d, content, len);
}

void m2m_der_raw(struct m2m_der *d, const void *p, size_t n)
{
	if (n)
		put(d, p, n);
}

/* Reserve a three-octet length (0x82 form) and fix it up on close. */
size_t m2m_der_open(struct m2m_der *d, uint8_t tag)
{
	uint8_t hdr[4] = { tag, 0x82, 0, 0 };
	size_t mark = d->len;

	put(d, hdr, sizeof(hdr));
	return mark;
}

void m2m_der_close(struct m2m_der *d, size_t mark)
{
	size_t content, hdr;

	if (d->bad)
		return;
	content = d->len - mark - 4;
	if (content >= 0x10000) {
		d->bad = 1;
		return;
	}
	/* Minimal length form: move the content back over unused octets. */
	hdr = content < 0x80 ? 1 : content < 0x100 ? 2 : 3;
	if (hdr == 1) {
		d->buf[mark + 1] = (uint8_t)content;
	} else if (hdr == 2) {
		d->buf[mark + 1] = 0x81;
		d->buf[mark + 2] = (uint8_t)content;
	} else {
		d->buf[mark + 2] = (uint8_t)(content >> 8);
		d->buf[mark + 3] = (uint8_t)content;
	}
	if (hdr < 3)
		memmove(d->buf + mark + 1 + hdr, d->buf + mark + 4, content);
	d->len = mark + 1 + hdr + content;
}

int m2m_der_read(const uint8_t *in, size_t len, size_t *off, uint8_t tag,
		 const uint8_t **content, size_t *clen)
{
	size_t o = *off, n, i, k;

	if (o >= len || in[o] != tag || len - o < 2)
		return -1;
	o++;
	n = in[o++];
	if (n & 0x80) {
		k = n & 0x7f;
		if (k == 0 || k > 4 || len - o < k || in[o] == 0)
			return -1;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | in[o++];
		if (n < 0x80 || (k > 1 && n < (size_t)1 << (8 * (k - 1))))
			return -1;	/* not minimal */
	}
	if (len - o < n)
		return -1;
	*content = in + o;
	*clen = n;
	*off = o + n;
	return 0;
}

enum m2m_err m2m_hwmodule_parse(struct m2m_ctx *ctx, const uint8_t *der,
				size_t len, const uint8_t **hw_type,
				size_t *hw_type_len, const uint8_t **serial,
				size_t *serial_len)
{
	const uint8_t *seq, *oid;
	size_t off = 0, seqlen, oidlen, inner = 0, start;

	if (m2m_der_read(der, len, &off, 0x30, &seq, &seqlen) < 0 ||
	    off != len)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "HardwareModuleName is not one DER SEQUENCE");
	start = inner;
	if (m2m_der_read(seq, seqlen, &inner, 0x06, &oid, &oidlen) < 0 ||
	    oidlen == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "HardwareModuleName has no hwType OID");
	*hw_type = seq + start;
	*hw_type_len = inner - start;
	if (m2m_der_read(seq, seqlen, &inner, 0x04, serial, serial_len) < 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "HardwareModuleName has no hwSerialNum OCTET STRING");
	if (inner != seqlen)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "HardwareModuleName has %zu bytes after hwSerialNum",
				 seqlen - inner);
	return M2M_OK;
}
