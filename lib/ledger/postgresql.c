/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL ledger back-end: the only file that includes <libpq-fe.h>.
 *
 * Many stations issue from one CA at once, each on a connection of its
 * own, and their transactions run side by side (READ COMMITTED).  The
 * database keeps serials unique, and the valid certificate per profile and
 * PPID or device serial single, with (partial) unique indexes; an
 * insertion that would break one does nothing (ON CONFLICT DO NOTHING,
 * which waits for a concurrent transaction holding the same key to end),
 * so that the transaction goes on, as SQLite's does after a failed
 * statement.  The audit log is the one thing written in order: its entries
 * wait for the commit (chain_at_commit in lib/ledger/ledger.h), which
 * locks the row of audit_head, reads the last entry in a statement of its
 * own (so that it sees what the previous holder of the lock committed),
 * and sends the entries and COMMIT in one pipeline.  CRL numbers come from
 * a sequence.  Statements are prepared once per connection; values go
 * both ways in binary.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "../internal.h"
#include "ledger.h"

#define SCHEMA_VERSION	1
#define LOCK_TIMEOUT	"10s"
#define RECONNECT_MS	10000
#define PIPE_MAX	256	/* statements sent before their results are
				   read: far below what fills a socket */

/* Type OIDs (pg_type.h, fixed since PostgreSQL 7). */
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_TEXT	25

/* pg_advisory_xact_lock() keys of creating and migrating a ledger. */
#define LOCK_SCHEMA	"1832085504, 1"	/* 0x6d326d00: "m2m" */

/*
 * Version 1.  certs.id is the order of issuance.  Text that is compared
 * byte for byte is COLLATE "C": the database's collation may be any.
 * Every index costs each insertion: beside the unique ones only the PPID
 * has one (listings by status or profile read the table).
 */
static const char schema_sql[] =
	"CREATE TABLE m2m_schema (\n"
	"  version integer PRIMARY KEY,\n"
	"  applied_at timestamptz NOT NULL DEFAULT now()\n"
	");\n"
	"CREATE TABLE certs (\n"
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"  serial text COLLATE \"C\" NOT NULL UNIQUE,\n"
	"  profile text COLLATE \"C\" NOT NULL,\n"
	"  subject text NOT NULL,\n"
	"  ppid bytea,\n"
	"  device_serial text COLLATE \"C\",\n"
	"  vouched_by text COLLATE \"C\",\n"
	"  issued_at bigint NOT NULL,\n"
	"  not_before bigint NOT NULL,\n"
	"  not_after bigint NOT NULL,\n"
	"  status bigint NOT NULL DEFAULT 0 CHECK (status IN (0, 1)),\n"
	"  revoked_at bigint,\n"
	"  reason bigint,\n"
	"  der bytea NOT NULL\n"
	");\n"
	"CREATE UNIQUE INDEX certs_one_valid ON certs (profile, ppid)\n"
	"  WHERE ppid IS NOT NULL AND status = 0;\n"
	"CREATE UNIQUE INDEX certs_one_valid_device ON certs\n"
	"  (profile, device_serial)\n"
	"  WHERE device_serial IS NOT NULL AND status = 0;\n"
	"CREATE INDEX certs_ppid ON certs (ppid);\n"
	"CREATE SEQUENCE crl_number AS bigint MINVALUE 1;\n"
	"CREATE TABLE crls (\n"
	"  number bigint PRIMARY KEY,\n"
	"  this_update bigint,\n"
	"  der bytea\n"
	");\n"
	"CREATE TABLE audit (\n"
	"  seq bigint PRIMARY KEY,\n"
	"  time bigint NOT NULL,\n"
	"  op text NOT NULL,\n"
	"  detail text NOT NULL,\n"
	"  prev_hash bytea NOT NULL,\n"
	"  hash bytea NOT NULL\n"
	");\n"
	"CREATE TABLE audit_head (\n"
	"  one boolean PRIMARY KEY DEFAULT true CHECK (one)\n"
	");\n"
	"INSERT INTO audit_head DEFAULT VALUES;\n"
	"INSERT INTO m2m_schema (version) VALUES (1);\n";

#define CERT_COLS "serial, profile, subject, ppid, device_serial, " \
	"vouched_by, issued_at, not_before, not_after, status, revoked_at, " \
	"reason, der"

enum stmt {
	ST_ADD, ST_GET, ST_FIND, ST_FIND_DEVICE, ST_REVOKE,
	ST_CRL_NEXT, ST_CRL_ADD, ST_CRL_GET, ST_CRL_LIST, ST_CRL_PUT,
	ST_CRL_SEQ,
	ST_AUDIT_LOCK, ST_AUDIT_LAST, ST_AUDIT_ADD, ST_AUDIT_LIST,
	ST_COUNT
};

