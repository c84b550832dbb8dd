/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_MANIFEST_H
#define M2M_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>
#include <m2m/ppid.h>

/*
 * Factory manifests: CSV files with a header row, one device per row.
 * Three layers, each usable alone:
 *   struct m2m_lines      bounded line reader (file descriptor or memory)
 *   struct m2m_csv_row    one line split into fields (RFC 4180 quoting)
 *   struct m2m_manifest   header -> columns; row -> struct m2m_device
 * and struct m2m_seen, the index that finds duplicates across rows.
 * Memory use is constant in the number of rows, except for m2m_seen.
 */

#define M2M_LINE_MAX		4096	/* longest line, bytes, without EOL */
#define M2M_CSV_FIELDS_MAX	64	/* most fields in one row */
#define M2M_SERIAL_MAX		64	/* longest device serial number */

/* ---- lines ------------------------------------------------------------ */

struct m2m_lines;

/*
 * A line reader over the open file descriptor fd (not closed by the
 * reader), or over the memory buf[0..len) (borrowed; must outlive the
 * reader).  Caller owns *out; free with m2m_lines_free().  Returns
 * M2M_ERR_NOMEM on failure.
 */
enum m2m_err m2m_lines_new_fd(struct m2m_ctx *ctx, struct m2m_lines **out,
			      int fd);
enum m2m_err m2m_lines_new_mem(struct m2m_ctx *ctx, struct m2m_lines **out,
			       const void *buf, size_t len);

/* Free a reader.  Accepts NULL. */
void m2m_lines_free(struct m2m_lines *lr);

/*
 * The next line: *line and *len get it without its end of line ("\n" or
 * "\r\n"; a UTF-8 byte order mark before the first line is dropped), and
 * *lineno its 1-based number.  *line is borrowed, valid until the next
 * call, and not NUL-terminated.  At the end of input returns M2M_OK with
 * *line set to NULL.
 * A line longer than M2M_LINE_MAX or holding a NUL byte returns
 * M2M_ERR_INVALID (with *lineno set); the reader has then skipped it and
 * the caller may go on.  A read error returns M2M_ERR_IO (final).
 */
enum m2m_err m2m_lines_next(struct m2m_ctx *ctx, struct m2m_lines *lr,
			    const char **line, size_t *len, uint64_t *lineno);

/* ---- CSV -------------------------------------------------------------- */

struct m2m_csv_row {
	size_t n;				/* number of fields */
	const char *field[M2M_CSV_FIELDS_MAX];	/* NUL-terminated, in buf */
	size_t len[M2M_CSV_FIELDS_MAX];
	char buf[M2M_LINE_MAX + M2M_CSV_FIELDS_MAX];
};

/*
 * Split line[0..len) (len <= M2M_LINE_MAX) into fields separated by ','.
 * A field may be quoted with '"' ("" inside stands for one quote); spaces
 * and tabs around a field are dropped.  Returns M2M_ERR_INVALID for an
 * unterminated quote, text after a closing quote, or more than
 * M2M_CSV_FIELDS_MAX fields.  An empty line is one empty field.
 */
enum m2m_err m2m_csv_split(struct m2m_ctx *ctx, struct m2m_csv_row *row,
			   const char *line, size_t len);

/* ---- JSON lines --------------------------------------------------------- */

/*
 * Split a JSON-lines row line[0..len) (len <= M2M_LINE_MAX): one object
 * whose values are strings (or null, taken as empty), such as
 *   {"serial":"SN-1","wifi":"3C:71:BF:4A:0B:2E","csr":"d1.csr"}
 * into row as if it were a CSV row under a header of names[0..nnames):
 * field i is the value of key names[i], "" when the key is absent.  Keys
 * match names exactly.  Returns M2M_ERR_INVALID for malformed JSON, a key
 * not in names, a key given twice, a value that is not a string (numbers
 * are refused: serial numbers lose leading zeros that way), an escape
 * that is not valid (\u0000 included), or anything after the object.
 */
enum m2m_err m2m_json_split(struct m2m_ctx *ctx, struct m2m_csv_row *row,
			    const char *line, size_t len,
			    const char *const *names, size_t nnames);

/* ---- device manifests ------------------------------------------------- */

struct m2m_manifest {
	size_t ncols;			/* fields in the header row */
	int serial_col;			/* column of "serial" */
	int ppid_col;			/* column of "ppid" (hex), or -1 */
	int tech_col[M2M_TECH_COUNT];	/* column of each technology, or -1 */
	uint64_t ignored;		/* bit i: column i is not ours */
};

struct m2m_device {
	size_t serial_len;
	char serial[M2M_SERIAL_MAX + 1];	/* NUL-terminated */
	struct m2m_ppid ppid;
};

/*
 * Read the header row: column names are matched case-insensitively
 * against "serial", "ppid" and the technology names.  Columns with other
 * names are marked in m->ignored for the caller (which may use some of them
 * itself) to warn about.  Returns M2M_ERR_INVALID if "serial" is missing,
 * neither "ppid" nor a technology column is present, a name repeats, or a
 * name is empty.
 */
enum m2m_err m2m_manifest_header(struct m2m_ctx *ctx, struct m2m_manifest *m,
				 const struct m2m_csv_row *header);

/*
 * Read one data row into *dev: the serial number (checked with
 * m2m_device_serial_check()) and the PPID: from the "ppid" cell (hex) or
 * made of every non-empty technology cell.  Returns M2M_ERR_INVALID for a
 * wrong number of fields, a bad serial, PPID or address (the detail starts
 * "column 'NAME': "), a row with both a PPID and addresses, or a row with
 * neither.
 */
enum m2m_err m2m_manifest_row(struct m2m_ctx *ctx,
			      const struct m2m_manifest *m,
			      const struct m2m_csv_row *row,
			      struct m2m_device *dev);

/*
 * Check a device serial number: 1 to M2M_SERIAL_MAX characters of the
 * ASN.1 PrintableString set (A-Z a-z 0-9 space ' ( ) + , - . / : = ?), as
 * the certificate subject's serialNumber requires.  M2M_ERR_INVALID if not.
 */
enum m2m_err m2m_device_serial_check(struct m2m_ctx *ctx, const char *s,
				     size_t len);

/* ---- duplicate index -------------------------------------------------- */

struct m2m_seen;

/*
 * An index of byte strings, each with a 64-bit tag (a line number, say).
 * Caller owns *out; free with m2m_seen_free().  M2M_ERR_NOMEM on failure.
 */
enum m2m_err m2m_seen_new(struct m2m_ctx *ctx, struct m2m_seen **out);

/* Free an index.  Accepts NULL. */
void m2m_seen_free(struct m2m_seen *s);

/*
 * Add key[0..len) with tag.  If the key is already there, returns
 * M2M_ERR_DUPLICATE, records nothing, and sets *first (may be NULL) to the
 * tag it was added with.  M2M_ERR_NOMEM if it cannot grow.  Records no
 * detail for M2M_ERR_DUPLICATE: the caller words it.
 */
enum m2m_err m2m_seen_add(struct m2m_ctx *ctx, struct m2m_seen *s,
			  const void *key, size_t len, uint64_t tag,
			  uint64_t *first);

/*
 * Nonzero if key[0..len) is in the index; then *tag (may be NULL) gets the
 * tag it was added with.
 */
int m2m_seen_find(const struct m2m_seen *s, const void *key, size_t len,
		  uint64_t *tag);

/* Number of keys in the index. */
size_t m2m_seen_count(const struct m2m_seen *s);

#endif
