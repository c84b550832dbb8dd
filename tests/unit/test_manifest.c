/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/manifest.h: the line reader over memory, a
 * temporary file and a pipe written in chunks; CSV splitting; manifest
 * header and rows; the duplicate index.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

#include "unit.h"

static struct m2m_ctx *ctx;

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

/* ---- line reader harness ------------------------------------------------ */

enum source { SRC_MEM, SRC_FILE, SRC_PIPE, SRC_COUNT };

static const char *const source_name[SRC_COUNT] = { "memory", "file",
						    "pipe" };

/* How a pipe is written: in writes of chunk bytes, pausing at pause_at. */
struct feed {
	size_t chunk;		/* 0: all at once */
	size_t pause_at;	/* 0: no pause */
};

struct got_line {
	enum m2m_err rc;
	char *text;		/* NULL for an error */
	size_t len;
	uint64_t lineno;
};

struct got {
	size_t n;
	struct got_line *l;
	int ended;		/* reached the end of input */
};

static void got_release(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->l[i].text);
	free(g->l);
	memset(g, 0, sizeof(*g));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A child process that writes data to fd as feed says, then exits. */
static pid_t spawn_writer(int fd, const char *data, size_t len,
			  const struct feed *f)
{
	pid_t pid = fork();
	size_t o = 0;

	if (pid != 0)
		return pid;
	while (o < len) {
		size_t n = len - o;
		ssize_t w;

		if (f->chunk && n > f->chunk)
			n = f->chunk;
		if (f->pause_at > o && n > f->pause_at - o)
			n = f->pause_at - o;
		w = write(fd, data + o, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(1);
		o += (size_t)w;
		if (o == f->pause_at)
			sleep_ms(200);
	}
	_exit(0);
}

/* Every line the reader gives for data read from src, into *g. */
static void collect(enum source src, const char *data, size_t len,
		    const struct feed *f, struct got *g)
{
	static const struct feed whole = { 0, 0 };
	struct m2m_lines *lr = NULL;
	char path[] = "/tmp/m2m-unit-XXXXXX";
	int fd = -1, pfd[2];
	pid_t pid = -1;
	size_t cap = 0, guard;
	int status;

	memset(g, 0, sizeof(*g));
	if (!f)
		f = &whole;
	if (src == SRC_MEM) {
		CHECK_EQ_INT(m2m_lines_new_mem(ctx, &lr, data, len), M2M_OK);
	} else if (src == SRC_FILE) {
		fd = mkstemp(path);
		if (!CHECK_MSG(fd >= 0, "mkstemp: %s", strerror(errno)))
			return;
		unlink(path);
		CHECK_EQ_INT(write(fd, data, len), len);
		CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
		CHECK_EQ_INT(m2m_lines_new_fd(ctx, &lr, fd), M2M_OK);
	} else {
		if (!CHECK_EQ_INT(pipe(pfd), 0))
			return;
		fflush(NULL);
		pid = spawn_writer(pfd[1], data, len, f);
		close(pfd[1]);
		fd = pfd[0];
		CHECK(pid > 0);
		CHECK_EQ_INT(m2m_lines_new_fd(ctx, &lr, fd), M2M_OK);
	}
	/* At most one result per input byte, and the end. */
	for (guard = 0; lr && guard <= len + 1; guard++) {
		const char *line = NULL;
		size_t n = 0;
		uint64_t lineno = 0;
		enum m2m_err rc = m2m_lines_next(ctx, lr, &line, &n, &lineno);

		if (rc == M2M_OK && !line) {
			g->ended = 1;
			break;
		}
		if (g->n == cap) {
			cap = cap ? 2 * cap : 64;
			g->l = realloc(g->l, cap * sizeof(*g->l));
			if (!g->l)
				abort();
		}
		g->l[g->n].rc = rc;
		g->l[g->n].lineno = lineno;
		g->l[g->n].len = rc == M2M_OK ? n : 0;
		g->l[g->n].text = NULL;
		if (rc == M2M_OK) {
			g->l[g->n].text = malloc(n + 1);
			if (!g->l[g->n].text)
				abort();
			memcpy(g->l[g->n].text, line, n);
			g->l[g->n].text[n] = '\0';
		}
		g->n++;
		if (rc != M2M_OK && rc != M2M_ERR_INVALID)
			break;
	}
	m2m_lines_free(lr);
	if (fd >= 0)
		close(fd);
	if (pid > 0) {
		CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "pipe writer did not finish (status 0x%x)", status);
	}
}

/* What a line should be: M2M_OK and its text, or an error code. */
struct want_line {
	enum m2m_err rc;
	const char *text;
	size_t len;		/* of text, which may hold NUL-free bytes */
	uint64_t lineno;
};

#define OK_LINE(s, no)	{ M2M_OK, (s), sizeof(s) - 1, (no) }
#define BAD_LINE(no)	{ M2M_ERR_INVALID, NULL, 0, (no) }

/* Check g against want[0..n), then the end of input. */
static int check_got(const char *what, const struct got *g,
		     const struct want_line *want, size_t n)
{
	size_t i;
	int ok = 1;

	ok &= CHECK_MSG(g->n == n, "%s: %zu results, want %zu", what, g->n,
			n);
	for (i = 0; i < n && i < g->n; i++) {
		const struct got_line *l = &g->l[i];

		ok &= CHECK_MSG(l->rc == want[i].rc,
				"%s: result %zu: code %d, want %d", what, i,
				l->rc, want[i].rc);
		ok &= CHECK_MSG(l->lineno == want[i].lineno,
				"%s: result %zu: line number %llu, want %llu",
				what, i, (unsigned long long)l->lineno,
				(unsigned long long)want[i].lineno);
		if (want[i].rc != M2M_OK || l->rc != M2M_OK)
			continue;
		ok &= CHECK_MSG(l->len == want[i].len &&
				memcmp(l->text, want[i].text, l->len) == 0,
				"%s: line %zu: got \"%.60s\" (%zu bytes), want \"%.60s\" (%zu bytes)",
				what, i, l->text, l->len, want[i].text,
				want[i].len);
	}
	ok &= CHECK_MSG(g->ended, "%s: the end of input was not reported",
			what);
	return ok;
}

