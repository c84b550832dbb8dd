/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_LEDGER_H
#define M2M_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <m2m/ctx.h>

/*
 * The ledger of a CA: every issued certificate, every CRL, and an
 * append-only audit log whose entries are chained by SHA-256, so that any
 * change behind the tool's back is detectable.
 *
 * One interface, several storage back-ends behind one ops table
 * (lib/ledger/): SQLite, the embedded default, and PostgreSQL.  Records are
 * written inside write transactions (m2m_ledger_begin/commit); a
 * certificate is handed out only after the transaction holding its record
 * has committed.  Several processes may write to one ledger at once:
 * SQLite serialises write transactions (waiting for a lock with a
 * timeout); PostgreSQL runs them side by side and serialises only the
 * audit log's appends, at commit.  Uniqueness is enforced by the database
 * itself.
 *
 * A ledger is used by one thread at a time, and is closed before the
 * context it was opened with is freed.
 */

struct m2m_ledger;

#define M2M_CERT_SERIAL_HEX_MAX	41	/* 20 octets in hex, with NUL */
#define M2M_AUDIT_HASH_LEN	32	/* SHA-256 */

enum m2m_cert_status {
	M2M_CERT_VALID = 0,
	M2M_CERT_REVOKED = 1
};

/*
 * One certificate's record.  Strings are NUL-terminated.  In records the
 * ledger returns, pointers are borrowed from the ledger and valid until
 * the next call on it.
 */
struct m2m_cert_record {
	const char *serial;	/* certificate serial: lower-case hex, even
				   length, as in the DER INTEGER's content
				   of a positive serial (minimal: a leading
				   00 octet only where the next octet's high
				   bit is set) */
	const char *profile;	/* "idevid", "ldevid", "ca", ... */
	const char *subject;	/* RFC 4514 string */
	const uint8_t *ppid;	/* PPID bytes, or NULL */
	size_t ppid_len;
	const char *device_serial;	/* may be NULL */
	const char *vouched_by;	/* serial of the certificate that
				   authenticated the request, or NULL */
	int64_t issued_at;	/* seconds since the epoch, UTC */
	int64_t not_before;
	int64_t not_after;	/* 253402300799 for 99991231235959Z */
	enum m2m_cert_status status;
	int64_t revoked_at;	/* 0 unless revoked */
	int reason;		/* RFC 5280 CRLReason code, -1 unless revoked */
	const uint8_t *der;	/* the certificate */
	size_t der_len;
};

/* What an insertion collided with. */
enum m2m_ledger_conflict {
	M2M_CONFLICT_NONE = 0,
	M2M_CONFLICT_SERIAL,	/* the certificate serial exists: retry with
				   a new one */
	M2M_CONFLICT_PPID,	/* the PPID already has a valid certificate of
				   this profile */
	M2M_CONFLICT_DEVICE	/* the device serial already has a valid
				   certificate of this profile */
};

#define M2M_LEDGER_CREATE	0x1	/* create the ledger if absent */
#define M2M_LEDGER_READONLY	0x2	/* open for reading only */
#define M2M_LEDGER_EXCL		0x4	/* with CREATE: M2M_ERR_DUPLICATE if
					   a ledger is there already */

/*
 * Open the ledger at location: "sqlite:PATH", a bare PATH (SQLite), or a
 * "postgresql://..." (or "postgres://...") URI in libpq's form.  With
 * M2M_LEDGER_CREATE a missing SQLite file is created with the current
 * schema (file mode 0600), and a PostgreSQL database that holds no ledger
 * gets one (the database itself must exist); without it a missing ledger
 * is M2M_ERR_NOT_FOUND.  Returns M2M_ERR_INVALID for a file or database
 * that is not a ledger (or has a schema of another version: see
 * m2m_ledger_migrate()), for a symbolic link (the directories leading to
 * the file may be links), and for a URI that holds a password (libpq
 * takes it from PGPASSWORD, PGPASSFILE or ~/.pgpass);
 * M2M_ERR_UNSUPPORTED for an unknown scheme, M2M_ERR_USAGE for CREATE
 * with READONLY or EXCL without CREATE, M2M_ERR_BACKEND for database
 * failures (a server that cannot be reached, refused credentials).
 * Details never show a password (m2m_ledger_location_mask()).  Caller
 * owns *out; free with m2m_ledger_close().
 */
