/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of include/m2m/ledger.h on the PostgreSQL back-end, against
 * the throwaway cluster whose socket directory $M2M_PG_HOST names (its
 * superuser: $M2M_PG_USER); scripts/check starts one with
 * tests/helpers/postgres.bash.  Without one the file reports one skipped
 * test.  Each test makes databases of its own: opening and refusing
 * databases and URIs, records and the uniqueness the indexes keep, CRL
 * numbers from the sequence, the audit chain (tampered with through libpq
 * behind the library's back) and its order under concurrent writers,
 * stations racing for the same PPIDs, a lost connection, moving ledgers
 * between SQLite and PostgreSQL, and a throughput figure.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <m2m/ctx.h>
#include <m2m/ledger.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static const char *host;	/* the cluster's socket directory */
static char dir[] = "/tmp/m2m-ledger-pg-XXXXXX";
static unsigned dbseq;

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

/* ---- the cluster ---------------------------------------------------------- */

/* A connection to database db of the cluster; NULL (and a note) if none. */
static PGconn *admin(const char *db)
{
	char conninfo[512];
	PGconn *c;

	snprintf(conninfo, sizeof(conninfo), "host=%s user=%s dbname=%s",
		 host, getenv("M2M_PG_USER") ? getenv("M2M_PG_USER") : "m2m",
		 db);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		printf("# cannot connect to '%s': %s", conninfo,
		       PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, NULL, NULL);
	return c;
}

/* Run sql in database db behind the library's back; nonzero if it ran. */
static int raw_sql(const char *db, const char *sql)
{
	PGconn *c = admin(db);
	PGresult *r;
	int ok;

	if (!c)
		return 0;
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	     PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		printf("# raw_sql: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* The one value sql gives in db, as a number; -1 if it fails. */
static long raw_value(const char *db, const char *sql)
{
	PGconn *c = admin(db);
	PGresult *r;
	long v = -1;

	if (!c)
		return -1;
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	else
		printf("# raw_value: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* A new, empty database: its name into name, its URI into uri. */
static int new_db(char name[64], char uri[512])
{
	char sql[128];

	snprintf(name, 64, "unit_%ld_%u", (long)getpid(), ++dbseq);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (!raw_sql("postgres", sql))
		return 0;
	snprintf(uri, 512, "postgresql:///%s?host=%s&user=%s", name, host,
		 getenv("M2M_PG_USER") ? getenv("M2M_PG_USER") : "m2m");
	return 1;
}

/* A new database with a new ledger in it; NULL on failure. */
static struct m2m_ledger *fresh(char name[64], char uri[512])
{
	struct m2m_ledger *l = NULL;

	if (!CHECK(new_db(name, uri)))
		return NULL;
	CHECK_OK(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE, &l));
	return l;
}

static struct m2m_ledger *reopen(const char *uri, unsigned flags)
{
	struct m2m_ledger *l = NULL;

	CHECK_OK(m2m_ledger_open(ctx, uri, flags, &l));
	return l;
}

/* ---- records -------------------------------------------------------------- */

struct rec {
	char serial[M2M_CERT_SERIAL_HEX_MAX];
	char subject[64];
	char device_serial[32];
	uint8_t ppid[8];
	uint8_t der[48];
	struct m2m_cert_record r;
};

/* As tests/unit/test_ledger.c's: record n, PPID number ppid_n (0: none). */
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

static enum m2m_err count_one(void *arg, const struct m2m_cert_record *r)
{
	(void)r;
	(*(unsigned long *)arg)++;
	return M2M_OK;
}

static unsigned long count_list(struct m2m_ledger *l, int status,
				const char *profile, const uint8_t *ppid,
				size_t ppid_len)
{
	struct m2m_ledger_filter f = { status, NOW, profile, ppid, ppid_len };
	unsigned long n = 0;

	CHECK_OK(m2m_ledger_list(ctx, l, &f, count_one, &n));
	return n;
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

/* ---- opening -------------------------------------------------------------- */

UNIT_TEST(create_reopen_readonly_exclusive)
{
	struct m2m_ledger *l = NULL;
	char name[64], uri[512];

	if (!CHECK(new_db(name, uri)))
		return;
	/* An empty database holds no ledger. */
	CHECK_FAILS(m2m_ledger_open(ctx, uri, 0, &l), M2M_ERR_NOT_FOUND,
		    "no ledger at 'postgresql:///");
	CHECK_FAILS(m2m_ledger_open(ctx, uri, M2M_LEDGER_READONLY, &l),
		    M2M_ERR_NOT_FOUND, "no ledger at");
	CHECK(l == NULL);
	CHECK_OK(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE |
				 M2M_LEDGER_EXCL, &l));
	CHECK_EQ_INT(m2m_ledger_schema_version(l), 1);
	m2m_ledger_close(l);
	l = NULL;
	CHECK_EQ_INT(raw_value(name, "SELECT max(version) FROM m2m_schema"), 1);
	CHECK_FAILS(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE |
				    M2M_LEDGER_EXCL, &l),
		    M2M_ERR_DUPLICATE, "a ledger is at 'postgresql:///");
	CHECK_FAILS(m2m_ledger_open(ctx, uri, M2M_LEDGER_EXCL, &l),
		    M2M_ERR_USAGE, "flags");
	/* CREATE on an existing ledger opens it. */
	CHECK_OK(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE, &l));
	m2m_ledger_close(l);
	l = reopen(uri, M2M_LEDGER_READONLY);
	if (!l)
		return;
	CHECK_FAILS(m2m_ledger_begin(ctx, l), M2M_ERR_USAGE, "read-only");
	m2m_ledger_close(l);
	/* The other spelling of the scheme. */
	memmove(uri + 8, uri + 10, strlen(uri + 10) + 1);
	memcpy(uri, "postgres", 8);
	l = reopen(uri, 0);
	m2m_ledger_close(l);
}

UNIT_TEST(databases_that_are_not_ledgers_are_refused)
{
	struct m2m_ledger *l = NULL;
	char name[64], uri[512];

	/* Tables with the ledger's names but not ours: even with CREATE. */
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK(raw_sql(name, "CREATE TABLE audit (x integer)"));
	CHECK_FAILS(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE, &l),
		    M2M_ERR_INVALID, "is not an m2m ledger (it has tables of the ledger's names, but no m2m_schema)");
	/* Somebody else's tables beside ours are fine. */
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK(raw_sql(name, "CREATE TABLE inventory (x integer)"));
	CHECK_OK(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE, &l));
	m2m_ledger_close(l);
	l = NULL;
	/* A newer schema, an empty version table. */
	CHECK(raw_sql(name, "INSERT INTO m2m_schema (version) VALUES (2)"));
	CHECK_FAILS(m2m_ledger_open(ctx, uri, 0, &l), M2M_ERR_INVALID,
		    "has schema version 2, newer than this m2m reads (1)");
	CHECK_FAILS(m2m_ledger_migrate(ctx, uri, NULL, NULL), M2M_ERR_INVALID,
		    "newer than this m2m reads");
	CHECK(raw_sql(name, "DELETE FROM m2m_schema"));
	CHECK_FAILS(m2m_ledger_open(ctx, uri, 0, &l), M2M_ERR_INVALID,
		    "is not an m2m ledger (no valid schema version)");
	CHECK(l == NULL);
}

