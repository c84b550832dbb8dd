/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_UNIT_H
#define M2M_UNIT_H

/*
 * A header-only TAP test framework.  A test file writes
 *
 *   UNIT_TEST(test_something) { CHECK_EQ_INT(f(1), 2); }
 *   int main(void)
 *   {
 *           static const struct unit_test tests[] = { UNIT(test_something) };
 *           return unit_run(tests, UNIT_COUNT(tests));
 *   }
 *
 * and prints "1..N", then "ok K - name" or "not ok K - name" per test, each
 * failed check as a "# file:line: message" line after it.  A failed check
 * does not stop its test; every CHECK* evaluates to nonzero if it held, so
 * a test can stop itself: "if (!CHECK(p)) return;".  The binary exits 1 if
 * any test failed, else 0.
 */

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#define UNIT_TEST(name)	static void name(void)
#define UNIT(name)	{ #name, name }
#define UNIT_COUNT(a)	(sizeof(a) / sizeof((a)[0]))
#define UNIT_DIAG_MAX	20	/* diagnostics printed per test */

static char *unit_diag;		/* this test's diagnostics */
static size_t unit_diag_size;
static FILE *unit_diag_out;
static unsigned long unit_failures;	/* failed checks in this test */

/* Record a failed check unless ok; returns ok. */
__attribute__((format(printf, 4, 5)))
static inline int unit_check(int ok, const char *file, int line,
			     const char *fmt, ...)
{
	va_list ap;

	if (ok || ++unit_failures > UNIT_DIAG_MAX)
		return ok;
	fprintf(unit_diag_out, "# %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(unit_diag_out, fmt, ap);
	va_end(ap);
	fputc('\n', unit_diag_out);
	return 0;
}

/* "12 bytes: 0a 1b ..." into out, at most 32 bytes shown. */
static inline const char *unit_hex(char out[128], const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i, o;

	o = (size_t)snprintf(out, 128, "%zu bytes:", n);
	for (i = 0; i < n && i < 32; i++)
		o += (size_t)snprintf(out + o, 128 - o, " %02x", b[i]);
	if (i < n)
		snprintf(out + o, 128 - o, " ...");
	return out;
}

static inline int unit_eq_mem(const char *file, int line, const char *expr,
			      const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	char ha[128], hb[128];
	size_t i;

	for (i = 0; i < n && x[i] == y[i]; i++)
		;
	if (i == n)
		return 1;
	return unit_check(0, file, line, "%s: differ at byte %zu\n#   got:  %s\n"
			 "#   want: %s", expr, i, unit_hex(ha, a, n),
			 unit_hex(hb, b, n));
}

static inline int unit_eq_int(const char *file, int line, const char *ea,
			      const char *eb, long long a, long long b)
{
	return unit_check(a == b, file, line, "%s == %s: got %lld, want %lld",
			  ea, eb, a, b);
}

static inline int unit_eq_str(const char *file, int line, const char *ea,
			      const char *eb, const char *a, const char *b)
{
	return unit_check(a && b ? strcmp(a, b) == 0 : a == b, file, line,
			  "%s == %s:\n#   got:  \"%s\"\n#   want: \"%s\"", ea, eb,
			  a ? a : "(null)", b ? b : "(null)");
}

static inline int unit_contains(const char *file, int line, const char *eh,
				const char *h, const char *needle)
{
	return unit_check(h && strstr(h, needle), file, line,
			  "%s contains \"%s\":\n#   got: \"%s\"", eh, needle,
			  h ? h : "(null)");
}

static inline int unit_rm_one(const char *path, const struct stat *st,
			      int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf path: the tests' temporary directories. */
static inline void unit_rm_rf(const char *path)
{
	nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define CHECK(c) unit_check(!!(c), __FILE__, __LINE__, "check failed: %s", #c)
/* As CHECK, with a printf-formatted message instead of the expression. */
#define CHECK_MSG(c, ...) unit_check(!!(c), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ_INT(a, b) unit_eq_int(__FILE__, __LINE__, #a, #b, \
				       (long long)(a), (long long)(b))
#define CHECK_EQ_STR(a, b) unit_eq_str(__FILE__, __LINE__, #a, #b, (a), (b))
#define CHECK_EQ_MEM(a, b, n) \
	unit_eq_mem(__FILE__, __LINE__, #a " == " #b, (a), (b), (n))
/* The string hay contains needle. */
#define CHECK_CONTAINS(hay, needle) \
	unit_contains(__FILE__, __LINE__, #hay, (hay), (needle))

static inline int unit_run(const struct unit_test *t, size_t n)
{
	size_t i, failed = 0;

	printf("1..%zu\n", n);
	fflush(stdout);
	for (i = 0; i < n; i++) {
		unit_failures = 0;
		unit_diag_out = open_memstream(&unit_diag, &unit_diag_size);
		if (!unit_diag_out) {
			perror("open_memstream");
			exit(2);
		}
		t[i].fn();
		if (unit_failures > UNIT_DIAG_MAX)
			fprintf(unit_diag_out, "# ... and %lu more failed checks\n",
				unit_failures - UNIT_DIAG_MAX);
		fclose(unit_diag_out);
		printf("%sok %zu - %s\n%s", unit_failures ? "not " : "", i + 1,
		       t[i].name, unit_diag);
		fflush(stdout);
		free(unit_diag);
		unit_diag = NULL;
		failed += unit_failures != 0;
	}
	return failed ? 1 : 0;
}

#endif
