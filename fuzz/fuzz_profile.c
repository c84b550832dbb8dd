/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The profiles.conf parser, m2m_profiles_parse(), on arbitrary bytes, and
 * m2m_profiles_set() driven by the same bytes read as "key = value" lines
 * (the section line before a setting names the profile).
 *
 * Oracles (abort() on violation):
 *   - parse succeeds: the result is well formed (profile count, names that
 *     m2m_profiles_get() finds, values within their rules, zero bytes after
 *     every string and after the last profile); m2m_profiles_format()
 *     succeeds; its text parses back to a struct equal byte for byte
 *     (memcmp: the parser zero-fills) and formats to the same text; every
 *     setting of that text, given to m2m_profiles_set(), is a no-op; and
 *     replaying the input's settings with m2m_profiles_set() on an empty
 *     set of profiles succeeds line by line and gives the parser's result.
 *   - parse fails: M2M_ERR_INVALID and a detail "line N: ..." (or the size
 *     message).
 *   - the input's settings (the first 64) replayed with
 *     m2m_profiles_set() on the defaults: each either succeeds with a well
 *     formed result, or fails with M2M_ERR_INVALID or M2M_ERR_NOT_FOUND, a
 *     detail naming the profile, and no change; the end result
 *     round-trips through format and parse.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/key.h>
#include <m2m/profile.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Settings replayed per input in the free mode: bounds the time per input. */
#define FREE_SETS_MAX 64

static struct m2m_ctx *ctx;

/* Large: kept out of the stack. */
static struct m2m_profiles parsed, again, work, before;
static char text1[M2M_PROFILES_TEXT_MAX], text2[M2M_PROFILES_TEXT_MAX];
static char section[M2M_PROFILES_TEXT_MAX + 1], key[M2M_PROFILES_TEXT_MAX + 1];
static char value[M2M_PROFILES_TEXT_MAX + 1];

static void oops(const char *what, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_profile: oracle failed: %s (rc %d %s, detail '%s')\n",
		what, (int)rc, m2m_strerror(rc), m2m_ctx_detail(ctx));
	abort();
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* memcmp() with zeros: a byte loop here, instrumented, was most of the time. */
static int all_zero(const void *p, size_t n)
{
	static const struct m2m_profiles zero;

	return n <= sizeof(zero) && memcmp(p, &zero, n) == 0;
}

/* s[0..size) holds a string of at most max bytes, then only zeros. */
static size_t check_text(const char *s, size_t size, const char *what)
{
	size_t n = strnlen(s, size);

	if (n == size)
		oops(what, M2M_OK);
	if (!all_zero(s + n, size - n))
		oops(what, M2M_OK);
	return n;
}

static void check_shape(const struct m2m_profiles *p)
{
	size_t i, j, n;

	if (p->n > M2M_PROFILES_MAX)
		oops("more profiles than M2M_PROFILES_MAX", M2M_OK);
	if (p->crl_validity_days < 1 || p->crl_validity_days > 3650)
		oops("crl-validity out of range", M2M_OK);
	for (i = 0; i < p->n; i++) {
		const struct m2m_profile *q = &p->p[i];

		n = check_text(q->name, sizeof(q->name), "name not terminated");
		if (n == 0 || strcmp(q->name, "ca") == 0)
			oops("empty or reserved name", M2M_OK);
		for (j = 0; j < n; j++)
			if (!((q->name[j] >= 'a' && q->name[j] <= 'z') ||
			      (q->name[j] >= '0' && q->name[j] <= '9') ||
			      q->name[j] == '-'))
				oops("a name outside [a-z0-9-]", M2M_OK);
		if (m2m_profiles_get(p, q->name) != q)
			oops("get does not find a profile by its name", M2M_OK);
		if (q->type != M2M_PROFILE_IDEVID &&
		    q->type != M2M_PROFILE_LDEVID)
			oops("bad type", M2M_OK);
		check_text(q->hw_type, sizeof(q->hw_type), "hw-type");
		check_text(q->subject, sizeof(q->subject), "subject");
		check_text(q->masa_url, sizeof(q->masa_url), "masa-url");
		check_text(q->trust_anchors, sizeof(q->trust_anchors),
			   "trust-anchors");
		if (q->key_algs == 0 || q->key_algs >> M2M_KEY_ALG_COUNT)
			oops("key-algorithms empty or unknown bits", M2M_OK);
		if (q->type == M2M_PROFILE_IDEVID &&
		    (q->key_algs & (1u << M2M_KEY_ED25519)))
			oops("ed25519 in an idevid profile", M2M_OK);
		if (q->type == M2M_PROFILE_IDEVID && q->trust_anchors[0])
			oops("trust-anchors in an idevid profile", M2M_OK);
		if (q->lifetime_days < 0 || q->lifetime_days > 36500)
			oops("lifetime out of range", M2M_OK);
		if (q->subject_key_id != 0 && q->subject_key_id != 1)
			oops("subject-key-id not 0 or 1", M2M_OK);
		if (q->key_usage & ~7u || q->ext_key_usage & ~3u ||
		    q->request_names & ~3u)
			oops("unknown bits in a name list", M2M_OK);
	}
	if (!all_zero(&p->p[p->n], (M2M_PROFILES_MAX - p->n) * sizeof(p->p[0])))
		oops("bytes after the last profile are not zero", M2M_OK);
}