enum m2m_err m2m_ledger_open(struct m2m_ctx *ctx, const char *location,
			     unsigned flags, struct m2m_ledger **out);

/* Close a ledger, rolling back an open transaction.  Accepts NULL. */
void m2m_ledger_close(struct m2m_ledger *l);

/* The schema version the ledger holds. */
int m2m_ledger_schema_version(const struct m2m_ledger *l);

/*
 * Start a write transaction: waits up to the busy timeout (10 s) for
 * other writers, then M2M_ERR_BACKEND ("ledger is busy").  Transactions do
 * not nest: begin while one is open is M2M_ERR_USAGE.  A PostgreSQL
 * ledger whose connection was lost reconnects here (trying for up to
 * 10 s); a transaction the loss interrupted is gone, and the calls in it
 * failed with M2M_ERR_BACKEND.
 */
enum m2m_err m2m_ledger_begin(struct m2m_ctx *ctx, struct m2m_ledger *l);

/*
 * Commit the open transaction durably.  On failure the transaction is
 * rolled back and nothing of it is recorded; except that when the
 * connection to a database server is lost during the commit, whether it
 * was recorded is not known (the detail says so): nothing of it may be
 * handed out, and a rerun finds what was.
 */
enum m2m_err m2m_ledger_commit(struct m2m_ctx *ctx, struct m2m_ledger *l);

/* Roll back the open transaction, if any.  Never fails. */
void m2m_ledger_rollback(struct m2m_ctx *ctx, struct m2m_ledger *l);

/*
 * Record a new certificate (in an open transaction; M2M_ERR_USAGE
 * otherwise).  Its status must be M2M_CERT_VALID, and serial, profile,
 * subject and der are required (M2M_ERR_USAGE); revoked_at and reason are
 * ignored.  M2M_ERR_INVALID if the serial is not in the form struct
 * m2m_cert_record gives (the detail shows that form) or not_before is
 * after not_after.  On a uniqueness conflict returns M2M_ERR_DUPLICATE,
 * sets *conflict (may be NULL) and records nothing; the transaction stays
 * usable.  *conflict is M2M_CONFLICT_NONE on every other return.
 */
enum m2m_err m2m_ledger_add_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const struct m2m_cert_record *rec,
				 enum m2m_ledger_conflict *conflict);

/*
 * The record of the certificate with this serial into *out.  The serial is
 * hex digits, either case, with any number of leading zeros, read as a
 * positive number: "ff01", "FF01" and "00ff01" all find the record whose
 * serial is "00ff01".  M2M_ERR_INVALID if it is not hex, is zero or is
 * longer than 20 octets; M2M_ERR_NOT_FOUND if there is no such record.
 */
enum m2m_err m2m_ledger_get_cert(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 const char *serial,
				 struct m2m_cert_record *out);

/*
 * The valid (not revoked) certificate of profile for this PPID into *out;
 * M2M_ERR_NOT_FOUND if there is none.  Expiry is not considered.
 */
enum m2m_err m2m_ledger_find_valid(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   const char *profile, const uint8_t *ppid,
				   size_t ppid_len,
				   struct m2m_cert_record *out);

/*
 * The valid certificate of profile for this device serial number into
 * *out; M2M_ERR_NOT_FOUND if there is none.  As with PPIDs, the ledger
 * holds at most one valid certificate per (profile, device serial).
 */
enum m2m_err m2m_ledger_find_valid_device(struct m2m_ctx *ctx,
					  struct m2m_ledger *l,
					  const char *profile,
					  const char *device_serial,
					  struct m2m_cert_record *out);

/*
 * Mark a certificate revoked at revoked_at with an RFC 5280 reason (in an
 * open transaction); serial as for m2m_ledger_get_cert().
 * M2M_ERR_NOT_FOUND if no such serial, M2M_ERR_INVALID if it is already
 * revoked or reason is not one a revocation can carry (0-6, 9, 10: 7 is
 * unused and 8, removeFromCRL, belongs to delta CRLs).
 */
