/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the internal DER helpers in lib/der.h: the bounded writer
 * (every length form at its edges, nested elements closed to minimal
 * lengths, overflow), the reader (tags, definite minimal lengths only,
 * truncation) and the HardwareModuleName parser (the exact encoding of a
 * known value and every malformed variant).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>

#include "../../lib/der.h"
#include "unit.h"

static struct m2m_ctx *ctx;

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

/* The writer holds exactly want[0..n). */
#define CHECK_DER(d, want) do { \
	CHECK_EQ_INT((d)->bad, 0); \
	if (CHECK_EQ_INT((d)->len, sizeof(want))) \
		CHECK_EQ_MEM((d)->buf, (want), sizeof(want)); \
} while (0)

/* hwType 1.3.6.1.4.1.99999.1.1, the example device model OID. */
static const uint8_t hw_oid[] = {
	0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01, 0x01
};

/* PPID 01001a7dda7113: bluetooth 00:1A:7D:DA:71:13. */
static const uint8_t ppid[] = { 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13 };

/* SEQUENCE { hw_oid, OCTET STRING ppid } */
static const uint8_t hwmodule[] = {
	0x30, 0x15,
	0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01, 0x01,
	0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
};

/* ---- writer --------------------------------------------------------------- */

/* tag 0x04 with n content octets of value 0xab: header and content exact. */
static void check_tlv_length(size_t n, const uint8_t *hdr, size_t hdrlen)
{
	static uint8_t content[0x10000], buf[0x10000 + 8];
	struct m2m_der d;
	size_t i;

	memset(content, 0xab, sizeof(content));
	memset(buf, 0, sizeof(buf));
	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x04, content, n);
	CHECK_MSG(d.bad == 0, "length %zu: bad set", n);
	CHECK_MSG(d.len == hdrlen + n, "length %zu: wrote %zu, want %zu", n,
		  d.len, hdrlen + n);
	CHECK_MSG(memcmp(buf, hdr, hdrlen) == 0,
		  "length %zu: header %02x %02x %02x %02x", n, buf[0], buf[1],
		  buf[2], buf[3]);
	for (i = 0; i < n && buf[hdrlen + i] == 0xab; i++)
		;
	CHECK_MSG(i == n, "length %zu: content differs at %zu", n, i);
}

UNIT_TEST(init_starts_empty)
{
	uint8_t buf[4];
	struct m2m_der d;

	d.len = 99;
	d.bad = 1;
	m2m_der_init(&d, buf, sizeof(buf));
	CHECK(d.buf == buf);
	CHECK_EQ_INT(d.size, 4);
	CHECK_EQ_INT(d.len, 0);
	CHECK_EQ_INT(d.bad, 0);
}

UNIT_TEST(tlv_short_and_long_length_forms_at_their_edges)
{
	static const uint8_t h0[] = { 0x04, 0x00 };
	static const uint8_t h1[] = { 0x04, 0x01 };
	static const uint8_t h7f[] = { 0x04, 0x7f };
	static const uint8_t h80[] = { 0x04, 0x81, 0x80 };
	static const uint8_t hff[] = { 0x04, 0x81, 0xff };
	static const uint8_t h100[] = { 0x04, 0x82, 0x01, 0x00 };
	static const uint8_t h1234[] = { 0x04, 0x82, 0x12, 0x34 };
	static const uint8_t hffff[] = { 0x04, 0x82, 0xff, 0xff };

	check_tlv_length(0, h0, sizeof(h0));
	check_tlv_length(1, h1, sizeof(h1));
	check_tlv_length(0x7f, h7f, sizeof(h7f));
	check_tlv_length(0x80, h80, sizeof(h80));
	check_tlv_length(0xff, hff, sizeof(hff));
	check_tlv_length(0x100, h100, sizeof(h100));
	check_tlv_length(0x1234, h1234, sizeof(h1234));
	check_tlv_length(0xffff, hffff, sizeof(hffff));
}

