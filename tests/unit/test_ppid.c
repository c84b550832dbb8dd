/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/ppid.h against shared/spec/identifier.md: the
 * known-answer vectors, every technology's stored form, the header, the
 * text and JSON forms, every rejection rule, and two property tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/ppid.h>

#include "unit.h"

static struct m2m_ctx *ctx;

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

/* Set t's address from the NUL-terminated text; M2M_OK expected. */
#define SET_TEXT(p, t, text) \
	CHECK_EQ_INT(m2m_ppid_set_text(ctx, (p), (t), (text), strlen(text)), \
		     M2M_OK)

#define SET_TEXT_RC(p, t, text) \
	m2m_ppid_set_text(ctx, (p), (t), (text), strlen(text))

#define DECODE_HEX(p, hex) m2m_ppid_decode_hex(ctx, (p), (hex), strlen(hex))

/* The bytes of a lower- or upper-case hex string; their number. */
static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (hex[0] && hex[1] && n < max && sscanf(hex, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* The address of t in p, printed; "" if absent. */
static const char *addr_text(const struct m2m_ppid *p, enum m2m_tech t,
			     char out[M2M_ADDR_TEXT_MAX])
{
	if (!m2m_ppid_format_addr(p, t, out, M2M_ADDR_TEXT_MAX))
		out[0] = '\0';
	return out;
}

/* Check that p encodes to exactly the bytes of hex, and to_hex gives hex. */
#define CHECK_ENCODES(p, hex) do { \
	uint8_t want_[M2M_PPID_MAX], got_[M2M_PPID_MAX]; \
	char hexout_[M2M_PPID_HEX_MAX]; \
	size_t wn_ = unhex((hex), want_, sizeof(want_)), gn_ = 0, hn_ = 0; \
	CHECK_EQ_INT(m2m_ppid_encode(ctx, (p), got_, sizeof(got_), &gn_), \
		     M2M_OK); \
	if (CHECK_EQ_INT(gn_, wn_)) \
		CHECK_EQ_MEM(got_, want_, wn_); \
	CHECK_EQ_INT(m2m_ppid_to_hex(ctx, (p), hexout_, sizeof(hexout_), \
				     &hn_), M2M_OK); \
	CHECK_EQ_STR(hexout_, (hex)); \
	CHECK_EQ_INT(hn_, strlen(hex)); \
} while (0)

/* ---- known-answer vectors of the spec ----------------------------------- */

struct kat {
	const char *hex;
	size_t n;
	struct {
		enum m2m_tech t;
		const char *text;
	} a[4];
	const char *json;
};

static const struct kat kats[] = {
	{ "01001a7dda7113", 1,
	  { { M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13" } },
	  "\"ppid\":\"01001a7dda7113\",\"technologies\":["
	  "{\"name\":\"bluetooth\",\"address\":\"00:1A:7D:DA:71:13\"}]" },
	{ "0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c3", 4,
	  { { M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13" },
	    { M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E" },
	    { M2M_TECH_WMBUS, "KAM:12345678:01:07" },
	    { M2M_TECH_ZIGBEE, "00:12:4B:00:1C:A1:B2:C3" } },
	  "\"ppid\":\"0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2c3\","
	  "\"technologies\":["
	  "{\"name\":\"bluetooth\",\"address\":\"00:1A:7D:DA:71:13\"},"
	  "{\"name\":\"wifi\",\"address\":\"3C:71:BF:4A:0B:2E\"},"
	  "{\"name\":\"wmbus\",\"address\":\"KAM:12345678:01:07\"},"
	  "{\"name\":\"zigbee\",\"address\":\"00:12:4B:00:1C:A1:B2:C3\"}]" },
	{ "c001001b213a4f5c0704a23b1c5d6e80", 2,
	  { { M2M_TECH_ETHERNET, "00:1B:21:3A:4F:5C" },
	    { M2M_TECH_NFC, "04:A2:3B:1C:5D:6E:80" } },
	  "\"ppid\":\"c001001b213a4f5c0704a23b1c5d6e80\",\"technologies\":["
	  "{\"name\":\"ethernet\",\"address\":\"00:1B:21:3A:4F:5C\"},"
	  "{\"name\":\"nfc\",\"address\":\"04:A2:3B:1C:5D:6E:80\"}]" },
};

static void kat_build(const struct kat *k, struct m2m_ppid *p)
{
	size_t i;

	m2m_ppid_init(p);
	for (i = 0; i < k->n; i++)
		SET_TEXT(p, k->a[i].t, k->a[i].text);
}

UNIT_TEST(kat_text_to_binary_and_hex)
{
	struct m2m_ppid p;
	size_t i;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		kat_build(&kats[i], &p);
		CHECK_ENCODES(&p, kats[i].hex);
	}
}

UNIT_TEST(kat_text_in_any_order_gives_same_binary)
{
	struct m2m_ppid p;
	size_t i, j;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		m2m_ppid_init(&p);
		for (j = kats[i].n; j-- > 0;)
			SET_TEXT(&p, kats[i].a[j].t, kats[i].a[j].text);
		CHECK_ENCODES(&p, kats[i].hex);
	}
}

UNIT_TEST(kat_hex_to_text)
{
	char buf[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid p;
	uint64_t mask;
	size_t i, j;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		const struct kat *k = &kats[i];

		CHECK_EQ_INT(DECODE_HEX(&p, k->hex), M2M_OK);
		mask = 0;
		for (j = 0; j < k->n; j++) {
			mask |= (uint64_t)1 << k->a[j].t;
			CHECK_EQ_STR(addr_text(&p, k->a[j].t, buf),
				     k->a[j].text);
		}
		CHECK_EQ_INT(p.mask, mask);
	}
}

UNIT_TEST(kat_binary_decode_and_upper_case_hex)
{
	uint8_t bin[M2M_PPID_MAX];
	char upper[M2M_PPID_HEX_MAX], buf[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid p, q;
	size_t i, j, n;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		n = unhex(kats[i].hex, bin, sizeof(bin));
		CHECK_EQ_INT(m2m_ppid_decode(ctx, &p, bin, n), M2M_OK);
		for (j = 0; kats[i].hex[j]; j++)
			upper[j] = (char)(kats[i].hex[j] >= 'a' ?
					  kats[i].hex[j] - 'a' + 'A' :
					  kats[i].hex[j]);
		upper[j] = '\0';
		CHECK_EQ_INT(DECODE_HEX(&q, upper), M2M_OK);
		CHECK_EQ_INT(q.mask, p.mask);
		for (j = 0; j < kats[i].n; j++)
			CHECK_EQ_STR(addr_text(&q, kats[i].a[j].t, buf),
				     kats[i].a[j].text);
		CHECK_ENCODES(&q, kats[i].hex);
	}
}

UNIT_TEST(kat_json_members_exact)
{
	char out[M2M_PPID_JSON_MAX];
	struct m2m_ppid p;
	size_t i, n;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		kat_build(&kats[i], &p);
		n = 0;
		CHECK_EQ_INT(m2m_ppid_json_members(ctx, &p, out, sizeof(out),
						   &n), M2M_OK);
		CHECK_EQ_STR(out, kats[i].json);
		CHECK_EQ_INT(n, strlen(kats[i].json));
	}
}

UNIT_TEST(json_members_buffer_and_empty)
{
	char out[M2M_PPID_JSON_MAX];
	struct m2m_ppid p;
	size_t need = strlen(kats[1].json);

	kat_build(&kats[1], &p);
	CHECK_EQ_INT(m2m_ppid_json_members(ctx, &p, out, need + 1, NULL),
		     M2M_OK);
	CHECK_EQ_STR(out, kats[1].json);
	CHECK_FAILS(m2m_ppid_json_members(ctx, &p, out, need, NULL),
		    M2M_ERR_USAGE, "too small");
	m2m_ppid_init(&p);
	CHECK_FAILS(m2m_ppid_json_members(ctx, &p, out, sizeof(out), NULL),
		    M2M_ERR_INVALID, "no technology");
}

/* ---- each technology alone ------------------------------------------------ */

struct alone {
	enum m2m_tech t;
	const char *text;	/* accepted input */
	const char *printed;	/* m2m_ppid_format_addr() */
	const char *addr;	/* stored form, hex */
	const char *hex;	/* the whole PPID */
};

static const struct alone alones[] = {
	{ M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13", "00:1A:7D:DA:71:13",
	  "001a7dda7113", "01001a7dda7113" },
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E", "3C:71:BF:4A:0B:2E",
	  "3c71bf4a0b2e", "023c71bf4a0b2e" },
	/* KAM: ((11)<<10 | (1)<<5 | 13) = 0x2C2D, little-endian */
	{ M2M_TECH_WMBUS, "KAM:12345678:01:07", "KAM:12345678:01:07",
	  "2d2c785634120107", "042d2c785634120107" },
	/* ABC = 0x0443; ID 00000001 BCD little-endian; version FF, type 1B */
	{ M2M_TECH_WMBUS, "ABC:00000001:FF:1B", "ABC:00000001:FF:1B",
	  "430401000000ff1b", "04430401000000ff1b" },
	/* ZZZ = 26 * (1024 + 32 + 1) = 0x6B5A */
	{ M2M_TECH_WMBUS, "zzz-98765432-a0-0b", "ZZZ:98765432:A0:0B",
	  "5a6b32547698a00b", "045a6b32547698a00b" },
	{ M2M_TECH_ZIGBEE, "00:12:4B:00:1C:A1:B2:C3",
	  "00:12:4B:00:1C:A1:B2:C3", "00124b001ca1b2c3",
	  "0800124b001ca1b2c3" },
	{ M2M_TECH_LORAWAN, "70:B3:D5:7E:D0:05:A1:B2",
	  "70:B3:D5:7E:D0:05:A1:B2", "70b3d57ed005a1b2",
	  "1070b3d57ed005a1b2" },
	/* 15 BCD digits, first in the high nibble, then 0xF */
	{ M2M_TECH_IMEI, "490154203237518", "490154203237518",
	  "490154203237518f", "20490154203237518f" },
	{ M2M_TECH_IMEI, "356938035643809", "356938035643809",
	  "356938035643809f", "20356938035643809f" },
	{ M2M_TECH_ETHERNET, "00:1B:21:3A:4F:5C", "00:1B:21:3A:4F:5C",
	  "001b213a4f5c", "40001b213a4f5c" },
	/* nfc: header 0x80 0x01, then the length byte and the UID */
	{ M2M_TECH_NFC, "08:12:34:56", "08:12:34:56", "08123456",
	  "80010408123456" },
	{ M2M_TECH_NFC, "04:A2:3B:1C:5D:6E:80", "04:A2:3B:1C:5D:6E:80",
	  "04a23b1c5d6e80", "80010704a23b1c5d6e80" },
	{ M2M_TECH_NFC, "04:11:22:33:44:55:66:77:88:99",
	  "04:11:22:33:44:55:66:77:88:99", "04112233445566778899",
	  "80010a04112233445566778899" },
	/* the NFC UID has no value rules: all zeros is a UID */
	{ M2M_TECH_NFC, "00:00:00:00", "00:00:00:00", "00000000",
	  "80010400000000" },
	{ M2M_TECH_IEEE802154, "00:12:4B:00:00:00:00:01",
	  "00:12:4B:00:00:00:00:01", "00124b0000000001",
	  "800200124b0000000001" },
	/* locally administered (bit 1) is fine; only bit 0 is the group bit */
	{ M2M_TECH_WIFI, "02:00:00:00:00:00", "02:00:00:00:00:00",
	  "020000000000", "02020000000000" },
	{ M2M_TECH_ZIGBEE, "FE:FF:FF:FF:FF:FF:FF:FF",
	  "FE:FF:FF:FF:FF:FF:FF:FF", "feffffffffffffff",
	  "08feffffffffffffff" },
};

UNIT_TEST(each_technology_alone_text_to_binary)
{
	uint8_t want[M2M_ADDR_MAX];
	const uint8_t *a;
	struct m2m_ppid p;
	size_t i, n, alen;
	int t;

	for (i = 0; i < UNIT_COUNT(alones); i++) {
		const struct alone *x = &alones[i];

		m2m_ppid_init(&p);
		SET_TEXT(&p, x->t, x->text);
		CHECK_EQ_INT(p.mask, (uint64_t)1 << x->t);
		for (t = 0; t < M2M_TECH_COUNT; t++)
			CHECK_EQ_INT(m2m_ppid_has(&p, t), t == (int)x->t);
		n = unhex(x->addr, want, sizeof(want));
		a = m2m_ppid_addr(&p, x->t, &alen);
		if (CHECK(a != NULL) && CHECK_EQ_INT(alen, n))
			CHECK_EQ_MEM(a, want, n);
		CHECK_ENCODES(&p, x->hex);
	}
}

UNIT_TEST(each_technology_alone_binary_to_text)
{
	char buf[M2M_ADDR_TEXT_MAX];
	uint8_t want[M2M_ADDR_MAX];
	const uint8_t *a;
	struct m2m_ppid p;
	size_t i, n, alen;

	for (i = 0; i < UNIT_COUNT(alones); i++) {
		const struct alone *x = &alones[i];

		if (!CHECK_EQ_INT(DECODE_HEX(&p, x->hex), M2M_OK))
			continue;
		CHECK_EQ_INT(p.mask, (uint64_t)1 << x->t);
		CHECK_EQ_STR(addr_text(&p, x->t, buf), x->printed);
		CHECK_EQ_INT(m2m_ppid_format_addr(&p, x->t, buf, sizeof(buf)),
			     strlen(x->printed));
		n = unhex(x->addr, want, sizeof(want));
		a = m2m_ppid_addr(&p, x->t, &alen);
		if (CHECK(a != NULL) && CHECK_EQ_INT(alen, n))
			CHECK_EQ_MEM(a, want, n);
	}
}

UNIT_TEST(set_addr_stores_binary_form)
{
	static const uint8_t uid[7] = { 0x04, 0xa2, 0x3b, 0x1c, 0x5d, 0x6e,
					0x80 };
	static const uint8_t kam[8] = { 0x2d, 0x2c, 0x78, 0x56, 0x34, 0x12,
					0x01, 0x07 };
	char buf[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid p;

	m2m_ppid_init(&p);
	CHECK_EQ_INT(m2m_ppid_set_addr(ctx, &p, M2M_TECH_NFC, uid, 7), M2M_OK);
	CHECK_EQ_INT(m2m_ppid_set_addr(ctx, &p, M2M_TECH_WMBUS, kam, 8),
		     M2M_OK);
	CHECK_EQ_STR(addr_text(&p, M2M_TECH_NFC, buf), "04:A2:3B:1C:5D:6E:80");
	CHECK_EQ_STR(addr_text(&p, M2M_TECH_WMBUS, buf), "KAM:12345678:01:07");
	CHECK_ENCODES(&p, "84012d2c7856341201070704a23b1c5d6e80");
}

UNIT_TEST(set_addr_rejects_wrong_length)
{
	static const uint8_t b[11] = { 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct m2m_ppid p, before;

	m2m_ppid_init(&p);
	memcpy(&before, &p, sizeof(p));
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_WIFI, b, 5),
		    M2M_ERR_INVALID, "wifi address is 5 bytes long, not 6");
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_ZIGBEE, b, 6),
		    M2M_ERR_INVALID, "zigbee address is 6 bytes long, not 8");
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_IMEI, b, 9),
		    M2M_ERR_INVALID, "not 8");
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_NFC, b, 5),
		    M2M_ERR_INVALID, "not 4, 7 or 10");
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_NFC, b, 11),
		    M2M_ERR_INVALID, "not 4, 7 or 10");
	CHECK_FAILS(m2m_ppid_set_addr(ctx, &p, M2M_TECH_COUNT, b, 6),
		    M2M_ERR_USAGE, "not assigned");
	CHECK_EQ_MEM(&p, &before, sizeof(p));
	CHECK_EQ_INT(m2m_ppid_set_addr(ctx, &p, M2M_TECH_NFC, b, 10), M2M_OK);
	CHECK_EQ_INT(m2m_ppid_set_addr(ctx, &p, M2M_TECH_NFC, b, 4),
		     M2M_ERR_DUPLICATE);
}

