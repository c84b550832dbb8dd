/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PPID of shared/spec/identifier.md:
 *
 *   ppid    = header address+
 *   header  = ULEB128(mask)   ; byte k: technologies 7k..7k+6 in bits 0..6,
 *                             ; bit 7 = another header byte follows;
 *                             ; the last header byte is never 0x00
 *   address = per technology, ascending bit order; nfc: length byte + UID
 */
#include <stdio.h>
#include <string.h>

#include <m2m/hex.h>
#include <m2m/ppid.h>

#include "internal.h"

enum kind { EUI48, EUI64, WMBUS, IMEI, NFC };

static const struct {
	const char *name;
	enum kind kind;
	const char *example;
} registry[M2M_TECH_COUNT] = {
	[M2M_TECH_BLUETOOTH] = { "bluetooth", EUI48, "00:1A:7D:DA:71:13" },
	[M2M_TECH_WIFI] = { "wifi", EUI48, "3C:71:BF:4A:0B:2E" },
	[M2M_TECH_WMBUS] = { "wmbus", WMBUS, "KAM:12345678:01:07" },
	[M2M_TECH_ZIGBEE] = { "zigbee", EUI64, "00:12:4B:00:1C:A1:B2:C3" },
	[M2M_TECH_LORAWAN] = { "lorawan", EUI64, "70:B3:D5:7E:D0:05:A1:B2" },
	[M2M_TECH_IMEI] = { "imei", IMEI, "490154203237518" },
	[M2M_TECH_ETHERNET] = { "ethernet", EUI48, "00:1B:21:3A:4F:5C" },
	[M2M_TECH_NFC] = { "nfc", NFC, "04:A2:3B:1C:5D:6E:80" },
	[M2M_TECH_IEEE802154] = { "ieee802154", EUI64,
				  "00:12:4B:00:00:00:00:01" },
};

/* Fixed address length of each kind; NFC is variable (length byte). */
static const unsigned char kind_len[] = {
	[EUI48] = 6, [EUI64] = 8, [WMBUS] = 8, [IMEI] = 8, [NFC] = 0,
};

static const char hexdig_upper[] = "0123456789ABCDEF";

#define hexval m2m_hex_value

static int valid_tech(enum m2m_tech t)
{
	return (unsigned)t < M2M_TECH_COUNT;
}

const char *m2m_tech_name(enum m2m_tech t)
{
	return valid_tech(t) ? registry[t].name : NULL;
}

int m2m_tech_lookup(const char *name, size_t len)
{
	int t;

	for (t = 0; t < M2M_TECH_COUNT; t++) {
		const char *n = registry[t].name;
		size_t i;

		if (strlen(n) != len)
			continue;
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)name[i];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if (c != (unsigned char)n[i])
				break;
		}
		if (i == len)
			return t;
	}
	return -1;
}

void m2m_ppid_init(struct m2m_ppid *p)
{
	memset(p, 0, sizeof(*p));
}

int m2m_ppid_has(const struct m2m_ppid *p, enum m2m_tech t)
{
	return valid_tech(t) && (p->mask >> t) & 1;
}

const uint8_t *m2m_ppid_addr(const struct m2m_ppid *p, enum m2m_tech t,
			     size_t *len)
{
	if (!m2m_ppid_has(p, t)) {
		*len = 0;
		return NULL;
	}
	*len = p->len[t];
	return p->addr[t];
}

/* ---- validity rules on the stored form ------------------------------- */

