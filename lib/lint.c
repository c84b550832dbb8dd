/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate profile lint (shared/spec/profiles.md, RFC 5280).  What
 * OpenSSL keeps of a certificate after parsing it does not say how it was
 * encoded (which Time type, whether an AlgorithmIdentifier had
 * parameters), so the TBSCertificate is also walked by hand:
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 *                              signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE {
 *       version [0] EXPLICIT INTEGER DEFAULT v1, serialNumber INTEGER,
 *       signature AlgorithmIdentifier, issuer Name,
 *       validity SEQUENCE { notBefore Time, notAfter Time },
 *       subject Name, subjectPublicKeyInfo SEQUENCE { algorithm, BIT STRING },
 *       issuerUniqueID [1] IMPLICIT OPTIONAL,
 *       subjectUniqueID [2] IMPLICIT OPTIONAL,
 *       extensions [3] EXPLICIT OPTIONAL }
 *   Time ::= CHOICE { UTCTime, GeneralizedTime }
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <m2m/lint.h>

#include "cert_internal.h"
#include "der.h"
#include "internal.h"
#include "verify_internal.h"

#define E M2M_LINT_ERROR
#define W M2M_LINT_WARNING
#define N M2M_LINT_NOTICE
#define ALL M2M_LINT_FOR_ALL
#define DEVID M2M_LINT_FOR_DEVID
#define IDEV M2M_LINT_FOR_IDEVID
#define LDEV M2M_LINT_FOR_LDEVID
#define CA M2M_LINT_FOR_CA

static const struct m2m_lint_rule rules[] = {
	{ "cert-der", E, ALL, "the certificate is DER: definite, minimal lengths and nothing after it", "RFC 5280 4.1" },
	{ "cert-version-3", E, ALL, "the certificate is version 3", "RFC 5280 4.1.2.1" },
	{ "serial-positive", E, ALL, "the serial number is a positive INTEGER", "RFC 5280 4.1.2.2" },
	{ "serial-max-20-octets", E, ALL, "the serial number is at most 20 octets long", "RFC 5280 4.1.2.2" },
	{ "serial-min-64-bits", W, ALL, "the serial number has at least 64 bits, for 64 to 159 bits of entropy", "profiles.md" },
	{ "sig-alg-match", E, ALL, "the TBSCertificate's signature is the same AlgorithmIdentifier as signatureAlgorithm", "RFC 5280 4.1.1.2" },
	{ "sig-alg-suite", E, ALL, "signed with ECDSA and SHA-256 or SHA-384, RSA and SHA-256, or Ed25519 (not an IDevID)", "profiles.md" },
	{ "ecdsa-params-absent", E, ALL, "ECDSA signature AlgorithmIdentifiers have no parameters", "RFC 5758 3.2" },
	{ "ec-named-curve", E, ALL, "an EC public key names its curve", "RFC 5480 2.1.1" },
	{ "subject-key-suite", E, ALL, "the public key is EC P-256 or P-384, RSA-2048 or RSA-3072, or Ed25519 (not an IDevID)", "profiles.md" },
	{ "validity-time-encoding", E, ALL, "validity dates through 2049 are UTCTime, dates from 2050 GeneralizedTime", "RFC 5280 4.1.2.5" },
	{ "validity-time-format", E, ALL, "UTCTime is YYMMDDHHMMSSZ and GeneralizedTime YYYYMMDDHHMMSSZ", "RFC 5280 4.1.2.5.1" },
	{ "validity-order", E, ALL, "notBefore is not after notAfter", "RFC 5280 4.1.2.5" },
	{ "unique-ids-absent", E, ALL, "there is no issuerUniqueID or subjectUniqueID", "RFC 5280 4.1.2.8" },
	{ "ext-unique", E, ALL, "no extension appears twice", "RFC 5280 4.2" },
	{ "aki-present", E, ALL, "authorityKeyIdentifier is present (a self-signed CA may omit it)", "RFC 5280 4.2.1.1" },
	{ "aki-not-critical", E, ALL, "authorityKeyIdentifier is not critical", "RFC 5280 4.2.1.1" },
	{ "ski-not-critical", E, ALL, "subjectKeyIdentifier is not critical", "RFC 5280 4.2.1.2" },
	{ "ku-critical", E, ALL, "keyUsage, when present, is critical", "profiles.md, RFC 5280 4.2.1.3" },
	{ "san-not-critical", E, ALL, "subjectAltName is not critical when the subject is not empty", "802.1AR, RFC 5280 4.2.1.6" },
	{ "san-empty-subject", E, ALL, "with an empty subject, subjectAltName is present and critical", "RFC 5280 4.2.1.6" },
	{ "subject-serial-number", E, ALL, "a subject serialNumber is a PrintableString of 1 to 64 characters", "RFC 5280 A.1, profiles.md" },
	{ "ca-basic-constraints", E, CA, "basicConstraints is present and critical, with cA TRUE", "RFC 5280 4.2.1.9" },
	{ "ca-key-usage", E, CA, "keyUsage is present, with keyCertSign and cRLSign", "profiles.md" },
	{ "ca-ski-present", E, CA, "subjectKeyIdentifier is present", "RFC 5280 4.2.1.2" },
	{ "ca-subject-not-empty", E, CA, "the subject is not empty", "RFC 5280 4.1.2.6" },
	{ "ca-path-len-zero", N, CA, "an issuing CA (not self-signed) has pathLenConstraint 0", "profiles.md" },
	{ "devid-not-ca", E, DEVID, "basicConstraints, if present, does not say cA TRUE", "802.1AR" },
	{ "devid-bc-absent", W, DEVID, "basicConstraints is absent", "profiles.md" },
	{ "devid-key-usage", E, DEVID, "keyUsage, when present, has digitalSignature and neither keyCertSign nor cRLSign", "802.1AR, profiles.md" },
	{ "devid-key-usage-bits", W, DEVID, "keyUsage has no bit but digitalSignature, keyEncipherment and keyAgreement", "profiles.md" },
	{ "devid-key-usage-absent", N, DEVID, "keyUsage is present (a profile may omit it: BRSKI recommends no restriction)", "profiles.md" },
	{ "devid-ski-absent", W, DEVID, "there is no subjectKeyIdentifier (not recommended in DevIDs; a profile option adds it)", "802.1AR" },
	{ "devid-san-present", E, DEVID, "subjectAltName is present", "802.1AR" },
	{ "devid-hwmodule", E, DEVID, "subjectAltName holds a HardwareModuleName otherName", "802.1AR, RFC 4108 5" },
	{ "devid-hwmodule-der", E, DEVID, "the HardwareModuleName is SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }", "RFC 4108 5" },
	{ "devid-hwmodule-single", W, DEVID, "subjectAltName holds only one HardwareModuleName", "profiles.md" },
	{ "devid-ppid", E, DEVID, "hwSerialNum is a valid PPID (with the TCG hwType 2.23.133.1.2: the subject serialNumber is)", "identifier.md" },
	{ "devid-serial-number", E, IDEV, "the subject has a serialNumber attribute", "802.1AR, profiles.md" },
	{ "devid-serial-number-single", E, DEVID, "the subject has at most one serialNumber attribute", "profiles.md" },
	{ "idevid-not-after", N, IDEV, "notAfter is 99991231235959Z (a profile may set a lifetime)", "802.1AR, RFC 5280 4.1.2.5" },
	{ "ldevid-eku", N, LDEV, "extendedKeyUsage names clientAuth or serverAuth", "profiles.md" },
	{ "ldevid-lifetime", N, LDEV, "notAfter is not 99991231235959Z: an LDevID has a lifetime", "profiles.md" },
	{ "masa-url", E, DEVID, "id-pe-masa-url, if present, is a non-critical IA5String https URL", "RFC 8995 2.3.2" },
};