/* Read data from every source (the pipe as feed says) and check it. */
static void check_lines(const char *data, size_t len, const struct feed *f,
			const struct want_line *want, size_t n)
{
	struct got g;
	int s;

	for (s = 0; s < SRC_COUNT; s++) {
		collect(s, data, len, f, &g);
		check_got(source_name[s], &g, want, n);
		got_release(&g);
	}
}

#define CHECK_LINES(data, feed, ...) do { \
	static const struct want_line want_[] = { __VA_ARGS__ }; \
	check_lines((data), sizeof(data) - 1, (feed), want_, \
		    UNIT_COUNT(want_)); \
} while (0)

/* Byte by byte: every possible split of the input across reads. */
static const struct feed bytewise = { 1, 0 };

/* ---- m2m_lines ---------------------------------------------------------- */

UNIT_TEST(lines_lf)
{
	CHECK_LINES("a\nbb\n\nccc\n", &bytewise,
		    OK_LINE("a", 1), OK_LINE("bb", 2), OK_LINE("", 3),
		    OK_LINE("ccc", 4));
	CHECK_LINES("\n", &bytewise, OK_LINE("", 1));
	CHECK_LINES("\n\n", &bytewise, OK_LINE("", 1), OK_LINE("", 2));
}

UNIT_TEST(lines_crlf)
{
	CHECK_LINES("a\r\nbb\r\n\r\nccc\r\n", &bytewise,
		    OK_LINE("a", 1), OK_LINE("bb", 2), OK_LINE("", 3),
		    OK_LINE("ccc", 4));
	/* only "\r\n" is an end of line: other CRs stay */
	CHECK_LINES("a\rb\r\nc\r\r\n\rd\n", &bytewise,
		    OK_LINE("a\rb", 1), OK_LINE("c\r", 2), OK_LINE("\rd", 3));
	/* LF and CRLF mixed */
	CHECK_LINES("a\nb\r\nc\n", &bytewise,
		    OK_LINE("a", 1), OK_LINE("b", 2), OK_LINE("c", 3));
}

UNIT_TEST(lines_no_final_newline)
{
	CHECK_LINES("a\nlast", &bytewise, OK_LINE("a", 1), OK_LINE("last", 2));
	CHECK_LINES("only", &bytewise, OK_LINE("only", 1));
	CHECK_LINES("a\r\nb", &bytewise, OK_LINE("a", 1), OK_LINE("b", 2));
}

UNIT_TEST(lines_bom_dropped_on_first_line_only)
{
	CHECK_LINES("\xEF\xBB\xBFserial,wifi\n\xEF\xBB\xBFx\n", &bytewise,
		    OK_LINE("serial,wifi", 1), OK_LINE("\xEF\xBB\xBFx", 2));
	CHECK_LINES("\xEF\xBB\xBF\r\nx\r\n", &bytewise,
		    OK_LINE("", 1), OK_LINE("x", 2));
	CHECK_LINES("\xEF\xBB\xBF\n", &bytewise, OK_LINE("", 1));
	/* an empty first line: the BOM on line 2 is data */
	CHECK_LINES("\n\xEF\xBB\xBFx\n", &bytewise,
		    OK_LINE("", 1), OK_LINE("\xEF\xBB\xBFx", 2));
	/* not a whole BOM: kept */
	CHECK_LINES("\xEF\xBBx\n", &bytewise, OK_LINE("\xEF\xBBx", 1));
}

UNIT_TEST(lines_empty_input)
{
	struct m2m_lines *lr = NULL;
	const char *line = "x";
	size_t len = 99;
	uint64_t no = 0;
	struct got g;
	int s;

	for (s = 0; s < SRC_COUNT; s++) {
		collect(s, "", 0, NULL, &g);
		CHECK_MSG(g.n == 0 && g.ended, "%s: %zu lines from nothing",
			  source_name[s], g.n);
		got_release(&g);
	}
	/* the end stays the end */
	CHECK_EQ_INT(m2m_lines_new_mem(ctx, &lr, "", 0), M2M_OK);
	CHECK_EQ_INT(m2m_lines_next(ctx, lr, &line, &len, &no), M2M_OK);
	CHECK(line == NULL);
	CHECK_EQ_INT(len, 0);
	line = "x";
	CHECK_EQ_INT(m2m_lines_next(ctx, lr, &line, &len, &no), M2M_OK);
	CHECK(line == NULL);
	m2m_lines_free(lr);
	m2m_lines_free(NULL);
}

/* "<prefix><n times c><suffix>" in a new buffer; its length in *len. */
static char *build(const char *prefix, char c, size_t n, const char *suffix,
		   size_t *len)
{
	size_t a = strlen(prefix), b = strlen(suffix);
	char *s = malloc(a + n + b + 1);

	if (!s)
		abort();
	memcpy(s, prefix, a);
	memset(s + a, c, n);
	memcpy(s + a + n, suffix, b + 1);
	*len = a + n + b;
	return s;
}

/*
 * Read s from every source (pipe: chunk bytes a write); want: line 1 "a",
 * line 2 a run of long_len bytes of 'x' (rc), line 3 "b".
 */
static void check_long(const char *s, size_t len, size_t long_len,
		       enum m2m_err rc, const struct feed *f)
{
	char *x = malloc(long_len + 1);
	struct want_line want[3] = {
		OK_LINE("a", 1), { rc, x, long_len, 2 }, OK_LINE("b", 3),
	};

	if (!x)
		abort();
	memset(x, 'x', long_len);
	check_lines(s, len, f, want, 3);
	free(x);
}

UNIT_TEST(lines_exactly_line_max_accepted)
{
	static const struct feed f = { 1000, 0 };
	size_t len;
	char *s;

	s = build("a\n", 'x', M2M_LINE_MAX, "\nb\n", &len);
	check_long(s, len, M2M_LINE_MAX, M2M_OK, &f);
	free(s);
	s = build("a\r\n", 'x', M2M_LINE_MAX, "\r\nb\r\n", &len);
	check_long(s, len, M2M_LINE_MAX, M2M_OK, &f);
	free(s);
	/* as the last line, without a newline */
	s = build("a\n", 'x', M2M_LINE_MAX, "", &len);
	{
		struct got g;
		int src;

		for (src = 0; src < SRC_COUNT; src++) {
			collect(src, s, len, &f, &g);
			CHECK_MSG(g.n == 2 && g.l[1].rc == M2M_OK &&
				  g.l[1].len == M2M_LINE_MAX &&
				  g.l[1].lineno == 2 && g.ended,
				  "%s: last line of M2M_LINE_MAX bytes",
				  source_name[src]);
			got_release(&g);
		}
	}
	free(s);
}

