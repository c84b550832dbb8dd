/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_HEX_H
#define M2M_HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Lower-case hex of in[0..len) into out, which must hold 2 * len + 1
 * bytes; NUL-terminated.  Returns out.
 */
char *m2m_hex_encode(const uint8_t *in, size_t len, char *out);

/* The value of one hex digit of either case, or -1. */
int m2m_hex_value(unsigned char c);

#endif