static const struct {
	const char *sql;
	int n;
	unsigned types[10];
} stmts[ST_COUNT] = {
	[ST_ADD] = { "INSERT INTO certs (serial, profile, subject, ppid, "
		"device_serial, vouched_by, issued_at, not_before, not_after, "
		"der) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
		"ON CONFLICT DO NOTHING RETURNING id", 10,
		{ OID_TEXT, OID_TEXT, OID_TEXT, OID_BYTEA, OID_TEXT, OID_TEXT,
		  OID_INT8, OID_INT8, OID_INT8, OID_BYTEA } },
	[ST_GET] = { "SELECT " CERT_COLS " FROM certs WHERE serial = $1", 1,
		{ OID_TEXT } },
	[ST_FIND] = { "SELECT " CERT_COLS " FROM certs WHERE profile = $1 "
		"AND ppid = $2 AND status = 0", 2, { OID_TEXT, OID_BYTEA } },
	[ST_FIND_DEVICE] = { "SELECT " CERT_COLS " FROM certs "
		"WHERE profile = $1 AND device_serial = $2 AND status = 0", 2,
		{ OID_TEXT, OID_TEXT } },
	[ST_REVOKE] = { "UPDATE certs SET status = 1, revoked_at = $2, "
		"reason = $3 WHERE serial = $1 AND status = 0", 3,
		{ OID_TEXT, OID_INT8, OID_INT8 } },
	[ST_CRL_NEXT] = { "INSERT INTO crls (number) "
		"VALUES (nextval('crl_number')) RETURNING number", 0, { 0 } },
	[ST_CRL_ADD] = { "UPDATE crls SET this_update = $2, der = $3 "
		"WHERE number = $1 AND der IS NULL", 3,
		{ OID_INT8, OID_INT8, OID_BYTEA } },
	[ST_CRL_GET] = { "SELECT der IS NOT NULL FROM crls WHERE number = $1",
		1, { OID_INT8 } },
	[ST_CRL_LIST] = { "SELECT number, this_update, der FROM crls "
		"ORDER BY number", 0, { 0 } },
	[ST_CRL_PUT] = { "INSERT INTO crls (number, this_update, der) "
		"VALUES ($1, $2, $3)", 3, { OID_INT8, OID_INT8, OID_BYTEA } },
	[ST_CRL_SEQ] = { "SELECT setval('crl_number', $1) FROM crl_number "
		"WHERE $1 > CASE WHEN is_called THEN last_value ELSE 0 END",
		1, { OID_INT8 } },
	[ST_AUDIT_LOCK] = { "SELECT one FROM audit_head FOR UPDATE", 0,
		{ 0 } },
	[ST_AUDIT_LAST] = { "SELECT seq, hash FROM audit "
		"ORDER BY seq DESC LIMIT 1", 0, { 0 } },
	[ST_AUDIT_ADD] = { "INSERT INTO audit (seq, time, op, detail, "
		"prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)", 6,
		{ OID_INT8, OID_INT8, OID_TEXT, OID_TEXT, OID_BYTEA,
		  OID_BYTEA } },
	[ST_AUDIT_LIST] = { "SELECT seq, time, op, detail, prev_hash, hash "
		"FROM audit ORDER BY seq", 0, { 0 } },
};

/* m2m_ledger_list's statements, one per filter shape, made on first use. */
#define LIST_SHAPES 16		/* status 0..3 x profile x ppid */

struct pg {
	PGconn *conn;
	char shown[M2M_LEDGER_SHOWN_MAX];	/* the location, no password */
	int readonly;
	int broken;		/* the protocol state is not known: reset */
	int piped;		/* statements in the pipeline, unread */
	unsigned list_ready;	/* bit per LIST_SHAPES statement prepared */
	PGresult *held;		/* the result the last record borrows */
};

static struct pg *pg_of(struct m2m_ledger *l)
{
	return l->be;
}

/* Parameters of one statement: text, binary bytes or 8-octet integers. */
struct params {
	int n;
	const char *v[10];
	int len[10];
	int fmt[10];
	unsigned char num[10][8];
};

static void p_text(struct params *p, const char *t)
{
	p->v[p->n] = t;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

static void p_bytes(struct params *p, const void *b, size_t n)
{
	p->v[p->n] = b;
	p->len[p->n] = (int)n;
	p->fmt[p->n] = 1;
	p->n++;
}

static void p_int(struct params *p, int64_t x)
{
	uint64_t u = (uint64_t)x;
	int i;

	for (i = 7; i >= 0; i--) {
		p->num[p->n][i] = (unsigned char)u;
		u >>= 8;
	}
	p_bytes(p, p->num[p->n], 8);
}

/* ---- errors ------------------------------------------------------------- */

/* libpq's text as one line: its first, without a severity prefix. */
static void one_line(char *out, size_t size, const char *m)
{
	size_t n;

	if (!m || !*m)
		m = "unknown error";
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	else if (strncmp(m, "FATAL:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	snprintf(out, size, "%.*s", (int)n, m);
}

/* Record a failure to WHAT, from res (may be NULL: the connection's). */
static enum m2m_err pg_fail(struct m2m_ctx *ctx, struct pg *s,
			    const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
			    NULL;
	const char *primary = res ?
			      PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
			      NULL;
	char msg[512];

	one_line(msg, sizeof(msg), primary ? primary :
		 res && *PQresultErrorMessage(res) ?
		 PQresultErrorMessage(res) : PQerrorMessage(s->conn));
	if (PQstatus(s->conn) != CONNECTION_OK) {
		s->broken = 1;
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot %s: lost the connection to ledger '%s': %s",
				 what, s->shown, msg);
	}
	if (state && strcmp(state, "55P03") == 0)	/* lock_not_available */
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "cannot %s: ledger is busy (another station holds it): %s",
				 what, msg);
	return m2m_error(ctx, M2M_ERR_BACKEND, "cannot %s: %s", what, msg);
}

/* res succeeded (freeing it if not); else record why. */
static enum m2m_err pg_check(struct m2m_ctx *ctx, struct pg *s, PGresult *res,
			     const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	enum m2m_err rc;

	if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
		return M2M_OK;
	rc = pg_fail(ctx, s, res, what);
	PQclear(res);
	return rc;
}

/* libpq prints notices on stderr; the library never prints. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* ---- columns ------------------------------------------------------------ */

/* A binary integer column (2, 4 or 8 octets, big-endian); 0 if NULL. */
static int64_t col_int(const PGresult *r, int row, int col)
{
	const unsigned char *b;
	uint64_t v = 0;
	int i, n;

	if (PQgetisnull(r, row, col))
		return 0;
	b = (const unsigned char *)PQgetvalue(r, row, col);
	n = PQgetlength(r, row, col);
	if (n != 2 && n != 4 && n != 8)
		return 0;
	for (i = 0; i < n; i++)
		v = v << 8 | b[i];
	if (n < 8 && b[0] & 0x80)
		v |= ~(uint64_t)0 << (8 * n);
	return (int64_t)v;
}

/* A text column (NUL-terminated by libpq), or NULL. */
static const char *col_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A bytea column and its length; NULL for NULL and for no octets. */
static const uint8_t *col_bytes(const PGresult *r, int row, int col,
				size_t *len)
{
	*len = 0;
	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) <= 0)
		return NULL;
	*len = (size_t)PQgetlength(r, row, col);
	return (const uint8_t *)PQgetvalue(r, row, col);
}

/* The record in row of r (CERT_COLS), borrowing r's memory. */
static int row_record(const PGresult *r, int row, struct m2m_cert_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->serial = col_text(r, row, 0);
	rec->profile = col_text(r, row, 1);
	rec->subject = col_text(r, row, 2);
	rec->ppid = col_bytes(r, row, 3, &rec->ppid_len);
	rec->device_serial = col_text(r, row, 4);
	rec->vouched_by = col_text(r, row, 5);
	rec->issued_at = col_int(r, row, 6);
	rec->not_before = col_int(r, row, 7);
	rec->not_after = col_int(r, row, 8);
	rec->status = col_int(r, row, 9) ? M2M_CERT_REVOKED : M2M_CERT_VALID;
	rec->revoked_at = col_int(r, row, 10);
	rec->reason = PQgetisnull(r, row, 11) ? -1 : (int)col_int(r, row, 11);
	rec->der = col_bytes(r, row, 12, &rec->der_len);
	return rec->serial && rec->profile && rec->subject && rec->der;
}