UNIT_TEST(servers_and_databases_that_are_not_there)
{
	struct m2m_ledger *l = NULL;
	char uri[600];

	snprintf(uri, sizeof(uri), "postgresql:///no_such_db?host=%s&user=m2m",
		 host);
	CHECK_FAILS(m2m_ledger_open(ctx, uri, M2M_LEDGER_CREATE, &l),
		    M2M_ERR_BACKEND, "database \"no_such_db\" does not exist");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "cannot connect to ledger 'postgresql:///no_such_db?host=");
	CHECK(strchr(m2m_ctx_detail(ctx), '\n') == NULL);
	snprintf(uri, sizeof(uri),
		 "postgresql:///x?host=%s/nowhere&user=m2m", dir);
	CHECK_FAILS(m2m_ledger_open(ctx, uri, 0, &l), M2M_ERR_BACKEND,
		    "cannot connect to ledger");
	CHECK(strchr(m2m_ctx_detail(ctx), '\n') == NULL);
	CHECK(l == NULL);
}

UNIT_TEST(passwords_in_uris_are_refused_and_never_shown)
{
	static const char *const uris[] = {
		"postgresql://ca:s3cret@db.example/ledger",
		"postgres://ca:s3cret@/ledger?host=/tmp",
		"postgresql:///ledger?user=ca&password=s3cret",
		"postgresql:///ledger?pass%77ord=s3cret&host=/tmp",
	};
	struct m2m_ledger *l = NULL;
	size_t i;

	/* Refused before any connection: no cluster needed. */
	for (i = 0; i < UNIT_COUNT(uris); i++) {
		CHECK_FAILS(m2m_ledger_open(ctx, uris[i], 0, &l),
			    M2M_ERR_INVALID,
			    "holds a password: give it in PGPASSWORD, a PGPASSFILE or ~/.pgpass instead");
		CHECK_MSG(strstr(m2m_ctx_detail(ctx), "s3cret") == NULL,
			  "%s: %s", uris[i], m2m_ctx_detail(ctx));
		CHECK_CONTAINS(m2m_ctx_detail(ctx), "***");
	}
	/* Not a URI libpq reads: its message only without user information. */
	CHECK_FAILS(m2m_ledger_open(ctx, "postgresql://h/db?bogus=1", 0, &l),
		    M2M_ERR_INVALID,
		    "ledger 'postgresql://h/db?bogus=1' is not a PostgreSQL URI libpq reads: invalid URI query parameter: \"bogus\"");
	CHECK_FAILS(m2m_ledger_open(ctx, "postgresql://u:%zz@h/db", 0, &l),
		    M2M_ERR_INVALID,
		    "ledger 'postgresql://...' is not a PostgreSQL URI libpq reads");
	CHECK(strstr(m2m_ctx_detail(ctx), "%zz") == NULL);
	/* Only the scheme: no character of the password, however short. */
	CHECK_FAILS(m2m_ledger_open(ctx, "postgres://:q%zz@h/db", 0, &l),
		    M2M_ERR_INVALID,
		    "ledger 'postgres://...' is not a PostgreSQL URI libpq reads");
	CHECK(l == NULL);
}

/* ---- transactions and records --------------------------------------------- */

UNIT_TEST(rollback_and_close_discard_the_transaction)
{
	struct m2m_ledger *l;
	struct m2m_cert_record got;
	char name[64], uri[512];
	struct rec a;
	uint64_t n = 0, count = 99;

	l = fresh(name, uri);
	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_FAILS(m2m_ledger_begin(ctx, l), M2M_ERR_USAGE,
		    "transactions do not nest");
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_OK(m2m_ledger_get_cert(ctx, l, a.serial, &got));
	/* The entry waits for the commit: not in the log yet. */
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 0);
	m2m_ledger_rollback(ctx, l);
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, a.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate with serial 10000001");
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	m2m_ledger_close(l);	/* rolls back */
	l = reopen(uri, 0);
	if (!l)
		return;
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, a.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate");
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 0);
	CHECK_EQ_INT(raw_value(name, "SELECT count(*) FROM certs"), 0);
	m2m_ledger_close(l);
}