UNIT_TEST(tlv_content_of_64k_or_more_sets_bad)
{
	static uint8_t content[0x10000], buf[0x10000 + 16];
	struct m2m_der d;

	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x04, content, 0x10000);
	CHECK_EQ_INT(d.bad, 1);
}

UNIT_TEST(tlv_sequence_of_elements_exact_bytes)
{
	static const uint8_t want[] = {
		0x02, 0x01, 0x05,		/* INTEGER 5 */
		0x05, 0x00,			/* NULL */
		0x16, 0x03, 'a', 'b', 'c',	/* IA5String "abc" */
	};
	uint8_t buf[32];
	struct m2m_der d;

	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x02, "\x05", 1);
	m2m_der_tlv(&d, 0x05, "", 0);
	m2m_der_tlv(&d, 0x16, "abc", 3);
	CHECK_DER(&d, want);
}

UNIT_TEST(open_close_empty_element_is_two_octets)
{
	static const uint8_t want[] = { 0x30, 0x00 };
	uint8_t buf[16];
	struct m2m_der d;
	size_t m;

	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	CHECK_EQ_INT(m, 0);
	m2m_der_close(&d, m);
	CHECK_DER(&d, want);
}

UNIT_TEST(nested_open_close_gives_minimal_lengths)
{
	/* SEQUENCE { [0] { OID 1.3.6.1.5.5.7.8.4, [0] { hwmodule } } } */
	static const uint8_t want[] = {
		0x30, 0x25, 0xa0, 0x23,
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04,
		0xa0, 0x17,
		0x30, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	uint8_t buf[64];
	struct m2m_der d;
	size_t names, on, val, hw;

	m2m_der_init(&d, buf, sizeof(buf));
	names = m2m_der_open(&d, 0x30);
	on = m2m_der_open(&d, 0xa0);
	m2m_der_tlv(&d, 0x06, m2m_oid_hwmodule, sizeof(m2m_oid_hwmodule));
	val = m2m_der_open(&d, 0xa0);
	hw = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x06, hw_oid + 2, sizeof(hw_oid) - 2);
	m2m_der_tlv(&d, 0x04, ppid, sizeof(ppid));
	m2m_der_close(&d, hw);
	m2m_der_close(&d, val);
	m2m_der_close(&d, on);
	m2m_der_close(&d, names);
	CHECK_DER(&d, want);
}

/* An element opened and closed around n content octets: exact header. */
static void check_open_close(size_t n, const uint8_t *hdr, size_t hdrlen)
{
	static uint8_t content[0x10000], buf[0x10000 + 16];
	struct m2m_der d;
	size_t m, i;

	memset(content, 0x5a, sizeof(content));
	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x05, "", 0);		/* something before it */
	m = m2m_der_open(&d, 0x31);
	CHECK_EQ_INT(m, 2);
	if (n >= 2) {
		/* content: one OCTET STRING, n octets with its header */
		size_t inner = n - 2;

		if (inner >= 0x80)
			inner--;
		if (inner >= 0x100)
			inner--;
		m2m_der_tlv(&d, 0x04, content, inner);
	}
	m2m_der_close(&d, m);
	CHECK_MSG(d.bad == 0, "content %zu: bad set", n);
	CHECK_MSG(d.len == 2 + hdrlen + n, "content %zu: length %zu, want %zu",
		  n, d.len, 2 + hdrlen + n);
	CHECK_MSG(memcmp(buf + 2, hdr, hdrlen) == 0,
		  "content %zu: header %02x %02x %02x %02x", n, buf[2], buf[3],
		  buf[4], buf[5]);
	if (n >= 2) {
		CHECK_MSG(buf[2 + hdrlen] == 0x04, "content %zu: tag %02x", n,
			  buf[2 + hdrlen]);
		for (i = 0; i < n && buf[2 + hdrlen + n - 1 - i] == 0x5a; i++)
			;
		CHECK_MSG(i + 4 >= n, "content %zu: content moved wrongly", n);
	}
}

