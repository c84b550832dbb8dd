/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest parser exactly as 'm2m-idgen --batch' drives it: a line
 * reader over the input, the first non-blank line as the header
 * (m2m_csv_split() + m2m_manifest_header()), then every non-blank line
 * through m2m_csv_split() + m2m_manifest_row() + m2m_ppid_to_hex() and
 * the duplicate indexes of PPIDs (keyed by the hex form) and serials.
 *
 * Oracles (abort() on violation):
 *   - line numbers strictly increase; lines are at most M2M_LINE_MAX bytes
 *     and hold no NUL;
 *   - every failure is M2M_ERR_INVALID with a detail (the reader over
 *     memory has no I/O errors);
 *   - an accepted row has as many fields as the header, a serial of 1 to
 *     M2M_SERIAL_MAX characters, and a non-empty PPID that encodes and
 *     decodes back to the same struct;
 *   - the indexes agree with themselves: m2m_seen_find() says whether
 *     m2m_seen_add() finds a duplicate, with the same, earlier tag; a key
 *     added is found again with its tag.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>
#include <m2m/ppid.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;

/* Large: struct m2m_csv_row holds a whole line. */
static struct m2m_csv_row row;
static struct m2m_manifest man;
static struct m2m_device dev;

static void oops(const char *what, uint64_t lineno, enum m2m_err rc)
{
	fprintf(stderr,
		"fuzz_manifest: oracle failed on line %llu: %s (rc %d %s, detail '%s')\n",
		(unsigned long long)lineno, what, (int)rc, m2m_strerror(rc),
		m2m_ctx_detail(ctx));
	abort();
}

static void check_invalid(enum m2m_err rc, uint64_t lineno, const char *what)
{
	if (rc != M2M_ERR_INVALID || m2m_ctx_error(ctx) != M2M_ERR_INVALID ||
	    !m2m_ctx_detail(ctx)[0])
		oops(what, lineno, rc);
}

static int blank(const char *s, size_t len)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return len == 0;
}

/*
 * The next line, checking the reader's contract.  Returns 1 with a line,
 * 0 at the end of input, -1 for a rejected line (skipped).
 */
static int next_line(struct m2m_lines *lr, const char **line, size_t *len,
		     uint64_t *lineno, uint64_t *last)
{
	enum m2m_err rc;

	m2m_ctx_clear_error(ctx);
	rc = m2m_lines_next(ctx, lr, line, len, lineno);
	if (rc != M2M_OK) {
		check_invalid(rc, *lineno, "the line reader failed oddly");
		if (*lineno <= *last)
			oops("line numbers do not increase", *lineno, rc);
		*last = *lineno;
		return -1;
	}
	if (!*line)
		return 0;
	if (*lineno <= *last)
		oops("line numbers do not increase", *lineno, rc);
	*last = *lineno;
	if (*len > M2M_LINE_MAX || memchr(*line, '\0', *len))
		oops("a line is too long or holds a NUL", *lineno, rc);
	return 1;
}

static void check_row(uint64_t lineno)
{
	struct m2m_ppid back;
	uint8_t bin[M2M_PPID_MAX];
	enum m2m_err rc;
	size_t n;

	if (row.n != man.ncols)
		oops("accepted a row whose field count is not the header's",
		     lineno, M2M_OK);
	if (dev.serial_len < 1 || dev.serial_len > M2M_SERIAL_MAX ||
	    strlen(dev.serial) != dev.serial_len)
		oops("accepted a serial of a bad length", lineno, M2M_OK);
	if (m2m_device_serial_check(ctx, dev.serial, dev.serial_len) != M2M_OK)
		oops("accepted a serial that fails its own check", lineno,
		     M2M_OK);
	if (dev.ppid.mask == 0)
		oops("accepted a row with an empty PPID", lineno, M2M_OK);
	rc = m2m_ppid_encode(ctx, &dev.ppid, bin, sizeof(bin), &n);
	if (rc != M2M_OK)
		oops("an accepted PPID does not encode", lineno, rc);
	rc = m2m_ppid_decode(ctx, &back, bin, n);
	if (rc != M2M_OK)
		oops("an accepted PPID does not decode back", lineno, rc);
	if (back.mask != dev.ppid.mask ||
	    memcmp(back.len, dev.ppid.len, sizeof(back.len)) ||
	    memcmp(back.addr, dev.ppid.addr, sizeof(back.addr)))
		oops("an accepted PPID decodes to something else", lineno, rc);
}