/* ---- statements and the pipeline ---------------------------------------- */

static const char *stmt_name(enum stmt st, char buf[16])
{
	snprintf(buf, 16, "m2m_%d", (int)st);
	return buf;
}

static PGresult *pg_exec(struct pg *s, enum stmt st, const struct params *p)
{
	char name[16];

	return PQexecPrepared(s->conn, stmt_name(st, name), p ? p->n : 0,
			      p ? p->v : NULL, p ? p->len : NULL,
			      p ? p->fmt : NULL, 1);
}

/*
 * Sync the pipeline, read the result of every statement in it and leave
 * pipeline mode.  The first failure is returned (what names the work).
 * *last (may be NULL) gets the last statement's result if it succeeded
 * (caller clears).
 */
static enum m2m_err pg_drain(struct m2m_ctx *ctx, struct pg *s,
			     const char *what, PGresult **last)
{
	enum m2m_err rc = M2M_OK;
	int want = s->piped, got = 0;
	PGresult *res;

	if (last)
		*last = NULL;
	if (PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF)
		return M2M_OK;
	s->piped = 0;
	if (!PQpipelineSync(s->conn)) {
		s->broken = 1;
		return pg_fail(ctx, s, NULL, what);
	}
	for (;;) {
		res = PQgetResult(s->conn);
		if (!res) {
			/* Between two statements' results; or the end. */
			if (PQstatus(s->conn) != CONNECTION_OK) {
				if (rc == M2M_OK)
					rc = pg_fail(ctx, s, NULL, what);
				s->broken = 1;
				return rc;
			}
			continue;
		}
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(res);
			if (!PQexitPipelineMode(s->conn)) {
				s->broken = 1;
				if (rc == M2M_OK)
					rc = pg_fail(ctx, s, NULL, what);
			}
			return rc;
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (last && ++got == want && rc == M2M_OK) {
				*last = res;
				res = NULL;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			got++;
			break;
		default:
			got++;
			if (rc == M2M_OK)
				rc = pg_fail(ctx, s, res, what);
			break;
		}
		PQclear(res);
	}
}

/* Send one statement into the pipeline, entering it if need be. */
static enum m2m_err pg_send(struct m2m_ctx *ctx, struct pg *s, enum stmt st,
			    const char *sql, const struct params *p,
			    const char *what)
{
	char name[16];
	int ok;

	if (PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF &&
	    !PQenterPipelineMode(s->conn))
		return pg_fail(ctx, s, NULL, what);
	if (sql)
		ok = PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL,
				       1);
	else
		ok = PQsendQueryPrepared(s->conn, stmt_name(st, name), p->n,
					 p->v, p->len, p->fmt, 1);
	if (!ok) {
		s->broken = 1;
		return pg_fail(ctx, s, NULL, what);
	}
	if (++s->piped >= PIPE_MAX)
		return pg_drain(ctx, s, what, NULL);
	return M2M_OK;
}

/* Before any statement: no result is pending, no record held. */
static enum m2m_err pg_idle(struct m2m_ctx *ctx, struct pg *s,
			    const char *what)
{
	PQclear(s->held);
	s->held = NULL;
	return pg_drain(ctx, s, what, NULL);
}

/* Every statement, in one round trip. */
static enum m2m_err pg_prepare(struct m2m_ctx *ctx, struct pg *s)
{
	static const char what[] = "prepare the ledger's statements";
	char name[16];
	int i;

	s->list_ready = 0;
	if (!PQenterPipelineMode(s->conn))
		return pg_fail(ctx, s, NULL, what);
	for (i = 0; i < ST_COUNT; i++) {
		if (!PQsendPrepare(s->conn, stmt_name(i, name), stmts[i].sql,
				   stmts[i].n, stmts[i].types)) {
			s->broken = 1;
			return pg_fail(ctx, s, NULL, what);
		}
		s->piped++;
	}
	return pg_drain(ctx, s, what, NULL);
}

/*
 * What every session does first: quiet notices, UTF-8, no endless wait
 * for a lock, durable commits (a server set to synchronous_commit=off
 * could lose a commit after its certificate was handed out).
 */
static enum m2m_err pg_session(struct m2m_ctx *ctx, struct pg *s)
{
	PGresult *res;

	PQsetNoticeProcessor(s->conn, quiet, NULL);
	res = PQexec(s->conn,
		     "SET client_encoding = 'UTF8';"
		     "SET lock_timeout = '" LOCK_TIMEOUT "';"
		     "SELECT set_config('synchronous_commit', 'local', false) "
		     "WHERE current_setting('synchronous_commit') = 'off'");
	if (pg_check(ctx, s, res, "set up the ledger's session") != M2M_OK)
		return M2M_ERR_BACKEND;
	PQclear(res);
	if (s->readonly) {
		res = PQexec(s->conn,
			     "SET default_transaction_read_only = on");
		if (pg_check(ctx, s, res, "set up the ledger's session") !=
		    M2M_OK)
			return M2M_ERR_BACKEND;
		PQclear(res);
	}
	s->broken = 0;
	s->piped = 0;
	return M2M_OK;
}

/*
 * A connection that was lost (a server restarted, a network between):
 * connect again, for up to RECONNECT_MS.  Whatever transaction it was in
 * is gone with it.
 */
static enum m2m_err pg_reconnect(struct m2m_ctx *ctx, struct pg *s)
{
	struct timespec pause = { 0, 0 };
	char msg[512];
	long waited = 0, step = 100;