/* ---- header --------------------------------------------------------------- */

UNIT_TEST(header_tech_7_and_up_needs_two_bytes)
{
	struct m2m_ppid p;

	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_ETHERNET, "00:1B:21:3A:4F:5C");
	SET_TEXT(&p, M2M_TECH_NFC, "04:A2:3B:1C:5D:6E:80");
	CHECK_ENCODES(&p, "c001001b213a4f5c0704a23b1c5d6e80");

	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_IEEE802154, "00:12:4B:00:00:00:00:01");
	CHECK_ENCODES(&p, "800200124b0000000001");

	/* nfc + ieee802154: mask 0x180 */
	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_NFC, "08:12:34:56");
	SET_TEXT(&p, M2M_TECH_IEEE802154, "00:12:4B:00:00:00:00:01");
	CHECK_ENCODES(&p, "8003040812345600124b0000000001");
}

UNIT_TEST(header_one_byte_up_to_tech_6)
{
	struct m2m_ppid p;

	/* wifi + ethernet: 0x42, one header byte, no extension bit */
	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_ETHERNET, "00:1B:21:3A:4F:5C");
	SET_TEXT(&p, M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E");
	CHECK_ENCODES(&p, "423c71bf4a0b2e001b213a4f5c");

	/* bits 0..6 all set: 0x7f, still one byte */
	SET_TEXT(&p, M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13");
	SET_TEXT(&p, M2M_TECH_WMBUS, "KAM:12345678:01:07");
	SET_TEXT(&p, M2M_TECH_ZIGBEE, "00:12:4B:00:1C:A1:B2:C3");
	SET_TEXT(&p, M2M_TECH_LORAWAN, "70:B3:D5:7E:D0:05:A1:B2");
	SET_TEXT(&p, M2M_TECH_IMEI, "490154203237518");
	CHECK_ENCODES(&p, "7f001a7dda71133c71bf4a0b2e2d2c785634120107"
		      "00124b001ca1b2c370b3d57ed005a1b2490154203237518f"
		      "001b213a4f5c");
}

UNIT_TEST(header_all_technologies)
{
	uint8_t bin[M2M_PPID_MAX];
	struct m2m_ppid p, q;
	size_t n = 0;

	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13");
	SET_TEXT(&p, M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E");
	SET_TEXT(&p, M2M_TECH_WMBUS, "KAM:12345678:01:07");
	SET_TEXT(&p, M2M_TECH_ZIGBEE, "00:12:4B:00:1C:A1:B2:C3");
	SET_TEXT(&p, M2M_TECH_LORAWAN, "70:B3:D5:7E:D0:05:A1:B2");
	SET_TEXT(&p, M2M_TECH_IMEI, "490154203237518");
	SET_TEXT(&p, M2M_TECH_ETHERNET, "00:1B:21:3A:4F:5C");
	SET_TEXT(&p, M2M_TECH_NFC, "04:11:22:33:44:55:66:77:88:99");
	SET_TEXT(&p, M2M_TECH_IEEE802154, "00:12:4B:00:00:00:00:01");
	CHECK_EQ_INT(p.mask, 0x1ff);
	CHECK_ENCODES(&p, "ff03001a7dda71133c71bf4a0b2e2d2c785634120107"
		      "00124b001ca1b2c370b3d57ed005a1b2490154203237518f"
		      "001b213a4f5c0a04112233445566778899"
		      "00124b0000000001");
	/* The longest PPID of the registry: 2 + 3*6 + 5*8 + 1 + 10 bytes. */
	CHECK_EQ_INT(m2m_ppid_encode(ctx, &p, bin, sizeof(bin), &n), M2M_OK);
	CHECK_EQ_INT(n, 71);
	CHECK_EQ_INT(m2m_ppid_decode(ctx, &q, bin, n), M2M_OK);
	CHECK_EQ_MEM(&q, &p, sizeof(p));
}

/* ---- names ------------------------------------------------------------- */

UNIT_TEST(tech_name_of_every_bit)
{
	static const char *const names[M2M_TECH_COUNT] = {
		"bluetooth", "wifi", "wmbus", "zigbee", "lorawan", "imei",
		"ethernet", "nfc", "ieee802154",
	};
	int t;

	for (t = 0; t < M2M_TECH_COUNT; t++)
		CHECK_EQ_STR(m2m_tech_name(t), names[t]);
	CHECK_EQ_STR(m2m_tech_name(M2M_TECH_COUNT), NULL);
	CHECK_EQ_STR(m2m_tech_name((enum m2m_tech)63), NULL);
	CHECK_EQ_STR(m2m_tech_name((enum m2m_tech)-1), NULL);
}

UNIT_TEST(tech_lookup_case_insensitive)
{
	int t;

	for (t = 0; t < M2M_TECH_COUNT; t++) {
		const char *n = m2m_tech_name(t);

		CHECK_EQ_INT(m2m_tech_lookup(n, strlen(n)), t);
	}
	CHECK_EQ_INT(m2m_tech_lookup("WiFi", 4), M2M_TECH_WIFI);
	CHECK_EQ_INT(m2m_tech_lookup("BLUETOOTH", 9), M2M_TECH_BLUETOOTH);
	CHECK_EQ_INT(m2m_tech_lookup("IEEE802154", 10), M2M_TECH_IEEE802154);
	CHECK_EQ_INT(m2m_tech_lookup("nFc", 3), M2M_TECH_NFC);
	/* name[0..len): no NUL needed, the rest is not looked at */
	CHECK_EQ_INT(m2m_tech_lookup("imei,wifi", 4), M2M_TECH_IMEI);
}

UNIT_TEST(tech_lookup_unknown_is_minus_one)
{
	CHECK_EQ_INT(m2m_tech_lookup("", 0), -1);
	CHECK_EQ_INT(m2m_tech_lookup("wif", 3), -1);
	CHECK_EQ_INT(m2m_tech_lookup("wifi2", 5), -1);
	CHECK_EQ_INT(m2m_tech_lookup("wi-fi", 5), -1);
	CHECK_EQ_INT(m2m_tech_lookup("lte", 3), -1);
	CHECK_EQ_INT(m2m_tech_lookup("serial", 6), -1);
	CHECK_EQ_INT(m2m_tech_lookup(" wifi", 5), -1);
	CHECK_EQ_INT(m2m_tech_lookup("wifi\0", 5), -1);
}

/* ---- accessors ------------------------------------------------------------ */

UNIT_TEST(has_addr_format_on_absent_or_out_of_range)
{
	char buf[M2M_ADDR_TEXT_MAX + 8];
	struct m2m_ppid p;
	size_t len = 99;

	m2m_ppid_init(&p);
	CHECK_EQ_INT(p.mask, 0);
	CHECK_EQ_INT(m2m_ppid_has(&p, M2M_TECH_WIFI), 0);
	CHECK(m2m_ppid_addr(&p, M2M_TECH_WIFI, &len) == NULL);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(m2m_ppid_format_addr(&p, M2M_TECH_WIFI, buf, sizeof(buf)),
		     0);
	SET_TEXT(&p, M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E");
	CHECK_EQ_INT(m2m_ppid_has(&p, M2M_TECH_COUNT), 0);
	CHECK_EQ_INT(m2m_ppid_has(&p, (enum m2m_tech)-1), 0);
	CHECK(m2m_ppid_addr(&p, M2M_TECH_COUNT, &len) == NULL);
	CHECK_EQ_INT(m2m_ppid_format_addr(&p, M2M_TECH_COUNT, buf,
					  sizeof(buf)), 0);
	/* size below M2M_ADDR_TEXT_MAX: 0, even if the address would fit */
	CHECK_EQ_INT(m2m_ppid_format_addr(&p, M2M_TECH_WIFI, buf,
					  M2M_ADDR_TEXT_MAX - 1), 0);
	CHECK_EQ_INT(m2m_ppid_format_addr(&p, M2M_TECH_WIFI, buf,
					  M2M_ADDR_TEXT_MAX), 17);
	CHECK_EQ_STR(buf, "3C:71:BF:4A:0B:2E");
}

/* ---- text forms ------------------------------------------------------------ */

UNIT_TEST(text_forms_accept_dash_and_lower_case)
{
	static const struct {
		enum m2m_tech t;
		const char *in, *out;
	} v[] = {
		{ M2M_TECH_BLUETOOTH, "00-1a-7d-da-71-13", "00:1A:7D:DA:71:13" },
		{ M2M_TECH_WIFI, "3c:71:bf:4a:0b:2e", "3C:71:BF:4A:0B:2E" },
		{ M2M_TECH_WIFI, "3C-71-BF-4A-0B-2E", "3C:71:BF:4A:0B:2E" },
		{ M2M_TECH_WMBUS, "kam-12345678-01-07", "KAM:12345678:01:07" },
		{ M2M_TECH_WMBUS, "Kam:12345678:0a:Ff", "KAM:12345678:0A:FF" },
		{ M2M_TECH_ZIGBEE, "00-12-4b-00-1c-a1-b2-c3",
		  "00:12:4B:00:1C:A1:B2:C3" },
		{ M2M_TECH_LORAWAN, "70-b3-d5-7e-d0-05-a1-b2",
		  "70:B3:D5:7E:D0:05:A1:B2" },
		{ M2M_TECH_ETHERNET, "00-1b-21-3a-4f-5c", "00:1B:21:3A:4F:5C" },
		{ M2M_TECH_NFC, "04-a2-3b-1c-5d-6e-80", "04:A2:3B:1C:5D:6E:80" },
		{ M2M_TECH_IEEE802154, "00-12-4b-00-00-00-00-01",
		  "00:12:4B:00:00:00:00:01" },
	};
	char buf[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid p;
	size_t i;

	for (i = 0; i < UNIT_COUNT(v); i++) {
		m2m_ppid_init(&p);
		SET_TEXT(&p, v[i].t, v[i].in);
		CHECK_EQ_STR(addr_text(&p, v[i].t, buf), v[i].out);
	}
}

UNIT_TEST(set_text_reads_only_len_bytes)
{
	char buf[M2M_ADDR_TEXT_MAX];
	struct m2m_ppid p;

	m2m_ppid_init(&p);
	CHECK_EQ_INT(m2m_ppid_set_text(ctx, &p, M2M_TECH_WIFI,
				       "3C:71:BF:4A:0B:2E:FF", 17), M2M_OK);
	CHECK_EQ_STR(addr_text(&p, M2M_TECH_WIFI, buf), "3C:71:BF:4A:0B:2E");
	CHECK_EQ_INT(m2m_ppid_set_text(ctx, &p, M2M_TECH_IMEI,
				       "4901542032375189", 15), M2M_OK);
	CHECK_EQ_STR(addr_text(&p, M2M_TECH_IMEI, buf), "490154203237518");
}

UNIT_TEST(set_text_duplicate_leaves_p_unchanged)
{
	struct m2m_ppid p, before;
	int t;

	for (t = 0; t < M2M_TECH_COUNT; t++) {
		size_t i;

		for (i = 0; i < UNIT_COUNT(alones); i++)
			if (alones[i].t == (enum m2m_tech)t)
				break;
		m2m_ppid_init(&p);
		SET_TEXT(&p, t, alones[i].text);
		memcpy(&before, &p, sizeof(p));
		/* the same address again, and another (valid) one */
		CHECK_FAILS(SET_TEXT_RC(&p, t, alones[i].text),
			    M2M_ERR_DUPLICATE, "given twice");
		CHECK_CONTAINS(m2m_ctx_detail(ctx), m2m_tech_name(t));
		CHECK_EQ_MEM(&p, &before, sizeof(p));
	}
	m2m_ppid_init(&p);
	SET_TEXT(&p, M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E");
	memcpy(&before, &p, sizeof(p));
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_WIFI, "02:00:00:00:00:01"),
		    M2M_ERR_DUPLICATE, "wifi given twice");
	/* also when the new text is malformed: the duplicate is named */
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_WIFI, "nonsense"),
		    M2M_ERR_DUPLICATE, "wifi given twice");
	CHECK_EQ_MEM(&p, &before, sizeof(p));
}

UNIT_TEST(set_text_unassigned_technology_is_usage)
{
	struct m2m_ppid p, before;

	m2m_ppid_init(&p);
	memcpy(&before, &p, sizeof(p));
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_COUNT, "00:1A:7D:DA:71:13"),
		    M2M_ERR_USAGE, "technology bit 9 is not assigned");
	CHECK_FAILS(SET_TEXT_RC(&p, (enum m2m_tech)63, "00:1A:7D:DA:71:13"),
		    M2M_ERR_USAGE, "not assigned");
	CHECK_EQ_MEM(&p, &before, sizeof(p));
}

