/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-lines manifest rows, m2m_json_split(), on every line of the input.
 *
 * Oracles (abort() on violation):
 *   - a row that splits has exactly one field per name, each field
 *     NUL-terminated at its length with no NUL inside;
 *   - writing the fields back as a JSON object and splitting that gives
 *     the same fields;
 *   - a row that does not split fails with M2M_ERR_INVALID and a detail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2m/ctx.h>
#include <m2m/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct m2m_ctx *ctx;
static const char *const names[] = {
	"serial", "ppid", "wifi", "imei", "csr", "key", "out", "profile",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void oops(const char *what)
{
	fprintf(stderr, "fuzz_json: oracle failed: %s (detail '%s')\n", what,
		m2m_ctx_detail(ctx));
	abort();
}

/* The fields of row as one JSON object, escaping as needed. */
static size_t rewrite(const struct m2m_csv_row *row, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i, k;

	out[o++] = '{';
	for (i = 0; i < row->n; i++) {
		if (o + 2 * strlen(names[i]) + 8 > size)
			return 0;
		o += (size_t)snprintf(out + o, size - o, "%s\"%s\":\"",
				      i ? "," : "", names[i]);
		for (k = 0; k < row->len[i]; k++) {
			unsigned char c = (unsigned char)row->field[i][k];

			if (o + 7 > size)
				return 0;
			if (c == '"' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < 0x20) {
				memcpy(out + o, "\\u00", 4);
				o += 4;
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			} else {
				out[o++] = (char)c;
			}
		}
		if (o + 2 > size)
			return 0;
		out[o++] = '"';
	}
	if (o + 1 > size)
		return 0;
	out[o++] = '}';
	return o;
}

static void one(const char *line, size_t len)
{
	static struct m2m_csv_row row, again;
	static char text[4 * M2M_LINE_MAX];
	enum m2m_err rc;
	size_t i, n;

	m2m_ctx_clear_error(ctx);
	rc = m2m_json_split(ctx, &row, line, len, names, NNAMES);
	if (rc != M2M_OK) {
		if (rc != M2M_ERR_INVALID || !m2m_ctx_detail(ctx)[0])
			oops("a failed split is not INVALID with a detail");
		return;
	}
	if (row.n != NNAMES)
		oops("field count is not the number of names");
	for (i = 0; i < row.n; i++)
		if (strlen(row.field[i]) != row.len[i])
			oops("a field is not NUL-terminated at its length");
	n = rewrite(&row, text, sizeof(text));
	if (n == 0 || n > M2M_LINE_MAX)
		return;	/* escaping made it longer than a line may be */
	if (m2m_json_split(ctx, &again, text, n, names, NNAMES) != M2M_OK)
		oops("the fields written back do not split");
	for (i = 0; i < row.n; i++)
		if (again.len[i] != row.len[i] ||
		    memcmp(again.field[i], row.field[i], row.len[i]) != 0)
			oops("the fields written back split differently");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_lines *lr = NULL;
	const char *line;
	size_t len;
	uint64_t lineno;
	enum m2m_err rc;

	if (!ctx && m2m_ctx_new(&ctx) != M2M_OK)
		abort();
	if (m2m_lines_new_mem(ctx, &lr, data, size) != M2M_OK)
		abort();
	for (;;) {
		rc = m2m_lines_next(ctx, lr, &line, &len, &lineno);
		if (rc == M2M_ERR_INVALID)
			continue;
		if (rc != M2M_OK || !line)
			break;
		one(line, len);
	}
	m2m_lines_free(lr);
	return 0;
}
