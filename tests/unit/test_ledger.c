/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/ledger.h on the SQLite back-end, in a temporary
 * directory: opening and refusing files, transaction rules, certificate
 * records and their uniqueness, revocation, listing, CRL numbers, the audit
 * chain (with tampering done behind the library's back through SQLite
 * itself), two processes writing at once, and a throughput figure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <sqlite3.h>

#include <m2m/ctx.h>
#include <m2m/ledger.h>
#include <m2m/ppid.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-ledger-XXXXXX";

/* call returns code, and the detail it records contains phrase. */
#define CHECK_FAILS(call, code, phrase) do { \
	m2m_ctx_clear_error(ctx); \
	CHECK_EQ_INT((call), (code)); \
	CHECK_CONTAINS(m2m_ctx_detail(ctx), (phrase)); \
} while (0)

#define CHECK_OK(call) do { \
	enum m2m_err rc_ = (call); \
	CHECK_MSG(rc_ == M2M_OK, "%s: %s: %s", #call, m2m_strerror(rc_), \
		  m2m_ctx_detail(ctx)); \
} while (0)

#define NOW		1800000000
#define Y9999		253402300799	/* 99991231235959Z */

/* ---- helpers ------------------------------------------------------------ */

/* dir/name into out. */
static const char *tmp_path(char out[PATH_MAX], const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

/* A fresh ledger dir/name (any old one removed); NULL on failure. */
static struct m2m_ledger *fresh(const char *name)
{
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX], side[PATH_MAX + 8];
	enum m2m_err rc;

	tmp_path(path, name);
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	rc = m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE, &l);
	CHECK_MSG(rc == M2M_OK, "cannot create ledger %s: %s", path,
		  m2m_ctx_detail(ctx));
	return l;
}

static struct m2m_ledger *reopen(const char *name)
{
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX];
	enum m2m_err rc;

	rc = m2m_ledger_open(ctx, tmp_path(path, name), 0, &l);
	CHECK_MSG(rc == M2M_OK, "cannot reopen ledger %s: %s", path,
		  m2m_ctx_detail(ctx));
	return l;
}

/* Run SQL on a ledger file behind the library's back. */
static int raw_sql(const char *name, const char *sql)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	char *err = NULL;
	int r;

	r = sqlite3_open_v2(tmp_path(path, name), &db, SQLITE_OPEN_READWRITE,
			    NULL);
	if (r == SQLITE_OK)
		r = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (r != SQLITE_OK)
		fprintf(stderr, "# raw_sql: %s\n", err ? err :
			sqlite3_errmsg(db));
	sqlite3_free(err);
	sqlite3_close(db);
	return r == SQLITE_OK;
}

/* A certificate record and the memory it points to. */
struct rec {
	char serial[M2M_CERT_SERIAL_HEX_MAX];
	char subject[64];
	char device_serial[32];
	uint8_t ppid[8];
	uint8_t der[48];
	struct m2m_cert_record r;
};

/*
 * Record number n: serial 1000000n (hex), profile, PPID number ppid_n
 * (none for 0), valid for ten years from NOW.
 */
static const struct m2m_cert_record *mkrec(struct rec *b, uint32_t n,
					   const char *profile,
					   uint32_t ppid_n)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	snprintf(b->serial, sizeof(b->serial), "%08" PRIx32, 0x10000000u + n);
	snprintf(b->subject, sizeof(b->subject), "CN=device-%" PRIu32 ",O=Acme", n);
	snprintf(b->device_serial, sizeof(b->device_serial), "SN%06" PRIu32, n);
	b->ppid[0] = 0x01;
	b->ppid[4] = (uint8_t)(ppid_n >> 24);
	b->ppid[5] = (uint8_t)(ppid_n >> 16);
	b->ppid[6] = (uint8_t)(ppid_n >> 8);
	b->ppid[7] = (uint8_t)ppid_n;
	for (i = 0; i < sizeof(b->der); i++)
		b->der[i] = (uint8_t)(0x30 + n + i);
	b->r.serial = b->serial;
	b->r.profile = profile;
	b->r.subject = b->subject;
	if (ppid_n) {
		b->r.ppid = b->ppid;
		b->r.ppid_len = sizeof(b->ppid);
	}
	b->r.device_serial = b->device_serial;
	b->r.issued_at = NOW + n;
	b->r.not_before = NOW + n;
	b->r.not_after = NOW + n + 10 * 365 * 86400LL;
	b->r.status = M2M_CERT_VALID;
	b->r.reason = -1;
	b->r.der = b->der;
	b->r.der_len = sizeof(b->der);
	return &b->r;
}

static void check_same_record(const struct m2m_cert_record *got,
			      const struct m2m_cert_record *want)
{
	CHECK_EQ_STR(got->serial, want->serial);
	CHECK_EQ_STR(got->profile, want->profile);
	CHECK_EQ_STR(got->subject, want->subject);
	CHECK_EQ_INT(got->ppid_len, want->ppid_len);
	CHECK_EQ_INT(got->ppid == NULL, want->ppid == NULL);
	if (got->ppid && want->ppid && got->ppid_len == want->ppid_len)
		CHECK_EQ_MEM(got->ppid, want->ppid, want->ppid_len);
	CHECK_EQ_STR(got->device_serial, want->device_serial);
	CHECK_EQ_STR(got->vouched_by, want->vouched_by);
	CHECK_EQ_INT(got->issued_at, want->issued_at);
	CHECK_EQ_INT(got->not_before, want->not_before);
	CHECK_EQ_INT(got->not_after, want->not_after);
	CHECK_EQ_INT(got->status, want->status);
	CHECK_EQ_INT(got->revoked_at, want->revoked_at);
	CHECK_EQ_INT(got->reason, want->reason);
	CHECK_EQ_INT(got->der_len, want->der_len);
	if (got->der && got->der_len == want->der_len)
		CHECK_EQ_MEM(got->der, want->der, want->der_len);
}

/* Add a record in its own transaction. */
static enum m2m_err add_one(struct m2m_ledger *l,
			    const struct m2m_cert_record *r)
{
	enum m2m_err rc = m2m_ledger_begin(ctx, l);

	if (rc != M2M_OK)
		return rc;
	rc = m2m_ledger_add_cert(ctx, l, r, NULL);
	if (rc != M2M_OK) {
		m2m_ledger_rollback(ctx, l);
		return rc;
	}
	return m2m_ledger_commit(ctx, l);
}

static enum m2m_err revoke_one(struct m2m_ledger *l, const char *serial,
			       int64_t at, int reason)
{
	enum m2m_err rc = m2m_ledger_begin(ctx, l);

	if (rc != M2M_OK)
		return rc;
	rc = m2m_ledger_revoke(ctx, l, serial, at, reason);
	if (rc != M2M_OK) {
		m2m_ledger_rollback(ctx, l);
		return rc;
	}
	return m2m_ledger_commit(ctx, l);
}

/* Counting records or entries, and remembering their order. */
struct counter {
	unsigned long n;
	unsigned long out_of_order;
	char last[M2M_CERT_SERIAL_HEX_MAX];
	unsigned long stop_at;		/* 0: never */
	struct m2m_ledger *nested;	/* call the ledger from inside */
	enum m2m_err nested_rc;
};

static enum m2m_err count_cert(void *arg, const struct m2m_cert_record *r)
{
	struct counter *c = arg;

	if (c->n && strcmp(r->serial, c->last) <= 0)
		c->out_of_order++;
	snprintf(c->last, sizeof(c->last), "%s", r->serial);
	c->n++;
	if (c->nested) {
		struct m2m_cert_record other;

		c->nested_rc = m2m_ledger_get_cert(ctx, c->nested, r->serial,
						   &other);
		return M2M_OK;
	}
	if (c->stop_at && c->n == c->stop_at)
		return M2M_ERR_IO;
	return M2M_OK;
}

/*
 * The number of records the filter selects; they must come in order of
 * serial, which is the order of issuance wherever the tests count.
 */
static unsigned long count_list(struct m2m_ledger *l, int status,
				const char *profile, const uint8_t *ppid,
				size_t ppid_len)
{
	struct m2m_ledger_filter f = { status, NOW, profile, ppid, ppid_len };
	struct counter c;

	memset(&c, 0, sizeof(c));
	CHECK_OK(m2m_ledger_list(ctx, l, &f, count_cert, &c));
	CHECK_EQ_INT(c.out_of_order, 0);
	return c.n;
}

