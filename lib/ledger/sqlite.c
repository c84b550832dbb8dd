/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite ledger back-end: the only file that includes <sqlite3.h>.
 *
 * One database file in WAL mode with synchronous=FULL, so that a commit is
 * on disk when it returns.  Writers take the lock at BEGIN IMMEDIATE, so
 * several processes serialise (waiting up to the busy timeout) instead of
 * failing halfway through a transaction.  Every statement is prepared once
 * per open ledger and reused: issuance writes thousands of rows a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../internal.h"
#include "ledger.h"

#define SCHEMA_VERSION	1
#define BUSY_TIMEOUT_MS	10000

/*
 * certs.id is the order of issuance: an INTEGER PRIMARY KEY, which VACUUM
 * never renumbers (a plain rowid it may).  So the serial is a UNIQUE
 * column, and a uniqueness failure is told apart (serial or PPID) by
 * looking the serial up.  Every index ends in the rowid, so a scan of one
 * index value is already in order of issuance: listing needs no sort.
 */
static const char schema_sql[] =
	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE certs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  serial TEXT NOT NULL UNIQUE,\n"
	"  profile TEXT NOT NULL,\n"
	"  subject TEXT NOT NULL,\n"
	"  ppid BLOB,\n"
	"  device_serial TEXT,\n"
	"  vouched_by TEXT,\n"
	"  issued_at INTEGER NOT NULL,\n"
	"  not_before INTEGER NOT NULL,\n"
	"  not_after INTEGER NOT NULL,\n"
	"  status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1)),\n"
	"  revoked_at INTEGER,\n"
	"  reason INTEGER,\n"
	"  der BLOB NOT NULL\n"
	");\n"
	"CREATE UNIQUE INDEX certs_one_valid ON certs (profile, ppid)\n"
	"  WHERE ppid IS NOT NULL AND status = 0;\n"
	"CREATE UNIQUE INDEX certs_one_valid_device ON certs\n"
	"  (profile, device_serial)\n"
	"  WHERE device_serial IS NOT NULL AND status = 0;\n"
	"CREATE INDEX certs_ppid ON certs (ppid);\n"
	"CREATE INDEX certs_profile ON certs (profile);\n"
	"CREATE INDEX certs_status ON certs (status);\n"
	"CREATE TABLE crls (\n"
	"  number INTEGER PRIMARY KEY,\n"
	"  this_update INTEGER,\n"
	"  der BLOB\n"
	");\n"
	"CREATE TABLE audit (\n"
	"  seq INTEGER PRIMARY KEY,\n"
	"  time INTEGER NOT NULL,\n"
	"  op TEXT NOT NULL,\n"
	"  detail TEXT NOT NULL,\n"
	"  prev_hash BLOB NOT NULL,\n"
	"  hash BLOB NOT NULL\n"
	");\n"
	"INSERT INTO meta (key, value) VALUES ('schema_version', '1'),\n"
	"  ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));\n";

#define CERT_COLS "serial, profile, subject, ppid, device_serial, " \
	"vouched_by, issued_at, not_before, not_after, status, revoked_at, " \
	"reason, der"

enum stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_ADD, ST_GET, ST_FIND, ST_FIND_DEVICE, ST_REVOKE,
	ST_CRL_NEXT, ST_CRL_ADD, ST_CRL_GET, ST_CRL_LIST, ST_CRL_PUT,
	ST_AUDIT_LAST, ST_AUDIT_ADD, ST_AUDIT_LIST,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_ADD] = "INSERT INTO certs (serial, profile, subject, ppid, "
		"device_serial, vouched_by, issued_at, not_before, not_after, "
		"der) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[ST_GET] = "SELECT " CERT_COLS " FROM certs WHERE serial = ?1",
	[ST_FIND] = "SELECT " CERT_COLS " FROM certs WHERE profile = ?1 "
		"AND ppid = ?2 AND ppid IS NOT NULL AND status = 0",
	[ST_FIND_DEVICE] = "SELECT " CERT_COLS " FROM certs WHERE profile = ?1 "
		"AND device_serial = ?2 AND device_serial IS NOT NULL "
		"AND status = 0",
	[ST_REVOKE] = "UPDATE certs SET status = 1, revoked_at = ?2, "
		"reason = ?3 WHERE serial = ?1 AND status = 0",
	[ST_CRL_NEXT] = "INSERT INTO crls (number) "
		"SELECT coalesce(max(number), 0) + 1 FROM crls RETURNING number",
	[ST_CRL_ADD] = "UPDATE crls SET this_update = ?2, der = ?3 "
		"WHERE number = ?1 AND der IS NULL",
	[ST_CRL_GET] = "SELECT der IS NOT NULL FROM crls WHERE number = ?1",
	[ST_CRL_LIST] = "SELECT number, this_update, der FROM crls "
		"ORDER BY number",
	[ST_CRL_PUT] = "INSERT INTO crls (number, this_update, der) "
		"VALUES (?1, ?2, ?3)",
	[ST_AUDIT_LAST] = "SELECT seq, hash FROM audit "
		"ORDER BY seq DESC LIMIT 1",
	[ST_AUDIT_ADD] = "INSERT INTO audit (seq, time, op, detail, "
		"prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_AUDIT_LIST] = "SELECT seq, time, op, detail, prev_hash, hash "
		"FROM audit ORDER BY seq",
};