UNIT_TEST(close_chooses_the_minimal_length_form)
{
	static const uint8_t h2[] = { 0x31, 0x02 };
	static const uint8_t h7f[] = { 0x31, 0x7f };
	static const uint8_t h80[] = { 0x31, 0x81, 0x80 };
	static const uint8_t hff[] = { 0x31, 0x81, 0xff };
	static const uint8_t h100[] = { 0x31, 0x82, 0x01, 0x00 };
	static const uint8_t hffff[] = { 0x31, 0x82, 0xff, 0xff };

	check_open_close(2, h2, sizeof(h2));
	check_open_close(0x7f, h7f, sizeof(h7f));
	check_open_close(0x80, h80, sizeof(h80));
	check_open_close(0xff, hff, sizeof(hff));
	check_open_close(0x100, h100, sizeof(h100));
	check_open_close(0xffff, hffff, sizeof(hffff));
}

UNIT_TEST(close_of_64k_content_sets_bad)
{
	static uint8_t content[0x10000], buf[0x10000 + 16];
	struct m2m_der d;
	size_t m;

	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x04, content, 0xfffc);	/* 4 + 0xfffc = 0x10000 */
	CHECK_EQ_INT(d.bad, 0);
	m2m_der_close(&d, m);
	CHECK_EQ_INT(d.bad, 1);
}

UNIT_TEST(overflow_sets_bad_and_writes_nothing_more)
{
	uint8_t buf[8];
	struct m2m_der d;
	size_t m;

	memset(buf, 0xee, sizeof(buf));
	m2m_der_init(&d, buf, 6);
	m2m_der_tlv(&d, 0x04, "abcd", 4);	/* exactly fits */
	CHECK_EQ_INT(d.bad, 0);
	CHECK_EQ_INT(d.len, 6);
	m2m_der_tlv(&d, 0x05, "", 0);		/* no room */
	CHECK_EQ_INT(d.bad, 1);
	CHECK_EQ_INT(d.len, 6);
	CHECK_EQ_INT(buf[6], 0xee);
	CHECK_EQ_INT(buf[7], 0xee);

	/* Once bad, even what would fit is refused. */
	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x04, "0123456789", 10);
	CHECK_EQ_INT(d.bad, 1);
	m2m_der_tlv(&d, 0x05, "", 0);
	CHECK_EQ_INT(d.bad, 1);
	CHECK(d.len <= sizeof(buf));

	/* The content does not fit, though the header does. */
	m2m_der_init(&d, buf, sizeof(buf));
	m2m_der_tlv(&d, 0x04, "0123456789", 7);
	CHECK_EQ_INT(d.bad, 1);
	CHECK(d.len <= sizeof(buf));

	/* open reserves four octets: no room for them. */
	m2m_der_init(&d, buf, 3);
	m = m2m_der_open(&d, 0x30);
	CHECK_EQ_INT(d.bad, 1);
	m2m_der_close(&d, m);
	CHECK_EQ_INT(d.bad, 1);
	CHECK(d.len <= 3);

	/* A nested element that overflows spoils its parents. */
	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x04, "abcdef", 6);
	m2m_der_close(&d, m);
	CHECK_EQ_INT(d.bad, 1);
}

/* ---- reader ---------------------------------------------------------------- */

/* m2m_der_read of in[0..len) at offset 0 for tag fails, *off unchanged. */
static void check_read_fails(int line, const uint8_t *in, size_t len,
			     uint8_t tag)
{
	const uint8_t *c = NULL;
	size_t off = 0, clen = 12345;

	unit_check(m2m_der_read(in, len, &off, tag, &c, &clen) == -1, __FILE__,
		   line, "read of %zu bytes (%02x %02x ...) accepted", len,
		   len ? in[0] : 0, len > 1 ? in[1] : 0);
	unit_check(off == 0, __FILE__, line, "offset moved to %zu", off);
}
#define CHECK_READ_FAILS(in, len, tag) check_read_fails(__LINE__, in, len, tag)

