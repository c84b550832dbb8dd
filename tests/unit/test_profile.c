/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/profile.h: the defaults, parsing profiles.conf
 * (every key, every rejection with its line number, comments, CRLF,
 * limits), the canonical format and its round trip, get, and set.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/profile.h>

#include "unit.h"

static struct m2m_ctx *ctx;

/* Large; shared by the tests, which run one at a time. */
static struct m2m_profiles got, want, before;
static char text[2 * M2M_PROFILES_TEXT_MAX], text2[M2M_PROFILES_TEXT_MAX];

#define ALGS_RSA_EC ((1u << M2M_KEY_EC_P256) | (1u << M2M_KEY_EC_P384) | \
		     (1u << M2M_KEY_RSA2048) | (1u << M2M_KEY_RSA3072))
#define ALGS_ALL (ALGS_RSA_EC | (1u << M2M_KEY_ED25519))

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

static enum m2m_err parse(const char *s)
{
	m2m_ctx_clear_error(ctx);
	return m2m_profiles_parse(ctx, s, strlen(s), &got);
}

/* The text parses, with the detail contains phrase. */
#define CHECK_PARSE_FAILS(s, phrase) \
	CHECK_FAILS(m2m_profiles_parse(ctx, (s), strlen(s), &got), \
		    M2M_ERR_INVALID, (phrase))

/* The detail starts with prefix. */
#define CHECK_PREFIX(prefix) \
	CHECK_MSG(strncmp(m2m_ctx_detail(ctx), (prefix), strlen(prefix)) == 0, \
		  "detail \"%s\" does not start with \"%s\"", \
		  m2m_ctx_detail(ctx), (prefix))

static void expect_idevid(struct m2m_profile *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->type = M2M_PROFILE_IDEVID;
	p->key_algs = ALGS_RSA_EC;
	p->key_usage = M2M_KU_DIGITAL_SIGNATURE;
}

static void expect_ldevid(struct m2m_profile *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->type = M2M_PROFILE_LDEVID;
	p->key_algs = ALGS_ALL;
	p->lifetime_days = 365;
	p->key_usage = M2M_KU_DIGITAL_SIGNATURE;
	p->ext_key_usage = M2M_EKU_CLIENT_AUTH;
	strcpy(p->trust_anchors, "manufacturers.pem");
}

/*
 * A profile section "[p]" of type type holding the line setting (line 3)
 * is rejected with a detail "line 3: ..." that contains phrase; and
 * m2m_profiles_set() of the same key and value on such a profile fails
 * with "p: ..." containing phrase, and changes nothing.
 */
#define REJECT(type, setting, phrase) \
	reject_setting(__LINE__, (type), (setting), (phrase))
static void reject_setting(int line, const char *type, const char *setting,
			   const char *phrase)
{
	char buf[4096], key[128], *value = NULL;
	const char *eq, *d = m2m_ctx_detail(ctx);
	enum m2m_err rc;

	snprintf(buf, sizeof(buf), "[p]\ntype = %s\n%s\n", type, setting);
	rc = parse(buf);
	unit_eq_int(__FILE__, line, setting, "M2M_ERR_INVALID", rc,
		    M2M_ERR_INVALID);
	unit_check(strncmp(d, "line 3: ", 8) == 0 && strstr(d, phrase),
		   __FILE__, line,
		   "parse detail is not \"line 3: ...%s...\":\n#   got: \"%s\"",
		   phrase, d);

	eq = strchr(setting, '=');
	if (!eq || (size_t)(eq - setting) >= sizeof(key))
		return;
	memcpy(key, setting, (size_t)(eq - setting));
	key[eq - setting] = '\0';
	while (key[0] && key[strlen(key) - 1] == ' ')
		key[strlen(key) - 1] = '\0';
	value = strdup(eq + 1);
	snprintf(buf, sizeof(buf), "[p]\ntype = %s\n", type);
	if (!unit_check(parse(buf) == M2M_OK, __FILE__, line, "no profile"))
		goto out;
	before = got;
	m2m_ctx_clear_error(ctx);
	rc = m2m_profiles_set(ctx, &got, "p", key, value);
	unit_eq_int(__FILE__, line, "set", "M2M_ERR_INVALID", rc,
		    M2M_ERR_INVALID);
	unit_check(strncmp(d, "p: ", 3) == 0 && strstr(d, phrase), __FILE__,
		   line, "set detail is not \"p: ...%s...\":\n#   got: \"%s\"",
		   phrase, d);
	unit_check(memcmp(&got, &before, sizeof(got)) == 0, __FILE__, line,
		   "a failed set changed the profiles");
out:
	free(value);
}

/* As REJECT, for a setting that is accepted; *got holds the result. */
#define ACCEPT(type, setting) accept_setting(__LINE__, (type), (setting))
static void accept_setting(int line, const char *type, const char *setting)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "[p]\ntype = %s\n%s\n", type, setting);
	unit_check(parse(buf) == M2M_OK, __FILE__, line,
		   "'%s' rejected: %s", setting, m2m_ctx_detail(ctx));
}

/* format(p), parse, format again: same struct, same bytes. */
static void check_round_trip(const struct m2m_profiles *p)
{
	size_t n1 = 0, n2 = 0;

	m2m_ctx_clear_error(ctx);
	if (!CHECK_EQ_INT(m2m_profiles_format(ctx, p, text2, sizeof(text2),
					      &n1), M2M_OK))
		return;
	CHECK_EQ_INT(strlen(text2), n1);
	if (!CHECK_MSG(m2m_profiles_parse(ctx, text2, n1, &got) == M2M_OK,
		       "format output does not parse: %s",
		       m2m_ctx_detail(ctx)))
		return;
	CHECK_EQ_MEM(&got, p, sizeof(got));
	CHECK_EQ_INT(m2m_profiles_format(ctx, &got, text, sizeof(text), &n2),
		     M2M_OK);
	CHECK_EQ_INT(n2, n1);
	CHECK_EQ_STR(text, text2);
}

/* ---- defaults ------------------------------------------------------------ */

UNIT_TEST(defaults_exact)
{
	size_t i;

	memset(&want, 0, sizeof(want));
	want.crl_validity_days = 7;
	want.n = 2;
	expect_idevid(&want.p[0], "idevid");
	expect_ldevid(&want.p[1], "ldevid");
	memset(&got, 0xA5, sizeof(got));
	m2m_profiles_defaults(&got);
	CHECK_EQ_MEM(&got, &want, sizeof(got));

	/* Field by field, so that a failure says which. */
	CHECK_EQ_INT(got.crl_validity_days, 7);
	CHECK_EQ_INT(got.n, 2);
	CHECK_EQ_STR(got.p[0].name, "idevid");
	CHECK_EQ_INT(got.p[0].type, M2M_PROFILE_IDEVID);
	CHECK_EQ_STR(got.p[0].hw_type, "");
	CHECK_EQ_STR(got.p[0].subject, "");
	CHECK_EQ_INT(got.p[0].key_algs, ALGS_RSA_EC);
	CHECK_EQ_INT(got.p[0].lifetime_days, 0);
	CHECK_EQ_INT(got.p[0].subject_key_id, 0);
	CHECK_EQ_INT(got.p[0].key_usage, M2M_KU_DIGITAL_SIGNATURE);
	CHECK_EQ_INT(got.p[0].ext_key_usage, 0);
	CHECK_EQ_INT(got.p[0].request_names, 0);
	CHECK_EQ_STR(got.p[0].masa_url, "");
	CHECK_EQ_STR(got.p[0].trust_anchors, "");
	CHECK_EQ_STR(got.p[1].name, "ldevid");
	CHECK_EQ_INT(got.p[1].type, M2M_PROFILE_LDEVID);
	CHECK_EQ_STR(got.p[1].hw_type, "");
	CHECK_EQ_STR(got.p[1].subject, "");
	CHECK_EQ_INT(got.p[1].key_algs, ALGS_ALL);
	CHECK_EQ_INT(got.p[1].lifetime_days, 365);
	CHECK_EQ_INT(got.p[1].subject_key_id, 0);
	CHECK_EQ_INT(got.p[1].key_usage, M2M_KU_DIGITAL_SIGNATURE);
	CHECK_EQ_INT(got.p[1].ext_key_usage, M2M_EKU_CLIENT_AUTH);
	CHECK_EQ_INT(got.p[1].request_names, 0);
	CHECK_EQ_STR(got.p[1].masa_url, "");
	CHECK_EQ_STR(got.p[1].trust_anchors, "manufacturers.pem");
	for (i = 2; i < M2M_PROFILES_MAX; i++)
		CHECK_EQ_STR(got.p[i].name, "");
}

static const char defaults_text[] =
	"# Settings and certificate profiles of this CA, managed by 'm2m-ca profile set'.\n"
	"\n"
	"[ca]\n"
	"key =\n"
	"ledger =\n"
	"crl-validity = 7d\n"
	"\n"
	"[idevid]\n"
	"type = idevid\n"
	"hw-type =\n"
	"subject =\n"
	"key-algorithms = ec-p256 ec-p384 rsa2048 rsa3072\n"
	"lifetime = forever\n"
	"subject-key-id = no\n"
	"key-usage = digitalSignature\n"
	"extended-key-usage = none\n"
	"request-names = none\n"
	"masa-url =\n"
	"trust-anchors =\n"
	"\n"
	"[ldevid]\n"
	"type = ldevid\n"
	"hw-type =\n"
	"subject =\n"
	"key-algorithms = ec-p256 ec-p384 rsa2048 rsa3072 ed25519\n"
	"lifetime = 365d\n"
	"subject-key-id = no\n"
	"key-usage = digitalSignature\n"
	"extended-key-usage = clientAuth\n"
	"request-names = none\n"
	"masa-url =\n"
	"trust-anchors = manufacturers.pem\n";