/* m2m_ledger_list's statements, one per filter shape, made on first use. */
#define LIST_SHAPES 16		/* status 0..3 x profile x ppid */

struct sq {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	sqlite3_stmt *list[LIST_SHAPES];
	char *buf;		/* the record a lookup returned */
	size_t bufsize;
};

static struct sq *sq_of(struct m2m_ledger *l)
{
	return l->be;
}

/* Record a failure of SQLite call rc ("cannot WHAT: why"). */
static enum m2m_err sq_error(struct m2m_ctx *ctx, struct sq *s, int rc,
			     const char *what)
{
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot %s: ledger is busy (another process holds it)",
				 what);
	if ((rc & 0xff) == SQLITE_NOMEM)
		return m2m_error(ctx, M2M_ERR_NOMEM, "cannot %s: out of memory",
				 what);
	return m2m_error(ctx, M2M_ERR_BACKEND, "cannot %s: %s", what,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static void sq_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step a statement that returns no row (or only its first); reset it. */
static int sq_step_once(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	return r == SQLITE_ROW ? SQLITE_DONE : r;
}

/* ---- records ------------------------------------------------------------ */

static const char *col_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return (const char *)sqlite3_column_text(st, i);
}

/*
 * The record in the current row of st (CERT_COLS), borrowing st's memory.
 * Returns 0 if a required column is missing (out of memory, or a damaged
 * database).
 */
static int row_record(sqlite3_stmt *st, struct m2m_cert_record *r)
{
	memset(r, 0, sizeof(*r));
	r->serial = col_text(st, 0);
	r->profile = col_text(st, 1);
	r->subject = col_text(st, 2);
	if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
		r->ppid = sqlite3_column_blob(st, 3);
		r->ppid_len = (size_t)sqlite3_column_bytes(st, 3);
	}
	r->device_serial = col_text(st, 4);
	r->vouched_by = col_text(st, 5);
	r->issued_at = sqlite3_column_int64(st, 6);
	r->not_before = sqlite3_column_int64(st, 7);
	r->not_after = sqlite3_column_int64(st, 8);
	r->status = sqlite3_column_int(st, 9) ? M2M_CERT_REVOKED :
		M2M_CERT_VALID;
	r->revoked_at = sqlite3_column_int64(st, 10);
	r->reason = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 :
		sqlite3_column_int(st, 11);
	r->der = sqlite3_column_blob(st, 12);
	r->der_len = (size_t)sqlite3_column_bytes(st, 12);
	if (!r->ppid)
		r->ppid_len = 0;
	return r->serial && r->profile && r->subject && r->der;
}

/* Append n bytes of p (and a NUL if text) to s->buf at *o. */
static const void *buf_put(struct sq *s, size_t *o, const void *p, size_t n,
			   int text)
{
	char *dst = s->buf + *o;

	if (!p)
		return NULL;
	memcpy(dst, p, n);
	if (text)
		dst[n] = '\0';
	*o += n + (text ? 1 : 0);
	return dst;
}

/* As row_record(), into memory of s that lasts until the next lookup. */
static enum m2m_err row_copy(struct m2m_ctx *ctx, struct sq *s,
			     sqlite3_stmt *st, struct m2m_cert_record *r)
{
	struct m2m_cert_record b;
	const char *text[5];
	size_t len[5], need, o = 0;
	int i;

	if (!row_record(st, &b))
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "ledger '%s': a certificate record lacks a column",
				 s->path);
	text[0] = b.serial;
	text[1] = b.profile;
	text[2] = b.subject;
	text[3] = b.device_serial;
	text[4] = b.vouched_by;
	need = b.ppid_len + b.der_len;
	for (i = 0; i < 5; i++) {
		len[i] = text[i] ? strlen(text[i]) : 0;
		need += len[i] + 1;
	}
	if (need > s->bufsize) {
		char *p = realloc(s->buf, need);

		if (!p)
			return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		s->buf = p;
		s->bufsize = need;
	}
	*r = b;
	r->serial = buf_put(s, &o, text[0], len[0], 1);
	r->profile = buf_put(s, &o, text[1], len[1], 1);
	r->subject = buf_put(s, &o, text[2], len[2], 1);
	r->device_serial = buf_put(s, &o, text[3], len[3], 1);
	r->vouched_by = buf_put(s, &o, text[4], len[4], 1);
	r->ppid = buf_put(s, &o, b.ppid, b.ppid_len, 0);
	r->der = buf_put(s, &o, b.der, b.der_len, 0);
	return M2M_OK;
}