UNIT_TEST(lines_line_max_plus_one_rejected_reader_continues)
{
	static const struct feed f = { 1000, 0 };
	size_t len;
	char *s;

	s = build("a\n", 'x', M2M_LINE_MAX + 1, "\nb\n", &len);
	check_long(s, len, 0, M2M_ERR_INVALID, &f);
	free(s);
	s = build("a\r\n", 'x', M2M_LINE_MAX + 1, "\r\nb\r\n", &len);
	check_long(s, len, 0, M2M_ERR_INVALID, &f);
	free(s);
	s = build("a\n", 'x', M2M_LINE_MAX + 2, "\nb", &len);
	check_long(s, len, 0, M2M_ERR_INVALID, &f);
	free(s);
	/* the detail says why */
	{
		struct m2m_lines *lr = NULL;
		const char *line;
		size_t n;
		uint64_t no = 0;

		s = build("", 'x', M2M_LINE_MAX + 1, "\n", &len);
		CHECK_EQ_INT(m2m_lines_new_mem(ctx, &lr, s, len), M2M_OK);
		CHECK_FAILS(m2m_lines_next(ctx, lr, &line, &n, &no),
			    M2M_ERR_INVALID, "longer than 4096 bytes");
		CHECK_EQ_INT(no, 1);
		m2m_lines_free(lr);
		free(s);
	}
}

UNIT_TEST(lines_over_long_200k_line_spanning_many_fills)
{
	static const struct feed f = { 4093, 0 };
	size_t len;
	char *s;

	s = build("a\n", 'x', 200 * 1024, "\nb\n", &len);
	check_long(s, len, 0, M2M_ERR_INVALID, &f);
	free(s);
	/* the over-long line is the last one, with no newline */
	s = build("a\n", 'x', 200 * 1024, "", &len);
	{
		static const struct want_line want[] = {
			OK_LINE("a", 1), BAD_LINE(2),
		};

		check_lines(s, len, &f, want, UNIT_COUNT(want));
	}
	free(s);
	/* two in a row, then a good line */
	{
		static const struct want_line want[] = {
			BAD_LINE(1), BAD_LINE(2), OK_LINE("ok", 3),
		};
		char *t;
		size_t tlen;

		t = build("", 'y', 70000, "\n", &tlen);
		s = malloc(2 * tlen + 4);
		if (!s)
			abort();
		memcpy(s, t, tlen);
		memcpy(s + tlen, t, tlen);
		memcpy(s + 2 * tlen, "ok\n", 4);
		check_lines(s, 2 * tlen + 3, &f, want, UNIT_COUNT(want));
		free(s);
		free(t);
	}
}

UNIT_TEST(lines_nul_byte_rejected_reader_continues)
{
	CHECK_LINES("a\0b\nc\n", &bytewise, BAD_LINE(1), OK_LINE("c", 2));
	CHECK_LINES("ok\n\0\nlast", &bytewise,
		    OK_LINE("ok", 1), BAD_LINE(2), OK_LINE("last", 3));
	{
		struct m2m_lines *lr = NULL;
		const char *line;
		size_t n;
		uint64_t no = 0;

		CHECK_EQ_INT(m2m_lines_new_mem(ctx, &lr, "x\0y\n", 4), M2M_OK);
		CHECK_FAILS(m2m_lines_next(ctx, lr, &line, &n, &no),
			    M2M_ERR_INVALID, "NUL");
		CHECK_EQ_INT(no, 1);
		m2m_lines_free(lr);
	}
}

/* Line i of the many-lines input: 0 to 150 bytes, its content varied. */
static size_t short_line(size_t i, char *out)
{
	size_t n = (i * 37 + i / 7) % 151, k;

	for (k = 0; k < n; k++)
		out[k] = (char)('!' + (i + k) % 90);
	return n;
}

UNIT_TEST(lines_many_short_lines_across_buffer_boundaries)
{
	static const struct feed feeds[] = { { 0, 0 }, { 4093, 0 },
					     { 65537, 0 } };
	const size_t nlines = 8000;	/* about 600 KB */
	char *data, line[160];
	size_t len = 0, i, fi, cap = nlines * 153;
	struct got g;
	int s;

	data = malloc(cap);
	if (!data)
		abort();
	for (i = 0; i < nlines; i++) {
		len += short_line(i, data + len);
		if (i % 3 == 0)
			data[len++] = '\r';
		data[len++] = '\n';
	}
	CHECK(len > 8 * 64 * 1024);
	for (s = 0; s < SRC_COUNT; s++) {
		for (fi = 0; fi < UNIT_COUNT(feeds); fi++) {
			int bad = 0;

			if (s != SRC_PIPE && fi > 0)
				break;
			collect(s, data, len, &feeds[fi], &g);
			CHECK_MSG(g.n == nlines && g.ended,
				  "%s: %zu lines, want %zu", source_name[s],
				  g.n, nlines);
			for (i = 0; i < g.n && i < nlines && bad < 5; i++) {
				size_t n = short_line(i, line);

				bad += !CHECK_MSG(g.l[i].rc == M2M_OK &&
						  g.l[i].lineno == i + 1 &&
						  g.l[i].len == n &&
						  memcmp(g.l[i].text, line,
							 n) == 0,
						  "%s, chunk %zu: line %zu is wrong",
						  source_name[s],
						  feeds[fi].chunk, i + 1);
			}
			got_release(&g);
		}
	}
	free(data);
}

/*
 * The limit is on the line, without its end of line and without the BOM,
 * whatever the reads return: a pipe paused just before the newline must
 * give what memory gives.
 */