UNIT_TEST(add_get_round_trip_of_every_field)
{
	struct m2m_ledger *l;
	struct m2m_cert_record got;
	char name[64], uri[512];
	struct rec a, b;

	l = fresh(name, uri);
	if (!l)
		return;
	mkrec(&a, 1, "ldevid", 0xabcdef01);
	a.r.vouched_by = "00c3a19f";
	a.r.not_after = 253402300799LL;
	a.r.subject = "CN=Z\xc3\xa4hler 42,O=Acme\\, Inc.,C=DE";
	mkrec(&b, 2, "ca", 0);
	b.r.device_serial = NULL;
	b.r.not_before = -86400;
	b.r.subject = "";
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, NULL));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	m2m_ledger_close(l);
	l = reopen(uri, M2M_LEDGER_READONLY);
	if (!l)
		return;
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000001", &got));
	check_same_record(&got, &a.r);
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "0010000002", &got));
	check_same_record(&got, &b.r);
	CHECK(got.ppid == NULL && got.device_serial == NULL &&
	      got.vouched_by == NULL);
	CHECK_OK(m2m_ledger_find_valid(ctx, l, "ldevid", a.ppid,
				       sizeof(a.ppid), &got));
	check_same_record(&got, &a.r);
	CHECK_OK(m2m_ledger_find_valid_device(ctx, l, "ldevid", "SN000001",
					      &got));
	CHECK_EQ_STR(got.serial, "10000001");
	CHECK_FAILS(m2m_ledger_find_valid(ctx, l, "idevid", a.ppid,
					  sizeof(a.ppid), &got),
		    M2M_ERR_NOT_FOUND,
		    "PPID 01000000abcdef01 has no valid idevid certificate");
	CHECK_FAILS(m2m_ledger_find_valid_device(ctx, l, "idevid", "SN000001",
						 &got),
		    M2M_ERR_NOT_FOUND,
		    "device 'SN000001' has no valid idevid certificate");
	m2m_ledger_close(l);
}

UNIT_TEST(conflicts_leave_the_transaction_usable)
{
	struct m2m_ledger *l;
	enum m2m_ledger_conflict cf = M2M_CONFLICT_NONE;
	struct m2m_cert_record got;
	char name[64], uri[512];
	struct rec a, b, c, d, e;

	l = fresh(name, uri);
	if (!l)
		return;
	mkrec(&a, 1, "idevid", 0xaa);
	mkrec(&b, 1, "idevid", 0xbb);	/* a's serial */
	mkrec(&c, 3, "idevid", 0xaa);	/* a's PPID */
	mkrec(&d, 4, "idevid", 0xdd);
	strcpy(d.device_serial, a.device_serial);	/* a's device */
	mkrec(&e, 5, "idevid", 0xee);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &a.r, &cf));
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &b.r, &cf), M2M_ERR_DUPLICATE,
		    "serial 10000001 is already in the ledger");
	CHECK_EQ_INT(cf, M2M_CONFLICT_SERIAL);
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &c.r, &cf), M2M_ERR_DUPLICATE,
		    "PPID 01000000000000aa already has a valid idevid certificate (serial 10000001)");
	CHECK_EQ_INT(cf, M2M_CONFLICT_PPID);
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, &d.r, &cf), M2M_ERR_DUPLICATE,
		    "device 'SN000001' already has a valid idevid certificate (serial 10000001)");
	CHECK_EQ_INT(cf, M2M_CONFLICT_DEVICE);
	/* The transaction goes on, as with SQLite. */
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &e.r, &cf));
	CHECK_EQ_INT(cf, M2M_CONFLICT_NONE);
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 2);
	/* Revoked, the PPID and the device may have another. */
	CHECK_FAILS(add_one(l, &c.r), M2M_ERR_DUPLICATE, "already has a valid");
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_revoke(ctx, l, "10000001", NOW + 9, 4));
	CHECK_FAILS(m2m_ledger_revoke(ctx, l, "10000001", NOW + 9, 4),
		    M2M_ERR_INVALID, "certificate 10000001 is already revoked");
	CHECK_FAILS(m2m_ledger_revoke(ctx, l, "0abc", NOW, 1),
		    M2M_ERR_NOT_FOUND, "no certificate with serial 0abc");
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &c.r, &cf));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	CHECK_OK(m2m_ledger_get_cert(ctx, l, "10000001", &got));
	CHECK_EQ_INT(got.status, M2M_CERT_REVOKED);
	CHECK_EQ_INT(got.revoked_at, NOW + 9);
	CHECK_EQ_INT(got.reason, 4);
	CHECK_OK(m2m_ledger_find_valid(ctx, l, "idevid", c.ppid,
				       sizeof(c.ppid), &got));
	CHECK_EQ_STR(got.serial, "10000003");
	CHECK_EQ_INT(count_list(l, 1, NULL, NULL, 0), 2);
	CHECK_EQ_INT(count_list(l, 2, NULL, NULL, 0), 1);
	CHECK_EQ_INT(count_list(l, 0, "idevid", c.ppid, sizeof(c.ppid)), 2);
	CHECK_EQ_INT(count_list(l, 0, "ldevid", NULL, 0), 0);
	m2m_ledger_close(l);
}