/* Append n audit entries numbered from first, in transactions of tx. */
static enum m2m_err audit_n(struct m2m_ledger *l, unsigned first, unsigned n,
			    unsigned tx)
{
	char detail[64];
	enum m2m_err rc = M2M_OK;
	unsigned i;

	for (i = 0; i < n && rc == M2M_OK; i++) {
		if (i % tx == 0) {
			rc = m2m_ledger_begin(ctx, l);
			if (rc != M2M_OK)
				break;
		}
		snprintf(detail, sizeof(detail), "{\"n\":%u}", first + i);
		rc = m2m_ledger_audit(ctx, l, NOW + first + i, "issue", detail);
		if (rc == M2M_OK && (i % tx == tx - 1 || i == n - 1))
			rc = m2m_ledger_commit(ctx, l);
	}
	if (rc != M2M_OK)
		m2m_ledger_rollback(ctx, l);
	return rc;
}

/* ---- opening ------------------------------------------------------------ */

UNIT_TEST(open_create_reopen_schema_version_and_mode_0600)
{
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX], loc[PATH_MAX + 8];
	struct stat sb;

	tmp_path(path, "create.db");
	snprintf(loc, sizeof(loc), "sqlite:%s", path);
	CHECK_OK(m2m_ledger_open(ctx, loc, M2M_LEDGER_CREATE, &l));
	CHECK_EQ_INT(m2m_ledger_schema_version(l), 1);
	m2m_ledger_close(l);
	l = NULL;
	if (CHECK(stat(path, &sb) == 0))
		CHECK_EQ_INT(sb.st_mode & 07777, 0600);

	CHECK_OK(m2m_ledger_open(ctx, path, 0, &l));
	CHECK_EQ_INT(m2m_ledger_schema_version(l), 1);
	/* The write-ahead log gets the database's mode. */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "init", "{}"));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	snprintf(loc, sizeof(loc), "%s-wal", path);
	if (CHECK(stat(loc, &sb) == 0))
		CHECK_EQ_INT(sb.st_mode & 07777, 0600);
	m2m_ledger_close(l);
	l = NULL;
	snprintf(loc, sizeof(loc), "sqlite:%s", path);
	/* CREATE on an existing ledger opens it. */
	CHECK_OK(m2m_ledger_open(ctx, loc, M2M_LEDGER_CREATE, &l));
	m2m_ledger_close(l);
	l = NULL;
	CHECK_OK(m2m_ledger_open(ctx, loc, M2M_LEDGER_READONLY, &l));
	CHECK_EQ_INT(m2m_ledger_schema_version(l), 1);
	CHECK_FAILS(m2m_ledger_begin(ctx, l), M2M_ERR_USAGE, "read-only");
	m2m_ledger_close(l);
	l = NULL;
	CHECK_FAILS(m2m_ledger_open(ctx, loc, M2M_LEDGER_CREATE |
				    M2M_LEDGER_READONLY, &l),
		    M2M_ERR_USAGE, "flags");
	CHECK(l == NULL);
	m2m_ledger_close(NULL);
	CHECK_EQ_INT(m2m_ledger_schema_version(NULL), 0);
}

UNIT_TEST(open_missing_without_create_is_not_found)
{
	struct m2m_ledger *l = (struct m2m_ledger *)1;
	char path[PATH_MAX], q[PATH_MAX + 32];
	struct stat sb;

	tmp_path(path, "missing.db");
	snprintf(q, sizeof(q), "no ledger at '%s'", path);
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0, &l), M2M_ERR_NOT_FOUND, q);
	CHECK(l == NULL);
	CHECK_EQ_INT(stat(path, &sb), -1);
	CHECK_FAILS(m2m_ledger_open(ctx, "sqlite:", 0, &l), M2M_ERR_USAGE,
		    "no ledger path");
	CHECK_FAILS(m2m_ledger_open(ctx, "", 0, &l), M2M_ERR_USAGE,
		    "no ledger location");
}

UNIT_TEST(open_file_that_is_not_a_ledger_is_invalid)
{
	struct m2m_ledger *l = NULL;
	unsigned char junk[4096];
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	size_t i;
	int fd;

	/* Random-looking bytes. */
	tmp_path(path, "junk.db");
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (CHECK(fd >= 0)) {
		CHECK_EQ_INT(write(fd, junk, sizeof(junk)), sizeof(junk));
		close(fd);
	}
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0, &l), M2M_ERR_INVALID,
		    "is not an m2m ledger");
	CHECK_FAILS(m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE, &l),
		    M2M_ERR_INVALID, "is not an m2m ledger");

	/* An empty SQLite database (a header, no tables). */
	tmp_path(path, "empty.db");
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL,
				  NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0, &l), M2M_ERR_INVALID,
		    "is not an m2m ledger");

	/* Somebody else's database, even with CREATE. */
	tmp_path(path, "other.db");
	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(db);
	CHECK_FAILS(m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE, &l),
		    M2M_ERR_INVALID, "is not an m2m ledger");

	/* A zero-length file, and a directory. */
	tmp_path(path, "zero.db");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0, &l), M2M_ERR_INVALID,
		    "is not an m2m ledger");
	CHECK_FAILS(m2m_ledger_open(ctx, dir, 0, &l), M2M_ERR_INVALID,
		    "is not an m2m ledger");
	CHECK(l == NULL);
}

UNIT_TEST(open_newer_schema_version_is_invalid)
{
	struct m2m_ledger *l = fresh("newer.db");
	char path[PATH_MAX];

	m2m_ledger_close(l);
	l = NULL;
	CHECK(raw_sql("newer.db", "UPDATE meta SET value = '2' "
		      "WHERE key = 'schema_version'"));
	CHECK_FAILS(m2m_ledger_open(ctx, tmp_path(path, "newer.db"), 0, &l),
		    M2M_ERR_INVALID, "has schema version 2, newer than this m2m reads (1)");
	CHECK(raw_sql("newer.db", "DELETE FROM meta"));
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0, &l), M2M_ERR_INVALID,
		    "no valid schema version");
	CHECK(l == NULL);
}

UNIT_TEST(open_symbolic_link_refused)
{
	struct m2m_ledger *l = fresh("target.db");
	char path[PATH_MAX], link[PATH_MAX];

	m2m_ledger_close(l);
	l = NULL;
	tmp_path(link, "link.db");
	unlink(link);
	CHECK_EQ_INT(symlink(tmp_path(path, "target.db"), link), 0);
	CHECK_FAILS(m2m_ledger_open(ctx, link, 0, &l), M2M_ERR_INVALID,
		    "is a symbolic link");
	CHECK(l == NULL);

	/* Links among the directories leading to the file are fine. */
	tmp_path(path, "realdir");
	tmp_path(link, "linkdir");
	CHECK_EQ_INT(mkdir(path, 0700), 0);
	CHECK_EQ_INT(symlink(path, link), 0);
	strcat(link, "/in-linked-dir.db");
	CHECK_OK(m2m_ledger_open(ctx, link, M2M_LEDGER_CREATE, &l));
	m2m_ledger_close(l);
	l = NULL;
	CHECK_OK(m2m_ledger_open(ctx, link, 0, &l));
	m2m_ledger_close(l);
	strcat(path, "/in-linked-dir.db");
	CHECK_EQ_INT(access(path, R_OK), 0);
	unlink(path);
	rmdir(tmp_path(path, "realdir"));
}

UNIT_TEST(open_unknown_schemes_unsupported_and_uri_passwords_refused)
{
	struct m2m_ledger *l = NULL;

	/* Refused before connecting: the password would be in argv or
	 * ca.conf. */
	CHECK_FAILS(m2m_ledger_open(ctx, "postgresql://ca:s3cret@localhost/ledger",
				    0, &l), M2M_ERR_INVALID,
		    "ledger 'postgresql://ca:***@localhost/ledger' holds a password");
	CHECK(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL);
	/* Never the rest of the URI: it may hold a password. */
	CHECK_FAILS(m2m_ledger_open(ctx, "mysql://ca:s3cret@db/x", 0, &l),
		    M2M_ERR_UNSUPPORTED, "unknown ledger scheme 'mysql'");
	CHECK(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL);
	/* A path with "://" in it is still a path. */
	CHECK_FAILS(m2m_ledger_open(ctx, "./a://b", 0, &l),
		    M2M_ERR_NOT_FOUND, "no ledger at './a://b'");
	CHECK(l == NULL);
}

