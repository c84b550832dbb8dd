/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profiles.conf (include/m2m/profile.h has the rules):
 *
 *   file    = [BOM] *(line LF) [line]
 *   line    = *WSP [section / setting / comment] *WSP [CR]
 *   section = "[" *WSP name *WSP "]"
 *   setting = key *WSP "=" *WSP [value]
 *   comment = "#" *(any byte but NUL)
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <m2m/key.h>
#include <m2m/ledger.h>
#include <m2m/profile.h>

#include "internal.h"

/* Keys in the order m2m_profiles_format() writes them. */
enum key {
	K_TYPE,
	K_HW_TYPE,
	K_SUBJECT,
	K_KEY_ALGS,
	K_LIFETIME,
	K_SKI,
	K_KU,
	K_EKU,
	K_REQUEST_NAMES,
	K_MASA_URL,
	K_TRUST_ANCHORS,
	K_PROFILE_COUNT,			/* keys of a profile section */
	K_CRL_VALIDITY = K_PROFILE_COUNT,	/* keys of [ca] */
	K_CA_KEY,
	K_CA_LEDGER,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	[K_TYPE] = "type",
	[K_HW_TYPE] = "hw-type",
	[K_SUBJECT] = "subject",
	[K_KEY_ALGS] = "key-algorithms",
	[K_LIFETIME] = "lifetime",
	[K_SKI] = "subject-key-id",
	[K_KU] = "key-usage",
	[K_EKU] = "extended-key-usage",
	[K_REQUEST_NAMES] = "request-names",
	[K_MASA_URL] = "masa-url",
	[K_TRUST_ANCHORS] = "trust-anchors",
	[K_CRL_VALIDITY] = "crl-validity",
	[K_CA_KEY] = "key",
	[K_CA_LEDGER] = "ledger",
};

#define LIFETIME_MAX_DAYS	36500
#define CRL_VALIDITY_MAX_DAYS	3650
#define DEFAULT_CRL_DAYS	7
#define DEFAULT_LDEVID_DAYS	365
#define DEFAULT_TRUST_ANCHORS	"manufacturers.pem"

/* Names of the bits of one list-valued key, in the order written. */
struct flag_name {
	const char *name;
	unsigned bit;
};

struct flag_list {
	enum key key;
	const char *choices;	/* for error messages */
	const struct flag_name *names;
	size_t n;
};

static const struct flag_name ku_names[] = {
	{ "digitalSignature", M2M_KU_DIGITAL_SIGNATURE },
	{ "keyEncipherment", M2M_KU_KEY_ENCIPHERMENT },
	{ "keyAgreement", M2M_KU_KEY_AGREEMENT },
};

static const struct flag_name eku_names[] = {
	{ "clientAuth", M2M_EKU_CLIENT_AUTH },
	{ "serverAuth", M2M_EKU_SERVER_AUTH },
};

static const struct flag_name san_names[] = {
	{ "dns", M2M_SAN_DNS },
	{ "uri", M2M_SAN_URI },
};

static const struct flag_list ku_list = {
	K_KU, "digitalSignature, keyEncipherment, keyAgreement", ku_names,
	sizeof(ku_names) / sizeof(ku_names[0])
};

static const struct flag_list eku_list = {
	K_EKU, "clientAuth, serverAuth", eku_names,
	sizeof(eku_names) / sizeof(eku_names[0])
};