UNIT_TEST(format_defaults_exact_text)
{
	size_t n = 0;

	m2m_profiles_defaults(&want);
	CHECK_EQ_INT(m2m_profiles_format(ctx, &want, text, sizeof(text), &n),
		     M2M_OK);
	CHECK_EQ_STR(text, defaults_text);
	CHECK_EQ_INT(n, strlen(defaults_text));
	/* outlen may be NULL. */
	CHECK_EQ_INT(m2m_profiles_format(ctx, &want, text, sizeof(text), NULL),
		     M2M_OK);
	CHECK_EQ_STR(text, defaults_text);
}

UNIT_TEST(round_trip_defaults)
{
	m2m_profiles_defaults(&want);
	check_round_trip(&want);
	CHECK_EQ_STR(text, defaults_text);
}

/* ---- parsing ------------------------------------------------------------- */

static const char full_text[] =
	"# every key\n"
	"[ca]\n"
	"crl-validity = 30d\n"
	"\n"
	"[factory-1]\n"
	"type = idevid\n"
	"hw-type = 1.3.6.1.4.1.99999.1.1\n"
	"subject = C=DE,ST=Bayern,L=M\xC3\xBCnchen,O=Example Devices\\, Ltd,OU=Factory 1,CN=Sensor,DC=example\n"
	"key-algorithms = ec-p256, rsa3072\n"
	"lifetime = 7300d\n"
	"subject-key-id = yes\n"
	"key-usage = digitalSignature keyAgreement\n"
	"extended-key-usage = clientAuth serverAuth\n"
	"request-names = dns\n"
	"masa-url = https://masa.example.com/.well-known/brski\n"
	"trust-anchors =\n"
	"\n"
	"[site-a]\n"
	"type = ldevid\n"
	"hw-type = 2.999\n"
	"subject = O=Site A\n"
	"key-algorithms = ed25519\n"
	"lifetime = forever\n"
	"subject-key-id = no\n"
	"key-usage = none\n"
	"extended-key-usage = serverAuth\n"
	"request-names = uri,dns\n"
	"masa-url =\n"
	"trust-anchors = anchors/vendor-x_1.pem\n";

UNIT_TEST(parse_full_file_every_key)
{
	struct m2m_profile *p;

	if (!CHECK_MSG(parse(full_text) == M2M_OK, "%s", m2m_ctx_detail(ctx)))
		return;
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");
	CHECK_EQ_INT(got.crl_validity_days, 30);
	CHECK_EQ_INT(got.n, 2);
	p = &got.p[0];
	CHECK_EQ_STR(p->name, "factory-1");
	CHECK_EQ_INT(p->type, M2M_PROFILE_IDEVID);
	CHECK_EQ_STR(p->hw_type, "1.3.6.1.4.1.99999.1.1");
	CHECK_EQ_STR(p->subject, "C=DE,ST=Bayern,L=M\xC3\xBCnchen,O=Example Devices\\, Ltd,OU=Factory 1,CN=Sensor,DC=example");
	CHECK_EQ_INT(p->key_algs, (1u << M2M_KEY_EC_P256) |
				  (1u << M2M_KEY_RSA3072));
	CHECK_EQ_INT(p->lifetime_days, 7300);
	CHECK_EQ_INT(p->subject_key_id, 1);
	CHECK_EQ_INT(p->key_usage,
		     M2M_KU_DIGITAL_SIGNATURE | M2M_KU_KEY_AGREEMENT);
	CHECK_EQ_INT(p->ext_key_usage,
		     M2M_EKU_CLIENT_AUTH | M2M_EKU_SERVER_AUTH);
	CHECK_EQ_INT(p->request_names, M2M_SAN_DNS);
	CHECK_EQ_STR(p->masa_url, "https://masa.example.com/.well-known/brski");
	CHECK_EQ_STR(p->trust_anchors, "");
	p = &got.p[1];
	CHECK_EQ_STR(p->name, "site-a");
	CHECK_EQ_INT(p->type, M2M_PROFILE_LDEVID);
	CHECK_EQ_STR(p->hw_type, "2.999");
	CHECK_EQ_STR(p->subject, "O=Site A");
	CHECK_EQ_INT(p->key_algs, 1u << M2M_KEY_ED25519);
	CHECK_EQ_INT(p->lifetime_days, 0);
	CHECK_EQ_INT(p->subject_key_id, 0);
	CHECK_EQ_INT(p->key_usage, 0);
	CHECK_EQ_INT(p->ext_key_usage, M2M_EKU_SERVER_AUTH);
	CHECK_EQ_INT(p->request_names, M2M_SAN_DNS | M2M_SAN_URI);
	CHECK_EQ_STR(p->masa_url, "");
	CHECK_EQ_STR(p->trust_anchors, "anchors/vendor-x_1.pem");
	CHECK_EQ_STR(got.p[2].name, "");

	want = got;
	check_round_trip(&want);
}

UNIT_TEST(parse_unset_keys_take_the_type_defaults)
{
	CHECK_EQ_INT(parse("[a]\ntype = ldevid\n[b]\ntype = idevid\n"
			   "lifetime = 10d\n"), M2M_OK);
	memset(&want, 0, sizeof(want));
	want.crl_validity_days = 7;
	want.n = 2;
	expect_ldevid(&want.p[0], "a");
	expect_idevid(&want.p[1], "b");
	want.p[1].lifetime_days = 10;
	CHECK_EQ_MEM(&got, &want, sizeof(got));
}

UNIT_TEST(parse_empty_and_comment_only_files)
{
	memset(&want, 0, sizeof(want));
	want.crl_validity_days = 7;
	CHECK_EQ_INT(m2m_profiles_parse(ctx, NULL, 0, &got), M2M_OK);
	CHECK_EQ_MEM(&got, &want, sizeof(got));
	CHECK_EQ_INT(parse(""), M2M_OK);
	CHECK_EQ_MEM(&got, &want, sizeof(got));
	CHECK_EQ_INT(parse("# nothing\n\n   \n\t# indented comment\n"), M2M_OK);
	CHECK_EQ_MEM(&got, &want, sizeof(got));
	CHECK_EQ_INT(parse("[ca]\n"), M2M_OK);
	CHECK_EQ_MEM(&got, &want, sizeof(got));
	/* Parsing overwrites whatever *out held. */
	m2m_profiles_defaults(&got);
	CHECK_EQ_INT(parse("[ca]\ncrl-validity = 1d\n"), M2M_OK);
	want.crl_validity_days = 1;
	CHECK_EQ_MEM(&got, &want, sizeof(got));
}

UNIT_TEST(parse_comments_blanks_and_spacing)
{
	static const char s[] =
		"   # leading comment\n"
		"\n"
		"\t\n"
		"  [ ca ]  \n"
		"crl-validity=14d\n"
		"# between\n"
		"[\tidevid\t]\n"
		"\ttype\t=\tidevid\t\n"
		"  lifetime =   forever   \n"
		"# key = value in a comment is ignored\n"
		"#[not-a-section]\n"
		"hw-type=1.2.3\n"
		"[ldevid]\n"
		"type = ldevid\n"
		"subject = CN=with # hash\n";

	if (!CHECK_MSG(parse(s) == M2M_OK, "%s", m2m_ctx_detail(ctx)))
		return;
	memset(&want, 0, sizeof(want));
	want.crl_validity_days = 14;
	want.n = 2;
	expect_idevid(&want.p[0], "idevid");
	strcpy(want.p[0].hw_type, "1.2.3");
	expect_ldevid(&want.p[1], "ldevid");
	strcpy(want.p[1].subject, "CN=with # hash");
	CHECK_EQ_MEM(&got, &want, sizeof(got));
}

UNIT_TEST(parse_crlf_line_endings_and_bom)
{
	static struct m2m_profiles lf;
	size_t i, o = 0;

	if (!CHECK_EQ_INT(parse(full_text), M2M_OK))
		return;
	lf = got;
	for (i = 0; full_text[i]; i++) {
		if (full_text[i] == '\n')
			text[o++] = '\r';
		text[o++] = full_text[i];
	}
	text[o] = '\0';
	CHECK_MSG(parse(text) == M2M_OK, "CRLF: %s", m2m_ctx_detail(ctx));
	CHECK_EQ_MEM(&got, &lf, sizeof(got));

	/* A byte order mark, and a last line without its line end. */
	snprintf(text, sizeof(text), "\xEF\xBB\xBF%s", full_text);
	text[strlen(text) - 1] = '\0';
	CHECK_MSG(parse(text) == M2M_OK, "BOM: %s", m2m_ctx_detail(ctx));
	CHECK_EQ_MEM(&got, &lf, sizeof(got));
	snprintf(text, sizeof(text), "\xEF\xBB\xBF%s", full_text);
	text[strlen(text) - 1] = '\r';
	CHECK_MSG(parse(text) == M2M_OK, "CR at EOF: %s", m2m_ctx_detail(ctx));
	CHECK_EQ_MEM(&got, &lf, sizeof(got));

	/* A CR elsewhere is not a line end. */
	CHECK_PARSE_FAILS("[p]\ntype = idevid\rlifetime = 1d\n",
			  "line 2: type must be 'idevid' or 'ldevid'");
	CHECK_PARSE_FAILS("[p]\r\r\ntype = idevid\n",
			  "line 1: a section line must end with ']'");
}