	PQclear(s->held);
	s->held = NULL;
	for (;;) {
		PQreset(s->conn);
		if (PQstatus(s->conn) == CONNECTION_OK) {
			if (pg_session(ctx, s) == M2M_OK &&
			    pg_prepare(ctx, s) == M2M_OK)
				return M2M_OK;
			return m2m_error_prefix(ctx, "ledger '%s'", s->shown);
		}
		if (waited >= RECONNECT_MS)
			break;
		pause.tv_sec = step / 1000;
		pause.tv_nsec = (step % 1000) * 1000000L;
		nanosleep(&pause, NULL);
		waited += step;
		if (step < 1000)
			step *= 2;
	}
	s->broken = 1;
	one_line(msg, sizeof(msg), PQerrorMessage(s->conn));
	return m2m_error(ctx, M2M_ERR_BACKEND,
			 "lost the connection to ledger '%s' and cannot connect again: %s",
			 s->shown, msg);
}

/* Outside a transaction: a lost connection is made again first. */
static enum m2m_err pg_usable(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      const char *what)
{
	struct pg *s = pg_of(l);

	if (!l->in_tx && (s->broken || PQstatus(s->conn) != CONNECTION_OK)) {
		enum m2m_err rc = pg_reconnect(ctx, s);

		if (rc != M2M_OK)
			return rc;
	}
	return pg_idle(ctx, s, what);
}

/* ---- open and close ----------------------------------------------------- */

static void pg_close(struct m2m_ledger *l)
{
	struct pg *s = pg_of(l);

	if (!s)
		return;
	PQclear(s->held);
	/* Closing the connection rolls back an open transaction. */
	PQfinish(s->conn);
	free(s);
	l->be = NULL;
}

/*
 * Refuse a password in the URI (it would sit in ca.conf or in argv), and
 * a URI libpq cannot read.  Its messages may quote the URI, so they are
 * shown only for one without user information; where a password may be
 * that m2m_ledger_location_shown() did not find, only the scheme is.
 */
static enum m2m_err pg_check_uri(struct m2m_ctx *ctx, struct pg *s,
				 const char *location, int had)
{
	PQconninfoOption *opts, *o;
	const char *end = strstr(location, "://");
	char *err = NULL, msg[256];
	int pw = 0, scheme = end ? (int)(end - location) + 3 : 0;

	opts = PQconninfoParse(location, &err);
	if (!opts) {
		one_line(msg, sizeof(msg), err);
		PQfreemem(err);
		if (had || strchr(location, '@'))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "ledger '%.*s...' is not a PostgreSQL URI libpq reads",
					 scheme, location);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "ledger '%s' is not a PostgreSQL URI libpq reads: %s",
				 s->shown, msg);
	}
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			pw = 1;
	PQconninfoFree(opts);
	if (!pw)
		return M2M_OK;
	if (!had)
		snprintf(s->shown, sizeof(s->shown), "%.*s...", scheme,
			 location);
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "ledger '%s' holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead",
			 s->shown);
}

/* Is our ledger there (*ours), or some tables with our names (*others)? */
static enum m2m_err pg_inspect(struct m2m_ctx *ctx, struct pg *s, int *ours,
			       int *others)
{
	PGresult *res = PQexec(s->conn,
		"SELECT to_regclass('m2m_schema') IS NOT NULL, "
		"to_regclass('certs') IS NOT NULL OR "
		"to_regclass('crls') IS NOT NULL OR "
		"to_regclass('audit') IS NOT NULL OR "
		"to_regclass('audit_head') IS NOT NULL");
	enum m2m_err rc = pg_check(ctx, s, res, "read the ledger");

	if (rc != M2M_OK)
		return rc;
	*ours = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	*others = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	return M2M_OK;
}

/* Run sql (no result wanted). */
static enum m2m_err pg_simple(struct m2m_ctx *ctx, struct pg *s,
			      const char *sql, const char *what)
{
	PGresult *res = PQexec(s->conn, sql);
	enum m2m_err rc = pg_check(ctx, s, res, what);

	if (rc == M2M_OK)
		PQclear(res);
	return rc;
}

/* Roll back whatever transaction the session is in; never fails. */
static void pg_abort(struct pg *s)
{
	PGTransactionStatusType t = PQtransactionStatus(s->conn);

	if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* The schema version in m2m_schema, checked against flags. */
static enum m2m_err pg_version(struct m2m_ctx *ctx, struct pg *s,
			       unsigned flags, int *version)
{
	PGresult *res = PQexec(s->conn, "SELECT max(version) FROM m2m_schema");
	enum m2m_err rc = pg_check(ctx, s, res, "read the ledger's schema version");
	long n;

	if (rc != M2M_OK)
		return rc;
	n = PQgetisnull(res, 0, 0) ? 0 : strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (n < 1)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "'%s' is not an m2m ledger (no valid schema version)",
				 s->shown);
	if (n > SCHEMA_VERSION)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "ledger '%s' has schema version %ld, newer than this m2m reads (%d)",
				 s->shown, n, SCHEMA_VERSION);
	if (n < SCHEMA_VERSION && !(flags & M2M_LEDGER_ANY_VERSION))
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "ledger '%s' has schema version %ld, older than this m2m uses (%d): migrate it",
				 s->shown, n, SCHEMA_VERSION);
	*version = (int)n;
	return M2M_OK;
}

/*
 * Give a database without a ledger the schema, under a lock that other
 * creators wait for; one that made it meanwhile leaves nothing to do.
 * *made says whether this call made it.
 */
static enum m2m_err pg_create(struct m2m_ctx *ctx, struct pg *s, int *made)
{
	enum m2m_err rc;
	int ours = 0, others = 0;

	*made = 0;
	rc = pg_simple(ctx, s, "BEGIN; SELECT pg_advisory_xact_lock("
		       LOCK_SCHEMA ")", "create the ledger");
	if (rc == M2M_OK)
		rc = pg_inspect(ctx, s, &ours, &others);
	if (rc == M2M_OK && !ours && !others) {
		rc = pg_simple(ctx, s, schema_sql, "create the ledger");
		*made = rc == M2M_OK;
	}
	if (rc == M2M_OK)
		rc = pg_simple(ctx, s, "COMMIT", "create the ledger");
	if (rc != M2M_OK) {
		pg_abort(s);
		*made = 0;
	}
	return rc;
}

