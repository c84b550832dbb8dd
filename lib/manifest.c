/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <m2m/manifest.h>

#include "internal.h"

/* ---- lines -------------------------------------------------------------- */

#define LINES_BUF (64 * 1024)

struct m2m_lines {
	int fd;			/* -1: reading from mem */
	const unsigned char *mem;
	size_t memlen, mempos;
	char *buf;
	size_t start, end;	/* unread data: buf[start..end) */
	uint64_t lineno;
	int eof;
};

static enum m2m_err lines_new(struct m2m_ctx *ctx, struct m2m_lines **out,
			      int fd, const void *mem, size_t memlen)
{
	struct m2m_lines *lr;

	*out = NULL;
	lr = calloc(1, sizeof(*lr));
	if (!lr)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	lr->buf = malloc(LINES_BUF);
	if (!lr->buf) {
		free(lr);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	lr->fd = fd;
	lr->mem = mem;
	lr->memlen = memlen;
	*out = lr;
	return M2M_OK;
}

enum m2m_err m2m_lines_new_fd(struct m2m_ctx *ctx, struct m2m_lines **out,
			      int fd)
{
	return lines_new(ctx, out, fd, NULL, 0);
}

enum m2m_err m2m_lines_new_mem(struct m2m_ctx *ctx, struct m2m_lines **out,
			       const void *buf, size_t len)
{
	return lines_new(ctx, out, -1, buf, len);
}

void m2m_lines_free(struct m2m_lines *lr)
{
	if (!lr)
		return;
	free(lr->buf);
	free(lr);
}

/* Read more into buf[end..); 0 at end of input, -1 on error (errno). */
static ssize_t lines_fill(struct m2m_lines *lr)
{
	size_t room = LINES_BUF - lr->end;
	ssize_t n;

	if (lr->fd < 0) {
		n = (ssize_t)(lr->memlen - lr->mempos < room ?
			      lr->memlen - lr->mempos : room);
		memcpy(lr->buf + lr->end, lr->mem + lr->mempos, (size_t)n);
		lr->mempos += (size_t)n;
	} else {
		do
			n = read(lr->fd, lr->buf + lr->end, room);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
	}
	lr->end += (size_t)n;
	return n;
}

/* Make room at the end of buf by dropping what was already returned. */
static void lines_compact(struct m2m_lines *lr)
{
	if (lr->start == 0)
		return;
	memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
	lr->end -= lr->start;
	lr->start = 0;
}

/* Drop input up to and including the next newline (or to the end). */
static enum m2m_err lines_skip(struct m2m_ctx *ctx, struct m2m_lines *lr)
{
	for (;;) {
		char *nl = memchr(lr->buf + lr->start, '\n',
				  lr->end - lr->start);
		ssize_t n;

		if (nl) {
			lr->start = (size_t)(nl - lr->buf) + 1;
			return M2M_OK;
		}
		lr->start = lr->end = 0;
		if (lr->eof)
			return M2M_OK;
		n = lines_fill(lr);
		if (n < 0)
			return m2m_error(ctx, M2M_ERR_IO, "%s",
					 strerror(errno));
		if (n == 0)
			lr->eof = 1;
	}
}

enum m2m_err m2m_lines_next(struct m2m_ctx *ctx, struct m2m_lines *lr,
			    const char **line, size_t *len, uint64_t *lineno)
{
	char *p, *nl;
	size_t n;

	*line = NULL;
	*len = 0;
	for (;;) {
		nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
		if (nl)
			break;
		/*
		 * No newline yet: too long already?  A "\r" may still go, and
		 * on the first line a byte order mark.
		 */
		if (lr->end - lr->start > M2M_LINE_MAX + 1 +
		    (lr->lineno == 0 ? 3 : 0)) {
			enum m2m_err rc;

			*lineno = ++lr->lineno;
			rc = lines_skip(ctx, lr);
			if (rc != M2M_OK)
				return rc;
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "line is longer than %d bytes",
					 M2M_LINE_MAX);
		}
		if (lr->eof) {
			if (lr->start == lr->end) {
				*lineno = lr->lineno;
				return M2M_OK;	/* end of input */
			}
			break;	/* a last line without newline */
		}
		lines_compact(lr);
		n = (size_t)lines_fill(lr);
		if (n == (size_t)-1)
			return m2m_error(ctx, M2M_ERR_IO, "%s",
					 strerror(errno));
		if (n == 0)
			lr->eof = 1;
	}
	p = lr->buf + lr->start;
	n = nl ? (size_t)(nl - p) : lr->end - lr->start;
	lr->start += n + (nl ? 1 : 0);
	*lineno = ++lr->lineno;
	if (lr->lineno == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
		p += 3;
		n -= 3;
	}
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > M2M_LINE_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "line is longer than %d bytes", M2M_LINE_MAX);
	if (memchr(p, '\0', n))
		return m2m_error(ctx, M2M_ERR_INVALID, "line holds a NUL byte");
	*line = p;
	*len = n;
	return M2M_OK;
}