#undef E
#undef W
#undef N
#undef ALL
#undef DEVID
#undef IDEV
#undef LDEV
#undef CA

#define NRULES (sizeof(rules) / sizeof(rules[0]))

const struct m2m_lint_rule *m2m_lint_rules(size_t *n)
{
	*n = NRULES;
	return rules;
}

const struct m2m_lint_rule *m2m_lint_rule(const char *id)
{
	size_t i;

	for (i = 0; i < NRULES; i++)
		if (strcmp(rules[i].id, id) == 0)
			return &rules[i];
	return NULL;
}

static const char *const profile_names[] = { "auto", "idevid", "ldevid", "ca" };

const char *m2m_lint_profile_name(enum m2m_lint_profile p)
{
	return (unsigned)p < 4 ? profile_names[p] : NULL;
}

int m2m_lint_profile_lookup(const char *name)
{
	int i;

	if (strcasecmp(name, "any") == 0)
		return M2M_LINT_AUTO;
	for (i = 0; i < 4; i++)
		if (strcasecmp(name, profile_names[i]) == 0)
			return i;
	return -1;
}

const char *m2m_lint_severity_name(enum m2m_lint_severity s)
{
	switch (s) {
	case M2M_LINT_ERROR:
		return "error";
	case M2M_LINT_WARNING:
		return "warning";
	default:
		return "notice";
	}
}

const struct m2m_lint_finding *
m2m_lint_first(const struct m2m_lint_report *out, enum m2m_lint_severity sev)
{
	size_t i;

	for (i = 0; i < out->n; i++)
		if (out->f[i].rule->severity >= sev)
			return &out->f[i];
	return NULL;
}

/* ---- findings -------------------------------------------------------------- */

struct lint {
	struct m2m_lint_report *out;
	unsigned bit;			/* M2M_LINT_FOR_ of out->profile */
};

__attribute__((format(printf, 3, 4)))
static void add(struct lint *l, const char *id, const char *fmt, ...)
{
	const struct m2m_lint_rule *r = m2m_lint_rule(id);
	struct m2m_lint_report *o = l->out;
	va_list ap;

	if (!r || !(r->profiles & l->bit))
		return;
	if (r->severity == M2M_LINT_ERROR)
		o->errors++;
	else if (r->severity == M2M_LINT_WARNING)
		o->warnings++;
	else
		o->notices++;
	if (o->n == M2M_LINT_FINDINGS_MAX)
		return;
	o->f[o->n].rule = r;
	va_start(ap, fmt);
	vsnprintf(o->f[o->n].detail, sizeof(o->f[o->n].detail), fmt, ap);
	va_end(ap);
	o->n++;
}

/* Findings in the order of the rule table (stable: insertion sort). */
static void sort_findings(struct m2m_lint_report *o)
{
	struct m2m_lint_finding t;
	size_t i, j;

	for (i = 1; i < o->n; i++) {
		t = o->f[i];
		for (j = i; j > 0 && o->f[j - 1].rule > t.rule; j--)
			o->f[j] = o->f[j - 1];
		o->f[j] = t;
	}
}