struct order {
	unsigned long n, out_of_order;
	char last[M2M_CERT_SERIAL_HEX_MAX];
	unsigned long stop_at;
};

static enum m2m_err in_order(void *arg, const struct m2m_cert_record *r)
{
	struct order *o = arg;

	if (o->n && strcmp(r->serial, o->last) <= 0)
		o->out_of_order++;
	snprintf(o->last, sizeof(o->last), "%s", r->serial);
	if (++o->n == o->stop_at)
		return M2M_ERR_IO;
	return M2M_OK;
}

UNIT_TEST(list_filters_in_order_of_issuance_and_stops)
{
	struct m2m_ledger_filter f = { 0, NOW, NULL, NULL, 0 };
	struct m2m_ledger *l;
	char name[64], uri[512];
	struct order o;
	struct rec r;
	unsigned i;

	l = fresh(name, uri);
	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	for (i = 1; i <= 600; i++) {
		mkrec(&r, i, i % 3 ? "idevid" : "ldevid", i);
		if (i % 5 == 0) {	/* expired */
			r.r.not_before = NOW - 100;
			r.r.not_after = NOW - 1;
		}
		CHECK_OK(m2m_ledger_add_cert(ctx, l, &r.r, NULL));
	}
	for (i = 7; i <= 600; i += 7) {
		mkrec(&r, i, "", 0);
		CHECK_OK(m2m_ledger_revoke(ctx, l, r.serial, NOW, 1));
	}
	CHECK_OK(m2m_ledger_commit(ctx, l));
	memset(&o, 0, sizeof(o));
	CHECK_OK(m2m_ledger_list(ctx, l, &f, in_order, &o));
	CHECK_EQ_INT(o.n, 600);
	CHECK_EQ_INT(o.out_of_order, 0);
	/* 85 revoked; 120 expired, of them 17 revoked; 400 idevid. */
	CHECK_EQ_INT(count_list(l, 2, NULL, NULL, 0), 85);
	CHECK_EQ_INT(count_list(l, 3, NULL, NULL, 0), 120 - 17);
	CHECK_EQ_INT(count_list(l, 1, NULL, NULL, 0), 600 - 85 - 103);
	CHECK_EQ_INT(count_list(l, 0, "idevid", NULL, 0), 400);
	mkrec(&r, 42, "", 42);
	CHECK_EQ_INT(count_list(l, 2, "ldevid", r.ppid, sizeof(r.ppid)), 1);
	/* A walk its function stops, then the ledger is usable again. */
	memset(&o, 0, sizeof(o));
	o.stop_at = 10;
	CHECK_FAILS(m2m_ledger_list(ctx, l, &f, in_order, &o), M2M_ERR_IO,
		    "the walk over the ledger was stopped by its caller");
	CHECK_EQ_INT(o.n, 10);
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 600);
	m2m_ledger_close(l);
}

UNIT_TEST(crl_numbers_come_from_a_sequence)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct m2m_ledger *l, *l2;
	char name[64], uri[512];
	uint64_t n = 0, m = 0;

	l = fresh(name, uri);
	if (!l)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_OK(m2m_ledger_add_crl(ctx, l, n, NOW, der, sizeof(der)));
	CHECK_FAILS(m2m_ledger_add_crl(ctx, l, 1, NOW, der, sizeof(der)),
		    M2M_ERR_DUPLICATE, "CRL number 1 already has its CRL");
	CHECK_FAILS(m2m_ledger_add_crl(ctx, l, 9, NOW, der, sizeof(der)),
		    M2M_ERR_USAGE, "CRL number 9 was never taken");
	CHECK_OK(m2m_ledger_commit(ctx, l));
	/* Two stations' open transactions get two numbers. */
	l2 = reopen(uri, 0);
	if (!l2)
		return;
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_begin(ctx, l2));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l2, &m));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(m, 3);
	CHECK_OK(m2m_ledger_add_crl(ctx, l2, m, NOW, der, sizeof(der)));
	CHECK_OK(m2m_ledger_commit(ctx, l2));
	/* A rolled-back number is skipped, not given again. */
	m2m_ledger_rollback(ctx, l);
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &n));
	CHECK_EQ_INT(n, 4);
	CHECK_OK(m2m_ledger_commit(ctx, l));
	m2m_ledger_close(l2);
	m2m_ledger_close(l);
	CHECK_EQ_INT(raw_value(name, "SELECT count(*) FROM crls"), 3);
}

/* ---- the audit log ---------------------------------------------------------- */

struct walk {
	uint64_t n;
	int chain_ok, detail_ok;
	uint8_t prev[32];
};

static enum m2m_err walk_entry(void *arg, const struct m2m_audit_entry *e)
{
	struct walk *w = arg;
	char want[64];

	w->n++;
	if (memcmp(e->prev_hash, w->prev, 32) != 0 || e->seq != w->n)
		w->chain_ok = 0;
	snprintf(want, sizeof(want), "{\"n\":%" PRIu64 "}", w->n - 1);
	if (strcmp(e->detail, want) != 0 || strcmp(e->op, "issue") != 0 ||
	    e->time != (int64_t)(NOW + w->n - 1))
		w->detail_ok = 0;
	memcpy(w->prev, e->hash, 32);
	return M2M_OK;
}