static const struct flag_list san_list = {
	K_REQUEST_NAMES, "dns, uri", san_names,
	sizeof(san_names) / sizeof(san_names[0])
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int is_text(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* Trim blanks from both ends of s[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/*
 * As trim(), but a space escaped with a backslash at the end stays: it is
 * part of a subject value ("CN=x\ ", RFC 4514).
 */
static const char *trim_value(const char *s, size_t *len)
{
	const char *end = s + *len, *v;
	size_t n, bs = 0;

	v = trim(s, len);
	n = *len;
	while (bs < n && v[n - 1 - bs] == '\\')
		bs++;
	if (bs % 2 && v + n < end && v[n] == ' ')
		(*len)++;
	return v;
}

/* Copy s[0..len) into a zero-filled dst[0..size); len < size. */
static void set_text(char *dst, size_t size, const char *s, size_t len)
{
	memset(dst, 0, size);
	memcpy(dst, s, len);
}

static unsigned alg_bit(enum m2m_key_alg alg)
{
	return 1u << alg;
}

/* The defaults of type for a profile named name[0..namelen), maybe p->name. */
static void profile_defaults(struct m2m_profile *p, const char *name,
			     size_t namelen, enum m2m_profile_type type)
{
	char keep[M2M_PROFILE_NAME_MAX];

	memcpy(keep, name, namelen);
	memset(p, 0, sizeof(*p));
	set_text(p->name, sizeof(p->name), keep, namelen);
	p->type = type;
	p->key_algs = alg_bit(M2M_KEY_EC_P256) | alg_bit(M2M_KEY_EC_P384) |
		      alg_bit(M2M_KEY_RSA2048) | alg_bit(M2M_KEY_RSA3072);
	p->key_usage = M2M_KU_DIGITAL_SIGNATURE;
	if (type == M2M_PROFILE_LDEVID) {
		p->key_algs |= alg_bit(M2M_KEY_ED25519);
		p->lifetime_days = DEFAULT_LDEVID_DAYS;
		p->ext_key_usage = M2M_EKU_CLIENT_AUTH;
		set_text(p->trust_anchors, sizeof(p->trust_anchors),
			 DEFAULT_TRUST_ANCHORS, strlen(DEFAULT_TRUST_ANCHORS));
	}
}

void m2m_profiles_defaults(struct m2m_profiles *out)
{
	memset(out, 0, sizeof(*out));
	out->crl_validity_days = DEFAULT_CRL_DAYS;
	profile_defaults(&out->p[0], "idevid", 6, M2M_PROFILE_IDEVID);
	profile_defaults(&out->p[1], "ldevid", 6, M2M_PROFILE_LDEVID);
	out->n = 2;
}

static int valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= M2M_PROFILE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int find_profile(const struct m2m_profiles *p, const char *name,
			size_t len)
{
	size_t i;

	for (i = 0; i < p->n && i < M2M_PROFILES_MAX; i++)
		if (strnlen(p->p[i].name, sizeof(p->p[i].name)) == len &&
		    memcmp(p->p[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* ---- values -------------------------------------------------------------- */

/*
 * "Nd" with 1 <= N <= max into *days: 0, or -1 if it is not digits and a
 * 'd', -2 if N is out of range.
 */
static int parse_days(const char *v, size_t len, int64_t max, int64_t *days)
{
	int64_t n = 0;
	size_t i;

	if (len < 2 || v[len - 1] != 'd')
		return -1;
	for (i = 0; i < len - 1; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n <= max)
			n = n * 10 + (v[i] - '0');
	}
	if (n < 1 || n > max)
		return -2;
	*days = n;
	return 0;
}

static enum m2m_err parse_type(struct m2m_ctx *ctx, const char *v,
			       size_t len, enum m2m_profile_type *type)
{
	char q[M2M_QUOTE_MAX];

	if (is_text(v, len, "idevid")) {
		*type = M2M_PROFILE_IDEVID;
		return M2M_OK;
	}
	if (is_text(v, len, "ldevid")) {
		*type = M2M_PROFILE_LDEVID;
		return M2M_OK;
	}
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "type must be 'idevid' or 'ldevid', not '%s'",
			 m2m_quote(q, v, len));
}

/*
 *   oid = arc 1*("." arc)    ; first arc 0, 1 or 2; second arc 0..39
 *   arc = "0" / %x31-39 *DIGIT ; under a first arc 0 or 1
 */
static enum m2m_err check_oid(struct m2m_ctx *ctx, const char *v, size_t len)
{
	char q[M2M_QUOTE_MAX];
	size_t i = 0, arcs = 0;
	unsigned first = 0;

	if (len == 0)
		return M2M_OK;
	m2m_quote(q, v, len);
	if (len >= M2M_OID_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "hw-type '%s' is %zu characters long, more than %d",
				 q, len, M2M_OID_TEXT_MAX - 1);
	for (;;) {
		size_t start = i;
		unsigned val = 0;

		while (i < len && v[i] >= '0' && v[i] <= '9') {
			if (val < 1000)
				val = val * 10 + (unsigned)(v[i] - '0');
			i++;
		}
		if (i == start || (i < len && v[i] != '.'))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "hw-type must be a dotted OID like '1.3.6.1.4.1.99999.1', not '%s'",
					 q);
		if (i - start > 1 && v[start] == '0')
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "hw-type '%s': arc %zu has a leading zero",
					 q, arcs + 1);
		if (arcs == 0 && val > 2)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "hw-type '%s': the first arc must be 0, 1 or 2",
					 q);
		if (arcs == 0)
			first = val;
		if (arcs == 1 && first < 2 && val > 39)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "hw-type '%s': the second arc must be 0 to 39 under %u",
					 q, first);
		arcs++;
		if (i == len)
			break;
		i++;	/* the '.' */
	}
	if (arcs < 2)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "hw-type '%s' needs at least two arcs", q);
	return M2M_OK;
}

/*
 * The code point at s[0..len) (len >= 1), its length in *n; -1 for bytes
 * that are not UTF-8 (overlong forms, surrogates, above U+10FFFF).
 */
static long utf8_next(const unsigned char *s, size_t len, size_t *n)
{
	size_t need, i;
	long cp;

	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 1;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 2;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 3;
		cp = s[0] & 0x07;
	} else {
		return -1;
	}
	if (len <= need)
		return -1;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*n = need + 1;
	return cp;
}

/* Attributes a subject template may use; max in characters (RFC 5280). */
static const struct dn_attr {
	const char *name;
	size_t max;
} dn_attrs[] = {
	{ "C", 2 }, { "ST", 128 }, { "L", 128 }, { "O", 64 }, { "OU", 64 },
	{ "CN", 64 }, { "DC", 63 },
};

static const struct dn_attr *dn_attr_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(dn_attrs) / sizeof(dn_attrs[0]); i++)
		if (is_text(s, len, dn_attrs[i].name))
			return &dn_attrs[i];
	return NULL;
}

static int is_serial_number_attr(const char *s, size_t len)
{
	return (len == 12 && strncasecmp(s, "serialNumber", 12) == 0) ||
	       is_text(s, len, "2.5.4.5");
}

/* Characters a value writes as '\' c (RFC 4514, 2.4). */
static int dn_escapable(char c)
{
	return c && strchr(" ,+;<>\"\\=#", c) != NULL;
}