/* ---- CSV ---------------------------------------------------------------- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 *   line   = field *("," field)
 *   field  = *WSP (quoted / bare) *WSP
 *   quoted = DQUOTE *(any but DQUOTE / 2DQUOTE) DQUOTE
 *   bare   = *(any but ",")
 */
enum m2m_err m2m_csv_split(struct m2m_ctx *ctx, struct m2m_csv_row *row,
			   const char *line, size_t len)
{
	size_t i = 0, o = 0;

	row->n = 0;
	if (len > M2M_LINE_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "line is longer than %d bytes", M2M_LINE_MAX);
	for (;;) {
		size_t start = o;

		if (row->n == M2M_CSV_FIELDS_MAX)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "more than %d fields",
					 M2M_CSV_FIELDS_MAX);
		while (i < len && is_blank(line[i]))
			i++;
		if (i < len && line[i] == '"') {
			for (i++;; i++) {
				if (i == len)
					return m2m_error(ctx, M2M_ERR_INVALID,
							 "field %zu: quoted field is not closed",
							 row->n + 1);
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"')
						i++;
					else
						break;
				}
				row->buf[o++] = line[i];
			}
			i++;
			while (i < len && is_blank(line[i]))
				i++;
			if (i < len && line[i] != ',')
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "field %zu: text after the closing quote",
						 row->n + 1);
		} else {
			const char *comma = memchr(line + i, ',', len - i);
			size_t n = comma ? (size_t)(comma - line) - i : len - i;

			memcpy(row->buf + o, line + i, n);
			i += n;
			o += n;
			while (o > start && is_blank(row->buf[o - 1]))
				o--;
		}
		row->buf[o] = '\0';
		row->field[row->n] = row->buf + start;
		row->len[row->n] = o - start;
		row->n++;
		o++;
		if (i == len)
			return M2M_OK;
		i++;	/* the ',' */
	}
}

/* ---- JSON lines -------------------------------------------------------------- */

struct jp {
	const char *s;
	size_t i, len;
};

static void jp_space(struct jp *p)
{
	while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
		p->i++;
}

static int jp_hex4(struct jp *p, unsigned *v)
{
	size_t k;

	*v = 0;
	if (p->len - p->i < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		char c = p->s[p->i++];
		int d = (c >= '0' && c <= '9') ? c - '0' :
			(c >= 'a' && c <= 'f') ? c - 'a' + 10 :
			(c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/*
 *   string = '"' *(unescaped / escape) '"'
 *   escape = "\" ( '"' / "\" / "/" / "b" / "f" / "n" / "r" / "t" / "u" 4HEX )
 * Decoded into out[0..size) as UTF-8; *n gets the length.
 */
static int jp_string(struct jp *p, char *out, size_t size, size_t *n)
{
	size_t o = 0;

	if (p->i >= p->len || p->s[p->i] != '"')
		return -1;
	for (p->i++;;) {
		unsigned char c;
		unsigned u, lo;

		if (p->i >= p->len)
			return -1;
		c = (unsigned char)p->s[p->i++];
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)c;
			continue;
		}
		if (p->i >= p->len)
			return -1;
		c = (unsigned char)p->s[p->i++];
		switch (c) {
		case '"': case '\\': case '/':
			u = c;
			break;
		case 'b': u = '\b'; break;
		case 'f': u = '\f'; break;
		case 'n': u = '\n'; break;
		case 'r': u = '\r'; break;
		case 't': u = '\t'; break;
		case 'u':
			if (jp_hex4(p, &u) < 0 || u == 0 ||
			    (u >= 0xdc00 && u <= 0xdfff))
				return -1;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (p->len - p->i < 2 || p->s[p->i] != '\\' ||
				    p->s[p->i + 1] != 'u')
					return -1;
				p->i += 2;
				if (jp_hex4(p, &lo) < 0 || lo < 0xdc00 ||
				    lo > 0xdfff)
					return -1;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			}
			break;
		default:
			return -1;
		}
		if (o + 4 >= size)
			return -1;
		if (u < 0x80) {
			out[o++] = (char)u;
		} else if (u < 0x800) {
			out[o++] = (char)(0xc0 | u >> 6);
			out[o++] = (char)(0x80 | (u & 0x3f));
		} else if (u < 0x10000) {
			out[o++] = (char)(0xe0 | u >> 12);
			out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (u & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | u >> 18);
			out[o++] = (char)(0x80 | (u >> 12 & 0x3f));
			out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (u & 0x3f));
		}
	}
	out[o] = '\0';
	*n = o;
	return 0;
}

