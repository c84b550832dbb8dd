/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_TPM2_URI_H
#define M2M_TPM2_URI_H

/*
 * Internal: the locator of a "tpm2:" URI (the part after the scheme), kept
 * apart from lib/keystore/tpm2.c so that it can be tested and fuzzed
 * without a TPM or tss2.  The grammar:
 *
 *   locator   = attr *( ";" attr )
 *   attr      = ( "handle" / "nv" / "parent" ) "=" hex32
 *   hex32     = ( "0x" / "0X" ) 1*8HEXDIG
 *
 * with exactly one of handle= (a persistent key, 0x81000000-0x81FFFFFF,
 * not the SRK's 0x81000001) or nv= (an NV index, 0x01000000-0x01FFFFFF);
 * parent= (a persistent storage key, default 0x81000001) only beside
 * handle=, and not equal to it.  No attribute twice, nothing else.
 */

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

#define M2M_TPM2_URI_MAX	256		/* longest locator accepted */
#define M2M_TPM2_SRK		0x81000001u	/* TCG SRK handle */

enum m2m_tpm2_uri_kind {
	M2M_TPM2_URI_HANDLE,	/* handle=: a persistent key */
	M2M_TPM2_URI_NV		/* nv=: an NV index (a certificate) */
};

struct m2m_tpm2_uri {
	enum m2m_tpm2_uri_kind kind;
	uint32_t handle;	/* the persistent handle or the NV index */
	uint32_t parent;	/* handle=: the parent, M2M_TPM2_SRK unless
				   given; nv=: 0 */
	int parent_given;	/* parent= was in the locator */
};

/*
 * Parse the locator loc[0..len) (not NUL-terminated; a NUL byte in it is
 * an error) into *out.  Returns M2M_ERR_INVALID with a detail that quotes
 * the locator (m2m_quote) and says what is wrong: empty, longer than
 * M2M_TPM2_URI_MAX, an unknown or repeated attribute, a value that is not
 * 0x and 1-8 hex digits, a handle or index out of its range, or a
 * combination that means nothing.  *out is zeroed on failure.
 */
enum m2m_err m2m_tpm2_uri_parse(struct m2m_ctx *ctx, const char *loc,
				size_t len, struct m2m_tpm2_uri *out);

#endif