/* ---- open and close ----------------------------------------------------- */

static void sq_close(struct m2m_ledger *l)
{
	struct sq *s = sq_of(l);
	int i;

	if (!s)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	for (i = 0; i < LIST_SHAPES; i++)
		sqlite3_finalize(s->list[i]);
	/* Closing rolls back an open transaction. */
	sqlite3_close(s->db);
	free(s->buf);
	free(s->path);
	free(s);
	l->be = NULL;
}

static enum m2m_err not_a_ledger(struct m2m_ctx *ctx, struct sq *s)
{
	char q[M2M_QUOTE_MAX];

	return m2m_error(ctx, M2M_ERR_INVALID, "'%s' is not an m2m ledger",
			 m2m_quote(q, s->path, strlen(s->path)));
}

/* Run sql, for open-time work only; failures are the caller's to name. */
static int sq_exec(struct sq *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

/*
 * What the file holds: *objects, the number of schema objects, and *meta,
 * whether our meta table is one of them.
 */
static enum m2m_err sq_inspect(struct m2m_ctx *ctx, struct sq *s,
			       int *objects, int *meta)
{
	sqlite3_stmt *st = NULL;
	enum m2m_err rc = M2M_OK;
	int r;

	r = sqlite3_prepare_v2(s->db,
			       "SELECT count(*), coalesce(sum(type = 'table' "
			       "AND name = 'meta'), 0) FROM sqlite_master",
			       -1, &st, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*objects = sqlite3_column_int(st, 0);
		*meta = sqlite3_column_int(st, 1);
	} else if ((r & 0xff) == SQLITE_NOTADB) {
		rc = not_a_ledger(ctx, s);
	} else {
		rc = sq_error(ctx, s, r, "read the ledger");
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * One attempt at giving an empty database the schema; SQLite's code, and
 * its message in msg.  Another process may be doing the same: whoever
 * takes the write lock first creates the schema.
 */
static int sq_create_once(struct sq *s, char msg[256])
{
	sqlite3_stmt *st = NULL;
	int r, objects = -1;

	r = sq_exec(s, "PRAGMA journal_mode=WAL");
	if (r == SQLITE_OK)
		r = sq_exec(s, "BEGIN IMMEDIATE");
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master",
				       -1, &st, NULL);
	if (r == SQLITE_OK) {
		r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			objects = sqlite3_column_int(st, 0);
			r = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (r == SQLITE_OK && objects == 0)
		r = sq_exec(s, schema_sql);
	if (r == SQLITE_OK)
		r = sq_exec(s, "COMMIT");
	if (r != SQLITE_OK) {
		snprintf(msg, 256, "%s", sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			sq_exec(s, "ROLLBACK");
	}
	return r;
}

/*
 * Give an empty database the schema.  A new file is not in WAL mode yet,
 * and two processes that both read it and then want to write it get
 * SQLITE_BUSY at once, without the busy handler (which would deadlock):
 * so retry, with all locks released, for up to the busy timeout.
 */
static enum m2m_err sq_create(struct m2m_ctx *ctx, struct sq *s)
{
	struct timespec pause = { 0, 10 * 1000000L };
	char msg[256];
	int r, waited;

	for (waited = 0;; waited += 10) {
		r = sq_create_once(s, msg);
		if ((r & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
			break;
		nanosleep(&pause, NULL);
	}
	if (r == SQLITE_OK)
		return M2M_OK;
	if ((r & 0xff) == SQLITE_BUSY)
		return sq_error(ctx, s, r, "create the ledger");
	return m2m_error(ctx, M2M_ERR_BACKEND, "cannot create the ledger: %s",
			 msg);
}

/* The schema version in meta, checked. */
static enum m2m_err sq_version(struct m2m_ctx *ctx, struct sq *s,
			       unsigned flags, int *version)
{
	sqlite3_stmt *st = NULL;
	const char *v = NULL;
	char q[M2M_QUOTE_MAX];
	enum m2m_err rc;
	long n = 0;
	char *end = NULL;
	int r;

	r = sqlite3_prepare_v2(s->db, "SELECT value FROM meta "
			       "WHERE key = 'schema_version'", -1, &st, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		v = (const char *)sqlite3_column_text(st, 0);
	else if (r != SQLITE_DONE) {
		rc = sq_error(ctx, s, r, "read the ledger's schema version");
		goto out;
	}
	if (v) {
		errno = 0;
		n = strtol(v, &end, 10);
	}
	if (!v || !*v || *end || errno || n < 1) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s' is not an m2m ledger (no valid schema version)",
			       m2m_quote(q, s->path, strlen(s->path)));
		goto out;
	}
	if (n > SCHEMA_VERSION) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "ledger '%s' has schema version %ld, newer than this m2m reads (%d)",
			       m2m_quote(q, s->path, strlen(s->path)), n,
			       SCHEMA_VERSION);
		goto out;
	}
	if (n < SCHEMA_VERSION && !(flags & M2M_LEDGER_ANY_VERSION)) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "ledger '%s' has schema version %ld, older than this m2m uses (%d): migrate it",
			       m2m_quote(q, s->path, strlen(s->path)), n,
			       SCHEMA_VERSION);
		goto out;
	}
	*version = (int)n;
	rc = M2M_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Check what is at path: a regular file, or (with M2M_LEDGER_CREATE)
 * nothing, in which case create it empty and set *created.
 */
static enum m2m_err sq_file(struct m2m_ctx *ctx, struct sq *s,
			    unsigned flags, int *created)
{
	char q[M2M_QUOTE_MAX];
	struct stat sb;
	int fd;

	m2m_quote(q, s->path, strlen(s->path));
	if (lstat(s->path, &sb) == 0) {
		if (S_ISLNK(sb.st_mode))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "ledger '%s' is a symbolic link; give the file itself",
					 q);
		if (!S_ISREG(sb.st_mode))
			return not_a_ledger(ctx, s);
		return M2M_OK;
	}
	if (errno != ENOENT)
		return m2m_error(ctx, M2M_ERR_IO, "cannot open ledger '%s': %s",
				 q, strerror(errno));
	if (!(flags & M2M_LEDGER_CREATE))
		return m2m_error(ctx, M2M_ERR_NOT_FOUND, "no ledger at '%s'", q);
	/*
	 * Made here, not by SQLite, which would make it 0644: issuance
	 * records are nobody else's business.  SQLite gives the WAL and
	 * shared-memory files the database's mode.
	 */
	fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		  O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)	/* EEXIST: another creator */
		return m2m_error(ctx, M2M_ERR_IO, "cannot create ledger '%s': %s",
				 q, strerror(errno));
	if (fd >= 0) {
		close(fd);
		*created = 1;
	}
	return M2M_OK;
}

