/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DER objects read one at a time from PEM bundles or concatenated DER,
 * through one bounded buffer.  PEM (RFC 7468, the lax form): lines
 *   -----BEGIN LABEL-----
 *   base64, white space ignored, '=' padding at the end only
 *   -----END LABEL-----
 * with anything outside the blocks skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <m2m/certstream.h>

#include "internal.h"

#define READ_CHUNK	(64 * 1024)
#define BUF_SIZE	(READ_CHUNK + M2M_CERTSTREAM_LINE_MAX + 1)
#define LABEL_MAX	32

struct m2m_certstream {
	int fd;			/* -1 for memory */
	int own_fd;
	char *name;
	char label[LABEL_MAX];
	const char *what;	/* "certificate", "CRL", ... for messages */
	size_t max;
	const uint8_t *buf;	/* the bytes at hand: rbuf, or the memory */
	uint8_t *rbuf;
	size_t len, pos;	/* buf[pos..len) not yet used */
	int eof;		/* nothing more to read into buf */
	int mode;		/* 0 undecided, 'D' DER, 'P' PEM */
	int done;		/* at the end, or after a failure */
	uint64_t count, line;
	uint8_t *obj;		/* the object handed out */
	size_t obj_len, obj_cap;	/* obj_cap grows up to max */
};

static enum m2m_err stream_new(struct m2m_ctx *ctx, const char *name,
			       const char *label, size_t max,
			       struct m2m_certstream **out)
{
	struct m2m_certstream *s;

	*out = NULL;
	if (!label)
		label = "CERTIFICATE";
	if (strlen(label) >= LABEL_MAX || max == 0)
		return m2m_error(ctx, M2M_ERR_USAGE, "bad certificate stream");
	s = calloc(1, sizeof(*s));
	if (!s)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	s->fd = -1;
	s->name = strdup(name);
	if (!s->name) {
		m2m_certstream_free(s);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	strcpy(s->label, label);
	s->what = strcmp(label, "CERTIFICATE") == 0 ? "certificate" :
		  strcmp(label, "X509 CRL") == 0 ? "CRL" : s->label;
	s->max = max;
	*out = s;
	return M2M_OK;
}

enum m2m_err m2m_certstream_open(struct m2m_ctx *ctx, const char *path,
				 const char *label, size_t max,
				 struct m2m_certstream **out)
{
	struct m2m_certstream *s = NULL;
	struct stat st;
	int stdin_ = strcmp(path, "-") == 0;
	enum m2m_err rc;

	*out = NULL;
	rc = stream_new(ctx, stdin_ ? "<stdin>" : path, label, max, &s);
	if (rc != M2M_OK)
		return rc;
	s->rbuf = malloc(BUF_SIZE);
	if (!s->rbuf) {
		m2m_certstream_free(s);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	s->buf = s->rbuf;
	if (stdin_) {
		s->fd = STDIN_FILENO;
	} else {
		s->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			rc = m2m_error(ctx, errno == ENOENT ? M2M_ERR_NOT_FOUND :
				       M2M_ERR_IO, "cannot open '%s': %s", path,
				       strerror(errno));
			m2m_certstream_free(s);
			return rc;
		}
		s->own_fd = 1;
		if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			m2m_certstream_free(s);
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "'%s' is a directory", path);
		}
	}
	*out = s;
	return M2M_OK;
}

enum m2m_err m2m_certstream_new_mem(struct m2m_ctx *ctx, const void *buf,
				    size_t len, const char *label, size_t max,
				    struct m2m_certstream **out)
{
	enum m2m_err rc = stream_new(ctx, "<memory>", label, max, out);

	if (rc != M2M_OK)
		return rc;
	(*out)->buf = buf;
	(*out)->len = len;
	(*out)->eof = 1;
	return M2M_OK;
}

void m2m_certstream_free(struct m2m_certstream *s)
{
	if (!s)
		return;
	if (s->own_fd)
		close(s->fd);
	free(s->rbuf);
	free(s->obj);
	free(s->name);
	free(s);
}

uint64_t m2m_certstream_count(const struct m2m_certstream *s)
{
	return s->count;
}

const char *m2m_certstream_name(const struct m2m_certstream *s)
{
	return s->name;
}

/*
 * Make at least want bytes available at buf[pos..], if the input has
 * them (want <= READ_CHUNK).  Returns the number available, or (size_t)-1
 * after recording a read error.
 */