/* ---- OIDs ------------------------------------------------------------------ */

static const uint8_t oid_ecdsa_sha256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t oid_rsa_sha256[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const uint8_t oid_ed25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t oid_ec_public_key[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_rsa[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const uint8_t oid_tcg_hwtype[] = { 0x67, 0x81, 0x05, 0x01, 0x02 };
static const uint8_t oid_masa_url[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x20 };

static int oid_is(const uint8_t *p, size_t n, const uint8_t *oid, size_t len)
{
	return n == len && memcmp(p, oid, len) == 0;
}

#define OID_IS(p, n, oid) oid_is((p), (n), (oid), sizeof(oid))

int m2m_oid_text(const uint8_t *oid, size_t len, char *out, size_t size)
{
	size_t i, o = 0;
	uint64_t v = 0;
	int first = 1, n;

	if (len == 0 || size == 0 || (oid[len - 1] & 0x80))
		return 0;
	for (i = 0; i < len; i++) {
		if (v == 0 && oid[i] == 0x80)
			return 0;	/* not minimal */
		if (v >> 56)
			return 0;	/* an arc too large to show */
		v = v << 7 | (oid[i] & 0x7f);
		if (oid[i] & 0x80)
			continue;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;

			n = snprintf(out + o, size - o, "%u.%llu", a,
				     (unsigned long long)(v - 40 * a));
			first = 0;
		} else {
			n = snprintf(out + o, size - o, ".%llu",
				     (unsigned long long)v);
		}
		if (n < 0 || (size_t)n >= size - o)
			return 0;
		o += (size_t)n;
		v = 0;
	}
	return 1;
}

/* ---- the raw certificate ----------------------------------------------------- */

struct raw {
	int ok;				/* every field below was found */
	int version;			/* 0 for v1 ... 2 for v3 */
	const uint8_t *serial;
	size_t serial_len;
	const uint8_t *tbs_alg, *alg;	/* AlgorithmIdentifier contents */
	size_t tbs_alg_len, alg_len;
	uint8_t time_tag[2];
	const uint8_t *time[2];
	size_t time_len[2];
	const uint8_t *spki_alg;
	size_t spki_alg_len;
	int unique_ids;
	const char *why;		/* what is not DER, if !ok */
};

static void raw_parse(const uint8_t *der, size_t len, struct raw *r)
{
	const uint8_t *c, *t, *v, *val, *s, *sig, *name;
	size_t off = 0, cl, co = 0, tl, to = 0, vl, vo = 0, vall, valo = 0,
	       sl, so = 0, sigl, namel;
	int i;

	memset(r, 0, sizeof(*r));
	r->why = "the Certificate SEQUENCE";
	if (m2m_der_read(der, len, &off, 0x30, &c, &cl) < 0 || off != len)
		return;
	r->why = "the TBSCertificate";
	if (m2m_der_read(c, cl, &co, 0x30, &t, &tl) < 0)
		return;
	r->why = "signatureAlgorithm";
	if (m2m_der_read(c, cl, &co, 0x30, &r->alg, &r->alg_len) < 0)
		return;
	r->why = "signatureValue";
	if (m2m_der_read(c, cl, &co, 0x03, &sig, &sigl) < 0 || co != cl)
		return;
	r->why = "version";
	if (tl && t[0] == 0xa0) {
		if (m2m_der_read(t, tl, &to, 0xa0, &v, &vl) < 0 ||
		    m2m_der_read(v, vl, &vo, 0x02, &val, &vall) < 0 ||
		    vo != vl || vall != 1)
			return;
		r->version = val[0];
	}
	r->why = "serialNumber";
	if (m2m_der_read(t, tl, &to, 0x02, &r->serial, &r->serial_len) < 0 ||
	    r->serial_len == 0 ||
	    (r->serial_len > 1 && ((r->serial[0] == 0 && !(r->serial[1] & 0x80)) ||
				   (r->serial[0] == 0xff && (r->serial[1] & 0x80)))))
		return;
	r->why = "signature";
	if (m2m_der_read(t, tl, &to, 0x30, &r->tbs_alg, &r->tbs_alg_len) < 0)
		return;
	r->why = "issuer";
	if (m2m_der_read(t, tl, &to, 0x30, &name, &namel) < 0)
		return;
	r->why = "validity";
	if (m2m_der_read(t, tl, &to, 0x30, &val, &vall) < 0)
		return;
	for (i = 0; i < 2; i++) {
		r->time_tag[i] = valo < vall ? val[valo] : 0;
		if ((r->time_tag[i] != 0x17 && r->time_tag[i] != 0x18) ||
		    m2m_der_read(val, vall, &valo, r->time_tag[i], &r->time[i],
				 &r->time_len[i]) < 0)
			return;
	}
	if (valo != vall)
		return;
	r->why = "subject";
	if (m2m_der_read(t, tl, &to, 0x30, &name, &namel) < 0)
		return;
	r->why = "subjectPublicKeyInfo";
	if (m2m_der_read(t, tl, &to, 0x30, &s, &sl) < 0 ||
	    m2m_der_read(s, sl, &so, 0x30, &r->spki_alg, &r->spki_alg_len) < 0)
		return;
	r->why = "the unique identifiers";
	if (to < tl && t[to] == 0x81) {
		r->unique_ids = 1;
		if (m2m_der_read(t, tl, &to, 0x81, &val, &vall) < 0)
			return;
	}
	if (to < tl && t[to] == 0x82) {
		r->unique_ids = 1;
		if (m2m_der_read(t, tl, &to, 0x82, &val, &vall) < 0)
			return;
	}
	r->why = "extensions";
	if (to < tl && m2m_der_read(t, tl, &to, 0xa3, &val, &vall) < 0)
		return;
	if (to != tl)
		return;
	r->why = NULL;
	r->ok = 1;
}

/* The OID of an AlgorithmIdentifier's contents, and what follows it. */
static int alg_oid(const uint8_t *alg, size_t len, const uint8_t **oid,
		   size_t *oidlen, size_t *params_len)
{
	size_t o = 0;

	if (m2m_der_read(alg, len, &o, 0x06, oid, oidlen) < 0)
		return 0;
	*params_len = len - o;
	return 1;
}

static const char *sig_alg_name(const uint8_t *oid, size_t n)
{
	if (OID_IS(oid, n, oid_ecdsa_sha256))
		return "ecdsa-with-SHA256";
	if (OID_IS(oid, n, oid_ecdsa_sha384))
		return "ecdsa-with-SHA384";
	if (OID_IS(oid, n, oid_rsa_sha256))
		return "sha256WithRSAEncryption";
	if (OID_IS(oid, n, oid_ed25519))
		return "Ed25519";
	return NULL;
}

static void check_sig_alg(struct lint *l, const struct raw *r)
{
	const uint8_t *oid;
	size_t oidlen, plen;
	char text[M2M_LINT_OID_MAX];
	const char *name;
	int idevid = l->out->profile == M2M_LINT_IDEVID;

	if (r->tbs_alg_len != r->alg_len ||
	    memcmp(r->tbs_alg, r->alg, r->alg_len) != 0)
		add(l, "sig-alg-match",
		    "the TBSCertificate's signature differs from signatureAlgorithm");
	if (!alg_oid(r->alg, r->alg_len, &oid, &oidlen, &plen)) {
		add(l, "sig-alg-suite", "signatureAlgorithm has no OID");
		return;
	}
	name = sig_alg_name(oid, oidlen);
	if (!name || (idevid && OID_IS(oid, oidlen, oid_ed25519))) {
		if (!m2m_oid_text(oid, oidlen, text, sizeof(text)))
			snprintf(text, sizeof(text), "?");
		add(l, "sig-alg-suite", "signed with %s", name ? name : text);
	}
	if ((OID_IS(oid, oidlen, oid_ecdsa_sha256) ||
	     OID_IS(oid, oidlen, oid_ecdsa_sha384)) && plen)
		add(l, "ecdsa-params-absent", "%s has %zu octets of parameters",
		    name, plen);
	else if (alg_oid(r->tbs_alg, r->tbs_alg_len, &oid, &oidlen, &plen) &&
		 (OID_IS(oid, oidlen, oid_ecdsa_sha256) ||
		  OID_IS(oid, oidlen, oid_ecdsa_sha384)) && plen)
		add(l, "ecdsa-params-absent",
		    "the TBSCertificate's %s has %zu octets of parameters",
		    sig_alg_name(oid, oidlen), plen);
}

static void check_key(struct lint *l, X509 *x, const struct raw *r)
{
	const uint8_t *oid, *curve;
	size_t oidlen, plen, o = 0, curvelen;
	char text[M2M_LINT_OID_MAX];
	EVP_PKEY *pk;
	int bits, idevid = l->out->profile == M2M_LINT_IDEVID;

	if (!alg_oid(r->spki_alg, r->spki_alg_len, &oid, &oidlen, &plen)) {
		add(l, "subject-key-suite", "the public key has no algorithm OID");
		return;
	}
	if (OID_IS(oid, oidlen, oid_ec_public_key)) {
		const uint8_t *params = oid + oidlen;

		if (m2m_der_read(params, plen, &o, 0x06, &curve, &curvelen) < 0 ||
		    o != plen) {
			add(l, "ec-named-curve",
			    "the EC key's parameters are not a named curve");
			return;
		}
		if (OID_IS(curve, curvelen, oid_p256) ||
		    OID_IS(curve, curvelen, oid_p384))
			return;
		if (!m2m_oid_text(curve, curvelen, text, sizeof(text)))
			snprintf(text, sizeof(text), "?");
		add(l, "subject-key-suite", "an EC key on curve %s", text);
		return;
	}
	if (OID_IS(oid, oidlen, oid_rsa)) {
		pk = X509_get0_pubkey(x);
		bits = pk ? EVP_PKEY_get_bits(pk) : 0;
		ERR_clear_error();
		if (bits != 2048 && bits != 3072)
			add(l, "subject-key-suite", "an RSA key of %d bits", bits);
		return;
	}
	if (OID_IS(oid, oidlen, oid_ed25519)) {
		if (idevid)
			add(l, "subject-key-suite", "an Ed25519 key");
		return;
	}
	if (!m2m_oid_text(oid, oidlen, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	add(l, "subject-key-suite", "a key of algorithm %s", text);
}

static int digits(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static void check_times(struct lint *l, const struct raw *r)
{
	static const char *const which[2] = { "notBefore", "notAfter" };
	int i, year;

	for (i = 0; i < 2; i++) {
		const uint8_t *t = r->time[i];
		size_t n = r->time_len[i];
		int gen = r->time_tag[i] == 0x18;
		size_t want = gen ? 15 : 13;

		if (n != want || t[n - 1] != 'Z' || !digits(t, n - 1)) {
			add(l, "validity-time-format", "%s is %s '%.*s'",
			    which[i], gen ? "GeneralizedTime" : "UTCTime",
			    (int)(n < 40 ? n : 40), (const char *)t);
			continue;
		}
		if (!gen)
			continue;	/* a UTCTime is always before 2050 */
		year = (t[0] - '0') * 1000 + (t[1] - '0') * 100 +
		       (t[2] - '0') * 10 + (t[3] - '0');
		if (year < 2050)
			add(l, "validity-time-encoding",
			    "%s %.15s is GeneralizedTime before 2050",
			    which[i], (const char *)t);
	}
}

static void check_serial(struct lint *l, const struct raw *r)
{
	const uint8_t *s = r->serial;
	size_t n = r->serial_len, i, mag;
	int zero = 1;

	for (i = 0; i < n; i++)
		zero &= s[i] == 0;
	if (s[0] & 0x80)
		add(l, "serial-positive", "the serial number is negative");
	else if (zero)
		add(l, "serial-positive", "the serial number is 0");
	if (n > 20)
		add(l, "serial-max-20-octets", "the serial number is %zu octets",
		    n);
	mag = n - (n > 1 && s[0] == 0);
	if (!(s[0] & 0x80) && !zero && mag < 8)
		add(l, "serial-min-64-bits", "the serial number is %zu octets",
		    mag);
}

/* ---- extensions ------------------------------------------------------------ */

/*
 * keyUsage, basicConstraints and extendedKeyUsage as the first extension
 * of each says, decoded here: with an extension twice, OpenSSL marks the
 * certificate invalid and does not decode them.
 */
struct decoded {
	uint32_t ku;			/* KU_* bits, as X509_get_key_usage() */
	int ca;				/* basicConstraints cA */
	long pathlen;			/* -1: none */
	uint32_t xku;			/* XKU_SSL_CLIENT, XKU_SSL_SERVER */
};

static void decode_exts(X509 *x, struct decoded *d)
{
	int i;

	memset(d, 0, sizeof(*d));
	d->pathlen = -1;
	i = X509_get_ext_by_NID(x, NID_key_usage, -1);
	if (i >= 0) {
		ASN1_BIT_STRING *ku = X509V3_EXT_d2i(X509_get_ext(x, i));

		if (ku && ku->length > 0)
			d->ku = ku->data[0] |
				(ku->length > 1 ? (uint32_t)ku->data[1] << 8 : 0);
		ASN1_BIT_STRING_free(ku);
	}
	i = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	if (i >= 0) {
		BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(X509_get_ext(x, i));

		if (bc) {
			d->ca = bc->ca != 0;
			if (bc->pathlen)
				d->pathlen = ASN1_INTEGER_get(bc->pathlen);
		}
		BASIC_CONSTRAINTS_free(bc);
	}
	i = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);
	if (i >= 0) {
		EXTENDED_KEY_USAGE *eku = X509V3_EXT_d2i(X509_get_ext(x, i));
		int k;

		for (k = 0; eku && k < sk_ASN1_OBJECT_num(eku); k++) {
			int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, k));

			if (nid == NID_client_auth)
				d->xku |= XKU_SSL_CLIENT;
			else if (nid == NID_server_auth)
				d->xku |= XKU_SSL_SERVER;
		}
		sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	}
	ERR_clear_error();
}

/* The index of the first extension nid, or -1; *crit its criticality. */
static int ext_find(X509 *x, int nid, int *crit)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	*crit = i >= 0 ? X509_EXTENSION_get_critical(X509_get_ext(x, i)) : 0;
	return i;
}

static void check_ext_unique(struct lint *l, X509 *x)
{
	int i, j, n = X509_get_ext_count(x);
	char text[M2M_LINT_OID_MAX];

	for (i = 0; i < n; i++) {
		const ASN1_OBJECT *a = X509_EXTENSION_get_object(X509_get_ext(x, i));

		for (j = 0; j < i; j++)
			if (OBJ_cmp(a, X509_EXTENSION_get_object(X509_get_ext(x, j))) == 0)
				break;
		if (j < i) {
			if (OBJ_obj2txt(text, sizeof(text), a, 1) <= 0)
				snprintf(text, sizeof(text), "?");
			add(l, "ext-unique", "extension %s appears twice", text);
			return;
		}
	}
}

/* hwSerialNum as hex for a detail, cut short. */
static const char *hw_hex(const struct m2m_devid_info *d, char *out, size_t size)
{
	size_t i, n = d->hw_serial_len < M2M_HW_SERIAL_MAX ?
		      d->hw_serial_len : M2M_HW_SERIAL_MAX;
	size_t o = 0;

	out[0] = '\0';
	for (i = 0; i < n && o + 6 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%02x", d->hw_serial[i]);
	if (i < d->hw_serial_len)
		snprintf(out + o, size - o, "...");
	return out;
}

/* The first HardwareModuleName of gens into d, counting them all. */
static void hwmodules(struct m2m_ctx *ctx, GENERAL_NAMES *gens,
		      struct m2m_devid_info *d, char *why, size_t why_size)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const OTHERNAME *on;
		const uint8_t *hw, *sn;
		size_t hwlen, snlen;

		if (g->type != GEN_OTHERNAME)
			continue;
		on = g->d.otherName;
		if (OBJ_length(on->type_id) != sizeof(m2m_oid_hwmodule) ||
		    memcmp(OBJ_get0_data(on->type_id), m2m_oid_hwmodule,
			   sizeof(m2m_oid_hwmodule)) != 0)
			continue;
		if (d->hwmodules++)
			continue;
		if (!on->value || on->value->type != V_ASN1_SEQUENCE) {
			snprintf(why, why_size, "its value is not a SEQUENCE");
			continue;
		}
		if (m2m_hwmodule_parse(ctx, on->value->value.sequence->data,
				       (size_t)on->value->value.sequence->length,
				       &hw, &hwlen, &sn, &snlen) != M2M_OK) {
			snprintf(why, why_size, "%s", m2m_ctx_detail(ctx));
			m2m_ctx_clear_error(ctx);
			continue;
		}
		/* hw is the whole OID TLV: skip its tag and length. */
		{
			const uint8_t *c;
			size_t o = 0, cl;

			if (m2m_der_read(hw, hwlen, &o, 0x06, &c, &cl) < 0 ||
			    !m2m_oid_text(c, cl, d->hw_type, sizeof(d->hw_type))) {
				snprintf(why, why_size,
					 "its hwType is not a valid OID");
				d->hw_type[0] = '\0';
				continue;
			}
			d->tcg = OID_IS(c, cl, oid_tcg_hwtype);
		}
		d->hwmodule_ok = 1;
		d->hw_serial_len = snlen;
		memcpy(d->hw_serial, sn, snlen < M2M_HW_SERIAL_MAX ? snlen :
		       M2M_HW_SERIAL_MAX);
	}
}