/* Luhn check digit for the first 14 IMEI digits. */
static int luhn_check_digit(const uint8_t d[15])
{
	unsigned sum = 0;
	int i;

	for (i = 0; i < 14; i++) {
		unsigned v = d[i];

		if (i % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return (int)((10 - sum % 10) % 10);
}

/* The 15 IMEI digits of the packed form, or -1 if it is not BCD + 0xF. */
static int imei_digits(const uint8_t *a, uint8_t d[15])
{
	int i;

	for (i = 0; i < 16; i++) {
		uint8_t nib = (i % 2 == 0) ? a[i / 2] >> 4 : a[i / 2] & 0x0f;

		if (i == 15)
			return nib == 0x0f ? 0 : -1;
		if (nib > 9)
			return -1;
		d[i] = nib;
	}
	return 0;
}

/*
 * Why the stored address a[0..len) of t breaks a validity rule, as a
 * phrase that follows the address in a message; NULL if it does not.
 * The length has been checked by the caller.
 */
static const char *addr_problem(enum m2m_tech t, const uint8_t *a, size_t len,
				char *why, size_t whysz)
{
	size_t i, zeros = 0, ones = 0;
	unsigned code;
	uint8_t d[15];
	int check;

	switch (registry[t].kind) {
	case EUI48:
	case EUI64:
		for (i = 0; i < len; i++) {
			zeros += a[i] == 0x00;
			ones += a[i] == 0xff;
		}
		if (zeros == len)
			return "is all zeros";
		if (ones == len)
			return "is all ones (broadcast)";
		if (a[0] & 0x01)
			return "has the group (multicast) bit set";
		return NULL;
	case WMBUS:
		code = (unsigned)a[0] | (unsigned)a[1] << 8;
		if (code & 0x8000 || (code >> 10 & 31) - 1 > 25 ||
		    (code >> 5 & 31) - 1 > 25 || (code & 31) - 1 > 25) {
			snprintf(why, whysz,
				 "has manufacturer code 0x%04X, which is not three letters A-Z",
				 code);
			return why;
		}
		for (i = 2; i < 6; i++)
			if ((a[i] >> 4) > 9 || (a[i] & 0x0f) > 9)
				return "has an identification number that is not eight BCD digits";
		return NULL;
	case IMEI:
		if (imei_digits(a, d) < 0)
			return "is not 15 BCD digits followed by 0xF";
		check = luhn_check_digit(d);
		if (check != d[14]) {
			snprintf(why, whysz,
				 "fails the Luhn check (the check digit should be %d)",
				 check);
			return why;
		}
		return NULL;
	case NFC:
		return NULL;
	}
	return "has an unknown kind";
}

static int nfc_len_ok(size_t n)
{
	return n == 4 || n == 7 || n == 10;
}

/* "AA:BB:..." of len <= M2M_ADDR_MAX bytes into out[M2M_ADDR_TEXT_MAX]. */
static void hex_colon(const uint8_t *a, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (i)
			out[o++] = ':';
		out[o++] = hexdig_upper[a[i] >> 4];
		out[o++] = hexdig_upper[a[i] & 0x0f];
	}
	out[o] = '\0';
}

static void store(struct m2m_ppid *p, enum m2m_tech t, const uint8_t *a,
		  size_t len)
{
	memcpy(p->addr[t], a, len);
	p->len[t] = (uint8_t)len;
	p->mask |= (uint64_t)1 << t;
}

enum m2m_err m2m_ppid_set_addr(struct m2m_ctx *ctx, struct m2m_ppid *p,
			       enum m2m_tech t, const uint8_t *addr, size_t len)
{
	char why[96];
	const char *problem;
	size_t want;

	if (!valid_tech(t))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "technology bit %d is not assigned", (int)t);
	if (m2m_ppid_has(p, t))
		return m2m_error(ctx, M2M_ERR_DUPLICATE, "%s given twice",
				 registry[t].name);
	want = kind_len[registry[t].kind];
	if (want ? len != want : !nfc_len_ok(len))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s address is %zu bytes long, not %s",
				 registry[t].name, len,
				 want == 6 ? "6" : want == 8 ? "8" : "4, 7 or 10");
	problem = addr_problem(t, addr, len, why, sizeof(why));
	if (problem) {
		char shown[M2M_ADDR_TEXT_MAX];
		struct m2m_ppid tmp;

		uint8_t d[15];

		if (registry[t].kind == WMBUS ||
		    (registry[t].kind == IMEI && imei_digits(addr, d) < 0)) {
			/* Its printed form would be made of the bad fields. */
			hex_colon(addr, len, shown);
		} else {
			m2m_ppid_init(&tmp);
			store(&tmp, t, addr, len);
			m2m_ppid_format_addr(&tmp, t, shown, sizeof(shown));
		}
		return m2m_error(ctx, M2M_ERR_INVALID, "%s address %s %s",
				 registry[t].name, shown, problem);
	}
	store(p, t, addr, len);
	return M2M_OK;
}

/* ---- text forms -------------------------------------------------------- */

static int is_sep(char c)
{
	return c == ':' || c == '-';
}

/*
 * "AA:BB:..." (':' or '-' between bytes, two hex digits each) into
 * out[0..max); the number of bytes, or -1 if malformed or longer.
 */
static int parse_hex_bytes(const char *s, size_t len, uint8_t *out, size_t max)
{
	size_t i = 0, n = 0;

	for (;;) {
		int hi, lo;

		if (n == max || len - i < 2)
			return -1;
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
		if (i == len)
			return (int)n;
		if (!is_sep(s[i]))
			return -1;
		i++;
	}
}

