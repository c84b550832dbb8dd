/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_PPID_H
#define M2M_PPID_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

/*
 * The pre-provisioned device identifier (PPID), exactly as
 * shared/spec/identifier.md defines it:
 *
 *   ppid    = header address+
 *   header  = ULEB128(mask), minimal length, mask != 0
 *   address = the address of each technology in the mask, ascending bit
 *             order; fixed length, except nfc: one length byte, then N.
 *
 * A struct m2m_ppid holds the decoded form: which technologies are present
 * and each one's address in binary (the stored form of the registry).
 */

/* The technology registry.  A bit, once assigned, never changes meaning. */
enum m2m_tech {
	M2M_TECH_BLUETOOTH = 0,	/* BD_ADDR, 6 bytes, printed order */
	M2M_TECH_WIFI = 1,	/* EUI-48 */
	M2M_TECH_WMBUS = 2,	/* EN 13757-4 link-layer address, 8 bytes */
	M2M_TECH_ZIGBEE = 3,	/* EUI-64 */
	M2M_TECH_LORAWAN = 4,	/* DevEUI, EUI-64 */
	M2M_TECH_IMEI = 5,	/* 15 digits as packed BCD + 0xF, 8 bytes */
	M2M_TECH_ETHERNET = 6,	/* EUI-48 */
	M2M_TECH_NFC = 7,	/* ISO/IEC 14443-3 UID, 4, 7 or 10 bytes */
	M2M_TECH_IEEE802154 = 8, /* EUI-64 */
	M2M_TECH_COUNT
};

#define M2M_ADDR_MAX		10	/* longest binary address (nfc UID) */
#define M2M_ADDR_TEXT_MAX	32	/* longest printed address, with NUL */
#define M2M_PPID_MAX		80	/* longest binary PPID of this registry */
#define M2M_PPID_HEX_MAX	(2 * M2M_PPID_MAX + 1)	/* with NUL */
#define M2M_PPID_JSON_MAX	1024	/* longest JSON form, with NUL */

struct m2m_ppid {
	uint64_t mask;				/* bit t: technology t present */
	uint8_t len[M2M_TECH_COUNT];		/* address length, bytes */
	uint8_t addr[M2M_TECH_COUNT][M2M_ADDR_MAX]; /* stored form */
};

/* The registry name of t ("bluetooth"), or NULL if t is not assigned. */
const char *m2m_tech_name(enum m2m_tech t);

/*
 * The technology whose registry name is name[0..len) (case-insensitive),
 * or -1 if there is none.
 */
int m2m_tech_lookup(const char *name, size_t len);

/* Empty p: no technology present. */
void m2m_ppid_init(struct m2m_ppid *p);

/* Nonzero if technology t is present in p. */
int m2m_ppid_has(const struct m2m_ppid *p, enum m2m_tech t);

/*
 * The stored (binary) address of t in p, its length in *len; NULL if t is
 * absent.  For nfc this is the UID without the length byte.  Borrowed.
 */
const uint8_t *m2m_ppid_addr(const struct m2m_ppid *p, enum m2m_tech t,
			     size_t *len);

/*
 * Parse the text form of an address of technology t (text[0..len), no NUL
 * needed), check its validity rules and add it to p.  Accepted forms are
 * the registry's ("00:1A:7D:DA:71:13", "KAM:12345678:01:07",
 * "490154203237518"), with '-' for ':' and either letter case.
 * Returns M2M_ERR_INVALID (malformed, or breaks a validity rule),
 * M2M_ERR_DUPLICATE (t already present in p) or M2M_ERR_USAGE (t not
 * assigned); p is unchanged on failure, and the detail names the problem.
 */
enum m2m_err m2m_ppid_set_text(struct m2m_ctx *ctx, struct m2m_ppid *p,
			       enum m2m_tech t, const char *text, size_t len);

/*
 * Add the stored (binary) address addr[0..len) of technology t to p after
 * checking its length and validity rules (nfc: the UID alone).  Errors as
 * m2m_ppid_set_text().
 */
enum m2m_err m2m_ppid_set_addr(struct m2m_ctx *ctx, struct m2m_ppid *p,
			       enum m2m_tech t, const uint8_t *addr, size_t len);

/*
 * Encode p into out[0..size) and set *outlen.  Returns M2M_ERR_INVALID if
 * p has no technology, M2M_ERR_USAGE if size is too small (M2M_PPID_MAX is
 * always enough).
 */
enum m2m_err m2m_ppid_encode(struct m2m_ctx *ctx, const struct m2m_ppid *p,
			     uint8_t *out, size_t size, size_t *outlen);

/*
 * Decode and validate the binary PPID in[0..len) into *p.  Rejects, with
 * M2M_ERR_INVALID and a detail that names the byte offset and the field:
 * an empty input, a non-minimal or over-long header, an empty mask, an
 * unknown technology bit, a truncated address, trailing bytes, and any
 * address that breaks its validity rules.  *p is undefined on failure.
 */
enum m2m_err m2m_ppid_decode(struct m2m_ctx *ctx, struct m2m_ppid *p,
			     const uint8_t *in, size_t len);

/*
 * m2m_ppid_decode() of the hex text hex[0..len) (either case, no
 * separators, no surrounding space).  Also M2M_ERR_INVALID for an odd
 * length, a non-hex character, or more than M2M_PPID_MAX bytes.
 */
enum m2m_err m2m_ppid_decode_hex(struct m2m_ctx *ctx, struct m2m_ppid *p,
				 const char *hex, size_t len);

/*
 * The printed form of t's address in p into out[0..size), NUL-terminated
 * ("00:1A:7D:DA:71:13", IMEI as digits).  Returns the length written
 * (without NUL), or 0 if t is absent or size is below M2M_ADDR_TEXT_MAX.
 */
size_t m2m_ppid_format_addr(const struct m2m_ppid *p, enum m2m_tech t,
			    char *out, size_t size);

/*
 * The canonical hex form of p (lower case) into out[0..size),
 * NUL-terminated; *outlen (may be NULL) gets the length.  Errors as
 * m2m_ppid_encode(); M2M_PPID_HEX_MAX is always enough.
 */
enum m2m_err m2m_ppid_to_hex(struct m2m_ctx *ctx, const struct m2m_ppid *p,
			     char *out, size_t size, size_t *outlen);

/*
 * The JSON members of p, without braces, into out[0..size):
 *   "ppid":"<hex>","technologies":[{"name":"...","address":"..."},...]
 * so that callers can embed them in larger objects.  Wrap them in {} for
 * the spec's JSON form.  Errors as m2m_ppid_encode(); M2M_PPID_JSON_MAX is
 * always enough.
 */
enum m2m_err m2m_ppid_json_members(struct m2m_ctx *ctx,
				   const struct m2m_ppid *p, char *out,
				   size_t size, size_t *outlen);

#endif