UNIT_TEST(locations_are_shown_without_their_passwords)
{
	static const struct {
		const char *in, *out;
		int had;
	} cases[] = {
		{ "ledger.db", "ledger.db", 0 },
		{ "sqlite:/var/ca/ledger.db", "sqlite:/var/ca/ledger.db", 0 },
		{ "postgresql://ca@db.example:5433/ledger",
		  "postgresql://ca@db.example:5433/ledger", 0 },
		{ "postgresql://ca:s3cret@db.example/ledger",
		  "postgresql://ca:***@db.example/ledger", 1 },
		{ "postgres://ca:s3c:r@t@db/ledger?sslmode=require",
		  "postgres://ca:***@t@db/ledger?sslmode=require", 1 },
		{ "postgresql://:s3cret@/ledger", "postgresql://:***@/ledger", 1 },
		{ "postgresql:///ledger?host=/run/pg&password=s3cret&user=ca",
		  "postgresql:///ledger?host=/run/pg&password=***&user=ca", 1 },
		{ "postgresql:///l?pass%77ord=s3cret", "postgresql:///l?pass%77ord=***", 1 },
		{ "postgresql:///l?passfile=/etc/pgpass",
		  "postgresql:///l?passfile=/etc/pgpass", 0 },
		/* A '/' before the '@': no user information, a path. */
		{ "postgresql://h/db@x:y", "postgresql://h/db@x:y", 0 },
		{ "postgresql://h/db?x=\x01", "postgresql://h/db?x=?", 0 },
		{ "", "", 0 },
	};
	char out[M2M_LEDGER_SHOWN_MAX], small[20];
	size_t i;
	int had;

	for (i = 0; i < UNIT_COUNT(cases); i++) {
		had = -1;
		m2m_ledger_location_shown(cases[i].in, out, sizeof(out), &had);
		CHECK_EQ_STR(out, cases[i].out);
		CHECK_MSG(had == cases[i].had, "%s: had %d", cases[i].in, had);
	}
	/* Cut to fit; NULL is nothing. */
	m2m_ledger_location_shown("postgresql://ca:s3cret@db/x", small, 16,
				  NULL);
	CHECK(strcmp(small, "postgresql://ca") == 0);
	m2m_ledger_location_shown("postgresql://ca:s3cret@db/x", small,
				  sizeof(small), NULL);
	CHECK(strcmp(small, "postgresql://ca:***") == 0);
	/* A password past what fits is still found. */
	snprintf(out, sizeof(out), "postgresql:///%0200d?password=s3cret", 0);
	m2m_ledger_location_shown(out, small, sizeof(small), &had);
	CHECK_EQ_INT(had, 1);
	CHECK(m2m_ledger_location_shown(NULL, out, sizeof(out), &had) == out);
	CHECK_EQ_STR(out, "");
	CHECK_EQ_INT(had, 0);
}

UNIT_TEST(create_exclusive_refuses_an_existing_ledger)
{
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX], q[PATH_MAX + 64];

	tmp_path(path, "excl.db");
	CHECK_OK(m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE |
				 M2M_LEDGER_EXCL, &l));
	m2m_ledger_close(l);
	l = NULL;
	snprintf(q, sizeof(q), "a ledger is at '%s' already", path);
	CHECK_FAILS(m2m_ledger_open(ctx, path, M2M_LEDGER_CREATE |
				    M2M_LEDGER_EXCL, &l), M2M_ERR_DUPLICATE, q);
	CHECK_FAILS(m2m_ledger_open(ctx, path, M2M_LEDGER_EXCL, &l),
		    M2M_ERR_USAGE, "invalid ledger open flags 0x4");
	CHECK_FAILS(m2m_ledger_open(ctx, path, 0x100, &l), M2M_ERR_USAGE,
		    "invalid ledger open flags 0x100");
	CHECK(l == NULL);
}

UNIT_TEST(migrate_a_current_ledger_changes_nothing)
{
	struct m2m_ledger *l = fresh("migrate.db");
	char path[PATH_MAX];
	int from = -1, to = -1;

	m2m_ledger_close(l);
	CHECK_OK(m2m_ledger_migrate(ctx, tmp_path(path, "migrate.db"), &from,
				    &to));
	CHECK_EQ_INT(from, 1);
	CHECK_EQ_INT(to, 1);
	CHECK_OK(m2m_ledger_migrate(ctx, path, NULL, NULL));
	CHECK_FAILS(m2m_ledger_migrate(ctx, tmp_path(path, "absent.db"), &from,
				       &to), M2M_ERR_NOT_FOUND, "no ledger at");
	CHECK_EQ_INT(from, 0);
	CHECK_EQ_INT(to, 0);
	CHECK(raw_sql("migrate.db", "UPDATE meta SET value = '3' "
		      "WHERE key = 'schema_version'"));
	CHECK_FAILS(m2m_ledger_migrate(ctx, tmp_path(path, "migrate.db"), NULL,
				       NULL), M2M_ERR_INVALID,
		    "has schema version 3, newer than this m2m reads (1)");
}

/* ---- transactions ------------------------------------------------------- */

UNIT_TEST(transaction_state_is_checked)
{
	struct m2m_ledger *l = fresh("tx.db");
	struct rec a;
	uint64_t n = 99;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_USAGE,
		    "no transaction is open");
	CHECK_FAILS(m2m_ledger_commit(ctx, l), M2M_ERR_USAGE,
		    "no transaction is open");
	CHECK_FAILS(m2m_ledger_revoke(ctx, l, a.serial, NOW, 1),
		    M2M_ERR_USAGE, "no transaction is open");
	CHECK_FAILS(m2m_ledger_next_crl_number(ctx, l, &n), M2M_ERR_USAGE,
		    "no transaction is open");
	CHECK_FAILS(m2m_ledger_audit(ctx, l, NOW, "init", "{}"),
		    M2M_ERR_USAGE, "no transaction is open");
	m2m_ledger_rollback(ctx, l);	/* nothing open: no effect */

	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_FAILS(m2m_ledger_begin(ctx, l), M2M_ERR_USAGE,
		    "transactions do not nest");
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_FAILS(m2m_ledger_audit(ctx, l, NOW, "Issue", "{}"),
		    M2M_ERR_USAGE, "'Issue' is not a short lower-case word");
	CHECK_FAILS(m2m_ledger_audit(ctx, l, NOW, "", "{}"),
		    M2M_ERR_USAGE, "not a short lower-case word");
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_FAILS(m2m_ledger_begin(ctx, NULL), M2M_ERR_USAGE, "no ledger");
	m2m_ledger_close(l);
}

UNIT_TEST(rollback_and_close_discard_the_transaction)
{
	struct m2m_ledger *l = fresh("rollback.db");
	struct m2m_cert_record got;
	struct rec a;
	uint64_t n = 0, count = 99;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 1);
	/* Visible inside the transaction... */
	CHECK_OK(m2m_ledger_get_cert(ctx, l, a.serial, &got));
	m2m_ledger_rollback(ctx, l);
	/* ...gone after it. */
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, a.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate with serial 10000001");
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 0);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	/* Closing with the transaction open rolls it back. */
	m2m_ledger_close(l);
	l = reopen("rollback.db");
	if (!l)
		return;
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, a.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate");
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 0);
	m2m_ledger_close(l);
}

/* ---- certificate records ------------------------------------------------ */

UNIT_TEST(add_get_round_trip_of_every_field)
{
	struct m2m_ledger *l = fresh("fields.db");
	struct m2m_cert_record got;
	struct rec a, b;

	if (!l)
		return;
	mkrec(&a, 1, "ldevid", 0xabcdef01);
	a.r.vouched_by = "00c3a19f";
	a.r.issued_at = 1700000000;
	a.r.not_before = 1699999000;
	a.r.not_after = Y9999;
	a.r.subject = "CN=Meter 42,O=Acme\\, Inc.,C=DE";
	/* No PPID, device serial or voucher; a negative notBefore. */
	mkrec(&b, 2, "ca", 0);
	b.r.device_serial = NULL;
	b.r.not_before = -86400;
	b.r.not_after = Y9999;
	b.r.subject = "";

	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000001", &got));
	check_same_record(&got, &a.r);
	CHECK(got.serial != a.serial);	/* the ledger's own copy */
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000002", &got));
	check_same_record(&got, &b.r);
	CHECK(got.ppid == NULL && got.device_serial == NULL &&
	      got.vouched_by == NULL);
	m2m_ledger_close(l);

	l = reopen("fields.db");
	if (!l)
		return;
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000001", &got));
	check_same_record(&got, &a.r);
	CHECK_EQ_INT(got.not_after, 253402300799LL);
	CHECK_EQ_INT(got.revoked_at, 0);
	CHECK_EQ_INT(got.reason, -1);
	m2m_ledger_close(l);
}