static int printable(const unsigned char *s, size_t n)
{
	static const char extra[] = " '()+,-./:=?";
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr(extra, s[i]))))
			return 0;
	return 1;
}

static void check_subject(struct lint *l, X509 *x, int *empty)
{
	const X509_NAME *name = X509_get_subject_name(x);
	struct m2m_devid_info *d = &l->out->devid;
	int i = -1, bad = 0;

	*empty = X509_NAME_entry_count(name) == 0;
	for (;;) {
		const ASN1_STRING *v;

		i = X509_NAME_get_index_by_NID(name, NID_serialNumber, i);
		if (i < 0)
			break;
		v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
		d->serial_numbers++;
		if (ASN1_STRING_type(v) != V_ASN1_PRINTABLESTRING ||
		    ASN1_STRING_length(v) < 1 || ASN1_STRING_length(v) > 64 ||
		    !printable(ASN1_STRING_get0_data(v),
			       (size_t)ASN1_STRING_length(v))) {
			if (!bad++)
				add(l, "subject-serial-number",
				    "serialNumber is %s of %d octets",
				    ASN1_STRING_type(v) == V_ASN1_PRINTABLESTRING ?
				    "a PrintableString" :
				    ASN1_tag2str(ASN1_STRING_type(v)),
				    ASN1_STRING_length(v));
			continue;
		}
		if (d->serial_numbers == 1) {
			memcpy(d->serial_number, ASN1_STRING_get0_data(v),
			       (size_t)ASN1_STRING_length(v));
			d->serial_number[ASN1_STRING_length(v)] = '\0';
		}
	}
}