/*
 * path with its directory resolved, for SQLITE_OPEN_NOFOLLOW, which
 * refuses a symbolic link anywhere in the path: the last component is
 * what must not be one.  Caller frees.
 */
static char *resolve_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char *dir, *real = NULL, *out = NULL;
	size_t n;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir)
		real = realpath(dir, NULL);
	if (real) {
		n = strlen(real) + strlen(base) + 2;
		out = malloc(n);
		if (out)
			snprintf(out, n, "%s%s%s", real,
				 strcmp(real, "/") ? "/" : "", base);
	}
	free(real);
	free(dir);
	return out;
}

static enum m2m_err sq_open(struct m2m_ctx *ctx, struct m2m_ledger *l,
			    const char *path, unsigned flags)
{
	struct sq *s = NULL;
	struct stat sb;
	char q[M2M_QUOTE_MAX], *real = NULL;
	enum m2m_err rc = M2M_ERR_NOMEM;
	int objects = 0, meta = 0, had = 0, created = 0, oflags, r, i;

	if (!*path)
		return m2m_error(ctx, M2M_ERR_USAGE, "no ledger path");
	m2m_quote(q, path, strlen(path));
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		m2m_error(ctx, rc, "out of memory");
		goto out;
	}
	rc = sq_file(ctx, s, flags, &created);
	if (rc != M2M_OK)
		goto out;
	real = resolve_dir(path);
	if (!real) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot open ledger '%s': %s",
			       q, strerror(errno));
		goto out;
	}

	/* No SQLITE_OPEN_CREATE: the file exists, or we just made it. */
	oflags = (flags & M2M_LEDGER_READONLY ? SQLITE_OPEN_READONLY :
		  SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_NOFOLLOW
	oflags |= SQLITE_OPEN_NOFOLLOW;
#endif
	r = sqlite3_open_v2(real, &s->db, oflags, NULL);
	if (r != SQLITE_OK) {
		rc = m2m_error(ctx, M2M_ERR_BACKEND, "cannot open ledger '%s': %s",
			       q, s->db ? sqlite3_errmsg(s->db) :
			       sqlite3_errstr(r));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	rc = sq_inspect(ctx, s, &objects, &meta);
	if (rc != M2M_OK)
		goto out;
	r = sq_exec(s, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL");
	if (r != SQLITE_OK) {
		rc = sq_error(ctx, s, r, "set up the ledger");
		goto out;
	}
	had = meta;
	if (!meta && objects == 0 && flags & M2M_LEDGER_CREATE) {
		rc = sq_create(ctx, s);
		if (rc == M2M_OK)
			rc = sq_inspect(ctx, s, &objects, &meta);
		if (rc != M2M_OK)
			goto out;
	}
	if (!meta) {
		rc = not_a_ledger(ctx, s);
		goto out;
	}
	if (had && flags & M2M_LEDGER_EXCL) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "a ledger is at '%s' already", q);
		goto out;
	}
	rc = sq_version(ctx, s, flags, &l->schema_version);
	if (rc != M2M_OK)
		goto out;
	if (!(flags & M2M_LEDGER_READONLY)) {
		r = sq_exec(s, "PRAGMA journal_mode=WAL");
		if (r != SQLITE_OK) {
			rc = sq_error(ctx, s, r, "set up the ledger");
			goto out;
		}
	}
	for (i = 0; i < ST_COUNT; i++) {
		r = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL);
		if (r != SQLITE_OK) {
			rc = sq_error(ctx, s, r, "prepare the ledger's statements");
			goto out;
		}
	}
	l->be = s;
	s = NULL;
	rc = M2M_OK;