/* ---- rejections ---------------------------------------------------------- */

UNIT_TEST(reject_line_syntax)
{
	CHECK_PARSE_FAILS("[p]\ntype = idevid\njust words\n",
			  "line 3: expected 'key = value', '[section]', a comment or a blank line, not 'just words'");
	CHECK_PARSE_FAILS("[p]\ntype = idevid\n= value\n",
			  "line 3: expected 'key = value'");
	CHECK_PARSE_FAILS("[p]\n  ; not a comment\n", "line 2: expected");
	CHECK_PARSE_FAILS("[p\ntype = idevid\n",
			  "line 1: a section line must end with ']'");
	CHECK_PARSE_FAILS("[p] # comment\n", "line 1: a section line must end with ']'");
	CHECK_PARSE_FAILS("\n# c\ntype = idevid\n[p]\n",
			  "line 3: 'type' comes before any [section]");
	CHECK_EQ_INT(got.n, 0);
}

UNIT_TEST(reject_unknown_and_repeated_keys)
{
	CHECK_PARSE_FAILS("[ca]\n\n[idevid]\ntype = idevid\n\n# x\nhw_tpye = 1.2\n",
			  "line 7: unknown key 'hw_tpye' in [idevid]");
	REJECT("idevid", "Type = idevid", "unknown key 'Type' in [p]");
	REJECT("ldevid", "crl-validity = 7d",
	       "unknown key 'crl-validity' in [p] (it belongs in [ca])");
	CHECK_PARSE_FAILS("[ca]\ntype = idevid\n",
			  "line 2: unknown key 'type' in [ca] (it belongs in a profile section)");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity = 7d\ncrl-validity = 8d\n",
			  "line 3: 'crl-validity' appears twice in [ca] (first on line 2)");
	CHECK_PARSE_FAILS("[p]\ntype = idevid\nlifetime = 1d\n\nlifetime = 1d\n",
			  "line 5: 'lifetime' appears twice in [p] (first on line 3)");
	CHECK_PARSE_FAILS("[p]\ntype = idevid\ntype = idevid\n",
			  "line 3: 'type' appears twice in [p] (first on line 2)");
	/* The same key in another section is fine. */
	CHECK_EQ_INT(parse("[a]\ntype = idevid\nlifetime = 1d\n"
			   "[b]\ntype = idevid\nlifetime = 1d\n"), M2M_OK);
	/* An over-long key is quoted, cut. */
	CHECK_PARSE_FAILS("[p]\ntype = idevid\n"
			  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n",
			  "line 3: unknown key 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' in [p]");
}

UNIT_TEST(reject_sections)
{
	static const char *const bad[] = {
		"[Idevid]", "[a_b]", "[]", "[ ]", "[a b]", "[a.b]",
		"[abcdefghijabcdefghijabcdefghij12]", "[caf\xC3\xA9]",
	};
	size_t i;

	for (i = 0; i < UNIT_COUNT(bad); i++) {
		snprintf(text, sizeof(text), "# x\n%s\ntype = idevid\n", bad[i]);
		CHECK_PARSE_FAILS(text, "line 2: invalid section name '");
		CHECK_CONTAINS(m2m_ctx_detail(ctx),
			       "a profile name is 1 to 31 characters of a-z, 0-9 and '-'");
	}
	CHECK_EQ_INT(parse("[abcdefghijabcdefghijabcdefghij1]\ntype = idevid\n"
			   "[-]\ntype = ldevid\n[0]\ntype = ldevid\n"), M2M_OK);
	CHECK_EQ_STR(got.p[0].name, "abcdefghijabcdefghijabcdefghij1");
	CHECK_EQ_INT(got.n, 3);

	CHECK_PARSE_FAILS("[p]\ntype = idevid\n[q]\ntype = idevid\n[p]\n",
			  "line 5: profile [p] appears twice (first on line 1)");
	CHECK_PARSE_FAILS("[ca]\n[p]\ntype = idevid\n[ca]\n",
			  "line 4: section [ca] appears twice (first on line 1)");
}

UNIT_TEST(reject_missing_or_late_type)
{
	CHECK_PARSE_FAILS("[p]\n", "line 1: [p] has no 'type' (idevid or ldevid)");
	CHECK_PARSE_FAILS("[a]\ntype = idevid\n\n[b]\n# empty\n[c]\ntype = idevid\n",
			  "line 4: [b] has no 'type'");
	CHECK_PARSE_FAILS("[a]\ntype = idevid\n[b]\n\n",
			  "line 3: [b] has no 'type'");
	CHECK_PARSE_FAILS("[p]\nlifetime = 1d\ntype = idevid\n",
			  "line 2: 'lifetime' comes before 'type' in [p]; type must be the first key of a profile");
	CHECK_PARSE_FAILS("[p]\ntype = IDevID\n",
			  "line 2: type must be 'idevid' or 'ldevid', not 'IDevID'");
	CHECK_PARSE_FAILS("[p]\ntype =\n",
			  "line 2: type must be 'idevid' or 'ldevid', not ''");
	CHECK_PARSE_FAILS("[p]\ntype = ca\n",
			  "line 2: type must be 'idevid' or 'ldevid', not 'ca'");
}

UNIT_TEST(hw_type_rules)
{
	ACCEPT("idevid", "hw-type = 1.3.6.1.4.1.99999.1.1");
	CHECK_EQ_STR(got.p[0].hw_type, "1.3.6.1.4.1.99999.1.1");
	ACCEPT("idevid", "hw-type = 0.0");
	ACCEPT("idevid", "hw-type = 1.39");
	ACCEPT("idevid", "hw-type = 0.39.0.10");
	ACCEPT("idevid", "hw-type = 2.40");
	ACCEPT("idevid", "hw-type = 2.999.123456789012345678901234567890");
	ACCEPT("idevid", "hw-type =");
	CHECK_EQ_STR(got.p[0].hw_type, "");

	REJECT("idevid", "hw-type = 1", "hw-type '1' needs at least two arcs");
	REJECT("idevid", "hw-type = 3.1",
	       "hw-type '3.1': the first arc must be 0, 1 or 2");
	REJECT("idevid", "hw-type = 10.1",
	       "hw-type '10.1': the first arc must be 0, 1 or 2");
	REJECT("idevid", "hw-type = 1.40",
	       "hw-type '1.40': the second arc must be 0 to 39 under 1");
	REJECT("ldevid", "hw-type = 0.100",
	       "hw-type '0.100': the second arc must be 0 to 39 under 0");
	REJECT("idevid", "hw-type = 1.2.03",
	       "hw-type '1.2.03': arc 3 has a leading zero");
	REJECT("idevid", "hw-type = 01.2",
	       "hw-type '01.2': arc 1 has a leading zero");
	REJECT("idevid", "hw-type = 1..2",
	       "hw-type must be a dotted OID like '1.3.6.1.4.1.99999.1', not '1..2'");
	REJECT("idevid", "hw-type = .1.2", "hw-type must be a dotted OID");
	REJECT("idevid", "hw-type = 1.2.", "hw-type must be a dotted OID");
	REJECT("idevid", "hw-type = 1.2a", "hw-type must be a dotted OID");
	REJECT("idevid", "hw-type = 1.2 .3", "hw-type must be a dotted OID");
	REJECT("idevid", "hw-type = -1.2", "hw-type must be a dotted OID");
	REJECT("idevid", "hw-type = id-pe", "not 'id-pe'");
}

UNIT_TEST(hw_type_length_limit)
{
	char oid[M2M_OID_TEXT_MAX + 8], line[M2M_OID_TEXT_MAX + 32];
	size_t n;

	/* "1.2.3.3.3..." of exactly 127 characters, then 128. */
	strcpy(oid, "1.2");
	for (n = 3; n < M2M_OID_TEXT_MAX - 1; n += 2)
		strcat(oid, ".3");
	if (strlen(oid) < M2M_OID_TEXT_MAX - 1)
		strcat(oid, "3");
	CHECK_EQ_INT(strlen(oid), M2M_OID_TEXT_MAX - 1);
	snprintf(line, sizeof(line), "hw-type = %s", oid);
	ACCEPT("idevid", line);
	CHECK_EQ_STR(got.p[0].hw_type, oid);
	strcat(oid, "3");
	snprintf(line, sizeof(line), "hw-type = %s", oid);
	REJECT("idevid", line, "is 128 characters long, more than 127");
}