/* Characters a value must escape. */
static int dn_special(char c)
{
	return c && strchr("+;<>\"", c) != NULL;
}

/*
 * One "ATTR=value" of a subject template, v[*pos..) up to the next
 * unescaped ',' or the end; *pos ends on that ',' or at len.
 */
static enum m2m_err check_rdn(struct m2m_ctx *ctx, const char *v, size_t len,
			      size_t *pos)
{
	const struct dn_attr *attr;
	char q[M2M_QUOTE_MAX];
	size_t i = *pos, a = *pos, alen, vstart, nchars = 0;
	int upper_alpha = 1, label = 1;

	while (i < len && v[i] != '=' && v[i] != ',')
		i++;
	alen = i - a;
	if (i == len || v[i] == ',')
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: '%s' is not ATTR=value",
				 m2m_quote(q, v + a, i - a));
	attr = dn_attr_lookup(v + a, alen);
	if (!attr) {
		if (is_serial_number_attr(v + a, alen))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject must not hold serialNumber: the CA adds the device's serial number");
		if (alen == 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: an attribute name is missing before '='");
		if (is_blank(v[a]) || is_blank(v[i - 1]))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: no space is allowed around an attribute name ('%s')",
					 m2m_quote(q, v + a, alen));
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: unknown attribute '%s' (use C, ST, L, O, OU, CN or DC)",
				 m2m_quote(q, v + a, alen));
	}
	vstart = ++i;
	while (i < len && v[i] != ',') {
		unsigned char c = (unsigned char)v[i];
		size_t n = 1;

		if (c == '\\') {
			if (i + 1 == len || !dn_escapable(v[i + 1]))
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "subject: %s: '\\' must be followed by one of , + ; < > \" \\ = # or a space",
						 attr->name);
			c = (unsigned char)v[i + 1];
			n = 2;
		} else if (dn_special((char)c)) {
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: %s: '%c' must be written '\\%c'",
					 attr->name, c, c);
		} else if (c == '#' && i == vstart) {
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: %s: a value beginning with '#' must write it '\\#'",
					 attr->name);
		} else if (c == ' ' &&
			   (i == vstart || i + 1 == len || v[i + 1] == ',')) {
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: %s: a value must not begin or end with a space (write '\\ ')",
					 attr->name);
		} else if (c < 0x20 || c == 0x7f) {
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject: %s: byte 0x%02X (a control character) is not allowed",
					 attr->name, c);
		} else if (c >= 0x80) {
			long cp = utf8_next((const unsigned char *)v + i,
					    len - i, &n);

			if (cp < 0)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "subject: %s: the value is not valid UTF-8",
						 attr->name);
			if (cp < 0xA0)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "subject: %s: a control character is not allowed",
						 attr->name);
		}
		if (!(c >= 'A' && c <= 'Z'))
			upper_alpha = 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			label = 0;
		nchars++;
		i += n;
	}
	*pos = i;
	m2m_quote(q, v + vstart, i - vstart);
	if (nchars == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: %s has an empty value", attr->name);
	if (strcmp(attr->name, "C") == 0 && (nchars != 2 || !upper_alpha))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: C must be a two-letter country code like 'DE', not '%s'",
				 q);
	if (strcmp(attr->name, "DC") == 0 && !label)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: DC must be a DNS label (letters, digits, '-'), not '%s'",
				 q);
	if (nchars > attr->max)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject: %s '%s' is %zu characters long, more than %zu",
				 attr->name, q, nchars, attr->max);
	return M2M_OK;
}

static enum m2m_err check_subject(struct m2m_ctx *ctx, const char *v,
				  size_t len)
{
	size_t i = 0;
	enum m2m_err rc;

	if (len == 0)
		return M2M_OK;
	if (len >= M2M_DN_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject is %zu bytes long, more than %d", len,
				 M2M_DN_TEXT_MAX - 1);
	for (;;) {
		rc = check_rdn(ctx, v, len, &i);
		if (rc != M2M_OK)
			return rc;
		if (i == len)
			return M2M_OK;
		i++;	/* the ',' */
		if (i == len)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "subject ends with ','");
	}
}

/* masa-url: IA5 printable without spaces, "https://" and a host. */
static enum m2m_err check_url(struct m2m_ctx *ctx, const char *v, size_t len)
{
	char q[M2M_QUOTE_MAX];
	size_t i;

	if (len == 0)
		return M2M_OK;
	m2m_quote(q, v, len);
	if (len >= M2M_URL_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "masa-url '%s' is %zu characters long, more than %d",
				 q, len, M2M_URL_TEXT_MAX - 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c >= 0x7f)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "masa-url '%s': byte 0x%02X is not allowed (printable ASCII without spaces)",
					 q, c);
	}
	if (len <= 8 || memcmp(v, "https://", 8) != 0 || v[8] == '/')
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "masa-url must be an 'https://HOST/...' URL, not '%s'",
				 q);
	return M2M_OK;
}

/* trust-anchors: a relative path of [A-Za-z0-9._-] components. */
static enum m2m_err check_path(struct m2m_ctx *ctx, const char *v, size_t len)
{
	char q[M2M_QUOTE_MAX];
	size_t i, start = 0;