/* Split s[0..len) at ':'/'-' into exactly n parts; 0 on success. */
static int split_parts(const char *s, size_t len, size_t n,
		       const char **part, size_t *plen)
{
	size_t i, k = 0, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && !is_sep(s[i]))
			continue;
		if (k == n)
			return -1;
		part[k] = s + start;
		plen[k] = i - start;
		k++;
		start = i + 1;
	}
	return k == n ? 0 : -1;
}

static enum m2m_err parse_wmbus(struct m2m_ctx *ctx, const char *s,
				size_t len, uint8_t out[8])
{
	const char *part[4];
	char q[M2M_QUOTE_MAX];
	size_t plen[4], i;
	unsigned code = 0;
	int hi, lo;

	if (split_parts(s, len, 4, part, plen) < 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'%s' is not MFR:ID:VER:TYPE like %s",
				 m2m_quote(q, s, len),
				 registry[M2M_TECH_WMBUS].example);
	if (plen[0] != 3)
		goto bad_mfr;
	for (i = 0; i < 3; i++) {
		unsigned char c = (unsigned char)part[0][i];

		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			goto bad_mfr;
		code = code << 5 | (unsigned)(c - 64);
	}
	out[0] = (uint8_t)(code & 0xff);
	out[1] = (uint8_t)(code >> 8);
	if (plen[1] != 8)
		goto bad_id;
	for (i = 0; i < 8; i++)
		if (part[1][i] < '0' || part[1][i] > '9')
			goto bad_id;
	/* BCD, little-endian: the last two digits come first. */
	for (i = 0; i < 4; i++)
		out[2 + i] = (uint8_t)((part[1][6 - 2 * i] - '0') << 4 |
				       (part[1][7 - 2 * i] - '0'));
	for (i = 2; i < 4; i++) {
		if (plen[i] != 2)
			goto bad_byte;
		hi = hexval((unsigned char)part[i][0]);
		lo = hexval((unsigned char)part[i][1]);
		if (hi < 0 || lo < 0)
			goto bad_byte;
		out[4 + i] = (uint8_t)(hi << 4 | lo);
	}
	return M2M_OK;
bad_mfr:
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "'%s': the manufacturer must be three letters A-Z",
			 m2m_quote(q, s, len));
bad_id:
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "'%s': the identification number must be eight decimal digits",
			 m2m_quote(q, s, len));
bad_byte:
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "'%s': version and device type must be two hex digits each",
			 m2m_quote(q, s, len));
}

static enum m2m_err parse_imei(struct m2m_ctx *ctx, const char *s,
			       size_t len, uint8_t out[8])
{
	char q[M2M_QUOTE_MAX];
	size_t i;

	if (len != 15)
		goto bad;
	memset(out, 0, 8);
	for (i = 0; i < 15; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		out[i / 2] |= (uint8_t)((s[i] - '0') << (i % 2 ? 0 : 4));
	}
	out[7] |= 0x0f;
	return M2M_OK;
bad:
	return m2m_error(ctx, M2M_ERR_INVALID, "'%s' is not 15 decimal digits",
			 m2m_quote(q, s, len));
}

enum m2m_err m2m_ppid_set_text(struct m2m_ctx *ctx, struct m2m_ppid *p,
			       enum m2m_tech t, const char *text, size_t len)
{
	uint8_t a[M2M_ADDR_MAX], nfc[32];
	char q[M2M_QUOTE_MAX], why[96];
	const char *problem;
	enum m2m_err rc;
	int n;