UNIT_TEST(lines_limit_independent_of_read_boundaries)
{
	size_t len, i;
	char *s;
	struct {
		const char *prefix, *suffix;
		size_t pause;	/* bytes before the pause */
	} v[] = {
		{ "", "\nb\n", M2M_LINE_MAX },
		{ "", "\r\nb\n", M2M_LINE_MAX + 1 },
		{ "\xEF\xBB\xBF", "\nb\n", M2M_LINE_MAX + 3 },
		{ "\xEF\xBB\xBF", "\r\nb\n", M2M_LINE_MAX + 4 },
	};

	for (i = 0; i < UNIT_COUNT(v); i++) {
		struct feed f = { 0, v[i].pause };
		struct want_line want[2] = {
			{ M2M_OK, NULL, M2M_LINE_MAX, 1 }, OK_LINE("b", 2),
		};
		char *x = malloc(M2M_LINE_MAX);
		struct got g;
		int src;

		if (!x)
			abort();
		memset(x, 'x', M2M_LINE_MAX);
		want[0].text = x;
		s = build(v[i].prefix, 'x', M2M_LINE_MAX, v[i].suffix, &len);
		for (src = 0; src < SRC_COUNT; src++) {
			collect(src, s, len, &f, &g);
			CHECK_MSG(check_got(source_name[src], &g, want, 2),
				  "case %zu: a %d-byte line%s%s from the %s%s",
				  i, M2M_LINE_MAX,
				  v[i].prefix[0] ? " after a BOM" : "",
				  v[i].suffix[0] == '\r' ? " with CRLF" : "",
				  source_name[src],
				  src == SRC_PIPE ? ", paused just before "
				  "the end of line" : "");
			got_release(&g);
		}
		free(s);
		free(x);
	}
}

UNIT_TEST(lines_read_error_is_io)
{
	struct m2m_lines *lr = NULL;
	const char *line = "x";
	size_t n;
	uint64_t no;
	int fd = open("/", O_RDONLY | O_DIRECTORY);

	if (!CHECK(fd >= 0))
		return;
	CHECK_EQ_INT(m2m_lines_new_fd(ctx, &lr, fd), M2M_OK);
	CHECK_FAILS(m2m_lines_next(ctx, lr, &line, &n, &no), M2M_ERR_IO,
		    "Is a directory");
	CHECK(line == NULL);
	m2m_lines_free(lr);
	/* the reader did not close the descriptor */
	CHECK_EQ_INT(close(fd), 0);
}

/* ---- m2m_csv_split ------------------------------------------------------ */

/* Split the NUL-terminated line and check it gives the fields. */
#define CHECK_SPLIT(line, ...) do { \
	static const char *const want_[] = { __VA_ARGS__ }; \
	check_split(__LINE__, (line), strlen(line), want_, \
		    UNIT_COUNT(want_)); \
} while (0)

static void check_split(int at, const char *line, size_t len,
			const char *const *want, size_t n)
{
	static struct m2m_csv_row row;
	size_t i;

	memset(&row, 0xa5, sizeof(row));
	m2m_ctx_clear_error(ctx);
	if (!CHECK_MSG(m2m_csv_split(ctx, &row, line, len) == M2M_OK,
		       "line %d: '%s' not split: %s", at, line,
		       m2m_ctx_detail(ctx)))
		return;
	if (!CHECK_MSG(row.n == n, "line %d: '%s': %zu fields, want %zu", at,
		       line, row.n, n))
		return;
	for (i = 0; i < n; i++) {
		CHECK_MSG(row.len[i] == strlen(want[i]) &&
			  memcmp(row.field[i], want[i], row.len[i]) == 0,
			  "line %d: '%s': field %zu is '%.*s', want '%s'", at,
			  line, i + 1, (int)row.len[i], row.field[i], want[i]);
		CHECK_MSG(row.field[i][row.len[i]] == '\0',
			  "line %d: field %zu is not NUL-terminated", at,
			  i + 1);
	}
}

UNIT_TEST(csv_plain_fields)
{
	CHECK_SPLIT("a,b,c", "a", "b", "c");
	CHECK_SPLIT("SN-0001,00:1A:7D:DA:71:13,KAM:12345678:01:07",
		    "SN-0001", "00:1A:7D:DA:71:13", "KAM:12345678:01:07");
	CHECK_SPLIT("one", "one");
	/* a quote inside a bare field is just a character */
	CHECK_SPLIT("a\"b,c", "a\"b", "c");
}

UNIT_TEST(csv_spaces_and_tabs_trimmed)
{
	CHECK_SPLIT("  a , b\t,\tc  ", "a", "b", "c");
	CHECK_SPLIT("a b , c  d", "a b", "c  d");
	CHECK_SPLIT(" \t ", "");
	CHECK_SPLIT("  \"x\"  ,y", "x", "y");
	CHECK_SPLIT("\" x \"", " x ");
}

UNIT_TEST(csv_quoted_fields)
{
	CHECK_SPLIT("\"a,b\",c", "a,b", "c");
	CHECK_SPLIT("\"say \"\"hi\"\"\",x", "say \"hi\"", "x");
	CHECK_SPLIT("\"\"\"\"", "\"");
	CHECK_SPLIT("\"\",\"\"", "", "");
	CHECK_SPLIT("x,\"\"", "x", "");
	CHECK_SPLIT("\"a\"\"\",b", "a\"", "b");
}

UNIT_TEST(csv_empty_fields_and_trailing_comma)
{
	CHECK_SPLIT("", "");
	CHECK_SPLIT(",", "", "");
	CHECK_SPLIT(",,", "", "", "");
	CHECK_SPLIT("a,,b", "a", "", "b");
	CHECK_SPLIT("a,", "a", "");
	CHECK_SPLIT("a, ", "a", "");
	CHECK_SPLIT(",a", "", "a");
}

UNIT_TEST(csv_unterminated_quote)
{
	static struct m2m_csv_row row;

	CHECK_FAILS(m2m_csv_split(ctx, &row, "\"abc", 4), M2M_ERR_INVALID,
		    "field 1: quoted field is not closed");
	CHECK_FAILS(m2m_csv_split(ctx, &row, "a,\"b,c", 6), M2M_ERR_INVALID,
		    "field 2: quoted field is not closed");
	CHECK_FAILS(m2m_csv_split(ctx, &row, "\"a\"\"", 4), M2M_ERR_INVALID,
		    "not closed");
	CHECK_FAILS(m2m_csv_split(ctx, &row, "\"", 1), M2M_ERR_INVALID,
		    "not closed");
}