	if (len == 0)
		return M2M_OK;
	m2m_quote(q, v, len);
	if (len >= M2M_PATH_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "trust-anchors '%s' is %zu characters long, more than %d",
				 q, len, M2M_PATH_TEXT_MAX - 1);
	if (v[0] == '/')
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "trust-anchors must be a file name relative to the CA directory, not '%s'",
				 q);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == '/')
			continue;
		if (c >= 0x20 && c < 0x7f)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "trust-anchors '%s': '%c' is not allowed (letters, digits, '.', '_', '-', '/')",
					 q, c);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "trust-anchors '%s': byte 0x%02X is not allowed (letters, digits, '.', '_', '-', '/')",
				 q, c);
	}
	for (i = 0; i <= len; i++) {
		if (i < len && v[i] != '/')
			continue;
		if (i == start)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "trust-anchors '%s' has an empty path component",
					 q);
		if (is_text(v + start, i - start, ".") ||
		    is_text(v + start, i - start, ".."))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "trust-anchors '%s' must not hold '.' or '..' components",
					 q);
		start = i + 1;
	}
	return M2M_OK;
}

/* Iterates over the items of a list "a b", "a,b" or "a, b". */
struct items {
	const char *v;
	size_t len, pos;
};

/*
 * The next item: 1 and *item, *ilen; 0 at the end; -1 for an empty item
 * (a comma at either end, or two in a row).
 */
static int next_item(struct items *it, const char **item, size_t *ilen)
{
	const char *v = it->v;
	size_t start;

	while (it->pos < it->len && is_blank(v[it->pos]))
		it->pos++;
	if (it->pos == it->len)
		return 0;
	start = it->pos;
	while (it->pos < it->len && !is_blank(v[it->pos]) && v[it->pos] != ',')
		it->pos++;
	if (it->pos == start)
		return -1;
	*item = v + start;
	*ilen = it->pos - start;
	while (it->pos < it->len && is_blank(v[it->pos]))
		it->pos++;
	if (it->pos < it->len && v[it->pos] == ',') {
		it->pos++;
		while (it->pos < it->len && is_blank(v[it->pos]))
			it->pos++;
		if (it->pos == it->len)
			return -1;
	}
	return 1;
}

/* "none", or a list of names from l, into *out. */
static enum m2m_err parse_flags(struct m2m_ctx *ctx,
				const struct flag_list *l, const char *v,
				size_t len, unsigned *out)
{
	struct items it = { v, len, 0 };
	const char *key = key_names[l->key], *item;
	char q[M2M_QUOTE_MAX], qi[M2M_QUOTE_MAX];
	unsigned bits = 0;
	size_t ilen, j;
	int r;

	m2m_quote(q, v, len);
	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s must be 'none' or a list of: %s", key,
				 l->choices);
	if (is_text(v, len, "none")) {
		*out = 0;
		return M2M_OK;
	}
	for (;;) {
		r = next_item(&it, &item, &ilen);
		if (r == 0)
			break;
		if (r < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "%s '%s': a name is missing between commas",
					 key, q);
		for (j = 0; j < l->n; j++)
			if (is_text(item, ilen, l->names[j].name))
				break;
		if (j == l->n && is_text(item, ilen, "none"))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "%s '%s': 'none' cannot be combined with other names",
					 key, q);
		if (j == l->n)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "%s: unknown name '%s' (use %s, or none)",
					 key, m2m_quote(qi, item, ilen), l->choices);
		if (bits & l->names[j].bit)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "%s: '%s' is listed twice", key,
					 l->names[j].name);
		bits |= l->names[j].bit;
	}
	*out = bits;
	return M2M_OK;
}

/* "ec-p256, ec-p384, ..." for error messages. */
static const char *alg_choices(char *buf, size_t size)
{
	size_t o = 0;
	int a;

	buf[0] = '\0';
	for (a = 0; a < M2M_KEY_ALG_COUNT; a++) {
		int n = snprintf(buf + o, size - o, "%s%s", a ? ", " : "",
				 m2m_key_alg_name(a));

		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

static const char ed25519_idevid[] =
	"ed25519 is not allowed in an idevid profile (not every verifier of an IDevID supports it)";

static enum m2m_err parse_key_algs(struct m2m_ctx *ctx,
				   enum m2m_profile_type type, const char *v,
				   size_t len, unsigned *out)
{
	struct items it = { v, len, 0 };
	char q[M2M_QUOTE_MAX], qi[M2M_QUOTE_MAX], name[16], choices[128];
	const char *item;
	unsigned bits = 0;
	size_t ilen;
	int r, alg;

	m2m_quote(q, v, len);
	for (;;) {
		r = next_item(&it, &item, &ilen);
		if (r == 0)
			break;
		if (r < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key-algorithms '%s': a name is missing between commas",
					 q);
		alg = -1;
		if (ilen < sizeof(name)) {
			memcpy(name, item, ilen);
			name[ilen] = '\0';
			alg = m2m_key_alg_lookup(name);
		}
		if (alg < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key-algorithms: unknown algorithm '%s' (use %s)",
					 m2m_quote(qi, item, ilen),
					 alg_choices(choices, sizeof(choices)));
		if (bits & alg_bit(alg))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key-algorithms: '%s' is listed twice",
					 m2m_key_alg_name(alg));
		bits |= alg_bit(alg);
	}
	if (bits == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "key-algorithms needs at least one algorithm (%s)",
				 alg_choices(choices, sizeof(choices)));
	if (type == M2M_PROFILE_IDEVID && (bits & alg_bit(M2M_KEY_ED25519)))
		return m2m_error(ctx, M2M_ERR_INVALID, "key-algorithms: %s",
				 ed25519_idevid);
	*out = bits;
	return M2M_OK;
}

static enum m2m_err parse_lifetime(struct m2m_ctx *ctx, const char *v,
				   size_t len, int64_t *days)
{
	char q[M2M_QUOTE_MAX];
	int r;

	if (is_text(v, len, "forever")) {
		*days = 0;
		return M2M_OK;
	}
	r = parse_days(v, len, LIFETIME_MAX_DAYS, days);
	if (r == -1)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "lifetime must be 'forever' or a number of days like '365d', not '%s'",
				 m2m_quote(q, v, len));
	if (r == -2)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "lifetime '%s' is out of range: 1d to %dd",
				 m2m_quote(q, v, len), LIFETIME_MAX_DAYS);
	return M2M_OK;
}