UNIT_TEST(audit_chain_across_transactions_and_tampering)
{
	struct m2m_ledger *l;
	struct walk w;
	char name[64], uri[512];
	uint64_t count = 0, bad = 0;

	l = fresh(name, uri);
	if (!l)
		return;
	CHECK_OK(audit_n(l, 0, 700, 300));	/* more than a pipeline */
	m2m_ledger_close(l);
	l = reopen(uri, 0);
	if (!l)
		return;
	CHECK_OK(audit_n(l, 700, 300, 7));
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, &bad));
	CHECK_EQ_INT(count, 1000);
	/* Transactions of one less, just as many and one more entries than
	 * the pipeline holds (256), the COMMIT in it or after it. */
	CHECK_OK(audit_n(l, 1000, 255, 255));
	CHECK_OK(audit_n(l, 1255, 256, 256));
	CHECK_OK(audit_n(l, 1511, 511, 511));
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, &bad));
	CHECK_EQ_INT(count, 2022);
	m2m_ledger_close(l);
	l = reopen(uri, 0);
	if (!l)
		return;
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, &bad));
	CHECK_EQ_INT(count, 2022);
	memset(&w, 0, sizeof(w));
	w.chain_ok = w.detail_ok = 1;
	CHECK_OK(m2m_ledger_audit_list(ctx, l, walk_entry, &w));
	CHECK_EQ_INT(w.n, 2022);
	CHECK(w.chain_ok);
	CHECK(w.detail_ok);

	CHECK(raw_sql(name, "UPDATE audit SET detail = '{\"n\":99}' "
		      "WHERE seq = 17"));
	CHECK_FAILS(m2m_ledger_audit_verify(ctx, l, &count, &bad),
		    M2M_ERR_VERIFY,
		    "audit log: entry 17: hash does not match its contents");
	CHECK_EQ_INT(bad, 17);
	CHECK(raw_sql(name, "UPDATE audit SET detail = '{\"n\":16}' "
		      "WHERE seq = 17; DELETE FROM audit WHERE seq = 9"));
	CHECK_FAILS(m2m_ledger_audit_verify(ctx, l, NULL, &bad),
		    M2M_ERR_VERIFY, "audit log: entry 9 is missing");
	CHECK(raw_sql(name, "UPDATE audit SET hash = substring(hash from 1 "
		      "for 31) WHERE seq = 3"));
	CHECK_FAILS(m2m_ledger_audit_verify(ctx, l, NULL, &bad),
		    M2M_ERR_VERIFY,
		    "audit log: entry 3: a stored hash is not 32 octets long");
	/* A damaged last entry is not built upon: the commit fails. */
	CHECK(raw_sql(name, "UPDATE audit SET hash = '\\x00' WHERE seq = 2022"));
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_FAILS(m2m_ledger_commit(ctx, l), M2M_ERR_INVALID,
		    "the audit log's last entry (2022) is damaged");
	CHECK_EQ_INT(raw_value(name, "SELECT count(*) FROM audit"), 2021);
	/* And without the head row nothing is appended either. */
	CHECK(raw_sql(name, "UPDATE audit SET hash = sha256('x') "
		      "WHERE seq = 2022; DELETE FROM audit_head"));
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_FAILS(m2m_ledger_commit(ctx, l), M2M_ERR_INVALID,
		    "the audit log's head row is missing");
	m2m_ledger_close(l);
}

/*
 * A station: its own context and connection, n certificates (numbers
 * first..) with an audit entry each, in transactions of tx, started when
 * go is closed.  Exits 0 when everything was committed.
 */
static void station(const char *uri, unsigned first, unsigned n, unsigned tx,
		    int go)
{
	struct m2m_ledger *l = NULL;
	char detail[64], b;
	enum m2m_err rc;
	struct rec r;
	unsigned i;

	ctx = NULL;
	if (m2m_ctx_new(&ctx) != M2M_OK)
		_exit(2);
	while (read(go, &b, 1) < 0 && errno == EINTR)
		;
	rc = m2m_ledger_open(ctx, uri, 0, &l);
	for (i = 0; rc == M2M_OK && i < n; i++) {
		if (i % tx == 0)
			rc = m2m_ledger_begin(ctx, l);
		if (rc == M2M_OK)
			rc = m2m_ledger_add_cert(ctx, l, mkrec(&r, first + i,
				"idevid", first + i + 1), NULL);
		snprintf(detail, sizeof(detail), "{\"serial\":\"%s\"}", r.serial);
		if (rc == M2M_OK)
			rc = m2m_ledger_audit(ctx, l, NOW + i, "issue", detail);
		if (rc == M2M_OK && (i % tx == tx - 1 || i == n - 1))
			rc = m2m_ledger_commit(ctx, l);
	}
	if (rc != M2M_OK)
		printf("# station %u: %s: %s\n", first, m2m_strerror(rc),
		       m2m_ctx_detail(ctx));
	fflush(stdout);
	m2m_ledger_close(l);
	m2m_ctx_free(ctx);
	_exit(rc == M2M_OK ? 0 : 1);
}

/* Fork nproc stations on uri, each n records in transactions of tx. */
static void run_stations(const char *uri, int nproc, unsigned n, unsigned tx)
{
	pid_t pid[16];
	int go[2], i, status;

	if (!CHECK(nproc <= 16 && pipe(go) == 0))
		return;
	fflush(stdout);
	for (i = 0; i < nproc; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			close(go[1]);
			station(uri, 100000u * (unsigned)(i + 1), n, tx, go[0]);
		}
		CHECK(pid[i] > 0);
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < nproc; i++) {
		if (pid[i] <= 0)
			continue;
		CHECK_EQ_INT(waitpid(pid[i], &status, 0), pid[i]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "station %d: status 0x%x", i, status);
	}
}

/* Which station made each entry, and how often the station changed. */
struct stations {
	unsigned long n[9];
	unsigned long switches;
	unsigned last;
};