UNIT_TEST(serial_lookup_any_case_with_or_without_leading_zeros)
{
	static const char *const ff01[] = {
		"00ff01", "ff01", "FF01", "00FF01", "0000ff01", "000FF01",
	};
	static const char *const abc[] = { "0abc", "abc", "ABC", "00000abc" };
	struct m2m_ledger *l = fresh("serials.db");
	struct m2m_cert_record got;
	struct rec a, b, c;
	size_t i;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	strcpy(a.serial, "00ff01");
	mkrec(&b, 2, "idevid", 2);
	strcpy(b.serial, "0abc");
	mkrec(&c, 3, "idevid", 3);	/* 20 octets, the most allowed */
	strcpy(c.serial, "7fffffffffffffffffffffffffffffffffffff01");
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &c.r, NULL));
	CHECK_OK(m2m_ledger_commit(ctx, l));

	for (i = 0; i < UNIT_COUNT(ff01); i++) {
		CHECK_MSG(m2m_ledger_get_cert(ctx, l, ff01[i], &got) == M2M_OK,
			  "'%s' not found: %s", ff01[i], m2m_ctx_detail(ctx));
		CHECK_EQ_STR(got.serial, "00ff01");
	}
	for (i = 0; i < UNIT_COUNT(abc); i++) {
		CHECK_MSG(m2m_ledger_get_cert(ctx, l, abc[i], &got) == M2M_OK,
			  "'%s' not found: %s", abc[i], m2m_ctx_detail(ctx));
		CHECK_EQ_STR(got.serial, "0abc");
	}
	CHECK_OK(m2m_ledger_get_cert(ctx, l,
				     "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF01",
				     &got));
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, "ff02", &got),
		    M2M_ERR_NOT_FOUND, "no certificate with serial 00ff02");
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, "12:34", &got),
		    M2M_ERR_INVALID, "'12:34' is not a certificate serial (hex digits)");
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, "000", &got),
		    M2M_ERR_INVALID, "serials are positive");
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, "", &got), M2M_ERR_INVALID,
		    "serials are positive");
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, NULL, &got), M2M_ERR_USAGE,
		    "no certificate serial");
	/* 20 octets once the 00 the high bit needs is added: too long. */
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l,
					"8fffffffffffffffffffffffffffffffffffff01",
					&got), M2M_ERR_INVALID,
		    "is longer than 20 octets");
	m2m_ledger_close(l);
}

UNIT_TEST(add_rejects_bad_records)
{
	struct m2m_ledger *l = fresh("badrec.db");
	enum m2m_ledger_conflict cf = M2M_CONFLICT_PPID;
	struct rec a;

	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	mkrec(&a, 1, "idevid", 1);
	strcpy(a.serial, "ABCD");
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, &cf), M2M_ERR_INVALID,
		    "serial 'ABCD' is not in DER form (lower-case, minimal: '00abcd')");
	CHECK_EQ_INT(cf, M2M_CONFLICT_NONE);
	strcpy(a.serial, "7BCD");
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_INVALID,
		    "serial '7BCD' is not in DER form (lower-case, minimal: '7bcd')");
	strcpy(a.serial, "0001");
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_INVALID,
		    "minimal: '01'");
	strcpy(a.serial, "ff01");	/* negative as DER content */
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_INVALID,
		    "minimal: '00ff01'");
	mkrec(&a, 1, "idevid", 1);
	a.r.status = M2M_CERT_REVOKED;
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_USAGE,
		    "must be valid");
	mkrec(&a, 1, "idevid", 1);
	a.r.der_len = 0;
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_USAGE,
		    "DER are required");
	mkrec(&a, 1, "", 1);
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_USAGE,
		    "profile");
	mkrec(&a, 1, "idevid", 1);
	a.r.ppid_len = 0;
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_USAGE,
		    "a PPID needs bytes");
	mkrec(&a, 1, "idevid", 1);
	a.r.not_before = a.r.not_after + 1;
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a.r, NULL), M2M_ERR_INVALID,
		    "notBefore is after notAfter");
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, NULL, NULL), M2M_ERR_USAGE,
		    "required");
	/* None of it was recorded; the transaction is still good. */
	mkrec(&a, 1, "idevid", 1);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 1);
	m2m_ledger_close(l);
}

UNIT_TEST(duplicate_serial_conflicts_and_transaction_goes_on)
{
	struct m2m_ledger *l = fresh("dupserial.db");
	enum m2m_ledger_conflict cf = M2M_CONFLICT_NONE;
	struct m2m_cert_record got;
	struct rec a, b, a2, c;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	mkrec(&b, 2, "idevid", 2);
	mkrec(&a2, 1, "idevid", 7);	/* a's serial, another device */
	a2.r.subject = "CN=impostor";
	mkrec(&c, 3, "idevid", 3);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, &cf));
	CHECK_EQ_INT(cf, M2M_CONFLICT_NONE);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &a2.r, &cf),
		    M2M_ERR_DUPLICATE, "serial 10000001 is already in the ledger");
	CHECK_EQ_INT(cf, M2M_CONFLICT_SERIAL);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &c.r, &cf));
	CHECK_EQ_INT(cf, M2M_CONFLICT_NONE);
	CHECK_OK(m2m_ledger_commit(ctx, l));

	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 3);
	CHECK_OK(m2m_ledger_get_cert(ctx, l, a.serial, &got));
	check_same_record(&got, &a.r);
	/* A conflict across transactions, too. */
	CHECK_FAILS(add_one(l, &a2.r), M2M_ERR_DUPLICATE,
		    "already in the ledger");
	CHECK_FAILS(m2m_ledger_find_valid(ctx, l, "idevid", a2.ppid,
					  sizeof(a2.ppid), &got),
		    M2M_ERR_NOT_FOUND,
		    "PPID 0100000000000007 has no valid idevid certificate");
	m2m_ledger_close(l);
}

UNIT_TEST(one_valid_certificate_per_profile_and_ppid)
{
	struct m2m_ledger *l = fresh("dupppid.db");
	enum m2m_ledger_conflict cf = M2M_CONFLICT_NONE;
	struct m2m_cert_record got;
	struct rec a, b, c, d;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 0xaa);
	mkrec(&b, 9, "idevid", 0xaa);	/* recorded last */
	mkrec(&c, 3, "ldevid", 0xaa);
	mkrec(&d, 4, "idevid", 0);	/* no PPID: never a PPID conflict */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, &cf));
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &b.r, &cf), M2M_ERR_DUPLICATE,
		    "PPID 01000000000000aa already has a valid idevid certificate (serial 10000001)");
	CHECK_EQ_INT(cf, M2M_CONFLICT_PPID);
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, b.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate");
	/* The same PPID in another profile is fine. */
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &c.r, &cf));
	CHECK_EQ_INT(cf, M2M_CONFLICT_NONE);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &d.r, &cf));
	mkrec(&d, 5, "idevid", 0);
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &d.r, &cf));
	CHECK_OK(m2m_ledger_commit(ctx, l));

	/* After revocation the PPID may have a new one. */
	CHECK_FAILS(add_one(l, &b.r), M2M_ERR_DUPLICATE, "already has a valid");
	CHECK_OK(revoke_one(l, a.serial, NOW + 10, 1));
	CHECK_OK(add_one(l, &b.r));
	CHECK_OK(m2m_ledger_find_valid(ctx, l, "idevid", b.ppid,
				       sizeof(b.ppid), &got));
	CHECK_EQ_STR(got.serial, "10000009");
	CHECK_OK(m2m_ledger_find_valid(ctx, l, "ldevid", c.ppid,
				       sizeof(c.ppid), &got));
	CHECK_EQ_STR(got.serial, "10000003");
	CHECK_EQ_INT(count_list(l, 0, NULL, a.ppid, sizeof(a.ppid)), 3);
	m2m_ledger_close(l);
}