/*
 *   object = "{" [ member *( "," member ) ] "}"
 *   member = string ":" ( string / "null" )
 */
enum m2m_err m2m_json_split(struct m2m_ctx *ctx, struct m2m_csv_row *row,
			    const char *line, size_t len,
			    const char *const *names, size_t nnames)
{
	struct jp p = { line, 0, len };
	char key[128], q[M2M_QUOTE_MAX];
	size_t i, k, o = 0, n;
	uint64_t seen = 0;

	row->n = 0;
	if (len > M2M_LINE_MAX || nnames > M2M_CSV_FIELDS_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "line is longer than %d bytes", M2M_LINE_MAX);
	for (i = 0; i < nnames; i++) {
		row->field[i] = "";
		row->len[i] = 0;
	}
	row->n = nnames;
	jp_space(&p);
	if (p.i >= p.len || p.s[p.i++] != '{')
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "not a JSON object (it must start with '{')");
	jp_space(&p);
	if (p.i < p.len && p.s[p.i] == '}') {
		p.i++;
		goto end;
	}
	for (;;) {
		jp_space(&p);
		if (jp_string(&p, key, sizeof(key), &n) < 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "byte %zu: expected a key (a JSON string)",
					 p.i + 1);
		for (k = 0; k < nnames; k++)
			if (strcmp(key, names[k]) == 0)
				break;
		if (k == nnames)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "unknown key '%s'", m2m_quote(q, key, n));
		if (seen >> k & 1)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "key '%s' given twice", names[k]);
		seen |= (uint64_t)1 << k;
		jp_space(&p);
		if (p.i >= p.len || p.s[p.i++] != ':')
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "byte %zu: expected ':' after '%s'",
					 p.i, names[k]);
		jp_space(&p);
		if (p.len - p.i >= 4 && memcmp(p.s + p.i, "null", 4) == 0) {
			p.i += 4;
		} else {
			if (p.i >= p.len || p.s[p.i] != '"')
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "the value of '%s' must be a string",
						 names[k]);
			if (jp_string(&p, row->buf + o, sizeof(row->buf) - o,
				      &n) < 0)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "the value of '%s' is not a valid JSON string",
						 names[k]);
			if (memchr(row->buf + o, '\0', n))
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "the value of '%s' holds a NUL",
						 names[k]);
			row->field[k] = row->buf + o;
			row->len[k] = n;
			o += n + 1;
		}
		jp_space(&p);
		if (p.i < p.len && p.s[p.i] == ',') {
			p.i++;
			continue;
		}
		if (p.i < p.len && p.s[p.i] == '}') {
			p.i++;
			break;
		}
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "byte %zu: expected ',' or '}'", p.i + 1);
	}
end:
	jp_space(&p);
	if (p.i != p.len)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "byte %zu: text after the object", p.i + 1);
	return M2M_OK;
}

/* ---- device manifests ---------------------------------------------------- */