static enum m2m_err count_stations(void *arg, const struct m2m_audit_entry *e)
{
	struct stations *s = arg;
	unsigned long serial = 0;
	unsigned who;

	sscanf(e->detail, "{\"serial\":\"%lx\"}", &serial);
	who = (unsigned)((serial - 0x10000000ul) / 100000);
	if (who > 8)
		who = 0;
	s->n[who]++;
	if (s->last && who != s->last)
		s->switches++;
	s->last = who;
	return M2M_OK;
}

UNIT_TEST(eight_stations_write_one_ledger_at_once)
{
	struct stations st;
	struct m2m_ledger *l;
	char name[64], uri[512];
	uint64_t count = 0;
	int i;

	l = fresh(name, uri);
	if (!l)
		return;
	m2m_ledger_close(l);
	run_stations(uri, 8, 250, 10);
	l = reopen(uri, M2M_LEDGER_READONLY);
	if (!l)
		return;
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 2000);
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 2000);
	memset(&st, 0, sizeof(st));
	CHECK_OK(m2m_ledger_audit_list(ctx, l, count_stations, &st));
	for (i = 1; i <= 8; i++)
		CHECK_EQ_INT(st.n[i], 250);
	/* Each transaction's ten entries are consecutive. */
	CHECK(st.switches <= 199);
	printf("# ledger: eight stations took turns %lu times\n", st.switches);
	m2m_ledger_close(l);
	CHECK_EQ_INT(raw_value(name, "SELECT count(DISTINCT serial) FROM certs"),
		     2000);
}

/*
 * Stations racing for the same PPIDs: each takes PPIDs 1..n in its own
 * order, one per transaction.  Every PPID ends with one valid record, and
 * every other attempt was told it was a duplicate.
 */
static void racer(const char *uri, unsigned who, unsigned n, int go,
		  int report)
{
	static const unsigned step[4] = { 1, 3, 7, 9 };	/* prime to n */
	struct m2m_ledger *l = NULL;
	enum m2m_ledger_conflict cf;
	unsigned i, k, won = 0, lost = 0;
	enum m2m_err rc;
	struct rec r;
	char b;

	ctx = NULL;
	if (m2m_ctx_new(&ctx) != M2M_OK)
		_exit(2);
	while (read(go, &b, 1) < 0 && errno == EINTR)
		;
	rc = m2m_ledger_open(ctx, uri, 0, &l);
	for (i = 0; rc == M2M_OK && i < n; i++) {
		k = (i * step[who % 4]) % n + 1;	/* another order each */
		mkrec(&r, who * 1000 + k, "idevid", k);
		rc = m2m_ledger_begin(ctx, l);
		if (rc == M2M_OK)
			rc = m2m_ledger_add_cert(ctx, l, &r.r, &cf);
		if (rc == M2M_ERR_DUPLICATE && cf == M2M_CONFLICT_PPID) {
			lost++;
			rc = M2M_OK;
		} else if (rc == M2M_OK) {
			won++;
		}
		if (rc == M2M_OK)
			rc = m2m_ledger_commit(ctx, l);
		else
			m2m_ledger_rollback(ctx, l);
	}
	if (rc != M2M_OK)
		printf("# racer %u: %s: %s\n", who, m2m_strerror(rc),
		       m2m_ctx_detail(ctx));
	fflush(stdout);
	m2m_ledger_close(l);
	m2m_ctx_free(ctx);
	dprintf(report, "%u %u\n", won, lost);
	_exit(rc == M2M_OK ? 0 : 1);
}

UNIT_TEST(stations_racing_for_the_same_ppids_get_one_each)
{
	struct m2m_ledger *l;
	char name[64], uri[512], buf[256];
	unsigned won = 0, lost = 0, w, s;
	pid_t pid[4];
	int go[2], rep[2], i, status;
	ssize_t got;
	size_t o = 0;
	FILE *f;

	l = fresh(name, uri);
	if (!l)
		return;
	m2m_ledger_close(l);
	if (!CHECK(pipe(go) == 0 && pipe(rep) == 0))
		return;
	fflush(stdout);
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			close(go[1]);
			close(rep[0]);
			racer(uri, (unsigned)i + 1, 100, go[0], rep[1]);
		}
	}
	close(go[0]);
	close(rep[1]);
	close(go[1]);
	for (i = 0; i < 4; i++) {
		CHECK_EQ_INT(waitpid(pid[i], &status, 0), pid[i]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "racer %d: status 0x%x", i, status);
	}
	while (o < sizeof(buf) - 1 &&
	       (got = read(rep[0], buf + o, sizeof(buf) - 1 - o)) > 0)
		o += (size_t)got;
	buf[o] = '\0';
	close(rep[0]);
	f = fmemopen(buf, o, "r");
	while (f && fscanf(f, "%u %u", &w, &s) == 2) {
		won += w;
		lost += s;
	}
	if (f)
		fclose(f);
	CHECK_EQ_INT(won, 100);
	CHECK_EQ_INT(lost, 300);
	CHECK_EQ_INT(raw_value(name, "SELECT count(*) FROM certs"), 100);
	CHECK_EQ_INT(raw_value(name, "SELECT count(DISTINCT ppid) FROM certs "
			       "WHERE status = 0"), 100);
}

/* ---- a lost connection ---------------------------------------------------- */

/* End every other session of database db, as a server restart would. */
static int cut_connections(const char *db)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM "
		 "pg_stat_activity WHERE datname = '%s' "
		 "AND pid <> pg_backend_pid()", db);
	return raw_sql(db, sql);
}