/* format(p) parses back to p and formats to the same text (in text1). */
static size_t check_round_trip(const struct m2m_profiles *p)
{
	size_t n1 = 0, n2 = 0;
	enum m2m_err rc;

	rc = m2m_profiles_format(ctx, p, text1, sizeof(text1), &n1);
	if (rc != M2M_OK)
		oops("format fails", rc);
	if (n1 != strlen(text1) || n1 >= M2M_PROFILES_TEXT_MAX)
		oops("format length is wrong", rc);
	rc = m2m_profiles_parse(ctx, text1, n1, &again);
	if (rc != M2M_OK)
		oops("the formatted text does not parse", rc);
	if (memcmp(&again, p, sizeof(again)) != 0)
		oops("parse(format(p)) differs from p", rc);
	rc = m2m_profiles_format(ctx, &again, text2, sizeof(text2), &n2);
	if (rc != M2M_OK || n2 != n1 || memcmp(text1, text2, n1) != 0)
		oops("format(parse(format(p))) differs from format(p)", rc);
	return n1;
}

enum mode {
	STRICT,	/* every set succeeds (the parser accepted the text) */
	NOOP,	/* every set succeeds and changes nothing */
	FREE	/* anything goes, within the contract */
};

/* One setting: set, then check the outcome against the mode. */
static void one_set(struct m2m_profiles *w, enum mode mode)
{
	enum m2m_err rc;
	size_t plen = strlen(section), span;

	/*
	 * Only the profiles in use and the one set may add are compared
	 * (check_shape() sees that the rest stays zero): whole-struct copies
	 * made this harness several times slower.
	 */
	span = offsetof(struct m2m_profiles, p) +
	       (w->n < M2M_PROFILES_MAX ? w->n + 1 : M2M_PROFILES_MAX) *
	       sizeof(w->p[0]);
	memcpy(&before, w, span);
	m2m_ctx_clear_error(ctx);
	rc = m2m_profiles_set(ctx, w, section, key, value);
	if (rc == M2M_OK) {
		if (mode == NOOP && memcmp(w, &before, span) != 0)
			oops("setting a formatted value changed the profiles",
			     rc);
		if (mode == FREE)
			check_shape(w);
		return;
	}
	if (mode != FREE)
		oops("set refused a setting the parser accepted", rc);
	if (rc != M2M_ERR_INVALID && rc != M2M_ERR_NOT_FOUND)
		oops("set failed with an unexpected code", rc);
	if (m2m_ctx_error(ctx) != rc || !m2m_ctx_detail(ctx)[0])
		oops("set failed without a detail", rc);
	if (strncmp(m2m_ctx_detail(ctx), "invalid profile name '", 22) != 0 &&
	    (strncmp(m2m_ctx_detail(ctx), section, plen) != 0 ||
	     strncmp(m2m_ctx_detail(ctx) + plen, ": ", 2) != 0))
		oops("set detail does not start with the profile name", rc);
	if (memcmp(w, &before, span) != 0)
		oops("a failed set changed the profiles", rc);
}

/*
 * Read t[0..len) as the parser does and apply every setting to *w with
 * m2m_profiles_set(), for the section it stands in.
 */
static void replay(const char *t, size_t len, struct m2m_profiles *w,
		   enum mode mode)
{
	size_t pos = 0, sets = 0;

	strcpy(section, "idevid");
	if (len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = t + pos, *nl, *eq;
		size_t n, k, v;

		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		while (n && is_blank(*line)) {
			line++;
			n--;
		}
		if (n == 0 || line[0] == '#')
			continue;
		if (line[0] == '[') {
			size_t s = 1, e = n;

			while (e > 1 && is_blank(line[e - 1]))
				e--;
			if (e > 1 && line[e - 1] == ']')
				e--;
			while (s < e && is_blank(line[s]))
				s++;
			while (e > s && is_blank(line[e - 1]))
				e--;
			memcpy(section, line + s, e - s);
			section[e - s] = '\0';
			continue;
		}
		eq = memchr(line, '=', n);
		if (!eq)
			continue;
		k = (size_t)(eq - line);
		while (k && is_blank(line[k - 1]))
			k--;
		memcpy(key, line, k);
		key[k] = '\0';
		v = n - (size_t)(eq - line) - 1;
		memcpy(value, eq + 1, v);
		value[v] = '\0';
		sets++;
		if (mode == FREE && sets > FREE_SETS_MAX)
			break;
		one_set(w, mode);
	}
	if (mode == FREE)
		check_round_trip(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	enum m2m_err rc;
	size_t n;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();

	m2m_ctx_clear_error(ctx);
	rc = m2m_profiles_parse(ctx, t, size, &parsed);
	if (rc == M2M_OK) {
		check_shape(&parsed);
		n = check_round_trip(&parsed);
		if (strncmp(text1, "# ", 2) != 0 ||
		    !strstr(text1, "m2m-ca profile set"))
			oops("format does not start with its comment", rc);
		/* Every line of the canonical text is a no-op for set. */
		work = parsed;
		memcpy(text2, text1, n);
		replay(text2, n, &work, NOOP);
		/* set, line by line, does what the parser did. */
		memset(&work, 0, sizeof(work));
		work.crl_validity_days = 7;
		replay(t, size, &work, STRICT);
		if (memcmp(&work, &parsed, sizeof(work)) != 0)
			oops("set line by line differs from parse", rc);
	} else {
		if (rc != M2M_ERR_INVALID || m2m_ctx_error(ctx) != rc ||
		    !m2m_ctx_detail(ctx)[0])
			oops("parse failed without INVALID and a detail", rc);
		if (strncmp(m2m_ctx_detail(ctx), "line ", 5) != 0 &&
		    strncmp(m2m_ctx_detail(ctx), "profiles file is ", 17) != 0)
			oops("parse detail has no line number", rc);
	}

	if (size <= M2M_PROFILES_TEXT_MAX) {
		m2m_profiles_defaults(&work);
		replay(t, size, &work, FREE);
	}
	return 0;
}