/* keyUsage bits as X509_get_key_usage() gives them, named for details. */
static void ku_text(uint32_t ku, char *out, size_t size)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
		{ KU_NON_REPUDIATION, "nonRepudiation" },
		{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
		{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
		{ KU_KEY_AGREEMENT, "keyAgreement" },
		{ KU_KEY_CERT_SIGN, "keyCertSign" },
		{ KU_CRL_SIGN, "cRLSign" },
		{ KU_ENCIPHER_ONLY, "encipherOnly" },
		{ KU_DECIPHER_ONLY, "decipherOnly" },
	};
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ku & names[i].bit)
			o += (size_t)snprintf(out + o, o < size ? size - o : 0,
					      "%s%s", o ? " " : "",
					      names[i].name);
	if (!out[0])
		snprintf(out, size, "no bit");
}

/* Printable ASCII without spaces. */
static int url_chars(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return 1;
}

static void check_masa(struct lint *l, X509 *x)
{
	int i, n = X509_get_ext_count(x);

	for (i = 0; i < n; i++) {
		X509_EXTENSION *e = X509_get_ext(x, i);
		const ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
		const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
		const uint8_t *c;
		size_t off = 0, cl;

		if ((size_t)OBJ_length(o) != sizeof(oid_masa_url) ||
		    memcmp(OBJ_get0_data(o), oid_masa_url, sizeof(oid_masa_url)))
			continue;
		if (X509_EXTENSION_get_critical(e))
			add(l, "masa-url", "id-pe-masa-url is critical");
		else if (m2m_der_read(v->data, (size_t)v->length, &off, 0x16,
				      &c, &cl) < 0 || off != (size_t)v->length)
			add(l, "masa-url", "id-pe-masa-url is not an IA5String");
		else if (cl < 9 || memcmp(c, "https://", 8) != 0 ||
			 !url_chars(c, cl))
			add(l, "masa-url", "id-pe-masa-url '%.*s' is not an https URL",
			    (int)(cl < 60 ? cl : 60), (const char *)c);
		return;
	}
}