UNIT_TEST(a_lost_connection_fails_the_transaction_and_comes_back)
{
	struct m2m_ledger *l;
	struct m2m_cert_record got;
	char name[64], uri[512];
	uint64_t count = 0;
	struct rec a, b;

	l = fresh(name, uri);
	if (!l)
		return;
	mkrec(&a, 1, "idevid", 1);
	mkrec(&b, 2, "idevid", 2);
	CHECK_OK(add_one(l, &a.r));
	/* Lost in the middle of a transaction: it fails, nothing is kept. */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK(cut_connections(name));
	CHECK_FAILS(m2m_ledger_commit(ctx, l), M2M_ERR_BACKEND,
		    "cannot lock the audit log: lost the connection to ledger 'postgresql:///");
	CHECK(strchr(m2m_ctx_detail(ctx), '\n') == NULL);
	/* The next transaction connects again. */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK_FAILS(m2m_ledger_get_cert(ctx, l, b.serial, &got),
		    M2M_ERR_NOT_FOUND, "no certificate");
	CHECK_OK(m2m_ledger_add_cert(ctx, l, &b.r, NULL));
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW, "issue", "{}"));
	CHECK_OK(m2m_ledger_commit(ctx, l));
	/* Between transactions, a read connects again by itself. */
	CHECK(cut_connections(name));
	CHECK_OK(m2m_ledger_get_cert(ctx, l, b.serial, &got));
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	CHECK_EQ_INT(count, 1);
	/* Lost before a statement in a transaction: that statement fails. */
	CHECK_OK(m2m_ledger_begin(ctx, l));
	CHECK(cut_connections(name));
	CHECK_FAILS(m2m_ledger_add_cert(ctx, l, mkrec(&a, 3, "idevid", 3), NULL),
		    M2M_ERR_BACKEND, "cannot record a certificate: lost the connection");
	m2m_ledger_rollback(ctx, l);
	CHECK_EQ_INT(count_list(l, 0, NULL, NULL, 0), 2);
	m2m_ledger_close(l);
}

/* ---- schema and copies ---------------------------------------------------- */

UNIT_TEST(migrate_a_current_ledger_changes_nothing)
{
	struct m2m_ledger *l;
	char name[64], uri[512];
	int from = 0, to = 0;

	l = fresh(name, uri);
	if (!l)
		return;
	m2m_ledger_close(l);
	CHECK_OK(m2m_ledger_migrate(ctx, uri, &from, &to));
	CHECK_EQ_INT(from, 1);
	CHECK_EQ_INT(to, 1);
	CHECK_EQ_INT(raw_value(name, "SELECT count(*) FROM m2m_schema"), 1);
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK_FAILS(m2m_ledger_migrate(ctx, uri, &from, &to),
		    M2M_ERR_NOT_FOUND, "no ledger at");
	CHECK_EQ_INT(from, 0);
}

/* A ledger with records, a revocation, CRLs and audit entries. */
static void fill(struct m2m_ledger *l, unsigned n)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	struct rec r;
	char detail[64];
	uint64_t crl = 0;
	unsigned i;

	CHECK_OK(m2m_ledger_begin(ctx, l));
	for (i = 1; i <= n; i++) {
		mkrec(&r, i, "idevid", i);
		if (i == 2)
			r.r.vouched_by = "0a0b";
		CHECK_OK(m2m_ledger_add_cert(ctx, l, &r.r, NULL));
		snprintf(detail, sizeof(detail), "{\"serial\":\"%s\"}", r.serial);
		CHECK_OK(m2m_ledger_audit(ctx, l, NOW + i, "issue", detail));
	}
	CHECK_OK(m2m_ledger_revoke(ctx, l, "10000002", NOW + 100, 1));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &crl));
	CHECK_OK(m2m_ledger_add_crl(ctx, l, crl, NOW + 101, der, sizeof(der)));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, l, &crl));	/* no CRL */
	CHECK_OK(m2m_ledger_audit(ctx, l, NOW + 101, "crl", "{\"number\":1}"));
	CHECK_OK(m2m_ledger_commit(ctx, l));
}

static void check_copy(const char *from, const char *to, unsigned n)
{
	struct m2m_ledger *a = NULL, *b = NULL;
	struct m2m_cert_record ra, rb;
	uint64_t ca = 0, cb = 0, crl = 0;
	struct rec r;
	unsigned i;

	a = reopen(from, M2M_LEDGER_READONLY);
	b = reopen(to, 0);
	if (!a || !b)
		goto out;
	CHECK_EQ_INT(count_list(b, 0, NULL, NULL, 0), n);
	CHECK_EQ_INT(count_list(b, 2, NULL, NULL, 0), 1);
	for (i = 1; i <= n; i++) {
		mkrec(&r, i, "", 0);
		CHECK_OK(m2m_ledger_get_cert(ctx, a, r.serial, &ra));
		CHECK_OK(m2m_ledger_get_cert(ctx, b, r.serial, &rb));
		if (ra.serial && rb.serial)
			check_same_record(&rb, &ra);
	}
	CHECK_OK(m2m_ledger_audit_verify(ctx, a, &ca, NULL));
	CHECK_OK(m2m_ledger_audit_verify(ctx, b, &cb, NULL));
	CHECK_EQ_INT(cb, ca);
	/* Numbers go on above the copied ones. */
	CHECK_OK(m2m_ledger_begin(ctx, b));
	CHECK_OK(m2m_ledger_next_crl_number(ctx, b, &crl));
	CHECK_EQ_INT(crl, 3);
	m2m_ledger_rollback(ctx, b);
out:
	m2m_ledger_close(a);
	m2m_ledger_close(b);
}