UNIT_TEST(one_valid_certificate_per_profile_and_device_serial)
{
	struct m2m_ledger *l = fresh("dupdevice.db");
	enum m2m_ledger_conflict cf = M2M_CONFLICT_NONE;
	struct m2m_cert_record got;
	struct rec a, b;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 0xa1);
	mkrec(&b, 2, "idevid", 0xb2);
	strcpy(b.device_serial, a.device_serial);	/* same device */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, &cf));
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &b.r, &cf), M2M_ERR_DUPLICATE,
		    "device 'SN000001' already has a valid idevid certificate (serial 10000001)");
	CHECK_EQ_INT(cf, M2M_CONFLICT_DEVICE);
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_find_valid_device(ctx, l, "idevid", "SN000001",
					      &got));
	CHECK_EQ_STR(got.serial, "10000001");
	CHECK_FAILS(m2m_ledger_find_valid_device(ctx, l, "ldevid", "SN000001",
						 &got),
		    M2M_ERR_NOT_FOUND, "device 'SN000001' has no valid ldevid certificate");
	CHECK_OK(revoke_one(l, a.serial, NOW + 10, 4));
	CHECK_OK(add_one(l, &b.r));
	CHECK_OK(m2m_ledger_find_valid_device(ctx, l, "idevid", "SN000001",
					      &got));
	CHECK_EQ_STR(got.serial, "10000002");
	m2m_ledger_close(l);
}

UNIT_TEST(find_valid_ignores_revoked_and_not_expiry)
{
	struct m2m_ledger *l = fresh("find.db");
	struct m2m_cert_record got;
	struct rec a;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 5);
	a.r.not_before = 1000;
	a.r.not_after = 2000;		/* long expired */
	CHECK_OK(add_one(l, &a.r));
	CHECK_OK(m2m_ledger_find_valid(ctx, l, "idevid", a.ppid,
				       sizeof(a.ppid), &got));
	check_same_record(&got, &a.r);
	CHECK_FAILS(m2m_ledger_find_valid(ctx, l, "ldevid", a.ppid,
					  sizeof(a.ppid), &got),
		    M2M_ERR_NOT_FOUND, "has no valid ldevid certificate");
	CHECK_OK(revoke_one(l, a.serial, 1500, 4));
	CHECK_FAILS(m2m_ledger_find_valid(ctx, l, "idevid", a.ppid,
					  sizeof(a.ppid), &got),
		    M2M_ERR_NOT_FOUND,
		    "PPID 0100000000000005 has no valid idevid certificate");
	CHECK_FAILS(m2m_ledger_find_valid(ctx, l, "idevid", NULL, 0, &got),
		    M2M_ERR_USAGE, "PPID are required");
	m2m_ledger_close(l);
}

UNIT_TEST(revoke_records_and_refuses_twice_or_unknown)
{
	struct m2m_ledger *l = fresh("revoke.db");
	struct m2m_cert_record got;
	struct rec a;

	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	strcpy(a.serial, "00c0ffee");
	CHECK_OK(add_one(l, &a.r));
	/* Upper case, without the 00 octet. */
	CHECK_OK(revoke_one(l, "C0FFEE", NOW + 60, 1));
	CHECK_OK(m2m_ledger_get_cert(ctx, l, a.serial, &got));
	CHECK_EQ_INT(got.status, M2M_CERT_REVOKED);
	CHECK_EQ_INT(got.revoked_at, NOW + 60);
	CHECK_EQ_INT(got.reason, 1);
	CHECK_FAILS(revoke_one(l, "00c0ffee", NOW + 61, 4), M2M_ERR_INVALID,
		    "certificate 00c0ffee is already revoked");
	CHECK_OK(m2m_ledger_get_cert(ctx, l, a.serial, &got));
	CHECK_EQ_INT(got.revoked_at, NOW + 60);
	CHECK_FAILS(revoke_one(l, "deadbeef", NOW, 1), M2M_ERR_NOT_FOUND,
		    "no certificate with serial 00deadbeef in the ledger");
	CHECK_FAILS(revoke_one(l, "c0ffee", NOW, 7), M2M_ERR_INVALID,
		    "7 is not a CRLReason a revocation can have");
	CHECK_FAILS(revoke_one(l, "c0ffee", NOW, 8), M2M_ERR_INVALID,
		    "8 is not a CRLReason");
	m2m_ledger_close(l);
}

/* ---- listing ------------------------------------------------------------ */

/*
 * 1,000 records: i % 4 == 0 are ldevid (250), sharing the PPID of the
 * idevid i + 1; i % 5 == 0 expired at NOW - 1 (200), i % 5 == 1 expire
 * exactly at NOW (still valid); i % 10 == 3 (100, unexpired) and
 * i % 10 == 5 (100, expired) revoked.
 */
static void make_thousand(struct m2m_ledger *l)
{
	struct rec b;
	unsigned i;

	for (i = 0; i < 1000; i++) {
		if (i % 250 == 0)
			CHECK_OK(m2m_ledger_begin(ctx, l));
		mkrec(&b, i, i % 4 == 0 ? "ldevid" : "idevid",
		      i % 4 == 0 ? i + 2 : i + 1);
		if (i % 5 == 0)
			b.r.not_after = NOW - 1;
		else if (i % 5 == 1)
			b.r.not_after = NOW;
		if (b.r.not_before > b.r.not_after)
			b.r.not_before = b.r.not_after;
		CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
		if (i % 250 == 249)
			CHECK_OK(m2m_ledger_commit(ctx, l));
	}
	CHECK_OK(m2m_ledger_begin(ctx, l));
	for (i = 0; i < 1000; i++) {
		if (i % 10 == 3 || i % 10 == 5) {
			mkrec(&b, i, "", 0);
			CHECK_OK(m2m_ledger_revoke(ctx, l, b.serial, NOW, 1));
		}
	}
	CHECK_OK(m2m_ledger_commit(ctx, l));
}

UNIT_TEST(list_filters_count_exactly_over_1000_records)
{
	struct m2m_ledger *l = fresh("list.db");
	struct rec b;

	if (!l)
		return;
	make_thousand(l);
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 1000);
	CHECK_EQ_INT(count_list(l, 1, NULL, NULL, 0), 700);
	CHECK_EQ_INT(count_list(l, 2, NULL, NULL, 0), 200);
	CHECK_EQ_INT(count_list(l, 3, NULL, NULL, 0), 100);
	CHECK_EQ_INT(count_list(l, 0, "ldevid", NULL, 0), 250);
	CHECK_EQ_INT(count_list(l, 1, "ldevid", NULL, 0), 200);
	CHECK_EQ_INT(count_list(l, 2, "ldevid", NULL, 0), 0);
	CHECK_EQ_INT(count_list(l, 3, "ldevid", NULL, 0), 50);
	CHECK_EQ_INT(count_list(l, 0, "idevid", NULL, 0), 750);
	CHECK_EQ_INT(count_list(l, 1, "idevid", NULL, 0), 500);
	CHECK_EQ_INT(count_list(l, 2, "idevid", NULL, 0), 200);
	CHECK_EQ_INT(count_list(l, 3, "idevid", NULL, 0), 50);
	CHECK_EQ_INT(count_list(l, 0, "ca", NULL, 0), 0);
	/* PPID 2: records 0 (ldevid, expired) and 1 (idevid, valid). */
	mkrec(&b, 0, "", 2);
	CHECK_EQ_INT(count_list(l, 0, NULL, b.ppid, sizeof(b.ppid)), 2);
	CHECK_EQ_INT(count_list(l, 1, NULL, b.ppid, sizeof(b.ppid)), 1);
	CHECK_EQ_INT(count_list(l, 3, NULL, b.ppid, sizeof(b.ppid)), 1);
	CHECK_EQ_INT(count_list(l, 0, "idevid", b.ppid, sizeof(b.ppid)), 1);
	CHECK_EQ_INT(count_list(l, 2, "idevid", b.ppid, sizeof(b.ppid)), 0);
	/* Twice the same shape: the cached statement starts afresh. */
	CHECK_EQ_INT(count_list(l, 1, NULL, NULL, 0), 700);
	m2m_ledger_close(l);
}

/* Stop at the 10th record with a failure of the library's own. */
static enum m2m_err stop_with_detail(void *arg,
				     const struct m2m_cert_record *r)
{
	unsigned long *n = arg;
	struct m2m_ppid p;

	if (++*n < 10)
		return M2M_OK;
	return m2m_ppid_decode_hex(ctx, &p, r->subject, 2);
}