/* HardwareModuleName, PPID and serialNumber rules of a DevID. */
static void check_devid_names(struct m2m_ctx *ctx, struct lint *l, X509 *x,
			      int san_idx)
{
	struct m2m_devid_info *d = &l->out->devid;
	GENERAL_NAMES *gens = NULL;
	char why[M2M_LINT_DETAIL_MAX] = "", hex[2 * 24 + 4];

	if (san_idx >= 0)
		gens = X509V3_EXT_d2i(X509_get_ext(x, san_idx));
	ERR_clear_error();
	if (san_idx < 0)
		add(l, "devid-san-present", "there is no subjectAltName");
	else if (!gens)
		add(l, "devid-hwmodule", "subjectAltName cannot be decoded");
	if (gens)
		hwmodules(ctx, gens, d, why, sizeof(why));
	GENERAL_NAMES_free(gens);
	if (gens && d->hwmodules == 0)
		add(l, "devid-hwmodule", "subjectAltName holds no HardwareModuleName");
	if (d->hwmodules && !d->hwmodule_ok)
		add(l, "devid-hwmodule-der", "%s", why);
	if (d->hwmodules > 1)
		add(l, "devid-hwmodule-single",
		    "subjectAltName holds %d HardwareModuleNames", d->hwmodules);
	if (d->hwmodule_ok && !d->tcg) {
		if (m2m_ppid_decode(ctx, &d->ppid, d->hw_serial_len <=
				    M2M_HW_SERIAL_MAX ? d->hw_serial : NULL,
				    d->hw_serial_len <= M2M_HW_SERIAL_MAX ?
				    d->hw_serial_len : 0) == M2M_OK) {
			d->has_ppid = 1;
		} else {
			snprintf(d->ppid_error, sizeof(d->ppid_error), "%s",
				 d->hw_serial_len > M2M_HW_SERIAL_MAX ?
				 "it is longer than any PPID" :
				 m2m_ctx_detail(ctx));
			add(l, "devid-ppid", "hwSerialNum %s is not a valid PPID: %s",
			    hw_hex(d, hex, sizeof(hex)), d->ppid_error);
		}
		m2m_ctx_clear_error(ctx);
	} else if (d->hwmodule_ok) {
		if (d->serial_number[0] &&
		    m2m_ppid_decode_hex(ctx, &d->ppid, d->serial_number,
					strlen(d->serial_number)) == M2M_OK) {
			d->has_ppid = 1;
		} else {
			snprintf(d->ppid_error, sizeof(d->ppid_error), "%s",
				 d->serial_number[0] ? m2m_ctx_detail(ctx) :
				 "there is no serialNumber");
			add(l, "devid-ppid",
			    "with the TCG hwType, the subject serialNumber is not a valid PPID: %s",
			    d->ppid_error);
		}
		m2m_ctx_clear_error(ctx);
	}
	if (d->serial_numbers == 0)
		add(l, "devid-serial-number", "the subject has no serialNumber");
	if (d->serial_numbers > 1)
		add(l, "devid-serial-number-single",
		    "the subject has %d serialNumber attributes",
		    d->serial_numbers);
}