static size_t fill(struct m2m_ctx *ctx, struct m2m_certstream *s, size_t want)
{
	ssize_t n;

	while (s->len - s->pos < want && !s->eof) {
		if (s->pos) {
			memmove(s->rbuf, s->rbuf + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		n = read(s->fd, s->rbuf + s->len,
			 BUF_SIZE - s->len < READ_CHUNK ? BUF_SIZE - s->len :
			 READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			m2m_error(ctx, M2M_ERR_IO, "cannot read '%s': %s",
				  s->name, strerror(errno));
			return (size_t)-1;
		}
		if (n == 0)
			s->eof = 1;
		s->len += (size_t)n;
	}
	return s->len - s->pos;
}

__attribute__((format(printf, 3, 4)))
static enum m2m_err bad(struct m2m_ctx *ctx, struct m2m_certstream *s,
			const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->done = 1;
	return m2m_error(ctx, M2M_ERR_INVALID, "%s %llu: %s", s->what,
			 (unsigned long long)s->count + 1, msg);
}

/* Room for n bytes of object (n <= max).  0 if memory runs out. */
static int obj_room(struct m2m_certstream *s, size_t n)
{
	size_t cap = s->obj_cap ? s->obj_cap : 4096;
	uint8_t *p;

	if (n <= s->obj_cap)
		return 1;
	while (cap < n)
		cap = cap > s->max / 2 ? s->max : 2 * cap;
	p = realloc(s->obj, cap);
	if (!p)
		return 0;
	s->obj = p;
	s->obj_cap = cap;
	return 1;
}

/* ---- DER ------------------------------------------------------------------- */

static enum m2m_err next_der(struct m2m_ctx *ctx, struct m2m_certstream *s)
{
	size_t have, hdr, total, i, n, k;
	const uint8_t *p;

	have = fill(ctx, s, 6);
	if (have == (size_t)-1)
		return M2M_ERR_IO;
	if (have == 0) {
		s->done = 1;
		return M2M_OK;
	}
	p = s->buf + s->pos;
	if (p[0] != 0x30 || have < 2)
		return bad(ctx, s, "not a DER SEQUENCE");
	if (p[1] < 0x80) {
		hdr = 2;
		n = p[1];
	} else {
		k = p[1] & 0x7f;
		if (k == 0 || k > 4 || have < 2 + k)
			return bad(ctx, s, "not a definite-length DER SEQUENCE");
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | p[2 + i];
		hdr = 2 + k;
	}
	if (hdr > s->max || n > s->max - hdr)
		return bad(ctx, s, "larger than %zu bytes", s->max);
	total = hdr + n;
	if (!obj_room(s, total)) {
		s->done = 1;
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	/* Copy in chunks: the object may be larger than the buffer. */
	s->obj_len = 0;
	while (s->obj_len < total) {
		have = fill(ctx, s, 1);
		if (have == (size_t)-1)
			return M2M_ERR_IO;
		if (have == 0)
			return bad(ctx, s, "cut short after %zu of %zu bytes",
				   s->obj_len, total);
		k = total - s->obj_len < have ? total - s->obj_len : have;
		memcpy(s->obj + s->obj_len, s->buf + s->pos, k);
		s->obj_len += k;
		s->pos += k;
	}
	return M2M_OK;
}

/* ---- PEM ------------------------------------------------------------------- */

/*
 * The next line without its end (LF or CRLF): *line NULL at the end of
 * the input.  M2M_ERR_INVALID for one longer than the limit.
 */
static enum m2m_err get_line(struct m2m_ctx *ctx, struct m2m_certstream *s,
			     const char **line, size_t *len)
{
	const uint8_t *p, *nl;
	size_t have, scanned = 0, n;

	*line = NULL;
	for (;;) {
		have = s->len - s->pos;
		p = s->buf + s->pos;
		nl = memchr(p + scanned, '\n', have - scanned);
		if (nl || have > M2M_CERTSTREAM_LINE_MAX || s->eof)
			break;
		scanned = have;
		if (fill(ctx, s, have + 1) == (size_t)-1)
			return M2M_ERR_IO;
	}
	if (!nl && have == 0)
		return M2M_OK;
	n = nl ? (size_t)(nl - p) : have;
	if (n > M2M_CERTSTREAM_LINE_MAX)
		return bad(ctx, s, "line %llu is longer than %d bytes",
			   (unsigned long long)s->line + 1,
			   M2M_CERTSTREAM_LINE_MAX);
	s->pos += nl ? n + 1 : n;
	s->line++;
	if (n && p[n - 1] == '\r')
		n--;
	*line = (const char *)p;
	*len = n;
	return M2M_OK;
}

static int starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(line, prefix, n) == 0;
}

/* line, its trailing blanks dropped, is "-----WORD LABEL-----". */
static int armour(const char *line, size_t len, const char *word,
		  const char *label)
{
	size_t w = strlen(word), l = strlen(label);

	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return len == 5 + w + 1 + l + 5 && memcmp(line, "-----", 5) == 0 &&
	       memcmp(line + 5, word, w) == 0 && line[5 + w] == ' ' &&
	       memcmp(line + 6 + w, label, l) == 0 &&
	       memcmp(line + 6 + w + l, "-----", 5) == 0;
}

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

struct b64_state {
	unsigned acc;		/* bits not yet written */
	int nbits;
	int pad;		/* '=' seen: only more '=' and blanks may follow */
	size_t chars;		/* base64 characters, padding included */
};

/* Decode one body line into s->obj.  Returns 0, or -1 with *why set. */
static int b64_line(struct m2m_certstream *s, struct b64_state *st,
		    const char *line, size_t len, const char **why)
{
	size_t i;
	int v;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			st->pad++;
			st->chars++;
			if (st->pad > 2) {
				*why = "too much base64 padding";
				return -1;
			}
			continue;
		}
		v = b64(c);
		if (v < 0 || st->pad) {
			*why = v < 0 ? "not base64" : "base64 after the padding";
			return -1;
		}
		st->chars++;
		st->acc = (st->acc << 6 | (unsigned)v) & 0xffffff;
		st->nbits += 6;
		if (st->nbits >= 8) {
			st->nbits -= 8;
			if (s->obj_len == s->max) {
				*why = "too large";
				return -1;
			}
			if (!obj_room(s, s->obj_len + 1)) {
				*why = "out of memory";
				return -1;
			}
			s->obj[s->obj_len++] = (uint8_t)(st->acc >> st->nbits);
		}
	}
	return 0;
}