UNIT_TEST(read_elements_in_sequence)
{
	static const uint8_t in[] = {
		0x02, 0x01, 0x05, 0x05, 0x00, 0x16, 0x03, 'a', 'b', 'c'
	};
	const uint8_t *c;
	size_t off = 0, clen;

	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x02, &c, &clen), 0);
	CHECK(c == in + 2);
	CHECK_EQ_INT(clen, 1);
	CHECK_EQ_INT(off, 3);
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x05, &c, &clen), 0);
	CHECK(c == in + 5);
	CHECK_EQ_INT(clen, 0);
	CHECK_EQ_INT(off, 5);
	/* the wrong tag: -1, nothing moves */
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x04, &c, &clen), -1);
	CHECK_EQ_INT(off, 5);
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x16, &c, &clen), 0);
	CHECK(c == in + 7);
	CHECK_EQ_INT(clen, 3);
	CHECK_EQ_INT(off, 10);
	/* at the end */
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x16, &c, &clen), -1);
	CHECK_EQ_INT(off, 10);
}

UNIT_TEST(read_long_lengths_minimal)
{
	static uint8_t in[4 + 0x10000];
	const uint8_t *c;
	size_t off, clen;

	/* 81 80: 128 octets */
	in[0] = 0x04;
	in[1] = 0x81;
	in[2] = 0x80;
	off = 0;
	CHECK_EQ_INT(m2m_der_read(in, 3 + 0x80, &off, 0x04, &c, &clen), 0);
	CHECK_EQ_INT(clen, 0x80);
	CHECK(c == in + 3);
	CHECK_EQ_INT(off, 3 + 0x80);
	/* 81 ff */
	in[2] = 0xff;
	off = 0;
	CHECK_EQ_INT(m2m_der_read(in, 3 + 0xff, &off, 0x04, &c, &clen), 0);
	CHECK_EQ_INT(clen, 0xff);
	/* 82 01 00 */
	in[1] = 0x82;
	in[2] = 0x01;
	in[3] = 0x00;
	off = 0;
	CHECK_EQ_INT(m2m_der_read(in, 4 + 0x100, &off, 0x04, &c, &clen), 0);
	CHECK_EQ_INT(clen, 0x100);
	CHECK(c == in + 4);
	/* 82 ff ff */
	in[2] = 0xff;
	in[3] = 0xff;
	off = 0;
	CHECK_EQ_INT(m2m_der_read(in, 4 + 0xffff, &off, 0x04, &c, &clen), 0);
	CHECK_EQ_INT(clen, 0xffff);
	CHECK_EQ_INT(off, 4 + 0xffff);
}

UNIT_TEST(read_rejects_non_minimal_lengths)
{
	static uint8_t in[8 + 0x200];
	static const uint8_t l81_00[] = { 0x04, 0x81, 0x00 };
	static const uint8_t l81_05[] = { 0x04, 0x81, 0x05, 1, 2, 3, 4, 5 };
	static const uint8_t l81_7f[] = { 0x04, 0x81, 0x7f };
	static const uint8_t l83[] = { 0x04, 0x83, 0x00, 0x01, 0x00 };

	CHECK_READ_FAILS(l81_00, sizeof(l81_00), 0x04);
	CHECK_READ_FAILS(l81_05, sizeof(l81_05), 0x04);
	/* 81 7f with the 127 octets there */
	memcpy(in, l81_7f, sizeof(l81_7f));
	CHECK_READ_FAILS(in, 3 + 0x7f, 0x04);
	/* 82 00 80 and 82 00 ff: one octet would do */
	in[0] = 0x04;
	in[1] = 0x82;
	in[2] = 0x00;
	in[3] = 0x80;
	CHECK_READ_FAILS(in, 4 + 0x80, 0x04);
	in[3] = 0xff;
	CHECK_READ_FAILS(in, 4 + 0xff, 0x04);
	/* 83 00 01 00: two octets would do (leading zero) */
	memcpy(in, l83, sizeof(l83));
	CHECK_READ_FAILS(in, 5 + 0x100, 0x04);
	/* 84 00 00 01 00 */
	in[1] = 0x84;
	in[2] = 0x00;
	in[3] = 0x00;
	in[4] = 0x01;
	in[5] = 0x00;
	CHECK_READ_FAILS(in, 6 + 0x100, 0x04);
}