static enum m2m_err pg_open(struct m2m_ctx *ctx, struct m2m_ledger *l,
			    const char *location, unsigned flags)
{
	static const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL
	};
	const char *values[] = { "10", "m2m-ledger", location, NULL };
	struct pg *s = NULL;
	char msg[512];
	enum m2m_err rc = M2M_ERR_NOMEM;
	int had = 0, ours = 0, others = 0, made = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return m2m_error(ctx, rc, "out of memory");
	s->readonly = !!(flags & M2M_LEDGER_READONLY);
	m2m_ledger_location_shown(location, s->shown, sizeof(s->shown), &had);
	rc = pg_check_uri(ctx, s, location, had);
	if (rc != M2M_OK)
		goto out;
	s->conn = PQconnectdbParams(keys, values, 1);
	if (!s->conn) {
		rc = m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		one_line(msg, sizeof(msg), PQerrorMessage(s->conn));
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot connect to ledger '%s': %s", s->shown,
			       msg);
		goto out;
	}
	rc = pg_session(ctx, s);
	if (rc == M2M_OK)
		rc = pg_inspect(ctx, s, &ours, &others);
	if (rc == M2M_OK && !ours && !others && flags & M2M_LEDGER_CREATE) {
		rc = pg_create(ctx, s, &made);
		if (rc == M2M_OK)
			rc = pg_inspect(ctx, s, &ours, &others);
	}
	if (rc != M2M_OK)
		goto out;
	if (!ours && others) {
		rc = m2m_error(ctx, M2M_ERR_INVALID,
			       "'%s' is not an m2m ledger (it has tables of the ledger's names, but no m2m_schema)",
			       s->shown);
		goto out;
	}
	if (!ours) {
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND, "no ledger at '%s'",
			       s->shown);
		goto out;
	}
	if (!made && flags & M2M_LEDGER_EXCL) {
		rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
			       "a ledger is at '%s' already", s->shown);
		goto out;
	}
	rc = pg_version(ctx, s, flags, &l->schema_version);
	if (rc == M2M_OK)
		rc = pg_prepare(ctx, s);
	if (rc != M2M_OK)
		goto out;
	l->be = s;
	s = NULL;
out:
	if (s) {
		PQfinish(s->conn);
		free(s);
	}
	return rc;
}

/* ---- transactions ------------------------------------------------------- */

/*
 * A connection the server closed while it was idle shows only when it is
 * used: outside a transaction, whatever failed so can be done again on a
 * new one.
 */
static int pg_again(struct m2m_ledger *l, enum m2m_err rc)
{
	struct pg *s = pg_of(l);

	return rc == M2M_ERR_BACKEND && !l->in_tx && s->broken;
}

static enum m2m_err pg_begin(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	struct pg *s = pg_of(l);
	enum m2m_err rc = pg_usable(ctx, l, "begin a transaction");

	if (rc == M2M_OK)
		rc = pg_simple(ctx, s, "BEGIN", "begin a transaction");
	if (pg_again(l, rc)) {
		rc = pg_usable(ctx, l, "begin a transaction");
		if (rc == M2M_OK)
			rc = pg_simple(ctx, s, "BEGIN", "begin a transaction");
	}
	return rc;
}

static void pg_rollback(struct m2m_ledger *l)
{
	struct pg *s = pg_of(l);

	PQclear(s->held);
	s->held = NULL;
	pg_drain(NULL, s, "roll back", NULL);
	if (PQstatus(s->conn) == CONNECTION_OK && !s->broken)
		pg_abort(s);
}

/* COMMIT after the audit entries in the pipeline: one round trip. */
static enum m2m_err pg_commit(struct m2m_ctx *ctx, struct m2m_ledger *l)
{
	struct pg *s = pg_of(l);
	PGresult *res = NULL;
	enum m2m_err rc;

	PQclear(s->held);
	s->held = NULL;
	/* The COMMIT must not be the statement that fills the pipeline. */
	rc = s->piped >= PIPE_MAX - 1 ? pg_drain(ctx, s, "commit", NULL) :
	     M2M_OK;
	if (rc == M2M_OK)
		rc = pg_send(ctx, s, 0, "COMMIT", NULL, "commit");
	if (rc == M2M_OK)
		rc = pg_drain(ctx, s, "commit", &res);
	if (rc == M2M_OK && (!res || strcmp(PQcmdStatus(res), "COMMIT") != 0))
		rc = m2m_error(ctx, M2M_ERR_BACKEND,
			       "cannot commit: the server rolled the transaction back");
	PQclear(res);
	if (rc != M2M_OK && PQstatus(s->conn) != CONNECTION_OK) {
		char detail[M2M_DETAIL_MAX];

		snprintf(detail, sizeof(detail), "%s", m2m_ctx_detail(ctx));
		return m2m_error(ctx, rc,
				 "%s (whether the transaction was committed is not known)",
				 detail);
	}
	if (rc != M2M_OK)
		pg_rollback(l);
	return rc;
}

/* ---- certificates ------------------------------------------------------- */

/* Run a lookup; its one row (if any) becomes s->held. */
static enum m2m_err pg_lookup(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      enum stmt st, const struct params *p,
			      const char *what, struct m2m_cert_record *out,
			      int *found)
{
	struct pg *s = pg_of(l);
	PGresult *res;
	enum m2m_err rc = pg_usable(ctx, l, what);

	*found = 0;
	if (rc != M2M_OK)
		return rc;
	res = pg_exec(s, st, p);
	rc = pg_check(ctx, s, res, what);
	if (pg_again(l, rc)) {
		rc = pg_usable(ctx, l, what);
		if (rc != M2M_OK)
			return rc;
		res = pg_exec(s, st, p);
		rc = pg_check(ctx, s, res, what);
	}
	if (rc != M2M_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return M2M_OK;
	}
	s->held = res;
	if (!row_record(res, 0, out))
		return m2m_error(ctx, M2M_ERR_BACKEND,
				 "ledger '%s': a certificate record lacks a column",
				 s->shown);
	*found = 1;
	return M2M_OK;
}

static enum m2m_err pg_get_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				const char *serial,
				struct m2m_cert_record *out)
{
	struct params p = { 0 };
	enum m2m_err rc;
	int found;

	p_text(&p, serial);
	rc = pg_lookup(ctx, l, ST_GET, &p, "look a certificate up", out,
		       &found);
	if (rc == M2M_OK && !found)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "no certificate with serial %s in the ledger",
			       serial);
	return rc;
}