out:
	if (s) {
		struct m2m_ledger tmp = { .be = s };

		/* Leave no empty file behind that this call made. */
		if (created && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_size == 0)
			unlink(path);
		sq_close(&tmp);
	}
	free(real);
	return rc;
}

/* ---- transactions ------------------------------------------------------- */

static enum m2m_err sq_begin(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	struct sq *s = sq_of(l);
	int r = sq_step_once(s->st[ST_BEGIN]);

	if (r != SQLITE_DONE)
		return sq_error(ctx, s, r, "begin a transaction");
	return M2M_OK;
}

static void sq_rollback(struct m2m_ledger *l)
{
	struct sq *s = sq_of(l);

	if (!sqlite3_get_autocommit(s->db))
		sq_step_once(s->st[ST_ROLLBACK]);
}

static enum m2m_err sq_commit(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	struct sq *s = sq_of(l);
	enum m2m_err rc = M2M_OK;
	int r = sqlite3_step(s->st[ST_COMMIT]);

	if (r != SQLITE_DONE)
		rc = sq_error(ctx, s, r, "commit");
	sqlite3_reset(s->st[ST_COMMIT]);
	if (rc != M2M_OK)
		sq_rollback(l);
	return rc;
}

/* ---- certificates ------------------------------------------------------- */

static enum m2m_err sq_get_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				const char *serial,
				struct m2m_cert_record *out)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_GET];
	enum m2m_err rc;
	int r;

	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = row_copy(ctx, s, st, out);
	else if (r == SQLITE_DONE)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no certificate with serial %s in the ledger",
			       serial);
	else
		rc = sq_error(ctx, s, r, "look a certificate up");
	sq_done(st);
	return rc;
}

static enum m2m_err sq_find_valid(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  const char *profile, const uint8_t *ppid,
				  size_t ppid_len, struct m2m_cert_record *out)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_FIND];
	char hex[M2M_LEDGER_HEX_MAX], q[M2M_QUOTE_MAX];
	enum m2m_err rc;
	int r;

	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 2, ppid, ppid_len, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = row_copy(ctx, s, st, out);
	else if (r == SQLITE_DONE)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "PPID %s has no valid %s certificate",
			       m2m_ledger_hex(hex, ppid, ppid_len),
			       m2m_quote(q, profile, strlen(profile)));
	else
		rc = sq_error(ctx, s, r, "look a PPID up");
	sq_done(st);
	return rc;
}

static enum m2m_err sq_find_valid_device(struct m2m_ctx *ctx,
					 struct m2m_ledger *l,
					 const char *profile,
					 const char *device_serial,
					 struct m2m_cert_record *out)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_FIND_DEVICE];
	char q[M2M_QUOTE_MAX], q2[M2M_QUOTE_MAX];
	enum m2m_err rc;
	int r;

	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, device_serial, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = row_copy(ctx, s, st, out);
	else if (r == SQLITE_DONE)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "device '%s' has no valid %s certificate",
			       m2m_quote(q, device_serial, strlen(device_serial)),
			       m2m_quote(q2, profile, strlen(profile)));
	else
		rc = sq_error(ctx, s, r, "look a device serial up");
	sq_done(st);
	return rc;
}

/* Why an insertion failed a uniqueness constraint: which one. */
static enum m2m_err add_conflict(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const struct m2m_cert_record *rec,
				 enum m2m_ledger_conflict *conflict,
				 const char *sqlite_msg)
{
	struct m2m_cert_record other;
	char hex[M2M_LEDGER_HEX_MAX], q[M2M_QUOTE_MAX];
	enum m2m_err rc;

	rc = sq_get_cert(ctx, l, rec->serial, &other);
	if (rc == M2M_OK) {
		*conflict = M2M_CONFLICT_SERIAL;
		return m2m_error(ctx, M2M_ERR_DUPLICATE,
				 "serial %s is already in the ledger",
				 rec->serial);
	}
	if (rc != M2M_ERR_NOT_FOUND)
		return rc;
	if (rec->ppid) {
		rc = sq_find_valid(ctx, l, rec->profile, rec->ppid,
				   rec->ppid_len, &other);
		if (rc == M2M_OK) {
			*conflict = M2M_CONFLICT_PPID;
			return m2m_error(ctx, M2M_ERR_DUPLICATE,
					 "PPID %s already has a valid %s certificate (serial %s)",
					 m2m_ledger_hex(hex, rec->ppid,
							rec->ppid_len),
					 m2m_quote(q, rec->profile,
						   strlen(rec->profile)),
					 other.serial);
		}
		if (rc != M2M_ERR_NOT_FOUND)
			return rc;
	}
	if (rec->device_serial) {
		rc = sq_find_valid_device(ctx, l, rec->profile,
					  rec->device_serial, &other);
		if (rc == M2M_OK) {
			*conflict = M2M_CONFLICT_DEVICE;
			return m2m_error(ctx, M2M_ERR_DUPLICATE,
					 "device '%s' already has a valid %s certificate (serial %s)",
					 m2m_quote(hex, rec->device_serial,
						   strlen(rec->device_serial)),
					 m2m_quote(q, rec->profile,
						   strlen(rec->profile)),
					 other.serial);
		}
		if (rc != M2M_ERR_NOT_FOUND)
			return rc;
	}
	return m2m_error(ctx, M2M_ERR_BACKEND,
			 "cannot record certificate %s: %s", rec->serial,
			 sqlite_msg);
}