/* Each rejected text leaves a p holding other addresses unchanged. */
struct bad_text {
	enum m2m_tech t;
	const char *text;
	const char *phrase;
};

static const struct bad_text bad_texts[] = {
	{ M2M_TECH_WIFI, "", "empty address" },
	/* EUI-48 / EUI-64 shape */
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E:00", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B:2E:", "is not six hex bytes" },
	{ M2M_TECH_WIFI, ":3C:71:BF:4A:0B:2E", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C71BF4A0B2E", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B:2", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C:71:BF:4A:0B:2G", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C::71:BF:4A:0B:2E", "is not six hex bytes" },
	{ M2M_TECH_WIFI, "3C.71.BF.4A.0B.2E", "is not six hex bytes" },
	{ M2M_TECH_WIFI, " 3C:71:BF:4A:0B:2E", "is not six hex bytes" },
	{ M2M_TECH_ETHERNET, "0:1B:21:3A:4F:5C", "is not six hex bytes" },
	{ M2M_TECH_BLUETOOTH, "00:1A:7D:DA:71:13:00:00",
	  "is not six hex bytes" },
	{ M2M_TECH_ZIGBEE, "00:12:4B:00:1C:A1:B2", "is not eight hex bytes" },
	{ M2M_TECH_LORAWAN, "70:B3:D5:7E:D0:05", "is not eight hex bytes" },
	{ M2M_TECH_IEEE802154, "00:12:4B:00:00:00:00:01:02",
	  "is not eight hex bytes" },
	/* EUI-48 / EUI-64 validity rules */
	{ M2M_TECH_BLUETOOTH, "00:00:00:00:00:00", "is all zeros" },
	{ M2M_TECH_WIFI, "00:00:00:00:00:00", "is all zeros" },
	{ M2M_TECH_ETHERNET, "00-00-00-00-00-00", "is all zeros" },
	{ M2M_TECH_ZIGBEE, "00:00:00:00:00:00:00:00", "is all zeros" },
	{ M2M_TECH_LORAWAN, "00:00:00:00:00:00:00:00", "is all zeros" },
	{ M2M_TECH_IEEE802154, "00:00:00:00:00:00:00:00", "is all zeros" },
	{ M2M_TECH_BLUETOOTH, "FF:FF:FF:FF:FF:FF", "is all ones" },
	{ M2M_TECH_WIFI, "ff:ff:ff:ff:ff:ff", "is all ones" },
	{ M2M_TECH_ETHERNET, "FF:FF:FF:FF:FF:FF", "is all ones" },
	{ M2M_TECH_ZIGBEE, "FF:FF:FF:FF:FF:FF:FF:FF", "is all ones" },
	{ M2M_TECH_LORAWAN, "FF:FF:FF:FF:FF:FF:FF:FF", "is all ones" },
	{ M2M_TECH_IEEE802154, "FF:FF:FF:FF:FF:FF:FF:FF", "is all ones" },
	{ M2M_TECH_BLUETOOTH, "01:1A:7D:DA:71:13", "group (multicast) bit" },
	{ M2M_TECH_WIFI, "01:00:5E:00:00:FB", "group (multicast) bit" },
	{ M2M_TECH_WIFI, "33:33:00:00:00:01", "group (multicast) bit" },
	{ M2M_TECH_ETHERNET, "03:00:00:00:00:00", "group (multicast) bit" },
	{ M2M_TECH_ZIGBEE, "01:12:4B:00:1C:A1:B2:C3",
	  "group (multicast) bit" },
	{ M2M_TECH_LORAWAN, "71:B3:D5:7E:D0:05:A1:B2",
	  "group (multicast) bit" },
	{ M2M_TECH_IEEE802154, "FF:FF:FF:FF:FF:FF:FF:FE",
	  "group (multicast) bit" },
	/* IMEI */
	{ M2M_TECH_IMEI, "490154203237519",
	  "fails the Luhn check (the check digit should be 8)" },
	{ M2M_TECH_IMEI, "490154203237510", "fails the Luhn check" },
	{ M2M_TECH_IMEI, "356938035643808",
	  "fails the Luhn check (the check digit should be 9)" },
	{ M2M_TECH_IMEI, "49015420323751X", "is not 15 decimal digits" },
	{ M2M_TECH_IMEI, "4901542032375-8", "is not 15 decimal digits" },
	{ M2M_TECH_IMEI, "49015420323751", "is not 15 decimal digits" },
	{ M2M_TECH_IMEI, "4901542032375180", "is not 15 decimal digits" },
	{ M2M_TECH_IMEI, " 49015420323751", "is not 15 decimal digits" },
	/* wM-Bus */
	{ M2M_TECH_WMBUS, "K1M:12345678:01:07", "three letters A-Z" },
	{ M2M_TECH_WMBUS, "KA:12345678:01:07", "three letters A-Z" },
	{ M2M_TECH_WMBUS, "KAMS:12345678:01:07", "three letters A-Z" },
	{ M2M_TECH_WMBUS, "K@M:12345678:01:07", "three letters A-Z" },
	{ M2M_TECH_WMBUS, "K[M:12345678:01:07", "three letters A-Z" },
	{ M2M_TECH_WMBUS, "KAM:1234567A:01:07", "eight decimal digits" },
	{ M2M_TECH_WMBUS, "KAM:1234567:01:07", "eight decimal digits" },
	{ M2M_TECH_WMBUS, "KAM:123456789:01:07", "eight decimal digits" },
	{ M2M_TECH_WMBUS, "KAM:12345678:1:07", "two hex digits each" },
	{ M2M_TECH_WMBUS, "KAM:12345678:0G:07", "two hex digits each" },
	{ M2M_TECH_WMBUS, "KAM:12345678:01:007", "two hex digits each" },
	{ M2M_TECH_WMBUS, "KAM:12345678:01:", "two hex digits each" },
	{ M2M_TECH_WMBUS, "KAM:12345678:01", "is not MFR:ID:VER:TYPE" },
	{ M2M_TECH_WMBUS, "KAM:12345678:01:07:00", "is not MFR:ID:VER:TYPE" },
	{ M2M_TECH_WMBUS, "KAM12345678", "is not MFR:ID:VER:TYPE" },
	/* NFC */
	{ M2M_TECH_NFC, "04:A2:3B:1C:5D",
	  "is 5 bytes long; an NFC UID is 4, 7 or 10 bytes" },
	{ M2M_TECH_NFC, "04:A2:3B", "is 3 bytes long" },
	{ M2M_TECH_NFC, "04:11:22:33:44:55:66:77", "is 8 bytes long" },
	{ M2M_TECH_NFC, "04:11:22:33:44:55:66:77:88:99:AA", "is 11 bytes long" },
	{ M2M_TECH_NFC, "04:11:22:33:44:55:66:77:88:99:AA:BB",
	  "is 12 bytes long; an NFC UID is 4, 7 or 10 bytes" },
	{ M2M_TECH_NFC, "04:A2:3B:1C:5D:6E:8", "is not hex bytes" },
	{ M2M_TECH_NFC, "04A23B1C", "is not hex bytes" },
};