UNIT_TEST(csv_text_after_closing_quote)
{
	static struct m2m_csv_row row;

	CHECK_FAILS(m2m_csv_split(ctx, &row, "\"a\"b", 4), M2M_ERR_INVALID,
		    "field 1: text after the closing quote");
	CHECK_FAILS(m2m_csv_split(ctx, &row, "x,\"a\" b,c", 9),
		    M2M_ERR_INVALID, "field 2: text after the closing quote");
	CHECK_FAILS(m2m_csv_split(ctx, &row, "\"a\"\"b\"c", 7),
		    M2M_ERR_INVALID, "text after the closing quote");
}

UNIT_TEST(csv_64_fields_ok_65_rejected)
{
	static struct m2m_csv_row row;
	char line[M2M_LINE_MAX + 1];
	size_t len = 0, i;

	for (i = 0; i < 64; i++)
		len += (size_t)sprintf(line + len, "%s%zu", i ? "," : "", i);
	CHECK_EQ_INT(m2m_csv_split(ctx, &row, line, len), M2M_OK);
	CHECK_EQ_INT(row.n, 64);
	CHECK_EQ_STR(row.field[0], "0");
	CHECK_EQ_STR(row.field[63], "63");
	/* a 65th field, empty (trailing comma) or not */
	strcpy(line + len, ",");
	CHECK_FAILS(m2m_csv_split(ctx, &row, line, len + 1), M2M_ERR_INVALID,
		    "more than 64 fields");
	strcpy(line + len, ",64");
	CHECK_FAILS(m2m_csv_split(ctx, &row, line, len + 3), M2M_ERR_INVALID,
		    "more than 64 fields");
	/* 63 commas: 64 empty fields; 64 commas: 65 */
	memset(line, ',', 64);
	CHECK_EQ_INT(m2m_csv_split(ctx, &row, line, 63), M2M_OK);
	CHECK_EQ_INT(row.n, 64);
	CHECK_EQ_INT(row.len[63], 0);
	CHECK_FAILS(m2m_csv_split(ctx, &row, line, 64), M2M_ERR_INVALID,
		    "more than 64 fields");
}

UNIT_TEST(csv_longest_line_fills_the_row)
{
	static struct m2m_csv_row row;
	char line[M2M_LINE_MAX];
	size_t i;

	/* 64 fields of 63 bytes and 63 commas: 4095 bytes */
	for (i = 0; i < 64; i++) {
		memset(line + i * 64, 'a' + (int)(i % 26), 63);
		if (i < 63)
			line[i * 64 + 63] = ',';
	}
	CHECK_EQ_INT(m2m_csv_split(ctx, &row, line, 64 * 64 - 1), M2M_OK);
	CHECK_EQ_INT(row.n, 64);
	for (i = 0; i < row.n; i++)
		CHECK_EQ_INT(row.len[i], 63);
	CHECK_EQ_INT(row.field[63][0], 'a' + 63 % 26);
	/* one quoted field of M2M_LINE_MAX - 2 bytes */
	line[0] = '"';
	memset(line + 1, 'q', M2M_LINE_MAX - 2);
	line[M2M_LINE_MAX - 1] = '"';
	CHECK_EQ_INT(m2m_csv_split(ctx, &row, line, M2M_LINE_MAX), M2M_OK);
	CHECK_EQ_INT(row.n, 1);
	CHECK_EQ_INT(row.len[0], M2M_LINE_MAX - 2);
}

/* ---- m2m_manifest_header ------------------------------------------------ */

static void split(struct m2m_csv_row *row, const char *line)
{
	CHECK_MSG(m2m_csv_split(ctx, row, line, strlen(line)) == M2M_OK,
		  "cannot split '%s'", line);
}

UNIT_TEST(header_serial_and_technologies)
{
	static struct m2m_csv_row h;
	struct m2m_manifest m;
	int t;

	split(&h, "serial,wifi,ethernet");
	CHECK_EQ_INT(m2m_manifest_header(ctx, &m, &h), M2M_OK);
	CHECK_EQ_INT(m.ncols, 3);
	CHECK_EQ_INT(m.serial_col, 0);
	CHECK_EQ_INT(m.ignored, 0);
	for (t = 0; t < M2M_TECH_COUNT; t++)
		CHECK_EQ_INT(m.tech_col[t], t == M2M_TECH_WIFI ? 1 :
			     t == M2M_TECH_ETHERNET ? 2 : -1);

	split(&h, "Bluetooth,WIFI,wMBus,ZigBee,LoRaWAN,IMEI,Ethernet,NFC,"
		  "IEEE802154,SERIAL");
	CHECK_EQ_INT(m2m_manifest_header(ctx, &m, &h), M2M_OK);
	CHECK_EQ_INT(m.ncols, 10);
	CHECK_EQ_INT(m.serial_col, 9);
	for (t = 0; t < M2M_TECH_COUNT; t++)
		CHECK_EQ_INT(m.tech_col[t], t);
	CHECK_EQ_INT(m.ignored, 0);

	split(&h, " \"serial\" , nfc ");
	CHECK_EQ_INT(m2m_manifest_header(ctx, &m, &h), M2M_OK);
	CHECK_EQ_INT(m.tech_col[M2M_TECH_NFC], 1);
}

UNIT_TEST(header_ignored_columns_bitmask)
{
	static struct m2m_csv_row h;
	struct m2m_manifest m;

	split(&h, "model,serial,notes,wifi,wi-fi,serial_no");
	CHECK_EQ_INT(m2m_manifest_header(ctx, &m, &h), M2M_OK);
	CHECK_EQ_INT(m.ignored, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5));
	CHECK_EQ_INT(m.serial_col, 1);
	CHECK_EQ_INT(m.tech_col[M2M_TECH_WIFI], 3);
	CHECK_EQ_INT(m.ncols, 6);
}

UNIT_TEST(header_rejections)
{
	static struct m2m_csv_row h;
	struct m2m_manifest m;

	split(&h, "wifi,ethernet");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "no 'serial' column");
	split(&h, "serial,model,notes");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "no ppid or technology column");
	split(&h, "serial");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "no ppid or technology column");
	split(&h, "serial,wifi,WiFi");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "appears twice (columns 2 and 3)");
	split(&h, "Serial,wifi,SERIAL");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "appears twice (columns 1 and 3)");
	split(&h, "serial,note,wifi,NOTE");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "appears twice (columns 2 and 4)");
	split(&h, "serial,,wifi");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "column 2 has no name");
	split(&h, "serial,wifi,  ");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "column 3 has no name");
	split(&h, "");
	CHECK_FAILS(m2m_manifest_header(ctx, &m, &h), M2M_ERR_INVALID,
		    "column 1 has no name");
}