static enum m2m_err sq_add_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				const struct m2m_cert_record *rec,
				enum m2m_ledger_conflict *conflict)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_ADD];
	enum m2m_err rc;
	char msg[256];
	int r;

	/*
	 * SQLITE_STATIC: rec outlives the step, and sq_done() unbinds.  A
	 * failed binding would leave NULL, so each one is checked.
	 */
	r = sqlite3_bind_text(st, 1, rec->serial, -1, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_text(st, 2, rec->profile, -1, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_text(st, 3, rec->subject, -1, SQLITE_STATIC);
	if (r == SQLITE_OK && rec->ppid)
		r = sqlite3_bind_blob64(st, 4, rec->ppid, rec->ppid_len,
					SQLITE_STATIC);
	if (r == SQLITE_OK && rec->device_serial)
		r = sqlite3_bind_text(st, 5, rec->device_serial, -1,
				      SQLITE_STATIC);
	if (r == SQLITE_OK && rec->vouched_by)
		r = sqlite3_bind_text(st, 6, rec->vouched_by, -1,
				      SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 7, rec->issued_at);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 8, rec->not_before);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 9, rec->not_after);
	if (r == SQLITE_OK)
		r = sqlite3_bind_blob64(st, 10, rec->der, rec->der_len,
					SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		sq_done(st);
		return M2M_OK;
	}
	/* A failed statement leaves the transaction as it was. */
	if (r == SQLITE_CONSTRAINT_UNIQUE ||
	    r == SQLITE_CONSTRAINT_PRIMARYKEY) {
		snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
		sq_done(st);
		return add_conflict(ctx, l, rec, conflict, msg);
	}
	rc = sq_error(ctx, s, r, "record a certificate");
	sq_done(st);
	return rc;
}

static enum m2m_err sq_revoke(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      const char *serial, int64_t revoked_at,
			      int reason)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_REVOKE];
	struct m2m_cert_record rec;
	enum m2m_err rc;
	int r;

	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, revoked_at);
	sqlite3_bind_int(st, 3, reason);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE) {
		rc = sq_error(ctx, s, r, "revoke a certificate");
		sq_done(st);
		return rc;
	}
	sq_done(st);
	if (sqlite3_changes(s->db) == 1)
		return M2M_OK;
	rc = sq_get_cert(ctx, l, serial, &rec);
	if (rc != M2M_OK)
		return rc;
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "certificate %s is already revoked", serial);
}

/* The statement for one filter shape: status, then profile, then ppid. */
static enum m2m_err list_stmt(struct m2m_ctx *ctx, struct sq *s,
			      const struct m2m_ledger_filter *f,
			      sqlite3_stmt **out)
{
	static const char *const status_sql[4] = {
		"",
		" AND status = 0 AND not_after >= ?1",
		" AND status = 1",
		" AND status = 0 AND not_after < ?1",
	};
	int shape = f->status * 4 + (f->profile ? 2 : 0) + (f->ppid ? 1 : 0);
	char sql[512];
	int r;

	if (!s->list[shape]) {
		snprintf(sql, sizeof(sql),
			 "SELECT " CERT_COLS " FROM certs WHERE 1%s%s%s "
			 "ORDER BY id", status_sql[f->status],
			 f->profile ? " AND profile = ?2" : "",
			 f->ppid ? " AND ppid = ?3" : "");
		r = sqlite3_prepare_v3(s->db, sql, -1,
				       SQLITE_PREPARE_PERSISTENT,
				       &s->list[shape], NULL);
		if (r != SQLITE_OK)
			return sq_error(ctx, s, r, "list certificates");
	}
	*out = s->list[shape];
	if (f->status == 1 || f->status == 3)
		sqlite3_bind_int64(*out, 1, f->now);
	if (f->profile)
		sqlite3_bind_text(*out, 2, f->profile, -1, SQLITE_STATIC);
	if (f->ppid)
		sqlite3_bind_blob64(*out, 3, f->ppid, f->ppid_len,
				    SQLITE_STATIC);
	return M2M_OK;
}