static enum m2m_err pg_find_valid(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  const char *profile, const uint8_t *ppid,
				  size_t ppid_len, struct m2m_cert_record *out)
{
	struct params p = { 0 };
	char hex[M2M_LEDGER_HEX_MAX], q[M2M_QUOTE_MAX];
	enum m2m_err rc;
	int found;

	p_text(&p, profile);
	p_bytes(&p, ppid, ppid_len);
	rc = pg_lookup(ctx, l, ST_FIND, &p, "look a PPID up", out, &found);
	if (rc == M2M_OK && !found)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "PPID %s has no valid %s certificate",
			       m2m_ledger_hex(hex, ppid, ppid_len),
			       m2m_quote(q, profile, strlen(profile)));
	return rc;
}

static enum m2m_err pg_find_valid_device(struct m2m_ctx *ctx,
					 struct m2m_ledger *l,
					 const char *profile,
					 const char *device_serial,
					 struct m2m_cert_record *out)
{
	struct params p = { 0 };
	char q[M2M_QUOTE_MAX], q2[M2M_QUOTE_MAX];
	enum m2m_err rc;
	int found;

	p_text(&p, profile);
	p_text(&p, device_serial);
	rc = pg_lookup(ctx, l, ST_FIND_DEVICE, &p, "look a device serial up",
		       out, &found);
	if (rc == M2M_OK && !found)
		rc = m2m_error(ctx, M2M_ERR_NOT_FOUND,
			       "device '%s' has no valid %s certificate",
			       m2m_quote(q, device_serial, strlen(device_serial)),
			       m2m_quote(q2, profile, strlen(profile)));
	return rc;
}

/*
 * An insertion that did nothing: which record it met.  The other
 * transaction holding the key has ended (ON CONFLICT waited for it), so
 * its record is there to be read, unless it has been revoked since.
 */
static enum m2m_err add_conflict(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const struct m2m_cert_record *rec,
				 enum m2m_ledger_conflict *conflict)
{
	struct m2m_cert_record other;
	char hex[M2M_LEDGER_HEX_MAX], q[M2M_QUOTE_MAX];
	enum m2m_err rc;

	rc = pg_get_cert(ctx, l, rec->serial, &other);
	if (rc == M2M_OK) {
		*conflict = M2M_CONFLICT_SERIAL;
		return m2m_error(ctx, M2M_ERR_DUPLICATE,
				 "serial %s is already in the ledger",
				 rec->serial);
	}
	if (rc != M2M_ERR_NOT_FOUND)
		return rc;
	if (rec->ppid) {
		rc = pg_find_valid(ctx, l, rec->profile, rec->ppid,
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
		rc = pg_find_valid_device(ctx, l, rec->profile,
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
			 "cannot record certificate %s: it met a record that another station has changed since; try again",
			 rec->serial);
}

static enum m2m_err pg_add_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				const struct m2m_cert_record *rec,
				enum m2m_ledger_conflict *conflict)
{
	struct pg *s = pg_of(l);
	struct params p = { 0 };
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "record a certificate");
	int added;

	if (rc != M2M_OK)
		return rc;
	p_text(&p, rec->serial);
	p_text(&p, rec->profile);
	p_text(&p, rec->subject);
	p_bytes(&p, rec->ppid, rec->ppid_len);
	p_text(&p, rec->device_serial);
	p_text(&p, rec->vouched_by);
	p_int(&p, rec->issued_at);
	p_int(&p, rec->not_before);
	p_int(&p, rec->not_after);
	p_bytes(&p, rec->der, rec->der_len);
	res = pg_exec(s, ST_ADD, &p);
	rc = pg_check(ctx, s, res, "record a certificate");
	if (rc != M2M_OK)
		return rc;
	added = PQntuples(res) == 1;
	PQclear(res);
	return added ? M2M_OK : add_conflict(ctx, l, rec, conflict);
}

static enum m2m_err pg_revoke(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      const char *serial, int64_t revoked_at,
			      int reason)
{
	struct pg *s = pg_of(l);
	struct m2m_cert_record rec;
	struct params p = { 0 };
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "revoke a certificate");
	int changed;

	if (rc != M2M_OK)
		return rc;
	p_text(&p, serial);
	p_int(&p, revoked_at);
	p_int(&p, reason);
	res = pg_exec(s, ST_REVOKE, &p);
	rc = pg_check(ctx, s, res, "revoke a certificate");
	if (rc != M2M_OK)
		return rc;
	changed = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (changed)
		return M2M_OK;
	rc = pg_get_cert(ctx, l, serial, &rec);
	if (rc != M2M_OK)
		return rc;
	return m2m_error(ctx, M2M_ERR_INVALID,
			 "certificate %s is already revoked", serial);
}

/*
 * Run a statement in single-row mode, calling row for each row in
 * constant memory; row's first non-OK code stops the calls (the rest is
 * read and dropped) and is returned.
 */
static enum m2m_err pg_walk(struct m2m_ctx *ctx, struct m2m_ledger *l,
			    const char *name, const struct params *p,
			    const char *what,
			    enum m2m_err (*row)(void *arg, const PGresult *r),
			    void *arg)
{
	struct pg *s = pg_of(l);
	PGresult *res;
	enum m2m_err rc = pg_usable(ctx, l, what);
	int drain, handed = 0, tries = 0;

again:
	drain = 0;
	if (rc != M2M_OK)
		return rc;
	if (!PQsendQueryPrepared(s->conn, name, p ? p->n : 0,
				 p ? p->v : NULL, p ? p->len : NULL,
				 p ? p->fmt : NULL, 1)) {
		s->broken = 1;
		rc = pg_fail(ctx, s, NULL, what);
	} else {
		PQsetSingleRowMode(s->conn);
	}
	while (rc == M2M_OK || drain) {
		res = PQgetResult(s->conn);
		if (!res)
			break;
		switch (PQresultStatus(res)) {
		case PGRES_SINGLE_TUPLE:
			drain = 1;	/* read on to the end */
			if (rc == M2M_OK) {
				handed = 1;
				rc = row(arg, res);
			}
			break;
		case PGRES_TUPLES_OK:
			break;
		default:
			if (rc == M2M_OK)
				rc = pg_fail(ctx, s, res, what);
			drain = 1;
			break;
		}
		PQclear(res);
	}
	/* Again on a new connection, if nothing was handed out yet. */
	if (!handed && !tries++ && pg_again(l, rc)) {
		rc = pg_usable(ctx, l, what);
		goto again;
	}
	return rc;
}

struct cert_walk {
	struct m2m_ctx *ctx;
	struct pg *s;
	enum m2m_err (*fn)(void *arg, const struct m2m_cert_record *);
	void *arg;
};