static enum m2m_err next_pem(struct m2m_ctx *ctx, struct m2m_certstream *s)
{
	struct b64_state st;
	const char *line, *why = NULL;
	size_t len;
	uint64_t begin = 0;
	int in = 0, foreign = 0;
	enum m2m_err rc;

	memset(&st, 0, sizeof(st));
	s->obj_len = 0;
	for (;;) {
		rc = get_line(ctx, s, &line, &len);
		if (rc != M2M_OK)
			return rc;
		if (!line)
			break;
		if (!in) {
			if (foreign) {
				foreign = !starts(line, len, "-----END ");
				continue;
			}
			if (armour(line, len, "BEGIN", s->label)) {
				in = 1;
				begin = s->line;
			} else if (starts(line, len, "-----BEGIN ")) {
				foreign = 1;
			}
			continue;
		}
		if (starts(line, len, "-----END ")) {
			if (!armour(line, len, "END", s->label))
				return bad(ctx, s,
					   "the block begun on line %llu ends with another label",
					   (unsigned long long)begin);
			if (st.chars % 4)
				return bad(ctx, s,
					   "the base64 of the block begun on line %llu is cut short",
					   (unsigned long long)begin);
			if (s->obj_len == 0)
				return bad(ctx, s, "the block begun on line %llu is empty",
					   (unsigned long long)begin);
			return M2M_OK;
		}
		if (b64_line(s, &st, line, len, &why) < 0) {
			if (strcmp(why, "too large") == 0)
				return bad(ctx, s, "larger than %zu bytes",
					   s->max);
			if (strcmp(why, "out of memory") == 0) {
				s->done = 1;
				return m2m_error(ctx, M2M_ERR_NOMEM,
						 "out of memory");
			}
			return bad(ctx, s, "line %llu: %s",
				   (unsigned long long)s->line, why);
		}
	}
	if (in)
		return bad(ctx, s, "the block begun on line %llu is cut short (no END line)",
			   (unsigned long long)begin);
	s->done = 1;
	return M2M_OK;
}

enum m2m_err m2m_certstream_next(struct m2m_ctx *ctx, struct m2m_certstream *s,
				 const uint8_t **der, size_t *len)
{
	size_t have;
	enum m2m_err rc;

	*der = NULL;
	*len = 0;
	if (s->done)
		return M2M_OK;
	if (!s->mode) {
		have = fill(ctx, s, 1);
		if (have == (size_t)-1) {
			s->done = 1;
			return M2M_ERR_IO;
		}
		s->mode = have && s->buf[s->pos] == 0x30 ? 'D' : 'P';
	}
	rc = s->mode == 'D' ? next_der(ctx, s) : next_pem(ctx, s);
	if (rc != M2M_OK) {
		s->done = 1;
		return rc;
	}
	if (s->done) {
		if (s->count == 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "no %s (no '-----BEGIN %s-----' line)",
					 s->what, s->label);
		return M2M_OK;
	}
	s->count++;
	*der = s->obj;
	*len = s->obj_len;
	return M2M_OK;
}