#define Y9999 253402300799LL

static void check_extensions(struct m2m_ctx *ctx, struct lint *l, X509 *x,
			     int empty_subject)
{
	enum m2m_lint_profile p = l->out->profile;
	struct decoded dx;
	uint32_t ku;
	int crit, san, ku_idx, bc, aki, ski, self_signed, eku;
	char text[160];

	check_ext_unique(l, x);
	decode_exts(x, &dx);
	ku = dx.ku;
	self_signed = X509_NAME_cmp(X509_get_subject_name(x),
				    X509_get_issuer_name(x)) == 0;
	aki = ext_find(x, NID_authority_key_identifier, &crit);
	if (aki < 0 && !(p == M2M_LINT_CA && self_signed))
		add(l, "aki-present", "there is no authorityKeyIdentifier");
	if (aki >= 0 && crit)
		add(l, "aki-not-critical", "authorityKeyIdentifier is critical");
	ski = ext_find(x, NID_subject_key_identifier, &crit);
	if (ski >= 0 && crit)
		add(l, "ski-not-critical", "subjectKeyIdentifier is critical");
	ku_idx = ext_find(x, NID_key_usage, &crit);
	if (ku_idx >= 0 && !crit)
		add(l, "ku-critical", "keyUsage is not critical");
	san = ext_find(x, NID_subject_alt_name, &crit);
	if (san >= 0 && crit && !empty_subject)
		add(l, "san-not-critical",
		    "subjectAltName is critical and the subject is not empty");
	if (empty_subject && (san < 0 || !crit))
		add(l, "san-empty-subject", san < 0 ?
		    "the subject is empty and there is no subjectAltName" :
		    "the subject is empty and subjectAltName is not critical");
	bc = ext_find(x, NID_basic_constraints, &crit);
	eku = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);

	if (p == M2M_LINT_CA) {
		if (bc < 0 || !crit || !dx.ca)
			add(l, "ca-basic-constraints", bc < 0 ?
			    "there is no basicConstraints" : !crit ?
			    "basicConstraints is not critical" :
			    "basicConstraints does not say cA TRUE");
		if (ku_idx < 0 || (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !=
		    (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
			ku_text(ku_idx < 0 ? 0 : ku, text, sizeof(text));
			add(l, "ca-key-usage", ku_idx < 0 ? "there is no keyUsage" :
			    "keyUsage is %s", text);
		}
		if (ski < 0)
			add(l, "ca-ski-present", "there is no subjectKeyIdentifier");
		if (empty_subject)
			add(l, "ca-subject-not-empty", "the subject is empty");
		if (!self_signed && dx.ca && dx.pathlen != 0)
			add(l, "ca-path-len-zero", dx.pathlen < 0 ?
			    "there is no pathLenConstraint" :
			    "pathLenConstraint is %ld", dx.pathlen);
		return;
	}

	if (bc >= 0 && dx.ca)
		add(l, "devid-not-ca", "basicConstraints says cA TRUE");
	else if (bc >= 0)
		add(l, "devid-bc-absent", "basicConstraints is present");
	if (ku_idx >= 0) {
		ku_text(ku, text, sizeof(text));
		if (!(ku & KU_DIGITAL_SIGNATURE) ||
		    (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
			add(l, "devid-key-usage", "keyUsage is %s", text);
		else if (ku & ~(uint32_t)(KU_DIGITAL_SIGNATURE |
					  KU_KEY_ENCIPHERMENT |
					  KU_KEY_AGREEMENT))
			add(l, "devid-key-usage-bits", "keyUsage is %s", text);
	} else {
		add(l, "devid-key-usage-absent", "there is no keyUsage");
	}
	if (ski >= 0)
		add(l, "devid-ski-absent", "there is a subjectKeyIdentifier");
	check_devid_names(ctx, l, x, san);
	{
		int64_t na = m2m_asn1_time_epoch(X509_get0_notAfter(x));

		if (p == M2M_LINT_IDEVID && na != Y9999)
			add(l, "idevid-not-after", "notAfter is not 99991231235959Z");
		if (p == M2M_LINT_LDEVID && na == Y9999)
			add(l, "ldevid-lifetime", "notAfter is 99991231235959Z");
	}
	if (p == M2M_LINT_LDEVID &&
	    (eku < 0 || !(dx.xku & (XKU_SSL_CLIENT | XKU_SSL_SERVER))))
		add(l, "ldevid-eku", eku < 0 ? "there is no extendedKeyUsage" :
		    "extendedKeyUsage has neither clientAuth nor serverAuth");
	check_masa(l, x);
}

/* ---- the lint -------------------------------------------------------------- */

static enum m2m_lint_profile auto_profile(X509 *x)
{
	struct decoded d;

	decode_exts(x, &d);
	if (d.ca)
		return M2M_LINT_CA;
	if (X509_get_ext_by_NID(x, NID_ext_key_usage, -1) >= 0)
		return M2M_LINT_LDEVID;
	return M2M_LINT_IDEVID;
}

void m2m_lint_x509(struct m2m_ctx *ctx, X509 *x, const uint8_t *der,
		   size_t len, enum m2m_lint_profile profile,
		   struct m2m_lint_report *out)
{
	static const unsigned bits[] = {
		0, M2M_LINT_FOR_IDEVID, M2M_LINT_FOR_LDEVID, M2M_LINT_FOR_CA
	};
	struct lint l;
	struct raw r;
	int empty;

	memset(out, 0, sizeof(*out));
	if ((unsigned)profile > M2M_LINT_CA || profile == M2M_LINT_AUTO)
		profile = auto_profile(x);
	out->profile = profile;
	l.out = out;
	l.bit = bits[profile];

	raw_parse(der, len, &r);
	if (!r.ok)
		add(&l, "cert-der", "%s is not DER", r.why);
	if ((r.ok ? r.version : (int)X509_get_version(x)) != 2)
		add(&l, "cert-version-3", "the certificate is version %d",
		    (r.ok ? r.version : (int)X509_get_version(x)) + 1);
	if (r.ok) {
		check_serial(&l, &r);
		check_sig_alg(&l, &r);
		check_key(&l, x, &r);
		check_times(&l, &r);
		if (r.unique_ids)
			add(&l, "unique-ids-absent",
			    "the certificate has a unique identifier");
	}
	if (ASN1_TIME_compare(X509_get0_notBefore(x),
			      X509_get0_notAfter(x)) > 0)
		add(&l, "validity-order", "notBefore is after notAfter");
	check_subject(&l, x, &empty);
	check_extensions(ctx, &l, x, empty);
	sort_findings(out);
	ERR_clear_error();
}

enum m2m_err m2m_lint_der(struct m2m_ctx *ctx, const uint8_t *der, size_t len,
			  enum m2m_lint_profile profile,
			  struct m2m_lint_report *out)
{
	const unsigned char *p = der;
	X509 *x;

	memset(out, 0, sizeof(*out));
	if (len > M2M_CERT_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "certificate is larger than %d bytes",
				 M2M_CERT_MAX);
	x = X509_new_ex(ctx->libctx, NULL);
	if (!x)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	if (!d2i_X509(&x, &p, (long)len)) {
		X509_free(x);
		return m2m_error_ossl(ctx, M2M_ERR_INVALID,
				      "not a DER certificate");
	}
	if (p != der + len) {
		X509_free(x);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%zu bytes of garbage after the certificate",
				 (size_t)(der + len - p));
	}
	m2m_lint_x509(ctx, x, der, len, profile, out);
	X509_free(x);
	return M2M_OK;
}