UNIT_TEST(read_rejects_indefinite_and_overlong_length_of_length)
{
	static const uint8_t indefinite[] = { 0x30, 0x80, 0x05, 0x00, 0x00, 0x00 };
	static const uint8_t five[] = { 0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t reserved[] = { 0x04, 0xff, 0x01 };

	CHECK_READ_FAILS(indefinite, sizeof(indefinite), 0x30);
	CHECK_READ_FAILS(five, sizeof(five), 0x04);
	CHECK_READ_FAILS(reserved, sizeof(reserved), 0x04);
}

UNIT_TEST(read_rejects_truncated_input)
{
	static const uint8_t content[] = { 0x04, 0x05, 1, 2, 3, 4 };
	static const uint8_t lenlen[] = { 0x04, 0x82, 0x01 };
	static const uint8_t longc[] = { 0x04, 0x81, 0x80, 1, 2, 3 };
	static const uint8_t tag_only[] = { 0x04 };
	static const uint8_t four[] = { 0x04, 0x84, 0x7f, 0xff, 0xff, 0xff, 0 };

	CHECK_READ_FAILS(content, sizeof(content), 0x04);
	CHECK_READ_FAILS(lenlen, sizeof(lenlen), 0x04);
	CHECK_READ_FAILS(lenlen, 2, 0x04);
	CHECK_READ_FAILS(longc, sizeof(longc), 0x04);
	CHECK_READ_FAILS(tag_only, sizeof(tag_only), 0x04);
	CHECK_READ_FAILS(tag_only, 0, 0x04);
	CHECK_READ_FAILS(four, sizeof(four), 0x04);
}

UNIT_TEST(read_at_an_offset_within_bounds)
{
	static const uint8_t in[] = { 0xff, 0xff, 0x04, 0x02, 0xaa, 0xbb, 0x04 };
	const uint8_t *c;
	size_t off = 2, clen;

	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x04, &c, &clen), 0);
	CHECK(c == in + 4);
	CHECK_EQ_INT(clen, 2);
	CHECK_EQ_INT(off, 6);
	/* a lone tag at the end */
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x04, &c, &clen), -1);
	CHECK_EQ_INT(off, 6);
	/* an offset past the end */
	off = 100;
	CHECK_EQ_INT(m2m_der_read(in, sizeof(in), &off, 0x04, &c, &clen), -1);
	CHECK_EQ_INT(off, 100);
}

UNIT_TEST(writer_output_reads_back)
{
	static uint8_t content[300], buf[400];
	struct m2m_der d;
	const uint8_t *c, *s;
	size_t off = 0, clen, soff = 0, slen, m;

	memset(content, 0x11, sizeof(content));
	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x04, content, 200);
	m2m_der_tlv(&d, 0x02, "\x01", 1);
	m2m_der_close(&d, m);
	CHECK_EQ_INT(d.bad, 0);
	CHECK_EQ_INT(d.len, 3 + 3 + 200 + 3);
	CHECK_EQ_INT(m2m_der_read(buf, d.len, &off, 0x30, &s, &slen), 0);
	CHECK_EQ_INT(off, d.len);
	CHECK_EQ_INT(slen, 206);
	CHECK_EQ_INT(m2m_der_read(s, slen, &soff, 0x04, &c, &clen), 0);
	CHECK_EQ_INT(clen, 200);
	CHECK_EQ_INT(m2m_der_read(s, slen, &soff, 0x02, &c, &clen), 0);
	CHECK_EQ_INT(clen, 1);
	CHECK_EQ_INT(c[0], 1);
	CHECK_EQ_INT(soff, slen);
}

