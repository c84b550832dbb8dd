/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_PROFILE_H
#define M2M_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

/*
 * The settings and certificate profiles of a CA (shared/spec/profiles.md),
 * kept in the CA directory as a small text file, "ca.conf":
 *
 *   # comment
 *   [ca]
 *   key = ca.key
 *   ledger = ledger.db
 *   crl-validity = 7d
 *
 *   [idevid]
 *   type = idevid
 *   hw-type = 1.3.6.1.4.1.99999.1.1
 *   subject = O=Example Devices Ltd,OU=Factory 1
 *   ...
 *
 * Sections are profiles (the name in brackets: 1 to 31 of a-z, 0-9 and
 * '-', each name once), plus the optional [ca] section for CA-wide
 * settings ("ca" is no profile name).  Each line is "key = value"; blank lines
 * and lines starting with '#' are ignored (no comments after a value);
 * keys are lower case; values are trimmed (an escaped space "\ " at the
 * end of a subject stays); a key may appear once per section.  "type"
 * must be the first key of a profile section: a profile starts as the
 * defaults of its type and the keys after it change those.
 * Lines may end in LF or CRLF; a UTF-8 byte order mark is skipped.
 * m2m_profiles_format() writes the canonical form, which parses back to
 * the same settings.
 *
 * Values (an empty value is allowed only where it says "empty"):
 *   type                idevid | ldevid
 *   hw-type             dotted OID: decimal arcs without leading zeros, at
 *                       least two, the first 0-2, the second 0-39 under 0
 *                       or 1; or empty
 *   subject             ATTR=value[,ATTR=value...], ATTR one of C ST L O OU
 *                       CN DC (never serialNumber: the CA adds it); values
 *                       non-empty UTF-8 without control characters, where
 *                       , + ; < > " \ must be escaped as \, \+ ...; a
 *                       leading '#' and leading or trailing spaces also
 *                       (\# and "\ "); C two letters A-Z; DC a DNS label;
 *                       RFC 5280 lengths (CN O OU 64, L ST 128); or empty
 *   key-algorithms      names of m2m_key_alg_lookup() (any case), at
 *                       least one; never ed25519 in an idevid profile
 *   lifetime            forever | Nd, 1 <= N <= 36500
 *   subject-key-id      yes | no
 *   key-usage           none | digitalSignature keyEncipherment
 *                       keyAgreement (any of them)
 *   extended-key-usage  none | clientAuth serverAuth
 *   request-names       none | dns uri
 *   [ca] key, ledger    where the CA key and ledger are: a URI or a
 *                       path (relative to the CA directory), printable
 *                       ASCII; or empty
 *   masa-url            https://HOST... in printable ASCII without
 *                       spaces; or empty
 *   trust-anchors       a file relative to the CA directory: [A-Za-z0-9._-]
 *                       components separated by '/', no '.' or '..'
 *                       component; or empty; must be empty in an idevid
 *                       profile
 *   [ca] crl-validity   Nd, 1 <= N <= 3650
 * Lists are separated by blanks or commas; a name may be listed once.
 */

#define M2M_PROFILES_MAX	16	/* profiles in one file */
#define M2M_PROFILE_NAME_MAX	32	/* name, with NUL: [a-z0-9-], 1..31 */
#define M2M_OID_TEXT_MAX	128	/* dotted OID, with NUL */
#define M2M_DN_TEXT_MAX		512	/* subject template, with NUL */
#define M2M_URL_TEXT_MAX	256	/* masa-url, with NUL */
#define M2M_PATH_TEXT_MAX	256	/* trust-anchors file, with NUL */
#define M2M_PROFILES_TEXT_MAX	(64 * 1024)	/* largest file accepted */

enum m2m_profile_type {
	M2M_PROFILE_IDEVID = 0,	/* manufacturer-installed, 802.1AR IDevID */
	M2M_PROFILE_LDEVID	/* locally significant, 802.1AR LDevID */
};

/* keyUsage bits a profile may ask for (key-usage = ...). */
#define M2M_KU_DIGITAL_SIGNATURE	0x1	/* digitalSignature */
#define M2M_KU_KEY_ENCIPHERMENT		0x2	/* keyEncipherment */
#define M2M_KU_KEY_AGREEMENT		0x4	/* keyAgreement */

/* extendedKeyUsage purposes (extended-key-usage = ...). */
#define M2M_EKU_CLIENT_AUTH	0x1	/* clientAuth */
#define M2M_EKU_SERVER_AUTH	0x2	/* serverAuth */

/* Names a request may carry in subjectAltName (request-names = ...). */
#define M2M_SAN_DNS	0x1	/* dns */
#define M2M_SAN_URI	0x2	/* uri */