UNIT_TEST(list_stops_when_the_function_says_so)
{
	struct m2m_ledger *l = fresh("liststop.db");
	struct m2m_cert_record got;
	struct counter c;
	unsigned long n = 0;
	struct rec b;
	unsigned i;

	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	for (i = 0; i < 50; i++)
		CHECK_OK(m2m_ledger_add_cert(ctx, l, mkrec(&b, i, "idevid", i + 1),
					     NULL));
	CHECK_OK(m2m_ledger_commit(ctx, l));

	memset(&c, 0, sizeof(c));
	c.stop_at = 10;
	CHECK_FAILS(m2m_ledger_list(ctx, l, NULL, count_cert, &c), M2M_ERR_IO,
		    "the walk over the ledger was stopped by its caller");
	CHECK_EQ_INT(c.n, 10);
	CHECK_FAILS(m2m_ledger_list(ctx, l, NULL, stop_with_detail, &n),
		    M2M_ERR_INVALID, "is not a hex digit");
	CHECK_EQ_INT(n, 10);
	/* The ledger cannot be used from inside its own walk. */
	memset(&c, 0, sizeof(c));
	c.nested = l;
	CHECK_OK(m2m_ledger_list(ctx, l, NULL, count_cert, &c));
	CHECK_EQ_INT(c.n, 50);
	CHECK_EQ_INT(c.nested_rc, M2M_ERR_USAGE);
	/* ...and is usable again after it. */
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000001", &got));
	{
		struct m2m_ledger_filter f = { 4, 0, NULL, NULL, 0 };

		CHECK_FAILS(m2m_ledger_list(ctx, l, &f, count_cert, &c),
			    M2M_ERR_USAGE, "invalid filter");
	}
	m2m_ledger_close(l);
}

/* ---- CRLs --------------------------------------------------------------- */

UNIT_TEST(crl_numbers_count_up_across_reopen)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct m2m_ledger *l = fresh("crl.db");
	uint64_t n = 0;

	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_OK(m2m_ledger_add_crl(ctx, l, n, NOW, der, sizeof(der)));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 2);
	CHECK_OK(m2m_ledger_add_crl(ctx, l, n, NOW + 3600, der, sizeof(der)));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	m2m_ledger_close(l);

	l = reopen("crl.db");
	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 3);
	CHECK_FAILS(m2m_ledger_add_crl(ctx, l, 2, NOW, der, sizeof(der)),
		    M2M_ERR_DUPLICATE, "CRL number 2 already has its CRL");
	CHECK_FAILS(m2m_ledger_add_crl(ctx, l, 9, NOW, der, sizeof(der)),
		    M2M_ERR_USAGE, "CRL number 9 was never taken");
	CHECK_OK(m2m_ledger_add_crl(ctx, l, 3, NOW + 7200, der, sizeof(der)));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	/* A number taken in a rolled-back transaction is taken again. */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 4);
	m2m_ledger_rollback(ctx, l);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 4);
	/* Taking one and another: both are reserved, in order. */
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 5);
	CHECK_OK(m2m_ledger_commit(ctx, l));
	m2m_ledger_close(l);
}

/* ---- the audit log ------------------------------------------------------ */

static void unhex32(const char *hex, uint8_t out[32])
{
	unsigned i, v;

	for (i = 0; i < 32; i++) {
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

UNIT_TEST(audit_entry_hash_known_answers)
{
	/* Computed independently (Python hashlib) from the header's rule. */
	struct m2m_audit_entry e;
	uint8_t want[32], got[32];

	memset(&e, 0, sizeof(e));
	e.seq = 1;
	e.time = -1;
	e.op = "init";
	e.detail = "{\"ca\":\"factory-1\"}";
	CHECK_OK(m2m_audit_entry_hash(ctx, &e, got));
	unhex32("5f80f914fa5f438cf9c32491a6fc8a37911a742859f1aefa36c572da50e39890",
		want);
	CHECK_EQ_MEM(got, want, 32);

	memcpy(e.prev_hash, got, 32);
	e.seq = 2;
	e.time = 1700000000;
	e.op = "issue";
	e.detail = "{\"serial\":\"00ff01\"}";
	CHECK_OK(m2m_audit_entry_hash(ctx, &e, got));
	unhex32("a6cdb41813727a150690d5d0ce6e5d615a47486ed6274d516958bb29705e18b3",
		want);
	CHECK_EQ_MEM(got, want, 32);
	e.op = NULL;
	CHECK_FAILS(m2m_audit_entry_hash(ctx, &e, got), M2M_ERR_USAGE,
		    "op and detail are required");
}

struct audit_walk {
	uint64_t n;
	uint64_t bad_seq;
	uint8_t prev[32];
	int chain_ok;
	int detail_ok;
};

static enum m2m_err walk_entry(void *arg, const struct m2m_audit_entry *e)
{
	struct audit_walk *w = arg;
	char want[64];

	w->n++;
	if (e->seq != w->n && !w->bad_seq)
		w->bad_seq = e->seq;
	if (memcmp(e->prev_hash, w->prev, 32) != 0)
		w->chain_ok = 0;
	snprintf(want, sizeof(want), "{\"n\":%" PRIu64 "}", w->n - 1);
	if (strcmp(e->detail, want) != 0 || strcmp(e->op, "issue") != 0 ||
	    e->time != (int64_t)(NOW + w->n - 1))
		w->detail_ok = 0;
	memcpy(w->prev, e->hash, 32);
	return M2M_OK;
}

UNIT_TEST(audit_1000_entries_across_transactions_and_reopen_verify)
{
	struct m2m_ledger *l = fresh("audit.db");
	struct audit_walk w;
	uint64_t count = 0, bad = 99;

	if (!l)
		return;
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, &bad));
	CHECK_EQ_INT(count, 0);
	CHECK_OK(audit_n(l, 0, 600, 150));
	m2m_ledger_close(l);
	l = reopen("audit.db");
	if (!l)
		return;
	CHECK_OK(audit_n(l, 600, 400, 100));
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, &bad));
	CHECK_EQ_INT(count, 1000);
	CHECK_EQ_INT(bad, 0);

	memset(&w, 0, sizeof(w));
	w.chain_ok = w.detail_ok = 1;
	CHECK_OK(m2m_ledger_audit_list(ctx, l, walk_entry, &w));
	CHECK_EQ_INT(w.n, 1000);
	CHECK_EQ_INT(w.bad_seq, 0);
	CHECK(w.chain_ok);
	CHECK(w.detail_ok);
	m2m_ledger_close(l);

	/* A read-only ledger verifies too. */
	{
		char path[PATH_MAX];

		l = NULL;
		CHECK_OK(m2m_ledger_open(ctx, tmp_path(path, "audit.db"),
					 M2M_LEDGER_READONLY, &l));
		CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
		CHECK_EQ_INT(count, 1000);
		m2m_ledger_close(l);
	}
}

/* A ledger of 50 audit entries, tampered with by sql, then verified. */
static void tamper_case(const char *name, const char *sql, uint64_t want_bad,
			const char *want_detail)
{
	struct m2m_ledger *l = fresh(name);
	uint64_t count = 99, bad = 0;

	if (!l)
		return;
	CHECK_OK(audit_n(l, 0, 50, 20));
	m2m_ledger_close(l);
	if (!CHECK(raw_sql(name, sql)))
		return;
	l = reopen(name);
	if (!l)
		return;
	CHECK_FAILS(m2m_ledger_audit_verify(ctx, l, &count, &bad),
		    M2M_ERR_VERIFY, want_detail);
	CHECK_EQ_INT(bad, want_bad);
	CHECK_EQ_INT(count, 0);
	m2m_ledger_close(l);
}

UNIT_TEST(audit_refuses_to_extend_a_damaged_tail)
{
	struct m2m_ledger *l = fresh("t-tail.db");

	if (!l)
		return;
	CHECK_OK(audit_n(l, 0, 5, 5));
	m2m_ledger_close(l);
	CHECK(raw_sql("t-tail.db", "UPDATE audit SET hash = x'00' WHERE seq = 5"));
	l = reopen("t-tail.db");
	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_FAILS(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"),
		    M2M_ERR_INVALID, "the audit log's last entry (5) is damaged");
	m2m_ledger_rollback(ctx, l);
	m2m_ledger_close(l);
}