UNIT_TEST(subject_rules)
{
	char line[1400], v[600];
	size_t i;

	ACCEPT("idevid", "subject = O=Example Devices Ltd,OU=Factory 1");
	CHECK_EQ_STR(got.p[0].subject, "O=Example Devices Ltd,OU=Factory 1");
	ACCEPT("idevid", "subject = CN=a\\,b\\+c\\;d\\<e\\>f\\\"g\\\\h\\=i");
	ACCEPT("idevid", "subject = CN=\\#1,O=\\ lead,OU=trail\\ ");
	CHECK_EQ_STR(got.p[0].subject, "CN=\\#1,O=\\ lead,OU=trail\\ ");
	want = got;
	check_round_trip(&want);
	CHECK_CONTAINS(text, "\nsubject = CN=\\#1,O=\\ lead,OU=trail\\ \n");
	ACCEPT("idevid", "subject = OU=a\\\\ ");
	CHECK_EQ_STR(got.p[0].subject, "OU=a\\\\");
	ACCEPT("idevid", "subject = CN=a#b=c");
	ACCEPT("idevid", "subject = O=Gr\xC3\xBC\xC3\x9F\x65 \xE2\x82\xAC \xF0\x9F\x94\x92");
	ACCEPT("idevid", "subject = DC=example,DC=com,OU=a,OU=b");
	ACCEPT("idevid", "subject = C=DE,ST=s,L=l,O=o,OU=ou,CN=cn,DC=dc-1");
	ACCEPT("ldevid", "subject =");
	CHECK_EQ_STR(got.p[0].subject, "");

	REJECT("idevid", "subject = O=x,serialNumber=1",
	       "subject must not hold serialNumber: the CA adds the device's serial number");
	REJECT("idevid", "subject = SERIALNUMBER=1", "must not hold serialNumber");
	REJECT("ldevid", "subject = 2.5.4.5=1", "must not hold serialNumber");
	REJECT("idevid", "subject = emailAddress=a@b",
	       "subject: unknown attribute 'emailAddress' (use C, ST, L, O, OU, CN or DC)");
	REJECT("idevid", "subject = cn=x", "subject: unknown attribute 'cn'");
	REJECT("idevid", "subject = O=a, OU=b",
	       "subject: no space is allowed around an attribute name (' OU')");
	REJECT("idevid", "subject = O =a",
	       "no space is allowed around an attribute name ('O ')");
	REJECT("idevid", "subject = O=", "subject: O has an empty value");
	REJECT("idevid", "subject = O=a,OU=", "subject: OU has an empty value");
	REJECT("idevid", "subject = O", "subject: 'O' is not ATTR=value");
	REJECT("idevid", "subject = O=a,OU", "subject: 'OU' is not ATTR=value");
	REJECT("idevid", "subject = O=a,,OU=b", "subject: '' is not ATTR=value");
	REJECT("idevid", "subject = O=a,", "subject ends with ','");
	REJECT("idevid", "subject = =a",
	       "subject: an attribute name is missing before '='");
	REJECT("idevid", "subject = O=a+CN=b", "subject: O: '+' must be written '\\+'");
	REJECT("idevid", "subject = O=a;b", "subject: O: ';' must be written '\\;'");
	REJECT("idevid", "subject = O=\"a\"", "subject: O: '\"' must be written '\\\"'");
	REJECT("idevid", "subject = O=a\\x",
	       "subject: O: '\\' must be followed by one of");
	REJECT("idevid", "subject = O=a\\", "'\\' must be followed by one of");
	REJECT("idevid", "subject = O=#a",
	       "subject: O: a value beginning with '#' must write it '\\#'");
	REJECT("idevid", "subject = O= a",
	       "subject: O: a value must not begin or end with a space");
	REJECT("idevid", "subject = O=a ,OU=b",
	       "a value must not begin or end with a space");
	REJECT("idevid", "subject = O=a\tb",
	       "subject: O: byte 0x09 (a control character) is not allowed");
	REJECT("idevid", "subject = O=a\x7f", "byte 0x7F");
	REJECT("idevid", "subject = O=a\xC3(",
	       "subject: O: the value is not valid UTF-8");
	REJECT("idevid", "subject = O=\xC0\xAF", "not valid UTF-8");
	REJECT("idevid", "subject = O=\xED\xA0\x80", "not valid UTF-8");
	REJECT("idevid", "subject = O=\xF4\x90\x80\x80", "not valid UTF-8");
	REJECT("idevid", "subject = O=a\xC2\x85", "a control character is not allowed");
	REJECT("idevid", "subject = C=DEU",
	       "subject: C must be a two-letter country code like 'DE', not 'DEU'");
	REJECT("idevid", "subject = C=de", "two-letter country code");
	REJECT("idevid", "subject = C=D", "two-letter country code");
	REJECT("idevid", "subject = DC=a.b",
	       "subject: DC must be a DNS label (letters, digits, '-'), not 'a.b'");

	/* RFC 5280 upper bounds, in characters. */
	memset(v, 'x', 64);
	v[64] = '\0';
	snprintf(line, sizeof(line), "subject = CN=%s", v);
	ACCEPT("idevid", line);
	snprintf(line, sizeof(line), "subject = CN=%sx", v);
	REJECT("idevid", line, "subject: CN '");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "is 65 characters long, more than 64");
	for (i = 0; i < 64; i++)
		memcpy(v + 2 * i, "\xC3\xBC", 2);
	v[128] = '\0';
	snprintf(line, sizeof(line), "subject = O=%s", v);
	ACCEPT("idevid", line);
	snprintf(line, sizeof(line), "subject = L=%s%s", v, v);
	ACCEPT("idevid", line);
	snprintf(line, sizeof(line), "subject = L=%s%sx", v, v);
	REJECT("idevid", line, "is 129 characters long, more than 128");

	/* The whole template: at most 511 bytes. */
	strcpy(v, "CN=x");
	while (strlen(v) + 5 <= M2M_DN_TEXT_MAX - 1)
		strcat(v, ",O=ab");
	while (strlen(v) < M2M_DN_TEXT_MAX - 1)
		strcat(v, "c");
	CHECK_EQ_INT(strlen(v), M2M_DN_TEXT_MAX - 1);
	snprintf(line, sizeof(line), "subject = %s", v);
	ACCEPT("idevid", line);
	CHECK_EQ_STR(got.p[0].subject, v);
	strcat(v, "c");
	snprintf(line, sizeof(line), "subject = %s", v);
	REJECT("idevid", line, "subject is 512 bytes long, more than 511");
}

UNIT_TEST(key_algorithms_rules)
{
	ACCEPT("idevid", "key-algorithms = ec-p256");
	CHECK_EQ_INT(got.p[0].key_algs, 1u << M2M_KEY_EC_P256);
	ACCEPT("idevid", "key-algorithms = EC-P384,Rsa2048");
	CHECK_EQ_INT(got.p[0].key_algs,
		     (1u << M2M_KEY_EC_P384) | (1u << M2M_KEY_RSA2048));
	ACCEPT("idevid", "key-algorithms = rsa3072 , ec-p256\t rsa2048");
	CHECK_EQ_INT(got.p[0].key_algs, (1u << M2M_KEY_RSA3072) |
		     (1u << M2M_KEY_EC_P256) | (1u << M2M_KEY_RSA2048));
	ACCEPT("ldevid", "key-algorithms = ed25519, ec-p256");
	CHECK_EQ_INT(got.p[0].key_algs,
		     (1u << M2M_KEY_ED25519) | (1u << M2M_KEY_EC_P256));

	REJECT("idevid", "key-algorithms = ec-p256 ed25519",
	       "key-algorithms: ed25519 is not allowed in an idevid profile");
	REJECT("idevid", "key-algorithms = ED25519",
	       "ed25519 is not allowed in an idevid profile");
	REJECT("idevid", "key-algorithms =",
	       "key-algorithms needs at least one algorithm (ec-p256, ec-p384, rsa2048, rsa3072, ed25519)");
	REJECT("ldevid", "key-algorithms = none",
	       "key-algorithms: unknown algorithm 'none' (use ec-p256, ec-p384, rsa2048, rsa3072, ed25519)");
	REJECT("ldevid", "key-algorithms = ec-p521",
	       "key-algorithms: unknown algorithm 'ec-p521'");
	REJECT("ldevid", "key-algorithms = ec-p256-and-a-very-long-name",
	       "unknown algorithm 'ec-p256-and-a-very-long-name'");
	REJECT("ldevid", "key-algorithms = ec-p256,,rsa2048",
	       "key-algorithms 'ec-p256,,rsa2048': a name is missing between commas");
	REJECT("ldevid", "key-algorithms = ec-p256,",
	       "a name is missing between commas");
	REJECT("ldevid", "key-algorithms = ,ec-p256",
	       "a name is missing between commas");
	REJECT("ldevid", "key-algorithms = ec-p256 EC-P256",
	       "key-algorithms: 'ec-p256' is listed twice");
}

UNIT_TEST(lifetime_rules)
{
	ACCEPT("idevid", "lifetime = forever");
	CHECK_EQ_INT(got.p[0].lifetime_days, 0);
	ACCEPT("ldevid", "lifetime = forever");
	CHECK_EQ_INT(got.p[0].lifetime_days, 0);
	ACCEPT("idevid", "lifetime = 1d");
	CHECK_EQ_INT(got.p[0].lifetime_days, 1);
	ACCEPT("idevid", "lifetime = 36500d");
	CHECK_EQ_INT(got.p[0].lifetime_days, 36500);
	ACCEPT("idevid", "lifetime = 0365d");
	CHECK_EQ_INT(got.p[0].lifetime_days, 365);

	REJECT("idevid", "lifetime = 12m",
	       "lifetime must be 'forever' or a number of days like '365d', not '12m'");
	REJECT("idevid", "lifetime = 365", "not '365'");
	REJECT("idevid", "lifetime = d", "not 'd'");
	REJECT("idevid", "lifetime = 365 d", "not '365 d'");
	REJECT("idevid", "lifetime = -1d", "not '-1d'");
	REJECT("idevid", "lifetime = 365D", "not '365D'");
	REJECT("idevid", "lifetime = Forever", "not 'Forever'");
	REJECT("idevid", "lifetime =", "not ''");
	REJECT("idevid", "lifetime = 0d",
	       "lifetime '0d' is out of range: 1d to 36500d");
	REJECT("idevid", "lifetime = 36501d", "lifetime '36501d' is out of range");
	REJECT("idevid", "lifetime = 99999999999999999999999999999d",
	       "is out of range: 1d to 36500d");
}