static enum m2m_err cert_row(void *arg, const PGresult *r)
{
	struct cert_walk *w = arg;
	struct m2m_cert_record rec;

	if (!row_record(r, 0, &rec))
		return m2m_error(w->ctx, M2M_ERR_BACKEND,
				 "ledger '%s': a certificate record lacks a column",
				 w->s->shown);
	return w->fn(w->arg, &rec);
}

/* The statement for one filter shape: status, then profile, then ppid. */
static enum m2m_err list_stmt(struct m2m_ctx *ctx, struct pg *s,
			      const struct m2m_ledger_filter *f, char name[16])
{
	static const char *const status_sql[4] = {
		"",
		" AND status = 0 AND not_after >= $1",
		" AND status = 1",
		" AND status = 0 AND not_after < $1",
	};
	static const unsigned types[3] = { OID_INT8, OID_TEXT, OID_BYTEA };
	int shape = f->status * 4 + (f->profile ? 2 : 0) + (f->ppid ? 1 : 0);
	PGresult *res;
	char sql[512];

	snprintf(name, 16, "m2m_list_%d", shape);
	if (s->list_ready & (1u << shape))
		return M2M_OK;
	snprintf(sql, sizeof(sql),
		 "SELECT " CERT_COLS " FROM certs WHERE true%s%s%s "
		 "ORDER BY id", status_sql[f->status],
		 f->profile ? " AND profile = $2" : "",
		 f->ppid ? " AND ppid = $3" : "");
	res = PQprepare(s->conn, name, sql, 3, types);
	if (pg_check(ctx, s, res, "list certificates") != M2M_OK)
		return M2M_ERR_BACKEND;
	PQclear(res);
	s->list_ready |= 1u << shape;
	return M2M_OK;
}

static enum m2m_err pg_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
			    const struct m2m_ledger_filter *filter,
			    enum m2m_err (*fn)(void *arg,
					       const struct m2m_cert_record *),
			    void *arg)
{
	struct pg *s = pg_of(l);
	struct cert_walk w = { ctx, s, fn, arg };
	struct params p = { 0 };
	char name[16];
	enum m2m_err rc = pg_usable(ctx, l, "list certificates");

	if (rc == M2M_OK)
		rc = list_stmt(ctx, s, filter, name);
	if (rc != M2M_OK)
		return rc;
	p_int(&p, filter->now);
	p_text(&p, filter->profile);
	p_bytes(&p, filter->ppid, filter->ppid_len);
	return pg_walk(ctx, l, name, &p, "list certificates", cert_row, &w);
}

/* ---- CRLs --------------------------------------------------------------- */

static enum m2m_err pg_next_crl_number(struct m2m_ctx *ctx,
				       struct m2m_ledger *l, uint64_t *number)
{
	struct pg *s = pg_of(l);
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "take a CRL number");

	if (rc != M2M_OK)
		return rc;
	res = pg_exec(s, ST_CRL_NEXT, NULL);
	rc = pg_check(ctx, s, res, "take a CRL number");
	if (rc != M2M_OK)
		return rc;
	*number = (uint64_t)col_int(res, 0, 0);
	PQclear(res);
	return M2M_OK;
}

static enum m2m_err pg_add_crl(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       uint64_t number, int64_t this_update,
			       const uint8_t *der, size_t der_len)
{
	struct pg *s = pg_of(l);
	struct params p = { 0 }, q = { 0 };
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "record a CRL");
	int changed, recorded;

	if (rc != M2M_OK)
		return rc;
	p_int(&p, (int64_t)number);
	p_int(&p, this_update);
	p_bytes(&p, der, der_len);
	res = pg_exec(s, ST_CRL_ADD, &p);
	rc = pg_check(ctx, s, res, "record a CRL");
	if (rc != M2M_OK)
		return rc;
	changed = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (changed)
		return M2M_OK;
	p_int(&q, (int64_t)number);
	res = pg_exec(s, ST_CRL_GET, &q);
	rc = pg_check(ctx, s, res, "record a CRL");
	if (rc != M2M_OK)
		return rc;
	recorded = PQntuples(res) == 1;
	PQclear(res);
	if (recorded)
		return m2m_error(ctx, M2M_ERR_DUPLICATE,
				 "CRL number %" PRIu64 " already has its CRL",
				 number);
	return m2m_error(ctx, M2M_ERR_USAGE,
			 "CRL number %" PRIu64 " was never taken (m2m_ledger_next_crl_number())",
			 number);
}

struct crl_walk {
	enum m2m_err (*fn)(void *arg, const struct m2m_crl_record *);
	void *arg;
};

static enum m2m_err crl_row(void *arg, const PGresult *r)
{
	struct crl_walk *w = arg;
	struct m2m_crl_record crl;

	memset(&crl, 0, sizeof(crl));
	crl.number = (uint64_t)col_int(r, 0, 0);
	crl.der = col_bytes(r, 0, 2, &crl.der_len);
	if (crl.der)
		crl.this_update = col_int(r, 0, 1);
	return w->fn(w->arg, &crl);
}

static enum m2m_err pg_crl_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				enum m2m_err (*fn)(void *arg,
					const struct m2m_crl_record *),
				void *arg)
{
	struct crl_walk w = { fn, arg };
	char name[16];

	return pg_walk(ctx, l, stmt_name(ST_CRL_LIST, name), NULL,
		       "read the CRLs", crl_row, &w);
}

/* As it is, and the sequence moved on past it. */
static enum m2m_err pg_crl_put(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       const struct m2m_crl_record *crl)
{
	struct pg *s = pg_of(l);
	struct params p = { 0 }, q = { 0 };
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "record a CRL");

	if (rc != M2M_OK)
		return rc;
	if (crl->number == 0 || crl->number > INT64_MAX)
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "CRL number %" PRIu64 " is out of range",
				 crl->number);
	p_int(&p, (int64_t)crl->number);
	if (crl->der) {
		p_int(&p, crl->this_update);
		p_bytes(&p, crl->der, crl->der_len);
	} else {
		p_bytes(&p, NULL, 0);
		p_bytes(&p, NULL, 0);
	}
	res = pg_exec(s, ST_CRL_PUT, &p);
	rc = pg_check(ctx, s, res, "record a CRL");
	if (rc != M2M_OK)
		return rc;
	PQclear(res);
	p_int(&q, (int64_t)crl->number);
	res = pg_exec(s, ST_CRL_SEQ, &q);
	rc = pg_check(ctx, s, res, "record a CRL");
	if (rc == M2M_OK)
		PQclear(res);
	return rc;
}