UNIT_TEST(audit_verify_finds_a_changed_detail)
{
	tamper_case("t-detail.db",
		    "UPDATE audit SET detail = '{\"n\":99}' WHERE seq = 17",
		    17, "audit log: entry 17: hash does not match its contents");
}

UNIT_TEST(audit_verify_finds_a_deleted_entry)
{
	tamper_case("t-delete.db", "DELETE FROM audit WHERE seq = 9",
		    9, "audit log: entry 9 is missing");
}

UNIT_TEST(audit_verify_finds_a_changed_hash)
{
	tamper_case("t-hash.db",
		    "UPDATE audit SET hash = zeroblob(32) WHERE seq = 30",
		    30, "audit log: entry 30: hash does not match its contents");
	tamper_case("t-hashlen.db",
		    "UPDATE audit SET hash = substr(hash, 1, 31) WHERE seq = 3",
		    3, "audit log: entry 3: a stored hash is not 32 octets long");
}

UNIT_TEST(audit_verify_finds_a_changed_time_and_a_hidden_nul)
{
	tamper_case("t-time.db", "UPDATE audit SET time = time + 1 "
		    "WHERE seq = 50", 50, "entry 50: hash does not match");
	/* "{"n":4}" followed by a NUL and more: the C string is unchanged. */
	tamper_case("t-nul.db", "UPDATE audit SET detail = CAST(detail || "
		    "x'00' || 'evil' AS TEXT) WHERE seq = 5",
		    5, "audit log: entry 5: op or detail holds a NUL byte");
	tamper_case("t-first.db", "UPDATE audit SET seq = 0 WHERE seq = 1",
		    0, "entry 0 is out of sequence (entries start at 1)");
}

/* Entry seq's hash, from the public walk. */
struct capture {
	uint64_t seq;
	uint8_t hash[32];
};

static enum m2m_err capture_hash(void *arg, const struct m2m_audit_entry *e)
{
	struct capture *c = arg;

	if (e->seq == c->seq)
		memcpy(c->hash, e->hash, 32);
	return M2M_OK;
}

/* Change entry 20's detail and give it the matching hash: 21 breaks. */
UNIT_TEST(audit_verify_finds_a_rehashed_entry_by_its_successor)
{
	struct m2m_ledger *l = fresh("t-rehash.db");
	struct capture c = { 19, { 0 } };
	struct m2m_audit_entry e;
	char sql[512], hex[65];
	uint64_t bad = 0;
	unsigned i;

	if (!l)
		return;
	CHECK_OK(audit_n(l, 0, 50, 50));
	CHECK_OK(m2m_ledger_audit_list(ctx, l, capture_hash, &c));
	m2m_ledger_close(l);
	memset(&e, 0, sizeof(e));
	e.seq = 20;
	e.time = NOW + 19;
	e.op = "issue";
	e.detail = "{\"n\":19,\"forged\":true}";
	memcpy(e.prev_hash, c.hash, 32);
	CHECK_OK(m2m_audit_entry_hash(ctx, &e, e.hash));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", e.hash[i]);
	snprintf(sql, sizeof(sql), "UPDATE audit SET detail = '%s', "
		 "hash = x'%s' WHERE seq = 20", e.detail, hex);
	CHECK(raw_sql("t-rehash.db", sql));
	l = reopen("t-rehash.db");
	if (!l)
		return;
	CHECK_FAILS(m2m_ledger_audit_verify(ctx, l, NULL, &bad),
		    M2M_ERR_VERIFY,
		    "audit log: entry 21: previous hash does not match the hash of the entry before");
	CHECK_EQ_INT(bad, 21);
	m2m_ledger_close(l);
}

/* ---- copies ------------------------------------------------------------- */

UNIT_TEST(copy_between_sqlite_ledgers_verifies_both_chains)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	struct m2m_ledger_copy_stats st;
	struct m2m_ledger *l = fresh("copy-from.db"), *c = NULL;
	struct m2m_cert_record a, b;
	char from[PATH_MAX], to[PATH_MAX], detail[64];
	uint64_t n = 0, count = 0;
	struct capture cap = { 301, { 0 } };
	struct rec r;
	unsigned i;

	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	for (i = 1; i <= 300; i++) {
		CHECK_OK(m2m_ledger_add_cert(ctx, l, mkrec(&r, i, "idevid", i),
					     NULL));
		snprintf(detail, sizeof(detail), "{\"serial\":\"%s\"}", r.serial);
		CHECK_OK(m2m_ledger_audit(ctx, l, NOW + i, "issue", detail));
	}
	CHECK_OK(m2m_ledger_revoke(ctx, l, "10000007", NOW + 400, 1));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_OK(m2m_ledger_add_crl(ctx, l, n, NOW + 401, der, sizeof(der)));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW + 401, "crl", "{}"));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_audit_list(ctx, l, capture_hash, &cap));
	m2m_ledger_close(l);

	tmp_path(from, "copy-from.db");
	tmp_path(to, "copy-to.db");
	CHECK_OK(m2m_ledger_copy(ctx, from, to, &st));
	CHECK_EQ_INT(st.certs, 300);
	CHECK_EQ_INT(st.revoked, 1);
	CHECK_EQ_INT(st.crls, 2);
	CHECK_EQ_INT(st.audit, 301);
	CHECK_EQ_MEM(st.last_hash, cap.hash, 32);
	l = reopen("copy-from.db");
	c = reopen("copy-to.db");
	if (!l || !c)
		goto out;
	CHECK_EQ_INT(count_list(c, 0, NULL, NULL, 0), 300);
	for (i = 1; i <= 300; i += 7) {
		mkrec(&r, i, "idevid", i);
		CHECK_OK(m2m_ledger_get_cert(ctx, l, r.serial, &a));
		CHECK_OK(m2m_ledger_get_cert(ctx, c, r.serial, &b));
		if (a.serial && b.serial)
			check_same_record(&b, &a);
	}
	CHECK_OK(m2m_ledger_get_cert(ctx, c, "10000007", &b));
	CHECK_EQ_INT(b.status, M2M_CERT_REVOKED);
	CHECK_EQ_INT(b.reason, 1);
	CHECK_OK(m2m_ledger_audit_verify(ctx, c, &count, NULL));
	CHECK_EQ_INT(count, 301);
	CHECK_OK(m2m_ledger_begin(ctx, c));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, c, &n));
	CHECK_EQ_INT(n, 3);
	m2m_ledger_rollback(ctx, c);
	/* Only into an empty ledger. */
	CHECK_FAILS(m2m_ledger_copy(ctx, from, to, &st), M2M_ERR_DUPLICATE,
		    "is not empty: a copy goes into a new ledger");
	CHECK_EQ_INT(st.certs, 0);
	CHECK_FAILS(m2m_ledger_copy(ctx, tmp_path(to, "absent.db"), from, NULL),
		    M2M_ERR_NOT_FOUND, "no ledger at");
out:
	m2m_ledger_close(l);
	m2m_ledger_close(c);
}

UNIT_TEST(copy_refuses_a_broken_chain_and_copies_nothing)
{
	struct m2m_ledger *l = fresh("copy-broken.db");
	char from[PATH_MAX], to[PATH_MAX];
	struct stat sb;

	if (!l)
		return;
	CHECK_OK(audit_n(l, 0, 20, 20));
	m2m_ledger_close(l);
	CHECK(raw_sql("copy-broken.db", "UPDATE audit SET op = 'crl' "
		      "WHERE seq = 12"));
	tmp_path(from, "copy-broken.db");
	tmp_path(to, "copy-broken-to.db");
	CHECK_FAILS(m2m_ledger_copy(ctx, from, to, NULL), M2M_ERR_VERIFY,
		    "copy-broken.db': audit log: entry 12: hash does not match its contents");
	CHECK_EQ_INT(stat(to, &sb), -1);
}

/* ---- several processes -------------------------------------------------- */

/*
 * A writer process on its own context and handle: n certificates (numbers
 * first..) and n audit entries, in transactions of tx, started when go
 * is closed, on the ledger it creates unless it exists.  Exits 0 when
 * everything was committed.
 */