/* ---- m2m_manifest_row --------------------------------------------------- */

static void manifest(struct m2m_manifest *m, const char *header)
{
	static struct m2m_csv_row h;

	split(&h, header);
	CHECK_EQ_INT(m2m_manifest_header(ctx, m, &h), M2M_OK);
}

UNIT_TEST(row_good_fills_device)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;
	char hex[M2M_PPID_HEX_MAX];

	manifest(&m, "serial,wifi,note,ethernet,nfc");
	split(&row, "SN-0001, 3c:71:bf:4a:0b:2e ,anything at all!,"
		    "00-1B-21-3A-4F-5C,");
	memset(&dev, 0x5a, sizeof(dev));
	CHECK_EQ_INT(m2m_manifest_row(ctx, &m, &row, &dev), M2M_OK);
	CHECK_EQ_STR(dev.serial, "SN-0001");
	CHECK_EQ_INT(dev.serial_len, 7);
	CHECK_EQ_INT(dev.ppid.mask, (1u << M2M_TECH_WIFI) |
		     (1u << M2M_TECH_ETHERNET));
	CHECK_EQ_INT(m2m_ppid_to_hex(ctx, &dev.ppid, hex, sizeof(hex), NULL),
		     M2M_OK);
	CHECK_EQ_STR(hex, "423c71bf4a0b2e001b213a4f5c");

	/* the spec's second vector, columns in another order */
	manifest(&m, "zigbee,serial,wmbus,bluetooth,wifi");
	split(&row, "00:12:4B:00:1C:A1:B2:C3,\"A1 (rev. 2), lot 7/9\","
		    "KAM:12345678:01:07,00:1A:7D:DA:71:13,3C:71:BF:4A:0B:2E");
	CHECK_EQ_INT(m2m_manifest_row(ctx, &m, &row, &dev), M2M_OK);
	CHECK_EQ_STR(dev.serial, "A1 (rev. 2), lot 7/9");
	CHECK_EQ_INT(m2m_ppid_to_hex(ctx, &dev.ppid, hex, sizeof(hex), NULL),
		     M2M_OK);
	CHECK_EQ_STR(hex, "0f001a7dda71133c71bf4a0b2e2d2c785634120107"
		     "00124b001ca1b2c3");
}

UNIT_TEST(row_ppid_column)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;
	char hex[M2M_PPID_HEX_MAX];

	manifest(&m, "serial,ppid");
	CHECK_EQ_INT(m.ppid_col, 1);
	split(&row, "SN-1,01001A7DDA7113");
	CHECK_EQ_INT(m2m_manifest_row(ctx, &m, &row, &dev), M2M_OK);
	CHECK_EQ_INT(m2m_ppid_to_hex(ctx, &dev.ppid, hex, sizeof(hex), NULL),
		     M2M_OK);
	CHECK_EQ_STR(hex, "01001a7dda7113");

	manifest(&m, "serial,ppid,wifi");
	split(&row, "SN-1,01001a7dda7113,3C:71:BF:4A:0B:2E");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "give either a ppid or addresses, not both");
	split(&row, "SN-1,,3C:71:BF:4A:0B:2E");
	CHECK_EQ_INT(m2m_manifest_row(ctx, &m, &row, &dev), M2M_OK);
	split(&row, "SN-1,8100,");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "column 'ppid': byte 1: header is not minimal");
}

#define JSON_OK(text) CHECK_EQ_INT(m2m_json_split(ctx, &row, (text), \
						  strlen(text), names, 3), \
				   M2M_OK)

UNIT_TEST(json_split_values_escapes_and_rejections)
{
	static const char *const names[] = { "serial", "wifi", "csr" };
	static struct m2m_csv_row row;
	static const struct {
		const char *line, *phrase;
	} bad[] = {
		{ "", "not a JSON object" },
		{ "[1]", "not a JSON object" },
		{ "{\"serial\":\"a\"", "expected ',' or '}'" },
		{ "{\"serial\":\"a\"} x", "text after the object" },
		{ "{\"color\":\"red\"}", "unknown key 'color'" },
		{ "{\"serial\":\"a\",\"serial\":\"b\"}", "key 'serial' given twice" },
		{ "{\"serial\":12}", "the value of 'serial' must be a string" },
		{ "{\"serial\":true}", "the value of 'serial' must be a string" },
		{ "{\"serial\":\"a\\x\"}", "is not a valid JSON string" },
		{ "{\"serial\":\"a\\u0000\"}", "is not a valid JSON string" },
		{ "{\"serial\":\"\\udc00\"}", "is not a valid JSON string" },
		{ "{\"serial\":\"\\ud800x\"}", "is not a valid JSON string" },
		{ "{\"serial\":\"a\tb\"}", "is not a valid JSON string" },
		{ "{serial:\"a\"}", "expected a key" },
		{ "{\"serial\" \"a\"}", "expected ':'" },
		{ "{\"serial\":\"a\",}", "expected a key" },
	};
	size_t i;

	JSON_OK("{\"csr\":\"d1.csr\", \"serial\" : \"SN-1\",\"wifi\":null}");
	CHECK_EQ_INT(row.n, 3);
	CHECK_EQ_STR(row.field[0], "SN-1");
	CHECK_EQ_STR(row.field[1], "");
	CHECK_EQ_STR(row.field[2], "d1.csr");
	JSON_OK("  {}  ");
	CHECK_EQ_STR(row.field[0], "");
	JSON_OK("{\"serial\":\"q\\\"\\\\\\/\\u00e9\\ud83d\\ude00\"}");
	CHECK_EQ_STR(row.field[0], "q\"\\/\xc3\xa9\xf0\x9f\x98\x80");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m2m_ctx_clear_error(ctx);
		CHECK_MSG(m2m_json_split(ctx, &row, bad[i].line,
					 strlen(bad[i].line), names, 3) ==
			  M2M_ERR_INVALID, "'%s' is not rejected", bad[i].line);
		CHECK_CONTAINS(m2m_ctx_detail(ctx), bad[i].phrase);
	}
}

UNIT_TEST(row_wrong_field_count)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;

	manifest(&m, "serial,wifi,ethernet");
	split(&row, "SN1,3C:71:BF:4A:0B:2E");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "2 fields, but the header has 3");
	split(&row, "SN1,3C:71:BF:4A:0B:2E,,");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "4 fields, but the header has 3");
}

