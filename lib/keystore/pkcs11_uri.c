/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 URIs (RFC 7512): the contract is in pkcs11_uri.h. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <m2m/key.h>

#include "../internal.h"
#include "pkcs11_uri.h"

/* Where a value goes: a text field, bytes with a length, or a number. */
enum kind {
	TEXT,		/* NUL-terminated, no NUL inside */
	BYTES,		/* object, id */
	SLOT_ID,
	LIB_VERSION,
	TYPE
};

struct attr {
	const char *name;
	unsigned bit;
	int query;		/* a query attribute, else a path one */
	enum kind kind;
	size_t off;		/* of the field in struct m2m_pkcs11_uri */
	size_t len_off;		/* BYTES: of its length */
	size_t max;		/* room for the value, without the NUL */
};

#define F(field) offsetof(struct m2m_pkcs11_uri, field)
#define ROOM(field) (sizeof(((struct m2m_pkcs11_uri *)0)->field) - 1)

static const struct attr attrs[] = {
	{ "token", M2M_P11_TOKEN, 0, TEXT, F(token), 0, ROOM(token) },
	{ "manufacturer", M2M_P11_MANUFACTURER, 0, TEXT, F(manufacturer), 0,
	  ROOM(manufacturer) },
	{ "serial", M2M_P11_SERIAL, 0, TEXT, F(serial), 0, ROOM(serial) },
	{ "model", M2M_P11_MODEL, 0, TEXT, F(model), 0, ROOM(model) },
	{ "library-manufacturer", M2M_P11_LIB_MANUFACTURER, 0, TEXT,
	  F(lib_manufacturer), 0, ROOM(lib_manufacturer) },
	{ "library-description", M2M_P11_LIB_DESCRIPTION, 0, TEXT,
	  F(lib_description), 0, ROOM(lib_description) },
	{ "library-version", M2M_P11_LIB_VERSION, 0, LIB_VERSION, 0, 0, 7 },
	{ "slot-id", M2M_P11_SLOT_ID, 0, SLOT_ID, 0, 0, 20 },
	{ "slot-description", M2M_P11_SLOT_DESCRIPTION, 0, TEXT,
	  F(slot_description), 0, ROOM(slot_description) },
	{ "slot-manufacturer", M2M_P11_SLOT_MANUFACTURER, 0, TEXT,
	  F(slot_manufacturer), 0, ROOM(slot_manufacturer) },
	{ "object", M2M_P11_OBJECT, 0, BYTES, F(object), F(object_len),
	  M2M_P11_OBJECT_MAX },
	{ "id", M2M_P11_ID, 0, BYTES, F(id), F(id_len), M2M_P11_ID_MAX },
	{ "type", M2M_P11_TYPE, 0, TYPE, 0, 0, 10 },
	{ "pin-source", M2M_P11_PIN_SOURCE, 1, TEXT, F(pin_source), 0,
	  ROOM(pin_source) },
	{ "pin-value", M2M_P11_PIN_VALUE, 1, TEXT, F(pin_value), 0,
	  ROOM(pin_value) },
	{ "module-name", M2M_P11_MODULE_NAME, 1, TEXT, F(module_name), 0,
	  ROOM(module_name) },
	{ "module-path", M2M_P11_MODULE_PATH, 1, TEXT, F(module_path), 0,
	  ROOM(module_path) },
};

#define NATTRS (sizeof(attrs) / sizeof(attrs[0]))

static const char *const type_names[] = {
	[M2M_P11_TYPE_PRIVATE] = "private",
	[M2M_P11_TYPE_PUBLIC] = "public",
	[M2M_P11_TYPE_CERT] = "cert",
	[M2M_P11_TYPE_SECRET_KEY] = "secret-key",
	[M2M_P11_TYPE_DATA] = "data",
};

/*
 * RFC 7512, section 2.3: what a value may hold unescaped.
 *   pk11-res-avail       = ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" /
 *                          ")" / "*" / "+" / "," / "="
 *   pk11-path-res-avail  = pk11-res-avail / "&"
 *   pk11-query-res-avail = pk11-res-avail / "/" / "?" / "|"
 * plus unreserved (ALPHA / DIGIT / "-" / "." / "_" / "~").
 */
static int plain_char(unsigned char c, int query)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	if (c && strchr("-._~:[]@!$'()*+,=", c))
		return 1;
	if (query)
		return c == '/' || c == '?' || c == '|';
	return c == '&';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the value v[0..n) into out[0..max) (out may be NULL: check
 * only); *outlen gets its length.  On failure writes the reason into
 * why[0..wsize) and returns -1.
 */