UNIT_TEST(set_text_rejections_with_detail_and_p_unchanged)
{
	struct m2m_ppid p, before;
	size_t i;

	for (i = 0; i < UNIT_COUNT(bad_texts); i++) {
		const struct bad_text *b = &bad_texts[i];

		m2m_ppid_init(&p);
		/* another technology than the one under test */
		if (b->t == M2M_TECH_NFC)
			SET_TEXT(&p, M2M_TECH_IMEI, "490154203237518");
		else
			SET_TEXT(&p, M2M_TECH_NFC, "08:12:34:56");
		memcpy(&before, &p, sizeof(p));
		m2m_ctx_clear_error(ctx);
		CHECK_MSG(SET_TEXT_RC(&p, b->t, b->text) == M2M_ERR_INVALID,
			  "%s '%s' is not rejected as invalid",
			  m2m_tech_name(b->t), b->text);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), b->phrase);
		CHECK_EQ_MEM(&p, &before, sizeof(p));
	}
}

UNIT_TEST(set_text_detail_quotes_the_text)
{
	struct m2m_ppid p;

	m2m_ppid_init(&p);
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_WIFI, "01:00:5E:00:00:FB"),
		    M2M_ERR_INVALID,
		    "'01:00:5E:00:00:FB' has the group (multicast) bit set");
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_IMEI, "490154203237519"),
		    M2M_ERR_INVALID, "'490154203237519' fails the Luhn check");
	CHECK_FAILS(SET_TEXT_RC(&p, M2M_TECH_ZIGBEE, "zz"), M2M_ERR_INVALID,
		    "'zz' is not eight hex bytes like 00:12:4B:00:1C:A1:B2:C3");
	/* non-printable bytes are not copied into the detail */
	CHECK_FAILS(m2m_ppid_set_text(ctx, &p, M2M_TECH_WIFI, "a\n\x01", 3),
		    M2M_ERR_INVALID, "is not six hex bytes");
	CHECK(strchr(m2m_ctx_detail(ctx), '\n') == NULL);
	CHECK(strchr(m2m_ctx_detail(ctx), '\x01') == NULL);
	CHECK_EQ_INT(p.mask, 0);
}