static enum m2m_err parse_crl_validity(struct m2m_ctx *ctx, const char *v,
				       size_t len, int64_t *days)
{
	char q[M2M_QUOTE_MAX];
	int r;

	r = parse_days(v, len, CRL_VALIDITY_MAX_DAYS, days);
	if (r == -1)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "crl-validity must be a number of days like '7d', not '%s'",
				 m2m_quote(q, v, len));
	if (r == -2)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "crl-validity '%s' is out of range: 1d to %dd",
				 m2m_quote(q, v, len), CRL_VALIDITY_MAX_DAYS);
	return M2M_OK;
}

/* key = / ledger = of [ca]: a URI or path, printable ASCII. */
static enum m2m_err parse_location(struct m2m_ctx *ctx, enum key k,
				   const char *v, size_t len,
				   char out[M2M_URI_TEXT_MAX])
{
	char q[M2M_QUOTE_MAX];
	size_t i;

	if (len >= M2M_URI_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s is longer than %d characters",
				 key_names[k], M2M_URI_TEXT_MAX - 1);
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "%s '%s' holds a character that is not printable ASCII",
					 key_names[k], m2m_quote(q, v, len));
	memcpy(out, v, len);
	out[len] = '\0';
	return M2M_OK;
}

/*
 * A ledger URI must not hold a password: ca.conf is no place for one, and
 * libpq finds it in PGPASSWORD, a PGPASSFILE or ~/.pgpass.  Looked for
 * before anything quotes the value.
 */
static enum m2m_err ledger_password(struct m2m_ctx *ctx, const char *v,
				    size_t len)
{
	char buf[M2M_URI_TEXT_MAX], shown[M2M_LEDGER_SHOWN_MAX];
	int had = 0;

	if (len >= sizeof(buf))
		return M2M_OK;	/* refused as too long, unquoted */
	memcpy(buf, v, len);
	buf[len] = '\0';
	m2m_ledger_location_shown(buf, shown, sizeof(shown), &had);
	if (had)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "ledger '%s' holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead",
				 shown);
	return M2M_OK;
}

/* Apply "key = v" of the [ca] section to *p. */
static enum m2m_err apply_ca(struct m2m_ctx *ctx, struct m2m_profiles *p,
			     enum key k, const char *v, size_t len)
{
	char loc[M2M_URI_TEXT_MAX];
	int64_t days = 0;
	enum m2m_err rc;

	if (k == K_CRL_VALIDITY) {
		rc = parse_crl_validity(ctx, v, len, &days);
		if (rc == M2M_OK)
			p->crl_validity_days = days;
		return rc;
	}
	if (k == K_CA_LEDGER) {
		rc = ledger_password(ctx, v, len);
		if (rc != M2M_OK)
			return rc;
	}
	/* Whole buffers, zero-filled: equal settings are equal bytes. */
	memset(loc, 0, sizeof(loc));
	rc = parse_location(ctx, k, v, len, loc);
	if (rc == M2M_OK)
		memcpy(k == K_CA_KEY ? p->key : p->ledger, loc, sizeof(loc));
	return rc;
}

/*
 * Apply "key = v" to the profile *p.  typed: *p has had its "type"; a
 * first "type" makes *p the defaults of that type (keeping the name), a
 * later one changes only the type.  On failure *p may be half changed
 * (callers work on a copy).
 */
static enum m2m_err apply(struct m2m_ctx *ctx, struct m2m_profile *p,
			  enum key k, const char *v, size_t len, int typed)
{
	enum m2m_profile_type type;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc;