UNIT_TEST(yes_no_and_name_lists)
{
	ACCEPT("idevid", "subject-key-id = yes");
	CHECK_EQ_INT(got.p[0].subject_key_id, 1);
	ACCEPT("ldevid", "subject-key-id = no");
	CHECK_EQ_INT(got.p[0].subject_key_id, 0);
	REJECT("idevid", "subject-key-id = Yes",
	       "subject-key-id must be 'yes' or 'no', not 'Yes'");
	REJECT("idevid", "subject-key-id = true", "not 'true'");
	REJECT("idevid", "subject-key-id =", "not ''");

	ACCEPT("idevid", "key-usage = none");
	CHECK_EQ_INT(got.p[0].key_usage, 0);
	ACCEPT("idevid", "key-usage = keyAgreement, keyEncipherment digitalSignature");
	CHECK_EQ_INT(got.p[0].key_usage, M2M_KU_DIGITAL_SIGNATURE |
		     M2M_KU_KEY_ENCIPHERMENT | M2M_KU_KEY_AGREEMENT);
	REJECT("idevid", "key-usage = DigitalSignature",
	       "key-usage: unknown name 'DigitalSignature' (use digitalSignature, keyEncipherment, keyAgreement, or none)");
	REJECT("idevid", "key-usage = nonRepudiation", "unknown name 'nonRepudiation'");
	REJECT("idevid", "key-usage =",
	       "key-usage must be 'none' or a list of: digitalSignature, keyEncipherment, keyAgreement");
	REJECT("idevid", "key-usage = none digitalSignature",
	       "key-usage 'none digitalSignature': 'none' cannot be combined with other names");
	REJECT("idevid", "key-usage = digitalSignature,none",
	       "'none' cannot be combined with other names");
	REJECT("idevid", "key-usage = keyAgreement keyAgreement",
	       "key-usage: 'keyAgreement' is listed twice");
	REJECT("idevid", "key-usage = keyAgreement,,", "a name is missing between commas");

	ACCEPT("ldevid", "extended-key-usage = none");
	CHECK_EQ_INT(got.p[0].ext_key_usage, 0);
	ACCEPT("idevid", "extended-key-usage = serverAuth,clientAuth");
	CHECK_EQ_INT(got.p[0].ext_key_usage,
		     M2M_EKU_CLIENT_AUTH | M2M_EKU_SERVER_AUTH);
	REJECT("ldevid", "extended-key-usage = codeSigning",
	       "extended-key-usage: unknown name 'codeSigning' (use clientAuth, serverAuth, or none)");
	REJECT("ldevid", "extended-key-usage = clientauth", "unknown name 'clientauth'");
	REJECT("ldevid", "extended-key-usage =",
	       "extended-key-usage must be 'none' or a list of: clientAuth, serverAuth");

	ACCEPT("ldevid", "request-names = dns uri");
	CHECK_EQ_INT(got.p[0].request_names, M2M_SAN_DNS | M2M_SAN_URI);
	ACCEPT("ldevid", "request-names = uri");
	CHECK_EQ_INT(got.p[0].request_names, M2M_SAN_URI);
	ACCEPT("ldevid", "request-names = none");
	CHECK_EQ_INT(got.p[0].request_names, 0);
	REJECT("ldevid", "request-names = ip",
	       "request-names: unknown name 'ip' (use dns, uri, or none)");
	REJECT("ldevid", "request-names = DNS", "unknown name 'DNS'");
	REJECT("ldevid", "request-names = dns dns", "'dns' is listed twice");
}

UNIT_TEST(masa_url_rules)
{
	char url[M2M_URL_TEXT_MAX + 8], line[M2M_URL_TEXT_MAX + 32];

	ACCEPT("idevid", "masa-url = https://masa.example.com/.well-known/brski");
	CHECK_EQ_STR(got.p[0].masa_url,
		     "https://masa.example.com/.well-known/brski");
	ACCEPT("idevid", "masa-url = https://h");
	ACCEPT("idevid", "masa-url = https://[2001:db8::1]:8443/x?a=b&c=%20");
	ACCEPT("idevid", "masa-url =");
	CHECK_EQ_STR(got.p[0].masa_url, "");

	REJECT("idevid", "masa-url = http://masa.example.com",
	       "masa-url must be an 'https://HOST/...' URL, not 'http://masa.example.com'");
	REJECT("idevid", "masa-url = HTTPS://masa.example.com", "not 'HTTPS://");
	REJECT("idevid", "masa-url = https://", "must be an 'https://HOST/...' URL");
	REJECT("idevid", "masa-url = https:///path", "must be an 'https://HOST/...' URL");
	REJECT("idevid", "masa-url = masa.example.com", "must be an 'https://HOST/...' URL");
	REJECT("idevid", "masa-url = https://a b",
	       "masa-url 'https://a b': byte 0x20 is not allowed (printable ASCII without spaces)");
	REJECT("idevid", "masa-url = https://m\xC3\xBCller.de", "byte 0xC3 is not allowed");

	memset(url, 'a', sizeof(url));
	memcpy(url, "https://", 8);
	url[M2M_URL_TEXT_MAX - 1] = '\0';
	snprintf(line, sizeof(line), "masa-url = %s", url);
	ACCEPT("idevid", line);
	CHECK_EQ_STR(got.p[0].masa_url, url);
	url[M2M_URL_TEXT_MAX - 1] = 'a';
	url[M2M_URL_TEXT_MAX] = '\0';
	snprintf(line, sizeof(line), "masa-url = %s", url);
	REJECT("idevid", line, "is 256 characters long, more than 255");
}

UNIT_TEST(trust_anchors_rules)
{
	char path[M2M_PATH_TEXT_MAX + 8], line[M2M_PATH_TEXT_MAX + 32];

	ACCEPT("ldevid", "trust-anchors = vendor.pem");
	CHECK_EQ_STR(got.p[0].trust_anchors, "vendor.pem");
	ACCEPT("ldevid", "trust-anchors = anchors/Vendor_X-1.2.pem");
	ACCEPT("ldevid", "trust-anchors = .hidden/x");
	ACCEPT("ldevid", "trust-anchors =");
	CHECK_EQ_STR(got.p[0].trust_anchors, "");
	ACCEPT("idevid", "trust-anchors =");

	REJECT("idevid", "trust-anchors = manufacturers.pem",
	       "trust-anchors is for ldevid profiles only; an idevid profile leaves it empty");
	REJECT("ldevid", "trust-anchors = /etc/m2m/anchors.pem",
	       "trust-anchors must be a file name relative to the CA directory, not '/etc/m2m/anchors.pem'");
	REJECT("ldevid", "trust-anchors = ../anchors.pem",
	       "trust-anchors '../anchors.pem' must not hold '.' or '..' components");
	REJECT("ldevid", "trust-anchors = a/../../b", "must not hold '.' or '..' components");
	REJECT("ldevid", "trust-anchors = a/..", "must not hold '.' or '..' components");
	REJECT("ldevid", "trust-anchors = ./a", "must not hold '.' or '..' components");
	REJECT("ldevid", "trust-anchors = .", "must not hold '.' or '..' components");
	REJECT("ldevid", "trust-anchors = a//b",
	       "trust-anchors 'a//b' has an empty path component");
	REJECT("ldevid", "trust-anchors = dir/", "has an empty path component");
	REJECT("ldevid", "trust-anchors = a b.pem",
	       "trust-anchors 'a b.pem': ' ' is not allowed (letters, digits, '.', '_', '-', '/')");
	REJECT("ldevid", "trust-anchors = $HOME/x", "'$' is not allowed");
	REJECT("ldevid", "trust-anchors = a\\b", "'\\' is not allowed");
	REJECT("ldevid", "trust-anchors = caf\xC3\xA9.pem", "byte 0xC3 is not allowed");

	memset(path, 'p', sizeof(path));
	path[M2M_PATH_TEXT_MAX - 1] = '\0';
	snprintf(line, sizeof(line), "trust-anchors = %s", path);
	ACCEPT("ldevid", line);
	CHECK_EQ_STR(got.p[0].trust_anchors, path);
	path[M2M_PATH_TEXT_MAX - 1] = 'p';
	path[M2M_PATH_TEXT_MAX] = '\0';
	snprintf(line, sizeof(line), "trust-anchors = %s", path);
	REJECT("ldevid", line, "is 256 characters long, more than 255");
}