/* ---- encode ---------------------------------------------------------------- */

UNIT_TEST(encode_buffer_too_small_is_usage)
{
	uint8_t out[M2M_PPID_MAX];
	char hex[M2M_PPID_HEX_MAX];
	struct m2m_ppid p;
	size_t n = 12345;

	kat_build(&kats[1], &p);	/* 29 bytes */
	CHECK_FAILS(m2m_ppid_encode(ctx, &p, out, 28, &n), M2M_ERR_USAGE,
		    "too small");
	CHECK_FAILS(m2m_ppid_encode(ctx, &p, out, 0, &n), M2M_ERR_USAGE,
		    "too small");
	CHECK_EQ_INT(m2m_ppid_encode(ctx, &p, out, 29, &n), M2M_OK);
	CHECK_EQ_INT(n, 29);
	CHECK_FAILS(m2m_ppid_to_hex(ctx, &p, hex, 58, NULL), M2M_ERR_USAGE,
		    "too small");
	CHECK_EQ_INT(m2m_ppid_to_hex(ctx, &p, hex, 59, NULL), M2M_OK);
	CHECK_EQ_STR(hex, kats[1].hex);
}

UNIT_TEST(encode_empty_ppid_is_invalid)
{
	uint8_t out[M2M_PPID_MAX];
	char hex[M2M_PPID_HEX_MAX];
	struct m2m_ppid p;
	size_t n;

	m2m_ppid_init(&p);
	CHECK_FAILS(m2m_ppid_encode(ctx, &p, out, sizeof(out), &n),
		    M2M_ERR_INVALID, "no technology");
	CHECK_FAILS(m2m_ppid_to_hex(ctx, &p, hex, sizeof(hex), &n),
		    M2M_ERR_INVALID, "no technology");
}