enum m2m_err m2m_ledger_revoke(struct m2m_ctx *ctx, struct m2m_ledger *l,
			       const char *serial, int64_t revoked_at,
			       int reason);

/* Which records m2m_ledger_list() visits; zeroed fields select all. */
struct m2m_ledger_filter {
	int status;		/* 0 any; 1 valid: not revoked and
				   not_after >= now; 2 revoked; 3 expired:
				   not revoked and not_after < now */
	int64_t now;		/* for status 1 and 3 */
	const char *profile;	/* or NULL */
	const uint8_t *ppid;	/* or NULL */
	size_t ppid_len;
};

/*
 * Call fn for every record that passes filter (NULL: all), in order of
 * issuance, in constant memory.  The record fn gets is valid during that
 * call only.  fn must not call functions on this ledger (they fail with
 * M2M_ERR_USAGE while the walk is under way).  A non-OK return from fn
 * stops the walk and is returned as it is; if fn recorded no detail in
 * ctx, the detail says that the walk was stopped.  M2M_ERR_USAGE for a
 * status outside 0..3.
 */
enum m2m_err m2m_ledger_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
			     const struct m2m_ledger_filter *filter,
			     enum m2m_err (*fn)(void *arg,
						const struct m2m_cert_record *),
			     void *arg);

/*
 * Take the next CRL number (1, 2, ...; in an open transaction): it is
 * reserved in the ledger with the transaction, so every call gives a new
 * number, also to writers in other processes.  SQLite gives a number
 * taken in a rolled-back transaction again; PostgreSQL takes numbers from
 * a sequence, which skips it (CRL numbers increase, RFC 5280 5.2.3 asks
 * for no more).  Then record the CRL made with a taken number, its
 * thisUpdate and DER: M2M_ERR_USAGE if number was never taken,
 * M2M_ERR_DUPLICATE if its CRL is already recorded.
 */
enum m2m_err m2m_ledger_next_crl_number(struct m2m_ctx *ctx,
					struct m2m_ledger *l, uint64_t *number);
enum m2m_err m2m_ledger_add_crl(struct m2m_ctx *ctx, struct m2m_ledger *l,
				uint64_t number, int64_t this_update,
				const uint8_t *der, size_t der_len);

/* One CRL as recorded.  Borrowed from the ledger during a walk. */
struct m2m_crl_record {
	uint64_t number;
	int64_t this_update;
	const uint8_t *der;	/* NULL for a number taken but never used */
	size_t der_len;
};

/*
 * Call fn for each CRL number taken, in ascending order, in constant
 * memory; the record is valid during the call only, and fn must not call
 * functions on this ledger.  A non-OK return from fn stops the walk and
 * is returned, as for m2m_ledger_list().  M2M_ERR_UNSUPPORTED if the
 * ledger's back-end cannot list CRLs.
 */
enum m2m_err m2m_ledger_crl_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				 enum m2m_err (*fn)(void *arg,
						    const struct m2m_crl_record *),
				 void *arg);

/* ---- the audit log ------------------------------------------------------ */

/*
 * One audit entry.  hash = SHA-256 over the canonical encoding
 *   seq (8 octets, big-endian) || time (8, big-endian, signed)
 *   || len(op) (4, big-endian) || op || len(detail) (4) || detail
 *   || prev_hash (32)
 * where prev_hash is the previous entry's hash, 32 zero octets for the
 * first entry (seq 1).
 */
struct m2m_audit_entry {
	uint64_t seq;		/* 1, 2, 3, ... without gaps */
	int64_t time;		/* seconds since the epoch */
	const char *op;		/* "init", "issue", "revoke", "crl", ... */
	const char *detail;	/* one JSON object, as text */
	uint8_t prev_hash[M2M_AUDIT_HASH_LEN];
	uint8_t hash[M2M_AUDIT_HASH_LEN];
};

/*
 * Append an entry (in an open transaction), chained to the current last
 * one.  op is a short lower-case word (1 to 32 of a-z, 0-9, '-', '_';
 * M2M_ERR_USAGE otherwise); detail a JSON object (not checked).  Nothing is
 * appended to a log whose last entry is damaged: M2M_ERR_INVALID.
 *
 * SQLite chains the entry at once (its writers hold the ledger's lock for
 * the whole transaction).  PostgreSQL, whose writers work side by side,
 * chains a transaction's entries when it commits, holding a lock on the
 * log's head only for the commit: so entries of one transaction are
 * consecutive, walks inside the transaction do not show them yet, and a
 * damaged last entry fails m2m_ledger_commit() instead.
 */
