/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_DER_H
#define M2M_DER_H

/*
 * Internal: the little DER the library writes and reads by hand, where
 * going through OpenSSL's templates would cost more than the work itself
 * (the certificates it issues, once per certificate).
 */

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

/* A bounded DER writer: on overflow ->bad is set and nothing more goes. */
struct m2m_der {
	uint8_t *buf;
	size_t size, len;
	int bad;
};

/* Start writing into buf[0..size). */
void m2m_der_init(struct m2m_der *d, uint8_t *buf, size_t size);

/* Append tag, length and content[0..len). */
void m2m_der_tlv(struct m2m_der *d, uint8_t tag, const void *content,
		 size_t len);

/* Append n octets that are DER already (a whole element, or several). */
void m2m_der_raw(struct m2m_der *d, const void *p, size_t n);

/*
 * Open a constructed element: returns a mark to close it with
 * m2m_der_close(), which fills in its length (content at most 65535).
 */
size_t m2m_der_open(struct m2m_der *d, uint8_t tag);
void m2m_der_close(struct m2m_der *d, size_t mark);

/*
 * Read one element of tag from in[*off..len): its content in
 * *content and *clen, *off moved past it.  Definite lengths of at most four
 * octets only, minimal encoding.  -1 if it is not there or malformed.
 */
int m2m_der_read(const uint8_t *in, size_t len, size_t *off, uint8_t tag,
		 const uint8_t **content, size_t *clen);

/* The DER of id-on-hardwareModuleName (1.3.6.1.5.5.7.8.4) content. */
extern const uint8_t m2m_oid_hwmodule[8];

/*
 * Parse a HardwareModuleName (RFC 4108):
 *   HardwareModuleName ::= SEQUENCE {
 *       hwType       OBJECT IDENTIFIER,
 *       hwSerialNum  OCTET STRING }
 * from der[0..len), nothing after it.  *hw_type gets the OID's full DER
 * (tag and length included), *serial the octets.  M2M_ERR_INVALID with a
 * detail on anything else.
 */
enum m2m_err m2m_hwmodule_parse(struct m2m_ctx *ctx, const uint8_t *der,
				size_t len, const uint8_t **hw_type,
				size_t *hw_type_len, const uint8_t **serial,
				size_t *serial_len);

#endif