static int decode(const char *v, size_t n, int query, const char *name,
		  uint8_t *out, size_t max, size_t *outlen, char *why,
		  size_t wsize)
{
	char q[M2M_QUOTE_MAX];
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		int hi, lo;

		if (c == '%') {
			hi = i + 2 < n ? hexval((unsigned char)v[i + 1]) : -1;
			lo = i + 2 < n ? hexval((unsigned char)v[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				snprintf(why, wsize, "bad %%-escape in '%s'",
					 m2m_quote(q, name, strlen(name)));
				return -1;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (!plain_char(c, query)) {
			snprintf(why, wsize,
				 "byte 0x%02x in '%s' must be %%-escaped", c,
				 m2m_quote(q, name, strlen(name)));
			return -1;
		}
		if (o == max) {
			snprintf(why, wsize, "'%s' is longer than %zu bytes",
				 m2m_quote(q, name, strlen(name)), max);
			return -1;
		}
		if (out)
			out[o] = c;
		o++;
	}
	*outlen = o;
	return 0;
}

/* "M" or "M.m", each 0..255. */
static int parse_version(const uint8_t *s, size_t n, uint8_t ver[2])
{
	unsigned v[2] = { 0, 0 };
	size_t i, part = 0, digits = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '.' && part == 0 && digits) {
			part = 1;
			digits = 0;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ++digits > 3)
			return -1;
		v[part] = v[part] * 10 + (unsigned)(s[i] - '0');
	}
	if (!digits || v[0] > 255 || v[1] > 255)
		return -1;
	ver[0] = (uint8_t)v[0];
	ver[1] = (uint8_t)v[1];
	return 0;
}