enum m2m_err m2m_ledger_audit(struct m2m_ctx *ctx, struct m2m_ledger *l,
			      int64_t time, const char *op,
			      const char *detail);

/*
 * Call fn for each audit entry in order of seq, in constant memory.  The
 * entry is valid during the call only, and fn must not call functions on
 * this ledger (M2M_ERR_USAGE).  A non-OK return from fn stops the walk and
 * is returned, as for m2m_ledger_list().
 */
enum m2m_err m2m_ledger_audit_list(struct m2m_ctx *ctx, struct m2m_ledger *l,
				   enum m2m_err (*fn)(void *arg,
						      const struct m2m_audit_entry *),
				   void *arg);

/*
 * Recompute the whole chain.  M2M_OK and *count (may be NULL) the number of
 * entries if it is intact; M2M_ERR_VERIFY if not, with *bad (may be NULL)
 * the seq of the first entry that does not match and a detail saying what
 * differs ("entry 17: hash does not match its contents", "entry 9 is
 * missing", ...).  An entry changed and re-hashed shows as its successor
 * ("entry 18: previous hash does not match ...").  Entries removed from
 * the end leave an intact chain: compare *count, or the last entry's hash
 * (m2m_ledger_audit_list()), with a copy kept outside the ledger.
 */
enum m2m_err m2m_ledger_audit_verify(struct m2m_ctx *ctx, struct m2m_ledger *l,
				     uint64_t *count, uint64_t *bad);

/* Compute an entry's hash from its other fields (for verifiers). */
enum m2m_err m2m_audit_entry_hash(struct m2m_ctx *ctx,
				  const struct m2m_audit_entry *e,
				  uint8_t hash[M2M_AUDIT_HASH_LEN]);

/* ---- locations, schema and moving a ledger ------------------------------ */

/*
 * location as it may be shown: a copy in out[0..size) (cut to fit, bytes
 * outside printable ASCII as '?') with the password of a postgresql://
 * URI, in its user information ("user:PASSWORD@") or a "password="
 * parameter, replaced by "***".  Returns out.  *had (may be NULL) is set
 * to whether there was a password.
 */
#define M2M_LEDGER_SHOWN_MAX	256
const char *m2m_ledger_location_shown(const char *location, char *out,
				      size_t size, int *had);

/*
 * Bring the schema of the ledger at location up to the version this m2m
 * uses, in one transaction (concurrent migrations wait for each other).
 * *from and *to (may be NULL) get the version found and the version now.
 * A ledger at the current version is left as it is.  Errors as
 * m2m_ledger_open() without M2M_LEDGER_CREATE (a newer schema is
 * M2M_ERR_INVALID).
 */
enum m2m_err m2m_ledger_migrate(struct m2m_ctx *ctx, const char *location,
				int *from, int *to);

/* What m2m_ledger_copy() copied. */
struct m2m_ledger_copy_stats {
	uint64_t certs;			/* records, revoked ones included */
	uint64_t revoked;
	uint64_t crls;
	uint64_t audit;			/* audit entries */
	uint8_t last_hash[M2M_AUDIT_HASH_LEN];	/* of the last entry */
};

/*
 * Copy the ledger at from (opened read-only; nobody should write to it
 * meanwhile) into the ledger at to, which is created if absent and must
 * be empty otherwise (M2M_ERR_DUPLICATE): every certificate record in
 * order of issuance with its status, every CRL with its number, and the
 * audit log entry by entry as it is.  The audit chain of from is verified
 * first (M2M_ERR_VERIFY, detail as m2m_ledger_audit_verify()), then that
 * of to before its one transaction commits, which must hold as many
 * entries ending in the same hash (else M2M_ERR_VERIFY and nothing is
 * copied).  *st (may be NULL) says what was copied.
 */
enum m2m_err m2m_ledger_copy(struct m2m_ctx *ctx, const char *from,
			     const char *to,
			     struct m2m_ledger_copy_stats *st);

#endif