struct m2m_profile {
	char name[M2M_PROFILE_NAME_MAX];
	enum m2m_profile_type type;		/* type = idevid | ldevid */
	char hw_type[M2M_OID_TEXT_MAX];		/* hw-type = OID; "" unset */
	char subject[M2M_DN_TEXT_MAX];		/* subject = DN template
						   (RFC 4514 order as written,
						   "O=...,OU=..."); "" = none
						   (ldevid: the IDevID's) */
	unsigned key_algs;			/* key-algorithms = names;
						   bit (1 << enum m2m_key_alg) */
	int64_t lifetime_days;			/* lifetime = forever | Nd;
						   0 = forever (99991231235959Z) */
	int subject_key_id;			/* subject-key-id = yes | no */
	unsigned key_usage;			/* key-usage = names | none */
	unsigned ext_key_usage;			/* extended-key-usage =
						   names | none */
	unsigned request_names;			/* request-names = dns uri |
						   none */
	char masa_url[M2M_URL_TEXT_MAX];	/* masa-url = URL; "" none */
	char trust_anchors[M2M_PATH_TEXT_MAX];	/* trust-anchors = FILE,
						   relative to the CA
						   directory (ldevid) */
};

#define M2M_URI_TEXT_MAX	1024	/* key or ledger location, with NUL */

struct m2m_profiles {
	char key[M2M_URI_TEXT_MAX];		/* [ca] key = URI of the CA key;
						   a relative path is relative
						   to the CA directory */
	char ledger[M2M_URI_TEXT_MAX];		/* [ca] ledger = location;
						   likewise */
	int64_t crl_validity_days;		/* [ca] crl-validity = Nd */
	size_t n;
	struct m2m_profile p[M2M_PROFILES_MAX];
};

/*
 * The spec's defaults: [ca] crl-validity 7d; "idevid" (type idevid,
 * ec-p256 ec-p384 rsa2048 rsa3072, lifetime forever, no SKI, key-usage
 * digitalSignature, no EKU, no request names, hw-type unset, subject
 * unset) and "ldevid" (type ldevid, same algorithms plus ed25519,
 * lifetime 365d, key-usage digitalSignature, extended-key-usage
 * clientAuth, trust-anchors "manufacturers.pem").
 */
void m2m_profiles_defaults(struct m2m_profiles *out);

/*
 * Parse a profiles file text[0..len) into *out (which it overwrites, and
 * zero-fills first, so that two results compare with memcmp()).  *out gets
 * the profiles of the file in file order (none for an empty file) and the
 * [ca] settings.  Settings not given take the defaults of the profile's
 * type.  Returns M2M_ERR_INVALID with a detail "line N: ..." for: a line
 * that is not a section, key = value, comment or blank; an unknown section
 * key; a key repeated in a section; a repeated or invalid section name; a
 * value that fails its rule (above); a profile key before "type"; a
 * profile without "type"; more than M2M_PROFILES_MAX profiles; a NUL byte.
 * A file larger than M2M_PROFILES_TEXT_MAX is M2M_ERR_INVALID with a
 * detail without line number.  M2M_ERR_USAGE if out is NULL, or text is
 * NULL and len is not 0.  *out is not meant to be used after a failure.
 */
enum m2m_err m2m_profiles_parse(struct m2m_ctx *ctx, const char *text,
				size_t len, struct m2m_profiles *out);

/*
 * The canonical text of *p into out[0..size), NUL-terminated, every
 * setting written out (so "show" tells everything): a comment line saying
 * the file is managed by "m2m-ca profile set", then [ca] and each profile
 * in order, each key in a fixed order, lists space-separated in a fixed
 * order, "none" for an empty list and nothing after " =" for an empty
 * text.  *outlen (may be NULL) gets its length.  M2M_ERR_USAGE if size is
 * too small (M2M_PROFILES_TEXT_MAX is always enough) or p->n is larger
 * than M2M_PROFILES_MAX; out is "" then.  For any *p that
 * m2m_profiles_parse() or m2m_profiles_set() made, parsing the text gives
 * *p back.
 */
enum m2m_err m2m_profiles_format(struct m2m_ctx *ctx,
				 const struct m2m_profiles *p, char *out,
				 size_t size, size_t *outlen);

/* The profile called name, or NULL. */
const struct m2m_profile *m2m_profiles_get(const struct m2m_profiles *p,
					   const char *name);

/*
 * Change one setting, as if "key = value" stood in the profile's section
 * ("ca" for the [ca] section); the value is trimmed and must not hold a
 * line break.  A profile that does not exist is created, with the
 * defaults of its type, when key is "type"; for an existing profile
 * "type" changes the type only (refused for idevid while the profile has
 * ed25519 or trust-anchors).  Same rules and M2M_ERR_INVALID errors as
 * m2m_profiles_parse(), with the profile name instead of the line number
 * ("idevid: lifetime must be ..."); M2M_ERR_NOT_FOUND for a profile that
 * does not exist and a key other than "type"; M2M_ERR_USAGE for a NULL
 * argument.  *p is unchanged on failure.
 */
enum m2m_err m2m_profiles_set(struct m2m_ctx *ctx, struct m2m_profiles *p,
			      const char *profile, const char *key,
			      const char *value);

#endif