UNIT_TEST(copy_sqlite_to_postgresql_and_back)
{
	struct m2m_ledger_copy_stats st;
	struct m2m_ledger *l = NULL;
	char name[64], uri[512], from[512], sq[PATH_MAX], back[PATH_MAX];

	snprintf(sq, sizeof(sq), "sqlite:%s/from.db", dir);
	snprintf(back, sizeof(back), "%s/back.db", dir);
	CHECK_OK(m2m_ledger_open(ctx, sq, M2M_LEDGER_CREATE, &l));
	if (!l)
		return;
	fill(l, 300);
	m2m_ledger_close(l);
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK_OK(m2m_ledger_copy(ctx, sq, uri, &st));
	CHECK_EQ_INT(st.certs, 300);
	CHECK_EQ_INT(st.revoked, 1);
	CHECK_EQ_INT(st.crls, 2);
	CHECK_EQ_INT(st.audit, 301);
	check_copy(sq, uri, 300);
	CHECK_OK(m2m_ledger_copy(ctx, uri, back, &st));
	CHECK_EQ_INT(st.certs, 300);
	CHECK_EQ_INT(st.audit, 301);
	check_copy(uri, back, 300);
	/* Not into a ledger that has anything in it. */
	CHECK_FAILS(m2m_ledger_copy(ctx, sq, uri, &st), M2M_ERR_DUPLICATE,
		    "is not empty: a copy goes into a new ledger");
	CHECK_EQ_INT(st.certs, 0);
	/* A source whose chain is broken is not copied. */
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK_OK(m2m_ledger_copy(ctx, back, uri, NULL));
	CHECK(raw_sql(name, "UPDATE audit SET time = time + 1 WHERE seq = 150"));
	snprintf(from, sizeof(from), "%s", uri);
	if (!CHECK(new_db(name, uri)))
		return;
	CHECK_FAILS(m2m_ledger_copy(ctx, from, uri, NULL), M2M_ERR_VERIFY,
		    "audit log: entry 150: hash does not match its contents");
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "ledger 'postgresql:///");
	/* Refused before the target was touched: no ledger in it. */
	CHECK_FAILS(m2m_ledger_open(ctx, uri, 0, &l), M2M_ERR_NOT_FOUND,
		    "no ledger at");
}

/* ---- throughput ----------------------------------------------------------- */

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not asserted: printed as a TAP comment to compare runs on one machine. */
UNIT_TEST(benchmark_10000_certificates_with_audit_in_transactions_of_256)
{
	struct m2m_ledger *l;
	char name[64], uri[512], detail[128];
	enum m2m_err rc = M2M_OK;
	uint64_t count = 0;
	double t0, t1;
	struct rec r;
	unsigned i;

	l = fresh(name, uri);
	if (!l)
		return;
	t0 = seconds();
	for (i = 0; i < 10000 && rc == M2M_OK; i++) {
		if (i % 256 == 0)
			rc = m2m_ledger_begin(ctx, l);
		mkrec(&r, i, "idevid", i + 1);
		snprintf(detail, sizeof(detail),
			 "{\"serial\":\"%s\",\"profile\":\"idevid\"}", r.serial);
		if (rc == M2M_OK)
			rc = m2m_ledger_add_cert(ctx, l, &r.r, NULL);
		if (rc == M2M_OK)
			rc = m2m_ledger_audit(ctx, l, NOW + i, "issue", detail);
		if (rc == M2M_OK && (i % 256 == 255 || i == 9999))
			rc = m2m_ledger_commit(ctx, l);
	}
	t1 = seconds();
	CHECK_OK(rc);
	printf("# ledger (PostgreSQL): 10000 add_cert + audit, transactions of 256: "
	       "%.0f certificates/s (%.3f s)\n", 10000 / (t1 - t0), t1 - t0);
	t0 = seconds();
	CHECK_OK(m2m_ledger_audit_verify(ctx, l, &count, NULL));
	t1 = seconds();
	CHECK_EQ_INT(count, 10000);
	printf("# ledger (PostgreSQL): audit_verify of 10000 entries: %.3f s\n",
	       t1 - t0);
	m2m_ledger_close(l);
}

/* ---- running -------------------------------------------------------------- */

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(create_reopen_readonly_exclusive),
		UNIT(databases_that_are_not_ledgers_are_refused),
		UNIT(servers_and_databases_that_are_not_there),
		UNIT(passwords_in_uris_are_refused_and_never_shown),
		UNIT(rollback_and_close_discard_the_transaction),
		UNIT(add_get_round_trip_of_every_field),
		UNIT(conflicts_leave_the_transaction_usable),
		UNIT(list_filters_in_order_of_issuance_and_stops),
		UNIT(crl_numbers_come_from_a_sequence),
		UNIT(audit_chain_across_transactions_and_tampering),
		UNIT(eight_stations_write_one_ledger_at_once),
		UNIT(stations_racing_for_the_same_ppids_get_one_each),
		UNIT(a_lost_connection_fails_the_transaction_and_comes_back),
		UNIT(migrate_a_current_ledger_changes_nothing),
		UNIT(copy_sqlite_to_postgresql_and_back),
		UNIT(benchmark_10000_certificates_with_audit_in_transactions_of_256),
	};
	int rc;

	host = getenv("M2M_PG_HOST");
	if (!host || !*host) {
		printf("1..1\nok 1 - postgresql # SKIP no cluster: $M2M_PG_HOST "
		       "is not set (scripts/check starts one)\n");
		return 0;
	}
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