static int name_is(const char *s, size_t len, const char *name)
{
	size_t i;

	if (strlen(name) != len)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

enum m2m_err m2m_manifest_header(struct m2m_ctx *ctx, struct m2m_manifest *m,
				 const struct m2m_csv_row *h)
{
	char q[M2M_QUOTE_MAX];
	size_t i, j;
	int t, ntech = 0;

	memset(m, 0, sizeof(*m));
	m->ncols = h->n;
	m->serial_col = -1;
	m->ppid_col = -1;
	for (t = 0; t < M2M_TECH_COUNT; t++)
		m->tech_col[t] = -1;
	for (i = 0; i < h->n; i++) {
		if (h->len[i] == 0)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "header: column %zu has no name", i + 1);
		for (j = 0; j < i; j++)
			if (h->len[j] == h->len[i] &&
			    strncasecmp(h->field[i], h->field[j],
					h->len[i]) == 0)
				return m2m_error(ctx, M2M_ERR_INVALID,
						 "header: column '%s' appears twice (columns %zu and %zu)",
						 m2m_quote(q, h->field[i],
							   h->len[i]),
						 j + 1, i + 1);
		if (name_is(h->field[i], h->len[i], "serial")) {
			m->serial_col = (int)i;
			continue;
		}
		if (name_is(h->field[i], h->len[i], "ppid")) {
			m->ppid_col = (int)i;
			continue;
		}
		t = m2m_tech_lookup(h->field[i], h->len[i]);
		if (t >= 0) {
			m->tech_col[t] = (int)i;
			ntech++;
			continue;
		}
		m->ignored |= (uint64_t)1 << i;
	}
	if (m->serial_col < 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "header: no 'serial' column");
	if (ntech == 0 && m->ppid_col < 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "header: no ppid or technology column (ppid, bluetooth, wifi, wmbus, zigbee, lorawan, imei, ethernet, nfc, ieee802154)");
	return M2M_OK;
}

enum m2m_err m2m_device_serial_check(struct m2m_ctx *ctx, const char *s,
				     size_t len)
{
	static const char extra[] = " '()+,-./:=?";
	char q[M2M_QUOTE_MAX];
	size_t i;

	if (len == 0)
		return m2m_error(ctx, M2M_ERR_INVALID, "serial is empty");
	if (len > M2M_SERIAL_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "serial is %zu characters long, more than %d",
				 len, M2M_SERIAL_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c && strchr(extra, c)))
			continue;
		m2m_quote(q, s, len);
		if (c > 0x20 && c < 0x7f)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "serial '%s': '%c' is not allowed (PrintableString)",
					 q, c);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "serial '%s': byte 0x%02X is not allowed (PrintableString)",
				 q, c);
	}
	return M2M_OK;
}

enum m2m_err m2m_manifest_row(struct m2m_ctx *ctx,
			      const struct m2m_manifest *m,
			      const struct m2m_csv_row *row,
			      struct m2m_device *dev)
{
	size_t sc;
	int t;

	m2m_ppid_init(&dev->ppid);
	dev->serial_len = 0;
	dev->serial[0] = '\0';
	if (row->n != m->ncols)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "%zu fields, but the header has %zu", row->n,
				 m->ncols);
	sc = (size_t)m->serial_col;
	if (m2m_device_serial_check(ctx, row->field[sc], row->len[sc]) !=
	    M2M_OK)
		return m2m_error_prefix(ctx, "column 'serial'");
	memcpy(dev->serial, row->field[sc], row->len[sc]);
	dev->serial[row->len[sc]] = '\0';
	dev->serial_len = row->len[sc];
	for (t = 0; t < M2M_TECH_COUNT; t++) {
		int c = m->tech_col[t];

		if (c < 0 || row->len[c] == 0)
			continue;
		if (m2m_ppid_set_text(ctx, &dev->ppid, t, row->field[c],
				      row->len[c]) != M2M_OK)
			return m2m_error_prefix(ctx, "column '%s'",
						m2m_tech_name(t));
	}
	if (m->ppid_col >= 0 && row->len[m->ppid_col]) {
		size_t pc = (size_t)m->ppid_col;

		if (dev->ppid.mask)
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "give either a ppid or addresses, not both");
		if (m2m_ppid_decode_hex(ctx, &dev->ppid, row->field[pc],
					row->len[pc]) != M2M_OK)
			return m2m_error_prefix(ctx, "column 'ppid'");
	}
	if (dev->ppid.mask == 0)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 m->ppid_col >= 0 ? "no ppid or address given" :
				 "no address given (every technology column is empty)");
	return M2M_OK;
}

/* ---- duplicate index ----------------------------------------------------- */

/*
 * Open addressing with linear probing over 8-byte slots (a 32-bit hash and
 * an arena offset), at most half full; each arena record is
 * [uint32 len][uint64 tag][key].  Small slots keep a million-row manifest's
 * index in a few tens of megabytes.
 */
#define SEEN_EMPTY UINT32_MAX
#define SEEN_HDR 12

struct seen_slot {
	uint32_t hash;
	uint32_t off;	/* record in the arena; SEEN_EMPTY: free slot */
};

struct m2m_seen {
	struct seen_slot *tab;
	size_t mask;		/* table size - 1; size is a power of two */
	size_t count;
	unsigned char *arena;
	size_t used, cap;
};