	if (!valid_tech(t))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "technology bit %d is not assigned", (int)t);
	if (m2m_ppid_has(p, t))
		return m2m_error(ctx, M2M_ERR_DUPLICATE, "%s given twice",
				 registry[t].name);
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "empty address");

	/* Quoting is for messages only: done on the error paths. */
	switch (registry[t].kind) {
	case EUI48:
	case EUI64:
		n = parse_hex_bytes(text, len, a, kind_len[registry[t].kind]);
		if (n != kind_len[registry[t].kind])
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is not %s hex bytes like %s",
					 m2m_quote(q, text, len),
					 registry[t].kind == EUI48 ? "six" :
					 "eight", registry[t].example);
		break;
	case WMBUS:
		rc = parse_wmbus(ctx, text, len, a);
		if (rc != M2M_OK)
			return rc;
		n = 8;
		break;
	case IMEI:
		rc = parse_imei(ctx, text, len, a);
		if (rc != M2M_OK)
			return rc;
		n = 8;
		break;
	case NFC:
	default:
		/* Read up to 32 bytes, to say how long a wrong UID is. */
		n = parse_hex_bytes(text, len, nfc, sizeof(nfc));
		if (n < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is not hex bytes like %s",
					 m2m_quote(q, text, len),
					 registry[t].example);
		if (!nfc_len_ok((size_t)n))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is %d byte%s long; an NFC UID is 4, 7 or 10 bytes",
					 m2m_quote(q, text, len), n,
					 n == 1 ? "" : "s");
		memcpy(a, nfc, (size_t)n);
		break;
	}
	problem = addr_problem(t, a, (size_t)n, why, sizeof(why));
	if (problem)
		return m2m_error(ctx, M2M_ERR_INVALID, "'%s' %s",
				 m2m_quote(q, text, len), problem);
	store(p, t, a, (size_t)n);
	return M2M_OK;
}

size_t m2m_ppid_format_addr(const struct m2m_ppid *p, enum m2m_tech t,
			    char *out, size_t size)
{
	const uint8_t *a;
	size_t len, i, o = 0;
	unsigned code;

	if (size < M2M_ADDR_TEXT_MAX || !m2m_ppid_has(p, t))
		return 0;
	a = p->addr[t];
	len = p->len[t];
	switch (registry[t].kind) {
	case WMBUS:
		code = (unsigned)a[0] | (unsigned)a[1] << 8;
		out[o++] = (char)('@' + (code >> 10 & 31));
		out[o++] = (char)('@' + (code >> 5 & 31));
		out[o++] = (char)('@' + (code & 31));
		out[o++] = ':';
		for (i = 0; i < 4; i++) {
			out[o++] = hexdig_upper[a[5 - i] >> 4];
			out[o++] = hexdig_upper[a[5 - i] & 0x0f];
		}
		for (i = 6; i < 8; i++) {
			out[o++] = ':';
			out[o++] = hexdig_upper[a[i] >> 4];
			out[o++] = hexdig_upper[a[i] & 0x0f];
		}
		break;
	case IMEI:
		for (i = 0; i < 15; i++)
			out[o++] = hexdig_upper[i % 2 ? a[i / 2] & 0x0f :
						a[i / 2] >> 4];
		break;
	default:
		hex_colon(a, len, out);
		return 3 * len - 1;
	}
	out[o] = '\0';
	return o;
}

/* ---- binary form ------------------------------------------------------- */

enum m2m_err m2m_ppid_encode(struct m2m_ctx *ctx, const struct m2m_ppid *p,
			     uint8_t *out, size_t size, size_t *outlen)
{
	uint8_t buf[M2M_PPID_MAX];
	uint64_t mask = p->mask;
	size_t o = 0;
	int t;

	if (mask == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "no technology given");
	if (mask >> M2M_TECH_COUNT)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "mask has unassigned technology bits");
	do {
		uint8_t b = mask & 0x7f;

		mask >>= 7;
		buf[o++] = mask ? (uint8_t)(b | 0x80) : b;
	} while (mask);
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		if (!m2m_ppid_has(p, t))
			continue;
		if (registry[t].kind == NFC)
			buf[o++] = p->len[t];
		memcpy(buf + o, p->addr[t], p->len[t]);
		o += p->len[t];
	}
	if (o > size)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "output buffer of %zu bytes is too small", size);
	memcpy(out, buf, o);
	*outlen = o;
	return M2M_OK;
}