static void writer(const char *name, unsigned first, unsigned n, unsigned tx,
		   int go)
{
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX], detail[64], b;
	enum m2m_err rc;
	struct rec r;
	unsigned i;

	ctx = NULL;
	if (m2m_ctx_new(&ctx) != M2M_OK)
		_exit(2);
	while (read(go, &b, 1) < 0 && errno == EINTR)
		;
	/* Both create it: one makes the file, the other waits for it. */
	rc = m2m_ledger_open(ctx, tmp_path(path, name), M2M_LEDGER_CREATE,
			     &l);
	for (i = 0; rc == M2M_OK && i < n; i++) {
		if (i % tx == 0)
			rc = m2m_ledger_begin(ctx, l);
		if (rc == M2M_OK)
			rc = m2m_ledger_add_cert(ctx, l, mkrec(&r, first + i,
				"idevid", first + i + 1), NULL);
		snprintf(detail, sizeof(detail), "{\"serial\":\"%s\"}", r.serial);
		if (rc == M2M_OK)
			rc = m2m_ledger_audit(ctx, l, NOW + i, "issue", detail);
		if (rc == M2M_OK && i % tx == tx - 1) {
			struct timespec pause = { 0, 500000 };

			rc = m2m_ledger_commit(ctx, l);
			/* A station's work between its transactions. */
			nanosleep(&pause, NULL);
		}
	}
	if (rc != M2M_OK)
		fprintf(stderr, "# writer %u: %s: %s\n", first, m2m_strerror(rc),
			m2m_ctx_detail(ctx));
	m2m_ledger_close(l);
	_exit(rc == M2M_OK ? 0 : 1);
}

/* Which writer made each audit entry (from its serial), and how often the
 * writer changed from one entry to the next. */
struct writers {
	unsigned long n[3];
	unsigned long switches;
	unsigned last;
};

static enum m2m_err count_writers(void *arg, const struct m2m_audit_entry *e)
{
	struct writers *w = arg;
	unsigned long serial = 0;
	unsigned who;

	sscanf(e->detail, "{\"serial\":\"%lx\"}", &serial);
	who = (unsigned)((serial - 0x10000000ul) / 100000);
	if (who > 2)
		who = 0;
	w->n[who]++;
	if (w->last && who != w->last)
		w->switches++;
	w->last = who;
	return M2M_OK;
}

UNIT_TEST(two_processes_write_one_ledger_at_once)
{
	struct m2m_ledger_filter f = { 0, 0, NULL, NULL, 0 };
	struct writers w = { { 0, 0, 0 }, 0, 0 };
	struct counter c;
	struct m2m_ledger *l = NULL;
	char path[PATH_MAX];
	uint64_t count = 0;
	pid_t pid[2];
	int go[2], i, status;

	unlink(tmp_path(path, "shared.db"));
	if (!CHECK(pipe(go) == 0))
		return;
	fflush(stdout);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			close(go[1]);
			writer("shared.db", 100000u * (unsigned)(i + 1), 500, 5,
			       go[0]);
		}
		CHECK(pid[i] > 0);
	}
	close(go[0]);
	close(go[1]);		/* both start now */
	for (i = 0; i < 2; i++) {
		if (pid[i] <= 0)
			continue;
		CHECK_EQ_INT(waitpid(pid[i], &status, 0), pid[i]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "writer %d: status 0x%x", i, status);
	}
	l = reopen("shared.db");
	if (!l)
		return;
	/* Interleaved, so not in order of serial. */
	memset(&c, 0, sizeof(c));
	CHECK_OK(m2m_ledger_list(ctx, l, &f, count_cert, &c));
	CHECK_EQ_INT(c.n, 1000);
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 1000);
	CHECK_OK(m2m_ledger_audit_list(ctx, l, count_writers, &w));
	CHECK_EQ_INT(w.n[1], 500);
	CHECK_EQ_INT(w.n[2], 500);
	printf("# ledger: two writers took turns %lu times\n", w.switches);
	m2m_ledger_close(l);
}

/* ---- throughput --------------------------------------------------------- */

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not asserted: printed as a TAP comment to compare runs on one machine. */
UNIT_TEST(benchmark_10000_certificates_with_audit_in_transactions_of_500)
{
	struct m2m_ledger *l = fresh("bench.db");
	char detail[128], hex[17];
	enum m2m_err rc = M2M_OK;
	uint64_t count = 0;
	double t0, t1;
	struct rec r;
	unsigned i, j;

	if (!l)
		return;
	t0 = seconds();
	for (i = 0; i < 10000 && rc == M2M_OK; i++) {
		if (i % 500 == 0)
			rc = m2m_ledger_begin(ctx, l);
		mkrec(&r, i, "idevid", i + 1);
		for (j = 0; j < 8; j++)
			snprintf(hex + 2 * j, 3, "%02x", r.ppid[j]);
		snprintf(detail, sizeof(detail),
			 "{\"serial\":\"%s\",\"ppid\":\"%s\",\"profile\":\"idevid\"}",
			 r.serial, hex);
		if (rc == M2M_OK)
			rc = m2m_ledger_add_cert(ctx, l, &r.r, NULL);
		if (rc == M2M_OK)
			rc = m2m_ledger_audit(ctx, l, NOW + i, "issue", detail);
		if (rc == M2M_OK && i % 500 == 499)
			rc = m2m_ledger_commit(ctx, l);
	}
	t1 = seconds();
	CHECK_OK(rc);
	printf("# ledger: 10000 add_cert + audit, transactions of 500: "
	       "%.0f certificates/s (%.3f s)\n", 10000 / (t1 - t0), t1 - t0);
	t0 = seconds();
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	t1 = seconds();
	CHECK_EQ_INT(count, 10000);
	printf("# ledger: audit_verify of 10000 entries: %.3f s\n", t1 - t0);
	t0 = seconds();
	CHECK_EQ_INT(count_list(l, 1, "idevid", NULL, 0), 10000);
	t1 = seconds();
	printf("# ledger: list of 10000 valid records: %.3f s\n", t1 - t0);
	m2m_ledger_close(l);
}

/* ---- running ------------------------------------------------------------ */

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(open_create_reopen_schema_version_and_mode_0600),
		UNIT(open_missing_without_create_is_not_found),
		UNIT(open_file_that_is_not_a_ledger_is_invalid),
		UNIT(open_newer_schema_version_is_invalid),
		UNIT(open_symbolic_link_refused),
		UNIT(open_unknown_schemes_unsupported_and_uri_passwords_refused),
		UNIT(locations_are_shown_without_their_passwords),
		UNIT(create_exclusive_refuses_an_existing_ledger),
		UNIT(migrate_a_current_ledger_changes_nothing),
		UNIT(transaction_state_is_checked),
		UNIT(rollback_and_close_discard_the_transaction),
		UNIT(add_get_round_trip_of_every_field),
		UNIT(serial_lookup_any_case_with_or_without_leading_zeros),
		UNIT(add_rejects_bad_records),
		UNIT(duplicate_serial_conflicts_and_transaction_goes_on),
		UNIT(one_valid_certificate_per_profile_and_ppid),
		UNIT(one_valid_certificate_per_profile_and_device_serial),
		UNIT(find_valid_ignores_revoked_and_not_expiry),
		UNIT(revoke_records_and_refuses_twice_or_unknown),
		UNIT(list_filters_count_exactly_over_1000_records),
		UNIT(list_stops_when_the_function_says_so),
		UNIT(crl_numbers_count_up_across_reopen),
		UNIT(audit_entry_hash_known_answers),
		UNIT(audit_1000_entries_across_transactions_and_reopen_verify),
		UNIT(audit_verify_finds_a_changed_detail),
		UNIT(audit_verify_finds_a_deleted_entry),
		UNIT(audit_verify_finds_a_changed_hash),
		UNIT(audit_verify_finds_a_changed_time_and_a_hidden_nul),
		UNIT(audit_verify_finds_a_rehashed_entry_by_its_successor),
		UNIT(audit_refuses_to_extend_a_damaged_tail),
		UNIT(copy_between_sqlite_ledgers_verifies_both_chains),
		UNIT(copy_refuses_a_broken_chain_and_copies_nothing),
		UNIT(two_processes_write_one_ledger_at_once),
		UNIT(benchmark_10000_certificates_with_audit_in_transactions_of_500),
	};
	int rc;

	if (!mkdtemp(dir)) {
		printf("Bail out! cannot make a temporary directory: %s\n",
		       strerror(errno));
		return 1;
	}
	if (m2m_ctx_new(&ctx) != M2M_OK) {
		printf("Bail out! cannot create a context\n");
		unit_rm_rf(dir);
		return 1;
	}
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	unit_rm_rf(dir);
	return rc;
}