	switch (k) {
	case K_TYPE:
		rc = parse_type(ctx, v, len, &type);
		if (rc != M2M_OK)
			return rc;
		if (!typed) {
			profile_defaults(p, p->name, strnlen(p->name,
							     sizeof(p->name)),
					 type);
			return M2M_OK;
		}
		if (type == M2M_PROFILE_IDEVID &&
		    (p->key_algs & alg_bit(M2M_KEY_ED25519)))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "type cannot become idevid while key-algorithms holds ed25519: %s",
					 ed25519_idevid);
		if (type == M2M_PROFILE_IDEVID && p->trust_anchors[0])
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "type cannot become idevid while trust-anchors is set (it is for ldevid profiles; set it empty first)");
		p->type = type;
		return M2M_OK;
	case K_HW_TYPE:
		rc = check_oid(ctx, v, len);
		if (rc == M2M_OK)
			set_text(p->hw_type, sizeof(p->hw_type), v, len);
		return rc;
	case K_SUBJECT:
		rc = check_subject(ctx, v, len);
		if (rc == M2M_OK)
			set_text(p->subject, sizeof(p->subject), v, len);
		return rc;
	case K_KEY_ALGS:
		return parse_key_algs(ctx, p->type, v, len, &p->key_algs);
	case K_LIFETIME:
		return parse_lifetime(ctx, v, len, &p->lifetime_days);
	case K_SKI:
		if (is_text(v, len, "yes") || is_text(v, len, "no")) {
			p->subject_key_id = v[0] == 'y';
			return M2M_OK;
		}
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "subject-key-id must be 'yes' or 'no', not '%s'",
				 m2m_quote(q, v, len));
	case K_KU:
		return parse_flags(ctx, &ku_list, v, len, &p->key_usage);
	case K_EKU:
		return parse_flags(ctx, &eku_list, v, len, &p->ext_key_usage);
	case K_REQUEST_NAMES:
		return parse_flags(ctx, &san_list, v, len, &p->request_names);
	case K_MASA_URL:
		rc = check_url(ctx, v, len);
		if (rc == M2M_OK)
			set_text(p->masa_url, sizeof(p->masa_url), v, len);
		return rc;
	case K_TRUST_ANCHORS:
		if (len && p->type == M2M_PROFILE_IDEVID)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "trust-anchors is for ldevid profiles only; an idevid profile leaves it empty");
		rc = check_path(ctx, v, len);
		if (rc == M2M_OK)
			set_text(p->trust_anchors, sizeof(p->trust_anchors),
				 v, len);
		return rc;
	default:
		return m2m_error(ctx, M2M_ERR_INTERNAL, "no rule for key %d",
				 (int)k);
	}
}

/* The key named s[0..len) in a [ca] (ca) or profile section, or -1. */
static int key_lookup(const char *s, size_t len, int ca)
{
	int k;

	if (ca) {
		for (k = K_PROFILE_COUNT; k < K_COUNT; k++)
			if (is_text(s, len, key_names[k]))
				return k;
		return -1;
	}
	for (k = 0; k < K_PROFILE_COUNT; k++)
		if (is_text(s, len, key_names[k]))
			return k;
	return -1;
}

static enum m2m_err unknown_key(struct m2m_ctx *ctx, const char *key,
				size_t len, const char *section)
{
	char q[M2M_QUOTE_MAX];
	int ca = strcmp(section, "ca") == 0;

	return m2m_error(ctx, M2M_ERR_INVALID, "unknown key '%s' in [%s]%s",
			 m2m_quote(q, key, len), section,
			 ca && key_lookup(key, len, 0) >= 0 ?
			 " (it belongs in a profile section)" :
			 !ca && key_lookup(key, len, 1) >= 0 ?
			 " (it belongs in [ca])" : "");
}

/* ---- parse --------------------------------------------------------------- */

struct parser {
	struct m2m_ctx *ctx;
	struct m2m_profiles *out;
	size_t lineno;
	int section;		/* 0 none yet, 1 [ca], 2 a profile */
	size_t section_line;	/* the current section's "[...]" line */
	struct m2m_profile *cur;	/* the current profile */
	int typed;		/* cur has its "type" */
	size_t key_line[K_COUNT];	/* where each key of the section was */
	size_t ca_line;		/* where [ca] was, 0 if not yet */
	size_t profile_line[M2M_PROFILES_MAX];
};

/* The end of a section: a profile must have had its type. */
static enum m2m_err end_section(struct parser *ps)
{
	if (ps->section == 2 && !ps->typed)
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: [%s] has no 'type' (idevid or ldevid)",
				 ps->section_line, ps->cur->name);
	return M2M_OK;
}

static enum m2m_err parse_section(struct parser *ps, const char *s,
				  size_t len)
{
	struct m2m_profiles *out = ps->out;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc;
	int i;

	if (len < 2 || s[len - 1] != ']')
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: a section line must end with ']'",
				 ps->lineno);
	rc = end_section(ps);
	if (rc != M2M_OK)
		return rc;
	len -= 2;
	s = trim(s + 1, &len);
	if (!valid_name(s, len))
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: invalid section name '%s': a profile name is 1 to %d characters of a-z, 0-9 and '-'",
				 ps->lineno, m2m_quote(q, s, len),
				 M2M_PROFILE_NAME_MAX - 1);
	memset(ps->key_line, 0, sizeof(ps->key_line));
	ps->section_line = ps->lineno;
	if (is_text(s, len, "ca")) {
		if (ps->ca_line)
			return m2m_error(ps->ctx, M2M_ERR_INVALID,
					 "line %zu: section [ca] appears twice (first on line %zu)",
					 ps->lineno, ps->ca_line);
		ps->ca_line = ps->lineno;
		ps->section = 1;
		ps->cur = NULL;
		return M2M_OK;
	}
	i = find_profile(out, s, len);
	if (i >= 0)
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: profile [%s] appears twice (first on line %zu)",
				 ps->lineno, out->p[i].name,
				 ps->profile_line[i]);
	if (out->n == M2M_PROFILES_MAX)
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: more than %d profiles", ps->lineno,
				 M2M_PROFILES_MAX);
	ps->profile_line[out->n] = ps->lineno;
	ps->cur = &out->p[out->n++];
	set_text(ps->cur->name, sizeof(ps->cur->name), s, len);
	ps->section = 2;
	ps->typed = 0;
	return M2M_OK;
}

