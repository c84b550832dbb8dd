/* SPDX-License-Identifier: Apache-2.0 */
/* The tpm2: locator parser (grammar in tpm2_uri.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <m2m/hex.h>

#include "../internal.h"
#include "tpm2_uri.h"

#define PERSISTENT_FIRST	0x81000000u
#define PERSISTENT_LAST		0x81FFFFFFu
#define NV_FIRST		0x01000000u
#define NV_LAST			0x01FFFFFFu

enum attr { ATTR_HANDLE, ATTR_NV, ATTR_PARENT, NATTRS };

static const char *const attr_names[NATTRS] = { "handle", "nv", "parent" };

/* "'tpm2:LOCATOR': " and the printf-formatted reason, as INVALID. */
__attribute__((format(printf, 4, 5)))
static enum m2m_err bad(struct m2m_ctx *ctx, const char *loc, size_t len,
			const char *fmt, ...)
{
	char q[M2M_QUOTE_MAX], why[M2M_DETAIL_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return m2m_error(ctx, M2M_ERR_INVALID, "'tpm2:%s': %s",
			 m2m_quote(q, loc, len), why);
}

/* s[0..n) as "0x" and 1-8 hex digits into *v; 0 if it is not. */
static int hex32(const char *s, size_t n, uint32_t *v)
{
	size_t i;

	if (n < 3 || n > 10 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return 0;
	*v = 0;
	for (i = 2; i < n; i++) {
		int d = m2m_hex_value((unsigned char)s[i]);

		if (d < 0)
			return 0;
		*v = *v << 4 | (uint32_t)d;
	}
	return 1;
}

enum m2m_err m2m_tpm2_uri_parse(struct m2m_ctx *ctx, const char *loc,
				size_t len, struct m2m_tpm2_uri *out)
{
	char q[M2M_QUOTE_MAX];
	uint32_t val[NATTRS] = { 0 };
	int seen[NATTRS] = { 0 };
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'tpm2:' names no handle or NV index");
	if (len > M2M_TPM2_URI_MAX)
		return bad(ctx, loc, len, "longer than %d bytes",
			   M2M_TPM2_URI_MAX);
	if (memchr(loc, '\0', len))
		return bad(ctx, loc, len, "contains a NUL byte");
	while (pos <= len) {
		const char *a = loc + pos, *semi, *eq;
		size_t n, k, i;

		semi = memchr(a, ';', len - pos);
		n = semi ? (size_t)(semi - a) : len - pos;
		pos += n + 1;
		if (n == 0)
			return bad(ctx, loc, len, "empty attribute");
		eq = memchr(a, '=', n);
		if (!eq)
			return bad(ctx, loc, len, "'%s' is not NAME=VALUE",
				   m2m_quote(q, a, n));
		k = (size_t)(eq - a);
		for (i = 0; i < NATTRS; i++)
			if (strlen(attr_names[i]) == k &&
			    memcmp(attr_names[i], a, k) == 0)
				break;
		if (i == NATTRS)
			return bad(ctx, loc, len,
				   "unknown attribute '%s' (handle, nv or parent)",
				   m2m_quote(q, a, k));
		if (seen[i])
			return bad(ctx, loc, len, "'%s' given twice",
				   attr_names[i]);
		seen[i] = 1;
		if (!hex32(eq + 1, n - k - 1, &val[i]))
			return bad(ctx, loc, len,
				   "%s '%s' is not 0x and 1 to 8 hex digits",
				   attr_names[i],
				   m2m_quote(q, eq + 1, n - k - 1));
	}
	if (seen[ATTR_HANDLE] == seen[ATTR_NV])
		return bad(ctx, loc, len,
			   seen[ATTR_NV] ? "give handle= or nv=, not both" :
			   "names no handle= or nv=");
	if (seen[ATTR_NV] && seen[ATTR_PARENT])
		return bad(ctx, loc, len, "parent= goes with handle=, not nv=");
	if (seen[ATTR_NV] && (val[ATTR_NV] < NV_FIRST || val[ATTR_NV] > NV_LAST))
		return bad(ctx, loc, len,
			   "NV index 0x%08x is not in 0x%08x-0x%08x",
			   val[ATTR_NV], NV_FIRST, NV_LAST);
	if (seen[ATTR_HANDLE]) {
		if (val[ATTR_HANDLE] < PERSISTENT_FIRST ||
		    val[ATTR_HANDLE] > PERSISTENT_LAST)
			return bad(ctx, loc, len,
				   "handle 0x%08x is not a persistent handle (0x%08x-0x%08x)",
				   val[ATTR_HANDLE], PERSISTENT_FIRST,
				   PERSISTENT_LAST);
		if (val[ATTR_HANDLE] == M2M_TPM2_SRK)
			return bad(ctx, loc, len,
				   "handle 0x%08x is the SRK, not a signing key",
				   M2M_TPM2_SRK);
		if (!seen[ATTR_PARENT])
			val[ATTR_PARENT] = M2M_TPM2_SRK;
		if (val[ATTR_PARENT] < PERSISTENT_FIRST ||
		    val[ATTR_PARENT] > PERSISTENT_LAST)
			return bad(ctx, loc, len,
				   "parent 0x%08x is not a persistent handle (0x%08x-0x%08x)",
				   val[ATTR_PARENT], PERSISTENT_FIRST,
				   PERSISTENT_LAST);
		if (val[ATTR_PARENT] == val[ATTR_HANDLE])
			return bad(ctx, loc, len,
				   "a key cannot be its own parent");
	}
	out->kind = seen[ATTR_NV] ? M2M_TPM2_URI_NV : M2M_TPM2_URI_HANDLE;
	out->handle = seen[ATTR_NV] ? val[ATTR_NV] : val[ATTR_HANDLE];
	out->parent = seen[ATTR_NV] ? 0 : val[ATTR_PARENT];
	out->parent_given = seen[ATTR_PARENT];
	return M2M_OK;
}