/* ---- the schema --------------------------------------------------------- */

/*
 * Version 1 is schema_sql; a later version adds its step here, run in the
 * migration's transaction, ending in a row of m2m_schema.
 */
static enum m2m_err pg_migrate(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       int *from)
{
	struct pg *s = pg_of(l);
	enum m2m_err rc;
	int version = 0;

	rc = pg_simple(ctx, s, "BEGIN; SELECT pg_advisory_xact_lock("
		       LOCK_SCHEMA ")", "begin the migration");
	/* Read again under the lock: another station may have migrated. */
	if (rc == M2M_OK)
		rc = pg_version(ctx, s, M2M_LEDGER_ANY_VERSION, &version);
	if (rc == M2M_OK)
		rc = pg_simple(ctx, s, "COMMIT", "commit the migration");
	if (rc != M2M_OK) {
		pg_abort(s);
		return rc;
	}
	*from = version;
	l->schema_version = SCHEMA_VERSION;
	return M2M_OK;
}

/* ---- the audit log ------------------------------------------------------ */

/*
 * Lock the head, then read the last entry in a statement of its own: in
 * READ COMMITTED a statement sees what was committed when it started, so
 * one started after the lock was granted sees the last holder's entries.
 */
static enum m2m_err pg_audit_last(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  uint64_t *seq,
				  uint8_t hash[M2M_AUDIT_HASH_LEN])
{
	struct pg *s = pg_of(l);
	PGresult *res;
	enum m2m_err rc = pg_idle(ctx, s, "lock the audit log");

	*seq = 0;
	memset(hash, 0, M2M_AUDIT_HASH_LEN);
	if (rc != M2M_OK)
		return rc;
	res = pg_exec(s, ST_AUDIT_LOCK, NULL);
	rc = pg_check(ctx, s, res, "lock the audit log");
	if (rc != M2M_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return m2m_error(ctx, M2M_ERR_INVALID,
				 "ledger '%s': the audit log's head row is missing",
				 s->shown);
	}
	PQclear(res);
	res = pg_exec(s, ST_AUDIT_LAST, NULL);
	rc = pg_check(ctx, s, res, "read the audit log");
	if (rc != M2M_OK)
		return rc;
	if (PQntuples(res) == 1) {
		int64_t n = col_int(res, 0, 0);
		size_t len = 0;
		const uint8_t *h = col_bytes(res, 0, 1, &len);

		/* A damaged tail is not built upon: m2m-verify first. */
		if (n < 1 || !h || len != M2M_AUDIT_HASH_LEN)
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "the audit log's last entry (%" PRId64 ") is damaged",
				       n);
		else {
			*seq = (uint64_t)n;
			memcpy(hash, h, M2M_AUDIT_HASH_LEN);
		}
	}
	PQclear(res);
	return rc;
}

/* Into the pipeline: the results are read with the COMMIT's. */
static enum m2m_err pg_audit_append(struct m2m_ctx *ctx, struct m2m_ledger *l,
				    const struct m2m_audit_entry *e)
{
	struct pg *s = pg_of(l);
	struct params p = { 0 };

	p_int(&p, (int64_t)e->seq);
	p_int(&p, e->time);
	p_text(&p, e->op);
	p_text(&p, e->detail);
	p_bytes(&p, e->prev_hash, M2M_AUDIT_HASH_LEN);
	p_bytes(&p, e->hash, M2M_AUDIT_HASH_LEN);
	return pg_send(ctx, s, ST_AUDIT_ADD, NULL, &p,
		       "append to the audit log");
}

struct audit_walk {
	enum m2m_err (*fn)(void *arg, const struct m2m_ledger_audit_row *);
	void *arg;
};

/* A hash column into out (zero-padded, cut at 32); its stored length. */
static size_t col_hash(const PGresult *r, int col,
		       uint8_t out[M2M_AUDIT_HASH_LEN])
{
	size_t n = 0;
	const uint8_t *p = col_bytes(r, 0, col, &n);

	memset(out, 0, M2M_AUDIT_HASH_LEN);
	if (p)
		memcpy(out, p, n < M2M_AUDIT_HASH_LEN ? n : M2M_AUDIT_HASH_LEN);
	return n;
}

static enum m2m_err audit_row(void *arg, const PGresult *r)
{
	struct audit_walk *w = arg;
	struct m2m_ledger_audit_row row;
	const char *t;

	memset(&row, 0, sizeof(row));
	row.e.seq = (uint64_t)col_int(r, 0, 0);
	row.e.time = col_int(r, 0, 1);
	t = col_text(r, 0, 2);
	row.e.op = t ? t : "";
	row.op_len = t ? (size_t)PQgetlength(r, 0, 2) : 0;
	t = col_text(r, 0, 3);
	row.e.detail = t ? t : "";
	row.detail_len = t ? (size_t)PQgetlength(r, 0, 3) : 0;
	row.prev_hash_len = col_hash(r, 4, row.e.prev_hash);
	row.hash_len = col_hash(r, 5, row.e.hash);
	return w->fn(w->arg, &row);
}

static enum m2m_err pg_audit_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				  enum m2m_err (*fn)(void *arg,
					const struct m2m_ledger_audit_row *),
				  void *arg)
{
	struct audit_walk w = { fn, arg };
	char name[16];

	return pg_walk(ctx, l, stmt_name(ST_AUDIT_LIST, name), NULL,
		       "read the audit log", audit_row, &w);
}

const struct m2m_ledger_ops m2m_ledger_postgresql_ops = {
	.chain_at_commit = 1,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.add_cert = pg_add_cert,
	.get_cert = pg_get_cert,
	.find_valid = pg_find_valid,
	.find_valid_device = pg_find_valid_device,
	.revoke = pg_revoke,
	.list = pg_list,
	.next_crl_number = pg_next_crl_number,
	.add_crl = pg_add_crl,
	.crl_list = pg_crl_list,
	.crl_put = pg_crl_put,
	.migrate = pg_migrate,
	.audit_append = pg_audit_append,
	.audit_last = pg_audit_last,
	.audit_list = pg_audit_list,
};