static int parse_ulong(const uint8_t *s, size_t n, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (ULONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Vendor attribute names carry a '-' (RFC 7512, section 2.3). */
static int name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* One "name=value" of s[0..n), in the path or the query. */
static int one_attr(struct m2m_pkcs11_uri *uri, const char *s, size_t n,
		    int query, int hide, char *why, size_t wsize)
{
	const char *eq = memchr(s, '=', n);
	const struct attr *a = NULL;
	uint8_t scratch[24];
	char q[M2M_QUOTE_MAX];
	size_t nlen, vlen, got = 0, i;
	uint8_t *dst;

	if (n == 0) {
		snprintf(why, wsize, "empty attribute in the %s",
			 query ? "query" : "path");
		return -1;
	}
	if (!eq || !name_ok(s, (size_t)(eq - s))) {
		/* Not shown from the query: it may be a mistyped PIN. */
		if (query)
			snprintf(why, wsize,
				 "a query attribute is not NAME=VALUE");
		else
			snprintf(why, wsize, "'%s' is not NAME=VALUE",
				 m2m_quote(q, s, n));
		return -1;
	}
	nlen = (size_t)(eq - s);
	vlen = n - nlen - 1;
	for (i = 0; i < NATTRS; i++)
		if (strlen(attrs[i].name) == nlen &&
		    memcmp(attrs[i].name, s, nlen) == 0)
			a = &attrs[i];
	if (a && a->query != query) {
		snprintf(why, wsize, "'%s' belongs in the %s", a->name,
			 a->query ? "query (after '?')" : "path");
		return -1;
	}
	if (!a) {
		if (memchr(s, '-', nlen)) {
			/* A vendor attribute: checked, then ignored. */
			return decode(eq + 1, vlen, query, "vendor attribute",
				      NULL, M2M_P11_URI_MAX, &got, why, wsize);
		}
		if (hide)
			snprintf(why, wsize,
				 "unknown query attribute (not shown: the query holds a pin-value)");
		else
			snprintf(why, wsize, "unknown %s attribute '%s'",
				 query ? "query" : "path",
				 m2m_quote(q, s, nlen));
		return -1;
	}
	if (uri->has & a->bit) {
		snprintf(why, wsize, "'%s' is given twice", a->name);
		return -1;
	}
	if (vlen == 0) {
		snprintf(why, wsize, "'%s' is empty", a->name);
		return -1;
	}
	dst = a->kind == TEXT || a->kind == BYTES ?
	      (uint8_t *)uri + a->off : scratch;
	if (decode(eq + 1, vlen, query, a->name, dst, a->max, &got, why,
		   wsize) < 0)
		return -1;
	switch (a->kind) {
	case TEXT:
		if (memchr(dst, '\0', got)) {
			snprintf(why, wsize, "'%s' holds a NUL byte", a->name);
			return -1;
		}
		dst[got] = '\0';
		break;
	case BYTES:
		*(size_t *)(void *)((char *)uri + a->len_off) = got;
		break;
	case SLOT_ID:
		if (parse_ulong(dst, got, &uri->slot_id) < 0) {
			snprintf(why, wsize, "'slot-id' is not a number");
			return -1;
		}
		break;
	case LIB_VERSION:
		if (parse_version(dst, got, uri->lib_version) < 0) {
			snprintf(why, wsize,
				 "'library-version' is not MAJOR[.MINOR]");
			return -1;
		}
		break;
	case TYPE:
		for (i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
			if (strlen(type_names[i]) == got &&
			    memcmp(type_names[i], dst, got) == 0)
				uri->type = (enum m2m_p11_type)i;
		if (!uri->type) {
			snprintf(why, wsize,
				 "'type' is not private, public, cert, secret-key or data");
			return -1;
		}
		break;
	}
	uri->has |= a->bit;
	return 0;
}

/* The attributes of s[0..n), separated by sep. */
static int attr_list(struct m2m_pkcs11_uri *uri, const char *s, size_t n,
		     char sep, int query, char *why, size_t wsize)
{
	size_t start = 0, i;
	/*
	 * A PIN with an unescaped '&' in it reads as a pin-value and then
	 * an unknown attribute: in a query holding a pin-value, unknown
	 * names are not repeated.
	 */
	int hide = query && memmem(s, n, "pin-value", 9) != NULL;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != sep)
			continue;
		if (one_attr(uri, s + start, i - start, query, hide, why,
			     wsize) < 0)
			return -1;
		start = i + 1;
	}
	return 0;
}

/*
 * The path p[0..n) quoted for a detail, into q: a pin-value put in the
 * path by mistake is shown as "***", so that the PIN stays out of the
 * detail as it does when it is in the query.
 */
static const char *path_quoted(char q[M2M_QUOTE_MAX], const char *p, size_t n)
{
	static const char pv[] = "pin-value=";
	char buf[M2M_QUOTE_MAX + sizeof(pv) + 3];
	size_t i = 0, o = 0, k = sizeof(pv) - 1;

	/* m2m_quote shows at most 40 bytes; buf holds more, so it cuts. */
	while (i < n && o < M2M_QUOTE_MAX) {
		if (n - i >= k && memcmp(p + i, pv, k) == 0) {
			memcpy(buf + o, pv, k);
			memcpy(buf + o + k, "***", 3);
			o += k + 3;
			for (i += k; i < n && p[i] != ';'; i++)
				;
		} else {
			buf[o++] = p[i++];
		}
	}
	return m2m_quote(q, buf, o);
}

enum m2m_err m2m_pkcs11_uri_parse(struct m2m_ctx *ctx, const char *s,
				  size_t len, struct m2m_pkcs11_uri *uri)
{
	char why[160], q[M2M_QUOTE_MAX];
	const char *qmark;
	size_t plen;

	memset(uri, 0, sizeof(*uri));
	if (len > M2M_P11_URI_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "invalid PKCS#11 URI: longer than %d bytes",
				 M2M_P11_URI_MAX);
	qmark = memchr(s, '?', len);
	plen = qmark ? (size_t)(qmark - s) : len;
	memcpy(uri->path, "pkcs11:", 7);
	memcpy(uri->path + 7, s, plen);
	uri->path[7 + plen] = '\0';
	why[0] = '\0';
	if (plen && attr_list(uri, s, plen, ';', 0, why, sizeof(why)) < 0)
		goto bad;
	if (qmark && len > plen + 1 &&
	    attr_list(uri, qmark + 1, len - plen - 1, '&', 1, why,
		      sizeof(why)) < 0)
		goto bad;
	if ((uri->has & M2M_P11_PIN_SOURCE) && (uri->has & M2M_P11_PIN_VALUE)) {
		snprintf(why, sizeof(why),
			 "both 'pin-value' and 'pin-source' are given");
		goto bad;
	}
	if ((uri->has & M2M_P11_MODULE_PATH) && uri->module_path[0] != '/') {
		snprintf(why, sizeof(why),
			 "'module-path' is not an absolute path");
		goto bad;
	}
	return M2M_OK;
bad:
	m2m_error(ctx, M2M_ERR_INVALID, "invalid PKCS#11 URI '%s': %s",
		  path_quoted(q, uri->path, 7 + plen), why);
	m2m_pkcs11_uri_release(uri);
	return M2M_ERR_INVALID;
}

void m2m_pkcs11_uri_release(struct m2m_pkcs11_uri *uri)
{
	m2m_secret_wipe(uri, sizeof(*uri));
}