UNIT_TEST(row_bad_serials)
{
	static const char *const bad[] = {
		"SN@1", "SN_1", "SN*1", "SN#1", "a;b", "x!", "\"q\"\"\"",
		"caf\xc3\xa9", "tab\there",
	};
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;
	char line[256];
	size_t i;

	manifest(&m, "serial,wifi");
	for (i = 0; i < UNIT_COUNT(bad); i++) {
		snprintf(line, sizeof(line), "%s,3C:71:BF:4A:0B:2E", bad[i]);
		split(&row, line);
		CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev),
			    M2M_ERR_INVALID, "column 'serial': ");
		CHECK_CONTAINS(m2m_ctx_detail(ctx), "is not allowed");
		CHECK_EQ_INT(strncmp(m2m_ctx_detail(ctx), "column 'serial': ",
				     17), 0);
	}
	split(&row, "SN_1,3C:71:BF:4A:0B:2E");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "'_' is not allowed (PrintableString)");
	split(&row, ",3C:71:BF:4A:0B:2E");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "column 'serial': serial is empty");
}

UNIT_TEST(row_serial_64_ok_65_rejected)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;
	char line[256];

	manifest(&m, "serial,wifi");
	memset(line, 'S', 64);
	strcpy(line + 64, ",3C:71:BF:4A:0B:2E");
	split(&row, line);
	CHECK_EQ_INT(m2m_manifest_row(ctx, &m, &row, &dev), M2M_OK);
	CHECK_EQ_INT(dev.serial_len, 64);
	CHECK_EQ_INT(strlen(dev.serial), 64);
	memset(line, 'S', 65);
	strcpy(line + 65, ",3C:71:BF:4A:0B:2E");
	split(&row, line);
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "65 characters long, more than 64");
}

UNIT_TEST(serial_check_printable_string_set)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789 '()+,-./:=?";
	char one[2] = { 0, 0 };
	unsigned c;

	/* the whole set, 64 at a time */
	CHECK_EQ_INT(m2m_device_serial_check(ctx, allowed, 64), M2M_OK);
	CHECK_EQ_INT(m2m_device_serial_check(ctx, allowed + 10,
					     strlen(allowed) - 10), M2M_OK);
	/* every byte alone: allowed exactly if in the set */
	for (c = 0; c < 256; c++) {
		enum m2m_err want = c && strchr(allowed, (int)c) ?
				    M2M_OK : M2M_ERR_INVALID;

		one[0] = (char)c;
		CHECK_MSG(m2m_device_serial_check(ctx, one, 1) == want,
			  "serial byte 0x%02X: want %s", c,
			  want ? "rejected" : "accepted");
	}
	CHECK_FAILS(m2m_device_serial_check(ctx, "a@b", 3), M2M_ERR_INVALID,
		    "serial 'a@b': '@' is not allowed");
	CHECK_FAILS(m2m_device_serial_check(ctx, "a\nb", 3), M2M_ERR_INVALID,
		    "byte 0x0A is not allowed");
	CHECK_FAILS(m2m_device_serial_check(ctx, "", 0), M2M_ERR_INVALID,
		    "serial is empty");
}

UNIT_TEST(row_bad_address_names_the_column)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;
	const char *d;

	manifest(&m, "serial,ethernet,wifi,imei");
	split(&row, "SN1,00:1B:21:3A:4F:5C,01:00:5E:00:00:FB,");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "group (multicast) bit");
	d = m2m_ctx_detail(ctx);
	CHECK_MSG(strncmp(d, "column 'wifi': ", 15) == 0,
		  "detail '%s' does not start with \"column 'wifi': \"", d);
	split(&row, "SN1,,,490154203237519");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "column 'imei': '490154203237519' fails the Luhn check");
	split(&row, "SN1,nonsense,,");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "column 'ethernet': 'nonsense' is not six hex bytes");
}

UNIT_TEST(row_with_no_address)
{
	static struct m2m_csv_row row;
	struct m2m_manifest m;
	struct m2m_device dev;

	manifest(&m, "serial,wifi,ethernet,note");
	split(&row, "SN1,,,00:1B:21:3A:4F:5C");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "no address given");
	split(&row, "SN1, , \"\" ,x");
	CHECK_FAILS(m2m_manifest_row(ctx, &m, &row, &dev), M2M_ERR_INVALID,
		    "no address given");
}

/* ---- m2m_seen ------------------------------------------------------------ */

UNIT_TEST(seen_add_find_duplicate_returns_first_tag)
{
	struct m2m_seen *s = NULL;
	uint64_t tag = 0, first = 0;

	CHECK_EQ_INT(m2m_seen_new(ctx, &s), M2M_OK);
	if (!CHECK(s != NULL))
		return;
	CHECK_EQ_INT(m2m_seen_count(s), 0);
	CHECK_EQ_INT(m2m_seen_find(s, "abc", 3, &tag), 0);
	CHECK_EQ_INT(m2m_seen_add(ctx, s, "abc", 3, 7, &first), M2M_OK);
	CHECK_EQ_INT(m2m_seen_add(ctx, s, "xyz", 3, UINT64_MAX, NULL), M2M_OK);
	CHECK_EQ_INT(m2m_seen_count(s), 2);
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(m2m_seen_add(ctx, s, "abc", 3, 9, &first),
		     M2M_ERR_DUPLICATE);
	CHECK_EQ_INT(first, 7);
	CHECK_EQ_STR(m2m_ctx_detail(ctx), "");	/* the caller words it */
	CHECK_EQ_INT(m2m_seen_add(ctx, s, "abc", 3, 10, NULL),
		     M2M_ERR_DUPLICATE);
	CHECK_EQ_INT(m2m_seen_add(ctx, s, "xyz", 3, 1, &first),
		     M2M_ERR_DUPLICATE);
	CHECK(first == UINT64_MAX);
	CHECK_EQ_INT(m2m_seen_count(s), 2);
	CHECK_EQ_INT(m2m_seen_find(s, "abc", 3, &tag), 1);
	CHECK_EQ_INT(tag, 7);
	CHECK_EQ_INT(m2m_seen_find(s, "abc", 3, NULL), 1);
	tag = 42;
	CHECK_EQ_INT(m2m_seen_find(s, "abd", 3, &tag), 0);
	CHECK_EQ_INT(m2m_seen_find(s, "ABC", 3, &tag), 0);
	m2m_seen_free(s);
	m2m_seen_free(NULL);
}