static enum m2m_err sq_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
			    const struct m2m_ledger_filter *filter,
			    enum m2m_err (*fn)(void *arg,
					       const struct m2m_cert_record *),
			    void *arg)
{
	struct sq *s = sq_of(l);
	struct m2m_cert_record rec;
	sqlite3_stmt *st = NULL;
	enum m2m_err rc;
	int r;

	rc = list_stmt(ctx, s, filter, &st);
	if (rc != M2M_OK)
		return rc;
	for (;;) {
		r = sqlite3_step(st);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			rc = sq_error(ctx, s, r, "list certificates");
			break;
		}
		if (!row_record(st, &rec)) {
			rc = m2m_error(ctx, M2M_ERR_BACKEND,
				       "ledger '%s': a certificate record lacks a column",
				       s->path);
			break;
		}
		rc = fn(arg, &rec);
		if (rc != M2M_OK)
			break;
	}
	sq_done(st);
	return rc;
}

/* ---- CRLs --------------------------------------------------------------- */

static enum m2m_err sq_next_crl_number(struct m2m_ctx *ctx,
				       struct m2m_ledger *l, uint64_t *number)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_CRL_NEXT];
	enum m2m_err rc = M2M_OK;
	int r = sqlite3_step(st);

	/* With RETURNING, the insertion is complete at the first row. */
	if (r == SQLITE_ROW)
		*number = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rc = sq_error(ctx, s, r, "take a CRL number");
	sq_done(st);
	return rc;
}

static enum m2m_err sq_add_crl(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       uint64_t number, int64_t this_update,
			       const uint8_t *der, size_t der_len)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_CRL_ADD];
	enum m2m_err rc;
	int r;

	r = sqlite3_bind_int64(st, 1, (int64_t)number);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 2, this_update);
	if (r == SQLITE_OK)
		r = sqlite3_bind_blob64(st, 3, der, der_len, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	rc = r == SQLITE_DONE ? M2M_OK : sq_error(ctx, s, r, "record a CRL");
	sq_done(st);
	if (rc != M2M_OK || sqlite3_changes(s->db) == 1)
		return rc;

	st = s->st[ST_CRL_GET];
	sqlite3_bind_int64(st, 1, (int64_t)number);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "CRL number %" PRIu64 " already has its CRL",
			       number);
	else if (r == SQLITE_DONE)
		rc = m2m_error(ctx, M2M_ERR_USAGE,
			       "CRL number %" PRIu64 " was never taken (m2m_ledger_next_crl_number())",
			       number);
	else
		rc = sq_error(ctx, s, r, "record a CRL");
	sq_done(st);
	return rc;
}

static enum m2m_err sq_crl_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				enum m2m_err (*fn)(void *arg,
					const struct m2m_crl_record *),
				void *arg)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_CRL_LIST];
	struct m2m_crl_record crl;
	enum m2m_err rc = M2M_OK;
	int r;

	for (;;) {
		r = sqlite3_step(st);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			rc = sq_error(ctx, s, r, "read the CRLs");
			break;
		}
		memset(&crl, 0, sizeof(crl));
		crl.number = (uint64_t)sqlite3_column_int64(st, 0);
		crl.der = sqlite3_column_blob(st, 2);
		crl.der_len = (size_t)sqlite3_column_bytes(st, 2);
		if (crl.der)
			crl.this_update = sqlite3_column_int64(st, 1);
		else
			crl.der_len = 0;
		rc = fn(arg, &crl);
		if (rc != M2M_OK)
			break;
	}
	sq_done(st);
	return rc;
}

static enum m2m_err sq_crl_put(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       const struct m2m_crl_record *crl)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_CRL_PUT];
	enum m2m_err rc = M2M_OK;
	int r;

	if (crl->number == 0 || crl->number > INT64_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "CRL number %" PRIu64 " is out of range",
				 crl->number);
	r = sqlite3_bind_int64(st, 1, (int64_t)crl->number);
	if (r == SQLITE_OK && crl->der)
		r = sqlite3_bind_int64(st, 2, crl->this_update);
	if (r == SQLITE_OK && crl->der)
		r = sqlite3_bind_blob64(st, 3, crl->der, crl->der_len,
					SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r != SQLITE_DONE)
		rc = sq_error(ctx, s, r, "record a CRL");
	sq_done(st);
	return rc;
}

/* ---- the schema --------------------------------------------------------- */

/*
 * Version 1 is schema_sql; a later version adds its step here, run in the
 * migration's transaction, ending in setting meta's schema_version.
 */
static enum m2m_err sq_migrate(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       int *from)
{
	struct sq *s = sq_of(l);
	int r, version = 0;
	enum m2m_err rc;