/* ---- HardwareModuleName ----------------------------------------------------- */

UNIT_TEST(hwmodule_oid_constant)
{
	static const uint8_t want[] = {
		0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x04
	};

	CHECK_EQ_MEM(m2m_oid_hwmodule, want, sizeof(want));
}

UNIT_TEST(hwmodule_parse_known_value)
{
	const uint8_t *hw = NULL, *sn = NULL;
	size_t hwlen = 0, snlen = 0;

	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(m2m_hwmodule_parse(ctx, hwmodule, sizeof(hwmodule), &hw,
					&hwlen, &sn, &snlen), M2M_OK);
	CHECK(hw == hwmodule + 2);
	if (CHECK_EQ_INT(hwlen, sizeof(hw_oid)))
		CHECK_EQ_MEM(hw, hw_oid, sizeof(hw_oid));
	CHECK(sn == hwmodule + 16);
	if (CHECK_EQ_INT(snlen, sizeof(ppid)))
		CHECK_EQ_MEM(sn, ppid, sizeof(ppid));
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");
}

UNIT_TEST(hwmodule_parse_what_the_writer_makes)
{
	uint8_t buf[64], serial[40];
	struct m2m_der d;
	const uint8_t *hw, *sn;
	size_t hwlen, snlen, m;

	memset(serial, 0x42, sizeof(serial));
	m2m_der_init(&d, buf, sizeof(buf));
	m = m2m_der_open(&d, 0x30);
	m2m_der_tlv(&d, 0x06, "\x67\x81\x05\x01\x02", 5);	/* 2.23.133.1.2 */
	m2m_der_tlv(&d, 0x04, serial, sizeof(serial));
	m2m_der_close(&d, m);
	CHECK_EQ_INT(d.bad, 0);
	CHECK_EQ_INT(m2m_hwmodule_parse(ctx, buf, d.len, &hw, &hwlen, &sn,
					&snlen), M2M_OK);
	CHECK_EQ_INT(hwlen, 7);
	CHECK_EQ_MEM(hw, "\x06\x05\x67\x81\x05\x01\x02", 7);
	CHECK_EQ_INT(snlen, sizeof(serial));
	CHECK_EQ_MEM(sn, serial, sizeof(serial));
}

/* hwmodule parse of in[0..len) fails with M2M_ERR_INVALID and phrase. */
static void check_hw_fails(int line, const uint8_t *in, size_t len,
			   const char *phrase)
{
	const uint8_t *hw, *sn;
	size_t hwlen, snlen;
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_hwmodule_parse(ctx, in, len, &hw, &hwlen, &sn, &snlen);
	unit_check(rc == M2M_ERR_INVALID, __FILE__, line,
		   "hwmodule parse returned %d, want M2M_ERR_INVALID", (int)rc);
	unit_check(strstr(m2m_ctx_detail(ctx), phrase) != NULL, __FILE__, line,
		   "detail \"%s\" lacks \"%s\"", m2m_ctx_detail(ctx), phrase);
}
#define CHECK_HW_FAILS(in, len, phrase) \
	check_hw_fails(__LINE__, (in), (len), (phrase))