UNIT_TEST(crl_validity_rules)
{
	CHECK_EQ_INT(parse("[ca]\ncrl-validity = 1d\n"), M2M_OK);
	CHECK_EQ_INT(got.crl_validity_days, 1);
	CHECK_EQ_INT(parse("[ca]\ncrl-validity = 3650d\n"), M2M_OK);
	CHECK_EQ_INT(got.crl_validity_days, 3650);
	/* [ca] may come anywhere. */
	CHECK_EQ_INT(parse("[p]\ntype = idevid\n[ca]\ncrl-validity = 2d\n"),
		     M2M_OK);
	CHECK_EQ_INT(got.crl_validity_days, 2);
	CHECK_EQ_INT(got.n, 1);

	CHECK_PARSE_FAILS("[ca]\ncrl-validity = 0d\n",
			  "line 2: crl-validity '0d' is out of range: 1d to 3650d");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity = 3651d\n",
			  "line 2: crl-validity '3651d' is out of range");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity = forever\n",
			  "line 2: crl-validity must be a number of days like '7d', not 'forever'");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity = 7\n", "not '7'");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity = 1w\n", "not '1w'");
	CHECK_PARSE_FAILS("[ca]\ncrl-validity =\n", "not ''");
}

UNIT_TEST(untrusted_text_is_quoted_and_bounded)
{
	/* Control bytes become '?', and a long value is cut at 40 bytes. */
	REJECT("idevid", "lifetime = \x1b[31mred",
	       "not '?[31mred'");
	memset(text2, 'x', 1000);
	memcpy(text2, "lifetime = ", 11);
	text2[1000] = '\0';
	REJECT("idevid", text2,
	       "not 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
	CHECK_MSG(strlen(m2m_ctx_detail(ctx)) < 200, "detail is %zu long",
		  strlen(m2m_ctx_detail(ctx)));
}

/* ---- limits -------------------------------------------------------------- */

UNIT_TEST(limit_profiles_max)
{
	size_t i, o = 0;

	for (i = 0; i < M2M_PROFILES_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "[p%zu]\ntype = %s\n", i,
				      i % 2 ? "ldevid" : "idevid");
	CHECK_MSG(parse(text) == M2M_OK, "%s", m2m_ctx_detail(ctx));
	CHECK_EQ_INT(got.n, M2M_PROFILES_MAX);
	CHECK_EQ_STR(got.p[M2M_PROFILES_MAX - 1].name, "p15");
	snprintf(text + o, sizeof(text) - o, "[one-more]\ntype = idevid\n");
	CHECK_PARSE_FAILS(text, "line 33: more than 16 profiles");
	/* [ca] does not count. */
	snprintf(text + o, sizeof(text) - o, "[ca]\ncrl-validity = 1d\n");
	CHECK_MSG(parse(text) == M2M_OK, "%s", m2m_ctx_detail(ctx));
}

UNIT_TEST(limit_file_size)
{
	static char big[M2M_PROFILES_TEXT_MAX + 1];
	size_t n;

	/* Exactly 64 KiB: the defaults padded with a long comment. */
	n = strlen(defaults_text);
	memcpy(big, defaults_text, n);
	memset(big + n, '#', sizeof(big) - n);
	big[sizeof(big) - 2] = '\n';
	CHECK_EQ_INT(m2m_profiles_parse(ctx, big, M2M_PROFILES_TEXT_MAX, &got),
		     M2M_OK);
	m2m_profiles_defaults(&want);
	CHECK_EQ_MEM(&got, &want, sizeof(got));
	/* One byte more is refused, before anything is parsed. */
	CHECK_FAILS(m2m_profiles_parse(ctx, big, sizeof(big), &got),
		    M2M_ERR_INVALID,
		    "profiles file is 65537 bytes long, more than 65536");
	CHECK_EQ_INT(got.n, 0);
}

UNIT_TEST(limit_nul_byte)
{
	static const char nul_in_value[] = "[p]\ntype = idevid\0x\nlifetime = 1d\n";
	static const char nul_in_comment[] = "# a\n#\0\n[p]\ntype = idevid\n";
	static const char nul_last[] = "[p]\ntype = idevid\n\0";

	CHECK_FAILS(m2m_profiles_parse(ctx, nul_in_value,
				       sizeof(nul_in_value) - 1, &got),
		    M2M_ERR_INVALID, "line 2: holds a NUL byte");
	CHECK_FAILS(m2m_profiles_parse(ctx, nul_in_comment,
				       sizeof(nul_in_comment) - 1, &got),
		    M2M_ERR_INVALID, "line 2: holds a NUL byte");
	CHECK_FAILS(m2m_profiles_parse(ctx, nul_last, sizeof(nul_last) - 1,
				       &got),
		    M2M_ERR_INVALID, "line 3: holds a NUL byte");
}

UNIT_TEST(parse_usage_errors)
{
	CHECK_FAILS(m2m_profiles_parse(ctx, NULL, 1, &got), M2M_ERR_USAGE,
		    "m2m_profiles_parse");
	CHECK_FAILS(m2m_profiles_parse(ctx, "", 0, NULL), M2M_ERR_USAGE,
		    "m2m_profiles_parse");
	/* A NULL context only loses the detail. */
	CHECK_EQ_INT(m2m_profiles_parse(NULL, "[p]\n", 4, &got),
		     M2M_ERR_INVALID);
	CHECK_EQ_INT(m2m_profiles_parse(NULL, "[p]\ntype=ldevid\nx=1\n", 19,
					&got), M2M_ERR_INVALID);
}

/* ---- format and round trips ---------------------------------------------- */

/* Every field as long or as varied as the rules allow. */
static void make_custom(struct m2m_profiles *p)
{
	size_t i, j;

	memset(p, 0, sizeof(*p));
	p->crl_validity_days = 3650;
	p->n = M2M_PROFILES_MAX;
	for (i = 0; i < M2M_PROFILES_MAX; i++) {
		struct m2m_profile *q = &p->p[i];
		char *s;

		snprintf(q->name, sizeof(q->name), "%02zu-abcdefghijklmnopqrstuvwxyz--", i);
		q->name[M2M_PROFILE_NAME_MAX - 1] = '\0';
		q->type = i % 2 ? M2M_PROFILE_LDEVID : M2M_PROFILE_IDEVID;
		/* 127 characters: "2.999.1234567890..." */
		strcpy(q->hw_type, i % 3 ? "2.999" : "1.39");
		while (strlen(q->hw_type) + 11 <= M2M_OID_TEXT_MAX - 1)
			strcat(q->hw_type, ".1234567890");
		/* 511 bytes of escapes, UTF-8 and several attributes. */
		s = q->subject;
		strcpy(s, "C=DE,ST=\xC3\x96sterreich,L=\\#1,O=a\\,b\\+c\\\\d,CN=\xE2\x82\xAC,DC=x-1");
		for (j = 0; strlen(s) + 16 <= M2M_DN_TEXT_MAX - 1; j++)
			strcat(s, j % 2 ? ",OU=Factory\\ 1\\ " : ",OU=\\ lead \\;x");
		while (strlen(s) < M2M_DN_TEXT_MAX - 1)
			strcat(s, "z");
		q->key_algs = (unsigned)(i % 15 + 1) &
			      (q->type == M2M_PROFILE_IDEVID ? ALGS_RSA_EC :
			       ALGS_ALL);
		if (!q->key_algs)
			q->key_algs = 1u << M2M_KEY_ED25519;
		if (q->type == M2M_PROFILE_LDEVID && i % 4 == 1)
			q->key_algs = ALGS_ALL;
		q->lifetime_days = i == 0 ? 0 : i == 1 ? 36500 : (int64_t)i * 30;
		q->subject_key_id = (int)(i % 2);
		q->key_usage = (unsigned)i & 7;
		q->ext_key_usage = (unsigned)(i >> 1) & 3;
		q->request_names = (unsigned)(i >> 2) & 3;
		memset(q->masa_url, 'm', M2M_URL_TEXT_MAX - 1);
		memcpy(q->masa_url, "https://", 8);
		if (i == 5)
			memset(q->masa_url, 0, sizeof(q->masa_url));
		if (q->type == M2M_PROFILE_LDEVID) {
			memset(q->trust_anchors, 't', M2M_PATH_TEXT_MAX - 1);
			q->trust_anchors[1] = '/';
			q->trust_anchors[40] = '.';
		}
	}
}

UNIT_TEST(round_trip_heavily_customised)
{
	size_t n = 0;

	make_custom(&want);
	check_round_trip(&want);
	/* The largest possible text still fits, and parses. */
	CHECK_EQ_INT(m2m_profiles_format(ctx, &want, text, sizeof(text), &n),
		     M2M_OK);
	CHECK_MSG(n < M2M_PROFILES_TEXT_MAX, "format gives %zu bytes", n);
	CHECK_EQ_INT(m2m_profiles_format(ctx, &want, text,
					 M2M_PROFILES_TEXT_MAX, &n), M2M_OK);

	/* And the full file, with its comma lists and spacing. */
	CHECK_EQ_INT(parse(full_text), M2M_OK);
	want = got;
	check_round_trip(&want);

	/* No profiles at all. */
	memset(&want, 0, sizeof(want));
	want.crl_validity_days = 9;
	check_round_trip(&want);
	CHECK_EQ_STR(text, "# Settings and certificate profiles of this CA, managed by 'm2m-ca profile set'.\n"
			   "\n[ca]\nkey =\nledger =\ncrl-validity = 9d\n");
}

UNIT_TEST(ca_key_and_ledger)
{
	static const char conf[] =
		"[ca]\n"
		"key = pkcs11:token=factory;object=ca?pin-source=file:/run/pin\n"
		"ledger = sqlite:ledger.db\n";

	CHECK_EQ_INT(m2m_profiles_parse(ctx, conf, strlen(conf), &got),
		     M2M_OK);
	CHECK_EQ_STR(got.key,
		     "pkcs11:token=factory;object=ca?pin-source=file:/run/pin");
	CHECK_EQ_STR(got.ledger, "sqlite:ledger.db");
	check_round_trip(&got);

	CHECK_EQ_INT(m2m_profiles_set(ctx, &got, "ca", "key", "file:ca.key"),
		     M2M_OK);
	CHECK_EQ_STR(got.key, "file:ca.key");
	CHECK_EQ_INT(m2m_profiles_set(ctx, &got, "ca", "ledger", "other.db"),
		     M2M_OK);
	CHECK_EQ_STR(got.ledger, "other.db");
	/* a shorter value after a longer one leaves no bytes behind */
	check_round_trip(&got);
	memcpy(&before, &got, sizeof(got));
	CHECK_FAILS(m2m_profiles_set(ctx, &got, "ca", "key", "a\tb"),
		    M2M_ERR_INVALID, "ca: key 'a?b' holds a character");
	CHECK_EQ_MEM(&got, &before, sizeof(got));
	CHECK_FAILS(m2m_profiles_set(ctx, &got, "ca", "keys", "x"),
		    M2M_ERR_INVALID, "unknown key 'keys' in [ca]");
	m2m_profiles_defaults(&got);
	CHECK_FAILS(m2m_profiles_set(ctx, &got, "idevid", "ledger", "x"),
		    M2M_ERR_INVALID, "(it belongs in [ca])");
}

UNIT_TEST(ca_ledger_uri_without_a_password)
{
	static const char pw[] =
		"[ca]\nledger = postgresql://ca:s3cret@db.example/ledger\n";
	static const char pw_param[] =
		"[ca]\nledger = postgresql:///l?password=s3cret\x01\n";

	CHECK_EQ_INT(m2m_profiles_set(ctx, &got, "ca", "ledger",
				      "postgresql://ca@db.example/ledger?sslmode=verify-full"),
		     M2M_OK);
	CHECK_EQ_STR(got.ledger,
		     "postgresql://ca@db.example/ledger?sslmode=verify-full");
	check_round_trip(&got);
	memcpy(&before, &got, sizeof(got));
	CHECK_FAILS(m2m_profiles_set(ctx, &got, "ca", "ledger",
				     "postgresql://ca:s3cret@db.example/ledger"),
		    M2M_ERR_INVALID,
		    "ca: ledger 'postgresql://ca:***@db.example/ledger' holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead");
	CHECK(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL);
	CHECK_EQ_MEM(&got, &before, sizeof(got));
	CHECK_FAILS(m2m_profiles_parse(ctx, pw, strlen(pw), &got),
		    M2M_ERR_INVALID, "holds a password");
	CHECK(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL);
	/* Found before the unprintable byte would quote the value. */
	CHECK_FAILS(m2m_profiles_parse(ctx, pw_param, strlen(pw_param), &got),
		    M2M_ERR_INVALID, "'postgresql:///l?password=***' holds a password");
	CHECK(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL);
}

UNIT_TEST(format_buffer_too_small)
{
	size_t n = 0, need;

	m2m_profiles_defaults(&want);
	need = strlen(defaults_text) + 1;
	CHECK_EQ_INT(m2m_profiles_format(ctx, &want, text, need, &n), M2M_OK);
	CHECK_EQ_INT(n, need - 1);
	n = 99;
	CHECK_FAILS(m2m_profiles_format(ctx, &want, text, need - 1, &n),
		    M2M_ERR_USAGE, "are not enough for the profiles text");
	CHECK_EQ_STR(text, "");
	CHECK_EQ_INT(n, 0);
	CHECK_FAILS(m2m_profiles_format(ctx, &want, text, 1, NULL),
		    M2M_ERR_USAGE, "not enough");
	CHECK_EQ_STR(text, "");
	CHECK_FAILS(m2m_profiles_format(ctx, &want, text, 0, NULL),
		    M2M_ERR_USAGE, "no buffer");
	want.n = M2M_PROFILES_MAX + 1;
	CHECK_FAILS(m2m_profiles_format(ctx, &want, text, sizeof(text), NULL),
		    M2M_ERR_USAGE, "17 profiles, more than 16");
}

/* ---- get ----------------------------------------------------------------- */

UNIT_TEST(get_by_name)
{
	const struct m2m_profile *p;

	m2m_profiles_defaults(&want);
	p = m2m_profiles_get(&want, "ldevid");
	CHECK(p == &want.p[1]);
	p = m2m_profiles_get(&want, "idevid");
	CHECK(p == &want.p[0]);
	CHECK(m2m_profiles_get(&want, "ca") == NULL);
	CHECK(m2m_profiles_get(&want, "idevi") == NULL);
	CHECK(m2m_profiles_get(&want, "idevid2") == NULL);
	CHECK(m2m_profiles_get(&want, "") == NULL);
	CHECK(m2m_profiles_get(&want, NULL) == NULL);
	CHECK(m2m_profiles_get(NULL, "idevid") == NULL);
	/* Only the first n count. */
	want.n = 1;
	CHECK(m2m_profiles_get(&want, "ldevid") == NULL);
}

/* ---- set ----------------------------------------------------------------- */

/* set(profile, key, value) succeeds. */
#define CHECK_SET(p, profile, key, value) \
	CHECK_MSG(m2m_profiles_set(ctx, (p), (profile), (key), (value)) == \
		  M2M_OK, "set %s %s '%s': %s", (profile), (key), (value), \
		  m2m_ctx_detail(ctx))

/* set fails with code and a detail starting with prefix; *p unchanged. */
#define CHECK_SET_FAILS(p, profile, key, value, code, prefix) do { \
	before = *(p); \
	CHECK_FAILS(m2m_profiles_set(ctx, (p), (profile), (key), (value)), \
		    (code), (prefix)); \
	CHECK_PREFIX(prefix); \
	CHECK_EQ_MEM((p), &before, sizeof(before)); \
} while (0)