UNIT_TEST(seen_empty_key_and_keys_differing_in_length)
{
	static const struct {
		const char *k;
		size_t len;
	} keys[] = {
		{ "", 0 }, { "\0", 1 }, { "\0\0", 2 }, { "a", 1 },
		{ "ab", 2 }, { "abc", 3 }, { "abc\0", 4 }, { "abcdefg", 7 },
		{ "abcdefgh", 8 }, { "abcdefgh\0", 9 }, { "abcdefgh0", 9 },
		{ "abcdefghabcdefgh", 16 }, { "abcdefghabcdefgh\0", 17 },
		{ "\0\0\0\0\0\0\0\0", 8 }, { "\0\0\0\0\0\0\0\0\0", 9 },
	};
	struct m2m_seen *s = NULL;
	uint64_t tag;
	size_t i;

	CHECK_EQ_INT(m2m_seen_new(ctx, &s), M2M_OK);
	if (!CHECK(s != NULL))
		return;
	for (i = 0; i < UNIT_COUNT(keys); i++)
		CHECK_MSG(m2m_seen_add(ctx, s, keys[i].k, keys[i].len, 100 + i,
				       NULL) == M2M_OK,
			  "key %zu (%zu bytes) taken for a duplicate", i,
			  keys[i].len);
	CHECK_EQ_INT(m2m_seen_count(s), UNIT_COUNT(keys));
	for (i = 0; i < UNIT_COUNT(keys); i++) {
		tag = 0;
		CHECK_EQ_INT(m2m_seen_find(s, keys[i].k, keys[i].len, &tag), 1);
		CHECK_EQ_INT(tag, 100 + i);
		CHECK_EQ_INT(m2m_seen_add(ctx, s, keys[i].k, keys[i].len, 1,
					  &tag), M2M_ERR_DUPLICATE);
		CHECK_EQ_INT(tag, 100 + i);
	}
	CHECK_EQ_INT(m2m_seen_find(s, "abcd", 4, NULL), 0);
	CHECK_EQ_INT(m2m_seen_find(s, "abcdefgh\0\0", 10, NULL), 0);
	m2m_seen_free(s);
}

UNIT_TEST(seen_one_million_keys)
{
	const uint32_t n = 1000000;
	struct m2m_seen *s = NULL;
	char key[32];
	uint64_t tag;
	uint32_t i;
	int len, bad = 0;

	CHECK_EQ_INT(m2m_seen_new(ctx, &s), M2M_OK);
	if (!CHECK(s != NULL))
		return;
	/* PPID-like keys of several lengths */
	for (i = 0; i < n && bad < 5; i++) {
		len = snprintf(key, sizeof(key), "%0*x", 8 + (int)(i % 5) * 4,
			       i);
		bad += !CHECK_MSG(m2m_seen_add(ctx, s, key, (size_t)len, i + 1,
					       NULL) == M2M_OK,
				  "adding key %u failed", i);
	}
	CHECK_EQ_INT(m2m_seen_count(s), n);
	for (i = 0; i < n && bad < 5; i++) {
		len = snprintf(key, sizeof(key), "%0*x", 8 + (int)(i % 5) * 4,
			       i);
		tag = 0;
		bad += !CHECK_MSG(m2m_seen_find(s, key, (size_t)len, &tag) &&
				  tag == i + 1, "key %u: not found, or tag %llu",
				  i, (unsigned long long)tag);
	}
	/* the same number, another width: another key */
	len = snprintf(key, sizeof(key), "%0*x", 12, 0u);
	CHECK_EQ_INT(m2m_seen_find(s, key, (size_t)len, NULL), 0);
	len = snprintf(key, sizeof(key), "%0*x", 8, n);
	CHECK_EQ_INT(m2m_seen_find(s, key, (size_t)len, NULL), 0);
	for (i = 0; i < n; i += 99991) {
		len = snprintf(key, sizeof(key), "%0*x", 8 + (int)(i % 5) * 4,
			       i);
		CHECK_EQ_INT(m2m_seen_add(ctx, s, key, (size_t)len, 0, &tag),
			     M2M_ERR_DUPLICATE);
		CHECK_EQ_INT(tag, i + 1);
	}
	CHECK_EQ_INT(m2m_seen_count(s), n);
	m2m_seen_free(s);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(lines_lf),
		UNIT(lines_crlf),
		UNIT(lines_no_final_newline),
		UNIT(lines_bom_dropped_on_first_line_only),
		UNIT(lines_empty_input),
		UNIT(lines_exactly_line_max_accepted),
		UNIT(lines_line_max_plus_one_rejected_reader_continues),
		UNIT(lines_over_long_200k_line_spanning_many_fills),
		UNIT(lines_nul_byte_rejected_reader_continues),
		UNIT(lines_many_short_lines_across_buffer_boundaries),
		UNIT(lines_limit_independent_of_read_boundaries),
		UNIT(lines_read_error_is_io),
		UNIT(csv_plain_fields),
		UNIT(csv_spaces_and_tabs_trimmed),
		UNIT(csv_quoted_fields),
		UNIT(csv_empty_fields_and_trailing_comma),
		UNIT(csv_unterminated_quote),
		UNIT(csv_text_after_closing_quote),
		UNIT(csv_64_fields_ok_65_rejected),
		UNIT(csv_longest_line_fills_the_row),
		UNIT(header_serial_and_technologies),
		UNIT(header_ignored_columns_bitmask),
		UNIT(header_rejections),
		UNIT(row_good_fills_device),
		UNIT(row_ppid_column),
		UNIT(json_split_values_escapes_and_rejections),
		UNIT(row_wrong_field_count),
		UNIT(row_bad_serials),
		UNIT(row_serial_64_ok_65_rejected),
		UNIT(serial_check_printable_string_set),
		UNIT(row_bad_address_names_the_column),
		UNIT(row_with_no_address),
		UNIT(seen_add_find_duplicate_returns_first_tag),
		UNIT(seen_empty_key_and_keys_differing_in_length),
		UNIT(seen_one_million_keys),
	};
	int rc;

	/* A pipe writer whose reader stopped early must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	return rc;
}