UNIT_TEST(hwmodule_parse_rejects_every_malformed_variant)
{
	uint8_t b[64];
	static const uint8_t set[] = {	/* SET instead of SEQUENCE */
		0x31, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	static const uint8_t no_oid[] = {
		0x30, 0x09, 0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	static const uint8_t empty_oid[] = {
		0x30, 0x0b, 0x06, 0x00,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	static const uint8_t no_octets[] = {
		0x30, 0x0c,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01
	};
	static const uint8_t swapped[] = {
		0x30, 0x15,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01
	};
	static const uint8_t bitstring[] = {	/* BIT STRING for the serial */
		0x30, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x03, 0x07, 0x00, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	static const uint8_t extra[] = {	/* a NULL after the serial */
		0x30, 0x17,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13,
		0x05, 0x00
	};
	static const uint8_t long_form[] = {	/* 81 15: not minimal */
		0x30, 0x81, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x07, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};
	static const uint8_t inner_short[] = {	/* OCTET STRING runs past */
		0x30, 0x15,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f,
		0x01, 0x01,
		0x04, 0x08, 0x01, 0x00, 0x1a, 0x7d, 0xda, 0x71, 0x13
	};

	CHECK_HW_FAILS(set, sizeof(set), "is not one DER SEQUENCE");
	CHECK_HW_FAILS(hwmodule, 0, "is not one DER SEQUENCE");
	CHECK_HW_FAILS(hwmodule, sizeof(hwmodule) - 1,
		       "is not one DER SEQUENCE");
	CHECK_HW_FAILS(long_form, sizeof(long_form), "is not one DER SEQUENCE");
	/* trailing bytes after the SEQUENCE */
	memcpy(b, hwmodule, sizeof(hwmodule));
	b[sizeof(hwmodule)] = 0x00;
	CHECK_HW_FAILS(b, sizeof(hwmodule) + 1, "is not one DER SEQUENCE");
	memcpy(b + sizeof(hwmodule), hwmodule, sizeof(hwmodule));
	CHECK_HW_FAILS(b, 2 * sizeof(hwmodule), "is not one DER SEQUENCE");
	CHECK_HW_FAILS(no_oid, sizeof(no_oid), "has no hwType OID");
	CHECK_HW_FAILS(empty_oid, sizeof(empty_oid), "has no hwType OID");
	CHECK_HW_FAILS(swapped, sizeof(swapped), "has no hwType OID");
	CHECK_HW_FAILS(no_octets, sizeof(no_octets),
		       "has no hwSerialNum OCTET STRING");
	CHECK_HW_FAILS(bitstring, sizeof(bitstring),
		       "has no hwSerialNum OCTET STRING");
	CHECK_HW_FAILS(inner_short, sizeof(inner_short),
		       "has no hwSerialNum OCTET STRING");
	CHECK_HW_FAILS(extra, sizeof(extra),
		       "has 2 bytes after hwSerialNum");
	/* an empty SEQUENCE */
	CHECK_HW_FAILS((const uint8_t *)"\x30\x00", 2, "has no hwType OID");
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(init_starts_empty),
		UNIT(tlv_short_and_long_length_forms_at_their_edges),
		UNIT(tlv_content_of_64k_or_more_sets_bad),
		UNIT(tlv_sequence_of_elements_exact_bytes),
		UNIT(open_close_empty_element_is_two_octets),
		UNIT(nested_open_close_gives_minimal_lengths),
		UNIT(close_chooses_the_minimal_length_form),
		UNIT(close_of_64k_content_sets_bad),
		UNIT(overflow_sets_bad_and_writes_nothing_more),
		UNIT(read_elements_in_sequence),
		UNIT(read_long_lengths_minimal),
		UNIT(read_rejects_non_minimal_lengths),
		UNIT(read_rejects_indefinite_and_overlong_length_of_length),
		UNIT(read_rejects_truncated_input),
		UNIT(read_at_an_offset_within_bounds),
		UNIT(writer_output_reads_back),
		UNIT(hwmodule_oid_constant),
		UNIT(hwmodule_parse_known_value),
		UNIT(hwmodule_parse_what_the_writer_makes),
		UNIT(hwmodule_parse_rejects_every_malformed_variant),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