/* ---- decode: every rejection rule ---------------------------------------- */

struct bad_hex {
	const char *hex;
	const char *phrase;	/* key phrase of the detail */
	const char *where;	/* "byte N" the detail must name, or NULL */
};

static const struct bad_hex bad_hexes[] = {
	/* header */
	{ "8100", "header is not minimal", "byte 1" },
	{ "8000", "header is not minimal", "byte 1" },
	{ "c08000001b213a4f5c", "header is not minimal", "byte 2" },
	{ "8100001a7dda7113", "header is not minimal", "byte 1" },
	{ "00", "header names no technology", NULL },
	{ "00001a7dda7113", "header names no technology", NULL },
	{ "8004", "unknown technology bit 9", "byte 1" },
	{ "8040", "unknown technology bit 13", "byte 1" },
	{ "808001", "unknown technology bit 14", "byte 2" },
	{ "8f7f", "unknown technology bit 9", "byte 1" },
	{ "8080808080808080808080", "header is longer than 10 bytes",
	  "byte 10" },
	{ "8080808080808080808000", "header is longer than 10 bytes",
	  "byte 10" },
	{ "80808080808080808080", "header is truncated", "byte 9" },
	{ "80", "header is truncated", "byte 0" },
	{ "ff", "header is truncated", "byte 0" },
	{ "8181", "header is truncated", "byte 1" },
	/* addresses: length */
	{ "01", "bluetooth address is truncated (0 of 6 bytes)", "byte 1" },
	{ "01001a7dda71", "bluetooth address is truncated (5 of 6 bytes)",
	  "byte 1" },
	{ "0f001a7dda71133c71bf4a0b2e2d2c78563412010700124b001ca1b2",
	  "zigbee address is truncated (7 of 8 bytes)", "byte 21" },
	{ "8002", "ieee802154 address is truncated (0 of 8 bytes)",
	  "byte 2" },
	{ "8001", "nfc length byte is missing", "byte 2" },
	{ "c001001b213a4f5c", "nfc length byte is missing", "byte 8" },
	{ "800105a23b1c5d6e", "nfc UID length is 5, not 4, 7 or 10",
	  "byte 2" },
	{ "800100", "nfc UID length is 0", "byte 2" },
	{ "8001ff", "nfc UID length is 255", "byte 2" },
	{ "80010b0411223344556677889900", "nfc UID length is 11", "byte 2" },
	{ "80010704a23b1c5d6e", "nfc address is truncated (6 of 7 bytes)",
	  "byte 3" },
	{ "01001a7dda711300", "1 byte left over after the last address",
	  "byte 7" },
	{ "80010408123456ffff", "2 bytes left over", "byte 7" },
	/* addresses: EUI-48 / EUI-64 */
	{ "01000000000000", "is all zeros", "byte 1" },
	{ "02ffffffffffff", "is all ones", "byte 1" },
	{ "40010000000000", "group (multicast) bit", "byte 1" },
	{ "080000000000000000", "is all zeros", "byte 1" },
	{ "10ffffffffffffffff", "is all ones", "byte 1" },
	{ "8002010000000000000000", "group (multicast) bit", "byte 2" },
	{ "023c71bf4a0b2e", NULL, NULL },	/* (valid, for contrast) */
	{ "03001a7dda7113333300000001", "wifi address 33:33:00:00:00:01 has the group (multicast) bit set",
	  "byte 7" },
	/* addresses: IMEI */
	{ "20490154203237519f", "fails the Luhn check", "byte 1" },
	{ "20490154203237518e", "is not 15 BCD digits followed by 0xF",
	  "byte 1" },
	{ "20490154203237518a", "is not 15 BCD digits followed by 0xF",
	  "byte 1" },
	{ "204a0154203237518f", "is not 15 BCD digits followed by 0xF",
	  "byte 1" },
	{ "2049015420323751ff", "is not 15 BCD digits followed by 0xF",
	  "byte 1" },
	/* addresses: wM-Bus */
	{ "040000785634120107",
	  "has manufacturer code 0x0000, which is not three letters A-Z",
	  "byte 1" },
	{ "042dac785634120107", "manufacturer code 0xAC2D", "byte 1" },
	{ "043b04785634120107", "manufacturer code 0x043B", "byte 1" },
	{ "04ff7f785634120107", "manufacturer code 0x7FFF", "byte 1" },
	{ "0400ac785634120107", "manufacturer code 0xAC00", "byte 1" },
	{ "042d2c7a5634120107",
	  "identification number that is not eight BCD digits", "byte 1" },
	{ "042d2c785634f20107", "not eight BCD digits", "byte 1" },
	{ "012d2c785634120107aa", "group (multicast) bit", "byte 1" },
};

UNIT_TEST(decode_rejection_rules)
{
	uint8_t bin[M2M_PPID_MAX];
	struct m2m_ppid p;
	size_t i, n;
	enum m2m_err rc;

	for (i = 0; i < UNIT_COUNT(bad_hexes); i++) {
		const struct bad_hex *b = &bad_hexes[i];

		m2m_ctx_clear_error(ctx);
		rc = DECODE_HEX(&p, b->hex);
		if (!b->phrase) {
			CHECK_EQ_INT(rc, M2M_OK);
			continue;
		}
		CHECK_MSG(rc == M2M_ERR_INVALID,
			  "%s: got %d, want M2M_ERR_INVALID", b->hex, rc);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), b->phrase);
		if (b->where)
			CHECK_CONTAINS(m2m_ctx_detail(ctx), b->where);
		/* the binary decoder gives the same verdict */
		n = unhex(b->hex, bin, sizeof(bin));
		m2m_ctx_clear_error(ctx);
		CHECK_EQ_INT(m2m_ppid_decode(ctx, &p, bin, n), M2M_ERR_INVALID);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), b->phrase);
	}
}

UNIT_TEST(decode_empty_input)
{
	struct m2m_ppid p;
	uint8_t b = 0x01;

	CHECK_FAILS(m2m_ppid_decode(ctx, &p, &b, 0), M2M_ERR_INVALID,
		    "empty input");
	CHECK_FAILS(m2m_ppid_decode_hex(ctx, &p, "01", 0), M2M_ERR_INVALID,
		    "empty input");
}

