/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_CERTSTREAM_H
#define M2M_CERTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

/*
 * Reading many DER objects (certificates, CRLs) from one file or buffer,
 * one at a time, in constant memory, whatever the number: PEM bundles
 * (every block of the one label; text around blocks and blocks of other
 * labels skipped) or DER, one object or several concatenated.  Which of
 * the two a stream is, is decided by its first byte: 0x30 (a DER
 * SEQUENCE) is DER, anything else PEM.
 *
 * What is read is capped: each object at max bytes of DER, each PEM line
 * at M2M_CERTSTREAM_LINE_MAX bytes.
 */

struct m2m_certstream;

#define M2M_CERTSTREAM_LINE_MAX	(16 * 1024)

/*
 * A stream over the file at path ("-": standard input, named "<stdin>")
 * of objects of PEM label (NULL: "CERTIFICATE"; "X509 CRL" for CRLs),
 * each at most max bytes of DER.  M2M_ERR_NOT_FOUND if the file does not
 * exist, M2M_ERR_INVALID if it is a directory, M2M_ERR_IO otherwise.
 * Caller owns *out; free with m2m_certstream_free().
 */
enum m2m_err m2m_certstream_open(struct m2m_ctx *ctx, const char *path,
				 const char *label, size_t max,
				 struct m2m_certstream **out);

/* The same over buf[0..len) (borrowed; must outlive the stream). */
enum m2m_err m2m_certstream_new_mem(struct m2m_ctx *ctx, const void *buf,
				    size_t len, const char *label, size_t max,
				    struct m2m_certstream **out);

/* Close and free a stream.  Accepts NULL. */
void m2m_certstream_free(struct m2m_certstream *s);

/*
 * The next object: *der and *len get its DER (borrowed, valid until the
 * next call), or *der NULL at the end.  M2M_ERR_INVALID, with a detail
 * that says which object ("certificate 3: ...") and why, for a PEM block
 * cut short or not valid base64, an object larger than max, DER that is
 * not one definite-length SEQUENCE, bytes that are not an object, and a
 * stream that holds none at all (the details do not name the stream: the
 * caller does); M2M_ERR_IO if reading fails.  After a
 * failure the stream is at its end.  Only the framing is checked: whether
 * the bytes are a valid certificate is the caller's business.
 */
enum m2m_err m2m_certstream_next(struct m2m_ctx *ctx, struct m2m_certstream *s,
				 const uint8_t **der, size_t *len);

/* Number of objects m2m_certstream_next() has handed out. */
uint64_t m2m_certstream_count(const struct m2m_certstream *s);

/* The name the stream reads (the path, or "<stdin>"). Borrowed. */
const char *m2m_certstream_name(const struct m2m_certstream *s);

#endif