static enum m2m_err parse_setting(struct parser *ps, const char *s,
				  size_t len)
{
	const char *eq = memchr(s, '=', len), *key, *v;
	const char *section;
	char q[M2M_QUOTE_MAX];
	size_t klen, vlen;
	enum m2m_err rc;
	int k;

	if (!eq || eq == s)
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: expected 'key = value', '[section]', a comment or a blank line, not '%s'",
				 ps->lineno, m2m_quote(q, s, len));
	klen = (size_t)(eq - s);
	key = trim(s, &klen);
	vlen = len - (size_t)(eq - s) - 1;
	v = trim_value(eq + 1, &vlen);
	if (ps->section == 0)
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: '%s' comes before any [section]",
				 ps->lineno, m2m_quote(q, key, klen));
	section = ps->section == 1 ? "ca" : ps->cur->name;
	k = key_lookup(key, klen, ps->section == 1);
	if (k < 0) {
		rc = unknown_key(ps->ctx, key, klen, section);
		m2m_error_prefix(ps->ctx, "line %zu", ps->lineno);
		return rc;
	}
	if (ps->key_line[k])
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: '%s' appears twice in [%s] (first on line %zu)",
				 ps->lineno, key_names[k], section,
				 ps->key_line[k]);
	ps->key_line[k] = ps->lineno;
	if (k >= K_PROFILE_COUNT) {
		rc = apply_ca(ps->ctx, ps->out, k, v, vlen);
	} else if (k != K_TYPE && !ps->typed) {
		return m2m_error(ps->ctx, M2M_ERR_INVALID,
				 "line %zu: '%s' comes before 'type' in [%s]; type must be the first key of a profile",
				 ps->lineno, key_names[k], section);
	} else {
		rc = apply(ps->ctx, ps->cur, k, v, vlen, ps->typed);
		ps->typed = 1;
	}
	if (rc != M2M_OK)
		m2m_error_prefix(ps->ctx, "line %zu", ps->lineno);
	return rc;
}

enum m2m_err m2m_profiles_parse(struct m2m_ctx *ctx, const char *text,
				size_t len, struct m2m_profiles *out)
{
	struct parser ps;
	size_t pos = 0;
	enum m2m_err rc;

	if (!out || (!text && len))
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_parse: no text or no result");
	memset(out, 0, sizeof(*out));
	out->crl_validity_days = DEFAULT_CRL_DAYS;
	if (len > M2M_PROFILES_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "profiles file is %zu bytes long, more than %d",
				 len, M2M_PROFILES_TEXT_MAX);
	memset(&ps, 0, sizeof(ps));
	ps.ctx = ctx;
	ps.out = out;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos, *nl;
		size_t n;

		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		ps.lineno++;
		if (memchr(line, '\0', n))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "line %zu: holds a NUL byte",
					 ps.lineno);
		if (n && line[n - 1] == '\r')
			n--;
		line = trim_value(line, &n);
		if (n == 0 || line[0] == '#')
			continue;
		if (line[0] == '[')
			rc = parse_section(&ps, line, n);
		else
			rc = parse_setting(&ps, line, n);
		if (rc != M2M_OK)
			return rc;
	}
	return end_section(&ps);
}

/* ---- format -------------------------------------------------------------- */

struct outbuf {
	char *buf;
	size_t size, len;
	int full;
};

__attribute__((format(printf, 2, 3)))
static void put(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->full = 1;
		return;
	}
	o->len += (size_t)n;
}

static void put_text(struct outbuf *o, enum key k, const char *s,
		     size_t size)
{
	int n = (int)strnlen(s, size);

	put(o, "%s =%s%.*s\n", key_names[k], n ? " " : "", n, s);
}

static void put_flags(struct outbuf *o, const struct flag_list *l,
		      unsigned bits)
{
	unsigned known = 0;
	size_t j;

	for (j = 0; j < l->n; j++)
		known |= l->names[j].bit;
	put(o, "%s =", key_names[l->key]);
	if (!(bits & known))
		put(o, " none");
	for (j = 0; j < l->n; j++)
		if (bits & l->names[j].bit)
			put(o, " %s", l->names[j].name);
	put(o, "\n");
}

static void put_profile(struct outbuf *o, const struct m2m_profile *p)
{
	int a;

	put(o, "\n[%.*s]\n", (int)strnlen(p->name, sizeof(p->name)), p->name);
	put(o, "%s = %s\n", key_names[K_TYPE],
	    p->type == M2M_PROFILE_LDEVID ? "ldevid" : "idevid");
	put_text(o, K_HW_TYPE, p->hw_type, sizeof(p->hw_type));
	put_text(o, K_SUBJECT, p->subject, sizeof(p->subject));
	put(o, "%s =", key_names[K_KEY_ALGS]);
	for (a = 0; a < M2M_KEY_ALG_COUNT; a++)
		if (p->key_algs & alg_bit(a))
			put(o, " %s", m2m_key_alg_name(a));
	put(o, "\n");
	if (p->lifetime_days == 0)
		put(o, "%s = forever\n", key_names[K_LIFETIME]);
	else
		put(o, "%s = %lldd\n", key_names[K_LIFETIME],
		    (long long)p->lifetime_days);
	put(o, "%s = %s\n", key_names[K_SKI], p->subject_key_id ? "yes" : "no");
	put_flags(o, &ku_list, p->key_usage);
	put_flags(o, &eku_list, p->ext_key_usage);
	put_flags(o, &san_list, p->request_names);
	put_text(o, K_MASA_URL, p->masa_url, sizeof(p->masa_url));
	put_text(o, K_TRUST_ANCHORS, p->trust_anchors,
		 sizeof(p->trust_anchors));
}