UNIT_TEST(decode_hex_rejects_odd_non_hex_and_too_long)
{
	char hex[2 * M2M_PPID_MAX + 3];
	struct m2m_ppid p;

	CHECK_FAILS(DECODE_HEX(&p, "0"), M2M_ERR_INVALID,
		    "odd number of hex digits (1)");
	CHECK_FAILS(DECODE_HEX(&p, "01001a7dda711"), M2M_ERR_INVALID,
		    "odd number of hex digits (13)");
	CHECK_FAILS(DECODE_HEX(&p, "01g01a7dda7113"), M2M_ERR_INVALID,
		    "'g' at position 3 is not a hex digit");
	CHECK_FAILS(DECODE_HEX(&p, "01:00"), M2M_ERR_INVALID,
		    "':' at position 3 is not a hex digit");
	CHECK_FAILS(DECODE_HEX(&p, "01001a7dda7113\n"), M2M_ERR_INVALID,
		    "byte 0x0A at position 15 is not a hex digit");
	CHECK_FAILS(DECODE_HEX(&p, " 01001a7dda7113"), M2M_ERR_INVALID,
		    "byte 0x20 at position 1 is not a hex digit");
	CHECK_FAILS(DECODE_HEX(&p, "0x01001a7dda7113"), M2M_ERR_INVALID,
		    "'x' at position 2 is not a hex digit");
	CHECK_FAILS(m2m_ppid_decode_hex(ctx, &p, "0100\0" "1a", 6),
		    M2M_ERR_INVALID, "byte 0x00 at position 5");
	/* 81 bytes: longer than any PPID */
	memset(hex, '0', sizeof(hex));
	CHECK_FAILS(m2m_ppid_decode_hex(ctx, &p, hex, 2 * M2M_PPID_MAX + 2),
		    M2M_ERR_INVALID, "81 bytes is longer than any PPID");
	/* 80 bytes is not rejected for its length, but for what it holds */
	memcpy(hex, "01001a7dda7113", 14);
	CHECK_FAILS(m2m_ppid_decode_hex(ctx, &p, hex, 2 * M2M_PPID_MAX),
		    M2M_ERR_INVALID, "73 bytes left over");
}

UNIT_TEST(decode_every_prefix_of_vectors_fails)
{
	uint8_t bin[M2M_PPID_MAX];
	struct m2m_ppid p;
	size_t i, k, n;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		n = unhex(kats[i].hex, bin, sizeof(bin));
		for (k = 0; k < n; k++) {
			m2m_ctx_clear_error(ctx);
			CHECK_EQ_INT(m2m_ppid_decode(ctx, &p, bin, k),
				     M2M_ERR_INVALID);
			CHECK(m2m_ctx_detail(ctx)[0] != '\0');
		}
	}
}

/* ---- property tests ---------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng() % n);
}

static int tech_kind_eui(int t)
{
	return t == M2M_TECH_BLUETOOTH || t == M2M_TECH_WIFI ||
	       t == M2M_TECH_ZIGBEE || t == M2M_TECH_LORAWAN ||
	       t == M2M_TECH_ETHERNET || t == M2M_TECH_IEEE802154;
}

/*
 * A random valid address of t: its stored form a (length returned) and its
 * canonical printed form text, both built here from the spec alone.
 */
static size_t random_addr(int t, uint8_t *a, char *text)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t n = 0, i, o = 0;
	unsigned d[15], sum = 0;

	if (tech_kind_eui(t)) {
		n = (t == M2M_TECH_BLUETOOTH || t == M2M_TECH_WIFI ||
		     t == M2M_TECH_ETHERNET) ? 6 : 8;
		for (i = 0; i < n; i++)
			a[i] = (uint8_t)rng();
		/* sometimes extreme bytes, to come near all-zero / all-ones */
		if (rng_below(4) == 0)
			memset(a, rng_below(2) ? 0x00 : 0xff, n - 1);
		a[0] &= 0xfe;			/* individual address */
		for (i = 0; i < n && a[i] == 0; i++)
			;
		if (i == n)
			a[n - 1] = (uint8_t)(1 + rng_below(255));
	} else if (t == M2M_TECH_NFC) {
		static const size_t lens[3] = { 4, 7, 10 };

		n = lens[rng_below(3)];
		for (i = 0; i < n; i++)
			a[i] = (uint8_t)rng();
	} else if (t == M2M_TECH_WMBUS) {
		unsigned l1 = 1 + rng_below(26), l2 = 1 + rng_below(26);
		unsigned l3 = 1 + rng_below(26);
		unsigned code = l1 << 10 | l2 << 5 | l3;
		char id[9];

		for (i = 0; i < 8; i++)
			id[i] = (char)('0' + rng_below(10));
		id[8] = '\0';
		a[0] = (uint8_t)(code & 0xff);
		a[1] = (uint8_t)(code >> 8);
		for (i = 0; i < 4; i++)	/* last two digits first */
			a[2 + i] = (uint8_t)((id[6 - 2 * i] - '0') << 4 |
					     (id[7 - 2 * i] - '0'));
		a[6] = (uint8_t)rng();
		a[7] = (uint8_t)rng();
		snprintf(text, M2M_ADDR_TEXT_MAX, "%c%c%c:%s:%02X:%02X",
			 '@' + l1, '@' + l2, '@' + l3, id, a[6], a[7]);
		return 8;
	} else {	/* imei */
		for (i = 0; i < 14; i++) {
			unsigned v;

			d[i] = rng_below(10);
			v = i % 2 ? 2 * d[i] : d[i];
			sum += v > 9 ? v - 9 : v;
		}
		d[14] = (10 - sum % 10) % 10;
		memset(a, 0, 8);
		for (i = 0; i < 15; i++) {
			a[i / 2] |= (uint8_t)(d[i] << (i % 2 ? 0 : 4));
			text[i] = (char)('0' + d[i]);
		}
		a[7] |= 0x0f;
		text[15] = '\0';
		return 8;
	}
	for (i = 0; i < n; i++) {
		if (i)
			text[o++] = ':';
		text[o++] = hx[a[i] >> 4];
		text[o++] = hx[a[i] & 15];
	}
	text[o] = '\0';
	return n;
}

/* The text as a user may type it: random letter case, ':' or '-'. */
static void mangle(char *s)
{
	for (; *s; s++) {
		if (*s >= 'A' && *s <= 'Z' && rng_below(2))
			*s = (char)(*s - 'A' + 'a');
		else if (*s == ':' && rng_below(2))
			*s = '-';
	}
}

/* The spec's binary form, built here: ULEB128 mask, then the addresses. */
static size_t spec_encode(uint64_t mask, uint8_t addr[][M2M_ADDR_MAX],
			  const size_t *len, uint8_t *out)
{
	uint64_t m = mask;
	size_t o = 0;
	int t;

	do {
		uint8_t b = m & 0x7f;

		m >>= 7;
		out[o++] = (uint8_t)(m ? b | 0x80 : b);
	} while (m);
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		if (!(mask >> t & 1))
			continue;
		if (t == M2M_TECH_NFC)
			out[o++] = (uint8_t)len[t];
		memcpy(out + o, addr[t], len[t]);
		o += len[t];
	}
	return o;
}

/* Stop a property test after this many failing cases. */
#define PROPERTY_FAILS_MAX 5