UNIT_TEST(set_every_key)
{
	static struct m2m_profiles p;
	struct m2m_profile *q = &p.p[0];

	m2m_profiles_defaults(&p);
	CHECK_SET(&p, "ca", "crl-validity", "3d");
	CHECK_EQ_INT(p.crl_validity_days, 3);
	CHECK_SET(&p, "idevid", "type", "idevid");
	CHECK_EQ_INT(q->type, M2M_PROFILE_IDEVID);
	CHECK_SET(&p, "idevid", "hw-type", "1.3.6.1.4.1.99999.1");
	CHECK_EQ_STR(q->hw_type, "1.3.6.1.4.1.99999.1");
	CHECK_SET(&p, "idevid", "subject", "O=Example\\, Inc,OU=Line 2");
	CHECK_EQ_STR(q->subject, "O=Example\\, Inc,OU=Line 2");
	CHECK_SET(&p, "idevid", "key-algorithms", "ec-p384, rsa2048");
	CHECK_EQ_INT(q->key_algs,
		     (1u << M2M_KEY_EC_P384) | (1u << M2M_KEY_RSA2048));
	CHECK_SET(&p, "idevid", "lifetime", "3650d");
	CHECK_EQ_INT(q->lifetime_days, 3650);
	CHECK_SET(&p, "idevid", "subject-key-id", "yes");
	CHECK_EQ_INT(q->subject_key_id, 1);
	CHECK_SET(&p, "idevid", "key-usage", "digitalSignature keyEncipherment");
	CHECK_EQ_INT(q->key_usage,
		     M2M_KU_DIGITAL_SIGNATURE | M2M_KU_KEY_ENCIPHERMENT);
	CHECK_SET(&p, "idevid", "extended-key-usage", "clientAuth");
	CHECK_EQ_INT(q->ext_key_usage, M2M_EKU_CLIENT_AUTH);
	CHECK_SET(&p, "idevid", "request-names", "dns,uri");
	CHECK_EQ_INT(q->request_names, M2M_SAN_DNS | M2M_SAN_URI);
	CHECK_SET(&p, "idevid", "masa-url", "https://masa.example");
	CHECK_EQ_STR(q->masa_url, "https://masa.example");
	CHECK_SET(&p, "idevid", "trust-anchors", "");
	CHECK_EQ_STR(q->trust_anchors, "");
	CHECK_SET(&p, "ldevid", "trust-anchors", "local/anchors.pem");
	CHECK_EQ_STR(p.p[1].trust_anchors, "local/anchors.pem");

	/* Values are trimmed; empty clears a text; "none" a list. */
	CHECK_SET(&p, "idevid", "lifetime", "  forever\t");
	CHECK_EQ_INT(q->lifetime_days, 0);
	CHECK_SET(&p, "idevid", "hw-type", "");
	CHECK_EQ_STR(q->hw_type, "");
	CHECK_SET(&p, "idevid", "subject", "   ");
	CHECK_EQ_STR(q->subject, "");
	CHECK_SET(&p, "idevid", "masa-url", "");
	CHECK_EQ_STR(q->masa_url, "");
	CHECK_SET(&p, "idevid", "key-usage", "none");
	CHECK_EQ_INT(q->key_usage, 0);
	/* A shorter text leaves no bytes of the longer one behind. */
	CHECK_SET(&p, "idevid", "subject", "CN=a");
	CHECK_EQ_MEM(q->subject, "CN=a\0\0\0\0\0\0\0\0", 12);

	/* The result is what parsing its text gives. */
	check_round_trip(&p);
}