	r = sq_step_once(s->st[ST_BEGIN]);
	if (r != SQLITE_DONE)
		return sq_error(ctx, s, r, "begin the migration");
	/* Read again under the lock: another process may have migrated. */
	rc = sq_version(ctx, s, M2M_LEDGER_ANY_VERSION, &version);
	if (rc == M2M_OK) {
		*from = version;
		l->schema_version = SCHEMA_VERSION;
		r = sq_step_once(s->st[ST_COMMIT]);
		if (r != SQLITE_DONE)
			rc = sq_error(ctx, s, r, "commit the migration");
	}
	if (rc != M2M_OK)
		sq_rollback(l);
	return rc;
}

/* ---- the audit log ------------------------------------------------------ */

static enum m2m_err sq_audit_last(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  uint64_t *seq,
				  uint8_t hash[M2M_AUDIT_HASH_LEN])
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_AUDIT_LAST];
	enum m2m_err rc = M2M_OK;
	int r = sqlite3_step(st);

	*seq = 0;
	memset(hash, 0, M2M_AUDIT_HASH_LEN);
	if (r == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 1);
		int64_t n = sqlite3_column_int64(st, 0);

		/* A damaged tail is not built upon: m2m-verify first. */
		if (n < 1 || !h ||
		    sqlite3_column_bytes(st, 1) != M2M_AUDIT_HASH_LEN)
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the audit log's last entry (%" PRId64 ") is damaged",
				       n);
		else {
			*seq = (uint64_t)n;
			memcpy(hash, h, M2M_AUDIT_HASH_LEN);
		}
	} else if (r != SQLITE_DONE) {
		rc = sq_error(ctx, s, r, "read the audit log");
	}
	sq_done(st);
	return rc;
}

static enum m2m_err sq_audit_append(struct m2m_ctx *ctx, struct m2m_ledger *l,
				    const struct m2m_audit_entry *e)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_AUDIT_ADD];
	enum m2m_err rc = M2M_OK;
	int r;

	r = sqlite3_bind_int64(st, 1, (int64_t)e->seq);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 2, e->time);
	if (r == SQLITE_OK)
		r = sqlite3_bind_text(st, 3, e->op, -1, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_text(st, 4, e->detail, -1, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_blob(st, 5, e->prev_hash, M2M_AUDIT_HASH_LEN,
				      SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_blob(st, 6, e->hash, M2M_AUDIT_HASH_LEN,
				      SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r != SQLITE_DONE)
		rc = sq_error(ctx, s, r, "append to the audit log");
	sq_done(st);
	return rc;
}

/* A hash column into out (zero-padded, cut at 32); its stored length. */
static size_t col_hash(sqlite3_stmt *st, int i,
		       uint8_t out[M2M_AUDIT_HASH_LEN])
{
	const void *p = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	memset(out, 0, M2M_AUDIT_HASH_LEN);
	if (p)
		memcpy(out, p, n < M2M_AUDIT_HASH_LEN ? n : M2M_AUDIT_HASH_LEN);
	return p ? n : 0;
}

static const char *col_text_len(sqlite3_stmt *st, int i, size_t *len)
{
	const char *p = (const char *)sqlite3_column_text(st, i);

	*len = p ? (size_t)sqlite3_column_bytes(st, i) : 0;
	return p ? p : "";
}

static enum m2m_err sq_audit_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  enum m2m_err (*fn)(void *arg,
					const struct m2m_ledger_audit_row *),
				  void *arg)
{
	struct sq *s = sq_of(l);
	sqlite3_stmt *st = s->st[ST_AUDIT_LIST];
	struct m2m_ledger_audit_row row;
	enum m2m_err rc = M2M_OK;
	int r;

	for (;;) {
		r = sqlite3_step(st);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			rc = sq_error(ctx, s, r, "read the audit log");
			break;
		}
		memset(&row, 0, sizeof(row));
		row.e.seq = (uint64_t)sqlite3_column_int64(st, 0);
		row.e.time = sqlite3_column_int64(st, 1);
		row.e.op = col_text_len(st, 2, &row.op_len);
		row.e.detail = col_text_len(st, 3, &row.detail_len);
		row.prev_hash_len = col_hash(st, 4, row.e.prev_hash);
		row.hash_len = col_hash(st, 5, row.e.hash);
		rc = fn(arg, &row);
		if (rc != M2M_OK)
			break;
	}
	sq_done(st);
	return rc;
}

const struct m2m_ledger_ops m2m_ledger_sqlite_ops = {
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.add_cert = sq_add_cert,
	.get_cert = sq_get_cert,
	.find_valid = sq_find_valid,
	.find_valid_device = sq_find_valid_device,
	.revoke = sq_revoke,
	.list = sq_list,
	.next_crl_number = sq_next_crl_number,
	.add_crl = sq_add_crl,
	.crl_list = sq_crl_list,
	.crl_put = sq_crl_put,
	.migrate = sq_migrate,
	.audit_append = sq_audit_append,
	.audit_last = sq_audit_last,
	.audit_list = sq_audit_list,
};
