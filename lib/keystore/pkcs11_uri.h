/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_PKCS11_URI_H
#define M2M_PKCS11_URI_H

/*
 * Internal: PKCS#11 URIs (RFC 7512), the part after "pkcs11:".
 *
 *   pk11-URI   = "pkcs11:" pk11-path [ "?" pk11-query ]
 *   pk11-path  = [ pk11-pattr *(";" pk11-pattr) ]
 *   pk11-query = [ pk11-qattr *("&" pk11-qattr) ]
 *   pk11-pattr = name "=" *pk11-pchar      (RFC 7512, section 2.3)
 *
 * The parser is pure (no I/O, no PKCS#11 library) and bounded: the whole
 * locator is at most M2M_P11_URI_MAX bytes and every value has the room
 * its PKCS#11 field has (a token label 32 bytes, a serial 16, ...), so a
 * value that could never match is refused rather than cut.
 *
 * Refused, as M2M_ERR_INVALID with one detail that names the URI's path
 * (never its query, where a pin-value may be): a bad %-escape, a byte
 * outside RFC 7512's character set that is not %-escaped, an empty or
 * nameless attribute, an empty value, an unknown attribute (unknown ones
 * with a '-' in the name are vendor attributes and ignored, as RFC 7512
 * allows), an attribute given twice, a NUL (%00) in a text value, a
 * slot-id or library-version that is not a number, an unknown type, a
 * relative module-path, both pin-value and pin-source, an over-long value.
 */

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

#define M2M_P11_URI_MAX		8192	/* the whole locator */
#define M2M_P11_LABEL_MAX	32	/* CK_TOKEN_INFO label, manufacturer */
#define M2M_P11_SERIAL_MAX	16	/* CK_TOKEN_INFO serialNumber, model */
#define M2M_P11_SLOTDESC_MAX	64	/* CK_SLOT_INFO slotDescription */
#define M2M_P11_OBJECT_MAX	256	/* CKA_LABEL of an object */
#define M2M_P11_ID_MAX		128	/* CKA_ID */
#define M2M_P11_PIN_MAX		256	/* pin-value */
#define M2M_P11_NAME_MAX	256	/* module-name */
#define M2M_P11_PATH_MAX	4096	/* module-path, pin-source */

/* Which attributes a URI has: bits of m2m_pkcs11_uri.has. */
enum m2m_p11_attr {
	M2M_P11_TOKEN = 1u << 0,
	M2M_P11_MANUFACTURER = 1u << 1,
	M2M_P11_SERIAL = 1u << 2,
	M2M_P11_MODEL = 1u << 3,
	M2M_P11_LIB_MANUFACTURER = 1u << 4,
	M2M_P11_LIB_DESCRIPTION = 1u << 5,
	M2M_P11_LIB_VERSION = 1u << 6,
	M2M_P11_SLOT_ID = 1u << 7,
	M2M_P11_SLOT_DESCRIPTION = 1u << 8,
	M2M_P11_SLOT_MANUFACTURER = 1u << 9,
	M2M_P11_OBJECT = 1u << 10,
	M2M_P11_ID = 1u << 11,
	M2M_P11_TYPE = 1u << 12,
	M2M_P11_PIN_SOURCE = 1u << 13,
	M2M_P11_PIN_VALUE = 1u << 14,
	M2M_P11_MODULE_NAME = 1u << 15,
	M2M_P11_MODULE_PATH = 1u << 16
};

enum m2m_p11_type {
	M2M_P11_TYPE_PRIVATE = 1,
	M2M_P11_TYPE_PUBLIC,
	M2M_P11_TYPE_CERT,
	M2M_P11_TYPE_SECRET_KEY,
	M2M_P11_TYPE_DATA
};

/*
 * A parsed URI.  Text values are NUL-terminated (a NUL inside is
 * refused); object and id are bytes with a length.  Only the attributes
 * whose bit is in has were given; the rest are zero.
 */
struct m2m_pkcs11_uri {
	unsigned has;				/* enum m2m_p11_attr bits */
	char token[M2M_P11_LABEL_MAX + 1];
	char manufacturer[M2M_P11_LABEL_MAX + 1];
	char serial[M2M_P11_SERIAL_MAX + 1];
	char model[M2M_P11_SERIAL_MAX + 1];
	char lib_manufacturer[M2M_P11_LABEL_MAX + 1];
	char lib_description[M2M_P11_LABEL_MAX + 1];
	uint8_t lib_version[2];			/* major, minor (".0" if absent) */
	unsigned long slot_id;
	char slot_description[M2M_P11_SLOTDESC_MAX + 1];
	char slot_manufacturer[M2M_P11_LABEL_MAX + 1];
	uint8_t object[M2M_P11_OBJECT_MAX];	/* CKA_LABEL */
	size_t object_len;
	uint8_t id[M2M_P11_ID_MAX];		/* CKA_ID */
	size_t id_len;
	enum m2m_p11_type type;
	char pin_source[M2M_P11_PATH_MAX + 1];
	char pin_value[M2M_P11_PIN_MAX + 1];	/* a secret: release() wipes */
	char module_name[M2M_P11_NAME_MAX + 1];
	char module_path[M2M_P11_PATH_MAX + 1];
	/* The path part, "pkcs11:" included, as given: for messages. */
	char path[M2M_P11_URI_MAX + 8];
};

/*
 * Parse the locator s[0..len) (the URI without "pkcs11:") into *uri.
 * Returns M2M_OK, or M2M_ERR_INVALID with the detail
 * "invalid PKCS#11 URI 'pkcs11:PATH': REASON" (see above); *uri is then
 * wiped.  Release *uri with m2m_pkcs11_uri_release() either way.
 */
enum m2m_err m2m_pkcs11_uri_parse(struct m2m_ctx *ctx, const char *s,
				  size_t len, struct m2m_pkcs11_uri *uri);

/* Wipe *uri (it may hold a PIN). */
void m2m_pkcs11_uri_release(struct m2m_pkcs11_uri *uri);

#endif