UNIT_TEST(property_10000_random_ppids_round_trip)
{
	uint8_t addr[M2M_TECH_COUNT][M2M_ADDR_MAX];
	char text[M2M_TECH_COUNT][M2M_ADDR_TEXT_MAX];
	char typed[M2M_ADDR_TEXT_MAX], buf[M2M_ADDR_TEXT_MAX];
	char hex[M2M_PPID_HEX_MAX];
	uint8_t want[M2M_PPID_MAX], got[M2M_PPID_MAX], again[M2M_PPID_MAX];
	size_t len[M2M_TECH_COUNT], wn, gn, an, alen;
	struct m2m_ppid p, d, r, h;
	const uint8_t *a;
	int iter, t, bad = 0;

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (iter = 0; iter < 10000 && bad < PROPERTY_FAILS_MAX; iter++) {
		uint64_t mask = 0;
		int ok = 1;

		while (mask == 0)
			mask = rng() & ((1u << M2M_TECH_COUNT) - 1);
		m2m_ppid_init(&p);
		m2m_ppid_init(&r);
		for (t = 0; t < M2M_TECH_COUNT; t++) {
			if (!(mask >> t & 1))
				continue;
			len[t] = random_addr(t, addr[t], text[t]);
			/* text -> binary, as typed */
			strcpy(typed, text[t]);
			mangle(typed);
			ok &= CHECK_EQ_INT(SET_TEXT_RC(&p, t, typed), M2M_OK);
			a = m2m_ppid_addr(&p, t, &alen);
			ok &= CHECK(a != NULL) && CHECK_EQ_INT(alen, len[t]) &&
			      CHECK_EQ_MEM(a, addr[t], len[t]);
			/* the stored form, directly */
			ok &= CHECK_EQ_INT(m2m_ppid_set_addr(ctx, &r, t,
							     addr[t], len[t]),
					   M2M_OK);
		}
		ok &= CHECK_EQ_INT(p.mask, mask);
		ok &= CHECK_EQ_MEM(&r, &p, sizeof(p));

		/* encode: exactly the spec's bytes */
		wn = spec_encode(mask, addr, len, want);
		ok &= CHECK_EQ_INT(m2m_ppid_encode(ctx, &p, got, sizeof(got),
						   &gn), M2M_OK);
		ok &= CHECK_EQ_INT(gn, wn) && CHECK_EQ_MEM(got, want, wn);

		/* decode: the same struct, and the same bytes again */
		ok &= CHECK_EQ_INT(m2m_ppid_decode(ctx, &d, got, gn), M2M_OK);
		ok &= CHECK_EQ_INT(d.mask, p.mask);
		for (t = 0; t < M2M_TECH_COUNT; t++) {
			if (!(mask >> t & 1))
				continue;
			ok &= CHECK_EQ_INT(d.len[t], len[t]) &&
			      CHECK_EQ_MEM(d.addr[t], p.addr[t], len[t]);
		}
		ok &= CHECK_EQ_MEM(&d, &p, sizeof(p));
		ok &= CHECK_EQ_INT(m2m_ppid_encode(ctx, &d, again,
						   sizeof(again), &an), M2M_OK);
		ok &= CHECK_EQ_INT(an, gn) && CHECK_EQ_MEM(again, got, gn);

		/* hex form round trip */
		ok &= CHECK_EQ_INT(m2m_ppid_to_hex(ctx, &p, hex, sizeof(hex),
						   NULL), M2M_OK);
		ok &= CHECK_EQ_INT(DECODE_HEX(&h, hex), M2M_OK);
		ok &= CHECK_EQ_MEM(&h, &p, sizeof(p));

		/* format_addr: the canonical text; set_text of it: same bytes */
		m2m_ppid_init(&r);
		for (t = 0; t < M2M_TECH_COUNT; t++) {
			if (!(mask >> t & 1))
				continue;
			ok &= CHECK_EQ_STR(addr_text(&d, t, buf), text[t]);
			ok &= CHECK_EQ_INT(SET_TEXT_RC(&r, t, buf), M2M_OK);
		}
		ok &= CHECK_EQ_MEM(&r, &p, sizeof(p));
		bad += !CHECK_MSG(ok, "case %d failed: PPID %s", iter, hex);
	}
	CHECK_EQ_INT(iter, 10000);
}

UNIT_TEST(property_every_1_and_2_byte_input_decodes_safely)
{
	struct m2m_ppid p;
	uint8_t in[2], out[M2M_PPID_MAX];
	unsigned v, accepted = 0, bad = 0;
	size_t len, n;
	enum m2m_err rc;

	for (len = 1; len <= 2; len++) {
		for (v = 0; v < (1u << (8 * len)) && bad < PROPERTY_FAILS_MAX;
		     v++) {
			in[0] = (uint8_t)(v & 0xff);
			in[1] = (uint8_t)(v >> 8);
			m2m_ctx_clear_error(ctx);
			rc = m2m_ppid_decode(ctx, &p, in, len);
			if (rc == M2M_OK) {
				accepted++;
				if (!CHECK_EQ_INT(m2m_ppid_encode(ctx, &p, out,
								  sizeof(out),
								  &n), M2M_OK) ||
				    !CHECK_EQ_INT(n, len) ||
				    !CHECK_EQ_MEM(out, in, len))
					bad++;
				continue;
			}
			if (!CHECK_EQ_INT(rc, M2M_ERR_INVALID) ||
			    !CHECK(m2m_ctx_detail(ctx)[0] != '\0') ||
			    !CHECK_EQ_INT(m2m_ctx_error(ctx), M2M_ERR_INVALID))
				bad++;
		}
	}
	/* The shortest PPID is 7 bytes: none of these can be one. */
	CHECK_EQ_INT(accepted, 0);
}

UNIT_TEST(property_single_byte_mutations_of_vectors)
{
	uint8_t bin[M2M_PPID_MAX], mut[M2M_PPID_MAX], out[M2M_PPID_MAX];
	struct m2m_ppid p;
	size_t i, k, n, on;
	unsigned v, bad = 0;
	enum m2m_err rc;

	for (i = 0; i < UNIT_COUNT(kats); i++) {
		n = unhex(kats[i].hex, bin, sizeof(bin));
		for (k = 0; k < n; k++) {
			for (v = 0; v < 256 && bad < PROPERTY_FAILS_MAX; v++) {
				memcpy(mut, bin, n);
				mut[k] = (uint8_t)v;
				m2m_ctx_clear_error(ctx);
				rc = m2m_ppid_decode(ctx, &p, mut, n);
				if (rc == M2M_OK) {
					if (!CHECK_EQ_INT(m2m_ppid_encode(ctx,
						&p, out, sizeof(out), &on),
						M2M_OK) ||
					    !CHECK_EQ_INT(on, n) ||
					    !CHECK_EQ_MEM(out, mut, n))
						bad++;
				} else if (!CHECK_EQ_INT(rc, M2M_ERR_INVALID) ||
					   !CHECK(m2m_ctx_detail(ctx)[0])) {
					bad++;
				}
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(kat_text_to_binary_and_hex),
		UNIT(kat_text_in_any_order_gives_same_binary),
		UNIT(kat_hex_to_text),
		UNIT(kat_binary_decode_and_upper_case_hex),
		UNIT(kat_json_members_exact),
		UNIT(json_members_buffer_and_empty),
		UNIT(each_technology_alone_text_to_binary),
		UNIT(each_technology_alone_binary_to_text),
		UNIT(set_addr_stores_binary_form),
		UNIT(set_addr_rejects_wrong_length),
		UNIT(header_tech_7_and_up_needs_two_bytes),
		UNIT(header_one_byte_up_to_tech_6),
		UNIT(header_all_technologies),
		UNIT(tech_name_of_every_bit),
		UNIT(tech_lookup_case_insensitive),
		UNIT(tech_lookup_unknown_is_minus_one),
		UNIT(has_addr_format_on_absent_or_out_of_range),
		UNIT(text_forms_accept_dash_and_lower_case),
		UNIT(set_text_reads_only_len_bytes),
		UNIT(set_text_duplicate_leaves_p_unchanged),
		UNIT(set_text_unassigned_technology_is_usage),
		UNIT(set_text_rejections_with_detail_and_p_unchanged),
		UNIT(set_text_detail_quotes_the_text),
		UNIT(encode_buffer_too_small_is_usage),
		UNIT(encode_empty_ppid_is_invalid),
		UNIT(decode_rejection_rules),
		UNIT(decode_empty_input),
		UNIT(decode_hex_rejects_odd_non_hex_and_too_long),
		UNIT(decode_every_prefix_of_vectors_fails),
		UNIT(property_10000_random_ppids_round_trip),
		UNIT(property_every_1_and_2_byte_input_decodes_safely),
		UNIT(property_single_byte_mutations_of_vectors),
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