UNIT_TEST(set_creates_a_profile_with_type)
{
	static struct m2m_profiles p;

	m2m_profiles_defaults(&p);
	CHECK_SET(&p, "site-b", "type", "ldevid");
	CHECK_EQ_INT(p.n, 3);
	memset(&want, 0, sizeof(want));
	expect_ldevid(&want.p[0], "site-b");
	CHECK_EQ_MEM(&p.p[2], &want.p[0], sizeof(p.p[2]));
	CHECK_SET(&p, "factory-2", "type", " idevid ");
	CHECK_EQ_INT(p.n, 4);
	expect_idevid(&want.p[0], "factory-2");
	CHECK_EQ_MEM(&p.p[3], &want.p[0], sizeof(p.p[3]));
	CHECK(m2m_profiles_get(&p, "factory-2") == &p.p[3]);
	CHECK_SET(&p, "factory-2", "lifetime", "10d");
	/* Same as the file would give. */
	CHECK_EQ_INT(parse("[ca]\n[idevid]\ntype = idevid\n[ldevid]\n"
			   "type = ldevid\n[site-b]\ntype = ldevid\n"
			   "[factory-2]\ntype = idevid\nlifetime = 10d\n"),
		     M2M_OK);
	CHECK_EQ_MEM(&got, &p, sizeof(got));
	check_round_trip(&p);

	/* Up to M2M_PROFILES_MAX, not one more. */
	while (p.n < M2M_PROFILES_MAX) {
		char name[16];

		snprintf(name, sizeof(name), "x%zu", p.n);
		CHECK_SET(&p, name, "type", "idevid");
	}
	CHECK_SET_FAILS(&p, "one-more", "type", "idevid", M2M_ERR_INVALID,
			"one-more: cannot add a profile: there are 16 already");
	check_round_trip(&p);
}

UNIT_TEST(set_failures_leave_everything_unchanged)
{
	static struct m2m_profiles p;
	char longv[M2M_PROFILES_TEXT_MAX + 16];

	m2m_profiles_defaults(&p);
	CHECK_SET_FAILS(&p, "idevid", "lifetime", "12m", M2M_ERR_INVALID,
			"idevid: lifetime must be 'forever' or a number of days like '365d', not '12m'");
	CHECK_SET_FAILS(&p, "idevid", "hw_tpye", "1.2", M2M_ERR_INVALID,
			"idevid: unknown key 'hw_tpye' in [idevid]");
	CHECK_SET_FAILS(&p, "idevid", "crl-validity", "1d", M2M_ERR_INVALID,
			"idevid: unknown key 'crl-validity' in [idevid] (it belongs in [ca])");
	CHECK_SET_FAILS(&p, "ca", "type", "idevid", M2M_ERR_INVALID,
			"ca: unknown key 'type' in [ca] (it belongs in a profile section)");
	CHECK_SET_FAILS(&p, "ca", "crl-validity", "0d", M2M_ERR_INVALID,
			"ca: crl-validity '0d' is out of range: 1d to 3650d");
	CHECK_SET_FAILS(&p, "ca", "crl-validity", "", M2M_ERR_INVALID,
			"ca: crl-validity must be a number of days");
	CHECK_SET_FAILS(&p, "idevid", "key-algorithms", "ec-p256 ed25519",
			M2M_ERR_INVALID,
			"idevid: key-algorithms: ed25519 is not allowed in an idevid profile");
	CHECK_SET_FAILS(&p, "idevid", "trust-anchors", "x.pem", M2M_ERR_INVALID,
			"idevid: trust-anchors is for ldevid profiles only");
	CHECK_SET_FAILS(&p, "ldevid", "subject", "serialNumber=1",
			M2M_ERR_INVALID,
			"ldevid: subject must not hold serialNumber");
	CHECK_SET_FAILS(&p, "ldevid", "subject", "O=a\nOU=b", M2M_ERR_INVALID,
			"ldevid: the value of 'subject' holds a line break");
	CHECK_SET_FAILS(&p, "ldevid", "masa-url", "https://a\r", M2M_ERR_INVALID,
			"ldevid: the value of 'masa-url' holds a line break");
	memset(longv, 'a', sizeof(longv));
	longv[sizeof(longv) - 1] = '\0';
	CHECK_SET_FAILS(&p, "ldevid", "subject", longv, M2M_ERR_INVALID,
			"ldevid: the value of 'subject' is longer than 65536 bytes");
	CHECK_SET_FAILS(&p, "nosuch", "lifetime", "1d", M2M_ERR_NOT_FOUND,
			"nosuch: no such profile (create it by setting its type)");
	CHECK_SET_FAILS(&p, "nosuch", "type", "xdevid", M2M_ERR_INVALID,
			"nosuch: type must be 'idevid' or 'ldevid', not 'xdevid'");
	CHECK_SET_FAILS(&p, "Bad_Name", "type", "idevid", M2M_ERR_INVALID,
			"invalid profile name 'Bad_Name': a profile name is 1 to 31 characters of a-z, 0-9 and '-'");
	CHECK_SET_FAILS(&p, "", "type", "idevid", M2M_ERR_INVALID,
			"invalid profile name ''");
	CHECK_SET_FAILS(&p, "abcdefghijabcdefghijabcdefghij12", "type", "idevid",
			M2M_ERR_INVALID, "invalid profile name");
	CHECK_SET_FAILS(&p, "idevid", NULL, "x", M2M_ERR_USAGE,
			"m2m_profiles_set");
	CHECK_SET_FAILS(&p, NULL, "type", "idevid", M2M_ERR_USAGE,
			"m2m_profiles_set");
	CHECK_SET_FAILS(&p, "idevid", "type", NULL, M2M_ERR_USAGE,
			"m2m_profiles_set");
	CHECK_EQ_INT(m2m_profiles_set(ctx, NULL, "a", "type", "idevid"),
		     M2M_ERR_USAGE);
	m2m_profiles_defaults(&want);
	CHECK_EQ_MEM(&p, &want, sizeof(p));
}

UNIT_TEST(set_type_of_an_existing_profile)
{
	static struct m2m_profiles p;

	m2m_profiles_defaults(&p);
	/* ldevid -> idevid: refused while it has ed25519 or trust anchors. */
	CHECK_SET_FAILS(&p, "ldevid", "type", "idevid", M2M_ERR_INVALID,
			"ldevid: type cannot become idevid while key-algorithms holds ed25519");
	CHECK_SET(&p, "ldevid", "key-algorithms", "ec-p256");
	CHECK_SET_FAILS(&p, "ldevid", "type", "idevid", M2M_ERR_INVALID,
			"ldevid: type cannot become idevid while trust-anchors is set");
	CHECK_SET(&p, "ldevid", "trust-anchors", "");
	CHECK_SET(&p, "ldevid", "type", "idevid");
	/* Only the type changed. */
	CHECK_EQ_INT(p.p[1].type, M2M_PROFILE_IDEVID);
	CHECK_EQ_INT(p.p[1].lifetime_days, 365);
	CHECK_EQ_INT(p.p[1].ext_key_usage, M2M_EKU_CLIENT_AUTH);
	CHECK_EQ_INT(p.p[1].key_algs, 1u << M2M_KEY_EC_P256);
	/* idevid -> ldevid keeps everything else, too. */
	CHECK_SET(&p, "idevid", "lifetime", "20d");
	CHECK_SET(&p, "idevid", "type", "ldevid");
	CHECK_EQ_INT(p.p[0].type, M2M_PROFILE_LDEVID);
	CHECK_EQ_INT(p.p[0].key_algs, ALGS_RSA_EC);
	CHECK_EQ_INT(p.p[0].lifetime_days, 20);
	CHECK_EQ_STR(p.p[0].trust_anchors, "");
	CHECK_SET(&p, "idevid", "key-algorithms", "ed25519");
	check_round_trip(&p);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(defaults_exact),
		UNIT(format_defaults_exact_text),
		UNIT(round_trip_defaults),
		UNIT(parse_full_file_every_key),
		UNIT(parse_unset_keys_take_the_type_defaults),
		UNIT(parse_empty_and_comment_only_files),
		UNIT(parse_comments_blanks_and_spacing),
		UNIT(parse_crlf_line_endings_and_bom),
		UNIT(reject_line_syntax),
		UNIT(reject_unknown_and_repeated_keys),
		UNIT(reject_sections),
		UNIT(reject_missing_or_late_type),
		UNIT(hw_type_rules),
		UNIT(hw_type_length_limit),
		UNIT(subject_rules),
		UNIT(key_algorithms_rules),
		UNIT(lifetime_rules),
		UNIT(yes_no_and_name_lists),
		UNIT(masa_url_rules),
		UNIT(trust_anchors_rules),
		UNIT(crl_validity_rules),
		UNIT(untrusted_text_is_quoted_and_bounded),
		UNIT(limit_profiles_max),
		UNIT(limit_file_size),
		UNIT(limit_nul_byte),
		UNIT(parse_usage_errors),
		UNIT(round_trip_heavily_customised),
		UNIT(ca_key_and_ledger),
		UNIT(ca_ledger_uri_without_a_password),
		UNIT(format_buffer_too_small),
		UNIT(get_by_name),
		UNIT(set_every_key),
		UNIT(set_creates_a_profile_with_type),
		UNIT(set_failures_leave_everything_unchanged),
		UNIT(set_type_of_an_existing_profile),
	};
	int rc;

	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