/*
 * m2m_seen_find(), checked against what m2m_seen_add() says of the same
 * key (a duplicate is not recorded, so asking is harmless).
 */
static int seen_find(struct m2m_seen *s, const void *key, size_t len,
		     uint64_t lineno)
{
	uint64_t tag = 0, first = 0;
	size_t count = m2m_seen_count(s);
	enum m2m_err rc;

	if (!m2m_seen_find(s, key, len, &tag))
		return 0;
	rc = m2m_seen_add(ctx, s, key, len, lineno, &first);
	if (rc != M2M_ERR_DUPLICATE || first != tag || tag >= lineno ||
	    m2m_seen_count(s) != count)
		oops("find and add disagree on a duplicate", lineno, rc);
	return 1;
}

static void seen_add(struct m2m_seen *s, const void *key, size_t len,
		     uint64_t lineno)
{
	size_t count = m2m_seen_count(s);
	uint64_t tag = 0;
	enum m2m_err rc;

	rc = m2m_seen_add(ctx, s, key, len, lineno, NULL);
	if (rc != M2M_OK || m2m_seen_count(s) != count + 1 ||
	    !m2m_seen_find(s, key, len, &tag) || tag != lineno)
		oops("a key added is not found with its tag", lineno, rc);
}

static void rows(struct m2m_lines *lr, uint64_t last)
{
	struct m2m_seen *ppids = NULL, *serials = NULL;
	char hex[M2M_PPID_HEX_MAX];
	const char *line;
	size_t len, hexlen;
	uint64_t lineno;
	enum m2m_err rc;
	int r;

	if (m2m_seen_new(ctx, &ppids) != M2M_OK ||
	    m2m_seen_new(ctx, &serials) != M2M_OK)
		abort();
	for (;;) {
		r = next_line(lr, &line, &len, &lineno, &last);
		if (r == 0)
			break;
		if (r < 0 || blank(line, len))
			continue;
		m2m_ctx_clear_error(ctx);
		rc = m2m_csv_split(ctx, &row, line, len);
		if (rc != M2M_OK) {
			check_invalid(rc, lineno, "csv_split failed oddly");
			continue;
		}
		rc = m2m_manifest_row(ctx, &man, &row, &dev);
		if (rc != M2M_OK) {
			check_invalid(rc, lineno, "manifest_row failed oddly");
			continue;
		}
		check_row(lineno);
		rc = m2m_ppid_to_hex(ctx, &dev.ppid, hex, sizeof(hex), &hexlen);
		if (rc != M2M_OK || hexlen != strlen(hex))
			oops("to_hex failed", lineno, rc);
		/* As m2m-idgen: look both up, then add both. */
		if (seen_find(ppids, hex, hexlen, lineno) ||
		    seen_find(serials, dev.serial, dev.serial_len, lineno))
			continue;
		seen_add(ppids, hex, hexlen, lineno);
		seen_add(serials, dev.serial, dev.serial_len, lineno);
	}
	m2m_seen_free(ppids);
	m2m_seen_free(serials);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_lines *lr = NULL;
	const char *line;
	size_t len;
	uint64_t lineno, last = 0;
	enum m2m_err rc;
	int r;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	if (m2m_lines_new_mem(ctx, &lr, data, size) != M2M_OK)
		abort();
	/* The header: the first non-blank line; m2m-idgen stops on errors. */
	do
		r = next_line(lr, &line, &len, &lineno, &last);
	while (r > 0 && blank(line, len));
	if (r <= 0)
		goto out;
	m2m_ctx_clear_error(ctx);
	rc = m2m_csv_split(ctx, &row, line, len);
	if (rc == M2M_OK)
		rc = m2m_manifest_header(ctx, &man, &row);
	if (rc != M2M_OK) {
		check_invalid(rc, lineno, "the header failed oddly");
		goto out;
	}
	if (man.ncols != row.n || man.serial_col < 0 ||
	    (size_t)man.serial_col >= man.ncols)
		oops("the header has no serial column", lineno, rc);
	rows(lr, last);
out:
	m2m_lines_free(lr);
	return 0;
}