enum m2m_err m2m_profiles_format(struct m2m_ctx *ctx,
				 const struct m2m_profiles *p, char *out,
				 size_t size, size_t *outlen)
{
	struct outbuf o = { out, size, 0, 0 };
	size_t i;

	if (outlen)
		*outlen = 0;
	if (!p || !out || size == 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_format: no profiles or no buffer");
	out[0] = '\0';
	if (p->n > M2M_PROFILES_MAX)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_format: %zu profiles, more than %d",
				 p->n, M2M_PROFILES_MAX);
	put(&o, "# Settings and certificate profiles of this CA, managed by 'm2m-ca profile set'.\n");
	put(&o, "\n[ca]\n");
	put_text(&o, K_CA_KEY, p->key, sizeof(p->key));
	put_text(&o, K_CA_LEDGER, p->ledger, sizeof(p->ledger));
	put(&o, "%s = %lldd\n", key_names[K_CRL_VALIDITY],
	    (long long)p->crl_validity_days);
	for (i = 0; i < p->n; i++)
		put_profile(&o, &p->p[i]);
	if (o.full) {
		out[0] = '\0';
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_format: %zu bytes are not enough for the profiles text",
				 size);
	}
	if (outlen)
		*outlen = o.len;
	return M2M_OK;
}

/* ---- get and set --------------------------------------------------------- */

const struct m2m_profile *m2m_profiles_get(const struct m2m_profiles *p,
					   const char *name)
{
	size_t len;
	int i;

	if (!p || !name)
		return NULL;
	len = strnlen(name, M2M_PROFILE_NAME_MAX);
	if (len == M2M_PROFILE_NAME_MAX)
		return NULL;
	i = find_profile(p, name, len);
	return i < 0 ? NULL : &p->p[i];
}

enum m2m_err m2m_profiles_set(struct m2m_ctx *ctx, struct m2m_profiles *p,
			      const char *profile, const char *key,
			      const char *value)
{
	struct m2m_profile copy;
	char q[M2M_QUOTE_MAX];
	size_t plen, klen, vlen;
	const char *v;
	enum m2m_err rc;
	int i, k;

	if (!p || !profile || !key || !value)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_set: a NULL argument");
	if (p->n > M2M_PROFILES_MAX)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "m2m_profiles_set: %zu profiles, more than %d",
				 p->n, M2M_PROFILES_MAX);
	plen = strnlen(profile, M2M_PROFILE_NAME_MAX);
	klen = strnlen(key, 64);
	vlen = strnlen(value, M2M_PROFILES_TEXT_MAX + 1);
	if (!valid_name(profile, plen))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "invalid profile name '%s': a profile name is 1 to %d characters of a-z, 0-9 and '-'",
				 m2m_quote(q, profile, plen),
				 M2M_PROFILE_NAME_MAX - 1);
	if (vlen > M2M_PROFILES_TEXT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s: the value of '%s' is longer than %d bytes",
				 profile, m2m_quote(q, key, klen),
				 M2M_PROFILES_TEXT_MAX);
	if (memchr(value, '\n', vlen) || memchr(value, '\r', vlen))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s: the value of '%s' holds a line break",
				 profile, m2m_quote(q, key, klen));
	v = trim_value(value, &vlen);
	if (strcmp(profile, "ca") == 0) {
		k = key_lookup(key, klen, 1);
		rc = k < 0 ? unknown_key(ctx, key, klen, "ca") :
		     apply_ca(ctx, p, k, v, vlen);
		if (rc != M2M_OK)
			m2m_error_prefix(ctx, "ca");
		return rc;
	}
	k = key_lookup(key, klen, 0);
	i = find_profile(p, profile, plen);
	if (i < 0 && k != K_TYPE)
		return m2m_error(ctx, M2M_ERR_NOT_FOUND,
				 "%s: no such profile (create it by setting its type)",
				 profile);
	if (i < 0 && p->n == M2M_PROFILES_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%s: cannot add a profile: there are %d already, the most a file may hold",
				 profile, M2M_PROFILES_MAX);
	if (i >= 0) {
		copy = p->p[i];
	} else {
		memset(&copy, 0, sizeof(copy));
		set_text(copy.name, sizeof(copy.name), profile, plen);
	}
	if (k < 0)
		rc = unknown_key(ctx, key, klen, copy.name);
	else
		rc = apply(ctx, &copy, k, v, vlen, i >= 0);
	if (rc != M2M_OK) {
		m2m_error_prefix(ctx, "%s", profile);
		return rc;
	}
	if (i < 0)
		i = (int)p->n++;
	p->p[i] = copy;
	return M2M_OK;
}