enum m2m_err m2m_ppid_decode(struct m2m_ctx *ctx, struct m2m_ppid *p,
			     const uint8_t *in, size_t len)
{
	uint64_t mask = 0;
	unsigned shift = 0;
	size_t i = 0;
	int t;

	m2m_ppid_init(p);
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "empty input");
	for (;;) {
		uint8_t b;
		unsigned j;

		if (i == len)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "byte %zu: header is truncated (the last byte has the extension bit set)",
					 i - 1);
		if (shift >= 64)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "byte %zu: header is longer than 10 bytes",
					 i);
		b = in[i];
		for (j = 0; j < 7; j++)
			if (b >> j & 1 && shift + j >= M2M_TECH_COUNT)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "byte %zu: unknown technology bit %u",
						 i, shift + j);
		mask |= (uint64_t)(b & 0x7f) << shift;
		i++;
		if (!(b & 0x80)) {
			if (b == 0 && i > 1)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "byte %zu: header is not minimal (its last byte is 0x00)",
						 i - 1);
			break;
		}
		shift += 7;
	}
	if (mask == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "byte 0: header names no technology");
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		size_t want, start;
		enum m2m_err rc;

		if (!(mask >> t & 1))
			continue;
		want = kind_len[registry[t].kind];
		if (registry[t].kind == NFC) {
			if (i == len)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "byte %zu: nfc length byte is missing",
						 i);
			want = in[i];
			if (!nfc_len_ok(want))
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "byte %zu: nfc UID length is %zu, not 4, 7 or 10",
						 i, want);
			i++;
		}
		start = i;
		if (len - i < want)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "byte %zu: %s address is truncated (%zu of %zu bytes)",
					 start, registry[t].name, len - i, want);
		rc = m2m_ppid_set_addr(ctx, p, t, in + i, want);
		if (rc != M2M_OK)
			return m2m_error_prefix(ctx, "byte %zu", start);
		i += want;
	}
	if (i != len)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "byte %zu: %zu byte%s left over after the last address",
				 i, len - i, len - i == 1 ? "" : "s");
	return M2M_OK;
}

enum m2m_err m2m_ppid_decode_hex(struct m2m_ctx *ctx, struct m2m_ppid *p,
				 const char *hex, size_t len)
{
	uint8_t bin[M2M_PPID_MAX];
	size_t i;

	m2m_ppid_init(p);
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "empty input");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)hex[i];

		if (hexval(c) >= 0)
			continue;
		if (c > 0x20 && c < 0x7f)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%c' at position %zu is not a hex digit",
					 c, i + 1);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "byte 0x%02X at position %zu is not a hex digit",
				 c, i + 1);
	}
	if (len % 2)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "odd number of hex digits (%zu)", len);
	if (len / 2 > M2M_PPID_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%zu bytes is longer than any PPID (at most %d)",
				 len / 2, M2M_PPID_MAX);
	for (i = 0; i < len / 2; i++)
		bin[i] = (uint8_t)(hexval((unsigned char)hex[2 * i]) << 4 |
				   hexval((unsigned char)hex[2 * i + 1]));
	return m2m_ppid_decode(ctx, p, bin, len / 2);
}

enum m2m_err m2m_ppid_to_hex(struct m2m_ctx *ctx, const struct m2m_ppid *p,
			     char *out, size_t size, size_t *outlen)
{
	uint8_t bin[M2M_PPID_MAX];
	size_t n;
	enum m2m_err rc;

	rc = m2m_ppid_encode(ctx, p, bin, sizeof(bin), &n);
	if (rc != M2M_OK)
		return rc;
	if (size < 2 * n + 1)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "output buffer of %zu bytes is too small", size);
	m2m_hex_encode(bin, n, out);
	if (outlen)
		*outlen = 2 * n;
	return M2M_OK;
}

static size_t put(char *out, size_t o, const char *s)
{
	size_t n = strlen(s);

	memcpy(out + o, s, n);
	return o + n;
}

enum m2m_err m2m_ppid_json_members(struct m2m_ctx *ctx,
				   const struct m2m_ppid *p, char *out,
				   size_t size, size_t *outlen)
{
	char buf[M2M_PPID_JSON_MAX];
	char hex[M2M_PPID_HEX_MAX], addr[M2M_ADDR_TEXT_MAX];
	size_t o = 0;
	enum m2m_err rc;
	int t, first = 1;

	rc = m2m_ppid_to_hex(ctx, p, hex, sizeof(hex), NULL);
	if (rc != M2M_OK)
		return rc;
	/* Bounded: 160 hex digits + 9 * (name <= 10 + address <= 30 + 30). */
	o = put(buf, o, "\"ppid\":\"");
	o = put(buf, o, hex);
	o = put(buf, o, "\",\"technologies\":[");
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		if (!m2m_ppid_format_addr(p, t, addr, sizeof(addr)))
			continue;
		o = put(buf, o, first ? "{\"name\":\"" : ",{\"name\":\"");
		o = put(buf, o, registry[t].name);
		o = put(buf, o, "\",\"address\":\"");
		o = put(buf, o, addr);
		o = put(buf, o, "\"}");
		first = 0;
	}
	o = put(buf, o, "]");
	if (o + 1 > size)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "output buffer of %zu bytes is too small", size);
	memcpy(out, buf, o);
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return M2M_OK;
}
