/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ledger locations as messages show them, m2m_ledger_location_shown(), on
 * arbitrary bytes (up to the first NUL: locations are C strings), against
 * libpq's own reading of the URI.
 *
 * Oracles (abort() on violation):
 *   - the result is NUL-terminated inside the buffer, printable ASCII only,
 *     and the same for a buffer of any size, but cut;
 *   - without a password found, it is the location itself (bytes outside
 *     printable ASCII as '?');
 *   - where libpq reads a password from a postgresql:// URI, one was found,
 *     and a password of 8 or more characters that occurs once in the
 *     location (as written, undecoded, not as a parameter's name) does not
 *     occur in the result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <m2m/ledger.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void oops(const char *what, const char *loc, const char *shown)
{
	fprintf(stderr, "fuzz_ledger_uri: oracle failed: %s ('%s' shown as '%s')\n",
		what, loc, shown);
	abort();
}

/* libpq's password in loc, or NULL; caller frees. */
static char *libpq_password(const char *loc)
{
	PQconninfoOption *opts, *o;
	char *err = NULL, *pw = NULL;

	if (strncmp(loc, "postgresql://", 13) != 0 &&
	    strncmp(loc, "postgres://", 11) != 0)
		return NULL;
	opts = PQconninfoParse(loc, &err);
	PQfreemem(err);
	if (!opts)
		return NULL;
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			pw = strdup(o->val);
	PQconninfoFree(opts);
	return pw;
}

/* Is p, in loc, where a password is given: user info, or "password="? */
static int given_at(const char *loc, const char *p)
{
	const char *ui = strstr(loc, "://");
	size_t n;

	ui = ui ? ui + 3 : loc;
	n = strcspn(ui, "@/");
	if (ui[n] == '@' && p >= ui && p < ui + n)
		return 1;
	return p - loc >= 9 && strncmp(p - 9, "password=", 9) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *loc, *pw, shown[M2M_LEDGER_SHOWN_MAX], small[24];
	size_t i, n;
	int had = -1;

	if (size > 4096)
		return 0;
	loc = malloc(size + 1);
	if (!loc)
		abort();
	memcpy(loc, data, size);
	loc[size] = '\0';
	m2m_ledger_location_shown(loc, shown, sizeof(shown), &had);
	n = strnlen(shown, sizeof(shown));
	if (n == sizeof(shown) || (had != 0 && had != 1))
		oops("not terminated, or no answer", loc, "");
	for (i = 0; i < n; i++)
		if (shown[i] < 0x20 || shown[i] > 0x7e)
			oops("a byte outside printable ASCII", loc, shown);
	m2m_ledger_location_shown(loc, small, sizeof(small), NULL);
	if (strnlen(small, sizeof(small)) == sizeof(small) ||
	    strncmp(small, shown, strlen(small)) != 0)
		oops("a smaller buffer shows something else", loc, small);
	if (!had) {
		n = strlen(loc);
		for (i = 0; i < n && i < sizeof(shown) - 1; i++) {
			char c = loc[i] >= 0x20 && loc[i] <= 0x7e ? loc[i] : '?';

			if (shown[i] != c)
				oops("changed without a password", loc, shown);
		}
	}
	pw = libpq_password(loc);
	if (pw) {
		const char *first;

		if (!had)
			oops("libpq reads a password that was not found", loc,
			     shown);
		/* As shown, so that '?' for other bytes is no coincidence. */
		for (i = 0; i < size && loc[i]; i++)
			if (loc[i] < 0x20 || loc[i] > 0x7e)
				loc[i] = '?';
		first = strstr(loc, pw);
		/*
		 * Only where the password is given: in the user info, or as
		 * "password=" (it may be there percent-encoded, and appear
		 * as it is elsewhere, in the database name say).  Not where
		 * it is a parameter's name: "?password=".
		 */
		if (strlen(pw) >= 8 && first && !strstr(first + 1, pw) &&
		    first[strlen(pw)] != '=' && given_at(loc, first) &&
		    strstr(shown, pw))
			oops("the password is shown", loc, shown);
	}
	free(pw);
	free(loc);
	return 0;
}