static uint32_t seen_hash(const unsigned char *k, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	/* Eight bytes at a time, multiply and fold; keys are short. */
	for (; len >= 8; k += 8, len -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	if (len)
		memcpy(&w, k, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

static struct seen_slot *seen_table(size_t size)
{
	struct seen_slot *tab = malloc(size * sizeof(*tab));
	size_t i;

	if (!tab)
		return NULL;
	for (i = 0; i < size; i++)
		tab[i].off = SEEN_EMPTY;
	return tab;
}

enum m2m_err m2m_seen_new(struct m2m_ctx *ctx, struct m2m_seen **out)
{
	struct m2m_seen *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	s->tab = seen_table(1024);
	if (!s->tab) {
		free(s);
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	}
	s->mask = 1023;
	*out = s;
	return M2M_OK;
}

void m2m_seen_free(struct m2m_seen *s)
{
	if (!s)
		return;
	free(s->tab);
	free(s->arena);
	free(s);
}

size_t m2m_seen_count(const struct m2m_seen *s)
{
	return s->count;
}

static int seen_grow(struct m2m_seen *s)
{
	size_t size = (s->mask + 1) * 2, i;
	struct seen_slot *tab = seen_table(size);

	if (!tab)
		return -1;
	for (i = 0; i <= s->mask; i++) {
		size_t j;

		if (s->tab[i].off == SEEN_EMPTY)
			continue;
		for (j = s->tab[i].hash & (size - 1); tab[j].off != SEEN_EMPTY;
		     j = (j + 1) & (size - 1))
			;
		tab[j] = s->tab[i];
	}
	free(s->tab);
	s->tab = tab;
	s->mask = size - 1;
	return 0;
}

/* The slot holding key, or the free slot where it would go. */
static size_t seen_lookup(const struct m2m_seen *s, uint32_t h,
			  const void *key, size_t len)
{
	size_t j;

	for (j = h & s->mask; s->tab[j].off != SEEN_EMPTY;
	     j = (j + 1) & s->mask) {
		const unsigned char *rec = s->arena + s->tab[j].off;
		uint32_t rlen;

		if (s->tab[j].hash != h)
			continue;
		memcpy(&rlen, rec, sizeof(rlen));
		if (rlen == len &&
		    (len == 0 || memcmp(rec + SEEN_HDR, key, len) == 0))
			break;
	}
	return j;
}

static uint64_t seen_tag(const struct m2m_seen *s, size_t j)
{
	uint64_t tag;

	memcpy(&tag, s->arena + s->tab[j].off + 4, sizeof(tag));
	return tag;
}

int m2m_seen_find(const struct m2m_seen *s, const void *key, size_t len,
		  uint64_t *tag)
{
	size_t j = seen_lookup(s, seen_hash(key, len), key, len);

	if (s->tab[j].off == SEEN_EMPTY)
		return 0;
	if (tag)
		*tag = seen_tag(s, j);
	return 1;
}

enum m2m_err m2m_seen_add(struct m2m_ctx *ctx, struct m2m_seen *s,
			  const void *key, size_t len, uint64_t tag,
			  uint64_t *first)
{
	uint32_t h = seen_hash(key, len), rlen;
	size_t j = seen_lookup(s, h, key, len), need;

	if (s->tab[j].off != SEEN_EMPTY) {
		if (first)
			*first = seen_tag(s, j);
		return M2M_ERR_DUPLICATE;
	}
	if (len > UINT32_MAX - SEEN_HDR ||
	    s->used + SEEN_HDR + len >= SEEN_EMPTY)
		return m2m_error(ctx, M2M_ERR_NOMEM, "duplicate index is full");
	need = s->used + SEEN_HDR + len;
	if (need > s->cap) {
		size_t cap = s->cap ? s->cap : 64 * 1024;
		unsigned char *a;

		while (cap < need)
			cap *= 2;
		a = realloc(s->arena, cap);
		if (!a)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		s->arena = a;
		s->cap = cap;
	}
	rlen = (uint32_t)len;
	memcpy(s->arena + s->used, &rlen, sizeof(rlen));
	memcpy(s->arena + s->used + 4, &tag, sizeof(tag));
	if (len)
		memcpy(s->arena + s->used + SEEN_HDR, key, len);
	s->tab[j].hash = h;
	s->tab[j].off = (uint32_t)s->used;
	s->used = need;
	s->count++;
	if (s->count * 2 > s->mask + 1 && seen_grow(s) < 0)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	return M2M_OK;
}
